//! The public status page (no sign-in): the overall state, the active
//! incidents with their updates, scheduled maintenance ("due to start in 2
//! days", "in progress"), each group's components with a state badge, a
//! 90-day history bar and this month's availability and reliability; a
//! page per incident, the history of past incidents, the Atom and RSS
//! feeds, and subscriptions by e-mail (double opt-in) or webhook. The
//! confirmation and unsubscribe links show a button that posts, so a mail
//! scanner following links changes nothing.
//!
//! For administrators, `/admin/status`: open, update and resolve
//! incidents, set and clear overrides, the subscribers and the log of
//! notifications sent, with the session's CSRF token on every form.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use nuvola_app::{ComponentHistory, Day, Feed, IncidentDraft, ShownComponent, StatusPage, UpdateDraft};
use nuvola_monitor::feed::{ATOM_CONTENT_TYPE, RSS_CONTENT_TYPE};
use nuvola_monitor::statuspage::Indicator;
use nuvola_types::status::Incident;
use nuvola_types::{ComponentState, Error, Impact, IncidentStatus, Spelled};
use serde::Deserialize;

use crate::layout::{Section, notice, page, time};
use crate::session::{ClientIp, Post, Viewer};
use crate::{PageError, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/status", get(status))
        .route("/status/incidents/{id}", get(incident))
        .route("/status/history", get(history))
        .route("/status/feed.atom", get(atom))
        .route("/status/feed.rss", get(rss))
        .route("/status/subscribe", post(subscribe))
        .route("/status/subscriptions/confirm", get(confirm_form).post(confirm))
        .route("/status/subscriptions/unsubscribe", get(unsubscribe_form).post(unsubscribe))
        .route("/admin/status", get(admin))
        .route("/admin/status/incidents", post(open_incident))
        .route("/admin/status/incidents/{id}", post(update_incident))
        .route("/admin/status/overrides", post(set_override))
}

/// The badge class of a state: never shown by colour alone.
fn state_class(state: ComponentState) -> &'static str {
    match state {
        ComponentState::Operational => "ok",
        ComponentState::DegradedPerformance | ComponentState::UnderMaintenance => "busy",
        ComponentState::PartialOutage | ComponentState::MajorOutage => "bad",
    }
}

fn state_badge(state: ComponentState) -> Markup {
    html! { span class={"badge " (state_class(state))} { (state.label()) } }
}

fn banner(indicator: Indicator) -> Markup {
    let kind = match indicator {
        Indicator::None => "ok",
        Indicator::Maintenance | Indicator::Minor => "info",
        Indicator::Major | Indicator::Critical => "error",
    };
    html! { div class={"notice banner " (kind)} role="status" { strong { (indicator.description()) } } }
}

fn percent(f: Option<f64>) -> String {
    f.map_or_else(|| "no data".to_string(), |f| format!("{:.2} %", f * 100.0))
}

/// What a day of the bar shows: its worst state, or maintenance when a
/// scheduled outage was the worst of it; `None`: not watched.
fn day_state(d: &Day) -> Option<ComponentState> {
    match d.worst {
        Some(w) if d.maintenance && w < ComponentState::PartialOutage => Some(ComponentState::UnderMaintenance),
        other => other,
    }
}

/// The 90 days as one SVG: runs of days alike drawn as one bar, each with
/// its dates and state in a `<title>`, and the whole summed up in words
/// for screen readers.
fn history_bar(name: &str, days: &[Day], labels: &[String]) -> Markup {
    let mut runs: Vec<(usize, usize, Option<ComponentState>)> = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let state = day_state(d);
        match runs.last_mut() {
            Some(run) if run.2 == state => run.1 = i,
            _ => runs.push((i, i, state)),
        }
    }
    let watched: Vec<f64> = days.iter().filter_map(|d| d.uptime).collect();
    let bad = days.iter().filter(|d| d.worst.is_some_and(|w| w >= ComponentState::PartialOutage)).count();
    let summary = if watched.is_empty() {
        format!("{name}, last {} days: no data yet", days.len())
    } else {
        let mean = watched.iter().sum::<f64>() / watched.len() as f64;
        format!("{name}, last {} days: {} with an outage, uptime {:.2} %", days.len(), bad, mean * 100.0)
    };
    let date = |i: usize| labels.get(i).map_or("", String::as_str);
    html! {
        svg class="days" viewBox={"0 0 " (days.len() * 4) " 24"} preserveAspectRatio="none" role="img" aria-label=(summary) {
            @for (from, to, state) in &runs {
                rect class={"day " (state.map_or("none", state_class))} x=(from * 4) y="0" width=((to - from + 1) * 4 - 1) height="24" {
                    title {
                        (date(*from))
                        @if to != from { " – " (date(*to)) }
                        ": " (state.map_or("no data", |s| s.label()))
                        @if to == from { @if let Some(u) = days[*from].uptime { (format!(", up {:.2} %", u * 100.0)) } }
                    }
                }
            }
        }
    }
}

