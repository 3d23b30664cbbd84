//! Who may call what: the health check, bearer-token authentication with a
//! reason for every refusal, the documented routes (OpenAPI) all existing,
//! and a table of every endpoint × {no token, owner, other member, admin}.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, header};
use common::{BASE, Harness, ISSUER, no_fit_request};
use nuvola_app::identity::{AUDIENCE, Claims};
use serde_json::{Value, json};

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_ascii_uppercase().as_bytes()).expect("HTTP method")
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
        let path = route.path.replace("{id}", &id).replace("{provider}", "alpha");
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
    assert_eq!(open, ["/healthz", "/api/v1/openapi.json"]);
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
        };
        f(&mut c);
        c
    };
    let other_key = nuvola_app::EmbeddedIssuer::from_seed([9; 32], ISSUER).issue("alice", &[], false, 3600).unwrap();
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
        let path = route.path.replace("{id}", &id).replace("{provider}", "alpha");
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
/// {no token, the owner, another member of the same group, an admin}.
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    expect: [u16; 4],
}

fn row(method: Method, path: impl Into<String>, body: Option<Value>, expect: [u16; 4]) -> Row {
    Row { method, path: path.into(), body, expect }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_table() {
    let h = Harness::start().await;
    let (alice, bob, admin) = (h.alice(), h.bob(), h.admin());
    // A deployment of alice's that is running, so that every read works.
    let running = h.create(&alice, &json!({"template": common::catalogue_text("single-vm")})).await;
    h.settle(&running, "CREATE_COMPLETE").await;
    let d = format!("/orchestrator/deployments/{running}");
    let n = format!("/api/v1/deployments/{running}");
    let new_native = json!({"catalogueId": "gpu-vm", "parameters": {"gpu_model": "A100"}, "userGroup": "physics"});
    let mut new_orchestrator = no_fit_request();
    new_orchestrator["userGroup"] = json!("physics");
    use Method as M;
    let rows = vec![
        row(M::GET, "/healthz", None, [200, 200, 200, 200]),
        row(M::GET, "/api/v1/openapi.json", None, [200, 200, 200, 200]),
        row(M::GET, "/api/v1/whoami", None, [401, 200, 200, 200]),
        row(M::GET, "/api/v1/catalogue", None, [401, 200, 200, 200]),
        row(M::GET, "/api/v1/catalogue/single-vm", None, [401, 200, 200, 200]),
        row(M::GET, "/api/v1/providers", None, [401, 200, 200, 200]),
        row(M::GET, "/orchestrator/deployments", None, [401, 200, 200, 200]),
        row(M::GET, "/api/v1/deployments", None, [401, 200, 200, 200]),
        // Creating: any member, and an admin acting for a group.
        row(M::POST, "/orchestrator/deployments", Some(new_orchestrator), [401, 201, 201, 201]),
        row(M::POST, "/api/v1/deployments", Some(new_native), [401, 201, 201, 201]),
        // Reading one deployment: its owner and admins; others get 404.
        row(M::GET, d.clone(), None, [401, 200, 404, 200]),
        row(M::GET, format!("{d}/template"), None, [401, 200, 404, 200]),
        row(M::GET, format!("{d}/log"), None, [401, 200, 404, 200]),
        row(M::GET, format!("{d}/extrainfo"), None, [401, 200, 404, 200]),
        row(M::GET, format!("{d}/resources"), None, [401, 200, 404, 200]),
        row(M::GET, n.clone(), None, [401, 200, 404, 200]),
        row(M::GET, format!("{n}/log"), None, [401, 200, 404, 200]),
        // Changing it: the owner and admins reach the business rules (a
        // PATCH of a running deployment is 409, an update with timeoutMins
        // 0 is 400); others get 404.
        row(M::PATCH, d.clone(), Some(json!({"status": "DELETE_FAILED"})), [401, 409, 404, 409]),
        row(M::PUT, d.clone(), Some(json!({"timeoutMins": 0})), [401, 400, 404, 400]),
        // Operators' endpoints.
        row(M::GET, "/api/v1/admin/inventory", None, [401, 403, 403, 200]),
        row(M::GET, "/api/v1/admin/sim", None, [401, 403, 403, 200]),
        row(M::PUT, "/api/v1/admin/sim/alpha", Some(json!({})), [401, 403, 403, 200]),
        // Deleting last: the owner's delete is accepted, the admin's then
        // finds it already being deleted (or deleted).
        row(M::DELETE, d.clone(), None, [401, 204, 404, 409]),
    ];
    // The columns in the order they run: no token, other member, owner,
    // admin, so that the owner's delete comes before the admin's.
    let callers: [(usize, Option<&str>, &str); 4] = [
        (0, None, "no token"),
        (2, Some(&bob), "other member"),
        (1, Some(&alice), "owner"),
        (3, Some(&admin), "admin"),
    ];
    let mut failures = Vec::new();
    for r in &rows {
        for (column, token, who) in callers {
            let reply = h.call(r.method.clone(), &r.path, token, r.body.as_ref()).await;
            let expected = r.expect[column];
            if reply.status.as_u16() != expected {
                failures.push(format!(
                    "{} {} as {who}: {} (expected {expected}): {}",
                    r.method,
                    r.path,
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
