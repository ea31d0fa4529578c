//! `cargo xtask systest [--board NAME] [--example EX] [--port N]`, also the last step of
//! `cargo xtask test` (unless `--no-qemu`): the firmware boots as PID 1 on
//! `qemu-system-aarch64 -M virt` (see [`crate::qemu`]) and is checked from the host through
//! QEMU's port forwarding.
//!
//! 1. build the firmware, fetch the kernel, write the initramfs (`target/qemu-systest/`);
//! 2. boot, the serial console going to `target/qemu-systest/console.log`;
//! 3. wait (at most [`BOOT_TIMEOUT`]) until `GET /` answers; the time from QEMU's start to that
//!    first answer is printed;
//! 4. `GET /`, `GET /api/status` (must say `"arch":"aarch64"`), `GET /metrics`: 200 each;
//! 5. `POST /api/poweroff`, then QEMU must exit by itself with status 0 within
//!    [`POWEROFF_TIMEOUT`] (else it is killed and the test fails);
//! 6. the console must say that the defmt frames went to the virtio port, and hold none of them
//!    (no NUL byte: frames end with one);
//! 7. the frames QEMU captured from the virtio-serial port `edgeloop.defmt`
//!    (`target/qemu-systest/defmt.bin`, kept) are decoded on the host against the firmware ELF
//!    by `cargo test -p tests-defmt --test qemu_status` (see `tests-defmt/tests/qemu_status.rs`;
//!    [`decoder_command`]), which prints them and requires the firmware's start-up, `listening`
//!    and power-off lines, with no malformed frame.
//!
//! The decoder stays in its own package: `defmt-decoder` is std, and as a dependency of xtask or
//! edgeloop its features would leak into the no_std firmware builds.
//!
//! The HTTP client is a few lines of std: HTTP/1.1 with `Connection: close`, bodies framed by
//! `Content-Length`, `chunked` or the end of the connection. On failure the board, the step and
//! the console log (kept) are printed, with the log's last lines.

