//! The provider canary (issue 14): on each enabled provider that opted in,
//! once per interval, the smallest VM it offers is created, awaited until
//! it runs, deleted and awaited until the provider holds nothing of it,
//! each phase timed ([`nuvola_monitor::canary`] chooses the VM and words
//! the verdict).
//!
//! Nothing is left behind. A run is recorded in the store before its VM
//! is created, claimed for its provider's slot of the schedule so that one
//! replica makes it, and held under a lease its runner renews before each
//! driver call. A run whose VM is not confirmed gone (its delete failed or
//! outlasted its bound, or its runner was cut off by a crash or a
//! shutdown and its lease ran out) is a leftover: every pass, at start and
//! then every [`TICK`], asks the provider to delete each leftover until it
//! says the VM is gone, and makes no new VM on a provider holding one.
//! After each run the provider's inventory is read, and a canary VM the
//! store believed gone that it still lists is a leftover again. The
//! orphan scan knows canary runs from the store and leaves them to this
//! module.
//!
//! Each run's verdict is its provider's `canary` check in every round of
//! probes until the next one (or until it is stale, see
//! [`nuvola_monitor::canary::fresh`]), and a leftover fails that check
//! until it is gone: state derivation, alerts, availability and
//! `/metrics` see the canary as they see every other check; but only its
//! failure weighs on the component's state ([`counts`]), and its latency
//! is the whole run's, so it is never judged slow ([`judged`]): the phases
//! have their own gauges.
//!
//! Time is read and waited through a [`Pace`], so that tests run the
//! simulator's clock instead of sleeping.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use nuvola_drivers::{AttemptState, DeleteState, Driver, DriverError, NodeProvision, ProvisionRequest};
use nuvola_monitor::canary as rules;
use nuvola_monitor::openmetrics::Exposition;
use nuvola_types::{CanaryPhase, CanaryRun, NetworkKind, ProbeResult, Result, Spelled};

use crate::{ProviderTarget, Targets, Watch};

pub use nuvola_monitor::canary::PROBE;

/// How often a pass looks for runs due and leftovers to finish.
pub const TICK: Duration = Duration::from_secs(60);

/// The first wait between two status (or delete) calls of a run; each
/// next one is half as long again, up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// What the canary's VMs are tagged as belonging to.
pub const DEPLOYMENT: &str = "canary";

/// How the canary runs.
#[derive(Debug, Clone)]
pub struct CanarySettings {
    /// The providers that opted in; none (the default): no canary.
    pub providers: Vec<String>,
    /// One run per provider in each interval.
    pub interval: Duration,
    /// How long the VM may take to run, and then to be gone.
    pub phase_timeout: Duration,
    /// How long one driver call may take.
    pub call_timeout: Duration,
}

impl Default for CanarySettings {
    fn default() -> Self {
        CanarySettings {
            providers: Vec::new(),
            interval: Duration::from_secs(3600),
            phase_timeout: Duration::from_secs(600),
            call_timeout: Duration::from_secs(30),
        }
    }
}

impl CanarySettings {
    /// How long a runner holds its run past its last renewal: its longest
    /// call and pause, and some slack.
    pub fn lease(&self) -> Duration {
        self.call_timeout + LONGEST_PAUSE + Duration::from_secs(30)
    }

