//! A YAML tree with positions, built from `saphyr-parser` events so that size
//! limits (bytes, nesting depth, aliases, total nodes) are enforced while the
//! text is read, before any alias is expanded into memory.
//!
//! Scalars are resolved with the YAML 1.2 core schema (`saphyr::Scalar`);
//! the YAML 1.1 booleans that TOSCA authors write (`yes`, `no`) stay strings
//! here and are read as booleans where the grammar expects one.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::Scalar;
use saphyr_parser::{Event, Parser, ScanError, Span};
use serde_json::Value;

use crate::diagnostics::{Diagnostic, Pos, codes};

/// Size limits applied to every YAML text read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Maximum text size in bytes.
    pub max_bytes: usize,
    /// Maximum nesting of sequences and mappings.
    pub max_depth: usize,
    /// Maximum number of aliases (`*name`).
    pub max_aliases: usize,
    /// Maximum number of nodes after alias expansion.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bytes: 1 << 20, max_depth: 64, max_aliases: 256, max_nodes: 200_000 }
    }
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub name: String,
    pub pos: Pos,
}

/// A YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: NodeValue,
}

/// The content of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Node {
    pub fn null(pos: Pos) -> Self {
        Self { pos, value: NodeValue::Null }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    /// A scalar rendered as text (numbers and booleans too).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            NodeValue::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A boolean, accepting the YAML 1.1 spellings TOSCA authors use.
    pub fn as_bool_lenient(&self) -> Option<bool> {
        match &self.value {
            NodeValue::Bool(b) => Some(*b),
            NodeValue::Str(s) => parse_bool(s),
            _ => None,
        }
    }

    /// The node as JSON, dropping positions.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(s) => Value::Array(s.iter().map(Node::to_json).collect()),
            NodeValue::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect()),
        }
    }

    fn size(&self) -> usize {
        1 + match &self.value {
            NodeValue::Seq(s) => s.iter().map(Node::size).sum(),
            NodeValue::Map(m) => m.iter().map(|(_, v)| v.size()).sum(),
            _ => 0,
        }
    }
}

/// Reads `true/false/yes/no/on/off` in any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" => Some(true),
        "false" | "no" | "off" | "n" => Some(false),
        _ => None,
    }
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
    }
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    /// `index` maps key → entry position once the map is large, so that
    /// duplicate detection stays linear.
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        key: Option<Key>,
        index: Option<HashMap<String, usize>>,
    },
}

/// Parses the first document of `text`. On failure returns the diagnostics;
/// warnings (duplicate keys) are pushed to `warnings` either way.
///
/// A flow collection (`[ a, b ]`) continued on a line indented no more than
/// the key that opened it is invalid YAML that PyYAML (and so tosca-parser)
/// reads, and ETSI's SOL001 type files have one: such a text is read as if
/// the continuation lines were indented past the bracket, with a
/// `W-YAML-INDENT` warning at the first of them.
pub(crate) fn parse(
    text: &str,
    file: &str,
    limits: &Limits,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Node, Diagnostic> {
    let before = warnings.len();
    let err = match parse_once(text, file, limits, warnings) {
        Ok(node) => return Ok(node),
        Err(e) => e,
    };
    if err.code != codes::YAML || !err.message.contains("indentation") {
        return Err(err);
    }
    let Some((fixed, line)) = reindent_flow_continuations(text) else { return Err(err) };
    let mut retry = Vec::new();
    match parse_once(&fixed, file, limits, &mut retry) {
        Ok(node) => {
            warnings.truncate(before);
            warnings.push(Diagnostic::warning(
                file,
                Pos { line, column: 1 },
                codes::YAML_INDENT,
                "this line continues a flow collection ([...] or {...}) but is indented no more than the key that opened it (invalid YAML); read as if indented past the bracket",
            ));
            warnings.extend(retry);
            Ok(node)
        }
        Err(_) => Err(err),
    }
}

/// `text` with the lines that continue a flow collection but are indented no
/// more than the line that opened it indented past the opening bracket, and
/// the (1-based) number of the first such line; `None` when there is none.
fn reindent_flow_continuations(text: &str) -> Option<(String, u32)> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut first = None;
    // Open flow brackets, and the opener line's indentation and bracket column.
    let mut depth = 0usize;
    let mut opener = (0usize, 0usize);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let blank = line.trim().is_empty() || line.trim_start().starts_with('#');
        if depth > 0 && !blank && indent <= opener.0 {
            first.get_or_insert(u32::try_from(i + 1).unwrap_or(u32::MAX));
            out.extend(std::iter::repeat_n(' ', opener.1 + 1));
            out.push_str(&line[indent..]);
        } else {
            out.push_str(line);
        }
        let mut quote = None;
        let mut prev = ' ';
        for (col, c) in line.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') if depth > 0 || prev == ' ' => quote = Some(c),
                (None, '#') if prev == ' ' || col == 0 => break,
                (None, '[' | '{') => {
                    // Outside a flow, a bracket opens one only as a value or an item.
                    let lead = line[..col].trim_end();
                    if depth > 0 || lead.is_empty() || lead.ends_with(':') || lead.ends_with('-') {
                        if depth == 0 {
                            opener = (indent, col);
                        }
                        depth += 1;
                    }
                }
                (None, ']' | '}') if depth > 0 => depth -= 1,
                _ => {}
            }
            prev = c;
        }
    }
    first.map(|line| (out, line))
}

