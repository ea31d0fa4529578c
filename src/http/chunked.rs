//! Incremental, in-place decoder of the chunked transfer coding (RFC 9112 §7.1).
//!
//! The decoder is a small `Copy` state machine. Each [`ChunkedDecoder::decode`] call takes the
//! bytes received so far that it has not yet seen, moves the chunk data in them to the front of
//! the same slice (an overlapping `copy_within`, never a second buffer), and reports how many
//! input bytes it consumed and how many body bytes it produced. Every partial element (a size
//! line cut in the middle, half a CRLF, a trailer line) is remembered in the state and its bytes
//! are consumed, so input can be split anywhere, down to one byte per call; only after the end
//! of the body does `decode` stop consuming, leaving the next pipelined request untouched.
//!
//! Strictness, each refusal being an error that ends the connection:
//! * chunk-size: 1 to [`MAX_CHUNK_SIZE_DIGITS`] hexadecimal digits (leading zeros count), with
//!   nothing before them: no sign, `0x`, `_` or whitespace;
//! * chunk extensions: after optional spaces or tabs, a `;` and then any visible bytes, spaces
//!   or tabs up to CR, at most [`MAX_CHUNK_EXT_BYTES`] in all; their content is ignored;
//! * every line ends with CRLF: a bare LF or a CR not followed by LF is an error, and so is
//!   anything but CRLF right after a chunk's data;
//! * the sum of the chunk sizes may not exceed the limit given to [`ChunkedDecoder::new`];
//! * trailer lines must each be `name: value` with a token name and field-value bytes, and the
//!   trailer section with its final CRLF may not exceed [`MAX_TRAILER_BYTES`]. Trailers are
//!   checked and then discarded, which RFC 9112 §7.1.2 permits.

use core::fmt;

use super::fields::{is_field_value_byte, is_tchar};
use super::limits::{MAX_CHUNK_EXT_BYTES, MAX_CHUNK_SIZE_DIGITS, MAX_TRAILER_BYTES};

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChunkError {
    /// The chunk-size is empty or not hexadecimal, or is followed by something other than
    /// whitespace before `;`, `;` or CRLF. 400.
    BadSize,
    /// The chunk-size has more than [`MAX_CHUNK_SIZE_DIGITS`] digits. 400.
    SizeTooLong,
    /// A chunk extension holds a control byte. 400.
    BadExtension,
    /// The chunk extensions of one size line exceed [`MAX_CHUNK_EXT_BYTES`]. 400.
    ExtensionTooLong,
    /// A size line or the last line ends with a bare LF, or with CR not followed by LF. 400.
    BadLineEnding,
    /// A chunk's data is not followed by CRLF. 400.
    MissingDataCrlf,
    /// The chunk sizes add up to more than the decoder's limit. 413.
    TooLarge,
    /// The trailer section exceeds [`MAX_TRAILER_BYTES`]. 431.
    TrailersTooLarge,
    /// A trailer line is not a valid `name: value` field line. 400.
    BadTrailer,
}

impl ChunkError {
    /// The response status code for this error.
    pub const fn status(&self) -> u16 {
        match self {
            Self::TooLarge => 413,
            Self::TrailersTooLarge => 431,
            _ => 400,
        }
    }

    /// Whether the server must close the connection after the error response. Always true: the
    /// end of the body is unknown.
    pub const fn closes_connection(&self) -> bool {
        true
    }

    const fn as_str(&self) -> &'static str {
        match self {
            Self::BadSize => "invalid chunk size",
            Self::SizeTooLong => "chunk size has too many digits",
            Self::BadExtension => "invalid chunk extension",
            Self::ExtensionTooLong => "chunk extension too long",
            Self::BadLineEnding => "chunk line not ended by CRLF",
            Self::MissingDataCrlf => "chunk data not followed by CRLF",
            Self::TooLarge => "chunked body above the limit",
            Self::TrailersTooLarge => "trailer section too large",
            Self::BadTrailer => "invalid trailer field",
        }
    }
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for ChunkError {}

