//! Size and time limits of the HTTP/1.1 server.
//!
//! Every limit has a documented default and can be overridden for a board at build time by
//! setting the named environment variable (see [`crate::config`]); an invalid or zero value fails
//! the build. Sizes are in bytes, timeouts in milliseconds.

use crate::config::parse_or;

/// Largest request head (request line, header fields and the empty line that ends them).
///
/// A connection whose buffer holds this many bytes without a complete head is answered with
/// 431 (Request Header Fields Too Large). This is also the minimum useful size of a connection's
/// read buffer.
///
/// Default 8192. Set with `EDGELOOP_MAX_HEAD_BYTES`.
pub const MAX_HEAD_BYTES: usize = parse_or(option_env!("EDGELOOP_MAX_HEAD_BYTES"), 8192);

/// Header fields accepted in one request head; one more is answered with 431.
///
/// Default 32. Set with `EDGELOOP_MAX_HEADERS`. Cost: 4 words per entry in the header array the
/// server keeps on its stack while parsing.
pub const MAX_HEADERS: usize = parse_or(option_env!("EDGELOOP_MAX_HEADERS"), 32);

/// Longest request-target (path and query); a longer one is answered with 414 (URI Too Long),
/// even before the request line is complete.
///
/// Default 2048. Set with `EDGELOOP_MAX_URI_BYTES`.
pub const MAX_URI_BYTES: usize = parse_or(option_env!("EDGELOOP_MAX_URI_BYTES"), 2048);

/// Largest request body, whether framed by `Content-Length` or chunked; a larger one is answered
/// with 413 (Content Too Large).
///
/// Default 1 MiB (1048576). Set with `EDGELOOP_MAX_BODY_BYTES`.
pub const MAX_BODY_BYTES: usize = parse_or(option_env!("EDGELOOP_MAX_BODY_BYTES"), 1024 * 1024);

/// Most hexadecimal digits in a chunk-size, leading zeros included (8 digits allow chunks of up
/// to 4 GiB − 1). At most 16, so that any accepted size fits in a `u64`.
///
/// Default 8. Set with `EDGELOOP_MAX_CHUNK_SIZE_DIGITS`.
pub const MAX_CHUNK_SIZE_DIGITS: usize = parse_or(option_env!("EDGELOOP_MAX_CHUNK_SIZE_DIGITS"), 8);

/// Longest chunk extension (everything between the chunk-size and its CRLF). Extensions carry no
/// meaning for this server and are skipped; the bound stops a peer from making the server parse
/// an endless size line.
///
/// Default 1024. Set with `EDGELOOP_MAX_CHUNK_EXT_BYTES`.
pub const MAX_CHUNK_EXT_BYTES: usize = parse_or(option_env!("EDGELOOP_MAX_CHUNK_EXT_BYTES"), 1024);

/// Largest trailer section of a chunked body (all trailer field lines and the final empty line);
/// a larger one is answered with 431.
///
/// Default 1024. Set with `EDGELOOP_MAX_TRAILER_BYTES`.
pub const MAX_TRAILER_BYTES: usize = parse_or(option_env!("EDGELOOP_MAX_TRAILER_BYTES"), 1024);

/// Time allowed from the first byte of a request to the end of its head.
///
/// Default 10 000 ms. Set with `EDGELOOP_HEAD_TIMEOUT_MS`.
pub const HEAD_TIMEOUT_MS: u64 = parse_or(option_env!("EDGELOOP_HEAD_TIMEOUT_MS"), 10_000) as u64;

/// Time allowed between two reads that make progress while receiving a request body.
///
/// Default 30 000 ms. Set with `EDGELOOP_BODY_TIMEOUT_MS`.
pub const BODY_TIMEOUT_MS: u64 = parse_or(option_env!("EDGELOOP_BODY_TIMEOUT_MS"), 30_000) as u64;

/// Time a kept-alive connection may stay idle between requests before it is closed.
///
/// Default 60 000 ms. Set with `EDGELOOP_IDLE_TIMEOUT_MS`.
pub const IDLE_TIMEOUT_MS: u64 = parse_or(option_env!("EDGELOOP_IDLE_TIMEOUT_MS"), 60_000) as u64;

/// Time allowed for a blocked response write to make progress before the connection is closed.
///
/// Default 30 000 ms. Set with `EDGELOOP_WRITE_TIMEOUT_MS`.
pub const WRITE_TIMEOUT_MS: u64 = parse_or(option_env!("EDGELOOP_WRITE_TIMEOUT_MS"), 30_000) as u64;

const _: () = assert!(
    MAX_CHUNK_SIZE_DIGITS <= 16,
    "edgeloop: EDGELOOP_MAX_CHUNK_SIZE_DIGITS must be at most 16"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_defaults_when_unset() {
        // The test build sets none of the variables.
        if option_env!("EDGELOOP_MAX_HEAD_BYTES").is_none() {
            assert_eq!(MAX_HEAD_BYTES, 8192);
        }
        if option_env!("EDGELOOP_MAX_BODY_BYTES").is_none() {
            assert_eq!(MAX_BODY_BYTES, 1 << 20);
        }
        if option_env!("EDGELOOP_IDLE_TIMEOUT_MS").is_none() {
            assert_eq!(IDLE_TIMEOUT_MS, 60_000);
        }
    }
}
