//! Administration: providers (services, flavors, SLAs, quotas, usage,
//! health, orphan resources) with their maintenance windows, enable/disable
//! and the cleaning of orphans, every
//! deployment with filters, the groups and who is in them, and the audit
//! log. Every page asks the app layer, which refuses non-administrators.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{Markup, html};
use nuvola_app::deployments::ListQuery;
use nuvola_app::orphans::{OrphanFilter, OrphanReport};
use nuvola_app::{AuditFilter, now_ms};
use nuvola_types::{DeploymentStatus, Error, MaintenanceKind, MaintenanceWindow, Quota, Usage};
use serde::Deserialize;
use serde_json::json;

use crate::deployments::status_badge;
use crate::layout::{Section, duration, notice, page, time};
use crate::session::{Post, Viewer};
use crate::{PageError, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/admin/providers", get(providers))
        .route("/admin/providers/{name}/maintenance", post(add_maintenance))
        .route("/admin/providers/{name}/maintenance/remove", post(remove_maintenance))
        .route("/admin/providers/{name}/enabled", post(set_enabled))
        .route("/admin/providers/{name}/orphans/clean", post(clean_orphans))
        .route("/admin/deployments", get(all_deployments))
        .route("/admin/groups", get(groups))
        .route("/admin/audit", get(audit))
}

pub(crate) fn admin_nav(current: &str) -> Markup {
    let items = [
        ("/admin/providers", "Providers"),
        ("/admin/deployments", "All deployments"),
        ("/admin/groups", "Groups"),
        ("/admin/operations", "Operations"),
        ("/admin/alerts", "Alerts"),
        ("/bulletins", "Bulletins"),
        ("/requests", "Requests"),
        ("/admin/audit", "Audit log"),
        ("/admin/status", "Status page"),
        ("/stats", "Statistics"),
    ];
    html! {
        nav aria-label="Administration" class="toolbar" {
            @for (href, label) in items {
                @if href == current { a href=(href) aria-current="page" { strong { (label) } } }
                @else { a href=(href) { (label) } }
            }
        }
    }
}

fn require_admin(state: &WebState, viewer: &Viewer) -> Result<(), PageError> {
    state.app.require_admin(&viewer.caller()).map_err(PageError)
}

fn quota_text(q: &Quota, u: Option<&Usage>) -> String {
    let u = u.copied().unwrap_or_default();
    let one = |label: &str, used: u64, limit: Option<u64>| match limit {
        Some(l) => format!("{label} {used}/{l}"),
        None => format!("{label} {used}/∞"),
    };
    [
        one("VMs", u.instances, q.instances),
        one("cores", u.cores, q.cores),
        one("RAM GB", u.ram_mb / 1024, q.ram_mb.map(|m| m / 1024)),
        one("GPUs", u.gpus, q.gpus),
        one("volumes", u.volumes, q.volumes),
    ]
    .join(", ")
}

