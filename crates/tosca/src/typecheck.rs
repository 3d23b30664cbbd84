//! Static type checks of assigned values: the properties of node templates,
//! capabilities, relationships, policies and groups, checked against their
//! definitions — primitive types, scalar units, versions, timestamps, lists
//! and maps with their `entry_schema`, complex data types recursively
//! (unknown and missing required fields), and constraint clauses.
//!
//! Function calls (`get_input`, `concat`, ...) are not typed here: their
//! value is known at deployment. Values that are right only after a
//! coercion that real-world templates rely on (`"1"` for a number, a number
//! for a string) are accepted with a `W-TYPE-COERCED` warning at the value;
//! see the leniency policy in the README.

use crate::constraints::Constraint;
use crate::diagnostics::{Diagnostic, Pos, codes};
use crate::functions::FUNCTIONS;
use crate::template::InputDef;
use crate::types::{PRIMITIVE_TYPES, PropertyDef, TypeKind, TypeRegistry};
use crate::values::parse_scalar_unit;
use crate::yaml::{Node, NodeValue};
use indexmap::IndexMap;

/// Deepest data type nesting followed (data types may refer to themselves through lists).
const MAX_DEPTH: usize = 32;

/// Checks values against definitions, pushing diagnostics for `file`.
pub(crate) struct ValueChecker<'a> {
    pub reg: &'a TypeRegistry,
    pub file: &'a str,
    pub diags: &'a mut Vec<Diagnostic>,
}

/// Names a value in messages: `node template "db": property "port.source"`.
pub(crate) struct Label<'a> {
    /// The entity, e.g. `node template "db"`.
    pub what: &'a str,
    /// The property and the path inside it.
    pub path: String,
    /// Whether the value is a field of a complex data type (at any depth).
    pub in_data_type: bool,
}

impl Label<'_> {
    fn child(&self, step: &str) -> Self {
        Label { what: self.what, path: format!("{}{step}", self.path), in_data_type: self.in_data_type }
    }

    /// The label of field `name` of a complex data type value.
    fn field(&self, name: &str) -> Self {
        Label { in_data_type: true, ..self.child(&format!(".{name}")) }
    }
}

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: property \"{}\"", self.what, self.path)
    }
}

/// How a value fits a primitive type.
enum Fit {
    Yes,
    /// Accepted after a coercion; the text says which.
    Coerced(String),
    No(String),
}

/// Whether `node` is a function call (`{ get_input: x }`), whose value is not known statically.
pub(crate) fn is_call(node: &Node) -> bool {
    matches!(node.as_map(), Some([(k, _)]) if FUNCTIONS.contains(&k.name.as_str()))
}

