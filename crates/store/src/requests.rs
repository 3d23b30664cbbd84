//! Registration and access requests: a user asks to join a group or to use
//! a catalogue service, with a reason; a manager or administrator approves
//! or rejects it with a comment. Requests and decisions are kept.

use nuvola_types::{AccessRequest, RequestKind, RequestStatus, Spelled};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, parse_word};

/// Which requests to list: a requester's own, and/or those about some
/// groups (for their managers); `all` for administrators.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub all: bool,
    pub requester: Option<(String, String)>,
    pub groups: Vec<String>,
    pub status: Option<RequestStatus>,
}

const COLUMNS: &str =
    "id, subject, issuer, email, kind, target, reason, status, decided_by, comment, created_at, decided_at";

impl Store {
    /// Stores a new request.
    pub async fn insert_request(&self, r: &AccessRequest) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO access_requests ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&r.id)
        .bind(&r.subject)
        .bind(&r.issuer)
        .bind(&r.email)
        .bind(r.kind.as_str())
        .bind(&r.target)
        .bind(&r.reason)
        .bind(r.status.as_str())
        .bind(&r.decided_by)
        .bind(&r.comment)
        .bind(r.created_at)
        .bind(r.decided_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Whether `(subject, issuer)` has an approved request of `kind` for `target`.
    pub async fn approved_request(&self, subject: &str, issuer: &str, kind: RequestKind, target: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS yes FROM access_requests
             WHERE subject = $1 AND issuer = $2 AND kind = $3 AND target = $4 AND status = 'approved' LIMIT 1",
        )
        .bind(subject)
        .bind(issuer)
        .bind(kind.as_str())
        .bind(target)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// One request by id.
    pub async fn request(&self, id: &str) -> Result<Option<AccessRequest>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM access_requests WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// Requests matching `filter`, newest first.
    pub async fn requests(&self, filter: &RequestFilter) -> Result<Vec<AccessRequest>> {
        let mut conditions = Vec::new();
        let mut n = 1;
        if !filter.all {
            let mut who = Vec::new();
            if filter.requester.is_some() {
                who.push(format!("(subject = ${n} AND issuer = ${})", n + 1));
                n += 2;
            }
            if !filter.groups.is_empty() {
                let list: Vec<String> = (0..filter.groups.len()).map(|i| format!("${}", n + i)).collect();
                who.push(format!("(kind = 'group' AND target IN ({}))", list.join(", ")));
                n += filter.groups.len();
            }
            if who.is_empty() {
                return Ok(Vec::new());
            }
            conditions.push(format!("({})", who.join(" OR ")));
        }
        if filter.status.is_some() {
            conditions.push(format!("status = ${n}"));
        }
        let where_clause =
            if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
        let sql = format!("SELECT {COLUMNS} FROM access_requests{where_clause} ORDER BY created_at DESC, id");
        let mut query = sqlx::query(&sql);
        if !filter.all {
            if let Some((subject, issuer)) = &filter.requester {
                query = query.bind(subject.clone()).bind(issuer.clone());
            }
            for g in &filter.groups {
                query = query.bind(g.clone());
            }
        }
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }

    /// Records a decision on a pending request; false when it was no
    /// longer pending (someone decided first).
    pub async fn decide_request(
        &self,
        id: &str,
        status: RequestStatus,
        by: &str,
        comment: &str,
        at: i64,
    ) -> Result<bool> {
        let changed = sqlx::query(
            "UPDATE access_requests SET status = $2, decided_by = $3, comment = $4, decided_at = $5
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(by)
        .bind(comment)
        .bind(at)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }
}

fn decode(r: &AnyRow) -> Result<AccessRequest> {
    Ok(AccessRequest {
        id: r.try_get("id")?,
        subject: r.try_get("subject")?,
        issuer: r.try_get("issuer")?,
        email: r.try_get("email")?,
        kind: parse_word("access_requests.kind", &r.try_get::<String, _>("kind")?)?,
        target: r.try_get("target")?,
        reason: r.try_get("reason")?,
        status: parse_word("access_requests.status", &r.try_get::<String, _>("status")?)?,
        decided_by: r.try_get("decided_by")?,
        comment: r.try_get("comment")?,
        created_at: r.try_get("created_at")?,
        decided_at: r.try_get("decided_at")?,
    })
}
