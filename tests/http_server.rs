//! The HTTP/1.1 server end to end, over real sockets on 127.0.0.1 only.
//!
//! Two kinds of server: the real `examples/hello_world` firmware binary (spawned; build it first
//! with `cargo build --features firmware --examples`), and an in-process `HttpServer` running the
//! test application of `tests/common/http.rs` on its own thread (echo, remote address, headers,
//! query, a 256 KiB static body, a deferred response, a handler that overflows its buffer,
//! header injection attempts).
//!
//! Every test is bounded in time: every socket operation has a deadline, and timing thresholds
//! are generous (2-core machines running other builds) and stretched under QEMU
//! (`EDGELOOP_TEST_RUNNER`).

#[path = "common/http.rs"]
mod http_common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use edgeloop::http::{
    HEAD_TIMEOUT_MS, MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_HEADERS, MAX_TRAILER_BYTES, MAX_URI_BYTES,
};
use edgeloop::tcpserver::DEFER_ACCEPT_SECS;
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestCaseError, TestRunner};

use http_common::{
    BIG, BIG_LEN, Client, Config, HelloWorld, Resp, TestServer, get, header_digest,
    parse_imf_fixdate, raise_nofile, secs, serial, unix_now,
};

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

/// Asserts that a new client on `addr` still gets a 200.
fn assert_still_serving(addr: SocketAddr) {
    let r = get(addr, "/_/query?alive");
    assert_eq!(r.status, 200, "{}", r.head_text());
    assert_eq!(r.body, b"alive");
}

/// Sends `req` on a fresh connection to a fresh server built as `cfg`; asserts the response
/// status is `status`, that it says `Connection: close`, and that the server then closes the
/// connection. Returns the response.
fn refused_with(cfg: Config, req: &[u8], status: u16) -> Resp {
    let srv = TestServer::with(cfg);
    let mut c = srv.client();
    c.send(req);
    let r = c.read_response();
    assert_eq!(
        r.status,
        status,
        "request {:?} got {:?}",
        String::from_utf8_lossy(req),
        r.head_text()
    );
    assert!(r.says_close(), "no `Connection: close`: {}", r.head_text());
    c.expect_closed();
    assert_still_serving(srv.addr);
    r
}

fn refused(req: &[u8], status: u16) -> Resp {
    refused_with(Config::default(), req, status)
}

/// `POST /echo` with the given extra header lines and raw body bytes.
fn post(fields: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!("POST /echo HTTP/1.1\r\nHost: t\r\n{fields}\r\n").into_bytes();
    v.extend_from_slice(body);
    v
}

/// A chunked `POST /echo` whose body is `chunked` (raw chunked coding).
fn post_chunked(chunked: &[u8]) -> Vec<u8> {
    post("Transfer-Encoding: chunked\r\n", chunked)
}

/// Encodes `body` in chunks of the given sizes (cycled), with a chunk extension on every third
/// chunk and a trailer field.
fn chunk_encode(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < body.len() {
        let n = sizes[i % sizes.len()].clamp(1, body.len() - at);
        if i % 3 == 2 {
            out.extend_from_slice(format!("{n:x};name=value\r\n").as_bytes());
        } else {
            out.extend_from_slice(format!("{n:X}\r\n").as_bytes());
        }
        out.extend_from_slice(&body[at..at + n]);
        out.extend_from_slice(b"\r\n");
        at += n;
        i += 1;
    }
    out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    out
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed) ^ (i >> 7) as u8)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Persistence.
// ---------------------------------------------------------------------------------------------

