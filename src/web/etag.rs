//! Automatic `ETag` and `304 Not Modified` (Tornado's `compute_etag` / `check_etag_header`).
//!
//! After the handler, [`Application::dispatch`](super::Application::dispatch) calls [`apply`]
//! for `GET` and `HEAD` requests (unless turned off with
//! [`Application::compute_etag`](super::Application::compute_etag)):
//!
//! * a `200` response with a copied body of at most the configured size (default
//!   [`ETAG_MAX_BODY`]), no `ETag` of its own and not deferred or streamed gets a strong ETag:
//!   a 64-bit FNV-1a hash of the body, as 16 hex digits in quotes (`"3f1b…"`). Bodies sent from
//!   rodata ([`Response::write_static`]) are not hashed (their handler knows their version and
//!   can set an `ETag` itself);
//! * if the response has an `ETag` (computed or set by the handler) and the request's
//!   `If-None-Match` matches it, the response becomes `304 Not Modified` without a body.
//!
//! `If-None-Match` uses the weak comparison of RFC 9110 §13.1.2 (`W/"x"` matches `"x"`), accepts
//! `*` and comma-separated lists (across several fields too), and is read strictly: a list that
//! is not well-formed matches nothing from the first malformed element on.

use crate::config::parse_or;
use crate::http::Method;
use crate::httpserver::{Request, Response};

/// Largest body that gets an automatic ETag, in bytes; larger bodies are sent without one.
///
/// Default 2048. Set with `EDGELOOP_WEB_ETAG_MAX_BODY`. Hashing costs about one cycle per byte;
/// no memory.
pub const ETAG_MAX_BODY: usize = parse_or(option_env!("EDGELOOP_WEB_ETAG_MAX_BODY"), 2048);

/// Length of a computed ETag: 16 hex digits and two quotes.
pub const ETAG_LEN: usize = 18;

/// The 64-bit FNV-1a hash of `data`.
pub const fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < data.len() {
        h ^= data[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// The strong ETag of `body`: `"` + 16 lower-case hex digits of [`fnv1a64`] + `"`.
pub fn compute(body: &[u8]) -> [u8; ETAG_LEN] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let h = fnv1a64(body);
    let mut out = [b'"'; ETAG_LEN];
    for (i, d) in out[1..17].iter_mut().enumerate() {
        *d = DIGITS[((h >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// The opaque part of an entity-tag (`"x"` or `W/"x"` → `x`), or `None` if malformed.
fn opaque(tag: &[u8]) -> Option<&[u8]> {
    let tag = tag.strip_prefix(b"W/").unwrap_or(tag);
    let inner = tag.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    // etagc = %x21 / %x23-7E / obs-text
    inner
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        .then_some(inner)
}

/// Whether one `If-None-Match` field value matches `etag` (weak comparison; `*` matches).
pub fn if_none_match(value: &[u8], etag: &[u8]) -> bool {
    let Some(want) = opaque(etag) else {
        return false;
    };
    let mut rest = crate::http::fields::trim_ows(value);
    if rest == b"*" {
        return true;
    }
    while !rest.is_empty() {
        // One element: optional W/, then a quoted string (which may contain commas).
        let start = if rest.starts_with(b"W/") { 2 } else { 0 };
        if rest.get(start) != Some(&b'"') {
            return false;
        }
        let Some(close) = rest[start + 1..].iter().position(|&b| b == b'"') else {
            return false;
        };
        let end = start + 1 + close + 1;
        if opaque(&rest[..end]) == Some(want) {
            return true;
        }
        rest = crate::http::fields::trim_ows(&rest[end..]);
        match rest.split_first() {
            Some((b',', tail)) => rest = crate::http::fields::trim_ows(tail),
            Some(_) => return false,
            None => {}
        }
    }
    false
}

/// Whether any `If-None-Match` field of `req` matches `etag`.
pub fn request_matches(req: &Request<'_>, etag: &[u8]) -> bool {
    req.headers_named("If-None-Match")
        .any(|v| if_none_match(v, etag))
}

/// Adds an ETag to an eligible response and turns it into `304` when the request's
/// `If-None-Match` matches (see the [module docs](self)). Returns whether it became `304`.
pub fn apply(
    req: &Request<'_>,
    resp: &mut Response<'_>,
    compute_etag: bool,
    max_body: usize,
) -> bool {
    if !matches!(req.method, Method::Get | Method::Head)
        || resp.status() != 200
        || resp.is_deferred()
        || resp.is_streaming()
        || resp.failed()
    {
        return false;
    }
    let have = match resp.header("ETag") {
        Some(t) => request_matches(req, t),
        None => {
            let body = resp.body();
            if !compute_etag || body.len() > max_body || body.len() != resp.body_len() {
                return false;
            }
            let tag = compute(body);
            if resp.set_header("ETag", &tag).is_err() {
                return false;
            }
            request_matches(req, &tag)
        }
    };
    if !have {
        return false;
    }
    // RFC 9110 §15.4.5: no content, and no representation metadata beyond the validators.
    let _ = resp.set_status(304);
    resp.clear_body();
    for name in ["Content-Type", "Content-Language", "Content-Encoding"] {
        resp.clear_header(name);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn compute_is_quoted_fixed_width_hex() {
        assert_eq!(&compute(b""), b"\"cbf29ce484222325\"");
        assert_eq!(&compute(b"a"), b"\"af63dc4c8601ec8c\"");
        assert_ne!(compute(b"x"), compute(b"y"));
    }

    #[test]
    fn if_none_match_weak_comparison_lists_and_star() {
        let e = b"\"abc\"";
        assert!(if_none_match(b"\"abc\"", e));
        assert!(if_none_match(b"W/\"abc\"", e));
        assert!(if_none_match(b"*", e));
        assert!(if_none_match(b" \"x\", W/\"abc\" ", e));
        assert!(if_none_match(b"\"x\",\"abc\"", e));
        assert!(if_none_match(b"\"abc\"", b"W/\"abc\""));
        assert!(!if_none_match(b"\"abcd\"", e));
        assert!(!if_none_match(b"abc", e), "an unquoted tag matches nothing");
        assert!(!if_none_match(b"\"abd\"", e));
        assert!(!if_none_match(b"", e));
        assert!(!if_none_match(b"abc", e));
        assert!(!if_none_match(b"\"ab", e));
        // Commas inside a quoted tag are part of the tag.
        assert!(if_none_match(b"\"a,b\"", b"\"a,b\""));
        assert!(!if_none_match(b"\"a,b\"", b"\"a\""));
        // Malformed from here on: nothing after it counts.
        assert!(!if_none_match(b"\"x\" junk, \"abc\"", e));
        assert!(!if_none_match(b"*, \"abc\"", b"\"zzz\""));
    }
}
