//! Accepting TCP connections into a fixed table of slots (Tornado's `tornado.tcpserver`).
//!
//! A [`TcpServer`] owns a listening socket, a `'static` table of connection [`Slot`]s and a
//! `'static` [`BufferPool`]. What happens on a connection is a [`Protocol`]: a type with plain
//! functions the server calls with the application context. The server does the rest:
//!
//! - accepts with `accept4` in a loop until `EAGAIN` (at most [`ACCEPT_BATCH`] per wake-up, so a
//!   flood cannot starve established connections), non-blocking and close-on-exec, with
//!   `TCP_NODELAY` inherited from the listener;
//! - with [`TcpServer::set_defer_accept`] (client-first protocols; the HTTP server turns it on),
//!   lets the kernel hold each connection until its client has sent something, serves it right
//!   after `accept`, and adds it to the epoll set only if it then has to wait: a request
//!   answered with `Connection: close` costs `accept4`, `recv`, `send` and `close`, with no
//!   wake-up of its own and no `epoll_ctl`;
//! - when every slot is busy, switches the listener's interest off (no busy loop; the kernel
//!   backlog holds newcomers) and back on when a slot frees;
//! - on `EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM` at accept — the classic trap where the listener
//!   stays readable forever — switches the listener off for [`ACCEPT_BACKOFF_MS`] or until a
//!   connection closes, so waiting clients cost no CPU;
//! - on every event, lends the stream its buffers (or parks it when the pool is empty, with its
//!   interest off, until buffers come back), calls [`Protocol::on_ready`], flushes, updates the
//!   epoll interest, returns idle buffers and closes finished connections.

mod conn;
mod events;

use core::net::SocketAddr;

use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use conn::SlotTable;
pub use conn::{ConnId, Connection, Slot};
use events::{accept_ready, finish, resume};

use crate::config::{LISTEN_BACKLOG, parse_or};
use crate::fmt;
use crate::ioloop::{Error, Interest, IoLoop, Ready, TimeoutId, Token};
use crate::iostream::BufferPool;

/// Connections accepted per listener wake-up before other events get their turn (each also
/// served at once when accepting is deferred).
///
/// Default 64. Set with `EDGELOOP_ACCEPT_BATCH`.
pub const ACCEPT_BATCH: usize = parse_or(option_env!("EDGELOOP_ACCEPT_BATCH"), 64);

/// How long accepting pauses after `EMFILE`/`ENFILE` (unless a connection closes first).
///
/// Default 100 ms. Set with `EDGELOOP_ACCEPT_BACKOFF_MS`.
pub const ACCEPT_BACKOFF_MS: usize = parse_or(option_env!("EDGELOOP_ACCEPT_BACKOFF_MS"), 100);

/// How long the kernel holds a connection whose client has sent nothing yet, when
/// [`TcpServer::set_defer_accept`] is on (`TCP_DEFER_ACCEPT`): a client that stays silent this
/// long is handed over anyway (the kernel rounds up to its SYN-ACK retransmission schedule).
///
/// Default 1 s. Set with `EDGELOOP_DEFER_ACCEPT_SECS`.
pub const DEFER_ACCEPT_SECS: usize = parse_or(option_env!("EDGELOOP_DEFER_ACCEPT_SECS"), 1);

const NIL: u32 = u32::MAX;

/// What a server does with its connections: plain functions called with the application context.
///
/// `Ctx` is the loop's context type; [`server`](Self::server) tells the server's generic
/// handlers where the server lives inside it.
pub trait Protocol: Sized + 'static {
    /// The application context the loop runs with.
    type Ctx: 'static;
    /// Per-connection state, created with `Default` when a connection is accepted.
    type Conn: Default + 'static;

    /// The server inside the context.
    fn server(ctx: &mut Self::Ctx) -> &mut TcpServer<Self>;

    /// A connection was accepted into slot `id`.
    fn on_connect(
        _ctx: &mut Self::Ctx,
        _lp: &mut IoLoop<Self::Ctx>,
        _id: ConnId,
    ) -> Result<(), Error> {
        Ok(())
    }

    /// The connection has something to do: bytes arrived (or end of stream), or pending output
    /// drained. The stream holds its buffers during this call. Returning `Err` closes the
    /// connection at once (and the loop logs the error).
    fn on_ready(
        ctx: &mut Self::Ctx,
        lp: &mut IoLoop<Self::Ctx>,
        id: ConnId,
        ready: Ready,
    ) -> Result<(), Error>;

    /// Every slot is busy and a client is waiting (already accepted, when
    /// [`REJECT_RESPONSE`](Self::REJECT_RESPONSE) is set). Free a slot — close an idle
    /// connection — and return `true` to serve it; `false` rejects it (or leaves it in the
    /// backlog).
    fn on_slots_full(_ctx: &mut Self::Ctx, _lp: &mut IoLoop<Self::Ctx>) -> bool {
        false
    }

    /// The buffer pool is dry and connection `needy` waits for buffers. Free some (close a
    /// connection that holds buffers without making progress) and return `true` to serve it
    /// now; `false` parks it until buffers come back.
    fn on_pool_dry(_ctx: &mut Self::Ctx, _lp: &mut IoLoop<Self::Ctx>, _needy: ConnId) -> bool {
        false
    }

    /// With every slot busy and none freed: `Some(bytes)` accepts the waiting client, sends it
    /// these bytes (best effort, non-blocking) and closes it — an HTTP server's `503`. `None`
    /// (the default) stops accepting until a slot frees; the kernel backlog holds the clients.
    const REJECT_RESPONSE: Option<&'static [u8]> = None;

    /// The connection is closing (Tornado's close callback); its slot is freed right after.
    fn on_close(_ctx: &mut Self::Ctx, _lp: &mut IoLoop<Self::Ctx>, _id: ConnId) {}
}

