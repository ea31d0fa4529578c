//! `web::websocket` over real sockets: an in-process `HttpServer` (`edgeloop_testing`) with a
//! `WebSockets` table, against the `tungstenite` client (blocking, std `TcpStream`) and raw
//! frames written here for what a well-behaved client never sends (unmasked frames, lies about
//! lengths). Endpoints are reached from `on_request` and through a web `Application` route.
//!
//! Run with `cargo test -p edgeloop-websocket-tests` (its own package: see its Cargo.toml).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response, Upgraded};
use edgeloop::ioloop::{Error, IoLoop, Token};
use edgeloop::tcpserver::ConnId;
use edgeloop::web::websocket::{
    CloseCode, MAX_MESSAGE_BYTES, MAX_WEBSOCKETS, Message, Settings, WebSocketApp,
    WebSocketHandler, WebSocketRoute, WebSockets, offered_subprotocols,
};
use edgeloop::web::{Application, Route};
use edgeloop_testing::{TestConfig, TestServer};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode as TCode, Data, OpCode};

// ---------------------------------------------------------------------------------------------
// The server.
// ---------------------------------------------------------------------------------------------

type Log = Arc<Mutex<Vec<String>>>;

/// `ms` milliseconds, stretched tenfold under QEMU user emulation (`EDGELOOP_TEST_RUNNER`).
fn ms(ms: u64) -> Duration {
    let slow = std::env::var_os("EDGELOOP_TEST_RUNNER").is_some_and(|r| !r.is_empty());
    Duration::from_millis(if slow { ms * 10 } else { ms })
}

struct App {
    http: HttpServer<App>,
    ws: WebSockets<App>,
    log: Log,
}

impl App {
    fn log(&self, s: String) {
        self.log.lock().unwrap().push(s);
    }
}

impl WebSocketApp for App {
    fn websockets(&mut self) -> &mut WebSockets<App> {
        &mut self.ws
    }
}

fn code_str(code: Option<u16>) -> String {
    code.map_or("none".into(), |c| c.to_string())
}

/// Echoes every message; `bye` makes the server close (1000, "done").
struct Echo;

impl WebSocketHandler<App> for Echo {
    fn on_message(app: &mut App, lp: &mut IoLoop<App>, conn: ConnId, msg: Message<'_>) {
        if msg == Message::Text("bye") {
            let r = WebSockets::close(app, lp, conn, Some(CloseCode::NORMAL), "done");
            assert_eq!(r, Ok(()));
            return;
        }
        if let Err(e) = WebSockets::write_message(app, lp, conn, msg) {
            app.log(format!("write error {e}"));
        }
    }
    fn on_pong(app: &mut App, _: &mut IoLoop<App>, _: ConnId, data: &[u8]) {
        app.log(format!("pong {}", data.len()));
    }
    fn on_close(app: &mut App, _: &mut IoLoop<App>, _: ConnId, code: Option<u16>) {
        app.log(format!("close {}", code_str(code)));
    }
}

/// Greets on open (from the callback and, 30 ms later, from a timer), picks `chat`.
struct Greeter;

fn later(app: &mut App, lp: &mut IoLoop<App>, t: Token) -> Result<(), Error> {
    let conn = ConnId::from_token(t);
    let _ = WebSockets::write_message(app, lp, conn, Message::Text("from a timer"));
    Ok(())
}

