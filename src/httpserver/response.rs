//! Building a response in place in the connection's write buffer.
//!
//! A [`Response`] writes straight into the free part of the write buffer, laid out as
//!
//! ```text
//! [ PREFIX_MAX: room for the status line and the server's own fields ]
//! [ the handler's header fields ...                                   ] up to MAX_RESPONSE_HEAD
//! [ the body ...                                                      ]
//! ```
//!
//! When the handler returns, the server writes the status line, `Server`, `Date`,
//! `Content-Length` and `Connection` into the prefix and slides the fields and the body together
//! (two `copy_within`), so the whole response — head and body — leaves in one `send`. A static
//! body (`&'static [u8]` from rodata) is not copied at all: it is queued after the head and both
//! go out in one `sendmsg`.

use core::fmt;

use crate::config::parse_or;
use crate::http::fields::{is_field_value_byte, is_token};
use crate::http::itoa::{DEC_U64_LEN, HEX_U64_LEN, dec_u64, hex_u64};
use crate::http::reason;

/// Bytes reserved at the start of each response for its head: status line, the server's fields
/// and the handler's fields. The handler's fields get `MAX_RESPONSE_HEAD - PREFIX_MAX` bytes.
///
/// Default 1024. Set with `EDGELOOP_MAX_RESPONSE_HEAD` (at least 512).
pub const MAX_RESPONSE_HEAD: usize = {
    let n = parse_or(option_env!("EDGELOOP_MAX_RESPONSE_HEAD"), 1024);
    assert!(n >= 512, "EDGELOOP_MAX_RESPONSE_HEAD must be at least 512");
    n
};

/// Room kept for the status line and the server-managed fields.
pub const PREFIX_MAX: usize = 256;

/// Longest protocol name [`Response::upgrade`] takes: with it, the server's fields of a `101`
/// (status line, `Server`, `Date`, `Upgrade`, `Connection`) stay well within [`PREFIX_MAX`].
pub const MAX_UPGRADE_PROTOCOL: usize = 64;

/// Bytes of chunk framing around a streamed first chunk (size line and CRLFs), with margin.
const CHUNK_FRAMING: usize = 24;

const DEFAULT_CONTENT_TYPE: &[u8] = b"Content-Type: text/html; charset=UTF-8\r\n";

/// Errors from building a response. None of them leaves a malformed response behind: an invalid
/// field is not written, and a body that did not fit turns the response into a `500`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResponseError {
    /// The status code is not a final status (200..=599).
    InvalidStatus,
    /// The field name is not an RFC 9110 token.
    InvalidHeaderName,
    /// The field value contains CR, LF, NUL or another control byte (header injection).
    InvalidHeaderValue,
    /// The field is managed by the server (`Content-Length`, `Transfer-Encoding`, `Connection`,
    /// `Date`).
    ManagedHeader,
    /// The header fields do not fit in [`MAX_RESPONSE_HEAD`].
    HeadersTooLarge,
    /// The body does not fit in the write buffer (use a static body or stream it).
    BodyTooLarge,
    /// A static body and a copied body cannot be mixed.
    BodyConflict,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResponseError::InvalidStatus => "status code not in 200..=599",
            ResponseError::InvalidHeaderName => "header name is not a token",
            ResponseError::InvalidHeaderValue => "header value contains a control byte",
            ResponseError::ManagedHeader => "header is managed by the server",
            ResponseError::HeadersTooLarge => "response header fields too large",
            ResponseError::BodyTooLarge => "response body does not fit the write buffer",
            ResponseError::BodyConflict => "static and copied bodies cannot be mixed",
        })
    }
}

impl core::error::Error for ResponseError {}

