//! A real Prometheus (Debian's package, which `.ci/services.sh` installs)
//! scraping a `nuvola serve` every second, and its query API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Prometheus's binary; `None` (the reason printed) on a developer's
/// machine without it. Under CI it must be there.
pub fn binary() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("NUVOLA_TEST_PROMETHEUS").unwrap_or("/usr/bin/prometheus".into()));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing under CI: .ci/services.sh should have installed Debian's prometheus", path.display());
    }
    eprintln!("skipping: no Prometheus at {} (apt-get install prometheus)", path.display());
    None
}

/// A running Prometheus, stopped when dropped.
pub struct Prometheus {
    child: Child,
    /// Its HTTP API's base URL.
    pub url: String,
    http: reqwest::blocking::Client,
}

impl Prometheus {
    /// Starts `binary` in `dir` scraping `server_url`'s `/metrics` every
    /// second with the token in `token_file`.
    pub fn scraping(binary: &Path, dir: &Path, server_url: &str, token_file: &Path) -> Prometheus {
        let port = super::free_port();
        let config = dir.join("prometheus.yml");
        let target = server_url.trim_start_matches("http://");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nuvola\n    static_configs:\n      - targets: ['{target}']\n    authorization:\n      credentials_file: {}\n",
                token_file.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("Prometheus starts");
        Prometheus { child, url: format!("http://127.0.0.1:{port}"), http: reqwest::blocking::Client::new() }
    }

    /// Asks for `query` until the answer is a non-empty vector, or gives
    /// up after a minute (a scrape every second, so about 60 chances).
    pub fn until_has(&self, query: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer: Option<Value> = self
                .http
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", query)])
                .send()
                .ok()
                .and_then(|r| r.json().ok());
            if let Some(result) = answer.as_ref().and_then(|a| a["data"]["result"].as_array()).filter(|r| !r.is_empty())
            {
                return result.clone();
            }
            assert!(Instant::now() < deadline, "Prometheus never had {query}: last answer {answer:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
