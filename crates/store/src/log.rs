//! The deployment log: what happened to a deployment, line by line, as the
//! orchestrator's `/deployments/{id}/log` shows it.

use nuvola_types::{LogLine, now_ms};
use sqlx::Row;

use crate::{Result, Store};

impl Store {
    /// Appends one line to a deployment's log.
    pub async fn append_log(&self, deployment_id: &str, message: &str) -> Result<()> {
        append(&self.writer, deployment_id, now_ms(), message).await
    }

    /// A deployment's log, oldest first.
    pub async fn log(&self, deployment_id: &str) -> Result<Vec<LogLine>> {
        let rows = sqlx::query("SELECT at, message FROM deployment_log WHERE deployment_id = $1 ORDER BY seq")
            .bind(deployment_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(LogLine { at: r.try_get("at")?, message: r.try_get("message")? })).collect()
    }
}

pub(crate) async fn append<'e, E>(executor: E, deployment_id: &str, at: i64, message: &str) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("INSERT INTO deployment_log (deployment_id, at, message) VALUES ($1, $2, $3)")
        .bind(deployment_id)
        .bind(at)
        .bind(message)
        .execute(executor)
        .await?;
    Ok(())
}

/// Appends `messages` to a deployment's log in one statement, in order.
pub(crate) async fn append_all<'e, E>(executor: E, deployment_id: &str, at: i64, messages: &[String]) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if messages.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..messages.len()).map(|i| format!("($1, $2, ${})", i + 3)).collect();
    let sql = format!("INSERT INTO deployment_log (deployment_id, at, message) VALUES {}", rows.join(", "));
    let mut query = sqlx::query(&sql).bind(deployment_id).bind(at);
    for m in messages {
        query = query.bind(m.as_str());
    }
    query.execute(executor).await?;
    Ok(())
}
