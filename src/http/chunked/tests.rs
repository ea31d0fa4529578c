//! Unit tests of [`ChunkedDecoder`](super::ChunkedDecoder): every state, every refusal, and
//! arbitrary input splits.

use super::*;
use proptest::prelude::*;

const LIMIT: u64 = 1 << 20;

/// Feeds `input` in pieces cut at `cuts`, the way a connection does: new bytes are appended to
/// what the decoder left unconsumed. Returns the body and the bytes left after the body, or
/// `None` when the input ends before the body does.
type Decoded = Option<(Vec<u8>, Vec<u8>)>;

fn feed_split(input: &[u8], cuts: &[usize], limit: u64) -> Result<Decoded, ChunkError> {
    let mut dec = ChunkedDecoder::new(limit);
    let mut body = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    for end in bounds {
        pending.extend_from_slice(&input[start..end]);
        start = end;
        let p = dec.decode(&mut pending)?;
        assert!(p.produced <= p.consumed);
        assert!(
            p.done || p.consumed == pending.len(),
            "not done but left bytes"
        );
        body.extend_from_slice(&pending[..p.produced]);
        pending.drain(..p.consumed);
        if p.done {
            pending.extend_from_slice(&input[start..]);
            return Ok(Some((body, pending)));
        }
    }
    assert!(!dec.is_done());
    Ok(None)
}

fn decode_all(input: &[u8]) -> Result<Decoded, ChunkError> {
    feed_split(input, &[], LIMIT)
}

fn decode_bytewise(input: &[u8]) -> Result<Decoded, ChunkError> {
    let cuts: Vec<usize> = (1..input.len()).collect();
    feed_split(input, &cuts, LIMIT)
}

fn err(input: &[u8]) -> ChunkError {
    let whole = decode_all(input).expect_err("accepted whole");
    let bytewise = decode_bytewise(input).expect_err("accepted bytewise");
    assert_eq!(whole, bytewise, "{:?}", String::from_utf8_lossy(input));
    whole
}

fn ok(input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let whole = decode_all(input).unwrap().expect("incomplete");
    assert_eq!(decode_bytewise(input).unwrap(), Some(whole.clone()));
    whole
}

