//! Static checks of function calls in a template's values: argument counts
//! and shapes (`concat`, `join`, `token`, `get_input`), declared inputs, and
//! for `get_property` / `get_attribute` the entity (a node or relationship
//! template, `SELF`, `SOURCE`, `TARGET`, `HOST`), then the property or
//! attribute on its type or on one of its capabilities, and whether an
//! index may follow.

use crate::diagnostics::{Diagnostic, Pos, codes};
use crate::functions::FUNCTIONS;
use crate::template::ServiceTemplate;
use crate::types::{PropertyDef, TypeKind};
use crate::yaml::{Node, NodeValue};

/// Where a value is: which node template `SELF` is, and whether it is in
/// `outputs` (no `HOST` there) or a relationship (`SOURCE`/`TARGET`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ctx<'a> {
    pub this: Option<&'a str>,
    pub outputs: bool,
    pub relationship: bool,
}

impl<'a> Ctx<'a> {
    pub fn node(name: &'a str) -> Self {
        Self { this: Some(name), ..Self::default() }
    }
}

/// Checks every function call inside `node`.
pub(crate) fn check_functions(tpl: &ServiceTemplate, node: &Node, ctx: Ctx<'_>, diags: &mut Vec<Diagnostic>) {
    match &node.value {
        NodeValue::Seq(items) => items.iter().for_each(|i| check_functions(tpl, i, ctx, diags)),
        NodeValue::Map(entries) => {
            if let [(k, arg)] = entries.as_slice()
                && FUNCTIONS.contains(&k.name.as_str())
            {
                Checker { tpl, diags }.call(&k.name, arg, k.pos, ctx);
            }
            entries.iter().for_each(|(_, v)| check_functions(tpl, v, ctx, diags));
        }
        _ => {}
    }
}

struct Checker<'t, 'd> {
    tpl: &'t ServiceTemplate,
    diags: &'d mut Vec<Diagnostic>,
}

/// What a `get_property`/`get_attribute` name refers to.
enum Found {
    Value(Box<PropertyDef>),
    /// A capability, with its type.
    Capability(String),
    /// A requirement (its target's values are reached through it).
    Requirement,
}

