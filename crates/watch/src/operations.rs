//! What the operators' page charts: deployments created and failed per
//! day, how long attempts take to be ready per provider, the providers'
//! probe latency hour by hour, each group's quota use per site, the open
//! alerts, and the providers' last canary runs with any canary VM left
//! behind.

use chrono::{DateTime, Days, NaiveDate, Utc};
use nuvola_monitor::alerts::{Alert, AlertState};
use nuvola_store::StatsFilter;
use nuvola_types::{AttemptState, CanaryRun, ProviderSpec, RESOURCES, Result};

use crate::Watch;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// The operators' figures over the last days.
#[derive(Debug, Clone, Default)]
pub struct Operations {
    /// The days shown (`YYYY-MM-DD`, UTC), oldest first.
    pub days: Vec<String>,
    /// Deployments created on each day.
    pub created: Vec<i64>,
    /// Of which failed to be created.
    pub failed: Vec<i64>,
    /// Per provider, how long its attempts of the period took to be ready.
    pub time_to_ready: Vec<ReadyTimes>,
    /// The last day's hours (ms, oldest first) of [`Self::latency`].
    pub hours: Vec<i64>,
    /// Per provider, the mean latency of its checks in each hour (`None`:
    /// not probed then).
    pub latency: Vec<(String, Vec<Option<f64>>)>,
    /// What each group holds of its quota on each provider, per limited
    /// resource.
    pub quota: Vec<QuotaUse>,
    /// Alerts pending or firing.
    pub alerts: Vec<Alert>,
    /// Each provider's last canary runs of the period, newest first
    /// ([`CANARY_RUNS_SHOWN`] at most), by provider.
    pub canary_runs: Vec<CanaryRun>,
    /// Canary VMs not confirmed gone, oldest first.
    pub canary_leftovers: Vec<CanaryRun>,
}

/// How many canary runs of each provider the page shows.
pub const CANARY_RUNS_SHOWN: usize = 5;

/// How long a provider's attempts took to be ready.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyTimes {
    pub provider: String,
    /// Attempts of the period that became ready.
    pub ready: usize,
    pub p50_secs: f64,
    pub p95_secs: f64,
}

/// A group's use of one limited resource on one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaUse {
    pub provider: String,
    pub group: String,
    pub resource: &'static str,
    pub used: u64,
    pub limit: u64,
}

impl QuotaUse {
    /// The share used, 0..=1 (above 1 when over the limit).
    pub fn share(&self) -> f64 {
        if self.limit == 0 { 1.0 } else { self.used as f64 / self.limit as f64 }
    }
}

impl Watch {
    /// The figures of the `days` days up to `now`, for the providers of
    /// `providers`.
    pub async fn operations(&self, providers: &[ProviderSpec], now: i64, days: u32) -> Result<Operations> {
        let store = &self.inner.store;
        let today = DateTime::<Utc>::from_timestamp_millis(now).unwrap_or_default().date_naive();
        let first = today.checked_sub_days(Days::new(u64::from(days.max(1)) - 1)).unwrap_or(today);
        let from = first.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
        let filter = StatsFilter { from: Some(from), to: Some(now + 1), groups: None };
        let created = store.stats_created_per_day(&filter).await?;
        let failed = store.stats_failed_per_day(&filter).await?;
        let day_list: Vec<String> = first.iter_days().take_while(|d| *d <= today).map(day).collect();
        let on = |counts: &[(String, i64)]| -> Vec<i64> {
            day_list.iter().map(|d| counts.iter().find(|(c, _)| c == d).map_or(0, |(_, n)| *n)).collect()
        };

        let mut took: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        for (provider, state, ms) in store.attempt_outcomes(from).await? {
            if matches!(state, AttemptState::Ready | AttemptState::Deleting | AttemptState::Deleted)
                && let Some(ms) = ms
            {
                took.entry(provider).or_default().push(ms);
            }
        }
        let time_to_ready = took
            .into_iter()
            .map(|(provider, mut ms)| {
                ms.sort_unstable();
                let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
                ReadyTimes { provider, ready: ms.len(), p50_secs: at(0.5), p95_secs: at(0.95) }
            })
            .collect();

        let since = now - now.rem_euclid(HOUR) - 23 * HOUR;
        let hours: Vec<i64> = (0..24).map(|h| since + h * HOUR).collect();
        let buckets = store.probe_buckets(None, since, since + DAY, HOUR).await?;
        let snapshot = self.snapshot();
        let mut latency = Vec::new();
        for status in &snapshot.components {
            let Some(provider) = &status.component.provider else { continue };
            let mut sums = vec![(0.0, 0i64); hours.len()];
            for b in buckets.iter().filter(|b| b.target == status.component.id) {
                let slot = ((b.bucket_start - since) / HOUR) as usize;
                if let Some((sum, n)) = sums.get_mut(slot) {
                    *sum += b.mean_latency_ms * b.count as f64;
                    *n += b.count;
                }
            }
            let means = sums.into_iter().map(|(sum, n)| (n > 0).then(|| sum / n as f64)).collect();
            latency.push((provider.clone(), means));
        }

        let held = store.held_everywhere().await?;
        let mut quota = Vec::new();
        for spec in providers {
            for (group, grant) in &spec.groups {
                let usage =
                    held.iter().find(|(g, p, _)| g == group && *p == spec.name).map(|(_, _, u)| *u).unwrap_or_default();
                let rows = RESOURCES.iter().zip(usage.amounts()).zip(grant.quota.limits());
                for (((resource, _), used), limit) in rows {
                    if let Some(limit) = limit {
                        quota.push(QuotaUse {
                            provider: spec.name.clone(),
                            group: group.clone(),
                            resource,
                            used,
                            limit,
                        });
                    }
                }
            }
        }
        let alerts = self.alerts().await?.into_iter().filter(|a| a.state != AlertState::Resolved).collect();
        let (canary_leftovers, canary_runs) = self.canary_runs(now, from, CANARY_RUNS_SHOWN).await?;
        Ok(Operations {
            created: on(&created),
            failed: on(&failed),
            days: day_list,
            time_to_ready,
            hours,
            latency,
            quota,
            alerts,
            canary_runs,
            canary_leftovers,
        })
    }
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}
