//! Deployments: the row the API shows and the durable workflow drives.
//!
//! Writes are optimistic: every row carries a `revision`, and
//! [`Store::save_deployment`] succeeds only if nobody wrote the row since it
//! was read. Workers additionally hold a lease (`lease_owner`,
//! `lease_until`) on the rows they are stepping, taken by
//! [`Store::claim_due`] with `FOR UPDATE SKIP LOCKED` on PostgreSQL so that
//! several replicas share the work.

use std::collections::BTreeSet;

use nuvola_types::{DeploymentRecord, DeploymentStatus, Progress, Spelled, Usage, now_ms};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{Backend, Result, Store, StoreError, from_json, parse_word, to_json};

/// A deployment to insert.
pub type NewDeployment = DeploymentRecord;

/// Sort order for listings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Which deployments to list. Every `Some` narrows the result.
#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    /// Only those created by this `(subject, issuer)`.
    pub owner: Option<(String, String)>,
    pub user_group: Option<String>,
    /// None of these statuses (none left out when empty).
    pub excluded_status: Vec<DeploymentStatus>,
    pub status: Option<DeploymentStatus>,
    pub sort: Sort,
    /// Only those this caller may see: their own, and every one of these
    /// groups (`None`: no restriction, for administrators).
    pub visible_to: Option<Visible>,
}

/// What a caller may see: their own deployments and all of some groups'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visible {
    pub subject: String,
    pub issuer: String,
    pub groups: Vec<String>,
}

impl Visible {
    /// The SQL condition, with placeholders numbered from `first`.
    fn clause(&self, first: usize) -> String {
        let own = format!("(owner_subject = ${first} AND owner_issuer = ${})", first + 1);
        if self.groups.is_empty() {
            return own;
        }
        let groups: Vec<String> = (0..self.groups.len()).map(|i| format!("${}", first + 2 + i)).collect();
        format!("({own} OR user_group IN ({}))", groups.join(", "))
    }

    fn bind<'q>(&self, mut query: AnyQuery<'q>) -> AnyQuery<'q> {
        query = query.bind(self.subject.clone()).bind(self.issuer.clone());
        for g in &self.groups {
            query = query.bind(g.clone());
        }
        query
    }
}

const COLUMNS: &str = "id, owner_subject, owner_issuer, owner_email, user_group, catalogue_id, description, status, status_reason, \
     task, template, parameters, inputs, secrets, requirements, plan, outputs, held, callback, timeout_mins, \
     provider_timeout_mins, max_providers_retry, keep_last_attempt, provider, endpoint, physical_id, workflow, \
     next_run_at, deadline_at, created_at, updated_at, revision";

/// What a deployment's row holds of its inputs: the plain columns and the
/// sealed one (see [`crate::sealed`]); `None` keeps what is stored.
struct InputColumns {
    parameters: Option<String>,
    inputs: Option<String>,
    secrets: Option<String>,
    outputs: Option<String>,
}

