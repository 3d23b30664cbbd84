//! Profiles and where imports come from: tosca-parser's NFV/MEC profile
//! versions, profiles imported by namespace (`org.acme:1.0`), imports
//! through `repositories:`, and substitution mappings of imported templates.

use nuvola_tosca::{ImportResolver, Imported, load};

/// Files in memory by path; relative imports are joined onto the importer's folder.
struct Tree(Vec<(&'static str, &'static str)>);

impl ImportResolver for Tree {
    fn load(&self, importer: &str, import: &str) -> Result<Imported, String> {
        let path = if import.contains("://") {
            import.to_owned()
        } else {
            let dir = importer.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{dir}/{import}")
        };
        self.0.iter().find(|(n, _)| *n == path).map(|(n, t)| Imported::new(*n, *t)).ok_or_else(|| format!("no {path}"))
    }
}

#[test]
fn nfv_and_mec_versions_load_their_profile() {
    let nfv = "tosca_definitions_version: tosca_simple_profile_for_nfv_1_0_0\ntopology_template:\n  node_templates:\n    vdu:\n      type: tosca.nodes.nfv.VDU\n    vl:\n      type: tosca.nodes.nfv.VL\n      properties:\n        vendor: acme\n";
    let tpl = load(nfv, "/t/nfv.yaml", &Tree(vec![])).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tpl.version(), "tosca_simple_profile_for_nfv_1_0_0");
    let mec = "tosca_definitions_version: tosca_simple_profile_for_mec_1_0_0\ntopology_template:\n  node_templates:\n    mea:\n      type: tosca.nodes.mec.MEA\n      properties:\n        id: m1\n        vendor: acme\n        version: 1.0\n";
    load(mec, "/t/mec.yaml", &Tree(vec![])).unwrap_or_else(|e| panic!("{e}"));
    // The NFV types are not there for an OASIS version.
    let plain = nfv.replace("tosca_simple_profile_for_nfv_1_0_0", "tosca_simple_yaml_1_0");
    let e = load(&plain, "/t/plain.yaml", &Tree(vec![])).unwrap_err();
    assert!(e.find("E-UNKNOWN-TYPE").is_some(), "{e}");
}

const PROFILE: &str = "tosca_definitions_version: tosca_simple_yaml_1_3\nnamespace: org.acme:1.0\nimports:\n  - caps.yaml\nnode_types:\n  Server:\n    derived_from: tosca.nodes.Root\n    capabilities:\n      api:\n        type: Api\n";
const CAPS: &str = "tosca_definitions_version: tosca_simple_yaml_1_3\ncapability_types:\n  Api:\n    derived_from: tosca.capabilities.Root\n";

#[test]
fn profile_imported_by_namespace_from_a_folder_above() {
    let files =
        Tree(vec![("/w/profiles/org/acme/1.0/profile.yaml", PROFILE), ("/w/profiles/org/acme/1.0/caps.yaml", CAPS)]);
    // The prefix covers the profile's own imports too (acme:Api).
    let text = "tosca_definitions_version: tosca_simple_yaml_1_3\nimports:\n  - file: org.acme:1.0\n    namespace_prefix: acme\nnode_types:\n  Mine:\n    derived_from: acme:Server\n    capabilities:\n      other:\n        type: acme:Api\ntopology_template:\n  node_templates:\n    s:\n      type: Mine\n";
    load(text, "/w/services/one/s.yaml", &files).unwrap_or_else(|e| panic!("{e}"));
    let missing = text.replace("org.acme:1.0", "org.other:1.0");
    let e = load(&missing, "/w/services/one/s.yaml", &files).unwrap_err();
    let d = e.find("E-IMPORT").unwrap();
    assert!(d.message.contains("profiles/org/other/1.0/profile.yaml"), "{e}");
}

#[test]
fn import_through_a_repository() {
    let files = Tree(vec![("https://repo.example/types/t.yaml", CAPS)]);
    let head = "tosca_definitions_version: tosca_simple_yaml_1_3\nrepositories:\n  r1: https://repo.example/types\n  r2:\n    url: https://repo.example/types/\n";
    for repo in ["r1", "r2"] {
        let text = format!(
            "{head}imports:\n  - file: t.yaml\n    repository: {repo}\ncapability_types:\n  Mine:\n    derived_from: Api\n"
        );
        load(&text, "/m.yaml", &files).unwrap_or_else(|e| panic!("{repo}: {e}"));
    }
    let text = format!("{head}imports:\n  - file: t.yaml\n    repository: nowhere\n");
    let e = load(&text, "/m.yaml", &files).unwrap_err();
    let d = e.find("E-IMPORT").unwrap();
    assert_eq!((d.line, d.column), (8, 17));
    assert!(d.message.contains("repository \"nowhere\" is not defined"), "{e}");
}

#[test]
fn imported_substitution_mappings_are_checked() {
    let sub = "tosca_definitions_version: tosca_simple_yaml_1_0\nnode_types:\n  Sub:\n    derived_from: tosca.nodes.Root\n    properties:\n      port:\n        type: integer\ntopology_template:\n  substitution_mappings:\n    node_type: Sub\n";
    let files = Tree(vec![("/d/sub.yaml", sub)]);
    let text = "tosca_definitions_version: tosca_simple_yaml_1_0\nimports:\n  - sub.yaml\ntopology_template:\n  node_templates:\n    s:\n      type: Sub\n      properties:\n        port: 1\n";
    let e = load(text, "/d/main.yaml", &files).unwrap_err();
    let d = e.find("E-PROPERTY-REQUIRED").unwrap();
    assert_eq!(d.file, "/d/sub.yaml");
    assert!(d.message.contains("\"port\""), "{e}");
}
