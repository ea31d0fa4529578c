//! End-to-end tests of `examples/echo.rs`: the real no_std binary runs as a child process and
//! is driven over 127.0.0.1 only.
//!
//! The binary is found next to the test executable (`target/<profile>/examples/echo`). It needs
//! the `firmware` feature, so `cargo test` does not build it: run
//! `cargo build --features firmware --examples` first (`cargo xtask test` does); a binary older
//! than its sources fails the tests rather than testing stale code. When `EDGELOOP_TEST_RUNNER`
//! is set (`qemu-aarch64` when the suite runs cross-compiled), the child is started through it
//! and counts scale down while timeouts scale up.
//!
//! Every child is owned by a [`Server`] guard (SIGTERM on drop, then kill after a timeout) and
//! every socket operation and test has a deadline.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

#[path = "common/firmware.rs"]
mod firmware;
use firmware::{Process, emulated, raise_nofile, secs, serial};

// ---------------------------------------------------------------------------------------------
// Environment: QEMU scaling, serialisation, descriptor limit.
// ---------------------------------------------------------------------------------------------

/// `native` natively, `emulated` under the runner.
fn scaled(native: usize, emulated_count: usize) -> usize {
    if emulated() { emulated_count } else { native }
}

/// A short wait that needs only a little stretching under emulation (polling intervals).
fn short(native_ms: u64) -> Duration {
    Duration::from_millis(if emulated() { native_ms * 3 } else { native_ms })
}

// ---------------------------------------------------------------------------------------------
// The child server.
// ---------------------------------------------------------------------------------------------

/// `target/<profile>/examples/echo`, checked once: it exists and is not older than its sources.
fn echo_path() -> PathBuf {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PATH.get_or_init(find_echo) {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

const BUILD_HINT: &str = "build it first with `cargo build --features firmware --examples` (same \
     --target and profile): `cargo test` does not build examples that need the `firmware` feature";

fn find_echo() -> Result<PathBuf, String> {
    firmware::example("echo", BUILD_HINT)
}

/// `prefix… [RUNNER…] echo args…`
fn echo_command(prefix: &[&str], args: &[&str]) -> Command {
    firmware::command(prefix, &echo_path(), args)
}

/// A running echo server: its [`Process`] (SIGTERM, up to `secs(2.0)`, then kill on drop) and
/// where it listens.
struct Server {
    process: Process,
    addr: SocketAddr,
}

impl Deref for Server {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.process
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Server::start_with(&[], args)
    }

    /// Starts `prefix… echo --port 0 --host 127.0.0.1 args…` and waits for its
    /// `listening on` line.
    fn start_with(prefix: &[&str], args: &[&str]) -> Server {
        let mut all = vec!["--port", "0", "--host", "127.0.0.1"];
        all.extend_from_slice(args);
        spawn_server(echo_command(prefix, &all))
    }

    /// utime + stime in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).expect("read stat");
        // The command name (field 2) is in parentheses and may hold spaces: skip past it.
        let rest = &stat[stat.rfind(')').expect("stat has a ')'") + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state): field N is fields[N - 3].
        let utime: u64 = fields[14 - 3].parse().expect("utime");
        let stime: u64 = fields[15 - 3].parse().expect("stime");
        utime + stime
    }

    /// VmRSS in KiB.
    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("read status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// Asserts the server runs and echoes 64 KiB for a new client.
    fn assert_serves_new_client(&mut self, seed: u64) {
        assert!(self.alive(), "the server died");
        let mut s = connect(self.addr);
        echo_check(&mut s, seed, 64 * 1024, 4096)
            .unwrap_or_else(|e| panic!("a new client is not served: {e}"));
        assert!(self.alive(), "the server died");
    }
}

/// Starts `cmd` (an echo command line) and waits for its `listening on` line; a reader thread
/// then drains its stdout until it exits.
fn spawn_server(mut cmd: Command) -> Server {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let child = cmd.spawn().expect("spawn echo");
    // The guard owns the child from here on: a failed start still kills it.
    let mut server = Server {
        process: Process::new(child, secs(2.0)),
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let port = firmware::listening_port(&mut server.child)
        .unwrap_or_else(|e| panic!("echo did not start: {e}"));
    server.addr.set_port(port);
    server
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: `sysconf` has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|&t| t > 0).unwrap_or(100)
}

fn ticks_to_ms(ticks: u64) -> u64 {
    ticks * 1000 / clock_ticks_per_sec()
}

// ---------------------------------------------------------------------------------------------
// Clients and data.
// ---------------------------------------------------------------------------------------------

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, secs(5.0))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(secs(10.0))).expect("read timeout");
    s.set_write_timeout(Some(secs(10.0)))
        .expect("write timeout");
    s
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Fills `out` with bytes `pos..pos + out.len()` of the pseudo-random stream `seed`: every
/// client gets its own stream, and any window of it can be regenerated to check an echo.
fn fill_pattern(seed: u64, mut pos: u64, out: &mut [u8]) {
    let key = splitmix64(seed);
    let mut i = 0;
    while i < out.len() {
        let word = splitmix64(key ^ (pos / 8)).to_le_bytes();
        let k = (pos % 8) as usize;
        let n = (8 - k).min(out.len() - i);
        out[i..i + n].copy_from_slice(&word[k..k + n]);
        i += n;
        pos += n as u64;
    }
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill_pattern(seed, 0, &mut v);
    v
}

