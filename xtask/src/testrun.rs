//! Runs test executables side by side: the test layers of `cargo xtask test` (host, and the
//! same suite under `qemu-aarch64` and `qemu-arm`) are built first with
//! `cargo test --no-run --message-format=json`, then every test executable of every layer runs as
//! its own job, up to [`default_jobs`] at once, longest first.
//!
//! Why: most of the suite waits (servers started as real processes, timeouts, signals) rather
//! than computes, and under QEMU user emulation each executable is several times slower. Run one
//! after another, the three layers took four minutes of a warm CI run; side by side they take
//! about as long as the slowest executable plus the CPU the emulated ones need.
//!
//! Each job's stdout and stderr go to `target/test-logs/<layer>/<job>.log` (kept). A job that
//! passes prints one line (its layer, name, time and libtest's counts); a failing one prints its
//! whole log, and the run ends with the list of failed jobs, each naming its layer (the emulator
//! and target triple) and test executable. A job that outlives [`JOB_TIMEOUT`] is killed, with its
//! process group (the firmware processes it started), and fails.
//!
//! Durations are remembered in `target/test-logs/durations.tsv` so the next run starts the slow
//! executables first.

use crate::cargo_json::Executable;
use crate::process::describe;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The longest a single job may run before it is killed and fails.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(600);

/// How often running jobs are polled for completion.
const POLL: Duration = Duration::from_millis(20);

