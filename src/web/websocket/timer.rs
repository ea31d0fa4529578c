//! The table's one timer: pings, pong timeouts and close-handshake timeouts, re-armed for the
//! earliest next due time (no timer runs while nothing is due).

use crate::httpserver::{HttpProtocol, HttpServer};
use crate::ioloop::{Error, Instant, IoLoop, Token};
use crate::tcpserver::{ConnId, TcpServer};

use super::frame::Opcode;
use super::table::{State, flush_outbox, send};
use super::{MAX_WEBSOCKETS, WebSocketApp};

/// Makes the timer fire at `when` at the latest.
pub(super) fn arm<A: WebSocketApp>(app: &mut A, lp: &mut IoLoop<A>, when: Instant) {
    let ws = app.websockets();
    if let Some((id, at)) = ws.timer {
        if at <= when {
            return;
        }
        lp.remove_timeout(id);
        ws.timer = None;
    }
    if let Ok(id) = lp.call_at(when, tick::<A>, Token(0)) {
        app.websockets().timer = Some((id, when));
    }
}

/// What the timer does to one connection.
#[derive(Clone, Copy)]
enum Due {
    Ping,
    PingTimeout,
    CloseTimeout,
}

/// The timer: pings, pong timeouts, close-handshake timeouts; re-armed for the next due time.
fn tick<A: WebSocketApp>(app: &mut A, lp: &mut IoLoop<A>, _: Token) -> Result<(), Error> {
    let now = lp.time();
    flush_outbox(app, lp, None);
    let ws = app.websockets();
    ws.timer = None;
    let s = ws.settings;
    let mut due: [Option<(ConnId, Due)>; MAX_WEBSOCKETS] = [None; MAX_WEBSOCKETS];
    for (d, w) in due.iter_mut().zip(ws.slots.iter().flatten()) {
        *d = match (w.state, s.ping_interval) {
            (State::Closing, _) if now >= w.deadline => Some((w.conn, Due::CloseTimeout)),
            (State::Open, Some(iv)) => {
                let timeout = s.ping_timeout.unwrap_or(iv);
                if w.awaiting_pong && now >= w.last_ping + timeout {
                    Some((w.conn, Due::PingTimeout))
                } else if !w.awaiting_pong && now >= w.last_ping + iv {
                    Some((w.conn, Due::Ping))
                } else {
                    None
                }
            }
            _ => None,
        };
    }
    for (conn, what) in due.into_iter().flatten() {
        match what {
            Due::Ping => {
                let _ = send(app, lp, conn, Opcode::Ping, b"");
                let ws = app.websockets();
                if let Some(w) = ws.find(conn).and_then(|i| ws.slots[i].as_mut()) {
                    w.last_ping = now;
                    w.awaiting_pong = true;
                }
            }
            Due::PingTimeout => {
                // The client stopped answering: an empty close frame, then the connection
                // closes as soon as it is sent (no handshake with a silent peer).
                let _ = send(app, lp, conn, Opcode::Close, b"");
                let ws = app.websockets();
                if let Some(w) = ws.find(conn).and_then(|i| ws.slots[i].as_mut()) {
                    w.state = State::Closed;
                }
                let _ = HttpServer::upgraded_close(app, lp, conn);
            }
            Due::CloseTimeout => TcpServer::<HttpProtocol<A>>::close(app, lp, conn),
        }
    }
    // Re-arm for the earliest next due time.
    let ws = app.websockets();
    let next = ws
        .slots
        .iter()
        .flatten()
        .filter_map(|w| match (w.state, s.ping_interval) {
            (State::Closing, _) => Some(w.deadline),
            (State::Open, Some(iv)) if w.awaiting_pong => {
                Some(w.last_ping + s.ping_timeout.unwrap_or(iv))
            }
            (State::Open, Some(iv)) => Some(w.last_ping + iv),
            _ => None,
        })
        .min();
    if let Some(when) = next {
        arm(app, lp, when.max(now));
    }
    Ok(())
}
