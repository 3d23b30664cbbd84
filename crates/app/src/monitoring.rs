//! The federation watched, as the app runs it: a round of probes
//! ([`nuvola_watch`]) every interval over the providers of the registry at
//! that moment, its state changes logged, and what it sees handed to
//! placement (a provider down is skipped with the reason, one faltering is
//! ranked down).

use std::collections::BTreeMap;

use nuvola_placement::Health;
use nuvola_types::{ComponentState, Principal, Result};
use nuvola_watch::endpoints::{EndpointRound, EndpointStatus};
use nuvola_watch::{ProviderTarget, Round, Targets, Watch};
use tokio::sync::watch;

impl crate::App {
    /// The watcher: its last round's snapshot feeds the status pages.
    pub fn watch(&self) -> &Watch {
        &self.inner.watch
    }

    /// One round over the enabled providers, now.
    pub async fn watch_round(&self) -> Result<Round> {
        let federation = self.federation();
        let providers = federation.providers();
        let mut targets = Targets::default();
        for spec in providers.iter().filter(|p| p.enabled) {
            match federation.driver(&spec.name) {
                Ok(driver) => targets.providers.push(ProviderTarget { spec: spec.clone(), driver }),
                Err(e) => tracing::warn!(provider = %spec.name, error = %e.logged(), "no driver to probe"),
            }
        }
        let round = self.watch().round(&targets, self.now_ms()).await?;
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

    /// Runs a round every [`nuvola_watch::WatchSettings::interval`] until
    /// `shutdown`; a round that outlasts shutdown is cut off (it changes
    /// nothing outside the store's own rows).
    pub async fn run_watch(&self, mut shutdown: watch::Receiver<bool>) {
        let interval = self.watch().settings().interval;
        while !*shutdown.borrow() {
            tokio::select! {
                outcome = self.watch_round() => if let Err(e) = outcome {
                    tracing::error!(error = %e.logged(), "a round of probes failed");
                },
                _ = shutdown.changed() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
        }
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
    pub async fn run_endpoint_watch(&self, mut shutdown: watch::Receiver<bool>) {
        let interval = self.watch().settings().endpoint_interval;
        while !*shutdown.borrow() {
            tokio::select! {
                outcome = self.endpoint_round() => if let Err(e) = outcome {
                    tracing::error!(error = %e.logged(), "a round over users' endpoints failed");
                },
                _ = shutdown.changed() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
        }
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
