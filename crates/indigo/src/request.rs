//! A create or update request as the orchestrator reads it.
//!
//! The orchestrator binds `DeploymentRequest` with Spring's Jackson, whose
//! defaults clients rely on: scalars of another JSON type are coerced
//! (`"keepLastAttempt": "false"`, `"providerTimeoutMins": "60"`, a number
//! where a string is expected), `null` is the field's absence, and fields
//! it does not know are ignored (`fail-on-unknown-properties=false`). What
//! cannot be coerced is refused naming the field, as Jackson does.

use nuvola_types::{DeploymentStatus, Error};
use serde_json::{Map, Value};

/// The body of `POST /deployments` and `PUT /deployments/{id}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentRequest {
    /// The TOSCA text; required on create, the current one when absent on update.
    pub template: Option<String>,
    pub parameters: Map<String, Value>,
    pub callback: Option<String>,
    pub timeout_mins: Option<i64>,
    pub provider_timeout_mins: Option<i64>,
    pub max_providers_retry: Option<i64>,
    pub keep_last_attempt: Option<bool>,
    pub user_group: Option<String>,
    /// Fields the orchestrator does not know, ignored as it ignores them.
    pub ignored: Vec<String>,
}

impl DeploymentRequest {
    /// Reads a request body as the orchestrator does.
    pub fn from_json(body: Value) -> Result<Self, Error> {
        let Value::Object(mut fields) = body else {
            return Err(Error::invalid(format!("the request body must be a JSON object, not {}", kind(&body))));
        };
        let mut take = |name: &str| fields.shift_remove(name).filter(|v| !v.is_null());
        let request = DeploymentRequest {
            template: take("template").map(|v| text("template", v)).transpose()?,
            parameters: match take("parameters") {
                None => Map::new(),
                Some(Value::Object(map)) => map,
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "parameters must be an object of input names to values, not {}",
                        kind(&other)
                    )));
                }
            },
            callback: take("callback").map(|v| text("callback", v)).transpose()?,
            timeout_mins: take("timeoutMins").map(|v| whole("timeoutMins", v)).transpose()?,
            provider_timeout_mins: take("providerTimeoutMins").map(|v| whole("providerTimeoutMins", v)).transpose()?,
            max_providers_retry: take("maxProvidersRetry").map(|v| whole("maxProvidersRetry", v)).transpose()?,
            keep_last_attempt: take("keepLastAttempt").map(|v| boolean("keepLastAttempt", v)).transpose()?,
            user_group: take("userGroup").map(|v| text("userGroup", v)).transpose()?,
            ignored: Vec::new(),
        };
        Ok(DeploymentRequest { ignored: fields.keys().cloned().collect(), ..request })
    }
}

/// A string field: other scalars become their text, as Jackson's
/// `StringDeserializer` does.
fn text(field: &str, v: Value) -> Result<String, Error> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(Error::invalid(format!("{field} must be a string, not {}", kind(&other)))),
    }
}

/// A whole-number field: a number, or a string holding one (`"60"`). A
/// fraction is refused rather than truncated.
fn whole(field: &str, v: Value) -> Result<i64, Error> {
    let refused = |shown: String| Error::invalid(format!("{field} must be a whole number, not {shown}"));
    match &v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
            .ok_or_else(|| refused(n.to_string())),
        Value::String(s) => s.trim().parse().map_err(|_| refused(format!("{s:?}"))),
        other => Err(refused(kind(other).to_string())),
    }
}

/// A boolean field: `true`/`false`, their text in any case, or a number
/// (0 is false), as Jackson coerces them.
fn boolean(field: &str, v: Value) -> Result<bool, Error> {
    match &v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") || s.trim().is_empty() => Ok(false),
        Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64() != Some(0)),
        other => Err(Error::invalid(format!("{field} must be true or false, not {other}"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The statuses a query parameter names: Spring binds a `Status[]` from a
/// comma-separated list and from the parameter repeated, so each value may
/// hold several.
pub fn statuses<'a>(
    parameter: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<DeploymentStatus>, Error> {
    let mut out = Vec::new();
    for name in values.into_iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        let status = DeploymentStatus::parse(name).ok_or_else(|| {
            Error::invalid(format!(
                "{parameter}: unknown status {name:?} (one of {})",
                DeploymentStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        if !out.contains(&status) {
            out.push(status);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scalars_are_coerced_as_jackson_does() {
        let r = DeploymentRequest::from_json(json!({
            "template": "t",
            "keepLastAttempt": "false",
            "providerTimeoutMins": "60",
            "timeoutMins": 720.0,
            "maxProvidersRetry": " 2 ",
            "callback": null,
            "userGroup": 42,
        }))
        .unwrap();
        assert_eq!(r.keep_last_attempt, Some(false));
        assert_eq!(r.provider_timeout_mins, Some(60));
        assert_eq!(r.timeout_mins, Some(720));
        assert_eq!(r.max_providers_retry, Some(2));
        assert_eq!(r.callback, None);
        assert_eq!(r.user_group.as_deref(), Some("42"));
        for (given, read) in [(json!("TRUE"), true), (json!(1), true), (json!(0), false), (json!(""), false)] {
            let r = DeploymentRequest::from_json(json!({"keepLastAttempt": given})).unwrap();
            assert_eq!(r.keep_last_attempt, Some(read), "{given}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_named() {
        let r =
            DeploymentRequest::from_json(json!({"template": "t", "additional_description": "x", "foo": 1})).unwrap();
        assert_eq!(r.ignored, ["additional_description", "foo"]);
        assert!(r.parameters.is_empty());
    }

    #[test]
    fn what_cannot_be_coerced_is_refused_by_name() {
        for (body, says) in [
            (json!({"timeoutMins": "an hour"}), "timeoutMins must be a whole number, not \"an hour\""),
            (json!({"timeoutMins": 1.5}), "timeoutMins must be a whole number, not 1.5"),
            (json!({"keepLastAttempt": "maybe"}), "keepLastAttempt must be true or false, not \"maybe\""),
            (json!({"template": {"a": 1}}), "template must be a string, not an object"),
            (json!({"parameters": [1]}), "parameters must be an object of input names to values, not a list"),
            (json!([1]), "the request body must be a JSON object, not a list"),
        ] {
            let e = DeploymentRequest::from_json(body.clone()).unwrap_err();
            assert!(e.to_string().contains(says), "{body}: {e}");
        }
    }

    #[test]
    fn statuses_come_comma_separated_or_repeated() {
        let s = statuses("excludedStatus", ["DELETE_COMPLETE,DELETE_IN_PROGRESS", "CREATE_FAILED", "DELETE_COMPLETE"])
            .unwrap();
        assert_eq!(
            s,
            [DeploymentStatus::DeleteComplete, DeploymentStatus::DeleteInProgress, DeploymentStatus::CreateFailed]
        );
        let e = statuses("excludedStatus", ["DELETE_COMPLETE,GONE"]).unwrap_err();
        assert!(e.to_string().contains("excludedStatus: unknown status \"GONE\""), "{e}");
        assert!(statuses("status", [""]).unwrap().is_empty());
    }
}
