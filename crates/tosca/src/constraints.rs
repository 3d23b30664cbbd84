//! TOSCA constraint clauses (`equal`, `in_range`, `valid_values`, ...):
//! parsed from definitions, checked against values, and serialisable so the
//! dashboard can build input forms from them.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diagnostics::codes;
pub use crate::patterns::Pattern;
use crate::values::{compare_versions, parse_scalar_unit, scalar_text, show};

/// One constraint clause, serialised as TOSCA writes it (`{"in_range": [1, 32]}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    /// The value equals this one.
    Equal(Value),
    /// The value is greater than this one.
    GreaterThan(Value),
    /// The value is greater than or equal to this one.
    GreaterOrEqual(Value),
    /// The value is less than this one.
    LessThan(Value),
    /// The value is less than or equal to this one.
    LessOrEqual(Value),
    /// The value is within `[low, high]`, both included (`UNBOUNDED` allowed as high).
    InRange(Value, Value),
    /// The value is one of these.
    ValidValues(Vec<Value>),
    /// The string, list or map has exactly this length.
    Length(u64),
    /// The string, list or map has at least this length.
    MinLength(u64),
    /// The string, list or map has at most this length.
    MaxLength(u64),
    /// The string matches this regular expression (whole string).
    Pattern(Pattern),
}

/// Why a constraint clause cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClauseError {
    /// The clause is malformed: an unknown operator, a wrong operand, an
    /// invalid regular expression.
    Invalid(String),
    /// A `pattern` goes over a limit on the work of compiling regular
    /// expressions (see [`crate::patterns`]).
    Limit(String),
    /// A `pattern` of a template whose budget for regular expressions an
    /// earlier one spent (and said so): nothing more to report.
    Spent,
}

impl ClauseError {
    /// The diagnostic code and message to report, `code` for a malformed
    /// clause; `None` when there is nothing to report.
    pub fn report(self, code: &'static str) -> Option<(&'static str, String)> {
        match self {
            Self::Invalid(m) => Some((code, m)),
            Self::Limit(m) => Some((codes::LIMIT, m)),
            Self::Spent => None,
        }
    }
}

impl fmt::Display for ClauseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(m) | Self::Limit(m) => f.write_str(m),
            Self::Spent => f.write_str("an earlier pattern spent the budget for regular expressions"),
        }
    }
}

impl Constraint {
    /// Builds a constraint from its TOSCA operator and argument; a
    /// `pattern` is compiled here, once (see [`crate::patterns`]).
    pub fn parse(operator: &str, arg: &Value) -> Result<Self, ClauseError> {
        let invalid = ClauseError::Invalid;
        let length = |arg: &Value| {
            crate::values::as_integer(arg)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| invalid(format!("{operator} expects a non-negative integer, not {}", show(arg))))
        };
        Ok(match operator {
            "equal" => Self::Equal(arg.clone()),
            "greater_than" => Self::GreaterThan(arg.clone()),
            "greater_or_equal" => Self::GreaterOrEqual(arg.clone()),
            "less_than" => Self::LessThan(arg.clone()),
            "less_or_equal" => Self::LessOrEqual(arg.clone()),
            "in_range" => match arg {
                Value::Array(a) if a.len() == 2 => Self::InRange(a[0].clone(), a[1].clone()),
                _ => return Err(invalid(format!("in_range expects a list of two values, not {}", show(arg)))),
            },
            "valid_values" => match arg {
                Value::Array(a) => Self::ValidValues(a.clone()),
                _ => return Err(invalid(format!("valid_values expects a list, not {}", show(arg)))),
            },
            "length" => Self::Length(length(arg)?),
            "min_length" => Self::MinLength(length(arg)?),
            "max_length" => Self::MaxLength(length(arg)?),
            "pattern" => {
                let p =
                    scalar_text(arg).ok_or_else(|| invalid(format!("pattern expects a string, not {}", show(arg))))?;
                Self::Pattern(Pattern::new(&p)?)
            }
            other => return Err(invalid(format!("unknown constraint operator \"{other}\""))),
        })
    }

    /// Checks `value` (of TOSCA type `type_name`); the error completes a
    /// sentence about the value, e.g. `64 is not in range [1, 32]`.
    pub fn check(&self, value: &Value, type_name: &str) -> Result<(), String> {
        let cmp = |other: &Value| compare(value, other, type_name);
        let v = show(value);
        let ok = match self {
            Self::Equal(x) => (cmp(x) == Some(Ordering::Equal), format!("{v} is not equal to {}", show(x))),
            Self::GreaterThan(x) => (cmp(x) == Some(Ordering::Greater), format!("{v} is not greater than {}", show(x))),
            Self::GreaterOrEqual(x) => (
                matches!(cmp(x), Some(Ordering::Greater | Ordering::Equal)),
                format!("{v} is not greater than or equal to {}", show(x)),
            ),
            Self::LessThan(x) => (cmp(x) == Some(Ordering::Less), format!("{v} is not less than {}", show(x))),
            Self::LessOrEqual(x) => (
                matches!(cmp(x), Some(Ordering::Less | Ordering::Equal)),
                format!("{v} is not less than or equal to {}", show(x)),
            ),
            Self::InRange(lo, hi) => {
                let above = matches!(cmp(lo), Some(Ordering::Greater | Ordering::Equal));
                let below =
                    hi.as_str() == Some("UNBOUNDED") || matches!(cmp(hi), Some(Ordering::Less | Ordering::Equal));
                (above && below, format!("{v} is not in range [{}, {}]", plain(lo), plain(hi)))
            }
            Self::ValidValues(list) => (
                list.iter().any(|x| cmp(x) == Some(Ordering::Equal)),
                format!("{v} is not one of {}", list.iter().map(show).collect::<Vec<_>>().join(", ")),
            ),
            Self::Length(n) => (len(value) == Some(*n), format!("{v} does not have length {n}")),
            Self::MinLength(n) => (len(value).is_some_and(|l| l >= *n), format!("{v} is shorter than {n}")),
            Self::MaxLength(n) => (len(value).is_some_and(|l| l <= *n), format!("{v} is longer than {n}")),
            Self::Pattern(p) => {
                (value.as_str().is_some_and(|s| p.is_match(s)), format!("{v} does not match pattern \"{p}\""))
            }
        };
        if ok.0 { Ok(()) } else { Err(ok.1) }
    }
}

