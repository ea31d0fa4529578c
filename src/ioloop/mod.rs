//! The event loop (Tornado's `tornado.ioloop`).
//!
//! One thread, one epoll instance, level-triggered. [`IoLoop`] owns a fixed-capacity
//! [handler table](IoLoop::add_handler) keyed by file descriptor, a [timer heap](IoLoop::call_later),
//! a [callback queue](IoLoop::add_callback), an optional cross-thread [`Remote`] (eventfd) and an
//! optional [signalfd](IoLoop::handle_signals). Each iteration of [`IoLoop::start`]:
//!
//! 1. runs the callbacks that were queued before the iteration began;
//! 2. waits in `epoll_wait` until the next timer is due — forever when there is none, so an idle
//!    loop uses no CPU at all (no polling with a short timeout);
//! 3. calls the handler of every ready fd (a batch of up to
//!    [`EVENTS_PER_WAIT`] events per system call);
//! 4. runs the timers that are due.
//!
//! `EINTR` is not an error: the iteration simply continues. A handler or callback that returns
//! `Err` is logged and counted in [`LoopStats::handler_errors`]; the loop keeps running.
//!
//! Handlers and callbacks are plain `fn` pointers plus a [`Token`]; the loop is generic over the
//! application context `C` and passes `&mut C` and `&mut IoLoop<C>` into every call, so a handler
//! can register, re-arm or cancel anything without shared mutable state, closures or a heap.
//!
//! # Example
//! ```
//! use core::time::Duration;
//! use edgeloop::ioloop::{Error, IoLoop, Token};
//!
//! struct App { ticks: u32 }
//!
//! fn tick(app: &mut App, lp: &mut IoLoop<App>, _: Token) -> Result<(), Error> {
//!     app.ticks += 1;
//!     if app.ticks == 3 { lp.stop(); } else { lp.call_later(Duration::from_millis(1), tick, Token(0))?; }
//!     Ok(())
//! }
//!
//! let mut lp = Box::new(IoLoop::<App>::new()); // firmware: a `static_cell::ConstStaticCell`
//! let mut app = App { ticks: 0 };
//! lp.call_later(Duration::from_millis(1), tick, Token(0)).unwrap();
//! lp.start(&mut app).unwrap();
//! assert_eq!(app.ticks, 3);
//! ```

mod error;
mod handlers;
mod periodic;
mod remote;
mod signals;
#[cfg(test)]
mod tests;
mod time;
mod timers;

use core::mem::MaybeUninit;
use core::time::Duration;

use rustix::event::epoll;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::io::Errno;

pub use error::Error;
pub use handlers::{Handler, Interest, Ready, Token};
pub use periodic::PeriodicCallback;
pub use remote::Remote;
pub(crate) use signals::last_errno;
pub use signals::{Signal, SignalHandler};
pub use time::Instant;
pub use timers::TimeoutId;

use crate::config::{EVENTS_PER_WAIT, MAX_CALLBACKS, MAX_REMOTE_CALLBACKS};
use crate::fmt;
use handlers::HandlerTable;
use timers::TimerHeap;

/// Longest single `epoll_wait`. Longer timeouts do not fit `epoll_wait`'s `int` milliseconds
/// and would need `epoll_pwait2` (Linux 5.11+; missing on older board kernels and in QEMU user
/// emulation before 8.0): the loop simply wakes up once a day and waits again.
const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// A callback: run once by the loop (`add_callback`, `call_later`, `call_at`) or repeatedly
/// ([`PeriodicCallback`]), with the application context, the loop and the token it was given.
pub type Callback<C> = fn(&mut C, &mut IoLoop<C>, Token) -> Result<(), Error>;

/// Counters kept by the loop (cheap: plain integer increments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoopStats {
    /// Completed loop iterations (each is at most one `epoll_wait`).
    pub iterations: u64,
    /// Readiness events dispatched to handlers.
    pub events: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Callbacks run (`add_callback` and remote).
    pub callbacks_run: u64,
    /// Handlers and callbacks that returned `Err`.
    pub handler_errors: u64,
    /// The most recent such error.
    pub last_error: Option<Error>,
}

