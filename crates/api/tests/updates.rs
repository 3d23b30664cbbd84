//! Updates change what they say they change: every input of every
//! catalogue entry is either applied on the simulated provider (checked
//! against what the site then holds: servers, their flavors, volume
//! sizes) or refused before anything changes, with a message naming it.
//! And an update that changes nothing is not refused for the quota the
//! deployment itself holds.

mod common;

use std::collections::BTreeMap;

use common::{Harness, catalogue_text, federation};
use nuvola_app::Settings;
use nuvola_drivers::Driver;
use nuvola_types::Flavor;
use serde_json::{Value, json};

/// What an update of one input does on the simulator.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Applied,
    Refused,
}

use Outcome::{Applied, Refused};

/// Per catalogue entry, per input: the value to update it to, and what
/// the update must do. Secrets get `"first"` values at deploy time
/// (`SECRETS`). A catalogue input missing here fails the test.
fn table() -> BTreeMap<&'static str, Vec<(&'static str, Value, Outcome)>> {
    let key = json!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGgmNWi8ccvLYzUYSfzTfnXf6JCZ3s0ULZ1Ejm0uzHHs a@b");
    BTreeMap::from([
        (
            "single-vm",
            vec![
                ("num_cpus", json!(4), Applied),
                ("mem_size", json!("8 GB"), Applied),
                ("os_distribution", json!("rocky"), Refused),
                ("os_version", json!("24.04"), Refused),
                ("ssh_public_key", key.clone(), Refused),
                ("ports", json!({"web": {"protocol": "tcp", "source": 80, "remote_cidr": "0.0.0.0/0"}}), Refused),
            ],
        ),
        (
            "vm-with-volume",
            vec![
                ("num_cpus", json!(4), Applied),
                ("mem_size", json!("8 GB"), Applied),
                ("os_distribution", json!("rocky"), Refused),
                ("os_version", json!("24.04"), Refused),
                ("ssh_public_key", key.clone(), Refused),
                ("volume_size", json!("40 GiB"), Applied),
                ("volume_type", json!("ssd"), Refused),
                ("mount_path", json!("/srv"), Refused),
            ],
        ),
        (
            "docker-compose",
            vec![
                ("compose_file_url", json!("https://example.org/compose.yaml"), Refused),
                ("service_port", json!(8080), Refused),
                ("allowed_cidr", json!("10.0.0.0/8"), Refused),
                ("num_cpus", json!(4), Applied),
                ("mem_size", json!("8 GB"), Applied),
            ],
        ),
        (
            "elasticsearch-kibana",
            vec![
                ("num_cpus", json!(8), Applied),
                ("mem_size", json!("12 GB"), Applied),
                ("data_size", json!("200 GB"), Applied),
                ("data_volume_type", json!("standard"), Refused),
                ("es_version", json!("8.14.3"), Refused),
                ("elastic_password", json!("a-second-password"), Refused),
                ("kibana_password", json!("a-second-password"), Refused),
                ("api_allowed_cidr", json!("192.168.0.0/16"), Refused),
            ],
        ),
        (
            "gpu-vm",
            vec![
                ("num_gpus", json!(2), Applied),
                ("gpu_model", json!("V100"), Applied),
                ("num_cpus", json!(16), Applied),
                ("mem_size", json!("48 GB"), Applied),
                ("disk_size", json!("110 GB"), Applied),
                ("ssh_public_key", key.clone(), Refused),
            ],
        ),
        (
            "htcondor-cluster",
            vec![
                ("execute_nodes", json!(3), Applied),
                ("manager_cpus", json!(4), Applied),
                ("manager_mem", json!("8 GB"), Applied),
                ("execute_cpus", json!(8), Applied),
                ("execute_mem", json!("16 GB"), Applied),
                ("slots", json!("static"), Refused),
                ("home_size", json!("200 GB"), Applied),
                ("home_volume_type", json!("ssd"), Refused),
                ("condor_version", json!("24.0"), Refused),
            ],
        ),
        (
            "jupyter-persistent",
            vec![
                ("num_cpus", json!(8), Applied),
                ("mem_size", json!("16 GB"), Applied),
                ("volume_size", json!("100 GB"), Applied),
                ("volume_type", json!("ssd"), Refused),
                ("notebooks_path", json!("/notebooks"), Refused),
                ("jupyter_port", json!(8888), Refused),
            ],
        ),
        (
            "kubernetes",
            vec![
                ("workers", json!(3), Applied),
                ("master_cpus", json!(4), Applied),
                ("master_mem", json!("8 GB"), Applied),
                ("worker_cpus", json!(8), Applied),
                ("worker_mem", json!("16 GB"), Applied),
                ("kubernetes_version", json!("1.30.1"), Refused),
                ("admin_token", json!("a-second-admin-token"), Refused),
                ("api_allowed_cidr", json!("10.0.0.0/8"), Refused),
            ],
        ),
        (
            "spark-jupyter",
            vec![
                ("workers", json!(3), Applied),
                ("master_cpus", json!(8), Applied),
                ("master_mem", json!("16 GB"), Applied),
                ("worker_cpus", json!(8), Applied),
                ("worker_mem", json!("32 GB"), Applied),
                ("spark_version", json!("3.4.3"), Refused),
                ("notebooks_size", json!("100 GB"), Applied),
            ],
        ),
    ])
}

