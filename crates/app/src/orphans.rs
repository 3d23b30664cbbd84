//! Orphan resources: what a provider holds, tagged by nuvola, for an
//! attempt the store does not know or considers ended (a driver call cut
//! off after it created something, a cleanup that reported `Gone` too
//! early, a database restored from an old backup). Attempts the store
//! marks `orphaned` are not reported here: the reconciler already retries
//! their cleanup. The reconciler also runs this scan on its own and logs
//! each orphan once; operators read the same report and may have the
//! provider delete an orphan attempt's resources, which is never automatic.
//!
//! The scan reads a provider's inventory *before* the store. The workflow
//! records an attempt before it asks the driver to create it, so every
//! attempt the inventory shows resources of is in the store by the time
//! the store is read: an attempt the store does not know is a real orphan,
//! never one being created. Resources of an attempt that ended are
//! reported only once `orphan_grace` has passed since, as its delete may
//! still be finishing on the provider.
//!
//! Canary VMs are never orphans: their runs are recorded before they are
//! created too, and the canary deletes whatever a run left until the
//! provider says it is gone (see [`nuvola_watch::canary`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use nuvola_drivers::{DeleteState, Resource};
use nuvola_types::{AttemptRecord, Error, Principal, Result};
use serde::Serialize;

use crate::App;

/// Orphan resources on every provider.
#[derive(Debug, Clone, Serialize)]
pub struct OrphanReport {
    /// When the scan ran (ms).
    pub checked_at: i64,
    /// Resources of attempts that ended more recently than this are not
    /// reported yet.
    pub grace_secs: u64,
    pub providers: Vec<ProviderOrphans>,
}

/// What one provider holds that no live attempt accounts for.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderOrphans {
    pub provider: String,
    /// Why the provider could not be checked; its orphans are then unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub orphans: Vec<Orphan>,
}

/// The resources one provider holds for one orphan attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    pub provider: String,
    pub attempt_id: String,
    /// From the store, or else from the resources' tags.
    pub deployment_id: Option<String>,
    /// Why it is an orphan, e.g. "attempt unknown to the store".
    pub why: String,
    /// When the attempt ended, if the store knows it (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    pub resources: Vec<Resource>,
    /// What cleaning it did: `gone`, `deleting` or the provider's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
}

/// Which orphans to clean: every one, or those of one provider or attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OrphanFilter {
    pub provider: Option<String>,
    pub attempt_id: Option<String>,
}

impl OrphanReport {
    /// The orphans not in `seen`, which becomes every orphan reported now
    /// (kept as it was for providers that could not be checked), so that
    /// the reconciler logs each orphan once.
    pub fn newly_seen(&self, seen: &mut HashSet<(String, String)>) -> Vec<&Orphan> {
        let mut now = HashSet::new();
        let mut new = Vec::new();
        for p in &self.providers {
            if p.error.is_some() {
                now.extend(seen.iter().filter(|(provider, _)| provider == &p.provider).cloned());
            }
            for o in &p.orphans {
                let key = (o.provider.clone(), o.attempt_id.clone());
                if !seen.contains(&key) {
                    new.push(o);
                }
                now.insert(key);
            }
        }
        *seen = now;
        new
    }
}

impl App {
    /// Orphan resources on every provider. Admins only.
    pub async fn orphans(&self, caller: &Principal) -> Result<OrphanReport> {
        self.require_admin(caller)?;
        Ok(self.scan_orphans(None).await)
    }

    /// Has the providers delete the resources of the orphans `filter`
    /// selects, found by a fresh scan (so a stale report cannot delete a
    /// live attempt), and audits each. Returns the orphans with what their
    /// cleanup did. Admins only.
    pub async fn clean_orphans(&self, caller: &Principal, filter: &OrphanFilter) -> Result<OrphanReport> {
        self.require_admin(caller)?;
        if let Some(name) = &filter.provider {
            self.federation().provider(name).ok_or_else(|| crate::admin::unknown_provider(self, name))?;
        }
        let mut report = self.scan_orphans(filter.provider.as_deref()).await;
        let mut found = false;
        for p in &mut report.providers {
            p.orphans.retain(|o| filter.attempt_id.as_ref().is_none_or(|a| a == &o.attempt_id));
            for o in &mut p.orphans {
                found = true;
                let (cleanup, accepted) = self.delete_orphan(o).await;
                tracing::info!(provider = %o.provider, attempt = %o.attempt_id, outcome = %cleanup,
                    by = %caller.qualified(), "orphan cleanup requested");
                let detail = serde_json::json!({
                    "provider": o.provider, "deployment_id": o.deployment_id, "why": o.why,
                    "resources": o.resources.len(), "outcome": cleanup,
                });
                self.audit(caller, "orphan.clean", &o.attempt_id, detail).await;
                if accepted {
                    self.forget_orphan(&o.provider, &o.attempt_id);
                }
                o.cleanup = Some(cleanup);
            }
        }
        if let (Some(attempt), false) = (&filter.attempt_id, found) {
            let unchecked = report.providers.iter().filter(|p| p.error.is_some()).count();
            let note =
                if unchecked > 0 { format!(" ({unchecked} provider(s) could not be checked)") } else { "".into() };
            return Err(Error::not_found(format!("attempt {attempt} is not an orphan on any provider checked{note}")));
        }
        Ok(report)
    }

