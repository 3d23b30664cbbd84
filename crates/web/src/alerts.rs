//! The operators' alerts page: what fires, what is pending or resolved,
//! each firing alert with a button to acknowledge it; the silences, with a
//! form to add one and a button to end each; and the last notifications
//! sent (alerts, incidents, endpoints), with how each delivery went.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use nuvola_monitor::alerts::{Alert, AlertState};
use serde::Deserialize;

use crate::admin::admin_nav;
use crate::layout::{Section, page, time};
use crate::session::{Post, Viewer};
use crate::{PageError, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/admin/alerts", get(alerts))
        .route("/admin/alerts/acknowledge", post(acknowledge))
        .route("/admin/alerts/silences", post(silence))
        .route("/admin/alerts/silences/end", post(end_silence))
}

fn state_badge(alert: &Alert) -> Markup {
    let (class, word) = match alert.state {
        AlertState::Firing if alert.silenced => ("badge busy", "firing, silenced"),
        AlertState::Firing if alert.acked_by.is_some() => ("badge busy", "firing, acknowledged"),
        AlertState::Firing => ("badge bad", "firing"),
        AlertState::Pending => ("badge busy", "pending"),
        AlertState::Resolved => ("badge ok", "resolved"),
    };
    html! { span class=(class) { (word) } }
}

/// `GET /admin/alerts`.
async fn alerts(State(state): State<WebState>, viewer: Viewer) -> Result<Response, PageError> {
    let caller = viewer.caller();
    let (alerts, silences) = state.app.alerts(&caller).await?;
    let sent = state.app.sent_notifications(&caller, 50).await?;
    let body = html! {
        (admin_nav("/admin/alerts"))
        h2 { "Alerts" }
        @if alerts.is_empty() { p { "No alert: every probe passes and no quota runs out." } }
        @else {
            table {
                caption { "Alerts, firing first" }
                thead { tr {
                    th scope="col" { "State" } th scope="col" { "Rule" } th scope="col" { "What" }
                    th scope="col" { "Since" } th scope="col" { span class="visually-hidden" { "Action" } }
                } }
                tbody { @for a in sorted(&alerts) {
                    tr {
                        td { (state_badge(a)) }
                        td { (a.rule.as_str()) }
                        td { (a.summary) br; small { code { (a.key) } } }
                        td { (time(a.firing_since.unwrap_or(a.since))) }
                        td {
                            @if a.state == AlertState::Firing && a.acked_by.is_none() {
                                form method="post" action="/admin/alerts/acknowledge" class="inline" {
                                    (viewer.csrf_field())
                                    input type="hidden" name="key" value=(a.key);
                                    button type="submit" class="secondary" aria-label={"Acknowledge " (a.key)} { "Acknowledge" }
                                }
                            } @else if let Some(by) = &a.acked_by { "acknowledged by " (by) }
                        }
                    }
                } }
            }
        }
        h2 { "Silences" }
        @if silences.is_empty() { p { "None." } }
        @else {
            ul { @for s in &silences {
                li {
                    @for (i, m) in s.matchers.iter().enumerate() {
                        @if i > 0 { ", " }
                        code { (m.name) @if m.equal { "=" } @else { "!=" } (m.value) }
                    }
                    " until " (time(s.ends_at)) ", by " (s.created_by)
                    @if !s.comment.is_empty() { ": " (s.comment) }
                    " "
                    form method="post" action="/admin/alerts/silences/end" class="inline" {
                        (viewer.csrf_field())
                        input type="hidden" name="id" value=(s.id);
                        button type="submit" class="secondary" aria-label={"End silence " (s.id)} { "End" }
                    }
                }
            } }
        }
        details {
            summary { "Add a silence" }
            form method="post" action="/admin/alerts/silences" {
                (viewer.csrf_field())
                div class="field" {
                    label for="matchers" { "Matchers (label=value, comma separated)" }
                    input id="matchers" name="matchers" type="text" required placeholder="site=recas-bari";
                }
                div class="field" {
                    label for="hours" { "For how many hours" }
                    input id="hours" name="hours" type="number" min="0.1" max="2160" step="0.1" value="2" required;
                }
                div class="field" {
                    label for="comment" { "Why" }
                    input id="comment" name="comment" type="text";
                }
                button type="submit" { "Silence" }
            }
        }
        h2 { "Notifications sent" }
        @if sent.is_empty() { p { "Nothing sent yet." } }
        @else {
            table {
                caption { "The last 50 notifications" }
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "How" } th scope="col" { "To" }
                    th scope="col" { "Subject" } th scope="col" { "Outcome" }
                } }
                tbody { @for n in &sent {
                    tr { td { (time(n.at)) } td { (n.channel) } td { (n.recipient) } td { (n.subject) } td { (n.outcome) } }
                } }
            }
        }
    };
    Ok(page("Alerts", Some(&viewer), Section::Admin, body).into_response())
}

/// Firing first, then pending, then resolved; newest first within each.
fn sorted(alerts: &[Alert]) -> Vec<&Alert> {
    let rank = |a: &Alert| match a.state {
        AlertState::Firing => 0,
        AlertState::Pending => 1,
        AlertState::Resolved => 2,
    };
    let mut out: Vec<&Alert> = alerts.iter().collect();
    out.sort_by(|a, b| rank(a).cmp(&rank(b)).then(b.since.cmp(&a.since)));
    out
}

#[derive(Debug, Deserialize)]
struct KeyForm {
    key: String,
}

/// `POST /admin/alerts/acknowledge`.
async fn acknowledge(State(state): State<WebState>, post: Post<KeyForm>) -> Result<Response, PageError> {
    state.app.acknowledge_alert(&post.viewer.caller(), &post.form.key).await?;
    Ok(Redirect::to("/admin/alerts").into_response())
}

#[derive(Debug, Deserialize)]
struct SilenceForm {
    matchers: String,
    hours: f64,
    #[serde(default)]
    comment: String,
}

/// `POST /admin/alerts/silences`.
async fn silence(State(state): State<WebState>, post: Post<SilenceForm>) -> Result<Response, PageError> {
    let matchers: Vec<String> =
        post.form.matchers.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect();
    state.app.silence_alerts(&post.viewer.caller(), &matchers, post.form.hours, post.form.comment.trim()).await?;
    Ok(Redirect::to("/admin/alerts").into_response())
}

#[derive(Debug, Deserialize)]
struct IdForm {
    id: String,
}

/// `POST /admin/alerts/silences/end`.
async fn end_silence(State(state): State<WebState>, post: Post<IdForm>) -> Result<Response, PageError> {
    state.app.end_silence(&post.viewer.caller(), &post.form.id).await?;
    Ok(Redirect::to("/admin/alerts").into_response())
}
