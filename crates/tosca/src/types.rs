//! The typed model of TOSCA type definitions and the type registry:
//! normative types (always loaded), then imported files, then the template's
//! own definitions. `derived_from` chains are checked for unknown parents and
//! cycles; property, attribute, capability and requirement definitions are
//! inherited and overridden along them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;
use serde_json::Value;

use crate::constraints::Constraint;
use crate::diagnostics::{Diagnostic, Pos, codes};
use crate::yaml::{Key, Node, NodeValue};

/// The normative types, written from the OASIS specification.
pub(crate) const NORMATIVE: &str = include_str!("normative.yaml");
/// The file name diagnostics use for the normative types.
pub(crate) const NORMATIVE_FILE: &str = "<tosca-normative-types>";

/// The kinds of TOSCA types; each has its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeKind {
    /// `data_types`
    Data,
    /// `artifact_types`
    Artifact,
    /// `capability_types`
    Capability,
    /// `interface_types`
    Interface,
    /// `relationship_types`
    Relationship,
    /// `node_types`
    Node,
    /// `group_types`
    Group,
    /// `policy_types`
    Policy,
}

impl TypeKind {
    /// All kinds, with the section keyname that defines them.
    pub const SECTIONS: [(&'static str, TypeKind); 8] = [
        ("data_types", TypeKind::Data),
        ("artifact_types", TypeKind::Artifact),
        ("capability_types", TypeKind::Capability),
        ("interface_types", TypeKind::Interface),
        ("relationship_types", TypeKind::Relationship),
        ("node_types", TypeKind::Node),
        ("group_types", TypeKind::Group),
        ("policy_types", TypeKind::Policy),
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The namespace word in normative names (`tosca.nodes.Compute`).
    fn namespace(self) -> &'static str {
        match self {
            Self::Data => "datatypes",
            Self::Artifact => "artifacts",
            Self::Capability => "capabilities",
            Self::Interface => "interfaces",
            Self::Relationship => "relationships",
            Self::Node => "nodes",
            Self::Group => "groups",
            Self::Policy => "policies",
        }
    }

    /// A word for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Data => "data type",
            Self::Artifact => "artifact type",
            Self::Capability => "capability type",
            Self::Interface => "interface type",
            Self::Relationship => "relationship type",
            Self::Node => "node type",
            Self::Group => "group type",
            Self::Policy => "policy type",
        }
    }
}

/// The primitive TOSCA types (no definition needed).
pub const PRIMITIVE_TYPES: &[&str] = &[
    "string",
    "integer",
    "float",
    "boolean",
    "timestamp",
    "null",
    "list",
    "map",
    "version",
    "range",
    "scalar-unit.size",
    "scalar-unit.time",
    "scalar-unit.frequency",
    "scalar-unit.bitrate",
];

/// A property or attribute definition.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyDef {
    /// The property's name.
    pub name: String,
    /// Its type (primitive or data type).
    pub type_name: String,
    /// Its description.
    pub description: Option<String>,
    /// Whether a value must be given (TOSCA default: true for properties).
    pub required: bool,
    /// The default value.
    pub default: Option<Value>,
    /// Constraint clauses.
    pub constraints: Vec<Constraint>,
    /// The entry type of a list or map.
    pub entry_schema: Option<String>,
    /// Where it is defined.
    pub file: String,
    /// Where it is defined.
    pub pos: Pos,
}

/// A capability definition inside a node type.
#[derive(Debug, Clone, PartialEq)]
pub struct CapabilityDef {
    /// The capability name.
    pub name: String,
    /// Its capability type.
    pub type_name: String,
    /// Node types that may be the source of a relationship to it (empty: any).
    pub valid_source_types: Vec<String>,
    /// Where it is defined.
    pub pos: Pos,
}

/// A requirement definition inside a node type.
#[derive(Debug, Clone, PartialEq)]
pub struct RequirementDef {
    /// The requirement name (`host`, `local_storage`, ...).
    pub name: String,
    /// The capability type the target must offer.
    pub capability: Option<String>,
    /// The node type the target must be.
    pub node: Option<String>,
    /// The relationship type.
    pub relationship: Option<String>,
    /// How many times it may be assigned: `[min, max]`, `None` max for
    /// UNBOUNDED. Not written: `[1, UNBOUNDED]` (as tosca-parser reads it; the
    /// TOSCA 1.3 tutorial assigns such a requirement twice).
    pub occurrences: (u64, Option<u64>),
}

