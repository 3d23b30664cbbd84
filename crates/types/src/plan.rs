//! The result of placement: candidates in the order they will be tried, and
//! a verdict with reasons for every provider considered.
//!
//! A candidate keeps its choices as data (flavor sizes, score terms); the
//! words of an accepted verdict ("vm: flavor m1.medium (2 vCPU, 4096 MiB),
//! image ubuntu-22.04") are rendered from that data when the plan is shown
//! or serialised, so that planning itself formats nothing for the
//! providers that fit.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Ordered candidates and every provider's verdict.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Plan {
    /// Providers that fit, best first.
    pub candidates: Vec<Candidate>,
    /// One verdict per provider considered, accepted or not. An accepted
    /// verdict's reasons may be left empty: [`Plan::reasons_of`] renders
    /// them from its candidate.
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

    /// Why an update pinned to `provider` fits nowhere: that provider's
    /// rejection.
    pub fn no_fit_on(&self, provider: &str) -> String {
        let why = self.verdicts.iter().find(|v| v.provider == provider).map(|v| v.reasons.join("; "));
        format!("the updated deployment does not fit on {provider}: {}", why.as_deref().unwrap_or("not available"))
    }

    /// The reasons of `verdict`: its own, or for an accepted provider what
    /// was chosen there and how it scored.
    pub fn reasons(&self, verdict: &ProviderVerdict) -> Vec<String> {
        if verdict.accepted
            && verdict.reasons.is_empty()
            && let Some(c) = self.candidates.iter().find(|c| c.provider == verdict.provider)
        {
            return c.reasons();
        }
        verdict.reasons.clone()
    }

    /// The reasons given for `provider`, if it was considered.
    pub fn reasons_of(&self, provider: &str) -> Option<Vec<String>> {
        self.verdicts.iter().find(|v| v.provider == provider).map(|v| self.reasons(v))
    }
}

/// Serialised with every verdict's reasons written out.
impl Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'p> {
            candidates: &'p [Candidate],
            verdicts: Vec<ProviderVerdict>,
        }
        let verdicts = self
            .verdicts
            .iter()
            .map(|v| ProviderVerdict { provider: v.provider.clone(), accepted: v.accepted, reasons: self.reasons(v) })
            .collect();
        Wire { candidates: &self.candidates, verdicts }.serialize(serializer)
    }
}

/// A provider that fits, and how the deployment maps onto it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub provider: String,
    /// The SLA of the group used on this provider.
    pub sla_id: String,
    /// The SLA's priority weight (ranks before the score).
    #[serde(default = "one")]
    pub priority: f64,
    /// Higher is better; SLA priority dominates.
    pub score: f64,
    /// What the score is made of.
    #[serde(default)]
    pub terms: ScoreTerms,
    /// Per node template, in template order: the flavor and image chosen.
    pub nodes: Vec<NodePlacement>,
}

fn one() -> f64 {
    1.0
}

impl Candidate {
    /// What was chosen for the node template `name`.
    pub fn node(&self, name: &str) -> Option<&NodePlacement> {
        self.nodes.iter().find(|n| n.node == name)
    }

    /// The choices in words: one line per node, then the score.
    pub fn reasons(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.nodes.iter().map(ToString::to_string).collect();
        lines.push(format!("priority {}, score {} ({})", self.priority, Hundredths(self.score), self.terms));
        lines
    }
}

/// The terms of a candidate's score, each in `0..=1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreTerms {
    pub health: f64,
    pub speed: f64,
    pub capacity: f64,
    /// The provider's last probe failed (a penalty applies).
    #[serde(default)]
    pub probe_failed: bool,
}

impl fmt::Display for ScoreTerms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "health {}, speed {}, capacity {}",
            Hundredths(self.health),
            Hundredths(self.speed),
            Hundredths(self.capacity)
        )?;
        if self.probe_failed {
            f.write_str(", last probe failed")?;
        }
        Ok(())
    }
}

/// The flavor and image chosen for one node template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlacement {
    /// The node template's name.
    pub node: String,
    /// Instances of it (`scalable.count`).
    #[serde(default = "one_instance")]
    pub count: u32,
    pub flavor: String,
    pub image: String,
    /// The flavor's size, for people reading the plan.
    #[serde(default)]
    pub size: FlavorSize,
}

fn one_instance() -> u32 {
    1
}

/// What a flavor offers, as a plan shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlavorSize {
    pub vcpus: u32,
    pub ram_mb: u64,
    #[serde(default)]
    pub gpus: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
    #[serde(default)]
    pub infiniband: bool,
}

impl fmt::Display for FlavorSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} vCPU, {} MiB", self.vcpus, self.ram_mb)?;
        if self.gpus > 0 {
            write!(f, ", {} GPU", self.gpus)?;
            for part in [&self.gpu_vendor, &self.gpu_model].into_iter().flatten() {
                write!(f, " {part}")?;
            }
        }
        if self.infiniband {
            f.write_str(", InfiniBand")?;
        }
        Ok(())
    }
}

impl fmt::Display for NodePlacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.node)?;
        if self.count != 1 {
            write!(f, " ×{}", self.count)?;
        }
        write!(f, ": flavor {} ({}), image {}", self.flavor, self.size, self.image)
    }
}

/// A number with two decimals, e.g. `0.83`.
pub struct Hundredths(pub f64);

impl fmt::Display for Hundredths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = (self.0 * 100.0).round() as i64;
        let sign = if n < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", n.abs() / 100, n.abs() % 100)
    }
}

/// Why a provider was kept or dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderVerdict {
    pub provider: String,
    pub accepted: bool,
    /// For a rejection, each failed check; for an acceptance, what was
    /// chosen (possibly left to [`Plan::reasons`] to render).
    pub reasons: Vec<String>,
}