#[test]
fn test_single_chunk() {
    let (body, rest) = ok(b"5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(body, b"hello");
    assert!(rest.is_empty());
}

#[test]
fn test_many_chunks_and_pipelined_rest_untouched() {
    let (body, rest) = ok(b"3\r\nabc\r\nA\r\n0123456789\r\n1\r\nz\r\n0\r\n\r\nGET / HTTP/1.1\r\n");
    assert_eq!(body, b"abc0123456789z");
    assert_eq!(rest, b"GET / HTTP/1.1\r\n");
}

#[test]
fn test_empty_body() {
    assert_eq!(ok(b"0\r\n\r\n"), (vec![], vec![]));
    assert_eq!(ok(b"000\r\n\r\n").0, b"");
}

#[test]
fn test_hex_digits_either_case() {
    let mut input = b"aB\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 0xab));
    input.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(ok(&input).0.len(), 0xab);
}

#[test]
fn test_progress_reports_in_place_compaction() {
    let mut buf = *b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nX";
    let mut dec = ChunkedDecoder::new(LIMIT);
    let p = dec.decode(&mut buf).unwrap();
    assert_eq!(
        p,
        Progress {
            consumed: buf.len() - 1,
            produced: 5,
            done: true
        }
    );
    assert_eq!(&buf[..5], b"abcde");
    assert_eq!(dec.body_len(), 5);
    assert!(dec.is_done());
}

#[test]
fn test_done_consumes_nothing_more() {
    let mut dec = ChunkedDecoder::new(LIMIT);
    let mut buf = *b"0\r\n\r\n";
    assert!(dec.decode(&mut buf).unwrap().done);
    let mut more = *b"GET";
    assert_eq!(
        dec.decode(&mut more),
        Ok(Progress {
            consumed: 0,
            produced: 0,
            done: true
        })
    );
}

#[test]
fn test_partial_size_line_is_remembered() {
    let mut dec = ChunkedDecoder::new(LIMIT);
    let mut a = *b"1";
    assert_eq!(
        dec.decode(&mut a),
        Ok(Progress {
            consumed: 1,
            produced: 0,
            done: false
        })
    );
    let mut b = *b"0\r";
    assert_eq!(dec.decode(&mut b).unwrap().consumed, 2);
    let mut c = *b"\n0123456789abcdef";
    let p = dec.decode(&mut c).unwrap();
    assert_eq!((p.consumed, p.produced, p.done), (17, 16, false));
    assert_eq!(&c[..16], b"0123456789abcdef");
}

#[test]
fn test_extensions_ignored() {
    assert_eq!(ok(b"3;name=value\r\nabc\r\n0;last\r\n\r\n").0, b"abc");
    assert_eq!(ok(b"3 ; a=\"q s\" ;b\r\nabc\r\n0\r\n\r\n").0, b"abc");
    assert_eq!(ok(b"3\t;x\r\nabc\r\n0\r\n\r\n").0, b"abc");
}

#[test]
fn test_trailers_validated_and_discarded() {
    let (body, rest) = ok(b"1\r\na\r\n0\r\nX-Sum: 12\r\nX-Other:\r\n\r\nNEXT");
    assert_eq!((body, rest), (b"a".to_vec(), b"NEXT".to_vec()));
}

#[test]
fn test_empty_size_line_rejected() {
    assert_eq!(err(b"\r\n"), ChunkError::BadSize);
    assert_eq!(err(b"3\r\nabc\r\n\r\n"), ChunkError::BadSize);
}

#[test]
fn test_non_hex_size_rejected() {
    for input in [
        &b"0x10\r\n"[..],
        b"-1\r\n",
        b"+1\r\n",
        b"1_0\r\n",
        b"g\r\n",
        b" 1\r\n",
        b";x\r\n",
    ] {
        assert_eq!(
            err(input),
            ChunkError::BadSize,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn test_whitespace_after_size_without_extension_rejected() {
    assert_eq!(err(b"1 \r\na\r\n0\r\n\r\n"), ChunkError::BadSize);
    assert_eq!(err(b"1 x\r\n"), ChunkError::BadSize);
}

#[test]
fn test_too_many_size_digits_rejected() {
    let mut ok_size = vec![b'0'; MAX_CHUNK_SIZE_DIGITS - 1];
    ok_size.extend_from_slice(b"1\r\nz\r\n0\r\n\r\n");
    assert_eq!(ok(&ok_size).0, b"z");
    let long = vec![b'0'; MAX_CHUNK_SIZE_DIGITS + 1];
    assert_eq!(err(&long), ChunkError::SizeTooLong);
}

#[test]
fn test_bare_lf_in_size_line_rejected() {
    assert_eq!(err(b"1\na\r\n"), ChunkError::BadSize);
    assert_eq!(err(b"1;ext\na\r\n0\r\n\r\n"), ChunkError::BadExtension);
}

#[test]
fn test_cr_without_lf_in_size_line_rejected() {
    assert_eq!(err(b"1\rXa\r\n"), ChunkError::BadLineEnding);
    assert_eq!(err(b"1;a\rb\r\na\r\n"), ChunkError::BadLineEnding);
}

#[test]
fn test_control_byte_in_extension_rejected() {
    assert_eq!(err(b"1;a\x00b\r\na\r\n"), ChunkError::BadExtension);
    assert_eq!(err(b"1;a\x7f\r\na\r\n"), ChunkError::BadExtension);
}

#[test]
fn test_extension_too_long_rejected() {
    let mut input = b"1;".to_vec();
    input.resize(2 + MAX_CHUNK_EXT_BYTES, b'x');
    assert_eq!(err(&input), ChunkError::ExtensionTooLong);
}

#[test]
fn test_missing_crlf_after_data_rejected() {
    assert_eq!(err(b"3\r\nabcd\r\n0\r\n\r\n"), ChunkError::MissingDataCrlf);
    assert_eq!(err(b"3\r\nabc\n0\r\n\r\n"), ChunkError::MissingDataCrlf);
    assert_eq!(err(b"3\r\nabc\rX0\r\n\r\n"), ChunkError::MissingDataCrlf);
}

#[test]
fn test_body_over_limit_is_413() {
    let e = feed_split(b"5\r\nhello\r\n0\r\n\r\n", &[], 4).unwrap_err();
    assert_eq!((e, e.status()), (ChunkError::TooLarge, 413));
    let e = feed_split(b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", &[], 5).unwrap_err();
    assert_eq!(e, ChunkError::TooLarge);
    assert!(
        feed_split(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", &[], 5)
            .unwrap()
            .is_some()
    );
}

#[test]
fn test_huge_size_rejected_before_data() {
    assert_eq!(err(b"ffffffff\r\n"), ChunkError::TooLarge);
}

#[test]
fn test_bad_trailer_rejected() {
    for input in [
        &b"0\r\nNo colon\r\n\r\n"[..],
        b"0\r\n: empty name\r\n\r\n",
        b"0\r\n folded\r\n\r\n",
        b"0\r\nX: a\x00\r\n\r\n",
        b"0\r\nX: a\rb\r\n\r\n",
        b"0\r\nX: a\n\r\n",
    ] {
        assert_eq!(
            err(input),
            ChunkError::BadTrailer,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn test_last_line_must_be_crlf() {
    assert_eq!(err(b"0\r\n\rX"), ChunkError::BadLineEnding);
    assert_eq!(err(b"0\r\n\n"), ChunkError::BadTrailer);
}

#[test]
fn test_trailers_too_large_is_431() {
    let mut input = b"0\r\nX: ".to_vec();
    input.resize(3 + MAX_TRAILER_BYTES, b'v');
    input.extend_from_slice(b"\r\n\r\n");
    let e = err(&input);
    assert_eq!((e, e.status()), (ChunkError::TrailersTooLarge, 431));
}

#[test]
fn test_failed_decoder_stays_failed() {
    let mut dec = ChunkedDecoder::new(LIMIT);
    let mut bad = *b"x";
    assert_eq!(dec.decode(&mut bad), Err(ChunkError::BadSize));
    let mut good = *b"0\r\n\r\n";
    assert_eq!(dec.decode(&mut good), Err(ChunkError::BadSize));
    assert_eq!(dec.decode(&mut []), Err(ChunkError::BadSize));
}

#[test]
fn test_error_display_and_status() {
    assert_eq!(ChunkError::BadSize.to_string(), "invalid chunk size");
    assert_eq!(ChunkError::BadTrailer.status(), 400);
    assert!(ChunkError::MissingDataCrlf.closes_connection());
}

/// Encodes `body` in chunks of the given sizes (cycled), with optional extensions and trailers.
fn encode(body: &[u8], sizes: &[usize], ext: bool, trailer: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        out.extend_from_slice(format!("{n:x}").as_bytes());
        if ext {
            out.extend_from_slice(b" ;k=v");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\n");
    if trailer {
        out.extend_from_slice(b"X-Checksum: abc\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

proptest! {
    #[test]
    fn prop_random_chunks_random_splits_round_trip(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        sizes in proptest::collection::vec(1usize..300, 1..8),
        cuts in proptest::collection::vec(0usize..3000, 0..40),
        ext in any::<bool>(),
        trailer in any::<bool>(),
    ) {
        let mut input = encode(&body, &sizes, ext, trailer);
        input.extend_from_slice(b"NEXT");
        let (decoded, rest) = feed_split(&input, &cuts, LIMIT).unwrap().unwrap();
        prop_assert_eq!(decoded, body);
        prop_assert_eq!(rest, b"NEXT".to_vec());
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(0usize..512, 0..16),
    ) {
        let _ = feed_split(&input, &cuts, 64);
    }
}
