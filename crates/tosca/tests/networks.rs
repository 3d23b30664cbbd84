//! Networks as INDIGO templates describe them: Network and Port nodes bound
//! to Compute nodes (or the older `endpoint.network_name`), read into each
//! node's network kind and public IP need; and the outputs an orchestrator
//! fills from the instances (addresses, the endpoint's credential, the
//! `os_users` property).

use std::collections::BTreeMap;

use nuvola_tosca::{InstanceAttributes, ServiceTemplate, builtin_resolver, load};
use nuvola_types::NetworkKind;
use serde_json::{Map, Value, json};

fn corpus(path: &str) -> ServiceTemplate {
    let full = format!("{}/tests/corpus/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap();
    load(&text, path, &builtin_resolver()).unwrap_or_else(|e| panic!("{path} does not load:\n{e}"))
}

fn template(text: &str) -> ServiceTemplate {
    load(text, "t.yaml", &builtin_resolver()).unwrap_or_else(|e| panic!("does not load:\n{e}"))
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Each Compute node's (name, network, public IP needed).
fn networks(t: &ServiceTemplate, inputs: Value) -> Vec<(String, NetworkKind, bool)> {
    let inputs = t.resolve_inputs(&params(inputs)).unwrap();
    let req = t.requirements(&inputs).unwrap();
    req.nodes.iter().map(|n| (n.name.clone(), n.network, n.needs_public_ip())).collect()
}

fn node(name: &str, network: NetworkKind, public: bool) -> (String, NetworkKind, bool) {
    (name.to_owned(), network, public)
}

#[test]
fn slurm_cluster_front_end_is_public_and_workers_private() {
    let t = corpus("indigo-dc-tosca-templates/slurm_cluster.yaml");
    assert_eq!(
        networks(&t, json!({})),
        [node("fe_server", NetworkKind::Public, true), node("wn_server", NetworkKind::Private, false)]
    );
    // network_type is a get_input: isolated puts both on the deployment's
    // own network, and the front end keeps its public IP there.
    let req = t.requirements(&t.resolve_inputs(&params(json!({"network_type": "isolated"}))).unwrap()).unwrap();
    let fe = &req.nodes[0];
    assert_eq!((fe.network, fe.public_ip, fe.needs_public_ip()), (NetworkKind::Isolated, true, true));
    let wn = &req.nodes[1];
    assert_eq!((wn.network, wn.needs_public_ip()), (NetworkKind::Isolated, false));
}

const PORTS: &str = r#"
tosca_definitions_version: tosca_simple_yaml_1_0
imports:
  - indigo_custom_types: https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml
topology_template:
  inputs:
    kind: { type: string, default: public }
  node_templates:
    outside:
      type: tosca.nodes.indigo.network.Network
      properties: { network_type: { get_input: kind } }
    own:
      type: tosca.nodes.network.Network
      properties: { network_type: private, cidr: 192.168.10.0/24 }
    site:
      type: tosca.nodes.network.Network
      properties: { network_type: vlan, network_name: tenant-net }
    a_port:
      type: tosca.nodes.indigo.network.Port
      properties: { order: 1 }
      requirements:
        - binding: { node: a }
        - link: outside
    b_port:
      type: tosca.nodes.network.Port
      requirements:
        - binding: b
        - link: site
    c_pub:
      type: tosca.nodes.network.Port
      requirements:
        - binding: c
        - link: outside
    c_own:
      type: tosca.nodes.network.Port
      requirements:
        - binding: c
        - link: own
    a:
      type: tosca.nodes.indigo.Compute
      capabilities:
        endpoint: { properties: { network_name: PRIVATE } }
    b:
      type: tosca.nodes.indigo.Compute
      capabilities:
        endpoint: { properties: { network_name: PUBLIC } }
    c:
      type: tosca.nodes.indigo.Compute
    d:
      type: tosca.nodes.indigo.Compute
      capabilities:
        endpoint: { properties: { network_name: PUBLIC } }
"#;

#[test]
fn ports_win_over_the_endpoint_network_name() {
    let t = template(PORTS);
    assert_eq!(
        networks(&t, json!({})),
        [
            // A Port to a public network (long-form binding), whatever the
            // endpoint says.
            node("a", NetworkKind::Public, true),
            // A Port to a site network of another type: private, though
            // the endpoint says PUBLIC.
            node("b", NetworkKind::Private, false),
            // A public network and one with a cidr of its own, created for
            // the deployment (as IM creates it).
            node("c", NetworkKind::Isolated, true),
            // No Port: the endpoint decides.
            node("d", NetworkKind::Public, true),
        ]
    );
    // The input turns the linked network private.
    assert_eq!(
        networks(&t, json!({"kind": "private"}))[..3],
        [
            node("a", NetworkKind::Private, false),
            node("b", NetworkKind::Private, false),
            node("c", NetworkKind::Isolated, false)
        ]
    );
}

#[test]
fn the_requirements_of_a_public_node_read_as_before() {
    // Stored requirements written before `public_ip` existed still say a
    // public node needs a public IP, and new ones write it only when the
    // network alone does not say so.
    let old: nuvola_types::ComputeRequirement =
        serde_json::from_value(json!({"name": "vm", "count": 1, "network": "public"})).unwrap();
    assert!(old.needs_public_ip() && !old.public_ip);
    let t = template(PORTS);
    let req = t.requirements(&t.resolve_inputs(&Map::new()).unwrap()).unwrap();
    let written = serde_json::to_value(&req.nodes[0]).unwrap();
    assert!(written.get("public_ip").is_none(), "{written}");
    assert_eq!(serde_json::to_value(&req.nodes[2]).unwrap()["public_ip"], true);
}

#[test]
fn a_public_network_example_of_the_indigo_types() {
    // The INDIGO types' hybrid cluster example: a public Port and one on a
    // network with its own cidr, for the front end; workers on that one.
    let t = corpus("indigo-dc-tosca-types/examples/hybrid_elastic_cluster_vr_l2.yaml");
    let shapes = networks(&t, json!({}));
    assert_eq!(
        shapes,
        [node("lrms_server", NetworkKind::Isolated, true), node("lrms_wn", NetworkKind::Isolated, false)]
    );
}

fn instance(id: &str, private: &str, public: Option<&str>, credential: Option<Value>) -> Map<String, Value> {
    let mut m = params(json!({"tosca_id": id, "private_address": private}));
    if let Some(p) = public {
        m.insert("public_address".into(), json!(p));
    }
    if let Some(c) = credential {
        m.insert("endpoint".into(), json!({ "credential": c }));
    }
    m
}

#[test]
fn slurm_outputs_are_filled_as_im_fills_them() {
    let t = corpus("indigo-dc-tosca-templates/slurm_cluster.yaml");
    let inputs = t.resolve_inputs(&params(json!({"wn_num": 2}))).unwrap();
    let login = json!({"user": "cloudadm"});
    let attrs: InstanceAttributes = BTreeMap::from([
        ("fe_server".to_owned(), vec![instance("fe-0", "10.0.0.2", Some("203.0.113.7"), Some(login.clone()))]),
        (
            "wn_server".to_owned(),
            vec![instance("wn-0", "10.0.0.3", None, None), instance("wn-1", "10.0.0.4", None, None)],
        ),
    ]);
    let out = t.evaluate_outputs(&inputs, &attrs);
    assert_eq!(out["cluster_ip"], json!("203.0.113.7"));
    assert_eq!(out["cluster_creds"], login);
    assert_eq!(out["wn_ips"], json!(["10.0.0.3", "10.0.0.4"]));
    // Before the servers exist, nothing is known.
    let out = t.evaluate_outputs(&inputs, &BTreeMap::new());
    assert_eq!((&out["cluster_ip"], &out["cluster_creds"], &out["wn_ips"]), (&Value::Null, &Value::Null, &Value::Null));
}

#[test]
fn credentials_addresses_and_os_users_in_every_form() {
    let t = template(
        r#"
tosca_definitions_version: tosca_simple_yaml_1_0
imports:
  - indigo_custom_types: https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml
topology_template:
  inputs:
    users:
      type: list
      entry_schema: { type: tosca.datatypes.indigo.User }
      default: [ { os_user_name: alice, os_user_add_to_sudoers: true } ]
  node_templates:
    app:
      type: tosca.nodes.SoftwareComponent
      requirements:
        - host: vm
    vm:
      type: tosca.nodes.indigo.Compute
      properties:
        os_users: { get_input: users }
      capabilities:
        scalable: { properties: { count: 2 } }
  outputs:
    creds: { value: { get_attribute: [ vm, endpoint, credential ] } }
    first_creds: { value: { get_attribute: [ vm, endpoint, credential, 0 ] } }
    first_user: { value: { get_attribute: [ vm, endpoint, credential, 0, user ] } }
    public: { value: { get_attribute: [ vm, public_address ] } }
    second_private: { value: { get_attribute: [ vm, private_address, 1 ] } }
    via_host: { value: { get_attribute: [ app, private_address, 0 ] } }
    users_property: { value: { get_property: [ vm, os_users, 0, os_user_name ] } }
    users_attribute: { value: { get_attribute: [ vm, os_users, 0, os_user_name ] } }
    all_users: { value: { get_attribute: [ vm, os_users ] } }
"#,
    );
    let inputs = t.resolve_inputs(&Map::new()).unwrap();
    let key = json!({"user": "cloudadm", "token_type": "private_key", "token": "-----BEGIN..."});
    let attrs: InstanceAttributes = BTreeMap::from([(
        "vm".to_owned(),
        vec![
            instance("vm-0", "10.0.0.5", Some("203.0.113.5"), Some(key.clone())),
            instance("vm-1", "10.0.0.6", Some("203.0.113.6"), Some(json!({"user": "cloudadm"}))),
        ],
    )]);
    let out = t.evaluate_outputs(&inputs, &attrs);
    assert_eq!(out["creds"], json!([key, {"user": "cloudadm"}]));
    assert_eq!(out["first_creds"], key);
    assert_eq!(out["first_user"], json!("cloudadm"));
    assert_eq!(out["public"], json!(["203.0.113.5", "203.0.113.6"]));
    assert_eq!(out["second_private"], json!("10.0.0.6"));
    assert_eq!(out["via_host"], json!("10.0.0.5"));
    assert_eq!(out["users_property"], json!("alice"));
    assert_eq!(out["users_attribute"], json!("alice"));
    assert_eq!(out["all_users"], json!([{"os_user_name": "alice", "os_user_add_to_sudoers": true}]));
    // One instance: an unindexed credential is still a list, as IM gives it.
    let one: InstanceAttributes =
        BTreeMap::from([("vm".to_owned(), vec![instance("vm-0", "10.0.0.5", None, Some(key.clone()))])]);
    assert_eq!(t.evaluate_outputs(&inputs, &one)["creds"], json!([key]));
}
