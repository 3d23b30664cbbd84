//! The statistics operators report each year: active deployments per
//! group, deployments per catalogue service, deployments created per day and
//! per month, how long deployments live (production vs testing groups),
//! deployments by group per month, and attempt outcomes per provider.
//!
//! Who sees them: platform administrators see every group's figures; a
//! group manager sees the figures of the groups they manage (every query is
//! narrowed to those groups in SQL, attempts included); anyone else is
//! refused. A group counts as *testing* when it is listed in the settings'
//! `testing_groups` (`[statistics] testing_groups` in the configuration);
//! every other group is *production*.
//!
//! Time windows are whole UTC days, both ends included; missing days and
//! months are filled with zeros so that charts show gaps as gaps.

use chrono::{Datelike, Duration, NaiveDate};
use nuvola_store::{AttemptOutcomes, LIFETIME_BUCKET_HOURS, StatsFilter};
use nuvola_types::{Error, Principal, Result, now_ms};

use crate::App;

/// Longest window a statistic may cover, in days.
pub const MAX_DAYS: i64 = 3660;

/// A window of whole UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    /// The year up to and including `today`.
    pub fn last_year(today: NaiveDate) -> Self {
        DateRange { from: today - Duration::days(364), to: today }
    }

    /// The window from `from` and `to` (`YYYY-MM-DD`, either may be empty
    /// or absent), defaulting to the year up to `today`.
    pub fn parse(from: Option<&str>, to: Option<&str>, today: NaiveDate) -> Result<Self> {
        let day = |name: &str, text: Option<&str>| -> Result<Option<NaiveDate>> {
            match text.map(str::trim).filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| Error::invalid(format!("{name} date {t:?} is not a date: write it as YYYY-MM-DD"))),
            }
        };
        let (from, to) = (day("from", from)?, day("to", to)?);
        let to = to.unwrap_or(today);
        let from = from.unwrap_or(to - Duration::days(364));
        let range = DateRange { from, to };
        for day in [from, to] {
            if !(1970..=9999).contains(&day.year()) {
                return Err(Error::invalid(format!("{day} is out of range: use dates from 1970-01-01 to 9999-12-31")));
            }
        }
        if from > to {
            return Err(Error::invalid(format!("the from date {from} is after the to date {to}")));
        }
        if range.days() > MAX_DAYS {
            return Err(Error::invalid(format!(
                "a window of {} days is too long: statistics cover at most {MAX_DAYS} days",
                range.days()
            )));
        }
        Ok(range)
    }

    /// How many days the window holds.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// Every day of the window, in order.
    pub fn each_day(&self) -> impl Iterator<Item = NaiveDate> {
        self.from.iter_days().take_while(move |d| *d <= self.to)
    }

    /// Every month (`YYYY-MM`) the window touches, in order.
    pub fn each_month(&self) -> Vec<String> {
        let mut months = Vec::new();
        let (mut y, mut m) = (self.from.year(), self.from.month());
        while (y, m) <= (self.to.year(), self.to.month()) {
            months.push(format!("{y:04}-{m:02}"));
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        months
    }

    /// `[start, end)` in milliseconds.
    fn millis(&self) -> (i64, i64) {
        let start = self.from.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
        let end = (self.to + Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
        (start, end)
    }
}

/// How one catalogue service's deployments weigh among all.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceShare {
    /// The catalogue id; `None` for templates users supplied themselves.
    pub service: Option<String>,
    /// The catalogue entry's name (or its id, or "Own template").
    pub name: String,
    pub count: i64,
    /// `count` over all deployments in the window, 0 to 1.
    pub fraction: f64,
}

/// Which kind of group a deployment belongs to, for lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Production,
    Testing,
}

/// The lifetime histogram: per bucket, production and testing counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifetimes {
    /// One label per bucket, e.g. `1–6 h`.
    pub buckets: Vec<String>,
    pub production: Vec<i64>,
    pub testing: Vec<i64>,
}

/// Deployments created per month, one series per group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupsOverTime {
    /// `YYYY-MM`, every month of the window.
    pub months: Vec<String>,
    /// Per group (by name), one count per month.
    pub groups: Vec<(String, Vec<i64>)>,
}

