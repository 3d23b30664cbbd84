//! Subscriptions to the status page, by e-mail or webhook, to every
//! component or to some.
//!
//! By e-mail it is a double opt-in: the subscription is stored
//! unconfirmed and a mail with a confirmation link goes to the address;
//! nothing else is sent until the link is opened, within
//! [`CONFIRM_WITHIN_MS`], and a second request for an address still
//! waiting is refused (no one can flood an inbox from the form). Tokens
//! are 256 random bits; the store keeps the confirmation and unsubscribe
//! tokens as SHA-256 hashes. Each mail must carry the unsubscribe link,
//! so an e-mail subscription also keeps its unsubscribe token in its
//! secret column, sealed with the server's secrets key as webhook keys
//! are (a copy of the database without the key unsubscribes nobody).
//!
//! By webhook the URL must lie under the operator's allowed prefixes
//! ([`nuvola_notify::Notifier::check_webhook`]); the subscription is in
//! force at once, and its signing secret and unsubscribe token are shown
//! once, to the subscriber, and never again.

use base64::Engine;
use nuvola_notify::notices::Confirmation;
use nuvola_notify::{Mail, plausible_address};
use nuvola_store::{NewSubscription, SentNotification, Subscription};
use nuvola_types::status::SubscriptionKind;
use nuvola_types::{Error, Result};
use sha2::{Digest, Sha256};

use crate::Watch;
use crate::deliveries::Deliveries;

/// How long a confirmation link works.
pub const CONFIRM_WITHIN_MS: i64 = 48 * 3_600_000;
/// The longest address or URL taken.
const ADDRESS_CHARS: usize = 512;

/// A webhook subscription as made: what its subscriber must keep.
#[derive(Debug, Clone)]
pub struct WebhookSubscription {
    pub id: i64,
    /// The HMAC key its deliveries are signed with.
    pub secret: String,
    /// The token that ends it.
    pub unsubscribe_token: String,
}

impl Watch {
    /// Subscribes `address` by mail to `components` (none: all), at
    /// `now`: stores it unconfirmed and returns the confirmation mail to
    /// send.
    pub async fn subscribe_email(&self, address: &str, components: &[String], now: i64) -> Result<Deliveries> {
        let address = address.trim();
        if address.chars().count() > ADDRESS_CHARS || !plausible_address(address) {
            return Err(Error::invalid(format!("{address:?} is not an e-mail address (name@domain.example)")));
        }
        let names = self.component_names(components).await?;
        let store = &self.inner.store;
        store.purge_unconfirmed_subscriptions(now - CONFIRM_WITHIN_MS).await?;
        let waiting = store.subscriptions().await?.into_iter().any(|s| {
            s.kind == SubscriptionKind::Email && s.confirmed_at.is_none() && s.address.eq_ignore_ascii_case(address)
        });
        if waiting {
            return Err(Error::conflict(format!(
                "a confirmation was already mailed to {address}: open its link, or ask again after {} hours",
                CONFIRM_WITHIN_MS / 3_600_000
            )));
        }
        let (confirm, unsubscribe) = (token(), token());
        let mail = Mail::Confirmation(Confirmation {
            components: names,
            confirm_url: self.link("/status/subscriptions/confirm", &confirm),
            unsubscribe_url: self.link("/status/subscriptions/unsubscribe", &unsubscribe),
        });
        if self.notifier().mail(address, &mail).is_none() {
            return Err(Error::Conflict(
                "subscriptions by e-mail are not open here: this server sends no mail ([notifications] smtp)".into(),
            ));
        }
        let id = store
            .add_subscription(&NewSubscription {
                kind: SubscriptionKind::Email,
                address: address.to_string(),
                components: components.to_vec(),
                secret: Some(unsubscribe.clone()),
                confirm_hash: hash(&confirm),
                unsubscribe_hash: hash(&unsubscribe),
                created_at: now,
            })
            .await?;
        let mut deliveries = Deliveries::new(store.clone());
        deliveries.mail(&self.inner.notifier, address, &mail, &format!("subscription/{id}"), now);
        Ok(deliveries)
    }

    /// Subscribes the webhook at `url` to `components` (none: all), in
    /// force at once; returns its secret and unsubscribe token.
    pub async fn subscribe_webhook(&self, url: &str, components: &[String], now: i64) -> Result<WebhookSubscription> {
        let url = url.trim();
        if url.chars().count() > ADDRESS_CHARS {
            return Err(Error::invalid(format!("the webhook URL is longer than {ADDRESS_CHARS} characters")));
        }
        self.notifier().check_webhook(url)?;
        self.component_names(components).await?;
        let (confirm, unsubscribe, secret) = (token(), token(), token());
        let store = &self.inner.store;
        let id = store
            .add_subscription(&NewSubscription {
                kind: SubscriptionKind::Webhook,
                address: url.to_string(),
                components: components.to_vec(),
                secret: Some(secret.clone()),
                confirm_hash: hash(&confirm),
                unsubscribe_hash: hash(&unsubscribe),
                created_at: now,
            })
            .await?;
        store.confirm_subscription(&hash(&confirm), now, now).await?;
        Ok(WebhookSubscription { id, secret, unsubscribe_token: unsubscribe })
    }

    /// Confirms the subscription whose confirmation token is `token`; an
    /// unknown or expired one is not found.
    pub async fn confirm_subscription(&self, token: &str, now: i64) -> Result<Subscription> {
        self.inner
            .store
            .confirm_subscription(&hash(token.trim()), now, now - CONFIRM_WITHIN_MS)
            .await
            .map_err(|_| Error::not_found("this confirmation link is unknown or expired: subscribe again"))
    }

    /// Ends the subscription whose unsubscribe token is `token`; returns
    /// whether there was one (ending it twice is no error).
    pub async fn unsubscribe(&self, token: &str) -> Result<bool> {
        Ok(self.inner.store.remove_subscription(&hash(token.trim())).await?)
    }

    /// Every subscription, for operators (secrets left out).
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>> {
        let mut all = self.inner.store.subscriptions().await?;
        for s in &mut all {
            s.secret = None;
        }
        Ok(all)
    }

    /// The notifications sent, newest first, at most `limit`.
    pub async fn notifications(&self, limit: i64) -> Result<Vec<SentNotification>> {
        Ok(self.inner.store.notifications(None, limit.clamp(1, 1_000)).await?)
    }

    /// The names of `components`, refusing an id the page does not show.
    pub(crate) async fn component_names(&self, components: &[String]) -> Result<Vec<String>> {
        let snapshot = self.snapshot();
        components
            .iter()
            .map(|id| {
                snapshot
                    .components
                    .iter()
                    .find(|c| c.component.id == *id)
                    .map(|c| c.component.name.clone())
                    .ok_or_else(|| Error::invalid(format!("there is no component {id:?} on the status page")))
            })
            .collect()
    }

    /// `path?token=...` on the public page.
    pub(crate) fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.public_url())
    }

    /// The page's base address, without a trailing `/`.
    pub fn public_url(&self) -> &str {
        self.inner.notifier.public_url().trim_end_matches('/')
    }
}

/// A fresh random token: 256 bits, URL-safe.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The unsubscribe link of an e-mail subscription, from its sealed token.
pub(crate) fn unsubscribe_url(watch: &Watch, s: &Subscription) -> String {
    match &s.secret {
        Some(token) if s.kind == SubscriptionKind::Email => watch.link("/status/subscriptions/unsubscribe", token),
        _ => format!("{}/status", watch.public_url()),
    }
}
