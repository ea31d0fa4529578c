//! `ChunkedDecoder` over arbitrary bytes fed in arbitrary splits, and round trips.
//!
//! Input: a mode byte, a split seed byte, then the stream (or, in round-trip mode, a body and an
//! encoding plan).
//!
//! Decode mode invariants (per `decode` call): `produced <= consumed <= len`; `consumed == len`
//! unless done; `body_len() <= limit`; bytes after the end of the body are left untouched;
//! after the end every call consumes nothing; after an error every call repeats it. Across
//! calls: the outcome (body bytes, where the body ended, the error) does not depend on how the
//! stream was split, and it equals the outcome of an independent, whole-buffer reference parser
//! of the same strict grammar written here.
//!
//! Round-trip mode: a random body encoded with random chunk sizes, hex case, leading zeros,
//! extensions and trailers, followed by a pipelined request, decodes to the same body, ends
//! exactly where the encoding ends, and leaves the pipelined bytes alone.

#![no_main]

use edgeloop::http::{
    ChunkError, ChunkedDecoder, MAX_BODY_BYTES, MAX_CHUNK_EXT_BYTES, MAX_CHUNK_SIZE_DIGITS,
    MAX_TRAILER_BYTES,
};
use edgeloop_fuzz::{Cursor, Rng, split_max, split_sizes};
use libfuzzer_sys::fuzz_target;