/// Whether `node` is a one-entry map naming a TOSCA function (`{ concat: [...] }`).
fn is_function_call(node: &Node) -> bool {
    const FUNCTIONS: &[&str] = &[
        "concat",
        "join",
        "token",
        "get_input",
        "get_property",
        "get_attribute",
        "get_operation_output",
        "get_artifact",
        "get_nodes_of_type",
    ];
    matches!(node.as_map(), Some([(k, _)]) if FUNCTIONS.contains(&k.name.as_str()))
}

fn parse_once(text: &str, file: &str, limits: &Limits, warnings: &mut Vec<Diagnostic>) -> Result<Node, Diagnostic> {
    if text.len() > limits.max_bytes {
        return Err(Diagnostic::error(
            file,
            Pos { line: 1, column: 1 },
            codes::LIMIT,
            format!("the text is {} bytes long; the limit is {} bytes", text.len(), limits.max_bytes),
        ));
    }
    let mut builder = Builder {
        file,
        limits,
        warnings,
        stack: Vec::new(),
        anchors: HashMap::new(),
        aliases: 0,
        nodes: 0,
        root: None,
    };
    let scan_err = |e: ScanError| {
        let m = e.marker();
        Diagnostic::error(
            file,
            Pos {
                line: u32::try_from(m.line()).unwrap_or(u32::MAX),
                column: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
            },
            codes::YAML,
            format!("invalid YAML: {}", e.info()),
        )
    };
    // A byte order mark is not content (Windows editors write one).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(scan_err)?;
        if builder.event(event, &span)? {
            break;
        }
    }
    Ok(builder.root.unwrap_or_else(|| Node::null(Pos { line: 1, column: 1 })))
}

struct Builder<'a> {
    file: &'a str,
    limits: &'a Limits,
    warnings: &'a mut Vec<Diagnostic>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    aliases: usize,
    nodes: usize,
    root: Option<Node>,
}

