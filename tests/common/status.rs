//! Shared helpers of `tests/status_firmware.rs`, `tests/status_browser.rs` and
//! `tests/status_format.rs`, included with `#[path = "common/status.rs"] mod status_common;`.
//!
//! * [`Firmware`]: the real `examples/status` binary as a child process, found through
//!   `EDGELOOP_STATUS_BIN` or next to the test executable, started through
//!   `EDGELOOP_TEST_RUNNER` under QEMU user emulation, SIGTERM then kill on drop.
//! * [`Client`] and [`parse_response`]: a small HTTP/1.1 client (Content-Length, chunked and
//!   close-delimited bodies) with a deadline on every read, and the parser the non-blocking load
//!   clients share.
//! * [`Json`]: a JSON document parsed by Python's `json` module (strictly: duplicate keys and
//!   `NaN` are errors) and flattened into `path → value` for the checks.
//! * Readers of the host's own `/proc` and `/sys` through std, to compare the firmware with, and
//!   [`promtool_problems`] for an exposition.
//!
//! Only 127.0.0.1 is ever used.

#![allow(dead_code)]

use std::collections::BTreeMap;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Environment.
// ---------------------------------------------------------------------------------------------

#[path = "firmware.rs"]
mod firmware;
use firmware::Process;
// Each including test uses its own subset.
#[allow(unused_imports)]
pub use firmware::{emulated, runner, secs, serial};

/// Whether the test process runs as root (may `apt-get install`).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `apt-get install -y PACKAGE` (with an `apt-get update` and a second try when the first
/// fails). Returns whether it succeeded.
pub fn apt_install(package: &str) -> bool {
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if apt(&["install", "-y", "-q", package]) {
        return true;
    }
    apt(&["update", "-q"]);
    apt(&["install", "-y", "-q", package])
}

/// The one lint `promtool check metrics` may report on the exposition: node_exporter's own
/// `node_memory_*` names, kept as they are for existing dashboards, are camelCase.
const ALLOWED_PROMTOOL_LINT: &str =
    "metric names should be written in 'snake_case' not 'camelCase'";

/// `promtool check metrics` on `text` (installed from Debian's `prometheus` when missing and
/// root): `Ok(problems)`, every line it printed but [`ALLOWED_PROMTOOL_LINT`] on a
/// `node_memory_*` name, plus its exit status when that is neither 0 (clean) nor 3 (lint
/// only); `Err(why)` to skip.
pub fn promtool_problems(text: &str) -> Result<Vec<String>, String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let has = || Command::new("promtool").arg("--version").output().is_ok();
            if has() {
                return Ok(());
            }
            if !is_root() {
                return Err("promtool missing and not root: not installing prometheus".into());
            }
            apt_install("prometheus");
            if has() {
                Ok(())
            } else {
                Err("apt-get install prometheus did not provide promtool".into())
            }
        })
        .clone()?;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin");
    let input = text.as_bytes().to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("promtool output");
    let _ = writer.join();
    let mut problems: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !(l.starts_with("node_memory_") && l.ends_with(ALLOWED_PROMTOOL_LINT)))
        .map(str::to_owned)
        .collect();
    if !matches!(out.status.code(), Some(0 | 3)) {
        problems.push(format!("promtool exited with {}", out.status));
    }
    Ok(problems)
}

// ---------------------------------------------------------------------------------------------
// The firmware binary.
// ---------------------------------------------------------------------------------------------

const BUILD_HINT: &str = "build it with `cargo build --features firmware,status --examples` first \
     (same --target and profile; `cargo test` does not build the firmware examples), or point \
     EDGELOOP_STATUS_BIN at a status binary";

