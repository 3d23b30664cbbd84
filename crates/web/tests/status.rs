//! The public status page and its operator's page through the router: no
//! sign-in for the page, its incidents, history and feeds; a maintenance
//! two days ahead "due to start in 2 days" on the page and in the feed and
//! one begun an hour ago in progress; subscribing by webhook shows the
//! secret once; the operator opens, updates and resolves an incident and
//! overrides a component with the session's CSRF token, and a member may
//! not. Subscribing is limited per client address and, through the real
//! SMTP sink, per mailbox: over a limit, a 429 page says when to try again
//! and no mail goes out.

mod common;

use axum::http::{StatusCode, header};
use chrono::{DateTime, Duration, Utc};
use common::{Dashboard, principal};
use nuvola_app::Settings;
use nuvola_types::{MaintenanceKind, MaintenanceWindow, ProviderSpec};
use serde_json::json;

fn provider(name: &str, maintenance: Vec<MaintenanceWindow>) -> ProviderSpec {
    let mut spec: ProviderSpec = serde_json::from_value(json!({
        "name": name, "driver": "sim", "endpoint": format!("https://{name}.example/v3"),
        "groups": {"physics": {"sla_id": "sla-1", "project": "physics", "quota": {"cores": 10}}},
        "settings": {"create_latency_ms": 0},
    }))
    .unwrap();
    spec.maintenance = maintenance;
    spec
}

fn window(start: DateTime<Utc>, hours: i64, reason: &str) -> MaintenanceWindow {
    MaintenanceWindow {
        start,
        end: start + Duration::hours(hours),
        reason: reason.into(),
        kind: MaintenanceKind::Outage,
    }
}

async fn dashboard() -> Dashboard {
    let now = Utc::now();
    let providers = vec![
        provider("alpha", vec![window(now + Duration::days(2) + Duration::minutes(30), 4, "disks")]),
        provider("beta", vec![window(now - Duration::hours(1), 3, "network")]),
    ];
    let settings = Settings { webhook_allowed_prefixes: vec!["https://hooks.example/".into()], ..Settings::default() };
    let d = Dashboard::with_providers(providers, settings, |_| {}).await;
    d.app.watch_round().await.unwrap();
    d
}

