//! The connection table: accepting, writing, closing, and the ping timer.

use core::fmt;

use crate::httpserver::{HttpServer, Request, Response};
use crate::ioloop::{Error, Instant, IoLoop, TimeoutId};
use crate::iostream::StreamError;
use crate::tcpserver::ConnId;

use super::dispatch::Reassembly;
use super::frame::{MAX_CONTROL_PAYLOAD, MAX_SERVER_HEADER_LEN, Opcode, write_header};
use super::handshake::{HandshakeError, check_request, offered_subprotocols, origin};
use super::timer::arm;
use super::{
    CloseCode, MAX_WEBSOCKETS, Message, OUTBOX_BYTES, Settings, WebSocketApp, WebSocketHandler,
    WsError,
};

/// A handler's callbacks, kept per connection.
pub(super) struct Callbacks<A: 'static> {
    pub(super) on_message: fn(&mut A, &mut IoLoop<A>, ConnId, Message<'_>),
    pub(super) on_pong: fn(&mut A, &mut IoLoop<A>, ConnId, &[u8]),
    pub(super) on_close: fn(&mut A, &mut IoLoop<A>, ConnId, Option<u16>),
}

impl<A: 'static> Clone for Callbacks<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A: 'static> Copy for Callbacks<A> {}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Messages flow.
    Open,
    /// The server sent a close frame and waits for the client's (until `deadline`).
    Closing,
    /// Done: the connection closes once its output drains.
    Closed,
}

/// One WebSocket connection.
pub(super) struct Ws<A: 'static> {
    pub(super) conn: ConnId,
    pub(super) cb: Callbacks<A>,
    pub(super) state: State,
    /// The fragmented message being reassembled.
    pub(super) rs: Reassembly,
    /// When the last ping went out (or the connection opened).
    pub(super) last_ping: Instant,
    pub(super) awaiting_pong: bool,
    /// End of the close handshake ([`State::Closing`]).
    pub(super) deadline: Instant,
    pub(super) close_code: Option<u16>,
    pub(super) subprotocol: Option<&'static str>,
}

/// Frames written to the connection being dispatched (see the module docs).
pub(super) struct Outbox {
    pub(super) buf: [u8; OUTBOX_BYTES],
    pub(super) len: usize,
    /// The connection the frames are for.
    pub(super) owner: Option<ConnId>,
    /// Room of that connection's write buffer.
    pub(super) room: usize,
}

impl Outbox {
    fn free(&self) -> usize {
        self.room.min(self.buf.len()).saturating_sub(self.len)
    }

    pub(super) fn push(&mut self, parts: &[&[u8]]) -> bool {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        if n > self.free() {
            return false;
        }
        for p in parts {
            self.buf[self.len..self.len + p.len()].copy_from_slice(p);
            self.len += p.len();
        }
        true
    }
}

/// The WebSocket connections of an application (see the [module docs](super)).
pub struct WebSockets<A: WebSocketApp> {
    pub(super) slots: [Option<Ws<A>>; MAX_WEBSOCKETS],
    pub(super) settings: Settings,
    /// The ping/close timer and when it fires.
    pub(super) timer: Option<(TimeoutId, Instant)>,
    pub(super) out: Outbox,
}

impl<A: WebSocketApp> fmt::Debug for WebSockets<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSockets")
            .field("open", &self.count())
            .field("settings", &self.settings)
            .finish()
    }
}

impl<A: WebSocketApp> Default for WebSockets<A> {
    fn default() -> Self {
        Self::new(Settings::DEFAULT)
    }
}

impl<A: WebSocketApp> WebSockets<A> {
    /// An empty table.
    pub const fn new(settings: Settings) -> Self {
        WebSockets {
            slots: [const { None }; MAX_WEBSOCKETS],
            settings,
            timer: None,
            out: Outbox {
                buf: [0; OUTBOX_BYTES],
                len: 0,
                owner: None,
                room: 0,
            },
        }
    }

    /// The settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Changes the settings (they apply from the next timer run).
    pub fn set_settings(&mut self, settings: Settings) {
        self.settings = settings;
    }

