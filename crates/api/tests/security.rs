//! The attacks of the security review (issue 11), each reproduced against
//! the whole server behind its router: what an attacker sent, and what
//! must hold afterwards.

mod common;

use axum::http::Method;
use common::Harness;
use nuvola_types::Principal;
use serde_json::json;

/// A template with one secret input, a plain one and a map.
const WITH_SECRET: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  inputs:
    db_password: { type: string, description: the database password, required: true }
    settings: { type: map, entry_schema: { type: string }, default: {} }
    vault: { type: map, entry_schema: { type: string }, default: {}, metadata: { secret: true } }
  node_templates:
    vm:
      type: tosca.nodes.Compute
      capabilities:
        host: { properties: { num_cpus: 1, mem_size: 1 GB } }
"#;

/// Item 1: a value shaped like the store's sealed format, in a map input,
/// made the deployment unreadable and undeletable and stalled the workers.
/// It is only data now: every view reads, the workers provision it, and
/// it deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_shaped_like_a_sealed_one_is_only_data() {
    let h = Harness::start().await;
    let alice = h.alice();
    let fake = json!({"nuvola_sealed": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"});
    let given = json!({"db_password": "a-real-password", "settings": fake, "vault": fake});
    let request = json!({"template": WITH_SECRET, "parameters": given});
    let id =
        h.post("/api/v1/deployments", &alice, &request).await.expect(201).json()["id"].as_str().unwrap().to_string();
    h.settle(&id, "CREATE_COMPLETE").await;
    let shown = h.get(&format!("/api/v1/deployments/{id}"), &alice).await.expect(200).json();
    assert_eq!(shown["inputs"]["settings"], fake, "{shown:#}");
    assert_eq!((&shown["inputs"]["db_password"], &shown["inputs"]["vault"]), (&json!("********"), &json!("********")));
    let kept = h.store.deployment(&id).await.unwrap().unwrap();
    assert_eq!(kept.inputs["vault"], fake, "deployed with the value given");
    for (token, path) in [
        (&alice, "/api/v1/deployments?size=10"),
        (&alice, "/orchestrator/deployments"),
        (&h.manager(), "/orchestrator/deployments"),
        (&h.admin(), "/orchestrator/deployments"),
        (&h.admin(), "/api/v1/deployments?size=10"),
    ] {
        let listed = h.get(path, token).await.expect(200).text();
        assert!(listed.contains(&id), "{path}: {listed}");
    }
    h.delete(&format!("/orchestrator/deployments/{id}"), &alice).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;
    h.stop().await;
}

/// Item 2: a group manager re-submitted the owner's template with a
/// `pattern` on the secret input, and the refusal quoted the decrypted
/// value; through the native PATCH and the orchestrator's PUT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_update_does_not_quote_a_secret() {
    let h = Harness::start().await;
    let alice = h.alice();
    let secret = "alices-own-secret-0123";
    let request = json!({"template": WITH_SECRET, "parameters": {"db_password": secret}});
    let id =
        h.post("/api/v1/deployments", &alice, &request).await.expect(201).json()["id"].as_str().unwrap().to_string();
    h.settle(&id, "CREATE_COMPLETE").await;

    let probing = WITH_SECRET.replace(
        "db_password: { type: string, description: the database password, required: true }",
        "db_password: { type: string, required: true, constraints: [ { pattern: 'x' } ] }\n    \
         db_pass_copy: { type: string, default: { get_input: db_password } }",
    );
    // Even undeclared as secret by the new template, the stored value is.
    let undeclared = WITH_SECRET.replace("db_password: { type: string", "db_password: { type: integer");
    let manager = h.manager();
    for template in [&probing, &undeclared] {
        let patched = h
            .call(
                Method::PATCH,
                &format!("/api/v1/deployments/{id}"),
                Some(&manager),
                Some(&json!({"template": template})),
            )
            .await;
        assert_eq!(patched.status, 400, "{}", patched.text());
        assert!(!patched.text().contains(secret), "native PATCH: {}", patched.text());
        assert!(patched.error_message().contains("db_password"), "{}", patched.text());
        let put = h.put(&format!("/orchestrator/deployments/{id}"), &manager, &json!({"template": template})).await;
        assert_eq!(put.status, 400, "{}", put.text());
        assert!(!put.text().contains(secret), "orchestrator PUT: {}", put.text());
    }
    // Nothing of it reached the log either.
    let log = h.get(&format!("/orchestrator/deployments/{id}/log"), &alice).await.expect(200).text();
    assert!(!log.contains(secret), "{log}");
    h.stop().await;
}

