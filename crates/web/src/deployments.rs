//! My deployments: the list of the active group's deployments with live
//! status, a details page (outputs, attempts timeline, log, resources,
//! template), and the actions a user has: delete, deploy again, reset a
//! stuck delete, update inputs.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use nuvola_app::deployments::{ListQuery, UpdateDeployment};
use nuvola_app::{AttemptState, DeploymentRecord, now_ms};
use nuvola_types::{DeploymentStatus, Error};
use serde::Deserialize;
use serde_json::Value;

use crate::layout::{Section, duration, page, time};
use crate::session::{NoFields, Post, Viewer};
use crate::{PageError, WebState};

/// Deployments per page.
const PAGE: i64 = 50;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/deployments", get(list))
        .route("/deployments/{id}", get(details))
        .route("/deployments/{id}/outputs/{name}", get(secret_output))
        .route("/deployments/{id}/delete", post(delete))
        .route("/deployments/{id}/reset", post(reset))
        .route("/deployments/{id}/again", post(again))
        .route("/deployments/{id}/update", post(update))
}

/// The status as a badge: a word always, a colour as well.
pub fn status_badge(s: DeploymentStatus) -> Markup {
    let class = match s {
        DeploymentStatus::CreateComplete | DeploymentStatus::UpdateComplete => "ok",
        DeploymentStatus::CreateFailed | DeploymentStatus::UpdateFailed | DeploymentStatus::DeleteFailed => "bad",
        DeploymentStatus::DeleteComplete | DeploymentStatus::Unknown => "idle",
        _ => "busy",
    };
    html! { span class={"badge " (class)} { (s.as_str()) } }
}