/// The status firmware: `EDGELOOP_STATUS_BIN`, else `target/<profile>/examples/status` next to
/// the test executable. Checked once: it exists and is not older than its sources.
pub fn status_bin() -> PathBuf {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PATH.get_or_init(find_status_bin) {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn find_status_bin() -> Result<PathBuf, String> {
    match std::env::var_os("EDGELOOP_STATUS_BIN") {
        Some(p) if !p.is_empty() => firmware::fresh(&PathBuf::from(p), BUILD_HINT),
        _ => firmware::example("status", BUILD_HINT),
    }
}

/// `[RUNNER…] status args…`
pub fn status_command(args: &[&str]) -> Command {
    firmware::command(&[], &status_bin(), args)
}

/// What a firmware run that ended by itself printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs the firmware with `args` to its end (killed, and the test failed, after `limit`).
pub fn run_to_exit(args: &[&str], limit: Duration) -> Finished {
    let start = Instant::now();
    let mut child = status_command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the status firmware");
    let out = drain_in_background(child.stdout.take().expect("stdout"));
    let err = drain_in_background(child.stderr.take().expect("stderr"));
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("status {args:?} still running after {limit:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let text = |rx: mpsc::Receiver<Vec<u8>>| {
        String::from_utf8_lossy(&rx.recv_timeout(secs(5.0)).unwrap_or_default()).into_owned()
    };
    Finished {
        status,
        stdout: text(out),
        stderr: text(err),
        elapsed,
    }
}

fn drain_in_background(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        let _ = tx.send(v);
    });
    rx
}

/// A running status firmware: its [`Process`] (SIGTERM, up to `secs(2.0)`, then kill on drop),
/// where it listens and what it wrote to stderr.
pub struct Firmware {
    process: Process,
    pub addr: SocketAddr,
    /// The firmware's stderr so far (collected by a thread).
    stderr: std::sync::Arc<Mutex<Vec<u8>>>,
}

impl Firmware {
    /// Starts `status --port 0 --host 127.0.0.1` and waits for its
    /// `status: listening on http://127.0.0.1:PORT/` line.
    pub fn start() -> Firmware {
        Firmware::spawn(status_command(&["--port", "0", "--host", "127.0.0.1"]))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `cmd` (which must run the firmware with `--port 0 --host 127.0.0.1`) and waits
    /// for its `listening on` line; `Err` with what happened instead.
    pub fn spawn(mut cmd: Command) -> Result<Firmware, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the status firmware");
        let stderr = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        let mut fw = Firmware {
            process: Process::new(child, secs(2.0)),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
        };
        let line = match firmware::first_line(&mut fw.child) {
            Ok(l) => l,
            Err(e) => {
                let exit = fw.wait_exit(secs(2.0));
                return Err(format!(
                    "the status firmware did not report its address: {e}; exit {exit:?}; \
                     stderr: {}",
                    fw.stderr_text()
                ));
            }
        };
        let port: u16 = line
            .trim_end()
            .strip_prefix("status: listening on http://127.0.0.1:")
            .and_then(|p| p.strip_suffix('/'))
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("unexpected first line from the firmware: {line:?}"))?;
        if port == 0 {
            return Err("the firmware reported port 0".into());
        }
        fw.addr.set_port(port);
        Ok(fw)
    }

    /// What the firmware wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
    pub fn proc_status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/{}/status", self.pid))
            * 1024
    }

    /// `GET path` on a new connection.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[])
    }

    /// One request on a new connection.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut c = Client::connect(self.addr);
        c.request(method, path, headers)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// `/api/status` parsed by Python (`None`, with a message, without python3).
    pub fn status_json(&self) -> Option<Json> {
        let r = self.get("/api/status");
        assert_eq!(r.status, 200, "/api/status: {r:?}");
        Json::parse(&r.body).map(|j| j.unwrap_or_else(|e| panic!("/api/status: {e}")))
    }

    /// Polls `/api/status` until its `seq` (read without Python: the document starts
    /// `{"seq":N,`) is at least `seq`; returns the seq reached.
    pub fn wait_seq(&self, seq: u64) -> u64 {
        let deadline = Instant::now() + secs(5.0);
        loop {
            let r = self.get("/api/status");
            let now: u64 = r
                .body
                .strip_prefix(b"{\"seq\":")
                .and_then(|rest| {
                    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
                })
                .unwrap_or_else(|| panic!("/api/status does not start with seq: {r:?}"));
            if now >= seq {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "seq stuck at {now} (waiting for {seq})"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `/api/status` until its `seq` is at least `seq` (the refresh is once a second).
    pub fn status_json_from(&self, seq: u64) -> Option<Json> {
        let deadline = Instant::now() + secs(5.0);
        loop {
            let j = self.status_json()?;
            if j.u64("seq") >= seq {
                return Some(j);
            }
            assert!(
                Instant::now() < deadline,
                "seq stuck at {} (waiting for {seq})",
                j.u64("seq")
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Deref for Firmware {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.process
    }
}

impl DerefMut for Firmware {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP.
// ---------------------------------------------------------------------------------------------

/// A parsed HTTP response.
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, chunked framing removed.
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).into_owned();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("body_start", &body)
            .finish()
    }
}

impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("body is UTF-8")
    }
}

/// Where the head (`\r\n\r\n`) of `buf` ends, if it is complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The status line and headers of a complete head.
pub fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), String> {
    let text = std::str::from_utf8(head).map_err(|_| "head is not UTF-8".to_owned())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if version != "HTTP/1.1" {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line {l:?}"))?;
        headers.push((n.to_owned(), v.trim().to_owned()));
    }
    Ok((status, headers))
}

