//! The durability acceptance test: 200 deployments submitted at once (and
//! some of them deleted while they are being created), the server killed
//! with SIGKILL in the middle, started again. Every deployment must end in
//! a terminal state, and the simulated providers must hold exactly what
//! the completed deployments hold: nothing leaked, nothing duplicated.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Server, cli_ok, count};
use serde_json::{Value, json};

const DEPLOYMENTS: usize = 200;
const DELETED_EARLY: usize = 40;
/// Deployments (after the deleted ones) allowed a single provider: the
/// preferred one fails them, so they must end CREATE_FAILED, cleaned up.
const SINGLE_TRY: usize = 20;

/// Three providers: one healthy, one failing a quarter of its builds, and
/// the preferred one (highest SLA priority) refusing every create, so that
/// every deployment fails over; all slow enough that the kill lands
/// mid-flight.
fn config(database: &str) -> String {
    let mut text = format!("{database}\n");
    text.push_str(
        "[workers]\nconcurrency = 64\npoll_interval_ms = 150\nlease_secs = 5\n\n\
         [deployments]\nprovider_timeout_mins = 5\n",
    );
    for (name, priority, settings) in [
        ("site-a", 1.0, "create_latency_ms = 3000, delete_latency_ms = 400, failure_probability = 0.0, seed = 1"),
        ("site-b", 1.0, "create_latency_ms = 2500, delete_latency_ms = 300, failure_probability = 0.25, seed = 2"),
        ("site-c", 2.0, "create_latency_ms = 500, delete_latency_ms = 200, fail_creates = true, seed = 3"),
    ] {
        text.push_str(&common::sim_site(name, priority, settings, &["physics".into()]));
    }
    text
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

#[test]
fn a_killed_server_resumes_every_deployment_and_leaks_nothing_on_sqlite() {
    kill_and_resume("");
}

#[test]
fn a_killed_server_resumes_every_deployment_and_leaks_nothing_on_postgres() {
    let Ok(url) = std::env::var("NUVOLA_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("NUVOLA_TEST_POSTGRES_URL is not set under CI: .ci/services.sh should have started PostgreSQL");
        }
        eprintln!("skipping: NUVOLA_TEST_POSTGRES_URL not set (run ./test.sh to start PostgreSQL)");
        return;
    };
    let schema = format!("crash_{}", std::process::id());
    kill_and_resume(&format!("database_url = \"{url}\"\ndatabase_schema = \"{schema}\""));
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let options =
            nuvola_store::StoreOptions { schema: Some(schema.clone()), ..nuvola_store::StoreOptions::new(url) };
        nuvola_store::Store::open(options).await.unwrap().drop_schema(&schema).await.unwrap();
    });
}

