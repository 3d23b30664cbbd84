//! `/metrics` scraped by a real Prometheus (Debian's package, which
//! `.ci/services.sh` installs): a deployment made through the CLI shows in
//! Prometheus's own query API as a deployment by status, provider and
//! group, beside the HTTP requests that made it, the attempt that placed
//! it and the quota it uses; the site taken down (`nuvola sim set <site>
//! down=true`) shows as its probes failing and its component in a major
//! outage; the canary on backbone-bari shows its phases' times, its check
//! among the probes and no VM left. A scrape without the metrics token is
//! refused.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, cli_ok, free_port};
use serde_json::Value;

/// Prometheus's binary; `None` (the reason printed) on a developer's
/// machine without it. Under CI it must be there.
fn prometheus() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("NUVOLA_TEST_PROMETHEUS").unwrap_or("/usr/bin/prometheus".into()));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing under CI: .ci/services.sh should have installed Debian's prometheus", path.display());
    }
    eprintln!("skipping: no Prometheus at {} (apt-get install prometheus)", path.display());
    None
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asks Prometheus for `query` until it answers a non-empty vector, or
/// gives up after a minute (a scrape every second, so about 60 chances).
fn until_prometheus_has(http: &reqwest::blocking::Client, url: &str, query: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer: Option<Value> =
            http.get(format!("{url}/api/v1/query")).query(&[("query", query)]).send().ok().and_then(|r| r.json().ok());
        if let Some(result) = answer.as_ref().and_then(|a| a["data"]["result"].as_array()).filter(|r| !r.is_empty()) {
            return result.clone();
        }
        assert!(Instant::now() < deadline, "Prometheus never had {query}: last answer {answer:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_deployments_and_requests() {
    let Some(prometheus) = prometheus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // The demo federation, probed every second, with a canary on
    // backbone-bari.
    let demo = include_str!("../../../config/demo.toml");
    let every_minute = "# probe_interval_secs = 60";
    let canary = "# canary_providers = [\"backbone-bari\"]";
    assert!(demo.contains(every_minute) && demo.contains(canary));
    let config = demo.replace(every_minute, "probe_interval_secs = 1").replace(canary, &canary[2..]);
    std::fs::write(cwd.join("nuvola.toml"), config).unwrap();
    let server = Server::start(cwd, &["--config", "nuvola.toml"], "serve.log");
    let token_file = cwd.join("nuvola-data/metrics-token");
    assert!(token_file.exists(), "the metrics token is made on first start");

    // Without the token, or with another, a scrape is refused.
    let http = reqwest::blocking::Client::new();
    assert_eq!(http.get(format!("{}/metrics", server.url)).send().unwrap().status(), 401);
    let wrong = http.get(format!("{}/metrics", server.url)).bearer_auth("0".repeat(64)).send().unwrap();
    assert_eq!(wrong.status(), 401);

    let issue = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--config", "nuvola.toml"]);
        cli_ok(cwd, &[], &args).trim().to_string()
    };
    let token = issue(&["token", "issue", "--user", "alice", "--group", "physics"]);
    let as_alice = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", token.as_str())];
    let made = cli_ok(cwd, &as_alice, &["deploy", "single-vm", "--group", "physics", "--wait", "--output", "json"]);
    let made: Value = serde_json::from_str(&made).unwrap();
    let provider = made["provider"].as_str().expect("placed on a provider").to_string();

    let port = free_port();
    let config = cwd.join("prometheus.yml");
    let target = server.url.trim_start_matches("http://");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nuvola\n    static_configs:\n      - targets: ['{target}']\n    authorization:\n      credentials_file: {}\n",
            token_file.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(cwd.join("prometheus.log")).unwrap();
    let _prometheus = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", cwd.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("Prometheus starts"),
    );
    let url = format!("http://127.0.0.1:{port}");

    let up = until_prometheus_has(&http, &url, "up{job=\"nuvola\"} == 1");
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    let complete =
        until_prometheus_has(&http, &url, "nuvola_deployments{status=\"CREATE_COMPLETE\",group=\"physics\"}");
    assert_eq!(complete.len(), 1, "{complete:?}");
    assert_eq!(complete[0]["value"][1], "1", "{complete:?}");
    assert_eq!(complete[0]["metric"]["provider"], provider.as_str(), "{complete:?}");
    // The CLI's create is counted under its route, not its path.
    let creates = until_prometheus_has(
        &http,
        &url,
        "nuvola_http_request_duration_seconds_count{route=\"/api/v1/deployments\",status=\"201\"}",
    );
    assert_eq!(creates[0]["value"][1], "1", "{creates:?}");
    until_prometheus_has(&http, &url, "nuvola_workflow_due_steps");
    // The attempt that placed it, and what it holds of the group's quota.
    let attempts = until_prometheus_has(
        &http,
        &url,
        &format!("nuvola_attempt_duration_seconds_count{{provider=\"{provider}\",outcome=\"succeeded\"}}"),
    );
    assert_eq!(attempts[0]["value"][1], "1", "{attempts:?}");
    let instances = until_prometheus_has(
        &http,
        &url,
        &format!("nuvola_quota_used{{provider=\"{provider}\",group=\"physics\",resource=\"instances\"}}"),
    );
    assert_eq!(instances[0]["value"][1], "1", "{instances:?}");

    // The canary's run at start: its phases timed, its verdict among
    // backbone-bari's checks (a simulated build may fail, 2 % of them),
    // nothing left on the site.
    until_prometheus_has(&http, &url, "nuvola_canary_phase_seconds{provider=\"backbone-bari\",phase=\"create\"}");
    until_prometheus_has(&http, &url, "nuvola_canary_phase_seconds{provider=\"backbone-bari\",phase=\"delete\"}");
    until_prometheus_has(&http, &url, "nuvola_probe_success{component=\"backbone/backbone-bari\",probe=\"canary\"}");
    until_prometheus_has(&http, &url, "nuvola_canary_leftovers{provider=\"backbone-bari\"} == 0");

    // Its site taken down: Prometheus sees the API check fail, then the
    // component in a major outage (after two rounds).
    let component = until_prometheus_has(
        &http,
        &url,
        &format!("nuvola_probe_success{{component=~\".*/{provider}\",probe=\"api\"}} == 1"),
    );
    let component = component[0]["metric"]["component"].as_str().unwrap().to_string();
    let admin = issue(&["token", "issue", "--user", "ops", "--admin"]);
    let as_admin = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", admin.as_str())];
    cli_ok(cwd, &as_admin, &["sim", "set", &provider, "down=true"]);
    until_prometheus_has(&http, &url, &format!("nuvola_probe_success{{component=\"{component}\",probe=\"api\"}} == 0"));
    until_prometheus_has(
        &http,
        &url,
        &format!("nuvola_component_state{{component=\"{component}\",state=\"major_outage\"}} == 1"),
    );
    server.kill();
}
