//! The accounting page: `/accounting` shows the usage the viewer may see
//! (their own, their managed groups', everything for administrators) as
//! stacked columns of one metric per month over a range, or per day of one
//! month, with a table of every metric beside it; `/accounting.csv` (or
//! `?format=csv`) downloads that table. Filters: from/to month, one month
//! day by day, providers, groups and users (several each, repeated or
//! separated by commas), grouping and the charted metric.
//!
//! The handler only parses the query and calls the app's view
//! (`nuvola_usage::views`), which decides what the viewer sees.

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use nuvola_usage::{GroupBy, Period, UsageReport, UsageRequest, UsageRow};

use crate::charts::{self, Chart, Series};
use crate::layout::{self, Section};
use crate::session::Viewer;
use crate::stats::{Cell, Table, csv, render_table};
use crate::{PageError, WebState};

/// The most series a chart stacks; the rest are summed as "Others".
const MOST_SERIES: usize = 8;

pub fn routes() -> axum::Router<WebState> {
    axum::Router::new().route("/accounting", get(page)).route("/accounting.csv", get(download))
}

/// The page's query: the view's filters, the charted metric, the format.
/// Providers, groups and users may repeat or list several values
/// separated by commas, as the API's do.
#[derive(Debug, Default)]
pub struct AccountingQuery {
    request: UsageRequest,
    metric: Option<String>,
    format: Option<String>,
}

impl AccountingQuery {
    /// Reads a query string.
    fn parse(query: Option<&str>) -> AccountingQuery {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default()).unwrap_or_default();
        let last = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        AccountingQuery {
            metric: last("metric"),
            format: last("format"),
            request: UsageRequest::from_pairs(pairs.iter().map(|(k, v)| (k, v))),
        }
    }

    fn daily(&self) -> bool {
        self.request.month.as_deref().is_some_and(|m| !m.trim().is_empty())
    }

    /// The query string of the same view (for the CSV link).
    fn encoded(&self) -> String {
        serde_urlencoded::to_string(self.request.pairs()).unwrap_or_default()
    }
}

/// A figure the chart can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    CpuHours,
    WallHours,
    RamGbHours,
    DiskGb,
    Instances,
    Volumes,
    VolumeGb,
    PublicIps,
    GpuHours,
}

impl Metric {
    const ALL: [Metric; 9] = [
        Metric::CpuHours,
        Metric::WallHours,
        Metric::RamGbHours,
        Metric::DiskGb,
        Metric::Instances,
        Metric::Volumes,
        Metric::VolumeGb,
        Metric::PublicIps,
        Metric::GpuHours,
    ];

    fn word(self) -> &'static str {
        match self {
            Metric::CpuHours => "cpu_hours",
            Metric::WallHours => "wall_hours",
            Metric::RamGbHours => "ram_gb_hours",
            Metric::DiskGb => "disk_gb",
            Metric::Instances => "instances",
            Metric::Volumes => "volumes",
            Metric::VolumeGb => "volume_gb",
            Metric::PublicIps => "public_ips",
            Metric::GpuHours => "gpu_hours",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Metric::CpuHours => "CPU hours",
            Metric::WallHours => "Wall hours",
            Metric::RamGbHours => "RAM GB·hours",
            Metric::DiskGb => "Disk GB",
            Metric::Instances => "Instances",
            Metric::Volumes => "Volumes",
            Metric::VolumeGb => "Volume GB",
            Metric::PublicIps => "Public IPs",
            Metric::GpuHours => "GPU hours",
        }
    }

    fn parse(text: Option<&str>) -> Result<Metric, PageError> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(Metric::CpuHours),
            Some(t) => Metric::ALL.into_iter().find(|m| m.word() == t).ok_or_else(|| {
                let words: Vec<&str> = Metric::ALL.iter().map(|m| m.word()).collect();
                nuvola_types::Error::invalid(format!("metric={t:?} is not a metric: use one of {}", words.join(", ")))
                    .into()
            }),
        }
    }

    fn of(self, u: &UsageRow) -> f64 {
        match self {
            Metric::CpuHours => u.cpu_hours,
            Metric::WallHours => u.wall_hours,
            Metric::RamGbHours => u.ram_gb_hours,
            Metric::DiskGb => u.disk_gb as f64,
            Metric::Instances => u.instances as f64,
            Metric::Volumes => u.volumes as f64,
            Metric::VolumeGb => u.volume_gb,
            Metric::PublicIps => u.public_ips as f64,
            Metric::GpuHours => u.gpu_hours.values().sum(),
        }
    }
}