/// Decodes complete chunks of a chunked body from `raw`: `Ok(Some((body, consumed)))` once
/// the last chunk (and the blank line after it) is in, `Ok(None)` while incomplete. With
/// `partial`, what has arrived so far is appended to it even when incomplete.
pub fn decode_chunked(
    raw: &[u8],
    mut partial: Option<&mut Vec<u8>>,
) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut body = Vec::new();
    let mut at = 0;
    while let Some(eol) = raw[at..].windows(2).position(|w| w == b"\r\n") {
        let line = std::str::from_utf8(&raw[at..at + eol]).map_err(|_| "bad chunk size")?;
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(hex, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
        let data = at + eol + 2;
        if size == 0 {
            // Trailers (none expected) end with a blank line.
            if raw.len() >= data + 2 && &raw[data..data + 2] == b"\r\n" {
                return Ok(Some((body, data + 2)));
            }
            break;
        }
        if raw.len() < data + size + 2 {
            break;
        }
        if &raw[data + size..data + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        body.extend_from_slice(&raw[data..data + size]);
        if let Some(p) = partial.as_deref_mut() {
            p.extend_from_slice(&raw[data..data + size]);
        }
        at = data + size + 2;
    }
    Ok(None)
}

/// Parses one response from the front of `buf`: `Ok(None)` while incomplete, else the response
/// and how many bytes it took. `head_request`: a response to HEAD (no body). `eof`: the peer
/// closed, so a body without a length ends here.
pub fn parse_response(
    buf: &[u8],
    head_request: bool,
    eof: bool,
) -> Result<Option<(Response, usize)>, String> {
    let Some(end) = head_end(buf) else {
        return Ok(None);
    };
    let (status, headers) = parse_head(&buf[..end])?;
    let mut r = Response {
        status,
        headers,
        body: Vec::new(),
        chunked: false,
    };
    if head_request || status == 304 || status == 204 || (100..200).contains(&status) {
        return Ok(Some((r, end)));
    }
    if r.header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        r.chunked = true;
        return Ok(decode_chunked(&buf[end..], None)?.map(|(body, n)| {
            r.body = body;
            (r, end + n)
        }));
    }
    if let Some(len) = r.header("Content-Length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        if buf.len() < end + len {
            return Ok(None);
        }
        r.body = buf[end..end + len].to_vec();
        return Ok(Some((r, end + len)));
    }
    if eof {
        r.body = buf[end..].to_vec();
        return Ok(Some((r, buf.len())));
    }
    Ok(None)
}

