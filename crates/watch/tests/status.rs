//! The status page's use cases on a store on SQLite, after a round of
//! probes over two simulated sites: incidents opened, updated and
//! resolved; an operator's override shown over what the probes say; a
//! maintenance announced two days ahead that starts by itself; a day's
//! history and month's availability and reliability as ARGO computes
//! them; subscribers told by mail (read back from the real SMTP sink)
//! after a double opt-in, and by a signed webhook that a local receiver
//! verifies. Time is a parameter everywhere: nothing waits.

use nuvola_drivers::testing::{mails_mentioning, smtp_sink, token_in};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Utc};
use nuvola_drivers::sim::{SimDriver, SimSettings};
use nuvola_notify::webhook::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE, verify};
use nuvola_notify::{Notifier, SmtpSettings};
use nuvola_store::{Store, StoreOptions};
use nuvola_types::{ComponentState, Impact, IncidentStatus, MaintenanceKind, MaintenanceWindow, ProviderSpec};
use nuvola_watch::{Document, Feed, IncidentDraft, ProviderTarget, Targets, UpdateDraft, Watch, WatchSettings};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// 2026-12-01 00:00 UTC, the first day of a month.
const DEC_1: i64 = 1_796_083_200_000;

fn spec(name: &str) -> ProviderSpec {
    serde_json::from_value(json!({
        "name": name,
        "driver": "sim",
        "endpoint": format!("https://{name}.example/v3"),
        "groups": {"physics": {"sla_id": "sla-1", "project": "physics", "quota": {"cores": 100}}},
    }))
    .unwrap()
}

fn window(start: i64, end: i64, kind: MaintenanceKind, reason: &str) -> MaintenanceWindow {
    let at = |ms| DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
    MaintenanceWindow { start: at(start), end: at(end), reason: reason.into(), kind }
}

struct Scene {
    _dir: tempfile::TempDir,
    store: Store,
    providers: Vec<ProviderSpec>,
    targets: Targets,
}

/// Two simulated sites (backbone-bari a backbone site) on a store that
/// seals secrets.
async fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions { secrets_key: Some([7; 32]), ..StoreOptions::new(&url) }).await.unwrap();
    let mut targets = Targets::default();
    let mut providers = Vec::new();
    for name in ["backbone-bari", "cloudveneto"] {
        let settings = SimSettings { create_latency_ms: 0, ..SimSettings::default() };
        let sim = SimDriver::open(&spec(name), settings, Some(dir.path())).unwrap();
        targets.providers.push(ProviderTarget { spec: spec(name), driver: Arc::new(sim) });
        providers.push(spec(name));
    }
    Scene { _dir: dir, store, providers, targets }
}

fn settings() -> WatchSettings {
    WatchSettings { backbone: vec!["backbone-bari".into()], ..WatchSettings::default() }
}

/// A watcher that has made one round at `at`.
async fn watching(s: &Scene, notifier: Notifier, at: i64) -> Watch {
    let watch = Watch::new(s.store.clone(), notifier, settings());
    watch.round(&s.targets, at).await.unwrap();
    watch
}

fn silent() -> Notifier {
    Notifier::new(None, Vec::new(), "https://status.nuvola.test")
}

fn update(status: IncidentStatus, body: &str) -> UpdateDraft {
    UpdateDraft { status, body: body.into(), ..Default::default() }
}

fn shown(page: &nuvola_watch::StatusPage, id: &str) -> ComponentState {
    page.component(id).unwrap_or_else(|| panic!("no {id}")).shown
}

