//! HTTP/1.1 over the TCP server (Tornado's `tornado.httpserver` and `http1connection`).
//!
//! [`HttpServer`] parses requests in place with the strict framing of [`crate::http`], calls
//! the application's [`HttpApp::on_request`] with a [`Request`] borrowed from the read buffer
//! and a [`Response`] written straight into the write buffer, and keeps each connection's
//! cycle going: keep-alive (HTTP/1.1 by default, HTTP/1.0 on request), pipelining (requests
//! already buffered are answered in order, their responses sent in one system call), `HEAD`,
//! `Expect: 100-continue`, `Content-Length` and chunked request bodies, `Date` and `Server`.
//!
//! A connection is handed over by the kernel with its first request (`TCP_DEFER_ACCEPT`) and
//! answered at once, without waiting for the next loop iteration (see
//! [`TcpServer::set_defer_accept`]).
//!
//! Errors get the right status and a short body, then the connection closes: 400 (malformed,
//! smuggling shapes), 408 (head or body not complete in time), 413 (body too large for the
//! limit or the buffer), 414, 417, 431, 501 (unknown method or transfer coding), 503 (every
//! slot busy, none idle), 505.
//!
//! Timeouts run on a coarse one-second clock, swept by one periodic timer that runs only while
//! connections are open: head ([`HEAD_TIMEOUT_MS`](crate::http::HEAD_TIMEOUT_MS), slowloris),
//! body, idle keep-alive and stalled writes. When every slot is busy and a client waits, the
//! least recently used idle keep-alive connection is closed to make room (browsers keep idle
//! sockets open and must not lock a device's UI out); with none idle, the client gets a `503`.
//!
//! ```no_run
//! use edgeloop::httpserver::{HttpApp, HttpConn, HttpServer, Request, Response};
//! use edgeloop::ioloop::IoLoop;
//! use edgeloop::iostream::BufferPool;
//! use edgeloop::tcpserver::Slot;
//!
//! struct App { http: HttpServer<App> }
//!
//! impl HttpApp for App {
//!     fn http(&mut self) -> &mut HttpServer<App> { &mut self.http }
//!     fn on_request(&mut self, _: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
//!         if req.path == "/" {
//!             let _ = resp.write(b"Hello, world");
//!         } else {
//!             let _ = resp.set_status(404);
//!         }
//!     }
//! }
//!
//! static LOOP: static_cell::StaticCell<IoLoop<App>> = static_cell::StaticCell::new();
//! static SLOTS: static_cell::StaticCell<[Slot<HttpConn>; 64]> = static_cell::StaticCell::new();
//! static REGION: static_cell::ConstStaticCell<[u8; 32 * 4096]> =
//!     static_cell::ConstStaticCell::new([0; 32 * 4096]);
//! static POOL: static_cell::StaticCell<BufferPool> = static_cell::StaticCell::new();
//!
//! let lp = LOOP.init_with(IoLoop::new);
//! let pool = POOL.init(BufferPool::new(REGION.take(), 4096).unwrap());
//! let slots = SLOTS.init_with(|| [const { Slot::new() }; 64]);
//! let mut app = App { http: HttpServer::new(slots, pool) };
//! app.http.listen(lp, "0.0.0.0:8888".parse().unwrap()).unwrap();
//! lp.start(&mut app).unwrap();
//! ```

mod conn;
mod dispatch;
mod request;
mod response;
mod stream;
mod sweep;
mod upgraded;

use core::marker::PhantomData;
use core::net::SocketAddr;

pub use conn::{HttpConn, Phase};
pub use request::Request;
pub use response::{
    MAX_RESPONSE_HEAD, MAX_UPGRADE_PROTOCOL, PREFIX_MAX, Response, ResponseError,
    valid_header_value,
};
pub use upgraded::Upgraded;

use crate::http::IMF_FIXDATE_LEN;
use crate::ioloop::{Error, Instant, IoLoop, Ready, TimeoutId};
use crate::iostream::{BufferPool, StreamError};
use crate::tcpserver::{ConnId, Protocol, ServerStats, Slot, TcpServer};
use request::XHeaders;

