//! nuvola-watch: the federation watched. Every round probes each
//! provider (through its driver), each identity issuer, nuvola's own parts
//! (store, workers, IM, mail relay, its HTTP service) and, where one is
//! configured, the object storage; stores every result; and derives each
//! status-page component's state from its probes with hysteresis
//! ([`nuvola_monitor::state`]), storing every change. The changes feed
//! placement (a provider in outage is skipped, saying why), the status
//! page, alerts and availability reports. Providers that opted in are also
//! watched by a canary VM made and deleted on a schedule ([`canary`]),
//! whose verdict is one of their checks.
//!
//! This crate sits between the store and drivers below and the app above:
//! the app builds the round's [`Targets`] from its federation and runs
//! [`Watch::round`] on its schedule; the pages read [`Watch::snapshot`].

pub mod alerting;
pub mod bulletins;
pub mod canary;
pub mod components;
pub mod deliveries;
pub mod endpoints;
pub mod incidents;
pub mod operations;
pub mod page;
pub mod probes;
pub mod published;
pub mod reports;
pub mod subscriptions;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use nuvola_monitor::openmetrics::Exposition;
use nuvola_monitor::state::{Hysteresis, Outcome, Tracker, assess};
use nuvola_notify::Notifier;
use nuvola_store::Store;
use nuvola_types::{ComponentState, ProbeResult, ProviderSpec, Result, Spelled};

pub use alerting::{AlertSettings, Webhook};
pub use canary::{CanaryPass, CanarySettings};
pub use components::{Component, Group, ProviderTarget, Targets};
pub use deliveries::Deliveries;
pub use incidents::{IncidentDraft, IncidentPage, UpdateDraft};
pub use page::{ComponentHistory, Day, ScheduledMaintenance, ShownComponent, StatusPage};
use probes::{Found, bounded};
pub use published::{Document, Feed};
pub use subscriptions::WebhookSubscription;

/// How the federation is watched.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// Time between rounds.
    pub interval: Duration,
    /// How long one check may take before it counts as failed.
    pub bound: Duration,
    /// How many rounds change a component's state.
    pub hysteresis: Hysteresis,
    /// Providers shown as backbone sites; the others are federated clouds.
    pub backbone: Vec<String>,
    /// Identity issuers whose discovery and keys are checked.
    pub issuers: Vec<String>,
    /// The object storage's URL, when the federation has one.
    pub object_storage: Option<String>,
    /// The SMTP relay's `host:port`, when mail is sent.
    pub smtp: Option<String>,
    /// Where this server answers, for the checks of its API and pages.
    pub self_url: Option<String>,
    /// The longest a due workflow step may wait before the workers count
    /// as lagging.
    pub max_lag: Duration,
    /// How long raw probe results are kept (state changes are kept).
    pub keep_results: Duration,
    /// Who is told of alerts, and the rules' thresholds.
    pub alerts: AlertSettings,
    /// How often a bulletin is made; `None`: never.
    pub bulletin: Option<nuvola_monitor::bulletin::Every>,
    /// Time between rounds over users' endpoints ([`endpoints`]).
    pub endpoint_interval: Duration,
    /// Which addresses users' endpoints may be at: the internet only, by
    /// default; anywhere (loopback, private) only for tests and labs.
    pub endpoint_reach: nuvola_monitor::endpoints::Reach,
    /// The provider canary: who opted in, how often, its bounds.
    pub canary: CanarySettings,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            interval: Duration::from_secs(60),
            bound: Duration::from_secs(10),
            hysteresis: Hysteresis::default(),
            backbone: Vec::new(),
            issuers: Vec::new(),
            object_storage: None,
            smtp: None,
            self_url: None,
            max_lag: Duration::from_secs(120),
            keep_results: Duration::from_secs(30 * 24 * 3600),
            alerts: AlertSettings::default(),
            bulletin: Some(nuvola_monitor::bulletin::Every::Week),
            endpoint_interval: Duration::from_secs(60),
            endpoint_reach: nuvola_monitor::endpoints::Reach::Internet,
            canary: CanarySettings::default(),
        }
    }
}

/// A component as the last round left it.
#[derive(Debug, Clone)]
pub struct ComponentStatus {
    pub component: Component,
    /// What its probes say, after hysteresis (before any operator override
    /// or maintenance, which the page applies).
    pub state: ComponentState,
    /// Since when, in ms.
    pub since: i64,
    /// Its checks of the last round.
    pub checks: Vec<ProbeResult>,
}

impl ComponentStatus {
    /// Why it is not operational: its failing checks' details.
    pub fn reason(&self) -> String {
        let failing: Vec<String> =
            self.checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.probe, c.detail)).collect();
        if failing.is_empty() && self.state == ComponentState::DegradedPerformance {
            let slowest = self.checks.iter().max_by_key(|c| canary::judged(c));
            return slowest.map(|c| format!("{} took {} ms", c.probe, c.latency_ms)).unwrap_or_default();
        }
        failing.join("; ")
    }
}

