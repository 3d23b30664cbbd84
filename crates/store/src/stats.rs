//! Statistics over deployments and attempts, aggregated in SQL: the store
//! returns counts per group, per service, per day or month, per lifetime
//! bucket and per provider, never the rows themselves.
//!
//! Every query takes a [`StatsFilter`]: a creation-time window (attempts:
//! their start time) and, for group managers, the groups whose figures the
//! caller may see. Calendar buckets (days, months) are UTC and computed by
//! the database (`strftime` on SQLite, `to_char` on PostgreSQL).

use nuvola_types::{AttemptState, DeploymentStatus, Spelled};
use sqlx::Row;

use crate::deployments::AnyQuery;
use crate::{Backend, Result, Store};

/// Upper bounds (exclusive, in hours) of the lifetime histogram's buckets;
/// a last, open bucket holds everything longer.
pub const LIFETIME_BUCKET_HOURS: [i64; 7] = [1, 6, 24, 72, 168, 720, 2160];

/// Which deployments a statistic counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsFilter {
    /// Created (attempts: started) at or after this time, ms.
    pub from: Option<i64>,
    /// Created (attempts: started) before this time, ms.
    pub to: Option<i64>,
    /// Only these groups' deployments (`None`: every group).
    pub groups: Option<Vec<String>>,
}

impl StatsFilter {
    /// `created_at` (or `column`) within the window and the groups, with
    /// placeholders numbered from `$1`; binds with [`Self::bind`].
    fn clause(&self, column: &str, group_column: &str) -> String {
        let mut sql = format!("{column} >= $1 AND {column} < $2");
        if let Some(groups) = &self.groups {
            let marks: Vec<String> = (0..groups.len()).map(|i| format!("${}", i + 3)).collect();
            sql.push_str(&format!(" AND {group_column} IN ({})", marks.join(", ")));
        }
        sql
    }

    fn bind<'q>(&self, mut query: AnyQuery<'q>) -> AnyQuery<'q> {
        query = query.bind(self.from.unwrap_or(i64::MIN)).bind(self.to.unwrap_or(i64::MAX));
        for g in self.groups.iter().flatten() {
            query = query.bind(g.clone());
        }
        query
    }

    /// Placeholders used by the clause, so a query can number its own after.
    fn next_placeholder(&self) -> usize {
        3 + self.groups.as_ref().map_or(0, Vec::len)
    }

    /// True when no group may be counted (a scope with no group).
    fn is_empty_scope(&self) -> bool {
        self.groups.as_ref().is_some_and(Vec::is_empty)
    }
}

/// Succeeded and failed attempts on one provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AttemptOutcomes {
    pub provider: String,
    /// Became ready (including those deleted since).
    pub succeeded: i64,
    /// Failed (cleaned up, being cleaned, orphaned or kept).
    pub failed: i64,
    /// Still creating or building.
    pub running: i64,
}

/// Statuses that count as no longer active: deleted, or never created.
const INACTIVE: [DeploymentStatus; 2] = [DeploymentStatus::DeleteComplete, DeploymentStatus::CreateFailed];

