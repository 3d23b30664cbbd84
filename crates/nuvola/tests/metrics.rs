//! `/metrics` scraped by a real Prometheus (Debian's package, which
//! `.ci/services.sh` installs): a deployment made through the CLI shows in
//! Prometheus's own query API as a deployment by status, provider and
//! group, beside the HTTP requests that made it, the attempt that placed
//! it and the quota it uses; the canary on backbone-bari shows its phases'
//! times, its check among the probes and no VM left. A scrape without the
//! metrics token is refused. (A site taken down, as Prometheus sees it, is
//! in `outage.rs`.)

mod common;

use common::prometheus::{self, Prometheus};
use common::{Server, cli_ok};
use serde_json::Value;

#[test]
fn prometheus_scrapes_deployments_and_requests() {
    let Some(prometheus) = prometheus::binary() else { return };
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

    let issue = ["token", "issue", "--user", "alice", "--group", "physics", "--config", "nuvola.toml"];
    let token = cli_ok(cwd, &[], &issue).trim().to_string();
    let as_alice = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", token.as_str())];
    let made = cli_ok(cwd, &as_alice, &["deploy", "single-vm", "--group", "physics", "--wait", "--output", "json"]);
    let made: Value = serde_json::from_str(&made).unwrap();
    let provider = made["provider"].as_str().expect("placed on a provider").to_string();

    let prometheus = Prometheus::scraping(&prometheus, cwd, &server.url, &token_file);
    let up = prometheus.until_has("up{job=\"nuvola\"} == 1");
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    let complete = prometheus.until_has("nuvola_deployments{status=\"CREATE_COMPLETE\",group=\"physics\"}");
    assert_eq!(complete.len(), 1, "{complete:?}");
    assert_eq!(complete[0]["value"][1], "1", "{complete:?}");
    assert_eq!(complete[0]["metric"]["provider"], provider.as_str(), "{complete:?}");
    // The CLI's create is counted under its route, not its path.
    let creates = prometheus
        .until_has("nuvola_http_request_duration_seconds_count{route=\"/api/v1/deployments\",status=\"201\"}");
    assert_eq!(creates[0]["value"][1], "1", "{creates:?}");
    prometheus.until_has("nuvola_workflow_due_steps");
    // The attempt that placed it, and what it holds of the group's quota.
    let attempts = prometheus
        .until_has(&format!("nuvola_attempt_duration_seconds_count{{provider=\"{provider}\",outcome=\"succeeded\"}}"));
    assert_eq!(attempts[0]["value"][1], "1", "{attempts:?}");
    let instances = prometheus
        .until_has(&format!("nuvola_quota_used{{provider=\"{provider}\",group=\"physics\",resource=\"instances\"}}"));
    assert_eq!(instances[0]["value"][1], "1", "{instances:?}");

    // The canary's run at start: its phases timed, its verdict among
    // backbone-bari's checks (a simulated build may fail, 2 % of them),
    // nothing left on the site.
    prometheus.until_has("nuvola_canary_phase_seconds{provider=\"backbone-bari\",phase=\"create\"}");
    prometheus.until_has("nuvola_canary_phase_seconds{provider=\"backbone-bari\",phase=\"delete\"}");
    prometheus.until_has("nuvola_probe_success{component=\"backbone/backbone-bari\",probe=\"canary\"}");
    prometheus.until_has("nuvola_canary_leftovers{provider=\"backbone-bari\"} == 0");

    server.kill();
}
