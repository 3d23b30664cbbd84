//! The HTTP API: the INDIGO-orchestrator-compatible REST API under
//! `/orchestrator`, nuvola's native API under `/api/v1` (the status page's
//! incidents and overrides for operators among it), the status page's
//! Statuspage-compatible JSON under `/api/v2`, and `/healthz`.
//!
//! Handlers are thin: extract, call one app-layer method (which
//! authorizes), render a view. [`error::ApiError`] is the one place where
//! domain errors become HTTP statuses.

mod access;
mod accounting;
mod error;
mod extract;
mod incidents;
mod listing;
pub mod metrics;
mod native;
pub mod openapi;
mod orchestrator;
mod status;
mod views;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use nuvola_app::App;

pub use error::ApiError;

/// Largest request body accepted (a template plus its parameters).
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub app: App,
    /// Base of absolute links, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    /// `/metrics`, when the server exposes it.
    pub observed: Option<std::sync::Arc<metrics::Observability>>,
}

/// The whole HTTP surface, ready to serve or to test with `oneshot`,
/// without `/metrics`.
pub fn router(app: App, public_url: impl Into<String>) -> Router {
    observed_router(app, public_url, None)
}

/// The whole HTTP surface, with `/metrics` when `observed` is given (the
/// server then also counts its requests with [`metrics::count_requests`]).
pub fn observed_router(
    app: App,
    public_url: impl Into<String>,
    observed: Option<std::sync::Arc<metrics::Observability>>,
) -> Router {
    let state = ApiState { app, public_url: public_url.into().trim_end_matches('/').to_string(), observed };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::scrape))
        .nest_service("/orchestrator", orchestrator::service(state.clone()))
        .nest("/api/v1", native::routes())
        .merge(status::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz(State(state): State<ApiState>) -> impl IntoResponse {
    match state.app.health().await {
        Ok(()) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok"}))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "down", "reason": e.to_string()})),
        ),
    }
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError(nuvola_types::Error::not_found(format!("no such endpoint: {}", uri.path())))
}
