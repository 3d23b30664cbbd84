//! Bad templates and bad parameters: each problem has its stable code and
//! a file:line:column location.

use nuvola_tosca::{Diagnostics, FsResolver, ImportMap, ImportResolver, Imported, Layered, builtin_resolver, load};
use serde_json::{Map, json};

const HEAD: &str = "tosca_definitions_version: tosca_simple_yaml_1_0\nimports:\n  - https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml\n";

fn fails(body: &str) -> Diagnostics {
    match load(&format!("{HEAD}{body}"), "bad.yaml", &builtin_resolver()) {
        Ok(_) => panic!("loaded:\n{body}"),
        Err(e) => e,
    }
}

/// The (line, column) of the first diagnostic with `code`, in the template
/// lines after HEAD (which has 3 lines).
fn at(d: &Diagnostics, code: &str) -> (u32, u32) {
    let x = d.find(code).unwrap_or_else(|| panic!("no {code} in:\n{d}"));
    assert_eq!(x.file, "bad.yaml");
    (x.line - 3, x.column)
}

#[test]
fn invalid_yaml_points_at_the_error() {
    let e = load(
        "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  inputs: [a, b\n  x: 1\n",
        "y.yaml",
        &builtin_resolver(),
    )
    .unwrap_err();
    let d = e.find("E-YAML").unwrap();
    assert_eq!((d.file.as_str(), d.line), ("y.yaml", 4), "{e}");
    assert!(d.column > 0);
    let text = e.to_string();
    assert!(text.starts_with("y.yaml:4:"), "{text}");
}

#[test]
fn unknown_version() {
    let e = load("tosca_definitions_version: tosca_simple_yaml_9\n", "v.yaml", &builtin_resolver()).unwrap_err();
    assert_eq!((e.0[0].code, e.0[0].line, e.0[0].column), ("E-VERSION", 1, 28));
    assert!(
        load(
            "tosca_definitions_version: http://docs.oasis-open.org/tosca/ns/simple/yaml/1.3\n",
            "v.yaml",
            &builtin_resolver()
        )
        .is_ok()
    );
}

#[test]
fn unknown_node_type() {
    let d = fails("topology_template:\n  node_templates:\n    vm:\n      type: tosca.nodes.indigo.Compue\n");
    assert_eq!(at(&d, "E-UNKNOWN-TYPE"), (3, 5));
    assert!(d.to_string().contains("did you mean \"tosca.nodes.indigo.Compute\""), "{d}");
}

#[test]
fn unknown_property_and_capability_property() {
    let d = fails(
        "topology_template:\n  node_templates:\n    vm:\n      type: tosca.nodes.indigo.Compute\n      properties:\n        instance_nme: x\n      capabilities:\n        host:\n          properties:\n            num_cpu: 2\n",
    );
    let all: Vec<_> = d.iter().filter(|x| x.code == "E-UNKNOWN-PROPERTY").map(|x| (x.line - 3, x.column)).collect();
    assert_eq!(all, vec![(6, 9), (10, 13)], "{d}");
    assert!(d.to_string().contains("did you mean \"num_cpus\""), "{d}");
}

#[test]
fn unknown_input_in_get_input() {
    let d = fails(
        "topology_template:\n  inputs:\n    cpus: { type: integer, default: 1 }\n  node_templates:\n    vm:\n      type: tosca.nodes.indigo.Compute\n      capabilities:\n        host:\n          properties:\n            num_cpus: { get_input: cpu }\n",
    );
    assert_eq!(at(&d, "E-UNKNOWN-INPUT"), (10, 36));
}

#[test]
fn unknown_requirement_target_but_dangling_host_allowed() {
    let d = fails(
        "topology_template:\n  node_templates:\n    vm:\n      type: tosca.nodes.indigo.Compute\n      requirements:\n        - local_storage: { node: nowhere }\n",
    );
    assert_eq!(at(&d, "E-UNKNOWN-NODE"), (6, 34));
    let ok = format!(
        "{HEAD}topology_template:\n  node_templates:\n    app:\n      type: tosca.nodes.indigo.JupyterHub\n      requirements:\n        - host: left_to_orchestrator\n"
    );
    let t = load(&ok, "ok.yaml", &builtin_resolver()).unwrap();
    assert!(t.warnings().iter().any(|w| w.code == "E-UNKNOWN-NODE" && !w.is_error()));
}

#[test]
fn misspelt_keynames_warn_in_types_but_fail_in_node_templates() {
    let text = format!(
        "{HEAD}node_types:\n  my.Node:\n    derived_from: tosca.nodes.Root\n    propertees:\n      a: {{ type: string }}\ntopology_template:\n  node_templates:\n    n:\n      type: my.Node\n"
    );
    let t = load(&text, "w.yaml", &builtin_resolver()).unwrap();
    let w: Vec<_> =
        t.warnings().iter().filter(|w| w.file == "w.yaml" && w.code == "W-UNKNOWN-KEY").map(|w| w.line - 3).collect();
    assert_eq!(w, vec![4], "{:?}", t.warnings());
    // A misspelt keyname in a node template drops its content: an error.
    let d =
        fails("topology_template:\n  node_templates:\n    n:\n      type: tosca.nodes.Compute\n      propertis: {}\n");
    assert_eq!(at(&d, "E-UNKNOWN-KEY"), (5, 7));
    let d = fails("topology_template:\n  node_template:\n    n:\n      type: tosca.nodes.Compute\n");
    assert_eq!(at(&d, "E-UNKNOWN-KEY"), (2, 3));
}