impl Store {
    /// Inserts a new deployment with its first log lines, atomically.
    pub async fn insert_deployment(&self, d: &NewDeployment, progress: &Progress) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.insert_on(&mut tx, d, progress).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_on(&self, conn: &mut AnyConnection, d: &NewDeployment, progress: &Progress) -> Result<()> {
        let columns = self.input_columns(d)?;
        let progress = scrubbed(d, progress);
        sqlx::query(
            "INSERT INTO deployments (id, owner_subject, owner_issuer, user_group, catalogue_id, description, status,
                status_reason, task, template, parameters, inputs, requirements, plan, outputs, held, callback,
                timeout_mins, provider_timeout_mins, max_providers_retry, keep_last_attempt, provider, endpoint,
                physical_id, workflow, next_run_at, deadline_at, created_at, updated_at, secrets, owner_email, revision,
                lease_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, 0, 0)",
        )
        .bind(&d.id)
        .bind(&d.owner_subject)
        .bind(&d.owner_issuer)
        .bind(&d.user_group)
        .bind(&d.catalogue_id)
        .bind(&d.description)
        .bind(d.status.as_str())
        .bind(scrub(d, d.status_reason.as_deref()))
        .bind(d.task.as_str())
        .bind(&d.template)
        .bind(columns.parameters)
        .bind(columns.inputs)
        .bind(to_json(&d.requirements))
        .bind(to_json(&d.plan))
        .bind(columns.outputs.unwrap_or_else(|| "{}".into()))
        .bind(to_json(&d.held))
        .bind(&d.callback)
        .bind(d.timeout_mins)
        .bind(d.provider_timeout_mins)
        .bind(d.max_providers_retry)
        .bind(i64::from(d.keep_last_attempt))
        .bind(&d.provider)
        .bind(&d.endpoint)
        .bind(&d.physical_id)
        .bind(d.workflow.as_ref().map(to_json))
        .bind(d.next_run_at)
        .bind(d.deadline_at)
        .bind(d.created_at)
        .bind(d.updated_at)
        .bind(columns.secrets)
        .bind(&d.owner_email)
        .execute(&mut *conn)
        .await?;
        write_progress(conn, &d.id, &progress).await
    }

    /// One deployment by id.
    pub async fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM deployments WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| self.decode(r)).transpose()
    }

    /// A page of deployments matching `filter`, and how many match in all.
    pub async fn list_deployments(
        &self,
        filter: &DeploymentFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<DeploymentRecord>, i64)> {
        let where_clause = "($1 IS NULL OR owner_subject = $1) AND ($2 IS NULL OR owner_issuer = $2)
             AND ($3 IS NULL OR user_group = $3) AND ($4 IS NULL OR $4 NOT LIKE '%,' || status || ',%') AND ($5 IS NULL OR status = $5)";
        let order = match filter.sort {
            Sort::NewestFirst => "created_at DESC, id DESC",
            Sort::OldestFirst => "created_at ASC, id ASC",
        };
        // The caller's visibility is part of the query: what they may not
        // see is neither returned nor counted.
        let visible = |first: usize| filter.visible_to.as_ref().map(|v| format!(" AND {}", v.clause(first)));
        let count_sql =
            format!("SELECT COUNT(*) AS n FROM deployments WHERE {where_clause}{}", visible(6).unwrap_or_default());
        let total: i64 = bind_visible(filter, bind_filter(sqlx::query(&count_sql), filter))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        // Templates (up to a MiB each) are left out of pages.
        let columns = COLUMNS.replacen("task, template,", "task, '' AS template,", 1);
        let page_sql = format!(
            "SELECT {columns} FROM deployments WHERE {where_clause}{} ORDER BY {order} LIMIT $6 OFFSET $7",
            visible(8).unwrap_or_default()
        );
        let rows = bind_visible(filter, bind_filter(sqlx::query(&page_sql), filter).bind(limit).bind(offset))
            .fetch_all(&self.pool)
            .await?;
        Ok((self.decode_each(&rows), total))
    }

    /// Saves `d` if nobody saved it since it was read (its `revision`), with
    /// `progress` in the same transaction. A worker passes the lease it
    /// claimed the row with: the save then also requires that lease (a
    /// worker whose lease was taken over cannot commit) and releases it.
    /// Returns false (and writes nothing) when the row changed or the lease
    /// was lost.
    pub async fn save_deployment(
        &self,
        d: &DeploymentRecord,
        lease_owner: Option<&str>,
        progress: &Progress,
    ) -> Result<bool> {
        self.save(d, lease_owner, None, progress).await
    }

    /// Saves `d` as [`Store::save_deployment`] does under lease `owner`,
    /// but keeps the lease, renewed until `hold_until` (ms): the worker goes
    /// on with the deployment's next step without claiming it again.
    pub async fn save_deployment_holding(
        &self,
        d: &DeploymentRecord,
        owner: &str,
        hold_until: i64,
        progress: &Progress,
    ) -> Result<bool> {
        self.save(d, Some(owner), Some(hold_until), progress).await
    }

    async fn save(
        &self,
        d: &DeploymentRecord,
        lease_owner: Option<&str>,
        hold_until: Option<i64>,
        progress: &Progress,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        if self.save_on(&mut tx, d, lease_owner, hold_until, progress).await? {
            tx.commit().await?;
            Ok(true)
        } else {
            tx.rollback().await?;
            Ok(false)
        }
    }

    /// The save of [`Store::save_deployment`] on `conn`, in its caller's
    /// transaction.
    async fn save_on(
        &self,
        conn: &mut AnyConnection,
        d: &DeploymentRecord,
        lease_owner: Option<&str>,
        hold_until: Option<i64>,
        progress: &Progress,
    ) -> Result<bool> {
        let columns = self.input_columns(d)?;
        let progress = scrubbed(d, progress);
        let sql = "UPDATE deployments SET status = $4, status_reason = $5, task = $6,
                template = COALESCE(NULLIF($7, ''), template),
                parameters = COALESCE($8, parameters), inputs = COALESCE($9, inputs),
                secrets = COALESCE($27, secrets), requirements = $10, plan = $11, outputs = COALESCE($12, outputs), held = $13, provider = $14,
                endpoint = $15, physical_id = $16, workflow = $17, next_run_at = $18, deadline_at = $19,
                updated_at = $20, description = $21, timeout_mins = $22, provider_timeout_mins = $23,
                max_providers_retry = $24, keep_last_attempt = $25, callback = $26,
                revision = revision + 1,
                lease_owner = CASE WHEN $3 IS NULL OR $28 IS NOT NULL THEN lease_owner ELSE NULL END,
                lease_until = CASE WHEN $3 IS NULL THEN lease_until WHEN $28 IS NOT NULL THEN $28 ELSE 0 END
             WHERE id = $1 AND revision = $2 AND ($3 IS NULL OR lease_owner = $3)";
        let changed = sqlx::query(sql)
            .bind(&d.id)
            .bind(d.revision)
            .bind(lease_owner.map(str::to_string))
            .bind(d.status.as_str())
            .bind(scrub(d, d.status_reason.as_deref()))
            .bind(d.task.as_str())
            .bind(&d.template)
            .bind(columns.parameters)
            .bind(columns.inputs)
            .bind(to_json(&d.requirements))
            .bind(to_json(&d.plan))
            .bind(columns.outputs)
            .bind(to_json(&d.held))
            .bind(&d.provider)
            .bind(&d.endpoint)
            .bind(&d.physical_id)
            .bind(d.workflow.as_ref().map(to_json))
            .bind(d.next_run_at)
            .bind(d.deadline_at)
            .bind(d.updated_at)
            .bind(&d.description)
            .bind(d.timeout_mins)
            .bind(d.provider_timeout_mins)
            .bind(d.max_providers_retry)
            .bind(i64::from(d.keep_last_attempt))
            .bind(&d.callback)
            .bind(columns.secrets)
            .bind(hold_until)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        write_progress(conn, &d.id, &progress).await?;
        Ok(true)
    }

    /// Takes a lease of `lease_ms` on up to `limit` deployments whose next
    /// step is due at `now` and that nobody else holds, and returns them.
    pub async fn claim_due(&self, owner: &str, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<DeploymentRecord>> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE deployments SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM deployments
                          WHERE next_run_at IS NOT NULL AND next_run_at <= $3 AND lease_until < $3
                          ORDER BY next_run_at LIMIT $4 {lock})
             RETURNING {COLUMNS}"
        );
        let rows =
            sqlx::query(&sql).bind(owner).bind(now + lease_ms).bind(now).bind(limit).fetch_all(&self.writer).await?;
        Ok(self.decode_each(&rows))
    }

    /// Extends lease `owner` on `id` to `until` (ms) while its step runs.
    /// False when the lease is no longer `owner`'s: the step must stop
    /// without saving, another worker may be running it.
    pub async fn renew_lease(&self, id: &str, owner: &str, until: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE deployments SET lease_until = $3 WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .bind(until)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up a lease without saving (the step's result was discarded).
    pub async fn release_lease(&self, id: &str, owner: &str) -> Result<()> {
        sqlx::query("UPDATE deployments SET lease_owner = NULL, lease_until = 0 WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Drops every lease not held by `owner` (an embedded single-server
    /// store uses it at start-up: leases left behind belong to a dead
    /// process). Returns how many were released.
    pub async fn release_leases_of_others(&self, owner: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE deployments SET lease_owner = NULL, lease_until = 0 WHERE lease_owner IS NOT NULL AND lease_owner <> $1",
        )
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// The earliest `next_run_at` of any deployment, to know how long a
    /// worker may sleep.
    pub async fn next_due_at(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(next_run_at) AS t FROM deployments WHERE next_run_at IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("t")?)
    }

    /// What each deployment of `group` holds, per provider, for quota use.
    pub async fn held_by_group(&self, group: &str) -> Result<Vec<(String, Usage)>> {
        held_by_group(&self.pool, group).await
    }

    /// What every group's live deployments hold, per group and provider.
    pub async fn held_everywhere(&self) -> Result<Vec<(String, String, Usage)>> {
        let rows = sqlx::query(
            // The status is written out so that the planner can use the
            // partial index `deployments_holding`.
            "SELECT user_group, provider, held FROM deployments
             WHERE provider IS NOT NULL AND status <> 'DELETE_COMPLETE'",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut totals: std::collections::BTreeMap<(String, String), Usage> = Default::default();
        for r in &rows {
            let held: String = r.try_get("held")?;
            let held: Usage = from_json("deployments.held", &held)?;
            let total = totals.entry((r.try_get("user_group")?, r.try_get("provider")?)).or_default();
            *total = total.plus(held);
        }
        Ok(totals.into_iter().map(|((group, provider), usage)| (group, provider, usage)).collect())
    }

    /// How many deployments `(subject, issuer)` holds (all but deleted
    /// ones), and the bytes of their templates.
    pub async fn held_by_owner(&self, subject: &str, issuer: &str) -> Result<(i64, i64)> {
        let length = match self.backend {
            Backend::Postgres => "OCTET_LENGTH(template)",
            // SQLite's LENGTH counts characters; of a BLOB, bytes.
            Backend::Sqlite => "LENGTH(CAST(template AS BLOB))",
        };
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM({length}), 0) AS BIGINT) AS bytes FROM deployments
             WHERE owner_subject = $1 AND owner_issuer = $2 AND status <> 'DELETE_COMPLETE'"
        ))
        .bind(subject)
        .bind(issuer)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("bytes")?))
    }

    /// How many deployments are in each status, per provider (none before
    /// placement) and group.
    pub async fn count_by_status_provider_group(&self) -> Result<Vec<(DeploymentStatus, Option<String>, String, i64)>> {
        let rows = sqlx::query(
            "SELECT status, provider, user_group, COUNT(*) AS n FROM deployments
             GROUP BY status, provider, user_group ORDER BY status, provider, user_group",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get("status")?;
                Ok((parse_status(&s)?, r.try_get("provider")?, r.try_get("user_group")?, r.try_get("n")?))
            })
            .collect()
    }

    /// The workflow's queue at `now`: how many deployments have a step due,
    /// and since when the oldest has waited (ms), if any.
    pub async fn due_work(&self, now: i64) -> Result<(i64, Option<i64>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(next_run_at) AS oldest FROM deployments
             WHERE next_run_at IS NOT NULL AND next_run_at <= $1",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        Ok((row.try_get("n")?, oldest.map(|t| now - t)))
    }
}

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_visible<'q>(filter: &DeploymentFilter, query: AnyQuery<'q>) -> AnyQuery<'q> {
    match &filter.visible_to {
        Some(v) => v.bind(query),
        None => query,
    }
}

