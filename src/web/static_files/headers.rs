//! Reading the request fields `StaticFiles` acts on: the path, `Accept-Encoding` q-values,
//! `Range`, and the `v` query argument. Pure functions over bytes.

use crate::http::fields::{list_elements, trim_ows};
use crate::httpserver::Request;
use crate::web::args::decode_at;

/// Percent-decodes `raw` into `out`; `None` for an invalid escape, an encoded `/`, a
/// backslash (raw or encoded), a NUL or another control byte, or a result longer than `out`.
pub(super) fn decode_path(raw: &[u8], out: &mut [u8]) -> Option<usize> {
    let (mut n, mut i) = (0, 0);
    while i < raw.len() {
        let (b, used) = decode_at(raw, i, false)?;
        if (used == 3 && b == b'/') || b == b'\\' || b < 0x20 || b == 0x7f {
            return None;
        }
        *out.get_mut(n)? = b;
        n += 1;
        i += used;
    }
    Some(n)
}

/// A qvalue (RFC 9110 §12.4.2) in thousandths; `None` when malformed.
fn parse_q(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(p) => (&v[..p], &v[p + 1..]),
        None => (v, &b""[..]),
    };
    if int.len() != 1 || frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut q: u16 = 0;
    for i in 0..3 {
        q = q * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int[0] {
        b'0' => Some(q),
        b'1' if q == 0 => Some(1000),
        _ => None,
    }
}

/// Whether the request's `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): named with q > 0,
/// or not named and `*` with q > 0. Malformed q-values refuse their coding.
pub(crate) fn accepts_gzip(req: &Request<'_>) -> bool {
    let (mut gzip, mut star) = (None, None);
    for v in req.headers_named("Accept-Encoding") {
        for el in list_elements(v) {
            let mut parts = el.split(|&b| b == b';');
            let coding = trim_ows(parts.next().unwrap_or(b""));
            let mut q = Some(1000);
            for p in parts {
                let p = trim_ows(p);
                if p.len() >= 2 && p[..2].eq_ignore_ascii_case(b"q=") {
                    q = parse_q(&p[2..]);
                }
            }
            let ok = q.is_some_and(|q| q > 0);
            if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
                gzip = Some(gzip.unwrap_or(false) || ok);
            } else if coding == b"*" {
                star = Some(star.unwrap_or(false) || ok);
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// What a `Range` field asks of a representation of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ByteRange {
    /// Ignore it: malformed, another unit, or several ranges.
    Whole,
    /// Bytes `first..=last`.
    Part(u64, u64),
    /// `416`.
    Unsatisfiable,
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Parses a `Range` value (RFC 9110 §14.2) for one byte range.
pub(super) fn parse_range(v: &[u8], len: u64) -> ByteRange {
    let v = trim_ows(v);
    if v.len() < 6 || !v[..6].eq_ignore_ascii_case(b"bytes=") || v.contains(&b',') {
        return ByteRange::Whole;
    }
    let spec = trim_ows(&v[6..]);
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return ByteRange::Whole;
    };
    let (a, b) = (&spec[..dash], &spec[dash + 1..]);
    match (parse_u64(a), parse_u64(b)) {
        (None, Some(n)) if a.is_empty() => {
            if n == 0 || len == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part(len - n.min(len), len - 1)
            }
        }
        (Some(first), None) if b.is_empty() => {
            if first >= len {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part(first, len - 1)
            }
        }
        (Some(first), Some(last)) if first <= last => {
            if first >= len {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part(first, last.min(len - 1))
            }
        }
        _ => ByteRange::Whole,
    }
}

/// The raw value of the first `name=` argument of a query string.
pub(super) fn query_arg<'q>(query: &'q str, name: &str) -> Option<&'q [u8]> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &[u8]) -> bool {
        let headers = [httparse::Header {
            name: "Accept-Encoding",
            value,
        }];
        let req = Request {
            method: crate::http::Method::Get,
            target: "/",
            path: "/",
            query: "",
            version: 1,
            headers: &headers,
            body: &[],
            remote: None,
            conn: crate::tcpserver::ConnId::new(0, 0),
            keep_alive: true,
        };
        accepts_gzip(&req)
    }

    #[test]
    fn test_accepts_gzip_with_q_values() {
        assert!(accepts(b"gzip, deflate, br"));
        assert!(accepts(b"br;q=1.0, GZIP;q=0.5"));
        assert!(!accepts(b"gzip;q=0"));
        assert!(!accepts(b"gzip;q=0.000"));
        assert!(accepts(b"*"));
        assert!(!accepts(b"*;q=0"));
        assert!(!accepts(b"gzip;q=0, *"));
        assert!(!accepts(b"identity"));
        assert!(!accepts(b""));
    }

    #[test]
    fn test_decode_path_refuses_traversal_shapes() {
        let mut b = [0u8; 64];
        let mut d = |s: &str| decode_path(s.as_bytes(), &mut b).map(|n| b[..n].to_vec());
        assert_eq!(d("a%20b.txt"), Some(b"a b.txt".to_vec()));
        assert_eq!(
            d("%2e%2e/x"),
            Some(b"../x".to_vec()),
            "segments are checked after"
        );
        for bad in [
            "a%2Fb", "a%2fb", "a%5Cb", "a\\b", "a%00", "a%0a", "a%zz", "a%2", "a%",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        assert_eq!(decode_path(&[b'a'; 65], &mut [0u8; 64]), None);
    }

    #[test]
    fn test_parse_range_forms() {
        use ByteRange::*;
        assert_eq!(parse_range(b"bytes=0-4", 10), Part(0, 4));
        assert_eq!(parse_range(b"bytes=5-", 10), Part(5, 9));
        assert_eq!(parse_range(b"bytes=-3", 10), Part(7, 9));
        assert_eq!(parse_range(b"bytes=-30", 10), Part(0, 9));
        assert_eq!(parse_range(b"bytes=2-100", 10), Part(2, 9));
        assert_eq!(parse_range(b"Bytes = 1-1", 10), Whole, "no space before =");
        assert_eq!(parse_range(b"BYTES=1-1", 10), Part(1, 1));
        assert_eq!(parse_range(b"bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 10), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-1", 0), Unsatisfiable);
        for whole in [
            "bytes=0-1,3-4",
            "bytes=5-2",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=x-1",
        ] {
            assert_eq!(parse_range(whole.as_bytes(), 10), Whole, "{whole}");
        }
        assert_eq!(parse_range(b"bytes=99999999999999999999-", 10), Whole);
    }

    #[test]
    fn test_qvalues() {
        assert_eq!(parse_q(b"0"), Some(0));
        assert_eq!(parse_q(b"0.000"), Some(0));
        assert_eq!(parse_q(b"0.5"), Some(500));
        assert_eq!(parse_q(b"1"), Some(1000));
        assert_eq!(parse_q(b"1.000"), Some(1000));
        for bad in ["1.5", "2", "0.0001", "", "-1", "x", "0.x"] {
            assert_eq!(parse_q(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn test_query_arg() {
        assert_eq!(query_arg("a=1&v=e1", "v"), Some(&b"e1"[..]));
        assert_eq!(query_arg("vv=1", "v"), None);
    }
}
