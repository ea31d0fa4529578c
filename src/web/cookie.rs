//! Cookies (Tornado's `get_cookie`, `set_cookie`, `clear_cookie`), RFC 6265.
//!
//! Reading parses the request's `Cookie` fields in place ([`get_cookie`], [`cookies`]).
//! Writing builds one `Set-Cookie` field on the stack and adds it to the response, after
//! checking every part, so that nothing a caller passes can inject a field or an attribute:
//!
//! | part | allowed |
//! |---|---|
//! | name | an RFC 9110 token |
//! | value | cookie-octets (`%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`), optionally in double quotes |
//! | `Path`, `Domain` | visible ASCII and space without `;` (no CR, LF, NUL or other control byte); `Domain` additionally letters, digits, `-` and `.` only |
//! | `Max-Age` | a number of seconds (`0` expires the cookie) |
//! | `Expires` | seconds since the epoch, written as an IMF-fixdate |
//! | `Secure`, `HttpOnly`, `SameSite` | flags; `SameSite=None` needs `Secure` (browsers drop it otherwise) |
//!
//! A failed check returns a [`CookieError`] and leaves the response unchanged. As in Tornado the
//! default `Path` is `/`.

use core::fmt;

use crate::http::fields::is_token;
use crate::http::itoa::{DEC_U64_LEN, dec_u64};
use crate::http::{IMF_FIXDATE_LEN, imf_fixdate};
use crate::httpserver::{MAX_RESPONSE_HEAD, PREFIX_MAX, Request, Response, ResponseError};

/// Longest `Set-Cookie` field value: all the room a response has for its handler's fields.
pub const MAX_SET_COOKIE: usize = MAX_RESPONSE_HEAD - PREFIX_MAX;

/// Why a cookie was not set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CookieError {
    /// The name is not a token.
    InvalidName,
    /// The value has a byte outside cookie-octets (space, `"`, `,`, `;`, `\`, control, non-ASCII).
    InvalidValue,
    /// The `Path` has `;` or a control byte.
    InvalidPath,
    /// The `Domain` has a byte other than letters, digits, `-` and `.`.
    InvalidDomain,
    /// `SameSite=None` without `Secure`.
    SameSiteNoneNeedsSecure,
    /// The field does not fit in [`MAX_SET_COOKIE`] bytes.
    TooLarge,
    /// The response refused the field (its header room is full).
    Response(ResponseError),
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CookieError::InvalidName => f.write_str("cookie name is not a token"),
            CookieError::InvalidValue => {
                f.write_str("cookie value has a byte outside cookie-octets")
            }
            CookieError::InvalidPath => f.write_str("cookie Path has ';' or a control byte"),
            CookieError::InvalidDomain => f.write_str("cookie Domain is not a host name"),
            CookieError::SameSiteNoneNeedsSecure => f.write_str("SameSite=None needs Secure"),
            CookieError::TooLarge => f.write_str("Set-Cookie field too large"),
            CookieError::Response(e) => write!(f, "response: {e}"),
        }
    }
}

impl core::error::Error for CookieError {}

impl From<ResponseError> for CookieError {
    fn from(e: ResponseError) -> Self {
        CookieError::Response(e)
    }
}

impl From<CookieError> for super::HttpError {
    /// A cookie the handler could not set is the server's fault: `500`.
    fn from(_: CookieError) -> Self {
        super::HttpError::INTERNAL
    }
}

/// The `SameSite` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SameSite {
    /// `SameSite=Strict`
    Strict,
    /// `SameSite=Lax`
    Lax,
    /// `SameSite=None` (requires `Secure`)
    None,
}

