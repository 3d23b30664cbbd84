//! The IM driver against a real Infrastructure Manager (PyPI `im`, its
//! Dummy connector), started by `.ci/cloud.sh`, which exports
//! `NUVOLA_TEST_IM_URL`. Without it the tests skip, saying why; under
//! `CI=true` they fail instead.
//!
//! Every test uses its own IM user (IM keys infrastructures by user name
//! and password), so tests never see each other's infrastructures.

use std::time::{Duration, Instant};

use nuvola_drivers::im::{ImDriver, ImSettings};
use nuvola_drivers::{AttemptState, DeleteState, Driver, DriverError, ProvisionRequest, ResourceKind};
use nuvola_types::ProviderSpec;

fn im_url() -> Option<String> {
    match std::env::var("NUVOLA_TEST_IM_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("NUVOLA_TEST_IM_URL is not set under CI=true: source .ci/cloud.sh first")
        }
        _ => {
            eprintln!("skipped: NUVOLA_TEST_IM_URL is not set (source .ci/cloud.sh to start IM)");
            None
        }
    }
}

const TEMPLATE: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0
metadata:
  template_name: one VM
topology_template:
  inputs:
    cpus:
      type: integer
      default: 1
  node_templates:
    vm:
      type: tosca.nodes.Compute
      capabilities:
        endpoint:
          properties:
            network_name: PUBLIC
            ports:
              ssh:
                protocol: tcp
                source: 22
        host:
          properties:
            num_cpus: { get_input: cpus }
            mem_size: 1 GB
        os:
          properties:
            type: linux
            distribution: ubuntu
  outputs:
    node_ip:
      value: { get_attribute: [ vm, public_address ] }
"#;

fn spec(url: &str, name: &str) -> ProviderSpec {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "driver": "im",
        "endpoint": url,
    }))
    .unwrap()
}

