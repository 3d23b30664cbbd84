//! The simulated provider: a model of an OpenStack site that speaks the
//! [`Driver`] trait, for demos, tests and crash drills.
//!
//! [`SimDriver`] validates requests against the [`ProviderSpec`] (flavors,
//! images, volume types, public IPs), enforces each project's quota, and
//! records the resources a real site would create: per instance a server,
//! its volumes, a port and (on a public network) a floating IP; per node a
//! security group when it opens ports and a network when it is isolated.
//! Resource ids, addresses and build failures are derived by hashing the
//! provider name, the attempt id and the seed, so replaying a call cannot
//! duplicate anything and the same seed gives the same run.
//!
//! An update scales nodes (the highest-numbered servers go first, with
//! their volumes, ports and floating IPs), resizes servers whose flavor
//! changed and grows volumes (a volume never shrinks): a resized server is
//! `RESIZE` and a growing volume `extending` for `create_latency_ms`.
//!
//! Time is modelled, not slept: a server turns `ACTIVE` once
//! `create_latency_ms` has passed since it was created (wall clock), and a
//! deleted attempt disappears `delete_latency_ms` after its delete began.
//!
//! Like a real cloud, the site outlives nuvola: with a state folder every
//! change is appended to a journal and synced to disk before the call
//! returns (see `journal.rs`), so a killed nuvola finds the site as it left
//! it, and [`read_inventory`] can inspect it without opening a driver.
//! Replicas of nuvola share one simulated site by naming the same `home`:
//! each call locks the journal, applies what the others appended, and
//! appends its own changes (see `journal.rs`).
//! Operators and tests steer it at run time ([`SimDriver::set_fail_creates`],
//! [`SimDriver::set_unavailable`], ...), the way a site fails on command.

mod journal;
mod model;
mod naming;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use nuvola_types::{ProviderSpec, Quota, Usage};
use serde::{Deserialize, Serialize};

use self::journal::Journal;
use self::model::{AttemptMeta, Event, Pool, State};
use self::naming::Cidr;
use crate::update::UpdateSupport;
use crate::{AttemptState, DeleteState, Driver, DriverError, ProjectQuota, ProvisionRequest, Resource, ResourceKind};

/// How a simulated site behaves; the `[providers.sim]` table of the config.
///
/// ```toml
/// [providers.sim]
/// seed = 42
/// create_latency_ms = 1500
/// delete_latency_ms = 300
/// failure_probability = 0.1
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimSettings {
    /// Seed of every random draw (build failures, addresses).
    pub seed: u64,
    /// Time from create until servers are `ACTIVE` (or `ERROR`).
    pub create_latency_ms: u64,
    /// Time from delete until the attempt's resources are gone.
    pub delete_latency_ms: u64,
    /// Chance, in `0..=1`, that an attempt fails while building.
    pub failure_probability: f64,
    /// Every create fails at once, creating nothing ("fail on command").
    pub fail_creates: bool,
    /// Every call answers [`DriverError::Unavailable`], as a site that is down.
    pub unavailable: bool,
    /// Time every call sleeps first, to model a slow API.
    pub api_latency_ms: u64,
    /// Where floating IPs come from; TEST-NET-3 (RFC 5737) by default, so
    /// simulated addresses never belong to anyone.
    pub public_cidr: String,
    /// The folder holding the site's journal, when several nuvola replicas
    /// share one simulated federation (they all name the same folder);
    /// by default `<data_dir>/sim`, the server's own. Read when the site
    /// is opened.
    pub home: Option<PathBuf>,
    /// Also append every create call to `<provider>.calls` beside the
    /// journal (`{attempt_id, by, added}`: the calling process and how many
    /// resources the call added), so drills can count creates that found
    /// their attempt already built.
    pub call_log: bool,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            seed: 0,
            create_latency_ms: 1500,
            delete_latency_ms: 300,
            failure_probability: 0.0,
            fail_creates: false,
            unavailable: false,
            api_latency_ms: 0,
            public_cidr: "203.0.113.0/24".into(),
            home: None,
            call_log: false,
        }
    }
}

