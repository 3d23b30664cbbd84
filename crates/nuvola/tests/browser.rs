//! The dashboard in a real browser: `nuvola serve` (the binary) on a free
//! port with a data directory this test owns, then the node tests in `e2e/`
//! (Debian's chromium driven by playwright-core, with axe-core checks)
//! against it. Screenshots and accessibility reports go to
//! `target/e2e-artifacts/` (or `NUVOLA_E2E_ARTIFACTS`).
//!
//! Before the server starts, the data directory gets what a year of use
//! and a sign-in would leave there: a synthetic history of deployments
//! (`nuvola demo-history`) and an administrator's session, written into
//! the database, whose cookie the browser gets. The server has no
//! test-only route.
//!
//! Needs chromium, node and the npm packages: `source .ci/browser.sh`
//! installs them. Without them the test is skipped with the reason, except
//! under `CI=true`, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, cli_ok};
use nuvola_store::{Store, StoreOptions};
use nuvola_types::Principal;

/// What the browser tests need, found on this machine.
struct Tools {
    chromium: PathBuf,
    node_modules: PathBuf,
}

fn tools() -> Option<Tools> {
    let chromium = std::env::var_os("NUVOLA_E2E_CHROMIUM").map(PathBuf::from).unwrap_or("/usr/bin/chromium".into());
    let node_modules = std::env::var_os("NUVOLA_E2E_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or("/var/cache/nuvola-ci/browser/node_modules".into());
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    let missing = if !chromium.exists() {
        Some(format!("no chromium at {}", chromium.display()))
    } else if !node {
        Some("no node on PATH".to_string())
    } else if !node_modules.join("playwright-core").exists() || !node_modules.join("axe-core").exists() {
        Some(format!("playwright-core or axe-core is not installed in {}", node_modules.display()))
    } else {
        None
    };
    match missing {
        None => Some(Tools { chromium, node_modules }),
        Some(reason) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{reason}: under CI, .ci/browser.sh must have installed the browser test tools")
        }
        Some(reason) => {
            eprintln!("skipped: {reason} (source .ci/browser.sh to install them)");
            None
        }
    }
}

/// The real OIDC provider (`.ci/oidc/start.sh`); under CI it must be there.
fn oidc_issuer() -> Option<String> {
    match std::env::var("NUVOLA_TEST_OIDC_ISSUER") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("NUVOLA_TEST_OIDC_ISSUER is not set: .ci/services.sh must start the OIDC provider under CI")
        }
        _ => {
            eprintln!("the sign-in through a real OIDC provider is skipped: NUVOLA_TEST_OIDC_ISSUER is not set");
            None
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Writes an administrator's session into the database in `data` (the
/// history is already there); returns the session cookie (`name=value`).
async fn sign_in(data: &Path) -> String {
    let url = format!("sqlite://{}", data.join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(url)).await.unwrap();
    let admin = Principal {
        subject: "admin".into(),
        issuer: "nuvola".into(),
        groups: vec!["physics".into()],
        admin: true,
        manages: vec![],
        email: None,
        client_ip: None,
    };
    let (id, session) = nuvola_web::session::new_session(&admin, std::time::Duration::from_secs(3600), None).unwrap();
    store.insert_session(&session).await.unwrap();
    store.close().await;
    format!("{}={id}", nuvola_web::session::COOKIE)
}

#[test]
fn the_dashboard_in_a_real_browser() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The demo federation, with the history's testing group marked as such.
    let config = dir.path().join("nuvola.toml");
    let demo = include_str!("../../../config/demo.toml");
    let testing = "# testing_groups = [\"sandbox\"]";
    assert!(demo.contains(testing));
    let mut text = demo.replace(testing, &testing[2..]);
    // Both ways in: the embedded issuer's demo account, and the real OIDC
    // provider's authorization code flow.
    let oidc = oidc_issuer();
    if let Some(issuer) = &oidc {
        assert!(text.contains("\n# embedded = true\n"));
        text = text.replace("\n# embedded = true\n", "\nembedded = true\n");
        text.push_str(&format!(
            "\n[[identity.issuers]]\nissuer = \"{issuer}\"\naudience = \"nuvola-test\"\nadmin_group = \"admins\"\n\
             web_client_id = \"nuvola-web\"\nweb_client_secret = \"web-secret\"\nweb_scope = \"openid nuvola\"\n\
             resource = \"urn:nuvola\"\nname = \"Test IAM\"\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    let config_arg = config.to_str().unwrap();
    cli_ok(dir.path(), &[], &["demo-history", "--deployments", "600", "--config", config_arg, "--data-dir", "data"]);
    let cookie = tokio::runtime::Runtime::new().unwrap().block_on(sign_in(&dir.path().join("data")));
    // The accounting test sends records as an administrator would.
    let admin_token = cli_ok(
        dir.path(),
        &[],
        &["token", "issue", "--user", "ops", "--admin", "--config", config_arg, "--data-dir", "data"],
    );
    let server = Server::start(dir.path(), &["--config", config_arg, "--data-dir", "data"], "server.log");
    let demo_password =
        std::fs::read_to_string(dir.path().join("data/demo-password")).expect("the demo account's password");

    let e2e = workspace().join("e2e");
    let artifacts = std::env::var_os("NUVOLA_E2E_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/e2e-artifacts"));
    std::fs::create_dir_all(&artifacts).unwrap();
    let tests: Vec<PathBuf> = std::fs::read_dir(&e2e)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    assert!(!tests.is_empty(), "no *.test.mjs in {}", e2e.display());
    let output = Command::new("node")
        .arg("--test")
        .arg("--test-concurrency=1")
        // A browser that hangs fails its test instead of the whole run.
        .arg("--test-timeout=120000")
        .args(&tests)
        .current_dir(&e2e)
        .env("NUVOLA_E2E_URL", &server.url)
        .env("NUVOLA_E2E_COOKIE", &cookie)
        .env("NUVOLA_E2E_ADMIN_TOKEN", admin_token.trim())
        .env("NUVOLA_E2E_CHROMIUM", &tools.chromium)
        .env("NUVOLA_E2E_NODE_MODULES", &tools.node_modules)
        .env("NUVOLA_E2E_ARTIFACTS", &artifacts)
        .env("NUVOLA_E2E_DEMO_PASSWORD", demo_password.trim())
        .env("NUVOLA_E2E_OIDC", oidc.as_deref().unwrap_or(""))
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    assert!(
        output.status.success(),
        "the browser tests failed ({}); screenshots and axe reports in {}\n{report}\nstderr:\n{}\nserver log:\n{}",
        output.status,
        artifacts.display(),
        String::from_utf8_lossy(&output.stderr),
        server.log_text()
    );
}
