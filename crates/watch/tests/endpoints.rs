//! Users' endpoints checked against real local servers: an axum HTTP
//! server whose answer is switched between 200 and 503, a TLS server with a
//! certificate made by `openssl` for the test (self-signed, ten days to
//! live), a TCP listener and a closed port. Owners' mails go through the
//! real SMTP sink (`NUVOLA_TEST_SMTP`, `NUVOLA_TEST_SMTP_MAILDIR`) and are
//! read back from its maildir. The servers listen on loopback, which the
//! prober reaches only because these tests say so (`Reach::Anywhere`); by
//! default it refuses.

use nuvola_drivers::testing::{mails_mentioning, smtp_sink};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use nuvola_monitor::endpoints::{Check, Reach};
use nuvola_notify::{Notifier, SmtpSettings};
use nuvola_store::{DeploymentRecord, Progress, Store, StoreOptions};
use nuvola_watch::{Watch, WatchSettings};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP server answering every GET with the status held in `status`.
async fn http_server(status: Arc<AtomicU16>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(get(move || {
        let status = status.clone();
        async move { StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap() }
    }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// A self-signed certificate and its key made by `openssl` in `dir`, valid
/// for `days`, and its notAfter as openssl reads it, in ms.
fn certificate(dir: &std::path::Path, days: u32) -> (std::path::PathBuf, std::path::PathBuf, i64) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-subj", "/CN=localhost", "-days", &days.to_string(), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let end = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl runs");
    let text = String::from_utf8(end.stdout).unwrap();
    let when = text.trim().strip_prefix("notAfter=").unwrap_or_else(|| panic!("{text}"));
    let at = chrono::NaiveDateTime::parse_from_str(when, "%Y-%m-%d %H:%M:%SZ").unwrap().and_utc().timestamp_millis();
    (cert, key, at)
}

/// A TLS server with `cert` and `key`, answering 200 to any request.
async fn tls_server(cert: &std::path::Path, key: &std::path::Path) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).unwrap().collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else { return };
                let mut request = [0u8; 1024];
                let _ = tls.read(&mut request).await;
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

struct Scene {
    _dir: tempfile::TempDir,
    store: Store,
    watch: Watch,
    maildir: String,
    /// In every deployment's name here, to find this test's mails.
    token: String,
}

async fn scene(address: String, maildir: String) -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(&url)).await.unwrap();
    let smtp = SmtpSettings { smtp: address, from: "nuvola@nuvola.test".into() };
    let notifier = Notifier::new(Some(smtp), vec![], "https://nuvola.test");
    let settings =
        WatchSettings { endpoint_reach: Reach::Anywhere, bound: Duration::from_secs(5), ..WatchSettings::default() };
    let watch = Watch::new(store.clone(), notifier, settings);
    Scene { _dir: dir, store, watch, maildir, token: uuid::Uuid::new_v4().simple().to_string() }
}

impl Scene {
    /// A ready deployment with `outputs`, owned by someone with an address.
    async fn deployment(&self, id: &str, outputs: serde_json::Value) -> String {
        let name = format!("{id}-{}", self.token);
        let d = DeploymentRecord {
            owner_email: Some("erin@example.org".into()),
            description: Some(name.clone()),
            template: "tosca_definitions_version: tosca_simple_yaml_1_3\n".into(),
            outputs: outputs.as_object().unwrap().clone(),
            provider: Some("backbone-bari".into()),
            ..DeploymentRecord::ready(id, "erin", "https://iam.example", "physics")
        };
        self.store.insert_deployment(&d, &Progress::default()).await.unwrap();
        name
    }
}

const MINUTE: i64 = 60_000;

