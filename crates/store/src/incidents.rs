//! Incidents on the status page, with their timestamped updates and the
//! components they affect.
//!
//! Listings page on (created_at, id) with a cursor, newest first, from an
//! index (a partial one for the open incidents alone), and read the
//! updates and components of a page's incidents in one query each, so
//! the page costs the same with ten thousand past incidents as with ten.

use std::collections::HashMap;

use nuvola_types::status::{AffectedComponent, Incident, IncidentUpdate};
use nuvola_types::{ComponentState, Impact, IncidentStatus, Spelled};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, parse_word};

/// An incident as it is opened, with its first update.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub id: String,
    pub title: String,
    pub impact: Impact,
    pub status: IncidentStatus,
    /// The first update's text.
    pub body: String,
    /// Who opens it.
    pub by: String,
    pub at: i64,
    pub components: Vec<(String, ComponentState)>,
}

/// An update as it is posted to an incident.
#[derive(Debug, Clone, Copy)]
pub struct IncidentPost<'a> {
    pub status: IncidentStatus,
    pub body: &'a str,
    /// Who posts it.
    pub by: &'a str,
    pub at: i64,
    /// The affected components from now on, when they change.
    pub components: Option<&'a [(String, ComponentState)]>,
    /// The incident's impact from now on, when it changes.
    pub impact: Option<Impact>,
}

/// Which incidents to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only those not resolved.
    pub unresolved_only: bool,
    /// Only those opened at or after this time (ms).
    pub since: Option<i64>,
    /// Only those after this one in the listing: its (created_at, id), the
    /// last of the page before.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// A page's worth of ids to look up with `IN (...)`, below every
/// backend's limit on bound parameters.
const IDS_PER_QUERY: usize = 500;

