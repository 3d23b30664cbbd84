//! Users' endpoints: the latest check of each deployment output that is a
//! URL or host:port, its ups and downs, and whether the owner is told of
//! them (yes unless they opted out). Rows go with their deployment.
//!
//! The prober reads what to check with [`Store::watched_deployments`],
//! which loads only the few columns it needs (templates are large), and
//! records a round's checks in one transaction
//! ([`Store::record_endpoint_checks`]).

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

/// A ready deployment whose outputs the prober looks into.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchedDeployment {
    pub id: String,
    /// Its name as its owner gave it, if any.
    pub description: Option<String>,
    /// Where its owner is mailed, when known.
    pub owner_email: Option<String>,
    /// Its outputs, opened when sealed (empty when they cannot be).
    pub outputs: serde_json::Map<String, serde_json::Value>,
    /// Whether the owner is told of ups and downs (yes unless opted out).
    pub notify: bool,
}

/// The statuses of a deployment whose services are meant to answer.
const READY: &str = "('CREATE_COMPLETE', 'UPDATE_COMPLETE')";

impl Store {
    /// Every deployment that is ready (created or updated), by id, with
    /// what the prober needs and nothing more.
    pub async fn watched_deployments(&self) -> Result<Vec<WatchedDeployment>> {
        let rows = sqlx::query(&format!(
            "SELECT d.id, d.description, d.owner_email, d.outputs, w.notify FROM deployments d
             LEFT JOIN endpoint_watch w ON w.deployment_id = d.id
             WHERE d.status IN {READY} ORDER BY d.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let column: String = r.try_get("outputs")?;
                let opened = crate::sealed::open_outputs(self.sealer.as_deref(), &id, &column)?;
                if let Some(why) = &opened.unreadable {
                    tracing::warn!(deployment = %id, reason = %why, "its endpoints cannot be checked");
                }
                Ok(WatchedDeployment {
                    description: r.try_get("description")?,
                    owner_email: r.try_get("owner_email")?,
                    outputs: opened.outputs,
                    notify: r.try_get::<Option<i64>, _>("notify")?.is_none_or(|n| n != 0),
                    id,
                })
            })
            .collect()
    }

    /// Every output's latest check, by deployment and output: where the
    /// prober resumes from.
    pub async fn all_endpoint_checks(&self) -> Result<Vec<EndpointCheck>> {
        let rows =
            sqlx::query("SELECT * FROM endpoint_checks ORDER BY deployment_id, output").fetch_all(&self.pool).await?;
        rows.iter().map(check).collect()
    }

    /// Records a round's checks in one transaction, each as
    /// [`Store::record_endpoint_check`] does; returns whether each was up
    /// before, in order.
    pub async fn record_endpoint_checks(&self, checks: &[EndpointCheck]) -> Result<Vec<Option<bool>>> {
        let mut tx = self.writer.begin().await?;
        let mut before = Vec::with_capacity(checks.len());
        for c in checks {
            before.push(record_on(&mut tx, c).await?);
        }
        tx.commit().await?;
        Ok(before)
    }

    /// Records a check (its `since` is the store's to set) and, when the
    /// output is new or went up or down, an event; returns whether it was
    /// up before (`None` for its first check).
    pub async fn record_endpoint_check(&self, check: &EndpointCheck) -> Result<Option<bool>> {
        let mut tx = self.writer.begin().await?;
        let before = record_on(&mut tx, check).await?;
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

async fn record_on(conn: &mut sqlx::AnyConnection, check: &EndpointCheck) -> Result<Option<bool>> {
    let before = sqlx::query("SELECT up FROM endpoint_checks WHERE deployment_id = $1 AND output = $2")
        .bind(&check.deployment_id)
        .bind(&check.output)
        .fetch_optional(&mut *conn)
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
    .execute(&mut *conn)
    .await?;
    if before != Some(check.up) {
        sqlx::query("INSERT INTO endpoint_events (deployment_id, output, at, up, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(&check.deployment_id)
            .bind(&check.output)
            .bind(check.last_at)
            .bind(i64::from(check.up))
            .bind(&check.detail)
            .execute(&mut *conn)
            .await?;
    }
    Ok(before)
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
