//! The federation watched, as the app runs it: a round of probes
//! ([`nuvola_watch`]) every interval over the providers of the registry at
//! that moment, its state changes logged, and what it sees handed to
//! placement (a provider down is skipped with the reason, one faltering is
//! ranked down). The status page's use cases are the watcher's; here they
//! get the registry's providers, the app's clock and their access rule:
//! reading the page and subscribing are public, incidents, overrides and
//! the subscribers are for administrators. The providers' canary runs on
//! its own schedule over the same providers.

use std::collections::BTreeMap;

use nuvola_monitor::alerts::{Alert, Silence};
use nuvola_placement::Health;
use nuvola_types::status::Incident;
use nuvola_types::{ComponentState, Principal, Result};
use nuvola_watch::endpoints::{EndpointRound, EndpointStatus};
use nuvola_watch::{
    CanaryPass, ComponentHistory, Document, Feed, IncidentDraft, IncidentPage, ProviderTarget, Round, StatusPage,
    Targets, UpdateDraft, Watch, WebhookSubscription,
};
use serde_json::json;
use tokio::sync::watch;

impl crate::App {
    /// The watcher: its last round's snapshot feeds the status pages.
    pub fn watch(&self) -> &Watch {
        &self.inner.watch
    }

    /// The enabled providers with their drivers, as rounds and canary
    /// passes look at them.
    fn watched_providers(&self) -> Targets {
        let federation = self.federation();
        let mut targets = Targets::default();
        for spec in federation.providers().iter().filter(|p| p.enabled) {
            match federation.driver(&spec.name) {
                Ok(driver) => targets.providers.push(ProviderTarget { spec: spec.clone(), driver }),
                Err(e) => tracing::warn!(provider = %spec.name, error = %e.logged(), "no driver to probe"),
            }
        }
        targets
    }

    /// One round over the enabled providers, now.
    pub async fn watch_round(&self) -> Result<Round> {
        let providers = self.federation().providers();
        let targets = self.watched_providers();
        let now = self.now_ms();
        let round = self.watch().round(&targets, now).await?;
        if let Some(every) = self.watch().settings().bulletin
            && let Some(made) = self.watch().bulletin_if_due(&providers, every, now).await?
        {
            tracing::info!(bulletin = %made.id, "bulletin made and sent");
        }
        self.watch().announce_maintenances(&providers, now).await?.spawn(self.watch());
        if !round.changes.is_empty() {
            // Placement learns of a change at once, not when its reading
            // of the providers' health next expires.
            *self.inner.health.lock().expect("health lock") = None;
        }
        for change in &round.changes {
            match change.from {
                None => tracing::info!(component = %change.component, state = %change.to, "watching"),
                Some(from) if change.to > from => tracing::warn!(
                    component = %change.component, from = %from, to = %change.to, reason = %change.reason,
                    "component worse"
                ),
                Some(from) => {
                    tracing::info!(component = %change.component, from = %from, to = %change.to, "component better")
                }
            }
        }
        Ok(round)
    }

    /// The alerts (pending, firing, recently resolved) and the silences.
    /// Admins only.
    pub async fn alerts(&self, caller: &Principal) -> Result<(Vec<Alert>, Vec<Silence>)> {
        self.require_admin(caller)?;
        Ok((self.watch().alerts().await?, self.watch().silences().await?))
    }

    /// Acknowledges firing alert `key`: it is not told again until it
    /// resolves. Admins only.
    pub async fn acknowledge_alert(&self, caller: &Principal, key: &str) -> Result<()> {
        self.require_admin(caller)?;
        self.watch().acknowledge(key, &caller.qualified(), self.now_ms()).await?;
        self.audit(caller, "alert.acknowledge", key, json!({})).await;
        Ok(())
    }

