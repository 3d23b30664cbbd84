//! The acceptable-use policy: versioned texts that administrators publish,
//! and who accepted which version when.

use sqlx::Row;

use crate::{Result, Store};

/// One published version of the policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Policy {
    pub version: i64,
    pub text: String,
    pub published_by: String,
    pub published_at: i64,
}

impl Store {
    /// The latest version, if any was published.
    pub async fn current_policy(&self) -> Result<Option<Policy>> {
        let row =
            sqlx::query("SELECT version, text, published_by, published_at FROM policies ORDER BY version DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(Policy {
                version: r.try_get("version")?,
                text: r.try_get("text")?,
                published_by: r.try_get("published_by")?,
                published_at: r.try_get("published_at")?,
            })
        })
        .transpose()
    }

    /// Publishes `text` as the next version and returns it, in one
    /// statement: a read-then-write transaction failed on SQLite whenever
    /// another connection wrote in between (its read lock cannot become a
    /// write lock). Two publishers racing on PostgreSQL: one fails on the
    /// primary key.
    pub async fn publish_policy(&self, text: &str, by: &str, at: i64) -> Result<Policy> {
        let next: i64 = sqlx::query(
            "INSERT INTO policies (version, text, published_by, published_at)
             SELECT COALESCE(MAX(version), 0) + 1, $1, $2, $3 FROM policies RETURNING version",
        )
        .bind(text)
        .bind(by)
        .bind(at)
        .fetch_one(&self.writer)
        .await?
        .try_get("version")?;
        Ok(Policy { version: next, text: text.to_string(), published_by: by.to_string(), published_at: at })
    }

    /// Records that `(subject, issuer)` accepted `version` (again is a no-op).
    pub async fn accept_policy(&self, subject: &str, issuer: &str, version: i64, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO policy_acceptances (subject, issuer, version, accepted_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(subject)
        .bind(issuer)
        .bind(version)
        .bind(at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// When `(subject, issuer)` accepted `version`, if they did.
    pub async fn policy_accepted_at(&self, subject: &str, issuer: &str, version: i64) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT accepted_at FROM policy_acceptances WHERE subject = $1 AND issuer = $2 AND version = $3",
        )
        .bind(subject)
        .bind(issuer)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get("accepted_at")).transpose().map_err(Into::into)
    }
}
