//! nuvola as a relying party of a real OIDC provider: the npm package
//! `oidc-provider`, started by `.ci/oidc/start.sh` (sourced by
//! `.ci/services.sh`), which exports `NUVOLA_TEST_OIDC_ISSUER`. Tokens it
//! issues (client credentials, JWT access tokens for `urn:nuvola`, audience
//! `nuvola-test`) are accepted through the API; every kind of bad token is
//! refused with its reason; keys rotate without a restart; opaque tokens
//! are introspected.
//!
//! Without the server these tests print why and pass, except under
//! `CI=true`, where they fail.

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{Harness, no_fit_request};
use nuvola_identity::{EmbeddedIssuer, IssuerConfig, Issuers, OidcIssuer, TokenVerifier};
use serde_json::{Value, json};

/// The test issuer's URL, or `None` (with the reason printed) when it
/// does not run here; under CI it must.
fn issuer_url() -> Option<String> {
    match std::env::var("NUVOLA_TEST_OIDC_ISSUER") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("NUVOLA_TEST_OIDC_ISSUER is not set: .ci/services.sh must start the OIDC provider under CI")
        }
        _ => {
            eprintln!("skipped: NUVOLA_TEST_OIDC_ISSUER is not set (source .ci/services.sh to start oidc-provider)");
            None
        }
    }
}

fn config(url: &str) -> IssuerConfig {
    let mut c = IssuerConfig::new(url, "nuvola-test");
    c.admin_group = Some("admins".into());
    c.manager_suffix = Some("/managers".into());
    c
}

/// A client-credentials access token of `client` for `resource` (none:
/// an opaque token).
async fn client_token(url: &str, client: &str, resource: Option<&str>) -> String {
    let mut form = vec![("grant_type", "client_credentials"), ("scope", "nuvola")];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    let reply: Value = reqwest::Client::new()
        .post(format!("{url}/token"))
        .basic_auth(client, Some("secret"))
        .form(&form)
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("token JSON");
    reply["access_token"].as_str().unwrap_or_else(|| panic!("no access token: {reply}")).to_string()
}

/// A token signed by the test server's key `key` with any header and claims.
async fn forge(url: &str, key: &str, header: Value, claims: Value) -> String {
    let reply: Value = reqwest::Client::new()
        .post(format!("{url}/test/sign"))
        .json(&json!({"key": key, "header": header, "claims": claims}))
        .send()
        .await
        .expect("sign endpoint answers")
        .json()
        .await
        .expect("sign JSON");
    reply["token"].as_str().unwrap_or_else(|| panic!("not signed: {reply}")).to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn payload(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], B64.encode(serde_json::to_vec(claims).unwrap()), parts[2])
}

