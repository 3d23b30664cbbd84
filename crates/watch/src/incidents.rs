//! Incidents, as operators run them: opened with a title, an impact, the
//! components they affect (each with the state it is in) and a first
//! update; then timestamped updates (investigating, identified,
//! monitoring, resolved), each told to the subscribers following an
//! affected component by mail and signed webhook; and maintenances
//! announced to them once, when the page first lists them.

use nuvola_notify::Mail;
use nuvola_notify::notices::{IncidentNews, MaintenanceNotice};
use nuvola_store::{IncidentFilter, IncidentPost, NewIncident, SentNotification};
use nuvola_types::status::Incident;
use nuvola_types::{ComponentState, Error, Impact, IncidentStatus, ProviderSpec, Result, Spelled};

use crate::Watch;
use crate::deliveries::{Deliveries, by_mail, followers};
use crate::page::{PAGE_CHANNEL, maintenance_about};
use crate::published;
use crate::subscriptions::{token, unsubscribe_url};

/// The longest title taken.
const TITLE_CHARS: usize = 200;
/// The longest update taken.
const BODY_CHARS: usize = 10_000;

/// An incident as an operator opens it.
#[derive(Debug, Clone, Default)]
pub struct IncidentDraft {
    pub title: String,
    pub impact: Impact,
    pub status: IncidentStatus,
    /// The first update's text.
    pub body: String,
    /// The affected components, each with its state.
    pub components: Vec<(String, ComponentState)>,
}

/// An update as an operator posts it.
#[derive(Debug, Clone, Default)]
pub struct UpdateDraft {
    pub status: IncidentStatus,
    pub body: String,
    /// The affected components from now on, when they change.
    pub components: Option<Vec<(String, ComponentState)>>,
    /// The incident's impact from now on, when it changes.
    pub impact: Option<Impact>,
}

/// A page of past incidents.
#[derive(Debug, Clone)]
pub struct IncidentPage {
    pub incidents: Vec<Incident>,
    /// How many there are in all.
    pub total: i64,
    /// The cursor of the next page, when there is one.
    pub next: Option<(i64, String)>,
}

impl Watch {
    /// Opens an incident at `now` on behalf of `by`; returns it and the
    /// news for its subscribers.
    pub async fn open_incident(
        &self,
        draft: &IncidentDraft,
        by: &str,
        providers: &[ProviderSpec],
        now: i64,
    ) -> Result<(Incident, Deliveries)> {
        let title = draft.title.trim();
        if title.is_empty() || title.chars().count() > TITLE_CHARS {
            return Err(Error::invalid(format!("an incident needs a title of 1 to {TITLE_CHARS} characters")));
        }
        check_body(&draft.body)?;
        self.check_affected(&draft.components).await?;
        let new = NewIncident {
            id: incident_id(),
            title: title.to_string(),
            impact: draft.impact,
            status: draft.status,
            body: draft.body.trim().to_string(),
            by: by.to_string(),
            at: now,
            components: draft.components.clone(),
        };
        let incident = self.inner.store.create_incident(&new).await?;
        let news = self.incident_news(&incident, true, providers, now).await?;
        Ok((incident, news))
    }

    /// Posts an update to incident `id` at `now`, changing the affected
    /// components and the impact when the update names them; returns it and
    /// the news. Resolving an incident resolved already is a conflict.
    pub async fn update_incident(
        &self,
        id: &str,
        update: &UpdateDraft,
        by: &str,
        providers: &[ProviderSpec],
        now: i64,
    ) -> Result<(Incident, Deliveries)> {
        check_body(&update.body)?;
        if let Some(components) = &update.components {
            self.check_affected(components).await?;
        }
        let post = IncidentPost {
            status: update.status,
            body: update.body.trim(),
            by,
            at: now,
            components: update.components.as_deref(),
            impact: update.impact,
        };
        let incident = self.inner.store.update_incident(id, &post).await.map_err(|e| match e {
            nuvola_store::StoreError::NotFound { .. } => Error::not_found(format!("no incident {id}")),
            nuvola_store::StoreError::Refused { .. } => Error::conflict(format!(
                "incident {id} is resolved already: to reopen it, post an update with another status \
                 (investigating, identified or monitoring)"
            )),
            e => e.into(),
        })?;
        let news = self.incident_news(&incident, false, providers, now).await?;
        Ok((incident, news))
    }

    /// The incident `id`.
    pub async fn incident(&self, id: &str) -> Result<Incident> {
        self.inner.store.incident(id).await?.ok_or_else(|| Error::not_found(format!("no incident {id}")))
    }

    /// Incidents newest first, `limit` of them after `before` (a cursor
    /// from the page before).
    pub async fn incident_history(&self, before: Option<(i64, String)>, limit: i64) -> Result<IncidentPage> {
        let limit = limit.clamp(1, 200);
        let filter = IncidentFilter { before, limit: limit + 1, ..Default::default() };
        let mut incidents = self.inner.store.incidents(&filter).await?;
        let total = self.inner.store.count_incidents(&filter).await?;
        let more = incidents.len() as i64 > limit;
        incidents.truncate(limit as usize);
        let next = more.then(|| incidents.last().map(|i| (i.created_at, i.id.clone()))).flatten();
        Ok(IncidentPage { incidents, total, next })
    }

