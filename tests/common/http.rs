//! Shared helpers of `tests/http_server.rs` and `tests/http_clients.rs`, included by both with
//! `#[path = "common/http.rs"] mod http_common;`.
//!
//! * [`HelloWorld`] (from `firmware.rs`): the real `examples/hello_world` firmware binary as a
//!   child process (SIGTERM then kill on drop; started through `EDGELOOP_TEST_RUNNER` under QEMU
//!   user emulation).
//! * [`TestServer`]: [`TestApp`] in an in-process [`edgeloop_testing::TestServer`] (its own
//!   thread, stopped through the loop's `Remote` on drop).
//! * [`Client`]: a blocking HTTP/1.1 test client on one socket that keeps the bytes it has read
//!   past a response (pipelining), with a deadline on every operation.
//!
//! Only 127.0.0.1 is ever used.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edgeloop::http::Method;
use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
use edgeloop::ioloop::{Error, IoLoop, Token};
use edgeloop::tcpserver::ConnId;

// ---------------------------------------------------------------------------------------------
// Environment.
// ---------------------------------------------------------------------------------------------

#[path = "firmware.rs"]
mod firmware;
// Each including test uses its own subset.
#[allow(unused_imports)]
pub use firmware::{HelloWorld, emulated, raise_nofile, runner, secs, serial};

/// Whether `prog` can be run (found on `PATH`).
pub fn have_program(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

// ---------------------------------------------------------------------------------------------
// The in-process application.
// ---------------------------------------------------------------------------------------------

/// Size of the static body served zero-copy by `/_/static`.
pub const BIG_LEN: usize = 256 * 1024;

const fn big_body() -> [u8; BIG_LEN] {
    let mut a = [0u8; BIG_LEN];
    let mut i = 0;
    while i < BIG_LEN {
        a[i] = (i as u8) ^ ((i >> 8) as u8).wrapping_mul(31) ^ ((i >> 16) as u8).wrapping_mul(7);
        i += 1;
    }
    a
}

/// The static body of `/_/static` (in rodata, sent by reference).
pub static BIG: [u8; BIG_LEN] = big_body();

/// Delay of `/_/defer` when its query is not a number of milliseconds.
pub const DEFER_MS: u64 = 200;

/// FNV-1a 64 of `name:value\n` for each header, in order: the digest `/echo` reports in
/// `X-Header-Digest`, which the tests compute on their side too.
pub fn header_digest<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (name, value) in headers {
        eat(name.as_bytes());
        eat(b":");
        eat(value);
        eat(b"\n");
    }
    h
}

/// The test application. Routes (all under `/_/`, which the generated paths of the property
/// tests never produce):
///
/// * `/_/remote`: the body is `req.remote` (`ip` only) or `none`;
/// * `/_/headers`: one `name: value` line per request header;
/// * `/_/query`: the body is the query string;
/// * `/_/static`: [`BIG`] through `write_static` (zero-copy);
/// * `/_/defer[?ms]`: parked, answered `deferred:<query>` from a timer via
///   `HttpServer::finish_deferred`;
/// * `/_/defer-busy`: parked, answered `503` from a timer;
/// * `/_/status?N`: answered with status `N`;
/// * `/_/toobig`: writes more than the write buffer (the server must answer 500);
/// * `/_/inject`: tries header injection through `set_header`; the body holds the errors;
/// * `/_/close`: asks for the connection to close;
/// * `/_/ignore`: ignores the request body, answers `ignored`;
/// * `/_/stats`: the server's counters;
/// * anything else: the echo: the body is the request body; `X-Method`, `X-Path`, `X-Query`,
///   `X-Body-Len`, `X-Header-Count` and `X-Header-Digest` describe the request.
pub struct TestApp {
    http: HttpServer<TestApp>,
}

fn finish_deferred(app: &mut TestApp, lp: &mut IoLoop<TestApp>, t: Token) -> Result<(), Error> {
    HttpServer::finish_deferred(app, lp, ConnId::from_token(t), |r| {
        let _ = r.set_header("Content-Type", b"text/plain");
        let _ = r.write(b"deferred");
    })
}

fn finish_deferred_busy(
    app: &mut TestApp,
    lp: &mut IoLoop<TestApp>,
    t: Token,
) -> Result<(), Error> {
    HttpServer::finish_deferred(app, lp, ConnId::from_token(t), |r| {
        let _ = r.set_status(503);
        let _ = r.write(b"busy");
    })
}

