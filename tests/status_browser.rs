#![cfg(feature = "status")]
//! The status page in a real browser: headless Chromium (Debian's `chromium`) loads the page
//! from the status firmware running as a child process on 127.0.0.1, its live updates run for a
//! few seconds, and then the rendered DOM is compared with `/api/status` fetched at the same
//! time, and screenshots are taken at desktop and phone sizes:
//! `target/status-screenshot.png` (1280×1600) and `target/status-screenshot-phone.png` (390×844
//! CSS pixels at 2×), with the DOM in `target/status-dom.html`, kept as test artifacts.
//!
//! Chromium is driven over the DevTools protocol on `--remote-debugging-pipe` (fd 3: commands,
//! fd 4: replies, NUL-terminated JSON), not with `--dump-dom --virtual-time-budget`: the page
//! keeps an `EventSource` open, and headless Chromium's virtual time does not advance while a
//! network fetch is pending, so that budget never runs out (the process hangs), and without it
//! the DOM is dumped at the load event, before the first live update.
//!
//! Skipped with a message when chromium is missing and cannot be installed (apt-get as root),
//! or cannot start here. Bounded to under a minute.

#[path = "common/status.rs"]
mod status_common;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use status_common::{
    Firmware, Json, element_text, host_cpu_count, host_mem_total, page_bytes, parse_page_date,
    python_available, read_trimmed, secs, unescape_json,
};

/// The whole test, browser start to screenshots.
const BUDGET: Duration = Duration::from_secs(55);

/// Chromium's flags (a fresh profile is added).
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--window-size=1280,1600",
    "--remote-debugging-pipe",
];

/// Records, at `DOMContentLoaded` (before app.js's first live update, which waits for a fetch),
/// the server-rendered `#updated` and `#mode`, then counts every later change of `#updated`.
const PROBE: &str = r#"
document.addEventListener('DOMContentLoaded', function () {
  var text = function (id) { var e = document.getElementById(id); return e ? e.textContent : null; };
  window.__probe = { initial: { updated: text('updated'), mode: text('mode') }, changes: 0 };
  var u = document.getElementById('updated');
  if (u) new MutationObserver(function () { window.__probe.changes++; })
    .observe(u, { childList: true, characterData: true, subtree: true });
});
"#;

fn repo_target() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir).expect("create target/");
    dir
}

