//! Deployment callbacks: when a deployment reaches a final state, nuvola
//! POSTs it (in the orchestrator's JSON shape) to the `callback` URL given
//! at submission, as the INDIGO orchestrator does.
//!
//! The server never calls an arbitrary URL taken from user input: a
//! callback must start with one of the operator's
//! `deployments.callback_allowed_prefixes`, checked at submission, and
//! redirects are not followed. Delivery is best effort — a few tries with
//! backoff, whose outcome goes to the deployment's log — and is not
//! replayed after a crash.

use std::time::Duration;

use nuvola_types::{Error, Result};
use serde_json::Value;

/// Waits before each delivery try.
const BACKOFF: [Duration; 3] = [Duration::ZERO, Duration::from_secs(2), Duration::from_secs(10)];

/// What an outbound URL is for, and the operator's setting that allows
/// it, as a refusal names them.
#[derive(Debug, Clone, Copy)]
pub struct Destination {
    /// What is sent there, in the singular: "callback", "webhook".
    pub what: &'static str,
    /// The setting holding the prefixes such URLs must lie under.
    pub setting: &'static str,
}

/// Deployments' callbacks.
pub const CALLBACK: Destination = Destination { what: "callback", setting: "deployments.callback_allowed_prefixes" };

/// Refuses a callback URL that is not http(s) or not under an allowed
/// prefix (see [`check_destination`]).
pub fn check_callback(callback: &str, allowed: &[String]) -> Result<()> {
    check_destination(callback, allowed, CALLBACK)
}

/// Refuses a URL nuvola would send `to` to that is not http(s) or not
/// under one of the `allowed` prefixes. The URL is checked as an HTTP
/// client reads it (WHATWG parsing: `..` segments removed, backslashes
/// read as slashes), so what is checked is what would be called.
pub fn check_destination(url: &str, allowed: &[String], to: Destination) -> Result<()> {
    let what = to.what;
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
        .filter(|_| url.len() <= 2048);
    let Some(parsed) = parsed else {
        return Err(Error::invalid(format!("{what} {url:?} is not an http(s) URL")));
    };
    if allowed.is_empty() {
        return Err(Error::invalid(format!(
            "{what}s are disabled on this server (an operator enables them with {})",
            to.setting
        )));
    }
    if !allowed.iter().any(|prefix| under_prefix(&parsed, prefix)) {
        return Err(Error::invalid(format!(
            "{what} {url:?} is not allowed on this server; allowed prefixes: {}",
            allowed.join(", ")
        )));
    }
    Ok(())
}

/// Whether `callback` lies under `prefix`: the same scheme, host and port,
/// no user info (`https://hooks.example.org@169.254.169.254/`), and a path
/// at or below the prefix's by whole segments once both are normalised
/// (`/nuvola/../other` is not under `/nuvola/`). An encoded slash or
/// backslash, which a server may decode into a path separator, is refused.
fn under_prefix(callback: &url::Url, prefix: &str) -> bool {
    let Ok(prefix) = url::Url::parse(prefix) else { return false };
    let same_server = callback.scheme() == prefix.scheme()
        && callback.host_str() == prefix.host_str()
        && callback.port_or_known_default() == prefix.port_or_known_default();
    let no_user = callback.username().is_empty() && callback.password().is_none();
    let (want, have) = (prefix.path(), callback.path());
    let lowered = have.to_ascii_lowercase();
    if !same_server || !no_user || lowered.contains("%2f") || lowered.contains("%5c") {
        return false;
    }
    if want.ends_with('/') { have.starts_with(want) } else { have == want || have.starts_with(&format!("{want}/")) }
}

/// POSTs `body` to `url` until it answers with success, at most once per
/// backoff step, and says how the last try went (for the deployment's log).
pub async fn deliver(http: &reqwest::Client, url: &str, body: &Value) -> String {
    let mut outcome = String::new();
    for wait in BACKOFF {
        tokio::time::sleep(wait).await;
        match http.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => {
                return format!("callback to {url} answered {}", r.status().as_u16());
            }
            Ok(r) => outcome = format!("callback to {url} answered {}", r.status().as_u16()),
            Err(e) => outcome = format!("callback to {url} failed: {e}"),
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::check_callback;

    #[test]
    fn callbacks_must_be_under_an_allowed_prefix() {
        let allowed = vec!["https://hooks.example.org/nuvola".to_string(), "http://127.0.0.1:9000/".to_string()];
        assert!(check_callback("https://hooks.example.org/nuvola/deployments/1", &allowed).is_ok());
        assert!(check_callback("https://hooks.example.org/nuvola?d=1", &allowed).is_ok());
        assert!(check_callback("https://hooks.example.org/nuvola/a/../b", &allowed).is_ok(), "still under it");
        assert!(check_callback("http://127.0.0.1:9000/x", &allowed).is_ok());
        for (bad, why) in [
            ("ftp://hooks.example.org/", "not an http(s) URL"),
            ("https://", "not an http(s) URL"),
            ("http://169.254.169.254/latest/meta-data", "not allowed"),
            ("https://hooks.example.org.evil.com/", "not allowed"),
            // Out of the allowed path by dot segments, plain or encoded, or
            // by a separator a server may decode.
            ("https://hooks.example.org/nuvola/../admin", "not allowed"),
            ("https://hooks.example.org/nuvola/%2e%2e/admin", "not allowed"),
            ("https://hooks.example.org/nuvola/.%2E/admin", "not allowed"),
            ("https://hooks.example.org/nuvola\\..\\admin", "not allowed"),
            ("https://hooks.example.org/nuvola/..%2fadmin", "not allowed"),
            ("https://hooks.example.org/nuvolax", "not allowed"),
        ] {
            let err = check_callback(bad, &allowed).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let err = check_callback("https://hooks.example.org/", &[]).unwrap_err().to_string();
        assert!(err.contains("disabled"), "{err}");
    }
}