/// `GET /admin/providers`.
async fn providers(State(state): State<WebState>, viewer: Viewer) -> Result<Markup, PageError> {
    require_admin(&state, &viewer)?;
    let views = state.app.visible_providers(&viewer.caller()).await?;
    let health = state.app.provider_health(&viewer.caller()).await?;
    let orphans = state.app.last_orphan_scan(&viewer.caller())?;
    let now = Utc::now();
    let body = html! {
        (admin_nav("/admin/providers"))
        @for v in &views {
            @let p = &v.spec;
            @let h = health.get(&p.name);
            @let in_maintenance = p.maintenance.iter().any(|w| w.overlaps(now, now + chrono::Duration::seconds(1)));
            section aria-labelledby={"p-" (p.name)} {
                h2 id={"p-" (p.name)} {
                    (p.name) " "
                    @if !p.enabled { span class="badge bad" { "disabled" } }
                    @else if in_maintenance { span class="badge busy" { "in maintenance" } }
                    @else { span class="badge ok" { "enabled" } }
                }
                dl class="facts" {
                    dt { "Region" } dd { (p.region) }
                    dt { "Driver" } dd { (p.driver) " at " code { (p.endpoint) } }
                    dt { "Accepted issuers" } dd { @if p.issuers.is_empty() { "any trusted issuer" } @else { (p.issuers.join(", ")) } }
                    dt { "Public IPs" } dd { (if p.public_ips { "yes" } else { "no" }) }
                    dt { "Health (24 h)" } dd {
                        @match h.and_then(|h| h.success_rate) {
                            Some(r) => { (format!("{:.0}% of attempts succeeded", r * 100.0)) }
                            None => { "no recent attempts" }
                        }
                        @if let Some(m) = h.and_then(|h| h.median_create_secs) { (format!("; median create {m:.0} s")) }
                    }
                }
                form method="post" action={"/admin/providers/" (p.name) "/enabled"} class="inline" {
                    (viewer.csrf_field())
                    input type="hidden" name="enabled" value=(if p.enabled { "false" } else { "true" });
                    button type="submit" class="secondary" { (if p.enabled { "Disable" } else { "Enable" }) " " (p.name) }
                }
                details {
                    summary { "Flavors (" (p.flavors.len()) "), images (" (p.images.len()) "), volume types (" (p.volume_types.len()) ")" }
                    table {
                        caption { "Flavors of " (p.name) }
                        thead { tr { th scope="col" { "Flavor" } th class="num" scope="col" { "vCPU" } th class="num" scope="col" { "RAM GB" } th class="num" scope="col" { "Disk GB" } th scope="col" { "GPU" } } }
                        tbody { @for f in &p.flavors {
                            tr {
                                td { (f.name) } td class="num" { (f.vcpus) } td class="num" { (f.ram_mb / 1024) } td class="num" { (f.disk_gb) }
                                td { @if f.gpus > 0 { (f.gpus) " × " (f.gpu_vendor.as_deref().unwrap_or("")) " " (f.gpu_model.as_deref().unwrap_or("")) } }
                            }
                        } }
                    }
                    p { "Images: " (p.images.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")) }
                    p { "Volume types: " (p.volume_types.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")) }
                }
                table {
                    caption { "SLAs on " (p.name) }
                    thead { tr { th scope="col" { "Group" } th scope="col" { "SLA" } th class="num" scope="col" { "Priority" } th scope="col" { "Used / quota" } } }
                    tbody { @for (g, grant) in &p.groups {
                        tr { td { (g) } td { (grant.sla_id) } td class="num" { (grant.priority) } td { (quota_text(&grant.quota, v.usage.get(g))) } }
                    } }
                }
                (orphans_section(&state, &viewer, &p.name, orphans.as_ref()))
                h3 { "Maintenance windows" }
                @if p.maintenance.is_empty() { p { "None scheduled." } }
                ul {
                    @for (i, w) in p.maintenance.iter().enumerate() {
                        li {
                            (w.start.format("%Y-%m-%d %H:%M")) " – " (w.end.format("%Y-%m-%d %H:%M UTC"))
                            " (" (w.kind.label()) ")"
                            @if !w.reason.is_empty() { ": " (w.reason) }
                            " "
                            form method="post" action={"/admin/providers/" (p.name) "/maintenance/remove"} class="inline" {
                                (viewer.csrf_field())
                                input type="hidden" name="start" value=(w.start.to_rfc3339());
                                input type="hidden" name="end" value=(w.end.to_rfc3339());
                                button type="submit" class="secondary" aria-label={"Remove maintenance window " (i + 1) " of " (p.name)} { "Remove" }
                            }
                        }
                    }
                }
                details {
                    summary { "Schedule maintenance on " (p.name) }
                    form method="post" action={"/admin/providers/" (p.name) "/maintenance"} {
                        (viewer.csrf_field())
                        div class="field" {
                            label for={"start-" (p.name)} { "Start (UTC)" }
                            input id={"start-" (p.name)} name="start" type="datetime-local" required;
                        }
                        div class="field" {
                            label for={"end-" (p.name)} { "End (UTC)" }
                            input id={"end-" (p.name)} name="end" type="datetime-local" required;
                        }
                        div class="field" {
                            label for={"reason-" (p.name)} { "Reason" }
                            input id={"reason-" (p.name)} name="reason" type="text";
                        }
                        div class="field" {
                            label for={"kind-" (p.name)} { "Kind" }
                            select id={"kind-" (p.name)} name="kind" {
                                option value="outage" selected { "Outage: no deployment is placed there" }
                                option value="at_risk" { "At risk: deployments go on, users are warned" }
                            }
                        }
                        button type="submit" { "Schedule" }
                    }
                }
            }
        }
    };
    Ok(page("Providers", Some(&viewer), Section::Admin, body))
}

fn parse_local(text: &str, what: &str) -> Result<DateTime<Utc>, Error> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").map(|n| n.and_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").map(|n| n.and_utc()))
        .map_err(|_| Error::invalid(format!("{what} {t:?} is not a date and time like 2026-12-01T08:00")))
}

#[derive(Debug, Deserialize)]
struct MaintenanceForm {
    start: String,
    end: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    kind: MaintenanceKind,
}

/// `POST /admin/providers/{name}/maintenance`.
async fn add_maintenance(
    State(state): State<WebState>,
    Path(name): Path<String>,
    post: Post<MaintenanceForm>,
) -> Result<Response, PageError> {
    let start = parse_local(&post.form.start, "start")?;
    let end = parse_local(&post.form.end, "end")?;
    let window = MaintenanceWindow { start, end, reason: post.form.reason.trim().to_string(), kind: post.form.kind };
    state.app.add_maintenance(&post.viewer.caller(), &name, window).await?;
    Ok(Redirect::to("/admin/providers").into_response())
}

/// Which maintenance window to remove: its start and end, as shown.
#[derive(Debug, Deserialize)]
struct WindowForm {
    start: String,
    end: String,
}

/// `POST /admin/providers/{name}/maintenance/remove`.
async fn remove_maintenance(
    State(state): State<WebState>,
    Path(name): Path<String>,
    post: Post<WindowForm>,
) -> Result<Response, PageError> {
    let start = parse_local(&post.form.start, "start")?;
    let end = parse_local(&post.form.end, "end")?;
    state.app.remove_maintenance(&post.viewer.caller(), &name, start, end).await?;
    Ok(Redirect::to("/admin/providers").into_response())
}

#[derive(Debug, Deserialize)]
struct EnabledForm {
    enabled: bool,
}

/// `POST /admin/providers/{name}/enabled`.
async fn set_enabled(
    State(state): State<WebState>,
    Path(name): Path<String>,
    post: Post<EnabledForm>,
) -> Result<Response, PageError> {
    state.app.patch_provider(&post.viewer.caller(), &name, &json!({ "enabled": post.form.enabled })).await?;
    Ok(Redirect::to("/admin/providers").into_response())
}

/// What the last orphan scan found on `provider`, each orphan attempt with
/// a button to delete its resources.
fn orphans_section(state: &WebState, viewer: &Viewer, provider: &str, scan: Option<&OrphanReport>) -> Markup {
    let found = scan.and_then(|r| r.providers.iter().find(|p| p.provider == provider).map(|p| (r.checked_at, p)));
    html! {
        h3 { "Orphan resources" }
        @match found {
            None => p { "Not scanned yet; the reconciler scans every " (duration(state.app.settings().orphan_scan_interval.as_millis() as i64)) "." },
            Some((at, p)) if p.error.is_some() => p { "Could not be checked at " (time(at)) ": " (p.error.as_deref().unwrap_or_default()) },
            Some((at, p)) if p.orphans.is_empty() => p { "None at " (time(at)) "." },
            Some((at, p)) => table {
                caption { "Orphan resources on " (provider) " at " (time(at)) }
                thead { tr { th scope="col" { "Attempt" } th scope="col" { "Deployment" } th scope="col" { "Resources" } th scope="col" { "Why" } th scope="col" { span class="visually-hidden" { "Action" } } } }
                tbody { @for o in &p.orphans {
                    tr {
                        td { code { (o.attempt_id) } }
                        td { (o.deployment_id.as_deref().unwrap_or("-")) }
                        td { (o.resources.iter().map(|r| format!("{:?} {}", r.kind, r.name)).collect::<Vec<_>>().join(", ")) }
                        td { (o.why) }
                        td {
                            form method="post" action={"/admin/providers/" (provider) "/orphans/clean"} class="inline" {
                                (viewer.csrf_field())
                                input type="hidden" name="attempt" value=(o.attempt_id);
                                button type="submit" class="secondary" aria-label={"Delete the resources of attempt " (o.attempt_id)} { "Delete" }
                            }
                        }
                    }
                } }
            },
        }
    }
}

#[derive(Debug, Deserialize)]
struct CleanForm {
    attempt: String,
}

/// `POST /admin/providers/{name}/orphans/clean`: deletes one orphan
/// attempt's resources (the app checks it is still an orphan).
async fn clean_orphans(
    State(state): State<WebState>,
    Path(name): Path<String>,
    post: Post<CleanForm>,
) -> Result<Response, PageError> {
    let filter = OrphanFilter { provider: Some(name), attempt_id: Some(post.form.attempt) };
    state.app.clean_orphans(&post.viewer.caller(), &filter).await?;
    Ok(Redirect::to("/admin/providers").into_response())
}

#[derive(Debug, Default, Deserialize)]
struct AllQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    page: i64,
}

