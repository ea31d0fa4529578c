//! The status endpoints as a ready-made service for any firmware's [`HttpApp`].
//!
//! [`StatusService`] answers `/` (the page), `/api/status` (JSON), `/api/history`, `/metrics`
//! (Prometheus), `/events` (Server-Sent Events, a fresh status every refresh) and the page's
//! assets under `/status/`. A firmware keeps one in its application, forwards requests to
//! [`StatusService::handle`] (which says whether the path was its own, so the firmware can serve
//! its own routes beside it), forwards [`HttpApp::on_stream_drained`] and [`HttpApp::on_close`],
//! and calls [`start_refresh`] before the loop starts (a refresh now, then [`refresh`] once a
//! second from a periodic callback).
//!
//! **Formatting from one snapshot.** The refresh reads `/proc` and `/sys` once; every endpoint
//! formats from that snapshot, and each document is rendered at most once per refresh into its
//! own fixed buffer ([`Storage`]), however many clients ask. Documents larger than a connection's
//! write buffer are streamed in windows as the client reads (pull streaming), so a 100 KB
//! `/metrics` needs no 100 KB connection buffer. A document is not re-rendered while a client
//! is still reading it (that client would get a torn body): it is then up to a refresh behind,
//! which the write timeout bounds.

use core::time::Duration;

use crate::config::parse_or;
use crate::http::Method;
use crate::httpserver::{HttpApp, HttpServer, Request, Response};
use crate::ioloop::{Error, Instant, IoLoop, Token};
use crate::tcpserver::ConnId;

use super::json::{HISTORY_JSON_MAX, STATUS_EVENT_MAX, STATUS_JSON_MAX, write_history};
use super::json::{write_status, write_status_event};
use super::metrics::{METRICS_MAX, write_metrics};
use super::page::{PAGE_MAX, asset_for_path, render};
use super::snapshot::{ServerFigures, Snapshot};

/// Event streams (`/events`) open at once; more get `503`.
///
/// Default 32. Set with `EDGELOOP_STATUS_MAX_EVENT_STREAMS`.
pub const MAX_EVENT_STREAMS: usize = parse_or(option_env!("EDGELOOP_STATUS_MAX_EVENT_STREAMS"), 32);

/// Large documents being streamed at once; more get `503` until one finishes.
///
/// Default 32. Set with `EDGELOOP_STATUS_MAX_TRANSFERS`.
pub const MAX_TRANSFERS: usize = parse_or(option_env!("EDGELOOP_STATUS_MAX_TRANSFERS"), 32);

/// The rendered documents, one fixed buffer each, sized for the worst case of every table
/// full. Zero-initialised: as a `static` it lives in `.bss`, and only the pages a document
/// actually uses become resident.
#[derive(Debug)]
pub struct Storage {
    json: [u8; STATUS_JSON_MAX],
    history: [u8; HISTORY_JSON_MAX],
    metrics: [u8; METRICS_MAX],
    page: [u8; PAGE_MAX],
    event: [u8; STATUS_EVENT_MAX],
}

impl Storage {
    /// Empty buffers (`const`: `static_cell::ConstStaticCell::new(Storage::new())`).
    pub const fn new() -> Self {
        Storage {
            json: [0; STATUS_JSON_MAX],
            history: [0; HISTORY_JSON_MAX],
            metrics: [0; METRICS_MAX],
            page: [0; PAGE_MAX],
            event: [0; STATUS_EVENT_MAX],
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    Json,
    History,
    Metrics,
    Page,
}

const DOCS: usize = 4;

impl Doc {
    fn index(self) -> usize {
        self as usize
    }

    fn content_type(self) -> &'static [u8] {
        match self {
            Doc::Json | Doc::History => b"application/json",
            Doc::Metrics => b"text/plain; version=0.0.4; charset=utf-8",
            Doc::Page => b"text/html; charset=utf-8",
        }
    }
}

/// A document rendered into its buffer (lent out of the service while it is written).
#[derive(Debug)]
struct Cache {
    buf: Option<&'static mut [u8]>,
    len: usize,
    /// The refresh it was rendered from (`u64::MAX`: never rendered, or failed).
    seq: u64,
    /// Clients still reading it.
    readers: u16,
}

#[derive(Debug, Clone, Copy)]
struct Transfer {
    conn: ConnId,
    doc: Doc,
    offset: usize,
}

/// Counters of the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServiceStats {
    /// Refreshes done.
    pub refreshes: u64,
    /// Documents rendered (at most one per document per refresh).
    pub renders: u64,
    /// Events sent.
    pub events_sent: u64,
    /// Events skipped for a client that had not read the previous ones.
    pub events_dropped: u64,
    /// Requests refused with 503 (stream or transfer tables full).
    pub refused: u64,
}

