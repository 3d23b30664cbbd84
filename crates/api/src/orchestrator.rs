//! The INDIGO PaaS Orchestrator REST API, so that today's clients (the
//! INFN Cloud dashboard, orchent, scripts) work unchanged. The wire
//! formats are [`nuvola_indigo`]'s; this module routes and answers with
//! the orchestrator's status codes: `201` with the deployment on create,
//! `202` and no body on update, `204` and no body on delete and reset.
//!
//! Paths take a trailing slash too (`POST /deployments/`), as Spring's
//! trailing-slash matching does.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use nuvola_app::{CreateDeployment, Undeclared, UpdateDeployment};
use nuvola_indigo::DeploymentRequest;
use nuvola_types::{DeploymentStatus, Error};
use serde_json::{Value, json};
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::extract::{Body, Caller};
use crate::listing::Params;
use crate::views::page;
use crate::{ApiError, ApiState};

/// The orchestrator's routes, to be nested under `/orchestrator`.
pub fn service(state: ApiState) -> axum::routing::Router {
    let routes = Router::new()
        .route("/", get(root))
        .route("/configuration", get(configuration))
        .route("/info", get(info))
        .route("/deployments", get(list).post(create))
        .route("/deployments/{id}", get(show).put(update).delete(delete).patch(reset))
        .route("/deployments/{id}/template", get(template))
        .route("/deployments/{id}/log", get(log))
        .route("/deployments/{id}/extrainfo", get(extra_info))
        .route("/deployments/{id}/resources", get(resources))
        .route("/deployments/{id}/resources/filter", get(filtered_resources))
        .route("/deployments/{id}/resources/{resource}", get(resource))
        .route("/deployments/{id}/resources/{resource}/actions", post(action))
        .fallback(crate::not_found)
        .with_state(state);
    Router::new().fallback_service(NormalizePathLayer::trim_trailing_slash().layer(routes))
}

/// `GET /`: the server's name, as the orchestrator answers its display name.
async fn root() -> &'static str {
    "nuvola (INDIGO PaaS Orchestrator API)"
}

/// `GET /info`: what orchent's `showinfo` prints.
async fn info(State(state): State<ApiState>) -> Json<Value> {
    let host = state.public_url.split_once("://").map_or(state.public_url.as_str(), |(_, rest)| rest);
    let host = host.split(['/', ':']).next().unwrap_or_default();
    Json(json!({"projectVersion": env!("CARGO_PKG_VERSION"), "serverHostname": host}))
}

/// `GET /configuration`: where the services the orchestrator would call
/// are. nuvola is all of them, so each points at its own part of nuvola.
async fn configuration(State(state): State<ApiState>) -> Json<Value> {
    let base = &state.public_url;
    Json(json!({
        "cpr_url": format!("{base}/api/v1/plan"),
        "slam_url": format!("{base}/api/v1/providers"),
        "cmdb_url": format!("{base}/api/v1/providers"),
        "im_url": format!("{base}/orchestrator"),
        "monitoring_url": format!("{base}/healthz"),
    }))
}

async fn create(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(body): Body<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let body = read(body)?;
    let request = CreateDeployment {
        template: body.template.ok_or_else(|| Error::invalid("template: a TOSCA template must be provided"))?,
        parameters: body.parameters,
        callback: body.callback,
        timeout_mins: body.timeout_mins,
        provider_timeout_mins: body.provider_timeout_mins,
        max_providers_retry: body.max_providers_retry,
        keep_last_attempt: body.keep_last_attempt.unwrap_or(false),
        user_group: body.user_group,
        undeclared: Undeclared::Ignore,
        ..Default::default()
    };
    let d = state.app.create_deployment(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(nuvola_indigo::deployment(&d, &state.public_url))))
}

/// A request body read as the orchestrator's Jackson reads it; the fields
/// it does not know are ignored, as it ignores them.
fn read(body: Value) -> Result<DeploymentRequest, Error> {
    let request = DeploymentRequest::from_json(body)?;
    if !request.ignored.is_empty() {
        tracing::debug!(fields = ?request.ignored, "unknown request fields ignored");
    }
    Ok(request)
}

async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = Params(params);
    let query = params.list_query()?;
    let (items, total) = state.app.list_deployments(&caller, &query).await?;
    let content = items.iter().map(|d| nuvola_indigo::deployment(d, &state.public_url)).collect();
    let base = format!("{}/orchestrator/deployments", state.public_url);
    Ok(Json(page(content, query.page, query.size, total, params.page_href(base, query.size))))
}

