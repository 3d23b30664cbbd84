//! Placement seen through the API: the demo federation's scenarios (the
//! only A100 site, maintenance, groups without an SLA), quota contention
//! (50 requests for 10 GPUs), and the federation registry's admin API.

mod common;

use common::Harness;
use nuvola_types::ProviderSpec;
use serde_json::{Value, json};

/// The demo federation of `config/demo.toml`, with short simulated
/// latencies so that the tests run fast.
fn demo_federation() -> Vec<ProviderSpec> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo.toml")).unwrap();
    let config: toml::Value = toml::from_str(&text).unwrap();
    let providers = serde_json::to_value(&config["providers"]).unwrap();
    let mut specs: Vec<ProviderSpec> = serde_json::from_value(providers).unwrap();
    for spec in &mut specs {
        let settings = spec.settings.get_or_insert_with(|| json!({}));
        settings["create_latency_ms"] = json!(40);
        settings["delete_latency_ms"] = json!(10);
        settings["failure_probability"] = json!(0.0);
    }
    specs
}

async fn demo() -> Harness {
    let settings =
        nuvola_app::Settings { poll_interval: std::time::Duration::from_millis(20), ..nuvola_app::Settings::default() };
    Harness::with(demo_federation(), settings).await
}

fn reasons(plan: &Value, provider: &str) -> String {
    plan["plan"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["provider"] == provider)
        .map(|v| v["reasons"].to_string())
        .unwrap_or_default()
}