fn bind_filter<'q>(query: AnyQuery<'q>, filter: &DeploymentFilter) -> AnyQuery<'q> {
    let (subject, issuer) = filter.owner.clone().unzip();
    query
        .bind(subject)
        .bind(issuer)
        .bind(filter.user_group.clone())
        // The excluded statuses as one `,A,B,` list (status names hold no
        // comma, and `_` stands only for itself among them).
        .bind((!filter.excluded_status.is_empty()).then(|| {
            let names: Vec<&str> = filter.excluded_status.iter().map(|s| s.as_str()).collect();
            format!(",{},", names.join(","))
        }))
        .bind(filter.status.map(|s| s.as_str().to_string()))
}

async fn write_progress(conn: &mut AnyConnection, id: &str, progress: &Progress) -> Result<()> {
    for attempt in &progress.attempts {
        crate::attempts::put(&mut *conn, attempt).await?;
    }
    crate::log::append_all(&mut *conn, id, now_ms(), &progress.log).await?;
    Ok(())
}

fn parse_status(s: &str) -> Result<DeploymentStatus> {
    DeploymentStatus::parse(s).ok_or_else(|| StoreError::Corrupt { what: "deployments.status", detail: s.into() })
}

impl Store {
    /// What `d`'s row holds of its inputs: its secrets sealed apart when
    /// the store has a key. A row whose secrets could not be read keeps
    /// what it holds.
    /// Its outputs are sealed likewise; outputs that could not be read
    /// are kept until new ones are set.
    fn input_columns(&self, d: &DeploymentRecord) -> Result<InputColumns> {
        let outputs = if d.outputs_unreadable.is_some() && d.outputs.is_empty() {
            None
        } else {
            Some(crate::sealed::seal_outputs(self.sealer.as_deref(), &d.id, &d.outputs)?)
        };
        if d.secrets_unreadable.is_some() {
            return Ok(InputColumns { parameters: None, inputs: None, secrets: None, outputs });
        }
        let (mut parameters, mut inputs) = (d.parameters.clone(), d.inputs.clone());
        let secrets =
            crate::sealed::take_out(self.sealer.as_deref(), &d.id, &d.secret_inputs, &mut parameters, &mut inputs)?;
        Ok(InputColumns {
            parameters: Some(to_json(&parameters)),
            inputs: Some(to_json(&inputs)),
            secrets: Some(secrets),
            outputs,
        })
    }