impl<'t> Checker<'t, '_> {
    fn error(&mut self, pos: Pos, code: &'static str, msg: String) {
        self.diags.push(Diagnostic::error(&self.tpl.file, pos, code, msg));
    }

    fn call(&mut self, name: &str, arg: &Node, pos: Pos, ctx: Ctx<'_>) {
        let args = arg.as_seq();
        match name {
            "get_input" => self.get_input(arg, pos),
            "get_property" | "get_attribute" => self.get_value(name, args.unwrap_or_default(), pos, ctx),
            "get_operation_output" => self.get_operation_output(args.unwrap_or_default(), pos, ctx),
            "get_artifact" => self.get_artifact(args.unwrap_or_default(), pos, ctx),
            "concat" => match args {
                Some(a) if !a.is_empty() => {}
                _ => self.error(pos, codes::FUNCTION, "concat expects a list of at least one argument".into()),
            },
            "join" => match args {
                Some([list, rest @ ..])
                    if rest.len() <= 1 && matches!(list.value, NodeValue::Seq(_)) || is_call(list) => {}
                _ => self.error(pos, codes::FUNCTION, "join expects [ [strings...], delimiter ]".into()),
            },
            "token" => match args {
                // The separator may be several characters: each one separates (TOSCA 1.3, 4.3.3).
                Some([_, sep, index]) => {
                    if sep.as_str().is_none_or(str::is_empty) && !is_call(sep) {
                        self.error(sep.pos, codes::FUNCTION, "token: the separators must be a non-empty string".into());
                    }
                    if !matches!(index.value, NodeValue::Int(i) if i >= 0) && !is_call(index) {
                        self.error(
                            index.pos,
                            codes::FUNCTION,
                            "token: the index must be a non-negative integer".into(),
                        );
                    }
                }
                _ => self.error(pos, codes::FUNCTION, "token expects [ string, separator, index ]".into()),
            },
            _ => {}
        }
    }

    fn get_input(&mut self, arg: &Node, pos: Pos) {
        let input = match &arg.value {
            NodeValue::Seq(s) => {
                let nested_allowed = !matches!(self.tpl.version.rsplit(['_', '.']).next(), Some("0" | "1"))
                    || self.tpl.version.is_empty();
                if s.len() > 1 && !nested_allowed {
                    self.error(
                        pos,
                        codes::FUNCTION,
                        format!(
                            "get_input takes one input name in {}; a path into the input needs TOSCA 1.2 or later",
                            self.tpl.version
                        ),
                    );
                    return;
                }
                s.first().and_then(Node::scalar_text)
            }
            _ => arg.scalar_text(),
        };
        match input {
            Some(i) if self.tpl.inputs.contains_key(&i) => {}
            Some(i) => self.error(
                arg.pos,
                codes::UNKNOWN_INPUT,
                format!(
                    "get_input names undeclared input \"{i}\"{}",
                    ServiceTemplate::hint(&i, self.tpl.inputs.keys().map(String::as_str))
                ),
            ),
            None => self.error(pos, codes::FUNCTION, "get_input expects an input name".into()),
        }
    }

    /// The node template `entity` names (`SELF`, `HOST`, a name), `None`
    /// when it is not checked statically (a relationship, `SOURCE`/`TARGET`, a
    /// host left to the orchestrator); an unknown name is reported.
    fn entity_node(&mut self, func: &str, entity: &Node, ctx: Ctx<'_>, host_allowed: bool) -> Option<&'t str> {
        let tpl = self.tpl;
        match entity.as_str()? {
            "SOURCE" | "TARGET" => None,
            "SELF" if ctx.relationship => None,
            "SELF" => ctx.this.and_then(|n| tpl.nodes.get_key_value(n)).map(|(k, _)| k.as_str()),
            "HOST" if host_allowed && !ctx.outputs => {
                ctx.this.and_then(|n| tpl.host_of(n)).and_then(|h| tpl.nodes.get_key_value(h)).map(|(k, _)| k.as_str())
            }
            name if tpl.nodes.contains_key(name) => tpl.nodes.get_key_value(name).map(|(k, _)| k.as_str()),
            name if tpl.relationships.contains_key(name) => None,
            name => {
                self.error(
                    entity.pos,
                    codes::UNKNOWN_NODE,
                    format!(
                        "{func} names unknown node template \"{name}\"{}",
                        ServiceTemplate::hint(name, tpl.node_names())
                    ),
                );
                None
            }
        }
    }

    /// `[ entity, interface, operation, output name ]`: the operation exists on the entity.
    fn get_operation_output(&mut self, args: &[Node], pos: Pos, ctx: Ctx<'_>) {
        if args.len() != 4 || args.iter().any(|a| a.scalar_text().is_none() && !is_call(a)) {
            self.error(
                pos,
                codes::FUNCTION,
                "get_operation_output expects [ entity, interface, operation, output name ]".into(),
            );
            return;
        }
        let Some(node) = self.entity_node("get_operation_output", &args[0], ctx, false) else { return };
        let (Some(iface), Some(op)) = (args[1].as_str(), args[2].as_str()) else { return };
        if let Err(msg) = interface_operation(self.tpl, node, iface, op) {
            self.error(args[1].pos, codes::UNKNOWN_OPERATION, format!("get_operation_output: {msg}"));
        }
    }

    /// `[ entity, artifact name, location?, remove? ]`: the artifact is
    /// defined on the node template or its type.
    fn get_artifact(&mut self, args: &[Node], pos: Pos, ctx: Ctx<'_>) {
        if !(2..=4).contains(&args.len()) {
            self.error(
                pos,
                codes::FUNCTION,
                "get_artifact expects [ entity, artifact name, location?, remove? ]".into(),
            );
            return;
        }
        let Some(node) = self.entity_node("get_artifact", &args[0], ctx, true) else { return };
        let Some(artifact) = args[1].as_str() else { return };
        let tpl = self.tpl;
        let nt = &tpl.nodes[node];
        let mut known = nt.artifact_names();
        let Some(type_name) = tpl.registry.resolve(TypeKind::Node, &nt.type_name) else { return };
        for def in tpl.registry.ancestors(TypeKind::Node, type_name) {
            known.extend(def.artifacts.iter().cloned());
        }
        if !known.iter().any(|a| a == artifact) {
            self.error(
                args[1].pos,
                codes::UNKNOWN_ARTIFACT,
                format!(
                    "get_artifact: node template \"{node}\" ({type_name}) has no artifact \"{artifact}\"{}",
                    if known.is_empty() {
                        " (it defines none)".to_owned()
                    } else {
                        ServiceTemplate::hint(artifact, known.iter().map(String::as_str))
                    }
                ),
            );
        }
    }

    fn get_value(&mut self, func: &str, args: &[Node], pos: Pos, ctx: Ctx<'_>) {
        if args.len() < 2 {
            self.error(pos, codes::FUNCTION, format!("{func} expects [entity, name, ...]"));
            return;
        }
        let tpl = self.tpl;
        let entity = args[0].scalar_text().unwrap_or_default();
        // The node templates in which the name is looked up.
        let nodes: Vec<&str> = match entity.as_str() {
            "SOURCE" | "TARGET" => return,
            // SELF in a relationship is the relationship.
            "SELF" if ctx.relationship => return,
            "SELF" => match ctx.this {
                Some(n) => vec![n],
                None => return,
            },
            "HOST" => {
                if ctx.outputs {
                    self.error(args[0].pos, codes::FUNCTION, format!("{func}: HOST is not allowed in outputs"));
                    return;
                }
                let Some(this) = ctx.this else { return };
                // None: a host left to the orchestrator; nothing to check.
                let Some(hosts) = self.hosts(this) else { return };
                if hosts.is_empty() {
                    self.error(
                        args[0].pos,
                        codes::FUNCTION,
                        format!(
                            "{func}: HOST in node template \"{this}\", which has no host (no tosca.relationships.HostedOn requirement)"
                        ),
                    );
                    return;
                }
                hosts
            }
            // As outputs are evaluated: a value not on the node is looked up on its hosts.
            name if tpl.nodes.contains_key(name) => {
                let mut nodes = vec![name];
                nodes.extend(self.hosts(name).unwrap_or_default());
                nodes
            }
            name if tpl.relationships.contains_key(name) => return,
            name => {
                self.error(
                    args[0].pos,
                    codes::UNKNOWN_NODE,
                    format!(
                        "{func} names unknown node template \"{name}\"{}",
                        ServiceTemplate::hint(name, tpl.node_names())
                    ),
                );
                return;
            }
        };
        let Some(name) = args[1].scalar_text() else { return };
        let attribute = func == "get_attribute";
        let mut found = None;
        let mut typed = true;
        for n in &nodes {
            let node = &tpl.nodes[*n];
            let Some(type_name) = tpl.registry.resolve(TypeKind::Node, &node.type_name) else {
                typed = false;
                continue;
            };
            if let Some(f) = self.lookup(type_name, &name, attribute) {
                found = Some(f);
                break;
            }
        }
        let Some(found) = found else {
            if typed {
                let what = if attribute { "attribute" } else { "property" };
                let code = if attribute { codes::UNKNOWN_ATTRIBUTE } else { codes::UNKNOWN_PROPERTY };
                self.error(
                    args[1].pos,
                    code,
                    format!(
                        "{func}: {what} \"{name}\" is not defined on node template \"{}\" ({}) nor its capabilities",
                        nodes[0], tpl.nodes[nodes[0]].type_name
                    ),
                );
            }
            return;
        };
        match found {
            Found::Requirement => {}
            Found::Capability(cap_type) => {
                let Some(cap_name) = args.get(2).and_then(Node::scalar_text) else { return };
                let reg = &tpl.registry;
                let mut defs = reg.properties(TypeKind::Capability, &cap_type);
                if attribute {
                    defs.extend(reg.attributes(TypeKind::Capability, &cap_type));
                }
                match defs.get(&cap_name) {
                    Some(def) => self.index(func, def, &args[3..]),
                    None if reg.get(TypeKind::Capability, &cap_type).is_some() => {
                        let what = if attribute { "attribute" } else { "property" };
                        let code = if attribute { codes::UNKNOWN_ATTRIBUTE } else { codes::UNKNOWN_PROPERTY };
                        self.error(
                            args[2].pos,
                            code,
                            format!(
                                "{func}: {what} \"{cap_name}\" is not defined on capability \"{name}\" ({cap_type}) of node template \"{}\"",
                                nodes[0]
                            ),
                        );
                    }
                    None => {}
                }
            }
            Found::Value(def) => self.index(func, &def, &args[2..]),
        }
    }

    /// Looks `name` up on node type `type_name`: attributes (with
    /// `attribute`) and properties, then capabilities, then requirements.
    fn lookup(&self, type_name: &str, name: &str, attribute: bool) -> Option<Found> {
        let reg = &self.tpl.registry;
        if attribute && let Some(def) = reg.attributes(TypeKind::Node, type_name).swap_remove(name) {
            return Some(Found::Value(Box::new(def)));
        }
        if let Some(def) = reg.properties(TypeKind::Node, type_name).swap_remove(name) {
            return Some(Found::Value(Box::new(def)));
        }
        let caps = reg.capabilities(type_name);
        if let Some(cap) = caps.get(name) {
            return Some(Found::Capability(cap.type_name.clone()));
        }
        if reg.requirements(type_name).iter().any(|r| r.name == name) {
            return Some(Found::Requirement);
        }
        // As tosca-parser does: a value of one of the node's capabilities.
        caps.values().find_map(|c| {
            let mut defs = reg.properties(TypeKind::Capability, &c.type_name);
            if attribute {
                defs.extend(reg.attributes(TypeKind::Capability, &c.type_name));
            }
            defs.swap_remove(name).map(|d| Found::Value(Box::new(d)))
        })
    }

    /// Checks that indexes or keys after a value name fit its type.
    fn index(&mut self, func: &str, def: &PropertyDef, rest: &[Node]) {
        let Some(first) = rest.first() else { return };
        let reg = &self.tpl.registry;
        let base = reg.primitive_of(&def.type_name);
        let ok = match base {
            "list" => matches!(first.value, NodeValue::Int(i) if i >= 0) || is_call(first),
            "map" => true,
            t if !crate::types::PRIMITIVE_TYPES.contains(&t) => true,
            _ => false,
        };
        if !ok {
            self.error(
                first.pos,
                codes::FUNCTION,
                format!(
                    "{func}: \"{}\" is a {} and cannot be followed by {}",
                    def.name,
                    def.type_name,
                    first.to_json()
                ),
            );
        }
    }

    /// The node templates that host `node`, nearest first, along
    /// requirements named `host` or whose relationship (assigned or
    /// defined by the node type) is a HostedOn; `None` when a host
    /// requirement has no node template as target (the orchestrator picks it).
    fn hosts(&self, node: &str) -> Option<Vec<&'t str>> {
        let tpl = self.tpl;
        let reg = &tpl.registry;
        let hosted_on = |t: &str| reg.derives_from(TypeKind::Relationship, t, "tosca.relationships.HostedOn");
        let mut out: Vec<&'t str> = Vec::new();
        let mut cur = node;
        for _ in 0..16 {
            let Some(n) = tpl.nodes.get(cur) else { break };
            let defs = reg.requirements(&n.type_name);
            let mut next = None;
            for r in &n.requirements {
                let defined = defs.iter().find(|d| d.name == r.name).and_then(|d| d.relationship.as_deref());
                let hosted = r.name == "host"
                    || r.relationship_type.as_deref().is_some_and(hosted_on)
                    || r.relationship_template.as_deref().is_some_and(|t| {
                        tpl.relationships.get(t).is_some_and(|rt| hosted_on(&rt.type_name)) || hosted_on(t)
                    })
                    || defined.is_some_and(hosted_on);
                if !hosted {
                    continue;
                }
                match r.node.as_ref().map(|(t, _)| t.as_str()) {
                    Some(t) if tpl.nodes.contains_key(t) => {
                        next = tpl.nodes.get_key_value(t).map(|(k, _)| k.as_str());
                        break;
                    }
                    _ => return if out.is_empty() { None } else { Some(out) },
                }
            }
            match next {
                Some(h) if !out.contains(&h) && h != node => {
                    out.push(h);
                    cur = h;
                }
                _ => break,
            }
        }
        Some(out)
    }
}

