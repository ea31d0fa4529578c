//! The application (Tornado's `tornado.web.Application`): a static route table and the
//! dispatch of each request to its handler, plus the default error page and redirects.
//!
//! [`Application::dispatch`] does, in order:
//!
//! 1. find the first route whose pattern matches the path (see [`route`](super::route)); none
//!    → the default handler if one is set, else `404` ([`send_error`]);
//! 2. `OPTIONS` → the handler's [`options`](RequestHandler::options) (default `204` + `Allow`);
//!    a method not in [`allowed`](RequestHandler::allowed) → `405` with `Allow`, without
//!    calling the handler; `HEAD` → [`get`](RequestHandler::get) (the server drops the body and
//!    keeps its `Content-Length`);
//! 3. [`prepare`](RequestHandler::prepare), the method, then
//!    [`on_finish`](RequestHandler::on_finish); an `Err(HttpError)` from `prepare` or the method
//!    becomes the error page of its status;
//! 4. the automatic `ETag` / `304` ([`etag`]), for `GET` and `HEAD`.
//!
//! On the hot path nothing is formatted: matching scans the table, the method check is a bit
//! test, and only error pages and `Allow` fields format a few bytes.

use crate::http::Method;
use crate::http::itoa::{DEC_U64_LEN, dec_u64};
use crate::httpserver::{HttpApp, Request, Response, ResponseError};
use crate::ioloop::IoLoop;

use super::etag::{self, ETAG_MAX_BODY};
use super::handler::{ALLOW_MAX, Flow, HandlerResult, RequestHandler, WebRequest};
use super::route::{Captures, Route};

/// Tornado's `Application`: routes, a default handler and settings, all fixed at compile time.
/// It holds only references to statics, so it is itself usually a `static` (or `const`):
///
/// ```
/// # use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
/// # use edgeloop::ioloop::IoLoop;
/// # use edgeloop::web::{Application, HandlerResult, Methods, RequestHandler, Route, WebRequest};
/// # struct App { http: HttpServer<App> }
/// # impl HttpApp for App {
/// #     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
/// #     fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
/// #         WEB.dispatch(self, lp, req, resp);
/// #     }
/// # }
/// struct Hello;
/// impl RequestHandler<App> for Hello {
///     fn allowed(&self) -> Methods { Methods::GET }
///     fn get(&self, _: &mut App, _: &mut IoLoop<App>, _: &WebRequest<'_, '_>,
///            resp: &mut Response<'_>) -> HandlerResult {
///         resp.write(b"Hello, world")?;
///         Ok(())
///     }
/// }
/// static ROUTES: [Route<App>; 1] = [Route::new("/", &Hello)];
/// static WEB: Application<App> = Application::new(&ROUTES);
/// ```
pub struct Application<A: HttpApp> {
    routes: &'static [Route<A>],
    default_handler: Option<&'static dyn RequestHandler<A>>,
    compute_etag: bool,
    etag_max_body: usize,
}

impl<A: HttpApp> core::fmt::Debug for Application<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Application")
            .field("routes", &self.routes)
            .field("default_handler", &self.default_handler.is_some())
            .field("compute_etag", &self.compute_etag)
            .field("etag_max_body", &self.etag_max_body)
            .finish()
    }
}

impl<A: HttpApp> Application<A> {
    /// An application over `routes`, tried in order; automatic ETags on (up to
    /// [`ETAG_MAX_BODY`] bytes), no default handler (unknown paths get `404`).
    pub const fn new(routes: &'static [Route<A>]) -> Self {
        Application {
            routes,
            default_handler: None,
            compute_etag: true,
            etag_max_body: ETAG_MAX_BODY,
        }
    }

    /// Turns the automatic ETag on or off (Tornado's `compute_etag`). `If-None-Match` is still
    /// checked against an `ETag` a handler sets itself.
    pub const fn compute_etag(mut self, on: bool) -> Self {
        self.compute_etag = on;
        self
    }

    /// The largest body that gets an automatic ETag.
    pub const fn etag_max_body(mut self, bytes: usize) -> Self {
        self.etag_max_body = bytes;
        self
    }

    /// The handler for paths no route matches (Tornado's `default_handler_class`), e.g. a
    /// custom 404 page or a single-page app's `index.html`. Its captures are empty.
    pub const fn default_handler(mut self, handler: &'static dyn RequestHandler<A>) -> Self {
        self.default_handler = Some(handler);
        self
    }

