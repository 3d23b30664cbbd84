//! Registration and access requests: a user asks to join a group (or use a
//! catalogue service) with a reason; the group's manager or an admin
//! decides with a comment; the requester sees the decision and gets it by
//! mail through a real SMTP server (`aiosmtpd`, started by
//! `.ci/smtp/start.sh`, which exports `NUVOLA_TEST_SMTP` and
//! `NUVOLA_TEST_SMTP_MAILDIR`).

mod common;

use nuvola_drivers::testing::{mails_mentioning, smtp_sink};
use std::time::{Duration, Instant};

use common::Harness;
use nuvola_app::Settings;
use nuvola_notify::SmtpSettings;
use serde_json::{Value, json};

/// The first message in the maildir that mentions `needle`.
fn wait_for_mail(maildir: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(text) = mails_mentioning(maildir, needle).into_iter().next() {
            return text;
        }
        assert!(Instant::now() < deadline, "no mail mentioning {needle} in {maildir}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["content"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_request_is_decided_by_the_group_manager_and_mailed() {
    let Some((address, maildir)) = smtp_sink() else { return };
    let settings = Settings {
        poll_interval: Duration::from_millis(20),
        smtp: Some(SmtpSettings { smtp: address, from: "nuvola@nuvola.test".into() }),
        ..Settings::default()
    };
    let h = Harness::with(common::federation(), settings).await;
    let (alice, dave, erin, admin) = (h.alice(), h.manager(), h.outsider(), h.admin());

    // Erin (bio) asks to join physics.
    let ask =
        json!({"kind": "group", "target": "physics", "reason": "I analyse LHC data", "email": "erin@example.org"});
    let created = h.post("/api/v1/requests", &erin, &ask).await.expect(201).json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!((created["status"].as_str(), created["requester"]["subject"].as_str()), (Some("pending"), Some("erin")));

    // Bad requests say why.
    for (body, status) in [
        (json!({"kind": "planet", "target": "x", "reason": "r"}), 400),
        (json!({"kind": "group", "target": "bio", "reason": "r"}), 409),
        (json!({"kind": "group", "target": "physics", "reason": " "}), 400),
        (json!({"kind": "catalogue", "target": "no-such-service", "reason": "r"}), 404),
        (json!({"kind": "group", "target": "physics", "reason": "r", "email": "a@b>\r\nRCPT"}), 400),
    ] {
        h.post("/api/v1/requests", &erin, &body).await.expect(status);
    }

    // Who sees it: erin (hers), physics' manager, admins; not alice.
    assert_eq!(ids(&h.get("/api/v1/requests", &erin).await.expect(200).json()), [id.as_str()]);
    assert_eq!(ids(&h.get("/api/v1/requests?status=pending", &dave).await.expect(200).json()), [id.as_str()]);
    assert!(ids(&h.get("/api/v1/requests", &admin).await.expect(200).json()).contains(&id));
    assert!(ids(&h.get("/api/v1/requests", &alice).await.expect(200).json()).is_empty());

    // Who decides: not alice (404), not erin herself (403); the manager does.
    let decision = json!({"approve": true, "comment": "Welcome aboard"});
    let path = format!("/api/v1/requests/{id}/decision");
    h.post(&path, &alice, &decision).await.expect(404);
    h.post(&path, &erin, &decision).await.expect(403);
    let decided = h.post(&path, &dave, &decision).await.expect(200).json();
    assert_eq!((decided["status"].as_str(), decided["comment"].as_str()), (Some("approved"), Some("Welcome aboard")));
    assert_eq!(decided["decidedBy"], format!("dave@{}", common::ISSUER));
    h.post(&path, &admin, &json!({"approve": false})).await.expect(409);
    // Erin sees the decision in her list, and gets it by mail.
    let mine = h.get("/api/v1/requests?status=approved", &erin).await.expect(200).json();
    assert_eq!(mine["content"][0]["comment"], "Welcome aboard");
    let mail = wait_for_mail(&maildir, &id);
    assert!(mail.contains("To: erin@example.org"), "{mail}");
    assert!(mail.contains("was approved") && mail.contains("Welcome aboard"), "{mail}");

    // Catalogue access is for admins to decide.
    let ask = json!({"kind": "catalogue", "target": "gpu-vm", "reason": "training models"});
    let gpu = h.post("/api/v1/requests", &alice, &ask).await.expect(201).json()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/requests/{gpu}/decision");
    h.post(&path, &dave, &json!({"approve": true})).await.expect(404);
    let rejected = h.post(&path, &admin, &json!({"approve": false, "comment": "no GPUs left"})).await.expect(200);
    assert_eq!(rejected.json()["status"], "rejected");

    // Requests and decisions are audited.
    let audit = h.get("/api/v1/admin/audit?action=request.decide", &admin).await.expect(200).json();
    assert_eq!(audit["content"].as_array().unwrap().len(), 2);
    h.stop().await;
}

/// A restricted catalogue service: open to its groups, refused to others
/// with a way forward, and deployable once an administrator approves the
/// user's catalogue access request.
#[tokio::test]
async fn restricted_services_are_deployable_after_an_approved_request() {
    let mut settings = Settings { poll_interval: Duration::from_millis(20), ..Settings::default() };
    settings.restricted_services.insert("single-vm".into(), vec!["bio".into()]);
    let h = Harness::with(common::federation(), settings).await;
    let body = json!({"catalogueId": "single-vm", "userGroup": "physics"});
    let refused = h.post("/api/v1/deployments", &h.alice(), &body).await.expect(403).error_message();
    assert!(refused.contains("open to group bio only") && refused.contains("access request"), "{refused}");
    assert_eq!(h.count().await, 0);
    // A member of the group it is open to may.
    let erin = h.post("/api/v1/deployments", &h.outsider(), &json!({"catalogueId": "single-vm"})).await.expect(201);
    h.settle(erin.json()["id"].as_str().unwrap(), "CREATE_COMPLETE").await;

    let request = json!({"kind": "catalogue", "target": "single-vm", "reason": "benchmarks for my thesis"});
    let id =
        h.post("/api/v1/requests", &h.alice(), &request).await.expect(201).json()["id"].as_str().unwrap().to_string();
    // Still refused while pending; then an administrator approves.
    h.post("/api/v1/deployments", &h.alice(), &body).await.expect(403);
    // (A group manager does not even see it: catalogue access is for administrators.)
    h.post(&format!("/api/v1/requests/{id}/decision"), &h.manager(), &json!({"approve": true})).await.expect(404);
    h.post(&format!("/api/v1/requests/{id}/decision"), &h.admin(), &json!({"approve": true, "comment": "ok"}))
        .await
        .expect(200);
    let created = h.post("/api/v1/deployments", &h.alice(), &body).await.expect(201).json();
    h.settle(created["id"].as_str().unwrap(), "CREATE_COMPLETE").await;
    // Bob, in the same group, was not the one approved.
    h.post("/api/v1/deployments", &h.bob(), &body).await.expect(403);
    h.stop().await;
}

/// A request's kind, and the status a listing is filtered by, are words
/// from fixed lists: another word is refused with a 400 that names it and
/// the accepted ones, in a body as in a query.
#[tokio::test]
async fn an_unknown_kind_or_status_is_refused_naming_it() {
    let h = Harness::start().await;
    let erin = h.outsider();
    let ask = json!({"kind": "planet", "target": "physics", "reason": "r"});
    let message = h.post("/api/v1/requests", &erin, &ask).await.expect(400).error_message();
    assert!(message.contains("unknown request kind \"planet\": use one of group, catalogue"), "{message}");
    let message = h.get("/api/v1/requests?status=granted", &erin).await.expect(400).error_message();
    assert!(
        message.contains("unknown request status \"granted\": use one of pending, approved, rejected"),
        "{message}"
    );
    // The accepted words still work, and nothing was filed by the refusals.
    assert!(ids(&h.get("/api/v1/requests?status=pending", &erin).await.expect(200).json()).is_empty());
    h.stop().await;
}
