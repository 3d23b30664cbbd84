//! Where imported TOSCA files come from. The parser never touches the
//! network: an [`ImportResolver`] turns an import (a URL or a relative path)
//! into text. [`builtin_resolver`] serves the INDIGO and INFN Cloud types
//! vendored into this crate (`builtin`); [`FsResolver`] reads files through
//! an [`ImportMap`] (URL prefix → local folder); [`Layered`] tries several
//! resolvers in order. The NFV and MEC profiles of tosca-parser are
//! vendored too and loaded, without a resolver, by files that declare their
//! `tosca_definitions_version`.

use std::path::{Component, Path, PathBuf};

mod builtin;

pub use builtin::BuiltinResolver;
use builtin::NOT_BUILTIN;

/// An imported file, as a resolver found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Its canonical name: each file is loaded once per name, cycles are
    /// found by name, and diagnostics name the file so.
    pub name: String,
    /// Its text.
    pub text: String,
    /// When the file stands in for the one asked (another release of the
    /// same type files, the one asked not being at hand), what to tell the
    /// user; `None` when it is the file asked.
    pub stand_in: Option<String>,
}

impl Imported {
    /// The file asked for, named `name`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self { name: name.into(), text: text.into(), stand_in: None }
    }

    /// A file standing in for the one asked, with what to tell the user.
    pub fn stand_in(name: impl Into<String>, text: impl Into<String>, note: impl Into<String>) -> Self {
        Self { stand_in: Some(note.into()), ..Self::new(name, text) }
    }
}

/// Turns an import into its canonical name and text.
pub trait ImportResolver: Send + Sync {
    /// Loads `import` as written in the file named `importer` (that file's
    /// canonical name). Returns the imported file, or a message saying why
    /// it cannot.
    fn load(&self, importer: &str, import: &str) -> Result<Imported, String>;
}

impl<T: ImportResolver + ?Sized> ImportResolver for Box<T> {
    fn load(&self, importer: &str, import: &str) -> Result<Imported, String> {
        (**self).load(importer, import)
    }
}

impl<T: ImportResolver + ?Sized> ImportResolver for &T {
    fn load(&self, importer: &str, import: &str) -> Result<Imported, String> {
        (**self).load(importer, import)
    }
}

/// Whether `s` is an absolute URL (`scheme://...`).
pub fn is_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
    })
}

/// Joins a relative import onto the URL of the importing file, resolving `.`
/// and `..` segments. Returns `None` when `..` climbs above the host.
pub fn join_url(base: &str, relative: &str) -> Option<String> {
    let (scheme, rest) = base.split_once("://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut segments: Vec<&str> = path.split('/').collect();
    segments.pop(); // the importing file's own name
    for seg in relative.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                segments.pop()?;
            }
            s => segments.push(s),
        }
    }
    Some(format!("{scheme}://{host}/{}", segments.join("/")))
}

/// One line of an import map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportMapEntry {
    /// A URL or URL prefix (ending with `/` to map a whole folder).
    pub url_prefix: String,
    /// The local file or folder it maps to.
    pub local_path: PathBuf,
}

/// A URL prefix → local path map, matched by longest prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportMap {
    entries: Vec<ImportMapEntry>,
}

