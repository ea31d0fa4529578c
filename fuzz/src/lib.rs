//! Shared pieces of the edgeloop fuzz targets (`fuzz_targets/*.rs`):
//!
//! * [`Cursor`] and [`split_sizes`]: turning the fuzzer's bytes into structure (operations,
//!   lengths, the sizes of the writes a stream is cut into);
//! * [`Server`]: one in-process [`HttpServer`] per fuzzing process on 127.0.0.1, driven by
//!   `run_once(.., Some(Duration::ZERO))` steps on the fuzzing thread itself (no second thread,
//!   so every input is deterministic up to the kernel's socket behaviour);
//! * [`Peer`]: a non-blocking client socket whose writes and reads interleave with loop steps;
//! * [`check_stream`]: the wire-format invariants every byte stream the server sends must meet;
//! * [`ResponseScript`]: the `response` target's operations on [`Response`], run inside the
//!   server's handler, each checked against a model of what the API must have done.

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use edgeloop::http::Method;
use edgeloop::httpserver::{
    HttpApp, HttpConn, HttpServer, Request, Response, ResponseError, Upgraded,
};
use edgeloop::ioloop::{Error as LoopError, IoLoop, Token};
use edgeloop::iostream::BufferPool;
use edgeloop::tcpserver::{ConnId, Slot};

// ---------------------------------------------------------------------------------------------
// Input decoding.
// ---------------------------------------------------------------------------------------------

/// Reads structure out of the fuzzer's bytes; past the end every read yields zeros / nothing.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` next bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}

/// A small deterministic PRNG (xorshift64*), seeded from the input.
#[derive(Debug, Clone, Copy)]
pub struct Rng(u64);

impl Rng {
    /// A generator; any seed works (0 is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `1..=max` (`max` at least 1).
    pub fn size(&mut self, max: usize) -> usize {
        let max = max.max(1) as u64;
        (self.next_u64() % max) as usize + 1
    }
}

/// Cuts `total` bytes into pieces of 1..=`max` bytes (a single piece when `max >= total`); the
/// sizes come from `seed`. An empty input is one empty piece.
pub fn split_sizes(seed: u64, total: usize, max: usize) -> Vec<usize> {
    if total == 0 {
        return vec![0];
    }
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = rng.size(max).min(left);
        out.push(n);
        left -= n;
    }
    out
}

/// The split granularity selected by a small number: one byte, a few bytes, a typical TCP
/// segment, or everything at once.
pub fn split_max(sel: u8) -> usize {
    match sel % 6 {
        0 => usize::MAX,
        1 => 1,
        2 => 3,
        3 => 17,
        4 => 512,
        _ => 4096,
    }
}

// ---------------------------------------------------------------------------------------------
// The in-process server.
// ---------------------------------------------------------------------------------------------

/// Connection slots of the fuzzed server.
pub const SLOTS: usize = 16;
/// Bytes per pool buffer: the firmware default, smaller than `MAX_HEAD_BYTES` (so the 431 path
/// for a full buffer is reachable).
pub const BUFFER_SIZE: usize = 4096;
/// Buffers in the pool.
pub const BUFFERS: usize = 2 * SLOTS;

/// Size of the static body of `/static` (larger than a buffer: exercises queued tails).
pub const STATIC_LEN: usize = 3 * BUFFER_SIZE + 17;
static STATIC_BODY: [u8; STATIC_LEN] = [b'S'; STATIC_LEN];

/// Static bodies the `response` target can queue with `write_static`.
pub static STATICS: [&[u8]; 4] = [
    b"",
    b"static body",
    &STATIC_BODY,
    STATIC_BODY.split_at(BUFFER_SIZE).0,
];

/// The application the fuzzed server runs.
///
/// With a [`ResponseScript`] installed (the `response` target), every request runs the script;
/// a script that streams is ended at once from `on_stream_drained`.
/// Otherwise (the `connection` target) it routes:
///
/// * `GET`/`HEAD /`: `Hello, world` (the hello_world firmware);
/// * `/echo`: a one-line summary of the request body (`len=N sum=S`), never the body itself, so a
///   response body can never look like a response head;
/// * `/static`: [`STATIC_LEN`] bytes through `write_static`;
/// * `/close`: asks for the connection to close;
/// * `/toobig`: writes past the write buffer (the server must answer 500);
/// * `/status/NNN`: answers with that status if the API takes it (204 and 304 have no body);
/// * `/header?Q`: sets `X-Q` to the query string, a value taken from the request;
/// * `/stream?N`: a streamed body (chunked; close-delimited on HTTP/1.0) of N pieces, fed from
///   `on_stream_drained`;
/// * `/upgrade`: `101 Switching Protocols` to an echo protocol: every byte after the request
///   comes back as is;
/// * `/defer`: parked, answered from a timer a millisecond later (`finish_deferred`);
/// * anything else: 404.
pub struct App {
    http: HttpServer<App>,
    /// Streamed responses in progress: pieces left to send per connection.
    streams: Vec<(ConnId, u32)>,
}