/// FNV-1a, continued from `h` (start with `FNV_START`).
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;
fn fnv1a(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Where `got` first differs from the stream `seed` at `pos`.
fn check_window(seed: u64, pos: u64, got: &[u8], scratch: &mut Vec<u8>) -> Result<(), String> {
    scratch.resize(got.len(), 0);
    fill_pattern(seed, pos, scratch);
    if got == &scratch[..] {
        return Ok(());
    }
    let at = got
        .iter()
        .zip(scratch.iter())
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    Err(format!(
        "echoed byte {} differs: got {:#04x}, sent {:#04x}",
        pos + at as u64,
        got[at],
        scratch[at]
    ))
}

/// A blocking client's echo of `total` bytes of stream `seed`, in `chunk`-byte rounds (write a
/// chunk, read until it is back): never more than a chunk in flight, so it cannot deadlock.
fn echo_check(s: &mut TcpStream, seed: u64, total: usize, chunk: usize) -> Result<(), String> {
    let mut out = vec![0; chunk];
    let mut inb = vec![0; chunk];
    let mut scratch = Vec::new();
    let mut pos = 0;
    while pos < total {
        let n = chunk.min(total - pos);
        fill_pattern(seed, pos as u64, &mut out[..n]);
        s.write_all(&out[..n])
            .map_err(|e| format!("write at byte {pos}: {e}"))?;
        let mut got = 0;
        while got < n {
            match s.read(&mut inb[got..n]) {
                Ok(0) => return Err(format!("end of stream after {} bytes", pos + got)),
                Ok(k) => got += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read at byte {}: {e}", pos + got)),
            }
        }
        check_window(seed, pos as u64, &inb[..n], &mut scratch)?;
        pos += n;
    }
    Ok(())
}

/// One client of the many-clients test, driven non-blocking.
struct Flow {
    id: usize,
    sock: TcpStream,
    seed: u64,
    sent: usize,
    recvd: usize,
}

/// Drives `flows` with `poll` until each has sent `total` bytes and read them all back,
/// keeping at most `window` bytes in flight per client. Returns how many finished.
fn drive_flows(
    mut flows: Vec<Flow>,
    total: usize,
    window: usize,
    deadline: Instant,
) -> Result<usize, String> {
    let n_flows = flows.len();
    let mut out = vec![0; 4096];
    let mut inb = vec![0; 16 * 1024];
    let mut scratch = Vec::new();
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(flows.len());
    while !flows.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            let stuck: Vec<String> = flows
                .iter()
                .take(8)
                .map(|f| format!("#{} sent {} got {}", f.id, f.sent, f.recvd))
                .collect();
            return Err(format!(
                "deadline passed with {} of {n_flows} clients unfinished ({})",
                flows.len(),
                stuck.join(", ")
            ));
        }
        fds.clear();
        fds.extend(flows.iter().map(|f| {
            let mut events = libc::POLLIN;
            if f.sent < total && f.sent - f.recvd < window {
                events |= libc::POLLOUT;
            }
            libc::pollfd {
                fd: f.sock.as_raw_fd(),
                events,
                revents: 0,
            }
        }));
        let wait = (deadline - now).min(Duration::from_secs(1));
        let wait_ms = libc::c_int::try_from(wait.as_millis())
            .unwrap_or(1000)
            .max(1);
        let nfds = libc::nfds_t::try_from(fds.len()).expect("nfds");
        // SAFETY: `fds` is a live, exclusively borrowed array of `nfds` pollfd entries.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), nfds, wait_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        for (f, p) in flows.iter_mut().zip(&fds) {
            if p.revents & libc::POLLOUT != 0 && f.sent < total {
                let n = (total - f.sent)
                    .min(window - (f.sent - f.recvd))
                    .min(out.len());
                fill_pattern(f.seed, f.sent as u64, &mut out[..n]);
                match f.sock.write(&out[..n]) {
                    Ok(k) => f.sent += k,
                    Err(e)
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                    Err(e) => {
                        return Err(format!("client #{}: write at byte {}: {e}", f.id, f.sent));
                    }
                }
            }
            if p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0 {
                match f.sock.read(&mut inb) {
                    Ok(0) => {
                        return Err(format!(
                            "client #{}: end of stream after {} of {total} bytes",
                            f.id, f.recvd
                        ));
                    }
                    Ok(k) => {
                        if f.recvd + k > f.sent {
                            return Err(format!(
                                "client #{}: {} bytes back but only {} sent",
                                f.id,
                                f.recvd + k,
                                f.sent
                            ));
                        }
                        check_window(f.seed, f.recvd as u64, &inb[..k], &mut scratch)
                            .map_err(|e| format!("client #{}: {e}", f.id))?;
                        f.recvd += k;
                    }
                    Err(e)
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                    Err(e) => {
                        return Err(format!("client #{}: read at byte {}: {e}", f.id, f.recvd));
                    }
                }
            }
        }
        // Finished clients close their socket here.
        flows.retain(|f| f.recvd < total);
    }
    Ok(n_flows)
}

