//! The availability report, public as the status page is: each
//! component's availability and reliability over a month (EGI ARGO's
//! definitions), with a row of days, and the same as CSV.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use nuvola_monitor::argo::Figures;
use serde::Deserialize;

use crate::layout::{Section, page};
use crate::session::Viewer;
use crate::{PageError, WebState};

pub fn routes() -> Router<WebState> {
    Router::new().route("/status/availability", get(report)).route("/status/availability.csv", get(report_csv))
}

#[derive(Debug, Deserialize)]
struct Month {
    /// `YYYY-MM`; this month by default.
    month: Option<String>,
}

fn percent(f: Option<f64>) -> String {
    f.map(|f| format!("{:.2} %", f * 100.0)).unwrap_or_else(|| "–".into())
}

/// A day's cell: its availability, shaded by how good it was.
fn day_cell(f: &Figures) -> Markup {
    let class = match f.availability {
        None => "day unknown",
        Some(a) if a >= 0.99 => "day ok",
        Some(a) if a >= 0.9 => "day busy",
        Some(_) => "day bad",
    };
    html! { td class=(class) { (f.availability.map(|a| format!("{:.0}", a * 100.0)).unwrap_or_default()) } }
}

/// `GET /status/availability?month=2026-12`.
async fn report(
    State(state): State<WebState>,
    viewer: Option<Viewer>,
    Query(month): Query<Month>,
) -> Result<Response, PageError> {
    let report = state.app.availability(month.month.as_deref()).await?;
    let days = report.components.first().map_or(0, |c| c.days.len());
    let body = html! {
        p {
            "Availability = up / (time − unknown); reliability = up / (time − unknown − announced outages), "
            "up being operational or degraded, as EGI ARGO defines them. Days in percent of availability; "
            "empty where nothing was known."
        }
        form method="get" action="/status/availability" class="toolbar" {
            label for="month" { "Month" }
            input id="month" name="month" type="month" value=(report.month);
            button type="submit" class="secondary" { "Show" }
            a href={"/status/availability.csv?month=" (report.month)} { "CSV" }
        }
        @if report.components.is_empty() { p { "No component has been probed yet." } }
        @else {
            div class="scroll" tabindex="0" role="region" aria-label="Availability per day" {
                table class="availability" {
                    caption { "Availability and reliability, " (report.month) }
                    thead { tr {
                        th scope="col" { "Component" } th scope="col" class="num" { "Availability" } th scope="col" class="num" { "Reliability" }
                        @for d in 1..=days { th scope="col" class="num" { (d) } }
                    } }
                    tbody { @for c in &report.components {
                        tr {
                            th scope="row" { (c.component.name) }
                            td class="num" { (percent(c.figures.availability)) }
                            td class="num" { (percent(c.figures.reliability)) }
                            @for (_, _, f) in &c.days { (day_cell(f)) }
                        }
                    } }
                }
            }
        }
        p { a href="/status" { "Back to the status page" } }
    };
    Ok(page(&format!("Availability, {}", report.month), viewer.as_ref(), Section::Other, body).into_response())
}

/// `GET /status/availability.csv?month=2026-12`.
async fn report_csv(State(state): State<WebState>, Query(month): Query<Month>) -> Result<Response, PageError> {
    let report = state.app.availability(month.month.as_deref()).await?;
    let name = format!("attachment; filename=\"availability-{}.csv\"", report.month);
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)],
        nuvola_watch::reports::csv(&report),
    )
        .into_response())
}
