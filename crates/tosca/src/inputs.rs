//! Resolving deployment parameters against a template's inputs: unknown
//! parameters, missing required inputs, type checks with coercion (API
//! clients send `"4"` for an integer) and constraint checks, every problem
//! located at the input's definition.

use serde_json::{Map, Value};

use crate::diagnostics::{Diagnostic, Diagnostics, Pos, codes};
use crate::template::{InputDef, ServiceTemplate};
use crate::values::coerce;

impl ServiceTemplate {
    /// Checks `params` against the inputs and returns the value of every
    /// input that has one (given, else its default), coerced to its type.
    /// A `null` parameter counts as not given.
    pub fn resolve_inputs(&self, params: &Map<String, Value>) -> Result<Map<String, Value>, Diagnostics> {
        let mut diags = Vec::new();
        for name in params.keys() {
            if !self.inputs.contains_key(name) {
                let known: Vec<&str> = self.inputs.keys().map(String::as_str).collect();
                let pos = self.input_pos.values().next().copied().unwrap_or(Pos { line: 1, column: 1 });
                diags.push(Diagnostic::error(
                    &self.file,
                    pos,
                    codes::UNKNOWN_PARAMETER,
                    format!(
                        "unknown parameter \"{name}\"{}; the inputs are: {}",
                        ServiceTemplate::hint(name, known.iter().copied()),
                        if known.is_empty() { "(none)".to_owned() } else { known.join(", ") }
                    ),
                ));
            }
        }
        let mut out = Map::new();
        for (name, input) in &self.inputs {
            let value = params.get(name).filter(|v| !v.is_null()).or(input.default.as_ref());
            let Some(value) = value else {
                if input.required {
                    diags.push(self.input_diag(
                        name,
                        codes::INPUT_REQUIRED,
                        format!("input \"{name}\" is required and has no default; give a value for it"),
                    ));
                }
                continue;
            };
            match check_value(self, input, value) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err((code, msg)) => {
                    // A secret's value never reaches a message: it may be
                    // read by someone other than its owner (a manager
                    // updating the deployment).
                    let msg = if input.secret { nuvola_types::redact_secrets(&msg, [value]) } else { msg };
                    diags.push(self.input_diag(name, code, format!("input \"{name}\": {msg}")))
                }
            }
        }
        if diags.is_empty() { Ok(out) } else { Err(Diagnostics(diags)) }
    }
}

/// Coerces `value` to the input's type and checks its constraints; the
/// error is a code and a message about the value.
pub(crate) fn check_value(
    tpl: &ServiceTemplate,
    input: &InputDef,
    value: &Value,
) -> Result<Value, (&'static str, String)> {
    let reg = &tpl.registry;
    let base = reg.primitive_of(&input.type_name).to_owned();
    let mut coerced = coerce(&base, value).map_err(|e| (codes::TYPE, e))?;
    if let (Some(entry), true) = (&input.entry_schema, matches!(base.as_str(), "list" | "map")) {
        let entry_base = reg.primitive_of(entry).to_owned();
        let fix = |v: &mut Value| -> Result<(), (&'static str, String)> {
            *v = coerce(&entry_base, v).map_err(|e| (codes::TYPE, format!("entry {e}")))?;
            Ok(())
        };
        match &mut coerced {
            Value::Array(items) => items.iter_mut().try_for_each(fix)?,
            Value::Object(map) => map.values_mut().try_for_each(fix)?,
            _ => {}
        }
    }
    let type_constraints = reg.type_constraints(&input.type_name);
    for c in input.constraints.iter().chain(type_constraints.iter()) {
        c.check(&coerced, &base).map_err(|e| (codes::CONSTRAINT, e))?;
    }
    Ok(coerced)
}