    /// Silences the alerts matching every one of `matchers` (`label=value`,
    /// `label!=value`) from now for `hours`. Admins only.
    pub async fn silence_alerts(
        &self,
        caller: &Principal,
        matchers: &[String],
        hours: f64,
        comment: &str,
    ) -> Result<String> {
        self.require_admin(caller)?;
        if !(hours > 0.0 && hours <= 24.0 * 90.0) {
            return Err(nuvola_types::Error::invalid("a silence lasts more than 0 and at most 2160 hours (90 days)"));
        }
        let now = self.now_ms();
        let ends = now + (hours * 3_600_000.0) as i64;
        let id = self.watch().silence(matchers, now, ends, &caller.qualified(), comment, now).await?;
        self.audit(caller, "alert.silence", &id, json!({"matchers": matchers, "hours": hours, "comment": comment}))
            .await;
        Ok(id)
    }

    /// Ends silence `id` now. Admins only.
    pub async fn end_silence(&self, caller: &Principal, id: &str) -> Result<()> {
        self.require_admin(caller)?;
        self.watch().unsilence(id, self.now_ms()).await?;
        self.audit(caller, "alert.unsilence", id, json!({})).await;
        Ok(())
    }

    /// The notifications sent, newest first (administrators).
    pub async fn sent_notifications(&self, caller: &Principal, limit: i64) -> Result<Vec<crate::SentNotification>> {
        self.require_admin(caller)?;
        self.watch().notifications(limit).await
    }

    /// The operators' figures over the last `days` days (1 to 90).
    /// Admins only.
    pub async fn operations(&self, caller: &Principal, days: u32) -> Result<nuvola_watch::operations::Operations> {
        self.require_admin(caller)?;
        if !(1..=90).contains(&days) {
            return Err(nuvola_types::Error::invalid(format!("days={days}: show 1 to 90 days")));
        }
        self.watch().operations(&self.federation().providers(), self.now_ms(), days).await
    }

    /// Every component's availability and reliability in `month`
    /// (`YYYY-MM`; this month by default), day by day. Public, as the
    /// status page is.
    pub async fn availability(&self, month: Option<&str>) -> Result<nuvola_watch::reports::MonthReport> {
        let now = self.now_ms();
        let first = match month {
            Some(text) => nuvola_watch::reports::parse_month(text)?,
            None => nuvola_watch::reports::this_month(now),
        };
        self.watch().month_report(&self.federation().providers(), first, now).await
    }

    /// The latest bulletins (name, period start and end), newest first.
    /// Administrators and group managers.
    pub async fn bulletins(&self, caller: &Principal) -> Result<Vec<(String, i64, i64)>> {
        self.authorize_statistics(caller)?;
        self.watch().bulletins(52).await
    }

    /// Bulletin `id`. Administrators and group managers.
    pub async fn bulletin(&self, caller: &Principal, id: &str) -> Result<nuvola_monitor::bulletin::Bulletin> {
        self.authorize_statistics(caller)?;
        self.watch().bulletin(id).await
    }

    /// Runs a round every [`nuvola_watch::WatchSettings::interval`] until
    /// `shutdown`; a round that outlasts shutdown is cut off (it changes
    /// nothing outside the store's own rows).
    pub async fn run_watch(&self, shutdown: watch::Receiver<bool>) {
        crate::every::every(self.watch().settings().interval, shutdown, || async {
            if let Err(e) = self.watch_round().await {
                tracing::error!(error = %e.logged(), "a round of probes failed");
            }
        })
        .await;
        // What a last round decided to tell still goes out.
        self.watch().settle().await;
    }

    /// One canary pass now (see [`nuvola_watch::canary`]): leftovers of
    /// any provider the federation has a driver for are deleted, enabled
    /// providers that opted in get their run of this slot.
    pub async fn canary_pass(&self) -> Result<CanaryPass> {
        let federation = self.federation();
        let drivers = |name: &str| federation.driver(name).ok();
        self.watch().canary_pass(&self.watched_providers(), &drivers, &nuvola_watch::canary::Wall).await
    }

