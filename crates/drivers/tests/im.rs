//! The IM driver against a real Infrastructure Manager (PyPI `im`, its
//! Dummy connector), started by `.ci/cloud.sh`, which exports
//! `NUVOLA_TEST_IM_URL`. Without it the tests skip, saying why; under
//! `CI=true` they fail instead.
//!
//! Every test uses its own IM user (IM keys infrastructures by user name
//! and password), so tests never see each other's infrastructures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nuvola_drivers::im::ImDriver;
use nuvola_drivers::testing::{IM_DUMMY, ONE_VM, WORKERS, gone, im_settings, im_spec, im_url, node, settled, unique};
use nuvola_drivers::{AttemptState, DeleteState, Driver, DriverError, ProvisionRequest, ResourceKind};

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

async fn wait_settled(driver: &ImDriver, attempt: &str) -> AttemptState {
    settled(driver, attempt, Duration::from_millis(200), Duration::from_secs(60)).await.unwrap()
}

async fn wait_gone(driver: &ImDriver, attempt: &str) {
    gone(driver, attempt, Duration::from_millis(200), Duration::from_secs(60)).await
}

/// IM's JSON answer at `url`, asked with the driver's credentials.
async fn from_im(driver: &ImDriver, url: &str) -> serde_json::Value {
    let reply = reqwest::Client::new()
        .get(url)
        .header("Authorization", driver.auth_header())
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    reply.json().await.unwrap()
}

/// Infrastructures IM holds for the driver's user, read straight from IM.
async fn infras(driver: &ImDriver) -> Vec<String> {
    let body = from_im(driver, &format!("{}/infrastructures", driver.base_url())).await;
    body["uri-list"].as_array().unwrap().iter().map(|u| u["uri"].as_str().unwrap().to_string()).collect()
}

