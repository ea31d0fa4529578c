//! Network interfaces and the default route, with the classic `SIOC*` ioctls of
//! `netdevice(7)` and `route(8)` on an `AF_INET` datagram socket — what `ifconfig` and
//! `route add default gw` do, without netlink.
//!
//! The kernel structures are laid out here with `#[repr(C)]`; their sizes are checked at compile
//! time for 64-bit (`struct ifreq` 40 bytes, `struct rtentry` 120) and 32-bit ARM (32 and 84).

use core::ffi::c_ulong;
use core::mem::size_of;
use core::net::Ipv4Addr;

use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::ioctl::{Opcode, Updater, ioctl};
use rustix::net::{AddressFamily, SocketType, socket};

use super::DeviceError;

// linux/sockios.h
const SIOCADDRT: Opcode = 0x890B;
const SIOCGIFFLAGS: Opcode = 0x8913;
const SIOCSIFFLAGS: Opcode = 0x8914;
const SIOCSIFADDR: Opcode = 0x8916;
const SIOCSIFNETMASK: Opcode = 0x891C;
// linux/if.h, linux/route.h, linux/socket.h
const IFF_UP: u16 = 0x1;
const IFNAMSIZ: usize = 16;
const RTF_UP: u16 = 0x1;
const RTF_GATEWAY: u16 = 0x2;
const AF_INET: u16 = 2;

/// `struct sockaddr_in` (16 bytes, the size of `struct sockaddr`).
#[repr(C)]
#[derive(Clone, Copy)]
struct SockAddrIn {
    family: u16,
    port: [u8; 2],
    addr: [u8; 4],
    zero: [u8; 8],
}

impl SockAddrIn {
    fn inet(addr: Ipv4Addr) -> Self {
        SockAddrIn {
            family: AF_INET,
            port: [0; 2],
            addr: addr.octets(),
            zero: [0; 8],
        }
    }

    fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..2].copy_from_slice(&self.family.to_ne_bytes());
        b[2..4].copy_from_slice(&self.port);
        b[4..8].copy_from_slice(&self.addr);
        b
    }
}

/// `struct ifmap`: the largest member of `struct ifreq`'s union, so it fixes its size.
#[repr(C)]
struct IfMap {
    mem_start: c_ulong,
    mem_end: c_ulong,
    base_addr: u16,
    irq: u8,
    dma: u8,
    port: u8,
}

/// `struct ifreq`'s union, as bytes: `ifr_addr`/`ifr_netmask` (a `sockaddr`) and `ifr_flags`
/// (a `short`) start at its first byte; the `c_ulong` tail gives it `ifmap`'s size and alignment.
#[repr(C)]
struct IfrIfru {
    bytes: [u8; 16],
    _tail: [c_ulong; (size_of::<IfMap>() - 16) / size_of::<c_ulong>()],
}

/// `struct ifreq`.
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    ifru: IfrIfru,
}

/// `struct rtentry` (pointer members as `usize`: same size and alignment on Linux).
#[repr(C)]
struct RtEntry {
    pad1: c_ulong,
    dst: SockAddrIn,
    gateway: SockAddrIn,
    genmask: SockAddrIn,
    flags: u16,
    pad2: i16,
    pad3: c_ulong,
    pad4: usize,
    metric: i16,
    dev: usize,
    mtu: c_ulong,
    window: c_ulong,
    irtt: u16,
}

const _: () = {
    let wide = size_of::<usize>() == 8;
    assert!(size_of::<SockAddrIn>() == 16);
    assert!(size_of::<IfReq>() == if wide { 40 } else { 32 });
    assert!(size_of::<RtEntry>() == if wide { 120 } else { 84 });
};

impl IfReq {
    fn new(name: &str) -> Result<Self, DeviceError> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= IFNAMSIZ || bytes.contains(&0) {
            return Err(DeviceError::InvalidInterfaceName);
        }
        let mut req = IfReq {
            name: [0; IFNAMSIZ],
            ifru: IfrIfru {
                bytes: [0; 16],
                _tail: [0; (size_of::<IfMap>() - 16) / size_of::<c_ulong>()],
            },
        };
        req.name[..bytes.len()].copy_from_slice(bytes);
        Ok(req)
    }

    fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.ifru.bytes[0], self.ifru.bytes[1]])
    }

    fn set_flags(&mut self, flags: u16) {
        self.ifru.bytes[..2].copy_from_slice(&flags.to_ne_bytes());
    }
}