    pub(super) fn find(&self, conn: ConnId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|w| w.conn == conn))
    }

    fn get(&self, conn: ConnId) -> Option<&Ws<A>> {
        self.find(conn).and_then(|i| self.slots[i].as_ref())
    }

    /// Whether `conn` is an open WebSocket (not closing).
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.get(conn).is_some_and(|w| w.state == State::Open)
    }

    /// WebSockets in the table (open or closing).
    pub fn count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// The open WebSockets.
    pub fn conns(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.slots
            .iter()
            .flatten()
            .filter(|w| w.state == State::Open)
            .map(|w| w.conn)
    }

    /// The subprotocol agreed on `conn`.
    pub fn subprotocol(&self, conn: ConnId) -> Option<&'static str> {
        self.get(conn).and_then(|w| w.subprotocol)
    }

    /// Answers a WebSocket upgrade request for handler `H` (Tornado's `WebSocketHandler.get`):
    /// checks it (see [`handshake`](super::handshake)), asks `H::check_origin` when there is an
    /// `Origin`, takes a slot, sets up the `101`, and calls `H::on_open`. A refusal is answered
    /// in `resp` with its status and a short text, and returned.
    pub fn accept<H: WebSocketHandler<A>>(
        app: &mut A,
        lp: &mut IoLoop<A>,
        req: &Request<'_>,
        resp: &mut Response<'_>,
    ) -> Result<ConnId, HandshakeError> {
        let checked = check_request(req).and_then(|key| {
            if let Some(o) = origin(req) {
                if !H::check_origin(app, req, o) {
                    return Err(HandshakeError::Origin);
                }
            }
            let ws = app.websockets();
            let free = ws.slots.iter().position(Option::is_none);
            free.map(|i| (key, i)).ok_or(HandshakeError::TableFull)
        });
        let (key, slot) = match checked {
            Ok(ok) => ok,
            Err(e) => {
                refuse(resp, e);
                return Err(e);
            }
        };
        let proto = H::select_subprotocol(app, req)
            .filter(|p| offered_subprotocols(req).any(|o| o == p.as_bytes()));
        let head_ok = resp.upgrade("websocket").is_ok()
            && resp.set_header("Sec-WebSocket-Accept", &key).is_ok()
            && proto.is_none_or(|p| {
                resp.set_header("Sec-WebSocket-Protocol", p.as_bytes())
                    .is_ok()
            });
        if !head_ok {
            refuse(resp, HandshakeError::Internal);
            return Err(HandshakeError::Internal);
        }
        let conn = req.conn;
        flush_outbox(app, lp, Some(conn));
        let now = lp.time();
        let ws = app.websockets();
        ws.slots[slot] = Some(Ws {
            conn,
            cb: Callbacks {
                on_message: H::on_message,
                on_pong: H::on_pong,
                on_close: H::on_close,
            },
            state: State::Open,
            rs: Reassembly::default(),
            last_ping: now,
            awaiting_pong: false,
            deadline: now,
            close_code: None,
            subprotocol: proto,
        });
        // Frames written by on_open wait in the outbox for the first on_upgraded, which the
        // server runs right after the 101. What is left of the write buffer after the head is
        // at least the body room of the response.
        ws.out.owner = Some(conn);
        ws.out.len = 0;
        ws.out.room = resp.body_room();
        if let Some(iv) = ws.settings.ping_interval {
            arm(app, lp, now + iv);
        }
        H::on_open(app, lp, conn, req);
        Ok(conn)
    }

    /// Sends a message (Tornado's `write_message`): all of it, or `Err` and nothing.
    pub fn write_message(
        app: &mut A,
        lp: &mut IoLoop<A>,
        conn: ConnId,
        msg: Message<'_>,
    ) -> Result<(), WsError> {
        if !app.websockets().is_open(conn) {
            return Err(WsError::NotOpen);
        }
        let op = match msg {
            Message::Text(_) => Opcode::Text,
            Message::Binary(_) => Opcode::Binary,
        };
        send(app, lp, conn, op, msg.as_bytes())
    }

    /// Sends `msg` to every open WebSocket; returns how many took it.
    pub fn broadcast(app: &mut A, lp: &mut IoLoop<A>, msg: Message<'_>) -> usize {
        let mut ids = [None; MAX_WEBSOCKETS];
        for (d, s) in ids.iter_mut().zip(app.websockets().slots.iter()) {
            *d = s.as_ref().map(|w| w.conn);
        }
        ids.iter()
            .flatten()
            .filter(|&&c| Self::write_message(app, lp, c, msg).is_ok())
            .count()
    }

    /// Sends a ping with `data` (at most 125 bytes).
    pub fn ping(app: &mut A, lp: &mut IoLoop<A>, conn: ConnId, data: &[u8]) -> Result<(), WsError> {
        if data.len() > MAX_CONTROL_PAYLOAD {
            return Err(WsError::InvalidControl);
        }
        if !app.websockets().is_open(conn) {
            return Err(WsError::NotOpen);
        }
        send(app, lp, conn, Opcode::Ping, data)
    }

    /// Starts the closing handshake (Tornado's `close(code, reason)`): sends a close frame with
    /// `code` (1000–1003, 1007–1011 or 3000–4999) and `reason` (at most 123 bytes), then waits
    /// for the client's close frame for [`Settings::close_timeout`]. Messages arriving meanwhile
    /// are dropped. Closing a connection that is already closing does nothing.
    pub fn close(
        app: &mut A,
        lp: &mut IoLoop<A>,
        conn: ConnId,
        code: Option<CloseCode>,
        reason: &str,
    ) -> Result<(), WsError> {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let n = match code {
            Some(c) if c.is_valid_on_wire() && reason.len() <= MAX_CONTROL_PAYLOAD - 2 => {
                payload[..2].copy_from_slice(&c.0.to_be_bytes());
                payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
                2 + reason.len()
            }
            None if reason.is_empty() => 0,
            _ => return Err(WsError::InvalidControl),
        };
        let ws = app.websockets();
        let i = ws.find(conn).ok_or(WsError::NotOpen)?;
        let timeout = ws.settings.close_timeout;
        match ws.slots[i].as_ref().map(|w| w.state) {
            Some(State::Open) => {}
            _ => return Ok(()),
        }
        let r = send(app, lp, conn, Opcode::Close, &payload[..n]);
        let deadline = lp.time() + timeout;
        if let Some(w) = app.websockets().slots[i].as_mut() {
            w.state = State::Closing;
            w.deadline = deadline;
            w.close_code = code.map(|c| c.0);
        }
        arm(app, lp, deadline);
        r
    }

    /// Forwarded from [`HttpApp::on_close`](crate::httpserver::HttpApp::on_close): frees the
    /// slot and calls the handler's `on_close`. Returns whether `conn` was a WebSocket.
    pub fn on_close(app: &mut A, lp: &mut IoLoop<A>, conn: ConnId) -> bool {
        let ws = app.websockets();
        let Some(i) = ws.find(conn) else {
            return false;
        };
        let Some(w) = ws.slots[i].take() else {
            return false;
        };
        if ws.out.owner == Some(conn) {
            ws.out.owner = None;
            ws.out.len = 0;
        }
        (w.cb.on_close)(app, lp, conn, w.close_code);
        true
    }
}