/// Body limits tried: tiny, typical, and the extremes of the arithmetic.
const LIMITS: [u64; 8] = [
    0,
    1,
    16,
    4095,
    MAX_BODY_BYTES as u64,
    u32::MAX as u64,
    u64::MAX - 1,
    u64::MAX,
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// The body ended after this many input bytes.
    Done(usize),
    /// More input is needed.
    Incomplete,
    /// Refused.
    Error(ChunkError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    end: End,
}

/// Feeds `input` to a fresh decoder in pieces of the given sizes, checking the per-call
/// invariants.
fn run(input: &[u8], limit: u64, sizes: &[usize]) -> Outcome {
    let mut dec = ChunkedDecoder::new(limit);
    let mut body = Vec::new();
    let mut at = 0;
    let mut end = End::Incomplete;
    let mut buf = Vec::with_capacity(input.len());
    for &n in sizes {
        let piece = &input[at..at + n];
        buf.clear();
        buf.extend_from_slice(piece);
        let r = dec.decode(&mut buf);
        match (&end, r) {
            (End::Error(e), r) => {
                assert_eq!(r, Err(*e), "a failed decoder must repeat its error");
            }
            (End::Done(_), r) => {
                let p = r.expect("a finished decoder cannot fail");
                assert_eq!(
                    (p.consumed, p.produced, p.done),
                    (0, 0, true),
                    "after the end"
                );
                assert_eq!(buf, piece, "bytes after the end were modified");
            }
            (End::Incomplete, Err(e)) => {
                assert!(
                    matches!(e.status(), 400 | 413 | 431) && e.closes_connection(),
                    "{e:?}"
                );
                end = End::Error(e);
            }
            (End::Incomplete, Ok(p)) => {
                assert!(p.produced <= p.consumed, "{p:?}");
                assert!(p.consumed <= n, "{p:?} for {n} bytes");
                assert_eq!(p.done, dec.is_done());
                if p.done {
                    assert_eq!(
                        &buf[p.consumed..],
                        &piece[p.consumed..],
                        "bytes after the end were modified"
                    );
                    end = End::Done(at + p.consumed);
                } else {
                    assert_eq!(p.consumed, n, "not done, yet input left unconsumed");
                }
                body.extend_from_slice(&buf[..p.produced]);
            }
        }
        assert!(
            dec.body_len() <= limit,
            "body_len {} > limit {limit}",
            dec.body_len()
        );
        assert!(
            body.len() as u64 <= dec.body_len(),
            "produced {} > announced {}",
            body.len(),
            dec.body_len()
        );
        at += n;
    }
    if let End::Done(_) = end {
        assert_eq!(
            body.len() as u64,
            dec.body_len(),
            "body shorter than announced"
        );
    }
    if let End::Error(e) = end {
        assert_eq!(
            dec.decode(&mut [b'0']),
            Err(e),
            "a failed decoder must repeat its error"
        );
        // What a failing call produced before the error is not reported (and not used: the
        // request is refused), so a refused body compares by its error alone.
        body.clear();
    }
    Outcome { body, end }
}

fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

fn field_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An independent whole-buffer parser of the decoder's grammar (see the module docs of
/// `edgeloop::http::chunked`), reporting the first offending byte's error like the decoder.
fn reference(input: &[u8], limit: u64) -> Outcome {
    let mut body = Vec::new();
    let mut i = 0usize;
    let mut total: u64 = 0;
    macro_rules! byte {
        () => {
            match input.get(i) {
                Some(&b) => b,
                None => {
                    return Outcome {
                        body,
                        end: End::Incomplete,
                    };
                }
            }
        };
    }
    macro_rules! fail {
        ($e:expr) => {
            return Outcome {
                body: Vec::new(),
                end: End::Error($e),
            }
        };
    }
    loop {
        // chunk-size
        let mut digits = 0usize;
        let mut size: u64 = 0;
        loop {
            let b = byte!();
            let Some(v) = hex(b) else { break };
            if digits == MAX_CHUNK_SIZE_DIGITS {
                fail!(ChunkError::SizeTooLong);
            }
            size = size * 16 + v;
            digits += 1;
            i += 1;
        }
        if digits == 0 {
            fail!(ChunkError::BadSize);
        }
        // [ BWS ";" ext ] CR
        match byte!() {
            b'\r' => i += 1,
            b' ' | b'\t' | b';' => {
                let mut ext = 0usize;
                let mut semicolon = false;
                loop {
                    let b = byte!();
                    if b == b'\r' {
                        if !semicolon {
                            fail!(ChunkError::BadSize);
                        }
                        i += 1;
                        break;
                    }
                    match b {
                        b';' => semicolon = true,
                        b' ' | b'\t' => {}
                        _ if !semicolon => fail!(ChunkError::BadSize),
                        _ if field_value_byte(b) => {}
                        _ => fail!(ChunkError::BadExtension),
                    }
                    ext += 1;
                    if ext > MAX_CHUNK_EXT_BYTES {
                        fail!(ChunkError::ExtensionTooLong);
                    }
                    i += 1;
                }
            }
            _ => fail!(ChunkError::BadSize),
        }
        if byte!() != b'\n' {
            fail!(ChunkError::BadLineEnding);
        }
        i += 1;
        if size == 0 {
            break;
        }
        total = match total.checked_add(size) {
            Some(t) if t <= limit => t,
            _ => fail!(ChunkError::TooLarge),
        };
        let avail = input.len() - i;
        if (avail as u64) < size {
            body.extend_from_slice(&input[i..]);
            return Outcome {
                body,
                end: End::Incomplete,
            };
        }
        let size = size as usize;
        body.extend_from_slice(&input[i..i + size]);
        i += size;
        if byte!() != b'\r' {
            fail!(ChunkError::MissingDataCrlf);
        }
        i += 1;
        if byte!() != b'\n' {
            fail!(ChunkError::MissingDataCrlf);
        }
        i += 1;
    }
    // trailer-section CRLF, every byte counted against MAX_TRAILER_BYTES before it is judged.
    let start = i;
    macro_rules! tbyte {
        () => {{
            let b = byte!();
            if i - start + 1 > MAX_TRAILER_BYTES {
                fail!(ChunkError::TrailersTooLarge);
            }
            b
        }};
    }
    loop {
        let b = tbyte!();
        if b == b'\r' {
            i += 1;
            if tbyte!() != b'\n' {
                fail!(ChunkError::BadLineEnding);
            }
            return Outcome {
                body,
                end: End::Done(i + 1),
            };
        }
        if !tchar(b) {
            fail!(ChunkError::BadTrailer);
        }
        i += 1;
        loop {
            let b = tbyte!();
            i += 1;
            if b == b':' {
                break;
            }
            if !tchar(b) {
                fail!(ChunkError::BadTrailer);
            }
        }
        loop {
            let b = tbyte!();
            i += 1;
            if b == b'\r' {
                break;
            }
            if !field_value_byte(b) {
                fail!(ChunkError::BadTrailer);
            }
        }
        if tbyte!() != b'\n' {
            fail!(ChunkError::BadTrailer);
        }
        i += 1;
    }
}

fn decode_mode(mode: u8, c: &mut Cursor<'_>) {
    let limit = LIMITS[usize::from(mode >> 1) % LIMITS.len()];
    let seed = c.byte();
    let input = c.rest();
    let whole = run(input, limit, &[input.len()]);
    let max = split_max(mode >> 4);
    let sizes = split_sizes(u64::from(seed) << 8 | u64::from(mode), input.len(), max);
    let split = run(input, limit, &sizes);
    assert_eq!(whole, split, "the outcome depends on the split {sizes:?}");
    let bytewise = if input.len() <= 256 {
        Some(run(input, limit, &vec![1; input.len()]))
    } else {
        None
    };
    if let Some(b) = bytewise {
        assert_eq!(whole, b, "the outcome differs when fed byte by byte");
    }
    let r = reference(input, limit);
    assert_eq!(whole, r, "the decoder and the reference parser disagree");
}

fn round_trip(c: &mut Cursor<'_>) {
    let seed = c.u16();
    let body_len = usize::from(c.u16() % 3000);
    let mut rng = Rng::new(u64::from(seed) ^ (body_len as u64) << 16);
    let src = c.take(body_len);
    let body: Vec<u8> = (0..body_len)
        .map(|i| src.get(i).copied().unwrap_or(rng.next_u64() as u8))
        .collect();
    let mut enc = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let plan = c.byte();
        let n = match plan & 3 {
            0 => 1,
            1 => rng.size(16),
            2 => rng.size(600),
            _ => rng.size(body.len()),
        }
        .min(body.len() - at);
        let digits = format!("{n:x}");
        let zeros = usize::from(plan >> 5) % (MAX_CHUNK_SIZE_DIGITS - digits.len() + 1);
        enc.extend(std::iter::repeat_n(b'0', zeros));
        if plan & 4 != 0 {
            enc.extend_from_slice(digits.to_uppercase().as_bytes());
        } else {
            enc.extend_from_slice(digits.as_bytes());
        }
        match (plan >> 3) & 3 {
            0 => {}
            1 => enc.extend_from_slice(b";a=b"),
            2 => enc.extend_from_slice(b" \t;name=\"quoted value\";x"),
            _ => enc.extend_from_slice(b";"),
        }
        enc.extend_from_slice(b"\r\n");
        enc.extend_from_slice(&body[at..at + n]);
        enc.extend_from_slice(b"\r\n");
        at += n;
    }
    enc.extend_from_slice(b"0");
    let last = c.byte();
    if last & 1 != 0 {
        enc.extend_from_slice(b";last");
    }
    enc.extend_from_slice(b"\r\n");
    for t in 0..(last >> 1) % 4 {
        enc.extend_from_slice(format!("X-Trailer-{t}: v{t}\t ").as_bytes());
        enc.extend_from_slice(b"\x80\r\n");
    }
    enc.extend_from_slice(b"\r\n");
    let encoded_len = enc.len();
    enc.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    let max = split_max(c.byte());
    let sizes = split_sizes(rng.next_u64(), enc.len(), max);
    let out = run(&enc, MAX_BODY_BYTES as u64, &sizes);
    assert_eq!(
        out.end,
        End::Done(encoded_len),
        "a valid encoding was not decoded to its end"
    );
    assert!(out.body == body, "round trip changed the body");
    assert_eq!(reference(&enc, MAX_BODY_BYTES as u64), out);
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let mode = c.byte();
    if mode & 1 == 0 {
        decode_mode(mode, &mut c);
    } else {
        round_trip(&mut c);
    }
});
