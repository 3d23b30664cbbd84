//! nuvola-usage: accounting's use cases. The sites' usage records are
//! ingested as cASO and SSM send them ([`ingest`]), nuvola's own usage is
//! recorded from what it ran ([`own_usage`]), the broker's queue is
//! consumed and the summaries are exported upstream ([`jobs`]), and the
//! usage is shown per month or per day, to whom may see it ([`views`]).
//! The record formats and APEL's arithmetic are `nuvola_accounting`'s,
//! their storage `nuvola_store`'s.
//!
//! This crate sits between the store and drivers below and the app above:
//! the app builds one [`Accounting`] from its store, settings and clock,
//! hands it the federation's providers where a use case needs them, says
//! who a token stands for, and runs the jobs on its schedule; the API, the
//! pages and `/metrics` call the use cases through it.

pub mod ingest;
pub mod jobs;
pub mod own_usage;
pub mod views;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use nuvola_store::Store;

pub use ingest::{AccountingPublisher, AccountingSender};
pub use jobs::{AccountingBroker, AccountingSettings, Consumed, Exported, QueueCounts};
/// What [`Accounting::usage_records`] returns: APEL records of what nuvola
/// ran.
pub use nuvola_accounting::usage::UsageRecords;
pub use nuvola_store::{LoadCounts, LoadReport, Period, UsageRow};
pub use views::{GroupBy, Month, UsageReport, UsageRequest};

/// The time accounting reads, in ms since the epoch: the app's clock, so
/// that its workflow tests' stopped clock is accounting's too.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn wall_clock() -> Clock {
    Arc::new(nuvola_types::now_ms)
}

/// Accounting: its store, settings and clock, and the state its jobs keep
/// in the process. Cheap to clone.
#[derive(Clone)]
pub struct Accounting {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: AccountingSettings,
    clock: Clock,
    /// Whether a pass gathered every month of nuvola's own usage.
    own_usage_complete: AtomicBool,
    /// What the queue consumer did since the process started.
    queue: QueueCounts,
}

impl Accounting {
    /// Accounting over `store`, as `settings` say, on `clock`.
    pub fn new(store: Store, settings: AccountingSettings, clock: Clock) -> Self {
        Accounting {
            inner: Arc::new(Inner {
                store,
                settings,
                clock,
                own_usage_complete: AtomicBool::new(false),
                queue: QueueCounts::default(),
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &AccountingSettings {
        &self.inner.settings
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn now_ms(&self) -> i64 {
        (self.inner.clock)()
    }
}
