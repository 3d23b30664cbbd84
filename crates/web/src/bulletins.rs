//! The periodic bulletins, kept as pages for administrators and group
//! managers: the list, and each bulletin with its sites, incidents,
//! maintenance, availability and what alerting told.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;

use crate::layout::{Section, page, time};
use crate::session::Viewer;
use crate::{PageError, WebState};

pub fn routes() -> Router<WebState> {
    Router::new().route("/bulletins", get(list)).route("/bulletins/{id}", get(show))
}

fn of(used: u64, granted: Option<u64>) -> String {
    match granted {
        Some(g) => format!("{used} of {g}"),
        None => format!("{used} (no limit)"),
    }
}

fn percent(f: Option<f64>) -> String {
    f.map(|f| format!("{:.2} %", f * 100.0)).unwrap_or_else(|| "unknown".into())
}

/// `GET /bulletins`.
async fn list(State(state): State<WebState>, viewer: Viewer) -> Result<Response, PageError> {
    let bulletins = state.app.bulletins(&viewer.caller()).await?;
    let body = html! {
        @if bulletins.is_empty() { p { "No bulletin yet: the first is made at the start of the next period." } }
        @else {
            ul { @for (id, from, to) in &bulletins {
                li { a href={"/bulletins/" (id)} { (id) } ": " (time(*from)) " to " (time(*to)) }
            } }
        }
    };
    Ok(page("Bulletins", Some(&viewer), Section::Statistics, body).into_response())
}

/// `GET /bulletins/{id}`.
async fn show(State(state): State<WebState>, viewer: Viewer, Path(id): Path<String>) -> Result<Response, PageError> {
    let b = state.app.bulletin(&viewer.caller(), &id).await?;
    let body = html! {
        p { "The federation from " (time(b.from)) " to " (time(b.to)) ". " a href="/bulletins" { "Every bulletin" } }
        h2 { "Resources per site" }
        table {
            caption { "What the groups hold, of what each site grants them" }
            thead { tr { th scope="col" { "Site" } th scope="col" class="num" { "Cores" } th scope="col" class="num" { "RAM (GiB)" } th scope="col" class="num" { "Instances" } } }
            tbody { @for s in &b.sites {
                tr {
                    th scope="row" { (s.provider) }
                    td class="num" { (of(s.cores, s.cores_granted)) }
                    td class="num" { (of(s.ram_mb / 1024, s.ram_mb_granted.map(|r| r / 1024))) }
                    td class="num" { (of(s.instances, s.instances_granted)) }
                }
            } }
        }
        h2 { "Incidents" }
        @if b.incidents.is_empty() { p { "None." } }
        @else {
            ul { @for i in &b.incidents {
                li {
                    a href={"/status/incidents/" (i.id)} { (i.title) } " (" (i.impact) " impact, " (i.status) "), opened " (time(i.opened_at))
                    @if let Some(r) = i.resolved_at { ", resolved " (time(r)) } @else { ", still open" }
                }
            } }
        }
        h2 { "Maintenance, of the period and to come" }
        @if b.maintenances.is_empty() { p { "None." } }
        @else {
            ul { @for m in &b.maintenances {
                li { (m.provider) " (" (m.kind) ") from " (time(m.start)) " to " (time(m.end)) @if !m.reason.is_empty() { ": " (m.reason) } }
            } }
        }
        h2 { "Availability and reliability" }
        table {
            caption { "EGI ARGO's figures over the period" }
            thead { tr { th scope="col" { "Component" } th scope="col" class="num" { "Availability" } th scope="col" class="num" { "Reliability" } } }
            tbody { @for a in &b.availability {
                tr { th scope="row" { (a.name) } td class="num" { (percent(a.availability)) } td class="num" { (percent(a.reliability)) } }
            } }
        }
        h2 { "Notifications" }
        p { "Alerting told " (b.alerts_told) " alerts; " (b.notifications_sent) " notifications were sent in all." }
        @if !b.notable.is_empty() { ul { @for n in &b.notable { li { (n) } } } }
    };
    Ok(page(&format!("Bulletin {}", b.id), Some(&viewer), Section::Statistics, body).into_response())
}
