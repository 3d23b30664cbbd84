//! The simulated provider through the `Driver` trait: building, failing,
//! quotas, scaling, deleting, restarts and determinism.
//!
//! Builds and deletes are stepped with `advance_clock` and hour-long
//! latencies, so no assertion depends on how fast the machine is.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nuvola_drivers::sim::{SimDriver, SimError, SimSettings, read_inventory};
use nuvola_drivers::{
    AttemptState, Credential, DeleteState, Driver, DriverError, NodeProvision, NodeSetup, ProvisionRequest, Resource,
    ResourceKind, VolumeProvision,
};
use nuvola_types::{
    Flavor, Image, Network, NetworkKind, PortRequirement, ProviderGrant, ProviderSpec, Quota, VolumeType,
};

const HOUR: Duration = Duration::from_secs(3600);

fn flavor(name: &str, vcpus: u32, ram_mb: u64, gpus: u32) -> Flavor {
    Flavor {
        name: name.into(),
        vcpus,
        ram_mb,
        disk_gb: 20,
        gpus,
        gpu_vendor: (gpus > 0).then(|| "nvidia".into()),
        gpu_model: None,
        infiniband: false,
    }
}

fn grant(project: Option<&str>, quota: Quota) -> ProviderGrant {
    ProviderGrant {
        sla_id: "sla-1".into(),
        project: project.map(Into::into),
        priority: 1.0,
        quota,
        starts: None,
        ends: None,
    }
}

fn spec() -> ProviderSpec {
    let mut groups = BTreeMap::new();
    groups.insert(
        "physics-group".to_owned(),
        grant(Some("physics"), Quota { gpus: Some(2), instances: Some(10), ..Quota::default() }),
    );
    groups.insert("chemistry".to_owned(), grant(None, Quota::default()));
    ProviderSpec {
        name: "sim-bari".into(),
        region: "bari".into(),
        description: String::new(),
        driver: nuvola_types::DriverKind::Sim,
        endpoint: "https://sim-bari.example/compute".into(),
        enabled: true,
        issuers: vec![],
        maintenance: vec![],
        public_ips: true,
        flavors: vec![flavor("m1.small", 1, 2048, 0), flavor("g1.large", 8, 32768, 2)],
        images: vec![Image {
            name: "ubuntu-22.04".into(),
            os_type: "linux".into(),
            distribution: "ubuntu".into(),
            version: "22.04".into(),
            cuda: None,
            gpu_driver: None,
        }],
        volume_types: vec![VolumeType { name: "ssd".into(), description: String::new() }],
        networks: vec![Network {
            name: "private".into(),
            kind: NetworkKind::Private,
            cidr: Some("10.20.0.0/16".into()),
        }],
        groups,
        settings: None,
    }
}

fn node(name: &str, count: u32) -> NodeProvision {
    NodeProvision {
        name: name.into(),
        count,
        flavor: flavor("m1.small", 1, 2048, 0),
        image: "ubuntu-22.04".into(),
        volumes: vec![VolumeProvision { name: "data".into(), size_gb: 10, volume_type: Some("ssd".into()) }],
        ports: vec![PortRequirement {
            name: "ssh".into(),
            port: 22,
            port_end: 22,
            protocol: "tcp".into(),
            remote_cidr: "0.0.0.0/0".into(),
        }],
        network: NetworkKind::Public,
        public_ip: false,
        setup: Default::default(),
    }
}

fn request(attempt: &str, nodes: Vec<NodeProvision>) -> ProvisionRequest {
    ProvisionRequest {
        deployment_id: format!("dep-{attempt}"),
        attempt_id: attempt.into(),
        project: "physics".into(),
        nodes,
        template: None,
        inputs: Default::default(),
    }
}

/// Settings whose builds and deletes take an hour of simulated time.
fn slow() -> SimSettings {
    SimSettings {
        seed: 7,
        create_latency_ms: HOUR.as_millis() as u64,
        delete_latency_ms: HOUR.as_millis() as u64,
        ..SimSettings::default()
    }
}

fn sim(settings: SimSettings) -> SimDriver {
    SimDriver::open(&spec(), settings, None).unwrap()
}

fn count(resources: &[Resource], kind: ResourceKind) -> usize {
    resources.iter().filter(|r| r.kind == kind).count()
}

fn in_cidr(addr: &str, base: [u8; 4], prefix: u32) -> bool {
    let a = u32::from(addr.parse::<Ipv4Addr>().unwrap());
    let b = u32::from(Ipv4Addr::from(base));
    (a ^ b) >> (32 - prefix) == 0
}