    /// A deployment row, its sealed secrets put back where they open.
    fn decode(&self, r: &AnyRow) -> Result<DeploymentRecord> {
        let mut d = decode(r)?;
        let column: Option<String> = r.try_get("secrets")?;
        let opened =
            crate::sealed::put_back(self.sealer.as_deref(), &d.id, column.as_deref(), &mut d.parameters, &mut d.inputs);
        if let Some(why) = &opened.unreadable {
            tracing::warn!(deployment = %d.id, "{why}");
        }
        (d.secret_inputs, d.secrets_unreadable) = (opened.names, opened.unreadable);
        let outputs = crate::sealed::open_outputs(self.sealer.as_deref(), &d.id, &r.try_get::<String, _>("outputs")?)?;
        if let Some(why) = &outputs.unreadable {
            tracing::warn!(deployment = %d.id, "{why}");
        }
        (d.outputs, d.outputs_unreadable) = (outputs.outputs, outputs.unreadable);
        Ok(d)
    }

    /// Every row that decodes; one that does not is reported and skipped,
    /// so that it cannot take a listing or a worker's batch down with it.
    fn decode_each(&self, rows: &[AnyRow]) -> Vec<DeploymentRecord> {
        let decoded = rows.iter().map(|r| {
            self.decode(r).map_err(|e| {
                let id = r.try_get::<String, _>("id").unwrap_or_default();
                tracing::error!(deployment = %id, error = %e, "a stored deployment cannot be read; skipped");
            })
        });
        decoded.filter_map(std::result::Result::ok).collect()
    }
}