/// A blocking HTTP/1.1 client on one keep-alive connection; every read has a deadline.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, secs(5.0))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_write_timeout(Some(secs(10.0)))
            .expect("write timeout");
        let _ = stream.set_nodelay(true);
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends `method path` with `headers` (plus `Host`).
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.stream
            .write_all(req.as_bytes())
            .unwrap_or_else(|e| panic!("send {method} {path}: {e}"));
    }

    /// Reads more bytes (up to the deadline): `Ok(0)` at end of stream.
    pub fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(ErrorKind::TimedOut, "deadline passed"));
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 16384];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(io::Error::new(ErrorKind::TimedOut, "read timed out"));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads one whole response (a HEAD response when `head_request`).
    pub fn read_response(&mut self, head_request: bool) -> Result<Response, String> {
        let deadline = Instant::now() + secs(10.0);
        let mut eof = false;
        loop {
            if let Some((r, n)) = parse_response(&self.buf, head_request, eof)? {
                self.buf.drain(..n);
                return Ok(r);
            }
            if eof {
                return Err(format!(
                    "connection closed inside a response ({} bytes: {:?})",
                    self.buf.len(),
                    String::from_utf8_lossy(&self.buf[..self.buf.len().min(200)])
                ));
            }
            match self.fill(deadline) {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) => return Err(format!("reading a response: {e}")),
            }
        }
    }

    /// Sends a request and reads its response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, String> {
        self.send(method, path, headers);
        self.read_response(method == "HEAD")
    }

    /// Reads a response head only (for streams), leaving the body bytes buffered.
    pub fn read_head(&mut self) -> Result<(u16, Vec<(String, String)>), String> {
        let deadline = Instant::now() + secs(10.0);
        loop {
            if let Some(end) = head_end(&self.buf) {
                let head = parse_head(&self.buf[..end])?;
                self.buf.drain(..end);
                return Ok(head);
            }
            match self.fill(deadline) {
                Ok(0) => return Err("closed before the response head".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("reading a head: {e}")),
            }
        }
    }

    /// Bytes read but not consumed yet.
    pub fn buffered(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Waits for the peer to close (EOF or reset) within `limit`; `Err` with what came instead.
    pub fn expect_close(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.fill(deadline) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(format!("not closed within {limit:?}: {e}")),
            }
        }
    }
}

/// A Server-Sent Events reader on a [`Client`] whose `/events` head was read.
pub struct EventReader {
    pub client: Client,
    chunked: bool,
    /// Raw chunked bytes not decoded yet.
    raw: Vec<u8>,
    /// Decoded stream text not yet split into events.
    text: Vec<u8>,
}

/// One SSE event: its fields in order (`retry`, `data`, …).
#[derive(Debug, Clone)]
pub struct Event {
    pub fields: Vec<(String, String)>,
    pub at: Instant,
}

impl Event {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl EventReader {
    /// Opens `/events` on a new connection and checks the head.
    pub fn open(addr: SocketAddr) -> EventReader {
        EventReader::on(Client::connect(addr))
    }

    /// Asks for `/events` on `client`'s connection and checks the head.
    pub fn on(mut client: Client) -> EventReader {
        client.send("GET", "/events", &[("Accept", "text/event-stream")]);
        let (status, headers) = client.read_head().expect("/events head");
        assert_eq!(status, 200, "/events status: {headers:?}");
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get("Content-Type").as_deref(),
            Some("text/event-stream"),
            "{headers:?}"
        );
        let chunked = get("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let raw = std::mem::take(client.buffered());
        EventReader {
            client,
            chunked,
            raw,
            text: Vec::new(),
        }
    }

