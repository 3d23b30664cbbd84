//! The configuration file: one TOML document, every key optional but the
//! providers'. `config/demo.toml` in the repository (also printed by
//! `nuvola config demo`) is the annotated default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nuvola_app::Settings;
use nuvola_types::ProviderSpec;
use serde::Deserialize;

/// The demo federation `nuvola serve` runs when given no `--config`.
pub const DEMO: &str = include_str!("../../../config/demo.toml");

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// PostgreSQL only: the schema to use (created if missing).
    pub database_schema: Option<String>,
    /// The key that seals secret inputs at rest (64 hex digits; made when
    /// missing). Replicas sharing a database must share it.
    pub secrets_key_file: Option<PathBuf>,
    pub public_url: Option<String>,
    /// Where this server answers, once it listens (not read from the
    /// file): its own pages and API are probed there.
    #[serde(skip)]
    pub listening_at: Option<String>,
    #[serde(default)]
    pub identity: IdentityConfig,
    #[serde(default)]
    pub workers: WorkersConfig,
    #[serde(default)]
    pub deployments: DeploymentsConfig,
    #[serde(default)]
    pub tosca: ToscaConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub catalogue: CatalogueConfig,
    #[serde(default)]
    pub placement: PlacementConfig,
    #[serde(default)]
    pub statistics: StatisticsConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub status: StatusConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub accounting: AccountingConfig,
    /// `[notifications]`: mail to users (SMTP relay and sender).
    pub notifications: Option<nuvola_notify::SmtpSettings>,
    #[serde(default)]
    pub providers: Vec<ProviderSpec>,
}

/// `[identity]`: the embedded issuer and the trusted external ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// `iss` of the tokens the embedded issuer signs.
    pub issuer: String,
    /// Lifetime of `nuvola token issue` tokens.
    pub token_ttl_hours: i64,
    /// Whether the embedded issuer is trusted; by default only when no
    /// external issuer is configured (never silently next to one).
    pub embedded: Option<bool>,
    /// `[[identity.issuers]]`: external OIDC issuers (INDIGO IAM, Keycloak...).
    pub issuers: Vec<nuvola_identity::IssuerConfig>,
    /// `[[identity.users]]`: the embedded issuer's accounts, which sign in
    /// to the dashboard with a password. None configured: one `demo`
    /// account, whose password is kept in the data directory.
    pub users: Vec<nuvola_identity::EmbeddedUser>,
    /// `[identity.sign_in]`: limits on signing in.
    pub sign_in: nuvola_identity::SignInSettings,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            issuer: "nuvola".into(),
            token_ttl_hours: 12,
            embedded: None,
            issuers: Vec::new(),
            users: Vec::new(),
            sign_in: Default::default(),
        }
    }
}

impl IdentityConfig {
    /// Whether the embedded issuer's tokens are accepted.
    pub fn embedded_enabled(&self) -> bool {
        self.embedded.unwrap_or(self.issuers.is_empty())
    }
}

/// `[workers]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    pub concurrency: Option<usize>,
    pub poll_interval_ms: Option<u64>,
    pub lease_secs: Option<u64>,
    pub driver_call_timeout_secs: Option<u64>,
    pub reconcile_interval_secs: Option<u64>,
    /// How often the providers are scanned for orphan resources.
    pub orphan_scan_interval_secs: Option<u64>,
    /// How long after an attempt ended its resources are not yet orphans.
    pub orphan_grace_secs: Option<u64>,
}

/// `[deployments]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentsConfig {
    pub timeout_mins: Option<i64>,
    pub provider_timeout_mins: Option<i64>,
    pub max_template_bytes: Option<usize>,
    /// Most deployments one user may hold (all but deleted ones).
    pub max_per_user: Option<i64>,
    /// Most template bytes one user's deployments may hold in all.
    pub max_template_bytes_per_user: Option<i64>,
    /// URL prefixes deployment callbacks may point to.
    #[serde(default)]
    pub callback_allowed_prefixes: Vec<String>,
}

