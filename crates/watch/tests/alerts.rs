//! Alerts from real rounds of probes, told through the real SMTP sink and
//! a webhook receiver that checks the signature: a simulated site down
//! three rounds fires a malfunction alert to the operators (mail and
//! webhook, both in the log of what was sent); acknowledged, it is not told
//! again; a silence holds another site's alert back while listing it; a
//! site's quota used up fires an exhaustion alert.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use nuvola_drivers::Driver;
use nuvola_drivers::ProvisionRequest;
use nuvola_drivers::sim::{SimDriver, SimSettings};
use nuvola_drivers::testing::{mails_mentioning, node, smtp_sink};
use nuvola_monitor::alerts::{AlertState, Rule};
use nuvola_notify::{Notifier, SmtpSettings};
use nuvola_store::{Store, StoreOptions};
use nuvola_types::ProviderSpec;
use nuvola_watch::{AlertSettings, ProviderTarget, Targets, Watch, WatchSettings, Webhook};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const SECRET: &str = "operators-hook-secret";

fn spec(name: &str) -> ProviderSpec {
    serde_json::from_value(json!({
        "name": name,
        "driver": "sim",
        "endpoint": format!("https://{name}.example/v3"),
        "flavors": [{"name": "small", "vcpus": 1, "ram_mb": 1024, "disk_gb": 10}],
        "images": [{"name": "ubuntu", "distribution": "ubuntu", "version": "22.04"}],
        "groups": {"physics": {"sla_id": "sla-1", "project": "physics", "quota": {"instances": 1, "cores": 100}}},
    }))
    .unwrap()
}

/// The bodies a webhook receiver accepted, each after checking its
/// signature with the receiver's side of the scheme.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hooks/ops",
        post(move |headers: HeaderMap, body: Bytes| async move {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let now = nuvola_types::now_ms();
            let verified = nuvola_notify::webhook::verify(
                SECRET,
                &header("x-nuvola-timestamp"),
                &body,
                &header("x-nuvola-signature"),
                now,
                std::time::Duration::from_secs(300),
            );
            if verified.is_err() {
                return StatusCode::UNAUTHORIZED;
            }
            kept.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
            StatusCode::NO_CONTENT
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, got)
}