impl HttpApp for TestApp {
    fn http(&mut self) -> &mut HttpServer<TestApp> {
        &mut self.http
    }

    fn on_request(&mut self, lp: &mut IoLoop<TestApp>, req: &Request<'_>, resp: &mut Response<'_>) {
        let _ = resp.set_header("Content-Type", b"text/plain");
        match req.path {
            "/_/remote" => {
                let _ = match req.remote {
                    Some(a) => write!(resp, "{}", a.ip()),
                    None => write!(resp, "none"),
                };
            }
            "/_/headers" => {
                for h in req.headers {
                    let _ = resp.write(h.name.as_bytes());
                    let _ = resp.write(b": ");
                    let _ = resp.write(h.value);
                    let _ = resp.write(b"\n");
                }
            }
            "/_/query" => {
                let _ = resp.write(req.query.as_bytes());
            }
            "/_/static" => {
                let _ = resp.set_header("Content-Type", b"application/octet-stream");
                let _ = resp.write_static(&BIG);
            }
            "/_/defer" => {
                let ms = req.query.parse().unwrap_or(DEFER_MS);
                match lp.call_later(Duration::from_millis(ms), finish_deferred, req.conn.token()) {
                    Ok(_) => resp.defer(),
                    Err(_) => {
                        let _ = resp.set_status(503);
                    }
                }
            }
            "/_/defer-busy" => {
                let ms = Duration::from_millis(DEFER_MS);
                match lp.call_later(ms, finish_deferred_busy, req.conn.token()) {
                    Ok(_) => resp.defer(),
                    Err(_) => {
                        let _ = resp.set_status(500);
                    }
                }
            }
            "/_/status" => {
                let _ = resp.set_status(req.query.parse().unwrap_or(500));
            }
            "/_/toobig" => {
                let chunk = [b'x'; 1024];
                // Carry on after the error, as a careless handler would: the server must turn
                // the response into a 500, never send a truncated body.
                while resp.write(&chunk).is_ok() {}
                let _ = resp.write(&chunk);
            }
            "/_/inject" => {
                let a = resp.set_header("X", b"a\r\nSet-Cookie: x");
                let b = resp.add_header("X-Inject", b"v\nSet-Cookie: y=1");
                let c = resp.set_header("X-Bad\r\nSet-Cookie", b"z");
                let d = resp.set_header("Content-Length", b"0");
                let _ = write!(resp, "set_header: {a:?}\nadd_header: {b:?}\nname: {c:?}\n");
                let _ = writeln!(resp, "managed: {d:?}");
                if let Err(e) = a {
                    let _ = writeln!(resp, "error text: {e}");
                }
            }
            "/_/close" => {
                resp.close_connection();
                let _ = resp.write(b"closing");
            }
            "/_/ignore" => {
                let _ = resp.write(b"ignored");
            }
            "/_/stats" => {
                let s = self.http.stats();
                let t = self.http.tcp_stats();
                let _ = write!(
                    resp,
                    "requests={} responses_4xx={} responses_5xx={} timeouts={} evictions={} \
                     accepted={} active={} rejected={} parked={}",
                    s.requests,
                    s.responses_4xx,
                    s.responses_5xx,
                    s.timeouts,
                    s.evictions,
                    t.accepted,
                    t.active,
                    t.rejected,
                    t.parked
                );
            }
            _ => {
                let _ = resp.set_header("X-Method", req.method.as_str().as_bytes());
                let _ = resp.set_header("X-Path", req.path.as_bytes());
                let _ = resp.set_header("X-Query", req.query.as_bytes());
                let mut n = String::new();
                let _ = write!(n, "{}", req.body.len());
                let _ = resp.set_header("X-Body-Len", n.as_bytes());
                n.clear();
                let _ = write!(n, "{}", req.headers.len());
                let _ = resp.set_header("X-Header-Count", n.as_bytes());
                n.clear();
                let digest = header_digest(req.headers.iter().map(|h| (h.name, h.value)));
                let _ = write!(n, "{digest:016x}");
                let _ = resp.set_header("X-Header-Digest", n.as_bytes());
                let _ = resp.set_header("Content-Type", b"application/octet-stream");
                if req.method != Method::Head {
                    let _ = resp.write(req.body);
                }
            }
        }
    }
}

