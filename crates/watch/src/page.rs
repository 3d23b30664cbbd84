//! The public status page as its readers see it: every component in its
//! group with the state it is shown in (an operator's override, else an
//! outage maintenance in progress, else what the probes say), the
//! unresolved incidents, the maintenances of the providers' windows with
//! where each stands, each component's last 90 days (per day its worst
//! state and its uptime) and this month's availability and reliability as
//! EGI ARGO computes them (scheduled downtime: the provider's maintenance
//! windows of kind outage).
//!
//! Everything is read for a time `now` given by the caller, so a
//! maintenance is announced, starts and ends by itself as `now` passes,
//! and tests drive time without waiting. The same reading feeds the
//! Statuspage-compatible JSON and the feeds ([`crate::published`]).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use nuvola_monitor::argo::{self, Durations, Figures};
use nuvola_monitor::maintenance::Phase;
use nuvola_monitor::state::shown;
use nuvola_monitor::statuspage::{self, Indicator};
use nuvola_store::{ComponentOverride, IncidentFilter};
use nuvola_types::status::Incident;
use nuvola_types::{ComponentState, MaintenanceKind, ProviderSpec, Result};

use crate::components::{Component, Group, provider_component};
use crate::{ComponentStatus, Watch};

/// A day, in ms.
pub const DAY_MS: i64 = 24 * 3_600_000;
/// How many days of history each component shows.
pub const HISTORY_DAYS: usize = 90;
/// How long a completed maintenance stays in the JSON and the feeds.
pub const COMPLETED_KEPT_MS: i64 = 7 * DAY_MS;
/// The notifications log's `about` for the page's own announcements.
pub const PAGE_CHANNEL: &str = "page";

/// A component as the page shows it.
#[derive(Debug, Clone)]
pub struct ShownComponent {
    pub component: Component,
    /// What the probes say.
    pub derived: ComponentState,
    /// What the page shows: the override, else maintenance, else derived.
    pub shown: ComponentState,
    /// Since when the probes say what they say.
    pub since: i64,
    /// The operator's word, when there is one.
    pub overridden: Option<ComponentOverride>,
    /// The failing checks, when the probes see trouble.
    pub reason: String,
}

/// A provider's maintenance window, where it stands at the page's time.
#[derive(Debug, Clone)]
pub struct ScheduledMaintenance {
    /// `<provider>-<start in ms>`: stable while the window is.
    pub id: String,
    pub provider: String,
    /// The provider's component on the page.
    pub component: Component,
    pub kind: MaintenanceKind,
    pub reason: String,
    pub start: i64,
    pub end: i64,
    pub phase: Phase,
    /// When the page first announced it (the time of reading, before).
    pub announced_at: i64,
}

impl ScheduledMaintenance {
    /// Its title: "Maintenance of recas-bari: GPU firmware".
    pub fn title(&self) -> String {
        if self.reason.trim().is_empty() {
            format!("Maintenance of {}", self.provider)
        } else {
            format!("Maintenance of {}: {}", self.provider, self.reason.trim())
        }
    }

    /// Where it stands in words: "Outage: due to start in 2 days".
    pub fn notice(&self) -> String {
        self.published().notice()
    }

    /// The shape the JSON and the feeds take it in.
    pub fn published(&self) -> statuspage::Maintenance {
        statuspage::Maintenance {
            id: self.id.clone(),
            name: self.title(),
            phase: self.phase,
            kind: self.kind,
            scheduled_for: self.start,
            scheduled_until: self.end,
            updated_at: self.announced_at,
            components: vec![self.component.id.clone()],
        }
    }
}

/// The page at one time.
#[derive(Debug, Clone)]
pub struct StatusPage {
    /// The time it was read for.
    pub at: i64,
    /// When the probes last looked (0: not yet since this server started).
    pub probed_at: i64,
    /// In the page's order.
    pub components: Vec<ShownComponent>,
    /// The unresolved incidents, newest first.
    pub incidents: Vec<Incident>,
    /// The windows not over for more than a week, soonest first.
    pub maintenances: Vec<ScheduledMaintenance>,
}