/// The status endpoints. See the [module docs](self).
#[derive(Debug)]
pub struct StatusService {
    snapshot: &'static mut Snapshot,
    caches: [Cache; DOCS],
    event: Option<&'static mut [u8]>,
    transfers: heapless::Vec<Transfer, MAX_TRANSFERS>,
    streams: heapless::Vec<ConnId, MAX_EVENT_STREAMS>,
    seq: u64,
    started: Instant,
    static_memory_bytes: u64,
    stats: ServiceStats,
}

/// An application that contains a [`StatusService`] (so its refresh can reach it).
pub trait StatusApp: HttpApp {
    /// The service inside the application.
    fn status(&mut self) -> &mut StatusService;
}

impl StatusService {
    /// A service over a snapshot and the document buffers. `static_memory_bytes` is what the
    /// firmware reserved at build time (reported as `edgeloop_static_memory_bytes`).
    pub fn new(
        snapshot: &'static mut Snapshot,
        storage: &'static mut Storage,
        static_memory_bytes: u64,
    ) -> Self {
        let Storage {
            json,
            history,
            metrics,
            page,
            event,
        } = storage;
        let cache = |buf: &'static mut [u8]| Cache {
            buf: Some(buf),
            len: 0,
            seq: u64::MAX,
            readers: 0,
        };
        StatusService {
            snapshot,
            caches: [cache(json), cache(history), cache(metrics), cache(page)],
            event: Some(event),
            transfers: heapless::Vec::new(),
            streams: heapless::Vec::new(),
            seq: 0,
            started: Instant::now(),
            static_memory_bytes,
            stats: ServiceStats::default(),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        self.snapshot
    }

    /// The service's counters.
    pub fn stats(&self) -> ServiceStats {
        self.stats
    }

    /// Answers a status request. Returns `false` (leaving `resp` untouched) when the path is
    /// not one of the service's, so the firmware can route it elsewhere.
    pub fn handle(&mut self, req: &Request<'_>, resp: &mut Response<'_>) -> bool {
        let doc = match req.path {
            "/" | "/index.html" => Doc::Page,
            "/api/status" => Doc::Json,
            "/api/history" => Doc::History,
            "/metrics" => Doc::Metrics,
            "/events" => {
                if !only_get(req, resp) {
                    return true;
                }
                self.start_events(req, resp);
                return true;
            }
            p if p.starts_with(super::page::ASSET_PREFIX) => {
                if only_get(req, resp) {
                    serve_asset(req, resp);
                }
                return true;
            }
            _ => return false,
        };
        if only_get(req, resp) {
            self.serve_doc(doc, req, resp);
        }
        true
    }

    fn render(&mut self, doc: Doc) {
        let c = &mut self.caches[doc.index()];
        if c.seq == self.seq || (c.readers > 0 && c.seq != u64::MAX) {
            return; // fresh, or still being read (then one refresh behind)
        }
        let Some(buf) = c.buf.as_deref_mut() else {
            return;
        };
        let snap = &*self.snapshot;
        let r = match doc {
            Doc::Json => write_status(snap, buf),
            Doc::History => write_history(&snap.history, buf),
            Doc::Metrics => write_metrics(snap, buf),
            Doc::Page => render(snap, buf),
        };
        match r {
            Ok(n) => {
                c.len = n;
                c.seq = self.seq;
            }
            Err(_) => c.seq = u64::MAX,
        }
        self.stats.renders += 1;
    }