/// The response a handler fills in (Tornado's `RequestHandler.set_status` / `set_header` /
/// `write`). Defaults: `200 OK`, `Content-Type: text/html; charset=UTF-8` when there is a body
/// and no `Content-Type` was set, as in Tornado.
#[derive(Debug)]
pub struct Response<'w> {
    buf: &'w mut [u8],
    status: u16,
    hdr_end: usize,
    body_len: usize,
    tail: &'static [u8],
    failed: bool,
    has_content_type: bool,
    close: bool,
    deferred: bool,
    streaming: bool,
    upgrade: Option<&'static str>,
}

/// Whether a header value is safe to send: visible ASCII, obs-text, space and tab only.
pub fn valid_header_value(v: &[u8]) -> bool {
    v.iter().all(|&b| is_field_value_byte(b))
}

fn is_managed(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection", "date"]
        .iter()
        .any(|m| name.eq_ignore_ascii_case(m))
}

impl<'w> Response<'w> {
    /// A response over `buf` (the free part of a write buffer), or `None` if `buf` is smaller
    /// than [`MAX_RESPONSE_HEAD`].
    pub fn new(buf: &'w mut [u8]) -> Option<Self> {
        if buf.len() < MAX_RESPONSE_HEAD {
            return None;
        }
        Some(Response {
            buf,
            status: 200,
            hdr_end: PREFIX_MAX,
            body_len: 0,
            tail: &[],
            failed: false,
            has_content_type: false,
            close: false,
            deferred: false,
            streaming: false,
            upgrade: None,
        })
    }

