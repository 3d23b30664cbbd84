//! The catalogue (`/`) and the deploy form of each service
//! (`/deploy/{id}`), generated from the template's inputs: the right widget
//! for each type, the template's defaults and descriptions, browser-side
//! constraints, and the engine's own messages beside the fields when the
//! server finds a problem. "Preview placement" shows the plan with every
//! provider's verdict before anything is created.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use nuvola_app::deployments::CreateDeployment;
use nuvola_app::{CatalogueEntry, FormCheck, ServiceAccess};
use nuvola_tosca::Constraint;
use nuvola_tosca::template::InputDef;
use nuvola_types::{DeploymentRequirements, Error, Plan};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::layout::{Section, notice, page};
use crate::session::{Post, Viewer};
use crate::{PageError, WebState};

pub fn routes() -> Router<WebState> {
    Router::new().route("/", get(catalogue)).route("/deploy/{id}", get(deploy_form).post(deploy))
}

#[derive(Debug, Default, Deserialize)]
pub struct CatalogueQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    category: String,
}

/// What a service asks for at its defaults, in words.
fn cost(r: &DeploymentRequirements) -> String {
    let (mut vms, mut cpus, mut mem, mut gpus, mut disk) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for n in &r.nodes {
        let c = u64::from(n.count);
        vms += c;
        cpus += c * u64::from(n.cpus.unwrap_or(0));
        mem += c * n.mem_mb.unwrap_or(0);
        gpus += c * u64::from(n.gpus);
        disk += c * n.volumes.iter().map(|v| v.size_gb).sum::<u64>();
    }
    let mut parts = vec![format!("{vms} VM{}", if vms == 1 { "" } else { "s" })];
    if cpus > 0 {
        parts.push(format!("{cpus} vCPU"));
    }
    if mem > 0 {
        parts.push(format!("{} GiB RAM", mem.div_ceil(1024)));
    }
    if gpus > 0 {
        parts.push(format!("{gpus} GPU"));
    }
    if disk > 0 {
        parts.push(format!("{disk} GiB volumes"));
    }
    parts.join(" · ")
}

