//! The "Endpoints" section of a deployment's page: each output that is a
//! URL or host:port as nuvola last checked it (up or down and since when,
//! latency, the TLS certificate's expiry, warned under two weeks), its ups
//! and downs, the mails sent about them, and the owner's switch for those
//! mails.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use maud::{Markup, html};
use nuvola_app::DeploymentRecord;
use nuvola_monitor::endpoints::{CertificateSeverity, days_left, tls_expiry};
use nuvola_watch::endpoints::EndpointStatus;
use serde::Deserialize;

use crate::layout::{duration, time};
use crate::session::{Post, Viewer};
use crate::{PageError, WebState};

pub fn routes() -> Router<WebState> {
    Router::new().route("/deployments/{id}/endpoints/notify", post(set_notify))
}

/// The section, for `d` as `viewer` sees it at `now`.
pub fn section(viewer: &Viewer, d: &DeploymentRecord, status: &EndpointStatus, now: i64) -> Markup {
    let caller = viewer.caller();
    let may_change = caller.admin || d.is_owned_by(&caller) || caller.manages(&d.user_group);
    html! {
        h2 id="endpoints" { "Endpoints" }
        @if status.checks.is_empty() {
            p { "None checked: nuvola checks the outputs that are web addresses or host:port, on the internet, once the deployment is ready." }
        } @else {
            table {
                caption class="visually-hidden" { "Endpoints as last checked" }
                thead { tr {
                    th scope="col" { "Output" } th scope="col" { "State" } th scope="col" { "Since" }
                    th scope="col" { "Latency" } th scope="col" { "Last check" } th scope="col" { "Certificate" }
                } }
                tbody { @for c in &status.checks {
                    tr {
                        th scope="row" { (c.output) br; code { (c.url) } }
                        td { @if c.up { span class="badge ok" { "up" } } @else { span class="badge bad" { "down" } } }
                        td { (time(c.since)) " (" (duration(now - c.since)) ")" }
                        td { (c.latency_ms) " ms" }
                        td { (time(c.last_at)) ": " (c.detail) }
                        td { (certificate(c.cert_expires_at, now)) }
                    }
                } }
            }
        }
        @if !status.events.is_empty() {
            details {
                summary { "Ups and downs (" (status.events.len()) ")" }
                ul { @for e in &status.events {
                    li { (time(e.at)) " " strong { (e.output) } " " (if e.up { "up" } else { "down" }) ": " (e.detail) }
                } }
            }
        }
        @if !status.mails.is_empty() {
            details {
                summary { "Mails sent (" (status.mails.len()) ")" }
                ul { @for m in &status.mails { li { (time(m.at)) " to " (m.recipient) ": " (m.subject) " (" (m.outcome) ")" } } }
            }
        }
        p {
            @if !status.owner_address_known {
                "nuvola has no e-mail address for the owner (their identity provider gave none), so nobody is mailed when an endpoint goes down."
            } @else if status.notify {
                "The owner is mailed when an endpoint stops answering for two checks in a row, and when it answers again."
            } @else {
                "The owner is not mailed when an endpoint goes down or comes back."
            }
        }
        @if may_change && status.owner_address_known {
            form method="post" action={"/deployments/" (d.id) "/endpoints/notify"} {
                (viewer.csrf_field())
                input type="hidden" name="notify" value=(if status.notify { "false" } else { "true" });
                button type="submit" class="secondary" {
                    @if status.notify { "Stop these mails" } @else { "Mail the owner again" }
                }
            }
        }
    }
}

/// When a certificate expires, warned under [`nuvola_monitor::endpoints::WARN_DAYS`].
fn certificate(expires_at: Option<i64>, now: i64) -> Markup {
    let Some(at) = expires_at else { return html! { "—" } };
    let days = days_left(at, now);
    let said = if days < 0 { "expired".to_string() } else { format!("{days} days left") };
    html! {
        @match tls_expiry(days) {
            CertificateSeverity::Fine => { "expires " (time(at)) " (" (said) ")" }
            CertificateSeverity::Warning => { span class="badge busy" { "expires soon" } " " (time(at)) " (" (said) ")" }
            CertificateSeverity::Critical => { span class="badge bad" { "renew now" } " " (time(at)) " (" (said) ")" }
        }
    }
}

#[derive(Debug, Deserialize)]
struct NotifyForm {
    notify: bool,
}

/// `POST /deployments/{id}/endpoints/notify`.
async fn set_notify(
    State(state): State<WebState>,
    Path(id): Path<String>,
    post: Post<NotifyForm>,
) -> Result<Response, PageError> {
    state.app.set_endpoint_notify(&post.viewer.caller(), &id, post.form.notify).await?;
    Ok(Redirect::to(&format!("/deployments/{id}#endpoints")).into_response())
}