/// `[placement]`: how candidates of equal SLA priority are ranked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementConfig {
    /// Weight of the provider's recent success rate (default 0.5).
    pub health_weight: Option<f64>,
    /// Weight of its median create time (default 0.2).
    pub speed_weight: Option<f64>,
    /// Weight of the quota left after the deployment (default 0.3).
    pub capacity_weight: Option<f64>,
}

/// `[catalogue]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueConfig {
    /// Services only some groups may deploy without an approved access
    /// request: `restricted = { gpu-vm = ["ml"] }`.
    #[serde(default)]
    pub restricted: std::collections::BTreeMap<String, Vec<String>>,
}

/// `[statistics]`: how the dashboard's statistics classify groups.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticsConfig {
    /// Groups whose deployments count as testing (the others: production).
    #[serde(default)]
    pub testing_groups: Vec<String>,
}

/// `[metrics]`: the Prometheus scrape endpoint `/metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// The file holding the token a scrape must bring as its bearer token
    /// (64 hex digits; made when missing). Default: `metrics-token` in the
    /// data directory. Prometheus reads the same file as its
    /// `credentials_file`.
    pub token_file: Option<PathBuf>,
}

/// `[status]`: the probes behind the status page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// Seconds between rounds of probes (default 60).
    pub probe_interval_secs: Option<u64>,
    /// Seconds a check may take before it fails (default 10).
    pub probe_timeout_secs: Option<u64>,
    /// Seconds between rounds over users' endpoints: every ready
    /// deployment's outputs that are URLs or host:port (default 60).
    pub endpoint_interval_secs: Option<u64>,
    /// Providers shown as backbone sites; the others are federated clouds.
    #[serde(default)]
    pub backbone: Vec<String>,
    /// The federation's object storage (its S3 endpoint), checked when set.
    pub object_storage_url: Option<String>,
    /// URL prefixes the status page's webhook subscriptions may point to;
    /// none (the default): subscriptions by webhook are refused.
    #[serde(default)]
    pub webhook_allowed_prefixes: Vec<String>,
    /// How often the bulletin is made and mailed to operators and managers
    /// ([alerts]): `week` (the default), `day` or `off`.
    pub bulletin: Option<String>,
    /// Providers that opted in to the canary: the smallest VM each offers
    /// is created and deleted every `canary_interval_secs`, each phase
    /// timed. None (the default): no canary.
    #[serde(default)]
    pub canary_providers: Vec<String>,
    /// Seconds between two canary runs on a provider (default 3600).
    pub canary_interval_secs: Option<u64>,
    /// Seconds a canary VM may take to run, and then to be gone (default
    /// 600).
    pub canary_timeout_secs: Option<u64>,
}

/// `[accounting]`: who may send usage records to
/// `POST /api/v1/accounting/messages` besides platform administrators,
/// nuvola's own usage, and the message broker records come from and
/// summaries go to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountingConfig {
    /// `[[accounting.publishers]]`: a site's cASO/SSM, by its token.
    #[serde(default)]
    pub publishers: Vec<PublisherConfig>,
    /// Whether nuvola records the usage of what it runs (default true).
    pub own_usage: Option<bool>,
    /// How often (default 300).
    pub own_usage_interval_secs: Option<u64>,
    /// Providers whose own cASO reports their usage: nuvola records none
    /// of its own for them, so nothing counts twice.
    #[serde(default)]
    pub site_reported: Vec<String>,
    /// `stomp://LOGIN:PASSCODE@HOST:PORT/VHOST` of the broker.
    pub broker_url: Option<String>,
    /// The queue the sites' messages are consumed from.
    pub queue: Option<String>,
    /// The publisher whose sites the queue's messages may hold (default:
    /// any site).
    pub queue_publisher: Option<String>,
    /// Where refused messages go (default: the queue's name + `.refused`).
    pub refused_queue: Option<String>,
    /// Where the monthly summaries are sent, as a site's APEL client sends
    /// them upstream.
    pub export_destination: Option<String>,
    /// How often (default 86400).
    pub export_interval_secs: Option<u64>,
}