/// The application an [`HttpServer`] serves (Tornado's request callback / `Application`).
pub trait HttpApp: Sized + 'static {
    /// The server inside the application.
    fn http(&mut self) -> &mut HttpServer<Self>;

    /// Answers one request. Whatever the handler leaves in `resp` is sent when it returns
    /// (status 200 by default), unless it calls [`Response::defer`].
    fn on_request(&mut self, lp: &mut IoLoop<Self>, req: &Request<'_>, resp: &mut Response<'_>);

    /// Tornado's `@stream_request_body`: a request whose body does not fit the read buffer is
    /// offered here (head only: `req.body` is empty). Return `true` to receive the body in
    /// pieces through [`data_received`](Self::data_received) as it arrives — `Content-Length`
    /// or chunked, through a buffer of any size — after which [`on_request`](Self::on_request)
    /// runs with an empty body. `false` (the default) answers `413`.
    fn stream_request_body(&mut self, _req: &Request<'_>) -> bool {
        false
    }

    /// A piece of a streamed request body, in order (Tornado's `data_received`).
    fn data_received(&mut self, _lp: &mut IoLoop<Self>, _conn: ConnId, _data: &[u8]) {}

    /// A connection closed (for applications that keep per-connection state, such as deferred
    /// responses or event streams).
    fn on_close(&mut self, _lp: &mut IoLoop<Self>, _conn: ConnId) {}

    /// A streamed response's output has all been sent ([`Response::stream`]): write the next
    /// piece with [`HttpServer::stream_write`] (or end it with [`HttpServer::stream_end`]).
    /// Pull-style streaming: a large body goes out one buffer at a time, as fast as the client
    /// reads, without holding it all in the write buffer. The default does nothing (push-style
    /// streams such as Server-Sent Events are fed from timers instead).
    fn on_stream_drained(&mut self, _lp: &mut IoLoop<Self>, _conn: ConnId) {}

    /// Bytes arrived on a connection switched to another protocol with
    /// [`Response::upgrade`] (e.g. WebSocket frames). Consume what can be used, write answers,
    /// and leave the rest for the next call. The default closes the connection.
    fn on_upgraded(&mut self, _lp: &mut IoLoop<Self>, _conn: ConnId, io: &mut Upgraded<'_>) {
        io.close();
    }
}

/// Counters kept by an [`HttpServer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HttpStats {
    /// Requests answered by the application.
    pub requests: u64,
    /// Of those, answered with 4xx.
    pub responses_4xx: u64,
    /// Of those, answered with 5xx.
    pub responses_5xx: u64,
    /// Connections closed by a timeout (head, body, idle or write).
    pub timeouts: u64,
    /// Idle keep-alive connections closed to make room for a new client.
    pub evictions: u64,
}

/// Tornado's `HTTPServer`: HTTP/1.1 on a [`TcpServer`]. See the [module docs](self).
pub struct HttpServer<A: HttpApp> {
    tcp: TcpServer<HttpProtocol<A>>,
    date: [u8; IMF_FIXDATE_LEN],
    clock: u32,
    epoch: Instant,
    sweep: Option<TimeoutId>,
    /// The `xheaders` address reader when enabled: a function pointer, so that a firmware that
    /// never calls [`HttpServer::set_xheaders`] does not link the header and IP address parsers
    /// (1.3 KB of an aarch64 hello world).
    xheaders: Option<XHeaders>,
    stats: HttpStats,
}

impl<A: HttpApp> core::fmt::Debug for HttpServer<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpServer")
            .field("tcp", &self.tcp)
            .field("stats", &self.stats)
            .finish()
    }
}

/// Whole seconds of the coarse clock for a timeout in milliseconds, rounded up (at least 1).
pub(crate) const fn secs(ms: u64) -> u32 {
    let s = ms.div_ceil(1000);
    if s == 0 {
        1
    } else if s > u32::MAX as u64 {
        u32::MAX
    } else {
        s as u32
    }
}

