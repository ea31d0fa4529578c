//! Request handlers (Tornado's `RequestHandler`): one object per route, one method per HTTP
//! method.
//!
//! A handler is a `static` value (usually a unit struct) that implements [`RequestHandler`];
//! the route table holds `&'static dyn RequestHandler<A>`. Handlers keep no per-request state:
//! everything a request needs arrives as arguments — the application (`&mut A`), the loop, the
//! [`WebRequest`] (the server's [`Request`] plus the route's captures) and the [`Response`].
//!
//! [`allowed`](RequestHandler::allowed) is the handler's `SUPPORTED_METHODS`: the application
//! answers `405` (with `Allow`) for any method not in it without calling the handler, serves
//! `HEAD` with [`get`](RequestHandler::get) when `GET` is allowed, and lets
//! [`options`](RequestHandler::options) answer `OPTIONS`. Methods return
//! `Result<(), HttpError>`: `Err` becomes the error page of its status (Tornado's
//! `raise HTTPError(404)`).

use core::fmt;
use core::ops::Deref;

use crate::http::Method;
use crate::httpserver::{HttpApp, Request, Response, ResponseError};
use crate::ioloop::IoLoop;

use super::route::Captures;

/// A set of methods a handler implements: `GET`, `POST`, `PUT`, `DELETE`, `PATCH`. `HEAD`
/// follows `GET` and `OPTIONS` is always answered, so neither needs listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Methods(u8);

impl Methods {
    /// No method.
    pub const NONE: Methods = Methods(0);
    /// `GET` (and so `HEAD`).
    pub const GET: Methods = Methods(1);
    /// `POST`.
    pub const POST: Methods = Methods(2);
    /// `PUT`.
    pub const PUT: Methods = Methods(4);
    /// `DELETE`.
    pub const DELETE: Methods = Methods(8);
    /// `PATCH`.
    pub const PATCH: Methods = Methods(16);

    /// Both sets.
    pub const fn with(self, other: Methods) -> Methods {
        Methods(self.0 | other.0)
    }

    /// The set of `list` (`HEAD`, `OPTIONS` and other methods are ignored).
    pub const fn of(list: &[Method]) -> Methods {
        let mut m = Methods::NONE;
        let mut i = 0;
        while i < list.len() {
            m = m.with(Self::bit(list[i]));
            i += 1;
        }
        m
    }

    const fn bit(m: Method) -> Methods {
        match m {
            Method::Get => Methods::GET,
            Method::Post => Methods::POST,
            Method::Put => Methods::PUT,
            Method::Delete => Methods::DELETE,
            Method::Patch => Methods::PATCH,
            _ => Methods::NONE,
        }
    }

    /// Whether requests with method `m` are served: `HEAD` when `GET` is in the set, `OPTIONS`
    /// always, `CONNECT`, `TRACE` and unknown methods never.
    pub const fn allows(self, m: Method) -> bool {
        match m {
            Method::Head => self.0 & Methods::GET.0 != 0,
            Method::Options => true,
            _ => {
                let b = Self::bit(m).0;
                b != 0 && self.0 & b == b
            }
        }
    }

    /// The `Allow` field value (`GET, HEAD, POST, OPTIONS`), written into `buf`.
    pub fn allow_value(self, buf: &mut [u8; ALLOW_MAX]) -> &[u8] {
        let mut n = 0;
        let all = [
            (Methods::GET, "GET, HEAD, "),
            (Methods::POST, "POST, "),
            (Methods::PUT, "PUT, "),
            (Methods::DELETE, "DELETE, "),
            (Methods::PATCH, "PATCH, "),
            (Methods::NONE, "OPTIONS"),
        ];
        for (m, text) in all {
            if self.0 & m.0 == m.0 {
                buf[n..n + text.len()].copy_from_slice(text.as_bytes());
                n += text.len();
            }
        }
        &buf[..n]
    }
}

/// Room for the longest `Allow` value: `GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS`.
pub const ALLOW_MAX: usize = 48;

/// An HTTP error a handler returns (Tornado's `HTTPError`): the application answers with the
/// default error page of its status ([`send_error`](super::send_error)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HttpError {
    status: u16,
}