impl ValueChecker<'_> {
    fn error(&mut self, pos: Pos, code: &'static str, msg: String) {
        self.diags.push(Diagnostic::error(self.file, pos, code, msg));
    }

    /// Checks assigned `values` against `defs`: each value fits its
    /// definition, and (with `required_at`) each required property without
    /// default has a value. `what` starts every message (`node template "db"`).
    pub fn assignments(
        &mut self,
        what: &str,
        defs: &IndexMap<String, PropertyDef>,
        values: &IndexMap<String, Node>,
        required_at: Option<Pos>,
    ) {
        for (name, value) in values {
            if let Some(def) = defs.get(name) {
                self.property(&Label { what, path: name.clone(), in_data_type: false }, def, value, 0);
            }
        }
        if let Some(pos) = required_at {
            for (name, def) in defs {
                if def.required && def.default.is_none() && !values.contains_key(name) {
                    self.error(
                        pos,
                        codes::PROPERTY_REQUIRED,
                        format!("{what}: required property \"{name}\" ({}) has no value", def.type_name),
                    );
                }
            }
        }
    }

    /// Checks one value against a property definition.
    pub fn property(&mut self, label: &Label<'_>, def: &PropertyDef, value: &Node, depth: usize) {
        self.value(label, &def.type_name, def.entry_schema.as_deref(), &def.constraints, value, depth);
    }

    /// Checks `node` against type `type_name` (primitive or data type),
    /// its entry schema and constraints.
    pub fn value(
        &mut self,
        label: &Label<'_>,
        type_name: &str,
        entry_schema: Option<&str>,
        constraints: &[Constraint],
        node: &Node,
        depth: usize,
    ) {
        if is_call(node) || depth > MAX_DEPTH {
            return;
        }
        if node.is_null() {
            // An explicit null: "no value"; required-ness is checked by the caller.
            return;
        }
        let base = self.reg.primitive_of(type_name).to_owned();
        if !PRIMITIVE_TYPES.contains(&base.as_str()) {
            if self.reg.get(TypeKind::Data, type_name).is_some() {
                self.complex(label, type_name, node, depth);
            }
            // Unknown types are reported where they are defined.
            return;
        }
        let fit = match primitive_fit(&base, node) {
            // tosca-parser's rule, which the INDIGO templates stay within: a
            // number or boolean for a string is read as its text in a
            // property, but is an error in a field of a data type.
            Fit::Coerced(_) if label.in_data_type && base == "string" => Fit::No(format!(
                "{} is not a string (a field of a data type takes no number or boolean for a string; quote it)",
                show(node)
            )),
            fit => fit,
        };
        let ok = match fit {
            Fit::Yes => true,
            Fit::Coerced(msg) => {
                self.diags.push(Diagnostic::warning(
                    self.file,
                    node.pos,
                    codes::TYPE_COERCED,
                    format!("{label}: {msg}; accepted, but write it as a {base}"),
                ));
                true
            }
            Fit::No(msg) => {
                self.error(node.pos, codes::TYPE, format!("{label}: {msg}"));
                false
            }
        };
        if !ok {
            return;
        }
        if let Some(entry) = entry_schema.filter(|_| matches!(base.as_str(), "list" | "map")) {
            let items: Vec<(Label<'_>, &Node)> = match &node.value {
                NodeValue::Seq(items) => {
                    items.iter().enumerate().map(|(i, n)| (label.child(&format!("[{i}]")), n)).collect()
                }
                NodeValue::Map(entries) => {
                    entries.iter().map(|(k, n)| (label.child(&format!(".{}", k.name)), n)).collect()
                }
                _ => Vec::new(),
            };
            for (l, item) in items {
                self.value(&l, entry, None, &[], item, depth + 1);
            }
        }
        let json = node.to_json();
        if contains_call(node) {
            return;
        }
        let type_constraints = if type_name == base { Vec::new() } else { self.reg.type_constraints(type_name) };
        for c in constraints.iter().chain(type_constraints.iter()) {
            if let Err(e) = c.check(&json, &base) {
                self.error(node.pos, codes::CONSTRAINT, format!("{label}: {e}"));
            }
        }
    }

    /// Checks a value of a complex data type: a map whose keys are the
    /// type's properties, each checked recursively, required ones present.
    fn complex(&mut self, label: &Label<'_>, type_name: &str, node: &Node, depth: usize) {
        let defs = self.reg.properties(TypeKind::Data, type_name);
        let Some(entries) = node.as_map() else {
            self.error(
                node.pos,
                codes::TYPE,
                format!("{label}: {} is not a {type_name} (expected a map of its properties)", show(node)),
            );
            return;
        };
        if defs.is_empty() {
            return;
        }
        for (k, v) in entries {
            match defs.get(&k.name) {
                Some(def) => self.property(&label.field(&k.name), def, v, depth + 1),
                None => self.error(
                    k.pos,
                    codes::UNKNOWN_PROPERTY,
                    format!(
                        "{label}: data type {type_name} has no property \"{}\"{}",
                        k.name,
                        crate::template::ServiceTemplate::hint(&k.name, defs.keys().map(String::as_str))
                    ),
                ),
            }
        }
        for (name, def) in &defs {
            if def.required && def.default.is_none() && !entries.iter().any(|(k, _)| k.name == *name) {
                self.error(
                    node.pos,
                    codes::PROPERTY_REQUIRED,
                    format!("{label}: required property \"{name}\" of data type {type_name} has no value"),
                );
            }
        }
        if self.reg.derives_from(TypeKind::Data, type_name, "tosca.datatypes.network.PortSpec")
            && !entries
                .iter()
                .any(|(k, _)| matches!(k.name.as_str(), "source" | "source_range" | "target" | "target_range"))
        {
            self.error(
                node.pos,
                codes::PROPERTY_REQUIRED,
                format!("{label}: a PortSpec needs one of source, source_range, target, target_range"),
            );
        }
    }
}