use crate::process::{self, cargo};
use crate::qemu::{self, Console, Guest};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Longest wait from QEMU's start to the firmware's first HTTP answer.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait from the power-off request to QEMU's exit.
pub const POWEROFF_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for one HTTP exchange.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the system test; `Err` says which board and step failed and where the console log is.
pub fn run(root: &Path, opts: &qemu::Options) -> Result<(), String> {
    let started = Instant::now();
    let work = root.join("target").join("qemu-systest");
    let log = work.join("console.log");
    let defmt = work.join(qemu::DEFMT_FILE);
    // Logs and frames left by an earlier run would be mistaken for this one's.
    let _ = fs::remove_file(&log);
    let _ = fs::remove_file(&defmt);
    let mut test = Systest {
        board: &opts.board,
        example: &opts.example,
        log: &log,
        defmt: &defmt,
        step: "prepare (build firmware, kernel, initramfs)",
    };
    let guest = test.check(qemu::prepare(root, &opts.board, &opts.example, &work))?;
    let fw_size = fs::metadata(&guest.firmware).map(|m| m.len()).unwrap_or(0);
    println!(
        "firmware {} ({} KiB)",
        guest.firmware.display(),
        fw_size / 1024
    );
    let port = match opts.port {
        Some(p) => p,
        None => test.check(free_port())?,
    };

    test.step = "start qemu-system-aarch64";
    test.check(fs::create_dir_all(&work).map_err(|e| e.to_string()))?;
    let qemu_log = work.join("qemu.log");
    let qemu_out = test.check(fs::File::create(&qemu_log).map_err(|e| e.to_string()))?;
    let qemu_err = test.check(qemu_out.try_clone().map_err(|e| e.to_string()))?;
    let mut cmd = qemu::command(&guest, port, Console::File(&log));
    cmd.stdin(Stdio::null()).stdout(qemu_out).stderr(qemu_err);
    println!("$ {}", process::describe(&cmd));
    let booted = Instant::now();
    let child = test.check(cmd.spawn().map_err(|e| format!("cannot start QEMU: {e}")))?;
    let mut vm = Vm(child);
    println!(
        "QEMU pid {}, console -> {}, defmt -> {}, http://127.0.0.1:{port}/ -> guest :80",
        vm.0.id(),
        log.display(),
        guest.defmt.display()
    );

    test.step = "boot (wait for the first HTTP answer to GET /)";
    let first = test.check(wait_for_http(&mut vm, port, &qemu_log))?;
    let boot_time = booted.elapsed();
    println!(
        "first HTTP answer {:.1} s after QEMU started (GET / -> {})",
        boot_time.as_secs_f64(),
        first.status
    );

    test.step = "GET /";
    test.check(expect_ok(&first))?;
    test.check(non_empty(&first))?;

    test.step = "GET /api/status";
    let status = test.check(get(port, "/api/status"))?;
    test.check(expect_ok(&status))?;
    let body = String::from_utf8_lossy(&status.body);
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("\"arch\":\"aarch64\"") {
        return Err(test.failed(&format!(
            "the status JSON does not say \"arch\":\"aarch64\": {}",
            snippet(&body)
        )));
    }
    println!("GET /api/status -> {}: {}", status.status, snippet(&body));

    test.step = "GET /metrics";
    let metrics = test.check(get(port, "/metrics"))?;
    test.check(expect_ok(&metrics))?;
    test.check(non_empty(&metrics))?;
    println!(
        "GET /metrics -> {} ({} bytes)",
        metrics.status,
        metrics.body.len()
    );

    test.step = "POST /api/poweroff";
    let asked = Instant::now();
    match request(port, "POST", "/api/poweroff") {
        Ok(r) if (200..300).contains(&r.status) => {
            println!("POST /api/poweroff -> {}", r.status);
        }
        Ok(r) => {
            return Err(test.failed(&format!(
                "expected a 2xx answer, got {}: {}",
                r.status,
                snippet(&String::from_utf8_lossy(&r.body))
            )));
        }
        // The guest may power off before its answer crosses QEMU's user network: what
        // counts is that QEMU then exits by itself.
        Err(e) => println!("POST /api/poweroff: no answer ({e}); waiting for the power-off"),
    }

    test.step = "power-off (QEMU exits by itself with status 0)";
    let status = test.check(vm.wait_exit(POWEROFF_TIMEOUT))?;
    if !status.success() {
        return Err(test.failed(&format!("QEMU exited with {status}")));
    }
    println!(
        "QEMU exited ({status}) {:.1} s after the power-off request",
        asked.elapsed().as_secs_f64()
    );

    test.step = "console (the defmt frames went to the virtio port)";
    let console =
        test.check(fs::read(&log).map_err(|e| format!("cannot read the console: {e}")))?;
    test.check(console_check(&console))?;

    test.step = "decode the defmt frames (tests-defmt, qemu_status)";
    let frames = fs::metadata(&guest.defmt).map_or(0, |m| m.len());
    if frames == 0 {
        return Err(test.failed(&format!(
            "{} is missing or empty: the firmware sent no frame to the virtio port {}",
            guest.defmt.display(),
            qemu::DEFMT_PORT
        )));
    }
    println!("defmt frames: {} ({frames} bytes)", guest.defmt.display());
    test.check(process::run(&mut decoder_command(root, &guest)))?;
    println!(
        "systest passed: board {}, example {}: boot to first response {:.1} s, \
         whole test {:.1} s (console: {}, defmt: {})",
        opts.board,
        opts.example,
        boot_time.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        log.display(),
        guest.defmt.display()
    );
    Ok(())
}

/// The console of a firmware that found its defmt port: the plain-text line that says so, and
/// not a single frame (each ends with a NUL byte, which kernel and firmware text never holds).
pub fn console_check(console: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(console);
    let said = format!("(virtio port {})", qemu::DEFMT_PORT);
    if !text
        .lines()
        .any(|l| l.contains("status: defmt logs -> /dev/") && l.contains(&said))
    {
        return Err(format!(
            "the console does not say `status: defmt logs -> /dev/... {said}`: the firmware \
             did not send its frames to the virtio port"
        ));
    }
    if let Some(at) = console.iter().position(|&b| b == 0) {
        return Err(format!(
            "the console holds defmt frames (a NUL byte at offset {at}): frames went to the \
             serial console"
        ));
    }
    Ok(())
}

/// `cargo test -p tests-defmt --test qemu_status`, told where the captured frames and the
/// firmware ELF are (`EDGELOOP_QEMU_DEFMT`, `EDGELOOP_QEMU_FIRMWARE`); it prints the decoded
/// lines (`--nocapture`).
pub fn decoder_command(root: &Path, guest: &Guest) -> Command {
    let mut cmd = cargo(root);
    cmd.args([
        "test",
        "--package",
        "tests-defmt",
        "--test",
        "qemu_status",
        "--",
        "--nocapture",
    ])
    .env("EDGELOOP_QEMU_DEFMT", &guest.defmt)
    .env("EDGELOOP_QEMU_FIRMWARE", &guest.firmware);
    cmd
}