impl WebSocketHandler<App> for Greeter {
    fn select_subprotocol(_: &mut App, req: &Request<'_>) -> Option<&'static str> {
        offered_subprotocols(req)
            .any(|p| p == b"chat")
            .then_some("chat")
    }
    fn on_open(app: &mut App, lp: &mut IoLoop<App>, conn: ConnId, req: &Request<'_>) {
        let _ = WebSockets::write_message(app, lp, conn, Message::Text("welcome"));
        let q = req.query.as_bytes().to_vec();
        let _ = WebSockets::write_message(app, lp, conn, Message::Binary(&q));
        lp.call_later(Duration::from_millis(30), later, conn.token())
            .unwrap();
    }
    fn on_message(_: &mut App, _: &mut IoLoop<App>, _: ConnId, _: Message<'_>) {}
}

/// Relays every message to every open connection; accepts any origin.
struct Chat;

impl WebSocketHandler<App> for Chat {
    fn check_origin(_: &mut App, _: &Request<'_>, _: &[u8]) -> bool {
        true
    }
    fn on_message(app: &mut App, lp: &mut IoLoop<App>, _: ConnId, msg: Message<'_>) {
        let n = WebSockets::broadcast(app, lp, msg);
        app.log(format!("broadcast {n}"));
    }
}

impl HttpApp for App {
    fn http(&mut self) -> &mut HttpServer<App> {
        &mut self.http
    }

    fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
        if req.path.starts_with("/app/") {
            WEB.dispatch(self, lp, req, resp);
            return;
        }
        let r = match req.path {
            "/echo" => WebSockets::accept::<Echo>(self, lp, req, resp),
            "/greet" => WebSockets::accept::<Greeter>(self, lp, req, resp),
            "/chat" => WebSockets::accept::<Chat>(self, lp, req, resp),
            _ => {
                let _ = resp.write(b"plain");
                return;
            }
        };
        if let Err(e) = r {
            self.log(format!("refused {}", e.status()));
        }
    }

    fn on_upgraded(&mut self, lp: &mut IoLoop<App>, conn: ConnId, io: &mut Upgraded<'_>) {
        if !WebSockets::on_upgraded(self, lp, conn, io) {
            io.close();
        }
    }

    fn on_close(&mut self, lp: &mut IoLoop<App>, conn: ConnId) {
        WebSockets::on_close(self, lp, conn);
    }
}

static ECHO_ROUTE: WebSocketRoute<Echo> = WebSocketRoute::new();
static ROUTES: [Route<App>; 1] = [Route::new("/app/echo", &ECHO_ROUTE)];
static WEB: Application<App> = Application::new(&ROUTES);

struct Server {
    srv: TestServer<App>,
    addr: SocketAddr,
    log: Log,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log has an entry equal to `what`.
    fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + ms(5000);
        while !self.log().iter().any(|l| l == what) {
            assert!(
                Instant::now() < deadline,
                "never logged {what:?}: {:?}",
                self.log()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

fn start(settings: Settings) -> Server {
    let log: Log = Arc::default();
    let log2 = log.clone();
    let cfg = TestConfig {
        slots: MAX_WEBSOCKETS + 8,
        ..TestConfig::default()
    };
    let srv = TestServer::start_with(cfg, move |http, _| App {
        http,
        ws: WebSockets::new(settings),
        log: log2,
    });
    Server {
        addr: srv.addr(),
        srv,
        log,
    }
}

// ---------------------------------------------------------------------------------------------
// Clients.
// ---------------------------------------------------------------------------------------------

type Ws = tungstenite::WebSocket<TcpStream>;

fn connect(url: &str) -> Ws {
    connect_req(url, &[]).0
}

fn connect_req(
    url: &str,
    headers: &[(&'static str, &str)],
) -> (Ws, tungstenite::handshake::client::Response) {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    let host = req.uri().authority().unwrap().as_str().to_owned();
    let s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(ms(5000))).unwrap();
    let (ws, resp) = tungstenite::client(req, s).unwrap();
    (ws, resp)
}

/// Reads until a close frame; returns its code (`None` for an empty one).
fn read_close(ws: &mut Ws) -> Option<u16> {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(f)) => return f.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

/// After a close frame: the connection ends (tungstenite answers the close itself).
fn assert_ends(ws: &mut Ws) {
    match ws.read() {
        Err(
            tungstenite::Error::ConnectionClosed
            | tungstenite::Error::AlreadyClosed
            | tungstenite::Error::Io(_),
        ) => {}
        Ok(m) => panic!("message after close: {m:?}"),
        Err(e) => panic!("unexpected error {e}"),
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A raw HTTP request; returns the socket and the response head (read byte by byte, so no
/// frame after it is taken).
fn raw_request(addr: SocketAddr, head: impl AsRef<[u8]>) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(ms(5000))).unwrap();
    s.write_all(head.as_ref()).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "closed: {got:?}");
        got.push(b[0]);
    }
    (s, String::from_utf8(got).unwrap())
}

fn upgrade_head(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn raw_ws(addr: SocketAddr, path: &str) -> TcpStream {
    let (s, head) = raw_request(addr, upgrade_head(path, ""));
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    s
}

fn raw_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut v = vec![first];
    let m = if mask.is_some() { 0x80 } else { 0 };
    if payload.len() < 126 {
        v.push(m | payload.len() as u8);
    } else if payload.len() <= 0xffff {
        v.push(m | 126);
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    } else {
        v.push(m | 127);
        v.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    }
    let mut p = payload.to_vec();
    if let Some(k) = mask {
        v.extend_from_slice(&k);
        for (i, b) in p.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    v.extend_from_slice(&p);
    v
}

/// Reads one server frame: (first byte, payload). Server frames are never masked.
fn read_raw_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are unmasked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut e = [0u8; 2];
            s.read_exact(&mut e).unwrap();
            u16::from_be_bytes(e) as usize
        }
        127 => {
            let mut e = [0u8; 8];
            s.read_exact(&mut e).unwrap();
            u64::from_be_bytes(e) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).unwrap();
    (h[0], p)
}

/// Reads frames up to a close frame and returns its payload; then expects end of stream.
fn read_raw_close(s: &mut TcpStream) -> Vec<u8> {
    loop {
        let (b0, p) = read_raw_frame(s);
        if b0 == 0x88 {
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            assert!(rest.is_empty(), "bytes after close: {rest:?}");
            return p;
        }
    }
}

const MASK: Option<[u8; 4]> = Some([0x0f, 0xf0, 0xaa, 0x55]);

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn handshake_and_echo_text_and_binary() {
    let srv = start(Settings::DEFAULT);
    let (mut ws, resp) = connect_req(&srv.url("/echo"), &[]);
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["upgrade"], "websocket");
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
    for m in [
        tungstenite::Message::text("hello"),
        tungstenite::Message::text("héllo wörld ✓"),
        tungstenite::Message::text(""),
        tungstenite::Message::binary(vec![0u8, 1, 2, 255]),
        tungstenite::Message::binary(vec![7u8; 200]),
        tungstenite::Message::binary(vec![9u8; 1000]),
        tungstenite::Message::text("x".repeat(MAX_MESSAGE_BYTES)),
    ] {
        ws.send(m.clone()).unwrap();
        assert_eq!(ws.read().unwrap(), m);
    }
    ws.close(None).unwrap();
    assert_eq!(read_close(&mut ws), None, "an empty close is echoed empty");
    assert_ends(&mut ws);
    srv.wait_for("close none");
}

#[test]
fn exact_rfc_accept_value_and_first_bytes_with_the_request() {
    let srv = start(Settings::DEFAULT);
    // A frame sent in the same packet as the upgrade request is read after the 101.
    let mut req = upgrade_head("/echo", "").into_bytes();
    req.extend(raw_frame(0x81, b"early", MASK));
    let (mut s, head) = raw_request(srv.addr, &req);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Upgrade: websocket\r\nConnection: Upgrade\r\n"),
        "{head}"
    );
    assert_eq!(read_raw_frame(&mut s), (0x81, b"early".to_vec()));
}

#[test]
fn many_small_messages_in_one_packet_are_all_answered_in_order() {
    let srv = start(Settings::DEFAULT);
    let mut s = raw_ws(srv.addr, "/echo");
    let mut burst = Vec::new();
    for i in 0..200 {
        burst.extend(raw_frame(0x81, format!("m{i:03}").as_bytes(), MASK));
    }
    s.write_all(&burst).unwrap();
    for i in 0..200 {
        assert_eq!(
            read_raw_frame(&mut s),
            (0x81, format!("m{i:03}").into_bytes())
        );
    }
}

#[test]
fn fragmented_messages_with_interleaved_control_frames() {
    let srv = start(Settings::DEFAULT);
    let mut ws = connect(&srv.url("/echo"));
    let text = OpCode::Data(Data::Text);
    let cont = OpCode::Data(Data::Continue);
    ws.write(tungstenite::Message::Frame(Frame::message(
        &b"frag"[..],
        text,
        false,
    )))
    .unwrap();
    ws.write(tungstenite::Message::Frame(Frame::message(
        &b"men"[..],
        cont,
        false,
    )))
    .unwrap();
    ws.write(tungstenite::Message::Ping(b"mid".to_vec().into()))
        .unwrap();
    // A UTF-8 sequence split across fragments.
    ws.write(tungstenite::Message::Frame(Frame::message(
        &b"ted \xc3"[..],
        cont,
        false,
    )))
    .unwrap();
    ws.write(tungstenite::Message::Frame(Frame::message(
        &b"\xa9"[..],
        cont,
        true,
    )))
    .unwrap();
    ws.flush().unwrap();
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::Pong(b"mid".to_vec().into())
    );
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::text("fragmented é")
    );
    // Binary in many one-byte fragments.
    let bin = OpCode::Data(Data::Binary);
    ws.write(tungstenite::Message::Frame(Frame::message(
        &[0u8][..],
        bin,
        false,
    )))
    .unwrap();
    for i in 1..99u8 {
        ws.write(tungstenite::Message::Frame(Frame::message(
            vec![i],
            cont,
            false,
        )))
        .unwrap();
    }
    ws.write(tungstenite::Message::Frame(Frame::message(
        vec![99u8],
        cont,
        true,
    )))
    .unwrap();
    ws.flush().unwrap();
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::binary((0..100u8).collect::<Vec<_>>())
    );
}

