//! URL patterns and their matching (Tornado's `URLSpec` and `path_args`), without regexes.
//!
//! A pattern is a path made of `/`-separated segments, each one of:
//!
//! | segment | matches |
//! |---|---|
//! | `ifaces` (literal) | exactly these bytes of the raw (still percent-encoded) path segment |
//! | `{name}` (capture) | one non-empty segment (no `/`) |
//! | `{*name}` (tail wildcard, last segment only) | the rest of the path, possibly empty, `/`s included |
//!
//! `/api/ifaces/{name}` matches `/api/ifaces/eth0` with `name = "eth0"`;
//! `/static/{*path}` matches `/static/css/site.css` with `path = "css/site.css"` and
//! `/static/` with `path = ""` (but not `/static`). Trailing slashes are significant: `/api`
//! and `/api/` are different paths. The query string is not part of the match.
//!
//! **The match rule** is Tornado's: the routes are tried in table order and the **first** that
//! matches wins. Put specific routes (`/api/ifaces/all`) before general ones
//! (`/api/ifaces/{name}`).
//!
//! **Captures are raw slices** of the request path ([`Captures::get`]); decode one into caller
//! storage with [`Captures::get_into`]. A route whose capture would be unsafe to hand to a
//! handler does not match (the request then falls through to the next route, and to 404): a
//! capture never contains an invalid percent-escape, a NUL byte (raw or `%00`), an encoded
//! slash (`%2F`), or a `.` / `..` segment (raw or encoded as `%2E`).
//!
//! Patterns are checked when the route is built; in a `static` or `const` table that is at
//! compile time, so a malformed pattern (or one with more than [`MAX_CAPTURES`] captures)
//! fails the build:
//!
//! ```compile_fail
//! # use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
//! # use edgeloop::ioloop::IoLoop;
//! # use edgeloop::web::{Methods, RequestHandler, Route};
//! # struct App { http: HttpServer<App> }
//! # impl HttpApp for App {
//! #     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//! #     fn on_request(&mut self, _: &mut IoLoop<App>, _: &Request<'_>, _: &mut Response<'_>) {}
//! # }
//! # struct H;
//! # impl RequestHandler<App> for H { fn allowed(&self) -> Methods { Methods::GET } }
//! static ROUTES: [Route<App>; 1] = [Route::new("/api/{name", &H)]; // error: unclosed capture
//! ```

use crate::config::parse_or;
use crate::httpserver::HttpApp;

use super::args::{decode_at, decode_into};
use super::handler::RequestHandler;

/// Most captures (`{name}` and `{*name}`) in one pattern.
///
/// Default 4. Set with `EDGELOOP_WEB_MAX_CAPTURES`. Cost: two `&str` (16 bytes on 32-bit ARM,
/// 32 on 64-bit) per capture in each [`WebRequest`](super::WebRequest), on the stack.
pub const MAX_CAPTURES: usize = parse_or(option_env!("EDGELOOP_WEB_MAX_CAPTURES"), 4);

/// One entry of a route table: a pattern and the handler that serves it (Tornado's
/// `(r"/path", Handler)`).
pub struct Route<A: HttpApp> {
    pattern: &'static str,
    handler: &'static dyn RequestHandler<A>,
}

impl<A: HttpApp> core::fmt::Debug for Route<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Route")
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

impl<A: HttpApp> Route<A> {
    /// A route. Use it in a `static` or `const` route table so the pattern is checked at
    /// compile time.
    ///
    /// # Panics
    ///
    /// If `pattern` is malformed (see [`check_pattern`]): at compile time in a `static`.
    pub const fn new(pattern: &'static str, handler: &'static dyn RequestHandler<A>) -> Self {
        if let Err(why) = check_pattern(pattern) {
            panic!("{}", why);
        }
        Route { pattern, handler }
    }

