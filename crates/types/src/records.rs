//! The records the store keeps and hands back: a deployment and what
//! changes with it in one transaction, its attempts and log, and access
//! requests. Plain data with the rules that read only their own fields; the
//! SQL that stores them, and the mapping of rows to them, stay in the
//! store.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deployment::{DeploymentStatus, Principal, REDACTED, Task, is_secret_input};
use crate::federation::Usage;
use crate::plan::Plan;
use crate::requirements::DeploymentRequirements;
use crate::spelled::{Spelled, spelled_traits};

/// Milliseconds since the Unix epoch: the clock records are stamped with.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A stored deployment. The app reads one, changes fields, and saves it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRecord {
    pub id: String,
    pub owner_subject: String,
    pub owner_issuer: String,
    /// The owner's e-mail address as their identity provider gave it when
    /// they created the deployment (nuvola mails them when its endpoints go
    /// down); `None` when it gave none.
    pub owner_email: Option<String>,
    pub user_group: String,
    /// The catalogue entry it was deployed from, if any.
    pub catalogue_id: Option<String>,
    pub description: Option<String>,
    pub status: DeploymentStatus,
    pub status_reason: Option<String>,
    /// What the orchestrator is doing.
    pub task: Task,
    /// The TOSCA text as submitted. Empty in listings, which do not load
    /// templates; saving a record with an empty one keeps the stored one.
    pub template: String,
    /// Parameters as submitted.
    pub parameters: serde_json::Map<String, Value>,
    /// Inputs after defaults and type coercion.
    pub inputs: serde_json::Map<String, Value>,
    /// The names of its secret inputs (declared so by its template): sealed
    /// at rest, masked in every view. Names that say they are secrets
    /// count too, whether listed here or not.
    pub secret_inputs: BTreeSet<String>,
    /// Why its secret inputs' values could not be read (another server's
    /// key, none): they are then missing from `parameters` and `inputs`,
    /// and stay as stored when the row is saved.
    pub secrets_unreadable: Option<String>,
    pub requirements: DeploymentRequirements,
    pub plan: Plan,
    /// Its outputs, sealed at rest when the store has a key (they may
    /// hold credentials).
    pub outputs: serde_json::Map<String, Value>,
    /// Why its stored outputs could not be read (another server's key,
    /// none): `outputs` is then empty, and saving it keeps what is stored
    /// until new outputs are set.
    pub outputs_unreadable: Option<String>,
    /// What the deployment holds on `provider`, for quota accounting.
    pub held: Usage,
    pub callback: Option<String>,
    pub timeout_mins: i64,
    pub provider_timeout_mins: i64,
    pub max_providers_retry: i64,
    pub keep_last_attempt: bool,
    /// The provider currently serving (or last tried).
    pub provider: Option<String>,
    pub endpoint: Option<String>,
    pub physical_id: Option<String>,
    /// The workflow's next step, opaque to the store; `None` when idle.
    pub workflow: Option<Value>,
    /// When a worker should run the next step; `None` when idle.
    pub next_run_at: Option<i64>,
    /// When the running operation gives up.
    pub deadline_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every save; guards against lost updates.
    pub revision: i64,
}

impl DeploymentRecord {
    /// A deployment of `group` by `owner_subject` at `owner_issuer` that
    /// came up (`CREATE_COMPLETE`), every other field empty or at its
    /// default: what tests and benchmarks that fill a store start from,
    /// changing the fields they care about.
    pub fn ready(id: &str, owner_subject: &str, owner_issuer: &str, group: &str) -> Self {
        DeploymentRecord {
            id: id.into(),
            owner_subject: owner_subject.into(),
            owner_issuer: owner_issuer.into(),
            owner_email: None,
            user_group: group.into(),
            catalogue_id: None,
            description: None,
            status: DeploymentStatus::CreateComplete,
            status_reason: None,
            task: Task::None,
            template: "tosca_definitions_version: tosca_simple_yaml_1_0\n".into(),
            parameters: Default::default(),
            inputs: Default::default(),
            secret_inputs: Default::default(),
            secrets_unreadable: None,
            requirements: Default::default(),
            plan: Default::default(),
            outputs: Default::default(),
            outputs_unreadable: None,
            held: Default::default(),
            callback: None,
            timeout_mins: 60,
            provider_timeout_mins: 30,
            max_providers_retry: 1,
            keep_last_attempt: false,
            provider: None,
            endpoint: None,
            physical_id: None,
            workflow: None,
            next_run_at: None,
            deadline_at: 0,
            created_at: 0,
            updated_at: 0,
            revision: 0,
        }
    }

    /// Whether `caller` created it.
    pub fn is_owned_by(&self, caller: &Principal) -> bool {
        self.owner_subject == caller.subject && self.owner_issuer == caller.issuer
    }

