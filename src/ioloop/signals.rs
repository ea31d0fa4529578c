//! SIGINT/SIGTERM (and friends) delivered to the loop as ordinary readiness events.
//!
//! The signals are blocked with `pthread_sigmask` and read from a `signalfd`, so a signal never
//! interrupts the program at an arbitrary point: the application's handler runs on the loop, with
//! `&mut C`, between two events, where it can stop accepting and finish what is in flight.
//! rustix has no `signalfd` or `sigprocmask` wrapper, so these two calls use `libc`.

use super::{Error, IoLoop};
use rustix::fd::{FromRawFd, OwnedFd};

/// A signal the loop can deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Signal {
    /// `SIGINT` (Ctrl-C).
    Interrupt,
    /// `SIGTERM` (the polite stop request of init systems).
    Terminate,
    /// `SIGHUP`.
    Hangup,
    /// `SIGUSR1`.
    User1,
    /// `SIGUSR2`.
    User2,
}

impl Signal {
    /// The signal number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
            Signal::Hangup => libc::SIGHUP,
            Signal::User1 => libc::SIGUSR1,
            Signal::User2 => libc::SIGUSR2,
        }
    }

    /// The signal for a number, if it is one of these.
    pub fn from_number(n: i32) -> Option<Signal> {
        [
            Signal::Interrupt,
            Signal::Terminate,
            Signal::Hangup,
            Signal::User1,
            Signal::User2,
        ]
        .into_iter()
        .find(|s| s.number() == n)
    }
}

/// Runs on the loop when one of the watched signals arrives.
pub type SignalHandler<C> = fn(&mut C, &mut IoLoop<C>, Signal) -> Result<(), Error>;

/// Blocks `signals` for the calling thread (threads spawned later inherit the mask) and returns
/// a non-blocking signalfd that reports them.
pub(crate) fn open_signalfd(signals: &[Signal]) -> Result<OwnedFd, Error> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it fully before any other use.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t for both calls.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, s.number());
        }
    }
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut()) };
    if rc != 0 {
        return Err(Error::Io(rc));
    }
    // SAFETY: `set` is initialised; -1 asks for a new fd; the flags are valid for signalfd.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::Io(last_errno()));
    }
    // SAFETY: signalfd returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The calling thread's `errno`, after a failed libc call.
pub(crate) fn last_errno() -> i32 {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno (glibc and musl).
    unsafe { *libc::__errno_location() }
}

/// Size of `struct signalfd_siginfo`.
pub(crate) const SIGINFO_SIZE: usize = 128;

/// The signal number in a `signalfd_siginfo` record (its first field, `ssi_signo: u32`).
pub(crate) fn signo(record: &[u8]) -> Option<i32> {
    let b: [u8; 4] = record.get(..4)?.try_into().ok()?;
    i32::try_from(u32::from_ne_bytes(b)).ok()
}
