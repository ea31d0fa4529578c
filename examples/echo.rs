//! A TCP echo server: the smallest complete program on the edgeloop stack, written the way
//! firmware is — `#![no_std]`, `#![no_main]`, no allocator, every table a `static` sized at
//! compile time.
//!
//! ```text
//! cargo run --features firmware --example echo -- [--port N] [--host A.B.C.D] [--buffer-size BYTES] [--buffers N]
//! ```
//! Prints `listening on ADDR:PORT` on stdout once bound (port 0 picks a free one), echoes every
//! byte back, and exits 0 on SIGINT/SIGTERM. `--buffer-size`/`--buffers` carve the static buffer
//! region into a smaller pool, to exercise parking when the pool runs dry.

#![no_std]
#![no_main]

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use edgeloop::config::{BUFFER_COUNT, BUFFER_SIZE, MAX_CONNECTIONS};
use edgeloop::firmware::{Args, stderr, stdout, write_fmt};
use edgeloop::ioloop::{Error, IoLoop, Ready, Signal};
use edgeloop::iostream::{BufferPool, StreamError};
use edgeloop::tcpserver::{ConnId, Protocol, Slot, TcpServer};
use static_cell::{ConstStaticCell, StaticCell};

edgeloop::firmware_main!(main_entry);

// Uninitialised statics live in .bss (they cost no flash) and are built in place at start-up.
static LOOP: StaticCell<IoLoop<App>> = StaticCell::new();
// Slots are created as clients first need them: an idle firmware keeps the table non-resident.
static SLOTS: ConstStaticCell<heapless::Vec<Slot<()>, MAX_CONNECTIONS>> =
    ConstStaticCell::new(heapless::Vec::new());
static REGION: ConstStaticCell<[u8; BUFFER_SIZE * BUFFER_COUNT]> =
    ConstStaticCell::new([0; BUFFER_SIZE * BUFFER_COUNT]);
static POOL: StaticCell<BufferPool> = StaticCell::new();

struct App {
    server: TcpServer<Echo>,
}

struct Echo;

impl Protocol for Echo {
    type Ctx = App;
    type Conn = ();

    fn server(app: &mut App) -> &mut TcpServer<Echo> {
        &mut app.server
    }

    fn on_ready(app: &mut App, _: &mut IoLoop<App>, id: ConnId, _: Ready) -> Result<(), Error> {
        let Some(conn) = app.server.conn(id) else {
            return Ok(());
        };
        let (mut rd, mut wr) = conn.stream.split();
        loop {
            // Read only what can be written back now: a slow reader slows its writer down.
            let room = wr.room();
            if room == 0 {
                return Ok(());
            }
            match rd.read_bytes(room, true) {
                Ok(Some(data)) => wr.write(data)?,
                Ok(None) => return Ok(()),
                // End of stream: the server closes once the echoed bytes have drained.
                Err(StreamError::Closed) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn on_signal(app: &mut App, lp: &mut IoLoop<App>, _: Signal) -> Result<(), Error> {
    app.server.stop_listening(lp);
    lp.stop();
    Ok(())
}

struct Options {
    addr: SocketAddrV4,
    buffer_size: usize,
    buffers: usize,
}

fn parse_args(args: Args) -> Result<Options, &'static str> {
    let mut o = Options {
        addr: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7007),
        buffer_size: BUFFER_SIZE,
        buffers: BUFFER_COUNT,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or("missing value after an option")?;
        match flag {
            "--port" => o.addr.set_port(value.parse().map_err(|_| "bad --port")?),
            "--host" => o.addr.set_ip(value.parse().map_err(|_| "bad --host")?),
            "--buffer-size" => o.buffer_size = value.parse().map_err(|_| "bad --buffer-size")?,
            "--buffers" => o.buffers = value.parse().map_err(|_| "bad --buffers")?,
            _ => return Err("unknown option"),
        }
    }
    if o.buffer_size == 0 || o.buffer_size > BUFFER_SIZE || o.buffers < 2 {
        return Err("--buffer-size must be 1..=BUFFER_SIZE and --buffers at least 2");
    }
    if o.buffer_size.saturating_mul(o.buffers) > BUFFER_SIZE * BUFFER_COUNT {
        return Err("--buffer-size x --buffers exceeds the static buffer region");
    }
    Ok(o)
}

fn run(o: &Options) -> Result<(), Error> {
    let region = REGION.take();
    let used = o.buffer_size * o.buffers;
    let pool = BufferPool::new(&mut region[..used], o.buffer_size).map_err(|_| Error::App(1))?;
    let pool: &'static BufferPool = POOL.init(pool);
    let lp = LOOP.init_with(IoLoop::new);
    let slots = SLOTS.take().as_mut_view();
    let mut app = App {
        server: TcpServer::new_lazy(slots, pool),
    };
    lp.handle_signals(&[Signal::Interrupt, Signal::Terminate], on_signal)?;
    let bound = app.server.listen(lp, SocketAddr::V4(o.addr))?;
    write_fmt(stdout(), format_args!("listening on {bound}\n"));
    lp.start(&mut app)
}

fn main_entry(args: Args) -> i32 {
    if args.get(0) == Some("--help") {
        write_fmt(
            stdout(),
            format_args!(
                "usage: echo [--port N] [--host A.B.C.D] [--buffer-size BYTES] [--buffers N]\n"
            ),
        );
        return 0;
    }
    let o = match parse_args(args) {
        Ok(o) => o,
        Err(msg) => {
            write_fmt(stderr(), format_args!("echo: {msg}\n"));
            return 2;
        }
    };
    match run(&o) {
        Ok(()) => 0,
        Err(e) => {
            write_fmt(stderr(), format_args!("echo: cannot start: {e}\n"));
            1
        }
    }
}