/// Jobs at once unless `EDGELOOP_TEST_JOBS` says otherwise: two per CPU, since most test time
/// is spent waiting on sockets, timers and child processes.
pub fn default_jobs() -> usize {
    if let Some(n) = std::env::var("EDGELOOP_TEST_JOBS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// One job: one or more commands run one after another (the next only when the previous
/// passed), with their output in one log.
pub struct Job {
    /// The layer, e.g. `host` or `qemu-aarch64 (aarch64-unknown-linux-musl)`.
    pub layer: String,
    /// The job's name within the layer, e.g. `test http_server`.
    pub name: String,
    /// The commands.
    pub commands: Vec<Command>,
}

impl Job {
    fn key(&self) -> String {
        format!("{} / {}", self.layer, self.name)
    }

    fn log_path(&self, logs: &Path) -> PathBuf {
        let clean = |s: &str| {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        };
        logs.join(clean(&self.layer))
            .join(format!("{}.log", clean(&self.name)))
    }
}

/// A job that runs one test executable of `layer`, through `runner` when it is emulated, with
/// `env` added to its environment.
pub fn executable_job(
    layer: &str,
    exe: &Executable,
    runner: Option<&str>,
    env: &[(&str, OsString)],
) -> Job {
    let mut cmd = match runner {
        Some(r) => {
            let mut c = Command::new(r);
            c.arg(&exe.path);
            // One test at a time under the emulator: qemu-user (7.2, Debian 12) can deadlock
            // the child of a `fork` taken while other guest threads are running code (seen: a
            // status_firmware test's spawn of the firmware hung in the forked child, both of
            // its threads in futex waits, until the job timeout). With one test thread, the
            // threads left at a spawn are blocked in system calls. Costs a few seconds a job.
            c.env("RUST_TEST_THREADS", "1");
            c
        }
        None => Command::new(&exe.path),
    };
    // What `cargo test` gives a test executable at run time.
    cmd.current_dir(&exe.package_dir)
        .env("CARGO_MANIFEST_DIR", &exe.package_dir)
        .env("CARGO_PKG_NAME", &exe.package);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Job {
        layer: layer.to_string(),
        name: format!("{} ({})", exe.label, exe.package),
        commands: vec![cmd],
    }
}

struct Running {
    job: Job,
    child: Child,
    started: Instant,
    log: PathBuf,
    step: usize,
}

/// Outcome of [`run`]: `Err` lists every failed job.
pub fn run(mut jobs: Vec<Job>, max_jobs: usize, logs: &Path) -> Result<(), String> {
    let history_file = logs.join("durations.tsv");
    let mut history = read_history(&history_file);
    // Longest first (by the last run's durations; unknown ones first of all).
    jobs.sort_by(|a, b| {
        let da = history.get(&a.key()).copied().unwrap_or(f64::MAX);
        let db = history.get(&b.key()).copied().unwrap_or(f64::MAX);
        db.total_cmp(&da)
    });
    let total = jobs.len();
    println!(
        "{total} test jobs, {max_jobs} at a time; logs in {}",
        logs.display()
    );
    let mut pending = jobs.into_iter();
    let mut running: Vec<Running> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut done = 0usize;
    let started = Instant::now();
    loop {
        while running.len() < max_jobs {
            let Some(job) = pending.next() else { break };
            let log = job.log_path(logs);
            match start(job, 0, &log) {
                Ok(r) => running.push(r),
                Err((job, why)) => {
                    done += 1;
                    println!("[{done}/{total}] FAILED to start {}: {why}", job.key());
                    failed.push(format!("{}: {why}", job.key()));
                }
            }
        }
        if running.is_empty() {
            break;
        }
        sleep(POLL);
        let mut i = 0;
        while i < running.len() {
            let r = &mut running[i];
            let timed_out = r.started.elapsed() > JOB_TIMEOUT;
            if timed_out {
                kill_group(&mut r.child);
            }
            let status = match r.child.try_wait() {
                Ok(Some(s)) => s,
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Err(e) => {
                    kill_group(&mut r.child);
                    failed.push(format!("{}: wait failed: {e}", r.job.key()));
                    running.swap_remove(i);
                    continue;
                }
            };
            let r = running.swap_remove(i);
            // The next command of a multi-command job, when this one passed.
            if status.success() && r.step + 1 < r.job.commands.len() {
                let (job, log, step, t0) = (r.job, r.log, r.step + 1, r.started);
                match start(job, step, &log) {
                    Ok(mut next) => {
                        next.started = t0;
                        running.push(next);
                    }
                    Err((job, why)) => {
                        done += 1;
                        println!("[{done}/{total}] FAILED {}: {why}", job.key());
                        failed.push(format!("{}: {why}", job.key()));
                    }
                }
                continue;
            }
            done += 1;
            let took = r.started.elapsed();
            let text = fs::read_to_string(&r.log).unwrap_or_default();
            let counts = libtest_counts(&text);
            if status.success() && !timed_out {
                history.insert(r.job.key(), took.as_secs_f64());
                println!(
                    "[{done}/{total}] ok      {:>6.1}s  {}  {counts}",
                    took.as_secs_f64(),
                    r.job.key()
                );
            } else {
                let why = if timed_out {
                    format!("timed out after {} s, killed", JOB_TIMEOUT.as_secs())
                } else {
                    status.to_string()
                };
                println!(
                    "[{done}/{total}] FAILED  {:>6.1}s  {}  ({why}); log {}:\n{text}",
                    took.as_secs_f64(),
                    r.job.key(),
                    r.log.display()
                );
                failed.push(format!("{} ({why}; log {})", r.job.key(), r.log.display()));
            }
        }
    }
    write_history(&history_file, &history);
    println!(
        "{total} test jobs in {:.1}s, {} failed",
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed test jobs:\n  {}", failed.join("\n  ")))
    }
}

/// Starts command `step` of `job`, its output appended to `log`, in its own process group.
fn start(mut job: Job, step: usize, log: &Path) -> Result<Running, (Job, String)> {
    let opened = (|| {
        if let Some(dir) = log.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(step == 0)
            .append(step > 0)
            .open(log)?;
        let err = file.try_clone()?;
        Ok::<_, std::io::Error>((file, err))
    })();
    let (out, err) = match opened {
        Ok(f) => f,
        Err(e) => return Err((job, format!("cannot open {}: {e}", log.display()))),
    };
    let cmd = &mut job.commands[step];
    {
        use std::io::Write;
        let mut header = &out;
        let _ = writeln!(header, "$ {}", describe(cmd));
    }
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    match cmd.spawn() {
        Ok(child) => Ok(Running {
            job,
            child,
            started: Instant::now(),
            log: log.to_path_buf(),
            step,
        }),
        Err(e) => {
            let why = format!("cannot start `{}`: {e}", describe(cmd));
            Err((job, why))
        }
    }
}

/// Kills `child` and everything in its process group (it leads one: see [`start`]).
fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
}

/// libtest's totals over every `test result:` line of a log, e.g. `63 passed, 1 ignored`.
fn libtest_counts(log: &str) -> String {
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    for line in log.lines() {
        let Some(rest) = line.split("test result: ").nth(1) else {
            continue;
        };
        for part in rest.split(['.', ';']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => passed += n,
                "failed" => failed += n,
                "ignored" => ignored += n,
                _ => {}
            }
        }
    }
    let mut s = format!("{passed} passed");
    if failed > 0 {
        s.push_str(&format!(", {failed} failed"));
    }
    if ignored > 0 {
        s.push_str(&format!(", {ignored} ignored"));
    }
    s
}

