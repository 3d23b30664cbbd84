//! Alerts and what was sent about them: the alert engine's state between
//! rounds (an opaque JSON document the watcher keeps for the pure engine,
//! holding its alerts, acknowledgements and silences), and the log of
//! notifications sent.

use sqlx::Row;

use crate::{Result, Store, from_json};

/// One notification sent (or tried).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SentNotification {
    /// Assigned by the store; 0 before.
    pub seq: i64,
    pub at: i64,
    /// `email`, `webhook`.
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    /// What it was about: an alert's key, an incident's id, a deployment.
    pub about: String,
    /// `sent`, or why it was not.
    pub outcome: String,
}

impl Store {
    /// Keeps the alert engine's state (replacing the last one kept).
    pub async fn save_alert_engine_state(&self, state: &serde_json::Value, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO alert_engine_state (id, state, saved_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at",
        )
        .bind(state.to_string())
        .bind(at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The alert engine's state last kept, and when; `None` before the first.
    pub async fn alert_engine_state(&self) -> Result<Option<(serde_json::Value, i64)>> {
        let row = sqlx::query("SELECT state, saved_at FROM alert_engine_state WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let state: String = r.try_get("state")?;
            Ok((from_json("alert_engine_state.state", &state)?, r.try_get("saved_at")?))
        })
        .transpose()
    }

    /// Appends a notification to the log.
    pub async fn record_notification(&self, n: &SentNotification) -> Result<()> {
        sqlx::query(
            "INSERT INTO notifications_sent (at, channel, recipient, subject, about, outcome)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(n.at)
        .bind(&n.channel)
        .bind(&n.recipient)
        .bind(&n.subject)
        .bind(&n.about)
        .bind(&n.outcome)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The notifications sent (about `about` only, when given), newest
    /// first, at most `limit`.
    pub async fn notifications(&self, about: Option<&str>, limit: i64) -> Result<Vec<SentNotification>> {
        let sql = if about.is_some() {
            "SELECT * FROM notifications_sent WHERE about = $1 ORDER BY seq DESC LIMIT $2"
        } else {
            "SELECT * FROM notifications_sent ORDER BY seq DESC LIMIT $1"
        };
        let mut query = sqlx::query(sql);
        if let Some(about) = about {
            query = query.bind(about);
        }
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(SentNotification {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    channel: r.try_get("channel")?,
                    recipient: r.try_get("recipient")?,
                    subject: r.try_get("subject")?,
                    about: r.try_get("about")?,
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect()
    }
}
