//! Access requests and the acceptable-use policy, in the dashboard: a user
//! asks to join a group or to use a catalogue service; managers and admins
//! decide; the policy is accepted before a first deployment.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use nuvola_app::requests::NewRequest;
use nuvola_types::{Error, RequestKind, RequestStatus, Spelled};
use serde::Deserialize;

use crate::layout::{Section, notice, page, time};
use crate::session::{Post, Viewer, local_path};
use crate::{PageError, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/requests", get(requests).post(create))
        .route("/requests/decide", axum::routing::post(decide))
        .route("/policy", get(policy).post(accept))
}

#[derive(Debug, Default, Deserialize)]
struct Flash {
    #[serde(default)]
    done: String,
    /// Prefills the new request's form.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    target: String,
}

/// `GET /requests`: mine, a form for a new one, and (for managers and
/// admins) the pending ones to decide.
async fn requests(State(state): State<WebState>, viewer: Viewer, Query(f): Query<Flash>) -> Result<Markup, PageError> {
    let caller = viewer.caller();
    let all = state.app.requests(&caller, None).await?;
    let (mine, others): (Vec<_>, Vec<_>) =
        all.iter().partition(|r| r.subject == caller.subject && r.issuer == caller.issuer);
    let pending: Vec<_> = others.iter().filter(|r| r.status == RequestStatus::Pending).collect();
    let services = state.app.catalogue().entries();
    let body = html! {
        @match f.done.as_str() {
            "sent" => (notice("ok", "Your request was sent; you will be told of the decision.")),
            "decided" => (notice("ok", "The decision was recorded and the requester notified.")),
            _ => {}
        }
        h2 { "Ask for access" }
        form method="post" action="/requests" {
            (viewer.csrf_field())
            div class="field" {
                label for="kind" { "I would like" }
                select id="kind" name="kind" {
                    option value="group" { "to join a group" }
                    option value="catalogue" selected[f.kind == "catalogue"] { "to use a catalogue service" }
                }
            }
            div class="field" {
                label for="target" { "Group or service" }
                input id="target" name="target" type="text" required list="targets" aria-describedby="target-help" value=(f.target);
                datalist id="targets" { @for e in services { option value=(e.id) {} } }
                p class="help" id="target-help" { "The group's name (e.g. physics) or the service's id." }
            }
            div class="field" {
                label for="reason" { "Why (required)" }
                textarea id="reason" name="reason" rows="3" required {}
            }
            div class="field" {
                label for="email" { "Email for the answer (optional)" }
                input id="email" name="email" type="email" autocomplete="email";
            }
            button type="submit" { "Send request" }
        }
        h2 { "My requests" }
        @if mine.is_empty() { p { "None." } } @else { (table(&mine)) }
        @if !pending.is_empty() {
            h2 { "Waiting for your decision" }
            @for r in &pending {
                section class="card" aria-labelledby={"req-" (r.id)} {
                    h3 id={"req-" (r.id)} { (r.subject) " asks to " (if r.kind == RequestKind::Group { "join group " } else { "use " }) (r.target) }
                    p { "“" (r.reason) "” — " (time(r.created_at)) }
                    form method="post" action="/requests/decide" {
                        (viewer.csrf_field())
                        input type="hidden" name="id" value=(r.id);
                        div class="field" {
                            label for={"comment-" (r.id)} { "Comment to the requester" }
                            input id={"comment-" (r.id)} name="comment" type="text";
                        }
                        div class="toolbar" {
                            button type="submit" name="decision" value="approve" { "Approve" }
                            button type="submit" name="decision" value="reject" class="danger" { "Reject" }
                        }
                    }
                }
            }
        }
        @let decided: Vec<&nuvola_app::AccessRequest> = others.iter().copied().filter(|r| r.status != RequestStatus::Pending).collect();
        @if !decided.is_empty() {
            h2 { "Decided" }
            (table(&decided))
        }
    };
    Ok(page("Requests", Some(&viewer), Section::Requests, body))
}

fn table(rows: &[&nuvola_app::AccessRequest]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { "Who" } th scope="col" { "For" } th scope="col" { "Status" }
                th scope="col" { "Comment" } th scope="col" { "Asked" }
            } }
            tbody { @for r in rows {
                tr {
                    td { (r.subject) }
                    td { (r.kind) " " strong { (r.target) } }
                    td { span class={"badge " (match r.status { RequestStatus::Approved => "ok", RequestStatus::Rejected => "bad", RequestStatus::Pending => "busy" })} { (r.status) } }
                    td { (r.comment.as_deref().unwrap_or("")) }
                    td { (time(r.created_at)) }
                }
            } }
        }
    }
}

#[derive(Debug, Deserialize)]
struct RequestForm {
    kind: String,
    target: String,
    reason: String,
    #[serde(default)]
    email: String,
}

/// `POST /requests`.
async fn create(State(state): State<WebState>, post: Post<RequestForm>) -> Result<Response, PageError> {
    let f = post.form;
    let new = NewRequest {
        kind: RequestKind::parse(&f.kind).map_err(Error::from)?,
        target: f.target.trim().to_string(),
        reason: f.reason,
        email: Some(f.email.trim().to_string()).filter(|e| !e.is_empty()),
    };
    state.app.create_request(&post.viewer.caller(), new).await?;
    Ok(Redirect::to("/requests?done=sent").into_response())
}

#[derive(Debug, Deserialize)]
struct DecisionForm {
    id: String,
    decision: String,
    #[serde(default)]
    comment: String,
}

/// `POST /requests/decide`.
async fn decide(State(state): State<WebState>, post: Post<DecisionForm>) -> Result<Response, PageError> {
    let f = post.form;
    let approve = match f.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => return Err(Error::invalid(format!("decision must be approve or reject, not {other:?}")).into()),
    };
    state.app.decide_request(&post.viewer.caller(), &f.id, approve, &f.comment).await?;
    Ok(Redirect::to("/requests?done=decided").into_response())
}

#[derive(Debug, Default, Deserialize)]
struct PolicyQuery {
    next: Option<String>,
}

/// `GET /policy`: the current acceptable-use policy, and whether (and when)
/// the viewer accepted it.
async fn policy(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<PolicyQuery>,
) -> Result<Markup, PageError> {
    let current = state.app.policy(&viewer.caller()).await?;
    let next = local_path(q.next.as_deref());
    let body = html! {
        @match &current {
            None => p { "No acceptable-use policy is published." },
            Some((p, accepted)) => {
                p { "Version " (p.version) ", published " (time(p.published_at)) "." }
                div class="policy" { @for para in p.text.split("\n\n") { p { (para) } } }
                @match accepted {
                    Some(at) => (notice("ok", &format!("You accepted this version on {}.", chrono::DateTime::from_timestamp_millis(*at).unwrap_or_default().format("%Y-%m-%d %H:%M UTC")))),
                    None => {
                        form method="post" action="/policy" {
                            (viewer.csrf_field())
                            input type="hidden" name="version" value=(p.version);
                            input type="hidden" name="next" value=(next);
                            button type="submit" { "I accept these terms" }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Acceptable-use policy", Some(&viewer), Section::Other, body))
}

#[derive(Debug, Deserialize)]
struct AcceptForm {
    version: i64,
    #[serde(default)]
    next: String,
}

/// `POST /policy`.
async fn accept(State(state): State<WebState>, post: Post<AcceptForm>) -> Result<Response, PageError> {
    state.app.accept_policy(&post.viewer.caller(), post.form.version).await?;
    Ok(Redirect::to(&local_path(Some(&post.form.next))).into_response())
}