    fn serve_doc(&mut self, doc: Doc, req: &Request<'_>, resp: &mut Response<'_>) {
        self.render(doc);
        let c = &mut self.caches[doc.index()];
        let (Some(buf), false) = (c.buf.as_deref(), c.seq == u64::MAX) else {
            let _ = resp.set_status(500);
            return;
        };
        let _ = resp.set_header("Content-Type", doc.content_type());
        let _ = resp.set_header("Cache-Control", b"no-cache");
        let body = &buf[..c.len];
        if body.len() <= resp.body_room() {
            let _ = resp.write(body);
            return;
        }
        if req.method == Method::Head {
            // The head a GET gets: streamed (chunked), so no length to state.
            resp.stream();
            return;
        }
        if self.transfers.is_full() {
            self.stats.refused += 1;
            let _ = resp.set_status(503);
            let _ = resp.set_header("Retry-After", b"1");
            return;
        }
        let first = resp.body_room();
        let _ = resp.write(&body[..first]);
        resp.stream();
        c.readers += 1;
        let _ = self.transfers.push(Transfer {
            conn: req.conn,
            doc,
            offset: first,
        });
    }

    fn start_events(&mut self, req: &Request<'_>, resp: &mut Response<'_>) {
        if req.method == Method::Head {
            // The head of a stream only: nothing to subscribe.
            let _ = resp.set_header("Content-Type", b"text/event-stream");
            let _ = resp.set_header("Cache-Control", b"no-cache");
            return;
        }
        if self.streams.is_full() && !self.streams.contains(&req.conn) {
            self.stats.refused += 1;
            let _ = resp.set_status(503);
            let _ = resp.set_header("Retry-After", b"5");
            return;
        }
        resp.event_stream();
        // Reconnect after 2 s if the connection drops.
        let _ = resp.write(b"retry: 2000\n\n");
        // The current status at once, not only at the next refresh.
        if let (Some(buf), true) = (self.event.as_deref_mut(), self.seq > 0) {
            if let Ok(n) = write_status_event(self.snapshot, buf) {
                let _ = resp.write(&buf[..n]);
            }
        }
        if !self.streams.contains(&req.conn) {
            let _ = self.streams.push(req.conn);
        }
    }

    /// Forget a connection that closed (call from [`HttpApp::on_close`]).
    pub fn on_close(&mut self, conn: ConnId) {
        self.streams.retain(|c| *c != conn);
        if let Some(i) = self.transfers.iter().position(|t| t.conn == conn) {
            let t = self.transfers.swap_remove(i);
            let c = &mut self.caches[t.doc.index()];
            c.readers = c.readers.saturating_sub(1);
        }
    }
}

fn only_get(req: &Request<'_>, resp: &mut Response<'_>) -> bool {
    if matches!(req.method, Method::Get | Method::Head) {
        return true;
    }
    let _ = resp.set_status(405);
    let _ = resp.set_header("Allow", b"GET, HEAD");
    false
}

fn serve_asset(req: &Request<'_>, resp: &mut Response<'_>) {
    let Some(asset) = asset_for_path(req.path) else {
        let _ = resp.set_status(404);
        return;
    };
    let gzip = crate::web::static_files::accepts_gzip(req);
    let (body, etag) = if gzip && !asset.gzip.is_empty() {
        let _ = resp.set_header("Content-Encoding", b"gzip");
        (asset.gzip, asset.gzip_etag)
    } else {
        (asset.raw, asset.etag)
    };
    let _ = resp.set_header("Vary", b"Accept-Encoding");
    let _ = resp.set_header("ETag", etag.as_bytes());
    let _ = resp.set_header("Cache-Control", b"no-cache");
    let _ = resp.set_header("Content-Type", asset.content_type.as_bytes());
    if crate::web::etag::request_matches(req, etag.as_bytes()) {
        let _ = resp.set_status(304);
        return;
    }
    let _ = resp.write_static(body);
}

