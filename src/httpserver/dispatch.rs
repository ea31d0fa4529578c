//! The HTTP/1.1 connection state machine: parse, frame the body, dispatch, answer, repeat.
//!
//! Runs each time the connection is ready. It lends the stream's buffers out, answers every
//! complete request already in the read buffer in order (pipelining: all responses go into the
//! write buffer and leave in one system call when the server flushes), and stops when a request
//! is incomplete, the write buffer lacks room for another response, a static body is queued, or
//! the connection must close.

use core::net::SocketAddr;

use crate::http::{
    ChunkedDecoder, EMPTY_HEADER, Framing, Head, IMF_FIXDATE_LEN, MAX_BODY_BYTES, MAX_HEADERS,
    Method, parse_head,
};
use crate::ioloop::{Error, IoLoop};
use crate::iostream::Lent;
use crate::tcpserver::ConnId;

use super::conn::{HttpConn, Phase};
use super::request::{Request, XHeaders};
use super::response::{Finish, MAX_RESPONSE_HEAD, Response, simple};
use super::{HttpApp, HttpStats, secs};

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Write-buffer room needed before another request is parsed.
pub(crate) const ROOM: usize = MAX_RESPONSE_HEAD + 64;

/// What one parsing step decided.
enum Step {
    /// Nothing more can be done until more bytes arrive (or output drains).
    Wait,
    /// A request was answered; look for the next one.
    Next,
    /// Stop reading: the connection closes once its output drains.
    Close,
    /// A request that asked to close (or HTTP/1.0 without keep-alive) was read whole and
    /// answered: close once the output drains, the FIN in the answer's last segment
    /// ([`IoStream::close_finished`](crate::iostream::IoStream::close_finished)).
    Done,
    /// The handler deferred its response.
    Deferred,
}

/// Everything `step` needs besides the buffers.
struct Ctx<'a> {
    id: ConnId,
    date: &'a [u8; IMF_FIXDATE_LEN],
    eof: bool,
    peer: Option<SocketAddr>,
    xheaders: Option<XHeaders>,
    clock: u32,
}

