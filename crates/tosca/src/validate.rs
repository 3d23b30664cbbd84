//! Checks on a loaded topology: node, relationship and policy types exist;
//! assigned properties and capabilities are defined by their types and
//! their values fit their definitions ([`crate::typecheck`]); requirement
//! targets, policy targets and function references name existing templates
//! and inputs ([`crate::calls`]); interface operations exist on their
//! interface types; groups have known types, node templates of the allowed
//! types as members and fitting properties; `substitution_mappings` fit the
//! substituted node type; workflows hold together ([`crate::workflows`]);
//! input defaults fit their types and constraints.

use crate::calls::{Ctx, check_functions};
use crate::diagnostics::{Diagnostic, Pos, codes};
use crate::template::{GroupTemplate, ServiceTemplate};
use crate::typecheck::ValueChecker;
use crate::types::{Reader, TypeKind};
use crate::yaml::{Key, Node};

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
        } else if let Some(default) = &input.default {
            if let Err(e) = crate::inputs::check_value(tpl, input, default) {
                err(diags, pos, e.0, format!("the default of input \"{name}\": {}", e.1));
            } else if let Some(problem) = crate::typecheck::integer_for_float(reg, input, default) {
                err(diags, pos, codes::TYPE, format!("the default of input \"{name}\": {problem}"));
            } else if let Some(note) = crate::typecheck::coercion(reg.primitive_of(&input.type_name), default) {
                diags.push(Diagnostic::warning(
                    file,
                    pos,
                    codes::TYPE_COERCED,
                    format!("the default of input \"{name}\": {note}; accepted, but write it as a {}", input.type_name),
                ));
            }
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
        ValueChecker { reg, file, diags }.assignments(
            &format!("node template \"{}\"", node.name),
            &defs,
            &node.properties,
            None,
        );
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
            ValueChecker { reg, file, diags }.assignments(
                &format!("node template \"{}\": capability \"{c}\"", node.name),
                &cdefs,
                props,
                None,
            );
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
        if let Some(ifaces) = node.interfaces.as_ref().and_then(Node::as_map) {
            operations(tpl, &node.name, type_name, ifaces, diags);
        }
        crate::matching::requirements(tpl, node, type_name, diags);
        crate::matching::node_template_filter(tpl, node, type_name, diags);
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
                        ValueChecker { reg, file, diags }.assignments(
                            &format!("node template \"{}\": requirement \"{}\"", node.name, req.name),
                            &rdefs,
                            &req.relationship_properties,
                            None,
                        );
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
            check_functions(tpl, v, Ctx::node(&node.name), diags);
        }
        for req in &node.requirements {
            for v in req.relationship_properties.values() {
                check_functions(tpl, v, Ctx { relationship: true, ..Ctx::node(&node.name) }, diags);
            }
        }
    }

    for (name, rel) in &tpl.relationships {
        match reg.resolve(TypeKind::Relationship, &rel.type_name) {
            None => err(
                diags,
                rel.type_pos,
                codes::UNKNOWN_TYPE,
                format!("relationship template \"{name}\" has unknown type \"{}\"", rel.type_name),
            ),
            Some(t) => {
                let rdefs = reg.properties(TypeKind::Relationship, t);
                ValueChecker { reg, file, diags }.assignments(
                    &format!("relationship template \"{name}\""),
                    &rdefs,
                    &rel.properties,
                    None,
                );
                for (p, v) in &rel.properties {
                    if !rdefs.contains_key(p) {
                        err(
                            diags,
                            v.pos,
                            codes::UNKNOWN_PROPERTY,
                            format!("relationship template \"{name}\": type {t} has no property \"{p}\""),
                        );
                    }
                    check_functions(tpl, v, Ctx { relationship: true, ..Ctx::default() }, diags);
                }
            }
        }
    }

    for policy in &tpl.policies {
        let pos = policy.type_pos;
        match reg.resolve(TypeKind::Policy, &policy.type_name) {
            None => err(
                diags,
                pos,
                codes::UNKNOWN_TYPE,
                format!("policy \"{}\" has unknown type \"{}\"", policy.name, policy.type_name),
            ),
            Some(t) => {
                let pdefs = reg.properties(TypeKind::Policy, t);
                ValueChecker { reg, file, diags }.assignments(
                    &format!("policy \"{}\"", policy.name),
                    &pdefs,
                    &policy.properties,
                    Some(pos),
                );
                for (p, v) in &policy.properties {
                    if !pdefs.contains_key(p) {
                        err(
                            diags,
                            v.pos,
                            codes::UNKNOWN_PROPERTY,
                            format!("policy \"{}\": type {t} has no property \"{p}\"", policy.name),
                        );
                    }
                    check_functions(tpl, v, Ctx::default(), diags);
                }
            }
        }
        for (t, tpos) in &policy.targets {
            if !tpl.nodes.contains_key(t) && !tpl.groups.contains_key(t) {
                err(
                    diags,
                    *tpos,
                    codes::UNKNOWN_NODE,
                    format!("policy \"{}\" targets \"{t}\", which is neither a node template nor a group", policy.name),
                );
            }
        }
    }

    for (name, group) in &tpl.groups {
        groups(tpl, name, group, diags);
    }

    if let Some(sub) = &tpl.substitution {
        substitution_mappings(tpl, sub, diags);
    }
    if let Some(workflows) = &tpl.workflows {
        crate::workflows::check(tpl, workflows, diags);
    }

    for (_, value) in tpl.outputs.values() {
        check_functions(tpl, value, Ctx { outputs: true, ..Ctx::default() }, diags);
    }
}

