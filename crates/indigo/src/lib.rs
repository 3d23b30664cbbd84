//! The INDIGO PaaS Orchestrator's wire formats, so that today's clients
//! (the INFN Cloud dashboard, orchent, scripts) work unchanged: how a
//! deployment and its resources look, how the orchestrator reads a request
//! (Jackson's coercions), and its vocabularies. No I/O: the API and the
//! callbacks hand in what they read and send what these functions give.
//!
//! The contract is the Java orchestrator's own source (indigo-dc/orchestrator
//! and the INFN fork): `DeploymentResource`, `BaseResource`,
//! `CloudProviderEndpointResource`, `NodeStates`, `DeploymentRequest`, and
//! `application.properties`, which omits null fields (`NON_NULL`) and
//! ignores unknown ones.

mod deployment;
mod request;
mod resources;

pub use deployment::{Link, deployment, infrastructure_id, link, time};
pub use request::{DeploymentRequest, statuses};
pub use resources::{NodeResource, NodeState, Nodes, TemplateNode, resource_uuid};