#[test]
fn oversized_messages_close_1009() {
    let srv = start(Settings::DEFAULT);
    // One frame over the limit: refused from its header.
    let mut ws = connect(&srv.url("/echo"));
    ws.send(tungstenite::Message::binary(vec![
        1u8;
        MAX_MESSAGE_BYTES + 1
    ]))
    .unwrap();
    assert_eq!(read_close(&mut ws), Some(1009));
    srv.wait_for("close 1009");
    // Fragments that add up to more than the limit.
    let mut s = raw_ws(srv.addr, "/echo");
    let half = MAX_MESSAGE_BYTES / 2 + 1;
    s.write_all(&raw_frame(0x02, &vec![2u8; half], MASK))
        .unwrap();
    s.write_all(&raw_frame(0x80, &vec![2u8; half], MASK))
        .unwrap();
    assert_eq!(read_raw_close(&mut s), 1009u16.to_be_bytes());
    // A header announcing 2^40 bytes.
    let mut s = raw_ws(srv.addr, "/echo");
    let mut h = vec![0x82, 0x80 | 127];
    h.extend_from_slice(&(1u64 << 40).to_be_bytes());
    h.extend_from_slice(&[1, 2, 3, 4]);
    s.write_all(&h).unwrap();
    assert_eq!(read_raw_close(&mut s), 1009u16.to_be_bytes());
}