/// For a JSON value (an input default) that fits primitive type `base`
/// only after a coercion, what the coercion is.
pub(crate) fn coercion(base: &str, value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (base, value) {
        ("string", Value::Number(_)) => Some(format!("the number {value} is read as a string")),
        ("string", Value::Bool(_)) => Some(format!("the boolean {value} is read as a string")),
        ("integer" | "float", Value::String(_)) => Some(format!("the string {value} is read as a number")),
        ("boolean", Value::String(_)) => Some(format!("the string {value} is read as a boolean")),
        _ => None,
    }
}

/// For an input's default (read from the template's YAML), what is wrong
/// when an integer stands where a float is expected, in the value or in an
/// entry of a list or map whose `entry_schema` is a float. Deployment
/// parameters are not judged by this: API clients send JSON, where `4` and
/// `4.0` are one number.
pub(crate) fn integer_for_float(reg: &TypeRegistry, input: &InputDef, default: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let integer = |v: &Value| matches!(v, Value::Number(n) if !n.is_f64());
    let message = |v: &Value, at: &str| format!("the integer {v}{at} is not a float; write it as a float, e.g. {v}.0");
    match reg.primitive_of(&input.type_name) {
        "float" if integer(default) => Some(message(default, "")),
        "list" | "map" if input.entry_schema.as_deref().is_some_and(|e| reg.primitive_of(e) == "float") => {
            let entries: Vec<(String, &Value)> = match default {
                Value::Array(items) => items.iter().enumerate().map(|(i, v)| (format!(" at [{i}]"), v)).collect(),
                Value::Object(map) => map.iter().map(|(k, v)| (format!(" at \"{k}\""), v)).collect(),
                _ => Vec::new(),
            };
            entries.into_iter().find(|(_, v)| integer(v)).map(|(at, v)| message(v, &at))
        }
        _ => None,
    }
}

/// Whether a function call occurs anywhere inside `node`.
fn contains_call(node: &Node) -> bool {
    match &node.value {
        NodeValue::Seq(items) => items.iter().any(contains_call),
        NodeValue::Map(entries) => is_call(node) || entries.iter().any(|(_, v)| contains_call(v)),
        _ => false,
    }
}

fn show(node: &Node) -> String {
    match &node.value {
        NodeValue::Seq(_) => "a list".into(),
        NodeValue::Map(_) => "a map".into(),
        _ => node.to_json().to_string(),
    }
}

