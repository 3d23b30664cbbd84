//! Loading a template from a file on disk: a YAML service template or a
//! CSAR archive (see [`crate::csar`]). This is the one place besides
//! [`crate::FsResolver`] where the crate reads files; the command line, the
//! conformance test and the benchmark go through it so that they agree.

use std::path::Path;

use crate::diagnostics::{Diagnostic, Diagnostics, Pos, codes};
use crate::imports::ImportResolver;
use crate::template::{ServiceTemplate, load};

/// Whether `path` names a CSAR archive (by extension: `.csar`, `.zip`).
pub fn is_archive(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csar") || e.eq_ignore_ascii_case("zip"))
}

/// Reads and loads the template at `path`: a CSAR archive when
/// [`is_archive`], else a YAML service template. Imports go through
/// `resolver` (relative ones against `path`'s folder). Diagnostics name
/// the file as `path` is written.
pub fn load_path(path: &Path, resolver: &dyn ImportResolver) -> Result<ServiceTemplate, Diagnostics> {
    let name = path.display().to_string();
    let unreadable = |e: std::io::Error| {
        Diagnostics::from(Diagnostic::error(&name, Pos::default(), codes::IO, format!("cannot read {name}: {e}")))
    };
    if is_archive(path) {
        let bytes = std::fs::read(path).map_err(unreadable)?;
        return crate::csar::load_csar(&bytes, &name, resolver);
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Err(Diagnostic::error(
                &name,
                Pos { line: 1, column: 1 },
                codes::YAML,
                format!("the file is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
            )
            .into());
        }
    };
    load(&text, &name, resolver)
}
