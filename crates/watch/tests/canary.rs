//! The provider canary on a simulated site, on the simulator's clock (a
//! pause moves it, nothing sleeps), with a store on SQLite: a run times
//! its three phases and leaves nothing; a run cut off after its create is
//! finished by a later pass once its lease ran out, retried until the site
//! says the VM is gone; a site that refuses the create records the failure
//! and fails the provider's check; a VM the site cannot delete fails the
//! check and blocks new runs until a later pass deletes it; a VM still
//! listed after a delete said gone is found and deleted; a passed run does
//! not keep a site that went down out of a major outage; passes in one
//! slot make one run, also at once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::Steered;
use futures::future::BoxFuture;
use nuvola_drivers::sim::{SimDriver, SimSettings};
use nuvola_drivers::{Driver, NodeProvision, ProvisionRequest, Resource};
use nuvola_monitor::openmetrics::Exposition;
use nuvola_store::{Store, StoreOptions};
use nuvola_types::{CanaryPhase, ComponentState, ProviderSpec};
use nuvola_watch::canary::{Pace, TICK};
use nuvola_watch::{CanarySettings, ProviderTarget, Targets, Watch, WatchSettings};
use serde_json::json;

const T0: i64 = 1_800_000_000_000;

fn spec() -> ProviderSpec {
    serde_json::from_value(json!({
        "name": "bari",
        "driver": "sim",
        "endpoint": "https://bari.example/v3",
        "flavors": [
            {"name": "medium", "vcpus": 2, "ram_mb": 4096, "disk_gb": 40},
            {"name": "small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 20},
            {"name": "small.lowdisk", "vcpus": 1, "ram_mb": 2048, "disk_gb": 10},
        ],
        "images": [
            {"name": "ubuntu-22.04", "distribution": "ubuntu", "version": "22.04"},
            {"name": "alma-9", "distribution": "almalinux", "version": "9"},
        ],
        "groups": {"physics": {"sla_id": "sla-1", "project": "physics", "quota": {"instances": 10, "cores": 100}}},
    }))
    .unwrap()
}

/// The simulator's clock as the canary's: a pause moves the site's clock
/// and this one by as much, at once.
struct SimPace {
    sim: SimDriver,
    now: AtomicI64,
}

impl SimPace {
    fn advance(&self, by: Duration) {
        self.sim.advance_clock(by);
        self.now.fetch_add(i64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

impl Pace for SimPace {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn pause(&self, d: Duration) -> BoxFuture<'_, ()> {
        self.advance(d);
        Box::pin(async {})
    }
}

struct Scene {
    _dir: tempfile::TempDir,
    store: Store,
    watch: Watch,
    site: Arc<Steered>,
    sim: SimDriver,
    targets: Targets,
    pace: SimPace,
}

impl Scene {
    async fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
        let store = Store::open(StoreOptions::new(&url)).await.unwrap();
        // Builds take 2 s and deletes 1.8 s on the site's clock.
        let settings = SimSettings { create_latency_ms: 2_000, delete_latency_ms: 1_800, ..SimSettings::default() };
        let sim = SimDriver::open(&spec(), settings, Some(dir.path())).unwrap();
        let site = Arc::new(Steered::new(Arc::new(sim.clone())));
        let targets = Targets { providers: vec![ProviderTarget { spec: spec(), driver: site.clone() }] };
        let canary = CanarySettings { providers: vec!["bari".into()], ..CanarySettings::default() };
        let settings = WatchSettings { canary, ..WatchSettings::default() };
        let watch =
            Watch::new(store.clone(), nuvola_notify::Notifier::new(None, Vec::new(), "http://nuvola.test"), settings);
        let pace = SimPace { sim: sim.clone(), now: AtomicI64::new(T0) };
        Scene { _dir: dir, store, watch, site, sim, targets, pace }
    }

    async fn pass(&self) -> nuvola_watch::CanaryPass {
        let site: Arc<dyn Driver> = self.site.clone();
        let drivers = move |name: &str| (name == "bari").then(|| site.clone());
        self.watch.canary_pass(&self.targets, &drivers, &self.pace).await.unwrap()
    }

    /// Every resource the site holds, whoever made it.
    async fn held(&self) -> Vec<Resource> {
        self.sim.inventory().await.unwrap()
    }

    async fn round(&self) -> nuvola_watch::ComponentStatus {
        self.watch.round(&self.targets, self.pace.now_ms()).await.unwrap();
        self.watch.snapshot().provider("bari").unwrap().clone()
    }

    async fn metrics(&self) -> String {
        let mut out = Exposition::new();
        self.watch.canary_metrics(&mut out, self.pace.now_ms()).await.unwrap();
        out.finish()
    }
}

fn canary_check(status: &nuvola_watch::ComponentStatus) -> &nuvola_types::ProbeResult {
    status.checks.iter().find(|c| c.probe == "canary").expect("a canary check")
}

#[tokio::test]
async fn a_run_times_its_three_phases_and_leaves_nothing_behind() {
    let s = Scene::new().await;
    let pass = s.pass().await;
    assert_eq!(pass.runs.len(), 1, "{pass:?}");
    let run = &pass.runs[0];
    assert_eq!((run.flavor.as_str(), run.image.as_str()), ("small.lowdisk", "ubuntu-22.04"), "the smallest VM");
    // Accepted at once; polled at 0 s, 1 s and 2.5 s; deleted, then
    // looked at 1 s and 2.5 s later: all on the site's clock.
    assert_eq!((run.create_ms, run.ready_ms, run.delete_ms), (Some(0), Some(2_500), Some(2_500)));
    assert_eq!((run.ok, run.gone, run.failed_phase), (Some(true), true, None));
    assert_eq!((run.started_at, run.finished_at), (T0, Some(T0 + 5_000)));
    assert!(s.held().await.is_empty(), "the site holds nothing: {:?}", s.held().await);
    assert_eq!(s.store.canary_runs_since(0).await.unwrap(), pass.runs, "as the store keeps it");

    // The run is the provider's `canary` check, never slow for its 5 s.
    let status = s.round().await;
    let check = canary_check(&status);
    assert!(check.ok);
    assert_eq!(check.latency_ms, 5_000);
    assert_eq!(check.detail, "small.lowdisk: accepted in 0.0 s, running 2.5 s later, gone 2.5 s after its delete");
    assert_eq!(status.state, ComponentState::Operational);
    let recorded = s.store.probe_results("clouds/bari", 0, i64::MAX, 100).await.unwrap();
    assert!(recorded.iter().all(|r| r.probe != "canary"), "kept as a run, not as a round's result: {recorded:?}");

    let metrics = s.metrics().await;
    for line in [
        "nuvola_canary_phase_seconds{provider=\"bari\",phase=\"create\"} 0\n",
        "nuvola_canary_phase_seconds{provider=\"bari\",phase=\"ready\"} 2.5\n",
        "nuvola_canary_phase_seconds{provider=\"bari\",phase=\"delete\"} 2.5\n",
        "nuvola_canary_success{provider=\"bari\"} 1\n",
        "nuvola_canary_leftovers{provider=\"bari\"} 0\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

/// A passed run is old news: a site that stops answering after it goes
/// into a major outage all the same (placement skips it then).
#[tokio::test]
async fn a_passed_run_does_not_hold_up_a_site_that_went_down() {
    let s = Scene::new().await;
    assert_eq!(s.pass().await.runs[0].ok, Some(true));
    assert_eq!(s.round().await.state, ComponentState::Operational);
    s.sim.set_unavailable(true);
    s.pace.advance(Duration::from_secs(60));
    s.round().await;
    s.pace.advance(Duration::from_secs(60));
    let status = s.round().await;
    assert_eq!(status.state, ComponentState::MajorOutage, "{:?}", status.checks);
    assert!(canary_check(&status).ok, "still shown as it ran");
}

#[tokio::test]
async fn passes_in_one_slot_make_one_run_also_at_once() {
    let s = Scene::new().await;
    let (a, b) = tokio::join!(s.pass(), s.pass());
    assert_eq!(a.runs.len() + b.runs.len(), 1, "one of two passes at once runs: {a:?} {b:?}");
    let again = s.pass().await;
    assert!(again.runs.is_empty() && again.cleaned.is_empty() && again.leftovers.is_empty(), "{again:?}");
    assert_eq!(s.store.canary_runs_since(0).await.unwrap().len(), 1);
    assert!(s.held().await.is_empty());

    // The next slot gets its own run.
    s.pace.advance(Duration::from_secs(3600));
    let next = s.pass().await;
    assert_eq!(next.runs.len(), 1);
    assert_eq!(next.runs[0].slot, a.runs.iter().chain(&b.runs).next().unwrap().slot + 1);
    assert!(s.held().await.is_empty());
}

#[tokio::test]
async fn a_refused_create_is_recorded_and_fails_the_providers_check() {
    let s = Scene::new().await;
    assert_eq!(s.round().await.state, ComponentState::Operational, "before any canary");
    s.sim.set_fail_creates(true);
    let pass = s.pass().await;
    let run = &pass.runs[0];
    assert_eq!((run.ok, run.failed_phase), (Some(false), Some(CanaryPhase::Create)));
    let error = run.error.clone().unwrap();
    assert!(error.contains("bari"), "the site's refusal, in words: {error}");
    assert_eq!((run.create_ms, run.ready_ms), (None, None), "never accepted, never running");
    assert_eq!((run.delete_ms, run.gone), (Some(0), true), "a delete still confirms nothing was made");
    assert!(s.held().await.is_empty());

    // The provider's check fails from now on; two rounds make it partial.
    let status = s.round().await;
    let check = canary_check(&status);
    assert!(!check.ok);
    assert_eq!(check.detail, format!("create failed: {error}"));
    assert_eq!(status.state, ComponentState::Operational, "one bad round changes nothing");
    s.pace.advance(Duration::from_secs(60));
    let status = s.round().await;
    assert_eq!(status.state, ComponentState::PartialOutage, "{:?}", status.checks);
    assert_eq!(status.reason(), format!("canary: create failed: {error}"));
    assert!(s.metrics().await.contains("nuvola_canary_success{provider=\"bari\"} 0\n"));

    // The next slot's run passes, and the check with it.
    s.sim.set_fail_creates(false);
    s.pace.advance(Duration::from_secs(3600));
    assert_eq!(s.pass().await.runs[0].ok, Some(true));
    assert!(canary_check(&s.round().await).ok);
}

#[tokio::test]
async fn a_run_cut_off_after_its_create_is_finished_by_a_later_pass() {
    let s = Scene::new().await;
    s.site.hang_status.store(true, Ordering::SeqCst);
    tokio::select! {
        pass = s.pass() => panic!("the pass ended: {pass:?}"),
        () = s.site.hung.notified() => {}
    }
    // Cut off (the pass dropped, as a shutdown or a crash drops it): the
    // site holds the VM, the store the run, unfinished.
    s.site.hang_status.store(false, Ordering::SeqCst);
    let held = s.held().await;
    assert_eq!(held.iter().filter(|r| r.kind == nuvola_drivers::ResourceKind::Server).count(), 1, "{held:?}");
    let run = s.store.canary_runs_since(0).await.unwrap().remove(0);
    assert_eq!((run.create_ms, run.finished_at, run.ok, run.gone), (Some(0), None, None, false));
    assert_eq!(held[0].attempt_id, run.id);
    assert_eq!(held[0].deployment_id, "canary");

    // Under its lease it may still be running: nothing touches it.
    let pass = s.pass().await;
    assert!(pass.runs.is_empty() && pass.cleaned.is_empty() && pass.leftovers.is_empty(), "{pass:?}");
    assert!(!s.held().await.is_empty());

    // Once the lease ran out it is a leftover: the provider fails its
    // check, and each pass asks the delete until the site says gone.
    s.pace.advance(CanarySettings::default().lease());
    let check = canary_check(&s.round().await).clone();
    assert!(!check.ok);
    assert_eq!(check.detail, "the canary VM of 2027-01-15 08:00 UTC is not deleted yet");
    let pass = s.pass().await;
    assert_eq!(pass.leftovers.len(), 1, "the site is deleting it: {pass:?}");
    assert_eq!(pass.leftovers[0].cleanup_error.as_deref(), Some("being deleted"));
    assert!(pass.runs.is_empty(), "no new VM while one is left");
    s.pace.advance(TICK);
    let pass = s.pass().await;
    assert_eq!(pass.cleaned.len(), 1, "{pass:?}");
    let cleaned = &pass.cleaned[0];
    assert_eq!((cleaned.id.as_str(), cleaned.gone, cleaned.ok), (run.id.as_str(), true, None), "no verdict");
    assert_eq!(cleaned.error.as_deref(), Some("cut off before it ended (the server stopped)"));
    assert!(s.held().await.is_empty());
    assert!(s.store.canary_leftovers(s.pace.now_ms()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_vm_the_site_cannot_delete_is_retried_and_blocks_new_runs() {
    let s = Scene::new().await;
    s.site.refuse_deletes.store(true, Ordering::SeqCst);
    let pass = s.pass().await;
    let run = &pass.runs[0];
    assert_eq!((run.ok, run.failed_phase, run.gone), (Some(false), Some(CanaryPhase::Delete), false));
    assert_eq!(run.ready_ms, Some(2_500), "it ran");
    assert_eq!(
        run.error.as_deref(),
        Some("not gone within 600 s (provider unavailable: HTTP 503 after 3 tries)"),
        "bounded on the site's clock"
    );
    assert_eq!(run.cause.as_deref(), Some("503 from 10.1.2.3:8774"), "the cause kept apart");
    assert_eq!(run.delete_ms, None);
    assert_eq!(pass.leftovers.len(), 0, "it was not a leftover when the pass began");

    let check = canary_check(&s.round().await).clone();
    assert!(!check.ok);
    assert!(check.detail.ends_with("is not deleted yet: provider unavailable: HTTP 503 after 3 tries"), "{check:?}");
    assert!(s.metrics().await.contains("nuvola_canary_leftovers{provider=\"bari\"} 1\n"));

    // The next slot: the leftover is asked again, no new VM is made.
    s.pace.advance(Duration::from_secs(3600));
    let pass = s.pass().await;
    assert_eq!((pass.runs.len(), pass.leftovers.len()), (0, 1), "{pass:?}");
    assert_eq!(s.held().await.iter().map(|r| &r.attempt_id).collect::<std::collections::BTreeSet<_>>().len(), 1);

    // The site deletes again: gone in two passes, then runs resume.
    s.site.refuse_deletes.store(false, Ordering::SeqCst);
    s.pace.advance(TICK);
    assert_eq!(s.pass().await.leftovers.len(), 1, "being deleted");
    s.pace.advance(TICK);
    let pass = s.pass().await;
    assert_eq!(pass.cleaned.len(), 1);
    assert_eq!(pass.runs.len(), 1, "the slot had no run yet");
    assert_eq!(pass.runs[0].ok, Some(true));
    assert!(s.held().await.is_empty());
}

#[tokio::test]
async fn a_vm_still_listed_after_its_delete_said_gone_is_deleted_later() {
    let s = Scene::new().await;
    let first = s.pass().await.runs.remove(0);
    // The site kept something of it after all (a delete that answered
    // gone too early), as a create the store knows nothing of.
    let again = ProvisionRequest {
        deployment_id: "canary".into(),
        attempt_id: first.id.clone(),
        project: "physics".into(),
        nodes: vec![NodeProvision {
            flavor: spec().flavors[2].clone(),
            image: "ubuntu-22.04".into(),
            ..nuvola_drivers::testing::node("vm", 1)
        }],
        template: None,
        inputs: Default::default(),
    };
    s.sim.create(&again).await.unwrap();
    s.pace.advance(Duration::from_secs(3600));
    let pass = s.pass().await;
    assert_eq!(pass.runs.len(), 1, "its inventory is read after the next run");
    let reopened = s.store.canary_runs_by_id(std::slice::from_ref(&first.id)).await.unwrap().remove(0);
    assert_eq!(
        (reopened.gone, reopened.cleanup_error.as_deref()),
        (false, Some("the provider still listed it after its delete"))
    );
    s.pace.advance(TICK);
    assert_eq!(s.pass().await.leftovers.len(), 1, "being deleted");
    s.pace.advance(TICK);
    assert_eq!(s.pass().await.cleaned.len(), 1);
    assert!(s.held().await.is_empty());
}

/// No canary without an opt-in, and none on a provider in an outage
/// window; leftovers are still finished.
#[tokio::test]
async fn providers_that_did_not_opt_in_or_are_in_an_outage_get_no_canary() {
    let s = Scene::new().await;
    let mut down = spec();
    down.maintenance = serde_json::from_value(json!([
        {"start": "2027-01-15T07:00:00Z", "end": "2027-01-15T09:00:00Z", "reason": "network"}
    ]))
    .unwrap();
    let targets = Targets { providers: vec![ProviderTarget { spec: down, driver: s.site.clone() }] };
    let site: Arc<dyn Driver> = s.site.clone();
    let drivers = move |name: &str| (name == "bari").then(|| site.clone());
    let pass = s.watch.canary_pass(&targets, &drivers, &s.pace).await.unwrap();
    assert!(pass.runs.is_empty(), "in an outage window: {pass:?}");

    let off = Watch::new(
        s.store.clone(),
        nuvola_notify::Notifier::new(None, Vec::new(), "http://nuvola.test"),
        WatchSettings::default(),
    );
    assert!(off.canary_pass(&s.targets, &drivers, &s.pace).await.unwrap().runs.is_empty(), "not opted in");
    let status = {
        off.round(&s.targets, s.pace.now_ms()).await.unwrap();
        off.snapshot().provider("bari").unwrap().clone()
    };
    assert!(status.checks.iter().all(|c| c.probe != "canary"), "{:?}", status.checks);
}

/// A provider that lists no flavor gets a run that says so, once a slot,
/// and nothing is asked of the site.
#[tokio::test]
async fn a_provider_listing_no_flavor_records_why() {
    let s = Scene::new().await;
    let mut bare = spec();
    bare.flavors.clear();
    let targets = Targets { providers: vec![ProviderTarget { spec: bare, driver: s.site.clone() }] };
    let site: Arc<dyn Driver> = s.site.clone();
    let drivers = move |name: &str| (name == "bari").then(|| site.clone());
    let pass = s.watch.canary_pass(&targets, &drivers, &s.pace).await.unwrap();
    let run = &pass.runs[0];
    assert_eq!((run.ok, run.failed_phase, run.gone), (Some(false), Some(CanaryPhase::Create), true));
    assert_eq!(run.error.as_deref(), Some("provider bari lists no flavor to make a canary VM of"));
    assert!(s.watch.canary_pass(&targets, &drivers, &s.pace).await.unwrap().runs.is_empty(), "once a slot");
    assert!(s.held().await.is_empty());
}
