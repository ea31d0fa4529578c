//! Connection slots and their ids.

use core::net::SocketAddr;

use crate::ioloop::Token;
use crate::iostream::IoStream;

/// Identifies a connection slot and its current occupant. A `ConnId` kept past the connection's
/// close (in a timer token, say) no longer resolves: the slot's generation has moved on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnId {
    index: u32,
    generation: u32,
}

impl ConnId {
    /// The slot index.
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// Packs the id into a loop [`Token`].
    pub fn token(self) -> Token {
        Token(((self.generation as u64) << 32) | self.index as u64)
    }

    /// Unpacks an id packed with [`token`](Self::token).
    pub fn from_token(t: Token) -> ConnId {
        ConnId {
            index: (t.0 & 0xffff_ffff) as u32,
            generation: (t.0 >> 32) as u32,
        }
    }

    pub(crate) fn generation(self) -> u32 {
        self.generation
    }

    pub(crate) fn new(index: usize, generation: u32) -> ConnId {
        ConnId {
            index: index as u32,
            generation,
        }
    }
}

/// A live connection: its stream, the protocol's per-connection state and the peer address.
#[derive(Debug)]
pub struct Connection<S> {
    /// The buffered socket.
    pub stream: IoStream,
    /// The protocol's state for this connection.
    pub state: S,
    /// The peer's address, when the kernel reported one.
    pub peer: Option<SocketAddr>,
}

/// One entry of a server's fixed connection table. Build the table as a `static` with
/// `[const { Slot::new() }; N]`.
#[derive(Debug)]
pub struct Slot<S> {
    pub(crate) conn: Option<Connection<S>>,
    pub(crate) generation: u32,
    pub(crate) next_free: u32,
    pub(crate) parked: bool,
}

impl<S> Slot<S> {
    /// An empty slot.
    pub const fn new() -> Self {
        Slot {
            conn: None,
            generation: 0,
            next_free: 0,
            parked: false,
        }
    }
}

impl<S> Default for Slot<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// A server's connection table: a fixed slice of ready slots, or a `heapless::Vec` that grows
/// one slot at a time as connections first need them (slots never used are never written, so a
/// large table in `.bss` costs no resident memory until it fills). Derefs to the slots in use.
pub(crate) enum SlotTable<S: 'static> {
    Fixed(&'static mut [Slot<S>]),
    Lazy(&'static mut heapless::vec::VecView<Slot<S>>),
}

impl<S> SlotTable<S> {
    /// The most slots the table can hold.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            SlotTable::Fixed(s) => s.len(),
            SlotTable::Lazy(v) => v.capacity(),
        }
    }

    /// Adds a fresh slot, returning its index (a lazy table below its capacity only).
    pub(crate) fn grow(&mut self) -> Option<usize> {
        match self {
            SlotTable::Fixed(_) => None,
            SlotTable::Lazy(v) => {
                v.push(Slot::new()).ok()?;
                Some(v.len() - 1)
            }
        }
    }
}

impl<S> core::ops::Deref for SlotTable<S> {
    type Target = [Slot<S>];
    fn deref(&self) -> &[Slot<S>] {
        match self {
            SlotTable::Fixed(s) => s,
            SlotTable::Lazy(v) => v.as_slice(),
        }
    }
}

impl<S> core::ops::DerefMut for SlotTable<S> {
    fn deref_mut(&mut self) -> &mut [Slot<S>] {
        match self {
            SlotTable::Fixed(s) => s,
            SlotTable::Lazy(v) => v.as_mut_slice(),
        }
    }
}