#[tokio::test]
async fn an_incident_is_opened_updated_and_resolved_with_its_components() {
    let s = scene().await;
    let t0 = DEC_1 + 10 * HOUR;
    let watch = watching(&s, silent(), t0).await;
    let draft = IncidentDraft {
        title: "Cloud Veneto's compute is down".into(),
        impact: Impact::Major,
        status: IncidentStatus::Investigating,
        body: "VMs cannot be created".into(),
        components: vec![("clouds/cloudveneto".into(), ComponentState::MajorOutage)],
    };
    let (opened, news) = watch.open_incident(&draft, "ops@iam", &s.providers, t0 + MINUTE).await.unwrap();
    assert!(news.is_empty(), "nobody subscribed");
    assert_eq!((opened.status, opened.created_at, opened.created_by.as_str()), (draft.status, t0 + MINUTE, "ops@iam"));
    assert_eq!(opened.id.len(), 12);

    let page = watch.status_page(&s.providers, t0 + 2 * MINUTE).await.unwrap();
    assert_eq!(page.incidents.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [opened.id.as_str()]);
    assert_eq!(page.indicator().description(), "Partial System Outage", "a major incident");
    // The component shows the state the incident gives it, though its
    // probes pass (they may not see what users do); its neighbour does not.
    assert_eq!(shown(&page, "clouds/cloudveneto"), ComponentState::MajorOutage);
    assert_eq!(page.component("clouds/cloudveneto").unwrap().derived, ComponentState::Operational);
    assert_eq!(shown(&page, "backbone/backbone-bari"), ComponentState::Operational);

    for (n, (status, body)) in [
        (IncidentStatus::Identified, "a storage switch failed"),
        (IncidentStatus::Monitoring, "the switch is replaced"),
        (IncidentStatus::Resolved, "all VMs run again"),
    ]
    .into_iter()
    .enumerate()
    {
        let at = t0 + (3 + n as i64) * MINUTE;
        let (updated, _) =
            watch.update_incident(&opened.id, &update(status, body), "ops@iam", &s.providers, at).await.unwrap();
        assert_eq!((updated.status, updated.updated_at), (status, at));
    }
    let resolved = watch.incident(&opened.id).await.unwrap();
    assert_eq!(resolved.resolved_at, Some(t0 + 5 * MINUTE));
    let said: Vec<(&str, i64)> = resolved.updates.iter().map(|u| (u.status.to_string().leak() as &str, u.at)).collect();
    assert_eq!(
        said,
        [
            ("resolved", t0 + 5 * MINUTE),
            ("monitoring", t0 + 4 * MINUTE),
            ("identified", t0 + 3 * MINUTE),
            ("investigating", t0 + MINUTE)
        ]
    );
    let page = watch.status_page(&s.providers, t0 + 6 * MINUTE).await.unwrap();
    assert!(page.incidents.is_empty(), "resolved: off the page's active incidents");
    assert_eq!(shown(&page, "clouds/cloudveneto"), ComponentState::Operational, "resolved: the probes' state again");
    assert_eq!(page.indicator().description(), "All Systems Operational");
    let history = watch.incident_history(None, 10).await.unwrap();
    assert_eq!((history.total, history.incidents[0].id.as_str(), history.next), (1, opened.id.as_str(), None));

    // incidents.json and the feed carry it with every update.
    let json: Value =
        serde_json::from_str(&watch.status_json(Document::Incidents, &s.providers, t0 + 6 * MINUTE).await.unwrap())
            .unwrap();
    assert_eq!(json["incidents"][0]["status"], "resolved");
    assert_eq!(json["incidents"][0]["incident_updates"].as_array().unwrap().len(), 4);
    assert_eq!(json["incidents"][0]["shortlink"], format!("https://status.nuvola.test/status/incidents/{}", opened.id));
    let atom = watch.status_feed(Feed::Atom, &s.providers, t0 + 6 * MINUTE).await.unwrap();
    assert!(atom.contains("<title>[Resolved] Cloud Veneto&apos;s compute is down</title>"), "{atom}");

    // What is wrong is said, and nothing changes.
    let e = watch
        .update_incident("nope", &update(IncidentStatus::Resolved, "x"), "ops@iam", &s.providers, t0)
        .await
        .unwrap_err();
    assert_eq!((e.http_status(), e.to_string().as_str()), (404, "no incident nope"));
    let wrong = IncidentDraft { components: vec![("clouds/atlantis".into(), ComponentState::MajorOutage)], ..draft };
    let e = watch.open_incident(&wrong, "ops@iam", &s.providers, t0).await.unwrap_err();
    assert_eq!(e.to_string(), "there is no component \"clouds/atlantis\" on the status page");
    let e = watch
        .open_incident(&IncidentDraft { title: " ".into(), ..wrong }, "ops@iam", &s.providers, t0)
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("an incident needs a title"), "{e}");
    assert_eq!(watch.incident_history(None, 10).await.unwrap().total, 1);
}

