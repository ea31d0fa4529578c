//! Streamed responses over real sockets: Server-Sent Events fed from a timer, the stream's end
//! followed by another request on the same connection, and a client that goes away.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use edgeloop::httpserver::{HttpApp, HttpConn, HttpServer, Request, Response, Upgraded};
use edgeloop::ioloop::{Error, IoLoop, Remote, Token};
use edgeloop::iostream::BufferPool;
use edgeloop::tcpserver::{ConnId, Slot};

static CLOSED: AtomicUsize = AtomicUsize::new(0);

struct App {
    http: HttpServer<App>,
    streams: Vec<(ConnId, u32)>,
    /// Bytes and a checksum of the streamed upload in progress.
    upload: (u64, u64),
}

impl HttpApp for App {
    fn http(&mut self) -> &mut HttpServer<App> {
        &mut self.http
    }

    fn stream_request_body(&mut self, req: &Request<'_>) -> bool {
        self.upload = (0, 0);
        req.path == "/upload"
    }

    fn data_received(&mut self, _: &mut IoLoop<App>, _: ConnId, data: &[u8]) {
        self.upload.0 += data.len() as u64;
        for &b in data {
            self.upload.1 = self.upload.1.wrapping_mul(31).wrapping_add(u64::from(b));
        }
    }

    fn on_request(&mut self, lp: &mut IoLoop<App>, req: &Request<'_>, resp: &mut Response<'_>) {
        match req.path {
            "/upload" => {
                let text = format!("{} {}", self.upload.0, self.upload.1);
                let _ = resp.write(text.as_bytes());
            }
            "/upgrade" => {
                resp.upgrade("x-echo").unwrap();
            }
            "/events" => {
                resp.event_stream();
                let _ = resp.write(b"retry: 1000\n\n");
                self.streams.push((req.conn, 0));
                if self.streams.len() == 1 {
                    let _ = lp.call_later(Duration::from_millis(20), tick, Token(0));
                }
            }
            _ => {
                let _ = resp.write(b"plain");
            }
        }
    }

    /// The toy protocol after the upgrade: echo every byte, close on `q`.
    fn on_upgraded(&mut self, _: &mut IoLoop<App>, _: ConnId, io: &mut Upgraded<'_>) {
        let n = io.input().len().min(io.room());
        let mut copy = [0u8; 256];
        let n = n.min(copy.len());
        copy[..n].copy_from_slice(&io.input()[..n]);
        io.consume(n);
        let _ = io.write(&[&copy[..n]]);
        if copy[..n].contains(&b'q') {
            io.close();
        }
    }

    fn on_close(&mut self, _: &mut IoLoop<App>, conn: ConnId) {
        if self.streams.iter().any(|(c, _)| *c == conn) {
            CLOSED.fetch_add(1, Ordering::SeqCst);
        }
        self.streams.retain(|(c, _)| *c != conn);
    }
}

/// Every 20 ms: one event to each stream; the third event ends the stream. A send to a client
/// that went away closes its connection at once, and `on_close` drops it from `streams`: the
/// streams are looked up by id after each send, not by index.
fn tick(app: &mut App, lp: &mut IoLoop<App>, _: Token) -> Result<(), Error> {
    let ids: Vec<ConnId> = app.streams.iter().map(|(c, _)| *c).collect();
    for id in ids {
        let Some(n) = app.streams.iter().find(|(c, _)| *c == id).map(|(_, n)| *n) else {
            continue;
        };
        let data = format!("event {n}\nsecond line");
        let _ = HttpServer::send_event(app, lp, id, Some("tick"), data.as_bytes());
        if n == 2 {
            let _ = HttpServer::stream_end(app, lp, id);
            app.streams.retain(|(c, _)| *c != id);
        } else if let Some(s) = app.streams.iter_mut().find(|(c, _)| *c == id) {
            s.1 += 1;
        }
    }
    if !app.streams.is_empty() {
        lp.call_later(Duration::from_millis(20), tick, Token(0))?;
    }
    Ok(())
}

fn start() -> (SocketAddr, &'static Remote<App>, thread::JoinHandle<()>) {
    let slots: Vec<Slot<HttpConn>> = (0..16).map(|_| Slot::new()).collect();
    let slots: &'static mut [Slot<HttpConn>] = Box::leak(slots.into_boxed_slice());
    let remote: &'static Remote<App> = Box::leak(Box::new(Remote::new().unwrap()));
    let (tx, rx) = std::sync::mpsc::channel();
    let h = thread::spawn(move || {
        // The pool is single-threaded (`!Sync`): it belongs to the loop's thread.
        let region: &'static mut [u8] = Box::leak(vec![0u8; 16 * 4096].into_boxed_slice());
        let pool: &'static BufferPool = Box::leak(Box::new(BufferPool::new(region, 4096).unwrap()));
        let mut lp = Box::new(IoLoop::<App>::new());
        let mut app = App {
            http: HttpServer::new(slots, pool),
            streams: Vec::new(),
            upload: (0, 0),
        };
        let addr = app
            .http
            .listen(&mut lp, "127.0.0.1:0".parse().unwrap())
            .unwrap();
        lp.set_remote(remote).unwrap();
        tx.send(addr).unwrap();
        lp.start(&mut app).unwrap();
    });
    (rx.recv().unwrap(), remote, h)
}

