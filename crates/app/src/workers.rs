//! Workers: the loop that claims due deployments and runs one workflow step
//! for each, up to `worker_concurrency` at once. Woken when new work is
//! stored, and otherwise when the earliest stored step falls due.

use std::sync::Arc;
use std::time::Duration;

use nuvola_store::{Backend, DeploymentRecord, Progress, now_ms};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::App;
use crate::workflow;

/// Longest a worker sleeps without looking for due work.
const IDLE_WAKE: Duration = Duration::from_millis(500);

impl App {
    /// Runs the workers until `shutdown` turns true, then waits for the
    /// steps in flight (a step interrupted by a crash is replayed anyway).
    pub async fn run_workers(&self, mut shutdown: watch::Receiver<bool>) {
        let store = self.store();
        if store.backend() == Backend::Sqlite {
            // An SQLite file has one server; leases left by a previous run
            // of it belong to a dead process.
            if let Err(e) = store.release_leases_of_others(&self.inner.worker_id).await {
                tracing::error!(error = %e, "cannot release stale leases");
            }
        }
        let concurrency = self.settings().worker_concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut running = JoinSet::new();
        let lease_ms = self.settings().lease.as_millis() as i64;
        tracing::info!(worker = %self.inner.worker_id, concurrency, "workers started");
        let reconciler = tokio::spawn({
            let app = self.clone();
            let stop = shutdown.clone();
            async move { app.run_reconciler(app.settings().reconcile_interval, stop).await }
        });
        while !*shutdown.borrow() {
            while running.try_join_next().is_some() {}
            let free = slots.available_permits() as i64;
            let claimed = if free > 0 {
                match store.claim_due(&self.inner.worker_id, now_ms(), lease_ms, free).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot claim work");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            let idle = claimed.is_empty();
            for d in claimed {
                let permit = slots.clone().acquire_owned().await.expect("semaphore open");
                let app = self.clone();
                running.spawn(async move {
                    app.step(d).await;
                    drop(permit);
                });
            }
            if idle {
                let wait = self.idle_wait(free > 0).await;
                tokio::select! {
                    _ = self.inner.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                    Some(_) = running.join_next(), if free == 0 => {}
                }
            }
        }
        tracing::info!(in_flight = running.len(), "workers stopping");
        while running.join_next().await.is_some() {}
        let _ = reconciler.await;
    }

    async fn idle_wait(&self, can_claim: bool) -> Duration {
        if !can_claim {
            return IDLE_WAKE;
        }
        match self.store().next_due_at().await {
            Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(10, IDLE_WAKE.as_millis() as i64) as u64),
            _ => IDLE_WAKE,
        }
    }

    /// Runs one step of `d` and saves it under this worker's lease.
    async fn step(&self, d: DeploymentRecord) {
        let owner = &self.inner.worker_id;
        let store = self.store();
        let attempts = match store.attempts(&d.id).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(deployment = %d.id, error = %e, "cannot read attempts");
                let _ = store.release_lease(&d.id, owner).await;
                return;
            }
        };
        let mut next = d.clone();
        let mut progress = Progress::default();
        if let Err(e) = workflow::run_step(self, &mut next, &attempts, &mut progress).await {
            tracing::error!(deployment = %d.id, error = %e, "workflow step failed");
            next = d.clone();
            progress = Progress { attempts: vec![], log: vec![format!("internal error, will retry: {e}")] };
            next.next_run_at = Some(now_ms() + 10_000);
        }
        next.updated_at = now_ms();
        match store.save_deployment(&next, Some(owner), &progress).await {
            Ok(true) => {
                if next.status != d.status {
                    tracing::info!(deployment = %d.id, status = %next.status, provider = ?next.provider, "deployment status");
                    if next.status.is_terminal() {
                        self.send_callback(&next);
                    }
                }
                if next.next_run_at.is_some_and(|t| t <= now_ms()) {
                    self.wake_workers();
                }
            }
            Ok(false) => {
                // Someone (a delete, an update) changed the row meanwhile:
                // drop this step's result; the new step will run instead.
                tracing::debug!(deployment = %d.id, "step discarded: the deployment changed meanwhile");
                let _ = store.release_lease(&d.id, owner).await;
                self.wake_workers();
            }
            Err(e) => {
                tracing::error!(deployment = %d.id, error = %e, "cannot save step");
                let _ = store.release_lease(&d.id, owner).await;
            }
        }
    }
}
