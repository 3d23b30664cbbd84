//! The HTTP client the real drivers share, with the resilience rules every
//! call to a cloud API follows:
//!
//! - every call has a timeout (connect and whole-request), so a provider
//!   that hangs costs one timeout, never a blocked worker;
//! - connection errors, timeouts and 5xx answers are retried a bounded
//!   number of times, with exponential backoff and full jitter — but a
//!   call that is not idempotent is retried only when the request surely
//!   never reached the server (connection refused);
//! - 4xx answers are returned at once, never retried, except 429 (rate
//!   limited), which waits for `Retry-After` (bounded) and counts as a try;
//! - secrets (auth headers) are never logged: messages name the method and
//!   the path only.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::DriverError;

/// Timeouts and retries of a driver's calls; part of its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallPolicy {
    /// Longest a single HTTP exchange may take, connect included.
    pub timeout_secs: f64,
    /// Longest the TCP/TLS connect may take.
    pub connect_timeout_secs: f64,
    /// Retries after the first try (so `retries + 1` tries at most).
    pub retries: u32,
    /// First backoff; doubles per retry, with full jitter.
    pub backoff_ms: u64,
    /// Longest single backoff, `Retry-After` included.
    pub max_backoff_ms: u64,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy { timeout_secs: 30.0, connect_timeout_secs: 5.0, retries: 3, backoff_ms: 200, max_backoff_ms: 5_000 }
    }
}

impl CallPolicy {
    /// Checks the numbers are usable.
    pub fn check(&self) -> Result<(), String> {
        let finite = |v: f64| v.is_finite() && v > 0.0 && v <= 3600.0;
        if !finite(self.timeout_secs) || !finite(self.connect_timeout_secs) {
            return Err("timeout_secs and connect_timeout_secs must be between 0 and 3600 (exclusive of 0)".into());
        }
        if self.retries > 10 {
            return Err(format!("retries must be at most 10, not {}", self.retries));
        }
        Ok(())
    }

    /// The backoff before retry number `retry` (0-based): uniform in
    /// `0..=min(max, base * 2^retry)` ("full jitter").
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self.backoff_ms.saturating_mul(1u64 << retry.min(20)).min(self.max_backoff_ms);
        Duration::from_millis(jitter(cap))
    }
}

/// A uniform draw in `0..=cap`, from the v4 UUID generator's randomness.
fn jitter(cap: u64) -> u64 {
    if cap == 0 {
        return 0;
    }
    let r = uuid::Uuid::new_v4().as_u128() as u64;
    r % (cap + 1)
}

/// One answer: status, headers and body (read whole).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, DriverError> {
        serde_json::from_str(&self.body).map_err(|e| {
            DriverError::unavailable(format!("{what}: unexpected answer ({e})")).because(excerpt(&self.body))
        })
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }
}

/// What an API's error answer says for people to read: the `message` of
/// an OpenStack fault (`{"itemNotFound": {"message": ...}}`,
/// `{"NeutronError": {"message": ...}}`, Keystone's `{"error": {...}}`)
/// or of a flat `{"message": ...}`, or an OAuth `error_description`, cut
/// to 300 characters. Never the raw body, which may carry what only an
/// operator should read (tracebacks, addresses inside the site).
pub fn said_by(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = |v: &serde_json::Value| {
        ["message", "error_description"].iter().find_map(|k| v.get(k)?.as_str().map(str::to_string))
    };
    let found = text(&v).or_else(|| v.as_object()?.values().find_map(text))?;
    let found = found.trim();
    let mut s: String = found.chars().take(300).collect();
    if found.chars().count() > 300 {
        s.push('…');
    }
    (!s.is_empty()).then_some(s)
}

/// The first line-ish part of a body, for the log.
pub fn excerpt(body: &str) -> String {
    let trimmed = body.trim();
    let mut s: String = trimmed.chars().take(400).collect();
    if trimmed.chars().count() > 400 {
        s.push('…');
    }
    s
}

/// A shared HTTP client following a [`CallPolicy`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    /// For [`Replay::Unsafe`] calls: a new connection each time. A pooled
    /// connection the server closed right after its last answer fails the
    /// next request after it was sent (uwsgi's HTTP router does this under
    /// keep-alive), and a POST cannot be replayed to find out.
    fresh: reqwest::Client,
    policy: CallPolicy,
}

/// Whether replaying a request is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// GET, DELETE, PUT of a whole resource: retry on any transient error.
    Safe,
    /// POST that creates: retry only when the request never left.
    Unsafe,
}

