//! The once-a-second sweep: coarse clock, `Date` cache, timeouts; and idle-connection eviction.

use core::time::Duration;

use rustix::net::{SendFlags, send};

use crate::ioloop::{Error, IoLoop, TimeoutId, Token};
use crate::tcpserver::{ConnId, TcpServer};

use super::conn::Phase;
use super::{HttpApp, HttpProtocol, secs};

const RESPONSE_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nServer: edgeloop\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\n\
408 Request Timeout\n";

/// Connections closed per sweep pass (the next pass, a second later, takes the rest).
const CLOSE_BATCH: usize = 64;

pub(crate) fn start<A: HttpApp>(lp: &mut IoLoop<A>) -> Result<TimeoutId, Error> {
    let period = Duration::from_secs(1);
    lp.call_every(lp.time() + period, period, sweep::<A>, Token(0))
}

fn sweep<A: HttpApp>(app: &mut A, lp: &mut IoLoop<A>, _: Token) -> Result<(), Error> {
    let srv = app.http();
    srv.tick();
    if srv.tcp.stats().active == 0 {
        // Nothing to time out: an idle server wakes up for nothing.
        if let Some(id) = srv.sweep.take() {
            lp.remove_timeout(id);
        }
        return Ok(());
    }
    // Closes in batches of CLOSE_BATCH until a pass finds fewer: every connection that timed
    // out this second goes now, not a second later per batch.
    loop {
        let srv = app.http();
        let clock = srv.clock;
        let write_limit = secs(crate::http::WRITE_TIMEOUT_MS);
        let mut expired: heapless::Vec<ConnId, CLOSE_BATCH> = heapless::Vec::new();
        srv.tcp.for_each_conn(|id, c| {
            let st = &mut c.state;
            let timed_out = if c.stream.is_writing() {
                let sent = c.stream.bytes_sent() as u32;
                if sent != st.sent_mark || st.stalled_since == 0 {
                    st.sent_mark = sent;
                    st.stalled_since = clock;
                    false
                } else {
                    clock.saturating_sub(st.stalled_since) >= write_limit
                }
            } else {
                st.stalled_since = 0;
                !matches!(
                    st.phase,
                    Phase::Deferred | Phase::Streaming | Phase::Upgraded
                ) && st.deadline != 0
                    && clock >= st.deadline
            };
            if !timed_out || expired.push(id).is_err() {
                return;
            }
            if matches!(st.phase, Phase::Head | Phase::Body) && !c.stream.is_writing() {
                // Best effort: a non-blocking send of a tiny response on an idle socket.
                let _ = send(
                    c.stream.fd(),
                    RESPONSE_408,
                    SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
                );
            }
        });
        let n = expired.len();
        srv.stats.timeouts += n as u64;
        for id in expired {
            TcpServer::<HttpProtocol<A>>::close(app, lp, id);
        }
        if n < CLOSE_BATCH {
            break;
        }
    }
    Ok(())
}

/// The buffer pool is dry and connection `needy` waits for buffers: closes (with a `408`) the
/// connection that has held buffers longest for a request head it has not finished sending —
/// a slowloris client, or a very slow one — so that clients that send whole requests are not
/// locked out. Returns whether one was closed.
pub(crate) fn evict_partial_head<A: HttpApp>(
    app: &mut A,
    lp: &mut IoLoop<A>,
    needy: ConnId,
) -> bool {
    let srv = app.http();
    let mut best: Option<(u32, ConnId)> = None;
    srv.tcp.for_each_conn(|id, c| {
        let partial = matches!(c.state.phase, Phase::Head | Phase::Body)
            && c.stream.holds_buffers()
            && !c.stream.is_writing();
        if partial && id != needy && best.is_none_or(|(t, _)| c.state.last_active < t) {
            best = Some((c.state.last_active, id));
        }
    });
    let Some((_, id)) = best else {
        return false;
    };
    if let Some(c) = srv.tcp.conn(id) {
        let _ = send(
            c.stream.fd(),
            RESPONSE_408,
            SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
        );
    }
    srv.stats.evictions += 1;
    TcpServer::<HttpProtocol<A>>::close(app, lp, id);
    true
}

/// Closes the least recently used idle keep-alive connection. Returns whether one was closed.
pub(crate) fn evict_lru<A: HttpApp>(app: &mut A, lp: &mut IoLoop<A>) -> bool {
    let srv = app.http();
    let clock = srv.clock;
    let mut best: Option<(u32, ConnId)> = None;
    srv.tcp.for_each_conn(|id, c| {
        // A connection never served and accepted in the current second is not an idle
        // keep-alive: its request may be waiting unread in the socket, and closing it would
        // drop a new client without an answer (with a reset, its bytes being unread).
        let settled = c.state.requests > 0 || c.state.last_active < clock;
        let idle = settled
            && c.state.phase == Phase::Idle
            && !c.stream.is_writing()
            && c.stream.read_buffered() == 0;
        if idle && best.is_none_or(|(t, _)| c.state.last_active < t) {
            best = Some((c.state.last_active, id));
        }
    });
    let Some((_, id)) = best else {
        return false;
    };
    srv.stats.evictions += 1;
    TcpServer::<HttpProtocol<A>>::close(app, lp, id);
    true
}
