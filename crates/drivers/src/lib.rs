//! Drivers: the one [`Driver`] trait every cloud back end implements, and
//! its implementations: `sim` (the simulator), `im` (an Infrastructure
//! Manager over its REST API) and `openstack` (Keystone, Nova, Neutron,
//! Cinder), the last two over the resilient HTTP client in `http`; and,
//! with the `testing` feature, what tests against the real clouds share.
//!
//! A driver provisions one *attempt* of a deployment on one provider. Every
//! call is idempotent on the attempt id: creating an attempt that already
//! exists continues it instead of duplicating resources, and deleting one
//! that is gone succeeds. That is what lets the durable workflow in the app
//! layer replay a step after a crash. Drivers never touch nuvola's store.

pub mod cloud_init;
pub mod http;
pub mod im;
pub mod login_key;
pub mod openstack;
pub mod private_files;
pub mod sim;
pub mod stomp;
#[cfg(feature = "testing")]
pub mod testing;
pub mod update;

use std::collections::BTreeMap;

use async_trait::async_trait;
use nuvola_types::{DriverKind, Flavor, NetworkKind, PortRequirement, Quota};
use serde::{Deserialize, Serialize};

/// Everything a driver needs to create one attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionRequest {
    /// The deployment this attempt belongs to.
    pub deployment_id: String,
    /// Unique per attempt; resources are tagged with it.
    pub attempt_id: String,
    /// The group's project/tenant on the provider.
    pub project: String,
    /// One entry per Compute node template.
    pub nodes: Vec<NodeProvision>,
    /// The deployment's TOSCA text, for drivers that hand the whole
    /// template to the provider (IM); others work from `nodes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The template's inputs after defaults and coercion, for `template`.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub inputs: serde_json::Map<String, serde_json::Value>,
}

/// One Compute node template, placed: `count` servers of `flavor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeProvision {
    pub name: String,
    pub count: u32,
    pub flavor: Flavor,
    pub image: String,
    /// Volumes per server.
    pub volumes: Vec<VolumeProvision>,
    pub ports: Vec<PortRequirement>,
    pub network: NetworkKind,
    /// A public IP besides what `network` says (an isolated node that is
    /// public too); see [`NodeProvision::needs_public_ip`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_ip: bool,
    /// What the node's servers are set up with at first boot (accounts,
    /// keys, packages); drivers that boot images pass it as cloud-init.
    #[serde(default, skip_serializing_if = "NodeSetup::is_empty")]
    pub setup: NodeSetup,
}

impl NodeProvision {
    /// Whether each server gets a public (floating) IP: every `Public`
    /// node, and others that ask for one besides.
    pub fn needs_public_ip(&self) -> bool {
        self.network == NetworkKind::Public || self.public_ip
    }
}

/// First-boot setup of a node's servers, from the template: the
/// `os_users` property (INDIGO `tosca.datatypes.indigo.User`), the `os`
/// capability's `credential`, and packages to install.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSetup {
    /// Accounts to create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<OsUser>,
    /// SSH public keys for the image's default user (`os.credential.token`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<String>,
    /// Distribution packages to install.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// The account of `users` to log in to with an SSH key: the node's
    /// endpoint credential (see [`crate::cloud_init::node_setups`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

impl NodeSetup {
    /// Whether there is nothing to set up.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.ssh_keys.is_empty() && self.packages.is_empty() && self.login.is_none()
    }

    /// Every SSH public key given, default user's first.
    pub fn all_keys(&self) -> impl Iterator<Item = &str> {
        self.ssh_keys.iter().map(String::as_str).chain(self.users.iter().filter_map(|u| u.ssh_key.as_deref()))
    }
}

/// One account on a node's servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsUser {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<String>,
    #[serde(default)]
    pub sudo: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

/// The console output of one server, for the deployment log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleLog {
    /// The server's name, e.g. `nuvola-<attempt>-vm-0`.
    pub server: String,
    /// The last lines the provider kept.
    pub text: String,
}

/// A volume to create and attach to each server of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeProvision {
    pub name: String,
    pub size_gb: u64,
    pub volume_type: Option<String>,
}

/// Where an attempt stands on the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AttemptState {
    /// Still being built; `detail` says what it waits for.
    Building { detail: String },
    /// Every server is up; attributes per node, one entry per instance.
    Ready { nodes: BTreeMap<String, Vec<InstanceAttributes>> },
    /// The provider gave up on it.
    Failed { reason: String },
    /// The provider holds nothing for this attempt.
    Absent,
}