pub(crate) fn on_ready<A: HttpApp>(
    ctx: &mut A,
    lp: &mut IoLoop<A>,
    id: ConnId,
) -> Result<(), Error> {
    loop {
        let srv = ctx.http();
        let clock = srv.clock;
        let xheaders = srv.xheaders;
        let date = srv.date;
        let pool = srv.tcp.pool();
        let Some(conn) = srv.tcp.conn(id) else {
            return Ok(());
        };
        if conn.stream.is_closing() {
            return Ok(());
        }
        {
            let mut rd = conn.stream.reader();
            if rd.buffered().len() < rd.capacity() {
                rd.fill()?;
            }
        }
        if conn.state.phase == Phase::Upgraded {
            return super::upgraded::on_ready(ctx, lp, id);
        }
        if matches!(conn.state.phase, Phase::Deferred | Phase::Streaming) {
            // The application owns the response; reading above still notices a client that
            // went away (end of stream closes the connection) and drains readiness. Requests
            // pipelined behind it wait in the buffer; once it is full, reading pauses.
            if conn.stream.read_buffer_full() {
                conn.stream.pause_reading();
            }
            if conn.state.phase == Phase::Streaming {
                return drain_stream(ctx, lp, id);
            }
            return Ok(());
        }
        conn.stream.resume_reading();
        let eof = conn.stream.is_eof();
        if !conn.stream.acquire_buffers(pool) {
            // Called outside a readiness event (a stream ended, a deferred answer went out)
            // with the pool dry: wait parked; unparking runs this again.
            srv.tcp.park(lp, id);
            return Ok(());
        }
        let Some(mut l) = conn.stream.lend() else {
            // A static body is still queued: send it now; carry on if it drained at once (no
            // writable event would come to resume the requests waiting in the buffer).
            if conn.stream.is_writing() && conn.stream.flush()? {
                continue;
            }
            return Ok(());
        };
        if l.rend == l.rstart {
            conn.stream.restore(l);
            if eof {
                conn.stream.close();
            }
            return Ok(());
        }
        let mut st = conn.state;
        let peer = conn.peer;
        if st.phase == Phase::Idle {
            st.phase = Phase::Head;
            st.deadline = clock.saturating_add(secs(crate::http::HEAD_TIMEOUT_MS));
        }
        st.last_active = clock;
        if l.wbuf.len() - l.wend < ROOM && l.wstart > 0 {
            l.wbuf.copy_within(l.wstart..l.wend, 0);
            l.wend -= l.wstart;
            l.wstart = 0;
        }
        if l.wbuf.len() < ROOM {
            // Cannot hold a single response (HttpServer::listen refuses such pools).
            conn.stream.restore(l);
            conn.stream.abort();
            return Ok(());
        }
        if l.wbuf.len() - l.wend < ROOM {
            // The write buffer is full of responses: send them, and carry on if they drained at
            // once; otherwise the writable event resumes this loop.
            conn.state = st;
            conn.stream.restore(l);
            if conn.stream.flush()? {
                continue;
            }
            return Ok(());
        }
        let (step, tail) = {
            let c = Ctx {
                id,
                date: &date,
                eof,
                peer,
                xheaders,
                clock,
            };
            step::<A>(ctx, lp, &mut l, &mut st, &c)
        };
        let srv = ctx.http();
        let Some(conn) = srv.tcp.conn(id) else {
            return Ok(());
        };
        conn.state = st;
        conn.stream.restore(l);
        if !tail.is_empty() {
            // `lend` succeeded, so no other tail is queued.
            let _ = conn.stream.write_static(tail);
        }
        if conn.state.phase == Phase::Streaming {
            // A streamed response just started: its first piece is queued; pull the next
            // ones as the socket drains.
            return drain_stream(ctx, lp, id);
        }
        match step {
            Step::Next => continue,
            Step::Wait | Step::Deferred => return Ok(()),
            Step::Close => {
                conn.stream.close();
                return Ok(());
            }
            Step::Done => {
                conn.stream.close_finished();
                return Ok(());
            }
        }
    }
}

/// Rounds of "output drained → ask the application for more" per event, so one fast stream
/// cannot monopolise the loop; the next round comes with the next writable event.
const PULL_ROUNDS: usize = 16;

/// Feeds a streamed response while its output drains at once (`HttpApp::on_stream_drained`).
pub(crate) fn drain_stream<A: HttpApp>(
    ctx: &mut A,
    lp: &mut IoLoop<A>,
    id: ConnId,
) -> Result<(), Error> {
    for _ in 0..PULL_ROUNDS {
        let Some(conn) = ctx.http().tcp.conn(id) else {
            return Ok(());
        };
        if conn.state.phase != Phase::Streaming || conn.stream.closed() {
            return Ok(());
        }
        if conn.stream.is_writing() && !conn.stream.flush()? {
            return Ok(()); // the writable event resumes the pull
        }
        let sent = conn.stream.bytes_sent();
        ctx.on_stream_drained(lp, id);
        let Some(conn) = ctx.http().tcp.conn(id) else {
            return Ok(());
        };
        if conn.state.phase != Phase::Streaming
            || (!conn.stream.is_writing() && conn.stream.bytes_sent() == sent)
        {
            return Ok(()); // ended, or the application had nothing more for now
        }
    }
    Ok(())
}

/// Writes an error response and asks for the connection to close.
fn fail(l: &mut Lent, date: &[u8], status: u16, extra: &[u8]) -> Step {
    if let Some(n) = simple(&mut l.wbuf[l.wend..], status, date, true, extra) {
        l.wend += n;
    }
    l.rstart = l.rend;
    Step::Close
}