#[test]
fn property_values_are_type_checked() {
    let d = fails(
        "topology_template:\n  node_templates:\n    disk:\n      type: tosca.nodes.BlockStorage\n      properties:\n        size: 10\n",
    );
    assert_eq!(at(&d, "E-TYPE"), (6, 9));
    let d = fails(
        "data_types:\n  my.P:\n    derived_from: tosca.datatypes.Root\n    properties:\n      port: { type: PortDef }\n      name: { type: string }\nnode_types:\n  my.N:\n    derived_from: tosca.nodes.Root\n    properties:\n      p: { type: list, entry_schema: { type: my.P } }\ntopology_template:\n  node_templates:\n    n:\n      type: my.N\n      properties:\n        p:\n          - { port: 70000, name: a }\n          - { nme: b }\n",
    );
    assert_eq!(at(&d, "E-CONSTRAINT"), (18, 21));
    assert_eq!(at(&d, "E-UNKNOWN-PROPERTY"), (19, 15));
    assert!(d.find("E-CONSTRAINT").unwrap().message.contains("property \"p[0].port\""), "{d}");
    // A quoted number for an integer: accepted with a warning at the value.
    let ok = format!(
        "{HEAD}topology_template:\n  node_templates:\n    vm:\n      type: tosca.nodes.Compute\n      capabilities:\n        host:\n          properties:\n            num_cpus: \"2\"\n"
    );
    let t = load(&ok, "ok.yaml", &builtin_resolver()).unwrap();
    let w = t.warnings().iter().find(|w| w.code == "W-TYPE-COERCED").expect("a W-TYPE-COERCED warning");
    assert_eq!((w.line - 3, w.column), (8, 13));
}

#[test]
fn get_attribute_and_get_property_are_checked() {
    let d = fails(
        "topology_template:\n  node_templates:\n    vm:\n      type: tosca.nodes.Compute\n  outputs:\n    a: { value: { get_attribute: [ vm, nope ] } }\n    b: { value: { get_property: [ vm, os, nope ] } }\n    c: { value: { get_attribute: [ HOST, public_address ] } }\n    d: { value: { get_attribute: [ vm, public_address, 0 ] } }\n",
    );
    assert_eq!(at(&d, "E-UNKNOWN-ATTRIBUTE"), (6, 40));
    assert_eq!(at(&d, "E-UNKNOWN-PROPERTY"), (7, 43));
    assert!(d.iter().any(|x| x.code == "E-FUNCTION" && x.message.contains("HOST")), "{d}");
    assert!(d.iter().any(|x| x.code == "E-FUNCTION" && x.message.contains("cannot be followed")), "{d}");
}

#[test]
fn type_cycle_and_unknown_parent() {
    let d = fails(
        "node_types:\n  a.A:\n    derived_from: a.B\n  a.B:\n    derived_from: a.A\n  a.C:\n    derived_from: a.Nope\n",
    );
    assert!(d.has_code("E-TYPE-CYCLE"), "{d}");
    assert_eq!(at(&d, "E-UNKNOWN-TYPE"), (7, 19));
}

#[test]
fn reports_all_problems() {
    let d = fails("topology_template:\n  node_templates:\n    a:\n      type: Nope1\n    b:\n      type: Nope2\n");
    assert_eq!(d.iter().filter(|x| x.code == "E-UNKNOWN-TYPE").count(), 2);
}

fn template() -> nuvola_tosca::ServiceTemplate {
    let text = format!(
        "{HEAD}topology_template:\n  inputs:\n    num_cpus:\n      type: integer\n      default: 2\n      constraints:\n        - in_range: [ 1, 32 ]\n    name:\n      type: string\n      required: true\n"
    );
    load(&text, "in.yaml", &builtin_resolver()).unwrap()
}

#[test]
fn parameters_are_checked() {
    let t = template();
    let e = t.resolve_inputs(&json!({"name": "x", "num_cpu": 2}).as_object().unwrap().clone()).unwrap_err();
    let d = e.find("E-UNKNOWN-PARAMETER").unwrap();
    assert!(
        d.message.contains("\"num_cpu\"") && d.message.contains("num_cpus, name") && d.message.contains("did you mean"),
        "{e}"
    );

    let e = t.resolve_inputs(&Map::new()).unwrap_err();
    let d = e.find("E-INPUT-REQUIRED").unwrap();
    assert_eq!((d.file.as_str(), d.line, d.column), ("in.yaml", 11, 5));

    let e = t.resolve_inputs(&json!({"name": "x", "num_cpus": 64}).as_object().unwrap().clone()).unwrap_err();
    let d = e.find("E-CONSTRAINT").unwrap();
    assert_eq!(d.message, "input \"num_cpus\": 64 is not in range [1, 32]");
    assert_eq!((d.line, d.column), (6, 5));
    assert_eq!(e.to_string(), "in.yaml:6:5: E-CONSTRAINT: input \"num_cpus\": 64 is not in range [1, 32]");

    let e = t.resolve_inputs(&json!({"name": "x", "num_cpus": "abc"}).as_object().unwrap().clone()).unwrap_err();
    assert_eq!(e.find("E-TYPE").unwrap().message, "input \"num_cpus\": \"abc\" is not a valid integer");

    let ok = t.resolve_inputs(&json!({"name": "x", "num_cpus": "4"}).as_object().unwrap().clone()).unwrap();
    assert_eq!(ok["num_cpus"], json!(4));
}

#[test]
fn bad_default_is_reported_at_load() {
    let d = fails(
        "topology_template:\n  inputs:\n    n:\n      type: integer\n      default: 40\n      constraints: [ { less_than: 10 } ]\n",
    );
    assert_eq!(at(&d, "E-CONSTRAINT"), (3, 5));
}

