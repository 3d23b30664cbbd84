//! The page published for programs: Statuspage-compatible JSON
//! (`summary.json`, `status.json`, `incidents.json`,
//! `scheduled-maintenances.json`, `components.json`), the Atom and RSS
//! feeds, and the webhook events sent to subscribers, all rendered by
//! [`nuvola_monitor`] from the page read at a time.

use nuvola_monitor::statuspage::{self, Page};
use nuvola_monitor::{feed, statuspage::AffectedComponent};
use nuvola_store::IncidentFilter;
use nuvola_types::status::Incident;
use nuvola_types::{ProviderSpec, Result};
use serde_json::{Value, json};

use crate::Watch;
use crate::page::{ScheduledMaintenance, StatusPage};

/// How many incidents `incidents.json` and the feeds carry.
pub const NEWEST: i64 = 50;

/// Which document to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    Summary,
    Status,
    Incidents,
    ScheduledMaintenances,
    Components,
}

/// Which feed to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Atom,
    Rss,
}

impl Watch {
    /// The JSON `document` at `now`.
    pub async fn status_json(&self, document: Document, providers: &[ProviderSpec], now: i64) -> Result<String> {
        let page = self.status_page(providers, now).await?;
        let meta = self.page_meta(&page);
        let components = page.published_components();
        let maintenances: Vec<statuspage::Maintenance> = page.maintenances.iter().map(|m| m.published()).collect();
        Ok(match document {
            Document::Summary => {
                let incidents: Vec<statuspage::Incident> =
                    page.incidents.iter().map(|i| self.published_incident(i)).collect();
                statuspage::summary_json(&meta, &components, &incidents, &maintenances)
            }
            Document::Status => {
                let incidents: Vec<statuspage::Incident> =
                    page.incidents.iter().map(|i| self.published_incident(i)).collect();
                statuspage::status_json(&meta, &components, &incidents, &maintenances)
            }
            Document::Incidents => {
                let incidents = self.newest_incidents().await?;
                statuspage::incidents_json(&meta, &components, &incidents)
            }
            Document::ScheduledMaintenances => {
                statuspage::scheduled_maintenances_json(&meta, &components, &maintenances)
            }
            Document::Components => statuspage::components_json(&meta, &components),
        })
    }

    /// The feed of the newest incidents and the maintenances, at `now`.
    pub async fn status_feed(&self, which: Feed, providers: &[ProviderSpec], now: i64) -> Result<String> {
        let page = self.status_page(providers, now).await?;
        let meta = self.page_meta(&page);
        let incidents = self.newest_incidents().await?;
        let maintenances: Vec<statuspage::Maintenance> = page.maintenances.iter().map(|m| m.published()).collect();
        let base = self.public_url();
        Ok(match which {
            Feed::Atom => feed::atom(&meta, &format!("{base}/status/feed.atom"), &incidents, &maintenances),
            Feed::Rss => feed::rss(&meta, &format!("{base}/status/feed.rss"), &incidents, &maintenances),
        })
    }

    /// The page's description for the JSON and feeds.
    pub fn page_meta(&self, page: &StatusPage) -> Page {
        let url = format!("{}/status", self.public_url());
        let host = url::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_string));
        let updated = page.components.iter().map(|c| c.since).chain(page.incidents.iter().map(|i| i.updated_at));
        Page {
            id: host.unwrap_or_else(|| "nuvola".into()),
            name: "nuvola".into(),
            url,
            time_zone: "Etc/UTC".into(),
            updated_at: updated.max().unwrap_or(page.probed_at),
        }
    }

    /// `incident` in the JSON's shape. The store keeps the components an
    /// incident affects, not which update moved them: the first update
    /// names them with the state they were set in.
    pub fn published_incident(&self, incident: &Incident) -> statuspage::Incident {
        let first = incident.updates.iter().map(|u| u.seq).min();
        statuspage::Incident {
            id: incident.id.clone(),
            name: incident.title.clone(),
            status: incident.status,
            impact: incident.impact,
            created_at: incident.created_at,
            updated_at: incident.updated_at,
            resolved_at: incident.resolved_at,
            shortlink: incident_url(self, &incident.id),
            updates: incident
                .updates
                .iter()
                .map(|u| statuspage::IncidentUpdate {
                    id: format!("{}-{}", incident.id, u.seq),
                    status: u.status,
                    body: u.body.clone(),
                    created_at: u.at,
                    affected: if Some(u.seq) == first {
                        incident
                            .components
                            .iter()
                            .map(|c| AffectedComponent {
                                id: c.component.clone(),
                                old_state: nuvola_types::ComponentState::Operational,
                                new_state: c.state,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
            components: incident.components.iter().map(|c| c.component.clone()).collect(),
        }
    }

    async fn newest_incidents(&self) -> Result<Vec<statuspage::Incident>> {
        let filter = IncidentFilter { limit: NEWEST, ..Default::default() };
        let incidents = self.inner.store.incidents(&filter).await?;
        Ok(incidents.iter().map(|i| self.published_incident(i)).collect())
    }
}

/// The incident's public page.
pub fn incident_url(watch: &Watch, id: &str) -> String {
    format!("{}/status/incidents/{id}", watch.public_url())
}

/// The webhook event of `incident`'s latest update, in the shape of
/// Statuspage's incident webhooks: `meta`, `page` (with the overall
/// indicator) and the incident as `incidents.json` shows it.
pub(crate) async fn incident_event(
    watch: &Watch,
    incident: &Incident,
    providers: &[ProviderSpec],
    now: i64,
) -> Result<Value> {
    let page = watch.status_page(providers, now).await?;
    let meta = watch.page_meta(&page);
    let body = statuspage::incidents_json(&meta, &page.published_components(), &[watch.published_incident(incident)]);
    let mut doc: Value = serde_json::from_str(&body).expect("the incident's JSON reads back");
    Ok(event(&page, &meta, doc["incidents"][0].take()))
}

/// The webhook event of a maintenance announced: as an incident event,
/// the maintenance as `scheduled-maintenances.json` shows it.
pub(crate) async fn maintenance_event(
    watch: &Watch,
    m: &ScheduledMaintenance,
    providers: &[ProviderSpec],
    now: i64,
) -> Result<Value> {
    let page = watch.status_page(providers, now).await?;
    let meta = watch.page_meta(&page);
    let body = statuspage::scheduled_maintenances_json(&meta, &page.published_components(), &[m.published()]);
    let mut doc: Value = serde_json::from_str(&body).expect("the maintenance's JSON reads back");
    Ok(event(&page, &meta, doc["scheduled_maintenances"][0].take()))
}

fn event(page: &StatusPage, meta: &Page, incident: Value) -> Value {
    let indicator = page.indicator();
    json!({
        "meta": {"documentation": meta.url, "generated_at": nuvola_monitor::timestamp::rfc3339(page.at)},
        "page": {
            "id": meta.id,
            "status_indicator": indicator,
            "status_description": indicator.description(),
        },
        "incident": incident,
    })
}
