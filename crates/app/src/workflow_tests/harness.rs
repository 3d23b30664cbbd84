//! The harness: a real [`App`] over a real [`Store`] (SQLite in a
//! temporary folder, or PostgreSQL in a schema of its own, dropped after)
//! with two simulated sites, each behind a [`Faulty`] wrapper; the
//! workflow's clock stopped and moved only together with the sites' clocks;
//! and one step of a deployment run as a worker runs it (due, leased, read,
//! run, saved), or cut short as a killed worker leaves it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use nuvola_drivers::Driver;
use nuvola_drivers::sim::SimDriver;
use nuvola_store::{Store, StoreOptions};
use nuvola_types::{
    AttemptRecord, AttemptState, DeploymentRecord, DeploymentStatus, Principal, Progress, ProviderSpec, Usage,
};
use serde_json::{Map, Value, json};

use super::faulty::{Faults, Faulty};
use crate::workers::CHAIN_WITHIN_MS;
use crate::workflow::{self, Step};
use nuvola_identity::EmbeddedIssuer;

use crate::{App, Catalogue, CreateDeployment, Federation, Settings, UpdateDeployment};

/// The group deploying.
const GROUP: &str = "physics";

/// A worker's lease on a deployment.
const LEASE: Duration = Duration::from_secs(10);

/// How long the sites take to build servers and to delete an attempt.
pub(super) const CREATE_LATENCY: Duration = Duration::from_secs(3 * 60);
const DELETE_LATENCY: Duration = Duration::from_secs(60);

/// How late a worker comes back to a step that waits again (a build, a
/// delete): past any build and delete, so that every wait is one look
/// that finds the work unfinished and one that finds it done.
pub(super) const WAIT: Duration = Duration::from_secs(5 * 60);

/// The deployment's `providerTimeoutMins`, and its `timeoutMins`.
pub(super) const PROVIDER_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const TIMEOUT_MINS: i64 = 120;

/// One node whose count is an input, each server with a volume, a public
/// address and a port open: every kind of resource an update scales.
const TEMPLATE: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0

imports:
  - indigo_custom_types: https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml

topology_template:
  inputs:
    count:
      type: integer
      default: 1

  node_templates:
    worker:
      type: tosca.nodes.indigo.Compute
      capabilities:
        endpoint:
          properties:
            network_name: PUBLIC
            ports:
              ssh:
                protocol: tcp
                source: 22
        scalable:
          properties:
            count: { get_input: count }
        host:
          properties:
            num_cpus: 1
            mem_size: 2 GB
        os:
          properties:
            type: linux
            distribution: ubuntu
            version: "22.04"
      requirements:
        - local_storage:
            node: scratch
            relationship:
              type: tosca.relationships.AttachesTo
              properties:
                location: /scratch

    scratch:
      type: tosca.nodes.indigo.BlockStorage
      properties:
        size: 10 GiB

  outputs:
    addresses:
      value: { get_attribute: [ worker, public_address ] }
"#;

/// Which store a harness runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Db {
    Sqlite,
    Postgres,
}

/// How a step's run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Saved as a worker saves it.
    Saved,
    /// The worker is killed after the driver call, before the save: nothing
    /// is saved and its lease stays on the row until it runs out.
    CrashBeforeSave,
    /// The worker is killed right after saving, holding the lease for a
    /// next step as a chaining worker does.
    CrashAfterSave,
}

/// One step run, not saved yet.
pub(super) struct Ran {
    pub step: Step,
    /// The step as stored before it ran.
    stored: Value,
    pub after: DeploymentRecord,
    pub progress: Progress,
    lease: String,
}

/// A deployment at rest (or where a scenario interrupts it), as two runs
/// that end alike must agree on it: ids, addresses and times left out.
#[derive(Debug, PartialEq)]
pub(super) struct Snapshot {
    status: DeploymentStatus,
    reason: Option<String>,
    provider: Option<String>,
    physical_id: Option<String>,
    held: Usage,
    held_by_group: Vec<(String, Usage)>,
    outputs: Value,
    /// Number, provider, state, reason.
    attempts: Vec<(i64, String, AttemptState, Option<String>)>,
    /// What the sites hold: site, attempt, kind, name, node, state.
    on_sites: Vec<[String; 6]>,
    log: Vec<String>,
}

impl Snapshot {
    pub(super) fn status(&self) -> DeploymentStatus {
        self.status
    }
}