    /// Sets the status code (Tornado's `set_status`); the reason phrase is the standard one.
    /// Only final statuses, 200–599: interim `1xx` responses are the server's (`100 Continue`)
    /// or come from [`upgrade`](Self::upgrade).
    pub fn set_status(&mut self, code: u16) -> Result<(), ResponseError> {
        if !(200..=599).contains(&code) {
            return Err(ResponseError::InvalidStatus);
        }
        self.status = code;
        Ok(())
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Parks the request: nothing is sent now, the connection keeps its slot (but no buffers
    /// while idle), and the application answers later with
    /// [`HttpServer::finish_deferred`](super::HttpServer::finish_deferred) — from a timer or
    /// another event (Tornado's long polling). Anything written so far is discarded.
    pub fn defer(&mut self) {
        self.deferred = true;
    }

    /// Whether [`defer`](Self::defer) was called.
    pub fn is_deferred(&self) -> bool {
        self.deferred
    }

    /// Streams the body: when the handler returns, the head is sent at once with
    /// `Transfer-Encoding: chunked` (HTTP/1.0: no length, the end is the close), followed by
    /// what was written so far as the first chunk. The connection keeps its slot; the
    /// application feeds the body with [`HttpServer::stream_write`](super::HttpServer::stream_write)
    /// (or [`send_event`](super::HttpServer::send_event)) and ends it with
    /// [`HttpServer::stream_end`](super::HttpServer::stream_end). The client going away is
    /// reported through [`HttpApp::on_close`](super::HttpApp::on_close).
    pub fn stream(&mut self) {
        self.streaming = true;
    }

    /// Starts a Server-Sent Events stream (`text/event-stream`, not cached) — see
    /// [`stream`](Self::stream) and [`HttpServer::send_event`](super::HttpServer::send_event).
    pub fn event_stream(&mut self) {
        let _ = self.set_header("Content-Type", b"text/event-stream");
        let _ = self.set_header("Cache-Control", b"no-cache");
        self.stream();
    }

    /// Switches the connection to another protocol (`101 Switching Protocols`, with
    /// `Upgrade: protocol` and `Connection: Upgrade` written by the server). After the head, the
    /// connection's bytes go to [`HttpApp::on_upgraded`](super::HttpApp::on_upgraded) and can
    /// be written with [`HttpServer::upgraded_write`](super::HttpServer::upgraded_write). The
    /// protocol name must be a token of at most [`MAX_UPGRADE_PROTOCOL`] bytes (else
    /// `Err(InvalidHeaderValue)`).
    pub fn upgrade(&mut self, protocol: &'static str) -> Result<(), ResponseError> {
        // The name goes into the server's fixed-size head prefix (`PREFIX_MAX`).
        if !is_token(protocol.as_bytes()) || protocol.len() > MAX_UPGRADE_PROTOCOL {
            return Err(ResponseError::InvalidHeaderValue);
        }
        self.status = 101;
        self.upgrade = Some(protocol);
        Ok(())
    }

    /// The protocol given to [`upgrade`](Self::upgrade), if any.
    pub fn upgrade_protocol(&self) -> Option<&'static str> {
        self.upgrade
    }

    /// Whether [`stream`](Self::stream) was called.
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Asks for the connection to be closed after this response.
    pub fn close_connection(&mut self) {
        self.close = true;
    }

    /// Whether [`close_connection`](Self::close_connection) was called.
    pub fn closes_connection(&self) -> bool {
        self.close
    }

    fn check(name: &str, value: &[u8]) -> Result<(), ResponseError> {
        if !is_token(name.as_bytes()) {
            return Err(ResponseError::InvalidHeaderName);
        }
        if !valid_header_value(value) {
            return Err(ResponseError::InvalidHeaderValue);
        }
        if is_managed(name) {
            return Err(ResponseError::ManagedHeader);
        }
        Ok(())
    }

    /// Adds a header field, keeping others of the same name (Tornado's `add_header`).
    pub fn add_header(&mut self, name: &str, value: &[u8]) -> Result<(), ResponseError> {
        Self::check(name, value)?;
        let line = name.len() + 2 + value.len() + 2;
        let end = self
            .hdr_end
            .checked_add(line)
            .filter(|&e| e <= MAX_RESPONSE_HEAD)
            .ok_or(ResponseError::HeadersTooLarge)?;
        let mut at = self.hdr_end;
        for part in [name.as_bytes(), b": ", value, b"\r\n"] {
            self.buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        self.hdr_end = end;
        if name.eq_ignore_ascii_case("content-type") {
            self.has_content_type = true;
        }
        Ok(())
    }

    /// Sets a header field, replacing any of the same name (Tornado's `set_header`).
    pub fn set_header(&mut self, name: &str, value: &[u8]) -> Result<(), ResponseError> {
        Self::check(name, value)?;
        self.clear_header(name);
        self.add_header(name, value)
    }

    /// Removes every header field named `name` (Tornado's `clear_header`).
    pub fn clear_header(&mut self, name: &str) {
        let mut at = PREFIX_MAX;
        while at < self.hdr_end {
            let line_end = self.buf[at..self.hdr_end]
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(self.hdr_end, |p| at + p + 2);
            let line = &self.buf[at..line_end];
            let matches = line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()] == b':';
            if matches {
                self.buf.copy_within(line_end..self.hdr_end, at);
                self.hdr_end -= line_end - at;
            } else {
                at = line_end;
            }
        }
        if name.eq_ignore_ascii_case("content-type") {
            self.has_content_type = false;
        }
    }

    /// The value of the first header field named `name` set so far.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let mut rest = &self.buf[PREFIX_MAX..self.hdr_end];
        while !rest.is_empty() {
            let end = rest.windows(2).position(|w| w == b"\r\n")?;
            let line = &rest[..end];
            if line.len() > name.len() + 1
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()] == b':'
            {
                return Some(line[name.len() + 1..].trim_ascii_start());
            }
            rest = &rest[end + 2..];
        }
        None
    }

    /// Room left for the body (a few bytes are kept for framing a streamed first chunk).
    pub fn body_room(&self) -> usize {
        (self.buf.len() - MAX_RESPONSE_HEAD)
            .saturating_sub(CHUNK_FRAMING)
            .saturating_sub(self.body_len)
    }

    /// Appends to the body (Tornado's `write`). If it does not fit, nothing is written, the
    /// error is returned, and — should the handler carry on regardless — the response becomes a
    /// `500` rather than a silently truncated body.
    pub fn write(&mut self, data: &[u8]) -> Result<(), ResponseError> {
        if !self.tail.is_empty() {
            self.failed = true;
            return Err(ResponseError::BodyConflict);
        }
        if data.len() > self.body_room() {
            self.failed = true;
            return Err(ResponseError::BodyTooLarge);
        }
        let at = MAX_RESPONSE_HEAD + self.body_len;
        self.buf[at..at + data.len()].copy_from_slice(data);
        self.body_len += data.len();
        Ok(())
    }

    /// Sends `body` from rodata without copying it (a compiled-in asset).
    pub fn write_static(&mut self, body: &'static [u8]) -> Result<(), ResponseError> {
        if self.body_len > 0 || !self.tail.is_empty() {
            self.failed = true;
            return Err(ResponseError::BodyConflict);
        }
        self.tail = body;
        Ok(())
    }

    /// Discards the body written so far (and a static body).
    pub fn clear_body(&mut self) {
        self.body_len = 0;
        self.tail = &[];
        self.failed = false;
    }

    /// The body written so far (copied part).
    pub fn body(&self) -> &[u8] {
        &self.buf[MAX_RESPONSE_HEAD..MAX_RESPONSE_HEAD + self.body_len]
    }

    /// Total body length (copied and static).
    pub fn body_len(&self) -> usize {
        self.body_len + self.tail.len()
    }

    /// Whether a write failed (the server will answer `500`).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// For a streamed response, moves a static body into the first chunk (a streamed body is
    /// framed in the write buffer, so it cannot be sent by reference); one that does not fit
    /// fails the response (a `500`), like any body that does not fit. The server calls this
    /// before it decides how the response is sent.
    pub(crate) fn settle_stream(&mut self) {
        let no_body = matches!(self.status, 100..=199 | 204 | 304);
        if self.streaming && !no_body && !self.failed && !self.tail.is_empty() {
            let tail = core::mem::take(&mut self.tail);
            // On `BodyTooLarge`, `write` marks the response failed.
            let _ = self.write(tail);
        }
    }

    /// Lays the finished response out at the start of the buffer. Returns its length and the
    /// static tail to send after it.
    pub(crate) fn finish(mut self, f: &Finish<'_>) -> (usize, &'static [u8]) {
        if self.failed {
            self.status = 500;
            self.body_len = 0;
            self.tail = &[];
            self.hdr_end = PREFIX_MAX;
            self.has_content_type = false;
            let _ = self.write(b"500 Internal Server Error\n");
        }
        let no_body = matches!(self.status, 100..=199 | 204 | 304);
        let body_len = if no_body { 0 } else { self.body_len() };
        // A HEAD response carries the head the streamed GET response would have (chunked).
        let streaming = self.streaming && !no_body && !self.failed;
        if streaming && !self.tail.is_empty() {
            // A static first part is copied into the first chunk when it fits.
            let tail = core::mem::take(&mut self.tail);
            if self.write(tail).is_err() {
                self.failed = true;
            }
        }
        let mut p = Prefix::default();
        p.put(b"HTTP/1.1 ");
        let mut num = [0u8; DEC_U64_LEN];
        p.put(dec_u64(u64::from(self.status), &mut num));
        p.put(b" ");
        p.put(reason(self.status).as_bytes());
        p.put(b"\r\nServer: edgeloop\r\nDate: ");
        p.put(f.date);
        p.put(b"\r\n");
        if streaming {
            if !f.http10 {
                p.put(b"Transfer-Encoding: chunked\r\n");
            }
        } else if !matches!(self.status, 100..=199 | 204 | 304) {
            // (A 304 describes the selected representation; it never claims an empty one.)
            p.put(b"Content-Length: ");
            p.put(dec_u64(body_len as u64, &mut num));
            p.put(b"\r\n");
        }
        if (body_len > 0 || streaming) && !self.has_content_type {
            p.put(DEFAULT_CONTENT_TYPE);
        }
        if let (Some(proto), 101) = (self.upgrade, self.status) {
            p.put(b"Upgrade: ");
            p.put(proto.as_bytes());
            p.put(b"\r\nConnection: Upgrade\r\n");
        } else if !f.keep_alive || self.close || (streaming && f.http10) {
            p.put(b"Connection: close\r\n");
        } else if f.http10 {
            p.put(b"Connection: keep-alive\r\n");
        }
        let pre = p.len;
        let fields = self.hdr_end - PREFIX_MAX;
        self.buf.copy_within(PREFIX_MAX..self.hdr_end, pre);
        self.buf[..pre].copy_from_slice(&p.buf[..pre]);
        let head_len = pre + fields + 2;
        self.buf[head_len - 2..head_len].copy_from_slice(b"\r\n");
        if f.head_only || no_body {
            return (head_len, &[]);
        }
        if streaming && !f.http10 {
            // The body written so far becomes the first chunk, framed in place.
            if self.body_len == 0 {
                return (head_len, &[]);
            }
            let mut hex = [0u8; HEX_U64_LEN];
            let size = hex_u64(self.body_len as u64, &mut hex);
            let at = head_len;
            self.buf[at..at + size.len()].copy_from_slice(size);
            self.buf[at + size.len()..at + size.len() + 2].copy_from_slice(b"\r\n");
            let data_at = at + size.len() + 2;
            self.buf.copy_within(
                MAX_RESPONSE_HEAD..MAX_RESPONSE_HEAD + self.body_len,
                data_at,
            );
            let end = data_at + self.body_len;
            self.buf[end..end + 2].copy_from_slice(b"\r\n");
            return (end + 2, &[]);
        }
        self.buf.copy_within(
            MAX_RESPONSE_HEAD..MAX_RESPONSE_HEAD + self.body_len,
            head_len,
        );
        (head_len + self.body_len, self.tail)
    }
}

