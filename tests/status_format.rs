#![cfg(feature = "status")]
//! The status formatters on this host: a real [`Snapshot`] refreshed twice, checked against the
//! host's own `/proc` (through std), its JSON parsed by Python's `json` module, its metrics
//! checked by `promtool check metrics`, its page rendered; and the same for a snapshot whose
//! every reader failed.
//!
//! promtool comes from Debian's `prometheus` package: when it is missing and the test runs as
//! root it is installed with `apt-get`, otherwise that check is skipped with a message. The
//! JSON checks need `python3` (skipped with a message when it is absent).

#[path = "common/status.rs"]
mod status_common;

use std::time::Duration;

use edgeloop::ioloop::Instant;
use edgeloop::status::json::{STATUS_JSON_MAX, write_history, write_status};
use edgeloop::status::metrics::{METRICS_MAX, write_metrics};
use edgeloop::status::page::{ASSETS, PAGE_MAX, render};
use edgeloop::status::snapshot::{ServerFigures, Snapshot, Sources};
use edgeloop::status::{MountFilter, read_process_memory};

fn std_read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("std read of {path}: {e}"))
}

fn figures() -> ServerFigures {
    ServerFigures {
        uptime_s: 42,
        connections_open: 3,
        requests_served: 1234,
        bytes_in: 56_789,
        bytes_out: 987_654,
        rss_bytes: read_process_memory().ok().and_then(|m| m.rss_bytes),
        static_memory_bytes: 512 * 1024,
    }
}

/// The host, refreshed twice a quarter of a second apart (so rates and CPU use are known).
fn host_snapshot() -> Box<Snapshot> {
    let mut snap = Box::new(Snapshot::new());
    snap.refresh(Instant::now(), figures());
    std::thread::sleep(Duration::from_millis(250));
    snap.refresh(Instant::now(), figures());
    snap
}

/// Every source missing: no procfs, no sysfs, no uname, no netlink.
fn failed_snapshot() -> Box<Snapshot> {
    let src = Sources {
        proc_root: "/nonexistent-edgeloop-test/proc",
        sys_root: "/nonexistent-edgeloop-test/sys",
        uname: false,
        netlink: false,
        mounts: MountFilter::default(),
    };
    let mut snap = Box::new(Snapshot::new());
    for t in 1..=2 {
        snap.refresh_from(&src, Instant::from_nanos(t * 1_000_000_000), figures());
    }
    snap
}

fn json(snap: &Snapshot) -> String {
    let mut buf = vec![0u8; STATUS_JSON_MAX];
    let n = write_status(snap, &mut buf).expect("status JSON fits STATUS_JSON_MAX");
    String::from_utf8(buf[..n].to_vec()).expect("JSON is UTF-8")
}

fn metrics(snap: &Snapshot) -> String {
    let mut buf = vec![0u8; METRICS_MAX];
    let n = write_metrics(snap, &mut buf).expect("metrics fit METRICS_MAX");
    String::from_utf8(buf[..n].to_vec()).expect("metrics are UTF-8")
}

fn page(snap: &Snapshot) -> String {
    let mut buf = vec![0u8; PAGE_MAX];
    let n = render(snap, &mut buf).expect("page fits PAGE_MAX");
    String::from_utf8(buf[..n].to_vec()).expect("page is UTF-8")
}

/// Runs `python3 -c script` with `input` on stdin and asserts it succeeded; `None` (with a
/// message) without python3.
fn python(script: &str, input: &[u8]) -> Option<String> {
    if !status_common::python_available() {
        return None;
    }
    Some(status_common::python(script, input).unwrap_or_else(|e| panic!("python3 failed: {e}")))
}

/// Parses the status JSON with Python and prints the values the tests compare, one a line.
const PICK: &str = r#"
import json, sys
d = json.load(sys.stdin)
for k in ["arch", "hostname", "kernel", "uptime_s", "load", "cpu", "memory", "swap",
          "filesystems", "interfaces", "temperatures", "server", "sample", "seq"]:
    assert k in d, k
print((d["memory"] or {}).get("total_bytes"))
print((d["load"] or {}).get("load1"))
print(d["cpu"]["count"])
print(d["hostname"])
print(d["cpu"]["total"] is not None)
print(d["server"]["requests_total"])
"#;

