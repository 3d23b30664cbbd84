//! The dashboard attacked, as the security review did: where the browser
//! is sent after sign-in, whose browser a sign-in lands in, how many
//! password checks a client can make, what a flood of unauthenticated
//! sign-in starts leaves behind, and what every response tells the browser
//! to refuse. Requests go through the router without a socket.

mod common;

use axum::http::StatusCode;
use common::{Dashboard, FakeIssuer, local_accounts, principal};
use nuvola_app::{Settings, WebLogin, WebSession};
use nuvola_identity::SignInSettings;

/// `next` values (as they appear in the query string, i.e. what the
/// browser sends) that must never send the browser anywhere but `/`.
const NASTY_NEXT: &[&str] = &[
    // A tab or line break: browsers strip them, `/\t/evil` becomes `//evil`.
    "/%09/evil.example/phish",
    "/%0A/evil.example/phish",
    "/%0D%0A/evil.example",
    "/x%0D%0ASet-Cookie:%20nuvola_session=stolen",
    "/%00/evil.example",
    "/%7F/evil.example",
    // Backslashes read as slashes.
    "/%5C/evil.example",
    "%5C%5Cevil.example",
    "/%5Cevil.example",
    "/%09%5C/evil.example",
    // Protocol-relative, plain and percent-encoded as the browser sends it.
    "//evil.example",
    "/%2F/evil.example",
    "%2F%2Fevil.example",
    "/%252F/evil.example",
    "/%255C/evil.example",
    // Absolute URLs and schemes.
    "https://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    // Unicode whitespace: no-break, em and ideographic spaces, line separator.
    "/%C2%A0/evil.example",
    "/%E2%80%83/evil.example",
    "/%E3%80%80/evil.example",
    "/%E2%80%A8/evil.example",
    "%20/evil.example",
    // Not a path of ours at all, or back to the sign-in pages.
    "deployments",
    "",
    "/login?next=/x",
];

#[tokio::test]
async fn the_page_after_sign_in_is_always_one_of_ours() {
    let d = Dashboard::new(Settings::default()).await;
    let alice = d.sign_in(&principal("alice", &["physics"], &[], false)).await;
    for next in NASTY_NEXT {
        let reply = d.get(&format!("/login?next={next}"), Some(&alice)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "next={next}: {}", reply.body);
        assert_eq!(reply.location(), "/", "next={next}");
    }
    // A local path (with its query) is kept.
    let reply = d.get("/login?next=%2Fdeployments%3Fwhose%3Dall", Some(&alice)).await;
    assert_eq!(reply.location(), "/deployments?whose=all");
}

#[tokio::test]
async fn a_password_sign_in_goes_on_to_one_of_our_pages_only() {
    let d = Dashboard::with_web(Settings::default(), |w| w.accounts = Some(local_accounts(&["alice"]))).await;
    for next in NASTY_NEXT {
        let page = d.get(&format!("/login?next={next}"), None).await;
        assert_eq!(page.status, StatusCode::OK, "next={next}: {}", page.body);
        assert!(page.body.contains(r#"name="next" value="/""#), "next={next}: {}", page.body);
    }
    // Posted straight to the form (a line break here was a 500).
    for next in ["/\t/evil.example", "/x\r\nSet-Cookie: a=b", "/\\evil.example", "//evil.example", "/\u{3000}/x"] {
        let form = [("login_token", "t"), ("name", "alice"), ("password", "alice-password"), ("next", next)];
        let reply = d.post("/login/password", Some("nuvola_login=t"), &form).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "next={next:?}: {}", reply.body);
        assert_eq!(reply.location(), "/", "next={next:?}");
    }
}

#[tokio::test]
async fn every_dashboard_response_tells_the_browser_what_to_refuse() {
    let d = Dashboard::new(Settings::default()).await;
    let admin = d.sign_in(&principal("root", &["physics"], &[], true)).await;
    for (path, cookie) in [
        ("/", Some(admin.as_str())),
        ("/login", None),
        ("/deployments", None),
        ("/deployments", Some(admin.as_str())),
        ("/admin/audit", Some(admin.as_str())),
        ("/stats/active.csv", Some(admin.as_str())),
        ("/static/nuvola.js", None),
        ("/static/nuvola.css", None),
        ("/static/missing", None),
        ("/deployments/no-such-one", Some(admin.as_str())),
    ] {
        let reply = d.get(path, cookie).await;
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_else(|| panic!("{path} ({}) has no {name}", reply.status))
        };
        let csp = header("content-security-policy");
        for directive in ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
    }
}