impl fmt::Write for Response<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// What the server knows when it finishes a response.
pub(crate) struct Finish<'a> {
    pub(crate) date: &'a [u8],
    pub(crate) keep_alive: bool,
    pub(crate) http10: bool,
    pub(crate) head_only: bool,
}

struct Prefix {
    buf: [u8; PREFIX_MAX],
    len: usize,
}

impl Default for Prefix {
    fn default() -> Self {
        Prefix {
            buf: [0; PREFIX_MAX],
            len: 0,
        }
    }
}

impl Prefix {
    fn put(&mut self, b: &[u8]) {
        // The prefix's parts have fixed maximum sizes that sum to well under PREFIX_MAX.
        let n = b.len().min(PREFIX_MAX - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }
}

/// Writes a complete small response (an error page) at the start of `buf`; returns its length
/// or `None` if it does not fit.
pub(crate) fn simple(
    buf: &mut [u8],
    status: u16,
    date: &[u8],
    close: bool,
    extra: &[u8],
) -> Option<usize> {
    let r = Response::new(buf)?;
    let mut r = r;
    let _ = r.set_status(status);
    if !extra.is_empty() {
        // `extra` is a server-made, pre-validated field line (e.g. "Allow: GET, HEAD\r\n").
        let end = r.hdr_end + extra.len();
        if end > MAX_RESPONSE_HEAD {
            return None;
        }
        r.buf[r.hdr_end..end].copy_from_slice(extra);
        r.hdr_end = end;
    }
    let _ = r.set_header("Content-Type", b"text/plain; charset=utf-8");
    let mut num = [0u8; DEC_U64_LEN];
    let _ = r.write(dec_u64(u64::from(status), &mut num));
    let _ = r.write(b" ");
    let _ = r.write(reason(status).as_bytes());
    let _ = r.write(b"\n");
    let f = Finish {
        date,
        keep_alive: !close,
        http10: false,
        head_only: false,
    };
    Some(r.finish(&f).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn fin(keep_alive: bool, head_only: bool) -> Finish<'static> {
        Finish {
            date: DATE,
            keep_alive,
            http10: false,
            head_only,
        }
    }

    #[test]
    fn test_hello_world_layout() {
        let mut buf = [0u8; 2048];
        let mut r = Response::new(&mut buf).unwrap();
        r.set_header("Content-Type", b"text/plain").unwrap();
        r.write(b"Hello, world").unwrap();
        let (n, tail) = r.finish(&fin(true, false));
        assert!(tail.is_empty());
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nServer: edgeloop\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Length: 12\r\nContent-Type: text/plain\r\n\r\nHello, world"
        );
    }