/// `GET /admin/deployments`: everyone's, filtered by status and group.
async fn all_deployments(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<AllQuery>,
) -> Result<Markup, PageError> {
    require_admin(&state, &viewer)?;
    let status = match q.status.as_str() {
        "" => None,
        s => Some(DeploymentStatus::parse(s).ok_or_else(|| Error::invalid(format!("unknown status {s:?}")))?),
    };
    let query = ListQuery {
        created_by: None,
        user_group: Some(q.group.trim().to_string()).filter(|g| !g.is_empty()),
        excluded_status: Vec::new(),
        status,
        page: q.page.max(0),
        size: 100,
    };
    let (rows, total) = state.app.list_deployments(&viewer.caller(), &query).await?;
    let now = now_ms();
    let body = html! {
        (admin_nav("/admin/deployments"))
        form method="get" action="/admin/deployments" class="toolbar" {
            div class="field" {
                label for="status" { "Status" }
                select id="status" name="status" {
                    option value="" { "Any" }
                    @for s in DeploymentStatus::ALL { option value=(s.as_str()) selected[q.status == s.as_str()] { (s.as_str()) } }
                }
            }
            div class="field" {
                label for="group" { "Group" }
                input id="group" name="group" type="text" value=(q.group);
            }
            button type="submit" { "Filter" }
        }
        p role="status" { (total) " deployment(s)" }
        table {
            thead { tr {
                th scope="col" { "Deployment" } th scope="col" { "Group" } th scope="col" { "Owner" } th scope="col" { "Service" }
                th scope="col" { "Status" } th scope="col" { "Provider" } th scope="col" { "Created" }
            } }
            tbody { @for d in &rows {
                tr {
                    td { a href={"/deployments/" (d.id)} { code { (&d.id[..8.min(d.id.len())]) } } }
                    td { (d.user_group) } td { (d.owner_subject) }
                    td { (d.catalogue_id.as_deref().unwrap_or("custom")) }
                    td { (status_badge(d.status)) } td { (d.provider.as_deref().unwrap_or("—")) }
                    td { (duration(now - d.created_at)) " ago" }
                }
            } }
        }
        @if q.page > 0 { a href={"/admin/deployments?status=" (q.status) "&group=" (q.group) "&page=" (q.page - 1)} { "Previous page" } " " }
        @if (q.page + 1) * 100 < total { a href={"/admin/deployments?status=" (q.status) "&group=" (q.group) "&page=" (q.page + 1)} { "Next page" } }
    };
    Ok(page("All deployments", Some(&viewer), Section::Admin, body))
}

