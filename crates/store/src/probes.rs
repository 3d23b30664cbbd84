//! Probe results: what each scheduled check found, kept over time for
//! charts and availability, and the latest per target and probe for the
//! status page and placement.
//!
//! A round of probes (a thousand users' endpoints, every minute) is
//! written as one multi-row insert, with the latest results upserted in
//! the same transaction, so that reading "how is everything now" never
//! scans the history. A target prefix (`endpoint/<deployment>/`) is a
//! range of the primary key: targets are ordered by their bytes on both
//! backends (see the schema's `{bytewise}`).

use std::collections::BTreeMap;

use nuvola_types::ProbeResult;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

/// Rows per insert: six binds each, well below SQLite's 32,766 and
/// PostgreSQL's 65,535 bound parameters.
const ROWS_PER_INSERT: usize = 4_000;

/// One probe's results over one stretch of time, for charts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeBucket {
    pub target: String,
    pub probe: String,
    /// Where the stretch starts (ms): the window's start plus a whole
    /// number of buckets.
    pub bucket_start: i64,
    /// Results in the stretch.
    pub count: i64,
    /// Of which failed.
    pub failures: i64,
    pub mean_latency_ms: f64,
    pub max_latency_ms: i64,
}

impl Store {
    /// Records one round of results, and keeps each (target, probe)'s
    /// latest; a result recorded twice (a round retried) is kept once.
    pub async fn record_probe_results(&self, results: &[ProbeResult]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        // One row per key in the upsert: PostgreSQL refuses to update a
        // row twice in one statement.
        let mut latest: BTreeMap<(&str, &str), &ProbeResult> = BTreeMap::new();
        for r in results {
            let slot = latest.entry((r.target.as_str(), r.probe.as_str())).or_insert(r);
            if r.at > slot.at {
                *slot = r;
            }
        }
        let latest: Vec<&ProbeResult> = latest.into_values().collect();
        let mut tx = self.writer.begin().await?;
        for chunk in results.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO probe_results (target, probe, at, ok, latency_ms, detail) VALUES {}
                 ON CONFLICT (target, probe, at) DO NOTHING",
                placeholders(chunk.len())
            );
            bind_all(sqlx::query(&sql), chunk.iter()).execute(&mut *tx).await?;
        }
        for chunk in latest.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO probe_latest (target, probe, at, ok, latency_ms, detail) VALUES {}
                 ON CONFLICT (target, probe) DO UPDATE SET at = excluded.at, ok = excluded.ok,
                    latency_ms = excluded.latency_ms, detail = excluded.detail
                 WHERE excluded.at >= probe_latest.at",
                placeholders(chunk.len())
            );
            bind_all(sqlx::query(&sql), chunk.iter().copied()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `target`'s results from `since` (inclusive) to `until` (exclusive),
    /// newest first, at most `limit`.
    pub async fn probe_results(&self, target: &str, since: i64, until: i64, limit: i64) -> Result<Vec<ProbeResult>> {
        let rows = sqlx::query(
            "SELECT target, probe, at, ok, latency_ms, detail FROM probe_results
             WHERE target = $1 AND at >= $2 AND at < $3 ORDER BY at DESC, probe LIMIT $4",
        )
        .bind(target)
        .bind(since)
        .bind(until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| decode(r, "probe_results.latency_ms")).collect()
    }

    /// The latest result of every (target, probe), or of those whose
    /// target starts with `target_prefix`, by target and probe.
    pub async fn latest_probe_results(&self, target_prefix: Option<&str>) -> Result<Vec<ProbeResult>> {
        let range = target_prefix.map(prefix_range);
        let sql = format!(
            "SELECT target, probe, at, ok, latency_ms, detail FROM probe_latest WHERE {} ORDER BY target, probe",
            range_clause(range.as_ref(), 1)
        );
        let query = bind_range(sqlx::query(&sql), range);
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|r| decode(r, "probe_latest.latency_ms")).collect()
    }

    /// Forgets the results taken before `before` (ms), and the latest
    /// results of targets not probed since (a deleted deployment's
    /// endpoints); returns how many results went.
    pub async fn prune_probe_results(&self, before: i64) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("DELETE FROM probe_results WHERE at < $1").bind(before).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM probe_latest WHERE at < $1").bind(before).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Results from `since` (inclusive) to `until` (exclusive) summed per
    /// target, probe and stretch of `bucket_ms` counted from `since`, of
    /// every target or those starting with `target_prefix`; by target,
    /// probe and time. Stretches without results are absent.
    pub async fn probe_buckets(
        &self,
        target_prefix: Option<&str>,
        since: i64,
        until: i64,
        bucket_ms: i64,
    ) -> Result<Vec<ProbeBucket>> {
        let bucket_ms = bucket_ms.max(1);
        let range = target_prefix.map(prefix_range);
        let sql = format!(
            "SELECT target, probe, $1 + ((at - $1) / $3) * $3 AS bucket_start, COUNT(*) AS n,
                CAST(SUM(1 - ok) AS BIGINT) AS failures, CAST(SUM(latency_ms) AS BIGINT) AS total_latency,
                MAX(latency_ms) AS max_latency
             FROM probe_results WHERE at >= $1 AND at < $2 AND {}
             GROUP BY target, probe, bucket_start ORDER BY target, probe, bucket_start",
            range_clause(range.as_ref(), 4)
        );
        let query = bind_range(sqlx::query(&sql).bind(since).bind(until).bind(bucket_ms), range);
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let count: i64 = r.try_get("n")?;
                let total: i64 = r.try_get("total_latency")?;
                Ok(ProbeBucket {
                    target: r.try_get("target")?,
                    probe: r.try_get("probe")?,
                    bucket_start: r.try_get("bucket_start")?,
                    count,
                    failures: r.try_get("failures")?,
                    mean_latency_ms: total as f64 / count.max(1) as f64,
                    max_latency_ms: r.try_get("max_latency")?,
                })
            })
            .collect()
    }
}

