//! Every workflow step tested the way omicron tests the actions of its
//! sagas (`actions_succeed_idempotently` and `action_failure_can_unwind`
//! in oxidecomputer/omicron, `nexus/src/app/sagas/test_helpers.rs`): the
//! cases are generated from a reference run of each scenario, step by step
//! and driver call by driver call, on the simulator's clock, on SQLite and
//! on PostgreSQL.
//!
//! - **idempotent**: each step run twice from the same stored state (the
//!   first result dropped, as a crash between the driver call and the save
//!   drops it) gives the same result both times, the second run changes
//!   nothing more on the sites, and the run ends as the reference does;
//! - **failures unwind**: each driver call failed before it reaches the
//!   site or after the site did it (the answer lost), the deployment still
//!   ends clean: at every rest the sites hold only what its running
//!   attempt holds, and once it failed or is deleted they hold nothing, its
//!   attempts are cleaned or deleted and the group holds no quota;
//! - **crashes resume**: a worker killed before or after each save (its
//!   in-memory state gone, its lease left to run out), another one resumes
//!   from the store and the run ends as the reference does, at every rest.
//!
//! A scenario is a full run: submit, run to rest, scale from one worker to
//! two, run to rest, delete, run to rest. A new step kind is covered once a
//! scenario reaches it (the tests fail until one does); a new driver call
//! once it is added to [`Call`].

mod faulty;
mod harness;
mod submissions;
mod usage;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use faulty::{Call, CallAt, Side};
use harness::{Db, End, Harness, Snapshot};
use nuvola_types::DeploymentStatus;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::workflow::Step;

/// The name of a step's kind. Add a new kind to [`KINDS`] too.
fn kind(step: &Step) -> &'static str {
    match step {
        Step::StartAttempt { .. } => "start_attempt",
        Step::Create { .. } => "create",
        Step::Poll { .. } => "poll",
        Step::Cleanup { .. } => "cleanup",
        Step::Update { .. } => "update",
        Step::PollUpdate { .. } => "poll_update",
        Step::Delete => "delete",
    }
}

/// Every kind of step, each of which the scenarios must reach.
const KINDS: [&str; 7] = ["start_attempt", "create", "poll", "cleanup", "update", "poll_update", "delete"];

/// How the sites behave in a run, and when the user acts.
#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    sites: fn(&Harness),
    /// Delete the deployment as soon as its stored step is of this kind,
    /// without waiting for the create to end.
    delete_at: Option<&'static str>,
    keep_last_attempt: bool,
}

impl Scenario {
    fn new(name: &'static str, sites: fn(&Harness)) -> Scenario {
        Scenario { name, sites, delete_at: None, keep_last_attempt: false }
    }

    fn deleted_at(self, kind: &'static str) -> Scenario {
        Scenario { delete_at: Some(kind), ..self }
    }

    fn keeping_last_attempt(self) -> Scenario {
        Scenario { keep_last_attempt: true, ..self }
    }
}

/// Every server `site` builds goes to ERROR.
fn builds_fail(h: &Harness, site: &str) {
    h.site(site).set_failure_probability(1.0).expect("a probability");
}

fn scenarios() -> Vec<Scenario> {
    vec![
        // Created on alpha, scaled, deleted.
        Scenario::new("lifecycle", |_| {}),
        // alpha's servers go to ERROR: cleaned up, created on beta.
        Scenario::new("failover", |h| builds_fail(h, "alpha")),
        // alpha builds for longer than the provider timeout: given up on
        // at the timeout, on the workflow's clock, then beta.
        Scenario::new("slow site", |h| {
            h.site("alpha").set_latency(2 * harness::PROVIDER_TIMEOUT.as_millis() as u64, 60_000);
        }),
        // alpha's servers fail and beta refuses: CREATE_FAILED, then deleted.
        Scenario::new("nowhere", |h| {
            builds_fail(h, "alpha");
            h.site("beta").set_fail_creates(true);
        }),
        // Both fail with keepLastAttempt: the last attempt is kept (and
        // its quota held) until the delete...
        Scenario::new("kept", |h| {
            builds_fail(h, "alpha");
            builds_fail(h, "beta");
        })
        .keeping_last_attempt(),
        // ... unless the site holds nothing of it (it refused the create).
        Scenario::new("kept, refused", |h| {
            builds_fail(h, "alpha");
            h.site("beta").set_fail_creates(true);
        })
        .keeping_last_attempt(),
        // alpha fails and cannot delete for a while: its attempt is left to
        // the reconciler after three tries (at 5, 10 and 15 min), beta
        // serves meanwhile, and the reconciler removes it once alpha can.
        Scenario::new("orphaned", |h| {
            builds_fail(h, "alpha");
            h.faults.fail_for("alpha", Call::Delete, harness::WAIT * 7 / 2);
        }),
        // Deleted before its first attempt, while building, and while
        // failing over.
        Scenario::new("deleted at once", |_| {}).deleted_at("start_attempt"),
        Scenario::new("abandoned", |_| {}).deleted_at("poll"),
        Scenario::new("abandoned failing over", |h| builds_fail(h, "alpha")).deleted_at("cleanup"),
    ]
}

