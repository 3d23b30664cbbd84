//! The multi-replica drill: three `nuvola serve` replicas on one PostgreSQL
//! in front of one simulated federation (its journals in a shared home),
//! 300 deployments submitted from eight groups at once, some deleted while
//! they build, and a replica killed with SIGKILL every few seconds and
//! started again. At the end every deployment is terminal, the simulated
//! sites hold exactly what the complete deployments hold, no create ran
//! twice except after its caller was killed (the sites' call logs say who
//! called), no submission failed, and every replica stops promptly on
//! SIGTERM.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, cli_ok, count};
use serde_json::{Value, json};

const DEPLOYMENTS: usize = 300;
const GROUPS: usize = 8;
const DELETED: usize = 30;
const REPLICAS: usize = 3;
/// Time between two kills.
const KILL_EVERY: Duration = Duration::from_millis(2500);
const SITES: [&str; 3] = ["site-a", "site-b", "site-c"];

/// Three sites with the demo's failures: one healthy, one failing a
/// quarter of its builds and slow to answer, and the preferred one refusing
/// every create, so that every deployment fails over.
fn config(database_url: &str, schema: &str, home: &Path) -> String {
    let mut text = format!(
        "database_url = \"{database_url}\"\ndatabase_schema = \"{schema}\"\n\n\
         [workers]\nconcurrency = 32\npoll_interval_ms = 150\nlease_secs = 5\nreconcile_interval_secs = 2\n\n\
         [deployments]\nprovider_timeout_mins = 5\nmax_per_user = 1000\n"
    );
    let groups: Vec<String> = (0..GROUPS).map(|g| format!("g{g}")).collect();
    for (name, priority, settings) in [
        (SITES[0], 1.0, "create_latency_ms = 900, delete_latency_ms = 300, seed = 1"),
        (
            SITES[1],
            1.0,
            "create_latency_ms = 700, delete_latency_ms = 200, failure_probability = 0.25, api_latency_ms = 50, seed = 2",
        ),
        (SITES[2], 2.0, "create_latency_ms = 300, delete_latency_ms = 100, fail_creates = true, seed = 3"),
    ] {
        let settings = format!("{settings}, home = \"{}\", call_log = true", home.display());
        text.push_str(&common::sim_site(name, priority, &settings, &groups));
    }
    text
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// The replicas, and the process ids of those killed.
struct Fleet {
    cwd: std::path::PathBuf,
    servers: Mutex<Vec<Server>>,
    killed: Mutex<Vec<u32>>,
    launched: Mutex<usize>,
}

impl Fleet {
    const ARGS: [&str; 4] = ["--config", "nuvola.toml", "--data-dir", "data"];

    fn start(cwd: &Path) -> Fleet {
        let servers = (0..REPLICAS).map(|i| Server::start(cwd, &Self::ARGS, &format!("replica-{i}.log"))).collect();
        Fleet {
            cwd: cwd.into(),
            servers: Mutex::new(servers),
            killed: Mutex::new(vec![]),
            launched: Mutex::new(REPLICAS),
        }
    }

    /// The address of replica `i` (modulo the fleet), as it is now.
    fn url(&self, i: usize) -> String {
        let servers = self.servers.lock().unwrap();
        servers[i % servers.len()].url.clone()
    }

    /// SIGKILLs replica `i` and starts a new process in its place.
    fn kill_and_restart(&self, i: usize) {
        let victim = {
            let mut servers = self.servers.lock().unwrap();
            let mut launched = self.launched.lock().unwrap();
            *launched += 1;
            let fresh = Server::start(&self.cwd, &Self::ARGS, &format!("replica-{}.log", *launched));
            std::mem::replace(&mut servers[i], fresh)
        };
        self.killed.lock().unwrap().push(victim.child.id());
        victim.kill();
    }
}

/// Sends `request` to replica `first`, then the others, until one answers
/// (a replica may be killed in the middle of a request).
fn send(
    fleet: &Fleet,
    first: usize,
    request: impl Fn(&str) -> reqwest::blocking::RequestBuilder,
) -> reqwest::blocking::Response {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = first;
    loop {
        match request(&fleet.url(i)).send() {
            Ok(r) => return r,
            Err(e) => {
                assert!(Instant::now() < deadline, "no replica answered: {e}");
                i += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn three_replicas_killed_in_turn_finish_every_deployment_and_leak_nothing() {
    let Ok(database_url) = std::env::var("NUVOLA_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("NUVOLA_TEST_POSTGRES_URL is not set under CI: .ci/services.sh should have started PostgreSQL");
        }
        eprintln!("skipping: NUVOLA_TEST_POSTGRES_URL not set (run ./test.sh to start PostgreSQL)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let home = cwd.join("federation");
    let schema = format!("replicas_{}", std::process::id());
    std::fs::write(cwd.join("nuvola.toml"), config(&database_url, &schema, &home)).unwrap();
    let token = |args: &[&str]| -> String {
        let mut all = vec!["token", "issue"];
        all.extend_from_slice(args);
        all.extend_from_slice(&Fleet::ARGS);
        cli_ok(cwd, &[], &all).trim().to_string()
    };
    let tokens: Vec<String> =
        (0..GROUPS).map(|g| token(&["--user", &format!("u{g}"), "--group", &format!("g{g}")])).collect();
    let admin = token(&["--user", "root", "--admin"]);

    let fleet = Arc::new(Fleet::start(cwd));
    let template = {
        let url = fleet.url(0);
        let entry: Value = client()
            .get(format!("{url}/api/v1/catalogue/single-vm"))
            .bearer_auth(&tokens[0])
            .send()
            .unwrap()
            .json()
            .unwrap();
        entry["template"].as_str().expect("catalogue template").to_string()
    };

    // A replica killed and restarted every few seconds, in turn.
    let stop = Arc::new(AtomicBool::new(false));
    let chaos = std::thread::spawn({
        let (fleet, stop) = (fleet.clone(), stop.clone());
        move || {
            let mut next = 0;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(KILL_EVERY);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                fleet.kill_and_restart(next % REPLICAS);
                next += 1;
            }
        }
    });

    // Eight groups submit at once, each to its own replica first; every
    // submission must be accepted (a lost answer is sent again).
    let submitted: Vec<(usize, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..GROUPS)
            .map(|g| {
                let (fleet, tokens, template) = (&fleet, &tokens, &template);
                s.spawn(move || {
                    let http = client();
                    (g..DEPLOYMENTS)
                        .step_by(GROUPS)
                        .map(|i| {
                            let body = json!({"template": template, "userGroup": format!("g{g}"), "description": format!("drill-{i}")});
                            let r = send(fleet, g, |url| {
                                http.post(format!("{url}/orchestrator/deployments")).bearer_auth(&tokens[g]).json(&body)
                            });
                            assert_eq!(r.status(), 201, "submission {i}: {}", r.text().unwrap());
                            (i, r.json::<Value>().unwrap()["uuid"].as_str().unwrap().to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(submitted.len(), DEPLOYMENTS);

    // Some are deleted while they build.
    let http = client();
    let deleted: Vec<&String> =
        submitted.iter().filter(|(i, _)| i % (DEPLOYMENTS / DELETED) == 0).map(|(_, id)| id).collect();
    for (k, id) in deleted.iter().enumerate() {
        let owner = submitted.iter().find(|(_, d)| d == *id).unwrap().0 % GROUPS;
        let r = send(&fleet, k, |url| {
            http.delete(format!("{url}/orchestrator/deployments/{id}")).bearer_auth(&tokens[owner])
        });
        // A retried delete may find the first one under way.
        assert!([204, 409].contains(&r.status().as_u16()), "delete {id}: {}", r.text().unwrap());
    }

    // Everything ends, while replicas keep dying for a while.
    let deadline = Instant::now() + Duration::from_secs(300);
    let kills_wanted = 6;
    let after = loop {
        if fleet.killed.lock().unwrap().len() >= kills_wanted {
            stop.store(true, Ordering::SeqCst);
        }
        let now = statuses(&fleet, &admin);
        if stop.load(Ordering::SeqCst) && now.values().all(|s| !s.ends_with("_IN_PROGRESS")) {
            break now;
        }
        assert!(Instant::now() < deadline, "deployments still in progress: {:?}", count(&now));
        std::thread::sleep(Duration::from_millis(500));
    };
    chaos.join().unwrap();
    let killed: HashSet<u32> = fleet.killed.lock().unwrap().iter().copied().collect();
    eprintln!("{} replicas killed; deployments: {:?}", killed.len(), count(&after));
    assert!(killed.len() >= kills_wanted);

    // Every submission is there (a lost answer may have made one twice),
    // each ended, the deleted ones deleted.
    let ours: BTreeSet<&String> = submitted.iter().map(|(_, id)| id).collect();
    assert!(ours.iter().all(|id| after.contains_key(*id)));
    for (id, status) in &after {
        assert!(
            ["CREATE_COMPLETE", "CREATE_FAILED", "DELETE_COMPLETE"].contains(&status.as_str()),
            "{id} ended {status}"
        );
    }
    for id in &deleted {
        assert_eq!(after[*id], "DELETE_COMPLETE", "deleted: {id}");
    }
    let complete: BTreeSet<&String> = after.iter().filter(|(_, s)| *s == "CREATE_COMPLETE").map(|(id, _)| id).collect();
    assert!(complete.len() > DEPLOYMENTS / 2, "most deployments should succeed: {:?}", count(&after));

    // The sites hold exactly what the complete deployments' running
    // attempts hold: one server each.
    let inventory: Value =
        send(&fleet, 0, |url| http.get(format!("{url}/api/v1/admin/inventory")).bearer_auth(&admin)).json().unwrap();
    let mut held: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for resources in inventory["providers"].as_object().unwrap().values() {
        for r in resources.as_array().unwrap() {
            held.entry(r["deployment_id"].as_str().unwrap().to_string()).or_default().push(r.clone());
        }
    }
    assert_eq!(held.keys().collect::<BTreeSet<_>>(), complete, "resources held by exactly the complete deployments");
    let url = fleet.url(0);
    for id in &complete {
        let running = common::running_attempt(&http, &url, &admin, id);
        let resources = &held[*id];
        assert!(resources.iter().all(|r| r["attempt_id"] == running), "{id}: resources of an old attempt remain");
        assert_eq!(resources.iter().filter(|r| r["kind"] == "server").count(), 1, "{id}: one VM expected");
    }

    // No create ran twice, except after the process that made it first was
    // killed (a replayed step); and some did replay, or the drill missed.
    let (mut replayed, mut calls) = (0, 0);
    for site in SITES {
        let log = std::fs::read_to_string(home.join(format!("{site}.calls"))).unwrap_or_default();
        calls += log.lines().count();
        let mut first_by: BTreeMap<String, u64> = BTreeMap::new();
        for line in log.lines() {
            let call: Value = serde_json::from_str(line).unwrap();
            let attempt = call["attempt_id"].as_str().unwrap().to_string();
            let by = call["by"].as_u64().unwrap();
            match first_by.get(&attempt) {
                None => {
                    first_by.insert(attempt, by);
                }
                Some(earlier) => {
                    assert!(
                        killed.contains(&(*earlier as u32)),
                        "{site}: attempt {attempt} created again by {by} while {earlier}, which created it, was never killed"
                    );
                    replayed += 1;
                }
            }
        }
    }
    eprintln!("{calls} create calls, {replayed} replayed after a kill");
    assert!(calls >= complete.len(), "every complete deployment's create is in the call logs ({calls} calls)");

    // Each replica stops promptly and cleanly.
    let servers = std::mem::take(&mut *fleet.servers.lock().unwrap());
    for server in servers {
        assert!(server.terminate().success(), "graceful shutdown");
    }
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let options = nuvola_store::StoreOptions {
            schema: Some(schema.clone()),
            ..nuvola_store::StoreOptions::new(database_url)
        };
        nuvola_store::Store::open(options).await.unwrap().drop_schema(&schema).await.unwrap();
    });
}

/// Every deployment's status, by id, from any replica.
fn statuses(fleet: &Fleet, admin: &str) -> BTreeMap<String, String> {
    let http = client();
    let page: Value =
        send(fleet, 0, |url| http.get(format!("{url}/orchestrator/deployments?size=1000")).bearer_auth(admin))
            .json()
            .unwrap();
    common::statuses_in(&page)
}