    #[test]
    fn test_header_injection_rejected() {
        let mut buf = [0u8; 2048];
        let mut r = Response::new(&mut buf).unwrap();
        assert_eq!(
            r.set_header("X-A", b"v\r\nSet-Cookie: x=1"),
            Err(ResponseError::InvalidHeaderValue)
        );
        assert_eq!(
            r.set_header("X A", b"v"),
            Err(ResponseError::InvalidHeaderName)
        );
        assert_eq!(
            r.set_header("X\r\nB", b"v"),
            Err(ResponseError::InvalidHeaderName)
        );
        assert_eq!(
            r.set_header("Content-Length", b"5"),
            Err(ResponseError::ManagedHeader)
        );
        assert_eq!(
            r.set_header("X-Nul", b"a\0b"),
            Err(ResponseError::InvalidHeaderValue)
        );
        assert_eq!(r.set_status(1000), Err(ResponseError::InvalidStatus));
    }

    #[test]
    fn test_set_header_replaces_and_clear_removes() {
        let mut buf = [0u8; 2048];
        let mut r = Response::new(&mut buf).unwrap();
        r.add_header("X-A", b"1").unwrap();
        r.add_header("X-B", b"2").unwrap();
        r.add_header("X-A", b"3").unwrap();
        r.set_header("x-a", b"4").unwrap();
        assert_eq!(r.header("X-A"), Some(&b"4"[..]));
        assert_eq!(r.header("X-B"), Some(&b"2"[..]));
        r.clear_header("X-B");
        assert_eq!(r.header("X-B"), None);
    }