fn read_chunked_body(r: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        if let Err(e) = r.read_line(&mut line) {
            panic!("{e}: body so far {:?}", String::from_utf8_lossy(&body));
        }
        let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
        let mut chunk = vec![0u8; size + 2];
        r.read_exact(&mut chunk).unwrap();
        assert_eq!(&chunk[size..], b"\r\n");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

fn read_head(r: &mut BufReader<TcpStream>) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        head.push_str(&line);
        if line == "\r\n" {
            return head;
        }
    }
}

#[test]
fn sse_events_from_a_timer_then_stream_end_then_keep_alive() {
    let (addr, remote, h) = start();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = read_head(&mut r);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    let body = String::from_utf8(read_chunked_body(&mut r)).unwrap();
    let expected = "retry: 1000\n\n".to_string()
        + &(0..3)
            .map(|n| format!("event: tick\ndata: event {n}\ndata: second line\n\n"))
            .collect::<String>();
    assert_eq!(body, expected);
    // The pipelined request behind the stream is answered on the same connection.
    let head = read_head(&mut r);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let mut plain = [0u8; 5];
    r.read_exact(&mut plain).unwrap();
    assert_eq!(&plain, b"plain");
    remote.stop().unwrap();
    h.join().unwrap();
}

#[test]
fn sse_client_that_goes_away_frees_its_slot() {
    let (addr, remote, h) = start();
    let before = CLOSED.load(Ordering::SeqCst);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    s.read_exact(&mut first).unwrap();
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(5);
    while CLOSED.load(Ordering::SeqCst) == before {
        assert!(
            Instant::now() < deadline,
            "the server never noticed the client left"
        );
        thread::sleep(Duration::from_millis(10));
    }
    remote.stop().unwrap();
    h.join().unwrap();
}

#[test]
fn upgrade_switches_protocols_and_bytes_reach_on_upgraded() {
    let (addr, remote, h) = start();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    // The first protocol bytes travel in the same write as the request.
    w.write_all(
        b"GET /upgrade HTTP/1.1\r\nHost: t\r\nUpgrade: x-echo\r\nConnection: Upgrade\r\n\r\nhello",
    )
    .unwrap();
    let head = read_head(&mut r);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Upgrade: x-echo\r\nConnection: Upgrade\r\n"),
        "{head}"
    );
    assert!(!head.contains("Content-Length"), "{head}");
    let mut got = [0u8; 5];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    w.write_all(b" again, q").unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b" again, q", "echoed, then closed by the protocol");
    remote.stop().unwrap();
    h.join().unwrap();
}

fn checksum(data: &[u8]) -> u64 {
    data.iter()
        .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

fn read_plain(r: &mut BufReader<TcpStream>) -> (String, Vec<u8>) {
    let head = read_head(r);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn request_bodies_larger_than_the_buffer_stream_to_the_handler() {
    let (addr, remote, h) = start();
    let body: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    // 1 MiB with Content-Length through 4 KiB buffers, a request pipelined behind it.
    w.write_all(
        format!(
            "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    w.write_all(&body).unwrap();
    w.write_all(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (head, got) = read_plain(&mut r);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        String::from_utf8(got).unwrap(),
        format!("{} {}", body.len(), checksum(&body))
    );
    let (_, after) = read_plain(&mut r);
    assert_eq!(after, b"plain");
    // The same body chunked, in uneven chunks.
    w.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for part in body[..300_000].chunks(7_777) {
        w.write_all(format!("{:x}\r\n", part.len()).as_bytes())
            .unwrap();
        w.write_all(part).unwrap();
        w.write_all(b"\r\n").unwrap();
    }
    w.write_all(b"0\r\n\r\n").unwrap();
    let (head, got) = read_plain(&mut r);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        String::from_utf8(got).unwrap(),
        format!("300000 {}", checksum(&body[..300_000]))
    );
    // A route that does not stream its body still gets 413 for one that does not fit.
    w.write_all(b"POST /other HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let head = read_head(&mut r);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    remote.stop().unwrap();
    h.join().unwrap();
}