#[test]
fn protocol_errors_close_1002_and_bad_utf8_1007() {
    let srv = start(Settings::DEFAULT);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (raw_frame(0x81, b"unmasked", None), 1002),
        (raw_frame(0xc1, b"rsv1", MASK), 1002),
        (raw_frame(0x83, b"opcode 3", MASK), 1002),
        (raw_frame(0x09, b"fragmented ping", MASK), 1002),
        (raw_frame(0x89, &[0u8; 126], MASK), 1002),
        (raw_frame(0x80, b"continuation of nothing", MASK), 1002),
        (raw_frame(0x81, b"bad \xff utf-8", MASK), 1007),
        (raw_frame(0x88, &[0x03], MASK), 1002),
        (raw_frame(0x88, &1005u16.to_be_bytes(), MASK), 1002),
        (raw_frame(0x88, b"\x03\xe8\xff", MASK), 1007),
    ];
    for (frame, code) in cases {
        let mut s = raw_ws(srv.addr, "/echo");
        s.write_all(&frame).unwrap();
        assert_eq!(read_raw_close(&mut s), code.to_be_bytes(), "{frame:02x?}");
        srv.wait_for(&format!("close {code}"));
    }
    // Through tungstenite: invalid UTF-8 in a text frame.
    let mut ws = connect(&srv.url("/echo"));
    ws.send(tungstenite::Message::Frame(Frame::message(
        &b"\xc3\x28"[..],
        OpCode::Data(Data::Text),
        true,
    )))
    .unwrap();
    assert_eq!(read_close(&mut ws), Some(1007));
}

#[test]
fn ping_pong_from_the_client() {
    let srv = start(Settings::DEFAULT);
    let mut ws = connect(&srv.url("/echo"));
    ws.send(tungstenite::Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::Pong(b"are you there".to_vec().into())
    );
    // An unsolicited pong is fine and reaches on_pong.
    ws.send(tungstenite::Message::Pong(b"1234".to_vec().into()))
        .unwrap();
    ws.send(tungstenite::Message::text("still here")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("still here"));
    srv.wait_for("pong 4");
}

