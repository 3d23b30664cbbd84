//! Placement and failover seen through the API: a failing provider is
//! cleaned up and the next candidate tried; when every candidate fails the
//! reason names each; `keepLastAttempt` and `maxProvidersRetry` are
//! honoured; a request nobody can satisfy fails at once with a reason per
//! provider.

mod common;

use common::{Harness, catalogue_text, no_fit_request};
use serde_json::{Value, json};

fn vm() -> Value {
    json!({"template": catalogue_text("single-vm")})
}

fn attempts(extra: &Value) -> Vec<(String, String)> {
    extra["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| (a["provider"].as_str().unwrap().to_string(), a["state"].as_str().unwrap().to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_steer_the_simulator() {
    let h = Harness::start().await;
    let reply = h.put("/api/v1/admin/sim/alpha", &h.alice(), &json!({"fail_creates": true})).await.expect(403);
    assert!(reply.error_message().contains("administrator"), "{}", reply.text());
    let settings = h.get("/api/v1/admin/sim", &h.admin()).await.expect(200).json();
    assert_eq!(settings["providers"]["alpha"]["fail_creates"], false, "a refused change changed nothing");

    let changed = h.put("/api/v1/admin/sim/alpha", &h.admin(), &json!({"fail_creates": true})).await.expect(200);
    assert_eq!(changed.json()["fail_creates"], true);
    assert_eq!(changed.json()["create_latency_ms"], 60, "other settings are kept");
    let reply = h.put("/api/v1/admin/sim/nowhere", &h.admin(), &json!({})).await.expect(404);
    assert!(reply.error_message().contains("alpha"), "{}", reply.text());
    let reply = h.put("/api/v1/admin/sim/alpha", &h.admin(), &json!({"failure_probability": 2.0})).await.expect(400);
    assert!(reply.error_message().contains("failure_probability"), "{}", reply.text());
    h.put("/api/v1/admin/sim/alpha", &h.admin(), &json!({"warp_speed": 9})).await.expect(400);
    h.put("/api/v1/admin/sim/alpha", &h.admin(), &json!([1])).await.expect(400);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_is_cleaned_up_and_the_next_one_tried() {
    let h = Harness::start().await;
    let alice = h.alice();
    // alpha fails every create at once; beta fails every build after it
    // created resources; gamma works.
    h.set_sim("alpha", json!({"fail_creates": true})).await;
    h.set_sim("beta", json!({"failure_probability": 1.0})).await;
    let id = h.create(&alice, &vm()).await;
    let done = h.settle(&id, "CREATE_COMPLETE").await;
    assert_eq!(done["cloudProviderName"], "gamma", "{done:#}");
    assert!(done["outputs"]["node_ip"].as_str().is_some_and(|ip| ip.starts_with("203.0.113.")), "{done:#}");

    let extra = h.get(&format!("/orchestrator/deployments/{id}/extrainfo"), &alice).await.expect(200).json();
    assert_eq!(attempts(&extra), pairs(&[("alpha", "cleaned"), ("beta", "cleaned"), ("gamma", "ready")]));
    assert!(extra["attempts"][0]["reason"].as_str().unwrap().contains("fail every create"), "{extra:#}");
    assert!(extra["attempts"][1]["reason"].as_str().unwrap().contains("simulated build failure"), "{extra:#}");
    let native = h.native(&id).await;
    assert_eq!(native["attempts"].as_array().unwrap().len(), 3, "{native:#}");
    assert_eq!(native["provider"], "gamma");

    // The failed attempts left nothing behind.
    let held = h.held_for(&id).await;
    assert_eq!(held.keys().collect::<Vec<_>>(), ["gamma"], "{held:#?}");
    let inventory = h.inventory().await;
    assert!(inventory["alpha"].is_empty() && inventory["beta"].is_empty(), "{inventory:#?}");

    let log = h.get(&format!("/orchestrator/deployments/{id}/log"), &alice).await.expect(200).text();
    assert!(log.contains("attempt 1: alpha refused"), "{log}");
    assert!(log.contains("attempt 2: cleaned up on beta"), "{log}");
    h.delete(&format!("/orchestrator/deployments/{id}"), &alice).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;
    assert!(h.held_for(&id).await.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_provider_fails_the_reason_names_each() {
    let h = Harness::start().await;
    let alice = h.alice();
    for p in ["alpha", "beta", "gamma"] {
        h.set_sim(p, json!({"fail_creates": true})).await;
    }
    let id = h.create(&alice, &vm()).await;
    let failed = h.settle(&id, "CREATE_FAILED").await;
    let reason = failed["statusReason"].as_str().expect("statusReason");
    assert!(reason.starts_with("Deployment failed on every provider tried"), "{reason}");
    for p in ["alpha", "beta", "gamma"] {
        assert_eq!(reason.matches(&format!("\n- {p}: ")).count(), 1, "one cause for {p} in {reason}");
    }
    let extra = h.get(&format!("/orchestrator/deployments/{id}/extrainfo"), &alice).await.expect(200).json();
    assert_eq!(attempts(&extra), pairs(&[("alpha", "cleaned"), ("beta", "cleaned"), ("gamma", "cleaned")]));
    for (provider, held) in h.inventory().await {
        assert!(held.is_empty(), "{provider} holds {held:#?}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_last_attempt_keeps_its_resources_until_delete() {
    let h = Harness::start().await;
    let alice = h.alice();
    // Builds fail after the resources exist, so there is something to keep.
    for p in ["alpha", "beta", "gamma"] {
        h.set_sim(p, json!({"failure_probability": 1.0})).await;
    }
    let mut request = vm();
    request["keepLastAttempt"] = json!(true);
    let id = h.create(&alice, &request).await;
    let failed = h.settle(&id, "CREATE_FAILED").await;
    assert!(failed["statusReason"].as_str().unwrap().contains("- gamma: "), "{failed:#}");
    let extra = h.get(&format!("/orchestrator/deployments/{id}/extrainfo"), &alice).await.expect(200).json();
    assert_eq!(attempts(&extra), pairs(&[("alpha", "cleaned"), ("beta", "cleaned"), ("gamma", "kept")]));

    let held = h.held_for(&id).await;
    assert_eq!(held.keys().collect::<Vec<_>>(), ["gamma"], "only the last attempt is kept: {held:#?}");
    assert!(held["gamma"].iter().any(|r| r["kind"] == "server"), "{held:#?}");
    let resources = h.get(&format!("/orchestrator/deployments/{id}/resources"), &alice).await.expect(200).json();
    // The kept server is listed, in error, with what it ran.
    let server = held["gamma"].iter().find(|r| r["kind"] == "server").unwrap();
    let vm = resources["content"].as_array().unwrap().iter().find(|r| r.get("physicalId") == Some(&server["id"]));
    let vm = vm.unwrap_or_else(|| panic!("the kept server is listed: {resources:#}"));
    assert_eq!(vm["state"], "ERROR", "{vm:#}");
    assert!(vm["metadata"]["VirtualMachineInfo"].is_string(), "{vm:#}");

    // The kept attempt is a failed create, so it cannot be updated.
    h.put(&format!("/orchestrator/deployments/{id}"), &alice, &json!({})).await.expect(409);
    h.delete(&format!("/orchestrator/deployments/{id}"), &alice).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;
    assert!(h.held_for(&id).await.is_empty(), "delete removes the kept attempt");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_providers_retry_bounds_the_attempts() {
    let h = Harness::start().await;
    let alice = h.alice();
    h.set_sim("alpha", json!({"fail_creates": true})).await;
    let mut request = vm();
    request["maxProvidersRetry"] = json!(1);
    let id = h.create(&alice, &request).await;
    let failed = h.settle(&id, "CREATE_FAILED").await;
    let reason = failed["statusReason"].as_str().unwrap();
    assert!(reason.contains("- alpha: ") && !reason.contains("beta") && !reason.contains("gamma"), "{reason}");
    let native = h.native(&id).await;
    assert_eq!(native["attempts"].as_array().unwrap().len(), 1, "{native:#}");

    // With two tries, the second provider takes it.
    request["maxProvidersRetry"] = json!(2);
    let id = h.create(&alice, &request).await;
    let done = h.settle(&id, "CREATE_COMPLETE").await;
    assert_eq!(done["cloudProviderName"], "beta");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_nobody_can_satisfy_fails_with_a_reason_per_provider() {
    let h = Harness::start().await;
    let (alice, carol) = (h.alice(), h.carol());
    let reply = h.post("/orchestrator/deployments", &alice, &no_fit_request()).await.expect(201).json();
    assert_eq!(reply["status"], "CREATE_FAILED", "{reply:#}");
    let reason = reply["statusReason"].as_str().expect("statusReason");
    assert!(reason.starts_with("No cloud provider meets the deployment requirements"), "{reason}");
    for p in ["alpha", "beta", "gamma"] {
        assert_eq!(reason.matches(&format!("\n- {p}: ")).count(), 1, "one reason for {p} in {reason}");
    }
    assert!(reason.contains("A100"), "the reason says what is missing: {reason}");
    let id = reply["uuid"].as_str().unwrap();
    let native = h.native(id).await;
    assert_eq!(native["attempts"], json!([]), "no attempt was made");
    assert!(h.held_for(id).await.is_empty());
    let log = h.get(&format!("/orchestrator/deployments/{id}/log"), &alice).await.expect(200).text();
    assert!(log.contains("No cloud provider meets the deployment requirements"), "{log}");

    // A group without a grant on a provider: that provider says so.
    let mut bio = json!({"template": catalogue_text("gpu-vm"), "parameters": {"gpu_model": "V100"}});
    bio["userGroup"] = json!("bio");
    let reply = h.post("/orchestrator/deployments", &carol, &bio).await.expect(201).json();
    assert_eq!(reply["status"], "CREATE_FAILED", "V100 is only on beta, where bio has no grant: {reply:#}");
    let reason = reply["statusReason"].as_str().unwrap();
    assert!(reason.contains("- beta: ") && reason.contains("bio"), "{reason}");

    // More GPUs than any flavor has.
    let many = json!({"template": catalogue_text("gpu-vm"), "parameters": {"num_gpus": 8}});
    let reply = h.post("/orchestrator/deployments", &alice, &many).await.expect(201).json();
    assert_eq!(reply["status"], "CREATE_FAILED", "{reply:#}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_quota_is_counted_and_freed_by_delete() {
    let h = Harness::start().await;
    let carol = h.carol();
    let mut request = vm();
    request["userGroup"] = json!("bio");
    let first = h.create(&carol, &request).await;
    assert_eq!(h.settle(&first, "CREATE_COMPLETE").await["cloudProviderName"], "alpha");
    let second = h.create(&carol, &request).await;
    assert_eq!(h.settle(&second, "CREATE_COMPLETE").await["cloudProviderName"], "gamma", "alpha's bio quota is used");

    let full = h.post("/orchestrator/deployments", &carol, &request).await.expect(201).json();
    assert_eq!(full["status"], "CREATE_FAILED", "{full:#}");
    let reason = full["statusReason"].as_str().unwrap();
    assert!(reason.starts_with("No cloud provider meets the deployment requirements"), "{reason}");
    assert!(
        reason.contains("- alpha: ") && reason.contains("- gamma: ") && reason.contains("1 instance requested"),
        "{reason}"
    );
    // physics is not affected by bio's quota.
    let mut physics = vm();
    physics["userGroup"] = json!("physics");
    let other = h.create(&carol, &physics).await;
    assert_eq!(h.settle(&other, "CREATE_COMPLETE").await["cloudProviderName"], "alpha");

    // Deleting frees the quota.
    h.delete(&format!("/orchestrator/deployments/{first}"), &carol).await.expect(204);
    h.settle(&first, "DELETE_COMPLETE").await;
    let again = h.create(&carol, &request).await;
    assert_eq!(h.settle(&again, "CREATE_COMPLETE").await["cloudProviderName"], "alpha");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_does_not_block_failover_and_is_reconciled_later() {
    let settings = nuvola_app::Settings {
        poll_interval: std::time::Duration::from_millis(20),
        reconcile_interval: std::time::Duration::from_millis(50),
        ..nuvola_app::Settings::default()
    };
    let h = Harness::with(common::federation(), settings).await;
    let alice = h.alice();
    h.set_sim("alpha", json!({"unavailable": true})).await;
    let id = h.create(&alice, &vm()).await;
    let done = h.settle(&id, "CREATE_COMPLETE").await;
    assert_eq!(done["cloudProviderName"], "beta", "{done:#}");
    let extra = h.get(&format!("/orchestrator/deployments/{id}/extrainfo"), &alice).await.expect(200).json();
    assert_eq!(attempts(&extra), pairs(&[("alpha", "orphaned"), ("beta", "ready")]));

    // Once alpha answers again, the reconciler confirms the orphan gone.
    h.set_sim("alpha", json!({"unavailable": false})).await;
    let deadline = std::time::Instant::now() + common::SETTLE;
    loop {
        let extra = h.get(&format!("/orchestrator/deployments/{id}/extrainfo"), &alice).await.expect(200).json();
        if attempts(&extra)[0].1 == "cleaned" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the reconciler never cleaned the orphan: {extra:#}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = h.get(&format!("/orchestrator/deployments/{id}/log"), &alice).await.expect(200).text();
    assert!(log.contains("left to the reconciler") && log.contains("by the reconciler"), "{log}");
    h.stop().await;
}