/// Answers a refused handshake.
fn refuse(resp: &mut Response<'_>, e: HandshakeError) {
    let _ = resp.set_status(e.status());
    resp.clear_body();
    let _ = resp.set_header("Content-Type", b"text/plain; charset=utf-8");
    if e == HandshakeError::UnsupportedVersion {
        let _ = resp.set_header("Sec-WebSocket-Version", b"13");
    }
    if e == HandshakeError::Method {
        let _ = resp.set_header("Allow", b"GET");
    }
    let _ = resp.write_static(e.message().as_bytes());
}

/// Writes one frame to `conn`: into the outbox while it is being dispatched, else through the
/// HTTP server.
pub(super) fn send<A: WebSocketApp>(
    app: &mut A,
    lp: &mut IoLoop<A>,
    conn: ConnId,
    op: Opcode,
    payload: &[u8],
) -> Result<(), WsError> {
    let mut hdr = [0u8; MAX_SERVER_HEADER_LEN];
    let n = write_header(true, op, payload.len(), &mut hdr);
    let out = &mut app.websockets().out;
    if out.owner == Some(conn) {
        return if out.push(&[&hdr[..n], payload]) {
            Ok(())
        } else {
            Err(WsError::WriteBufferFull)
        };
    }
    match HttpServer::upgraded_write(app, lp, conn, &[&hdr[..n], payload]) {
        Ok(()) => Ok(()),
        Err(Error::Stream(StreamError::WriteBufferFull)) => Err(WsError::WriteBufferFull),
        Err(Error::Stream(StreamError::NoBuffer)) => Err(WsError::NoBuffer),
        Err(_) => Err(WsError::NotOpen),
    }
}

/// Sends frames left in the outbox for a connection other than `current` (only if the server
/// did not run `on_upgraded` right after an upgrade, which it does).
pub(super) fn flush_outbox<A: WebSocketApp>(
    app: &mut A,
    lp: &mut IoLoop<A>,
    current: Option<ConnId>,
) {
    let out = &mut app.websockets().out;
    let Some(owner) = out.owner.filter(|&o| Some(o) != current) else {
        return;
    };
    let len = core::mem::take(&mut out.len);
    out.owner = None;
    if len > 0 {
        // Copied out first: the outbox lives in the application the write borrows.
        let mut copy = [0u8; OUTBOX_BYTES];
        copy[..len].copy_from_slice(&app.websockets().out.buf[..len]);
        let _ = HttpServer::upgraded_write(app, lp, owner, &[&copy[..len]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_slot_size_matches_the_docs() {
        // The module docs promise about 80 bytes per connection (plus the outbox).
        let n = core::mem::size_of::<Option<Ws<()>>>();
        assert!(n <= 96, "{n}");
    }

    #[test]
    fn test_outbox_respects_room_and_capacity() {
        let mut o = Outbox {
            buf: [0; OUTBOX_BYTES],
            len: 0,
            owner: None,
            room: 10,
        };
        assert!(o.push(&[b"abc", b"defg"]));
        assert!(!o.push(&[b"hijk"]), "7 + 4 > 10");
        assert!(o.push(&[b"hij"]));
        assert_eq!(&o.buf[..o.len], b"abcdefghij");
        o.room = usize::MAX;
        o.len = 0;
        assert!(o.push(&[&[0u8; OUTBOX_BYTES]]));
        assert!(!o.push(&[b"x"]));
    }
}