/// Whether chromium runs (installing Debian's package when missing and root); `Err(why)` to skip.
fn ensure_chromium() -> Result<(), String> {
    let runs = || {
        Command::new("chromium")
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs() {
        return Ok(());
    }
    if !status_common::is_root() {
        return Err("chromium missing and not root: not installing it".into());
    }
    status_common::apt_install("chromium");
    if runs() {
        Ok(())
    } else {
        Err("apt-get install chromium did not provide a working chromium".into())
    }
}

// ---------------------------------------------------------------------------------------------
// DevTools protocol over a pipe.
// ---------------------------------------------------------------------------------------------

fn cloexec_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `pipe2` writes two descriptors into the valid, exclusively borrowed array.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Headless Chromium on `--remote-debugging-pipe`. Dropping it closes the browser (SIGTERM,
/// then kill) and removes its profile.
struct Browser {
    child: Child,
    commands: File,
    replies: mpsc::Receiver<Vec<u8>>,
    next_id: u64,
    profile: PathBuf,
    /// Events received while waiting for replies (`Runtime.exceptionThrown`, …).
    events: Vec<String>,
    session: Option<String>,
}

impl Browser {
    fn launch() -> Result<Browser, String> {
        let profile = std::env::temp_dir().join(format!(
            "edgeloop-status-browser-{}-{}",
            std::process::id(),
            status_common::now_ms()
        ));
        std::fs::create_dir_all(&profile).map_err(|e| format!("profile dir: {e}"))?;
        let (cmd_r, cmd_w) = cloexec_pipe();
        let (res_r, res_w) = cloexec_pipe();
        let (a, b) = (cmd_r.as_raw_fd(), res_w.as_raw_fd());
        let mut cmd = Command::new("chromium");
        cmd.args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec the closure only calls async-signal-safe functions
        // (fcntl, dup2, close) on descriptors this process owns. It moves the pipe ends to fd 3
        // (commands in) and fd 4 (replies out) without CLOEXEC, going through copies at 10 and
        // up first so that neither target overwrites the other's source.
        unsafe {
            cmd.pre_exec(move || {
                let a2 = libc::fcntl(a, libc::F_DUPFD, 10);
                let b2 = libc::fcntl(b, libc::F_DUPFD, 10);
                if a2 < 0 || b2 < 0 || libc::dup2(a2, 3) < 0 || libc::dup2(b2, 4) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(a2);
                libc::close(b2);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("spawn chromium: {e}"))?;
        drop(cmd_r);
        drop(res_w);
        let mut reader = File::from(res_r);
        let (tx, replies) = mpsc::channel();
        thread::spawn(move || {
            let mut pending = Vec::new();
            let mut chunk = vec![0u8; 1 << 16];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => pending.extend_from_slice(&chunk[..n]),
                }
                while let Some(end) = pending.iter().position(|&c| c == 0) {
                    let msg: Vec<u8> = pending.drain(..=end).collect();
                    if tx.send(msg[..msg.len() - 1].to_vec()).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Browser {
            child,
            commands: File::from(cmd_w),
            replies,
            next_id: 0,
            profile,
            events: Vec::new(),
            session: None,
        })
    }

    /// Sends `method` with `params` (a JSON object) to the attached page (or to the browser
    /// when there is none, or when `browser`), and waits up to `limit` for its reply's result.
    fn call_on(
        &mut self,
        browser: bool,
        method: &str,
        params: &str,
        limit: Duration,
    ) -> Result<String, String> {
        self.next_id += 1;
        let id = self.next_id;
        let session = match (&self.session, browser) {
            (Some(s), false) => format!(",\"sessionId\":\"{s}\""),
            _ => String::new(),
        };
        let msg = format!("{{\"id\":{id},\"method\":\"{method}\",\"params\":{params}{session}}}\0");
        self.commands
            .write_all(msg.as_bytes())
            .map_err(|e| format!("{method}: write: {e}"))?;
        let deadline = Instant::now() + limit;
        let prefix = format!("{{\"id\":{id},");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self
                .replies
                .recv_timeout(left)
                .map_err(|e| format!("{method}: no reply within {limit:?} ({e})"))?;
            let reply = String::from_utf8(reply).map_err(|_| format!("{method}: not UTF-8"))?;
            if reply.starts_with(&prefix) {
                if reply[prefix.len()..].starts_with("\"error\"") {
                    return Err(format!("{method}: {reply}"));
                }
                return Ok(reply);
            }
            if reply.starts_with("{\"method\":") {
                self.events.push(reply);
            }
        }
    }

    fn call(&mut self, method: &str, params: &str, limit: Duration) -> Result<String, String> {
        self.call_on(false, method, params, limit)
    }

    /// Evaluates `expr` in the page and returns its value, which must be a string.
    fn eval_string(&mut self, expr: &str, limit: Duration) -> Result<String, String> {
        let params = format!(
            "{{\"expression\":{},\"returnByValue\":true}}",
            json_quote(expr)
        );
        let reply = self.call("Runtime.evaluate", &params, limit)?;
        if reply.contains("\"exceptionDetails\"") {
            return Err(format!("evaluating {expr:?}: {reply}"));
        }
        string_field(&reply, "value").ok_or_else(|| format!("no string value in {reply}"))
    }

    /// A PNG screenshot of the viewport.
    fn screenshot(&mut self, limit: Duration) -> Result<Vec<u8>, String> {
        let reply = self.call("Page.captureScreenshot", "{\"format\":\"png\"}", limit)?;
        let data = string_field(&reply, "data").ok_or("no screenshot data")?;
        base64_decode(&data)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call_on(true, "Browser.close", "{}", Duration::from_secs(3));
        let deadline = Instant::now() + Duration::from_secs(3);
        let exited = loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break true,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => break false,
            }
        };
        if !exited {
            let pid = self.child.id() as libc::pid_t;
            // SAFETY: plain system call on the pid of a child we own and have not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            thread::sleep(Duration::from_millis(500));
            if !matches!(self.child.try_wait(), Ok(Some(_))) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `s` as a JSON string literal.
fn json_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The first string value of `"key":"…"` in a JSON text, unescaped.
fn string_field(json: &str, key: &str) -> Option<String> {
    let marker = format!("\"{key}\":\"");
    let start = json.find(&marker)? + marker.len() - 1;
    let bytes = json.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(unescape_json(&json[start..=i])),
            _ => i += 1,
        }
    }
    None
}

fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let value = |c: u8| -> Result<u32, String> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("bad base64 byte {c}")),
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for group in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in group.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        let n = match group.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return Err("truncated base64".into()),
        };
        out.extend_from_slice(&bytes[1..=n]);
    }
    Ok(out)
}

