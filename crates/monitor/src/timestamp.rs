//! Times as the published formats write them, from nuvola's i64
//! milliseconds since the epoch: RFC 3339 with milliseconds in UTC for
//! Statuspage's JSON and Atom (`2024-05-14T10:02:35.392Z`), RFC 822 for
//! RSS 2.0 (`Tue, 14 May 2024 10:02:35 GMT`), and the calendar date that
//! `tag:` URIs carry (`2024-05-14`).
//!
//! The calendar arithmetic is the proleptic Gregorian one (days since
//! 1970-01-01 to year, month and day, by 400-year eras), so it needs no
//! dependency and works for times before 1970 too.

use std::fmt::Write;

const MS_PER_DAY: i64 = 86_400_000;

/// A UTC calendar time, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    milli: u32,
    /// 0 is Sunday.
    weekday: u32,
}

fn civil(ms: i64) -> Civil {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    // Shift the epoch to 0000-03-01 so that leap days end each year, then
    // count 400-year eras of 146,097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (in_day / 3_600_000) as u32,
        minute: (in_day / 60_000 % 60) as u32,
        second: (in_day / 1_000 % 60) as u32,
        milli: (in_day % 1_000) as u32,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

/// RFC 3339 (ISO 8601) in UTC with milliseconds, as Statuspage writes
/// times: `2024-05-14T10:02:35.392Z`.
pub fn rfc3339(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339(&mut out, ms);
    out
}

/// Appends [`rfc3339`] of `ms` to `out`.
pub fn write_rfc3339(out: &mut String, ms: i64) {
    let c = civil(ms);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli
    );
}

/// RFC 822 as RSS 2.0 requires it (four-digit year, GMT):
/// `Tue, 14 May 2024 10:02:35 GMT`.
pub fn rfc822(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let c = civil(ms);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday as usize],
        c.day,
        MONTHS[c.month as usize - 1],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// The UTC calendar date: `2024-05-14`.
pub fn date(ms: i64) -> String {
    let c = civil(ms);
    format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_rfc_3339_with_milliseconds_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        // `date -u -d @1715680955` is Tue May 14 10:02:35 UTC 2024.
        assert_eq!(rfc3339(1_715_680_955_392), "2024-05-14T10:02:35.392Z");
        // A leap day, the last millisecond of a century year that is a leap year,
        // and one that is not.
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(978_307_199_999), "2000-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn rss_dates_are_rfc_822_and_tag_dates_are_calendar_days() {
        assert_eq!(rfc822(1_715_680_955_392), "Tue, 14 May 2024 10:02:35 GMT");
        assert_eq!(rfc822(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date(1_715_680_955_392), "2024-05-14");
    }

    #[test]
    fn every_day_of_four_centuries_follows_the_one_before() {
        // Walks 1900..2300 day by day: the date always moves on by one day,
        // months have their lengths and February 29 comes only in leap years.
        let mut previous = civil(-2_208_988_800_000);
        assert_eq!((previous.year, previous.month, previous.day), (1900, 1, 1));
        for day in 1..(400 * 365 + 97) {
            let c = civil(-2_208_988_800_000 + day * MS_PER_DAY);
            let leap = previous.year % 4 == 0 && (previous.year % 100 != 0 || previous.year % 400 == 0);
            let length = match previous.month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let expected = if previous.day < length {
                (previous.year, previous.month, previous.day + 1)
            } else if previous.month < 12 {
                (previous.year, previous.month + 1, 1)
            } else {
                (previous.year + 1, 1, 1)
            };
            assert_eq!((c.year, c.month, c.day), expected, "after {previous:?}");
            assert_eq!(c.weekday, (previous.weekday + 1) % 7);
            previous = c;
        }
    }
}