/// IM holds no infrastructure of the driver's user. IM may list one it
/// has just deleted for a moment, so this looks for up to 10 s.
async fn assert_none_left(driver: &ImDriver) {
    for _ in 0..50 {
        if infras(driver).await.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("IM still holds {:?} 10 s after the delete: leaked", infras(driver).await);
}

#[tokio::test]
async fn creates_polls_and_deletes_an_infrastructure() {
    let Some(url) = im_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let driver =
        ImDriver::open(&im_spec(&url, "im-a"), im_settings(&unique("user"), &[IM_DUMMY]), Some(dir.path())).unwrap();
    let attempt = unique("att");
    let req = request(&attempt, ONE_VM);
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
    let tosca = from_im(&driver, &format!("{}/tosca", infras(&driver).await[0])).await;
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
    // A probe reads IM's version, lists the user's infrastructures and the quota.
    let checks = driver.probe(Some("physics")).await;
    let outcomes: Vec<_> =
        checks.iter().map(|c| (c.probe, c.outcome.clone().unwrap_or_else(|e| e.to_string()))).collect();
    assert_eq!(outcomes[1..], [("auth", "1 infrastructures".into()), ("quota", "physics: 1 of 10 cores used".into())]);
    assert!(outcomes[0].0 == "api" && outcomes[0].1.len() > "IM ".len(), "{outcomes:?}");

    wait_gone(&driver, &attempt).await;
    assert_none_left(&driver).await;
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
    let req = request(&attempt, ONE_VM);
    let first_dir = tempfile::tempdir().unwrap();
    let first =
        ImDriver::open(&im_spec(&url, "im-b"), im_settings(&user, &[IM_DUMMY]), Some(first_dir.path())).unwrap();
    // The first half of create (the journaled intent), then what the driver
    // sends, created behind its back: the journal never hears of the id.
    first.begin(&attempt).await.unwrap();
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

    let restarted =
        ImDriver::open(&im_spec(&url, "im-b"), im_settings(&user, &[IM_DUMMY]), Some(first_dir.path())).unwrap();
    assert!(matches!(wait_settled(&restarted, &attempt).await, AttemptState::Ready { .. }));
    restarted.create(&req).await.unwrap();
    assert_eq!(infras(&restarted).await.len(), 1, "the replayed create continued the existing infrastructure");

    // And the cleanup path alone (a create that never returned) finds it too.
    let again = ImDriver::open(&im_spec(&url, "im-b"), im_settings(&user, &[IM_DUMMY]), None).unwrap();
    wait_gone(&again, &attempt).await;
    assert_none_left(&again).await;
}

/// A cloud that cannot be reached: IM fails the infrastructure, and its
/// contextualization message becomes the failure reason.
#[tokio::test]
async fn im_failures_carry_its_messages() {
    let Some(url) = im_url() else { return };
    let broken = "id = ost; type = OpenStack; host = http://127.0.0.1:9; username = x; password = y; tenant = t; auth_version = 3.x_password";
    let driver = ImDriver::open(&im_spec(&url, "im-c"), im_settings(&unique("user"), &[broken]), None).unwrap();
    let attempt = unique("att");
    // No image named: IM asks the cloud for its images first, and that call
    // fails. (Naming an image makes IM 2.0 skip that step and die in a thread
    // that leaves the infrastructure pending forever.)
    driver.create(&request(&attempt, ONE_VM)).await.unwrap();
    let AttemptState::Failed { reason } = wait_settled(&driver, &attempt).await else { panic!("should fail") };
    assert!(reason.contains("failed") && reason.contains("ost"), "{reason}");
    wait_gone(&driver, &attempt).await;
    assert_none_left(&driver).await;

    // A type IM's parser does not know. A fresh IM refuses it at creation,
    // naming it; once IM has parsed a template defining types of its own in
    // the tosca.nodes namespace (INDIGO's do), its parser lets unknown types
    // through and IM deploys nothing. Either way the user learns why.
    let unknown = ONE_VM.replace("type: tosca.nodes.Compute", "type: tosca.nodes.nowhere.Compute");
    assert_ne!(unknown, ONE_VM);
    let attempt = unique("att");
    match driver.create(&request(&attempt, &unknown)).await {
        Err(DriverError::Invalid(message)) => {
            assert!(
                message.said.contains("HTTP 400") && message.said.contains("tosca.nodes.nowhere.Compute"),
                "{message}"
            )
        }
        Ok(()) => {
            let AttemptState::Failed { reason } = wait_settled(&driver, &attempt).await else { panic!("should fail") };
            assert!(reason.contains("without any deploy") && reason.contains("tosca.nodes.Compute"), "{reason}");
            wait_gone(&driver, &attempt).await;
        }
        Err(other) => panic!("should be refused or fail: {other:?}"),
    }

    // A valid template with nothing IM can deploy (no node is a Compute or
    // hosted on one): IM accepts it, then fails, and the reason says why.
    let attempt = unique("att");
    driver.create(&request(&attempt, NOTHING_TO_DEPLOY)).await.unwrap();
    let AttemptState::Failed { reason } = wait_settled(&driver, &attempt).await else { panic!("should fail") };
    assert!(reason.contains("without any deploy") && reason.contains("tosca.nodes.Compute"), "{reason}");
    wait_gone(&driver, &attempt).await;

    // No template: the IM driver cannot work from node requirements alone.
    let no_template = ProvisionRequest { template: None, ..request("x", ONE_VM) };
    assert!(matches!(driver.create(&no_template).await, Err(DriverError::Invalid(_))));
}

/// A valid template whose only node is neither a Compute nor hosted on one.
const NOTHING_TO_DEPLOY: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0
node_types:
  example.nodes.Record:
    derived_from: tosca.nodes.Root
topology_template:
  node_templates:
    record:
      type: example.nodes.Record
"#;

/// The scalable template with `workers` nodes, as the app asks for it.
fn scaled(attempt: &str, workers: u32) -> ProvisionRequest {
    let mut inputs = serde_json::Map::new();
    inputs.insert("workers".into(), serde_json::json!(workers));
    ProvisionRequest { nodes: vec![node("wn", workers)], inputs, ..request(attempt, WORKERS) }
}

/// The ids of the attempt's VMs (`<infrastructure>/vms/<n>`), in IM's order.
async fn vm_ids(driver: &ImDriver, attempt: &str) -> Vec<String> {
    let resources = driver.resources(attempt).await.unwrap();
    assert!(resources.iter().all(|r| r.kind == ResourceKind::Server && r.node == "wn"), "{resources:?}");
    resources.into_iter().map(|r| r.id).collect()
}

/// A proxy in front of IM that records the request line of every call
/// passing through it, to see what a driver sends.
struct Recorder {
    url: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(upstream: &str) -> Recorder {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                tokio::spawn(Recorder::relay(client, server, seen.clone()));
            }
        });
        Recorder { url, lines }
    }

    /// Forwards one connection's requests one by one (head, then as many
    /// body bytes as `Content-Length` says), recording each request line,
    /// and copies the answers back.
    async fn relay(client: tokio::net::TcpStream, server: tokio::net::TcpStream, seen: Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let (client_in, mut client_out) = client.into_split();
        let (mut server_in, mut server_out) = server.into_split();
        tokio::spawn(async move { tokio::io::copy(&mut server_in, &mut client_out).await });
        let mut client_in = tokio::io::BufReader::new(client_in);
        loop {
            let mut head = Vec::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if client_in.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
                let end = line == "\r\n";
                head.push(line);
                if end {
                    break;
                }
            }
            seen.lock().unwrap().push(head[0].trim_end().to_string());
            let mut body = vec![0; length];
            client_in.read_exact(&mut body).await.unwrap();
            server_out.write_all(head.concat().as_bytes()).await.unwrap();
            server_out.write_all(&body).await.unwrap();
        }
    }

    /// The request lines recorded since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