impl StatusPage {
    /// The components by group, in the page's order, empty groups left out.
    pub fn groups(&self) -> Vec<(Group, Vec<&ShownComponent>)> {
        Group::ALL
            .iter()
            .map(|g| (*g, self.components.iter().filter(|c| c.component.group == *g).collect::<Vec<_>>()))
            .filter(|(_, members)| !members.is_empty())
            .collect()
    }

    /// The maintenances not completed yet.
    pub fn upcoming(&self) -> impl Iterator<Item = &ScheduledMaintenance> {
        self.maintenances.iter().filter(|m| m.phase != Phase::Completed)
    }

    /// The overall indicator, as Statuspage blends it.
    pub fn indicator(&self) -> Indicator {
        let maintenances: Vec<statuspage::Maintenance> = self.upcoming().map(|m| m.published()).collect();
        let incidents: Vec<statuspage::Incident> = Vec::new();
        let by_impact = self.incidents.iter().map(|i| match i.impact {
            nuvola_types::Impact::None => Indicator::None,
            nuvola_types::Impact::Minor => Indicator::Minor,
            nuvola_types::Impact::Major => Indicator::Major,
            nuvola_types::Impact::Critical => Indicator::Critical,
        });
        let from_components = statuspage::status(&self.published_components(), &incidents, &maintenances);
        by_impact.fold(from_components, Ord::max)
    }

    /// The components in the JSON's shape.
    pub fn published_components(&self) -> Vec<statuspage::Component> {
        self.components
            .iter()
            .enumerate()
            .map(|(i, c)| statuspage::Component {
                id: c.component.id.clone(),
                name: c.component.name.clone(),
                description: Some(c.component.description.clone()),
                group: Some(c.component.group.label().to_string()),
                position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                state: c.shown,
                created_at: c.since,
                updated_at: c.overridden.as_ref().map_or(c.since, |o| o.set_at.max(c.since)),
            })
            .collect()
    }

    /// The component with this id.
    pub fn component(&self, id: &str) -> Option<&ShownComponent> {
        self.components.iter().find(|c| c.component.id == id)
    }
}

/// One day of a component's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Day {
    /// Its start (00:00 UTC), in ms.
    pub start: i64,
    /// The worst state the probes saw in it; `None` before it was watched.
    pub worst: Option<ComponentState>,
    /// The share of the day it was up, as ARGO's availability (unknown
    /// time left out, scheduled downtime counted as down).
    pub uptime: Option<f64>,
    /// Whether part of it was a scheduled outage.
    pub maintenance: bool,
}

/// A component's record: 90 days and this month.
#[derive(Debug, Clone)]
pub struct ComponentHistory {
    pub component: String,
    /// Oldest first, today last.
    pub days: Vec<Day>,
    /// This month so far (UTC), in ARGO's terms.
    pub month: Durations,
    pub month_figures: Figures,
}

impl Watch {
    /// The page at `now`, with the maintenance windows of `providers`.
    pub async fn status_page(&self, providers: &[ProviderSpec], now: i64) -> Result<StatusPage> {
        let store = &self.inner.store;
        let snapshot = self.snapshot();
        let overrides: HashMap<String, ComponentOverride> =
            store.component_overrides().await?.into_iter().map(|o| (o.component.clone(), o)).collect();
        let maintenances = self.maintenances(providers, now).await?;
        let filter = IncidentFilter { unresolved_only: true, limit: 100, ..Default::default() };
        let incidents = store.incidents(&filter).await?;
        // The worst state the open incidents give each component.
        let mut said: HashMap<&str, ComponentState> = HashMap::new();
        for affected in incidents.iter().flat_map(|i| &i.components) {
            let worst = said.entry(affected.component.as_str()).or_insert(affected.state);
            *worst = (*worst).max(affected.state);
        }
        let components = snapshot
            .components
            .iter()
            .map(|status| {
                let in_maintenance = maintenances.iter().any(|m| {
                    m.component.id == status.component.id
                        && m.kind == MaintenanceKind::Outage
                        && matches!(m.phase, Phase::InProgress { .. })
                });
                let incident = said.get(status.component.id.as_str()).copied();
                shown_component(status, in_maintenance, overrides.get(&status.component.id).cloned(), incident)
            })
            .collect();
        Ok(StatusPage { at: now, probed_at: snapshot.at, components, incidents, maintenances })
    }

