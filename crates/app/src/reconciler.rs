//! The reconciler: on a timer, re-reads the federation registry (other
//! replicas may have changed it), retries the cleanup of attempts whose
//! provider was down until the provider confirms they are gone, scans the
//! providers for orphan resources the store does not account for (see
//! [`crate::orphans`]) and keeps the database's planner statistics fresh.
//! Each pass reports what it did.

use std::time::Duration;

use nuvola_drivers::DeleteState;
use tokio::sync::watch;

use crate::App;

/// Most orphans handled in one pass.
const BATCH: i64 = 100;

/// How often the planner statistics are refreshed.
const PLANNER_STATISTICS_EVERY: Duration = Duration::from_secs(3600);

/// What one reconciler pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Orphans confirmed gone and marked cleaned.
    pub cleaned: usize,
    /// Orphans still being removed or whose provider still fails.
    pub pending: usize,
}

impl App {
    /// Retries the cleanup of every orphaned attempt once.
    pub async fn reconcile_orphans(&self) -> ReconcileReport {
        let mut report = ReconcileReport::default();
        let orphans = match self.store().orphaned_attempts(BATCH).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "reconciler cannot list orphans");
                return report;
            }
        };
        for attempt in orphans {
            let Ok(driver) = self.federation().driver(&attempt.provider) else {
                report.pending += 1;
                continue;
            };
            let outcome =
                tokio::time::timeout(self.settings().driver_call_timeout, driver.delete(&attempt.attempt_id)).await;
            match outcome {
                Ok(Ok(DeleteState::Gone)) => {
                    let message =
                        format!("attempt {}: cleaned up on {} by the reconciler", attempt.number, attempt.provider);
                    match self.store().clean_orphan(&attempt, &message).await {
                        Ok(true) => report.cleaned += 1,
                        Ok(false) => {}
                        Err(e) => tracing::error!(error = %e, "reconciler cannot record a cleanup"),
                    }
                }
                Ok(Ok(DeleteState::InProgress)) => report.pending += 1,
                Ok(Err(e)) => {
                    tracing::debug!(attempt = %attempt.attempt_id, error = %e, "orphan cleanup still failing");
                    report.pending += 1;
                }
                Err(_) => report.pending += 1,
            }
        }
        if report != ReconcileReport::default() {
            tracing::info!(cleaned = report.cleaned, pending = report.pending, "orphan reconciler pass");
        }
        report
    }

    /// Runs [`App::reconcile_orphans`] every `interval` until `shutdown`;
    /// at start and then hourly, also refreshes the database's planner
    /// statistics (listings and statistics pages depend on them); at start
    /// and then every `orphan_scan_interval`, scans for orphan resources
    /// and logs each new one.
    pub async fn run_reconciler(&self, interval: Duration, shutdown: watch::Receiver<bool>) {
        let state = tokio::sync::Mutex::new(PassState::default());
        // A pass may wait on providers that do not answer (a driver call
        // timeout per orphan): shutdown does not wait for it. Every call of
        // a pass is safe to cut off and run again.
        crate::every::every(interval, shutdown, || async {
            let mut state = state.lock().await;
            let PassState { analyzed, scanned, orphans_seen } = &mut *state;
            self.reconcile_pass(analyzed, scanned, orphans_seen).await
        })
        .await;
    }

    /// One pass of the reconciler (see [`App::run_reconciler`]).
    async fn reconcile_pass(
        &self,
        analyzed: &mut Option<std::time::Instant>,
        scanned: &mut Option<std::time::Instant>,
        orphans_seen: &mut std::collections::HashSet<(String, String)>,
    ) {
        if analyzed.is_none_or(|at| at.elapsed() >= PLANNER_STATISTICS_EVERY) {
            if let Err(e) = self.store().refresh_planner_statistics().await {
                tracing::error!(error = %e, "cannot refresh the database's planner statistics");
            }
            *analyzed = Some(std::time::Instant::now());
        }
        // Other replicas may have changed the registry.
        if let Err(e) = self.reload_federation().await {
            tracing::error!(error = %e.logged(), "cannot reload the federation registry");
        }
        self.reconcile_orphans().await;
        if scanned.is_none_or(|at| at.elapsed() >= self.settings().orphan_scan_interval) {
            self.log_new_orphans(orphans_seen).await;
            *scanned = Some(std::time::Instant::now());
        }
    }

    /// Scans for orphan resources and warns of each one not in `seen`.
    async fn log_new_orphans(&self, seen: &mut std::collections::HashSet<(String, String)>) {
        let report = self.scan_orphans(None).await;
        for o in report.newly_seen(seen) {
            let resources: Vec<String> =
                o.resources.iter().map(|r| format!("{:?} {} ({})", r.kind, r.name, r.id)).collect();
            tracing::warn!(
                provider = %o.provider, attempt = %o.attempt_id, deployment = o.deployment_id.as_deref().unwrap_or("-"),
                why = %o.why, resources = %resources.join(", "),
                "orphan resources: clean them with `nuvola federation orphans --clean`"
            );
        }
        for p in report.providers.iter().filter(|p| p.error.is_some()) {
            tracing::info!(provider = %p.provider, error = p.error.as_deref().unwrap_or(""), "cannot scan for orphans");
        }
    }
}

/// What the reconciler's passes remember: when the planner statistics were
/// last refreshed and orphans last scanned, and the orphans already logged.
#[derive(Default)]
struct PassState {
    analyzed: Option<std::time::Instant>,
    scanned: Option<std::time::Instant>,
    orphans_seen: std::collections::HashSet<(String, String)>,
}
