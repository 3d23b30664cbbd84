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
/// it charts the days asked for and lists every limited quota.
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
    let refused = d.get("/admin/operations?days=400", Some(&admin)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("days=400: show 1 to 90 days"), "{}", refused.body);
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
