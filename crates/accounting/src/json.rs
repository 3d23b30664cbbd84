//! The JSON messages of APEL's newer record types (accelerators, public
//! IPs): an envelope `{"Type": ..., "Version": ..., "UsageRecords": [...]}`
//! whose records are flat objects. A message is read whole: APEL's schemas
//! allow at most 1,000 records in one, and the endpoint that receives them
//! bounds their size. Values are read as APEL reads them after its JSON
//! schema: texts are strings (a word meaning no value, or `null`, is no
//! value), whole numbers are integers, decimals are numbers; a key the
//! record does not have is refused.

use serde_json::{Map, Value};

use crate::error::{Location, ParseError, Problem};
use crate::value::{Decimal3, is_null};

/// The most records one JSON message may hold (APEL's schemas).
pub(crate) const MAX_RECORDS: usize = 1000;

/// A JSON message's type, version and records.
pub(crate) struct Envelope {
    pub kind: String,
    pub version: String,
    pub records: Vec<Value>,
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads the envelope of a JSON message.
pub(crate) fn envelope(message: &[u8]) -> Result<Envelope, ParseError> {
    let root = || Location::Json("$".to_owned());
    let value: Value = serde_json::from_slice(message).map_err(|error| {
        ParseError::at(
            Location::Line(error.line().max(1)),
            Problem::Syntax(format!("the message is not JSON: {error}")),
        )
    })?;
    let Value::Object(mut object) = value else {
        return Err(ParseError::at(root(), Problem::WrongType { expected: "an object", found: kind_of(&value) }));
    };
    let mut text = |key: &str| match object.remove(key) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => {
            Err(ParseError::field(root(), key, Problem::WrongType { expected: "a string", found: kind_of(&other) }))
        }
        None => Err(ParseError::field(root(), key, Problem::Missing)),
    };
    let kind = text("Type")?;
    let version = text("Version")?;
    let records = match object.remove("UsageRecords") {
        Some(Value::Array(records)) => records,
        Some(other) => {
            return Err(ParseError::field(
                root(),
                "UsageRecords",
                Problem::WrongType { expected: "a list", found: kind_of(&other) },
            ));
        }
        None => return Err(ParseError::field(root(), "UsageRecords", Problem::Missing)),
    };
    if let Some(key) = object.keys().next() {
        return Err(ParseError::field(root(), key, Problem::UnknownField));
    }
    if records.is_empty() {
        return Err(ParseError::field(root(), "UsageRecords", Problem::Empty));
    }
    if records.len() > MAX_RECORDS {
        return Err(ParseError::field(root(), "UsageRecords", Problem::TooManyRecords { limit: MAX_RECORDS }));
    }
    Ok(Envelope { kind, version, records })
}

/// One record of a JSON message, read field by field; each field read is
/// taken out, so that what is left at the end is unknown.
pub(crate) struct JsonRecord {
    path: String,
    fields: Map<String, Value>,
}

impl JsonRecord {
    /// The record at `UsageRecords[index]`.
    pub(crate) fn new(index: usize, value: Value) -> Result<Self, ParseError> {
        let path = format!("UsageRecords[{index}]");
        match value {
            Value::Object(fields) => Ok(JsonRecord { path, fields }),
            other => Err(ParseError::at(
                Location::Json(path),
                Problem::WrongType { expected: "an object", found: kind_of(&other) },
            )),
        }
    }

    fn error(&self, key: &str, problem: Problem) -> ParseError {
        ParseError::field(Location::Json(self.path.clone()), key, problem)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.fields.remove(key).filter(|value| !value.is_null())
    }

