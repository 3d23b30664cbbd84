//! Field values as APEL reads them: the words that mean "no value", whole
//! numbers in a BIGINT, decimals in a DECIMAL(10,3), and dates given as
//! seconds since the epoch or in ISO 8601, with the month they fall in.

use std::fmt;

use crate::error::Problem;

/// Whether a (trimmed) value is one of the words APEL reads as no value:
/// empty, `none` or `null` in any case.
pub fn is_null(value: &str) -> bool {
    value.is_empty() || value.eq_ignore_ascii_case("none") || value.eq_ignore_ascii_case("null")
}

/// A whole number in a BIGINT column: an optional sign and decimal digits.
pub fn parse_int(value: &str) -> Result<i64, Problem> {
    let bytes = value.as_bytes();
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return Err(Problem::NotAWholeNumber(value.to_owned()));
    }
    // Accumulated negative, which reaches i64::MIN.
    let mut number: i64 = 0;
    let mut overflow = false;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(Problem::NotAWholeNumber(value.to_owned()));
        }
        match number.checked_mul(10).and_then(|n| n.checked_sub(i64::from(b - b'0'))) {
            Some(n) => number = n,
            None => overflow = true,
        }
    }
    let number = if negative { Some(number) } else { number.checked_neg() };
    match number {
        Some(number) if !overflow => Ok(number),
        _ => Err(Problem::OutOfRange {
            value: value.to_owned(),
            range: "a whole number from -9223372036854775808 to 9223372036854775807",
        }),
    }
}

/// A number with three decimals, as APEL's DECIMAL(10,3) columns keep a
/// cloud record's CpuCount and Benchmark and an accelerator's Count: the
/// value in thousandths. Text is rounded to three decimals half away from
/// zero, as MariaDB stores a longer decimal; it writes as Python writes the
/// float APEL reads back (`4.0`, `10.25`, `1006.3`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal3(i64);

/// The largest magnitude a DECIMAL(10,3) holds, in thousandths.
const DECIMAL3_LIMIT: i64 = 9_999_999_999;

impl Decimal3 {
    /// Zero.
    pub const ZERO: Decimal3 = Decimal3(0);

    /// The value of `thousandths / 1000`, if a DECIMAL(10,3) holds it.
    pub fn from_thousandths(thousandths: i64) -> Option<Self> {
        (thousandths.abs() <= DECIMAL3_LIMIT).then_some(Decimal3(thousandths))
    }

    /// A whole number, if a DECIMAL(10,3) holds it.
    pub fn from_int(value: i64) -> Option<Self> {
        value.checked_mul(1000).and_then(Self::from_thousandths)
    }

    /// The value in thousandths.
    pub fn thousandths(self) -> i64 {
        self.0
    }