impl<A: HttpApp> HttpServer<A> {
    /// A server over `slots` (its maximum number of connections) and `pool` (buffers shared by
    /// the connections that have bytes in flight; each needs two).
    pub fn new(slots: &'static mut [Slot<HttpConn>], pool: &'static BufferPool) -> Self {
        Self::from_tcp(TcpServer::new(slots, pool))
    }

    /// A server whose connection slots are created as clients first need them (see
    /// [`TcpServer::new_lazy`]): the way to keep a large slot table out of an idle firmware's RSS.
    pub fn new_lazy(
        slots: &'static mut heapless::vec::VecView<Slot<HttpConn>>,
        pool: &'static BufferPool,
    ) -> Self {
        Self::from_tcp(TcpServer::new_lazy(slots, pool))
    }

    fn from_tcp(mut tcp: TcpServer<HttpProtocol<A>>) -> Self {
        // HTTP clients speak first: each connection is accepted with its request and answered
        // at once (see `TcpServer::set_defer_accept`; turn off through `tcp()` before listening).
        tcp.set_defer_accept(true);
        let mut s = HttpServer {
            tcp,
            date: *b"Thu, 01 Jan 1970 00:00:00 GMT",
            clock: 1,
            epoch: Instant::now(),
            sweep: None,
            xheaders: None,
            stats: HttpStats::default(),
        };
        s.tick();
        s
    }

    /// The smallest pool buffer an HTTP server can work with: one response head
    /// ([`MAX_RESPONSE_HEAD`]) plus a small body. Request heads must also fit in one buffer.
    pub const MIN_BUFFER_SIZE: usize = dispatch::ROOM;

    /// Binds and listens (see [`TcpServer::listen`]); returns the bound address.
    /// `Err(InvalidConfig)` if the pool's buffers are smaller than
    /// [`MIN_BUFFER_SIZE`](Self::MIN_BUFFER_SIZE).
    pub fn listen(&mut self, lp: &mut IoLoop<A>, addr: SocketAddr) -> Result<SocketAddr, Error> {
        if self.tcp.pool().buffer_size() < Self::MIN_BUFFER_SIZE {
            return Err(Error::InvalidConfig);
        }
        self.tcp.listen(lp, addr)
    }

    /// Stops accepting; open connections finish what they are doing.
    pub fn stop_listening(&mut self, lp: &mut IoLoop<A>) {
        self.tcp.stop_listening(lp);
    }

    /// Trusts `X-Real-Ip` / `X-Forwarded-For` for [`Request::remote`] (Tornado's `xheaders`):
    /// only behind a reverse proxy that sets them.
    pub fn set_xheaders(&mut self, on: bool) {
        self.xheaders = if on {
            Some(request::forwarded_ip)
        } else {
            None
        };
    }

    /// The HTTP counters.
    pub fn stats(&self) -> HttpStats {
        self.stats
    }

    /// The connection counters.
    pub fn tcp_stats(&self) -> ServerStats {
        self.tcp.stats()
    }

    /// The underlying TCP server (connection table, pool).
    pub fn tcp(&mut self) -> &mut TcpServer<HttpProtocol<A>> {
        &mut self.tcp
    }

    /// Refreshes the coarse clock and the cached `Date` value.
    fn tick(&mut self) {
        let secs = Instant::now()
            .saturating_duration_since(self.epoch)
            .as_secs();
        self.clock = u32::try_from(secs).unwrap_or(u32::MAX).saturating_add(1);
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
        crate::http::imf_fixdate(u64::try_from(now.tv_sec).unwrap_or(0), &mut self.date);
    }

    /// Closes connection `id` now (pending output is discarded); [`HttpApp::on_close`] runs.
    pub fn close(app: &mut A, lp: &mut IoLoop<A>, id: ConnId) {
        TcpServer::<HttpProtocol<A>>::close(app, lp, id);
    }

