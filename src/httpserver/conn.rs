//! Per-connection HTTP state: small and `Copy`, kept in the connection slot.

use crate::http::ChunkedDecoder;

/// Where a connection is in its request/response cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// Between requests (keep-alive idle): the idle timeout runs.
    #[default]
    Idle,
    /// Bytes of a request head have arrived: the head timeout runs (slowloris).
    Head,
    /// The head is complete, the body is arriving: the body timeout runs.
    Body,
    /// A handler parked the request ([`Response::defer`](super::Response)); the application
    /// finishes it later.
    Deferred,
    /// The response head is sent and its body streams in chunks fed by the application
    /// ([`Response::stream`](super::Response::stream)), e.g. Server-Sent Events.
    Streaming,
    /// Switched protocols after `101` ([`Response::upgrade`](super::Response::upgrade)): bytes
    /// go to [`HttpApp::on_upgraded`](super::HttpApp::on_upgraded), e.g. WebSocket frames.
    Upgraded,
}

/// The HTTP server's state for one connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpConn {
    pub(crate) phase: Phase,
    /// Coarse-clock second at which the current phase times out (0: none).
    pub(crate) deadline: u32,
    /// Coarse-clock second of the last activity, for least-recently-used eviction.
    pub(crate) last_active: u32,
    /// Requests answered on this connection.
    pub(crate) requests: u32,
    /// Chunked body decoding in progress.
    pub(crate) chunked: Option<ChunkedDecoder>,
    /// De-chunked body bytes so far (at the start of the body region).
    pub(crate) decoded: u32,
    /// `100 Continue` already sent for the current request.
    pub(crate) continue_sent: bool,
    /// Bytes sent when the last sweep looked, and since when output has been stuck.
    pub(crate) sent_mark: u32,
    pub(crate) stalled_since: u32,
    /// How to finish a deferred response.
    pub(crate) deferred_keep_alive: bool,
    pub(crate) deferred_http10: bool,
    pub(crate) deferred_head: bool,
    /// Streaming body framed with chunked encoding (else delimited by closing: HTTP/1.0).
    pub(crate) stream_chunked: bool,
    /// The request body is being handed to the application in pieces
    /// ([`HttpApp::stream_request_body`](super::HttpApp::stream_request_body)).
    pub(crate) body_streaming: bool,
    /// `Content-Length` bytes of a streamed body still to come.
    pub(crate) body_left: u64,
}

impl HttpConn {
    /// Where the connection is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Requests answered so far on this connection.
    pub fn requests(&self) -> u32 {
        self.requests
    }
}
