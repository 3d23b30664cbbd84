//! Checks on a loaded topology: node, relationship and policy types exist;
//! assigned properties and capabilities are defined by their types; requirement
//! targets, policy targets and function references name existing templates
//! and inputs; input defaults fit their types and constraints.

use crate::diagnostics::{Diagnostic, Pos, codes};
use crate::functions::FUNCTIONS;
use crate::template::ServiceTemplate;
use crate::types::TypeKind;
use crate::yaml::{Node, NodeValue};

pub(crate) fn validate(tpl: &ServiceTemplate, diags: &mut Vec<Diagnostic>) {
    let file = tpl.file.as_str();
    let err = |diags: &mut Vec<Diagnostic>, pos: Pos, code: &'static str, msg: String| {
        diags.push(Diagnostic::error(file, pos, code, msg))
    };
    let reg = &tpl.registry;

    for (name, input) in &tpl.inputs {
        let pos = tpl.input_pos[name];
        if !reg.is_value_type(&input.type_name) {
            err(diags, pos, codes::UNKNOWN_TYPE, format!("input \"{name}\" has unknown type \"{}\"", input.type_name));
        } else if let Some(default) = &input.default
            && let Err(e) = crate::inputs::check_value(tpl, input, default)
        {
            err(diags, pos, e.0, format!("the default of input \"{name}\": {}", e.1));
        }
    }

    for node in tpl.nodes.values() {
        if node.type_name.is_empty() {
            err(diags, node.pos, codes::SYNTAX, format!("node template \"{}\" has no type", node.name));
            continue;
        }
        let Some(type_name) = reg.resolve(TypeKind::Node, &node.type_name) else {
            let known = reg_names(tpl, TypeKind::Node);
            err(
                diags,
                node.pos,
                codes::UNKNOWN_TYPE,
                format!(
                    "node template \"{}\" has unknown node type \"{}\"{}",
                    node.name,
                    node.type_name,
                    ServiceTemplate::hint(&node.type_name, known.iter().map(String::as_str))
                ),
            );
            continue;
        };
        if !reg.chain_is_complete(TypeKind::Node, type_name) {
            err(
                diags,
                node.pos,
                codes::UNKNOWN_TYPE,
                format!(
                    "node template \"{}\": node type {type_name} derives from an unknown or cyclic type",
                    node.name
                ),
            );
        }
        let defs = reg.properties(TypeKind::Node, type_name);
        for (p, v) in &node.properties {
            if !defs.contains_key(p) {
                err(
                    diags,
                    v.pos,
                    codes::UNKNOWN_PROPERTY,
                    format!(
                        "node template \"{}\": node type {type_name} has no property \"{p}\"{}",
                        node.name,
                        ServiceTemplate::hint(p, defs.keys().map(String::as_str))
                    ),
                );
            }
        }
        for (p, def) in &defs {
            if def.required && def.default.is_none() && !node.properties.contains_key(p) {
                err(
                    diags,
                    node.pos,
                    codes::PROPERTY_REQUIRED,
                    format!("node template \"{}\": required property \"{p}\" of {type_name} has no value", node.name),
                );
            }
        }
        let caps = reg.capabilities(type_name);
        for (c, props) in &node.capabilities {
            let Some(cap) = caps.get(c) else {
                let pos = props.values().next().map(|v| v.pos).unwrap_or(node.pos);
                err(
                    diags,
                    pos,
                    codes::UNKNOWN_CAPABILITY,
                    format!(
                        "node template \"{}\": node type {type_name} has no capability \"{c}\"{}",
                        node.name,
                        ServiceTemplate::hint(c, caps.keys().map(String::as_str))
                    ),
                );
                continue;
            };
            let cdefs = reg.properties(TypeKind::Capability, &cap.type_name);
            for (p, v) in props {
                if !cdefs.contains_key(p) {
                    err(
                        diags,
                        v.pos,
                        codes::UNKNOWN_PROPERTY,
                        format!(
                            "node template \"{}\": capability \"{c}\" ({}) has no property \"{p}\"{}",
                            node.name,
                            cap.type_name,
                            ServiceTemplate::hint(p, cdefs.keys().map(String::as_str))
                        ),
                    );
                }
            }
        }
        let req_defs = reg.requirements(type_name);
        for req in &node.requirements {
            if !req_defs.iter().any(|d| d.name == req.name) {
                diags.push(Diagnostic::warning(
                    file,
                    req.pos,
                    codes::UNKNOWN_REQUIREMENT,
                    format!(
                        "node template \"{}\": node type {type_name} declares no requirement \"{}\"",
                        node.name, req.name
                    ),
                ));
            }
            if let Some((target, pos)) = &req.node {
                let known = tpl.nodes.contains_key(target) || reg.get(TypeKind::Node, target).is_some();
                if !known {
                    if req.name == "host" {
                        // INDIGO leaves some hosts to the orchestrator.
                        diags.push(Diagnostic::warning(
                            file,
                            *pos,
                            codes::UNKNOWN_NODE,
                            format!("node template \"{}\": host \"{target}\" is not a node template here", node.name),
                        ));
                    } else {
                        err(
                            diags,
                            *pos,
                            codes::UNKNOWN_NODE,
                            format!(
                                "node template \"{}\": requirement \"{}\" names unknown node template \"{target}\"{}",
                                node.name,
                                req.name,
                                ServiceTemplate::hint(target, tpl.node_names())
                            ),
                        );
                    }
                }
            }
            if let Some(rel) = &req.relationship_type {
                match reg.resolve(TypeKind::Relationship, rel) {
                    None => err(
                        diags,
                        req.pos,
                        codes::UNKNOWN_TYPE,
                        format!(
                            "node template \"{}\": requirement \"{}\" has unknown relationship type \"{rel}\"",
                            node.name, req.name
                        ),
                    ),
                    Some(rel) => {
                        let rdefs = reg.properties(TypeKind::Relationship, rel);
                        for (p, v) in &req.relationship_properties {
                            if !rdefs.contains_key(p) {
                                err(
                                    diags,
                                    v.pos,
                                    codes::UNKNOWN_PROPERTY,
                                    format!("relationship type {rel} has no property \"{p}\""),
                                );
                            }
                        }
                    }
                }
            }
            if let Some(rt) = &req.relationship_template {
                let is_type = reg.get(TypeKind::Relationship, rt).is_some();
                if !is_type && !tpl.relationships.contains_key(rt) {
                    err(
                        diags,
                        req.pos,
                        codes::UNKNOWN_NODE,
                        format!(
                            "node template \"{}\": requirement \"{}\" names unknown relationship template \"{rt}\"",
                            node.name, req.name
                        ),
                    );
                }
            }
        }
        for v in
            node.properties.values().chain(node.capabilities.values().flat_map(|c| c.values())).chain(node.other.iter())
        {
            check_functions(tpl, v, diags);
        }
        for req in &node.requirements {
            for v in req.relationship_properties.values() {
                check_functions(tpl, v, diags);
            }
        }
    }

    for (name, rel) in &tpl.relationships {
        match reg.resolve(TypeKind::Relationship, &rel.type_name) {
            None => err(
                diags,
                Pos::default(),
                codes::UNKNOWN_TYPE,
                format!("relationship template \"{name}\" has unknown type \"{}\"", rel.type_name),
            ),
            Some(t) => {
                let rdefs = reg.properties(TypeKind::Relationship, t);
                for (p, v) in &rel.properties {
                    if !rdefs.contains_key(p) {
                        err(
                            diags,
                            v.pos,
                            codes::UNKNOWN_PROPERTY,
                            format!("relationship template \"{name}\": type {t} has no property \"{p}\""),
                        );
                    }
                    check_functions(tpl, v, diags);
                }
            }
        }
    }

    for policy in &tpl.policies {
        let pos = policy.properties.values().next().map(|v| v.pos).unwrap_or_default();
        match reg.resolve(TypeKind::Policy, &policy.type_name) {
            None => err(
                diags,
                pos,
                codes::UNKNOWN_TYPE,
                format!("policy \"{}\" has unknown type \"{}\"", policy.name, policy.type_name),
            ),
            Some(t) => {
                let pdefs = reg.properties(TypeKind::Policy, t);
                for (p, v) in &policy.properties {
                    if !pdefs.contains_key(p) {
                        err(
                            diags,
                            v.pos,
                            codes::UNKNOWN_PROPERTY,
                            format!("policy \"{}\": type {t} has no property \"{p}\"", policy.name),
                        );
                    }
                    check_functions(tpl, v, diags);
                }
            }
        }
        for t in &policy.targets {
            if !tpl.nodes.contains_key(t) && !tpl.groups.contains_key(t) {
                err(
                    diags,
                    pos,
                    codes::UNKNOWN_NODE,
                    format!("policy \"{}\" targets \"{t}\", which is neither a node template nor a group", policy.name),
                );
            }
        }
    }

    for (_, value) in tpl.outputs.values() {
        check_functions(tpl, value, diags);
    }
}