    /// Whether the value is below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Reads a decimal as Python's `float()` does (sign, digits, a point, an
    /// exponent), rounded to three decimals.
    pub fn parse(value: &str) -> Result<Self, Problem> {
        let not_a_number = || Problem::NotANumber(value.to_owned());
        let out_of_range =
            || Problem::OutOfRange { value: value.to_owned(), range: "-9999999.999 to 9999999.999, three decimals" };
        let bytes = value.as_bytes();
        let mut at = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                at = 1;
                true
            }
            Some(b'+') => {
                at = 1;
                false
            }
            _ => false,
        };
        // The significant digits as one integer, and the power of ten that
        // scales them.
        let mut mantissa: u128 = 0;
        let mut significant = 0usize;
        let mut exponent: i64 = 0;
        let mut digits = 0usize;
        let mut point = false;
        while at < bytes.len() {
            match bytes[at] {
                b @ b'0'..=b'9' => {
                    digits += 1;
                    if mantissa != 0 || b != b'0' {
                        significant += 1;
                    }
                    if significant > 36 {
                        return Err(out_of_range());
                    }
                    mantissa = mantissa * 10 + u128::from(b - b'0');
                    if point {
                        exponent -= 1;
                    }
                }
                b'.' if !point => point = true,
                _ => break,
            }
            at += 1;
        }
        if digits == 0 {
            return Err(not_a_number());
        }
        if at < bytes.len() {
            if !matches!(bytes[at], b'e' | b'E') {
                return Err(not_a_number());
            }
            let power = &value[at + 1..];
            let power_digits = power.strip_prefix(['+', '-']).unwrap_or(power);
            if power_digits.is_empty() || !power_digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number());
            }
            let power: i64 = power.parse().map_err(|_| out_of_range())?;
            exponent = exponent.checked_add(power).ok_or_else(out_of_range)?;
        }
        // thousandths = mantissa * 10^(exponent + 3), rounded half away from zero.
        let scale = exponent + 3;
        let thousandths = if mantissa == 0 {
            0
        } else if scale >= 0 {
            if scale > 12 {
                return Err(out_of_range());
            }
            mantissa.checked_mul(10u128.pow(scale as u32)).ok_or_else(out_of_range)?
        } else if -scale > 38 {
            0
        } else {
            let divisor = 10u128.pow((-scale) as u32);
            let (quotient, remainder) = (mantissa / divisor, mantissa % divisor);
            if remainder >= divisor - remainder { quotient + 1 } else { quotient }
        };
        let thousandths = i64::try_from(thousandths).map_err(|_| out_of_range())?;
        let thousandths = if negative { -thousandths } else { thousandths };
        Self::from_thousandths(thousandths).ok_or_else(out_of_range)
    }

    /// Writes the value with exactly three decimals (`16.000`), as MariaDB
    /// shows a DECIMAL(10,3).
    pub fn fixed(self) -> impl fmt::Display {
        struct Fixed(i64);
        impl fmt::Display for Fixed {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let sign = if self.0 < 0 { "-" } else { "" };
                let magnitude = self.0.unsigned_abs();
                write!(f, "{sign}{}.{:03}", magnitude / 1000, magnitude % 1000)
            }
        }
        Fixed(self.0)
    }
}

impl fmt::Display for Decimal3 {
    /// As Python's `repr(float)`: no trailing zeros, but at least one decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let (whole, mut fraction) = (magnitude / 1000, magnitude % 1000);
        let mut width = 3;
        while width > 1 && fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        write!(f, "{sign}{whole}.{fraction:0width$}")
    }
}

/// The first second MariaDB's DATETIME holds (1000-01-01T00:00:00Z).
const FIRST_DATETIME: i64 = -30_610_224_000;
/// The last second MariaDB's DATETIME holds (9999-12-31T23:59:59Z).
const LAST_DATETIME: i64 = 253_402_300_799;

/// Whether a time in seconds since the epoch fits a DATETIME column.
pub fn in_datetime_range(seconds: i64) -> bool {
    (FIRST_DATETIME..=LAST_DATETIME).contains(&seconds)
}

/// A date as APEL reads one: whole seconds since 1970-01-01 UTC, or ISO
/// 8601 (`2012-10-30T17:20:04Z`, `2023-05-25T21:59:06+00:00`, a space for
/// the `T`, a fraction of a second, no zone meaning UTC, or a bare date).
/// Returns seconds since the epoch; fractions of a second are dropped.
pub fn parse_time(value: &str) -> Result<i64, Problem> {
    let bad = || Problem::BadDate(value.to_owned());
    let seconds = match parse_int(value) {
        Ok(seconds) => seconds,
        Err(Problem::NotAWholeNumber(_)) => parse_iso8601(value).ok_or_else(bad)?,
        Err(_) => return Err(bad()),
    };
    if in_datetime_range(seconds) { Ok(seconds) } else { Err(bad()) }
}

