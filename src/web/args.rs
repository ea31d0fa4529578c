//! Query and form arguments (Tornado's `get_argument`, `get_arguments`, `get_query_argument`,
//! `get_body_argument`), read straight from the request bytes without allocating.
//!
//! An argument string (`a=1&b=x%20y&a=2`) is split on `&`; a pair without `=` has the empty
//! value and empty pairs are skipped (Tornado's `keep_blank_values=True`). Names and values are
//! percent-decoded with `+` read as a space (`application/x-www-form-urlencoded`, which Tornado
//! also applies to query strings) only when asked for, into a buffer the caller provides:
//!
//! * [`Arg`] is one raw pair; [`Arg::value_into`] decodes its value into caller storage.
//! * A value with an invalid percent-escape (`%zz`, a truncated `%4`), one that does not decode
//!   to UTF-8, or one longer than the caller's buffer is **rejected**: the decoding functions
//!   return `None`, exactly as if the caller had to answer `400 Bad Request`. Nothing is
//!   guessed or half-decoded.
//! * Names are compared decoded (`a%5B%5D` is the name `a[]`), without any buffer.
//!
//! Repeated keys are kept in order: [`get_arguments`] iterates over every value of a name;
//! [`get_argument`] takes the **last** one, as Tornado does. Body arguments are read only when
//! the request's `Content-Type` is `application/x-www-form-urlencoded` (multipart bodies are not
//! parsed).

use crate::httpserver::Request;

/// The value of a hexadecimal digit.
const fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One decoded byte of `raw` at `i`: the byte and how many raw bytes it used, or `None` for an
/// invalid percent-escape.
#[inline]
pub(crate) fn decode_at(raw: &[u8], i: usize, plus_as_space: bool) -> Option<(u8, usize)> {
    match raw[i] {
        b'%' => {
            let hi = hex(*raw.get(i + 1)?)?;
            let lo = hex(*raw.get(i + 2)?)?;
            Some(((hi << 4) | lo, 3))
        }
        b'+' if plus_as_space => Some((b' ', 1)),
        b => Some((b, 1)),
    }
}

/// Percent-decodes `raw` into `buf` (with `+` read as a space when `plus_as_space`) and returns
/// the decoded text.
///
/// `None` when `raw` has an invalid percent-escape, the result is not UTF-8, or it does not fit
/// in `buf`.
pub fn decode_into<'b>(raw: &[u8], plus_as_space: bool, buf: &'b mut [u8]) -> Option<&'b str> {
    let mut i = 0;
    let mut n = 0;
    while i < raw.len() {
        let (b, used) = decode_at(raw, i, plus_as_space)?;
        *buf.get_mut(n)? = b;
        n += 1;
        i += used;
    }
    core::str::from_utf8(&buf[..n]).ok()
}

/// Whether `raw`, decoded, equals `want` (no buffer needed). An invalid escape never matches.
pub(crate) fn decoded_eq(raw: &[u8], plus_as_space: bool, want: &[u8]) -> bool {
    let mut i = 0;
    let mut k = 0;
    while i < raw.len() {
        let Some((b, used)) = decode_at(raw, i, plus_as_space) else {
            return false;
        };
        if want.get(k) != Some(&b) {
            return false;
        }
        k += 1;
        i += used;
    }
    k == want.len()
}

/// One `name=value` pair, both still encoded (borrowed from the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg<'r> {
    /// The name as received.
    pub name: &'r str,
    /// The value as received (`""` for a pair without `=`).
    pub value: &'r str,
}

impl<'r> Arg<'r> {
    /// Whether the decoded name is `name`.
    pub fn is_named(&self, name: &str) -> bool {
        decoded_eq(self.name.as_bytes(), true, name.as_bytes())
    }

    /// The decoded value, written into `buf`; `None` if it is invalid (see the
    /// [module docs](self)) or longer than `buf`.
    pub fn value_into<'b>(&self, buf: &'b mut [u8]) -> Option<&'b str> {
        decode_into(self.value.as_bytes(), true, buf)
    }

    /// The decoded name, written into `buf`; `None` if it is invalid or longer than `buf`.
    pub fn name_into<'b>(&self, buf: &'b mut [u8]) -> Option<&'b str> {
        decode_into(self.name.as_bytes(), true, buf)
    }
}