#[tokio::test]
async fn an_override_is_shown_over_the_probes_until_cleared() {
    let s = scene().await;
    let t0 = DEC_1;
    let watch = watching(&s, silent(), t0).await;
    watch
        .set_override("backbone/backbone-bari", ComponentState::PartialOutage, "one rack down", "ops@iam", t0)
        .await
        .unwrap();
    let page = watch.status_page(&s.providers, t0 + MINUTE).await.unwrap();
    let bari = page.component("backbone/backbone-bari").unwrap();
    assert_eq!((bari.derived, bari.shown), (ComponentState::Operational, ComponentState::PartialOutage));
    assert_eq!(bari.overridden.as_ref().unwrap().note, "one rack down");
    assert_eq!(shown(&page, "clouds/cloudveneto"), ComponentState::Operational);
    let summary: Value =
        serde_json::from_str(&watch.status_json(Document::Summary, &s.providers, t0 + MINUTE).await.unwrap()).unwrap();
    let listed = summary["components"].as_array().unwrap();
    let bari = listed.iter().find(|c| c["id"] == "backbone/backbone-bari").unwrap();
    assert_eq!(bari["status"], "partial_outage");
    assert_eq!(summary["status"]["indicator"], "minor");

    assert!(watch.clear_override("backbone/backbone-bari").await.unwrap());
    let page = watch.status_page(&s.providers, t0 + 2 * MINUTE).await.unwrap();
    assert_eq!(shown(&page, "backbone/backbone-bari"), ComponentState::Operational);
    let e = watch.set_override("clouds/atlantis", ComponentState::MajorOutage, "", "ops@iam", t0).await.unwrap_err();
    assert_eq!(e.http_status(), 400);
}

#[tokio::test]
async fn a_maintenance_two_days_ahead_is_announced_then_starts_and_ends_by_itself() {
    let mut s = scene().await;
    let t0 = DEC_1 + 8 * HOUR;
    let (start, end) = (t0 + 2 * DAY, t0 + 2 * DAY + 4 * HOUR);
    s.providers[1].maintenance = vec![window(start, end, MaintenanceKind::Outage, "storage upgrade")];
    s.providers[0].maintenance = vec![window(start, end, MaintenanceKind::AtRisk, "network works")];
    let watch = watching(&s, silent(), t0).await;

    let page = watch.status_page(&s.providers, t0).await.unwrap();
    let notices: Vec<(String, String)> = page.upcoming().map(|m| (m.id.clone(), m.notice())).collect();
    assert_eq!(
        notices,
        [
            (format!("backbone-bari-{start}"), "At risk: due to start in 2 days".to_string()),
            (format!("cloudveneto-{start}"), "Outage: due to start in 2 days".to_string())
        ]
    );
    assert_eq!(shown(&page, "clouds/cloudveneto"), ComponentState::Operational);
    let atom = watch.status_feed(Feed::Atom, &s.providers, t0).await.unwrap();
    assert!(atom.contains("<summary>Outage: due to start in 2 days</summary>"), "{atom}");
    let rss = watch.status_feed(Feed::Rss, &s.providers, t0).await.unwrap();
    assert!(rss.contains("<title>[Scheduled] Maintenance of cloudveneto: storage upgrade</title>"), "{rss}");

    // Announced once: the page's entry in the log, kept as its time.
    let announced = watch.announce_maintenances(&s.providers, t0).await.unwrap();
    assert_eq!(announced.run().await.len(), 0, "no subscriber");
    assert!(watch.announce_maintenances(&s.providers, t0 + HOUR).await.unwrap().is_empty());
    let log = watch.notifications(10).await.unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|n| n.channel == "page" && n.at == t0 && n.outcome == "published"));
    let maintenances = watch.maintenances(&s.providers, t0 + DAY).await.unwrap();
    assert!(maintenances.iter().all(|m| m.announced_at == t0));

    // At its start, nobody doing anything, it is in progress and the
    // component under maintenance (an outage; at risk changes no state).
    let page = watch.status_page(&s.providers, start).await.unwrap();
    assert_eq!(shown(&page, "clouds/cloudveneto"), ComponentState::UnderMaintenance);
    assert_eq!(shown(&page, "backbone/backbone-bari"), ComponentState::Operational);
    let veneto = page.upcoming().find(|m| m.provider == "cloudveneto").unwrap();
    assert_eq!(veneto.notice(), "Outage: in progress, due to end in 4 hours");
    assert_eq!(page.indicator().description(), "Service Under Maintenance");
    let atom = watch.status_feed(Feed::Atom, &s.providers, start).await.unwrap();
    assert!(atom.contains("<summary>Outage: in progress, due to end in 4 hours</summary>"), "{atom}");
    let json: Value =
        serde_json::from_str(&watch.status_json(Document::ScheduledMaintenances, &s.providers, start).await.unwrap())
            .unwrap();
    assert_eq!(json["scheduled_maintenances"][1]["status"], "in_progress");

    // Over: operational again, completed in the JSON, off the page.
    let page = watch.status_page(&s.providers, end).await.unwrap();
    assert_eq!(shown(&page, "clouds/cloudveneto"), ComponentState::Operational);
    assert_eq!(page.upcoming().count(), 0);
    let json: Value =
        serde_json::from_str(&watch.status_json(Document::ScheduledMaintenances, &s.providers, end).await.unwrap())
            .unwrap();
    assert_eq!(json["scheduled_maintenances"][0]["status"], "completed");
}

