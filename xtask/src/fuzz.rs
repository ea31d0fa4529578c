//! `cargo xtask fuzz [--seconds N] [--target NAME]`: builds the libFuzzer targets of `fuzz/` and
//! runs each for N seconds (default 30), then prints the executions per target (from libFuzzer's
//! final stats) and fails on any crash, leaving the crashing input in `fuzz/artifacts/<target>/`.
//!
//! The targets need nightly-only compiler flags (SanitizerCoverage instrumentation and
//! AddressSanitizer). This machine has only a stable toolchain, so the fuzz crate is built with
//! `RUSTC_BOOTSTRAP=1` and the same flags `cargo fuzz` passes, without needing cargo-fuzz
//! itself:
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
//!   -Cllvm-args=-sanitizer-coverage-trace-compares -Zsanitizer=address -Cdebug-assertions
//!   -Coverflow-checks --cfg fuzzing"
//!   cargo build --release --manifest-path fuzz/Cargo.toml --target <host>
//! ```
//!
//! `--target` is the host triple so that the flags apply to the fuzzed code only, not to build
//! scripts. Output goes to `$CARGO_TARGET_DIR/fuzz` (default `target/fuzz`): the fuzz build
//! never shares artifacts with the normal one. Each target runs on a working corpus in
//! `target/fuzz/corpus/<target>` (new units go there) seeded from the committed
//! `fuzz/corpus/<target>` (read only); its log is `target/fuzz/logs/<target>.log`.
//!
//! libfuzzer-sys compiles libFuzzer from C++: a C++ compiler is installed (`g++`, with apt-get
//! when running as root) if none is found.

use crate::process::{self, describe, which};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The fuzz targets, in the order they run.
pub const TARGETS: [&str; 4] = ["http_head", "chunked", "response", "connection"];

/// Default seconds per target.
pub const DEFAULT_SECONDS: u64 = 30;

/// The flags of a libFuzzer build (what `cargo fuzz build` passes, with debug assertions and
/// overflow checks on, so arithmetic overflow in the fuzzed code is a crash).
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Zsanitizer=address -Cdebug-assertions -Coverflow-checks --cfg fuzzing";

/// Options of `cargo xtask fuzz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Seconds per target.
    pub seconds: u64,
    /// Only this target (all when `None`).
    pub target: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seconds: DEFAULT_SECONDS,
            target: None,
        }
    }
}

/// Parses `[--seconds N] [--target NAME]` (also `--flag=value`).
pub fn parse_args(rest: &[String]) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("`{flag}` needs a value")),
            }
        };
        match flag {
            "--seconds" => {
                let v = value()?;
                opts.seconds = v
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("`--seconds {v}`: expected a positive number"))?;
            }
            "--target" => {
                let v = value()?;
                if !TARGETS.contains(&v.as_str()) {
                    return Err(format!(
                        "unknown fuzz target `{v}` (targets: {})",
                        TARGETS.join(", ")
                    ));
                }
                opts.target = Some(v);
            }
            other => return Err(format!("unknown option `{other}` for `fuzz`")),
        }
    }
    Ok(opts)
}

/// What one target's run reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `stat::number_of_executed_units`.
    pub executions: u64,
    /// `stat::average_exec_per_sec`.
    pub per_second: u64,
    /// `stat::new_units_added`.
    pub new_units: u64,
    /// `stat::peak_rss_mb`.
    pub peak_rss_mb: u64,
}

/// Reads libFuzzer's `-print_final_stats=1` lines from a log.
pub fn parse_stats(log: &str) -> Option<Stats> {
    let get = |key: &str| -> Option<u64> {
        log.lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|rest| rest.trim_start_matches(':').trim().parse().ok())
    };
    Some(Stats {
        executions: get("stat::number_of_executed_units")?,
        per_second: get("stat::average_exec_per_sec").unwrap_or(0),
        new_units: get("stat::new_units_added").unwrap_or(0),
        peak_rss_mb: get("stat::peak_rss_mb").unwrap_or(0),
    })
}

/// The host triple (`rustc -vV`).
fn host_triple() -> Result<String, String> {
    let out = process::output(Command::new("rustc").arg("-vV"))?;
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .ok_or_else(|| "`rustc -vV` printed no host triple".into())
}

/// Where the fuzz build goes: `$CARGO_TARGET_DIR/fuzz`, default `<root>/target/fuzz`.
fn fuzz_target_dir(root: &Path) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    root.join(base).join("fuzz")
}

/// libfuzzer-sys builds libFuzzer's C++ sources: make sure a C++ compiler is there.
fn ensure_cxx() -> Result<(), String> {
    if ["c++", "g++", "clang++"].iter().any(|c| which(c).is_some()) {
        return Ok(());
    }
    if !is_root() || which("apt-get").is_none() {
        return Err(
            "no C++ compiler (c++, g++ or clang++) on PATH: libfuzzer-sys needs one \
                    to build libFuzzer; install g++ (apt-get install g++)"
                .into(),
        );
    }
    println!("installing a C++ compiler for libFuzzer: g++");
    let apt = |args: &[&str]| {
        process::run(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(args),
        )
    };
    apt(&["update"])?;
    apt(&["install", "-y", "--no-install-recommends", "g++"])
}