/// The trailing average of `values` over `window` entries (fewer at the
/// start, where fewer exist).
pub fn trailing_average(values: &[i64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut sum = 0i64;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            sum += v;
            if i >= window {
                sum -= values[i - window];
            }
            sum as f64 / (i + 1).min(window) as f64
        })
        .collect()
}

/// The labels of the lifetime buckets, from [`LIFETIME_BUCKET_HOURS`].
pub fn lifetime_labels() -> Vec<String> {
    let words = |h: i64| match h {
        h if h % 720 == 0 => format!("{} mo", h / 720),
        h if h % 168 == 0 => format!("{} wk", h / 168),
        h if h % 24 == 0 && h > 24 => format!("{} d", h / 24),
        h => format!("{h} h"),
    };
    let mut labels = Vec::with_capacity(LIFETIME_BUCKET_HOURS.len() + 1);
    let mut lower: Option<i64> = None;
    for upper in LIFETIME_BUCKET_HOURS {
        labels.push(match lower {
            None => format!("under {}", words(upper)),
            Some(l) => format!("{}–{}", words(l), words(upper)),
        });
        lower = Some(upper);
    }
    labels.push(format!("{} or more", words(*LIFETIME_BUCKET_HOURS.last().expect("buckets"))));
    labels
}

impl App {
    /// The groups whose figures the caller may see: `None` for all
    /// (administrators), the groups they manage for managers.
    fn stats_scope(&self, caller: &Principal) -> Result<Option<Vec<String>>> {
        if caller.admin {
            Ok(None)
        } else if !caller.manages.is_empty() {
            Ok(Some(caller.manages.clone()))
        } else {
            Err(Error::Forbidden("statistics are for platform administrators and group managers".into()))
        }
    }

    /// Refuses callers who may see no statistics at all.
    pub fn authorize_statistics(&self, caller: &Principal) -> Result<()> {
        self.stats_scope(caller).map(|_| ())
    }

    fn stats_filter(&self, caller: &Principal, range: Option<&DateRange>) -> Result<StatsFilter> {
        let groups = self.stats_scope(caller)?;
        let (from, to) = range.map(DateRange::millis).unzip();
        Ok(StatsFilter { from, to, groups })
    }

    /// Whether `group` counts as a testing group.
    pub fn group_kind(&self, group: &str) -> GroupKind {
        if self.settings().testing_groups.iter().any(|g| g == group) {
            GroupKind::Testing
        } else {
            GroupKind::Production
        }
    }

    /// Active deployments (neither deleted nor failed to create) per group,
    /// most first.
    pub async fn stats_active_by_group(&self, caller: &Principal) -> Result<Vec<(String, i64)>> {
        let filter = self.stats_filter(caller, None)?;
        Ok(self.store().stats_active_by_group(&filter).await?)
    }

    /// Deployments created in `range` per catalogue service, most first.
    pub async fn stats_by_service(&self, caller: &Principal, range: &DateRange) -> Result<Vec<ServiceShare>> {
        let filter = self.stats_filter(caller, Some(range))?;
        let counts = self.store().stats_by_service(&filter).await?;
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        Ok(counts
            .into_iter()
            .map(|(service, count)| {
                let name = match &service {
                    Some(id) => self.catalogue().get(id).map(|e| e.name.clone()).unwrap_or_else(|_| id.clone()),
                    None => "Own template".to_string(),
                };
                ServiceShare {
                    service,
                    name,
                    count,
                    fraction: if total > 0 { count as f64 / total as f64 } else { 0.0 },
                }
            })
            .collect())
    }

    /// Deployments created on each day of `range` (zeros included).
    pub async fn stats_created_per_day(&self, caller: &Principal, range: &DateRange) -> Result<Vec<(NaiveDate, i64)>> {
        let filter = self.stats_filter(caller, Some(range))?;
        let counts: std::collections::HashMap<String, i64> =
            self.store().stats_created_per_day(&filter).await?.into_iter().collect();
        Ok(range.each_day().map(|d| (d, counts.get(&d.format("%Y-%m-%d").to_string()).copied().unwrap_or(0))).collect())
    }