/// Scale up and down through `update`: IM adds the missing VMs, the
/// highest-numbered VM goes first, and an update repeated changes nothing.
#[tokio::test]
async fn update_scales_up_and_down_highest_index_first() {
    let Some(url) = im_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let proxy = Recorder::start(&url).await;
    let spec = im_spec(&proxy.url, "im-d");
    let driver = ImDriver::open(&spec, im_settings(&unique("user"), &[IM_DUMMY]), Some(dir.path())).unwrap();
    let attempt = unique("att");
    driver.create(&scaled(&attempt, 1)).await.unwrap();
    assert!(matches!(wait_settled(&driver, &attempt).await, AttemptState::Ready { .. }));
    let infra = infras(&driver).await[0].rsplit('/').next().unwrap().to_string();
    let vm = |n: u32| format!("{infra}/vms/{n}");
    assert_eq!(vm_ids(&driver, &attempt).await, [vm(0)]);

    driver.update(&scaled(&attempt, 3)).await.unwrap();
    let AttemptState::Ready { nodes } = wait_settled(&driver, &attempt).await else {
        panic!("not ready after scaling up: {:?}", driver.status(&attempt).await)
    };
    assert_eq!(nodes["wn"].len(), 3, "{nodes:?}");
    assert_eq!(vm_ids(&driver, &attempt).await, [vm(0), vm(1), vm(2)]);
    let names: Vec<String> = driver.resources(&attempt).await.unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["wn-0", "wn-1", "wn-2"]);

    // The same request again changes nothing: the driver only reads.
    proxy.take();
    driver.update(&scaled(&attempt, 3)).await.unwrap();
    let sent = proxy.take();
    assert!(sent.iter().all(|line| line.starts_with("GET ")), "{sent:?}");
    assert_eq!(vm_ids(&driver, &attempt).await, [vm(0), vm(1), vm(2)]);

    driver.update(&scaled(&attempt, 2)).await.unwrap();
    let AttemptState::Ready { nodes } = wait_settled(&driver, &attempt).await else {
        panic!("not ready after scaling down: {:?}", driver.status(&attempt).await)
    };
    assert_eq!(nodes["wn"].len(), 2, "{nodes:?}");
    assert_eq!(vm_ids(&driver, &attempt).await, [vm(0), vm(1)], "the highest-index VM went");
    proxy.take();
    driver.update(&scaled(&attempt, 2)).await.unwrap();
    let sent = proxy.take();
    assert!(sent.iter().all(|line| line.starts_with("GET ")), "{sent:?}");
    assert_eq!(vm_ids(&driver, &attempt).await, [vm(0), vm(1)]);

    // Up again: IM numbers the new VM after every VM it ever held.
    driver.update(&scaled(&attempt, 3)).await.unwrap();
    assert!(matches!(wait_settled(&driver, &attempt).await, AttemptState::Ready { .. }));
    assert_eq!(vm_ids(&driver, &attempt).await, [vm(0), vm(1), vm(3)]);

    wait_gone(&driver, &attempt).await;
    assert!(driver.inventory().await.unwrap().is_empty(), "nothing left");
    assert_eq!(driver.status(&attempt).await.unwrap(), AttemptState::Absent);
}

/// A template whose count IM cannot see (no `scalable` count): the update
/// fails saying so instead of silently leaving one VM.
#[tokio::test]
async fn update_refuses_a_count_im_cannot_read() {
    let Some(url) = im_url() else { return };
    let driver = ImDriver::open(&im_spec(&url, "im-e"), im_settings(&unique("user"), &[IM_DUMMY]), None).unwrap();
    let attempt = unique("att");
    let one = ProvisionRequest { nodes: vec![node("vm", 1)], ..request(&attempt, ONE_VM) };
    let two = ProvisionRequest { nodes: vec![node("vm", 2)], ..one.clone() };
    driver.create(&one).await.unwrap();
    assert!(matches!(wait_settled(&driver, &attempt).await, AttemptState::Ready { .. }));
    let Err(DriverError::Invalid(message)) = driver.update(&two).await else { panic!("the update should fail") };
    assert!(message.said.contains("added 0 VMs") && message.said.contains("scalable"), "{message}");
    wait_gone(&driver, &attempt).await;
}