fn candidates(plan: &Value) -> Vec<String> {
    plan["plan"]["candidates"].as_array().unwrap().iter().map(|c| c["provider"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_a100_goes_to_the_only_a100_site_unless_it_is_in_maintenance() {
    let h = demo().await;
    let alice = h.token("alice", &["physics"], false);
    let plan_path = "/api/v1/plan?catalogueId=gpu-vm&userGroup=physics&param.gpu_model=A100";

    let plan = h.get(plan_path, &alice).await.expect(200).json();
    assert_eq!(candidates(&plan), ["recas-bari"], "{plan:#}");
    assert!(reasons(&plan, "cloudveneto").contains("no flavor with GPU model A100 (has T4, V100)"), "{plan:#}");
    assert!(plan["explanation"].as_str().unwrap().contains("recas-bari"), "{plan:#}");
    // The accepted verdict says what was chosen there, and how it scored.
    let chosen = reasons(&plan, "recas-bari");
    assert!(chosen.contains("gpu_node: flavor recas.a100.large (16 vCPU, 131072 MiB, 1 GPU NVIDIA A100)"), "{chosen}");
    assert!(chosen.contains("priority 0.5, score"), "{chosen}");
    let id = h
        .create(&alice, &json!({"template": common::catalogue_text("gpu-vm"), "parameters": {"gpu_model": "A100"}}))
        .await;
    assert_eq!(h.settle(&id, "CREATE_COMPLETE").await["cloudProviderName"], "recas-bari");
    // It holds physics' whole RAM quota there; free it for what follows.
    h.delete(&format!("/orchestrator/deployments/{id}"), &alice).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;

    // recas-bari goes into maintenance over the next two days.
    let now = chrono::Utc::now();
    let window = json!([{
        "start": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "end": (now + chrono::Duration::days(2)).to_rfc3339(),
        "reason": "GPU firmware upgrade",
    }]);
    h.call(
        axum::http::Method::PATCH,
        "/api/v1/admin/providers/recas-bari",
        Some(&h.admin()),
        Some(&json!({"maintenance": window})),
    )
    .await
    .expect(200);
    let plan = h.get(plan_path, &alice).await.expect(200).json();
    assert!(candidates(&plan).is_empty(), "{plan:#}");
    assert!(reasons(&plan, "recas-bari").contains("in maintenance from"), "{plan:#}");
    assert!(reasons(&plan, "recas-bari").contains("GPU firmware upgrade"), "{plan:#}");

    // A deployment fails at once, with that reason, and holds nothing.
    let id = h
        .create(&alice, &json!({"template": common::catalogue_text("gpu-vm"), "parameters": {"gpu_model": "A100"}}))
        .await;
    let failed = h.deployment(&id).await;
    assert_eq!(failed["status"], "CREATE_FAILED", "fails at submission: {failed:#}");
    let reason = failed["statusReason"].as_str().unwrap();
    assert!(reason.starts_with("No cloud provider meets the deployment requirements"), "{reason}");
    assert!(reason.contains("recas-bari: in maintenance from") && reason.contains("GPU firmware upgrade"), "{reason}");

    // A deployment whose timeout ends before the window starts is fine.
    let later = json!([{
        "start": (now + chrono::Duration::days(1)).to_rfc3339(),
        "end": (now + chrono::Duration::days(2)).to_rfc3339(),
    }]);
    h.call(
        axum::http::Method::PATCH,
        "/api/v1/admin/providers/recas-bari",
        Some(&h.admin()),
        Some(&json!({"maintenance": later})),
    )
    .await
    .expect(200);
    let short = h.get(&format!("{plan_path}&timeoutMins=60"), &alice).await.expect(200).json();
    assert_eq!(candidates(&short), ["recas-bari"], "{short:#}");
    let long = h.get(&format!("{plan_path}&timeoutMins=4320"), &alice).await.expect(200).json();
    assert!(candidates(&long).is_empty(), "{long:#}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_never_lands_where_it_has_no_sla() {
    let h = demo().await;
    let bob = h.token("bob", &["bio"], false);
    let plan = h.get("/api/v1/plan?catalogueId=single-vm&userGroup=bio", &bob).await.expect(200).json();
    for site in ["backbone-cnaf", "cloud-cnaf"] {
        assert!(!candidates(&plan).contains(&site.to_string()), "{plan:#}");
        assert_eq!(reasons(&plan, site), r#"["no SLA for group bio"]"#, "{plan:#}");
    }
    // A cluster's plan does not ask for its secrets (they change nothing of
    // it); deploying does.
    let k8s = h.get("/api/v1/plan?catalogueId=kubernetes&userGroup=bio", &bob).await.expect(200).json();
    assert!(!candidates(&k8s).is_empty(), "{k8s:#}");
    assert!(!k8s.to_string().contains("xxxxxxxx"), "the stand-in never shows: {k8s:#}");
    let refused = h.post("/api/v1/deployments", &bob, &json!({"catalogueId": "kubernetes"})).await.expect(400);
    assert!(refused.error_message().contains("admin_token"), "{}", refused.text());
    // Even when every site bio may use refuses, it does not land there.
    for site in ["backbone-bari", "cloudveneto", "recas-bari"] {
        h.set_sim(site, json!({"fail_creates": true})).await;
    }
    let id = h.create(&bob, &json!({"template": common::catalogue_text("single-vm")})).await;
    let done = h.settle(&id, "CREATE_FAILED").await;
    let extra = h.get(&format!("/orchestrator/deployments/{id}/extrainfo"), &bob).await.expect(200).json();
    let tried: Vec<&str> =
        extra["attempts"].as_array().unwrap().iter().map(|a| a["provider"].as_str().unwrap()).collect();
    assert!(tried.iter().all(|p| !["backbone-cnaf", "cloud-cnaf"].contains(p)), "{tried:?} {done:#}");
    h.stop().await;
}

/// One provider granting the group `ml` exactly 10 GPUs.
fn ten_gpus() -> Vec<ProviderSpec> {
    let mut spec = common::provider("gpu-site", 1, "A100", &[("ml", 1.0)]);
    spec.groups.get_mut("ml").unwrap().quota.gpus = Some(10);
    spec.groups.get_mut("ml").unwrap().quota.instances = Some(100);
    spec.groups.get_mut("ml").unwrap().quota.cores = Some(1000);
    spec.groups.get_mut("ml").unwrap().quota.ram_mb = Some(10_000_000);
    spec.groups.get_mut("ml").unwrap().quota.public_ips = Some(100);
    vec![spec]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_requests_for_ten_gpus_give_exactly_ten_deployments() {
    let settings =
        nuvola_app::Settings { poll_interval: std::time::Duration::from_millis(20), ..nuvola_app::Settings::default() };
    let h = std::sync::Arc::new(Harness::with(ten_gpus(), settings).await);
    let carl = h.token("carl", &["ml"], false);
    let body = json!({
        "template": common::catalogue_text("gpu-vm"),
        "parameters": {"gpu_model": "A100", "num_cpus": 4, "mem_size": "8 GB"},
    });
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (h, carl, body) = (h.clone(), carl.clone(), body.clone());
        tasks.push(tokio::spawn(async move { h.create(&carl, &body).await }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let mut complete = Vec::new();
    for id in &ids {
        let d = h.wait_until_terminal(id).await;
        match d["status"].as_str().unwrap() {
            "CREATE_COMPLETE" => complete.push(id.clone()),
            "CREATE_FAILED" => {
                let reason = d["statusReason"].as_str().unwrap();
                assert!(reason.contains("quota: 1 GPU requested, 0 left for group ml"), "{reason}");
            }
            other => panic!("{id} ended {other}"),
        }
    }
    assert_eq!(complete.len(), 10, "exactly the quota's worth");
    let held = h.inventory().await;
    let servers = held["gpu-site"].iter().filter(|r| r["kind"] == "server").count();
    assert_eq!(servers, 10);

    for id in &complete {
        h.delete(&format!("/orchestrator/deployments/{id}"), &carl).await.expect(204);
    }
    for id in &complete {
        h.settle(id, "DELETE_COMPLETE").await;
    }
    let usage = h.store.held_by_group("ml").await.unwrap();
    assert!(usage.iter().all(|(_, u)| *u == nuvola_types::Usage::default()), "{usage:?}");
    // And the ten GPUs are free again.
    let plan = h
        .get("/api/v1/plan?catalogueId=gpu-vm&userGroup=ml&param.gpu_model=A100&param.num_gpus=1", &carl)
        .await
        .expect(200)
        .json();
    assert_eq!(candidates(&plan), ["gpu-site"], "{plan:#}");
    match std::sync::Arc::try_unwrap(h) {
        Ok(h) => h.stop().await,
        Err(_) => panic!("harness still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_is_edited_exported_and_imported_by_admins() {
    let h = demo().await;
    let admin = h.admin();
    let alice = h.token("alice", &["physics"], false);

    // Members may not touch it.
    h.get("/api/v1/admin/federation", &alice).await.expect(403);
    let export = h.get("/api/v1/admin/federation", &admin).await.expect(200).json();
    assert_eq!(export["providers"].as_array().unwrap().len(), 5);

    // Disabling a provider shows in every plan.
    h.call(
        axum::http::Method::PATCH,
        "/api/v1/admin/providers/recas-bari",
        Some(&admin),
        Some(&json!({"enabled": false})),
    )
    .await
    .expect(200);
    let plan = h
        .get("/api/v1/plan?catalogueId=gpu-vm&userGroup=physics&param.gpu_model=A100", &alice)
        .await
        .expect(200)
        .json();
    assert!(reasons(&plan, "recas-bari").contains("disabled"), "{plan:#}");
    let bad = h
        .call(
            axum::http::Method::PATCH,
            "/api/v1/admin/providers/recas-bari",
            Some(&admin),
            Some(&json!({"enabld": true})),
        )
        .await
        .expect(400);
    assert!(bad.error_message().contains("enabld"), "{}", bad.text());

    // A new provider is added and deployments can land there.
    let mut new = common::provider("new-site", 7, "T4", &[("physics", 5.0)]);
    new.settings = Some(json!({"create_latency_ms": 20}));
    h.put("/api/v1/admin/providers/new-site", &admin, &serde_json::to_value(&new).unwrap()).await.expect(200);
    let id = h.create(&alice, &json!({"template": common::catalogue_text("single-vm")})).await;
    assert_eq!(h.settle(&id, "CREATE_COMPLETE").await["cloudProviderName"], "new-site");
    // The registry shows what physics holds there; bio's grants stay hidden.
    let listed = h.get("/api/v1/providers", &alice).await.expect(200).json();
    let new_site = listed["content"].as_array().unwrap().iter().find(|p| p["name"] == "new-site").unwrap().clone();
    assert_eq!(new_site["usage"]["physics"]["instances"], 1, "{new_site:#}");
    assert!(new_site.get("settings").is_none(), "driver settings are hidden");
    let bari = listed["content"].as_array().unwrap().iter().find(|p| p["name"] == "backbone-bari").unwrap().clone();
    assert!(bari["groups"].get("bio").is_none() && bari["groups"].get("physics").is_some(), "{bari:#}");

    // It cannot be removed while it holds the deployment; it can after.
    let refused = h.delete("/api/v1/admin/providers/new-site", &admin).await.expect(409);
    assert!(refused.error_message().contains("still holds resources"), "{}", refused.text());
    h.delete(&format!("/orchestrator/deployments/{id}"), &alice).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;
    h.delete("/api/v1/admin/providers/new-site", &admin).await.expect(204);

    // Bad descriptions are refused whole.
    let mut unknown = serde_json::to_value(common::provider("odd", 8, "T4", &[])).unwrap();
    unknown["driver"] = json!("vmware");
    let reply = h.put("/api/v1/admin/providers/odd", &admin, &unknown).await.expect(400);
    let message = reply.error_message();
    assert!(message.contains("unknown driver \"vmware\": use one of sim, im, openstack"), "{message}");
    let twice = json!({"providers": [export["providers"][0], export["providers"][0]]});
    let reply = h.put("/api/v1/admin/federation", &admin, &twice).await.expect(400);
    assert!(reply.error_message().contains("defined twice"), "{}", reply.text());

    // Export, then import what was exported: the same registry.
    let before = h.get("/api/v1/admin/federation", &admin).await.expect(200).json();
    h.put("/api/v1/admin/federation", &admin, &before).await.expect(200);
    let after = h.get("/api/v1/admin/federation", &admin).await.expect(200).json();
    assert_eq!(before, after);
    h.stop().await;
}

/// The reconciler reloads the registry on every tick: a reload that read
/// the store before an admin's edit was saved never undoes the edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reload_that_read_before_an_edit_never_undoes_it() {
    let h = demo().await;
    let admin = h.admin();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reloader = {
        let (app, stop) = (h.app.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                app.reload_federation().await.unwrap();
            }
        })
    };
    for i in 0..100 {
        let enabled = i % 2 == 1;
        let edit = json!({ "enabled": enabled });
        let path = "/api/v1/admin/providers/recas-bari";
        h.call(axum::http::Method::PATCH, path, Some(&admin), Some(&edit)).await.expect(200);
        let running = h.app.federation().provider("recas-bari").unwrap().enabled;
        assert_eq!(running, enabled, "edit {i} was undone by a reload that read before it");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reloader.await.unwrap();
    h.stop().await;
}

/// A site monitoring sees down is left out of plans, previews included,
/// with monitoring's reason; deployments go elsewhere; back up, it is
/// chosen again. (The preview read the day's attempts only, and kept
/// offering a site down.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_down_is_skipped_with_the_reason_until_it_is_back() {
    let h = demo().await;
    let alice = h.token("alice", &["physics"], false);
    let plan_path = "/api/v1/plan?catalogueId=gpu-vm&userGroup=physics&param.gpu_model=A100";
    assert_eq!(candidates(&h.get(plan_path, &alice).await.expect(200).json()), ["recas-bari"]);

    let sims = h.app.federation().sims();
    sims["recas-bari"].set_unavailable(true);
    for _ in 0..2 {
        h.app.watch_round().await.unwrap();
    }
    let plan = h.get(plan_path, &alice).await.expect(200).json();
    assert!(candidates(&plan).is_empty(), "{plan:#}");
    let why = reasons(&plan, "recas-bari");
    assert!(why.contains("down: major outage since"), "{why}");
    assert!(why.contains("api: simulated outage of recas-bari"), "{why}");
    // A VM any site can host goes elsewhere.
    let vm = h.get("/api/v1/plan?catalogueId=single-vm&userGroup=physics", &alice).await.expect(200).json();
    assert!(!candidates(&vm).is_empty() && !candidates(&vm).contains(&"recas-bari".to_string()), "{vm:#}");

    sims["recas-bari"].set_unavailable(false);
    for _ in 0..3 {
        h.app.watch_round().await.unwrap();
    }
    assert_eq!(candidates(&h.get(plan_path, &alice).await.expect(200).json()), ["recas-bari"]);
    h.stop().await;
}