/// Width and height from a PNG's IHDR.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(png[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(png[20..24].try_into().ok()?);
    Some((w, h))
}

// ---------------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------------

#[test]
fn live_page_in_headless_chromium() {
    if let Err(why) = ensure_chromium() {
        eprintln!("SKIP: {why}");
        return;
    }
    let budget = Instant::now() + BUDGET;
    let left = || budget.saturating_duration_since(Instant::now());
    let step = |want: Duration| want.min(left());

    let fw = Firmware::start();
    // Per-core rows and CPU usage are there from the second refresh on.
    fw.wait_seq(2);

    let mut browser = match Browser::launch() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("SKIP: chromium cannot start here: {e}");
            return;
        }
    };
    match browser.call("Browser.getVersion", "{}", step(Duration::from_secs(20))) {
        Ok(v) => eprintln!(
            "browser: {}",
            string_field(&v, "product").unwrap_or_default()
        ),
        Err(e) => {
            eprintln!("SKIP: chromium cannot start here: {e}");
            return;
        }
    }
    let t = browser
        .call(
            "Target.createTarget",
            "{\"url\":\"about:blank\"}",
            step(secs(10.0)),
        )
        .expect("createTarget");
    let target = string_field(&t, "targetId").expect("targetId");
    let a = browser
        .call(
            "Target.attachToTarget",
            &format!("{{\"targetId\":\"{target}\",\"flatten\":true}}"),
            step(secs(10.0)),
        )
        .expect("attachToTarget");
    browser.session = Some(string_field(&a, "sessionId").expect("sessionId"));
    for (method, params) in [
        ("Runtime.enable", "{}".to_owned()),
        ("Page.enable", "{}".to_owned()),
        (
            "Emulation.setDeviceMetricsOverride",
            "{\"width\":1280,\"height\":1600,\"deviceScaleFactor\":1,\"mobile\":false}".to_owned(),
        ),
        (
            "Page.addScriptToEvaluateOnNewDocument",
            format!("{{\"source\":{}}}", json_quote(PROBE)),
        ),
    ] {
        browser
            .call(method, &params, step(secs(10.0)))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // What the device renders on its own, just before the browser loads it.
    let served = fw.get("/").text();
    let served_updated = element_text(&served, "updated").expect("#updated");
    let url = format!("http://{}/", fw.addr);
    let nav_start = Instant::now();
    browser
        .call(
            "Page.navigate",
            &format!("{{\"url\":{}}}", json_quote(&url)),
            step(secs(10.0)),
        )
        .expect("navigate");

    // Live updates: wait until #updated changed twice and the page says it is live.
    let probe_expr = "window.__probe ? JSON.stringify({initial: window.__probe.initial, \
                      changes: window.__probe.changes, mode: document.getElementById('mode')\
                      .textContent}) : ''";
    let mut probe = String::new();
    let live_deadline = Instant::now() + step(secs(8.0));
    while Instant::now() < live_deadline {
        probe = browser
            .eval_string(probe_expr, step(secs(5.0)))
            .expect("probe");
        let changes = probe
            .split("\"changes\":")
            .nth(1)
            .and_then(|r| r.split([',', '}']).next())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        if changes >= 2 && probe.contains("Live (server events)") {
            break;
        }
        thread::sleep(Duration::from_millis(250));
    }
    let live_after = nav_start.elapsed();
    let dom = browser
        .eval_string("document.documentElement.outerHTML", step(secs(10.0)))
        .expect("outerHTML");
    let title = browser
        .eval_string("document.title", step(secs(5.0)))
        .expect("title");
    // /api/status at about the same time as the DOM.
    let api = fw.get("/api/status");
    assert_eq!(api.status, 200);
    let dom_path = repo_target().join("status-dom.html");
    std::fs::write(&dom_path, &dom).expect("write the DOM");
    eprintln!(
        "live after {live_after:?}; probe {probe}; server-rendered #updated {served_updated:?}"
    );

    // Screenshots: desktop, then phone size.
    let desktop = browser
        .screenshot(step(secs(15.0)))
        .expect("desktop screenshot");
    let desktop_path = repo_target().join("status-screenshot.png");
    std::fs::write(&desktop_path, &desktop).expect("write the screenshot");
    browser
        .call(
            "Emulation.setDeviceMetricsOverride",
            "{\"width\":390,\"height\":844,\"deviceScaleFactor\":2,\"mobile\":true}",
            step(secs(10.0)),
        )
        .expect("phone metrics");
    thread::sleep(Duration::from_millis(300));
    let overflow = browser
        .eval_string(
            "String(document.documentElement.scrollWidth - window.innerWidth)",
            step(secs(5.0)),
        )
        .expect("scrollWidth");
    let phone = browser
        .screenshot(step(secs(15.0)))
        .expect("phone screenshot");
    let phone_path = repo_target().join("status-screenshot-phone.png");
    std::fs::write(&phone_path, &phone).expect("write the phone screenshot");
    let exceptions: Vec<String> = browser
        .events
        .iter()
        .filter(|e| {
            e.starts_with("{\"method\":\"Runtime.exceptionThrown\"")
                || (e.starts_with("{\"method\":\"Runtime.consoleAPICalled\"")
                    && e.contains("\"type\":\"error\""))
        })
        .cloned()
        .collect();
    drop(browser);
    eprintln!(
        "artifacts: {} ({:?}), {} ({:?}), {}; phone horizontal overflow {overflow} px",
        desktop_path.display(),
        png_size(&desktop),
        phone_path.display(),
        png_size(&phone),
        dom_path.display()
    );

    // --- The checks -----------------------------------------------------------------------
    assert!(exceptions.is_empty(), "page errors: {exceptions:#?}");
    assert_eq!(png_size(&desktop), Some((1280, 1600)), "desktop screenshot");
    assert_eq!(
        png_size(&phone),
        Some((780, 1688)),
        "phone screenshot (390×844 at 2×)"
    );
    assert_eq!(
        overflow, "0",
        "the page is wider than a 390 px phone screen (tables scroll inside their cards)"
    );

    let host = read_trimmed("/proc/sys/kernel/hostname");
    assert_eq!(
        element_text(&dom, "hostname").as_deref(),
        Some(host.as_str())
    );
    assert_eq!(title, format!("{host} · status"));
    let mem = page_bytes(host_mem_total());
    assert_eq!(
        element_text(&dom, "mem_total").as_deref(),
        Some(mem.as_str())
    );
    let cpus = host_cpu_count();
    assert_eq!(element_text(&dom, "cpu_count"), Some(cpus.to_string()));
    assert_eq!(
        dom.matches("<div class=\"core\">").count() as u64,
        cpus,
        "core rows"
    );
    assert!(dom.contains("<td>lo</td>"), "lo in the interface table");

    // A live update happened: the page says so, and #updated changed after the page loaded
    // and moved past what the device had rendered.
    let mode = element_text(&dom, "mode").expect("#mode");
    assert_eq!(mode, "Live (server events)", "probe {probe}");
    assert!(
        probe.contains("\"changes\":") && !probe.contains("\"changes\":0,"),
        "#updated never changed: {probe}"
    );
    let updated = element_text(&dom, "updated").expect("#updated");
    let (dom_t, served_t) = (
        parse_page_date(&updated).expect("a date in #updated"),
        parse_page_date(&served_updated).expect("a date in the served #updated"),
    );
    assert!(
        dom_t > served_t,
        "#updated did not advance: {served_updated} → {updated}"
    );

    if let Some(j) = Json::parse(&api.body) {
        let j = j.expect("valid /api/status");
        assert_eq!(j.str("hostname"), host);
        assert_eq!(
            element_text(&dom, "mem_total"),
            Some(page_bytes(j.u64("memory.total_bytes")))
        );
        assert_eq!(
            element_text(&dom, "cpu_count"),
            Some(j.u64("cpu.count").to_string())
        );
        let api_t = (j.u64("time_ms") / 1000) as i64;
        assert!(
            (api_t - dom_t).abs() <= 3,
            "the DOM's clock {updated} vs /api/status {api_t}"
        );
    } else if !python_available() {
        eprintln!("SKIP: /api/status not parsed (no python3)");
    }
    assert!(left() > Duration::ZERO, "over the time budget");
}