/// Tornado's `IOLoop`: an epoll loop with a fixed-capacity handler table, timer heap and
/// callback queue. See the [module docs](self).
///
/// The struct is large (its tables are inline, sized by [`crate::config`]); firmware keeps it in
/// a `static` — `static LOOP: static_cell::StaticCell<IoLoop<App>>` and
/// `LOOP.init_with(IoLoop::new)` place it in `.bss`, costing RAM but no flash — and tests in a
/// `Box`. [`IoLoop::new`] is `const` and makes no system call: the epoll
/// instance is created on first use.
pub struct IoLoop<C: 'static> {
    epoll: Option<OwnedFd>,
    handlers: HandlerTable<C>,
    timers: TimerHeap<C>,
    callbacks: heapless::Deque<(Callback<C>, Token), MAX_CALLBACKS>,
    remote: Option<&'static Remote<C>>,
    signal_fd: Option<OwnedFd>,
    signal_handler: Option<SignalHandler<C>>,
    running: bool,
    stop_requested: bool,
    stats: LoopStats,
}

impl<C: 'static> core::fmt::Debug for IoLoop<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IoLoop")
            .field("handlers", &self.handlers.len())
            .field("timers", &self.timers.len())
            .field("callbacks", &self.callbacks.len())
            .field("running", &self.running)
            .field("stats", &self.stats)
            .finish()
    }
}

impl<C: 'static> Default for IoLoop<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: 'static> IoLoop<C> {
    /// An empty loop. `const`, so it can initialise a `static` in place.
    pub const fn new() -> Self {
        IoLoop {
            epoll: None,
            handlers: HandlerTable::new(),
            timers: TimerHeap::new(),
            callbacks: heapless::Deque::new(),
            remote: None,
            signal_fd: None,
            signal_handler: None,
            running: false,
            stop_requested: false,
            stats: LoopStats {
                iterations: 0,
                events: 0,
                timers_fired: 0,
                callbacks_run: 0,
                handler_errors: 0,
                last_error: None,
            },
        }
    }

    /// Creates the epoll instance now (otherwise the first registration or `start` does).
    pub fn open(&mut self) -> Result<(), Error> {
        if self.epoll.is_none() {
            self.epoll = Some(epoll::create(epoll::CreateFlags::CLOEXEC)?);
        }
        Ok(())
    }

    fn epoll_fd(&mut self) -> Result<&OwnedFd, Error> {
        self.open()?;
        self.epoll
            .as_ref()
            .ok_or(Error::Io(Errno::BADF.raw_os_error()))
    }

    /// Registers `handler` for `fd` (Tornado's `add_handler(fd, handler, events)`).
    ///
    /// The table is indexed by fd number: an fd at or beyond
    /// [`MAX_HANDLERS`](crate::config::MAX_HANDLERS) is `Err(Error::HandlerTableFull)`, an fd that
    /// is already registered is `Err(Error::AlreadyRegistered)`. The caller keeps owning the fd
    /// and must call [`remove_handler`](Self::remove_handler) before closing it.
    pub fn add_handler(
        &mut self,
        fd: impl AsFd,
        handler: Handler<C>,
        token: Token,
        interest: Interest,
    ) -> Result<(), Error> {
        let fd = fd.as_fd();
        let raw = fd.as_raw_fd();
        self.open()?;
        let data = self.handlers.insert(raw, handler, token, interest)?;
        let ep = self.epoll_fd()?;
        if let Err(e) = epoll::add(
            ep,
            fd,
            epoll::EventData::new_u64(data),
            interest.epoll_flags(),
        ) {
            let _ = self.handlers.remove(raw);
            return Err(e.into());
        }
        Ok(())
    }

