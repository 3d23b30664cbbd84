//! Evaluation of TOSCA intrinsic functions (`get_input`, `get_property`,
//! `concat`, `join`, `token`) and the attribute function `get_attribute`
//! over YAML values, producing JSON. Anything that cannot be evaluated yet
//! (an attribute not known before deployment) becomes `null`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::diagnostics::{Diagnostic, codes};
use crate::template::ServiceTemplate;
use crate::types::TypeKind;
use crate::values::scalar_text;
use crate::yaml::{Node, NodeValue};

/// Function names recognised in values.
pub(crate) const FUNCTIONS: &[&str] = &[
    "get_input",
    "get_property",
    "get_attribute",
    "concat",
    "join",
    "token",
    "get_operation_output",
    "get_nodes_of_type",
    "get_artifact",
];

/// Per Compute node template, one attribute map per instance.
pub type InstanceAttributes = BTreeMap<String, Vec<Map<String, Value>>>;

/// Evaluates values of one template with given inputs (and attributes).
pub(crate) struct Evaluator<'a> {
    tpl: &'a ServiceTemplate,
    inputs: &'a Map<String, Value>,
    attributes: Option<&'a InstanceAttributes>,
    pub errors: Vec<Diagnostic>,
    depth: usize,
}

/// Deepest nesting of function evaluation (guards against get_property loops).
const MAX_DEPTH: usize = 32;

impl<'a> Evaluator<'a> {
    pub fn new(
        tpl: &'a ServiceTemplate,
        inputs: &'a Map<String, Value>,
        attributes: Option<&'a InstanceAttributes>,
    ) -> Self {
        Self { tpl, inputs, attributes, errors: Vec::new(), depth: 0 }
    }

    fn fail(&mut self, node: &Node, msg: String) -> Value {
        self.errors.push(Diagnostic::error(&self.tpl.file, node.pos, codes::FUNCTION, msg));
        Value::Null
    }

    /// Evaluates `node` in the context of node template `this` (for SELF/HOST).
    pub fn eval(&mut self, node: &Node, this: Option<&str>) -> Value {
        if self.depth > MAX_DEPTH {
            return self.fail(node, "functions nest too deeply (a get_property loop?)".into());
        }
        self.depth += 1;
        let v = self.eval_inner(node, this);
        self.depth -= 1;
        v
    }

