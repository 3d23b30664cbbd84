//! Runs the real `nuvola` binary: servers on free loopback ports, and CLI
//! commands against them.

#![allow(dead_code)]

pub mod prometheus;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_nuvola");

/// A free port on 127.0.0.1 (bound, then released for the server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `nuvola serve` process.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `nuvola serve ARGS` in `cwd` on a free port and waits for
    /// `/healthz`.
    pub fn start(cwd: &Path, args: &[&str], log_name: &str) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = cwd.join(log_name);
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .args(["--listen", &listen])
            .current_dir(cwd)
            .env("NUVOLA_LOG", "info")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("nuvola starts");
        let server = Server { child, url: format!("http://{listen}"), log };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::blocking::get(format!("{}/healthz", self.url))
                && r.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "server did not become healthy; log:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `nuvola ARGS` in `cwd` with `env`, returning its output.
pub fn cli(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("nuvola runs")
}

/// Runs a CLI command that must succeed, returning its stdout.
pub fn cli_ok(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = cli(cwd, env, args);
    assert!(
        out.status.success(),
        "nuvola {args:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The id of the attempt deployment `id` runs on, from the native API at
/// `url` (the orchestrator's `physicalId` is a UUID made from it).
pub fn running_attempt(http: &reqwest::blocking::Client, url: &str, token: &str, id: &str) -> String {
    let native: serde_json::Value =
        http.get(format!("{url}/api/v1/deployments/{id}")).bearer_auth(token).send().unwrap().json().unwrap();
    let attempts = native["attempts"].as_array().unwrap_or_else(|| panic!("no attempts: {native:#}"));
    let ready = attempts.iter().rev().find(|a| a["state"] == "ready");
    ready.and_then(|a| a["attemptId"].as_str()).unwrap_or_else(|| panic!("no running attempt: {native:#}")).to_string()
}

/// Each deployment's status, by id, from a page of the orchestrator's
/// deployment listing.
pub fn statuses_in(page: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    page["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["uuid"].as_str().unwrap().to_string(), d["status"].as_str().unwrap().to_string()))
        .collect()
}

/// How many deployments are in each status.
pub fn count(statuses: &std::collections::BTreeMap<String, String>) -> std::collections::BTreeMap<&str, usize> {
    let mut n = std::collections::BTreeMap::new();
    for s in statuses.values() {
        *n.entry(s.as_str()).or_default() += 1;
    }
    n
}

/// A simulated site's `[[providers]]` block for a test's configuration:
/// one medium flavor, one image, public and private networks, the
/// simulator's `settings` (TOML key = value pairs), and an SLA of
/// `priority` with a roomy quota for each of `groups`.
pub fn sim_site(name: &str, priority: f64, settings: &str, groups: &[String]) -> String {
    let mut text = format!(
        r#"
[[providers]]
name = "{name}"
driver = "sim"
endpoint = "https://{name}.example:5000/v3"
flavors = [{{ name = "m1.medium", vcpus = 2, ram_mb = 4096, disk_gb = 20 }}]
images = [{{ name = "ubuntu-22.04", distribution = "ubuntu", version = "22.04" }}]
volume_types = [{{ name = "standard" }}]
networks = [{{ name = "public", kind = "public" }}, {{ name = "private", kind = "private", cidr = "10.0.0.0/8" }}]
settings = {{ {settings}, public_cidr = "198.18.0.0/15" }}
"#
    );
    for group in groups {
        text.push_str(&format!(
            "\n[providers.groups.{group}]\nsla_id = \"sla-{name}-{group}\"\npriority = {priority:?}\n\
             quota = {{ instances = 1000, cores = 4000, ram_mb = 8000000, volumes = 1000, volume_gb = 100000, public_ips = 1000 }}\n"
        ));
    }
    text
}

/// Waits (at most a minute) for `check` to give something, failing with
/// `why` when it never does.
pub fn eventually<T>(why: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "never: {why}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