#[tokio::test]
async fn create_builds_then_is_ready_with_addresses() {
    let d = sim(slow());
    d.create(&request("a1", vec![node("vm", 2)])).await.unwrap();

    let AttemptState::Building { detail } = d.status("a1").await.unwrap() else { panic!("not building") };
    assert_eq!(detail, "0/2 servers ACTIVE");
    let held = d.resources("a1").await.unwrap();
    assert_eq!(count(&held, ResourceKind::Server), 2);
    assert_eq!(count(&held, ResourceKind::Volume), 2);
    assert_eq!(count(&held, ResourceKind::Port), 2);
    assert_eq!(count(&held, ResourceKind::FloatingIp), 2);
    assert_eq!(count(&held, ResourceKind::SecurityGroup), 1);
    assert_eq!(held.len(), 9);
    assert!(
        held.iter()
            .all(|r| r.attempt_id == "a1" && r.deployment_id == "dep-a1" && r.node == "vm" && r.project == "physics")
    );
    let server = held.iter().find(|r| r.name == "vm-0").unwrap();
    assert_eq!(server.state, "BUILD");

    d.advance_clock(HOUR);
    let AttemptState::Ready { nodes } = d.status("a1").await.unwrap() else { panic!("not ready") };
    let vms = &nodes["vm"];
    assert_eq!(vms.len(), 2);
    assert_eq!(vms[0].id, server.id);
    for vm in vms {
        assert!(in_cidr(&vm.private_address, [10, 20, 0, 0], 16), "{vm:?}");
        let public = vm.public_address.as_deref().unwrap();
        assert!(in_cidr(public, [203, 0, 113, 0], 24), "{vm:?}");
    }
    assert_ne!(vms[0].private_address, vms[1].private_address);
    assert_ne!(vms[0].public_address, vms[1].public_address);
    let held = d.resources("a1").await.unwrap();
    let server = held.iter().find(|r| r.name == "vm-0").unwrap();
    assert_eq!(server.state, "ACTIVE");
}

#[tokio::test]
async fn private_nodes_get_no_public_address() {
    let d = sim(SimSettings { create_latency_ms: 0, ..slow() });
    let mut n = node("worker", 1);
    n.network = NetworkKind::Private;
    n.ports.clear();
    d.create(&request("a1", vec![n])).await.unwrap();
    let AttemptState::Ready { nodes } = d.status("a1").await.unwrap() else { panic!("not ready") };
    assert_eq!(nodes["worker"][0].public_address, None);
    let held = d.resources("a1").await.unwrap();
    assert_eq!(count(&held, ResourceKind::FloatingIp), 0);
    assert_eq!(count(&held, ResourceKind::SecurityGroup), 0);

    let mut n = node("iso", 1);
    n.network = NetworkKind::Isolated;
    d.create(&request("a2", vec![n])).await.unwrap();
    let held = d.resources("a2").await.unwrap();
    assert_eq!(count(&held, ResourceKind::Network), 1);
    let AttemptState::Ready { nodes } = d.status("a2").await.unwrap() else { panic!("not ready") };
    assert!(in_cidr(&nodes["iso"][0].private_address, [192, 168, 0, 0], 16));
}

#[tokio::test]
async fn an_isolated_node_may_be_public_too_and_logins_are_reported() {
    let d = sim(SimSettings { create_latency_ms: 0, ..slow() });
    let setup = NodeSetup { login: Some("cloudadm".into()), ..NodeSetup::default() };
    let front = NodeProvision { network: NetworkKind::Isolated, public_ip: true, setup, ..node("front", 1) };
    let back = NodeProvision { network: NetworkKind::Isolated, ..node("back", 2) };
    d.create(&request("a1", vec![front, back])).await.unwrap();
    let held = d.resources("a1").await.unwrap();
    assert_eq!(count(&held, ResourceKind::FloatingIp), 1, "{held:?}");
    let AttemptState::Ready { nodes } = d.status("a1").await.unwrap() else { panic!("not ready") };
    let front = &nodes["front"][0];
    assert!(in_cidr(&front.private_address, [192, 168, 0, 0], 16), "{front:?}");
    assert!(front.public_address.as_deref().is_some_and(|a| in_cidr(a, [203, 0, 113, 0], 24)), "{front:?}");
    assert_eq!(front.credential, Some(Credential::account("cloudadm")));
    for back in &nodes["back"] {
        assert_eq!((&back.public_address, &back.credential), (&None, &None), "{back:?}");
    }
    // Public IPs count against the quota like any public node's.
    let quota = d.project_quota("physics").await.unwrap().unwrap();
    assert_eq!(quota.used.public_ips, 1);
}

#[tokio::test]
async fn create_is_idempotent() {
    let d = sim(slow());
    let req = request("a1", vec![node("vm", 2), node("db", 1)]);
    d.create(&req).await.unwrap();
    let first = d.inventory().await.unwrap();
    d.create(&req).await.unwrap();
    d.create(&req).await.unwrap();
    assert_eq!(d.inventory().await.unwrap(), first);
    let ids: std::collections::HashSet<_> = first.iter().map(|r| &r.id).collect();
    assert_eq!(ids.len(), first.len());
}

