//! nuvola-tosca: reads TOSCA Simple Profile (1.0–1.3) service templates,
//! with the INDIGO and INFN Cloud types first-class, and turns them into what the
//! rest of nuvola needs: validated inputs, [`nuvola_types::DeploymentRequirements`]
//! and evaluated outputs.
//!
//! The crate does no I/O except in [`FsResolver`]: imports go through an
//! [`ImportResolver`]. Every problem is a [`Diagnostic`] with file, line,
//! column and a stable code.
//!
//! ```no_run
//! use nuvola_tosca::{builtin_resolver, load};
//! # let text = "";
//! let template = load(text, "single-vm.yaml", &builtin_resolver())?;
//! let inputs = template.resolve_inputs(&serde_json::Map::new())?;
//! let needs = template.requirements(&inputs)?;
//! # Ok::<(), nuvola_tosca::Diagnostics>(())
//! ```

mod cache;
mod calls;
pub mod constraints;
pub mod corpus;
pub mod csar;
pub mod deployment;
pub mod diagnostics;
mod files;
pub mod functions;
pub mod fuzz;
pub mod imports;
mod inputs;
mod matching;
pub mod patterns;
mod requirements;
pub mod template;
mod typecheck;
pub mod types;
mod validate;
pub mod values;
mod workflows;
mod yaml;

pub use constraints::{ClauseError, Constraint, Pattern};
pub use csar::load_csar;
pub use diagnostics::{Diagnostic, Diagnostics, Pos, Severity, codes};
pub use files::{is_archive, load_path};
pub use functions::InstanceAttributes;
pub use imports::{
    BuiltinResolver, FsResolver, ImportMap, ImportResolver, Imported, Layered, NoImports, builtin_resolver,
};
pub use template::{InputDef, ServiceTemplate, load, load_with_limits};
pub use types::{TypeKind, TypeRegistry};
pub use yaml::Limits;