/// A nuvola with its store and two simulated sites, `alpha` (ranked first)
/// and `beta`, both granting [`GROUP`].
pub(super) struct Harness {
    pub app: App,
    pub faults: Arc<Faults>,
    sites: BTreeMap<String, SimDriver>,
    caller: Principal,
    /// The lease a chaining worker kept across its last save.
    kept: Option<String>,
    /// The step that ran and was saved last, to tell a step that waits
    /// again.
    last: Option<Value>,
    claims: u64,
    schema: Option<String>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A fresh harness on `db`; `None` (the reason printed) when the
    /// PostgreSQL under test is not configured on a developer's machine.
    pub(super) async fn open(db: Db) -> Option<Harness> {
        Self::open_on(db, vec![site("alpha", 0, 1.0), site("beta", 1, 0.5)]).await
    }

    /// A fresh harness on `db` over the simulated `providers`, which must
    /// grant [`GROUP`].
    pub(super) async fn open_on(db: Db, providers: Vec<ProviderSpec>) -> Option<Harness> {
        let dir = tempfile::tempdir().expect("temporary folder");
        let (url, schema) = match db {
            Db::Sqlite => (format!("sqlite://{}", dir.path().join("nuvola.sqlite").display()), None),
            Db::Postgres => (postgres_url()?, Some(format!("steps_{}", uuid::Uuid::new_v4().simple()))),
        };
        let options = StoreOptions {
            schema: schema.clone(),
            secrets_key: Some([7; 32]),
            max_connections: 4,
            ..StoreOptions::new(url)
        };
        let store = Store::open(options).await.expect("store opens");
        store.sync_config_providers(&providers).await.expect("registry filled");
        let federation = Federation::open(providers, None).expect("federation opens");
        let resolver = Arc::new(nuvola_tosca::builtin_resolver());
        let verifier = Arc::new(EmbeddedIssuer::from_seed([42; 32], "nuvola"));
        let settings = Settings { lease: LEASE, ..Settings::default() };
        let app = App::new(store, Catalogue::default(), federation, verifier, resolver, settings);
        app.inner.clock.stop();
        let faults = Arc::new(Faults::default());
        faults.set_now(app.inner.clock.now_ms());
        let sites = app.federation().sims();
        for (name, site) in &sites {
            let faulty = Faulty { site: site.clone(), faults: faults.clone() };
            app.federation().set_driver(name, Arc::new(faulty));
        }
        let caller = Principal {
            subject: "alice".into(),
            issuer: "nuvola".into(),
            groups: vec![GROUP.into()],
            admin: false,
            manages: vec![],
            email: None,
            client_ip: None,
        };
        Some(Harness { app, faults, sites, caller, kept: None, last: None, claims: 0, schema, _dir: dir })
    }

    /// Drops the harness's PostgreSQL schema and closes the store.
    pub(super) async fn close(self) {
        let store = self.app.store();
        if let Some(schema) = &self.schema {
            store.drop_schema(schema).await.expect("schema dropped");
        }
        store.close().await;
    }

    /// One of the simulated sites, to steer it.
    pub(super) fn site(&self, name: &str) -> &SimDriver {
        &self.sites[name]
    }

    /// Submits the template with one worker; returns the deployment's id.
    pub(super) async fn submit(&self, keep_last_attempt: bool) -> String {
        let request = CreateDeployment {
            keep_last_attempt,
            template: TEMPLATE.into(),
            parameters: Map::from_iter([("count".to_string(), json!(1))]),
            timeout_mins: Some(TIMEOUT_MINS),
            provider_timeout_mins: Some(minutes(PROVIDER_TIMEOUT)),
            user_group: Some(GROUP.into()),
            ..Default::default()
        };
        self.app.create_deployment(&self.caller, request).await.expect("deployment submitted").id
    }

    /// Submits `template` as it is, with one worker; returns the
    /// deployment's id.
    pub(super) async fn submit_template(&self, template: &str) -> String {
        let request = CreateDeployment {
            template: template.into(),
            timeout_mins: Some(TIMEOUT_MINS),
            provider_timeout_mins: Some(minutes(PROVIDER_TIMEOUT)),
            user_group: Some(GROUP.into()),
            ..Default::default()
        };
        self.app.create_deployment(&self.caller, request).await.expect("deployment submitted").id
    }

    /// Asks for a second worker.
    pub(super) async fn scale_up(&self, id: &str) {
        let request =
            UpdateDeployment { parameters: Map::from_iter([("count".to_string(), json!(2))]), ..Default::default() };
        self.app.update_deployment(&self.caller, id, request).await.expect("update accepted");
    }

    pub(super) async fn delete(&self, id: &str) {
        self.app.delete_deployment(&self.caller, id).await.expect("delete accepted");
    }

