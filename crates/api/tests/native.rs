//! nuvola's native API under `/api/v1`: the catalogue, deploying by
//! catalogue id, providers, who am I.

mod common;

use common::{BASE, Harness, SCALABLE_TEMPLATE, link};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_lists_services_with_their_inputs() {
    let h = Harness::start().await;
    let alice = h.alice();
    let list = h.get("/api/v1/catalogue", &alice).await.expect(200).json();
    let entries = list["content"].as_array().expect("content");
    assert!(entries.len() >= 4, "{list:#}");
    for entry in entries {
        for key in ["id", "name", "description", "category"] {
            assert!(entry[key].as_str().is_some_and(|v| !v.is_empty()), "{key} of {entry:#}");
        }
        assert!(entry["inputs"].as_array().is_some_and(|i| !i.is_empty()), "inputs of {entry:#}");
        assert!(entry.get("template").is_none(), "the listing leaves the text out");
    }
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"single-vm") && ids.contains(&"gpu-vm"), "{ids:?}");

    let one = h.get("/api/v1/catalogue/single-vm", &alice).await.expect(200).json();
    assert_eq!(one["id"], "single-vm");
    assert_eq!(one["template"], h.app.catalogue().get("single-vm").unwrap().template.as_str());
    let inputs: Vec<&str> = one["inputs"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
    assert!(inputs.contains(&"num_cpus"), "{inputs:?}");

    let missing = h.get("/api/v1/catalogue/quantum-computer", &alice).await.expect(404);
    let message = missing.error_message();
    assert!(message.contains("quantum-computer"), "{message}");
    for id in ids {
        assert!(message.contains(id), "{message} should name {id}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_by_catalogue_id() {
    let h = Harness::start().await;
    let alice = h.alice();
    let request = json!({"catalogueId": "single-vm", "parameters": {"num_cpus": 1}, "description": "my vm"});
    let created = h.post("/api/v1/deployments", &alice, &request).await.expect(201).json();
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["catalogueId"], "single-vm");
    assert_eq!(created["description"], "my vm");
    assert_eq!(created["group"], "physics");
    assert_eq!(created["owner"], json!({"subject": "alice", "issuer": "nuvola"}));
    assert_eq!(created["status"], "CREATE_IN_PROGRESS");
    assert_eq!(link(&created, "self"), Some(format!("{BASE}/api/v1/deployments/{id}")));
    let candidates: Vec<&str> =
        created["plan"]["candidates"].as_array().unwrap().iter().map(|c| c["provider"].as_str().unwrap()).collect();
    assert_eq!(candidates, ["alpha", "beta", "gamma"], "ranked by SLA priority");

    // The same deployment through the orchestrator API.
    h.settle(&id, "CREATE_COMPLETE").await;
    let shown = h.get(&format!("/api/v1/deployments/{id}"), &alice).await.expect(200).json();
    assert_eq!(shown["status"], "CREATE_COMPLETE");
    assert_eq!(shown["provider"], "alpha");
    assert_eq!(shown["inputs"]["num_cpus"], 1);
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(shown["attempts"][0]["state"], "ready");
    assert!(shown["outputs"]["node_ip"].is_string(), "{shown:#}");

    let listed = h.get("/api/v1/deployments", &alice).await.expect(200).json();
    assert_eq!(listed["page"]["totalElements"], 1);
    assert_eq!(listed["content"][0]["id"], id.as_str());
    let log = h.get(&format!("/api/v1/deployments/{id}/log"), &alice).await.expect(200).json();
    let lines = log["content"].as_array().unwrap();
    assert!(lines.len() >= 3 && lines.iter().all(|l| l["at"].is_string() && l["message"].is_string()), "{log:#}");

    h.delete(&format!("/api/v1/deployments/{id}"), &alice).await.expect(202);
    h.settle(&id, "DELETE_COMPLETE").await;
    assert!(h.held_for(&id).await.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_requests_are_checked() {
    let h = Harness::start().await;
    let alice = h.alice();
    let before = h.count().await;
    let cases = [
        (
            json!({"catalogueId": "single-vm", "template": SCALABLE_TEMPLATE}),
            400,
            "exactly one of catalogueId and template",
        ),
        (json!({"parameters": {}}), 400, "exactly one of catalogueId and template"),
        (json!({"catalogueId": "nope"}), 404, "single-vm"),
        (json!({"catalogueId": "single-vm", "provider": "nowhere"}), 400, "known: alpha, beta, gamma"),
        (json!({"catalogueId": "single-vm", "flavour": "large"}), 400, "unknown field `flavour`"),
        (json!({"catalogueId": "single-vm", "parameters": {"num_cpus": 0}}), 400, "num_cpus"),
    ];
    for (body, status, words) in cases {
        let reply = h.post("/api/v1/deployments", &alice, &body).await;
        assert_eq!(reply.status.as_u16(), status, "{body}: {}", reply.text());
        let message = reply.error_message();
        assert!(message.contains(words), "{body}: {message:?} should contain {words:?}");
    }
    assert_eq!(h.count().await, before);

    // A provider chosen by hand, and a template given as text.
    let pinned = json!({"template": SCALABLE_TEMPLATE, "provider": "beta"});
    let created = h.post("/api/v1/deployments", &alice, &pinned).await.expect(201).json();
    let id = created["id"].as_str().unwrap();
    assert!(created["catalogueId"].is_null());
    let done = h.settle(id, "CREATE_COMPLETE").await;
    assert_eq!(done["cloudProviderName"], "beta");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_and_whoami() {
    let h = Harness::start().await;
    let alice = h.alice();
    let list = h.get("/api/v1/providers", &alice).await.expect(200).json();
    let providers = list["content"].as_array().expect("content");
    let names: Vec<&str> = providers.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    for p in providers {
        assert!(p.get("settings").is_none(), "driver settings are not shown: {p:#}");
        assert!(p["flavors"].as_array().is_some_and(|f| !f.is_empty()), "{p:#}");
        let groups: Vec<&String> = p["groups"].as_object().unwrap().keys().collect();
        assert_eq!(groups, ["physics"], "alice sees her own group's grants only: {p:#}");
    }
    let all = h.get("/api/v1/providers", &h.admin()).await.expect(200).json();
    assert!(all["content"][0]["groups"]["bio"].is_object(), "{all:#}");

    let me = h.get("/api/v1/whoami", &alice).await.expect(200).json();
    assert_eq!(
        me,
        json!({"subject": "alice", "issuer": "nuvola", "groups": ["physics"], "admin": false, "manages": []})
    );
    let root = h.get("/api/v1/whoami", &h.admin()).await.expect(200).json();
    assert_eq!(root["admin"], true);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_listings_keep_their_filters_in_page_links() {
    let h = Harness::start().await;
    let carol = h.carol();
    let mut bio = common::no_fit_request();
    bio["userGroup"] = json!("bio");
    let mut physics = common::no_fit_request();
    physics["userGroup"] = json!("physics");
    for _ in 0..3 {
        h.create(&carol, &bio).await;
        h.create(&carol, &physics).await;
    }
    let path = "/api/v1/deployments";
    let first = h.get(&format!("{path}?size=2&userGroup=bio"), &carol).await.expect(200).json();
    assert_eq!(first["page"], json!({"size": 2, "totalElements": 3, "totalPages": 2, "number": 0}));
    assert!(first["content"].as_array().unwrap().iter().all(|d| d["group"] == "bio"), "{first:#}");
    let next = link(&first, "next").expect("next");
    let query = common::query_of(&next, path);
    assert_eq!(query.get("userGroup").map(String::as_str), Some("bio"), "the filter is lost in {next}");

    // Following the link gives the rest of the same listing.
    let second = h.get(next.strip_prefix(BASE).unwrap(), &carol).await.expect(200).json();
    assert_eq!(second["page"]["totalElements"], 3, "{second:#}");
    assert_eq!(second["content"].as_array().unwrap().len(), 1);
    assert!(second["content"].as_array().unwrap().iter().all(|d| d["group"] == "bio"), "{second:#}");
    h.stop().await;
}

/// A secret input (a password, a token) is kept to deploy with, and every
/// view of the deployment shows `********` for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_inputs_are_never_shown_back() {
    let h = Harness::start().await;
    let alice = h.alice();
    let template = r#"tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  inputs:
    db_password: { type: string, description: the database password, required: true }
    db_name: { type: string, description: the database, default: results }
  node_templates:
    vm:
      type: tosca.nodes.Compute
      capabilities:
        host: { properties: { num_cpus: 1, mem_size: 1 GB } }
"#;
    let missing = h.post("/api/v1/deployments", &alice, &json!({"template": template})).await.expect(400);
    assert!(missing.error_message().contains("db_password"), "{}", missing.text());
    let request = json!({"template": template, "parameters": {"db_password": "hunter2-but-longer"}});
    let created = h.post("/api/v1/deployments", &alice, &request).await.expect(201);
    assert!(!created.text().contains("hunter2"), "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_string();
    h.settle(&id, "CREATE_COMPLETE").await;
    let shown = h.get(&format!("/api/v1/deployments/{id}"), &alice).await.expect(200);
    assert_eq!(shown.json()["inputs"], json!({"db_password": "********", "db_name": "results"}));
    for path in ["/api/v1/deployments?size=10".to_string(), format!("/orchestrator/deployments/{id}")] {
        let text = h.get(&path, &alice).await.expect(200).text();
        assert!(!text.contains("hunter2"), "{path}: {text}");
    }
    // The store keeps the value deployed with.
    let kept = h.store.deployment(&id).await.unwrap().unwrap();
    assert_eq!(kept.inputs["db_password"], "hunter2-but-longer");
    h.stop().await;
}

/// `PATCH /api/v1/deployments/{id}`: parameters merged over the current
/// ones; the deployment stays on its provider and scales there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_is_updated_in_place() {
    let h = Harness::start().await;
    let alice = h.alice();
    let created = h.post("/api/v1/deployments", &alice, &json!({"template": SCALABLE_TEMPLATE})).await.expect(201);
    let id = created.json()["id"].as_str().unwrap().to_string();
    h.settle(&id, "CREATE_COMPLETE").await;
    let path = format!("/api/v1/deployments/{id}");
    let patch = |body: serde_json::Value| {
        let (h, path, alice) = (&h, &path, &alice);
        async move { h.call(axum::http::Method::PATCH, path, Some(alice), Some(&body)).await }
    };

    let unknown = patch(json!({"parameters": {"count": 2}, "userGroup": "bio"})).await.expect(400);
    assert!(unknown.error_message().contains("userGroup"), "{}", unknown.text());
    let accepted = patch(json!({"parameters": {"count": 2}})).await.expect(202).json();
    assert_eq!(accepted["status"], "UPDATE_IN_PROGRESS");
    h.settle(&id, "UPDATE_COMPLETE").await;
    let shown = h.get(&path, &alice).await.expect(200).json();
    assert_eq!(shown["inputs"]["count"], 2);
    assert_eq!(shown["outputs"]["private_ips"].as_array().map(Vec::len), Some(2), "{shown:#}");
    let held = h.held_for(&id).await;
    assert_eq!(held.values().flatten().filter(|r| r["kind"] == "server").count(), 2, "{held:#?}");

    // Someone else's deployment is not found; a bad value is refused.
    let bob = h.token("bob", &["physics"], false);
    h.call(axum::http::Method::PATCH, &path, Some(&bob), Some(&json!({"parameters": {"count": 1}}))).await.expect(404);
    let bad = patch(json!({"parameters": {"count": "many"}})).await.expect(400);
    assert!(bad.error_message().contains("count"), "{}", bad.text());
    h.stop().await;
}

/// A deployment's endpoints: what was checked, and the owner's mails
/// about them turned off and on again; a body without `notify` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployments_endpoints_and_the_owners_mails_about_them() {
    let h = Harness::start().await;
    let alice = h.alice();
    let id = h.create(&alice, &json!({"template": common::catalogue_text("single-vm")})).await;
    h.settle(&id, "CREATE_COMPLETE").await;
    // The simulator's outputs are private addresses: nothing to check.
    let round = h.app.endpoint_round().await.unwrap();
    assert!(round.checks.iter().all(|c| c.deployment_id != id), "{:?}", round.checks);

    let path = format!("/api/v1/deployments/{id}/endpoints");
    let status = h.get(&path, &alice).await.expect(200).json();
    assert_eq!(status, json!({"checks": [], "events": [], "notify": true, "owner_address_known": false, "mails": []}));
    let off = h.put(&format!("{path}/notify"), &alice, &json!({"notify": false})).await.expect(200).json();
    assert_eq!(off["notify"], false);
    assert_eq!(h.get(&path, &alice).await.expect(200).json()["notify"], false);
    let on = h.put(&format!("{path}/notify"), &alice, &json!({"notify": true})).await.expect(200).json();
    assert_eq!(on["notify"], true);
    let bad = h.put(&format!("{path}/notify"), &alice, &json!({"notify": "no"})).await.expect(400);
    assert!(bad.error_message().contains("notify"), "{}", bad.error_message());
    h.put(&format!("{path}/notify"), &h.bob(), &json!({"notify": false})).await.expect(404);
    h.stop().await;
}

/// A token of the embedded issuer that carries an address (`nuvola token
/// issue --email`) gives the deployments made with it their owner's
/// address, which the endpoint mails go to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_an_address_records_the_owners_address() {
    let h = Harness::start().await;
    let groups = ["physics".to_string()];
    let mailed = h.issuer.issue_with_email("alice", &groups, false, Some("alice@example.org"), 3600).unwrap();
    let id = h.create(&mailed, &common::no_fit_request()).await;
    let record = h.store.deployment(&id).await.unwrap().expect("stored");
    assert_eq!(record.owner_email.as_deref(), Some("alice@example.org"));
    let status = h.get(&format!("/api/v1/deployments/{id}/endpoints"), &mailed).await.expect(200).json();
    assert_eq!(status["owner_address_known"], true);
    let plain = h.create(&h.alice(), &common::no_fit_request()).await;
    assert_eq!(h.store.deployment(&plain).await.unwrap().expect("stored").owner_email, None);
    h.stop().await;
}
