//! ASCII helpers for `/proc` and `/sys` text: fields, numbers and printable strings.
//!
//! All of them work on byte slices, never panic, and reject anything that is not exactly
//! what they expect (`None`), so an odd or cut value reads as unknown, never as a wrong number.

use super::read::lines;

/// `true` for space and tab, the field separators of `/proc` files.
pub const fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The space/tab separated fields of `text` (runs of separators count as one).
pub fn fields(text: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    text.split(|&b| is_blank(b)).filter(|f| !f.is_empty())
}

/// The first line of `data` if it is complete (ends in `\n`), without surrounding blanks.
///
/// The form of single-value files (`/sys/class/net/eth0/mtu` is `1500\n`): a value without its
/// newline may have been cut, so it is not trusted.
pub fn first_line(data: &[u8]) -> Option<&[u8]> {
    let line = lines(data).next()?;
    if line.complete {
        Some(line.text.trim_ascii())
    } else {
        None
    }
}

/// Parses an unsigned decimal number made only of ASCII digits; `None` when empty, when any
/// other byte is present, or on overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// [`parse_u64`] narrowed to `u32` (`None` when it does not fit).
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    parse_u64(s).and_then(|n| u32::try_from(n).ok())
}

/// Parses a signed decimal number (optional leading `-` or `+`); `None` on anything else or
/// overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let n = parse_u64(digits)?;
    if neg {
        0i64.checked_sub_unsigned(n)
    } else {
        i64::try_from(n).ok()
    }
}

/// Parses a non-negative decimal with an optional fraction into an integer scaled by
/// `10^frac_digits`: `parse_fixed(b"291.31", 3) == Some(291_310)`.
///
/// Fraction digits beyond `frac_digits` are dropped (truncated, not rounded). `None` for an
/// empty integer part, a `.` without digits after it, any other byte, or overflow.
pub fn parse_fixed(s: &[u8], frac_digits: u32) -> Option<u64> {
    let (int_part, frac_part) = match s.iter().position(|&b| b == b'.') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut n = parse_u64(int_part)?;
    let frac = frac_part.unwrap_or(&[]);
    if frac_part.is_some() && frac.is_empty() {
        return None;
    }
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    for i in 0..frac_digits as usize {
        let digit = frac.get(i).map_or(0, |&b| u64::from(b - b'0'));
        n = n.checked_mul(10)?.checked_add(digit)?;
    }
    Some(n)
}

/// Copies `s` into a fixed-capacity string, replacing every byte that is not printable ASCII
/// with `?`. The flag is `true` when `s` did not fit and was cut.
pub fn to_ascii_string<const N: usize>(s: &[u8]) -> (heapless::String<N>, bool) {
    let mut out = heapless::String::new();
    for &b in s {
        let c = if b.is_ascii_graphic() || b == b' ' {
            char::from(b)
        } else {
            '?'
        };
        if out.push(c).is_err() {
            return (out, true);
        }
    }
    (out, false)
}

/// Splits `Key: value` into the key and the (unsplit) value after the first `:`.
pub fn split_key(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = text.iter().position(|&b| b == b':')?;
    Some((&text[..i], &text[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn fields_skip_runs_of_blanks() {
        let got: Vec<_> = fields(b"  lo:  1 \t 2  ").collect();
        assert_eq!(got, [&b"lo:"[..], b"1", b"2"]);
        assert_eq!(fields(b"   ").count(), 0);
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"+7"), Some(7));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-"), None);
    }

    #[test]
    fn fixed_point() {
        assert_eq!(parse_fixed(b"291.31", 3), Some(291_310));
        assert_eq!(parse_fixed(b"0.45", 2), Some(45));
        assert_eq!(parse_fixed(b"12", 2), Some(1200));
        assert_eq!(parse_fixed(b"1.23456", 2), Some(123));
        assert_eq!(parse_fixed(b"1.", 2), None);
        assert_eq!(parse_fixed(b".5", 2), None);
        assert_eq!(parse_fixed(b"1.x", 2), None);
        assert_eq!(parse_fixed(b"1e3", 0), None);
    }

    #[test]
    fn ascii_string_replaces_and_cuts() {
        let (s, cut) = to_ascii_string::<8>(b"cpu\xffthermal");
        assert_eq!(s.as_str(), "cpu?ther");
        assert!(cut);
        let (s, cut) = to_ascii_string::<8>(b"a\tb");
        assert_eq!(s.as_str(), "a?b");
        assert!(!cut);
    }

    #[test]
    fn first_line_requires_newline() {
        assert_eq!(first_line(b"1500\n"), Some(&b"1500"[..]));
        assert_eq!(first_line(b" up \nx"), Some(&b"up"[..]));
        assert_eq!(first_line(b"150"), None);
        assert_eq!(first_line(b""), None);
    }

    #[test]
    fn key_split() {
        assert_eq!(
            split_key(b"MemTotal:  1 kB"),
            Some((&b"MemTotal"[..], &b"  1 kB"[..]))
        );
        assert_eq!(split_key(b"no colon"), None);
    }
}