#[tokio::test]
async fn an_endpoint_down_for_two_rounds_is_mailed_to_its_owner_and_so_is_its_return() {
    let Some((address, maildir)) = smtp_sink() else { return };
    let s = scene(address, maildir).await;
    let status = Arc::new(AtomicU16::new(200));
    let web = http_server(status.clone()).await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, not_after) = certificate(certs.path(), 10);
    let secure = tls_server(&cert, &key).await;
    let ssh = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = closed_port().await;
    let name = s
        .deployment(
            "nb-1",
            json!({
                "web": format!("http://127.0.0.1:{web}/hub/login?next=%2F"),
                "secure": format!("https://localhost:{secure}/"),
                "ssh": format!("127.0.0.1:{}", ssh.local_addr().unwrap().port()),
                "gone": format!("127.0.0.1:{gone}"),
                "password": "s3cret",
            }),
        )
        .await;
    let prober = s.watch.endpoints();
    let t0 = 1_800_000_000_000;

    let first = prober.round(t0).await.unwrap();
    assert!(first.transitions.is_empty(), "{:?}", first.transitions);
    let checks = s.store.endpoint_checks("nb-1").await.unwrap();
    let seen: Vec<(&str, bool, &str)> = checks.iter().map(|c| (c.output.as_str(), c.up, c.detail.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("gone", false, "connection refused"),
            ("secure", true, "HTTP 200"),
            ("ssh", true, &format!("TCP connect to {}", ssh.local_addr().unwrap())[..]),
            ("web", true, "HTTP 200"),
        ]
    );
    let tls = checks.iter().find(|c| c.output == "secure").unwrap();
    assert_eq!(tls.cert_expires_at, Some(not_after), "the self-signed certificate's notAfter, as openssl reads it");
    let days = nuvola_monitor::endpoints::days_left(not_after, nuvola_types::now_ms());
    assert_eq!(nuvola_monitor::endpoints::tls_expiry(days), nuvola_monitor::endpoints::CertificateSeverity::Warning);
    assert_eq!(checks.iter().filter(|c| c.cert_expires_at.is_some()).count(), 1);

    // The service fails: one round changes nothing, the second tells.
    status.store(503, Ordering::SeqCst);
    let second = prober.round(t0 + MINUTE).await.unwrap();
    assert!(second.transitions.is_empty(), "{:?}", second.transitions);
    let web_check = |round: &nuvola_watch::endpoints::EndpointRound| {
        round.checks.iter().find(|c| c.deployment_id == "nb-1" && c.output == "web").unwrap().clone()
    };
    assert_eq!((web_check(&second).up, web_check(&second).detail.as_str()), (true, "HTTP 503"));
    let third = prober.round(t0 + 2 * MINUTE).await.unwrap();
    let told: Vec<_> = third.transitions.iter().map(|t| (t.output.as_str(), t.up, t.mailed.as_deref())).collect();
    assert_eq!(told, [("web", false, Some("sent"))]);
    let down = mails_mentioning(&s.maildir, &format!("{name}'s web is not answering"));
    assert_eq!(down.len(), 1, "{down:?}");
    assert!(down[0].contains("To: erin@example.org\n"), "{}", down[0]);
    assert!(down[0].contains("is not answering since 2027-01-15 08:01 UTC: HTTP 503."), "{}", down[0]);
    assert!(down[0].contains("https://nuvola.test/deployments/nb-1\n"), "{}", down[0]);

    // It answers again: after two good rounds, the owner is told.
    status.store(200, Ordering::SeqCst);
    assert!(prober.round(t0 + 3 * MINUTE).await.unwrap().transitions.is_empty());
    let fifth = prober.round(t0 + 4 * MINUTE).await.unwrap();
    let told: Vec<_> = fifth.transitions.iter().map(|t| (t.output.as_str(), t.up, t.mailed.as_deref())).collect();
    assert_eq!(told, [("web", true, Some("sent"))]);
    let back = mails_mentioning(&s.maildir, &format!("{name}'s web is answering again"));
    assert_eq!(back.len(), 1, "{back:?}");
    assert!(back[0].contains("is answering again since 2027-01-15 08:03 UTC, after "), "{}", back[0]);

    // What was sent is logged; the history has the ups and downs; the
    // output down from the start was never mailed about.
    let sent = s.store.notifications(Some("deployment/nb-1"), 10).await.unwrap();
    let subjects: Vec<(&str, &str)> = sent.iter().map(|n| (n.subject.as_str(), n.outcome.as_str())).collect();
    assert_eq!(
        subjects,
        [
            (&format!("nuvola: {name}'s web is answering again")[..], "sent"),
            (&format!("nuvola: {name}'s web is not answering")[..], "sent"),
        ]
    );
    let events = s.store.endpoint_events("nb-1", 20).await.unwrap();
    let web_events: Vec<(i64, bool)> =
        events.iter().filter(|e| e.output == "web").map(|e| ((e.at - t0) / MINUTE, e.up)).collect();
    assert_eq!(web_events, [(4, true), (2, false), (0, true)]);
    // Every round's raw result is kept for the latency charts.
    let raw = s.store.probe_results("endpoint/nb-1/web", t0, t0 + 5 * MINUTE, 10).await.unwrap();
    assert_eq!(raw.iter().filter(|r| !r.ok).count(), 2);
    assert_eq!(raw.len(), 5);
}

