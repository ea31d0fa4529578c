//! Tornado's `tornado.web` on top of [`HttpServer`](crate::httpserver::HttpServer): routes,
//! request handlers, arguments, cookies, JSON, ETags, redirects and error pages, long polling
//! and Server-Sent Events — with every table fixed at compile time and nothing allocated.
//!
//! | Tornado | edgeloop |
//! |---|---|
//! | `Application([(r"/a/([^/]+)", H)])` | a `static` [`Application`] over a `static` table of [`Route`]s (`/a/{name}`), first match wins |
//! | `RequestHandler.get/post/...`, `SUPPORTED_METHODS` | [`RequestHandler`], [`RequestHandler::allowed`] |
//! | `prepare`, `on_finish` | [`RequestHandler::prepare`], [`RequestHandler::on_finish`] |
//! | `self.path_args` | [`WebRequest::path_args`] ([`Captures`]) |
//! | `get_argument`, `get_arguments`, `get_body_argument` | [`WebRequest::get_argument`] ... ([`args`]) |
//! | `get_cookie`, `set_cookie`, `clear_cookie` | [`cookie`] |
//! | `self.write(dict)`, `json.loads(body)` | [`json`] (feature `json`) |
//! | `compute_etag`, `check_etag_header` | [`etag`], automatic in [`Application::dispatch`] |
//! | `send_error`, `raise HTTPError(404)`, `redirect` | [`send_error`], [`HttpError`], [`redirect`] |
//! | `@gen.coroutine` long polling | [`Response::defer`](crate::httpserver::Response::defer) + [`HttpServer::finish_deferred`](crate::httpserver::HttpServer::finish_deferred) |
//! | SSE with `flush()` | [`EventSource`] ([`sse`]) |
//! | `AsyncHTTPTestCase` | the `edgeloop-testing` crate (std, tests only) |
//!
//! Handlers are `static` values behind `&'static dyn RequestHandler<A>` (no closures to box),
//! and get everything as arguments: `&mut A` (the application, where all state lives), the
//! loop, the [`WebRequest`] and the [`Response`](crate::httpserver::Response).
//!
//! ## Routes and a handler
//!
//! ```no_run
//! use core::fmt::Write as _;
//! use edgeloop::httpserver::{HttpApp, HttpConn, HttpServer, Request, Response};
//! use edgeloop::ioloop::IoLoop;
//! use edgeloop::iostream::BufferPool;
//! use edgeloop::tcpserver::Slot;
//! use edgeloop::web::{
//!     Application, HandlerResult, HttpError, Methods, RequestHandler, Route, WebRequest,
//! };
//!
//! struct App { http: HttpServer<App>, mtu: u32 }
//!
//! impl HttpApp for App {
//!     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//!     fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
//!         WEB.dispatch(self, lp, req, resp);
//!     }
//! }
//!
//! struct Index;
//! impl RequestHandler<App> for Index {
//!     fn allowed(&self) -> Methods { Methods::GET }
//!     fn get(&self, _: &mut App, _: &mut IoLoop<App>, _: &WebRequest<'_, '_>,
//!            resp: &mut Response<'_>) -> HandlerResult {
//!         resp.write_static(b"<h1>My device</h1>")?;
//!         Ok(())
//!     }
//! }
//!
//! /// `GET` and `PUT /api/ifaces/{name}/mtu`.
//! struct Mtu;
//! impl RequestHandler<App> for Mtu {
//!     fn allowed(&self) -> Methods { Methods::GET.with(Methods::PUT) }
//!     fn prepare(&self, _: &mut App, _: &mut IoLoop<App>, req: &WebRequest<'_, '_>,
//!                _: &mut Response<'_>) -> Result<edgeloop::web::Flow, HttpError> {
//!         match req.path_arg("name") {
//!             Some("eth0") => Ok(edgeloop::web::Flow::Continue),
//!             _ => Err(HttpError::NOT_FOUND),
//!         }
//!     }
//!     fn get(&self, app: &mut App, _: &mut IoLoop<App>, _: &WebRequest<'_, '_>,
//!            resp: &mut Response<'_>) -> HandlerResult {
//!         write!(resp, "{}", app.mtu).map_err(|_| HttpError::INTERNAL)
//!     }
//!     fn put(&self, app: &mut App, _: &mut IoLoop<App>, req: &WebRequest<'_, '_>,
//!            _: &mut Response<'_>) -> HandlerResult {
//!         let text = core::str::from_utf8(req.body).map_err(|_| HttpError::BAD_REQUEST)?;
//!         app.mtu = text.trim().parse().map_err(|_| HttpError::BAD_REQUEST)?;
//!         Ok(())
//!     }
//! }
//!
//! // Checked at compile time; tried in order, the first match wins.
//! static ROUTES: [Route<App>; 2] = [
//!     Route::new("/", &Index),
//!     Route::new("/api/ifaces/{name}/mtu", &Mtu),
//! ];
//! static WEB: Application<App> = Application::new(&ROUTES);
//!
//! static LOOP: static_cell::StaticCell<IoLoop<App>> = static_cell::StaticCell::new();
//! static SLOTS: static_cell::StaticCell<[Slot<HttpConn>; 16]> = static_cell::StaticCell::new();
//! static REGION: static_cell::ConstStaticCell<[u8; 32 * 4096]> =
//!     static_cell::ConstStaticCell::new([0; 32 * 4096]);
//! static POOL: static_cell::StaticCell<BufferPool> = static_cell::StaticCell::new();
//!
//! let lp = LOOP.init_with(IoLoop::new);
//! let pool = POOL.init(BufferPool::new(REGION.take(), 4096).unwrap());
//! let slots = SLOTS.init_with(|| [const { Slot::new() }; 16]);
//! let mut app = App { http: HttpServer::new(slots, pool), mtu: 1500 };
//! app.http.listen(lp, "0.0.0.0:8888".parse().unwrap()).unwrap();
//! lp.start(&mut app).unwrap();
//! ```
//!
//! Unknown paths get `404`, other methods `405` with `Allow: GET, HEAD, PUT, OPTIONS`, `HEAD`
//! is served by `get`, `OPTIONS` is answered, and the `GET` response gets an `ETag`.
//!
//! ## Query and form arguments
//!
//! Decoded into a buffer the handler provides ([`args`]); an invalid value is `None`:
//!
//! ```
//! # use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
//! # use edgeloop::ioloop::IoLoop;
//! # use edgeloop::web::{HandlerResult, HttpError, Methods, RequestHandler, WebRequest};
//! # struct App { http: HttpServer<App> }
//! # impl HttpApp for App {
//! #     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//! #     fn on_request(&mut self, _: &mut IoLoop<App>, _: &Request<'_>, _: &mut Response<'_>) {}
//! # }
//! /// `GET /search?q=caf%C3%A9&tag=a&tag=b`
//! struct Search;
//! impl RequestHandler<App> for Search {
//!     fn allowed(&self) -> Methods { Methods::GET }
//!     fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: &WebRequest<'_, '_>,
//!            resp: &mut Response<'_>) -> HandlerResult {
//!         let mut buf = [0u8; 64];
//!         let q = req.get_argument("q", "", &mut buf).ok_or(HttpError::BAD_REQUEST)?;
//!         resp.write(q.as_bytes())?;
//!         for tag in req.get_arguments("tag") {
//!             let mut one = [0u8; 32];
//!             let tag = tag.value_into(&mut one).ok_or(HttpError::BAD_REQUEST)?;
//!             resp.write(b" #")?;
//!             resp.write(tag.as_bytes())?;
//!         }
//!         Ok(())
//!     }
//! }
//! ```
//!
//! ## Cookies
//!
//! ```
//! # use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
//! # use edgeloop::ioloop::IoLoop;
//! # use edgeloop::web::{HandlerResult, Methods, RequestHandler, WebRequest};
//! # struct App { http: HttpServer<App> }
//! # impl HttpApp for App {
//! #     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//! #     fn on_request(&mut self, _: &mut IoLoop<App>, _: &Request<'_>, _: &mut Response<'_>) {}
//! # }
//! use edgeloop::web::cookie::{CookieAttrs, SameSite, clear_cookie, set_cookie};
//!
//! struct Session;
//! impl RequestHandler<App> for Session {
//!     fn allowed(&self) -> Methods { Methods::GET.with(Methods::DELETE) }
//!     fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: &WebRequest<'_, '_>,
//!            resp: &mut Response<'_>) -> HandlerResult {
//!         if req.get_cookie("sid").is_none() {
//!             let attrs = CookieAttrs::new().http_only().same_site(SameSite::Strict).max_age(3600);
//!             set_cookie(resp, "sid", "c0ffee", &attrs)?; // a bad name or value is an Err
//!         }
//!         Ok(())
//!     }
//!     fn delete(&self, _: &mut App, _: &mut IoLoop<App>, _: &WebRequest<'_, '_>,
//!               resp: &mut Response<'_>) -> HandlerResult {
//!         clear_cookie(resp, "sid", &CookieAttrs::new())?;
//!         Ok(())
//!     }
//! }
//! ```
//!
#![cfg_attr(
    feature = "json",
    doc = r#"## JSON (feature `json`)