    fn eval_inner(&mut self, node: &Node, this: Option<&str>) -> Value {
        match &node.value {
            NodeValue::Seq(items) => Value::Array(items.iter().map(|i| self.eval(i, this)).collect()),
            NodeValue::Map(entries) => {
                if let [(k, arg)] = entries.as_slice()
                    && FUNCTIONS.contains(&k.name.as_str())
                {
                    return self.call(&k.name, arg, this);
                }
                Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), self.eval(v, this))).collect())
            }
            _ => node.to_json(),
        }
    }

    fn call(&mut self, name: &str, arg: &Node, this: Option<&str>) -> Value {
        let args: Vec<&Node> = match &arg.value {
            NodeValue::Seq(s) => s.iter().collect(),
            _ => vec![arg],
        };
        match name {
            "get_input" => {
                let Some(input) = args.first().and_then(|a| a.scalar_text()) else {
                    return self.fail(arg, "get_input expects an input name".into());
                };
                let value = self
                    .inputs
                    .get(&input)
                    .filter(|v| !v.is_null())
                    .cloned()
                    .or_else(|| self.tpl.inputs.get(&input).and_then(|i| i.default.clone()))
                    .unwrap_or(Value::Null);
                let path: Vec<Value> = args[1..].iter().map(|a| self.eval(a, this)).collect();
                walk(value, &path)
            }
            "get_property" => {
                let Some(entity) = self.entity(args.first(), this) else { return Value::Null };
                let rest: Vec<Value> = args[1..].iter().map(|a| self.eval(a, this)).collect();
                self.property(&entity, &rest)
            }
            "get_attribute" => {
                let Some(entity) = self.entity(args.first(), this) else { return Value::Null };
                let rest: Vec<Value> = args[1..].iter().map(|a| self.eval(a, this)).collect();
                self.attribute(&entity, &rest)
            }
            "concat" => {
                let mut out = String::new();
                for a in &args {
                    match self.eval(a, this) {
                        Value::Null => return Value::Null,
                        v => out.push_str(&scalar_text(&v).unwrap_or_else(|| v.to_string())),
                    }
                }
                Value::String(out)
            }
            "join" => {
                let list = match args.first().map(|a| self.eval(a, this)) {
                    Some(Value::Array(l)) => l,
                    _ => return self.fail(arg, "join expects [ [list of strings], delimiter ]".into()),
                };
                let delimiter =
                    args.get(1).map(|d| self.eval(d, this)).and_then(|d| scalar_text(&d)).unwrap_or_default();
                let mut parts = Vec::new();
                for v in list {
                    match v {
                        Value::Null => return Value::Null,
                        v => parts.push(scalar_text(&v).unwrap_or_else(|| v.to_string())),
                    }
                }
                Value::String(parts.join(&delimiter))
            }
            "token" => {
                if args.len() != 3 {
                    return self.fail(arg, "token expects [string, separators, index]".into());
                }
                let text = self.eval(args[0], this);
                let seps = scalar_text(&self.eval(args[1], this)).unwrap_or_default();
                let index = crate::values::as_integer(&self.eval(args[2], this));
                match (scalar_text(&text), index.and_then(|i| usize::try_from(i).ok())) {
                    (Some(t), Some(i)) => {
                        t.split(|c| seps.contains(c)).nth(i).map(|s| Value::String(s.to_owned())).unwrap_or(Value::Null)
                    }
                    _ => Value::Null,
                }
            }
            _ => Value::Null,
        }
    }

    fn entity(&mut self, arg: Option<&&Node>, this: Option<&str>) -> Option<String> {
        let name = arg.and_then(|a| a.scalar_text())?;
        match name.as_str() {
            "SELF" => this.map(str::to_owned),
            "HOST" => this.and_then(|t| self.tpl.host_of(t)).map(str::to_owned),
            "SOURCE" | "TARGET" => None,
            _ => self.tpl.nodes.contains_key(&name).then_some(name),
        }
    }

    /// `get_property` on node template `node` with `[name, nested...]` or
    /// `[capability_or_requirement, name, nested...]`.
    fn property(&mut self, node: &str, rest: &[Value]) -> Value {
        let tpl = self.tpl;
        let Some(nt) = tpl.nodes.get(node) else { return Value::Null };
        let Some(first) = rest.first().and_then(Value::as_str) else { return Value::Null };
        let reg = &tpl.registry;
        if let Some(v) = nt.properties.get(first) {
            let v = self.eval(v, Some(node));
            return walk(v, &rest[1..]);
        }
        let defs = reg.properties(TypeKind::Node, &nt.type_name);
        if let Some(def) = defs.get(first) {
            return walk(def.default.clone().unwrap_or(Value::Null), &rest[1..]);
        }
        let Some(second) = rest.get(1).and_then(Value::as_str) else { return Value::Null };
        if let Some(v) = self.capability_property(node, first, second) {
            return walk(v, &rest[2..]);
        }
        if let Some(target) =
            nt.requirements.iter().find(|r| r.name == first).and_then(|r| r.node.as_ref()).map(|(t, _)| t.clone())
        {
            return self.property(&target, &rest[1..]);
        }
        Value::Null
    }

    /// A capability property of a node template: the assigned value,
    /// else the capability type's default.
    pub fn capability_property(&mut self, node: &str, capability: &str, property: &str) -> Option<Value> {
        let tpl = self.tpl;
        let nt = tpl.nodes.get(node)?;
        if let Some(v) = nt.capabilities.get(capability).and_then(|c| c.get(property)) {
            return Some(self.eval(v, Some(node)));
        }
        let cap = tpl.registry.capabilities(&nt.type_name).get(capability)?.clone();
        tpl.registry.properties(TypeKind::Capability, &cap.type_name).get(property)?.default.clone()
    }

    /// A node template property: the assigned value, else the type's default.
    pub fn node_property(&mut self, node: &str, property: &str) -> Option<Value> {
        Some(self.property(node, &[Value::String(property.to_owned())])).filter(|v| !v.is_null())
    }

    /// `get_attribute` on node template `node` with `[attribute, index?,
    /// nested...]` or `[capability, attribute, index?, nested...]`, from the
    /// instances' reported attributes; an attribute no instance reports is
    /// the property of the same name, which TOSCA reflects as an attribute
    /// (so `[vm, os_users, 0, os_user_name]` reads the template's value).
    fn attribute(&mut self, node: &str, rest: &[Value]) -> Value {
        let Some(attrs) = self.attributes else { return Value::Null };
        let Some(first) = rest.first().and_then(Value::as_str) else { return Value::Null };
        let instances = attrs
            .get(node)
            .or_else(|| self.tpl.compute_of(node).and_then(|c| attrs.get(c)))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let capability = rest.get(1).and_then(Value::as_str).filter(|_| self.has_capability(node, first));
        let (values, after, listed): (Vec<Value>, &[Value], bool) = match capability {
            Some(attribute) => (
                instances.iter().map(|m| m.get(first).map_or(Value::Null, |c| c[attribute].clone())).collect(),
                &rest[2..],
                // As IM: a Compute's endpoint credential is one per instance.
                attribute == "credential",
            ),
            None => (
                instances.iter().map(|m| m.get(first).cloned().unwrap_or(Value::Null)).collect(),
                &rest[1..],
                matches!(first, "public_address" | "private_address"),
            ),
        };
        if values.iter().all(Value::is_null) {
            return self.property(node, rest);
        }
        let index = after.first().and_then(crate::values::as_integer).and_then(|i| usize::try_from(i).ok());
        match index {
            Some(i) => walk(values.get(i).cloned().unwrap_or(Value::Null), &after[1..]),
            None if listed || values.len() != 1 => Value::Array(values.into_iter().map(|v| walk(v, after)).collect()),
            None => walk(values.into_iter().next().unwrap_or(Value::Null), after),
        }
    }

    /// Whether node template `node` has capability `name` (by its type).
    fn has_capability(&self, node: &str, name: &str) -> bool {
        let Some(nt) = self.tpl.nodes.get(node) else { return false };
        nt.capabilities.contains_key(name) || self.tpl.registry.capabilities(&nt.type_name).contains_key(name)
    }
}

