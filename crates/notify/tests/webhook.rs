//! Signed webhooks reach a real HTTP server (axum on 127.0.0.1:0), which
//! checks them with `webhook::verify` as a subscriber's receiver would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use nuvola_notify::Notifier;
use nuvola_notify::webhook::{self, DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE};
use serde_json::{Value, json};

const SECRET: &str = "whsec-of-the-subscriber";

/// What the receiver saw of each request, and how many to fail first.
#[derive(Default)]
struct Receiver {
    /// (delivery id, verified body or why it was refused), per request.
    seen: Vec<(String, Result<Value, String>)>,
    fail_first: usize,
}

async fn receive(State(r): State<Arc<Mutex<Receiver>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let now = chrono::Utc::now().timestamp_millis();
    let checked = webhook::verify(SECRET, &header(TIMESTAMP_HEADER), &body, &header(SIGNATURE_HEADER), now, TOLERANCE)
        .map_err(|e| e.to_string())
        .map(|()| serde_json::from_slice(&body).unwrap());
    let mut r = r.lock().unwrap();
    let verified = checked.is_ok();
    r.seen.push((header(DELIVERY_HEADER), checked));
    if r.seen.len() <= r.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else if verified {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// A receiver at `http://127.0.0.1:<port>/hooks/...` that fails its first
/// `fail_first` requests with 500.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver { fail_first, ..Receiver::default() }));
    let app = Router::new().route("/hooks/{name}", post(receive)).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/hooks/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, state)
}

#[tokio::test]
async fn a_webhook_is_signed_and_the_receiver_verifies_it() {
    let (base, seen) = receiver(0).await;
    let notifier = Notifier::new(None, vec![], "https://nuvola.example").with_webhook_prefixes(vec![base.clone()]);
    let url = format!("{base}ops");
    notifier.check_webhook(&url).unwrap();
    let event = json!({"event": "incident.created", "incident": {"name": "Bari compute down", "impact": "major"}});

    let outcome = notifier.webhook(&url, SECRET, &event).await;
    assert!(outcome.delivered, "{outcome}");
    assert_eq!((outcome.tries, outcome.to_string()), (1, format!("webhook to {url} answered 204")));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.seen.len(), 1);
    assert_eq!(seen.seen[0].1, Ok(event));
    assert_eq!(seen.seen[0].0.len(), 36, "a delivery id: {:?}", seen.seen[0].0);
}

#[tokio::test]
async fn a_receiver_with_another_secret_refuses_it_and_nuvola_does_not_retry_a_4xx() {
    let (base, seen) = receiver(0).await;
    let notifier = Notifier::new(None, vec![], "").with_webhook_prefixes(vec![base.clone()]);
    let outcome = notifier.webhook(&format!("{base}ops"), "not-the-secret", &json!({"event": "x"})).await;
    assert!(!outcome.delivered);
    assert_eq!(outcome.tries, 1, "{outcome}");
    assert!(outcome.detail.ends_with("answered 401"), "{outcome}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.seen[0].1, Err("X-Nuvola-Signature does not match the body and the secret".into()));
}

#[tokio::test]
async fn a_delivery_is_tried_again_after_a_500_with_the_same_id_signed_afresh() {
    let (base, seen) = receiver(2).await;
    let url = format!("{base}ops");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let event = json!({"event": "alert.firing", "alerts": 2});
    let outcome = webhook::deliver(&http, &url, SECRET, &event, &[Duration::ZERO; 4]).await;
    assert!(outcome.delivered, "{outcome}");
    assert_eq!(outcome.to_string(), format!("webhook to {url} answered 204 (after 3 tries)"));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.seen.len(), 3);
        let same = seen.seen.iter().all(|(id, body)| id == &seen.seen[0].0 && body.as_ref() == Ok(&event));
        assert!(same, "{:?}", seen.seen);
    }

    // A receiver that keeps failing: every try is made, the last answer told.
    let (base, seen) = receiver(usize::MAX).await;
    let outcome = webhook::deliver(&http, &format!("{base}down"), SECRET, &event, &[Duration::ZERO; 3]).await;
    assert!(!outcome.delivered && outcome.tries == 3 && outcome.detail.ends_with("answered 500"), "{outcome}");
    assert_eq!(seen.lock().unwrap().seen.len(), 3);
}

#[tokio::test]
async fn a_webhook_outside_the_allowed_prefixes_is_refused_and_not_sent() {
    let (base, seen) = receiver(0).await;
    let notifier = Notifier::new(None, vec![], "");
    let err = notifier.check_webhook(&format!("{base}ops")).unwrap_err().to_string();
    assert!(err.contains("webhooks are disabled") && err.contains("notifications.webhook_allowed_prefixes"), "{err}");
    let outcome = notifier.webhook(&format!("{base}ops"), SECRET, &json!({})).await;
    assert_eq!((outcome.delivered, outcome.tries), (false, 0));
    assert!(outcome.detail.starts_with("webhook not sent: webhooks are disabled"), "{outcome}");

    let notifier = notifier.with_webhook_prefixes(vec![format!("{base}ops/")]);
    for bad in [format!("{base}other"), format!("{base}ops/../other"), "file:///etc/passwd".to_string()] {
        assert!(notifier.check_webhook(&bad).is_err(), "{bad}");
        assert_eq!(notifier.webhook(&bad, SECRET, &json!({})).await.tries, 0, "{bad}");
    }
    assert!(seen.lock().unwrap().seen.is_empty());
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let app = Router::new().route(
        "/hooks/moved",
        post(|| async { (StatusCode::FOUND, [("location", "http://169.254.169.254/latest/meta-data")]) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/hooks/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let notifier = Notifier::new(None, vec![], "").with_webhook_prefixes(vec![base.clone()]);
    let outcome = notifier.webhook(&format!("{base}moved"), SECRET, &json!({})).await;
    assert_eq!((outcome.delivered, outcome.tries), (false, 1));
    assert!(outcome.detail.ends_with("answered 302 (redirects are not followed)"), "{outcome}");
}
