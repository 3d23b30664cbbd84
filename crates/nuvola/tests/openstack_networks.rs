//! An INDIGO template with Network and Port nodes (`slurm_cluster.yaml` of
//! indigo-dc/tosca-templates, from the in-repo corpus) deployed through the
//! whole server onto a real OpenStack (Keystone, Nova with its fake virt
//! driver, Neutron ML2/OVN; `.ci/cloud.sh`): the front end's floating IP
//! exists on Neutron, on the front end's port, and is in the outputs with
//! the workers' addresses; with `network_type: isolated` and a key in the
//! template, the front end is public on the deployment's own network and
//! the outputs name the account set up for the key, read back from Nova;
//! without a key, they hold the private key of the pair nuvola made, whose
//! public half is in the cloud-config Nova booted the front end with.
//! Deleting the deployments leaves no floating IP, port or server. Needs
//! `NUVOLA_TEST_NOVA=1`; skips without it, fails under `CI=true`.

mod common;

use std::time::{Duration, Instant};

use common::{Server, cli_ok};
use nuvola_drivers::Driver;
use nuvola_drivers::http::Replay;
use nuvola_drivers::openstack::OpenStackDriver;
use nuvola_drivers::testing::{nova_keystone_url, nova_settings, nova_spec};
use reqwest::Method;
use serde_json::{Value, json};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGgmNWi8ccvLYzUYSfzTfnXf6JCZ3s0ULZ1Ejm0uzHHs alice@nuvola";

