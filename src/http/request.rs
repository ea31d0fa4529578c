//! Parsing a request head in place (RFC 9112 §2–§3, §5).
//!
//! [`parse_head`] is called on the connection's read buffer each time new bytes arrive; it
//! returns `Ok(None)` until the head is complete, then a [`Head`] that borrows the buffer (the
//! request line, header names and values are slices of it: nothing is copied). The syntax is
//! checked by `httparse` (which refuses bare CR, NUL and other control bytes, spaces before a
//! colon and obsolete line folding); this module adds the size limits, refuses bare LF line
//! endings, and derives the body framing and connection semantics with
//! [`interpret_fields`].

use httparse::{Header, Request, Status};

use super::framing::{Framing, interpret_fields};
use super::head_error::HeadError;
use super::limits::{MAX_HEAD_BYTES, MAX_HEADERS, MAX_URI_BYTES};
use super::method::Method;
use super::target::{TargetForm, split_target};

/// A complete, accepted request head.
///
/// `'b` is the read buffer the head was parsed from, `'h` the caller's header array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head<'h, 'b> {
    /// The method. [`Method::Other`] (a valid but unknown token) is for the server to answer
    /// with 501.
    pub method: Method,
    /// The method token as received.
    pub method_token: &'b str,
    /// The request-target as received.
    pub target: &'b str,
    /// The form of the target.
    pub target_form: TargetForm,
    /// Path and query to route on; for an absolute-form target (`http://host/p?q`) the part from
    /// the path on (see [`Target::path`](crate::http::Target::path)).
    pub path: &'b str,
    /// `host[:port]` of an absolute-form or authority-form target; when present it takes
    /// precedence over the `Host` field (RFC 9112 §3.2.2).
    pub authority: Option<&'b str>,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The header fields, in order, with names as received.
    pub headers: &'h [Header<'b>],
    /// Length of the head in bytes, final empty line included: the body (or the next pipelined
    /// request) starts at this offset of the buffer.
    pub len: usize,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this one's response.
    pub keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
    /// The `Host` field value, if present (always present on an accepted HTTP/1.1 request).
    pub host: Option<&'b [u8]>,
}

