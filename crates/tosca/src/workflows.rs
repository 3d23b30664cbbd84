//! Imperative workflows (TOSCA 1.3 `topology_template.workflows`): the
//! keynames of workflows and steps; each step's `target` names a node
//! template or group; activities are one of `delegate`, `set_state`,
//! `call_operation`, `inline`; a `call_operation` names an interface of the
//! target and an operation of that interface; a `target_relationship`
//! names a requirement of the target; `inline` names a workflow of
//! the template; `on_success` / `on_failure` name steps of the same
//! workflow, and the steps do not follow each other in a loop;
//! preconditions target existing templates.

use crate::diagnostics::{Diagnostic, Pos, codes};
use crate::template::ServiceTemplate;
use crate::yaml::{Key, Node, NodeValue};

const WORKFLOW_KEYS: &[&str] =
    &["description", "metadata", "inputs", "preconditions", "steps", "implementation", "outputs"];
const STEP_KEYS: &[&str] =
    &["target", "target_relationship", "operation_host", "filter", "activities", "on_success", "on_failure"];
const ACTIVITIES: &[&str] = &["delegate", "set_state", "call_operation", "inline"];

/// Checks `workflows` (a map of workflow definitions), reporting into `diags`.
pub(crate) fn check(tpl: &ServiceTemplate, workflows: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(entries) = workflows.as_map() else {
        diags.push(error(tpl, workflows.pos, codes::SYNTAX, "workflows must be a map of workflow definitions".into()));
        return;
    };
    let names: Vec<&str> = entries.iter().map(|(k, _)| k.name.as_str()).collect();
    for (wk, wv) in entries {
        Workflow { tpl, name: &wk.name, workflows: &names, diags: &mut *diags }.check(wk, wv);
    }
}

fn error(tpl: &ServiceTemplate, pos: Pos, code: &'static str, msg: String) -> Diagnostic {
    Diagnostic::error(&tpl.file, pos, code, msg)
}

struct Workflow<'a, 'd> {
    tpl: &'a ServiceTemplate,
    name: &'a str,
    workflows: &'a [&'a str],
    diags: &'d mut Vec<Diagnostic>,
}

impl Workflow<'_, '_> {
    fn err(&mut self, pos: Pos, code: &'static str, msg: String) {
        self.diags.push(error(self.tpl, pos, code, format!("workflow \"{}\": {msg}", self.name)));
    }

    /// Unknown keynames in `entries` (they would drop content): `E-UNKNOWN-KEY`.
    fn keys(&mut self, entries: &[(Key, Node)], known: &[&str], what: &str) {
        for (k, _) in entries {
            if !known.contains(&k.name.as_str()) {
                let hint = ServiceTemplate::hint(&k.name, known.iter().copied());
                self.err(k.pos, codes::UNKNOWN_KEYNAME, format!("{what}: unknown keyname \"{}\"{hint}", k.name));
            }
        }
    }