/// The policy forbids inline script and style: the pages must not need
/// them (the e2e browser tests would show them broken otherwise).
#[tokio::test]
async fn pages_have_no_inline_script_or_style() {
    let d = Dashboard::with_web(Settings::default(), |w| w.accounts = Some(local_accounts(&[]))).await;
    let admin = d.sign_in(&principal("root", &["physics"], &["physics"], true)).await;
    for path in
        ["/", "/login", "/deployments", "/requests", "/admin/providers", "/admin/audit", "/stats", "/stats/active"]
    {
        let page = d.get(path, Some(&admin)).await;
        let body = page.body.to_lowercase();
        assert!(!body.contains(" style=") && !body.contains("<style"), "{path}: {}", page.body);
        assert!(!body.contains("<script>") && !body.contains("javascript:"), "{path}: {}", page.body);
        for handler in [" onclick=", " onload=", " onsubmit=", " onchange=", " onerror="] {
            assert!(!body.contains(handler), "{path}: {handler}");
        }
    }
}

/// The operators' views the app hands the dashboard (providers' health,
/// who deployed for which group) are refused to a member by the app
/// itself, whichever page asks; an administrator reads them.
#[tokio::test]
async fn the_app_keeps_its_operator_views_to_administrators() {
    let d = Dashboard::new(Settings::default()).await;
    let member = principal("alice", &["physics"], &["physics"], false);
    let forbidden = |e: nuvola_types::Error| matches!(e, nuvola_types::Error::Forbidden(_));
    assert!(forbidden(d.app.provider_health(&member).await.unwrap_err()));
    assert!(forbidden(d.app.group_members(&member).await.unwrap_err()));
    let admin = principal("root", &[], &[], true);
    assert!(d.app.provider_health(&admin).await.unwrap().is_empty());
    assert!(d.app.group_members(&admin).await.unwrap().is_empty());
    let page = d.get("/admin/groups", Some(&d.sign_in(&member).await)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
}

/// Signing in forgets the sessions that ran out and the sign-ins that were
/// never finished, so neither piles up in the store.
#[tokio::test]
async fn a_sign_in_forgets_expired_sessions_and_stale_logins() {
    let d = Dashboard::new(Settings::default()).await;
    let expired = WebSession {
        id_hash: "expired".into(),
        principal: "{}".into(),
        active_group: None,
        csrf: "csrf".into(),
        refresh_token: None,
        created_at: 1,
        expires_at: 2,
    };
    d.store.insert_session(&expired).await.unwrap();
    let stale = WebLogin {
        state_hash: "state".into(),
        browser_hash: "browser".into(),
        issuer: "https://issuer.example".into(),
        verifier: "verifier".into(),
        nonce: "nonce".into(),
        return_to: "/".into(),
        client_ip: Some("192.0.2.1".into()),
        created_at: 1,
    };
    d.store.insert_login(&stale).await.unwrap();
    assert!(d.store.session("expired", 0).await.unwrap().is_some());
    assert_eq!(d.store.logins_in_flight("192.0.2.1", 0).await.unwrap().from_client, 1);

    let cookie = d.sign_in(&principal("alice", &["physics"], &[], false)).await;
    assert_eq!(d.get("/deployments", Some(&cookie)).await.status, StatusCode::OK);
    assert!(d.store.session("expired", 0).await.unwrap().is_none());
    assert_eq!(d.store.logins_in_flight("192.0.2.1", 0).await.unwrap().from_client, 0);
}

/// A dashboard whose sign-in button 0 goes to `issuer`.
async fn with_issuer(issuer: &FakeIssuer, settings: Settings) -> Dashboard {
    let config = issuer.config();
    Dashboard::with_web(settings, |w| w.issuers = vec![config]).await
}

/// Login CSRF: Mallory starts a sign-in, signs in at the issuer as himself,
/// and sends the callback link (his code, his state) to Alice instead of
/// following it. Opened in Alice's browser it must not sign her in as him;
/// in the browser that started it, it still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_callback_works_only_in_the_browser_that_started_it() {
    let issuer = FakeIssuer::start().await;
    let d = with_issuer(&issuer, Settings::default()).await;
    let start = d.get("/login/oidc/0?next=/deployments", None).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let mallory_browser = start.cookie("nuvola_oidc");
    let link = issuer.approve(start.location(), "mallory");

    // Alice's browser: no sign-in of its own in flight, then one of its own.
    let refused = d.get(&link, None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.cookie("nuvola_session").is_none(), "Alice was signed in as Mallory");
    assert!(refused.body.contains("not started in this browser"), "{}", refused.body);
    let alice_start = d.get("/login/oidc/0", None).await;
    let alice_browser = alice_start.cookie("nuvola_oidc").expect("a cookie binds the sign-in to the browser");
    let refused = d.get(&link, Some(&alice_browser)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.cookie("nuvola_session").is_none(), "Alice was signed in as Mallory");

    // Mallory's own browser completes it, once.
    let mallory_browser = mallory_browser.expect("a cookie binds the sign-in to the browser");
    let back = d.get(&link, Some(&mallory_browser)).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(back.location(), "/deployments");
    let session = back.cookie("nuvola_session").expect("signed in");
    let page = d.get("/deployments", Some(&session)).await;
    assert!(page.body.contains("mallory"), "{}", page.body);
    let again = d.get(&link, Some(&mallory_browser)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("expired or was already used"), "{}", again.body);
}

