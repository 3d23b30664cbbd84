//! APEL's text message format, shared by cloud records, cloud summaries and
//! the text form of accelerator records: a header line `Type: version`, then
//! records of `Key: Value` lines separated by lines `%%`. Keys are
//! case-sensitive; keys and values are trimmed; blank lines are skipped; a
//! record with no line is no record. The scanner walks the message's text
//! once and lends out slices of it, so reading allocates nothing.
//!
//! Two readings differ from APEL's on purpose: APEL splits records at any
//! `%%`, even inside a value, where this splits only at lines that are `%%`;
//! and APEL refuses a blank line inside a record, which this skips.

use crate::error::{Location, ParseError, Problem, WriteError};

/// The text of a message, or the line of its first byte that is not UTF-8.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let good = &bytes[..error.valid_up_to()];
        let line = 1 + memchr::memchr_iter(b'\n', good).count();
        ParseError::at(Location::Line(line), Problem::Syntax("the message is not UTF-8 text".into()))
    })
}

/// A message's header line, split as APEL splits it: the type before the
/// first colon, the version after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    pub kind: &'a str,
    pub version: &'a str,
    pub line: usize,
}

/// Reads a message's header and checks its type and version (`versions`,
/// listed for the reader in `accepted`); returns the version and the
/// records after the header.
pub(crate) fn open<'a>(
    message: &'a [u8],
    kind: &str,
    header_line: &'static str,
    versions: &[&str],
    accepted: &'static str,
) -> Result<(&'a str, Entries<'a>), ParseError> {
    let (header, entries) = split_header(utf8(message)?)?;
    if header.kind != kind {
        let found = if header.version.is_empty() {
            header.kind.to_owned()
        } else {
            format!("{}: {}", header.kind, header.version)
        };
        return Err(ParseError::at(Location::Line(header.line), Problem::WrongHeader { found, expected: header_line }));
    }
    if !versions.contains(&header.version) {
        return Err(ParseError::at(
            Location::Line(header.line),
            Problem::WrongVersion { found: header.version.to_owned(), accepted },
        ));
    }
    Ok((header.version, entries))
}

/// Reads the header (the first line that is not blank) and returns it with
/// the records after it.
pub(crate) fn split_header(text: &str) -> Result<(Header<'_>, Entries<'_>), ParseError> {
    let mut entries = Entries::new(text);
    loop {
        let Some((line, content)) = entries.next_line() else {
            return Err(ParseError::at(Location::Line(entries.line), Problem::Empty));
        };
        let content = content.trim();
        if content.is_empty() {
            continue;
        }
        // A header with no colon is all type (APEL's unloader writes the
        // accelerator headers so).
        let (kind, version) = match content.find(':') {
            Some(colon) => (content[..colon].trim(), content[colon..].trim_matches([':', ' '])),
            None => (content, ""),
        };
        return Ok((Header { kind, version, line }, entries));
    }
}

/// One line of a record, or the end of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    Field { line: usize, key: &'a str, value: &'a str },
    End,
}

/// The lines of a message after its header.
#[derive(Debug, Clone)]
pub(crate) struct Entries<'a> {
    text: &'a str,
    /// Where the next line starts.
    at: usize,
    /// The number of the next line.
    line: usize,
    /// The line breaks after `at`, found ahead with SIMD.
    breaks: memchr::Memchr<'a>,
}

impl<'a> Entries<'a> {
    /// The lines of a text, the first numbered 1.
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, at: 0, line: 1, breaks: memchr::memchr_iter(b'\n', text.as_bytes()) }
    }

    /// The next line's number and its bounds (without the line break).
    fn next_bounds(&mut self) -> Option<(usize, usize, usize)> {
        if self.at >= self.text.len() {
            return None;
        }
        let start = self.at;
        let end = self.breaks.next().unwrap_or(self.text.len());
        self.at = end + 1;
        let line = self.line;
        self.line += 1;
        Some((line, start, end))
    }

    fn next_line(&mut self) -> Option<(usize, &'a str)> {
        let (line, start, end) = self.next_bounds()?;
        let content = &self.text[start..end];
        Some((line, content.strip_suffix('\r').unwrap_or(content)))
    }

    fn next_entry(&mut self) -> Option<Result<Entry<'a>, ParseError>> {
        loop {
            let (line, start, end) = self.next_bounds()?;
            // Keys are short: look for the colon byte by byte.
            let bytes = &self.text.as_bytes()[start..end];
            match bytes.iter().position(|&b| b == b':') {
                Some(colon) => {
                    let key = trim(&self.text[start..start + colon]);
                    let value = trim(&self.text[start + colon + 1..end]);
                    return Some(Ok(Entry::Field { line, key, value }));
                }
                None => match trim(&self.text[start..end]) {
                    "" => continue,
                    "%%" => return Some(Ok(Entry::End)),
                    _ => return Some(Err(ParseError::at(Location::Line(line), Problem::NotKeyValue))),
                },
            }
        }
    }

    /// Reads the next record, handing each `Key: Value` line to `field`.
    /// Returns the record's first line, or `None` when no record is left.
    pub(crate) fn read_record(
        &mut self,
        mut field: impl FnMut(usize, &'a str, &'a str) -> Result<(), ParseError>,
    ) -> Option<Result<usize, ParseError>> {
        let mut first = None;
        loop {
            match self.next_entry() {
                None => return first.map(Ok),
                Some(Err(error)) => return Some(Err(error)),
                Some(Ok(Entry::End)) if first.is_some() => return first.map(Ok),
                Some(Ok(Entry::End)) => continue,
                Some(Ok(Entry::Field { line, key, value })) => {
                    first.get_or_insert(line);
                    if let Err(error) = field(line, key, value) {
                        return Some(Err(error));
                    }
                }
            }
        }
    }
}