#[tokio::test]
async fn quota_exceeded_names_the_resource() {
    let d = sim(slow());
    let mut gpu = node("gpu", 2);
    gpu.flavor = flavor("g1.large", 8, 32768, 2);
    let err = d.create(&request("a1", vec![gpu])).await.unwrap_err();
    assert_eq!(err, DriverError::quota("4 GPUs requested, 2 left for project physics"));
    assert!(d.inventory().await.unwrap().is_empty());

    // What the project already holds counts.
    let mut one = node("gpu", 1);
    one.flavor = flavor("g1.large", 8, 32768, 2);
    d.create(&request("a2", vec![one.clone()])).await.unwrap();
    let err = d.create(&request("a3", vec![one])).await.unwrap_err();
    assert_eq!(err, DriverError::quota("2 GPUs requested, 0 left for project physics"));
    let q = d.project_quota("physics").await.unwrap().unwrap();
    assert_eq!(q.limits.gpus, Some(2));
    assert_eq!(q.used.gpus, 2);
    assert_eq!(q.used.instances, 1);
    assert_eq!(q.used.volumes, 1);
    assert_eq!(q.used.volume_gb, 10);
    assert_eq!(q.used.public_ips, 1);
    assert_eq!(d.project_quota("nobody").await.unwrap(), None);
}

#[tokio::test]
async fn invalid_requests_name_what_is_wrong() {
    let d = sim(slow());
    let check = |mutate: fn(&mut ProvisionRequest), needle: &'static str| {
        let d = d.clone();
        async move {
            let mut req = request("a1", vec![node("vm", 1)]);
            mutate(&mut req);
            match d.create(&req).await {
                Err(DriverError::Invalid(m)) => assert!(m.said.contains(needle), "{m}"),
                other => panic!("expected Invalid about {needle}, got {other:?}"),
            }
        }
    };
    check(|r| r.nodes[0].flavor.name = "m1.huge".into(), "flavor m1.huge").await;
    check(|r| r.nodes[0].flavor.vcpus = 4, "flavor m1.small on sim-bari has 1 vCPUs").await;
    check(|r| r.nodes[0].image = "centos-7".into(), "image centos-7").await;
    check(|r| r.nodes[0].volumes[0].volume_type = Some("nvme".into()), "volume type nvme").await;
    check(|r| r.project = "astro".into(), "unknown project astro").await;
    check(|r| r.nodes.push(r.nodes[0].clone()), "node vm appears twice").await;
    assert!(d.inventory().await.unwrap().is_empty());

    let mut no_fip = spec();
    no_fip.public_ips = false;
    let d = SimDriver::open(&no_fip, slow(), None).unwrap();
    let err = d.create(&request("a1", vec![node("vm", 1)])).await.unwrap_err();
    assert!(matches!(&err, DriverError::Invalid(m) if m.said.contains("public IP")), "{err:?}");
}

#[tokio::test]
async fn project_defaults_to_the_group_name() {
    let d = sim(slow());
    let mut req = request("a1", vec![node("vm", 1)]);
    req.project = "chemistry".into();
    d.create(&req).await.unwrap();
    assert_eq!(d.resources("a1").await.unwrap()[0].project, "chemistry");
}

#[tokio::test]
async fn fail_creates_fails_on_command_and_creates_nothing() {
    let d = sim(SimSettings { fail_creates: true, ..slow() });
    let err = d.create(&request("a1", vec![node("vm", 1)])).await.unwrap_err();
    assert!(matches!(&err, DriverError::Failed(m) if m.said.contains("simulated failure")), "{err:?}");
    assert!(d.inventory().await.unwrap().is_empty());
    assert_eq!(d.status("a1").await.unwrap(), AttemptState::Absent);

    d.set_fail_creates(false);
    d.create(&request("a1", vec![node("vm", 1)])).await.unwrap();
    d.set_fail_creates(true);
    assert!(d.settings().fail_creates);
    let err = d.update(&request("a1", vec![node("vm", 2)])).await.unwrap_err();
    assert!(matches!(err, DriverError::Failed(_)));
    assert_eq!(count(&d.inventory().await.unwrap(), ResourceKind::Server), 1);
}