#[tokio::test]
async fn the_public_page_shows_components_maintenance_and_feeds_without_sign_in() {
    let d = dashboard().await;
    let page = d.get("/status", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("Service Under Maintenance"), "the banner: {body}");
    assert!(body.contains("<strong>Maintenance of alpha: disks</strong> — Outage: due to start in 2 days"), "{body}");
    assert!(
        body.contains("<strong>Maintenance of beta: network</strong> — Outage: in progress, due to end in 1 hour"),
        "{body}"
    );
    assert!(body.contains("<h2 id=\"g-clouds\">Federated clouds</h2>"), "{body}");
    assert!(body.contains("<span class=\"badge busy\">Under maintenance</span>"), "beta: {body}");
    assert!(body.contains("aria-label=\"alpha, last 90 days: 0 with an outage, uptime 100.00 %\""), "{body}");
    assert!(body.contains("This month: availability "), "{body}");
    assert!(body.contains("href=\"/status/feed.atom\"") && body.contains("action=\"/status/subscribe\""), "{body}");

    let atom = d.get("/status/feed.atom", None).await;
    assert_eq!(atom.headers[header::CONTENT_TYPE], "application/atom+xml; charset=utf-8");
    assert!(atom.body.contains("<summary>Outage: due to start in 2 days</summary>"), "{}", atom.body);
    let rss = d.get("/status/feed.rss", None).await;
    assert!(rss.body.contains("Outage: in progress, due to end in 1 hour"), "{}", rss.body);

    let history = d.get("/status/history", None).await;
    assert!(history.body.contains("0 incidents in all."), "{}", history.body);
    assert_eq!(d.get("/status/history?before=nonsense", None).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(d.get("/status/incidents/nope", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_webhook_subscription_shows_its_secret_once_and_a_bad_url_is_refused() {
    let d = dashboard().await;
    let form = [("kind", "webhook"), ("address", "https://hooks.example/status"), ("component", "clouds/alpha")];
    let made = d.post("/status/subscribe", None, &form).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert!(made.body.contains("Signing secret"), "{}", made.body);
    let bad = d.post("/status/subscribe", None, &[("kind", "webhook"), ("address", "https://evil.example/x")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("not allowed"), "{}", bad.body);
    let nowhere = d
        .post(
            "/status/subscribe",
            None,
            &[("kind", "webhook"), ("address", "https://hooks.example/a"), ("component", "clouds/atlantis")],
        )
        .await;
    assert!(nowhere.body.contains("there is no component"), "{}", nowhere.body);
    // No relay: subscriptions by mail are not open, and say why.
    let mail = d.post("/status/subscribe", None, &[("kind", "email"), ("address", "ann@example.org")]).await;
    assert_eq!(mail.status, StatusCode::CONFLICT, "{}", mail.body);
    // A confirmation link shows a button; the post with a bad token is a 404.
    let confirm = d.get("/status/subscriptions/confirm?token=abc", None).await;
    assert!(confirm.body.contains("<input type=\"hidden\" name=\"token\" value=\"abc\">"), "{}", confirm.body);
    assert_eq!(d.post("/status/subscriptions/confirm", None, &[("token", "abc")]).await.status, StatusCode::NOT_FOUND);

    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let page = d.get("/admin/status", Some(&admin)).await;
    assert!(page.body.contains("<td>https://hooks.example/status</td><td>clouds/alpha</td>"), "{}", page.body);
}

#[tokio::test]
async fn an_operator_runs_an_incident_and_an_override_from_the_admin_page() {
    let d = dashboard().await;
    let member = d.sign_in(&principal("alice", &["physics"], &[], false)).await;
    assert_eq!(d.get("/admin/status", Some(&member)).await.status, StatusCode::FORBIDDEN);
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let page = d.get("/admin/status", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.csrf();

    let form = [
        ("csrf", csrf.as_str()),
        ("title", "alpha refuses VMs"),
        ("impact", "major"),
        ("status", "investigating"),
        ("body", "Creates fail with 500"),
        ("state:clouds/alpha", "major_outage"),
        ("state:clouds/beta", ""),
    ];
    let stale = d.post("/admin/status/incidents", Some(&admin), &[("csrf", "stale"), ("title", "x")]).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    let opened = d.post("/admin/status/incidents", Some(&admin), &form).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let at = opened.location().to_string();
    let id = at.trim_start_matches("/status/incidents/").to_string();
    let incident = d.get(&at, None).await;
    assert!(incident.body.contains("<title>alpha refuses VMs · nuvola</title>"), "{}", incident.body);
    assert!(
        incident.body.contains("<code>clouds/alpha</code> <span class=\"badge bad\">Major outage</span>"),
        "{}",
        incident.body
    );
    let public = d.get("/status", None).await;
    assert!(
        public.body.contains("Partial System Outage") && public.body.contains("Active incidents"),
        "{}",
        public.body
    );

    let resolved = d
        .post(
            &format!("/admin/status/incidents/{id}"),
            Some(&admin),
            &[("csrf", &csrf), ("status", "resolved"), ("body", "Fixed")],
        )
        .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER, "{}", resolved.body);
    let incident = d.get(&at, None).await;
    assert!(incident.body.contains("Resolved, major impact."), "{}", incident.body);
    let history = d.get("/status/history", None).await;
    assert!(
        history.body.contains(&format!("<a href=\"/status/incidents/{id}\">alpha refuses VMs</a>")),
        "{}",
        history.body
    );

    let set = [
        ("csrf", csrf.as_str()),
        ("component", "clouds/alpha"),
        ("state", "degraded_performance"),
        ("note", "slow disks"),
    ];
    assert_eq!(d.post("/admin/status/overrides", Some(&admin), &set).await.status, StatusCode::SEE_OTHER);
    let public = d.get("/status", None).await;
    assert!(
        public.body.contains("Operator&#39;s note: slow disks") || public.body.contains("Operator's note: slow disks"),
        "{}",
        public.body
    );
    let clear = [("csrf", csrf.as_str()), ("component", "clouds/alpha"), ("state", "")];
    assert_eq!(d.post("/admin/status/overrides", Some(&admin), &clear).await.status, StatusCode::SEE_OTHER);
    assert!(!d.get("/status", None).await.body.contains("slow disks"));
    let log = d.get("/admin/status", Some(&admin)).await;
    assert!(log.body.contains("Notifications sent"), "{}", log.body);
}

/// A dashboard whose subscriptions are limited as `limits` say, mailing
/// through `smtp` when given.
async fn limited(limits: nuvola_limits::SubscriptionLimits, smtp: Option<String>) -> Dashboard {
    let settings = Settings {
        webhook_allowed_prefixes: vec!["https://hooks.example/".into()],
        subscription_limits: limits,
        smtp: smtp.map(|relay| nuvola_notify::SmtpSettings { smtp: relay, from: "status@nuvola.test".into() }),
        ..Settings::default()
    };
    let d = Dashboard::with_providers(vec![provider("alpha", vec![])], settings, |_| {}).await;
    d.app.watch_round().await.unwrap();
    d
}

/// `POST /status/subscribe` of `form` from the client at `address`.
async fn subscribe_from(d: &Dashboard, address: &str, form: &[(&str, &str)]) -> common::Page {
    let request = axum::http::Request::post("/status/subscribe")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(serde_urlencoded::to_string(form).unwrap()))
        .unwrap();
    d.send_from(address, request).await
}

#[tokio::test]
async fn one_client_may_ask_for_a_few_subscriptions_an_hour() {
    let limits = nuvola_limits::SubscriptionLimits {
        per_client: 3,
        per_mailbox: 2,
        window: std::time::Duration::from_secs(3600),
    };
    let d = limited(limits, None).await;
    let hook = [("kind", "webhook"), ("address", "https://hooks.example/a")];
    for _ in 0..2 {
        assert_eq!(subscribe_from(&d, "192.0.2.1:40000", &hook).await.status, StatusCode::OK);
    }
    // A refused request counts too: it cost the server as much.
    let elsewhere = [("kind", "webhook"), ("address", "https://evil.example/a")];
    assert_eq!(subscribe_from(&d, "192.0.2.1:40001", &elsewhere).await.status, StatusCode::BAD_REQUEST);
    let refused = subscribe_from(&d, "192.0.2.1:40002", &hook).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    let said = "too many subscriptions were asked for from your network address in the last hour (at most 3): \
                try again in ";
    assert!(refused.body.contains(said), "{}", refused.body);
    let retry: u64 = refused.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After: {retry}");
    assert_eq!(d.app.status_subscriptions(&principal("root", &[], &[], true)).await.unwrap().len(), 2);
    // Another client is not held back.
    assert_eq!(subscribe_from(&d, "192.0.2.2:40000", &hook).await.status, StatusCode::OK);
}

#[tokio::test]
async fn one_mailbox_is_sent_a_few_confirmations_an_hour_and_no_more() {
    let Some((relay, maildir)) = nuvola_drivers::testing::smtp_sink() else { return };
    let limits = nuvola_limits::SubscriptionLimits {
        per_client: 10,
        per_mailbox: 2,
        window: std::time::Duration::from_secs(3600),
    };
    let d = limited(limits, Some(relay)).await;
    // One victim's mailbox, asked for from three clients with three tags.
    let victim = nuvola_watch::subscriptions::token()[..12].to_lowercase().replace(['-', '_'], "x");
    let address = |tag: &str| format!("{victim}+{tag}@example.org");
    for (client, tag) in [("192.0.2.11:1", "a"), ("192.0.2.12:1", "b")] {
        let form = [("kind", "email"), ("address", &*address(tag))];
        let made = subscribe_from(&d, client, &form).await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    }
    let third = address("c");
    let refused = subscribe_from(&d, "192.0.2.13:1", &[("kind", "email"), ("address", &third)]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    let said =
        format!("{third} was sent 2 confirmation mails in the last hour, the most it may be sent: try again in ");
    assert!(refused.body.contains(&said), "{}", refused.body);
    assert!(refused.headers.contains_key(header::RETRY_AFTER));
    d.app.watch().settle().await;
    // The two confirmations went out; nothing to the third, nor stored.
    for tag in ["a", "b"] {
        assert_eq!(nuvola_drivers::testing::mails_mentioning(&maildir, &format!("To: {}", address(tag))).len(), 1);
    }
    assert!(nuvola_drivers::testing::mails_mentioning(&maildir, &third).is_empty());
    let root = principal("root", &[], &[], true);
    let sent = d.app.sent_notifications(&root, 100).await.unwrap();
    assert_eq!(sent.iter().filter(|n| n.recipient.starts_with(&victim)).count(), 2, "{sent:?}");
    let stored = d.app.status_subscriptions(&root).await.unwrap();
    assert!(!stored.iter().any(|s| s.address == third), "{stored:?}");
    // A request that sends no mail does not count against its mailbox:
    // another's first confirmation waits, so asking again is refused for
    // that (409), and one more tag still gets its mail.
    let other = format!("{victim}x");
    let first = format!("{other}+a@example.org");
    assert_eq!(
        subscribe_from(&d, "192.0.2.14:1", &[("kind", "email"), ("address", &first)]).await.status,
        StatusCode::OK
    );
    let again = subscribe_from(&d, "192.0.2.14:1", &[("kind", "email"), ("address", &first)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let second = format!("{other}+b@example.org");
    let made = subscribe_from(&d, "192.0.2.14:1", &[("kind", "email"), ("address", &second)]).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
}
