//! `edgeloop::web` over real sockets, through `edgeloop_testing`: routing (first match,
//! captures, wildcard), 404/405/HEAD/OPTIONS, arguments, cookies, JSON, redirects, error pages,
//! ETag/304, header injection through every API that writes a field, and long polling.
//!
//! Run with `cargo test --features json --test web`.

#![cfg(feature = "json")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use edgeloop::http::Method;
use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response, ResponseError};
use edgeloop::ioloop::{Error, IoLoop, Token};
use edgeloop::tcpserver::ConnId;
use edgeloop::web::cookie::{CookieAttrs, SameSite, clear_cookie, set_cookie};
use edgeloop::web::{
    Application, Flow, HandlerResult, HttpError, Methods, RequestHandler, Route, WebRequest,
    parse_json, redirect, write_json,
};
use edgeloop_testing::{TestResponse, TestServer, build_request};

struct App {
    http: HttpServer<App>,
    web: &'static Application<App>,
    waiting: Vec<ConnId>,
}

impl HttpApp for App {
    fn http(&mut self) -> &mut HttpServer<App> {
        &mut self.http
    }
    fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
        self.web.dispatch(self, lp, req, resp);
    }
}

type Req<'a, 'b, 'r> = &'a WebRequest<'b, 'r>;
type Resp<'a, 'w> = &'a mut Response<'w>;

