//! Templates written as the INFN Cloud catalogue writes them load with the
//! built-in types and no import map: the INFN Cloud types imported by
//! their baltig.infn.it URLs (`raw/` and `/-/raw/`, at the vendored
//! release, at other releases and at branches, which get the nearest
//! vendored release and a `W-IMPORT-VERSION` warning), constraints written
//! as a map (`W-SYNTAX-COERCED`, and enforced), and the INFN node types
//! (Docker Compose, JupyterHub with an IAM client, Kubernetes with HTCondor,
//! HTCondor mini). The templates in `tests/infn-forms/` are our own; the
//! real catalogue is checked by `tests/infn_templates.rs`.

use nuvola_tosca::{
    Diagnostic, Diagnostics, FsResolver, ImportMap, Layered, ServiceTemplate, Severity, builtin_resolver, load,
};
use serde_json::{Map, Value, json};

fn path(name: &str) -> String {
    format!("{}/tests/infn-forms/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn text(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap()
}

/// Loads `name` as the server does (the built-in types, no import map).
fn infn(name: &str) -> Result<ServiceTemplate, Diagnostics> {
    load(&text(name), name, &builtin_resolver())
}

/// The warnings about the template's own text, as (code, line).
fn own_warnings(t: &ServiceTemplate) -> Vec<(&'static str, u32)> {
    t.warnings().iter().filter(|w| w.file == t.file()).map(|w| (w.code, w.line)).collect()
}

fn find<'t>(t: &'t ServiceTemplate, code: &str, line: u32) -> &'t Diagnostic {
    t.warnings().iter().find(|w| w.code == code && w.line == line && w.file == t.file()).unwrap()
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn docker_compose_with_a_constraint_written_as_a_map() {
    let t = infn("docker-compose-volume.yaml").unwrap_or_else(|e| panic!("{e}"));
    // The release the URL names is built in: no version warning; the map
    // of one clause is read with a warning at `constraints`.
    assert_eq!(own_warnings(&t), [("W-SYNTAX-COERCED", 26)]);
    let w = find(&t, "W-SYNTAX-COERCED", 26);
    assert_eq!((w.column, w.severity), (9, Severity::Warning));
    assert!(w.message.contains("not a map; read as the list of this map's 1 clause"), "{}", w.message);
    assert_eq!(t.node_type("app"), Some("tosca.nodes.indigo.DockerCompose"));

    let needs = t.requirements(&t.resolve_inputs(&Map::new()).unwrap()).unwrap();
    let vm = &needs.nodes[0];
    assert_eq!((vm.name.as_str(), vm.cpus, vm.mem_mb), ("vm", Some(2), Some(4096)));
    assert_eq!(vm.volumes.len(), 1, "{vm:?}");

    // The clause is enforced as if written as a list.
    let e = t.resolve_inputs(&params(json!({"data_size": "200 GB"}))).unwrap_err();
    let d = e.find("E-CONSTRAINT").unwrap_or_else(|| panic!("{e}"));
    assert!(d.message.contains("data_size"), "{}", d.message);
    assert!(t.resolve_inputs(&params(json!({"data_size": "50 GB"}))).is_ok());
}

#[test]
fn an_older_release_and_a_branch_get_the_vendored_release_with_a_warning() {
    let t = infn("kubernetes-htcondor.yaml").unwrap_or_else(|e| panic!("{e}"));
    let release = find(&t, "W-IMPORT-VERSION", 6);
    assert_eq!(release.column, 26);
    assert!(
        release.message.contains("INFN Cloud types")
            && release
                .message
                .contains("at v2.8.0 are not built into nuvola; using v3.4.0 (the nearest release built in)"),
        "{}",
        release.message
    );
    let branch = find(&t, "W-IMPORT-VERSION", 7);
    assert!(
        branch.message.contains("at master are not built into nuvola; using v3.4.0 (the newest release built in)"),
        "{}",
        branch.message
    );
    // Both URLs lead to the same vendored files: kubernetes_types.yaml,
    // also imported by htcondor_types.yaml at v3.4.0, is read once.
    assert!(
        !t.warnings().iter().any(|w| w.code == "W-DUPLICATE-TYPE" && w.message.contains("tosca.nodes.DODAS")),
        "{:#?}",
        t.warnings()
    );
    assert!(t.warnings().iter().all(|w| w.code != "W-IMPORT-VERSION" || w.file == t.file()));
    // The multi-clause map constraint on `workers`.
    let w = find(&t, "W-SYNTAX-COERCED", 18);
    assert!(w.message.contains("this map's 2 clauses"), "{}", w.message);

    let given = params(json!({"pool_secret": "a-long-enough-secret"}));
    let needs = t.requirements(&t.resolve_inputs(&given).unwrap()).unwrap();
    let counts: Vec<(&str, u32, Option<u32>)> =
        needs.nodes.iter().map(|n| (n.name.as_str(), n.count, n.cpus)).collect();
    assert_eq!(counts, [("master", 1, Some(4)), ("worker", 3, Some(2))]);
    let mut too_many = given.clone();
    too_many.insert("workers".into(), json!(11));
    assert!(t.resolve_inputs(&too_many).unwrap_err().has_code("E-CONSTRAINT"));
}

