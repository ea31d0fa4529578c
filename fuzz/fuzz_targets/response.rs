//! The `Response` builder API driven by arbitrary operations (`set_status`, `set_header`,
//! `add_header`, `clear_header`, `write`, `write_static`, `clear_body`, `close_connection`,
//! `stream`, `upgrade`, with arbitrary names, values and bodies), run inside a real handler of
//! the in-process server, and the response read back from the socket.
//!
//! Inside the handler every call's result is checked against a model (`edgeloop_fuzz::Model`):
//! which names and values are refused and why, what `header()`, `body()`, `body_len()` and
//! `failed()` report. On the wire:
//! * the stream is well-formed (`check_stream`): CRLF line endings only, so no CR or LF that did
//!   not come from the server's own line endings, and one consistent body framing;
//! * the head parses with `httparse` as a response with the expected status; its fields are the
//!   server's own (`Server`, `Date`, `Content-Length` or `Transfer-Encoding`, the default
//!   `Content-Type`, `Connection`, `Upgrade`: each at most once, before the handler's) followed
//!   by exactly the fields the API accepted, once per accepted add, in order — nothing else;
//! * the body is exactly what the handler wrote (copied and static parts, de-chunked when
//!   streamed), or a clean 500 after a failed write (or for a streamed response whose static
//!   part cannot be framed in the write buffer).

#![no_main]

use edgeloop_fuzz::{ResponseScript, check_stream, dechunk, show, take_outcome, with_server};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

/// Fields the server itself may write, each at most once.
const SERVER_FIELDS: [&str; 7] = [
    "Server",
    "Date",
    "Content-Length",
    "Transfer-Encoding",
    "Content-Type",
    "Connection",
    "Upgrade",
];

/// The de-chunked body of a chunked response, if `got` is one.
fn dechunk_after_head(got: &[u8]) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut r = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(n)) = r.parse(got) else {
        return None;
    };
    let chunked = r
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
    let body = &got[n..];
    (chunked && edgeloop_fuzz::chunked_len(body) == Ok(Some(body.len()))).then(|| dechunk(body))
}

fuzz_target!(|data: &[u8]| {
    let script = ResponseScript::decode(data);
    with_server(|srv| {
        script.install();
        let mut p = srv.connect();
        p.send(srv, b"GET /scripted HTTP/1.1\r\nHost: fuzz\r\n\r\n");
        p.shutdown_write();
        p.read_to_end(srv, Duration::from_secs(5));
        let outcome = take_outcome().expect("the handler did not run the script");
        let got = p.got.clone();
        p.close_now();
        srv.settle(Duration::from_secs(5), "response");
        let ctx = || format!("model: {}\nreceived {:?}", outcome.summary(), show(&got));
        let streamed_body = dechunk_after_head(&got);
        let refused =
            outcome.may_fail() && got.starts_with(b"HTTP/1.1 500 ") && streamed_body.is_none();
        let want = outcome.expected(refused);

        assert!(!p.reset, "connection reset; {}", ctx());
        let checked = check_stream(&got, false, true);
        let seen = checked.unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
        assert_eq!(
            seen.len(),
            1,
            "expected one response, got {seen:?}; {}",
            ctx()
        );

        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut r = httparse::Response::new(&mut headers);
        let head_len = match r.parse(&got) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("head does not parse: {other:?}; {}", ctx()),
        };
        assert_eq!(r.code, Some(want.status), "status; {}", ctx());
        assert_eq!(
            r.reason,
            Some(edgeloop::http::reason(want.status)),
            "reason phrase; {}",
            ctx()
        );
        let fields: Vec<(String, Vec<u8>)> = r
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect();
        // httparse trims a field value's surrounding whitespace: compare the model's that way.
        let user: Vec<(String, Vec<u8>)> = want
            .fields
            .iter()
            .map(|(n, v)| (n.clone(), v.trim_ascii().to_vec()))
            .collect();
        assert!(
            fields.len() >= user.len() && fields[fields.len() - user.len()..] == user[..],
            "the handler's fields are not exactly the last ones, in order\n fields {fields:?}\n \
             model {user:?}; {}",
            ctx()
        );
        let server = &fields[..fields.len() - user.len()];
        for (i, (name, value)) in server.iter().enumerate() {
            assert!(
                SERVER_FIELDS.contains(&name.as_str()),
                "unexpected field {name:?} before the handler's; {}",
                ctx()
            );
            assert!(
                !server[..i].iter().any(|(n, _)| n == name),
                "server field {name:?} twice; {}",
                ctx()
            );
            match name.as_str() {
                "Content-Type" => assert!(
                    !want.has_content_type && value == b"text/html; charset=UTF-8",
                    "default Content-Type with the handler's own; {}",
                    ctx()
                ),
                "Connection" => {
                    let v = String::from_utf8_lossy(value);
                    if want.upgrade.is_some() {
                        assert_eq!(v, "Upgrade", "{}", ctx());
                    } else {
                        assert_eq!(v, "close", "{}", ctx());
                        assert!(want.close, "Connection: close not asked for; {}", ctx());
                    }
                }
                "Upgrade" => assert!(
                    want.upgrade.is_some_and(|p| value == p.as_bytes()),
                    "Upgrade field {:?} for upgrade {:?}; {}",
                    show(value),
                    want.upgrade,
                    ctx()
                ),
                "Transfer-Encoding" => assert!(want.streamed, "chunked unasked; {}", ctx()),
                _ => {}
            }
        }
        let has = |n: &str| server.iter().any(|(name, _)| name == n);
        if want.close && want.upgrade.is_none() {
            assert!(has("Connection"), "no Connection: close; {}", ctx());
        }
        if want.upgrade.is_some() {
            assert!(
                has("Upgrade") && has("Connection"),
                "101 incomplete; {}",
                ctx()
            );
        }

        let body = &got[head_len..];
        if want.upgrade.is_some() {
            assert!(body.is_empty(), "bytes after the 101 head; {}", ctx());
        } else if want.streamed {
            assert!(
                has("Transfer-Encoding"),
                "streamed without chunked; {}",
                ctx()
            );
            assert!(
                dechunk(body) == want.body,
                "streamed body differs from what the handler wrote\n got {} bytes {:?}\nwant {} \
                 bytes {:?}; {}",
                dechunk(body).len(),
                show(&dechunk(body)),
                want.body.len(),
                show(&want.body),
                ctx()
            );
        } else {
            assert!(
                body == want.body.as_slice(),
                "body differs from what the handler wrote\n got {} bytes {:?}\nwant {} bytes \
                 {:?}; {}",
                body.len(),
                show(body),
                want.body.len(),
                show(&want.body),
                ctx()
            );
        }
        srv.health_check();
    });
});