impl HttpApp for App {
    fn http(&mut self) -> &mut HttpServer<App> {
        &mut self.http
    }

    fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
        if let Some(script) = SCRIPT.with(|s| s.borrow_mut().take()) {
            let outcome = script.run(resp);
            if resp.is_streaming() {
                self.streams.push((req.conn, 0));
            }
            OUTCOME.with(|o| *o.borrow_mut() = Some(outcome));
            return;
        }
        let (path, query) = (req.path, req.query);
        match path {
            "/" if matches!(req.method, Method::Get | Method::Head) => {
                let _ = resp.write(b"Hello, world");
            }
            "/" => {
                let _ = resp.set_status(405);
                let _ = resp.set_header("Allow", b"GET, HEAD");
            }
            "/echo" => {
                let sum = req
                    .body
                    .iter()
                    .fold(0u32, |a, &b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
                let line = format!("len={} sum={sum}\n", req.body.len());
                let _ = resp.write(line.as_bytes());
            }
            "/static" => {
                let _ = resp.write_static(&STATIC_BODY);
            }
            "/close" => {
                resp.close_connection();
                let _ = resp.write(b"bye");
            }
            "/toobig" => {
                let chunk = [b'x'; 512];
                while resp.write(&chunk).is_ok() {}
            }
            "/header" => {
                let _ = resp.set_header("X-Q", query.as_bytes());
            }
            "/stream" => {
                let _ = resp.write(b"first piece\n");
                resp.stream();
                if req.method != Method::Head {
                    let n = query.parse::<u32>().unwrap_or(3).min(64);
                    self.streams.retain(|(c, _)| *c != req.conn);
                    self.streams.push((req.conn, n));
                }
            }
            "/upgrade" => {
                let _ = resp.upgrade("echo");
            }
            "/defer" => {
                let t = req.conn.token();
                match lp.call_later(Duration::from_millis(1), finish_deferred, t) {
                    Ok(_) => resp.defer(),
                    Err(_) => {
                        let _ = resp.set_status(503);
                    }
                }
            }
            p if p.starts_with("/status/") => {
                let code = p["/status/".len()..].parse().unwrap_or(599);
                let _ = resp.set_status(code);
            }
            _ => {
                let _ = resp.set_status(404);
            }
        }
    }

    fn on_stream_drained(&mut self, lp: &mut IoLoop<App>, conn: ConnId) {
        let Some(i) = self.streams.iter().position(|(c, _)| *c == conn) else {
            return;
        };
        let left = self.streams[i].1;
        if left == 0 {
            self.streams.swap_remove(i);
            let _ = HttpServer::stream_end(self, lp, conn);
            return;
        }
        self.streams[i].1 = left - 1;
        let piece = format!("piece {left}\n");
        let _ = HttpServer::stream_write(self, lp, conn, &[piece.as_bytes()]);
    }

    fn on_upgraded(&mut self, _: &mut IoLoop<App>, _: ConnId, io: &mut Upgraded<'_>) {
        let n = io.input().len().min(io.room());
        let data = io.input()[..n].to_vec();
        if io.write(&[&data]).is_ok() {
            io.consume(n);
        }
        if io.is_eof() && io.input().is_empty() {
            io.close();
        }
    }

    fn on_close(&mut self, _: &mut IoLoop<App>, conn: ConnId) {
        self.streams.retain(|(c, _)| *c != conn);
    }
}

/// The timer of `/defer`: answers the parked request (the client may be gone by then).
fn finish_deferred(app: &mut App, lp: &mut IoLoop<App>, t: Token) -> Result<(), LoopError> {
    let _ = HttpServer::finish_deferred(app, lp, ConnId::from_token(t), |r| {
        let _ = r.write(b"deferred\n");
    });
    Ok(())
}

/// The process's server, created on first use and never freed. A global pointer (rather than
/// a thread-local `Box`) keeps it and everything it leaked reachable for LeakSanitizer until
/// the process exits.
static SERVER: AtomicPtr<Server> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    static SCRIPT: RefCell<Option<ResponseScript>> = const { RefCell::new(None) };
    static OUTCOME: RefCell<Option<ScriptOutcome>> = const { RefCell::new(None) };
}

/// The fuzzed server: its loop, application and pool, leaked once per process.
pub struct Server {
    lp: &'static mut IoLoop<App>,
    app: &'static mut App,
    pool: &'static BufferPool,
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
}

