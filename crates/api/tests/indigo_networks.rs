//! An INDIGO template that describes its networks with Network and Port
//! nodes (`slurm_cluster.yaml` of indigo-dc/tosca-templates, unchanged,
//! from the in-repo corpus) deployed through the orchestrator API on the
//! simulator: the front end, bound by a Port to a public network, gets a
//! floating IP and the workers do not; the outputs read the addresses
//! (and the login: the account the template's key was set up for, or,
//! when it gives none, the key pair nuvola made for `cloudadm`, as IM
//! does) as the orchestrator shows them; deleting leaves nothing.
//!
//! The simulated builds and deletes take an hour of the simulator's own
//! clock, which the test moves: the deployment cannot complete before the
//! test lets it.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{Harness, SETTLE, federation};
use nuvola_app::Settings;
use nuvola_drivers::{AttemptState, Driver};
use nuvola_types::Image;
use serde_json::{Value, json};

const HOUR: Duration = Duration::from_secs(3600);

fn slurm_cluster() -> String {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../tosca/tests/corpus/indigo-dc-tosca-templates/slurm_cluster.yaml");
    std::fs::read_to_string(path).expect("the corpus copy of slurm_cluster.yaml")
}

/// The test federation with the template's Ubuntu 16.04 image, where
/// builds and deletes take an hour of simulated time.
async fn start() -> Harness {
    let providers = federation()
        .into_iter()
        .map(|mut p| {
            p.images.push(Image {
                name: "ubuntu-16.04".into(),
                os_type: "linux".into(),
                distribution: "ubuntu".into(),
                version: "16.04".into(),
                cuda: None,
                gpu_driver: None,
            });
            let settings = p.settings.as_mut().and_then(Value::as_object_mut).expect("sim settings");
            settings.insert("create_latency_ms".into(), json!(HOUR.as_millis() as u64));
            settings.insert("delete_latency_ms".into(), json!(HOUR.as_millis() as u64));
            p
        })
        .collect();
    Harness::with(providers, Settings { poll_interval: Duration::from_millis(20), ..Settings::default() }).await
}