#[tokio::test]
async fn drawn_failure_shows_after_latency_and_keeps_resources() {
    let d = sim(SimSettings { failure_probability: 1.0, ..slow() });
    d.create(&request("a1", vec![node("vm", 2)])).await.unwrap();
    assert!(matches!(d.status("a1").await.unwrap(), AttemptState::Building { .. }));

    d.advance_clock(HOUR);
    let AttemptState::Failed { reason } = d.status("a1").await.unwrap() else { panic!("not failed") };
    assert!(reason.contains("ERROR") && reason.contains("simulated build failure"), "{reason}");
    let held = d.inventory().await.unwrap();
    assert_eq!(held.len(), 9, "resources stay until deleted");
    assert!(held.iter().filter(|r| r.kind == ResourceKind::Server).all(|r| r.state == "ERROR"));

    assert_eq!(d.delete("a1").await.unwrap(), DeleteState::InProgress);
    d.advance_clock(HOUR);
    assert_eq!(d.delete("a1").await.unwrap(), DeleteState::Gone);
    assert!(d.inventory().await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_takes_its_time_then_leaves_nothing() {
    let d = sim(slow());
    d.create(&request("a1", vec![node("vm", 1)])).await.unwrap();
    d.create(&request("a2", vec![node("vm", 1)])).await.unwrap();

    assert_eq!(d.delete("a1").await.unwrap(), DeleteState::InProgress);
    assert_eq!(d.delete("a1").await.unwrap(), DeleteState::InProgress);
    let held = d.resources("a1").await.unwrap();
    assert!(!held.is_empty());
    assert!(held.iter().all(|r| r.state == "DELETING" || r.state == "deleting"));
    assert!(matches!(d.status("a1").await.unwrap(), AttemptState::Failed { .. }));
    // Still counted against the quota while being deleted.
    assert_eq!(d.project_quota("physics").await.unwrap().unwrap().used.instances, 2);
    let err = d.create(&request("a1", vec![node("vm", 1)])).await.unwrap_err();
    assert!(matches!(err, DriverError::Failed(_)));

    d.advance_clock(HOUR);
    assert_eq!(d.delete("a1").await.unwrap(), DeleteState::Gone);
    assert_eq!(d.delete("a1").await.unwrap(), DeleteState::Gone);
    assert_eq!(d.status("a1").await.unwrap(), AttemptState::Absent);
    assert!(d.resources("a1").await.unwrap().is_empty());

    assert_eq!(d.delete("a2").await.unwrap(), DeleteState::InProgress);
    d.advance_clock(HOUR);
    // The delete completes on its own, as on a real site.
    assert!(d.inventory().await.unwrap().is_empty());
    assert_eq!(d.delete("a2").await.unwrap(), DeleteState::Gone);
}

#[tokio::test]
async fn delete_of_unknown_attempt_is_gone() {
    let d = sim(slow());
    assert_eq!(d.delete("never-created").await.unwrap(), DeleteState::Gone);
    assert_eq!(d.status("never-created").await.unwrap(), AttemptState::Absent);
}

#[tokio::test]
async fn zero_delete_latency_is_gone_at_once() {
    let d = sim(SimSettings { delete_latency_ms: 0, ..slow() });
    d.create(&request("a1", vec![node("vm", 1)])).await.unwrap();
    assert_eq!(d.delete("a1").await.unwrap(), DeleteState::Gone);
    assert!(d.inventory().await.unwrap().is_empty());
}

#[tokio::test]
async fn update_scales_one_to_three_to_two() {
    let d = sim(slow());
    d.create(&request("a1", vec![node("vm", 1)])).await.unwrap();
    d.advance_clock(HOUR);
    let first = d.resources("a1").await.unwrap();

    d.update(&request("a1", vec![node("vm", 3)])).await.unwrap();
    d.update(&request("a1", vec![node("vm", 3)])).await.unwrap();
    let three = d.resources("a1").await.unwrap();
    assert_eq!(count(&three, ResourceKind::Server), 3);
    assert_eq!(count(&three, ResourceKind::Volume), 3);
    assert_eq!(count(&three, ResourceKind::FloatingIp), 3);
    assert_eq!(count(&three, ResourceKind::SecurityGroup), 1);
    for r in &first {
        assert!(three.iter().any(|t| t.id == r.id), "{} kept", r.name);
    }
    let AttemptState::Building { detail } = d.status("a1").await.unwrap() else {
        panic!("new servers should be building")
    };
    assert_eq!(detail, "1/3 servers ACTIVE");
    d.advance_clock(HOUR);
    let AttemptState::Ready { nodes } = d.status("a1").await.unwrap() else { panic!("not ready") };
    assert_eq!(nodes["vm"].len(), 3);

    d.update(&request("a1", vec![node("vm", 2)])).await.unwrap();
    let two = d.resources("a1").await.unwrap();
    assert_eq!(count(&two, ResourceKind::Server), 2);
    assert_eq!(count(&two, ResourceKind::Port), 2);
    assert!(two.iter().all(|r| !r.name.starts_with("vm-2")), "highest index removed");
    let AttemptState::Ready { nodes } = d.status("a1").await.unwrap() else { panic!("not ready") };
    assert_eq!(nodes["vm"].len(), 2);
    assert_eq!(d.project_quota("physics").await.unwrap().unwrap().used.instances, 2);

    // Scaling beyond the quota is refused and changes nothing.
    let err = d.update(&request("a1", vec![node("vm", 11)])).await.unwrap_err();
    assert_eq!(err, DriverError::quota("9 instances requested, 8 left for project physics"));
    assert_eq!(d.resources("a1").await.unwrap(), two);

    let err = d.update(&request("nope", vec![node("vm", 1)])).await.unwrap_err();
    assert!(matches!(err, DriverError::Invalid(_)));
}

/// An update resizes servers to their node's new flavor and grows
/// volumes; `update_status` is `Ready` only once the site holds what was
/// asked, after the resize and the growth have taken their time; a volume
/// never shrinks; the result survives a restart of the site.
#[tokio::test]
async fn update_resizes_servers_and_grows_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = SimDriver::open(&spec(), slow(), Some(dir.path())).unwrap();
    let small = request("a1", vec![node("vm", 2)]);
    d.create(&small).await.unwrap();
    d.advance_clock(HOUR);
    assert!(matches!(d.update_status(&small).await.unwrap(), AttemptState::Ready { .. }));
    let footprint = d.footprint("a1").await.unwrap();
    assert_eq!(footprint["vm"].len(), 2);
    assert_eq!(footprint["vm"][0].flavor.as_deref(), Some("m1.small"));
    assert_eq!(footprint["vm"][1].volumes, Some([("data".to_string(), 10)].into()));

    let mut big = small.clone();
    big.nodes[0].flavor = flavor("g1.large", 8, 32768, 2);
    big.nodes[0].count = 1;
    big.nodes[0].volumes[0].size_gb = 30;
    d.update(&big).await.unwrap();
    d.update(&big).await.unwrap(); // a replay changes nothing more
    let states: BTreeMap<String, String> =
        d.resources("a1").await.unwrap().into_iter().map(|r| (r.name, r.state)).collect();
    assert_eq!(states["vm-0"], "RESIZE");
    assert_eq!(states["vm-0-data"], "extending");
    assert!(!states.contains_key("vm-1"), "the newest server goes: {states:?}");
    let AttemptState::Building { detail } = d.update_status(&big).await.unwrap() else { panic!("not resizing") };
    assert_eq!(detail, "0/1 server ACTIVE");
    let quota = d.project_quota("physics").await.unwrap().unwrap();
    assert_eq!((quota.used.gpus, quota.used.volume_gb), (2, 30), "the new flavor and size count at once");
    d.advance_clock(HOUR);
    assert!(matches!(d.update_status(&big).await.unwrap(), AttemptState::Ready { .. }));
    // Asking for the old size again: a volume does not shrink, and the
    // refusal changes nothing.
    let before = d.inventory().await.unwrap();
    let err = d.update(&small).await.unwrap_err();
    assert_eq!(err, DriverError::invalid("volume vm-0-data is 30 GB on sim-bari; a volume cannot shrink to 10 GB"));
    assert_eq!(d.inventory().await.unwrap(), before);
    // Before the site has done it, a request is not what it holds.
    let AttemptState::Building { detail } = d.update_status(&small).await.unwrap() else { panic!("not compared") };
    assert!(
        detail.contains("node vm has 1 of 2 servers") && detail.contains("vm-0 is g1.large, not m1.small"),
        "{detail}"
    );
    drop(d);

    let d = SimDriver::open(&spec(), slow(), Some(dir.path())).unwrap();
    d.advance_clock(2 * HOUR); // a new site's clock starts at the wall clock again
    let footprint = d.footprint("a1").await.unwrap();
    assert_eq!(footprint["vm"][0].flavor.as_deref(), Some("g1.large"));
    assert_eq!(footprint["vm"][0].volumes, Some([("data".to_string(), 30)].into()));
    assert!(matches!(d.update_status(&big).await.unwrap(), AttemptState::Ready { .. }));
}

#[tokio::test]
async fn unavailable_site_answers_unavailable_everywhere() {
    let d = sim(slow());
    d.create(&request("a1", vec![node("vm", 1)])).await.unwrap();
    d.set_unavailable(true);
    let req = request("a2", vec![node("vm", 1)]);
    assert!(matches!(d.create(&req).await, Err(DriverError::Unavailable(_))));
    assert!(matches!(d.update(&req).await, Err(DriverError::Unavailable(_))));
    assert!(matches!(d.status("a1").await, Err(DriverError::Unavailable(_))));
    assert!(matches!(d.delete("a1").await, Err(DriverError::Unavailable(_))));
    assert!(matches!(d.resources("a1").await, Err(DriverError::Unavailable(_))));
    assert!(matches!(d.inventory().await, Err(DriverError::Unavailable(_))));
    assert!(matches!(d.project_quota("physics").await, Err(DriverError::Unavailable(_))));
    d.set_unavailable(false);
    assert_eq!(d.inventory().await.unwrap().len(), 5);
}

#[tokio::test]
async fn same_seed_same_run() {
    let run = |seed: u64| async move {
        let d = sim(SimSettings { seed, failure_probability: 0.5, create_latency_ms: 0, ..slow() });
        let mut outcome = Vec::new();
        for i in 0..16 {
            let id = format!("a{i}");
            let mut req = request(&id, vec![node("vm", 1)]);
            req.project = "chemistry".into();
            d.create(&req).await.unwrap();
            outcome.push(d.status(&id).await.unwrap());
        }
        (outcome, d.inventory().await.unwrap())
    };
    let (a, inv_a) = run(3).await;
    let (b, inv_b) = run(3).await;
    assert_eq!(a, b);
    assert_eq!(inv_a, inv_b);
    let failed = a.iter().filter(|s| matches!(s, AttemptState::Failed { .. })).count();
    assert!(failed > 0 && failed < 16, "{failed} of 16 failed");

    let (c, inv_c) = run(4).await;
    // Ids do not depend on the seed; draws and addresses do.
    let ids = |inv: &[Resource]| inv.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&inv_a), ids(&inv_c));
    assert_ne!(a, c);
}