fn set_linger_zero(s: &TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::linger>()).expect("socklen");
    // SAFETY: `l` is a valid `linger` of `len` bytes, read only during the call; the fd is open.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            len,
        )
    };
    assert_eq!(r, 0, "SO_LINGER: {}", io::Error::last_os_error());
}

fn set_rcvbuf(s: &TcpStream, bytes: libc::c_int) {
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).expect("socklen");
    // SAFETY: `bytes` is a valid `c_int` of `len` bytes, read only during the call.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const libc::c_int).cast(),
            len,
        )
    };
    assert_eq!(r, 0, "SO_RCVBUF: {}", io::Error::last_os_error());
}

/// Joins `h`, turning a panic in the thread into a test failure message.
fn join<T>(h: thread::JoinHandle<T>, what: &str) -> T {
    h.join()
        .unwrap_or_else(|_| panic!("{what} thread panicked"))
}

// ---------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn echo_1000_concurrent_clients_64k_each_through_1k_buffers() {
    let _serial = serial();
    let clients = scaled(1000, 200);
    let threads = 16;
    let total = 64 * 1024;
    raise_nofile(4096);
    // 64 buffers of 1 KiB: at most 32 streams can hold a pair at once, far fewer than clients.
    // (Streams lend their pair back after each event unless a send hit EAGAIN, which loopback's
    // multi-megabyte socket buffers never cause here: parking has its own test below.)
    let mut server = Server::start(&["--buffer-size", "1024", "--buffers", "64"]);
    let started = Instant::now();

    // All clients are connected before any sends: they are all open at once.
    let mut groups: Vec<Vec<Flow>> = (0..threads).map(|_| Vec::new()).collect();
    for id in 0..clients {
        let sock = connect(server.addr);
        sock.set_nonblocking(true).expect("nonblocking");
        groups[id % threads].push(Flow {
            id,
            sock,
            seed: 0x1000 + id as u64,
            sent: 0,
            recvd: 0,
        });
    }
    let deadline = Instant::now() + secs(40.0);
    let handles: Vec<_> = groups
        .into_iter()
        .map(|g| thread::spawn(move || drive_flows(g, total, 16 * 1024, deadline)))
        .collect();
    let mut done = 0;
    let mut errors = Vec::new();
    for h in handles {
        match join(h, "client driver") {
            Ok(n) => done += n,
            Err(e) => errors.push(e),
        }
    }
    eprintln!(
        "echo_1000: {done}/{clients} clients x {total} bytes echoed in {:?}",
        started.elapsed()
    );
    assert!(errors.is_empty(), "client failures: {errors:#?}");
    assert_eq!(done, clients);
    server.assert_serves_new_client(0xf00d);
}

