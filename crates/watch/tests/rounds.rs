//! Rounds of probes against simulated sites, a store on SQLite and an
//! identity issuer served over HTTP: a site taken down leaves operational
//! on the second round and comes back after three good ones; every result
//! and change is stored; a restart carries on from the stored states; an
//! issuer that loses its keys is seen failing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::routing::get;
use nuvola_drivers::sim::{SimDriver, SimSettings};
use nuvola_store::{Store, StoreOptions};
use nuvola_types::{ComponentState, ProviderSpec};
use nuvola_watch::{Change, Group, ProviderTarget, Targets, Watch, WatchSettings};
use serde_json::json;

fn spec(name: &str) -> ProviderSpec {
    serde_json::from_value(json!({
        "name": name,
        "driver": "sim",
        "endpoint": format!("https://{name}.example/v3"),
        "groups": {"physics": {"sla_id": "sla-1", "project": "physics", "quota": {"cores": 100}}},
    }))
    .unwrap()
}

struct Scene {
    _dir: tempfile::TempDir,
    store: Store,
    sims: Vec<SimDriver>,
    targets: Targets,
    url: String,
}

async fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(&url)).await.unwrap();
    let mut sims = Vec::new();
    let mut targets = Targets::default();
    for name in ["backbone-bari", "cloudveneto"] {
        let settings = SimSettings { create_latency_ms: 0, ..SimSettings::default() };
        let sim = SimDriver::open(&spec(name), settings, Some(dir.path())).unwrap();
        targets.providers.push(ProviderTarget { spec: spec(name), driver: Arc::new(sim.clone()) });
        sims.push(sim);
    }
    Scene { _dir: dir, store, sims, targets, url }
}

/// Nothing is sent from these rounds.
fn notifier() -> nuvola_notify::Notifier {
    nuvola_notify::Notifier::new(None, Vec::new(), "http://nuvola.test")
}

fn settings() -> WatchSettings {
    WatchSettings { backbone: vec!["backbone-bari".into()], ..WatchSettings::default() }
}

fn state_of(watch: &Watch, id: &str) -> ComponentState {
    watch.snapshot().components.iter().find(|c| c.component.id == id).unwrap_or_else(|| panic!("no {id}")).state
}

const MINUTE: i64 = 60_000;

