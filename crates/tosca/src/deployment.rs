//! A template read for a deployment: parsed, its parameters resolved into
//! inputs and its requirements read, with every problem turned into one
//! `Invalid` error that names file, line and column — what a create, an
//! update and a placement preview all start with.

use nuvola_types::{DeploymentRequirements, Error, Result};
use serde_json::{Map, Value};

use crate::ServiceTemplate;

/// What to do with a parameter the template does not declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Undeclared {
    /// Refuse the request, naming it (nuvola's own API and dashboard).
    #[default]
    Refuse,
    /// Leave it out and say so in the deployment's log, as the INDIGO
    /// orchestrator ignores inputs its template does not declare (its
    /// clients send some of their own, e.g. `additional_description`).
    Ignore,
}

/// A template read for a deployment.
pub struct Compiled {
    pub template: ServiceTemplate,
    /// The inputs after defaults and coercion.
    pub inputs: Map<String, Value>,
    pub requirements: DeploymentRequirements,
    /// The parameters left out as undeclared, with [`Undeclared::Ignore`].
    pub ignored: Vec<String>,
}

/// Most VM instances one deployment may ask for (all nodes × count).
pub const MAX_INSTANCES: u64 = 1000;

/// Parses a template (named `source` in messages), resolves parameters
/// into inputs and reads the requirements, turning every diagnostic into
/// one `Invalid` message.
pub fn compile(
    resolver: &dyn crate::ImportResolver,
    max: usize,
    source: &str,
    text: &str,
    parameters: &Map<String, Value>,
    undeclared: Undeclared,
) -> Result<Compiled> {
    if text.trim().is_empty() {
        return Err(Error::invalid("template is empty: send the TOSCA text in `template`"));
    }
    if text.len() > max {
        return Err(Error::invalid(format!("template is {} bytes; the limit is {max}", text.len())));
    }
    // Errors wherever they are; warnings only about the user's own text
    // (the built-in type files have some of their own).
    let invalid = |what: &str, d: crate::Diagnostics| {
        let lines: Vec<String> =
            d.iter().filter(|d| d.is_error() || d.file == source).map(ToString::to_string).collect();
        Error::invalid(format!("{what}:\n{}", lines.join("\n")))
    };
    let template = crate::load(text, source, resolver).map_err(|d| invalid("the template is not valid TOSCA", d))?;
    // A secret given as a parameter may be echoed by a check of a property
    // it flows into: no message carries it.
    let secrets = secret_inputs(&template);
    let given = parameters.iter().filter(|(k, _)| secrets.contains(*k) || nuvola_types::is_secret_input(k));
    let secret_values: Vec<&Value> = given.map(|(_, v)| v).collect();
    let invalid = |what: &str, d: crate::Diagnostics| {
        invalid(what, d).map_message(|m| nuvola_types::redact_secrets(m, secret_values.iter().copied()))
    };
    let (parameters, ignored) = match undeclared {
        Undeclared::Refuse => (std::borrow::Cow::Borrowed(parameters), Vec::new()),
        Undeclared::Ignore => {
            let (declared, ignored): (Map<String, Value>, Map<String, Value>) =
                parameters.clone().into_iter().partition(|(k, _)| template.inputs().contains_key(k));
            (std::borrow::Cow::Owned(declared), ignored.into_iter().map(|(k, _)| k).collect())
        }
    };
    let inputs = template.resolve_inputs(&parameters).map_err(|d| invalid("the parameters are not valid", d))?;
    let requirements =
        template.requirements(&inputs).map_err(|d| invalid("the template's requirements cannot be read", d))?;
    if requirements.nodes.is_empty() {
        return Err(Error::invalid("the template has no Compute node: nothing to deploy"));
    }
    let instances: u64 = requirements.nodes.iter().map(|n| u64::from(n.count)).sum();
    if instances > MAX_INSTANCES {
        return Err(Error::invalid(format!(
            "the template asks for {instances} instances in all (nodes × count); the limit is {MAX_INSTANCES}"
        )));
    }
    Ok(Compiled { template, inputs, requirements, ignored })
}

/// The inputs `template` declares secret (or names so).
pub fn secret_inputs(template: &ServiceTemplate) -> std::collections::BTreeSet<String> {
    template.inputs().values().filter(|i| i.secret).map(|i| i.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const VM: &str = "tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  inputs:
    cpus: { type: integer, default: 1 }
  node_templates:
    vm:
      type: tosca.nodes.Compute
      capabilities:
        host: { properties: { num_cpus: { get_input: cpus } } }
";

    fn params(v: serde_json::Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn undeclared_parameters_are_refused_or_left_out_by_name() {
        let resolver = crate::builtin_resolver();
        let given = params(json!({"cpus": "2", "additional_description": "mine"}));
        let e = compile(&resolver, 1 << 20, "t.yaml", VM, &given, Undeclared::Refuse).err().unwrap();
        assert!(e.to_string().contains("additional_description"), "{e}");
        let c = compile(&resolver, 1 << 20, "t.yaml", VM, &given, Undeclared::Ignore).unwrap();
        assert_eq!(c.ignored, ["additional_description"]);
        assert_eq!(c.inputs.get("cpus"), Some(&json!(2)));
        assert!(!c.inputs.contains_key("additional_description"));
        assert_eq!(c.requirements.nodes[0].cpus, Some(2));
    }

    #[test]
    fn empty_and_oversized_templates_are_refused_before_parsing() {
        let resolver = crate::builtin_resolver();
        let none = Map::new();
        let e = compile(&resolver, 1 << 20, "t.yaml", " \n", &none, Undeclared::Refuse).err().unwrap();
        assert!(e.to_string().contains("template is empty"), "{e}");
        let e = compile(&resolver, 10, "t.yaml", VM, &none, Undeclared::Refuse).err().unwrap();
        assert!(e.to_string().contains("the limit is 10"), "{e}");
    }
}
