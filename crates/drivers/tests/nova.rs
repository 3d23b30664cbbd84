//! The OpenStack driver end to end against a real Nova (fake virt driver),
//! Placement, Glance and Neutron (ML2/OVN), registered in the real
//! Keystone: `.ci/cloud.sh` starts them through `.ci/nova.sh` and exports
//! `NUVOLA_TEST_NOVA=1`. Without it the tests skip, saying why; under
//! `CI=true` they fail instead.
//!
//! The fake virt driver boots nothing, but every API the driver calls is
//! the real one: Nova schedules through Placement, Neutron binds ports on
//! the OVN chassis of the compute host, routers and floating IPs are real
//! Neutron objects, volumes and attachments are Cinder's own (its fake
//! volume driver makes no block device).

use std::time::Duration;

use nuvola_drivers::http::Replay;
use nuvola_drivers::openstack::{OpenStackDriver, OpenStackSettings, keypair_name};
use nuvola_drivers::testing::{Recorder, nova_keystone_url, nova_settings, nova_spec, service};
use nuvola_drivers::{
    AttemptState, Credential, DeleteState, Driver, DriverError, NodeProvision, NodeSetup, OsUser, ProvisionRequest,
    ResourceKind, VolumeProvision, settle,
};
use nuvola_types::{Flavor, NetworkKind, PortRequirement};
use reqwest::Method;
use serde_json::{Value, json};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGgmNWi8ccvLYzUYSfzTfnXf6JCZ3s0ULZ1Ejm0uzHHs alice@nuvola";

fn driver(url: &str, project: &str) -> OpenStackDriver {
    OpenStackDriver::open(&nova_spec(url, "nova-ci"), nova_settings(project)).unwrap()
}

fn flavor(name: &str) -> Flavor {
    serde_json::from_value(json!({"name": name, "vcpus": 1, "ram_mb": 512, "disk_gb": 1})).unwrap()
}

fn node(name: &str, count: u32, network: NetworkKind) -> NodeProvision {
    NodeProvision {
        name: name.into(),
        count,
        flavor: flavor("m1.tiny"),
        image: "cirros".into(),
        volumes: Vec::new(),
        ports: Vec::new(),
        network,
        public_ip: false,
        setup: NodeSetup::default(),
    }
}

fn request(nodes: Vec<NodeProvision>) -> ProvisionRequest {
    let attempt = uuid::Uuid::new_v4().to_string();
    ProvisionRequest {
        deployment_id: format!("dep-{}", &attempt[..8]),
        attempt_id: attempt,
        project: "admin".into(),
        nodes,
        template: None,
        inputs: Default::default(),
    }
}

/// Ingress on TCP ports `port..=port_end` from `remote_cidr`.
fn tcp(name: &str, port: u16, port_end: u16, remote_cidr: &str) -> PortRequirement {
    PortRequirement { name: name.into(), port, port_end, protocol: "tcp".into(), remote_cidr: remote_cidr.into() }
}

async fn get(d: &OpenStackDriver, service: &str, path: &str) -> Value {
    let reply = d.api(service, Method::GET, path, Replay::Safe, None).await.unwrap();
    assert!(reply.ok(), "GET {service} {path}: {} {}", reply.status, reply.body);
    reply.json(service).unwrap()
}

/// Deletes until the provider holds nothing, then checks that directly
/// through Nova and Neutron, floating IPs and the key pair included.
async fn delete_and_check_gone(d: &OpenStackDriver, attempt: &str) {
    let mut rounds = 0;
    while d.delete(attempt).await.unwrap() == DeleteState::InProgress {
        rounds += 1;
        assert!(rounds < 300, "attempt {attempt} still deleting after {rounds} rounds");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(d.resources(attempt).await.unwrap(), Vec::new());
    assert_eq!(d.status(attempt).await.unwrap(), AttemptState::Absent);
    let description = format!("nuvola-attempt:{attempt}");
    for what in ["floatingips", "security-groups", "networks", "subnets", "routers"] {
        let v = get(d, "network", &format!("/v2.0/{what}")).await;
        let left: Vec<&Value> = v[what.replace('-', "_")]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["description"] == description.as_str())
            .collect();
        assert!(left.is_empty(), "{what} left behind: {left:?}");
    }
    let servers = get(d, "compute", "/servers/detail").await;
    assert!(
        !servers["servers"].as_array().unwrap().iter().any(|s| s["metadata"]["nuvola_attempt"] == attempt),
        "a server is left behind"
    );
    let reply = d
        .api("compute", Method::GET, &format!("/os-keypairs/{}", keypair_name(attempt)), Replay::Safe, None)
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 404, "the key pair is left behind: {}", reply.body);
    assert!(!d.inventory().await.unwrap().iter().any(|r| r.attempt_id == attempt));
}

async fn ready(d: &OpenStackDriver, attempt: &str) -> AttemptState {
    settle(d, attempt, Duration::from_millis(300), Duration::from_secs(3), Duration::from_secs(180)).await.unwrap()
}