#[tokio::test]
async fn a_site_down_leaves_operational_on_the_second_round_and_comes_back_after_three() {
    let s = scene().await;
    let watch = Watch::new(s.store.clone(), notifier(), settings());
    let t0 = 1_800_000_000_000;
    let first = watch.round(&s.targets, t0).await.unwrap();
    let ids: Vec<&str> = first.changes.iter().map(|c| c.component.as_str()).collect();
    assert_eq!(ids, ["backbone/backbone-bari", "clouds/cloudveneto", "paas/orchestrator", "paas/placement"]);
    assert!(first.changes.iter().all(|c| c.from.is_none() && c.to == ComponentState::Operational), "{first:?}");
    let snapshot = watch.snapshot();
    let groups: Vec<Group> = snapshot.components.iter().map(|c| c.component.group).collect();
    assert_eq!(groups, [Group::Backbone, Group::Clouds, Group::Paas, Group::Paas]);
    let probes: Vec<&str> = snapshot.components[0].checks.iter().map(|c| c.probe.as_str()).collect();
    assert_eq!(probes, ["api", "quota"]);

    s.sims[1].set_unavailable(true);
    let second = watch.round(&s.targets, t0 + MINUTE).await.unwrap();
    assert!(second.changes.is_empty(), "one bad round changes nothing: {:?}", second.changes);
    assert_eq!(state_of(&watch, "clouds/cloudveneto"), ComponentState::Operational);
    let third = watch.round(&s.targets, t0 + 2 * MINUTE).await.unwrap();
    assert_eq!(
        third.changes,
        [Change {
            component: "clouds/cloudveneto".into(),
            from: Some(ComponentState::Operational),
            to: ComponentState::MajorOutage,
            reason: "api: simulated outage of cloudveneto; quota: simulated outage of cloudveneto".into(),
            at: t0 + 2 * MINUTE,
        }]
    );
    let down = watch.snapshot();
    let status = down.provider("cloudveneto").unwrap();
    assert_eq!((status.state, status.since), (ComponentState::MajorOutage, t0 + 2 * MINUTE));
    assert_eq!(state_of(&watch, "backbone/backbone-bari"), ComponentState::Operational);

    s.sims[1].set_unavailable(false);
    for n in 3..5 {
        assert!(watch.round(&s.targets, t0 + n * MINUTE).await.unwrap().changes.is_empty());
    }
    let back = watch.round(&s.targets, t0 + 5 * MINUTE).await.unwrap();
    let to: Vec<_> = back.changes.iter().map(|c| (c.component.as_str(), c.to)).collect();
    assert_eq!(to, [("clouds/cloudveneto", ComponentState::Operational)]);

    // All of it is stored: six rounds of results, and the timeline.
    let results = s.store.probe_results("clouds/cloudveneto", t0, t0 + 6 * MINUTE, 100).await.unwrap();
    assert_eq!(results.len(), 12, "two checks a round");
    assert_eq!(results.iter().filter(|r| !r.ok).count(), 4, "two rounds down");
    let timeline = s.store.component_timeline("clouds/cloudveneto", t0, t0 + 6 * MINUTE).await.unwrap();
    let states: Vec<(i64, ComponentState)> = timeline.iter().map(|c| (c.at - t0, c.state)).collect();
    assert_eq!(
        states,
        [
            (0, ComponentState::Operational),
            (2 * MINUTE, ComponentState::MajorOutage),
            (5 * MINUTE, ComponentState::Operational)
        ]
    );

    // The operators' page: each provider's latency in the hours it was
    // probed, and each group's limited quota.
    let specs: Vec<ProviderSpec> = s.targets.providers.iter().map(|t| t.spec.clone()).collect();
    let ops = watch.operations(&specs, t0 + 6 * MINUTE, 7).await.unwrap();
    assert_eq!(ops.days.len(), 7);
    assert_eq!((ops.created.iter().sum::<i64>(), ops.failed.iter().sum::<i64>()), (0, 0));
    let providers: Vec<&str> = ops.latency.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(providers, ["backbone-bari", "cloudveneto"]);
    let probed: Vec<usize> = ops.latency.iter().map(|(_, h)| h.iter().filter(|m| m.is_some()).count()).collect();
    assert!(probed.iter().all(|n| (1..=2).contains(n)), "six rounds within one or two hours: {probed:?}");
    assert_eq!(ops.hours.len(), 24);
    let quota: Vec<(&str, &str, u64, u64)> =
        ops.quota.iter().map(|q| (q.provider.as_str(), q.resource, q.used, q.limit)).collect();
    assert_eq!(quota, [("backbone-bari", "cores", 0, 100), ("cloudveneto", "cores", 0, 100)]);
    // Two bad rounds in six are no malfunction, but a failure rate that
    // would be a degradation if it lasted ten minutes.
    let open: Vec<(&str, nuvola_monitor::alerts::AlertState)> =
        ops.alerts.iter().map(|a| (a.key.as_str(), a.state)).collect();
    assert_eq!(
        open,
        [(
            "degradation{site=\"cloudveneto\",target=\"clouds/cloudveneto\"}",
            nuvola_monitor::alerts::AlertState::Pending
        )]
    );
}

/// A new watcher (a restarted server) resumes from the stored states: an
/// outage is neither forgotten nor announced again, and its recovery still
/// takes three good rounds.
#[tokio::test]
async fn a_restart_carries_on_from_the_stored_states() {
    let s = scene().await;
    let t0 = 1_800_000_000_000;
    s.sims[0].set_unavailable(true);
    let before = Watch::new(s.store.clone(), notifier(), settings());
    for n in 0..3 {
        before.round(&s.targets, t0 + n * MINUTE).await.unwrap();
    }
    assert_eq!(state_of(&before, "backbone/backbone-bari"), ComponentState::MajorOutage);
    drop(before);

    let store = Store::open(StoreOptions::new(&s.url)).await.unwrap();
    let after = Watch::new(store, notifier(), settings());
    let round = after.round(&s.targets, t0 + 3 * MINUTE).await.unwrap();
    assert!(round.changes.is_empty(), "{:?}", round.changes);
    assert_eq!(state_of(&after, "backbone/backbone-bari"), ComponentState::MajorOutage);
    s.sims[0].set_unavailable(false);
    for n in 4..6 {
        assert!(after.round(&s.targets, t0 + n * MINUTE).await.unwrap().changes.is_empty());
    }
    let back = after.round(&s.targets, t0 + 6 * MINUTE).await.unwrap();
    assert_eq!(back.changes.len(), 1, "{:?}", back.changes);
    assert_eq!(back.changes[0].to, ComponentState::Operational);
}

