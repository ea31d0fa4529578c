//! `parse_head` on arbitrary bytes.
//!
//! Invariants, besides "no panic, no out-of-bounds access":
//! * a complete head lies within the input and within `MAX_HEAD_BYTES`, ends with CRLF CRLF,
//!   has no bare LF, a target of at most `MAX_URI_BYTES`, tokens for names, clean values;
//! * its framing agrees with its header fields (one strict `Content-Length` within
//!   `MAX_BODY_BYTES`, or one `Transfer-Encoding: chunked` on HTTP/1.1, never both), and so do
//!   `Host`, keep-alive and `Expect`;
//! * incremental parsing is consistent: every prefix shorter than the head is `Ok(None)`, every
//!   longer one gives the same head, and a prefix of an incomplete head is incomplete too;
//! * `Ok(None)` only below `MAX_HEAD_BYTES`; errors map to the documented statuses.

#![no_main]

use edgeloop::http::{
    EMPTY_HEADER, Framing, Head, HeadError, MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_HEADERS,
    MAX_URI_BYTES, Method, TargetForm, parse_head,
};
use edgeloop_fuzz::Rng;
use edgeloop_testing::OwnedHead;
use libfuzzer_sys::fuzz_target;

/// Parsed heads are compared as owned copies.
type Parsed = Result<Option<OwnedHead>, HeadError>;

fn parse(data: &[u8]) -> Parsed {
    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    let r = parse_head(data, &mut headers)?;
    Ok(r.map(|h| {
        check_head(data, &h);
        OwnedHead::from(&h)
    }))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn fields<'a>(h: &'a Head<'_, '_>, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    h.headers
        .iter()
        .filter(move |f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.value)
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// Everything a complete, accepted head must satisfy.
fn check_head(data: &[u8], h: &Head<'_, '_>) {
    assert!(
        h.len <= data.len(),
        "head.len {} > input {}",
        h.len,
        data.len()
    );
    assert!(
        h.len <= MAX_HEAD_BYTES,
        "head.len {} > MAX_HEAD_BYTES",
        h.len
    );
    let head = &data[..h.len];
    assert!(
        head.ends_with(b"\r\n\r\n"),
        "head does not end with CRLF CRLF"
    );
    for (i, &b) in head.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && head[i - 1] == b'\r', "bare LF at {i} accepted");
        }
        if b == b'\r' {
            assert_eq!(head.get(i + 1), Some(&b'\n'), "bare CR at {i} accepted");
        }
        assert!(b != 0, "NUL in an accepted head");
    }
    assert!(
        h.target.len() <= MAX_URI_BYTES,
        "target longer than MAX_URI_BYTES"
    );
    assert!(h.version <= 1, "version 1.{}", h.version);
    assert_eq!(h.method, Method::from_token(h.method_token.as_bytes()));
    assert!(!h.method_token.is_empty() && h.method_token.bytes().all(is_tchar));
    assert!(h.headers.len() <= MAX_HEADERS);
    for f in h.headers {
        assert!(
            !f.name.is_empty() && f.name.bytes().all(is_tchar),
            "field name {:?} is not a token",
            f.name
        );
        assert!(
            f.value
                .iter()
                .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80),
            "control byte in the value of {:?}",
            f.name
        );
    }

    // Framing against the fields.
    let cl: Vec<&[u8]> = fields(h, "content-length").collect();
    let te: Vec<&[u8]> = fields(h, "transfer-encoding").collect();
    match h.framing {
        Framing::None => {
            assert!(cl.is_empty() && te.is_empty(), "body fields but no framing")
        }
        Framing::ContentLength(n) => {
            assert!(
                te.is_empty(),
                "Content-Length framing with Transfer-Encoding"
            );
            assert_eq!(
                cl.len(),
                1,
                "Content-Length framing with {} fields",
                cl.len()
            );
            let v = cl[0];
            assert!(
                !v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit),
                "Content-Length {:?} accepted",
                String::from_utf8_lossy(v)
            );
            let parsed: u64 = std::str::from_utf8(v).unwrap().parse().unwrap();
            assert_eq!(parsed, n, "Content-Length value differs from the framing");
            assert!(
                n <= MAX_BODY_BYTES as u64,
                "Content-Length above MAX_BODY_BYTES"
            );
        }
        Framing::Chunked => {
            assert!(cl.is_empty(), "chunked framing with Content-Length");
            assert_eq!(te.len(), 1, "chunked framing with {} TE fields", te.len());
            assert!(te[0].eq_ignore_ascii_case(b"chunked"), "TE {:?}", te[0]);
            assert_eq!(h.version, 1, "chunked on HTTP/1.0");
        }
    }

    // Host.
    let hosts: Vec<&[u8]> = fields(h, "host").collect();
    assert!(hosts.len() <= 1, "{} Host fields accepted", hosts.len());
    if h.version == 1 {
        assert_eq!(hosts.len(), 1, "HTTP/1.1 without Host accepted");
    }
    assert_eq!(h.host, hosts.first().copied());

    // Persistence.
    let tokens: Vec<&[u8]> = fields(h, "connection")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim)
        .collect();
    let close = tokens.iter().any(|t| t.eq_ignore_ascii_case(b"close"));
    let keep = tokens.iter().any(|t| t.eq_ignore_ascii_case(b"keep-alive"));
    let want = if h.version == 1 {
        !close
    } else {
        keep && !close
    };
    assert_eq!(h.keep_alive, want, "keep-alive disagrees with Connection");

    // Expect.
    let expects: Vec<&[u8]> = fields(h, "expect").collect();
    assert!(
        expects
            .iter()
            .all(|v| trim(v).eq_ignore_ascii_case(b"100-continue")),
        "an Expect other than 100-continue accepted"
    );
    assert_eq!(h.expect_continue, h.version == 1 && !expects.is_empty());

    // Target forms.
    match h.target_form {
        TargetForm::Origin => assert!(h.target.starts_with('/') && h.path == h.target),
        TargetForm::Asterisk => assert!(h.method == Method::Options && h.target == "*"),
        TargetForm::Authority => assert!(h.method == Method::Connect && h.authority.is_some()),
        TargetForm::Absolute => assert!(h.path.starts_with('/') && h.authority.is_some()),
    }
    assert!(!h.target.contains('#'), "fragment accepted");
}