#[test]
fn client_parked_on_an_empty_pool_is_served_once_buffers_return() {
    let _serial = serial();
    // One pair of 1 KiB buffers: a stream that keeps its write buffer leaves no pair for another.
    // (The many-clients test never empties the pool: on loopback the server's socket send
    // buffer grows to megabytes, so a stream keeps buffers between events only after `EAGAIN`.)
    let mut server = Server::start(&["--buffer-size", "1024", "--buffers", "2"]);
    let total = 16 * 1024 * 1024;
    let (seed_a, seed_b) = (0x6a, 0x6b);

    // Client A writes without reading until everything on the way back is full: the server's
    // send fails with EAGAIN and A's stream keeps its write buffer.
    let a = connect(server.addr);
    let mut a_rd = a.try_clone().expect("clone");
    let mut a_wr = a;
    a_wr.set_write_timeout(Some(secs(20.0))).expect("timeout");
    let written = Arc::new(AtomicUsize::new(0));
    let progress = Arc::clone(&written);
    let writer = thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        let mut pos = 0;
        while pos < total {
            let n = buf.len().min(total - pos);
            fill_pattern(seed_a, pos as u64, &mut buf[..n]);
            a_wr.write_all(&buf[..n])
                .map_err(|e| format!("A: write at byte {pos}: {e}"))?;
            pos += n;
            progress.store(pos, Ordering::Relaxed);
        }
        Ok::<(), String>(())
    });
    let deadline = Instant::now() + secs(10.0);
    let mut last = usize::MAX;
    loop {
        thread::sleep(short(300));
        let now = written.load(Ordering::Relaxed);
        if now == last && now >= 4 * 1024 * 1024 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A's writes never stalled ({now} bytes written)"
        );
        last = now;
    }

    // Client B now finds the pool empty: it must wait (parked), not fail.
    let mut b = connect(server.addr);
    let mut probe = vec![0; 1024];
    fill_pattern(seed_b, 0, &mut probe);
    b.write_all(&probe).expect("B: write");
    b.set_read_timeout(Some(short(500))).expect("timeout");
    let mut got = vec![0; probe.len()];
    match b.read(&mut got) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!(
            "B got {other:?} while A held the only buffers: the pool was not empty, so this test \
             no longer exercises parking"
        ),
    }

    // A reads: its stream drains and gives its buffers back, and B is woken and served.
    let reader = thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        let mut scratch = Vec::new();
        let mut pos = 0;
        while pos < total {
            let n = match a_rd.read(&mut buf) {
                Ok(0) => return Err(format!("A: end of stream after {pos} bytes")),
                Ok(n) => n.min(total - pos),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("A: read at byte {pos}: {e}")),
            };
            check_window(seed_a, pos as u64, &buf[..n], &mut scratch)
                .map_err(|e| format!("A: {e}"))?;
            pos += n;
        }
        Ok(())
    });
    b.set_read_timeout(Some(secs(10.0))).expect("timeout");
    b.read_exact(&mut got)
        .expect("B: no echo after A drained and returned its buffers");
    assert!(got == probe, "B: the echo differs from what was sent");
    echo_check(&mut b, seed_b + 1, 16 * 1024, 4096).expect("B: echo after being unparked");
    join(writer, "A writer").expect("A writer");
    join(reader, "A reader").expect("A reader");
    server.assert_serves_new_client(0x6c);
}

#[test]
fn echo_one_byte_at_a_time() {
    let mut server = Server::start(&[]);
    let mut s = connect(server.addr);
    s.set_nodelay(true).expect("TCP_NODELAY");
    let n = 2000;
    let data = pattern(2, n);
    let mut rd = s.try_clone().expect("clone");
    let reader = thread::spawn(move || {
        let mut got = vec![0; n];
        rd.read_exact(&mut got).map(|()| got)
    });
    for b in &data {
        s.write_all(std::slice::from_ref(b))
            .expect("one-byte write");
    }
    let got = join(reader, "reader").expect("read the echo");
    assert!(got == data, "the echo differs from what was sent");
    assert!(server.alive());
}