/// Follows keys and indexes into a value; `null` when absent.
fn walk(mut v: Value, path: &[Value]) -> Value {
    for step in path {
        v = match (v, step) {
            (Value::Array(mut a), s) => match crate::values::as_integer(s).and_then(|i| usize::try_from(i).ok()) {
                Some(i) if i < a.len() => a.swap_remove(i),
                _ => Value::Null,
            },
            (Value::Object(mut o), Value::String(k)) => o.remove(k).unwrap_or(Value::Null),
            _ => Value::Null,
        };
    }
    v
}

impl ServiceTemplate {
    /// Evaluates the template's outputs. `inputs` are the resolved inputs
    /// ([`ServiceTemplate::resolve_inputs`]); `attributes` holds, per Compute
    /// node template, one map per instance (`tosca_id`, `public_address`,
    /// `private_address`, ..., and a capability's attributes as a map under
    /// its name: `endpoint: {credential: {user, token_type, token}}`).
    ///
    /// `get_attribute: [node, public_address]` (or `private_address`, or
    /// `[node, endpoint, credential]`) gives the list of the values of all
    /// instances, even for one instance (as the Infrastructure Manager
    /// does); with an index it gives one value, and keys after the index
    /// go into it. Other attributes without index give the value for a
    /// single instance and a list for several. For a node that is not a
    /// Compute, `host` requirements are followed down to its Compute. An
    /// attribute no instance reports is the property of the same name;
    /// whatever cannot be evaluated yet is `null`.
    pub fn evaluate_outputs(&self, inputs: &Map<String, Value>, attributes: &InstanceAttributes) -> Map<String, Value> {
        let mut ev = Evaluator::new(self, inputs, Some(attributes));
        self.outputs.iter().map(|(name, (_, value))| (name.clone(), ev.eval(value, None))).collect()
    }

    /// The description of each output, for display.
    pub fn output_descriptions(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.outputs.iter().map(|(k, (d, _))| (k.as_str(), d.as_deref()))
    }
}