fn check_error(e: HeadError) {
    assert!(
        matches!(e.status(), 400 | 413 | 414 | 417 | 431 | 501 | 505),
        "{e:?} maps to {}",
        e.status()
    );
    assert!(e.closes_connection());
}

fuzz_target!(|data: &[u8]| {
    let full = parse(data);
    let mut rng = Rng::new(data.iter().fold(data.len() as u64, |a, &b| {
        a.wrapping_mul(131).wrapping_add(u64::from(b))
    }));
    let mut points = Vec::new();
    for _ in 0..6 {
        if !data.is_empty() {
            points.push((rng.next_u64() % data.len() as u64) as usize);
        }
    }
    match &full {
        Ok(Some(s)) => {
            let l = s.len;
            // Shorter than the head: incomplete. At least the head: the same head.
            points.extend([l - 1, l.saturating_sub(2), l / 2, l, data.len()]);
            for p in points {
                let r = parse(&data[..p]);
                if p < l {
                    assert_eq!(r, Ok(None), "prefix {p} of a complete head of {l} bytes");
                } else {
                    assert_eq!(r, full, "prefix {p} of {} gives another head", data.len());
                }
            }
        }
        Ok(None) => {
            assert!(
                data.len() < MAX_HEAD_BYTES,
                "Ok(None) with {} bytes buffered",
                data.len()
            );
            for p in points {
                assert_eq!(
                    parse(&data[..p]),
                    Ok(None),
                    "prefix {p} of an incomplete head"
                );
            }
        }
        Err(e) => {
            check_error(*e);
            // A prefix may be incomplete or refused, but never accepted.
            for p in points {
                let r = parse(&data[..p]);
                assert!(
                    !matches!(r, Ok(Some(_))),
                    "prefix {p} accepted, the whole refused"
                );
                if let Err(e) = r {
                    check_error(e);
                }
            }
        }
    }
    // Deterministic.
    assert_eq!(parse(data), full);
});