/// An issuer is checked through its discovery document and its keys; one
/// that stops serving keys fails its check with what is wrong.
#[tokio::test]
async fn an_issuer_without_keys_is_seen_failing() {
    let keys_served = Arc::new(AtomicBool::new(true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let jwks = format!("{base}/jwks");
    let served = keys_served.clone();
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(move || async move { Json(json!({"jwks_uri": jwks})) }))
        .route(
            "/jwks",
            get(move || async move {
                let keys = if served.load(Ordering::SeqCst) { json!([{"kty": "OKP", "kid": "k1"}]) } else { json!([]) };
                Json(json!({"keys": keys}))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let s = scene().await;
    let watch =
        Watch::new(s.store.clone(), notifier(), WatchSettings { issuers: vec![format!("{base}/")], ..settings() });
    let t0 = 1_800_000_000_000;
    watch.round(&Targets::default(), t0).await.unwrap();
    let snapshot = watch.snapshot();
    let auth = snapshot.components.iter().find(|c| c.component.group == Group::Federation).unwrap();
    assert!(auth.component.id.starts_with("federation/auth-127-0-0-1"), "{}", auth.component.id);
    assert_eq!((auth.checks[0].ok, auth.checks[0].detail.as_str()), (true, "1 signing keys"));

    keys_served.store(false, Ordering::SeqCst);
    watch.round(&Targets::default(), t0 + MINUTE).await.unwrap();
    let snapshot = watch.snapshot();
    let auth = snapshot.components.iter().find(|c| c.component.group == Group::Federation).unwrap();
    assert!(!auth.checks[0].ok);
    assert_eq!(auth.checks[0].detail, format!("{base}/jwks holds no keys"));
}

/// A day of rounds every ten minutes with an outage from 06:00 to 09:00
/// and an announced outage window from 12:00 to 14:00: the day's
/// availability and reliability are exactly what ARGO's definitions make
/// of the states the page showed (down from the second bad round, 06:10,
/// back after the third good one, 09:20).
#[tokio::test]
async fn the_days_availability_reflects_the_outage_exactly() {
    let s = scene().await;
    let watch = Watch::new(s.store.clone(), notifier(), settings());
    let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 10).unwrap();
    let t0 = day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
    let hour = 60 * MINUTE;
    for n in 0..144 {
        let at = t0 + n * 10 * MINUTE;
        s.sims[1].set_unavailable((6 * hour..9 * hour).contains(&(at - t0)));
        watch.round(&s.targets, at).await.unwrap();
    }
    let mut providers: Vec<ProviderSpec> = s.targets.providers.iter().map(|t| t.spec.clone()).collect();
    let window = |kind| nuvola_types::MaintenanceWindow {
        start: chrono::DateTime::from_timestamp_millis(t0 + 12 * hour).unwrap(),
        end: chrono::DateTime::from_timestamp_millis(t0 + 14 * hour).unwrap(),
        reason: "storage upgrade".into(),
        kind,
    };
    providers[1].maintenance = vec![window(nuvola_types::MaintenanceKind::Outage)];
    let first = nuvola_watch::reports::parse_month("2027-01").unwrap();
    let report = watch.month_report(&providers, first, t0 + 24 * hour).await.unwrap();
    let veneto = report.components.iter().find(|c| c.component.id == "clouds/cloudveneto").unwrap();
    let (_, d, f) = veneto.days.iter().find(|(date, _, _)| *date == day).unwrap();
    assert_eq!(
        (d.ok, d.critical, d.downtime, d.unknown, d.warning),
        (18 * hour + 50 * MINUTE, 3 * hour + 10 * MINUTE, 2 * hour, 0, 0)
    );
    let percent = |x: Option<f64>| format!("{:.2}", x.unwrap() * 100.0);
    assert_eq!((percent(f.availability), percent(f.reliability)), ("78.47".into(), "85.61".into()));
    // The site beside it was up all day; the days before are unknown.
    let bari = report.components.iter().find(|c| c.component.id == "backbone/backbone-bari").unwrap();
    assert_eq!(bari.days[9].2.availability, Some(1.0));
    assert_eq!(bari.days[0].2.availability, None, "no state before the 10th");
    // An at-risk window is no downtime.
    providers[1].maintenance = vec![window(nuvola_types::MaintenanceKind::AtRisk)];
    let report = watch.month_report(&providers, first, t0 + 24 * hour).await.unwrap();
    let veneto = report.components.iter().find(|c| c.component.id == "clouds/cloudveneto").unwrap();
    assert_eq!(percent(veneto.days[9].2.availability), "86.81");
    let csv = nuvola_watch::reports::csv(&report);
    assert!(
        csv.contains("clouds/cloudveneto,cloudveneto,2027-01-10,75000.000,0.000,11400.000,0.000,0.000,86.81,86.81\n"),
        "{csv}"
    );
    assert!(nuvola_watch::reports::parse_month("January").is_err());
}
