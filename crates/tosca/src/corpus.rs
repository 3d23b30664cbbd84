//! A conformance corpus: a folder with `manifest.tsv` (columns `path`,
//! `expected` = `valid` | `invalid`, `expected_error_hint`, `source`) and
//! `import-map.tsv` (URL prefix → local path, relative to the folder). The
//! conformance test and `nuvola bench tosca` read the same rows through
//! this module so that they judge the same files the same way.

use std::path::{Path, PathBuf};

use crate::imports::{FsResolver, ImportMap};

/// One row of `manifest.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    /// The file, relative to the corpus folder.
    pub path: String,
    /// Whether the file is expected to be a valid template.
    pub expected_valid: bool,
    /// What the reference parser says about an invalid file.
    pub hint: String,
    /// Where the file comes from (`tosca-parser`, `indigo-dc-tosca-types`, ...).
    pub source: String,
}

/// A corpus folder and its manifest.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The folder holding `manifest.tsv` and `import-map.tsv`.
    pub dir: PathBuf,
    /// The manifest's rows, in file order.
    pub rows: Vec<ManifestRow>,
}

impl Corpus {
    /// Reads `dir/manifest.tsv`.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let manifest = dir.join("manifest.tsv");
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("cannot read the manifest {}: {e}", manifest.display()))?;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if i == 0 && line.starts_with("path\t") || line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let expected_valid = match cols.get(1).copied() {
                Some("valid") => true,
                Some("invalid") => false,
                other => return Err(format!("manifest line {}: expected valid|invalid, found {other:?}", i + 1)),
            };
            rows.push(ManifestRow {
                path: cols[0].to_owned(),
                expected_valid,
                hint: cols.get(2).copied().unwrap_or_default().to_owned(),
                source: cols.get(3).copied().unwrap_or_default().to_owned(),
            });
        }
        Ok(Self { dir: dir.to_path_buf(), rows })
    }

    /// The resolver the corpus's files are judged with: URLs through
    /// `import-map.tsv`, relative imports anywhere inside the corpus folder.
    pub fn resolver(&self) -> Result<FsResolver, String> {
        let map = ImportMap::from_file(&self.dir.join("import-map.tsv"))?;
        Ok(FsResolver::new(map).allow_files_under(&self.dir))
    }

    /// The full path of a row's file.
    pub fn path_of(&self, row: &ManifestRow) -> PathBuf {
        self.dir.join(&row.path)
    }

    /// `(path, text)` of every row's file that is readable text (CSAR archives are left out).
    pub fn texts(&self) -> Vec<(String, String)> {
        self.rows
            .iter()
            .filter_map(|r| {
                let p = self.path_of(r);
                std::fs::read_to_string(&p).ok().map(|t| (p.display().to_string(), t))
            })
            .collect()
    }
}