/// An `application/x-www-form-urlencoded` argument string: a query string or a form body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Args<'r> {
    src: &'r str,
}

/// Iterator over the pairs of an [`Args`].
#[derive(Debug, Clone)]
pub struct ArgsIter<'r> {
    rest: &'r str,
}

impl<'r> Iterator for ArgsIter<'r> {
    type Item = Arg<'r>;

    fn next(&mut self) -> Option<Arg<'r>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (pair, rest) = self.rest.split_once('&').unwrap_or((self.rest, ""));
            self.rest = rest;
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            return Some(Arg { name, value });
        }
    }
}

impl<'r> Args<'r> {
    /// Arguments from an encoded string (`a=1&b=2`, without a leading `?`).
    pub const fn new(src: &'r str) -> Self {
        Args { src }
    }

    /// The request's query arguments.
    pub fn query(req: &Request<'r>) -> Self {
        Args { src: req.query }
    }

    /// The request's form body arguments: empty unless its `Content-Type` is
    /// `application/x-www-form-urlencoded` and the body is ASCII/UTF-8 text.
    pub fn body(req: &Request<'r>) -> Self {
        let form = req.header("Content-Type").is_some_and(|ct| {
            let media = ct.split(|&b| b == b';').next().unwrap_or(ct);
            crate::http::fields::trim_ows(media)
                .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
        });
        if !form {
            return Args::default();
        }
        Args {
            src: core::str::from_utf8(req.body).unwrap_or(""),
        }
    }

    /// The encoded string.
    pub fn as_str(&self) -> &'r str {
        self.src
    }

    /// Every pair, in order.
    pub fn iter(&self) -> ArgsIter<'r> {
        ArgsIter { rest: self.src }
    }

    /// Every pair named `name` (decoded comparison), in order.
    pub fn all<'n>(self, name: &'n str) -> impl Iterator<Item = Arg<'r>> + use<'r, 'n> {
        self.iter().filter(move |a| a.is_named(name))
    }

    /// The last pair named `name`.
    pub fn last(&self, name: &str) -> Option<Arg<'r>> {
        self.all(name).last()
    }

    /// Whether an argument named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.all(name).next().is_some()
    }

    /// The last value of `name`, decoded into `buf`: `Some(default)` when absent, `None` when
    /// the value is invalid (see the [module docs](self)).
    pub fn get<'b>(&self, name: &str, default: &'b str, buf: &'b mut [u8]) -> Option<&'b str> {
        match self.last(name) {
            Some(a) => a.value_into(buf),
            None => Some(default),
        }
    }
}

impl<'r> IntoIterator for Args<'r> {
    type Item = Arg<'r>;
    type IntoIter = ArgsIter<'r>;

    fn into_iter(self) -> ArgsIter<'r> {
        self.iter()
    }
}

/// Tornado's `get_argument`: the last value of `name` among the query arguments then the form
/// body arguments (so a body value wins), decoded into `buf`.
///
/// `Some(default)` when the argument is absent; `None` when it is present but invalid (bad
/// percent-escape, not UTF-8, longer than `buf`): answer 400.
pub fn get_argument<'b>(
    req: &Request<'_>,
    name: &str,
    default: &'b str,
    buf: &'b mut [u8],
) -> Option<&'b str> {
    match Args::body(req)
        .last(name)
        .or_else(|| Args::query(req).last(name))
    {
        Some(a) => a.value_into(buf),
        None => Some(default),
    }
}

/// Tornado's `get_arguments`: every value of `name`, the query's then the body's, still
/// encoded; decode each with [`Arg::value_into`].
pub fn get_arguments<'r, 'n>(
    req: &Request<'r>,
    name: &'n str,
) -> impl Iterator<Item = Arg<'r>> + use<'r, 'n> {
    Args::query(req).all(name).chain(Args::body(req).all(name))
}

/// Tornado's `get_query_argument`: like [`get_argument`] over the query string only.
pub fn get_query_argument<'b>(
    req: &Request<'_>,
    name: &str,
    default: &'b str,
    buf: &'b mut [u8],
) -> Option<&'b str> {
    Args::query(req).get(name, default, buf)
}