    /// Registers `handler` for `fd` in the handler table only, without a system call: the fd
    /// joins the epoll set at its first [`update_handler`](Self::update_handler), whatever the
    /// interest. Until then it reports nothing.
    ///
    /// For an fd the caller works on at once and may close before it ever has to wait — a
    /// freshly accepted connection whose request is already there, answered and closed in one
    /// go, then costs no `epoll_ctl` at all. Closing it before that needs
    /// [`forget_handler`](Self::forget_handler) (or `remove_handler`), as for any handler.
    /// Errors as for [`add_handler`](Self::add_handler).
    pub fn reserve_handler(
        &mut self,
        fd: impl AsFd,
        handler: Handler<C>,
        token: Token,
    ) -> Result<(), Error> {
        let raw = fd.as_fd().as_raw_fd();
        self.handlers
            .insert(raw, handler, token, Interest::UNARMED)
            .map(drop)
    }

    /// Changes what `fd`'s handler is told about (Tornado's `update_handler`). Setting the
    /// interest it already has makes no system call. For an fd registered with
    /// [`reserve_handler`](Self::reserve_handler), the first call adds it to the epoll set.
    pub fn update_handler(&mut self, fd: impl AsFd, interest: Interest) -> Result<(), Error> {
        let fd = fd.as_fd();
        let raw = fd.as_raw_fd();
        let current = self.handlers.get_mut(raw)?.interest;
        if current == interest {
            return Ok(());
        }
        let data = epoll::EventData::new_u64(self.handlers.data_of(raw));
        let ep = self.epoll_fd()?;
        if current == Interest::UNARMED {
            epoll::add(ep, fd, data, interest.epoll_flags())?;
        } else {
            epoll::modify(ep, fd, data, interest.epoll_flags())?;
        }
        // Recorded only once the kernel has it, so a failed call can simply be retried.
        self.handlers.get_mut(raw)?.interest = interest;
        Ok(())
    }

    /// Unregisters `fd` (Tornado's `remove_handler`). Events already taken from the kernel for
    /// it in this iteration are dropped, even if the fd number is reused at once.
    pub fn remove_handler(&mut self, fd: impl AsFd) -> Result<(), Error> {
        let fd = fd.as_fd();
        let armed = self.handlers.get_mut(fd.as_raw_fd())?.interest != Interest::UNARMED;
        self.handlers.remove(fd.as_raw_fd())?;
        if let (true, Some(ep)) = (armed, self.epoll.as_ref()) {
            // The entry is gone from our table whatever the kernel says; closing the fd would
            // remove it from the epoll set anyway.
            let _ = epoll::delete(ep, fd);
        }
        Ok(())
    }

    /// Unregisters `fd` that the caller is about to close, without a system call: closing the
    /// last descriptor of a socket removes it from the epoll set. Only for fds that have no
    /// duplicate (no `dup`, not shared with a child); otherwise use
    /// [`remove_handler`](Self::remove_handler).
    pub fn forget_handler(&mut self, fd: impl AsFd) -> Result<(), Error> {
        self.handlers.remove(fd.as_fd().as_raw_fd())
    }

    /// The interest currently registered for `fd` (`NONE` for a reserved fd not yet in the
    /// epoll set).
    pub fn interest(&mut self, fd: impl AsFd) -> Result<Interest, Error> {
        let i = self.handlers.get_mut(fd.as_fd().as_raw_fd())?.interest;
        Ok(if i == Interest::UNARMED {
            Interest::NONE
        } else {
            i
        })
    }

    /// Runs `callback` on the next iteration (Tornado's `add_callback`). Callbacks added while
    /// callbacks run wait for the following iteration, so a callback that re-adds itself cannot
    /// starve I/O. A full queue is `Err(Error::CallbackQueueFull)`.
    pub fn add_callback(&mut self, callback: Callback<C>, token: Token) -> Result<(), Error> {
        self.callbacks
            .push_back((callback, token))
            .map_err(|_| Error::CallbackQueueFull)
    }

    /// Runs `callback` after `delay` (Tornado's `call_later`); never earlier.
    pub fn call_later(
        &mut self,
        delay: Duration,
        callback: Callback<C>,
        token: Token,
    ) -> Result<TimeoutId, Error> {
        self.call_at(Instant::now() + delay, callback, token)
    }