    /// The maintenance windows of `providers` not over for more than a
    /// week at `now`, soonest first, each with when it was announced.
    pub async fn maintenances(&self, providers: &[ProviderSpec], now: i64) -> Result<Vec<ScheduledMaintenance>> {
        let backbone = &self.inner.settings.backbone;
        let mut found = Vec::new();
        for spec in providers {
            for w in &spec.maintenance {
                let (start, end) = (w.start.timestamp_millis(), w.end.timestamp_millis());
                if end + COMPLETED_KEPT_MS <= now {
                    continue;
                }
                let id = maintenance_id(&spec.name, start);
                found.push(ScheduledMaintenance {
                    announced_at: self.announced_at(&id).await?.unwrap_or(now),
                    id,
                    provider: spec.name.clone(),
                    component: provider_component(spec, backbone),
                    kind: w.kind,
                    reason: w.reason.clone(),
                    start,
                    end,
                    phase: Phase::at(start, end, now),
                });
            }
        }
        found.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        Ok(found)
    }

    /// When the page first announced maintenance `id`, if it did.
    pub(crate) async fn announced_at(&self, id: &str) -> Result<Option<i64>> {
        let about = maintenance_about(id);
        let sent = self.inner.store.notifications(Some(&about), 1_000).await?;
        Ok(sent.iter().filter(|n| n.channel == PAGE_CHANNEL).map(|n| n.at).min())
    }

    /// Each component's last [`HISTORY_DAYS`] days and this month, at
    /// `now`, from the stored timelines (one query for all) and the outage
    /// windows of `providers`; in the page's order. States change only in
    /// rounds, so a reading is kept and given again for the same round, the
    /// same minute and the same windows: a busy page costs one reading a
    /// minute.
    pub async fn history(&self, providers: &[ProviderSpec], now: i64) -> Result<Arc<Vec<ComponentHistory>>> {
        let key = HistoryKey {
            round: self.snapshot().at,
            minute: now.div_euclid(60_000),
            windows: providers
                .iter()
                .flat_map(|p| p.maintenance.iter().filter(|w| w.kind == MaintenanceKind::Outage).map(move |w| (p, w)))
                .map(|(p, w)| (p.name.clone(), w.start.timestamp_millis(), w.end.timestamp_millis()))
                .collect(),
        };
        if let Some((kept, reading)) = self.inner.history.lock().expect("history lock").as_ref()
            && *kept == key
        {
            return Ok(reading.clone());
        }
        let reading = Arc::new(self.read_history(providers, now).await?);
        *self.inner.history.lock().expect("history lock") = Some((key, reading.clone()));
        Ok(reading)
    }

    async fn read_history(&self, providers: &[ProviderSpec], now: i64) -> Result<Vec<ComponentHistory>> {
        let today = now.div_euclid(DAY_MS) * DAY_MS;
        let first_day = today - (HISTORY_DAYS as i64 - 1) * DAY_MS;
        let month_start = month_start(now);
        let since = first_day.min(month_start);
        let changes = self.inner.store.component_timelines(since, now + 1).await?;
        let mut by_component: HashMap<&str, Vec<(i64, ComponentState)>> = HashMap::new();
        for c in &changes {
            by_component.entry(c.component.as_str()).or_default().push((c.at, c.state));
        }
        let snapshot = self.snapshot();
        let mut out = Vec::with_capacity(snapshot.components.len());
        for status in &snapshot.components {
            let states = by_component.get(status.component.id.as_str()).map_or(&[][..], Vec::as_slice);
            let downtimes = outage_windows(providers, status.component.provider.as_deref());
            let timeline = argo::timeline(states, &downtimes);
            let days = (0..HISTORY_DAYS as i64)
                .map(|i| {
                    let start = first_day + i * DAY_MS;
                    let end = (start + DAY_MS).min(now);
                    let d = Durations::of_timeline(&timeline, start, end);
                    Day {
                        start,
                        worst: worst_between(states, start, end),
                        uptime: argo::figures(&d).availability,
                        maintenance: d.downtime > 0,
                    }
                })
                .collect();
            let month = Durations::of_timeline(&timeline, month_start, now);
            out.push(ComponentHistory {
                component: status.component.id.clone(),
                days,
                month_figures: argo::figures(&month),
                month,
            });
        }
        Ok(out)
    }
}