impl SimSettings {
    /// The settings in a provider's `settings` table (defaults without one).
    /// Floating IPs come from the provider's public network when it
    /// declares a CIDR and the settings name no `public_cidr`.
    pub fn from_spec(spec: &ProviderSpec) -> Result<SimSettings, SimError> {
        let mut settings = match &spec.settings {
            None => SimSettings::default(),
            Some(value) => SimSettings::deserialize(value)
                .map_err(|e| SimError::InvalidSettings(format!("provider {}: {e}", spec.name)))?,
        };
        let explicit = spec.settings.as_ref().is_some_and(|v| v.get("public_cidr").is_some());
        let public = spec.networks.iter().find(|n| n.kind == nuvola_types::NetworkKind::Public);
        if let (false, Some(cidr)) = (explicit, public.and_then(|n| n.cidr.clone())) {
            settings.public_cidr = cidr;
        }
        settings.check()?;
        Ok(settings)
    }

    /// Checks the settings, returning the parsed public range.
    fn check(&self) -> Result<Cidr, SimError> {
        check_probability(self.failure_probability)?;
        self.public_cidr.parse().map_err(|e| SimError::InvalidSettings(format!("public_cidr: {e}")))
    }
}

fn check_probability(p: f64) -> Result<(), SimError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(SimError::InvalidSettings(format!("failure_probability must be between 0 and 1 (inclusive), not {p}")))
    }
}

/// Why a simulated site could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A setting is out of range.
    #[error("invalid simulator settings: {0}")]
    InvalidSettings(String),
    /// The provider spec cannot be simulated (bad name or network range).
    #[error("cannot simulate provider: {0}")]
    InvalidSpec(String),
    /// Reading or writing the state folder failed.
    #[error("simulator state {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A journal line other than the last one is damaged.
    #[error("simulator journal {}, line {line}: {message}", path.display())]
    Journal { path: PathBuf, line: usize, message: String },
}

/// A simulated OpenStack site. Cheap to clone: clones share the site, so
/// one can be handed to the app as a [`Driver`] and another kept to steer
/// it at run time.
#[derive(Debug, Clone)]
pub struct SimDriver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The provider's name; fixed for the life of the site.
    name: String,
    /// What the site offers; replaced by [`SimDriver::set_spec`].
    spec: std::sync::RwLock<Arc<ProviderSpec>>,
    /// Fixed IPs of servers on public and private networks.
    private_pool: Cidr,
    /// Fixed IPs of servers on isolated networks.
    isolated_pool: Cidr,
    runtime: Mutex<Runtime>,
    /// Added to the wall clock; moved by [`SimDriver::advance_clock`].
    skew_ms: AtomicI64,
    site: Mutex<Site>,
}

#[derive(Debug, Clone)]
struct Runtime {
    settings: SimSettings,
    public_pool: Cidr,
}

#[derive(Debug)]
struct Site {
    state: State,
    journal: Option<Journal>,
    /// Where create calls are logged (`SimSettings::call_log`).
    calls: Option<std::fs::File>,
}

/// The site, locked for one call: in this process, and in every process
/// sharing its journal.
struct SiteGuard<'a>(MutexGuard<'a, Site>);

impl std::ops::Deref for SiteGuard<'_> {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.0
    }
}

impl std::ops::DerefMut for SiteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Site {
        &mut self.0
    }
}

impl Drop for SiteGuard<'_> {
    fn drop(&mut self) {
        if let Some(journal) = &self.0.journal {
            journal.leave();
        }
    }
}

impl Site {
    /// Makes `events` durable, then applies them.
    fn commit(&mut self, events: Vec<Event>) -> Result<(), DriverError> {
        if events.is_empty() {
            return Ok(());
        }
        if let Some(journal) = &mut self.journal {
            journal
                .append(&events)
                .map_err(|e| DriverError::unavailable(format!("simulator journal write failed: {e}")))?;
        }
        for event in &events {
            self.state.apply(event);
        }
        Ok(())
    }

