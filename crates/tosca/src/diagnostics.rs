//! Problems found in a template, each with the file, line and column where
//! the input was at fault and a stable code that clients and tests can match.

use std::fmt;

use serde::Serialize;

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The template cannot be used.
    Error,
    /// The template is usable but something looks wrong (e.g. a misspelt keyname).
    Warning,
}

/// A position in a YAML text: 1-based line and column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Pos {
    /// Line, counted from 1.
    pub line: u32,
    /// Column, counted from 1.
    pub column: u32,
}

/// One problem, located in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file (or import URL) the problem is in.
    pub file: String,
    /// Line, counted from 1 (0 when the problem has no position).
    pub line: u32,
    /// Column, counted from 1 (0 when the problem has no position).
    pub column: u32,
    /// A stable code, e.g. `E-YAML`, `E-UNKNOWN-TYPE`; see [`codes`].
    pub code: &'static str,
    /// What is wrong, for a human.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
}

impl Diagnostic {
    /// An error at `pos` in `file`.
    pub fn error(file: &str, pos: Pos, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            code,
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// A warning at `pos` in `file`.
    pub fn warning(file: &str, pos: Pos, code: &'static str, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(file, pos, code, message) }
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(f, "{}:{}:{}: {}: {}{}", self.file, self.line, self.column, self.code, kind, self.message)
    }
}

/// A list of problems; the error type of every fallible function of this crate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Whether any entry is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// The entries.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Whether some entry has this code.
    pub fn has_code(&self, code: &str) -> bool {
        self.0.iter().any(|d| d.code == code)
    }