#[test]
fn clients_that_close_early_or_reset_do_not_hurt_others() {
    let _serial = serial();
    let mut server = Server::start(&["--buffer-size", "1024", "--buffers", "64"]);
    let addr = server.addr;
    let (closers, resetters, good) = (scaled(100, 40), scaled(100, 40), scaled(20, 10));

    // Well-behaved clients, all running while the others misbehave.
    let good_handles: Vec<_> = (0..good)
        .map(|i| {
            thread::spawn(move || {
                let mut s = connect(addr);
                echo_check(&mut s, 0x3000 + i as u64, 64 * 1024, 4096)
            })
        })
        .collect();

    // Clients that send 32 KiB and close without reading a byte of the echo.
    let closer = thread::spawn(move || {
        let data = pattern(0x31, 32 * 1024);
        for _ in 0..closers {
            let mut s = connect(addr);
            s.write_all(&data).expect("closer write");
        }
    });

    // Clients that reset mid-transfer (SO_LINGER 0, then close: RST). All open at once, each
    // sends 8 KiB; then each reads a little of its echo, sends 1 KiB more and aborts — half of
    // them at once, half after the rest — while echoed bytes are still in flight.
    let resetter = thread::spawn(move || {
        let data = pattern(0x32, 8 * 1024);
        let mut socks = Vec::new();
        for _ in 0..resetters {
            let mut s = connect(addr);
            s.write_all(&data).expect("resetter write");
            socks.push(s);
        }
        let mut later = Vec::new();
        for (i, mut s) in socks.into_iter().enumerate() {
            let mut b = [0; 100];
            let _ = s.read(&mut b);
            s.write_all(&data[..1024]).expect("resetter write");
            set_linger_zero(&s);
            if i % 2 == 0 {
                drop(s);
            } else {
                later.push(s);
            }
        }
        drop(later);
    });

    join(closer, "closer");
    join(resetter, "resetter");
    let failures: Vec<String> = good_handles
        .into_iter()
        .enumerate()
        .filter_map(|(i, h)| join(h, "good client").err().map(|e| format!("#{i}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "well-behaved clients failed: {failures:#?}"
    );
    server.assert_serves_new_client(0x3fff);
}

#[test]
fn half_close_gets_all_data_back() {
    let mut server = Server::start(&[]);
    let mut s = connect(server.addr);
    let data = pattern(4, 100 * 1024);
    let mut rd = s.try_clone().expect("clone");
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        rd.read_to_end(&mut got).map(|_| got)
    });
    s.write_all(&data).expect("write");
    s.shutdown(Shutdown::Write).expect("shutdown(Write)");
    let got = join(reader, "reader").expect("read until end of stream");
    assert_eq!(got.len(), data.len(), "bytes echoed before end of stream");
    assert!(got == data, "the echo differs from what was sent");
    assert!(server.alive());
}

/// One slow-reading client: a writer thread sends `total` bytes as fast as it can while this
/// thread reads 8 KiB at a time with a sleep in between. `sample` runs every few reads.
/// Returns (hash sent, hash received, bytes received, max bytes in flight).
fn slow_transfer(
    addr: SocketAddr,
    seed: u64,
    total: usize,
    pause: Duration,
    mut sample: impl FnMut(),
) -> (u64, u64, usize, usize) {
    let s = connect(addr);
    // A small receive window keeps the kernel from absorbing the whole transfer.
    set_rcvbuf(&s, 64 * 1024);
    let mut rd = s.try_clone().expect("clone");
    let sent = Arc::new(AtomicUsize::new(0));
    let progress = Arc::clone(&sent);
    let mut ws = s;
    let writer = thread::spawn(move || {
        let mut h = FNV_START;
        let mut buf = vec![0; 32 * 1024];
        let mut pos = 0;
        while pos < total {
            let n = buf.len().min(total - pos);
            fill_pattern(seed, pos as u64, &mut buf[..n]);
            ws.write_all(&buf[..n])?;
            h = fnv1a(h, &buf[..n]);
            pos += n;
            progress.store(pos, Ordering::Relaxed);
        }
        ws.shutdown(Shutdown::Write)?;
        io::Result::Ok(h)
    });
    let mut h = FNV_START;
    let mut buf = vec![0; 8 * 1024];
    let mut scratch = Vec::new();
    let mut got = 0;
    let mut max_in_flight = 0;
    let mut reads = 0u32;
    loop {
        let n = match rd.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("slow reader: read at byte {got}: {e}"),
        };
        if let Err(e) = check_window(seed, got as u64, &buf[..n], &mut scratch) {
            panic!("slow reader: {e}");
        }
        h = fnv1a(h, &buf[..n]);
        got += n;
        max_in_flight = max_in_flight.max(sent.load(Ordering::Relaxed).saturating_sub(got));
        reads += 1;
        if reads % 16 == 0 {
            sample();
        }
        thread::sleep(pause);
    }
    let sent_hash = join(writer, "writer").expect("writer");
    (sent_hash, h, got, max_in_flight)
}