impl HttpError {
    /// `400 Bad Request`.
    pub const BAD_REQUEST: HttpError = HttpError { status: 400 };
    /// `403 Forbidden`.
    pub const FORBIDDEN: HttpError = HttpError { status: 403 };
    /// `404 Not Found`.
    pub const NOT_FOUND: HttpError = HttpError { status: 404 };
    /// `405 Method Not Allowed` (the application adds `Allow`).
    pub const METHOD_NOT_ALLOWED: HttpError = HttpError { status: 405 };
    /// `500 Internal Server Error`.
    pub const INTERNAL: HttpError = HttpError { status: 500 };
    /// `503 Service Unavailable`.
    pub const UNAVAILABLE: HttpError = HttpError { status: 503 };

    /// An error with status `status`; a code outside 400..=599 becomes 500.
    pub const fn new(status: u16) -> HttpError {
        if status >= 400 && status <= 599 {
            HttpError { status }
        } else {
            HttpError::INTERNAL
        }
    }

    /// The status code.
    pub const fn status(self) -> u16 {
        self.status
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HTTP {} {}",
            self.status,
            crate::http::reason(self.status)
        )
    }
}

impl core::error::Error for HttpError {}

impl From<ResponseError> for HttpError {
    /// A response that could not be built is the server's fault: `500`.
    fn from(_: ResponseError) -> Self {
        HttpError::INTERNAL
    }
}

/// What a handler method returns.
pub type HandlerResult = Result<(), HttpError>;

/// What [`RequestHandler::prepare`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Flow {
    /// Go on to the method.
    Continue,
    /// `prepare` answered the request itself (a redirect, say): skip the method.
    Finish,
}

/// The request a handler sees: the server's [`Request`] (through `Deref`: `req.path`,
/// `req.header(..)`, `req.body` ...) plus the route's captures (Tornado's `path_args`).
#[derive(Debug, Clone, Copy)]
pub struct WebRequest<'a, 'r> {
    /// The HTTP request.
    pub req: &'a Request<'r>,
    /// The matched route's captures.
    pub path_args: Captures<'r>,
}

impl<'r> Deref for WebRequest<'_, 'r> {
    type Target = Request<'r>;

    fn deref(&self) -> &Request<'r> {
        self.req
    }
}

impl<'r> WebRequest<'_, 'r> {
    /// The raw (percent-encoded) value of capture `name`.
    pub fn path_arg(&self, name: &str) -> Option<&'r str> {
        self.path_args.get(name)
    }

    /// Capture `name`, percent-decoded into `buf` (see [`Captures::get_into`]).
    pub fn path_arg_into<'b>(&self, name: &str, buf: &'b mut [u8]) -> Option<&'b str> {
        self.path_args.get_into(name, buf)
    }

    /// Tornado's `get_argument`: see [`args::get_argument`](super::args::get_argument).
    pub fn get_argument<'b>(
        &self,
        name: &str,
        default: &'b str,
        buf: &'b mut [u8],
    ) -> Option<&'b str> {
        super::args::get_argument(self.req, name, default, buf)
    }

    /// Tornado's `get_arguments`: see [`args::get_arguments`](super::args::get_arguments).
    pub fn get_arguments<'n>(
        &self,
        name: &'n str,
    ) -> impl Iterator<Item = super::args::Arg<'r>> + use<'r, 'n> {
        super::args::get_arguments(self.req, name)
    }

    /// Tornado's `get_query_argument`.
    pub fn get_query_argument<'b>(
        &self,
        name: &str,
        default: &'b str,
        buf: &'b mut [u8],
    ) -> Option<&'b str> {
        super::args::get_query_argument(self.req, name, default, buf)
    }

    /// Tornado's `get_body_argument`.
    pub fn get_body_argument<'b>(
        &self,
        name: &str,
        default: &'b str,
        buf: &'b mut [u8],
    ) -> Option<&'b str> {
        super::args::get_body_argument(self.req, name, default, buf)
    }

    /// Tornado's `get_cookie`: see [`cookie::get_cookie`](super::cookie::get_cookie).
    pub fn get_cookie(&self, name: &str) -> Option<&'r str> {
        super::cookie::get_cookie(self.req, name)
    }
}

/// Tornado's `RequestHandler`. Implement [`allowed`](Self::allowed) and the methods listed in
/// it; the others answer `405`. See the [module docs](self).
///
/// Handlers are `Sync` because route tables are `static`s; a unit struct is.
pub trait RequestHandler<A: HttpApp>: Sync {
    /// The methods this handler implements (Tornado's `SUPPORTED_METHODS`). The application
    /// checks it before calling anything: it is the one source of truth for `405` and `Allow`.
    fn allowed(&self) -> Methods;

