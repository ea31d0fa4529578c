//! WebSocket (RFC 6455) on the HTTP server's upgrade hook (Tornado's `WebSocketHandler`).
//! Needs the `websocket` feature.
//!
//! | Tornado | edgeloop |
//! |---|---|
//! | `WebSocketHandler` subclass | a type implementing [`WebSocketHandler<A>`] |
//! | `open(*args)` / `on_message` / `on_close` / `on_pong` | the trait's `on_open` / `on_message` / `on_close` / `on_pong` |
//! | `check_origin` (same host by default: 403 otherwise) | [`WebSocketHandler::check_origin`] ([`same_host`] by default) |
//! | `select_subprotocol` | [`WebSocketHandler::select_subprotocol`] |
//! | `write_message(msg, binary)` / `close(code, reason)` / `ping` | [`WebSockets::write_message`] / [`WebSockets::close`] / [`WebSockets::ping`] |
//! | `websocket_ping_interval` / `websocket_ping_timeout` | [`Settings`] |
//! | `websocket_max_message_size` | [`MAX_MESSAGE_BYTES`] (close `1009` beyond it) |
//!
//! The connections live in a fixed table, [`WebSockets`] (at most [`MAX_WEBSOCKETS`]), kept
//! inside the application, which implements [`WebSocketApp`] and forwards three hooks. An
//! echo server, with its endpoint as a route of a web [`Application`](crate::web::Application)
//! ([`WebSocketRoute`]; from a plain `on_request`, call [`WebSockets::accept`] instead):
//!
//! ```no_run
//! use edgeloop::httpserver::{HttpApp, HttpServer, Request, Response, Upgraded};
//! use edgeloop::ioloop::IoLoop;
//! use edgeloop::tcpserver::ConnId;
//! use edgeloop::web::websocket::{
//!     Message, Settings, WebSocketApp, WebSocketHandler, WebSocketRoute, WebSockets,
//! };
//! use edgeloop::web::{Application, Route};
//!
//! struct App { http: HttpServer<App>, ws: WebSockets<App> }
//!
//! struct Echo;
//! impl WebSocketHandler<App> for Echo {
//!     fn on_message(app: &mut App, lp: &mut IoLoop<App>, conn: ConnId, msg: Message<'_>) {
//!         let _ = WebSockets::write_message(app, lp, conn, msg);
//!     }
//! }
//!
//! static ECHO: WebSocketRoute<Echo> = WebSocketRoute::new();
//! static ROUTES: [Route<App>; 1] = [Route::new("/ws", &ECHO)];
//! static WEB: Application<App> = Application::new(&ROUTES);
//!
//! impl WebSocketApp for App {
//!     fn websockets(&mut self) -> &mut WebSockets<App> { &mut self.ws }
//! }
//!
//! impl HttpApp for App {
//!     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//!     fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
//!         WEB.dispatch(self, lp, req, resp);
//!     }
//!     fn on_upgraded(&mut self, lp: &mut IoLoop<App>, conn: ConnId, io: &mut Upgraded<'_>) {
//!         if !WebSockets::on_upgraded(self, lp, conn, io) {
//!             io.close();
//!         }
//!     }
//!     fn on_close(&mut self, lp: &mut IoLoop<App>, conn: ConnId) {
//!         WebSockets::on_close(self, lp, conn);
//!     }
//! }
//! # let _ = Settings::DEFAULT;
//! ```
//!
//! ## The protocol
//!
//! - Handshake ([`handshake`]): `GET`, HTTP/1.1, `Upgrade: websocket`, `Connection` containing
//!   `upgrade` (both case-insensitive), one `Sec-WebSocket-Key` that is 16 bytes in base64
//!   (else `400`), `Sec-WebSocket-Version: 13` (else `426` with `Sec-WebSocket-Version: 13`),
//!   the origin check (`403`), a free slot (`503`). The answer is `101` with
//!   `Sec-WebSocket-Accept` = base64(SHA-1(key + GUID)). No extension is negotiated
//!   (`permessage-deflate` is not offered back).
//! - Frames ([`frame`]) are parsed from the connection's read buffer by a pure function and
//!   unmasked in place. Client frames must be masked, reserved bits and opcodes are refused,
//!   control frames carry at most 125 bytes and are never fragmented: each is a `1002`.
//! - Fragmented messages are reassembled in place in the read buffer (fragments are slid
//!   together as they arrive, control frames between them are answered and cut out). A message
//!   over [`MAX_MESSAGE_BYTES`], or one whose frame cannot fit in an I/O buffer, is closed with
//!   `1009`; invalid UTF-8 in a text message with `1007`.
//! - Close: a client's close frame is checked (code and UTF-8 reason) and echoed with its code,
//!   then the connection closes. [`WebSockets::close`] sends a close frame and waits for the
//!   client's for [`Settings::close_timeout`], then drops the connection.
//! - Pings ([`Settings::ping_interval`]): one timer for the whole table sends a ping to each
//!   connection on its interval; a connection whose pong has not come within
//!   [`Settings::ping_timeout`] gets an empty close frame and is closed.
//!
//! ## Writing
//!
//! [`WebSockets::write_message`] works from anywhere: a timer, another connection's message,
//! or the connection's own callbacks. During a callback the connection's buffers are lent to
//! the server's `on_upgraded`, so frames for that connection go into a small shared outbox
//! ([`OUTBOX_BYTES`]) copied behind the input's answers when the callback returns; other
//! connections are written through [`HttpServer::upgraded_write`](crate::httpserver::HttpServer::upgraded_write).
//! Nothing is queued beyond the connection's write buffer: when a message does not fit,
//! `write_message` says so ([`WsError::WriteBufferFull`]) and the application decides (drop,
//! retry from a timer, or close with `1008`). While the write buffer is completely full the
//! server stops reading from that client.
//!
//! Inside the callbacks, act on a WebSocket only through [`WebSockets`] (never
//! `HttpServer::upgraded_write` / `upgraded_close` on the connection being handled: its
//! buffers are lent out at that moment).
//!
//! ## Memory
//!
//! `size_of::<WebSockets<A>>()` is about `MAX_WEBSOCKETS × 80 + OUTBOX_BYTES` bytes; a
//! connection's frames use the I/O buffers it already has.

