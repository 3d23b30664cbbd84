//! Loading a service template: parse, resolve imports, build the type
//! registry, read the topology and validate it (known types, properties,
//! capabilities, requirement targets, `get_input` names), reporting every
//! problem found with its position.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::constraints::Constraint;
use crate::diagnostics::{Diagnostic, Diagnostics, Pos, codes};
use crate::imports::ImportResolver;
use crate::types::{PropertyDef, Reader, TypeKind, TypeRegistry, closest};
use crate::yaml::{Key, Limits, Node, NodeValue};

/// The `tosca_definitions_version` values accepted (short and URL forms).
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "tosca_simple_yaml_1_0",
    "tosca_simple_yaml_1_1",
    "tosca_simple_yaml_1_2",
    "tosca_simple_yaml_1_3",
    "http://docs.oasis-open.org/tosca/ns/simple/yaml/1.0",
    "http://docs.oasis-open.org/tosca/ns/simple/yaml/1.1",
    "http://docs.oasis-open.org/tosca/ns/simple/yaml/1.2",
    "http://docs.oasis-open.org/tosca/ns/simple/yaml/1.3",
    // tosca-parser's profiles; their definitions are loaded as implicit imports.
    "tosca_simple_profile_for_nfv_1_0_0",
    "tosca_simple_profile_for_mec_1_0_0",
];

/// Most diagnostics reported for one template.
const MAX_DIAGNOSTICS: usize = 200;
/// Most files one template may import (directly or not).
const MAX_IMPORTS: usize = 64;

/// A template input (a deployment parameter), as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputDef {
    /// The input's name.
    pub name: String,
    /// Its TOSCA type (`string`, `integer`, `scalar-unit.size`, ...).
    pub type_name: String,
    /// Its description.
    pub description: Option<String>,
    /// The value used when none is given.
    pub default: Option<Value>,
    /// Whether a value (or a default) is needed.
    pub required: bool,
    /// Constraint clauses the value must satisfy.
    pub constraints: Vec<Constraint>,
    /// The entry type of a list or map input.
    pub entry_schema: Option<String>,
    /// Whether its value is a secret (a password, a token, a private key):
    /// sealed at rest, never shown back. Declared with `metadata: {secret:
    /// true}`, or told by the input's name (see
    /// [`nuvola_types::is_secret_input`]), which can only add secrets.
    #[serde(default)]
    pub secret: bool,
}

/// A requirement assignment of a node template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequirementAssignment {
    pub name: String,
    pub pos: Pos,
    /// The target node template (or node type, left to the orchestrator).
    pub node: Option<(String, Pos)>,
    /// The target capability: a capability name of the target or a capability type.
    pub capability: Option<(String, Pos)>,
    /// The `node_filter` the target must pass.
    pub node_filter: Option<Node>,
    pub relationship_type: Option<String>,
    /// A named relationship template (or type, in the short form).
    pub relationship_template: Option<String>,
    /// Where the relationship is written.
    pub relationship_pos: Option<Pos>,
    pub relationship_properties: IndexMap<String, Node>,
}

/// A node template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeTemplate {
    pub name: String,
    pub pos: Pos,
    pub type_name: String,
    pub properties: IndexMap<String, Node>,
    pub capabilities: IndexMap<String, IndexMap<String, Node>>,
    pub requirements: Vec<RequirementAssignment>,
    /// Values elsewhere in the template that may call functions (interfaces, artifacts).
    pub other: Vec<Node>,
    /// The node template named by `copy:`.
    pub copy: Option<String>,
    /// The `interfaces` and `artifacts` values, for artifact file checks.
    pub interfaces: Option<Node>,
    pub artifacts: Option<Node>,
    /// The `node_filter` an orchestrator selects an existing node with (`directives: [select]`).
    pub node_filter: Option<Node>,
    /// Its `directives` (`select`, `substitute`).
    pub directives: Vec<String>,
}

/// A relationship template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RelationshipTemplate {
    pub type_name: String,
    /// Where the type is written (else the template's name).
    pub type_pos: Pos,
    pub properties: IndexMap<String, Node>,
}

/// A policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PolicyTemplate {
    pub name: String,
    pub type_name: String,
    /// Where the type is written (else the policy's name).
    pub type_pos: Pos,
    pub properties: IndexMap<String, Node>,
    /// Target names and where each is written.
    pub targets: Vec<(String, Pos)>,
}

/// A group of node templates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupTemplate {
    /// Where its name is written.
    pub pos: Pos,
    pub type_name: Option<(String, Pos)>,
    pub properties: IndexMap<String, Node>,
    /// Its members (node template names) and where each is written.
    pub members: Vec<(String, Pos)>,
}

