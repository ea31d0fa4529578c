//! Real HTTP clients against the server: `curl` and Python's `http.client`, driving both the
//! `examples/hello_world` firmware binary (build it first with
//! `cargo build --features firmware --examples`) and an in-process `HttpServer` running the test
//! application of `tests/common/http.rs`. 127.0.0.1 only.
//!
//! A test whose client program is missing says so on stderr and passes without running.

#[path = "common/http.rs"]
mod http_common;

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use http_common::{Config, HelloWorld, TestServer, have_program, secs};

/// Whether `prog` is installed; if not, says the test is skipped.
fn require(prog: &str, test: &str) -> bool {
    if have_program(prog) {
        true
    } else {
        eprintln!("skipping {test}: `{prog}` is not installed");
        false
    }
}

/// Runs `cmd` to completion within `limit`, feeding it `stdin`. Kills it (by its own handle) if
/// it overruns.
fn run(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child: Child = cmd.spawn().expect("spawn client");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the client did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let _ = feeder.join();
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

fn curl(args: &[&str]) -> Command {
    let mut c = Command::new("curl");
    c.args([
        "--silent",
        "--show-error",
        "--max-time",
        "20",
        "--noproxy",
        "*",
    ]);
    c.args(args);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789\n"[(i * 7 + i / 37) % 37])
        .collect()
}

// ---------------------------------------------------------------------------------------------
// curl.
// ---------------------------------------------------------------------------------------------

#[test]
fn curl_reuses_one_keep_alive_connection_for_two_urls() {
    if !require("curl", "curl_reuses_one_keep_alive_connection_for_two_urls") {
        return;
    }
    let hw = HelloWorld::start();
    let out = run(
        curl(&["-v", &hw.url("/"), &hw.url("/missing")]),
        b"",
        secs(30.0),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "curl failed: {stderr}");
    assert_eq!(
        stdout, "Hello, world<html><title>404: Not Found</title><body>404: Not Found</body></html>",
        "{stderr}"
    );
    assert!(
        stderr.contains("Re-using existing connection"),
        "curl opened a second connection:\n{stderr}"
    );
    assert!(stderr.contains("< HTTP/1.1 200 OK"), "{stderr}");
    assert!(stderr.contains("< HTTP/1.1 404 Not Found"), "{stderr}");
    assert!(stderr.contains("< Server: edgeloop"), "{stderr}");
}

#[test]
fn curl_http10_gets_its_answer_and_the_connection_closes() {
    if !require(
        "curl",
        "curl_http10_gets_its_answer_and_the_connection_closes",
    ) {
        return;
    }
    let hw = HelloWorld::start();
    let out = run(
        curl(&["-v", "--http1.0", &hw.url("/"), &hw.url("/")]),
        b"",
        secs(30.0),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "curl failed: {stderr}");
    assert_eq!(stdout, "Hello, world".repeat(2), "{stderr}");
    assert!(stderr.contains("> GET / HTTP/1.0"), "{stderr}");
    assert!(stderr.contains("< Connection: close"), "{stderr}");
    assert!(
        !stderr.contains("Re-using existing connection"),
        "an HTTP/1.0 connection was reused:\n{stderr}"
    );
    // With keep-alive asked for, HTTP/1.0 keeps the connection.
    let out = run(
        curl(&[
            "-v",
            "--http1.0",
            "-H",
            "Connection: keep-alive",
            &hw.url("/"),
            &hw.url("/"),
        ]),
        b"",
        secs(30.0),
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "curl failed: {stderr}");
    assert!(stderr.contains("< Connection: keep-alive"), "{stderr}");
    assert!(stderr.contains("Re-using existing connection"), "{stderr}");
}

#[test]
fn curl_chunked_upload_from_stdin_is_echoed() {
    if !require("curl", "curl_chunked_upload_from_stdin_is_echoed") {
        return;
    }
    let srv = TestServer::with(Config {
        buffer_size: 64 * 1024,
        buffers: 8,
        ..Config::default()
    });
    let body = pattern(20_000);
    let out = run(
        curl(&["-v", "-T", "-", &srv.url("/echo")]),
        &body,
        secs(30.0),
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "curl failed: {stderr}");
    assert!(
        stderr.contains("> Transfer-Encoding: chunked"),
        "curl did not send a chunked body:\n{stderr}"
    );
    assert!(stderr.contains("< X-Method: PUT"), "{stderr}");
    assert!(stderr.contains("< X-Body-Len: 20000"), "{stderr}");
    assert!(
        out.stdout == body,
        "the echoed body differs ({} bytes)",
        out.stdout.len()
    );
}

#[test]
fn curl_expect_100_continue_post_of_100_kib() {
    if !require("curl", "curl_expect_100_continue_post_of_100_kib") {
        return;
    }
    let srv = TestServer::with(Config {
        buffer_size: 128 * 1024,
        buffers: 8,
        ..Config::default()
    });
    let body = pattern(100 * 1024);
    let started = Instant::now();
    let out = run(
        curl(&[
            "-v",
            "--expect100-timeout",
            "10",
            "-H",
            "Expect: 100-continue",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            "@-",
            &srv.url("/echo"),
        ]),
        &body,
        secs(30.0),
    );
    let took = started.elapsed();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "curl failed: {stderr}");
    assert!(stderr.contains("> Expect: 100-continue"), "{stderr}");
    assert!(
        stderr.contains("< HTTP/1.1 100 Continue"),
        "no 100 Continue:\n{stderr}"
    );
    assert!(stderr.contains("< HTTP/1.1 200 OK"), "{stderr}");
    assert!(stderr.contains("< X-Body-Len: 102400"), "{stderr}");
    // curl waited for the server's go-ahead, not for its 10 s timeout.
    assert!(
        took < secs(8.0),
        "took {took:?}: curl waited for its expect timeout"
    );
    assert!(
        out.stdout == body,
        "the echoed body differs ({} bytes)",
        out.stdout.len()
    );
}