/// The days' labels ("Dec 7"), the same for every component's bar.
fn day_labels(history: &[ComponentHistory]) -> Vec<String> {
    let days = history.first().map_or(&[][..], |h| h.days.as_slice());
    days.iter()
        .map(|d| chrono::DateTime::from_timestamp_millis(d.start).unwrap_or_default().format("%b %-d").to_string())
        .collect()
}

fn component_row(c: &ShownComponent, h: Option<&ComponentHistory>, labels: &[String]) -> Markup {
    html! {
        li class="component" {
            div class="component-head" {
                span class="component-name" { (c.component.name) }
                (state_badge(c.shown))
            }
            @if let Some(o) = &c.overridden {
                @if !o.note.is_empty() { p class="meta" { "Operator's note: " (o.note) } }
            } @else if c.shown != ComponentState::Operational && !c.reason.is_empty() {
                p class="meta" { (c.reason) }
            }
            @if let Some(h) = h {
                (history_bar(&c.component.name, &h.days, labels))
                p class="meta" {
                    "This month: availability " (percent(h.month_figures.availability))
                    ", reliability " (percent(h.month_figures.reliability))
                }
            }
        }
    }
}

fn updates(i: &Incident) -> Markup {
    html! {
        ol class="timeline" {
            @for u in &i.updates {
                li {
                    strong { (capitalised(u.status.as_str())) } " — " (time(u.at))
                    p { (u.body) }
                }
            }
        }
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn impact_label(impact: Impact) -> &'static str {
    match impact {
        Impact::None => "no impact",
        Impact::Minor => "minor impact",
        Impact::Major => "major impact",
        Impact::Critical => "critical impact",
    }
}

fn subscribe_form(p: &StatusPage) -> Markup {
    html! {
        section aria-labelledby="subscribe" {
            h2 id="subscribe" { "Subscribe" }
            p { "Be told of incidents and maintenance by e-mail (you confirm from the mail first) or by a signed webhook. Feeds: "
                a href="/status/feed.atom" { "Atom" } ", " a href="/status/feed.rss" { "RSS" } "." }
            form method="post" action="/status/subscribe" {
                fieldset {
                    legend { "How" }
                    div { input type="radio" id="kind-email" name="kind" value="email" checked; label for="kind-email" { "E-mail" } }
                    div { input type="radio" id="kind-webhook" name="kind" value="webhook"; label for="kind-webhook" { "Webhook" } }
                }
                div class="field" {
                    label for="address" { "E-mail address or webhook URL" }
                    input id="address" name="address" type="text" required autocomplete="email";
                }
                fieldset {
                    legend { "Which components (none ticked: all of them)" }
                    @for c in &p.components {
                        @let id = format!("sub-{}", c.component.id.replace('/', "-"));
                        div { input type="checkbox" id=(id) name="component" value=(c.component.id); label for=(id) { (c.component.group.label()) ": " (c.component.name) } }
                    }
                }
                button type="submit" { "Subscribe" }
            }
        }
    }
}

/// `GET /status`.
async fn status(State(state): State<WebState>, viewer: Option<Viewer>) -> Result<Markup, PageError> {
    let p = state.app.status_page().await?;
    let history = state.app.status_history().await?;
    let labels = day_labels(&history);
    let body = html! {
        (banner(p.indicator()))
        p class="meta" {
            @if p.probed_at > 0 { "Checked at " (time(p.probed_at)) ". " } @else { "Not checked yet since the server started. " }
            a href="/status/history" { "Past incidents" } " · "
            a href="/api/v2/summary.json" { "JSON" } " · "
            a href="#subscribe" { "Subscribe" }
        }
        @if !p.incidents.is_empty() {
            section aria-labelledby="active" {
                h2 id="active" { "Active incidents" }
                @for i in &p.incidents {
                    article class="card" {
                        h3 { a href={"/status/incidents/" (i.id)} { (i.title) } }
                        p class="meta" { (capitalised(i.status.as_str())) ", " (impact_label(i.impact)) ", since " (time(i.created_at)) }
                        (updates(i))
                    }
                }
            }
        }
        @let upcoming: Vec<_> = p.upcoming().collect();
        @if !upcoming.is_empty() {
            section aria-labelledby="maintenance" {
                h2 id="maintenance" { "Scheduled maintenance" }
                ul class="maintenances" {
                    @for m in upcoming {
                        li {
                            strong { (m.title()) } " — " (m.notice())
                            p class="meta" { "From " (time(m.start)) " to " (time(m.end)) ", " (m.component.name) }
                        }
                    }
                }
            }
        }
        @for (group, members) in p.groups() {
            section aria-labelledby={"g-" (group.slug())} {
                h2 id={"g-" (group.slug())} { (group.label()) }
                ul class="components" {
                    @for c in members {
                        (component_row(c, history.iter().find(|h| h.component == c.component.id), &labels))
                    }
                }
            }
        }
        @if p.components.is_empty() { p { "No component has been checked yet." } }
        (subscribe_form(&p))
    };
    Ok(page("Status", viewer.as_ref(), Section::Other, body))
}

/// `GET /status/incidents/{id}`.
async fn incident(
    State(state): State<WebState>,
    viewer: Option<Viewer>,
    Path(id): Path<String>,
) -> Result<Markup, PageError> {
    let i = state.app.status_incident(&id).await?;
    let body = html! {
        p class="meta" {
            (capitalised(i.status.as_str())) ", " (impact_label(i.impact)) ". Opened " (time(i.created_at))
            @if let Some(at) = i.resolved_at { ", resolved " (time(at)) }
            "."
        }
        @if !i.components.is_empty() {
            h2 { "Affected components" }
            ul { @for c in &i.components { li { code { (c.component) } " " (state_badge(c.state)) } } }
        }
        h2 { "Updates" }
        (updates(&i))
        p { a href="/status" { "Back to the status page" } }
    };
    Ok(page(&i.title, viewer.as_ref(), Section::Other, body))
}

#[derive(Debug, Default, Deserialize)]
struct HistoryQuery {
    /// `<created_at>:<id>` of the last incident of the page before.
    #[serde(default)]
    before: String,
}

/// `GET /status/history`: past incidents, 25 a page.
async fn history(
    State(state): State<WebState>,
    viewer: Option<Viewer>,
    Query(q): Query<HistoryQuery>,
) -> Result<Markup, PageError> {
    let before = match q.before.split_once(':') {
        None if q.before.is_empty() => None,
        Some((at, id)) if at.parse::<i64>().is_ok() => Some((at.parse().unwrap_or_default(), id.to_string())),
        _ => return Err(PageError(Error::invalid("before must be <time>:<incident id>, from a 'Older' link"))),
    };
    let listing = state.app.status_incidents(before, 25).await?;
    let body = html! {
        p class="meta" { (listing.total) " incidents in all." }
        @if listing.incidents.is_empty() { p { "No incidents." } }
        table {
            caption class="visually-hidden" { "Past incidents, newest first" }
            thead { tr { th scope="col" { "Incident" } th scope="col" { "Status" } th scope="col" { "Impact" } th scope="col" { "Opened" } } }
            tbody {
                @for i in &listing.incidents {
                    tr {
                        td { a href={"/status/incidents/" (i.id)} { (i.title) } }
                        td { (capitalised(i.status.as_str())) }
                        td { (impact_label(i.impact)) }
                        td { (time(i.created_at)) }
                    }
                }
            }
        }
        @if let Some((at, id)) = &listing.next {
            p { a href={"/status/history?before=" (at) ":" (id)} { "Older incidents" } }
        }
        p { a href="/status" { "Back to the status page" } }
    };
    Ok(page("Past incidents", viewer.as_ref(), Section::Other, body))
}

async fn atom(State(state): State<WebState>) -> Result<Response, PageError> {
    Ok(([(header::CONTENT_TYPE, ATOM_CONTENT_TYPE)], state.app.status_feed(Feed::Atom).await?).into_response())
}

async fn rss(State(state): State<WebState>) -> Result<Response, PageError> {
    Ok(([(header::CONTENT_TYPE, RSS_CONTENT_TYPE)], state.app.status_feed(Feed::Rss).await?).into_response())
}

/// `POST /status/subscribe`: open to anyone. No CSRF token (there is no
/// session): an e-mail subscription does nothing until confirmed from
/// the mail, and a webhook needs an allowed URL. Limited per client
/// address, and by mail per mailbox: over a limit, a 429 page says when to
/// try again, and no mail goes out.
async fn subscribe(
    State(state): State<WebState>,
    viewer: Option<Viewer>,
    ClientIp(client_ip): ClientIp,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Result<Markup, PageError> {
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string());
    let components: Vec<String> =
        pairs.iter().filter(|(k, _)| k == "component").map(|(_, v)| v.trim().to_string()).collect();
    let address = field("address").unwrap_or_default();
    let body = match field("kind").as_deref() {
        Some("webhook") => {
            let made = state.app.subscribe_webhook(&address, &components, client_ip.as_deref()).await?;
            html! {
                (notice("ok", "Your webhook is subscribed."))
                p { "Keep these two values now: they are shown only once." }
                dl class="facts" {
                    dt { "Signing secret" } dd { code { (made.secret) } }
                    dt { "Unsubscribe token" } dd { code { (made.unsubscribe_token) } }
                }
                p { "Each delivery is signed: check " code { "X-Nuvola-Signature" } " as the README says. To unsubscribe, open "
                    code { (state.public_url) "/status/subscriptions/unsubscribe?token=" (made.unsubscribe_token) } "." }
            }
        }
        Some("email") | None => {
            state.app.subscribe_email(&address, &components, client_ip.as_deref()).await?;
            html! {
                (notice("ok", &format!("A mail is on its way to {address}: open its link to confirm.")))
                p { "Nothing more is sent until you confirm. The link works for 48 hours." }
            }
        }
        Some(other) => return Err(PageError(Error::invalid(format!("kind must be email or webhook, not {other:?}")))),
    };
    let body = html! { (body) p { a href="/status" { "Back to the status page" } } };
    Ok(page("Subscription", viewer.as_ref(), Section::Other, body))
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

fn token_form(title: &str, action: &str, button: &str, token: &str, viewer: Option<&Viewer>) -> Markup {
    let body = html! {
        form method="post" action=(action) {
            input type="hidden" name="token" value=(token);
            button type="submit" { (button) }
        }
    };
    page(title, viewer, Section::Other, body)
}

async fn confirm_form(viewer: Option<Viewer>, Query(q): Query<TokenForm>) -> Markup {
    token_form("Confirm your subscription", "/status/subscriptions/confirm", "Confirm", &q.token, viewer.as_ref())
}

async fn confirm(
    State(state): State<WebState>,
    viewer: Option<Viewer>,
    axum::Form(f): axum::Form<TokenForm>,
) -> Result<Markup, PageError> {
    state.app.confirm_subscription(&f.token).await?;
    let body = html! {
        (notice("ok", "Your subscription is confirmed: you will be told of incidents and maintenance."))
        p { a href="/status" { "Back to the status page" } }
    };
    Ok(page("Subscription confirmed", viewer.as_ref(), Section::Other, body))
}

async fn unsubscribe_form(viewer: Option<Viewer>, Query(q): Query<TokenForm>) -> Markup {
    token_form("Unsubscribe", "/status/subscriptions/unsubscribe", "Unsubscribe", &q.token, viewer.as_ref())
}

async fn unsubscribe(
    State(state): State<WebState>,
    viewer: Option<Viewer>,
    axum::Form(f): axum::Form<TokenForm>,
) -> Result<Markup, PageError> {
    let removed = state.app.unsubscribe(&f.token).await?;
    let said = if removed {
        "You are unsubscribed: nothing more will be sent."
    } else {
        "There was no such subscription (already ended?)."
    };
    let body = html! { (notice("ok", said)) p { a href="/status" { "Back to the status page" } } };
    Ok(page("Unsubscribed", viewer.as_ref(), Section::Other, body))
}

fn options<T: Spelled + PartialEq + Copy>(all: &[T], label: impl Fn(T) -> String, selected: Option<T>) -> Markup {
    html! { @for v in all { option value=(v.as_str()) selected[Some(*v) == selected] { (label(*v)) } } }
}

/// `GET /admin/status`.
async fn admin(State(state): State<WebState>, viewer: Viewer) -> Result<Markup, PageError> {
    let caller = viewer.caller();
    let subscriptions = state.app.status_subscriptions(&caller).await?;
    let sent = state.app.sent_notifications(&caller, 100).await?;
    let p = state.app.status_page().await?;
    let components = &p.components;
    let state_options = |selected| options(ComponentState::ALL, |s| s.label().to_string(), selected);
    let body = html! {
        p { a href="/status" { "The public page" } }
        section aria-labelledby="open" {
            h2 id="open" { "Open an incident" }
            form method="post" action="/admin/status/incidents" {
                (viewer.csrf_field())
                div class="field" { label for="title" { "Title" } input id="title" name="title" required maxlength="200"; }
                div class="field" { label for="impact" { "Impact" } select id="impact" name="impact" { (options(Impact::ALL, |i| impact_label(i).to_string(), Some(Impact::Minor))) } }
                div class="field" { label for="status" { "Status" } select id="status" name="status" { (options(IncidentStatus::ALL, |s| capitalised(s.as_str()), None)) } }
                div class="field" { label for="body" { "First update" } textarea id="body" name="body" required rows="3" {} }
                fieldset {
                    legend { "Affected components and their state" }
                    @for c in components {
                        @let id = format!("aff-{}", c.component.id.replace('/', "-"));
                        div class="pair" {
                            label for=(id) { (c.component.name) }
                            select id=(id) name={"state:" (c.component.id)} {
                                option value="" { "not affected" }
                                (state_options(None))
                            }
                        }
                    }
                }
                button type="submit" { "Open the incident" }
            }
        }
        section aria-labelledby="incidents" {
            h2 id="incidents" { "Unresolved incidents" }
            @if p.incidents.is_empty() { p { "None." } }
            @for i in &p.incidents {
                article class="card" {
                    h3 { a href={"/status/incidents/" (i.id)} { (i.title) } }
                    p class="meta" { (capitalised(i.status.as_str())) ", " (impact_label(i.impact)) ", opened " (time(i.created_at)) " by " (i.created_by) }
                    form method="post" action={"/admin/status/incidents/" (i.id)} {
                        (viewer.csrf_field())
                        @let s = format!("st-{}", i.id);
                        @let b = format!("up-{}", i.id);
                        div class="field" { label for=(s) { "Status" } select id=(s) name="status" { (options(IncidentStatus::ALL, |s| capitalised(s.as_str()), Some(i.status))) } }
                        div class="field" { label for=(b) { "Update" } textarea id=(b) name="body" required rows="2" {} }
                        button type="submit" { "Post the update" }
                    }
                }
            }
        }
        section aria-labelledby="overrides" {
            h2 id="overrides" { "Components and overrides" }
            table {
                caption class="visually-hidden" { "Each component's probes and override" }
                thead { tr { th scope="col" { "Component" } th scope="col" { "Probes say" } th scope="col" { "Shown" } th scope="col" { "Override" } } }
                tbody {
                    @for c in components {
                        @let id = format!("ov-{}", c.component.id.replace('/', "-"));
                        tr {
                            td { (c.component.name) br; code { (c.component.id) } }
                            td { (state_badge(c.derived)) }
                            td { (state_badge(c.shown)) @if let Some(o) = &c.overridden { br; span class="meta" { "by " (o.set_by) ": " (o.note) } } }
                            td {
                                form method="post" action="/admin/status/overrides" class="inline" {
                                    (viewer.csrf_field())
                                    input type="hidden" name="component" value=(c.component.id);
                                    label for=(id) class="visually-hidden" { "Override of " (c.component.name) }
                                    select id=(id) name="state" {
                                        option value="" { "none (what the probes say)" }
                                        (state_options(c.overridden.as_ref().map(|o| o.state)))
                                    }
                                    label for={(id) "-note"} class="visually-hidden" { "Note for " (c.component.name) }
                                    input id={(id) "-note"} name="note" placeholder="note" maxlength="200" value=(c.overridden.as_ref().map_or("", |o| o.note.as_str()));
                                    button type="submit" class="secondary" { "Set" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="subscribers" {
            h2 id="subscribers" { "Subscribers (" (subscriptions.len()) ")" }
            table {
                caption class="visually-hidden" { "Subscriptions" }
                thead { tr { th scope="col" { "Kind" } th scope="col" { "Address" } th scope="col" { "Components" } th scope="col" { "Confirmed" } } }
                tbody {
                    @for s in &subscriptions {
                        tr {
                            td { (s.kind.as_str()) } td { (s.address) }
                            td { @if s.components.is_empty() { "all" } @else { (s.components.join(", ")) } }
                            td { @match s.confirmed_at { Some(at) => (time(at)), None => "waiting" } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="sent" {
            h2 id="sent" { "Notifications sent (newest 100)" }
            div class="table-scroll" {
                table {
                    caption class="visually-hidden" { "Notifications sent" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "Channel" } th scope="col" { "To" } th scope="col" { "Subject" } th scope="col" { "Outcome" } } }
                    tbody {
                        @for n in &sent {
                            tr { td { (time(n.at)) } td { (n.channel) } td { (n.recipient) } td { (n.subject) } td { (n.outcome) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Status page administration", Some(&viewer), Section::Admin, body))
}

/// `POST /admin/status/incidents`: the affected components come as
/// `state:<component id>` fields.
async fn open_incident(State(state): State<WebState>, post: Post<OpenForm>) -> Result<Response, PageError> {
    let mut components = Vec::new();
    for (key, value) in &post.pairs {
        if let Some(id) = key.strip_prefix("state:")
            && !value.is_empty()
        {
            components.push((id.to_string(), parse::<ComponentState>(value)?));
        }
    }
    let draft = IncidentDraft {
        title: post.form.title.clone(),
        impact: parse(&post.form.impact)?,
        status: parse(&post.form.status)?,
        body: post.form.body.clone(),
        components,
    };
    let incident = state.app.open_incident(&post.viewer.caller(), &draft).await?;
    Ok(Redirect::to(&format!("/status/incidents/{}", incident.id)).into_response())
}

fn parse<T: Spelled>(word: &str) -> Result<T, PageError> {
    T::parse(word).map_err(|e| PageError(Error::invalid(e.to_string())))
}

#[derive(Debug, Deserialize)]
struct OpenForm {
    title: String,
    impact: String,
    status: String,
    body: String,
}

#[derive(Debug, Deserialize)]
struct UpdateForm {
    status: String,
    body: String,
}

/// `POST /admin/status/incidents/{id}`.
async fn update_incident(
    State(state): State<WebState>,
    Path(id): Path<String>,
    post: Post<UpdateForm>,
) -> Result<Response, PageError> {
    let update =
        UpdateDraft { status: parse(&post.form.status)?, body: post.form.body.clone(), ..UpdateDraft::default() };
    state.app.update_incident(&post.viewer.caller(), &id, &update).await?;
    Ok(Redirect::to("/admin/status").into_response())
}

#[derive(Debug, Deserialize)]
struct OverrideForm {
    component: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    note: String,
}

/// `POST /admin/status/overrides`: an empty state clears it.
async fn set_override(State(state): State<WebState>, post: Post<OverrideForm>) -> Result<Response, PageError> {
    let wanted = match post.form.state.as_str() {
        "" => None,
        word => Some(parse::<ComponentState>(word)?),
    };
    state.app.override_component(&post.viewer.caller(), &post.form.component, wanted, &post.form.note).await?;
    Ok(Redirect::to("/admin/status").into_response())
}