    /// Runs before the method (Tornado's `prepare`): checks shared by every method, such as
    /// authentication. `Err` answers with that error; `Ok(Flow::Finish)` skips the method.
    fn prepare(
        &self,
        _app: &mut A,
        _lp: &mut IoLoop<A>,
        _req: &WebRequest<'_, '_>,
        _resp: &mut Response<'_>,
    ) -> Result<Flow, HttpError> {
        Ok(Flow::Continue)
    }

    /// `GET`, and `HEAD` (whose body the server drops).
    fn get(
        &self,
        _app: &mut A,
        _lp: &mut IoLoop<A>,
        _req: &WebRequest<'_, '_>,
        _resp: &mut Response<'_>,
    ) -> HandlerResult {
        Err(HttpError::METHOD_NOT_ALLOWED)
    }

    /// `POST`.
    fn post(
        &self,
        _app: &mut A,
        _lp: &mut IoLoop<A>,
        _req: &WebRequest<'_, '_>,
        _resp: &mut Response<'_>,
    ) -> HandlerResult {
        Err(HttpError::METHOD_NOT_ALLOWED)
    }

    /// `PUT`.
    fn put(
        &self,
        _app: &mut A,
        _lp: &mut IoLoop<A>,
        _req: &WebRequest<'_, '_>,
        _resp: &mut Response<'_>,
    ) -> HandlerResult {
        Err(HttpError::METHOD_NOT_ALLOWED)
    }

    /// `DELETE`.
    fn delete(
        &self,
        _app: &mut A,
        _lp: &mut IoLoop<A>,
        _req: &WebRequest<'_, '_>,
        _resp: &mut Response<'_>,
    ) -> HandlerResult {
        Err(HttpError::METHOD_NOT_ALLOWED)
    }

    /// `PATCH`.
    fn patch(
        &self,
        _app: &mut A,
        _lp: &mut IoLoop<A>,
        _req: &WebRequest<'_, '_>,
        _resp: &mut Response<'_>,
    ) -> HandlerResult {
        Err(HttpError::METHOD_NOT_ALLOWED)
    }

    /// `OPTIONS`. The default answers `204 No Content` with `Allow`; override it for CORS
    /// preflights. `prepare` is not called for it.
    fn options(
        &self,
        _app: &mut A,
        _lp: &mut IoLoop<A>,
        _req: &WebRequest<'_, '_>,
        resp: &mut Response<'_>,
    ) -> HandlerResult {
        let mut buf = [0u8; ALLOW_MAX];
        resp.set_status(204)?;
        resp.set_header("Allow", self.allowed().allow_value(&mut buf))?;
        Ok(())
    }

    /// Runs after the request was handled, whatever the outcome (Tornado's `on_finish`), just
    /// before the response is sent (or parked, when it was deferred or streamed).
    fn on_finish(
        &self,
        _app: &mut A,
        _lp: &mut IoLoop<A>,
        _req: &WebRequest<'_, '_>,
        _resp: &mut Response<'_>,
    ) {
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_allows_head_with_get_and_options_always() {
        let m = Methods::GET.with(Methods::POST);
        assert!(m.allows(Method::Get));
        assert!(m.allows(Method::Head));
        assert!(m.allows(Method::Post));
        assert!(m.allows(Method::Options));
        assert!(!m.allows(Method::Put));
        assert!(!m.allows(Method::Trace));
        assert!(!m.allows(Method::Connect));
        assert!(!m.allows(Method::Other));
        assert!(!Methods::POST.allows(Method::Head));
    }

    #[test]
    fn methods_of_ignores_head_and_options() {
        let m = Methods::of(&[Method::Get, Method::Head, Method::Options, Method::Delete]);
        assert_eq!(m, Methods::GET.with(Methods::DELETE));
    }

    #[test]
    fn methods_allow_value_lists_in_order() {
        let mut buf = [0u8; ALLOW_MAX];
        let all = Methods::of(&[
            Method::Patch,
            Method::Delete,
            Method::Put,
            Method::Post,
            Method::Get,
        ]);
        assert_eq!(
            all.allow_value(&mut buf),
            b"GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"
        );
        assert_eq!(Methods::POST.allow_value(&mut buf), b"POST, OPTIONS");
        assert_eq!(Methods::NONE.allow_value(&mut buf), b"OPTIONS");
    }

    #[test]
    fn http_error_clamps_to_error_codes() {
        assert_eq!(HttpError::new(404).status(), 404);
        assert_eq!(HttpError::new(200).status(), 500);
        assert_eq!(HttpError::new(600).status(), 500);
        assert_eq!(HttpError::from(ResponseError::BodyTooLarge).status(), 500);
    }
}
