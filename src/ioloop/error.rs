//! The loop's error type.

use core::fmt;

/// Errors from [`IoLoop`](super::IoLoop) operations and from handlers and callbacks.
///
/// Full tables are ordinary outcomes here, never panics: the caller decides whether to drop the
/// work, retry later or close a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// A system call failed with this errno.
    Io(i32),
    /// The file descriptor does not fit the handler table
    /// ([`MAX_HANDLERS`](crate::config::MAX_HANDLERS) entries, indexed by fd number).
    HandlerTableFull,
    /// A handler is already registered for this file descriptor.
    AlreadyRegistered,
    /// No handler is registered for this file descriptor.
    NotRegistered,
    /// The timer heap holds [`MAX_TIMERS`](crate::config::MAX_TIMERS) timers already.
    TimerHeapFull,
    /// The callback queue holds [`MAX_CALLBACKS`](crate::config::MAX_CALLBACKS) callbacks
    /// already (or, for a [`Remote`](super::Remote), its queue is full).
    CallbackQueueFull,
    /// A stream operation failed (see [`StreamError`](crate::iostream::StreamError)).
    Stream(crate::iostream::StreamError),
    /// A configured size is too small for what it must hold (e.g. an HTTP server whose pool
    /// buffers cannot hold one response head: see
    /// [`HttpServer::MIN_BUFFER_SIZE`](crate::httpserver::HttpServer::MIN_BUFFER_SIZE)).
    InvalidConfig,
    /// An application-defined failure code, for handlers that want the loop to report it.
    App(u32),
}

impl Error {
    /// The errno, when this is an I/O error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io(e) => Some(*e),
            _ => None,
        }
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::Io(e.raw_os_error())
    }
}

impl From<crate::iostream::StreamError> for Error {
    fn from(e: crate::iostream::StreamError) -> Self {
        Error::Stream(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(98) => f.write_str("address already in use (errno 98)"),
            Error::Io(99) => f.write_str("address not available on this host (errno 99)"),
            Error::Io(13) => f.write_str("permission denied (errno 13)"),
            Error::Io(24) => f.write_str("too many open files (errno 24)"),
            Error::Io(e) => write!(f, "system call failed (errno {e})"),
            Error::HandlerTableFull => f.write_str("handler table full (fd beyond MAX_HANDLERS)"),
            Error::AlreadyRegistered => f.write_str("a handler is already registered for this fd"),
            Error::NotRegistered => f.write_str("no handler registered for this fd"),
            Error::TimerHeapFull => f.write_str("timer heap full (MAX_TIMERS)"),
            Error::CallbackQueueFull => f.write_str("callback queue full"),
            Error::Stream(e) => write!(f, "stream: {e}"),
            Error::InvalidConfig => f.write_str("a configured size is too small"),
            Error::App(c) => write!(f, "application error {c}"),
        }
    }
}

impl core::error::Error for Error {}