#[tokio::test]
async fn alerts_reach_operators_by_mail_and_signed_webhook() {
    let Some((relay, maildir)) = smtp_sink() else { return };
    let (hooks, received) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(StoreOptions::new(format!("sqlite://{}", dir.path().join("n.sqlite").display()))).await.unwrap();
    let mut targets = Targets::default();
    let mut sims = Vec::new();
    for name in ["recas-bari", "cloudveneto"] {
        let sim =
            SimDriver::open(&spec(name), SimSettings { create_latency_ms: 0, ..SimSettings::default() }, None).unwrap();
        targets.providers.push(ProviderTarget { spec: spec(name), driver: Arc::new(sim.clone()) });
        sims.push(sim);
    }
    // One address per run, so that this run's mails are told apart in the
    // sink's maildir.
    let operator = format!("ops-{}@example.org", uuid::Uuid::new_v4().simple());
    let settings = WatchSettings {
        alerts: AlertSettings {
            operators: vec![operator.clone()],
            webhooks: vec![Webhook { url: format!("{hooks}/hooks/ops"), secret: SECRET.into() }],
            ..AlertSettings::default()
        },
        ..WatchSettings::default()
    };
    let smtp = SmtpSettings { smtp: relay, from: "alerts@nuvola.test".into() };
    let notifier = Notifier::new(Some(smtp), vec![], "https://nuvola.test").with_webhook_prefixes(vec![hooks.clone()]);
    let watch = Watch::new(store.clone(), notifier, settings);
    let t0 = 1_800_000_000_000;

    // recas-bari down from the first round: its third bad round fires the
    // alert, told once the group's wait has passed (the next round).
    sims[0].set_unavailable(true);
    for n in 0..5 {
        watch.round(&targets, t0 + n * MINUTE).await.unwrap();
    }
    watch.settle().await;
    let alerts = watch.alerts().await.unwrap();
    let firing: Vec<&str> = alerts.iter().filter(|a| a.state == AlertState::Firing).map(|a| a.key.as_str()).collect();
    let key = "malfunction{site=\"recas-bari\",target=\"clouds/recas-bari\"}";
    assert_eq!(firing, [key]);
    let mail = mails_mentioning(&maildir, &operator).into_iter().next().expect("the operators' mail");
    assert!(mail.contains("Subject: [nuvola alerts] 1 firing: clouds/recas-bari failed 4 rounds in a row"), "{mail}");
    assert!(mail.contains("https://nuvola.test/admin/alerts"), "{mail}");
    let hooks_got = received.lock().unwrap().clone();
    assert_eq!(hooks_got.len(), 1, "{hooks_got:?}");
    assert_eq!(hooks_got[0]["dispatch"]["kind"], "firing");
    assert_eq!(hooks_got[0]["dispatch"]["alerts"][0]["key"], key);
    let sent = store.notifications(Some(key), 10).await.unwrap();
    let channels: Vec<(&str, &str)> = sent.iter().map(|n| (n.channel.as_str(), n.outcome.as_str())).collect();
    let answered = format!("sent: webhook to {hooks}/hooks/ops answered 204");
    assert_eq!(channels, [("webhook", answered.as_str()), ("email", "sent")]);

    // Acknowledged, it is not told again, however long it fires.
    watch.acknowledge(key, "ops@infn", t0 + 5 * MINUTE).await.unwrap();
    for n in 0..6 {
        watch.round(&targets, t0 + 5 * MINUTE + n * 60 * MINUTE).await.unwrap();
    }
    watch.settle().await;
    assert_eq!(store.notifications(Some(key), 10).await.unwrap().len(), 2, "acknowledged: told no more");
    let unknown = watch.acknowledge("malfunction{site=\"nowhere\"}", "ops@infn", t0).await.unwrap_err();
    assert_eq!(unknown.to_string(), "no alert malfunction{site=\"nowhere\"}");

    // A silence on cloudveneto: its outage is listed, silenced, and not told.
    let later = t0 + 6 * 60 * MINUTE;
    let silence = watch
        .silence(&["site=cloudveneto".into()], later, later + 60 * MINUTE, "ops@infn", "network work", later)
        .await
        .unwrap();
    sims[1].set_unavailable(true);
    for n in 0..5 {
        watch.round(&targets, later + n * MINUTE).await.unwrap();
    }
    watch.settle().await;
    let alerts = watch.alerts().await.unwrap();
    let silenced = alerts.iter().find(|a| a.labels.get("site").map(String::as_str) == Some("cloudveneto")).unwrap();
    assert!(silenced.silenced && silenced.state == AlertState::Firing, "{silenced:?}");
    assert!(store.notifications(Some(&silenced.key), 10).await.unwrap().is_empty());
    assert_eq!(watch.silences().await.unwrap()[0].id, silence);
    assert!(watch.silence(&["site".into()], later, later + 1, "ops", "", later).await.is_err());

    // The engine is kept: a new watcher (a restart) lists the same alerts.
    let again = Watch::new(store.clone(), Notifier::new(None, vec![], ""), WatchSettings::default());
    assert_eq!(again.alerts().await.unwrap().len(), alerts.len());

    // cloudveneto back, and its project's single instance used: exhaustion,
    // told with cloudveneto's outage (its silence over, it is told too).
    sims[1].set_unavailable(false);
    let request = ProvisionRequest {
        deployment_id: "dep-1".into(),
        attempt_id: "att-1".into(),
        project: "physics".into(),
        nodes: vec![node("vm", 1)],
        template: None,
        inputs: Default::default(),
    };
    sims[1].create(&request).await.unwrap();
    let after = later + 2 * 60 * MINUTE;
    for n in 0..2 {
        watch.round(&targets, after + n * MINUTE).await.unwrap();
    }
    watch.settle().await;
    let alerts = watch.alerts().await.unwrap();
    let exhausted = alerts.iter().find(|a| a.rule == Rule::Exhaustion).expect("an exhaustion alert");
    assert_eq!(exhausted.summary, "site cloudveneto uses 100 % of its instances (1 of 1)");
    let told = store.notifications(Some(&exhausted.key), 10).await.unwrap();
    assert_eq!(told.len(), 2, "mail and webhook: {told:?}");
}