/// A loaded, validated service template.
#[derive(Debug, Clone)]
pub struct ServiceTemplate {
    pub(crate) file: String,
    pub(crate) version: String,
    pub(crate) metadata: IndexMap<String, String>,
    pub(crate) description: Option<String>,
    pub(crate) inputs: IndexMap<String, InputDef>,
    pub(crate) input_pos: IndexMap<String, Pos>,
    pub(crate) nodes: IndexMap<String, NodeTemplate>,
    pub(crate) relationships: IndexMap<String, RelationshipTemplate>,
    pub(crate) outputs: IndexMap<String, (Option<String>, Node)>,
    pub(crate) policies: Vec<PolicyTemplate>,
    /// Group names, with where each is defined.
    pub(crate) groups: IndexMap<String, GroupTemplate>,
    /// `topology_template.substitution_mappings`, checked by validation.
    pub(crate) substitution: Option<Node>,
    /// `topology_template.workflows` (TOSCA 1.3), checked by validation.
    pub(crate) workflows: Option<Node>,
    /// Node types that imported templates substitute (their `substitution_mappings.node_type`).
    pub(crate) substituted_types: Vec<String>,
    pub(crate) registry: TypeRegistry,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl ServiceTemplate {
    /// A template named `file` with nothing read yet.
    fn empty(file: &str, version: String, doc: &Node, registry: TypeRegistry) -> Self {
        Self {
            file: file.to_owned(),
            version,
            metadata: IndexMap::new(),
            description: doc.get("description").and_then(Node::scalar_text),
            inputs: IndexMap::new(),
            input_pos: IndexMap::new(),
            nodes: IndexMap::new(),
            relationships: IndexMap::new(),
            outputs: IndexMap::new(),
            policies: Vec::new(),
            groups: IndexMap::new(),
            substitution: None,
            substituted_types: Vec::new(),
            workflows: None,
            registry,
            warnings: Vec::new(),
        }
    }
}

/// Parses `text` (named `file_name` in diagnostics), resolves its imports
/// through `resolver`, and validates it. On failure returns every problem
/// found (errors and warnings).
pub fn load(text: &str, file_name: &str, resolver: &dyn ImportResolver) -> Result<ServiceTemplate, Diagnostics> {
    load_with_limits(text, file_name, resolver, &Limits::default())
}

/// [`load`] with explicit size limits. The template's own definitions, and
/// the files it imports, each have a budget for compiling the regular
/// expressions of `pattern` constraints (see [`crate::patterns`]).
pub fn load_with_limits(
    text: &str,
    file_name: &str,
    resolver: &dyn ImportResolver,
    limits: &Limits,
) -> Result<ServiceTemplate, Diagnostics> {
    crate::patterns::with_budget(|| load_within_budget(text, file_name, resolver, limits))
}

fn load_within_budget(
    text: &str,
    file_name: &str,
    resolver: &dyn ImportResolver,
    limits: &Limits,
) -> Result<ServiceTemplate, Diagnostics> {
    let mut diags = Vec::new();
    let doc = crate::yaml::parse(text, file_name, limits, &mut diags).map_err(|e| finish(diags.clone(), Some(e)))?;
    if doc.as_map().is_none() {
        diags.push(Diagnostic::error(file_name, doc.pos, codes::SYNTAX, "a TOSCA service template must be a YAML map"));
        return Err(finish(diags, None));
    }
    let version = check_version(&doc, file_name, &mut diags).unwrap_or_default();
    if let Some([(first, _), ..]) = doc.as_map()
        && first.name != "tosca_definitions_version"
        && doc.get("tosca_definitions_version").is_some()
    {
        diags.push(Diagnostic::error(
            file_name,
            first.pos,
            codes::VERSION,
            format!("tosca_definitions_version must be the first keyname of the template, before \"{}\"", first.name),
        ));
    }

    let mut loader = ImportLoader {
        main_text: text,
        resolver,
        limits,
        loaded: HashSet::new(),
        stack: vec![file_name.to_owned()],
        docs: Vec::new(),
        diags: &mut diags,
    };
    loader.imports(&doc, file_name, None);
    let docs = std::mem::take(&mut loader.docs);
    let base = if docs.is_empty() {
        TypeRegistry::normative()
    } else {
        let key: Vec<crate::cache::ImportKey> = docs.iter().map(|d| d.0.clone()).collect();
        // Built once per list of imports (then cached), with a budget of
        // its own: what the template may spend does not depend on the cache.
        let base = crate::cache::base(&key, || {
            crate::patterns::with_budget(|| {
                let mut registry = TypeRegistry::over(TypeRegistry::normative());
                let mut found = Vec::new();
                for ((name, prefix, _), parsed) in &docs {
                    registry.add_document(&parsed.doc, name, prefix.as_deref(), &mut found);
                }
                // Problems of imported types are warnings here; they become
                // errors where the template uses the type.
                registry.check("", &mut found);
                std::sync::Arc::new((std::sync::Arc::new(registry), found))
            })
        });
        for (_, parsed) in &docs {
            diags.extend(parsed.diags.iter().cloned());
        }
        diags.extend(base.1.iter().cloned());
        base.0.clone()
    };
    let mut registry = TypeRegistry::over(base.clone());
    registry.add_document(&doc, file_name, None, &mut diags);
    // A copy of a built-in profile file is checked as the built-in file is
    // when imported: its known defects (tosca-parser's NFV/MEC profiles
    // derive from `tosca.relationships.root`) are warnings.
    let builtin = crate::imports::is_profile_file(text);
    registry.check(if builtin { "" } else { file_name }, &mut diags);

    let mut tpl = ServiceTemplate::empty(file_name, version, &doc, registry);
    read_service_template(&mut tpl, &doc, &mut diags);
    tpl.substituted_types = docs
        .iter()
        .filter_map(|(_, parsed)| {
            parsed.doc.get("topology_template")?.get("substitution_mappings")?.get("node_type")?.scalar_text()
        })
        .collect();
    crate::validate::validate(&tpl, &mut diags);
    // An imported template that substitutes a node type must fit it too
    // (tosca-parser checks the imported topology's substitution_mappings).
    for ((name, _, _), parsed) in &docs {
        let Some(sub) = parsed.doc.get("topology_template").and_then(|t| t.get("substitution_mappings")) else {
            continue;
        };
        let mut imported = ServiceTemplate::empty(name, String::new(), &parsed.doc, TypeRegistry::over(base.clone()));
        // Its other problems are reported as those of an imported file already.
        read_service_template(&mut imported, &parsed.doc, &mut Vec::new());
        crate::validate::substitution_mappings(&imported, sub, &mut diags);
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Err(finish(diags, None));
    }
    tpl.warnings = diags;
    Ok(tpl)
}

fn finish(mut diags: Vec<Diagnostic>, extra: Option<Diagnostic>) -> Diagnostics {
    diags.extend(extra);
    // Errors first, then warnings, each in the order found.
    diags.sort_by_key(|d| !d.is_error());
    if diags.len() > MAX_DIAGNOSTICS {
        let file = diags[0].file.clone();
        diags.truncate(MAX_DIAGNOSTICS);
        diags.push(Diagnostic::error(
            &file,
            Pos::default(),
            codes::LIMIT,
            format!("more than {MAX_DIAGNOSTICS} problems; the rest are not shown"),
        ));
    }
    Diagnostics(diags)
}

fn check_version(doc: &Node, file: &str, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let Some(v) = doc.get("tosca_definitions_version") else {
        diags.push(Diagnostic::error(
            file,
            doc.pos,
            codes::VERSION,
            "tosca_definitions_version is missing; add e.g. \"tosca_definitions_version: tosca_simple_yaml_1_0\"",
        ));
        return None;
    };
    let text = v.scalar_text().unwrap_or_default();
    if !SUPPORTED_VERSIONS.contains(&text.as_str()) {
        diags.push(Diagnostic::error(
            file,
            v.pos,
            codes::VERSION,
            format!("tosca_definitions_version \"{text}\" is not supported (supported: tosca_simple_yaml_1_0 to tosca_simple_yaml_1_3, tosca_simple_profile_for_nfv_1_0_0, tosca_simple_profile_for_mec_1_0_0)"),
        ));
        return None;
    }
    Some(text)
}

struct ImportLoader<'a> {
    /// The main template's text (a copy of a built-in profile file does not import itself).
    main_text: &'a str,
    resolver: &'a dyn ImportResolver,
    limits: &'a Limits,
    loaded: HashSet<String>,
    /// Files being loaded, outermost first (to detect cycles).
    stack: Vec<String>,
    /// Loaded documents in dependency order (imports before importers).
    docs: Vec<(crate::cache::ImportKey, std::sync::Arc<crate::cache::ParsedFile>)>,
    diags: &'a mut Vec<Diagnostic>,
}

