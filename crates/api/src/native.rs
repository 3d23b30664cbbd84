//! nuvola's native API (`/api/v1`): the catalogue, the providers,
//! deployments by catalogue id, who am I, and the operators' endpoints.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use nuvola_app::CreateDeployment;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::extract::{Body, Caller};
use crate::views::{native_deployment, page};
use crate::{ApiError, ApiState};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/whoami", get(whoami))
        .route("/catalogue", get(catalogue))
        .route("/catalogue/{id}", get(catalogue_entry))
        .route("/providers", get(providers))
        .route("/deployments", get(list).post(create))
        .route("/deployments/{id}", get(show).delete(delete))
        .route("/deployments/{id}/log", get(log))
        .route("/admin/inventory", get(inventory))
        .route("/admin/sim", get(sim_settings))
        .route("/admin/sim/{provider}", put(set_sim))
}

/// `POST /api/v1/deployments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NativeDeploymentRequest {
    /// A catalogue id; or give `template`.
    pub catalogue_id: Option<String>,
    pub template: Option<String>,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    pub user_group: Option<String>,
    pub description: Option<String>,
    /// Choose the provider by hand.
    pub provider: Option<String>,
    pub timeout_mins: Option<i64>,
    pub provider_timeout_mins: Option<i64>,
    pub max_providers_retry: Option<i64>,
    #[serde(default)]
    pub keep_last_attempt: bool,
    pub callback: Option<String>,
}

async fn openapi(State(state): State<ApiState>) -> Json<Value> {
    Json(crate::openapi::document(&state.public_url))
}

async fn whoami(Caller(caller): Caller) -> Json<Value> {
    Json(json!({"subject": caller.subject, "issuer": caller.issuer, "groups": caller.groups, "admin": caller.admin}))
}

async fn catalogue(State(state): State<ApiState>, Caller(_): Caller) -> Json<Value> {
    Json(json!({ "content": state.app.catalogue().entries() }))
}

async fn catalogue_entry(
    State(state): State<ApiState>,
    Caller(_): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = state.app.catalogue().get(&id)?;
    let mut view = serde_json::to_value(entry).map_err(|e| nuvola_types::Error::internal(e.to_string()))?;
    view["template"] = Value::String(entry.template.clone());
    Ok(Json(view))
}

async fn providers(State(state): State<ApiState>, Caller(caller): Caller) -> Json<Value> {
    let list: Vec<Value> = state
        .app
        .federation()
        .providers()
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.remove("settings");
                if !caller.admin {
                    // Members see their own groups' grants only.
                    if let Some(Value::Object(groups)) = m.get_mut("groups") {
                        groups.retain(|g, _| caller.in_group(g));
                    }
                }
            }
            v
        })
        .collect();
    Json(json!({ "content": list }))
}

async fn create(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(body): Body<NativeDeploymentRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let request = CreateDeployment {
        template: body.template.clone().unwrap_or_default(),
        parameters: body.parameters,
        callback: body.callback,
        timeout_mins: body.timeout_mins,
        provider_timeout_mins: body.provider_timeout_mins,
        max_providers_retry: body.max_providers_retry,
        keep_last_attempt: body.keep_last_attempt,
        user_group: body.user_group,
        catalogue_id: None,
        description: body.description,
        provider: body.provider,
    };
    let d = match (body.catalogue_id, body.template) {
        (Some(id), None) => state.app.deploy_catalogue(&caller, &id, request).await?,
        (None, Some(_)) => state.app.create_deployment(&caller, request).await?,
        _ => return Err(nuvola_types::Error::invalid("give exactly one of catalogueId and template").into()),
    };
    let details = state.app.deployment_details(&caller, &d.id).await?;
    Ok((StatusCode::CREATED, Json(native_deployment(&details, &state.public_url))))
}

async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query = crate::orchestrator::list_query(&params)?;
    let (items, total) = state.app.list_deployments(&caller, &query).await?;
    let mut content = Vec::new();
    for d in items {
        let attempts = state.app.store().attempts(&d.id).await?;
        content.push(native_deployment(&nuvola_app::DeploymentDetails { deployment: d, attempts }, &state.public_url));
    }
    let base = format!("{}/api/v1/deployments", state.public_url);
    Ok(Json(page(content, query.page, query.size, total, crate::orchestrator::page_href(base, &params, query.size))))
}

async fn show(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let details = state.app.deployment_details(&caller, &id).await?;
    Ok(Json(native_deployment(&details, &state.public_url)))
}

async fn delete(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_deployment(&caller, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn log(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let lines = state.app.deployment_log(&caller, &id).await?;
    let lines: Vec<Value> =
        lines.iter().map(|l| json!({"at": crate::views::rfc3339(l.at), "message": l.message})).collect();
    Ok(Json(json!({ "content": lines })))
}

async fn inventory(State(state): State<ApiState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    let all = state.app.inventory(&caller).await?;
    Ok(Json(json!({ "providers": all })))
}

async fn sim_settings(State(state): State<ApiState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "providers": state.app.sim_settings(&caller)? })))
}

async fn set_sim(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(provider): Path<String>,
    Body(patch): Body<Value>,
) -> Result<Json<Value>, ApiError> {
    let settings = state.app.set_sim_settings(&caller, &provider, &patch)?;
    Ok(Json(serde_json::to_value(settings).unwrap_or(Value::Null)))
}