/// What the last round saw.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When the round started, in ms; 0 before the first.
    pub at: i64,
    /// How many rounds this server has finished, this one included.
    pub rounds: u64,
    /// Every component, in the page's order (group, then name).
    pub components: Vec<ComponentStatus>,
}

impl Snapshot {
    /// The component of `provider`'s compute.
    pub fn provider(&self, provider: &str) -> Option<&ComponentStatus> {
        self.components.iter().find(|c| c.component.provider.as_deref() == Some(provider))
    }
}

/// A component whose state changed in a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub component: String,
    /// `None` the first time a component is seen.
    pub from: Option<ComponentState>,
    pub to: ComponentState,
    pub reason: String,
    pub at: i64,
}

/// What one round did.
#[derive(Debug, Clone, Default)]
pub struct Round {
    pub results: Vec<ProbeResult>,
    pub changes: Vec<Change>,
}

/// The watcher: its trackers and the last round's snapshot.
#[derive(Clone)]
pub struct Watch {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    notifier: Notifier,
    http: reqwest::Client,
    settings: WatchSettings,
    state: tokio::sync::Mutex<Trackers>,
    snapshot: Mutex<Arc<Snapshot>>,
    /// The alert engine, loaded from the store on first use.
    engine: tokio::sync::Mutex<Option<nuvola_monitor::alerts::Engine>>,
    /// Deliveries under way (mail, webhooks), which a round does not wait
    /// for.
    sending: Mutex<tokio::task::JoinSet<()>>,
    endpoints: endpoints::Prober,
    /// The last reading of the components' history and what it was read
    /// for (see [`Watch::history`]).
    history: Mutex<Option<(page::HistoryKey, Arc<Vec<ComponentHistory>>)>>,
}

/// Per component, its tracker and since when it is in its state.
#[derive(Default)]
struct Trackers {
    resumed: bool,
    by_component: BTreeMap<String, (Tracker, i64)>,
}

impl Watch {
    /// A watcher keeping its findings in `store` and telling people
    /// through `notifier`.
    pub fn new(store: Store, notifier: Notifier, settings: WatchSettings) -> Watch {
        let http = reqwest::Client::builder()
            .timeout(settings.bound)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .expect("HTTP client");
        let endpoints =
            endpoints::Prober::new(store.clone(), notifier.clone(), settings.endpoint_reach, settings.bound);
        Watch {
            inner: Arc::new(Inner {
                endpoints,
                store,
                notifier,
                http,
                settings,
                state: Default::default(),
                snapshot: Mutex::new(Arc::new(Snapshot::default())),
                engine: Default::default(),
                sending: Default::default(),
                history: Mutex::new(None),
            }),
        }
    }

    pub fn settings(&self) -> &WatchSettings {
        &self.inner.settings
    }

    /// Waits until every delivery under way is done (for a shutdown, and
    /// for tests that read what was sent).
    pub async fn settle(&self) {
        loop {
            let mut sending = std::mem::take(&mut *self.inner.sending.lock().expect("sending lock"));
            if sending.is_empty() {
                return;
            }
            while sending.join_next().await.is_some() {}
        }
    }

    /// Runs `delivery` in the background, counted until it is done.
    pub(crate) fn deliver(&self, delivery: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut sending = self.inner.sending.lock().expect("sending lock");
        while sending.try_join_next().is_some() {}
        sending.spawn(delivery);
    }

    /// How the watcher tells people (subscribers, operators, owners).
    pub fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    /// The last round, for Prometheus: each check's success and latency,
    /// and each component's state (one sample per state, 1 for the
    /// current one, as the state-set convention of OpenMetrics has it).
    pub fn metrics(&self, out: &mut Exposition) {
        let snapshot = self.snapshot();
        let mut checks: Vec<([(&str, &str); 2], &ProbeResult)> = Vec::new();
        let mut states: Vec<([(&str, &str); 2], f64)> = Vec::new();
        for status in &snapshot.components {
            for check in &status.checks {
                checks.push(([("component", status.component.id.as_str()), ("probe", check.probe.as_str())], check));
            }
            for state in ComponentState::ALL {
                let current = f64::from(u8::from(*state == status.state));
                states.push(([("component", status.component.id.as_str()), ("state", state.as_str())], current));
            }
        }
        let success: Vec<_> = checks.iter().map(|(l, c)| (&l[..], f64::from(u8::from(c.ok)))).collect();
        out.gauge("nuvola_probe_success", "Whether a check of the last round passed (1) or failed (0).", &success);
        let latency: Vec<_> = checks.iter().map(|(l, c)| (&l[..], f64::from(c.latency_ms) / 1000.0)).collect();
        out.gauge("nuvola_probe_latency_seconds", "How long a check of the last round took.", &latency);
        let states: Vec<_> = states.iter().map(|(l, v)| (&l[..], *v)).collect();
        out.gauge("nuvola_component_state", "Each component's state from its probes (1: the current one).", &states);
        out.gauge(
            "nuvola_probe_round_timestamp_seconds",
            "When the last round of probes started.",
            &[(&[], snapshot.at as f64 / 1000.0)],
        );
        // With the states in one scrape: how many rounds made them.
        out.counter(
            "nuvola_probe_rounds",
            "Rounds of probes finished since the server started.",
            &[(&[], snapshot.rounds as f64)],
        );
    }

