//! Attempts: one try of a deployment on one provider, with its outcome.
//! The workflow records an attempt before it asks the driver for anything,
//! so that a restart knows which provider-side attempt ids may hold
//! resources.

use nuvola_types::{AttemptRecord, AttemptState, Spelled, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, parse_word};

impl Store {
    /// Inserts or replaces an attempt.
    pub async fn put_attempt(&self, attempt: &AttemptRecord) -> Result<()> {
        put(&self.writer, attempt).await
    }

    /// A deployment's attempts, in order.
    pub async fn attempts(&self, deployment_id: &str) -> Result<Vec<AttemptRecord>> {
        let rows = sqlx::query(
            "SELECT deployment_id, number, attempt_id, provider, state, reason, started_at, finished_at, ended_at
             FROM attempts WHERE deployment_id = $1 ORDER BY number",
        )
        .bind(deployment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    /// How many attempts may still hold resources on `provider`.
    pub async fn attempts_holding_on(&self, provider: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM attempts WHERE provider = $1 AND state <> $2 AND state <> $3")
            .bind(provider)
            .bind(AttemptState::Cleaned.as_str())
            .bind(AttemptState::Deleted.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The attempts with these ids (ids the store does not know are left
    /// out), looked up by index in batches.
    pub async fn attempts_by_id(&self, attempt_ids: &[String]) -> Result<Vec<AttemptRecord>> {
        // Well below SQLite's and PostgreSQL's limits on bound parameters.
        const BATCH: usize = 500;
        let mut found = Vec::new();
        for ids in attempt_ids.chunks(BATCH) {
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT deployment_id, number, attempt_id, provider, state, reason, started_at, finished_at, ended_at
                 FROM attempts WHERE attempt_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in ids {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(decode(&row)?);
            }
        }
        Ok(found)
    }

    /// The attempts that may have held resources at some time in `[from,
    /// to)` (ms): started before `to`, and not ended before `from` (an
    /// attempt ending at `from` is included, so that its end is seen), in
    /// order of start. Attempts that ended before nuvola recorded `ended_at`
    /// are included too; the caller decides when they ended.
    pub async fn attempts_during(&self, from: i64, to: i64) -> Result<Vec<AttemptRecord>> {
        let rows = sqlx::query(
            "SELECT deployment_id, number, attempt_id, provider, state, reason, started_at, finished_at, ended_at
             FROM attempts WHERE started_at < $1 AND (ended_at IS NULL OR ended_at >= $2)
             ORDER BY started_at, deployment_id, number",
        )
        .bind(to)
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    /// Up to `limit` attempts left to the reconciler.
    pub async fn orphaned_attempts(&self, limit: i64) -> Result<Vec<AttemptRecord>> {
        let rows = sqlx::query(
            "SELECT deployment_id, number, attempt_id, provider, state, reason, started_at, finished_at, ended_at
             FROM attempts WHERE state = $1 ORDER BY started_at LIMIT $2",
        )
        .bind(AttemptState::Orphaned.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    /// Marks an orphaned attempt cleaned, unless something else changed it
    /// meanwhile (a delete of its deployment). Returns whether it did.
    pub async fn clean_orphan(&self, attempt: &AttemptRecord, message: &str) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE attempts SET state = $1, ended_at = $2 WHERE deployment_id = $3 AND number = $4 AND state = $5",
        )
        .bind(AttemptState::Cleaned.as_str())
        .bind(now)
        .bind(&attempt.deployment_id)
        .bind(attempt.number)
        .bind(AttemptState::Orphaned.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done > 0 {
            crate::log::append(&mut *tx, &attempt.deployment_id, now, message).await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }

    /// Outcome statistics per provider over attempts started since `since`
    /// (ms): `(provider, finished ok, failed, create durations in ms)`.
    pub async fn attempt_outcomes(&self, since: i64) -> Result<Vec<(String, AttemptState, Option<i64>)>> {
        let rows = sqlx::query(
            "SELECT provider, state, finished_at - started_at AS took FROM attempts WHERE started_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                Ok((r.try_get("provider")?, parse_state(&state)?, r.try_get("took")?))
            })
            .collect()
    }
}

pub(crate) async fn put<'e, E>(executor: E, a: &AttemptRecord) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO attempts
            (deployment_id, number, attempt_id, provider, state, reason, started_at, finished_at, ended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (deployment_id, number) DO UPDATE SET
            attempt_id = excluded.attempt_id, provider = excluded.provider, state = excluded.state,
            reason = excluded.reason, started_at = excluded.started_at, finished_at = excluded.finished_at,
            ended_at = excluded.ended_at",
    )
    .bind(&a.deployment_id)
    .bind(a.number)
    .bind(&a.attempt_id)
    .bind(&a.provider)
    .bind(a.state.as_str())
    .bind(&a.reason)
    .bind(a.started_at)
    .bind(a.finished_at)
    .bind(a.ended_at)
    .execute(executor)
    .await?;
    Ok(())
}

fn parse_state(s: &str) -> Result<AttemptState> {
    parse_word("attempts.state", s)
}

fn decode(r: &AnyRow) -> Result<AttemptRecord> {
    let state: String = r.try_get("state")?;
    Ok(AttemptRecord {
        deployment_id: r.try_get("deployment_id")?,
        number: r.try_get("number")?,
        attempt_id: r.try_get("attempt_id")?,
        provider: r.try_get("provider")?,
        state: parse_state(&state)?,
        reason: r.try_get("reason")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        ended_at: r.try_get("ended_at")?,
    })
}
