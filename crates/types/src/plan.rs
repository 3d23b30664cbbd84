//! The result of placement: candidates in the order they will be tried, and
//! a verdict with reasons for every provider considered.

use serde::{Deserialize, Serialize};

/// Ordered candidates and every provider's verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Providers that fit, best first.
    pub candidates: Vec<Candidate>,
    /// One verdict per provider considered, accepted or not.
    pub verdicts: Vec<ProviderVerdict>,
}

impl Plan {
    /// "No cloud provider meets the deployment requirements" with every
    /// rejection, for `statusReason` and 4xx answers.
    pub fn no_fit_message(&self) -> String {
        let mut msg = String::from("No cloud provider meets the deployment requirements");
        for v in self.verdicts.iter().filter(|v| !v.accepted) {
            msg.push_str(&format!("\n- {}: {}", v.provider, v.reasons.join("; ")));
        }
        msg
    }
}

/// A provider that fits, and how the deployment maps onto it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub provider: String,
    /// The SLA of the group used on this provider.
    pub sla_id: String,
    /// Higher is better; SLA priority dominates.
    pub score: f64,
    /// Per node template, in template order: the flavor and image chosen.
    pub nodes: Vec<NodePlacement>,
}

impl Candidate {
    /// What was chosen for the node template `name`.
    pub fn node(&self, name: &str) -> Option<&NodePlacement> {
        self.nodes.iter().find(|n| n.node == name)
    }
}

/// The flavor and image chosen for one node template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlacement {
    /// The node template's name.
    pub node: String,
    pub flavor: String,
    pub image: String,
}

/// Why a provider was kept or dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderVerdict {
    pub provider: String,
    pub accepted: bool,
    /// For a rejection, each failed check; for an acceptance, what was chosen.
    pub reasons: Vec<String>,
}