/// `message` with `d`'s secret values hidden.
fn scrub(d: &DeploymentRecord, message: Option<&str>) -> Option<String> {
    message.map(|m| nuvola_types::redact_secrets(m, d.secret_values()))
}

/// What a step writes besides the row, with `d`'s secret values hidden:
/// a provider's error or a console may echo a password.
fn scrubbed(d: &DeploymentRecord, progress: &Progress) -> Progress {
    let secrets = d.secret_values();
    if secrets.is_empty() {
        return progress.clone();
    }
    let hide = |m: &str| nuvola_types::redact_secrets(m, secrets.iter().copied());
    let mut out = progress.clone();
    out.log.iter_mut().for_each(|line| *line = hide(line));
    for a in &mut out.attempts {
        a.reason = a.reason.as_deref().map(hide);
    }
    out
}

fn decode(r: &AnyRow) -> Result<DeploymentRecord> {
    let json = |col: &'static str| -> Result<String> { Ok(r.try_get::<String, _>(col)?) };
    let status: String = r.try_get("status")?;
    let workflow: Option<String> = r.try_get("workflow")?;
    let keep: i64 = r.try_get("keep_last_attempt")?;
    Ok(DeploymentRecord {
        id: r.try_get("id")?,
        owner_subject: r.try_get("owner_subject")?,
        owner_issuer: r.try_get("owner_issuer")?,
        owner_email: r.try_get("owner_email")?,
        user_group: r.try_get("user_group")?,
        catalogue_id: r.try_get("catalogue_id")?,
        description: r.try_get("description")?,
        status: parse_status(&status)?,
        status_reason: r.try_get("status_reason")?,
        task: parse_word("deployments.task", &r.try_get::<String, _>("task")?)?,
        template: r.try_get("template")?,
        parameters: from_json("deployments.parameters", &json("parameters")?)?,
        inputs: from_json("deployments.inputs", &json("inputs")?)?,
        secret_inputs: BTreeSet::new(),
        secrets_unreadable: None,
        requirements: from_json("deployments.requirements", &json("requirements")?)?,
        plan: from_json("deployments.plan", &json("plan")?)?,
        outputs: serde_json::Map::new(),
        outputs_unreadable: None,
        held: from_json("deployments.held", &json("held")?)?,
        callback: r.try_get("callback")?,
        timeout_mins: r.try_get("timeout_mins")?,
        provider_timeout_mins: r.try_get("provider_timeout_mins")?,
        max_providers_retry: r.try_get("max_providers_retry")?,
        keep_last_attempt: keep != 0,
        provider: r.try_get("provider")?,
        endpoint: r.try_get("endpoint")?,
        physical_id: r.try_get("physical_id")?,
        workflow: workflow.map(|w| from_json("deployments.workflow", &w)).transpose()?,
        next_run_at: r.try_get("next_run_at")?,
        deadline_at: r.try_get("deadline_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        revision: r.try_get("revision")?,
    })
}

/// What each deployment of `group` holds, per provider.
async fn held_by_group<'e, E>(executor: E, group: &str) -> Result<Vec<(String, Usage)>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        // The status is written out so that the planner can use the
        // partial index `deployments_holding`.
        "SELECT provider, held FROM deployments
         WHERE user_group = $1 AND provider IS NOT NULL AND status <> 'DELETE_COMPLETE'",
    )
    .bind(group)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| {
            let held: String = r.try_get("held")?;
            Ok((r.try_get("provider")?, from_json("deployments.held", &held)?))
        })
        .collect()
}

