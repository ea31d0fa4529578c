//! The status firmware: an on-device status page, JSON API, Prometheus metrics and live
//! Server-Sent Events, as a static `no_std` binary with no allocator.
//!
//! ```text
//! cargo run --release --features firmware,status --example status -- [--port N] [--host A.B.C.D]
//! ```
//!
//! Serves `/` (the page), `/api/status`, `/api/history`, `/metrics`, `/events` and the page's
//! assets; everything formats from one snapshot of `/proc` and `/sys` refreshed once a second
//! (see `edgeloop::status::service`). Defaults: `0.0.0.0:8080`. On SIGTERM/SIGINT it stops
//! accepting, lets in-flight responses finish (closing idle keep-alive connections and event
//! streams), and exits 0 within a second. Built with the `device` feature and started as PID 1
//! (the QEMU system test), it first brings the machine up — mounts, virtio modules, `lo` and
//! `eth0` — listens on port 80, and powers off on `POST /api/poweroff`.
//!
//! Built with `defmt`, it logs defmt frames (start-up, `listening`, the power-off request) to
//! stderr — or, as PID 1 on a machine with a virtio-serial port named `edgeloop.defmt`
//! (`edgeloop::device::DEFMT_PORT`; QEMU under `cargo xtask qemu`/`systest`), to that port: a
//! binary channel of its own, where the serial console would mangle frames and mix them with
//! kernel messages. A plain-text console line says where the frames go.

#![no_std]
#![no_main]

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use core::time::Duration;

use edgeloop::config::{BUFFER_COUNT, BUFFER_SIZE, MAX_CONNECTIONS};
use edgeloop::firmware::{Args, stderr, stdout, write_fmt};
use edgeloop::http::Method;
use edgeloop::httpserver::{HttpApp, HttpConn, HttpServer, Phase, Request, Response};
use edgeloop::ioloop::{Error, Instant, IoLoop, Signal, Token};
use edgeloop::iostream::BufferPool;
use edgeloop::status::service::{self, StatusApp, StatusService, Storage};
use edgeloop::status::snapshot::Snapshot;
use edgeloop::tcpserver::{ConnId, Slot};
use static_cell::{ConstStaticCell, StaticCell};

edgeloop::firmware_main!(main_entry);

/// defmt `info!` and `error!` lines with the `defmt` feature; without it, nothing (the
/// arguments are still type-checked).
#[cfg(feature = "defmt")]
macro_rules! info { ($($t:tt)*) => { defmt::info!($($t)*) }; }
#[cfg(feature = "defmt")]
macro_rules! error { ($($t:tt)*) => { defmt::error!($($t)*) }; }
#[cfg(not(feature = "defmt"))]
macro_rules! info { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }
#[cfg(not(feature = "defmt"))]
macro_rules! error { ($s:literal $(, $x:expr)* $(,)?) => { { $( let _ = &$x; )* } }; }

/// Buffers here hold a status event (a whole JSON status) each: at least 16 KiB.
const BUF_SIZE: usize = if BUFFER_SIZE > 16384 {
    BUFFER_SIZE
} else {
    16384
};
/// How long in-flight responses get after SIGTERM before the firmware exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(900);

static LOOP: StaticCell<IoLoop<App>> = StaticCell::new();
// Slots are created as clients first need them: an idle firmware keeps the table non-resident.
static SLOTS: ConstStaticCell<heapless::Vec<Slot<HttpConn>, MAX_CONNECTIONS>> =
    ConstStaticCell::new(heapless::Vec::new());
static REGION: ConstStaticCell<[u8; BUF_SIZE * BUFFER_COUNT]> =
    ConstStaticCell::new([0; BUF_SIZE * BUFFER_COUNT]);
static POOL: StaticCell<BufferPool> = StaticCell::new();
static SNAPSHOT: StaticCell<Snapshot> = StaticCell::new();
static STORAGE: ConstStaticCell<Storage> = ConstStaticCell::new(Storage::new());

/// Everything reserved at build time, reported as `edgeloop_static_memory_bytes`.
const STATIC_MEMORY: usize = core::mem::size_of::<IoLoop<App>>()
    + core::mem::size_of::<heapless::Vec<Slot<HttpConn>, MAX_CONNECTIONS>>()
    + BUF_SIZE * BUFFER_COUNT
    + core::mem::size_of::<Snapshot>()
    + core::mem::size_of::<Storage>();