/// Item 2, deploy again: someone who may read another user's deployment
/// copied it, secrets included. Only the owner may reuse them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_deploys_again_with_the_same_secrets() {
    let h = Harness::start().await;
    let alice = h.alice();
    let request = json!({"catalogueId": "kubernetes", "parameters": {"admin_token": "alice-admin-token-0123"}});
    let created = h.post("/api/v1/deployments", &alice, &request).await;
    let id = created.expect(201).json()["id"].as_str().unwrap().to_string();
    h.settle(&id, "CREATE_COMPLETE").await;

    let manager = Principal {
        subject: "dave".into(),
        issuer: common::ISSUER.into(),
        groups: vec!["physics".into()],
        manages: vec!["physics".into()],
        ..Default::default()
    };
    h.app.deployment(&manager, &id).await.expect("the manager reads it");
    let refused = h.app.deploy_again(&manager, &id).await.unwrap_err().to_string();
    assert!(refused.contains("only its owner may reuse") && refused.contains("admin_token"), "{refused}");

    let owner = Principal {
        subject: "alice".into(),
        issuer: common::ISSUER.into(),
        groups: vec!["physics".into()],
        ..Default::default()
    };
    let copy = h.app.deploy_again(&owner, &id).await.expect("the owner may");
    assert_eq!(copy.parameters["admin_token"], "alice-admin-token-0123");
    h.settle(&copy.id, "CREATE_COMPLETE").await;
    h.stop().await;
}

/// Item 6: a restricted catalogue service was deployed by posting its
/// template text as a custom template. Restrictions apply to what is
/// deployed: the same text, a renamed copy, or any template with the
/// service's own features (GPUs, a Kubernetes front end), also on update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_service_cannot_be_deployed_under_another_name() {
    let restricted = [("gpu-vm", vec!["ml".to_string()]), ("kubernetes", vec!["bio".to_string()])];
    let settings = nuvola_app::Settings {
        poll_interval: std::time::Duration::from_millis(20),
        restricted_services: restricted.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ..nuvola_app::Settings::default()
    };
    let h = Harness::with(common::federation(), settings).await;
    let alice = h.alice();
    let gpu = common::catalogue_text("gpu-vm");
    let renamed = gpu.replace("template_name: gpu-vm", "template_name: my-vm").replace("gpu_node", "my_node");
    let k8s = common::catalogue_text("kubernetes");
    for (what, template, parameters, service) in [
        ("the same text", &gpu, json!({}), "gpu-vm"),
        ("a renamed copy", &renamed, json!({}), "gpu-vm"),
        ("a cluster's text", &k8s, json!({"admin_token": "0123456789abcdef0123"}), "kubernetes"),
    ] {
        let refused =
            h.post("/api/v1/deployments", &alice, &json!({"template": template, "parameters": parameters})).await;
        assert_eq!(refused.status, 403, "{what}: {}", refused.text());
        assert!(refused.error_message().contains(&format!("catalogue service {service}")), "{}", refused.text());
        let orchestrator =
            h.post("/orchestrator/deployments", &alice, &json!({"template": template, "parameters": parameters})).await;
        assert_eq!(orchestrator.status, 403, "{what}: {}", orchestrator.text());
    }
    // A plain VM is nobody's restricted service; turning it into a GPU one
    // by an update is refused the same way.
    let vm = common::catalogue_text("single-vm");
    let id = h.post("/api/v1/deployments", &alice, &json!({"template": vm})).await.expect(201).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    h.settle(&id, "CREATE_COMPLETE").await;
    let put = h.put(&format!("/orchestrator/deployments/{id}"), &alice, &json!({"template": gpu})).await;
    assert_eq!(put.status, 403, "{}", put.text());
    // Members of the groups it is open to still deploy it as their own.
    let ml = h.token("mona", &["ml"], false);
    let allowed = h.post("/api/v1/deployments", &ml, &json!({"template": gpu, "userGroup": "ml"})).await;
    assert_ne!(allowed.status, 403, "{}", allowed.text());
    h.stop().await;
}

