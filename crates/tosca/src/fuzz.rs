//! A fuzzing campaign over the engine that runs on the stable toolchain
//! (no libFuzzer): each case mutates one seed file (a corpus template) and
//! loads the mutant under `catch_unwind`; a panic is a finding.
//!
//! Mutants come from two mutators. The text mutator cuts, duplicates and
//! splices bytes and inserts YAML/TOSCA tokens, which exercises the YAML
//! reader and its limits. The structure-aware one parses the seed, changes
//! its tree — replaces a subtree with one from another file, changes a
//! scalar's type, deletes or misspells a key, wraps a value in a function
//! call, swaps or deeply nests subtrees, reuses a name seen elsewhere — and
//! writes valid YAML back, so that mutants get past the parser into type,
//! requirement and function checks.
//!
//! Case `n` of seed `s` depends only on `(s, n)` and the seed files:
//! [`Campaign::mutant`] rebuilds any case on its own, which is how a finding
//! is reproduced (`nuvola tosca fuzz --seed S --case N`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::imports::ImportResolver;
use crate::template::load;
use crate::yaml::{Limits, Node, NodeValue};

/// A small deterministic generator (splitmix64), enough to pick mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for case `case` of campaign `seed`.
    pub fn for_case(seed: u64, case: u64) -> Self {
        let mut r = Rng(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }
}

/// Tokens the text mutator inserts.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\n    - ",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "? ",
    "|\n  ",
    ">-\n  ",
    "'",
    "\"",
    "#",
    "%YAML 1.2\n---\n",
    "---\n",
    "...\n",
    "\t",
    "~",
    "null",
    "true",
    "1e309",
    "-0x1",
    "0o17",
    "get_input: ",
    "{ get_input: x }",
    "{ get_property: [ SELF, a, 0, b ] }",
    "{ get_attribute: [ HOST, x ] }",
    "{ concat: [] }",
    "{ token: [ a, b, c ] }",
    "derived_from: ",
    "derived_from: tosca.nodes.Root",
    "type: ",
    "type: list",
    "entry_schema: ",
    "constraints: [ { in_range: [ 1, 0 ] } ]",
    "{ pattern: '(' }",
    "requirements:\n  - host: x\n",
    "occurrences: [ 2, 1 ]",
    "imports: [ a.yaml ]",
    "imports: [ https://x/y.yaml ]",
    "node_templates:\n",
    "topology_template:\n",
    "substitution_mappings:\n  node_type: x\n",
    "tosca_definitions_version: tosca_simple_yaml_1_3\n",
    "4 GB",
    "-1 MB",
    "1.0.0.alpha-1",
    "\u{feff}",
    "\u{0}",
    "é",
];

/// Cuts, duplicates, splices (from `donor`) and inserts tokens into `text`.
pub fn mutate_text(rng: &mut Rng, text: &str, donor: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 => {
                let end = (at + rng.below(200)).min(bytes.len());
                bytes.drain(at..end);
            }
            1 => {
                let end = (at + rng.below(400)).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                bytes.splice(at..at, piece);
            }
            2 => {
                let d = donor.as_bytes();
                let from = rng.below(d.len());
                let end = (from + rng.below(400)).min(d.len());
                bytes.splice(at..at, d[from..end].iter().copied());
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())];
                bytes.splice(at..at, t.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A YAML document as an ordered tree (duplicate keys kept), without positions.
#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    /// A string, number, boolean or null.
    Scalar(Value),
    /// A sequence.
    Seq(Vec<Tree>),
    /// A mapping, in document order.
    Map(Vec<(String, Tree)>),
}

impl Tree {
    /// Parses `text` (`None` when it is not YAML); nesting up to 1024 levels.
    pub fn parse(text: &str) -> Option<Tree> {
        let limits = Limits { max_depth: 1024, ..Limits::default() };
        crate::yaml::parse(text, "fuzz.yaml", &limits, &mut Vec::new()).ok().map(|n| Tree::from_node(&n))
    }

    fn from_node(node: &Node) -> Tree {
        match &node.value {
            NodeValue::Seq(items) => Tree::Seq(items.iter().map(Tree::from_node).collect()),
            NodeValue::Map(entries) => {
                Tree::Map(entries.iter().map(|(k, v)| (k.name.clone(), Tree::from_node(v))).collect())
            }
            _ => Tree::Scalar(node.to_json()),
        }
    }

    /// How many nodes the tree has.
    pub fn count(&self) -> usize {
        1 + match self {
            Tree::Scalar(_) => 0,
            Tree::Seq(items) => items.iter().map(Tree::count).sum(),
            Tree::Map(entries) => entries.iter().map(|(_, v)| v.count()).sum(),
        }
    }

