//! A site goes down, end to end (issue 14's acceptance), through
//! `nuvola serve`, its CLI, its public pages and a real Prometheus: a
//! simulated site taken down with `nuvola sim set <site> down=true` leaves
//! "operational" within two rounds of probes; placement skips it and says
//! why; Prometheus sees its probe failing; an operator opens an incident on
//! it and updates it, and a subscriber by e-mail (double opt-in, read back
//! from the real SMTP sink) and one by webhook (its signature checked) hear
//! of both; back up, the day's availability and reliability count the
//! outage to the second.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::prometheus::{self, Prometheus};
use common::{Server, cli_ok, eventually};
use nuvola_drivers::testing::{mails_mentioning, smtp_sink, token_in};
use serde_json::Value;

/// One POST a receiver got.
struct Delivery {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A webhook receiver on a free loopback port: each POST it gets is
/// answered 200 and handed over.
fn receiver() -> (String, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut headers = BTreeMap::new();
            let mut line = String::new();
            // The request line, then headers up to the blank line.
            let _ = reader.read_line(&mut line);
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                }
            }
            let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx.send(Delivery { headers, body }).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// The value of the sample `name` (with its labels, as the exposition
/// writes them) in a scrape of `/metrics`.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `component`'s entry in `/api/v2/components.json`.
fn component(http: &reqwest::blocking::Client, url: &str, id: &str) -> Value {
    let all: Value = http.get(format!("{url}/api/v2/components.json")).send().unwrap().json().unwrap();
    all["components"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap_or_else(|| panic!("no {id}"))
}

fn ms(rfc3339: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().unwrap()).unwrap().timestamp_millis()
}