impl Builder<'_> {
    fn limit(&self, pos: Pos, msg: String) -> Diagnostic {
        Diagnostic::error(self.file, pos, codes::LIMIT, msg)
    }

    fn count(&mut self, n: usize, pos: Pos) -> Result<(), Diagnostic> {
        self.nodes += n;
        if self.nodes > self.limits.max_nodes {
            return Err(self.limit(
                pos,
                format!("the document has more than {} nodes (after expanding aliases)", self.limits.max_nodes),
            ));
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, pos: Pos) -> Result<(), Diagnostic> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.limit(pos, format!("nesting is deeper than {} levels", self.limits.max_depth)));
        }
        self.count(1, pos)?;
        self.stack.push(frame);
        Ok(())
    }

    /// Handles one event; returns true when the first document is complete.
    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<bool, Diagnostic> {
        let pos = pos_of(span);
        match event {
            Event::DocumentEnd => return Ok(self.root.is_some()),
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, pos)?;
                let value = match Scalar::parse_from_cow_and_metadata(text.clone(), style, tag.as_ref()) {
                    Some(Scalar::Null) => NodeValue::Null,
                    Some(Scalar::Boolean(b)) => NodeValue::Bool(b),
                    Some(Scalar::Integer(i)) => NodeValue::Int(i),
                    Some(Scalar::FloatingPoint(f)) => NodeValue::Float(f.into_inner()),
                    Some(Scalar::String(s)) => NodeValue::Str(s.into_owned()),
                    None => NodeValue::Str(Cow::into_owned(text)),
                };
                self.complete(Node { pos, value }, anchor)?;
            }
            Event::Alias(id) => {
                self.aliases += 1;
                if self.aliases > self.limits.max_aliases {
                    return Err(self.limit(pos, format!("more than {} aliases", self.limits.max_aliases)));
                }
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(Diagnostic::error(self.file, pos, codes::YAML, "alias to an unknown anchor"));
                };
                self.count(node.size(), pos)?;
                self.complete(node, 0)?;
            }
            Event::SequenceStart(anchor, _) => self.open(Frame::Seq { pos, anchor, items: Vec::new() }, pos)?,
            Event::MappingStart(anchor, _) => {
                self.open(Frame::Map { pos, anchor, entries: Vec::new(), key: None, index: None }, pos)?
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { pos, anchor, items }) => (Node { pos, value: NodeValue::Seq(items) }, anchor),
                    Some(Frame::Map { pos, anchor, entries, .. }) => {
                        (Node { pos, value: NodeValue::Map(entries) }, anchor)
                    }
                    None => return Ok(false),
                };
                self.complete(node, anchor)?;
            }
            _ => {}
        }
        Ok(false)
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, index, .. }) => match key.take() {
                None => {
                    let name = match node.scalar_text() {
                        Some(s) => s,
                        None if node.is_null() => String::new(),
                        // A function call as a map key (Puccini evaluates it): kept as its JSON text.
                        None if is_function_call(&node) => {
                            self.warnings.push(Diagnostic::warning(
                                self.file,
                                node.pos,
                                codes::FUNCTION_KEY,
                                format!(
                                    "a function call as a map key is kept as the text {} (nuvola does not evaluate keys)",
                                    node.to_json()
                                ),
                            ));
                            node.to_json().to_string()
                        }
                        None => {
                            return Err(Diagnostic::error(
                                self.file,
                                node.pos,
                                codes::YAML,
                                "mapping keys must be scalars",
                            ));
                        }
                    };
                    *key = Some(Key { name, pos: node.pos });
                }
                Some(k) => {
                    if index.is_none() && entries.len() >= 16 {
                        *index = Some(entries.iter().enumerate().map(|(i, (k, _))| (k.name.clone(), i)).collect());
                    }
                    let found = match index {
                        Some(ix) => ix.get(&k.name).copied(),
                        None => entries.iter().position(|(old, _)| old.name == k.name),
                    };
                    if let Some(slot) = found.map(|i| &mut entries[i]) {
                        self.warnings.push(Diagnostic::warning(
                            self.file,
                            k.pos,
                            codes::DUPLICATE_KEY,
                            format!(
                                "key \"{}\" is given twice (first at line {}); the last one is used",
                                k.name, slot.0.pos.line
                            ),
                        ));
                        *slot = (k, node);
                    } else {
                        if let Some(ix) = index {
                            ix.insert(k.name.clone(), entries.len());
                        }
                        entries.push((k, node));
                    }
                }
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Node, Diagnostic> {
        parse(text, "t.yaml", &Limits::default(), &mut Vec::new())
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("a:\n  b: 1\n  c: [x, yes]\n").unwrap();
        let b = n.get("a").unwrap().get("b").unwrap();
        assert_eq!(b.pos, Pos { line: 2, column: 6 });
        assert_eq!(b.value, NodeValue::Int(1));
        let c = n.get("a").unwrap().get("c").unwrap().as_seq().unwrap();
        assert_eq!(c[1].as_bool_lenient(), Some(true));
        assert_eq!(c[0].pos, Pos { line: 3, column: 7 });
    }

    #[test]
    fn syntax_error_has_position() {
        let e = p("a: 1\nb: [1, 2\n").unwrap_err();
        assert_eq!(e.code, codes::YAML);
        assert!(e.line >= 2, "{e}");
    }

    #[test]
    fn flow_continuation_indented_too_little_is_read_with_a_warning() {
        let text = "a:\n  - k: [ x, y,\nz ]\n  - k: { p: 1,\n q: 2 }\nb: 1\n";
        let mut w = Vec::new();
        let doc = parse(text, "t.yaml", &Limits::default(), &mut w).unwrap();
        assert_eq!(doc.to_json(), serde_json::json!({"a": [{"k": ["x", "y", "z"]}, {"k": {"p": 1, "q": 2}}], "b": 1}));
        assert_eq!((w.len(), w[0].code, w[0].line), (1, codes::YAML_INDENT, 3));
        // Other indentation errors stay errors.
        assert!(p("a:\n  b: 1\n c: 2\n").is_err());
    }

    #[test]
    fn function_call_keys_are_kept_as_text() {
        let mut w = Vec::new();
        let doc = parse("m:\n  { concat: [ a, b ] }: v\n", "t.yaml", &Limits::default(), &mut w).unwrap();
        assert_eq!(doc.to_json(), serde_json::json!({"m": {"{\"concat\":[\"a\",\"b\"]}": "v"}}));
        assert_eq!(w[0].code, codes::FUNCTION_KEY);
        assert!(p("m:\n  { a: 1 }: v\n").is_err());
        assert!(p("m:\n  [ a ]: v\n").is_err());
    }

    #[test]
    fn duplicate_keys_warn_and_last_wins() {
        let mut w = Vec::new();
        let n = parse("a: 1\na: 2\n", "t", &Limits::default(), &mut w).unwrap();
        assert_eq!(n.get("a").unwrap().value, NodeValue::Int(2));
        assert_eq!(w[0].code, codes::DUPLICATE_KEY);
        assert_eq!(w[0].line, 2);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits { max_bytes: 10, ..Limits::default() };
        let e = parse("a: 12345678901", "t", &limits, &mut Vec::new()).unwrap_err();
        assert_eq!(e.code, codes::LIMIT);
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(p(&deep).unwrap_err().code, codes::LIMIT);
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            laughs.push_str(&format!(
                "b{i}: &b{i} [{}]\n",
                vec![if i == 0 { "*a".to_string() } else { format!("*b{}", i - 1) }; 10].join(", ")
            ));
        }
        assert_eq!(p(&laughs).unwrap_err().code, codes::LIMIT);
    }
}