#[test]
fn constraints_written_as_a_map_are_read_as_clauses_with_a_warning() {
    // INFN Cloud templates write one clause as a map; the INDIGO tool chain reads it.
    let body = "topology_template:\n  inputs:\n    size:\n      type: scalar-unit.size\n      default: 20 GB\n      constraints:\n        in_range: [1 GB, 100 GB]\n    n:\n      type: integer\n      default: 2\n      constraints: { greater_or_equal: 1, less_or_equal: 8 }\n";
    let t = load(&format!("{HEAD}{body}"), "map.yaml", &builtin_resolver()).unwrap_or_else(|e| panic!("{e}"));
    let coerced: Vec<(u32, u32)> =
        t.warnings().iter().filter(|w| w.code == "W-SYNTAX-COERCED").map(|w| (w.line - 3, w.column)).collect();
    assert_eq!(coerced, [(7, 9), (11, 20)]);
    assert_eq!(t.inputs()["n"].constraints.len(), 2);
    let e = t.resolve_inputs(&json!({"size": "101 GB", "n": 9}).as_object().unwrap().clone()).unwrap_err();
    assert_eq!(e.iter().filter(|d| d.code == "E-CONSTRAINT").count(), 2, "{e}");
    // The default is checked against them at load, as a list's clauses are.
    let d = fails(&body.replace("default: 20 GB", "default: 200 GB"));
    assert_eq!(at(&d, "E-CONSTRAINT"), (3, 5));
    // A clause that is no operator, and a scalar, stay errors.
    let d = fails(&body.replace("in_range: [1 GB, 100 GB]", "inside: [1 GB, 100 GB]"));
    assert_eq!(at(&d, "E-SYNTAX"), (7, 9));
    let d = fails(&body.replace("constraints: { greater_or_equal: 1, less_or_equal: 8 }", "constraints: positive"));
    assert_eq!(at(&d, "E-SYNTAX"), (11, 20));
}

#[test]
fn import_not_in_map() {
    let e = load(
        "tosca_definitions_version: tosca_simple_yaml_1_0\nimports:\n  - https://example.org/types.yaml\n",
        "i.yaml",
        &Layered::new().with(builtin_resolver()).with(FsResolver::new(ImportMap::new())),
    )
    .unwrap_err();
    let d = e.find("E-IMPORT").unwrap();
    assert_eq!((d.line, d.column), (3, 5));
    assert!(d.message.contains("not in the import map"), "{e}");
}

/// Serves files from memory, by name.
struct Mem(Vec<(&'static str, &'static str)>);

impl ImportResolver for Mem {
    fn load(&self, _importer: &str, import: &str) -> Result<Imported, String> {
        self.0
            .iter()
            .find(|(n, _)| *n == import)
            .map(|(n, t)| Imported::new(*n, *t))
            .ok_or_else(|| format!("no {import}"))
    }
}

#[test]
fn import_cycle_and_load_once() {
    let files = Mem(vec![
        ("a.yaml", "tosca_definitions_version: tosca_simple_yaml_1_0\nimports: [ b.yaml ]\n"),
        ("b.yaml", "tosca_definitions_version: tosca_simple_yaml_1_0\nimports: [ a.yaml ]\n"),
    ]);
    let t =
        load("tosca_definitions_version: tosca_simple_yaml_1_0\nimports: [ a.yaml ]\n", "main.yaml", &files).unwrap();
    let e = nuvola_tosca::Diagnostics(t.warnings().to_vec());
    let d = e.find("W-IMPORT-CYCLE").unwrap();
    assert_eq!((d.file.as_str(), d.line, d.column), ("b.yaml", 2, 12));
    assert!(d.message.contains("a.yaml -> b.yaml -> a.yaml"), "{e}");

    let files = Mem(vec![
        (
            "t.yaml",
            "tosca_definitions_version: tosca_simple_yaml_1_0\nnode_types:\n  x.T: { derived_from: tosca.nodes.Root }\n",
        ),
        ("u.yaml", "tosca_definitions_version: tosca_simple_yaml_1_0\nimports: [ t.yaml ]\n"),
    ]);
    let t = load("tosca_definitions_version: tosca_simple_yaml_1_0\nimports: [ t.yaml, u.yaml ]\n", "m.yaml", &files)
        .unwrap();
    assert!(t.warnings().iter().all(|w| w.code != "W-DUPLICATE-TYPE"), "{:?}", t.warnings());
}

