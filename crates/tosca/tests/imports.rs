//! What a template may import. A template sent to the server imports only
//! what the server's import map names (a URL mapped to a file, or a file
//! under a URL prefix mapped to a folder); never a file by its path, never
//! a file next to a mapped one, never a file a mapped folder links to
//! outside it; and what it is told never shows a file's contents or where
//! the server keeps it. `nuvola tosca validate` on the user's own machine
//! also reads relative imports next to the template.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nuvola_tosca::{Diagnostics, FsResolver, ImportMap, ImportResolver, Layered, builtin_resolver, load};

const HEAD: &str = "tosca_definitions_version: tosca_simple_yaml_1_0\n";
const SECRET: &str = "s3cr3t-in-the-first-line";

/// A folder as an operator lays it out: a type file the map names, a file
/// beside it that it does not, and a mapped folder of type files (one of
/// them a link to the unmapped file).
struct Site {
    dir: PathBuf,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Site {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nuvola-imports-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let root = dir.as_path();
        std::fs::create_dir(root.join("lib")).unwrap();
        let node_type = "node_types:\n  x.Thing: { derived_from: tosca.nodes.Root }\n";
        std::fs::write(root.join("types.yaml"), format!("{HEAD}{node_type}")).unwrap();
        std::fs::write(root.join("secret.yaml"), format!("tosca_definitions_version: {SECRET}\n")).unwrap();
        std::fs::write(root.join("lib/a.yaml"), format!("{HEAD}imports: [ b.yaml ]\n")).unwrap();
        std::fs::write(root.join("lib/b.yaml"), HEAD).unwrap();
        std::fs::write(root.join("lib/up.yaml"), format!("{HEAD}imports: [ ../secret.yaml ]\n")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("secret.yaml"), root.join("lib/link.yaml")).unwrap();
        Site { dir }
    }

    fn root(&self) -> &Path {
        &self.dir
    }

    /// The import map: one file, one folder, and this crate's folder (the
    /// tests' working directory) under another prefix.
    fn map(&self) -> ImportMap {
        let mut map = ImportMap::new();
        map.insert("https://x.org/types.yaml", self.root().join("types.yaml"));
        map.insert("https://x.org/lib/", self.root().join("lib"));
        map.insert("https://x.org/crate/", PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        map
    }

    /// The resolver `nuvola serve` builds from the map.
    fn server(&self) -> Layered {
        Layered::new().with(builtin_resolver()).with(FsResolver::new(self.map()))
    }
}

/// Loads a template named as the server names one, importing `import`.
fn import(resolver: &dyn ImportResolver, import: &str) -> Result<(), Diagnostics> {
    load(&format!("{HEAD}imports:\n  - {import}\n"), "template.yaml", resolver).map(|_| ())
}

/// The import's error, checked to show neither the secret file's contents
/// nor the site's folder.
fn refused(site: &Site, import_text: &str) -> String {
    let e = match import(&site.server(), import_text) {
        Ok(()) => panic!("{import_text} was imported"),
        Err(e) => e,
    };
    let text = e.to_string();
    assert!(!text.contains(SECRET), "{import_text}: the error shows the file's contents:\n{text}");
    let d = e.find("E-IMPORT").unwrap_or_else(|| panic!("{import_text}: no E-IMPORT:\n{text}"));
    assert_eq!((d.file.as_str(), d.line, d.column), ("template.yaml", 3, 5), "{text}");
    text
}

#[test]
fn the_server_imports_what_the_map_names() {
    let site = Site::new();
    import(&site.server(), "https://x.org/types.yaml").unwrap();
    // A mapped folder's files, and their relative imports inside it.
    import(&site.server(), "https://x.org/lib/a.yaml").unwrap();
}

#[test]
fn a_mapped_file_does_not_open_its_folder() {
    let site = Site::new();
    let secret = site.root().join("secret.yaml");
    let text = refused(&site, &secret.display().to_string());
    assert!(text.contains("only URLs of the import map"), "{text}");
}

#[test]
fn a_file_path_is_not_read_against_the_servers_working_directory() {
    // The tests run in this crate's folder, which the map names under
    // https://x.org/crate/: as a path, Cargo.toml is still refused.
    assert!(Path::new("Cargo.toml").is_file());
    let site = Site::new();
    let text = refused(&site, "Cargo.toml");
    assert!(text.contains("only URLs of the import map"), "{text}");
    refused(&site, "./tests/imports.rs");
}

#[test]
fn a_mapped_folder_does_not_lead_outside_itself() {
    let site = Site::new();
    // A nested import climbing out of the folder.
    let e = import(&site.server(), "https://x.org/lib/up.yaml").unwrap_err();
    assert!(!e.to_string().contains(SECRET), "{e}");
    assert!(e.has_code("E-IMPORT"), "{e}");
    #[cfg(unix)]
    refused(&site, "https://x.org/lib/link.yaml");
}

#[test]
fn an_unreadable_mapped_file_is_named_by_its_url_only() {
    let site = Site::new();
    let text = refused(&site, "https://x.org/lib/missing.yaml");
    let root = site.root().display().to_string();
    assert!(!text.contains(&root), "the error shows where the server keeps its files:\n{text}");
    assert!(text.contains("https://x.org/lib/missing.yaml"), "{text}");
}

#[test]
fn the_command_line_reads_relative_imports_next_to_the_template() {
    let site = Site::new();
    let local = site.root().join("local");
    std::fs::create_dir(&local).unwrap();
    std::fs::write(local.join("mine.yaml"), HEAD).unwrap();
    let main = local.join("main.yaml");
    let text = format!("{HEAD}imports:\n  - mine.yaml\n  - https://x.org/types.yaml\n");
    let cli = Layered::new().with(FsResolver::new(site.map()).allow_files_under(&local)).with(builtin_resolver());
    load(&text, &main.display().to_string(), &cli).unwrap();
    // Not the files beside a mapped one, though.
    let e = load(&format!("{HEAD}imports:\n  - ../secret.yaml\n"), &main.display().to_string(), &cli).unwrap_err();
    assert!(e.has_code("E-IMPORT") && !e.to_string().contains(SECRET), "{e}");
}
