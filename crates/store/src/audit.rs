//! The audit log: who did what, when, from where. Rows are only ever
//! appended.

use sqlx::Row;

use crate::{Result, Store};

/// One recorded action.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Assigned by the store; 0 before.
    pub seq: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub subject: String,
    pub issuer: String,
    /// e.g. `deployment.create`, `group.settings`, `sim.settings`.
    pub action: String,
    /// What it acted on: a deployment id, a group, a provider.
    pub target: String,
    /// A short JSON object with the particulars (never secrets).
    pub detail: serde_json::Value,
    pub client_ip: Option<String>,
}

/// Which entries to read. Every `Some` narrows the result.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub subject: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// From this time on (ms, inclusive).
    pub since: Option<i64>,
    /// Before this time (ms, exclusive).
    pub until: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Appends one entry.
    pub async fn record_audit(&self, e: &AuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, subject, issuer, action, target, detail, client_ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.at)
        .bind(&e.subject)
        .bind(&e.issuer)
        .bind(&e.action)
        .bind(&e.target)
        .bind(e.detail.to_string())
        .bind(&e.client_ip)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Entries matching `filter`, newest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at, subject, issuer, action, target, detail, client_ip FROM audit_log
             WHERE ($1 IS NULL OR subject = $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR target = $3)
               AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5)
             ORDER BY seq DESC LIMIT $6",
        )
        .bind(filter.subject.clone())
        .bind(filter.action.clone())
        .bind(filter.target.clone())
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEntry {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    subject: r.try_get("subject")?,
                    issuer: r.try_get("issuer")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: crate::from_json("audit_log.detail", &detail)?,
                    client_ip: r.try_get("client_ip")?,
                })
            })
            .collect()
    }
}