impl ImportLoader<'_> {
    /// Loads the imports of `doc` (the file `file`); `inherited` is the
    /// namespace prefix `file` was imported under, which its own imports
    /// without a prefix share (a profile's types are all in its namespace).
    fn imports(&mut self, doc: &Node, file: &str, inherited: Option<&str>) {
        // A profile version (NFV, MEC) imports the profile's definitions first.
        if let Some(v) = doc.get("tosca_definitions_version") {
            let version = v.scalar_text().unwrap_or_default();
            for (name, text) in crate::imports::profile_imports(&version) {
                if *name != file && *text != self.main_text {
                    self.add(file, (*name).to_owned(), (*text).to_owned(), inherited.map(str::to_owned), v.pos);
                }
            }
        }
        let Some(imports) = doc.get("imports") else { return };
        let items: Vec<&Node> = match &imports.value {
            NodeValue::Seq(s) => s.iter().collect(),
            NodeValue::Null => Vec::new(),
            _ => {
                self.diags.push(Diagnostic::error(file, imports.pos, codes::SYNTAX, "imports must be a list"));
                return;
            }
        };
        for item in items {
            // Forms: "url", { name: "url" }, { file: url, ... }, { name: { file: url, ... } }.
            let mut prefix = None;
            let mut repository = None;
            let target = match &item.value {
                NodeValue::Str(s) => Some((s.clone(), item.pos)),
                NodeValue::Map(m) => {
                    let inner = if m.iter().any(|(k, _)| k.name == "file") {
                        item
                    } else if let [(_, v)] = m.as_slice() {
                        v
                    } else {
                        item
                    };
                    prefix = inner.get("namespace_prefix").and_then(Node::scalar_text);
                    repository = inner.get("repository").map(|r| (r.scalar_text().unwrap_or_default(), r.pos));
                    match &inner.value {
                        NodeValue::Str(s) => Some((s.clone(), inner.pos)),
                        NodeValue::Map(_) => inner.get("file").and_then(|f| f.as_str().map(|s| (s.to_owned(), f.pos))),
                        _ => None,
                    }
                }
                _ => None,
            };
            let Some((import, pos)) = target else {
                self.diags.push(Diagnostic::error(
                    file,
                    item.pos,
                    codes::SYNTAX,
                    "an import is a URL or path, or a map with a \"file\" keyname",
                ));
                continue;
            };
            // `repository: name`: the file is relative to the repository's URL.
            let import = match repository {
                None => import,
                Some((repo, repo_pos)) => match repository_url(doc, &repo) {
                    Some(url) if crate::imports::is_url(&url) => {
                        format!("{}/{}", url.trim_end_matches('/'), import.trim_start_matches('/'))
                    }
                    _ => {
                        self.diags.push(Diagnostic::error(
                            file,
                            repo_pos,
                            codes::IMPORT,
                            format!(
                                "cannot import \"{import}\": repository \"{repo}\" is not defined under repositories (with a URL) in this file"
                            ),
                        ));
                        continue;
                    }
                },
            };
            self.one(file, &import, prefix.or_else(|| inherited.map(str::to_owned)), pos);
        }
    }

    fn one(&mut self, file: &str, import: &str, prefix: Option<String>, pos: Pos) {
        let main = self.stack[0].clone();
        let found = self.resolver.load(file, import).or_else(|e| {
            // tosca-parser reads a nested relative import against the main
            // template's folder when it is not next to the importing file.
            if file != main && !crate::imports::is_url(import) && !crate::imports::is_url(file) {
                self.resolver.load(&main, import).map_err(|_| e)
            } else {
                Err(e)
            }
        });
        // tosca-parser also finds a relative import that repeats part of the
        // importing file's folder (`data/custom_types/x.yaml` imported from
        // `data/custom_types/`): try the folders above, with a warning.
        let found = found.or_else(|e| {
            if crate::imports::is_url(import) || crate::imports::is_url(file) {
                return Err(e);
            }
            let mut dir = std::path::Path::new(file).parent();
            for _ in 0..3 {
                dir = dir.and_then(std::path::Path::parent);
                let Some(d) = dir else { break };
                if let Ok(found) = self.resolver.load(&d.join("_").display().to_string(), import) {
                    self.diags.push(Diagnostic::warning(
                        file,
                        pos,
                        codes::IMPORT_ABOVE,
                        format!("\"{import}\" is not next to this file; using {}", found.name),
                    ));
                    return Ok(found);
                }
            }
            Err(e)
        });
        // A profile imported by name (`org.tmforum:1.0`, as Puccini does):
        // `profiles/org/tmforum/1.0/profile.yaml` in the importing file's
        // folder or one above it.
        let found = found.or_else(|e| {
            let Some(rel) = profile_path(import) else { return Err(e) };
            if crate::imports::is_url(file) {
                return Err(e);
            }
            let mut dir = std::path::Path::new(file).parent();
            for _ in 0..8 {
                let Some(d) = dir else { break };
                if let Ok(found) = self.resolver.load(&d.join("_").display().to_string(), &rel) {
                    return Ok(found);
                }
                dir = d.parent();
            }
            Err(format!("{e}; no {rel} in its folder or the folders above"))
        });
        match found {
            Ok(found) => {
                if let Some(note) = found.stand_in {
                    self.diags.push(Diagnostic::warning(
                        file,
                        pos,
                        codes::IMPORT_VERSION,
                        format!("import \"{import}\": {note}"),
                    ));
                }
                self.add(file, found.name, found.text, prefix, pos)
            }
            Err(e) => {
                self.diags.push(Diagnostic::error(file, pos, codes::IMPORT, format!("cannot import \"{import}\": {e}")))
            }
        }
    }

    /// Adds the imported file `name` (its text found) and, first, its own imports.
    fn add(&mut self, file: &str, name: String, text: String, prefix: Option<String>, pos: Pos) {
        if let Some(i) = self.stack.iter().position(|s| *s == name) {
            let mut chain = self.stack[i..].to_vec();
            chain.push(name);
            self.diags.push(Diagnostic::warning(
                file,
                pos,
                codes::IMPORT_CYCLE,
                format!("import cycle: {}", chain.join(" -> ")),
            ));
            return;
        }
        // A file imported again under another namespace prefix is added again under that prefix.
        if !self.loaded.insert(format!("{name}\u{0}{}", prefix.as_deref().unwrap_or_default())) {
            return;
        }
        if self.loaded.len() > MAX_IMPORTS {
            self.diags.push(Diagnostic::error(
                file,
                pos,
                codes::LIMIT,
                format!("more than {MAX_IMPORTS} imported files"),
            ));
            return;
        }
        let hash = crate::cache::hash_text(&text);
        let parsed = crate::cache::parsed_file(&name, hash, self.limits, || {
            let mut diags = Vec::new();
            match crate::yaml::parse(&text, &name, self.limits, &mut diags) {
                Ok(doc) => {
                    if doc.get("tosca_definitions_version").is_none() {
                        // tosca-parser reads imported type files without one; so does nuvola, with a warning.
                        diags.push(Diagnostic::warning(
                            &name,
                            doc.pos,
                            codes::VERSION,
                            "tosca_definitions_version is missing in this imported file; its definitions are read as TOSCA 1.0",
                        ));
                    } else {
                        check_version(&doc, &name, &mut diags);
                    }
                    Some(crate::cache::ParsedFile { doc, diags })
                }
                Err(e) => {
                    self.diags.extend(diags);
                    self.diags.push(e);
                    None
                }
            }
        });
        let Some(parsed) = parsed else { return };
        self.stack.push(name.clone());
        self.imports(&parsed.doc, &name, prefix.as_deref());
        self.stack.pop();
        self.docs.push(((name, prefix, hash), parsed));
    }
}