    /// Runs a canary pass every [`nuvola_watch::canary::TICK`] until
    /// `shutdown`, whether or not a provider opted in (leftovers of an
    /// earlier configuration are still deleted). A run cut off at shutdown
    /// is finished by a later pass, here or on another replica.
    pub async fn run_canary(&self, shutdown: watch::Receiver<bool>) {
        let providers = self.federation().providers();
        for name in &self.watch().settings().canary.providers {
            if !providers.iter().any(|p| &p.name == name) {
                tracing::warn!(provider = %name, "[status] canary_providers names a provider the registry does not hold");
            }
        }
        // Runs and leftovers are logged as the watcher finishes them.
        crate::every::every(nuvola_watch::canary::TICK, shutdown, || async {
            if let Err(e) = self.canary_pass().await {
                tracing::error!(error = %e.logged(), "a canary pass failed");
            }
        })
        .await;
    }
}

/// The status page's use cases (see [`nuvola_watch`]).
impl crate::App {
    /// The public page now.
    pub async fn status_page(&self) -> Result<StatusPage> {
        self.watch().status_page(&self.federation().providers(), self.now_ms()).await
    }

    /// Each component's 90 days and this month's availability.
    pub async fn status_history(&self) -> Result<std::sync::Arc<Vec<ComponentHistory>>> {
        self.watch().history(&self.federation().providers(), self.now_ms()).await
    }

    /// A Statuspage-compatible JSON document.
    pub async fn status_json(&self, document: Document) -> Result<String> {
        self.watch().status_json(document, &self.federation().providers(), self.now_ms()).await
    }

    /// The Atom or RSS feed.
    pub async fn status_feed(&self, feed: Feed) -> Result<String> {
        self.watch().status_feed(feed, &self.federation().providers(), self.now_ms()).await
    }

    /// One incident, public.
    pub async fn status_incident(&self, id: &str) -> Result<Incident> {
        self.watch().incident(id).await
    }

    /// Past incidents, newest first, a page at a time.
    pub async fn status_incidents(&self, before: Option<(i64, String)>, limit: i64) -> Result<IncidentPage> {
        self.watch().incident_history(before, limit).await
    }

    /// Subscribes an address by mail for the client at `client_ip`; the
    /// confirmation goes out in the background. Refused for a while when
    /// the client asked for too many subscriptions, or the mailbox was sent
    /// too many confirmations (`Settings::subscription_limits`).
    pub async fn subscribe_email(&self, address: &str, components: &[String], client_ip: Option<&str>) -> Result<()> {
        let gate = &self.inner.subscription_gate;
        let admitted = gate.admit(client_ip, Some(address), std::time::Instant::now())?;
        match self.watch().subscribe_email(address, components, self.now_ms()).await {
            Ok(confirmation) => {
                confirmation.spawn(self.watch());
                Ok(())
            }
            Err(e) => {
                gate.unmailed(admitted);
                Err(e)
            }
        }
    }

    /// Subscribes a webhook for the client at `client_ip`; its secret is in
    /// the answer, once. Limited per client as by mail.
    pub async fn subscribe_webhook(
        &self,
        url: &str,
        components: &[String],
        client_ip: Option<&str>,
    ) -> Result<WebhookSubscription> {
        self.inner.subscription_gate.admit(client_ip, None, std::time::Instant::now())?;
        self.watch().subscribe_webhook(url, components, self.now_ms()).await
    }

    /// Confirms a subscription by its token.
    pub async fn confirm_subscription(&self, token: &str) -> Result<()> {
        self.watch().confirm_subscription(token, self.now_ms()).await.map(drop)
    }

    /// Ends a subscription by its token.
    pub async fn unsubscribe(&self, token: &str) -> Result<bool> {
        self.watch().unsubscribe(token).await
    }

    /// Opens an incident and tells its subscribers (administrators).
    pub async fn open_incident(&self, caller: &Principal, draft: &IncidentDraft) -> Result<Incident> {
        self.require_admin(caller)?;
        let providers = self.federation().providers();
        let (incident, news) =
            self.watch().open_incident(draft, &caller.qualified(), &providers, self.now_ms()).await?;
        news.spawn(self.watch());
        self.audit(caller, "incident.open", &incident.id, serde_json::json!({"title": incident.title})).await;
        Ok(incident)
    }

