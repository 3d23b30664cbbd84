//! TOSCA value types: scalar units (size, time, frequency, bitrate),
//! versions, and the check-and-coerce of a JSON value to a TOSCA type that
//! input resolution uses (API clients send `"4"` for an integer).

use std::cmp::Ordering;

use serde_json::Value;

/// Units of `scalar-unit.size`, in bytes (TOSCA: kB = 1000 B, KiB = 1024 B).
const SIZE_UNITS: &[(&str, f64)] = &[
    ("b", 1.0),
    ("kb", 1e3),
    ("kib", 1024.0),
    ("mb", 1e6),
    ("mib", 1_048_576.0),
    ("gb", 1e9),
    ("gib", 1_073_741_824.0),
    ("tb", 1e12),
    ("tib", 1_099_511_627_776.0),
];
/// Units of `scalar-unit.time`, in seconds.
const TIME_UNITS: &[(&str, f64)] =
    &[("d", 86_400.0), ("h", 3_600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)];
/// Units of `scalar-unit.frequency`, in hertz.
const FREQUENCY_UNITS: &[(&str, f64)] = &[("hz", 1.0), ("khz", 1e3), ("mhz", 1e6), ("ghz", 1e9)];
/// Units of `scalar-unit.bitrate`, in bits per second.
const BITRATE_UNITS: &[(&str, f64)] = &[
    ("bps", 1.0),
    ("kbps", 1e3),
    ("kibps", 1024.0),
    ("mbps", 1e6),
    ("mibps", 1_048_576.0),
    ("gbps", 1e9),
    ("gibps", 1_073_741_824.0),
    ("tbps", 1e12),
    ("tibps", 1_099_511_627_776.0),
];

fn units_of(type_name: &str) -> Option<&'static [(&'static str, f64)]> {
    match type_name {
        "scalar-unit.size" => Some(SIZE_UNITS),
        "scalar-unit.time" => Some(TIME_UNITS),
        "scalar-unit.frequency" => Some(FREQUENCY_UNITS),
        "scalar-unit.bitrate" => Some(BITRATE_UNITS),
        _ => None,
    }
}

/// Parses a scalar-unit value such as `4 GB` into the type's base unit
/// (bytes, seconds, hertz, bits per second). Units are case-insensitive.
pub fn parse_scalar_unit(type_name: &str, text: &str) -> Result<f64, String> {
    let units = units_of(type_name).ok_or_else(|| format!("{type_name} is not a scalar-unit type"))?;
    let text = text.trim();
    let (number, unit) = text.split_at(number_len(text));
    let number: f64 = number.trim().parse().map_err(|_| {
        format!("\"{text}\" is not a {type_name} (expected a number and a unit, e.g. \"{}\")", example(type_name))
    })?;
    let unit = unit.trim().to_ascii_lowercase();
    if unit.is_empty() {
        return Err(format!("\"{text}\" has no unit; write e.g. \"{}\"", example(type_name)));
    }
    let factor = units.iter().find(|(u, _)| *u == unit).map(|(_, f)| *f).ok_or_else(|| {
        format!(
            "\"{text}\": unknown unit \"{unit}\" for {type_name} (known: {})",
            units.iter().map(|(u, _)| *u).collect::<Vec<_>>().join(", ")
        )
    })?;
    if number < 0.0 {
        return Err(format!("\"{text}\" is negative"));
    }
    Ok(number * factor)
}

/// The length of the number at the start of `text`: sign, digits, point,
/// and an exponent (`123e3`) when digits follow the `e`.
fn number_len(text: &str) -> usize {
    let b = text.as_bytes();
    let mut i = b.iter().position(|c| !(c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+'))).unwrap_or(b.len());
    if i > 0 && matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            i = j + b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        }
    }
    i
}

fn example(type_name: &str) -> &'static str {
    match type_name {
        "scalar-unit.time" => "30 s",
        "scalar-unit.frequency" => "2 GHz",
        "scalar-unit.bitrate" => "10 Mbps",
        _ => "4 GB",
    }
}

/// A size in bytes from a `scalar-unit.size` value (text) as a whole number
/// of `unit_bytes` units, rounded up.
pub fn size_in(value: &Value, unit_bytes: f64) -> Result<u64, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => return Err(format!("{other} is not a size with a unit (e.g. \"4 GB\")")),
    };
    let bytes = parse_scalar_unit("scalar-unit.size", &text)?;
    let units = (bytes / unit_bytes).ceil();
    if !units.is_finite() || units > u64::MAX as f64 {
        return Err(format!("\"{text}\" is too large"));
    }
    Ok(units as u64)
}

/// Bytes in one MiB.
pub const MIB: f64 = 1_048_576.0;
/// Bytes in one GiB.
pub const GIB: f64 = 1_073_741_824.0;