impl<'b> Head<'_, 'b> {
    /// The value of the first header field named `name` (compared without regard to ASCII
    /// case), already trimmed of surrounding whitespace.
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// Parses the request head at the start of `buf`.
///
/// * `Ok(None)`: the head is not complete yet; call again with more bytes (the whole buffer
///   from the start of the request, not only the new bytes).
/// * `Ok(Some(head))`: the head is complete and valid; `head.len` bytes of `buf` belong to it.
/// * `Err(e)`: the request must be refused with `e.status()` and the connection closed. Size
///   errors are reported early: [`HeadError::HeadTooLarge`] as soon as `buf` holds
///   [`MAX_HEAD_BYTES`] without a complete head, [`HeadError::UriTooLong`] as soon as the
///   request-target grows past [`MAX_URI_BYTES`], complete or not.
///
/// At most [`MAX_HEADERS`] entries of `headers` are used (fewer if the array is shorter); more
/// header fields than that is [`HeadError::TooManyHeaders`].
///
/// ```
/// use edgeloop::http::{EMPTY_HEADER, Framing, MAX_HEADERS, Method, parse_head};
///
/// let buf = b"POST /api HTTP/1.1\r\nHost: dev\r\nContent-Length: 2\r\n\r\nhi";
/// let mut headers = [EMPTY_HEADER; MAX_HEADERS];
/// assert_eq!(parse_head(&buf[..20], &mut headers), Ok(None)); // not complete yet
/// let head = parse_head(buf, &mut headers)?.expect("complete");
/// assert_eq!((head.method, head.path), (Method::Post, "/api"));
/// assert_eq!(head.framing, Framing::ContentLength(2));
/// assert_eq!(&buf[head.len..], b"hi");
/// # Ok::<(), edgeloop::http::HeadError>(())
/// ```
///
/// Each call scans the buffer from its start, so a head that trickles in byte by byte costs
/// O(n²) in [`MAX_HEAD_BYTES`] at worst; the head timeout bounds how long a peer can do that.
pub fn parse_head<'h, 'b>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
) -> Result<Option<Head<'h, 'b>>, HeadError> {
    let window = buf.get(..MAX_HEAD_BYTES).unwrap_or(buf);
    let usable = headers.len().min(MAX_HEADERS);
    let Some((headers, _)) = headers.split_at_mut_checked(usable) else {
        return Err(HeadError::TooManyHeaders);
    };
    let mut req = Request::new(headers);
    let len = match req.parse(window) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => {
            return if partial_target_len(window) > MAX_URI_BYTES {
                Err(HeadError::UriTooLong)
            } else if window.len() >= MAX_HEAD_BYTES {
                Err(HeadError::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(e) => return Err(map_parse_error(e, window)),
    };
    let Request {
        method,
        path,
        version,
        headers,
    } = req;
    let (Some(method_token), Some(target), Some(version)) = (method, path, version) else {
        return Err(HeadError::BadRequestLine);
    };
    if has_bare_lf(window.get(..len).unwrap_or(window)) {
        return Err(HeadError::BareLf);
    }
    if target.len() > MAX_URI_BYTES {
        return Err(HeadError::UriTooLong);
    }
    let method = Method::from_token(method_token.as_bytes());
    let split = split_target(target, method).ok_or(HeadError::BadTarget)?;
    let headers: &'h [Header<'b>] = headers;
    let sem = interpret_fields(headers, version)?;
    Ok(Some(Head {
        method,
        method_token,
        target,
        target_form: split.form,
        path: split.path,
        authority: split.authority,
        version,
        headers,
        len,
        framing: sem.framing,
        keep_alive: sem.keep_alive,
        expect_continue: sem.expect_continue,
        host: sem.host,
    }))
}

fn map_parse_error(e: httparse::Error, buf: &[u8]) -> HeadError {
    match e {
        httparse::Error::HeaderName | httparse::Error::HeaderValue => HeadError::BadHeader,
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
        httparse::Error::Version if is_http_version_syntax(version_token(buf)) => {
            HeadError::VersionNotSupported
        }
        _ => HeadError::BadRequestLine,
    }
}

/// Whether a line in `head` ends with LF not preceded by CR. `httparse` accepts bare LF (RFC 9112
/// §2.2 allows it); this server refuses it, so that it never splits lines where a front proxy
/// that insists on CRLF would not.
fn has_bare_lf(head: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in head {
        if b == b'\n' && prev != b'\r' {
            return true;
        }
        prev = b;
    }
    false
}

/// The request line after any leading empty lines (RFC 9112 §2.2).
fn request_line(buf: &[u8]) -> &[u8] {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or_default()
}

/// Length of the request-target received so far (the bytes after the first space of the request
/// line up to the next space or line end), 0 when the method is not complete.
fn partial_target_len(buf: &[u8]) -> usize {
    let line = request_line(buf);
    match line.iter().position(|&b| b == b' ') {
        Some(sp) => {
            let rest = line.get(sp + 1..).unwrap_or_default();
            rest.iter().position(|&b| b == b' ').unwrap_or(rest.len())
        }
        None => 0,
    }
}

/// The third element of the request line (the version), possibly incomplete.
fn version_token(buf: &[u8]) -> &[u8] {
    let mut parts = request_line(buf).splitn(3, |&b| b == b' ');
    parts.nth(2).unwrap_or_default()
}

/// Whether `token` is `HTTP/d.d`, or a prefix of that form at least `HTTP/d` long (the version
/// may be cut off by the end of the buffer: `httparse` refuses `HTTP/2` before the rest
/// arrives).
fn is_http_version_syntax(token: &[u8]) -> bool {
    let Some(digits) = token.strip_prefix(b"HTTP/") else {
        return false;
    };
    match digits {
        [major] | [major, b'.'] => major.is_ascii_digit(),
        [major, b'.', minor] => major.is_ascii_digit() && minor.is_ascii_digit(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