```
# use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
# use edgeloop::ioloop::IoLoop;
# use edgeloop::web::{HandlerResult, Methods, RequestHandler, WebRequest};
# struct App { http: HttpServer<App>, mtu: u32 }
# impl HttpApp for App {
#     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
#     fn on_request(&mut self, _: &mut IoLoop<App>, _: &Request<'_>, _: &mut Response<'_>) {}
# }
use edgeloop::web::json::{parse_json, write_json};

#[derive(serde::Serialize, serde::Deserialize)]
struct Settings<'a> { hostname: &'a str, mtu: u32 }

struct Api;
impl RequestHandler<App> for Api {
    fn allowed(&self) -> Methods { Methods::GET.with(Methods::POST) }
    fn get(&self, app: &mut App, _: &mut IoLoop<App>, _: &WebRequest<'_, '_>,
           resp: &mut Response<'_>) -> HandlerResult {
        write_json(resp, &Settings { hostname: "edge-1", mtu: app.mtu })?;
        Ok(())
    }
    fn post(&self, app: &mut App, _: &mut IoLoop<App>, req: &WebRequest<'_, '_>,
            _: &mut Response<'_>) -> HandlerResult {
        let s: Settings<'_> = parse_json(req.body)?; // invalid JSON: 400
        app.mtu = s.mtu;
        Ok(())
    }
}
```
"#
)]
//!
//! ## Server-Sent Events
//!
//! An [`EventSource`] in the application, fed from a timer; `on_close` forwarded to it:
//!
//! ```
//! use core::time::Duration;
//! use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
//! use edgeloop::ioloop::{Error, IoLoop, Token};
//! use edgeloop::tcpserver::ConnId;
//! use edgeloop::web::{EventSource, HandlerResult, Methods, RequestHandler, WebRequest};
//!
//! struct App { http: HttpServer<App>, events: EventSource }
//! # static WEB: edgeloop::web::Application<App> = edgeloop::web::Application::new(&[]);
//!
//! impl HttpApp for App {
//!     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//!     fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
//!         WEB.dispatch(self, lp, req, resp);
//!     }
//!     fn on_close(&mut self, _: &mut IoLoop<App>, conn: ConnId) {
//!         self.events.on_close(conn);
//!     }
//! }
//!
//! struct Events;
//! impl RequestHandler<App> for Events {
//!     fn allowed(&self) -> Methods { Methods::GET }
//!     fn get(&self, app: &mut App, _: &mut IoLoop<App>, req: &WebRequest<'_, '_>,
//!            resp: &mut Response<'_>) -> HandlerResult {
//!         app.events.open(req, resp)?; // 503 when MAX_EVENT_STREAMS are open
//!         resp.write(b"retry: 2000\n\n")?;
//!         Ok(())
//!     }
//! }
//!
//! /// Every second (started with `lp.call_later(.., tick, Token(0))`).
//! fn tick(app: &mut App, lp: &mut IoLoop<App>, _: Token) -> Result<(), Error> {
//!     let _ = EventSource::broadcast(app, lp, |a| &mut a.events, Some("temp"), b"41.5");
//!     lp.call_later(Duration::from_secs(1), tick, Token(0))?;
//!     Ok(())
//! }
//! ```
//!
//! ## Deferred responses (long polling)
//!
//! The handler parks the request with [`Response::defer`](crate::httpserver::Response::defer)
//! and remembers its connection; a timer (or any later event) answers it with
//! [`HttpServer::finish_deferred`](crate::httpserver::HttpServer::finish_deferred). A client
//! that leaves first is reported to `on_close`, and `finish_deferred` then returns
//! `Err(NotRegistered)`. The `ETag` step skips deferred responses.
//!
//! ```
//! use core::time::Duration;
//! use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
//! use edgeloop::ioloop::{Error, IoLoop, Token};
//! use edgeloop::tcpserver::ConnId;
//! use edgeloop::web::{HandlerResult, HttpError, Methods, RequestHandler, WebRequest};
//!
//! struct App { http: HttpServer<App>, waiting: heapless::Vec<ConnId, 8> }
//! # impl HttpApp for App {
//! #     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//! #     fn on_request(&mut self, _: &mut IoLoop<App>, _: &Request<'_>, _: &mut Response<'_>) {}
//! # }
//!
//! struct Poll;
//! impl RequestHandler<App> for Poll {
//!     fn allowed(&self) -> Methods { Methods::GET }
//!     fn get(&self, app: &mut App, lp: &mut IoLoop<App>, req: &WebRequest<'_, '_>,
//!            resp: &mut Response<'_>) -> HandlerResult {
//!         app.waiting.push(req.conn).map_err(|_| HttpError::UNAVAILABLE)?;
//!         resp.defer();
//!         if app.waiting.len() == 1 {
//!             lp.call_later(Duration::from_secs(5), wake, Token(0)).map_err(|_| HttpError::INTERNAL)?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! fn wake(app: &mut App, lp: &mut IoLoop<App>, _: Token) -> Result<(), Error> {
//!     for id in core::mem::take(&mut app.waiting) {
//!         let _ = HttpServer::finish_deferred(app, lp, id, |resp| {
//!             let _ = resp.write(b"news");
//!         });
//!     }
//!     Ok(())
//! }
//! ```