    /// The `i`-th node in pre-order.
    fn nth(&self, i: usize) -> Option<&Tree> {
        fn go<'a>(t: &'a Tree, i: &mut usize) -> Option<&'a Tree> {
            if *i == 0 {
                return Some(t);
            }
            *i -= 1;
            match t {
                Tree::Scalar(_) => None,
                Tree::Seq(items) => items.iter().find_map(|c| go(c, i)),
                Tree::Map(entries) => entries.iter().find_map(|(_, c)| go(c, i)),
            }
        }
        go(self, &mut { i })
    }

    /// The `i`-th node in pre-order, mutably.
    fn nth_mut(&mut self, i: usize) -> Option<&mut Tree> {
        fn go<'a>(t: &'a mut Tree, i: &mut usize) -> Option<&'a mut Tree> {
            if *i == 0 {
                return Some(t);
            }
            *i -= 1;
            match t {
                Tree::Scalar(_) => None,
                Tree::Seq(items) => items.iter_mut().find_map(|c| go(c, i)),
                Tree::Map(entries) => entries.iter_mut().find_map(|(_, c)| go(c, i)),
            }
        }
        go(self, &mut { i })
    }

    /// Strings and keys of the tree (names of types, templates, properties).
    fn names(&self, out: &mut Vec<String>) {
        match self {
            Tree::Scalar(Value::String(s)) if s.len() < 80 => out.push(s.clone()),
            Tree::Scalar(_) => {}
            Tree::Seq(items) => items.iter().for_each(|c| c.names(out)),
            Tree::Map(entries) => {
                for (k, v) in entries {
                    out.push(k.clone());
                    v.names(out);
                }
            }
        }
    }

    /// Writes the tree as block-style YAML.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        match self {
            Tree::Scalar(v) => {
                out.push_str(&scalar(v));
                out.push('\n');
            }
            _ => self.emit(&mut out, 0),
        }
        out
    }

    /// Writes a collection at `indent`, one entry per line.
    fn emit(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        match self {
            Tree::Scalar(v) => {
                out.push_str(&pad);
                out.push_str(&scalar(v));
                out.push('\n');
            }
            Tree::Seq(items) if items.is_empty() => out.push_str(&format!("{pad}[]\n")),
            Tree::Map(entries) if entries.is_empty() => out.push_str(&format!("{pad}{{}}\n")),
            Tree::Seq(items) => {
                for item in items {
                    match inline(item) {
                        Some(text) => out.push_str(&format!("{pad}- {text}\n")),
                        None => {
                            out.push_str(&format!("{pad}-\n"));
                            item.emit(out, indent + 2);
                        }
                    }
                }
            }
            Tree::Map(entries) => {
                for (k, v) in entries {
                    let key = key_text(k);
                    match inline(v) {
                        Some(text) => out.push_str(&format!("{pad}{key}: {text}\n")),
                        None => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            v.emit(out, indent + 2);
                        }
                    }
                }
            }
        }
    }
}

/// A scalar or empty collection written on the line of its key or dash.
fn inline(t: &Tree) -> Option<String> {
    match t {
        Tree::Scalar(v) => Some(scalar(v)),
        Tree::Seq(items) if items.is_empty() => Some("[]".into()),
        Tree::Map(entries) if entries.is_empty() => Some("{}".into()),
        _ => None,
    }
}

/// A scalar in YAML: strings double-quoted (JSON escapes are YAML escapes).
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A key, plain when it is a simple word, else double-quoted.
fn key_text(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
        && k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain { k.to_owned() } else { Value::String(k.to_owned()).to_string() }
}

/// Scalars of every type the structure-aware mutator puts in place of a value.
fn odd_scalar(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => Value::from(0),
        3 => Value::from(-1),
        4 => Value::from(i64::MAX),
        5 => Value::from(1.5),
        6 => Value::from(""),
        7 => Value::from("1"),
        8 => Value::from("4 GB"),
        9 => Value::from("1.0.0"),
        10 => Value::from("UNBOUNDED"),
        11 => Value::from("SELF"),
        12 => Value::from("10 Gbps"),
        _ => Value::from("x".repeat(1 + rng.below(300))),
    }
}

