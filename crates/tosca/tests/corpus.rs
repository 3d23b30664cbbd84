//! Loads every INDIGO example in the shared corpus through an FsResolver
//! built from the corpus import map. Reads the in-repo copy of the corpus
//! (tests/corpus), or $NUVOLA_CORPUS.

use std::path::PathBuf;

use nuvola_tosca::{FsResolver, ImportMap, load};

/// Examples that legitimately cannot load, with the reason.
const KNOWN_BAD: &[(&str, &str)] = &[
    ("cellar_webapp_mem_aws.yaml", "get_input of undeclared inputs username, password, subscription_id"),
    (
        "node_with_availability_zone.yaml",
        "SlaPlacement policy with availability_zone (not defined by the types) and without its required sla_id",
    ),
    (
        "vm_docker_deepass.yml",
        "property rclone_pass (the type defines rclone_password) and os.image on plain tosca.nodes.Compute",
    ),
];

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("NUVOLA_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus")));
    if dir.join("import-map.tsv").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the TOSCA corpus is missing at {} (CI=true, so this is an error)", dir.display());
    }
    eprintln!("skipping: the TOSCA corpus is not at {} (set NUVOLA_CORPUS)", dir.display());
    None
}

#[test]
fn indigo_examples_load() {
    let Some(dir) = corpus() else { return };
    let map = ImportMap::from_file(&dir.join("import-map.tsv")).unwrap();
    let resolver = FsResolver::new(map);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("indigo-dc-tosca-types/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    let mut loaded = 0;
    let mut failures = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        if !text.contains("custom_types.yaml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let result = load(&text, &path.display().to_string(), &resolver);
        let known = KNOWN_BAD.iter().find(|(n, _)| *n == name);
        match (result, known) {
            (Ok(_), None) => loaded += 1,
            (Ok(_), Some(_)) => failures.push(format!("{name} now loads: remove it from KNOWN_BAD")),
            (Err(_), Some(_)) => {}
            (Err(e), None) => failures.push(format!("{name}:\n{e}")),
        }
    }
    eprintln!("{loaded} of {} INDIGO examples load", paths.len());
    assert!(failures.is_empty(), "{} examples fail:\n{}", failures.len(), failures.join("\n\n"));
    assert!(loaded + KNOWN_BAD.len() >= 60, "only {loaded} examples found");
}
