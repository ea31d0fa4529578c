//! Content negotiation and validators: `Accept-Encoding` (RFC 9110 §12.5.3) and
//! `If-None-Match` (RFC 9110 §13.1.2).

use super::fields::{list_elements, trim_ows};

/// Whether an `Accept-Encoding` value allows `gzip`: listed (or `*`) with a q-value above 0.
/// `gzip;q=0` refuses it, and so does `*;q=0` when gzip is not listed.
pub fn accepts_gzip(accept_encoding: &[u8]) -> bool {
    let mut star = None;
    for item in list_elements(accept_encoding) {
        let mut parts = item.split(|&b| b == b';');
        let coding = trim_ows(parts.next().unwrap_or(b""));
        let mut q_zero = false;
        for p in parts {
            let p = trim_ows(p);
            if p.len() >= 2 && p[..2].eq_ignore_ascii_case(b"q=") {
                let v = trim_ows(&p[2..]);
                q_zero = !v.is_empty() && v.iter().all(|&b| b == b'0' || b == b'.');
            }
        }
        if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            return !q_zero;
        }
        if coding == b"*" {
            star = Some(!q_zero);
        }
    }
    star.unwrap_or(false)
}

/// Whether an `If-None-Match` value matches `etag` (a quoted entity tag): `*`, or any listed
/// tag equal to it under the weak comparison (a `W/` prefix on either side is ignored).
pub fn etag_matches(if_none_match: &[u8], etag: &[u8]) -> bool {
    let value = trim_ows(if_none_match);
    if value == b"*" {
        return true;
    }
    let Some(want) = opaque(etag) else {
        return false;
    };
    list_elements(value).any(|t| opaque(t) == Some(want))
}

/// The opaque part of an entity tag (`W/` dropped), or `None` if it is not quoted.
fn opaque(t: &[u8]) -> Option<&[u8]> {
    let t = trim_ows(t);
    let t = t.strip_prefix(b"W/").unwrap_or(t);
    (t.len() >= 2 && t[0] == b'"' && t[t.len() - 1] == b'"').then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_accepts_gzip_with_q_values() {
        assert!(accepts_gzip(b"gzip, deflate, br"));
        assert!(accepts_gzip(b"br;q=1.0, GZIP;q=0.5"));
        assert!(!accepts_gzip(b"gzip;q=0"));
        assert!(!accepts_gzip(b"gzip;q=0.000"));
        assert!(accepts_gzip(b"*"));
        assert!(!accepts_gzip(b"*;q=0"));
        assert!(!accepts_gzip(b"gzip;q=0, *"));
        assert!(!accepts_gzip(b"identity"));
        assert!(!accepts_gzip(b""));
    }

    #[test]
    fn test_etag_matches_lists_weak_and_star() {
        assert!(etag_matches(b"\"abc\"", b"\"abc\""));
        assert!(etag_matches(b"W/\"abc\"", b"\"abc\""));
        assert!(etag_matches(b"\"x\", \"abc\"", b"\"abc\""));
        assert!(etag_matches(b"*", b"\"abc\""));
        assert!(!etag_matches(b"\"abcd\"", b"\"abc\""));
        assert!(!etag_matches(b"abc", b"\"abc\""));
    }
}
