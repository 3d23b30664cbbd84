//! Users' endpoints: the latest check of each deployment output that is a
//! URL or host:port, its ups and downs, and whether the owner is told of
//! them (yes unless they opted out). Rows go with their deployment.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store};

/// The latest check of one output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndpointCheck {
    pub deployment_id: String,
    /// The output's name.
    pub output: String,
    /// What was checked (`https://...`, `host:port`).
    pub url: String,
    pub up: bool,
    /// Since when it has been up (or down); set by the store.
    pub since: i64,
    /// When it was last checked.
    pub last_at: i64,
    pub latency_ms: i64,
    /// `HTTP 200`, `connection refused`...
    pub detail: String,
    /// When its TLS certificate expires, for HTTPS.
    pub cert_expires_at: Option<i64>,
}

/// An output went up or down.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndpointEvent {
    pub seq: i64,
    pub deployment_id: String,
    pub output: String,
    pub at: i64,
    pub up: bool,
    pub detail: String,
}

impl Store {
    /// Records a check (its `since` is the store's to set) and, when the
    /// output is new or went up or down, an event; returns whether it was
    /// up before (`None` for its first check).
    pub async fn record_endpoint_check(&self, check: &EndpointCheck) -> Result<Option<bool>> {
        let mut tx = self.writer.begin().await?;
        let before = sqlx::query("SELECT up FROM endpoint_checks WHERE deployment_id = $1 AND output = $2")
            .bind(&check.deployment_id)
            .bind(&check.output)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get::<i64, _>("up").map(|up| up != 0))
            .transpose()?;
        sqlx::query(
            "INSERT INTO endpoint_checks
                (deployment_id, output, url, up, since, last_at, latency_ms, detail, cert_expires_at)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)
             ON CONFLICT (deployment_id, output) DO UPDATE SET url = excluded.url, up = excluded.up,
                since = CASE WHEN endpoint_checks.up = excluded.up THEN endpoint_checks.since ELSE excluded.since END,
                last_at = excluded.last_at, latency_ms = excluded.latency_ms, detail = excluded.detail,
                cert_expires_at = excluded.cert_expires_at",
        )
        .bind(&check.deployment_id)
        .bind(&check.output)
        .bind(&check.url)
        .bind(i64::from(check.up))
        .bind(check.last_at)
        .bind(check.latency_ms)
        .bind(&check.detail)
        .bind(check.cert_expires_at)
        .execute(&mut *tx)
        .await?;
        if before != Some(check.up) {
            sqlx::query(
                "INSERT INTO endpoint_events (deployment_id, output, at, up, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&check.deployment_id)
            .bind(&check.output)
            .bind(check.last_at)
            .bind(i64::from(check.up))
            .bind(&check.detail)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(before)
    }

    /// A deployment's latest checks, by output.
    pub async fn endpoint_checks(&self, deployment_id: &str) -> Result<Vec<EndpointCheck>> {
        let rows = sqlx::query("SELECT * FROM endpoint_checks WHERE deployment_id = $1 ORDER BY output")
            .bind(deployment_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(check).collect()
    }

    /// A deployment's last `limit` ups and downs, newest first.
    pub async fn endpoint_events(&self, deployment_id: &str, limit: i64) -> Result<Vec<EndpointEvent>> {
        let rows = sqlx::query("SELECT * FROM endpoint_events WHERE deployment_id = $1 ORDER BY seq DESC LIMIT $2")
            .bind(deployment_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(EndpointEvent {
                    seq: r.try_get("seq")?,
                    deployment_id: r.try_get("deployment_id")?,
                    output: r.try_get("output")?,
                    at: r.try_get("at")?,
                    up: r.try_get::<i64, _>("up")? != 0,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Whether the owner of deployment `deployment_id` is told when its
    /// endpoints go down and come back.
    pub async fn set_endpoint_notify(&self, deployment_id: &str, notify: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO endpoint_watch (deployment_id, notify) VALUES ($1, $2)
             ON CONFLICT (deployment_id) DO UPDATE SET notify = excluded.notify",
        )
        .bind(deployment_id)
        .bind(i64::from(notify))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Whether the owner is told (yes, unless they opted out).
    pub async fn endpoint_notify(&self, deployment_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT notify FROM endpoint_watch WHERE deployment_id = $1")
            .bind(deployment_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("notify")? != 0,
            None => true,
        })
    }
}

fn check(r: &AnyRow) -> Result<EndpointCheck> {
    Ok(EndpointCheck {
        deployment_id: r.try_get("deployment_id")?,
        output: r.try_get("output")?,
        url: r.try_get("url")?,
        up: r.try_get::<i64, _>("up")? != 0,
        since: r.try_get("since")?,
        last_at: r.try_get("last_at")?,
        latency_ms: r.try_get("latency_ms")?,
        detail: r.try_get("detail")?,
        cert_expires_at: r.try_get("cert_expires_at")?,
    })
}