fn key_header(by: GroupBy) -> Option<&'static str> {
    match by {
        GroupBy::Month => None,
        GroupBy::Provider => Some("Provider"),
        GroupBy::Group => Some("Group"),
        GroupBy::User => Some("User"),
    }
}

/// The table of every metric: one row per period and key.
pub fn table(report: &UsageReport, daily: bool) -> Table {
    let mut headers = vec![if daily { "Day" } else { "Month" }.to_string()];
    headers.extend(key_header(report.by).map(str::to_owned));
    // Every metric but GPU hours, which has a column per model.
    headers.extend(Metric::ALL.iter().filter(|m| **m != Metric::GpuHours).map(|m| m.name().to_owned()));
    let unnamed = |m: &str| if m.is_empty() { "unnamed".to_owned() } else { m.to_owned() };
    headers.extend(report.gpu_models.iter().map(|m| format!("GPU hours ({})", unnamed(m))));
    let rows = report
        .rows
        .iter()
        .map(|u| {
            let mut row = vec![Cell::Text(u.period.to_string())];
            if report.by != GroupBy::Month {
                row.push(Cell::Text(u.key.clone().unwrap_or_else(|| "(none)".into())));
            }
            row.extend([
                Cell::Decimal(u.cpu_hours),
                Cell::Decimal(u.wall_hours),
                Cell::Decimal(u.ram_gb_hours),
                Cell::Count(u.disk_gb),
                Cell::Count(u.instances),
                Cell::Count(u.volumes),
                Cell::Decimal(u.volume_gb),
                Cell::Count(u.public_ips),
            ]);
            row.extend(report.gpu_models.iter().map(|m| Cell::Decimal(u.gpu_hours.get(m).copied().unwrap_or(0.0))));
            row
        })
        .collect();
    Table { headers, rows }
}

/// The chart's series: one per key (the largest ones, then "Others"), or
/// per GPU model when GPU hours are grouped by month alone.
fn series(report: &UsageReport, metric: Metric) -> Vec<Series> {
    let index: std::collections::BTreeMap<Period, usize> =
        report.periods.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let mut by_name: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for u in &report.rows {
        let Some(&at) = index.get(&u.period) else { continue };
        if metric == Metric::GpuHours && report.by == GroupBy::Month {
            for (model, hours) in &u.gpu_hours {
                let name = if model.is_empty() { "unnamed".to_owned() } else { model.clone() };
                by_name.entry(name).or_insert_with(|| vec![0.0; report.periods.len()])[at] += hours;
            }
        } else {
            let name = u.key.clone().unwrap_or_else(|| metric.name().to_owned());
            by_name.entry(name).or_insert_with(|| vec![0.0; report.periods.len()])[at] += metric.of(u);
        }
    }
    let mut all: Vec<Series> = by_name.into_iter().map(|(name, values)| Series { name, values }).collect();
    all.sort_by(|a, b| b.values.iter().sum::<f64>().total_cmp(&a.values.iter().sum::<f64>()));
    if all.len() > MOST_SERIES {
        let rest = all.split_off(MOST_SERIES - 1);
        let mut others = vec![0.0; report.periods.len()];
        for s in rest {
            for (o, v) in others.iter_mut().zip(s.values) {
                *o += v;
            }
        }
        all.push(Series { name: "Others".into(), values: others });
    }
    all.retain(|s| s.values.iter().any(|v| *v != 0.0));
    all
}

fn chart(report: &UsageReport, metric: Metric, daily: bool) -> Markup {
    let title = format!("{} per {}", metric.name(), if daily { "day" } else { "month" });
    let desc = format!(
        "Stacked columns of {} per {}, {}; the numbers are in the table below the chart.",
        metric.name(),
        if daily { "day" } else { "month" },
        match report.by {
            GroupBy::Month => "in all".to_owned(),
            by => format!("one colour and pattern per {}", by.word()),
        }
    );
    let categories: Vec<String> = if daily {
        report.periods.iter().map(|p| p.day.unwrap_or_default().to_string()).collect()
    } else {
        report.periods.iter().map(Period::to_string).collect()
    };
    let series = series(report, metric);
    let series = if series.is_empty() {
        vec![Series { name: String::new(), values: vec![0.0; categories.len()] }]
    } else {
        series
    };
    charts::columns(&Chart { id: "usage", title: &title, desc: &desc }, &categories, &series, true)
}

