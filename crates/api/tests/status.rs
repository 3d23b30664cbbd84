//! The status page over HTTP. Its Statuspage-compatible JSON, with no
//! token: the components the watcher's round found, an incident an
//! administrator opened, a maintenance scheduled two days ahead announced
//! as "due to start in 2 days" and one begun an hour ago in progress. Its
//! operators' API (`/api/v1/status`): incidents opened, updated, resolved
//! and listed, components overridden, each bad request refused with what is
//! wrong and leaving everything as it was, and subscribers mailed (through
//! the real SMTP sink) of an incident opened there.

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
            // The open incident's state, though its probes pass.
            ("clouds/gamma", "partial_outage"),
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

/// The incident as the API shows it to `token`.
async fn incident(h: &Harness, id: &str, token: &str) -> serde_json::Value {
    h.get(&format!("/api/v1/status/incidents/{id}"), token).await.expect(200).json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_open_update_and_resolve_incidents_through_the_api() {
    let h = Harness::start().await;
    h.app.watch_round().await.unwrap();
    let (admin, alice) = (h.admin(), h.alice());
    let opening = json!({
        "title": "gamma refuses new VMs",
        "impact": "major",
        "message": "Creates fail with 500",
        "components": {"clouds/gamma": "partial_outage"},
    });
    // A member may read, not open.
    let refused = h.post("/api/v1/status/incidents", &alice, &opening).await.expect(403);
    assert_eq!(refused.error_message(), "this needs a platform administrator");

    let opened = h.post("/api/v1/status/incidents", &admin, &opening).await.expect(201).json();
    let id = opened["id"].as_str().unwrap().to_string();
    assert_eq!(
        (&opened["title"], &opened["impact"], &opened["status"], &opened["createdBy"]),
        (&json!("gamma refuses new VMs"), &json!("major"), &json!("investigating"), &json!("root@nuvola"))
    );
    assert_eq!(opened["components"], json!([{"id": "clouds/gamma", "state": "partial_outage"}]));
    assert_eq!(opened["updates"][0]["message"], "Creates fail with 500");
    assert_eq!(opened["url"], format!("{}/status/incidents/{id}", common::BASE));
    assert_eq!(incident(&h, &id, &alice).await, opened, "anyone signed in reads it");
    let listed = h.get("/api/v1/status/incidents", &alice).await.expect(200).json();
    assert_eq!((listed["total"].as_i64(), &listed["content"][0]["id"]), (Some(1), &json!(id)));
    // The public page shows it as the admin page's incidents are shown.
    let summary = h.call(Method::GET, "/api/v2/summary.json", None, None).await.expect(200).json();
    assert_eq!(summary["incidents"][0]["id"], id.as_str());

    // An update changes the status, the impact and the components.
    let update = json!({
        "status": "identified",
        "message": "A full disk on the controller",
        "impact": "critical",
        "components": {"clouds/gamma": "major_outage", "clouds/beta": "degraded_performance"},
    });
    let updated = h.post(&format!("/api/v1/status/incidents/{id}/updates"), &admin, &update).await.expect(201).json();
    assert_eq!((&updated["status"], &updated["impact"]), (&json!("identified"), &json!("critical")));
    assert_eq!(
        updated["components"],
        json!([{"id": "clouds/beta", "state": "degraded_performance"}, {"id": "clouds/gamma", "state": "major_outage"}])
    );
    assert_eq!(updated["updates"].as_array().unwrap().len(), 2);

    // Bad requests say what is wrong and where, and change nothing.
    let updates = format!("/api/v1/status/incidents/{id}/updates");
    let cases: Vec<(&str, serde_json::Value, u16, &str)> = vec![
        (&updates, json!({"status": "fixed", "message": "x"}), 400, "unknown incident status \"fixed\""),
        (&updates, json!({"status": "monitoring"}), 400, "missing field `message`"),
        (&updates, json!({"status": "monitoring", "message": "  "}), 400, "an update needs a message"),
        (
            &updates,
            json!({"status": "monitoring", "message": "x", "components": {"clouds/atlantis": "major_outage"}}),
            400,
            "there is no component \"clouds/atlantis\" on the status page",
        ),
        (
            &updates,
            json!({"status": "monitoring", "message": "x", "components": {"clouds/gamma": "on_fire"}}),
            400,
            "unknown component state \"on_fire\"",
        ),
        (&updates, json!({"status": "monitoring", "message": "x", "severity": 3}), 400, "unknown field `severity`"),
        (
            "/api/v1/status/incidents/nope/updates",
            json!({"status": "monitoring", "message": "x"}),
            404,
            "no incident nope",
        ),
        ("/api/v1/status/incidents", json!({"title": " ", "message": "x"}), 400, "an incident needs a title"),
        ("/api/v1/status/incidents", json!({"title": "t", "message": "x", "impact": "huge"}), 400, "unknown impact"),
        (
            "/api/v1/status/incidents",
            json!({"title": "t", "message": "x", "components": {"paas/nothing": "major_outage"}}),
            400,
            "there is no component \"paas/nothing\"",
        ),
    ];
    for (path, body, status, expected) in cases {
        let reply = h.post(path, &admin, &body).await;
        assert_eq!(reply.status.as_u16(), status, "{path} {body}: {}", reply.text());
        let message = reply.error_message();
        assert!(message.contains(expected), "{path} {body}: {message:?} should say {expected:?}");
    }
    let bad_json = h.raw(Method::POST, &updates, Some(&admin), Some(b"{\"status\": \"monitoring\",".to_vec())).await;
    assert!(bad_json.expect(400).error_message().contains("line 1 column"), "where the JSON breaks");
    h.post(&updates, &alice, &json!({"status": "resolved", "message": "x"})).await.expect(403);
    assert_eq!(incident(&h, &id, &admin).await, updated, "no bad request changed it");
    assert_eq!(h.get("/api/v1/status/incidents", &admin).await.expect(200).json()["total"], 1, "nor opened one");

    // Resolved once; resolving again is refused, and reopening works.
    let resolve = json!({"status": "resolved", "message": "The disk is replaced"});
    let resolved = h.post(&updates, &admin, &resolve).await.expect(201).json();
    assert!(resolved["resolvedAt"].is_string(), "{resolved}");
    let twice = h.post(&updates, &admin, &json!({"status": "resolved", "message": "Really"})).await.expect(409);
    assert!(twice.error_message().contains(&format!("incident {id} is resolved already")), "{}", twice.text());
    assert_eq!(incident(&h, &id, &admin).await, resolved, "the refused update left nothing");
    let reopened =
        h.post(&updates, &admin, &json!({"status": "monitoring", "message": "It fails again"})).await.expect(201);
    assert_eq!(reopened.json()["resolvedAt"], json!(null));

    // Paging, and its bad requests.
    for i in 0..3 {
        let more = json!({"title": format!("incident {i}"), "message": "x"});
        h.post("/api/v1/status/incidents", &admin, &more).await.expect(201);
    }
    let first = h.get("/api/v1/status/incidents?limit=3", &alice).await.expect(200).json();
    assert_eq!((first["total"].as_i64(), first["content"].as_array().unwrap().len()), (Some(4), 3));
    let next = first["next"].as_str().unwrap();
    let rest = h.get(&format!("/api/v1/status/incidents?limit=3&before={next}"), &alice).await.expect(200).json();
    assert_eq!((rest["content"][0]["id"].as_str(), &rest["next"]), (Some(id.as_str()), &json!(null)));
    let zero = h.get("/api/v1/status/incidents?limit=0", &alice).await.expect(400);
    assert!(zero.error_message().contains("limit=0"), "{}", zero.text());
    h.get("/api/v1/status/incidents?before=yesterday", &alice).await.expect(400);
    h.get("/api/v1/status/incidents?sort=title", &alice).await.expect(400);

    // Each change is audited with who made it.
    let audit = h.get(&format!("/api/v1/admin/audit?target={id}"), &admin).await.expect(200).json();
    let actions: Vec<&str> =
        audit["content"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["incident.update", "incident.update", "incident.update", "incident.open"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_override_components_through_the_api() {
    let h = Harness::start().await;
    h.app.watch_round().await.unwrap();
    let (admin, alice) = (h.admin(), h.alice());
    let set = json!({"state": "under_maintenance", "note": "disks replaced"});
    let refused = h.put("/api/v1/status/overrides/clouds/alpha", &alice, &set).await.expect(403);
    assert_eq!(refused.error_message(), "this needs a platform administrator");
    let shown = h.put("/api/v1/status/overrides/clouds/alpha", &admin, &set).await.expect(200).json();
    assert_eq!(
        (&shown["id"], &shown["state"], &shown["probesSay"]),
        (&json!("clouds/alpha"), &json!("under_maintenance"), &json!("operational"))
    );
    assert_eq!(
        (&shown["override"]["note"], &shown["override"]["setBy"]),
        (&json!("disks replaced"), &json!("root@nuvola"))
    );
    // The id may come percent-encoded, as a client that encodes it sends it.
    let beta = json!({"state": "degraded_performance"});
    let encoded = h.put("/api/v1/status/overrides/clouds%2Fbeta", &admin, &beta).await.expect(200).json();
    assert_eq!((&encoded["id"], &encoded["state"]), (&json!("clouds/beta"), &json!("degraded_performance")));
    let listed = h.get("/api/v1/status/components", &alice).await.expect(200).json();
    let alpha = listed["content"].as_array().unwrap().iter().find(|c| c["id"] == "clouds/alpha").unwrap().clone();
    assert_eq!(alpha, shown);
    assert!(listed["checkedAt"].is_string(), "{listed}");

    // Bad requests change nothing.
    let unknown = h.put("/api/v1/status/overrides/clouds/atlantis", &admin, &set).await.expect(400);
    assert!(unknown.error_message().contains("there is no component \"clouds/atlantis\""), "{}", unknown.text());
    let bad = h.put("/api/v1/status/overrides/clouds/alpha", &admin, &json!({"state": "down"})).await.expect(400);
    assert!(bad.error_message().contains("unknown component state \"down\": use one of operational"), "{}", bad.text());
    let long = json!({"state": "major_outage", "note": "n".repeat(201)});
    let long = h.put("/api/v1/status/overrides/clouds/alpha", &admin, &long).await.expect(400);
    assert!(long.error_message().contains("note is at most 200 characters"), "{}", long.text());
    h.delete("/api/v1/status/overrides/clouds/alpha", &alice).await.expect(403);
    let again = h.get("/api/v1/status/components", &admin).await.expect(200).json();
    assert_eq!(again["content"], listed["content"], "no bad request changed an override");

    // Cleared, the probes speak again; clearing twice says there is none.
    let cleared = h.delete("/api/v1/status/overrides/clouds/alpha", &admin).await.expect(200).json();
    assert_eq!((&cleared["state"], &cleared["override"]), (&json!("operational"), &json!(null)));
    let none = h.delete("/api/v1/status/overrides/clouds/alpha", &admin).await.expect(404);
    assert_eq!(none.error_message(), "component \"clouds/alpha\" has no override to clear");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_hear_of_an_incident_opened_through_the_api() {
    let Some((relay, maildir)) = nuvola_drivers::testing::smtp_sink() else { return };
    let settings = nuvola_app::Settings {
        smtp: Some(nuvola_notify::SmtpSettings { smtp: relay, from: "status@nuvola.test".into() }),
        poll_interval: std::time::Duration::from_millis(20),
        ..Default::default()
    };
    let h = Harness::with(common::federation(), settings).await;
    h.app.watch_round().await.unwrap();
    let address = format!("{}@subscribers.example", uuid::Uuid::new_v4().simple());
    h.app.subscribe_email(&address, &["clouds/gamma".into()], Some("192.0.2.1")).await.unwrap();
    h.app.watch().settle().await;
    let confirmation = nuvola_drivers::testing::mails_mentioning(&maildir, &format!("To: {address}"));
    assert_eq!(confirmation.len(), 1);
    let link = "/status/subscriptions/confirm?token=";
    let at = confirmation[0].find(link).expect("a confirmation link") + link.len();
    let token: String =
        confirmation[0][at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    h.app.confirm_subscription(&token).await.unwrap();

    let title = format!("gamma is down ({address})");
    let opening = json!({"title": title, "impact": "critical", "message": "Nothing answers",
                         "components": {"clouds/gamma": "major_outage"}});
    let opened = h.post("/api/v1/status/incidents", &h.admin(), &opening).await.expect(201).json();
    let id = opened["id"].as_str().unwrap();
    let resolve = json!({"status": "resolved", "message": "Back"});
    h.post(&format!("/api/v1/status/incidents/{id}/updates"), &h.admin(), &resolve).await.expect(201);
    h.app.watch().settle().await;
    let told = nuvola_drivers::testing::mails_mentioning(&maildir, &title);
    let mut subjects: Vec<&str> = told.iter().filter_map(|m| m.lines().find(|l| l.starts_with("Subject: "))).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            format!("Subject: [nuvola status] New incident: {title}"),
            format!("Subject: [nuvola status] Resolved: {title}")
        ]
    );
    assert!(told.iter().all(|m| m.contains(&format!("To: {address}"))), "{told:?}");
    assert!(told.iter().all(|m| m.contains(&format!("/status/incidents/{id}"))), "{told:?}");
    h.stop().await;
}
