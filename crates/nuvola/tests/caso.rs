//! The real cASO against the real Nova and Cinder of CI, its messages
//! carried through the real RabbitMQ over STOMP as SSM carries them, and
//! consumed and stored by a real `nuvola serve`.
//!
//! The test makes two servers (flavors `m1.tiny` and `m1.small`) and a
//! volume in the project cASO extracts (`.ci/caso.sh`: `caso-ci`, tagged
//! `caso`, VO `nuvola.ci`), runs one extraction (`.ci/caso-extract.sh`,
//! cASO's `ssm` messenger leaving one file per message in a dirq folder),
//! and sends each file as one STOMP message with its body unchanged to the
//! queue nuvola consumes (`[accounting] broker_url`, `queue`), with one
//! broken message among them. The VM-months nuvola stored for its servers
//! must say what Nova says of them (VMUUID, SiteName, VO, CPU count, memory
//! and disk of the flavor, status, start time), the volume must be counted,
//! and the broken message must be on the refused queue with the line and
//! field at fault. It deletes what it made, pass or fail.
//!
//! Without Nova, cASO or RabbitMQ the test skips, saying why; under
//! `CI=true` it fails instead.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDateTime, Utc};
use futures::FutureExt;
use nuvola_accounting::Decimal3;
use nuvola_accounting::cloud::CloudRecord;
use nuvola_accounting::cloud_summary::{self, CloudSummary};
use nuvola_drivers::http::Replay;
use nuvola_drivers::openstack::OpenStackDriver;
use nuvola_drivers::stomp::Client;
use nuvola_drivers::testing::{nova_keystone_url, nova_settings, nova_spec, rabbitmqctl, service, stomp_url};
use nuvola_store::{Period, Store, StoreOptions, UsageBy, UsageFilter};
use reqwest::Method;
use serde_json::{Value, json};

async fn call(d: &OpenStackDriver, service: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let replay = if method == Method::POST { Replay::Unsafe } else { Replay::Safe };
    let reply = d.api(service, method.clone(), path, replay, body.as_ref()).await.unwrap();
    assert!(reply.ok(), "{method} {service} {path}: {} {}", reply.status, reply.body);
    if reply.body.trim().is_empty() { Value::Null } else { reply.json(service).unwrap() }
}

/// The id of the one `kind` named `name` that `path` lists.
async fn id_named(d: &OpenStackDriver, service: &str, path: &str, kind: &str, name: &str) -> String {
    let listed = call(d, service, Method::GET, path, None).await;
    let found: Vec<&Value> = listed[kind].as_array().unwrap().iter().filter(|item| item["name"] == name).collect();
    assert!(!found.is_empty(), "no {kind} named {name} in {listed}");
    found[0]["id"].as_str().unwrap().to_owned()
}