impl ImportMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one mapping.
    pub fn insert(&mut self, url_prefix: impl Into<String>, local_path: impl Into<PathBuf>) {
        self.entries.push(ImportMapEntry { url_prefix: url_prefix.into(), local_path: local_path.into() });
    }

    /// Parses a TSV text with columns `url_prefix`, `local_path` (and any
    /// further columns, ignored); a first line starting with `url_prefix` is a
    /// header; blank lines and `#` comments are skipped. Relative local paths
    /// are taken relative to `base`.
    pub fn from_tsv(text: &str, base: &Path) -> Result<Self, String> {
        let mut map = Self::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') || (i == 0 && line.starts_with("url_prefix")) {
                continue;
            }
            let mut cols = line.split('\t');
            let (Some(url), Some(local)) = (cols.next(), cols.next()) else {
                return Err(format!("import map line {}: expected url_prefix<TAB>local_path", i + 1));
            };
            if !is_url(url.trim()) {
                return Err(format!("import map line {}: \"{url}\" is not a URL", i + 1));
            }
            map.insert(url.trim(), base.join(local.trim()));
        }
        Ok(map)
    }

    /// Reads a TSV file (see [`ImportMap::from_tsv`]); relative local paths are
    /// taken relative to the file's folder.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read import map {}: {e}", path.display()))?;
        Self::from_tsv(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// The local path for `url`: the longest matching prefix, with the rest
    /// of the URL appended when the prefix names a folder.
    pub fn lookup(&self, url: &str) -> Option<PathBuf> {
        self.lookup_entry(url).map(|(path, _)| path)
    }

    /// [`ImportMap::lookup`], with the mapped folder the path is under when
    /// the prefix names a folder.
    fn lookup_entry(&self, url: &str) -> Option<(PathBuf, Option<&Path>)> {
        let entry =
            self.entries.iter().filter(|e| url.starts_with(&e.url_prefix)).max_by_key(|e| e.url_prefix.len())?;
        let rest = &url[entry.url_prefix.len()..];
        if rest.is_empty() {
            return Some((entry.local_path.clone(), None));
        }
        if !entry.url_prefix.ends_with('/') {
            return None;
        }
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let mut path = entry.local_path.clone();
        for c in Path::new(rest).components() {
            match c {
                Component::Normal(s) => path.push(s),
                Component::CurDir => {}
                _ => return None,
            }
        }
        Some((path, Some(&entry.local_path)))
    }

    /// The mappings, in the order given.
    pub fn entries(&self) -> &[ImportMapEntry] {
        &self.entries
    }
}

/// Reads imports from the file system, never from the network: URLs (and
/// paths relative to an imported URL) through an [`ImportMap`], which
/// allows exactly the files it names — a URL mapped to a file, or the files
/// under a folder mapped to a URL prefix, links leading out of that folder
/// refused. A file path (absolute, or relative to the importing file) is
/// read only under a folder allowed with [`FsResolver::allow_files_under`]:
/// the command line allows the folder of the template it checks; a server
/// allows none, so a template sent to it imports only what its map names.
/// Messages about a mapped URL name the URL, not where its file is kept.
#[derive(Debug, Clone, Default)]
pub struct FsResolver {
    map: ImportMap,
    roots: Vec<PathBuf>,
}

impl FsResolver {
    /// A resolver over `map`, reading no file by its path.
    pub fn new(map: ImportMap) -> Self {
        Self { map, roots: Vec::new() }
    }

    /// Also allows imports, by path, of files under `dir` (the folder of a
    /// template given on the command line, on the user's own machine).
    pub fn allow_files_under(mut self, dir: impl Into<PathBuf>) -> Self {
        self.roots.push(dir.into());
        self
    }

    /// Whether `path` (canonical) is under an allowed folder.
    fn allowed(&self, path: &Path) -> bool {
        self.roots.iter().filter_map(|r| r.canonicalize().ok()).any(|root| path.starts_with(root))
    }

    /// The text of the file the map gives for `url`.
    fn mapped(&self, url: &str) -> Result<String, String> {
        let (path, folder) = self.map.lookup_entry(url).ok_or_else(|| {
            format!("import \"{url}\" is not in the import map; nuvola does not fetch imports from the network, so add its URL prefix to the import map")
        })?;
        let unreadable = |why: &str| format!("import \"{url}\" is in the import map, but its file {why}");
        let canonical = path.canonicalize().map_err(|e| unreadable(&io_reason(&e)))?;
        // A link in a mapped folder must not lead out of it.
        if let Some(folder) = folder
            && !folder.canonicalize().is_ok_and(|f| canonical.starts_with(f))
        {
            return Err(unreadable("is outside the folder the map gives for it"));
        }
        std::fs::read_to_string(&canonical).map_err(|e| unreadable(&io_reason(&e)))
    }
}

/// Why a file cannot be read, without its name.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_owned(),
        std::io::ErrorKind::PermissionDenied => "cannot be read (permission denied)".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a folder".to_owned(),
        std::io::ErrorKind::InvalidData => "is not UTF-8 text".to_owned(),
        _ => "cannot be read".to_owned(),
    }
}