fn plain(v: &Value) -> String {
    scalar_text(v).unwrap_or_else(|| show(v))
}

fn len(v: &Value) -> Option<u64> {
    let n = match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => return None,
    };
    Some(n as u64)
}

/// Orders two values of TOSCA type `type_name`: scalar units by magnitude,
/// versions by parts, numbers numerically, strings textually.
pub fn compare(a: &Value, b: &Value, type_name: &str) -> Option<Ordering> {
    if type_name.starts_with("scalar-unit.") {
        let x = parse_scalar_unit(type_name, a.as_str()?).ok()?;
        let y = parse_scalar_unit(type_name, b.as_str()?).ok()?;
        return x.partial_cmp(&y);
    }
    if type_name == "version" {
        return Some(compare_versions(&scalar_text(a)?, &scalar_text(b)?));
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x)) => {
            let y: f64 = y.trim().parse().ok()?;
            let o = x.as_f64()?.partial_cmp(&y)?;
            Some(if matches!(a, Value::Number(_)) { o } else { o.reverse() })
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        // `valid_values: [false, true]` on a string input: YAML made the operands booleans.
        (Value::String(x), Value::Bool(y)) | (Value::Bool(y), Value::String(x)) => {
            (x.eq_ignore_ascii_case(&y.to_string())).then_some(Ordering::Equal)
        }
        (x, y) => (x == y).then_some(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_and_messages() {
        let c = Constraint::parse("in_range", &json!([1, 32])).unwrap();
        assert_eq!(c.check(&json!(64), "integer").unwrap_err(), "64 is not in range [1, 32]");
        assert!(c.check(&json!(4), "integer").is_ok());
        let c = Constraint::parse("valid_values", &json!(["ssd", "standard"])).unwrap();
        assert!(c.check(&json!("ssd"), "string").is_ok());
        assert!(c.check(&json!("fast"), "string").is_err());
        let c = Constraint::parse("greater_or_equal", &json!("1 GB")).unwrap();
        assert!(c.check(&json!("1024 MB"), "scalar-unit.size").is_ok());
        assert!(c.check(&json!("512 MiB"), "scalar-unit.size").is_err());
        let c = Constraint::parse("pattern", &json!("[a-z]+")).unwrap();
        assert!(c.check(&json!("abc"), "string").is_ok());
        assert!(c.check(&json!("abc1"), "string").is_err());
        assert!(Constraint::parse("between", &json!(1)).is_err());
        assert_eq!(serde_json::to_value(Constraint::InRange(json!(1), json!(2))).unwrap(), json!({"in_range": [1, 2]}));
    }
}
