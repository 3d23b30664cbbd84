//! The public status page's JSON in Atlassian Statuspage's v2 shape, at
//! Statuspage's paths, so that status aggregators and widgets read nuvola
//! as any other page: `/api/v2/summary.json`, `status.json`,
//! `incidents.json` (the 50 newest), `scheduled-maintenances.json` and
//! `components.json`. No token is needed, and any origin may read them
//! (`Access-Control-Allow-Origin: *`, as Statuspage serves them).

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use nuvola_app::Document;

use crate::{ApiError, ApiState};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v2/summary.json", get(summary))
        .route("/api/v2/status.json", get(status))
        .route("/api/v2/incidents.json", get(incidents))
        .route("/api/v2/scheduled-maintenances.json", get(maintenances))
        .route("/api/v2/components.json", get(components))
}

async fn document(state: &ApiState, which: Document) -> Result<impl IntoResponse + use<>, ApiError> {
    let body = state.app.status_json(which).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CACHE_CONTROL, "max-age=10"),
        ],
        body,
    ))
}

async fn summary(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    document(&state, Document::Summary).await
}

async fn status(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    document(&state, Document::Status).await
}

async fn incidents(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    document(&state, Document::Incidents).await
}

async fn maintenances(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    document(&state, Document::ScheduledMaintenances).await
}

async fn components(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    document(&state, Document::Components).await
}