/// One type definition of any kind.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeDef {
    /// Which namespace it lives in.
    pub kind: TypeKind,
    /// Its full name.
    pub name: String,
    /// Its parent and where `derived_from` is written.
    pub derived_from: Option<(String, Pos)>,
    /// Its description.
    pub description: Option<String>,
    /// Properties it defines (not inherited ones).
    pub properties: IndexMap<String, PropertyDef>,
    /// Attributes it defines (not inherited ones).
    pub attributes: IndexMap<String, PropertyDef>,
    /// Capabilities it defines (node types).
    pub capabilities: IndexMap<String, CapabilityDef>,
    /// Requirements it defines (node types).
    pub requirements: Vec<RequirementDef>,
    /// Constraints on the value (data types derived from primitives).
    pub constraints: Vec<Constraint>,
    /// New defaults for inherited properties, written `name: value`.
    pub refined_defaults: IndexMap<String, Value>,
    /// Node types a capability of this type may come from (capability types), with where each is written.
    pub valid_source_types: Vec<(String, Pos)>,
    /// Capability types a relationship of this type may target (relationship types), with where each is written.
    pub valid_target_types: Vec<(String, Pos)>,
    /// Node types the members of a group of this type may have (group types; empty: any).
    pub member_types: Vec<String>,
    /// Names of the artifacts it defines (node types).
    pub artifacts: Vec<String>,
    /// The operations an interface type defines (not inherited ones).
    pub operations: Vec<String>,
    /// Interface definitions of node, relationship and group types: name →
    /// (interface type, operations named in the definition).
    pub interfaces: IndexMap<String, (Option<String>, Vec<String>)>,
    /// The file it is defined in.
    pub file: String,
    /// Where its name is written.
    pub pos: Pos,
}

/// All known types, by kind and name. A registry is layered: its own
/// definitions over a shared, immutable base (the normative types, then the
/// imported files), so that the base built for one set of imports is
/// reused by every template that has the same imports.
#[derive(Debug, Clone, Default)]
pub struct TypeRegistry {
    base: Option<Arc<TypeRegistry>>,
    /// One map per [`TypeKind`] (indexed by [`TypeKind::index`]).
    types: [HashMap<String, Arc<TypeDef>>; 8],
}

/// Reads definitions from YAML nodes, collecting diagnostics.
pub(crate) struct Reader<'a> {
    pub file: &'a str,
    pub diags: &'a mut Vec<Diagnostic>,
}

