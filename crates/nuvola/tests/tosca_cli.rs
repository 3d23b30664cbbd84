//! `nuvola tosca validate|inputs` and `nuvola bench tosca`, run as a user
//! would: exit codes, file:line:column diagnostics, JSON output, the corpus
//! import map.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::BIN;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn corpus() -> PathBuf {
    repo().join("crates/tosca/tests/corpus")
}

fn nuvola(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("nuvola runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn valid_catalogue_template_exits_0() {
    let file = repo().join("catalogue/single-vm.yaml");
    let o = nuvola(&["tosca", "validate", path(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("single-vm.yaml: valid"), "{}", text(&o));
}

#[test]
fn invalid_template_reports_every_problem_with_location_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "tosca_definitions_version: tosca_simple_yaml_1_0\n\
         imports:\n  - https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml\n\
         topology_template:\n  node_templates:\n    vm:\n      type: tosca.nodes.indigo.Compue\n    \
         other:\n      type: tosca.nodes.indigo.Compute\n      capabilities:\n        host:\n          \
         properties:\n            num_cpu: 2\n",
    )
    .unwrap();
    let good = repo().join("catalogue/gpu-vm.yaml");
    let o = nuvola(&["tosca", "validate", path(&good), path(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    let name = path(&bad);
    assert!(out.contains(&format!("{name}:6:5: E-UNKNOWN-TYPE")), "{out}");
    assert!(out.contains("did you mean \"tosca.nodes.indigo.Compute\""), "{out}");
    assert!(out.contains(&format!("{name}:13:13: E-UNKNOWN-PROPERTY")), "{out}");
    assert!(out.contains("gpu-vm.yaml: valid"), "{out}");
    assert!(out.contains(&format!("{name}: invalid (2 errors")), "{out}");

    let o = nuvola(&["tosca", "validate", "--format", "json", path(&bad)]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let d = &v["files"][0]["diagnostics"][0];
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(6), Some(5)), "{v}");
    assert_eq!(d["code"], "E-UNKNOWN-TYPE");
    assert_eq!(d["severity"], "error");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(nuvola(&["tosca", "validate"]).status.code(), Some(2));
    assert_eq!(nuvola(&["tosca", "validate", "/nonexistent/x.yaml"]).status.code(), Some(2));
    let file = repo().join("catalogue/single-vm.yaml");
    let o = nuvola(&["tosca", "validate", "--import-map", "/nonexistent/map.tsv", path(&file)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(nuvola(&["tosca", "validate", "--format", "xml", path(&file)]).status.code(), Some(2));
}

#[test]
fn indigo_and_infn_templates_validate_through_the_import_map() {
    let map = corpus().join("import-map.tsv");
    let files: Vec<PathBuf> = [
        "indigo-dc-tosca-types/examples/galaxy.yaml",
        "indigo-dc-tosca-templates/galaxy.yaml",
        "indigo-dc-tosca-types/examples/web_mysql_tosca.yaml",
    ]
    .iter()
    .map(|f| corpus().join(f))
    .filter(|f| f.is_file())
    .collect();
    assert!(!files.is_empty());
    let mut args = vec!["tosca", "validate", "--import-map", path(&map), "--format", "json"];
    args.extend(files.iter().map(|f| path(f)));
    let o = nuvola(&args);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    for f in v["files"].as_array().unwrap() {
        assert_eq!(f["valid"], true, "{f}");
    }
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn csar_archives_validate() {
    let dir = corpus().join("tosca-parser/samples/tests/data/CSAR");
    let o = nuvola(&["tosca", "validate", path(&dir.join("csar_hello_world.zip"))]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = nuvola(&["tosca", "validate", path(&dir.join("csar_no_metadata_file.zip"))]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("E-CSAR"), "{}", text(&o));
}

#[test]
fn inputs_lists_types_defaults_and_constraints() {
    let file = repo().join("catalogue/single-vm.yaml");
    let o = nuvola(&["tosca", "inputs", "--format", "json", path(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cpus = v.as_array().unwrap().iter().find(|i| i["name"] == "num_cpus").unwrap();
    assert_eq!(cpus["type_name"], "integer");
    assert_eq!(cpus["default"], 2);
    assert_eq!(cpus["constraints"][0]["in_range"], serde_json::json!([1, 32]));

    let o = nuvola(&["tosca", "inputs", path(&file)]);
    let out = text(&o);
    assert!(out.contains("num_cpus: integer default 2 constraints [{\"in_range\":[1,32]}]"), "{out}");
}

#[test]
fn bench_runs_over_the_corpus() {
    let o = nuvola(&["bench", "tosca", "--runs", "1", "--corpus", path(&corpus())]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("whole corpus, one pass"), "{out}");
    assert!(out.contains("INDIGO+INFN (all)"), "{out}");
}
