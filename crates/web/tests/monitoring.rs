//! Monitoring's pages through the router: the alerts page (for
//! administrators; silences added and ended from its forms; bad matchers
//! and unknown alerts answered with what is wrong; the log of
//! notifications sent), the operations page, and the public availability
//! report with its CSV.

mod common;

use axum::http::StatusCode;
use common::{Dashboard, principal};
use nuvola_app::Settings;
use nuvola_store::SentNotification;

/// The CSRF token of the page's forms.
fn csrf(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").expect("a form with its CSRF token") + "name=\"csrf\" value=\"".len();
    body[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn operators_silence_alerts_and_read_what_was_sent() {
    let d = Dashboard::new(Settings::default()).await;
    let member = d.sign_in(&principal("alice", &["physics"], &[], false)).await;
    assert_eq!(d.get("/admin/alerts", Some(&member)).await.status, StatusCode::FORBIDDEN);

    let admin = d.sign_in(&principal("ops", &[], &[], true)).await;
    let page = d.get("/admin/alerts", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No alert: every probe passes and no quota runs out."), "{}", page.body);
    assert!(page.body.contains("Nothing sent yet."));
    let token = csrf(&page.body);

    let form = [
        ("csrf", token.as_str()),
        ("matchers", "site=recas-bari, alertname!=exhaustion"),
        ("hours", "2"),
        ("comment", "network work"),
    ];
    let added = d.post("/admin/alerts/silences", Some(&admin), &form).await;
    assert_eq!((added.status, added.location()), (StatusCode::SEE_OTHER, "/admin/alerts"), "{}", added.body);
    let page = d.get("/admin/alerts", Some(&admin)).await;
    assert!(page.body.contains("<code>site=recas-bari</code>, <code>alertname!=exhaustion</code>"), "{}", page.body);
    assert!(page.body.contains(": network work"));
    let (_, silences) = d.app.alerts(&principal("ops", &[], &[], true)).await.unwrap();
    assert_eq!(silences.len(), 1);

    let bad = [("csrf", token.as_str()), ("matchers", "site"), ("hours", "2"), ("comment", "")];
    let refused = d.post("/admin/alerts/silences", Some(&admin), &bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("matcher &quot;site&quot; is not label=value or label!=value"), "{}", refused.body);
    let forever = [("csrf", token.as_str()), ("matchers", "site=x"), ("hours", "10000"), ("comment", "")];
    assert_eq!(d.post("/admin/alerts/silences", Some(&admin), &forever).await.status, StatusCode::BAD_REQUEST);
    let unknown = [("csrf", token.as_str()), ("key", "malfunction{site=\"nowhere\"}")];
    let refused = d.post("/admin/alerts/acknowledge", Some(&admin), &unknown).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    // Without the form's token, nothing changes.
    let forged = [("csrf", "forged"), ("id", silences[0].id.as_str())];
    assert_eq!(d.post("/admin/alerts/silences/end", Some(&admin), &forged).await.status, StatusCode::FORBIDDEN);

    let end = [("csrf", token.as_str()), ("id", silences[0].id.as_str())];
    assert_eq!(d.post("/admin/alerts/silences/end", Some(&admin), &end).await.status, StatusCode::SEE_OTHER);
    assert!(d.get("/admin/alerts", Some(&admin)).await.body.contains("<h2>Silences</h2><p>None.</p>"));

    let sent = SentNotification {
        at: 1_800_000_000_000,
        channel: "email".into(),
        recipient: "ops@example.org".into(),
        subject: "[nuvola alerts] 1 firing: clouds/recas-bari failed 3 rounds in a row".into(),
        about: "malfunction{site=\"recas-bari\"}".into(),
        outcome: "sent".into(),
        ..SentNotification::default()
    };
    d.store.record_notification(&sent).await.unwrap();
    let page = d.get("/admin/alerts", Some(&admin)).await;
    assert!(page.body.contains("<td>ops@example.org</td><td>[nuvola alerts] 1 firing: clouds/recas-bari failed 3 rounds in a row</td><td>sent</td>"), "{}", page.body);
}

/// The operations page: only administrators see it; its days are checked;
/// it charts the days asked for, lists the quotas in use fullest first
/// and folds every limited quota away.
#[tokio::test]
async fn the_operations_page_charts_the_days_asked_for() {
    let d = Dashboard::new(Settings::default()).await;
    let member = d.sign_in(&principal("alice", &["physics"], &[], false)).await;
    assert_eq!(d.get("/admin/operations", Some(&member)).await.status, StatusCode::FORBIDDEN);
    let admin = d.sign_in(&principal("ops", &[], &[], true)).await;
    let page = d.get("/admin/operations?days=7", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<caption>Deployments per day</caption>"), "{}", page.body);
    assert_eq!(page.body.matches("<tr><td>20").count(), 7, "seven days in the table: {}", page.body);
    assert!(page.body.contains("No attempt became ready in the period."));
    assert!(page.body.contains("None firing."));
    // Nothing held yet: the full quota table is folded away.
    assert!(page.body.contains("No group holds anything yet."), "{}", page.body);
    assert!(page.body.contains("<summary>Every limited resource ("), "{}", page.body);
    let refused = d.get("/admin/operations?days=400", Some(&admin)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("days=400: show 1 to 90 days"), "{}", refused.body);
}

/// The operations page lists each provider's last canary runs with their
/// phases' times and outcome, and the canary VMs left on a site.
#[tokio::test]
async fn the_operations_page_shows_canary_runs_and_leftovers() {
    let d = Dashboard::new(Settings::default()).await;
    let admin = d.sign_in(&principal("ops", &[], &[], true)).await;
    let page = d.get("/admin/operations", Some(&admin)).await;
    assert!(page.body.contains("No canary run in the period; providers opt in with"), "{}", page.body);

    let now = nuvola_app::now_ms();
    let (started, ended) = (now - 7_200_000, now - 7_195_000);
    let passed = nuvola_app::CanaryRun {
        create_ms: Some(400),
        ready_ms: Some(5_100),
        delete_ms: Some(1_300),
        finished_at: Some(ended),
        ok: Some(true),
        gone: true,
        ..nuvola_app::CanaryRun::begun("canary-1", "backbone-bari", 1, "m1.tiny", "cirros", started, ended)
    };
    let stuck = nuvola_app::CanaryRun {
        id: "canary-2".into(),
        slot: 2,
        started_at: now - 3_600_000,
        delete_ms: None,
        ok: Some(false),
        failed_phase: Some(nuvola_types::CanaryPhase::Delete),
        error: Some("not gone within 600 s".into()),
        cause: Some("HTTP 500 from 10.0.0.5".into()),
        gone: false,
        cleanup_error: Some("provider unavailable: HTTP 503 after 3 tries".into()),
        ..passed.clone()
    };
    d.store.claim_canary_run(&passed).await.unwrap();
    d.store.claim_canary_run(&stuck).await.unwrap();
    let page = d.get("/admin/operations", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("<caption>The last canary runs per provider</caption>"), "{body}");
    assert!(body.contains("<td class=\"num\">0.4 s</td><td class=\"num\">5.1 s</td><td class=\"num\">1.3 s</td><td>passed</td><td>gone</td>"), "{body}");
    assert!(body.contains("<td>delete failed: not gone within 600 s<br><small>cause: HTTP 500 from 10.0.0.5</small></td><td><span class=\"badge bad\">left</span>"), "{body}");
    assert!(body.contains("<strong>1 canary VM(s) not deleted yet</strong>"), "{body}");
    assert!(body.contains("<code>canary-2</code>"), "{body}");
    assert!(body.contains("provider unavailable: HTTP 503 after 3 tries"), "{body}");
}

/// The availability report is public, as the status page: a month's page
/// and its CSV, and a clear refusal of a month that is not one.
#[tokio::test]
async fn the_availability_report_is_public_with_its_csv() {
    let d = Dashboard::new(Settings::default()).await;
    d.app.watch_round().await.unwrap();
    let page = d.get("/status/availability?month=2026-11", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<caption>Availability and reliability, 2026-11</caption>"), "{}", page.body);
    assert!(page.body.contains("<th scope=\"row\">Orchestrator</th>"), "{}", page.body);
    assert_eq!(page.body.matches("<th scope=\"col\" class=\"num\">").count(), 2 + 30, "November's 30 days");
    let csv = d.get("/status/availability.csv?month=2026-11", None).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.starts_with("component,name,day,ok_seconds,"), "{}", csv.body);
    assert!(
        csv.body.contains("paas/orchestrator,Orchestrator,2026-11-30,0.000,0.000,0.000,86400.000,0.000,,\n"),
        "{}",
        csv.body
    );
    let bad = d.get("/status/availability?month=November", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("month &quot;November&quot; is not a month like 2026-12"), "{}", bad.body);
}

/// Bulletins are kept as pages for administrators and group managers.
#[tokio::test]
async fn bulletins_are_pages_for_managers_and_administrators() {
    let d = Dashboard::new(Settings::default()).await;
    let manager = d.sign_in(&principal("lead", &["physics"], &["physics"], false)).await;
    let page = d.get("/bulletins", Some(&manager)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No bulletin yet"), "{}", page.body);
    let now = nuvola_app::now_ms();
    let made = d.app.watch().bulletin_if_due(&[], nuvola_monitor::bulletin::Every::Week, now).await.unwrap().unwrap();
    let page = d.get("/bulletins", Some(&manager)).await;
    assert!(page.body.contains(&format!("<a href=\"/bulletins/{0}\">{0}</a>", made.id)), "{}", page.body);
    let page = d.get(&format!("/bulletins/{}", made.id), Some(&manager)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&format!("<h1>Bulletin {}</h1>", made.id)), "{}", page.body);
    assert!(page.body.contains("Alerting told 0 alerts; 0 notifications were sent in all."), "{}", page.body);
    assert_eq!(d.get("/bulletins/2001-W01", Some(&manager)).await.status, StatusCode::NOT_FOUND);
    let member = d.sign_in(&principal("alice", &["physics"], &[], false)).await;
    assert_eq!(d.get("/bulletins", Some(&member)).await.status, StatusCode::FORBIDDEN);
}
