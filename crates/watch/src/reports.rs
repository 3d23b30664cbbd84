//! Availability and reliability of each component, per day and over a
//! month, with EGI ARGO's definitions ([`nuvola_monitor::argo`]): from the
//! stored timeline of the component's states, with its provider's
//! announced outages (maintenance windows of kind outage) as scheduled
//! downtime. Before its first state a component is UNKNOWN, as is any
//! time after `now`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use nuvola_monitor::argo::{self, Durations, Figures};
use nuvola_types::{Error, ProviderSpec, Result};

use crate::{Component, Watch};

const DAY: i64 = 24 * 3_600_000;

/// One component's availability over a month, day by day.
#[derive(Debug, Clone)]
pub struct ComponentReport {
    pub component: Component,
    /// The whole month (up to now, when it is the current one).
    pub month: Durations,
    pub figures: Figures,
    /// Each day of the month, from the 1st.
    pub days: Vec<(NaiveDate, Durations, Figures)>,
}

/// Every component's report for one month.
#[derive(Debug, Clone)]
pub struct MonthReport {
    /// `YYYY-MM`.
    pub month: String,
    pub components: Vec<ComponentReport>,
}

/// The month `YYYY-MM` as its first day, or an error naming the text.
pub fn parse_month(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .map_err(|_| Error::invalid(format!("month {text:?} is not a month like 2026-12")))
}

fn ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis()
}

impl Watch {
    /// The report of the month starting on `first`, for the components the
    /// last round saw, with `providers`' maintenance windows; time after
    /// `now` counts as UNKNOWN.
    pub async fn month_report(&self, providers: &[ProviderSpec], first: NaiveDate, now: i64) -> Result<MonthReport> {
        let next =
            first.checked_add_months(chrono::Months::new(1)).ok_or_else(|| Error::invalid("month out of range"))?;
        let (from, to) = (ms(first), ms(next));
        let snapshot = self.snapshot();
        let mut components = Vec::with_capacity(snapshot.components.len());
        for status in &snapshot.components {
            let component = status.component.clone();
            let states: Vec<(i64, nuvola_types::ComponentState)> = self
                .inner
                .store
                .component_timeline(&component.id, from, to)
                .await?
                .into_iter()
                .map(|c| (c.at, c.state))
                .collect();
            let downtimes = crate::page::outage_windows(providers, component.provider.as_deref());
            let mut timeline = argo::timeline(&states, &downtimes);
            // Nothing is known of the time to come.
            if now < to {
                timeline.retain(|(at, _)| *at < now);
                timeline.push((now.max(from), argo::Status::Unknown));
            }
            let month = Durations::of_timeline(&timeline, from, to);
            let days = first
                .iter_days()
                .take_while(|d| *d < next)
                .map(|day| {
                    let d = Durations::of_timeline(&timeline, ms(day), ms(day) + DAY);
                    (day, d, argo::figures(&d))
                })
                .collect();
            components.push(ComponentReport { component, figures: argo::figures(&month), month, days });
        }
        Ok(MonthReport { month: first.format("%Y-%m").to_string(), components })
    }
}

/// The first day of the month `now` is in.
pub fn this_month(now: i64) -> NaiveDate {
    let today = DateTime::<Utc>::from_timestamp_millis(now).unwrap_or_default().date_naive();
    today.with_day(1).unwrap_or(today)
}

/// The report as CSV: one row per component and day, then one per
/// component for the whole month (day `month`), with the time in each
/// status in seconds to the millisecond (as exact as the timeline) and the
/// two figures in percent (empty where undefined).
pub fn csv(report: &MonthReport) -> String {
    let mut out = String::from(
        "component,name,day,ok_seconds,warning_seconds,critical_seconds,unknown_seconds,downtime_seconds,availability_percent,reliability_percent\n",
    );
    let seconds = |ms: i64| format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000));
    let percent = |f: Option<f64>| f.map(|f| format!("{:.2}", f * 100.0)).unwrap_or_default();
    let mut row = |c: &Component, day: &str, d: &Durations, f: &Figures| {
        let fields = [
            c.id.clone(),
            c.name.clone(),
            day.to_string(),
            seconds(d.ok),
            seconds(d.warning),
            seconds(d.critical),
            seconds(d.unknown),
            seconds(d.downtime),
            percent(f.availability),
            percent(f.reliability),
        ];
        let line: Vec<String> = fields.iter().map(|f| nuvola_types::csv::field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    };
    for c in &report.components {
        for (day, d, f) in &c.days {
            row(&c.component, &day.format("%Y-%m-%d").to_string(), d, f);
        }
        row(&c.component, "month", &c.month, &c.figures);
    }
    out
}