    /// Runs `callback` at `when` on the monotonic clock (Tornado's `call_at`).
    pub fn call_at(
        &mut self,
        when: Instant,
        callback: Callback<C>,
        token: Token,
    ) -> Result<TimeoutId, Error> {
        self.timers.insert(when, Duration::ZERO, callback, token)
    }

    /// Runs `callback` every `period`, first at `first` (used by [`PeriodicCallback`]).
    pub fn call_every(
        &mut self,
        first: Instant,
        period: Duration,
        callback: Callback<C>,
        token: Token,
    ) -> Result<TimeoutId, Error> {
        let period = if period.is_zero() {
            Duration::from_nanos(1)
        } else {
            period
        };
        self.timers.insert(first, period, callback, token)
    }

    /// Cancels a pending timeout (Tornado's `remove_timeout`). Returns whether it was still
    /// pending; cancelling one that already ran (or was cancelled) does nothing.
    pub fn remove_timeout(&mut self, id: TimeoutId) -> bool {
        self.timers.remove(id)
    }

    /// The loop's clock (Tornado's `IOLoop.time()`): the monotonic clock.
    pub fn time(&self) -> Instant {
        Instant::now()
    }

    /// Attaches a [`Remote`] so other threads can queue callbacks and wake the loop.
    pub fn set_remote(&mut self, remote: &'static Remote<C>) -> Result<(), Error> {
        self.add_handler(remote.fd(), remote_ready::<C>, Token(0), Interest::READ)?;
        self.remote = Some(remote);
        Ok(())
    }

    /// Delivers `signals` to `handler` on the loop (through a signalfd) instead of the default
    /// action. Call this before spawning threads: the signals are blocked in the calling thread
    /// and threads inherit that mask.
    pub fn handle_signals(
        &mut self,
        signals: &[Signal],
        handler: SignalHandler<C>,
    ) -> Result<(), Error> {
        let fd = signals::open_signalfd(signals)?;
        self.add_handler(&fd, signal_ready::<C>, Token(0), Interest::READ)?;
        self.signal_fd = Some(fd);
        self.signal_handler = Some(handler);
        Ok(())
    }

    /// Runs the loop until [`stop`](Self::stop) (Tornado's `IOLoop.start`). Returns `Err` only
    /// if epoll itself fails. If `stop` was called before `start`, `start` returns at once (as
    /// in Tornado).
    pub fn start(&mut self, ctx: &mut C) -> Result<(), Error> {
        self.open()?;
        if core::mem::take(&mut self.stop_requested) {
            return Ok(());
        }
        self.running = true;
        while self.running {
            self.run_once(ctx, None)?;
        }
        self.stop_requested = false;
        Ok(())
    }

    /// Makes [`start`](Self::start) return after the current iteration (Tornado's `stop`); if
    /// the loop is not running, the next `start` returns at once. From another thread, use
    /// [`Remote::stop`].
    pub fn stop(&mut self) {
        self.running = false;
        self.stop_requested = true;
    }

    /// Whether [`start`](Self::start) is running.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The loop's counters.
    pub fn stats(&self) -> LoopStats {
        self.stats
    }

    /// Registered handlers.
    pub fn handler_count(&self) -> usize {
        self.handlers.len()
    }