/// ARGO's worked example on one day of a component: unknown until 06:00
/// (first watched), 5 h up, 9 h in a major outage, then a 4 h outage
/// maintenance: availability 27.8 %, reliability 35.7 %.
#[tokio::test]
async fn a_days_history_and_the_months_figures_follow_argo() {
    let mut s = scene().await;
    s.providers[1].maintenance = vec![window(DEC_1 + 20 * HOUR, DEC_1 + DAY, MaintenanceKind::Outage, "")];
    let watch = watching(&s, silent(), DEC_1 + 6 * HOUR).await;
    s.store
        .record_component_state("clouds/cloudveneto", DEC_1 + 11 * HOUR, ComponentState::MajorOutage, "api")
        .await
        .unwrap();
    s.store
        .record_component_state("clouds/cloudveneto", DEC_1 + 20 * HOUR, ComponentState::Operational, "ok")
        .await
        .unwrap();

    let history = watch.history(&s.providers, DEC_1 + DAY).await.unwrap();
    let veneto = history.iter().find(|h| h.component == "clouds/cloudveneto").unwrap();
    assert_eq!(veneto.days.len(), 90);
    let (yesterday, today) = (&veneto.days[88], &veneto.days[89]);
    assert_eq!(yesterday.start, DEC_1);
    assert_eq!((yesterday.worst, yesterday.maintenance), (Some(ComponentState::MajorOutage), true));
    assert_eq!(format!("{:.1}", yesterday.uptime.unwrap() * 100.0), "27.8");
    assert_eq!((today.start, today.uptime), (DEC_1 + DAY, None), "nothing of today yet");
    assert!(veneto.days[..88].iter().all(|d| d.worst.is_none() && d.uptime.is_none()), "not watched before");
    let month = veneto.month_figures;
    assert_eq!(format!("{:.1}", month.availability.unwrap() * 100.0), "27.8");
    assert_eq!(format!("{:.1}", month.reliability.unwrap() * 100.0), "35.7");
    let bari = history.iter().find(|h| h.component == "backbone/backbone-bari").unwrap();
    assert_eq!(bari.days[88].worst, Some(ComponentState::Operational));
    assert_eq!(bari.month_figures.availability, Some(1.0));

    // A reading is kept for its round and minute; the next round reads again.
    let now = DEC_1 + DAY + 2 * HOUR;
    let before = watch.history(&s.providers, now).await.unwrap();
    s.store
        .record_component_state("backbone/backbone-bari", now - HOUR, ComponentState::PartialOutage, "x")
        .await
        .unwrap();
    let kept = watch.history(&s.providers, now).await.unwrap();
    assert!(Arc::ptr_eq(&before, &kept), "the same round and minute: the same reading");
    watch.round(&s.targets, now).await.unwrap();
    let fresh = watch.history(&s.providers, now).await.unwrap();
    let bari = fresh.iter().find(|h| h.component == "backbone/backbone-bari").unwrap();
    assert_eq!(bari.days[89].worst, Some(ComponentState::PartialOutage));
}

