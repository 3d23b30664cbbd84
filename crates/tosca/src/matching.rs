//! Requirement assignments against the requirement definitions of their
//! node type: how many times each requirement is assigned (`occurrences`),
//! and whether each target fits — it offers a capability compatible with
//! the definition's capability type (the one the assignment names, by
//! capability name or type, or any of its capabilities), it is of the
//! definition's node type, and its capability accepts the source node type
//! (`valid_source_types`).
//!
//! The relationship an assignment names (type or template) must be the
//! definition's relationship type or derive from it (`E-RELATIONSHIP-TYPE`),
//! and the target capability must be of one of the `valid_target_types` of
//! the relationship in effect (the assignment's, else the definition's).
//! A requirement's `node_filter` names properties and capabilities of the
//! node type it selects (the assignment's node type, else the definition's)
//! and its constraint clauses are well formed; so does a node template's
//! own `node_filter` (against its type, with the `select` directive).
//!
//! The policy, for real-world templates (see the crate README):
//! - a target capability of an unrelated type is an error
//!   (`E-REQUIREMENT-TARGET`); a related type (a more general one, or a
//!   sibling under a common parent other than `tosca.capabilities.Root`, as
//!   INDIGO's `tosca.capabilities.indigo.Container` is for the
//!   `tosca.capabilities.Compute` that `tosca.nodes.SoftwareComponent`
//!   wants) is compatible: type files specialise one family differently and
//!   the template's author can do nothing about it;
//! - a target of another node type than the definition names, and a source
//!   outside the target capability's `valid_source_types`, are
//!   `W-REQUIREMENT-TARGET` warnings (tosca-parser's own samples host
//!   WordPress on a Compute);
//! - a target capability outside the `valid_target_types` of a relationship
//!   the assignment names is `E-REQUIREMENT-TARGET`; of the relationship the
//!   definition names, a `W-REQUIREMENT-TARGET` warning (the definition
//!   contradicts itself: INDIGO's `DependsOn` requirements on capabilities
//!   that are not `tosca.capabilities.Node`);
//! - more assignments than the definition's maximum are `E-OCCURRENCES`;
//! - fewer than its minimum (a dangling requirement) is left to the
//!   orchestrator with a `W-DANGLING-REQUIREMENT` warning, unless it is a
//!   hosting requirement and no node template of the topology could host the
//!   node: nuvola places software on the topology's nodes and never invents
//!   a host, so that is `E-OCCURRENCES`. A requirement that the template's
//!   `substitution_mappings` export, or of a node whose type an imported
//!   template substitutes, is fulfilled elsewhere and not reported.

use crate::diagnostics::{Diagnostic, Pos, codes};
use crate::template::{NodeTemplate, RequirementAssignment, ServiceTemplate};
use crate::types::{CapabilityDef, RequirementDef, TypeKind, TypeRegistry};
use crate::yaml::Node;

/// How a capability type offered by a target fits the one a requirement wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// The same type or one derived from it.
    Exact,
    /// A more general type, or a sibling under a common parent other than the root.
    Related,
    /// Unrelated types.
    No,
}

/// Checks the requirement assignments of `node` (of resolved node type `type_name`).
pub(crate) fn requirements(tpl: &ServiceTemplate, node: &NodeTemplate, type_name: &str, diags: &mut Vec<Diagnostic>) {
    let reg = &tpl.registry;
    for def in &reg.requirements(type_name) {
        let assigned: Vec<&RequirementAssignment> = node.requirements.iter().filter(|r| r.name == def.name).collect();
        let (min, max) = def.occurrences;
        let count = assigned.len() as u64;
        if let Some(max) = max
            && count > max
        {
            let extra = assigned[usize::try_from(max).unwrap_or(usize::MAX).min(assigned.len() - 1)];
            diags.push(Diagnostic::error(
                &tpl.file,
                extra.pos,
                codes::OCCURRENCES,
                format!(
                    "node template \"{}\": requirement \"{}\" is assigned {count} times; node type {type_name} allows at most {max} (occurrences {})",
                    node.name,
                    def.name,
                    show_range(def.occurrences)
                ),
            ));
        }
        if count < min && !fulfilled_elsewhere(tpl, node, type_name, &def.name) {
            dangling(tpl, node, type_name, def, count, diags);
        }
        for req in assigned {
            target(tpl, node, type_name, def, req, diags);
            relationship(tpl, node, def, req, diags);
            if let Some(filter) = &req.node_filter {
                node_filter(tpl, node, def, req, filter, diags);
            }
        }
    }
}