#[tokio::test]
async fn quotas_and_catalog_come_from_the_real_nova() {
    let Some(url) = nova_keystone_url() else { return };
    let project = small_project(&url).await;
    let driver = driver(&url, &project);
    for service in ["compute", "image", "placement", "network"] {
        driver.endpoint(service).await.unwrap_or_else(|e| panic!("{service}: {e}"));
    }
    let quota = driver.project_quota(&project).await.unwrap().unwrap();
    assert_eq!(quota.limits.instances, Some(1), "set by the test through Nova: {quota:?}");
    assert!(quota.limits.cores.is_some_and(|c| c > 0), "{quota:?}");
    assert!(quota.limits.ram_mb.is_some_and(|r| r > 0), "{quota:?}");
    assert!(quota.limits.public_ips.is_some_and(|p| p > 0), "Neutron's floating IP quota: {quota:?}");
    assert!(quota.limits.volumes.is_some_and(|v| v > 0), "Cinder's volume quota: {quota:?}");
    assert_eq!((quota.used.instances, quota.used.public_ips, quota.used.volumes), (0, 0, 0), "{quota:?}");
    // A probe authenticates, lists Nova's flavors and reads the quota.
    let checks = driver.probe(Some(&project)).await;
    let probes: Vec<_> = checks.iter().map(|c| (c.probe, c.outcome.is_ok())).collect();
    assert_eq!(probes, [("auth", true), ("api", true), ("quota", true)], "{checks:?}");
    assert!(checks[1].outcome.as_ref().unwrap().ends_with(" flavors"), "{checks:?}");
}