#[tokio::test]
async fn a_subscriber_by_mail_confirms_then_hears_of_incidents_and_can_leave() {
    let Some((relay, maildir)) = smtp_sink() else { return };
    let s = scene().await;
    let smtp = SmtpSettings { smtp: relay, from: "status@nuvola.test".into() };
    let notifier = Notifier::new(Some(smtp), Vec::new(), "https://status.nuvola.test");
    let t0 = DEC_1 + 9 * HOUR;
    let watch = watching(&s, notifier, t0).await;
    let address = format!("{}@subscribers.example", nuvola_watch::subscriptions::token()[..10].to_lowercase());

    let confirmation = watch.subscribe_email(&address, &["clouds/cloudveneto".into()], t0).await.unwrap();
    let sent = confirmation.run().await;
    assert_eq!((sent.len(), sent[0].outcome.as_str(), sent[0].recipient.as_str()), (1, "sent", address.as_str()));
    let mails = mails_mentioning(&maildir, &format!("To: {address}"));
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Subject: [nuvola status] Confirm your subscription"), "{}", mails[0]);
    assert!(mails[0].contains("cloudveneto"), "{}", mails[0]);
    let confirm = token_in(&mails[0], "https://status.nuvola.test/status/subscriptions/confirm");
    // Asking again while the first waits is refused: no flood of mails.
    let e = watch.subscribe_email(&address, &[], t0 + MINUTE).await.unwrap_err();
    assert_eq!(e.http_status(), 409);

    // Unconfirmed, it hears nothing.
    let draft = IncidentDraft {
        title: format!("Veneto down for {address}"),
        impact: Impact::Critical,
        body: "Nothing answers".into(),
        components: vec![("clouds/cloudveneto".into(), ComponentState::MajorOutage)],
        ..Default::default()
    };
    let (_, news) = watch.open_incident(&draft, "ops@iam", &s.providers, t0 + MINUTE).await.unwrap();
    assert!(news.is_empty());
    assert_eq!(watch.confirm_subscription("not-a-token", t0).await.unwrap_err().http_status(), 404);
    let confirmed = watch.confirm_subscription(&confirm, t0 + 2 * MINUTE).await.unwrap();
    assert_eq!(confirmed.confirmed_at, Some(t0 + 2 * MINUTE));

    let (incident, news) = watch.open_incident(&draft, "ops@iam", &s.providers, t0 + 3 * MINUTE).await.unwrap();
    let sent = news.run().await;
    assert_eq!(sent.iter().map(|n| n.outcome.as_str()).collect::<Vec<_>>(), ["sent"]);
    let (_, news) = watch
        .update_incident(
            &incident.id,
            &update(IncidentStatus::Resolved, "Back"),
            "ops@iam",
            &s.providers,
            t0 + 4 * MINUTE,
        )
        .await
        .unwrap();
    news.run().await;
    let told = mails_mentioning(&maildir, &draft.title);
    let subjects: Vec<&str> = told.iter().filter_map(|m| m.lines().find(|l| l.starts_with("Subject: "))).collect();
    assert_eq!(subjects.len(), 2, "{told:?}");
    assert!(subjects.contains(&format!("Subject: [nuvola status] New incident: {}", draft.title).as_str()));
    assert!(subjects.contains(&format!("Subject: [nuvola status] Resolved: {}", draft.title).as_str()));
    let opened = told.iter().find(|m| m.contains("New incident")).unwrap();
    assert!(opened.contains(&format!("https://status.nuvola.test/status/incidents/{}", incident.id)), "{opened}");

    // The log holds each mail; an incident elsewhere reaches it not.
    let log = watch.notifications(20).await.unwrap();
    assert_eq!(log.iter().filter(|n| n.about == format!("incident/{}", incident.id)).count(), 2);
    let elsewhere = IncidentDraft {
        components: vec![("backbone/backbone-bari".into(), ComponentState::PartialOutage)],
        ..draft.clone()
    };
    assert!(watch.open_incident(&elsewhere, "ops@iam", &s.providers, t0).await.unwrap().1.is_empty());

    // Each mail's unsubscribe link ends it.
    let unsubscribe = token_in(opened, "https://status.nuvola.test/status/subscriptions/unsubscribe");
    assert!(watch.unsubscribe(&unsubscribe).await.unwrap());
    assert!(!watch.unsubscribe(&unsubscribe).await.unwrap(), "gone already");
    assert!(watch.open_incident(&draft, "ops@iam", &s.providers, t0).await.unwrap().1.is_empty());
}

/// What the receiver got: headers and raw body of each delivery.
type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hooks/status",
        post(move |headers: HeaderMap, body: Bytes| async move {
            kept.lock().unwrap().push((headers, body));
            StatusCode::NO_CONTENT
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/hooks/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, got)
}