/// Tornado's `get_body_argument`: like [`get_argument`] over the urlencoded form body only.
pub fn get_body_argument<'b>(
    req: &Request<'_>,
    name: &str,
    default: &'b str,
    buf: &'b mut [u8],
) -> Option<&'b str> {
    Args::body(req).get(name, default, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_into_percent_and_plus() {
        let mut buf = [0u8; 32];
        assert_eq!(decode_into(b"a%20b+c", true, &mut buf), Some("a b c"));
        assert_eq!(decode_into(b"a%20b+c", false, &mut buf), Some("a b+c"));
        assert_eq!(decode_into(b"caf%C3%A9", true, &mut buf), Some("café"));
        assert_eq!(decode_into(b"", true, &mut buf), Some(""));
    }

    #[test]
    fn decode_into_rejects_bad_escapes_utf8_and_overflow() {
        let mut buf = [0u8; 4];
        for bad in [&b"%zz"[..], b"%4", b"%", b"a%g1", b"%C3"] {
            assert_eq!(decode_into(bad, true, &mut buf), None, "{bad:?}");
        }
        assert_eq!(decode_into(b"abcde", true, &mut buf), None);
        assert_eq!(decode_into(b"abcd", true, &mut buf), Some("abcd"));
    }

    #[test]
    fn decoded_eq_compares_without_buffer() {
        assert!(decoded_eq(b"a%5B%5D", true, b"a[]"));
        assert!(decoded_eq(b"a+b", true, b"a b"));
        assert!(!decoded_eq(b"a+b", false, b"a b"));
        assert!(!decoded_eq(b"ab", true, b"abc"));
        assert!(!decoded_eq(b"abc", true, b"ab"));
        assert!(!decoded_eq(b"%zz", true, b"%zz"));
    }

    #[test]
    fn args_iter_splits_pairs_and_keeps_blank_values() {
        let args = Args::new("a=1&&flag&b=&c=x=y");
        let v: heapless::Vec<Arg<'_>, 8> = args.iter().collect();
        assert_eq!(v.len(), 4);
        assert_eq!(
            v[0],
            Arg {
                name: "a",
                value: "1"
            }
        );
        assert_eq!(
            v[1],
            Arg {
                name: "flag",
                value: ""
            }
        );
        assert_eq!(v[2].value, "");
        assert_eq!(v[3].value, "x=y");
    }

    #[test]
    fn args_get_takes_last_value_and_default() {
        let args = Args::new("a=1&a=2&n%61me=x+y");
        let mut buf = [0u8; 16];
        assert_eq!(args.get("a", "d", &mut buf), Some("2"));
        assert_eq!(args.get("name", "d", &mut buf), Some("x y"));
        assert_eq!(args.get("missing", "d", &mut buf), Some("d"));
        assert_eq!(args.all("a").count(), 2);
        assert!(args.contains("a"));
        assert!(!args.contains("b"));
    }

    #[test]
    fn get_argument_body_wins_and_needs_form_content_type() {
        let form = [crate::http::Header {
            name: "Content-Type",
            value: b"Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        }];
        let req = crate::web::tests::request("/", "a=q&b=1&b=2", &form, b"a=body&c=%41");
        let mut buf = [0u8; 16];
        assert_eq!(get_argument(&req, "a", "d", &mut buf), Some("body"));
        assert_eq!(get_query_argument(&req, "a", "d", &mut buf), Some("q"));
        assert_eq!(get_body_argument(&req, "c", "d", &mut buf), Some("A"));
        assert_eq!(get_body_argument(&req, "b", "d", &mut buf), Some("d"));
        assert_eq!(get_arguments(&req, "a").count(), 2);
        let json = [crate::http::Header {
            name: "Content-Type",
            value: b"application/json",
        }];
        let req = crate::web::tests::request("/", "", &json, b"a=body");
        assert_eq!(get_body_argument(&req, "a", "d", &mut buf), Some("d"));
        assert_eq!(get_argument(&req, "a", "d", &mut buf), Some("d"));
    }

    #[test]
    fn args_get_invalid_value_is_none() {
        let args = Args::new("a=%zz&b=%FF");
        let mut buf = [0u8; 16];
        assert_eq!(args.get("a", "d", &mut buf), None);
        assert_eq!(args.get("b", "d", &mut buf), None);
    }
}
