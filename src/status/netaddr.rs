//! IPv4 and IPv6 interface addresses through a netlink `RTM_GETADDR` dump.
//!
//! # Why netlink
//!
//! Without libc there is no `getifaddrs`, and no `/proc` file lists IPv4 addresses per
//! interface: `/proc/net/fib_trie` has the local addresses but neither their interface nor
//! (directly) their prefix length, and matching them against `/proc/net/route` is guesswork
//! (loopback and secondary addresses have no route line). `/proc/net/if_inet6` covers IPv6 only.
//! A `NETLINK_ROUTE` socket is what `ip addr` uses: one request returns every address of both
//! families with its interface index, prefix length, scope and flags. It needs only the
//! `socket`, `sendto` and `recv` system calls (rustix `net`), works in any network namespace,
//! and needs no privileges.
//!
//! The dump is read with `MSG_DONTWAIT` into a [`NETLINK_BUF_SIZE`] stack buffer: the kernel
//! produces each part of a dump before `sendto`/`recv` return, so the reader never blocks. If
//! netlink sockets are forbidden (some seccomp profiles), [`read_addresses`] fails with
//! [`ReadError::Open`] and addresses are shown as unknown.
//!
//! Addresses are matched to interfaces by [`LinkInfo::ifindex`](super::net::LinkInfo::ifindex).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustix::io::Errno;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, recv, sendto, socket_with,
};

use super::read::ReadError;
use crate::config::parse_or;

/// Most addresses kept in an [`AddrList`]; further ones are counted in
/// [`AddrList::omitted`].
///
/// Default 32 (an interface usually has one IPv4 and two or three IPv6 addresses). Set with
/// `EDGELOOP_MAX_ADDRS`. Cost: 28 bytes per entry.
pub const MAX_ADDRS: usize = parse_or(option_env!("EDGELOOP_MAX_ADDRS"), 32);

/// Size of the stack buffer each netlink reply is received into, in bytes.
///
/// Default 8192: the kernel never makes one dump message batch larger than
/// `max(8 KiB less overhead, the largest recv buffer seen)`, so 8192 always suffices. Set with
/// `EDGELOOP_STATUS_NETLINK_BUF`; a smaller buffer may see a batch cut, which is reported as
/// [`ReadError::TooLarge`] (never a partial list).
pub const NETLINK_BUF_SIZE: usize = parse_or(option_env!("EDGELOOP_STATUS_NETLINK_BUF"), 8192);

/// Receive calls after which an unfinished dump is abandoned ([`ReadError::Malformed`]): a
/// bound on the work done, far above what any real interface table needs.
const MAX_RECVS: usize = 1024;

// Linux UAPI constants (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h).
const NLMSG_HDR_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const NLA_TYPE_MASK: u16 = 0x3fff;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// `IFA_F_TEMPORARY` flag bit: an IPv6 privacy address.
pub const IFA_F_TEMPORARY: u32 = 0x01;
/// `IFA_F_DEPRECATED` flag bit: still valid, no longer preferred.
pub const IFA_F_DEPRECATED: u32 = 0x20;
/// `IFA_F_TENTATIVE` flag bit: duplicate address detection not finished.
pub const IFA_F_TENTATIVE: u32 = 0x40;
/// `IFA_F_PERMANENT` flag bit: configured statically, not from autoconfiguration.
pub const IFA_F_PERMANENT: u32 = 0x80;

/// Address scope (`RT_SCOPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AddrScope {
    /// Routable everywhere (`global`).
    Global,
    /// Site-local (deprecated IPv6 `fec0::/10`).
    Site,
    /// Link-local (`169.254.0.0/16`, `fe80::/10`).
    Link,
    /// This host only (`127.0.0.1`, `::1`).
    Host,
    /// No destination.
    Nowhere,
    /// Another value (user-defined scopes from `/etc/iproute2/rt_scopes`).
    Other(u8),
}

impl AddrScope {
    /// From the raw `ifa_scope` byte.
    pub const fn from_raw(raw: u8) -> Self {
        match raw {
            0 => AddrScope::Global,
            200 => AddrScope::Site,
            253 => AddrScope::Link,
            254 => AddrScope::Host,
            255 => AddrScope::Nowhere,
            n => AddrScope::Other(n),
        }
    }
}