fn read_history(path: &Path) -> HashMap<String, f64> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.rsplit_once('\t')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn write_history(path: &Path, history: &HashMap<String, f64>) {
    let mut lines: Vec<String> = history
        .iter()
        .map(|(k, v)| format!("{k}\t{v:.2}"))
        .collect();
    lines.sort();
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let _ = fs::write(path, lines.join("\n") + "\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_every_result_line() {
        let log = "test result: ok. 63 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; \
                   finished in 1.0s\nnoise\ntest result: FAILED. 2 passed; 1 failed; 0 ignored\n";
        assert_eq!(libtest_counts(log), "65 passed, 1 failed, 1 ignored");
        assert_eq!(libtest_counts(""), "0 passed");
    }

    #[test]
    fn emulated_jobs_run_one_test_at_a_time() {
        let exe = Executable {
            label: "test x".into(),
            path: "/t/x".into(),
            package_dir: "/t".into(),
            package: "p".into(),
        };
        let threads = |job: &Job| {
            job.commands[0]
                .get_envs()
                .find(|(k, _)| *k == "RUST_TEST_THREADS")
                .and_then(|(_, v)| v.map(|v| v.to_owned()))
        };
        let emulated = executable_job("qemu-arm", &exe, Some("qemu-arm"), &[]);
        assert_eq!(emulated.commands[0].get_program(), "qemu-arm");
        assert_eq!(threads(&emulated), Some("1".into()));
        let native = executable_job("host", &exe, None, &[]);
        assert_eq!(threads(&native), None);
    }

    #[test]
    fn runs_jobs_in_parallel_and_reports_failures_with_layer_and_name() {
        let logs = std::env::temp_dir().join(format!("xtask-testrun-{}", std::process::id()));
        let job = |name: &str, script: &str| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            Job {
                layer: "layer".into(),
                name: name.into(),
                commands: vec![c],
            }
        };
        let t0 = Instant::now();
        let jobs = vec![
            job("a", "sleep 0.3; echo 'test result: ok. 3 passed; 0 failed'"),
            job("b", "sleep 0.3"),
            job("c", "sleep 0.3"),
        ];
        assert!(run(jobs, 3, &logs).is_ok());
        // Three 0.3 s jobs side by side, not 0.9 s one after another.
        assert!(
            t0.elapsed() < Duration::from_millis(800),
            "{:?}",
            t0.elapsed()
        );
        let log = fs::read_to_string(logs.join("layer").join("a.log")).unwrap();
        assert!(log.contains("3 passed"), "{log}");

        let mut two = Command::new("sh");
        two.args(["-c", "echo second; exit 3"]);
        let mut first = Command::new("sh");
        first.args(["-c", "echo first"]);
        let jobs = vec![
            job("ok", "true"),
            Job {
                layer: "qemu-arm (armv7)".into(),
                name: "test x".into(),
                commands: vec![first, two],
            },
        ];
        let err = run(jobs, 2, &logs).unwrap_err();
        assert!(err.contains("qemu-arm (armv7) / test x"), "{err}");
        assert!(!err.contains("layer / ok"), "{err}");
        let log = fs::read_to_string(logs.join("qemu_arm__armv7_").join("test_x.log")).unwrap();
        assert!(log.contains("first") && log.contains("second"), "{log}");
        let history = read_history(&logs.join("durations.tsv"));
        assert!(history.contains_key("layer / a"), "{history:?}");
        let _ = fs::remove_dir_all(&logs);
    }
}