/// The URL of repository `name` defined in `doc` (`name: url` or `name: { url: ... }`).
fn repository_url(doc: &Node, name: &str) -> Option<String> {
    let repo = doc.get("repositories")?.get(name)?;
    match &repo.value {
        NodeValue::Map(_) => repo.get("url")?.scalar_text(),
        _ => repo.scalar_text(),
    }
}

/// The file a profile imported by name stands for: `org.tmforum:1.0` →
/// `profiles/org/tmforum/1.0/profile.yaml`; `None` for paths and URLs.
fn profile_path(import: &str) -> Option<String> {
    let (namespace, version) = import.split_once(':')?;
    let word = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && !s.starts_with('.')
            && !s.contains("..")
    };
    if !word(namespace) || !word(version) || !namespace.contains('.') {
        return None;
    }
    Some(format!("profiles/{}/{version}/profile.yaml", namespace.replace('.', "/")))
}

const SERVICE_TEMPLATE_KEYS: &[&str] = &[
    "tosca_definitions_version",
    "namespace",
    "metadata",
    "description",
    "dsl_definitions",
    "repositories",
    "imports",
    "artifact_types",
    "data_types",
    "capability_types",
    "interface_types",
    "relationship_types",
    "node_types",
    "group_types",
    "policy_types",
    "topology_template",
    "template_name",
    "template_author",
    "template_version",
];
const TOPOLOGY_KEYS: &[&str] = &[
    "description",
    "inputs",
    "node_templates",
    "relationship_templates",
    "groups",
    "policies",
    "outputs",
    "substitution_mappings",
    "workflows",
];
const NODE_TEMPLATE_KEYS: &[&str] = &[
    "type",
    "description",
    "metadata",
    "directives",
    "properties",
    "attributes",
    "requirements",
    "capabilities",
    "interfaces",
    "artifacts",
    "node_filter",
    "copy",
];

