//! When an X.509 certificate expires, read from its DER encoding: the
//! `notAfter` of its validity (RFC 5280, section 4.1). The prober reads it
//! from the certificate a server presents in its TLS handshake, trusted or
//! not (users' services often run self-signed), to warn before it lapses.
//!
//! Only the path to the validity is walked, so this is a few dozen lines
//! rather than a certificate parser:
//!
//! ```text
//! Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
//! TBSCertificate ::= SEQUENCE {
//!     version [0] EXPLICIT INTEGER OPTIONAL, serialNumber INTEGER,
//!     signature AlgorithmIdentifier, issuer Name,
//!     validity SEQUENCE { notBefore Time, notAfter Time }, ... }
//! Time ::= CHOICE { UTCTime "YYMMDDHHMMSSZ", GeneralizedTime "YYYYMMDDHHMMSSZ" }
//! ```
//!
//! DER (X.690) tags are one byte here, and a length is either one byte
//! under 0x80 or 0x8N followed by N big-endian bytes. A UTCTime's two-digit
//! year means 19YY from 50 on and 20YY below (RFC 5280, 4.1.2.5.1); RFC
//! 5280 requires both forms in UTC (`Z`) with seconds, which is all that is
//! accepted.

/// Why a certificate's expiry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the certificate cannot be read: {0}")]
pub struct Unreadable(String);

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The `notAfter` of the DER certificate `der`, in ms since the epoch.
pub fn not_after(der: &[u8]) -> Result<i64, Unreadable> {
    let (certificate, _) = element(der, SEQUENCE, "the certificate")?;
    let (tbs, _) = element(certificate, SEQUENCE, "tbsCertificate")?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = skip(rest, "version")?;
    }
    rest = skip(rest, "serialNumber")?;
    rest = skip(rest, "signature")?;
    rest = skip(rest, "issuer")?;
    let (validity, _) = element(rest, SEQUENCE, "validity")?;
    let after_not_before = skip(validity, "notBefore")?;
    let (tag, value, _) = any_element(after_not_before, "notAfter")?;
    let text = std::str::from_utf8(value).map_err(|_| Unreadable("notAfter is not text".into()))?;
    match tag {
        UTC_TIME => time(text, 2),
        GENERALIZED_TIME => time(text, 4),
        other => Err(Unreadable(format!("notAfter has tag {other:#04x}, neither UTCTime nor GeneralizedTime"))),
    }
}

/// The content of the element at the start of `der`, which must have tag
/// `tag`, and what follows it.
fn element<'a>(der: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), Unreadable> {
    let (found, content, rest) = any_element(der, what)?;
    if found != tag {
        return Err(Unreadable(format!("{what} has tag {found:#04x}, not {tag:#04x}")));
    }
    Ok((content, rest))
}

/// What follows the element at the start of `der`.
fn skip<'a>(der: &'a [u8], what: &str) -> Result<&'a [u8], Unreadable> {
    any_element(der, what).map(|(_, _, rest)| rest)
}

/// The element at the start of `der`: its tag, its content and what
/// follows it.
fn any_element<'a>(der: &'a [u8], what: &str) -> Result<(u8, &'a [u8], &'a [u8]), Unreadable> {
    let short = || Unreadable(format!("{what} is cut short"));
    let (&tag, rest) = der.split_first().ok_or_else(short)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(short)?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Err(Unreadable(format!("{what} has a length of {count} bytes")));
        }
        let (bytes, after) = rest.split_at_checked(count).ok_or_else(short)?;
        rest = after;
        bytes.iter().fold(0usize, |n, b| n << 8 | usize::from(*b))
    };
    let (content, rest) = rest.split_at_checked(length).ok_or_else(short)?;
    Ok((tag, content, rest))
}