#[tokio::test]
async fn an_owner_who_opted_out_is_not_mailed() {
    let Some((address, maildir)) = smtp_sink() else { return };
    let s = scene(address, maildir).await;
    let status = Arc::new(AtomicU16::new(200));
    let web = http_server(status.clone()).await;
    let name = s.deployment("nb-2", json!({"web": format!("http://127.0.0.1:{web}/")})).await;
    s.store.set_endpoint_notify("nb-2", false).await.unwrap();
    let prober = s.watch.endpoints();
    let t0 = 1_800_000_000_000;
    prober.round(t0).await.unwrap();
    status.store(500, Ordering::SeqCst);
    prober.round(t0 + MINUTE).await.unwrap();
    let down = prober.round(t0 + 2 * MINUTE).await.unwrap();
    let told: Vec<_> = down.transitions.iter().map(|t| (t.output.as_str(), t.up, t.mailed.clone())).collect();
    assert_eq!(told, [("web", false, None)], "seen down, nobody told");
    assert!(s.store.endpoint_checks("nb-2").await.unwrap().iter().all(|c| !c.up));
    assert!(mails_mentioning(&s.maildir, &name).is_empty());
    assert!(s.store.notifications(Some("deployment/nb-2"), 10).await.unwrap().is_empty());
}

/// A service found down at its first check (still starting) that then
/// answers is no news: its owner was never told it was down.
#[tokio::test]
async fn a_service_that_was_never_seen_up_is_not_announced_back() {
    let Some((address, maildir)) = smtp_sink() else { return };
    let s = scene(address, maildir).await;
    let status = Arc::new(AtomicU16::new(502));
    let web = http_server(status.clone()).await;
    let name = s.deployment("nb-3", json!({"web": format!("http://127.0.0.1:{web}/")})).await;
    let prober = s.watch.endpoints();
    let t0 = 1_800_000_000_000;
    prober.round(t0).await.unwrap();
    status.store(200, Ordering::SeqCst);
    prober.round(t0 + MINUTE).await.unwrap();
    let up = prober.round(t0 + 2 * MINUTE).await.unwrap();
    let told: Vec<_> = up.transitions.iter().map(|t| (t.output.as_str(), t.up, t.mailed.clone())).collect();
    assert_eq!(told, [("web", true, None)]);
    assert!(mails_mentioning(&s.maildir, &name).is_empty());
}

/// By default the prober reaches only the internet: loopback and private
/// outputs are not endpoints at all, and a name that resolves to loopback
/// is refused at connection time, saying so, without a connection.
#[tokio::test]
async fn loopback_and_private_addresses_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(&url)).await.unwrap();
    let watch = Watch::new(store.clone(), Notifier::new(None, vec![], "https://nuvola.test"), WatchSettings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = Scene { _dir: dir, store, watch, maildir: String::new(), token: "t".into() };
    s.deployment("lab-1", json!({"web": format!("http://127.0.0.1:{port}/"), "db": "10.0.0.5:5432"})).await;
    let round = s.watch.endpoints().round(1_800_000_000_000).await.unwrap();
    assert!(round.checks.is_empty(), "{:?}", round.checks);

    let prober = s.watch.endpoints();
    for (check, said) in [
        (Check::Tcp { host: "localhost".into(), port }, "localhost is at 127.0.0.1"),
        (Check::Tcp { host: "127.0.0.1".into(), port }, "127.0.0.1 is an address"),
        (Check::Http { url: format!("http://localhost:{port}/") }, "localhost is at 127.0.0.1"),
        (Check::Tcp { host: "::ffff:127.0.0.1".into(), port }, "::ffff:127.0.0.1 is an address"),
    ] {
        let probed = prober.check(&check).await;
        assert!(probed.refused && !probed.up && probed.latency_ms == 0, "{check:?}: {probed:?}");
        assert_eq!(
            probed.detail,
            format!("not checked: {said}, which nuvola does not probe (a loopback, private or reserved address)")
        );
    }
}
