//! Static assets compiled into the firmware (Tornado's `StaticFileHandler`).
//!
//! The `edgeloop-build` crate turns a folder into a table of [`StaticAsset`]s in the firmware's
//! `build.rs` (path, content type, strong `ETag`, the bytes and a gzip copy, all in rodata);
//! [`StaticFiles::serve`] answers a request from it. Bodies are never copied: they leave with
//! [`Response::write_static`] (one `sendmsg` with the head), a sub-slice for a range.
//!
//! What `serve` does, in order:
//!
//! 1. Methods other than `GET` and `HEAD` get `405` with `Allow: GET, HEAD`.
//! 2. The path is percent-decoded and checked: a `..` or `.` segment, an empty segment, an
//!    encoded slash or backslash (`%2F`, `%5C`), a backslash, a NUL or any control byte, an
//!    invalid escape or a path longer than [`MAX_STATIC_PATH`] never matches: `404`. Lookup is
//!    an exact match in the table, so nothing outside it can ever be served. A path that is
//!    empty or ends in `/` maps to the index file when one is set ([`StaticFiles::with_index`]).
//! 3. The representation: the gzip copy when the asset has one, `Accept-Encoding` allows gzip
//!    (q-values parsed: `gzip;q=0` refuses it, `*` counts when gzip is not named) and the
//!    request has no `Range`; else the file itself. Assets with a gzip copy always carry
//!    `Vary: Accept-Encoding`; the copy has its own strong `ETag` (`"<hash>-gz"`).
//!    `identity;q=0` is not honoured (the file is sent anyway).
//! 4. `If-None-Match` (weak comparison, `*` included) matching the chosen representation:
//!    `304` with `ETag`, `Cache-Control` and `Vary`, no body.
//! 5. `Range` (`GET` only, on the identity representation): one range `bytes=a-b`, `a-` or `-n`
//!    → `206` with `Content-Range` (also for a range that covers the whole file, as nginx and
//!    Apache do); unsatisfiable → `416` with `Content-Range: bytes */len`.
//!    Several ranges are answered with the whole file (`200`): multipart bodies are not
//!    worth their code on a device. A malformed `Range` or another unit is ignored (`200`).
//!    `If-Range` must be the identity `ETag`, compared strongly, or the whole file is sent
//!    (dates never match: assets have no `Last-Modified`).
//! 6. `200` with `Content-Type`, `ETag`, `Cache-Control`, `Accept-Ranges: bytes` (identity
//!    only) and `Content-Encoding: gzip` for the copy. `HEAD` gets the same head, no body
//!    (the server drops it and keeps `Content-Length`).
//!
//! `Cache-Control` follows a [`CachePolicy`]: by default `no-cache` (always revalidate: cheap
//! with the `ETag`, and a firmware update never leaves a browser with stale scripts) except for
//! assets whose name carries a content hash (`app.3f9a1c2b.js`) or requests whose `v` query
//! argument equals the asset's [`version`](StaticAsset::version) (Tornado's `static_url`),
//! which are `max-age=31536000, immutable`. `Last-Modified` is not sent (no build
//! time is recorded: the `ETag` is the validator).
//!
//! As a route of an [`Application`](super::Application) (the asset is the route's tail
//! capture; an unknown one gets the application's `404` page). The table is normally
//! `include!(concat!(env!("OUT_DIR"), "/assets.rs"))`, written by `edgeloop-build`; here it is
//! spelled out:
//!
//! ```no_run
//! # use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
//! # use edgeloop::ioloop::IoLoop;
//! use edgeloop::web::static_files::{StaticAsset, StaticFiles};
//! use edgeloop::web::{Application, Route};
//! # struct App { http: HttpServer<App> }
//! # impl HttpApp for App {
//! #     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//! #     fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
//! #         WEB.dispatch(self, lp, req, resp);
//! #     }
//! # }
//!
//! pub static ASSETS: &[StaticAsset] = &[StaticAsset {
//!     path: "index.html",
//!     content_type: "text/html; charset=utf-8",
//!     etag: "\"51fdb4833b8c6aee3311\"",
//!     gzip_etag: "",
//!     body: b"<!doctype html><title>device</title>",
//!     gzip: None,
//!     immutable: false,
//! }];
//! static FILES: StaticFiles = StaticFiles::new(ASSETS).with_index("index.html");
//! static ROUTES: [Route<App>; 1] = [Route::new("/static/{*path}", &FILES)];
//! static WEB: Application<App> = Application::new(&ROUTES);
//! ```
//!
//! or straight from [`HttpApp::on_request`]:
//!
//! ```ignore
//! if let Some(path) = req.path.strip_prefix("/static/") {
//!     FILES.serve(req, resp, path); // 404 / 405 answered here
//! }
//! ```