/// A handler that writes a fixed text for `GET` (and `POST` if `post`).
struct Text(&'static str, bool);
impl RequestHandler<App> for Text {
    fn allowed(&self) -> Methods {
        if self.1 {
            Methods::GET.with(Methods::POST)
        } else {
            Methods::GET
        }
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, _: Req, resp: Resp) -> HandlerResult {
        Ok(resp.write(self.0.as_bytes())?)
    }
    fn post(&self, a: &mut App, l: &mut IoLoop<App>, r: Req, resp: Resp) -> HandlerResult {
        self.get(a, l, r, resp)
    }
}

/// Echoes its captures: `name=raw(decoded)` for each.
struct Caps(&'static str);
impl RequestHandler<App> for Caps {
    fn allowed(&self) -> Methods {
        Methods::GET
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        resp.write(self.0.as_bytes())?;
        for (name, raw) in req.path_args.iter() {
            let mut buf = [0u8; 128];
            let dec = req.path_arg_into(name, &mut buf).unwrap_or("<invalid>");
            resp.write(format!(" {name}={raw}({dec})").as_bytes())?;
        }
        Ok(())
    }
}

/// `GET` and `DELETE` only.
struct Items;
impl RequestHandler<App> for Items {
    fn allowed(&self) -> Methods {
        Methods::of(&[Method::Get, Method::Delete])
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, _: Req, resp: Resp) -> HandlerResult {
        Ok(resp.write(b"item")?)
    }
    fn delete(&self, _: &mut App, _: &mut IoLoop<App>, _: Req, resp: Resp) -> HandlerResult {
        Ok(resp.set_status(204)?)
    }
}

/// `q` (default "none"), every `tag`, and the body's `name`.
struct ArgsH;
impl RequestHandler<App> for ArgsH {
    fn allowed(&self) -> Methods {
        Methods::GET.with(Methods::POST)
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        let mut buf = [0u8; 64];
        let q = req
            .get_argument("q", "none", &mut buf)
            .ok_or(HttpError::BAD_REQUEST)?;
        resp.write(format!("q={q}").as_bytes())?;
        for t in req.get_arguments("tag") {
            let mut b = [0u8; 32];
            let t = t.value_into(&mut b).ok_or(HttpError::BAD_REQUEST)?;
            resp.write(format!(" tag={t}").as_bytes())?;
        }
        Ok(())
    }
    fn post(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        let body = req
            .get_body_argument("name", "-", &mut a)
            .ok_or(HttpError::BAD_REQUEST)?;
        let any = req
            .get_argument("name", "-", &mut b)
            .ok_or(HttpError::BAD_REQUEST)?;
        Ok(resp.write(format!("body={body} any={any}").as_bytes())?)
    }
}

/// Reads `sid`, sets `seen` and clears `old`.
struct Cookies;
impl RequestHandler<App> for Cookies {
    fn allowed(&self) -> Methods {
        Methods::GET
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        let sid = req.get_cookie("sid").unwrap_or("-");
        resp.write(format!("sid={sid}").as_bytes())?;
        let attrs = CookieAttrs::new()
            .max_age(60)
            .expires(784_111_777)
            .http_only()
            .secure()
            .same_site(SameSite::Lax);
        set_cookie(resp, "seen", "1", &attrs)?;
        clear_cookie(resp, "old", &CookieAttrs::new())?;
        Ok(())
    }
}

/// Feeds the decoded query argument `v` to every API that writes a header field and reports
/// each outcome in the body (`ok` or the error).
struct Inject;
impl RequestHandler<App> for Inject {
    fn allowed(&self) -> Methods {
        Methods::GET
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        let mut buf = [0u8; 128];
        let v = req
            .get_argument("v", "", &mut buf)
            .ok_or(HttpError::BAD_REQUEST)?;
        let vb = v.as_bytes();
        let base = CookieAttrs::new();
        let r = [
            ("set_header", o(resp.set_header("X-T", vb))),
            ("set_header_name", o(resp.set_header(v, b"1"))),
            ("add_header", o(resp.add_header("X-T", vb))),
            ("add_header_name", o(resp.add_header(v, b"1"))),
            ("cookie_name", o(set_cookie(resp, v, "1", &base))),
            ("cookie_value", o(set_cookie(resp, "n", v, &base))),
            (
                "cookie_path",
                o(set_cookie(resp, "n", "1", &base.path(Some(v)))),
            ),
            (
                "cookie_domain",
                o(set_cookie(resp, "n", "1", &base.domain(v))),
            ),
            ("clear_cookie", o(clear_cookie(resp, v, &base))),
            (
                "clear_cookie_path",
                o(clear_cookie(resp, "n", &base.path(Some(v)))),
            ),
            ("redirect", o(redirect(resp, v, false))),
        ];
        for (api, outcome) in r {
            resp.write(format!("{api}: {outcome}\n").as_bytes())?;
        }
        Ok(())
    }
}

/// `ok`, or the error's name.
fn o<E: std::fmt::Debug>(r: Result<(), E>) -> String {
    r.map_or_else(|e| format!("{e:?}"), |()| "ok".into())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Iface<'a> {
    name: &'a str,
    mtu: u32,
    up: bool,
}

struct Json;
impl RequestHandler<App> for Json {
    fn allowed(&self) -> Methods {
        Methods::GET.with(Methods::POST)
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, _: Req, resp: Resp) -> HandlerResult {
        Ok(write_json(
            resp,
            &Iface {
                name: "eth0",
                mtu: 1500,
                up: true,
            },
        )?)
    }
    fn post(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        let mut i: Iface<'_> = parse_json(req.body)?;
        i.mtu += 1;
        Ok(write_json(resp, &i)?)
    }
}

struct Redirect;
impl RequestHandler<App> for Redirect {
    fn allowed(&self) -> Methods {
        Methods::GET
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        let (mut b, mut p) = ([0u8; 128], [0u8; 8]);
        let to = req
            .get_argument("to", "/", &mut b)
            .ok_or(HttpError::BAD_REQUEST)?;
        let permanent = req.get_argument("permanent", "0", &mut p) == Some("1");
        redirect(resp, to, permanent).map_err(|_| HttpError::BAD_REQUEST)
    }
}

/// `GET /error/{code}`: `Err(HttpError::new(code))` after setting a header.
struct Fail;
impl RequestHandler<App> for Fail {
    fn allowed(&self) -> Methods {
        Methods::GET
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        resp.write(b"partial")?;
        resp.set_header("X-Kept", b"yes")?;
        let code = req
            .path_arg("code")
            .and_then(|c| c.parse().ok())
            .unwrap_or(500);
        Err(HttpError::new(code))
    }
}

static PREPARED: AtomicUsize = AtomicUsize::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// `prepare` denies `?deny`, redirects `?go`, counts; `on_finish` counts.
struct Hooks;
impl RequestHandler<App> for Hooks {
    fn allowed(&self) -> Methods {
        Methods::GET
    }
    fn prepare(
        &self,
        _: &mut App,
        _: &mut IoLoop<App>,
        req: Req,
        resp: Resp,
    ) -> Result<Flow, HttpError> {
        PREPARED.fetch_add(1, Ordering::SeqCst);
        match req.query {
            "deny" => Err(HttpError::FORBIDDEN),
            "go" => {
                redirect(resp, "/elsewhere", false)?;
                Ok(Flow::Finish)
            }
            _ => Ok(Flow::Continue),
        }
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, _: Req, resp: Resp) -> HandlerResult {
        Ok(resp.write(b"hooked")?)
    }
    fn on_finish(&self, _: &mut App, _: &mut IoLoop<App>, _: Req, _: Resp) {
        FINISHED.fetch_add(1, Ordering::SeqCst);
    }
}

/// ETag cases: `/etag/big` (3000 bytes), `/etag/own` (handler's ETag), others a small body.
struct ETag;
impl RequestHandler<App> for ETag {
    fn allowed(&self) -> Methods {
        Methods::GET.with(Methods::POST)
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        match req.path_arg("which") {
            Some("big") => resp.write(&[b'x'; 3000])?,
            Some("own") => {
                resp.set_header("ETag", b"W/\"v1\"")?;
                resp.write(b"own")?
            }
            Some("static") => resp.write_static(b"static body")?,
            _ => resp.write(b"small body")?,
        }
        Ok(())
    }
    fn post(&self, a: &mut App, l: &mut IoLoop<App>, r: Req, resp: Resp) -> HandlerResult {
        self.get(a, l, r, resp)
    }
}

/// Long polling: park the request; a timer answers every parked one 50 ms after the first.
struct Poll;
impl RequestHandler<App> for Poll {
    fn allowed(&self) -> Methods {
        Methods::GET
    }
    fn get(&self, app: &mut App, lp: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        app.waiting.push(req.conn);
        resp.defer();
        if app.waiting.len() == 1 {
            lp.call_later(Duration::from_millis(50), wake, Token(0))
                .map_err(|_| HttpError::INTERNAL)?;
        }
        Ok(())
    }
}

fn wake(app: &mut App, lp: &mut IoLoop<App>, _: Token) -> Result<(), Error> {
    let n = app.waiting.len();
    for id in std::mem::take(&mut app.waiting) {
        let r = HttpServer::finish_deferred(app, lp, id, |resp| {
            let _ = resp.write(format!("done {n}").as_bytes());
        });
        assert_eq!(r, Ok(()));
    }
    Ok(())
}

/// The connection's id, to see keep-alive reuse.
struct Conn;
impl RequestHandler<App> for Conn {
    fn allowed(&self) -> Methods {
        Methods::GET
    }
    fn get(&self, _: &mut App, _: &mut IoLoop<App>, req: Req, resp: Resp) -> HandlerResult {
        Ok(resp.write(format!("{:?}", req.conn).as_bytes())?)
    }
}

static ROUTES: [Route<App>; 19] = [
    Route::new("/", &Text("index", false)),
    Route::new("/api/ifaces/all", &Text("all ifaces", false)),
    Route::new("/api/ifaces/{name}", &Caps("iface")),
    Route::new("/api/ifaces/{name}/addr/{addr}", &Caps("addr")),
    Route::new("/first/{x}", &Caps("first")),
    Route::new("/first/{y}", &Caps("second")),
    Route::new("/static/{*path}", &Caps("static")),
    Route::new("/items/{id}", &Items),
    Route::new("/args", &ArgsH),
    Route::new("/cookies", &Cookies),
    Route::new("/inject", &Inject),
    Route::new("/json", &Json),
    Route::new("/redirect", &Redirect),
    Route::new("/error/{code}", &Fail),
    Route::new("/hooks", &Hooks),
    Route::new("/etag/{which}", &ETag),
    Route::new("/poll", &Poll),
    Route::new("/conn", &Conn),
    Route::new("/post-only", &Text("posted", true)),
];
static WEB: Application<App> = Application::new(&ROUTES);
static NO_ETAG: Application<App> = Application::new(&ROUTES).compute_etag(false);
static WITH_DEFAULT: Application<App> =
    Application::new(&ROUTES).default_handler(&Text("fallback", false));

fn server_with(web: &'static Application<App>) -> TestServer<App> {
    TestServer::start(move |http, _| App {
        http,
        web,
        waiting: Vec::new(),
    })
}

fn server() -> TestServer<App> {
    server_with(&WEB)
}

const NOT_FOUND_PAGE: &str =
    "<html><title>404: Not Found</title><body>404: Not Found</body></html>";

fn assert_no_injection(r: &TestResponse) {
    let head = r.head.to_ascii_lowercase();
    assert!(!head.contains("x-injected"), "{}", r.head);
    assert!(!head.contains("\r\n\r\n\r\n"), "{}", r.head);
    for line in r.head.split("\r\n") {
        assert!(
            !line.contains('\n') && !line.contains('\r') && !line.contains('\0'),
            "{line:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Routing.
// ---------------------------------------------------------------------------------------------

#[test]
fn routes_literal_and_captures() {
    let s = server();
    let r = s.get("/").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "index"));
    let r = s.get("/api/ifaces/eth0").unwrap();
    assert_eq!(r.text(), "iface name=eth0(eth0)");
    let r = s.get("/api/ifaces/wlan%200/addr/10.0.0.1?x=1").unwrap();
    assert_eq!(
        r.text(),
        "addr name=wlan%200(wlan 0) addr=10.0.0.1(10.0.0.1)"
    );
}

#[test]
fn routes_first_match_wins_in_table_order() {
    let s = server();
    // The literal route is listed before the capture: it wins.
    assert_eq!(s.get("/api/ifaces/all").unwrap().text(), "all ifaces");
    // Two identical patterns: only the first is ever used.
    assert_eq!(s.get("/first/a").unwrap().text(), "first x=a(a)");
}

#[test]
fn routes_tail_wildcard() {
    let s = server();
    let r = s.get("/static/css/site%20a.css").unwrap();
    assert_eq!(r.text(), "static path=css/site%20a.css(css/site a.css)");
    assert_eq!(s.get("/static/").unwrap().text(), "static path=()");
    assert_eq!(s.get("/static").unwrap().status, 404);
}

#[test]
fn routes_unsafe_captures_never_match() {
    let s = server();
    for bad in [
        "/static/../etc/passwd",
        "/static/a/%2e%2e/b",
        "/static/a%2Fb",
        "/static/a%00b",
        "/api/ifaces/..",
        "/api/ifaces/a%2fb",
        "/api/ifaces/%zz",
    ] {
        let r = s.get(bad).unwrap();
        assert_eq!(r.status, 404, "{bad}");
    }
}

#[test]
fn unknown_path_is_404_page() {
    let s = server();
    let r = s.get("/nope").unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), NOT_FOUND_PAGE);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=UTF-8"));
    assert_eq!(s.get("/API/IFACES/ALL").unwrap().status, 404);
}

#[test]
fn default_handler_serves_unknown_paths() {
    let s = server_with(&WITH_DEFAULT);
    assert_eq!(s.get("/nope/x").unwrap().text(), "fallback");
    assert_eq!(s.get("/").unwrap().text(), "index");
}

#[test]
fn unsupported_method_is_405_with_allow() {
    let s = server();
    let r = s.fetch("POST", "/items/1", &[], b"x").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, DELETE, OPTIONS"));
    assert!(r.text().contains("405: Method Not Allowed"));
    let r = s.fetch("PUT", "/", &[], b"").unwrap();
    assert_eq!(
        (r.status, r.header("Allow")),
        (405, Some("GET, HEAD, OPTIONS"))
    );
    let r = s.fetch("GET", "/post-only", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    let r = s.fetch("DELETE", "/items/1", &[], b"").unwrap();
    assert_eq!(r.status, 204);
    let r = s.fetch("TRACE", "/items/1", &[], b"").unwrap();
    assert_eq!(r.status, 405);
}

#[test]
fn head_is_served_by_get() {
    let s = server();
    let get = s.get("/etag/small").unwrap();
    let head = s.fetch("HEAD", "/etag/small", &[], b"").unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("Content-Length"), Some("10"));
    assert_eq!(head.header("ETag"), get.header("ETag"));
    // The connection is still in step afterwards (no stray body bytes).
    assert_eq!(s.get("/").unwrap().text(), "index");
}

#[test]
fn options_answers_204_with_allow() {
    let s = server();
    let r = s.fetch("OPTIONS", "/items/7", &[], b"").unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, DELETE, OPTIONS"));
    assert!(r.body.is_empty());
    assert_eq!(s.fetch("OPTIONS", "/nope", &[], b"").unwrap().status, 404);
}

#[test]
fn prepare_and_on_finish_hooks() {
    let s = server();
    let (p0, f0) = (
        PREPARED.load(Ordering::SeqCst),
        FINISHED.load(Ordering::SeqCst),
    );
    assert_eq!(s.get("/hooks").unwrap().text(), "hooked");
    let r = s.get("/hooks?deny").unwrap();
    assert_eq!(r.status, 403);
    let r = s.get("/hooks?go").unwrap();
    assert_eq!((r.status, r.header("Location")), (302, Some("/elsewhere")));
    // 405 is decided before prepare (on_finish still runs).
    assert_eq!(s.fetch("POST", "/hooks", &[], b"").unwrap().status, 405);
    assert_eq!(PREPARED.load(Ordering::SeqCst) - p0, 3);
    assert_eq!(FINISHED.load(Ordering::SeqCst) - f0, 4);
}

#[test]
fn keep_alive_connection_is_reused() {
    let s = server();
    let a = s.get("/conn").unwrap().text();
    let b = s.get("/conn").unwrap().text();
    assert_eq!(a, b);
    let mut other = s.client().unwrap();
    assert_ne!(other.get("/conn").unwrap().text(), a);
}

// ---------------------------------------------------------------------------------------------
// Arguments, cookies, JSON, redirects, errors.
// ---------------------------------------------------------------------------------------------

#[test]
fn query_arguments_decode_and_repeat() {
    let s = server();
    assert_eq!(s.get("/args").unwrap().text(), "q=none");
    let r = s
        .get("/args?q=caf%C3%A9+au+lait&tag=a&tag=b%26c&tag=")
        .unwrap();
    assert_eq!(r.text(), "q=café au lait tag=a tag=b&c tag=");
    // The last value wins, as in Tornado.
    assert_eq!(s.get("/args?q=1&q=2").unwrap().text(), "q=2");
    // Invalid escapes are rejected, not guessed.
    assert_eq!(s.get("/args?q=%zz").unwrap().status, 400);
    assert_eq!(s.get("/args?q=%C3").unwrap().status, 400);
    assert_eq!(s.get("/args?tag=%4").unwrap().status, 400);
}

#[test]
fn form_body_arguments() {
    let s = server();
    let form = "application/x-www-form-urlencoded";
    let r = s
        .post("/args?name=query", form, b"name=J%C3%BCrgen+M&x=1")
        .unwrap();
    assert_eq!(r.text(), "body=Jürgen M any=Jürgen M");
    // Not a form: the body is not parsed; the query still counts.
    let r = s
        .post("/args?name=query", "text/plain", b"name=body")
        .unwrap();
    assert_eq!(r.text(), "body=- any=query");
    assert_eq!(s.post("/args", form, b"name=%").unwrap().status, 400);
}

#[test]
fn cookies_in_and_out() {
    let s = server();
    let r = s
        .fetch(
            "GET",
            "/cookies",
            &[("Cookie", "a=1; sid=\"xyz\"; b=2")],
            b"",
        )
        .unwrap();
    assert_eq!(r.text(), "sid=xyz");
    let set: Vec<&str> = r.headers_named("Set-Cookie").collect();
    assert_eq!(
        set,
        [
            "seen=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Lax",
            "old=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
        ]
    );
    assert_eq!(s.get("/cookies").unwrap().text(), "sid=-");
}

#[test]
fn json_in_and_out() {
    let s = server();
    let r = s.get("/json").unwrap();
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(r.text(), r#"{"name":"eth0","mtu":1500,"up":true}"#);
    let r = s
        .post(
            "/json",
            "application/json",
            br#"{"name":"wlan0","mtu":1280,"up":false}"#,
        )
        .unwrap();
    assert_eq!(r.text(), r#"{"name":"wlan0","mtu":1281,"up":false}"#);
    let r = s.post("/json", "application/json", b"{\"name\":").unwrap();
    assert_eq!(r.status, 400);
    let r = s
        .post(
            "/json",
            "application/json",
            br#"{"name":"a","mtu":1,"up":true} x"#,
        )
        .unwrap();
    assert_eq!(r.status, 400);
}

#[test]
fn redirect_temporary_and_permanent() {
    let s = server();
    let r = s.get("/redirect?to=%2Flogin%3Fnext%3D%252F").unwrap();
    assert_eq!(
        (r.status, r.header("Location")),
        (302, Some("/login?next=%2F"))
    );
    assert!(r.body.is_empty());
    let r = s
        .get("/redirect?to=https%3A%2F%2Fexample.com%2F&permanent=1")
        .unwrap();
    assert_eq!(
        (r.status, r.header("Location")),
        (301, Some("https://example.com/"))
    );
}

#[test]
fn send_error_pages_and_http_errors() {
    let s = server();
    for (code, reason) in [
        (400, "Bad Request"),
        (403, "Forbidden"),
        (503, "Service Unavailable"),
    ] {
        let r = s.get(&format!("/error/{code}")).unwrap();
        assert_eq!(r.status, code);
        assert_eq!(
            r.text(),
            format!("<html><title>{code}: {reason}</title><body>{code}: {reason}</body></html>")
        );
        // The partial body is gone; fields set before the error are kept.
        assert_eq!(r.header("X-Kept"), Some("yes"));
    }
    // Not an error code: 500.
    assert_eq!(s.get("/error/200").unwrap().status, 500);
}

// ---------------------------------------------------------------------------------------------
// ETag.
// ---------------------------------------------------------------------------------------------

#[test]
fn etag_and_304() {
    let s = server();
    let r = s.get("/etag/small").unwrap();
    let tag = r.header("ETag").unwrap().to_string();
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() == 18,
        "{tag}"
    );
    assert_eq!(
        s.get("/etag/small").unwrap().header("ETag"),
        Some(tag.as_str())
    );
    for inm in [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"zz\", {tag}"),
        "*".into(),
    ] {
        let r = s
            .fetch("GET", "/etag/small", &[("If-None-Match", &inm)], b"")
            .unwrap();
        assert_eq!(r.status, 304, "{inm}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("ETag"), Some(tag.as_str()));
        assert_eq!(r.header("Content-Type"), None);
    }
    let r = s
        .fetch("GET", "/etag/small", &[("If-None-Match", "\"other\"")], b"")
        .unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "small body"));
    let r = s
        .fetch("HEAD", "/etag/small", &[("If-None-Match", &tag)], b"")
        .unwrap();
    assert_eq!(r.status, 304);
    // The connection is still usable after the 304s.
    assert_eq!(s.get("/").unwrap().text(), "index");
}

