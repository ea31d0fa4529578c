//! The handler table: which function runs when a file descriptor becomes ready.
//!
//! The table is indexed by fd number (fds are small, dense integers handed out lowest-first by
//! the kernel), so registration, lookup and removal are O(1) with no search. Each entry carries a
//! generation that is also stored in the epoll event's data: an event that was already queued for
//! an fd which has since been removed and reused is recognised as stale and dropped, instead of
//! reaching the new owner of that fd number.

use super::{Error, IoLoop};
use crate::config::MAX_HANDLERS;

/// A small copyable value given back to a handler or callback, so that one function can serve
/// many registrations (a connection slot index, a timer purpose, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Token(pub u64);

/// What a handler wants to be told about (Tornado's `IOLoop.READ` / `IOLoop.WRITE`).
///
/// Errors and hang-ups are always reported, whatever the interest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Interest(u8);

impl Interest {
    /// No readiness wanted (errors and hang-ups are still reported).
    pub const NONE: Interest = Interest(0);
    /// Readable (`EPOLLIN`).
    pub const READ: Interest = Interest(1);
    /// Writable (`EPOLLOUT`).
    pub const WRITE: Interest = Interest(2);
    /// Readable and writable.
    pub const READ_WRITE: Interest = Interest(3);
    /// In the handler table but not yet in the epoll set ([`IoLoop::reserve_handler`]): the
    /// first [`IoLoop::update_handler`] adds the fd. Never passed in by callers.
    ///
    /// [`IoLoop::reserve_handler`]: super::IoLoop::reserve_handler
    /// [`IoLoop::update_handler`]: super::IoLoop::update_handler
    pub(crate) const UNARMED: Interest = Interest(0x80);

    /// Whether readability is wanted.
    pub const fn is_read(self) -> bool {
        self.0 & 1 != 0
    }
    /// Whether writability is wanted.
    pub const fn is_write(self) -> bool {
        self.0 & 2 != 0
    }
    /// The union of two interests.
    pub const fn with(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    pub(crate) fn epoll_flags(self) -> rustix::event::epoll::EventFlags {
        use rustix::event::epoll::EventFlags;
        let mut f = EventFlags::empty();
        if self.is_read() {
            f |= EventFlags::IN;
        }
        if self.is_write() {
            f |= EventFlags::OUT;
        }
        f
    }
}

/// What the kernel reported for a file descriptor (Tornado's `events` argument to a handler).
///
/// Readiness is a hint: a readable socket may still answer `EAGAIN` (a spurious wake-up), so
/// handlers treat it as "try now", never as a promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ready(u32);

impl Ready {
    const IN: u32 = 0x001;
    const OUT: u32 = 0x004;
    const ERR: u32 = 0x008;
    const HUP: u32 = 0x010;

    /// Readiness from raw `EPOLL*` bits.
    pub const fn from_bits(bits: u32) -> Ready {
        Ready(bits)
    }
    /// Readable only.
    pub const READABLE: Ready = Ready(Self::IN);
    /// Writable only.
    pub const WRITABLE: Ready = Ready(Self::OUT);
    /// Data (or end of stream) can be read.
    pub const fn is_readable(self) -> bool {
        self.0 & Self::IN != 0
    }
    /// Data can be written.
    pub const fn is_writable(self) -> bool {
        self.0 & Self::OUT != 0
    }
    /// An error is pending on the socket (`EPOLLERR`).
    pub const fn is_error(self) -> bool {
        self.0 & Self::ERR != 0
    }
    /// Both directions are shut down or the peer reset (`EPOLLHUP`).
    pub const fn is_hup(self) -> bool {
        self.0 & Self::HUP != 0
    }
    /// The raw `EPOLL*` bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

/// A readiness handler: a plain function (no closure, no heap), given the application context,
/// the loop (to register, re-arm or cancel anything), the registration's token and what is ready.
///
/// Returning `Err` does not stop the loop: the error is logged and counted in
/// [`LoopStats::handler_errors`](super::LoopStats::handler_errors).
pub type Handler<C> = fn(&mut C, &mut IoLoop<C>, Token, Ready) -> Result<(), Error>;

pub(crate) struct Entry<C: 'static> {
    pub(crate) handler: Option<Handler<C>>,
    pub(crate) token: Token,
    pub(crate) generation: u32,
    pub(crate) interest: Interest,
}

pub(crate) struct HandlerTable<C: 'static> {
    entries: [Entry<C>; MAX_HANDLERS],
    len: usize,
}

impl<C: 'static> HandlerTable<C> {
    pub(crate) const fn new() -> Self {
        HandlerTable {
            entries: [const {
                Entry {
                    handler: None,
                    token: Token(0),
                    generation: 0,
                    interest: Interest::NONE,
                }
            }; MAX_HANDLERS],
            len: 0,
        }
    }

    /// Claims the entry for `fd`; returns the epoll data word (generation << 32 | fd).
    pub(crate) fn insert(
        &mut self,
        fd: i32,
        handler: Handler<C>,
        token: Token,
        interest: Interest,
    ) -> Result<u64, Error> {
        let idx = usize::try_from(fd).map_err(|_| Error::HandlerTableFull)?;
        let e = self.entries.get_mut(idx).ok_or(Error::HandlerTableFull)?;
        if e.handler.is_some() {
            return Err(Error::AlreadyRegistered);
        }
        e.generation = e.generation.wrapping_add(1);
        e.handler = Some(handler);
        e.token = token;
        e.interest = interest;
        self.len += 1;
        Ok(((e.generation as u64) << 32) | idx as u64)
    }

    /// Undoes an `insert` whose `epoll_ctl` failed.
    pub(crate) fn remove(&mut self, fd: i32) -> Result<(), Error> {
        let e = self.get_mut(fd)?;
        e.handler = None;
        self.len -= 1;
        Ok(())
    }

    pub(crate) fn get_mut(&mut self, fd: i32) -> Result<&mut Entry<C>, Error> {
        let idx = usize::try_from(fd).map_err(|_| Error::NotRegistered)?;
        match self.entries.get_mut(idx) {
            Some(e) if e.handler.is_some() => Ok(e),
            _ => Err(Error::NotRegistered),
        }
    }

    /// The epoll data word for a live entry (used when re-arming).
    pub(crate) fn data_of(&self, fd: i32) -> u64 {
        let idx = fd as usize;
        ((self.entries[idx].generation as u64) << 32) | idx as u64
    }

    /// Resolves an event's data word to its handler, or `None` if it is stale.
    #[inline]
    pub(crate) fn lookup(&self, data: u64) -> Option<(Handler<C>, Token)> {
        let idx = (data & 0xffff_ffff) as usize;
        let generation = (data >> 32) as u32;
        let e = self.entries.get(idx)?;
        match e.handler {
            Some(h) if e.generation == generation => Some((h, e.token)),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
