#![cfg(feature = "status")]
//! In-process tests of `edgeloop::status::service`: a status service in a real loop on this
//! thread, a real client on 127.0.0.1 in another, and the loop driven step by step
//! (`IoLoop::run_once`) so that the order of events is the test's, not the scheduler's.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use edgeloop::config::MAX_CONNECTIONS;
use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response};
use edgeloop::ioloop::IoLoop;
use edgeloop::status::service::{self, StatusApp, StatusService, Storage};
use edgeloop::status::snapshot::Snapshot;
use edgeloop::tcpserver::ConnId;
use edgeloop_testing::{TestClient, TestConfig, TestResponse};

/// Large enough for a whole status event per buffer, as the status firmware sizes them.
const BUF_SIZE: usize = 16384;
const BUFFERS: usize = 8;
/// What the service reports as `edgeloop_static_memory_bytes`: a value no refresh invents.
const STATIC_MEMORY: u64 = 123_457;

struct App {
    http: HttpServer<App>,
    status: StatusService,
}

impl HttpApp for App {
    fn http(&mut self) -> &mut HttpServer<App> {
        &mut self.http
    }

    fn on_request(&mut self, _: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
        if !self.status.handle(req, resp) {
            let _ = resp.set_status(404);
        }
    }

    fn on_stream_drained(&mut self, lp: &mut IoLoop<App>, conn: ConnId) {
        service::on_stream_drained(self, lp, conn);
    }

    fn on_close(&mut self, _: &mut IoLoop<App>, conn: ConnId) {
        self.status.on_close(conn);
    }
}

impl StatusApp for App {
    fn status(&mut self) -> &mut StatusService {
        &mut self.status
    }
}

/// A loop and an application listening on 127.0.0.1 (memory leaked: one per test).
fn server() -> (Box<IoLoop<App>>, App, SocketAddr) {
    let sizes = TestConfig {
        slots: MAX_CONNECTIONS.min(16),
        buffers: BUFFERS,
        buffer_size: BUF_SIZE,
    };
    let http = edgeloop_testing::http_server(sizes).expect("server");
    let snapshot = Box::leak(Box::new(Snapshot::new()));
    let storage = Box::leak(Box::new(Storage::new()));
    let mut lp = Box::new(IoLoop::new());
    let mut app = App {
        http,
        status: StatusService::new(snapshot, storage, STATIC_MEMORY),
    };
    let addr = app
        .http
        .listen(&mut lp, ([127, 0, 0, 1], 0).into())
        .expect("listen");
    (lp, app, addr)
}

/// Drives the loop until `done` or 10 s.
fn run_until(lp: &mut IoLoop<App>, app: &mut App, mut done: impl FnMut(&mut App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(app) {
        assert!(
            Instant::now() < deadline,
            "the loop did not get there in 10 s"
        );
        lp.run_once(app, Some(Duration::from_millis(50)))
            .expect("run_once");
    }
}

fn text(r: &TestResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// A request already queued when the loop starts is served before any timer runs: it must see
/// a refreshed snapshot, not the empty one the service was built with.
#[test]
fn a_request_queued_before_the_loop_starts_sees_a_refreshed_snapshot() {
    let (mut lp, mut app, addr) = server();
    service::start_refresh(&mut app, &mut lp).expect("start_refresh");
    assert_eq!(app.status.stats().refreshes, 1, "refreshed once, now");

    let (sent_tx, sent_rx) = mpsc::channel();
    let client = thread::spawn(move || {
        let mut c = TestClient::connect(addr).expect("connect");
        c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("send");
        sent_tx.send(()).expect("signal");
        let metrics = c.read_response(false).expect("GET /metrics");
        let status = c.get("/api/status").expect("GET /api/status");
        (metrics, status)
    });
    sent_rx.recv().expect("the client sent its request");
    // The request is in the socket before the loop's first iteration.
    thread::sleep(Duration::from_millis(50));
    run_until(&mut lp, &mut app, |_| client.is_finished());
    let (metrics, status) = client.join().expect("client thread");

    assert_eq!(metrics.status, 200, "{}", metrics.head);
    let m = text(&metrics);
    assert!(
        m.contains(&format!("\nedgeloop_static_memory_bytes {STATIC_MEMORY}\n")),
        "static memory from the refresh: {m}"
    );
    assert!(
        m.contains("\nprocess_resident_memory_bytes "),
        "RSS from the refresh (/proc/self/statm): {m}"
    );
    assert!(
        m.lines()
            .any(|l| l.starts_with("node_memory_MemTotal_bytes ")),
        "system figures from the refresh: {m}"
    );
    assert_eq!(status.status, 200, "{}", status.head);
    let s = text(&status);
    assert!(
        s.contains(&format!("\"static_memory_bytes\":{STATIC_MEMORY}")),
        "{s}"
    );
}

/// After the first refresh, one a second from the loop's timer.
#[test]
fn refreshes_once_a_second_after_the_first() {
    let (mut lp, mut app, _addr) = server();
    let t0 = lp.time();
    service::start_refresh(&mut app, &mut lp).expect("start_refresh");
    assert_eq!(app.status.stats().refreshes, 1);
    run_until(&mut lp, &mut app, |_| {
        elapsed(t0) >= Duration::from_millis(2_300)
    });
    // Every timer due by `before` has run after one more turn; none due after `after` has.
    let before = elapsed(t0).as_secs();
    lp.run_once(&mut app, Some(Duration::ZERO))
        .expect("run_once");
    let after = elapsed(t0).as_secs();
    let n = app.status.stats().refreshes;
    assert!(
        (1 + before..=1 + after).contains(&n),
        "one refresh at start, then one a second: {n} after {before}-{after} s"
    );
}

/// Time since `t0` on the loop's clock.
fn elapsed(t0: edgeloop::ioloop::Instant) -> Duration {
    edgeloop::ioloop::Instant::now().saturating_duration_since(t0)
}