fn read_service_template(tpl: &mut ServiceTemplate, doc: &Node, diags: &mut Vec<Diagnostic>) {
    let file = tpl.file.clone();
    let mut r = Reader { file: &file, diags };
    let top = r.map(doc, "the service template");
    r.check_keys(top, SERVICE_TEMPLATE_KEYS, "the service template");
    if let Some(m) = doc.get("metadata").filter(|m| {
        let scalar = m.as_map().is_none() && !m.is_null();
        if scalar {
            r.warning(m.pos, codes::UNKNOWN_KEY, "metadata should be a map of keynames to strings; ignored");
        }
        !scalar
    }) {
        for (k, v) in r.map(m, "metadata") {
            if matches!(v.value, NodeValue::Map(_) | NodeValue::Seq(_)) {
                r.error(v.pos, codes::TYPE, format!("metadata \"{}\" must be a string, not a list or map", k.name));
            } else if k.name == "template_version"
                && !crate::typecheck::is_version(&v.scalar_text().unwrap_or_default())
            {
                r.error(
                    v.pos,
                    codes::TYPE,
                    format!(
                        "metadata template_version {} is not a version (expected major.minor[.fix[.qualifier[-build]]])",
                        v.to_json()
                    ),
                );
            }
            tpl.metadata.insert(k.name.clone(), v.scalar_text().unwrap_or_default());
        }
    }
    for key in ["description"] {
        if let Some(d) = doc.get(key).or_else(|| doc.get("topology_template").and_then(|t| t.get(key)))
            && matches!(d.value, NodeValue::Map(_) | NodeValue::Seq(_))
        {
            r.error(d.pos, codes::TYPE, "description must be a string, not a list or map");
        }
    }
    for key in ["template_name", "template_author", "template_version"] {
        if let Some(v) = doc.get(key).and_then(Node::scalar_text) {
            tpl.metadata.entry(key.to_owned()).or_insert(v);
        }
    }
    if let Some(repos) = doc.get("repositories") {
        for (k, v) in r.map(repos, "repositories") {
            let has_url = match &v.value {
                NodeValue::Str(_) => true,
                NodeValue::Map(_) => v.get("url").is_some_and(|u| u.as_str().is_some()),
                _ => false,
            };
            if !has_url {
                r.error(k.pos, codes::SYNTAX, format!("repository \"{}\" needs a url", k.name));
            }
        }
    }
    if let Some(itypes) = doc.get("interface_types").and_then(Node::as_map) {
        for (tk, tv) in itypes {
            for (k, v) in tv.as_map().unwrap_or_default() {
                match k.name.as_str() {
                    "derived_from" | "version" | "metadata" | "description" | "operations" | "notifications" => {}
                    "inputs" => {
                        for (ik, iv) in v.as_map().unwrap_or_default() {
                            if iv.as_map().is_none() {
                                r.error(
                                    ik.pos,
                                    codes::SYNTAX,
                                    format!(
                                        "interface type \"{}\": input \"{}\" must be a property definition (a map with a type)",
                                        tk.name, ik.name
                                    ),
                                );
                            }
                        }
                    }
                    _ => {
                        if let Some(imp) = v.as_map().and_then(|m| m.iter().find(|(ok, _)| ok.name == "implementation"))
                        {
                            r.error(
                                imp.0.pos,
                                codes::UNKNOWN_OPERATION,
                                format!(
                                    "interface type \"{}\": operation \"{}\" may not have an implementation in a type (give it in the node template or node type)",
                                    tk.name, k.name
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    let Some(topology) = doc.get("topology_template") else { return };
    let entries = r.map(topology, "topology_template");
    r.check_keys_strict(entries, TOPOLOGY_KEYS, "topology_template");
    if tpl.description.is_none() {
        tpl.description = topology.get("description").and_then(Node::scalar_text);
    }
    tpl.substitution = topology.get("substitution_mappings").cloned();
    tpl.workflows = topology.get("workflows").cloned();
    if let Some(inputs) = topology.get("inputs") {
        for (k, v) in r.map(inputs, "inputs") {
            let p: PropertyDef = r.property(k, v, false);
            let declared = v.get("metadata").and_then(|m| m.get("secret")).and_then(Node::scalar_text);
            let secret =
                declared.is_some_and(|s| s.eq_ignore_ascii_case("true")) || nuvola_types::is_secret_input(&k.name);
            tpl.input_pos.insert(k.name.clone(), k.pos);
            tpl.inputs.insert(
                k.name.clone(),
                InputDef {
                    name: p.name,
                    type_name: p.type_name,
                    description: p.description,
                    default: p.default,
                    required: p.required,
                    constraints: p.constraints,
                    entry_schema: p.entry_schema,
                    secret,
                },
            );
        }
    }
    if let Some(nodes) = topology.get("node_templates") {
        for (k, v) in r.map(nodes, "node_templates") {
            let node = read_node_template(&mut r, k, v);
            tpl.nodes.insert(k.name.clone(), node);
        }
    }
    if let Some(rels) = topology.get("relationship_templates") {
        for (k, v) in r.map(rels, "relationship_templates") {
            let type_name = v.get("type").and_then(Node::scalar_text).unwrap_or_default();
            let type_pos = v.get("type").map_or(k.pos, |t| t.pos);
            let properties = props(&mut r, v.get("properties"));
            tpl.relationships.insert(k.name.clone(), RelationshipTemplate { type_name, type_pos, properties });
        }
    }
    if let Some(outputs) = topology.get("outputs") {
        for (k, v) in r.map(outputs, "outputs") {
            let entries = r.map(v, &format!("output \"{}\"", k.name));
            r.check_keys(
                entries,
                &["description", "value", "type", "required", "status", "metadata"],
                &format!("output \"{}\"", k.name),
            );
            let value = v.get("value").cloned().unwrap_or_else(|| Node::null(k.pos));
            tpl.outputs.insert(k.name.clone(), (v.get("description").and_then(Node::scalar_text), value));
        }
    }
    if let Some(groups) = topology.get("groups") {
        for (k, v) in r.map(groups, "groups") {
            let entries = r.map(v, &format!("group \"{}\"", k.name));
            r.check_keys(
                entries,
                &[
                    "type",
                    "description",
                    "metadata",
                    "properties",
                    "attributes",
                    "members",
                    "interfaces",
                    "capabilities",
                    "requirements",
                ],
                &format!("group \"{}\"", k.name),
            );
            let members = match v.get("members") {
                Some(m) => match m.as_seq() {
                    Some(items) => items.iter().filter_map(|i| Some((i.scalar_text()?, i.pos))).collect(),
                    None => {
                        r.error(
                            m.pos,
                            codes::SYNTAX,
                            format!("group \"{}\": members must be a list of node templates", k.name),
                        );
                        Vec::new()
                    }
                },
                None => Vec::new(),
            };
            let type_name = v.get("type").and_then(|t| Some((t.scalar_text()?, t.pos)));
            let properties = props(&mut r, v.get("properties"));
            tpl.groups.insert(k.name.clone(), GroupTemplate { pos: k.pos, type_name, properties, members });
        }
    }
    // `copy: other` takes the other node template's type when none is
    // given, and its property values (merged into maps) where the copy
    // gives none; chains of copies are followed from their origin.
    let mut pending: Vec<String> = tpl.nodes.values().filter(|n| n.copy.is_some()).map(|n| n.name.clone()).collect();
    for _ in 0..8 {
        let before = pending.len();
        pending.retain(|name| {
            let from = tpl.nodes[name].copy.clone().unwrap_or_default();
            if pending_contains(&tpl.nodes, &from) {
                return true;
            }
            let Some(source) = tpl.nodes.get(&from).cloned() else { return false };
            let n = tpl.nodes.get_mut(name).expect("pending names are node templates");
            if n.type_name.is_empty() {
                n.type_name = source.type_name;
            }
            for (k, v) in source.properties {
                match n.properties.get_mut(&k) {
                    Some(mine) => merge_missing(mine, &v),
                    None => {
                        n.properties.insert(k, v);
                    }
                }
            }
            n.copy = None;
            false
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    if let Some(policies) = topology.get("policies") {
        let items: Vec<(&Key, &Node)> = match &policies.value {
            NodeValue::Seq(s) => s
                .iter()
                .filter_map(|i| match i.as_map() {
                    Some([(k, v)]) => Some((k, v)),
                    _ => {
                        r.error(i.pos, codes::SYNTAX, "each policy is a map with one name");
                        None
                    }
                })
                .collect(),
            NodeValue::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
            _ => Vec::new(),
        };
        for (k, v) in items {
            let entries = r.map(v, &format!("policy \"{}\"", k.name));
            r.check_keys(
                entries,
                &["type", "description", "metadata", "properties", "targets", "triggers"],
                &format!("policy \"{}\"", k.name),
            );
            let type_name = v.get("type").and_then(Node::scalar_text).unwrap_or_default();
            let type_pos = v.get("type").map_or(k.pos, |t| t.pos);
            let properties = props(&mut r, v.get("properties"));
            let targets = v
                .get("targets")
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .filter_map(|t| Some((t.scalar_text()?, t.pos)))
                .collect();
            tpl.policies.push(PolicyTemplate { name: k.name.clone(), type_name, type_pos, properties, targets });
        }
    }
}

/// Whether node template `name` still has an unresolved `copy:`.
fn pending_contains(nodes: &IndexMap<String, NodeTemplate>, name: &str) -> bool {
    nodes.get(name).is_some_and(|n| n.copy.is_some())
}

/// Adds to map `mine` the keys of map `theirs` it lacks, recursively.
fn merge_missing(mine: &mut Node, theirs: &Node) {
    let (NodeValue::Map(mine), Some(theirs)) = (&mut mine.value, theirs.as_map()) else { return };
    for (k, v) in theirs {
        match mine.iter_mut().find(|(mk, _)| mk.name == k.name) {
            Some((_, m)) => merge_missing(m, v),
            None => mine.push((k.clone(), v.clone())),
        }
    }
}

fn props(r: &mut Reader<'_>, node: Option<&Node>) -> IndexMap<String, Node> {
    let mut out = IndexMap::new();
    if let Some(node) = node {
        for (k, v) in r.map(node, "properties") {
            out.insert(k.name.clone(), Node { pos: k.pos, value: v.value.clone() });
        }
    }
    out
}

fn read_node_template(r: &mut Reader<'_>, key: &Key, node: &Node) -> NodeTemplate {
    let entries = r.map(node, &format!("node template \"{}\"", key.name));
    r.check_keys_strict(entries, NODE_TEMPLATE_KEYS, &format!("node template \"{}\"", key.name));
    let mut nt = NodeTemplate {
        name: key.name.clone(),
        pos: key.pos,
        type_name: String::new(),
        properties: IndexMap::new(),
        capabilities: IndexMap::new(),
        requirements: Vec::new(),
        other: Vec::new(),
        interfaces: None,
        artifacts: None,
        copy: None,
        node_filter: None,
        directives: Vec::new(),
    };
    for (k, v) in entries {
        match k.name.as_str() {
            "type" => nt.type_name = r.string(v, "type").unwrap_or_default(),
            "copy" => nt.copy = r.string(v, "copy"),
            "node_filter" => nt.node_filter = Some(v.clone()),
            "directives" => {
                nt.directives = v.as_seq().unwrap_or_default().iter().filter_map(Node::scalar_text).collect()
            }
            "properties" => nt.properties = props(r, Some(v)),
            "capabilities" => {
                for (ck, cv) in r.map(v, "capabilities") {
                    let centries = r.map(cv, &format!("capability \"{}\"", ck.name));
                    r.check_keys(
                        centries,
                        &["properties", "attributes", "occurrences"],
                        &format!("capability \"{}\"", ck.name),
                    );
                    let p = props(r, cv.get("properties"));
                    nt.capabilities.insert(ck.name.clone(), p);
                }
            }
            "requirements" => {
                for item in v.as_seq().unwrap_or_default() {
                    let Some([(rk, rv)]) = item.as_map() else {
                        r.error(
                            item.pos,
                            codes::SYNTAX,
                            "each requirement is a map with one name, e.g. - host: my_server",
                        );
                        continue;
                    };
                    nt.requirements.push(read_requirement(r, rk, rv));
                }
            }
            "interfaces" | "artifacts" | "attributes" => {
                if k.name == "interfaces" {
                    nt.interfaces = Some(v.clone());
                } else if k.name == "artifacts" {
                    nt.artifacts = Some(v.clone());
                }
                nt.other.push(v.clone());
            }
            _ => {}
        }
    }
    nt
}

fn read_requirement(r: &mut Reader<'_>, key: &Key, node: &Node) -> RequirementAssignment {
    let mut req = RequirementAssignment {
        name: key.name.clone(),
        pos: key.pos,
        node: None,
        capability: None,
        node_filter: None,
        relationship_type: None,
        relationship_template: None,
        relationship_pos: None,
        relationship_properties: IndexMap::new(),
    };
    match &node.value {
        NodeValue::Str(s) => req.node = Some((s.clone(), node.pos)),
        NodeValue::Map(m) => {
            r.check_keys(
                m,
                &["node", "capability", "relationship", "node_filter", "occurrences"],
                &format!("requirement \"{}\"", key.name),
            );
            if let Some(n) = node.get("node") {
                req.node = n.scalar_text().map(|s| (s, n.pos));
            }
            if let Some(c) = node.get("capability") {
                req.capability = c.scalar_text().map(|s| (s, c.pos));
            }
            req.node_filter = node.get("node_filter").cloned();
            if let Some(rel) = node.get("relationship") {
                req.relationship_pos = Some(rel.get("type").map_or(rel.pos, |t| t.pos));
                match &rel.value {
                    NodeValue::Str(s) => req.relationship_template = Some(s.clone()),
                    NodeValue::Map(_) => {
                        req.relationship_type = rel.get("type").and_then(Node::scalar_text);
                        req.relationship_properties = props(r, rel.get("properties"));
                    }
                    _ => {}
                }
            }
        }
        NodeValue::Null => {}
        _ => r.error(node.pos, codes::SYNTAX, format!("requirement \"{}\" must be a node name or a map", key.name)),
    }
    req
}

impl NodeTemplate {
    /// The names of the artifacts the node template defines.
    pub(crate) fn artifact_names(&self) -> Vec<String> {
        self.artifacts.as_ref().and_then(Node::as_map).unwrap_or_default().iter().map(|(k, _)| k.name.clone()).collect()
    }
}

impl ServiceTemplate {
    /// Artifact files named by node templates (interface implementations,
    /// dependencies, artifact `file`s), with where each is written; names of
    /// the node template's own artifacts are left out.
    pub(crate) fn artifact_files(&self) -> Vec<(String, Pos)> {
        let mut out = Vec::new();
        for node in self.nodes.values() {
            let names = node.artifact_names();
            if let Some(arts) = node.artifacts.as_ref().and_then(Node::as_map) {
                for (_, v) in arts {
                    match &v.value {
                        NodeValue::Str(s) => out.push((s.clone(), v.pos)),
                        _ => crate::csar::collect_artifact_files(v, &[], &mut out),
                    }
                }
            }
            if let Some(i) = &node.interfaces {
                crate::csar::collect_artifact_files(i, &names, &mut out);
            }
        }
        out
    }

    /// The file name given to [`load`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The `tosca_definitions_version` as written.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The template's `metadata:` map (template_name, display_name, ...),
    /// with top-level `template_name`/`template_author`/`template_version` of
    /// TOSCA 1.0 added when the map lacks them.
    pub fn metadata(&self) -> &IndexMap<String, String> {
        &self.metadata
    }

    /// The template's description (top level, else the topology's).
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The declared inputs, in template order.
    pub fn inputs(&self) -> &IndexMap<String, InputDef> {
        &self.inputs
    }

    /// Warnings found while loading (misspelt keynames, duplicate keys, ...).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The type registry (normative, imported and own types).
    pub fn types(&self) -> &TypeRegistry {
        &self.registry
    }

    /// Names of the node templates, in template order.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// The type of a node template.
    pub fn node_type(&self, node: &str) -> Option<&str> {
        self.nodes.get(node).map(|n| n.type_name.as_str())
    }

    /// Names of the outputs, in template order.
    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.outputs.keys().map(String::as_str)
    }

    /// Whether node template `node` is (derives from) `tosca.nodes.Compute`.
    pub fn is_compute(&self, node: &str) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|n| self.registry.derives_from(TypeKind::Node, &n.type_name, "tosca.nodes.Compute"))
    }

    pub(crate) fn input_diag(&self, name: &str, code: &'static str, msg: String) -> Diagnostic {
        let pos = self.input_pos.get(name).copied().unwrap_or_default();
        Diagnostic::error(&self.file, pos, code, msg)
    }

    /// The host requirement target of a node template.
    pub(crate) fn host_of(&self, node: &str) -> Option<&str> {
        let n = self.nodes.get(node)?;
        n.requirements
            .iter()
            .find(|r| r.name == "host")
            .and_then(|r| r.node.as_ref())
            .map(|(t, _)| t.as_str())
            .filter(|t| self.nodes.contains_key(*t))
    }

    /// Follows `host` requirements from `node` down to a Compute node template.
    pub(crate) fn compute_of<'a>(&'a self, node: &'a str) -> Option<&'a str> {
        let mut cur = node;
        for _ in 0..16 {
            if self.is_compute(cur) {
                return Some(cur);
            }
            cur = self.host_of(cur)?;
        }
        None
    }

    /// Suggests the closest known name.
    pub(crate) fn hint<'k>(word: &str, known: impl Iterator<Item = &'k str>) -> String {
        let known: Vec<&str> = known.collect();
        closest(word, &known).map(|c| format!("; did you mean \"{c}\"?")).unwrap_or_default()
    }
}