struct App {
    http: HttpServer<App>,
    status: StatusService,
    pid1: bool,
    shutdown_at: Option<Instant>,
}

impl HttpApp for App {
    fn http(&mut self) -> &mut HttpServer<App> {
        &mut self.http
    }

    fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
        if self.status.handle(req, resp) {
            return;
        }
        match (req.path, req.method) {
            ("/api/poweroff", Method::Post) if self.pid1 => {
                info!(
                    "status: power-off requested after {=u64} requests",
                    self.http.stats().requests
                );
                let _ = resp.set_status(202);
                let _ = resp.write(b"powering off\n");
                resp.close_connection();
                let _ = lp.call_later(Duration::from_millis(200), power_off, Token(0));
            }
            _ => {
                let _ = resp.set_status(404);
                let _ = resp.set_header("Content-Type", b"text/plain; charset=utf-8");
                let _ = resp.write(b"404 Not Found\n");
            }
        }
    }

    fn on_stream_drained(&mut self, lp: &mut IoLoop<App>, conn: ConnId) {
        service::on_stream_drained(self, lp, conn);
    }

    fn on_close(&mut self, _: &mut IoLoop<App>, conn: ConnId) {
        self.status.on_close(conn);
    }
}

impl StatusApp for App {
    fn status(&mut self) -> &mut StatusService {
        &mut self.status
    }
}

#[cfg(feature = "device")]
fn power_off(_: &mut App, _: &mut IoLoop<App>, _: Token) -> Result<(), Error> {
    info!("status: powering off");
    edgeloop::device::power_off()
}

#[cfg(not(feature = "device"))]
fn power_off(_: &mut App, lp: &mut IoLoop<App>, _: Token) -> Result<(), Error> {
    lp.stop();
    Ok(())
}

/// SIGTERM/SIGINT: stop accepting, then let in-flight responses finish.
fn on_signal(app: &mut App, lp: &mut IoLoop<App>, _: Signal) -> Result<(), Error> {
    app.http.stop_listening(lp);
    app.shutdown_at = Some(lp.time() + SHUTDOWN_GRACE);
    drain(app, lp, Token(0))
}

/// Closes what is idle (keep-alive connections, event streams); stops the loop once nothing is
/// in flight or the grace period is over.
fn drain(app: &mut App, lp: &mut IoLoop<App>, _: Token) -> Result<(), Error> {
    let mut idle: heapless::Vec<ConnId, 64> = heapless::Vec::new();
    let mut busy = 0usize;
    app.http.tcp().for_each_conn(|id, c| {
        let waiting = c.stream.is_writing() || c.stream.read_buffered() > 0;
        let idle_now = matches!(c.state.phase(), Phase::Idle | Phase::Streaming) && !waiting;
        if !idle_now || idle.push(id).is_err() {
            busy += 1;
        }
    });
    for id in idle {
        HttpServer::close(app, lp, id);
    }
    let late = app.shutdown_at.is_some_and(|t| lp.time() >= t);
    if busy == 0 || late {
        lp.stop();
    } else {
        lp.call_later(Duration::from_millis(20), drain, Token(0))?;
    }
    Ok(())
}

fn run(addr: SocketAddrV4, pid1: bool) -> Result<(), Error> {
    let pool = BufferPool::new(REGION.take(), BUF_SIZE).map_err(|_| Error::InvalidConfig)?;
    let pool: &'static BufferPool = POOL.init(pool);
    let lp = LOOP.init_with(IoLoop::new);
    let slots = SLOTS.take().as_mut_view();
    let snapshot = SNAPSHOT.init_with(Snapshot::new);
    let mut app = App {
        http: HttpServer::new_lazy(slots, pool),
        status: StatusService::new(snapshot, STORAGE.take(), STATIC_MEMORY as u64),
        pid1,
        shutdown_at: None,
    };
    lp.handle_signals(&[Signal::Interrupt, Signal::Terminate], on_signal)?;
    let bound = app.http.listen(lp, SocketAddr::V4(addr))?;
    service::start_refresh(&mut app, lp)?;
    write_fmt(
        stdout(),
        format_args!("status: listening on http://{bound}/\n"),
    );
    info!("status: listening on port {=u16}", bound.port());
    lp.start(&mut app)
}