impl ImportResolver for FsResolver {
    fn load(&self, importer: &str, import: &str) -> Result<Imported, String> {
        let url = if is_url(import) {
            Some(import.to_owned())
        } else if is_url(importer) {
            Some(
                join_url(importer, import)
                    .ok_or_else(|| format!("import \"{import}\" climbs above the root of {importer}"))?,
            )
        } else {
            None
        };
        if let Some(url) = url {
            let text = self.mapped(&url)?;
            return Ok(Imported::new(url, text));
        }
        if self.roots.is_empty() {
            return Err(format!(
                "import \"{import}\" is a file path; a template sent to nuvola imports only URLs of the import map (or the INDIGO and INFN Cloud types built into nuvola)"
            ));
        }
        let base = Path::new(importer).parent().unwrap_or(Path::new("."));
        let path = base.join(import);
        let refused = || {
            format!(
                "import \"{import}\" is not a readable file inside an allowed folder (the template's folder, the import map's folder): {}",
                path.display()
            )
        };
        let canonical = path.canonicalize().map_err(|_| refused())?;
        if !self.allowed(&canonical) {
            return Err(refused());
        }
        let text = std::fs::read_to_string(&canonical)
            .map_err(|e| format!("cannot read {import} from {}: {e}", canonical.display()))?;
        Ok(Imported::new(canonical.display().to_string(), text))
    }
}

/// tosca-parser's NFV and MEC profiles: for each `tosca_definitions_version`
/// they add, the files (canonical name, text) loaded as implicit imports, in
/// order, before the file's own imports.
const PROFILES: &[(&str, &[(&str, &str)])] = &[
    ("tosca_simple_profile_for_nfv_1_0_0", &[PROFILE_EXTRAS, NFV_PROFILE]),
    ("tosca_simple_profile_for_mec_1_0_0", &[PROFILE_EXTRAS, MEC_PROFILE]),
];

const PROFILE_EXTRAS: (&str, &str) =
    ("<tosca-parser-profile-extras>", include_str!("../vendor/tosca-parser-extensions/profile_extras.yaml"));
const NFV_PROFILE: (&str, &str) = (
    "<tosca-parser-nfv-profile-1.0.0>",
    include_str!("../vendor/tosca-parser-extensions/nfv/TOSCA_nfv_definition_1_0_0.yaml"),
);
const MEC_PROFILE: (&str, &str) = (
    "<tosca-parser-mec-profile-1.0.0>",
    include_str!("../vendor/tosca-parser-extensions/mec/TOSCA_mec_definition_1_0_0.yaml"),
);

/// The `tosca_definitions_version` values of the built-in profiles.
pub fn profile_versions() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|(v, _)| *v)
}

/// Whether `text` is one of the built-in profile files.
pub(crate) fn is_profile_file(text: &str) -> bool {
    PROFILES.iter().flat_map(|(_, files)| files.iter()).any(|(_, t)| *t == text)
}

/// The built-in files (canonical name, text) a file declaring `version`
/// imports implicitly, in order: none for the OASIS versions.
pub(crate) fn profile_imports(version: &str) -> &'static [(&'static str, &'static str)] {
    PROFILES.iter().find(|(v, _)| *v == version).map(|(_, files)| *files).unwrap_or_default()
}

/// The resolver for the INDIGO and INFN Cloud types shipped with nuvola.
pub fn builtin_resolver() -> BuiltinResolver {
    BuiltinResolver
}

/// Tries resolvers in order; the first that loads an import wins.
#[derive(Default)]
pub struct Layered {
    layers: Vec<Box<dyn ImportResolver>>,
}

impl Layered {
    /// No layers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer tried after the previous ones.
    pub fn with(mut self, resolver: impl ImportResolver + 'static) -> Self {
        self.layers.push(Box::new(resolver));
        self
    }
}

