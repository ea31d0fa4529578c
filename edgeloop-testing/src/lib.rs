//! An in-process test server and a blocking HTTP/1.1 client (Tornado's `AsyncHTTPTestCase`),
//! for tests on the host: edgeloop's own tests use it, and so can yours (a dev-dependency).
//!
//! **This crate uses `std` (threads, `TcpStream`, `Vec`) and leaks a little memory per server;
//! it is for `cargo test` only and never goes into firmware.** It is a crate of its own so that
//! the `edgeloop` library itself never contains `std`.
//!
//! [`TestServer::start`] runs an [`HttpApp`] on `127.0.0.1:0` on its own thread: the loop in a
//! `Box`, the connection slots and the buffer region leaked (`&'static`, as the server needs),
//! the [`BufferPool`] created on the loop's thread (it is `!Sync`). Dropping the server stops
//! the loop through an [`ioloop::Remote`](edgeloop::ioloop::Remote) and joins the thread.
//!
//! ```no_run
//! use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
//! use edgeloop::ioloop::IoLoop;
//! use edgeloop_testing::TestServer;
//!
//! struct App { http: HttpServer<App> }
//! impl HttpApp for App {
//!     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//!     fn on_request(&mut self, _: &mut IoLoop<App>, _: &Request<'_>, resp: &mut Response<'_>) {
//!         let _ = resp.write(b"Hello, world");
//!     }
//! }
//!
//! let server = TestServer::start(|http, _lp| App { http });
//! let resp = server.get("/").unwrap();
//! assert_eq!(resp.status, 200);
//! assert_eq!(resp.body, b"Hello, world");
//! println!("{}", server.url("/"));
//! ```
//!
//! [`OwnedHead`] copies a parsed request head out of its buffer, for tests that compare parses.

mod head;

pub use head::OwnedHead;

use std::boxed::Box;
use std::format;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::string::{String, ToString};
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::vec;
use std::vec::Vec;

use edgeloop::httpserver::{HttpApp, HttpConn, HttpServer};
use edgeloop::ioloop::{IoLoop, Remote};
use edgeloop::iostream::BufferPool;
use edgeloop::tcpserver::Slot;

/// Stack of the loop's thread (the loop and a handler's buffers live on it).
const LOOP_STACK: usize = 4 << 20;
/// How long a server may take to start, and to stop when dropped.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a dropped server's loop has to stop and close its connections.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a drop retries `Remote::stop` while the loop's callback queue is full.
const STOP_RETRY: Duration = Duration::from_secs(5);

/// The sizes of a [`TestServer`].
#[derive(Debug, Clone, Copy)]
pub struct TestConfig {
    /// Connection slots (the most clients at once).
    pub slots: usize,
    /// Buffers in the pool (a busy connection borrows two).
    pub buffers: usize,
    /// Bytes per buffer.
    pub buffer_size: usize,
}

impl Default for TestConfig {
    /// 16 slots, 32 buffers of 4 KiB: the firmware's shape, smaller.
    fn default() -> Self {
        TestConfig {
            slots: 16,
            buffers: 32,
            buffer_size: 4096,
        }
    }
}

/// An [`HttpServer`] of `cfg`'s sizes over leaked connection slots and a leaked buffer pool,
/// for a test that drives its own loop. Call it on the loop's thread: the pool is `!Sync`.
///
/// # Errors
///
/// When the pool refuses the sizes.
pub fn http_server<A: HttpApp>(cfg: TestConfig) -> Result<HttpServer<A>, String> {
    let slots: Vec<Slot<HttpConn>> = (0..cfg.slots).map(|_| Slot::new()).collect();
    let slots: &'static mut [Slot<HttpConn>] = Box::leak(slots.into_boxed_slice());
    let region: &'static mut [u8] =
        Box::leak(vec![0u8; cfg.buffers * cfg.buffer_size].into_boxed_slice());
    let pool =
        BufferPool::new(region, cfg.buffer_size).map_err(|e| format!("buffer pool: {e:?}"))?;
    Ok(HttpServer::new(slots, Box::leak(Box::new(pool))))
}

/// An [`HttpApp`] served on `127.0.0.1` from a thread of its own, stopped on drop.
pub struct TestServer<A: HttpApp> {
    addr: SocketAddr,
    remote: &'static Remote<A>,
    /// Signalled by the loop's thread once it has stopped and closed every connection.
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
    client: Mutex<Option<TestClient>>,
}