    /// Answers a request parked with [`Response::defer`]: `f` fills in the response, which is
    /// then sent, and the connection carries on with any pipelined requests.
    ///
    /// `Err(NotRegistered)` if the connection is gone (the client left: see
    /// [`HttpApp::on_close`]) or its request is not deferred; `Err(Stream(NoBuffer))` when the
    /// pool has no buffer free right now (try again from a later timer).
    pub fn finish_deferred(
        app: &mut A,
        lp: &mut IoLoop<A>,
        id: ConnId,
        f: impl FnOnce(&mut Response<'_>),
    ) -> Result<(), Error> {
        let srv = app.http();
        let date = srv.date;
        let clock = srv.clock;
        let pool = srv.tcp.pool();
        let conn = srv.tcp.conn(id).ok_or(Error::NotRegistered)?;
        if conn.state.phase != Phase::Deferred {
            return Err(Error::NotRegistered);
        }
        if !conn.stream.acquire_buffers(pool) {
            return Err(Error::Stream(StreamError::NoBuffer));
        }
        let mut l = conn
            .stream
            .lend()
            .ok_or(Error::Stream(StreamError::WriteQueueBusy))?;
        let st = &mut conn.state;
        let tail = match Response::new(&mut l.wbuf[l.wend..]) {
            Some(mut resp) => {
                f(&mut resp);
                let keep = st.deferred_keep_alive && !resp.closes_connection();
                let fin = response::Finish {
                    date: &date,
                    keep_alive: keep,
                    http10: st.deferred_http10,
                    head_only: st.deferred_head,
                };
                let (n, tail, next) =
                    dispatch::finish_response(resp, &fin, st, &mut srv.stats, clock);
                l.wend += n;
                Some((tail, keep, next))
            }
            None => None,
        };
        conn.stream.restore(l);
        let Some((tail, keep, next)) = tail else {
            return Err(Error::Stream(StreamError::WriteBufferFull));
        };
        if !tail.is_empty() {
            let _ = conn.stream.write_static(tail);
        }
        match next {
            dispatch::Next::Upgraded => {}
            dispatch::Next::Streaming => dispatch::drain_stream(app, lp, id)?,
            dispatch::Next::Idle => {
                if !keep {
                    conn.stream.close();
                }
                dispatch::on_ready(app, lp, id)?;
            }
        }
        TcpServer::<HttpProtocol<A>>::update(app, lp, id)
    }
}

/// The [`Protocol`] that runs HTTP/1.1 on a [`TcpServer`] for an [`HttpApp`].
pub struct HttpProtocol<A>(PhantomData<fn() -> A>);

impl<A> core::fmt::Debug for HttpProtocol<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HttpProtocol")
    }
}

const RESPONSE_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nServer: edgeloop\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\nRetry-After: 1\r\n\
Connection: close\r\n\r\n503 Service Unavailable\n";

impl<A: HttpApp> Protocol for HttpProtocol<A> {
    type Ctx = A;
    type Conn = HttpConn;

    fn server(ctx: &mut A) -> &mut TcpServer<Self> {
        &mut ctx.http().tcp
    }

    fn on_connect(ctx: &mut A, lp: &mut IoLoop<A>, id: ConnId) -> Result<(), Error> {
        let srv = ctx.http();
        if srv.sweep.is_none() {
            srv.tick();
            srv.sweep = Some(sweep::start::<A>(lp)?);
        }
        let clock = srv.clock;
        if let Some(c) = srv.tcp.conn(id) {
            c.state.last_active = clock;
            c.state.deadline = clock.saturating_add(secs(crate::http::HEAD_TIMEOUT_MS));
        }
        Ok(())
    }

    fn on_ready(ctx: &mut A, lp: &mut IoLoop<A>, id: ConnId, _: Ready) -> Result<(), Error> {
        dispatch::on_ready(ctx, lp, id)
    }

    fn on_slots_full(ctx: &mut A, lp: &mut IoLoop<A>) -> bool {
        sweep::evict_lru(ctx, lp)
    }

    fn on_pool_dry(ctx: &mut A, lp: &mut IoLoop<A>, needy: ConnId) -> bool {
        sweep::evict_partial_head(ctx, lp, needy)
    }

    const REJECT_RESPONSE: Option<&'static [u8]> = Some(RESPONSE_503);

    fn on_close(ctx: &mut A, lp: &mut IoLoop<A>, id: ConnId) {
        ctx.on_close(lp, id);
    }
}