impl AccountingConfig {
    /// Accounting's settings (its publishers and jobs), or why the section
    /// is wrong.
    fn settings(&self) -> Result<nuvola_usage::AccountingSettings> {
        let d = nuvola_usage::AccountingSettings::default();
        let broker = match &self.broker_url {
            None => {
                if self.queue.is_some() || self.export_destination.is_some() {
                    bail!("[accounting] queue and export_destination need broker_url");
                }
                None
            }
            Some(url) => {
                if !url.starts_with("stomp://") {
                    bail!("[accounting] broker_url = {url:?}: use stomp://LOGIN:PASSCODE@HOST:PORT/VHOST");
                }
                if let Some(name) = &self.queue_publisher
                    && !self.publishers.iter().any(|p| &p.name == name)
                {
                    bail!("[accounting] queue_publisher = {name:?} names no [[accounting.publishers]]");
                }
                let queue = self.queue.clone();
                let refused = self.refused_queue.clone().or_else(|| queue.as_ref().map(|q| format!("{q}.refused")));
                Some(nuvola_usage::AccountingBroker {
                    url: url.clone(),
                    queue,
                    queue_publisher: self.queue_publisher.clone(),
                    refused_queue: refused.unwrap_or_default(),
                    export_destination: self.export_destination.clone(),
                    export_interval: Duration::from_secs(self.export_interval_secs.unwrap_or(86_400).max(60)),
                })
            }
        };
        let publishers = self.publishers.iter().map(PublisherConfig::publisher).collect::<Result<_>>()?;
        Ok(nuvola_usage::AccountingSettings {
            own_usage: self.own_usage.unwrap_or(d.own_usage),
            own_usage_interval: self
                .own_usage_interval_secs
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or(d.own_usage_interval),
            site_reported: self.site_reported.clone(),
            broker,
            publishers,
        })
    }
}

/// One `[[accounting.publishers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherConfig {
    /// Stored as the source of its records.
    pub name: String,
    /// The SHA-256 of its bearer token, 64 hex digits
    /// (`printf %s "$TOKEN" | sha256sum`).
    pub token_sha256: String,
    /// The APEL `SiteName`s it may send records of.
    pub sites: Vec<String>,
}

impl PublisherConfig {
    /// The publisher as the app knows it, or why the entry is wrong.
    fn publisher(&self) -> Result<nuvola_usage::AccountingPublisher> {
        let hex = self.token_sha256.trim();
        let digits: Option<Vec<u8>> = (hex.len() == 64)
            .then(|| (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect())
            .flatten();
        let Some(digits) = digits else {
            bail!("[[accounting.publishers]] {}: token_sha256 must be 64 hex digits", self.name);
        };
        if self.name.trim().is_empty() || self.sites.is_empty() {
            bail!("[[accounting.publishers]] {:?}: give a name and at least one site", self.name);
        }
        Ok(nuvola_usage::AccountingPublisher {
            name: self.name.clone(),
            token_sha256: digits.try_into().expect("32 bytes"),
            sites: self.sites.clone(),
        })
    }
}

/// `[alerts]`: who is told when probes fail or quotas run out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Operators' addresses: every alert, by e-mail (needs `[notifications]`).
    #[serde(default)]
    pub operators: Vec<String>,
    /// `[[alerts.webhooks]]`: every alert, POSTed signed (`url`, `secret`).
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// `[alerts.managers]`: per group, its managers' addresses, told when
    /// the group's quota on a provider runs out.
    #[serde(default)]
    pub managers: std::collections::BTreeMap<String, Vec<String>>,
    /// Failed rounds in a row that make a malfunction (default 3).
    pub malfunction_rounds: Option<u32>,
    /// Percent of a quota above which it is running out (default 90).
    pub exhaustion_percent: Option<f64>,
    /// A check slower than this is degraded (default 2000).
    pub slow_ms: Option<u32>,
}