    /// The route table.
    pub fn routes(&self) -> &'static [Route<A>] {
        self.routes
    }

    /// The first route matching `path`, with its captures in `caps`.
    pub fn find<'r>(&self, path: &'r str, caps: &mut Captures<'r>) -> Option<&'static Route<A>> {
        self.routes.iter().find(|r| r.matches(path, caps))
    }

    /// Answers one request: call it from [`HttpApp::on_request`]. See the [module docs](self).
    pub fn dispatch(
        &self,
        app: &mut A,
        lp: &mut IoLoop<A>,
        req: &Request<'_>,
        resp: &mut Response<'_>,
    ) {
        let mut caps = Captures::new();
        let handler = match self.find(req.path, &mut caps) {
            Some(route) => route.handler(),
            None => match self.default_handler {
                Some(h) => {
                    caps = Captures::new();
                    h
                }
                None => {
                    send_error(resp, 404);
                    return;
                }
            },
        };
        let wreq = WebRequest {
            req,
            path_args: caps,
        };
        let allowed = handler.allowed();
        let result = if req.method == Method::Options {
            handler.options(app, lp, &wreq, resp)
        } else if !allowed.allows(req.method) {
            Err(super::HttpError::METHOD_NOT_ALLOWED)
        } else {
            match handler.prepare(app, lp, &wreq, resp) {
                Ok(Flow::Continue) => call(handler, app, lp, &wreq, resp),
                Ok(Flow::Finish) => Ok(()),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = result {
            send_error(resp, e.status());
            if e.status() == 405 {
                let mut buf = [0u8; ALLOW_MAX];
                let _ = resp.set_header("Allow", allowed.allow_value(&mut buf));
            }
        }
        handler.on_finish(app, lp, &wreq, resp);
        if matches!(req.method, Method::Get | Method::Head) {
            etag::apply(req, resp, self.compute_etag, self.etag_max_body);
        }
    }
}

/// Calls the handler method for `req.method` (already checked against `allowed`).
fn call<A: HttpApp>(
    h: &dyn RequestHandler<A>,
    app: &mut A,
    lp: &mut IoLoop<A>,
    req: &WebRequest<'_, '_>,
    resp: &mut Response<'_>,
) -> HandlerResult {
    match req.method {
        Method::Get | Method::Head => h.get(app, lp, req, resp),
        Method::Post => h.post(app, lp, req, resp),
        Method::Put => h.put(app, lp, req, resp),
        Method::Delete => h.delete(app, lp, req, resp),
        Method::Patch => h.patch(app, lp, req, resp),
        _ => Err(super::HttpError::METHOD_NOT_ALLOWED),
    }
}

/// Largest default error page (`<html><title>503: Service Unavailable</title>...`).
const ERROR_PAGE_MAX: usize = 160;

/// Tornado's `send_error`: replaces the body with the default error page of `status` —
/// `<html><title>404: Not Found</title><body>404: Not Found</body></html>` — and sets the status
/// and `Content-Type: text/html; charset=UTF-8`. A status outside 100..=599 sends `500`.
///
/// Header fields already set (cookies, say) are kept: unlike Tornado, a response cannot forget
/// its fields. A deferred or streamed response stays so; send errors before those calls.
pub fn send_error(resp: &mut Response<'_>, status: u16) {
    let status = if resp.set_status(status).is_ok() {
        status
    } else {
        let _ = resp.set_status(500);
        500
    };
    resp.clear_body();
    let _ = resp.set_header("Content-Type", b"text/html; charset=UTF-8");
    let mut num = [0u8; DEC_U64_LEN];
    let code = dec_u64(u64::from(status), &mut num);
    let reason = crate::http::reason(status).as_bytes();
    let mut page = [0u8; ERROR_PAGE_MAX];
    let mut n = 0;
    for part in [
        b"<html><title>".as_slice(),
        code,
        b": ",
        reason,
        b"</title><body>",
        code,
        b": ",
        reason,
        b"</body></html>",
    ] {
        let Some(dst) = page.get_mut(n..n + part.len()) else {
            break;
        };
        dst.copy_from_slice(part);
        n += part.len();
    }
    let _ = resp.write(&page[..n]);
}

/// Whether `url` may be sent as a `Location`: non-empty visible ASCII only (no space, CR, LF,
/// NUL or other control byte, no non-ASCII byte: percent-encode those).
pub fn valid_location(url: &str) -> bool {
    !url.is_empty() && url.bytes().all(|b| b.is_ascii_graphic())
}

/// Tornado's `redirect`: `301 Moved Permanently` when `permanent`, else `302 Found`, with
/// `Location: url` and no body.
///
/// `Err(InvalidHeaderValue)` — and nothing changed — when `url` fails [`valid_location`]
/// (header injection: `"/a\r\nSet-Cookie: x=1"` is refused).
pub fn redirect(resp: &mut Response<'_>, url: &str, permanent: bool) -> Result<(), ResponseError> {
    if !valid_location(url) {
        return Err(ResponseError::InvalidHeaderValue);
    }
    resp.set_header("Location", url.as_bytes())?;
    resp.set_status(if permanent { 301 } else { 302 })?;
    resp.clear_body();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_resp(f: impl FnOnce(&mut Response<'_>)) {
        let mut buf = [0u8; 4096];
        let mut r = Response::new(&mut buf).unwrap();
        f(&mut r);
    }

    #[test]
    fn send_error_writes_tornado_page() {
        with_resp(|r| {
            r.write(b"partial").unwrap();
            send_error(r, 404);
            assert_eq!(r.status(), 404);
            assert_eq!(
                r.body(),
                b"<html><title>404: Not Found</title><body>404: Not Found</body></html>"
            );
            assert_eq!(
                r.header("Content-Type"),
                Some(&b"text/html; charset=UTF-8"[..])
            );
        });
    }

    #[test]
    fn send_error_invalid_status_is_500() {
        with_resp(|r| {
            send_error(r, 1000);
            assert_eq!(r.status(), 500);
            assert!(r.body().starts_with(b"<html><title>500: "));
        });
    }

    #[test]
    fn redirect_sets_location_and_status() {
        with_resp(|r| {
            redirect(r, "/login?next=%2F", false).unwrap();
            assert_eq!(r.status(), 302);
            assert_eq!(r.header("Location"), Some(&b"/login?next=%2F"[..]));
            redirect(r, "https://example.com/", true).unwrap();
            assert_eq!(r.status(), 301);
        });
    }

    #[test]
    fn redirect_rejects_injection() {
        with_resp(|r| {
            for bad in [
                "",
                "/a\r\nSet-Cookie: x=1",
                "/a\nb",
                "/a\rb",
                "/a\0",
                "/a b",
                "/\u{e9}",
            ] {
                assert_eq!(
                    redirect(r, bad, false),
                    Err(ResponseError::InvalidHeaderValue),
                    "{bad:?}"
                );
            }
            assert_eq!(r.status(), 200);
            assert_eq!(r.header("Location"), None);
        });
    }
}