/// Enters the body phase (once) and asks for `100 Continue` if the client waits for it.
fn await_body(l: &mut Lent, st: &mut HttpConn, expect_continue: bool, clock: u32) {
    if st.phase != Phase::Body {
        st.phase = Phase::Body;
        st.deadline = clock.saturating_add(secs(crate::http::BODY_TIMEOUT_MS));
    }
    if expect_continue && !st.continue_sent && l.wbuf.len() - l.wend >= CONTINUE.len() {
        l.wbuf[l.wend..l.wend + CONTINUE.len()].copy_from_slice(CONTINUE);
        l.wend += CONTINUE.len();
        st.continue_sent = true;
    }
}

fn step<A: HttpApp>(
    app: &mut A,
    lp: &mut IoLoop<A>,
    l: &mut Lent,
    st: &mut HttpConn,
    c: &Ctx<'_>,
) -> (Step, &'static [u8]) {
    let date = &c.date[..];
    // A request whose body (if any) is complete in the buffer is answered from this first
    // parse. Bodies to de-chunk in place or to stream need the buffer mutable: the head is
    // parsed again, immutably, for the handler once they are done.
    let mut chunked_total = None;
    let mut streamed = false;
    {
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let data = &l.rbuf[l.rstart..l.rend];
        let data_len = data.len();
        let head = match parse_head(data, &mut headers) {
            Ok(Some(h)) => h,
            Ok(None) if c.eof => return (Step::Close, &[]),
            Ok(None) if data.len() == l.rbuf.len() => return (fail(l, date, 431, b""), &[]),
            Ok(None) => return (Step::Wait, &[]),
            Err(e) => return (fail(l, date, e.status(), b""), &[]),
        };
        let (head_len, framing, expect) = (head.len, head.framing, head.expect_continue);
        let complete = match framing {
            Framing::None => Some(head_len),
            Framing::ContentLength(n) if !st.body_streaming => usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_add(head_len))
                .filter(|&end| end <= data_len),
            _ => None,
        };
        if let Some(total) = complete {
            if head.method == Method::Other {
                return (fail_after(l, total, date, 501), &[]);
            }
            let body = &data[head_len..total];
            let out = Out {
                wbuf: &mut l.wbuf[..],
                wend: &mut l.wend,
                rstart: &mut l.rstart,
                total,
            };
            return respond(app, lp, st, c, out, &head, body);
        }
        match framing {
            Framing::None => {}
            Framing::ContentLength(n) => {
                let need = usize::try_from(n)
                    .ok()
                    .and_then(|n| n.checked_add(head_len));
                let fits = need.filter(|&need| need <= l.rbuf.len());
                if st.body_streaming || fits.is_none() {
                    if !st.body_streaming {
                        if !A::stream_request_body(app, &make_request(&head, &[], c)) {
                            return (fail(l, date, 413, b""), &[]);
                        }
                        st.body_streaming = true;
                        st.body_left = n;
                    }
                    let body_at = l.rstart + head_len;
                    let avail = (l.rend - body_at) as u64;
                    let take = avail.min(st.body_left) as usize;
                    if take > 0 {
                        A::data_received(app, lp, c.id, &l.rbuf[body_at..body_at + take]);
                        l.rbuf.copy_within(body_at + take..l.rend, body_at);
                        l.rend -= take;
                        st.body_left -= take as u64;
                    }
                    if st.body_left > 0 {
                        if c.eof {
                            return (Step::Close, &[]);
                        }
                        await_body(l, st, expect, c.clock);
                        return (Step::Wait, &[]);
                    }
                    st.body_streaming = false;
                    streamed = true;
                    chunked_total = Some((head_len, 0));
                }
                let need = fits.unwrap_or(head_len);
                if !streamed && data_len < need {
                    if c.eof {
                        return (Step::Close, &[]);
                    }
                    await_body(l, st, expect, c.clock);
                    return (Step::Wait, &[]);
                }
            }
            Framing::Chunked => {
                let mut dec = st
                    .chunked
                    .unwrap_or(ChunkedDecoder::new(MAX_BODY_BYTES as u64));
                let body_at = l.rstart + head_len;
                let from = body_at + st.decoded as usize;
                let p = match dec.decode(&mut l.rbuf[from..l.rend]) {
                    Ok(p) => p,
                    Err(e) => return (fail(l, date, e.status(), b""), &[]),
                };
                // Close the gap between the decoded bytes and the raw bytes still to come.
                l.rbuf
                    .copy_within(from + p.consumed..l.rend, from + p.produced);
                l.rend -= p.consumed - p.produced;
                st.decoded += p.produced as u32;
                let full = l.rend - l.rstart == l.rbuf.len();
                if !st.body_streaming && !p.done && full {
                    let mut again = [EMPTY_HEADER; MAX_HEADERS];
                    let head_bytes = &l.rbuf[l.rstart..l.rstart + head_len];
                    let offer = match parse_head(head_bytes, &mut again) {
                        Ok(Some(h)) => A::stream_request_body(app, &make_request(&h, &[], c)),
                        _ => false,
                    };
                    if !offer {
                        return (fail(l, date, 413, b""), &[]);
                    }
                    st.body_streaming = true;
                }
                if st.body_streaming && st.decoded > 0 {
                    let n = st.decoded as usize;
                    A::data_received(app, lp, c.id, &l.rbuf[body_at..body_at + n]);
                    l.rbuf.copy_within(body_at + n..l.rend, body_at);
                    l.rend -= n;
                    st.decoded = 0;
                }
                if !p.done {
                    st.chunked = Some(dec);
                    if c.eof {
                        return (Step::Close, &[]);
                    }
                    if l.rend - l.rstart == l.rbuf.len() {
                        return (fail(l, date, 413, b""), &[]);
                    }
                    await_body(l, st, expect, c.clock);
                    return (Step::Wait, &[]);
                }
                st.chunked = None;
                st.body_streaming = false;
                chunked_total = Some((head_len, st.decoded as usize));
            }
        }
    }

    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    let data = &l.rbuf[l.rstart..l.rend];
    let head_bytes = match chunked_total {
        Some((head_len, _)) => &data[..head_len],
        None => data,
    };
    let Ok(Some(head)) = parse_head(head_bytes, &mut headers) else {
        return (fail(l, date, 400, b""), &[]);
    };
    let (body, total) = match (chunked_total, head.framing) {
        (Some((h, n)), _) => (&data[h..h + n], h + n),
        (None, Framing::ContentLength(n)) => {
            let end = head.len + n as usize;
            (&data[head.len..end], end)
        }
        (None, _) => (&data[head.len..head.len], head.len),
    };
    if head.method == Method::Other {
        return (fail_after(l, total, date, 501), &[]);
    }
    let out = Out {
        wbuf: &mut l.wbuf[..],
        wend: &mut l.wend,
        rstart: &mut l.rstart,
        total,
    };
    respond(app, lp, st, c, out, &head, body)
}