/// `YYMMDDHHMMSSZ` (`year_digits` 2) or `YYYYMMDDHHMMSSZ` (4) in ms.
fn time(text: &str, year_digits: usize) -> Result<i64, Unreadable> {
    let bad = || Unreadable(format!("notAfter {text:?} is not a UTC time with seconds"));
    let digits = text.strip_suffix('Z').ok_or_else(bad)?;
    if digits.len() != year_digits + 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number = |from: usize, len: usize| digits[from..from + len].parse::<i64>().expect("digits");
    let mut year = number(0, year_digits);
    if year_digits == 2 {
        year += if year >= 50 { 1900 } else { 2000 };
    }
    let at = year_digits;
    let (month, day) = (number(at, 2), number(at + 2, 2));
    let (hour, minute, second) = (number(at + 4, 2), number(at + 6, 2), number(at + 8, 2));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    Ok(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the inverse of
/// [`crate::timestamp`]'s calendar, by 400-year eras from 0000-03-01).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::rfc3339;

    /// A DER element of `tag` around `content` (short or long length).
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    /// A certificate shaped as RFC 5280's, with `not_after` as given and
    /// an issuer long enough to need a long-form length.
    fn certificate(not_after: Vec<u8>, version: bool) -> Vec<u8> {
        let mut tbs = Vec::new();
        if version {
            tbs.extend(der(VERSION, &der(0x02, &[2])));
        }
        tbs.extend(der(0x02, &[0x01, 0x23]));
        tbs.extend(der(SEQUENCE, &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])));
        tbs.extend(der(SEQUENCE, &der(0x0c, "a".repeat(300).as_bytes())));
        let mut validity = der(UTC_TIME, b"250101000000Z");
        validity.extend(not_after);
        tbs.extend(der(SEQUENCE, &validity));
        tbs.extend(der(SEQUENCE, b"subject and key follow"));
        let mut certificate = der(SEQUENCE, &tbs);
        certificate.extend(der(SEQUENCE, b"algorithm"));
        certificate.extend(der(0x03, b"signature"));
        der(SEQUENCE, &certificate)
    }

    #[test]
    fn utc_and_generalized_times_are_read() {
        let cases: [(u8, &[u8], &str); 5] = [
            (UTC_TIME, b"260315123456Z", "2026-03-15T12:34:56.000Z"),
            (UTC_TIME, b"491231235959Z", "2049-12-31T23:59:59.000Z"),
            (UTC_TIME, b"500101000000Z", "1950-01-01T00:00:00.000Z"),
            (GENERALIZED_TIME, b"20800229060000Z", "2080-02-29T06:00:00.000Z"),
            (GENERALIZED_TIME, b"99991231235959Z", "9999-12-31T23:59:59.000Z"),
        ];
        for (tag, text, expected) in cases {
            for version in [true, false] {
                let at = not_after(&certificate(der(tag, text), version)).unwrap();
                assert_eq!(rfc3339(at), expected);
            }
        }
    }

    #[test]
    fn the_calendar_agrees_with_the_timestamps_for_every_day_of_four_centuries() {
        let start = days_from_civil(1900, 1, 1);
        assert_eq!(rfc3339(start * 86_400_000), "1900-01-01T00:00:00.000Z");
        for day in start..start + 146_097 {
            let text = rfc3339(day * 86_400_000);
            let (year, month, dom) = (&text[0..4], &text[5..7], &text[8..10]);
            let back = days_from_civil(year.parse().unwrap(), month.parse().unwrap(), dom.parse().unwrap());
            assert_eq!(back, day, "{text}");
        }
    }

    #[test]
    fn what_is_not_a_certificate_is_named() {
        let said = |der: &[u8]| not_after(der).unwrap_err().to_string();
        assert_eq!(said(b""), "the certificate cannot be read: the certificate is cut short");
        assert_eq!(said(&[0x02, 0x01, 0x00]), "the certificate cannot be read: the certificate has tag 0x02, not 0x30");
        let mut cut = certificate(der(UTC_TIME, b"260315123456Z"), true);
        cut.truncate(cut.len() - 40);
        assert!(said(&cut).contains("cut short"), "{}", said(&cut));
        for bad in [&b"2603151234Z"[..], b"260315123456", b"261315123456Z", b"26031512345xZ", b"260315123456+0100"] {
            let message = said(&certificate(der(UTC_TIME, bad), true));
            assert!(message.contains("is not a UTC time with seconds"), "{message}");
        }
        let message = said(&certificate(der(0x04, b"260315123456Z"), true));
        assert!(message.ends_with("notAfter has tag 0x04, neither UTCTime nor GeneralizedTime"), "{message}");
    }
}
