//! End-to-end test of edgeloop's defmt logger: runs the real `examples/defmt_hello` firmware,
//! captures its stderr and decodes the frames against the ELF's `.defmt` table with
//! `defmt-decoder`, checking every line, level, value and timestamp.
//!
//! The firmware needs `--features firmware,defmt`, which `cargo test` cannot build, so build it
//! first with the same `--target` and profile:
//!
//! ```text
//! cargo build --features firmware,defmt --example defmt_hello [--target T]
//! cargo test -p tests-defmt [--target T]
//! ```
//!
//! The binary is looked up next to the test executable (`target/[T/]debug/examples/`), or taken
//! from `EDGELOOP_DEFMT_HELLO` when set. A missing binary skips the tests with a message; one older
//! than its sources fails them. `EDGELOOP_TEST_RUNNER` (e.g. `qemu-aarch64`) prefixes the child,
//! as in edgeloop's own tests.

mod common;

use common::{Line, assert_monotonic, decode, note};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

// The binary lookup edgeloop's own integration tests share (the stale-build check).
#[path = "../../tests/common/firmware.rs"]
mod edgeloop_firmware;
use edgeloop_firmware::runner;

/// The lines `defmt_hello alpha beta` logs, in order: level and decoded message. The `debug!`
/// line is compiled out (`DEFMT_LOG=info`) and the line logged from inside `Nosy`'s `Format`
/// implementation is dropped by the logger (and counted).
fn expected() -> Vec<(&'static str, String)> {
    // 300 bytes 0, 1, … 255, 0, 1, …: a frame larger than the logger's buffer.
    let block: Vec<String> = (0..300).map(|i| format!("{:x}", i % 256)).collect();
    [
        ("info", "defmt_hello: 2 argument(s)".to_owned()),
        ("info", "first argument: alpha".to_owned()),
        (
            "info",
            "reading Reading { sensor: 3, deci_celsius: -125, ok: true }".to_owned(),
        ),
        ("warn", "fan at 85%, board at 71.5 C".to_owned()),
        (
            "error",
            "flags 0b10100101, bytes [de, ad, be, ef]".to_owned(),
        ),
        ("info", format!("block of 300: [{}]", block.join(", "))),
        ("info", "value nosy".to_owned()),
        ("info", "dropped frames: 1".to_owned()),
        ("info", "bye, exit code 0".to_owned()),
    ]
    .into()
}

const BUILD_HINT: &str = "build it with `cargo build --features firmware,defmt --example \
     defmt_hello` (same --target and profile as this test)";

/// The firmware ELF: `Ok(None)` when it has not been built (the test is skipped), `Err` when it
/// is older than one of its sources.
fn firmware() -> Result<Option<PathBuf>, String> {
    let path = match std::env::var_os("EDGELOOP_DEFMT_HELLO") {
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            let dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .ok_or("the test binary is not in target/<profile>/deps")?;
            dir.join("examples").join("defmt_hello")
        }
    };
    if !path.exists() {
        note(&format!(
            "skipped: {} not found; {BUILD_HINT}",
            path.display()
        ));
        return Ok(None);
    }
    edgeloop_firmware::fresh(&path, BUILD_HINT).map(Some)
}

/// `CLOCK_MONOTONIC` in microseconds: the clock the firmware stamps its frames with.
fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` into the valid, exclusively borrowed `ts`.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(r, 0, "clock_gettime failed");
    let secs = u64::try_from(ts.tv_sec).expect("monotonic seconds");
    let nanos = u64::try_from(ts.tv_nsec).expect("monotonic nanoseconds");
    secs * 1_000_000 + nanos / 1_000
}

/// What one run of the firmware produced.
struct Run {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// `CLOCK_MONOTONIC` just before the start and just after the exit.
    window: (u64, u64),
}

/// Runs the firmware with `args` (through the runner, if any) and collects its output.
fn run(path: &Path, args: &[&str]) -> Run {
    let mut words = runner();
    // Generous: under qemu-user the child starts slowly.
    let deadline = Duration::from_secs(if words.is_empty() { 20 } else { 120 });
    words.push(path.display().to_string());
    words.extend(args.iter().map(|a| a.to_string()));
    let start = monotonic_us();
    let mut child = Command::new(&words[0])
        .args(&words[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {words:?}: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).map(|_| v)
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).map(|_| v)
    });
    let began = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the firmware") {
            break status;
        }
        if began.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{words:?} did not exit within {deadline:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let end = monotonic_us();
    Run {
        status,
        stdout: out_reader.join().unwrap().expect("read stdout"),
        stderr: err_reader.join().unwrap().expect("read stderr"),
        window: (start, end),
    }
}

/// Runs the firmware, checks it exited 0 with nothing on stdout and complete frames on stderr,
/// and decodes them.
fn logged(args: &[&str]) -> Option<Vec<Line>> {
    let path = firmware().unwrap_or_else(|e| panic!("{e}"))?;
    let run = run(&path, args);
    assert!(
        run.status.success(),
        "defmt_hello exited with {}; stderr: {:?}",
        run.status,
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&run.stdout)
    );
    let lines = decode(&path, &run.stderr);
    let (start, end) = run.window;
    assert_monotonic(&lines, start, end);
    Some(lines)
}

#[test]
fn frames_decode_to_the_expected_lines() {
    let Some(lines) = logged(&["alpha", "beta"]) else {
        return;
    };
    let got: Vec<(&str, String)> = lines
        .iter()
        .map(|l| (l.level.as_str(), l.message.clone()))
        .collect();
    assert_eq!(got, expected(), "decoded lines: {lines:#?}");
}

#[test]
fn argument_count_is_logged_as_a_value() {
    let Some(lines) = logged(&[]) else {
        return;
    };
    assert_eq!(lines[0].level, "info");
    assert_eq!(lines[0].message, "defmt_hello: 0 argument(s)");
    assert!(
        !lines
            .iter()
            .any(|l| l.message.starts_with("first argument")),
        "{lines:#?}"
    );
    assert_eq!(lines.len(), expected().len() - 1, "{lines:#?}");
}
