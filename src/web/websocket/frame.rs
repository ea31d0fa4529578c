//! RFC 6455 §5 framing as pure functions over byte slices: no I/O, no state, no panic on any
//! input.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```

use core::fmt;

use super::CloseCode;

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The longest header a server writes (unmasked).
pub const MAX_SERVER_HEADER_LEN: usize = 10;

/// Largest payload of a control frame (ping, pong, close).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Opcode {
    /// `0x0`: the next fragment of a message.
    Continuation,
    /// `0x1`: a UTF-8 text message (or its first fragment).
    Text,
    /// `0x2`: a binary message (or its first fragment).
    Binary,
    /// `0x8`: close.
    Close,
    /// `0x9`: ping.
    Ping,
    /// `0xA`: pong.
    Pong,
}

impl Opcode {
    /// The opcode of a 4-bit value; `None` for the reserved ones.
    pub const fn from_bits(b: u8) -> Option<Opcode> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit value.
    pub const fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Whether this is a control frame (close, ping, pong).
    pub const fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameHeader {
    /// The final fragment of its message.
    pub fin: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key, when the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Bytes of the header (2 to [`MAX_HEADER_LEN`]); the payload follows.
    pub header_len: usize,
    /// Bytes of the payload.
    pub payload_len: u64,
}

/// Why a frame is refused. Each is a protocol error: the connection is failed with
/// [`CloseCode::PROTOCOL_ERROR`] (1002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameError {
    /// RSV1–3 set: no extension was negotiated.
    ReservedBits,
    /// A reserved opcode (0x3–0x7, 0xB–0xF).
    ReservedOpcode,
    /// A control frame with more than 125 bytes of payload.
    ControlTooLong,
    /// A control frame without FIN.
    ControlFragmented,
    /// A client frame without a mask (RFC 6455 §5.1).
    Unmasked,
    /// A 64-bit length with its most significant bit set.
    LengthOverflow,
}

impl FrameError {
    /// The close code to fail the connection with.
    pub const fn close_code(self) -> CloseCode {
        CloseCode::PROTOCOL_ERROR
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameError::ReservedBits => "reserved bits set",
            FrameError::ReservedOpcode => "reserved opcode",
            FrameError::ControlTooLong => "control frame payload over 125 bytes",
            FrameError::ControlFragmented => "fragmented control frame",
            FrameError::Unmasked => "client frame not masked",
            FrameError::LengthOverflow => "payload length over 2^63",
        })
    }
}

impl core::error::Error for FrameError {}

/// Parses the frame header at the start of `buf`: `Ok(None)` while more bytes are needed,
/// `Err` for a frame that must fail the connection. `require_mask` is for a server reading
/// client frames. Non-minimal length encodings are accepted.
pub fn parse_header(buf: &[u8], require_mask: bool) -> Result<Option<FrameHeader>, FrameError> {
    let [b0, b1, rest @ ..] = buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = Opcode::from_bits(b0 & 0x0f).ok_or(FrameError::ReservedOpcode)?;
    let masked = b1 & 0x80 != 0;
    if require_mask && !masked {
        return Err(FrameError::Unmasked);
    }
    let len7 = b1 & 0x7f;
    if opcode.is_control() {
        if !fin {
            return Err(FrameError::ControlFragmented);
        }
        if usize::from(len7) > MAX_CONTROL_PAYLOAD {
            return Err(FrameError::ControlTooLong);
        }
    }
    let (payload_len, ext) = match len7 {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
            _ => return Ok(None),
        },
        127 => match rest.first_chunk::<8>() {
            Some(b) => {
                let n = u64::from_be_bytes(*b);
                if n >> 63 != 0 {
                    return Err(FrameError::LengthOverflow);
                }
                (n, 8)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 0),
    };
    let mut header_len = 2 + ext;
    let mask = if masked {
        let Some(m) = rest.get(ext..ext + 4) else {
            return Ok(None);
        };
        header_len += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin,
        opcode,
        mask,
        header_len,
        payload_len,
    }))
}

/// XORs `data` with the masking key (masking and unmasking are the same operation).
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = data.chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (b, m) in chunks.into_remainder().iter_mut().zip(mask) {
        *b ^= m;
    }
}

/// Writes the header of an unmasked (server) frame into `out`; returns its length.
pub fn write_header(
    fin: bool,
    opcode: Opcode,
    payload_len: usize,
    out: &mut [u8; MAX_SERVER_HEADER_LEN],
) -> usize {
    out[0] = (if fin { 0x80 } else { 0 }) | opcode.bits();
    let len = payload_len as u64;
    if len < 126 {
        out[1] = len as u8;
        2
    } else if len <= u64::from(u16::MAX) {
        out[1] = 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&len.to_be_bytes());
        10
    }
}