/// Why accepting is switched off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pause {
    No,
    SlotsFull,
    Backoff(TimeoutId),
    Stopped,
}

/// Counters kept by a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections closed.
    pub closed: u64,
    /// Connections open now.
    pub active: usize,
    /// Connections waiting for buffers now.
    pub parked: usize,
    /// Times a connection had to wait for buffers.
    pub parks: u64,
    /// Times accepting paused because every slot was busy.
    pub slot_pauses: u64,
    /// `accept` failures for lack of descriptors or memory (`EMFILE`, `ENFILE`, ...).
    pub accept_errors: u64,
    /// Accepted connections closed at once: no room in the handler table, or every slot busy
    /// (after [`Protocol::REJECT_RESPONSE`] was sent).
    pub rejected: u64,
    /// Bytes sent on closed connections ([`TcpServer::byte_totals`] adds the open ones).
    pub bytes_sent: u64,
    /// Bytes received on closed connections.
    pub bytes_received: u64,
}

/// Tornado's `TCPServer`: a listener and a fixed table of connections. See the
/// [module docs](self).
pub struct TcpServer<P: Protocol> {
    listener: Option<OwnedFd>,
    slots: SlotTable<P::Conn>,
    pool: &'static BufferPool,
    free_head: u32,
    pause: Pause,
    park_cursor: usize,
    nodelay: bool,
    reuse_port: bool,
    defer_accept: bool,
    stats: ServerStats,
}

impl<P: Protocol> core::fmt::Debug for TcpServer<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TcpServer")
            .field("slots", &self.slots.capacity())
            .field("pause", &self.pause)
            .field("stats", &self.stats)
            .finish()
    }
}

impl<P: Protocol> TcpServer<P> {
    /// A server over `slots` (its maximum number of connections) and `pool`.
    pub fn new(slots: &'static mut [Slot<P::Conn>], pool: &'static BufferPool) -> Self {
        let n = slots.len();
        for (i, s) in slots.iter_mut().enumerate() {
            s.conn = None;
            s.parked = false;
            s.next_free = if i + 1 < n { (i + 1) as u32 } else { NIL };
        }
        Self::with_table(SlotTable::Fixed(slots), if n > 0 { 0 } else { NIL }, pool)
    }

    /// A server whose slots are created as connections first need them, in an empty
    /// `heapless::Vec` (its capacity is the most connections open at once). In a zeroed
    /// `static` — `static_cell::ConstStaticCell::new(heapless::Vec::new())` — the table costs no
    /// resident memory until connections arrive, and a slot is written only when first used:
    /// the way to keep a large connection table from inflating an idle firmware's RSS.
    pub fn new_lazy(
        slots: &'static mut heapless::vec::VecView<Slot<P::Conn>>,
        pool: &'static BufferPool,
    ) -> Self {
        slots.clear();
        Self::with_table(SlotTable::Lazy(slots), NIL, pool)
    }

    fn with_table(slots: SlotTable<P::Conn>, free_head: u32, pool: &'static BufferPool) -> Self {
        TcpServer {
            listener: None,
            slots,
            pool,
            free_head,
            pause: Pause::No,
            park_cursor: 0,
            nodelay: true,
            reuse_port: false,
            defer_accept: false,
            stats: ServerStats::default(),
        }
    }

    /// Sets `TCP_NODELAY` on accepted sockets (default on: responses are written whole, so
    /// Nagle's algorithm only adds latency). It is set on the listener, from which Linux copies
    /// it to every accepted socket: no system call per connection.
    pub fn set_nodelay(&mut self, on: bool) {
        self.nodelay = on;
        if let Some(fd) = self.listener.as_ref() {
            let _ = rustix::net::sockopt::set_tcp_nodelay(fd, on);
        }
    }