/// Values for the secrets each entry needs to deploy.
const SECRETS: &[(&str, &str)] = &[
    ("elastic_password", "a-first-password"),
    ("kibana_password", "a-first-password"),
    ("admin_token", "a-first-admin-token"),
];

/// The test federation, with `alpha` also offering the bigger GPU and
/// memory flavors the GPU and Spark updates move to.
fn harness_federation() -> Vec<nuvola_types::ProviderSpec> {
    let mut providers = federation();
    let gpu = |name: &str, vcpus, ram_mb, gpus, model: &str| Flavor {
        name: name.into(),
        vcpus,
        ram_mb,
        disk_gb: 160,
        gpus,
        gpu_vendor: Some("NVIDIA".into()),
        gpu_model: Some(model.into()),
        infiniband: false,
    };
    let alpha = &mut providers[0];
    alpha.flavors.push(gpu("g2.large", 8, 32768, 2, "T4"));
    alpha.flavors.push(gpu("g2.v100", 8, 32768, 2, "V100"));
    alpha.flavors.push(gpu("g2.v100.xlarge", 16, 65536, 2, "V100"));
    alpha.flavors.push(Flavor {
        name: "m2.xlarge".into(),
        gpus: 0,
        gpu_vendor: None,
        gpu_model: None,
        ..gpu("", 8, 36864, 0, "")
    });
    for grant in alpha.groups.values_mut() {
        grant.quota.cores = Some(256);
        grant.quota.ram_mb = Some(1 << 20);
    }
    providers
}

async fn start() -> Harness {
    let settings = Settings { poll_interval: std::time::Duration::from_millis(20), ..Settings::default() };
    Harness::with(harness_federation(), settings).await
}

/// The id of the attempt a deployment runs on, from its native view (the
/// orchestrator's `physicalId` is a UUID made from it).
fn running_attempt(native: &Value) -> String {
    let attempts = native["attempts"].as_array().expect("attempts");
    let ready = attempts.iter().rev().find(|a| a["state"] == "ready").expect("a running attempt");
    ready["attemptId"].as_str().unwrap().to_string()
}