/// Item 9: nothing limited how many deployments, or how many bytes of
/// templates, one user stores. Both are limits an operator sets; the
/// refusal says which and what to do, and deleting makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_user_stores_is_limited() {
    let settings = nuvola_app::Settings {
        poll_interval: std::time::Duration::from_millis(20),
        max_deployments_per_user: 2,
        max_template_bytes_per_user: 64 * 1024,
        ..nuvola_app::Settings::default()
    };
    let h = Harness::with(common::federation(), settings).await;
    let alice = h.alice();
    let failing = common::no_fit_request();
    let first = h.create(&alice, &failing).await;
    h.create(&alice, &failing).await;
    let third = h.post("/orchestrator/deployments", &alice, &failing).await;
    assert_eq!(third.status, 403, "{}", third.text());
    assert!(third.error_message().contains("deployments.max_per_user"), "{}", third.text());
    assert!(h.post("/orchestrator/deployments", &h.bob(), &failing).await.status.is_success(), "per user");

    h.delete(&format!("/orchestrator/deployments/{first}"), &alice).await.expect(204);
    h.settle(&first, "DELETE_COMPLETE").await;
    let padded = format!("{}\n#{}\n", common::catalogue_text("gpu-vm"), "x".repeat(70 * 1024));
    let big = h.post("/orchestrator/deployments", &alice, &json!({"template": padded})).await;
    assert_eq!(big.status, 403, "{}", big.text());
    assert!(big.error_message().contains("deployments.max_template_bytes_per_user"), "{}", big.text());
    h.create(&alice, &failing).await;
    h.stop().await;
}

/// Item 3: checking a template (whose `pattern` constraints may be costly
/// to compile) ran on the async workers, so two such requests kept the
/// health check waiting. Template work now queues for the blocking pool's
/// CPU slots: with every slot taken, a placement preview waits, and the
/// health check still answers at once, on a runtime of a single thread.
#[tokio::test(flavor = "current_thread")]
async fn template_work_never_holds_the_async_workers() {
    let h = Harness::start().await;
    let slots = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let mut releases = Vec::new();
    let mut held = Vec::new();
    for _ in 0..slots {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        releases.push(release);
        held.push(tokio::spawn({
            let app = h.app.clone();
            async move { app.off_the_reactor(move || wait.recv()).await }
        }));
    }
    let plan = tokio::spawn({
        let (router, token) = (h.router.clone(), h.alice());
        let body = json!({"template": common::catalogue_text("single-vm")});
        async move {
            let request = axum::http::Request::post("/api/v1/plan")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            tower::ServiceExt::oneshot(router, request).await.unwrap().status()
        }
    });
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    let health = h.raw(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, 200, "{}", health.text());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!plan.is_finished(), "the preview's template check waits for a CPU slot");
    for release in releases {
        release.send(()).unwrap();
    }
    for work in held {
        work.await.unwrap().unwrap().unwrap();
    }
    assert_eq!(plan.await.unwrap(), 200);
    h.stop().await;
}

/// Item 15's kind elsewhere: a page number whose offset overflows was a
/// panic (debug) or a database error (release); it is a clear 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_beyond_any_listing_is_refused() {
    let h = Harness::start().await;
    let path = format!("/orchestrator/deployments?page={}&size=1000", i64::MAX);
    let reply = h.get(&path, &h.alice()).await.expect(400);
    assert!(reply.error_message().contains("beyond any listing"), "{}", reply.text());
    h.stop().await;
}