/// The failure context: which board, which step, which logs.
struct Systest<'a> {
    board: &'a str,
    example: &'a str,
    log: &'a Path,
    /// The captured defmt frames.
    defmt: &'a Path,
    step: &'static str,
}

impl Systest<'_> {
    fn check<T>(&self, r: Result<T, String>) -> Result<T, String> {
        r.map_err(|e| self.failed(&e))
    }

    fn failed(&self, why: &str) -> String {
        let mut msg = format!(
            "systest failed: board {}, example {}, step `{}`: {why}",
            self.board, self.example, self.step,
        );
        if self.defmt.exists() {
            msg.push_str(&format!(
                "\n  defmt frames (kept): {}",
                self.defmt.display()
            ));
        }
        if !self.log.exists() {
            msg.push_str("\n  (no console log: QEMU did not start)");
        } else if let Ok(bytes) = fs::read(self.log) {
            // Lossy: frames that went to the console are not UTF-8, and the text around them
            // says most.
            let text = String::from_utf8_lossy(&bytes);
            msg.push_str(&format!("\n  console log (kept): {}", self.log.display()));
            let lines: Vec<&str> = text.lines().collect();
            msg.push_str("\n  last console lines:");
            for l in &lines[lines.len().saturating_sub(25)..] {
                msg.push_str("\n  | ");
                msg.push_str(&snippet(l));
            }
        }
        msg
    }
}

/// The QEMU process; killed (by its PID) if still running when dropped.
struct Vm(Child);

impl Vm {
    fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }

    /// Waits up to `limit` for QEMU to exit; kills it and fails after that.
    fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        Err(format!(
            "QEMU still running {} s after the power-off request: killed",
            limit.as_secs()
        ))
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// An unused TCP port on 127.0.0.1 (free when this returns; QEMU binds it right after).
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Polls `GET /` until it answers, QEMU exits, or [`BOOT_TIMEOUT`] passes.
fn wait_for_http(vm: &mut Vm, port: u16, qemu_log: &Path) -> Result<Response, String> {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        if let Some(status) = vm.exited() {
            let qemu_said = fs::read_to_string(qemu_log).unwrap_or_default();
            return Err(format!(
                "QEMU exited ({status}) before the firmware answered{}",
                if qemu_said.trim().is_empty() {
                    String::new()
                } else {
                    format!("; QEMU said: {}", qemu_said.trim())
                }
            ));
        }
        // Before the guest listens, QEMU accepts the host connection and then closes it:
        // only a parsed HTTP answer counts.
        match request_with(port, "GET", "/", Duration::from_secs(1)) {
            Ok(r) => return Ok(r),
            Err(e) => last = e,
        }
        sleep(Duration::from_millis(250));
    }
    Err(format!(
        "no HTTP answer within {} s (last attempt: {last})",
        BOOT_TIMEOUT.as_secs()
    ))
}

fn expect_ok(r: &Response) -> Result<(), String> {
    if r.status == 200 {
        Ok(())
    } else {
        Err(format!(
            "expected 200, got {}: {}",
            r.status,
            snippet(&String::from_utf8_lossy(&r.body))
        ))
    }
}

fn non_empty(r: &Response) -> Result<(), String> {
    if r.body.is_empty() {
        Err("empty body".into())
    } else {
        Ok(())
    }
}

/// The first 200 characters of `s`, on one line.
fn snippet(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if s.chars().count() > 200 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

/// An HTTP response.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The header lines (without the status line), lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn get(port: u16, path: &str) -> Result<Response, String> {
    request(port, "GET", path)
}

fn request(port: u16, method: &str, path: &str) -> Result<Response, String> {
    request_with(port, method, path, REQUEST_TIMEOUT)
}

/// One HTTP/1.1 exchange with 127.0.0.1:`port`, bounded by `timeout` in total.
fn request_with(
    port: u16,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<Response, String> {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: edgeloop-systest\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.set_write_timeout(Some(timeout))
        .and_then(|()| s.write_all(req.as_bytes()))
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no complete answer within {} s", timeout.as_secs()));
        }
        s.set_read_timeout(Some(left))
            .map_err(|e| format!("socket: {e}"))?;
        let (n, eof) = match s.read(&mut chunk) {
            Ok(0) => (0, true),
            Ok(n) => (n, false),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("no complete answer within {} s", timeout.as_secs()));
            }
            // A reset after a complete answer is still an answer.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset) => (0, true),
            Err(e) => return Err(format!("receive: {e}")),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(r) = parse_response(&buf, eof)? {
            return Ok(r);
        }
        if eof {
            return Err(if buf.is_empty() {
                "connection closed without an answer".into()
            } else {
                format!(
                    "truncated answer: {}",
                    snippet(&String::from_utf8_lossy(&buf))
                )
            });
        }
    }
}