/// Anyone may start a sign-in: each start stored a row and fetched the
/// issuer's discovery document. Now the document is fetched once, and the
/// logins in flight are bounded per client address and overall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_starts_are_bounded_and_share_one_discovery_fetch() {
    let issuer = FakeIssuer::start().await;
    let sign_in = SignInSettings { pending_logins_per_client: 4, pending_logins: 6, ..SignInSettings::default() };
    let d = with_issuer(&issuer, Settings { sign_in, ..Settings::default() }).await;
    let (mallory, bob, carol) = ("192.0.2.66:40000", "[2001:db8::1]:40000", "198.51.100.7:40000");
    let mut first = None;
    for _ in 0..4 {
        let start = d.get_from(mallory, "/login/oidc/0", None).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
        first.get_or_insert(start);
    }
    let refused = d.get_from(mallory, "/login/oidc/0", None).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    assert!(refused.body.contains("too many sign-ins started from your address"), "{}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
    assert!(refused.cookie("nuvola_oidc").is_none());
    // Other addresses still may, up to the overall bound; another address
    // of the same IPv6 /64 counts as the same client.
    for address in [bob, "[2001:db8::2]:40000"] {
        assert_eq!(d.get_from(address, "/login/oidc/0", None).await.status, StatusCode::SEE_OTHER);
    }
    assert_eq!(d.store.logins_in_flight("2001:db8:0:0::/64", 0).await.unwrap().from_client, 2);
    let refused = d.get_from(carol, "/login/oidc/0", None).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    assert!(refused.body.contains("too many sign-ins are in progress"), "{}", refused.body);
    let in_flight = d.store.logins_in_flight("192.0.2.66", 0).await.unwrap();
    assert_eq!((in_flight.from_client, in_flight.total), (4, 6));
    assert_eq!(issuer.discoveries.load(std::sync::atomic::Ordering::SeqCst), 1, "one discovery fetch for all");

    // A login that completes frees its place.
    let first = first.unwrap();
    let link = issuer.approve(first.location(), "mallory");
    let back = d.get_from(mallory, &link, first.cookie("nuvola_oidc").as_deref()).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(d.get_from(carol, "/login/oidc/0", None).await.status, StatusCode::SEE_OTHER);
    assert_eq!(issuer.discoveries.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A password sign-in as the form posts it, from the client at `address`.
async fn try_password(d: &Dashboard, address: &str, name: &str, password: &str) -> common::Page {
    let form = [("login_token", "t"), ("name", name), ("password", password)];
    let body = serde_urlencoded::to_string(form).unwrap();
    let request = axum::http::Request::post("/login/password")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", "nuvola_login=t")
        .body(axum::body::Body::from(body))
        .unwrap();
    d.send_from(address, request).await
}

fn limits(per_account: u32, per_client: u32, concurrent: usize) -> Settings {
    let sign_in = SignInSettings {
        attempts_per_account: per_account,
        attempts_per_client: per_client,
        concurrent_password_checks: concurrent,
        ..SignInSettings::default()
    };
    Settings { sign_in, ..Settings::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_attempts_are_limited_per_account_and_per_client() {
    let d = Dashboard::with_web(limits(3, 5, 2), |w| w.accounts = Some(local_accounts(&["alice", "bob"]))).await;
    let mallory = "192.0.2.66:40000";
    // A success does not count against the account.
    assert_eq!(try_password(&d, "198.51.100.1:1", "alice", "alice-password").await.status, StatusCode::SEE_OTHER);
    for _ in 0..3 {
        let reply = try_password(&d, mallory, "alice", "guess").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
    // The fourth is refused before any password is checked, even the
    // right one, from anywhere.
    let hashed = d.app.password_checks().stats().computed;
    assert_eq!(hashed, 4);
    for (address, password) in [(mallory, "guess"), ("198.51.100.1:1", "alice-password")] {
        let reply = try_password(&d, address, "alice", password).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.body);
        assert!(reply.body.contains("too many sign-in attempts, try again in"), "{}", reply.body);
        let wait: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=300).contains(&wait), "{wait}");
    }
    assert_eq!(d.app.password_checks().stats().computed, hashed, "a refused attempt computed a hash");
    // Mallory has two attempts left as a client: on another account.
    for expected in [StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS] {
        assert_eq!(try_password(&d, mallory, "bob", "guess").await.status, expected);
    }
    // Bob himself, from elsewhere, is not locked out by that.
    assert_eq!(try_password(&d, "203.0.113.9:1", "bob", "bob-password").await.status, StatusCode::SEE_OTHER);
}

/// The review's measurement: 24 wrong passwords at once took the server
/// from 85 to 520 MiB, each Argon2 check holding 19 MiB. Now only the
/// account's allowance is checked at all, never more than the bound at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_compute_few_hashes_and_few_at_once() {
    let d = Dashboard::with_web(limits(10, 100, 2), |w| w.accounts = Some(local_accounts(&["alice"]))).await;
    let replies = futures::future::join_all(
        (0..24).map(|i| try_password(&d, "192.0.2.66:40000", "alice", if i == 0 { "guess" } else { "other guess" })),
    )
    .await;
    let count = |status| replies.iter().filter(|r| r.status == status).count();
    assert_eq!((count(StatusCode::UNAUTHORIZED), count(StatusCode::TOO_MANY_REQUESTS)), (10, 14));
    let stats = d.app.password_checks().stats();
    assert_eq!(stats.computed, 10);
    assert!((1..=2).contains(&stats.peak_concurrent), "{stats:?}");
}