/// How an in-process server is built.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Connection slots.
    pub slots: usize,
    /// Bytes per pool buffer (each busy connection holds a read and a write buffer).
    pub buffer_size: usize,
    /// Buffers in the pool (at most `edgeloop::config::MAX_BUFFERS`).
    pub buffers: usize,
    /// `HttpServer::set_xheaders`.
    pub xheaders: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            slots: 64,
            buffer_size: 16 * 1024,
            buffers: 64,
            xheaders: false,
        }
    }
}

impl Config {
    /// 2048-byte buffers: smaller than `MAX_HEAD_BYTES`, for the 413 and 431 paths.
    pub fn small() -> Config {
        Config {
            buffer_size: 2048,
            ..Config::default()
        }
    }
}

/// An in-process server on 127.0.0.1 running [`TestApp`] on its own thread (an
/// [`edgeloop_testing::TestServer`]: stopped through its `Remote` on drop, every connection
/// closed).
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    _server: edgeloop_testing::TestServer<TestApp>,
}

impl TestServer {
    /// Starts a server with the default [`Config`].
    pub fn start() -> TestServer {
        TestServer::with(Config::default())
    }

    /// Starts a server built as `cfg` says.
    pub fn with(cfg: Config) -> TestServer {
        TestServer::try_with(cfg).unwrap_or_else(|e| panic!("the server did not start: {e}"))
    }

    /// Starts a server built as `cfg` says, or says why `listen` refused it.
    pub fn try_with(cfg: Config) -> Result<TestServer, String> {
        assert!(cfg.buffers <= edgeloop::config::MAX_BUFFERS);
        let sizes = edgeloop_testing::TestConfig {
            slots: cfg.slots,
            buffers: cfg.buffers,
            buffer_size: cfg.buffer_size,
        };
        let server = edgeloop_testing::TestServer::try_start_with(sizes, move |mut http, _| {
            http.set_xheaders(cfg.xheaders);
            TestApp { http }
        })?;
        Ok(TestServer {
            addr: server.addr(),
            _server: server,
        })
    }

    /// A new client connection.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's counters, as `/_/stats` reports them (`name=value` pairs).
    pub fn stats(&self) -> Vec<(String, u64)> {
        let mut c = self.client();
        let r = c.request("GET /_/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_eq!(r.status, 200);
        r.text()
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.parse().expect("counter")))
            .collect()
    }

    /// One counter of [`stats`](Self::stats).
    pub fn stat(&self, name: &str) -> u64 {
        self.stats()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no counter {name}"))
    }
}

// ---------------------------------------------------------------------------------------------
// The client.
// ---------------------------------------------------------------------------------------------

/// A parsed response.
#[derive(Clone, Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// The status line, without CRLF.
    pub status_line: String,
    /// Header fields in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The whole response as received (head and body).
    pub raw: Vec<u8>,
}

