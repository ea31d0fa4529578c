//! Why a request head was refused, and the response status each reason calls for.

use core::fmt;

/// A request head that the server must refuse.
///
/// Every variant leaves the framing of the rest of the connection unknown (the head was not
/// accepted, so its body cannot be skipped reliably): the server sends [`status`](Self::status)
/// with `Connection: close` and closes, as [`closes_connection`](Self::closes_connection) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeadError {
    /// The request line is malformed (method, spacing, target or line ending). 400.
    BadRequestLine,
    /// The request-target is not valid for the method (see
    /// [`split_target`](crate::http::split_target)). 400.
    BadTarget,
    /// A header line is malformed: bad name, control byte in a value, space before the colon,
    /// or an obsolete line folding (RFC 9112 §5.2). 400.
    BadHeader,
    /// A line ends with a bare LF instead of CRLF. 400.
    BareLf,
    /// The version is syntactically `HTTP/x.y` but not 1.0 or 1.1. 505.
    VersionNotSupported,
    /// The head is larger than [`MAX_HEAD_BYTES`](crate::http::MAX_HEAD_BYTES). 431.
    HeadTooLarge,
    /// More than [`MAX_HEADERS`](crate::http::MAX_HEADERS) header fields (or than the caller's
    /// header array holds). 431.
    TooManyHeaders,
    /// The request-target is longer than [`MAX_URI_BYTES`](crate::http::MAX_URI_BYTES). 414.
    UriTooLong,
    /// An HTTP/1.1 request without `Host`. 400 (RFC 9112 §3.2).
    MissingHost,
    /// More than one `Host` field, or a value that is not `host[:port]`. 400.
    BadHost,
    /// `Content-Length` is not 1–19 plain decimal digits (signs, hex, spaces, lists). 400.
    BadContentLength,
    /// More than one `Content-Length` field, even with equal values. 400.
    DuplicateContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`: the classic smuggling shape. 400.
    ContentLengthAndTransferEncoding,
    /// `Transfer-Encoding` on an HTTP/1.0 request, which has no chunked coding. 400.
    TransferEncodingOnHttp10,
    /// `Transfer-Encoding` is anything but a single field holding exactly `chunked`. 501.
    UnsupportedTransferEncoding,
    /// `Content-Length` is above [`MAX_BODY_BYTES`](crate::http::MAX_BODY_BYTES). 413.
    BodyTooLarge,
    /// `Expect` holds something other than `100-continue`. 417.
    ExpectationFailed,
}

impl HeadError {
    /// The response status code for this error.
    pub const fn status(&self) -> u16 {
        match self {
            Self::BadRequestLine
            | Self::BadTarget
            | Self::BadHeader
            | Self::BareLf
            | Self::MissingHost
            | Self::BadHost
            | Self::BadContentLength
            | Self::DuplicateContentLength
            | Self::ContentLengthAndTransferEncoding
            | Self::TransferEncodingOnHttp10 => 400,
            Self::VersionNotSupported => 505,
            Self::HeadTooLarge | Self::TooManyHeaders => 431,
            Self::UriTooLong => 414,
            Self::UnsupportedTransferEncoding => 501,
            Self::BodyTooLarge => 413,
            Self::ExpectationFailed => 417,
        }
    }

    /// Whether the server must close the connection after the error response. Always true:
    /// once a head is refused, where its body ends is unknown, so nothing after it on the
    /// connection can be trusted to be a new request.
    pub const fn closes_connection(&self) -> bool {
        true
    }

    const fn as_str(&self) -> &'static str {
        match self {
            Self::BadRequestLine => "malformed request line",
            Self::BadTarget => "invalid request-target",
            Self::BadHeader => "malformed header field",
            Self::BareLf => "line ends with a bare LF",
            Self::VersionNotSupported => "HTTP version not supported",
            Self::HeadTooLarge => "request head too large",
            Self::TooManyHeaders => "too many header fields",
            Self::UriTooLong => "request-target too long",
            Self::MissingHost => "HTTP/1.1 request without Host",
            Self::BadHost => "duplicate or invalid Host",
            Self::BadContentLength => "invalid Content-Length",
            Self::DuplicateContentLength => "more than one Content-Length",
            Self::ContentLengthAndTransferEncoding => "both Content-Length and Transfer-Encoding",
            Self::TransferEncodingOnHttp10 => "Transfer-Encoding on HTTP/1.0",
            Self::UnsupportedTransferEncoding => "unsupported Transfer-Encoding",
            Self::BodyTooLarge => "Content-Length above the body limit",
            Self::ExpectationFailed => "unsupported Expect",
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for HeadError {}

#[cfg(test)]
mod tests {
    use super::HeadError;

    #[test]
    fn test_status_codes() {
        assert_eq!(HeadError::ContentLengthAndTransferEncoding.status(), 400);
        assert_eq!(HeadError::UnsupportedTransferEncoding.status(), 501);
        assert_eq!(HeadError::BodyTooLarge.status(), 413);
        assert_eq!(HeadError::HeadTooLarge.status(), 431);
        assert_eq!(HeadError::UriTooLong.status(), 414);
        assert_eq!(HeadError::VersionNotSupported.status(), 505);
        assert_eq!(HeadError::ExpectationFailed.status(), 417);
    }

    #[test]
    fn test_every_error_closes_and_displays() {
        assert!(HeadError::BadHeader.closes_connection());
        assert_eq!(format!("{}", HeadError::BareLf), "line ends with a bare LF");
    }
}
