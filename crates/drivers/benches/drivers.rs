//! Side-by-side benchmark of deploying the same TOSCA template N times
//! through the Infrastructure Manager directly (its REST API, as the
//! INDIGO orchestrator drives it) and through nuvola's IM driver, in the
//! same run, against the IM that `.ci/cloud.sh` starts:
//!
//! ```sh
//! source .ci/cloud.sh
//! cargo bench -p nuvola-drivers --bench drivers -- [N] [CONCURRENCY]
//! ```
//!
//! Each deployment is created, polled every 100 ms until ready, then
//! deleted until gone (directly: one synchronous DELETE; nuvola: its
//! asynchronous delete, polled); the time to ready and the overall
//! throughput (create to gone) are printed for both paths, and their ratio.
//!
//! When `.ci/cloud.sh` also started Nova (`NUVOLA_TEST_NOVA=1`), the same
//! one-VM deployment goes N times through Nova's REST API directly (POST a
//! server, poll it to ACTIVE, DELETE, poll to 404) and through nuvola's
//! OpenStack driver (cloud-init, tags, security group, the same polling),
//! both against the same Nova (fake virt driver) in the same run.

use std::future::Future;
use std::time::{Duration, Instant};

use nuvola_drivers::http::Replay;
use nuvola_drivers::im::ImDriver;
use nuvola_drivers::openstack::OpenStackDriver;
use nuvola_drivers::testing::{
    IM_DUMMY, ONE_VM, gone, im_settings, im_spec, im_url, nova_keystone_url, nova_settings, nova_spec, unique,
};
use nuvola_drivers::{AttemptState, Driver, NodeProvision, ProvisionRequest};
use nuvola_types::{NetworkKind, PortRequirement};
use reqwest::Method;
use serde_json::{Value, json};

const POLL: Duration = Duration::from_millis(100);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20);
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4).max(1);
    let Some(url) = im_url() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let spec = im_spec(&url, "im-bench");
        let driver = ImDriver::open(&spec, im_settings(&unique("bench"), &[IM_DUMMY]), Some(dir.path())).unwrap();
        println!("deploying one VM (IM Dummy connector) {n} times, {concurrency} at a time, polling every 100 ms");
        compare(
            n,
            concurrency,
            ("IM REST directly", |i| direct_im(driver.clone(), i)),
            ("nuvola IM driver", |i| through_driver(driver.clone(), im_request(i))),
        )
        .await;
        if let Some(keystone) = nova_keystone_url() {
            let driver = OpenStackDriver::open(&nova_spec(&keystone, "nova-bench"), nova_settings("admin")).unwrap();
            println!("deploying one VM (Nova, fake virt driver, Neutron/OVN) {n} times, {concurrency} at a time");
            compare(
                n,
                concurrency,
                ("Nova REST directly", |i| direct_nova(driver.clone(), i)),
                ("nuvola OpenStack drv", |i| through_driver(driver.clone(), nova_request(i))),
            )
            .await;
        }
    });
}

/// Deploys N times down each path, `concurrency` at a time, and prints
/// both rows and the throughput ratio.
async fn compare<D, DF, V, VF>(n: usize, concurrency: usize, direct: (&str, D), nuvola: (&str, V))
where
    D: Fn(usize) -> DF,
    DF: Future<Output = f64>,
    V: Fn(usize) -> VF,
    VF: Future<Output = f64>,
{
    let direct_run = run(n, concurrency, direct.1).await;
    let nuvola_run = run(n, concurrency, nuvola.1).await;
    println!("{:<22} {:>10} {:>10} {:>10} {:>12}", "path", "mean ms", "p50 ms", "p95 ms", "deploys/s");
    report(direct.0, &direct_run);
    report(nuvola.0, &nuvola_run);
    let ratio = direct_run.throughput() / nuvola_run.throughput();
    println!("throughput ratio direct / nuvola driver: {ratio:.2}");
}

/// A server through Nova's API alone: create, poll to ACTIVE, delete, poll
/// until Nova no longer knows it.
async fn direct_nova(d: OpenStackDriver, i: usize) -> f64 {
    let ids = |v: Value, key: &str, name: &str| {
        v[key].as_array().unwrap().iter().find(|x| x["name"] == name).unwrap()["id"].as_str().unwrap().to_string()
    };
    let call = |method: Method, service: &'static str, path: String, body: Option<Value>| {
        let d = d.clone();
        async move {
            let replay = if method == Method::POST { Replay::Unsafe } else { Replay::Safe };
            d.api(service, method, &path, replay, body.as_ref()).await.unwrap()
        }
    };
    let start = Instant::now();
    let flavor =
        ids(call(Method::GET, "compute", "/flavors".into(), None).await.json("").unwrap(), "flavors", "m1.tiny");
    let image = ids(
        call(Method::GET, "image", "/v2/images?name=cirros".into(), None).await.json("").unwrap(),
        "images",
        "cirros",
    );
    let net = ids(
        call(Method::GET, "network", "/v2.0/networks?name=private".into(), None).await.json("").unwrap(),
        "networks",
        "private",
    );
    let body = json!({"server": {"name": format!("bench-direct-{i}"), "flavorRef": flavor, "imageRef": image,
                                 "networks": [{"uuid": net}]}});
    let created: Value = call(Method::POST, "compute", "/servers".into(), Some(body)).await.json("").unwrap();
    let id = created["server"]["id"].as_str().unwrap_or_else(|| panic!("create {i}: {created}")).to_string();
    loop {
        let v: Value = call(Method::GET, "compute", format!("/servers/{id}"), None).await.json("").unwrap();
        match v["server"]["status"].as_str() {
            Some("ACTIVE") => break,
            Some("ERROR") => panic!("deploy {i} failed: {v}"),
            _ => tokio::time::sleep(POLL).await,
        }
    }
    let ready = start.elapsed().as_secs_f64() * 1000.0;
    call(Method::DELETE, "compute", format!("/servers/{id}"), None).await;
    while call(Method::GET, "compute", format!("/servers/{id}"), None).await.status.as_u16() != 404 {
        tokio::time::sleep(POLL).await;
    }
    ready
}