    /// The names of the secret inputs it was given.
    pub fn given_secrets(&self) -> Vec<&str> {
        self.parameters.keys().filter(|k| self.is_secret(k)).map(String::as_str).collect()
    }

    /// Whether `caller` may deploy it again with the same inputs: only its
    /// owner may reuse its secrets.
    pub fn reusable_by(&self, caller: &Principal) -> bool {
        self.is_owned_by(caller) || self.given_secrets().is_empty()
    }

    /// Whether input `name` holds a secret.
    pub fn is_secret(&self, name: &str) -> bool {
        self.secret_inputs.contains(name) || is_secret_input(name)
    }

    /// The values of its secret inputs, to keep out of messages.
    pub fn secret_values(&self) -> Vec<&Value> {
        let given = self.parameters.iter().chain(self.inputs.iter());
        given.filter(|(name, _)| self.is_secret(name)).map(|(_, v)| v).collect()
    }

    /// Its inputs as anyone may see them: every secret's value hidden.
    pub fn inputs_shown(&self) -> serde_json::Map<String, Value> {
        let hidden = |(k, v): (&String, &Value)| {
            let shown = if self.is_secret(k) { Value::String(REDACTED.into()) } else { v.clone() };
            (k.clone(), shown)
        };
        self.inputs.iter().map(hidden).collect()
    }
}

/// What a workflow step or an API request changes besides the row itself:
/// attempts to record and log lines to append, in the same transaction.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub attempts: Vec<AttemptRecord>,
    pub log: Vec<String>,
}

/// One line of a deployment's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Milliseconds since the epoch.
    pub at: i64,
    pub message: String,
}

/// Where an attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum AttemptState {
    /// Recorded; the driver may or may not have been asked to create it.
    Creating,
    /// The driver accepted it; servers are building.
    Building,
    /// Up and serving the deployment.
    Ready,
    /// Failed; its resources are being removed.
    Cleaning,
    /// Failed and removed.
    Cleaned,
    /// Failed, and removing it failed too: the reconciler retries.
    Orphaned,
    /// Failed and kept on purpose (`keepLastAttempt`).
    Kept,
    /// Being removed as part of a deployment delete.
    Deleting,
    /// Removed as part of a deployment delete.
    Deleted,
}

impl Spelled for AttemptState {
    const WHAT: &'static str = "attempt state";
    const ALL: &'static [AttemptState] = &[
        Self::Creating,
        Self::Building,
        Self::Ready,
        Self::Cleaning,
        Self::Cleaned,
        Self::Orphaned,
        Self::Kept,
        Self::Deleting,
        Self::Deleted,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Building => "building",
            Self::Ready => "ready",
            Self::Cleaning => "cleaning",
            Self::Cleaned => "cleaned",
            Self::Orphaned => "orphaned",
            Self::Kept => "kept",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
        }
    }
}

impl AttemptState {
    /// True while the provider may hold resources for the attempt.
    pub fn may_hold_resources(self) -> bool {
        !matches!(self, Self::Cleaned | Self::Deleted)
    }
}

/// One attempt of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub deployment_id: String,
    /// 1-based.
    pub number: i64,
    /// The id the driver tags resources with.
    pub attempt_id: String,
    pub provider: String,
    pub state: AttemptState,
    pub reason: Option<String>,
    pub started_at: i64,
    /// When it stopped building (ready, failed or kept).
    pub finished_at: Option<i64>,
    /// When it became cleaned or deleted; `None` before, and for attempts
    /// that ended before nuvola recorded this.
    pub ended_at: Option<i64>,
}

/// One request and, once decided, its decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccessRequest {
    pub id: String,
    pub subject: String,
    pub issuer: String,
    /// Where to notify the requester, if they gave an address.
    pub email: Option<String>,
    pub kind: RequestKind,
    /// The group or catalogue id asked for.
    pub target: String,
    pub reason: String,
    pub status: RequestStatus,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

/// What an access request asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum RequestKind {
    /// To join a group (`target` names it).
    #[default]
    Group,
    /// To use a restricted catalogue service (`target` is its id).
    Catalogue,
}

impl Spelled for RequestKind {
    const WHAT: &'static str = "request kind";
    const ALL: &'static [RequestKind] = &[Self::Group, Self::Catalogue];

    fn as_str(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Catalogue => "catalogue",
        }
    }
}

/// Where an access request stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum RequestStatus {
    /// Waiting for a decision.
    #[default]
    Pending,
    Approved,
    Rejected,
}

impl Spelled for RequestStatus {
    const WHAT: &'static str = "request status";
    const ALL: &'static [RequestStatus] = &[Self::Pending, Self::Approved, Self::Rejected];

    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
}

spelled_traits!(AttemptState, RequestKind, RequestStatus);