/// Runtime attributes of one server, for TOSCA `get_attribute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAttributes {
    /// Provider-side server id (`tosca_id`).
    pub id: String,
    pub private_address: String,
    pub public_address: Option<String>,
    /// How to log in, as set up on the server (`endpoint.credential`);
    /// `None` when nothing was set up for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
}

impl InstanceAttributes {
    /// The attributes as TOSCA `get_attribute` reads them: `tosca_id`,
    /// `private_address`, `public_address` when there is one, and the
    /// `endpoint` capability's `credential` when there is one.
    pub fn tosca(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("tosca_id".into(), self.id.clone().into());
        m.insert("private_address".into(), self.private_address.clone().into());
        if let Some(public) = &self.public_address {
            m.insert("public_address".into(), public.clone().into());
        }
        if let Some(credential) = &self.credential {
            m.insert("endpoint".into(), serde_json::json!({ "credential": credential }));
        }
        m
    }
}

/// A login credential, in the shape of TOSCA's `tosca.datatypes.Credential`
/// as the Infrastructure Manager fills a Compute's `endpoint.credential`:
/// `{user}`, with `token_type` (`password`, `private_key`) and `token`
/// when the provider made a secret for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Credential {
    /// An account set up for a key the template gave
    /// ([`NodeSetup::login`]): the user alone, as IM reports it (the key
    /// is the user's own; no secret was made).
    pub fn account(user: impl Into<String>) -> Credential {
        Credential { user: user.into(), token_type: None, token: None }
    }
}

/// Whether a delete has finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteState {
    /// Some resources are still being removed; call again.
    InProgress,
    /// Nothing is left for the attempt.
    Gone,
}

/// One thing a provider holds for a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Provider-side id.
    pub id: String,
    pub kind: ResourceKind,
    /// Human name, e.g. `vm-0`.
    pub name: String,
    pub deployment_id: String,
    pub attempt_id: String,
    /// The node template it belongs to.
    pub node: String,
    /// Provider-side state, e.g. `BUILD`, `ACTIVE`, `in-use`.
    pub state: String,
    /// The project (group tenant) charged for it.
    pub project: String,
}

/// The kinds of resources a deployment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Server,
    Volume,
    Port,
    FloatingIp,
    SecurityGroup,
    Network,
}

/// How a driver call failed. Its `Display` is fit to show the deployment's
/// owner (it goes into attempt reasons and the deployment's status); what
/// only an operator should read (a raw answer's body, an address inside
/// the site, a transport error) is kept apart in [`Reason::cause`] and
/// logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The provider refused for lack of quota; trying elsewhere may work.
    #[error("quota exceeded: {0}")]
    Quota(Reason),
    /// The request is wrong for this provider (unknown flavor, image...).
    #[error("invalid request: {0}")]
    Invalid(Reason),
    /// The provider is unreachable or answered an error; may be retried.
    #[error("provider unavailable: {0}")]
    Unavailable(Reason),
    /// The provider failed the operation.
    #[error("{0}")]
    Failed(Reason),
}

/// Why a driver call failed: what the user may read, and what only the
/// log may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// In words the deployment's owner can act on.
    pub said: String,
    /// The details behind it, for the server log only.
    pub cause: Option<String>,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.said)
    }
}

impl DriverError {
    /// [`DriverError::Quota`] saying `said`.
    pub fn quota(said: impl Into<String>) -> Self {
        Self::Quota(Reason { said: said.into(), cause: None })
    }
    /// [`DriverError::Invalid`] saying `said`.
    pub fn invalid(said: impl Into<String>) -> Self {
        Self::Invalid(Reason { said: said.into(), cause: None })
    }
    /// [`DriverError::Unavailable`] saying `said`.
    pub fn unavailable(said: impl Into<String>) -> Self {
        Self::Unavailable(Reason { said: said.into(), cause: None })
    }
    /// [`DriverError::Failed`] saying `said`.
    pub fn failed(said: impl Into<String>) -> Self {
        Self::Failed(Reason { said: said.into(), cause: None })
    }

    /// The same error with `cause` kept for the log.
    pub fn because(mut self, cause: impl std::fmt::Display) -> Self {
        self.reason_mut().cause = Some(cause.to_string());
        self
    }

    /// Why it failed.
    pub fn reason(&self) -> &Reason {
        match self {
            Self::Quota(r) | Self::Invalid(r) | Self::Unavailable(r) | Self::Failed(r) => r,
        }
    }

    fn reason_mut(&mut self) -> &mut Reason {
        match self {
            Self::Quota(r) | Self::Invalid(r) | Self::Unavailable(r) | Self::Failed(r) => r,
        }
    }

