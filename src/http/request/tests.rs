//! Unit tests of [`parse_head`](super::parse_head), one per state or refusal.

use super::*;
use httparse::EMPTY_HEADER;

fn parse(buf: &[u8]) -> Result<Option<Head<'static, 'static>>, HeadError> {
    let buf: &'static [u8] = Box::leak(buf.to_vec().into_boxed_slice());
    let headers = Box::leak(Box::new([EMPTY_HEADER; MAX_HEADERS]));
    parse_head(buf, headers)
}

fn head(buf: &[u8]) -> Head<'static, 'static> {
    match parse(buf) {
        Ok(Some(h)) => h,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn err(buf: &[u8]) -> HeadError {
    match parse(buf) {
        Err(e) => e,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

const GET: &[u8] = b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";

#[test]
fn test_complete_get() {
    let h = head(GET);
    assert_eq!(h.method, Method::Get);
    assert_eq!(h.method_token, "GET");
    assert_eq!(h.target, "/index.html?x=1");
    assert_eq!(h.path, "/index.html?x=1");
    assert_eq!(h.target_form, TargetForm::Origin);
    assert_eq!(h.version, 1);
    assert_eq!(h.len, GET.len());
    assert_eq!(h.headers.len(), 2);
    assert_eq!(h.framing, Framing::None);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
    assert_eq!(h.host, Some(&b"example.com"[..]));
}

#[test]
fn test_every_prefix_is_incomplete() {
    for n in 0..GET.len() {
        assert_eq!(parse(&GET[..n]), Ok(None), "prefix {n}");
    }
}

#[test]
fn test_len_marks_body_start() {
    let mut buf = b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n".to_vec();
    let head_len = buf.len();
    buf.extend_from_slice(b"helloGET / HTTP/1.1\r\n");
    let h = head(&buf);
    assert_eq!(h.len, head_len);
    assert_eq!(h.framing, Framing::ContentLength(5));
    assert_eq!(&buf[h.len..h.len + 5], b"hello");
}

#[test]
fn test_leading_empty_line_ignored() {
    let mut buf = b"\r\n".to_vec();
    buf.extend_from_slice(GET);
    assert_eq!(head(&buf).path, "/index.html?x=1");
}

#[test]
fn test_header_lookup_case_insensitive_first_match() {
    let h = head(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
    assert_eq!(h.header("x-A"), Some(&b"1"[..]));
    assert_eq!(h.header("HOST"), Some(&b"a"[..]));
    assert_eq!(h.header("missing"), None);
}

#[test]
fn test_header_value_trimmed() {
    let h = head(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: \t v w \t\r\n\r\n");
    assert_eq!(h.header("x-a"), Some(&b"v w"[..]));
}

#[test]
fn test_unknown_method_is_other() {
    let h = head(b"PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((h.method, h.method_token), (Method::Other, "PROPFIND"));
    let h = head(b"get / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((h.method, h.method_token), (Method::Other, "get"));
}

#[test]
fn test_absolute_form_exposes_path() {
    let h = head(b"GET http://example.com:8080/a/b?c HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(h.target_form, TargetForm::Absolute);
    assert_eq!(h.path, "/a/b?c");
    assert_eq!(h.authority, Some("example.com:8080"));
    assert_eq!(h.target, "http://example.com:8080/a/b?c");
}

#[test]
fn test_bad_target_rejected() {
    assert_eq!(
        err(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
        HeadError::BadTarget
    );
    assert_eq!(
        err(b"GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n"),
        HeadError::BadTarget
    );
    assert_eq!(
        err(b"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n"),
        HeadError::BadTarget
    );
    assert_eq!(head(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").path, "*");
}

#[test]
fn test_http10_defaults() {
    let h = head(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.version, 0);
    assert!(!h.keep_alive);
    assert_eq!(h.host, None);
    let h = head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert!(h.keep_alive);
}

#[test]
fn test_http11_connection_close() {
    assert!(!head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
}

#[test]
fn test_expect_continue() {
    let h =
        head(b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    assert!(h.expect_continue);
    let e = err(b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 101-switch\r\n\r\n");
    assert_eq!((e, e.status()), (HeadError::ExpectationFailed, 417));
}

#[test]
fn test_missing_host_on_http11_rejected() {
    assert_eq!(err(b"GET / HTTP/1.1\r\n\r\n"), HeadError::MissingHost);
}

#[test]
fn test_chunked_framing() {
    let h = head(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
}

#[test]
fn test_cl_and_te_rejected() {
    let e = err(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(e, HeadError::ContentLengthAndTransferEncoding);
    assert_eq!(e.status(), 400);
    assert!(e.closes_connection());
}

#[test]
fn test_te_on_http10_rejected() {
    let e = err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!((e, e.status()), (HeadError::TransferEncodingOnHttp10, 400));
}

#[test]
fn test_te_gzip_chunked_is_501() {
    let e = err(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_eq!(
        (e, e.status()),
        (HeadError::UnsupportedTransferEncoding, 501)
    );
}

#[test]
fn test_http2_version_is_505() {
    assert_eq!(
        err(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
        HeadError::VersionNotSupported
    );
    assert_eq!(
        err(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
        HeadError::VersionNotSupported
    );
    assert_eq!(err(b"GET / HTTP/2"), HeadError::VersionNotSupported);
    assert_eq!(HeadError::VersionNotSupported.status(), 505);
}

#[test]
fn test_malformed_version_is_400() {
    for buf in [
        &b"GET / http/1.1\r\n\r\n"[..],
        b"GET / HTTP/1.1x\r\n\r\n",
        b"GET / HTTP/11.1\r\n\r\n",
        b"GET / FOO\r\n\r\n",
        b"GET /\r\n\r\n",
    ] {
        assert_eq!(
            err(buf),
            HeadError::BadRequestLine,
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn test_malformed_request_line_is_400() {
    for buf in [
        &b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        b" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert_eq!(err(buf).status(), 400, "{:?}", String::from_utf8_lossy(buf));
    }
}

#[test]
fn test_bare_lf_rejected() {
    assert_eq!(err(b"GET / HTTP/1.1\nHost: a\n\n"), HeadError::BareLf);
    assert_eq!(err(b"GET / HTTP/1.1\r\nHost: a\n\r\n"), HeadError::BareLf);
    assert_eq!(err(b"GET / HTTP/1.1\r\nHost: a\r\n\n"), HeadError::BareLf);
    assert_eq!(
        err(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        HeadError::BareLf
    );
}

#[test]
fn test_bare_cr_in_header_rejected() {
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
        HeadError::BadHeader
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n"),
        HeadError::BadHeader
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\n\rX: b\r\n\r\n").status(),
        400
    );
}

#[test]
fn test_nul_in_header_rejected() {
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"),
        HeadError::BadHeader
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\nX\x00: b\r\n\r\n"),
        HeadError::BadHeader
    );
}

#[test]
fn test_lf_in_header_name_rejected() {
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\nX\nY: b\r\n\r\n"),
        HeadError::BadHeader
    );
}

#[test]
fn test_obs_fold_rejected() {
    let e = err(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n");
    assert_eq!((e, e.status()), (HeadError::BadHeader, 400));
    let e = err(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n");
    assert_eq!(e, HeadError::BadHeader);
}

#[test]
fn test_obs_fold_hiding_transfer_encoding_rejected() {
    let e = err(b"POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n");
    assert_eq!(e, HeadError::BadHeader);
}

#[test]
fn test_space_before_colon_rejected() {
    let e = err(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n");
    assert_eq!(e, HeadError::BadHeader);
}

#[test]
fn test_head_too_large_incomplete_is_431() {
    let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    buf.resize(MAX_HEAD_BYTES - 1, b'a');
    assert_eq!(parse(&buf), Ok(None));
    buf.push(b'a');
    let e = err(&buf);
    assert_eq!((e, e.status()), (HeadError::HeadTooLarge, 431));
}

#[test]
fn test_head_at_limit_accepted() {
    let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    buf.resize(MAX_HEAD_BYTES - 4, b'a');
    buf.extend_from_slice(b"\r\n\r\n");
    assert_eq!(head(&buf).len, MAX_HEAD_BYTES);
    buf.insert(30, b'a');
    assert_eq!(err(&buf), HeadError::HeadTooLarge);
}

#[test]
fn test_too_many_headers_is_431() {
    let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..MAX_HEADERS {
        buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    buf.extend_from_slice(b"\r\n");
    let e = err(&buf);
    assert_eq!((e, e.status()), (HeadError::TooManyHeaders, 431));
}

#[test]
fn test_max_headers_accepted() {
    let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..MAX_HEADERS {
        buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    buf.extend_from_slice(b"\r\n");
    assert_eq!(head(&buf).headers.len(), MAX_HEADERS);
}

#[test]
fn test_short_header_array_bounds_headers() {
    let mut hs = [EMPTY_HEADER; 1];
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\r\n";
    assert_eq!(parse_head(buf, &mut hs), Err(HeadError::TooManyHeaders));
}

#[test]
fn test_uri_too_long_incomplete_is_414() {
    let mut buf = b"GET /".to_vec();
    buf.resize(4 + MAX_URI_BYTES, b'a');
    assert_eq!(parse(&buf), Ok(None));
    buf.push(b'a');
    let e = err(&buf);
    assert_eq!((e, e.status()), (HeadError::UriTooLong, 414));
}

#[test]
fn test_uri_too_long_complete_is_414() {
    let mut buf = b"GET /".to_vec();
    buf.resize(5 + MAX_URI_BYTES, b'a');
    buf.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(err(&buf), HeadError::UriTooLong);
}

#[test]
fn test_uri_at_limit_accepted() {
    let mut buf = b"GET /".to_vec();
    buf.resize(4 + MAX_URI_BYTES, b'a');
    buf.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(head(&buf).target.len(), MAX_URI_BYTES);
}

#[test]
fn test_version_syntax_helper() {
    assert!(is_http_version_syntax(b"HTTP/2"));
    assert!(is_http_version_syntax(b"HTTP/2."));
    assert!(is_http_version_syntax(b"HTTP/3.0"));
    assert!(!is_http_version_syntax(b"HTTP/"));
    assert!(!is_http_version_syntax(b"HTTP/10.0"));
    assert!(!is_http_version_syntax(b"HTTPS/1.1"));
}
