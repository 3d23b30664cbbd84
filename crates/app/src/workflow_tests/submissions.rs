//! Submissions from many groups at once hold no database connection while
//! the providers answer: eight groups submit together on a store whose
//! pool has two connections, and the site's quota call lets nobody through
//! until all eight are inside it. Were a connection held across the call,
//! at most two could be there at once and the gate would never open.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use nuvola_drivers::sim::SimDriver;
use nuvola_drivers::update::{Footprint, UpdateSupport};
use nuvola_drivers::{
    AttemptState, ConsoleLog, DeleteState, Driver, DriverError, ProjectQuota, ProvisionRequest, Resource,
};
use nuvola_identity::EmbeddedIssuer;
use nuvola_store::{Store, StoreOptions};
use nuvola_types::{DeploymentStatus, Principal, ProviderSpec};
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;

use super::harness::{Db, postgres_url};
use crate::{App, Catalogue, CreateDeployment, Federation, Settings};

/// Groups submitting at once, as in the issue that asked for this.
const GROUPS: usize = 8;

/// Connections in the store's pool: fewer than the submissions.
const CONNECTIONS: u32 = 2;

/// Longest the test waits for all submissions: far more than they need,
/// only so that a regression fails instead of hanging.
const DEADLOCK: Duration = Duration::from_secs(120);

/// A simulated site whose quota call waits until every group is inside it.
struct Gate {
    site: SimDriver,
    all_inside: Barrier,
    inside: AtomicUsize,
    most_inside: AtomicUsize,
}

#[async_trait]
impl Driver for Gate {
    async fn create(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        self.site.create(request).await
    }
    async fn status(&self, attempt_id: &str) -> Result<AttemptState, DriverError> {
        self.site.status(attempt_id).await
    }
    async fn update(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        self.site.update(request).await
    }
    fn update_support(&self) -> UpdateSupport {
        self.site.update_support()
    }
    async fn footprint(&self, attempt_id: &str) -> Result<Footprint, DriverError> {
        self.site.footprint(attempt_id).await
    }
    async fn delete(&self, attempt_id: &str) -> Result<DeleteState, DriverError> {
        self.site.delete(attempt_id).await
    }
    async fn resources(&self, attempt_id: &str) -> Result<Vec<Resource>, DriverError> {
        self.site.resources(attempt_id).await
    }
    async fn inventory(&self) -> Result<Vec<Resource>, DriverError> {
        self.site.inventory().await
    }
    async fn project_quota(&self, project: &str) -> Result<Option<ProjectQuota>, DriverError> {
        // Counted while inside, also when the caller gives up waiting.
        struct Inside<'a>(&'a AtomicUsize);
        impl Drop for Inside<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        let _inside = Inside(&self.inside);
        self.most_inside.fetch_max(now, Ordering::SeqCst);
        self.all_inside.wait().await;
        self.site.project_quota(project).await
    }
    async fn console_log(&self, attempt_id: &str) -> Result<Vec<ConsoleLog>, DriverError> {
        self.site.console_log(attempt_id).await
    }
}

/// One site granting `g0` … `g7` a project each.
fn site() -> ProviderSpec {
    let grants: Map<String, Value> = (0..GROUPS)
        .map(|i| {
            let grant = json!({"sla_id": format!("sla-g{i}"), "project": format!("g{i}"), "priority": 1.0,
                "quota": {"instances": 10, "cores": 40, "ram_mb": 81920, "public_ips": 10}});
            (format!("g{i}"), grant)
        })
        .collect();
    serde_json::from_value(json!({
        "name": "alpha",
        "driver": "sim",
        "endpoint": "https://alpha.cloud.test:5000/v3",
        "flavors": [{"name": "m1.small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 20}],
        "images": [{"name": "ubuntu-22.04", "distribution": "ubuntu", "version": "22.04"}],
        "networks": [
            {"name": "public", "kind": "public", "cidr": "203.0.113.0/24"},
            {"name": "private", "kind": "private", "cidr": "10.0.0.0/16"},
        ],
        "groups": grants,
    }))
    .expect("a site's description")
}

const ONE_VM: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  node_templates:
    vm:
      type: tosca.nodes.Compute
      capabilities:
        host:
          properties: { num_cpus: 1, mem_size: 2 GB }
        os:
          properties: { type: linux, distribution: ubuntu, version: "22.04" }
"#;

async fn eight_groups_at_the_providers_at_once(db: Db) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (url, schema) = match db {
        Db::Sqlite => (format!("sqlite://{}", dir.path().join("nuvola.sqlite").display()), None),
        Db::Postgres => match postgres_url() {
            Some(url) => (url, Some(format!("submissions_{}", uuid::Uuid::new_v4().simple()))),
            None => return,
        },
    };
    let options = StoreOptions { schema: schema.clone(), max_connections: CONNECTIONS, ..StoreOptions::new(url) };
    let store = Store::open(options).await.expect("store opens");
    store.sync_config_providers(&[site()]).await.expect("registry filled");
    let federation = Federation::open(vec![site()], None).expect("federation opens");
    let gate = Arc::new(Gate {
        site: federation.sims().remove("alpha").expect("the site"),
        all_inside: Barrier::new(GROUPS),
        inside: AtomicUsize::new(0),
        most_inside: AtomicUsize::new(0),
    });
    federation.set_driver("alpha", gate.clone());
    let resolver = Arc::new(nuvola_tosca::builtin_resolver());
    let issuer = Arc::new(EmbeddedIssuer::from_seed([42; 32], "nuvola"));
    let app = App::new(store.clone(), Catalogue::default(), federation, issuer, resolver, Settings::default());

    let mut submissions = tokio::task::JoinSet::new();
    for i in 0..GROUPS {
        let (app, group) = (app.clone(), format!("g{i}"));
        submissions.spawn(async move {
            let caller = Principal {
                subject: format!("user-{i}"),
                issuer: "nuvola".into(),
                groups: vec![group.clone()],
                admin: false,
                manages: vec![],
                email: None,
                client_ip: None,
            };
            let request = CreateDeployment { template: ONE_VM.into(), user_group: Some(group), ..Default::default() };
            app.create_deployment(&caller, request).await
        });
    }
    let all = tokio::time::timeout(DEADLOCK, async {
        let mut made = Vec::new();
        while let Some(done) = submissions.join_next().await {
            made.push(done.expect("a submission task"));
        }
        made
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{db:?}: submissions stuck with {} of {GROUPS} at the provider: a connection is held across its call",
            gate.inside.load(Ordering::SeqCst)
        )
    });
    for made in all {
        let d = made.unwrap_or_else(|e| panic!("{db:?}: a submission failed: {}", e.logged()));
        assert_eq!(d.status, DeploymentStatus::CreateInProgress, "{db:?}: {d:?}");
    }
    assert_eq!(gate.most_inside.load(Ordering::SeqCst), GROUPS, "{db:?}: every group at the provider at once");
    if let Some(schema) = &schema {
        store.drop_schema(schema).await.expect("schema dropped");
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    eight_groups_at_the_providers_at_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    eight_groups_at_the_providers_at_once(Db::Postgres).await;
}