async fn show(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = state.app.deployment(&caller, &id).await?;
    Ok(Json(nuvola_indigo::deployment(&d, &state.public_url)))
}

async fn update(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body<Value>,
) -> Result<StatusCode, ApiError> {
    let body = read(body)?;
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
        undeclared: Undeclared::Ignore,
    };
    state.app.update_deployment(&caller, &id, request).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn delete(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_deployment(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /deployments/{id}` with `{"status": ...}`: `204`, no body.
async fn reset(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body<Value>,
) -> Result<StatusCode, ApiError> {
    let status = match body.get("status") {
        Some(Value::String(s)) => {
            DeploymentStatus::parse(s).ok_or_else(|| Error::invalid(format!("status: unknown status {s:?}")))?
        }
        Some(other) => return Err(Error::invalid(format!("status must be a status name, not {other}")).into()),
        None => return Err(Error::invalid("status: give the status to reset the deployment to").into()),
    };
    state.app.reset_deployment(&caller, &id, status).await?;
    Ok(StatusCode::NO_CONTENT)
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
        .map(|a| {
            let mut v = json!({"attempt": a.number, "provider": a.provider, "state": a.state});
            if let Some(reason) = &a.reason {
                v["reason"] = json!(reason);
            }
            v
        })
        .collect();
    Ok(Json(json!({"attempts": attempts, "plan": details.deployment.plan})))
}

/// `GET /deployments/{id}/resources[?type=T]`: a page of its resources,
/// of one TOSCA type when `type` is given.
async fn resources(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = Params(params);
    let (d, all) = state.app.orchestrator_resources(&caller, &id).await?;
    let of_type = params.last("type").filter(|t| !t.is_empty());
    let matching: Vec<_> = all.iter().filter(|r| of_type.is_none_or(|t| r.type_name == t)).collect();
    let query = params.list_query()?;
    let (number, size) = (query.page.max(0), query.size.clamp(1, 1000));
    let base = format!("{}/orchestrator/deployments/{id}", state.public_url);
    let content =
        matching.iter().skip((number * size) as usize).take(size as usize).map(|r| r.to_json(&d, &base)).collect();
    let href = params.page_href(format!("{base}/resources"), size);
    Ok(Json(page(content, number, size, matching.len() as i64, href)))
}

/// `GET /deployments/{id}/resources/filter?type=T`: every resource of one
/// TOSCA type, as a plain list.
async fn filtered_resources(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let of_type = params.iter().rev().find(|(k, _)| k == "type").map(|(_, v)| v.clone()).unwrap_or_default();
    if of_type.is_empty() {
        return Err(Error::invalid("Required String parameter 'type' cannot be empty").into());
    }
    let (d, all) = state.app.orchestrator_resources(&caller, &id).await?;
    let base = format!("{}/orchestrator/deployments/{id}", state.public_url);
    Ok(Json(all.iter().filter(|r| r.type_name == of_type).map(|r| r.to_json(&d, &base)).collect()))
}

/// `GET /deployments/{id}/resources/{resource}`: one resource.
async fn resource(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path((id, resource)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (d, all) = state.app.orchestrator_resources(&caller, &id).await?;
    let r = all
        .iter()
        .find(|r| r.uuid == resource)
        .ok_or_else(|| Error::not_found(format!("deployment {id} holds no resource {resource:?}")))?;
    let base = format!("{}/orchestrator/deployments/{id}", state.public_url);
    Ok(Json(r.to_json(&d, &base)))
}

/// `POST /deployments/{id}/resources/{resource}/actions`: starting and
/// stopping single VMs is not something nuvola's drivers do; the request is
/// refused with what to do instead, after the usual checks.
async fn action(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path((id, resource)): Path<(String, String)>,
    Body(body): Body<Value>,
) -> Result<StatusCode, ApiError> {
    let (_, all) = state.app.orchestrator_resources(&caller, &id).await?;
    if !all.iter().any(|r| r.uuid == resource) {
        return Err(Error::not_found(format!("deployment {id} holds no resource {resource:?}")).into());
    }
    let kind = body.get("type").and_then(Value::as_str).unwrap_or_default();
    Err(Error::invalid(format!(
        "action {kind:?} on resource {resource}: nuvola does not start or stop single VMs; update the deployment \
         (its count) or delete it"
    ))
    .into())
}