fn kill_and_resume(database: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("nuvola.toml"), config(database)).unwrap();
    let base_args = ["--config", "nuvola.toml", "--data-dir", "data"];
    let token = cli_ok(
        cwd,
        &[],
        &["token", "issue", "--user", "alice", "--group", "physics", "--config", "nuvola.toml", "--data-dir", "data"],
    )
    .trim()
    .to_string();
    let admin = cli_ok(
        cwd,
        &[],
        &["token", "issue", "--user", "root", "--admin", "--config", "nuvola.toml", "--data-dir", "data"],
    )
    .trim()
    .to_string();

    let server = Server::start(cwd, &base_args, "first.log");
    let url = server.url.clone();
    let template = single_vm_template(&url, &token);

    // Submit all deployments from 16 threads at once.
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let (url, token, template) = (&url, &token, &template);
                s.spawn(move || {
                    let http = client();
                    (t..DEPLOYMENTS)
                        .step_by(16)
                        .map(|i| {
                            let mut body = json!({"template": template, "userGroup": "physics"});
                            if (DELETED_EARLY..DELETED_EARLY + SINGLE_TRY).contains(&i) {
                                body["maxProvidersRetry"] = json!(1);
                            }
                            let r = http
                                .post(format!("{url}/orchestrator/deployments"))
                                .bearer_auth(token)
                                .json(&body)
                                .send()
                                .unwrap();
                            assert_eq!(r.status(), 201, "{}", r.text().unwrap());
                            (i, r.json::<Value>().unwrap()["uuid"].as_str().unwrap().to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut numbered: Vec<(usize, String)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        numbered.sort();
        numbered.into_iter().map(|(_, id)| id).collect()
    });
    assert_eq!(ids.len(), DEPLOYMENTS);

    // Delete some while they are still being created.
    let http = client();
    for id in &ids[..DELETED_EARLY] {
        let r = http.delete(format!("{url}/orchestrator/deployments/{id}")).bearer_auth(&token).send().unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    }
    std::thread::sleep(Duration::from_millis(400));
    // And some more right before the kill, while their VMs are building.
    let deleted_late = &ids[DELETED_EARLY + SINGLE_TRY..DELETED_EARLY + SINGLE_TRY + 20];
    for id in deleted_late {
        let r = http.delete(format!("{url}/orchestrator/deployments/{id}")).bearer_auth(&token).send().unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    }
    std::thread::sleep(Duration::from_millis(150));
    let before = statuses(&url, &token);
    let in_flight = before.values().filter(|s| s.ends_with("_IN_PROGRESS")).count();
    server.kill();
    eprintln!("killed with {in_flight} in flight: {:?}", count(&before));
    assert!(in_flight > 0, "the kill should land while deployments are in flight: {before:?}");

    // Start again on the same data directory and let everything finish.
    let server = Server::start(cwd, &base_args, "second.log");
    let url = server.url.clone();
    let deadline = Instant::now() + Duration::from_secs(240);
    let after = loop {
        let now = statuses(&url, &token);
        if now.values().all(|s| !s.ends_with("_IN_PROGRESS")) {
            break now;
        }
        assert!(Instant::now() < deadline, "deployments still in progress: {:?}\n{}", count(&now), server.log_text());
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("after restart: {:?}", count(&after));
    assert_eq!(after.len(), DEPLOYMENTS);
    for id in ids[..DELETED_EARLY].iter().chain(deleted_late) {
        assert_eq!(after[id], "DELETE_COMPLETE", "deleted: {id}");
    }
    for id in &ids[DELETED_EARLY..DELETED_EARLY + SINGLE_TRY] {
        assert_eq!(after[id], "CREATE_FAILED", "single try on the failing provider: {id}");
    }
    let complete: BTreeSet<&String> = after.iter().filter(|(_, s)| *s == "CREATE_COMPLETE").map(|(id, _)| id).collect();
    for (id, status) in &after {
        assert!(
            ["CREATE_COMPLETE", "CREATE_FAILED", "DELETE_COMPLETE"].contains(&status.as_str()),
            "{id} ended {status}"
        );
    }
    assert!(complete.len() > DEPLOYMENTS / 2, "most deployments should succeed: {:?}", count(&after));

    // What the providers hold, through the admin endpoint, and from the
    // journals on disk: both must match the completed deployments exactly.
    let inventory: Value =
        http.get(format!("{url}/api/v1/admin/inventory")).bearer_auth(&admin).send().unwrap().json().unwrap();
    let on_disk: Value = serde_json::from_str(&cli_ok(
        cwd,
        &[],
        &["sim", "inventory", "--config", "nuvola.toml", "--data-dir", "data", "--output", "json"],
    ))
    .unwrap();
    for (name, held) in on_disk.as_object().unwrap() {
        let ids = |v: &Value| v.as_array().unwrap().iter().map(|r| r["id"].clone()).collect::<Vec<_>>();
        assert_eq!(ids(held), ids(&inventory["providers"][name]), "{name}: disk and server disagree");
    }
    let mut servers_by_deployment: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for held in inventory["providers"].as_object().unwrap().values() {
        for r in held.as_array().unwrap() {
            servers_by_deployment.entry(r["deployment_id"].as_str().unwrap().to_string()).or_default().push(r.clone());
        }
    }
    let holding: BTreeSet<&String> = servers_by_deployment.keys().collect();
    assert_eq!(holding, complete, "resources held by exactly the completed deployments");
    for id in &complete {
        let d: Value = http
            .get(format!("{url}/orchestrator/deployments/{id}"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let running = common::running_attempt(&http, &url, &token, id);
        let held = &servers_by_deployment[*id];
        assert!(held.iter().all(|r| r["attempt_id"] == running), "{id}: resources of an old attempt remain");
        let servers = held.iter().filter(|r| r["kind"] == "server").count();
        assert_eq!(servers, 1, "{id}: one VM expected, found {servers}");
        assert!(d["outputs"].as_object().is_some_and(|o| !o.is_empty()), "{id}: no outputs");
    }
    assert!(server.terminate().success(), "graceful shutdown");
}

/// The single-vm catalogue template's text, as a client would send it.
fn single_vm_template(url: &str, token: &str) -> String {
    let entry: Value =
        client().get(format!("{url}/api/v1/catalogue/single-vm")).bearer_auth(token).send().unwrap().json().unwrap();
    entry["template"].as_str().expect("catalogue template").to_string()
}

/// Every deployment's status, by id.
fn statuses(url: &str, token: &str) -> BTreeMap<String, String> {
    let page: Value = client()
        .get(format!("{url}/orchestrator/deployments?size=1000"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    common::statuses_in(&page)
}
