//! `nuvola demo-history` fills a data directory's database with a synthetic
//! history that a server then serves, and refuses nonsense.

mod common;

use common::{Server, cli, cli_ok};

#[test]
fn a_synthetic_history_lands_in_the_data_directory_and_the_server_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_ok(dir.path(), &[], &["demo-history", "--deployments", "150", "--data-dir", "data"]);
    assert!(out.starts_with("added 150 deployments ("), "{out}");
    assert!(out.contains("testing group: sandbox"), "{out}");
    // A second run adds more; ids never collide.
    let out = cli_ok(dir.path(), &[], &["demo-history", "--deployments", "20", "--seed", "7", "--data-dir", "data"]);
    assert!(out.starts_with("added 20 deployments"), "{out}");

    let server = Server::start(dir.path(), &["--data-dir", "data"], "server.log");
    let token = cli_ok(dir.path(), &[], &["token", "issue", "--user", "root", "--admin", "--data-dir", "data"]);
    let listed: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/orchestrator/deployments?size=1", server.url))
        .bearer_auth(token.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["page"]["totalElements"], 170, "{listed}");

    let bad = cli(dir.path(), &[], &["demo-history", "--days", "0", "--data-dir", "data"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--days must be 1 or more"));
}
