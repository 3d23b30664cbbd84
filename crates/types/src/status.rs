//! The words of monitoring and of the public status page, shared by the
//! pure arithmetic (nuvola-monitor), the store that keeps them and the
//! pages that show them: a component's state, an incident's stage and
//! impact, a maintenance window's kind, and what one probe found.
//! The spellings are Atlassian Statuspage's, so that status aggregators
//! read nuvola's JSON as they read any other page.

use serde::{Deserialize, Serialize};

use crate::spelled::{Spelled, spelled_traits};

/// What the status page says of a component, from best to worst.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum ComponentState {
    #[default]
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
    /// Inside a maintenance window: set by the schedule, not by probes.
    UnderMaintenance,
}

impl Spelled for ComponentState {
    const WHAT: &'static str = "component state";
    const ALL: &'static [ComponentState] =
        &[Self::Operational, Self::DegradedPerformance, Self::PartialOutage, Self::MajorOutage, Self::UnderMaintenance];

    fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
            Self::UnderMaintenance => "under_maintenance",
        }
    }
}

impl ComponentState {
    /// As people read it: "Degraded performance".
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
            Self::UnderMaintenance => "Under maintenance",
        }
    }
}

/// Where an incident stands; each update moves it on (or back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum IncidentStatus {
    #[default]
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl Spelled for IncidentStatus {
    const WHAT: &'static str = "incident status";
    const ALL: &'static [IncidentStatus] = &[Self::Investigating, Self::Identified, Self::Monitoring, Self::Resolved];

    fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
        }
    }
}

/// How badly an incident hurts users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Impact {
    None,
    #[default]
    Minor,
    Major,
    Critical,
}

impl Spelled for Impact {
    const WHAT: &'static str = "impact";
    const ALL: &'static [Impact] = &[Self::None, Self::Minor, Self::Major, Self::Critical];

    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }
}

impl Impact {
    /// The state an incident of this impact puts a component it affects in
    /// when the operator names no other, as Statuspage's levels read: minor
    /// is degraded performance, major a partial outage, critical a major
    /// outage, none leaves it operational.
    pub fn component_state(self) -> ComponentState {
        match self {
            Self::None => ComponentState::Operational,
            Self::Minor => ComponentState::DegradedPerformance,
            Self::Major => ComponentState::PartialOutage,
            Self::Critical => ComponentState::MajorOutage,
        }
    }
}

/// What a scheduled maintenance does to a site, as EGI's GOCDB says it:
/// an outage takes it away (placement avoids it), at risk only warns that
/// it may falter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum MaintenanceKind {
    #[default]
    Outage,
    AtRisk,
}

impl Spelled for MaintenanceKind {
    const WHAT: &'static str = "maintenance kind";
    const ALL: &'static [MaintenanceKind] = &[Self::Outage, Self::AtRisk];

    fn as_str(self) -> &'static str {
        match self {
            Self::Outage => "outage",
            Self::AtRisk => "at_risk",
        }
    }
}

impl MaintenanceKind {
    /// As people read it: "at risk".
    pub fn label(self) -> &'static str {
        match self {
            Self::Outage => "outage",
            Self::AtRisk => "at risk",
        }
    }
}

/// How a status-page subscriber is told: by e-mail, or by a signed
/// webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum SubscriptionKind {
    #[default]
    Email,
    Webhook,
}

impl Spelled for SubscriptionKind {
    const WHAT: &'static str = "subscription kind";
    const ALL: &'static [SubscriptionKind] = &[Self::Email, Self::Webhook];

    fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }
}

spelled_traits!(ComponentState, IncidentStatus, Impact, MaintenanceKind, SubscriptionKind);

macro_rules! into_word {
    ($($ty:ty),+ $(,)?) => {$(
        impl From<$ty> for &'static str {
            fn from(value: $ty) -> &'static str {
                value.as_str()
            }
        }
    )+};
}
into_word!(ComponentState, IncidentStatus, Impact, MaintenanceKind, SubscriptionKind);

/// What one probe found at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// What was probed: a component's id (`compute/recas-bari`,
    /// `paas/store`) or a deployment's endpoint (`endpoint/<id>/<output>`).
    pub target: String,
    /// Which check, within the target: `auth`, `api`, `quota`, `canary`,
    /// `discovery`, `http`, `tcp`...
    pub probe: String,
    /// Milliseconds since the epoch, when the check started.
    pub at: i64,
    pub ok: bool,
    /// How long the check took, failed or not.
    pub latency_ms: u32,
    /// What went wrong, or a short fact on success (`HTTP 200`,
    /// `certificate expires in 41 days`); never a secret.
    pub detail: String,
}

/// An incident on the status page: what is wrong, how badly, where it
/// stands, what it affects, and what was said of it over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Chosen by whoever opens it (a short random id).
    pub id: String,
    pub title: String,
    pub impact: Impact,
    /// The latest update's status.
    pub status: IncidentStatus,
    /// Who opened it (`subject@issuer`).
    pub created_by: String,
    pub created_at: i64,
    /// When the latest update was posted.
    pub updated_at: i64,
    /// When it was resolved; `None` while open (or reopened).
    pub resolved_at: Option<i64>,
    /// What was said, newest first.
    pub updates: Vec<IncidentUpdate>,
    /// The components it affects, by component.
    pub components: Vec<AffectedComponent>,
}

/// One timestamped word on an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    /// Assigned by the store, increasing.
    pub seq: i64,
    pub at: i64,
    pub status: IncidentStatus,
    pub body: String,
    /// Who posted it.
    pub by: String,
}

/// A component an incident affects, and the state it puts it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedComponent {
    pub component: String,
    pub state: ComponentState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_statuspages() {
        for state in ComponentState::ALL {
            assert_eq!(ComponentState::parse(state.as_str()), Ok(*state));
            assert_eq!(serde_json::to_value(state).unwrap(), serde_json::json!(state.as_str()));
        }
        assert_eq!(ComponentState::DegradedPerformance.to_string(), "degraded_performance");
        assert!(ComponentState::Operational < ComponentState::MajorOutage);
        let e = serde_json::from_str::<IncidentStatus>("\"fixed\"").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown incident status \"fixed\": use one of investigating, identified, monitoring, resolved"
        );
        assert_eq!(serde_json::from_str::<MaintenanceKind>("\"at_risk\"").unwrap(), MaintenanceKind::AtRisk);
        assert_eq!(serde_json::from_str::<Impact>("\"critical\"").unwrap(), Impact::Critical);
        let states: Vec<ComponentState> = Impact::ALL.iter().map(|i| i.component_state()).collect();
        assert_eq!(
            states,
            [
                ComponentState::Operational,
                ComponentState::DegradedPerformance,
                ComponentState::PartialOutage,
                ComponentState::MajorOutage
            ]
        );
        assert_eq!(SubscriptionKind::parse("webhook"), Ok(SubscriptionKind::Webhook));
        assert!(SubscriptionKind::parse("sms").unwrap_err().to_string().contains("email, webhook"));
    }
}
