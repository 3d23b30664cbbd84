//! `nuvola accounting` against a real `nuvola serve` on the demo
//! federation: an administrator sends the records of March 2025 (an
//! `recas.a100.large` VM of Alice's with its A100, an `m1.small` of Bob's)
//! through the ingest endpoint, as a site would; Alice's `nuvola
//! accounting usage --json` answers exactly her figures, `daily` her GPU
//! hours on their days, the default output is an aligned table, and her
//! asking for Bob's usage fails naming him; an administrator asks for two
//! groups (`--group a --group b`, or `--group a,b`) or two users.

mod common;

use common::{Server, cli, cli_ok};
use nuvola_accounting::usage::{HeldAttempt, HeldNode, usage_records};
use serde_json::{Value, json};

/// 2025-03-01 00:00 UTC.
const MARCH: i64 = 1_740_787_200;
const DAY: i64 = 86_400;

fn attempt(id: &str, site: &str, user: &str, first_day: i64, vcpus: u32, gpus: u32) -> HeldAttempt {
    HeldAttempt {
        attempt_id: id.into(),
        site: site.into(),
        compute_service: None,
        user: user.into(),
        group: "physics".into(),
        project: None,
        start: MARCH + (first_day - 1) * DAY,
        end: Some(MARCH + (first_day + 1) * DAY),
        nodes: vec![HeldNode {
            name: "vm".into(),
            count: 1,
            image: None,
            vcpus,
            memory_mb: 2048,
            disk_gb: 20,
            gpus,
            gpu_model: (gpus > 0).then(|| "A100".into()),
            public_ip: false,
            volumes: Vec::new(),
        }],
    }
}

fn send(http: &reqwest::blocking::Client, url: &str, token: &str, body: String) {
    let reply = http.post(format!("{url}/api/v1/accounting/messages")).bearer_auth(token).body(body).send().unwrap();
    let status = reply.status();
    assert!(status.is_success(), "{status}: {}", reply.text().unwrap());
}

#[test]
fn a_user_reads_her_accounting_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let server = Server::start(cwd, &[], "serve.log");
    let alice = cli_ok(cwd, &[], &["token", "issue", "--user", "alice", "--group", "physics"]).trim().to_string();
    let admin = cli_ok(cwd, &[], &["token", "issue", "--user", "ops", "--admin"]).trim().to_string();
    let as_alice = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", alice.as_str())];
    let me: Value = serde_json::from_str(&cli_ok(cwd, &as_alice, &["whoami"])).unwrap();
    let alice_name = format!("{}@{}", me["subject"].as_str().unwrap(), me["issuer"].as_str().unwrap());

    let april = MARCH + 31 * DAY;
    let mut carols = attempt("c1", "cloudveneto", "carol@nuvola", 5, 2, 0);
    carols.group = "chemistry".into();
    let attempts = [
        attempt("a1", "recas-bari", &alice_name, 10, 16, 1),
        attempt("b1", "cloudveneto", "bob@nuvola", 3, 1, 0),
        carols,
    ];
    let records = usage_records(&attempts, april, MARCH..april);
    let http = reqwest::blocking::Client::new();
    send(&http, &server.url, &admin, nuvola_accounting::cloud::write_message(&records.cloud).unwrap());
    let accelerators: Vec<Value> = records
        .accelerators
        .iter()
        .map(|a| {
            json!({
                "SiteName": a.site_name, "AssociatedRecord": a.associated_record, "AssociatedRecordType": "cloud",
                "GlobalUserName": a.global_user_name, "FQAN": a.fqan, "Count": 1, "AvailableDuration": a.available_duration,
                "ActiveDuration": a.active_duration, "MeasurementMonth": a.measurement_month,
                "MeasurementYear": a.measurement_year, "Type": "GPU", "Model": a.model,
            })
        })
        .collect();
    assert_eq!(accelerators.len(), 1);
    let message = json!({"Type": "APEL-accelerator-message", "Version": "0.1", "UsageRecords": accelerators});
    send(&http, &server.url, &admin, message.to_string());

    let usage = cli_ok(
        cwd,
        &as_alice,
        &["accounting", "usage", "--from", "2025-03", "--to", "2025-03", "--by", "provider", "--json"],
    );
    let usage: Value = serde_json::from_str(&usage).unwrap();
    assert_eq!(usage["periods"], json!(["2025-03"]));
    assert_eq!(usage["rows"].as_array().unwrap().len(), 1, "{usage}");
    let row = &usage["rows"][0];
    assert_eq!(row["key"], "recas-bari");
    assert_eq!(
        [&row["cpuHours"], &row["wallHours"], &row["ramGbHours"], &row["instances"], &row["gpuHours"]["A100"]],
        [&json!(768.0), &json!(48.0), &json!(96.0), &json!(1), &json!(48.0)]
    );

    let daily = cli_ok(cwd, &as_alice, &["accounting", "daily", "--month", "2025-03", "--json"]);
    let daily: Value = serde_json::from_str(&daily).unwrap();
    let gpu: Vec<(&str, f64)> = daily["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["period"].as_str()?, r["gpuHours"].get("A100")?.as_f64()?)))
        .collect();
    assert_eq!(gpu, [("2025-03-10", 24.0), ("2025-03-11", 24.0)]);

    let table =
        cli_ok(cwd, &as_alice, &["accounting", "usage", "--from", "2025-03", "--to", "2025-03", "--by", "provider"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("PERIOD   PROVIDER") && lines[0].ends_with("GPU_H(A100)"), "{table}");
    assert!(lines[1].starts_with("2025-03  recas-bari") && lines[1].ends_with("48.0"), "{table}");
    assert_eq!(lines[0].len(), lines[1].len(), "aligned:\n{table}");
    assert_eq!(lines[2], "showing your usage");

    // Several groups: repeated, or separated by commas; an administrator
    // sees physics (Alice's 768 CPU hours and Bob's 48) and chemistry
    // (Carol's 96), and one group alone without the other.
    let as_admin = [("NUVOLA_URL", server.url.as_str()), ("NUVOLA_TOKEN", admin.as_str())];
    let march = ["accounting", "usage", "--from", "2025-03", "--to", "2025-03", "--by", "group", "--json"];
    let cpu = |args: &[&str]| -> Vec<(String, f64)> {
        let reply: Value = serde_json::from_str(&cli_ok(cwd, &as_admin, &[&march[..], args].concat())).unwrap();
        let rows = reply["rows"].as_array().unwrap().iter();
        rows.map(|r| (r["key"].as_str().unwrap().to_owned(), r["cpuHours"].as_f64().unwrap())).collect()
    };
    let both = [("chemistry".to_owned(), 96.0), ("physics".to_owned(), 816.0)];
    assert_eq!(cpu(&["--group", "physics", "--group", "chemistry"]), both);
    assert_eq!(cpu(&["--group", "physics,chemistry"]), both);
    assert_eq!(cpu(&["--group", "chemistry"]), [("chemistry".to_owned(), 96.0)]);
    assert_eq!(
        cpu(&["--provider", "cloudveneto", "--user", "bob@nuvola", "--user", "carol@nuvola"]),
        [("chemistry".to_owned(), 96.0), ("physics".to_owned(), 48.0)]
    );

    let refused = cli(cwd, &as_alice, &["accounting", "usage", "--user", "bob@nuvola"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("403") && stderr.contains("bob@nuvola"), "{stderr}");
}