#[test]
fn settings_come_from_toml_and_are_checked() {
    let s: SimSettings =
        toml::from_str("seed = 42\ncreate_latency_ms = 10\nfailure_probability = 0.25\nfail_creates = true\n").unwrap();
    assert_eq!(s.seed, 42);
    assert_eq!(s.create_latency_ms, 10);
    assert_eq!(s.delete_latency_ms, SimSettings::default().delete_latency_ms);
    assert!(s.fail_creates);
    assert!(toml::from_str::<SimSettings>("sed = 1").is_err());

    let bad = SimSettings { failure_probability: 1.5, ..SimSettings::default() };
    let err = SimDriver::open(&spec(), bad, None).unwrap_err();
    assert!(matches!(err, SimError::InvalidSettings(_)));
    assert!(err.to_string().contains("failure_probability"), "{err}");
    let bad = SimSettings { public_cidr: "203.0.113.0".into(), ..SimSettings::default() };
    assert!(SimDriver::open(&spec(), bad, None).is_err());

    let d = sim(SimSettings::default());
    assert!(d.set_failure_probability(f64::NAN).is_err());
    assert!(d.set_failure_probability(-0.1).is_err());
    d.set_failure_probability(0.5).unwrap();
    d.set_latency(5, 6);
    assert_eq!(d.settings().failure_probability, 0.5);
    assert_eq!(d.settings().create_latency_ms, 5);
    assert_eq!(d.settings().delete_latency_ms, 6);
}