fn in_progress(s: DeploymentStatus) -> bool {
    matches!(
        s,
        DeploymentStatus::CreateInProgress | DeploymentStatus::UpdateInProgress | DeploymentStatus::DeleteInProgress
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: i64,
    /// `all` (managers and admins): everyone's in the group, not only mine.
    #[serde(default)]
    whose: String,
}

/// `GET /deployments`.
async fn list(State(state): State<WebState>, viewer: Viewer, Query(q): Query<ListParams>) -> Result<Markup, PageError> {
    let status = match q.status.as_str() {
        "" => None,
        s => Some(DeploymentStatus::parse(s).ok_or_else(|| Error::invalid(format!("unknown status {s:?}")))?),
    };
    let query = ListQuery {
        created_by: (q.whose != "all").then(|| "me".to_string()),
        user_group: viewer.group.clone(),
        excluded_status: status.is_none().then_some(DeploymentStatus::DeleteComplete).into_iter().collect(),
        status,
        page: q.page.max(0),
        size: PAGE,
    };
    let (rows, total) = state.app.list_deployments(&viewer.caller(), &query).await?;
    let now = now_ms();
    let live = rows.iter().any(|d| in_progress(d.status));
    let pages = (total + PAGE - 1) / PAGE;
    let link = |page: i64| format!("/deployments?status={}&whose={}&page={page}", q.status, q.whose);
    let body = html! {
        form method="get" action="/deployments" class="toolbar" {
            div class="field" {
                label for="status" { "Status" }
                select id="status" name="status" {
                    option value="" { "All but deleted" }
                    @for s in DeploymentStatus::ALL {
                        option value=(s.as_str()) selected[q.status == s.as_str()] { (s.as_str()) }
                    }
                }
            }
            div class="field" {
                label for="whose" { "Whose" }
                select id="whose" name="whose" {
                    option value="" { "Mine" }
                    option value="all" selected[q.whose == "all"] { "Everyone's in the group (where allowed)" }
                }
            }
            button type="submit" { "Show" }
            a class="button secondary" href="/" { "New deployment" }
        }
        p role="status" { (total) " deployment(s) in group " strong { (viewer.group.as_deref().unwrap_or("(none)")) } }
        div data-live=[live.then_some("3000")] id="deployment-rows" aria-live="polite" {
            table {
                caption class="visually-hidden" { "Deployments" }
                thead { tr {
                    th scope="col" { "Deployment" } th scope="col" { "Service" } th scope="col" { "Status" }
                    th scope="col" { "Provider" } th scope="col" { "Owner" } th scope="col" { "Age" }
                } }
                tbody {
                    @for d in &rows {
                        tr {
                            td {
                                a href={"/deployments/" (d.id)} { (d.description.as_deref().unwrap_or(&d.id[..8.min(d.id.len())])) }
                            }
                            td { (d.catalogue_id.as_deref().unwrap_or("custom template")) }
                            td { (status_badge(d.status)) }
                            td { (d.provider.as_deref().unwrap_or("—")) }
                            td { (d.owner_subject) }
                            td { (duration(now - d.created_at)) }
                        }
                    }
                }
            }
            @if rows.is_empty() { p { "No deployments yet. " a href="/" { "Deploy a service from the catalogue." } } }
        }
        @if pages > 1 {
            nav aria-label="Pages" class="toolbar" {
                @if q.page > 0 { a href=(link(q.page - 1)) { "Previous page" } }
                span { "Page " (q.page + 1) " of " (pages) }
                @if q.page + 1 < pages { a href=(link(q.page + 1)) { "Next page" } }
            }
        }
    };
    Ok(page("Deployments", Some(&viewer), Section::Deployments, body))
}

/// Outputs whose value is kept out of the page until asked for: told by
/// their name, or holding a credential with a token (an INDIGO
/// `node_creds` as IM fills it: `{user, token_type, token}`).
fn is_secret_output(name: &str, value: &Value) -> bool {
    let n = name.to_lowercase();
    let holds_token = |v: &Value| v.get("token").is_some_and(|t| !t.is_null());
    ["password", "secret", "token", "key", "cred"].iter().any(|s| n.contains(s))
        || holds_token(value)
        || value.as_array().is_some_and(|items| items.iter().any(holds_token))
}

fn output_value(id: &str, name: &str, value: &Value) -> Markup {
    if is_secret_output(name, value) {
        return html! {
            span data-secret={"/deployments/" (id) "/outputs/" (name)} {
                a href={"/deployments/" (id) "/outputs/" (name)} { "Reveal " (name) }
            }
        };
    }
    // A list of plain values (a cluster's node addresses) reads as a list.
    if let Value::Array(items) = value
        && !items.is_empty()
        && items.iter().all(|v| !v.is_array() && !v.is_object())
    {
        return html! { ul class="plain" { @for item in items { li { (plain_output(item)) } } } };
    }
    plain_output(value)
}

/// One output value: a link when it is an address, else code.
fn plain_output(value: &Value) -> Markup {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let linkable = text.starts_with("https://") || text.starts_with("http://");
    html! {
        @if linkable { a href=(text) rel="noopener noreferrer" target="_blank" { (text) } }
        @else { code { (text) } }
    }
}

/// `GET /deployments/{id}`.
async fn details(State(state): State<WebState>, viewer: Viewer, Path(id): Path<String>) -> Result<Markup, PageError> {
    let caller = viewer.caller();
    let details = state.app.deployment_details(&caller, &id).await?;
    let d = &details.deployment;
    let log = state.app.deployment_log(&caller, &id).await?;
    let resources = state.app.deployment_resources(&caller, &id).await.unwrap_or_default();
    let endpoints = state.app.endpoint_status(&caller, &id).await?;
    let now = now_ms();
    let live = in_progress(d.status);
    let entry = d.catalogue_id.as_deref().and_then(|c| state.app.catalogue().get(c).ok());
    let title = d.description.clone().unwrap_or_else(|| format!("Deployment {}", &d.id[..8.min(d.id.len())]));
    let body = html! {
        // Everything refreshes while the deployment changes: status,
        // outputs, attempts, the actions that apply, resources and log.
        div id="live-details" data-live=[live.then_some("3000")] aria-live="polite" {
            dl class="facts" {
                dt { "Status" } dd { (status_badge(d.status)) }
                @if let Some(r) = &d.status_reason { dt { "Reason" } dd { pre { (r) } } }
                dt { "Service" } dd { (entry.map(|e| e.name.as_str()).or(d.catalogue_id.as_deref()).unwrap_or("custom template")) }
                dt { "Group" } dd { (d.user_group) }
                dt { "Owner" } dd { (d.owner_subject) }
                dt { "Provider" } dd { (d.provider.as_deref().unwrap_or("not placed yet")) }
                dt { "Created" } dd { (time(d.created_at)) " (" (duration(now - d.created_at)) " ago)" }
                dt { "Updated" } dd { (time(d.updated_at)) }
                dt { "Id" } dd { code { (d.id) } }
            }
            h2 { "Outputs" }
            @if d.outputs.is_empty() {
                p { @if live { "Outputs appear when the deployment is ready." } @else { "None." } }
            } @else {
                table {
                    caption class="visually-hidden" { "Outputs" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Value" } } }
                    tbody {
                        @for (name, value) in &d.outputs {
                            tr { th scope="row" { (name) } td { (output_value(&d.id, name, value)) } }
                        }
                    }
                }
            }
            (crate::endpoints::section(&viewer, d, &endpoints, now))
            h2 { "Attempts" }
            @if details.attempts.is_empty() { p { "None yet." } }
            ol class="timeline" {
                @for a in &details.attempts {
                    li {
                        strong { "Attempt " (a.number) " on " (a.provider) } ": " (attempt_state(a.state)) br;
                        "started " (time(a.started_at))
                        @if let Some(f) = a.finished_at { ", took " (duration(f - a.started_at)) }
                        @if let Some(r) = &a.reason { br; span class="error-text" { (r) } }
                    }
                }
            }
        h2 { "Actions" }
        (actions(&viewer, d, entry.is_some()))
        @if let Some(entry) = entry {
            @if matches!(d.status, DeploymentStatus::CreateComplete | DeploymentStatus::UpdateComplete | DeploymentStatus::UpdateFailed) {
                details {
                    summary { "Update inputs" }
                    form method="post" action={"/deployments/" (d.id) "/update"} {
                        (viewer.csrf_field())
                        @let fixed = state.app.fixed_inputs(d);
                        @for input in entry.inputs.iter().filter(|i| !fixed.contains_key(&i.name)) {
                            (crate::catalogue::field(input, d.parameters.get(&input.name), &[]))
                        }
                        @if !fixed.is_empty() {
                            h3 { "Fixed while it runs" }
                            dl class="facts" {
                                @for input in entry.inputs.iter().filter(|i| fixed.contains_key(&i.name)) {
                                    dt { (input.name) }
                                    dd {
                                        @if input.secret { "********" } @else { code { (fixed_value(d, &input.name)) } }
                                        br; small { (fixed[&input.name]) }
                                    }
                                }
                            }
                        }
                        button type="submit" { "Update" }
                    }
                }
            }
        }
        h2 { "Resources" }
        @if resources.is_empty() { p { "No cloud resources are held." } } @else {
            table {
                caption class="visually-hidden" { "Cloud resources" }
                thead { tr { th scope="col" { "Kind" } th scope="col" { "Name" } th scope="col" { "Node" } th scope="col" { "State" } th scope="col" { "Provider id" } } }
                tbody { @for r in &resources {
                    tr { td { (format!("{:?}", r.kind)) } td { (r.name) } td { (r.node) } td { (r.state) } td { code { (r.id) } } }
                } }
            }
        }
        details {
            summary { "Log (" (log.len()) " lines)" }
            pre { @for l in &log { (time_text(l.at)) "  " (l.message) "\n" } }
        }
        details {
            summary { "Template" }
            pre { (d.template) }
        }
        }
    };
    Ok(page(&title, Some(&viewer), Section::Deployments, body))
}

/// The value an input of `d` has, as text.
fn fixed_value(d: &DeploymentRecord, name: &str) -> String {
    match d.inputs.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn attempt_state(s: AttemptState) -> &'static str {
    match s {
        AttemptState::Creating => "requested",
        AttemptState::Building => "building",
        AttemptState::Ready => "ready",
        AttemptState::Cleaning => "failed, cleaning up",
        AttemptState::Cleaned => "failed, cleaned up",
        AttemptState::Orphaned => "failed; cleanup is retried by the reconciler",
        AttemptState::Kept => "failed, kept for debugging",
        AttemptState::Deleting => "deleting",
        AttemptState::Deleted => "deleted",
    }
}

fn actions(viewer: &Viewer, d: &DeploymentRecord, from_catalogue: bool) -> Markup {
    let deletable = !matches!(d.status, DeploymentStatus::DeleteComplete | DeploymentStatus::DeleteInProgress);
    // Only the owner may reuse secret inputs (the app refuses anyone else).
    let reusable = d.reusable_by(&viewer.caller());
    html! {
        div class="toolbar" {
            @if deletable {
                form method="post" action={"/deployments/" (d.id) "/delete"} data-confirm="Delete this deployment and every cloud resource it holds?" {
                    (viewer.csrf_field())
                    button type="submit" class="danger" { "Delete" }
                }
            }
            @if d.status == DeploymentStatus::DeleteInProgress {
                form method="post" action={"/deployments/" (d.id) "/reset"} data-confirm="Mark this stuck delete as failed? Resources may remain on the provider." {
                    (viewer.csrf_field())
                    button type="submit" class="secondary" { "Reset stuck delete" }
                }
            }
            @if matches!(d.status, DeploymentStatus::CreateFailed | DeploymentStatus::DeleteComplete) && from_catalogue && reusable {
                form method="post" action={"/deployments/" (d.id) "/again"} {
                    (viewer.csrf_field())
                    button type="submit" class="secondary" { "Deploy again with the same inputs" }
                }
            }
        }
    }
}

/// `GET /deployments/{id}/outputs/{name}`: one output's value, for the
/// "reveal" link (kept out of the details page's HTML).
async fn secret_output(
    State(state): State<WebState>,
    viewer: Viewer,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let d = state.app.deployment(&viewer.caller(), &id).await?;
    let value =
        d.outputs.get(&name).ok_or_else(|| Error::not_found(format!("deployment {id} has no output {name}")))?;
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], text)
        .into_response())
}