fn slurm_cluster() -> String {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../tosca/tests/corpus/indigo-dc-tosca-templates/slurm_cluster.yaml");
    std::fs::read_to_string(path).expect("the corpus copy of slurm_cluster.yaml")
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

/// `nuvola serve` with the CI OpenStack as its one provider (its `cirros`
/// image offered as the template's Ubuntu 16.04), and alice's token.
struct Site {
    server: Server,
    token: String,
    http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

impl Site {
    fn start(url: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let config = format!(
            r#"
[workers]
poll_interval_ms = 200

[[providers]]
name = "nova-ci"
driver = "openstack"
endpoint = "{url}"
flavors = [{{ name = "m1.small", vcpus = 1, ram_mb = 2048, disk_gb = 1 }}]
images = [{{ name = "cirros", distribution = "ubuntu", version = "16.04" }}]
networks = [{{ name = "private", kind = "private" }}, {{ name = "public", kind = "public" }}]

[providers.settings]
username = "{}"
password = "{}"
project = "{}"
region = "RegionOne"
network = "private"
floating_network = "public"

[providers.groups.physics]
sla_id = "sla-physics-nova"
"#,
            env_or("NUVOLA_TEST_KEYSTONE_USER", "admin"),
            env_or("NUVOLA_TEST_KEYSTONE_PASSWORD", "nuvola-admin"),
            env_or("NUVOLA_TEST_KEYSTONE_PROJECT", "admin"),
        );
        std::fs::write(cwd.join("nuvola.toml"), config).unwrap();
        let args = ["--config", "nuvola.toml", "--data-dir", "data"];
        let mut issue = vec!["token", "issue", "--user", "alice", "--group", "physics"];
        issue.extend(args);
        let token = cli_ok(cwd, &[], &issue).trim().to_string();
        let server = Server::start(cwd, &args, "serve.log");
        Site { server, token, http: reqwest::blocking::Client::new(), _dir: dir }
    }

    fn url(&self, id: &str) -> String {
        format!("{}/orchestrator/deployments/{id}", self.server.url)
    }

    fn create(&self, template: &str, parameters: Value) -> String {
        let created = self
            .http
            .post(format!("{}/orchestrator/deployments", self.server.url))
            .bearer_auth(&self.token)
            .json(&json!({"template": template, "parameters": parameters}))
            .send()
            .unwrap();
        assert_eq!(created.status(), 201, "{}", created.text().unwrap_or_default());
        created.json::<Value>().unwrap()["uuid"].as_str().unwrap().to_string()
    }

    fn deployment(&self, id: &str) -> Value {
        self.http.get(self.url(id)).bearer_auth(&self.token).send().unwrap().json().unwrap()
    }

    /// Waits for status `want`; a FAILED status or five minutes fail the test.
    fn wait(&self, id: &str, want: &str) -> Value {
        let start = Instant::now();
        loop {
            let d = self.deployment(id);
            if d["status"] == want {
                return d;
            }
            let log = || self.http.get(format!("{}/log", self.url(id))).bearer_auth(&self.token).send();
            assert!(
                start.elapsed() < Duration::from_secs(300) && !d["status"].as_str().unwrap_or("").ends_with("FAILED"),
                "{d:#}\n{}\n{}",
                log().and_then(|r| r.text()).unwrap_or_default(),
                self.server.log_text()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn delete(&self, id: &str) {
        let deleted = self.http.delete(self.url(id)).bearer_auth(&self.token).send().unwrap();
        assert!(deleted.status().is_success(), "{}", deleted.status());
    }
}

async fn get(d: &OpenStackDriver, service: &str, path: &str) -> Value {
    let reply = d.api(service, Method::GET, path, Replay::Safe, None).await.unwrap();
    assert!(reply.ok(), "GET {service} {path}: {} {}", reply.status, reply.body);
    reply.json(service).unwrap()
}

/// Checks on Neutron and Nova that `ip` is a floating IP of the attempt,
/// on the port of the attempt's server `server`, and returns that port.
async fn check_floating_ip(d: &OpenStackDriver, attempt: &str, server: &str, ip: &str) -> String {
    let fips = get(d, "network", &format!("/v2.0/floatingips?floating_ip_address={ip}")).await;
    let fip = &fips["floatingips"][0];
    assert_eq!(fip["description"], format!("nuvola-attempt:{attempt}"), "{fips:#}");
    let port = fip["port_id"].as_str().expect("the floating IP is on a port").to_string();
    let servers = get(d, "compute", &format!("/servers?name=^nuvola-{attempt}-{server}-0$")).await;
    let id = servers["servers"][0]["id"].as_str().expect("the server").to_string();
    let on = get(d, "network", &format!("/v2.0/ports/{port}")).await;
    assert_eq!(on["port"]["device_id"], id.as_str(), "{on:#}");
    port
}

/// The cloud-config Nova holds for the attempt's server `server` (shown
/// to admins).
async fn cloud_config(d: &OpenStackDriver, attempt: &str, server: &str) -> Value {
    use base64::Engine;
    let servers = get(d, "compute", &format!("/servers?name=^nuvola-{attempt}-{server}-0$")).await;
    let id = servers["servers"][0]["id"].as_str().expect("the server");
    let server = get(d, "compute", &format!("/servers/{id}")).await;
    let data = server["server"]["OS-EXT-SRV-ATTR:user_data"].as_str().expect("user_data shown to admins");
    let data = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data).unwrap()).unwrap();
    serde_json::from_str(data.strip_prefix("#cloud-config\n").expect("a cloud-config")).unwrap()
}

#[test]
fn slurm_cluster_gets_its_floating_ip_on_openstack_and_leaves_nothing() {
    let Some(url) = nova_keystone_url() else { return };
    let site = Site::start(&url);
    let plain = site.create(&slurm_cluster(), json!({"wn_num": 1}));
    let keyed = slurm_cluster().replacen(
        "              version: 16.04\n",
        &format!("              version: 16.04\n              credential: {{ user: cloudadm, token: \"{KEY}\" }}\n"),
        1,
    );
    let isolated = site.create(&keyed, json!({"network_type": "isolated"}));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let admin = OpenStackDriver::open(&nova_spec(&url, "nova-ci"), nova_settings("admin")).unwrap();
    let mut ports = Vec::new();
    let mut attempts = Vec::new();
    for (id, worker_net) in [(&plain, "10.0.0."), (&isolated, "192.168.80.")] {
        let done = site.wait(id, "CREATE_COMPLETE");
        let outputs = &done["outputs"];
        let ip = outputs["cluster_ip"].as_str().unwrap_or_else(|| panic!("no cluster_ip: {done:#}"));
        assert!(ip.starts_with("172.24.4."), "a floating IP from `public`: {outputs:#}");
        let workers = outputs["wn_ips"].as_array().unwrap_or_else(|| panic!("no wn_ips: {done:#}"));
        assert_eq!(workers.len(), 1, "{outputs:#}");
        assert!(workers[0].as_str().unwrap().starts_with(worker_net), "{outputs:#}");
        let attempt = common::running_attempt(&site.http, &site.server.url, &site.token, id);
        ports.push(runtime.block_on(check_floating_ip(&admin, &attempt, "fe_server", ip)));
        // One floating IP each: the workers have none.
        let held = runtime.block_on(admin.resources(&attempt)).unwrap();
        let fips: Vec<_> = held.iter().filter(|r| r.kind == nuvola_drivers::ResourceKind::FloatingIp).collect();
        assert_eq!(fips.len(), 1, "{held:#?}");
        attempts.push((attempt, ip.to_string()));
    }
    // No key in the plain template: nuvola made one for cloudadm, as IM
    // does, and Nova booted the front end with its public half in the
    // cloud-config. The keyed one's account, as Nova holds it in the
    // server's metadata.
    let creds = &site.deployment(&plain)["outputs"]["cluster_creds"];
    assert_eq!((&creds["user"], &creds["token_type"]), (&json!("cloudadm"), &json!("private_key")), "{creds:#}");
    let booted = runtime.block_on(cloud_config(&admin, &attempts[0].0, "fe_server"));
    let cloudadm = booted["users"].as_array().unwrap().iter().find(|u| u["name"] == "cloudadm").expect("cloudadm");
    assert_eq!(cloudadm["sudo"], "ALL=(ALL) NOPASSWD:ALL", "{booted:#}");
    let public = cloudadm["ssh_authorized_keys"][0].as_str().expect("a key for cloudadm");
    assert!(public.starts_with("ssh-ed25519 AAAA"), "{booted:#}");
    if let Some(half) = nuvola_drivers::testing::ssh_keygen_public(creds["token"].as_str().expect("a private key")) {
        assert_eq!(half, public, "the reported key opens the server Nova booted");
    }
    assert_eq!(site.deployment(&isolated)["outputs"]["cluster_creds"], json!({"user": "cloudadm"}));

    site.delete(&plain);
    site.delete(&isolated);
    site.wait(&plain, "DELETE_COMPLETE");
    site.wait(&isolated, "DELETE_COMPLETE");
    runtime.block_on(async {
        for (attempt, ip) in &attempts {
            assert!(admin.resources(attempt).await.unwrap().is_empty(), "attempt {attempt} left resources");
            let fips = get(&admin, "network", &format!("/v2.0/floatingips?floating_ip_address={ip}")).await;
            let ours = fips["floatingips"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["description"] == format!("nuvola-attempt:{attempt}").as_str());
            assert_eq!(ours.count(), 0, "a floating IP of {attempt} is left: {fips:#}");
            let servers = get(&admin, "compute", &format!("/servers?name=^nuvola-{attempt}-")).await;
            assert_eq!(servers["servers"], json!([]), "{servers:#}");
        }
        for port in &ports {
            let path = format!("/v2.0/ports/{port}");
            let reply = admin.api("network", Method::GET, &path, Replay::Safe, None).await.unwrap();
            assert_eq!(reply.status, 404, "port {port} is left");
        }
    });
    assert!(site.server.terminate().success());
}