impl Store {
    /// Opens an incident with its first update and affected components,
    /// in one transaction; an id already taken is a database error.
    pub async fn create_incident(&self, new: &NewIncident) -> Result<Incident> {
        let mut tx = self.writer.begin().await?;
        let resolved_at = (new.status == IncidentStatus::Resolved).then_some(new.at);
        sqlx::query(
            "INSERT INTO incidents (id, title, impact, status, created_by, created_at, updated_at, resolved_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(&new.id)
        .bind(&new.title)
        .bind(new.impact.as_str())
        .bind(new.status.as_str())
        .bind(&new.by)
        .bind(new.at)
        .bind(resolved_at)
        .execute(&mut *tx)
        .await?;
        add_update(&mut tx, &new.id, new.at, new.status, &new.body, &new.by).await?;
        set_components(&mut tx, &new.id, &new.components).await?;
        tx.commit().await?;
        self.incident(&new.id).await?.ok_or_else(|| not_found(&new.id))
    }

    /// Posts an update: the incident takes its status and time, is
    /// resolved (or reopened) with it, and, with `components` or `impact`,
    /// affects those components or has that impact instead. An unknown id
    /// is [`StoreError::NotFound`]; resolving an incident that is resolved
    /// already is [`StoreError::Refused`] (its subscribers would be told
    /// twice), and changes nothing.
    pub async fn update_incident(&self, id: &str, update: &IncidentPost<'_>) -> Result<Incident> {
        let mut tx = self.writer.begin().await?;
        let resolved = update.status == IncidentStatus::Resolved;
        let done = sqlx::query(
            "UPDATE incidents SET status = $2, updated_at = $3,
                resolved_at = CASE WHEN $4 = 1 THEN COALESCE(resolved_at, $3) ELSE NULL END,
                impact = COALESCE($5, impact)
             WHERE id = $1 AND NOT ($4 = 1 AND resolved_at IS NOT NULL)",
        )
        .bind(id)
        .bind(update.status.as_str())
        .bind(update.at)
        .bind(i64::from(resolved))
        .bind(update.impact.map(|i| i.as_str()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists =
                sqlx::query("SELECT id FROM incidents WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
            return Err(match exists {
                Some(_) => StoreError::Refused { what: "incident", key: id.into(), why: "is resolved already".into() },
                None => not_found(id),
            });
        }
        add_update(&mut tx, id, update.at, update.status, update.body, update.by).await?;
        if let Some(components) = update.components {
            sqlx::query("DELETE FROM incident_components WHERE incident_id = $1").bind(id).execute(&mut *tx).await?;
            set_components(&mut tx, id, components).await?;
        }
        tx.commit().await?;
        self.incident(id).await?.ok_or_else(|| not_found(id))
    }

    /// The incident with this id, with its updates and components.
    pub async fn incident(&self, id: &str) -> Result<Option<Incident>> {
        let row = sqlx::query(
            "SELECT id, title, impact, status, created_by, created_at, updated_at, resolved_at
             FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut incidents = vec![decode(&row)?];
        self.fill(&mut incidents).await?;
        Ok(incidents.pop())
    }

    /// The incidents `filter` lets through, newest first (by creation,
    /// then id), each with its updates and components.
    pub async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        let (clause, binds) = where_clause(filter);
        let sql = format!(
            "SELECT id, title, impact, status, created_by, created_at, updated_at, resolved_at FROM incidents
             WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT ${}",
            binds.len() + 1
        );
        let rows = bind(sqlx::query(&sql), binds).bind(filter.limit).fetch_all(&self.pool).await?;
        let mut incidents = rows.iter().map(decode).collect::<Result<Vec<_>>>()?;
        self.fill(&mut incidents).await?;
        Ok(incidents)
    }

    /// How many incidents `filter` lets through, its cursor and limit aside.
    pub async fn count_incidents(&self, filter: &IncidentFilter) -> Result<i64> {
        let counted = IncidentFilter { before: None, ..filter.clone() };
        let (clause, binds) = where_clause(&counted);
        let sql = format!("SELECT COUNT(*) AS n FROM incidents WHERE {clause}");
        let row = bind(sqlx::query(&sql), binds).fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// Reads the updates (newest first) and components of `incidents`,
    /// one query each per batch of ids.
    async fn fill(&self, incidents: &mut [Incident]) -> Result<()> {
        let at: HashMap<String, usize> = incidents.iter().enumerate().map(|(i, x)| (x.id.clone(), i)).collect();
        let ids: Vec<String> = incidents.iter().map(|i| i.id.clone()).collect();
        for batch in ids.chunks(IDS_PER_QUERY) {
            let list = (1..=batch.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT seq, incident_id, at, status, body, author FROM incident_updates
                 WHERE incident_id IN ({list}) ORDER BY seq DESC"
            );
            let rows = batch.iter().fold(sqlx::query(&sql), |q, id| q.bind(id)).fetch_all(&self.pool).await?;
            for r in &rows {
                let incident: String = r.try_get("incident_id")?;
                let update = IncidentUpdate {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    status: parse_word("incident_updates.status", &r.try_get::<String, _>("status")?)?,
                    body: r.try_get("body")?,
                    by: r.try_get("author")?,
                };
                incidents[at[&incident]].updates.push(update);
            }
            let sql = format!(
                "SELECT incident_id, component, state FROM incident_components
                 WHERE incident_id IN ({list}) ORDER BY component"
            );
            let rows = batch.iter().fold(sqlx::query(&sql), |q, id| q.bind(id)).fetch_all(&self.pool).await?;
            for r in &rows {
                let incident: String = r.try_get("incident_id")?;
                let affected = AffectedComponent {
                    component: r.try_get("component")?,
                    state: parse_word("incident_components.state", &r.try_get::<String, _>("state")?)?,
                };
                incidents[at[&incident]].components.push(affected);
            }
        }
        Ok(())
    }
}

async fn add_update(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    at: i64,
    status: IncidentStatus,
    body: &str,
    by: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO incident_updates (incident_id, at, status, body, author) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(at)
        .bind(status.as_str())
        .bind(body)
        .bind(by)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn set_components(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    components: &[(String, ComponentState)],
) -> Result<()> {
    for (component, state) in components {
        sqlx::query(
            "INSERT INTO incident_components (incident_id, component, state) VALUES ($1, $2, $3)
             ON CONFLICT (incident_id, component) DO UPDATE SET state = excluded.state",
        )
        .bind(id)
        .bind(component)
        .bind(state.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A bound value of the listing's conditions.
enum Bind {
    Int(i64),
    Text(String),
}

/// The listing's conditions and their values, numbered from `$1`.
fn where_clause(filter: &IncidentFilter) -> (String, Vec<Bind>) {
    let mut conditions = vec!["1 = 1".to_string()];
    let mut binds = Vec::new();
    if filter.unresolved_only {
        conditions.push("resolved_at IS NULL".into());
    }
    if let Some(since) = filter.since {
        binds.push(Bind::Int(since));
        conditions.push(format!("created_at >= ${}", binds.len()));
    }
    if let Some((created_at, id)) = &filter.before {
        binds.push(Bind::Int(*created_at));
        binds.push(Bind::Text(id.clone()));
        let (at, id) = (binds.len() - 1, binds.len());
        conditions.push(format!("(created_at, id) < (${at}, ${id})"));
    }
    (conditions.join(" AND "), binds)
}

fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    binds.into_iter().fold(query, |q, b| match b {
        Bind::Int(v) => q.bind(v),
        Bind::Text(v) => q.bind(v),
    })
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound { what: "incident", key: id.into() }
}

fn decode(r: &AnyRow) -> Result<Incident> {
    Ok(Incident {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        impact: parse_word("incidents.impact", &r.try_get::<String, _>("impact")?)?,
        status: parse_word("incidents.status", &r.try_get::<String, _>("status")?)?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        resolved_at: r.try_get("resolved_at")?,
        updates: Vec::new(),
        components: Vec::new(),
    })
}