/// `POST /deployments/{id}/delete`.
async fn delete(
    State(state): State<WebState>,
    Path(id): Path<String>,
    post: Post<NoFields>,
) -> Result<Response, PageError> {
    state.app.delete_deployment(&post.viewer.caller(), &id).await?;
    Ok(Redirect::to(&format!("/deployments/{id}")).into_response())
}

/// `POST /deployments/{id}/reset`.
async fn reset(
    State(state): State<WebState>,
    Path(id): Path<String>,
    post: Post<NoFields>,
) -> Result<Response, PageError> {
    state.app.reset_deployment(&post.viewer.caller(), &id, DeploymentStatus::DeleteFailed).await?;
    Ok(Redirect::to(&format!("/deployments/{id}")).into_response())
}

/// `POST /deployments/{id}/again`: a new deployment of the same service
/// with the same inputs.
async fn again(
    State(state): State<WebState>,
    Path(id): Path<String>,
    post: Post<NoFields>,
) -> Result<Response, PageError> {
    let new = state.app.deploy_again(&post.viewer.caller(), &id).await?;
    Ok(Redirect::to(&format!("/deployments/{}", new.id)).into_response())
}

/// `POST /deployments/{id}/update`: new inputs.
async fn update(
    State(state): State<WebState>,
    Path(id): Path<String>,
    post: Post<NoFields>,
) -> Result<Response, PageError> {
    let caller = post.viewer.caller();
    let d = state.app.deployment(&caller, &id).await?;
    let entry = d
        .catalogue_id
        .as_deref()
        .map(|c| state.app.catalogue().get(c))
        .transpose()?
        .ok_or_else(|| Error::invalid("only catalogue deployments can be updated from the dashboard"))?;
    let (parameters, problems) = crate::catalogue::parameters(&entry.inputs, &post.pairs);
    if let Some((input, message)) = problems.first() {
        return Err(Error::invalid(format!("{input}: {message}")).into());
    }
    state.app.update_deployment(&caller, &id, UpdateDeployment { parameters, ..Default::default() }).await?;
    Ok(Redirect::to(&format!("/deployments/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_read_as_links_lists_or_code() {
        let ips = output_value("d", "worker_ips", &serde_json::json!(["10.0.0.3", "10.0.0.4"])).into_string();
        assert_eq!(ips, r#"<ul class="plain"><li><code>10.0.0.3</code></li><li><code>10.0.0.4</code></li></ul>"#);
        let url = output_value("d", "jupyter_url", &serde_json::json!("http://192.0.2.5:8000")).into_string();
        assert!(url.starts_with(r#"<a href="http://192.0.2.5:8000""#), "{url}");
        let nested = output_value("d", "map", &serde_json::json!([{"a": 1}])).into_string();
        assert_eq!(nested, "<code>[{&quot;a&quot;:1}]</code>", "escaped JSON");
        let secret = output_value("d", "admin_token", &serde_json::json!("s3cret")).into_string();
        assert!(!secret.contains("s3cret") && secret.contains("Reveal admin_token"), "{secret}");
        // INDIGO's credential outputs, by their usual names or by their shape.
        let creds = serde_json::json!({"user": "cloudadm", "token_type": "password", "token": "s3cret"});
        for name in ["node_creds", "cluster_creds", "access"] {
            let shown = output_value("d", name, &creds).into_string();
            assert!(!shown.contains("s3cret") && shown.contains("Reveal"), "{name}: {shown}");
        }
        let listed = output_value("d", "access", &serde_json::json!([creds])).into_string();
        assert!(!listed.contains("s3cret"), "{listed}");
    }
}
