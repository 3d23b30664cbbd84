//! The durable deployment workflow: create with failover, update, delete.
//!
//! A deployment's next [`Step`] is stored in its row. A worker leases the
//! row, runs exactly one step (at most one driver call), and saves the
//! row with the following step, the attempts it changed and its log lines
//! in one transaction. A crash anywhere therefore replays at most the one
//! step that was running, and every step is safe to replay:
//!
//! - an attempt is recorded (`creating`) *before* the driver is asked to
//!   create it, so a restart knows which provider-side attempt may exist;
//! - driver calls are idempotent on the attempt id (create continues,
//!   delete of a missing attempt is done);
//! - a delete removes every attempt that may still hold resources.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};

use nuvola_drivers::{AttemptState as ProviderState, DeleteState, NodeProvision, ProvisionRequest, VolumeProvision};
use nuvola_types::{
    AttemptRecord, AttemptState, Candidate, DeploymentRecord, DeploymentStatus, Error, Progress, Result, Task, Usage,
    now_ms,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::App;

/// Cleanup calls that may fail before a failed attempt is left to the
/// reconciler and the next candidate is tried.
pub(crate) const CLEANUP_TRIES: u32 = 3;

/// The next thing to do for a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub(crate) enum Step {
    /// Record a new attempt on the plan's candidate `candidate`.
    StartAttempt { candidate: usize },
    /// Ask the provider to create attempt `number`.
    Create { number: i64, candidate: usize },
    /// Wait for attempt `number` to be ready, until `until` (ms).
    Poll { number: i64, candidate: usize, until: i64 },
    /// Remove failed attempt `number`, then try the next candidate (or,
    /// with `keepLastAttempt` and none left, keep it if the provider holds
    /// anything of it). `failures` counts cleanup calls that errored: after
    /// [`CLEANUP_TRIES`] the attempt is left to the reconciler (or kept) so
    /// that a provider that is down cannot block failover.
    Cleanup {
        number: i64,
        candidate: usize,
        reason: String,
        #[serde(default)]
        failures: u32,
    },
    /// Bring running attempt `number` to the updated requirements.
    Update { number: i64 },
    /// Wait for the update of attempt `number`, until `until` (ms).
    PollUpdate { number: i64, until: i64 },
    /// Remove every attempt that may hold resources.
    Delete,
}

impl Step {
    pub(crate) fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("steps serialise")
    }

    fn from_value(value: &Value) -> Result<Step> {
        serde_json::from_value(value.clone()).map_err(|e| Error::internal_because("stored workflow step", e))
    }
}

/// The time the workflow reads: the wall clock, except in tests, which
/// stop it and move it forward themselves, together with the simulated
/// sites' clocks ([`nuvola_drivers::sim::SimDriver::advance_clock`]), to
/// step through builds, deletes and timeouts without sleeping.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// The time it reads, in ms since the epoch, once stopped; 0 while it
    /// follows the wall clock.
    stopped_at: AtomicI64,
}

impl Clock {
    pub(crate) fn now_ms(&self) -> i64 {
        match self.stopped_at.load(Ordering::SeqCst) {
            0 => now_ms(),
            at => at,
        }
    }

    /// Stops the clock at the wall clock's time: it moves only by
    /// [`Clock::advance`] from now on.
    #[cfg(test)]
    pub(crate) fn stop(&self) {
        self.stopped_at.store(now_ms(), Ordering::SeqCst);
    }

    /// Moves a stopped clock forward.
    #[cfg(test)]
    pub(crate) fn advance(&self, by: std::time::Duration) {
        assert_ne!(self.stopped_at.load(Ordering::SeqCst), 0, "stop the clock before moving it");
        let ms = i64::try_from(by.as_millis()).expect("a test's step of time");
        self.stopped_at.fetch_add(ms, Ordering::SeqCst);
    }
}

