//! The application layer: everything nuvola does, independent of HTTP.
//!
//! [`App`] owns the store, the catalogue, the federation (providers and
//! their drivers) and the token verifier. The API crate calls one method
//! per request; every method takes the authenticated [`Principal`] and
//! authorizes in here, so no transport can skip a check. Deployments are
//! provisioned by durable workflows ([`workflow`]) that workers
//! ([`workers`]) step through, one recorded step at a time.

pub mod access;
mod accounting;
pub mod admin;
mod callbacks;
pub mod catalogue;
pub mod deployments;
mod every;
pub mod federation;
mod metrics;
pub mod monitoring;
pub mod orphans;
pub mod planning;
pub mod policy;
pub mod reconciler;
pub mod requests;
mod sessions;
pub mod stats;
pub mod workers;
mod workflow;
#[cfg(test)]
mod workflow_tests;

use std::sync::Arc;
use std::time::Duration;

use nuvola_identity::{PasswordChecks, SignInSettings, TokenVerifier};
use nuvola_notify::{Notifier, SmtpSettings};
use nuvola_placement::Weights;
use nuvola_store::Store;
use nuvola_tosca::ImportResolver;
use nuvola_types::{Error, Principal, Result};

pub use catalogue::{Catalogue, CatalogueEntry, FormCheck, ServiceAccess};
pub use deployments::{
    Compiled, CreateDeployment, DeploymentDetails, ListQuery, PlanQuery, Undeclared, UpdateDeployment,
};
pub use federation::{Federation, ProviderView};
/// The records the application hands to the layers above it, read from the
/// store: they reach them from here, as the store is the app's to use.
pub use nuvola_store::{
    AttemptOutcomes, AuditEntry, AuditFilter, ComponentOverride, GroupSettings, LoginsInFlight, Policy,
    SentNotification, Subscription, WebLogin, WebSession,
};
/// The time records carry: milliseconds since the Unix epoch.
pub use nuvola_types::now_ms;
pub use nuvola_types::{
    AccessRequest, AttemptRecord, AttemptState, CanaryRun, DeploymentRecord, LogLine, RequestKind, RequestStatus, Task,
};
/// The status page's views, for the pages and the JSON.
pub use nuvola_watch::{
    ComponentHistory, Day, Document, Feed, Group as StatusGroup, IncidentDraft, IncidentPage, ScheduledMaintenance,
    ShownComponent, StatusPage, UpdateDraft, WebhookSubscription,
};

/// Tunables of the application, from the configuration file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Workflow steps running at once.
    pub worker_concurrency: usize,
    /// How often a building attempt is polled.
    pub poll_interval: Duration,
    /// How long a worker holds a deployment for one step.
    pub lease: Duration,
    /// Longest wait for one driver call before it counts as failed.
    pub driver_call_timeout: Duration,
    /// `timeoutMins` when the request has none.
    pub default_timeout_mins: i64,
    /// `providerTimeoutMins` when the request has none.
    pub default_provider_timeout_mins: i64,
    /// Largest template accepted, in bytes.
    pub max_template_bytes: usize,
    /// Most deployments one user may hold (every status but
    /// `DELETE_COMPLETE`).
    pub max_deployments_per_user: i64,
    /// Most template text one user's deployments may hold in all (same
    /// count), in bytes.
    pub max_template_bytes_per_user: i64,
    /// Ranking weights for placement.
    pub weights: Weights,
    /// URL prefixes deployment callbacks may point to (none: callbacks off).
    pub callback_allowed_prefixes: Vec<String>,
    /// Base of absolute links in what nuvola sends out (callbacks).
    pub public_url: String,
    /// How often orphaned attempts are retried.
    pub reconcile_interval: Duration,
    /// How often the reconciler scans the providers for orphan resources.
    pub orphan_scan_interval: Duration,
    /// How long after an attempt ended its resources still count as being
    /// deleted rather than orphaned.
    pub orphan_grace: Duration,
    /// Where notification mail goes out (none: no mail).
    pub smtp: Option<SmtpSettings>,
    /// Catalogue services only some groups may deploy without asking:
    /// service id → those groups. Anyone else needs an approved
    /// catalogue access request.
    pub restricted_services: std::collections::BTreeMap<String, Vec<String>>,
    /// Groups whose deployments count as testing in the statistics (every
    /// other group is production).
    pub testing_groups: Vec<String>,
    /// Limits on signing in (attempts, logins in flight).
    pub sign_in: SignInSettings,
    /// What is probed, how often, and how states change.
    pub watch: nuvola_watch::WatchSettings,
    /// URL prefixes the status page's webhook subscriptions may point to;
    /// none: webhook subscriptions are refused.
    pub webhook_allowed_prefixes: Vec<String>,
    /// Status page subscriptions per client, and confirmation mails per
    /// mailbox, within a window.
    pub subscription_limits: nuvola_limits::SubscriptionLimits,
    /// Accounting: the sites' publishers, own usage, the broker's queue,
    /// export.
    pub accounting: nuvola_usage::AccountingSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            worker_concurrency: 64,
            poll_interval: Duration::from_millis(1000),
            lease: Duration::from_secs(60),
            driver_call_timeout: Duration::from_secs(30),
            default_timeout_mins: 720,
            default_provider_timeout_mins: 60,
            max_template_bytes: 1 << 20,
            max_deployments_per_user: 200,
            max_template_bytes_per_user: 32 << 20,
            weights: Weights::default(),
            callback_allowed_prefixes: Vec::new(),
            public_url: "http://127.0.0.1:8080".into(),
            reconcile_interval: Duration::from_secs(60),
            orphan_scan_interval: Duration::from_secs(15 * 60),
            orphan_grace: Duration::from_secs(5 * 60),
            smtp: None,
            restricted_services: Default::default(),
            testing_groups: Vec::new(),
            sign_in: Default::default(),
            watch: Default::default(),
            webhook_allowed_prefixes: Vec::new(),
            subscription_limits: Default::default(),
            accounting: Default::default(),
        }
    }
}

