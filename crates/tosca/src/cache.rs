//! Process-wide caches that make loading the hundredth template that
//! imports the 100 KB INDIGO type file as cheap as loading a
//! self-contained one: parsed imported files, keyed by canonical name and a
//! keyed hash of their text (a changed file is a different entry), and the
//! type registry built from one ordered list of imported files. Both are
//! bounded; when full they are emptied and refilled.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Mutex, OnceLock};

use crate::diagnostics::Diagnostic;
use crate::types::TypeRegistry;
use crate::yaml::{Limits, Node};

/// Most entries each cache holds.
const CAPACITY: usize = 256;

/// A parsed imported file and what parsing it reported.
#[derive(Debug)]
pub(crate) struct ParsedFile {
    pub doc: Node,
    /// Warnings (duplicate keys) and version problems, reported on every load.
    pub diags: Vec<Diagnostic>,
}

/// One imported file as a registry key: canonical name, namespace prefix, text hash.
pub(crate) type ImportKey = (String, Option<String>, u64);

/// A registry of normative and imported types, with what building it reported.
pub(crate) type Base = Arc<(Arc<TypeRegistry>, Vec<Diagnostic>)>;

type FileKey = (String, u64, Limits);

fn files() -> &'static Mutex<HashMap<FileKey, Arc<ParsedFile>>> {
    static FILES: OnceLock<Mutex<HashMap<FileKey, Arc<ParsedFile>>>> = OnceLock::new();
    FILES.get_or_init(Default::default)
}

fn bases() -> &'static Mutex<HashMap<Vec<ImportKey>, Base>> {
    static BASES: OnceLock<Mutex<HashMap<Vec<ImportKey>, Base>>> = OnceLock::new();
    BASES.get_or_init(Default::default)
}

/// A hash of `text`, keyed per process.
pub(crate) fn hash_text(text: &str) -> u64 {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    STATE.get_or_init(RandomState::new).hash_one(text)
}

fn get_or_insert<K: Hash + Eq + Clone, V: Clone>(
    cache: &Mutex<HashMap<K, V>>,
    key: &K,
    make: impl FnOnce() -> Option<V>,
) -> Option<V> {
    if let Some(v) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(key) {
        return Some(v.clone());
    }
    let v = make()?;
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(key.clone(), v.clone());
    Some(v)
}

/// The parsed file `name` with text hash `hash`, parsed by `parse` when not
/// cached; parse failures are not cached.
pub(crate) fn parsed_file(
    name: &str,
    hash: u64,
    limits: &Limits,
    parse: impl FnOnce() -> Option<ParsedFile>,
) -> Option<Arc<ParsedFile>> {
    get_or_insert(files(), &(name.to_owned(), hash, *limits), || parse().map(Arc::new))
}

/// The registry for this ordered list of imports, built by `build` when not cached.
pub(crate) fn base(key: &[ImportKey], build: impl FnOnce() -> Base) -> Base {
    get_or_insert(bases(), &key.to_vec(), || Some(build())).unwrap_or_else(|| unreachable!())
}