fn reg_names(tpl: &ServiceTemplate, kind: TypeKind) -> Vec<String> {
    tpl.registry.names(kind).into_iter().map(str::to_owned).collect()
}

/// Checks every function call inside `node`: known inputs and templates.
pub(crate) fn check_functions(tpl: &ServiceTemplate, node: &Node, diags: &mut Vec<Diagnostic>) {
    match &node.value {
        NodeValue::Seq(items) => items.iter().for_each(|i| check_functions(tpl, i, diags)),
        NodeValue::Map(entries) => {
            if let [(k, arg)] = entries.as_slice()
                && FUNCTIONS.contains(&k.name.as_str())
            {
                check_call(tpl, &k.name, arg, k.pos, diags);
            }
            entries.iter().for_each(|(_, v)| check_functions(tpl, v, diags));
        }
        _ => {}
    }
}

fn check_call(tpl: &ServiceTemplate, name: &str, arg: &Node, pos: Pos, diags: &mut Vec<Diagnostic>) {
    let file = tpl.file.as_str();
    match name {
        "get_input" => {
            let input = match &arg.value {
                NodeValue::Seq(s) => s.first().and_then(Node::scalar_text),
                _ => arg.scalar_text(),
            };
            match input {
                Some(i) if tpl.inputs.contains_key(&i) => {}
                Some(i) => diags.push(Diagnostic::error(
                    file,
                    arg.pos,
                    codes::UNKNOWN_INPUT,
                    format!(
                        "get_input names undeclared input \"{i}\"{}",
                        ServiceTemplate::hint(&i, tpl.inputs.keys().map(String::as_str))
                    ),
                )),
                None => diags.push(Diagnostic::error(file, pos, codes::FUNCTION, "get_input expects an input name")),
            }
        }
        "get_property" | "get_attribute" => {
            let args = arg.as_seq().unwrap_or_default();
            if args.len() < 2 {
                diags.push(Diagnostic::error(
                    file,
                    pos,
                    codes::FUNCTION,
                    format!("{name} expects [entity, name, ...]"),
                ));
                return;
            }
            let entity = args[0].scalar_text().unwrap_or_default();
            let keyword = matches!(entity.as_str(), "SELF" | "SOURCE" | "TARGET" | "HOST");
            if !keyword && !tpl.nodes.contains_key(&entity) && !tpl.relationships.contains_key(&entity) {
                diags.push(Diagnostic::error(
                    file,
                    args[0].pos,
                    codes::UNKNOWN_NODE,
                    format!(
                        "{name} names unknown node template \"{entity}\"{}",
                        ServiceTemplate::hint(&entity, tpl.node_names())
                    ),
                ));
            }
        }
        "concat" | "join" | "token" if arg.as_seq().is_none() => {
            diags.push(Diagnostic::error(file, pos, codes::FUNCTION, format!("{name} expects a list of arguments")));
        }
        _ => {}
    }
}