    /// The deployment's stored row.
    pub(super) async fn row(&self, id: &str) -> DeploymentRecord {
        self.app.store().deployment(id).await.expect("store answers").expect("deployment stored")
    }

    /// Moves time on, for nuvola and every site alike.
    pub(super) fn advance(&self, by: Duration) {
        self.app.inner.clock.advance(by);
        for site in self.sites.values() {
            site.advance_clock(by);
        }
        self.faults.set_now(self.now());
    }

    pub(super) fn now(&self) -> i64 {
        self.app.inner.clock.now_ms()
    }

    /// Runs the deployment's stored step as a worker does, without saving
    /// it: once it is due (a step that waits again, [`WAIT`] later), under
    /// the lease kept from the last save or a new claim, on the row and the
    /// attempts read from the store.
    pub(super) async fn run(&mut self, id: &str) -> Ran {
        let d = self.row(id).await;
        let step = d.workflow.clone().expect("the deployment has a step to run");
        if self.last.as_ref() == Some(&step) {
            if let Some(lease) = self.kept.take() {
                self.app.store().release_lease(id, &lease).await.expect("lease released");
            }
            self.advance(WAIT);
        } else if let Some(due) = d.next_run_at.filter(|due| *due > self.now()) {
            self.advance(Duration::from_millis((due - self.now()) as u64));
        }
        let lease = match self.kept.take() {
            Some(lease) => lease,
            None => self.claim(id).await.expect("the step is due and no lease holds it"),
        };
        self.run_leased(id, lease).await
    }

    /// Runs the same step again from the same stored state, under the same
    /// lease: what a replay after a crash between the driver call and the
    /// save does.
    pub(super) async fn run_again(&mut self, id: &str, ran: &Ran) -> Ran {
        self.run_leased(id, ran.lease.clone()).await
    }

    async fn run_leased(&self, id: &str, lease: String) -> Ran {
        let store = self.app.store();
        let d = self.row(id).await;
        let attempts = store.attempts(id).await.expect("attempts read");
        let stored = d.workflow.clone().expect("a step to run");
        let step: Step = serde_json::from_value(stored.clone()).expect("a stored step");
        let mut after = d;
        let mut progress = Progress::default();
        workflow::run_step(&self.app, &mut after, &attempts, &mut progress)
            .await
            .unwrap_or_else(|e| panic!("step {step:?} failed: {e}"));
        after.updated_at = self.now();
        Ran { step, stored, after, progress, lease }
    }

    /// Ends a step's run: saved as the worker saves it (keeping the lease
    /// when the next step is due within [`CHAIN_WITHIN_MS`]), or cut short
    /// by a kill, after which the dead worker's lease keeps everyone off
    /// the row until it runs out.
    pub(super) async fn end(&mut self, id: &str, ran: Ran, end: End) {
        let store = self.app.store();
        if end != End::CrashBeforeSave {
            let chain = ran.after.next_run_at.is_some_and(|at| at - ran.after.updated_at <= CHAIN_WITHIN_MS);
            let hold = chain || end == End::CrashAfterSave;
            let saved = if hold {
                let until = ran.after.updated_at + LEASE.as_millis() as i64;
                store.save_deployment_holding(&ran.after, &ran.lease, until, &ran.progress).await
            } else {
                store.save_deployment(&ran.after, Some(&ran.lease), &ran.progress).await
            };
            assert!(saved.expect("store answers"), "step {:?} was not saved under its lease", ran.step);
            self.last = Some(ran.stored);
            if hold && end == End::Saved {
                self.kept = Some(ran.lease);
            }
        }
        if end == End::Saved {
            return;
        }
        self.kept = None;
        let due = self.row(id).await.next_run_at.is_some_and(|at| at <= self.now());
        if due {
            assert!(self.claim(id).await.is_none(), "a dead worker's lease must keep others off the row");
        }
        self.advance(LEASE + Duration::from_millis(1));
    }

    /// Claims the due deployment under a new lease.
    async fn claim(&mut self, id: &str) -> Option<String> {
        self.claims += 1;
        let lease = format!("test-worker#{}", self.claims);
        let lease_ms = LEASE.as_millis() as i64;
        let claimed = self.app.store().claim_due(&lease, self.now(), lease_ms, 1).await.expect("claim");
        match claimed.as_slice() {
            [] => None,
            [d] => {
                assert_eq!(d.id, id, "only one deployment is due");
                Some(lease)
            }
            more => panic!("{} deployments claimed at once", more.len()),
        }
    }