    /// The details behind it, for the server log only.
    pub fn cause(&self) -> Option<&str> {
        self.reason().cause.as_deref()
    }

    /// The error as the server log should read it, cause included.
    pub fn logged(&self) -> String {
        match self.cause() {
            Some(cause) => format!("{self} ({cause})"),
            None => self.to_string(),
        }
    }
    /// The error a use case answers when `provider` failed it: the user
    /// reads which provider and what it said, the log gets the cause.
    pub fn on(self, provider: &str) -> nuvola_types::Error {
        let message = format!("provider {provider}: {self}");
        nuvola_types::Error::Internal { message, cause: self.reason().cause.clone() }
    }
}

/// One of a provider's health checks (see [`Driver::probe`]).
#[derive(Debug, Clone)]
pub struct Check {
    /// `auth`, `api`, `quota`.
    pub probe: &'static str,
    /// A short fact on success (`17 flavors`), the refusal otherwise.
    pub outcome: Result<String, DriverError>,
    pub latency_ms: u32,
    /// What a `quota` check read, for the alerts on quotas running out.
    pub quota: Option<ProjectQuota>,
}

impl Check {
    /// Runs `work`, timing it.
    pub async fn timed(
        probe: &'static str,
        work: impl std::future::Future<Output = Result<String, DriverError>>,
    ) -> Check {
        let started = std::time::Instant::now();
        let outcome = work.await;
        let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        Check { probe, outcome, latency_ms, quota: None }
    }
}

/// The `quota` check: `project`'s quota read, and how much of it is used.
pub async fn quota_check(driver: &(impl Driver + ?Sized), project: &str) -> Check {
    let mut read = None;
    let mut check = Check::timed("quota", async {
        read = driver.project_quota(project).await?;
        Ok(match &read {
            Some(q) => match (q.limits.cores, q.limits.instances) {
                (Some(cores), _) => format!("{project}: {} of {cores} cores used", q.used.cores),
                (None, Some(instances)) => format!("{project}: {} of {instances} instances used", q.used.instances),
                (None, None) => format!("{project}: no limits"),
            },
            None => format!("{project}: the provider does not report quotas"),
        })
    })
    .await;
    check.quota = read;
    check
}

/// Quota and usage of a project on a provider, where the driver knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectQuota {
    pub limits: Quota,
    pub used: nuvola_types::Usage,
}

/// A cloud back end. Implementations must be cheap to call concurrently.
#[async_trait]
pub trait Driver: Send + Sync {
    /// Starts creating the attempt's resources. Idempotent: if the attempt
    /// already exists, creates only what is missing and returns.
    async fn create(&self, request: &ProvisionRequest) -> Result<(), DriverError>;

    /// Reports where the attempt stands.
    async fn status(&self, attempt_id: &str) -> Result<AttemptState, DriverError>;

    /// Brings an existing attempt to `request`: scales nodes up or down,
    /// and, where [`Driver::update_support`] says so, resizes servers and
    /// grows volumes. Idempotent like [`Driver::create`].
    async fn update(&self, request: &ProvisionRequest) -> Result<(), DriverError>;

    /// What [`Driver::update`] can change on a running attempt.
    fn update_support(&self) -> update::UpdateSupport;

    /// What the attempt holds: per node, its servers with their flavors
    /// and volume sizes, as far as the provider tells.
    async fn footprint(&self, attempt_id: &str) -> Result<update::Footprint, DriverError>;

    /// Where an update to `request` stands: [`Driver::status`], but
    /// `Ready` only once the attempt holds what `request` asks for (as
    /// many servers, of its flavors, with volumes of its sizes); until
    /// then `Building`, saying what still differs.
    async fn update_status(&self, request: &ProvisionRequest) -> Result<AttemptState, DriverError> {
        let state = self.status(&request.attempt_id).await?;
        if !matches!(state, AttemptState::Ready { .. }) {
            return Ok(state);
        }
        let short = update::shortfall(request, &self.footprint(&request.attempt_id).await?);
        if short.is_empty() { Ok(state) } else { Ok(AttemptState::Building { detail: short.join(", ") }) }
    }

    /// Removes everything the attempt holds. Idempotent: an unknown attempt
    /// is [`DeleteState::Gone`].
    async fn delete(&self, attempt_id: &str) -> Result<DeleteState, DriverError>;

    /// Every resource held for the attempt.
    async fn resources(&self, attempt_id: &str) -> Result<Vec<Resource>, DriverError>;

