//! Stream errors.

use core::fmt;

/// Errors from [`IoStream`](super::IoStream) operations (Tornado's `StreamClosedError`,
/// `UnsatisfiableReadError`, and the fixed-buffer cases Tornado does not have).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamError {
    /// The stream is closed: the peer closed it (end of stream with nothing left to read), it
    /// was reset, or it was closed locally.
    Closed,
    /// The read can never be satisfied: the delimiter was not found within `max_bytes` or within
    /// a full buffer, or more bytes were asked for than a buffer holds. The stream is closed.
    Unsatisfiable,
    /// The data does not fit in the free space of the write buffer; nothing was written. Flush
    /// and retry, or write in pieces with [`try_write`](super::WriteHalf::try_write).
    WriteBufferFull,
    /// A zero-copy static write is still queued; wait until it drains.
    WriteQueueBusy,
    /// The stream holds no buffer and the pool has none free.
    NoBuffer,
    /// A system call failed with this errno (the stream is closed).
    Io(i32),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Closed => f.write_str("stream closed"),
            StreamError::Unsatisfiable => f.write_str("read cannot be satisfied within the buffer"),
            StreamError::WriteBufferFull => f.write_str("write buffer full"),
            StreamError::WriteQueueBusy => f.write_str("a static write is still queued"),
            StreamError::NoBuffer => f.write_str("no buffer free in the pool"),
            StreamError::Io(e) => write!(f, "system call failed (errno {e})"),
        }
    }
}

impl core::error::Error for StreamError {}
