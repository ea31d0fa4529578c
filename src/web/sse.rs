//! Server-Sent Events to many clients: [`EventSource`] keeps a fixed table of the open event
//! streams and broadcasts to all of them.
//!
//! * A handler opens a stream with [`EventSource::open`]: the response becomes
//!   `text/event-stream` ([`Response::event_stream`]) and the connection is recorded. When the
//!   table is full (`N`, default [`MAX_EVENT_STREAMS`]) the client gets `503 Service
//!   Unavailable` with `Retry-After` instead, so a device cannot be made to hold more streams —
//!   and their buffers — than it was built for.
//! * [`EventSource::broadcast`] (typically from a timer) sends one event to every stream.
//! * Dead clients leave the table when [`HttpApp::on_close`] reports them — forward it to
//!   [`EventSource::on_close`] — or when writing to them fails because the connection is gone.
//!   A client that is merely slow (its write buffer still full of earlier events) keeps its
//!   slot and misses this event; if it stays stuck the server's write timeout closes it.
//!
//! The event source lives in the application (`&mut A`); the broadcast functions reach it
//! through an accessor `fn(&mut A) -> &mut EventSource<N>`, because sending needs the whole
//! application (`HttpServer::send_event` takes `&mut A`).

use core::fmt;

use crate::config::parse_or;
use crate::httpserver::{HttpApp, HttpServer, Request, Response};
use crate::ioloop::{Error, IoLoop};
use crate::iostream::StreamError;
use crate::tcpserver::ConnId;

/// Default capacity of an [`EventSource`]: the most event streams open at once.
///
/// Default 8. Set with `EDGELOOP_WEB_MAX_EVENT_STREAMS`. Cost: 8 bytes per stream in the table;
/// each open stream also holds a connection slot, and its buffers while events are in flight.
pub const MAX_EVENT_STREAMS: usize = parse_or(option_env!("EDGELOOP_WEB_MAX_EVENT_STREAMS"), 8);

/// Why an event stream was not opened or an event not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SseError {
    /// The table is full: the client was answered `503`.
    Full,
    /// The event name has CR, LF or NUL, or the data has a CR not followed by LF or a NUL:
    /// it would forge fields or events on the client's side. Nothing was sent.
    InvalidEvent,
    /// The connection is not an open stream of this event source.
    NotOpen,
    /// The server could not send the event (see [`HttpServer::stream_write`]).
    Send(Error),
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::Full => f.write_str("too many event streams"),
            SseError::InvalidEvent => f.write_str("event name or data would forge a field"),
            SseError::NotOpen => f.write_str("not an open event stream"),
            SseError::Send(e) => write!(f, "send: {e}"),
        }
    }
}

impl core::error::Error for SseError {}

impl From<SseError> for super::HttpError {
    /// A full table is `503`; anything else `500`.
    fn from(e: SseError) -> Self {
        match e {
            SseError::Full => super::HttpError::UNAVAILABLE,
            _ => super::HttpError::INTERNAL,
        }
    }
}

/// What a [`EventSource::broadcast`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Broadcast {
    /// Streams the event was written to.
    pub sent: usize,
    /// Streams that were too slow (write buffer full) or found the pool dry: event skipped.
    pub skipped: usize,
    /// Streams found dead and removed from the table.
    pub removed: usize,
}

/// A fixed table of open event streams (at most `N`). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct EventSource<const N: usize = MAX_EVENT_STREAMS> {
    ids: heapless::Vec<ConnId, N>,
}

impl<const N: usize> Default for EventSource<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether an event name and data are safe to frame (see [`SseError::InvalidEvent`]).
pub fn valid_event(event: Option<&str>, data: &[u8]) -> bool {
    let name_ok = event.is_none_or(|e| !e.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)));
    let data_ok = data.iter().enumerate().all(|(i, &b)| match b {
        0 => false,
        b'\r' => data.get(i + 1) == Some(&b'\n'),
        _ => true,
    });
    name_ok && data_ok
}

impl<const N: usize> EventSource<N> {
    /// An empty table.
    pub const fn new() -> Self {
        EventSource {
            ids: heapless::Vec::new(),
        }
    }

    /// The most streams it holds.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Open streams.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether `id` is one of the open streams.
    pub fn contains(&self, id: ConnId) -> bool {
        self.ids.contains(&id)
    }

    /// The open streams' connections.
    pub fn ids(&self) -> &[ConnId] {
        &self.ids
    }

    /// Turns `resp` into an event stream for `req`'s connection and records it; whatever the
    /// handler writes after this is the stream's first chunk (`retry: 1000\n\n`, say).
    ///
    /// `Err(Full)` when the table is full: `resp` is then a `503` with `Retry-After: 1`. A
    /// `HEAD` request gets the stream's head but takes no slot (it has no body to stream).
    pub fn open(&mut self, req: &Request<'_>, resp: &mut Response<'_>) -> Result<(), SseError> {
        if req.method == crate::http::Method::Head || self.ids.contains(&req.conn) {
            resp.event_stream();
            return Ok(());
        }
        if self.ids.push(req.conn).is_err() {
            super::send_error(resp, 503);
            let _ = resp.set_header("Retry-After", b"1");
            return Err(SseError::Full);
        }
        resp.event_stream();
        Ok(())
    }