#[test]
fn etag_handler_set_tag_is_checked() {
    let s = server();
    let r = s.get("/etag/own").unwrap();
    assert_eq!(r.header("ETag"), Some("W/\"v1\""));
    let r = s
        .fetch("GET", "/etag/own", &[("If-None-Match", "\"v1\"")], b"")
        .unwrap();
    assert_eq!(r.status, 304);
}

#[test]
fn no_etag_on_large_static_or_non_get_responses() {
    let s = server();
    let r = s.get("/etag/big").unwrap();
    assert_eq!((r.status, r.body.len()), (200, 3000));
    assert_eq!(r.header("ETag"), None);
    assert_eq!(s.get("/etag/static").unwrap().header("ETag"), None);
    let r = s.post("/etag/small", "text/plain", b"").unwrap();
    assert_eq!((r.status, r.header("ETag")), (200, None));
    let r = s.get("/error/404").unwrap();
    assert_eq!(r.header("ETag"), None);
    let s = server_with(&NO_ETAG);
    assert_eq!(s.get("/etag/small").unwrap().header("ETag"), None);
}

// ---------------------------------------------------------------------------------------------
// Header injection: every API that writes a field refuses CR, LF, NUL and friends.
// ---------------------------------------------------------------------------------------------

#[test]
fn header_injection_is_rejected_everywhere() {
    let s = server();
    for payload in [
        "a%0D%0AX-Injected:%201",
        "a%0AX-Injected:%201",
        "a%0DX-Injected:%201",
        "a%00X-Injected",
        "a%0Bb",
        "a%7F",
        "%0D%0A%0D%0AX-Injected",
    ] {
        let r = s.get(&format!("/inject?v={payload}")).unwrap();
        assert_eq!(r.status, 200, "{payload}");
        for line in r.text().lines() {
            assert!(!line.ends_with(": ok"), "{payload}: {line}");
        }
        assert_no_injection(&r);
        assert_eq!(r.header("Set-Cookie"), None, "{payload}");
        assert_eq!(r.header("Location"), None, "{payload}");
        assert_eq!(r.header("X-T"), None, "{payload}");
    }
    // A benign value goes through every API.
    let r = s.get("/inject?v=fine").unwrap();
    assert!(
        r.text().lines().all(|l| l.ends_with(": ok")),
        "{}",
        r.text()
    );
    // Raw CR/LF in the request line never reaches a handler.
    let raw = b"GET /inject?v=a\r\nX-Injected: 1 HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut c = s.client().unwrap();
    c.send(raw).unwrap();
    let r = c.read_response(false).unwrap();
    assert_eq!(r.status, 400);
    assert_no_injection(&r);
}

