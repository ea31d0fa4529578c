//! Private logging shim, and [`Text`]: formatting without `core::fmt`.
//!
//! With the `defmt` feature the macros forward to `defmt` (frames decoded on the host with
//! `defmt-print`); without it they expand to nothing but still type-check their arguments, so a
//! build without logging carries no format strings and no code.

#![allow(unused_macros)]

#[cfg(feature = "defmt")]
macro_rules! error { ($($t:tt)*) => { defmt::error!($($t)*) }; }
#[cfg(feature = "defmt")]
macro_rules! warning { ($($t:tt)*) => { defmt::warn!($($t)*) }; }
#[cfg(feature = "defmt")]
macro_rules! info { ($($t:tt)*) => { defmt::info!($($t)*) }; }
#[cfg(feature = "defmt")]
macro_rules! debug { ($($t:tt)*) => { defmt::debug!($($t)*) }; }
#[cfg(feature = "defmt")]
macro_rules! trace { ($($t:tt)*) => { defmt::trace!($($t)*) }; }

#[cfg(not(feature = "defmt"))]
macro_rules! error { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }
#[cfg(not(feature = "defmt"))]
macro_rules! warning { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }
#[cfg(not(feature = "defmt"))]
macro_rules! info { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }
#[cfg(not(feature = "defmt"))]
macro_rules! debug { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }
#[cfg(not(feature = "defmt"))]
macro_rules! trace { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }

#[allow(unused_imports)]
pub(crate) use {debug, error, info, trace, warning};

/// Text assembled in a fixed stack buffer without `core::fmt`: byte strings, decimal integers
/// and socket addresses (the forms `Display` gives them). Used where a firmware prints (its
/// start-up line, the panic handler) so that a small binary links none of the formatting
/// machinery. Text beyond `N` bytes is cut.
///
/// ```
/// # #[cfg(feature = "firmware")] {
/// let mut line = edgeloop::firmware::Text::<64>::new();
/// line.str("listening on ").socket_addr(&"[::1]:8888".parse().unwrap()).str("\n");
/// assert_eq!(line.as_bytes(), b"listening on [::1]:8888\n");
/// # }
/// ```
#[cfg(any(feature = "firmware", test))]
#[derive(Debug, Clone)]
pub struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

#[cfg(any(feature = "firmware", test))]
impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(feature = "firmware", test))]
impl<const N: usize> Text<N> {
    /// An empty text.
    pub const fn new() -> Self {
        Text {
            buf: [0; N],
            len: 0,
        }
    }

    /// What was written.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Appends `s` (cut at the capacity).
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Appends the bytes `s` (cut at the capacity).
    pub fn bytes(&mut self, s: &[u8]) -> &mut Self {
        append(&mut self.buf, &mut self.len, s);
        self
    }

    /// Appends `n` in decimal.
    pub fn dec(&mut self, n: u64) -> &mut Self {
        let mut d = [0; crate::http::itoa::DEC_U64_LEN];
        self.bytes(crate::http::itoa::dec_u64(n, &mut d))
    }

    /// Appends `n` in decimal, with a `-` when negative.
    pub fn int(&mut self, n: i64) -> &mut Self {
        if n < 0 {
            self.bytes(b"-");
        }
        self.dec(n.unsigned_abs())
    }

    /// Appends `ip` as `Display` writes it: dotted decimal, or RFC 5952 IPv6 (the longest run
    /// of two or more zero groups as `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`).
    pub fn ip(&mut self, ip: core::net::IpAddr) -> &mut Self {
        match ip {
            core::net::IpAddr::V4(v4) => self.ipv4(v4),
            core::net::IpAddr::V6(v6) => self.ipv6(v6),
        }
    }

