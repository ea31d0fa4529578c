//! What the header fields of a request mean for the connection: body framing (RFC 9112 §6),
//! persistence (RFC 9112 §9.3), `Expect` (RFC 9110 §10.1.1) and `Host` (RFC 9112 §3.2).
//!
//! The rules are deliberately strict, because any leniency here is where request smuggling
//! lives: a front proxy and this server must never disagree about where a body ends.

use httparse::Header;

use super::fields::{is_valid_host, list_elements, parse_content_length, trim_ows};
use super::head_error::HeadError;
use super::limits::MAX_BODY_BYTES;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Framing {
    /// No body (neither `Content-Length` nor `Transfer-Encoding`).
    None,
    /// Exactly this many body bytes follow the head (at most
    /// [`MAX_BODY_BYTES`]; may be 0).
    ContentLength(u64),
    /// A chunked body follows: decode it with [`ChunkedDecoder`](crate::http::ChunkedDecoder).
    Chunked,
}

/// The connection-level meaning of a request's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Semantics<'b> {
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
    /// The `Host` field value, if present.
    pub host: Option<&'b [u8]>,
}

/// Interprets the header fields of a request of HTTP/1.`minor_version`.
///
/// * `Content-Length`: one field, 1–19 decimal digits (`010` is ten), at most
///   [`MAX_BODY_BYTES`].
/// * `Transfer-Encoding`: only on HTTP/1.1, never with `Content-Length`, one field whose value is
///   exactly `chunked` (any case). Codings such as `gzip, chunked` are not implemented (501).
/// * `Connection`: a list; `close` wins over `keep-alive`. HTTP/1.1 defaults to keep-alive,
///   HTTP/1.0 to close.
/// * `Expect`: only `100-continue` (any case); ignored on HTTP/1.0 as RFC 9110 requires.
/// * `Host`: at most one, `host[:port]` alphabet; required on HTTP/1.1.
pub fn interpret_fields<'b>(
    headers: &[Header<'b>],
    minor_version: u8,
) -> Result<Semantics<'b>, HeadError> {
    let mut content_length: Option<&'b [u8]> = None;
    let mut content_length_count = 0usize;
    let mut transfer_encoding: Option<&'b [u8]> = None;
    let mut transfer_encoding_count = 0usize;
    let mut host: Option<&'b [u8]> = None;
    let mut host_count = 0usize;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut continue_expected = false;
    let mut bad_expectation = false;

    for h in headers {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length_count += 1;
            content_length = Some(h.value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding_count += 1;
            transfer_encoding = Some(h.value);
        } else if name.eq_ignore_ascii_case(b"host") {
            host_count += 1;
            host = Some(h.value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in list_elements(h.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive_token = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if trim_ows(h.value).eq_ignore_ascii_case(b"100-continue") {
                continue_expected = true;
            } else {
                bad_expectation = true;
            }
        }
    }

    let framing = match (transfer_encoding, content_length) {
        (Some(_), _) if minor_version == 0 => return Err(HeadError::TransferEncodingOnHttp10),
        (Some(_), Some(_)) => return Err(HeadError::ContentLengthAndTransferEncoding),
        (Some(te), None) => {
            if transfer_encoding_count != 1 || !te.eq_ignore_ascii_case(b"chunked") {
                return Err(HeadError::UnsupportedTransferEncoding);
            }
            Framing::Chunked
        }
        (None, Some(_)) if content_length_count > 1 => {
            return Err(HeadError::DuplicateContentLength);
        }
        (None, Some(cl)) => {
            let n = parse_content_length(cl).ok_or(HeadError::BadContentLength)?;
            if n > MAX_BODY_BYTES as u64 {
                return Err(HeadError::BodyTooLarge);
            }
            Framing::ContentLength(n)
        }
        (None, None) => Framing::None,
    };

    match host {
        Some(_) if host_count > 1 => return Err(HeadError::BadHost),
        Some(h) if !is_valid_host(h) => return Err(HeadError::BadHost),
        None if minor_version >= 1 => return Err(HeadError::MissingHost),
        _ => {}
    }

    if bad_expectation {
        return Err(HeadError::ExpectationFailed);
    }

    let keep_alive = if minor_version >= 1 {
        !close
    } else {
        keep_alive_token && !close
    };
    Ok(Semantics {
        framing,
        keep_alive,
        expect_continue: continue_expected && minor_version >= 1,
        host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a str) -> Header<'a> {
        Header {
            name,
            value: value.as_bytes(),
        }
    }

    fn run(fields: &[(&str, &str)], minor: u8) -> Result<Semantics<'static>, HeadError> {
        let owned: Vec<Header<'static>> = fields
            .iter()
            .map(|&(n, v)| {
                let n: &'static str = Box::leak(n.to_owned().into_boxed_str());
                let v: &'static str = Box::leak(v.to_owned().into_boxed_str());
                h(n, v)
            })
            .collect();
        interpret_fields(&owned, minor)
    }

    fn framing(fields: &[(&str, &str)]) -> Result<Framing, HeadError> {
        let mut all = vec![("Host", "x")];
        all.extend_from_slice(fields);
        run(&all, 1).map(|s| s.framing)
    }

    #[test]
    fn test_no_body_headers_is_none() {
        assert_eq!(framing(&[]), Ok(Framing::None));
    }

    #[test]
    fn test_cl_plain() {
        assert_eq!(
            framing(&[("Content-Length", "5")]),
            Ok(Framing::ContentLength(5))
        );
        assert_eq!(
            framing(&[("content-length", "0")]),
            Ok(Framing::ContentLength(0))
        );
    }

    #[test]
    fn test_cl_leading_zeros_are_decimal() {
        assert_eq!(
            framing(&[("Content-Length", "010")]),
            Ok(Framing::ContentLength(10))
        );
    }

    #[test]
    fn test_cl_malformed_rejected() {
        for v in [
            "+1",
            "-1",
            "0x10",
            "1Z",
            "1 1",
            "",
            "1,1",
            "5, 5",
            "12345678901234567890",
        ] {
            assert_eq!(
                framing(&[("Content-Length", v)]),
                Err(HeadError::BadContentLength),
                "{v}"
            );
        }
    }

    #[test]
    fn test_cl_u64_overflow_rejected() {
        let r = framing(&[("Content-Length", "18446744073709551616")]);
        assert_eq!(r, Err(HeadError::BadContentLength));
    }

    #[test]
    fn test_cl_duplicate_rejected_even_when_equal() {
        let r = framing(&[("Content-Length", "5"), ("content-length", "5")]);
        assert_eq!(r, Err(HeadError::DuplicateContentLength));
        let r = framing(&[("Content-Length", "5"), ("Content-Length", "6")]);
        assert_eq!(r, Err(HeadError::DuplicateContentLength));
    }

    #[test]
    fn test_cl_above_body_limit_is_413() {
        let over = format!("{}", MAX_BODY_BYTES as u64 + 1);
        assert_eq!(
            framing(&[("Content-Length", &over)]),
            Err(HeadError::BodyTooLarge)
        );
        let at = format!("{MAX_BODY_BYTES}");
        assert_eq!(
            framing(&[("Content-Length", &at)]),
            Ok(Framing::ContentLength(MAX_BODY_BYTES as u64))
        );
        assert_eq!(HeadError::BodyTooLarge.status(), 413);
    }

    #[test]
    fn test_cl_and_te_rejected() {
        let r = framing(&[("Content-Length", "5"), ("Transfer-Encoding", "chunked")]);
        assert_eq!(r, Err(HeadError::ContentLengthAndTransferEncoding));
        let r = framing(&[("Transfer-Encoding", "chunked"), ("Content-Length", "5")]);
        assert_eq!(r, Err(HeadError::ContentLengthAndTransferEncoding));
    }

    #[test]
    fn test_te_chunked_any_case() {
        assert_eq!(
            framing(&[("Transfer-Encoding", "chunked")]),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&[("transfer-encoding", "CHUNKED")]),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&[("Transfer-Encoding", "Chunked")]),
            Ok(Framing::Chunked)
        );
    }

    #[test]
    fn test_te_other_than_single_chunked_is_501() {
        for v in [
            "gzip, chunked",
            "chunked, chunked",
            ",chunked",
            "chunked,",
            "identity",
            "gzip",
            "chunked;q=1",
            "chunkedx",
            "",
        ] {
            let r = framing(&[("Transfer-Encoding", v)]);
            assert_eq!(r, Err(HeadError::UnsupportedTransferEncoding), "{v:?}");
        }
    }

    #[test]
    fn test_te_two_fields_is_501() {
        let r = framing(&[
            ("Transfer-Encoding", "chunked"),
            ("Transfer-Encoding", "chunked"),
        ]);
        assert_eq!(r, Err(HeadError::UnsupportedTransferEncoding));
    }

    #[test]
    fn test_te_on_http10_rejected() {
        let r = run(&[("Transfer-Encoding", "chunked")], 0);
        assert_eq!(r, Err(HeadError::TransferEncodingOnHttp10));
        let r = run(&[("Transfer-Encoding", "gzip")], 0);
        assert_eq!(r, Err(HeadError::TransferEncodingOnHttp10));
    }

    #[test]
    fn test_http11_keep_alive_by_default() {
        assert!(run(&[("Host", "x")], 1).unwrap().keep_alive);
        assert!(
            run(&[("Host", "x"), ("Connection", "keep-alive")], 1)
                .unwrap()
                .keep_alive
        );
    }

    #[test]
    fn test_http11_connection_close_in_list_any_case() {
        for v in ["close", "Close", "Upgrade, CLOSE", " keep-alive ,close "] {
            assert!(
                !run(&[("Host", "x"), ("Connection", v)], 1)
                    .unwrap()
                    .keep_alive,
                "{v}"
            );
        }
        let two = [
            ("Host", "x"),
            ("Connection", "keep-alive"),
            ("Connection", "close"),
        ];
        assert!(!run(&two, 1).unwrap().keep_alive);
        assert!(
            run(&[("Host", "x"), ("Connection", "closed")], 1)
                .unwrap()
                .keep_alive
        );
    }

    #[test]
    fn test_http10_close_by_default() {
        assert!(!run(&[], 0).unwrap().keep_alive);
        assert!(run(&[("Connection", "Keep-Alive")], 0).unwrap().keep_alive);
        assert!(
            run(&[("Connection", "foo, keep-alive")], 0)
                .unwrap()
                .keep_alive
        );
        assert!(
            !run(&[("Connection", "keep-alive, close")], 0)
                .unwrap()
                .keep_alive
        );
    }

    #[test]
    fn test_expect_100_continue_any_case() {
        let s = run(&[("Host", "x"), ("Expect", "100-Continue")], 1).unwrap();
        assert!(s.expect_continue);
        assert!(!run(&[("Host", "x")], 1).unwrap().expect_continue);
    }

    #[test]
    fn test_expect_other_is_417() {
        for v in ["200-ok", "100-continue, foo", "", "100-continuex"] {
            let r = run(&[("Host", "x"), ("Expect", v)], 1);
            assert_eq!(r, Err(HeadError::ExpectationFailed), "{v:?}");
        }
    }

    #[test]
    fn test_expect_continue_ignored_on_http10() {
        assert!(
            !run(&[("Expect", "100-continue")], 0)
                .unwrap()
                .expect_continue
        );
    }

    #[test]
    fn test_host_required_on_http11_only() {
        assert_eq!(run(&[], 1), Err(HeadError::MissingHost));
        assert_eq!(run(&[], 0).unwrap().host, None);
        assert_eq!(run(&[("host", "a:1")], 1).unwrap().host, Some(&b"a:1"[..]));
    }

    #[test]
    fn test_host_duplicate_or_invalid_rejected() {
        assert_eq!(
            run(&[("Host", "a"), ("Host", "a")], 1),
            Err(HeadError::BadHost)
        );
        assert_eq!(run(&[("Host", "a b")], 1), Err(HeadError::BadHost));
        assert_eq!(run(&[("Host", "a/b")], 0), Err(HeadError::BadHost));
    }
}
