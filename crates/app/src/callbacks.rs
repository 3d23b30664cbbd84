//! Deployment callbacks: when a deployment reaches a final state, nuvola
//! POSTs it (in the orchestrator's JSON shape) to the `callback` URL given
//! at submission, as the INDIGO orchestrator does.
//!
//! The server never calls an arbitrary URL taken from user input: a
//! callback must start with one of the operator's
//! `deployments.callback_allowed_prefixes`, checked at submission. Delivery
//! is best effort — a few tries with backoff, each logged in the
//! deployment's log — and is not replayed after a crash.

use std::time::Duration;

use nuvola_store::DeploymentRecord;
use nuvola_types::{Error, Result};

use crate::App;

/// Waits before each delivery try.
const BACKOFF: [Duration; 3] = [Duration::ZERO, Duration::from_secs(2), Duration::from_secs(10)];

/// Refuses a callback URL that is not http(s) or not under an allowed
/// prefix.
pub(crate) fn check_callback(callback: &str, allowed: &[String]) -> Result<()> {
    let well_formed = (callback.starts_with("http://") || callback.starts_with("https://"))
        && callback.len() <= 2048
        && callback.split("://").nth(1).is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !well_formed {
        return Err(Error::invalid(format!("callback {callback:?} is not an http(s) URL")));
    }
    if allowed.is_empty() {
        return Err(Error::invalid(
            "callbacks are disabled on this server (an operator enables them with deployments.callback_allowed_prefixes)",
        ));
    }
    if !allowed.iter().any(|prefix| under_prefix(callback, prefix)) {
        return Err(Error::invalid(format!(
            "callback {callback:?} is not allowed on this server; allowed prefixes: {}",
            allowed.join(", ")
        )));
    }
    Ok(())
}

/// Whether `callback` starts with `prefix` without leaving its server: a
/// prefix that ends in the host part (`https://hooks.example.org`) must be
/// followed by a path, query or nothing, or it would also allow
/// `https://hooks.example.org.evil.example/` and
/// `https://hooks.example.org@169.254.169.254/`.
fn under_prefix(callback: &str, prefix: &str) -> bool {
    let Some(rest) = callback.strip_prefix(prefix) else {
        return false;
    };
    let prefix_has_path = prefix.split_once("://").is_some_and(|(_, after)| after.contains('/'));
    prefix_has_path || rest.is_empty() || rest.starts_with(['/', '?', '#'])
}

impl App {
    /// Delivers `d`'s callback in the background, if it has one.
    pub(crate) fn send_callback(&self, d: &DeploymentRecord) {
        let Some(url) = d.callback.clone() else { return };
        let body = crate::views::orchestrator_deployment(d, &self.settings().public_url);
        let app = self.clone();
        let id = d.id.clone();
        tokio::spawn(async move {
            let mut outcome = String::new();
            for wait in BACKOFF {
                tokio::time::sleep(wait).await;
                match app.inner.http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        outcome = format!("callback to {url} answered {}", r.status().as_u16());
                        break;
                    }
                    Ok(r) => outcome = format!("callback to {url} answered {}", r.status().as_u16()),
                    Err(e) => outcome = format!("callback to {url} failed: {e}"),
                }
            }
            tracing::info!(deployment = %id, "{outcome}");
            if let Err(e) = app.store().append_log(&id, &outcome).await {
                tracing::error!(deployment = %id, error = %e, "cannot log the callback outcome");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::check_callback;

    #[test]
    fn callbacks_must_be_under_an_allowed_prefix() {
        let allowed = vec!["https://hooks.example.org/".to_string(), "http://127.0.0.1:9000/".to_string()];
        assert!(check_callback("https://hooks.example.org/deployments/1", &allowed).is_ok());
        assert!(check_callback("http://127.0.0.1:9000/x", &allowed).is_ok());
        for (bad, why) in [
            ("ftp://hooks.example.org/", "not an http(s) URL"),
            ("https://", "not an http(s) URL"),
            ("http://169.254.169.254/latest/meta-data", "not allowed"),
            ("https://hooks.example.org.evil.com/", "not allowed"),
        ] {
            let err = check_callback(bad, &allowed).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let err = check_callback("https://hooks.example.org/", &[]).unwrap_err().to_string();
        assert!(err.contains("disabled"), "{err}");
    }
}
