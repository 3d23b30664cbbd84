//! The provider canary's runs. A run is claimed (inserted) before its VM
//! is created, one per provider and slot of the schedule, so that two
//! replicas never both make one and a crash mid-run leaves a row to finish
//! from; its runner renews a lease on it while it works, and a run not
//! confirmed gone whose lease ran out is a leftover that the next pass
//! takes over ([`Store::take_canary_leftover`]) until the provider says it
//! is gone. Rows of runs whose VM is gone are pruned with the probe
//! results; the others are never.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, parse_word};
use nuvola_types::{CanaryPhase, CanaryRun, Spelled};

impl Store {
    /// Records `run` before anything is created, unless its provider
    /// already has a run in its slot; returns whether this call claimed it.
    pub async fn claim_canary_run(&self, run: &CanaryRun) -> Result<bool> {
        let sql = format!("INSERT INTO canary_runs ({COLUMNS}) VALUES ({}) ON CONFLICT (provider, slot) DO NOTHING", {
            (1..=17).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
        });
        let done = bind(sqlx::query(&sql), run).execute(&self.writer).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Saves what changed of a claimed run: its lease, its phases, its
    /// verdict, whether its VM is gone.
    pub async fn save_canary_run(&self, run: &CanaryRun) -> Result<()> {
        let sets: Vec<String> = COLUMNS.split(", ").zip(1..).skip(1).map(|(c, i)| format!("{c} = ${i}")).collect();
        let sql = format!("UPDATE canary_runs SET {} WHERE id = $1", sets.join(", "));
        bind(sqlx::query(&sql), run).execute(&self.writer).await?;
        Ok(())
    }

    /// Takes leftover `id` over until `lease_until`, if it is still not
    /// gone and nobody holds it at `now`; returns whether this call did.
    pub async fn take_canary_leftover(&self, id: &str, now: i64, lease_until: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE canary_runs SET lease_until = $3 WHERE id = $1 AND gone = 0 AND lease_until <= $2")
                .bind(id)
                .bind(now)
                .bind(lease_until)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every run whose VM is not confirmed gone and that nobody runs at
    /// `now` (see [`CanaryRun::leftover`]), oldest first.
    pub async fn canary_leftovers(&self, now: i64) -> Result<Vec<CanaryRun>> {
        let rows = sqlx::query(
            "SELECT * FROM canary_runs WHERE gone = 0 AND (finished_at IS NOT NULL OR lease_until <= $1)
             ORDER BY started_at, id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    /// The runs among `ids` (attempt ids a provider's inventory shows).
    pub async fn canary_runs_by_id(&self, ids: &[String]) -> Result<Vec<CanaryRun>> {
        // Well below SQLite's and PostgreSQL's limits on bound parameters.
        const BATCH: usize = 500;
        let mut found = Vec::new();
        for ids in ids.chunks(BATCH) {
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT * FROM canary_runs WHERE id IN ({})", placeholders.join(", "));
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

    /// Each provider's latest run with a verdict (neither running nor cut
    /// off), by provider.
    pub async fn latest_canary_verdicts(&self) -> Result<Vec<CanaryRun>> {
        let rows = sqlx::query(
            "SELECT * FROM canary_runs r WHERE ok IS NOT NULL AND started_at = (
                SELECT MAX(started_at) FROM canary_runs WHERE provider = r.provider AND ok IS NOT NULL)
             ORDER BY provider",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    /// The runs started from `since` (ms), by provider, newest first.
    pub async fn canary_runs_since(&self, since: i64) -> Result<Vec<CanaryRun>> {
        let rows = sqlx::query("SELECT * FROM canary_runs WHERE started_at >= $1 ORDER BY provider, started_at DESC")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(decode).collect()
    }

    /// Forgets the runs started before `before` whose VM is gone; a run
    /// whose VM is not is kept however old. Returns how many went.
    pub async fn prune_canary_runs(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM canary_runs WHERE gone = 1 AND started_at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Every column, in the order [`bind`] binds them.
const COLUMNS: &str = "id, provider, slot, flavor, image, started_at, lease_until, create_ms, ready_ms, delete_ms, \
                       finished_at, ok, failed_phase, error, cause, gone, cleanup_error";

/// Binds every column of `run` as `$1`..`$17`, in [`COLUMNS`]'s order.
fn bind<'q>(query: Query<'q>, run: &'q CanaryRun) -> Query<'q> {
    query
        .bind(&run.id)
        .bind(&run.provider)
        .bind(run.slot)
        .bind(&run.flavor)
        .bind(&run.image)
        .bind(run.started_at)
        .bind(run.lease_until)
        .bind(run.create_ms)
        .bind(run.ready_ms)
        .bind(run.delete_ms)
        .bind(run.finished_at)
        .bind(run.ok.map(i64::from))
        .bind(run.failed_phase.map(|p| p.as_str()))
        .bind(&run.error)
        .bind(&run.cause)
        .bind(i64::from(run.gone))
        .bind(&run.cleanup_error)
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn decode(r: &AnyRow) -> Result<CanaryRun> {
    let failed_phase: Option<String> = r.try_get("failed_phase")?;
    Ok(CanaryRun {
        id: r.try_get("id")?,
        provider: r.try_get("provider")?,
        slot: r.try_get("slot")?,
        flavor: r.try_get("flavor")?,
        image: r.try_get("image")?,
        started_at: r.try_get("started_at")?,
        lease_until: r.try_get("lease_until")?,
        create_ms: r.try_get("create_ms")?,
        ready_ms: r.try_get("ready_ms")?,
        delete_ms: r.try_get("delete_ms")?,
        finished_at: r.try_get("finished_at")?,
        ok: r.try_get::<Option<i64>, _>("ok")?.map(|ok| ok != 0),
        failed_phase: failed_phase.map(|p| parse_word::<CanaryPhase>("canary_runs.failed_phase", &p)).transpose()?,
        error: r.try_get("error")?,
        cause: r.try_get("cause")?,
        gone: r.try_get::<i64, _>("gone")? != 0,
        cleanup_error: r.try_get("cleanup_error")?,
    })
}