    /// Announces, once each, the maintenances of `providers` that are
    /// not over at `now` and were never announced: the page's own entry
    /// in the log (its announcement time, which the feed keeps), and a
    /// mail or webhook to each subscriber following the provider.
    pub async fn announce_maintenances(&self, providers: &[ProviderSpec], now: i64) -> Result<Deliveries> {
        let store = &self.inner.store;
        let mut deliveries = Deliveries::new(store.clone());
        let mut all = None;
        for m in self.maintenances(providers, now).await? {
            if m.phase == nuvola_monitor::maintenance::Phase::Completed || self.announced_at(&m.id).await?.is_some() {
                continue;
            }
            let about = maintenance_about(&m.id);
            // The page's entry first, at once: a second call before the
            // mails are out does not announce it again.
            store
                .record_notification(&SentNotification {
                    at: now,
                    channel: PAGE_CHANNEL.into(),
                    recipient: "status page and feeds".into(),
                    subject: m.title(),
                    about: about.clone(),
                    outcome: "published".into(),
                    ..Default::default()
                })
                .await?;
            if all.is_none() {
                all = Some(store.subscriptions().await?);
            }
            let subscribers = all.as_deref().unwrap_or_default();
            let event = published::maintenance_event(self, &m, providers, now).await?;
            let subject = format!("Scheduled maintenance: {}", m.title());
            for s in followers(subscribers, std::slice::from_ref(&m.component.id)) {
                if by_mail(s) {
                    let mail = Mail::Maintenance(MaintenanceNotice {
                        title: m.title(),
                        kind: m.kind,
                        components: vec![m.component.name.clone()],
                        start_ms: m.start,
                        end_ms: m.end,
                        details: m.reason.clone(),
                        now_ms: now,
                        page_url: format!("{}/status", self.public_url()),
                        unsubscribe_url: unsubscribe_url(self, s),
                    });
                    deliveries.mail(&self.inner.notifier, &s.address, &mail, &about, now);
                } else {
                    deliveries.webhook(self, s, &event, &subject, &about, now);
                }
            }
        }
        Ok(deliveries)
    }

    /// The news of `incident`'s latest update for its subscribers.
    async fn incident_news(
        &self,
        incident: &Incident,
        opened: bool,
        providers: &[ProviderSpec],
        now: i64,
    ) -> Result<Deliveries> {
        let store = &self.inner.store;
        let mut deliveries = Deliveries::new(store.clone());
        let all = store.subscriptions().await?;
        let affected: Vec<String> = incident.components.iter().map(|c| c.component.clone()).collect();
        let subscribers = followers(&all, &affected);
        if subscribers.is_empty() {
            return Ok(deliveries);
        }
        let snapshot = self.snapshot();
        let name = |id: &str| {
            snapshot
                .components
                .iter()
                .find(|c| c.component.id == id)
                .map_or(id.to_string(), |c| c.component.name.clone())
        };
        let latest = incident.updates.iter().max_by_key(|u| u.seq);
        let about = format!("incident/{}", incident.id);
        let event = published::incident_event(self, incident, providers, now).await?;
        let subject = format!("[{}] {}", incident.status.as_str(), incident.title);
        for s in subscribers {
            if by_mail(s) {
                let mail = Mail::Incident(IncidentNews {
                    title: incident.title.clone(),
                    impact: incident.impact,
                    status: incident.status,
                    opened,
                    components: incident.components.iter().map(|c| (name(&c.component), c.state)).collect(),
                    update: latest.map(|u| u.body.clone()).unwrap_or_default(),
                    at_ms: latest.map_or(now, |u| u.at),
                    incident_url: published::incident_url(self, &incident.id),
                    unsubscribe_url: unsubscribe_url(self, s),
                });
                deliveries.mail(&self.inner.notifier, &s.address, &mail, &about, now);
            } else {
                deliveries.webhook(self, s, &event, &subject, &about, now);
            }
        }
        Ok(deliveries)
    }

    /// Refuses components the page does not show.
    async fn check_affected(&self, components: &[(String, ComponentState)]) -> Result<()> {
        let ids: Vec<String> = components.iter().map(|(id, _)| id.clone()).collect();
        self.component_names(&ids).await.map(drop)
    }

    /// Sets the operator's word on `component` at `now`, shown over what
    /// the probes say until cleared.
    pub async fn set_override(
        &self,
        component: &str,
        state: ComponentState,
        note: &str,
        by: &str,
        now: i64,
    ) -> Result<()> {
        self.component_names(&[component.to_string()]).await?;
        if note.chars().count() > TITLE_CHARS {
            return Err(Error::invalid(format!("an override's note is at most {TITLE_CHARS} characters")));
        }
        Ok(self.inner.store.set_component_override(component, state, note.trim(), by, now).await?)
    }

    /// Clears `component`'s override; returns whether it had one.
    pub async fn clear_override(&self, component: &str) -> Result<bool> {
        Ok(self.inner.store.clear_component_override(component).await?)
    }
}

fn check_body(body: &str) -> Result<()> {
    let n = body.trim().chars().count();
    if n == 0 || n > BODY_CHARS {
        return Err(Error::invalid(format!("an update needs a message of 1 to {BODY_CHARS} characters")));
    }
    Ok(())
}

/// A fresh incident id: 12 lowercase letters and digits, as Statuspage's.
fn incident_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    token().bytes().take(12).map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char).collect()
}