/// Waits until deployment `id` satisfies `done` (its workflow runs on the
/// harness's workers).
async fn wait_until(h: &Harness, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SETTLE;
    loop {
        let d = h.deployment(id).await;
        if done(&d) {
            return d;
        }
        assert!(Instant::now() < deadline, "deployment {id}: not {what} in {SETTLE:?}: {d:#}");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

fn advance_clocks(h: &Harness) {
    for sim in h.app.federation().sims().values() {
        sim.advance_clock(HOUR);
    }
}

/// Creates a deployment and drives it to CREATE_COMPLETE on the
/// simulator's clock.
async fn deploy(h: &Harness, body: Value) -> Value {
    let id = h.create(&h.alice(), &body).await;
    let building =
        wait_until(h, &id, "building", |d| d["statusReason"].as_str().is_some_and(|r| r.contains("servers ACTIVE")))
            .await;
    assert_eq!(building["status"], "CREATE_IN_PROGRESS", "{building:#}");
    assert_eq!(building["outputs"], json!({}), "no outputs before the servers exist: {building:#}");
    advance_clocks(h);
    h.settle(&id, "CREATE_COMPLETE").await
}

async fn delete(h: &Harness, id: &str) {
    h.delete(&format!("/orchestrator/deployments/{id}"), &h.alice()).await.expect(204);
    wait_until(h, id, "deleting", |d| d["statusReason"].as_str().is_some_and(|r| r.contains("deleting"))).await;
    advance_clocks(h);
    h.settle(id, "DELETE_COMPLETE").await;
    assert!(h.held_for(id).await.is_empty(), "{:#?}", h.held_for(id).await);
}

fn in_net(address: &Value, net: [u8; 4], bits: u32) -> bool {
    let Some(a) = address.as_str().and_then(|a| a.parse::<Ipv4Addr>().ok()) else { return false };
    let mask = u32::MAX << (32 - bits);
    u32::from(a) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// The floating IPs a provider holds for the deployment, by node.
async fn floating_ips(h: &Harness, id: &str) -> Vec<String> {
    let held = h.held_for(id).await;
    let mut nodes: Vec<String> = held
        .values()
        .flatten()
        .filter(|r| r["kind"] == "floating_ip")
        .map(|r| r["node"].as_str().unwrap_or_default().to_string())
        .collect();
    nodes.sort();
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_cluster_front_end_gets_a_floating_ip_and_the_outputs_are_filled() {
    let h = start().await;
    let done = deploy(&h, json!({"template": slurm_cluster(), "parameters": {"wn_num": 2}})).await;
    let id = done["uuid"].as_str().unwrap().to_string();
    assert_eq!(done["cloudProviderName"], "alpha", "{done:#}");
    let outputs = &done["outputs"];
    // alpha's public pool is 203.0.113.0/27, its private network 10.0.0.0/16.
    assert!(in_net(&outputs["cluster_ip"], [203, 0, 113, 0], 27), "{outputs:#}");
    let workers = outputs["wn_ips"].as_array().expect("a list of worker addresses");
    assert_eq!(workers.len(), 2, "{outputs:#}");
    assert!(workers.iter().all(|a| in_net(a, [10, 0, 0, 0], 16)), "{outputs:#}");
    assert_eq!(floating_ips(&h, &id).await, ["fe_server"]);

    // The address in the outputs is the one the provider holds.
    let native = h.native(&id).await;
    let attempt = native["attempts"].as_array().unwrap().iter().rev().find(|a| a["state"] == "ready").unwrap();
    let attempt = attempt["attemptId"].as_str().unwrap();
    let state = h.app.federation().sims()["alpha"].status(attempt).await.unwrap();
    let AttemptState::Ready { nodes } = state else { panic!("{state:?}") };
    assert_eq!(outputs["cluster_ip"], json!(nodes["fe_server"][0].public_address));
    assert!(nodes["wn_server"].iter().all(|w| w.public_address.is_none()), "{nodes:?}");

    // The template gives no SSH key: as IM does, nuvola made a key pair
    // for cloudadm, set up on every server, and reports its private key.
    let creds = &outputs["cluster_creds"];
    assert_eq!((&creds["user"], &creds["token_type"]), (&json!("cloudadm"), &json!("private_key")), "{outputs:#}");
    let token = creds["token"].as_str().expect("a private key");
    assert!(token.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"), "{token}");
    let set_up = h.app.federation().sims()["alpha"].login_keys(attempt);
    assert_eq!(set_up.len(), 3, "the front end and both workers: {set_up:?}");
    let public = set_up.values().next().unwrap();
    assert!(set_up.values().all(|k| k == public) && public.starts_with("ssh-ed25519 AAAA"), "{set_up:?}");
    if let Some(half) = nuvola_drivers::testing::ssh_keygen_public(token) {
        assert_eq!(&half, public, "the reported key opens the servers");
    }
    delete(&h, &id).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_isolated_network_the_front_end_stays_public_and_its_key_account_is_reported() {
    let h = start().await;
    // What a user adds to log in with their own key: os.credential.
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGgmNWi8ccvLYzUYSfzTfnXf6JCZ3s0ULZ1Ejm0uzHHs alice@nuvola";
    let template = slurm_cluster().replacen(
        "              version: 16.04\n",
        &format!(
            "              version: 16.04\n              credential: {{ token_type: public_key, token: \"{key}\" }}\n"
        ),
        1,
    );
    assert_ne!(template, slurm_cluster());
    let body = json!({"template": template, "parameters": {"network_type": "isolated"}});
    let done = deploy(&h, body).await;
    let id = done["uuid"].as_str().unwrap().to_string();
    let outputs = &done["outputs"];
    assert!(in_net(&outputs["cluster_ip"], [203, 0, 113, 0], 27), "{outputs:#}");
    // The deployment's own network (the simulator's 192.168.0.0/16).
    assert!(in_net(&outputs["wn_ips"][0], [192, 168, 0, 0], 16), "{outputs:#}");
    // The account IM would make for that key, as IM reports it.
    assert_eq!(outputs["cluster_creds"], json!({"user": "cloudadm"}), "{outputs:#}");
    assert_eq!(floating_ips(&h, &id).await, ["fe_server"]);
    delete(&h, &id).await;
    h.stop().await;
}