/// Whether requirement `name` of `node` is fulfilled outside this topology:
/// exported by the template's `substitution_mappings`, or the node's type is
/// substituted by an imported template.
fn fulfilled_elsewhere(tpl: &ServiceTemplate, node: &NodeTemplate, type_name: &str, name: &str) -> bool {
    let exported =
        tpl.substitution.as_ref().and_then(|s| s.get("requirements")).and_then(Node::as_map).is_some_and(|mapped| {
            mapped.iter().any(|(_, v)| {
                let parts: Vec<String> = v.as_seq().unwrap_or_default().iter().filter_map(Node::scalar_text).collect();
                parts.len() == 2 && parts[0] == node.name && parts[1] == name
            })
        });
    exported || tpl.substituted_types.iter().any(|t| tpl.registry.resolve(TypeKind::Node, t) == Some(type_name))
}

/// Reports a requirement assigned fewer times than its minimum.
fn dangling(
    tpl: &ServiceTemplate,
    node: &NodeTemplate,
    type_name: &str,
    def: &RequirementDef,
    count: u64,
    diags: &mut Vec<Diagnostic>,
) {
    let reg = &tpl.registry;
    let wanted = def.capability.as_deref().and_then(|c| reg.resolve(TypeKind::Capability, c));
    let candidates: Vec<&str> = tpl
        .nodes
        .values()
        .filter(|n| n.name != node.name)
        .filter(|n| {
            let Some(t) = reg.resolve(TypeKind::Node, &n.type_name) else { return false };
            wanted.is_none_or(|w| reg.capabilities(t).values().any(|c| fit(reg, &c.type_name, w) != Fit::No))
        })
        .map(|n| n.name.as_str())
        .collect();
    let what = format!(
        "node template \"{}\": requirement \"{}\" of {type_name} is assigned {count} times, fewer than its occurrences {} want",
        node.name,
        def.name,
        show_range(def.occurrences)
    );
    let offers = wanted.map(|w| format!("a {w}")).unwrap_or_else(|| "a capability".into());
    if candidates.is_empty() && is_hosting(reg, def) {
        diags.push(Diagnostic::error(
            &tpl.file,
            node.pos,
            codes::OCCURRENCES,
            format!(
                "{what}, and no node template here can host it (none offers {offers}); add \"- {}: <node template>\"",
                def.name
            ),
        ));
    } else {
        let left = if candidates.is_empty() {
            format!("no node template here offers {offers}")
        } else {
            format!("candidates here: {}", candidates.join(", "))
        };
        diags.push(Diagnostic::warning(
            &tpl.file,
            node.pos,
            codes::DANGLING_REQUIREMENT,
            format!("{what}; left to the orchestrator ({left})"),
        ));
    }
}

/// Whether a requirement places its node on the target (a HostedOn relationship, or named `host`).
fn is_hosting(reg: &TypeRegistry, def: &RequirementDef) -> bool {
    def.name == "host"
        || def
            .relationship
            .as_deref()
            .is_some_and(|r| reg.derives_from(TypeKind::Relationship, r, "tosca.relationships.HostedOn"))
}

fn show_range((min, max): (u64, Option<u64>)) -> String {
    match max {
        Some(max) => format!("[{min}, {max}]"),
        None => format!("[{min}, UNBOUNDED]"),
    }
}

