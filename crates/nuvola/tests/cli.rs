//! A new user's session, with the real binary on its embedded defaults:
//! `nuvola serve` with no configuration, a token from the embedded issuer,
//! deploy from the catalogue and wait, list, show, fail over, delete, and
//! check the simulated providers hold nothing afterwards.

mod common;

use common::{Server, cli, cli_ok};
use serde_json::Value;

#[test]
fn a_new_user_deploys_fails_over_and_deletes_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // No --config, no --data-dir: the demo federation in ./nuvola-data.
    let server = Server::start(cwd, &[], "serve.log");
    assert!(cwd.join("nuvola-data/nuvola.sqlite").exists(), "the data dir is ./nuvola-data");

    let token = cli_ok(cwd, &[], &["token", "issue", "--user", "alice", "--group", "physics"]).trim().to_string();
    let admin = cli_ok(cwd, &[], &["token", "issue", "--user", "ops", "--admin"]).trim().to_string();
    let as_alice = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", token.as_str())];
    let as_admin = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", admin.as_str())];

    let catalogue = cli_ok(cwd, &as_alice, &["catalogue"]);
    for id in ["single-vm", "vm-with-volume", "docker-compose", "jupyter-persistent"] {
        assert!(catalogue.contains(id), "{id} missing from:\n{catalogue}");
    }

    let k8s = cli_ok(cwd, &as_alice, &["catalogue", "kubernetes"]);
    assert!(k8s.contains("admin_token: string required") && k8s.contains("workers: integer default 2"), "{k8s}");

    // The preferred provider for physics fails every create: the
    // deployment lands elsewhere, and the failed attempt leaves nothing.
    let first = preferred_provider(cwd, &as_alice);
    cli_ok(cwd, &as_admin, &["sim", "set", &first, "fail_creates=true"]);
    let out = cli_ok(
        cwd,
        &as_alice,
        &[
            "deploy",
            "vm-with-volume",
            "--group",
            "physics",
            "--param",
            "volume_size=30 GiB",
            "--wait",
            "--output",
            "json",
        ],
    );
    let deployment: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(deployment["status"], "CREATE_COMPLETE", "{out}");
    assert_ne!(deployment["provider"], first.as_str(), "should have failed over from {first}");
    // The demo sites also fail a few creates on purpose, so the next site
    // may fail over too: every attempt but the last was cleaned up.
    let attempts = deployment["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{out}");
    assert_eq!(attempts[0]["provider"], first.as_str(), "{out}");
    let (last, earlier) = attempts.split_last().unwrap();
    assert!(earlier.iter().all(|a| a["state"] == "cleaned"), "{out}");
    assert_eq!((&last["provider"], last["state"].as_str()), (&deployment["provider"], Some("ready")), "{out}");
    assert!(deployment["outputs"].as_object().is_some_and(|o| !o.is_empty()), "{out}");
    let id = deployment["id"].as_str().unwrap().to_string();
    assert!(inventory(cwd)[&first].as_array().unwrap().is_empty(), "the failed attempt leaked");

    let listed = cli_ok(cwd, &as_alice, &["list"]);
    assert!(listed.contains(&id) && listed.contains("CREATE_COMPLETE"), "{listed}");
    let shown = cli_ok(cwd, &as_alice, &["show", &id]);
    assert!(shown.contains("outputs:") && shown.contains("  volume_size: 30 GiB"), "{shown}");

    // An update changes an input in place (the site's own random failures
    // turned off, so that only the update is under test).
    let provider = deployment["provider"].as_str().unwrap();
    cli_ok(cwd, &as_admin, &["sim", "set", provider, "failure_probability=0"]);
    let updated = cli_ok(cwd, &as_alice, &["update", &id, "--param", "num_cpus=4", "--wait", "--output", "json"]);
    let updated: Value = serde_json::from_str(&updated).unwrap();
    assert_eq!((updated["status"].as_str(), updated["provider"].as_str()), (Some("UPDATE_COMPLETE"), Some(provider)));
    assert_eq!(updated["inputs"]["num_cpus"], 4, "{updated:#}");
    let nothing = cli(cwd, &as_alice, &["update", &id]);
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("nothing to update"), "{nothing:?}");

    // A secret input is sealed in the database and shown as ********.
    let secret = "correct-horse-battery-staple";
    let elk = cli_ok(
        cwd,
        &as_alice,
        &[
            "deploy",
            "elasticsearch-kibana",
            "-p",
            &format!("elastic_password={secret}"),
            "-p",
            "kibana_password=0123456789ab",
        ],
    );
    assert!(!elk.contains(secret), "{elk}");
    let elk_id = elk.lines().find_map(|l| l.strip_prefix("id:")).unwrap().trim().to_string();
    assert!(cli_ok(cwd, &as_alice, &["show", &elk_id]).contains("elastic_password: ********"));
    for file in ["nuvola.sqlite", "nuvola.sqlite-wal"] {
        let bytes = std::fs::read(cwd.join("nuvola-data").join(file)).unwrap_or_default();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{file} holds the secret in clear");
    }
    assert!(cwd.join("nuvola-data/secrets.key").exists());
    cli_ok(cwd, &as_alice, &["delete", &elk_id, "--wait"]);

    // Another user does not see it.
    let bob = cli_ok(cwd, &[], &["token", "issue", "--user", "bob", "--group", "physics"]).trim().to_string();
    let as_bob = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", bob.as_str())];
    let denied = cli(cwd, &as_bob, &["show", &id]);
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("404"), "{denied:?}");

    let deleted = cli_ok(cwd, &as_alice, &["delete", &id, "--wait"]);
    assert!(deleted.contains("DELETE_COMPLETE"), "{deleted}");
    let held: usize = inventory(cwd).as_object().unwrap().values().map(|v| v.as_array().unwrap().len()).sum();
    assert_eq!(held, 0, "resources left after delete");

    // When every provider fails, --wait exits non-zero with one cause each.
    for provider in inventory(cwd).as_object().unwrap().keys() {
        cli_ok(cwd, &as_admin, &["sim", "set", provider, "fail_creates=true"]);
    }
    let failed = cli(cwd, &as_alice, &["deploy", "single-vm", "--wait"]);
    assert_eq!(failed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(text.contains("CREATE_FAILED") && text.contains("failed on every provider tried"), "{text}");

    // Bad input gets a message naming the problem, and a non-zero exit.
    let bad = cli(cwd, &as_alice, &["deploy", "single-vm", "--param", "num_cpus=abc"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("num_cpus"), "{bad:?}");
    let unknown = cli(cwd, &as_alice, &["deploy", "no-such-service"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no catalogue service"), "{unknown:?}");

    // An operator schedules maintenance twice at once: both windows stay
    // (each is added in the store's transaction); one that ends before it
    // starts is refused, saying so.
    std::thread::scope(|scope| {
        for start in ["2030-01-01T08:00:00Z", "2030-02-01T08:00:00Z"] {
            let (first, as_admin) = (&first, &as_admin);
            scope.spawn(move || {
                let end = start.replace("T08", "T12");
                let args = ["federation", "maintenance", first, "--start", start, "--end", &end, "--reason", "kernel"];
                assert!(cli_ok(cwd, as_admin, &args).contains("maintenance windows="));
            });
        }
    });
    let registry: Value =
        serde_json::from_str(&cli_ok(cwd, &as_admin, &["federation", "export", "--format", "json"])).unwrap();
    let spec = registry["providers"].as_array().unwrap().iter().find(|p| p["name"] == first.as_str()).unwrap();
    assert_eq!(spec["maintenance"].as_array().unwrap().len(), 2, "{spec:#}");
    let inverted = cli(
        cwd,
        &as_admin,
        &["federation", "maintenance", &first, "--start", "2030-03-02T08:00:00Z", "--end", "2030-03-01T08:00:00Z"],
    );
    assert!(!inverted.status.success());
    assert!(String::from_utf8_lossy(&inverted.stderr).contains("must end after it starts"), "{inverted:?}");

    // Deleting orphans says which: a bare --clean is refused.
    let bare = cli(cwd, &as_admin, &["federation", "orphans", "--clean"]);
    assert!(!bare.status.success());
    assert!(String::from_utf8_lossy(&bare.stderr).contains("--all"), "{bare:?}");
    let all = cli_ok(cwd, &as_admin, &["federation", "orphans", "--clean", "--all", "--output", "json"]);
    let report: Value = serde_json::from_str(&all).unwrap();
    assert!(report["providers"].as_array().is_some_and(|p| !p.is_empty()), "{report:#}");

    assert!(server.terminate().success(), "SIGTERM stops the server cleanly");
}

/// The provider placement puts physics' single VMs on first.
fn preferred_provider(cwd: &std::path::Path, env: &[(&str, &str)]) -> String {
    let out = cli_ok(cwd, env, &["deploy", "single-vm", "--output", "json"]);
    let d: Value = serde_json::from_str(&out).unwrap();
    let first = d["plan"]["candidates"][0]["provider"].as_str().unwrap().to_string();
    let id = d["id"].as_str().unwrap();
    cli_ok(cwd, env, &["delete", id, "--wait"]);
    first
}

fn inventory(cwd: &std::path::Path) -> Value {
    serde_json::from_str(&cli_ok(cwd, &[], &["sim", "inventory", "--output", "json"])).unwrap()
}

/// Piping into a reader that stops early (`nuvola ... | head`) ends the
/// command quietly, without a panic on stderr.
#[test]
fn a_closed_stdout_stops_quietly() {
    let mut child = std::process::Command::new(common::BIN)
        .args(["config", "demo"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before the first line
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // 141 as after SIGPIPE; 0 if the text fitted the pipe before it closed.
    assert!(matches!(out.status.code(), Some(141) | Some(0)), "{:?}", out.status);
}
