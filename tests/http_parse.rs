//! Request-head parsing through the public API only: split invariance, robustness against
//! arbitrary bytes, and a request-smuggling corpus (Tornado's and HTTP Garden's classic cases).

use edgeloop::http::{
    ChunkError, ChunkedDecoder, EMPTY_HEADER, Framing, HeadError, MAX_BODY_BYTES, MAX_HEAD_BYTES,
    MAX_HEADERS, MAX_URI_BYTES, Method, TargetForm, parse_head,
};
use edgeloop_testing::OwnedHead;
use proptest::prelude::*;

type Parsed = Result<Option<OwnedHead>, HeadError>;

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    parse_head(buf, &mut headers).map(|o| o.as_ref().map(OwnedHead::from))
}

fn accepted(buf: &[u8]) -> OwnedHead {
    match parse(buf) {
        Ok(Some(h)) => h,
        other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn status(buf: &[u8]) -> u16 {
    match parse(buf) {
        Err(e) => {
            assert!(e.closes_connection());
            e.status()
        }
        other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn request(version: &str, fields: &[&str]) -> Vec<u8> {
    let mut r = format!("POST /upload HTTP/{version}\r\n");
    for f in fields {
        r.push_str(f);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn req11(fields: &[&str]) -> Vec<u8> {
    let mut all = vec!["Host: example.com"];
    all.extend_from_slice(fields);
    request("1.1", &all)
}

// ---- smuggling corpus: framing ----

#[test]
fn test_cl_and_te_rejected() {
    assert_eq!(
        status(&req11(&["Content-Length: 4", "Transfer-Encoding: chunked"])),
        400
    );
    assert_eq!(
        status(&req11(&["Transfer-Encoding: chunked", "Content-Length: 4"])),
        400
    );
    assert_eq!(
        status(&req11(&["Transfer-Encoding: chunked", "Content-Length: 0"])),
        400
    );
}

#[test]
fn test_duplicate_cl_rejected_even_equal() {
    assert_eq!(
        status(&req11(&["Content-Length: 4", "Content-Length: 4"])),
        400
    );
    assert_eq!(
        status(&req11(&["Content-Length: 4", "content-length: 5"])),
        400
    );
    assert_eq!(status(&req11(&["Content-Length: 4, 4"])), 400);
    assert_eq!(status(&req11(&["Content-Length: 4,5"])), 400);
}

#[test]
fn test_cl_not_plain_decimal_rejected() {
    for v in [
        "+1",
        "-1",
        "0x10",
        "1Z",
        "1 1",
        "1_000",
        "1.0",
        "\u{661}",
        "99999999999999999999",
    ] {
        let field = format!("Content-Length: {v}");
        assert_eq!(status(&req11(&[&field])), 400, "{v:?}");
    }
    assert_eq!(status(&req11(&["Content-Length:"])), 400);
    assert_eq!(status(&req11(&["Content-Length: \t "])), 400);
}

#[test]
fn test_cl_leading_zeros_decimal() {
    let h = accepted(&req11(&["Content-Length: 010"]));
    assert_eq!(h.framing, Framing::ContentLength(10));
    let h = accepted(&req11(&["Content-Length:  7 \t"]));
    assert_eq!(h.framing, Framing::ContentLength(7));
}

#[test]
fn test_cl_over_limit_is_413() {
    let field = format!("Content-Length: {}", MAX_BODY_BYTES as u64 + 1);
    assert_eq!(status(&req11(&[&field])), 413);
    assert_eq!(
        status(&req11(&["Content-Length: 9999999999999999999"])),
        413
    );
}

#[test]
fn test_te_not_exactly_chunked_is_501() {
    for v in [
        "gzip, chunked",
        "chunked, chunked",
        ",chunked",
        "chunked,",
        "identity",
        "gzip",
        "chunked;x=1",
        "xchunked",
    ] {
        let field = format!("Transfer-Encoding: {v}");
        assert_eq!(status(&req11(&[&field])), 501, "{v:?}");
    }
    let two = req11(&["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"]);
    assert_eq!(status(&two), 501);
    let split = req11(&["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"]);
    assert_eq!(status(&split), 501);
}

#[test]
fn test_te_chunked_case_insensitive() {
    let h = accepted(&req11(&["transfer-encoding: ChUnKeD"]));
    assert_eq!(h.framing, Framing::Chunked);
}

#[test]
fn test_te_on_http10_rejected() {
    assert_eq!(
        status(&request("1.0", &["Transfer-Encoding: chunked"])),
        400
    );
    assert_eq!(
        status(&request("1.0", &["Transfer-Encoding: identity"])),
        400
    );
}

#[test]
fn test_te_hidden_by_syntax_tricks_rejected() {
    let cases: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n\tTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x00\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nX: y\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nX: y\rTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer\x00Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\n\"Transfer-Encoding\": chunked\r\n\r\n",
    ];
    for c in cases {
        assert_eq!(status(c), 400, "{:?}", String::from_utf8_lossy(c));
    }
}

#[test]
fn test_bare_lf_line_endings_rejected() {
    assert_eq!(status(b"GET / HTTP/1.1\nHost: a\n\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\n\n"), 400);
}

#[test]
fn test_duplicate_or_missing_host_rejected() {
    assert_eq!(status(&request("1.1", &["Host: a", "Host: b"])), 400);
    assert_eq!(status(&request("1.1", &[])), 400);
    assert_eq!(status(&request("1.1", &["Host: a b"])), 400);
    assert!(accepted(&request("1.0", &[])).host.is_none());
}

// ---- request line ----

#[test]
fn test_versions() {
    assert_eq!(status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/1.1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET /\r\n\r\n"), 400);
    assert_eq!(accepted(b"GET / HTTP/1.0\r\n\r\n").version, 0);
}

#[test]
fn test_unknown_method_is_other() {
    let h = accepted(b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((h.method, h.method_token.as_str()), (Method::Other, "BREW"));
}

#[test]
fn test_absolute_form_target() {
    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    let buf = b"GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let h = parse_head(buf, &mut headers).unwrap().unwrap();
    assert_eq!(
        (h.target_form, h.path, h.authority),
        (TargetForm::Absolute, "/a?b", Some("example.com"))
    );
    assert_eq!(h.header("HOST"), Some(&b"example.com"[..]));
}

#[test]
fn test_expect() {
    assert!(accepted(&req11(&["Expect: 100-CONTINUE", "Content-Length: 1"])).expect_continue);
    assert_eq!(status(&req11(&["Expect: 200-ok"])), 417);
}

#[test]
fn test_limits() {
    let mut long_uri = b"GET /".to_vec();
    long_uri.resize(MAX_URI_BYTES + 5, b'x');
    assert_eq!(status(&long_uri), 414);
    let mut big = req11(&[]);
    big.truncate(big.len() - 2);
    big.extend_from_slice(b"X-Pad: ");
    big.resize(MAX_HEAD_BYTES, b'p');
    assert_eq!(status(&big), 431);
    let many: Vec<String> = (0..MAX_HEADERS).map(|i| format!("X-{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(status(&req11(&many)), 431);
}

// ---- chunked body corpus ----

fn dechunk(input: &[u8]) -> Result<Vec<u8>, ChunkError> {
    let mut buf = input.to_vec();
    let mut dec = ChunkedDecoder::new(MAX_BODY_BYTES as u64);
    let p = dec.decode(&mut buf)?;
    assert!(p.done, "incomplete: {:?}", String::from_utf8_lossy(input));
    Ok(buf[..p.produced].to_vec())
}

#[test]
fn test_chunked_corpus() {
    assert_eq!(
        dechunk(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n").unwrap(),
        b"Wikipedia"
    );
    assert_eq!(
        dechunk(b"4;a=b\r\nWiki\r\n0\r\nX: 1\r\n\r\n").unwrap(),
        b"Wiki"
    );
    let bad: &[&[u8]] = &[
        b"0x4\r\nWiki\r\n0\r\n\r\n",
        b"-4\r\nWiki\r\n0\r\n\r\n",
        b" 4\r\nWiki\r\n0\r\n\r\n",
        b"4 \r\nWiki\r\n0\r\n\r\n",
        b"4\nWiki\r\n0\r\n\r\n",
        b"4;\nWiki\r\n0\r\n\r\n",
        b"4\r\nWikiX\r\n0\r\n\r\n",
        b"4\r\nWiki0\r\n\r\n",
        b"\r\nWiki\r\n0\r\n\r\n",
        b"1_0\r\n",
        b"100000000\r\n",
        b"4\r\nWiki\r\n0\r\nX\r\n\r\n",
        b"4\r\nWiki\r\n0\r\n\n",
    ];
    for b in bad {
        let e = dechunk(b).unwrap_err();
        assert!(e.closes_connection());
        assert!(
            matches!(e.status(), 400 | 413 | 431),
            "{:?}: {e}",
            String::from_utf8_lossy(b)
        );
    }
}

// ---- properties ----

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND",
];

fn valid_request() -> impl Strategy<Value = (Vec<u8>, usize, Option<Vec<u8>>)> {
    (
        proptest::sample::select(METHODS),
        "/[a-zA-Z0-9._~/%-]{0,40}(\\?[a-z0-9=&]{0,20})?",
        proptest::bool::ANY,
        proptest::collection::vec(
            ("X-[A-Za-z0-9-]{1,12}", "[ -~]{0,30}"),
            0..(MAX_HEADERS - 3),
        ),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        proptest::bool::ANY,
    )
        .prop_map(|(method, path, http10, fields, body, close)| {
            let mut r = format!(
                "{method} {path} HTTP/1.{}\r\nHost: h.example:8080\r\n",
                u8::from(!http10)
            );
            for (n, v) in &fields {
                r.push_str(&format!("{n}: {v}\r\n"));
            }
            if close {
                r.push_str("Connection: close\r\n");
            }
            if let Some(b) = &body {
                r.push_str(&format!("Content-Length: {}\r\n", b.len()));
            }
            r.push_str("\r\n");
            let head_len = r.len();
            let mut bytes = r.into_bytes();
            if let Some(b) = &body {
                bytes.extend_from_slice(b);
            }
            (bytes, head_len, body)
        })
}

/// Cases per property: 512 natively; 64 under an emulator (`EDGELOOP_TEST_RUNNER` set), where
/// each case costs ~20× more CPU. The input space is the same on every architecture, so the
/// native run (and the fuzz targets) explore it; the emulated run checks the same properties hold
/// for the ARM build.
fn cases() -> u32 {
    if std::env::var_os("EDGELOOP_TEST_RUNNER").is_some_and(|r| !r.is_empty()) {
        64
    } else {
        512
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn prop_split_request_parses_like_unsplit(
        (bytes, head_len, body) in valid_request(),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..12),
    ) {
        let whole = parse(&bytes).unwrap().unwrap();
        prop_assert_eq!(whole.len, head_len);
        match &body {
            Some(b) => prop_assert_eq!(whole.framing, Framing::ContentLength(b.len() as u64)),
            None => prop_assert_eq!(whole.framing, Framing::None),
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.push(bytes.len());
        points.sort_unstable();
        for end in points {
            let got = parse(&bytes[..end]).unwrap();
            if end < head_len {
                prop_assert_eq!(got, None, "prefix {} of {}", end, head_len);
            } else {
                prop_assert_eq!(got.as_ref(), Some(&whole));
            }
        }
        // Byte by byte, as a slow client sends it.
        for end in 0..head_len {
            prop_assert_eq!(parse(&bytes[..end]).unwrap(), None);
        }
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse(&bytes);
        let mut dec = ChunkedDecoder::new(1024);
        let mut buf = bytes.clone();
        let _ = dec.decode(&mut buf);
    }

    #[test]
    fn prop_valid_prefix_then_garbage_never_panics(
        (bytes, head_len, _body) in valid_request(),
        cut in any::<proptest::sample::Index>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut b = bytes[..cut.index(head_len)].to_vec();
        b.extend_from_slice(&garbage);
        let _ = parse(&b);
    }

    #[test]
    fn prop_header_bytes_from_small_alphabet_never_panic(
        bytes in proptest::collection::vec(proptest::sample::select(&b"GET / HTTP/1.1\r\n:;, \tHostContent-Length0123chunked\x00"[..]), 0..600),
    ) {
        let _ = parse(&bytes);
    }
}