/// The same VM as nuvola's OpenStack driver is asked for it.
fn nova_request(i: usize) -> ProvisionRequest {
    let node = NodeProvision {
        name: "vm".into(),
        count: 1,
        flavor: serde_json::from_value(json!({"name": "m1.tiny", "vcpus": 1, "ram_mb": 512, "disk_gb": 1})).unwrap(),
        image: "cirros".into(),
        volumes: Vec::new(),
        ports: vec![PortRequirement {
            name: "ssh".into(),
            port: 22,
            port_end: 22,
            protocol: "tcp".into(),
            remote_cidr: "0.0.0.0/0".into(),
        }],
        network: NetworkKind::Private,
        public_ip: false,
        setup: Default::default(),
    };
    ProvisionRequest {
        deployment_id: format!("bench-{i}"),
        attempt_id: uuid::Uuid::new_v4().to_string(),
        project: "admin".into(),
        nodes: vec![node],
        template: None,
        inputs: Default::default(),
    }
}

struct Run {
    ready_ms: Vec<f64>,
    wall: Duration,
}

impl Run {
    fn throughput(&self) -> f64 {
        self.ready_ms.len() as f64 / self.wall.as_secs_f64()
    }
}

fn report(name: &str, run: &Run) {
    let mut v = run.ready_ms.clone();
    v.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    println!("{name:<22} {mean:>10.1} {:>10.1} {:>10.1} {:>12.2}", pct(0.5), pct(0.95), run.throughput());
}

async fn run<F, Fut>(n: usize, concurrency: usize, one: F) -> Run
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    use futures::StreamExt;
    let start = Instant::now();
    let ready_ms: Vec<f64> = futures::stream::iter(0..n).map(one).buffer_unordered(concurrency).collect().await;
    Run { ready_ms, wall: start.elapsed() }
}

/// Create, poll `state` until configured, delete: the orchestrator's way.
async fn direct_im(driver: ImDriver, i: usize) -> f64 {
    let client = reqwest::Client::new();
    let base = driver.base_url().to_string();
    let auth = driver.auth_header().to_string();
    let start = Instant::now();
    let reply: Value = client
        .post(format!("{base}/infrastructures?async=1"))
        .header("Authorization", &auth)
        .header("Content-Type", "text/yaml")
        .header("Accept", "application/json")
        .body(ONE_VM)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uri = reply["uri"].as_str().unwrap_or_else(|| panic!("create {i}: {reply}")).to_string();
    loop {
        let state: Value = client
            .get(format!("{uri}/state"))
            .header("Authorization", &auth)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match state["state"]["state"].as_str() {
            Some("configured") => break,
            Some("failed") | Some("unconfigured") => panic!("deploy {i} failed: {state}"),
            _ => tokio::time::sleep(POLL).await,
        }
    }
    // The orchestrator reads the VMs and outputs once ready.
    client.get(&uri).header("Authorization", &auth).header("Accept", "application/json").send().await.unwrap();
    let ready = start.elapsed().as_secs_f64() * 1000.0;
    // A synchronous delete: IM answers once the infrastructure is gone.
    client.delete(&uri).header("Authorization", &auth).send().await.unwrap();
    ready
}

/// The template as nuvola's IM driver is asked for it.
fn im_request(i: usize) -> ProvisionRequest {
    let attempt = unique(&format!("bench-{i}"));
    ProvisionRequest {
        deployment_id: format!("dep-{attempt}"),
        attempt_id: attempt,
        project: "bench".into(),
        nodes: Vec::new(),
        template: Some(ONE_VM.into()),
        inputs: Default::default(),
    }
}

/// One deployment through a nuvola driver: create, `status` every 100 ms
/// until ready, then delete until gone. Returns the time to ready.
async fn through_driver(driver: impl Driver, request: ProvisionRequest) -> f64 {
    let start = Instant::now();
    driver.create(&request).await.unwrap();
    loop {
        match driver.status(&request.attempt_id).await.unwrap() {
            AttemptState::Ready { .. } => break,
            AttemptState::Building { .. } => tokio::time::sleep(POLL).await,
            other => panic!("deploy {}: {other:?}", request.deployment_id),
        }
    }
    let ready = start.elapsed().as_secs_f64() * 1000.0;
    gone(&driver, &request.attempt_id, POLL, Duration::from_secs(600)).await;
    ready
}