    /// Runs the reconciler, as its timer does ([`WAIT`] apart), until no
    /// attempt is left orphaned.
    pub(super) async fn settle_orphans(&self) {
        for _ in 0..10 {
            if self.app.reconcile_orphans().await.pending == 0 {
                return;
            }
            self.advance(WAIT);
        }
        panic!("orphaned attempts still pending after ten passes of the reconciler");
    }

    /// Everything the sites hold, site by site.
    pub(super) async fn on_sites(&self) -> Vec<(String, nuvola_drivers::Resource)> {
        let mut held = Vec::new();
        for (name, site) in &self.sites {
            let inventory = site.inventory().await.expect("site answers");
            held.extend(inventory.into_iter().map(|r| (name.clone(), r)));
        }
        held.sort_by(|a, b| (&a.0, &a.1.id).cmp(&(&b.0, &b.1.id)));
        held
    }

    /// Checks the deployment where it rests, then snapshots it. Running: one
    /// ready attempt, every other one cleaned, the sites holding that
    /// attempt's resources alone, as many servers as asked, the quota held
    /// what they take. Failed with its last attempt kept: that attempt
    /// alone held, and its quota. Failed or deleted: the sites hold nothing,
    /// every attempt is cleaned or deleted and the group holds no quota.
    pub(super) async fn rest(&self, id: &str) -> Snapshot {
        let store = self.app.store();
        let d = self.row(id).await;
        let attempts = store.attempts(id).await.expect("attempts read");
        let on_sites = self.on_sites().await;
        let held_by_group = store.held_by_group(GROUP).await.expect("holdings read");
        let group_total = held_by_group.iter().fold(Usage::default(), |sum, (_, u)| sum.plus(*u));
        let mut names: Vec<(&String, &String)> = on_sites.iter().map(|(site, r)| (site, &r.name)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), on_sites.len(), "a resource held twice: {on_sites:#?}");
        let holding = match d.status {
            DeploymentStatus::CreateComplete | DeploymentStatus::UpdateComplete | DeploymentStatus::UpdateFailed => {
                Some(AttemptState::Ready)
            }
            // Kept with keepLastAttempt when the site holds anything of it.
            DeploymentStatus::CreateFailed if attempts.iter().any(|a| a.state == AttemptState::Kept) => {
                Some(AttemptState::Kept)
            }
            DeploymentStatus::CreateFailed | DeploymentStatus::DeleteComplete => None,
            // Interrupted on its way (a scenario acting mid-run).
            _ => return self.snapshot(d, attempts, on_sites, held_by_group).await,
        };
        let Some(state) = holding else {
            assert_eq!(on_sites, vec![], "nothing left on the sites");
            for a in &attempts {
                assert!(!a.state.may_hold_resources(), "attempt {} is {:?}", a.number, a.state);
            }
            assert_eq!((d.held, group_total), (Usage::default(), Usage::default()), "no quota held");
            return self.snapshot(d, attempts, on_sites, held_by_group).await;
        };
        let held: Vec<_> = attempts.iter().filter(|a| a.state == state).collect();
        assert_eq!(held.len(), 1, "one {state:?} attempt: {attempts:#?}");
        let held = held[0];
        for a in attempts.iter().filter(|a| a.number != held.number) {
            assert_eq!(a.state, AttemptState::Cleaned, "a failed attempt is cleaned: {attempts:#?}");
        }
        for (site, r) in &on_sites {
            assert_eq!((site, &r.attempt_id), (&held.provider, &held.attempt_id), "left over: {r:#?}");
        }
        let servers = on_sites.iter().filter(|(_, r)| r.kind == nuvola_drivers::ResourceKind::Server);
        let asked: u32 = d.requirements.nodes.iter().map(|n| n.count).sum();
        // A failed update may have left the old count.
        if d.status != DeploymentStatus::UpdateFailed {
            assert_eq!(servers.count(), asked as usize, "{:?}: servers held: {on_sites:#?}", d.status);
            let placed = d.plan.candidates.iter().find(|c| c.provider == held.provider).expect("placed");
            assert_eq!(d.held, workflow::held_by(&self.app, &d.requirements, placed), "quota held");
        }
        assert_eq!(group_total, d.held, "the group holds what the deployment holds");
        self.snapshot(d, attempts, on_sites, held_by_group).await
    }

    async fn snapshot(
        &self,
        d: DeploymentRecord,
        attempts: Vec<AttemptRecord>,
        on_sites: Vec<(String, nuvola_drivers::Resource)>,
        held_by_group: Vec<(String, Usage)>,
    ) -> Snapshot {
        let store = self.app.store();
        let id = d.id.as_str();
        let log = store.log(id).await.expect("log read");
        let mut on_sites: Vec<[String; 6]> = on_sites
            .into_iter()
            .map(|(site, r)| [site, plain(&r.attempt_id), format!("{:?}", r.kind), plain(&r.name), r.node, r.state])
            .collect();
        on_sites.sort();
        Snapshot {
            status: d.status,
            reason: d.status_reason.as_deref().map(plain),
            provider: d.provider,
            physical_id: d.physical_id.as_deref().map(plain),
            held: d.held,
            held_by_group,
            outputs: masked(Value::Object(d.outputs)),
            attempts: attempts
                .into_iter()
                .map(|a| (a.number, a.provider, a.state, a.reason.as_deref().map(plain)))
                .collect(),
            on_sites,
            log: log.iter().map(|l| plain(&l.message)).collect(),
        }
    }
}