/// The parts of a [`Lent`] a response is written through while the request's head still
/// borrows the read buffer.
struct Out<'a> {
    /// The write buffer.
    wbuf: &'a mut [u8],
    /// End of the pending output; the response goes after it.
    wend: &'a mut usize,
    /// Start of the unconsumed input; moves past the request once it is answered.
    rstart: &'a mut usize,
    /// The request's length in the input (head and body as received).
    total: usize,
}

/// Runs the handler for a complete request (`head` and `body`, `out.total` bytes of the
/// unconsumed input) and appends its response to the output.
fn respond<A: HttpApp>(
    app: &mut A,
    lp: &mut IoLoop<A>,
    st: &mut HttpConn,
    c: &Ctx<'_>,
    out: Out<'_>,
    head: &Head<'_, '_>,
    body: &[u8],
) -> (Step, &'static [u8]) {
    let total = out.total;
    let date = &c.date[..];
    let req = make_request(head, body, c);
    let Some(mut resp) = Response::new(&mut out.wbuf[*out.wend..]) else {
        return (Step::Wait, &[]);
    };
    A::on_request(app, lp, &req, &mut resp);
    let keep = req.keep_alive && !resp.closes_connection();
    let http10 = req.version == 0;
    let head_only = req.method == Method::Head;
    st.requests = st.requests.wrapping_add(1);
    st.continue_sent = false;
    st.decoded = 0;
    if resp.is_deferred() {
        st.phase = Phase::Deferred;
        st.deadline = 0;
        st.deferred_keep_alive = keep;
        st.deferred_http10 = http10;
        st.deferred_head = head_only;
        *out.rstart += total;
        return (Step::Deferred, &[]);
    }
    let f = Finish {
        date,
        keep_alive: keep,
        http10,
        head_only,
    };
    let (n, tail, next) = finish_response(resp, &f, st, &mut app.http().stats, c.clock);
    *out.wend += n;
    *out.rstart += total;
    match next {
        Next::Upgraded => (Step::Next, tail),
        Next::Streaming => (Step::Deferred, tail),
        Next::Idle if keep => (Step::Next, tail),
        Next::Idle => (Step::Done, tail),
    }
}

