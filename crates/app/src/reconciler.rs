//! The reconciler: on a timer, re-reads the federation registry (other
//! replicas may have changed it), retries the cleanup of attempts whose
//! provider was down until the provider confirms they are gone, and keeps
//! the database's planner statistics fresh.
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
    /// statistics (listings and statistics pages depend on them).
    pub async fn run_reconciler(&self, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut analyzed: Option<std::time::Instant> = None;
        while !*shutdown.borrow() {
            if analyzed.is_none_or(|at| at.elapsed() >= PLANNER_STATISTICS_EVERY) {
                if let Err(e) = self.store().refresh_planner_statistics().await {
                    tracing::error!(error = %e, "cannot refresh the database's planner statistics");
                }
                analyzed = Some(std::time::Instant::now());
            }
            // Other replicas may have changed the registry.
            if let Err(e) = self.reload_federation().await {
                tracing::error!(error = %e, "cannot reload the federation registry");
            }
            self.reconcile_orphans().await;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
