//! Who may call what: the health check, bearer-token authentication with a
//! reason for every refusal, the documented routes (OpenAPI) all existing,
//! and a table of every endpoint × {no token, owner, other member, admin}.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, header};
use common::{BASE, Harness, ISSUER, no_fit_request};
use nuvola_identity::{AUDIENCE, Claims};
use serde_json::{Value, json};

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_ascii_uppercase().as_bytes()).expect("HTTP method")
}

/// A documented path with its parameters filled in: `id`, a provider, a
/// group and a status page component of the test federation.
fn filled(path: &str, id: &str) -> String {
    path.replace("{id}", id)
        .replace("{provider}", "alpha")
        .replace("{group}", "physics")
        .replace("{component}", "clouds/alpha")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_needs_no_token() {
    let h = Harness::start().await;
    let reply = h.call(Method::GET, "/healthz", None, None).await.expect(200);
    assert_eq!(reply.json()["status"], "ok");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_endpoint_needs_a_bearer_token() {
    let h = Harness::start().await;
    let id = uuid::Uuid::new_v4().to_string();
    for route in nuvola_api::openapi::ROUTES.iter().filter(|r| r.auth) {
        let path = filled(route.path, &id);
        let body = route.body.map(|_| json!({}));
        let reply = h.call(method(route.method), &path, None, body.as_ref()).await;
        assert_eq!(reply.status.as_u16(), 401, "{} {path}: {}", route.method, reply.text());
        assert_eq!(
            reply.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{} {path}",
            route.method
        );
        let message = reply.error_message();
        assert!(message.contains("missing bearer token"), "{} {path}: {message}", route.method);
    }
    // Routes that need no token say so in the table too.
    let open: Vec<&str> = nuvola_api::openapi::ROUTES.iter().filter(|r| !r.auth).map(|r| r.path).collect();
    assert_eq!(
        open,
        [
            "/healthz",
            "/api/v1/openapi.json",
            "/api/v2/summary.json",
            "/api/v2/status.json",
            "/api/v2/incidents.json",
            "/api/v2/scheduled-maintenances.json",
            "/api/v2/components.json"
        ]
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_with_the_reason() {
    let h = Harness::start().await;
    let now = chrono_now();
    let claims = |f: &dyn Fn(&mut Claims)| {
        let mut c = Claims {
            iss: ISSUER.into(),
            sub: "alice".into(),
            aud: AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + 3600,
            groups: vec!["physics".into()],
            admin: false,
            email: None,
            email_verified: None,
        };
        f(&mut c);
        c
    };
    let other_key =
        nuvola_identity::EmbeddedIssuer::from_seed([9; 32], ISSUER).issue("alice", &[], false, 3600).unwrap();
    let expired = h.sign(&claims(&|c| {
        c.iat = now - 7200;
        c.nbf = now - 7200;
        c.exp = now - 3600;
    }));
    let foreign_issuer = h.sign(&claims(&|c| c.iss = "https://evil.example".into()));
    let wrong_audience = h.sign(&claims(&|c| c.aud = "someone-else".into()));
    let not_yet = h.sign(&claims(&|c| c.nbf = now + 3600));
    let cases: Vec<(String, &str)> = vec![
        ("Bearer garbage".into(), "not a JWT"),
        ("Bearer a.b.c".into(), "does not decode"),
        (format!("Bearer {other_key}"), "signature does not match"),
        (format!("Bearer {expired}"), "expired"),
        (format!("Bearer {foreign_issuer}"), "is not trusted"),
        (format!("Bearer {wrong_audience}"), "audience"),
        (format!("Bearer {not_yet}"), "not valid yet"),
        (format!("Basic {}", "YWxpY2U6c2VjcmV0"), "Bearer"),
    ];
    for (authorization, expected) in cases {
        let request =
            Request::get("/api/v1/whoami").header(header::AUTHORIZATION, &authorization).body(Body::empty()).unwrap();
        let reply = h.send(request).await;
        assert_eq!(reply.status.as_u16(), 401, "{authorization}: {}", reply.text());
        assert_eq!(reply.headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        let message = reply.error_message();
        assert!(message.contains(expected), "{authorization}: {message:?} should mention {expected:?}");
    }
    // The same claims, properly signed, are accepted.
    let good = h.sign(&claims(&|_| {}));
    let me = h.get("/api/v1/whoami", &good).await.expect(200).json();
    assert_eq!(me["subject"], "alice");
    h.stop().await;
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_only_routes_that_exist() {
    let h = Harness::start().await;
    let doc = h.call(Method::GET, "/api/v1/openapi.json", None, None).await.expect(200).json();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");
    assert_eq!(doc["servers"][0]["url"], BASE, "links and the document use the public URL without a trailing slash");
    let admin = h.admin();
    let id = uuid::Uuid::new_v4().to_string();
    for route in nuvola_api::openapi::ROUTES {
        // The document lists the route.
        assert!(
            doc["paths"][route.path][route.method].is_object(),
            "{} {} missing from the document",
            route.method,
            route.path
        );
        if let Some(schema) = route.body {
            assert!(doc["components"]["schemas"][schema].is_object(), "schema {schema} missing");
        }
        // And the router has it.
        let path = filled(route.path, &id);
        let body = route.body.map(|_| json!({}));
        let reply = h.call(method(route.method), &path, Some(&admin), body.as_ref()).await;
        assert_ne!(reply.status.as_u16(), 405, "{} {path} is documented but not routed", route.method);
        if reply.status.as_u16() == 404 {
            let message = reply.error_message();
            assert!(!message.contains("no such endpoint"), "{} {path} is documented but not routed", route.method);
        }
    }
    // An undocumented path is the API's own 404.
    let reply = h.get("/orchestrator/nothing-here", &admin).await.expect(404);
    assert!(reply.error_message().contains("no such endpoint"));
    h.stop().await;
}

/// One row of the access table: a request and the status expected for
/// each role, in the order of [`ROLES`].
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    expect: [u16; 6],
}

/// The columns: no token, the deployment's owner (alice, physics), another
/// member of physics (bob), physics' manager (dave), a member of bio only
/// (erin), a platform admin (root).
const ROLES: [&str; 6] = ["no token", "owner", "member", "manager", "outsider", "admin"];

fn row(method: Method, path: impl Into<String>, body: Option<Value>, expect: [u16; 6]) -> Row {
    Row { method, path: path.into(), body, expect }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_table() {
    let h = Harness::start().await;
    let tokens = [None, Some(h.alice()), Some(h.bob()), Some(h.manager()), Some(h.outsider()), Some(h.admin())];
    let alice = tokens[1].clone().unwrap();
    // The status page's components, for its operators' endpoints.
    h.app.watch_round().await.unwrap();
    // A deployment of alice's that is running, so that every read works.
    let running = h.create(&alice, &json!({"template": common::catalogue_text("single-vm")})).await;
    h.settle(&running, "CREATE_COMPLETE").await;
    let d = format!("/orchestrator/deployments/{running}");
    let n = format!("/api/v1/deployments/{running}");
    let new_native = json!({"catalogueId": "gpu-vm", "parameters": {"gpu_model": "A100"}, "userGroup": "physics"});
    let mut new_orchestrator = no_fit_request();
    new_orchestrator["userGroup"] = json!("physics");
    use Method as M;
    let all = |code: u16| [code; 6];
    let signed_in = |code: u16| [401, code, code, code, code, code];
    let rows = vec![
        row(M::GET, "/healthz", None, all(200)),
        row(M::GET, "/api/v1/openapi.json", None, all(200)),
        row(M::GET, "/api/v1/whoami", None, signed_in(200)),
        row(M::GET, "/api/v1/catalogue", None, signed_in(200)),
        row(M::GET, "/api/v1/catalogue/single-vm", None, signed_in(200)),
        row(M::GET, "/api/v1/providers", None, signed_in(200)),
        row(M::GET, "/orchestrator/deployments", None, signed_in(200)),
        row(M::GET, "/api/v1/deployments", None, signed_in(200)),
        // Creating for physics: its members and an admin; not a member of bio.
        row(M::POST, "/orchestrator/deployments", Some(new_orchestrator), [401, 201, 201, 201, 403, 201]),
        row(M::POST, "/api/v1/deployments", Some(new_native), [401, 201, 201, 201, 403, 201]),
        // Reading one deployment: its owner, the group's manager and admins;
        // others get 404 (the group's default: members see their own only).
        row(M::GET, d.clone(), None, [401, 200, 404, 200, 404, 200]),
        row(M::GET, format!("{d}/template"), None, [401, 200, 404, 200, 404, 200]),
        row(M::GET, format!("{d}/log"), None, [401, 200, 404, 200, 404, 200]),
        row(M::GET, format!("{d}/extrainfo"), None, [401, 200, 404, 200, 404, 200]),
        row(M::GET, format!("{d}/resources"), None, [401, 200, 404, 200, 404, 200]),
        row(M::GET, n.clone(), None, [401, 200, 404, 200, 404, 200]),
        row(M::GET, format!("{n}/log"), None, [401, 200, 404, 200, 404, 200]),
        row(M::GET, format!("{n}/endpoints"), None, [401, 200, 404, 200, 404, 200]),
        // The owner's mails about its endpoints: those who may change it.
        row(M::PUT, format!("{n}/endpoints/notify"), Some(json!({"notify": false})), [401, 200, 404, 200, 404, 200]),
        // Changing it: those who may reach the business rules (a PATCH of
        // a running deployment is 409, an update with timeoutMins 0 is 400).
        row(M::PATCH, d.clone(), Some(json!({"status": "DELETE_FAILED"})), [401, 409, 404, 409, 404, 409]),
        row(M::PUT, d.clone(), Some(json!({"timeoutMins": 0})), [401, 400, 404, 400, 404, 400]),
        row(M::PATCH, n.clone(), Some(json!({"timeoutMins": 0})), [401, 400, 404, 400, 404, 400]),
        // Group settings: members read, managers and admins change.
        row(M::GET, "/api/v1/groups/physics/settings", None, [401, 200, 200, 200, 403, 200]),
        row(
            M::PUT,
            "/api/v1/groups/physics/settings",
            Some(json!({"membersSeeGroup": false})),
            [401, 403, 403, 200, 403, 200],
        ),
        // Access requests: anyone signed in asks (erin is in bio already)
        // and lists their own.
        row(
            M::POST,
            "/api/v1/requests",
            Some(json!({"kind": "group", "target": "bio", "reason": "joint analysis"})),
            [401, 201, 201, 201, 409, 201],
        ),
        row(M::GET, "/api/v1/requests", None, signed_in(200)),
        // Operators' endpoints.
        row(M::GET, "/api/v1/admin/inventory", None, [401, 403, 403, 403, 403, 200]),
        row(M::GET, "/api/v1/admin/orphans", None, [401, 403, 403, 403, 403, 200]),
        row(M::POST, "/api/v1/admin/orphans/clean", Some(json!({})), [401, 403, 403, 403, 403, 200]),
        row(M::GET, "/api/v1/admin/sim", None, [401, 403, 403, 403, 403, 200]),
        row(M::PUT, "/api/v1/admin/sim/alpha", Some(json!({})), [401, 403, 403, 403, 403, 200]),
        row(M::GET, "/api/v1/admin/audit", None, [401, 403, 403, 403, 403, 200]),
        row(M::GET, "/api/v1/admin/federation", None, [401, 403, 403, 403, 403, 200]),
        // Deleting last: the owner's delete is accepted, the manager's and
        // the admin's then find it already being deleted (or deleted).
        row(M::DELETE, d.clone(), None, [401, 204, 404, 409, 404, 409]),
        // The acceptable-use policy: none yet; only admins publish one.
        row(M::GET, "/api/v1/policy", None, [401, 404, 404, 404, 404, 404]),
        row(M::POST, "/api/v1/policy/accept", Some(json!({"version": 1})), [401, 404, 404, 404, 404, 404]),
        row(M::PUT, "/api/v1/admin/policy", Some(json!({"text": "Be nice."})), [401, 403, 403, 403, 403, 200]),
        // The status page: anyone signed in reads, admins change.
        row(M::GET, "/api/v1/status/incidents", None, signed_in(200)),
        row(M::GET, "/api/v1/status/components", None, signed_in(200)),
        row(
            M::POST,
            "/api/v1/status/incidents",
            Some(json!({"title": "alpha is slow", "message": "Looking"})),
            [401, 403, 403, 403, 403, 201],
        ),
        row(
            M::PUT,
            "/api/v1/status/overrides/clouds/alpha",
            Some(json!({"state": "degraded_performance"})),
            [401, 403, 403, 403, 403, 200],
        ),
        row(M::DELETE, "/api/v1/status/overrides/clouds/alpha", None, [401, 403, 403, 403, 403, 200]),
    ];
    // The order the columns run in: the owner's delete before the manager's and admin's.
    let order = [0, 2, 4, 1, 3, 5];
    let mut failures = Vec::new();
    for r in &rows {
        for column in order {
            let reply = h.call(r.method.clone(), &r.path, tokens[column].as_deref(), r.body.as_ref()).await;
            let expected = r.expect[column];
            if reply.status.as_u16() != expected {
                failures.push(format!(
                    "{} {} as {}: {} (expected {expected}): {}",
                    r.method,
                    r.path,
                    ROLES[column],
                    reply.status,
                    reply.text()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "access table mismatches:\n{}", failures.join("\n"));
    h.settle(&running, "DELETE_COMPLETE").await;
    h.stop().await;
}

/// Every route that names a deployment, with `{id}` filled in.
fn deployment_routes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    nuvola_api::openapi::ROUTES
        .iter()
        .filter(|r| r.path.contains("/deployments/{id}"))
        .map(|r| {
            let body = match (r.method, r.body) {
                ("patch", _) if r.path.starts_with("/orchestrator") => Some(json!({"status": "DELETE_FAILED"})),
                ("patch", _) => Some(json!({"parameters": {"num_cpus": 1}})),
                ("put", _) if r.path.ends_with("/endpoints/notify") => Some(json!({"notify": false})),
                (_, Some(_)) => Some(json!({})),
                _ => None,
            };
            (method(r.method), r.path.replace("{id}", id), body)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_group_never_reaches_a_deployment_on_any_endpoint() {
    let h = Harness::start().await;
    let (alice, bob, dave, erin, admin) = (h.alice(), h.bob(), h.manager(), h.outsider(), h.admin());
    let id = h.create(&alice, &json!({"template": common::catalogue_text("single-vm")})).await;
    h.settle(&id, "CREATE_COMPLETE").await;
    // Even with physics' members seeing the group's deployments...
    h.put("/api/v1/groups/physics/settings", &dave, &json!({"membersSeeGroup": true})).await.expect(200);

    // ... a member of bio gets 404 on every endpoint that names it,
    let routes = deployment_routes(&id);
    assert!(routes.len() >= 10, "{} deployment routes", routes.len());
    for (m, path, body) in &routes {
        let reply = h.call(m.clone(), path, Some(&erin), body.as_ref()).await;
        assert_eq!(reply.status.as_u16(), 404, "{m} {path} as erin: {}", reply.text());
    }
    // never finds it in a listing, however filtered,
    for path in [
        "/orchestrator/deployments".to_string(),
        "/api/v1/deployments".to_string(),
        "/orchestrator/deployments?userGroup=physics".to_string(),
        format!("/orchestrator/deployments?createdBy=alice@{}", common::ISSUER),
        "/api/v1/deployments?userGroup=physics".to_string(),
    ] {
        let reply = h.get(&path, &erin).await;
        assert!(!reply.text().contains(&id), "{path} shows it to erin: {}", reply.text());
        if reply.status.as_u16() == 200 && path.starts_with("/orchestrator") {
            assert_eq!(reply.json()["page"]["totalElements"], 0, "{path} counts it for erin");
        }
    }
    // nor in the audit export.
    h.get("/api/v1/admin/audit?format=csv", &erin).await.expect(403);

    // A member of physics now reads it and finds it listed, but cannot change it.
    h.get(&format!("/orchestrator/deployments/{id}"), &bob).await.expect(200);
    let listed = h.get("/orchestrator/deployments", &bob).await.expect(200).json();
    assert!(listed["content"].as_array().unwrap().iter().any(|d| d["uuid"] == id), "{listed}");
    let refused = h.delete(&format!("/orchestrator/deployments/{id}"), &bob).await.expect(403);
    assert!(refused.error_message().contains("manager of group physics"), "{}", refused.text());
    // With the setting off again, bob no longer sees it.
    h.put("/api/v1/groups/physics/settings", &admin, &json!({"membersSeeGroup": false})).await.expect(200);
    h.get(&format!("/orchestrator/deployments/{id}"), &bob).await.expect(404);
    let listed = h.get("/orchestrator/deployments", &bob).await.expect(200).json();
    assert!(!listed.to_string().contains(&id));

    // The group's manager may delete it.
    h.delete(&format!("/orchestrator/deployments/{id}"), &dave).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;

    // Every change is in the audit log, with who and what.
    let audit = h.get("/api/v1/admin/audit", &admin).await.expect(200).json();
    let actions: Vec<(String, String)> = audit["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["subject"].as_str().unwrap().to_string(), e["action"].as_str().unwrap().to_string()))
        .collect();
    for expected in [
        ("alice", "deployment.create"),
        ("dave", "group.settings"),
        ("root", "group.settings"),
        ("dave", "deployment.delete"),
    ] {
        assert!(actions.iter().any(|(s, a)| (s.as_str(), a.as_str()) == expected), "{expected:?} not in {actions:?}");
    }
    assert!(!actions.iter().any(|(s, _)| s == "bob" || s == "erin"), "refused requests are not recorded: {actions:?}");
    let csv = h.get("/api/v1/admin/audit?format=csv&action=deployment.delete", &admin).await.expect(200);
    assert_eq!(csv.headers.get("content-type").unwrap(), "text/csv; charset=utf-8");
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "seq,at,subject,issuer,action,target,client_ip,detail");
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].contains(&id) && lines[1].contains(",dave,"), "{text}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acceptable_use_policy_is_accepted_before_deploying_and_after_every_change() {
    let h = Harness::start().await;
    let (alice, admin) = (h.alice(), h.admin());
    // No policy: nothing to accept.
    h.get("/api/v1/policy", &alice).await.expect(404);
    h.create(&alice, &no_fit_request()).await;

    for version in [1, 2] {
        let published =
            h.put("/api/v1/admin/policy", &admin, &json!({"text": format!("Terms, version {version}.")})).await;
        assert_eq!(published.expect(200).json()["version"], version);
        let refused = h.post("/orchestrator/deployments", &alice, &no_fit_request()).await.expect(403);
        let message = refused.error_message();
        assert!(message.contains(&format!("acceptable-use policy (version {version})")), "{message}");
        // Also through the native API.
        let native = json!({"catalogueId": "single-vm"});
        h.post("/api/v1/deployments", &alice, &native).await.expect(403);
        let current = h.get("/api/v1/policy", &alice).await.expect(200).json();
        assert_eq!((current["version"].as_i64(), current["acceptedAt"].is_null()), (Some(version), true));
        assert_eq!(current["text"], format!("Terms, version {version}."));
        // Only the current version can be accepted.
        h.post("/api/v1/policy/accept", &alice, &json!({"version": version + 1})).await.expect(409);
        let accepted = h.post("/api/v1/policy/accept", &alice, &json!({"version": version})).await.expect(200);
        assert!(accepted.json()["acceptedAt"].is_string());
        assert!(h.get("/api/v1/policy", &alice).await.expect(200).json()["acceptedAt"].is_string());
        h.create(&alice, &no_fit_request()).await;
    }
    // Publishing and accepting are audited.
    let audit = h.get("/api/v1/admin/audit?action=policy.accept", &admin).await.expect(200).json();
    let targets: Vec<&str> =
        audit["content"].as_array().unwrap().iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["policy/2", "policy/1"]);
    let published = h.get("/api/v1/admin/audit?action=policy.publish", &admin).await.expect(200).json();
    assert_eq!(published["content"].as_array().unwrap().len(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_where_a_change_came_from_and_filters_by_time() {
    let h = Harness::start().await;
    let admin = h.admin();
    let mut request = Request::put("/api/v1/groups/physics/settings")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.manager()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"membersSeeGroup": true}"#))
        .unwrap();
    let peer = std::net::SocketAddr::from(([192, 0, 2, 7], 4711));
    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    h.send(request).await.expect(200);
    let entries = h.get("/api/v1/admin/audit?subject=dave", &admin).await.expect(200).json();
    let entry = &entries["content"][0];
    assert_eq!((entry["action"].as_str(), entry["target"].as_str()), (Some("group.settings"), Some("physics")));
    assert_eq!(entry["clientIp"], "192.0.2.7");
    assert_eq!(entry["detail"]["members_see_group"], true);
    assert_eq!(entry["issuer"], ISSUER);
    // Time filters: nothing before 2000, everything until the far future.
    let none = h.get("/api/v1/admin/audit?until=2000-01-01T00:00:00Z", &admin).await.expect(200).json();
    assert_eq!(none["content"].as_array().unwrap().len(), 0);
    let all = h.get("/api/v1/admin/audit?since=2000-01-01T00:00:00Z", &admin).await.expect(200).json();
    assert_eq!(all["content"].as_array().unwrap().len(), 1);
    let bad = h.get("/api/v1/admin/audit?since=yesterday", &admin).await.expect(400);
    assert!(bad.error_message().contains("RFC 3339"));
    h.get("/api/v1/admin/audit?format=xml", &admin).await.expect(400);
    h.stop().await;
}