#![cfg(feature = "websocket")]

mod dispatch;
pub mod frame;
pub mod handshake;
mod table;
mod timer;

use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

use crate::config::parse_or;
use crate::httpserver::{HttpApp, Request, Response};
use crate::ioloop::IoLoop;
use crate::tcpserver::ConnId;
use crate::web::{HandlerResult, Methods, RequestHandler, WebRequest};

pub use handshake::{HandshakeError, offered_subprotocols, same_host};
pub use table::WebSockets;

/// WebSocket connections open at once (the [`WebSockets`] table's size).
///
/// Default 32. Set with `EDGELOOP_MAX_WEBSOCKETS`. Cost: about 80 bytes each.
pub const MAX_WEBSOCKETS: usize = parse_or(option_env!("EDGELOOP_MAX_WEBSOCKETS"), 32);

/// Largest message accepted, reassembled from its fragments (Tornado's
/// `websocket_max_message_size`); a larger one closes the connection with `1009`. A frame must
/// also fit in one I/O buffer with its header: with 4096-byte buffers, the default fits.
///
/// Default 4080. Set with `EDGELOOP_WS_MAX_MESSAGE_BYTES`.
pub const MAX_MESSAGE_BYTES: usize = parse_or(option_env!("EDGELOOP_WS_MAX_MESSAGE_BYTES"), 4080);

/// Bytes of frames a callback can write to its own connection (see the [module docs](self)):
/// one message of [`MAX_MESSAGE_BYTES`] with its header, by default.
///
/// Default `MAX_MESSAGE_BYTES + 16`. Set with `EDGELOOP_WS_OUTBOX_BYTES` (at least 256).
pub const OUTBOX_BYTES: usize = {
    let n = parse_or(
        option_env!("EDGELOOP_WS_OUTBOX_BYTES"),
        MAX_MESSAGE_BYTES + 16,
    );
    assert!(n >= 256, "EDGELOOP_WS_OUTBOX_BYTES must be at least 256");
    n
};

/// A close status code (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away.
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1007: data inconsistent with its type (invalid UTF-8 in a text message).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: message too big.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: unexpected condition on the server.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether the code may appear in a close frame: 1000–1003, 1007–1011, 3000–4999.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A complete message, borrowed from the read buffer for the duration of the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (valid UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl<'a> Message<'a> {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) => b,
        }
    }
}

