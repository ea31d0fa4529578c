//! Writing a response head into a caller-provided buffer (RFC 9112 §4 and §5).
//!
//! [`ResponseHead`] appends the status line and header fields with a cursor. Each call writes
//! all of its bytes or none (on error the head is as it was), names must be tokens and values
//! may not hold control bytes, so a header value taken from a request can never inject a line.
//! Numbers are formatted with [`itoa`](super::itoa), not `core::fmt`.

use core::fmt;

use super::fields::{is_field_value_byte, is_token};
use super::itoa::{DEC_U64_LEN, dec_u64};
use super::status::reason;

/// Why a response head could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeadWriteError {
    /// The buffer has no room for this part; nothing of it was written.
    BufferFull,
    /// The status code is not three digits (100–999).
    InvalidStatus,
    /// A reason phrase holds a control byte.
    InvalidReason,
    /// A header name is not an RFC 9110 token.
    InvalidName,
    /// A header value holds a control byte (CR, LF, NUL, DEL, ...).
    InvalidValue,
    /// A header or the end of the head was written before the status line, or a second status
    /// line was written.
    OutOfOrder,
}

impl fmt::Display for HeadWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferFull => "response head buffer full",
            Self::InvalidStatus => "status code not in 100..=999",
            Self::InvalidReason => "control byte in reason phrase",
            Self::InvalidName => "header name is not a token",
            Self::InvalidValue => "control byte in header value",
            Self::OutOfOrder => "status line must be written once, first",
        })
    }
}

impl core::error::Error for HeadWriteError {}

/// A response head being written into a borrowed buffer.
///
/// ```
/// use edgeloop::http::ResponseHead;
///
/// let mut buf = [0u8; 128];
/// let mut head = ResponseHead::new(&mut buf);
/// head.status(200)?;
/// head.header("Content-Type", b"text/plain")?;
/// head.content_length(5)?;
/// let n = head.finish()?;
/// assert_eq!(
///     &buf[..n],
///     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
/// );
/// # Ok::<(), edgeloop::http::HeadWriteError>(())
/// ```
#[derive(Debug)]
pub struct ResponseHead<'a> {
    buf: &'a mut [u8],
    len: usize,
    has_status: bool,
}

impl<'a> ResponseHead<'a> {
    /// Starts an empty head at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            has_status: false,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the status line `HTTP/1.1 <code> <standard reason>` (an empty reason for a code
    /// [`reason`] does not know). Must come first, once.
    pub fn status(&mut self, code: u16) -> Result<(), HeadWriteError> {
        self.write_status(code, reason(code).as_bytes())
    }

    /// Writes the status line with a custom reason phrase (visible bytes, spaces and tabs).
    pub fn status_with_reason(&mut self, code: u16, reason: &str) -> Result<(), HeadWriteError> {
        if !reason.bytes().all(is_field_value_byte) {
            return Err(HeadWriteError::InvalidReason);
        }
        self.write_status(code, reason.as_bytes())
    }

    fn write_status(&mut self, code: u16, reason: &[u8]) -> Result<(), HeadWriteError> {
        if self.has_status || self.len != 0 {
            return Err(HeadWriteError::OutOfOrder);
        }
        if !(100..=999).contains(&code) {
            return Err(HeadWriteError::InvalidStatus);
        }
        // `code` is 100..=999, so each quotient is a single digit.
        let digits = [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
            b' ',
        ];
        self.put(&[b"HTTP/1.1 ", &digits, reason, b"\r\n"])?;
        self.has_status = true;
        Ok(())
    }

    /// Writes the field line `name: value`. `name` must be a token; `value` may hold visible
    /// bytes, obs-text, spaces and tabs, nothing else.
    pub fn header(&mut self, name: &str, value: &[u8]) -> Result<(), HeadWriteError> {
        if !is_token(name.as_bytes()) {
            return Err(HeadWriteError::InvalidName);
        }
        if !value.iter().all(|&b| is_field_value_byte(b)) {
            return Err(HeadWriteError::InvalidValue);
        }
        self.field(name.as_bytes(), value)
    }

    /// Writes `name: n` with `n` in decimal.
    pub fn header_u64(&mut self, name: &str, n: u64) -> Result<(), HeadWriteError> {
        if !is_token(name.as_bytes()) {
            return Err(HeadWriteError::InvalidName);
        }
        let mut digits = [0; DEC_U64_LEN];
        self.field(name.as_bytes(), dec_u64(n, &mut digits))
    }

    /// Writes `Content-Length: n`.
    pub fn content_length(&mut self, n: u64) -> Result<(), HeadWriteError> {
        let mut digits = [0; DEC_U64_LEN];
        self.field(b"Content-Length", dec_u64(n, &mut digits))
    }