/// A public node with a security group, cloud-init from the template and a
/// floating IP, next to two nodes on the deployment's own network behind its
/// own router, one of them with a floating IP there: created, polled to
/// ready (addresses and the login account reported), its console read,
/// then deleted without leaving anything.
#[tokio::test]
async fn servers_networks_and_floating_ips_end_to_end() {
    let Some(url) = nova_keystone_url() else { return };
    let d = driver(&url, "admin");
    let mut web = node("web", 1, NetworkKind::Public);
    web.ports = vec![tcp("ssh", 22, 22, "10.1.0.0/16"), tcp("http", 8000, 8010, "0.0.0.0/0")];
    web.setup = NodeSetup {
        users: vec![OsUser { name: "alice".into(), ssh_key: Some(KEY.into()), sudo: true, uid: None }],
        ssh_keys: Vec::new(),
        packages: vec!["htop".into()],
        login: Some("alice".into()),
    };
    web.volumes = vec![VolumeProvision { name: "data".into(), size_gb: 2, volume_type: Some("standard".into()) }];
    // A front end on the deployment's own network, public too (an INDIGO
    // template's Ports to an isolated and a public network).
    let gateway = NodeProvision { public_ip: true, ..node("gateway", 1, NetworkKind::Isolated) };
    let req = request(vec![web, node("worker", 1, NetworkKind::Isolated), gateway]);
    let attempt = req.attempt_id.clone();
    d.create(&req).await.unwrap();
    d.create(&req).await.unwrap(); // a replay creates nothing more
    let state = ready(&d, &attempt).await;
    let AttemptState::Ready { nodes } = state else { panic!("not ready: {state:?}") };
    let web = &nodes["web"][0];
    let public = web.public_address.as_deref().expect("a floating IP");
    assert!(public.starts_with("172.24.4."), "{public}");
    assert!(web.private_address.starts_with("10.0.0."), "{}", web.private_address);
    assert_eq!(web.credential, Some(Credential::account("alice")));
    let worker = &nodes["worker"][0];
    assert!(worker.private_address.starts_with("192.168.80."), "{}", worker.private_address);
    assert_eq!((&worker.public_address, &worker.credential), (&None, &None));
    let gateway = &nodes["gateway"][0];
    assert!(gateway.private_address.starts_with("192.168.80."), "{}", gateway.private_address);
    let gateway_ip = gateway.public_address.as_deref().expect("a floating IP on the deployment's network");
    assert!(gateway_ip.starts_with("172.24.4."), "{gateway_ip}");

    let held = d.resources(&attempt).await.unwrap();
    let count = |k| held.iter().filter(|r| r.kind == k).count();
    assert_eq!(count(ResourceKind::Server), 3, "{held:?}");
    assert_eq!(count(ResourceKind::FloatingIp), 2, "{held:?}");
    assert_eq!(count(ResourceKind::SecurityGroup), 1, "{held:?}");
    assert_eq!(count(ResourceKind::Network), 2, "network and router: {held:?}");
    assert_eq!(count(ResourceKind::Port), 3, "{held:?}");
    assert_eq!(count(ResourceKind::Volume), 1, "{held:?}");
    // Neutron holds each floating IP on its server's port.
    let fips = get(&d, "network", &format!("/v2.0/floatingips?floating_ip_address={gateway_ip}")).await;
    let port = fips["floatingips"][0]["port_id"].as_str().expect("associated with a port");
    let port = get(&d, "network", &format!("/v2.0/ports/{port}")).await;
    assert_eq!(port["port"]["device_id"], gateway.id.as_str(), "{port}");

    // The volume: of the requested size and type, attached to the server.
    let volumes = get(&d, "volumev3", "/volumes/detail").await;
    let volume = volumes["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["metadata"]["nuvola_attempt"] == attempt.as_str())
        .unwrap();
    assert_eq!((volume["size"].as_u64(), volume["volume_type"].as_str()), (Some(2), Some("standard")), "{volume}");
    assert_eq!(volume["status"], "in-use", "{volume}");
    assert_eq!(volume["attachments"][0]["server_id"], web.id.as_str(), "{volume}");

    // What Nova holds: tags, key pair, the generated cloud-config.
    let server = get(&d, "compute", &format!("/servers/{}", web.id)).await;
    let server = &server["server"];
    assert_eq!(server["key_name"], keypair_name(&attempt).as_str());
    let tags: Vec<&str> = server["tags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(tags.contains(&format!("nuvola-attempt:{attempt}").as_str()), "{tags:?}");
    assert!(tags.contains(&format!("nuvola-deployment:{}", req.deployment_id).as_str()), "{tags:?}");
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(server["OS-EXT-SRV-ATTR:user_data"].as_str().expect("user_data shown to admins"))
        .unwrap();
    let data = String::from_utf8(data).unwrap();
    let config: Value = serde_json::from_str(data.strip_prefix("#cloud-config\n").unwrap()).unwrap();
    assert_eq!(config["users"][1]["name"], "alice");
    assert_eq!(config["users"][1]["ssh_authorized_keys"][0], KEY);
    assert_eq!(config["packages"][0], "htop");

    // One rule per declared port, with its remote CIDR.
    let groups = get(&d, "network", &format!("/v2.0/security-groups?name=nuvola-{attempt}-web")).await;
    let rules = groups["security_groups"][0]["security_group_rules"].as_array().unwrap();
    let ingress: Vec<(i64, i64, &str)> = rules
        .iter()
        .filter(|r| r["direction"] == "ingress" && r["remote_ip_prefix"].is_string())
        .map(|r| {
            (
                r["port_range_min"].as_i64().unwrap(),
                r["port_range_max"].as_i64().unwrap(),
                r["remote_ip_prefix"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ingress.len(), 2, "{rules:?}");
    assert!(ingress.contains(&(22, 22, "10.1.0.0/16")), "{ingress:?}");
    assert!(ingress.contains(&(8000, 8010, "0.0.0.0/0")), "{ingress:?}");

    let console = d.console_log(&attempt).await.unwrap();
    assert_eq!(console.len(), 3, "{console:?}");
    assert!(console.iter().all(|c| c.text.contains("FAKE CONSOLE OUTPUT")), "{console:?}");
    assert!(d.inventory().await.unwrap().iter().any(|r| r.attempt_id == attempt));

    delete_and_check_gone(&d, &attempt).await;
}

/// Every listing follows its pages to the end. With one item a page, a
/// node of three public servers on the second flavor Nova lists, each with
/// a volume, is created, reported ready with its three floating IPs,
/// replayed without making anything twice, listed whole and deleted
/// without leaving anything; the inventory finds an orphaned volume pages
/// deep (Cinder lists the newest first). Reading only the first page, the
/// flavor was not found (and, on the first flavor, the attempt was ready
/// with one server of three).
#[tokio::test]
async fn listings_follow_every_page() {
    let Some(url) = nova_keystone_url() else { return };
    let settings = OpenStackSettings { page_size: Some(1), ..nova_settings("admin") };
    let d = OpenStackDriver::open(&nova_spec(&url, "nova-paged"), settings).unwrap();
    let orphan = uuid::Uuid::new_v4().to_string();
    let body = json!({"volume": {"name": format!("nuvola-{orphan}-vm-0-data"), "size": 1,
        "metadata": {"nuvola_attempt": orphan, "nuvola_deployment": "dep-orphan", "nuvola_server": "gone"}}});
    let reply = d.api("volumev3", Method::POST, "/volumes", Replay::Unsafe, Some(&body)).await.unwrap();
    assert!(reply.ok(), "{} {}", reply.status, reply.body);

    let flavors = get(&d, "compute", "/flavors").await;
    let second = flavors["flavors"][1]["name"].as_str().expect("Nova lists two flavors").to_string();
    let mut web = node("web", 3, NetworkKind::Public);
    web.flavor = flavor(&second);
    web.volumes = vec![VolumeProvision { name: "data".into(), size_gb: 1, volume_type: Some("standard".into()) }];
    web.ports = vec![tcp("ssh", 22, 22, "0.0.0.0/0")];
    let req = request(vec![web]);
    let attempt = req.attempt_id.clone();
    d.create(&req).await.unwrap();
    let AttemptState::Ready { nodes } = ready(&d, &attempt).await else { panic!("not ready") };
    assert_eq!(nodes["web"].len(), 3, "{nodes:?}");
    assert!(nodes["web"].iter().all(|n| n.public_address.is_some()), "{nodes:?}");
    d.create(&req).await.unwrap(); // a replay finds all of it

    let held = d.resources(&attempt).await.unwrap();
    let count = |k| held.iter().filter(|r| r.kind == k).count();
    let kinds = [ResourceKind::Server, ResourceKind::Volume, ResourceKind::FloatingIp, ResourceKind::Port];
    assert_eq!(kinds.map(count), [3, 3, 3, 3], "servers, volumes, floating IPs, ports: {held:?}");
    // Straight from Nova and Cinder, one page each: nothing made twice.
    let ours = |list: &Value, key: &str| -> Vec<String> {
        let mut names: Vec<String> = list[key]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["metadata"]["nuvola_attempt"] == attempt.as_str())
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    let servers = ours(&get(&d, "compute", "/servers/detail").await, "servers");
    assert_eq!(servers, (0..3).map(|i| format!("nuvola-{attempt}-web-{i}")).collect::<Vec<_>>());
    let volumes = ours(&get(&d, "volumev3", "/volumes/detail").await, "volumes");
    assert_eq!(volumes, (0..3).map(|i| format!("nuvola-{attempt}-web-{i}-data")).collect::<Vec<_>>());

    let inventory = d.inventory().await.unwrap();
    let found = |a: &str, k| inventory.iter().filter(|r| r.attempt_id == a && r.kind == k).count();
    assert_eq!(found(&orphan, ResourceKind::Volume), 1, "the orphaned volume: {inventory:?}");
    assert_eq!(found(&attempt, ResourceKind::Server), 3, "{inventory:?}");
    delete_and_check_gone(&d, &attempt).await;
    delete_and_check_gone(&d, &orphan).await;
}

/// A catalog region of the test's own, on interface `admin` (which the
/// CI cloud's services lack, so no other driver picks it): the real Nova,
/// Neutron and Glance, and Cinder through a [`Recorder`]. Removed at the
/// end of a test that passes.
struct ProxiedRegion {
    id: String,
    endpoints: Vec<String>,
    cinder: Recorder,
}

impl ProxiedRegion {
    async fn start(admin: &OpenStackDriver) -> ProxiedRegion {
        let id = format!("nuvola-proxied-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        identity_call(admin, Method::POST, "/regions", json!({"region": {"id": id}})).await;
        let mut cinder = None;
        let mut endpoints = Vec::new();
        for kind in ["compute", "network", "image", "volumev3"] {
            let services = get(admin, "identity", &format!("/services?type={kind}")).await;
            let service = services["services"][0]["id"].as_str().expect("a catalog service").to_string();
            let listed = get(admin, "identity", &format!("/endpoints?service_id={service}&interface=public")).await;
            let real = listed["endpoints"].as_array().unwrap().iter().find(|e| e["region_id"] == "RegionOne");
            let mut url = real.and_then(|e| e["url"].as_str()).expect("a RegionOne endpoint").to_string();
            if kind == "volumev3" {
                let rest = url.strip_prefix("http://").expect("an http endpoint");
                let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
                let recorder = Recorder::start(authority).await;
                url = format!("{}/{path}", recorder.url());
                cinder = Some(recorder);
            }
            let body = json!({"endpoint": {"service_id": service, "interface": "admin", "region_id": id, "url": url}});
            let made = identity_call(admin, Method::POST, "/endpoints", body).await;
            endpoints.push(made["endpoint"]["id"].as_str().unwrap().to_string());
        }
        ProxiedRegion { id, endpoints, cinder: cinder.expect("a Cinder endpoint") }
    }

    /// Settings for the CI cloud's admin through this region.
    fn settings(&self) -> OpenStackSettings {
        OpenStackSettings { region: Some(self.id.clone()), interface: "admin".into(), ..nova_settings("admin") }
    }

    async fn remove(self, admin: &OpenStackDriver) {
        for endpoint in &self.endpoints {
            identity_call(admin, Method::DELETE, &format!("/endpoints/{endpoint}"), Value::Null).await;
        }
        identity_call(admin, Method::DELETE, &format!("/regions/{}", self.id), Value::Null).await;
    }
}

/// A call to Keystone's API that must succeed; its JSON answer.
async fn identity_call(admin: &OpenStackDriver, method: Method, path: &str, body: Value) -> Value {
    let body = (!body.is_null()).then_some(body);
    let reply = admin.api("identity", method, path, Replay::Unsafe, body.as_ref()).await.unwrap();
    assert!(reply.ok(), "{path}: {} {}", reply.status, reply.body);
    if reply.body.trim().is_empty() { Value::Null } else { reply.json("identity").unwrap() }
}

/// Polls Cinder until volume `id` is `status` (`gone` once deleted).
async fn volume_becomes(d: &OpenStackDriver, id: &str, status: &str) {
    for _ in 0..300 {
        let reply = d.api("volumev3", Method::GET, &format!("/volumes/{id}"), Replay::Safe, None).await.unwrap();
        let now = if reply.status.as_u16() == 404 {
            "gone".to_string()
        } else {
            reply.json::<Value>("volumev3").unwrap()["volume"]["status"].as_str().unwrap_or_default().to_string()
        };
        if now == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("volume {id} never became {status}");
}

/// A listing whose marker is deleted between two of its pages starts
/// over (Cinder refuses the page after a marker it no longer holds, with
/// 404): with one volume a page, the second page waits at a proxy while
/// its marker volume is deleted, and the attempt's two other volumes are
/// listed (the listing failed before).
#[tokio::test]
async fn a_listing_starts_over_when_its_marker_is_deleted() {
    let Some(url) = nova_keystone_url() else { return };
    let admin = driver(&url, "admin");
    let region = ProxiedRegion::start(&admin).await;
    let settings = OpenStackSettings { page_size: Some(1), ..region.settings() };
    let d = OpenStackDriver::open(&nova_spec(&url, "nova-proxied"), settings).unwrap();
    let attempt = uuid::Uuid::new_v4().to_string();
    let mut made = Vec::new();
    for i in 0..3 {
        let body = json!({"volume": {"name": format!("nuvola-{attempt}-vm-{i}-data"), "size": 1,
            "metadata": {"nuvola_attempt": attempt}}});
        let reply = admin.api("volumev3", Method::POST, "/volumes", Replay::Unsafe, Some(&body)).await.unwrap();
        assert!(reply.ok(), "{} {}", reply.status, reply.body);
        made.push(reply.json::<Value>("volumev3").unwrap()["volume"]["id"].as_str().unwrap().to_string());
    }
    for id in &made {
        volume_becomes(&admin, id, "available").await;
    }
    let mut held = region.cinder.hold("marker=");
    let listing = tokio::spawn({
        let (d, attempt) = (d.clone(), attempt.clone());
        async move { d.resources(&attempt).await }
    });
    let line = held.arrived().await;
    let marker = made.iter().find(|id| line.contains(id.as_str())).expect("a volume is the marker").clone();
    let reply = admin.api("volumev3", Method::DELETE, &format!("/volumes/{marker}"), Replay::Safe, None).await.unwrap();
    assert!(reply.ok(), "{} {}", reply.status, reply.body);
    volume_becomes(&admin, &marker, "gone").await;
    held.release();
    let held = listing.await.unwrap().unwrap();
    let mut listed: Vec<&str> = held.iter().filter(|r| r.kind == ResourceKind::Volume).map(|r| r.id.as_str()).collect();
    listed.sort();
    let mut left: Vec<&str> = made.iter().map(String::as_str).filter(|id| *id != marker).collect();
    left.sort();
    assert_eq!(listed, left, "the volumes left: {held:?}");
    delete_and_check_gone(&d, &attempt).await;
    region.remove(&admin).await;
}

/// A create lists the attempt's volumes once, however many it makes or
/// finds (it listed them once per volume: four times for this node of two
/// servers with two volumes each), counted at a proxy in front of the
/// real Cinder.
#[tokio::test]
async fn a_create_lists_its_volumes_once() {
    let Some(url) = nova_keystone_url() else { return };
    let admin = driver(&url, "admin");
    let region = ProxiedRegion::start(&admin).await;
    let d = OpenStackDriver::open(&nova_spec(&url, "nova-proxied"), region.settings()).unwrap();
    let mut vm = node("vm", 2, NetworkKind::Private);
    let volume = |name: &str| VolumeProvision { name: name.into(), size_gb: 1, volume_type: Some("standard".into()) };
    vm.volumes = vec![volume("data"), volume("scratch")];
    let req = request(vec![vm]);
    let sent = |r: &ProxiedRegion| {
        let lines = r.cinder.take();
        let listed = lines.iter().filter(|l| l.starts_with("GET ") && l.contains("/volumes/detail?")).count();
        let made = lines.iter().filter(|l| l.starts_with("POST ") && l.ends_with("/volumes HTTP/1.1")).count();
        (listed, made, lines)
    };
    d.create(&req).await.unwrap();
    let (listed, made, lines) = sent(&region);
    assert_eq!((listed, made), (1, 4), "one listing, four volumes made: {lines:#?}");
    d.create(&req).await.unwrap(); // a replay finds the four
    let (listed, made, lines) = sent(&region);
    assert_eq!((listed, made), (1, 0), "one listing, nothing made: {lines:#?}");
    delete_and_check_gone(&d, &req.attempt_id).await;
    region.remove(&admin).await;
}

/// A project of its own with room for one server, so the second server of
/// the node is refused for quota halfway through the create.
async fn small_project(url: &str) -> String {
    let admin = driver(url, "admin");
    let name = format!("nuvola-quota-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let body = json!({"project": {"name": name, "domain_id": "default"}});
    let project = identity_call(&admin, Method::POST, "/projects", body).await;
    let project_id = project["project"]["id"].as_str().unwrap().to_string();
    let users = get(&admin, "identity", "/users?name=admin").await;
    let user = users["users"][0]["id"].as_str().unwrap().to_string();
    let roles = get(&admin, "identity", "/roles?name=admin").await;
    let role = roles["roles"][0]["id"].as_str().unwrap().to_string();
    identity_call(&admin, Method::PUT, &format!("/projects/{project_id}/users/{user}/roles/{role}"), Value::Null).await;
    let body = json!({"quota_set": {"instances": 1}});
    let reply = admin
        .api("compute", Method::PUT, &format!("/os-quota-sets/{project_id}"), Replay::Safe, Some(&body))
        .await
        .unwrap();
    assert!(reply.ok(), "{} {}", reply.status, reply.body);
    name
}

/// A crash between creating a node's security group and adding its rules
/// left the group empty, and a replay took it as it was: the ports stayed
/// closed. A replay now adds the rules the group lacks, once.
#[tokio::test]
async fn a_replay_completes_a_security_group_left_without_its_rules() {
    let Some(url) = nova_keystone_url() else { return };
    let d = driver(&url, "admin");
    let mut web = node("web", 1, NetworkKind::Private);
    web.ports = vec![tcp("ssh", 22, 22, "10.1.0.0/16"), tcp("http", 8000, 8010, "0.0.0.0/0")];
    let req = request(vec![web]);
    let attempt = req.attempt_id.clone();
    // What the crash left: the group, named and described as the driver
    // makes it, with one of its two rules.
    let body = json!({"security_group": {"name": format!("nuvola-{attempt}-web"), "description": format!("nuvola-attempt:{attempt}")}});
    let reply = d.api("network", Method::POST, "/v2.0/security-groups", Replay::Unsafe, Some(&body)).await.unwrap();
    assert!(reply.ok(), "{}", reply.body);
    let group = reply.json::<Value>("network").unwrap()["security_group"]["id"].as_str().unwrap().to_string();
    let rule = json!({"security_group_rule": {"security_group_id": group, "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.1.0.0/16"}});
    let reply =
        d.api("network", Method::POST, "/v2.0/security-group-rules", Replay::Unsafe, Some(&rule)).await.unwrap();
    assert!(reply.ok(), "{}", reply.body);

    d.create(&req).await.unwrap();
    d.create(&req).await.unwrap(); // and once more: nothing added twice
    let rules = get(&d, "network", &format!("/v2.0/security-group-rules?security_group_id={group}")).await;
    let mut opened: Vec<(u64, u64, String)> = rules["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["direction"] == "ingress" && r["ethertype"] == "IPv4" && r["protocol"] == "tcp")
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (n("port_range_min"), n("port_range_max"), r["remote_ip_prefix"].as_str().unwrap().to_string())
        })
        .collect();
    opened.sort();
    assert_eq!(opened, [(22, 22, "10.1.0.0/16".to_string()), (8000, 8010, "0.0.0.0/0".to_string())]);
    let groups = get(&d, "network", &format!("/v2.0/security-groups?name=nuvola-{attempt}-web")).await;
    assert_eq!(groups["security_groups"].as_array().unwrap().len(), 1, "no second group: {groups:#}");
    delete_and_check_gone(&d, &attempt).await;
}

#[tokio::test]
async fn a_quota_refusal_halfway_leaves_nothing_behind() {
    let Some(url) = nova_keystone_url() else { return };
    let project = small_project(&url).await;
    let d = driver(&url, &project);
    let mut web = node("web", 2, NetworkKind::Isolated);
    web.ports = vec![tcp("ssh", 22, 22, "0.0.0.0/0")];
    web.setup.ssh_keys = vec![KEY.into()];
    let req = request(vec![web]);
    let err = d.create(&req).await.unwrap_err();
    assert!(matches!(&err, DriverError::Quota(m) if m.said.contains("creating server")), "{err:?}");
    // Halfway: one server, the network, router, security group, key pair.
    let held = d.resources(&req.attempt_id).await.unwrap();
    assert_eq!(held.iter().filter(|r| r.kind == ResourceKind::Server).count(), 1, "{held:?}");
    delete_and_check_gone(&d, &req.attempt_id).await;
}

#[tokio::test]
async fn an_unknown_flavor_halfway_leaves_nothing_behind() {
    let Some(url) = nova_keystone_url() else { return };
    let d = driver(&url, "admin");
    let mut bad = node("db", 1, NetworkKind::Private);
    bad.flavor = flavor("no-such-flavor");
    let req = request(vec![node("web", 1, NetworkKind::Public), bad]);
    let err = d.create(&req).await.unwrap_err();
    assert!(matches!(&err, DriverError::Invalid(m) if m.said.contains("no flavor no-such-flavor")), "{err:?}");
    let held = d.resources(&req.attempt_id).await.unwrap();
    assert_eq!(held.iter().filter(|r| r.kind == ResourceKind::Server).count(), 1, "the web server: {held:?}");
    delete_and_check_gone(&d, &req.attempt_id).await;
}

#[tokio::test]
async fn a_volume_type_that_does_not_exist_halfway_leaves_nothing_behind() {
    let Some(url) = nova_keystone_url() else { return };
    let d = driver(&url, "admin");
    let mut good = node("web", 1, NetworkKind::Public);
    good.volumes = vec![VolumeProvision { name: "data".into(), size_gb: 1, volume_type: Some("standard".into()) }];
    good.ports = vec![tcp("ssh", 22, 22, "0.0.0.0/0")];
    let mut bad = node("db", 1, NetworkKind::Isolated);
    bad.volumes = vec![VolumeProvision { name: "data".into(), size_gb: 1, volume_type: Some("no-such-type".into()) }];
    let req = request(vec![good, bad]);
    let err = d.create(&req).await.unwrap_err();
    assert!(matches!(&err, DriverError::Invalid(m) if m.said.contains("no-such-type")), "{err:?}");
    let held = d.resources(&req.attempt_id).await.unwrap();
    let kinds: Vec<ResourceKind> = held.iter().map(|r| r.kind).collect();
    for kind in [ResourceKind::Server, ResourceKind::Volume, ResourceKind::SecurityGroup, ResourceKind::Network] {
        assert!(kinds.contains(&kind), "halfway, {kind:?} exists: {held:?}");
    }
    delete_and_check_gone(&d, &req.attempt_id).await;
    let volumes = get(&d, "volumev3", "/volumes/detail").await;
    assert!(
        !volumes["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["metadata"]["nuvola_attempt"] == req.attempt_id.as_str()),
        "a volume is left behind"
    );
}

/// Not a test on its own: the process `kill_9_mid_create_...` starts and
/// kills. Creates and polls the attempt it is given until killed.
#[tokio::test]
async fn crash_child() {
    let Ok(attempt) = std::env::var("NUVOLA_TEST_CRASH_ATTEMPT") else { return };
    let url = std::env::var("NUVOLA_TEST_KEYSTONE_URL").unwrap();
    let d = driver(&url, "admin");
    let mut req = request(vec![node("web", 2, NetworkKind::Public), node("worker", 1, NetworkKind::Isolated)]);
    req.attempt_id = attempt;
    d.create(&req).await.unwrap();
    loop {
        d.status(&req.attempt_id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A kill -9 of the process creating an attempt, once it holds servers,
/// networks and a floating IP; then a fresh driver in this process cleans
/// up from the attempt id alone.
#[tokio::test]
async fn kill_9_mid_create_then_a_fresh_driver_cleans_up() {
    let Some(url) = nova_keystone_url() else { return };
    let attempt = uuid::Uuid::new_v4().to_string();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture"])
        .env("NUVOLA_TEST_CRASH_ATTEMPT", &attempt)
        .spawn()
        .unwrap();
    let d = driver(&url, "admin");
    let description = format!("nuvola-attempt:{attempt}");
    let mut rounds = 0;
    loop {
        let fips = get(&d, "network", "/v2.0/floatingips").await;
        if fips["floatingips"].as_array().unwrap().iter().any(|f| f["description"] == description.as_str()) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the creating process ended on its own: {status}");
        }
        rounds += 1;
        assert!(rounds < 600, "no floating IP after {rounds} rounds");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // SIGKILL: no destructor, no cleanup of its own.
    child.kill().unwrap();
    child.wait().unwrap();
    let fresh = driver(&url, "admin");
    let held = fresh.inventory().await.unwrap();
    assert!(
        held.iter().any(|r| r.attempt_id == attempt && r.kind == ResourceKind::FloatingIp),
        "the reconciler's inventory reports the orphaned floating IP: {held:?}"
    );
    delete_and_check_gone(&fresh, &attempt).await;
}

/// A site that accepts the federation's issuer: nuvola signs in with an
/// OIDC token exchanged at Keystone (through mod_auth_openidc,
/// `.ci/keystone-oidc.sh`) and deploys in the project the federation
/// mapping gives its identity; the server, its security group and floating
/// IP are the federated project's, and go away on delete.
#[tokio::test]
async fn a_federated_identity_deploys_and_cleans_up() {
    let Some(_) = nova_keystone_url() else { return };
    let how = "source .ci/services.sh and .ci/cloud.sh: .ci/keystone-oidc.sh federates Keystone with the OIDC provider";
    let (Some(url), Some(issuer)) =
        (service("NUVOLA_TEST_KEYSTONE_OIDC_URL", how), service("NUVOLA_TEST_OIDC_ISSUER", how))
    else {
        return;
    };
    let settings = OpenStackSettings {
        project: None,
        username: None,
        password: None,
        oidc: Some(
            serde_json::from_value(json!({"identity_provider": "nuvola-test", "issuer": issuer,
                "client_id": "alice-svc", "client_secret": "secret", "scope": "nuvola"}))
            .unwrap(),
        ),
        ..nova_settings("unused")
    };
    let d = OpenStackDriver::open(&nova_spec(&url, "nova-federated"), settings).unwrap();
    let mut web = node("web", 1, NetworkKind::Public);
    web.ports = vec![tcp("https", 443, 443, "0.0.0.0/0")];
    let mut req = request(vec![web]);
    req.project = "physics".into();
    let attempt = req.attempt_id.clone();
    d.create(&req).await.unwrap();
    let state = ready(&d, &attempt).await;
    let AttemptState::Ready { nodes } = state else { panic!("not ready: {state:?}") };
    assert!(nodes["web"][0].public_address.is_some(), "{nodes:?}");
    let physics = d.project_id().await.unwrap().expect("a scoped token");
    let servers = get(&d, "compute", "/servers/detail").await;
    let server = servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metadata"]["nuvola_attempt"] == attempt.as_str())
        .expect("the server");
    assert_eq!(server["tenant_id"], physics.as_str(), "the server belongs to the federated project");
    let quota = d.project_quota("physics").await.unwrap().expect("Nova's limits");
    assert!(quota.used.instances >= 1, "{quota:?}");
    delete_and_check_gone(&d, &attempt).await;
}

/// Scaling down removes the highest-numbered server with its floating IP
/// and, once Nova has detached it, its volume; scaling up again brings all
/// three back, and delete leaves nothing.
#[tokio::test]
async fn scaling_down_releases_floating_ips_and_volumes() {
    let Some(url) = nova_keystone_url() else { return };
    let d = driver(&url, "admin");
    let mut web = node("web", 2, NetworkKind::Public);
    web.volumes = vec![VolumeProvision { name: "data".into(), size_gb: 1, volume_type: Some("standard".into()) }];
    let mut req = request(vec![web]);
    let attempt = req.attempt_id.clone();
    let held = |d: &OpenStackDriver| {
        let d = d.clone();
        let attempt = attempt.clone();
        async move {
            let fips = get(&d, "network", &format!("/v2.0/floatingips?description=nuvola-attempt:{attempt}")).await;
            let volumes = get(&d, "volumev3", "/volumes/detail").await;
            let ours = |v: &&Value| v["metadata"]["nuvola_attempt"] == attempt.as_str();
            let mut names: Vec<String> = volumes["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(ours)
                .map(|v| v["name"].as_str().unwrap().to_string())
                .collect();
            names.sort();
            (fips["floatingips"].as_array().unwrap().len(), names)
        }
    };
    d.create(&req).await.unwrap();
    let AttemptState::Ready { nodes } = ready(&d, &attempt).await else { panic!("not ready") };
    assert_eq!(nodes["web"].len(), 2);
    assert_eq!(held(&d).await.0, 2);

    req.nodes[0].count = 1;
    d.update(&req).await.unwrap();
    let AttemptState::Ready { nodes } = ready(&d, &attempt).await else { panic!("not ready after scaling down") };
    assert_eq!(nodes["web"].len(), 1);
    let (fips, volumes) = held(&d).await;
    assert_eq!(fips, 1, "the removed server's floating IP is released");
    assert_eq!(volumes, vec![format!("nuvola-{attempt}-web-0-data")], "the removed server's volume is released");
    d.update(&req).await.unwrap(); // the same request again changes nothing
    assert!(matches!(ready(&d, &attempt).await, AttemptState::Ready { .. }));

    req.nodes[0].count = 2;
    d.update(&req).await.unwrap();
    let AttemptState::Ready { nodes } = ready(&d, &attempt).await else { panic!("not ready after scaling up") };
    assert_eq!(nodes["web"].len(), 2);
    assert!(nodes["web"].iter().all(|n| n.public_address.is_some()), "{nodes:?}");
    assert_eq!(
        held(&d).await,
        (2, vec![format!("nuvola-{attempt}-web-0-data"), format!("nuvola-{attempt}-web-1-data")])
    );
    delete_and_check_gone(&d, &attempt).await;
}

/// Polls `update_status` until the site holds what `request` asks for.
async fn converge(d: &OpenStackDriver, request: &ProvisionRequest) -> AttemptState {
    for _ in 0..600 {
        match d.update_status(request).await.unwrap() {
            AttemptState::Building { .. } => tokio::time::sleep(Duration::from_millis(300)).await,
            other => return other,
        }
    }
    panic!("attempt {} never held what was asked: {:?}", request.attempt_id, d.update_status(request).await);
}

/// An update resizes the server with Nova (confirmed once it is
/// VERIFY_RESIZE) and grows its volume in use with Cinder; the update is
/// ready only once Nova and Cinder show the new flavor and size; a
/// volume is never shrunk; delete leaves nothing.
#[tokio::test]
async fn an_update_resizes_the_server_and_grows_its_volume() {
    let Some(url) = nova_keystone_url() else { return };
    let d = driver(&url, "admin");
    let mut vm = node("vm", 1, NetworkKind::Private);
    vm.volumes = vec![VolumeProvision { name: "data".into(), size_gb: 1, volume_type: Some("standard".into()) }];
    let mut req = request(vec![vm]);
    let attempt = req.attempt_id.clone();
    d.create(&req).await.unwrap();
    assert!(matches!(converge(&d, &req).await, AttemptState::Ready { .. }));

    req.nodes[0].flavor =
        serde_json::from_value(json!({"name": "m1.small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 10})).unwrap();
    req.nodes[0].volumes[0].size_gb = 2;
    d.update(&req).await.unwrap();
    d.update(&req).await.unwrap(); // replayed mid-way: nothing is asked twice
    let AttemptState::Ready { nodes } = converge(&d, &req).await else { panic!("the update failed") };
    assert_eq!(nodes["vm"].len(), 1);
    let server = &d.footprint(&attempt).await.unwrap()["vm"][0];
    assert_eq!(server.flavor.as_deref(), Some("m1.small"), "{server:?}");
    assert_eq!(server.volumes, Some([("data".to_string(), 2)].into()), "{server:?}");
    // Straight from Nova and Cinder.
    let servers = get(&d, "compute", "/servers/detail").await;
    let ours =
        servers["servers"].as_array().unwrap().iter().find(|s| s["metadata"]["nuvola_attempt"] == attempt.as_str());
    let ours = ours.expect("the server");
    assert_eq!((ours["status"].as_str(), ours["flavor"]["original_name"].as_str()), (Some("ACTIVE"), Some("m1.small")));
    let volumes = get(&d, "volumev3", "/volumes/detail").await;
    let volume =
        volumes["volumes"].as_array().unwrap().iter().find(|v| v["metadata"]["nuvola_attempt"] == attempt.as_str());
    let volume = volume.expect("the volume");
    assert_eq!((volume["size"].as_u64(), volume["status"].as_str()), (Some(2), Some("in-use")), "{volume:#}");

    req.nodes[0].volumes[0].size_gb = 1;
    let err = d.update(&req).await.unwrap_err();
    assert!(matches!(&err, DriverError::Invalid(m) if m.said.contains("cannot shrink to 1 GB")), "{err:?}");
    delete_and_check_gone(&d, &attempt).await;
}

/// A group with a project of its own on the site: its deployment lands in
/// that project (server, security group, floating IP), its quota is that
/// project's, a fresh process finds the attempt there, and delete empties
/// it; the settings' project sees none of it.
#[tokio::test]
async fn a_group_with_its_own_project_deploys_there() {
    let Some(url) = nova_keystone_url() else { return };
    let other = small_project(&url).await;
    let spec: nuvola_types::ProviderSpec = serde_json::from_value(json!({
        "name": "nova-groups", "driver": "openstack", "endpoint": url,
        "groups": {"physics": {"sla_id": "sla-physics", "project": "admin"},
                   "bio": {"sla_id": "sla-bio", "project": other}}}))
    .unwrap();
    let d = OpenStackDriver::open(&spec, nova_settings("admin")).unwrap();
    let mut web = node("web", 1, NetworkKind::Public);
    web.ports = vec![tcp("ssh", 22, 22, "0.0.0.0/0")];
    let mut req = request(vec![web]);
    req.project = other.clone();
    let attempt = req.attempt_id.clone();
    d.create(&req).await.unwrap();
    let AttemptState::Ready { nodes } = ready(&d, &attempt).await else { panic!("not ready") };
    assert!(nodes["web"][0].public_address.is_some(), "{nodes:?}");

    let in_other = d.in_project(&other);
    let other_id = in_other.project_id().await.unwrap().expect("scoped");
    let holds = |d: OpenStackDriver| {
        let attempt = attempt.clone();
        async move {
            let servers = get(&d, "compute", "/servers/detail").await;
            servers["servers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["metadata"]["nuvola_attempt"] == attempt.as_str())
                .map(|s| s["tenant_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(holds(in_other.clone()).await, vec![other_id.clone()]);
    assert!(holds(d.in_project("admin")).await.is_empty(), "the settings' project holds none of it");
    let quota = d.project_quota(&other).await.unwrap().expect("Nova's limits");
    assert_eq!((quota.limits.instances, quota.used.instances), (Some(1), 1), "{quota:?}");
    let own = d.project_quota("admin").await.unwrap().expect("Nova's limits");
    assert_eq!(own.limits.instances, None, "the admin project has no instance limit: {own:?}");

    // A fresh process (a restart) finds the attempt in its project.
    let fresh = OpenStackDriver::open(&spec, nova_settings("admin")).unwrap();
    assert!(matches!(fresh.status(&attempt).await.unwrap(), AttemptState::Ready { .. }));
    assert!(fresh.inventory().await.unwrap().iter().any(|r| r.attempt_id == attempt && r.project == other_id));
    delete_and_check_gone(&fresh, &attempt).await;
    assert!(holds(in_other).await.is_empty(), "the group's project holds nothing any more");
}