#[test]
fn a_site_down_is_seen_announced_avoided_and_counted() {
    let Some((relay, maildir)) = smtp_sink() else { return };
    let Some(prometheus) = prometheus::binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (hook, deliveries) = receiver();
    // The demo federation, probed every second, mailing through the sink,
    // and letting webhooks reach this test.
    let demo = include_str!("../../../config/demo.toml");
    let edits = [
        ("# probe_interval_secs = 60", "probe_interval_secs = 1".to_string()),
        (
            "# webhook_allowed_prefixes = [\"https://hooks.example.org/\"]",
            format!("webhook_allowed_prefixes = [\"{hook}\"]"),
        ),
    ];
    let mut config = demo.to_string();
    for (from, to) in edits {
        assert!(config.contains(from), "the demo configuration has {from}");
        config = config.replace(from, &to);
    }
    config.push_str(&format!("\n[notifications]\nsmtp = \"{relay}\"\nfrom = \"status@nuvola.test\"\n"));
    std::fs::write(cwd.join("nuvola.toml"), config).unwrap();
    let server = Server::start(cwd, &["--config", "nuvola.toml"], "serve.log");
    let url = server.url.as_str();
    let http = reqwest::blocking::Client::new();
    let token_file = cwd.join("nuvola-data/metrics-token");
    let scrape_token = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    let scrape = || {
        http.get(format!("{url}/metrics"))
            .bearer_auth(&scrape_token)
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .text()
            .unwrap()
    };
    let prometheus = Prometheus::scraping(&prometheus, cwd, url, &token_file);

    let issue = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--config", "nuvola.toml"]);
        cli_ok(cwd, &[], &args).trim().to_string()
    };
    let alice = issue(&["token", "issue", "--user", "alice", "--group", "physics"]);
    let as_alice = [("NUVOLA_URL", url), ("NUVOLA_TOKEN", alice.as_str())];
    let admin = issue(&["token", "issue", "--user", "ops", "--admin"]);
    let as_admin = [("NUVOLA_URL", url), ("NUVOLA_TOKEN", admin.as_str())];

    // The site placement picks for alice's VM.
    let made = cli_ok(cwd, &as_alice, &["deploy", "single-vm", "--group", "physics", "--wait", "--output", "json"]);
    let made: Value = serde_json::from_str(&made).unwrap();
    let site = made["provider"].as_str().expect("placed on a site").to_string();
    let id = ["backbone", "clouds"]
        .iter()
        .map(|g| format!("{g}/{site}"))
        .find(|id| scrape().contains(&format!("nuvola_probe_success{{component=\"{id}\",probe=\"api\"}} 1")))
        .unwrap_or_else(|| panic!("{site}'s component passes its probes"));

    // Subscribers to that site: by e-mail, confirmed from the mail, and by
    // webhook, whose secret the page shows once.
    let nonce = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let address = format!("watcher-{nonce}@example.org");
    let subscribe = |fields: &[(&str, &str)]| {
        let answer = http.post(format!("{url}/status/subscribe")).form(fields).send().unwrap();
        let status = answer.status();
        let text = answer.text().unwrap();
        assert_eq!(status, 200, "{fields:?}: {text}");
        text
    };
    subscribe(&[("kind", "email"), ("address", &address), ("component", &id)]);
    let confirmation = eventually("the confirmation mail", || mails_mentioning(&maildir, &address).pop());
    let confirm = token_in(&confirmation, "/status/subscriptions/confirm");
    let confirmed =
        http.post(format!("{url}/status/subscriptions/confirm")).form(&[("token", &confirm)]).send().unwrap();
    assert_eq!(confirmed.status(), 200);
    let page = subscribe(&[("kind", "webhook"), ("address", &hook), ("component", &id)]);
    let secret = page.split("Signing secret").nth(1).and_then(|s| s.split("<code>").nth(1)).unwrap();
    let secret = secret.split("</code>").next().unwrap().to_string();

    // Down: the component leaves operational within two rounds after the
    // one in flight (counted in the same scrape as the state).
    let operational = format!("nuvola_component_state{{component=\"{id}\",state=\"operational\"}}");
    let rounds_before = sample(&scrape(), "nuvola_probe_rounds_total").unwrap();
    cli_ok(cwd, &as_admin, &["sim", "set", &site, "down=true"]);
    let rounds = eventually("the component leaves operational", || {
        let metrics = scrape();
        (sample(&metrics, &operational) == Some(0.0)).then(|| sample(&metrics, "nuvola_probe_rounds_total").unwrap())
    });
    assert!(rounds - rounds_before <= 3.0, "{} rounds to leave operational", rounds - rounds_before);
    let left = component(&http, url, &id);
    assert_ne!(left["status"], "operational");
    let down_at = ms(&left["updated_at"]);

    // Placement leaves it out and says why; a new VM goes elsewhere.
    eventually("a major outage", || (component(&http, url, &id)["status"] == "major_outage").then_some(()));
    let plan: Value = http
        .get(format!("{url}/api/v1/plan?catalogueId=single-vm&userGroup=physics"))
        .bearer_auth(&alice)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let verdict = plan["plan"]["verdicts"].as_array().unwrap().iter().find(|v| v["provider"] == site.as_str());
    let why = verdict.map(|v| v["reasons"].to_string()).unwrap_or_default();
    assert!(why.contains("down: major outage since"), "{plan:#}");
    assert!(why.contains(&format!("simulated outage of {site}")), "{plan:#}");
    let again = cli_ok(cwd, &as_alice, &["deploy", "single-vm", "--group", "physics", "--wait", "--output", "json"]);
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_ne!(again["provider"], site.as_str(), "{again:#}");

    // Prometheus sees the probe fail and the outage.
    prometheus.until_has(&format!("nuvola_probe_success{{component=\"{id}\",probe=\"api\"}} == 0"));
    prometheus.until_has(&format!("nuvola_component_state{{component=\"{id}\",state=\"major_outage\"}} == 1"));

    // An operator opens an incident on it from the CLI and updates it; the
    // subscribers hear of both, by mail and by signed webhook.
    let title = format!("{site} does not answer ({nonce})");
    let open = [
        "incident",
        "open",
        "--title",
        &title,
        "--impact",
        "critical",
        "--component",
        &id,
        "--message",
        "Its API does not answer; we are looking into it.",
        "--output",
        "json",
    ];
    let opened: Value = serde_json::from_str(&cli_ok(cwd, &as_admin, &open)).unwrap();
    let incident = opened["id"].as_str().expect("the incident's id").to_string();
    let update = [
        "incident",
        "update",
        &incident,
        "--status",
        "identified",
        "--message",
        "A switch failed; it is being replaced.",
    ];
    cli_ok(cwd, &as_admin, &update);
    let mails = eventually("a mail of each change", || {
        let mine: Vec<String> =
            mails_mentioning(&maildir, &title).into_iter().filter(|m| m.contains(&address)).collect();
        (mine.len() == 2).then_some(mine)
    });
    for needle in ["investigating", "identified"] {
        assert!(mails.iter().any(|m| m.to_lowercase().contains(needle)), "no mail says {needle}: {mails:?}");
    }
    for status in ["investigating", "identified"] {
        let delivery = deliveries.recv_timeout(Duration::from_secs(60)).expect("a webhook of each change");
        let header = |name: &str| delivery.headers.get(name).cloned().unwrap_or_default();
        let verified = nuvola_notify::webhook::verify(
            &secret,
            &header("x-nuvola-timestamp"),
            &delivery.body,
            &header("x-nuvola-signature"),
            chrono::Utc::now().timestamp_millis(),
            Duration::from_secs(300),
        );
        assert!(verified.is_ok(), "{verified:?}");
        let event: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert!(event.to_string().contains(&title) && event.to_string().contains(status), "{event:#}");
    }

    // Back up: its probes pass again after three good rounds, but the page
    // shows what the open incident says until an operator resolves it.
    cli_ok(cwd, &as_admin, &["sim", "set", &site, "down=false"]);
    eventually("the probes say operational", || (sample(&scrape(), &operational) == Some(1.0)).then_some(()));
    assert_eq!(component(&http, url, &id)["status"], "major_outage", "the incident's state");
    cli_ok(cwd, &as_admin, &["incident", "update", &incident, "--status", "resolved", "--message", "Replaced."]);
    let back = component(&http, url, &id);
    assert_eq!(back["status"], "operational");
    let back_at = ms(&back["updated_at"]);
    assert!(back_at > down_at);

    // The day's figures: the outage to the millisecond, the rest up or
    // not known yet, and A and R as ARGO defines them.
    let day = |at: i64| chrono::DateTime::from_timestamp_millis(at).unwrap().format("%Y-%m-%d").to_string();
    let csv = http.get(format!("{url}/status/availability.csv?month={}", &day(down_at)[..7])).send().unwrap();
    let csv = csv.text().unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let row = |d: &str| rows.iter().find(|r| r[0] == id && r[2] == d).unwrap_or_else(|| panic!("{d} in {csv}"));
    let ms_in = |row: &[&str], column: usize| (row[column].parse::<f64>().unwrap() * 1000.0).round() as i64;
    let mut days = vec![day(down_at), day(back_at)];
    days.dedup();
    // Down: CRITICAL (an outage) or WARNING (degraded) from the first
    // change to the return.
    let outage: i64 = days.iter().map(|d| ms_in(row(d), 4) + ms_in(row(d), 5)).sum();
    assert_eq!(outage, back_at - down_at, "the outage in the CSV\n{csv}");
    for d in &days {
        let row = row(d);
        let [ok, warning, critical, unknown, downtime] = [3, 4, 5, 6, 7].map(|c| ms_in(row, c));
        assert_eq!(ok + warning + critical + unknown + downtime, 86_400_000, "{row:?}");
        assert_eq!(downtime, 0, "no maintenance: {row:?}");
        // A = UP / (T - UNKNOWN); R = UP / (T - UNKNOWN - DOWNTIME), the
        // same with no scheduled downtime.
        let availability = format!("{:.2}", 100.0 * (ok + warning) as f64 / (86_400_000 - unknown) as f64);
        assert_eq!((row[8], row[9]), (availability.as_str(), availability.as_str()), "{row:?}");
    }

    server.kill();
}