impl Reader<'_> {
    pub fn error(&mut self, pos: Pos, code: &'static str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(self.file, pos, code, msg));
    }

    pub fn warning(&mut self, pos: Pos, code: &'static str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(self.file, pos, code, msg));
    }

    /// The entries of a mapping; null counts as empty; anything else is an error.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> &'n [(Key, Node)] {
        match &node.value {
            NodeValue::Map(m) => m,
            NodeValue::Null => &[],
            _ => {
                self.error(node.pos, codes::SYNTAX, format!("{what} must be a map"));
                &[]
            }
        }
    }

    /// A string value; numbers are accepted as text.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.scalar_text() {
            Some(s) => Some(s),
            None if node.is_null() => None,
            None => {
                self.error(node.pos, codes::SYNTAX, format!("{what} must be a string"));
                None
            }
        }
    }

    /// Warns about keynames not in `known`.
    pub fn check_keys(&mut self, entries: &[(Key, Node)], known: &[&str], what: &str) {
        for (k, _) in entries {
            if !known.contains(&k.name.as_str()) {
                let hint = closest(&k.name, known).map(|c| format!("; did you mean \"{c}\"?")).unwrap_or_default();
                self.warning(k.pos, codes::UNKNOWN_KEY, format!("unknown keyname \"{}\" in {what}{hint}", k.name));
            }
        }
    }

    /// Reports keynames not in `known` as errors: for sections where a
    /// misspelt keyname silently drops content (`node_template:` for
    /// `node_templates:` empties the topology).
    pub fn check_keys_strict(&mut self, entries: &[(Key, Node)], known: &[&str], what: &str) {
        for (k, _) in entries {
            if !known.contains(&k.name.as_str()) {
                let hint = closest(&k.name, known).map(|c| format!("; did you mean \"{c}\"?")).unwrap_or_default();
                self.error(
                    k.pos,
                    codes::UNKNOWN_KEYNAME,
                    format!("unknown keyname \"{}\" in {what}{hint} (known: {})", k.name, known.join(", ")),
                );
            }
        }
    }

    /// Reads a list of constraint clauses. A map of clauses instead of a
    /// list (`constraints: { in_range: [1 GB, 100 GB] }`, as INFN Cloud
    /// templates write one clause, and the INDIGO tool chain reads) is read
    /// as the list of its entries, with a warning.
    pub fn constraints(&mut self, node: &Node) -> Vec<Constraint> {
        let clauses: Vec<(&Key, &Node)> = match &node.value {
            NodeValue::Null => return Vec::new(),
            NodeValue::Seq(items) => items
                .iter()
                .filter_map(|item| match item.as_map() {
                    Some([(op, arg)]) => Some((op, arg)),
                    _ => {
                        self.error(
                            item.pos,
                            codes::SYNTAX,
                            "a constraint clause is a map with one operator, e.g. { greater_or_equal: 1 }",
                        );
                        None
                    }
                })
                .collect(),
            NodeValue::Map(entries) => {
                let example = entries.first().map_or("in_range", |(op, _)| op.name.as_str());
                self.warning(
                    node.pos,
                    codes::SYNTAX_COERCED,
                    format!(
                        "constraints is a list of clauses (\"- {example}: ...\"), not a map; read as the list of this map's {} clause{}",
                        entries.len(),
                        if entries.len() == 1 { "" } else { "s" }
                    ),
                );
                entries.iter().map(|(op, arg)| (op, arg)).collect()
            }
            _ => {
                self.error(node.pos, codes::SYNTAX, "constraints must be a list of clauses");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (op, arg) in clauses {
            match Constraint::parse(&op.name, &arg.to_json()) {
                Ok(c) => out.push(c),
                Err(e) => {
                    if let Some((code, message)) = e.report(codes::SYNTAX) {
                        self.error(op.pos, code, message);
                    }
                }
            }
        }
        out
    }

    /// Reads an `occurrences` range: `[min, max]`, max a number or `UNBOUNDED`.
    pub fn occurrences(&mut self, node: &Node) -> Option<(u64, Option<u64>)> {
        let bound = |n: &Node| match &n.value {
            NodeValue::Int(i) => u64::try_from(*i).ok().map(Some),
            NodeValue::Str(s) if s == "UNBOUNDED" => Some(None),
            _ => None,
        };
        let range = match node.as_seq() {
            Some([lo, hi]) => match (bound(lo), bound(hi)) {
                (Some(Some(lo)), Some(hi)) if hi.is_none_or(|h| h >= lo) => Some((lo, hi)),
                _ => None,
            },
            _ => None,
        };
        if range.is_none() {
            self.error(
                node.pos,
                codes::SYNTAX,
                "occurrences must be [min, max] with min <= max, max a number or UNBOUNDED",
            );
        }
        range
    }

    /// Reads a property (or attribute, `attribute = true`) definition.
    pub fn property(&mut self, key: &Key, node: &Node, attribute: bool) -> PropertyDef {
        let mut def = PropertyDef {
            name: key.name.clone(),
            type_name: "string".into(),
            description: None,
            required: !attribute,
            default: None,
            constraints: Vec::new(),
            entry_schema: None,
            file: self.file.to_owned(),
            pos: key.pos,
        };
        let entries = self.map(node, &format!("the definition of \"{}\"", key.name));
        const KEYS: &[&str] = &[
            "type",
            "description",
            "required",
            "default",
            "status",
            "constraints",
            "entry_schema",
            "key_schema",
            "metadata",
            "external-schema",
            "value",
        ];
        self.check_keys(entries, KEYS, &format!("the definition of \"{}\"", key.name));
        let mut has_type = false;
        for (k, v) in entries {
            match k.name.as_str() {
                "type" => {
                    if let Some(t) = self.string(v, "type") {
                        def.type_name = t;
                        has_type = true;
                    }
                }
                "description" => def.description = v.scalar_text(),
                "required" => match v.as_bool_lenient() {
                    Some(b) => def.required = b,
                    None => self.error(v.pos, codes::SYNTAX, "required must be true or false"),
                },
                "default" | "value" if !v.is_null() => {
                    def.default = Some(v.to_json());
                }
                "constraints" => def.constraints = self.constraints(v),
                "entry_schema" => {
                    def.entry_schema = match &v.value {
                        NodeValue::Str(s) => Some(s.clone()),
                        NodeValue::Map(_) => v.get("type").and_then(Node::scalar_text),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        if !has_type && !entries.is_empty() && !attribute {
            self.warning(
                key.pos,
                codes::UNKNOWN_KEY,
                format!("the definition of \"{}\" has no type; string is assumed", key.name),
            );
        }
        def
    }

    fn type_def(&mut self, kind: TypeKind, key: &Key, node: &Node) -> TypeDef {
        let mut def = TypeDef {
            kind,
            name: key.name.clone(),
            derived_from: None,
            description: None,
            properties: IndexMap::new(),
            attributes: IndexMap::new(),
            capabilities: IndexMap::new(),
            requirements: Vec::new(),
            constraints: Vec::new(),
            refined_defaults: IndexMap::new(),
            valid_source_types: Vec::new(),
            valid_target_types: Vec::new(),
            member_types: Vec::new(),
            artifacts: Vec::new(),
            operations: Vec::new(),
            interfaces: IndexMap::new(),
            file: self.file.to_owned(),
            pos: key.pos,
        };
        let entries = self.map(node, &format!("{} {}", kind.noun(), key.name));
        let known: &[&str] = match kind {
            TypeKind::Node => &[
                "derived_from",
                "version",
                "metadata",
                "description",
                "properties",
                "attributes",
                "requirements",
                "capabilities",
                "interfaces",
                "artifacts",
            ],
            TypeKind::Capability => &[
                "derived_from",
                "version",
                "metadata",
                "description",
                "properties",
                "attributes",
                "valid_source_types",
            ],
            TypeKind::Relationship => &[
                "derived_from",
                "version",
                "metadata",
                "description",
                "properties",
                "attributes",
                "interfaces",
                "valid_target_types",
            ],
            TypeKind::Data => &[
                "derived_from",
                "version",
                "metadata",
                "description",
                "constraints",
                "properties",
                "key_schema",
                "entry_schema",
            ],
            TypeKind::Artifact => {
                &["derived_from", "version", "metadata", "description", "mime_type", "file_ext", "properties"]
            }
            TypeKind::Interface => {
                &["derived_from", "version", "metadata", "description", "inputs", "operations", "notifications"]
            }
            TypeKind::Group => &[
                "derived_from",
                "version",
                "metadata",
                "description",
                "properties",
                "attributes",
                "members",
                "requirements",
                "capabilities",
                "interfaces",
                "targets",
            ],
            TypeKind::Policy => {
                &["derived_from", "version", "metadata", "description", "properties", "targets", "triggers"]
            }
        };
        if kind != TypeKind::Interface {
            self.check_keys(entries, known, &format!("{} {}", kind.noun(), key.name));
        }
        for (k, v) in entries {
            match k.name.as_str() {
                "derived_from" => def.derived_from = self.string(v, "derived_from").map(|s| (s, v.pos)),
                "description" => def.description = v.scalar_text(),
                "properties" => {
                    for (pk, pv) in self.map(v, "properties") {
                        if pv.as_map().is_none() && !pv.is_null() {
                            // `name: value` in a type: a new default for an inherited property.
                            def.refined_defaults.insert(pk.name.clone(), pv.to_json());
                            continue;
                        }
                        let p = self.property(pk, pv, false);
                        def.properties.insert(pk.name.clone(), p);
                    }
                }
                "attributes" => {
                    for (ak, av) in self.map(v, "attributes") {
                        let a = self.property(ak, av, true);
                        def.attributes.insert(ak.name.clone(), a);
                    }
                }
                "constraints" if kind == TypeKind::Data => def.constraints = self.constraints(v),
                "operations" if kind == TypeKind::Interface => {
                    def.operations.extend(v.as_map().unwrap_or_default().iter().map(|(k, _)| k.name.clone()));
                }
                "version" | "metadata" | "inputs" | "notifications" if kind == TypeKind::Interface => {}
                _ if kind == TypeKind::Interface => def.operations.push(k.name.clone()),
                "interfaces" if matches!(kind, TypeKind::Node | TypeKind::Relationship | TypeKind::Group) => {
                    for (ik, iv) in v.as_map().unwrap_or_default() {
                        let type_name = iv.get("type").and_then(Node::scalar_text);
                        let mut ops: Vec<String> = iv
                            .as_map()
                            .unwrap_or_default()
                            .iter()
                            .filter(|(k, _)| {
                                !matches!(
                                    k.name.as_str(),
                                    "type" | "inputs" | "description" | "operations" | "notifications"
                                )
                            })
                            .map(|(k, _)| k.name.clone())
                            .collect();
                        if let Some(o) = iv.get("operations").and_then(Node::as_map) {
                            ops.extend(o.iter().map(|(k, _)| k.name.clone()));
                        }
                        def.interfaces.insert(ik.name.clone(), (type_name, ops));
                    }
                }
                "artifacts" if kind == TypeKind::Node => {
                    def.artifacts = v.as_map().unwrap_or_default().iter().map(|(k, _)| k.name.clone()).collect();
                }
                "members" if kind == TypeKind::Group => match v.as_seq() {
                    Some(items) => def.member_types = items.iter().filter_map(Node::scalar_text).collect(),
                    None if v.is_null() => {}
                    None => self.error(v.pos, codes::SYNTAX, "members must be a list of node types"),
                },
                "valid_source_types" if kind == TypeKind::Capability => match v.as_seq() {
                    Some(items) => {
                        def.valid_source_types = items.iter().filter_map(|i| Some((i.scalar_text()?, i.pos))).collect()
                    }
                    None if v.is_null() => {}
                    None => self.error(v.pos, codes::SYNTAX, "valid_source_types must be a list of node types"),
                },
                "valid_target_types" if kind == TypeKind::Relationship => match v.as_seq() {
                    Some(items) => {
                        def.valid_target_types = items.iter().filter_map(|i| Some((i.scalar_text()?, i.pos))).collect()
                    }
                    None if v.is_null() => {}
                    None => self.error(v.pos, codes::SYNTAX, "valid_target_types must be a list of capability types"),
                },
                "capabilities" if kind == TypeKind::Node => {
                    for (ck, cv) in self.map(v, "capabilities") {
                        let type_name = match &cv.value {
                            NodeValue::Str(s) => Some(s.clone()),
                            NodeValue::Map(_) => cv.get("type").and_then(Node::scalar_text),
                            _ => None,
                        };
                        match type_name {
                            Some(type_name) => {
                                def.capabilities.insert(
                                    ck.name.clone(),
                                    CapabilityDef {
                                        name: ck.name.clone(),
                                        type_name,
                                        valid_source_types: cv
                                            .get("valid_source_types")
                                            .and_then(Node::as_seq)
                                            .unwrap_or_default()
                                            .iter()
                                            .filter_map(Node::scalar_text)
                                            .collect(),
                                        pos: ck.pos,
                                    },
                                );
                            }
                            // No type: a refinement of an inherited capability (TOSCA 1.3).
                            None if cv.as_map().is_some() => {}
                            None => {
                                self.error(ck.pos, codes::SYNTAX, format!("capability \"{}\" needs a type", ck.name))
                            }
                        }
                    }
                }
                "requirements" if kind == TypeKind::Node => {
                    for item in v.as_seq().unwrap_or_default() {
                        let Some([(rk, rv)]) = item.as_map() else {
                            self.error(item.pos, codes::SYNTAX, "each requirement is a map with one name");
                            continue;
                        };
                        let field = |name: &str| match &rv.value {
                            NodeValue::Str(s) if name == "capability" => Some(s.clone()),
                            NodeValue::Map(_) => rv.get(name).and_then(|n| match &n.value {
                                NodeValue::Map(_) => n.get("type").and_then(Node::scalar_text),
                                _ => n.scalar_text(),
                            }),
                            _ => None,
                        };
                        let occurrences = match rv.get("occurrences") {
                            Some(o) => self.occurrences(o).unwrap_or((1, None)),
                            None => (1, None),
                        };
                        def.requirements.push(RequirementDef {
                            name: rk.name.clone(),
                            capability: field("capability"),
                            node: field("node"),
                            relationship: field("relationship"),
                            occurrences,
                        });
                    }
                }
                _ => {}
            }
        }
        def
    }
}

/// The known keyname closest to `word` (edit distance ≤ 2).
pub(crate) fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known.iter().map(|k| (edit_distance(word, k), *k)).filter(|(d, _)| *d <= 2).min_by_key(|(d, _)| *d).map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

impl TypeRegistry {
    /// A registry whose lookups fall back to `base`.
    pub(crate) fn over(base: Arc<TypeRegistry>) -> Self {
        Self { base: Some(base), types: Default::default() }
    }

    /// Definitions of this layer only (not the base's).
    pub(crate) fn own_defs(&self) -> impl Iterator<Item = &TypeDef> {
        self.types.iter().flat_map(|m| m.values()).map(|d| &**d)
    }

    fn lookup_exact(&self, kind: TypeKind, name: &str) -> Option<&Arc<TypeDef>> {
        match self.types[kind.index()].get(name) {
            Some(d) => Some(d),
            None => self.base.as_ref()?.lookup_exact(kind, name),
        }
    }

    /// Adds the definitions sections of one document; with a
    /// `namespace_prefix`, each type is also known as `prefix:name`.
    pub(crate) fn add_document(&mut self, doc: &Node, file: &str, prefix: Option<&str>, diags: &mut Vec<Diagnostic>) {
        let mut reader = Reader { file, diags };
        for (section, kind) in TypeKind::SECTIONS {
            let Some(node) = doc.get(section) else { continue };
            for (key, value) in reader.map(node, section) {
                let mut def = reader.type_def(kind, key, value);
                if let Some(old) = self.lookup_exact(kind, &key.name) {
                    if old.file != NORMATIVE_FILE && old.file != file {
                        reader.warning(
                            key.pos,
                            codes::DUPLICATE_TYPE,
                            format!(
                                "{} \"{}\" is also defined in {}; this definition is used",
                                kind.noun(),
                                key.name,
                                old.file
                            ),
                        );
                    }
                    if def.derived_from.is_none() && old.derived_from.is_some() && old.file == NORMATIVE_FILE {
                        // A file redefining a normative type without a parent keeps the normative parent.
                        def.derived_from.clone_from(&old.derived_from);
                    }
                }
                let def = Arc::new(def);
                if let Some(prefix) = prefix {
                    // TOSCA writes `prefix:Type`; tosca-parser's samples write `prefix.Type`.
                    self.types[kind.index()].insert(format!("{prefix}:{}", key.name), def.clone());
                    self.types[kind.index()].insert(format!("{prefix}.{}", key.name), def.clone());
                }
                self.types[kind.index()].insert(key.name.clone(), def);
            }
        }
    }

    /// The normative types, built once per process.
    pub(crate) fn normative() -> Arc<TypeRegistry> {
        static NORMATIVE_TYPES: OnceLock<Arc<TypeRegistry>> = OnceLock::new();
        NORMATIVE_TYPES
            .get_or_init(|| {
                let mut registry = Self::default();
                let mut diags = Vec::new();
                if let Ok(doc) =
                    crate::yaml::parse(NORMATIVE, NORMATIVE_FILE, &crate::yaml::Limits::default(), &mut diags)
                {
                    registry.add_document(&doc, NORMATIVE_FILE, None, &mut diags);
                }
                debug_assert!(diags.is_empty(), "{diags:?}");
                Arc::new(registry)
            })
            .clone()
    }

    /// The canonical name of `name` in `kind`, accepting TOSCA short names
    /// (`Compute`, `tosca:Compute`).
    pub fn resolve(&self, kind: TypeKind, name: &str) -> Option<&str> {
        self.get(kind, name).map(|d| d.name.as_str())
    }

    /// The names of all types of `kind`.
    pub fn names(&self, kind: TypeKind) -> Vec<&str> {
        let mut out: Vec<&str> = self.types[kind.index()].values().map(|d| d.name.as_str()).collect();
        if let Some(base) = &self.base {
            out.extend(base.names(kind));
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The definition of `name` (short names accepted).
    pub fn get(&self, kind: TypeKind, name: &str) -> Option<&TypeDef> {
        if let Some(d) = self.lookup_exact(kind, name) {
            return Some(d);
        }
        // Short names of normative types: `Compute`, `tosca:Compute`, `PortDef`.
        let short = name.strip_prefix("tosca:").unwrap_or(name);
        let ns = kind.namespace();
        ["", "network.", "Storage."]
            .iter()
            .find_map(|sub| self.lookup_exact(kind, &format!("tosca.{ns}.{sub}{short}")))
            .map(|d| &**d)
    }

    /// `name` and its ancestors, nearest first (stops at unknown parents and cycles).
    pub fn ancestors(&self, kind: TypeKind, name: &str) -> Vec<&TypeDef> {
        let mut out: Vec<&TypeDef> = Vec::new();
        let mut next = self.get(kind, name);
        while let Some(def) = next {
            if out.iter().any(|d| d.name == def.name) {
                break;
            }
            out.push(def);
            next = def.derived_from.as_ref().and_then(|(p, _)| self.get(kind, p));
        }
        out
    }

    /// Whether `name` is `base` or derives from it.
    pub fn derives_from(&self, kind: TypeKind, name: &str, base: &str) -> bool {
        let base = self.resolve(kind, base).unwrap_or(base);
        self.ancestors(kind, name).iter().any(|d| d.name == base)
    }

    /// Property definitions of `name`, inherited ones first, overridden by descendants.
    pub fn properties(&self, kind: TypeKind, name: &str) -> IndexMap<String, PropertyDef> {
        let mut out = IndexMap::new();
        for def in self.ancestors(kind, name).into_iter().rev() {
            for (k, p) in &def.properties {
                out.insert(k.clone(), p.clone());
            }
            for (k, v) in &def.refined_defaults {
                let slot = out.entry(k.clone()).or_insert_with(|| PropertyDef {
                    name: k.clone(),
                    type_name: "string".into(),
                    description: None,
                    required: false,
                    default: None,
                    constraints: Vec::new(),
                    entry_schema: None,
                    file: def.file.clone(),
                    pos: def.pos,
                });
                slot.default = Some(v.clone());
            }
        }
        out
    }

    /// Attribute definitions of `name`, inherited and overridden.
    pub fn attributes(&self, kind: TypeKind, name: &str) -> IndexMap<String, PropertyDef> {
        let mut out = IndexMap::new();
        for def in self.ancestors(kind, name).into_iter().rev() {
            for (k, p) in &def.attributes {
                out.insert(k.clone(), p.clone());
            }
        }
        out
    }

    /// Capability definitions of node type `name`, inherited and overridden.
    pub fn capabilities(&self, name: &str) -> IndexMap<String, CapabilityDef> {
        let mut out = IndexMap::new();
        for def in self.ancestors(TypeKind::Node, name).into_iter().rev() {
            for (k, c) in &def.capabilities {
                out.insert(k.clone(), c.clone());
            }
        }
        out
    }

    /// Requirement definitions of node type `name`, inherited and overridden by name.
    pub fn requirements(&self, name: &str) -> Vec<RequirementDef> {
        let mut out: Vec<RequirementDef> = Vec::new();
        for def in self.ancestors(TypeKind::Node, name).into_iter().rev() {
            for r in &def.requirements {
                match out.iter_mut().find(|o| o.name == r.name) {
                    Some(slot) => *slot = r.clone(),
                    None => out.push(r.clone()),
                }
            }
        }
        out
    }

    /// The operations of interface type `name`, inherited ones included.
    pub fn operations(&self, name: &str) -> Vec<String> {
        self.ancestors(TypeKind::Interface, name).iter().flat_map(|d| d.operations.clone()).collect()
    }

    /// Interface definitions of a node (or relationship, group) type along
    /// its chain: name → (interface type, operations named there), merged.
    pub fn interfaces(&self, kind: TypeKind, name: &str) -> IndexMap<String, (Option<String>, Vec<String>)> {
        let mut out: IndexMap<String, (Option<String>, Vec<String>)> = IndexMap::new();
        for def in self.ancestors(kind, name).into_iter().rev() {
            for (k, (t, ops)) in &def.interfaces {
                let slot = out.entry(k.clone()).or_default();
                if t.is_some() {
                    slot.0.clone_from(t);
                }
                slot.1.extend(ops.iter().cloned());
            }
        }
        out
    }

    /// Whether the `derived_from` chain of `name` ends at a root (no unknown parent, no cycle).
    pub fn chain_is_complete(&self, kind: TypeKind, name: &str) -> bool {
        let chain = self.ancestors(kind, name);
        chain.last().is_some_and(|last| {
            last.derived_from
                .as_ref()
                .is_none_or(|(p, _)| kind == TypeKind::Data && PRIMITIVE_TYPES.contains(&p.as_str()))
        })
    }

    /// Whether `name` names a primitive or a known data type.
    pub fn is_value_type(&self, name: &str) -> bool {
        PRIMITIVE_TYPES.contains(&name) || self.get(TypeKind::Data, name).is_some()
    }

    /// The primitive type a data type is derived from (`PortDef` → integer), or the name itself.
    pub fn primitive_of<'a>(&'a self, name: &'a str) -> &'a str {
        if PRIMITIVE_TYPES.contains(&name) {
            return name;
        }
        for def in self.ancestors(TypeKind::Data, name) {
            if let Some((p, _)) = &def.derived_from
                && PRIMITIVE_TYPES.contains(&p.as_str())
            {
                return p;
            }
        }
        name
    }

    /// Constraints a data type puts on its values, along its chain.
    pub fn type_constraints(&self, name: &str) -> Vec<Constraint> {
        self.ancestors(TypeKind::Data, name).iter().flat_map(|d| d.constraints.clone()).collect()
    }

    /// Checks every definition: parents exist, no `derived_from` cycles,
    /// property and capability types exist.
    ///
    /// Problems in imported files are warnings (INDIGO's devel types have a
    /// dangling parent); they become errors where the template uses the type.
    pub(crate) fn check(&self, main_file: &str, diags: &mut Vec<Diagnostic>) {
        let mut defs: Vec<&TypeDef> = self.own_defs().collect();
        defs.sort_by(|a, b| a.name.cmp(&b.name));
        defs.dedup_by(|a, b| std::ptr::eq(*a, *b));
        defs.sort_by(|a, b| (&a.file, a.pos.line, a.pos.column).cmp(&(&b.file, b.pos.line, b.pos.column)));
        for def in defs {
            let mut reader = Reader { file: &def.file, diags };
            let report = |reader: &mut Reader<'_>, pos: Pos, code: &'static str, msg: String| {
                if def.file == main_file {
                    reader.error(pos, code, msg);
                } else {
                    reader.warning(pos, code, msg);
                }
            };
            if let Some((parent, pos)) = &def.derived_from {
                let known = self.get(def.kind, parent).is_some()
                    || (def.kind == TypeKind::Data && PRIMITIVE_TYPES.contains(&parent.as_str()));
                if !known {
                    report(
                        &mut reader,
                        *pos,
                        codes::UNKNOWN_TYPE,
                        format!(
                            "{} \"{}\" derives from unknown {} \"{parent}\"",
                            def.kind.noun(),
                            def.name,
                            def.kind.noun()
                        ),
                    );
                } else {
                    let mut seen = HashSet::new();
                    let mut cur = Some(def);
                    while let Some(d) = cur {
                        if !seen.insert(d.name.as_str()) {
                            report(
                                &mut reader,
                                *pos,
                                codes::TYPE_CYCLE,
                                format!("{} \"{}\" derives from itself through {parent}", def.kind.noun(), def.name),
                            );
                            break;
                        }
                        cur = d.derived_from.as_ref().and_then(|(p, _)| self.get(def.kind, p));
                    }
                }
            }
            for p in def.properties.values().chain(def.attributes.values()) {
                if !self.is_value_type(&p.type_name) {
                    report(
                        &mut reader,
                        p.pos,
                        codes::UNKNOWN_TYPE,
                        format!(
                            "\"{}\" of {} \"{}\" has unknown type \"{}\"",
                            p.name,
                            def.kind.noun(),
                            def.name,
                            p.type_name
                        ),
                    );
                }
            }
            for p in def.properties.values().chain(def.attributes.values()) {
                if let Some(entry) = &p.entry_schema
                    && !self.is_value_type(entry)
                {
                    report(
                        &mut reader,
                        p.pos,
                        codes::UNKNOWN_TYPE,
                        format!(
                            "the entry_schema of \"{}\" of {} \"{}\" has unknown type \"{entry}\"",
                            p.name,
                            def.kind.noun(),
                            def.name
                        ),
                    );
                }
            }
            if def.kind == TypeKind::Data
                && !def.properties.is_empty()
                && PRIMITIVE_TYPES.contains(&self.primitive_of(&def.name))
            {
                report(
                    &mut reader,
                    def.pos,
                    codes::SYNTAX,
                    format!(
                        "data type \"{}\" derives from the primitive type {} and cannot define properties",
                        def.name,
                        self.primitive_of(&def.name)
                    ),
                );
            }
            for (source, pos) in &def.valid_source_types {
                if self.get(TypeKind::Node, source).is_none() {
                    report(
                        &mut reader,
                        *pos,
                        codes::UNKNOWN_TYPE,
                        format!("capability type \"{}\": valid source type \"{source}\" is not a node type", def.name),
                    );
                }
            }
            for (target, pos) in &def.valid_target_types {
                if self.get(TypeKind::Capability, target).is_none() {
                    report(
                        &mut reader,
                        *pos,
                        codes::UNKNOWN_TYPE,
                        format!(
                            "relationship type \"{}\": valid target type \"{target}\" is not a capability type",
                            def.name
                        ),
                    );
                }
            }
            for c in def.capabilities.values() {
                if self.get(TypeKind::Capability, &c.type_name).is_none() {
                    report(
                        &mut reader,
                        c.pos,
                        codes::UNKNOWN_TYPE,
                        format!(
                            "capability \"{}\" of node type \"{}\" has unknown type \"{}\"",
                            c.name, def.name, c.type_name
                        ),
                    );
                }
            }
        }
    }
}