/// What a finished response leaves its connection to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Switched protocols (`101`): the bytes now belong to the application.
    Upgraded,
    /// Its body is streamed: chunks follow as the application writes them.
    Streaming,
    /// Answered: the connection waits for its next request (or closes, without keep-alive).
    Idle,
}

/// Finishes `resp` into the write buffer ([`Response::finish`]), counts it, and moves `st` to
/// what follows ([`Next`]; idle until `clock` + the idle timeout). The one place that decides
/// it, for an immediate response ([`step`]) and a deferred one
/// ([`HttpServer::finish_deferred`](super::HttpServer::finish_deferred)) alike. Returns the
/// bytes written and the static tail still to send.
#[inline]
pub(super) fn finish_response(
    mut resp: Response<'_>,
    f: &Finish<'_>,
    st: &mut HttpConn,
    stats: &mut HttpStats,
    clock: u32,
) -> (usize, &'static [u8], Next) {
    resp.settle_stream();
    // A failed response goes out as a plain 500 (`Response::finish`): it neither switches
    // protocols nor streams, and it is counted as the 500 it is.
    let failed = resp.failed();
    let status = if failed { 500 } else { resp.status() };
    let upgraded = status == 101 && resp.upgrade_protocol().is_some();
    let streaming =
        resp.is_streaming() && !f.head_only && !failed && !matches!(status, 100..=199 | 204 | 304);
    let (n, tail) = resp.finish(f);
    stats.requests += 1;
    let next = if upgraded {
        st.phase = Phase::Upgraded;
        st.deadline = 0;
        Next::Upgraded
    } else if streaming {
        st.phase = Phase::Streaming;
        st.deadline = 0;
        st.stream_chunked = !f.http10;
        st.deferred_keep_alive = f.keep_alive && !f.http10;
        Next::Streaming
    } else {
        st.phase = Phase::Idle;
        st.deadline = clock.saturating_add(secs(crate::http::IDLE_TIMEOUT_MS));
        if status >= 500 {
            stats.responses_5xx += 1;
        } else if status >= 400 {
            stats.responses_4xx += 1;
        }
        Next::Idle
    };
    (n, tail, next)
}

/// The request a handler sees, from a parsed head and its body.
fn make_request<'r>(head: &Head<'r, 'r>, body: &'r [u8], c: &Ctx<'_>) -> Request<'r> {
    let (path, query) = match head.path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (head.path, ""),
    };
    let remote = match c.xheaders {
        Some(forwarded_ip) => forwarded_ip(head.headers)
            .map(|ip| SocketAddr::new(ip, c.peer.map_or(0, |p| p.port())))
            .or(c.peer),
        None => c.peer,
    };
    Request {
        method: head.method,
        target: head.target,
        path,
        query,
        version: head.version,
        headers: head.headers,
        body,
        remote,
        conn: c.id,
        keep_alive: head.keep_alive,
    }
}

/// An error for a request whose framing is known: it is consumed, then the error is answered
/// and the connection closes.
fn fail_after(l: &mut Lent, total: usize, date: &[u8], status: u16) -> Step {
    l.rstart += total;
    fail(l, date, status, b"")
}