#[test]
fn response_error_for_bad_header_reported_to_handler() {
    // The same checks without a socket, naming the error each API returns.
    let mut buf = [0u8; 4096];
    let mut r = Response::new(&mut buf).unwrap();
    assert_eq!(
        redirect(&mut r, "/x\r\nA: b", true),
        Err(ResponseError::InvalidHeaderValue)
    );
    let e = set_cookie(&mut r, "n", "v", &CookieAttrs::new().path(Some("/\n")));
    assert!(e.is_err());
}

// ---------------------------------------------------------------------------------------------
// Deferred responses (long polling) through the Application.
// ---------------------------------------------------------------------------------------------

#[test]
fn long_poll_answered_from_a_timer() {
    let s = server();
    let mut a = s.client().unwrap();
    let mut b = s.client().unwrap();
    let t0 = std::time::Instant::now();
    a.send(&build_request("GET", "/poll", &[], b"")).unwrap();
    b.send(&build_request("GET", "/poll", &[], b"")).unwrap();
    let ra = a.read_response(false).unwrap();
    let rb = b.read_response(false).unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(45));
    assert_eq!((ra.status, ra.text().as_str()), (200, "done 2"));
    assert_eq!(rb.text(), "done 2");
    // Deferred responses skip the ETag step.
    assert_eq!(ra.header("ETag"), None);
    // The connection carries on: a request pipelined behind a parked one is answered after it.
    let mut two = build_request("GET", "/poll", &[], b"");
    two.extend(build_request("GET", "/", &[], b""));
    a.send(&two).unwrap();
    assert_eq!(a.read_response(false).unwrap().text(), "done 1");
    assert_eq!(a.read_response(false).unwrap().text(), "index");
}

#[test]
fn testing_harness_url_and_raw_request() {
    let s = server();
    assert!(s.url("/x").starts_with("http://127.0.0.1:"));
    assert!(s.url("/x").ends_with("/x"));
    let r = s.request(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "index"));
    // HTTP/1.0 without keep-alive closes: the next request opens a new connection.
    assert_eq!(s.get("/").unwrap().text(), "index");
}