/// One address of one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    /// Interface index (see [`LinkInfo::ifindex`](super::net::LinkInfo::ifindex)).
    pub ifindex: u32,
    /// The interface's own address (`IFA_LOCAL`, else `IFA_ADDRESS`).
    pub addr: IpAddr,
    /// Prefix length (`24` for a /24).
    pub prefix_len: u8,
    /// Scope.
    pub scope: AddrScope,
    /// `IFA_F_*` flag bits (see the `IFA_F_` constants).
    pub flags: u32,
}

// defmt formats `core::net` addresses only with its `ip_in_core` feature, which this crate
// does not enable, so the octets are written out.
#[cfg(feature = "defmt")]
impl defmt::Format for IfAddr {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self.addr {
            IpAddr::V4(a) => {
                let [b0, b1, b2, b3] = a.octets();
                defmt::write!(f, "{}.{}.{}.{}", b0, b1, b2, b3);
            }
            IpAddr::V6(a) => defmt::write!(f, "{:04x}", a.segments()),
        }
        defmt::write!(
            f,
            "/{} (ifindex {}, {})",
            self.prefix_len,
            self.ifindex,
            self.scope
        );
    }
}

/// The addresses found by one dump.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AddrList {
    /// Addresses in the kernel's order (IPv4 first), at most [`MAX_ADDRS`].
    pub addrs: heapless::Vec<IfAddr, MAX_ADDRS>,
    /// Addresses that did not fit.
    pub omitted: u16,
}

impl AddrList {
    /// The addresses of interface `ifindex`.
    pub fn of_ifindex(&self, ifindex: u32) -> impl Iterator<Item = &IfAddr> {
        self.addrs.iter().filter(move |a| a.ifindex == ifindex)
    }

    fn push(&mut self, a: IfAddr) {
        if self.addrs.push(a).is_err() {
            self.omitted = self.omitted.saturating_add(1);
        }
    }
}

/// Whether a netlink dump has finished, from [`parse_addr_dump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DumpState {
    /// More messages follow: receive again.
    More,
    /// `NLMSG_DONE` was seen.
    Done,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Rounds up to the 4-byte netlink alignment.
const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parses one batch of a `RTM_GETADDR` dump reply (netlink messages in host byte order) into
/// `out`, keeping only messages with sequence number `seq`.
///
/// A kernel error reply fails with [`ReadError::Read`] (its errno); a message whose length
/// does not fit the batch fails with [`ReadError::Malformed`]. A single address message that
/// is too short or has a bad attribute is skipped.
pub fn parse_addr_dump(data: &[u8], seq: u32, out: &mut AddrList) -> Result<DumpState, ReadError> {
    let mut rest = data;
    while !rest.is_empty() {
        let len = u32_at(rest, 0).ok_or(ReadError::Malformed)? as usize;
        let kind = u16_at(rest, 4).ok_or(ReadError::Malformed)?;
        let msg_seq = u32_at(rest, 8).ok_or(ReadError::Malformed)?;
        if len < NLMSG_HDR_LEN || len > rest.len() {
            return Err(ReadError::Malformed);
        }
        let body = &rest[NLMSG_HDR_LEN..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        if msg_seq != seq {
            continue;
        }
        match kind {
            NLMSG_DONE | NLMSG_ERROR => {
                // Both carry an `int`: 0, or a negative errno.
                let code = u32_at(body, 0).map_or(0, |v| v as i32);
                if code < 0 {
                    return Err(ReadError::Read(code.saturating_neg()));
                }
                if kind == NLMSG_DONE {
                    return Ok(DumpState::Done);
                }
            }
            RTM_NEWADDR => {
                if let Some(a) = parse_ifaddrmsg(body) {
                    out.push(a);
                }
            }
            _ => {}
        }
    }
    Ok(DumpState::More)
}

/// Parses the body of one `RTM_NEWADDR` message: `struct ifaddrmsg` and its attributes.
fn parse_ifaddrmsg(body: &[u8]) -> Option<IfAddr> {
    let family = *body.first()?;
    let prefix_len = *body.get(1)?;
    let mut flags = u32::from(*body.get(2)?);
    let scope = AddrScope::from_raw(*body.get(3)?);
    let ifindex = u32_at(body, 4)?;
    let (mut local, mut address) = (None, None);
    let mut attrs = body.get(IFADDRMSG_LEN..)?;
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0)?);
        let kind = u16_at(attrs, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > attrs.len() {
            return None;
        }
        let payload = &attrs[4..len];
        attrs = attrs.get(align4(len)..).unwrap_or(&[]);
        let ip = match (family, payload.len()) {
            (AF_INET, 4) => <[u8; 4]>::try_from(payload)
                .ok()
                .map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            (AF_INET6, 16) => <[u8; 16]>::try_from(payload)
                .ok()
                .map(|o| IpAddr::V6(Ipv6Addr::from(o))),
            _ => None,
        };
        match kind {
            IFA_LOCAL => local = ip.or(local),
            IFA_ADDRESS => address = ip.or(address),
            IFA_FLAGS => flags = u32_at(payload, 0).unwrap_or(flags),
            _ => {}
        }
    }
    let addr = local.or(address)?;
    Some(IfAddr {
        ifindex,
        addr,
        prefix_len,
        scope,
        flags,
    })
}