/// Sends the next window of the document connection `conn` is reading (call from
/// [`HttpApp::on_stream_drained`]).
pub fn on_stream_drained<A: StatusApp>(app: &mut A, lp: &mut IoLoop<A>, conn: ConnId) {
    let svc = app.status();
    let Some(i) = svc.transfers.iter().position(|t| t.conn == conn) else {
        return;
    };
    let t = svc.transfers[i];
    let c = &mut svc.caches[t.doc.index()];
    let len = c.len;
    let Some(buf) = c.buf.take() else {
        return;
    };
    let room = app
        .http()
        .tcp()
        .conn(conn)
        .map_or(0, |c| c.stream.writer().room());
    // Chunk framing takes up to 20 bytes of the room.
    let n = room.saturating_sub(24).min(len - t.offset);
    let r = if n > 0 {
        HttpServer::stream_write(app, lp, conn, &[&buf[t.offset..t.offset + n]])
    } else {
        Ok(())
    };
    let svc = app.status();
    svc.caches[t.doc.index()].buf = Some(buf);
    let done = r.is_err() || t.offset + n >= len;
    if let Some(tr) = svc.transfers.get_mut(i) {
        tr.offset += n;
    }
    if done {
        let t = svc.transfers.swap_remove(i);
        let c = &mut svc.caches[t.doc.index()];
        c.readers = c.readers.saturating_sub(1);
        let _ = HttpServer::stream_end(app, lp, conn);
    }
}

/// Refreshes the snapshot now, then once a second (with the event broadcast) on the loop.
///
/// Call it before [`IoLoop::start`]: the loop serves ready connections before it runs due
/// timers, so a request already queued when the loop starts would otherwise be answered from
/// the empty snapshot of [`Snapshot::new`].
pub fn start_refresh<A: StatusApp>(app: &mut A, lp: &mut IoLoop<A>) -> Result<(), Error> {
    refresh(app, lp, Token(0))?;
    let period = Duration::from_secs(1);
    lp.call_every(lp.time() + period, period, refresh::<A>, Token(0))?;
    Ok(())
}

/// Refreshes the snapshot from `/proc` and `/sys` with the server's own figures, then sends the
/// new status to every event stream. Runs from [`start_refresh`]'s periodic callback.
pub fn refresh<A: StatusApp>(app: &mut A, lp: &mut IoLoop<A>, _: Token) -> Result<(), Error> {
    let http = app.http();
    let connections_open = http.tcp_stats().active as u64;
    let requests_served = http.stats().requests;
    let (bytes_in, bytes_out) = http.tcp().byte_totals();
    let svc = app.status();
    let figures = ServerFigures {
        uptime_s: lp.time().saturating_duration_since(svc.started).as_secs(),
        connections_open,
        requests_served,
        bytes_in,
        bytes_out,
        rss_bytes: super::process::read_process_memory()
            .ok()
            .and_then(|m| m.rss_bytes),
        static_memory_bytes: svc.static_memory_bytes,
    };
    svc.snapshot.refresh(lp.time(), figures);
    svc.seq += 1;
    svc.stats.refreshes += 1;
    if svc.streams.is_empty() {
        return Ok(());
    }
    let Some(buf) = svc.event.take() else {
        return Ok(());
    };
    let n = write_status_event(svc.snapshot, buf).unwrap_or(0);
    let streams = svc.streams.clone();
    let (mut sent, mut dropped) = (0, 0);
    for conn in streams.iter() {
        match HttpServer::stream_write(app, lp, *conn, &[&buf[..n]]) {
            Ok(()) => sent += 1,
            Err(Error::NotRegistered) => app.status().streams.retain(|c| c != conn),
            Err(_) => dropped += 1,
        }
    }
    let svc = app.status();
    svc.event = Some(buf);
    svc.stats.events_sent += sent;
    svc.stats.events_dropped += dropped;
    Ok(())
}