    fn ipv4(&mut self, ip: core::net::Ipv4Addr) -> &mut Self {
        for (i, o) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                self.bytes(b".");
            }
            self.dec(u64::from(o));
        }
        self
    }

    fn ipv6(&mut self, ip: core::net::Ipv6Addr) -> &mut Self {
        if let Some(v4) = ip.to_ipv4_mapped() {
            return self.bytes(b"::ffff:").ipv4(v4);
        }
        let groups = ip.segments();
        // The first longest run of zero groups; compressed only when it is two or longer.
        let (mut best, mut best_len, mut start, mut len) = (0, 0, 0, 0);
        for (i, &g) in groups.iter().enumerate() {
            if g == 0 {
                if len == 0 {
                    start = i;
                }
                len += 1;
                if len > best_len {
                    (best, best_len) = (start, len);
                }
            } else {
                len = 0;
            }
        }
        if best_len < 2 {
            return self.groups(&groups);
        }
        self.groups(&groups[..best])
            .bytes(b"::")
            .groups(&groups[best + best_len..])
    }

    fn groups(&mut self, groups: &[u16]) -> &mut Self {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                self.bytes(b":");
            }
            let mut h = [0; crate::http::itoa::HEX_U64_LEN];
            self.bytes(crate::http::itoa::hex_u64(u64::from(g), &mut h));
        }
        self
    }

    /// Appends `addr` as `Display` writes it: `ip:port`, `[ip]:port` or `[ip%scope]:port`.
    pub fn socket_addr(&mut self, addr: &core::net::SocketAddr) -> &mut Self {
        match addr {
            core::net::SocketAddr::V4(a) => self.ipv4(*a.ip()),
            core::net::SocketAddr::V6(a) => {
                self.bytes(b"[").ipv6(*a.ip());
                if a.scope_id() != 0 {
                    self.bytes(b"%").dec(u64::from(a.scope_id()));
                }
                self.bytes(b"]")
            }
        };
        self.bytes(b":").dec(u64::from(addr.port()))
    }
}

/// The one copy of [`Text::bytes`] for every capacity.
#[cfg(any(feature = "firmware", test))]
#[inline(never)]
fn append(buf: &mut [u8], len: &mut usize, s: &[u8]) {
    let free = buf.get_mut(*len..).unwrap_or_default();
    let n = s.len().min(free.len());
    if let (Some(to), Some(from)) = (free.get_mut(..n), s.get(..n)) {
        to.copy_from_slice(from);
        *len += n;
    }
}

#[cfg(test)]
mod tests {
    use super::Text;
    use core::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
    use proptest::prelude::*;

    fn show(addr: &SocketAddr) -> std::string::String {
        let mut t = Text::<64>::new();
        t.socket_addr(addr);
        std::string::String::from_utf8(t.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn test_text_matches_display_on_known_addresses() {
        for s in [
            "0.0.0.0:8888",
            "255.255.255.255:65535",
            "[::]:0",
            "[::1]:80",
            "[1::]:80",
            "[1:0:0:2::3]:1",
            "[1::2:0:0:3]:1",
            "[1:0:2:0:3:0:4:0]:9",
            "[::ffff:10.0.0.1]:443",
            "[fe80::1%7]:22",
        ] {
            let a: SocketAddr = s.parse().unwrap();
            assert_eq!(show(&a), s);
        }
        let mut t = Text::<8>::new();
        t.int(-42).bytes(b"xyz").int(i64::MIN);
        assert_eq!(t.as_bytes(), b"-42xyz-9");
        let mut t = Text::<32>::default();
        t.str("ip ").ip("fe80::1".parse().unwrap());
        assert_eq!(t.as_bytes(), b"ip fe80::1");
    }

    proptest! {
        #[test]
        fn prop_text_matches_display(
            segs in proptest::array::uniform8(prop_oneof![Just(0u16), Just(0xffff), any::<u16>()]),
            v4 in any::<[u8; 4]>(),
            port in any::<u16>(),
            scope in prop_oneof![Just(0u32), any::<u32>()],
            n in any::<i64>(),
        ) {
            let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(segs), port, 0, scope));
            prop_assert_eq!(show(&v6), v6.to_string());
            let v4 = SocketAddr::new(IpAddr::from(v4), port);
            prop_assert_eq!(show(&v4), v4.to_string());
            let mut t = Text::<20>::new();
            t.int(n);
            let want = n.to_string();
            prop_assert_eq!(t.as_bytes(), want.as_bytes());
        }
    }
}