pub mod app;
pub mod args;
pub mod cookie;
pub mod etag;
pub mod handler;
#[cfg(feature = "json")]
pub mod json;
pub mod route;
pub mod sse;
pub mod static_files;
pub mod websocket;

pub use app::{Application, redirect, send_error, valid_location};
pub use args::{Arg, Args};
pub use cookie::{CookieAttrs, CookieError, SameSite, clear_cookie, get_cookie, set_cookie};
pub use handler::{Flow, HandlerResult, HttpError, Methods, RequestHandler, WebRequest};
#[cfg(feature = "json")]
pub use json::{JsonError, parse_json, write_json};
pub use route::{Captures, MAX_CAPTURES, Route};
pub use sse::{EventSource, MAX_EVENT_STREAMS, SseError};

#[cfg(test)]
pub(crate) mod tests {
    use crate::http::{Header, Method};
    use crate::httpserver::Request;
    use crate::tcpserver::ConnId;

    /// A `GET` request for the unit tests.
    pub(crate) fn request<'r>(
        path: &'r str,
        query: &'r str,
        headers: &'r [Header<'r>],
        body: &'r [u8],
    ) -> Request<'r> {
        Request {
            method: Method::Get,
            target: path,
            path,
            query,
            version: 1,
            headers,
            body,
            remote: None,
            conn: ConnId::new(0, 0),
            keep_alive: true,
        }
    }

    /// A bare `GET` request on connection `conn`.
    pub(crate) fn request_on(path: &'static str, conn: ConnId) -> Request<'static> {
        Request {
            conn,
            ..request(path, "", &[], b"")
        }
    }
}
