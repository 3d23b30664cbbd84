//! What the status page sends its subscribers, as work the caller runs:
//! an incident opened, updated or resolved and a maintenance announced
//! each become one mail per e-mail subscriber and one signed webhook per
//! webhook subscriber following an affected component (or everything).
//! Every delivery, sent or not, is written to the notifications log with
//! its outcome. The app spawns the work, so an operator's request does not
//! wait for a slow receiver (a webhook is tried for about a minute); tests
//! await it.

use futures::future::BoxFuture;
use nuvola_notify::{Mail, Notifier};
use nuvola_store::{SentNotification, Store, Subscription};
use nuvola_types::status::SubscriptionKind;

use crate::Watch;

/// Deliveries to run: each ends in one line of the notifications log.
#[must_use = "deliveries do nothing until run or spawned"]
pub struct Deliveries {
    store: Store,
    /// Each delivery, with the lines it leaves in the log (one per thing
    /// it was about).
    sends: Vec<BoxFuture<'static, Vec<SentNotification>>>,
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
        let done: Vec<SentNotification> = futures::future::join_all(self.sends).await.into_iter().flatten().collect();
        for sent in &done {
            if let Err(e) = self.store.record_notification(sent).await {
                tracing::error!(error = %e, recipient = %sent.recipient, "a notification could not be logged");
            }
        }
        done
    }

    /// Runs them in the background, counted among the watcher's
    /// deliveries under way (see [`Watch::settle`]).
    pub fn spawn(self, watch: &Watch) {
        if !self.is_empty() {
            watch.deliver(async move {
                self.run().await;
            });
        }
    }

    /// A mail to `to` about `about`, at `at`.
    pub(crate) fn mail(&mut self, notifier: &Notifier, to: &str, mail: &Mail, about: &str, at: i64) {
        self.mail_about(notifier, to, mail, &[about.to_string()], at);
    }

    /// A mail to `to` about several things: one line of the log for each.
    pub(crate) fn mail_about(&mut self, notifier: &Notifier, to: &str, mail: &Mail, abouts: &[String], at: i64) {
        let subject = mail.render().0;
        let lines = lines(at, "email", to, &subject, abouts);
        let send = notifier.mail(to, mail);
        self.sends.push(Box::pin(async move {
            let outcome = match send {
                None => "not sent: no mail relay is configured".to_string(),
                Some(send) => match send.await {
                    Ok(()) => "sent".to_string(),
                    Err(e) => format!("not sent: {e}"),
                },
            };
            with_outcome(lines, &outcome)
        }));
    }

    /// `event` POSTed to `hook`, signed with its secret, about `abouts`.
    pub(crate) fn signed(
        &mut self,
        notifier: &Notifier,
        hook: &crate::Webhook,
        event: &serde_json::Value,
        subject: &str,
        abouts: &[String],
        at: i64,
    ) {
        let lines = lines(at, "webhook", &hook.url, subject, abouts);
        let send = notifier.webhook(&hook.url, &hook.secret, event);
        self.sends.push(Box::pin(async move {
            let outcome = send.await;
            let word = if outcome.delivered { "sent" } else { "not sent" };
            with_outcome(lines, &format!("{word}: {}", outcome.detail))
        }));
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
                    vec![SentNotification {
                        outcome: format!("not sent: the subscription's key is unreadable ({why})"),
                        ..base
                    }]
                }))
            }
            Some(secret) => {
                let hook = crate::Webhook { url: s.address.clone(), secret: secret.clone() };
                self.signed(watch.notifier(), &hook, event, subject, &[about.to_string()], at)
            }
        }
    }
}

/// The log's lines of one delivery, before its outcome is known.
fn lines(at: i64, channel: &str, to: &str, subject: &str, abouts: &[String]) -> Vec<SentNotification> {
    abouts
        .iter()
        .map(|about| SentNotification {
            at,
            channel: channel.into(),
            recipient: to.to_string(),
            subject: subject.to_string(),
            about: about.clone(),
            ..Default::default()
        })
        .collect()
}

fn with_outcome(lines: Vec<SentNotification>, outcome: &str) -> Vec<SentNotification> {
    lines.into_iter().map(|l| SentNotification { outcome: outcome.to_string(), ..l }).collect()
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
