//! What the status page sends its subscribers, as work the caller runs:
//! an incident opened, updated or resolved and a maintenance announced
//! each become one mail per e-mail subscriber and one signed webhook per
//! webhook subscriber following an affected component (or everything).
//! Every delivery, sent or not, is written to the notifications log with
//! its outcome. The app spawns the work, so an operator's request does not
//! wait for a slow receiver (a webhook is tried for about a minute); tests
//! await it.

use futures::future::BoxFuture;
use nuvola_notify::Mail;
use nuvola_store::{SentNotification, Store, Subscription};
use nuvola_types::status::SubscriptionKind;

use crate::Watch;

/// Deliveries to run: each ends in one line of the notifications log.
#[must_use = "deliveries do nothing until run or spawned"]
pub struct Deliveries {
    store: Store,
    sends: Vec<BoxFuture<'static, SentNotification>>,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Deliveries({})", self.sends.len())
    }
}

impl Deliveries {
    pub(crate) fn new(store: Store) -> Deliveries {
        Deliveries { store, sends: Vec::new() }
    }

    /// How many deliveries there are.
    pub fn len(&self) -> usize {
        self.sends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sends.is_empty()
    }

    /// Runs every delivery at once and logs each; returns what was logged.
    pub async fn run(self) -> Vec<SentNotification> {
        let done = futures::future::join_all(self.sends).await;
        for sent in &done {
            if let Err(e) = self.store.record_notification(sent).await {
                tracing::error!(error = %e, recipient = %sent.recipient, "a notification could not be logged");
            }
        }
        done
    }

    /// Runs them in the background.
    pub fn spawn(self) {
        if !self.is_empty() {
            tokio::spawn(self.run());
        }
    }

    /// A mail to `to` about `about`, at `at`.
    pub(crate) fn mail(&mut self, watch: &Watch, to: &str, mail: &Mail, about: &str, at: i64) {
        let subject = mail.render().0;
        let base = SentNotification {
            at,
            channel: "email".into(),
            recipient: to.to_string(),
            subject,
            about: about.to_string(),
            ..Default::default()
        };
        match watch.notifier().mail(to, mail) {
            None => self.sends.push(Box::pin(async move {
                SentNotification { outcome: "not sent: no mail relay is configured".into(), ..base }
            })),
            Some(send) => self.sends.push(Box::pin(async move {
                let outcome = match send.await {
                    Ok(()) => "sent".to_string(),
                    Err(e) => format!("not sent: {e}"),
                };
                SentNotification { outcome, ..base }
            })),
        }
    }

    /// A signed webhook of `event` to subscriber `s`.
    pub(crate) fn webhook(
        &mut self,
        watch: &Watch,
        s: &Subscription,
        event: &serde_json::Value,
        subject: &str,
        about: &str,
        at: i64,
    ) {
        let base = SentNotification {
            at,
            channel: "webhook".into(),
            recipient: s.address.clone(),
            subject: subject.to_string(),
            about: about.to_string(),
            ..Default::default()
        };
        match &s.secret {
            None => {
                let why = s.secret_unreadable.clone().unwrap_or_else(|| "it has no signing key".into());
                self.sends.push(Box::pin(async move {
                    SentNotification {
                        outcome: format!("not sent: the subscription's key is unreadable ({why})"),
                        ..base
                    }
                }))
            }
            Some(secret) => {
                let send = watch.notifier().webhook(&s.address, secret, event);
                self.sends.push(Box::pin(async move {
                    let outcome = send.await;
                    let word = if outcome.delivered { "sent" } else { "not sent" };
                    SentNotification { outcome: format!("{word}: {}", outcome.detail), ..base }
                }))
            }
        }
    }
}

/// The confirmed subscribers who follow any of `components` (all of them
/// when `components` is empty), from every subscription.
pub(crate) fn followers<'a>(all: &'a [Subscription], components: &[String]) -> Vec<&'a Subscription> {
    all.iter()
        .filter(|s| s.confirmed_at.is_some())
        .filter(|s| {
            s.components.is_empty()
                || components.is_empty()
                || s.components.iter().any(|c| components.iter().any(|a| a == c))
        })
        .collect()
}

/// Whether `s` is reached by mail.
pub(crate) fn by_mail(s: &Subscription) -> bool {
    s.kind == SubscriptionKind::Email
}