/// Runs the next step of `d`, changing it in place and collecting the
/// attempts and log lines to save with it. Errors are the workflow's own
/// (a corrupt row, a missing driver), not provider failures: those are
/// part of the workflow.
pub(crate) async fn run_step(
    app: &App,
    d: &mut DeploymentRecord,
    attempts: &[AttemptRecord],
    progress: &mut Progress,
) -> Result<()> {
    let Some(step) = d.workflow.as_ref().map(Step::from_value).transpose()? else {
        d.next_run_at = None;
        return Ok(());
    };
    let now = app.inner.clock.now_ms();
    let mut run = Run { app, d, attempts, progress, now };
    match step {
        Step::StartAttempt { candidate } => run.start_attempt(candidate),
        Step::Create { number, candidate } => run.create(number, candidate).await,
        Step::Poll { number, candidate, until } => run.poll(number, candidate, until).await,
        Step::Cleanup { number, candidate, reason, failures } => run.cleanup(number, candidate, reason, failures).await,
        Step::Update { number } => run.update(number).await,
        Step::PollUpdate { number, until } => run.poll_update(number, until).await,
        Step::Delete => run.delete().await,
    }
}

struct Run<'a> {
    app: &'a App,
    d: &'a mut DeploymentRecord,
    attempts: &'a [AttemptRecord],
    progress: &'a mut Progress,
    now: i64,
}