/// Whether the effective user id is 0 (`Uid:` line of `/proc/self/status`).
fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Builds every fuzz target; returns the directory holding the binaries.
pub fn build(root: &Path) -> Result<PathBuf, String> {
    ensure_cxx()?;
    let host = host_triple()?;
    let tdir = fuzz_target_dir(root);
    let mut cmd = process::cargo(root);
    cmd.env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", RUSTFLAGS)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &tdir)
        .args(["build", "--release", "--bins", "--manifest-path"])
        .arg(root.join("fuzz").join("Cargo.toml"))
        .args(["--target", &host]);
    process::run(&mut cmd)?;
    Ok(tdir.join(&host).join("release"))
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs one target for `seconds`; `Err` on a crash, a timeout or a missing stats line.
fn run_target(root: &Path, bins: &Path, name: &str, seconds: u64) -> Result<Stats, String> {
    let tdir = fuzz_target_dir(root);
    let work = tdir.join("corpus").join(name);
    let logs = tdir.join("logs");
    let seeds = root.join("fuzz").join("corpus").join(name);
    let artifacts = root.join("fuzz").join("artifacts").join(name);
    for d in [&work, &logs, &artifacts] {
        fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let log_path = logs.join(format!("{name}.log"));
    let log = fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let before = list(&artifacts);
    let bin = bins.join(name);
    let mut cmd = Command::new(&bin);
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .arg("-timeout=30")
        .arg("-rss_limit_mb=4096")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&work)
        .arg(&seeds)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    println!("$ {} 2> {}", describe(&cmd), log_path.display());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    // libFuzzer stops itself after `seconds`; a run that does not is killed (its child handle).
    let deadline = Instant::now() + Duration::from_secs(seconds + 120);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for {name}: {e}")),
        }
    };
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    let crashes: Vec<PathBuf> = list(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let ok = status.is_some_and(|s| s.success()) && crashes.is_empty();
    if !ok {
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        eprintln!("---- last lines of {} ----", log_path.display());
        for l in tail.iter().rev() {
            eprintln!("{l}");
        }
        eprintln!("----");
        let what = match status {
            None => format!("did not stop within {} s", seconds + 120),
            Some(s) => format!("exited with {s}"),
        };
        let mut msg = format!("fuzz target `{name}` {what}");
        for c in &crashes {
            msg.push_str(&format!(
                "\n  crashing input kept: {} (reproduce: {} {})",
                c.display(),
                bin.display(),
                c.display()
            ));
        }
        return Err(msg);
    }
    parse_stats(&text).ok_or_else(|| {
        format!(
            "fuzz target `{name}`: no final stats in {}",
            log_path.display()
        )
    })
}

/// `cargo xtask fuzz`: builds, runs the selected targets (one per CPU at a time), prints the
/// summary. Every target runs even after one fails; `Err` names the failures.
pub fn run(root: &Path, opts: &Options) -> Result<Vec<(String, Stats)>, String> {
    let bins = build(root)?;
    let targets: Vec<&str> = match &opts.target {
        Some(t) => vec![t.as_str()],
        None => TARGETS.to_vec(),
    };
    // One libFuzzer process per CPU at a time (each is single-threaded).
    let at_once = thread::available_parallelism().map_or(1, |n| n.get());
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for batch in targets.chunks(at_once) {
        let results: Vec<(&str, Result<Stats, String>)> = thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&name| {
                    println!("\n--> fuzz {name} for {} s", opts.seconds);
                    let bins = &bins;
                    s.spawn(move || (name, run_target(root, bins, name, opts.seconds)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a fuzz runner thread panicked"))
                .collect()
        });
        for (name, result) in results {
            match result {
                Ok(s) => {
                    println!(
                        "<-- fuzz {name}: {} executions in {} s ({}/s), {} new corpus units, \
                         peak RSS {} MB, no crash",
                        s.executions, opts.seconds, s.per_second, s.new_units, s.peak_rss_mb
                    );
                    done.push((name.to_string(), s));
                }
                Err(e) => {
                    eprintln!("<-- fuzz {name}: FAILED: {e}");
                    failures.push(e);
                }
            }
        }
    }
    println!("\nfuzz summary ({} s per target):", opts.seconds);
    for (name, s) in &done {
        println!(
            "  {name:<12} {:>12} executions  {:>8}/s",
            s.executions, s.per_second
        );
    }
    if failures.is_empty() {
        Ok(done)
    } else {
        Err(failures.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::{Options, parse_args, parse_stats};
    use crate::tests::args;

    #[test]
    fn fuzz_args() {
        assert_eq!(parse_args(&[]).unwrap(), Options::default());
        let o = parse_args(&args(&["--seconds", "10", "--target=chunked"])).unwrap();
        assert_eq!((o.seconds, o.target.as_deref()), (10, Some("chunked")));
        assert!(parse_args(&args(&["--seconds", "0"])).is_err());
        assert!(parse_args(&args(&["--seconds"])).is_err());
        assert!(parse_args(&args(&["--target", "nope"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn final_stats_line() {
        let log = "#1000 DONE cov: 10\nDone 1000 runs in 2 second(s)\n\
                   stat::number_of_executed_units: 1000\nstat::average_exec_per_sec:     500\n\
                   stat::new_units_added:          7\nstat::peak_rss_mb:              40\n";
        let s = parse_stats(log).unwrap();
        assert_eq!(
            (s.executions, s.per_second, s.new_units, s.peak_rss_mb),
            (1000, 500, 7, 40)
        );
        assert!(parse_stats("no stats here").is_none());
    }
}
