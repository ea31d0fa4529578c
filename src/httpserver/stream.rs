//! Streamed response bodies: chunks fed by the application after the handler returned
//! (Server-Sent Events, bodies larger than a buffer, progress feeds).

use crate::ioloop::{Error, IoLoop};
use crate::iostream::StreamError;
use crate::tcpserver::{ConnId, TcpServer};

use super::conn::Phase;
use super::{HttpApp, HttpProtocol, HttpServer, secs};
use crate::http::itoa::{HEX_U64_LEN, hex_u64};

impl<A: HttpApp> HttpServer<A> {
    /// Whether connection `id` is streaming a response body.
    pub fn is_streaming(&mut self, id: ConnId) -> bool {
        self.tcp
            .conn(id)
            .is_some_and(|c| c.state.phase == Phase::Streaming)
    }

    /// Sends the next piece of a streamed body (see [`Response::stream`](super::Response::stream)).
    ///
    /// The pieces are copied into the connection's write buffer (framed as one chunk) and sent
    /// at once. Backpressure is an error, not an unbounded queue: `Err(Stream(WriteBufferFull))`
    /// when the client has not read enough of the earlier pieces for this one to fit (drop it or
    /// retry later), `Err(Stream(NoBuffer))` when the pool is dry, `Err(NotRegistered)` when the
    /// connection is gone or not streaming.
    pub fn stream_write(
        app: &mut A,
        lp: &mut IoLoop<A>,
        id: ConnId,
        pieces: &[&[u8]],
    ) -> Result<(), Error> {
        let chunked = app
            .http()
            .tcp
            .conn(id)
            .is_some_and(|c| c.state.stream_chunked);
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        if len == 0 {
            return Ok(());
        }
        let mut hex = [0u8; HEX_U64_LEN];
        let size = hex_u64(len as u64, &mut hex);
        let mut head = [0u8; HEX_U64_LEN + 2];
        let (prefix, suffix): (&[u8], &[u8]) = if chunked {
            head[..size.len()].copy_from_slice(size);
            head[size.len()..size.len() + 2].copy_from_slice(b"\r\n");
            (&head[..size.len() + 2], b"\r\n")
        } else {
            (&[], &[])
        };
        Self::write_out(app, lp, id, Phase::Streaming, prefix, pieces, suffix)
    }

    /// Writes `prefix`, `pieces` and `suffix` to connection `id`, which must be in `phase`, from
    /// outside its own event: all of them or nothing, then flush and re-arm. The shared body of
    /// [`stream_write`](Self::stream_write) and
    /// [`upgraded_write`](Self::upgraded_write).
    pub(crate) fn write_out(
        app: &mut A,
        lp: &mut IoLoop<A>,
        id: ConnId,
        phase: Phase,
        prefix: &[u8],
        pieces: &[&[u8]],
        suffix: &[u8],
    ) -> Result<(), Error> {
        let srv = app.http();
        let pool = srv.tcp.pool();
        let conn = srv.tcp.conn(id).ok_or(Error::NotRegistered)?;
        if conn.state.phase != phase {
            return Err(Error::NotRegistered);
        }
        if !conn.stream.acquire_buffers(pool) {
            return Err(Error::Stream(StreamError::NoBuffer));
        }
        if conn.stream.is_writing() {
            // Make room if the earlier pieces can go now.
            let _ = conn.stream.flush();
        }
        let len = prefix.len() + pieces.iter().map(|p| p.len()).sum::<usize>() + suffix.len();
        let (room, pending) = {
            let w = conn.stream.writer();
            (w.room(), w.pending())
        };
        if room < len {
            let e = if room == 0 && pending == 0 {
                StreamError::NoBuffer
            } else {
                StreamError::WriteBufferFull
            };
            TcpServer::<HttpProtocol<A>>::update(app, lp, id)?;
            return Err(Error::Stream(e));
        }
        let mut w = conn.stream.writer();
        w.write(prefix)?;
        for p in pieces {
            w.write(p)?;
        }
        w.write(suffix)?;
        TcpServer::<HttpProtocol<A>>::update(app, lp, id)
    }

    /// Sends one Server-Sent Event: an optional `event:` name and `data` (one `data:` line per
    /// line of it), as one chunk. Same errors as [`stream_write`](Self::stream_write); an event
    /// name with CR or LF, or data with a CR not followed by LF or a NUL, is
    /// `Err(Stream(Unsatisfiable))` (they would forge other fields or events).
    pub fn send_event(
        app: &mut A,
        lp: &mut IoLoop<A>,
        id: ConnId,
        event: Option<&str>,
        data: &[u8],
    ) -> Result<(), Error> {
        const MAX_LINES: usize = 64;
        let mut pieces: heapless::Vec<&[u8], { 4 + 3 * MAX_LINES }> = heapless::Vec::new();
        let full = || Error::Stream(StreamError::WriteBufferFull);
        // A CR not followed by LF, or a NUL, is a line break to EventSource parsers: it would let
        // data forge `event:`/`id:` fields or other events.
        let lone_cr = data
            .iter()
            .enumerate()
            .any(|(i, &b)| b == 0 || (b == b'\r' && data.get(i + 1) != Some(&b'\n')));
        if lone_cr {
            return Err(Error::Stream(StreamError::Unsatisfiable));
        }
        if let Some(name) = event {
            if name.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(Error::Stream(StreamError::Unsatisfiable));
            }
            pieces
                .extend_from_slice(&[b"event: ", name.as_bytes(), b"\n"])
                .map_err(|_| full())?;
        }
        for line in data.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            pieces
                .extend_from_slice(&[b"data: ", line, b"\n"])
                .map_err(|_| full())?;
        }
        pieces.push(b"\n").map_err(|_| full())?;
        Self::stream_write(app, lp, id, &pieces)
    }

    /// Ends a streamed body: the last chunk is sent and the connection goes back to serving
    /// requests (HTTP/1.0, or a response that asked to close: the connection closes).
    pub fn stream_end(app: &mut A, lp: &mut IoLoop<A>, id: ConnId) -> Result<(), Error> {
        let srv = app.http();
        let pool = srv.tcp.pool();
        let clock = srv.clock;
        let conn = srv.tcp.conn(id).ok_or(Error::NotRegistered)?;
        if conn.state.phase != Phase::Streaming {
            return Err(Error::NotRegistered);
        }
        if conn.state.stream_chunked {
            if !conn.stream.acquire_buffers(pool) {
                return Err(Error::Stream(StreamError::NoBuffer));
            }
            let _ = conn.stream.flush();
            conn.stream.write(b"0\r\n\r\n")?;
        }
        conn.state.phase = Phase::Idle;
        conn.state.deadline = clock.saturating_add(secs(crate::http::IDLE_TIMEOUT_MS));
        if !conn.state.deferred_keep_alive {
            conn.stream.close();
        }
        TcpServer::<HttpProtocol<A>>::update(app, lp, id)?;
        // Requests the client pipelined behind the stream.
        super::dispatch::on_ready(app, lp, id)?;
        TcpServer::<HttpProtocol<A>>::update(app, lp, id)
    }
}
