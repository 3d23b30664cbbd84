//! The periodic bulletins, kept as pages: each one's period and body (the
//! document the watcher composed, as JSON). A period has one bulletin:
//! the first writer wins, and only it sends the bulletin out.

use sqlx::Row;

use crate::{Result, Store, from_json};

/// One bulletin as kept.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptBulletin {
    /// The period's name (`2026-W49`).
    pub id: String,
    pub period_start: i64,
    pub period_end: i64,
    pub created_at: i64,
    pub body: serde_json::Value,
}

impl Store {
    /// Keeps `bulletin` unless its period has one already; returns whether
    /// this one was kept (its writer sends it).
    pub async fn keep_bulletin(&self, bulletin: &KeptBulletin) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO bulletins (id, period_start, period_end, created_at, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&bulletin.id)
        .bind(bulletin.period_start)
        .bind(bulletin.period_end)
        .bind(bulletin.created_at)
        .bind(bulletin.body.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The bulletin of period `id`.
    pub async fn bulletin(&self, id: &str) -> Result<Option<KeptBulletin>> {
        let row = sqlx::query("SELECT * FROM bulletins WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.map(|r| kept(&r)).transpose()
    }

    /// The latest `limit` bulletins, newest period first.
    pub async fn bulletins(&self, limit: i64) -> Result<Vec<KeptBulletin>> {
        let rows = sqlx::query("SELECT * FROM bulletins ORDER BY period_start DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(kept).collect()
    }
}

fn kept(r: &sqlx::any::AnyRow) -> Result<KeptBulletin> {
    let body: String = r.try_get("body")?;
    Ok(KeptBulletin {
        id: r.try_get("id")?,
        period_start: r.try_get("period_start")?,
        period_end: r.try_get("period_end")?,
        created_at: r.try_get("created_at")?,
        body: from_json("bulletins.body", &body)?,
    })
}