impl Http {
    /// A client with `policy`'s timeouts.
    pub fn new(policy: CallPolicy) -> Result<Http, DriverError> {
        policy.check().map_err(DriverError::invalid)?;
        let builder = || {
            reqwest::Client::builder()
                .timeout(Duration::from_secs_f64(policy.timeout_secs))
                .connect_timeout(Duration::from_secs_f64(policy.connect_timeout_secs))
                .pool_idle_timeout(Duration::from_secs(30))
                .user_agent(concat!("nuvola/", env!("CARGO_PKG_VERSION")))
        };
        let built = |b: reqwest::ClientBuilder| {
            b.build().map_err(|e| DriverError::invalid(format!("cannot build HTTP client: {e}")))
        };
        let client = built(builder())?;
        let fresh = built(builder().pool_max_idle_per_host(0))?;
        Ok(Http { client, fresh, policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &CallPolicy {
        &self.policy
    }

    /// Sends the request `build` makes (called once per try), following
    /// the policy. Answers below 500 (and 5xx of an [`Replay::Unsafe`]
    /// call) are returned for the caller to judge; transport failures and
    /// 5xx left after the retries are [`DriverError::Unavailable`].
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        replay: Replay,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Reply, DriverError> {
        // What the user reads names the call; where it went is the log's.
        let what = format!("{method} {}", path_of(url));
        let at = |detail: String| format!("{}: {detail}", site_of(url));
        let mut retry = 0u32;
        loop {
            let client = if replay == Replay::Unsafe { &self.fresh } else { &self.client };
            let request = build(client.request(method.clone(), url));
            let outcome = request.send().await;
            let wait = match outcome {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let body = match response.text().await {
                        Ok(b) => b,
                        Err(e) if retry < self.policy.retries && replay == Replay::Safe => {
                            tracing::debug!(%what, error = %e, "reading the answer failed; retrying");
                            retry += 1;
                            tokio::time::sleep(self.policy.backoff(retry - 1)).await;
                            continue;
                        }
                        Err(e) => {
                            return Err(DriverError::unavailable(format!("{what}: the answer was cut off"))
                                .because(at(e.to_string())));
                        }
                    };
                    let reply = Reply { status, headers, body };
                    if status == StatusCode::TOO_MANY_REQUESTS && retry < self.policy.retries {
                        let asked = reply
                            .header("retry-after")
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(|s| Duration::from_secs(s).min(Duration::from_millis(self.policy.max_backoff_ms)));
                        asked.unwrap_or_else(|| self.policy.backoff(retry))
                    } else if status.is_server_error() && replay == Replay::Safe && retry < self.policy.retries {
                        tracing::debug!(%what, %status, "server error; retrying");
                        self.policy.backoff(retry)
                    } else if status.is_server_error() && replay == Replay::Safe {
                        let tries = retry + 1;
                        return Err(DriverError::unavailable(format!("{what}: HTTP {status} after {tries} tries"))
                            .because(at(excerpt(&reply.body))));
                    } else if status == StatusCode::TOO_MANY_REQUESTS {
                        return Err(DriverError::unavailable(format!(
                            "{what}: rate limited (HTTP 429) after {} tries",
                            retry + 1
                        )));
                    } else {
                        return Ok(reply);
                    }
                }
                Err(e) => {
                    let never_sent = e.is_connect();
                    let may_retry = replay == Replay::Safe || never_sent;
                    if !may_retry || retry >= self.policy.retries {
                        let kind = if e.is_timeout() { "timed out" } else { "failed" };
                        let tries = retry + 1;
                        return Err(DriverError::unavailable(format!("{what} {kind} after {tries} tries"))
                            .because(at(error_chain(&e))));
                    }
                    tracing::debug!(%what, error = %e, "transport error; retrying");
                    self.policy.backoff(retry)
                }
            };
            retry += 1;
            tokio::time::sleep(wait).await;
        }
    }
}

/// The path of a URL (no query, no credentials), for messages.
/// The path of `url`, without its query (which may carry credentials).
fn path_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.path().to_string(),
        Err(_) => url.split('?').next().unwrap_or(url).to_string(),
    }
}

/// Where `url` goes, without user info.
fn site_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}", u.scheme(), host_port(&u)),
        Err(_) => String::new(),
    }
}

fn host_port(u: &url::Url) -> String {
    match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or("")),
        None => u.host_str().unwrap_or("").to_string(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = CallPolicy { backoff_ms: 100, max_backoff_ms: 1_000, ..CallPolicy::default() };
        for retry in 0..30 {
            let cap = (100u64 << retry.min(20)).min(1_000);
            for _ in 0..20 {
                assert!(p.backoff(retry).as_millis() as u64 <= cap);
            }
        }
        let draws: std::collections::BTreeSet<_> = (0..50).map(|_| p.backoff(3)).collect();
        assert!(draws.len() > 5, "backoff is jittered");
    }

    #[test]
    fn what_an_error_answer_says_is_its_message_never_its_body() {
        let nova = r#"{"forbidden": {"code": 403, "message": "Quota exceeded for cores: Requested 8, but already used 16 of 20 cores"}}"#;
        assert_eq!(said_by(nova).unwrap(), "Quota exceeded for cores: Requested 8, but already used 16 of 20 cores");
        let neutron = r#"{"NeutronError": {"type": "NetworkNotFound", "message": "Network x could not be found.", "detail": ""}}"#;
        assert_eq!(said_by(neutron).unwrap(), "Network x could not be found.");
        assert_eq!(said_by(r#"{"message": "flat"}"#).unwrap(), "flat");
        assert_eq!(said_by(r#"{"error": "invalid_client", "error_description": "bad secret"}"#).unwrap(), "bad secret");
        // HTML error pages, tracebacks and empty messages say nothing.
        assert_eq!(said_by("<html><body>Traceback (most recent call last): at 10.0.0.7</body></html>"), None);
        assert_eq!(said_by(r#"{"error": {"message": "  "}}"#), None);
        let long = format!(r#"{{"message": "{}"}}"#, "x".repeat(1_000));
        assert_eq!(said_by(&long).unwrap().chars().count(), 301);
    }

    #[test]
    fn paths_hide_queries_and_userinfo() {
        assert_eq!(path_of("http://u:p@127.0.0.1:8800/infrastructures?async=1"), "/infrastructures");
        assert_eq!(site_of("http://u:p@127.0.0.1:8800/infrastructures?async=1"), "http://127.0.0.1:8800");
    }
}