#[tokio::test]
async fn a_webhook_subscriber_gets_signed_events_of_its_components() {
    let (prefix, received) = receiver().await;
    let s = scene().await;
    let notifier =
        Notifier::new(None, Vec::new(), "https://status.nuvola.test").with_webhook_prefixes(vec![prefix.clone()]);
    let mut providers = s.providers.clone();
    let t0 = DEC_1 + 12 * HOUR;
    let watch = watching(&s, notifier, t0).await;

    let e = watch.subscribe_webhook("http://127.0.0.1:9/elsewhere", &[], t0).await.unwrap_err();
    assert!(e.to_string().contains("not allowed"), "{e}");
    let url = format!("{prefix}status");
    let sub = watch.subscribe_webhook(&url, &["clouds/cloudveneto".into()], t0).await.unwrap();
    assert_eq!(sub.secret.len(), 43);
    // Operators see the subscription, never its secret.
    let listed = watch.subscriptions().await.unwrap();
    assert_eq!((listed[0].address.as_str(), listed[0].secret.as_deref()), (url.as_str(), None));
    assert!(listed[0].confirmed_at.is_some(), "a webhook is in force at once");

    let draft = IncidentDraft {
        title: "Veneto slow".into(),
        impact: Impact::Minor,
        body: "Creating VMs takes minutes".into(),
        components: vec![("clouds/cloudveneto".into(), ComponentState::DegradedPerformance)],
        ..Default::default()
    };
    let (incident, news) = watch.open_incident(&draft, "ops@iam", &providers, t0).await.unwrap();
    let sent = news.run().await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].outcome.starts_with("sent: "), "{:?}", sent[0]);
    let (headers, body) = received.lock().unwrap()[0].clone();
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_string();
    verify(&sub.secret, &header(TIMESTAMP_HEADER), &body, &header(SIGNATURE_HEADER), nuvola_types::now_ms(), TOLERANCE)
        .expect("the signature is the subscriber's");
    assert!(
        verify(
            "another",
            &header(TIMESTAMP_HEADER),
            &body,
            &header(SIGNATURE_HEADER),
            nuvola_types::now_ms(),
            TOLERANCE
        )
        .is_err()
    );
    assert!(!header(DELIVERY_HEADER).is_empty());
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["incident"]["id"], incident.id.as_str());
    assert_eq!(event["incident"]["name"], "Veneto slow");
    assert_eq!(event["incident"]["status"], "investigating");
    assert_eq!(
        event["incident"]["incident_updates"][0]["affected_components"][0]["new_status"],
        "degraded_performance"
    );
    assert_eq!(event["page"]["status_indicator"], "minor");

    // Not told of another component's incident.
    let elsewhere = IncidentDraft {
        components: vec![("backbone/backbone-bari".into(), ComponentState::MajorOutage)],
        ..draft.clone()
    };
    assert!(watch.open_incident(&elsewhere, "ops@iam", &providers, t0).await.unwrap().1.is_empty());

    // A maintenance of its component is announced to it, once.
    providers[1].maintenance = vec![window(t0 + 2 * DAY, t0 + 3 * DAY, MaintenanceKind::Outage, "disks")];
    let sent = watch.announce_maintenances(&providers, t0).await.unwrap().run().await;
    assert_eq!(sent.len(), 1);
    assert!(watch.announce_maintenances(&providers, t0 + MINUTE).await.unwrap().is_empty());
    let (headers, body) = received.lock().unwrap()[1].clone();
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_string();
    verify(&sub.secret, &header(TIMESTAMP_HEADER), &body, &header(SIGNATURE_HEADER), nuvola_types::now_ms(), TOLERANCE)
        .unwrap();
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["incident"]["status"], "scheduled");
    assert_eq!(event["incident"]["incident_updates"][0]["body"], "Outage: due to start in 2 days");

    // The log says what went where; unsubscribed, it hears no more.
    let log = watch.notifications(10).await.unwrap();
    assert!(log.iter().any(|n| n.channel == "webhook" && n.about == format!("incident/{}", incident.id)));
    assert!(watch.unsubscribe(&sub.unsubscribe_token).await.unwrap());
    assert!(watch.open_incident(&draft, "ops@iam", &providers, t0).await.unwrap().1.is_empty());
}
