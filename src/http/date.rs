//! The `Date` header value: IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
//!
//! The calendar conversion is the proleptic Gregorian "civil from days" computation on 400-year
//! eras (146 097 days each), done in unsigned integers: no tables, no loops, no `core::fmt`.

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const IMF_FIXDATE_LEN: usize = 29;

/// Latest instant that has a four-digit year: 9999-12-31 23:59:59 UTC. Later times are written as
/// this one.
pub const MAX_UNIX_SECS: u64 = 253_402_300_799;

const DAY_NAMES: &[u8; 21] = b"SunMonTueWedThuFriSat";
const MONTH_NAMES: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";

/// A calendar date in the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: u64,
    /// 1..=12
    month: u64,
    /// 1..=31
    day: u64,
}

/// Converts a count of days since 1970-01-01 into a calendar date.
fn civil_from_days(days: u64) -> Civil {
    // Count from 0000-03-01, so that the leap day is the last day of a (March-based) year.
    // 719 468 days separate 0000-03-01 from 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097; // 0..=146 096
    // Years of the era: remove the leap days accumulated before this day (one every 4 years,
    // none every 100, one every 400; the last day of the era is the 400-year leap day).
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March, with 153-day groups of five months (31 30 31 30 31).
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    Civil { year, month, day }
}

fn two_digits(out: &mut [u8], n: u64) {
    // Callers pass values below 100 and two-byte slices.
    if let [tens, ones] = out {
        *tens = b'0' + (n / 10 % 10) as u8;
        *ones = b'0' + (n % 10) as u8;
    }
}

/// Writes the IMF-fixdate of `unix_secs` (seconds since 1970-01-01 00:00:00 UTC) into `out`.
///
/// Times after [`MAX_UNIX_SECS`] (year 9999) are written as that instant.
pub fn imf_fixdate(unix_secs: u64, out: &mut [u8; IMF_FIXDATE_LEN]) {
    let secs = if unix_secs > MAX_UNIX_SECS {
        MAX_UNIX_SECS
    } else {
        unix_secs
    };
    let days = secs / 86_400;
    let secs_of_day = secs % 86_400;
    let civil = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 4, Sunday first).
    let weekday = ((days + 4) % 7) as usize * 3;
    let month = (civil.month as usize - 1) * 3;

    out.copy_from_slice(b"Thu, 01 Jan 1970 00:00:00 GMT");
    out[0..3].copy_from_slice(&DAY_NAMES[weekday..weekday + 3]);
    two_digits(&mut out[5..7], civil.day);
    out[8..11].copy_from_slice(&MONTH_NAMES[month..month + 3]);
    two_digits(&mut out[12..14], civil.year / 100);
    two_digits(&mut out[14..16], civil.year);
    two_digits(&mut out[17..19], secs_of_day / 3_600);
    two_digits(&mut out[20..22], secs_of_day / 60 % 60);
    two_digits(&mut out[23..25], secs_of_day % 60);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(secs: u64) -> String {
        let mut out = [0; IMF_FIXDATE_LEN];
        imf_fixdate(secs, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn test_epoch() {
        assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn test_rfc_example() {
        assert_eq!(fmt(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn test_leap_year_2000_feb_29_and_mar_1() {
        assert_eq!(fmt(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(fmt(951_868_800), "Wed, 01 Mar 2000 00:00:00 GMT");
    }

    #[test]
    fn test_leap_day_2024() {
        assert_eq!(fmt(1_709_208_000), "Thu, 29 Feb 2024 12:00:00 GMT");
        assert_eq!(fmt(1_735_689_599), "Tue, 31 Dec 2024 23:59:59 GMT");
    }

    #[test]
    fn test_century_non_leap_2100() {
        assert_eq!(fmt(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
    }

    #[test]
    fn test_year_boundary_and_2038() {
        assert_eq!(fmt(946_684_799), "Fri, 31 Dec 1999 23:59:59 GMT");
        assert_eq!(fmt(2_147_483_648), "Tue, 19 Jan 2038 03:14:08 GMT");
    }

    #[test]
    fn test_far_future_clamps_to_year_9999() {
        assert_eq!(fmt(MAX_UNIX_SECS), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(fmt(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn test_civil_from_days_round_trips_month_lengths() {
        // Walk every day from 1970 to 2400 and check the calendar advances by exactly one day.
        let mut prev = civil_from_days(0);
        for days in 1..(430 * 366) {
            let c = civil_from_days(days);
            let leap = prev.year % 4 == 0 && (prev.year % 100 != 0 || prev.year % 400 == 0);
            let len = match prev.month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let expected = if prev.day < len {
                Civil {
                    day: prev.day + 1,
                    ..prev
                }
            } else if prev.month < 12 {
                Civil {
                    month: prev.month + 1,
                    day: 1,
                    ..prev
                }
            } else {
                Civil {
                    year: prev.year + 1,
                    month: 1,
                    day: 1,
                }
            };
            assert_eq!(c, expected, "day {days}");
            prev = c;
        }
    }
}
