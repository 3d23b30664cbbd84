//! The statistics pages: `/stats` lists the figures; `/stats/{name}` shows
//! one as a chart with a table of the same numbers beside it, and
//! `/stats/{name}.csv` downloads that table. Figures over time take a
//! `from`/`to` window (UTC days, both included; the last year by default).
//!
//! Handlers only parse the request and call one app-layer method, which
//! decides who may see what (administrators: everything; group managers:
//! their groups).

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate, Utc};
use maud::{Markup, html};
use nuvola_app::AttemptOutcomes;
use nuvola_app::stats::{DateRange, GroupsOverTime, Lifetimes, ServiceShare};
use nuvola_types::Error;
use nuvola_types::csv::field as csv_text;
use serde::Deserialize;

use crate::charts::{self, Bar, Chart, Series, count};
use crate::layout::{self, Section};
use crate::session::Viewer;
use crate::{PageError, WebState};

/// One of the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    ActiveByGroup,
    ByService,
    CreatedPerDay,
    CreatedPerMonth,
    Lifetimes,
    GroupsPerMonth,
    AttemptsByProvider,
}

impl Figure {
    /// Every figure, in the order the index lists them.
    pub const ALL: [Figure; 7] = [
        Self::ActiveByGroup,
        Self::ByService,
        Self::CreatedPerDay,
        Self::CreatedPerMonth,
        Self::Lifetimes,
        Self::GroupsPerMonth,
        Self::AttemptsByProvider,
    ];

    /// The figure's name in URLs.
    pub fn slug(self) -> &'static str {
        match self {
            Self::ActiveByGroup => "active-by-group",
            Self::ByService => "by-service",
            Self::CreatedPerDay => "created-per-day",
            Self::CreatedPerMonth => "created-per-month",
            Self::Lifetimes => "lifetimes",
            Self::GroupsPerMonth => "groups-per-month",
            Self::AttemptsByProvider => "attempts-by-provider",
        }
    }

    /// The page title.
    pub fn title(self) -> &'static str {
        match self {
            Self::ActiveByGroup => "Active deployments per group",
            Self::ByService => "Deployments per catalogue service",
            Self::CreatedPerDay => "Deployments created per day",
            Self::CreatedPerMonth => "Deployments created per month",
            Self::Lifetimes => "Deployment lifetimes: production and testing groups",
            Self::GroupsPerMonth => "Deployments by group over time",
            Self::AttemptsByProvider => "Attempts per provider: succeeded and failed",
        }
    }

    /// What the figure counts, in a sentence.
    pub fn about(self) -> &'static str {
        match self {
            Self::ActiveByGroup => {
                "Deployments that exist now (neither deleted nor failed to create), per group. Not limited by dates."
            }
            Self::ByService => {
                "Deployments created in the period per catalogue service, with each service's share of all of them."
            }
            Self::CreatedPerDay => "Deployments created on each day of the period (UTC).",
            Self::CreatedPerMonth => "Deployments created in each month of the period (UTC).",
            Self::Lifetimes => {
                "How long the deployments created in the period lived, from creation to the end of their deletion \
                 (still running: their age so far), in production groups and in testing groups."
            }
            Self::GroupsPerMonth => "Deployments created in each month of the period, per group.",
            Self::AttemptsByProvider => {
                "Attempts started in the period on each provider: those that became ready and those that failed \
                 (and were cleaned up or kept)."
            }
        }
    }

    /// Whether the figure depends on the date window.
    pub fn dated(self) -> bool {
        self != Self::ActiveByGroup
    }

    fn from_slug(slug: &str) -> Option<Figure> {
        Self::ALL.into_iter().find(|f| f.slug() == slug)
    }
}

/// A table of a figure: what the page shows and the CSV holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// A table cell: words, or a number (right-aligned, plain in CSV).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Count(i64),
    /// A number with one decimal (CSV: two).
    Decimal(f64),
    Percent(f64),
}

impl Cell {
    fn shown(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => count(*n),
            Cell::Decimal(x) => format!("{x:.1}"),
            Cell::Percent(f) => format!("{:.1}\u{a0}%", f * 100.0),
        }
    }

    fn csv(&self) -> String {
        match self {
            Cell::Text(t) => csv_text(t),
            Cell::Count(n) => n.to_string(),
            Cell::Decimal(x) => format!("{x:.2}"),
            Cell::Percent(f) => format!("{:.4}", f),
        }
    }
}