#[test]
fn keep_alive_http11_serves_several_requests_on_one_socket() {
    let srv = TestServer::start();
    let mut c = srv.client();
    for i in 0..10 {
        let r = c.request(format!("GET /_/query?n={i} HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("n={i}"));
        assert_eq!(
            r.header("Connection"),
            None,
            "HTTP/1.1 keep-alive is implicit"
        );
    }
    c.expect_silence(Duration::from_millis(200));
    let hw = HelloWorld::start();
    let mut c = Client::connect(hw.addr);
    for _ in 0..5 {
        let r = c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!((r.status, r.text().as_str()), (200, "Hello, world"));
    }
}

#[test]
fn http10_closes_by_default() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let r = c.request("GET /_/query?old HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"old");
    assert!(r.says_close(), "{}", r.head_text());
    c.expect_closed();

    let hw = HelloWorld::start();
    let mut c = Client::connect(hw.addr);
    let r = c.request("GET / HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, world"));
    assert!(r.says_close());
    c.expect_closed();
}

#[test]
fn http10_keep_alive_stays_open_and_says_so() {
    let srv = TestServer::start();
    let mut c = srv.client();
    for i in 0..3 {
        let r = c.request(format!(
            "GET /_/query?{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), i.to_string());
        assert_eq!(
            r.header("Connection"),
            Some("keep-alive"),
            "{}",
            r.head_text()
        );
    }
    // Without the token the next one closes.
    let r = c.request("GET /_/query?last HTTP/1.0\r\n\r\n");
    assert!(r.says_close());
    c.expect_closed();
}

#[test]
fn connection_close_closes_after_the_response() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let r = c.request("GET /_/query?a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"a");
    let r = c.request("GET /_/query?b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"b");
    assert!(r.says_close());
    c.expect_closed();

    // The handler can ask for it too.
    let mut c = srv.client();
    let r = c.request("GET /_/close HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"closing");
    assert!(r.says_close());
    c.expect_closed();
}

/// A request that asks to close is answered with the FIN in the answer's last segment
/// (`IoStream::close_finished`) — unless the client sent more behind it: then closing resets
/// the connection, and the answer must already be on its way, not held back for the FIN.
#[test]
fn connection_close_answer_arrives_whole_even_with_bytes_behind_it() {
    let srv = TestServer::start();
    for _ in 0..10 {
        let mut c = srv.client();
        let mut req =
            b"GET /_/query?first HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec();
        // More than the server's read buffer: some stays unread in the kernel at the close.
        req.extend(std::iter::repeat_n(b'x', 256 * 1024));
        c.send(&req);
        let r = c.read_response();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"first"[..]));
        assert!(r.says_close());

        let mut c = srv.client();
        let r = c.request("GET /_/query?only HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"only"[..]));
        c.expect_closed();
    }
}

/// The accept path: many clients at once, each on a fresh connection with `Connection: close`.
/// Each is served as soon as it is accepted (the request came with it), or later when its head
/// arrives in pieces, or after it stayed silent longer than the kernel defers accepting
/// (`DEFER_ACCEPT_SECS`). All are answered and closed, and no connection is left behind.
#[test]
fn connection_close_clients_in_parallel_are_all_answered() {
    const THREADS: usize = 8;
    const EACH: usize = 50;
    let srv = TestServer::start();
    let addr = srv.addr;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..EACH {
                    let mut c = Client::connect(addr);
                    let req = format!(
                        "GET /_/query?{t}-{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                    );
                    if i % 10 == 9 {
                        // A head in two pieces: the first is all there is when it is accepted.
                        let (a, b) = req.split_at(20);
                        c.send(a);
                        thread::sleep(Duration::from_millis(20));
                        c.send(b);
                    } else {
                        c.send(&req);
                    }
                    let r = c.read_response();
                    assert_eq!(r.status, 200, "{}", r.head_text());
                    assert_eq!(r.text(), format!("{t}-{i}"));
                    assert!(r.says_close(), "{}", r.head_text());
                    c.expect_closed();
                }
            })
        })
        .collect();
    let mut late = srv.client();
    let silent = DEFER_ACCEPT_SECS as u64 * 1000 + 500;
    thread::sleep(Duration::from_millis(silent));
    let r = late.request("GET /_/query?late HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.body, b"late");
    late.expect_closed();
    for w in workers {
        w.join().expect("a client failed");
    }
    // Every client was accepted once and every connection is gone, but the one asking.
    let stats = srv.stats();
    let stat = |name: &str| stats.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    assert_eq!(stat("accepted"), Some((THREADS * EACH + 2) as u64));
    assert_eq!(stat("active"), Some(1));
    assert_eq!(stat("rejected"), Some(0));
}

// ---------------------------------------------------------------------------------------------
// Pipelining and split requests.
// ---------------------------------------------------------------------------------------------

/// 100 requests in one write; answers checked in order.
fn pipeline_100(cfg: Config) {
    let srv = TestServer::with(cfg);
    let mut c = srv.client();
    let mut all = Vec::new();
    for i in 0..100 {
        if i % 2 == 0 {
            all.extend_from_slice(
                format!("GET /p{i}/x?q={i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
            );
        } else {
            all.extend_from_slice(
                format!("GET /_/query?n={i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
            );
        }
    }
    c.send(&all);
    for i in 0..100 {
        let r = c
            .try_read_response(false)
            .unwrap_or_else(|e| panic!("response {i} of 100: {e}"));
        assert_eq!(r.status, 200, "response {i}");
        if i % 2 == 0 {
            assert_eq!(
                r.header("X-Path"),
                Some(format!("/p{i}/x").as_str()),
                "response {i}"
            );
            assert_eq!(r.header("X-Query"), Some(format!("q={i}").as_str()));
        } else {
            assert_eq!(r.text(), format!("n={i}"), "response {i}");
        }
    }
    assert!(c.pending().is_empty());
    c.expect_silence(Duration::from_millis(100));
}

#[test]
fn pipelining_100_requests_answered_in_order() {
    pipeline_100(Config::default());
}

#[test]
fn pipelining_100_requests_answered_in_order_with_small_buffers() {
    // The requests (~3.4 KB) overflow the 2 KiB read buffer and the responses need several
    // rounds of the write buffer.
    pipeline_100(Config::small());
}

#[test]
fn requests_split_into_single_bytes_parse_correctly() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let mut all = b"GET /a/b?c=d HTTP/1.1\r\nHost: t\r\nX-One: 1\r\n\r\n".to_vec();
    all.extend_from_slice(&post("Content-Length: 11\r\n", b"hello world"));
    all.extend_from_slice(&post_chunked(&chunk_encode(b"chunked body here", &[3, 5])));
    c.send_bytewise(&all, Duration::from_millis(1));
    let r = c.read_response();
    assert_eq!(r.header("X-Path"), Some("/a/b"));
    assert_eq!(r.header("X-Query"), Some("c=d"));
    assert_eq!(r.header("X-Header-Count"), Some("2"));
    let r = c.read_response();
    assert_eq!(r.header("X-Method"), Some("POST"));
    assert_eq!(r.body, b"hello world");
    let r = c.read_response();
    assert_eq!(r.body, b"chunked body here");
    assert_eq!(r.header("X-Body-Len"), Some("17"));
}

// ---------------------------------------------------------------------------------------------
// HEAD, 100-continue, bodies.
// ---------------------------------------------------------------------------------------------

fn without_date(r: &Resp) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
        .cloned()
        .collect()
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let g = c.request("GET /_/query?abcdef HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send("HEAD /_/query?abcdef HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(h.status, 200);
    assert_eq!(g.header("Content-Length"), Some("6"));
    assert_eq!(without_date(&g), without_date(&h));
    // No body bytes follow the HEAD response: the next response starts right away.
    let r = c.request("GET /_/query?next HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"next");

    let hw = HelloWorld::start();
    let mut c = Client::connect(hw.addr);
    let g = c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(h.header("Content-Length"), Some("12"));
    assert_eq!(without_date(&g), without_date(&h));
    let r = c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"Hello, world");
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read_response();
    assert_eq!(interim.status_line, "HTTP/1.1 100 Continue");
    assert!(interim.headers.is_empty(), "{}", interim.head_text());
    c.send("hello there");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello there");
    // Keep-alive continues, and the next request gets its own 100 Continue.
    c.send("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n");
    assert_eq!(c.read_response().status, 100);
    c.send("abc");
    assert_eq!(c.read_response().body, b"abc");
    // A body too large for the buffer gets the 413 instead of the go-ahead.
    let srv = TestServer::with(Config::small());
    let mut c = srv.client();
    c.send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = c.read_response();
    assert_eq!(r.status, 413);
    c.expect_closed();
}

#[test]
fn expect_100_continue_with_a_chunked_body() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.send(post(
        "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n",
        b"",
    ));
    assert_eq!(c.read_response().status_line, "HTTP/1.1 100 Continue");
    c.send(chunk_encode(b"chunks after the go-ahead", &[4, 7]));
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"chunks after the go-ahead");
    // Only one 100 Continue per request, even though the body came in pieces.
    assert!(c.pending().is_empty());
    c.expect_silence(Duration::from_millis(100));
}

#[test]
fn content_length_body_is_echoed() {
    let srv = TestServer::start();
    let mut c = srv.client();
    for (i, len) in [0usize, 1, 100, 4000, 12_000].into_iter().enumerate() {
        let body = pattern(len, i as u8);
        let r = c.request(post(&format!("Content-Length: {len}\r\n"), &body));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("X-Body-Len"), Some(len.to_string().as_str()));
        assert!(r.body == body, "body of {len} bytes differs");
    }
}