/// Checks the target of one assignment against its definition.
fn target(
    tpl: &ServiceTemplate,
    node: &NodeTemplate,
    source_type: &str,
    def: &RequirementDef,
    req: &RequirementAssignment,
    diags: &mut Vec<Diagnostic>,
) {
    let reg = &tpl.registry;
    let Some((target, pos)) = &req.node else { return };
    // The target: a node template of the topology, or a node type left to the orchestrator.
    let of_template = tpl.nodes.get(target).map(|t| t.type_name.as_str());
    let Some((target_type, shown)) = named_type(reg, TypeKind::Node, of_template, target, "node") else { return };
    let head = format!("node template \"{}\": requirement \"{}\" targets {shown}", node.name, def.name);
    let mut report = |pos: Pos, error: bool, msg: String| {
        let text = format!("{head}, {msg}");
        diags.push(if error {
            Diagnostic::error(&tpl.file, pos, codes::REQUIREMENT_TARGET, text)
        } else {
            Diagnostic::warning(&tpl.file, pos, codes::WARN_REQUIREMENT_TARGET, text)
        });
    };
    if let Some(wanted) = def.node.as_deref().and_then(|n| reg.resolve(TypeKind::Node, n))
        && !reg.derives_from(TypeKind::Node, target_type, wanted)
    {
        report(
            *pos,
            false,
            format!(
                "which is not a {wanted} (the node type the requirement definition of {source_type} names); accepted"
            ),
        );
    }
    let wanted = def.capability.as_deref().and_then(|c| reg.resolve(TypeKind::Capability, c));
    let caps = reg.capabilities(target_type);
    // The target's capabilities the relationship may land on, with how each fits.
    let candidates: Vec<(&CapabilityDef, Fit)> = match &req.capability {
        Some((name, cpos)) => {
            let chosen: Vec<&CapabilityDef> = match caps.get(name) {
                Some(cap) => vec![cap],
                None => match reg.resolve(TypeKind::Capability, name) {
                    Some(ctype) => caps.values().filter(|c| fit(reg, &c.type_name, ctype) == Fit::Exact).collect(),
                    None => {
                        report(
                            *cpos,
                            true,
                            format!(
                                "which has no capability \"{name}\" (nor is it a capability type); its capabilities: {}",
                                list(&caps)
                            ),
                        );
                        return;
                    }
                },
            };
            if chosen.is_empty() {
                report(
                    *cpos,
                    true,
                    format!("which has no capability of type {name}; its capabilities: {}", list(&caps)),
                );
                return;
            }
            chosen.into_iter().map(|c| (c, wanted.map_or(Fit::Exact, |w| fit(reg, &c.type_name, w)))).collect()
        }
        None => match wanted {
            Some(w) => caps.values().map(|c| (c, fit(reg, &c.type_name, w))).filter(|(_, f)| *f != Fit::No).collect(),
            None => return,
        },
    };
    let best = candidates.iter().map(|(_, f)| *f).min_by_key(|f| *f as u8);
    let wanted_name = wanted.unwrap_or_default();
    match best {
        None | Some(Fit::No) => {
            let at = req.capability.as_ref().map_or(*pos, |(_, p)| *p);
            // The definition contradicts itself when its own `node` type offers
            // no such capability: the template did what the type asks
            // (tosca-parser's test_nodetype_without_relationship.yaml).
            let inconsistent = req.capability.is_none()
                && def.node.as_deref().and_then(|n| reg.resolve(TypeKind::Node, n)).is_some_and(|n| {
                    reg.derives_from(TypeKind::Node, target_type, n)
                        && !reg.capabilities(n).values().any(|c| fit(reg, &c.type_name, wanted_name) != Fit::No)
                });
            let (error, tail) = if inconsistent {
                (
                    false,
                    format!(
                        "; accepted: the definition's node type {} offers none either, fix the definition",
                        def.node.as_deref().unwrap_or_default()
                    ),
                )
            } else {
                (true, String::new())
            };
            report(
                at,
                error,
                format!(
                    "which offers no capability compatible with {wanted_name} (the capability type the requirement definition of {source_type} wants); its capabilities: {}{tail}",
                    list(&caps)
                ),
            );
            return;
        }
        Some(Fit::Exact | Fit::Related) => {}
    }
    let usable: Vec<&CapabilityDef> = candidates.iter().filter(|(_, f)| Some(*f) == best).map(|(c, _)| *c).collect();
    let accepts = |cap: &&CapabilityDef| {
        let sources = valid_sources(reg, cap);
        sources.is_empty() || sources.iter().any(|s| reg.derives_from(TypeKind::Node, source_type, s))
    };
    // The relationship in effect (the assignment's, else the definition's) may target only
    // capabilities of its valid_target_types, read with the same leniency as above.
    let named = req.relationship_type.as_deref().or(req.relationship_template.as_deref());
    let chosen = named.and_then(|n| {
        let of_template = tpl.relationships.get(n).map(|t| t.type_name.as_str());
        named_type(reg, TypeKind::Relationship, of_template, n, "relationship")
    });
    let by_template = chosen.is_some();
    let in_effect = chosen.or_else(|| {
        let r = def.relationship.as_deref()?;
        reg.resolve(TypeKind::Relationship, r).map(|t| (t, format!("relationship type {t}")))
    });
    if let Some((rel, shown)) = in_effect {
        let targets: Vec<&str> =
            valid_targets(reg, rel).into_iter().filter_map(|t| reg.resolve(TypeKind::Capability, t)).collect();
        let lands = |c: &&CapabilityDef| targets.iter().any(|t| fit(reg, &c.type_name, t) == Fit::Exact);
        if !targets.is_empty() && !usable.iter().any(lands) {
            let (at, tail) = if by_template {
                (req.relationship_pos.unwrap_or(*pos), "")
            } else {
                (*pos, "; accepted: the requirement definition names both, fix the definition")
            };
            let names: Vec<String> = usable.iter().map(|c| format!("\"{}\"", c.name)).collect();
            let which = match names.as_slice() {
                [one] => format!("whose capability {one} is not a valid target"),
                many => format!("whose capabilities {} are not valid targets", many.join(", ")),
            };
            report(at, by_template, format!("{which} of {shown} (valid_target_types: {}){tail}", targets.join(", ")));
        }
    }
    if let Some(cap) = usable.first()
        && !usable.iter().any(accepts)
    {
        report(
            *pos,
            false,
            format!(
                "whose capability \"{}\" accepts only {} as source (valid_source_types), not {source_type}; accepted",
                cap.name,
                valid_sources(reg, cap).join(", ")
            ),
        );
    }
}

