//! Status-page subscribers, by e-mail (double opt-in) or webhook, to
//! every component or to some.
//!
//! The confirmation and unsubscribe tokens are stored as their hashes
//! (the caller hashes, as for dashboard sessions): a copy of the database
//! confirms or removes nobody. A webhook's signing key is sealed with the
//! store's key when it has one (bound to the subscription's unsubscribe
//! hash), as `{"sealed": "..."}`, else kept as `{"plain": "..."}`; one that
//! does not open reads as none, saying why.

use nuvola_types::Spelled;
use nuvola_types::status::SubscriptionKind;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, from_json, parse_word, to_json};

/// A subscription as it is made.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub kind: SubscriptionKind,
    /// An e-mail address or a webhook's URL.
    pub address: String,
    /// The components it follows; empty for all.
    pub components: Vec<String>,
    /// A webhook's HMAC key.
    pub secret: Option<String>,
    /// The hash of the token that confirms it.
    pub confirm_hash: String,
    /// The hash of the token that removes it.
    pub unsubscribe_hash: String,
    pub created_at: i64,
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub kind: SubscriptionKind,
    pub address: String,
    /// Empty for all.
    pub components: Vec<String>,
    /// A webhook's HMAC key, opened.
    pub secret: Option<String>,
    /// Why the key could not be opened (no secrets key, another one).
    pub secret_unreadable: Option<String>,
    pub confirmed_at: Option<i64>,
    pub unsubscribe_hash: String,
    pub created_at: i64,
}

/// The `secret` column.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum SecretColumn {
    Sealed(String),
    Plain(String),
}

impl Store {
    /// Adds a subscription, unconfirmed; returns its id.
    pub async fn add_subscription(&self, new: &NewSubscription) -> Result<i64> {
        let secret = match (&new.secret, &self.sealer) {
            (None, _) => None,
            (Some(plain), Some(sealer)) => {
                Some(SecretColumn::Sealed(sealer.seal(aad(&new.unsubscribe_hash), plain.as_bytes())?))
            }
            (Some(plain), None) => Some(SecretColumn::Plain(plain.clone())),
        };
        let row = sqlx::query(
            "INSERT INTO subscriptions
                (kind, address, components, secret, confirm_hash, confirmed_at, unsubscribe_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, NULL, $6, $7) RETURNING id",
        )
        .bind(new.kind.as_str())
        .bind(&new.address)
        .bind(to_json(&new.components))
        .bind(secret.as_ref().map(to_json))
        .bind(&new.confirm_hash)
        .bind(&new.unsubscribe_hash)
        .bind(new.created_at)
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// Confirms the subscription whose confirmation token hashes to
    /// `confirm_hash`, at `at`, unless it was made before `not_before`
    /// (the token expired); confirming again changes nothing. An unknown
    /// or expired token is [`StoreError::NotFound`].
    pub async fn confirm_subscription(&self, confirm_hash: &str, at: i64, not_before: i64) -> Result<Subscription> {
        let row = sqlx::query(
            "UPDATE subscriptions SET confirmed_at = COALESCE(confirmed_at, $2)
             WHERE confirm_hash = $1 AND (confirmed_at IS NOT NULL OR created_at >= $3) RETURNING *",
        )
        .bind(confirm_hash)
        .bind(at)
        .bind(not_before)
        .fetch_optional(&self.writer)
        .await?;
        match row {
            Some(row) => self.subscription(&row),
            None => Err(StoreError::NotFound { what: "subscription to confirm", key: "with this token".into() }),
        }
    }

    /// Removes the subscription whose unsubscribe token hashes to
    /// `unsubscribe_hash`; returns whether there was one.
    pub async fn remove_subscription(&self, unsubscribe_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM subscriptions WHERE unsubscribe_hash = $1")
            .bind(unsubscribe_hash)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The confirmed subscriptions that follow `component` (or all), by id.
    pub async fn subscribers_for(&self, component: &str) -> Result<Vec<Subscription>> {
        let rows = sqlx::query("SELECT * FROM subscriptions WHERE confirmed_at IS NOT NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let mut found = Vec::new();
        for row in &rows {
            let s = self.subscription(row)?;
            if s.components.is_empty() || s.components.iter().any(|c| c == component) {
                found.push(s);
            }
        }
        Ok(found)
    }

    /// Every subscription, confirmed or not, by id (for operators).
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>> {
        let rows = sqlx::query("SELECT * FROM subscriptions ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(|r| self.subscription(r)).collect()
    }

    /// Forgets the subscriptions made before `before` and never
    /// confirmed; returns how many.
    pub async fn purge_unconfirmed_subscriptions(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM subscriptions WHERE confirmed_at IS NULL AND created_at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    fn subscription(&self, r: &AnyRow) -> Result<Subscription> {
        let unsubscribe_hash: String = r.try_get("unsubscribe_hash")?;
        let column: Option<String> = r.try_get("secret")?;
        let (secret, secret_unreadable) = match column {
            None => (None, None),
            Some(text) => match from_json("subscriptions.secret", &text)? {
                SecretColumn::Plain(plain) => (Some(plain), None),
                SecretColumn::Sealed(sealed) => match &self.sealer {
                    None => (None, Some("sealed, and this server has no secrets key".to_string())),
                    Some(sealer) => match sealer.open(aad(&unsubscribe_hash), &sealed) {
                        Some(bytes) => (Some(String::from_utf8_lossy(&bytes).into_owned()), None),
                        None => (None, Some("sealed with another secrets key, or damaged".to_string())),
                    },
                },
            },
        };
        Ok(Subscription {
            id: r.try_get("id")?,
            kind: parse_word("subscriptions.kind", &r.try_get::<String, _>("kind")?)?,
            address: r.try_get("address")?,
            components: from_json("subscriptions.components", &r.try_get::<String, _>("components")?)?,
            secret,
            secret_unreadable,
            confirmed_at: r.try_get("confirmed_at")?,
            unsubscribe_hash,
            created_at: r.try_get("created_at")?,
        })
    }
}

fn aad(unsubscribe_hash: &str) -> String {
    format!("subscription/{unsubscribe_hash}/secret")
}