/// A simulated site granting [`GROUP`] with `priority`.
fn site(name: &str, index: u8, priority: f64) -> ProviderSpec {
    let spec = json!({
        "name": name,
        "driver": "sim",
        "endpoint": format!("https://{name}.cloud.test:5000/v3"),
        "flavors": [
            {"name": "m1.small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 20},
            {"name": "m1.medium", "vcpus": 2, "ram_mb": 4096, "disk_gb": 20},
        ],
        "images": [{"name": "ubuntu-22.04", "distribution": "ubuntu", "version": "22.04"}],
        "volume_types": [{"name": "standard"}],
        "networks": [
            {"name": "public", "kind": "public", "cidr": format!("203.0.113.{}/27", u32::from(index) * 32)},
            {"name": "private", "kind": "private", "cidr": format!("10.{index}.0.0/16")},
        ],
        "groups": {GROUP: {
            "sla_id": format!("sla-{GROUP}-{name}"),
            "project": GROUP,
            "priority": priority,
            "quota": {"instances": 10, "cores": 40, "ram_mb": 81920, "volumes": 10, "volume_gb": 500, "public_ips": 10},
        }},
        "settings": {
            "seed": index,
            "create_latency_ms": CREATE_LATENCY.as_millis() as u64,
            "delete_latency_ms": DELETE_LATENCY.as_millis() as u64,
        },
    });
    serde_json::from_value(spec).expect("a site's description")
}

/// The PostgreSQL to test on; `None`, saying why, when it is not set on a
/// developer's machine. Under CI it must be.
pub(super) fn postgres_url() -> Option<String> {
    if let Ok(url) = std::env::var("NUVOLA_TEST_POSTGRES_URL") {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("NUVOLA_TEST_POSTGRES_URL is not set under CI: .ci/services.sh should have started PostgreSQL");
    }
    eprintln!("skipping: NUVOLA_TEST_POSTGRES_URL not set (run ./test.sh to start PostgreSQL)");
    None
}

fn minutes(d: Duration) -> i64 {
    (d.as_secs() / 60) as i64
}

/// `text` with every UUID (deployment ids, attempt ids, the sites'
/// resource ids) written `<id>`: two runs make different ones.
fn plain(text: &str) -> String {
    let is_uuid = |s: &[u8]| {
        s.len() == 36
            && s.iter()
                .enumerate()
                .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { *c == b'-' } else { c.is_ascii_hexdigit() })
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() && is_uuid(&bytes[i..i + 36]) {
            out.push_str("<id>");
            i += 36;
        } else {
            let c = text[i..].chars().next().expect("a character");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `value` with every address written `<ip>` (the sites draw them from
/// the attempt's id) and every id as in [`plain`].
fn masked(value: Value) -> Value {
    match value {
        Value::String(s) if s.parse::<IpAddr>().is_ok() => Value::String("<ip>".into()),
        Value::String(s) => Value::String(plain(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(masked).collect()),
        Value::Object(fields) => Value::Object(fields.into_iter().map(|(k, v)| (k, masked(v))).collect()),
        other => other,
    }
}

#[test]
fn ids_and_addresses_are_masked() {
    let id = "3f2b8c1e-9a4d-4e7f-8b21-0c5d6e7f8a9b";
    assert_eq!(plain(&format!("attempt {id}-2 on alpha")), "attempt <id>-2 on alpha");
    assert_eq!(plain("not-a-uuid 3f2b8c1e"), "not-a-uuid 3f2b8c1e");
    assert_eq!(masked(json!({"a": ["203.0.113.7", id]})), json!({"a": ["<ip>", "<id>"]}));
}