    /// Finishes every delete whose time has come.
    fn purge(&mut self, now: i64) -> Result<(), DriverError> {
        let gone = self.state.expired(now);
        self.commit(gone)
    }
}

impl SimDriver {
    /// Opens the simulated site `spec`. With `state_dir`, its state lives in
    /// `<state_dir>/<provider>.journal`: replayed and compacted here, and
    /// appended to by every call that changes something.
    pub fn open(spec: &ProviderSpec, settings: SimSettings, state_dir: Option<&Path>) -> Result<SimDriver, SimError> {
        let public_pool = settings.check()?;
        let pool = |kind, default: &str| -> Result<Cidr, SimError> {
            let cidr =
                spec.networks.iter().filter(|n| n.kind == kind).find_map(|n| n.cidr.as_deref()).unwrap_or(default);
            cidr.parse().map_err(|e| SimError::InvalidSpec(format!("{}: {} network: {e}", spec.name, kind.as_str())))
        };
        let private_pool = pool(nuvola_types::NetworkKind::Private, "10.0.0.0/8")?;
        let isolated_pool = pool(nuvola_types::NetworkKind::Isolated, "192.168.0.0/16")?;
        let (journal, state, calls) = match settings.home.as_deref().or(state_dir) {
            Some(dir) => {
                check_provider_name(&spec.name)?;
                let (j, s) = Journal::open(dir, &spec.name)?;
                let calls = if settings.call_log {
                    let path = dir.join(format!("{}.calls", spec.name));
                    let file = crate::private_files::private_file(
                        std::fs::OpenOptions::new().create(true).append(true),
                        &path,
                    )
                    .map_err(|source| SimError::Io { path, source })?;
                    Some(file)
                } else {
                    None
                };
                (Some(j), s, calls)
            }
            None => (None, State::default(), None),
        };
        Ok(SimDriver {
            inner: Arc::new(Inner {
                name: spec.name.clone(),
                spec: std::sync::RwLock::new(Arc::new(spec.clone())),
                private_pool,
                isolated_pool,
                runtime: Mutex::new(Runtime { settings, public_pool }),
                skew_ms: AtomicI64::new(0),
                site: Mutex::new(Site { state, journal, calls }),
            }),
        })
    }

    /// Replaces what the site offers (flavors, images, grants and quotas)
    /// after the federation registry changed. Its name and address ranges
    /// stay as they were when it was opened.
    pub fn set_spec(&self, spec: &ProviderSpec) -> Result<(), SimError> {
        if spec.name != self.inner.name {
            return Err(SimError::InvalidSpec(format!("{} cannot become {}", self.inner.name, spec.name)));
        }
        *self.inner.spec.write().expect("spec lock") = Arc::new(spec.clone());
        Ok(())
    }

    /// The provider this site simulates.
    pub fn provider(&self) -> &str {
        &self.inner.name
    }

    /// The settings in force now.
    pub fn settings(&self) -> SimSettings {
        self.inner.runtime().settings
    }

    /// Replaces every setting at once (validated first). Changes apply to
    /// calls made from now on: attempts already created keep their drawn
    /// outcome, their addresses and their build time.
    pub fn set_settings(&self, settings: SimSettings) -> Result<(), SimError> {
        let public_pool = settings.check()?;
        *lock(&self.inner.runtime) = Runtime { settings, public_pool };
        Ok(())
    }

    /// Makes every create fail (or stops doing so).
    pub fn set_fail_creates(&self, on: bool) {
        lock(&self.inner.runtime).settings.fail_creates = on;
    }

    /// Takes the site down (every call is `Unavailable`) or back up.
    pub fn set_unavailable(&self, on: bool) {
        lock(&self.inner.runtime).settings.unavailable = on;
    }

