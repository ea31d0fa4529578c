//! Tornado's `hello_world.py`, line for line, as edgeloop firmware.
//!
//! ```python
//! class MainHandler(tornado.web.RequestHandler):
//!     def get(self):
//!         self.write("Hello, world")
//!
//! def make_app():
//!     return tornado.web.Application([(r"/", MainHandler)])
//!
//! async def main():
//!     app = make_app()
//!     app.listen(8888)
//!     await asyncio.Event().wait()
//! ```
//!
//! ```text
//! cargo run --release --features firmware --example hello_world -- [--port N] [--host A.B.C.D]
//! ```

#![no_std]
#![no_main]

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use edgeloop::config::{BUFFER_COUNT, BUFFER_SIZE, MAX_CONNECTIONS};
use edgeloop::firmware::{Args, Text, stderr, stdout, write_all};
use edgeloop::http::fields::parse_ipv4;
use edgeloop::httpserver::{HttpApp, HttpConn, HttpServer, Request, Response};
use edgeloop::ioloop::{Error, IoLoop, Signal};
use edgeloop::iostream::BufferPool;
use edgeloop::tcpserver::Slot;
use edgeloop::web::{Application, HandlerResult, Methods, RequestHandler, Route, WebRequest};
use static_cell::{ConstStaticCell, StaticCell};

edgeloop::firmware_main!(main_entry);

static LOOP: StaticCell<IoLoop<App>> = StaticCell::new();
// Slots are created as clients first need them: an idle firmware keeps the table non-resident.
static SLOTS: ConstStaticCell<heapless::Vec<Slot<HttpConn>, MAX_CONNECTIONS>> =
    ConstStaticCell::new(heapless::Vec::new());
static REGION: ConstStaticCell<[u8; BUFFER_SIZE * BUFFER_COUNT]> =
    ConstStaticCell::new([0; BUFFER_SIZE * BUFFER_COUNT]);
static POOL: StaticCell<BufferPool> = StaticCell::new();

struct App {
    http: HttpServer<App>,
}

/// `class MainHandler(tornado.web.RequestHandler)`
struct MainHandler;

impl RequestHandler<App> for MainHandler {
    fn allowed(&self) -> Methods {
        Methods::GET
    }

    /// `def get(self): self.write("Hello, world")`
    fn get(
        &self,
        _: &mut App,
        _: &mut IoLoop<App>,
        _: &WebRequest<'_, '_>,
        resp: &mut Response<'_>,
    ) -> HandlerResult {
        let _ = resp.write(b"Hello, world");
        Ok(())
    }
}

/// `tornado.web.Application([(r"/", MainHandler)])`
static APPLICATION: Application<App> = Application::new(&[Route::new("/", &MainHandler)]);

impl HttpApp for App {
    fn http(&mut self) -> &mut HttpServer<App> {
        &mut self.http
    }

    fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
        APPLICATION.dispatch(self, lp, req, resp);
    }
}

fn on_signal(app: &mut App, lp: &mut IoLoop<App>, _: Signal) -> Result<(), Error> {
    app.http.stop_listening(lp);
    lp.stop();
    Ok(())
}

fn run(addr: SocketAddrV4) -> Result<(), Error> {
    let pool = BufferPool::new(REGION.take(), BUFFER_SIZE).map_err(|_| Error::App(1))?;
    let pool: &'static BufferPool = POOL.init(pool);
    let lp = LOOP.init_with(IoLoop::new);
    let slots = SLOTS.take().as_mut_view();
    let mut app = App {
        http: HttpServer::new_lazy(slots, pool),
    };
    lp.handle_signals(&[Signal::Interrupt, Signal::Terminate], on_signal)?;
    // `app.listen(8888)`
    let bound = app.http.listen(lp, SocketAddr::V4(addr))?;
    // Printed without `core::fmt`, which would be a third of this binary.
    let mut line = Text::<80>::new();
    line.str("listening on ").socket_addr(&bound).str("\n");
    write_all(stdout(), &[line.as_bytes()]);
    // `await asyncio.Event().wait()`
    lp.start(&mut app)
}

fn main_entry(args: Args) -> i32 {
    let mut addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8888);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let ok = match (flag, it.next()) {
            ("--port", Some(v)) => v.parse().map(|p| addr.set_port(p)).is_ok(),
            ("--host", Some(v)) => parse_ipv4(v.as_bytes()).map(|h| addr.set_ip(h)).is_some(),
            _ => false,
        };
        if !ok {
            write_all(
                stderr(),
                &[b"usage: hello_world [--port N] [--host A.B.C.D]\n"],
            );
            return 2;
        }
    }
    match run(addr) {
        Ok(()) => 0,
        Err(e) => {
            let mut line = Text::<128>::new();
            line.str("hello_world: cannot start: ");
            edgeloop::firmware::describe_error(&mut line, &e).str("\n");
            write_all(stderr(), &[line.as_bytes()]);
            1
        }
    }
}
