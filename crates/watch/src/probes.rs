//! The checks of one round, each timed and bounded: a provider's own
//! checks (its driver's [`Driver::probe`](nuvola_drivers::Driver::probe)),
//! an identity issuer's discovery document and keys, nuvola's store and the
//! lag of its due work, an HTTP endpoint, an SMTP relay's greeting.
//! A check that does not finish within its bound fails, saying so: a
//! hanging site is a failing one.

use std::future::Future;
use std::time::{Duration, Instant};

use nuvola_store::Store;
use reqwest::Client;
use serde_json::Value;
use tokio::io::AsyncReadExt;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub probe: String,
    pub ok: bool,
    pub latency_ms: u32,
    pub detail: String,
    /// What a provider's quota check read.
    pub quota: Option<nuvola_drivers::ProjectQuota>,
}

/// Runs `work` as check `probe`, failing it past `bound`.
pub async fn bounded(
    probe: impl Into<String>,
    bound: Duration,
    work: impl Future<Output = Result<String, String>>,
) -> Found {
    let started = Instant::now();
    let outcome = tokio::time::timeout(bound, work).await;
    let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    let (ok, detail) = match outcome {
        Ok(Ok(fact)) => (true, fact),
        Ok(Err(why)) => (false, why),
        Err(_) => (false, format!("no answer within {} s", bound.as_secs())),
    };
    Found { probe: probe.into(), ok, latency_ms, detail, quota: None }
}

/// An issuer's discovery document, then the keys it names: both must be
/// served, and the keys must be a JWK set with at least one key.
pub async fn issuer(http: &Client, issuer: &str) -> Result<String, String> {
    let discovery = nuvola_types::oauth::Discovery::url(issuer);
    let document = json(http, &discovery).await?;
    let jwks_uri = document["jwks_uri"].as_str().ok_or_else(|| format!("{discovery} names no jwks_uri"))?;
    let keys = json(http, jwks_uri).await?;
    match keys["keys"].as_array() {
        Some(keys) if !keys.is_empty() => Ok(format!("{} signing keys", keys.len())),
        _ => Err(format!("{jwks_uri} holds no keys")),
    }
}

/// A GET of `url` that must answer 2xx with JSON.
async fn json(http: &Client, url: &str) -> Result<Value, String> {
    let reply = http.get(url).send().await.map_err(|e| format!("GET {url}: {}", root_cause(&e)))?;
    let status = reply.status();
    if !status.is_success() {
        return Err(format!("GET {url} answered {status}"));
    }
    reply.json().await.map_err(|e| format!("GET {url} answered no JSON: {e}"))
}

/// A GET of `url` that must answer below 500; says the status.
pub async fn http_get(http: &Client, url: &str) -> Result<String, String> {
    let reply = http.get(url).send().await.map_err(|e| format!("GET {url}: {}", root_cause(&e)))?;
    let status = reply.status();
    if status.is_server_error() {
        Err(format!("GET {url} answered {status}"))
    } else {
        Ok(format!("HTTP {}", status.as_u16()))
    }
}

/// The store answers a query.
pub async fn store(store: &Store) -> Result<String, String> {
    store.ping().await.map(|()| "answers".to_string()).map_err(|e| format!("the store does not answer: {e}"))
}

/// Due workflow steps are taken up: the oldest waits less than
/// `max_lag_ms`.
pub async fn workers(store: &Store, now: i64, max_lag_ms: i64) -> Result<String, String> {
    let (due, oldest) = store.due_work(now).await.map_err(|e| format!("cannot read due work: {e}"))?;
    let lag = oldest.unwrap_or(0).max(0);
    let fact = format!("{due} steps due, the oldest waiting {} s", lag / 1000);
    if lag > max_lag_ms { Err(fact) } else { Ok(fact) }
}

/// An SMTP relay at `host:port` greets with 220.
pub async fn smtp(address: &str) -> Result<String, String> {
    let mut stream =
        tokio::net::TcpStream::connect(address).await.map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let mut greeting = [0u8; 512];
    let n = stream.read(&mut greeting).await.map_err(|e| format!("{address} said nothing: {e}"))?;
    let line = String::from_utf8_lossy(&greeting[..n]);
    let line = line.lines().next().unwrap_or_default().trim().to_string();
    if line.starts_with("220") {
        Ok("greets with 220".to_string())
    } else {
        Err(format!("{address} greets with {line:?}, not 220"))
    }
}

/// The innermost error of a chain: what reqwest's outer layers wrap
/// (`error sending request`) says less than the connection refusal below.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}