    /// Sets the chance that attempts created from now on fail while building.
    pub fn set_failure_probability(&self, p: f64) -> Result<(), SimError> {
        check_probability(p)?;
        lock(&self.inner.runtime).settings.failure_probability = p;
        Ok(())
    }

    /// Sets the build and delete times for resources created or deleted from
    /// now on.
    pub fn set_latency(&self, create_ms: u64, delete_ms: u64) {
        let mut rt = lock(&self.inner.runtime);
        rt.settings.create_latency_ms = create_ms;
        rt.settings.delete_latency_ms = delete_ms;
    }

    /// Sets how long every call sleeps before answering.
    pub fn set_api_latency(&self, ms: u64) {
        lock(&self.inner.runtime).settings.api_latency_ms = ms;
    }

    /// Moves this site's clock forward, so tests can step through builds and
    /// deletes without sleeping. Not persisted.
    pub fn advance_clock(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.inner.skew_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// The SSH public key each server of `attempt_id` was set up to be
    /// logged in with, by server name: what the site's cloud-init would
    /// have installed for the node's login account.
    pub fn login_keys(&self, attempt_id: &str) -> BTreeMap<String, String> {
        let Ok(site) = self.inner.site() else { return BTreeMap::new() };
        site.state.attempts.get(attempt_id).map(model::Attempt::login_keys).unwrap_or_default()
    }

    /// Sleeps the API latency, then refuses if the site is down.
    async fn enter(&self) -> Result<(), DriverError> {
        let pause = self.inner.runtime().settings.api_latency_ms;
        if pause > 0 {
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        if self.inner.runtime().settings.unavailable {
            return Err(DriverError::unavailable(format!("simulated outage of {}", self.inner.name)));
        }
        Ok(())
    }

    /// Runs `f` on the blocking pool, as it may wait for the disk.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, DriverError> + Send + 'static,
    ) -> Result<T, DriverError> {
        self.enter().await?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| DriverError::unavailable(format!("simulator call did not finish: {e}")))?
    }
}

/// Reads the resources recorded in `<state_dir>/<provider>.journal` without
/// opening a driver or changing the file (for `nuvola sim inventory`).
/// No journal means the site holds nothing.
pub fn read_inventory(state_dir: &Path, provider: &str) -> Result<Vec<Resource>, SimError> {
    check_provider_name(provider)?;
    let state = journal::replay(&journal::path_for(state_dir, provider), provider)?;
    Ok(state.inventory(wall_clock_ms()))
}

fn check_provider_name(name: &str) -> Result<(), SimError> {
    let fits = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fits {
        Ok(())
    } else {
        Err(SimError::InvalidSpec(format!(
            "provider name `{name}` cannot name a journal file \
             (use letters, digits, `-`, `_` and `.`)"
        )))
    }
}

fn wall_clock_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Locks `m`, carrying on after a panic elsewhere: every change is applied
/// whole, after it is journaled, so the state is never half-updated.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn ms(latency: u64) -> i64 {
    i64::try_from(latency).unwrap_or(i64::MAX)
}

/// What an attempt would change: resources to add and to remove.
struct Change {
    events: Vec<Event>,
    adds: usize,
}

impl Inner {
    fn spec(&self) -> Arc<ProviderSpec> {
        self.spec.read().expect("spec lock").clone()
    }

    fn runtime(&self) -> Runtime {
        lock(&self.runtime).clone()
    }

    fn now_ms(&self) -> i64 {
        wall_clock_ms().saturating_add(self.skew_ms.load(Ordering::SeqCst))
    }