    fn field(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeadWriteError> {
        if !self.has_status {
            return Err(HeadWriteError::OutOfOrder);
        }
        self.put(&[name, b": ", value, b"\r\n"])
    }

    /// Ends the head with the empty line and returns its length: `buf[..n]` is ready to send.
    pub fn finish(mut self) -> Result<usize, HeadWriteError> {
        if !self.has_status {
            return Err(HeadWriteError::OutOfOrder);
        }
        self.put(&[b"\r\n"])?;
        Ok(self.len)
    }

    /// Appends all `parts`, or nothing when they do not fit.
    fn put(&mut self, parts: &[&[u8]]) -> Result<(), HeadWriteError> {
        let mut end = self.len;
        for p in parts {
            end = end.checked_add(p.len()).ok_or(HeadWriteError::BufferFull)?;
        }
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(HeadWriteError::BufferFull)?;
        let mut at = 0;
        for p in parts {
            if let Some(d) = dst.get_mut(at..at + p.len()) {
                d.copy_from_slice(p);
            }
            at += p.len();
        }
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut ResponseHead<'_>) -> Result<(), HeadWriteError>) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let mut h = ResponseHead::new(&mut buf);
        f(&mut h).unwrap();
        let n = h.finish().unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn test_status_and_headers() {
        let out = written(|h| {
            h.status(404)?;
            h.header("Content-Type", b"text/html; charset=UTF-8")?;
            h.content_length(0)?;
            h.header_u64("X-Count", 18_446_744_073_709_551_615)
        });
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=UTF-8\r\n\
              Content-Length: 0\r\nX-Count: 18446744073709551615\r\n\r\n"
        );
    }

    #[test]
    fn test_unknown_code_has_empty_reason() {
        assert_eq!(written(|h| h.status(599)), b"HTTP/1.1 599 \r\n\r\n");
    }

    #[test]
    fn test_custom_reason() {
        assert_eq!(
            written(|h| h.status_with_reason(200, "Fine\tThanks")),
            b"HTTP/1.1 200 Fine\tThanks\r\n\r\n"
        );
        let mut buf = [0u8; 64];
        let mut h = ResponseHead::new(&mut buf);
        assert_eq!(
            h.status_with_reason(200, "OK\r\nX: y"),
            Err(HeadWriteError::InvalidReason)
        );
    }

    #[test]
    fn test_invalid_status_rejected() {
        let mut buf = [0u8; 64];
        let mut h = ResponseHead::new(&mut buf);
        assert_eq!(h.status(99), Err(HeadWriteError::InvalidStatus));
        assert_eq!(h.status(1000), Err(HeadWriteError::InvalidStatus));
        assert!(h.is_empty());
    }

    #[test]
    fn test_header_injection_impossible() {
        let mut buf = [0u8; 128];
        let mut h = ResponseHead::new(&mut buf);
        h.status(200).unwrap();
        let before = h.len();
        for v in [
            &b"a\r\nSet-Cookie: x"[..],
            b"a\nb",
            b"a\rb",
            b"a\x00b",
            b"a\x7fb",
            b"a\x0bb",
        ] {
            assert_eq!(h.header("X", v), Err(HeadWriteError::InvalidValue));
        }
        for n in ["", "X Y", "X:Y", "X\r\nY", "Ünï"] {
            assert_eq!(h.header(n, b"v"), Err(HeadWriteError::InvalidName), "{n:?}");
            assert_eq!(h.header_u64(n, 1), Err(HeadWriteError::InvalidName));
        }
        assert_eq!(h.len(), before);
    }

    #[test]
    fn test_buffer_full_writes_nothing() {
        let line = b"HTTP/1.1 200 OK\r\n";
        let mut buf = [0u8; 17 + 6];
        let mut h = ResponseHead::new(&mut buf);
        h.status(200).unwrap();
        assert_eq!(h.len(), line.len());
        assert_eq!(h.header("X", b"12"), Err(HeadWriteError::BufferFull));
        assert_eq!(h.len(), line.len());
        h.header("X", b"1").unwrap();
        assert_eq!(h.finish(), Err(HeadWriteError::BufferFull));
    }

    #[test]
    fn test_exact_fit() {
        let mut buf = [0u8; 17 + 2];
        let mut h = ResponseHead::new(&mut buf);
        h.status(200).unwrap();
        assert_eq!(h.finish(), Ok(19));
        let mut tiny = [0u8; 16];
        assert_eq!(
            ResponseHead::new(&mut tiny).status(200),
            Err(HeadWriteError::BufferFull)
        );
    }

    #[test]
    fn test_status_must_come_first_and_once() {
        let mut buf = [0u8; 64];
        let mut h = ResponseHead::new(&mut buf);
        assert_eq!(h.header("X", b"y"), Err(HeadWriteError::OutOfOrder));
        assert_eq!(h.content_length(1), Err(HeadWriteError::OutOfOrder));
        h.status(204).unwrap();
        assert_eq!(h.status(200), Err(HeadWriteError::OutOfOrder));
        let mut buf = [0u8; 64];
        assert_eq!(
            ResponseHead::new(&mut buf).finish(),
            Err(HeadWriteError::OutOfOrder)
        );
    }

    #[test]
    fn test_error_display() {
        assert_eq!(
            HeadWriteError::BufferFull.to_string(),
            "response head buffer full"
        );
    }
}