/// Runs `f` with the process's server, starting it on first use. Fuzzing is single-threaded;
/// calling this from two threads at once panics.
pub fn with_server<R>(f: impl FnOnce(&mut Server) -> R) -> R {
    let mut p = SERVER.swap(std::ptr::null_mut(), Ordering::Acquire);
    if p.is_null() {
        assert!(
            !STARTED.swap(true, Ordering::AcqRel),
            "with_server: called re-entrantly or from two threads"
        );
        p = Box::into_raw(Box::new(Server::start()));
    }
    // SAFETY: `p` came from `Box::into_raw` and is never freed; swapping it out of `SERVER`
    // makes this call its only user until it is put back below.
    let r = f(unsafe { &mut *p });
    SERVER.store(p, Ordering::Release);
    r
}

static STARTED: AtomicBool = AtomicBool::new(false);

impl Server {
    fn start() -> Server {
        // libFuzzer's `main` is not Rust's: SIGPIPE is still fatal unless ignored here. The
        // server never needs it (MSG_NOSIGNAL); the fuzzing client's writes might.
        // SAFETY: setting a signal disposition to SIG_IGN has no memory-safety requirement.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let region: &'static mut [u8] =
            Box::leak(vec![0u8; BUFFER_SIZE * BUFFERS].into_boxed_slice());
        let pool: &'static BufferPool = Box::leak(Box::new(
            BufferPool::new(region, BUFFER_SIZE).expect("pool"),
        ));
        let slots: &'static mut [Slot<HttpConn>] = Box::leak(
            (0..SLOTS)
                .map(|_| Slot::new())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let lp: &'static mut IoLoop<App> = Box::leak(Box::new(IoLoop::new()));
        let app: &'static mut App = Box::leak(Box::new(App {
            http: HttpServer::new(slots, pool),
            streams: Vec::new(),
        }));
        let addr = app
            .http
            .listen(lp, SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("listen on 127.0.0.1");
        Server {
            lp,
            app,
            pool,
            addr,
        }
    }

    /// One loop iteration without waiting. The loop itself failing (epoll) is a bug.
    pub fn step(&mut self) {
        self.lp
            .run_once(self.app, Some(Duration::ZERO))
            .expect("IoLoop::run_once failed");
    }

    /// Open connections.
    pub fn active(&self) -> usize {
        self.app.http.tcp_stats().active
    }

    /// Whether every pool buffer is back in the pool.
    pub fn pool_full(&self) -> bool {
        self.pool.available() == self.pool.capacity()
    }

    /// Steps the loop until every connection is closed and every buffer returned; panics after
    /// `limit` (a connection the client has closed must not stay open).
    pub fn settle(&mut self, limit: Duration, what: &str) {
        let deadline = Instant::now() + limit;
        loop {
            self.step();
            if self.active() == 0 && self.pool_full() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {} connection(s) still open and {} of {} buffers out after the client \
                 closed",
                self.active(),
                self.pool.capacity() - self.pool.available(),
                self.pool.capacity()
            );
        }
    }

    /// A new client connection.
    pub fn connect(&mut self) -> Peer {
        let s = TcpStream::connect(self.addr).expect("connect to the fuzzed server");
        s.set_nodelay(true).expect("nodelay");
        s.set_nonblocking(true).expect("nonblocking");
        Peer {
            s: Some(s),
            got: Vec::new(),
            eof: false,
            reset: false,
            write_failed: false,
        }
    }

    /// The health check after every input: a fresh, valid request on a new connection gets
    /// `200 Hello, world`, then everything settles.
    pub fn health_check(&mut self) {
        let mut p = self.connect();
        p.send(self, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        let want = b"Hello, world";
        loop {
            self.step();
            p.read_some();
            if p.got.ends_with(want) || p.eof || p.reset {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "health check: no answer within 5 s; got {:?}",
                String::from_utf8_lossy(&p.got)
            );
        }
        let text = String::from_utf8_lossy(&p.got);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && p.got.ends_with(want),
            "health check: a valid GET / did not get 200 Hello, world: {text:?}"
        );
        p.close_now();
        self.settle(Duration::from_secs(5), "health check");
    }
}

// ---------------------------------------------------------------------------------------------
// The client side.
// ---------------------------------------------------------------------------------------------

/// A non-blocking client connection; everything it reads is kept in [`got`](Self::got).
pub struct Peer {
    s: Option<TcpStream>,
    /// Bytes received so far.
    pub got: Vec<u8>,
    /// The server ended the stream (FIN).
    pub eof: bool,
    /// The connection was reset (or failed otherwise).
    pub reset: bool,
    /// A write failed (the server closed first).
    pub write_failed: bool,
}