/// The whole CSV document of a table (CRLF line ends, as RFC 4180 says).
pub fn csv(table: &Table) -> String {
    let mut out = String::new();
    out.push_str(&table.headers.iter().map(|h| csv_text(h)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    for row in &table.rows {
        out.push_str(&row.iter().map(Cell::csv).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// A figure's numbers, as the app layer returns them.
enum Data {
    Active(Vec<(String, i64)>),
    Services(Vec<ServiceShare>),
    Days(Vec<(NaiveDate, i64)>),
    Months(Vec<(String, i64)>),
    Lifetimes(Lifetimes),
    Groups(GroupsOverTime),
    Attempts(Vec<AttemptOutcomes>),
}

async fn load(state: &WebState, viewer: &Viewer, figure: Figure, range: &DateRange) -> Result<Data, Error> {
    let (app, caller) = (&state.app, &viewer.principal);
    Ok(match figure {
        Figure::ActiveByGroup => Data::Active(app.stats_active_by_group(caller).await?),
        Figure::ByService => Data::Services(app.stats_by_service(caller, range).await?),
        Figure::CreatedPerDay => Data::Days(app.stats_created_per_day(caller, range).await?),
        Figure::CreatedPerMonth => Data::Months(app.stats_created_per_month(caller, range).await?),
        Figure::Lifetimes => Data::Lifetimes(app.stats_lifetimes(caller, range).await?),
        Figure::GroupsPerMonth => Data::Groups(app.stats_groups_per_month(caller, range).await?),
        Figure::AttemptsByProvider => Data::Attempts(app.stats_attempts_by_provider(caller, range).await?),
    })
}

fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|h| h.to_string()).collect()
}

fn table(data: &Data) -> Table {
    match data {
        Data::Active(rows) => Table {
            headers: headers(&["Group", "Active deployments"]),
            rows: rows.iter().map(|(g, n)| vec![Cell::Text(g.clone()), Cell::Count(*n)]).collect(),
        },
        Data::Services(rows) => Table {
            headers: headers(&["Service", "Deployments", "Share"]),
            rows: rows
                .iter()
                .map(|s| vec![Cell::Text(s.name.clone()), Cell::Count(s.count), Cell::Percent(s.fraction)])
                .collect(),
        },
        Data::Days(rows) => {
            let average = week_average(rows);
            Table {
                headers: headers(&["Day", "Deployments created", "7-day average"]),
                rows: rows
                    .iter()
                    .zip(average)
                    .map(|((d, n), a)| vec![Cell::Text(d.to_string()), Cell::Count(*n), Cell::Decimal(a)])
                    .collect(),
            }
        }
        Data::Months(rows) => Table {
            headers: headers(&["Month", "Deployments created"]),
            rows: rows.iter().map(|(m, n)| vec![Cell::Text(m.clone()), Cell::Count(*n)]).collect(),
        },
        Data::Lifetimes(l) => Table {
            headers: headers(&["Lifetime", "Production", "Testing"]),
            rows: (0..l.buckets.len())
                .map(|i| {
                    vec![Cell::Text(l.buckets[i].clone()), Cell::Count(l.production[i]), Cell::Count(l.testing[i])]
                })
                .collect(),
        },
        Data::Groups(g) => {
            let mut hs = vec!["Month".to_string()];
            hs.extend(g.groups.iter().map(|(name, _)| name.clone()));
            hs.push("Total".into());
            Table {
                headers: hs,
                rows: g
                    .months
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        let mut row = vec![Cell::Text(m.clone())];
                        row.extend(g.groups.iter().map(|(_, v)| Cell::Count(v[i])));
                        row.push(Cell::Count(g.groups.iter().map(|(_, v)| v[i]).sum()));
                        row
                    })
                    .collect(),
            }
        }
        Data::Attempts(rows) => Table {
            headers: headers(&["Provider", "Succeeded", "Failed", "Running", "Failure rate"]),
            rows: rows
                .iter()
                .map(|a| {
                    let done = a.succeeded + a.failed;
                    let rate = if done > 0 { a.failed as f64 / done as f64 } else { 0.0 };
                    vec![
                        Cell::Text(a.provider.clone()),
                        Cell::Count(a.succeeded),
                        Cell::Count(a.failed),
                        Cell::Count(a.running),
                        Cell::Percent(rate),
                    ]
                })
                .collect(),
        },
    }
}

/// The trailing 7-day average of daily counts.
fn week_average(rows: &[(NaiveDate, i64)]) -> Vec<f64> {
    let counts: Vec<i64> = rows.iter().map(|(_, n)| *n).collect();
    nuvola_app::stats::trailing_average(&counts, 7)
}

fn f(n: i64) -> f64 {
    n as f64
}

fn chart(figure: Figure, data: &Data, range: &DateRange) -> Markup {
    let period = format!("from {} to {}", range.from, range.to);
    let desc = match figure {
        Figure::ActiveByGroup => "One bar per group; the numbers are in the table beside the chart.".to_string(),
        _ => format!("{} The period runs {period}; the numbers are in the table beside the chart.", figure.about()),
    };
    let c = Chart { id: figure.slug(), title: figure.title(), desc: &desc };
    match data {
        Data::Active(rows) => charts::bars(
            &c,
            &rows.iter().map(|(g, n)| Bar { label: g.clone(), value: f(*n), shown: count(*n) }).collect::<Vec<_>>(),
        ),
        Data::Services(rows) => charts::bars(
            &c,
            &rows
                .iter()
                .map(|s| Bar {
                    label: s.name.clone(),
                    value: f(s.count),
                    shown: format!("{} ({:.1}\u{a0}%)", count(s.count), s.fraction * 100.0),
                })
                .collect::<Vec<_>>(),
        ),
        Data::Days(rows) => {
            let labels: Vec<String> = rows.iter().map(|(d, _)| d.format("%b %-d").to_string()).collect();
            // Over two months, a tick on each month's first day; else weekly.
            let monthly = rows.len() > 62;
            let ticks: Vec<bool> =
                rows.iter().enumerate().map(|(i, (d, _))| if monthly { d.day() == 1 } else { i % 7 == 0 }).collect();
            let series = vec![
                Series { name: "Created per day".into(), values: rows.iter().map(|(_, n)| f(*n)).collect() },
                Series { name: "7-day average".into(), values: week_average(rows) },
            ];
            charts::line(&c, &labels, &ticks, &series)
        }
        Data::Months(rows) => {
            let categories: Vec<String> = rows.iter().map(|(m, _)| m.clone()).collect();
            let series = vec![Series { name: String::new(), values: rows.iter().map(|(_, n)| f(*n)).collect() }];
            charts::columns(&c, &categories, &series, false)
        }
        Data::Lifetimes(l) => {
            let series = vec![
                Series { name: "Production groups".into(), values: l.production.iter().copied().map(f).collect() },
                Series { name: "Testing groups".into(), values: l.testing.iter().copied().map(f).collect() },
            ];
            charts::columns(&c, &l.buckets, &series, false)
        }
        Data::Groups(g) => {
            let series: Vec<Series> = g
                .groups
                .iter()
                .map(|(name, v)| Series { name: name.clone(), values: v.iter().copied().map(f).collect() })
                .collect();
            charts::columns(&c, &g.months, &series, true)
        }
        Data::Attempts(rows) => {
            let categories: Vec<String> = rows.iter().map(|a| a.provider.clone()).collect();
            let series = vec![
                Series { name: "Succeeded".into(), values: rows.iter().map(|a| f(a.succeeded)).collect() },
                Series { name: "Failed".into(), values: rows.iter().map(|a| f(a.failed)).collect() },
            ];
            charts::columns(&c, &categories, &series, false)
        }
    }
}

/// A table with its caption (read by screen readers), numbers
/// right-aligned.
pub(crate) fn render_table(caption: &str, table: &Table) -> Markup {
    let numeric = |cell: &Cell| !matches!(cell, Cell::Text(_));
    let first = table.rows.first();
    html! {
        table {
            caption class="visually-hidden" { (caption) }
            thead {
                tr {
                    @for (i, h) in table.headers.iter().enumerate() {
                        @let num = first.and_then(|r| r.get(i)).is_some_and(numeric);
                        th scope="col" class=[num.then_some("num")] { (h) }
                    }
                }
            }
            tbody {
                @if table.rows.is_empty() {
                    tr { td colspan=(table.headers.len()) { "No data in this period." } }
                }
                @for row in &table.rows {
                    tr {
                        @for (i, cell) in row.iter().enumerate() {
                            @if i == 0 {
                                th scope="row" { (cell.shown()) }
                            } @else {
                                td class=[numeric(cell).then_some("num")] { (cell.shown()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The `from`/`to` query of the dated figures.
#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn range_of(query: &RangeQuery) -> Result<DateRange, PageError> {
    Ok(DateRange::parse(query.from.as_deref(), query.to.as_deref(), today())?)
}

fn range_form(action: &str, range: &DateRange) -> Markup {
    html! {
        form class="toolbar" method="get" action=(action) {
            div class="field" {
                label for="from" { "From" }
                input type="date" id="from" name="from" value=(range.from) required;
            }
            div class="field" {
                label for="to" { "To" }
                input type="date" id="to" name="to" value=(range.to) required;
            }
            button type="submit" { "Show" }
        }
    }
}

fn query_string(figure: Figure, range: &DateRange) -> String {
    if figure.dated() { format!("?from={}&to={}", range.from, range.to) } else { String::new() }
}

/// `GET /stats`: the list of figures.
pub async fn index(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(query): Query<RangeQuery>,
) -> Result<Markup, PageError> {
    state.app.authorize_statistics(&viewer.principal)?;
    let range = range_of(&query)?;
    let body = html! {
        p { "What the federation did, as charts with their tables and CSV downloads. Dates are UTC days." }
        p { a href="/bulletins" { "The periodic bulletins" } " · " a href="/status/availability" { "Availability and reliability" } }
        (range_form("/stats", &range))
        ul class="cards" {
            @for figure in Figure::ALL {
                li class="card" {
                    h2 { a href={"/stats/" (figure.slug()) (query_string(figure, &range))} { (figure.title()) } }
                    p class="meta" { (figure.about()) }
                    p { a href={"/stats/" (figure.slug()) ".csv" (query_string(figure, &range))} { "CSV" span class="visually-hidden" { " of " (figure.title()) } } }
                }
            }
        }
    };
    Ok(layout::page("Statistics", Some(&viewer), Section::Statistics, body))
}

/// `GET /stats/{name}` (a page) and `GET /stats/{name}.csv` (its table).
pub async fn figure(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(query): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let (slug, as_csv) = match name.strip_suffix(".csv") {
        Some(slug) => (slug, true),
        None => (name.as_str(), false),
    };
    let Some(figure) = Figure::from_slug(slug) else {
        return Err(Error::not_found(format!("no statistic called {slug:?}; the list is at /stats")).into());
    };
    let range = range_of(&query)?;
    let data = load(&state, &viewer, figure, &range).await?;
    let table = table(&data);
    if as_csv {
        let file = if figure.dated() {
            format!("nuvola-{}-{}-to-{}.csv", figure.slug(), range.from, range.to)
        } else {
            format!("nuvola-{}-{}.csv", figure.slug(), today())
        };
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
            ],
            csv(&table),
        )
            .into_response());
    }
    let here = format!("/stats/{}", figure.slug());
    let body = html! {
        p { (figure.about()) }
        @if figure.dated() {
            (range_form(&here, &range))
        }
        div class="split" {
            figure {
                (chart(figure, &data, &range))
            }
            // Long or wide tables scroll on their own, reachable by keyboard.
            div class="table-scroll" tabindex="0" role="region" aria-label={"Table: " (figure.title())} {
                (render_table(figure.title(), &table))
            }
        }
        p {
            a class="button secondary" href={(here) ".csv" (query_string(figure, &range))} download { "Download CSV" }
            " "
            a href={"/stats" (query_string(figure, &range))} { "All statistics" }
        }
    };
    Ok(layout::page(figure.title(), Some(&viewer), Section::Statistics, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_kept_from_formulas() {
        let table = Table {
            headers: vec!["Group".into(), "Share".into()],
            rows: vec![
                vec![Cell::Text("ml, vision".into()), Cell::Percent(0.125)],
                vec![Cell::Text("=HYPERLINK(\"x\")".into()), Cell::Count(-1)],
            ],
        };
        assert_eq!(csv(&table), "Group,Share\r\n\"ml, vision\",0.1250\r\n\"'=HYPERLINK(\"\"x\"\")\",-1\r\n");
    }

    #[test]
    fn every_figure_has_a_distinct_slug() {
        let mut slugs: Vec<&str> = Figure::ALL.iter().map(|f| f.slug()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), Figure::ALL.len());
        assert_eq!(Figure::from_slug("lifetimes"), Some(Figure::Lifetimes));
    }
}