fn with_header(token: &str, header: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", B64.encode(serde_json::to_vec(header).unwrap()), parts[1], parts[2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_the_real_issuer_are_accepted_through_the_api() {
    let Some(url) = issuer_url() else { return };
    // The embedded issuer is trusted next to the external one here
    // (`identity.embedded = true`): both kinds of token work.
    let embedded = EmbeddedIssuer::from_seed([42; 32], common::ISSUER);
    let issuers = Issuers::new(Some(embedded), vec![OidcIssuer::new(config(&url))]);
    let h = Harness::trusting(Arc::new(issuers)).await;

    let alice = client_token(&url, "alice-svc", Some("urn:nuvola")).await;
    let me = h.get("/api/v1/whoami", &alice).await.expect(200).json();
    assert_eq!((me["subject"].as_str(), me["issuer"].as_str()), (Some("alice-svc"), Some(url.as_str())), "{me}");
    assert_eq!(me["groups"], json!(["physics"]));
    assert_eq!(me["admin"], json!(false));

    // ES256 keys work too.
    let alice_ec = client_token(&url, "alice-svc", Some("urn:nuvola:es")).await;
    assert_eq!(h.get("/api/v1/whoami", &alice_ec).await.expect(200).json()["subject"], "alice-svc");

    // The admin group makes an administrator.
    let root = client_token(&url, "root-svc", Some("urn:nuvola")).await;
    assert_eq!(h.get("/api/v1/whoami", &root).await.expect(200).json()["admin"], json!(true));
    h.get("/api/v1/admin/sim", &root).await.expect(200);
    h.get("/api/v1/admin/sim", &alice).await.expect(403);

    // A deployment made with the external token belongs to that identity.
    let id = h.create(&alice, &no_fit_request()).await;
    let d = h.get(&format!("/orchestrator/deployments/{id}"), &alice).await.expect(200).json();
    assert_eq!(d["createdBy"], json!({"subject": "alice-svc", "issuer": url}));
    assert_eq!(d["userGroup"], "physics");
    // The embedded issuer's alice is someone else.
    h.get(&format!("/orchestrator/deployments/{id}"), &h.alice()).await.expect(404);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_issuer_is_not_trusted_next_to_an_external_one_unless_enabled() {
    let Some(url) = issuer_url() else { return };
    let h = Harness::trusting(Arc::new(Issuers::new(None, vec![OidcIssuer::new(config(&url))]))).await;
    let reply = h.get("/api/v1/whoami", &h.alice()).await.expect(401);
    let message = reply.error_message();
    assert!(message.contains("issuer nuvola is not trusted") && message.contains(&url), "{message}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_with_the_reason() {
    let Some(url) = issuer_url() else { return };
    let h = Harness::trusting(Arc::new(Issuers::new(None, vec![OidcIssuer::new(config(&url))]))).await;
    let good = client_token(&url, "alice-svc", Some("urn:nuvola")).await;
    let claims = payload(&good);
    let header: Value = serde_json::from_slice(&B64.decode(good.split('.').next().unwrap()).unwrap()).unwrap();
    let claims_with = |extra: Value| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    };

    let wrong_issuer = forge(&url, "rsa", json!({}), claims_with(json!({"iss": "https://evil.example"}))).await;
    let wrong_audience = client_token(&url, "alice-svc", Some("urn:other")).await;
    let expired = forge(&url, "rsa", json!({}), claims_with(json!({"iat": now() - 7200, "exp": now() - 3600}))).await;
    let not_yet = forge(&url, "rsa", json!({}), claims_with(json!({"nbf": now() + 3600}))).await;
    let bad_signature = {
        let (rest, signature) = good.rsplit_once('.').unwrap();
        let mut bytes = B64.decode(signature).unwrap();
        bytes[10] ^= 0x40;
        format!("{rest}.{}", B64.encode(bytes))
    };
    let alg_none = {
        let unsigned = with_header(&good, &json!({"alg": "none", "typ": "at+jwt"}));
        format!("{}.", unsigned.rsplit_once('.').unwrap().0)
    };
    let hmac = with_header(&good, &json!({"alg": "HS256", "kid": header["kid"]}));
    let other_alg = with_header(&good, &json!({"alg": "ES256", "kid": header["kid"]}));
    let unknown_key = forge(&url, "stray", json!({}), claims.clone()).await;
    let tampered_groups = with_payload(&good, &claims_with(json!({"groups": ["physics", "admins"]})));
    let no_subject = forge(&url, "rsa", json!({}), {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove("sub");
        c.as_object_mut().unwrap().remove("client_id");
        c
    })
    .await;
    let cases = [
        ("wrong issuer", wrong_issuer, "issuer https://evil.example is not trusted"),
        ("wrong audience", wrong_audience, "audience other-service is not nuvola-test"),
        ("expired", expired, "expired"),
        ("not yet valid", not_yet, "not valid yet"),
        ("bad signature", bad_signature, "signature does not match"),
        ("alg none", alg_none, "alg none"),
        ("HMAC with the public key", hmac, "algorithm HS256 is not accepted"),
        ("algorithm not the key's", other_alg, "algorithm ES256 does not match the issuer's key"),
        ("key not in the JWKS", unknown_key, "is not in the JWKS"),
        ("tampered groups claim", tampered_groups, "signature does not match"),
        ("no subject", no_subject, "names no subject"),
        ("garbage", "not-a-token".to_string(), "not a JWT"),
    ];
    for (what, token, expected) in cases {
        let reply = h.get("/api/v1/whoami", &token).await;
        assert_eq!(reply.status.as_u16(), 401, "{what}: {}", reply.text());
        let message = reply.error_message();
        assert!(message.contains(expected), "{what}: {message:?} should mention {expected:?}");
    }
    // The untouched token passes.
    h.get("/api/v1/whoami", &good).await.expect(200);
    h.stop().await;
}

#[tokio::test]
async fn a_real_token_past_its_lifetime_is_refused() {
    let Some(url) = issuer_url() else { return };
    let mut c = config(&url);
    c.clock_skew_secs = 0;
    let issuer = Issuers::new(None, vec![OidcIssuer::new(c)]);
    // `urn:nuvola:short` tokens live one second.
    let token = client_token(&url, "alice-svc", Some("urn:nuvola:short")).await;
    issuer.verify(&token).await.expect("fresh token");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let err = issuer.verify(&token).await.unwrap_err().to_string();
    assert!(err.contains("expired"), "{err}");
}

#[tokio::test]
async fn rotated_keys_are_fetched_without_a_restart_at_most_once_per_interval() {
    let Some(url) = issuer_url() else { return };
    let eager = {
        let mut c = config(&url);
        c.key_refresh_secs = 0;
        Issuers::new(None, vec![OidcIssuer::new(c)])
    };
    let lazy = {
        let mut c = config(&url);
        c.key_refresh_secs = 3600;
        Issuers::new(None, vec![OidcIssuer::new(c)])
    };
    let good = client_token(&url, "alice-svc", Some("urn:nuvola")).await;
    // Both fetch and cache the JWKS.
    eager.verify(&good).await.unwrap();
    lazy.verify(&good).await.unwrap();
    // The issuer publishes a new key and signs with it.
    let rotated: Value =
        reqwest::Client::new().post(format!("{url}/test/rotate")).send().await.unwrap().json().await.unwrap();
    let kid = rotated["kid"].as_str().unwrap();
    let token = forge(&url, "newest", json!({}), payload(&good)).await;
    let p = eager.verify(&token).await.expect("the unknown kid refetched the JWKS");
    assert_eq!(p.subject, "alice-svc");
    // The rate limit keeps the other from refetching so soon.
    let err = lazy.verify(&token).await.unwrap_err().to_string();
    assert!(err.contains(kid) && err.contains("is not in the JWKS"), "{err}");
}

#[tokio::test]
async fn opaque_tokens_are_checked_by_introspection() {
    let Some(url) = issuer_url() else { return };
    let opaque = client_token(&url, "alice-opaque", None).await;
    assert_eq!(opaque.split('.').count(), 1, "expected an opaque token: {opaque}");
    // Without client credentials nuvola cannot ask about it.
    let plain = Issuers::new(None, vec![OidcIssuer::new(config(&url))]);
    let err = plain.verify(&opaque).await.unwrap_err().to_string();
    assert!(err.contains("not a JWT"), "{err}");
    let mut c = config(&url);
    c.client_id = Some("nuvola-server".into());
    c.client_secret = Some("server-secret".into());
    let introspecting = Issuers::new(None, vec![OidcIssuer::new(c)]);
    let p = introspecting.verify(&opaque).await.expect("introspected");
    assert_eq!((p.subject.as_str(), p.groups.as_slice()), ("alice-opaque", &["physics".to_string()][..]));
    let err = introspecting.verify("made-up-token").await.unwrap_err().to_string();
    assert!(err.contains("not active"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_outlives_the_token_it_was_made_with() {
    let Some(url) = issuer_url() else { return };
    let mut c = config(&url);
    c.clock_skew_secs = 0;
    let embedded = EmbeddedIssuer::from_seed([42; 32], common::ISSUER);
    let h = Harness::trusting(Arc::new(Issuers::new(Some(embedded), vec![OidcIssuer::new(c)]))).await;
    // Building takes longer than the token lives (`urn:nuvola:short`: 1 s).
    for provider in ["alpha", "beta", "gamma"] {
        h.set_sim(provider, json!({"create_latency_ms": 3000})).await;
    }
    let short = client_token(&url, "alice-svc", Some("urn:nuvola:short")).await;
    let id = h.create(&short, &json!({"template": common::catalogue_text("single-vm")})).await;
    // The workers never use the user's token: the deployment completes
    // after it has expired...
    let d = h.settle(&id, "CREATE_COMPLETE").await;
    let lifetime = payload(&short)["exp"].as_i64().unwrap();
    assert!(now() > lifetime + 1, "the deployment finished before the token expired");
    let refused = h.get(&format!("/orchestrator/deployments/{id}"), &short).await.expect(401);
    assert!(refused.error_message().contains("expired"));
    assert_eq!(d["createdBy"]["subject"], "alice-svc");
    // ... and its owner deletes it with a fresh token.
    let fresh = client_token(&url, "alice-svc", Some("urn:nuvola")).await;
    h.delete(&format!("/orchestrator/deployments/{id}"), &fresh).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;
    h.stop().await;
}