/// Polls `path` until `field` reads `want` (a minute at most).
async fn wait_for(d: &OpenStackDriver, service: &str, path: &str, field: &[&str], want: &str) -> Value {
    let start = Instant::now();
    loop {
        let reply = call(d, service, Method::GET, path, None).await;
        let value = field.iter().fold(&reply, |v, f| &v[*f]);
        if value == want {
            return reply;
        }
        assert!(value != "ERROR" && value != "error", "{path} failed: {reply}");
        assert!(start.elapsed() < Duration::from_secs(120), "{path} not {want} after 2 minutes: {reply}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Nova's times (`2026-12-07T19:15:16Z`, `2026-12-07T19:15:18.000000`) in
/// seconds since the epoch.
fn epoch(text: &str) -> i64 {
    let text = text.trim_end_matches('Z');
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .and_utc()
        .timestamp()
}

/// The message files of a dirq folder (SSM's outgoing queue): every file
/// under it but those dirq is still writing (`.tmp`) or holds (`.lck`).
fn queued_messages(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if !path.extension().is_some_and(|e| e == "tmp" || e == "lck") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn casos_records_of_our_servers_and_volume_arrive_through_rabbitmq_as_nova_says() {
    let Some(keystone) = nova_keystone_url() else { return };
    let Some(stomp) = stomp_url() else { return };
    let Some(caso_conf) = service("NUVOLA_TEST_CASO", "source .ci/cloud.sh to install and configure cASO") else {
        return;
    };
    let project = std::env::var("NUVOLA_TEST_CASO_PROJECT").unwrap_or_else(|_| "caso-ci".into());
    let site = std::env::var("NUVOLA_TEST_CASO_SITE").unwrap_or_else(|_| "NUVOLA-CI".into());
    let nova = OpenStackDriver::open(&nova_spec(&keystone, "nova-ci"), nova_settings(&project)).unwrap();
    let tag = uuid::Uuid::new_v4().to_string()[..8].to_owned();
    let made = Made::default();
    let outcome = std::panic::AssertUnwindSafe(run(&nova, &stomp, &caso_conf, &site, &tag, &made)).catch_unwind().await;
    made.clean(&nova).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// What the test made, to delete whatever happens.
#[derive(Default)]
struct Made {
    servers: std::sync::Mutex<Vec<String>>,
    volumes: std::sync::Mutex<Vec<String>>,
}

impl Made {
    async fn clean(&self, d: &OpenStackDriver) {
        let servers = self.servers.lock().unwrap().clone();
        let volumes = self.volumes.lock().unwrap().clone();
        for id in &servers {
            let _ = d.api("compute", Method::DELETE, &format!("/servers/{id}"), Replay::Safe, None).await;
        }
        for id in &volumes {
            let _ = d.api("volumev3", Method::DELETE, &format!("/volumes/{id}"), Replay::Safe, None).await;
        }
        // Gone, so that the next runs' extractions do not carry them.
        let start = Instant::now();
        for path in servers
            .iter()
            .map(|id| ("compute", format!("/servers/{id}")))
            .chain(volumes.iter().map(|id| ("volumev3", format!("/volumes/{id}"))))
        {
            while start.elapsed() < Duration::from_secs(120) {
                match d.api(path.0, Method::GET, &path.1, Replay::Safe, None).await {
                    Ok(reply) if reply.status == 404 => break,
                    Ok(reply) if reply.body.contains("\"DELETED\"") => break,
                    _ => tokio::time::sleep(Duration::from_millis(300)).await,
                }
            }
        }
    }
}

async fn run(nova: &OpenStackDriver, stomp: &str, caso_conf: &str, site: &str, tag: &str, made: &Made) {
    // cASO reads servers changed since then, to now.
    let from = (Utc::now() - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%S").to_string();
    let image = id_named(nova, "image", "/v2/images?name=cirros", "images", "cirros").await;
    let network = id_named(nova, "network", "/v2.0/networks?name=private", "networks", "private").await;
    let mut servers = Vec::new();
    for flavor_name in ["m1.tiny", "m1.small"] {
        let flavor = id_named(nova, "compute", "/flavors", "flavors", flavor_name).await;
        let body = json!({"server": {
            "name": format!("caso-{tag}-{flavor_name}"), "imageRef": image, "flavorRef": flavor,
            "networks": [{"uuid": network}],
        }});
        let created = call(nova, "compute", Method::POST, "/servers", Some(body)).await;
        let id = created["server"]["id"].as_str().unwrap().to_owned();
        made.servers.lock().unwrap().push(id.clone());
        servers.push(id);
    }
    let body = json!({"volume": {"size": 1, "name": format!("caso-{tag}"), "volume_type": "standard"}});
    let volume =
        call(nova, "volumev3", Method::POST, "/volumes", Some(body)).await["volume"]["id"].as_str().unwrap().to_owned();
    made.volumes.lock().unwrap().push(volume.clone());
    let mut seen = Vec::new();
    for id in &servers {
        let server = wait_for(nova, "compute", &format!("/servers/{id}"), &["server", "status"], "ACTIVE").await;
        seen.push(server["server"].clone());
    }
    wait_for(nova, "volumev3", &format!("/volumes/{volume}"), &["volume", "status"], "available").await;

    // One extraction by the real cASO, into SSM's outgoing queue.
    let outgoing = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/caso-extract.sh");
    let started = Instant::now();
    let ran = tokio::process::Command::new("bash")
        .arg(script)
        .arg(outgoing.path())
        .arg(&from)
        .env("NUVOLA_TEST_CASO", caso_conf)
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "caso-extract failed: {log}");
    let files = queued_messages(outgoing.path());
    eprintln!("cASO extracted {} messages in {} ms", files.len(), started.elapsed().as_millis());
    assert!(!files.is_empty(), "cASO wrote no message: {log}");

    // A nuvola consuming the queue.
    let queue = format!("nuvola-test-caso-{tag}");
    let destination = format!("/queue/{queue}");
    let exports = format!("/queue/{queue}.exports");
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let demo = include_str!("../../../config/demo.toml");
    let config = format!(
        "{demo}\n[accounting]\nown_usage = false\nbroker_url = \"{stomp}\"\nqueue = \"{destination}\"\n\
         export_destination = \"{exports}\"\n"
    );
    std::fs::write(cwd.join("nuvola.toml"), config).unwrap();
    // The helper waits for the server with a blocking client.
    let server = tokio::task::block_in_place(|| common::Server::start(cwd, &["--config", "nuvola.toml"], "serve.log"));

    // Through RabbitMQ, one STOMP message per file, as SSM sends them, and
    // a broken one.
    let sender = Client::connect(stomp).await.unwrap();
    for file in &files {
        let body = std::fs::read(file).unwrap();
        let id = file.strip_prefix(outgoing.path()).unwrap().display().to_string();
        sender.send(&destination, &[("empa-id", &id)], &body).await.unwrap();
    }
    let broken = format!("APEL-cloud-message: v0.4\nVMUUID: broken-{tag}\nStatus: started\n%%\n");
    sender.send(&destination, &[("empa-id", "broken")], broken.as_bytes()).await.unwrap();

    // The broken one is moved aside, saying why.
    let mut refused = sender.subscribe(&format!("{destination}.refused")).await.unwrap();
    let moved = tokio::time::timeout(Duration::from_secs(60), refused.next())
        .await
        .unwrap_or_else(|_| panic!("no refused message within a minute; log:\n{}", server.log_text()))
        .expect("a refused message");
    assert_eq!(moved.body, broken.as_bytes());
    let reason = moved.header("nuvola-refused").unwrap_or_default().to_owned();
    assert!(reason.contains("line 2, field SiteName"), "{reason}");
    moved.ack().await.unwrap();
    drop(refused);
    sender.disconnect().await.unwrap();

    // What nuvola stored, read from its database beside it.
    let database = format!("sqlite://{}", cwd.join("nuvola-data/nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(database)).await.unwrap();
    let today = Utc::now();
    let (year, month) = (today.year(), today.month() as i32);
    let ours = UsageFilter { sites: vec![site.to_owned()], ..UsageFilter::default() };
    let started = Instant::now();
    let stored = loop {
        let months = store.accounting_vm_months(&ours, year, month).await.unwrap();
        let kept: Vec<CloudRecord<'static>> =
            months.into_iter().filter(|m| servers.iter().any(|s| *s == m.record.vm_uuid)).map(|m| m.record).collect();
        if kept.len() == servers.len() {
            break kept;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not stored in a minute; log:\n{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let usage = store.accounting_usage(&ours, UsageBy::Site).await.unwrap();

    // An administrator exports the summaries now: the broker gets this
    // month's as nuvola keeps them, as a site's APEL client sends them.
    let admin = tokio::task::block_in_place(|| {
        common::cli_ok(cwd, &[], &["token", "issue", "--user", "ops", "--admin", "--config", "nuvola.toml"])
    });
    let http = reqwest::Client::new();
    let answer =
        http.post(format!("{}/api/v1/accounting/export", server.url)).bearer_auth(admin.trim()).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    let exported: Value = answer.json().await.unwrap();
    assert!(exported["cloud_summaries"].as_u64().unwrap() >= 1, "{exported}");
    let listener = Client::connect(stomp).await.unwrap();
    let mut summaries_queue = listener.subscribe(&exports).await.unwrap();
    let mut sent = Vec::new();
    while let Ok(Some(delivery)) = tokio::time::timeout(Duration::from_secs(5), summaries_queue.next()).await {
        if let Ok(summaries) = cloud_summary::parse_all(&delivery.body) {
            sent = summaries;
        }
        delivery.ack().await.unwrap();
    }
    drop(summaries_queue);
    listener.disconnect().await.unwrap();
    let kept: Vec<CloudSummary> = store
        .accounting_cloud_summaries(&UsageFilter { from: Some((year, month)), ..ours.clone() })
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.summary)
        .collect();
    let sent: Vec<CloudSummary> =
        sent.into_iter().filter(|s| s.site_name == site && (s.year, s.month) == (year, month)).collect();
    assert!(!kept.is_empty() && sent == kept, "exported {sent:#?}\nkept {kept:#?}");

    for q in [queue.clone(), format!("{queue}.refused"), format!("{queue}.exports")] {
        let _ = rabbitmqctl(&["delete_queue", &q]);
    }

    // Each server's cloud record says what Nova says.
    let flavors = call(nova, "compute", Method::GET, "/flavors/detail", None).await;
    for server in &seen {
        let id = server["id"].as_str().unwrap();
        let records: Vec<&CloudRecord> = stored.iter().filter(|r| r.vm_uuid == id).collect();
        assert_eq!(records.len(), 1, "one VM-month for server {id} among {stored:?}");
        let record = records[0];
        let flavor_name = server["flavor"]["original_name"].as_str().unwrap();
        let flavor = flavors["flavors"].as_array().unwrap().iter().find(|f| f["name"] == flavor_name).unwrap();
        assert_eq!(record.site_name, site);
        assert_eq!(record.machine_name.as_deref(), server["name"].as_str());
        assert_eq!(record.local_group_id.as_deref(), server["tenant_id"].as_str());
        assert_eq!(record.local_user_id.as_deref(), server["user_id"].as_str());
        assert_eq!(record.global_user_name.as_deref(), Some("admin"));
        assert_eq!(record.fqan.as_deref(), Some("nuvola.ci"), "the project's VO");
        assert_eq!(record.status.as_deref(), Some("started"), "Nova says {}", server["status"]);
        assert_eq!(record.cpu_count, Decimal3::from_int(flavor["vcpus"].as_i64().unwrap()).unwrap());
        assert_eq!(record.memory, flavor["ram"].as_i64());
        let disk = flavor["disk"].as_i64().unwrap() + flavor["OS-FLV-EXT-DATA:ephemeral"].as_i64().unwrap_or(0);
        assert_eq!(record.disk, Some(disk));
        assert_eq!(record.image_id.as_deref(), server["image"]["id"].as_str());
        let created = epoch(server["created"].as_str().unwrap());
        let launched = epoch(server["OS-SRV-USG:launched_at"].as_str().unwrap());
        let start = record.start_time.expect("a start time");
        assert!(
            created <= start && start <= launched.max(created),
            "start {start}, created {created}, launched {launched}"
        );
        // cASO writes `EndTime: 0` for a server still running.
        assert!(matches!(record.end_time, None | Some(0)), "still running: {:?}", record.end_time);
        let wall = record.wall_duration.expect("a wall duration");
        assert!(wall >= 0 && record.cpu_duration == Some(wall * flavor["vcpus"].as_i64().unwrap()), "{record:?}");
    }

    // The volume, counted in its month.
    let this_month = usage.iter().find(|u| u.period == Period::month(year, month)).expect("usage this month");
    assert!(this_month.volumes >= 1 && this_month.volume_gb >= 1.07, "the 1 GiB volume: {this_month:?}");
    assert!(this_month.instances >= 2, "the two servers: {this_month:?}");
}
