//! Integer formatting without `core::fmt`, for the response hot path.
//!
//! Each function writes its digits at the end of a small caller-provided array and returns the
//! written part, so no length has to be computed first and nothing can overflow.

/// Room for any `u64` in decimal (`18446744073709551615` has 20 digits).
pub const DEC_U64_LEN: usize = 20;

/// Room for any `u64` in hexadecimal (16 digits).
pub const HEX_U64_LEN: usize = 16;

/// Formats `n` in decimal, without leading zeros (`0` is `"0"`).
pub fn dec_u64(mut n: u64, out: &mut [u8; DEC_U64_LEN]) -> &[u8] {
    let mut i = DEC_U64_LEN;
    loop {
        i -= 1;
        // `n % 10` is below 10, so the cast cannot truncate.
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

/// Formats `n` in lower-case hexadecimal, without leading zeros (`0` is `"0"`); the form of a
/// chunk-size line in a chunked response.
pub fn hex_u64(mut n: u64, out: &mut [u8; HEX_U64_LEN]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut i = HEX_U64_LEN;
    loop {
        i -= 1;
        out[i] = DIGITS[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_dec_zero_and_extremes() {
        let mut b = [0; DEC_U64_LEN];
        assert_eq!(dec_u64(0, &mut b), b"0");
        assert_eq!(dec_u64(7, &mut b), b"7");
        assert_eq!(dec_u64(10, &mut b), b"10");
        assert_eq!(dec_u64(1_048_576, &mut b), b"1048576");
        assert_eq!(dec_u64(u64::MAX, &mut b), b"18446744073709551615");
    }

    #[test]
    fn test_hex_zero_and_extremes() {
        let mut b = [0; HEX_U64_LEN];
        assert_eq!(hex_u64(0, &mut b), b"0");
        assert_eq!(hex_u64(255, &mut b), b"ff");
        assert_eq!(hex_u64(0x1000, &mut b), b"1000");
        assert_eq!(hex_u64(u64::MAX, &mut b), b"ffffffffffffffff");
    }

    #[test]
    fn test_dec_matches_core_fmt() {
        let mut b = [0; DEC_U64_LEN];
        let mut n: u64 = 1;
        while n < u64::MAX / 3 {
            assert_eq!(dec_u64(n, &mut b), format!("{n}").as_bytes());
            assert_eq!(dec_u64(n - 1, &mut b), format!("{}", n - 1).as_bytes());
            n *= 3;
        }
    }
}