/// `GET /admin/groups`: each group with its SLAs, its deployments and the
/// people who deploy for it.
async fn groups(State(state): State<WebState>, viewer: Viewer) -> Result<Markup, PageError> {
    require_admin(&state, &viewer)?;
    let providers = state.app.federation().providers();
    let mut slas: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for p in providers.iter() {
        for (g, grant) in &p.groups {
            slas.entry(g.clone()).or_default().push(format!("{} ({})", p.name, grant.sla_id));
        }
    }
    let members = state.app.group_members(&viewer.caller()).await?;
    for g in members.keys() {
        slas.entry(g.clone()).or_default();
    }
    let body = html! {
        (admin_nav("/admin/groups"))
        table {
            thead { tr { th scope="col" { "Group" } th scope="col" { "SLAs" } th class="num" scope="col" { "Active deployments" } th scope="col" { "People who deployed" } } }
            tbody { @for (g, s) in &slas {
                @let m = members.get(g);
                tr {
                    th scope="row" { (g) }
                    td { @if s.is_empty() { "none" } @else { (s.join(", ")) } }
                    td class="num" { (m.map_or(0, |m| m.0)) }
                    td { (m.map(|m| m.1.join(", ")).unwrap_or_default()) }
                }
            } }
        }
        p class="help" { "Membership itself lives in the identity provider; this lists who has deployed for each group." }
    };
    Ok(page("Groups", Some(&viewer), Section::Admin, body))
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    action: String,
}

/// `GET /admin/audit`: the latest entries, filtered; the CSV export is the
/// API's (`/api/v1/admin/audit?format=csv`).
async fn audit(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<AuditQuery>,
) -> Result<Markup, PageError> {
    let filter = AuditFilter {
        subject: Some(q.subject.trim().to_string()).filter(|s| !s.is_empty()),
        action: Some(q.action.trim().to_string()).filter(|s| !s.is_empty()),
        limit: 200,
        ..Default::default()
    };
    let entries = state.app.audit_log(&viewer.caller(), &filter).await?;
    let body = html! {
        (admin_nav("/admin/audit"))
        form method="get" action="/admin/audit" class="toolbar" {
            div class="field" { label for="subject" { "Who" } input id="subject" name="subject" type="text" value=(q.subject); }
            div class="field" { label for="action" { "Action" } input id="action" name="action" type="text" value=(q.action) placeholder="e.g. deployment.create"; }
            button type="submit" { "Filter" }
        }
        @if entries.is_empty() { (notice("info", "No entries match.")) }
        table {
            thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "From" } th scope="col" { "Detail" } } }
            tbody { @for e in &entries {
                tr {
                    td { (time(e.at)) } td { (e.subject) } td { code { (e.action) } } td { (e.target) }
                    td { (e.client_ip.as_deref().unwrap_or("")) } td { code { (e.detail.to_string()) } }
                }
            } }
        }
    };
    Ok(page("Audit log", Some(&viewer), Section::Admin, body))
}
