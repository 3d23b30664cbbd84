//! Preparing a deployment's TOSCA text for IM: the inputs' values become
//! the inputs' defaults (IM takes no separate inputs), and the template's
//! `metadata` is marked with the deployment and attempt ids so that an
//! infrastructure can be found again from its stored TOSCA even when its
//! id was never recorded (a crash right after IM created it).
//!
//! The YAML is read with `saphyr` and sent as JSON, which is YAML too and
//! which IM's YAML loader reads unchanged. IM reads YAML 1.1 (PyYAML), where
//! a plain `yes`, `no`, `on` or `off` is a boolean, as INDIGO types and
//! templates use it (`required: no`); the conversion keeps that meaning,
//! which YAML 1.2 would turn into a string that IM's parser then refuses.
//!
//! IM merges the TOSCA posted to an existing infrastructure into the one it
//! stores (`Tosca._merge_yaml` in IM 2.0: mappings key by key, lists item
//! by item, anything else replaced); [`changes_stored`] applies the same
//! rule to tell whether posting a text would change anything.

use saphyr::{Scalar, ScalarStyle, Yaml, YamlLoader};
use serde_json::{Map, Value};

/// Metadata key holding the attempt id.
pub const ATTEMPT_KEY: &str = "nuvola_attempt";
/// Metadata key holding the deployment id.
pub const DEPLOYMENT_KEY: &str = "nuvola_deployment";

/// The template as IM should receive it.
pub fn prepare(
    text: &str,
    inputs: &Map<String, Value>,
    deployment_id: &str,
    attempt_id: &str,
) -> Result<String, String> {
    let Some(mut root) = load(text).map_err(|e| format!("the template is not valid YAML: {e}"))? else {
        return Err("the template is empty".into());
    };
    let Some(top) = root.as_object_mut() else {
        return Err("the template is not a YAML mapping".into());
    };
    if let Some(declared) =
        top.get_mut("topology_template").and_then(|t| t.get_mut("inputs")).and_then(Value::as_object_mut)
    {
        for (name, value) in inputs {
            if let Some(Value::Object(input)) = declared.get_mut(name) {
                input.insert("default".into(), value.clone());
            }
        }
    }
    let metadata = top.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    let metadata = metadata.as_object_mut().expect("metadata is a mapping");
    metadata.insert(DEPLOYMENT_KEY.into(), Value::String(deployment_id.into()));
    metadata.insert(ATTEMPT_KEY.into(), Value::String(attempt_id.into()));
    metadata.entry("infra_name").or_insert_with(|| Value::String(format!("nuvola-{deployment_id}")));
    Ok(serde_json::to_string(&root).expect("JSON values serialise"))
}

/// The value of metadata key `key` in a TOSCA text as IM stores it
/// (re-dumped YAML: `key: value` on one line).
pub fn marker(tosca: &str, key: &str) -> Option<String> {
    tosca.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(key)?.trim_start().strip_prefix(':')?;
        let value = rest.trim().trim_matches(|c| c == '\'' || c == '"');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// Whether posting `prepared` (from [`prepare`]) to an infrastructure
/// whose stored TOSCA is `stored` (IM's re-dumped YAML) would change it.
pub fn changes_stored(stored: &str, prepared: &str) -> Result<bool, String> {
    let stored = load(stored).map_err(|e| format!("IM's stored TOSCA is not valid YAML: {e}"))?.unwrap_or(Value::Null);
    let prepared: Value = serde_json::from_str(prepared).map_err(|e| format!("prepared TOSCA: {e}"))?;
    let mut merged = stored.clone();
    merge(&mut merged, prepared);
    Ok(merged != stored)
}

/// IM's merge of a posted TOSCA into the stored one.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (Value::Array(into), Value::Array(from)) => {
            for (i, value) in from.into_iter().enumerate() {
                match into.get_mut(i) {
                    Some(existing) => merge(existing, value),
                    None => into.push(value),
                }
            }
        }
        (into, from) => *into = from,
    }
}

/// The first document of a YAML text as JSON, read the way IM reads it
/// (see the module note); `None` for an empty text.
pub(crate) fn load(text: &str) -> Result<Option<Value>, String> {
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let mut loader = YamlLoader::<Yaml>::default();
    // Keep each scalar's text and style, to resolve it in `to_json`.
    loader.early_parse(false);
    parser.load(&mut loader, true).map_err(|e| e.to_string())?;
    loader.into_documents().first().map(to_json).transpose()
}

