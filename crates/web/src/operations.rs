//! The operators' page: charts of what matters to run the federation
//! (deployments created and failed per day, time to ready per provider,
//! the providers' probe latency over the last day, quota use per site and
//! group) and the open alerts, each chart beside a table of its numbers;
//! and each provider's last canary runs with their phases' times, and any
//! canary VM left on a site.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use nuvola_monitor::alerts::AlertState;
use nuvola_monitor::canary::{phase_words, seconds};
use serde::Deserialize;

use crate::admin::admin_nav;
use crate::charts::{self, Bar, Chart, Series};
use crate::layout::{Section, page, time};
use crate::session::Viewer;
use crate::{PageError, WebState};

pub fn routes() -> Router<WebState> {
    Router::new().route("/admin/operations", get(operations))
}

#[derive(Debug, Deserialize)]
struct Window {
    /// How many days, up to today (30 by default).
    days: Option<u32>,
}

/// `GET /admin/operations?days=30`.
async fn operations(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(window): Query<Window>,
) -> Result<Response, PageError> {
    let days = window.days.unwrap_or(30);
    let ops = state.app.operations(&viewer.caller(), days).await?;
    let ticks: Vec<bool> = ops.days.iter().map(|d| d.ends_with("-01") || d.ends_with("-15")).collect();
    let day_series = vec![
        Series { name: "Created".into(), values: ops.created.iter().map(|n| *n as f64).collect() },
        Series { name: "Failed to create".into(), values: ops.failed.iter().map(|n| *n as f64).collect() },
    ];
    let hours: Vec<String> = ops
        .hours
        .iter()
        .map(|h| DateTime::<Utc>::from_timestamp_millis(*h).unwrap_or_default().format("%H:00").to_string())
        .collect();
    let hour_ticks: Vec<bool> = (0..hours.len()).map(|i| i % 6 == 0).collect();
    let latency: Vec<Series> = ops
        .latency
        .iter()
        .map(|(provider, means)| Series {
            name: provider.clone(),
            values: means.iter().map(|m| m.unwrap_or(0.0)).collect(),
        })
        .collect();
    let ready: Vec<Bar> = ops
        .time_to_ready
        .iter()
        .map(|t| Bar { label: t.provider.clone(), value: t.p50_secs, shown: format!("{:.0} s", t.p50_secs) })
        .collect();
    let mut quota: Vec<_> = ops.quota.iter().filter(|q| q.resource == "cores").collect();
    quota.sort_by(|a, b| {
        b.share().total_cmp(&a.share()).then_with(|| (&a.provider, &a.group).cmp(&(&b.provider, &b.group)))
    });
    let quota_bars: Vec<Bar> = quota
        .iter()
        .map(|q| Bar {
            label: format!("{} on {}", q.group, q.provider),
            value: q.share() * 100.0,
            shown: format!("{:.0} %", q.share() * 100.0),
        })
        .collect();
    let open: Vec<_> = ops.alerts.iter().filter(|a| a.state == AlertState::Firing).collect();
    // The rows worth reading first; every row is one click away.
    let mut in_use: Vec<_> = ops.quota.iter().filter(|q| q.used > 0).collect();
    in_use.sort_by(|a, b| b.share().total_cmp(&a.share()));
    let body = html! {
        (admin_nav("/admin/operations"))
        form method="get" action="/admin/operations" class="toolbar" {
            label for="days" { "Days shown" }
            input id="days" name="days" type="number" min="1" max="90" value=(days);
            button type="submit" class="secondary" { "Show" }
        }
        h2 { "Open alerts" }
        @if open.is_empty() { p { "None firing." } }
        @else {
            ul { @for a in &open { li { strong { (a.rule.as_str()) } ": " (a.summary) } } }
        }
        p { a href="/admin/alerts" { "All alerts, silences and notifications sent" } }
        h2 { "Deployments created and failed per day" }
        (charts::line(
            &Chart { id: "per-day", title: "Deployments created and failed per day", desc: "Created (solid) and failed to create (dashed) per UTC day; the table below holds the numbers." },
            &ops.days, &ticks, &day_series,
        ))
        details {
            summary { "The numbers" }
            table {
                caption { "Deployments per day" }
                thead { tr { th scope="col" { "Day" } th scope="col" { "Created" } th scope="col" { "Failed" } } }
                tbody { @for (i, d) in ops.days.iter().enumerate() {
                    tr { td { (d) } td class="num" { (ops.created[i]) } td class="num" { (ops.failed[i]) } }
                } }
            }
        }
        h2 { "Time to ready per provider" }
        @if ready.is_empty() { p { "No attempt became ready in the period." } }
        @else {
            (charts::bars(&Chart { id: "ready", title: "Median time to ready per provider", desc: "Median seconds from create to ready of the period's attempts, per provider." }, &ready))
            table {
                caption { "Time to ready" }
                thead { tr { th scope="col" { "Provider" } th scope="col" { "Ready" } th scope="col" { "Median" } th scope="col" { "95th percentile" } } }
                tbody { @for t in &ops.time_to_ready {
                    tr { td { (t.provider) } td class="num" { (t.ready) } td class="num" { (format!("{:.1} s", t.p50_secs)) } td class="num" { (format!("{:.1} s", t.p95_secs)) } }
                } }
            }
        }
        h2 { "Probe latency, last 24 hours" }
        @if latency.is_empty() { p { "No provider probed yet." } }
        @else {
            (charts::line(&Chart { id: "latency", title: "Mean probe latency per provider, per hour", desc: "Milliseconds per check, hour by hour over the last day; hours without probes show 0." }, &hours, &hour_ticks, &latency))
        }
        h2 { "Quota use per site and group" }
        @if quota_bars.is_empty() { p { "No group has a core quota." } }
        @else {
            (charts::bars(&Chart { id: "quota", title: "Share of the core quota used", desc: "What each group's deployments hold of its core quota on each provider." }, &quota_bars))
        }
        @if in_use.is_empty() { p { "No group holds anything yet." } }
        @else { (quota_table("Quota in use, fullest first", &in_use)) }
        details {
            summary { "Every limited resource (" (ops.quota.len()) ")" }
            (quota_table("Quota use, every limited resource", &ops.quota.iter().collect::<Vec<_>>()))
        }
        (canaries(&ops))
    };
    Ok(page("Operations", Some(&viewer), Section::Admin, body).into_response())
}

