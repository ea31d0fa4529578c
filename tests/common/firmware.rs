//! What every integration test that starts a firmware example as a child process shares:
//! the emulator from `EDGELOOP_TEST_RUNNER` (QEMU user emulation), time bounds stretched under
//! it, a lock for tests that must run alone, the descriptor limit, and the example binary next
//! to the test executable, refused when it is older than its sources; the child itself
//! ([`Process`]: signalled, waited for with a bound, stopped on drop), and the `hello_world`
//! example as one ([`HelloWorld`]).
//!
//! Included with `#[path = "common/firmware.rs"] mod firmware;` (or `#[path = "firmware.rs"]`
//! from another file of `tests/common/`).

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// The emulator (and its arguments) from `EDGELOOP_TEST_RUNNER`, empty when running natively.
pub fn runner() -> Vec<String> {
    std::env::var("EDGELOOP_TEST_RUNNER")
        .map(|r| r.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether the tests run under QEMU user emulation.
pub fn emulated() -> bool {
    !runner().is_empty()
}

/// A time bound: `native` seconds, stretched tenfold under emulation.
pub fn secs(native: f64) -> Duration {
    let factor = if emulated() { 10.0 } else { 1.0 };
    Duration::from_secs_f64(native * factor)
}

/// Serialises the load-heavy or timing-sensitive tests of one test binary, so they neither
/// starve each other's deadlines nor disturb each other's figures.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Raises the soft descriptor limit of the test process to at least `want` (up to the hard
/// limit). Children inherit it.
pub fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` into the valid, exclusively borrowed `lim`.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(r, 0, "getrlimit: {}", io::Error::last_os_error());
    // `rlim_t` is 32 bits on armv7-gnueabihf, 64 elsewhere.
    let want = libc::rlim_t::try_from(want).unwrap_or(libc::rlim_t::MAX);
    if lim.rlim_cur >= want {
        return;
    }
    lim.rlim_cur = want.min(lim.rlim_max);
    // SAFETY: `setrlimit` only reads the valid `lim`.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(r, 0, "setrlimit: {}", io::Error::last_os_error());
}

/// `target/<profile>/examples/<name>`, found from the test executable
/// (`target/<profile>/deps/<test>-…`): `Err` (with `hint` on how to build it) when it is
/// missing or older than one of its sources.
pub fn example(name: &str, hint: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the test binary is not in target/<profile>/deps")?;
    fresh(&dir.join("examples").join(name), hint)
}

/// `bin` if it exists and is not older than the sources its cargo dep-info (`<bin>.d`) lists;
/// otherwise `Err` naming what is wrong, with `hint`.
pub fn fresh(bin: &Path, hint: &str) -> Result<PathBuf, String> {
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .map_err(|e| format!("{}: {e}; {hint}", bin.display()))?;
    // Cargo's dep-info lists the sources the binary was built from: `target: src1 src2 …`,
    // with spaces inside paths escaped as `\ `.
    let dep_info = std::fs::read_to_string(bin.with_extension("d")).unwrap_or_default();
    let deps = dep_info
        .lines()
        .next()
        .and_then(|l| l.split_once(": "))
        .map_or(String::new(), |(_, d)| d.replace("\\ ", "\u{0}"));
    let stale: Vec<String> = deps
        .split_whitespace()
        .map(|d| d.replace('\u{0}', " "))
        .filter(|d| {
            std::fs::metadata(d)
                .and_then(|m| m.modified())
                .is_ok_and(|m| m > built)
        })
        .collect();
    if stale.is_empty() {
        Ok(bin.to_path_buf())
    } else {
        Err(format!("{} is older than {stale:?}; {hint}", bin.display()))
    }
}

/// The port a firmware child started with `--port 0 --host 127.0.0.1` and a piped stdout
/// reports on its first line, `listening on 127.0.0.1:PORT`, waited for at most `secs(10.0)`;
/// the rest of its output is drained in the background. `Err` says what came instead. The
/// caller keeps the child in its kill-on-drop guard meanwhile, so a failed start still stops it.
pub fn listening_port(child: &mut Child) -> Result<u16, String> {
    let line = first_line(child)?;
    match line
        .trim_end()
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|p| p.parse().ok())
    {
        Some(0) => Err("it reported port 0".into()),
        Some(port) => Ok(port),
        None => Err(format!("unexpected first line: {line:?}")),
    }
}

/// The first line a child with a piped stdout prints, waited for at most `secs(10.0)`; the rest
/// of its output is drained in the background. `Err` when none comes (or stdout ends first).
pub fn first_line(child: &mut Child) -> Result<String, String> {
    let stdout = child
        .stdout
        .take()
        .ok_or("the child's stdout is not piped")?;
    let mut out = BufReader::new(stdout);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let r = out.read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
        let _ = io::copy(&mut out, &mut io::sink());
    });
    match rx.recv_timeout(secs(10.0)) {
        Ok(Ok(l)) if !l.is_empty() => Ok(l),
        other => Err(format!("no first line: {other:?}")),
    }
}

/// `prefix… [RUNNER…] bin args…`: the binary started through the emulator when there is one.
pub fn command(prefix: &[&str], bin: &Path, args: &[&str]) -> Command {
    let mut words: Vec<OsString> = prefix.iter().map(OsString::from).collect();
    words.extend(runner().into_iter().map(OsString::from));
    words.push(bin.as_os_str().to_owned());
    words.extend(args.iter().map(OsString::from));
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..]);
    cmd
}

/// A child process the test started and owns. Dropping it while it runs sends SIGTERM, gives it
/// `grace` to exit, then kills it (only this child, by its pid).
pub struct Process {
    /// The child.
    pub child: Child,
    /// Its pid.
    pub pid: i32,
    grace: Duration,
}

impl Process {
    /// Takes ownership of `child`; `grace` is how long a drop waits after SIGTERM.
    pub fn new(child: Child, grace: Duration) -> Process {
        let pid = i32::try_from(child.id()).expect("pid");
        Process { child, pid, grace }
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `sig`, asserting it was delivered.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: a plain system call on the pid of a child we own and have not reaped yet.
        let r = unsafe { libc::kill(self.pid, sig) };
        assert_eq!(r, 0, "kill({}): {}", self.pid, io::Error::last_os_error());
    }

    /// Waits for it to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if !self.alive() {
            return;
        }
        // SAFETY: as in `signal`; errors are ignored, the kill below is the fallback.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        if self.wait_exit(self.grace).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

const HELLO_WORLD_HINT: &str = "run `cargo build --features firmware --examples` first (with the \
                                same --target, profile and CARGO_TARGET_DIR as the tests); plain \
                                `cargo test` does not build the firmware examples";

/// `target/<profile>/examples/hello_world` next to the test executable, not older than its
/// sources.
pub fn hello_world_path() -> PathBuf {
    example("hello_world", HELLO_WORLD_HINT).unwrap_or_else(|e| panic!("{e}"))
}

/// A running `hello_world --port 0 --host 127.0.0.1`. Dropping it sends SIGTERM, waits up to
/// `secs(3.0)`, then kills.
pub struct HelloWorld {
    /// The process.
    pub process: Process,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl HelloWorld {
    /// Starts the binary and waits for its `listening on 127.0.0.1:PORT` line.
    pub fn start() -> HelloWorld {
        let child = command(
            &[],
            &hello_world_path(),
            &["--port", "0", "--host", "127.0.0.1"],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn hello_world");
        // The guard owns the child from here on: a failed start still kills it.
        let mut hw = HelloWorld {
            process: Process::new(child, secs(3.0)),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let port = listening_port(&mut hw.process.child)
            .unwrap_or_else(|e| panic!("hello_world did not start: {e}"));
        hw.addr.set_port(port);
        hw
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.process.alive()
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}