impl<A: HttpApp> core::fmt::Debug for TestServer<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl<A: HttpApp> TestServer<A> {
    /// Starts a server with the [default sizes](TestConfig::default). `make` builds the
    /// application around its `HttpServer`, on the loop's thread; it may register timers on
    /// the loop.
    ///
    /// # Panics
    ///
    /// If the server cannot listen or the thread cannot start (this is a test harness).
    pub fn start<F>(make: F) -> Self
    where
        F: FnOnce(HttpServer<A>, &mut IoLoop<A>) -> A + Send + 'static,
    {
        Self::start_with(TestConfig::default(), make)
    }

    /// [`start`](Self::start) with explicit sizes.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with<F>(cfg: TestConfig, make: F) -> Self
    where
        F: FnOnce(HttpServer<A>, &mut IoLoop<A>) -> A + Send + 'static,
    {
        Self::try_start_with(cfg, make).unwrap_or_else(|e| panic!("test server: {e}"))
    }

    /// [`start_with`](Self::start_with), or why the server did not start (the pool refused
    /// the sizes, `listen` failed): for tests of the configuration checks themselves.
    ///
    /// # Panics
    ///
    /// If the thread cannot be spawned.
    pub fn try_start_with<F>(cfg: TestConfig, make: F) -> Result<Self, String>
    where
        F: FnOnce(HttpServer<A>, &mut IoLoop<A>) -> A + Send + 'static,
    {
        let remote: &'static Remote<A> =
            Box::leak(Box::new(Remote::new().expect("eventfd for the Remote")));
        let (tx, rx) = mpsc::channel::<Result<SocketAddr, String>>();
        let (done_tx, done) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("edgeloop-test-server".to_string())
            .stack_size(LOOP_STACK)
            .spawn(move || {
                let http = match http_server(cfg) {
                    Ok(http) => http,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let mut lp = Box::new(IoLoop::<A>::new());
                let mut app = make(http, &mut lp);
                let addr = match app.http().listen(&mut lp, ([127, 0, 0, 1], 0).into()) {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = tx.send(Err(format!("listen: {e:?}")));
                        return;
                    }
                };
                if let Err(e) = lp.set_remote(remote) {
                    let _ = tx.send(Err(format!("set_remote: {e}")));
                    return;
                }
                let _ = tx.send(Ok(addr));
                if let Err(e) = lp.start(&mut app) {
                    std::eprintln!("edgeloop test server: loop stopped: {e}");
                }
                // Close what is left, so that no descriptor outlives the server.
                app.http().stop_listening(&mut lp);
                let mut ids = Vec::new();
                app.http().tcp().for_each_conn(|id, _| ids.push(id));
                for id in ids {
                    HttpServer::close(&mut app, &mut lp, id);
                }
                let _ = done_tx.send(());
            })
            .expect("spawn the test server thread");
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(addr)) => Ok(TestServer {
                addr,
                remote,
                done,
                thread: Some(thread),
                client: Mutex::new(None),
            }),
            Ok(Err(e)) => {
                // The thread returns right after reporting.
                let _ = thread.join();
                Err(e)
            }
            Err(e) => Err(format!("the server thread did not start: {e}")),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The loop's [`Remote`], to run callbacks on the server's thread.
    pub fn remote(&self) -> &'static Remote<A> {
        self.remote
    }

    /// A new client on a connection of its own.
    pub fn client(&self) -> io::Result<TestClient> {
        TestClient::connect(self.addr)
    }

    /// `GET path` on the server's shared keep-alive connection.
    pub fn get(&self, path: &str) -> io::Result<TestResponse> {
        self.fetch("GET", path, &[], b"")
    }

    /// `POST path` with a body of type `content_type`, on the shared connection.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> io::Result<TestResponse> {
        self.fetch("POST", path, &[("Content-Type", content_type)], body)
    }

    /// Any request built from parts (`Host` and `Content-Length` are added), on the shared
    /// connection.
    pub fn fetch(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<TestResponse> {
        self.request(&build_request(method, path, headers, body))
    }

    /// Sends `raw` bytes as one request on the shared keep-alive connection (opened on first
    /// use, reopened once if the server had closed it) and reads one response.
    pub fn request(&self, raw: &[u8]) -> io::Result<TestResponse> {
        let mut guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        let reused = guard.is_some();
        let mut client = match guard.take() {
            Some(c) => c,
            None => TestClient::connect(self.addr)?,
        };
        let resp = match client.request(raw) {
            Ok(r) => r,
            Err(_) if reused => {
                client = TestClient::connect(self.addr)?;
                client.request(raw)?
            }
            Err(e) => return Err(e),
        };
        if !resp.closes() {
            *guard = Some(client);
        }
        Ok(resp)
    }
}