#[test]
fn chunked_body_is_dechunked_across_writes() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let body = pattern(9000, 7);
    let raw = chunk_encode(&body, &[1, 2, 17, 100, 3, 999, 64]);
    c.send(post("Transfer-Encoding: chunked\r\n", b""));
    // Split the chunked coding at awkward places, pausing so they arrive separately.
    let mut at = 0;
    for (i, step) in [1usize, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610]
        .into_iter()
        .cycle()
        .enumerate()
    {
        if at >= raw.len() {
            break;
        }
        let end = (at + step).min(raw.len());
        c.send(&raw[at..end]);
        at = end;
        if i % 4 == 0 {
            thread::sleep(Duration::from_millis(2));
        }
    }
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.head_text());
    assert_eq!(r.header("X-Body-Len"), Some("9000"));
    assert!(r.body == body, "de-chunked body differs");
    // A pipelined request right after the chunked body is answered too.
    let mut two = post_chunked(b"3\r\nabc\r\n0\r\n\r\n");
    two.extend_from_slice(b"GET /_/query?after HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send(&two);
    assert_eq!(c.read_response().body, b"abc");
    assert_eq!(c.read_response().body, b"after");
}

#[test]
fn body_larger_than_the_read_buffer_is_413_and_closes() {
    // Only the head is sent: the server decides on the head alone.
    let r = refused_with(Config::small(), &post("Content-Length: 2049\r\n", b""), 413);
    assert!(r.text().starts_with("413"), "{}", r.text());
    // A body that fits the buffer with its head is read (and skipped by a handler that ignores
    // it: echoing it would not fit the 2 KiB write buffer).
    let srv = TestServer::with(Config::small());
    let mut c = srv.client();
    let body = pattern(1900, 1);
    let mut req = format!(
        "POST /_/ignore HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = c.request(&req);
    assert_eq!((r.status, r.text().as_str()), (200, "ignored"));
    // A head plus body one byte over the buffer is refused.
    let mut c = srv.client();
    let over = 2048 - (req.len() - body.len()) + 1;
    c.send(format!(
        "POST /_/ignore HTTP/1.1\r\nHost: t\r\nContent-Length: {over}\r\n\r\n"
    ));
    assert_eq!(c.read_response().status, 413);
    c.expect_closed();
}

#[test]
fn handler_ignoring_the_body_does_not_desync_the_connection() {
    let srv = TestServer::start();
    let mut c = srv.client();
    // The body looks like a request: it must be skipped as a body, never parsed.
    let smuggled = b"GET /_/query?smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut all = format!(
        "POST /_/ignore HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        smuggled.len()
    )
    .into_bytes();
    all.extend_from_slice(smuggled);
    let chunked = chunk_encode(smuggled, &[10]);
    all.extend_from_slice(
        b"POST /_/ignore HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    all.extend_from_slice(&chunked);
    all.extend_from_slice(b"GET /_/query?next HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send(&all);
    assert_eq!(c.read_response().body, b"ignored");
    assert_eq!(c.read_response().body, b"ignored");
    assert_eq!(c.read_response().body, b"next");
    c.expect_silence(Duration::from_millis(100));
}

#[test]
fn date_and_server_headers_are_present_and_date_is_current() {
    let srv = TestServer::start();
    let hw = HelloWorld::start();
    for addr in [srv.addr, hw.addr] {
        for path in ["/", "/_/query?x", "/missing"] {
            let r = get(addr, path);
            assert_eq!(r.header("Server"), Some("edgeloop"), "{}", r.head_text());
            let date = r.header("Date").expect("a Date header");
            let t = parse_imf_fixdate(date).unwrap_or_else(|| panic!("not IMF-fixdate: {date:?}"));
            let now = unix_now();
            assert!(
                (t - now).abs() <= 5,
                "Date {date:?} is {}s from now",
                t - now
            );
            assert_eq!(r.headers_named("Date").len(), 1);
        }
    }
    // Error responses carry them too.
    let mut c = srv.client();
    let r = c.request("GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("Server"), Some("edgeloop"));
    assert!(parse_imf_fixdate(r.header("Date").unwrap_or("")).is_some());
}

// ---------------------------------------------------------------------------------------------
// Strict framing: each refused shape gets its status and the connection closes.
// ---------------------------------------------------------------------------------------------

#[test]
fn content_length_with_transfer_encoding_is_400() {
    refused(
        &post(
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            b"0\r\n\r\n",
        ),
        400,
    );
    refused(
        &post(
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            b"0\r\n\r\n",
        ),
        400,
    );
}

#[test]
fn two_equal_content_lengths_are_400() {
    refused(
        &post("Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
        400,
    );
}

#[test]
fn two_unequal_content_lengths_are_400() {
    refused(
        &post("Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
        400,
    );
}

#[test]
fn content_length_with_plus_sign_is_400() {
    refused(&post("Content-Length: +1\r\n", b"x"), 400);
}

#[test]
fn content_length_in_hex_is_400() {
    refused(&post("Content-Length: 0x10\r\n", &[b'x'; 16]), 400);
}

#[test]
fn content_length_with_trailing_garbage_is_400() {
    refused(&post("Content-Length: 1Z\r\n", b"x"), 400);
}

#[test]
fn content_length_with_inner_space_is_400() {
    refused(&post("Content-Length:  1 2\r\n", &[b'x'; 12]), 400);
}

#[test]
fn content_length_of_20_digits_is_400() {
    refused(&post("Content-Length: 00000000000000000001\r\n", b"x"), 400);
    refused(&post("Content-Length: 18446744073709551616\r\n", b"x"), 400);
}

#[test]
fn content_length_with_leading_zero_is_decimal() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let mut all = post("Content-Length: 010\r\n", b"0123456789");
    all.extend_from_slice(b"GET /_/query?after HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send(&all);
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Body-Len"), Some("10"));
    assert_eq!(r.body, b"0123456789");
    assert_eq!(c.read_response().body, b"after");
}

#[test]
fn transfer_encoding_gzip_chunked_is_501() {
    refused(
        &post("Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"),
        501,
    );
}

#[test]
fn transfer_encoding_chunked_chunked_is_501() {
    refused(
        &post("Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"),
        501,
    );
}

#[test]
fn transfer_encoding_identity_is_501() {
    refused(&post("Transfer-Encoding: identity\r\n", b""), 501);
}

#[test]
fn two_transfer_encoding_fields_are_501() {
    refused(
        &post(
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            b"0\r\n\r\n",
        ),
        501,
    );
}

#[test]
fn transfer_encoding_on_http10_is_400() {
    refused(
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn chunk_size_with_0x_prefix_is_400() {
    refused(&post_chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn chunk_size_with_plus_sign_is_400() {
    refused(&post_chunked(b"+5\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn empty_chunk_size_line_is_400() {
    refused(&post_chunked(b"\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn chunk_size_with_inner_space_is_400() {
    refused(&post_chunked(b"5 5\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn bare_lf_in_chunk_extension_is_400() {
    refused(&post_chunked(b"5;ext=1\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn chunk_data_not_followed_by_crlf_is_400() {
    refused(&post_chunked(b"5\r\nhelloXX0\r\n\r\n"), 400);
}

#[test]
fn chunk_size_of_nine_hex_digits_is_400() {
    refused(&post_chunked(b"000000005\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn chunked_body_over_the_body_limit_is_413() {
    let size = format!("{:x}\r\n", MAX_BODY_BYTES + 1);
    refused(&post_chunked(size.as_bytes()), 413);
    // Many small chunks adding up past the limit, on a server whose buffer could hold them.
    let srv = TestServer::with(Config {
        buffer_size: MAX_BODY_BYTES + 64 * 1024,
        buffers: 4,
        ..Config::default()
    });
    let mut c = srv.client();
    c.send(post_chunked(b""));
    let chunk = format!("{:x}\r\n{}\r\n", 8000, "y".repeat(8000));
    let mut writer = c.s.try_clone().expect("clone");
    let pump = thread::spawn(move || {
        let mut n = 0usize;
        // The server refuses and closes mid-way: the writes then fail.
        while n <= MAX_BODY_BYTES + 8000 && writer.write_all(chunk.as_bytes()).is_ok() {
            n += 8000;
        }
        n
    });
    let r = c.read_response();
    let sent = pump.join().expect("writer");
    assert_eq!(r.status, 413, "after {sent} body bytes: {}", r.head_text());
    assert!(r.says_close());
    assert!(c.try_wait_closed().is_ok());
}

#[test]
fn chunked_trailer_section_over_the_limit_is_431() {
    let mut raw = b"3\r\nabc\r\n0\r\n".to_vec();
    raw.extend_from_slice(format!("X-Long: {}\r\n\r\n", "t".repeat(MAX_TRAILER_BYTES)).as_bytes());
    refused(&post_chunked(&raw), 431);
    // A small trailer is accepted and dropped.
    let srv = TestServer::start();
    let r = srv
        .client()
        .request(post_chunked(b"3\r\nabc\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
}

#[test]
fn chunked_body_larger_than_the_read_buffer_is_413() {
    // 3000 decoded bytes cannot fit a 2 KiB buffer.
    let srv = TestServer::with(Config::small());
    let mut c = srv.client();
    let raw = chunk_encode(&pattern(3000, 3), &[100]);
    c.send(post_chunked(b""));
    // The server may close while bytes are in flight; a failed write is fine.
    let _ = c.s.write_all(&raw);
    let r = c.read_response();
    assert_eq!(r.status, 413, "{}", r.head_text());
    assert!(r.says_close());
    assert!(c.try_wait_closed().is_ok());
    assert_still_serving(srv.addr);
}

// ---------------------------------------------------------------------------------------------
// Other statuses.
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_method_is_501() {
    refused(b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501);
    // Methods are case-sensitive.
    refused(b"get / HTTP/1.1\r\nHost: t\r\n\r\n", 501);
}

#[test]
fn http2_request_line_is_505() {
    refused(b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
}

#[test]
fn http12_request_line_is_505() {
    refused(b"GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505);
}

#[test]
fn uri_longer_than_the_limit_is_414() {
    let long = format!("/{}", "a".repeat(MAX_URI_BYTES));
    refused(
        format!("GET {long} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        414,
    );
    // Refused before the request line is complete.
    refused(format!("GET {long}").as_bytes(), 414);
    // At the limit it is fine.
    let srv = TestServer::start();
    let ok = format!("/_/query?{}", "b".repeat(MAX_URI_BYTES - 9));
    assert_eq!(ok.len(), MAX_URI_BYTES);
    let r = get(srv.addr, &ok);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), MAX_URI_BYTES - 9);
}

#[test]
fn head_larger_than_the_limit_is_431() {
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    while req.len() <= MAX_HEAD_BYTES {
        req.extend_from_slice(format!("X-Pad: {}\r\n", "p".repeat(1000)).as_bytes());
    }
    let big = Config {
        buffer_size: 4 * MAX_HEAD_BYTES,
        buffers: 16,
        ..Config::default()
    };
    let mut complete = req.clone();
    complete.extend_from_slice(b"\r\n");
    refused_with(big, &complete, 431);
    // Not complete yet, already too large.
    refused_with(big, &req, 431);
    // A head larger than a 2 KiB read buffer (though under MAX_HEAD_BYTES) is 431 too.
    let mut small = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    small.extend_from_slice(format!("X-Pad: {}\r\n\r\n", "p".repeat(2100)).as_bytes());
    refused_with(Config::small(), &small, 431);
}

#[test]
fn more_headers_than_the_limit_is_431() {
    let mut req = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
    for i in 0..MAX_HEADERS {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    refused(req.as_bytes(), 431);
    // Exactly MAX_HEADERS is accepted.
    let srv = TestServer::start();
    let mut req = String::from("GET /echo HTTP/1.1\r\nHost: t\r\n");
    for i in 1..MAX_HEADERS {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let r = srv.client().request(req);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("X-Header-Count"),
        Some(MAX_HEADERS.to_string().as_str())
    );
}

#[test]
fn unsupported_expectation_is_417() {
    refused(b"GET / HTTP/1.1\r\nHost: t\r\nExpect: foo\r\n\r\n", 417);
}

#[test]
fn missing_host_on_http11_is_400() {
    refused(b"GET / HTTP/1.1\r\n\r\n", 400);
}

#[test]
fn hello_world_answers_404_and_405_with_allow() {
    let hw = HelloWorld::start();
    let mut c = Client::connect(hw.addr);
    let r = c.request("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 404, "{}", r.head_text());
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    let r = c.request("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
    // Both keep the connection.
    let r = c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"Hello, world");
    assert!(hw.addr.port() != 0);
}

// ---------------------------------------------------------------------------------------------
// Features of the in-process application.
// ---------------------------------------------------------------------------------------------

#[test]
fn xheaders_set_the_remote_address_when_enabled() {
    let srv = TestServer::with(Config {
        xheaders: true,
        ..Config::default()
    });
    let mut c = srv.client();
    let ask = |c: &mut Client, fields: &str| {
        c.request(format!("GET /_/remote HTTP/1.1\r\nHost: t\r\n{fields}\r\n"))
            .text()
    };
    assert_eq!(ask(&mut c, "X-Real-Ip: 10.1.2.3\r\n"), "10.1.2.3");
    assert_eq!(
        ask(&mut c, "X-Forwarded-For: 1.1.1.1, 10.0.0.2\r\n"),
        "10.0.0.2"
    );
    assert_eq!(
        ask(&mut c, "X-Forwarded-For: 2001:db8::1\r\n"),
        "2001:db8::1"
    );
    assert_eq!(
        ask(
            &mut c,
            "X-Forwarded-For: 1.1.1.1\r\nX-Real-Ip: 192.168.1.9\r\n"
        ),
        "192.168.1.9"
    );
    // Garbage falls back to the peer.
    assert_eq!(ask(&mut c, "X-Real-Ip: not-an-ip\r\n"), "127.0.0.1");
    assert_eq!(ask(&mut c, ""), "127.0.0.1");
}

#[test]
fn xheaders_are_ignored_when_disabled() {
    let srv = TestServer::start();
    let mut c = srv.client();
    for fields in [
        "X-Real-Ip: 10.1.2.3\r\n",
        "X-Forwarded-For: 1.1.1.1, 10.0.0.2\r\n",
        "",
    ] {
        let r = c.request(format!("GET /_/remote HTTP/1.1\r\nHost: t\r\n{fields}\r\n"));
        assert_eq!(r.text(), "127.0.0.1", "with {fields:?}");
    }
}

#[test]
fn headers_and_query_reach_the_handler() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let r =
        c.request("GET /_/headers HTTP/1.1\r\nHost: t\r\nX-A:  spaced value \r\nx-b: 2\r\n\r\n");
    assert_eq!(r.text(), "Host: t\nX-A: spaced value\nx-b: 2\n");
    let r = c.request("GET /_/query?a=1&b=%20&c HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), "a=1&b=%20&c");
    let r = c.request("GET /_/query HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), "");
    // Absolute-form targets route on their path.
    let r = c.request("GET http://example.com/_/query?abs HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), "abs");
}

#[test]
fn static_body_is_sent_zero_copy_and_intact() {
    let srv = TestServer::with(Config::small());
    let mut c = srv.client();
    for _ in 0..2 {
        let r = c.request("GET /_/static HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("Content-Length"),
            Some(BIG_LEN.to_string().as_str())
        );
        assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
        assert_eq!(r.body.len(), BIG_LEN);
        assert!(r.body == BIG[..], "the static body differs");
    }
    // HEAD: the length without the body.
    c.send("HEAD /_/static HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(
        h.header("Content-Length"),
        Some(BIG_LEN.to_string().as_str())
    );
    let r = c.request("GET /_/query?after HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"after");
}

#[test]
fn static_body_then_pipelined_request() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.send(
        "GET /_/static HTTP/1.1\r\nHost: t\r\n\r\nGET /_/query?after HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let r = c.read_response();
    assert!(r.body == BIG[..], "the static body differs");
    let r = c
        .try_read_response(false)
        .unwrap_or_else(|e| panic!("the request pipelined after a static body: {e}"));
    assert_eq!(r.body, b"after");
}

#[test]
fn deferred_response_is_finished_from_a_timer_and_keep_alive_continues() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let t = Instant::now();
    let r = c.request("GET /_/defer?200 HTTP/1.1\r\nHost: t\r\n\r\n");
    let took = t.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"deferred");
    assert!(
        took >= Duration::from_millis(190),
        "answered after {took:?}"
    );
    assert!(took < secs(3.0), "answered after {took:?}");
    assert_eq!(r.header("Connection"), None);
    for i in 0..3 {
        let r = c.request(format!("GET /_/query?{i} HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(r.text(), i.to_string());
    }
    // A request pipelined behind a deferred one waits for it and comes after it.
    c.send("GET /_/defer?100 HTTP/1.1\r\nHost: t\r\n\r\nGET /_/query?second HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().body, b"deferred");
    assert_eq!(c.read_response().body, b"second");
    // HEAD and HTTP/1.0 are remembered across the deferral.
    c.send("HEAD /_/defer?50 HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(h.header("Content-Length"), Some("8"));
    let r = c.request("GET /_/defer?50 HTTP/1.0\r\n\r\n");
    assert_eq!(r.body, b"deferred");
    assert!(r.says_close());
    c.expect_closed();
    // A client that leaves before the timer does not disturb the server.
    let mut gone = srv.client();
    gone.send("GET /_/defer?100 HTTP/1.1\r\nHost: t\r\n\r\n");
    drop(gone);
    thread::sleep(Duration::from_millis(200));
    assert_still_serving(srv.addr);
}

/// An error answered from a timer counts in `responses_4xx`/`responses_5xx` like one answered
/// at once (the two paths finish responses in one place), and a failed response as the 500 it
/// is sent as.
#[test]
fn deferred_and_immediate_error_responses_are_counted_alike() {
    let srv = TestServer::start();
    let mut c = srv.client();
    for status in [503, 404] {
        let r = c.request(format!(
            "GET /_/status?{status} HTTP/1.1\r\nHost: t\r\n\r\n"
        ));
        assert_eq!(r.status, status);
    }
    assert_eq!(srv.stat("responses_5xx"), 1, "the immediate 503");
    assert_eq!(srv.stat("responses_4xx"), 1, "the immediate 404");
    let r = c.request("GET /_/defer-busy HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, &r.body[..]), (503, &b"busy"[..]));
    assert_eq!(srv.stat("responses_5xx"), 2, "the deferred 503");
    assert_eq!(srv.stat("responses_4xx"), 1);
    // A response that failed (its body outgrew the write buffer) goes out as, and counts as, a 500.
    let r = c.request("GET /_/toobig HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 500);
    assert_eq!(srv.stat("responses_5xx"), 3, "the failed response");
    // Every request is counted once: 4 answered on `c` and the 5 earlier `/_/stats` (this one
    // is counted after it has read the counters).
    assert_eq!(srv.stat("requests"), 4 + 5);
}

#[test]
fn deferred_request_with_more_pipelined_than_the_buffer_keeps_the_connection() {
    // While a request is parked, the client pipelines more than the 2 KiB read buffer holds:
    // that is back-pressure, not a reason to drop the connection and the parked response.
    let srv = TestServer::with(Config::small());
    let mut c = srv.client();
    let mut all = b"GET /_/defer?300 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    for i in 0..80 {
        all.extend_from_slice(format!("GET /_/query?{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    c.send(&all);
    let r = c
        .try_read_response(false)
        .unwrap_or_else(|e| panic!("the deferred response was lost: {e}"));
    assert_eq!(r.body, b"deferred");
    for i in 0..80 {
        let r = c
            .try_read_response(false)
            .unwrap_or_else(|e| panic!("pipelined response {i}: {e}"));
        assert_eq!(r.text(), i.to_string());
    }
}

#[test]
fn header_injection_through_the_api_is_refused() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let r = c.request("GET /_/inject HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        text.contains("set_header: Err(InvalidHeaderValue)"),
        "{text}"
    );
    assert!(
        text.contains("add_header: Err(InvalidHeaderValue)"),
        "{text}"
    );
    assert!(text.contains("name: Err(InvalidHeaderName)"), "{text}");
    assert!(text.contains("managed: Err(ManagedHeader)"), "{text}");
    assert!(
        text.contains("error text: header value contains a control byte"),
        "{text}"
    );
    let head = r.head_text();
    assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
    for name in ["X", "X-Inject", "X-Bad"] {
        assert_eq!(r.header(name), None, "{head}");
    }
    assert_eq!(r.headers_named("Content-Length").len(), 1);
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
    // The connection is still in step.
    assert_eq!(
        c.request("GET /_/query?ok HTTP/1.1\r\nHost: t\r\n\r\n")
            .body,
        b"ok"
    );
}

#[test]
fn handler_writing_more_than_the_buffer_gets_500() {
    let srv = TestServer::with(Config::small());
    let mut c = srv.client();
    let r = c.request("GET /_/toobig HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 500, "{}", r.head_text());
    assert_eq!(r.text(), "500 Internal Server Error\n");
    assert!(r.body.iter().all(|&b| b != b'x'), "a truncated body leaked");
    // Nothing else of the failed response was sent.
    if !r.says_close() {
        let r = c.request("GET /_/query?after HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.body, b"after");
    } else {
        c.expect_closed();
    }
}

// ---------------------------------------------------------------------------------------------
// Resource exhaustion.
// ---------------------------------------------------------------------------------------------

#[test]
fn all_slots_busy_evicts_the_lru_idle_connection_then_answers_503() {
    let srv = TestServer::with(Config {
        slots: 4,
        buffers: 16,
        ..Config::default()
    });
    // Four idle keep-alive connections, each with one answered request; the first one is the
    // least recently used (the server's clock has a one-second resolution).
    let mut idle: Vec<Client> = Vec::new();
    for i in 0..4 {
        let mut c = srv.client();
        let r = c.request(format!("GET /_/query?{i} HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(r.text(), i.to_string());
        idle.push(c);
        if i == 0 {
            thread::sleep(Duration::from_millis(2200));
        }
    }
    // A fifth client is served: the first connection makes room.
    let mut fifth = srv.client();
    fifth.send("GET /_/query?fifth HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = fifth
        .try_read_response(false)
        .unwrap_or_else(|e| panic!("the fifth client was not served: {e}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"fifth");
    idle[0].timeout = secs(5.0);
    idle[0].expect_closed();
    // Exactly one connection made room for exactly one client.
    for (i, c) in idle.iter_mut().enumerate().skip(1) {
        c.send(format!("GET /_/query?again{i} HTTP/1.1\r\nHost: t\r\n\r\n"));
        let r = c.try_read_response(false).unwrap_or_else(|e| {
            panic!("idle connection {i} was closed too, though one client needed one slot: {e}")
        });
        assert_eq!(r.text(), format!("again{i}"));
    }
    // Now make all four connections busy: a partial head each, so none is idle.
    let mut busy: Vec<Client> = idle.drain(1..).collect();
    busy.push(fifth);
    for c in &mut busy {
        c.send("GET /_/query?partial HTTP/1.1\r\nHo");
    }
    thread::sleep(Duration::from_millis(300));
    let mut sixth = srv.client();
    sixth.timeout = secs(5.0);
    let r = sixth.read_response();
    assert_eq!(r.status, 503, "{}", r.head_text());
    assert!(r.says_close());
    assert_eq!(r.header("Retry-After"), Some("1"));
    sixth.expect_closed();
    // The busy connections are untouched: completing their heads gets them answered.
    for c in &mut busy {
        let r = c.request("st: t\r\n\r\n");
        assert_eq!(r.body, b"partial");
    }
    // Idle again: a new client evicts one of them.
    drop(busy);
    thread::sleep(Duration::from_millis(100));
    assert_still_serving(srv.addr);
}

struct Slow {
    s: TcpStream,
    sent: usize,
    first: Option<Instant>,
    closed: Option<Instant>,
    got: Vec<u8>,
}

#[test]
fn slowloris_is_cut_at_the_head_timeout_without_starving_normal_clients() {
    let _serial = serial();
    raise_nofile(4096);
    const SLOW: usize = 200;
    const THREADS: usize = 4;
    // Each slow connection holds one read buffer: 256 buffers leave room for normal clients.
    let srv = TestServer::with(Config {
        slots: 256,
        buffer_size: 2048,
        buffers: 256,
        xheaders: false,
    });
    let addr = srv.addr;
    let head_timeout = Duration::from_millis(HEAD_TIMEOUT_MS);
    let started = Instant::now();
    let finished = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let finished = Arc::clone(&finished);
            thread::spawn(move || {
                let mut head = b"GET /_/query?slow HTTP/1.1\r\nHost: t\r\nX-Slow: ".to_vec();
                head.resize(4096, b'a');
                let mut conns: Vec<Slow> = (0..SLOW / THREADS)
                    .map(|_| {
                        let s = TcpStream::connect_timeout(&addr, secs(5.0)).expect("connect");
                        s.set_nodelay(true).expect("nodelay");
                        s.set_nonblocking(true).expect("nonblocking");
                        Slow {
                            s,
                            sent: 0,
                            first: None,
                            closed: None,
                            got: Vec::new(),
                        }
                    })
                    .collect();
                let give_up = Instant::now() + head_timeout + secs(6.0);
                let mut next_tick = Instant::now();
                let mut buf = [0u8; 1024];
                while conns.iter().any(|c| c.closed.is_none()) && Instant::now() < give_up {
                    let now = Instant::now();
                    if now >= next_tick {
                        next_tick += Duration::from_secs(1);
                        for c in conns.iter_mut().filter(|c| c.closed.is_none()) {
                            match c.s.write(&head[c.sent..=c.sent]) {
                                Ok(1) => {
                                    c.sent += 1;
                                    c.first.get_or_insert(now);
                                }
                                Ok(_) => {}
                                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                                Err(_) => c.closed = Some(now),
                            }
                        }
                    }
                    for c in conns.iter_mut().filter(|c| c.closed.is_none()) {
                        loop {
                            match c.s.read(&mut buf) {
                                Ok(0) => {
                                    c.closed = Some(Instant::now());
                                    break;
                                }
                                Ok(n) => c.got.extend_from_slice(&buf[..n]),
                                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                                Err(_) => {
                                    c.closed = Some(Instant::now());
                                    break;
                                }
                            }
                        }
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                finished.fetch_add(1, Ordering::SeqCst);
                conns
            })
        })
        .collect();

    // Meanwhile, a normal client every 100 ms, each on a new connection.
    let mut latencies = Vec::new();
    while finished.load(Ordering::SeqCst) < THREADS && started.elapsed() < secs(25.0) {
        let t = Instant::now();
        let mut c = Client::connect(addr);
        c.timeout = secs(5.0);
        let n = latencies.len();
        let r = c.request(format!(
            "GET /_/query?normal{n} HTTP/1.1\r\nHost: t\r\n\r\n"
        ));
        latencies.push(t.elapsed());
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("normal{n}"));
        thread::sleep(Duration::from_millis(100));
    }
    let conns: Vec<Slow> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("slow worker"))
        .collect();
    let total = started.elapsed();

    let max = latencies.iter().max().copied().unwrap_or_default();
    eprintln!(
        "slowloris: {} normal requests, max latency {max:?}, total {total:?}",
        latencies.len()
    );
    assert!(
        latencies.len() >= 50,
        "only {} normal requests",
        latencies.len()
    );
    assert!(max < secs(0.5), "a normal request took {max:?}");
    let mut lifetimes = Vec::new();
    for (i, c) in conns.iter().enumerate() {
        let (Some(first), Some(closed)) = (c.first, c.closed) else {
            panic!("slow connection {i} was not closed (sent {} bytes)", c.sent);
        };
        let life = closed.duration_since(first);
        lifetimes.push(life);
        assert!(
            c.got.is_empty() || c.got.starts_with(b"HTTP/1.1 408 "),
            "slow connection {i} got {:?}",
            String::from_utf8_lossy(&c.got)
        );
    }
    let shortest = lifetimes.iter().min().copied().unwrap_or_default();
    let longest = lifetimes.iter().max().copied().unwrap_or_default();
    let with_408 = conns.iter().filter(|c| !c.got.is_empty()).count();
    eprintln!("slowloris: closed after {shortest:?}..{longest:?}, {with_408} with a 408");
    assert!(
        shortest + Duration::from_secs(2) >= head_timeout,
        "a slow connection was closed after {shortest:?}, before the head timeout"
    );
    // The sweep runs once a second and closes at most 64 expired connections per pass, so 200
    // of them expire over four passes: 10, 11, 12 and 13 s (plus the polling of this test).
    assert!(
        longest <= head_timeout + secs(3.5),
        "a slow connection lived {longest:?}"
    );
    if HEAD_TIMEOUT_MS <= 10_000 {
        assert!(total < secs(20.0), "the test took {total:?}");
    }
    assert!(srv.stat("timeouts") >= SLOW as u64);
}

/// A handful of partial heads, each holding one read buffer, can take every buffer of the pool:
/// a new client then waits, parked, until they reach the head timeout. With hello_world's
/// defaults (128 buffers of 4 KiB, 1024 slots) 127 connections that send one byte each lock
/// every other client out for ~10 s, again and again; slots are free, so no 503 and no
/// eviction happens, and a parked client's own head timeout runs while it waits. Ignored: a known limitation of the buffer model (see the report that
/// came with these tests); run it with `--ignored`.
#[test]
fn partial_heads_cannot_exhaust_the_buffer_pool() {
    let srv = TestServer::with(Config {
        slots: 64,
        buffer_size: 2048,
        buffers: 16,
        xheaders: false,
    });
    // 15 connections, one byte each: 15 read buffers held, 1 left.
    let slow: Vec<Client> = (0..15)
        .map(|_| {
            let mut c = srv.client();
            c.send("G");
            c
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let mut c = srv.client();
    c.timeout = secs(15.0);
    c.send("GET /_/query?normal HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.try_read_response(false);
    let took = t.elapsed();
    // Today the client stays parked, and its own head timeout, which runs while it waits,
    // closes it together with the slow ones.
    let r = r.unwrap_or_else(|e| panic!("a normal client was not served ({e}) after {took:?}"));
    assert_eq!(r.body, b"normal");
    assert!(
        took < secs(1.0),
        "a normal client waited {took:?} for a buffer"
    );
    drop(slow);
}

const ISOLATED: &str = "EDGELOOP_HTTP_TEST_ISOLATED";

/// Runs the test `name` of this binary again in a child process (with [`ISOLATED`] set), so
/// that a server thread stuck in a busy loop dies with the child instead of burning a core for
/// the rest of the run. Returns whether the child passed, and its output.
fn run_isolated(name: &str, limit: Duration) -> (bool, String) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut words: Vec<std::ffi::OsString> =
        http_common::runner().into_iter().map(Into::into).collect();
    words.push(exe.into_os_string());
    for a in [name, "--exact", "--nocapture", "--test-threads=1"] {
        words.push(a.into());
    }
    let mut child = std::process::Command::new(&words[0])
        .args(&words[1..])
        .env(ISOLATED, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the isolated test");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut out);
    }
    (status.is_some_and(|s| s.success()), out)
}

/// With 1 KiB buffers the write buffer can never hold a response (it needs
/// `MAX_RESPONSE_HEAD + 64` bytes of room). The server must refuse the configuration, or
/// refuse or close the connection, never spin: the scenario runs in a child process because a
/// spinning loop never stops.
#[test]
fn write_buffer_too_small_for_any_response_does_not_hang_the_loop() {
    let name = "write_buffer_too_small_for_any_response_does_not_hang_the_loop";
    if std::env::var_os(ISOLATED).is_none() {
        let (ok, out) = run_isolated(name, secs(30.0));
        assert!(ok, "the isolated scenario failed:\n{out}");
        return;
    }
    let srv = match TestServer::try_with(Config {
        buffer_size: 1024,
        buffers: 8,
        ..Config::default()
    }) {
        Ok(srv) => srv,
        Err(e) => {
            eprintln!("the configuration is refused, as it may be: {e}");
            return;
        }
    };
    let mut c = srv.client();
    c.timeout = secs(3.0);
    c.send("GET /_/query?x HTTP/1.1\r\nHost: t\r\n\r\n");
    let answer = c.try_read_response(false);
    let closed = answer.is_err() && c.try_wait_closed().is_ok();
    if answer.is_err() && !closed {
        // Skip the server's drop: its loop would never see the stop request.
        eprintln!("no response and no close within 3 s: {answer:?}; the loop is stuck");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct GenRequest {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl GenRequest {
    fn bytes(&self) -> Vec<u8> {
        let mut v = format!("{} /{} HTTP/1.1\r\nHost: t\r\n", self.method, self.path).into_bytes();
        for (n, val) in &self.headers {
            v.extend_from_slice(format!("{n}: {val}\r\n").as_bytes());
        }
        if let Some(b) = &self.body {
            v.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        if let Some(b) = &self.body {
            v.extend_from_slice(b);
        }
        v
    }

    /// The header fields as the server sees them, in order.
    fn sent_headers(&self) -> Vec<(String, Vec<u8>)> {
        let mut h = vec![("Host".to_owned(), b"t".to_vec())];
        h.extend(
            self.headers
                .iter()
                .map(|(n, v)| (n.clone(), v.as_bytes().to_vec())),
        );
        if let Some(b) = &self.body {
            h.push((
                "Content-Length".to_owned(),
                b.len().to_string().into_bytes(),
            ));
        }
        h
    }
}

fn gen_request() -> impl Strategy<Value = GenRequest> {
    let name = "X-[!#$%&'*+.^_`|~0-9A-Za-z-]{1,16}";
    let value = prop_oneof![Just(String::new()), "[!-~]([ !-~]{0,30}[!-~])?"];
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
        "[a-z0-9/]{1,40}",
        prop::collection::vec((name, value), 0..=8),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..700)),
    )
        .prop_map(|(method, path, headers, body)| GenRequest {
            method,
            path,
            headers,
            body,
        })
}

fn prop_runner(cases: u32) -> TestRunner {
    TestRunner::new(PropConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..PropConfig::default()
    })
}

#[test]
fn proptest_valid_requests_split_anywhere_are_echoed() {
    let _serial = serial();
    let srv = TestServer::start();
    let addr = srv.addr;
    let strategy = (
        prop::collection::vec(gen_request(), 1..4),
        prop::collection::vec(1usize..64, 1..32),
    );
    prop_runner(64)
        .run(&strategy, |(reqs, cuts)| {
            let mut c = Client::connect(addr);
            c.timeout = secs(5.0);
            let all: Vec<u8> = reqs.iter().flat_map(GenRequest::bytes).collect();
            // Many writes, at arbitrary points (the cut sizes cycle).
            let mut at = 0;
            for step in cuts.iter().cycle() {
                if at >= all.len() {
                    break;
                }
                let end = (at + step).min(all.len());
                c.s.write_all(&all[at..end])
                    .map_err(|e| TestCaseError::fail(format!("write: {e}")))?;
                at = end;
            }
            for (i, q) in reqs.iter().enumerate() {
                let r = c
                    .try_read_response(false)
                    .map_err(|e| TestCaseError::fail(format!("response {i}: {e}")))?;
                prop_assert_eq!(r.status, 200, "request {}: {}", i, r.head_text());
                prop_assert_eq!(r.header("X-Method"), Some(q.method));
                prop_assert_eq!(
                    r.header("X-Path").map(str::to_owned),
                    Some(format!("/{}", q.path))
                );
                let body = q.body.clone().unwrap_or_default();
                prop_assert_eq!(
                    r.header("X-Body-Len").map(str::to_owned),
                    Some(body.len().to_string())
                );
                prop_assert!(r.body == body, "request {}: body differs", i);
                let sent = q.sent_headers();
                prop_assert_eq!(
                    r.header("X-Header-Count").map(str::to_owned),
                    Some(sent.len().to_string())
                );
                let digest = header_digest(sent.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
                prop_assert_eq!(
                    r.header("X-Header-Digest").map(str::to_owned),
                    Some(format!("{digest:016x}"))
                );
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_still_serving(addr);
}

#[test]
fn proptest_arbitrary_bytes_never_crash_the_server() {
    let _serial = serial();
    let srv = TestServer::with(Config::small());
    let addr = srv.addr;
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2000),
        // Mostly valid heads, then garbage: reaches the framing and chunked paths.
        (
            prop::sample::select(vec![
                "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n",
                "GET / HTTP/1.1\r\n",
                "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            ]),
            prop::collection::vec(any::<u8>(), 0..1000),
        )
            .prop_map(|(head, tail)| {
                let mut v = head.as_bytes().to_vec();
                v.extend_from_slice(&tail);
                v
            }),
    ];
    prop_runner(64)
        .run(&bytes, |data| {
            let mut c = Client::connect(addr);
            c.timeout = secs(5.0);
            // The server may refuse and close early: a failed write is fine.
            let _ = c.s.write_all(&data);
            c.shutdown_write();
            // Whatever comes back is HTTP/1.1, and the server ends the connection.
            let mut got = Vec::new();
            let deadline = Instant::now() + secs(5.0);
            let mut buf = [0u8; 4096];
            c.s.set_read_timeout(Some(secs(5.0))).expect("timeout");
            loop {
                prop_assert!(
                    Instant::now() < deadline,
                    "the server kept the connection open"
                );
                match c.s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(TestCaseError::fail(format!("read: {e}"))),
                }
            }
            prop_assert!(
                got.is_empty() || got.starts_with(b"HTTP/1.1 "),
                "unexpected reply {:?}",
                String::from_utf8_lossy(&got)
            );
            let r = get(addr, "/_/query?alive");
            prop_assert_eq!(r.status, 200);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