fn is_call(node: &Node) -> bool {
    crate::typecheck::is_call(node)
}

const STANDARD: &str = "tosca.interfaces.node.lifecycle.Standard";

/// Whether node template `node` has interface `iface` (by name, or by
/// interface type) with operation `op`; the error says what is missing.
/// Interfaces whose type is unknown or declares no operations are not checked.
pub(crate) fn interface_operation(tpl: &ServiceTemplate, node: &str, iface: &str, op: &str) -> Result<(), String> {
    let reg = &tpl.registry;
    let Some(type_name) = tpl.node_type(node).and_then(|t| reg.resolve(TypeKind::Node, t)) else { return Ok(()) };
    let defs = reg.interfaces(TypeKind::Node, type_name);
    let in_template = tpl.nodes[node].interfaces.as_ref().and_then(|i| i.get(iface)).is_some();
    let found = defs.get(iface).cloned().or_else(|| {
        let wanted = reg.resolve(TypeKind::Interface, iface)?;
        defs.values()
            .find(|(t, _)| t.as_deref().and_then(|t| reg.resolve(TypeKind::Interface, t)) == Some(wanted))
            .cloned()
    });
    let (itype, declared) = match (found, in_template) {
        (Some(d), _) => d,
        (None, true) => (Some(iface.to_owned()), Vec::new()),
        // Every node has the lifecycle interface, whether its type says so or not.
        (None, false)
            if iface == "Standard"
                || reg.resolve(TypeKind::Interface, iface) == reg.resolve(TypeKind::Interface, STANDARD) =>
        {
            (Some(STANDARD.to_owned()), Vec::new())
        }
        (None, false) => {
            return Err(format!(
                "node template \"{node}\" ({type_name}) has no interface \"{iface}\"{}",
                ServiceTemplate::hint(iface, defs.keys().map(String::as_str))
            ));
        }
    };
    let Some(itype) = itype.and_then(|t| reg.resolve(TypeKind::Interface, &t).map(str::to_owned)) else {
        return Ok(());
    };
    let mut ops = reg.operations(&itype);
    if ops.is_empty() {
        return Ok(());
    }
    ops.extend(declared);
    if ops.iter().any(|o| o == op) {
        Ok(())
    } else {
        Err(format!(
            "interface \"{iface}\" ({itype}) of node template \"{node}\" has no operation \"{op}\"{}",
            ServiceTemplate::hint(op, ops.iter().map(String::as_str))
        ))
    }
}