/// Quota rows: what each group holds of each limited resource on each
/// provider.
fn quota_table(caption: &str, rows: &[&nuvola_watch::operations::QuotaUse]) -> Markup {
    html! {
        table {
            caption { (caption) }
            thead { tr { th scope="col" { "Provider" } th scope="col" { "Group" } th scope="col" { "Resource" } th scope="col" { "Used" } th scope="col" { "Limit" } th scope="col" { "Share" } } }
            tbody { @for q in rows {
                tr { td { (q.provider) } td { (q.group) } td { (q.resource) } td class="num" { (q.used) } td class="num" { (q.limit) } td class="num" { (format!("{:.0} %", q.share() * 100.0)) } }
            } }
        }
    }
}

/// Each provider's last canary runs, and the canary VMs left on sites;
/// operators read a failure's cause too.
fn canaries(ops: &nuvola_watch::operations::Operations) -> Markup {
    let outcome = |r: &nuvola_app::CanaryRun| match (r.ok, r.failed_phase) {
        (Some(true), _) => "passed".to_string(),
        (Some(false), phase) => {
            format!("{} failed: {}", phase.map_or("run", phase_words), r.error.as_deref().unwrap_or("no reason given"))
        }
        (None, _) if r.finished_at.is_some() => r.error.clone().unwrap_or_else(|| "cut off".into()),
        (None, _) => "running".to_string(),
    };
    html! {
        h2 { "Canary runs" }
        @if !ops.canary_leftovers.is_empty() {
            p { strong { (ops.canary_leftovers.len()) " canary VM(s) not deleted yet" } ", asked again every minute until their site says they are gone:" }
            ul { @for r in &ops.canary_leftovers {
                li { (r.provider) ": " code { (r.id) } ", started " (time(r.started_at)) ": "
                    (r.cleanup_error.as_deref().or(r.error.as_deref()).unwrap_or("not confirmed gone")) }
            } }
        }
        @if ops.canary_runs.is_empty() {
            p { "No canary run in the period; providers opt in with " code { "[status] canary_providers" } "." }
        } @else {
            table {
                caption { "The last canary runs per provider" }
                thead { tr {
                    th scope="col" { "Provider" } th scope="col" { "Started" } th scope="col" { "VM" }
                    th scope="col" { "Create accepted" } th scope="col" { "Running after" } th scope="col" { "Gone after" }
                    th scope="col" { "Outcome" } th scope="col" { "On the site" }
                } }
                tbody { @for r in &ops.canary_runs {
                    tr {
                        td { (r.provider) } td { (time(r.started_at)) } td { (r.flavor) ", " (r.image) }
                        td class="num" { (seconds(r.create_ms)) } td class="num" { (seconds(r.ready_ms)) } td class="num" { (seconds(r.delete_ms)) }
                        td { (outcome(r)) @if let Some(cause) = &r.cause { br; small { "cause: " (cause) } } }
                        td { @if r.gone { "gone" } @else { span class="badge bad" { "left" } } }
                    }
                } }
            }
        }
    }
}