    /// The pattern.
    pub const fn pattern(&self) -> &'static str {
        self.pattern
    }

    /// The handler.
    pub fn handler(&self) -> &'static dyn RequestHandler<A> {
        self.handler
    }

    /// Matches `path` (without the query), filling `caps` on success.
    pub fn matches<'r>(&self, path: &'r str, caps: &mut Captures<'r>) -> bool {
        match_path(self.pattern, path, caps)
    }
}

/// Checks a pattern: it starts with `/`; a `{name}` or `{*name}` capture is a whole segment
/// whose name is non-empty `[A-Za-z0-9_]` and unique in the pattern; `{*name}` only as the last
/// segment; at most [`MAX_CAPTURES`] captures; literal segments are not `.` or `..` and hold no
/// `{`, `}`, `?`, `#`, `%`, space or control byte.
pub const fn check_pattern(pattern: &str) -> Result<usize, &'static str> {
    let p = pattern.as_bytes();
    if p.is_empty() || p[0] != b'/' {
        return Err("route pattern must start with '/'");
    }
    let mut captures = 0;
    let mut i = 1;
    loop {
        // One segment: p[i..end].
        let mut end = i;
        while end < p.len() && p[end] != b'/' {
            end += 1;
        }
        if end > i && p[i] == b'{' {
            if p[end - 1] != b'}' {
                return Err("a capture must be a whole segment: {name}");
            }
            let tail = end - i > 2 && p[i + 1] == b'*';
            let name_at = if tail { i + 2 } else { i + 1 };
            if name_at >= end - 1 {
                return Err("capture name is empty");
            }
            let mut k = name_at;
            while k < end - 1 {
                if !(p[k].is_ascii_alphanumeric() || p[k] == b'_') {
                    return Err("capture name must be [A-Za-z0-9_]");
                }
                k += 1;
            }
            if tail && end != p.len() {
                return Err("{*name} must be the last segment");
            }
            if name_seen(p, name_at, end - 1, i) {
                return Err("capture name used twice");
            }
            captures += 1;
            if captures > MAX_CAPTURES {
                return Err("too many captures (raise EDGELOOP_WEB_MAX_CAPTURES)");
            }
        } else {
            let len = end - i;
            if (len == 1 && p[i] == b'.') || (len == 2 && p[i] == b'.' && p[i + 1] == b'.') {
                return Err("'.' and '..' segments never match");
            }
            let mut k = i;
            while k < end {
                let b = p[k];
                if b <= b' ' || b >= 0x7f || matches!(b, b'{' | b'}' | b'?' | b'#' | b'%') {
                    return Err("invalid byte in a literal segment");
                }
                k += 1;
            }
        }
        if end == p.len() {
            return Ok(captures);
        }
        i = end + 1;
    }
}