/// Checks that the relationship an assignment names (a type, or a
/// relationship template's type) is the definition's relationship type or
/// derived from it.
fn relationship(
    tpl: &ServiceTemplate,
    node: &NodeTemplate,
    def: &RequirementDef,
    req: &RequirementAssignment,
    diags: &mut Vec<Diagnostic>,
) {
    let reg = &tpl.registry;
    let Some(wanted) = def.relationship.as_deref().and_then(|r| reg.resolve(TypeKind::Relationship, r)) else { return };
    let named = req.relationship_type.as_deref().or(req.relationship_template.as_deref());
    let Some(named) = named else { return };
    let of_template = tpl.relationships.get(named).map(|t| t.type_name.as_str());
    let Some((have, shown)) = named_type(reg, TypeKind::Relationship, of_template, named, "relationship") else {
        return;
    };
    if !reg.derives_from(TypeKind::Relationship, have, wanted) {
        let pos = req.relationship_pos.unwrap_or(req.pos);
        diags.push(Diagnostic::error(
            &tpl.file,
            pos,
            codes::RELATIONSHIP_TYPE,
            format!(
                "node template \"{}\": requirement \"{}\" uses {shown}, which is not a {wanted} (the relationship type its definition names)",
                node.name, def.name
            ),
        ));
    }
}

/// Checks a requirement's `node_filter` against the node type it selects:
/// keynames, property names, capability names (or types) and their
/// properties, constraint clauses. Properties are a list of one-entry maps
/// (TOSCA) or a map (the TOSCA 1.3 tutorial); without a known node type
/// only the shape and the clauses are checked.
fn node_filter(
    tpl: &ServiceTemplate,
    node: &NodeTemplate,
    def: &RequirementDef,
    req: &RequirementAssignment,
    filter: &Node,
    diags: &mut Vec<Diagnostic>,
) {
    let reg = &tpl.registry;
    // The node type the filter selects among.
    let subject = req
        .node
        .as_ref()
        .and_then(|(n, _)| named_type(reg, TypeKind::Node, tpl.nodes.get(n).map(|t| t.type_name.as_str()), n, "node"))
        .map(|(t, _)| t)
        .or_else(|| def.node.as_deref().and_then(|n| reg.resolve(TypeKind::Node, n)));
    let what = format!("node template \"{}\": requirement \"{}\": node_filter", node.name, def.name);
    check_node_filter(tpl, &what, subject, filter, diags);
}

