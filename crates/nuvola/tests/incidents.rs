//! The status page run from the command line against a real `nuvola
//! serve` on the demo federation, mailing through the real SMTP sink: a
//! subscriber signs up on the public form and confirms from the mail; an
//! operator opens, updates, lists, shows and resolves an incident with
//! `nuvola incident` (the subscriber is mailed of each, as from the
//! operator's page) and overrides a component with `nuvola status
//! override`; a member is refused, and bad input is named. The subscribe
//! form is limited per client address as the server sees it (127.0.0.1
//! refused, 127.0.0.2 not). A token issued with `--email` gives the
//! deployments made with it their owner's address.

mod common;

use common::{Server, cli, cli_ok, eventually};
use nuvola_drivers::testing::{mails_mentioning, smtp_sink};
use serde_json::Value;

/// The message of a failed command.
fn refusal(cwd: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = cli(cwd, env, args);
    assert!(!out.status.success(), "nuvola {args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_operator_runs_the_status_page_from_the_cli_and_subscribers_are_mailed() {
    let Some((relay, maildir)) = smtp_sink() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let demo = cli_ok(cwd, &[], &["config", "demo"]);
    let config = format!("{demo}\n[notifications]\nsmtp = \"{relay}\"\nfrom = \"status@nuvola.test\"\n");
    std::fs::write(cwd.join("nuvola.toml"), config).unwrap();
    let server = Server::start(cwd, &["--config", "nuvola.toml"], "serve.log");
    let issue = |args: &[&str]| {
        let mut all = vec!["token", "issue", "--config", "nuvola.toml"];
        all.extend_from_slice(args);
        cli_ok(cwd, &[], &all).trim().to_string()
    };
    let (admin, alice) = (issue(&["--user", "ops", "--admin"]), issue(&["--user", "alice", "--group", "physics"]));
    let as_admin = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", admin.as_str())];
    let as_alice = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", alice.as_str())];

    // The first round of probes puts the components on the page.
    let components = eventually("no component on the status page", || {
        let listed: Value =
            serde_json::from_str(&cli_ok(cwd, &as_alice, &["status", "components", "--output", "json"])).unwrap();
        listed["content"].as_array().filter(|c| !c.is_empty()).cloned()
    });
    assert!(components.iter().any(|c| c["id"] == "clouds/cloudveneto"), "{components:?}");

    // A subscriber signs up on the public form and confirms from the mail.
    let http = reqwest::blocking::Client::new();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let subscriber = format!("ann-{stamp}@subscribers.example");
    let signed_up = http
        .post(format!("{}/status/subscribe", server.url))
        .form(&[("kind", "email"), ("address", subscriber.as_str()), ("component", "clouds/cloudveneto")])
        .send()
        .unwrap();
    assert_eq!(signed_up.status(), 200, "{}", signed_up.text().unwrap());
    let to = format!("To: {subscriber}");
    let confirmation = eventually("no confirmation mail", || mails_mentioning(&maildir, &to).into_iter().next());
    let link = "/status/subscriptions/confirm?token=";
    let at = confirmation.find(link).expect("a confirmation link") + link.len();
    let token: String =
        confirmation[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    let confirmed =
        http.post(format!("{}/status/subscriptions/confirm", server.url)).form(&[("token", token)]).send().unwrap();
    assert_eq!(confirmed.status(), 200);

    // An operator opens an incident: the subscriber is mailed of it.
    let title = format!("cloudveneto refuses new VMs ({stamp})");
    let open = [
        "incident",
        "open",
        "--title",
        &title,
        "--impact",
        "major",
        "--component",
        "clouds/cloudveneto",
        "--component",
        "backbone/backbone-bari=degraded_performance",
        "--message",
        "Creates fail with 500",
        "--output",
        "json",
    ];
    let opened: Value = serde_json::from_str(&cli_ok(cwd, &as_admin, &open)).unwrap();
    let id = opened["id"].as_str().unwrap().to_string();
    assert_eq!(
        opened["components"],
        serde_json::json!([
            {"id": "backbone/backbone-bari", "state": "degraded_performance"},
            {"id": "clouds/cloudveneto", "state": "partial_outage"}
        ]),
        "a component without a state takes the impact's"
    );
    let new = format!("Subject: [nuvola status] New incident: {title}");
    let told = eventually("no mail of the new incident", || {
        mails_mentioning(&maildir, &new).into_iter().find(|m| m.contains(&to))
    });
    assert!(told.contains(&format!("{}/status/incidents/{id}", server.url)), "{told}");

    // A member may read but not open; bad input is named.
    assert!(cli_ok(cwd, &as_alice, &["incident", "list"]).contains(&id));
    let denied = refusal(cwd, &as_alice, &open);
    assert!(denied.contains("403 Forbidden: this needs a platform administrator"), "{denied}");
    let mut nowhere = open;
    nowhere[7] = "clouds/atlantis";
    let unknown = refusal(cwd, &as_admin, &nowhere);
    assert!(
        unknown.contains("400 Bad Request: there is no component \"clouds/atlantis\" on the status page"),
        "{unknown}"
    );
    let word = refusal(cwd, &as_admin, &["incident", "update", &id, "--status", "fixed", "--message", "x"]);
    assert!(word.contains("unknown incident status \"fixed\": use one of investigating, identified"), "{word}");

    // Updates, then the listing and the incident as people read them.
    let identified = cli_ok(
        cwd,
        &as_admin,
        &["incident", "update", &id, "--status", "identified", "--message", "A full disk", "--impact", "critical"],
    );
    assert!(identified.contains("status:     identified (critical impact)"), "{identified}");
    let listed = cli_ok(cwd, &as_admin, &["incident", "list"]);
    let row = listed.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains("identified") && row.contains("critical") && row.ends_with(&title), "{listed}");
    let shown = cli_ok(cwd, &as_alice, &["incident", "show", &id]);
    for expected in ["    A full disk", "    Creates fail with 500", "  clouds/cloudveneto: partial_outage"] {
        assert!(shown.contains(expected), "{expected:?} not in:\n{shown}");
    }
    cli_ok(cwd, &as_admin, &["incident", "update", &id, "--status", "resolved", "--message", "Disk replaced"]);
    let twice = refusal(cwd, &as_admin, &["incident", "update", &id, "--status", "resolved", "--message", "x"]);
    assert!(twice.contains(&format!("409 Conflict: incident {id} is resolved already")), "{twice}");
    let resolved = format!("Subject: [nuvola status] Resolved: {title}");
    eventually("no mail of the resolution", || {
        mails_mentioning(&maildir, &resolved).into_iter().find(|m| m.contains(&to))
    });
    let mailed = eventually("three mails", || Some(mails_mentioning(&maildir, &title)).filter(|m| m.len() >= 3));
    assert_eq!(mailed.len(), 3, "opened, identified and resolved, once each: {mailed:?}");

    // An override, shown and cleared.
    let set = cli_ok(
        cwd,
        &as_admin,
        &["status", "override", "clouds/cloudveneto", "under_maintenance", "--note", "disk swap"],
    );
    assert_eq!(
        set.trim(),
        "clouds/cloudveneto: shown under_maintenance (under_maintenance by ops@nuvola: disk swap)",
        "{set}"
    );
    let table = cli_ok(cwd, &as_alice, &["status", "components"]);
    let row = table.lines().find(|l| l.starts_with("clouds/cloudveneto ")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("under_maintenance by ops@nuvola: disk swap"), "{table}");
    let cleared = cli_ok(cwd, &as_admin, &["status", "override", "clouds/cloudveneto", "--clear"]);
    assert!(cleared.starts_with("clouds/cloudveneto: override cleared; shown "), "{cleared}");
    let none = refusal(cwd, &as_admin, &["status", "override", "clouds/cloudveneto", "--clear"]);
    assert!(none.contains("404 Not Found: component \"clouds/cloudveneto\" has no override to clear"), "{none}");
    let stateless = refusal(cwd, &as_admin, &["status", "override", "clouds/cloudveneto"]);
    assert!(stateless.contains("<STATE|--clear>"), "{stateless}");

    // The form is limited per client address as the server sees it: ten
    // subscriptions an hour from 127.0.0.1 (the one above among them; a
    // webhook is refused here, and counts), then 429 saying when to try
    // again; 127.0.0.2 is another client.
    let from = |ip: [u8; 4]| {
        let client = reqwest::blocking::Client::builder().local_address(std::net::IpAddr::from(ip)).build().unwrap();
        let url = server.url.clone();
        move |address: &str| {
            client
                .post(format!("{url}/status/subscribe"))
                .form(&[("kind", "webhook"), ("address", address)])
                .send()
                .unwrap()
        }
    };
    let local = from([127, 0, 0, 1]);
    for _ in 0..9 {
        assert_eq!(local("https://hooks.example.org/a").status(), 400);
    }
    let limited = local("https://hooks.example.org/a");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let page = limited.text().unwrap();
    assert!(page.contains("from your network address in the last hour (at most 10): try again in "), "{page}");
    assert_eq!(from([127, 0, 0, 2])("https://hooks.example.org/a").status(), 400);

    // A token issued with an address gives the deployment its owner's.
    let mailed_alice = issue(&["--user", "alice", "--group", "physics", "--email", "alice@example.org"]);
    let as_mailed_alice = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", mailed_alice.as_str())];
    let endpoints_of = |env: &[(&str, &str)]| {
        let made: Value =
            serde_json::from_str(&cli_ok(cwd, env, &["deploy", "single-vm", "--output", "json"])).unwrap();
        let id = made["id"].as_str().unwrap().to_string();
        let status: Value = http
            .get(format!("{}/api/v1/deployments/{id}/endpoints", server.url))
            .bearer_auth(env[1].1)
            .send()
            .unwrap()
            .json()
            .unwrap();
        cli_ok(cwd, env, &["delete", &id]);
        status
    };
    assert_eq!(endpoints_of(&as_mailed_alice)["owner_address_known"], true);
    assert_eq!(endpoints_of(&as_alice)["owner_address_known"], false);
    let bad = refusal(cwd, &[], &["token", "issue", "--config", "nuvola.toml", "--user", "bob", "--email", "bob"]);
    assert!(bad.contains("\"bob\" is not a mail address"), "{bad}");

    assert!(server.terminate().success(), "SIGTERM stops the server cleanly");
}