/// Checks a close frame's payload (RFC 6455 §5.5.1, §7.4): empty, or a valid code followed by
/// a UTF-8 reason. Returns the code (`None` for an empty payload) or the code to fail with.
pub fn parse_close(payload: &[u8]) -> Result<Option<u16>, CloseCode> {
    match payload {
        [] => Ok(None),
        [_] => Err(CloseCode::PROTOCOL_ERROR),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !CloseCode(code).is_valid_on_wire() {
                return Err(CloseCode::PROTOCOL_ERROR);
            }
            if core::str::from_utf8(reason).is_err() {
                return Err(CloseCode::INVALID_PAYLOAD);
            }
            Ok(Some(code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut v = vec![first];
        let n = payload.len();
        if n < 126 {
            v.push(0x80 | n as u8);
        } else if n <= 0xffff {
            v.push(0x80 | 126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            v.push(0x80 | 127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
        v.extend_from_slice(&mask);
        let mut p = payload.to_vec();
        apply_mask(&mut p, mask);
        v.extend_from_slice(&p);
        v
    }

    #[test]
    fn test_parse_small_masked_text() {
        let f = masked(0x81, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        // RFC 6455 §5.7 example bytes.
        assert_eq!(
            f,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        let h = parse_header(&f, true).unwrap().unwrap();
        assert_eq!(
            h,
            FrameHeader {
                fin: true,
                opcode: Opcode::Text,
                mask: Some([0x37, 0xfa, 0x21, 0x3d]),
                header_len: 6,
                payload_len: 5
            }
        );
        let mut p = f[6..].to_vec();
        apply_mask(&mut p, h.mask.unwrap());
        assert_eq!(p, b"Hello");
    }

    #[test]
    fn test_incomplete_headers_need_more() {
        let big = masked(0x82, &[7u8; 70000], [1, 2, 3, 4]);
        let mid = masked(0x82, &[7u8; 300], [1, 2, 3, 4]);
        for f in [&big[..], &mid[..]] {
            let h = parse_header(f, true).unwrap().unwrap();
            for n in 0..h.header_len {
                assert_eq!(parse_header(&f[..n], true), Ok(None), "{n}");
            }
        }
        let h = parse_header(&big, true).unwrap().unwrap();
        assert_eq!((h.header_len, h.payload_len), (14, 70000));
        let h = parse_header(&mid, true).unwrap().unwrap();
        assert_eq!((h.header_len, h.payload_len), (8, 300));
    }

    #[test]
    fn test_protocol_errors() {
        assert_eq!(parse_header(&[0x81, 0x05], true), Err(FrameError::Unmasked));
        assert!(parse_header(&[0x81, 0x05], false).unwrap().is_some());
        assert_eq!(
            parse_header(&[0xc1, 0x80], true),
            Err(FrameError::ReservedBits)
        );
        assert_eq!(
            parse_header(&[0x83, 0x80], true),
            Err(FrameError::ReservedOpcode)
        );
        assert_eq!(
            parse_header(&[0x8b, 0x80], true),
            Err(FrameError::ReservedOpcode)
        );
        assert_eq!(
            parse_header(&[0x09, 0x80], true),
            Err(FrameError::ControlFragmented)
        );
        assert_eq!(
            parse_header(&[0x89, 0xfe], true),
            Err(FrameError::ControlTooLong)
        );
        let mut huge = vec![0x82, 0xff];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(parse_header(&huge, true), Err(FrameError::LengthOverflow));
    }

    #[test]
    fn test_write_header_lengths() {
        let mut h = [0u8; MAX_SERVER_HEADER_LEN];
        assert_eq!(write_header(true, Opcode::Text, 5, &mut h), 2);
        assert_eq!(h[..2], [0x81, 5]);
        assert_eq!(write_header(true, Opcode::Binary, 126, &mut h), 4);
        assert_eq!(h[..4], [0x82, 126, 0, 126]);
        assert_eq!(write_header(false, Opcode::Text, 65536, &mut h), 10);
        assert_eq!(h[..10], [0x01, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        let n = write_header(true, Opcode::Pong, 3, &mut h);
        let p = parse_header(&h[..n], false).unwrap().unwrap();
        assert_eq!((p.opcode, p.payload_len, p.mask), (Opcode::Pong, 3, None));
    }

    #[test]
    fn test_mask_all_alignments() {
        for n in 0..13 {
            let orig: Vec<u8> = (0..n as u8).collect();
            let mut d = orig.clone();
            let m = [0xde, 0xad, 0xbe, 0xef];
            apply_mask(&mut d, m);
            for (i, (a, b)) in d.iter().zip(&orig).enumerate() {
                assert_eq!(*a, b ^ m[i % 4]);
            }
            apply_mask(&mut d, m);
            assert_eq!(d, orig);
        }
    }

    #[test]
    fn test_close_payloads() {
        assert_eq!(parse_close(b""), Ok(None));
        assert_eq!(parse_close(&[3]), Err(CloseCode::PROTOCOL_ERROR));
        assert_eq!(parse_close(&[0x03, 0xe8]), Ok(Some(1000)));
        assert_eq!(parse_close(b"\x03\xe8bye"), Ok(Some(1000)));
        assert_eq!(parse_close(b"\x0f\xa0"), Ok(Some(4000)));
        assert_eq!(
            parse_close(b"\x03\xe8\xff"),
            Err(CloseCode::INVALID_PAYLOAD)
        );
        for bad in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert_eq!(
                parse_close(&bad.to_be_bytes()),
                Err(CloseCode::PROTOCOL_ERROR),
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn prop_parse_never_panics_and_is_prefix_stable(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            mask in proptest::bool::ANY,
        ) {
            let full = parse_header(&data, mask);
            if let Ok(Some(h)) = full {
                proptest::prop_assert!(h.header_len <= data.len());
                proptest::prop_assert!(h.header_len <= MAX_HEADER_LEN);
                // Any longer input parses to the same header.
                let mut more = data.clone();
                more.extend_from_slice(&[0xaa; 16]);
                proptest::prop_assert_eq!(parse_header(&more, mask), full);
            }
        }
    }
}