/// `GET /`: every service, with search and a category filter.
async fn catalogue(
    State(state): State<WebState>,
    viewer: Option<Viewer>,
    Query(q): Query<CatalogueQuery>,
) -> Result<Markup, PageError> {
    let entries = state.app.catalogue().entries();
    let mut categories: Vec<&str> = entries.iter().map(|e| e.category.as_str()).collect();
    categories.sort();
    categories.dedup();
    let needle = q.q.trim().to_lowercase();
    let shown: Vec<&CatalogueEntry> = entries
        .iter()
        .filter(|e| q.category.is_empty() || e.category == q.category)
        .filter(|e| {
            needle.is_empty()
                || e.name.to_lowercase().contains(&needle)
                || e.description.to_lowercase().contains(&needle)
                || e.id.contains(&needle)
        })
        .collect();
    let mut restricted = std::collections::BTreeMap::new();
    if let Some(v) = &viewer {
        let group = v.group.clone().unwrap_or_default();
        for e in &shown {
            if let ServiceAccess::Restricted(groups) = state.app.service_access(&v.caller(), &group, &e.id).await? {
                restricted.insert(e.id.clone(), groups);
            }
        }
    }
    let body = html! {
        @if viewer.is_none() {
            (notice("info", "Sign in to deploy a service for your group."))
        }
        form method="get" action="/" class="toolbar" role="search" {
            div class="field" {
                label for="q" { "Search" }
                input id="q" name="q" type="search" value=(q.q);
            }
            div class="field" {
                label for="category" { "Category" }
                select id="category" name="category" {
                    option value="" { "All categories" }
                    @for c in &categories {
                        option value=(c) selected[q.category == *c] { (c) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        p role="status" { (shown.len()) " of " (entries.len()) " services" }
        ul class="cards" {
            @for e in &shown {
                li class="card" {
                    (icon(&e.icon))
                    h2 { (e.name) }
                    p class="meta" { (e.category) }
                    p { (e.description) }
                    @if let Some(r) = &e.at_defaults {
                        p class="meta" { "Uses at its defaults: " (cost(r)) }
                    }
                    @if let Some(groups) = restricted.get(&e.id) {
                        p class="meta" { "Open to group " (groups.join(", ")) " only." }
                        a class="button secondary" href={"/requests?kind=catalogue&target=" (e.id)} aria-label={"Request access to " (e.name)} { "Request access" }
                    } @else {
                        a class="button" href={"/deploy/" (e.id)} aria-label={"Deploy " (e.name)} { "Deploy" }
                    }
                }
            }
        }
    };
    Ok(page("Catalogue", viewer.as_ref(), Section::Catalogue, body))
}

/// A small inline icon per kind of service (decorative: hidden from
/// assistive technology, the card's heading names the service).
fn icon(kind: &str) -> Markup {
    let path = match kind {
        "notebook" => "M6 4h18v24H6z M10 4v24 M14 10h7 M14 14h7",
        "gpu" => "M4 9h24v14H4z M8 13h6v6H8z M18 13h6v6h-6z M8 23v4 M24 23v4",
        "docker" | "containers" => {
            "M4 16h24c-1 6-6 10-13 10S5 22 4 16z M8 11h4v4H8z M13 11h4v4h-4z M18 11h4v4h-4z M13 6h4v4h-4z"
        }
        "cluster" => "M12 4h8v7h-8z M3 21h8v7H3z M21 21h8v7h-8z M16 11v5 M7 21v-5h18v5",
        "search" => "M14 5a8 8 0 1 0 0 16a8 8 0 1 0 0-16z M20 19l8 8 M9 15l3-3 3 2 4-5",
        "storage" | "volume" | "database" => {
            "M6 8c0-3 20-3 20 0v16c0 3-20 3-20 0z M6 8c0 3 20 3 20 0 M6 16c0 3 20 3 20 0"
        }
        _ => "M5 6h22v8H5z M5 18h22v8H5z M9 10h2 M9 22h2",
    };
    html! {
        svg class="icon" viewBox="0 0 32 32" aria-hidden="true" focusable="false" {
            path d=(path) fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" {}
        }
    }
}

fn is_port_map(input: &InputDef) -> bool {
    input.type_name == "map" && input.entry_schema.as_deref().is_some_and(|e| e.to_lowercase().contains("port"))
}

/// The default (or the submitted value) as the text a field shows.
fn display_value(input: &InputDef, value: Option<&Value>) -> String {
    let Some(value) = value else { return String::new() };
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join("\n"),
        Value::Object(map) if is_port_map(input) => map
            .iter()
            .map(|(k, v)| {
                let port = v.get("source").or(v.get("port")).map(scalar_text).unwrap_or_default();
                let proto = v.get("protocol").map(scalar_text).unwrap_or_else(|| "tcp".into());
                let cidr = v.get("remote_cidr").map(scalar_text).unwrap_or_else(|| "0.0.0.0/0".into());
                format!("{k} = {port}/{proto} {cidr}")
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Object(map) => {
            map.iter().map(|(k, v)| format!("{k} = {}", scalar_text(v))).collect::<Vec<_>>().join("\n")
        }
        other => scalar_text(other),
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A text as the JSON value of a scalar of TOSCA type `type_name`; text
/// that does not parse is passed on as a string for the engine to report.
fn typed(type_name: &str, text: &str) -> Value {
    let t = text.trim();
    match type_name {
        "integer" => t.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(t.into())),
        "float" => t.parse::<f64>().map(Value::from).unwrap_or_else(|_| Value::String(t.into())),
        "boolean" => match t {
            "true" | "on" => Value::Bool(true),
            "false" | "" => Value::Bool(false),
            other => Value::String(other.into()),
        },
        _ => Value::String(t.into()),
    }
}

/// The parameters a submitted form stands for (inputs left empty take the
/// template's default), or a message per input whose text cannot be read.
pub fn parameters(inputs: &[InputDef], pairs: &[(String, String)]) -> (Map<String, Value>, Vec<(String, String)>) {
    let get = |name: &str| pairs.iter().rev().find(|(k, _)| k == &format!("in.{name}")).map(|(_, v)| v.as_str());
    let mut out = Map::new();
    let mut problems = Vec::new();
    for input in inputs {
        let raw = get(&input.name);
        if input.type_name == "boolean" {
            out.insert(input.name.clone(), Value::Bool(raw.is_some_and(|v| v == "true" || v == "on")));
            continue;
        }
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else { continue };
        let entry = input.entry_schema.as_deref().unwrap_or("string");
        let lines = || raw.lines().map(str::trim).filter(|l| !l.is_empty());
        let value = match input.type_name.as_str() {
            "list" => Value::Array(lines().map(|l| typed(entry, l)).collect()),
            "map" if is_port_map(input) => {
                let mut map = Map::new();
                for line in lines() {
                    match port_line(line) {
                        Ok((name, spec)) => {
                            map.insert(name, spec);
                        }
                        Err(e) => problems.push((input.name.clone(), e)),
                    }
                }
                Value::Object(map)
            }
            "map" => {
                let mut map = Map::new();
                for line in lines() {
                    match line.split_once('=') {
                        Some((k, v)) => {
                            map.insert(k.trim().to_string(), typed(entry, v));
                        }
                        None => problems.push((input.name.clone(), format!("line {line:?} is not `key = value`"))),
                    }
                }
                Value::Object(map)
            }
            other => typed(other, raw),
        };
        out.insert(input.name.clone(), value);
    }
    (out, problems)
}

/// `name = PORT[-END][/PROTOCOL] [CIDR]`, as a PortSpec-like map.
fn port_line(line: &str) -> Result<(String, Value), String> {
    let bad = || format!("line {line:?} is not `name = port[/protocol] [cidr]`, e.g. `https = 443/tcp 0.0.0.0/0`");
    let (name, rest) = line.split_once('=').ok_or_else(bad)?;
    let mut words = rest.split_whitespace();
    let spec = words.next().ok_or_else(bad)?;
    let cidr = words.next().unwrap_or("0.0.0.0/0");
    if words.next().is_some() {
        return Err(bad());
    }
    let (port, protocol) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let port: u16 = port.parse().map_err(|_| bad())?;
    let mut m = Map::new();
    m.insert("protocol".into(), Value::String(protocol.to_lowercase()));
    m.insert("source".into(), Value::from(port));
    m.insert("remote_cidr".into(), Value::String(cidr.into()));
    Ok((name.trim().to_string(), Value::Object(m)))
}

/// One input's field: label, widget, help and the server's message.
pub fn field(input: &InputDef, value: Option<&Value>, errors: &[String]) -> Markup {
    let id = format!("in-{}", input.name);
    let name = format!("in.{}", input.name);
    let help_id = format!("{id}-help");
    let error_id = format!("{id}-error");
    let described = match (input.description.is_some(), errors.is_empty()) {
        (true, true) => help_id.clone(),
        (true, false) => format!("{help_id} {error_id}"),
        (false, false) => error_id.clone(),
        (false, true) => String::new(),
    };
    let invalid = (!errors.is_empty()).then_some("true");
    let choices = input.constraints.iter().find_map(|c| match c {
        Constraint::ValidValues(v) => Some(v.clone()),
        _ => None,
    });
    let (mut min, mut max) = (None, None);
    for c in &input.constraints {
        match c {
            Constraint::InRange(lo, hi) => {
                min = Some(scalar_text(lo));
                max = (scalar_text(hi) != "UNBOUNDED").then(|| scalar_text(hi));
            }
            Constraint::GreaterOrEqual(v) => min = Some(scalar_text(v)),
            Constraint::LessOrEqual(v) => max = Some(scalar_text(v)),
            _ => {}
        }
    }
    let numeric = matches!(input.type_name.as_str(), "integer" | "float");
    let (min, max) = if numeric { (min, max) } else { (None, None) };
    let text = display_value(input, value.or(input.default.as_ref()));
    let described = (!described.is_empty()).then_some(described);
    // A secret is never shown back: given one (the one a deployment keeps,
    // on its update form), leaving the field blank keeps it.
    let kept_secret = value.is_some() && input.secret;
    let required = input.required && input.default.is_none() && !kept_secret;
    let widget = if input.type_name == "boolean" {
        let checked = value.or(input.default.as_ref()).and_then(Value::as_bool).unwrap_or(false);
        html! {
            input id=(id) name=(name) type="checkbox" value="true" checked[checked]
                aria-describedby=[described.clone()] aria-invalid=[invalid];
        }
    } else if let Some(choices) = choices {
        html! {
            select id=(id) name=(name) aria-describedby=[described.clone()] aria-invalid=[invalid] required[required] {
                @for c in &choices {
                    @let t = scalar_text(c);
                    option value=(t) selected[t == text] { (t) }
                }
            }
        }
    } else if matches!(input.type_name.as_str(), "list" | "map") {
        let hint = if is_port_map(input) {
            "One per line: name = port[/protocol] [allowed CIDR], e.g. https = 443/tcp 0.0.0.0/0"
        } else if input.type_name == "list" {
            "One item per line"
        } else {
            "One per line: key = value"
        };
        html! {
            textarea id=(id) name=(name) rows="4" aria-describedby=[described.clone()] aria-invalid=[invalid]
                required[required] placeholder=(hint) { (text) }
            p class="help" { (hint) }
        }
    } else if input.secret {
        html! {
            input id=(id) name=(name) type="password" autocomplete="new-password"
                aria-describedby=[described.clone()] aria-invalid=[invalid] required[required];
            @if kept_secret { p class="help" { "Leave it blank to keep the current one." } }
        }
    } else {
        let (kind, step, pattern) = match input.type_name.as_str() {
            "integer" => ("number", Some("1"), None),
            "float" => ("number", Some("any"), None),
            t if t.starts_with("scalar-unit") => ("text", None, Some(r"\s*[0-9]+(\.[0-9]+)?\s*[A-Za-z]+\s*")),
            _ => ("text", None, None),
        };
        html! {
            input id=(id) name=(name) type=(kind) value=(text) step=[step] min=[min] max=[max] pattern=[pattern]
                aria-describedby=[described.clone()] aria-invalid=[invalid] required[required];
        }
    };
    html! {
        div class="field" {
            label for=(id) { (label_of(&input.name)) @if required { " (required)" } }
            (widget)
            @if let Some(d) = &input.description { p class="help" id=(help_id) { (d) } }
            @if !errors.is_empty() {
                p class="error" id=(error_id) { @for e in errors { (e) " " } }
            }
        }
    }
}

/// `num_cpus` → `Num cpus`.
fn label_of(name: &str) -> String {
    let spaced = name.replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

/// The deploy form's advanced options.
#[derive(Debug, Default, Deserialize)]
pub struct Advanced {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    timeout_mins: String,
    #[serde(default)]
    provider_timeout_mins: String,
    #[serde(default)]
    max_providers_retry: String,
    #[serde(default)]
    keep_last_attempt: Option<String>,
    #[serde(default)]
    description: String,
    /// `deploy` or `preview`.
    #[serde(default)]
    action: String,
}

struct FormState<'a> {
    values: &'a Map<String, Value>,
    errors: &'a [(Option<String>, String)],
    advanced: &'a Advanced,
    plan: Option<&'a Plan>,
}

fn form_page(state: &WebState, viewer: &Viewer, entry: &CatalogueEntry, f: &FormState<'_>) -> Markup {
    let general: Vec<&String> = f.errors.iter().filter(|(i, _)| i.is_none()).map(|(_, m)| m).collect();
    let providers = state.app.federation().providers();
    let group = viewer.group.clone().unwrap_or_default();
    let body = html! {
        p { (entry.description) }
        @if viewer.group.is_none() {
            (notice("error", "You belong to no group, so you cannot deploy yet. Ask to join one on the Requests page."))
        } @else {
            p { "Deploying for group " strong { (group) } ". Switch group at the top of the page." }
        }
        @if !f.errors.is_empty() {
            div class="notice error" role="alert" tabindex="-1" id="problems" {
                p { strong { "The deployment was not created: " (f.errors.len()) " problem(s)." } }
                ul {
                    @for (input, msg) in f.errors {
                        li {
                            @if let Some(i) = input { a href={"#in-" (i)} { (label_of(i)) } ": " }
                            (msg)
                        }
                    }
                }
            }
        }
        form method="post" action={"/deploy/" (entry.id)} {
            (viewer.csrf_field())
            @for input in &entry.inputs {
                @let errors: Vec<String> = f.errors.iter()
                    .filter(|(i, _)| i.as_deref() == Some(input.name.as_str()))
                    .map(|(_, m)| m.clone()).collect();
                // A secret typed in is never written back: it stays to be typed again.
                @let value = f.values.get(&input.name).filter(|_| !input.secret);
                (field(input, value, &errors))
            }
            div class="field" {
                label for="description" { "Description" }
                input id="description" name="description" type="text" maxlength="200" value=(f.advanced.description)
                    aria-describedby="description-help";
                p class="help" id="description-help" { "A note for you and your group, shown in the deployment list." }
            }
            details open[f.plan.is_some() || !general.is_empty()] {
                summary { "Advanced options" }
                div class="field" {
                    label for="provider" { "Provider" }
                    select id="provider" name="provider" aria-describedby="provider-help" {
                        option value="" { "Let nuvola choose the best site" }
                        @for p in providers.iter().filter(|p| p.groups.contains_key(&group)) {
                            option value=(p.name) selected[f.advanced.provider == p.name] { (p.name) }
                        }
                    }
                    p class="help" id="provider-help" { "Only providers where your group has an SLA are listed." }
                }
                div class="field" {
                    label for="timeout_mins" { "Overall timeout (minutes)" }
                    input id="timeout_mins" name="timeout_mins" type="number" min="1" step="1"
                        value=(f.advanced.timeout_mins) placeholder=(state.app.settings().default_timeout_mins);
                }
                div class="field" {
                    label for="provider_timeout_mins" { "Timeout per provider (minutes)" }
                    input id="provider_timeout_mins" name="provider_timeout_mins" type="number" min="1" step="1"
                        value=(f.advanced.provider_timeout_mins)
                        placeholder=(state.app.settings().default_provider_timeout_mins);
                }
                div class="field" {
                    label for="max_providers_retry" { "Providers to try at most" }
                    input id="max_providers_retry" name="max_providers_retry" type="number" min="1" step="1"
                        value=(f.advanced.max_providers_retry) placeholder="all that fit";
                }
                div class="field" {
                    div {
                        input id="keep_last_attempt" name="keep_last_attempt" type="checkbox" value="true"
                            checked[f.advanced.keep_last_attempt.is_some()];
                        " "
                        label for="keep_last_attempt" { "Keep the last failed attempt for debugging" }
                    }
                }
            }
            div class="toolbar" {
                button type="submit" name="action" value="deploy" { "Deploy" }
                button type="submit" name="action" value="preview" class="secondary" formnovalidate { "Preview placement" }
            }
        }
        @if let Some(plan) = f.plan { (plan_view(plan)) }
    };
    page(&format!("Deploy {}", entry.name), Some(viewer), Section::Catalogue, body)
}

/// The plan: candidates in order, then every provider's verdict.
pub fn plan_view(plan: &Plan) -> Markup {
    html! {
        section aria-labelledby="plan-title" {
            h2 id="plan-title" { "Placement preview" }
            @if plan.candidates.is_empty() {
                (notice("error", "No provider can take this deployment now; the reasons are below."))
            } @else {
                p { "nuvola would try, in this order: "
                    @for (i, c) in plan.candidates.iter().enumerate() {
                        @if i > 0 { ", " } strong { (c.provider) }
                    }
                    "."
                }
            }
            table {
                caption class="visually-hidden" { "Every provider's verdict" }
                thead { tr { th scope="col" { "Provider" } th scope="col" { "Verdict" } th scope="col" { "Why" } } }
                tbody {
                    @for v in &plan.verdicts {
                        tr {
                            th scope="row" { (v.provider) }
                            td {
                                @if v.accepted { span class="badge ok" { "fits" } }
                                @else { span class="badge bad" { "rejected" } }
                            }
                            td { ul { @for r in plan.reasons(v) { li { (r) } } } }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /deploy/{id}`.
async fn deploy_form(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let entry = state.app.catalogue().get(&id)?.clone();
    if let Some(to) = policy_gate(&state, &viewer, &format!("/deploy/{id}")).await? {
        return Ok(to);
    }
    let advanced = Advanced::default();
    let f = FormState { values: &Map::new(), errors: &[], advanced: &advanced, plan: None };
    Ok(form_page(&state, &viewer, &entry, &f).into_response())
}

/// The acceptable-use policy must be accepted before a first deployment:
/// a redirect to it when the viewer has not accepted its current version.
async fn policy_gate(state: &WebState, viewer: &Viewer, back: &str) -> Result<Option<Response>, PageError> {
    match state.app.policy(&viewer.caller()).await? {
        Some((_, None)) => {
            Ok(Some(Redirect::to(&format!("/policy?next={}", crate::session::encode(back))).into_response()))
        }
        _ => Ok(None),
    }
}

fn number(text: &str, what: &str) -> Result<Option<i64>, (Option<String>, String)> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| (None, format!("{what} must be a whole number, not {t:?}")))
}

/// `POST /deploy/{id}`: preview the placement, or create the deployment.
async fn deploy(
    State(state): State<WebState>,
    Path(id): Path<String>,
    post: Post<Advanced>,
) -> Result<Response, PageError> {
    let Post { viewer, form: advanced, pairs } = post;
    let entry = state.app.catalogue().get(&id)?.clone();
    let (params, unreadable) = parameters(&entry.inputs, &pairs);
    let mut errors: Vec<(Option<String>, String)> = unreadable.into_iter().map(|(i, m)| (Some(i), m)).collect();
    let numbers = [
        number(&advanced.timeout_mins, "The overall timeout"),
        number(&advanced.provider_timeout_mins, "The timeout per provider"),
        number(&advanced.max_providers_retry, "Providers to try"),
    ];
    let mut nums = [None; 3];
    for (slot, n) in nums.iter_mut().zip(numbers) {
        match n {
            Ok(v) => *slot = v,
            Err(e) => errors.push(e),
        }
    }
    // A preview does not need the secrets yet (they change nothing of it).
    let checked = if advanced.action == "preview" { entry.for_planning(&params) } else { params.clone() };
    if errors.is_empty()
        && let FormCheck::Invalid(problems) = state.app.check_catalogue_parameters(&id, &checked).await?
    {
        errors = problems;
    }
    let request = CreateDeployment {
        parameters: params.clone(),
        timeout_mins: nums[0],
        provider_timeout_mins: nums[1],
        max_providers_retry: nums[2],
        keep_last_attempt: advanced.keep_last_attempt.is_some(),
        user_group: viewer.group.clone(),
        catalogue_id: Some(id.clone()),
        description: Some(advanced.description.trim().to_string()).filter(|d| !d.is_empty()),
        provider: Some(advanced.provider.clone()).filter(|p| !p.is_empty()),
        ..Default::default()
    };
    let mut plan = None;
    if errors.is_empty() {
        let caller = viewer.caller();
        if advanced.action == "preview" {
            match state.app.preview_plan(&caller, &request).await {
                Ok((_, p)) => plan = Some(p),
                Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict(_))) => {
                    errors.push((None, e.to_string()))
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            match state.app.deploy_catalogue(&caller, &id, request).await {
                Ok(d) => return Ok(Redirect::to(&format!("/deployments/{}", d.id)).into_response()),
                Err(e @ (Error::Invalid(_) | Error::Forbidden(_) | Error::Conflict(_))) => {
                    errors.push((None, e.to_string()))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let f = FormState { values: &params, errors: &errors, advanced: &advanced, plan: plan.as_ref() };
    let status =
        if errors.is_empty() { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, form_page(&state, &viewer, &entry, &f)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, type_name: &str, entry: Option<&str>) -> InputDef {
        InputDef {
            name: name.into(),
            type_name: type_name.into(),
            description: None,
            default: None,
            required: false,
            constraints: vec![],
            entry_schema: entry.map(str::to_string),
            secret: nuvola_types::is_secret_input(name),
        }
    }

    #[test]
    fn form_text_becomes_typed_parameters() {
        let inputs = vec![
            input("cpus", "integer", None),
            input("gpu", "boolean", None),
            input("users", "list", Some("string")),
            input("env", "map", Some("string")),
            input("ports", "map", Some("tosca.datatypes.network.PortSpec")),
            input("mem", "scalar-unit.size", None),
            input("empty", "string", None),
        ];
        let pairs: Vec<(String, String)> = [
            ("in.cpus", "4"),
            ("in.users", "alice\n\nbob\n"),
            ("in.env", "A = 1\nB=two"),
            ("in.ports", "https = 443/tcp 10.0.0.0/8\nssh = 22"),
            ("in.mem", "8 GB"),
            ("in.empty", "  "),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (p, problems) = parameters(&inputs, &pairs);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(p["cpus"], 4);
        assert_eq!(p["gpu"], false);
        assert_eq!(p["users"], serde_json::json!(["alice", "bob"]));
        assert_eq!(p["env"], serde_json::json!({"A": "1", "B": "two"}));
        assert_eq!(
            p["ports"]["https"],
            serde_json::json!({"protocol": "tcp", "source": 443, "remote_cidr": "10.0.0.0/8"})
        );
        assert_eq!(p["ports"]["ssh"]["remote_cidr"], "0.0.0.0/0");
        assert_eq!(p["mem"], "8 GB");
        assert!(!p.contains_key("empty"), "empty fields take the default");
    }

    #[test]
    fn unreadable_lines_are_tied_to_their_input() {
        let inputs = vec![input("ports", "map", Some("PortSpec")), input("cpus", "integer", None)];
        let pairs = vec![("in.ports".to_string(), "https 443".to_string()), ("in.cpus".into(), "four".into())];
        let (p, problems) = parameters(&inputs, &pairs);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "ports");
        assert!(problems[0].1.contains("name = port"), "{}", problems[0].1);
        assert_eq!(p["cpus"], "four", "passed on for the engine to report");
    }

    #[test]
    fn a_secret_is_a_password_never_written_back() {
        let token = InputDef { required: true, ..input("admin_token", "string", None) };
        let fresh = field(&token, None, &[]).into_string();
        assert!(fresh.contains(r#"type="password""#) && fresh.contains("required") && fresh.contains("(required)"));
        // On an update form the deployment keeps one: blank keeps it.
        let kept = field(&token, Some(&serde_json::json!("s3cret-value")), &[]).into_string();
        assert!(!kept.contains("s3cret") && !kept.contains("required"), "{kept}");
        assert!(kept.contains("Leave it blank to keep the current one."), "{kept}");
    }

    #[test]
    fn defaults_show_as_field_text() {
        let ports = input("ports", "map", Some("PortSpec"));
        let v = serde_json::json!({"http": {"source": 80, "protocol": "tcp", "remote_cidr": "0.0.0.0/0"}});
        assert_eq!(display_value(&ports, Some(&v)), "http = 80/tcp 0.0.0.0/0");
        assert_eq!(label_of("num_cpus"), "Num cpus");
    }
}
