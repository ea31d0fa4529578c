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
