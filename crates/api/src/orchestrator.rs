//! The INDIGO PaaS Orchestrator REST API, so that today's clients (the
//! orchent CLI, the dashboard of the orchestrator, scripts) work unchanged.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use nuvola_app::{CreateDeployment, ListQuery, UpdateDeployment};
use nuvola_types::{DeploymentStatus, Error};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::extract::{Body, Caller};
use crate::views::{orchestrator_deployment, orchestrator_time, page};
use crate::{ApiError, ApiState};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/deployments", get(list).post(create))
        .route("/deployments/{id}", get(show).put(update).delete(delete).patch(reset))
        .route("/deployments/{id}/template", get(template))
        .route("/deployments/{id}/log", get(log))
        .route("/deployments/{id}/extrainfo", get(extra_info))
        .route("/deployments/{id}/resources", get(resources))
        .route("/deployments/{id}/resources/{resource}", get(resource))
}

/// `POST /deployments`: unknown fields are rejected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentRequest {
    pub template: String,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    pub callback: Option<String>,
    pub timeout_mins: Option<i64>,
    pub provider_timeout_mins: Option<i64>,
    pub max_providers_retry: Option<i64>,
    #[serde(default)]
    pub keep_last_attempt: bool,
    pub user_group: Option<String>,
}

/// `PUT /deployments/{id}`: like a create, the template may be omitted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateRequest {
    pub template: Option<String>,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    pub callback: Option<String>,
    pub timeout_mins: Option<i64>,
    pub provider_timeout_mins: Option<i64>,
    pub max_providers_retry: Option<i64>,
    pub keep_last_attempt: Option<bool>,
    pub user_group: Option<String>,
}

/// `PATCH /deployments/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub status: String,
}

async fn create(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(body): Body<DeploymentRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let request = CreateDeployment {
        template: body.template,
        parameters: body.parameters,
        callback: body.callback,
        timeout_mins: body.timeout_mins,
        provider_timeout_mins: body.provider_timeout_mins,
        max_providers_retry: body.max_providers_retry,
        keep_last_attempt: body.keep_last_attempt,
        user_group: body.user_group,
        ..Default::default()
    };
    let d = state.app.create_deployment(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(orchestrator_deployment(&d, &state.public_url))))
}

async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query = list_query(&params)?;
    let (items, total) = state.app.list_deployments(&caller, &query).await?;
    let content = items.iter().map(|d| orchestrator_deployment(d, &state.public_url)).collect();
    let base = format!("{}/orchestrator/deployments", state.public_url);
    Ok(Json(page(content, query.page, query.size, total, page_href(base, &params, query.size))))
}

/// The link to page `n` of a listing at `base`, keeping the listing's
/// filters (every query parameter but `page` and `size`).
pub(crate) fn page_href(base: String, params: &HashMap<String, String>, size: i64) -> impl Fn(i64) -> String {
    let mut keep: Vec<(String, String)> =
        params.iter().filter(|(k, _)| *k != "page" && *k != "size").map(|(k, v)| (k.clone(), v.clone())).collect();
    keep.sort();
    move |n: i64| {
        let mut q = format!("{base}?page={n}&size={size}");
        for (k, v) in &keep {
            q.push_str(&format!("&{}={}", encode(k), encode(v)));
        }
        q
    }
}

async fn show(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = state.app.deployment(&caller, &id).await?;
    Ok(Json(orchestrator_deployment(&d, &state.public_url)))
}

async fn update(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body<UpdateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let current = state.app.deployment(&caller, &id).await?;
    if let Some(group) = &body.user_group
        && group != &current.user_group
    {
        return Err(
            Error::invalid(format!("userGroup cannot change (deployment belongs to {})", current.user_group)).into()
        );
    }
    if body.keep_last_attempt.is_some_and(|k| k != current.keep_last_attempt) {
        return Err(Error::invalid("keepLastAttempt cannot change after creation").into());
    }
    let request = UpdateDeployment {
        template: body.template,
        parameters: body.parameters,
        timeout_mins: body.timeout_mins,
        provider_timeout_mins: body.provider_timeout_mins,
        max_providers_retry: body.max_providers_retry,
        callback: body.callback,
    };
    let d = state.app.update_deployment(&caller, &id, request).await?;
    Ok((StatusCode::ACCEPTED, Json(orchestrator_deployment(&d, &state.public_url))))
}