impl Run<'_> {
    fn start_attempt(&mut self, candidate: usize) -> Result<()> {
        if let Some(why) = self.d.secrets_unreadable.clone() {
            let reason = format!("Deployment cannot be provisioned: {why}");
            self.log(reason.clone());
            if !self.d.keep_last_attempt {
                self.d.held = Usage::default();
            }
            self.finish(DeploymentStatus::CreateFailed, Some(reason));
            return Ok(());
        }
        let tried = self.attempts.len() as i64;
        let past_deadline = self.now >= self.d.deadline_at;
        let Some(c) = self.d.plan.candidates.get(candidate).cloned().filter(|_| tried < self.d.max_providers_retry)
        else {
            return self.fail_create(past_deadline);
        };
        if past_deadline {
            return self.fail_create(true);
        }
        let number = tried + 1;
        let attempt = AttemptRecord {
            deployment_id: self.d.id.clone(),
            number,
            attempt_id: format!("{}-{number}", self.d.id),
            provider: c.provider.clone(),
            state: AttemptState::Creating,
            reason: None,
            started_at: self.now,
            finished_at: None,
            ended_at: None,
        };
        let provider = self.app.federation().provider(&c.provider);
        self.d.provider = Some(c.provider.clone());
        self.d.endpoint = provider.map(|p| p.endpoint.clone());
        self.d.held = held_by(self.app, &self.d.requirements, &c);
        let nodes: Vec<String> = c.nodes.iter().map(|p| format!("{}: {} / {}", p.node, p.flavor, p.image)).collect();
        self.log(format!("attempt {number} on {} ({})", c.provider, nodes.join(", ")));
        self.progress.attempts.push(attempt);
        self.next(Step::Create { number, candidate }, 0);
        Ok(())
    }

    async fn create(&mut self, number: i64, candidate: usize) -> Result<()> {
        let attempt = self.attempt(number)?.clone();
        if let Some(why) = self.d.secrets_unreadable.clone() {
            // Whatever an earlier run of this step made is cleaned up; the
            // next attempt then fails the deployment, saying why.
            self.log(format!("attempt {number}: not sent to {}: {why}", attempt.provider));
            self.next(Step::Cleanup { number, candidate, reason: why, failures: 0 }, 0);
            return Ok(());
        }
        let c = self.candidate(candidate)?;
        let request = provision_request(self.app, self.d, &c, &attempt.attempt_id)?;
        let driver = self.app.federation().driver(&attempt.provider)?.clone();
        match self.call(&attempt.provider, driver.create(&request)).await {
            Ok(()) => {
                self.set_attempt(&attempt, AttemptState::Building, None);
                let until = (self.now + self.d.provider_timeout_mins.saturating_mul(60_000)).min(self.d.deadline_at);
                self.log(format!("attempt {number}: {} accepted the request", attempt.provider));
                self.next(Step::Poll { number, candidate, until }, self.poll_delay(&attempt));
            }
            Err(reason) => {
                self.log(format!("attempt {number}: {} refused: {reason}", attempt.provider));
                self.next(Step::Cleanup { number, candidate, reason, failures: 0 }, 0);
            }
        }
        Ok(())
    }

    async fn poll(&mut self, number: i64, candidate: usize, until: i64) -> Result<()> {
        let attempt = self.attempt(number)?.clone();
        let driver = self.app.federation().driver(&attempt.provider)?.clone();
        let state = self.call(&attempt.provider, driver.status(&attempt.attempt_id)).await;
        let timed_out = |run: &Self| {
            let mins = (until - attempt.started_at).max(0) / 60_000;
            if run.now >= run.d.deadline_at {
                format!("deployment timed out after {} min", run.d.timeout_mins)
            } else {
                format!("provider timed out after {mins} min")
            }
        };
        match state {
            Ok(ProviderState::Ready { nodes }) => {
                let outputs = self.outputs(&nodes).await?;
                self.d.outputs = outputs;
                self.d.physical_id = Some(attempt.attempt_id.clone());
                self.set_attempt(&attempt, AttemptState::Ready, None);
                self.log(format!("attempt {number}: ready on {}", attempt.provider));
                self.log_console(number, &attempt.provider, driver.as_ref(), &attempt.attempt_id).await;
                self.finish(DeploymentStatus::CreateComplete, None);
            }
            Ok(ProviderState::Failed { reason }) => {
                self.log(format!("attempt {number}: failed on {}: {reason}", attempt.provider));
                self.log_console(number, &attempt.provider, driver.as_ref(), &attempt.attempt_id).await;
                self.next(Step::Cleanup { number, candidate, reason, failures: 0 }, 0);
            }
            Ok(ProviderState::Absent) => {
                let reason = "the provider holds nothing for this attempt".to_string();
                self.log(format!("attempt {number}: {reason}"));
                self.next(Step::Cleanup { number, candidate, reason, failures: 0 }, 0);
            }
            Ok(ProviderState::Building { detail }) if self.now < until => {
                self.d.status_reason = Some(format!("{}: {detail}", attempt.provider));
                self.next(Step::Poll { number, candidate, until }, self.poll_delay(&attempt));
            }
            Ok(ProviderState::Building { .. }) => {
                let reason = timed_out(self);
                self.log(format!("attempt {number}: {reason} on {}", attempt.provider));
                self.next(Step::Cleanup { number, candidate, reason, failures: 0 }, 0);
            }
            Err(e) if self.now < until => {
                self.log(format!("attempt {number}: status check failed, will retry: {e}"));
                self.next(Step::Poll { number, candidate, until }, self.poll_ms());
            }
            Err(e) => {
                let reason = format!("{} (last error: {e})", timed_out(self));
                self.next(Step::Cleanup { number, candidate, reason, failures: 0 }, 0);
            }
        }
        Ok(())
    }

    async fn cleanup(&mut self, number: i64, candidate: usize, reason: String, failures: u32) -> Result<()> {
        let attempt = self.attempt(number)?.clone();
        let more = candidate + 1 < self.d.plan.candidates.len()
            && (self.attempts.len() as i64) < self.d.max_providers_retry
            && self.now < self.d.deadline_at;
        let driver = self.app.federation().driver(&attempt.provider)?.clone();
        if !more && self.d.keep_last_attempt {
            // Only what the provider holds is kept: an attempt it never
            // made (a refused create) holds no quota either.
            match self.call(&attempt.provider, driver.status(&attempt.attempt_id)).await {
                Ok(ProviderState::Absent) => {
                    self.set_attempt(&attempt, AttemptState::Cleaned, Some(reason));
                    self.d.held = Usage::default();
                    self.log(format!("attempt {number}: nothing to keep on {}", attempt.provider));
                }
                Err(e) if failures + 1 < CLEANUP_TRIES => {
                    self.log(format!("attempt {number}: cannot tell what {} holds, will retry: {e}", attempt.provider));
                    let failures = failures + 1;
                    self.next(Step::Cleanup { number, candidate, reason, failures }, self.poll_ms() * 5);
                    return Ok(());
                }
                _ => {
                    self.set_attempt(&attempt, AttemptState::Kept, Some(reason));
                    self.log(format!("attempt {number}: kept on {} (keepLastAttempt)", attempt.provider));
                }
            }
            return self.fail_create(self.now >= self.d.deadline_at);
        }
        match self.call(&attempt.provider, driver.delete(&attempt.attempt_id)).await {
            Ok(DeleteState::Gone) => {
                self.set_attempt(&attempt, AttemptState::Cleaned, Some(reason));
                self.d.held = Usage::default();
                self.log(format!("attempt {number}: cleaned up on {}", attempt.provider));
                self.next(Step::StartAttempt { candidate: candidate + 1 }, 0);
            }
            Ok(DeleteState::InProgress) => {
                self.set_attempt(&attempt, AttemptState::Cleaning, Some(reason.clone()));
                self.next(Step::Cleanup { number, candidate, reason, failures }, self.poll_ms());
            }
            Err(e) if failures + 1 < CLEANUP_TRIES => {
                self.log(format!("attempt {number}: cleanup on {} failed, will retry: {e}", attempt.provider));
                self.set_attempt(&attempt, AttemptState::Cleaning, Some(reason.clone()));
                let failures = failures + 1;
                self.next(Step::Cleanup { number, candidate, reason, failures }, self.poll_ms() * 5);
            }
            Err(e) => {
                // The attempt becomes `orphaned`: the reconciler keeps trying
                // to remove it, and a delete of the deployment removes it
                // too. Meanwhile the deployment moves on.
                self.log(format!(
                    "attempt {number}: cleanup on {} failed {CLEANUP_TRIES} times ({e}); left to the reconciler",
                    attempt.provider
                ));
                self.set_attempt(&attempt, AttemptState::Orphaned, Some(reason));
                self.next(Step::StartAttempt { candidate: candidate + 1 }, 0);
            }
        }
        Ok(())
    }

    async fn update(&mut self, number: i64) -> Result<()> {
        let attempt = self.attempt(number)?.clone();
        if let Some(why) = self.d.secrets_unreadable.clone() {
            self.log(format!("update: not sent to {}: {why}", attempt.provider));
            self.finish(DeploymentStatus::UpdateFailed, Some(format!("the update cannot be provisioned: {why}")));
            return Ok(());
        }
        let c = self.candidate(0)?;
        let request = provision_request(self.app, self.d, &c, &attempt.attempt_id)?;
        let driver = self.app.federation().driver(&attempt.provider)?.clone();
        match self.call(&attempt.provider, driver.update(&request)).await {
            Ok(()) => {
                self.d.held = held_by(self.app, &self.d.requirements, &c);
                let until = (self.now + self.d.provider_timeout_mins.saturating_mul(60_000)).min(self.d.deadline_at);
                self.log(format!("update: {} accepted the change", attempt.provider));
                self.next(Step::PollUpdate { number, until }, self.poll_ms());
            }
            Err(reason) => {
                self.log(format!("update: {} refused: {reason}", attempt.provider));
                self.finish(DeploymentStatus::UpdateFailed, Some(format!("{}: {reason}", attempt.provider)));
            }
        }
        Ok(())
    }

    /// Polls until the provider holds what the update asked for (as many
    /// servers, of the new flavors, volumes of the new sizes), not only
    /// until it is running again.
    async fn poll_update(&mut self, number: i64, until: i64) -> Result<()> {
        let attempt = self.attempt(number)?.clone();
        let driver = self.app.federation().driver(&attempt.provider)?.clone();
        let request = provision_request(self.app, self.d, &self.candidate(0)?, &attempt.attempt_id)?;
        match self.call(&attempt.provider, driver.update_status(&request)).await {
            Ok(ProviderState::Ready { nodes }) => {
                self.d.outputs = self.outputs(&nodes).await?;
                self.log("update: complete".to_string());
                self.finish(DeploymentStatus::UpdateComplete, None);
            }
            Ok(ProviderState::Building { detail }) if self.now < until => {
                self.d.status_reason = Some(format!("{}: {detail}", attempt.provider));
                self.next(Step::PollUpdate { number, until }, self.poll_ms());
            }
            Err(_) if self.now < until => self.next(Step::PollUpdate { number, until }, self.poll_ms()),
            Ok(ProviderState::Failed { reason }) => {
                // As after a create: the provider's own messages (IM's
                // contextualization log) and the consoles go to the log.
                self.log(format!("update: failed on {}: {reason}", attempt.provider));
                self.log_console(number, &attempt.provider, driver.as_ref(), &attempt.attempt_id).await;
                self.finish(DeploymentStatus::UpdateFailed, Some(format!("{}: {reason}", attempt.provider)));
            }
            Ok(ProviderState::Absent) => {
                let reason = format!("{}: the provider holds nothing for this deployment", attempt.provider);
                self.finish(DeploymentStatus::UpdateFailed, Some(reason));
            }
            Ok(ProviderState::Building { detail }) => {
                let reason = format!("{}: update timed out; {detail}", attempt.provider);
                self.finish(DeploymentStatus::UpdateFailed, Some(reason));
            }
            Err(e) => {
                let reason = format!("{}: update timed out (last error: {e})", attempt.provider);
                self.finish(DeploymentStatus::UpdateFailed, Some(reason));
            }
        }
        Ok(())
    }

    async fn delete(&mut self) -> Result<()> {
        let mut pending = Vec::new();
        for attempt in self.attempts.iter().filter(|a| a.state.may_hold_resources()) {
            let driver = self.app.federation().driver(&attempt.provider)?.clone();
            match self.call(&attempt.provider, driver.delete(&attempt.attempt_id)).await {
                Ok(DeleteState::Gone) => {
                    self.set_attempt(attempt, AttemptState::Deleted, attempt.reason.clone());
                    self.log(format!("attempt {}: deleted on {}", attempt.number, attempt.provider));
                }
                Ok(DeleteState::InProgress) => {
                    if attempt.state != AttemptState::Deleting {
                        self.set_attempt(attempt, AttemptState::Deleting, attempt.reason.clone());
                    }
                    pending.push(format!("{}: deleting", attempt.provider));
                }
                Err(e) => pending.push(format!("{}: {e}", attempt.provider)),
            }
        }
        if pending.is_empty() {
            self.d.held = Usage::default();
            self.d.outputs = Map::new();
            self.finish(DeploymentStatus::DeleteComplete, None);
        } else if self.now >= self.d.deadline_at {
            let reason = format!("delete timed out; still held: {}", pending.join("; "));
            self.finish(DeploymentStatus::DeleteFailed, Some(reason));
        } else {
            self.d.status_reason = Some(pending.join("; "));
            self.next(Step::Delete, self.poll_ms());
        }
        Ok(())
    }

    /// Ends a create that has no provider left: one cause per provider.
    fn fail_create(&mut self, timed_out: bool) -> Result<()> {
        let mut causes: Vec<String> = self
            .attempts
            .iter()
            .chain(self.progress.attempts.iter())
            .filter_map(|a| a.reason.as_ref().map(|r| (a.number, format!("{}: {r}", a.provider))))
            .collect::<BTreeMap<_, _>>()
            .into_values()
            .collect();
        if causes.is_empty() {
            causes.push("no attempt was made".into());
        }
        let head = if timed_out {
            format!("Deployment timed out after {} min", self.d.timeout_mins)
        } else {
            "Deployment failed on every provider tried".to_string()
        };
        let reason = format!("{head}:\n- {}", causes.join("\n- "));
        self.log(reason.clone());
        if !self.d.keep_last_attempt {
            self.d.held = Usage::default();
        }
        self.finish(DeploymentStatus::CreateFailed, Some(reason));
        Ok(())
    }

    /// The template's outputs for the attempt's instances; the template is
    /// loaded again off the async workers (a user's template).
    async fn outputs(
        &self,
        nodes: &BTreeMap<String, Vec<nuvola_drivers::InstanceAttributes>>,
    ) -> Result<Map<String, Value>> {
        let (resolver, key, mut nodes) = (self.app.inner.resolver.clone(), login_key(self.app, self.d), nodes.clone());
        let (text, inputs) = (self.d.template.clone(), self.d.inputs.clone());
        self.app
            .off_the_reactor(move || {
                // The made key's private half, derived again: kept nowhere
                // but in the (sealed) outputs.
                if let Some(key) = &key {
                    key.fill_credentials(&text, &inputs, &mut nodes);
                }
                let attributes: nuvola_tosca::InstanceAttributes =
                    nodes.iter().map(|(node, vms)| (node.clone(), vms.iter().map(|i| i.tosca()).collect())).collect();
                let template = nuvola_tosca::load(&text, "template.yaml", &*resolver)
                    .map_err(|d| Error::internal_because("stored template no longer loads", d))?;
                Ok(template.evaluate_outputs(&inputs, &attributes))
            })
            .await?
    }

    async fn call<T>(
        &self,
        provider: &str,
        call: impl std::future::Future<Output = Result<T, nuvola_drivers::DriverError>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.app.settings().driver_call_timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                // The deployment's owner reads the reason; its cause (a raw
                // answer, an address inside the site) only the log.
                if let Some(cause) = e.cause() {
                    tracing::warn!(deployment = %self.d.id, %provider, error = %e, cause, "provider call failed");
                }
                Err(e.to_string())
            }
            Err(_) => {
                Err(format!("{provider} did not answer within {} s", self.app.settings().driver_call_timeout.as_secs()))
            }
        }
    }

    fn attempt(&self, number: i64) -> Result<&AttemptRecord> {
        self.progress
            .attempts
            .iter()
            .rev()
            .chain(self.attempts.iter().rev())
            .find(|a| a.number == number)
            .ok_or_else(|| Error::internal(format!("deployment {} has no attempt {number}", self.d.id)))
    }

    fn candidate(&self, index: usize) -> Result<Candidate> {
        self.d
            .plan
            .candidates
            .get(index)
            .cloned()
            .ok_or_else(|| Error::internal(format!("deployment {} has no candidate {index}", self.d.id)))
    }

    fn set_attempt(&mut self, attempt: &AttemptRecord, state: AttemptState, reason: Option<String>) {
        let mut updated = attempt.clone();
        updated.state = state;
        updated.reason = reason;
        if updated.finished_at.is_none() && !matches!(state, AttemptState::Creating | AttemptState::Building) {
            updated.finished_at = Some(self.now);
        }
        if !state.may_hold_resources() {
            updated.ended_at = Some(self.now);
        }
        self.progress.attempts.push(updated);
    }

    fn next(&mut self, step: Step, after_ms: i64) {
        self.d.workflow = Some(step.to_value());
        self.d.next_run_at = Some(self.now + after_ms);
    }

    fn finish(&mut self, status: DeploymentStatus, reason: Option<String>) {
        self.d.status = status;
        self.d.status_reason = reason;
        self.d.task = Task::None;
        self.d.workflow = None;
        self.d.next_run_at = None;
    }

    fn log(&mut self, line: String) {
        self.progress.log.push(line);
    }

    /// The last lines of each server's console, where the driver keeps
    /// them, into the deployment log; a driver that cannot tell is skipped.
    async fn log_console(&mut self, number: i64, provider: &str, driver: &dyn nuvola_drivers::Driver, attempt: &str) {
        const LINES: usize = 20;
        let Ok(consoles) = self.call(provider, driver.console_log(attempt)).await else { return };
        for console in consoles {
            let lines: Vec<&str> = console.text.lines().collect();
            let tail = lines[lines.len().saturating_sub(LINES)..].join("\n");
            self.log(format!("attempt {number}: console of {}:\n{tail}", console.server));
        }
    }

    fn poll_ms(&self) -> i64 {
        self.app.settings().poll_interval.as_millis() as i64
    }

    /// When to look again at an attempt being built: soon after its
    /// create, backing off to the poll interval (see [`nuvola_types::poll_delay_ms`]).
    fn poll_delay(&self, attempt: &AttemptRecord) -> i64 {
        nuvola_types::poll_delay_ms(self.now - attempt.started_at, self.poll_ms())
    }
}

