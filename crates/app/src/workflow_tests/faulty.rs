//! A simulated site whose calls fail on command: the [`Driver`] the
//! federation hands the workflow in these tests, in front of a
//! [`SimDriver`]. It records every call the workflow makes, and fails the
//! one chosen either *before* passing it on (the provider never saw it) or
//! *after* (the provider did it, the answer is lost).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use nuvola_drivers::sim::SimDriver;
use nuvola_drivers::update::{Footprint, UpdateSupport};
use nuvola_drivers::{
    AttemptState, ConsoleLog, DeleteState, Driver, DriverError, ProjectQuota, ProvisionRequest, Resource,
};

/// The driver calls the workflow makes. A new call the workflow makes must
/// be added here (the wrapper cannot forward it otherwise) and is then
/// failed by the fault cases like the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Call {
    Create,
    Status,
    Update,
    UpdateStatus,
    Delete,
    ConsoleLog,
}

impl Call {
    pub(super) const ALL: [Call; 6] =
        [Call::Create, Call::Status, Call::Update, Call::UpdateStatus, Call::Delete, Call::ConsoleLog];
}

/// When an injected failure strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// The call fails without reaching the provider.
    Before,
    /// The provider does what was asked; its answer is lost.
    After,
    /// The call fails without reaching the provider, as every such call
    /// does for a while ([`Faults::fail_for`]).
    Down,
}

/// One call a run made: the `nth` (from 1) of its kind on `provider`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CallAt {
    pub provider: String,
    pub call: Call,
    pub nth: usize,
}

impl fmt::Display for CallAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} #{} on {}", self.call, self.nth, self.provider)
    }
}

/// What the sites of one test were asked, and the failure to inject.
#[derive(Debug, Default)]
pub(super) struct Faults {
    state: Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    calls: Vec<CallAt>,
    counts: BTreeMap<(String, Call), usize>,
    armed: Option<(CallAt, Side)>,
    fired: bool,
    /// Calls of a kind on a site that fail before reaching it until a
    /// time (ms), as an API that is down.
    down: BTreeMap<(String, Call), i64>,
    /// The time, as the harness last moved it.
    now: i64,
}

impl Faults {
    /// Fails the call `at` on `side` when it comes.
    pub(super) fn arm(&self, at: CallAt, side: Side) {
        self.lock().armed = Some((at, side));
    }

    /// Fails every call of `call` on `provider` for `period` from now,
    /// before it reaches the site, as an API that is down.
    pub(super) fn fail_for(&self, provider: &str, call: Call, period: std::time::Duration) {
        let mut state = self.lock();
        let until = state.now + period.as_millis() as i64;
        state.down.insert((provider.to_string(), call), until);
    }

    /// Tells the time the harness moved its clocks to.
    pub(super) fn set_now(&self, now: i64) {
        self.lock().now = now;
    }

    /// Every call made so far, in order.
    pub(super) fn calls(&self) -> Vec<CallAt> {
        self.lock().calls.clone()
    }

    /// Whether the armed failure struck.
    pub(super) fn fired(&self) -> bool {
        self.lock().fired
    }

    /// Records a call; says when to fail it, if it is the armed one.
    fn enter(&self, provider: &str, call: Call) -> (CallAt, Option<Side>) {
        let mut state = self.lock();
        let count = state.counts.entry((provider.to_string(), call)).or_default();
        *count += 1;
        let at = CallAt { provider: provider.to_string(), call, nth: *count };
        state.calls.push(at.clone());
        let side = match &state.armed {
            Some((armed, side)) if *armed == at => Some(*side),
            _ => None,
        };
        if side.is_some() {
            state.fired = true;
            return (at, side);
        }
        let down = state.down.get(&(provider.to_string(), call)).is_some_and(|until| state.now < *until);
        (at, down.then_some(Side::Down))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state.lock().expect("fault state")
    }
}

/// The cause every injected failure carries: what a real site's raw
/// answer would hold, which no deployment's reason, attempt or log shows.
pub(super) const FOR_THE_LOG: &str = "HTTP 503 from http://10.9.8.7:8774/v2.1: Traceback (most recent call last)";

/// A simulated site behind [`Faults`].
pub(super) struct Faulty {
    pub site: SimDriver,
    pub faults: Arc<Faults>,
}

impl Faulty {
    async fn around<T>(&self, call: Call, run: impl Future<Output = Result<T, DriverError>>) -> Result<T, DriverError> {
        let (at, side) = self.faults.enter(self.site.provider(), call);
        let injected =
            |when: &str| DriverError::unavailable(format!("injected failure {when} {at}")).because(FOR_THE_LOG);
        match side {
            None => run.await,
            Some(Side::Before) => Err(injected("before")),
            Some(Side::Down) => {
                Err(DriverError::unavailable(format!("injected outage of {:?} on {}", call, at.provider))
                    .because(FOR_THE_LOG))
            }
            Some(Side::After) => {
                // Whatever the site answered, the caller never hears it.
                let _lost = run.await;
                Err(injected("after"))
            }
        }
    }
}

#[async_trait]
impl Driver for Faulty {
    async fn create(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        self.around(Call::Create, self.site.create(request)).await
    }

    async fn status(&self, attempt_id: &str) -> Result<AttemptState, DriverError> {
        self.around(Call::Status, self.site.status(attempt_id)).await
    }

    async fn update(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        self.around(Call::Update, self.site.update(request)).await
    }

    fn update_support(&self) -> UpdateSupport {
        self.site.update_support()
    }

    async fn footprint(&self, attempt_id: &str) -> Result<Footprint, DriverError> {
        self.site.footprint(attempt_id).await
    }

    async fn update_status(&self, request: &ProvisionRequest) -> Result<AttemptState, DriverError> {
        self.around(Call::UpdateStatus, self.site.update_status(request)).await
    }

    async fn delete(&self, attempt_id: &str) -> Result<DeleteState, DriverError> {
        self.around(Call::Delete, self.site.delete(attempt_id)).await
    }

    async fn resources(&self, attempt_id: &str) -> Result<Vec<Resource>, DriverError> {
        self.site.resources(attempt_id).await
    }

    async fn inventory(&self) -> Result<Vec<Resource>, DriverError> {
        self.site.inventory().await
    }

    async fn project_quota(&self, project: &str) -> Result<Option<ProjectQuota>, DriverError> {
        self.site.project_quota(project).await
    }

    async fn console_log(&self, attempt_id: &str) -> Result<Vec<ConsoleLog>, DriverError> {
        self.around(Call::ConsoleLog, self.site.console_log(attempt_id)).await
    }
}