    /// Hands connections over only once the client has sent something (`TCP_DEFER_ACCEPT`,
    /// for [`DEFER_ACCEPT_SECS`] at most), and serves each one as soon as it is accepted,
    /// before the next `epoll_wait`. Default off: a protocol where the server speaks first must
    /// leave it off. For client-first protocols such as HTTP it saves a wake-up and a loop
    /// iteration per connection, and a connection answered and finished at once (HTTP
    /// `Connection: close`) never enters the epoll set. Takes effect at [`listen`](Self::listen).
    pub fn set_defer_accept(&mut self, on: bool) {
        self.defer_accept = on;
    }

    /// Sets `SO_REUSEPORT` on the listener (default off), for several processes on one port.
    pub fn set_reuse_port(&mut self, on: bool) {
        self.reuse_port = on;
    }

    /// Binds and listens on `addr` (`SO_REUSEADDR`, backlog [`LISTEN_BACKLOG`], and
    /// `TCP_NODELAY` and `TCP_DEFER_ACCEPT` as set) and registers the listener with the loop.
    /// Port 0 picks a free port: the bound address is returned.
    pub fn listen(
        &mut self,
        lp: &mut IoLoop<P::Ctx>,
        addr: SocketAddr,
    ) -> Result<SocketAddr, Error> {
        let family = match addr {
            SocketAddr::V4(_) => AddressFamily::INET,
            SocketAddr::V6(_) => AddressFamily::INET6,
        };
        let fd = rustix::net::socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
        if self.reuse_port {
            rustix::net::sockopt::set_socket_reuseport(&fd, true)?;
        }
        // Both are optimisations: a kernel (or emulator) that refuses them costs nothing else.
        if self.nodelay {
            let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
        }
        if self.defer_accept && events::set_defer_accept(&fd, DEFER_ACCEPT_SECS).is_err() {
            fmt::warning!("tcpserver: TCP_DEFER_ACCEPT refused; accepting without it");
            self.defer_accept = false;
        }
        rustix::net::bind(&fd, &addr)?;
        let backlog = i32::try_from(LISTEN_BACKLOG).unwrap_or(i32::MAX);
        rustix::net::listen(&fd, backlog)?;
        let local = rustix::net::getsockname(&fd)?;
        let local = SocketAddr::try_from(local)
            .map_err(|_| Error::Io(Errno::AFNOSUPPORT.raw_os_error()))?;
        lp.add_handler(&fd, accept_ready::<P>, Token(0), Interest::READ)?;
        self.listener = Some(fd);
        self.pause = Pause::No;
        fmt::info!("tcpserver: listening, {} slots", self.slots.capacity());
        Ok(local)
    }

    /// Stops accepting and closes the listener; open connections carry on.
    pub fn stop_listening(&mut self, lp: &mut IoLoop<P::Ctx>) {
        if let Pause::Backoff(id) = self.pause {
            lp.remove_timeout(id);
        }
        if let Some(fd) = self.listener.take() {
            let _ = lp.remove_handler(&fd);
        }
        self.pause = Pause::Stopped;
    }

    /// Whether the listener is open.
    pub fn is_listening(&self) -> bool {
        self.listener.is_some()
    }

    /// The connection in slot `id`, if it is still that connection.
    pub fn conn(&mut self, id: ConnId) -> Option<&mut Connection<P::Conn>> {
        let s = self.slots.get_mut(id.index())?;
        if s.generation != id.generation() {
            return None;
        }
        s.conn.as_mut()
    }