/// Errors of the [`WebSockets`] write and close operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WsError {
    /// No open WebSocket on that connection (never was, closed, or closing).
    NotOpen,
    /// The frame does not fit in the connection's write buffer (or the outbox) right now.
    WriteBufferFull,
    /// The buffer pool has no buffer to write with right now.
    NoBuffer,
    /// A control payload over 125 bytes, or a close code that may not be sent.
    InvalidControl,
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WsError::NotOpen => "no open WebSocket on this connection",
            WsError::WriteBufferFull => "the frame does not fit in the write buffer",
            WsError::NoBuffer => "no I/O buffer available",
            WsError::InvalidControl => "invalid control frame (payload or close code)",
        })
    }
}

impl core::error::Error for WsError {}

/// Timing of a [`WebSockets`] table (Tornado's `websocket_ping_interval` and
/// `websocket_ping_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Settings {
    /// Send a ping to each connection this often. `None` (the default, as in Tornado): never.
    pub ping_interval: Option<Duration>,
    /// Close a connection whose pong has not arrived this long after a ping. `None` (the
    /// default): the ping interval.
    pub ping_timeout: Option<Duration>,
    /// After [`WebSockets::close`], how long to wait for the client's close frame before
    /// dropping the connection. Default 5 s (Tornado's).
    pub close_timeout: Duration,
}

impl Settings {
    /// The defaults: no pings, 5 s close timeout.
    pub const DEFAULT: Settings = Settings {
        ping_interval: None,
        ping_timeout: None,
        close_timeout: Duration::from_secs(5),
    };
}

impl Default for Settings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An application with a [`WebSockets`] table (timers find it through this).
pub trait WebSocketApp: HttpApp {
    /// The table.
    fn websockets(&mut self) -> &mut WebSockets<Self>;
}

/// The behaviour of one kind of WebSocket endpoint (Tornado's `WebSocketHandler` subclass).
/// Every method has a default but [`on_message`](Self::on_message).
pub trait WebSocketHandler<A: WebSocketApp> {
    /// Whether to accept a browser's `Origin` (only called when the request has one). The
    /// default, like Tornado's, accepts the same host only ([`same_host`]).
    fn check_origin(_app: &mut A, req: &Request<'_>, origin: &[u8]) -> bool {
        same_host(req, origin)
    }

    /// The subprotocol to answer with, among [`offered_subprotocols`]; `None` (the default)
    /// for none. A protocol the client did not offer is not sent.
    fn select_subprotocol(_app: &mut A, _req: &Request<'_>) -> Option<&'static str> {
        None
    }

    /// The connection is open (Tornado's `open`), called while the upgrade request is at hand.
    /// Messages written here are sent right after the `101`.
    fn on_open(_app: &mut A, _lp: &mut IoLoop<A>, _conn: ConnId, _req: &Request<'_>) {}

    /// A complete message arrived.
    fn on_message(app: &mut A, lp: &mut IoLoop<A>, conn: ConnId, msg: Message<'_>);

    /// A pong arrived (its payload).
    fn on_pong(_app: &mut A, _lp: &mut IoLoop<A>, _conn: ConnId, _data: &[u8]) {}

    /// The connection closed. `code` is the one in the client's close frame, else the one the
    /// server closed with (a protocol error such as `1009`), else `None` (the connection
    /// dropped, or a close frame without a code).
    fn on_close(_app: &mut A, _lp: &mut IoLoop<A>, _conn: ConnId, _code: Option<u16>) {}
}

/// A WebSocket endpoint as a route of an [`Application`](crate::web::Application):
/// `Route::new("/ws", &ECHO)` with `static ECHO: WebSocketRoute<Echo> = WebSocketRoute::new();`.
/// `GET` runs [`WebSockets::accept`] for `H` (a refused handshake is answered by it); the
/// application still forwards `on_upgraded` and `on_close` (see the [module docs](self)).
pub struct WebSocketRoute<H>(PhantomData<fn() -> H>);

impl<H> WebSocketRoute<H> {
    /// The route handler.
    pub const fn new() -> Self {
        WebSocketRoute(PhantomData)
    }
}

impl<H> Default for WebSocketRoute<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> fmt::Debug for WebSocketRoute<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebSocketRoute")
    }
}

impl<A: WebSocketApp, H: WebSocketHandler<A>> RequestHandler<A> for WebSocketRoute<H> {
    fn allowed(&self) -> Methods {
        Methods::GET
    }

    fn get(
        &self,
        app: &mut A,
        lp: &mut IoLoop<A>,
        req: &WebRequest<'_, '_>,
        resp: &mut Response<'_>,
    ) -> HandlerResult {
        let _ = WebSockets::accept::<H>(app, lp, req.req, resp);
        Ok(())
    }
}