/// How `node` fits primitive type `base`.
fn primitive_fit(base: &str, node: &Node) -> Fit {
    let shown = show(node);
    let no = |extra: &str| Fit::No(format!("{shown} is not a valid {base}{extra}"));
    match (base, &node.value) {
        ("string", NodeValue::Str(_)) => Fit::Yes,
        ("string", NodeValue::Int(_) | NodeValue::Float(_)) => {
            Fit::Coerced(format!("the number {shown} is read as a string"))
        }
        ("string", NodeValue::Bool(_)) => Fit::Coerced(format!("the boolean {shown} is read as a string")),
        ("integer", NodeValue::Int(_)) => Fit::Yes,
        ("integer", NodeValue::Str(s)) if s.trim().parse::<i64>().is_ok() => {
            Fit::Coerced(format!("the string {shown} is read as an integer"))
        }
        ("float", NodeValue::Float(_)) => Fit::Yes,
        // TOSCA's float is a YAML float; `1` is a YAML integer (tosca-parser rejects it too).
        ("float", NodeValue::Int(i)) => {
            Fit::No(format!("the integer {i} is not a float; write it as a float, e.g. {i}.0"))
        }
        ("float", NodeValue::Str(s)) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
            Fit::Coerced(format!("the string {shown} is read as a float"))
        }
        ("boolean", NodeValue::Bool(_)) => Fit::Yes,
        ("boolean", NodeValue::Str(s)) if crate::yaml::parse_bool(s.trim()).is_some() => {
            Fit::Coerced(format!("the string {shown} is read as a boolean"))
        }
        ("list", NodeValue::Seq(_)) | ("map", NodeValue::Map(_)) => Fit::Yes,
        ("timestamp", NodeValue::Str(s)) if is_timestamp(s) => Fit::Yes,
        ("version", NodeValue::Str(_) | NodeValue::Int(_) | NodeValue::Float(_)) => {
            let text = node.scalar_text().unwrap_or_default();
            if is_version(&text) { Fit::Yes } else { no(" (expected major.minor[.fix[.qualifier[-build]]])") }
        }
        ("range", NodeValue::Seq(items)) if items.len() == 2 => {
            let lo = match &items[0].value {
                NodeValue::Int(i) => Some(*i),
                _ => None,
            };
            let hi = match &items[1].value {
                NodeValue::Int(i) => Some(*i),
                NodeValue::Str(s) if s == "UNBOUNDED" => Some(i64::MAX),
                _ => None,
            };
            match (lo, hi) {
                (Some(lo), Some(hi)) if lo <= hi => Fit::Yes,
                _ => no(" (expected [low, high] integers, high may be UNBOUNDED)"),
            }
        }
        ("null", _) => Fit::Yes,
        (t, NodeValue::Str(s)) if t.starts_with("scalar-unit.") => match parse_scalar_unit(t, s) {
            Ok(_) => Fit::Yes,
            Err(e) => Fit::No(e),
        },
        (t, _) if t.starts_with("scalar-unit.") => {
            Fit::No(format!("{shown} is not a valid {t}: write a number and a unit, e.g. \"{}\"", example(t)))
        }
        _ => no(""),
    }
}

fn example(type_name: &str) -> &'static str {
    match type_name {
        "scalar-unit.time" => "30 s",
        "scalar-unit.frequency" => "2 GHz",
        "scalar-unit.bitrate" => "10 Mbps",
        _ => "4 GB",
    }
}

/// A YAML timestamp: a date, optionally followed by a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.trim().as_bytes();
    b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && s.trim()[5..]
            .chars()
            .take_while(|c| *c != 'T' && *c != 't' && *c != ' ')
            .all(|c| c.is_ascii_digit() || c == '-')
}

/// A TOSCA version: `major.minor[.fix[.qualifier[-build]]]` (a lone major is accepted).
pub(crate) fn is_version(s: &str) -> bool {
    let mut parts = s.splitn(4, '.');
    let numeric = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !numeric(parts.next()) {
        return false;
    }
    match parts.next() {
        None => true,
        m => numeric(m) && parts.next().is_none_or(|f| numeric(Some(f))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(is_version("1.0"));
        assert!(is_version("2"));
        assert!(is_version("1.2.3.beta-4"));
        assert!(!is_version("my version"));
        assert!(!is_version("1.x"));
    }

    #[test]
    fn timestamps() {
        assert!(is_timestamp("2001-12-14t21:59:43.10-05:00"));
        assert!(is_timestamp("2002-12-14"));
        assert!(!is_timestamp("yesterday"));
    }
}
