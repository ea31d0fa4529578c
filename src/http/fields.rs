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
}
