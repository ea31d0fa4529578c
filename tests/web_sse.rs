//! `edgeloop::web::EventSource` over real sockets: events broadcast from a timer and read by a
//! real client (Python's `urllib`, skipped when `python3` is missing) and by the test client,
//! the cap on concurrent streams (`503`), dead clients freeing their slot (through `on_close`
//! and through a failed write), and forged events refused.
//!
//! Run with `cargo test --test web_sse`.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
use edgeloop::ioloop::{Error, IoLoop, Token};
use edgeloop::tcpserver::ConnId;
use edgeloop::web::sse::SseError;
use edgeloop::web::{
    Application, EventSource, HandlerResult, Methods, RequestHandler, Route, WebRequest,
};
use edgeloop_testing::{TestClient, TestServer, build_request};

/// Streams each test server allows.
const CAP: usize = 2;

struct App {
    http: HttpServer<App>,
    events: EventSource<CAP>,
    /// Forward `on_close` to the event source (else only failed writes find dead clients).
    forward_close: bool,
    n: u32,
    /// Open streams and streams removed by a failed write, published for the test thread.
    open: Arc<AtomicUsize>,
    removed: Arc<AtomicUsize>,
}

impl HttpApp for App {
    fn http(&mut self) -> &mut HttpServer<App> {
        &mut self.http
    }
    fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
        WEB.dispatch(self, lp, req, resp);
        self.open.store(self.events.len(), Ordering::SeqCst);
    }
    fn on_close(&mut self, _: &mut IoLoop<App>, conn: ConnId) {
        if self.forward_close {
            self.events.on_close(conn);
            self.open.store(self.events.len(), Ordering::SeqCst);
        }
    }
}

fn events(app: &mut App) -> &mut EventSource<CAP> {
    &mut app.events
}

/// Every 20 ms: `event: tick`, `data: n=N` to every stream.
fn tick(app: &mut App, lp: &mut IoLoop<App>, _: Token) -> Result<(), Error> {
    let data = format!("n={}", app.n);
    app.n += 1;
    let report = EventSource::broadcast(app, lp, events, Some("tick"), data.as_bytes())
        .expect("a valid event");
    app.removed.fetch_add(report.removed, Ordering::SeqCst);
    app.open.store(app.events.len(), Ordering::SeqCst);
    lp.call_later(Duration::from_millis(20), tick, Token(0))?;
    Ok(())
}

struct Events;
impl RequestHandler<App> for Events {
    fn allowed(&self) -> Methods {
        Methods::GET
    }
    fn get(
        &self,
        app: &mut App,
        _: &mut IoLoop<App>,
        req: &WebRequest<'_, '_>,
        resp: &mut Response<'_>,
    ) -> HandlerResult {
        app.events.open(req, resp)?;
        resp.write(b"retry: 1000\n\n")?;
        Ok(())
    }
}

/// Tries to forge events through a broadcast; reports each outcome.
struct Forge;
impl RequestHandler<App> for Forge {
    fn allowed(&self) -> Methods {
        Methods::POST
    }
    fn post(
        &self,
        app: &mut App,
        lp: &mut IoLoop<App>,
        _: &WebRequest<'_, '_>,
        resp: &mut Response<'_>,
    ) -> HandlerResult {
        let attempts: [(Option<&str>, &[u8]); 4] = [
            (Some("x\nevent: forged"), b"d"),
            (Some("x\r"), b"d"),
            (None, b"a\rdata: forged"),
            (None, b"a\0"),
        ];
        for (event, data) in attempts {
            let r = EventSource::broadcast(app, lp, events, event, data);
            resp.write(format!("{:?}\n", r.err()).as_bytes())?;
        }
        Ok(())
    }
}

static ROUTES: [Route<App>; 2] = [Route::new("/events", &Events), Route::new("/forge", &Forge)];
static WEB: Application<App> = Application::new(&ROUTES);

struct Server {
    s: TestServer<App>,
    open: Arc<AtomicUsize>,
    removed: Arc<AtomicUsize>,
}