    /// The site for one call, up to date with what other processes sharing
    /// its journal did.
    fn site(&self) -> Result<SiteGuard<'_>, DriverError> {
        let mut site = lock(&self.site);
        let Site { state, journal, .. } = &mut *site;
        if let Some(journal) = journal {
            journal.enter(state).map_err(|e| DriverError::unavailable(format!("simulator journal: {e}")))?;
        }
        Ok(SiteGuard(site))
    }

    fn quota(&self, project: &str) -> Result<Quota, DriverError> {
        model::quota_of(&self.spec(), project).cloned().ok_or_else(|| {
            DriverError::invalid(format!("unknown project {project} on {} (no group is granted it)", self.name))
        })
    }

    /// Works out the events that bring the attempt to `request`; with
    /// `prune`, resources the request no longer needs are removed.
    fn change(
        &self,
        site: &Site,
        rt: &Runtime,
        request: &ProvisionRequest,
        now: i64,
        prune: bool,
    ) -> Result<Change, DriverError> {
        let provider = self.name.as_str();
        let existing = site.state.attempts.get(&request.attempt_id);
        if let Some(a) = existing {
            if a.deleting.is_some() {
                return Err(DriverError::failed(format!(
                    "attempt {} is being deleted on {provider}",
                    request.attempt_id
                )));
            }
            if a.meta.deployment_id != request.deployment_id || a.meta.project != request.project {
                return Err(DriverError::invalid(format!(
                    "attempt {} already belongs to deployment {} of project {} on {provider}",
                    request.attempt_id, a.meta.deployment_id, a.meta.project
                )));
            }
        }
        let quota = self.quota(&request.project)?;
        let planned = model::plan(provider, request);

        let mut events = Vec::new();
        let wanted: Vec<String> = request.nodes.iter().map(|n| n.name.clone()).collect();
        match existing {
            None => {
                let s = &rt.settings;
                let fails = naming::draws_failure(s.seed, provider, &request.attempt_id, s.failure_probability);
                events.push(Event::Attempt(AttemptMeta {
                    attempt_id: request.attempt_id.clone(),
                    deployment_id: request.deployment_id.clone(),
                    project: request.project.clone(),
                    created_ms: now,
                    failure: fails.then(|| {
                        format!(
                            "simulated build failure (failure_probability {}, seed {})",
                            s.failure_probability, s.seed
                        )
                    }),
                    nodes: wanted,
                }));
            }
            Some(a) => {
                let nodes = if prune {
                    wanted
                } else {
                    let mut nodes = a.meta.nodes.clone();
                    nodes.extend(wanted.into_iter().filter(|n| !a.meta.nodes.contains(n)));
                    nodes
                };
                if nodes != a.meta.nodes {
                    events.push(Event::Attempt(AttemptMeta { nodes, ..a.meta.clone() }));
                }
            }
        }

        let held = |id: &str| existing.is_some_and(|a| a.resources.contains_key(id));
        let missing: Vec<_> = planned.iter().filter(|p| !held(&p.id)).collect();
        let mut freed = Usage::default();
        if prune && let Some(a) = existing {
            for h in a.resources.values() {
                if !planned.iter().any(|p| p.id == h.id) {
                    freed = freed.plus(h.usage);
                    events.push(Event::Removed { attempt_id: h.attempt_id.clone(), id: h.id.clone() });
                }
            }
        }

        let mut adding = missing.iter().fold(Usage::default(), |acc, p| acc.plus(p.usage));
        let ready_ms = now.saturating_add(ms(rt.settings.create_latency_ms));
        // An update resizes servers whose flavor changed and grows volumes.
        if prune && let Some(a) = existing {
            for p in &planned {
                let Some(h) = a.resources.get(&p.id) else { continue };
                let same_flavor = h.flavor.is_none() || h.flavor == p.flavor;
                if h.usage == p.usage && (h.kind != ResourceKind::Server || same_flavor) {
                    continue;
                }
                if h.kind == ResourceKind::Volume && p.usage.volume_gb < h.usage.volume_gb {
                    return Err(DriverError::invalid(format!(
                        "volume {} is {} GB on {provider}; a volume cannot shrink to {} GB",
                        h.name, h.usage.volume_gb, p.usage.volume_gb
                    )));
                }
                freed = freed.plus(h.usage);
                adding = adding.plus(p.usage);
                let (attempt_id, id, flavor) = (request.attempt_id.clone(), h.id.clone(), p.flavor.clone());
                events.push(Event::Changed { attempt_id, id, flavor, usage: p.usage, ready_ms });
            }
        }
        let used = site.state.project_usage(&request.project).minus(freed);
        if let Some((what, want, left)) = used.exceeds(adding, &quota) {
            return Err(DriverError::quota(format!(
                "{want} {what} requested, {left} left for project {}",
                request.project
            )));
        }

        let mut addresses = site.state.addresses();
        let seed = rt.settings.seed.to_string();
        for p in &missing {
            let address = match p.pool {
                None => None,
                Some(pool) => {
                    let cidr = match pool {
                        Pool::Private => self.private_pool,
                        Pool::Isolated => self.isolated_pool,
                        Pool::Public => rt.public_pool,
                    };
                    let index = p.index.to_string();
                    let key =
                        ["address", &seed, provider, &request.attempt_id, &p.node, &index, naming::kind_word(p.kind)];
                    let a = model::allocate(cidr, &key, &mut addresses)
                        .ok_or_else(|| DriverError::quota(format!("no free address left in {cidr} on {provider}")))?;
                    Some(a.to_string())
                }
            };
            events.push(Event::Created(model::Held {
                attempt_id: request.attempt_id.clone(),
                id: p.id.clone(),
                kind: p.kind,
                name: p.name.clone(),
                node: p.node.clone(),
                index: p.index,
                ready_ms,
                usage: p.usage,
                address,
                flavor: p.flavor.clone(),
                changing: false,
                login: p.login.clone(),
                login_key: p.login_key.clone(),
            }));
        }
        Ok(Change { events, adds: missing.len() })
    }

    fn fail_on_command(&self, request: &ProvisionRequest) -> DriverError {
        DriverError::failed(format!(
            "simulated failure: {} is set to fail every create (attempt {})",
            self.name, request.attempt_id
        ))
    }

    fn create(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        let rt = self.runtime();
        if rt.settings.fail_creates {
            return Err(self.fail_on_command(request));
        }
        model::validate(&self.spec(), request)?;
        self.quota(&request.project)?;
        let mut site = self.site()?;
        let now = self.now_ms();
        site.purge(now)?;
        let change = self.change(&site, &rt, request, now, false)?;
        let added = change.adds;
        site.commit(change.events)?;
        if let Some(calls) = &mut site.calls {
            use std::io::Write;
            let line =
                serde_json::json!({ "attempt_id": request.attempt_id, "by": std::process::id(), "added": added });
            if let Err(e) = writeln!(calls, "{line}") {
                tracing::warn!(provider = %self.name, error = %e, "cannot log a create call");
            }
        }
        Ok(())
    }

    fn update(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        let rt = self.runtime();
        model::validate(&self.spec(), request)?;
        self.quota(&request.project)?;
        let mut site = self.site()?;
        let now = self.now_ms();
        site.purge(now)?;
        if !site.state.attempts.contains_key(&request.attempt_id) {
            return Err(DriverError::invalid(format!(
                "attempt {} does not exist on {}",
                request.attempt_id, self.name
            )));
        }
        let change = self.change(&site, &rt, request, now, true)?;
        if change.adds > 0 && rt.settings.fail_creates {
            return Err(self.fail_on_command(request));
        }
        site.commit(change.events)
    }

    fn status(&self, attempt_id: &str) -> Result<AttemptState, DriverError> {
        let mut site = self.site()?;
        let now = self.now_ms();
        site.purge(now)?;
        Ok(match site.state.attempts.get(attempt_id) {
            None => AttemptState::Absent,
            Some(a) if a.deleting.is_some() => {
                AttemptState::Failed { reason: format!("attempt {attempt_id} is being deleted") }
            }
            Some(a) => a.status(now),
        })
    }

    fn delete(&self, attempt_id: &str) -> Result<DeleteState, DriverError> {
        let rt = self.runtime();
        let mut site = self.site()?;
        let now = self.now_ms();
        site.purge(now)?;
        let Some(a) = site.state.attempts.get(attempt_id) else {
            return Ok(DeleteState::Gone);
        };
        if a.deleting.is_some() {
            return Ok(DeleteState::InProgress);
        }
        let latency = rt.settings.delete_latency_ms;
        let mut events = vec![Event::Deleting {
            attempt_id: attempt_id.to_owned(),
            started_ms: now,
            gone_ms: now.saturating_add(ms(latency)),
        }];
        if latency == 0 {
            events.push(Event::Gone { attempt_id: attempt_id.to_owned() });
        }
        site.commit(events)?;
        Ok(if latency == 0 { DeleteState::Gone } else { DeleteState::InProgress })
    }

    fn resources(&self, attempt_id: &str) -> Result<Vec<Resource>, DriverError> {
        let mut site = self.site()?;
        let now = self.now_ms();
        site.purge(now)?;
        Ok(site.state.attempts.get(attempt_id).map(|a| a.views(now)).unwrap_or_default())
    }

    fn inventory(&self) -> Result<Vec<Resource>, DriverError> {
        let mut site = self.site()?;
        let now = self.now_ms();
        site.purge(now)?;
        Ok(site.state.inventory(now))
    }

    fn footprint(&self, attempt_id: &str) -> Result<crate::update::Footprint, DriverError> {
        let mut site = self.site()?;
        site.purge(self.now_ms())?;
        Ok(site.state.attempts.get(attempt_id).map(model::Attempt::footprint).unwrap_or_default())
    }

    fn project_quota(&self, project: &str) -> Result<Option<ProjectQuota>, DriverError> {
        let spec = self.spec();
        let Some(limits) = model::quota_of(&spec, project) else {
            return Ok(None);
        };
        let mut site = self.site()?;
        site.purge(self.now_ms())?;
        Ok(Some(ProjectQuota { limits: limits.clone(), used: site.state.project_usage(project) }))
    }
}