fn settings(user: &str, credentials: &[&str]) -> ImSettings {
    ImSettings {
        username: Some(user.into()),
        password: Some("test-password".into()),
        credentials: credentials.iter().map(|s| s.to_string()).collect(),
        quota_cloud: Some("dummy".into()),
        ..ImSettings::default()
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn request(attempt: &str, template: &str) -> ProvisionRequest {
    let mut inputs = serde_json::Map::new();
    inputs.insert("cpus".into(), serde_json::json!(2));
    ProvisionRequest {
        deployment_id: format!("dep-{attempt}"),
        attempt_id: attempt.into(),
        project: "physics".into(),
        nodes: Vec::new(),
        template: Some(template.into()),
        inputs,
    }
}

const DUMMY: &str = "id = dummy; type = Dummy";

async fn wait_settled(driver: &ImDriver, attempt: &str) -> AttemptState {
    let start = Instant::now();
    loop {
        let state = driver.status(attempt).await.unwrap();
        if !matches!(state, AttemptState::Building { .. }) || start.elapsed() > Duration::from_secs(60) {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_gone(driver: &ImDriver, attempt: &str) {
    let start = Instant::now();
    while driver.delete(attempt).await.unwrap() != DeleteState::Gone {
        assert!(start.elapsed() < Duration::from_secs(60), "delete of {attempt} did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Infrastructures IM holds for the driver's user, read straight from IM.
async fn infras(driver: &ImDriver) -> Vec<String> {
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/infrastructures", driver.base_url()))
        .header("Authorization", driver.auth_header())
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["uri-list"].as_array().unwrap().iter().map(|u| u["uri"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn creates_polls_and_deletes_an_infrastructure() {
    let Some(url) = im_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let driver = ImDriver::open(&spec(&url, "im-a"), settings(&unique("user"), &[DUMMY]), Some(dir.path())).unwrap();
    let attempt = unique("att");
    let req = request(&attempt, TEMPLATE);
    driver.create(&req).await.unwrap();
    driver.create(&req).await.unwrap(); // replayed: continues, creates nothing
    assert_eq!(infras(&driver).await.len(), 1);

    let AttemptState::Ready { nodes } = wait_settled(&driver, &attempt).await else {
        panic!("not ready: {:?}", driver.status(&attempt).await)
    };
    let vm = &nodes["vm"];
    assert_eq!(vm.len(), 1);
    assert_eq!(vm[0].private_address, "10.0.0.1", "the Dummy connector's address");

    // The input reached IM as the input's default.
    let tosca: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/{}", infras(&driver).await[0], "tosca"))
        .header("Authorization", driver.auth_header())
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tosca = tosca["tosca"].as_str().unwrap();
    assert!(tosca.contains("default: 2"), "{tosca}");
    assert!(tosca.contains(&attempt), "{tosca}");

    let resources = driver.resources(&attempt).await.unwrap();
    assert_eq!(resources.len(), 1);
    assert_eq!(resources[0].kind, ResourceKind::Server);
    assert_eq!(resources[0].deployment_id, req.deployment_id);
    let inventory = driver.inventory().await.unwrap();
    assert_eq!(inventory.len(), 1);
    assert_eq!(inventory[0].attempt_id, attempt);

    let quota = driver.project_quota("physics").await.unwrap().unwrap();
    assert_eq!(quota.limits.cores, Some(10), "the Dummy connector's quota");

    wait_gone(&driver, &attempt).await;
    assert!(infras(&driver).await.is_empty());
    assert_eq!(driver.status(&attempt).await.unwrap(), AttemptState::Absent);
    assert_eq!(driver.delete(&attempt).await.unwrap(), DeleteState::Gone);
}

/// A crash after IM created the infrastructure but before its id was
/// journaled: a new driver (empty journal) finds it by its TOSCA marker,
/// does not create a second one, and deletes it.
#[tokio::test]
async fn a_crash_between_create_and_journal_leaks_nothing() {
    let Some(url) = im_url() else { return };
    let user = unique("user");
    let attempt = unique("att");
    let req = request(&attempt, TEMPLATE);
    let first_dir = tempfile::tempdir().unwrap();
    let first = ImDriver::open(&spec(&url, "im-b"), settings(&user, &[DUMMY]), Some(first_dir.path())).unwrap();
    // The first half of create (the journaled intent), then what the driver
    // sends, created behind its back: the journal never hears of the id.
    first.begin(&attempt).unwrap();
    let reply = reqwest::Client::new()
        .post(format!("{url}/infrastructures?async=1"))
        .header("Authorization", first.auth_header())
        .header("Content-Type", "text/yaml")
        .header("Accept", "application/json")
        .body(ImDriver::prepare(&req).unwrap())
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    drop(first);

    let restarted = ImDriver::open(&spec(&url, "im-b"), settings(&user, &[DUMMY]), Some(first_dir.path())).unwrap();
    assert!(matches!(wait_settled(&restarted, &attempt).await, AttemptState::Ready { .. }));
    restarted.create(&req).await.unwrap();
    assert_eq!(infras(&restarted).await.len(), 1, "the replayed create continued the existing infrastructure");

    // And the cleanup path alone (a create that never returned) finds it too.
    let again = ImDriver::open(&spec(&url, "im-b"), settings(&user, &[DUMMY]), None).unwrap();
    wait_gone(&again, &attempt).await;
    assert!(infras(&again).await.is_empty(), "nothing leaked");
}

/// A cloud that cannot be reached: IM fails the infrastructure, and its
/// contextualization message becomes the failure reason.
#[tokio::test]
async fn im_failures_carry_its_messages() {
    let Some(url) = im_url() else { return };
    let broken = "id = ost; type = OpenStack; host = http://127.0.0.1:9; username = x; password = y; tenant = t; auth_version = 3.x_password";
    let driver = ImDriver::open(&spec(&url, "im-c"), settings(&unique("user"), &[broken]), None).unwrap();
    let attempt = unique("att");
    // No image named: IM asks the cloud for its images first, and that call
    // fails. (Naming an image makes IM 2.0 skip that step and die in a thread
    // that leaves the infrastructure pending forever.)
    driver.create(&request(&attempt, TEMPLATE)).await.unwrap();
    let AttemptState::Failed { reason } = wait_settled(&driver, &attempt).await else { panic!("should fail") };
    assert!(reason.contains("failed") && reason.contains("ost"), "{reason}");
    wait_gone(&driver, &attempt).await;
    assert!(infras(&driver).await.is_empty());

    // No template: the IM driver cannot work from node requirements alone.
    let no_template = ProvisionRequest { template: None, ..request("x", TEMPLATE) };
    assert!(matches!(driver.create(&no_template).await, Err(DriverError::Invalid(_))));
}
