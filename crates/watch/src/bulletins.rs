//! The periodic bulletin, composed from the store (what each site's groups
//! hold against their grants, the period's incidents, maintenance of the
//! period and to come, each component's availability and reliability,
//! what alerting told), kept as a page and mailed to the operators and the
//! groups' managers. Each period has one bulletin: the replica that keeps
//! it first sends it.

use std::collections::BTreeSet;

use nuvola_monitor::argo::{self, Durations};
use nuvola_monitor::bulletin::{AvailabilityLine, Bulletin, Every, IncidentLine, MaintenanceLine, SiteUse};
use nuvola_notify::Mail;
use nuvola_store::{IncidentFilter, KeptBulletin};
use nuvola_types::{Error, ProviderSpec, Result, Spelled};

use crate::{Deliveries, Watch};

/// How far ahead maintenance is announced in a bulletin.
const AHEAD_MS: i64 = 14 * 24 * 3_600_000;

impl Watch {
    /// The bulletin of `[from, to)`, named `id`.
    pub async fn compose_bulletin(&self, providers: &[ProviderSpec], id: &str, from: i64, to: i64) -> Result<Bulletin> {
        let store = &self.inner.store;
        let held = store.held_everywhere().await?;
        let sites = providers
            .iter()
            .map(|spec| {
                let mut site = SiteUse { provider: spec.name.clone(), ..SiteUse::default() };
                for (_, _, usage) in held.iter().filter(|(_, p, _)| *p == spec.name) {
                    site.cores += usage.cores;
                    site.ram_mb += usage.ram_mb;
                    site.instances += usage.instances;
                }
                let total = |limit: fn(&nuvola_types::Quota) -> Option<u64>| {
                    spec.groups.values().map(|g| limit(&g.quota)).try_fold(0u64, |sum, l| l.map(|l| sum + l))
                };
                site.cores_granted = total(|q| q.cores);
                site.ram_mb_granted = total(|q| q.ram_mb);
                site.instances_granted = total(|q| q.instances);
                site
            })
            .collect();

        let mut incidents: Vec<IncidentLine> = Vec::new();
        let mut seen = BTreeSet::new();
        for filter in [
            IncidentFilter { since: Some(from), limit: 200, ..IncidentFilter::default() },
            IncidentFilter { unresolved_only: true, limit: 200, ..IncidentFilter::default() },
        ] {
            for i in store.incidents(&filter).await? {
                if i.created_at < to && seen.insert(i.id.clone()) {
                    incidents.push(IncidentLine {
                        id: i.id,
                        title: i.title,
                        impact: i.impact.as_str().to_string(),
                        status: i.status.as_str().to_string(),
                        opened_at: i.created_at,
                        resolved_at: i.resolved_at,
                    });
                }
            }
        }
        incidents.sort_by_key(|i| i.opened_at);

        let mut maintenances: Vec<MaintenanceLine> = providers
            .iter()
            .flat_map(|spec| spec.maintenance.iter().map(move |w| (spec, w)))
            .filter(|(_, w)| w.end.timestamp_millis() > from && w.start.timestamp_millis() < to + AHEAD_MS)
            .map(|(spec, w)| MaintenanceLine {
                provider: spec.name.clone(),
                kind: w.kind.label().to_string(),
                start: w.start.timestamp_millis(),
                end: w.end.timestamp_millis(),
                reason: w.reason.clone(),
            })
            .collect();
        maintenances.sort_by_key(|m| m.start);

        let snapshot = self.snapshot();
        let mut availability = Vec::with_capacity(snapshot.components.len());
        for status in &snapshot.components {
            let states: Vec<_> = store
                .component_timeline(&status.component.id, from, to)
                .await?
                .into_iter()
                .map(|c| (c.at, c.state))
                .collect();
            let downtimes = crate::page::outage_windows(providers, status.component.provider.as_deref());
            let figures = argo::figures(&Durations::of_timeline(&argo::timeline(&states, &downtimes), from, to));
            availability.push(AvailabilityLine {
                component: status.component.id.clone(),
                name: status.component.name.clone(),
                availability: figures.availability,
                reliability: figures.reliability,
            });
        }

        let sent: Vec<_> =
            store.notifications(None, 1000).await?.into_iter().filter(|n| n.at >= from && n.at < to).collect();
        let alerts: Vec<_> = sent.iter().filter(|n| n.subject.starts_with("[nuvola alerts]")).collect();
        let mut notable: Vec<String> = Vec::new();
        for n in &alerts {
            let what = n.subject.split_once(": ").map_or(n.subject.as_str(), |(_, what)| what).to_string();
            if !notable.contains(&what) && notable.len() < 10 {
                notable.push(what);
            }
        }
        Ok(Bulletin {
            id: id.to_string(),
            from,
            to,
            sites,
            incidents,
            maintenances,
            availability,
            alerts_told: alerts.len(),
            notifications_sent: sent.len(),
            notable,
        })
    }

    /// The bulletin of the period before `now`'s, if none is kept yet:
    /// composes it, keeps it, and (when this call kept it) mails it to the
    /// operators and the groups' managers. Returns it when it was made.
    pub async fn bulletin_if_due(
        &self,
        providers: &[ProviderSpec],
        every: Every,
        now: i64,
    ) -> Result<Option<Bulletin>> {
        let (id, from, to) = every.previous(now);
        if self.inner.store.bulletin(&id).await?.is_some() {
            return Ok(None);
        }
        let bulletin = self.compose_bulletin(providers, &id, from, to).await?;
        let body =
            serde_json::to_value(&bulletin).map_err(|e| Error::internal_because("cannot keep the bulletin", e))?;
        let kept = KeptBulletin { id: id.clone(), period_start: from, period_end: to, created_at: now, body };
        if !self.inner.store.keep_bulletin(&kept).await? {
            return Ok(None);
        }
        let alerts = &self.inner.settings.alerts;
        let recipients: BTreeSet<String> =
            alerts.operators.iter().chain(alerts.managers.values().flatten()).cloned().collect();
        let page = format!("{}/bulletins/{id}", self.public_url());
        let mail = Mail::Bulletin(Box::new(bulletin.clone()), page);
        let mut deliveries = Deliveries::new(self.inner.store.clone());
        for to in &recipients {
            deliveries.mail(&self.inner.notifier, to, &mail, &format!("bulletin {id}"), now);
        }
        deliveries.spawn(self);
        Ok(Some(bulletin))
    }

    /// A kept bulletin.
    pub async fn bulletin(&self, id: &str) -> Result<Bulletin> {
        let kept = self.inner.store.bulletin(id).await?.ok_or_else(|| Error::not_found(format!("no bulletin {id}")))?;
        serde_json::from_value(kept.body).map_err(|e| Error::internal_because("a kept bulletin cannot be read", e))
    }

    /// The latest bulletins' names and periods, newest first.
    pub async fn bulletins(&self, limit: i64) -> Result<Vec<(String, i64, i64)>> {
        let kept = self.inner.store.bulletins(limit).await?;
        Ok(kept.into_iter().map(|b| (b.id, b.period_start, b.period_end)).collect())
    }
}