fn list(states: &[&str]) -> String {
    states.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Refreshes the statistics the query planner chooses indexes by
    /// (SQLite's `ANALYZE`, on a sample of each index). Without them SQLite
    /// guesses, and may sort thousands of whole rows to list fifty.
    /// PostgreSQL's autovacuum keeps its own; there this does nothing.
    pub async fn refresh_planner_statistics(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("PRAGMA analysis_limit = 2000").execute(&mut *conn).await?;
            sqlx::query("ANALYZE").execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Where statistics read deployments from. On SQLite, the covering
    /// index by name: with planner statistics, SQLite would otherwise scan
    /// the group index and read every row (and its large template) for the
    /// status.
    fn stats_source(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "deployments INDEXED BY deployments_listing",
            Backend::Postgres => "deployments",
        }
    }

    /// The `YYYY-MM-DD` (UTC) of a millisecond column, in this dialect.
    fn day_of(&self, column: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("strftime('%Y-%m-%d', {column} / 1000, 'unixepoch')"),
            Backend::Postgres => format!("to_char(to_timestamp({column} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        }
    }

    /// The `YYYY-MM` (UTC) of a millisecond column, in this dialect.
    fn month_of(&self, column: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("strftime('%Y-%m', {column} / 1000, 'unixepoch')"),
            Backend::Postgres => format!("to_char(to_timestamp({column} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM')"),
        }
    }

    /// Active deployments (neither deleted nor failed to create) per group,
    /// most first. The time window does not apply: active means now.
    pub async fn stats_active_by_group(&self, filter: &StatsFilter) -> Result<Vec<(String, i64)>> {
        if filter.is_empty_scope() {
            return Ok(Vec::new());
        }
        let inactive = list(&INACTIVE.map(DeploymentStatus::as_str));
        let everywhere = StatsFilter { from: None, to: None, groups: filter.groups.clone() };
        let source = self.stats_source();
        let sql = format!(
            "SELECT user_group, COUNT(*) AS n FROM {source} WHERE {} AND status NOT IN ({inactive})
             GROUP BY user_group ORDER BY n DESC, user_group",
            everywhere.clause("created_at", "user_group")
        );
        let rows = everywhere.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("user_group")?, r.try_get("n")?))).collect()
    }

    /// Deployments created in the window per catalogue entry (`None`: a
    /// template of the user's own), most first.
    pub async fn stats_by_service(&self, filter: &StatsFilter) -> Result<Vec<(Option<String>, i64)>> {
        if filter.is_empty_scope() {
            return Ok(Vec::new());
        }
        let source = self.stats_source();
        let sql = format!(
            "SELECT catalogue_id, COUNT(*) AS n FROM {source} WHERE {}
             GROUP BY catalogue_id ORDER BY n DESC, catalogue_id",
            filter.clause("created_at", "user_group")
        );
        let rows = filter.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let mut counts: Vec<(Option<String>, i64)> =
            rows.iter().map(|r| Ok((r.try_get("catalogue_id")?, r.try_get("n")?))).collect::<Result<_>>()?;
        // The dialects order NULL differently: own templates go last among equals.
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| (a.0.is_none(), &a.0).cmp(&(b.0.is_none(), &b.0))));
        Ok(counts)
    }

    /// Deployments created in the window per UTC day (`YYYY-MM-DD`), in
    /// order; days without any are absent.
    pub async fn stats_created_per_day(&self, filter: &StatsFilter) -> Result<Vec<(String, i64)>> {
        self.created_per(filter, &self.day_of("created_at")).await
    }

    /// Deployments created in the window per UTC day that failed to be
    /// created (`CREATE_FAILED`), in order; days without any are absent.
    pub async fn stats_failed_per_day(&self, filter: &StatsFilter) -> Result<Vec<(String, i64)>> {
        let failed = DeploymentStatus::CreateFailed.as_str();
        self.created_per_where(filter, &self.day_of("created_at"), &format!(" AND status = '{failed}'")).await
    }

    /// Deployments created in the window per UTC month (`YYYY-MM`), in
    /// order; months without any are absent.
    pub async fn stats_created_per_month(&self, filter: &StatsFilter) -> Result<Vec<(String, i64)>> {
        self.created_per(filter, &self.month_of("created_at")).await
    }

    async fn created_per(&self, filter: &StatsFilter, bucket: &str) -> Result<Vec<(String, i64)>> {
        self.created_per_where(filter, bucket, "").await
    }

    /// [`Self::created_per`] of the rows also meeting `and` (a fixed
    /// condition, never user input).
    async fn created_per_where(&self, filter: &StatsFilter, bucket: &str, and: &str) -> Result<Vec<(String, i64)>> {
        if filter.is_empty_scope() {
            return Ok(Vec::new());
        }
        let source = self.stats_source();
        let sql = format!(
            "SELECT {bucket} AS bucket, COUNT(*) AS n FROM {source} WHERE {}{and} GROUP BY {bucket} ORDER BY bucket",
            filter.clause("created_at", "user_group")
        );
        let rows = filter.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("bucket")?, r.try_get("n")?))).collect()
    }

    /// Deployments created in the window per group and UTC month:
    /// `(month, group, count)`, by month then group.
    pub async fn stats_groups_per_month(&self, filter: &StatsFilter) -> Result<Vec<(String, String, i64)>> {
        if filter.is_empty_scope() {
            return Ok(Vec::new());
        }
        let month = self.month_of("created_at");
        let source = self.stats_source();
        let sql = format!(
            "SELECT {month} AS month, user_group, COUNT(*) AS n FROM {source} WHERE {}
             GROUP BY {month}, user_group ORDER BY month, user_group",
            filter.clause("created_at", "user_group")
        );
        let rows = filter.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("month")?, r.try_get("user_group")?, r.try_get("n")?))).collect()
    }

    /// How long deployments created in the window lived, per group: the
    /// index of their bucket in [`LIFETIME_BUCKET_HOURS`] (the last index is
    /// the open bucket) and how many fell in it. A deleted deployment lived
    /// until its deletion finished; one still there counts its age at
    /// `now`; those that failed to create never lived and are left out.
    pub async fn stats_lifetimes(&self, filter: &StatsFilter, now: i64) -> Result<Vec<(String, usize, i64)>> {
        if filter.is_empty_scope() {
            return Ok(Vec::new());
        }
        let now_mark = filter.next_placeholder();
        let mut bucket = String::from("CASE");
        for (i, hours) in LIFETIME_BUCKET_HOURS.iter().enumerate() {
            bucket.push_str(&format!(" WHEN life < {} THEN {i}", hours * 3_600_000));
        }
        bucket.push_str(&format!(" ELSE {} END", LIFETIME_BUCKET_HOURS.len()));
        // Each lifetime is computed once, in the inner query.
        let source = self.stats_source();
        let sql = format!(
            "SELECT user_group, {bucket} AS bucket, COUNT(*) AS n
             FROM (SELECT user_group, (CASE WHEN status = '{}' THEN updated_at ELSE ${now_mark} END) - created_at AS life
                   FROM {source} WHERE {} AND status <> '{}') lives
             GROUP BY user_group, {bucket} ORDER BY user_group, bucket",
            DeploymentStatus::DeleteComplete.as_str(),
            filter.clause("created_at", "user_group"),
            DeploymentStatus::CreateFailed.as_str()
        );
        let rows = filter.bind(sqlx::query(&sql)).bind(now).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let bucket: i64 = r.try_get("bucket")?;
                Ok((
                    r.try_get("user_group")?,
                    bucket.clamp(0, LIFETIME_BUCKET_HOURS.len() as i64) as usize,
                    r.try_get("n")?,
                ))
            })
            .collect()
    }

    /// Attempts started in the window per provider, by outcome, by
    /// provider name. With groups, only those groups' deployments' attempts.
    pub async fn stats_attempts_by_provider(&self, filter: &StatsFilter) -> Result<Vec<AttemptOutcomes>> {
        if filter.is_empty_scope() {
            return Ok(Vec::new());
        }
        use AttemptState::*;
        let ok = list(&[Ready, Deleting, Deleted].map(AttemptState::as_str));
        let failed = list(&[Cleaning, Cleaned, Orphaned, Kept].map(AttemptState::as_str));
        let running = list(&[Creating, Building].map(AttemptState::as_str));
        let join = if filter.groups.is_some() { " JOIN deployments d ON d.id = a.deployment_id" } else { "" };
        let sql = format!(
            "SELECT a.provider AS provider,
                COUNT(CASE WHEN a.state IN ({ok}) THEN 1 END) AS succeeded,
                COUNT(CASE WHEN a.state IN ({failed}) THEN 1 END) AS failed,
                COUNT(CASE WHEN a.state IN ({running}) THEN 1 END) AS running
             FROM attempts a{join} WHERE {} GROUP BY a.provider ORDER BY a.provider",
            filter.clause("a.started_at", "d.user_group")
        );
        let rows = filter.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(AttemptOutcomes {
                    provider: r.try_get("provider")?,
                    succeeded: r.try_get("succeeded")?,
                    failed: r.try_get("failed")?,
                    running: r.try_get("running")?,
                })
            })
            .collect()
    }
}
