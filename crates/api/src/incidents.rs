//! The status page as operators run it from a script or the CLI
//! (`/api/v1/status`): incidents opened and updated, with the components
//! they affect, and each component's state with the operator's override.
//! Reading is for anyone signed in (the page itself is public); opening,
//! updating and overriding are for administrators, and go through the same
//! use cases as the operator's page `/admin/status`, so subscribers are told
//! alike, and every change is audited.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use nuvola_app::{IncidentDraft, ShownComponent, UpdateDraft};
use nuvola_types::status::Incident;
use nuvola_types::{ComponentState, Error, Impact, IncidentStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::extract::{Body, Caller};
use crate::views::rfc3339;
use crate::{ApiError, ApiState};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/status/incidents", get(list).post(open))
        .route("/status/incidents/{id}", get(show))
        .route("/status/incidents/{id}/updates", post(update))
        .route("/status/components", get(components))
        // A component's id has a `/` in it (`clouds/recas-bari`).
        .route("/status/overrides/{*component}", put(set_override).delete(clear_override))
}

/// The most incidents one page lists.
const MOST_PER_PAGE: i64 = 200;

/// `POST /api/v1/status/incidents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenIncident {
    pub title: String,
    /// `none`, `minor` (the default), `major` or `critical`.
    #[serde(default)]
    pub impact: Impact,
    /// `investigating` (the default), `identified`, `monitoring` or
    /// `resolved`.
    #[serde(default)]
    pub status: IncidentStatus,
    /// The first update's text.
    pub message: String,
    /// The affected components, each with the state it is in.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentState>,
}

/// `POST /api/v1/status/incidents/{id}/updates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostUpdate {
    pub status: IncidentStatus,
    pub message: String,
    /// The affected components from now on; unchanged when left out.
    pub components: Option<BTreeMap<String, ComponentState>>,
    /// The impact from now on; unchanged when left out.
    pub impact: Option<Impact>,
}

/// `PUT /api/v1/status/overrides/{component}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetOverride {
    pub state: ComponentState,
    /// Shown beside the state on the page.
    #[serde(default)]
    pub note: String,
}

/// Query of `GET /api/v1/status/incidents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// At most this many (1 to 200; 25 by default).
    limit: Option<i64>,
    /// The `next` of the page before.
    before: Option<String>,
}

/// An incident on the wire, with a link to its public page.
fn incident_view(i: &Incident, base: &str) -> Value {
    json!({
        "id": i.id,
        "title": i.title,
        "impact": i.impact,
        "status": i.status,
        "createdBy": i.created_by,
        "createdAt": rfc3339(i.created_at),
        "updatedAt": rfc3339(i.updated_at),
        "resolvedAt": i.resolved_at.map(rfc3339),
        "components": i.components.iter().map(|c| json!({"id": c.component, "state": c.state})).collect::<Vec<_>>(),
        "updates": i.updates.iter().map(|u| json!({
            "status": u.status, "message": u.body, "by": u.by, "at": rfc3339(u.at),
        })).collect::<Vec<_>>(),
        "url": format!("{base}/status/incidents/{}", i.id),
    })
}

fn component_view(c: &ShownComponent) -> Value {
    json!({
        "id": c.component.id,
        "name": c.component.name,
        "group": c.component.group.label(),
        "state": c.shown,
        "probesSay": c.derived,
        "since": rfc3339(c.since),
        "reason": c.reason,
        "override": c.overridden.as_ref().map(|o| json!({
            "state": o.state, "note": o.note, "setBy": o.set_by, "setAt": rfc3339(o.set_at),
        })),
    })
}

/// `"<ms>:<id>"`, the cursor `next` gives.
fn cursor(text: &str) -> Result<(i64, String), Error> {
    text.split_once(':')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_string())))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| Error::invalid(format!("before={text:?}: give the `next` of the page before")))
}

async fn list(
    State(state): State<ApiState>,
    Caller(_): Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| Error::invalid(e.body_text()))?;
    let limit = q.limit.unwrap_or(25);
    if !(1..=MOST_PER_PAGE).contains(&limit) {
        return Err(Error::invalid(format!("limit={limit}: list 1 to {MOST_PER_PAGE} incidents a page")).into());
    }
    let before = q.before.as_deref().map(cursor).transpose()?;
    let page = state.app.status_incidents(before, limit).await?;
    Ok(Json(json!({
        "content": page.incidents.iter().map(|i| incident_view(i, &state.public_url)).collect::<Vec<_>>(),
        "total": page.total,
        "next": page.next.map(|(at, id)| format!("{at}:{id}")),
    })))
}

async fn show(
    State(state): State<ApiState>,
    Caller(_): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(incident_view(&state.app.status_incident(&id).await?, &state.public_url)))
}

async fn open(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(body): Body<OpenIncident>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let draft = IncidentDraft {
        title: body.title,
        impact: body.impact,
        status: body.status,
        body: body.message,
        components: body.components.into_iter().collect(),
    };
    let incident = state.app.open_incident(&caller, &draft).await?;
    Ok((StatusCode::CREATED, Json(incident_view(&incident, &state.public_url))))
}

async fn update(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body<PostUpdate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let draft = UpdateDraft {
        status: body.status,
        body: body.message,
        components: body.components.map(|c| c.into_iter().collect()),
        impact: body.impact,
    };
    let incident = state.app.update_incident(&caller, &id, &draft).await?;
    Ok((StatusCode::CREATED, Json(incident_view(&incident, &state.public_url))))
}

async fn components(State(state): State<ApiState>, Caller(_): Caller) -> Result<Json<Value>, ApiError> {
    let page = state.app.status_page().await?;
    Ok(Json(json!({
        "content": page.components.iter().map(component_view).collect::<Vec<_>>(),
        "checkedAt": (page.probed_at > 0).then(|| rfc3339(page.probed_at)),
    })))
}

/// The component as the page shows it after a change.
async fn shown(state: &ApiState, component: &str) -> Result<Json<Value>, ApiError> {
    let page = state.app.status_page().await?;
    let c = page.components.iter().find(|c| c.component.id == component);
    Ok(Json(c.map(component_view).unwrap_or_else(|| json!({"id": component}))))
}

async fn set_override(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(component): Path<String>,
    Body(body): Body<SetOverride>,
) -> Result<Json<Value>, ApiError> {
    state.app.override_component(&caller, &component, Some(body.state), &body.note).await?;
    shown(&state, &component).await
}

async fn clear_override(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(component): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !state.app.override_component(&caller, &component, None, "").await? {
        return Err(Error::not_found(format!("component {component:?} has no override to clear")).into());
    }
    shown(&state, &component).await
}