impl Resp {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header named `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The head as text.
    pub fn head_text(&self) -> String {
        let n = self.raw.len() - self.body.len();
        String::from_utf8_lossy(&self.raw[..n]).into_owned()
    }

    /// Whether the response says `Connection: close`.
    pub fn says_close(&self) -> bool {
        self.header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// End of stream (FIN).
    Eof,
    /// Reset by the peer.
    Reset,
}

/// A blocking client on one connection.
pub struct Client {
    /// The socket.
    pub s: TcpStream,
    buf: Vec<u8>,
    /// Bound on each read or write operation.
    pub timeout: Duration,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Client {
    /// Connects to `addr` (TCP_NODELAY on).
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect_timeout(&addr, secs(5.0))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_nodelay(true).expect("nodelay");
        let timeout = secs(10.0);
        s.set_write_timeout(Some(timeout)).expect("write timeout");
        Client {
            s,
            buf: Vec::new(),
            timeout,
        }
    }

    /// Sends all of `data`.
    pub fn send(&mut self, data: impl AsRef<[u8]>) {
        self.s.write_all(data.as_ref()).expect("send");
    }

    /// Sends `data` one byte per write, pausing `pause` after each.
    pub fn send_bytewise(&mut self, data: &[u8], pause: Duration) {
        for b in data {
            self.s.write_all(std::slice::from_ref(b)).expect("send");
            if !pause.is_zero() {
                thread::sleep(pause);
            }
        }
    }

    /// Reads more bytes into the buffer before `deadline`: `Ok(n)` (0 at end of stream).
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(ErrorKind::TimedOut, "deadline passed"));
        }
        self.s.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.s.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock) => {
                    return Err(io::Error::new(ErrorKind::TimedOut, "read timed out"));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads one response; `head_only` for the answer to a HEAD request (no body follows).
    pub fn try_read_response(&mut self, head_only: bool) -> Result<Resp, String> {
        let deadline = Instant::now() + self.timeout;
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p + 4;
            }
            match self.fill(deadline) {
                Ok(0) => {
                    return Err(format!(
                        "end of stream before a complete response head; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(format!(
                        "{e} before a complete response head; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ));
                }
            }
        };
        let head = String::from_utf8(self.buf[..head_end - 4].to_vec())
            .map_err(|_| "response head is not UTF-8".to_owned())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let mut headers = Vec::new();
        for l in lines {
            let (n, v) = l
                .split_once(':')
                .ok_or_else(|| format!("bad header line {l:?} in {head:?}"))?;
            headers.push((n.to_owned(), v.trim().to_owned()));
        }
        let cl = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse::<usize>())
            .transpose()
            .map_err(|_| format!("bad Content-Length in {head:?}"))?;
        let no_body = head_only || (100..200).contains(&status) || status == 204 || status == 304;
        let body_len = if no_body {
            0
        } else if let Some(n) = cl {
            n
        } else {
            // Delimited by the end of the connection.
            loop {
                match self.fill(deadline) {
                    Ok(0) => break self.buf.len() - head_end,
                    Ok(_) => {}
                    Err(e) => return Err(format!("{e} reading a close-delimited body")),
                }
            }
        };
        while self.buf.len() < head_end + body_len {
            match self.fill(deadline) {
                Ok(0) => {
                    return Err(format!(
                        "end of stream after {} of {body_len} body bytes",
                        self.buf.len() - head_end
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(format!(
                        "{e} after {} of {body_len} body bytes",
                        self.buf.len() - head_end
                    ));
                }
            }
        }
        let raw: Vec<u8> = self.buf.drain(..head_end + body_len).collect();
        Ok(Resp {
            status,
            status_line,
            headers,
            body: raw[head_end..].to_vec(),
            raw,
        })
    }

    /// Reads one response or panics.
    pub fn read_response(&mut self) -> Resp {
        self.try_read_response(false)
            .unwrap_or_else(|e| panic!("reading a response: {e}"))
    }

    /// Reads the response to a HEAD request.
    pub fn read_head_response(&mut self) -> Resp {
        self.try_read_response(true)
            .unwrap_or_else(|e| panic!("reading a HEAD response: {e}"))
    }

    /// Sends `req` and reads its response.
    pub fn request(&mut self, req: impl AsRef<[u8]>) -> Resp {
        self.send(req);
        self.read_response()
    }

    /// Waits for the server to end the connection, within the client's timeout. Bytes that
    /// arrive first are returned in the error.
    pub fn try_wait_closed(&mut self) -> Result<Ended, String> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if !self.buf.is_empty() {
                return Err(format!(
                    "unexpected bytes before the close: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
            match self.fill(deadline) {
                Ok(0) => return Ok(Ended::Eof),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(Ended::Reset),
                Err(e) => return Err(format!("connection still open: {e}")),
            }
        }
    }

    /// Asserts that the server ends the connection (FIN or reset) and sends nothing more.
    pub fn expect_closed(&mut self) {
        if let Err(e) = self.try_wait_closed() {
            panic!("expected the server to close the connection: {e}");
        }
    }

    /// Asserts that nothing arrives within `d` and the connection stays open.
    pub fn expect_silence(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        match self.fill(deadline) {
            Err(e) if e.kind() == ErrorKind::TimedOut => {}
            Ok(0) => panic!("the server closed the connection"),
            Ok(_) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&self.buf)),
            Err(e) => panic!("connection failed: {e}"),
        }
    }

    /// Bytes read and not yet returned.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Half-closes the sending side.
    pub fn shutdown_write(&mut self) {
        let _ = self.s.shutdown(Shutdown::Write);
    }
}

/// One request on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.request(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"))
}

// ---------------------------------------------------------------------------------------------
// Dates.
// ---------------------------------------------------------------------------------------------

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) strictly, weekday checked; returns
/// seconds since the Unix epoch.
pub fn parse_imf_fixdate(s: &str) -> Option<i64> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = s.as_bytes();
    if b.len() != 29 || &s[3..5] != ", " || &s[25..] != " GMT" {
        return None;
    }
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    let day = num(5..7)?;
    let month = MONTHS.iter().position(|&m| m == &s[8..11])? as i64 + 1;
    let year = num(12..16)?;
    let (hh, mm, ss) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if DAYS[days.rem_euclid(7) as usize] != &s[..3] {
        return None;
    }
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