use core::fmt::Write as _;

use crate::config::parse_or;
use crate::http::Method;
use crate::http::fields::trim_ows;
use crate::httpserver::{HttpApp, Request, Response};
use crate::ioloop::IoLoop;

mod headers;

pub(crate) use headers::accepts_gzip;
use headers::{ByteRange, decode_path, parse_range, query_arg};

use super::handler::{HandlerResult, HttpError, Methods, RequestHandler, WebRequest};

/// Longest decoded asset path [`StaticFiles::serve`] looks up (decoded on the stack); longer
/// paths are `404`.
///
/// Default 256. Set with `EDGELOOP_MAX_STATIC_PATH`.
pub const MAX_STATIC_PATH: usize = parse_or(option_env!("EDGELOOP_MAX_STATIC_PATH"), 256);

/// One compiled-in file, as generated by `edgeloop-build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticAsset {
    /// Path relative to the asset folder, `/`-separated, no leading `/` (`css/app.css`).
    pub path: &'static str,
    /// The `Content-Type` value.
    pub content_type: &'static str,
    /// The strong `ETag` of [`body`](Self::body), quoted.
    pub etag: &'static str,
    /// The strong `ETag` of [`gzip`](Self::gzip), quoted (empty without a copy).
    pub gzip_etag: &'static str,
    /// The file.
    pub body: &'static [u8],
    /// Its gzip copy, when compressible and smaller.
    pub gzip: Option<&'static [u8]>,
    /// The name carries a content hash: cached as immutable.
    pub immutable: bool,
}

impl StaticAsset {
    /// The content hash (the `ETag` without its quotes), for versioned URLs:
    /// `/static/app.js?v=<version>` is cached as immutable.
    pub fn version(&self) -> &'static str {
        self.etag.trim_matches('"')
    }

    /// Whether the asset is an HTML document.
    pub fn is_html(&self) -> bool {
        self.content_type.starts_with("text/html")
    }
}

/// The `Cache-Control` values [`StaticFiles`] sends (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// For HTML documents. Default `no-cache`.
    pub html: &'static str,
    /// For hashed names and matching `?v=` requests. Default
    /// `max-age=31536000, immutable`.
    pub immutable: &'static str,
    /// For everything else. Default `no-cache`.
    pub other: &'static str,
}

impl CachePolicy {
    /// The default policy.
    pub const DEFAULT: CachePolicy = CachePolicy {
        html: "no-cache",
        immutable: "max-age=31536000, immutable",
        other: "no-cache",
    };
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A table of compiled-in assets and how to serve them. `const`, to live in a `static`.
#[derive(Debug, Clone, Copy)]
pub struct StaticFiles {
    assets: &'static [StaticAsset],
    sorted: bool,
    cache: CachePolicy,
    index: Option<&'static str>,
}

impl StaticFiles {
    /// A table over `assets` (looked up by binary search when sorted by path, as
    /// `edgeloop-build` emits them; by a linear scan otherwise).
    pub const fn new(assets: &'static [StaticAsset]) -> Self {
        let mut sorted = true;
        let mut i = 1;
        while i < assets.len() {
            if !bytes_lt(assets[i - 1].path.as_bytes(), assets[i].path.as_bytes()) {
                sorted = false;
            }
            i += 1;
        }
        StaticFiles {
            assets,
            sorted,
            cache: CachePolicy::DEFAULT,
            index: None,
        }
    }