/// What a reading of the history depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryKey {
    round: i64,
    minute: i64,
    windows: Vec<(String, i64, i64)>,
}

/// The id of a provider's window starting at `start`.
pub fn maintenance_id(provider: &str, start: i64) -> String {
    format!("{provider}-{start}")
}

/// The notifications log's `about` for maintenance `id`.
pub fn maintenance_about(id: &str) -> String {
    format!("maintenance/{id}")
}

/// The start of `now`'s month (UTC), in ms.
pub fn month_start(now: i64) -> i64 {
    let t: DateTime<Utc> = DateTime::from_timestamp_millis(now).unwrap_or_default();
    Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).single().map_or(now, |m| m.timestamp_millis())
}

fn shown_component(
    status: &ComponentStatus,
    in_maintenance: bool,
    overridden: Option<ComponentOverride>,
    incident: Option<ComponentState>,
) -> ShownComponent {
    ShownComponent {
        component: status.component.clone(),
        derived: status.state,
        shown: shown(status.state, in_maintenance, overridden.as_ref().map(|o| o.state), incident),
        since: status.since,
        reason: status.reason(),
        overridden,
    }
}

/// The outage windows of `provider`, `[start, end)` in ms.
/// The announced outages (maintenance windows of kind outage) of
/// `provider`, as ARGO's scheduled downtime: `[start, end)` in ms.
pub(crate) fn outage_windows(providers: &[ProviderSpec], provider: Option<&str>) -> Vec<(i64, i64)> {
    let Some(name) = provider else { return Vec::new() };
    providers
        .iter()
        .filter(|p| p.name == name)
        .flat_map(|p| &p.maintenance)
        .filter(|w| w.kind == MaintenanceKind::Outage)
        .map(|w| (w.start.timestamp_millis(), w.end.timestamp_millis()))
        .collect()
}

/// The worst of the states in force over `[start, end)`, from changes
/// sorted by time; `None` when none was yet.
fn worst_between(states: &[(i64, ComponentState)], start: i64, end: i64) -> Option<ComponentState> {
    let before = states.iter().rev().find(|(at, _)| *at <= start).map(|(_, s)| *s);
    let within = states.iter().filter(|(at, _)| *at > start && *at < end).map(|(_, s)| *s);
    before.into_iter().chain(within).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentState::*;

    #[test]
    fn a_day_is_as_bad_as_its_worst_state() {
        let states = [(1_000, Operational), (5_000, MajorOutage), (6_000, Operational)];
        assert_eq!(worst_between(&states, 0, 900), None, "not watched yet");
        assert_eq!(worst_between(&states, 0, 4_000), Some(Operational));
        assert_eq!(worst_between(&states, 2_000, 5_500), Some(MajorOutage));
        assert_eq!(worst_between(&states, 5_000, 5_500), Some(MajorOutage), "a change at the start");
        assert_eq!(worst_between(&states, 7_000, 9_000), Some(Operational));
    }

    #[test]
    fn months_start_on_their_first_day() {
        // 2026-12-07 14:03 UTC.
        assert_eq!(month_start(1_796_652_180_000), 1_796_083_200_000);
        assert_eq!(month_start(1_796_083_200_000), 1_796_083_200_000);
        assert_eq!(month_start(1_796_083_199_999), 1_793_491_200_000, "the last ms of November");
    }
}