/// The application: cheap to clone, shared by every request and worker.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    catalogue: Catalogue,
    federation: Federation,
    verifier: Arc<dyn TokenVerifier>,
    resolver: Arc<dyn ImportResolver>,
    settings: Settings,
    /// Wakes idle workers when new work is stored.
    wake: tokio::sync::Notify,
    /// This process's name in lease tokens.
    worker_id: String,
    /// Providers' recent health and when it was read (see
    /// [`planning::HEALTH_FRESH_FOR`]).
    health: std::sync::Mutex<Option<(std::time::Instant, Arc<planning::HealthByProvider>)>>,
    /// Claims made so far, numbering lease tokens.
    claims: std::sync::atomic::AtomicU64,
    /// Everything sent out: callbacks and mail.
    notifier: Notifier,
    /// Per group, the lock that serialises placement and quota use.
    group_locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The last scan of every provider for orphans, for the dashboard.
    last_orphan_scan: std::sync::Mutex<Option<orphans::OrphanReport>>,
    /// Held from reading the registry to applying it, so that a reload
    /// that read before an edit cannot apply after the edit's own.
    registry_reload: tokio::sync::Mutex<()>,
    /// One permit per core for template work on the blocking pool (see
    /// [`App::off_the_reactor`]).
    cpu_slots: Arc<tokio::sync::Semaphore>,
    /// Every password check: limited per account and client, bounded at once.
    password_checks: PasswordChecks,
    /// The status page's subscriptions asked for, per client and mailbox.
    subscription_gate: nuvola_limits::SubscriptionGate,
    /// Accounting's use cases (see [`accounting`]).
    accounting: nuvola_usage::Accounting,
    /// The time the workflow and accounting read (see [`workflow::Clock`]).
    clock: Arc<workflow::Clock>,
    /// The federation watched (see [`monitoring`]).
    watch: nuvola_watch::Watch,
}

impl App {
    /// Assembles the application from its parts.
    pub fn new(
        store: Store,
        catalogue: Catalogue,
        federation: Federation,
        verifier: Arc<dyn TokenVerifier>,
        resolver: Arc<dyn ImportResolver>,
        settings: Settings,
    ) -> Self {
        let worker_id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let password_checks = PasswordChecks::new(&settings.sign_in);
        let subscription_gate = nuvola_limits::SubscriptionGate::new(settings.subscription_limits);
        let notifier =
            Notifier::new(settings.smtp.clone(), settings.callback_allowed_prefixes.clone(), &settings.public_url)
                .with_webhook_prefixes(settings.webhook_allowed_prefixes.clone());
        let watch = nuvola_watch::Watch::new(store.clone(), notifier.clone(), settings.watch.clone());
        let clock = Arc::new(workflow::Clock::default());
        let accounting = nuvola_usage::Accounting::new(store.clone(), settings.accounting.clone(), {
            let clock = clock.clone();
            Arc::new(move || clock.now_ms())
        });
        App {
            inner: Arc::new(Inner {
                watch,
                store,
                catalogue,
                federation,
                verifier,
                resolver,
                settings,
                wake: tokio::sync::Notify::new(),
                worker_id,
                claims: Default::default(),
                health: Default::default(),
                notifier,
                group_locks: Default::default(),
                last_orphan_scan: Default::default(),
                registry_reload: Default::default(),
                cpu_slots: Arc::new(tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
                )),
                password_checks,
                subscription_gate,
                accounting,
                clock,
            }),
        }
    }

    /// Runs CPU-heavy template work (parsing, validation, constraint
    /// checks) on the blocking pool, as many at once as there are cores:
    /// the async workers stay free to answer every other request (health
    /// checks among them) whatever templates users send, and a burst of
    /// them queues instead of taking a thread each.
    pub async fn off_the_reactor<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _slot = self.inner.cpu_slots.acquire().await.map_err(|_| Error::internal("the server is stopping"))?;
        tokio::task::spawn_blocking(work).await.map_err(|e| Error::internal_because("a template check failed", e))
    }

    /// The caller a bearer token stands for; every API call but the health
    /// check goes through here.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Principal> {
        let token = bearer.ok_or_else(|| {
            Error::Unauthenticated("missing bearer token: send `Authorization: Bearer <token>`".into())
        })?;
        self.inner.verifier.verify(token).await
    }

    /// The built-in catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.inner.catalogue
    }

    /// The federation's providers and drivers.
    pub fn federation(&self) -> &Federation {
        &self.inner.federation
    }

    /// The store, for the use cases: the layers above reach it only
    /// through them.
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The time, in ms since the epoch, as the app reads it: the wall
    /// clock, or the workflow tests' stopped clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The one gate of every password sign-in in this process, so that its
    /// limits per account and client hold whichever page the attempts come
    /// through.
    pub fn password_checks(&self) -> &PasswordChecks {
        &self.inner.password_checks
    }

    /// Checks that the platform can serve: the database answers.
    pub async fn health(&self) -> Result<()> {
        self.inner.store.ping().await.map_err(Error::from)
    }

    /// Refuses callers that are not platform administrators.
    pub fn require_admin(&self, caller: &Principal) -> Result<()> {
        if caller.admin { Ok(()) } else { Err(Error::Forbidden("this needs a platform administrator".into())) }
    }

    fn wake_workers(&self) {
        self.inner.wake.notify_one();
    }
}
