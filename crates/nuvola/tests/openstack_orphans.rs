//! Orphans on a real OpenStack (Keystone, Nova with its fake virt driver,
//! Neutron; `.ci/cloud.sh`): a server created through the driver for an
//! attempt the server's store never recorded is logged once by the
//! reconciler, listed by `nuvola federation orphans`, and deleted by
//! `--clean --attempt`. Needs `NUVOLA_TEST_NOVA=1`; skips without it,
//! fails under `CI=true`.
//!
//! The cloud is shared with other tests, whose resources are orphans to
//! this server too: the test looks at, and cleans, only its own attempt.

mod common;

use std::time::{Duration, Instant};

use common::{Server, cli, cli_ok};
use nuvola_drivers::openstack::{OpenStackDriver, OpenStackSettings};
use nuvola_drivers::testing::{node, nova_keystone_url, unique};
use nuvola_drivers::{Driver, NodeProvision, ProvisionRequest};
use nuvola_types::ProviderSpec;
use serde_json::{Value, json};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

#[test]
fn an_orphan_server_on_openstack_is_logged_listed_and_cleaned() {
    let Some(url) = nova_keystone_url() else { return };
    let settings = json!({
        "username": env_or("NUVOLA_TEST_KEYSTONE_USER", "admin"),
        "password": env_or("NUVOLA_TEST_KEYSTONE_PASSWORD", "nuvola-admin"),
        "project": env_or("NUVOLA_TEST_KEYSTONE_PROJECT", "admin"),
        "region": "RegionOne",
        "network": "private",
        "floating_network": "public",
    });
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let config = format!(
        r#"
[workers]
reconcile_interval_secs = 1
orphan_scan_interval_secs = 1

[[providers]]
name = "nova-ci"
driver = "openstack"
endpoint = "{url}"
flavors = [{{ name = "m1.tiny", vcpus = 1, ram_mb = 512, disk_gb = 1 }}]
images = [{{ name = "cirros", distribution = "cirros", version = "0.6" }}]
networks = [{{ name = "private", kind = "private" }}]

[providers.settings]
{}
"#,
        settings.as_object().unwrap().iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join("\n")
    );
    std::fs::write(cwd.join("nuvola.toml"), config).unwrap();
    let args = ["--config", "nuvola.toml", "--data-dir", "data"];
    let admin = cli_ok(
        cwd,
        &[],
        &["token", "issue", "--user", "ops", "--admin", "--config", "nuvola.toml", "--data-dir", "data"],
    );
    let server = Server::start(cwd, &args, "serve.log");
    let as_admin = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", admin.trim())];

    // A driver call the store never recorded, e.g. one cut off by a crash
    // before the workflow saved its attempt.
    let spec: ProviderSpec = serde_json::from_value(json!({
        "name": "nova-ci", "driver": "openstack", "endpoint": url, "settings": settings,
    }))
    .unwrap();
    let driver = OpenStackDriver::open(&spec, OpenStackSettings::from_spec(&spec).unwrap()).unwrap();
    let attempt = unique("orphan");
    let request = ProvisionRequest {
        deployment_id: "never-stored".into(),
        attempt_id: attempt.clone(),
        project: "admin".into(),
        nodes: vec![NodeProvision {
            flavor: serde_json::from_value(json!({"name": "m1.tiny", "vcpus": 1, "ram_mb": 512, "disk_gb": 1}))
                .unwrap(),
            image: "cirros".into(),
            ..node("vm", 1)
        }],
        template: None,
        inputs: Default::default(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(driver.create(&request)).expect("Nova creates the server");

    // The reconciler, scanning every second, warns of it once.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.log_text().contains(&attempt) {
        assert!(Instant::now() < deadline, "the reconciler did not log the orphan:\n{}", server.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let log = server.log_text();
    let warnings = log.lines().filter(|l| l.contains(&attempt) && l.contains("orphan resources")).count();
    assert_eq!(warnings, 1, "{log}");

    let report: Value =
        serde_json::from_str(&cli_ok(cwd, &as_admin, &["federation", "orphans", "--output", "json"])).unwrap();
    let nova = report["providers"].as_array().unwrap().iter().find(|p| p["provider"] == "nova-ci").unwrap();
    assert!(nova.get("error").is_none(), "{report:#}");
    let ours: Vec<&Value> =
        nova["orphans"].as_array().unwrap().iter().filter(|o| o["attempt_id"] == attempt.as_str()).collect();
    assert_eq!(ours.len(), 1, "{report:#}");
    assert_eq!(ours[0]["why"], "attempt unknown to the store");
    assert_eq!(ours[0]["deployment_id"], "never-stored");
    assert!(ours[0]["resources"].as_array().unwrap().iter().any(|r| r["kind"] == "server"), "{report:#}");
    let table = cli_ok(cwd, &as_admin, &["federation", "orphans"]);
    assert!(table.lines().any(|l| l.contains(&attempt) && l.contains("server")), "{table}");

    let cleaned =
        cli_ok(cwd, &as_admin, &["federation", "orphans", "--clean", "--provider", "nova-ci", "--attempt", &attempt]);
    assert!(
        cleaned.lines().any(|l| l.contains(&attempt) && (l.contains("gone") || l.contains("deleting"))),
        "{cleaned}"
    );
    // Some resources go only once others have: clean again, as an
    // operator would, until the provider holds nothing for the attempt.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !runtime.block_on(driver.resources(&attempt)).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the orphan's resources were not deleted");
        std::thread::sleep(Duration::from_millis(500));
        cli(cwd, &as_admin, &["federation", "orphans", "--clean", "--provider", "nova-ci", "--attempt", &attempt]);
    }
    assert!(server.terminate().success());
}