impl Peer {
    /// Reads whatever is there without blocking.
    pub fn read_some(&mut self) {
        let Some(s) = self.s.as_mut() else { return };
        if self.eof || self.reset {
            return;
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.reset = true;
                    return;
                }
            }
        }
    }

    /// Sends all of `data` (unless the connection fails first), stepping the server and reading
    /// its answers while the socket is full.
    pub fn send(&mut self, srv: &mut Server, mut data: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !data.is_empty() && !self.write_failed {
            let Some(s) = self.s.as_mut() else { return };
            match s.write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    srv.step();
                    self.read_some();
                    assert!(
                        Instant::now() < deadline,
                        "the server stopped reading for 5 s while the client had data to send"
                    );
                }
                Err(_) => self.write_failed = true,
            }
        }
    }

    /// Half-closes the sending side (the server sees end of stream).
    pub fn shutdown_write(&mut self) {
        if let Some(s) = self.s.as_ref() {
            let _ = s.shutdown(Shutdown::Write);
        }
    }

    /// Steps the server and reads until it ends the connection; panics after `limit`.
    pub fn read_to_end(&mut self, srv: &mut Server, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.eof && !self.reset {
            srv.step();
            self.read_some();
            assert!(
                Instant::now() < deadline,
                "the server did not close the connection within {limit:?} after the client's \
                 end of stream; got {} bytes: {:?}",
                self.got.len(),
                String::from_utf8_lossy(&self.got[..self.got.len().min(512)])
            );
        }
    }

    /// Resets the connection (SO_LINGER 0, then close): the server sees ECONNRESET.
    pub fn reset_now(&mut self) {
        if let Some(s) = self.s.take() {
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: `setsockopt` reads `size_of::<linger>()` bytes from the valid `linger`;
            // the descriptor is owned by `s`, alive for the call.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
            drop(s);
        }
    }

    /// Closes the socket (FIN, or RST if unread bytes remain).
    pub fn close_now(&mut self) {
        self.s = None;
    }
}

// ---------------------------------------------------------------------------------------------
// Wire-format checks.
// ---------------------------------------------------------------------------------------------

/// One response found by [`check_stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The status code.
    pub status: u16,
    /// Offset of the response in the stream.
    pub at: usize,
    /// Length of its head.
    pub head_len: usize,
    /// Length of its body.
    pub body_len: usize,
}

/// Whether a response with this status has no body whatever its `Content-Length` says.
pub fn bodiless(status: u16) -> bool {
    matches!(status, 100..=199 | 204 | 304)
}

