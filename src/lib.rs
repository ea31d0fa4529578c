//! # edgeloop
//!
//! Tornado's network model — an epoll loop with a handler table, buffered non-blocking streams,
//! a TCP server with connection slots, HTTP/1.1 on top — rebuilt as a `#![no_std]`,
//! allocation-free library for ARM Linux edge devices (Raspberry Pi-class and Cortex-A7 boards).
//! One thread, one epoll instance, every socket non-blocking, every byte of memory reserved at
//! compile time.
//!
//! ## The Tornado map
//!
//! | Tornado (Python) | edgeloop |
//! |---|---|
//! | `ioloop.IOLoop` | [`ioloop::IoLoop`] — epoll via `rustix`, level-triggered |
//! | `add_handler` / `update_handler` / `remove_handler` | same names, on a fixed table indexed by fd |
//! | `add_callback`, `call_later`, `call_at`, `remove_timeout` | same names, on a fixed callback queue and timer heap |
//! | `PeriodicCallback` | [`ioloop::PeriodicCallback`] (skips missed runs, like Tornado) |
//! | thread-safe `add_callback`, `stop` from another thread | [`ioloop::Remote`] (eventfd waker) |
//! | `signal` handlers | [`IoLoop::handle_signals`](ioloop::IoLoop::handle_signals) (signalfd) |
//! | `iostream.IOStream` | [`iostream::IoStream`] — buffers lent by a [`iostream::BufferPool`] |
//! | `read_until`, `read_bytes`, `read_until_close`, `write` | same names (poll-style: `Ok(None)` = not yet) |
//! | `StreamClosedError`, `UnsatisfiableReadError` | [`iostream::StreamError::Closed`], [`iostream::StreamError::Unsatisfiable`] |
//! | `set_close_callback` | [`tcpserver::Protocol::on_close`] |
//! | `tcpserver.TCPServer` | [`tcpserver::TcpServer`] with a [`tcpserver::Protocol`] |
//! | `httputil`, `http1connection` parsing | [`http`] — strict HTTP/1.1 framing on `httparse` |
//!
//! Tornado stores closures; a `no_std` loop cannot box them. Handlers here are plain `fn`
//! pointers plus a small copyable [`ioloop::Token`]. The loop is generic over the application's
//! context type `C` and passes `&mut C` and `&mut IoLoop<C>` into every call, so a handler can
//! register, re-arm or cancel anything without shared mutable state, `RefCell` or `dyn`.
//!
//! ## Hello, echo
//!
//! Tornado's TCP echo server:
//!
//! ```python
//! class EchoServer(TCPServer):
//!     async def handle_stream(self, stream, address):
//!         while True:
//!             data = await stream.read_bytes(4096, partial=True)
//!             await stream.write(data)
//! EchoServer().listen(7007); IOLoop.current().start()
//! ```
//!
//! Its edgeloop twin (the whole firmware-style program is `examples/echo.rs`):
//!
//! ```no_run
//! use edgeloop::ioloop::{Error, IoLoop, Ready};
//! use edgeloop::iostream::{BufferPool, StreamError};
//! use edgeloop::tcpserver::{ConnId, Protocol, Slot, TcpServer};
//!
//! struct App { server: TcpServer<Echo> }
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     type Ctx = App;
//!     type Conn = ();
//!     fn server(app: &mut App) -> &mut TcpServer<Echo> { &mut app.server }
//!     fn on_ready(app: &mut App, _: &mut IoLoop<App>, id: ConnId, _: Ready) -> Result<(), Error> {
//!         let Some(conn) = app.server.conn(id) else { return Ok(()) };
//!         let (mut rd, mut wr) = conn.stream.split();
//!         while wr.room() > 0 {
//!             match rd.read_bytes(wr.room(), true) {
//!                 Ok(Some(data)) => wr.write(data)?,
//!                 Ok(None) | Err(StreamError::Closed) => break,
//!                 Err(e) => return Err(e.into()),
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! static LOOP: static_cell::StaticCell<IoLoop<App>> = static_cell::StaticCell::new();
//! static SLOTS: static_cell::StaticCell<[Slot<()>; 64]> = static_cell::StaticCell::new();
//! static REGION: static_cell::ConstStaticCell<[u8; 32 * 4096]> =
//!     static_cell::ConstStaticCell::new([0; 32 * 4096]);
//! static POOL: static_cell::StaticCell<BufferPool> = static_cell::StaticCell::new();
//!
//! let lp = LOOP.init_with(IoLoop::new);
//! let pool = POOL.init(BufferPool::new(REGION.take(), 4096).unwrap());
//! let slots = SLOTS.init_with(|| [const { Slot::new() }; 64]);
//! let mut app = App { server: TcpServer::new(slots, pool) };
//! app.server.listen(lp, "0.0.0.0:7007".parse().unwrap()).unwrap();
//! lp.start(&mut app).unwrap();
//! ```
//!
//! ## The memory model
//!
//! - No `alloc` anywhere: all storage is in `static`s or on the stack, sized by build-time
//!   constants ([`config`]) that a board overrides from its `boards/<board>.toml` `[env]` table.
//!   A firmware binary links no allocator.
//! - The worst case is a formula: `MAX_HANDLERS × 24 B` (handler table) `+ MAX_TIMERS × 56 B`
//!   (timer heap) `+ MAX_CALLBACKS × 24 B` `+ connections × size_of::<Slot<S>>()`
//!   `+ buffers × buffer size`. Nothing grows at run time.
//! - Idle connections cost almost nothing: a slot keeps only its socket, offsets and flags
//!   (about a hundred bytes) and borrows a read and a write buffer from the fixed pool only while
//!   it has bytes in flight. When the pool is empty the connection is parked — its `EPOLLIN` is
//!   switched off — until buffers come back.
//! - Full tables are ordinary errors ([`ioloop::Error::HandlerTableFull`],
//!   [`ioloop::Error::TimerHeapFull`], ...); a server whose slots are all busy stops accepting
//!   and lets the kernel backlog hold newcomers. Nothing panics, nothing grows.
//!
//! ## Layers
//!
//! Each module only calls the one below it: [`tcpserver`] → [`iostream`] → [`ioloop`] →
//! `rustix` (raw Linux system calls, no libc needed for I/O). [`http`] holds the pure,
//! I/O-free HTTP/1.1 pieces the HTTP server is built from.
//!
//! ## Features
//!
//! - `defmt`: log through [`defmt`](https://docs.rs/defmt) (decoded on the host with
//!   `defmt-print`). Off by default; when off, logging compiles to nothing.
//! - `status`: `/proc` and `/sys` readers for the on-device status page.
//! - `firmware`: `firmware_main!` and helpers for `#![no_std]`, `#![no_main]` binaries.
//! - `json`: `web::json` — JSON bodies in and out through `serde-json-core`, no allocation.
//! - `device`: [`device`] — mounts, kernel modules, interfaces and power-off for a firmware
//!   that is PID 1.

#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(rust_2018_idioms)]

pub mod config;
#[cfg(all(feature = "firmware", feature = "defmt"))]
pub mod defmt_logger;
#[cfg(feature = "device")]
pub mod device;
#[cfg(feature = "firmware")]
pub mod firmware;
mod fmt;
pub mod http;
pub mod httpserver;
pub mod ioloop;
pub mod iostream;
#[cfg(feature = "status")]
pub mod status;
pub mod tcpserver;
pub mod web;