impl<A: HttpApp> Drop for TestServer<A> {
    /// Stops the loop (retrying while its callback queue is full), lets it close every
    /// connection, and joins the thread; a loop still running after 10 s is left
    /// behind with a warning rather than hanging the test binary.
    fn drop(&mut self) {
        let deadline = Instant::now() + STOP_RETRY;
        while self.remote.stop().is_err() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        match self.done.recv_timeout(STOP_TIMEOUT) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(t) = self.thread.take() {
                    if t.join().is_err() && !thread::panicking() {
                        panic!("the test server thread panicked");
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                std::eprintln!(
                    "warning: the test server's loop did not stop within {STOP_TIMEOUT:?}"
                );
            }
        }
    }
}

/// Builds a request: request line, `Host`, `headers`, `Content-Length` when there is a body
/// or the method usually has one, then the body.
pub fn build_request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The header fields in order, as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// The head exactly as received (status line and fields, up to the blank line), to check
    /// what went over the wire.
    pub head: String,
}

impl TestResponse {
    /// The first field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every field named `name`.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the server closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A blocking HTTP/1.1 client on one connection. Bytes read past a response are kept for the
/// next one (pipelining); every read times out after 10 seconds (see
/// [`set_timeout`](Self::set_timeout)).
#[derive(Debug)]
pub struct TestClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl TestClient {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(TestClient {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sets the read timeout.
    pub fn set_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(t))
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends raw bytes.
    pub fn send(&mut self, raw: &[u8]) -> io::Result<()> {
        self.stream.write_all(raw)
    }

    /// Sends `raw` and reads one response (no body for a `HEAD` request).
    pub fn request(&mut self, raw: &[u8]) -> io::Result<TestResponse> {
        self.send(raw)?;
        self.read_response(raw.starts_with(b"HEAD "))
    }

    /// `GET path` on this connection.
    pub fn get(&mut self, path: &str) -> io::Result<TestResponse> {
        self.request(&build_request("GET", path, &[], b""))
    }

    /// Reads one complete response; `head_request` when it answers a `HEAD` (no body).
    /// Interim `1xx` responses are skipped.
    pub fn read_response(&mut self, head_request: bool) -> io::Result<TestResponse> {
        loop {
            let mut r = self.read_head()?;
            if (100..200).contains(&r.status) && r.status != 101 {
                continue;
            }
            let chunked = r
                .header("Transfer-Encoding")
                .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
            if head_request || matches!(r.status, 101 | 204 | 304) {
            } else if chunked {
                while let Some(c) = self.read_chunk()? {
                    r.body.extend_from_slice(&c);
                }
            } else if let Some(n) = r.header("Content-Length") {
                let n: usize = n.trim().parse().map_err(|_| bad("bad Content-Length"))?;
                r.body = self.read_exact_bytes(n)?;
            } else {
                r.body = self.read_to_end()?;
            }
            return Ok(r);
        }
    }

    /// Reads a response head (the body is left unread and `body` is empty).
    pub fn read_head(&mut self) -> io::Result<TestResponse> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head_bytes: Vec<u8> = self.buf.drain(..end).collect();
        let head = String::from_utf8(head_bytes).map_err(|_| bad("head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(bad("not an HTTP/1.x status line"));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status code"))?;
        let reason = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (n, v) = line.split_once(':').ok_or_else(|| bad("bad header line"))?;
            headers.push((n.to_string(), v.trim().to_string()));
        }
        Ok(TestResponse {
            status,
            reason,
            headers,
            body: Vec::new(),
            head,
        })
    }

    /// Reads one chunk of a chunked body: `Ok(None)` at the last chunk (trailers skipped).
    pub fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let line = self.read_line()?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            while !self.read_line()?.is_empty() {}
            return Ok(None);
        }
        let data = self.read_exact_bytes(size)?;
        if self.read_exact_bytes(2)? != b"\r\n" {
            return Err(bad("chunk not followed by CRLF"));
        }
        Ok(Some(data))
    }

    /// Reads until the server closes the connection.
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut out = core::mem::take(&mut self.buf);
        self.stream.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Whether the server closed the connection (within the read timeout).
    pub fn is_closed(&mut self) -> bool {
        matches!(self.fill(), Err(e) if e.kind() == io::ErrorKind::UnexpectedEof)
    }

    fn read_line(&mut self) -> io::Result<String> {
        let end = loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            self.fill()?;
        };
        let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
        String::from_utf8(line).map_err(|_| bad("line is not UTF-8"))
    }

    fn read_exact_bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut tmp = [0u8; 4096];
        let n = self.stream.read(&mut tmp)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