/// Issues the `struct ifreq` ioctl `OP` on `sock`.
fn ifreq_ioctl<const OP: Opcode>(sock: &OwnedFd, req: &mut IfReq) -> Result<(), Errno> {
    // SAFETY: every `OP` used with this helper (SIOCSIFADDR, SIOCSIFNETMASK, SIOCGIFFLAGS,
    // SIOCSIFFLAGS) takes a pointer to a `struct ifreq`, which `IfReq` reproduces (size checked
    // above); the kernel reads and writes only within it, and any bytes it writes are valid.
    unsafe { ioctl(sock, Updater::<OP, IfReq>::new(req)) }
}

fn control_socket() -> Result<OwnedFd, DeviceError> {
    socket(AddressFamily::INET, SocketType::DGRAM, None)
        .map_err(|e| DeviceError::Socket(e.raw_os_error()))
}

/// Gives the interface `name` an IPv4 address and netmask (when `address` is `Some`), then
/// brings it up (`IFF_UP`), like `ifconfig NAME ADDR netmask MASK up`.
///
/// Setting the address the interface already has is fine, and so is an interface that is up
/// already. Errors: [`DeviceError::InvalidInterfaceName`]; `ENODEV` in
/// [`DeviceError::SetAddress`] or [`DeviceError::GetFlags`] when there is no such interface
/// (yet: a driver may register it a moment after its module loaded); `EPERM` without
/// `CAP_NET_ADMIN`.
pub fn interface_up(name: &str, address: Option<(Ipv4Addr, Ipv4Addr)>) -> Result<(), DeviceError> {
    let mut req = IfReq::new(name)?;
    let sock = control_socket()?;
    if let Some((addr, netmask)) = address {
        req.ifru.bytes = SockAddrIn::inet(addr).to_bytes();
        ifreq_ioctl::<SIOCSIFADDR>(&sock, &mut req)
            .map_err(|e| DeviceError::SetAddress(e.raw_os_error()))?;
        req.ifru.bytes = SockAddrIn::inet(netmask).to_bytes();
        ifreq_ioctl::<SIOCSIFNETMASK>(&sock, &mut req)
            .map_err(|e| DeviceError::SetNetmask(e.raw_os_error()))?;
    }
    req.ifru.bytes = [0; 16];
    ifreq_ioctl::<SIOCGIFFLAGS>(&sock, &mut req)
        .map_err(|e| DeviceError::GetFlags(e.raw_os_error()))?;
    let flags = req.flags();
    if flags & IFF_UP == 0 {
        req.set_flags(flags | IFF_UP);
        ifreq_ioctl::<SIOCSIFFLAGS>(&sock, &mut req)
            .map_err(|e| DeviceError::SetFlags(e.raw_os_error()))?;
    }
    Ok(())
}

/// Whether the interface `name` is up (`IFF_UP`).
pub fn interface_is_up(name: &str) -> Result<bool, DeviceError> {
    let mut req = IfReq::new(name)?;
    let sock = control_socket()?;
    ifreq_ioctl::<SIOCGIFFLAGS>(&sock, &mut req)
        .map_err(|e| DeviceError::GetFlags(e.raw_os_error()))?;
    Ok(req.flags() & IFF_UP != 0)
}

/// Adds the IPv4 default route through `gateway`, like `route add default gw GATEWAY`.
///
/// The gateway must be on the subnet of an interface that is up (else `ENETUNREACH`). A default
/// route that exists already (`EEXIST`) counts as added.
pub fn set_default_route(gateway: Ipv4Addr) -> Result<(), DeviceError> {
    let sock = control_socket()?;
    let mut rt = RtEntry {
        pad1: 0,
        dst: SockAddrIn::inet(Ipv4Addr::UNSPECIFIED),
        gateway: SockAddrIn::inet(gateway),
        genmask: SockAddrIn::inet(Ipv4Addr::UNSPECIFIED),
        flags: RTF_UP | RTF_GATEWAY,
        pad2: 0,
        pad3: 0,
        pad4: 0,
        metric: 0,
        dev: 0,
        mtu: 0,
        window: 0,
        irtt: 0,
    };
    // SAFETY: SIOCADDRT takes a pointer to a `struct rtentry`, which `RtEntry` reproduces (size
    // checked above); the kernel only reads it. `dev` is null: the kernel picks the interface.
    match unsafe { ioctl(&sock, Updater::<SIOCADDRT, RtEntry>::new(&mut rt)) } {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(DeviceError::AddRoute(e.raw_os_error())),
    }
}