/// A function call over names seen in the documents.
fn call(rng: &mut Rng, names: &[String]) -> Tree {
    let name =
        |rng: &mut Rng| Tree::Scalar(Value::String(names.get(rng.below(names.len())).cloned().unwrap_or_default()));
    let entity = |rng: &mut Rng| match rng.below(5) {
        0 => Tree::Scalar(Value::from("SELF")),
        1 => Tree::Scalar(Value::from("HOST")),
        2 => Tree::Scalar(Value::from("SOURCE")),
        3 => Tree::Scalar(Value::from("TARGET")),
        _ => name(rng),
    };
    let text = |s: &str| Tree::Scalar(Value::from(s));
    let (f, args) = match rng.below(8) {
        0 => ("get_input", name(rng)),
        1 => ("get_property", Tree::Seq(vec![entity(rng), name(rng)])),
        2 => ("get_attribute", Tree::Seq(vec![entity(rng), name(rng), Tree::Scalar(Value::from(0))])),
        3 => ("concat", Tree::Seq(vec![name(rng), name(rng)])),
        4 => ("join", Tree::Seq(vec![Tree::Seq(vec![name(rng), name(rng)]), text(",")])),
        5 => ("token", Tree::Seq(vec![name(rng), text(":"), Tree::Scalar(Value::from(1))])),
        6 => ("get_operation_output", Tree::Seq(vec![entity(rng), text("Standard"), name(rng), name(rng)])),
        _ => ("get_artifact", Tree::Seq(vec![entity(rng), name(rng)])),
    };
    Tree::Map(vec![(f.to_owned(), args)])
}

/// A misspelling of `k`: a letter dropped, doubled or two swapped.
fn misspell(rng: &mut Rng, k: &str) -> String {
    let mut c: Vec<char> = k.chars().collect();
    if c.len() < 2 {
        return format!("{k}_");
    }
    let i = rng.below(c.len() - 1);
    match rng.below(3) {
        0 => {
            c.remove(i);
        }
        1 => c.insert(i, c[i]),
        _ => c.swap(i, i + 1),
    }
    c.into_iter().collect()
}

/// Applies 1–4 structural changes below the root of `tree`, drawing material from `donor`.
pub fn mutate_tree(rng: &mut Rng, tree: &mut Tree, donor: &Tree) {
    let mut names = Vec::new();
    tree.names(&mut names);
    donor.names(&mut names);
    names.truncate(400);
    for _ in 0..1 + rng.below(4) {
        // Never the root: the document stays a map.
        let at = 1 + rng.below(tree.count().saturating_sub(1));
        match rng.below(8) {
            0 => {
                if let Some(piece) = donor.nth(rng.below(donor.count())).cloned()
                    && let Some(slot) = tree.nth_mut(at)
                {
                    *slot = piece;
                }
            }
            1 => {
                let v = odd_scalar(rng);
                if let Some(slot) = tree.nth_mut(at) {
                    *slot = Tree::Scalar(v);
                }
            }
            2 => match tree.nth_mut(at) {
                Some(Tree::Map(entries)) if !entries.is_empty() => {
                    entries.remove(rng.below(entries.len()));
                }
                Some(Tree::Seq(items)) if !items.is_empty() => {
                    items.remove(rng.below(items.len()));
                }
                _ => {}
            },
            3 => {
                if let Some(Tree::Map(entries)) = tree.nth_mut(at)
                    && !entries.is_empty()
                {
                    let i = rng.below(entries.len());
                    let key = misspell(rng, &entries[i].0);
                    if rng.below(2) == 0 {
                        entries[i].0 = key;
                    } else {
                        let value = entries[i].1.clone();
                        entries.push((key, value));
                    }
                }
            }
            4 => {
                let f = call(rng, &names);
                if let Some(slot) = tree.nth_mut(at) {
                    *slot = f;
                }
            }
            5 => {
                let other = 1 + rng.below(tree.count().saturating_sub(1));
                if let (Some(a), Some(b)) = (tree.nth(at).cloned(), tree.nth(other).cloned()) {
                    if let Some(slot) = tree.nth_mut(at) {
                        *slot = b;
                    }
                    if let Some(slot) = tree.nth_mut(other) {
                        *slot = a;
                    }
                }
            }
            6 => {
                let depth = 1 + rng.below(80);
                let as_list = rng.below(2) == 0;
                if let Some(slot) = tree.nth_mut(at) {
                    let mut t = slot.clone();
                    for _ in 0..depth {
                        t = if as_list { Tree::Seq(vec![t]) } else { Tree::Map(vec![("a".into(), t)]) };
                    }
                    *slot = t;
                }
            }
            _ => {
                let name = names.get(rng.below(names.len())).cloned().unwrap_or_default();
                if let Some(slot) = tree.nth_mut(at) {
                    *slot = Tree::Scalar(Value::String(name));
                }
            }
        }
    }
}