/// What a case does differently from the reference run at its `at`-th
/// step (counted from 0 over the whole run).
#[derive(Debug, Clone, Copy)]
struct Twist {
    at: usize,
    how: How,
}

#[derive(Debug, Clone, Copy)]
enum How {
    /// Run the step twice from the same stored state, save the second.
    Replay,
    /// Kill the worker.
    Crash(End),
}

/// What a run went through.
struct Run {
    /// The deployment at each rest.
    rests: Vec<Snapshot>,
    /// The kind of each step run, in order.
    kinds: Vec<&'static str>,
    /// Every driver call made, in order.
    calls: Vec<CallAt>,
    /// Whether the armed failure struck.
    fired: bool,
}

/// Plays `scenario` on a fresh harness, with `twist` and the `fault`
/// armed; `None` when the store is not configured here.
async fn case(db: Db, scenario: &Scenario, twist: Option<Twist>, fault: Option<(CallAt, Side)>) -> Option<Run> {
    let mut h = Harness::open(db).await?;
    (scenario.sites)(&h);
    if let Some((at, side)) = fault {
        h.faults.arm(at, side);
    }
    let id = h.submit(scenario.keep_last_attempt).await;
    let (mut n, mut kinds, mut rests) = (0, Vec::new(), Vec::new());
    steps(&mut h, &id, twist, &mut n, scenario.delete_at, &mut kinds).await;
    h.settle_orphans().await;
    rests.push(h.rest(&id).await);
    let d = h.row(&id).await;
    if d.workflow.is_none() && d.status.can_update() {
        h.scale_up(&id).await;
        steps(&mut h, &id, twist, &mut n, None, &mut kinds).await;
        rests.push(h.rest(&id).await);
    }
    h.delete(&id).await;
    steps(&mut h, &id, twist, &mut n, None, &mut kinds).await;
    h.settle_orphans().await;
    rests.push(h.rest(&id).await);
    let run = Run { rests, kinds, calls: h.faults.calls(), fired: h.faults.fired() };
    h.close().await;
    Some(run)
}

/// Runs the deployment's steps until it rests, or until its stored step is
/// of kind `interrupt`.
async fn steps(
    h: &mut Harness,
    id: &str,
    twist: Option<Twist>,
    n: &mut usize,
    interrupt: Option<&str>,
    kinds: &mut Vec<&'static str>,
) {
    loop {
        let Some(stored) = h.row(id).await.workflow else { return };
        let stored: Step = serde_json::from_value(stored).expect("a stored step");
        if interrupt == Some(kind(&stored)) {
            return;
        }
        let ran = h.run(id).await;
        kinds.push(kind(&ran.step));
        let how = twist.filter(|t| t.at == *n).map(|t| t.how);
        *n += 1;
        match how {
            None => h.end(id, ran, End::Saved).await,
            Some(How::Crash(end)) => h.end(id, ran, end).await,
            Some(How::Replay) => {
                let held = h.on_sites().await;
                let again = h.run_again(id, &ran).await;
                let what = format!("{:?} run again", ran.step);
                assert_eq!(again.after, ran.after, "{what}: the deployment");
                assert_eq!(again.progress.attempts, ran.progress.attempts, "{what}: the attempts");
                assert_eq!(again.progress.log, ran.progress.log, "{what}: the log");
                assert_eq!(h.on_sites().await, held, "{what}: what the sites hold");
                h.end(id, again, End::Saved).await;
            }
        }
    }
}

/// Says how many cases a property ran, and how long they took.
fn report(property: &str, db: Db, cases: usize, started: Instant) {
    eprintln!("{property} on {db:?}: {cases} cases in {:.1} s", started.elapsed().as_secs_f64());
}

/// One case of a scenario: what it does differently from the reference
/// run, and the failure it arms.
struct Case {
    label: String,
    twist: Option<Twist>,
    fault: Option<(CallAt, Side)>,
}

/// Cases played at once: each has a store, sites and clock of its own.
const AT_ONCE: usize = 4;