fn to_json(node: &Yaml) -> Result<Value, String> {
    Ok(match node {
        Yaml::Value(s) => scalar(s),
        Yaml::Representation(text, style, tag) => match (style, tag) {
            (ScalarStyle::Plain, None) => match text.as_ref() {
                "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Value::Bool(true),
                "no" | "No" | "NO" | "off" | "Off" | "OFF" => Value::Bool(false),
                _ => scalar(&Scalar::parse_from_cow(text.clone())),
            },
            (ScalarStyle::Plain, Some(tag)) if tag.suffix != "str" => scalar(&Scalar::parse_from_cow(text.clone())),
            _ => Value::String(text.to_string()),
        },
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match to_json(k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(_, inner) => to_json(inner)?,
        Yaml::Alias(_) => return Err("the template uses a YAML alias the loader could not resolve".into()),
        Yaml::BadValue => return Err("the template holds a value that is not valid YAML".into()),
    })
}

fn scalar(s: &Scalar) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::from(*i),
        Scalar::FloatingPoint(f) => serde_json::Number::from_f64(f.0).map(Value::Number).unwrap_or(Value::Null),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "tosca_definitions_version: tosca_simple_yaml_1_0\n\
metadata:\n  template_name: vm\n\
topology_template:\n  inputs:\n    cpus:\n      type: integer\n      default: 1\n    \
flag:\n      type: boolean\n      default: yes\n  node_templates:\n    vm:\n      type: tosca.nodes.Compute\n";

    #[test]
    fn inputs_become_defaults_and_metadata_is_marked() {
        let mut inputs = Map::new();
        inputs.insert("cpus".into(), Value::from(4));
        inputs.insert("unknown".into(), Value::from("x"));
        let out = prepare(TEMPLATE, &inputs, "dep-1", "att-1").unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["topology_template"]["inputs"]["cpus"]["default"], 4);
        assert!(v["topology_template"]["inputs"].get("unknown").is_none());
        assert_eq!(v["metadata"]["template_name"], "vm");
        assert_eq!(v["topology_template"]["inputs"]["flag"]["default"], true, "YAML 1.1's `yes`, as IM reads it");
        assert_eq!(v["metadata"][ATTEMPT_KEY], "att-1");
        assert_eq!(v["metadata"]["infra_name"], "nuvola-dep-1");
        assert_eq!(v["tosca_definitions_version"], "tosca_simple_yaml_1_0");
    }

    #[test]
    fn a_text_changes_the_stored_one_only_where_it_differs() {
        let mut inputs = Map::new();
        inputs.insert("cpus".into(), Value::from(2));
        let sent = prepare(TEMPLATE, &inputs, "dep-1", "att-1").unwrap();
        // As IM stores it: the same document, re-dumped as block YAML.
        let stored = "metadata:\n  infra_name: nuvola-dep-1\n  nuvola_attempt: att-1\n  nuvola_deployment: dep-1\n  \
template_name: vm\ntopology_template:\n  inputs:\n    cpus:\n      default: 2\n      type: integer\n    \
flag:\n      default: true\n      type: boolean\n  node_templates:\n    vm:\n      type: tosca.nodes.Compute\n\
tosca_definitions_version: tosca_simple_yaml_1_0\n";
        assert_eq!(changes_stored(stored, &sent), Ok(false));
        inputs.insert("cpus".into(), Value::from(3));
        let sent = prepare(TEMPLATE, &inputs, "dep-1", "att-1").unwrap();
        assert_eq!(changes_stored(stored, &sent), Ok(true));

        let mut list = serde_json::json!({"l": ["a", "b"], "k": 1});
        merge(&mut list, serde_json::json!({"l": ["c"]}));
        assert_eq!(list, serde_json::json!({"l": ["c", "b"], "k": 1}));
    }

    #[test]
    fn plain_yaml_1_1_booleans_become_booleans_and_quoted_ones_stay_text() {
        let text = "required: no\nfeature: On\nquoted: 'no'\ntagged: !!str yes\ncount: 3\nname: norway\n";
        let v: Value = serde_json::from_str(&prepare(text, &Map::new(), "d", "a").unwrap()).unwrap();
        assert_eq!(v["required"], false);
        assert_eq!(v["feature"], true);
        assert_eq!(v["quoted"], "no");
        assert_eq!(v["tagged"], "yes");
        assert_eq!(v["count"], 3);
        assert_eq!(v["name"], "norway");
    }

    #[test]
    fn bad_yaml_is_refused() {
        assert!(prepare("a: [1", &Map::new(), "d", "a").is_err());
        assert!(prepare("- 1\n- 2\n", &Map::new(), "d", "a").is_err());
    }

    #[test]
    fn markers_are_read_back() {
        let stored = "metadata:\n  infra_name: x\n  nuvola_attempt: 'a-1'\n  nuvola_deployment: d-1\n";
        assert_eq!(marker(stored, ATTEMPT_KEY).as_deref(), Some("a-1"));
        assert_eq!(marker(stored, DEPLOYMENT_KEY).as_deref(), Some("d-1"));
        assert_eq!(marker(stored, "nope"), None);
    }
}