    /// Asks the provider to delete an orphan attempt's resources: what it
    /// answered (`gone`, `deleting` or why it failed), and whether it
    /// accepted.
    async fn delete_orphan(&self, o: &Orphan) -> (String, bool) {
        let driver = match self.federation().driver(&o.provider) {
            Ok(driver) => driver,
            Err(e) => return (format!("failed: {}", e.logged()), false),
        };
        match tokio::time::timeout(self.settings().driver_call_timeout, driver.delete(&o.attempt_id)).await {
            Ok(Ok(DeleteState::Gone)) => ("gone".to_string(), true),
            Ok(Ok(DeleteState::InProgress)) => ("deleting".to_string(), true),
            // Operators read this: the cause is theirs too.
            Ok(Err(e)) => (format!("failed: {}", e.logged()), false),
            Err(_) => (format!("failed: {} did not answer in time", o.provider), false),
        }
    }

    /// Scans every provider (or only `only`) for orphans, all at once; a
    /// provider that fails or does not answer in time is reported as not
    /// checked.
    pub async fn scan_orphans(&self, only: Option<&str>) -> OrphanReport {
        let mut scans = tokio::task::JoinSet::new();
        for spec in self.federation().providers().iter().filter(|p| only.is_none_or(|o| o == p.name)) {
            let (app, provider) = (self.clone(), spec.name.clone());
            scans.spawn(async move {
                let found = app.orphans_on(&provider).await;
                let (orphans, error) = match found {
                    Ok(orphans) => (orphans, None),
                    Err(e) => (Vec::new(), Some(e)),
                };
                ProviderOrphans { provider, error, orphans }
            });
        }
        let mut providers: Vec<ProviderOrphans> = scans.join_all().await;
        providers.sort_by(|a, b| a.provider.cmp(&b.provider));
        let report =
            OrphanReport { checked_at: self.now_ms(), grace_secs: self.settings().orphan_grace.as_secs(), providers };
        if only.is_none() {
            *self.inner.last_orphan_scan.lock().expect("orphan scan lock") = Some(report.clone());
        }
        report
    }

    /// The last scan of every provider (the reconciler's or an admin's),
    /// without asking the providers again; `None` before the first.
    /// Admins only.
    pub fn last_orphan_scan(&self, caller: &Principal) -> Result<Option<OrphanReport>> {
        self.require_admin(caller)?;
        Ok(self.inner.last_orphan_scan.lock().expect("orphan scan lock").clone())
    }

    /// Drops a cleaned orphan from the last scan.
    fn forget_orphan(&self, provider: &str, attempt_id: &str) {
        if let Some(report) = self.inner.last_orphan_scan.lock().expect("orphan scan lock").as_mut() {
            for p in report.providers.iter_mut().filter(|p| p.provider == provider) {
                p.orphans.retain(|o| o.attempt_id != attempt_id);
            }
        }
    }

    /// The orphans on one provider, or why it could not be checked.
    async fn orphans_on(&self, provider: &str) -> std::result::Result<Vec<Orphan>, String> {
        let driver = self.federation().driver(provider).map_err(|e| e.logged().to_string())?;
        let timeout = self.settings().driver_call_timeout;
        let held = tokio::time::timeout(timeout, driver.inventory())
            .await
            .map_err(|_| format!("did not answer within {} s", timeout.as_secs()))?
            .map_err(|e| e.logged())?;
        let mut by_attempt: BTreeMap<String, Vec<Resource>> = BTreeMap::new();
        // Untagged resources are not nuvola's (an IM shared with others).
        for r in held.into_iter().filter(|r| !r.attempt_id.is_empty()) {
            by_attempt.entry(r.attempt_id.clone()).or_default().push(r);
        }
        // Only now the store: see the module note.
        let ids: Vec<String> = by_attempt.keys().cloned().collect();
        let known: HashMap<String, AttemptRecord> = self
            .store()
            .attempts_by_id(&ids)
            .await
            .map_err(|e| format!("cannot read the attempts: {e}"))?
            .into_iter()
            .filter(|a| a.provider == provider)
            .map(|a| (a.attempt_id.clone(), a))
            .collect();
        let canaries: HashSet<String> = self
            .store()
            .canary_runs_by_id(&ids)
            .await
            .map_err(|e| format!("cannot read the canary runs: {e}"))?
            .into_iter()
            .filter(|run| run.provider == provider)
            .map(|run| run.id)
            .collect();
        let settled_before =
            self.now_ms() - i64::try_from(self.settings().orphan_grace.as_millis()).unwrap_or(i64::MAX);
        let orphans = by_attempt.into_iter().filter_map(|(attempt_id, resources)| {
            if canaries.contains(&attempt_id) {
                return None;
            }
            let (why, deployment_id, ended_at) = match known.get(&attempt_id) {
                None => {
                    let tagged = resources.iter().map(|r| &r.deployment_id).find(|d| !d.is_empty()).cloned();
                    ("attempt unknown to the store".to_string(), tagged, None)
                }
                Some(a) if a.state.may_hold_resources() => return None,
                Some(a) => {
                    // Attempts that ended before `ended_at` was recorded.
                    let ended = a.ended_at.or(a.finished_at).unwrap_or(a.started_at);
                    if ended > settled_before {
                        return None;
                    }
                    let why = format!("attempt ended {} at {}", a.state, rfc3339(ended));
                    (why, Some(a.deployment_id.clone()), Some(ended))
                }
            };
            let provider = provider.to_string();
            Some(Orphan { provider, attempt_id, deployment_id, why, ended_at, resources, cleanup: None })
        });
        Ok(orphans.collect())
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}