    /// The first entry with this code.
    pub fn find(&self, code: &str) -> Option<&Diagnostic> {
        self.0.iter().find(|d| d.code == code)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Self(vec![d])
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The stable diagnostic codes.
pub mod codes {
    /// The text is not valid YAML.
    pub const YAML: &str = "E-YAML";
    /// A size limit (bytes, depth, aliases, nodes) was exceeded.
    pub const LIMIT: &str = "E-LIMIT";
    /// `tosca_definitions_version` is missing or not supported.
    pub const VERSION: &str = "E-VERSION";
    /// A keyname has the wrong shape (e.g. a list where a map is expected).
    pub const SYNTAX: &str = "E-SYNTAX";
    /// A type name that no definition declares.
    pub const UNKNOWN_TYPE: &str = "E-UNKNOWN-TYPE";
    /// `derived_from` chains that loop.
    pub const TYPE_CYCLE: &str = "E-TYPE-CYCLE";
    /// A property that the type does not define.
    pub const UNKNOWN_PROPERTY: &str = "E-UNKNOWN-PROPERTY";
    /// `get_attribute` names an attribute that the entity's type does not define.
    pub const UNKNOWN_ATTRIBUTE: &str = "E-UNKNOWN-ATTRIBUTE";
    /// An interface operation that the interface type does not define, or
    /// an operation definition not allowed where it is written.
    pub const UNKNOWN_OPERATION: &str = "E-UNKNOWN-OPERATION";
    /// A capability that the node type does not define.
    pub const UNKNOWN_CAPABILITY: &str = "E-UNKNOWN-CAPABILITY";
    /// A required property without value nor default.
    pub const PROPERTY_REQUIRED: &str = "E-PROPERTY-REQUIRED";
    /// A reference to a node template that does not exist.
    pub const UNKNOWN_NODE: &str = "E-UNKNOWN-NODE";
    /// `get_input` names an input that is not declared.
    pub const UNKNOWN_INPUT: &str = "E-UNKNOWN-INPUT";
    /// A deployment parameter that the template does not declare.
    pub const UNKNOWN_PARAMETER: &str = "E-UNKNOWN-PARAMETER";
    /// A required input with no value and no default.
    pub const INPUT_REQUIRED: &str = "E-INPUT-REQUIRED";
    /// A value of the wrong type.
    pub const TYPE: &str = "E-TYPE";
    /// Warning: a value of another type that is accepted after a coercion
    /// real-world templates rely on (`"1"` where a number is expected, a
    /// number where a string is).
    pub const TYPE_COERCED: &str = "W-TYPE-COERCED";
    /// Warning: a keyname written in a shape TOSCA does not define but the
    /// INDIGO tool chain reads (`constraints` as a map of clauses), read as
    /// TOSCA's shape.
    pub const SYNTAX_COERCED: &str = "W-SYNTAX-COERCED";
    /// A value that violates a constraint.
    pub const CONSTRAINT: &str = "E-CONSTRAINT";
    /// An import that cannot be resolved.
    pub const IMPORT: &str = "E-IMPORT";
    /// Warning: imports that import each other; the file already being
    /// loaded is not loaded again (its types are read once).
    pub const IMPORT_CYCLE: &str = "W-IMPORT-CYCLE";
    /// Warning: a relative import found in a folder above the importing
    /// file's (as tosca-parser resolves it), not next to it.
    pub const IMPORT_ABOVE: &str = "W-IMPORT-ABOVE";
    /// Warning: an import of built-in type files at a ref nuvola does not
    /// have (another release, a branch), served by the nearest one it has.
    pub const IMPORT_VERSION: &str = "W-IMPORT-VERSION";
    /// A function call (get_input, concat, ...) with wrong arguments.
    pub const FUNCTION: &str = "E-FUNCTION";
    /// A value that cannot be turned into a requirement (e.g. a bad port).
    pub const VALUE: &str = "E-VALUE";
    /// A file that cannot be read.
    pub const IO: &str = "E-IO";
    /// A CSAR archive that is not well formed (no ZIP, no TOSCA.meta, no entry definitions).
    pub const CSAR: &str = "E-CSAR";
    /// An artifact file named by a template is not in its archive.
    pub const ARTIFACT: &str = "E-ARTIFACT";
    /// A keyname the TOSCA grammar does not know in a section where it would
    /// drop content (`topology_template`, node templates, `substitution_mappings`).
    pub const UNKNOWN_KEYNAME: &str = "E-UNKNOWN-KEY";
    /// Warning: a keyname the TOSCA grammar does not know (likely misspelt).
    pub const UNKNOWN_KEY: &str = "W-UNKNOWN-KEY";
    /// Warning: a flow collection continued on a line indented too little (read anyway).
    pub const YAML_INDENT: &str = "W-YAML-INDENT";
    /// Warning: a function call used as a map key (kept as its text).
    pub const FUNCTION_KEY: &str = "W-FUNCTION-KEY";
    /// Warning: a mapping key given twice; the last one wins.
    pub const DUPLICATE_KEY: &str = "W-DUPLICATE-KEY";
    /// Warning: a type defined twice; the last one wins.
    pub const DUPLICATE_TYPE: &str = "W-DUPLICATE-TYPE";
    /// A requirement assigned more (or fewer) times than its definition's `occurrences` allow.
    pub const OCCURRENCES: &str = "E-OCCURRENCES";
    /// A requirement target that does not fit the requirement definition
    /// (node type, capability type, valid source types).
    pub const REQUIREMENT_TARGET: &str = "E-REQUIREMENT-TARGET";
    /// A requirement assignment's relationship that is not of the definition's relationship type.
    pub const RELATIONSHIP_TYPE: &str = "E-RELATIONSHIP-TYPE";
    /// Warning: a requirement target accepted though it does not fit the
    /// definition exactly (a related capability type, another node type, a
    /// source outside the capability's `valid_source_types`).
    pub const WARN_REQUIREMENT_TARGET: &str = "W-REQUIREMENT-TARGET";
    /// `get_artifact` names an artifact the node template and its type do not define.
    pub const UNKNOWN_ARTIFACT: &str = "E-UNKNOWN-ARTIFACT";
    /// A group member whose node type the group type does not take.
    pub const GROUP_MEMBER: &str = "E-GROUP-MEMBER";
    /// A workflow that does not hold together: an unknown step, workflow or activity.
    pub const WORKFLOW: &str = "E-WORKFLOW";
    /// Warning: a requirement the node type declares but the template does not assign.
    pub const DANGLING_REQUIREMENT: &str = "W-DANGLING-REQUIREMENT";
    /// Warning: a requirement name the node type does not declare.
    pub const UNKNOWN_REQUIREMENT: &str = "W-UNKNOWN-REQUIREMENT";
}