#[test]
fn settings_come_from_the_provider_spec() {
    let mut with = spec();
    assert_eq!(SimSettings::from_spec(&with).unwrap(), SimSettings::default());
    with.settings = Some(serde_json::json!({"seed": 9, "failure_probability": 0.5}));
    let s = SimSettings::from_spec(&with).unwrap();
    assert_eq!((s.seed, s.failure_probability), (9, 0.5));
    with.settings = Some(serde_json::json!({"failure_probability": 2.0}));
    assert!(SimSettings::from_spec(&with).is_err());
    with.settings = Some(serde_json::json!({"latency": 2}));
    let err = SimSettings::from_spec(&with).unwrap_err();
    assert!(err.to_string().contains("latency"), "{err}");
}

#[tokio::test]
async fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let open = || SimDriver::open(&spec(), slow(), Some(dir.path())).unwrap();
    let d = open();
    d.create(&request("a1", vec![node("vm", 2)])).await.unwrap();
    d.create(&request("a2", vec![node("vm", 1)])).await.unwrap();
    d.create(&request("a3", vec![node("vm", 1)])).await.unwrap();
    d.update(&request("a2", vec![node("vm", 2)])).await.unwrap();
    assert_eq!(d.delete("a3").await.unwrap(), DeleteState::InProgress);
    let before = d.inventory().await.unwrap();
    drop(d);

    let d = open();
    assert_eq!(d.inventory().await.unwrap(), before);
    assert_eq!(read_inventory(dir.path(), "sim-bari").unwrap(), before);
    assert_eq!(d.delete("a3").await.unwrap(), DeleteState::InProgress);
    // Replays after a restart still cannot duplicate anything.
    d.create(&request("a1", vec![node("vm", 2)])).await.unwrap();
    assert_eq!(d.inventory().await.unwrap(), before);
    drop(d);

    assert!(read_inventory(dir.path(), "other-site").unwrap().is_empty());
}