    /// Every resource the provider holds, for leak checks and reconcilers.
    async fn inventory(&self) -> Result<Vec<Resource>, DriverError>;

    /// The project's quota and usage, when the provider can tell.
    async fn project_quota(&self, project: &str) -> Result<Option<ProjectQuota>, DriverError>;

    /// The provider's health checks, each timed, changing nothing: that
    /// its API answers (`api`), that it accepts nuvola's credentials
    /// (`auth`, where they are separate from the API call), and that
    /// `project`'s quota can be read (`quota`, when a project is named).
    async fn probe(&self, project: Option<&str>) -> Vec<Check> {
        let mut checks =
            vec![Check::timed("api", async { self.inventory().await.map(|r| format!("{} resources", r.len())) }).await];
        if let Some(project) = project {
            checks.push(quota_check(self, project).await);
        }
        checks
    }

    /// The console output of the attempt's servers, for the deployment
    /// log; empty where the provider keeps none.
    async fn console_log(&self, _attempt_id: &str) -> Result<Vec<ConsoleLog>, DriverError> {
        Ok(Vec::new())
    }
}

/// Polls `status` until the attempt is no longer building or `limit` has
/// passed, waiting `first` and then half as long again each time (with
/// jitter), at most `longest` between calls. Returns the last state.
pub async fn settle(
    driver: &dyn Driver,
    attempt_id: &str,
    first: std::time::Duration,
    longest: std::time::Duration,
    limit: std::time::Duration,
) -> Result<AttemptState, DriverError> {
    let start = std::time::Instant::now();
    let mut wait = first;
    loop {
        let state = driver.status(attempt_id).await?;
        if !matches!(state, AttemptState::Building { .. }) || start.elapsed() >= limit {
            return Ok(state);
        }
        let jitter = 0.85 + 0.3 * (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
        tokio::time::sleep(wait.mul_f64(jitter).min(limit.saturating_sub(start.elapsed()))).await;
        wait = (wait * 3 / 2).min(longest);
    }
}

/// Checks the settings of a provider whose driver talks to a real cloud
/// ([`DriverKind::is_remote`](nuvola_types::DriverKind::is_remote)).
pub fn check_remote(spec: &nuvola_types::ProviderSpec) -> Result<(), DriverError> {
    match spec.driver {
        DriverKind::Im => im::ImSettings::from_spec(spec).map(|_| ()),
        DriverKind::Openstack => openstack::OpenStackSettings::from_spec(spec).map(|_| ()),
        DriverKind::Sim => Err(not_remote(spec)),
    }
}

/// Opens the driver of a provider whose driver talks to a real cloud.
/// `state_dir` is where drivers keep their small journals (a folder per
/// driver kind is made under it).
pub fn open_remote(
    spec: &nuvola_types::ProviderSpec,
    state_dir: Option<&std::path::Path>,
) -> Result<std::sync::Arc<dyn Driver>, DriverError> {
    match spec.driver {
        DriverKind::Im => {
            let settings = im::ImSettings::from_spec(spec)?;
            let dir = state_dir.map(|d| d.join("im"));
            Ok(std::sync::Arc::new(im::ImDriver::open(spec, settings, dir.as_deref())?))
        }
        DriverKind::Openstack => {
            let settings = openstack::OpenStackSettings::from_spec(spec)?;
            Ok(std::sync::Arc::new(openstack::OpenStackDriver::open(spec, settings)?))
        }
        DriverKind::Sim => Err(not_remote(spec)),
    }
}

/// The simulator is the app's to open, not a remote driver.
fn not_remote(spec: &nuvola_types::ProviderSpec) -> DriverError {
    DriverError::invalid(format!("provider {}: the simulator is not a remote driver", spec.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_attributes_read_as_tosca_attributes() {
        let vm = InstanceAttributes {
            id: "vm-0".into(),
            private_address: "10.0.0.2".into(),
            public_address: Some("203.0.113.7".into()),
            credential: Some(Credential::account("cloudadm")),
        };
        assert_eq!(
            serde_json::Value::Object(vm.tosca()),
            serde_json::json!({"tosca_id": "vm-0", "private_address": "10.0.0.2", "public_address": "203.0.113.7",
                               "endpoint": {"credential": {"user": "cloudadm"}}})
        );
        let bare = InstanceAttributes { public_address: None, credential: None, ..vm };
        assert_eq!(
            serde_json::Value::Object(bare.tosca()),
            serde_json::json!({"tosca_id": "vm-0", "private_address": "10.0.0.2"})
        );
    }
}