    /// Deployments created in each month `range` touches (zeros included);
    /// the first and last months count only the days inside the window.
    pub async fn stats_created_per_month(&self, caller: &Principal, range: &DateRange) -> Result<Vec<(String, i64)>> {
        let filter = self.stats_filter(caller, Some(range))?;
        let counts: std::collections::HashMap<String, i64> =
            self.store().stats_created_per_month(&filter).await?.into_iter().collect();
        Ok(range.each_month().into_iter().map(|m| (m.clone(), counts.get(&m).copied().unwrap_or(0))).collect())
    }

    /// How long deployments created in `range` lived, production vs testing.
    pub async fn stats_lifetimes(&self, caller: &Principal, range: &DateRange) -> Result<Lifetimes> {
        let filter = self.stats_filter(caller, Some(range))?;
        let buckets = lifetime_labels();
        let mut out = Lifetimes { production: vec![0; buckets.len()], testing: vec![0; buckets.len()], buckets };
        for (group, bucket, n) in self.store().stats_lifetimes(&filter, now_ms()).await? {
            let series = match self.group_kind(&group) {
                GroupKind::Production => &mut out.production,
                GroupKind::Testing => &mut out.testing,
            };
            series[bucket] += n;
        }
        Ok(out)
    }

    /// Deployments created per month of `range`, per group.
    pub async fn stats_groups_per_month(&self, caller: &Principal, range: &DateRange) -> Result<GroupsOverTime> {
        let filter = self.stats_filter(caller, Some(range))?;
        let months = range.each_month();
        let index: std::collections::HashMap<&str, usize> =
            months.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
        let mut groups: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        for (month, group, n) in self.store().stats_groups_per_month(&filter).await? {
            if let Some(&i) = index.get(month.as_str()) {
                groups.entry(group).or_insert_with(|| vec![0; months.len()])[i] += n;
            }
        }
        Ok(GroupsOverTime { groups: groups.into_iter().collect(), months })
    }

    /// Attempts started in `range` per provider: succeeded, failed, running.
    pub async fn stats_attempts_by_provider(
        &self,
        caller: &Principal,
        range: &DateRange,
    ) -> Result<Vec<AttemptOutcomes>> {
        let filter = self.stats_filter(caller, Some(range))?;
        Ok(self.store().stats_attempts_by_provider(&filter).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ranges_default_to_the_last_year_and_refuse_nonsense() {
        let today = day("2026-11-25");
        let r = DateRange::parse(None, Some(""), today).unwrap();
        assert_eq!((r.from, r.to, r.days()), (day("2025-11-26"), today, 365));
        let r = DateRange::parse(Some("2026-01-31"), Some("2026-03-01"), today).unwrap();
        assert_eq!(r.each_month(), ["2026-01", "2026-02", "2026-03"]);
        assert_eq!(r.each_day().count(), 30);
        assert_eq!(r.millis().1 - r.millis().0, 30 * 86_400_000);
        let e = DateRange::parse(Some("2026-13-01"), None, today).unwrap_err();
        assert!(e.to_string().contains("YYYY-MM-DD"), "{e}");
        let e = DateRange::parse(Some("2026-03-02"), Some("2026-03-01"), today).unwrap_err();
        assert!(e.to_string().contains("after"), "{e}");
        assert!(DateRange::parse(Some("2000-01-01"), None, today).is_err());
        let e = DateRange::parse(Some("+262142-12-30"), Some("+262142-12-31"), today).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        assert!(DateRange::parse(Some("1969-12-31"), Some("1970-01-31"), today).is_err());
        let december = DateRange::parse(Some("2025-12-01"), Some("2026-01-01"), today).unwrap();
        assert_eq!(december.each_month(), ["2025-12", "2026-01"]);
    }

    #[test]
    fn trailing_averages_use_what_exists_at_the_start() {
        assert_eq!(trailing_average(&[7, 0, 2, 4], 3), [7.0, 3.5, 3.0, 2.0]);
        assert!(trailing_average(&[], 7).is_empty());
    }

    #[test]
    fn lifetime_buckets_have_readable_labels() {
        assert_eq!(
            lifetime_labels(),
            ["under 1 h", "1 h–6 h", "6 h–24 h", "24 h–3 d", "3 d–1 wk", "1 wk–1 mo", "1 mo–3 mo", "3 mo or more"]
        );
    }
}