/// The attributes of a `Set-Cookie` (Tornado's `set_cookie` keyword arguments). Build with
/// [`CookieAttrs::new`] and the `const` setters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieAttrs<'a> {
    /// `Path` (default `/`; `None` sends none).
    pub path: Option<&'a str>,
    /// `Domain` (default none: host-only).
    pub domain: Option<&'a str>,
    /// `Max-Age`, in seconds.
    pub max_age: Option<u64>,
    /// `Expires`, in seconds since 1970-01-01 UTC.
    pub expires: Option<u64>,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite`.
    pub same_site: Option<SameSite>,
}

impl Default for CookieAttrs<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> CookieAttrs<'a> {
    /// `Path=/` and nothing else: a session cookie for the whole site.
    pub const fn new() -> Self {
        CookieAttrs {
            path: Some("/"),
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        }
    }

    /// Sets `Path` (`None`: no `Path` attribute).
    pub const fn path(mut self, path: Option<&'a str>) -> Self {
        self.path = path;
        self
    }

    /// Sets `Domain`.
    pub const fn domain(mut self, domain: &'a str) -> Self {
        self.domain = Some(domain);
        self
    }

    /// Sets `Max-Age`.
    pub const fn max_age(mut self, secs: u64) -> Self {
        self.max_age = Some(secs);
        self
    }

    /// Sets `Expires` (seconds since the epoch).
    pub const fn expires(mut self, unix_secs: u64) -> Self {
        self.expires = Some(unix_secs);
        self
    }

    /// Sets `Secure`.
    pub const fn secure(mut self) -> Self {
        self.secure = true;
        self
    }

    /// Sets `HttpOnly`.
    pub const fn http_only(mut self) -> Self {
        self.http_only = true;
        self
    }

    /// Sets `SameSite`.
    pub const fn same_site(mut self, s: SameSite) -> Self {
        self.same_site = Some(s);
        self
    }
}

/// Whether `b` is a cookie-octet (RFC 6265 §4.1.1).
const fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Whether `v` is a valid cookie-value: cookie-octets, optionally in double quotes.
pub fn valid_cookie_value(v: &[u8]) -> bool {
    let inner = match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    };
    inner.iter().all(|&b| is_cookie_octet(b))
}

/// Whether `p` is a valid `Path` value: visible ASCII and space, no `;`.
fn valid_path(p: &[u8]) -> bool {
    p.iter().all(|&b| (b' '..=b'~').contains(&b) && b != b';')
}

/// Whether `d` is a valid `Domain` value: a host name (letters, digits, `-`, `.`).
fn valid_domain(d: &[u8]) -> bool {
    !d.is_empty()
        && d.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A `Set-Cookie` value under construction.
struct Line {
    buf: [u8; MAX_SET_COOKIE],
    len: usize,
}

impl Line {
    fn put(&mut self, parts: &[&[u8]]) -> Result<(), CookieError> {
        for p in parts {
            let dst = self
                .buf
                .get_mut(self.len..self.len + p.len())
                .ok_or(CookieError::TooLarge)?;
            dst.copy_from_slice(p);
            self.len += p.len();
        }
        Ok(())
    }
}

/// Tornado's `set_cookie`: adds a `Set-Cookie` field (see the [module docs](self) for the
/// checks). Other cookies set on the same response are kept.
pub fn set_cookie(
    resp: &mut Response<'_>,
    name: &str,
    value: &str,
    attrs: &CookieAttrs<'_>,
) -> Result<(), CookieError> {
    if !is_token(name.as_bytes()) {
        return Err(CookieError::InvalidName);
    }
    if !valid_cookie_value(value.as_bytes()) {
        return Err(CookieError::InvalidValue);
    }
    if attrs.path.is_some_and(|p| !valid_path(p.as_bytes())) {
        return Err(CookieError::InvalidPath);
    }
    if attrs.domain.is_some_and(|d| !valid_domain(d.as_bytes())) {
        return Err(CookieError::InvalidDomain);
    }
    if attrs.same_site == Some(SameSite::None) && !attrs.secure {
        return Err(CookieError::SameSiteNoneNeedsSecure);
    }
    let mut l = Line {
        buf: [0; MAX_SET_COOKIE],
        len: 0,
    };
    l.put(&[name.as_bytes(), b"=", value.as_bytes()])?;
    if let Some(d) = attrs.domain {
        l.put(&[b"; Domain=", d.as_bytes()])?;
    }
    if let Some(secs) = attrs.expires {
        let mut date = [0u8; IMF_FIXDATE_LEN];
        imf_fixdate(secs, &mut date);
        l.put(&[b"; Expires=", &date])?;
    }
    if let Some(secs) = attrs.max_age {
        let mut num = [0u8; DEC_U64_LEN];
        l.put(&[b"; Max-Age=", dec_u64(secs, &mut num)])?;
    }
    if let Some(p) = attrs.path {
        l.put(&[b"; Path=", p.as_bytes()])?;
    }
    if attrs.secure {
        l.put(&[b"; Secure"])?;
    }
    if attrs.http_only {
        l.put(&[b"; HttpOnly"])?;
    }
    match attrs.same_site {
        Some(SameSite::Strict) => l.put(&[b"; SameSite=Strict"])?,
        Some(SameSite::Lax) => l.put(&[b"; SameSite=Lax"])?,
        Some(SameSite::None) => l.put(&[b"; SameSite=None"])?,
        None => {}
    }
    resp.add_header("Set-Cookie", &l.buf[..l.len])?;
    Ok(())
}

/// Tornado's `clear_cookie`: sets `name` to an empty value that has already expired
/// (`Max-Age=0` and an `Expires` in 1970). Pass the same `path` and `domain` the cookie was set
/// with (the other attributes of `attrs` are ignored).
pub fn clear_cookie(
    resp: &mut Response<'_>,
    name: &str,
    attrs: &CookieAttrs<'_>,
) -> Result<(), CookieError> {
    let expired = CookieAttrs {
        path: attrs.path,
        domain: attrs.domain,
        max_age: Some(0),
        expires: Some(0),
        secure: false,
        http_only: false,
        same_site: None,
    };
    set_cookie(resp, name, "", &expired)
}

/// Every `(name, value)` pair of the request's `Cookie` fields, in order; values are unquoted.
/// Pairs that are not `name=value` and fields that are not UTF-8 are skipped.
pub fn cookies<'r>(req: &Request<'r>) -> impl Iterator<Item = (&'r str, &'r str)> + use<'r> {
    req.headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Cookie"))
        .filter_map(|h| core::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let name = name.trim_matches([' ', '\t']);
            let value = value.trim_matches([' ', '\t']);
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (!name.is_empty()).then_some((name, value))
        })
}

/// Tornado's `get_cookie`: the value of the first cookie named `name` (browsers send the one
/// with the most specific `Path` first), unquoted, as sent.
pub fn get_cookie<'r>(req: &Request<'r>, name: &str) -> Option<&'r str> {
    cookies(req).find(|(n, _)| *n == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(attrs: &CookieAttrs<'_>, name: &str, value: &str) -> Result<[u8; 256], CookieError> {
        let mut buf = [0u8; 4096];
        let mut r = Response::new(&mut buf).unwrap();
        set_cookie(&mut r, name, value, attrs)?;
        let mut out = [0u8; 256];
        let v = r.header("Set-Cookie").unwrap();
        out[..v.len()].copy_from_slice(v);
        Ok(out)
    }

    fn text(b: &[u8; 256]) -> &str {
        core::str::from_utf8(b).unwrap().trim_end_matches('\0')
    }

    #[test]
    fn set_cookie_default_path() {
        let f = field(&CookieAttrs::new(), "sid", "abc").unwrap();
        assert_eq!(text(&f), "sid=abc; Path=/");
    }

    #[test]
    fn set_cookie_all_attributes() {
        let a = CookieAttrs::new()
            .path(Some("/app"))
            .domain("example.com")
            .max_age(3600)
            .expires(784_111_777)
            .secure()
            .http_only()
            .same_site(SameSite::Strict);
        let f = field(&a, "sid", "\"q\"").unwrap();
        assert_eq!(
            text(&f),
            "sid=\"q\"; Domain=example.com; Expires=Sun, 06 Nov 1994 08:49:37 GMT; \
             Max-Age=3600; Path=/app; Secure; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn set_cookie_rejects_injection() {
        let a = CookieAttrs::new();
        for bad in ["a b", "a;b", "a\r\nX: y", "", "a=b", "a\0"] {
            assert_eq!(field(&a, bad, "v").err(), Some(CookieError::InvalidName));
        }
        for bad in [
            "a b",
            "a;b",
            "a\r\nX: y",
            "a,b",
            "a\\b",
            "\u{e9}",
            "a\"b",
            "a\0",
        ] {
            assert_eq!(field(&a, "n", bad).err(), Some(CookieError::InvalidValue));
        }
        for bad in ["/a;b", "/a\r\nX: y", "/a\0", "/\u{e9}", "/a\x7f"] {
            let a = CookieAttrs::new().path(Some(bad));
            assert_eq!(field(&a, "n", "v").err(), Some(CookieError::InvalidPath));
        }
        for bad in ["a;b", "a b", "a\r\n", "", "a/b"] {
            let a = CookieAttrs::new().domain(bad);
            assert_eq!(field(&a, "n", "v").err(), Some(CookieError::InvalidDomain));
        }
        let a = CookieAttrs::new().same_site(SameSite::None);
        assert_eq!(
            field(&a, "n", "v").err(),
            Some(CookieError::SameSiteNoneNeedsSecure)
        );
    }

    #[test]
    fn set_cookie_too_large() {
        let big = [b'a'; MAX_SET_COOKIE];
        let big = core::str::from_utf8(&big).unwrap();
        assert_eq!(
            field(&CookieAttrs::new(), "n", big).err(),
            Some(CookieError::TooLarge)
        );
    }

    #[test]
    fn clear_cookie_expires_now() {
        let mut buf = [0u8; 4096];
        let mut r = Response::new(&mut buf).unwrap();
        clear_cookie(&mut r, "sid", &CookieAttrs::new()).unwrap();
        assert_eq!(
            r.header("Set-Cookie"),
            Some(&b"sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"[..])
        );
    }

    #[test]
    fn get_cookie_parses_every_cookie_field() {
        let headers = [
            crate::http::Header {
                name: "Cookie",
                value: b"a=1; b=\"two\"; junk; c = 3;;",
            },
            crate::http::Header {
                name: "cookie",
                value: b"a=late; d=4",
            },
        ];
        let req = crate::web::tests::request("/", "", &headers, b"");
        assert_eq!(get_cookie(&req, "a"), Some("1"));
        assert_eq!(get_cookie(&req, "b"), Some("two"));
        assert_eq!(get_cookie(&req, "c"), Some("3"));
        assert_eq!(get_cookie(&req, "d"), Some("4"));
        assert_eq!(get_cookie(&req, "junk"), None);
        assert_eq!(get_cookie(&req, "A"), None);
        assert_eq!(cookies(&req).count(), 5);
    }

    #[test]
    fn valid_cookie_value_quotes_and_octets() {
        assert!(valid_cookie_value(b""));
        assert!(valid_cookie_value(b"\"\""));
        assert!(valid_cookie_value(b"abc!#$%&'()*+-./:<=>?@[]^_`{|}~"));
        assert!(!valid_cookie_value(b"\"abc"));
        assert!(!valid_cookie_value(b"a b"));
    }
}
