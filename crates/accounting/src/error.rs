//! Why a message was refused, and where: every refusal names the place in
//! the message (a line of a text message, a path in a JSON message, an
//! element of an XML message), the field when there is one, and what is
//! wrong with it, in words fit for the site administrator who sent it.

use std::fmt;

/// Where in a message a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A line of a text message, counted from 1 (the header is line 1).
    Line(usize),
    /// A value of a JSON message, as a path such as `UsageRecords[2].Count`
    /// (`$` is the message itself).
    Json(String),
    /// An element of an XML message, as a path of local names such as
    /// `StorageUsageRecords/StorageUsageRecord[2]/EndTime`, and the line it
    /// starts on.
    Xml { path: String, line: usize },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Json(path) => write!(f, "at {path}"),
            Location::Xml { path, line } => write!(f, "line {line}, element {path}"),
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A mandatory field is not in the record.
    Missing,
    /// A mandatory field is there but empty, `NULL` or `None`.
    Null,
    /// A field this kind of record does not have.
    UnknownField,
    /// A text line that is not `Key: Value`.
    NotKeyValue,
    /// An integer field holds something else.
    NotAWholeNumber(String),
    /// A decimal field holds something else.
    NotANumber(String),
    /// A number outside what the field can hold.
    OutOfRange { value: String, range: &'static str },
    /// A date field holds something that is not a date.
    BadDate(String),
    /// A value outside the field's list of allowed values.
    NotOneOf { value: String, allowed: String },
    /// The message's first line is not the header of this kind of message.
    WrongHeader { found: String, expected: &'static str },
    /// The header names a version this parser does not read.
    WrongVersion { found: String, accepted: &'static str },
    /// A JSON value of the wrong kind (a string where a number belongs...).
    WrongType { expected: &'static str, found: &'static str },
    /// The message does not follow its syntax (JSON, XML, UTF-8).
    Syntax(String),
    /// The message holds no record.
    Empty,
    /// The message holds more records than its format allows.
    TooManyRecords { limit: usize },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("mandatory field is missing"),
            Problem::Null => f.write_str("mandatory field is empty (NULL or None)"),
            Problem::UnknownField => f.write_str("is not a field of this kind of record"),
            Problem::NotKeyValue => f.write_str("the line is not `Key: Value`"),
            Problem::NotAWholeNumber(value) => write!(f, "{value:?} is not a whole number"),
            Problem::NotANumber(value) => write!(f, "{value:?} is not a number"),
            Problem::OutOfRange { value, range } => write!(f, "{value} is out of range ({range})"),
            Problem::BadDate(value) => write!(
                f,
                "{value:?} is not a date (seconds since 1970-01-01 UTC, or ISO 8601 such as 2024-01-31T12:00:00Z, \
                 between the years 1000 and 9999)"
            ),
            Problem::NotOneOf { value, allowed } => write!(f, "{value:?} is not one of {allowed}"),
            Problem::WrongHeader { found, expected } => {
                write!(f, "the header {found:?} is not {expected:?}")
            }
            Problem::WrongVersion { found, accepted } => {
                write!(f, "version {found:?} is not one this reader accepts ({accepted})")
            }
            Problem::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            Problem::Syntax(detail) => f.write_str(detail),
            Problem::Empty => f.write_str("the message holds no record"),
            Problem::TooManyRecords { limit } => write!(f, "the message holds more than {limit} records"),
        }
    }
}

/// A message refused: where, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// Where the problem is.
    pub location: Location,
    /// The field at fault, when the problem is one field's.
    pub field: Option<String>,
    /// What is wrong.
    pub problem: Problem,
}

impl ParseError {
    /// A problem with one field at a place.
    pub fn field(location: Location, field: &str, problem: Problem) -> Self {
        Self { location, field: Some(field.to_owned()), problem }
    }

    /// A problem with the message at a place, not with one field.
    pub fn at(location: Location, problem: Problem) -> Self {
        Self { location, field: None, problem }
    }

    /// The line the problem is on, for a text or XML message.
    pub fn line(&self) -> Option<usize> {
        match self.location {
            Location::Line(line) | Location::Xml { line, .. } => Some(line),
            Location::Json(_) => None,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}, field {field}: {}", self.location, self.problem),
            None => write!(f, "{}: {}", self.location, self.problem),
        }
    }
}

/// A record nuvola cannot write in APEL's format, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {problem}")]
pub struct WriteError {
    /// The field whose value cannot be written.
    pub field: &'static str,
    /// Why.
    pub problem: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_place_field_and_problem() {
        let error = ParseError::field(Location::Line(14), "WallDuration", Problem::NotAWholeNumber("12h".into()));
        assert_eq!(error.to_string(), r#"line 14, field WallDuration: "12h" is not a whole number"#);
        let error = ParseError::at(
            Location::Line(1),
            Problem::WrongVersion { found: "v0.9".into(), accepted: "v0.2, v0.3, v0.4" },
        );
        assert_eq!(error.to_string(), r#"line 1: version "v0.9" is not one this reader accepts (v0.2, v0.3, v0.4)"#);
        let error = ParseError::field(Location::Json("UsageRecords[1]".into()), "Count", Problem::Missing);
        assert_eq!(error.to_string(), "at UsageRecords[1], field Count: mandatory field is missing");
        assert_eq!(error.line(), None);
    }
}