/// Checks the `node_filter` of a node template like a requirement's. With
/// the `select` directive it selects an existing node of the template's own
/// type (TOSCA 1.3), so its names are checked against that type; without
/// it, the TOSCA 1.3 tutorial applies it to the targets of all the
/// template's requirements, whose types vary, so only its shape and its
/// clauses are checked.
pub(crate) fn node_template_filter(
    tpl: &ServiceTemplate,
    node: &NodeTemplate,
    type_name: &str,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(filter) = &node.node_filter {
        let what = format!("node template \"{}\": node_filter", node.name);
        let subject = node.directives.iter().any(|d| d == "select").then_some(type_name);
        check_node_filter(tpl, &what, subject, filter, diags);
    }
}

/// Checks a node filter's shape, its clauses and, when the node type it
/// selects among (`subject`) is known, that the properties and capabilities
/// it names exist. `what` starts every message.
fn check_node_filter(
    tpl: &ServiceTemplate,
    what: &str,
    subject: Option<&str>,
    filter: &Node,
    diags: &mut Vec<Diagnostic>,
) {
    let reg = &tpl.registry;
    let mut error = |pos: Pos, code: &'static str, msg: String| {
        diags.push(Diagnostic::error(&tpl.file, pos, code, format!("{what}: {msg}")))
    };
    let Some(entries) = filter.as_map() else {
        error(filter.pos, codes::SYNTAX, "a node filter is a map of properties and capabilities".into());
        return;
    };
    for (k, v) in entries {
        match k.name.as_str() {
            "properties" => {
                let known = subject.map(|s| reg.properties(TypeKind::Node, s));
                for (name, clauses) in filter_entries(v, &mut error, "properties") {
                    if let (Some(s), Some(known)) = (subject, &known)
                        && !known.contains_key(&name.name)
                    {
                        let hint = ServiceTemplate::hint(&name.name, known.keys().map(String::as_str));
                        error(
                            name.pos,
                            codes::UNKNOWN_PROPERTY,
                            format!("node type {s} has no property \"{}\"{hint}", name.name),
                        );
                    }
                    clauses_ok(clauses, &mut error);
                }
            }
            "capabilities" => {
                let caps = subject.map(|s| reg.capabilities(s));
                for (name, body) in filter_entries(v, &mut error, "capabilities") {
                    // The capability by name, else by type.
                    let cap_type = match &caps {
                        Some(caps) => match caps.get(&name.name) {
                            Some(c) => Some(c.type_name.clone()),
                            None => match reg.resolve(TypeKind::Capability, &name.name) {
                                Some(t) if caps.values().any(|c| fit(reg, &c.type_name, t) == Fit::Exact) => {
                                    Some(t.to_owned())
                                }
                                _ => {
                                    let hint = ServiceTemplate::hint(&name.name, caps.keys().map(String::as_str));
                                    error(
                                        name.pos,
                                        codes::UNKNOWN_CAPABILITY,
                                        format!(
                                            "node type {} has no capability \"{}\" (by name or type){hint}",
                                            subject.unwrap_or_default(),
                                            name.name
                                        ),
                                    );
                                    None
                                }
                            },
                        },
                        None => None,
                    };
                    let Some(props) = body.get("properties") else { continue };
                    let known = cap_type.as_deref().map(|t| reg.properties(TypeKind::Capability, t));
                    for (pname, clauses) in filter_entries(props, &mut error, "properties") {
                        if let (Some(t), Some(known)) = (&cap_type, &known)
                            && !known.contains_key(&pname.name)
                        {
                            let hint = ServiceTemplate::hint(&pname.name, known.keys().map(String::as_str));
                            error(
                                pname.pos,
                                codes::UNKNOWN_PROPERTY,
                                format!("capability \"{}\" ({t}) has no property \"{}\"{hint}", name.name, pname.name),
                            );
                        }
                        clauses_ok(clauses, &mut error);
                    }
                }
            }
            other => {
                let hint = ServiceTemplate::hint(other, ["properties", "capabilities"].into_iter());
                error(
                    k.pos,
                    codes::UNKNOWN_KEYNAME,
                    format!("unknown keyname \"{other}\"{hint}; expected properties, capabilities"),
                );
            }
        }
    }
}