/// Whether the capture name `p[from..to]` already appears as a capture before `before`.
const fn name_seen(p: &[u8], from: usize, to: usize, before: usize) -> bool {
    let len = to - from;
    let mut i = 0;
    while i < before {
        if p[i] == b'{' {
            let at = if i + 1 < before && p[i + 1] == b'*' {
                i + 2
            } else {
                i + 1
            };
            let mut k = 0;
            while k < len && at + k < before && p[at + k] == p[from + k] {
                k += 1;
            }
            if k == len && at + len < before && p[at + len] == b'}' {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// Tornado's `path_args` / `path_kwargs`: the named captures of the matched route, as raw
/// slices of the request path.
#[derive(Debug, Clone, Copy)]
pub struct Captures<'r> {
    names: [&'static str; MAX_CAPTURES],
    values: [&'r str; MAX_CAPTURES],
    len: usize,
}

impl Default for Captures<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'r> Captures<'r> {
    /// No captures.
    pub const fn new() -> Self {
        Captures {
            names: [""; MAX_CAPTURES],
            values: [""; MAX_CAPTURES],
            len: 0,
        }
    }

    /// How many captures there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The raw (still percent-encoded) value of capture `name`.
    pub fn get(&self, name: &str) -> Option<&'r str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Capture `name` percent-decoded into `buf` (`+` stays `+`: this is a path). `None` if
    /// there is no such capture, or the decoded value is not UTF-8 or longer than `buf`.
    pub fn get_into<'b>(&self, name: &str, buf: &'b mut [u8]) -> Option<&'b str> {
        decode_into(self.get(name)?.as_bytes(), false, buf)
    }

    /// The raw value of the `i`-th capture (Tornado's positional `path_args`).
    pub fn at(&self, i: usize) -> Option<&'r str> {
        self.values[..self.len].get(i).copied()
    }

    /// `(name, raw value)` of every capture, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'r str)> + '_ {
        self.names[..self.len]
            .iter()
            .copied()
            .zip(self.values[..self.len].iter().copied())
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, name: &'static str, value: &'r str) -> bool {
        if self.len == MAX_CAPTURES {
            return false;
        }
        self.names[self.len] = name;
        self.values[self.len] = value;
        self.len += 1;
        true
    }
}

/// Whether a raw capture is safe: valid escapes, no NUL, no encoded `/`, no `.`/`..` segment.
/// `tail` captures may contain raw `/` (each segment is then checked); others are non-empty.
fn capture_ok(raw: &[u8], tail: bool) -> bool {
    if !tail && raw.is_empty() {
        return false;
    }
    let mut i = 0;
    // Decoded length of the current segment and whether it is all dots so far.
    let mut seg_len = 0;
    let mut all_dots = true;
    while i <= raw.len() {
        if i == raw.len() || raw[i] == b'/' {
            if seg_len > 0 && seg_len <= 2 && all_dots {
                return false;
            }
            seg_len = 0;
            all_dots = true;
            i += 1;
            continue;
        }
        let Some((b, used)) = decode_at(raw, i, false) else {
            return false;
        };
        if b == 0 || (b == b'/' && used == 3) {
            return false;
        }
        seg_len += 1;
        all_dots &= b == b'.';
        i += used;
    }
    true
}

/// Matches `path` against `pattern` (see the [module docs](self)). On success `caps` holds the
/// captures; on failure its contents are unspecified.
pub fn match_path<'r>(pattern: &'static str, path: &'r str, caps: &mut Captures<'r>) -> bool {
    caps.clear();
    let p = pattern.as_bytes();
    let s = path.as_bytes();
    if s.first() != Some(&b'/') || p.first() != Some(&b'/') {
        return false;
    }
    // i, j: start of the current segment (just after a '/') in the pattern and the path.
    let (mut i, mut j) = (1, 1);
    loop {
        let pe = p[i..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(p.len(), |n| i + n);
        let seg = &p[i..pe];
        // Every bound below sits next to an ASCII `/`, `{` or `}` or at an end, so `get` never
        // fails on a char boundary; it is used because it cannot panic (no formatting code).
        if let [b'{', b'*', .., b'}'] = seg {
            let (Some(value), Some(name)) = (path.get(j..), pattern.get(i + 2..pe - 1)) else {
                return false;
            };
            return capture_ok(value.as_bytes(), true) && caps.push(name, value);
        }
        if j > s.len() {
            return false;
        }
        let se = s[j..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(s.len(), |n| j + n);
        if let [b'{', .., b'}'] = seg {
            let (Some(value), Some(name)) = (path.get(j..se), pattern.get(i + 1..pe - 1)) else {
                return false;
            };
            if !capture_ok(value.as_bytes(), false) || !caps.push(name, value) {
                return false;
            }
        } else if seg != &s[j..se] {
            return false;
        }
        match (pe == p.len(), se == s.len()) {
            (true, true) => return true,
            (false, false) => {
                i = pe + 1;
                j = se + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'r>(pattern: &'static str, path: &'r str) -> Option<Captures<'r>> {
        let mut c = Captures::new();
        match_path(pattern, path, &mut c).then_some(c)
    }

    #[test]
    fn match_path_literals_exact() {
        assert!(m("/", "/").is_some());
        assert!(m("/api/status", "/api/status").is_some());
        assert!(m("/api/status", "/api/status/").is_none());
        assert!(m("/api/status/", "/api/status").is_none());
        assert!(m("/api", "/api/status").is_none());
        assert!(m("/api/status", "/api").is_none());
        assert!(m("/", "*").is_none());
        assert!(m("/a", "/A").is_none());
    }

    #[test]
    fn match_path_named_capture() {
        let c = m("/api/ifaces/{name}", "/api/ifaces/eth0").unwrap();
        assert_eq!(c.get("name"), Some("eth0"));
        assert_eq!(c.at(0), Some("eth0"));
        assert_eq!(c.len(), 1);
        assert!(m("/api/ifaces/{name}", "/api/ifaces/").is_none());
        assert!(m("/api/ifaces/{name}", "/api/ifaces/a/b").is_none());
        let c = m("/a/{x}/b/{y}", "/a/1/b/2").unwrap();
        assert_eq!((c.get("x"), c.get("y")), (Some("1"), Some("2")));
    }

    #[test]
    fn match_path_tail_wildcard() {
        let c = m("/static/{*path}", "/static/css/site.css").unwrap();
        assert_eq!(c.get("path"), Some("css/site.css"));
        assert_eq!(
            m("/static/{*path}", "/static/").unwrap().get("path"),
            Some("")
        );
        assert!(m("/static/{*path}", "/static").is_none());
        assert!(m("/static/{*path}", "/other/x").is_none());
        assert_eq!(m("/{*all}", "/x/y").unwrap().get("all"), Some("x/y"));
    }

    #[test]
    fn match_path_rejects_unsafe_captures() {
        for bad in [
            "/f/..",
            "/f/.",
            "/f/%2e%2E",
            "/f/.%2e",
            "/f/a%2Fb",
            "/f/a%2fb",
            "/f/a%00",
            "/f/%zz",
            "/f/%4",
        ] {
            assert!(m("/f/{x}", bad).is_none(), "{bad}");
        }
        for bad in [
            "/s/../etc/passwd",
            "/s/a/../../x",
            "/s/a/%2e%2e/x",
            "/s/a%2Fb",
            "/s/a/%00",
            "/s/a/.",
        ] {
            assert!(m("/s/{*p}", bad).is_none(), "{bad}");
        }
        assert!(m("/s/{*p}", "/s/a..b/...x/.hidden").is_some());
        assert!(m("/f/{x}", "/f/..a").is_some());
    }

    #[test]
    fn captures_get_into_decodes() {
        let c = m("/f/{x}", "/f/caf%C3%A9+1%20").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(c.get_into("x", &mut buf), Some("café+1 "));
        assert_eq!(c.get_into("y", &mut buf), None);
        let mut tiny = [0u8; 2];
        assert_eq!(c.get_into("x", &mut tiny), None);
        // Valid escapes, but not UTF-8.
        let c = m("/f/{x}", "/f/%FF").unwrap();
        assert_eq!(c.get_into("x", &mut buf), None);
    }

    #[test]
    fn check_pattern_accepts_and_counts() {
        assert_eq!(check_pattern("/"), Ok(0));
        assert_eq!(check_pattern("/a/{b}/c/{*d}"), Ok(2));
        assert_eq!(check_pattern("/a/{b_1}"), Ok(1));
    }

    #[test]
    fn check_pattern_rejects_malformed() {
        for bad in [
            "",
            "a",
            "/a/{b",
            "/a/x{b}",
            "/a/{}",
            "/a/{*}",
            "/a/{*b}/c",
            "/a/{b-c}",
            "/a/{b}/{b}",
            "/a/{b}/{*b}",
            "/a/..",
            "/./a",
            "/a b",
            "/a?b",
            "/a%20",
            "/{a}/{b}/{c}/{d}/{e}",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }
}