/// Compares two versions `major.minor.fix[.qualifier[-build]]` numerically
/// where parts are numbers, textually otherwise.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| -> Vec<String> { s.split(['.', '-']).map(str::to_owned).collect() };
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let x = pa.get(i).map(String::as_str).unwrap_or("0");
        let y = pb.get(i).map(String::as_str).unwrap_or("0");
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Text of a scalar JSON value (strings unquoted).
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads a JSON value as an integer: integers, integral floats and numeric strings.
pub fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads a JSON value as a boolean: booleans and `true/false/yes/no/on/off` strings.
pub fn as_boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => crate::yaml::parse_bool(s.trim()),
        _ => None,
    }
}

fn is_timestamp(s: &str) -> bool {
    // YAML 1.1 timestamp: date, optionally followed by a time.
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

fn is_version(s: &str) -> bool {
    let mut parts = s.splitn(3, '.');
    let major = parts.next().unwrap_or_default();
    !major.is_empty()
        && major.chars().all(|c| c.is_ascii_digit())
        && parts.next().is_none_or(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
}

/// Checks `value` against a primitive TOSCA type and returns it coerced:
/// numeric strings become numbers, `"true"` a boolean, a version number a
/// string. Complex (data) types are accepted as given. Errors say what was
/// expected.
pub fn coerce(type_name: &str, value: &Value) -> Result<Value, String> {
    let bad = || format!("{} is not a valid {type_name}", show(value));
    match type_name {
        "string" => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(_) | Value::Bool(_) => Ok(Value::String(scalar_text(value).unwrap_or_default())),
            _ => Err(bad()),
        },
        "integer" | "tosca.datatypes.network.PortDef" => as_integer(value).map(Value::from).ok_or_else(bad),
        "float" => match value {
            Value::Number(_) => Ok(value.clone()),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(bad),
            _ => Err(bad()),
        },
        "boolean" => as_boolean(value).map(Value::Bool).ok_or_else(bad),
        "list" => match value {
            Value::Array(_) => Ok(value.clone()),
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Array(_)) => Ok(v),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        },
        "map" => match value {
            Value::Object(_) => Ok(value.clone()),
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => Ok(v),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        },
        "version" => match scalar_text(value) {
            Some(s) if is_version(&s) || s.contains('.') => Ok(Value::String(s)),
            _ => Err(bad()),
        },
        "timestamp" => match value {
            Value::String(s) if is_timestamp(s) => Ok(value.clone()),
            _ => Err(bad()),
        },
        "range" => match value {
            Value::Array(a) if a.len() == 2 => Ok(value.clone()),
            _ => Err(bad()),
        },
        t if t.starts_with("scalar-unit.") => match value {
            Value::String(s) => parse_scalar_unit(t, s).map(|_| value.clone()),
            _ => Err(format!("{} is not a valid {t}: write a number and a unit, e.g. \"{}\"", show(value), example(t))),
        },
        _ => Ok(value.clone()),
    }
}

/// A value as shown in messages: strings quoted, others as JSON.
pub fn show(v: &Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_follow_tosca_units() {
        assert_eq!(size_in(&json!("4 GB"), MIB).unwrap(), 3815); // 4e9 / 2^20 = 3814.7
        assert_eq!(size_in(&json!("4 GiB"), MIB).unwrap(), 4096);
        assert_eq!(size_in(&json!("10 gb"), GIB).unwrap(), 10); // 9.31 GiB rounds up
        assert_eq!(size_in(&json!("512MiB"), GIB).unwrap(), 1);
        assert!(size_in(&json!("4"), MIB).unwrap_err().contains("no unit"));
        assert!(size_in(&json!("4 XB"), MIB).unwrap_err().contains("unknown unit"));
        assert_eq!(parse_scalar_unit("scalar-unit.frequency", "123e3 kHz"), Ok(123e6));
        assert_eq!(parse_scalar_unit("scalar-unit.frequency", "1.5E-3GHz"), Ok(1.5e6));
        assert_eq!(
            parse_scalar_unit("scalar-unit.size", "1 EB").is_err(),
            parse_scalar_unit("scalar-unit.size", "1EB").is_err()
        );
    }

    #[test]
    fn coercion() {
        assert_eq!(coerce("integer", &json!("4")).unwrap(), json!(4));
        assert!(coerce("integer", &json!("abc")).is_err());
        assert_eq!(coerce("boolean", &json!("yes")).unwrap(), json!(true));
        assert_eq!(coerce("version", &json!(22.04)).unwrap(), json!("22.04"));
        assert!(coerce("scalar-unit.size", &json!(4)).is_err());
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
    }
}