#[test]
fn curl_head_and_post_against_hello_world() {
    if !require("curl", "curl_head_and_post_against_hello_world") {
        return;
    }
    let hw = HelloWorld::start();
    let out = run(curl(&["-I", &hw.url("/")]), b"", secs(30.0));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.starts_with("HTTP/1.1 200 OK\r\n"), "{stdout}");
    assert!(stdout.contains("Content-Length: 12\r\n"), "{stdout}");
    let out = run(
        curl(&["-i", "--data", "x=1", &hw.url("/")]),
        b"",
        secs(30.0),
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Allow: GET, HEAD, OPTIONS\r\n"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// Python's http.client.
// ---------------------------------------------------------------------------------------------

const PY_TWO_REQUESTS: &str = r#"
import http.client, sys
port, method2, path2, body2 = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("GET", "/")
r = c.getresponse()
print(r.status, repr(r.read().decode()))
sock = c.sock
c.request(method2, path2, body=body2.encode() if body2 else None)
r = c.getresponse()
print(r.status, repr(r.read().decode()), r.getheader("Server"))
print("same connection:", c.sock is sock and sock is not None)
c.close()
"#;

fn python_two_requests(port: u16, method2: &str, path2: &str, body2: &str) -> Vec<String> {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        PY_TWO_REQUESTS,
        &port.to_string(),
        method2,
        path2,
        body2,
    ]);
    let out = run(cmd, b"", secs(30.0));
    assert!(
        out.status.success(),
        "python failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn python_http_client_two_requests_on_one_connection_to_hello_world() {
    if !require(
        "python3",
        "python_http_client_two_requests_on_one_connection_to_hello_world",
    ) {
        return;
    }
    let hw = HelloWorld::start();
    let lines = python_two_requests(hw.addr.port(), "GET", "/missing", "");
    assert_eq!(
        lines,
        [
            "200 'Hello, world'",
            "404 '<html><title>404: Not Found</title><body>404: Not Found</body></html>' edgeloop",
            "same connection: True"
        ]
    );
}

#[test]
fn python_http_client_two_requests_on_one_connection_to_the_in_process_server() {
    if !require(
        "python3",
        "python_http_client_two_requests_on_one_connection_to_the_in_process_server",
    ) {
        return;
    }
    let srv = TestServer::start();
    let lines = python_two_requests(srv.addr.port(), "POST", "/echo", "hello from python");
    assert_eq!(
        lines,
        [
            "200 ''",
            "200 'hello from python' edgeloop",
            "same connection: True"
        ]
    );
}
