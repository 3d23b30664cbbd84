//! `POST /api/v1/accounting/messages`: a site's usage records, the message
//! exactly as cASO writes it and SSM sends it (APEL cloud records, JSON
//! accelerator or public IP records, StAR XML), from a configured
//! publisher (its token) or a platform administrator. The answer says what
//! was stored, per kind of record: `new`, `replaced`, `unchanged`.
//!
//! `POST /api/v1/accounting/export`: sends the summaries of the current and
//! the previous month to the broker's export destination now
//! (administrators), as the export job does every interval.
//!
//! `GET /api/v1/accounting/usage` and `GET /api/v1/accounting/daily`: the
//! usage the caller may see, per month over a range or per day of one
//! month, by provider, group, user or month, of some providers, groups or
//! users (`group=a&group=b` or `group=a,b`) (see
//! `nuvola_usage::views`).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use nuvola_usage::{Exported, LoadReport, UsageReport, UsageRequest};

use crate::extract::{Caller, bearer_token};
use crate::{ApiError, ApiState};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/accounting/messages", post(ingest))
        .route("/accounting/usage", get(usage))
        .route("/accounting/daily", get(daily))
        .route("/accounting/export", post(export))
}

async fn ingest(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Result<Json<LoadReport>, ApiError> {
    let sender = state.app.accounting_sender(bearer_token(&headers)?).await?;
    Ok(Json(state.app.accounting().ingest(&sender, &body).await?))
}

async fn export(State(state): State<ApiState>, Caller(caller): Caller) -> Result<Json<Exported>, ApiError> {
    Ok(Json(state.app.export_accounting_now(&caller).await?))
}

async fn usage(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<UsageReport>, ApiError> {
    Ok(Json(state.app.accounting().usage(&caller, &request(query)).await?))
}

async fn daily(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<UsageReport>, ApiError> {
    Ok(Json(state.app.accounting().daily(&caller, &request(query)).await?))
}

/// The view a query string asks for: `provider`, `group` and `user` may
/// repeat, or list several values separated by commas.
fn request(query: Option<String>) -> UsageRequest {
    UsageRequest::from_pairs(url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()))
}