/// Replicas of nuvola in front of one simulated federation: two drivers
/// on one home see each other's changes at their next call, an attempt
/// created through one is not created again through the other, and a
/// line torn by a writer killed mid-write is cut off by the next caller.
#[tokio::test]
async fn drivers_sharing_a_home_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let settings = SimSettings { call_log: true, ..slow() };
    let first = SimDriver::open(&spec(), settings.clone(), Some(dir.path())).unwrap();
    let second = SimDriver::open(&spec(), settings.clone(), Some(dir.path())).unwrap();
    first.create(&request("a1", vec![node("vm", 2)])).await.unwrap();
    let held = first.inventory().await.unwrap();
    assert_eq!(second.inventory().await.unwrap(), held);
    // The replay of a create through the other replica adds nothing.
    second.create(&request("a1", vec![node("vm", 2)])).await.unwrap();
    assert_eq!(first.inventory().await.unwrap(), held);
    let calls = std::fs::read_to_string(dir.path().join("sim-bari.calls")).unwrap();
    let added: Vec<u64> = calls
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["added"].as_u64().unwrap())
        .collect();
    assert_eq!(added.len(), 2);
    assert!(added[0] > 0 && added[1] == 0, "{calls}");

    // A third opens it (and compacts the file under the others' feet).
    let third = SimDriver::open(&spec(), settings, Some(dir.path())).unwrap();
    assert_eq!(second.delete("a1").await.unwrap(), DeleteState::InProgress);
    assert_eq!(third.delete("a1").await.unwrap(), DeleteState::InProgress, "the delete is seen");
    second.create(&request("a2", vec![node("vm", 1)])).await.unwrap();

    // A writer killed mid-line: the next call cuts the torn line off and
    // appends after it.
    let journal = dir.path().join("sim-bari.journal");
    let mut f = std::fs::OpenOptions::new().append(true).open(&journal).unwrap();
    f.write_all(br#"{"event":"created","attempt_id":"a2","id":"#).unwrap();
    drop(f);
    first.create(&request("a3", vec![node("vm", 1)])).await.unwrap();
    let everywhere = first.inventory().await.unwrap();
    assert_eq!(second.inventory().await.unwrap(), everywhere);
    assert_eq!(third.inventory().await.unwrap(), everywhere);
    assert_eq!(read_inventory(dir.path(), "sim-bari").unwrap(), everywhere);
    let attempts: std::collections::BTreeSet<_> = everywhere.iter().map(|r| r.attempt_id.clone()).collect();
    assert_eq!(attempts.into_iter().collect::<Vec<_>>(), ["a1", "a2", "a3"]);
}

#[tokio::test]
async fn torn_last_line_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let open = || SimDriver::open(&spec(), slow(), Some(dir.path())).unwrap();
    let d = open();
    d.create(&request("a1", vec![node("vm", 1)])).await.unwrap();
    let before = d.inventory().await.unwrap();
    drop(d);

    let journal = dir.path().join("sim-bari.journal");
    let mut f = std::fs::OpenOptions::new().append(true).open(&journal).unwrap();
    f.write_all(br#"{"event":"created","attempt_id":"a1","id":"#).unwrap();
    drop(f);
    assert_eq!(read_inventory(dir.path(), "sim-bari").unwrap(), before);

    let d = open();
    assert_eq!(d.inventory().await.unwrap(), before);
    d.create(&request("a2", vec![node("vm", 1)])).await.unwrap();
    let after = d.inventory().await.unwrap();
    drop(d);
    assert_eq!(open().inventory().await.unwrap(), after);
}

#[tokio::test]
async fn damaged_middle_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("sim-bari.journal");
    std::fs::write(&journal, "not json\n{\"event\":\"gone\",\"attempt_id\":\"x\"}\n").unwrap();
    let err = SimDriver::open(&spec(), slow(), Some(dir.path())).unwrap_err();
    assert!(matches!(err, SimError::Journal { line: 1, .. }), "{err}");
}