/// Plays the `cases` of `scenario`, [`AT_ONCE`] at a time; returns their
/// runs in order. A case that panics names itself before the panic goes on.
async fn play(db: Db, scenario: Scenario, cases: Vec<Case>) -> Vec<(String, Run)> {
    let slots = Arc::new(Semaphore::new(AT_ONCE));
    let mut playing = JoinSet::new();
    let mut labels = HashMap::new();
    for (i, c) in cases.into_iter().enumerate() {
        let slots = slots.clone();
        let label = c.label.clone();
        let task = playing.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("slots open");
            let run = case(db, &scenario, c.twist, c.fault).await.expect("the store opened for the reference");
            (i, c.label, run)
        });
        labels.insert(task.id(), label);
    }
    let mut runs = Vec::new();
    while let Some(done) = playing.join_next().await {
        match done {
            Ok(run) => runs.push(run),
            Err(e) => {
                eprintln!("case failed: {}", labels[&e.id()]);
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    runs.sort_by_key(|(i, ..)| *i);
    runs.into_iter().map(|(_, label, run)| (label, run)).collect()
}

/// Plays `scenario` as it goes without twists or failures; `None` when the
/// store is not configured here.
async fn reference(db: Db, scenario: &Scenario) -> Option<Run> {
    /// Names the reference run when it panics.
    struct Naming<'a>(&'a str);
    impl Drop for Naming<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("failed in the reference run of {}", self.0);
            }
        }
    }
    let _naming = Naming(scenario.name);
    case(db, scenario, None, None).await
}

async fn steps_are_idempotent(db: Db) {
    let started = Instant::now();
    let (mut cases, mut replayed) = (0, BTreeSet::new());
    for scenario in scenarios() {
        let Some(reference) = reference(db, &scenario).await else { return };
        let replays = reference.kinds.iter().enumerate().map(|(at, kind)| Case {
            label: format!("{}: step {at} ({kind}) replayed", scenario.name),
            twist: Some(Twist { at, how: How::Replay }),
            fault: None,
        });
        for (label, run) in play(db, scenario, replays.collect()).await {
            assert_eq!(run.rests, reference.rests, "{label}");
            cases += 1;
        }
        replayed.extend(reference.kinds);
    }
    assert_eq!(replayed, BTreeSet::from(KINDS), "every kind of step replayed");
    report("idempotent", db, cases, started);
}

async fn failures_unwind(db: Db) {
    let started = Instant::now();
    let (mut cases, mut failed) = (0, BTreeSet::new());
    for scenario in scenarios() {
        let Some(reference) = reference(db, &scenario).await else { return };
        let mut faults = Vec::new();
        for at in &reference.calls {
            for side in [Side::Before, Side::After] {
                let label = format!("{}: {at} failed {side:?}", scenario.name);
                faults.push(Case { label, twist: None, fault: Some((at.clone(), side)) });
            }
            failed.insert(at.call);
        }
        for (label, run) in play(db, scenario, faults).await {
            assert!(run.fired, "{label}: the failure never struck");
            for rest in &run.rests {
                let shown = format!("{rest:?}");
                assert!(!shown.contains(faulty::FOR_THE_LOG), "{label}: a cause for the log reached users: {shown}");
            }
            let end = run.rests.last().expect("a last rest");
            assert_eq!(end.status(), DeploymentStatus::DeleteComplete, "{label}: {end:#?}");
            cases += 1;
        }
    }
    assert_eq!(failed, BTreeSet::from(Call::ALL), "every driver call failed");
    report("failures unwind", db, cases, started);
}

async fn crashes_resume(db: Db) {
    let started = Instant::now();
    let (mut cases, mut crashed) = (0, BTreeSet::new());
    for scenario in scenarios() {
        let Some(reference) = reference(db, &scenario).await else { return };
        let mut crashes = Vec::new();
        for (at, kind) in reference.kinds.iter().enumerate() {
            for end in [End::CrashBeforeSave, End::CrashAfterSave] {
                let label = format!("{}: step {at} ({kind}), {end:?}", scenario.name);
                crashes.push(Case { label, twist: Some(Twist { at, how: How::Crash(end) }), fault: None });
            }
        }
        for (label, run) in play(db, scenario, crashes).await {
            assert_eq!(run.rests, reference.rests, "{label}");
            cases += 1;
        }
        crashed.extend(reference.kinds);
    }
    assert_eq!(crashed, BTreeSet::from(KINDS), "a crash at every kind of step");
    report("crashes resume", db, cases, started);
}

/// One test per property and store.
macro_rules! on_each_store {
    ($($property:ident),* $(,)?) => {$(
        mod $property {
            #[tokio::test]
            async fn sqlite() {
                super::$property(super::Db::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$property(super::Db::Postgres).await;
            }
        }
    )*};
}

on_each_store!(steps_are_idempotent, failures_unwind, crashes_resume);
