//! Orphan resources seen through the API: what a simulated provider holds
//! for an attempt the store never recorded is reported and can be cleaned
//! (and the cleaning audited); a live deployment's resources are not; an
//! ended attempt's are reported only after the grace period; a provider
//! that fails or is too slow is reported as not checked; only admins see
//! or clean orphans.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Harness, SETTLE, catalogue_text};
use nuvola_app::Settings;
use serde_json::{Value, json};

/// The orphans reported on `provider`, after checking it was checked.
fn orphans_on<'a>(report: &'a Value, provider: &str) -> &'a Vec<Value> {
    let p = report["providers"].as_array().unwrap().iter().find(|p| p["provider"] == provider).unwrap();
    assert!(p.get("error").is_none(), "{provider} was not checked: {report:#}");
    p["orphans"].as_array().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_attempts_are_reported_and_cleaned_live_ones_are_not() {
    let h = Harness::start().await;
    let admin = h.admin();
    let live = h.create(&h.alice(), &json!({"template": catalogue_text("single-vm")})).await;
    h.settle(&live, "CREATE_COMPLETE").await;
    assert!(!h.held_for(&live).await.is_empty());

    h.create_behind_the_stores_back("beta", "lost-deployment", "lost-deployment-1").await;
    let report = h.get("/api/v1/admin/orphans", &admin).await.expect(200).json();
    for provider in ["alpha", "gamma"] {
        assert!(orphans_on(&report, provider).is_empty(), "{report:#}");
    }
    let beta = orphans_on(&report, "beta");
    assert_eq!(beta.len(), 1, "{report:#}");
    assert_eq!(beta[0]["attempt_id"], "lost-deployment-1");
    assert_eq!(beta[0]["deployment_id"], "lost-deployment", "from the resources' tags");
    assert_eq!(beta[0]["why"], "attempt unknown to the store");
    let kinds: Vec<&str> = beta[0]["resources"].as_array().unwrap().iter().filter_map(|r| r["kind"].as_str()).collect();
    assert!(kinds.contains(&"server"), "{kinds:?}");

    // The reconciler's scan finds the same, and logs it once.
    let mut seen = HashSet::new();
    let scan = h.app.scan_orphans(None).await;
    let new: Vec<&str> = scan.newly_seen(&mut seen).iter().map(|o| o.attempt_id.as_str()).collect();
    assert_eq!(new, ["lost-deployment-1"]);
    assert!(h.app.scan_orphans(None).await.newly_seen(&mut seen).is_empty(), "already logged");

    // Non-admins neither see nor clean orphans.
    for token in [h.alice(), h.manager()] {
        h.get("/api/v1/admin/orphans", &token).await.expect(403);
        h.post("/api/v1/admin/orphans/clean", &token, &json!({})).await.expect(403);
    }

    // A live attempt cannot be cleaned as an orphan.
    let live_attempt = h.native(&live).await["attempts"][0]["attemptId"].as_str().expect("attempt id").to_string();
    let reply = h.post("/api/v1/admin/orphans/clean", &admin, &json!({"attemptId": live_attempt})).await.expect(404);
    assert!(reply.error_message().contains("not an orphan"), "{}", reply.text());
    h.post("/api/v1/admin/orphans/clean", &admin, &json!({"provider": "nowhere"})).await.expect(404);

    // Cleaning deletes the orphan's resources only, and audits it.
    let cleaned = h.post("/api/v1/admin/orphans/clean", &admin, &json!({"provider": "beta"})).await.expect(200).json();
    let outcome = orphans_on(&cleaned, "beta")[0]["cleanup"].as_str().unwrap().to_string();
    assert!(["gone", "deleting"].contains(&outcome.as_str()), "{cleaned:#}");
    let deadline = Instant::now() + SETTLE;
    while h.inventory().await["beta"].iter().any(|r| r["attempt_id"] == "lost-deployment-1") {
        assert!(Instant::now() < deadline, "the orphan's resources were not deleted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = h.get("/api/v1/admin/orphans", &admin).await.expect(200).json();
    assert!(orphans_on(&report, "beta").is_empty(), "{report:#}");
    assert!(!h.held_for(&live).await.is_empty(), "the live deployment keeps its resources");
    let audit = h.get("/api/v1/admin/audit?action=orphan.clean", &admin).await.expect(200).json();
    let entries = audit["content"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit:#}");
    assert_eq!(entries[0]["target"], "lost-deployment-1");
    assert_eq!(entries[0]["subject"], "root");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_attempts_are_reported_after_the_grace_period() {
    let grace = Duration::from_secs(3);
    let settings = Settings { poll_interval: Duration::from_millis(20), orphan_grace: grace, ..Settings::default() };
    let h = Harness::with(common::federation(), settings).await;
    let admin = h.admin();
    let id = h.create(&h.alice(), &json!({"template": catalogue_text("single-vm")})).await;
    h.settle(&id, "CREATE_COMPLETE").await;
    let attempt = h.native(&id).await["attempts"][0].clone();
    let (provider, attempt_id) = (attempt["provider"].as_str().unwrap(), attempt["attemptId"].as_str().unwrap());
    h.delete(&format!("/orchestrator/deployments/{id}"), &h.alice()).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;
    let deleted = Instant::now();

    // A delete that reported `Gone` too early: the provider still holds
    // something of the attempt.
    h.create_behind_the_stores_back(provider, &id, attempt_id).await;
    let report = h.get("/api/v1/admin/orphans", &admin).await.expect(200).json();
    assert!(deleted.elapsed() < grace, "the machine is too slow for this test's grace period");
    assert!(orphans_on(&report, provider).is_empty(), "reported within the grace period: {report:#}");

    tokio::time::sleep(grace.saturating_sub(deleted.elapsed()) + Duration::from_millis(100)).await;
    let report = h.get("/api/v1/admin/orphans", &admin).await.expect(200).json();
    let found = orphans_on(&report, provider);
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["attempt_id"], attempt_id);
    assert_eq!(found[0]["deployment_id"], id.as_str());
    let why = found[0]["why"].as_str().unwrap();
    assert!(why.starts_with("attempt ended deleted at 20"), "{why}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_that_fail_or_are_slow_are_reported_as_not_checked() {
    let settings = Settings {
        poll_interval: Duration::from_millis(20),
        driver_call_timeout: Duration::from_secs(1),
        ..Settings::default()
    };
    let h = Harness::with(common::federation(), settings).await;
    h.create_behind_the_stores_back("alpha", "lost", "lost-1").await;
    h.set_sim("beta", json!({"unavailable": true})).await;
    h.set_sim("gamma", json!({"api_latency_ms": 3000})).await;
    let report = h.get("/api/v1/admin/orphans", &h.admin()).await.expect(200).json();
    assert_eq!(orphans_on(&report, "alpha").len(), 1, "{report:#}");
    let error = |name: &str| {
        let p = report["providers"].as_array().unwrap().iter().find(|p| p["provider"] == name).unwrap();
        p["error"].as_str().unwrap_or_else(|| panic!("{name} counts as checked: {report:#}")).to_string()
    };
    assert!(error("beta").contains("simulated outage of beta"), "{report:#}");
    assert!(error("gamma").contains("did not answer within 1 s"), "{report:#}");
    h.stop().await;
}
