//! Field-value grammar shared by the request parser, the chunked decoder and the response writer
//! (RFC 9110 §5): tokens, list splitting, strict `Content-Length` and `Host` syntax.

/// Whether `b` is a `tchar`, a byte allowed in a token such as a field name or a method
/// (RFC 9110 §5.6.2).
pub const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// Whether `s` is a non-empty token (RFC 9110 §5.6.2).
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Whether `b` may appear in a field value: visible ASCII, obs-text (0x80–0xFF), space or
/// horizontal tab (RFC 9110 §5.5). Every other control byte, DEL included, is refused.
pub const fn is_field_value_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)
}

/// Removes optional whitespace (spaces and horizontal tabs) from both ends.
pub fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Splits a comma-separated list field (RFC 9110 §5.6.1) into its elements, each trimmed of
/// optional whitespace. Empty elements are yielded as empty slices so that strict callers can
/// refuse them.
pub fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// Whether a list field contains `token`, compared without regard to ASCII case.
pub fn list_contains(value: &[u8], token: &[u8]) -> bool {
    list_elements(value).any(|e| e.eq_ignore_ascii_case(token))
}

/// Most decimal digits accepted in a `Content-Length`: any 19-digit number fits in a `u64`.
pub const MAX_CONTENT_LENGTH_DIGITS: usize = 19;

/// Parses a `Content-Length` value strictly: 1 to 19 ASCII decimal digits and nothing else (no
/// sign, no whitespace inside, no list). Leading zeros are decimal, not octal: `010` is 10.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > MAX_CONTENT_LENGTH_DIGITS {
        return None;
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Whether `value` is an acceptable `Host` field value: `uri-host [ ":" port ]` (RFC 9110 §7.2),
/// checked by alphabet only: unreserved, sub-delims, `%`, `:`, `[` and `]`. The empty value is
/// allowed (RFC 9112 §3.2). Whitespace, `/`, `?`, `#`, `@`, `\` and non-ASCII are refused.
pub fn is_valid_host(value: &[u8]) -> bool {
    value.iter().all(|&b| {
        matches!(b,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'-' | b'.' | b'_' | b'~'
            | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            | b'%' | b':' | b'[' | b']')
    })
}

/// Parses an IP address exactly as `core::net::IpAddr::from_str` does — dotted-decimal IPv4
/// (four parts, no leading zeros, each at most 255) or IPv6 (RFC 4291 text form: up to eight
/// hexadecimal groups of at most four digits, one `::`, an optional dotted-decimal tail; no zone)
/// — without linking `core`'s general parser (about 2 KB on aarch64). `None` for anything else,
/// surrounding whitespace included.
pub fn parse_ip(s: &[u8]) -> Option<core::net::IpAddr> {
    match parse_ipv4(s) {
        Some(v4) => Some(core::net::IpAddr::V4(v4)),
        None => parse_ipv6(s).map(core::net::IpAddr::V6),
    }
}

/// Parses a whole dotted-decimal IPv4 address (see [`parse_ip`]).
pub fn parse_ipv4(s: &[u8]) -> Option<core::net::Ipv4Addr> {
    match ipv4_prefix(s) {
        Some((ip, 0)) => Some(ip),
        _ => None,
    }
}

/// Parses a whole IPv6 address (see [`parse_ip`]).
pub fn parse_ipv6(s: &[u8]) -> Option<core::net::Ipv6Addr> {
    let mut head = [0u16; 8];
    let (n, v4, mut rest) = ipv6_groups(s, &mut head);
    if n == 8 {
        return rest.is_empty().then_some(head.into());
    }
    if v4 {
        return None;
    }
    rest = rest.strip_prefix(b"::")?;
    let mut tail = [0u16; 7];
    let (m, _, rest) = ipv6_groups(rest, &mut tail[..7 - n]);
    if !rest.is_empty() {
        return None;
    }
    head[8 - m..].copy_from_slice(&tail[..m]);
    Some(head.into())
}

/// The dotted-decimal IPv4 address at the start of `s`, and how many bytes follow it.
fn ipv4_prefix(mut s: &[u8]) -> Option<(core::net::Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    for (i, o) in octets.iter_mut().enumerate() {
        if i > 0 {
            s = s.strip_prefix(b".")?;
        }
        let digits = s.iter().take(3).take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || (digits > 1 && s[0] == b'0') {
            return None;
        }
        let mut n: u16 = 0;
        for &b in &s[..digits] {
            n = n * 10 + u16::from(b - b'0');
        }
        *o = u8::try_from(n).ok()?;
        s = &s[digits..];
    }
    Some((octets.into(), s.len()))
}