/// Checks that `bytes`, everything a server sent on one connection, is a sequence of
/// well-formed responses:
///
/// * each starts with `HTTP/1.1 `, three digits and a space;
/// * each head parses as a response with `httparse` and uses CRLF everywhere (no bare CR or LF);
/// * its body is delimited one way only: exactly one `Content-Length` and that many bytes (none
///   for 204, 304, or — when `allow_head` — for an answer to `HEAD`, recognised by the next
///   response starting right after the head); or `Transfer-Encoding: chunked` alone, with a
///   strictly well-formed chunked body; or neither, with `Connection: close`, the body running
///   to the end of the stream; 1xx and 204 never have a length;
/// * after `101 Switching Protocols` (with `Upgrade` and `Connection: Upgrade`) the rest is
///   another protocol and is not checked.
///
/// With `complete` (the server ended the stream with a FIN), the stream must end exactly after
/// a response: a truncated response is a failure. Otherwise (reset), a trailing prefix of a
/// response is accepted as long as what is there is well-formed so far.
pub fn check_stream(bytes: &[u8], allow_head: bool, complete: bool) -> Result<Vec<Seen>, String> {
    const PREFIX: &[u8] = b"HTTP/1.1 ";
    let mut seen = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let k = seen.len();
        let n = rest.len().min(PREFIX.len());
        if rest[..n] != PREFIX[..n] {
            return Err(format!(
                "response #{k} at offset {at} does not start with `HTTP/1.1 `: {:?}",
                show(rest)
            ));
        }
        let status_ok = |i: usize| rest.get(PREFIX.len() + i).is_none_or(u8::is_ascii_digit);
        if !(status_ok(0) && status_ok(1) && status_ok(2))
            || rest.get(PREFIX.len() + 3).is_some_and(|&b| b != b' ')
        {
            return Err(format!(
                "response #{k} at offset {at} has no 3-digit status: {:?}",
                show(rest)
            ));
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        let head_len = match r.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if !complete => break,
            Ok(httparse::Status::Partial) => {
                return Err(format!(
                    "truncated response head #{k} at offset {at}: {:?}",
                    show(rest)
                ));
            }
            Err(e) => {
                return Err(format!(
                    "response head #{k} at offset {at} does not parse ({e}): {:?}",
                    show(rest)
                ));
            }
        };
        let head = &rest[..head_len];
        for (i, &b) in head.iter().enumerate() {
            let bad = match b {
                b'\r' => head.get(i + 1) != Some(&b'\n'),
                b'\n' => i == 0 || head[i - 1] != b'\r',
                _ => false,
            };
            if bad {
                return Err(format!(
                    "bare CR or LF at byte {i} of response head #{k}: {:?}",
                    show(head)
                ));
            }
        }
        let status = r.code.unwrap_or(0);
        if r.version != Some(1) {
            return Err(format!("response #{k} is not HTTP/1.1"));
        }
        let named = |name: &str| -> Vec<&[u8]> {
            r.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
                .collect()
        };
        let (cls, tes, conn) = (
            named("content-length"),
            named("transfer-encoding"),
            named("connection"),
        );
        let says = |token: &str| {
            conn.iter().any(|v| {
                v.split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
            })
        };
        if matches!(status, 100..=199 | 204) && !(cls.is_empty() && tes.is_empty()) {
            return Err(format!("response #{k} ({status}) has a body length"));
        }
        if !cls.is_empty() && !tes.is_empty() {
            return Err(format!(
                "response #{k} has both Content-Length and Transfer-Encoding"
            ));
        }
        let after = &rest[head_len..];
        if status == 101 {
            if named("upgrade").len() != 1 || !says("upgrade") {
                return Err(format!(
                    "101 #{k} without one Upgrade and `Connection: Upgrade`: {:?}",
                    show(head)
                ));
            }
            seen.push(Seen {
                status,
                at,
                head_len,
                body_len: after.len(),
            });
            return Ok(seen);
        }
        if (100..=199).contains(&status) {
            if status != 100 {
                return Err(format!("interim {status} #{k} sent"));
            }
            seen.push(Seen {
                status,
                at,
                head_len,
                body_len: 0,
            });
            at += head_len;
            continue;
        }
        let body_len = if !tes.is_empty() {
            if tes.len() != 1 || !tes[0].eq_ignore_ascii_case(b"chunked") {
                return Err(format!("response #{k}: Transfer-Encoding {:?}", tes));
            }
            match chunked_len(after) {
                Ok(Some(n)) => n,
                Ok(None) if !complete => break,
                Ok(None) => {
                    return Err(format!(
                        "response #{k}: chunked body truncated: {:?}",
                        show(after)
                    ));
                }
                Err(e) => return Err(format!("response #{k}: chunked body: {e}")),
            }
        } else if let [v] = cls.as_slice() {
            let cl = std::str::from_utf8(v)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| format!("response #{k} has a bad Content-Length"))?;
            let head_reply = allow_head
                && cl > 0
                && (after.is_empty()
                    || after.starts_with(&PREFIX[..after.len().min(PREFIX.len())]));
            let body_len = if bodiless(status) || head_reply {
                0
            } else {
                cl
            };
            if after.len() < body_len {
                if complete {
                    return Err(format!(
                        "response #{k} ({status}) truncated: {} of {body_len} body bytes",
                        after.len()
                    ));
                }
                break;
            }
            body_len
        } else if cls.len() > 1 {
            return Err(format!(
                "response #{k} has {} Content-Length fields",
                cls.len()
            ));
        } else if bodiless(status) {
            0
        } else {
            // Delimited by the end of the connection: the server must say it closes.
            if !says("close") {
                return Err(format!(
                    "response #{k} ({status}) has no length and no `Connection: close`: {:?}",
                    show(head)
                ));
            }
            after.len()
        };
        seen.push(Seen {
            status,
            at,
            head_len,
            body_len,
        });
        at += head_len + body_len;
    }
    Ok(seen)
}

/// Length of the strictly well-formed chunked body at the start of `b` (hex sizes without
/// extensions, CRLF everywhere, no trailers: what this server sends); `Ok(None)` if incomplete.
pub fn chunked_len(b: &[u8]) -> Result<Option<usize>, String> {
    let mut i = 0;
    loop {
        let digits = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if i + digits == b.len() {
            return Ok(None);
        }
        if digits == 0 || digits > 16 {
            return Err(format!("bad chunk size at {i}: {:?}", show(&b[i..])));
        }
        let size = usize::from_str_radix(std::str::from_utf8(&b[i..i + digits]).unwrap(), 16)
            .map_err(|e| format!("chunk size: {e}"))?;
        i += digits;
        for want in [b'\r', b'\n'] {
            match b.get(i) {
                None => return Ok(None),
                Some(&c) if c == want => i += 1,
                Some(_) => return Err(format!("chunk size line not ended by CRLF at {i}")),
            }
        }
        if size == 0 {
            for want in [b'\r', b'\n'] {
                match b.get(i) {
                    None => return Ok(None),
                    Some(&c) if c == want => i += 1,
                    Some(_) => return Err(format!("last chunk not followed by CRLF at {i}")),
                }
            }
            return Ok(Some(i));
        }
        if b.len() < i + size {
            return Ok(None);
        }
        i += size;
        for want in [b'\r', b'\n'] {
            match b.get(i) {
                None => return Ok(None),
                Some(&c) if c == want => i += 1,
                Some(_) => return Err(format!("chunk data not followed by CRLF at {i}")),
            }
        }
    }
}