    /// Moves what can be decoded from `raw` into `text`.
    fn decode(&mut self) {
        if !self.chunked {
            self.text.append(&mut self.raw);
            return;
        }
        // Take whole chunks off the front (the stream never ends while open).
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let line = String::from_utf8_lossy(&self.raw[..eol]).into_owned();
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
            if size == 0 {
                return; // the end of the stream: nothing more will come
            }
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            self.text
                .extend_from_slice(&self.raw[eol + 2..eol + 2 + size]);
            assert_eq!(&self.raw[eol + 2 + size..eol + 4 + size], b"\r\n");
            self.raw.drain(..eol + 4 + size);
        }
    }

    /// The next event, waiting up to `deadline`.
    pub fn next(&mut self, deadline: Instant) -> Result<Event, String> {
        loop {
            self.decode();
            if let Some(end) = self.text.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.text.drain(..end + 2).collect();
                let block = String::from_utf8(block).map_err(|_| "event is not UTF-8")?;
                let fields = block
                    .lines()
                    .filter(|l| !l.is_empty() && !l.starts_with(':'))
                    .map(|l| match l.split_once(':') {
                        Some((n, v)) => (n.to_owned(), v.strip_prefix(' ').unwrap_or(v).to_owned()),
                        None => (l.to_owned(), String::new()),
                    })
                    .collect();
                return Ok(Event {
                    fields,
                    at: Instant::now(),
                });
            }
            match self.client.fill(deadline) {
                Ok(0) => return Err("event stream closed".into()),
                Ok(_) => self.raw.append(self.client.buffered()),
                Err(e) => return Err(format!("waiting for an event: {e}")),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON through Python.
// ---------------------------------------------------------------------------------------------

/// Parses stdin strictly (duplicate keys, NaN and Infinity are errors) and prints every node as
/// `path<TAB>kind<TAB>value`: objects list their keys (comma-separated), arrays their length,
/// strings are JSON-escaped (ASCII only), numbers as JSON writes them.
const FLATTEN: &str = r#"
import json, sys
def pairs(ps):
    d = {}
    for k, v in ps:
        if k in d:
            raise ValueError("duplicate key %r" % k)
        d[k] = v
    return d
def constant(c):
    raise ValueError("non-standard constant %s" % c)
doc = json.loads(sys.stdin.buffer.read().decode("utf-8"), object_pairs_hook=pairs,
                 parse_constant=constant)
out = []
def walk(path, v):
    if isinstance(v, dict):
        out.append((path, "obj", ",".join(v.keys())))
        for k, x in v.items():
            walk(path + [k], x)
    elif isinstance(v, list):
        out.append((path, "arr", str(len(v))))
        for i, x in enumerate(v):
            walk(path + [str(i)], x)
    elif v is None:
        out.append((path, "null", "null"))
    elif isinstance(v, bool):
        out.append((path, "bool", json.dumps(v)))
    elif isinstance(v, str):
        out.append((path, "str", json.dumps(v)))
    else:
        out.append((path, "num", json.dumps(v)))
walk([], doc)
sys.stdout.write("".join(".".join(p) + "\t" + k + "\t" + x + "\n" for p, k, x in out))
"#;

/// Whether `python3` runs (checked once; a message when it does not).
pub fn python_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let ok = Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("SKIP: python3 not available: JSON documents are not checked");
        }
        ok
    })
}

/// Runs `python3 -c script` with `input` on stdin: `Ok(stdout)` or `Err(stderr)`.
pub fn python(script: &str, input: &[u8]) -> Result<String, String> {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("python3: {e}"))?;
    let _ = writer.join();
    if out.status.success() {
        String::from_utf8(out.stdout).map_err(|_| "python3 printed non-UTF-8".into())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Kind of a JSON node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Obj,
    Arr,
    Str,
    Num,
    Bool,
    Null,
}

/// A JSON document flattened by Python: `"memory.total_bytes"`, `"interfaces.0.name"` (the root
/// is `""`).
#[derive(Debug, Clone)]
pub struct Json {
    nodes: BTreeMap<String, (Kind, String)>,
}