/// Reads up to `groups.len()` colon-separated hexadecimal groups from the start of `s`, the last
/// two possibly written as a dotted-decimal IPv4 address. Returns how many groups were read,
/// whether the IPv4 form ended them, and the unread rest.
fn ipv6_groups<'a>(mut s: &'a [u8], groups: &mut [u16]) -> (usize, bool, &'a [u8]) {
    let limit = groups.len();
    for i in 0..limit {
        // A separator is needed before every group but the first; it is consumed only when a
        // group follows it.
        let after = if i == 0 {
            Some(s)
        } else {
            s.strip_prefix(b":")
        };
        let Some(body) = after else {
            return (i, false, s);
        };
        if i + 1 < limit
            && let Some((v4, left)) = ipv4_prefix(body)
        {
            let [a, b, c, d] = v4.octets();
            groups[i] = u16::from_be_bytes([a, b]);
            groups[i + 1] = u16::from_be_bytes([c, d]);
            return (i + 2, true, &body[body.len() - left..]);
        }
        let digits = body
            .iter()
            .take(4)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if digits == 0 {
            return (i, false, s);
        }
        groups[i] = body[..digits].iter().fold(0, |n, &b| {
            // `b` is a hex digit, so `to_digit` succeeds and the value fits in four bits.
            (n << 4) | (char::from(b).to_digit(16).unwrap_or(0) as u16)
        });
        s = &body[digits..];
    }
    (limit, false, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cl_plain_decimal() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"42"), Some(42));
        assert_eq!(
            parse_content_length(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
    }

    #[test]
    fn test_cl_leading_zero_is_decimal_not_octal() {
        assert_eq!(parse_content_length(b"010"), Some(10));
        assert_eq!(parse_content_length(b"000"), Some(0));
    }

    #[test]
    fn test_cl_malformed_rejected() {
        for v in [
            &b""[..],
            b"+1",
            b"-1",
            b"0x10",
            b"1Z",
            b"1 2",
            b" 1",
            b"1 ",
            b"1,1",
            b"1_000",
            b"1.0",
            b"\xd9\xa1",
            b"10000000000000000000",
            b"18446744073709551616",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_content_length(v), None, "{v:?}");
        }
    }

    #[test]
    fn test_list_elements_trims_ows() {
        let v: Vec<&[u8]> = list_elements(b" keep-alive ,\tUpgrade,,close").collect();
        assert_eq!(v, [&b"keep-alive"[..], b"Upgrade", b"", b"close"]);
    }

    #[test]
    fn test_list_contains_ignores_case() {
        assert!(list_contains(b"Keep-Alive, Upgrade", b"keep-alive"));
        assert!(list_contains(b"CLOSE", b"close"));
        assert!(!list_contains(b"closed", b"close"));
        assert!(!list_contains(b"", b"close"));
    }

    #[test]
    fn test_token_alphabet() {
        assert!(is_token(b"X-Custom_1"));
        assert!(!is_token(b""));
        assert!(!is_token(b"Bad Name"));
        assert!(!is_token(b"Bad:Name"));
        assert!(!is_token(b"Bad\x00"));
        assert!(!is_token(b"\xff"));
    }

    #[test]
    fn test_field_value_bytes() {
        assert!(
            b"text/html; q=0.9\t\x80"
                .iter()
                .all(|&b| is_field_value_byte(b))
        );
        for b in [0u8, b'\r', b'\n', 0x0b, 0x7f] {
            assert!(!is_field_value_byte(b), "{b}");
        }
    }

    #[test]
    fn test_host_alphabet() {
        assert!(is_valid_host(b"example.com:8080"));
        assert!(is_valid_host(b"[::1]:80"));
        assert!(is_valid_host(b""));
        assert!(!is_valid_host(b"a b"));
        assert!(!is_valid_host(b"evil.com/x"));
        assert!(!is_valid_host(b"user@host"));
        assert!(!is_valid_host(b"h\xc3\xa9"));
    }

    #[test]
    fn test_parse_ip_known_forms() {
        for ok in [
            "0.0.0.0",
            "192.168.1.9",
            "255.255.255.255",
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6::8",
            "::2:3:4:5:6:7:8",
            "fe80::1",
            "::ffff:10.0.0.1",
            "1:2:3:4:5:6:1.2.3.4",
            "::1.2.3.4",
            "ABCD::ef",
            "1:2:3:4:5:6:7::",
        ] {
            assert_eq!(parse_ip(ok.as_bytes()), ok.parse().ok(), "{ok}");
            assert!(parse_ip(ok.as_bytes()).is_some(), "{ok}");
        }
        for bad in [
            "",
            " 1.2.3.4",
            "1.2.3.4 ",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1..2.3",
            "1.2.3.4:80",
            ":::",
            "1:::2",
            "1::2::3",
            "12345::",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::1.2.3.4:5",
            "fe80::1%1",
            "[::1]",
            ":1::",
        ] {
            assert_eq!(parse_ip(bad.as_bytes()), None, "{bad}");
        }
    }

    fn ip_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let part = prop_oneof![
            Just(String::from(":")),
            Just(String::from("::")),
            Just(String::from(".")),
            Just(String::from("0")),
            Just(String::from("00")),
            Just(String::from("255")),
            Just(String::from("256")),
            Just(String::from("1.2.3.4")),
            "[0-9]{1,4}",
            "[0-9a-fA-F]{1,5}",
            Just(String::from("g")),
        ];
        proptest::collection::vec(part, 1..12).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #[test]
        fn prop_parse_ip_matches_core(s in ip_text()) {
            proptest::prop_assert_eq!(parse_ip(s.as_bytes()), s.parse().ok(), "{}", s);
        }

        #[test]
        fn prop_parse_ip_round_trips(ip in proptest::prelude::any::<core::net::IpAddr>()) {
            let s = ip.to_string();
            proptest::prop_assert_eq!(parse_ip(s.as_bytes()), Some(ip));
        }
    }
}