#[tokio::test]
async fn journal_of_another_provider_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = SimDriver::open(&spec(), slow(), Some(dir.path())).unwrap();
    d.create(&request("a1", vec![node("vm", 1)])).await.unwrap();
    drop(d);
    std::fs::rename(dir.path().join("sim-bari.journal"), dir.path().join("sim-roma.journal")).unwrap();
    let mut roma = spec();
    roma.name = "sim-roma".into();
    assert!(SimDriver::open(&roma, slow(), Some(dir.path())).is_err());
    assert!(read_inventory(dir.path(), "../etc").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_attempts_are_all_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = Arc::new(SimDriver::open(&spec(), slow(), Some(dir.path())).unwrap());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let d = Arc::clone(&d);
            tokio::spawn(async move {
                let mut req = request(&format!("a{i}"), vec![node("vm", 1)]);
                req.project = "chemistry".into();
                d.create(&req).await.unwrap();
                d.create(&req).await.unwrap();
                if i % 2 == 0 {
                    d.delete(&req.attempt_id).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    d.advance_clock(HOUR);
    let inv = d.inventory().await.unwrap();
    assert_eq!(count(&inv, ResourceKind::Server), 100);
    assert_eq!(inv.len(), 500);
    let mut addresses = std::collections::HashSet::new();
    for i in (1..200).step_by(2) {
        let AttemptState::Ready { nodes } = d.status(&format!("a{i}")).await.unwrap() else { panic!("a{i} not ready") };
        let vm = &nodes["vm"][0];
        assert!(addresses.insert(vm.private_address.clone()));
        assert!(addresses.insert(vm.public_address.clone().unwrap()));
    }
    drop(d);
    // Completed deletes were journaled: a fresh reader sees the same site.
    assert_eq!(read_inventory(dir.path(), "sim-bari").unwrap().len(), 500);
}

/// With real (small) latencies: polls until ready, with a generous deadline
/// that only a hung driver would miss.
#[tokio::test]
async fn real_time_build_and_delete() {
    let d =
        sim(SimSettings { create_latency_ms: 20, delete_latency_ms: 20, api_latency_ms: 1, ..SimSettings::default() });
    d.create(&request("a1", vec![node("vm", 1)])).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match d.status("a1").await.unwrap() {
            AttemptState::Ready { .. } => break,
            AttemptState::Building { .. } => {}
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "never became ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while d.delete("a1").await.unwrap() == DeleteState::InProgress {
        assert!(Instant::now() < deadline, "never went away");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(d.inventory().await.unwrap().is_empty());
}

/// The site outlives a SIGKILL: a child process creates attempts and
/// reports each one after `create` returned; once it is killed mid-flight,
/// every reported attempt is found whole, and nothing is duplicated.
#[test]
fn creates_survive_sigkill() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    const CHILD: &str = "NUVOLA_SIM_SIGKILL_CHILD_DIR";
    if let Ok(dir) = std::env::var(CHILD) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let d = SimDriver::open(&spec(), slow(), Some(Path::new(&dir))).unwrap();
            for i in 0..200 {
                let mut req = request(&format!("a{i}"), vec![node("vm", 1)]);
                req.project = "chemistry".into();
                d.create(&req).await.unwrap();
                let mut out = std::io::stdout().lock();
                writeln!(out, "created a{i}").unwrap();
                out.flush().unwrap();
            }
        });
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "creates_survive_sigkill", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reported = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while reported.len() < 40 {
        let line = lines.next().expect("child stopped early").unwrap();
        if let Some(id) = line.strip_prefix("created ") {
            reported.push(id.to_owned());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let inv = read_inventory(dir.path(), "sim-bari").unwrap();
    for id in &reported {
        let held = inv.iter().filter(|r| &r.attempt_id == id).count();
        assert_eq!(held, 5, "attempt {id} holds {held} resources");
    }
    let ids: std::collections::HashSet<_> = inv.iter().map(|r| &r.id).collect();
    assert_eq!(ids.len(), inv.len(), "no duplicates");
    let d = SimDriver::open(&spec(), slow(), Some(dir.path())).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(d.inventory()).unwrap(), inv);
}

#[test]
fn floating_ips_come_from_the_public_network_unless_settings_say_otherwise() {
    let spec: nuvola_types::ProviderSpec = serde_json::from_value(serde_json::json!({
        "name": "site", "driver": "sim", "endpoint": "https://site.example",
        "networks": [{"name": "ext", "kind": "public", "cidr": "198.51.100.0/28"}],
    }))
    .unwrap();
    assert_eq!(nuvola_drivers::sim::SimSettings::from_spec(&spec).unwrap().public_cidr, "198.51.100.0/28");
    let mut explicit = spec.clone();
    explicit.settings = Some(serde_json::json!({"public_cidr": "198.18.0.0/15"}));
    assert_eq!(nuvola_drivers::sim::SimSettings::from_spec(&explicit).unwrap().public_cidr, "198.18.0.0/15");
}

/// A probe reads the site and the group's quota, and fails every check
/// while the site is down, saying so.
#[tokio::test]
async fn probes_see_a_site_go_down_and_come_back() {
    let d = sim(slow());
    let outcomes = |checks: &[nuvola_drivers::Check]| -> Vec<(&str, bool)> {
        checks.iter().map(|c| (c.probe, c.outcome.is_ok())).collect()
    };
    let checks = d.probe(Some("physics")).await;
    assert_eq!(outcomes(&checks), [("api", true), ("quota", true)], "{checks:?}");
    assert_eq!(checks[1].outcome.as_ref().unwrap(), "physics: 0 of 10 instances used");
    d.set_unavailable(true);
    let checks = d.probe(Some("physics")).await;
    assert_eq!(outcomes(&checks), [("api", false), ("quota", false)], "{checks:?}");
    let said = checks[0].outcome.as_ref().unwrap_err().to_string();
    assert!(said.contains("simulated outage"), "{said}");
    d.set_unavailable(false);
    assert_eq!(outcomes(&d.probe(None).await), [("api", true)]);
}