#[test]
fn slow_reader_backpressure() {
    let _serial = serial();
    let server = Server::start(&[]);
    // Warm up every code path (and, under QEMU, its translation cache) before the baseline.
    let (a, b, n, _) = slow_transfer(server.addr, 0x50, 512 * 1024, Duration::ZERO, || {});
    assert_eq!((a, n), (b, 512 * 1024), "warm-up transfer");
    let base = server.rss_kib();
    let mut peak = base;
    let total = 4 * 1024 * 1024;
    let started = Instant::now();
    let (sent_hash, got_hash, got, max_in_flight) =
        slow_transfer(server.addr, 0x51, total, Duration::from_millis(2), || {
            peak = peak.max(server.rss_kib());
        });
    peak = peak.max(server.rss_kib());
    eprintln!(
        "slow_reader: {got} bytes in {:?}, up to {} KiB in flight, server VmRSS {base} KiB -> \
         peak {peak} KiB (+{} KiB)",
        started.elapsed(),
        max_in_flight / 1024,
        peak - base
    );
    assert_eq!(got, total, "bytes echoed");
    assert_eq!(
        sent_hash, got_hash,
        "hash of the echo differs from the hash of what was sent"
    );
    assert!(
        peak - base <= 1024,
        "server RSS grew by {} KiB during the transfer (limit 1024 KiB)",
        peak - base
    );
}

