//! Workers: the loop that claims due deployments and runs their workflow
//! steps, up to `worker_concurrency` deployments at once. Woken when new
//! work is stored, and otherwise when the earliest stored step falls due.
//!
//! Every claim is a lease with a token of its own (the fencing token): the
//! worker renews it while a step runs, and a step's result is saved only
//! under that token, so a worker that lost its lease (it stalled past the
//! lease, another replica took the deployment over) can never commit.
//! When the next step is due within [`CHAIN_WITHIN_MS`], the worker keeps
//! the lease across the save and runs it at once, without claiming the
//! deployment again: a create is attempt, create, first look and ready in
//! one go. No database connection is held while a driver call runs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nuvola_store::Backend;
use nuvola_types::{AttemptRecord, DeploymentRecord, Progress};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::App;
use crate::workflow;

/// Longest a worker sleeps without looking for due work.
const IDLE_WAKE: Duration = Duration::from_millis(500);

/// A next step due this soon runs in the same task, under the same lease.
pub(crate) const CHAIN_WITHIN_MS: i64 = 100;

/// How long the steps in flight at shutdown may take to finish; those
/// still running then are abandoned (nothing of them is saved, their
/// leases are released) for another replica or the next start to run.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why a deployment's leased run ended before its step was saved.
enum Interrupted {
    /// Another worker holds the deployment now.
    LeaseLost,
    /// The server is stopping and the step did not finish in time.
    Abandoned,
}