/// One mutant: the seed file it comes from and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutant {
    /// The name of the seed file.
    pub from: String,
    /// Whether the structure-aware mutator made it.
    pub structural: bool,
    /// The mutated text.
    pub text: String,
}

/// A case whose load panicked.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The case number (with the campaign's seed, it rebuilds the mutant).
    pub case: u64,
    /// The mutant.
    pub mutant: Mutant,
    /// The panic message.
    pub message: String,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Cases loaded.
    pub cases: u64,
    /// Of which made by the structure-aware mutator.
    pub structural: u64,
    /// Mutants the engine accepted as valid templates.
    pub accepted: u64,
    /// The slowest case and its time.
    pub slowest: (u64, Duration),
    /// Cases that panicked.
    pub findings: Vec<Finding>,
}

/// A campaign: seed files, the resolver their imports go through, and a seed.
pub struct Campaign<'a> {
    /// `(name, text)` of each seed file.
    pub files: &'a [(String, String)],
    /// Resolves the mutants' imports.
    pub resolver: &'a dyn ImportResolver,
    /// Selects the mutations; case `n` of seed `s` is always the same mutant.
    pub seed: u64,
}

impl Campaign<'_> {
    /// Builds case `case`'s mutant (half text, half structure-aware mutations).
    pub fn mutant(&self, case: u64) -> Mutant {
        let mut rng = Rng::for_case(self.seed, case);
        let (name, text) = &self.files[rng.below(self.files.len())];
        let donor = &self.files[rng.below(self.files.len())].1;
        if rng.below(2) == 0
            && let (Some(mut tree @ Tree::Map(_)), Some(donor_tree)) = (Tree::parse(text), Tree::parse(donor))
        {
            mutate_tree(&mut rng, &mut tree, &donor_tree);
            return Mutant { from: name.clone(), structural: true, text: tree.to_yaml() };
        }
        Mutant { from: name.clone(), structural: false, text: mutate_text(&mut rng, text, donor) }
    }

    /// Loads the mutants of `cases` until `deadline` (if any), each under
    /// `catch_unwind`; `progress` is called after every case.
    pub fn run(
        &self,
        cases: std::ops::Range<u64>,
        deadline: Option<Instant>,
        mut progress: impl FnMut(&Report),
    ) -> Report {
        let mut report = Report::default();
        for case in cases {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let mutant = self.mutant(case);
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| load(&mutant.text, &mutant.from, self.resolver).is_ok()));
            let took = started.elapsed();
            report.cases += 1;
            report.structural += u64::from(mutant.structural);
            if took > report.slowest.1 {
                report.slowest = (case, took);
            }
            match outcome {
                Ok(valid) => report.accepted += u64::from(valid),
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without message".into());
                    report.findings.push(Finding { case, mutant, message });
                }
            }
            progress(&report);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_survive_writing_and_reading_back() {
        let text = "tosca_definitions_version: tosca_simple_yaml_1_3\nmetadata: { \"a b\": 1, yes: 'no' }\n\
            topology_template:\n  node_templates:\n    vm:\n      type: tosca.nodes.Compute\n      requirements: []\n      \
            properties: { x: [ 1, 2.5, true, null, '4 GB', [ ], { } ], 'y': \"multi\\nline \\\"q\\\"\" }\n";
        let tree = Tree::parse(text).unwrap();
        let again = Tree::parse(&tree.to_yaml()).unwrap_or_else(|| panic!("not YAML:\n{}", tree.to_yaml()));
        assert_eq!(tree, again, "{}", tree.to_yaml());
        assert!(tree.to_yaml().starts_with("tosca_definitions_version: \"tosca_simple_yaml_1_3\"\n"));
    }

    #[test]
    fn nth_walks_in_pre_order() {
        let tree = Tree::parse("a: [ 1, { b: 2 } ]\nc: 3\n").unwrap();
        assert_eq!(tree.count(), 6);
        assert_eq!(tree.nth(2), Some(&Tree::Scalar(Value::from(1))));
        assert_eq!(tree.nth(4), Some(&Tree::Scalar(Value::from(2))));
        assert_eq!(tree.nth(5), Some(&Tree::Scalar(Value::from(3))));
        assert_eq!(tree.nth(6), None);
    }

    #[test]
    fn misspellings_differ_from_the_word() {
        let mut rng = Rng::for_case(1, 2);
        for _ in 0..50 {
            assert_ne!(misspell(&mut rng, "description"), "description");
        }
    }
}