/// What the simulated site holds for deployment `d`, checked against
/// what the deployment asks for now: per node as many servers, each of
/// the flavor chosen, with volumes of the sizes asked.
async fn check_held(h: &Harness, d: &Value) {
    let id = d["uuid"].as_str().unwrap();
    let native = h.native(id).await;
    let provider = d["cloudProviderName"].as_str().unwrap();
    let attempt = running_attempt(&native);
    let held = h.app.federation().sims()[provider].footprint(&attempt).await.unwrap();
    let candidate = &native["plan"]["candidates"][0];
    for node in native["requirements"]["nodes"].as_array().unwrap() {
        let name = node["name"].as_str().unwrap();
        let placed = candidate["nodes"].as_array().unwrap().iter().find(|n| n["node"] == name).unwrap();
        let servers = &held[name];
        assert_eq!(servers.len() as u64, node["count"].as_u64().unwrap(), "{id} {name}: {held:?}");
        for server in servers {
            assert_eq!(server.flavor.as_deref(), placed["flavor"].as_str(), "{id} {name}: {held:?}");
            for volume in node["volumes"].as_array().into_iter().flatten() {
                let size = server.volumes.as_ref().unwrap()[volume["name"].as_str().unwrap()];
                assert_eq!(Some(size), volume["size_gb"].as_u64(), "{id} {name}: {held:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalogue_input_is_applied_or_refused_by_name() {
    let h = start().await;
    let alice = h.alice();
    let table = table();
    let catalogue = h.app.catalogue().clone();
    for entry in catalogue.entries() {
        let rows = table.get(entry.id.as_str()).unwrap_or_else(|| panic!("no update rows for catalogue {}", entry.id));
        for input in &entry.inputs {
            assert!(
                rows.iter().any(|(name, _, _)| *name == input.name),
                "input {} of {} is not classified: add what an update of it must do",
                input.name,
                entry.id
            );
        }
        let secrets: serde_json::Map<String, Value> = SECRETS
            .iter()
            .filter(|(name, _)| entry.inputs.iter().any(|i| i.name == *name))
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect();
        let body = json!({"template": catalogue_text(&entry.id), "parameters": secrets});
        let id = h.create(&alice, &body).await;
        let created = h.settle(&id, "CREATE_COMPLETE").await;
        assert_eq!(created["cloudProviderName"], "alpha");
        let url = format!("/orchestrator/deployments/{id}");
        for (input, value, outcome) in rows {
            let before = h.held_for(&id).await;
            let reply = h.put(&url, &alice, &json!({"parameters": {*input: value}})).await;
            match outcome {
                Applied => {
                    assert_eq!(reply.status, 202, "{} {input}: {}", entry.id, reply.text());
                    let d = h.settle(&id, "UPDATE_COMPLETE").await;
                    check_held(&h, &d).await;
                }
                Refused => {
                    assert_eq!(reply.status, 400, "{} {input}: {}", entry.id, reply.text());
                    let message = reply.error_message();
                    assert!(message.contains(&format!("input {input} ")), "{} {input}: {message}", entry.id);
                    assert_eq!(h.held_for(&id).await, before, "a refused update changes nothing");
                }
            }
        }
        h.delete(&url, &alice).await.expect(204);
        h.settle(&id, "DELETE_COMPLETE").await;
    }
    h.stop().await;
}

/// The example: Jupyter's CPUs and notebook volume. Growing both
/// ends with the server on the new flavor and the volume at the new size;
/// shrinking the volume is refused, naming `volume_size`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jupyter_gets_the_cpus_and_the_volume_it_asks_for() {
    let h = start().await;
    let alice = h.alice();
    let id = h.create(&alice, &json!({"template": catalogue_text("jupyter-persistent")})).await;
    h.settle(&id, "CREATE_COMPLETE").await;
    let url = format!("/orchestrator/deployments/{id}");
    let reply = h.put(&url, &alice, &json!({"parameters": {"num_cpus": 2, "volume_size": "10 GB"}})).await.expect(400);
    let message = reply.error_message();
    assert!(
        message.contains(
            "input volume_size resizes volume notebooks_volume of node jupyter_vm from 47 to 10 GB, which can only grow"
        ),
        "{message}"
    );
    h.put(&url, &alice, &json!({"parameters": {"num_cpus": 8, "volume_size": "100 GB"}})).await.expect(202);
    let d = h.settle(&id, "UPDATE_COMPLETE").await;
    let attempt = running_attempt(&h.native(d["uuid"].as_str().unwrap()).await);
    let held = h.app.federation().sims()["alpha"].footprint(&attempt).await.unwrap();
    assert_eq!(held["jupyter_vm"][0].flavor.as_deref(), Some("m1.xlarge"), "{held:?}");
    assert_eq!(held["jupyter_vm"][0].volumes, Some([("notebooks_volume".to_string(), 94)].into()), "{held:?}");
    let log = h.get(&format!("{url}/log"), &alice).await.expect(200).text();
    assert!(log.contains("node jupyter_vm from flavor m1.large to m1.xlarge"), "{log}");
    assert!(log.contains("volume notebooks_volume of node jupyter_vm from 47 to 94 GB"), "{log}");
    h.stop().await;
}

/// Item 9: a group whose quota the deployment uses exactly (its one
/// public IP) updates it with `parameters: {}`, as clients that send only
/// the inputs marked updatable do: the deployment's own IP is not counted
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_within_a_quota_the_deployment_fills_is_not_refused() {
    let mut providers = harness_federation();
    for p in &mut providers {
        if let Some(grant) = p.groups.get_mut("physics") {
            grant.quota.public_ips = Some(1);
        }
    }
    let settings = Settings { poll_interval: std::time::Duration::from_millis(20), ..Settings::default() };
    let h = Harness::with(providers, settings).await;
    let alice = h.alice();
    let id = h.create(&alice, &json!({"template": catalogue_text("single-vm"), "userGroup": "physics"})).await;
    let created = h.settle(&id, "CREATE_COMPLETE").await;
    let provider = created["cloudProviderName"].as_str().unwrap();
    let reported = h.app.federation().sims()[provider].project_quota("physics").await.unwrap().unwrap();
    assert_eq!((reported.used.public_ips, reported.limits.public_ips), (1, Some(1)), "the quota is exactly used");
    let url = format!("/orchestrator/deployments/{id}");
    let reply = h.put(&url, &alice, &json!({"parameters": {}})).await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    h.settle(&id, "UPDATE_COMPLETE").await;
    h.put(&url, &alice, &json!({"parameters": {"num_cpus": 4}})).await.expect(202);
    h.settle(&id, "UPDATE_COMPLETE").await;
    h.stop().await;
}