/// The data of a complete chunked body (see [`chunked_len`]).
pub fn dechunk(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let digits = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[i..i + digits]).unwrap(), 16).unwrap();
        i += digits + 2;
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[i..i + size]);
        i += size + 2;
    }
}

/// At most 300 bytes of `b`, lossily as text, for messages.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The `response` target: scripted Response API calls and their model.
// ---------------------------------------------------------------------------------------------

/// Interesting header names, picked by the script decoder.
pub const NAMES: [&str; 16] = [
    "Content-Type",
    "content-type",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Date",
    "Server",
    "Set-Cookie",
    "X-A",
    "x-a",
    "Location",
    "X-A: 1",
    "X-A\r\nX-B",
    "",
    "Content-Type:",
    "CONTENT-TYPE",
];

/// One call on [`Response`].
#[derive(Debug, Clone)]
pub enum Op {
    /// `set_status`
    SetStatus(u16),
    /// `set_header`
    SetHeader(String, Vec<u8>),
    /// `add_header`
    AddHeader(String, Vec<u8>),
    /// `clear_header`
    ClearHeader(String),
    /// `write`
    Write(Vec<u8>),
    /// `write_static` of [`STATICS`]`[i]`
    WriteStatic(usize),
    /// `clear_body`
    ClearBody,
    /// `close_connection`
    Close,
    /// `stream` (the body is streamed; the harness ends the stream at once)
    Stream,
    /// `upgrade(PROTOCOLS[i])` (101; the harness's upgraded protocol echoes)
    Upgrade(usize),
}

/// Protocol names the `response` target upgrades to: usual ones, and a long token.
pub static PROTOCOLS: [&str; 3] = ["websocket", "h2c", LONG_TOKEN];

/// A 200-byte token.
pub const LONG_TOKEN: &str = "a-very-long-protocol-name-0123456789-0123456789-0123456789-\
0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-\
0123456789-0123456789-01234567";

/// The operations of one `response` input.
#[derive(Debug, Clone, Default)]
pub struct ResponseScript {
    /// In order.
    pub ops: Vec<Op>,
}

fn decode_name(c: &mut Cursor<'_>) -> String {
    let l = c.byte();
    if l >= 0xF0 {
        return NAMES[usize::from(l & 0x0f)].to_owned();
    }
    String::from_utf8_lossy(c.take(usize::from(l % 40))).into_owned()
}

fn decode_value(c: &mut Cursor<'_>) -> Vec<u8> {
    let l = c.byte();
    c.take(usize::from(l)).to_vec()
}

impl ResponseScript {
    /// Decodes up to 48 operations from `data`.
    pub fn decode(data: &[u8]) -> Self {
        let mut c = Cursor::new(data);
        let mut ops = Vec::new();
        while !c.is_empty() && ops.len() < 48 {
            let op = match c.byte() % 12 {
                0 => Op::SetStatus(c.u16() % 1024),
                1 => Op::SetHeader(decode_name(&mut c), decode_value(&mut c)),
                2 => Op::AddHeader(decode_name(&mut c), decode_value(&mut c)),
                3 => Op::ClearHeader(decode_name(&mut c)),
                4 => Op::Write(decode_value(&mut c)),
                5 => {
                    let n = usize::from(c.u16() % 4096);
                    Op::Write(vec![c.byte(); n])
                }
                6 => Op::WriteStatic(usize::from(c.byte()) % STATICS.len()),
                7 => Op::ClearBody,
                8 => Op::Close,
                9 => Op::Stream,
                10 => Op::Upgrade(usize::from(c.byte()) % PROTOCOLS.len()),
                _ => Op::SetStatus(100 + u16::from(c.byte()) * 2),
            };
            ops.push(op);
        }
        ResponseScript { ops }
    }

    /// Installs the script for the next request the server answers.
    pub fn install(self) {
        SCRIPT.with(|s| *s.borrow_mut() = Some(self));
        OUTCOME.with(|o| *o.borrow_mut() = None);
    }

    /// Runs the script on `resp`, checking each call's result against the model; returns the
    /// model's final state.
    fn run(self, resp: &mut Response<'_>) -> ScriptOutcome {
        let mut m = Model::new();
        for (i, op) in self.ops.iter().enumerate() {
            m.apply(i, op, resp);
        }
        ScriptOutcome {
            status: m.status,
            headers: m.headers,
            has_content_type: m.has_content_type,
            body: m.body,
            tail: m.tail,
            failed: m.failed,
            close: m.close,
            stream: m.stream,
            upgrade: m.upgrade,
            room: resp.body_room(),
        }
    }
}