fn start(forward_close: bool) -> Server {
    let open = Arc::new(AtomicUsize::new(0));
    let removed = Arc::new(AtomicUsize::new(0));
    let (o, r) = (open.clone(), removed.clone());
    let s = TestServer::start(move |http, lp| {
        lp.call_later(Duration::from_millis(20), tick, Token(0))
            .unwrap();
        App {
            http,
            events: EventSource::new(),
            forward_close,
            n: 0,
            open: o,
            removed: r,
        }
    });
    Server { s, open, removed }
}

/// Opens a stream: checks the head and the first chunk.
fn open_stream(s: &TestServer<App>) -> TestClient {
    let mut c = s.client().unwrap();
    c.send(&build_request("GET", "/events", &[], b"")).unwrap();
    let head = c.read_head().unwrap();
    assert_eq!(head.status, 200, "{}", head.head);
    assert_eq!(head.header("Content-Type"), Some("text/event-stream"));
    assert_eq!(head.header("Cache-Control"), Some("no-cache"));
    assert_eq!(head.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(head.header("ETag"), None);
    assert_eq!(c.read_chunk().unwrap().unwrap(), b"retry: 1000\n\n");
    c
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sse_events_from_a_timer_read_by_the_test_client() {
    let srv = start(true);
    let mut c = open_stream(&srv.s);
    let mut last = None;
    for _ in 0..3 {
        let chunk = String::from_utf8(c.read_chunk().unwrap().unwrap()).unwrap();
        let n: u32 = chunk
            .strip_prefix("event: tick\ndata: n=")
            .and_then(|r| r.strip_suffix("\n\n"))
            .unwrap_or_else(|| panic!("{chunk:?}"))
            .parse()
            .unwrap();
        assert!(last.is_none_or(|l| n > l), "{n} after {last:?}");
        last = Some(n);
    }
}

#[test]
fn sse_three_events_read_by_python() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: skipped");
        return;
    }
    let srv = start(true);
    let script = r#"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    print(r.status, r.headers["Content-Type"])
    events, cur = [], {}
    while len(events) < 3:
        line = r.readline().decode()
        if line == "":
            break
        line = line.rstrip("\n")
        if line == "":
            if "data" in cur:
                events.append(cur)
            cur = {}
            continue
        k, _, v = line.partition(": ")
        cur[k] = v
    for e in events:
        print(e.get("event"), e.get("data"))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &srv.s.url("/events")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0], "200 text/event-stream");
    for l in &lines[1..] {
        assert!(l.starts_with("tick n="), "{stdout}");
    }
}

#[test]
fn sse_stream_cap_is_503_and_a_closed_client_frees_its_slot() {
    let srv = start(true);
    let first = open_stream(&srv.s);
    let _second = open_stream(&srv.s);
    assert_eq!(srv.open.load(Ordering::SeqCst), CAP);
    let r = srv.s.get("/events").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("Retry-After"), Some("1"));
    assert!(r.text().contains("503: Service Unavailable"));
    drop(first);
    wait_for("the closed stream to leave the table", || {
        srv.open.load(Ordering::SeqCst) < CAP
    });
    let _third = open_stream(&srv.s);
}

#[test]
fn sse_dead_client_removed_by_a_failed_write() {
    // on_close is not forwarded: only the broadcast's failed write can find the dead client.
    let srv = start(false);
    let first = open_stream(&srv.s);
    let _second = open_stream(&srv.s);
    drop(first);
    wait_for("a broadcast to remove the dead stream", || {
        srv.removed.load(Ordering::SeqCst) >= 1
    });
    assert_eq!(srv.open.load(Ordering::SeqCst), 1);
    let _third = open_stream(&srv.s);
}

#[test]
fn sse_forged_events_are_refused() {
    let srv = start(true);
    let mut c = open_stream(&srv.s);
    let r = srv.s.post("/forge", "text/plain", b"").unwrap();
    let expected = format!("{:?}\n", Some(SseError::InvalidEvent)).repeat(4);
    assert_eq!(r.text(), expected);
    for _ in 0..5 {
        let chunk = String::from_utf8(c.read_chunk().unwrap().unwrap()).unwrap();
        assert!(!chunk.contains("forged"), "{chunk:?}");
        assert!(chunk.starts_with("event: tick\ndata: n="), "{chunk:?}");
    }
}