/// The result of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Progress {
    /// Input bytes used. Equal to the slice length unless `done`; when `done`, the bytes from
    /// here on follow the body (a pipelined request) and were not touched.
    pub consumed: usize,
    /// Body bytes now at the front of the slice (`buf[..produced]`). The bytes between
    /// `produced` and `consumed` are spent and hold nothing useful.
    pub produced: usize,
    /// Whether the last chunk and the trailer section are complete: the body has ended.
    pub done: bool,
}

/// Where the decoder is in the chunked grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At or inside the hex digits of a chunk-size.
    Size { digits: u8, size: u64 },
    /// After the size: whitespace before `;`, then the extensions, up to CR. `ext` counts bytes.
    Ext {
        size: u64,
        ext: u32,
        after_semicolon: bool,
    },
    /// The size line's CR was seen; its LF is due.
    SizeLf { size: u64 },
    /// Inside a chunk's data.
    Data { remaining: u64 },
    /// A chunk's data ended; its CR is due.
    DataCr,
    /// A chunk's CR was seen; its LF is due.
    DataLf,
    /// At the start of a trailer line or of the final empty line.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// A trailer line's CR was seen; its LF is due.
    TrailerLf,
    /// The final empty line's CR was seen; its LF is due.
    FinalLf,
    /// The body has ended.
    Done,
    /// An error was returned; it is returned again by every later call.
    Failed(ChunkError),
}

/// Incremental decoder of one chunked request body; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    /// Sum of the chunk sizes announced so far.
    body_len: u64,
    /// Largest allowed sum of chunk sizes.
    limit: u64,
    /// Bytes of the trailer section seen so far.
    trailer_len: u32,
}

impl ChunkedDecoder {
    /// A decoder for a body of at most `limit` bytes (usually
    /// [`MAX_BODY_BYTES`](crate::http::MAX_BODY_BYTES)).
    pub const fn new(limit: u64) -> Self {
        Self {
            state: State::Size { digits: 0, size: 0 },
            body_len: 0,
            limit,
            trailer_len: 0,
        }
    }