/// `($1, $2, ..., $6), ($7, ...)` for `rows` rows of six values.
fn placeholders(rows: usize) -> String {
    let row = |i: usize| {
        let first = i * 6 + 1;
        let binds: Vec<String> = (first..first + 6).map(|n| format!("${n}")).collect();
        format!("({})", binds.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

fn bind_all<'q>(mut query: Query<'q>, results: impl Iterator<Item = &'q ProbeResult>) -> Query<'q> {
    for r in results {
        query = query
            .bind(&r.target)
            .bind(&r.probe)
            .bind(r.at)
            .bind(i64::from(r.ok))
            .bind(i64::from(r.latency_ms))
            .bind(&r.detail);
    }
    query
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The keys starting with `prefix`: from it (inclusive) to the first
/// string past all of them (exclusive), its last character moved on by
/// one; no end when none can be (an empty prefix, or one of only the last
/// character).
fn prefix_range(prefix: &str) -> (String, Option<String>) {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32) {
            chars.push(next);
            return (prefix.to_string(), Some(chars.into_iter().collect()));
        }
    }
    (prefix.to_string(), None)
}

/// The condition on `target` for `range`, its binds numbered from `first`.
fn range_clause(range: Option<&(String, Option<String>)>, first: usize) -> String {
    match range {
        None => "1 = 1".into(),
        Some((_, None)) => format!("target >= ${first}"),
        Some((_, Some(_))) => format!("target >= ${first} AND target < ${}", first + 1),
    }
}

fn bind_range(query: Query<'_>, range: Option<(String, Option<String>)>) -> Query<'_> {
    match range {
        None => query,
        Some((from, None)) => query.bind(from),
        Some((from, Some(to))) => query.bind(from).bind(to),
    }
}

fn decode(r: &AnyRow, what: &'static str) -> Result<ProbeResult> {
    let latency: i64 = r.try_get("latency_ms")?;
    Ok(ProbeResult {
        target: r.try_get("target")?,
        probe: r.try_get("probe")?,
        at: r.try_get("at")?,
        ok: r.try_get::<i64, _>("ok")? != 0,
        latency_ms: u32::try_from(latency)
            .map_err(|_| StoreError::Corrupt { what, detail: format!("{latency} is not a latency") })?,
        detail: r.try_get("detail")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_a_range_of_keys() {
        let (from, to) = prefix_range("endpoint/d1/");
        let to = to.unwrap();
        assert_eq!((from.as_str(), to.as_str()), ("endpoint/d1/", "endpoint/d10"));
        for inside in ["endpoint/d1/", "endpoint/d1/url", "endpoint/d1/\u{10FFFF}"] {
            assert!(from.as_str() <= inside && inside < to.as_str(), "{inside}");
        }
        for outside in ["endpoint/d1", "endpoint/d10/url", "endpoint/d2/"] {
            assert!(!(from.as_str() <= outside && outside < to.as_str()), "{outside}");
        }
        assert_eq!(prefix_range(""), (String::new(), None));
        assert_eq!(prefix_range("a\u{10FFFF}").1.as_deref(), Some("b"));
        assert_eq!(prefix_range("\u{10FFFF}").1, None, "nothing sorts after its keys");
    }

    #[test]
    fn rows_are_numbered_in_order() {
        assert_eq!(placeholders(2), "($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)");
    }
}