/// Parses an HTTP/1.x response: `Ok(None)` while incomplete (a body without a length is
/// complete only at `eof`).
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<Response>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "non-UTF-8 response head")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("bad status line {status_line:?}"));
    };
    let status = match code.parse::<u16>() {
        Ok(c) if version.starts_with("HTTP/1.") && (100..600).contains(&c) => c,
        _ => return Err(format!("bad status line {status_line:?}")),
    };
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line {l:?}"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let rest = &buf[end + 4..];
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        match dechunk(rest)? {
            Some(b) => b,
            None => return Ok(None),
        }
    } else if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        if rest.len() < len {
            return Ok(None);
        }
        rest[..len].to_vec()
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if eof {
        rest.to_vec()
    } else {
        return Ok(None);
    };
    Ok(Some(Response {
        status,
        headers,
        body,
    }))
}

/// Decodes a `chunked` body: `Ok(None)` until the last chunk (and the trailer's end) arrived.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_line = std::str::from_utf8(&data[..eol]).map_err(|_| "bad chunk size")?;
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_line:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            // Trailer fields, then an empty line.
            return Ok(data.windows(2).position(|w| w == b"\r\n").map(|_| body));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        if &data[size..size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::{Guest, Path, console_check, decoder_command, parse_response, process, snippet};

    #[test]
    fn content_length_body() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"arch\":\"aarch64\"}";
        assert_eq!(parse_response(&r[..r.len() - 1], false).unwrap(), None);
        let resp = parse_response(r, false).unwrap().unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"{\"arch\":\"aarch64\"}");
        assert_eq!(
            resp.headers[0],
            ("content-type".into(), "application/json".into())
        );
    }

    #[test]
    fn chunked_body() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n";
        for cut in 40..r.len() {
            assert_eq!(parse_response(&r[..cut], false).unwrap(), None, "cut {cut}");
        }
        let resp = parse_response(r, false).unwrap().unwrap();
        assert_eq!(resp.body, b"hello, world");
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(parse_response(bad, false).is_err());
    }

    #[test]
    fn body_until_close_and_empty_statuses() {
        let r = b"HTTP/1.0 200 OK\r\n\r\nabc";
        assert_eq!(parse_response(r, false).unwrap(), None);
        assert_eq!(parse_response(r, true).unwrap().unwrap().body, b"abc");
        let r = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(parse_response(r, false).unwrap().unwrap().status, 204);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_response(b"SSH-2.0-x\r\n\r\n", true).is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n", true).is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", true).is_err());
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n", true).unwrap(), None);
    }

    #[test]
    fn console_says_where_the_frames_went() {
        let good = b"status: PID 1, bringing the machine up\r\n\
            status: defmt logs -> /dev/vport0p1 (virtio port edgeloop.defmt)\r\n\
            [    2.6] reboot: Power down\r\n";
        assert_eq!(console_check(good), Ok(()));
        let stderr = b"status: defmt logs -> stderr (virtio port edgeloop.defmt: no virtio \
            port has that name)\r\n";
        assert!(console_check(stderr).unwrap_err().contains("did not send"));
        let mut leaked = good.to_vec();
        leaked.extend_from_slice(b"\x03\xfd\xc9\x12\0status: listening\r\n");
        assert!(
            console_check(&leaked)
                .unwrap_err()
                .contains("NUL byte at offset")
        );
    }

    #[test]
    fn decoder_gets_the_capture_and_the_elf() {
        let guest = Guest {
            firmware: "/t/status".into(),
            kernel: crate::kernel::Kernel {
                version: "v".into(),
                image: "/k/vmlinuz".into(),
                modules: Vec::new(),
            },
            initrd: "/w/initrd.cpio".into(),
            defmt: "/w/defmt.bin".into(),
        };
        let line = process::describe(&decoder_command(Path::new("/r"), &guest));
        assert!(
            line.starts_with("EDGELOOP_QEMU_DEFMT=/w/defmt.bin EDGELOOP_QEMU_FIRMWARE=/t/status ")
                || line.starts_with(
                    "EDGELOOP_QEMU_FIRMWARE=/t/status EDGELOOP_QEMU_DEFMT=/w/defmt.bin "
                ),
            "{line}"
        );
        assert!(
            line.ends_with(" test --package tests-defmt --test qemu_status -- --nocapture"),
            "{line}"
        );
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet("a\nb"), "a b");
        assert_eq!(snippet(&"x".repeat(300)).chars().count(), 201);
    }
}