/// Whether util-linux `prlimit` can be run.
fn have_prlimit() -> bool {
    Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_with_nofile(limit: u64, args: &[&str]) -> Server {
    if have_prlimit() {
        let arg = format!("--nofile={limit}:{limit}");
        return Server::start_with(&["prlimit", &arg, "--"], args);
    }
    // Fallback: set the limit in the child between fork and exec.
    let mut all = vec!["--port", "0", "--host", "127.0.0.1"];
    all.extend_from_slice(args);
    let mut cmd = echo_command(&[], &all);
    let lim = libc::rlimit {
        rlim_cur: libc::rlim_t::try_from(limit).expect("limit"),
        rlim_max: libc::rlim_t::try_from(limit).expect("limit"),
    };
    // SAFETY: the closure runs in the forked child before exec and only calls `setrlimit`,
    // which is async-signal-safe, on a value copied into the closure.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    spawn_server(cmd)
}

/// Whether the byte `want` came back on `s` (non-blocking check).
fn echoed(s: &mut TcpStream, want: u8) -> Result<bool, String> {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(1) if b[0] == want => Ok(true),
        Ok(1) => Err(format!("echoed {:#04x}, sent {want:#04x}", b[0])),
        Ok(_) => Err("end of stream".into()),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn emfile_keeps_server_responsive_and_idle() {
    let _serial = serial();
    let server = start_with_nofile(32, &[]);
    let n = 60;
    let mut clients: Vec<Option<TcpStream>> = (0..n).map(|_| Some(connect(server.addr))).collect();
    // Let the server accept what it can and run into EMFILE on the rest.
    thread::sleep(short(300));

    let t0 = server.cpu_ticks();
    thread::sleep(Duration::from_secs(2));
    let spent = server.cpu_ticks() - t0;
    eprintln!(
        "emfile: server CPU over 2 s with {n} clients waiting: {spent} ticks ({} ms)",
        ticks_to_ms(spent)
    );
    assert!(
        ticks_to_ms(spent) < 100,
        "the server used {} ms of CPU in 2 s with clients waiting in the backlog (spinning?)",
        ticks_to_ms(spent)
    );

    // Which clients does the server serve now? Each sends its index; accepted ones echo it.
    for (i, c) in clients.iter_mut().enumerate() {
        let c = c.as_mut().expect("open");
        c.write_all(&[i as u8]).expect("write probe");
        c.set_nonblocking(true).expect("nonblocking");
    }
    let mut served = vec![false; n];
    let deadline = Instant::now() + secs(3.0);
    let mut last_new = Instant::now();
    while Instant::now() < deadline && last_new.elapsed() < short(500) {
        for (i, c) in clients.iter_mut().enumerate() {
            if !served[i] && echoed(c.as_mut().expect("open"), i as u8).expect("probe echo") {
                served[i] = true;
                last_new = Instant::now();
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    let accepted = served.iter().filter(|&&s| s).count();
    let waiting: Vec<usize> = (0..n).filter(|&i| !served[i]).collect();
    eprintln!("emfile: {accepted} of {n} clients accepted under a limit of 32 descriptors");
    assert!(accepted > 0, "no client was served at all");
    assert!(
        !waiting.is_empty(),
        "every client was accepted: the descriptor limit did not bite"
    );

    // Free 20 descriptors: waiting clients must now be accepted and get their byte back.
    for c in clients.iter_mut().take(20) {
        drop(c.take());
    }
    let deadline = Instant::now() + secs(2.0);
    let mut now_served = 0;
    while Instant::now() < deadline {
        for &i in &waiting {
            if !served[i] && echoed(clients[i].as_mut().expect("open"), i as u8).expect("echo") {
                served[i] = true;
                now_served += 1;
            }
        }
        if now_served >= waiting.len().min(20) {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    eprintln!("emfile: {now_served} previously waiting clients served after closing 20");
    assert!(
        now_served > 0,
        "no waiting client was served after 20 descriptors were freed"
    );
}

#[test]
fn idle_server_uses_no_cpu() {
    let _serial = serial();
    let server = Server::start(&[]);
    let mut s = connect(server.addr);
    echo_check(&mut s, 7, 1024, 1024).expect("echo");
    thread::sleep(Duration::from_millis(100));
    let t0 = server.cpu_ticks();
    thread::sleep(Duration::from_secs(2));
    let spent = server.cpu_ticks() - t0;
    eprintln!(
        "idle: server CPU over 2 s: {spent} ticks ({} ms)",
        ticks_to_ms(spent)
    );
    assert!(
        ticks_to_ms(spent) < 50,
        "an idle server used {} ms of CPU in 2 s",
        ticks_to_ms(spent)
    );
    echo_check(&mut s, 8, 1024, 1024).expect("echo after idling");
}

fn exits_zero_on(sig: libc::c_int) {
    let mut server = Server::start(&[]);
    let mut s = connect(server.addr);
    echo_check(&mut s, 9, 1024, 1024).expect("echo");
    server.signal(sig);
    let st = server
        .wait_exit(secs(1.0))
        .unwrap_or_else(|| panic!("no exit within {:?} of signal {sig}", secs(1.0)));
    assert_eq!(st.code(), Some(0), "exit status after signal {sig}: {st}");
}

#[test]
fn sigterm_exits_zero() {
    exits_zero_on(libc::SIGTERM);
}

#[test]
fn sigint_exits_zero() {
    exits_zero_on(libc::SIGINT);
}

/// Runs echo with `args` to completion (bounded) and returns (status, stderr).
fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let mut cmd = echo_command(&[], args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut server = Process::new(cmd.spawn().expect("spawn echo"), secs(2.0));
    let st = server
        .wait_exit(secs(5.0))
        .unwrap_or_else(|| panic!("echo {args:?} did not exit"));
    let mut err = String::new();
    if let Some(mut e) = server.child.stderr.take() {
        e.read_to_string(&mut err).expect("read stderr");
    }
    (st, err)
}

#[test]
fn bad_arguments_exit_2() {
    let (st, err) = run_to_exit(&["--port", "abc", "--host", "127.0.0.1"]);
    assert_eq!(
        st.code(),
        Some(2),
        "status for --port abc: {st}; stderr {err:?}"
    );
    assert!(
        err.contains("--port"),
        "stderr names the bad option: {err:?}"
    );
}

#[test]
fn port_in_use_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (st, err) = run_to_exit(&["--port", &port, "--host", "127.0.0.1"]);
    assert_eq!(
        st.code(),
        Some(1),
        "status with port {port} taken: {st}; stderr {err:?}"
    );
    assert!(err.contains("cannot start"), "stderr: {err:?}");
}