#[test]
fn fs_resolver_reads_mapped_urls_and_refuses_escapes() {
    let dir = std::env::temp_dir().join(format!("nuvola-tosca-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("types")).unwrap();
    std::fs::write(
        dir.join("types/t.yaml"),
        "tosca_definitions_version: tosca_simple_yaml_1_0\nimports: [ ../secret.yaml ]\n",
    )
    .unwrap();
    std::fs::write(dir.join("secret.yaml"), "tosca_definitions_version: tosca_simple_yaml_1_0\n").unwrap();
    let map = ImportMap::from_tsv("url_prefix\tlocal_path\nhttps://x.org/types/\ttypes/\n", &dir).unwrap();
    let r = FsResolver::new(map);
    let name = r.load("main.yaml", "https://x.org/types/t.yaml").unwrap().name;
    assert_eq!(name, "https://x.org/types/t.yaml");
    // ../secret.yaml from the mapped URL is outside the map.
    assert!(r.load(&name, "../secret.yaml").is_err());
    assert!(r.load(dir.join("types/t.yaml").to_str().unwrap(), "../secret.yaml").is_err());
    let r = r.allow_files_under(&dir);
    assert!(r.load(dir.join("types/t.yaml").to_str().unwrap(), "../secret.yaml").is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn size_limit() {
    let big = format!("tosca_definitions_version: tosca_simple_yaml_1_0\ndescription: \"{}\"\n", "x".repeat(1 << 20));
    let e = load(&big, "big.yaml", &builtin_resolver()).unwrap_err();
    assert_eq!(e.0[0].code, "E-LIMIT");
}

/// A 1.3 template with its own types, for requirement checks.
fn requirement_case(nodes: &str) -> Result<nuvola_tosca::ServiceTemplate, Diagnostics> {
    let types = concat!(
        "tosca_definitions_version: tosca_simple_yaml_1_3\n",
        "capability_types:\n  Socket:\n    derived_from: tosca.capabilities.Root\n",
        "  Plug:\n    derived_from: tosca.capabilities.Root\n",
        "node_types:\n  Lamp:\n    derived_from: tosca.nodes.Root\n    requirements:\n",
        "      - power:\n          capability: Socket\n          occurrences: [ 1, 2 ]\n",
        "  Panel:\n    derived_from: tosca.nodes.Root\n    capabilities:\n      main: Socket\n      aux: Socket\n      usb: Plug\n",
        "  Charger:\n    derived_from: tosca.nodes.Root\n    capabilities:\n      out: Plug\n",
    );
    load(&format!("{types}topology_template:\n  node_templates:\n{nodes}"), "req.yaml", &builtin_resolver())
}

#[test]
fn requirement_occurrences_are_counted() {
    let panel = "    panel:\n      type: Panel\n";
    // The types take 23 lines, then topology_template and node_templates: nodes start at line 26.
    let e = requirement_case(&format!(
        "{panel}    lamp:\n      type: Lamp\n      requirements:\n        - power: panel\n        - power: panel\n        - power: panel\n"
    ))
    .unwrap_err();
    let d = e.find("E-OCCURRENCES").unwrap_or_else(|| panic!("{e}"));
    assert_eq!((d.line, d.column), (33, 11), "{e}");
    assert!(d.message.contains("assigned 3 times") && d.message.contains("at most 2"), "{}", d.message);
    assert!(
        requirement_case(&format!(
            "{panel}    lamp:\n      type: Lamp\n      requirements:\n        - power: panel\n        - power: panel\n"
        ))
        .is_ok()
    );
}

#[test]
fn unassigned_requirements_are_left_to_the_orchestrator_with_a_warning_but_hosts_must_exist() {
    // A candidate exists: a warning naming it.
    let t = requirement_case("    panel:\n      type: Panel\n    lamp:\n      type: Lamp\n").unwrap();
    let w = t.warnings().iter().find(|w| w.code == "W-DANGLING-REQUIREMENT").expect("a dangling warning");
    assert!(w.message.contains("\"power\"") && w.message.contains("candidates here: panel"), "{}", w.message);
    assert_eq!((w.line, w.column), (28, 5));
    // A software component with nothing to host it: an error.
    let e = load(
        "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  node_templates:\n    web:\n      type: tosca.nodes.WebServer\n",
        "web.yaml",
        &builtin_resolver(),
    )
    .unwrap_err();
    let d = e.find("E-OCCURRENCES").unwrap_or_else(|| panic!("{e}"));
    assert_eq!((d.line, d.column), (4, 5));
    assert!(d.message.contains("\"host\"") && d.message.contains("tosca.capabilities.Compute"), "{}", d.message);
    // With a Compute in the topology the host is left to the orchestrator.
    let t = load(
        "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  node_templates:\n    web:\n      type: tosca.nodes.WebServer\n    vm:\n      type: tosca.nodes.Compute\n",
        "web.yaml",
        &builtin_resolver(),
    )
    .unwrap();
    assert!(t.warnings().iter().any(|w| w.code == "W-DANGLING-REQUIREMENT" && w.message.contains("vm")));
}

#[test]
fn requirement_targets_must_offer_a_compatible_capability() {
    let e = requirement_case(
        "    charger:\n      type: Charger\n    lamp:\n      type: Lamp\n      requirements:\n        - power: charger\n",
    )
    .unwrap_err();
    let d = e.find("E-REQUIREMENT-TARGET").unwrap_or_else(|| panic!("{e}"));
    assert_eq!((d.line, d.column), (31, 18), "{e}");
    assert!(d.message.contains("compatible with Socket") && d.message.contains("out (Plug)"), "{}", d.message);
    // Naming a capability of the wrong type, or one the target lacks.
    let e = requirement_case(
        "    panel:\n      type: Panel\n    lamp:\n      type: Lamp\n      requirements:\n        - power: { node: panel, capability: usb }\n",
    )
    .unwrap_err();
    assert!(e.find("E-REQUIREMENT-TARGET").is_some_and(|d| d.message.contains("usb")), "{e}");
    let e = requirement_case(
        "    panel:\n      type: Panel\n    lamp:\n      type: Lamp\n      requirements:\n        - power: { node: panel, capability: side }\n",
    )
    .unwrap_err();
    assert!(e.find("E-REQUIREMENT-TARGET").is_some_and(|d| d.message.contains("no capability \"side\"")), "{e}");
    // A capability of the right type, by name or by type.
    for how in ["aux", "Socket"] {
        let ok = requirement_case(&format!(
            "    panel:\n      type: Panel\n    lamp:\n      type: Lamp\n      requirements:\n        - power: {{ node: panel, capability: {how} }}\n"
        ));
        assert!(ok.is_ok(), "{how}: {}", ok.unwrap_err());
    }
}

#[test]
fn related_capability_types_are_compatible_and_other_mismatches_warn() {
    // INDIGO's Compute offers a tosca.capabilities.indigo.Container where
    // SoftwareComponent wants a tosca.capabilities.Compute: siblings, accepted silently.
    let t = load(
        &format!(
            "{HEAD}topology_template:\n  node_templates:\n    app:\n      type: tosca.nodes.SoftwareComponent\n      requirements:\n        - host: vm\n    vm:\n      type: tosca.nodes.indigo.Compute\n"
        ),
        "ok.yaml",
        &builtin_resolver(),
    )
    .unwrap();
    let own: Vec<_> = t.warnings().iter().filter(|w| w.file == "ok.yaml").collect();
    assert!(own.is_empty(), "{own:?}");
    // A WebApplication hosted on a Compute: its definition wants a WebServer, and
    // the Compute's host capability takes SoftwareComponents only.
    let t = load(
        "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  node_templates:\n    app:\n      type: tosca.nodes.WebApplication\n      requirements:\n        - host: vm\n    vm:\n      type: tosca.nodes.Compute\n",
        "w.yaml",
        &builtin_resolver(),
    )
    .unwrap();
    let w: Vec<_> = t.warnings().iter().filter(|w| w.code == "W-REQUIREMENT-TARGET").collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].message.contains("not a tosca.nodes.WebServer"), "{}", w[0].message);
    assert!(w[1].message.contains("valid_source_types"), "{}", w[1].message);
    assert_eq!((w[0].line, w[0].column), (7, 17));
}

/// Loads a TOSCA 1.3 template whose topology is `topology` (lines start at 3).
fn topology13(topology: &str) -> Result<nuvola_tosca::ServiceTemplate, Diagnostics> {
    load(
        &format!("tosca_definitions_version: tosca_simple_yaml_1_3\ntopology_template:\n{topology}"),
        "t.yaml",
        &builtin_resolver(),
    )
}

const WEB: &str = "  node_templates:\n    web:\n      type: tosca.nodes.WebServer\n      requirements:\n        - host: vm\n    vm:\n      type: tosca.nodes.Compute\n";

#[test]
fn workflows_are_checked() {
    let ok = topology13(&format!(
        "{WEB}  workflows:\n    restart:\n      steps:\n        stop:\n          target: web\n          activities:\n            - call_operation: Standard.stop\n            - set_state: stopped\n          on_success: [ start ]\n        start:\n          target: web\n          activities:\n            - call_operation: tosca.interfaces.node.lifecycle.Standard.start\n            - inline: other\n    other:\n      steps: {{}}\n"
    ));
    assert!(ok.is_ok(), "{}", ok.unwrap_err());
    // Lines: WEB takes lines 3-9, workflows 10, restart 11, steps 12, the first step 13.
    let e = topology13(&format!(
        "{WEB}  workflows:\n    restart:\n      steps:\n        stop:\n          target: wbe\n          activities:\n            - jump: x\n          on_success: [ strat ]\n          on_failure: stop\n        start:\n          target: web\n          activitis: []\n        halt:\n          target: web\n          activities:\n            - call_operation: Standard.halt\n"
    ))
    .unwrap_err();
    let find = |code: &str, needle: &str| {
        e.iter()
            .find(|d| d.code == code && d.message.contains(needle))
            .unwrap_or_else(|| panic!("no {code} {needle} in:\n{e}"))
    };
    let d = find("E-UNKNOWN-NODE", "target \"wbe\"");
    assert_eq!((d.line, d.column), (14, 19));
    assert!(d.message.contains("did you mean \"web\""), "{}", d.message);
    assert_eq!(find("E-WORKFLOW", "unknown activity \"jump\"").line, 16);
    assert!(find("E-WORKFLOW", "\"strat\", which is not a step").message.contains("did you mean \"start\""));
    find("E-WORKFLOW", "follows itself");
    assert_eq!(find("E-UNKNOWN-KEY", "\"activitis\"").line, 21);
    let d = find("E-UNKNOWN-OPERATION", "no operation \"halt\"");
    assert_eq!((d.line, d.column), (25, 31));
    let e = topology13(&format!(
        "{WEB}  workflows:\n    w:\n      steps:\n        s:\n          target: web\n          target_relationship: hots\n          activities: []\n        t:\n          target: web\n          target_relationship: host\n          activities: []\n"
    ))
    .unwrap_err();
    let d = e.find("E-WORKFLOW").unwrap_or_else(|| panic!("{e}"));
    assert!(
        d.message.contains("\"hots\" is not a requirement") && d.message.contains("did you mean \"host\""),
        "{}",
        d.message
    );
    assert_eq!((d.line, d.column), (15, 32));
    assert_eq!(e.len(), 1, "{e}");
    find("E-SYNTAX", "step \"start\" has no activities");
}

#[test]
fn groups_are_checked() {
    let e = topology13(&format!(
        "{WEB}  groups:\n    g:\n      type: tosca.groups.Root\n      members: [ web, nowhere ]\n      properties: {{ size: 1 }}\n    h:\n      type: tosca.groups.Rot\n"
    ))
    .unwrap_err();
    assert!(e.iter().any(|d| d.code == "E-UNKNOWN-NODE" && d.message.contains("\"nowhere\"") && d.line == 13), "{e}");
    assert!(e.iter().any(|d| d.code == "E-UNKNOWN-PROPERTY" && d.message.contains("\"size\"")), "{e}");
    assert!(
        e.iter().any(|d| d.code == "E-UNKNOWN-TYPE" && d.message.contains("tosca.groups.Rot") && d.line == 16),
        "{e}"
    );
    // A group type that takes only Computes.
    let types = "group_types:\n  Servers:\n    derived_from: tosca.groups.Root\n    members: [ tosca.nodes.Compute ]\n";
    let text = format!(
        "tosca_definitions_version: tosca_simple_yaml_1_3\n{types}topology_template:\n{WEB}  groups:\n    g:\n      type: Servers\n      members: [ vm, web ]\n"
    );
    let e = load(&text, "t.yaml", &builtin_resolver()).unwrap_err();
    let d = e.find("E-GROUP-MEMBER").unwrap_or_else(|| panic!("{e}"));
    assert!(d.message.contains("\"web\" is a tosca.nodes.WebServer") && d.message.contains("only tosca.nodes.Compute"));
    assert_eq!((d.line, d.column), (17, 22));
}

#[test]
fn get_operation_output_and_get_artifact_are_checked() {
    let ok = topology13(&format!(
        "{WEB}    app:\n      type: tosca.nodes.SoftwareComponent\n      artifacts:\n        pkg: {{ file: app.tgz, type: tosca.artifacts.File }}\n      properties:\n        component_version: {{ get_operation_output: [ web, Standard, create, version ] }}\n        admin_credential: {{ token: [ {{ get_artifact: [ SELF, pkg ] }}, '/', 0 ] }}\n      requirements:\n        - host: vm\n"
    ));
    assert!(ok.is_ok(), "{}", ok.unwrap_err());
    let e = topology13(&format!(
        "{WEB}    app:\n      type: tosca.nodes.SoftwareComponent\n      properties:\n        component_version: {{ get_operation_output: [ web, Standard, build, version ] }}\n        admin_credential: {{ get_artifact: [ SELF, pkg ] }}\n      requirements:\n        - host: vm\n"
    ))
    .unwrap_err();
    let d = e.find("E-UNKNOWN-OPERATION").unwrap_or_else(|| panic!("{e}"));
    assert!(d.message.contains("no operation \"build\""), "{}", d.message);
    assert_eq!(d.line, 13);
    let d = e.find("E-UNKNOWN-ARTIFACT").unwrap_or_else(|| panic!("{e}"));
    assert!(d.message.contains("no artifact \"pkg\" (it defines none)"), "{}", d.message);
    assert_eq!((d.line, d.column), (14, 51));
    let e =
        topology13(&format!("{WEB}  outputs:\n    o:\n      value: {{ get_operation_output: [ web, Standard ] }}\n"))
            .unwrap_err();
    assert!(e.find("E-FUNCTION").is_some_and(|d| d.message.contains("get_operation_output expects")), "{e}");
}

#[test]
fn requirement_node_filters_name_what_the_selected_node_type_has() {
    let ok = load(
        "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  node_templates:\n    db:\n      type: tosca.nodes.DBMS\n      requirements:\n        - host:\n            node_filter:\n              capabilities:\n                - host:\n                    properties:\n                      - num_cpus: { in_range: [ 1, 4 ] }\n                - tosca.capabilities.OperatingSystem:\n                    properties:\n                      - type: linux\n",
        "f.yaml",
        &builtin_resolver(),
    );
    assert!(ok.is_ok(), "{}", ok.unwrap_err());
    let e = load(
        "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  node_templates:\n    db:\n      type: tosca.nodes.DBMS\n      requirements:\n        - host:\n            node_filter:\n              properties:\n                - flavour: { equal: big }\n              capabilities:\n                - host:\n                    properties:\n                      - num_cpu: { in_rang: [ 1, 4 ] }\n                - gpu:\n                    properties: []\n              capabilites: []\n",
        "f.yaml",
        &builtin_resolver(),
    )
    .unwrap_err();
    let find = |code: &str, needle: &str| {
        e.iter()
            .find(|d| d.code == code && d.message.contains(needle))
            .unwrap_or_else(|| panic!("no {code} {needle} in:\n{e}"))
    };
    assert_eq!(find("E-UNKNOWN-PROPERTY", "no property \"flavour\"").line, 10);
    let d = find("E-UNKNOWN-PROPERTY", "no property \"num_cpu\"");
    assert!(d.message.contains("did you mean \"num_cpus\""), "{}", d.message);
    assert_eq!((d.line, d.column), (14, 25));
    assert_eq!(find("E-CONSTRAINT", "in_rang").line, 14);
    assert_eq!(find("E-UNKNOWN-CAPABILITY", "\"gpu\"").line, 15);
    assert_eq!(find("E-UNKNOWN-KEY", "\"capabilites\"").line, 17);
}

/// Found by `nuvola tosca fuzz --seed 7` (case 35370): a step that is not a
/// map before steps named by on_success made the loop check index past the end.
#[test]
fn a_malformed_step_among_linked_steps_is_reported_not_a_panic() {
    let e = topology13(&format!(
        "{WEB}  workflows:\n    w:\n      steps:\n        broken: 1\n        a:\n          target: web\n          activities: []\n          on_success: [ b ]\n        b:\n          target: web\n          activities: []\n"
    ))
    .unwrap_err();
    assert!(e.iter().any(|d| d.code == "E-SYNTAX" && d.message.contains("step \"broken\" is a map")), "{e}");
}

#[test]
fn relationship_templates_and_policies_without_properties_are_located() {
    let e = topology13(&format!(
        "{WEB}  relationship_templates:\n    link:\n      type: tosca.relationships.ConectsTo\n  policies:\n    - place:\n        type: tosca.policies.Placment\n        targets: [ web, nowhere ]\n"
    ))
    .unwrap_err();
    let find =
        |needle: &str| e.iter().find(|d| d.message.contains(needle)).unwrap_or_else(|| panic!("no {needle} in:\n{e}"));
    let d = find("tosca.relationships.ConectsTo");
    assert_eq!((d.code, d.line, d.column), ("E-UNKNOWN-TYPE", 12, 13));
    let d = find("tosca.policies.Placment");
    assert_eq!((d.code, d.line, d.column), ("E-UNKNOWN-TYPE", 15, 15));
    let d = find("\"nowhere\"");
    assert_eq!((d.code, d.line, d.column), ("E-UNKNOWN-NODE", 16, 25));
}

#[test]
fn an_assignments_relationship_must_be_of_the_definitions_relationship_type() {
    let text = |rel: &str| {
        format!(
            "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  node_templates:\n    app:\n      type: tosca.nodes.SoftwareComponent\n      requirements:\n        - host:\n            node: vm\n            relationship: {rel}\n    vm:\n      type: tosca.nodes.Compute\n  relationship_templates:\n    link:\n      type: tosca.relationships.ConnectsTo\n"
        )
    };
    let e = load(&text("tosca.relationships.ConnectsTo"), "r.yaml", &builtin_resolver()).unwrap_err();
    let d = e.find("E-RELATIONSHIP-TYPE").unwrap_or_else(|| panic!("{e}"));
    assert_eq!((d.line, d.column), (9, 27));
    assert!(d.message.contains("not a tosca.relationships.HostedOn"), "{}", d.message);
    let e = load(&text("link"), "r.yaml", &builtin_resolver()).unwrap_err();
    assert!(e.find("E-RELATIONSHIP-TYPE").is_some_and(|d| d.message.contains("relationship template \"link\"")), "{e}");
    for ok in ["tosca.relationships.HostedOn", "{ type: tosca.relationships.HostedOn }"] {
        let t = load(&text(ok), "r.yaml", &builtin_resolver());
        assert!(t.is_ok(), "{ok}: {}", t.unwrap_err());
    }
}

#[test]
fn a_number_for_a_string_is_an_error_in_a_data_type_field_only() {
    let types = "data_types:\n  my.Contact:\n    derived_from: tosca.datatypes.Root\n    properties:\n      phone: { type: string }\nnode_types:\n  my.N:\n    derived_from: tosca.nodes.Root\n    properties:\n      name: { type: string }\n      contact: { type: my.Contact, required: false }\ntopology_template:\n  node_templates:\n    n:\n      type: my.N\n      properties:\n";
    let d = fails(&format!("{types}        name: a\n        contact: {{ phone: 123456789 }}\n"));
    assert_eq!(at(&d, "E-TYPE"), (18, 27));
    assert!(d.find("E-TYPE").unwrap().message.contains("property \"contact.phone\""), "{d}");
    // In a property of the node template itself: read as its text, with a warning.
    let t = load(&format!("{HEAD}{types}        name: 123456789\n"), "ok.yaml", &builtin_resolver()).unwrap();
    let w = t.warnings().iter().find(|w| w.code == "W-TYPE-COERCED").expect("a W-TYPE-COERCED warning");
    assert_eq!((w.line - 3, w.column), (17, 9));
}

#[test]
fn a_requirement_definition_whose_own_node_type_lacks_the_capability_only_warns() {
    // sample.SC asks for an Attachment on a tosca.nodes.Compute, which offers
    // none: the template follows the definition, the definition is at fault.
    let body = "node_types:\n  sample.SC:\n    derived_from: tosca.nodes.SoftwareComponent\n    requirements:\n      - custom_host:\n          capability: tosca.capabilities.Attachment\n          node: tosca.nodes.Compute\ntopology_template:\n  node_templates:\n    sc:\n      type: sample.SC\n      requirements:\n        - custom_host: vm\n        - host: vm\n    vm:\n      type: tosca.nodes.Compute\n";
    let t = load(&format!("{HEAD}{body}"), "ok.yaml", &builtin_resolver()).unwrap();
    let w = t.warnings().iter().find(|w| w.code == "W-REQUIREMENT-TARGET").expect("a W-REQUIREMENT-TARGET warning");
    assert_eq!((w.line - 3, w.column), (13, 24), "{}", w.message);
    assert!(w.message.contains("fix the definition"), "{}", w.message);
    // The same requirement on a target outside the definition's node type stays an error.
    let d = fails(&body.replace("custom_host: vm", "custom_host: db").replace(
        "    vm:\n",
        "    db:\n      type: tosca.nodes.DBMS\n      requirements:\n        - host: vm\n    vm:\n",
    ));
    assert_eq!(at(&d, "E-REQUIREMENT-TARGET"), (13, 24));
}

#[test]
fn an_integer_for_a_float_is_an_error() {
    // INDIGO's Docker runtime takes num_cpus as a float (DEEP's `num_cpus: 1`).
    let node = "topology_template:\n  node_templates:\n    app:\n      type: tosca.nodes.indigo.Container.Runtime.Docker\n      capabilities:\n        host:\n          properties:\n            num_cpus: 1\n";
    let d = fails(node);
    assert_eq!(at(&d, "E-TYPE"), (8, 13));
    let m = &d.find("E-TYPE").unwrap().message;
    assert!(
        m.contains("property \"num_cpus\"") && m.contains("the integer 1 is not a float") && m.contains("1.0"),
        "{m}"
    );
    for float in ["1.0", "0.5", "1e3"] {
        let ok = format!("{HEAD}{}", node.replace("num_cpus: 1", &format!("num_cpus: {float}")));
        let t = load(&ok, "ok.yaml", &builtin_resolver());
        assert!(t.is_ok(), "{float}: {}", t.unwrap_err());
    }
    // In an entry of a list of floats, in a policy, and as an input's default.
    let types = "node_types:\n  my.N:\n    derived_from: tosca.nodes.Root\n    properties:\n      weights: { type: list, entry_schema: { type: float } }\npolicy_types:\n  my.P:\n    derived_from: tosca.policies.Root\n    properties:\n      bound: { type: float }\n";
    let d = fails(&format!(
        "{types}topology_template:\n  node_templates:\n    n:\n      type: my.N\n      properties:\n        weights: [ 0.5, 2 ]\n  policies:\n    - p:\n        type: my.P\n        properties:\n          bound: 10\n"
    ));
    let typed: Vec<_> = d.0.iter().filter(|x| x.code == "E-TYPE").map(|x| (x.line - 3, x.column)).collect();
    assert_eq!(typed, [(16, 25), (21, 11)], "{d}");
    assert!(d.to_string().contains("property \"weights[1]\""), "{d}");
    let d = fails(
        "topology_template:\n  inputs:\n    cpus:\n      type: float\n      default: 2\n    weights:\n      type: list\n      entry_schema: { type: float }\n      default: [ 1.5, 3 ]\n",
    );
    let typed: Vec<_> = d.0.iter().filter(|x| x.code == "E-TYPE").map(|x| x.message.as_str()).collect();
    assert_eq!(
        typed,
        [
            "the default of input \"cpus\": the integer 2 is not a float; write it as a float, e.g. 2.0",
            "the default of input \"weights\": the integer 3 at [1] is not a float; write it as a float, e.g. 3.0",
        ],
        "{d}"
    );
    // A deployment parameter is JSON, where 2 and 2.0 are one number: accepted.
    let t = load(
        &format!("{HEAD}topology_template:\n  inputs:\n    cpus:\n      type: float\n      default: 2.0\n"),
        "ok.yaml",
        &builtin_resolver(),
    )
    .unwrap();
    let inputs = t.resolve_inputs(&json!({"cpus": 3}).as_object().unwrap().clone()).unwrap();
    assert_eq!(inputs["cpus"], json!(3));
}

#[test]
fn a_boolean_default_for_a_string_input_is_accepted_with_a_warning() {
    // DEEP's docker_privileged: `type: string`, `default: false` (six templates
    // the manifest calls valid) or `default: true` (two it calls invalid, only
    // because tosca-parser checks a default when it is truthy): one shape, one verdict.
    for default in ["false", "true"] {
        let text = format!(
            "{HEAD}topology_template:\n  inputs:\n    docker_privileged:\n      type: string\n      default: {default}\n      constraints:\n        - valid_values: [ false, true ]\n"
        );
        let t = load(&text, "ok.yaml", &builtin_resolver()).unwrap_or_else(|e| panic!("{default}: {e}"));
        let w = t.warnings().iter().find(|w| w.code == "W-TYPE-COERCED").expect("a W-TYPE-COERCED warning");
        assert_eq!((w.line - 3, w.column), (3, 5));
        assert!(w.message.contains(&format!("the boolean {default} is read as a string")), "{}", w.message);
    }
}

#[test]
fn a_relationship_targets_only_its_valid_target_types() {
    // my.Uses may land only on a Bindable (a Node capability); the DBMS offers none.
    let types = "relationship_types:\n  my.Uses:\n    derived_from: tosca.relationships.DependsOn\n    valid_target_types: [ tosca.capabilities.network.Bindable ]\n";
    let body = format!(
        "{types}topology_template:\n  node_templates:\n    app:\n      type: tosca.nodes.SoftwareComponent\n      requirements:\n        - host: vm\n        - dependency: {{ node: db, relationship: my.Uses }}\n    db:\n      type: tosca.nodes.DBMS\n      requirements:\n        - host: vm\n    vm:\n      type: tosca.nodes.Compute\n"
    );
    let d = fails(&body);
    assert_eq!(at(&d, "E-REQUIREMENT-TARGET"), (11, 49));
    let m = &d.find("E-REQUIREMENT-TARGET").unwrap().message;
    assert!(
        m.contains(
            "not a valid target of relationship type my.Uses (valid_target_types: tosca.capabilities.network.Bindable)"
        ),
        "{m}"
    );
    // The same relationship on a Compute, which offers one: valid.
    let ok =
        format!("{HEAD}{}", body.replace("{ node: db, relationship: my.Uses }", "{ node: vm, relationship: my.Uses }"));
    let t = load(&ok, "ok.yaml", &builtin_resolver());
    assert!(t.is_ok(), "{}", t.unwrap_err());
    // A requirement definition whose own relationship cannot land on its capability: a warning.
    let def = "node_types:\n  my.Client:\n    derived_from: tosca.nodes.SoftwareComponent\n    requirements:\n      - api:\n          capability: tosca.capabilities.Endpoint\n          relationship: tosca.relationships.HostedOn\ntopology_template:\n  node_templates:\n    c:\n      type: my.Client\n      requirements:\n        - host: vm\n        - api: s\n    s:\n      type: tosca.nodes.WebServer\n      requirements:\n        - host: vm\n    vm:\n      type: tosca.nodes.Compute\n";
    let t = load(&format!("{HEAD}{def}"), "ok.yaml", &builtin_resolver()).unwrap_or_else(|e| panic!("{e}"));
    let w = t
        .warnings()
        .iter()
        .find(|w| w.code == "W-REQUIREMENT-TARGET" && w.message.contains("valid_target_types"))
        .expect("a W-REQUIREMENT-TARGET warning");
    assert_eq!((w.line - 3, w.column), (14, 16), "{}", w.message);
    assert!(w.message.contains("fix the definition"), "{}", w.message);
    // An unknown valid target type in the template's own definitions.
    let d = fails(&types.replace("tosca.capabilities.network.Bindable", "tosca.capabilities.Nowhere"));
    assert_eq!(at(&d, "E-UNKNOWN-TYPE"), (4, 27));
}

#[test]
fn a_node_template_filter_is_checked() {
    // With `select`, the filter picks an existing node of the template's own type.
    let body = "node_types:\n  my.Db:\n    derived_from: tosca.nodes.Root\n    properties:\n      name: { type: string, required: false }\n    capabilities:\n      host: tosca.capabilities.Compute\ntopology_template:\n  node_templates:\n    db:\n      type: my.Db\n      directives: [ select ]\n      node_filter:\n        properties:\n          - name: { equal: db1 }\n          - nmae: { equal: db1 }\n        capabilities:\n          - host:\n              properties:\n                - num_cpus: { greater_or_bogus: 2 }\n";
    let d = fails(body);
    assert_eq!(at(&d, "E-UNKNOWN-PROPERTY"), (16, 13));
    assert!(d.find("E-UNKNOWN-PROPERTY").unwrap().message.contains("node template \"db\": node_filter"), "{d}");
    assert_eq!(at(&d, "E-CONSTRAINT"), (20, 31));
    // Without it (the TOSCA 1.3 tutorial filters the requirements' targets),
    // only the shape and the clauses are checked.
    let unselected = body.replace("      directives: [ select ]\n", "");
    let d = fails(&unselected);
    assert!(d.find("E-UNKNOWN-PROPERTY").is_none(), "{d}");
    assert_eq!(at(&d, "E-CONSTRAINT"), (19, 31));
    let ok = format!("{HEAD}{}", unselected.replace("greater_or_bogus", "greater_or_equal"));
    let t = load(&ok, "ok.yaml", &builtin_resolver());
    assert!(t.is_ok(), "{}", t.unwrap_err());
    let d = fails(&unselected.replace("        properties:\n          - name", "        propertis:\n          - name"));
    assert_eq!(at(&d, "E-UNKNOWN-KEY"), (13, 9));
}