#[test]
fn close_handshake_initiated_by_the_client_echoes_the_code() {
    let srv = start(Settings::DEFAULT);
    let mut ws = connect(&srv.url("/echo"));
    ws.close(Some(CloseFrame {
        code: TCode::from(4001),
        reason: "going".into(),
    }))
    .unwrap();
    assert_eq!(read_close(&mut ws), Some(4001));
    assert_ends(&mut ws);
    srv.wait_for("close 4001");
    // Raw: an empty close is answered with an empty close, then the connection ends.
    let mut s = raw_ws(srv.addr, "/echo");
    s.write_all(&raw_frame(0x88, b"", MASK)).unwrap();
    assert_eq!(read_raw_close(&mut s), b"");
}

#[test]
fn close_handshake_initiated_by_the_server() {
    let srv = start(Settings {
        close_timeout: ms(300),
        ..Settings::DEFAULT
    });
    let mut ws = connect(&srv.url("/echo"));
    ws.send(tungstenite::Message::text("bye")).unwrap();
    match ws.read().unwrap() {
        tungstenite::Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), 1000);
            assert_eq!(f.reason.as_str(), "done");
        }
        m => panic!("{m:?}"),
    }
    assert_ends(&mut ws);
    srv.wait_for("close 1000");
    // A client that never answers the close is dropped after the close timeout, and messages
    // it sends meanwhile are not delivered.
    let mut s = raw_ws(srv.addr, "/echo");
    s.write_all(&raw_frame(0x81, b"bye", MASK)).unwrap();
    let t = Instant::now();
    let (b0, p) = read_raw_frame(&mut s);
    assert_eq!((b0, &p[..2]), (0x88, &1000u16.to_be_bytes()[..]));
    s.write_all(&raw_frame(0x81, b"ignored", MASK)).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
    let waited = t.elapsed();
    assert!(waited >= ms(250), "{waited:?}");
    assert!(waited < ms(3000), "{waited:?}");
}

#[test]
fn server_pings_keep_a_live_client_and_drop_a_silent_one() {
    let srv = start(Settings {
        ping_interval: Some(ms(80)),
        ping_timeout: Some(ms(200)),
        ..Settings::DEFAULT
    });
    // tungstenite answers pings while it reads.
    let mut ws = connect(&srv.url("/echo"));
    ws.get_ref().set_read_timeout(Some(ms(50))).unwrap();
    let mut pings = 0;
    let t = Instant::now();
    while t.elapsed() < ms(700) {
        match ws.read() {
            Ok(tungstenite::Message::Ping(_)) => pings += 1,
            Ok(m) => panic!("{m:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("dropped a live client: {e}"),
        }
    }
    assert!(pings >= 4, "{pings}");
    ws.get_ref().set_read_timeout(Some(ms(5000))).unwrap();
    ws.send(tungstenite::Message::text("alive")).unwrap();
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Ping(_) => {}
            m => {
                assert_eq!(m, tungstenite::Message::text("alive"));
                break;
            }
        }
    }
    assert!(srv.log().iter().any(|l| l == "pong 0"));
    // A client that reads nothing and answers nothing: a ping, then an empty close, then the
    // connection ends, within interval + timeout (with slack).
    let mut s = raw_ws(srv.addr, "/echo");
    let t = Instant::now();
    thread::sleep(ms(400));
    assert_eq!(read_raw_frame(&mut s), (0x89, vec![]));
    assert_eq!(read_raw_close(&mut s), b"");
    assert!(t.elapsed() < ms(3000));
    srv.wait_for("close none");
}

