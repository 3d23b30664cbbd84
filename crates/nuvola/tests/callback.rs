//! Deployment callbacks: a finished deployment is POSTed to its callback
//! URL when the URL is under an allowed prefix, and refused at submission
//! otherwise.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::{Server, cli_ok};
use serde_json::{Value, json};

fn config(allowed: &str) -> String {
    format!(
        r#"
[workers]
poll_interval_ms = 100

[deployments]
callback_allowed_prefixes = ["{allowed}"]

[[providers]]
name = "site"
driver = "sim"
endpoint = "https://site.example:5000/v3"
flavors = [{{ name = "m1.medium", vcpus = 2, ram_mb = 4096, disk_gb = 20 }}]
images = [{{ name = "ubuntu-22.04", distribution = "ubuntu", version = "22.04" }}]
networks = [{{ name = "public", kind = "public", cidr = "198.51.100.0/24" }}]
settings = {{ create_latency_ms = 200, delete_latency_ms = 50 }}

[providers.groups.physics]
sla_id = "sla-site"
"#
    )
}

/// Accepts one HTTP request and sends its method, path and JSON body.
fn receiver() -> (String, mpsc::Receiver<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let prefix = format!("http://{}/hooks/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (&stream).write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").unwrap();
        let line: Vec<&str> = request_line.split_whitespace().collect();
        tx.send((format!("{} {}", line[0], line[1]), serde_json::from_slice(&body).unwrap())).unwrap();
    });
    (prefix, rx)
}

#[test]
fn a_finished_deployment_calls_back_and_foreign_urls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let (prefix, received) = receiver();
    std::fs::write(cwd.join("nuvola.toml"), config(&prefix)).unwrap();
    let args = ["--config", "nuvola.toml", "--data-dir", "data"];
    let token = cli_ok(
        cwd,
        &[],
        &["token", "issue", "--user", "alice", "--group", "physics", "--config", "nuvola.toml", "--data-dir", "data"],
    );
    let server = Server::start(cwd, &args, "serve.log");
    let http = reqwest::blocking::Client::new();
    let template: Value = http
        .get(format!("{}/api/v1/catalogue/single-vm", server.url))
        .bearer_auth(token.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let submit = |callback: &str| {
        http.post(format!("{}/orchestrator/deployments", server.url))
            .bearer_auth(token.trim())
            .json(&json!({"template": template["template"], "callback": callback}))
            .send()
            .unwrap()
    };

    let refused = submit("http://169.254.169.254/latest/meta-data");
    assert_eq!(refused.status(), 400);
    assert!(refused.text().unwrap().contains("not allowed on this server"));

    let accepted = submit(&format!("{prefix}done"));
    assert_eq!(accepted.status(), 201);
    let id = accepted.json::<Value>().unwrap()["uuid"].as_str().unwrap().to_string();
    let (request, body) = received.recv_timeout(Duration::from_secs(60)).expect("a callback");
    assert_eq!(request, "POST /hooks/done");
    assert_eq!(body["uuid"], id.as_str());
    assert_eq!(body["status"], "CREATE_COMPLETE");
    assert!(body["outputs"].as_object().is_some_and(|o| !o.is_empty()), "{body}");
}