/// Checks a group: its type exists, its members are node templates of the
/// group type's member types, its properties fit the group type.
fn groups(tpl: &ServiceTemplate, name: &str, group: &GroupTemplate, diags: &mut Vec<Diagnostic>) {
    let reg = &tpl.registry;
    let file = tpl.file.as_str();
    let Some((type_name, type_pos)) = &group.type_name else {
        diags.push(Diagnostic::error(file, group.pos, codes::SYNTAX, format!("group \"{name}\" has no type")));
        return;
    };
    let Some(t) = reg.resolve(TypeKind::Group, type_name) else {
        let known = reg_names(tpl, TypeKind::Group);
        diags.push(Diagnostic::error(
            file,
            *type_pos,
            codes::UNKNOWN_TYPE,
            format!(
                "group \"{name}\" has unknown group type \"{type_name}\"{}",
                ServiceTemplate::hint(type_name, known.iter().map(String::as_str))
            ),
        ));
        return;
    };
    let allowed: Vec<String> = reg
        .ancestors(TypeKind::Group, t)
        .into_iter()
        .find(|d| !d.member_types.is_empty())
        .map(|d| d.member_types.clone())
        .unwrap_or_default();
    for (member, pos) in &group.members {
        let Some(node) = tpl.nodes.get(member) else {
            diags.push(Diagnostic::error(
                file,
                *pos,
                codes::UNKNOWN_NODE,
                format!(
                    "group \"{name}\": member \"{member}\" is not a node template{}",
                    ServiceTemplate::hint(member, tpl.node_names())
                ),
            ));
            continue;
        };
        let Some(member_type) = reg.resolve(TypeKind::Node, &node.type_name) else { continue };
        if !allowed.is_empty() && !allowed.iter().any(|a| reg.derives_from(TypeKind::Node, member_type, a)) {
            diags.push(Diagnostic::error(
                file,
                *pos,
                codes::GROUP_MEMBER,
                format!(
                    "group \"{name}\": member \"{member}\" is a {member_type}; group type {t} takes only {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let defs = reg.properties(TypeKind::Group, t);
    ValueChecker { reg, file, diags }.assignments(
        &format!("group \"{name}\""),
        &defs,
        &group.properties,
        Some(group.pos),
    );
    for (p, v) in &group.properties {
        if !defs.contains_key(p) {
            diags.push(Diagnostic::error(
                file,
                v.pos,
                codes::UNKNOWN_PROPERTY,
                format!(
                    "group \"{name}\": group type {t} has no property \"{p}\"{}",
                    ServiceTemplate::hint(p, defs.keys().map(String::as_str))
                ),
            ));
        }
        check_functions(tpl, v, Ctx::default(), diags);
    }
}

fn reg_names(tpl: &ServiceTemplate, kind: TypeKind) -> Vec<String> {
    tpl.registry.names(kind).into_iter().map(str::to_owned).collect()
}

/// Checks `substitution_mappings`: known keynames, the substituted node
/// type, an input for each of its required properties (unless properties
/// are mapped explicitly), capability and requirement mappings naming
/// existing node templates and their capabilities or requirements, and
/// the `substitution_filter` (TOSCA 1.3).
pub(crate) fn substitution_mappings(tpl: &ServiceTemplate, sub: &Node, diags: &mut Vec<Diagnostic>) {
    let file = tpl.file.as_str();
    let reg = &tpl.registry;
    let mut r = Reader { file, diags };
    let entries = r.map(sub, "substitution_mappings");
    let v13 = tpl.version.ends_with("1_3") || tpl.version.ends_with("1.3");
    let known: &[&str] = if v13 {
        &["node_type", "substitution_filter", "properties", "capabilities", "requirements", "attributes", "interfaces"]
    } else {
        &["node_type", "properties", "capabilities", "requirements", "attributes", "interfaces"]
    };
    r.check_keys_strict(entries, known, "substitution_mappings");
    let Some(type_node) = sub.get("node_type") else {
        r.error(sub.pos, codes::SYNTAX, "substitution_mappings needs a node_type".to_owned());
        return;
    };
    let type_name = type_node.scalar_text().unwrap_or_default();
    let Some(type_name) = reg.resolve(TypeKind::Node, &type_name) else {
        r.error(
            type_node.pos,
            codes::UNKNOWN_TYPE,
            format!("substitution_mappings: unknown node type \"{type_name}\""),
        );
        return;
    };
    if sub.get("properties").is_none() {
        for (name, def) in reg.properties(TypeKind::Node, type_name) {
            if def.required && def.default.is_none() && !tpl.inputs.contains_key(&name) {
                r.error(
                    type_node.pos,
                    codes::PROPERTY_REQUIRED,
                    format!(
                        "substitution_mappings: required property \"{name}\" of {type_name} has no input of that name in the topology"
                    ),
                );
            }
        }
    }
    for (section, what) in [("capabilities", "capability"), ("requirements", "requirement")] {
        let Some(m) = sub.get(section) else { continue };
        let own: Vec<String> = if section == "capabilities" {
            reg.capabilities(type_name).keys().cloned().collect()
        } else {
            reg.requirements(type_name).into_iter().map(|d| d.name).collect()
        };
        for (k, v) in r.map(m, &format!("substitution_mappings {section}")) {
            if !own.contains(&k.name) {
                r.error(
                    k.pos,
                    codes::SYNTAX,
                    format!("substitution_mappings: node type {type_name} has no {what} \"{}\"", k.name),
                );
            }
            let Some([node, inner]) = v.as_seq() else {
                if section == "capabilities" && v13 && v.as_map().is_some() {
                    continue;
                }
                r.error(
                    v.pos,
                    codes::SYNTAX,
                    format!("substitution_mappings: {what} \"{}\" maps to [node_template, {what}]", k.name),
                );
                continue;
            };
            let node_name = node.scalar_text().unwrap_or_default();
            let Some(nt) = tpl.nodes.get(&node_name) else {
                r.error(
                    node.pos,
                    codes::UNKNOWN_NODE,
                    format!("substitution_mappings: unknown node template \"{node_name}\""),
                );
                continue;
            };
            let inner_name = inner.scalar_text().unwrap_or_default();
            let defined = if section == "capabilities" {
                reg.capabilities(&nt.type_name).contains_key(&inner_name)
            } else {
                reg.requirements(&nt.type_name).iter().any(|d| d.name == inner_name)
            };
            if !defined && reg.get(TypeKind::Node, &nt.type_name).is_some() {
                r.error(
                    inner.pos,
                    codes::SYNTAX,
                    format!(
                        "substitution_mappings: node template \"{node_name}\" ({}) has no {what} \"{inner_name}\"",
                        nt.type_name
                    ),
                );
            }
        }
    }
    if let Some(filter) = sub.get("substitution_filter") {
        // TOSCA 1.3 writes the filter itself; tosca-parser wraps it in `node_filter:`.
        match filter.as_map() {
            Some([(k, inner)]) if k.name == "node_filter" => node_filter(&mut r, inner, "substitution_filter"),
            _ => node_filter(&mut r, filter, "substitution_filter"),
        }
    }
}

/// Checks the shape of a node filter: `properties` a list of maps,
/// `capabilities` a list of maps, each capability with such a `properties` list.
pub(crate) fn node_filter(r: &mut Reader<'_>, filter: &Node, what: &str) {
    let entries = r.map(filter, what);
    r.check_keys_strict(entries, &["properties", "capabilities"], what);
    let list_of_maps = |r: &mut Reader<'_>, n: &Node, section: &str| -> Vec<(Key, Node)> {
        match n.as_seq() {
            Some(items) => items
                .iter()
                .flat_map(|i| match i.as_map() {
                    Some(m) => m.to_vec(),
                    None => {
                        r.error(i.pos, codes::SYNTAX, format!("{what}: each entry of {section} is a map"));
                        Vec::new()
                    }
                })
                .collect(),
            None => {
                r.error(n.pos, codes::SYNTAX, format!("{what}: {section} must be a list"));
                Vec::new()
            }
        }
    };
    if let Some(p) = filter.get("properties") {
        list_of_maps(r, p, "properties");
    }
    if let Some(c) = filter.get("capabilities") {
        for (k, v) in list_of_maps(r, c, "capabilities") {
            // tosca-parser's samples indent `properties` as a sibling of the capability name.
            let Some(centries) = v.as_map() else { continue };
            let inner = format!("{what}: capability \"{}\"", k.name);
            r.check_keys_strict(centries, &["properties"], &inner);
            if let Some(p) = v.get("properties") {
                list_of_maps(r, p, "properties");
            }
        }
    }
}

/// Checks the operations assigned in a node template's interfaces against
/// the interface type (and the node type's interface definition); an
/// interface whose type is unknown or declares no operations is not checked.
fn operations(tpl: &ServiceTemplate, node: &str, type_name: &str, ifaces: &[(Key, Node)], diags: &mut Vec<Diagnostic>) {
    let reg = &tpl.registry;
    let defs = reg.interfaces(TypeKind::Node, type_name);
    for (ik, iv) in ifaces {
        let (itype, declared) = match defs.get(&ik.name) {
            Some(d) => d.clone(),
            None if ik.name == "Standard" => (Some("tosca.interfaces.node.lifecycle.Standard".to_owned()), Vec::new()),
            None => (Some(ik.name.clone()), Vec::new()),
        };
        let Some(itype) = itype.and_then(|t| reg.resolve(TypeKind::Interface, &t).map(str::to_owned)) else {
            continue;
        };
        let mut ops = reg.operations(&itype);
        if ops.is_empty() {
            continue;
        }
        ops.extend(declared);
        for (ok, _) in iv.as_map().unwrap_or_default() {
            if matches!(ok.name.as_str(), "type" | "inputs" | "description" | "operations" | "notifications") {
                continue;
            }
            if !ops.contains(&ok.name) {
                diags.push(Diagnostic::error(
                    &tpl.file,
                    ok.pos,
                    codes::UNKNOWN_OPERATION,
                    format!(
                        "node template \"{node}\": interface \"{}\" ({itype}) has no operation \"{}\"{}",
                        ik.name,
                        ok.name,
                        ServiceTemplate::hint(&ok.name, ops.iter().map(String::as_str))
                    ),
                ));
            }
        }
    }
}