    /// Posts an update to an incident and tells its subscribers
    /// (administrators).
    pub async fn update_incident(&self, caller: &Principal, id: &str, update: &UpdateDraft) -> Result<Incident> {
        self.require_admin(caller)?;
        let providers = self.federation().providers();
        let by = caller.qualified();
        let (incident, news) = self.watch().update_incident(id, update, &by, &providers, self.now_ms()).await?;
        news.spawn(self.watch());
        self.audit(caller, "incident.update", id, serde_json::json!({"status": update.status})).await;
        Ok(incident)
    }

    /// Sets (`Some`) or clears an operator's override of a component
    /// (administrators); false when there was no override to clear.
    pub async fn override_component(
        &self,
        caller: &Principal,
        component: &str,
        state: Option<ComponentState>,
        note: &str,
    ) -> Result<bool> {
        self.require_admin(caller)?;
        let changed = match state {
            Some(state) => {
                self.watch().set_override(component, state, note, &caller.qualified(), self.now_ms()).await?;
                true
            }
            None => self.watch().clear_override(component).await?,
        };
        if changed {
            let detail = serde_json::json!({"state": state, "note": note});
            self.audit(caller, "component.override", component, detail).await;
        }
        Ok(changed)
    }

    /// Every subscription, secrets left out (administrators).
    pub async fn status_subscriptions(&self, caller: &Principal) -> Result<Vec<crate::Subscription>> {
        self.require_admin(caller)?;
        self.watch().subscriptions().await
    }
}

impl crate::App {
    /// One round over users' endpoints, now.
    pub async fn endpoint_round(&self) -> Result<EndpointRound> {
        let round = self.watch().endpoints().round(self.now_ms()).await?;
        for t in &round.transitions {
            tracing::info!(
                deployment = %t.deployment_id, output = %t.output, up = t.up, mailed = ?t.mailed, "endpoint changed"
            );
        }
        Ok(round)
    }

    /// Runs a round over users' endpoints every
    /// [`nuvola_watch::WatchSettings::endpoint_interval`] until `shutdown`.
    pub async fn run_endpoint_watch(&self, shutdown: watch::Receiver<bool>) {
        crate::every::every(self.watch().settings().endpoint_interval, shutdown, || async {
            if let Err(e) = self.endpoint_round().await {
                tracing::error!(error = %e.logged(), "a round over users' endpoints failed");
            }
        })
        .await;
    }

    /// Deployment `id`'s endpoints, for whoever may see the deployment.
    pub async fn endpoint_status(&self, caller: &Principal, id: &str) -> Result<EndpointStatus> {
        let d = self.deployment(caller, id).await?;
        self.watch().endpoints().status(&d.id, d.owner_email.is_some()).await
    }

    /// Whether deployment `id`'s owner is mailed when its endpoints go down
    /// and come back: for whoever may change the deployment.
    pub async fn set_endpoint_notify(&self, caller: &Principal, id: &str, on: bool) -> Result<EndpointStatus> {
        let d = self.deployment(caller, id).await?;
        self.authorize_deployment(caller, &d, crate::access::Access::Change).await?;
        self.store().set_endpoint_notify(&d.id, on).await?;
        self.audit(caller, "deployment.endpoint_notify", &d.id, serde_json::json!({"notify": on})).await;
        self.watch().endpoints().status(&d.id, d.owner_email.is_some()).await
    }
}

/// `health` with what the watcher's last round says of each provider: down
/// (a major outage) is a reason to skip it; slow or partly failing, a
/// failed probe that ranks it down; operational, a passed one.
pub(crate) fn with_probes(mut health: BTreeMap<String, Health>, watch: &Watch) -> BTreeMap<String, Health> {
    let snapshot = watch.snapshot();
    for status in &snapshot.components {
        let Some(provider) = &status.component.provider else { continue };
        let entry = health.entry(provider.clone()).or_default();
        entry.probe_ok = Some(status.state == ComponentState::Operational);
        if status.state == ComponentState::MajorOutage {
            let since = chrono::DateTime::from_timestamp_millis(status.since).unwrap_or_default();
            entry.outage =
                Some(format!("major outage since {} ({})", since.format("%Y-%m-%d %H:%M UTC"), status.reason()));
        }
    }
    health
}
