//! nuvola's native API (`/api/v1`): the catalogue, the providers,
//! deployments by catalogue id, who am I, and the operators' endpoints.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use nuvola_app::{CreateDeployment, UpdateDeployment};
use nuvola_types::MaintenanceWindow;
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
        .route("/deployments/{id}", get(show).patch(update).delete(delete))
        .route("/deployments/{id}/log", get(log))
        .route("/deployments/{id}/endpoints", get(endpoints))
        .route("/deployments/{id}/endpoints/notify", put(endpoint_notify))
        .route("/plan", get(plan_query).post(plan_body))
        .route("/admin/federation", get(export_federation).put(import_federation))
        .route("/admin/providers/{name}", put(put_provider).patch(patch_provider).delete(delete_provider))
        .route("/admin/providers/{name}/maintenance", post(add_maintenance))
        .route("/admin/inventory", get(inventory))
        .route("/admin/orphans", get(orphans))
        .route("/admin/orphans/clean", post(clean_orphans))
        .route("/admin/sim", get(sim_settings))
        .route("/admin/sim/{provider}", put(set_sim))
        .merge(crate::access::routes())
        .merge(crate::incidents::routes())
        .merge(crate::accounting::routes())
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
    Json(json!({
        "subject": caller.subject, "issuer": caller.issuer, "groups": caller.groups, "admin": caller.admin,
        "manages": caller.manages,
    }))
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

async fn providers(State(state): State<ApiState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    let list = state.app.visible_providers(&caller).await?;
    Ok(Json(json!({ "content": list })))
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
        undeclared: nuvola_app::Undeclared::Refuse,
    };
    let d = match (body.catalogue_id, body.template) {
        (Some(id), None) => state.app.deploy_catalogue(&caller, &id, request).await?,
        (None, Some(_)) => state.app.create_deployment(&caller, request).await?,
        _ => return Err(nuvola_types::Error::invalid("give exactly one of catalogueId and template").into()),
    };
    Ok((StatusCode::CREATED, Json(with_attempts(&state, d).await?)))
}

async fn list(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let params = crate::listing::Params(params);
    let query = params.list_query()?;
    let (items, total) = state.app.list_deployments(&caller, &query).await?;
    let mut content = Vec::new();
    for d in items {
        content.push(with_attempts(&state, d).await?);
    }
    let base = format!("{}/api/v1/deployments", state.public_url);
    Ok(Json(page(content, query.page, query.size, total, params.page_href(base, query.size))))
}

async fn show(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let details = state.app.deployment_details(&caller, &id).await?;
    Ok(Json(native_deployment(&details, &state.public_url)))
}

/// `PATCH /api/v1/deployments/{id}`: new parameters (merged over the
/// current ones) or a new template; the deployment stays on its provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NativeUpdateRequest {
    #[serde(default)]
    pub parameters: Map<String, Value>,
    pub template: Option<String>,
    pub timeout_mins: Option<i64>,
    pub provider_timeout_mins: Option<i64>,
}

async fn update(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body<NativeUpdateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = UpdateDeployment {
        template: body.template,
        parameters: body.parameters,
        timeout_mins: body.timeout_mins,
        provider_timeout_mins: body.provider_timeout_mins,
        ..Default::default()
    };
    let d = state.app.update_deployment(&caller, &id, request).await?;
    Ok((StatusCode::ACCEPTED, Json(with_attempts(&state, d).await?)))
}

/// A deployment the caller may see, in the native shape with its
/// attempts.
async fn with_attempts(state: &ApiState, deployment: nuvola_app::DeploymentRecord) -> Result<Value, ApiError> {
    Ok(native_deployment(&state.app.with_attempts(deployment).await?, &state.public_url))
}