impl App {
    /// Runs the workers until `shutdown` turns true, then gives the steps in
    /// flight [`SHUTDOWN_GRACE`] to finish (a step interrupted by a crash or
    /// abandoned is replayed anyway).
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
        let (abandon, abandoned) = watch::channel(false);
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
                let lease = self.lease_token();
                match store.claim_due(&lease, self.now_ms(), lease_ms, free).await {
                    Ok(c) => c.into_iter().map(|d| (d, lease.clone())).collect(),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot claim work");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            let idle = claimed.is_empty();
            for (d, lease) in claimed {
                let permit = slots.clone().acquire_owned().await.expect("semaphore open");
                let app = self.clone();
                let (stopping, abandoned) = (shutdown.clone(), abandoned.clone());
                running.spawn(async move {
                    app.run_leased(d, lease, stopping, abandoned).await;
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
        let finished = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, finished).await.is_err() {
            tracing::warn!(in_flight = running.len(), "abandoning the steps still running; they will be run again");
            let _ = abandon.send(true);
            while running.join_next().await.is_some() {}
        }
        let _ = reconciler.await;
    }

    /// A new lease token: this worker's name and a claim counter.
    fn lease_token(&self) -> String {
        format!("{}#{}", self.inner.worker_id, self.inner.claims.fetch_add(1, Ordering::Relaxed))
    }

    async fn idle_wait(&self, can_claim: bool) -> Duration {
        if !can_claim {
            return IDLE_WAKE;
        }
        match self.store().next_due_at().await {
            Ok(Some(at)) => Duration::from_millis((at - self.now_ms()).clamp(10, IDLE_WAKE.as_millis() as i64) as u64),
            _ => IDLE_WAKE,
        }
    }

    /// Runs the steps of `d` under `lease`: one, and the ones that follow it
    /// within [`CHAIN_WITHIN_MS`] while the server is not stopping.
    async fn run_leased(
        &self,
        mut d: DeploymentRecord,
        lease: String,
        stopping: watch::Receiver<bool>,
        abandoned: watch::Receiver<bool>,
    ) {
        let store = self.store();
        let mut attempts = match store.attempts(&d.id).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(deployment = %d.id, error = %e, "cannot read attempts");
                let _ = store.release_lease(&d.id, &lease).await;
                return;
            }
        };
        let lease_ms = self.settings().lease.as_millis() as i64;
        loop {
            let (mut next, progress) = match self.step_under_lease(&d, &attempts, &lease, abandoned.clone()).await {
                Ok(done) => done,
                Err(Interrupted::LeaseLost) => {
                    tracing::warn!(deployment = %d.id, "lease lost while a step ran: its result is dropped");
                    return;
                }
                Err(Interrupted::Abandoned) => {
                    let _ = store.release_lease(&d.id, &lease).await;
                    return;
                }
            };
            next.updated_at = self.now_ms();
            let due_in = next.next_run_at.map(|at| at - next.updated_at);
            let chain = due_in.is_some_and(|ms| ms <= CHAIN_WITHIN_MS) && !*stopping.borrow();
            let saved = if chain {
                store.save_deployment_holding(&next, &lease, next.updated_at + lease_ms, &progress).await
            } else {
                store.save_deployment(&next, Some(&lease), &progress).await
            };
            match saved {
                Ok(true) => {
                    if next.status != d.status {
                        tracing::info!(deployment = %d.id, status = %next.status, provider = ?next.provider, "deployment status");
                        if next.status.is_terminal() {
                            self.send_callback(&next);
                        }
                    }
                }
                Ok(false) => {
                    // Someone (a delete, an update) changed the row meanwhile:
                    // drop this step's result; the new step will run instead.
                    tracing::debug!(deployment = %d.id, "step discarded: the deployment changed meanwhile");
                    let _ = store.release_lease(&d.id, &lease).await;
                    self.wake_workers();
                    return;
                }
                Err(e) => {
                    tracing::error!(deployment = %d.id, error = %e, "cannot save step");
                    let _ = store.release_lease(&d.id, &lease).await;
                    return;
                }
            }
            if !chain {
                if next.next_run_at.is_some_and(|t| t <= self.now_ms()) {
                    self.wake_workers();
                }
                return;
            }
            next.revision += 1;
            merge_attempts(&mut attempts, progress.attempts);
            d = next;
            let wait = Duration::from_millis(due_in.unwrap_or(0).max(0) as u64);
            let mut stop = stopping.clone();
            let stopped = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                () = raised(&mut stop) => true,
            };
            if stopped {
                let _ = store.release_lease(&d.id, &lease).await;
                return;
            }
        }
    }

    /// Runs the next step of `d`, renewing `lease` every third of the lease
    /// while it runs. Returns the changed deployment and what to save with
    /// it; a workflow error (a corrupt row, a missing driver) is logged and
    /// turned into a retry in ten seconds.
    async fn step_under_lease(
        &self,
        d: &DeploymentRecord,
        attempts: &[AttemptRecord],
        lease: &str,
        mut abandoned: watch::Receiver<bool>,
    ) -> Result<(DeploymentRecord, Progress), Interrupted> {
        let lease_ms = self.settings().lease.as_millis() as i64;
        let renew_every = Duration::from_millis((lease_ms / 3).max(1) as u64);
        let mut next = d.clone();
        let mut progress = Progress::default();
        let outcome = {
            let step = workflow::run_step(self, &mut next, attempts, &mut progress);
            tokio::pin!(step);
            let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
            loop {
                tokio::select! {
                    done = &mut step => break done,
                    _ = renew.tick() => match self.store().renew_lease(&d.id, lease, self.now_ms() + lease_ms).await {
                        Ok(true) => {}
                        Ok(false) => return Err(Interrupted::LeaseLost),
                        // The save checks the lease anyway.
                        Err(e) => tracing::warn!(deployment = %d.id, error = %e, "cannot renew a lease"),
                    },
                    () = raised(&mut abandoned) => return Err(Interrupted::Abandoned),
                }
            }
        };
        if let Err(e) = outcome {
            tracing::error!(deployment = %d.id, error = %e.logged(), "workflow step failed");
            next = d.clone();
            progress = Progress { attempts: vec![], log: vec![format!("internal error, will retry: {e}")] };
            next.next_run_at = Some(self.now_ms() + 10_000);
        }
        Ok((next, progress))
    }
}

/// Resolves once `flag` is true (never, if its sender is gone first).
async fn raised(flag: &mut watch::Receiver<bool>) {
    loop {
        if *flag.borrow_and_update() {
            return;
        }
        if flag.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Applies the attempts a step saved to the ones read before it.
fn merge_attempts(attempts: &mut Vec<AttemptRecord>, saved: Vec<AttemptRecord>) {
    for a in saved {
        match attempts.iter_mut().find(|known| known.number == a.number) {
            Some(known) => *known = a,
            None => attempts.push(a),
        }
    }
    attempts.sort_by_key(|a| a.number);
}