/// Reads `YYYY-MM-DD[(T| )hh:mm[:ss[.fff]]][Z|UTC|±hh[:mm]]`.
fn parse_iso8601(value: &str) -> Option<i64> {
    let bytes = value.as_bytes();
    let number = |from: usize, len: usize| -> Option<i64> {
        let part = bytes.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0, |n, b| n * 10 + i64::from(b - b'0')))
    };
    let year = number(0, 4)?;
    (bytes.get(4) == Some(&b'-')).then_some(())?;
    let month = number(5, 2)?;
    (bytes.get(7) == Some(&b'-')).then_some(())?;
    let day = number(8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut at = 10;
    if at == bytes.len() {
        return Some(seconds);
    }
    if !matches!(bytes[at], b'T' | b't' | b' ') {
        return None;
    }
    let hour = number(at + 1, 2)?;
    (bytes.get(at + 3) == Some(&b':')).then_some(())?;
    let minute = number(at + 4, 2)?;
    at += 6;
    let mut second = 0;
    if bytes.get(at) == Some(&b':') {
        second = number(at + 1, 2)?;
        at += 3;
        if matches!(bytes.get(at), Some(b'.' | b',')) {
            at += 1;
            let start = at;
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            (at > start).then_some(())?;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    seconds += hour * 3600 + minute * 60 + second;
    let zone = &value[at..];
    let offset = match zone {
        "" | "Z" | "z" | "UTC" | "GMT" => 0,
        _ => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = &zone.as_bytes()[1..];
            let digits = |from: usize| -> Option<i64> {
                let part = zone.get(from..from + 2)?;
                part.iter().all(u8::is_ascii_digit).then(|| i64::from(part[0] - b'0') * 10 + i64::from(part[1] - b'0'))
            };
            let (hours, minutes) = match zone.len() {
                2 => (digits(0)?, 0),
                4 => (digits(0)?, digits(2)?),
                5 if zone[2] == b':' => (digits(0)?, digits(3)?),
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Some(seconds - offset)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Count years from March, so that the leap day ends a year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The first second of a month (1–12) of a year, in seconds since the
/// epoch, UTC.
pub fn month_start(year: i32, month: u8) -> i64 {
    days_from_civil(i64::from(year), i64::from(month), 1) * 86_400
}

/// The first second of `year`-`month` and of the month after (seconds
/// since the epoch, UTC); `None` for a month outside 1–12.
pub fn month_bounds(year: i32, month: u8) -> Option<(i64, i64)> {
    if !(1..=12).contains(&month) {
        return None;
    }
    let next = if month == 12 { month_start(year + 1, 1) } else { month_start(year, month + 1) };
    Some((month_start(year, month), next))
}

/// The year and month (1–12) of a time in seconds since the epoch, in UTC.
pub fn year_month(seconds: i64) -> (i32, u8) {
    let days = seconds.div_euclid(86_400) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as i32, month as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_words_are_apels() {
        for null in ["", "None", "NULL", "null", "nOnE"] {
            assert!(is_null(null), "{null}");
        }
        for value in ["0", "Nothing", "nil", "'None'"] {
            assert!(!is_null(value), "{value}");
        }
    }

    #[test]
    fn whole_numbers_fit_a_bigint() {
        assert_eq!(parse_int("42"), Ok(42));
        assert_eq!(parse_int("-7"), Ok(-7));
        assert_eq!(parse_int("+7"), Ok(7));
        assert_eq!(parse_int("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
        assert!(matches!(parse_int("-9223372036854775809"), Err(Problem::OutOfRange { .. })));
        assert!(matches!(parse_int("99999999999999999999999"), Err(Problem::OutOfRange { .. })));
        assert!(matches!(parse_int("9223372036854775808"), Err(Problem::OutOfRange { .. })));
        for bad in ["", "-", "1.5", "12h", "1_000", "0x10", " 1"] {
            assert_eq!(parse_int(bad), Err(Problem::NotAWholeNumber(bad.into())), "{bad}");
        }
    }

    #[test]
    fn decimals_round_to_thousandths_half_away_from_zero() {
        let t = |text: &str| Decimal3::parse(text).map(Decimal3::thousandths);
        assert_eq!(t("4"), Ok(4000));
        assert_eq!(t("1006.3"), Ok(1_006_300));
        assert_eq!(t("0.5"), Ok(500));
        assert_eq!(t(".5"), Ok(500));
        assert_eq!(t("5."), Ok(5000));
        assert_eq!(t("1.0005"), Ok(1001));
        assert_eq!(t("1.00049"), Ok(1000));
        assert_eq!(t("-1.0005"), Ok(-1001));
        assert_eq!(t("1e3"), Ok(1_000_000));
        assert_eq!(t("2.5E-2"), Ok(25));
        assert_eq!(t("0.0000001"), Ok(0));
        assert_eq!(t("9999999.999"), Ok(9_999_999_999));
        assert!(matches!(t("10000000"), Err(Problem::OutOfRange { .. })));
        assert!(matches!(t("1e30"), Err(Problem::OutOfRange { .. })));
        for bad in ["", ".", "abc", "1.2.3", "inf", "nan", "1e", "1e+", "4 cores", "--1"] {
            assert_eq!(t(bad), Err(Problem::NotANumber(bad.into())), "{bad}");
        }
    }

    #[test]
    fn decimals_write_as_python_writes_floats() {
        let w = |text: &str| Decimal3::parse(text).unwrap().to_string();
        assert_eq!(w("4"), "4.0");
        assert_eq!(w("4.000"), "4.0");
        assert_eq!(w("10.25"), "10.25");
        assert_eq!(w("1006.3"), "1006.3");
        assert_eq!(w("0.001"), "0.001");
        assert_eq!(w("-0.5"), "-0.5");
        assert_eq!(w("0"), "0.0");
        assert_eq!(Decimal3::parse("16").unwrap().fixed().to_string(), "16.000");
        assert_eq!(Decimal3::parse("-0.25").unwrap().fixed().to_string(), "-0.250");
    }

    #[test]
    fn dates_are_epoch_seconds_or_iso_8601() {
        assert_eq!(parse_time("1318840264"), Ok(1_318_840_264));
        assert_eq!(parse_time("2012-10-30T17:20:04Z"), Ok(1_351_617_604));
        assert_eq!(parse_time("2023-05-25T21:59:06+00:00"), Ok(1_685_051_946));
        assert_eq!(parse_time("2023-05-25T23:59:06+02:00"), Ok(1_685_051_946));
        assert_eq!(parse_time("2023-05-25T21:59:06.123456"), Ok(1_685_051_946));
        assert_eq!(parse_time("2023-05-25 21:59:06UTC"), Ok(1_685_051_946));
        assert_eq!(parse_time("2024-02-29"), Ok(1_709_164_800));
        for bad in [
            "yesterday",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-05-25T24:00:00Z",
            "2023-05-25T21:59:06+25:00",
            "2023-05-25T21:5",
            "1318840264.5",
            "99999999999999",
        ] {
            assert_eq!(parse_time(bad), Err(Problem::BadDate(bad.into())), "{bad}");
        }
        // A bare hour and minute is ISO 8601 too; a truncated one is not.
        assert_eq!(parse_time("2023-05-25T21:59Z"), Ok(1_685_051_940));
    }

    #[test]
    fn months_follow_the_calendar() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(1_704_067_199), (2023, 12));
        assert_eq!(year_month(1_704_067_200), (2024, 1));
        assert_eq!(year_month(1_709_164_800), (2024, 2));
        assert_eq!(year_month(1_709_251_200), (2024, 3));
        assert_eq!(year_month(-1), (1969, 12));
        assert_eq!(year_month(LAST_DATETIME), (9999, 12));
        assert_eq!(year_month(FIRST_DATETIME), (1000, 1));
        assert_eq!(month_start(2024, 3), 1_709_251_200);
        assert_eq!(month_start(2024, 1), 1_704_067_200);
        // Every day of four centuries: the month from seconds agrees with the date.
        for year in [1900, 1999, 2000, 2023, 2024, 2100] {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    let seconds = days_from_civil(year, month, day) * 86_400 + 86_399;
                    assert_eq!(year_month(seconds), (year as i32, month as u8), "{year}-{month}-{day}");
                }
            }
        }
    }
}
