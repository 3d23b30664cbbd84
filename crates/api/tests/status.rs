//! The status page's Statuspage-compatible JSON over HTTP, with no token:
//! the components the watcher's round found, an incident an administrator
//! opened, a maintenance scheduled two days ahead announced as "due to
//! start in 2 days" and one begun an hour ago in progress.

mod common;

use axum::http::{Method, header};
use chrono::{Duration, Utc};
use common::Harness;
use nuvola_app::IncidentDraft;
use nuvola_types::{ComponentState, Impact, IncidentStatus};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statuspage_json_is_public_and_follows_the_page() {
    let h = Harness::start().await;
    h.app.watch_round().await.unwrap();
    let now = Utc::now();
    let window = |start: chrono::DateTime<Utc>, hours: i64, reason: &str| json!({"start": start.to_rfc3339(), "end": (start + Duration::hours(hours)).to_rfc3339(), "reason": reason});
    let ahead = window(now + Duration::days(2) + Duration::minutes(30), 4, "storage upgrade");
    h.post("/api/v1/admin/providers/alpha/maintenance", &h.admin(), &ahead).await.expect(201);
    let begun = window(now - Duration::hours(1), 3, "network works");
    h.post("/api/v1/admin/providers/beta/maintenance", &h.admin(), &begun).await.expect(201);
    let admin = h.app.authenticate(Some(&h.admin())).await.unwrap();
    let draft = IncidentDraft {
        title: "gamma refuses new VMs".into(),
        impact: Impact::Major,
        status: IncidentStatus::Identified,
        body: "Its quota service is down".into(),
        components: vec![("clouds/gamma".into(), ComponentState::PartialOutage)],
    };
    let incident = h.app.open_incident(&admin, &draft).await.unwrap();
    // Only administrators open incidents.
    let alice = h.app.authenticate(Some(&h.alice())).await.unwrap();
    assert_eq!(h.app.open_incident(&alice, &draft).await.unwrap_err().http_status(), 403);

    let summary = h.call(Method::GET, "/api/v2/summary.json", None, None).await.expect(200);
    assert_eq!(summary.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(summary.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    let body = summary.json();
    assert_eq!(body["page"]["url"], format!("{}/status", h.app.settings().public_url));
    let listed: Vec<(&str, &str)> = body["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("federated-clouds", "under_maintenance"),
            ("clouds/alpha", "operational"),
            ("clouds/beta", "under_maintenance"),
            ("clouds/gamma", "operational"),
            ("paas-services", "operational"),
            ("paas/orchestrator", "operational"),
            ("paas/placement", "operational")
        ]
    );
    assert_eq!(body["incidents"][0]["id"], incident.id.as_str());
    assert_eq!(body["incidents"][0]["status"], "identified");
    assert_eq!(body["status"]["indicator"], "major", "a major incident is open");
    let notices: Vec<&str> = body["scheduled_maintenances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["incident_updates"][0]["body"].as_str().unwrap())
        .collect();
    assert_eq!(notices, ["Outage: in progress, due to end in 1 hour", "Outage: due to start in 2 days"]);

    let status = h.call(Method::GET, "/api/v2/status.json", None, None).await.expect(200).json();
    assert_eq!(status["status"], json!({"indicator": "major", "description": "Partial System Outage"}));
    let incidents = h.call(Method::GET, "/api/v2/incidents.json", None, None).await.expect(200).json();
    assert_eq!(incidents["incidents"][0]["name"], "gamma refuses new VMs");
    assert_eq!(incidents["incidents"][0]["components"][0]["id"], "clouds/gamma");
    let maintenances = h.call(Method::GET, "/api/v2/scheduled-maintenances.json", None, None).await.expect(200).json();
    assert_eq!(maintenances["scheduled_maintenances"][1]["status"], "scheduled");
    assert_eq!(maintenances["scheduled_maintenances"][1]["name"], "Maintenance of alpha: storage upgrade");
    let components = h.call(Method::GET, "/api/v2/components.json", None, None).await.expect(200).json();
    assert_eq!(components["components"], body["components"]);

    // Resolved, it leaves the summary and the indicator, not incidents.json.
    let resolve =
        nuvola_app::UpdateDraft { status: IncidentStatus::Resolved, body: "Fixed".into(), ..Default::default() };
    h.app.update_incident(&admin, &incident.id, &resolve).await.unwrap();
    let body = h.call(Method::GET, "/api/v2/summary.json", None, None).await.expect(200).json();
    assert_eq!(body["incidents"], json!([]));
    assert_eq!(body["status"]["indicator"], "maintenance");
    let incidents = h.call(Method::GET, "/api/v2/incidents.json", None, None).await.expect(200).json();
    assert_eq!(incidents["incidents"][0]["status"], "resolved");
    h.stop().await;
}
