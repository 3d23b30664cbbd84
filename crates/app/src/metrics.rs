//! What the app tells Prometheus: deployments by status, provider and
//! group, attempts' outcomes and durations, quota use per provider and
//! group, the workflow's queue, and the probes' last round and the
//! providers' canary runs (from the watcher), and this month's accounting
//! per provider and group (`nuvola_usage::views`). The API adds its own (HTTP
//! requests) and answers the scrape.

use std::collections::BTreeMap;

use nuvola_monitor::openmetrics::{Exposition, Histogram};
use nuvola_types::{AttemptState, RESOURCES, Result};

/// Upper bounds of the attempt duration buckets, in seconds: from a
/// simulated site's second to a slow cloud's hour.
const ATTEMPT_SECONDS: [f64; 10] = [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];

use crate::App;

impl App {
    /// Writes the app's metric families into `out`.
    pub async fn metrics(&self, out: &mut Exposition) -> Result<()> {
        let counts = self.store().count_by_status_provider_group().await?;
        let labels: Vec<[(&str, &str); 3]> = counts
            .iter()
            .map(|(status, provider, group, _)| {
                [("status", status.as_str()), ("provider", provider.as_deref().unwrap_or("")), ("group", group)]
            })
            .collect();
        let samples: Vec<_> = labels.iter().zip(&counts).map(|(l, c)| (&l[..], c.3 as f64)).collect();
        out.gauge(
            "nuvola_deployments",
            "Deployments by status, provider (empty before placement) and group.",
            &samples,
        );
        let (due, waited_ms) = self.store().due_work(self.now_ms()).await?;
        out.gauge("nuvola_workflow_due_steps", "Workflow steps due now and not yet run.", &[(&[], due as f64)]);
        out.gauge(
            "nuvola_workflow_lag_seconds",
            "How long the oldest due workflow step has waited.",
            &[(&[], waited_ms.unwrap_or(0) as f64 / 1000.0)],
        );
        self.attempt_metrics(out).await?;
        self.quota_metrics(out).await?;
        self.accounting().metrics(out).await?;
        self.watch().metrics(out);
        self.watch().canary_metrics(out, self.now_ms()).await?;
        Ok(())
    }

    /// Attempts that ended, by provider and outcome, and how long they
    /// took, over every attempt the store holds (so the counts survive
    /// restarts and agree between replicas).
    async fn attempt_metrics(&self, out: &mut Exposition) -> Result<()> {
        let mut by: BTreeMap<(String, &str), Histogram> = BTreeMap::new();
        for (provider, state, took) in self.store().attempt_outcomes(0).await? {
            let outcome = match state {
                AttemptState::Ready | AttemptState::Deleting | AttemptState::Deleted => "succeeded",
                AttemptState::Cleaning | AttemptState::Cleaned | AttemptState::Kept | AttemptState::Orphaned => {
                    "failed"
                }
                AttemptState::Creating | AttemptState::Building => continue,
            };
            let histogram = by.entry((provider, outcome)).or_insert_with(|| Histogram::new(&ATTEMPT_SECONDS));
            histogram.observe(took.unwrap_or(0).max(0) as f64 / 1000.0);
        }
        let labels: Vec<[(&str, &str); 2]> =
            by.keys().map(|(provider, outcome)| [("provider", provider.as_str()), ("outcome", *outcome)]).collect();
        let counts: Vec<_> = labels.iter().zip(by.values()).map(|(l, h)| (&l[..], h.count() as f64)).collect();
        out.counter("nuvola_attempts", "Deployment attempts that ended, by provider and outcome.", &counts);
        let histograms: Vec<_> = labels.iter().zip(by.values()).map(|(l, h)| (&l[..], h)).collect();
        out.histogram(
            "nuvola_attempt_duration_seconds",
            "How long attempts took from create to ready (succeeded) or to failing.",
            &histograms,
        );
        Ok(())
    }

    /// What each group holds on each provider, and its grant's limits
    /// there (only limited resources have a limit sample).
    async fn quota_metrics(&self, out: &mut Exposition) -> Result<()> {
        let held = self.store().held_everywhere().await?;
        let providers = self.federation().providers();
        let mut used: Vec<([(&str, &str); 3], f64)> = Vec::new();
        let mut limits: Vec<([(&str, &str); 3], f64)> = Vec::new();
        let held_of = |group: &str, provider: &str| {
            held.iter().find(|(g, p, _)| g == group && p == provider).map(|(_, _, usage)| *usage).unwrap_or_default()
        };
        for spec in providers.iter() {
            for (group, grant) in &spec.groups {
                let amounts = held_of(group, &spec.name).amounts();
                for (((resource, _), amount), limit) in RESOURCES.iter().zip(amounts).zip(grant.quota.limits()) {
                    let labels = [("provider", spec.name.as_str()), ("group", group.as_str()), ("resource", *resource)];
                    used.push((labels, amount as f64));
                    if let Some(limit) = limit {
                        limits.push((labels, limit as f64));
                    }
                }
            }
        }
        out.gauge(
            "nuvola_quota_used",
            "What a group's deployments hold on a provider, per resource (RAM in MiB, volumes in GiB).",
            &used.iter().map(|(l, n)| (&l[..], *n)).collect::<Vec<_>>(),
        );
        out.gauge(
            "nuvola_quota_limit",
            "A group's quota on a provider, per limited resource.",
            &limits.iter().map(|(l, n)| (&l[..], *n)).collect::<Vec<_>>(),
        );
        Ok(())
    }
}