    /// Scheduled timers (periodic ones included).
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// One iteration: queued callbacks, one `epoll_wait` (at most `max_wait`, or until the next
    /// timer), the ready handlers, the due timers. Useful to drive the loop from tests or from
    /// an outer scheduler. Outside [`start`](Self::start), `max_wait: None` does not block (the
    /// wait is zero): pass `Some(limit)` to wait for events or the next timer.
    pub fn run_once(&mut self, ctx: &mut C, max_wait: Option<Duration>) -> Result<(), Error> {
        let queued = self.callbacks.len();
        for _ in 0..queued {
            let Some((cb, token)) = self.callbacks.pop_front() else {
                break;
            };
            self.stats.callbacks_run += 1;
            let r = cb(ctx, self, token);
            self.report(r);
        }

        let mut wait = if !self.callbacks.is_empty() || (!self.running && max_wait.is_none()) {
            Some(Duration::ZERO)
        } else {
            self.timers
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
        if let Some(m) = max_wait {
            wait = Some(wait.map_or(m, |w| w.min(m)));
        }
        let wait = wait.map(|d| d.min(MAX_WAIT));
        let timeout = wait.map(|d| rustix::time::Timespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(d.subsec_nanos()),
        });

        // Left uninitialised: the kernel fills the first `n` and only those are read. Zeroing
        // the whole array (3 KiB at the default) cost ~3,000 instructions per iteration, more
        // than parsing a request.
        let mut events = [const { MaybeUninit::<epoll::Event>::uninit() }; EVENTS_PER_WAIT];
        let ready: &[epoll::Event] = {
            let ep = self.epoll_fd()?;
            match epoll::wait(ep, &mut events[..], timeout.as_ref()) {
                Ok((ready, _)) => ready,
                // A signal interrupted the wait: carry on with timers and the next iteration.
                Err(Errno::INTR) => &[],
                Err(e) => return Err(e.into()),
            }
        };

        for ev in ready {
            let data = ev.data.u64();
            let flags = ev.flags;
            if let Some((handler, token)) = self.handlers.lookup(data) {
                self.stats.events += 1;
                let r = handler(ctx, self, token, Ready::from_bits(flags.bits()));
                self.report(r);
            }
        }

        let now = Instant::now();
        let mut budget = self.timers.len();
        while budget > 0 {
            budget -= 1;
            let Some((cb, token)) = self.timers.pop_due(now) else {
                break;
            };
            self.stats.timers_fired += 1;
            let r = cb(ctx, self, token);
            self.report(r);
        }
        self.stats.iterations += 1;
        Ok(())
    }

    /// Logs and counts a failed handler or callback, as the loop does for those it calls.
    #[inline]
    pub(crate) fn report(&mut self, r: Result<(), Error>) {
        if let Err(e) = r {
            self.stats.handler_errors += 1;
            self.stats.last_error = Some(e);
            fmt::warning!("ioloop: handler failed: {}", e);
        }
    }
}

fn remote_ready<C: 'static>(
    ctx: &mut C,
    lp: &mut IoLoop<C>,
    _: Token,
    _: Ready,
) -> Result<(), Error> {
    let Some(remote) = lp.remote else {
        return Ok(());
    };
    remote.clear_wakeup();
    // At most one queue's worth per wake-up, so a fast producer (or a callback that re-queues
    // itself) cannot keep the loop from its I/O and timers; later arrivals wait an iteration.
    for _ in 0..MAX_REMOTE_CALLBACKS {
        let Some((cb, token)) = remote.drain() else {
            return Ok(());
        };
        lp.stats.callbacks_run += 1;
        let r = cb(ctx, lp, token);
        lp.report(r);
    }
    remote.wake(); // more may be queued: look again next iteration
    Ok(())
}

fn signal_ready<C: 'static>(
    ctx: &mut C,
    lp: &mut IoLoop<C>,
    _: Token,
    _: Ready,
) -> Result<(), Error> {
    let mut buf = [0u8; signals::SIGINFO_SIZE * 4];
    loop {
        let n = {
            let Some(fd) = lp.signal_fd.as_ref() else {
                return Ok(());
            };
            match rustix::io::read(fd, &mut buf) {
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        };
        for rec in buf[..n].chunks_exact(signals::SIGINFO_SIZE) {
            let sig = signals::signo(rec).and_then(Signal::from_number);
            if let (Some(sig), Some(h)) = (sig, lp.signal_handler) {
                let r = h(ctx, lp, sig);
                lp.report(r);
            }
        }
        if n < buf.len() {
            return Ok(());
        }
    }
}