    /// Whether the whole body, trailers included, has been decoded.
    pub const fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Sum of the chunk sizes announced so far (the body length once [`is_done`](Self::is_done)).
    pub const fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Decodes the next input bytes in place; see the [module docs](self).
    ///
    /// ```
    /// use edgeloop::http::{ChunkedDecoder, MAX_BODY_BYTES};
    ///
    /// let mut dec = ChunkedDecoder::new(MAX_BODY_BYTES as u64);
    /// let mut first = *b"4\r\nWi";
    /// let p = dec.decode(&mut first)?;
    /// assert_eq!((p.consumed, p.produced, p.done), (5, 2, false));
    /// assert_eq!(&first[..p.produced], b"Wi");
    /// let mut rest = *b"ki\r\n0\r\n\r\nGET";
    /// let p = dec.decode(&mut rest)?;
    /// assert_eq!(&rest[..p.produced], b"ki");
    /// assert!(p.done);
    /// assert_eq!(&rest[p.consumed..], b"GET"); // the next pipelined request
    /// # Ok::<(), edgeloop::http::ChunkError>(())
    /// ```
    ///
    /// After an error the decoder stays failed and returns the same error on every call.
    pub fn decode(&mut self, buf: &mut [u8]) -> Result<Progress, ChunkError> {
        let mut read = 0usize;
        let mut written = 0usize;
        while read < buf.len() {
            match self.state {
                State::Done => break,
                State::Failed(e) => return Err(e),
                State::Data { remaining } => {
                    let available = buf.len().saturating_sub(read);
                    let n = usize::try_from(remaining).map_or(available, |r| r.min(available));
                    // `written <= read` (size lines and CRLFs are dropped, data is kept) and
                    // `read + n <= buf.len()`: both ranges are in bounds.
                    debug_assert!(written <= read && n <= available);
                    buf.copy_within(read..read.saturating_add(n), written);
                    read = read.saturating_add(n);
                    written = written.saturating_add(n);
                    let remaining = remaining.saturating_sub(n as u64);
                    self.state = if remaining == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining }
                    };
                }
                _ => {
                    let Some(&b) = buf.get(read) else { break };
                    read += 1;
                    if let Err(e) = self.step(b) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                }
            }
        }
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        Ok(Progress {
            consumed: read,
            produced: written,
            done: self.is_done(),
        })
    }

    /// Advances the state machine over one byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        self.state = match self.state {
            State::Size { digits, size } => match hex_value(b) {
                Some(v) => {
                    if usize::from(digits) >= MAX_CHUNK_SIZE_DIGITS {
                        return Err(ChunkError::SizeTooLong);
                    }
                    let size = size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(u64::from(v)))
                        .ok_or(ChunkError::SizeTooLong)?;
                    State::Size {
                        digits: digits.saturating_add(1),
                        size,
                    }
                }
                None if digits == 0 => return Err(ChunkError::BadSize),
                None => match b {
                    b'\r' => State::SizeLf { size },
                    b' ' | b'\t' => State::Ext {
                        size,
                        ext: 1,
                        after_semicolon: false,
                    },
                    b';' => State::Ext {
                        size,
                        ext: 1,
                        after_semicolon: true,
                    },
                    _ => return Err(ChunkError::BadSize),
                },
            },
            State::Ext {
                size,
                ext,
                after_semicolon,
            } => {
                if b == b'\r' {
                    if !after_semicolon {
                        return Err(ChunkError::BadSize);
                    }
                    State::SizeLf { size }
                } else {
                    let after_semicolon = match b {
                        b';' => true,
                        b' ' | b'\t' => after_semicolon,
                        _ if !after_semicolon => return Err(ChunkError::BadSize),
                        _ if is_field_value_byte(b) => true,
                        _ => return Err(ChunkError::BadExtension),
                    };
                    let ext = ext.saturating_add(1);
                    if ext as usize > MAX_CHUNK_EXT_BYTES {
                        return Err(ChunkError::ExtensionTooLong);
                    }
                    State::Ext {
                        size,
                        ext,
                        after_semicolon,
                    }
                }
            }
            State::SizeLf { size } => {
                if b != b'\n' {
                    return Err(ChunkError::BadLineEnding);
                }
                if size == 0 {
                    State::TrailerStart
                } else {
                    self.body_len = self
                        .body_len
                        .checked_add(size)
                        .filter(|&n| n <= self.limit)
                        .ok_or(ChunkError::TooLarge)?;
                    State::Data { remaining: size }
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size { digits: 0, size: 0 },
            State::DataCr | State::DataLf => return Err(ChunkError::MissingDataCrlf),
            State::TrailerStart
            | State::TrailerName
            | State::TrailerValue
            | State::TrailerLf
            | State::FinalLf => {
                self.trailer_len = self.trailer_len.saturating_add(1);
                if self.trailer_len as usize > MAX_TRAILER_BYTES {
                    return Err(ChunkError::TrailersTooLarge);
                }
                trailer_step(self.state, b)?
            }
            // `decode` handles these without calling `step`.
            State::Data { .. } | State::Done | State::Failed(_) => self.state,
        };
        Ok(())
    }
}

/// The trailer-section part of the state machine (RFC 9112 §7.1.2): field lines, then CRLF.
fn trailer_step(state: State, b: u8) -> Result<State, ChunkError> {
    Ok(match state {
        State::TrailerStart => match b {
            b'\r' => State::FinalLf,
            _ if is_tchar(b) => State::TrailerName,
            _ => return Err(ChunkError::BadTrailer),
        },
        State::TrailerName => match b {
            b':' => State::TrailerValue,
            _ if is_tchar(b) => State::TrailerName,
            _ => return Err(ChunkError::BadTrailer),
        },
        State::TrailerValue => match b {
            b'\r' => State::TrailerLf,
            _ if is_field_value_byte(b) => State::TrailerValue,
            _ => return Err(ChunkError::BadTrailer),
        },
        State::TrailerLf if b == b'\n' => State::TrailerStart,
        State::TrailerLf => return Err(ChunkError::BadTrailer),
        State::FinalLf if b == b'\n' => State::Done,
        State::FinalLf => return Err(ChunkError::BadLineEnding),
        other => other,
    })
}

/// The value of a hexadecimal digit (either case), or `None`.
const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