/// A webhook alerts are POSTed to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC-SHA256 key its deliveries are signed with.
    pub secret: String,
}

/// `[tosca]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToscaConfig {
    /// A TSV of `url_prefix  local_path` for offline imports, besides the
    /// built-in INDIGO types.
    pub import_map: Option<PathBuf>,
}

/// `[http]`: how the server treats client connections, so that slow or
/// silent clients cannot hold it (see `serve/connections.rs`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Connections served at once; more wait, unaccepted, until one closes.
    /// Default: half the process's limit of open files (the other half for
    /// the database, logs and calls to providers), at most 1024.
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's line and headers, from
    /// connecting or from the first byte of a later request on the same
    /// connection; then the connection is closed. Default 10.
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a connection may sit with nothing read or written: kept
    /// alive between requests, or with a request body or a response that
    /// stalls (a request being handled is never cut off). Default 60.
    pub idle_timeout_secs: Option<u64>,
}

impl HttpConfig {
    /// The limits, defaults filled in.
    pub fn limits(&self) -> crate::serve::ConnectionLimits {
        crate::serve::ConnectionLimits {
            max_connections: self.max_connections.unwrap_or_else(default_max_connections),
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.unwrap_or(10)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.unwrap_or(60)),
        }
    }
}

/// Half the soft limit of open files (read from `/proc/self/limits` where
/// there is one), between 16 and 1024; 1024 when it cannot be read.
fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        line["Max open files".len()..].split_whitespace().next()?.parse::<usize>().ok()
    });
    soft.map_or(1024, |n| (n / 2).clamp(16, 1024))
}