/// The weekly bulletin: made once for last week (a second call, or another
/// replica, makes none), kept, and mailed to the operators and managers,
/// with the sites' holdings, the week's incident, the maintenance to come,
/// each component's availability and the alerts told.
#[tokio::test]
async fn the_weekly_bulletin_is_made_once_kept_and_mailed() {
    use nuvola_monitor::bulletin::Every;
    use nuvola_store::NewIncident;
    use nuvola_types::{ComponentState, Impact, IncidentStatus, MaintenanceKind, MaintenanceWindow};

    let Some((relay, maildir)) = smtp_sink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(StoreOptions::new(format!("sqlite://{}", dir.path().join("n.sqlite").display()))).await.unwrap();
    let mut site = spec("recas-bari");
    let sim = SimDriver::open(&site, SimSettings::default(), None).unwrap();
    let targets = Targets { providers: vec![ProviderTarget { spec: site.clone(), driver: Arc::new(sim) }] };
    let manager = format!("lead-{}@example.org", uuid::Uuid::new_v4().simple());
    let settings = WatchSettings {
        alerts: AlertSettings {
            managers: [("physics".to_string(), vec![manager.clone()])].into(),
            ..AlertSettings::default()
        },
        ..WatchSettings::default()
    };
    let smtp = SmtpSettings { smtp: relay, from: "bulletin@nuvola.test".into() };
    let watch = Watch::new(store.clone(), Notifier::new(Some(smtp), vec![], "https://nuvola.test"), settings);

    // Monday 2026-11-30 00:00 UTC: rounds all week, one incident, and a
    // maintenance window next week.
    let monday = 1_795_996_800_000;
    for day in 0..7 {
        watch.round(&targets, monday + day * 24 * 60 * MINUTE).await.unwrap();
    }
    let incident = NewIncident {
        id: "bari-api".into(),
        title: "Bari's API answers slowly".into(),
        impact: Impact::Minor,
        status: IncidentStatus::Investigating,
        body: "Looking into it.".into(),
        by: "ops@infn".into(),
        at: monday + 2 * 24 * 60 * MINUTE,
        components: vec![("clouds/recas-bari".into(), ComponentState::DegradedPerformance)],
    };
    store.create_incident(&incident).await.unwrap();
    let next_week = chrono::DateTime::from_timestamp_millis(monday + 8 * 24 * 60 * MINUTE).unwrap();
    site.maintenance = vec![MaintenanceWindow {
        start: next_week,
        end: next_week + chrono::Duration::hours(4),
        reason: "OpenStack upgrade".into(),
        kind: MaintenanceKind::Outage,
    }];

    let wednesday = monday + (7 + 2) * 24 * 60 * MINUTE;
    let made = watch.bulletin_if_due(&[site.clone()], Every::Week, wednesday).await.unwrap().expect("made");
    assert_eq!(made.id, "2026-W49");
    assert!(watch.bulletin_if_due(&[site.clone()], Every::Week, wednesday + MINUTE).await.unwrap().is_none());
    watch.settle().await;
    assert_eq!(watch.bulletin("2026-W49").await.unwrap(), made);
    assert_eq!(made.sites[0].cores_granted, Some(100));
    assert_eq!(made.incidents.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(), ["Bari's API answers slowly"]);
    assert_eq!(made.maintenances[0].reason, "OpenStack upgrade");
    let bari = made.availability.iter().find(|a| a.component == "clouds/recas-bari").unwrap();
    assert_eq!(bari.availability, Some(1.0));
    let mail = mails_mentioning(&maildir, &manager).into_iter().next().expect("the manager's bulletin");
    assert!(mail.contains("Subject: [nuvola bulletin] 2026-W49: 1 incidents, 1 maintenances"), "{mail}");
    assert!(mail.contains("  - recas-bari: 0 of 100 cores (100 free)"), "{mail}");
    assert!(mail.contains("https://nuvola.test/bulletins/2026-W49"), "{mail}");
    let logged = store.notifications(Some("bulletin 2026-W49"), 10).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert!(watch.bulletin("2026-W01").await.is_err());
}