/// Checks promtool's verdict: nothing but the camelCase lint node_exporter's own
/// `node_memory_*` names get.
fn assert_promtool_clean(text: &str) {
    match status_common::promtool_problems(text) {
        Err(why) => eprintln!("SKIP: {why}"),
        Ok(bad) => assert!(bad.is_empty(), "promtool problems: {bad:#?}"),
    }
}

/// The page's byte formatting (`3.7 GiB`), as documented in `page`.
fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let (mut t, mut u) = (u128::from(n) * 10 / 1024, 0);
    while t >= 10 * 1024 && u + 1 < units.len() {
        t /= 1024;
        u += 1;
    }
    format!("{}.{} {}", t / 10, t % 10, units[u])
}

#[test]
fn host_snapshot_matches_proc() {
    let snap = host_snapshot();
    let doc = json(&snap);
    let mem_kib: u64 = std_read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("MemTotal in /proc/meminfo");
    let load1: f64 = std_read("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("load1");
    let cpus = std_read("/proc/stat")
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    let hostname = std_read("/proc/sys/kernel/hostname").trim().to_owned();
    let Some(out) = python(PICK, doc.as_bytes()) else {
        assert!(doc.contains(&format!("\"total_bytes\":{}", mem_kib * 1024)));
        return;
    };
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v[0].parse::<u64>().unwrap(), mem_kib * 1024, "MemTotal");
    let got: f64 = v[1].parse().unwrap();
    assert!((got - load1).abs() <= 0.5, "load1 {got} vs {load1}");
    assert_eq!(v[2].parse::<usize>().unwrap(), cpus, "CPU count");
    assert_eq!(v[3], hostname);
    assert_eq!(v[4], "True", "CPU use known after two refreshes");
    assert_eq!(v[5], "1234");
    assert!(!snap.kernel.machine.is_empty());
    assert_eq!(snap.history.len(), 2);
}

#[test]
fn host_metrics_pass_promtool() {
    let snap = host_snapshot();
    let text = metrics(&snap);
    for name in [
        "node_load1 ",
        "node_boot_time_seconds ",
        "node_time_seconds ",
        "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} ",
        "node_memory_MemTotal_bytes ",
        "node_network_receive_bytes_total{device=\"lo\"} ",
        "node_uname_info{",
        "edgeloop_requests_total 1234\n",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
    assert_promtool_clean(&text);
}

#[test]
fn host_page_shows_hostname_and_memory() {
    let snap = host_snapshot();
    let html = page(&snap);
    let hostname = std_read("/proc/sys/kernel/hostname").trim().to_owned();
    assert!(html.contains(&format!("<h1 id=\"hostname\">{hostname}</h1>")));
    let total = snap.memory.and_then(|m| m.total).expect("MemTotal");
    let shown = format!("<dd id=\"mem_total\">{}</dd>", human_bytes(total));
    assert!(html.contains(&shown), "{shown} not in the page");
    assert!(!html.contains("{{"));
    let mut buf = vec![0u8; edgeloop::status::json::HISTORY_JSON_MAX];
    let n = write_history(&snap.history, &mut buf).unwrap();
    if let Some(out) = python(
        "import json,sys; d=json.load(sys.stdin); print(len(d['cpu_pct']), d['seq'])",
        &buf[..n],
    ) {
        assert_eq!(out.trim(), "2 2");
    }
}

#[test]
fn failed_readers_still_format() {
    let snap = failed_snapshot();
    let doc = json(&snap);
    assert!(doc.contains("\"memory\":null"));
    if let Some(out) = python(PICK, doc.as_bytes()) {
        let v: Vec<&str> = out.lines().collect();
        assert_eq!(&v[..5], ["None", "None", "0", "", "False"]);
    }
    let text = metrics(&snap);
    assert!(text.contains("edgeloop_requests_total 1234\n"));
    assert!(!text.contains("node_load1"));
    assert_promtool_clean(&text);
    let html = page(&snap);
    assert!(html.contains("<dd id=\"mem_total\">—</dd>"));
    assert!(!html.contains("{{"));
    assert!(html.ends_with("</html>\n"));
}

#[test]
fn assets_gzip_round_trips() {
    assert!(ASSETS.len() >= 2);
    for a in ASSETS {
        let script =
            "import gzip,sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))";
        let Some(out) = python(script, a.gzip) else {
            return;
        };
        assert_eq!(
            out.as_bytes(),
            a.raw,
            "{} gzip does not decompress to raw",
            a.name
        );
        eprintln!(
            "{}: {} bytes, {} gzipped",
            a.name,
            a.raw.len(),
            a.gzip.len()
        );
    }
}
