//! Notifications: what nuvola tells people and programs outside it. A
//! finished deployment is POSTed to its client's callback URL
//! ([`callback`]); a requester is mailed the decision on their request
//! ([`mail`]); monitoring's news (status page subscriptions, incidents,
//! maintenance, alerts, users' endpoints) goes out by mail ([`notices`])
//! and as signed webhooks ([`webhook`]).
//!
//! [`Notifier`] is the one way out, built from the operator's settings (the
//! SMTP relay and sender, the prefixes callbacks and webhooks must lie
//! under, the base of absolute links) with its own HTTP client, which
//! follows no redirect.
//! Its methods give the work to do as a future: the app decides when it
//! runs (in the background) and where its outcome is recorded. This crate
//! knows nothing of workflows or of the store's connection.

pub mod callback;
pub mod mail;
pub mod notices;
pub mod webhook;

use std::future::Future;
use std::time::Duration;

use nuvola_types::Result;
use nuvola_types::{AccessRequest, DeploymentRecord};

pub use mail::{SmtpSettings, plausible_address};
pub use notices::Mail;

/// Webhooks: the setting naming the prefixes their URLs must lie under.
pub const WEBHOOK: callback::Destination =
    callback::Destination { what: "webhook", setting: "notifications.webhook_allowed_prefixes" };

/// Everything nuvola sends out, and the rules it is sent by.
#[derive(Debug, Clone)]
pub struct Notifier {
    smtp: Option<SmtpSettings>,
    callback_allowed_prefixes: Vec<String>,
    webhook_allowed_prefixes: Vec<String>,
    public_url: String,
    http: reqwest::Client,
}

impl Notifier {
    /// Mail through `smtp` (none: no mail), callbacks under
    /// `callback_allowed_prefixes` (none: callbacks refused), links in
    /// what is sent based at `public_url`.
    pub fn new(smtp: Option<SmtpSettings>, callback_allowed_prefixes: Vec<String>, public_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Self {
            smtp,
            callback_allowed_prefixes,
            webhook_allowed_prefixes: vec![],
            public_url: public_url.to_string(),
            http,
        }
    }

    /// The same, sending webhooks to URLs under `prefixes` (none, the
    /// default: webhooks refused).
    pub fn with_webhook_prefixes(self, prefixes: Vec<String>) -> Self {
        Self { webhook_allowed_prefixes: prefixes, ..self }
    }

    /// The base of absolute links in what is sent.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Refuses a callback URL that a deployment may not be given: not
    /// http(s), or not under an allowed prefix (see [`callback::check_callback`]).
    pub fn check_callback(&self, url: &str) -> Result<()> {
        callback::check_callback(url, &self.callback_allowed_prefixes)
    }

    /// Refuses a webhook URL: not http(s), or not under an allowed prefix
    /// (see [`callback::check_destination`]).
    pub fn check_webhook(&self, url: &str) -> Result<()> {
        callback::check_destination(url, &self.webhook_allowed_prefixes, WEBHOOK)
    }

    /// The delivery of `event` to `url`, signed with `secret` (see
    /// [`webhook`]): the future checks the URL again (the allowed prefixes
    /// may have changed since it was given), POSTs it, a few tries with
    /// backoff on 5xx and timeouts, and says how it went for the sent-log.
    pub fn webhook(
        &self,
        url: &str,
        secret: &str,
        event: &serde_json::Value,
    ) -> impl Future<Output = webhook::Outcome> + Send + 'static {
        let checked = self.check_webhook(url).map_err(|e| e.to_string());
        let (http, url, secret, event) = (self.http.clone(), url.to_string(), secret.to_string(), event.clone());
        async move {
            match checked {
                Ok(()) => webhook::deliver(&http, &url, &secret, &event, &webhook::BACKOFF).await,
                Err(refused) => webhook::Outcome::refused(format!("webhook not sent: {refused}")),
            }
        }
    }

    /// The sending of `mail` to `to`, when mail goes out.
    pub fn mail(
        &self,
        to: &str,
        mail: &Mail,
    ) -> Option<impl Future<Output = std::result::Result<(), String>> + Send + 'static> {
        let (smtp, to) = (self.smtp.clone()?, to.to_string());
        let (subject, body) = mail.render();
        Some(async move { mail::send(&smtp, &to, &subject, &body).await })
    }

    /// The delivery of finished deployment `d` to its callback, if it has
    /// one (its URL was checked at submission): the future POSTs it in the
    /// orchestrator's shape, a few tries with backoff, and says how it went
    /// in a line for the deployment's log.
    pub fn deployment_finished(&self, d: &DeploymentRecord) -> Option<impl Future<Output = String> + Send + 'static> {
        let url = d.callback.clone()?;
        let body = nuvola_indigo::deployment(d, &self.public_url);
        let http = self.http.clone();
        Some(async move { callback::deliver(&http, &url, &body).await })
    }

    /// The mail telling the requester of `r` how it was decided, when mail
    /// goes out and they gave an address.
    pub fn request_decided(
        &self,
        r: &AccessRequest,
    ) -> Option<impl Future<Output = std::result::Result<(), String>> + Send + 'static> {
        let (smtp, to) = (self.smtp.clone()?, r.email.clone()?);
        let (subject, body) = mail::decision(r);
        Some(async move { mail::send(&smtp, &to, &subject, &body).await })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// One HTTP request read whole (head and body, by its Content-Length)
    /// from a client of `listener`, answered with 204.
    async fn one_request(listener: tokio::net::TcpListener) -> String {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the request ended early: {}", String::from_utf8_lossy(&request));
            request.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&request);
            let Some(head_end) = text.find("\r\n\r\n") else { continue };
            let length: usize = text[..head_end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            if request.len() >= head_end + 4 + length {
                break;
            }
        }
        stream.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await.unwrap();
        String::from_utf8(request).unwrap()
    }

    #[tokio::test]
    async fn a_callback_is_checked_then_posted_and_its_outcome_told() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let prefix = format!("http://{}/hooks/", listener.local_addr().unwrap());
        let notifier = Notifier::new(None, vec![prefix.clone()], "https://nuvola.example");
        let url = format!("{prefix}d1");
        notifier.check_callback(&url).unwrap();
        let refused = notifier.check_callback("http://127.0.0.1:1/hooks/d1").unwrap_err().to_string();
        assert!(refused.contains("not allowed"), "{refused}");
        let received = tokio::spawn(one_request(listener));
        let body = serde_json::json!({"uuid": "d1", "status": "CREATE_COMPLETE"});
        let outcome = callback::deliver(&notifier.http, &url, &body).await;
        assert_eq!(outcome, format!("callback to {url} answered 204"));
        let request = received.await.unwrap();
        assert!(request.starts_with("POST /hooks/d1 HTTP/1.1\r\n"), "{request}");
        let sent: serde_json::Value = serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(sent, body);
    }

    #[test]
    fn a_decision_is_mailed_only_through_a_relay_to_an_address() {
        let r = AccessRequest { email: Some("erin@example.org".into()), ..Default::default() };
        assert!(Notifier::new(None, vec![], "").request_decided(&r).is_none());
        let smtp = SmtpSettings { smtp: "127.0.0.1:25".into(), from: "nuvola@example.org".into() };
        let notifier = Notifier::new(Some(smtp), vec![], "");
        assert!(notifier.request_decided(&r).is_some());
        assert!(notifier.request_decided(&AccessRequest { email: None, ..r }).is_none());
    }
}