impl ImportResolver for Layered {
    fn load(&self, importer: &str, import: &str) -> Result<Imported, String> {
        // The file asked, from any layer, wins over a stand-in for it (the
        // built-in types at another release): an operator who maps the URL
        // gets the mapped file. When every layer fails, the first message
        // that is not the built-in types' "not mine" says best why (the
        // import map, the folder).
        let mut stand_in = None;
        let mut first = None;
        let mut not_builtin = None;
        for layer in &self.layers {
            match layer.load(importer, import) {
                Ok(found) if found.stand_in.is_none() => return Ok(found),
                Ok(found) => {
                    stand_in.get_or_insert(found);
                }
                Err(e) => {
                    if not_builtin.is_none() && !e.contains(NOT_BUILTIN) {
                        not_builtin = Some(e.clone());
                    }
                    first.get_or_insert(e);
                }
            }
        }
        if let Some(found) = stand_in {
            return Ok(found);
        }
        Err(not_builtin.or(first).unwrap_or_else(|| format!("no resolver for import \"{import}\"")))
    }
}

/// A resolver that refuses every import (for self-contained templates).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoImports;

impl ImportResolver for NoImports {
    fn load(&self, _importer: &str, import: &str) -> Result<Imported, String> {
        Err(format!("imports are not allowed here (\"{import}\")"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let map = ImportMap::from_tsv(
            "url_prefix\tlocal_path\texactness\nhttps://x.org/a/\tA/\texact\nhttps://x.org/a/b/c.yaml\tC.yaml\texact\n",
            Path::new("/base"),
        )
        .unwrap();
        assert_eq!(map.lookup("https://x.org/a/b/c.yaml"), Some(PathBuf::from("/base/C.yaml")));
        assert_eq!(map.lookup("https://x.org/a/d/e.yaml"), Some(PathBuf::from("/base/A/d/e.yaml")));
        assert_eq!(map.lookup("https://x.org/a/../e.yaml"), None);
        assert_eq!(map.lookup("https://y.org/"), None);
    }

    #[test]
    fn urls_join() {
        assert_eq!(join_url("https://h/a/b/c.yaml", "../d.yaml").as_deref(), Some("https://h/a/d.yaml"));
        assert_eq!(join_url("https://h/c.yaml", "../../d.yaml"), None);
    }

    #[test]
    fn profiles_are_embedded() {
        let nfv = profile_imports("tosca_simple_profile_for_nfv_1_0_0");
        assert!(nfv.iter().any(|(_, text)| text.contains("tosca.nodes.nfv.VNF:")));
        let mec = profile_imports("tosca_simple_profile_for_mec_1_0_0");
        assert!(mec.iter().any(|(_, text)| text.contains("tosca.nodes.mec.MEA:")));
        assert!(profile_imports("tosca_simple_yaml_1_3").is_empty());
    }

    #[test]
    fn builtin_serves_indigo_types() {
        let found = builtin_resolver()
            .load("t.yaml", "https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml")
            .unwrap();
        assert!(found.name.ends_with("custom_types.yaml"));
        assert!(found.text.contains("tosca.nodes.indigo.Compute"));
        assert!(builtin_resolver().load("t.yaml", "https://evil/x.yaml").is_err());
    }

    /// Serves one URL with one text.
    struct One(&'static str, &'static str);

    impl ImportResolver for One {
        fn load(&self, _importer: &str, import: &str) -> Result<Imported, String> {
            (import == self.0).then(|| Imported::new(self.0, self.1)).ok_or_else(|| format!("no {import}"))
        }
    }

    #[test]
    fn a_layer_with_the_file_asked_wins_over_a_stand_in() {
        let url = "https://baltig.infn.it/infn-cloud/tosca-types/raw/v2.8.0/tosca_types/base/basic_types.yaml";
        let mapped = "tosca_definitions_version: tosca_simple_yaml_1_0\n";
        let found = Layered::new().with(builtin_resolver()).with(One(url, mapped)).load("t.yaml", url).unwrap();
        assert_eq!((found.name.as_str(), found.text.as_str(), found.stand_in), (url, mapped, None));
        // Without the map, the built-in release stands in.
        let found =
            Layered::new().with(builtin_resolver()).with(One("https://x.org/", "")).load("t.yaml", url).unwrap();
        assert!(found.name.contains("/raw/v3.4.0/") && found.stand_in.is_some());
    }
}
