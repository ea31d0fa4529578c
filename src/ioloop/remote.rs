//! Queuing callbacks from other threads (Tornado's thread-safe `add_callback`).
//!
//! A [`Remote`] is a fixed-capacity lock-free queue plus an `eventfd`. Another thread pushes a
//! callback and writes to the eventfd; the loop, which watches the eventfd like any socket, wakes
//! up, drains the queue and runs the callbacks on its own thread with `&mut C`.

use super::{Callback, Error, IoLoop, Token};
use crate::config::MAX_REMOTE_CALLBACKS;
use rustix::event::{EventfdFlags, eventfd};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};

/// A handle other threads use to queue callbacks onto an [`IoLoop`] and wake it.
///
/// Create one, put it somewhere `'static` (a `static_cell::StaticCell`, or `Box::leak` in
/// std tests), attach it with [`IoLoop::set_remote`], and share `&'static Remote<C>` with other
/// threads. It is `Sync`: the queue is lock-free and the eventfd write is atomic.
pub struct Remote<C: 'static> {
    queue: heapless::mpmc::Queue<(Callback<C>, Token), MAX_REMOTE_CALLBACKS>,
    efd: OwnedFd,
}

impl<C: 'static> core::fmt::Debug for Remote<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Remote").field("efd", &self.efd).finish()
    }
}

impl<C: 'static> Remote<C> {
    /// Creates the queue and its eventfd.
    pub fn new() -> Result<Self, Error> {
        let efd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        // heapless deprecates `mpmc::Queue::new` because a producer pre-empted mid-operation
        // can make other operations fail (never block or corrupt). That is acceptable here: a
        // failed enqueue is reported as `CallbackQueueFull` for the caller to retry, and a
        // dequeue that fails early is retried on the wake-up the producer sends when it finishes.
        #[expect(deprecated)]
        let queue = heapless::mpmc::Queue::new();
        Ok(Remote { queue, efd })
    }

    /// Queues `callback(ctx, loop, token)` to run on the loop's thread and wakes the loop.
    ///
    /// Safe to call from any thread (and from a signal handler: it only does a lock-free push
    /// and a `write(2)`). A full queue is `Err(Error::CallbackQueueFull)`.
    pub fn add_callback(&self, callback: Callback<C>, token: Token) -> Result<(), Error> {
        self.queue
            .enqueue((callback, token))
            .map_err(|_| Error::CallbackQueueFull)?;
        self.wake();
        Ok(())
    }

    /// Asks the loop to stop (Tornado's `IOLoop.stop` called from another thread).
    pub fn stop(&self) -> Result<(), Error> {
        self.add_callback(stop_callback::<C>, Token(0))
    }

    pub(crate) fn wake(&self) {
        // EAGAIN only if the counter would overflow u64: the loop is already awake then.
        let _ = rustix::io::write(&self.efd, &1u64.to_ne_bytes());
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.efd.as_fd()
    }

    pub(crate) fn drain(&self) -> Option<(Callback<C>, Token)> {
        self.queue.dequeue()
    }

    pub(crate) fn clear_wakeup(&self) {
        let mut b = [0u8; 8];
        let _ = rustix::io::read(&self.efd, &mut b);
    }
}

fn stop_callback<C>(_: &mut C, lp: &mut IoLoop<C>, _: Token) -> Result<(), Error> {
    lp.stop();
    Ok(())
}