#[async_trait]
impl Driver for SimDriver {
    async fn create(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        let request = request.clone();
        self.blocking(move |inner| inner.create(&request)).await
    }

    async fn status(&self, attempt_id: &str) -> Result<AttemptState, DriverError> {
        let id = attempt_id.to_owned();
        self.blocking(move |inner| inner.status(&id)).await
    }

    async fn update(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        let request = request.clone();
        self.blocking(move |inner| inner.update(&request)).await
    }

    fn update_support(&self) -> UpdateSupport {
        UpdateSupport { scale: true, resize: true, extend: true, reconfigure: false }
    }

    async fn footprint(&self, attempt_id: &str) -> Result<crate::update::Footprint, DriverError> {
        let id = attempt_id.to_owned();
        self.blocking(move |inner| inner.footprint(&id)).await
    }

    async fn delete(&self, attempt_id: &str) -> Result<DeleteState, DriverError> {
        let id = attempt_id.to_owned();
        self.blocking(move |inner| inner.delete(&id)).await
    }

    async fn resources(&self, attempt_id: &str) -> Result<Vec<Resource>, DriverError> {
        let id = attempt_id.to_owned();
        self.blocking(move |inner| inner.resources(&id)).await
    }

    async fn inventory(&self) -> Result<Vec<Resource>, DriverError> {
        self.blocking(|inner| inner.inventory()).await
    }

    async fn project_quota(&self, project: &str) -> Result<Option<ProjectQuota>, DriverError> {
        let project = project.to_owned();
        self.blocking(move |inner| inner.project_quota(&project)).await
    }

    async fn probe(&self, project: Option<&str>) -> Vec<crate::Check> {
        let mut checks =
            vec![crate::Check::timed("api", async { self.enter().await.map(|()| "answers".to_string()) }).await];
        if let Some(project) = project {
            checks.push(crate::quota_check(self, project).await);
        }
        checks
    }
}