    #[test]
    fn test_head_keeps_length_drops_body() {
        let mut buf = [0u8; 2048];
        let mut r = Response::new(&mut buf).unwrap();
        r.write(b"abcdef").unwrap();
        let (n, _) = r.finish(&fin(true, true));
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.contains("Content-Length: 6\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn test_body_too_large_becomes_500() {
        let mut buf = [0u8; 1100];
        let mut r = Response::new(&mut buf).unwrap();
        assert_eq!(r.write(&[b'x'; 200]), Err(ResponseError::BodyTooLarge));
        let (n, _) = r.finish(&fin(false, false));
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("HTTP/1.1 500 "), "{text}");
        assert!(text.contains("Connection: close\r\n"));
    }

    #[test]
    fn test_static_body_is_tail() {
        static BODY: &[u8] = b"0123456789";
        let mut buf = [0u8; 2048];
        let mut r = Response::new(&mut buf).unwrap();
        r.write_static(BODY).unwrap();
        assert_eq!(r.write(b"x"), Err(ResponseError::BodyConflict));
        let mut r = Response::new(&mut buf).unwrap();
        r.write_static(BODY).unwrap();
        let (n, tail) = r.finish(&fin(true, false));
        assert_eq!(tail, BODY);
        assert!(
            core::str::from_utf8(&buf[..n])
                .unwrap()
                .contains("Content-Length: 10\r\n")
        );
    }

    #[test]
    fn test_simple_error_with_allow() {
        let mut buf = [0u8; 2048];
        let n = simple(&mut buf, 405, DATE, false, b"Allow: GET, HEAD\r\n").unwrap();
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.contains("Allow: GET, HEAD\r\n"));
        assert!(text.ends_with("405 Method Not Allowed\n"));
    }
}