/// The `name: body` entries of a filter section: a list of one-entry maps, or a map.
fn filter_entries<'n>(
    section: &'n Node,
    error: &mut impl FnMut(Pos, &'static str, String),
    what: &str,
) -> Vec<(&'n crate::yaml::Key, &'n Node)> {
    match &section.value {
        crate::yaml::NodeValue::Map(entries) => entries.iter().map(|(k, v)| (k, v)).collect(),
        crate::yaml::NodeValue::Seq(items) => items
            .iter()
            .filter_map(|i| match i.as_map() {
                Some([(k, v)]) => Some((k, v)),
                _ => {
                    error(i.pos, codes::SYNTAX, format!("each entry of {what} is a map with one name"));
                    None
                }
            })
            .collect(),
        _ => {
            error(section.pos, codes::SYNTAX, format!("{what} must be a list of one-entry maps"));
            Vec::new()
        }
    }
}

/// Checks the constraint clauses of a filtered property: one clause map or a
/// list of them (a plain value is read as `equal`).
fn clauses_ok(clauses: &Node, error: &mut impl FnMut(Pos, &'static str, String)) {
    let items: Vec<&Node> = match &clauses.value {
        crate::yaml::NodeValue::Seq(items) => items.iter().collect(),
        _ => vec![clauses],
    };
    for item in items {
        if let Some([(op, arg)]) = item.as_map()
            && let Err(e) = crate::constraints::Constraint::parse(&op.name, &arg.to_json())
            && let Some((code, message)) = e.report(codes::CONSTRAINT)
        {
            error(op.pos, code, message);
        }
    }
}

/// The type `name` stands for — the type of the template it names
/// (`of_template`), else the type it is — with how to show it in messages
/// (`node template "db" (tosca.nodes.DBMS)`, `node type tosca.nodes.DBMS`).
fn named_type<'r>(
    reg: &'r TypeRegistry,
    kind: TypeKind,
    of_template: Option<&str>,
    name: &str,
    noun: &str,
) -> Option<(&'r str, String)> {
    match of_template {
        Some(t) => reg.resolve(kind, t).map(|t| (t, format!("{noun} template \"{name}\" ({t})"))),
        None => reg.resolve(kind, name).map(|t| (t, format!("{noun} type {t}"))),
    }
}

/// How capability type `have` fits `wanted`.
fn fit(reg: &TypeRegistry, have: &str, wanted: &str) -> Fit {
    if reg.derives_from(TypeKind::Capability, have, wanted) {
        return Fit::Exact;
    }
    if reg.derives_from(TypeKind::Capability, wanted, have) {
        return Fit::Related;
    }
    let root = reg.resolve(TypeKind::Capability, "tosca.capabilities.Root").unwrap_or("tosca.capabilities.Root");
    let theirs = reg.ancestors(TypeKind::Capability, wanted);
    let common = reg
        .ancestors(TypeKind::Capability, have)
        .iter()
        .any(|a| a.name != root && theirs.iter().any(|b| b.name == a.name));
    if common { Fit::Related } else { Fit::No }
}

/// The capability types a relationship type may target: its own
/// `valid_target_types`, else those of the nearest ancestor that has some.
fn valid_targets<'r>(reg: &'r TypeRegistry, rel: &str) -> Vec<&'r str> {
    reg.ancestors(TypeKind::Relationship, rel)
        .into_iter()
        .find(|d| !d.valid_target_types.is_empty())
        .map(|d| d.valid_target_types.iter().map(|(t, _)| t.as_str()).collect())
        .unwrap_or_default()
}

/// The node types a capability accepts as source: those of its definition,
/// else those of its capability type (inherited).
fn valid_sources(reg: &TypeRegistry, cap: &CapabilityDef) -> Vec<String> {
    if !cap.valid_source_types.is_empty() {
        return cap.valid_source_types.clone();
    }
    reg.ancestors(TypeKind::Capability, &cap.type_name)
        .into_iter()
        .find(|d| !d.valid_source_types.is_empty())
        .map(|d| d.valid_source_types.iter().map(|(s, _)| s.clone()).collect())
        .unwrap_or_default()
}

fn list(caps: &indexmap::IndexMap<String, CapabilityDef>) -> String {
    if caps.is_empty() {
        return "none".into();
    }
    caps.values().map(|c| format!("{} ({})", c.name, c.type_name)).collect::<Vec<_>>().join(", ")
}