async fn delete(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_deployment(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body<ResetRequest>,
) -> Result<Json<Value>, ApiError> {
    let status = DeploymentStatus::parse(&body.status)
        .ok_or_else(|| Error::invalid(format!("unknown status {:?}", body.status)))?;
    let d = state.app.reset_deployment(&caller, &id, status).await?;
    Ok(Json(orchestrator_deployment(&d, &state.public_url)))
}

async fn template(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let d = state.app.deployment(&caller, &id).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], d.template))
}

async fn log(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let lines = state.app.deployment_log(&caller, &id).await?;
    let text: String = lines
        .iter()
        .map(|l| format!("{} {}\n", crate::views::rfc3339(l.at), l.message.replace('\n', "\n    ")))
        .collect();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

async fn extra_info(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let details = state.app.deployment_details(&caller, &id).await?;
    let attempts: Vec<Value> = details
        .attempts
        .iter()
        .map(|a| json!({"attempt": a.number, "provider": a.provider, "state": a.state, "reason": a.reason}))
        .collect();
    Ok(Json(json!({"attempts": attempts, "plan": details.deployment.plan})))
}

async fn resources(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = state.app.deployment(&caller, &id).await?;
    let held = state.app.deployment_resources(&caller, &id).await?;
    let base = format!("{}/orchestrator/deployments/{id}/resources", state.public_url);
    let content: Vec<Value> = held.iter().map(|r| resource_view(r, d.created_at, &base)).collect();
    let n = content.len() as i64;
    Ok(Json(page(content, 0, n.max(1), n, |p| format!("{base}?page={p}"))))
}

/// `GET /orchestrator/deployments/{id}/resources/{resource}`: one resource
/// (its id percent-encoded in the path, as the listing's links have it).
async fn resource(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path((id, resource)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let d = state.app.deployment(&caller, &id).await?;
    let held = state.app.deployment_resources(&caller, &id).await?;
    let r = held
        .iter()
        .find(|r| r.id == resource)
        .ok_or_else(|| Error::not_found(format!("deployment {id} holds no resource {resource:?}")))?;
    let base = format!("{}/orchestrator/deployments/{id}/resources", state.public_url);
    Ok(Json(resource_view(r, d.created_at, &base)))
}

/// A resource as the INDIGO orchestrator shows it.
fn resource_view(r: &nuvola_drivers::Resource, created_at: i64, base: &str) -> Value {
    json!({
        "uuid": r.id,
        "creationTime": orchestrator_time(created_at),
        "state": r.state,
        "toscaNodeType": tosca_type(r.kind),
        "toscaNodeName": r.node,
        "name": r.name,
        "requiredBy": [],
        "links": [{"rel": "self", "href": format!("{base}/{}", encode(&r.id))}],
    })
}

fn tosca_type(kind: nuvola_drivers::ResourceKind) -> &'static str {
    use nuvola_drivers::ResourceKind::*;
    match kind {
        Server => "tosca.nodes.indigo.Compute",
        Volume => "tosca.nodes.BlockStorage",
        Port => "tosca.nodes.network.Port",
        FloatingIp => "tosca.nodes.network.FloatingIP",
        SecurityGroup => "tosca.nodes.network.SecurityGroup",
        Network => "tosca.nodes.network.Network",
    }
}

/// Reads the listing parameters, with a clear error for each bad one.
pub(crate) fn list_query(params: &HashMap<String, String>) -> Result<ListQuery, Error> {
    let number = |key: &str, default: i64| -> Result<i64, Error> {
        params.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| Error::invalid(format!("{key} must be a whole number, not {v:?}")))
        })
    };
    let status = |key: &str| -> Result<Option<DeploymentStatus>, Error> {
        params
            .get(key)
            .map(|v| DeploymentStatus::parse(v).ok_or_else(|| Error::invalid(format!("{key}: unknown status {v:?}"))))
            .transpose()
    };
    Ok(ListQuery {
        created_by: params.get("createdBy").cloned(),
        user_group: params.get("userGroup").cloned(),
        excluded_status: status("excludedStatus")?,
        status: status("status")?,
        page: number("page", 0)?,
        size: number("size", 10)?,
    })
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