/// The model's view of the response when the handler returned.
#[derive(Debug, Clone)]
pub struct ScriptOutcome {
    /// Status code set.
    pub status: u16,
    /// Header fields the API accepted, in order, after removals.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Whether the server will consider a `Content-Type` as set.
    pub has_content_type: bool,
    /// Copied body.
    pub body: Vec<u8>,
    /// Static body.
    pub tail: &'static [u8],
    /// A write failed (the server must answer 500).
    pub failed: bool,
    /// `close_connection` was called.
    pub close: bool,
    /// `stream` was called.
    pub stream: bool,
    /// The protocol of the last successful `upgrade` (it takes effect only if the status is
    /// still 101).
    pub upgrade: Option<&'static str>,
    /// `body_room()` when the handler returned.
    pub room: usize,
}

/// Takes the outcome of the script the server ran, if it ran.
pub fn take_outcome() -> Option<ScriptOutcome> {
    OUTCOME.with(|o| o.borrow_mut().take())
}

#[derive(Debug, Default)]
struct Model {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    has_content_type: bool,
    body: Vec<u8>,
    tail: &'static [u8],
    failed: bool,
    close: bool,
    stream: bool,
    upgrade: Option<&'static str>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

fn managed(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection", "date"]
        .iter()
        .any(|m| name.eq_ignore_ascii_case(m))
}

/// What `check` (name, value, managed) must say about a field, in the API's order.
fn expected_check(name: &str, value: &[u8]) -> Result<(), ResponseError> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(ResponseError::InvalidHeaderName);
    }
    if !value.iter().all(|&b| is_value_byte(b)) {
        return Err(ResponseError::InvalidHeaderValue);
    }
    if managed(name) {
        return Err(ResponseError::ManagedHeader);
    }
    Ok(())
}

/// Whether `clear_header(name)` removes the field `(n, v)`: its line `n: v` starts with `name`
/// (ASCII case-insensitively) followed by a colon.
fn cleared_by(name: &str, n: &str, v: &[u8]) -> bool {
    let mut line = Vec::with_capacity(n.len() + 2 + v.len());
    line.extend_from_slice(n.as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(v);
    line.len() > name.len()
        && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        && line[name.len()] == b':'
}

impl Model {
    fn new() -> Self {
        Model {
            status: 200,
            ..Model::default()
        }
    }

    fn clear(&mut self, name: &str) {
        self.headers.retain(|(n, v)| !cleared_by(name, n, v));
        if name.eq_ignore_ascii_case("content-type") {
            self.has_content_type = false;
        }
    }

    fn add(&mut self, name: &str, value: &[u8]) {
        self.headers.push((name.to_owned(), value.to_vec()));
        if name.eq_ignore_ascii_case("content-type") {
            self.has_content_type = true;
        }
    }

    fn apply(&mut self, i: usize, op: &Op, resp: &mut Response<'_>) {
        match op {
            Op::SetStatus(code) => {
                let r = resp.set_status(*code);
                // Outside 100..=599 is always refused; whether interim 1xx codes are accepted
                // as a final status is the API's choice, and the model follows it.
                match r {
                    Ok(()) => {
                        assert!(
                            (100..=599).contains(code),
                            "op #{i}: status {code} accepted"
                        );
                        self.status = *code;
                    }
                    Err(e) => assert_eq!(e, ResponseError::InvalidStatus, "op #{i} {op:?}"),
                }
                if !(100..=599).contains(code) {
                    assert!(r.is_err(), "op #{i}: status {code} accepted");
                }
                assert_eq!(resp.status(), self.status, "op #{i} {op:?}: status()");
            }
            Op::AddHeader(name, value) => {
                let r = resp.add_header(name, value);
                match expected_check(name, value) {
                    Err(e) => assert_eq!(r, Err(e), "op #{i} {op:?}"),
                    Ok(()) => match r {
                        Ok(()) => self.add(name, value),
                        Err(ResponseError::HeadersTooLarge) => {}
                        Err(e) => panic!("op #{i} {op:?}: unexpected {e:?}"),
                    },
                }
                self.check_lookup(i, op, name, resp);
            }
            Op::SetHeader(name, value) => {
                let r = resp.set_header(name, value);
                match expected_check(name, value) {
                    Err(e) => assert_eq!(r, Err(e), "op #{i} {op:?}"),
                    Ok(()) => {
                        // `set_header` clears first, then adds: a field too large to add still
                        // leaves the old ones removed.
                        self.clear(name);
                        match r {
                            Ok(()) => self.add(name, value),
                            Err(ResponseError::HeadersTooLarge) => {}
                            Err(e) => panic!("op #{i} {op:?}: unexpected {e:?}"),
                        }
                    }
                }
                self.check_lookup(i, op, name, resp);
            }
            Op::ClearHeader(name) => {
                resp.clear_header(name);
                self.clear(name);
                self.check_lookup(i, op, name, resp);
            }
            Op::Write(data) => {
                let r = resp.write(data);
                if !self.tail.is_empty() {
                    assert_eq!(r, Err(ResponseError::BodyConflict), "op #{i}");
                }
                match r {
                    Ok(()) => self.body.extend_from_slice(data),
                    Err(ResponseError::BodyConflict | ResponseError::BodyTooLarge) => {
                        self.failed = true;
                    }
                    Err(e) => panic!("op #{i} write: unexpected {e:?}"),
                }
                assert_eq!(resp.body(), &self.body[..], "op #{i}: body()");
            }
            Op::WriteStatic(k) => {
                let r = resp.write_static(STATICS[*k]);
                let conflict = !self.body.is_empty() || !self.tail.is_empty();
                if conflict {
                    assert_eq!(r, Err(ResponseError::BodyConflict), "op #{i}");
                    self.failed = true;
                } else {
                    assert_eq!(r, Ok(()), "op #{i}");
                    self.tail = STATICS[*k];
                }
            }
            Op::ClearBody => {
                resp.clear_body();
                self.body.clear();
                self.tail = &[];
                self.failed = false;
            }
            Op::Close => {
                resp.close_connection();
                self.close = true;
                assert!(resp.closes_connection());
            }
            Op::Stream => {
                resp.stream();
                self.stream = true;
                assert!(resp.is_streaming());
            }
            Op::Upgrade(k) => {
                let proto = PROTOCOLS[*k];
                match resp.upgrade(proto) {
                    Ok(()) => {
                        self.status = 101;
                        self.upgrade = Some(proto);
                        assert_eq!(resp.status(), 101);
                        assert_eq!(resp.upgrade_protocol(), Some(proto));
                    }
                    // Refusing a name too long for the head is fine; a short token is not.
                    Err(ResponseError::InvalidHeaderValue) if proto.len() > 64 => {}
                    Err(e) => panic!("op #{i}: upgrade({proto:?}): {e:?}"),
                }
            }
        }
        assert_eq!(resp.failed(), self.failed, "op #{i} {op:?}: failed()");
        assert_eq!(
            resp.body_len(),
            self.body.len() + self.tail.len(),
            "op #{i} {op:?}: body_len()"
        );
    }

    /// `Response::header(name)` must agree with the model for token names: the first field of
    /// that name, its value without leading whitespace.
    fn check_lookup(&self, i: usize, op: &Op, name: &str, resp: &Response<'_>) {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return;
        }
        let want = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim_ascii_start());
        assert_eq!(resp.header(name), want, "op #{i} {op:?}: header({name:?})");
    }
}