async fn delete(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_deployment(&caller, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET /api/v1/deployments/{id}/endpoints`: its outputs' latest checks,
/// their ups and downs and the mails sent about them.
async fn endpoints(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let status = state.app.endpoint_status(&caller, &id).await?;
    Ok(Json(serde_json::to_value(status).unwrap_or(Value::Null)))
}

/// `PUT /api/v1/deployments/{id}/endpoints/notify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointNotify {
    /// Whether the owner is mailed when its endpoints go down and back.
    pub notify: bool,
}

async fn endpoint_notify(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body<EndpointNotify>,
) -> Result<Json<Value>, ApiError> {
    let status = state.app.set_endpoint_notify(&caller, &id, body.notify).await?;
    Ok(Json(serde_json::to_value(status).unwrap_or(Value::Null)))
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

/// `POST /api/v1/plan`: what a deployment request would do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlanRequest {
    pub catalogue_id: Option<String>,
    pub template: Option<String>,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    pub user_group: Option<String>,
    pub provider: Option<String>,
    pub timeout_mins: Option<i64>,
}

/// The federation document of `GET|PUT /api/v1/admin/federation`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FederationDocument {
    pub providers: Vec<nuvola_types::ProviderSpec>,
}

async fn plan_body(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(body): Body<PlanRequest>,
) -> Result<Json<Value>, ApiError> {
    plan(&state, &caller, body).await
}

/// `GET /api/v1/plan?catalogueId=..&userGroup=..&param.NAME=VALUE..`
async fn plan_query(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut request = PlanRequest {
        catalogue_id: None,
        template: None,
        parameters: Map::new(),
        user_group: None,
        provider: None,
        timeout_mins: None,
    };
    for (key, value) in params {
        match key.as_str() {
            "catalogueId" => request.catalogue_id = Some(value),
            "userGroup" => request.user_group = Some(value),
            "provider" => request.provider = Some(value),
            "timeoutMins" => {
                request.timeout_mins = Some(value.parse().map_err(|_| {
                    nuvola_types::Error::invalid(format!("timeoutMins must be a whole number, not {value:?}"))
                })?)
            }
            other => match other.strip_prefix("param.") {
                Some(name) => {
                    request.parameters.insert(name.to_string(), Value::String(value));
                }
                None => {
                    return Err(nuvola_types::Error::invalid(format!(
                        "unknown query parameter {other:?} (use catalogueId, userGroup, provider, timeoutMins, param.NAME)"
                    ))
                    .into());
                }
            },
        }
    }
    if request.catalogue_id.is_none() {
        return Err(nuvola_types::Error::invalid("catalogueId is required (POST a template to plan one)").into());
    }
    plan(&state, &caller, request).await
}

async fn plan(state: &ApiState, caller: &nuvola_types::Principal, body: PlanRequest) -> Result<Json<Value>, ApiError> {
    if body.catalogue_id.is_some() == body.template.is_some() {
        return Err(nuvola_types::Error::invalid("give exactly one of catalogueId and template").into());
    }
    let request = CreateDeployment {
        template: body.template.unwrap_or_default(),
        parameters: body.parameters,
        user_group: body.user_group,
        catalogue_id: body.catalogue_id,
        provider: body.provider,
        timeout_mins: body.timeout_mins,
        ..Default::default()
    };
    let (requirements, plan) = state.app.preview_plan(caller, &request).await?;
    let explanation = if plan.candidates.is_empty() { plan.no_fit_message() } else { nuvola_placement::explain(&plan) };
    Ok(Json(json!({ "requirements": requirements, "plan": plan, "explanation": explanation })))
}

async fn export_federation(State(state): State<ApiState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    let providers = state.app.export_federation(&caller)?;
    Ok(Json(json!({ "providers": providers })))
}

async fn import_federation(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(document): Body<FederationDocument>,
) -> Result<Json<Value>, ApiError> {
    state.app.import_federation(&caller, document.providers).await?;
    Ok(Json(json!({ "providers": state.app.export_federation(&caller)? })))
}

async fn put_provider(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    Body(spec): Body<nuvola_types::ProviderSpec>,
) -> Result<Json<Value>, ApiError> {
    if spec.name != name {
        return Err(nuvola_types::Error::invalid(format!("the body names {:?}, the URL {name:?}", spec.name)).into());
    }
    let saved = state.app.put_provider(&caller, spec).await?;
    Ok(Json(serde_json::to_value(saved).unwrap_or(Value::Null)))
}

async fn patch_provider(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    Body(patch): Body<Value>,
) -> Result<Json<Value>, ApiError> {
    let saved = state.app.patch_provider(&caller, &name, &patch).await?;
    Ok(Json(serde_json::to_value(saved).unwrap_or(Value::Null)))
}

/// `POST /api/v1/admin/providers/{name}/maintenance`: one more window,
/// added in the store's transaction (no read-modify-write by the client).
async fn add_maintenance(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    Body(window): Body<MaintenanceWindow>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let saved = state.app.add_maintenance(&caller, &name, window).await?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(saved).unwrap_or(Value::Null))))
}

async fn delete_provider(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_provider(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn inventory(State(state): State<ApiState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    let all = state.app.inventory(&caller).await?;
    Ok(Json(json!({ "providers": all })))
}

async fn orphans(State(state): State<ApiState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    let report = state.app.orphans(&caller).await?;
    Ok(Json(serde_json::to_value(report).unwrap_or(Value::Null)))
}

async fn clean_orphans(
    State(state): State<ApiState>,
    Caller(caller): Caller,
    Body(filter): Body<nuvola_app::orphans::OrphanFilter>,
) -> Result<Json<Value>, ApiError> {
    let report = state.app.clean_orphans(&caller, &filter).await?;
    Ok(Json(serde_json::to_value(report).unwrap_or(Value::Null)))
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
    let settings = state.app.set_sim_settings(&caller, &provider, &patch).await?;
    Ok(Json(serde_json::to_value(settings).unwrap_or(Value::Null)))
}