/// A lock on one group's placement, held across replicas sharing a
/// PostgreSQL database (a transaction-scoped advisory lock); on SQLite, whose
/// file has one server, the app's in-process lock is enough and the lock
/// takes nothing. What must happen under the lock (reading what the group
/// holds, storing the deployment that holds more) goes through its
/// methods: on PostgreSQL they run in the lock's transaction, so a
/// submission uses one database connection, never two at once. Released,
/// with what was written under it, by [`GroupLock::release`]; dropped, it
/// rolls back.
pub struct GroupLock {
    store: Store,
    tx: Option<sqlx::Transaction<'static, sqlx::Any>>,
}

impl GroupLock {
    /// What each deployment of `group` holds, per provider.
    pub async fn held_by_group(&mut self, group: &str) -> Result<Vec<(String, Usage)>> {
        match &mut self.tx {
            Some(tx) => held_by_group(&mut **tx, group).await,
            None => self.store.held_by_group(group).await,
        }
    }

    /// [`Store::insert_deployment`] under the lock.
    pub async fn insert_deployment(&mut self, d: &NewDeployment, progress: &Progress) -> Result<()> {
        match &mut self.tx {
            Some(tx) => self.store.insert_on(tx, d, progress).await,
            None => self.store.insert_deployment(d, progress).await,
        }
    }

    /// [`Store::save_deployment`] of a change a user asked for (no lease)
    /// under the lock; false when the row changed since it was read.
    pub async fn save_deployment(&mut self, d: &DeploymentRecord, progress: &Progress) -> Result<bool> {
        match &mut self.tx {
            Some(tx) => self.store.save_on(tx, d, None, None, progress).await,
            None => self.store.save_deployment(d, None, progress).await,
        }
    }

    /// Releases the lock, committing what was written under it.
    pub async fn release(self) -> Result<()> {
        if let Some(tx) = self.tx {
            tx.commit().await?;
        }
        Ok(())
    }
}

impl Store {
    /// Takes the lock that serialises placement for `group` across every
    /// server sharing this database, waiting for it if another holds it.
    pub async fn lock_group(&self, group: &str) -> Result<GroupLock> {
        if self.backend != Backend::Postgres {
            return Ok(GroupLock { store: self.clone(), tx: None });
        }
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("nuvola-group:{group}").as_bytes());
        let key = i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        let mut tx = self.writer.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut *tx).await?;
        Ok(GroupLock { store: self.clone(), tx: Some(tx) })
    }
}