    /// An optional text.
    pub(crate) fn text(&mut self, key: &str) -> Result<Option<String>, ParseError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => {
                // As APEL: JSON texts are not trimmed.
                Ok((!is_null(&text)).then_some(text))
            }
            Some(other) => Err(self.error(key, Problem::WrongType { expected: "a string", found: kind_of(&other) })),
        }
    }

    /// A mandatory text.
    pub(crate) fn required_text(&mut self, key: &str) -> Result<String, ParseError> {
        let present = self.fields.get(key).is_some();
        self.text(key)?.ok_or_else(|| self.error(key, if present { Problem::Null } else { Problem::Missing }))
    }

    /// An optional date: seconds since the epoch, or a string APEL reads
    /// as a date.
    pub(crate) fn time(&mut self, key: &str) -> Result<Option<i64>, ParseError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(number)) => match number.as_i64() {
                Some(seconds) if crate::value::in_datetime_range(seconds) => Ok(Some(seconds)),
                _ => Err(self.error(key, Problem::BadDate(number.to_string()))),
            },
            Some(Value::String(text)) if is_null(&text) => Ok(None),
            Some(Value::String(text)) => {
                crate::value::parse_time(&text).map(Some).map_err(|problem| self.error(key, problem))
            }
            Some(other) => Err(self.error(key, Problem::WrongType { expected: "a date", found: kind_of(&other) })),
        }
    }

    /// A mandatory date.
    pub(crate) fn required_time(&mut self, key: &str) -> Result<i64, ParseError> {
        let present = self.fields.get(key).is_some();
        self.time(key)?.ok_or_else(|| self.error(key, if present { Problem::Null } else { Problem::Missing }))
    }

    /// An optional whole number.
    pub(crate) fn int(&mut self, key: &str) -> Result<Option<i64>, ParseError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(number)) => match number.as_i64() {
                Some(n) => Ok(Some(n)),
                // An integral float counts as an integer to JSON schema.
                None => match number.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
                    _ => Err(self.error(key, Problem::NotAWholeNumber(number.to_string()))),
                },
            },
            Some(other) => Err(self.error(key, Problem::WrongType { expected: "an integer", found: kind_of(&other) })),
        }
    }

    /// A mandatory whole number.
    pub(crate) fn required_int(&mut self, key: &str) -> Result<i64, ParseError> {
        let present = self.fields.get(key).is_some();
        self.int(key)?.ok_or_else(|| self.error(key, if present { Problem::Null } else { Problem::Missing }))
    }

    /// An optional decimal.
    pub(crate) fn decimal(&mut self, key: &str) -> Result<Option<Decimal3>, ParseError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(number)) => {
                Decimal3::parse(&number.to_string()).map(Some).map_err(|problem| self.error(key, problem))
            }
            Some(other) => Err(self.error(key, Problem::WrongType { expected: "a number", found: kind_of(&other) })),
        }
    }

    /// A mandatory decimal.
    pub(crate) fn required_decimal(&mut self, key: &str) -> Result<Decimal3, ParseError> {
        let present = self.fields.get(key).is_some();
        self.decimal(key)?.ok_or_else(|| self.error(key, if present { Problem::Null } else { Problem::Missing }))
    }

    /// Refuses a value outside a list.
    pub(crate) fn one_of(&self, key: &str, value: &str, allowed: &[&str]) -> Result<(), ParseError> {
        if allowed.contains(&value) {
            return Ok(());
        }
        Err(self.error(key, Problem::NotOneOf { value: value.to_owned(), allowed: allowed.join(", ") }))
    }

    /// Refuses a number outside a range.
    pub(crate) fn within(
        &self,
        key: &str,
        value: i64,
        range: std::ops::RangeInclusive<i64>,
        words: &'static str,
    ) -> Result<(), ParseError> {
        if range.contains(&value) {
            return Ok(());
        }
        Err(self.error(key, Problem::OutOfRange { value: value.to_string(), range: words }))
    }

    /// Refuses any field not read.
    pub(crate) fn finish(self) -> Result<(), ParseError> {
        match self.fields.keys().next() {
            Some(key) => Err(self.error(key, Problem::UnknownField)),
            None => Ok(()),
        }
    }
}

/// Writes a JSON message's envelope around records.
pub(crate) fn write_envelope(kind: &str, version: &str, records: Vec<Value>) -> String {
    let mut message = Map::new();
    message.insert("Type".into(), Value::String(kind.into()));
    message.insert("Version".into(), Value::String(version.into()));
    message.insert("UsageRecords".into(), Value::Array(records));
    Value::Object(message).to_string()
}

/// A decimal as a JSON number.
pub(crate) fn number(value: Decimal3) -> Value {
    serde_json::Number::from_f64(value.thousandths() as f64 / 1000.0).map_or(Value::Null, Value::Number)
}
