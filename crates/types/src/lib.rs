//! Shared vocabulary of nuvola: deployment states, what a deployment needs
//! (requirements), what a federation offers (providers, flavors, images,
//! quotas), the result of placement (a plan), the records the store keeps
//! (deployments, attempts, logs, access requests, canary runs), the one
//! domain error, the OAuth 2.0 / OpenID Connect messages exchanged with an
//! issuer, and the CSV fields of what users download.
//!
//! Every other crate speaks these types, so this crate depends on nothing
//! of nuvola's and does no I/O.

pub mod canary;
pub mod csv;
pub mod deployment;
pub mod error;
pub mod federation;
pub mod oauth;
pub mod plan;
pub mod records;
pub mod requirements;
pub mod secret;
pub mod spelled;
pub mod status;

pub use canary::{CanaryPhase, CanaryRun};
pub use deployment::{
    DeploymentStatus, MAX_TIMEOUT_MINS, Principal, REDACTED, Task, check_timeouts, deadline, is_secret_input,
    poll_delay_ms, redact_secrets,
};
pub use error::{Error, Logged, Result};
pub use federation::{
    DriverKind, Flavor, Image, MaintenanceWindow, Network, NetworkKind, ProviderGrant, ProviderSpec, Quota, RESOURCES,
    Usage, VolumeType,
};
pub use plan::{Candidate, FlavorSize, Hundredths, NodePlacement, Plan, ProviderVerdict, ScoreTerms};
pub use records::{
    AccessRequest, AttemptRecord, AttemptState, DeploymentRecord, LogLine, Progress, RequestKind, RequestStatus, now_ms,
};
pub use requirements::{
    ComputeRequirement, DeploymentRequirements, ImageRequirement, PlacementPolicy, PortRequirement, VolumeRequirement,
};
pub use spelled::{Spelled, UnknownValue};
pub use status::{ComponentState, Impact, IncidentStatus, MaintenanceKind, ProbeResult};