impl Json {
    /// `None` (with a message) without python3, else the parse result.
    pub fn parse(doc: &[u8]) -> Option<Result<Json, String>> {
        if !python_available() {
            return None;
        }
        let flat = match python(FLATTEN, doc) {
            Ok(f) => f,
            Err(e) => {
                let start = String::from_utf8_lossy(&doc[..doc.len().min(200)]).into_owned();
                return Some(Err(format!(
                    "not valid JSON per Python: {e}; document starts {start:?}"
                )));
            }
        };
        let mut nodes = BTreeMap::new();
        for line in flat.lines() {
            let mut it = line.splitn(3, '\t');
            let (Some(path), Some(kind), Some(value)) = (it.next(), it.next(), it.next()) else {
                return Some(Err(format!("bad flattened line {line:?}")));
            };
            let kind = match kind {
                "obj" => Kind::Obj,
                "arr" => Kind::Arr,
                "str" => Kind::Str,
                "num" => Kind::Num,
                "bool" => Kind::Bool,
                _ => Kind::Null,
            };
            nodes.insert(path.to_owned(), (kind, value.to_owned()));
        }
        Some(Ok(Json { nodes }))
    }

    pub fn kind(&self, path: &str) -> Option<Kind> {
        self.nodes.get(path).map(|(k, _)| *k)
    }

    fn node(&self, path: &str, want: Kind) -> &str {
        match self.nodes.get(path) {
            Some((k, v)) if *k == want => v,
            other => panic!("JSON {path:?}: expected {want:?}, found {other:?}"),
        }
    }

