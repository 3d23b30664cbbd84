//! The INDIGO-orchestrator-compatible REST API under `/orchestrator`: a
//! deployment's whole life, who sees what, request validation, paging,
//! the 409 rules and updates.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, header};
use common::{BASE, Harness, SCALABLE_TEMPLATE, catalogue_text, link, no_fit_request, query_of};
use serde_json::{Value, json};

fn ids(page: &Value) -> BTreeSet<String> {
    page["content"].as_array().expect("content").iter().map(|d| d["uuid"].as_str().unwrap().to_string()).collect()
}

/// How many of the listed Compute instances are servers a provider holds.
fn servers(resources: &Value) -> usize {
    resources["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["toscaNodeType"] == "tosca.nodes.indigo.Compute" && r.get("physicalId").is_some())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_from_create_to_delete() {
    let h = Harness::start().await;
    let alice = h.alice();
    let text = catalogue_text("single-vm");

    let reply = h.post("/orchestrator/deployments", &alice, &json!({"template": text})).await.expect(201);
    let created = reply.json();
    let id = created["uuid"].as_str().expect("uuid").to_string();
    assert_eq!(id.len(), 36, "uuid: {id}");
    assert_eq!(created["status"], "CREATE_IN_PROGRESS");
    assert_eq!(created["createdBy"], json!({"subject": "alice", "issuer": "nuvola"}));
    assert_eq!(created["userGroup"], "physics");
    let creation = created["creationTime"].as_str().expect("creationTime");
    assert!(creation.len() == "2024-02-02T10:00+0000".len() && creation.ends_with("+0000"), "{creation}");
    assert!(created["updateTime"].as_str().is_some_and(|t| t.len() == creation.len()), "{created:#}");
    for key in ["task", "outputs", "cloudProviderName", "cloudProviderEndpoint"] {
        assert!(created.get(key).is_some(), "{key} is part of the orchestrator's deployment shape: {created:#}");
    }
    // Fields without a value are left out, as the orchestrator's NON_NULL does.
    for key in ["statusReason", "callback", "physicalId"] {
        assert!(created.get(key).is_none(), "{key} has no value yet and is left out: {created:#}");
    }
    let href = format!("{BASE}/orchestrator/deployments/{id}");
    assert_eq!(link(&created, "self").as_deref(), Some(href.as_str()));
    for rel in ["resources", "template", "log"] {
        assert_eq!(link(&created, rel), Some(format!("{href}/{rel}")), "{rel}");
    }

    let done = h.settle(&id, "CREATE_COMPLETE").await;
    let outputs = done["outputs"].as_object().expect("outputs");
    assert!(!outputs.is_empty(), "{done:#}");
    let ip = outputs["node_ip"].as_str().expect("node_ip");
    assert!(ip.starts_with("203.0.113."), "public IP from the provider's range: {ip}");
    assert_eq!(outputs["ssh_command"], format!("ssh cloudadm@{ip}"));
    assert_eq!(done["cloudProviderName"], "alpha", "the highest-priority provider: {done:#}");
    assert_eq!(done["cloudProviderEndpoint"]["cpEndpoint"], "https://alpha.cloud.test:5000/v3");
    let physical = done["physicalId"].as_str().expect("physicalId once running");
    assert!(uuid::Uuid::parse_str(physical).is_ok() && physical.len() == 36, "the infrastructure's UUID: {physical}");
    assert!(done.get("statusReason").is_none(), "{done:#}");

    let template = h.get(&format!("/orchestrator/deployments/{id}/template"), &alice).await.expect(200);
    assert!(template.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(template.text(), text);

    let log = h.get(&format!("/orchestrator/deployments/{id}/log"), &alice).await.expect(200).text();
    assert!(log.lines().count() >= 3, "{log}");
    assert!(log.contains("submitted by alice@nuvola for group physics"), "{log}");
    assert!(log.contains("ready on alpha"), "{log}");

    let resources = h.get(&format!("/orchestrator/deployments/{id}/resources"), &alice).await.expect(200).json();
    // One resource per node template instance, as the orchestrator lists them.
    let nodes: BTreeSet<&str> =
        resources["content"].as_array().unwrap().iter().map(|r| r["toscaNodeName"].as_str().unwrap()).collect();
    assert_eq!(nodes, BTreeSet::from(["vm"]), "{resources:#}");
    assert_eq!(servers(&resources), 1);
    let vm = &resources["content"][0];
    assert_eq!(vm["state"], "STARTED", "{vm:#}");
    assert!(vm["metadata"]["VirtualMachineInfo"].is_string(), "{vm:#}");
    assert_eq!(resources["page"]["totalElements"], json!(resources["content"].as_array().unwrap().len()));
    let first = &resources["content"][0];
    assert!(link(first, "self").is_some_and(|h| h.starts_with(&format!("{href}/resources/"))), "{first}");
    // Every resource's self link leads to it.
    for r in resources["content"].as_array().unwrap() {
        let own = link(r, "self").unwrap();
        let path = &own[own.find("/orchestrator/").unwrap()..];
        assert_eq!(h.get(path, &alice).await.expect(200).json(), *r);
    }
    let missing = h.get(&format!("/orchestrator/deployments/{id}/resources/nope"), &alice).await.expect(404).json();
    assert!(missing.to_string().contains("holds no resource \\\"nope\\\""), "{missing}");

    let extra = h.get(&format!("/orchestrator/deployments/{id}/extrainfo"), &alice).await.expect(200).json();
    let attempts = extra["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{extra:#}");
    assert_eq!(attempts[0]["provider"], "alpha");
    assert_eq!(attempts[0]["state"], "ready");
    assert!(extra["plan"]["candidates"].as_array().is_some_and(|c| c.len() == 3), "{extra:#}");

    let held = h.held_for(&id).await;
    assert_eq!(held.keys().collect::<Vec<_>>(), ["alpha"], "{held:#?}");
    let server = held["alpha"].iter().find(|r| r["kind"] == "server").expect("a server");
    assert_eq!(vm["physicalId"], server["id"], "the VM's resource is the server alpha holds: {vm:#}");

    let reply = h.delete(&format!("/orchestrator/deployments/{id}"), &alice).await.expect(204);
    assert!(reply.body.is_empty());
    let deleted = h.settle(&id, "DELETE_COMPLETE").await;
    assert!(deleted["outputs"].as_object().is_none_or(|o| o.is_empty()), "{deleted:#}");
    assert!(h.held_for(&id).await.is_empty(), "every provider let go of {id}");
    for (provider, held) in h.inventory().await {
        assert!(held.is_empty(), "{provider} still holds {held:#?}");
    }
    let log = h.get(&format!("/orchestrator/deployments/{id}/log"), &alice).await.expect(200).text();
    assert!(log.contains("delete requested by alice@nuvola"), "{log}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_and_admins_see_a_deployment() {
    let h = Harness::start().await;
    let (alice, bob, carol, admin) = (h.alice(), h.bob(), h.carol(), h.admin());
    let running = h.create(&alice, &json!({"template": catalogue_text("single-vm")})).await;
    let failed = h.create(&alice, &no_fit_request()).await;
    let bobs = h.create(&bob, &no_fit_request()).await;
    let mut bio = no_fit_request();
    bio["userGroup"] = json!("bio");
    let carol_bio = h.create(&carol, &bio).await;
    let mut physics = no_fit_request();
    physics["userGroup"] = json!("physics");
    let carol_physics = h.create(&carol, &physics).await;
    h.settle(&running, "CREATE_COMPLETE").await;

    // Bob cannot tell alice's deployment exists.
    let d = format!("/orchestrator/deployments/{running}");
    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, d.clone(), None),
        (Method::GET, format!("{d}/template"), None),
        (Method::GET, format!("{d}/log"), None),
        (Method::GET, format!("{d}/resources"), None),
        (Method::GET, format!("{d}/extrainfo"), None),
        (Method::PUT, d.clone(), Some(json!({"parameters": {"num_cpus": 1}}))),
        (Method::PATCH, d.clone(), Some(json!({"status": "DELETE_FAILED"}))),
        (Method::DELETE, d.clone(), None),
        (Method::GET, format!("/api/v1/deployments/{running}"), None),
        (Method::GET, format!("/api/v1/deployments/{running}/log"), None),
        (Method::DELETE, format!("/api/v1/deployments/{running}"), None),
    ];
    for (method, path, body) in &requests {
        let reply = h.call(method.clone(), path, Some(&bob), body.as_ref()).await;
        assert_eq!(reply.status.as_u16(), 404, "{method} {path} as bob: {}", reply.text());
        let message = reply.error_message();
        assert!(message.contains(&running), "{message}");
    }
    // Nothing bob tried changed it.
    assert_eq!(h.deployment(&running).await["status"], "CREATE_COMPLETE");
    // An admin sees it.
    assert_eq!(h.get(&d, &admin).await.expect(200).json()["uuid"], running.as_str());

    // Listings show the caller's own deployments only.
    let list = |token: String, query: &'static str| {
        let h = &h;
        async move { h.get(&format!("/orchestrator/deployments{query}"), &token).await }
    };
    let alices: BTreeSet<String> = [running.clone(), failed.clone()].into();
    assert_eq!(ids(&list(alice.clone(), "").await.expect(200).json()), alices);
    assert_eq!(ids(&list(alice.clone(), "?createdBy=me").await.expect(200).json()), alices);
    assert_eq!(ids(&list(alice.clone(), "?createdBy=alice@nuvola").await.expect(200).json()), alices);
    assert_eq!(ids(&list(bob.clone(), "").await.expect(200).json()), [bobs.clone()].into());
    let refused = list(alice.clone(), "?createdBy=bob@nuvola").await.expect(403);
    assert!(refused.error_message().contains("administrators"), "{}", refused.text());
    let malformed = list(alice.clone(), "?createdBy=bob").await.expect(400);
    assert!(malformed.error_message().contains("subject@issuer"));

    // Admins list everyone's, or one user's.
    let all = list(admin.clone(), "").await.expect(200).json();
    assert_eq!(all["page"]["totalElements"], 5);
    assert_eq!(ids(&all), [&running, &failed, &bobs, &carol_bio, &carol_physics].into_iter().cloned().collect());
    assert_eq!(ids(&list(admin.clone(), "?createdBy=bob@nuvola").await.expect(200).json()), [bobs.clone()].into());
    // `me` is the admin, who has none.
    assert_eq!(list(admin.clone(), "?createdBy=me").await.expect(200).json()["page"]["totalElements"], 0);

    // Filters.
    assert_eq!(ids(&list(carol.clone(), "?userGroup=bio").await.expect(200).json()), [carol_bio.clone()].into());
    assert_eq!(ids(&list(carol.clone(), "?userGroup=physics").await.expect(200).json()), [carol_physics].into());
    assert_eq!(ids(&list(admin.clone(), "?userGroup=bio").await.expect(200).json()), [carol_bio].into());
    assert_eq!(
        ids(&list(alice.clone(), "?excludedStatus=CREATE_FAILED").await.expect(200).json()),
        [running.clone()].into()
    );
    assert_eq!(ids(&list(alice.clone(), "?excludedStatus=CREATE_COMPLETE").await.expect(200).json()), [failed].into());
    let bad = list(alice.clone(), "?excludedStatus=SLEEPING").await.expect(400);
    assert!(bad.error_message().contains("SLEEPING"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_refused_and_store_nothing() {
    let h = Harness::start().await;
    let (alice, carol) = (h.alice(), h.carol());
    let vm = catalogue_text("single-vm");
    let with = |extra: Value| {
        let mut body = json!({"template": vm});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let unknown_type = vm.replace("tosca.nodes.indigo.Compute", "tosca.nodes.indigo.Teleporter");
    let before = h.count().await;
    // (who, body, expected status, words the message must contain)
    let cases: Vec<(&str, Vec<u8>, u16, Vec<&str>)> = vec![
        (&alice, b"{\"template\": ".to_vec(), 400, vec!["JSON", "line 1"]),
        (&alice, b"[1, 2]".to_vec(), 400, vec!["JSON"]),
        (&alice, body(json!({"parameters": {}})), 400, vec!["template: a TOSCA template must be provided"]),
        (&alice, body(json!({"template": ""})), 400, vec!["template is empty"]),
        (&alice, body(json!({"template": "   \n"})), 400, vec!["template is empty"]),
        (
            &alice,
            body(json!({"template": "a: [b\nc: d"})),
            400,
            vec!["not valid TOSCA", "template.yaml:2:2:", "invalid YAML"],
        ),
        (&alice, body(json!({"template": "tosca_definitions_version: tosca_simple_yaml_1_0\n"})), 400, vec!["Compute"]),
        (
            &alice,
            body(json!({"template": unknown_type})),
            400,
            vec!["template.yaml:", "unknown node type \"tosca.nodes.indigo.Teleporter\""],
        ),
        (
            &alice,
            body(with(json!({"parameters": {"num_cpus": 64}}))),
            400,
            vec!["input \"num_cpus\": 64 is not in range"],
        ),
        (&alice, body(with(json!({"parameters": {"os_distribution": "windows"}}))), 400, vec!["windows"]),
        (
            &alice,
            body(with(json!({"timeoutMins": 10, "providerTimeoutMins": 20}))),
            400,
            vec!["providerTimeoutMins (20)", "timeoutMins (10)"],
        ),
        (&alice, body(with(json!({"timeoutMins": 0}))), 400, vec!["timeoutMins must be between 1 and"]),
        (&alice, body(with(json!({"timeoutMins": "ten"}))), 400, vec!["timeoutMins"]),
        (&alice, body(with(json!({"providerTimeoutMins": 0}))), 400, vec!["providerTimeoutMins must be between 1"]),
        // Once a panic in date arithmetic that reset the connection.
        (&alice, body(with(json!({"timeoutMins": i64::MAX}))), 400, vec!["timeoutMins must be between 1 and"]),
        (&alice, body(with(json!({"timeoutMins": 100_000_000_000_000_i64}))), 400, vec!["(a year)"]),
        (&alice, body(with(json!({"timeoutMins": 1e14}))), 400, vec!["timeoutMins"]),
        (&alice, body(with(json!({"maxProvidersRetry": 0}))), 400, vec!["maxProvidersRetry must be at least 1"]),
        (&alice, body(with(json!({"callback": "ftp://example.org/hook"}))), 400, vec!["callback", "http(s)"]),
        (&alice, body(with(json!({"callback": "not a url"}))), 400, vec!["callback"]),
        (&alice, body(with(json!({"keepLastAttempt": "yes"}))), 400, vec!["keepLastAttempt must be true or false"]),
        (&alice, body(with(json!({"parameters": ["num_cpus"]}))), 400, vec!["parameters must be an object"]),
        (&alice, body(with(json!({"userGroup": "bio"}))), 403, vec!["not a member of group \"bio\""]),
        (&carol, body(with(json!({}))), 400, vec!["userGroup is required", "physics", "bio"]),
    ];
    for (who, bytes, status, words) in cases {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
        let reply = h.raw(Method::POST, "/orchestrator/deployments", Some(who), Some(bytes)).await;
        assert_eq!(reply.status.as_u16(), status, "{shown}: {}", reply.text());
        let message = reply.error_message();
        for word in words {
            assert!(message.contains(word), "{shown}: message {message:?} should contain {word:?}");
        }
    }
    // Without a JSON content type.
    let request = axum::http::Request::post("/orchestrator/deployments")
        .header(header::AUTHORIZATION, format!("Bearer {alice}"))
        .body(axum::body::Body::from(serde_json::to_vec(&json!({"template": vm})).unwrap()))
        .unwrap();
    let reply = h.send(request).await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.text());
    assert!(reply.error_message().contains("Content-Type"), "{}", reply.text());

    // A template over the template limit, and a body over the body limit.
    let big_template = format!("{vm}\n#{}\n", "x".repeat(nuvola_app::Settings::default().max_template_bytes));
    let reply = h.post("/orchestrator/deployments", &alice, &json!({"template": big_template})).await.expect(400);
    assert!(reply.error_message().contains("limit"), "{}", reply.text());
    let huge = format!("{vm}\n#{}\n", "x".repeat(nuvola_api::MAX_BODY_BYTES));
    let reply = h.post("/orchestrator/deployments", &alice, &json!({"template": huge})).await;
    assert!(matches!(reply.status.as_u16(), 400 | 413), "{}: {}", reply.status, reply.text());
    assert!(reply.error_message().contains("limit"), "{}", reply.text());

    assert_eq!(h.count().await, before, "a refused request stored a deployment");
    h.stop().await;
}

fn body(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_are_paged_with_absolute_links() {
    let h = Harness::start().await;
    let alice = h.alice();
    let mut all = BTreeSet::new();
    for _ in 0..7 {
        let id = h.create(&alice, &no_fit_request()).await;
        all.insert(id);
    }
    let path = "/orchestrator/deployments";
    let first = h.get(&format!("{path}?size=3"), &alice).await.expect(200).json();
    assert_eq!(first["page"], json!({"size": 3, "totalElements": 7, "totalPages": 3, "number": 0}));
    assert_eq!(first["content"].as_array().unwrap().len(), 3);
    assert!(link(&first, "prev").is_none(), "{first:#}");
    let next = link(&first, "next").expect("next");
    assert_eq!(query_of(&next, path), [("page".into(), "1".into()), ("size".into(), "3".into())].into());
    let last = link(&first, "last").expect("last");
    assert_eq!(query_of(&last, path)["page"], "2");

    // Follow the links, as a client would, by their path and query.
    let mut seen = ids(&first);
    let relative = |href: &str| href.strip_prefix(BASE).expect("absolute link").to_string();
    let second = h.get(&relative(&next), &alice).await.expect(200).json();
    assert_eq!(second["page"]["number"], 1);
    assert_eq!(query_of(&link(&second, "prev").expect("prev"), path)["page"], "0");
    assert_eq!(query_of(&link(&second, "next").expect("next"), path)["page"], "2");
    assert_eq!(query_of(&link(&second, "self").expect("self"), path)["page"], "1");
    seen.extend(ids(&second));
    let third = h.get(&relative(&link(&second, "next").unwrap()), &alice).await.expect(200).json();
    assert_eq!(third["content"].as_array().unwrap().len(), 1);
    assert!(link(&third, "next").is_none(), "{third:#}");
    seen.extend(ids(&third));
    assert_eq!(seen, all, "the pages together list every deployment once");

    // Past the end: an empty page, still counted.
    let beyond = h.get(&format!("{path}?page=5&size=3"), &alice).await.expect(200).json();
    assert_eq!(beyond["content"], json!([]));
    assert_eq!(beyond["page"]["totalElements"], 7);

    // Filters are kept in the links.
    let filtered =
        h.get(&format!("{path}?size=2&createdBy=me&excludedStatus=CREATE_COMPLETE&userGroup=physics"), &alice).await;
    let filtered = filtered.expect(200).json();
    assert_eq!(filtered["page"]["totalPages"], 4);
    let next = query_of(&link(&filtered, "next").expect("next"), path);
    for (key, value) in [
        ("page", "1"),
        ("size", "2"),
        ("createdBy", "me"),
        ("excludedStatus", "CREATE_COMPLETE"),
        ("userGroup", "physics"),
    ] {
        assert_eq!(next.get(key).map(String::as_str), Some(value), "{key} in {next:?}");
    }
    // An empty listing has no pages.
    let none = h.get(&format!("{path}?userGroup=bio"), &alice).await.expect(200).json();
    assert_eq!(none["page"], json!({"size": 10, "totalElements": 0, "totalPages": 0, "number": 0}));

    for bad in ["size=0", "size=100000", "page=-1", "page=x"] {
        let reply = h.get(&format!("{path}?{bad}"), &alice).await.expect(400);
        let key = bad.split('=').next().unwrap();
        assert!(reply.error_message().contains(key), "{bad}: {}", reply.text());
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_rules_answer_409() {
    let h = Harness::start().await;
    let alice = h.alice();
    let vm = json!({"template": catalogue_text("single-vm")});
    let url = |id: &str| format!("/orchestrator/deployments/{id}");

    let complete = h.create(&alice, &vm).await;
    h.settle(&complete, "CREATE_COMPLETE").await;

    // Every provider now builds and deletes slowly.
    for p in ["alpha", "beta", "gamma"] {
        h.set_sim(p, json!({"create_latency_ms": 60000, "delete_latency_ms": 60000})).await;
    }

    // A create in progress cannot be updated or reset.
    let building = h.create(&alice, &vm).await;
    h.wait_for(&building, &["CREATE_IN_PROGRESS"]).await;
    let reply = h.put(&url(&building), &alice, &json!({"parameters": {"num_cpus": 1}})).await.expect(409);
    assert!(reply.error_message().contains("CREATE_IN_PROGRESS"), "{}", reply.text());
    let reply = h.patch(&url(&building), &alice, &json!({"status": "DELETE_FAILED"})).await.expect(409);
    assert!(reply.error_message().contains("DELETE_IN_PROGRESS"), "{}", reply.text());

    // A failed create cannot be updated or reset.
    let failed = h.create(&alice, &no_fit_request()).await;
    assert_eq!(h.deployment(&failed).await["status"], "CREATE_FAILED");
    let reply = h.put(&url(&failed), &alice, &json!({})).await.expect(409);
    assert!(reply.error_message().contains("CREATE_FAILED"), "{}", reply.text());
    h.patch(&url(&failed), &alice, &json!({"status": "DELETE_FAILED"})).await.expect(409);

    // A delete in progress cannot be deleted again or updated.
    h.delete(&url(&complete), &alice).await.expect(204);
    assert_eq!(h.deployment(&complete).await["status"], "DELETE_IN_PROGRESS");
    let reply = h.delete(&url(&complete), &alice).await.expect(409);
    assert!(reply.error_message().contains("already being deleted"), "{}", reply.text());
    h.put(&url(&complete), &alice, &json!({})).await.expect(409);

    // PATCH takes only {"status": "DELETE_FAILED"}.
    for (body, words) in [
        (json!({"status": "CREATE_COMPLETE"}), "only be reset to DELETE_FAILED"),
        (json!({"status": "SLEEPING"}), "unknown status"),
        (json!({}), "status: give the status"),
    ] {
        let reply = h.patch(&url(&complete), &alice, &body).await.expect(400);
        assert!(reply.error_message().contains(words), "{body}: {}", reply.text());
    }
    assert_eq!(h.deployment(&complete).await["status"], "DELETE_IN_PROGRESS");

    // ... which unsticks the delete.
    // (The workflow saves the row every poll meanwhile; the app retries
    // a user's change that races it, so this cannot answer a spurious 409.)
    let reset = h.patch(&url(&complete), &alice, &json!({"status": "DELETE_FAILED"})).await.expect(204);
    assert!(reset.body.is_empty(), "the orchestrator answers a reset with no body");
    // It stays there: the delete workflow was stopped.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let d = h.deployment(&complete).await;
    assert_eq!(d["status"], "DELETE_FAILED", "{d:#}");
    assert!(d["statusReason"].as_str().is_some_and(|r| r.contains("alice@nuvola")), "{d:#}");
    // Once DELETE_FAILED, a new delete is accepted.
    h.delete(&url(&complete), &alice).await.expect(204);
    assert_eq!(h.deployment(&complete).await["status"], "DELETE_IN_PROGRESS");

    // A deleted deployment cannot be deleted again either.
    for p in ["alpha", "beta", "gamma"] {
        h.set_sim(p, json!({"create_latency_ms": 60, "delete_latency_ms": 20})).await;
    }
    let gone = h.create(&alice, &no_fit_request()).await;
    h.delete(&url(&gone), &alice).await.expect(204);
    h.settle(&gone, "DELETE_COMPLETE").await;
    h.delete(&url(&gone), &alice).await.expect(409);
    h.put(&url(&gone), &alice, &json!({})).await.expect(409);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_changes_what_the_provider_holds() {
    let h = Harness::start().await;
    let alice = h.alice();
    let id = h.create(&alice, &json!({"template": SCALABLE_TEMPLATE})).await;
    let created = h.settle(&id, "CREATE_COMPLETE").await;
    let resources_url = format!("/orchestrator/deployments/{id}/resources");
    assert_eq!(servers(&h.get(&resources_url, &alice).await.expect(200).json()), 1);
    assert_eq!(created["outputs"]["private_ips"].as_array().map(Vec::len), Some(1), "{created:#}");

    // Fields that cannot change.
    let url = format!("/orchestrator/deployments/{id}");
    let reply = h.put(&url, &alice, &json!({"userGroup": "bio"})).await.expect(400);
    assert!(reply.error_message().contains("userGroup cannot change"), "{}", reply.text());
    let reply = h.put(&url, &alice, &json!({"keepLastAttempt": true})).await.expect(400);
    assert!(reply.error_message().contains("keepLastAttempt"), "{}", reply.text());
    let reply = h.put(&url, &alice, &json!({"parameters": {"count": 9}})).await.expect(400);
    assert!(reply.error_message().contains("count"), "{}", reply.text());
    let reply = h.put(&url, &alice, &json!({"timeoutMins": "soon"})).await.expect(400);
    assert!(reply.error_message().contains("timeoutMins must be a whole number"), "{}", reply.text());
    assert_eq!(h.deployment(&id).await["status"], "CREATE_COMPLETE", "refused updates changed nothing");

    let reply = h.put(&url, &alice, &json!({"parameters": {"count": 2}})).await.expect(202);
    assert!(reply.body.is_empty(), "the orchestrator answers an update with no body");
    assert_eq!(h.deployment(&id).await["status"], "UPDATE_IN_PROGRESS");
    let updated = h.settle(&id, "UPDATE_COMPLETE").await;
    assert_eq!(updated["cloudProviderName"], created["cloudProviderName"], "an update stays on its provider");
    assert_eq!(updated["outputs"]["private_ips"].as_array().map(Vec::len), Some(2), "{updated:#}");
    assert_eq!(servers(&h.get(&resources_url, &alice).await.expect(200).json()), 2);
    let held = h.held_for(&id).await;
    let provider = created["cloudProviderName"].as_str().unwrap();
    assert_eq!(held[provider].iter().filter(|r| r["kind"] == "server").count(), 2, "{held:#?}");

    // An update the provider refuses leaves the deployment UPDATE_FAILED
    // and running as it was; from there it can be updated again.
    h.set_sim(provider, json!({"fail_creates": true})).await;
    h.put(&url, &alice, &json!({"parameters": {"count": 3}})).await.expect(202);
    let refused = h.settle(&id, "UPDATE_FAILED").await;
    assert!(refused["statusReason"].as_str().is_some_and(|r| r.contains(provider)), "{refused:#}");
    let listed = h.get(&resources_url, &alice).await.expect(200).json();
    assert_eq!(servers(&listed), 2);
    // The instance the update could not add is listed, in error, as the
    // orchestrator keeps its resource.
    let missing: Vec<&Value> =
        listed["content"].as_array().unwrap().iter().filter(|r| r.get("physicalId").is_none()).collect();
    assert_eq!(missing.len(), 1, "{listed:#}");
    assert_eq!(missing[0]["state"], "ERROR", "{listed:#}");
    h.set_sim(provider, json!({"fail_creates": false})).await;

    // An update of an update, scaling back down.
    h.put(&url, &alice, &json!({"parameters": {"count": 1}})).await.expect(202);
    h.settle(&id, "UPDATE_COMPLETE").await;
    assert_eq!(servers(&h.get(&resources_url, &alice).await.expect(200).json()), 1);
    let template = h.get(&format!("{url}/template"), &alice).await.expect(200).text();
    assert_eq!(template, SCALABLE_TEMPLATE);
    h.delete(&url, &alice).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;
    assert!(h.held_for(&id).await.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_create_in_progress_abandons_and_cleans_it() {
    let h = Harness::start().await;
    let alice = h.alice();
    for p in ["alpha", "beta", "gamma"] {
        h.set_sim(p, json!({"create_latency_ms": 60000})).await;
    }
    let id = h.create(&alice, &json!({"template": catalogue_text("single-vm")})).await;
    // Wait until the provider holds the building servers.
    let deadline = std::time::Instant::now() + common::SETTLE;
    while h.held_for(&id).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the provider never started building {id}");
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    }
    assert_eq!(h.deployment(&id).await["status"], "CREATE_IN_PROGRESS");
    h.delete(&format!("/orchestrator/deployments/{id}"), &alice).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;
    assert!(h.held_for(&id).await.is_empty(), "the abandoned create left resources behind");
    let extra = h.get(&format!("/orchestrator/deployments/{id}/extrainfo"), &alice).await.expect(200).json();
    let states: Vec<&str> =
        extra["attempts"].as_array().unwrap().iter().map(|a| a["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["deleted"], "{extra:#}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_must_stay_under_an_allowed_prefix() {
    let settings = nuvola_app::Settings {
        poll_interval: std::time::Duration::from_millis(20),
        callback_allowed_prefixes: vec!["https://hooks.example.org".into(), "https://ci.example.net/nuvola/".into()],
        ..nuvola_app::Settings::default()
    };
    let h = Harness::with(common::federation(), settings).await;
    let alice = h.alice();
    let before = h.count().await;
    for callback in [
        // Another host that merely starts with the allowed one.
        "https://hooks.example.org.evil.example/steal",
        // The allowed host as user info in front of another host.
        "https://hooks.example.org@169.254.169.254/latest/meta-data",
        "https://hooks.example.org:secret@10.0.0.1/",
        // Another port is another server.
        "https://hooks.example.org:8443/hook",
        "https://ci.example.net/other/hook",
        "http://hooks.example.org/hook",
        // Out of the allowed path by dot segments.
        "https://ci.example.net/nuvola/../other/hook",
        "https://ci.example.net/nuvola/%2E%2E/other/hook",
    ] {
        let mut request = no_fit_request();
        request["callback"] = json!(callback);
        let reply = h.post("/orchestrator/deployments", &alice, &request).await;
        assert_eq!(reply.status.as_u16(), 400, "{callback} was accepted: {}", reply.text());
        assert!(reply.error_message().contains("not allowed"), "{callback}: {}", reply.text());
    }
    assert_eq!(h.count().await, before);
    for callback in
        ["https://hooks.example.org", "https://hooks.example.org/ci/notify?x=1", "https://ci.example.net/nuvola/hook"]
    {
        let mut request = no_fit_request();
        request["callback"] = json!(callback);
        let reply = h.post("/orchestrator/deployments", &alice, &request).await.expect(201).json();
        assert_eq!(reply["callback"], callback);
    }
    h.stop().await;
}
