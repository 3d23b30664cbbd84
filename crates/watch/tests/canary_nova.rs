//! The canary against the real Nova (fake virt driver), Neutron and
//! Glance that `.ci/cloud.sh` registers in the real Keystone, through the
//! OpenStack driver: one run creates a server of the smallest flavor
//! listed, which Nova shows ACTIVE before its delete, deletes it, and
//! Nova's server list holds none of it afterwards. Without
//! `NUVOLA_TEST_NOVA=1` the test skips, saying why; under `CI=true` it
//! fails instead.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Steered;
use nuvola_drivers::Driver;
use nuvola_drivers::http::Replay;
use nuvola_drivers::openstack::OpenStackDriver;
use nuvola_drivers::testing::{nova_keystone_url, nova_settings, nova_spec};
use nuvola_store::{Store, StoreOptions};
use nuvola_watch::canary::Wall;
use nuvola_watch::{CanarySettings, ProviderTarget, Targets, Watch, WatchSettings};
use reqwest::Method;
use serde_json::{Value, json};

/// The servers Nova lists for `attempt` (by the metadata the driver
/// sets), with their status.
async fn servers_of(nova: &OpenStackDriver, attempt: &str) -> Vec<(String, String)> {
    let reply = nova.api("compute", Method::GET, "/servers/detail", Replay::Safe, None).await.unwrap();
    assert!(reply.ok(), "GET /servers/detail: {} {}", reply.status, reply.body);
    let servers: Value = reply.json("compute").unwrap();
    let servers = servers["servers"].as_array().unwrap().iter().filter(|s| s["metadata"]["nuvola_attempt"] == attempt);
    servers.map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string())).collect()
}

#[tokio::test]
async fn a_canary_run_on_nova_sees_its_server_active_and_leaves_none() {
    let Some(url) = nova_keystone_url() else { return };
    let mut spec = nova_spec(&url, "nova-ci");
    spec.flavors = serde_json::from_value(json!([
        {"name": "m1.small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 10},
        {"name": "m1.tiny", "vcpus": 1, "ram_mb": 512, "disk_gb": 1},
    ]))
    .unwrap();
    spec.images =
        serde_json::from_value(json!([{"name": "cirros", "distribution": "cirros", "version": "0.6"}])).unwrap();
    let nova = OpenStackDriver::open(&spec, nova_settings("admin")).unwrap();
    let site = Arc::new(Steered::new(Arc::new(nova.clone())));
    site.hold_delete.store(true, std::sync::atomic::Ordering::SeqCst);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreOptions::new(format!("sqlite://{}", dir.path().join("nuvola.sqlite").display())))
        .await
        .unwrap();
    let canary = CanarySettings {
        providers: vec!["nova-ci".into()],
        phase_timeout: Duration::from_secs(180),
        call_timeout: Duration::from_secs(60),
        ..CanarySettings::default()
    };
    let watch = Watch::new(
        store.clone(),
        nuvola_notify::Notifier::new(None, Vec::new(), "http://nuvola.test"),
        WatchSettings { canary, ..WatchSettings::default() },
    );
    let targets = Targets { providers: vec![ProviderTarget { spec, driver: site.clone() }] };
    let driver: Arc<dyn Driver> = site.clone();
    let drivers = move |name: &str| (name == "nova-ci").then(|| driver.clone());

    // Nova is looked at when the run asks the delete, its server running.
    let look = async {
        site.deleting.notified().await;
        let run = store.canary_runs_since(0).await.unwrap().remove(0);
        let seen = servers_of(&nova, &run.id).await;
        site.go_on.notify_one();
        seen
    };
    let (pass, seen) = tokio::join!(watch.canary_pass(&targets, &drivers, &Wall), look);
    let pass = pass.unwrap();
    let run = &pass.runs[0];
    eprintln!(
        "canary on Nova (fake virt driver): create accepted {} ms, running {} ms later, gone {} ms after its delete",
        run.create_ms.unwrap_or(-1),
        run.ready_ms.unwrap_or(-1),
        run.delete_ms.unwrap_or(-1)
    );
    assert_eq!(run.ok, Some(true), "{run:?}");
    assert_eq!((run.flavor.as_str(), run.image.as_str()), ("m1.tiny", "cirros"), "the smallest flavor");
    assert!(run.create_ms.is_some() && run.ready_ms.is_some() && run.delete_ms.is_some(), "{run:?}");
    assert_eq!(seen, [(format!("nuvola-{}-vm-0", run.id), "ACTIVE".to_string())], "one server, running");
    assert!(run.gone);
    assert_eq!(servers_of(&nova, &run.id).await, [], "Nova lists none of it");
    assert!(!nova.inventory().await.unwrap().iter().any(|r| r.attempt_id == run.id), "nothing else either");
    assert!(store.canary_leftovers(nuvola_types::now_ms()).await.unwrap().is_empty());
}