#[test]
fn bad_handshakes_are_refused() {
    let srv = start(Settings::DEFAULT);
    let base = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    let up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let key = format!("Sec-WebSocket-Key: {KEY}\r\n");
    let v13 = "Sec-WebSocket-Version: 13\r\n";
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        (format!("{base}{up}{v13}\r\n"), 400, None),
        (
            format!("{base}{up}{key}Sec-WebSocket-Version: 8\r\n\r\n"),
            426,
            Some("Sec-WebSocket-Version: 13"),
        ),
        (
            format!("{base}{up}{key}\r\n"),
            426,
            Some("Sec-WebSocket-Version: 13"),
        ),
        (
            format!("{base}{up}{v13}Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n"),
            400,
            None,
        ),
        (format!("{base}{up}{v13}{key}{key}\r\n"), 400, None),
        (
            format!("{base}Connection: Upgrade\r\n{key}{v13}\r\n"),
            400,
            Some("Can \"Upgrade\" only"),
        ),
        (
            format!("{base}Upgrade: websocket\r\nConnection: keep-alive\r\n{key}{v13}\r\n"),
            400,
            None,
        ),
        (
            format!("{base}{up}{key}{v13}Origin: http://evil.example\r\n\r\n"),
            403,
            Some("Cross origin"),
        ),
        (
            format!("{base}{up}{key}{v13}Origin: null\r\n\r\n"),
            403,
            None,
        ),
        (
            format!(
                "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n{up}{key}{v13}\r\n"
            ),
            405,
            None,
        ),
    ];
    for (req, status, needle) in cases {
        let (_s, head) = raw_request(srv.addr, &req);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{req}\n=> {head}"
        );
        assert!(!head.contains("Upgrade: websocket"), "{head}");
        if let Some(n) = needle {
            let mut s = _s;
            let mut body = Vec::new();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            body.resize(len, 0);
            s.read_exact(&mut body).unwrap();
            let all = format!("{head}{}", String::from_utf8_lossy(&body));
            assert!(all.contains(n), "{all}");
        }
    }
    // The same host as Origin is accepted (Tornado's default), case-insensitively, and any
    // origin by a handler that says so.
    let (_s, head) = raw_request(
        srv.addr,
        upgrade_head("/echo", "Origin: http://127.0.0.1\r\n"),
    );
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let named = upgrade_head("/echo", "Origin: https://MyDevice.LOCAL:8080\r\n")
        .replace("Host: 127.0.0.1", "Host: mydevice.local:8080");
    let (_s, head) = raw_request(srv.addr, named);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let (_s, head) = raw_request(
        srv.addr,
        upgrade_head("/chat", "Origin: http://evil.example\r\n"),
    );
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    // Case-insensitive Upgrade / Connection tokens.
    let req = format!(
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\n{key}{v13}\r\n"
    );
    let (_s, head) = raw_request(srv.addr, req);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}

#[test]
fn table_full_is_503_and_slots_come_back() {
    let srv = start(Settings::DEFAULT);
    let mut open: Vec<Ws> = (0..MAX_WEBSOCKETS)
        .map(|_| connect(&srv.url("/echo")))
        .collect();
    let (_s, head) = raw_request(srv.addr, upgrade_head("/echo", ""));
    assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
    let mut last = open.pop().unwrap();
    last.close(None).unwrap();
    assert_eq!(read_close(&mut last), None);
    assert_ends(&mut last);
    srv.wait_for("close none");
    let mut again = connect(&srv.url("/echo"));
    again.send(tungstenite::Message::text("in")).unwrap();
    assert_eq!(again.read().unwrap(), tungstenite::Message::text("in"));
    for ws in &mut open {
        ws.send(tungstenite::Message::text("ok")).unwrap();
        assert_eq!(ws.read().unwrap(), tungstenite::Message::text("ok"));
    }
}

#[test]
fn subprotocol_on_open_messages_and_timer_writes() {
    let srv = start(Settings::DEFAULT);
    let (mut ws, resp) = connect_req(
        &srv.url("/greet?room=7"),
        &[("Sec-WebSocket-Protocol", "superchat, chat")],
    );
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("welcome"));
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::binary(b"room=7".to_vec())
    );
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::text("from a timer")
    );
    // Not offered: none chosen.
    let (mut ws, resp) = connect_req(&srv.url("/greet"), &[]);
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("welcome"));
}

#[test]
fn broadcast_reaches_every_connection() {
    let srv = start(Settings::DEFAULT);
    let mut a = connect(&srv.url("/chat"));
    let mut b = connect(&srv.url("/chat"));
    let mut c = connect(&srv.url("/chat"));
    a.send(tungstenite::Message::text("hi all")).unwrap();
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(ws.read().unwrap(), tungstenite::Message::text("hi all"));
    }
    srv.wait_for("broadcast 3");
    // A plain HTTP request on the same server still works.
    let r = srv.srv.get("/").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"plain"[..]));
}

#[test]
fn websocket_route_in_a_web_application() {
    let srv = start(Settings::DEFAULT);
    let mut ws = connect(&srv.url("/app/echo"));
    ws.send(tungstenite::Message::text("routed")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("routed"));
    ws.close(None).unwrap();
    assert_eq!(read_close(&mut ws), None);
    assert_ends(&mut ws);
    srv.wait_for("close none");
    // Refusals come from the handshake, through the route.
    let head = upgrade_head("/app/echo", "").replace("Version: 13", "Version: 8");
    let (_s, head) = raw_request(srv.addr, head);
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
    let r = srv.srv.fetch("POST", "/app/echo", &[], b"").unwrap();
    assert_eq!(r.status, 405);
}