/// Trims white space as Python's `str.strip()` does, quickly when the
/// ends are ASCII.
#[inline]
pub(crate) fn trim(text: &str) -> &str {
    let bytes = text.as_bytes();
    let (mut start, mut end) = (0, bytes.len());
    while start < end && bytes[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && bytes[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let text = &text[start..end];
    if text.as_bytes().first().is_some_and(|b| !b.is_ascii()) || text.as_bytes().last().is_some_and(|b| !b.is_ascii()) {
        text.trim()
    } else {
        text
    }
}

/// Appends `Key: value` and a newline.
pub(crate) fn write_line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    use std::fmt::Write;
    let _ = writeln!(out, "{key}: {value}");
}

/// Appends a text field as APEL's records print it: `None` for a missing
/// text, no line for an empty one.
pub(crate) fn write_text(out: &mut String, key: &'static str, value: Option<&str>) -> Result<(), WriteError> {
    match value {
        None => write_line(out, key, "None"),
        Some("") => {}
        Some(value) if writable(value) => write_line(out, key, value),
        Some(_) => return Err(WriteError { field: key, problem: "holds a line break" }),
    }
    Ok(())
}

/// Appends a number field, `None` when missing.
pub(crate) fn write_number(out: &mut String, key: &str, value: Option<impl std::fmt::Display>) {
    match value {
        Some(value) => write_line(out, key, value),
        None => write_line(out, key, "None"),
    }
}

/// Appends a time field in seconds since the epoch; no line when missing.
pub(crate) fn write_time(out: &mut String, key: &str, value: Option<i64>) {
    if let Some(value) = value {
        write_line(out, key, value);
    }
}

/// Whether a string can be written as a value on one line. (A value with
/// surrounding white space or a word meaning no value is written as it is,
/// as APEL writes it, and read back trimmed or as no value.)
pub(crate) fn writable(value: &str) -> bool {
    !value.contains(['\n', '\r'])
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fields = Vec<(usize, String, String)>;

    fn records(text: &str) -> Vec<Result<Fields, ParseError>> {
        let mut entries = Entries::new(text);
        let mut out = Vec::new();
        loop {
            let mut fields = Vec::new();
            match entries.read_record(|line, key, value| {
                fields.push((line, key.to_owned(), value.to_owned()));
                Ok(())
            }) {
                None => return out,
                Some(Ok(_)) => out.push(Ok(fields)),
                Some(Err(error)) => {
                    out.push(Err(error));
                    return out;
                }
            }
        }
    }

    #[test]
    fn records_are_split_at_percent_lines_and_fields_trimmed() {
        let text = "A: 1\r\nB:  two words  \n%%\n\n%%\nC:3\nURL: https://x:5000/v3\n%%\n";
        let found = records(text);
        let field = |line: usize, key: &str, value: &str| (line, key.to_owned(), value.to_owned());
        assert_eq!(
            found,
            vec![
                Ok(vec![field(1, "A", "1"), field(2, "B", "two words")]),
                Ok(vec![field(6, "C", "3"), field(7, "URL", "https://x:5000/v3")]),
            ]
        );
    }

    #[test]
    fn a_line_without_a_colon_is_refused_with_its_number() {
        let found = records("A: 1\nB: 2\nthis is not a field\n");
        assert_eq!(found, vec![Err(ParseError::at(Location::Line(3), Problem::NotKeyValue))]);
    }

    #[test]
    fn the_header_is_the_first_line_that_is_not_blank() {
        let (header, mut rest) = split_header("\n  APEL-cloud-message: v0.4 \nA: 1\n").unwrap();
        assert_eq!(header, Header { kind: "APEL-cloud-message", version: "v0.4", line: 2 });
        assert_eq!(rest.read_record(|_, _, _| Ok(())), Some(Ok(3)));
        let (header, _) = split_header("APEL-accelerator-message\n").unwrap();
        assert_eq!((header.kind, header.version), ("APEL-accelerator-message", ""));
        assert_eq!(split_header("\n\n").unwrap_err().problem, Problem::Empty);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_line() {
        let error = utf8(b"A: 1\nB: \xff\n").unwrap_err();
        assert_eq!(error.line(), Some(2));
    }
}