    pub fn has(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    pub fn is_null(&self, path: &str) -> bool {
        self.kind(path) == Some(Kind::Null)
    }

    /// A string, unescaped.
    pub fn str(&self, path: &str) -> String {
        unescape_json(self.node(path, Kind::Str))
    }

    pub fn u64(&self, path: &str) -> u64 {
        let v = self.node(path, Kind::Num);
        v.parse()
            .unwrap_or_else(|_| panic!("JSON {path:?}: {v} is not a u64"))
    }

    pub fn f64(&self, path: &str) -> f64 {
        let v = self.node(path, Kind::Num);
        v.parse()
            .unwrap_or_else(|_| panic!("JSON {path:?}: {v} is not a number"))
    }

    pub fn bool(&self, path: &str) -> bool {
        self.node(path, Kind::Bool) == "true"
    }

    /// Length of an array.
    pub fn len(&self, path: &str) -> usize {
        self.node(path, Kind::Arr).parse().expect("array length")
    }

    /// Keys of an object, in document order.
    pub fn keys(&self, path: &str) -> Vec<String> {
        let v = self.node(path, Kind::Obj);
        if v.is_empty() {
            Vec::new()
        } else {
            v.split(',').map(str::to_owned).collect()
        }
    }

    /// `prefix.key` for a non-root `prefix`, `key` for the root.
    pub fn join(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    }
}

/// Undoes `json.dumps` of a string (quotes, `\"`, `\\`, `\/`, `\n`…, `\uXXXX` with surrogates).
pub fn unescape_json(quoted: &str) -> String {
    let inner = quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a JSON string: {quoted}"));
    let mut units: Vec<u16> = Vec::new();
    let mut out = String::new();
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        out.push_str(&String::from_utf16_lossy(units));
        units.clear();
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut units, &mut out);
            out.push(c);
            continue;
        }
        let e = chars.next().expect("escape");
        if e == 'u' {
            let hex: String = chars.by_ref().take(4).collect();
            units.push(u16::from_str_radix(&hex, 16).expect("\\u escape"));
            continue;
        }
        flush(&mut units, &mut out);
        out.push(match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'b' => '\u{8}',
            'f' => '\u{c}',
            other => other,
        });
    }
    flush(&mut units, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// The host, read with std.
// ---------------------------------------------------------------------------------------------

pub fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .trim()
        .to_owned()
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub fn host_mem_total() -> u64 {
    read_trimmed("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("MemTotal in /proc/meminfo")
        * 1024
}

/// The `cpuN` lines of `/proc/stat`.
pub fn host_cpu_count() -> u64 {
    read_trimmed("/proc/stat")
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .and_then(|r| r.split(char::is_whitespace).next())
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count() as u64
}

/// `uname().machine` of the test process (the same emulated machine as the firmware's under
/// QEMU user emulation).
pub fn host_machine() -> String {
    // SAFETY: `utsname` is plain old data: all zeroes is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uname` writes one `utsname` into the valid, exclusively borrowed `u`.
    let r = unsafe { libc::uname(&mut u) };
    assert_eq!(r, 0, "uname: {}", io::Error::last_os_error());
    let bytes: Vec<u8> = u
        .machine
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).expect("machine is UTF-8")
}

/// Whether `uname -m` output `machine` is the architecture Rust calls `arch`
/// (`std::env::consts::ARCH`).
pub fn machine_matches_arch(machine: &str, arch: &str) -> bool {
    match arch {
        "x86" => matches!(machine, "i386" | "i486" | "i586" | "i686"),
        "aarch64" => matches!(machine, "aarch64" | "arm64" | "aarch64_be"),
        "arm" => machine.starts_with("arm"),
        "powerpc64" => machine.starts_with("ppc64"),
        "loongarch64" => machine == "loongarch64",
        other => machine == other,
    }
}

/// Seconds since boot (`/proc/uptime`).
pub fn host_uptime() -> f64 {
    read_trimmed("/proc/uptime")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("/proc/uptime")
}

/// The 1-minute load average (`/proc/loadavg`).
pub fn host_load1() -> f64 {
    read_trimmed("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("/proc/loadavg")
}

/// `(rx_bytes, tx_bytes)` of `iface` from `/proc/net/dev`.
pub fn host_iface_bytes(iface: &str) -> Option<(u64, u64)> {
    let dev = read_trimmed("/proc/net/dev");
    dev.lines().find_map(|l| {
        let (name, rest) = l.split_once(':')?;
        if name.trim() != iface {
            return None;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        Some((*f.first()?, *f.get(8)?))
    })
}

/// Whether `statvfs(path)` works.
pub fn statvfs_works(path: &str) -> bool {
    let c = std::ffi::CString::new(path).expect("path");
    // SAFETY: `statvfs` is plain old data: all zeroes is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated string and `st` a valid, exclusive out-pointer.
    unsafe { libc::statvfs(c.as_ptr(), &mut st) == 0 }
}

/// Wall clock in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

// ---------------------------------------------------------------------------------------------
// The page's formats.
// ---------------------------------------------------------------------------------------------

/// Bytes as the page shows them: binary units, one decimal, truncated (`23.5 GiB`, `512 B`).
pub fn page_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut div: u128 = 1024;
    let mut unit = 0;
    while u128::from(n) * 10 / div >= 10 * 1024 && unit + 1 < units.len() {
        div *= 1024;
        unit += 1;
    }
    let tenths = u128::from(n) * 10 / div;
    format!("{}.{} {}", tenths / 10, tenths % 10, units[unit])
}

/// The text of the first element with `id="id"` up to its first child tag, HTML-unescaped.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let open_end = at + html[at..].find('>')? + 1;
    let close = open_end + html[open_end..].find('<')?;
    Some(unescape_html(&html[open_end..close]))
}

/// Undoes the page's HTML escaping (`&amp;` `&lt;` `&gt;` `&quot;` `&#39;`).
pub fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Escapes text as the page does.
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses the page's `2024-01-31 23:59:59 UTC` into seconds since the Unix epoch.
pub fn parse_page_date(s: &str) -> Option<i64> {
    let s = s.strip_suffix(" UTC")?;
    let (date, time) = s.split_once(' ')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let mut t = time.split(':');
    let (h, mi, se): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    Some(days_from_civil(y, m, day) * 86_400 + h * 3600 + mi * 60 + se)
}