    /// Ids of all open connections, for broadcasting (call `f` for each).
    pub fn for_each_conn(&mut self, mut f: impl FnMut(ConnId, &mut Connection<P::Conn>)) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            let generation = s.generation;
            if let Some(c) = s.conn.as_mut() {
                f(ConnId::new(i, generation), c);
            }
        }
    }

    /// The server's counters.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// Bytes received and sent since start, over closed and open connections (walks the open
    /// ones: meant for a once-a-second status, not the hot path).
    pub fn byte_totals(&self) -> (u64, u64) {
        let (mut rx, mut tx) = (self.stats.bytes_received, self.stats.bytes_sent);
        for c in self.slots.iter().filter_map(|s| s.conn.as_ref()) {
            rx = rx.saturating_add(c.stream.bytes_received());
            tx = tx.saturating_add(c.stream.bytes_sent());
        }
        (rx, tx)
    }

    /// Connection slots (the most connections open at once).
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Whether a slot is free for a new connection (growing a lazy table if needed).
    fn has_free_slot(&mut self) -> bool {
        if self.free_head == NIL {
            if let Some(i) = self.slots.grow() {
                self.slots[i].next_free = NIL;
                self.free_head = i as u32;
            }
        }
        self.free_head != NIL
    }

    /// The buffer pool.
    pub fn pool(&self) -> &'static BufferPool {
        self.pool
    }

    /// After writing to connection `id` outside [`Protocol::on_ready`] (from a timer, say):
    /// flushes, updates its epoll interest, and closes it if it is finished.
    pub fn update(ctx: &mut P::Ctx, lp: &mut IoLoop<P::Ctx>, id: ConnId) -> Result<(), Error> {
        finish::<P>(ctx, lp, id, Ok(()))
    }

    /// Closes connection `id` now (pending output is discarded), running [`Protocol::on_close`].
    pub fn close(ctx: &mut P::Ctx, lp: &mut IoLoop<P::Ctx>, id: ConnId) {
        if let Some(c) = P::server(ctx).conn(id) {
            c.stream.abort();
            let _ = finish::<P>(ctx, lp, id, Ok(()));
        }
    }

    fn pause_accepting(&mut self, lp: &mut IoLoop<P::Ctx>, why: Pause) {
        if let Some(fd) = self.listener.as_ref() {
            let _ = lp.update_handler(fd, Interest::NONE);
        }
        self.pause = why;
    }

    fn resume_accepting(&mut self, lp: &mut IoLoop<P::Ctx>) {
        match self.pause {
            Pause::No | Pause::Stopped => return,
            Pause::Backoff(id) => {
                lp.remove_timeout(id);
            }
            Pause::SlotsFull => {}
        }
        if let Some(fd) = self.listener.as_ref() {
            let _ = lp.update_handler(fd, Interest::READ);
        }
        self.pause = Pause::No;
    }

    /// Parks connection `id` until the pool can lend it buffers (its reads stop meanwhile; the
    /// protocol is called again once it has them).
    pub fn park(&mut self, lp: &mut IoLoop<P::Ctx>, id: ConnId) {
        let Some(slot) = self.slots.get_mut(id.index()) else {
            return;
        };
        if slot.parked {
            return;
        }
        if let Some(c) = slot.conn.as_ref() {
            // A parked stream reads nothing, but output it already holds must still drain (and
            // give its buffer back), or streams parked with output could hold the whole pool.
            let want = if c.stream.is_writing() {
                Interest::WRITE
            } else {
                Interest::NONE
            };
            let _ = lp.update_handler(c.stream.fd(), want);
            slot.parked = true;
            self.stats.parked += 1;
            self.stats.parks += 1;
        }
    }

    /// Wakes parked connections while the pool has buffers for them.
    fn unpark(&mut self, lp: &mut IoLoop<P::Ctx>) {
        let n = self.slots.len();
        let mut scanned = 0;
        while self.stats.parked > 0 && self.pool.available() >= 2 && scanned < n {
            let i = self.park_cursor;
            self.park_cursor = if i + 1 < n { i + 1 } else { 0 };
            scanned += 1;
            let slot = &mut self.slots[i];
            if !slot.parked {
                continue;
            }
            slot.parked = false;
            self.stats.parked -= 1;
            if let Some(c) = slot.conn.as_mut() {
                if c.stream.acquire_buffers(self.pool) {
                    // Bytes still in the socket raise EPOLLIN again (level-triggered), but bytes
                    // already buffered would not: run the protocol for it on the next iteration.
                    let _ = lp.update_handler(c.stream.fd(), c.stream.desired_interest());
                    let id = ConnId::new(i, slot.generation);
                    let _ = lp.add_callback(resume::<P>, id.token());
                }
            }
        }
    }

    fn release(&mut self, lp: &mut IoLoop<P::Ctx>, id: ConnId) {
        let free_head = self.free_head;
        let Some(slot) = self.slots.get_mut(id.index()) else {
            return;
        };
        let Some(conn) = slot.conn.take() else {
            return;
        };
        // The socket is closed just below and was never duplicated: closing it takes it out of
        // the epoll set, so only the table entry goes (one system call less per connection).
        let _ = lp.forget_handler(conn.stream.fd());
        if slot.parked {
            slot.parked = false;
            self.stats.parked -= 1;
        }
        slot.generation = slot.generation.wrapping_add(1);
        slot.next_free = free_head;
        self.free_head = id.index() as u32;
        self.stats.closed += 1;
        self.stats.active -= 1;
        self.stats.bytes_sent = self
            .stats
            .bytes_sent
            .saturating_add(conn.stream.bytes_sent());
        self.stats.bytes_received =
            (self.stats.bytes_received).saturating_add(conn.stream.bytes_received());
        let mut conn = conn;
        conn.stream.release_all_buffers(self.pool);
        drop(conn); // socket closed
        self.resume_accepting(lp);
        self.unpark(lp);
    }
}
