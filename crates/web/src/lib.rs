//! The web dashboard: server-rendered HTML pages (maud), a little
//! progressive-enhancement JavaScript, no build step.
//!
//! Every page goes through the same app-layer methods as the REST API, with
//! the [`session::Viewer`] (the signed-in user and their active group) as the
//! caller, so authorization stays in one place. Every state-changing form
//! posts a per-session CSRF token, checked by [`session::Post`].

mod accounting;
mod admin;
mod alerts;
mod assets;
mod availability;
mod bulletins;
mod catalogue;
pub mod charts;
mod deployments;
mod endpoints;
pub mod layout;
mod login;
mod operations;
mod requests;
pub mod session;
pub mod stats;
mod status;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use nuvola_app::App;
use nuvola_identity::{Accounts, DiscoveryCache, IssuerConfig};

/// Largest form accepted (a template pasted into the deploy form).
pub const FORM_BYTES: usize = 2 << 20;

/// How the dashboard signs people in.
#[derive(Clone)]
pub struct WebConfig {
    /// Set the `Secure` attribute on cookies (the public URL is https).
    pub secure_cookies: bool,
    /// How long a dashboard session lasts.
    pub session_ttl: Duration,
    /// The trusted external issuers; those with a `web_client_id` offer a
    /// sign-in button.
    pub issuers: Vec<IssuerConfig>,
    /// The embedded issuer's accounts, when it signs people in.
    pub accounts: Option<LocalAccounts>,
}

/// Password sign-in to the embedded issuer.
#[derive(Clone)]
pub struct LocalAccounts {
    /// The embedded issuer's `iss`.
    pub issuer: String,
    pub accounts: Accounts,
    /// Where the demo account's password is kept, when it is the demo one.
    pub demo_password_file: Option<String>,
}

impl WebConfig {
    /// The defaults for a dashboard served at `public_url`, with no way to
    /// sign in yet.
    pub fn for_url(public_url: &str) -> Self {
        Self {
            secure_cookies: public_url.starts_with("https://"),
            session_ttl: Duration::from_secs(12 * 3600),
            issuers: Vec::new(),
            accounts: None,
        }
    }
}

/// What every page handler can reach.
#[derive(Clone)]
pub struct WebState {
    pub app: App,
    /// Base of absolute links, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    pub config: Arc<WebConfig>,
    /// Client for the identity providers.
    pub http: reqwest::Client,
    /// The identity providers' discovery documents, fetched once in a while
    /// rather than for every sign-in started.
    pub discovery: Arc<DiscoveryCache>,
}

/// The dashboard's routes, ready to merge beside the API.
pub fn router(app: App, public_url: impl Into<String>, config: WebConfig) -> Router {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    let discovery_ttl = Duration::from_secs(app.settings().sign_in.discovery_cache_secs);
    let state = WebState {
        public_url: public_url.into().trim_end_matches('/').to_string(),
        config: Arc::new(config),
        discovery: Arc::new(DiscoveryCache::new(http.clone(), discovery_ttl)),
        http,
        app,
    };
    Router::new()
        .route("/static/{file}", get(assets::serve))
        .route("/stats", get(stats::index))
        .route("/stats/{name}", get(stats::figure))
        .merge(accounting::routes())
        .merge(login::routes())
        .merge(catalogue::routes())
        .merge(deployments::routes())
        .merge(endpoints::routes())
        .merge(requests::routes())
        .merge(admin::routes())
        .merge(alerts::routes())
        .merge(operations::routes())
        .merge(availability::routes())
        .merge(bulletins::routes())
        .merge(status::routes())
        .layer(DefaultBodyLimit::max(FORM_BYTES))
        .layer(axum::middleware::map_response(browser_policy))
        .with_state(state)
}

/// What every dashboard response asks the browser to enforce. The pages
/// load their script and stylesheet from `/static` and have no inline
/// script, style or event handler, so nothing but this origin is allowed;
/// no page may be framed (clickjacking); types are not sniffed; and a
/// page's address is not sent to other sites (a sign-in callback carries a
/// code in it).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; object-src 'none'; \
     form-action 'self'; frame-ancestors 'none'";

async fn browser_policy(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// A page handler's error: rendered as an HTML page with the status the
/// domain error maps to, and its message (always fit to show a user).
pub struct PageError(pub nuvola_types::Error);

impl From<nuvola_types::Error> for PageError {
    fn from(e: nuvola_types::Error) -> Self {
        PageError(e)
    }
}

impl axum::response::IntoResponse for PageError {
    fn into_response(self) -> axum::response::Response {
        error_page(&self.0)
    }
}

/// The HTTP status of a domain error.
pub fn status_of(e: &nuvola_types::Error) -> axum::http::StatusCode {
    axum::http::StatusCode::from_u16(e.http_status()).expect("a valid status code")
}

/// A whole error page for `e`.
pub fn error_page(e: &nuvola_types::Error) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = status_of(e);
    if status.is_server_error() {
        tracing::error!(error = %e.logged(), "page failed");
    }
    let title = status.canonical_reason().unwrap_or("Error");
    let body = maud::html! {
        (layout::notice("error", &e.to_string()))
        p { a href="/" { "Back to the catalogue" } }
    };
    with_retry_after((status, layout::page(title, None, layout::Section::Other, body)).into_response(), e)
}

/// `response` with a `Retry-After` header when `e` says when to try again.
pub fn with_retry_after(mut response: axum::response::Response, e: &nuvola_types::Error) -> axum::response::Response {
    if let nuvola_types::Error::TooManyRequests { retry_after_secs, .. } = e {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, (*retry_after_secs).into());
    }
    response
}