#[test]
fn gitlab_link_forms_of_the_vendored_release_need_no_warning() {
    let t = infn("jupyter-iam.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(own_warnings(&t), []);
    assert_eq!(t.node_type("hub"), Some("tosca.nodes.DODAS.single-node-jupyterhub"));
    assert_eq!(t.node_type("sso"), Some("tosca.nodes.indigo.iam.client"));
    let needs = t.requirements(&t.resolve_inputs(&Map::new()).unwrap()).unwrap();
    assert_eq!(needs.nodes.len(), 1);
    assert_eq!(needs.policies.len(), 1, "{:?}", needs.policies);
}

#[test]
fn a_map_constraint_in_a_type_definition_is_enforced() {
    let e = infn("htcondor-mini.yaml").unwrap_err();
    let errors: Vec<&Diagnostic> = e.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{e}");
    assert_eq!((errors[0].code, errors[0].line), ("E-CONSTRAINT", 28), "{e}");
    let coerced = e.find("W-SYNTAX-COERCED").unwrap_or_else(|| panic!("{e}"));
    assert_eq!((coerced.line, coerced.column), (14, 22));
    let fixed = text("htcondor-mini.yaml").replace("slots: 32", "slots: 8");
    let t = load(&fixed, "htcondor-mini.yaml", &builtin_resolver()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.node_type("condor"), Some("tosca.nodes.indigo.htcondorMini"));
}

#[test]
fn a_file_the_vendored_release_lacks_is_an_import_error_naming_what_it_has() {
    let text = "tosca_definitions_version: tosca_simple_yaml_1_0\nimports:\n  - https://baltig.infn.it/infn-cloud/tosca-types/raw/v3.4.0/custom_types.yaml\n";
    let e = load(text, "old.yaml", &builtin_resolver()).unwrap_err();
    let d = e.find("E-IMPORT").unwrap();
    assert_eq!((d.line, d.column), (3, 5));
    assert!(
        d.message.contains("not one of the built-in type files")
            && d.message.contains("at v3.4.0: tosca_types/base/basic_types.yaml"),
        "{}",
        d.message
    );
}

#[test]
fn an_import_map_entry_for_another_release_wins_over_the_stand_in() {
    let dir = std::env::temp_dir().join(format!("nuvola-infn-release-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tosca_types/base")).unwrap();
    std::fs::write(
        dir.join("tosca_types/base/basic_types.yaml"),
        "tosca_definitions_version: tosca_simple_yaml_1_0\nnode_types:\n  old.nodes.OnlyInV280: { derived_from: tosca.nodes.Root }\n",
    )
    .unwrap();
    let mut map = ImportMap::new();
    map.insert("https://baltig.infn.it/infn-cloud/tosca-types/raw/v2.8.0/", &dir);
    // As `nuvola serve` layers them: the built-in types first.
    let server = Layered::new().with(builtin_resolver()).with(FsResolver::new(map));
    let text = "tosca_definitions_version: tosca_simple_yaml_1_0\nimports:\n  - https://baltig.infn.it/infn-cloud/tosca-types/raw/v2.8.0/tosca_types/base/basic_types.yaml\ntopology_template:\n  node_templates:\n    x: { type: old.nodes.OnlyInV280 }\n";
    let t = load(text, "mapped.yaml", &server).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.warnings().iter().all(|w| w.code != "W-IMPORT-VERSION"), "{:#?}", t.warnings());
    // Without the map the vendored release stands in, and has no such type.
    let e = load(text, "mapped.yaml", &builtin_resolver()).unwrap_err();
    assert!(e.has_code("W-IMPORT-VERSION") && e.has_code("E-UNKNOWN-TYPE"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
