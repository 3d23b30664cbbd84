//! Every built-in catalogue template loads with the builtin resolver,
//! deploys with no parameters, and yields the expected requirements and outputs.

use std::collections::BTreeMap;

use nuvola_tosca::{ServiceTemplate, builtin_resolver, load};
use nuvola_types::{NetworkKind, PlacementPolicy};
use serde_json::{Map, Value, json};

fn catalogue(name: &str) -> ServiceTemplate {
    let path = format!("{}/../../catalogue/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    match load(&text, &format!("{name}.yaml"), &builtin_resolver()) {
        Ok(t) => {
            let own: Vec<_> = t.warnings().iter().filter(|w| w.file.ends_with(&format!("{name}.yaml"))).collect();
            assert!(own.is_empty(), "{name}: warnings {own:?}");
            t
        }
        Err(e) => panic!("{name} does not load:\n{e}"),
    }
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn instance(public: &str, private: &str) -> Map<String, Value> {
    params(json!({"tosca_id": format!("id-{public}"), "public_address": public, "private_address": private}))
}

#[test]
fn every_entry_has_metadata_and_defaults() {
    let dir = format!("{}/../../catalogue", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let t = catalogue(&stem);
        for key in ["template_name", "display_name", "description", "category", "icon"] {
            assert!(t.metadata().get(key).is_some_and(|v| !v.is_empty()), "{stem}: metadata {key}");
        }
        assert_eq!(t.metadata()["template_name"], stem);
        for input in t.inputs().values() {
            assert!(input.description.is_some(), "{stem}: input {} has no description", input.name);
        }
        // Every input has a default but secrets, which the user must choose:
        // no entry ships a default password or token.
        let mut chosen = Map::new();
        for input in t.inputs().values().filter(|i| i.default.is_none()) {
            assert!(input.secret, "{stem}: input {} has no default", input.name);
            let text = std::fs::read_to_string(&path).unwrap();
            let after = text.split(&format!("\n    {}:\n", input.name)).nth(1).unwrap_or_default();
            let mut block = after.lines().take_while(|l| l.starts_with("      "));
            assert!(
                block.any(|l| l.trim() == "metadata: { secret: true }"),
                "{stem}: secret input {} is not declared with metadata secret: true",
                input.name
            );
            assert!(t.resolve_inputs(&Map::new()).is_err(), "{stem}: {} is required", input.name);
            chosen.insert(input.name.clone(), json!("a-long-enough-secret"));
        }
        let inputs = t.resolve_inputs(&chosen).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let req = t.requirements(&inputs).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert!(!req.nodes.is_empty(), "{stem}");
        assert!(t.output_names().count() > 0, "{stem}");
        n += 1;
    }
    assert!(n >= 9, "{n} entries");
}

#[test]
fn single_vm() {
    let t = catalogue("single-vm");
    let inputs = t.resolve_inputs(&Map::new()).unwrap();
    let req = t.requirements(&inputs).unwrap();
    let vm = &req.nodes[0];
    assert_eq!(vm.name, "vm");
    assert_eq!((vm.cpus, vm.mem_mb, vm.count), (Some(2), Some(3815), 1));
    assert_eq!(vm.image.distribution.as_deref(), Some("ubuntu"));
    assert_eq!(vm.image.version.as_deref(), Some("22.04"));
    assert_eq!(vm.network, NetworkKind::Public);
    assert_eq!(vm.ports.len(), 1);
    assert_eq!((vm.ports[0].port, vm.ports[0].remote_cidr.as_str()), (22, "0.0.0.0/0"));

    // API clients send strings; ports given as a parameter replace the default.
    let inputs = t
        .resolve_inputs(&params(json!({
            "num_cpus": "4",
            "mem_size": "8 GiB",
            "ports": {"web": {"protocol": "tcp", "source_range": [8000, 8010], "remote_cidr": "10.0.0.0/8"}}
        })))
        .unwrap();
    let vm = &t.requirements(&inputs).unwrap().nodes[0];
    assert_eq!((vm.cpus, vm.mem_mb), (Some(4), Some(8192)));
    assert_eq!((vm.ports[0].port, vm.ports[0].port_end, vm.ports[0].remote_cidr.as_str()), (8000, 8010, "10.0.0.0/8"));

    let attrs = BTreeMap::from([("vm".to_owned(), vec![instance("1.2.3.4", "10.0.0.4")])]);
    let out = t.evaluate_outputs(&inputs, &attrs);
    assert_eq!(out["node_ip"], json!("1.2.3.4"));
    assert_eq!(out["node_private_ip"], json!("10.0.0.4"));
    assert_eq!(out["ssh_command"], json!("ssh cloudadm@1.2.3.4"));
    // Before the VM exists, outputs are null.
    let out = t.evaluate_outputs(&inputs, &BTreeMap::new());
    assert_eq!(out["node_ip"], Value::Null);
    assert_eq!(out["ssh_command"], Value::Null);
}

#[test]
fn vm_with_volume() {
    let t = catalogue("vm-with-volume");
    let inputs = t.resolve_inputs(&params(json!({"volume_type": "ssd", "volume_size": "100 GB"}))).unwrap();
    let vm = &t.requirements(&inputs).unwrap().nodes[0];
    assert_eq!(vm.volumes.len(), 1);
    let v = &vm.volumes[0];
    assert_eq!(v.name, "data_volume");
    assert_eq!(v.size_gb, 94); // 100e9 bytes = 93.13 GiB, rounded up
    assert_eq!(v.volume_type.as_deref(), Some("ssd"));
    assert_eq!(v.mount_path.as_deref(), Some("/data"));
    let defaults = t.resolve_inputs(&Map::new()).unwrap();
    let vm = &t.requirements(&defaults).unwrap().nodes[0];
    assert_eq!((vm.volumes[0].size_gb, vm.volumes[0].volume_type.as_deref()), (20, Some("standard")));
    let e = t.resolve_inputs(&params(json!({"volume_type": "fast"}))).unwrap_err();
    assert_eq!(e.0[0].code, "E-CONSTRAINT");
    assert!(e.to_string().contains("\"fast\" is not one of"), "{e}");
}

#[test]
fn docker_compose() {
    let t = catalogue("docker-compose");
    let inputs = t.resolve_inputs(&params(json!({"service_port": "8080", "allowed_cidr": "192.168.0.0/16"}))).unwrap();
    let req = t.requirements(&inputs).unwrap();
    assert_eq!(req.nodes.len(), 1, "only the Compute is a node requirement");
    let host = &req.nodes[0];
    assert_eq!(host.name, "docker_host");
    assert_eq!(
        (host.ports[0].port, host.ports[0].protocol.as_str(), host.ports[0].remote_cidr.as_str()),
        (8080, "tcp", "192.168.0.0/16")
    );
    let attrs = BTreeMap::from([("docker_host".to_owned(), vec![instance("5.6.7.8", "10.0.0.8")])]);
    let out = t.evaluate_outputs(&inputs, &attrs);
    assert_eq!(out["service_url"], json!("http://5.6.7.8:8080"));
    assert!(t.resolve_inputs(&params(json!({"compose_file_url": "ftp://x"}))).is_err());
}

#[test]
fn jupyter_persistent() {
    let t = catalogue("jupyter-persistent");
    let inputs = t.resolve_inputs(&Map::new()).unwrap();
    let vm = &t.requirements(&inputs).unwrap().nodes[0];
    assert_eq!((vm.cpus, vm.mem_mb), (Some(4), Some(7630)));
    assert_eq!(vm.volumes[0].size_gb, 47);
    assert_eq!(vm.volumes[0].mount_path.as_deref(), Some("/jupyter"));
    assert_eq!(vm.ports.iter().map(|p| p.port).collect::<Vec<_>>(), vec![8000, 22]);
    let attrs = BTreeMap::from([("jupyter_vm".to_owned(), vec![instance("9.9.9.9", "10.0.0.9")])]);
    let out = t.evaluate_outputs(&inputs, &attrs);
    assert_eq!(out["jupyter_url"], json!("http://9.9.9.9:8000"));
}

#[test]
fn gpu_vm() {
    let t = catalogue("gpu-vm");
    let inputs = t.resolve_inputs(&params(json!({"num_gpus": 2, "gpu_model": "A100"}))).unwrap();
    let vm = &t.requirements(&inputs).unwrap().nodes[0];
    assert_eq!((vm.gpus, vm.gpu_vendor.as_deref(), vm.gpu_model.as_deref()), (2, Some("NVIDIA"), Some("A100")));
    assert_eq!(vm.disk_gb, Some(94));
    let e = t.resolve_inputs(&params(json!({"gpu_model": "K80"}))).unwrap_err();
    assert_eq!(e.0[0].code, "E-CONSTRAINT");
}

/// A cluster entry's node: name, count, vCPUs, network.
type NodeShape = (String, u32, Option<u32>, NetworkKind);

/// A cluster entry loaded with `chosen` inputs (the rest at their
/// defaults): the template, its inputs and the shape of its nodes.
fn cluster(name: &str, chosen: Value) -> (ServiceTemplate, Map<String, Value>, Vec<NodeShape>) {
    let t = catalogue(name);
    let inputs = t.resolve_inputs(&params(chosen)).unwrap();
    let req = t.requirements(&inputs).unwrap();
    let nodes = req.nodes.iter().map(|n| (n.name.clone(), n.count, n.cpus, n.network)).collect();
    (t, inputs, nodes)
}

#[test]
fn kubernetes() {
    let token = json!({"admin_token": "0123456789abcdef"});
    let (t, inputs, nodes) = cluster("kubernetes", token.clone());
    assert_eq!(
        nodes,
        [
            ("k8s_master_server".to_string(), 1, Some(2), NetworkKind::Public),
            ("k8s_worker_server".to_string(), 2, Some(4), NetworkKind::Private)
        ]
    );
    let req = t.requirements(&inputs).unwrap();
    let api = req.nodes[0].ports.iter().find(|p| p.port == 6443).unwrap();
    assert_eq!(api.remote_cidr, "0.0.0.0/0");
    // More workers, the API for one network only; a short token is refused.
    let mut more = params(token);
    more.insert("workers".into(), json!(5));
    more.insert("api_allowed_cidr".into(), json!("192.0.2.0/24"));
    let req = t.requirements(&t.resolve_inputs(&more).unwrap()).unwrap();
    assert_eq!(req.nodes[1].count, 5);
    assert_eq!(req.nodes[0].ports.iter().find(|p| p.port == 6443).unwrap().remote_cidr, "192.0.2.0/24");
    let e = t.resolve_inputs(&params(json!({"admin_token": "short"}))).unwrap_err();
    assert!(e.to_string().contains("admin_token"), "{e}");
    let attrs = BTreeMap::from([
        ("k8s_master_server".to_owned(), vec![instance("192.0.2.7", "10.1.0.2")]),
        ("k8s_worker_server".to_owned(), vec![instance("", "10.1.0.3"), instance("", "10.1.0.4")]),
    ]);
    let out = t.evaluate_outputs(&inputs, &attrs);
    assert_eq!(out["api_endpoint"], json!("https://192.0.2.7:6443"));
    assert_eq!(out["worker_ips"], json!(["10.1.0.3", "10.1.0.4"]));
}

#[test]
fn htcondor_cluster() {
    let (t, inputs, nodes) = cluster("htcondor-cluster", json!({}));
    assert_eq!(
        nodes,
        [
            ("condor_manager_server".to_string(), 1, Some(2), NetworkKind::Public),
            ("condor_execute_server".to_string(), 2, Some(4), NetworkKind::Private)
        ]
    );
    let req = t.requirements(&inputs).unwrap();
    let home = &req.nodes[0].volumes[0];
    assert_eq!((home.size_gb, home.mount_path.as_deref()), (94, Some("/home")));
    assert_eq!(req.nodes[0].ports.iter().map(|p| p.port).collect::<Vec<_>>(), [22, 9618]);
    let e = t.resolve_inputs(&params(json!({"slots": "dynamic"}))).unwrap_err();
    assert_eq!(e.0[0].code, "E-CONSTRAINT");
    let attrs = BTreeMap::from([("condor_manager_server".to_owned(), vec![instance("192.0.2.9", "10.2.0.2")])]);
    assert_eq!(t.evaluate_outputs(&inputs, &attrs)["collector"], json!("192.0.2.9:9618"));
}

#[test]
fn spark_jupyter() {
    let (t, inputs, nodes) = cluster("spark-jupyter", json!({"workers": 3}));
    assert_eq!(
        nodes,
        [
            ("master_server".to_string(), 1, Some(4), NetworkKind::Public),
            ("worker_server".to_string(), 3, Some(4), NetworkKind::Private)
        ]
    );
    let req = t.requirements(&inputs).unwrap();
    assert_eq!(req.nodes[0].volumes[0].mount_path.as_deref(), Some("/jupyter"));
    let attrs = BTreeMap::from([("master_server".to_owned(), vec![instance("192.0.2.5", "10.3.0.2")])]);
    let out = t.evaluate_outputs(&inputs, &attrs);
    assert_eq!(out["jupyter_url"], json!("http://192.0.2.5:8000"));
    assert_eq!(out["spark_master_url"], json!("spark://10.3.0.2:7077"));
}

#[test]
fn elasticsearch_kibana() {
    let secrets = json!({"elastic_password": "correct horse battery", "kibana_password": "staple staple staple"});
    let (t, inputs, nodes) = cluster("elasticsearch-kibana", secrets);
    assert_eq!(nodes, [("elastic_server".to_string(), 1, Some(4), NetworkKind::Public)]);
    let vm = &t.requirements(&inputs).unwrap().nodes[0];
    assert_eq!(
        (vm.volumes[0].volume_type.as_deref(), vm.volumes[0].mount_path.as_deref()),
        (Some("ssd"), Some("/var/lib/elasticsearch"))
    );
    let api = vm.ports.iter().find(|p| p.port == 9200).unwrap();
    assert_eq!(api.remote_cidr, "10.0.0.0/8", "the API is not public by default");
    let e = t.resolve_inputs(&params(json!({"elastic_password": "short", "kibana_password": "staple staple staple"})));
    assert!(e.unwrap_err().to_string().contains("elastic_password"));
}

#[test]
fn policies_and_counts() {
    let text = r#"
tosca_definitions_version: tosca_simple_yaml_1_0
imports:
  - https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml
topology_template:
  inputs:
    n: { type: integer, default: 3 }
  node_templates:
    wn:
      type: tosca.nodes.indigo.Compute
      capabilities:
        scalable: { properties: { count: { get_input: n } } }
        endpoint: { properties: { network_name: vpc-1.subnet-2.PRIVATE } }
  outputs:
    ips: { value: { get_attribute: [ wn, private_address ] } }
    second: { value: { get_attribute: [ wn, private_address, 1 ] } }
    ids: { value: { get_attribute: [ wn, tosca_id ] } }
    joined: { value: { join: [ [ a, { get_input: n } ], "-" ] } }
    tok: { value: { token: [ "a.b.c", ".", 1 ] } }
  policies:
    - sla: { type: tosca.policies.indigo.SlaPlacement, properties: { sla_id: sla-42 } }
    - pin: { type: tosca.policies.indigo.Placement, properties: { cloud_id: backbone-bari }, targets: [ wn ] }
"#;
    let t = load(text, "p.yaml", &builtin_resolver()).unwrap();
    let inputs = t.resolve_inputs(&Map::new()).unwrap();
    let req = t.requirements(&inputs).unwrap();
    assert_eq!(req.nodes[0].count, 3);
    assert_eq!(req.nodes[0].network, NetworkKind::Private);
    assert_eq!(
        req.policies,
        vec![
            PlacementPolicy::Sla { sla_id: "sla-42".into() },
            PlacementPolicy::Provider { provider: "backbone-bari".into() }
        ]
    );
    let attrs = BTreeMap::from([(
        "wn".to_owned(),
        vec![instance("", "10.0.0.1"), instance("", "10.0.0.2"), instance("", "10.0.0.3")],
    )]);
    let out = t.evaluate_outputs(&inputs, &attrs);
    assert_eq!(out["ips"], json!(["10.0.0.1", "10.0.0.2", "10.0.0.3"]));
    assert_eq!(out["second"], json!("10.0.0.2"));
    assert_eq!(out["ids"].as_array().unwrap().len(), 3);
    assert_eq!(out["joined"], json!("a-3"));
    assert_eq!(out["tok"], json!("b"));
}

#[test]
fn secret_inputs_are_declared_or_told_by_name() {
    let text = r#"
tosca_definitions_version: tosca_simple_yaml_1_3
topology_template:
  inputs:
    api_key:
      type: string
      metadata: { secret: true }
    db_credentials:
      type: map
      entry_schema: { type: string }
      metadata:
        secret: "True"
    admin_password:
      type: string
      metadata: { secret: false }
    flavour:
      type: string
      metadata: { secret: maybe }
  node_templates:
    vm:
      type: tosca.nodes.Compute
"#;
    let t = load(text, "t.yaml", &builtin_resolver()).unwrap();
    let secret = |name: &str| t.inputs()[name].secret;
    assert!(secret("api_key") && secret("db_credentials"), "declared secrets");
    assert!(secret("admin_password"), "a name that says secret stays secret: the marker adds, never removes");
    assert!(!secret("flavour"));
}

#[test]
fn a_secret_value_is_never_echoed_by_a_constraint() {
    let text = r#"
tosca_definitions_version: tosca_simple_yaml_1_3
topology_template:
  inputs:
    admin_token:
      type: string
      constraints:
        - pattern: 'x'
    vault:
      type: map
      entry_schema: { type: integer }
      metadata: { secret: true }
    size:
      type: string
      constraints:
        - pattern: 'x'
  node_templates:
    vm:
      type: tosca.nodes.Compute
"#;
    let t = load(text, "t.yaml", &builtin_resolver()).unwrap();
    let given = params(json!({"admin_token": "the-owners-token", "vault": {"k": "open-sesame"}, "size": "big"}));
    let message = t.resolve_inputs(&given).unwrap_err().to_string();
    assert!(!message.contains("the-owners-token") && !message.contains("open-sesame"), "{message}");
    assert!(message.contains("input \"admin_token\"") && message.contains("input \"vault\""), "{message}");
    assert!(message.contains("\"big\""), "other values are still shown: {message}");
}
