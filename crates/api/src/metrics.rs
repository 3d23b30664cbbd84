//! `/metrics`: what Prometheus scrapes, in the OpenMetrics text format.
//! The app's families (deployments, the workflow's queue) and the HTTP
//! requests this server answered, by route and status, with a latency
//! histogram. A scrape needs the metrics token (`Authorization: Bearer`),
//! which Prometheus reads from a file (`credentials_file`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nuvola_monitor::openmetrics::{CONTENT_TYPE, Exposition, Histogram};
use nuvola_types::Error;

use crate::{ApiError, ApiState};

/// Upper bounds (seconds) of the request latency histogram.
const LATENCY_BOUNDS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// What `/metrics` needs beyond the app: who may scrape, and the HTTP
/// requests counted so far.
#[derive(Debug)]
pub struct Observability {
    token: String,
    requests: Mutex<BTreeMap<(String, u16), Histogram>>,
}

impl Observability {
    /// Scrapes must bring `token`.
    pub fn new(token: impl Into<String>) -> Observability {
        Observability { token: token.into(), requests: Mutex::default() }
    }

    fn observe(&self, route: String, status: u16, seconds: f64) {
        let mut requests = self.requests.lock().expect("request metrics");
        requests.entry((route, status)).or_insert_with(|| Histogram::new(&LATENCY_BOUNDS)).observe(seconds);
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let given = given.and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("").trim();
        nuvola_types::secret::same(given.as_bytes(), self.token.trim().as_bytes())
    }
}

/// Middleware counting every request by its route (the pattern, not the
/// path: ids do not make new series) and status.
pub async fn count_requests(State(observed): State<Arc<Observability>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("other", |p| p.as_str()).to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    observed.observe(route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

pub(crate) async fn scrape(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(observed) = state.observed.as_ref() else {
        return Err(ApiError(Error::not_found("metrics are off on this server")));
    };
    if !observed.allows(&headers) {
        return Err(ApiError(Error::Unauthenticated(
            "a scrape needs the metrics token as a bearer token (the server's metrics-token file)".into(),
        )));
    }
    let mut out = Exposition::new();
    state.app.metrics(&mut out).await?;
    {
        let requests = observed.requests.lock().expect("request metrics");
        let statuses: Vec<String> = requests.keys().map(|(_, status)| status.to_string()).collect();
        let labels: Vec<[(&str, &str); 2]> = requests
            .keys()
            .zip(&statuses)
            .map(|((route, _), status)| [("route", route.as_str()), ("status", status.as_str())])
            .collect();
        let samples: Vec<_> = labels.iter().zip(requests.values()).map(|(l, h)| (&l[..], h)).collect();
        out.histogram(
            "nuvola_http_request_duration_seconds",
            "HTTP requests by route and status, and how long they took.",
            &samples,
        );
    }
    let mut response = out.finish().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}