    fn check(&mut self, key: &Key, def: &Node) {
        let Some(entries) = def.as_map() else {
            self.err(key.pos, codes::SYNTAX, "a workflow definition is a map (steps, inputs, ...)".into());
            return;
        };
        self.keys(entries, WORKFLOW_KEYS, "definition");
        if let Some(pre) = def.get("preconditions") {
            for p in pre.as_seq().unwrap_or_default() {
                if let Some(target) = p.get("target") {
                    self.target(target, "precondition");
                }
            }
        }
        let Some(steps) = def.get("steps") else { return };
        let Some(steps) = steps.as_map() else {
            self.err(steps.pos, codes::SYNTAX, "steps must be a map of step definitions".into());
            return;
        };
        let step_names: Vec<&str> = steps.iter().map(|(k, _)| k.name.as_str()).collect();
        let mut next: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, (sk, sv)) in steps.iter().enumerate() {
            let what = format!("step \"{}\"", sk.name);
            let Some(entries) = sv.as_map() else {
                self.err(sk.pos, codes::SYNTAX, format!("{what} is a map (target, activities, ...)"));
                // Every step has its slot in `next`: the loop check indexes it by step position.
                next.push((i, Vec::new()));
                continue;
            };
            self.keys(entries, STEP_KEYS, &what);
            let target = match sv.get("target") {
                Some(t) => self.target(t, &what),
                None => {
                    self.err(sk.pos, codes::SYNTAX, format!("{what} has no target (a node template or group)"));
                    None
                }
            };
            if let (Some(node), Some(rel)) = (target.as_deref(), sv.get("target_relationship")) {
                self.target_relationship(node, rel, &what);
            }
            match sv.get("activities") {
                Some(a) => match a.as_seq() {
                    Some(items) => {
                        for item in items {
                            self.activity(item, target.as_deref(), &what);
                        }
                    }
                    None => self.err(a.pos, codes::SYNTAX, format!("{what}: activities must be a list")),
                },
                None => self.err(sk.pos, codes::SYNTAX, format!("{what} has no activities")),
            }
            let mut after = Vec::new();
            for branch in ["on_success", "on_failure"] {
                let Some(b) = sv.get(branch) else { continue };
                let listed: Vec<&Node> = match &b.value {
                    NodeValue::Seq(items) => items.iter().collect(),
                    _ => vec![b],
                };
                for n in listed {
                    match n.as_str().and_then(|s| step_names.iter().position(|x| *x == s)) {
                        Some(j) => after.push(j),
                        None => {
                            let shown = n.scalar_text().unwrap_or_else(|| "a non-name".into());
                            let hint = ServiceTemplate::hint(&shown, step_names.iter().copied());
                            self.err(
                                n.pos,
                                codes::WORKFLOW,
                                format!(
                                    "{what}: {branch} names \"{shown}\", which is not a step of this workflow{hint}"
                                ),
                            );
                        }
                    }
                }
            }
            next.push((i, after));
        }
        if let Some(i) = cycle(&next) {
            let (k, _) = &steps[i];
            self.err(
                k.pos,
                codes::WORKFLOW,
                format!("step \"{}\" follows itself through on_success/on_failure; steps must not loop", k.name),
            );
        }
    }

    /// Checks a `target`: a node template or group; returns the node template's name.
    fn target(&mut self, t: &Node, what: &str) -> Option<String> {
        let Some(name) = t.as_str() else {
            self.err(t.pos, codes::SYNTAX, format!("{what}: target must be a node template or group name"));
            return None;
        };
        if self.tpl.nodes.contains_key(name) {
            return Some(name.to_owned());
        }
        if !self.tpl.groups.contains_key(name) {
            let hint = ServiceTemplate::hint(name, self.tpl.node_names());
            self.err(
                t.pos,
                codes::UNKNOWN_NODE,
                format!("{what}: target \"{name}\" is neither a node template nor a group{hint}"),
            );
        }
        None
    }

    /// A `target_relationship` names a requirement of the target node template.
    fn target_relationship(&mut self, node: &str, rel: &Node, what: &str) {
        let reg = &self.tpl.registry;
        let Some(type_name) = self.tpl.node_type(node).and_then(|t| reg.resolve(crate::types::TypeKind::Node, t))
        else {
            return;
        };
        let mut names: Vec<String> = reg.requirements(type_name).into_iter().map(|d| d.name).collect();
        names.extend(self.tpl.nodes[node].requirements.iter().map(|r| r.name.clone()));
        match rel.as_str() {
            Some(r) if names.iter().any(|n| n == r) => {}
            shown => {
                let shown = shown.unwrap_or("a non-name").to_owned();
                let hint = ServiceTemplate::hint(&shown, names.iter().map(String::as_str));
                self.err(
                    rel.pos,
                    codes::WORKFLOW,
                    format!(
                        "{what}: target_relationship \"{shown}\" is not a requirement of node template \"{node}\"{hint}"
                    ),
                );
            }
        }
    }

    fn activity(&mut self, item: &Node, target: Option<&str>, what: &str) {
        let Some([(k, v)]) = item.as_map() else {
            self.err(
                item.pos,
                codes::WORKFLOW,
                format!("{what}: an activity is a map with one of {}", ACTIVITIES.join(", ")),
            );
            return;
        };
        match k.name.as_str() {
            "set_state" => {
                if v.as_str().is_none_or(str::is_empty) {
                    self.err(v.pos, codes::WORKFLOW, format!("{what}: set_state takes a state name"));
                }
            }
            "inline" | "delegate" => {
                let wf = match &v.value {
                    NodeValue::Map(_) => v.get("workflow").and_then(Node::scalar_text),
                    _ => v.scalar_text(),
                };
                match wf {
                    None => self.err(v.pos, codes::WORKFLOW, format!("{what}: {} takes a workflow name", k.name)),
                    // A delegate may name a declarative workflow (deploy, undeploy, ...) the orchestrator provides.
                    Some(w) if k.name == "inline" && !self.workflows.contains(&w.as_str()) => {
                        let hint = ServiceTemplate::hint(&w, self.workflows.iter().copied());
                        self.err(
                            v.pos,
                            codes::WORKFLOW,
                            format!("{what}: inline names \"{w}\", which is not a workflow of this template{hint}"),
                        );
                    }
                    Some(w) if w == self.name && k.name == "inline" => {
                        self.err(v.pos, codes::WORKFLOW, format!("{what}: a workflow cannot inline itself"));
                    }
                    Some(_) => {}
                }
            }
            "call_operation" => {
                let op = match &v.value {
                    NodeValue::Map(_) => v.get("operation").and_then(Node::scalar_text),
                    _ => v.scalar_text(),
                };
                match op {
                    Some(op) if op.contains('.') => {
                        if let Some(node) = target {
                            self.operation(node, &op, v.pos, what);
                        }
                    }
                    _ => self.err(
                        v.pos,
                        codes::WORKFLOW,
                        format!("{what}: call_operation takes \"<interface>.<operation>\""),
                    ),
                }
            }
            other => {
                let hint = ServiceTemplate::hint(other, ACTIVITIES.iter().copied());
                self.err(
                    k.pos,
                    codes::WORKFLOW,
                    format!("{what}: unknown activity \"{other}\"{hint}; expected one of {}", ACTIVITIES.join(", ")),
                );
            }
        }
    }

    /// Checks `interface.operation` against the target node template's interfaces.
    fn operation(&mut self, node: &str, op: &str, pos: Pos, what: &str) {
        let (iface, operation) = op.rsplit_once('.').unwrap_or((op, ""));
        if let Err(msg) = crate::calls::interface_operation(self.tpl, node, iface, operation) {
            self.err(pos, codes::UNKNOWN_OPERATION, format!("{what}: call_operation {op}: {msg}"));
        }
    }
}

/// A step that can reach itself through the `next` edges, if any.
fn cycle(next: &[(usize, Vec<usize>)]) -> Option<usize> {
    // Iterative depth-first search with colours: 0 new, 1 on the path, 2 done.
    let mut colour = vec![0u8; next.len()];
    for start in 0..next.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        colour[start] = 1;
        while let Some((n, i)) = stack.pop() {
            match next[n].1.get(i) {
                Some(&m) => {
                    stack.push((n, i + 1));
                    match colour[m] {
                        0 => {
                            colour[m] = 1;
                            stack.push((m, 0));
                        }
                        1 => return Some(m),
                        _ => {}
                    }
                }
                None => colour[n] = 2,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::cycle;

    #[test]
    fn cycles_are_found() {
        assert_eq!(cycle(&[(0, vec![1, 2]), (1, vec![2]), (2, vec![])]), None);
        assert_eq!(cycle(&[(0, vec![1]), (1, vec![2]), (2, vec![0])]), Some(0));
        assert_eq!(cycle(&[(0, vec![0])]), Some(0));
    }
}