    /// Forgets connection `id` (call it from [`HttpApp::on_close`]). Returns whether it was an
    /// open stream.
    pub fn on_close(&mut self, id: ConnId) -> bool {
        match self.ids.iter().position(|&c| c == id) {
            Some(i) => {
                self.ids.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Sends one event to stream `id` (an optional `event:` name, and `data`, one `data:` line
    /// per line). A stream found dead is removed (`Err(Send(NotRegistered))`).
    pub fn send<A: HttpApp>(
        app: &mut A,
        lp: &mut IoLoop<A>,
        get: fn(&mut A) -> &mut Self,
        id: ConnId,
        event: Option<&str>,
        data: &[u8],
    ) -> Result<(), SseError> {
        if !valid_event(event, data) {
            return Err(SseError::InvalidEvent);
        }
        if !get(app).contains(id) {
            return Err(SseError::NotOpen);
        }
        let r = HttpServer::send_event(app, lp, id, event, data);
        if let Err(e) = r {
            if is_dead(e) {
                get(app).on_close(id);
            }
            return Err(SseError::Send(e));
        }
        Ok(())
    }

    /// Sends one event to every open stream (see [`send`](Self::send)).
    /// `Err(InvalidEvent)` sends nothing.
    pub fn broadcast<A: HttpApp>(
        app: &mut A,
        lp: &mut IoLoop<A>,
        get: fn(&mut A) -> &mut Self,
        event: Option<&str>,
        data: &[u8],
    ) -> Result<Broadcast, SseError> {
        if !valid_event(event, data) {
            return Err(SseError::InvalidEvent);
        }
        // A copy: sending can close a connection, and the application's `on_close` then edits
        // the table while this goes through it.
        let ids = get(app).ids.clone();
        let mut report = Broadcast::default();
        for id in ids {
            match HttpServer::send_event(app, lp, id, event, data) {
                Ok(()) => report.sent += 1,
                Err(e) if is_dead(e) => {
                    get(app).on_close(id);
                    report.removed += 1;
                }
                Err(_) => report.skipped += 1,
            }
        }
        Ok(report)
    }

    /// Ends every stream ([`HttpServer::stream_end`]) and empties the table: the clients see
    /// the body end (browsers' `EventSource` then reconnects after its `retry` delay).
    pub fn end_all<A: HttpApp>(app: &mut A, lp: &mut IoLoop<A>, get: fn(&mut A) -> &mut Self) {
        let ids = core::mem::take(&mut get(app).ids);
        for id in ids {
            let _ = HttpServer::stream_end(app, lp, id);
        }
    }
}

/// Whether a send error means the client is gone (rather than slow, or the pool dry).
fn is_dead(e: Error) -> bool {
    !matches!(
        e,
        Error::Stream(
            StreamError::WriteBufferFull | StreamError::NoBuffer | StreamError::WriteQueueBusy
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_event_refuses_forged_fields() {
        assert!(valid_event(Some("tick"), b"a\nb\r\nc"));
        assert!(valid_event(None, b""));
        assert!(!valid_event(Some("a\nevent: x"), b""));
        assert!(!valid_event(Some("a\r"), b""));
        assert!(!valid_event(None, b"a\revent: x"));
        assert!(!valid_event(None, b"a\r"));
        assert!(!valid_event(None, b"a\0"));
    }

    #[test]
    fn open_records_and_caps_streams() {
        let mut es = EventSource::<2>::new();
        let mut buf = [0u8; 2048];
        for i in 0..3u32 {
            let req = crate::web::tests::request_on("/", ConnId::new(i as usize, 1));
            let mut r = Response::new(&mut buf).unwrap();
            let res = es.open(&req, &mut r);
            if i < 2 {
                assert_eq!(res, Ok(()));
                assert!(r.is_streaming());
            } else {
                assert_eq!(res, Err(SseError::Full));
                assert_eq!(r.status(), 503);
                assert!(!r.is_streaming());
                assert_eq!(r.header("Retry-After"), Some(&b"1"[..]));
            }
        }
        assert_eq!(es.len(), 2);
        let mut head = crate::web::tests::request_on("/", ConnId::new(9, 1));
        head.method = crate::http::Method::Head;
        let mut r = Response::new(&mut buf).unwrap();
        assert_eq!(es.open(&head, &mut r), Ok(()));
        assert!(!es.contains(ConnId::new(9, 1)));
        assert!(es.on_close(ConnId::new(0, 1)));
        assert!(!es.on_close(ConnId::new(0, 1)));
        assert!(!es.contains(ConnId::new(0, 1)));
        assert!(es.contains(ConnId::new(1, 1)));
        assert_eq!(es.len(), 1);
    }

    #[test]
    fn is_dead_distinguishes_slow_from_gone() {
        assert!(!is_dead(Error::Stream(StreamError::WriteBufferFull)));
        assert!(!is_dead(Error::Stream(StreamError::NoBuffer)));
        assert!(is_dead(Error::NotRegistered));
        assert!(is_dead(Error::Stream(StreamError::Closed)));
    }
}