impl Config {
    /// Reads `path`, or the demo configuration when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let (text, name) = match path {
            Some(p) => (
                std::fs::read_to_string(p).with_context(|| format!("cannot read config {}", p.display()))?,
                p.display().to_string(),
            ),
            None => (DEMO.to_string(), "the built-in demo config".to_string()),
        };
        let config: Config = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        config.check().with_context(|| format!("in {name}"))?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        if self.providers.is_empty() {
            bail!("no [[providers]]: nuvola needs at least one provider to deploy on");
        }
        self.accounting.settings()?;
        if let Some(every) = &self.status.bulletin
            && !["week", "day", "off"].contains(&every.as_str())
        {
            bail!("[status] bulletin = {every:?}: use week, day or off");
        }
        if self.status.canary_interval_secs.is_some_and(|s| s < 60) {
            bail!("[status] canary_interval_secs must be at least 60");
        }
        if self.status.canary_timeout_secs == Some(0) {
            bail!("[status] canary_timeout_secs must be at least 1");
        }
        let alerts = &self.alerts;
        if alerts.exhaustion_percent.is_some_and(|p| !(p > 0.0 && p <= 100.0)) {
            bail!("[alerts] exhaustion_percent must be above 0 and at most 100");
        }
        if alerts.malfunction_rounds == Some(0) {
            bail!("[alerts] malfunction_rounds must be at least 1");
        }
        let addresses = alerts.operators.iter().chain(alerts.managers.values().flatten());
        if let Some(bad) = addresses.into_iter().find(|a| !nuvola_notify::plausible_address(a)) {
            bail!("[alerts] {bad:?} is not an e-mail address");
        }
        for hook in &alerts.webhooks {
            if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
                bail!("[[alerts.webhooks]] url {:?} must be http(s)", hook.url);
            }
            if hook.secret.len() < 16 {
                bail!("[[alerts.webhooks]] {}: the secret must be at least 16 characters", hook.url);
            }
        }
        for (name, w) in [
            ("health_weight", self.placement.health_weight),
            ("speed_weight", self.placement.speed_weight),
            ("capacity_weight", self.placement.capacity_weight),
        ] {
            if w.is_some_and(|w| !(0.0..=100.0).contains(&w)) {
                bail!("[placement] {name} must be between 0 and 100");
            }
        }
        for i in &self.identity.issuers {
            let url = url::Url::parse(&i.issuer)
                .with_context(|| format!("[[identity.issuers]] issuer {:?} is not a URL", i.issuer))?;
            if url.scheme() != "https" && !matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) {
                bail!("[[identity.issuers]] issuer {} must use https", i.issuer);
            }
            if i.audience.is_empty() {
                bail!("[[identity.issuers]] issuer {} needs an audience", i.issuer);
            }
            if i.client_id.is_some() != i.client_secret.is_some() {
                bail!("[[identity.issuers]] issuer {}: client_id and client_secret go together", i.issuer);
            }
            if self.identity.issuers.len() > 1 && i.groups.is_none() {
                bail!(
                    "[[identity.issuers]] issuer {}: with several external issuers, each must list the `groups` \
                     it may grant (e.g. groups = [\"physics\"]), so that one issuer's users cannot claim another's",
                    i.issuer
                );
            }
            if let Some(g) = i.groups.iter().flatten().find(|g| g.trim().is_empty()) {
                bail!("[[identity.issuers]] issuer {}: `groups` lists a blank group {g:?}", i.issuer);
            }
        }
        for (name, value) in [
            ("max_connections", self.http.max_connections.map(|n| n as u64)),
            ("header_read_timeout_secs", self.http.header_read_timeout_secs),
            ("idle_timeout_secs", self.http.idle_timeout_secs),
        ] {
            if value == Some(0) {
                bail!("[http] {name} must be at least 1");
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.providers {
            if !seen.insert(&p.name) {
                bail!("provider {} is defined twice", p.name);
            }
        }
        Ok(())
    }

    /// The data directory: the flag, the file, or `./nuvola-data`.
    pub fn data_dir(&self, flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_path_buf).or_else(|| self.data_dir.clone()).unwrap_or_else(|| PathBuf::from("nuvola-data"))
    }

    /// The application settings.
    pub fn settings(&self) -> Settings {
        let d = Settings::default();
        Settings {
            worker_concurrency: self.workers.concurrency.unwrap_or(d.worker_concurrency),
            poll_interval: self.workers.poll_interval_ms.map(Duration::from_millis).unwrap_or(d.poll_interval),
            lease: self.workers.lease_secs.map(Duration::from_secs).unwrap_or(d.lease),
            driver_call_timeout: self
                .workers
                .driver_call_timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(d.driver_call_timeout),
            default_timeout_mins: self.deployments.timeout_mins.unwrap_or(d.default_timeout_mins),
            default_provider_timeout_mins: self
                .deployments
                .provider_timeout_mins
                .unwrap_or(d.default_provider_timeout_mins),
            max_template_bytes: self.deployments.max_template_bytes.unwrap_or(d.max_template_bytes),
            max_deployments_per_user: self.deployments.max_per_user.unwrap_or(d.max_deployments_per_user),
            max_template_bytes_per_user: self
                .deployments
                .max_template_bytes_per_user
                .unwrap_or(d.max_template_bytes_per_user),
            weights: nuvola_placement::Weights {
                health: self.placement.health_weight.unwrap_or(d.weights.health),
                speed: self.placement.speed_weight.unwrap_or(d.weights.speed),
                capacity: self.placement.capacity_weight.unwrap_or(d.weights.capacity),
            },
            callback_allowed_prefixes: self.deployments.callback_allowed_prefixes.clone(),
            public_url: self.public_url.clone().unwrap_or(d.public_url),
            reconcile_interval: self
                .workers
                .reconcile_interval_secs
                .map(Duration::from_secs)
                .unwrap_or(d.reconcile_interval),
            orphan_scan_interval: self
                .workers
                .orphan_scan_interval_secs
                .map(Duration::from_secs)
                .unwrap_or(d.orphan_scan_interval),
            orphan_grace: self.workers.orphan_grace_secs.map(Duration::from_secs).unwrap_or(d.orphan_grace),
            smtp: self.notifications.clone(),
            restricted_services: self.catalogue.restricted.clone(),
            testing_groups: self.statistics.testing_groups.clone(),
            // Checked when the file was loaded.
            accounting: self.accounting.settings().unwrap_or_default(),
            sign_in: self.identity.sign_in.clone(),
            watch: nuvola_watch::WatchSettings {
                interval: self.status.probe_interval_secs.map(Duration::from_secs).unwrap_or(d.watch.interval),
                bound: self.status.probe_timeout_secs.map(Duration::from_secs).unwrap_or(d.watch.bound),
                backbone: self.status.backbone.clone(),
                issuers: self.identity.issuers.iter().map(|i| i.issuer.clone()).collect(),
                object_storage: self.status.object_storage_url.clone(),
                smtp: self.notifications.as_ref().map(|n| n.smtp.clone()),
                self_url: self.listening_at.clone(),
                alerts: self.alert_settings(),
                bulletin: match self.status.bulletin.as_deref() {
                    None | Some("week") => Some(nuvola_monitor::bulletin::Every::Week),
                    Some("day") => Some(nuvola_monitor::bulletin::Every::Day),
                    _ => None,
                },
                endpoint_interval: self
                    .status
                    .endpoint_interval_secs
                    .map(Duration::from_secs)
                    .unwrap_or(d.watch.endpoint_interval),
                canary: nuvola_watch::CanarySettings {
                    providers: self.status.canary_providers.clone(),
                    interval: self
                        .status
                        .canary_interval_secs
                        .map(Duration::from_secs)
                        .unwrap_or(d.watch.canary.interval),
                    phase_timeout: self
                        .status
                        .canary_timeout_secs
                        .map(Duration::from_secs)
                        .unwrap_or(d.watch.canary.phase_timeout),
                    call_timeout: self
                        .workers
                        .driver_call_timeout_secs
                        .map(Duration::from_secs)
                        .unwrap_or(d.driver_call_timeout),
                },
                ..d.watch
            },
            webhook_allowed_prefixes: self.status.webhook_allowed_prefixes.clone(),
            subscription_limits: d.subscription_limits,
        }
    }
}