    /// Uses `policy` for `Cache-Control`.
    pub const fn with_cache(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// Serves `name` (e.g. `index.html`) for a path that is empty or ends in `/`.
    pub const fn with_index(mut self, name: &'static str) -> Self {
        self.index = Some(name);
        self
    }

    /// The assets.
    pub fn assets(&self) -> &'static [StaticAsset] {
        self.assets
    }

    /// The asset at exactly `path` (already decoded, no leading `/`).
    pub fn get(&self, path: &[u8]) -> Option<&'static StaticAsset> {
        let assets = self.assets;
        if self.sorted {
            let i = assets
                .binary_search_by(|a| a.path.as_bytes().cmp(path))
                .ok()?;
            assets.get(i)
        } else {
            assets.iter().find(|a| a.path.as_bytes() == path)
        }
    }

    /// The asset a request path names: `raw` is relative to the mount point (no leading `/`:
    /// for a mount at the root, pass `req.path` without its first `/`), percent-decoded and
    /// checked as the [module docs](self) say; the index file for a folder.
    pub fn lookup(&self, raw: &str) -> Option<&'static StaticAsset> {
        let mut buf = [0u8; MAX_STATIC_PATH];
        let mut n = decode_path(raw.as_bytes(), &mut buf)?;
        if n == 0 || buf[n - 1] == b'/' {
            let index = self.index?.as_bytes();
            buf.get_mut(n..n + index.len())?.copy_from_slice(index);
            n += index.len();
        }
        let path = &buf[..n];
        if path
            .split(|&b| b == b'/')
            .any(|s| s.is_empty() || s == b"." || s == b"..")
        {
            return None;
        }
        self.get(path)
    }

    /// Answers `req` with the asset at `path` (the part of the URL after the mount point); see
    /// the [module docs](self). Returns the status code sent.
    pub fn serve(&self, req: &Request<'_>, resp: &mut Response<'_>, path: &str) -> u16 {
        if !matches!(req.method, Method::Get | Method::Head) {
            let _ = resp.set_header("Allow", b"GET, HEAD");
            return error(resp, 405, b"405 Method Not Allowed\n");
        }
        let Some(asset) = self.lookup(path) else {
            return error(resp, 404, b"404 Not Found\n");
        };
        self.serve_asset(req, resp, asset)
    }

    /// Answers `req` with `asset` (steps 3 to 6 of the [module docs](self)).
    pub fn serve_asset(
        &self,
        req: &Request<'_>,
        resp: &mut Response<'_>,
        asset: &'static StaticAsset,
    ) -> u16 {
        let range = if req.method == Method::Get {
            req.header("Range")
        } else {
            None
        };
        let gzip = match asset.gzip {
            Some(gz) if range.is_none() && accepts_gzip(req) => Some(gz),
            _ => None,
        };
        let (body, etag) = match gzip {
            Some(gz) => (gz, asset.gzip_etag),
            None => (asset.body, asset.etag),
        };
        let versioned = query_arg(req.query, "v") == Some(asset.version().as_bytes());
        let cache = if asset.immutable || versioned {
            self.cache.immutable
        } else if asset.is_html() {
            self.cache.html
        } else {
            self.cache.other
        };
        let _ = resp.set_header("ETag", etag.as_bytes());
        let _ = resp.set_header("Cache-Control", cache.as_bytes());
        if asset.gzip.is_some() {
            let _ = resp.set_header("Vary", b"Accept-Encoding");
        }
        if super::etag::request_matches(req, etag.as_bytes()) {
            let _ = resp.set_status(304);
            return 304;
        }
        let _ = resp.set_header("Content-Type", asset.content_type.as_bytes());
        if gzip.is_some() {
            let _ = resp.set_header("Content-Encoding", b"gzip");
        } else {
            let _ = resp.set_header("Accept-Ranges", b"bytes");
        }
        // If-Range: one strong entity tag, compared strongly (a weak tag never matches).
        let if_range_ok = req
            .header("If-Range")
            .is_none_or(|v| trim_ows(v) == etag.as_bytes());
        let len = body.len() as u64;
        let mut status = 200;
        let mut part = body;
        match range.filter(|_| if_range_ok).map(|r| parse_range(r, len)) {
            Some(ByteRange::Part(first, last)) => {
                status = 206;
                // parse_range guarantees first <= last < len.
                part = body.get(first as usize..=last as usize).unwrap_or(body);
                let mut v = Field::new();
                let _ = write!(v, "bytes {first}-{last}/{len}");
                let _ = resp.set_header("Content-Range", v.as_bytes());
            }
            Some(ByteRange::Unsatisfiable) => {
                let mut v = Field::new();
                let _ = write!(v, "bytes */{len}");
                let _ = resp.set_header("Content-Range", v.as_bytes());
                return error(resp, 416, b"416 Range Not Satisfiable\n");
            }
            Some(ByteRange::Whole) | None => {}
        }
        let _ = resp.set_status(status);
        if resp.write_static(part).is_err() {
            return 500;
        }
        status
    }
}

