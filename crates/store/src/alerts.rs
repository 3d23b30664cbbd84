//! Alerts and what was sent about them: the alerts the engine raised (by
//! the key it deduplicates on), operators' silences, the engine's own
//! state between rounds (an opaque JSON document the app keeps for a pure
//! engine), and the log of notifications sent.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, from_json};

/// One alert, firing or resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alert {
    /// What the engine deduplicates on: the rule and its labels.
    pub key: String,
    pub rule: String,
    pub labels: serde_json::Map<String, serde_json::Value>,
    /// The engine's word (`warning`, `critical`).
    pub severity: String,
    /// The engine's word (`pending`, `firing`, `resolved`).
    pub state: String,
    pub summary: String,
    pub started_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub acked_by: Option<String>,
    pub acked_at: Option<i64>,
}

/// An operator's silence: alerts whose labels match stay quiet between
/// its start and end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Silence {
    /// Assigned by the store; 0 before.
    pub id: i64,
    /// Label → value, as the engine matches them.
    pub matchers: serde_json::Map<String, serde_json::Value>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
}

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
    /// Adds or replaces an alert; an acknowledgement stays unless the
    /// replacement carries one.
    pub async fn upsert_alert(&self, a: &Alert) -> Result<()> {
        sqlx::query(
            "INSERT INTO alerts
                (key, rule, labels, severity, state, summary, started_at, updated_at, resolved_at, acked_by, acked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (key) DO UPDATE SET rule = excluded.rule, labels = excluded.labels,
                severity = excluded.severity, state = excluded.state, summary = excluded.summary,
                started_at = excluded.started_at, updated_at = excluded.updated_at,
                resolved_at = excluded.resolved_at,
                acked_by = COALESCE(excluded.acked_by, alerts.acked_by),
                acked_at = COALESCE(excluded.acked_at, alerts.acked_at)",
        )
        .bind(&a.key)
        .bind(&a.rule)
        .bind(serde_json::Value::Object(a.labels.clone()).to_string())
        .bind(&a.severity)
        .bind(&a.state)
        .bind(&a.summary)
        .bind(a.started_at)
        .bind(a.updated_at)
        .bind(a.resolved_at)
        .bind(&a.acked_by)
        .bind(a.acked_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The alert with this key.
    pub async fn alert(&self, key: &str) -> Result<Option<Alert>> {
        let row = sqlx::query("SELECT * FROM alerts WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
        row.as_ref().map(alert).transpose()
    }

    /// The alerts not resolved (or all, with `include_resolved`), newest
    /// first.
    pub async fn alerts(&self, include_resolved: bool) -> Result<Vec<Alert>> {
        let sql = if include_resolved {
            "SELECT * FROM alerts ORDER BY started_at DESC, key"
        } else {
            "SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY started_at DESC, key"
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(alert).collect()
    }

    /// Acknowledges an alert (the first acknowledgement stays); an unknown
    /// key is [`StoreError::NotFound`].
    pub async fn ack_alert(&self, key: &str, by: &str, at: i64) -> Result<Alert> {
        let row = sqlx::query(
            "UPDATE alerts SET acked_by = COALESCE(acked_by, $2), acked_at = COALESCE(acked_at, $3)
             WHERE key = $1 RETURNING *",
        )
        .bind(key)
        .bind(by)
        .bind(at)
        .fetch_optional(&self.writer)
        .await?;
        match row {
            Some(row) => alert(&row),
            None => Err(StoreError::NotFound { what: "alert", key: key.into() }),
        }
    }

    /// Adds a silence; returns its id.
    pub async fn add_silence(&self, s: &Silence) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(serde_json::Value::Object(s.matchers.clone()).to_string())
        .bind(s.starts_at)
        .bind(s.ends_at)
        .bind(&s.created_by)
        .bind(&s.comment)
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// The silences in force at `at` (started, not ended), by id.
    pub async fn active_silences(&self, at: i64) -> Result<Vec<Silence>> {
        let rows = sqlx::query("SELECT * FROM silences WHERE starts_at <= $1 AND ends_at > $1 ORDER BY id")
            .bind(at)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(silence).collect()
    }

    /// Ends silence `id` at `at` (when it had not ended before); an
    /// unknown id is [`StoreError::NotFound`].
    pub async fn expire_silence(&self, id: i64, at: i64) -> Result<()> {
        let done =
            sqlx::query("UPDATE silences SET ends_at = CASE WHEN ends_at < $2 THEN ends_at ELSE $2 END WHERE id = $1")
                .bind(id)
                .bind(at)
                .execute(&self.writer)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "silence", key: id.to_string() });
        }
        Ok(())
    }

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

fn alert(r: &AnyRow) -> Result<Alert> {
    Ok(Alert {
        key: r.try_get("key")?,
        rule: r.try_get("rule")?,
        labels: from_json("alerts.labels", &r.try_get::<String, _>("labels")?)?,
        severity: r.try_get("severity")?,
        state: r.try_get("state")?,
        summary: r.try_get("summary")?,
        started_at: r.try_get("started_at")?,
        updated_at: r.try_get("updated_at")?,
        resolved_at: r.try_get("resolved_at")?,
        acked_by: r.try_get("acked_by")?,
        acked_at: r.try_get("acked_at")?,
    })
}

fn silence(r: &AnyRow) -> Result<Silence> {
    Ok(Silence {
        id: r.try_get("id")?,
        matchers: from_json("silences.matchers", &r.try_get::<String, _>("matchers")?)?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        created_by: r.try_get("created_by")?,
        comment: r.try_get("comment")?,
    })
}