const USAGE: &str = "usage: status [--port N] [--host A.B.C.D]\n\
  Serves the device status page (/), /api/status, /api/history, /metrics and /events.\n\
  Defaults: --host 0.0.0.0 --port 8080 (port 80 when started as PID 1).\n";

fn main_entry(args: Args) -> i32 {
    let pid1 = is_pid1();
    let mut addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, if pid1 { 80 } else { 8080 });
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let ok = match (flag, it.next()) {
            ("--help" | "-h", _) => {
                write_fmt(stdout(), format_args!("{USAGE}"));
                return 0;
            }
            ("--port", Some(v)) => v.parse().map(|p| addr.set_port(p)).is_ok(),
            ("--host", Some(v)) => v.parse().map(|h| addr.set_ip(h)).is_ok(),
            _ => false,
        };
        if !ok {
            write_fmt(
                stderr(),
                format_args!("status: bad argument `{flag}`\n{USAGE}"),
            );
            return 2;
        }
    }
    boot(pid1);
    let code = match run(addr, pid1) {
        Ok(()) => 0,
        Err(e) => {
            write_fmt(
                stderr(),
                format_args!("status: cannot serve on {addr}: {e}\n"),
            );
            error!("status: cannot serve on port {=u16}: {}", addr.port(), e);
            1
        }
    };
    if pid1 {
        // PID 1 must never exit: the kernel would panic.
        halt();
    }
    code
}

#[cfg(feature = "device")]
fn halt() {
    edgeloop::device::power_off()
}

#[cfg(not(feature = "device"))]
fn halt() {}

#[cfg(feature = "device")]
fn is_pid1() -> bool {
    edgeloop::device::is_pid1()
}

#[cfg(not(feature = "device"))]
fn is_pid1() -> bool {
    false
}

#[cfg(feature = "device")]
fn boot(pid1: bool) {
    if pid1 {
        write_fmt(
            stdout(),
            format_args!("status: PID 1, bringing the machine up\n"),
        );
        let booted = edgeloop::device::boot(&edgeloop::device::QEMU_VIRT);
        if let Err(e) = booted {
            write_fmt(stderr(), format_args!("status: boot: {e}\n"));
        }
        log_channel();
        match booted {
            Ok(()) => info!("status: PID 1, machine up"),
            Err(e) => error!("status: boot: {}", e),
        }
    }
}

/// Sends the defmt frames to the virtio-serial port `edgeloop.defmt` when the machine has one
/// (QEMU), else leaves them on stderr; says which on the console.
#[cfg(all(feature = "device", feature = "defmt"))]
fn log_channel() {
    use edgeloop::device::{DEFMT_PORT, find_virtio_port};
    use rustix::fd::{AsFd, OwnedFd};

    // The port stays open for the life of the firmware: the logger borrows it for `'static`.
    static PORT: StaticCell<OwnedFd> = StaticCell::new();
    // The port's name reaches the driver a moment after its module loaded.
    match find_virtio_port(DEFMT_PORT, 1000).and_then(|p| p.open().map(|fd| (p, fd))) {
        Ok((port, fd)) => {
            let fd: &'static OwnedFd = PORT.init(fd);
            edgeloop::defmt_logger::set_output(fd.as_fd());
            write_fmt(
                stdout(),
                format_args!(
                    "status: defmt logs -> {} (virtio port {DEFMT_PORT})\n",
                    port.path()
                ),
            );
            info!(
                "status: defmt logs on virtio port {=str} ({=str})",
                DEFMT_PORT,
                port.path()
            );
        }
        Err(e) => write_fmt(
            stdout(),
            format_args!("status: defmt logs -> stderr (virtio port {DEFMT_PORT}: {e})\n"),
        ),
    }
}

#[cfg(all(feature = "device", not(feature = "defmt")))]
fn log_channel() {}

#[cfg(not(feature = "device"))]
fn boot(_: bool) {}