    /// The longest a run may take: its create, its two bounded waits, and
    /// a lease for the last call of each.
    fn longest_run_ms(&self) -> i64 {
        ms(self.call_timeout + 2 * self.phase_timeout + 3 * self.lease())
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The canary's clock: what time it is, and how it waits.
pub trait Pace: Send + Sync {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    /// Waits `d`.
    fn pause(&self, d: Duration) -> BoxFuture<'_, ()>;
}

/// The wall clock, and tokio's sleep.
pub struct Wall;

impl Pace for Wall {
    fn now_ms(&self) -> i64 {
        nuvola_types::now_ms()
    }

    fn pause(&self, d: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A provider's driver by name, also for a provider that left the
/// registry or was disabled (its leftovers are still to delete).
pub type Drivers<'a> = &'a (dyn Fn(&str) -> Option<Arc<dyn Driver>> + Sync);

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct CanaryPass {
    /// The runs it made, ended.
    pub runs: Vec<CanaryRun>,
    /// Leftovers their provider now says are gone.
    pub cleaned: Vec<CanaryRun>,
    /// Leftovers still on their provider.
    pub leftovers: Vec<CanaryRun>,
}

/// The latency a check is judged by for slowness: a canary's is a whole
/// VM's life, timed in phases of its own, so it is never slow.
pub fn judged(check: &ProbeResult) -> u32 {
    if check.probe == PROBE { 0 } else { check.latency_ms }
}

/// Whether a check counts toward its component's state in a round: a
/// canary's pass is old news by then (it must not hold up a site that
/// stopped answering since), its failure stands until a run passes.
pub fn counts(check: &ProbeResult) -> bool {
    check.probe != PROBE || !check.ok
}

/// Why a run failed: in which phase, what anyone may read, and what only
/// operators may.
struct Failure {
    phase: CanaryPhase,
    said: String,
    cause: Option<String>,
}

impl Failure {
    fn new(phase: CanaryPhase, said: impl Into<String>) -> Failure {
        Failure { phase, said: said.into(), cause: None }
    }

    fn of(phase: CanaryPhase, e: &DriverError) -> Failure {
        Failure { phase, said: e.to_string(), cause: e.cause().map(str::to_string) }
    }
}

impl Watch {
    fn canary_settings(&self) -> &CanarySettings {
        &self.inner.settings.canary
    }

    /// One pass at `pace`'s now: each leftover no one holds is asked
    /// deleted once; then each enabled provider of `targets` that opted
    /// in, holds no leftover, is not in an outage window and has no run in
    /// this slot gets one (all at once). Safe to cut off anywhere and run
    /// again, on any replica.
    pub async fn canary_pass(&self, targets: &Targets, drivers: Drivers<'_>, pace: &dyn Pace) -> Result<CanaryPass> {
        let store = &self.inner.store;
        let settings = self.canary_settings();
        let mut pass = CanaryPass::default();
        let now = pace.now_ms();
        for leftover in store.canary_leftovers(now).await? {
            if leftover.lease_until > now {
                // Another replica is at it.
                pass.leftovers.push(leftover);
                continue;
            }
            match self.finish_leftover(leftover, drivers, pace).await? {
                run if run.gone => pass.cleaned.push(run),
                run => pass.leftovers.push(run),
            }
        }
        let holding: BTreeSet<&str> = pass.leftovers.iter().map(|l| l.provider.as_str()).collect();
        let due = targets.providers.iter().filter(|t| {
            t.spec.enabled
                && settings.providers.contains(&t.spec.name)
                && !holding.contains(t.spec.name.as_str())
                && !rules::in_outage(&t.spec, now)
        });
        let runs = futures::future::join_all(due.map(|t| self.canary_run(t, pace))).await;
        for run in runs {
            if let Some(run) = run? {
                pass.runs.push(run);
            }
        }
        let keep = ms(self.inner.settings.keep_results);
        store.prune_canary_runs(now.saturating_sub(keep)).await?;
        Ok(pass)
    }

    /// Asks the provider of `leftover` to delete it, once; saves what it
    /// answered. A run cut off before its verdict is closed without one.
    async fn finish_leftover(
        &self,
        mut leftover: CanaryRun,
        drivers: Drivers<'_>,
        pace: &dyn Pace,
    ) -> Result<CanaryRun> {
        let store = &self.inner.store;
        let settings = self.canary_settings();
        let now = pace.now_ms();
        if !store.take_canary_leftover(&leftover.id, now, now + ms(settings.lease())).await? {
            return Ok(leftover);
        }
        if leftover.finished_at.is_none() {
            leftover.finished_at = Some(now);
            leftover.error = Some("cut off before it ended (the server stopped)".into());
        }
        let answer = match drivers(&leftover.provider) {
            None => Err(DriverError::unavailable(format!("provider {} has no driver here", leftover.provider))),
            Some(driver) => self.bounded("delete", &leftover.provider, driver.delete(&leftover.id)).await,
        };
        match answer {
            Ok(DeleteState::Gone) => {
                leftover.gone = true;
                leftover.cleanup_error = None;
                tracing::info!(provider = %leftover.provider, run = %leftover.id, "canary leftover gone");
            }
            Ok(DeleteState::InProgress) => leftover.cleanup_error = Some("being deleted".into()),
            Err(e) => {
                tracing::warn!(provider = %leftover.provider, run = %leftover.id, error = %e.logged(),
                    "canary leftover still not deleted");
                leftover.cleanup_error = Some(e.to_string());
            }
        }
        leftover.lease_until = pace.now_ms();
        store.save_canary_run(&leftover).await?;
        Ok(leftover)
    }

    /// Runs the canary on `target` in this slot, unless a run claimed it
    /// first; the run ended, as saved.
    async fn canary_run(&self, target: &ProviderTarget, pace: &dyn Pace) -> Result<Option<CanaryRun>> {
        let settings = self.canary_settings();
        let spec = &target.spec;
        let started = pace.now_ms();
        let chosen = rules::choice(spec).map(|(flavor, image)| (flavor.clone(), image.to_string()));
        let (flavor, image) = match &chosen {
            Ok((flavor, image)) => (flavor.name.clone(), image.clone()),
            Err(_) => (String::new(), String::new()),
        };
        let mut run = CanaryRun::begun(
            format!("canary-{}", uuid::Uuid::new_v4().simple()),
            &spec.name,
            rules::slot(started, ms(settings.interval)),
            flavor,
            image,
            started,
            started + ms(settings.lease()),
        );
        let (flavor, image) = match chosen {
            Ok(chosen) => chosen,
            Err(lack) => {
                // Nothing will be made: the run is over before it starts.
                run.gone = true;
                self.conclude(&mut run, Some(Failure::new(CanaryPhase::Create, lack)), pace);
                if !self.inner.store.claim_canary_run(&run).await? {
                    return Ok(None);
                }
                tracing::warn!(provider = %run.provider, run = %run.id, "canary: {}", rules::summary(&run));
                return Ok(Some(run));
            }
        };
        if !self.inner.store.claim_canary_run(&run).await? {
            return Ok(None);
        }
        let request = ProvisionRequest {
            deployment_id: DEPLOYMENT.into(),
            attempt_id: run.id.clone(),
            project: rules::project(spec),
            nodes: vec![NodeProvision {
                name: "vm".into(),
                count: 1,
                flavor,
                image,
                volumes: Vec::new(),
                ports: Vec::new(),
                network: NetworkKind::Private,
                public_ip: false,
                setup: Default::default(),
            }],
            template: None,
            inputs: Default::default(),
        };
        let driver = target.driver.as_ref();
        let mut failure = self.create_and_await(&mut run, driver, &request, pace).await;
        let deleted = self.delete_and_await(&mut run, driver, pace).await;
        failure = failure.or(deleted);
        self.conclude(&mut run, failure, pace);
        self.save(&run).await;
        if run.ok == Some(true) {
            tracing::info!(provider = %run.provider, run = %run.id, "canary: {}", rules::summary(&run));
        } else {
            tracing::warn!(provider = %run.provider, run = %run.id, cause = run.cause.as_deref().unwrap_or("-"),
                gone = run.gone, "canary: {}", rules::summary(&run));
        }
        self.sweep(target, pace).await;
        Ok(Some(run))
    }

    /// Creates the run's VM and waits until it runs, timing both; what
    /// failed, if anything did.
    async fn create_and_await(
        &self,
        run: &mut CanaryRun,
        driver: &dyn Driver,
        request: &ProvisionRequest,
        pace: &dyn Pace,
    ) -> Option<Failure> {
        let settings = self.canary_settings();
        self.hold(run, pace).await;
        let asked = pace.now_ms();
        if let Err(e) = self.bounded("create", &run.provider, driver.create(request)).await {
            return Some(Failure::of(CanaryPhase::Create, &e));
        }
        let accepted = pace.now_ms();
        run.create_ms = Some(accepted - asked);
        let mut pause = FIRST_PAUSE;
        // What it last waited for, or the last error.
        let mut last: (String, Option<String>);
        loop {
            self.hold(run, pace).await;
            match self.bounded("status", &run.provider, driver.status(&run.id)).await {
                Ok(AttemptState::Ready { .. }) => {
                    run.ready_ms = Some(pace.now_ms() - accepted);
                    return None;
                }
                Ok(AttemptState::Failed { reason }) => return Some(Failure::new(CanaryPhase::Ready, reason)),
                Ok(AttemptState::Absent) => {
                    return Some(Failure::new(CanaryPhase::Ready, "the provider lost the VM before it ran"));
                }
                Ok(AttemptState::Building { detail }) => last = (detail, None),
                Err(e) => last = (e.to_string(), e.cause().map(str::to_string)),
            }
            let waited = pace.now_ms() - accepted;
            if waited >= ms(settings.phase_timeout) {
                let (detail, cause) = last;
                let said = format!("not running within {} s ({detail})", settings.phase_timeout.as_secs());
                return Some(Failure { phase: CanaryPhase::Ready, said, cause });
            }
            let left = Duration::from_millis(u64::try_from(ms(settings.phase_timeout) - waited).unwrap_or(0));
            pace.pause(pause.min(left)).await;
            pause = (pause * 3 / 2).min(LONGEST_PAUSE);
        }
    }

    /// Deletes the run's VM (also after a failed create, which may have
    /// made something) and waits until the provider holds nothing of it,
    /// timing it; what failed, if anything did.
    async fn delete_and_await(&self, run: &mut CanaryRun, driver: &dyn Driver, pace: &dyn Pace) -> Option<Failure> {
        let settings = self.canary_settings();
        let asked = pace.now_ms();
        let mut pause = FIRST_PAUSE;
        let mut last: Option<DriverError> = None;
        loop {
            self.hold(run, pace).await;
            match self.bounded("delete", &run.provider, driver.delete(&run.id)).await {
                Ok(DeleteState::Gone) => {
                    run.gone = true;
                    run.delete_ms = Some(pace.now_ms() - asked);
                    return None;
                }
                Ok(DeleteState::InProgress) => {}
                Err(e) => last = Some(e),
            }
            let waited = pace.now_ms() - asked;
            if waited >= ms(settings.phase_timeout) {
                run.cleanup_error = last.as_ref().map(DriverError::to_string);
                let said = match &last {
                    Some(e) => format!("not gone within {} s ({e})", settings.phase_timeout.as_secs()),
                    None => format!("not gone within {} s", settings.phase_timeout.as_secs()),
                };
                let cause = last.as_ref().and_then(|e| e.cause().map(str::to_string));
                return Some(Failure { phase: CanaryPhase::Delete, said, cause });
            }
            let left = Duration::from_millis(u64::try_from(ms(settings.phase_timeout) - waited).unwrap_or(0));
            pace.pause(pause.min(left)).await;
            pause = (pause * 3 / 2).min(LONGEST_PAUSE);
        }
    }

    /// Ends `run` with its verdict, letting its lease go.
    fn conclude(&self, run: &mut CanaryRun, failure: Option<Failure>, pace: &dyn Pace) {
        let now = pace.now_ms();
        run.finished_at = Some(now);
        run.lease_until = now;
        run.ok = Some(failure.is_none());
        if let Some(f) = failure {
            run.failed_phase = Some(f.phase);
            run.error = Some(f.said);
            run.cause = f.cause;
        }
    }

    /// Renews the run's lease before a driver call.
    async fn hold(&self, run: &mut CanaryRun, pace: &dyn Pace) {
        run.lease_until = pace.now_ms() + ms(self.canary_settings().lease());
        self.save(run).await;
    }

    /// Saves `run`; a store that fails mid-run does not stop it (its VM
    /// is still deleted; an unsaved end leaves a leftover to finish).
    async fn save(&self, run: &CanaryRun) {
        if let Err(e) = self.inner.store.save_canary_run(run).await {
            tracing::error!(run = %run.id, error = %e, "cannot save a canary run");
        }
    }

    /// `call`, failing past the canary's call timeout.
    async fn bounded<T>(
        &self,
        what: &str,
        provider: &str,
        call: impl std::future::Future<Output = std::result::Result<T, DriverError>>,
    ) -> std::result::Result<T, DriverError> {
        let bound = self.canary_settings().call_timeout;
        tokio::time::timeout(bound, call).await.unwrap_or_else(|_| {
            Err(DriverError::unavailable(format!("{provider} did not answer the {what} within {} s", bound.as_secs())))
        })
    }

    /// Reads `target`'s inventory for canary VMs the store believes gone:
    /// each is a leftover again, for the next pass to delete.
    async fn sweep(&self, target: &ProviderTarget, pace: &dyn Pace) {
        let held = match self.bounded("inventory", &target.spec.name, target.driver.inventory()).await {
            Ok(held) => held,
            Err(e) => {
                tracing::debug!(provider = %target.spec.name, error = %e.logged(), "canary: inventory not read");
                return;
            }
        };
        let ids: BTreeSet<String> = held.into_iter().map(|r| r.attempt_id).filter(|a| !a.is_empty()).collect();
        let ids: Vec<String> = ids.into_iter().collect();
        let runs = match self.inner.store.canary_runs_by_id(&ids).await {
            Ok(runs) => runs,
            Err(e) => return tracing::error!(error = %e, "canary: cannot read runs"),
        };
        for mut run in runs.into_iter().filter(|r| r.provider == target.spec.name && r.gone) {
            tracing::warn!(provider = %run.provider, run = %run.id, "canary VM still listed after its delete");
            run.gone = false;
            run.cleanup_error = Some("the provider still listed it after its delete".into());
            run.lease_until = pace.now_ms();
            self.save(&run).await;
        }
    }

    /// Each provider's `canary` check for a round at `now`, by provider:
    /// its latest verdict while fresh, or a failure while it holds a
    /// leftover. Empty when no provider opted in and none holds one.
    pub(crate) async fn canary_checks(&self, now: i64) -> Result<BTreeMap<String, ProbeResult>> {
        let settings = self.canary_settings();
        let store = &self.inner.store;
        let mut checks = BTreeMap::new();
        if !settings.providers.is_empty() {
            for run in store.latest_canary_verdicts().await? {
                let fresh = rules::fresh(run.started_at, now, ms(settings.interval), settings.longest_run_ms());
                if fresh && settings.providers.contains(&run.provider) {
                    checks.insert(run.provider.clone(), verdict(&run));
                }
            }
        }
        for leftover in store.canary_leftovers(now).await? {
            let check = ProbeResult {
                ok: false,
                detail: rules::leftover_summary(&leftover),
                at: leftover.started_at,
                ..verdict(&leftover)
            };
            checks.insert(leftover.provider.clone(), check);
        }
        Ok(checks)
    }

    /// The canary's gauges: each provider's last verdict's phases, whether
    /// it passed and when it ran, and how many leftovers it holds.
    pub async fn canary_metrics(&self, out: &mut Exposition, now: i64) -> Result<()> {
        let store = &self.inner.store;
        let verdicts = store.latest_canary_verdicts().await?;
        let mut phases: Vec<([(&str, &str); 2], f64)> = Vec::new();
        for run in &verdicts {
            for (phase, took) in run.phases() {
                if let Some(took) = took {
                    phases
                        .push(([("provider", run.provider.as_str()), ("phase", phase.as_str())], took as f64 / 1000.0));
                }
            }
        }
        out.gauge(
            "nuvola_canary_phase_seconds",
            "How long each phase of a provider's last canary run took: create (until accepted), ready (until \
             running), delete (until gone).",
            &phases.iter().map(|(l, v)| (&l[..], *v)).collect::<Vec<_>>(),
        );
        let labels: Vec<[(&str, &str); 1]> = verdicts.iter().map(|r| [("provider", r.provider.as_str())]).collect();
        let passed: Vec<_> =
            labels.iter().zip(&verdicts).map(|(l, r)| (&l[..], f64::from(u8::from(r.ok == Some(true))))).collect();
        out.gauge("nuvola_canary_success", "Whether a provider's last canary run passed (1) or failed (0).", &passed);
        let when: Vec<_> = labels.iter().zip(&verdicts).map(|(l, r)| (&l[..], r.started_at as f64 / 1000.0)).collect();
        out.gauge("nuvola_canary_run_timestamp_seconds", "When a provider's last canary run started.", &when);
        let mut leftovers: BTreeMap<String, f64> = verdicts.iter().map(|r| (r.provider.clone(), 0.0)).collect();
        for leftover in store.canary_leftovers(now).await? {
            *leftovers.entry(leftover.provider).or_default() += 1.0;
        }
        let labels: Vec<[(&str, &str); 1]> = leftovers.keys().map(|p| [("provider", p.as_str())]).collect();
        let counts: Vec<_> = labels.iter().zip(leftovers.values()).map(|(l, n)| (&l[..], *n)).collect();
        out.gauge(
            "nuvola_canary_leftovers",
            "Canary VMs not confirmed gone on a provider (retried every minute until they are).",
            &counts,
        );
        Ok(())
    }

    /// Leftover canary VMs now, and each provider's runs started from
    /// `since`, newest first, at most `per_provider` of each (for the
    /// operators' page).
    pub async fn canary_runs(
        &self,
        now: i64,
        since: i64,
        per_provider: usize,
    ) -> Result<(Vec<CanaryRun>, Vec<CanaryRun>)> {
        let store = &self.inner.store;
        let leftovers = store.canary_leftovers(now).await?;
        let mut runs = store.canary_runs_since(since).await?;
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        runs.retain(|r| {
            let n = seen.entry(r.provider.clone()).or_default();
            *n += 1;
            *n <= per_provider
        });
        Ok((leftovers, runs))
    }
}

/// A run with a verdict as its provider's check.
fn verdict(run: &CanaryRun) -> ProbeResult {
    ProbeResult {
        target: String::new(),
        probe: PROBE.into(),
        at: run.started_at,
        ok: run.ok == Some(true),
        latency_ms: u32::try_from(rules::total_ms(run)).unwrap_or(u32::MAX),
        detail: rules::summary(run),
    }
}
