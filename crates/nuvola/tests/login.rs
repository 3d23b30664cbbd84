//! `nuvola login` against the real OIDC provider (`.ci/oidc/start.sh`): the
//! device flow, with the person's part (open the link, confirm the code,
//! sign in, consent) done by plain HTTP requests to the provider's pages;
//! then the stored token (0600) works with the server, is refreshed when it
//! has expired, yields to `NUVOLA_TOKEN`, and `nuvola logout` forgets it.
//! A refresh token from the same flow signs the OpenStack driver in to a
//! Keystone federated with the provider.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, Server, cli, cli_ok};
use serde_json::Value;

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

/// What a person does in the browser: follow the link, then submit each
/// page's form (the code confirmation, the login with any password, the
/// consent) until the provider says the sign-in succeeded.
fn approve_in_browser(link: &str, user: &str) {
    let browser = reqwest::blocking::Client::builder().cookie_store(true).build().unwrap();
    let form_re = regex::Regex::new(r#"<form[^>]*action="([^"]+)"[^>]*>"#).unwrap();
    let input_re = regex::Regex::new(r#"<input[^>]*name="([^"]+)"(?:[^>]*value="([^"]*)")?"#).unwrap();
    let mut page = browser.get(link).send().unwrap();
    for _ in 0..8 {
        let url = page.url().clone();
        let html = page.text().unwrap();
        if html.contains("Sign-in Success") {
            return;
        }
        let action = form_re.captures(&html).unwrap_or_else(|| panic!("no form at {url}:\n{html}"))[1].to_string();
        let mut fields: Vec<(String, String)> = Vec::new();
        for c in input_re.captures_iter(&html) {
            let name = c[1].to_string();
            let value = match name.as_str() {
                "login" => user.to_string(),
                "password" => "any".to_string(),
                _ => c.get(2).map_or(String::new(), |v| v.as_str().to_string()),
            };
            fields.push((name, value));
        }
        let target = url.join(&action.replace("&amp;", "&")).unwrap();
        page = browser.post(target).form(&fields).send().unwrap();
        assert!(page.status().is_success() || page.status().is_redirection(), "{}", page.status());
    }
    panic!("the sign-in did not finish");
}

fn config_with_issuer(url: &str) -> String {
    format!(
        "{}\n[[identity.issuers]]\nissuer = \"{url}\"\naudience = \"nuvola-test\"\nadmin_group = \"admins\"\n\
         cli_client_id = \"nuvola-cli\"\n",
        include_str!("../../../config/demo.toml")
    )
}

#[test]
fn login_with_the_device_flow_then_refresh_then_logout() {
    let Some(url) = issuer_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nuvola.toml");
    std::fs::write(&config, config_with_issuer(&url)).unwrap();
    let config_arg = config.to_str().unwrap();
    let server = Server::start(dir.path(), &["--config", config_arg, "--data-dir", "data"], "server.log");
    let xdg = dir.path().join("xdg");
    let xdg_str = xdg.to_str().unwrap();
    let env = [("NUVOLA_URL", server.url.as_str()), ("XDG_CONFIG_HOME", xdg_str), ("NUVOLA_CONFIG", config_arg)];

    // Not logged in yet.
    let out = cli(dir.path(), &env, &["whoami"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not logged in"), "{out:?}");

    // `nuvola login` finds the issuer and client in the configuration.
    let mut login = Command::new(BIN)
        .args(["login", "--resource", "urn:nuvola", "--scope", "openid offline_access nuvola"])
        .current_dir(dir.path())
        .envs(env)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(login.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let link = first.trim().strip_prefix("To sign in, open ").unwrap_or_else(|| panic!("{first}")).to_string();
    approve_in_browser(&link, "alice");
    let status = login.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(status.success(), "login failed: {rest}");
    assert!(rest.contains("Logged in to"), "{rest}");

    let path = xdg.join("nuvola").join("token.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let me: Value = serde_json::from_str(&cli_ok(dir.path(), &env, &["whoami"])).unwrap();
    assert_eq!((me["subject"].as_str(), me["groups"].clone()), (Some("alice"), serde_json::json!(["physics"])));

    // An expired token is refreshed with the refresh token, and saved.
    let mut stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(stored["refresh_token"].is_string(), "no refresh token: {stored}");
    let old_access = stored["access_token"].clone();
    stored["expires_at"] = 0.into();
    std::fs::write(&path, stored.to_string()).unwrap();
    let me: Value = serde_json::from_str(&cli_ok(dir.path(), &env, &["whoami"])).unwrap();
    assert_eq!(me["subject"], "alice");
    let refreshed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_ne!(refreshed["access_token"], old_access);
    assert!(refreshed["expires_at"].as_i64().unwrap() > 0);

    // NUVOLA_TOKEN wins over the stored token.
    let out = cli(dir.path(), &[env[0], env[1], ("NUVOLA_TOKEN", "bogus")], &["whoami"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("401"), "{out:?}");

    // Logout forgets it.
    cli_ok(dir.path(), &env, &["logout"]);
    assert!(!path.exists());
    let out = cli(dir.path(), &env, &["whoami"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not logged in"), "{out:?}");
    std::thread::sleep(Duration::from_millis(10));
    drop(server);
}

/// The dashboard's sign-in through the real provider: the authorization
/// code flow with PKCE, the person's part (sign in, consent) done on the
/// provider's pages; nuvola then knows them with their groups, and a
/// forged or replayed callback, or one opened in another browser, is refused.
#[test]
fn dashboard_sign_in_with_the_authorization_code_flow() {
    let Some(url) = issuer_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nuvola.toml");
    let web = "web_client_id = \"nuvola-web\"\nweb_client_secret = \"web-secret\"\n\
               web_scope = \"openid nuvola\"\nresource = \"urn:nuvola\"\nname = \"Test IAM\"\n";
    std::fs::write(&config, format!("{}{web}", config_with_issuer(&url))).unwrap();
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap(), "--data-dir", "data"], "server.log");
    let browser = reqwest::blocking::Client::builder().cookie_store(true).build().unwrap();

    let login = browser.get(format!("{}/login?next=/deployments", server.url)).send().unwrap().text().unwrap();
    assert!(login.contains("Sign in with Test IAM"), "{login}");
    // With an external issuer configured, the embedded one offers no accounts.
    assert!(!login.contains("name=\"password\""), "{login}");

    // Off to the provider; its pages as a person would fill them in.
    let mut page = browser.get(format!("{}/login/oidc/0?next=/deployments", server.url)).send().unwrap();
    let form_re = regex::Regex::new(r#"<form[^>]*action="([^"]+)"[^>]*>"#).unwrap();
    let input_re = regex::Regex::new(r#"<input[^>]*name="([^"]+)"(?:[^>]*value="([^"]*)")?"#).unwrap();
    for _ in 0..6 {
        if page.url().as_str().starts_with(&server.url) {
            break;
        }
        let url = page.url().clone();
        let html = page.text().unwrap();
        let action = form_re.captures(&html).unwrap_or_else(|| panic!("no form at {url}:\n{html}"))[1].to_string();
        let fields: Vec<(String, String)> = input_re
            .captures_iter(&html)
            .map(|c| {
                let name = c[1].to_string();
                let value = match name.as_str() {
                    "login" => "dave".to_string(),
                    "password" => "any".to_string(),
                    _ => c.get(2).map_or(String::new(), |v| v.as_str().to_string()),
                };
                (name, value)
            })
            .collect();
        page = browser.post(url.join(&action.replace("&amp;", "&")).unwrap()).form(&fields).send().unwrap();
    }
    let landed = page.url().clone();
    let html = page.text().unwrap();
    assert_eq!(landed.path(), "/deployments", "back on nuvola where the sign-in started: {html}");
    assert!(html.contains("Sign out") && html.contains("dave"), "{html}");
    assert!(html.contains("<option value=\"physics\""), "dave's groups come from the provider's token: {html}");

    // A callback with a state nuvola never issued (or one already used),
    // in a browser with a sign-in of its own in flight.
    browser.get(format!("{}/login/oidc/0", server.url)).send().unwrap();
    let forged = browser.get(format!("{}/login/callback?code=x&state=forged", server.url)).send().unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    assert!(forged.text().unwrap().contains("expired or was already used"));
    // A callback link opened in a browser that started no sign-in (login
    // CSRF: someone else's code and state) signs nobody in.
    let other = reqwest::blocking::Client::builder().cookie_store(true).build().unwrap();
    let forged = other.get(format!("{}/login/callback?code=x&state=forged", server.url)).send().unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    assert!(forged.text().unwrap().contains("not started in this browser"));
    drop(server);
}

/// A robot account's refresh token in an OpenStack site's settings: the
/// operator signs in once with the device flow (as `nuvola login` does),
/// and the OpenStack driver trades the refresh token for access tokens that
/// Keystone's OIDC federation accepts (`.ci/keystone-oidc.sh`), following
/// the issuer's rotation of refresh tokens.
#[test]
fn a_refresh_token_signs_the_openstack_driver_in_to_a_federated_keystone() {
    let Some(issuer) = issuer_url() else { return };
    let Some(keystone) = std::env::var("NUVOLA_TEST_KEYSTONE_OIDC_URL").ok().filter(|u| !u.is_empty()) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("NUVOLA_TEST_KEYSTONE_OIDC_URL is not set under CI=true: source .ci/cloud.sh first");
        }
        eprintln!("skipped: no federated Keystone (source .ci/cloud.sh)");
        return;
    };
    let http = reqwest::blocking::Client::new();
    let scope = "openid offline_access nuvola";
    let device: Value = http
        .post(format!("{issuer}/device/auth"))
        .form(&[("client_id", "nuvola-cli"), ("scope", scope), ("resource", "urn:nuvola")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    approve_in_browser(device["verification_uri_complete"].as_str().unwrap(), "bob");
    let tokens: Value = http
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device["device_code"].as_str().unwrap()),
            ("client_id", "nuvola-cli"),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap_or_else(|| panic!("no refresh token: {tokens}"));

    let spec: nuvola_types::ProviderSpec =
        serde_json::from_value(serde_json::json!({"name": "fed", "driver": "openstack", "endpoint": keystone}))
            .unwrap();
    let settings: nuvola_drivers::openstack::OpenStackSettings = serde_json::from_value(serde_json::json!({
        "oidc": {"identity_provider": "nuvola-test", "issuer": issuer, "client_id": "nuvola-cli",
                 "refresh_token": refresh}}))
    .unwrap();
    let driver = nuvola_drivers::openstack::OpenStackDriver::open(&spec, settings).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let whose = |token: &str| -> Value {
        http.get(format!("{keystone}/auth/tokens"))
            .header("X-Auth-Token", token)
            .header("X-Subject-Token", token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let first = runtime.block_on(driver.token()).unwrap();
    let info = whose(&first);
    assert_eq!(info["token"]["user"]["name"], "bob", "{info}");
    assert_eq!(info["token"]["project"]["name"], "physics", "{info}");
    // Keystone revokes the token; the driver signs in again, with the
    // refresh token the issuer rotated the first time.
    let revoked = http
        .delete(format!("{keystone}/auth/tokens"))
        .header("X-Auth-Token", &first)
        .header("X-Subject-Token", &first)
        .send()
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 204);
    // Keystone may accept the revoked token for a moment (its two workers
    // see the revocation at different times): call until it refuses it.
    let mut second = first.clone();
    for _ in 0..25 {
        let reply = runtime
            .block_on(driver.api(
                "identity",
                reqwest::Method::GET,
                "/auth/projects",
                nuvola_drivers::http::Replay::Safe,
                None,
            ))
            .unwrap();
        assert!(reply.ok(), "{}", reply.body);
        second = runtime.block_on(driver.token()).unwrap();
        if second != first {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_ne!(second, first, "the driver signed in again");
    assert_eq!(whose(&second)["token"]["user"]["name"], "bob");
    // The issuer did rotate: the original refresh token is spent.
    let replayed = http
        .post(format!("{issuer}/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "nuvola-cli")])
        .send()
        .unwrap();
    assert_eq!(replayed.status().as_u16(), 400, "the first refresh token still works: rotation was not tested");
}