/// What a deployment holds on a candidate's provider once created.
pub(crate) fn held_by(app: &App, requirements: &nuvola_types::DeploymentRequirements, c: &Candidate) -> Usage {
    let spec = app.federation().provider(&c.provider);
    Usage::of_deployment(requirements, |node| {
        let flavor = &c.node(node)?.flavor;
        spec.as_ref()?.flavors.iter().find(|f| &f.name == flavor)
    })
}

/// The SSH key pair made for `d`'s nodes when its template gives none.
fn login_key(app: &App, d: &DeploymentRecord) -> Option<nuvola_drivers::login_key::LoginKey> {
    let secret = app.store().derived_secret(nuvola_drivers::login_key::LoginKey::PURPOSE)?;
    Some(nuvola_drivers::login_key::LoginKey::derive(&secret, &d.id))
}

/// The driver request for `d` placed as `c`.
fn provision_request(app: &App, d: &DeploymentRecord, c: &Candidate, attempt_id: &str) -> Result<ProvisionRequest> {
    let spec = app
        .federation()
        .provider(&c.provider)
        .ok_or_else(|| Error::internal(format!("provider {} is no longer configured", c.provider)))?;
    let project =
        spec.groups.get(&d.user_group).and_then(|g| g.project.clone()).unwrap_or_else(|| d.user_group.clone());
    // Accounts, keys and packages for cloud-init; a template the parser
    // accepted is valid YAML, so an error here only loses the setup.
    let made_key = login_key(app, d).map(|k| k.public_openssh());
    let setups =
        nuvola_drivers::cloud_init::node_setups(&d.template, &d.inputs, made_key.as_deref()).unwrap_or_default();
    let mut nodes = Vec::new();
    for node in &d.requirements.nodes {
        if node.count == 0 && c.node(&node.name).is_none() {
            continue;
        }
        let placed = c
            .node(&node.name)
            .ok_or_else(|| Error::internal(format!("plan has no placement for node {}", node.name)))?;
        let flavor = spec
            .flavors
            .iter()
            .find(|f| f.name == placed.flavor)
            .ok_or_else(|| Error::internal(format!("provider {} has no flavor {}", c.provider, placed.flavor)))?;
        nodes.push(NodeProvision {
            name: node.name.clone(),
            count: node.count,
            flavor: flavor.clone(),
            image: placed.image.clone(),
            volumes: node
                .volumes
                .iter()
                .map(|v| VolumeProvision {
                    name: v.name.clone(),
                    size_gb: v.size_gb,
                    volume_type: v.volume_type.clone(),
                })
                .collect(),
            ports: node.ports.clone(),
            network: node.network,
            public_ip: node.public_ip,
            setup: setups.get(&node.name).cloned().unwrap_or_default(),
        });
    }
    let (template, inputs) = (Some(d.template.clone()), d.inputs.clone());
    Ok(ProvisionRequest {
        deployment_id: d.id.clone(),
        attempt_id: attempt_id.to_string(),
        project,
        nodes,
        template,
        inputs,
    })
}