/// Builds the 24-byte `RTM_GETADDR` dump request for all address families.
fn dump_request(seq: u32) -> [u8; NLMSG_HDR_LEN + IFADDRMSG_LEN] {
    let mut req = [0u8; NLMSG_HDR_LEN + IFADDRMSG_LEN];
    req[0..4].copy_from_slice(&((NLMSG_HDR_LEN + IFADDRMSG_LEN) as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETADDR.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    // pid 0 (the kernel fills it), ifaddrmsg all zero: family AF_UNSPEC dumps IPv4 and IPv6.
    req
}

/// Dumps every IPv4 and IPv6 address of every interface over `NETLINK_ROUTE`.
pub fn read_addresses() -> Result<AddrList, ReadError> {
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| ReadError::Open(e.raw_os_error()))?;
    let seq = 1;
    let req = dump_request(seq);
    let kernel = SocketAddrNetlink::new(0, 0);
    loop {
        match sendto(&fd, &req, SendFlags::empty(), &kernel) {
            Ok(_) => break,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(ReadError::Read(e.raw_os_error())),
        }
    }
    let mut out = AddrList::default();
    let mut buf = [0u8; NETLINK_BUF_SIZE];
    let mut recvs = 0;
    while recvs < MAX_RECVS {
        let n = match recv(&fd, &mut buf[..], RecvFlags::DONTWAIT | RecvFlags::TRUNC) {
            Ok((_, n)) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(ReadError::Read(e.raw_os_error())),
        };
        recvs += 1;
        if n > buf.len() {
            return Err(ReadError::TooLarge);
        }
        if parse_addr_dump(&buf[..n], seq, &mut out)? == DumpState::Done {
            return Ok(out);
        }
    }
    Err(ReadError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn msg(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDR_LEN + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m.resize(align4(m.len()), 0);
        m
    }

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        a.resize(align4(a.len()), 0);
        a
    }

    fn addr_body(family: u8, prefix: u8, scope: u8, index: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut b = std::vec![family, prefix, 0x80, scope];
        b.extend_from_slice(&index.to_ne_bytes());
        for a in attrs {
            b.extend_from_slice(a);
        }
        b
    }

    fn lo_v4() -> Vec<u8> {
        let label = attr(3, b"lo\0");
        let body = addr_body(
            AF_INET,
            8,
            254,
            1,
            &[
                attr(IFA_ADDRESS, &[127, 0, 0, 1]),
                attr(IFA_LOCAL, &[127, 0, 0, 1]),
                label,
            ],
        );
        msg(RTM_NEWADDR, 1, &body)
    }

    #[test]
    fn parses_v4_and_v6_then_done() {
        let mut batch = lo_v4();
        // Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours.
        let ptp = addr_body(
            AF_INET,
            32,
            0,
            5,
            &[
                attr(IFA_ADDRESS, &[10, 0, 0, 2]),
                attr(IFA_LOCAL, &[10, 0, 0, 1]),
            ],
        );
        batch.extend(msg(RTM_NEWADDR, 1, &ptp));
        let mut v6 = [0u8; 16];
        v6[0] = 0xfe;
        v6[1] = 0x80;
        v6[15] = 1;
        let flags = attr(IFA_FLAGS, &(IFA_F_PERMANENT | 0x100).to_ne_bytes());
        batch.extend(msg(
            RTM_NEWADDR,
            1,
            &addr_body(AF_INET6, 64, 253, 2, &[attr(IFA_ADDRESS, &v6), flags]),
        ));
        let mut out = AddrList::default();
        assert_eq!(parse_addr_dump(&batch, 1, &mut out), Ok(DumpState::More));
        assert_eq!(out.addrs.len(), 3);
        let lo = out.addrs[0];
        assert_eq!(lo.addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            (lo.ifindex, lo.prefix_len, lo.scope, lo.flags),
            (1, 8, AddrScope::Host, 0x80)
        );
        assert_eq!(out.addrs[1].addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let ll = out.addrs[2];
        assert_eq!(ll.addr, IpAddr::V6(Ipv6Addr::from(v6)));
        assert_eq!((ll.scope, ll.flags), (AddrScope::Link, 0x180));
        assert_eq!(out.of_ifindex(2).count(), 1);
        let done = msg(NLMSG_DONE, 1, &0i32.to_ne_bytes());
        assert_eq!(parse_addr_dump(&done, 1, &mut out), Ok(DumpState::Done));
    }

    #[test]
    fn errors_and_foreign_messages() {
        let mut out = AddrList::default();
        let err = msg(NLMSG_ERROR, 1, &(-13i32).to_ne_bytes());
        assert_eq!(parse_addr_dump(&err, 1, &mut out), Err(ReadError::Read(13)));
        let done_err = msg(NLMSG_DONE, 1, &(-4i32).to_ne_bytes());
        assert_eq!(
            parse_addr_dump(&done_err, 1, &mut out),
            Err(ReadError::Read(4))
        );
        // An ack (error 0) and another sequence number are ignored.
        let mut batch = msg(NLMSG_ERROR, 1, &0i32.to_ne_bytes());
        batch.extend(msg(NLMSG_DONE, 7, &[]));
        assert_eq!(parse_addr_dump(&batch, 1, &mut out), Ok(DumpState::More));
        assert!(out.addrs.is_empty());
    }

    #[test]
    fn malformed_batches() {
        let mut out = AddrList::default();
        let good = lo_v4();
        // Cut message: header says more than there is.
        assert_eq!(
            parse_addr_dump(&good[..good.len() - 4], 1, &mut out),
            Err(ReadError::Malformed)
        );
        assert_eq!(
            parse_addr_dump(&good[..10], 1, &mut out),
            Err(ReadError::Malformed)
        );
        let mut zero_len = good.clone();
        zero_len[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(
            parse_addr_dump(&zero_len, 1, &mut out),
            Err(ReadError::Malformed)
        );
        // Bad attribute length, wrong address size, no address, short body: message skipped.
        let bad_attr = addr_body(AF_INET, 8, 0, 1, &[std::vec![200, 0, 1, 0, 1, 2, 3, 4]]);
        let v6_in_v4 = addr_body(AF_INET, 8, 0, 1, &[attr(IFA_LOCAL, &[0; 16])]);
        let no_addr = addr_body(AF_INET, 8, 0, 1, &[]);
        let mut batch = msg(RTM_NEWADDR, 1, &bad_attr);
        batch.extend(msg(RTM_NEWADDR, 1, &v6_in_v4));
        batch.extend(msg(RTM_NEWADDR, 1, &no_addr));
        batch.extend(msg(RTM_NEWADDR, 1, &[2, 8, 0]));
        assert_eq!(parse_addr_dump(&batch, 1, &mut out), Ok(DumpState::More));
        assert!(out.addrs.is_empty());
    }

    #[test]
    fn capacity() {
        let mut batch = Vec::new();
        for _ in 0..MAX_ADDRS + 2 {
            batch.extend(lo_v4());
        }
        let mut out = AddrList::default();
        assert_eq!(parse_addr_dump(&batch, 1, &mut out), Ok(DumpState::More));
        assert_eq!((out.addrs.len(), out.omitted), (MAX_ADDRS, 2));
    }

    #[test]
    fn request_layout() {
        let r = dump_request(9);
        assert_eq!(u32_at(&r, 0), Some(24));
        assert_eq!(u16_at(&r, 4), Some(RTM_GETADDR));
        assert_eq!(u16_at(&r, 6), Some(0x301));
        assert_eq!(u32_at(&r, 8), Some(9));
        assert_eq!(AddrScope::from_raw(7), AddrScope::Other(7));
    }
}