/// A route handler (Tornado's `(r"/static/(.*)", StaticFileHandler)`):
/// `Route::new("/static/{*path}", &FILES)` serves the asset named by the route's last capture
/// (for a route without captures, by the request path without its first `/`). `GET` and
/// `HEAD`; an unknown asset is the application's `404` page.
impl<A: HttpApp> RequestHandler<A> for StaticFiles {
    fn allowed(&self) -> Methods {
        Methods::GET
    }

    fn get(
        &self,
        _: &mut A,
        _: &mut IoLoop<A>,
        req: &WebRequest<'_, '_>,
        resp: &mut Response<'_>,
    ) -> HandlerResult {
        let last = req.path_args.len().checked_sub(1);
        let path = match last.and_then(|i| req.path_args.at(i)) {
            Some(p) => p,
            None => req.path.strip_prefix('/').unwrap_or(req.path),
        };
        let asset = self.lookup(path).ok_or(HttpError::NOT_FOUND)?;
        self.serve_asset(req.req, resp, asset);
        Ok(())
    }
}

/// A `Content-Range` value: three `u64`s and a little text.
type Field = heapless::String<64>;

/// A short plain-text error answer.
fn error(resp: &mut Response<'_>, status: u16, body: &'static [u8]) -> u16 {
    let _ = resp.set_status(status);
    resp.clear_body();
    let _ = resp.set_header("Content-Type", b"text/plain; charset=utf-8");
    let _ = resp.write_static(body);
    status
}

const fn bytes_lt(a: &[u8], b: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: StaticAsset = StaticAsset {
        path: "a.txt",
        content_type: "text/plain",
        etag: "\"e1\"",
        gzip_etag: "",
        body: b"0123456789",
        gzip: None,
        immutable: false,
    };
    static TABLE: [StaticAsset; 3] = [
        StaticAsset { path: "a.txt", ..A },
        StaticAsset {
            path: "d/index.html",
            ..A
        },
        StaticAsset {
            path: "index.html",
            ..A
        },
    ];

    #[test]
    fn test_lookup_exact_index_and_traversal() {
        let f = StaticFiles::new(&TABLE).with_index("index.html");
        assert!(f.sorted);
        assert_eq!(f.lookup("a.txt").map(|a| a.path), Some("a.txt"));
        assert_eq!(f.lookup("/a.txt"), None, "an empty first segment");
        assert_eq!(f.lookup("%61.txt").map(|a| a.path), Some("a.txt"));
        assert_eq!(f.lookup("").map(|a| a.path), Some("index.html"));
        assert_eq!(f.lookup("d/").map(|a| a.path), Some("d/index.html"));
        for bad in [
            "d/../a.txt",
            "./a.txt",
            "d//index.html",
            "%2e%2e/a.txt",
            "d%2Findex.html",
        ] {
            assert_eq!(f.lookup(bad), None, "{bad}");
        }
        let unsorted: &'static [StaticAsset] = &[StaticAsset { path: "z", ..A }, A];
        let u = StaticFiles::new(unsorted);
        assert!(!u.sorted);
        assert_eq!(u.lookup("a.txt").map(|a| a.path), Some("a.txt"));
        assert_eq!(StaticFiles::new(&TABLE).lookup(""), None, "no index set");
    }

    #[test]
    fn test_version() {
        assert_eq!(A.version(), "e1");
    }
}