    /// The prober of users' endpoints; its rounds run on their own interval.
    pub fn endpoints(&self) -> &endpoints::Prober {
        &self.inner.endpoints
    }

    /// What the last round saw.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.lock().expect("snapshot lock").clone()
    }

    /// Probes everything in `targets` and the settings at once, stores the
    /// results and the state changes, and returns them. Rounds run one at
    /// a time.
    pub async fn round(&self, targets: &Targets, now: i64) -> Result<Round> {
        let mut trackers = self.inner.state.lock().await;
        if !trackers.resumed {
            // A restart carries on from the stored states: an outage seen
            // before it is not forgotten, nor announced again.
            for change in self.inner.store.current_component_states().await? {
                let tracker = Tracker::resume(self.inner.settings.hysteresis, change.state);
                trackers.by_component.insert(change.component, (tracker, change.at));
            }
            trackers.resumed = true;
        }
        let plan = self.plan(targets, now);
        let (components, checks): (Vec<Component>, Vec<BoxFuture<'_, Vec<Found>>>) = plan.into_iter().unzip();
        let found = futures::future::join_all(checks).await;
        let mut canaries = self.canary_checks(now).await?;

        let mut round = Round::default();
        let mut statuses = Vec::with_capacity(components.len());
        let mut site_quotas = Vec::new();
        for (component, mut found) in components.into_iter().zip(found) {
            if let Some(provider) = &component.provider {
                site_quotas.extend(found.iter_mut().filter_map(|f| f.quota.take()).map(|q| (provider.clone(), q)));
            }
            let mut results: Vec<ProbeResult> = found
                .into_iter()
                .map(|f| ProbeResult {
                    target: component.id.clone(),
                    probe: f.probe,
                    at: now,
                    ok: f.ok,
                    latency_ms: f.latency_ms,
                    detail: f.detail,
                })
                .collect();
            // The provider's last canary run speaks in every round until
            // the next one.
            if let Some(canary) = component.provider.as_ref().and_then(|p| canaries.remove(p)) {
                results.push(ProbeResult { target: component.id.clone(), ..canary });
            }
            let outcomes: Vec<Outcome> = results
                .iter()
                .filter(|r| canary::counts(r))
                .map(|r| Outcome { ok: r.ok, latency_ms: canary::judged(r) })
                .collect();
            let rules = self.inner.settings.hysteresis;
            let (state, since, change) = match trackers.by_component.get_mut(&component.id) {
                Some((tracker, since)) => {
                    let before = tracker.state();
                    match tracker.observe(&outcomes) {
                        Some(to) => {
                            *since = now;
                            (to, now, Some((Some(before), to)))
                        }
                        None => (tracker.state(), *since, None),
                    }
                }
                None => {
                    // Seen for the first time: its first round is all there
                    // is to go by.
                    let first = assess(&outcomes, rules.slow_ms).unwrap_or_default();
                    trackers.by_component.insert(component.id.clone(), (Tracker::resume(rules, first), now));
                    (first, now, Some((None, first)))
                }
            };
            let status = ComponentStatus { component, state, since, checks: results };
            if let Some((from, to)) = change {
                round.changes.push(Change {
                    component: status.component.id.clone(),
                    from,
                    to,
                    reason: status.reason(),
                    at: now,
                });
            }
            round.results.extend(status.checks.iter().cloned());
            statuses.push(status);
        }
        statuses.sort_by(|a, b| (a.component.group, &a.component.name).cmp(&(b.component.group, &b.component.name)));
        let store = &self.inner.store;
        // A canary's run is kept as such (see [`canary`]), not as a result
        // of every round it speaks in.
        let probed: Vec<ProbeResult> = round.results.iter().filter(|r| r.probe != canary::PROBE).cloned().collect();
        store.record_probe_results(&probed).await?;
        for change in &round.changes {
            store.record_component_state(&change.component, change.at, change.to, &change.reason).await?;
        }
        let keep_ms = i64::try_from(self.inner.settings.keep_results.as_millis()).unwrap_or(i64::MAX);
        store.prune_probe_results(now.saturating_sub(keep_ms)).await?;
        let specs: Vec<ProviderSpec> = targets.providers.iter().map(|t| t.spec.clone()).collect();
        self.alert(now, &statuses, &site_quotas, &specs).await?;
        let mut snapshot = self.inner.snapshot.lock().expect("snapshot lock");
        *snapshot = Arc::new(Snapshot { at: now, rounds: snapshot.rounds + 1, components: statuses });
        Ok(round)
    }

    /// Every component this round looks at, with the future of its checks.
    fn plan<'a>(&'a self, targets: &'a Targets, now: i64) -> Vec<(Component, BoxFuture<'a, Vec<Found>>)> {
        let settings = &self.inner.settings;
        let bound = settings.bound;
        let http = &self.inner.http;
        let store = &self.inner.store;
        let mut plan: Vec<(Component, BoxFuture<'a, Vec<Found>>)> = Vec::new();
        for target in &targets.providers {
            let component = components::provider_component(&target.spec, &settings.backbone);
            let project = target.spec.groups.values().find_map(|g| g.project.clone());
            let driver = target.driver.clone();
            plan.push((
                component,
                Box::pin(async move {
                    match tokio::time::timeout(bound, driver.probe(project.as_deref())).await {
                        Ok(checks) => checks
                            .into_iter()
                            .map(|c| Found {
                                probe: c.probe.to_string(),
                                ok: c.outcome.is_ok(),
                                latency_ms: c.latency_ms,
                                detail: c.outcome.unwrap_or_else(|e| e.reason().said.clone()),
                                quota: c.quota,
                            })
                            .collect(),
                        Err(_) => vec![Found {
                            probe: "api".into(),
                            ok: false,
                            latency_ms: u32::try_from(bound.as_millis()).unwrap_or(u32::MAX),
                            detail: format!("no answer within {} s", bound.as_secs()),
                            quota: None,
                        }],
                    }
                }),
            ));
        }
        for issuer in &settings.issuers {
            plan.push((
                components::issuer_component(issuer),
                Box::pin(async move { vec![bounded("discovery", bound, probes::issuer(http, issuer)).await] }),
            ));
        }
        if let Some(url) = &settings.object_storage {
            let component = Component {
                id: "federation/object-storage".into(),
                name: "Object storage".into(),
                group: Group::Federation,
                description: format!("S3 object storage at {url}"),
                provider: None,
            };
            plan.push((
                component,
                Box::pin(async move { vec![bounded("http", bound, probes::http_get(http, url)).await] }),
            ));
        }
        let max_lag_ms = i64::try_from(settings.max_lag.as_millis()).unwrap_or(i64::MAX);
        let self_url = settings.self_url.as_deref();
        plan.push((
            components::paas("orchestrator", "Orchestrator", "Deployments' workflow and the REST API"),
            Box::pin(async move {
                let mut found = vec![
                    bounded("store", bound, probes::store(store)).await,
                    bounded("workers", bound, probes::workers(store, now, max_lag_ms)).await,
                ];
                if let Some(base) = self_url {
                    found.push(bounded("api", bound, probes::http_get(http, &format!("{base}/healthz"))).await);
                }
                found
            }),
        ));
        plan.push((
            components::paas("placement", "Placement", "The choice of a site for each deployment"),
            Box::pin(async move {
                let registry = async {
                    let providers = store.providers().await.map_err(|e| format!("cannot read the registry: {e}"))?;
                    Ok(format!("{} providers in the registry", providers.len()))
                };
                vec![bounded("registry", bound, registry).await]
            }),
        ));
        let ims: Vec<&ProviderTarget> = targets.providers.iter().filter(|t| components::is_im(&t.spec)).collect();
        if !ims.is_empty() {
            plan.push((
                components::paas("infrastructure-manager", "Infrastructure Manager", "The IM endpoints providers use"),
                Box::pin(async move {
                    let checks =
                        ims.into_iter().map(|t| {
                            let url = format!("{}/version", t.spec.endpoint.trim_end_matches('/'));
                            async move {
                                bounded(format!("version@{}", t.spec.name), bound, probes::http_get(http, &url)).await
                            }
                        });
                    futures::future::join_all(checks).await
                }),
            ));
        }
        if let Some(base) = self_url {
            plan.push((
                components::paas("dashboard", "Dashboard", "The web pages of nuvola"),
                Box::pin(async move {
                    vec![bounded("page", bound, probes::http_get(http, &format!("{base}/status"))).await]
                }),
            ));
        }
        if let Some(relay) = &settings.smtp {
            plan.push((
                components::paas("mail", "Mail", "Notifications by e-mail"),
                Box::pin(async move { vec![bounded("smtp", bound, probes::smtp(relay)).await] }),
            ));
        }
        plan
    }
}