impl ScriptOutcome {
    /// A short description for failure messages.
    pub fn summary(&self) -> String {
        let fields: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", show(v)))
            .collect();
        format!(
            "status {} fields {fields:?} content-type set {} body {} bytes {:?} static {} bytes \
             failed {} close {} stream {} upgrade {:?}",
            self.status,
            self.has_content_type,
            self.body.len(),
            show(&self.body[..self.body.len().min(40)]),
            self.tail.len(),
            self.failed,
            self.close,
            self.stream,
            self.upgrade
        )
    }

    /// Whether a clean `500` is also a right answer: a streamed response whose static body does
    /// not fit in the write buffer (a streamed body is framed there) may be refused like any
    /// body that does not fit, instead of being sent.
    pub fn may_fail(&self) -> bool {
        self.stream
            && !bodiless(self.status)
            && !(self.upgrade.is_some() && self.status == 101)
            && self.tail.len() > self.room
    }

    /// What the client must receive: the final status, the fields the API accepted (in order,
    /// after the server's own), whether the response switches protocols, whether it is streamed,
    /// and the body content. `failed`: the answer for a failed response (a clean 500).
    pub fn expected(&self, failed: bool) -> Expected {
        if self.failed || failed {
            return Expected {
                status: 500,
                fields: Vec::new(),
                has_content_type: false,
                close: self.close,
                upgrade: None,
                streamed: false,
                body: b"500 Internal Server Error\n".to_vec(),
            };
        }
        let no_body = bodiless(self.status);
        let mut body = self.body.clone();
        body.extend_from_slice(self.tail);
        Expected {
            status: self.status,
            fields: self.headers.clone(),
            has_content_type: self.has_content_type,
            close: self.close,
            upgrade: self.upgrade.filter(|_| self.status == 101),
            streamed: self.stream && !no_body,
            body: if no_body { Vec::new() } else { body },
        }
    }
}

/// See [`ScriptOutcome::expected`].
#[derive(Debug, Clone)]
pub struct Expected {
    /// Final status.
    pub status: u16,
    /// The handler's fields, in order.
    pub fields: Vec<(String, Vec<u8>)>,
    /// Whether the handler set a `Content-Type` (so the server adds none).
    pub has_content_type: bool,
    /// `close_connection` was called.
    pub close: bool,
    /// `101 Switching Protocols` to this protocol.
    pub upgrade: Option<&'static str>,
    /// Sent with `Transfer-Encoding: chunked`.
    pub streamed: bool,
    /// The body content (de-chunked).
    pub body: Vec<u8>,
}
