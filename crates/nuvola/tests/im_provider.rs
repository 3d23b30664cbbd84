//! Deployments through the whole server onto a real Infrastructure
//! Manager (`driver = "im"`, the Dummy connector): the template and its
//! inputs reach IM, the deployment completes with IM's addresses in its
//! outputs, an update of its inputs scales it on IM, and deleting it
//! leaves IM holding nothing. Needs `NUVOLA_TEST_IM_URL` (`.ci/cloud.sh`);
//! skips without it, fails under `CI=true`.

mod common;

use std::time::{Duration, Instant};

use common::{Server, cli_ok};
use nuvola_drivers::testing::{NETWORKS, ONE_VM, WORKERS, im_url, unique};
use serde_json::{Value, json};

/// A `nuvola serve` whose one provider is the IM at `im`, for its own IM
/// user, and a token of alice in group physics.
struct Site {
    im: String,
    user: String,
    server: Server,
    token: String,
    http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

impl Site {
    fn start(im: &str) -> Site {
        let user = unique("e2e");
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let config = format!(
            r#"
[workers]
poll_interval_ms = 100

[[providers]]
name = "im-dummy"
driver = "im"
endpoint = "{im}"
flavors = [{{ name = "small", vcpus = 2, ram_mb = 4096, disk_gb = 20 }}]
images = [{{ name = "ubuntu", distribution = "ubuntu", version = "22.04" }}]
networks = [{{ name = "private", kind = "private" }}, {{ name = "public", kind = "public" }}]
settings = {{ username = "{user}", password = "pw", credentials = ["id = dummy; type = Dummy"] }}

[providers.groups.physics]
sla_id = "sla-im"
"#
        );
        std::fs::write(cwd.join("nuvola.toml"), config).unwrap();
        let args = ["--config", "nuvola.toml", "--data-dir", "data"];
        let token = cli_ok(
            cwd,
            &[],
            &[
                "token",
                "issue",
                "--user",
                "alice",
                "--group",
                "physics",
                "--config",
                "nuvola.toml",
                "--data-dir",
                "data",
            ],
        );
        let server = Server::start(cwd, &args, "serve.log");
        Site {
            im: im.to_string(),
            user,
            server,
            token: token.trim().to_string(),
            http: reqwest::blocking::Client::new(),
            _dir: dir,
        }
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

    /// Updates the deployment's parameters (the orchestrator's PUT).
    fn update(&self, id: &str, parameters: Value) {
        let reply = self
            .http
            .put(self.url(id))
            .bearer_auth(&self.token)
            .json(&json!({"parameters": parameters}))
            .send()
            .unwrap();
        assert_eq!(reply.status(), 202, "{}", reply.text().unwrap_or_default());
    }

    fn get(&self, url: &str) -> reqwest::blocking::Response {
        self.http.get(url).bearer_auth(&self.token).send().unwrap()
    }

    fn deployment(&self, id: &str) -> Value {
        self.get(&self.url(id)).json().unwrap()
    }

    /// Waits for status `want`; a FAILED status or a minute fails the test.
    fn wait(&self, id: &str, want: &str) -> Value {
        let start = Instant::now();
        loop {
            let d = self.deployment(id);
            if d["status"] == want {
                return d;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60) && !d["status"].as_str().unwrap_or("").ends_with("FAILED"),
                "{d}\n{}\n{}",
                self.get(&format!("{}/log", self.url(id))).text().unwrap_or_default(),
                self.server.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The ids of the servers the deployment holds, from its resources.
    fn servers(&self, id: &str) -> Vec<String> {
        let resources: Value = self.get(&format!("{}/resources", self.url(id))).json().unwrap();
        resources["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["toscaNodeType"] == "tosca.nodes.indigo.Compute")
            .map(|r| {
                // IM's VM ids hold slashes; the self link still leads to it.
                let own = r["links"].as_array().unwrap().iter().find(|l| l["rel"] == "self").unwrap();
                let own: Value = self.get(own["href"].as_str().unwrap()).json().unwrap();
                assert_eq!(own["uuid"], r["uuid"], "{r}");
                // The VM's id on IM is its physicalId.
                r["physicalId"].as_str().unwrap().to_string()
            })
            .collect()
    }

    fn delete(&self, id: &str) {
        let deleted = self.http.delete(self.url(id)).bearer_auth(&self.token).send().unwrap();
        assert!(deleted.status().is_success(), "{}", deleted.status());
        let start = Instant::now();
        while self.get(&self.url(id)).status() != 404 && self.deployment(id)["status"] != "DELETE_COMPLETE" {
            assert!(start.elapsed() < Duration::from_secs(60), "{}", self.server.log_text());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The infrastructures IM holds for this site's IM user.
    fn im_infrastructures(&self) -> Vec<String> {
        let v: Value = self
            .http
            .get(format!("{}/infrastructures", self.im))
            .header(
                "Authorization",
                format!("id = im; type = InfrastructureManager; username = {}; password = pw", self.user),
            )
            .header("Accept", "application/json")
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["uri-list"].as_array().into_iter().flatten().map(|u| u["uri"].as_str().unwrap().to_string()).collect()
    }
}

#[test]
fn a_deployment_runs_on_a_real_im_and_is_deleted() {
    let Some(im) = im_url() else { return };
    let site = Site::start(&im);
    let id = site.create(ONE_VM, json!({"cpus": 2}));
    let done = site.wait(&id, "CREATE_COMPLETE");
    assert_eq!(done["outputs"]["vm_ip"], json!(["10.0.0.1"]), "the Dummy connector's address: {done}");
    assert_eq!(done["cloudProviderName"], "im-dummy");
    assert_eq!(site.im_infrastructures().len(), 1);
    site.delete(&id);
    assert!(site.im_infrastructures().is_empty(), "IM holds nothing after the delete");
}

/// Network and Port nodes reach IM unchanged and IM places the VMs on
/// them; the deployment's outputs are what IM itself gives for the same
/// infrastructure (`GET /infrastructures/{id}/outputs`): the addresses and
/// the front end's credential, in IM's shape.
#[test]
fn outputs_of_a_networked_template_are_those_im_gives() {
    let Some(im) = im_url() else { return };
    let site = Site::start(&im);
    let id = site.create(NETWORKS, json!({}));
    let done = site.wait(&id, "CREATE_COMPLETE");
    let infra = site.im_infrastructures().pop().expect("one infrastructure");
    let auth = format!("id = im; type = InfrastructureManager; username = {}; password = pw", site.user);
    let im_outputs: Value = site
        .http
        .get(format!("{infra}/outputs"))
        .header("Authorization", auth)
        .header("Accept", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(done["outputs"], im_outputs["outputs"], "{done:#}");
    // The Dummy connector's VM: one private address, a password login.
    assert_eq!(done["outputs"]["wn_ips"], json!(["10.0.0.1"]), "{done:#}");
    assert_eq!(done["outputs"]["cluster_creds"]["user"], "username", "{done:#}");
    assert_eq!(done["outputs"]["cluster_creds"]["token_type"], "password", "{done:#}");
    site.delete(&id);
    assert!(site.im_infrastructures().is_empty(), "IM holds nothing after the delete");
}

/// The orchestrator's PUT of new inputs scales the deployment on IM: up to
/// three workers, then down to two, the highest-numbered VM going.
#[test]
fn updating_the_inputs_scales_the_deployment_on_im() {
    let Some(im) = im_url() else { return };
    let site = Site::start(&im);
    let id = site.create(WORKERS, json!({"workers": 1}));
    let done = site.wait(&id, "CREATE_COMPLETE");
    assert_eq!(done["outputs"]["wn_ips"].as_array().map(Vec::len), Some(1), "{done}");
    let infra = site.im_infrastructures()[0].rsplit('/').next().unwrap().to_string();
    let vm = |n: u32| format!("{infra}/vms/{n}");
    assert_eq!(site.servers(&id), [vm(0)]);

    site.update(&id, json!({"workers": 3}));
    let updated = site.wait(&id, "UPDATE_COMPLETE");
    assert_eq!(updated["outputs"]["wn_ips"].as_array().map(Vec::len), Some(3), "{updated}");
    assert_eq!(site.servers(&id), [vm(0), vm(1), vm(2)]);

    site.update(&id, json!({"workers": 2}));
    let updated = site.wait(&id, "UPDATE_COMPLETE");
    assert_eq!(updated["outputs"]["wn_ips"].as_array().map(Vec::len), Some(2), "{updated}");
    assert_eq!(site.servers(&id), [vm(0), vm(1)], "the highest-numbered VM went");
    assert_eq!(site.im_infrastructures().len(), 1, "the update stayed on its infrastructure");

    site.delete(&id);
    assert!(site.im_infrastructures().is_empty(), "IM holds nothing after the delete");
}
