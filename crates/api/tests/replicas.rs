//! Two nuvola servers sharing one PostgreSQL database: requests competing
//! for the last GPUs of a group's quota through both at once, and each
//! deployment is provisioned exactly once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use nuvola_app::{App, Catalogue, CreateDeployment, Federation, Settings};
use nuvola_identity::EmbeddedIssuer;
use nuvola_store::{Store, StoreOptions};
use nuvola_types::{DeploymentStatus, Principal, ProviderSpec};
use serde_json::json;

/// One provider granting the group `ml` exactly 10 GPUs.
fn ten_gpus() -> Vec<ProviderSpec> {
    let mut spec = common::provider("gpu-site", 1, "A100", &[("ml", 1.0)]);
    let quota = &mut spec.groups.get_mut("ml").unwrap().quota;
    quota.gpus = Some(10);
    quota.instances = Some(100);
    quota.cores = Some(1000);
    quota.ram_mb = Some(10_000_000);
    quota.public_ips = Some(100);
    vec![spec]
}

fn principal(fields: serde_json::Value) -> Principal {
    serde_json::from_value(fields).unwrap()
}

/// One server (and its store): its own store connections, workers and
/// locks; the cloud (`federation`) is the one both servers talk to.
async fn replica(url: &str, schema: &str, federation: Federation) -> (App, Store) {
    let options = StoreOptions { schema: Some(schema.to_string()), ..StoreOptions::new(url) };
    let store = Store::open(options).await.unwrap();
    store.sync_config_providers(&ten_gpus()).await.unwrap();
    let resolver = Arc::new(nuvola_tosca::builtin_resolver());
    let catalogue = Catalogue::builtin(&*resolver).unwrap();
    let issuer = Arc::new(EmbeddedIssuer::from_seed([42; 32], "nuvola"));
    let settings = Settings { poll_interval: Duration::from_millis(20), ..Settings::default() };
    (App::new(store.clone(), catalogue, federation, issuer, resolver, settings), store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_hand_out_more_gpus_than_the_quota() {
    let Ok(url) = std::env::var("NUVOLA_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("NUVOLA_TEST_POSTGRES_URL is not set under CI: .ci/services.sh should have started PostgreSQL");
        }
        eprintln!("skipping: NUVOLA_TEST_POSTGRES_URL not set (run ./test.sh to start PostgreSQL)");
        return;
    };
    let schema = format!("replicas_{}", uuid::Uuid::new_v4().simple());
    // Both servers talk to the same (simulated) site, as two replicas in
    // front of one cloud would; the database is where quota is reserved.
    let dir = tempfile::tempdir().unwrap();
    let cloud = Federation::open(ten_gpus(), Some(dir.path())).unwrap();
    let (a, store) = replica(&url, &schema, cloud.clone()).await;
    let (b, _) = replica(&url, &schema, cloud).await;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|app| {
            let rx = stop_rx.clone();
            tokio::spawn(async move { app.run_workers(rx).await })
        })
        .collect();

    let carl = principal(json!({"subject": "carl", "issuer": "nuvola", "groups": ["ml"], "admin": false}));
    let template = a.catalogue().get("gpu-vm").unwrap().template.clone();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (carl, template) = (carl.clone(), template.clone());
        tasks.push(tokio::spawn(async move {
            let request = CreateDeployment {
                template,
                parameters: serde_json::from_value(json!({"gpu_model": "A100", "num_cpus": 4, "mem_size": "8 GB"}))
                    .unwrap(),
                user_group: Some("ml".into()),
                ..Default::default()
            };
            app.create_deployment(&carl, request).await.unwrap().id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }

    // Every deployment ends, and exactly ten were let in.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let statuses = loop {
        let mut statuses = Vec::new();
        for id in &ids {
            statuses.push(a.deployment(&carl, id).await.unwrap().status);
        }
        if statuses.iter().all(|s| s.is_terminal()) {
            break statuses;
        }
        assert!(std::time::Instant::now() < deadline, "still in progress: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let complete = statuses.iter().filter(|s| **s == DeploymentStatus::CreateComplete).count();
    assert_eq!(complete, 10, "{statuses:?}");
    for (id, status) in ids.iter().zip(&statuses) {
        if *status == DeploymentStatus::CreateFailed {
            let reason = a.deployment(&carl, id).await.unwrap().status_reason.unwrap_or_default();
            assert!(reason.contains("quota: 1 GPU requested, 0 left for group ml"), "{reason}");
        }
    }
    // And each completed one was built once.
    let admin = principal(json!({"subject": "root", "issuer": "nuvola", "groups": [], "admin": true}));
    let held = a.inventory(&admin).await.unwrap();
    let servers = held["gpu-site"].iter().filter(|r| r.kind == nuvola_drivers::ResourceKind::Server).count();
    assert_eq!(servers, 10);

    let _ = stop.send(true);
    for w in workers {
        w.await.unwrap();
    }
    store.drop_schema(&schema).await.unwrap();
}