fn text_field(id: &str, label: &str, value: &Option<String>, kind: &str, help: Option<&str>) -> Markup {
    let help_id = format!("{id}-help");
    html! {
        div class="field" {
            label for=(id) { (label) }
            input type=(kind) id=(id) name=(id) value=[value.as_deref()] aria-describedby=[help.map(|_| help_id.as_str())];
            @if let Some(help) = help {
                p class="help" id=(help_id) { (help) }
            }
        }
    }
}

/// The help under a field that takes several values.
const SEVERAL: &str = "Several: separate them with commas";

/// A list as a field shows it.
fn listed(values: &[String]) -> Option<String> {
    (!values.is_empty()).then(|| values.join(", "))
}

fn form(query: &AccountingQuery, report: &UsageReport, metric: Metric, daily: bool) -> Markup {
    let (from, to) = if daily {
        (query.request.from.clone(), query.request.to.clone())
    } else {
        (report.periods.first().map(Period::to_string), report.periods.last().map(Period::to_string))
    };
    html! {
        form class="toolbar" method="get" action="/accounting" {
            (text_field("from", "From month", &from, "month", None))
            (text_field("to", "To month", &to, "month", None))
            (text_field("month", "One month, day by day", &query.request.month, "month", Some("Leave empty for months")))
            (text_field("provider", "Providers", &listed(&query.request.providers), "text", Some(SEVERAL)))
            (text_field("group", "Groups", &listed(&query.request.groups), "text", Some(SEVERAL)))
            (text_field("user", "Users", &listed(&query.request.users), "text", Some(SEVERAL)))
            div class="field" {
                label for="by" { "Group by" }
                select id="by" name="by" {
                    @for by in GroupBy::ALL {
                        option value=(by.word()) selected[by == report.by] { (by.word()) }
                    }
                }
            }
            div class="field" {
                label for="metric" { "Chart" }
                select id="metric" name="metric" {
                    @for m in Metric::ALL {
                        option value=(m.word()) selected[m == metric] { (m.name()) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
    }
}

fn csv_response(report: &UsageReport, daily: bool) -> Response {
    let span = match (report.periods.first(), report.periods.last()) {
        (Some(first), Some(_)) if daily => format!("{}-daily", Period::month(first.year, first.month)),
        (Some(first), Some(last)) => format!("{first}-to-{last}"),
        _ => "empty".into(),
    };
    let file = format!("nuvola-accounting-{}-{span}.csv", report.by.word());
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        csv(&table(report, daily)),
    )
        .into_response()
}

async fn load(state: &WebState, viewer: &Viewer, query: &AccountingQuery) -> Result<UsageReport, PageError> {
    Ok(if query.daily() {
        state.app.accounting().daily(&viewer.principal, &query.request).await?
    } else {
        state.app.accounting().usage(&viewer.principal, &query.request).await?
    })
}

/// `GET /accounting` (`?format=csv`: the table as CSV).
async fn page(State(state): State<WebState>, viewer: Viewer, RawQuery(query): RawQuery) -> Result<Response, PageError> {
    let query = AccountingQuery::parse(query.as_deref());
    let metric = Metric::parse(query.metric.as_deref())?;
    let report = load(&state, &viewer, &query).await?;
    let daily = query.daily();
    if query.format.as_deref() == Some("csv") {
        return Ok(csv_response(&report, daily));
    }
    let table = table(&report, daily);
    let span = match (report.periods.first(), report.periods.last()) {
        (Some(first), Some(_)) if daily => format!("each day of {}", Period::month(first.year, first.month)),
        (Some(first), Some(last)) => format!("{first} to {last}"),
        _ => String::new(),
    };
    let body = html! {
        p { "Usage accounted as APEL does: CPU, wall and RAM hours, disks, instances, volumes, public IPs and GPU hours by model, "
            "of what nuvola ran and what the sites report. Showing " strong { (report.scope) } ", " (span) "." }
        (form(&query, &report, metric, daily))
        figure {
            (chart(&report, metric, daily))
        }
        div class="table-scroll" tabindex="0" role="region" aria-label="Table: usage" {
            (render_table("Usage", &table))
        }
        p {
            a class="button secondary" href={"/accounting.csv?" (query.encoded())} download { "Download CSV" }
        }
    };
    Ok(layout::page("Accounting", Some(&viewer), Section::Accounting, body).into_response())
}

/// `GET /accounting.csv`: the page's table as CSV.
async fn download(
    State(state): State<WebState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let query = AccountingQuery::parse(query.as_deref());
    let report = load(&state, &viewer, &query).await?;
    Ok(csv_response(&report, query.daily()))
}