impl Config {
    /// `[alerts]` as the watcher takes it.
    fn alert_settings(&self) -> nuvola_watch::AlertSettings {
        let a = &self.alerts;
        let d = nuvola_monitor::alerts::Rules::default();
        nuvola_watch::AlertSettings {
            rules: nuvola_monitor::alerts::Rules {
                malfunction_rounds: a.malfunction_rounds.unwrap_or(d.malfunction_rounds),
                exhaustion_ratio: a.exhaustion_percent.map_or(d.exhaustion_ratio, |p| p / 100.0),
                slow_ms: a.slow_ms.unwrap_or(d.slow_ms),
                ..d
            },
            operators: a.operators.clone(),
            webhooks: a
                .webhooks
                .iter()
                .map(|w| nuvola_watch::Webhook { url: w.url.clone(), secret: w.secret.clone() })
                .collect(),
            managers: a.managers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_loads_with_the_five_infn_like_providers() {
        let config = Config::load(None).unwrap();
        let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["backbone-bari", "backbone-cnaf", "cloudveneto", "recas-bari", "cloud-cnaf"]);
        let gpus: Vec<&str> =
            config.providers.iter().flat_map(|p| &p.flavors).filter_map(|f| f.gpu_model.as_deref()).collect();
        for model in ["T4", "V100", "A100"] {
            assert!(gpus.contains(&model), "no {model} flavor");
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(err.contains("listen_port") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn an_unknown_driver_is_refused_with_its_place_and_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let line = 1 + DEMO.lines().position(|l| l.trim() == "driver = \"sim\"").expect("a simulated provider");
        std::fs::write(&path, DEMO.replacen("driver = \"sim\"", "driver = \"vmware\"", 1)).unwrap();
        let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(err.contains("unknown driver \"vmware\": use one of sim, im, openstack"), "{err}");
        assert!(err.contains(&format!("line {line}")), "{err}");
    }

    #[test]
    fn http_limits_have_defaults_and_refuse_zero() {
        let limits = Config::load(None).unwrap().http.limits();
        assert!((16..=1024).contains(&limits.max_connections), "{limits:?}");
        assert_eq!(
            (limits.header_read_timeout, limits.idle_timeout),
            (Duration::from_secs(10), Duration::from_secs(60))
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, format!("{DEMO}\n[http]\nmax_connections = 8\nidle_timeout_secs = 5\n")).unwrap();
        let limits = Config::load(Some(&path)).unwrap().http.limits();
        assert_eq!((limits.max_connections, limits.idle_timeout), (8, Duration::from_secs(5)));
        std::fs::write(&path, format!("{DEMO}\n[http]\nheader_read_timeout_secs = 0\n")).unwrap();
        let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(err.contains("header_read_timeout_secs must be at least 1"), "{err}");
    }

    #[test]
    fn alerts_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let with = |alerts: &str| {
            let operators = "# operators = [\"cloud-ops@example.org\"]";
            assert!(DEMO.contains(operators));
            std::fs::write(&path, DEMO.replace(operators, alerts)).unwrap();
            Config::load(Some(&path))
        };
        let config =
            with("operators = [\"ops@infn.it\"]\nexhaustion_percent = 80\nmanagers = { physics = [\"lead@infn.it\"] }")
                .unwrap();
        let settings = config.settings().watch.alerts;
        assert_eq!(settings.operators, ["ops@infn.it"]);
        assert_eq!(settings.rules.exhaustion_ratio, 0.8);
        assert_eq!(settings.rules.malfunction_rounds, 3, "the default");
        assert_eq!(settings.managers["physics"], ["lead@infn.it"]);
        for (alerts, says) in [
            ("exhaustion_percent = 120", "[alerts] exhaustion_percent must be above 0 and at most 100"),
            ("operators = [\"ops\"]", "[alerts] \"ops\" is not an e-mail address"),
            ("webhooks = [{ url = \"ftp://x\", secret = \"0123456789abcdef\" }]", "url \"ftp://x\" must be http(s)"),
            ("webhooks = [{ url = \"https://x\", secret = \"short\" }]", "the secret must be at least 16 characters"),
        ] {
            let err = format!("{:#}", with(alerts).unwrap_err());
            assert!(err.contains(says), "{alerts}: {err}");
        }
    }

    #[test]
    fn accounting_publishers_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let with = |publisher: &str| {
            std::fs::write(&path, format!("[[accounting.publishers]]\n{publisher}\n\n{DEMO}")).unwrap();
            Config::load(Some(&path))
        };
        // printf %s secret | sha256sum
        let hash = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        let config = with(&format!("name = \"site-a\"\ntoken_sha256 = \"{hash}\"\nsites = [\"SITE-A\"]")).unwrap();
        let publishers = config.settings().accounting.publishers;
        assert_eq!(publishers.len(), 1);
        assert_eq!(
            (publishers[0].name.as_str(), publishers[0].sites.as_slice()),
            ("site-a", &["SITE-A".to_owned()][..])
        );
        assert_eq!(publishers[0].token_sha256[..2], [0x2b, 0xb8]);
        let err = format!("{:#}", with("name = \"x\"\ntoken_sha256 = \"abc\"\nsites = [\"S\"]").unwrap_err());
        assert!(err.contains("token_sha256 must be 64 hex digits"), "{err}");
        let err = format!("{:#}", with(&format!("name = \"x\"\ntoken_sha256 = \"{hash}\"\nsites = []")).unwrap_err());
        assert!(err.contains("at least one site"), "{err}");
    }

    #[test]
    fn the_canary_is_off_unless_providers_opt_in() {
        let off = Config::load(None).unwrap().settings().watch.canary;
        assert!(off.providers.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let with = |lines: &str| {
            std::fs::write(&path, DEMO.replace("[status]\n", &format!("[status]\n{lines}\n"))).unwrap();
            Config::load(Some(&path))
        };
        let config = with("canary_providers = [\"backbone-bari\"]\ncanary_timeout_secs = 300").unwrap();
        let canary = config.settings().watch.canary;
        assert_eq!(canary.providers, ["backbone-bari"]);
        assert_eq!((canary.interval, canary.phase_timeout), (Duration::from_secs(3600), Duration::from_secs(300)));
        assert_eq!(canary.call_timeout, Duration::from_secs(30), "the workers' driver call timeout");
        let err = format!("{:#}", with("canary_interval_secs = 5").unwrap_err());
        assert!(err.contains("[status] canary_interval_secs must be at least 60"), "{err}");
        let err = format!("{:#}", with("canary_timeout_secs = 0").unwrap_err());
        assert!(err.contains("[status] canary_timeout_secs must be at least 1"), "{err}");
    }

    #[test]
    fn external_issuers_turn_the_embedded_one_off_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let issuer = "\n[[identity.issuers]]\nissuer = \"https://iam.example.org/\"\naudience = \"nuvola\"\n\
                      groups_claim = \"wlcg.groups\"\ngroups_prefix = \"/\"\n";
        std::fs::write(&path, format!("{DEMO}{issuer}")).unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert!(!config.identity.embedded_enabled());
        assert_eq!(config.identity.issuers[0].groups_claim, "wlcg.groups");
        assert_eq!(config.identity.issuers[0].clock_skew_secs, 60);
        assert!(Config::load(None).unwrap().identity.embedded_enabled());
        let both = format!("{}{issuer}", DEMO.replace("[identity]\n", "[identity]\nembedded = true\n"));
        std::fs::write(&path, both).unwrap();
        assert!(Config::load(Some(&path)).unwrap().identity.embedded_enabled());
        std::fs::write(&path, format!("{DEMO}{}", issuer.replace("https://", "http://"))).unwrap();
        let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(err.contains("must use https"), "{err}");
    }

    #[test]
    fn sign_in_limits_are_read_from_identity_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let limits = "[identity.sign_in]\nattempts_per_account = 5\nconcurrent_password_checks = 2\n";
        std::fs::write(&path, format!("{DEMO}\n{limits}")).unwrap();
        let sign_in = Config::load(Some(&path)).unwrap().settings().sign_in;
        assert_eq!((sign_in.attempts_per_account, sign_in.concurrent_password_checks), (5, 2));
        assert_eq!(sign_in.attempts_per_client, nuvola_identity::SignInSettings::default().attempts_per_client);
        std::fs::write(&path, format!("{DEMO}\n[identity.sign_in]\nattempts = 5\n")).unwrap();
        let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(err.contains("unknown field `attempts`"), "{err}");
    }

    #[test]
    fn several_external_issuers_each_list_the_groups_they_grant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let issuer = |url: &str, groups: &str| {
            format!("\n[[identity.issuers]]\nissuer = \"{url}\"\naudience = \"nuvola\"\n{groups}")
        };
        let (a, b) = ("https://iam-a.example.org/", "https://iam-b.example.org/");
        std::fs::write(&path, format!("{DEMO}{}{}", issuer(a, "groups = [\"bio\"]\n"), issuer(b, ""))).unwrap();
        let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(err.contains(b) && err.contains("must list the `groups` it may grant"), "{err}");
        std::fs::write(
            &path,
            format!("{DEMO}{}{}", issuer(a, "groups = [\"bio\"]\n"), issuer(b, "groups = [\"physics\"]\n")),
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.identity.issuers[1].groups, Some(vec!["physics".to_string()]));
        // One external issuer alone needs no list.
        std::fs::write(&path, format!("{DEMO}{}", issuer(b, ""))).unwrap();
        assert!(Config::load(Some(&path)).unwrap().identity.issuers[0].groups.is_none());
    }
}
