//! `nuvola plan`: offline, against the demo federation of an empty data
//! directory: the ranked candidates, every rejection with its reason, and
//! an exit code that says whether anything fits.

mod common;

use common::{cli, cli_ok};

#[test]
fn plan_explains_every_provider_offline() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let out = cli_ok(cwd, &[], &["plan", "gpu-vm", "--group", "physics", "--param", "gpu_model=A100"]);
    assert!(out.contains("1. recas-bari"), "{out}");
    assert!(out.contains("cloudveneto: gpu_node: no flavor with GPU model A100 (has T4, V100)"), "{out}");

    let json: serde_json::Value =
        serde_json::from_str(&cli_ok(cwd, &[], &["plan", "single-vm", "--group", "bio", "--format", "json"])).unwrap();
    let verdicts = json["plan"]["verdicts"].as_array().unwrap();
    let no_sla: Vec<&str> = verdicts
        .iter()
        .filter(|v| v["reasons"][0] == "no SLA for group bio")
        .map(|v| v["provider"].as_str().unwrap())
        .collect();
    assert_eq!(no_sla, ["backbone-cnaf", "cloud-cnaf"], "{json:#}");

    // A secret (Kubernetes' admin token) changes nothing of a plan: it is
    // not asked for; a cluster's three servers are placed together.
    let k8s = cli_ok(cwd, &[], &["plan", "kubernetes", "--group", "physics", "--param", "workers=2"]);
    assert!(k8s.contains("1. "), "{k8s}");
    assert!(!k8s.contains("admin_token"), "{k8s}");

    // Nothing fits: the reasons, and exit status 1.
    let none = cli(cwd, &[], &["plan", "gpu-vm", "--group", "physics", "--param", "num_gpus=8"]);
    assert_eq!(none.status.code(), Some(1));
    let text = String::from_utf8_lossy(&none.stdout);
    assert!(text.starts_with("No cloud provider meets the deployment requirements"), "{text}");
    assert!(text.contains("no flavor with 8 GPUs"), "{text}");

    // A bad parameter names the input.
    let bad = cli(cwd, &[], &["plan", "gpu-vm", "--group", "physics", "--param", "gpu_model=H100"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("gpu_model"), "{bad:?}");
    assert!(!cwd.join("nuvola-data").exists(), "planning writes nothing");
}

/// A template file on the user's own disk may import the files beside it
/// (the server may not: its imports go through the import map only).
#[test]
fn a_local_template_plans_with_the_files_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::create_dir(cwd.join("mine")).unwrap();
    std::fs::write(
        cwd.join("mine/types.yaml"),
        "tosca_definitions_version: tosca_simple_yaml_1_3\nnode_types:\n  my.nodes.Box:\n    derived_from: tosca.nodes.Compute\n",
    )
    .unwrap();
    std::fs::write(
        cwd.join("mine/box.yaml"),
        "tosca_definitions_version: tosca_simple_yaml_1_3\nimports:\n  - types.yaml\ntopology_template:\n  node_templates:\n    box:\n      type: my.nodes.Box\n      capabilities:\n        host: { properties: { num_cpus: 1, mem_size: 1 GB } }\n",
    )
    .unwrap();
    let out = cli_ok(cwd, &[], &["plan", "mine/box.yaml", "--group", "physics"]);
    assert!(out.contains("1. "), "{out}");
}
