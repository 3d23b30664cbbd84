//! The public status page's JSON in the shape of Atlassian Statuspage's
//! public API v2 (`/api/v2/summary.json`, `status.json`, `incidents.json`,
//! `scheduled-maintenances.json`), so that status aggregators and widgets
//! that read any Statuspage page read nuvola's too.
//!
//! Field names and values follow the public v2 API as Statuspage pages
//! serve it (e.g. <https://www.githubstatus.com/api/v2/summary.json>,
//! documented at <https://metastatuspage.com/api/v2/>): times are RFC 3339
//! with milliseconds (written here in UTC, `...T10:02:35.392Z`), a
//! component group is a pseudo-component with `group: true` and the ids
//! of its `components`, its members carry its `group_id`, and incidents
//! carry their `incident_updates` newest first with the
//! `affected_components` each update changed.
//!
//! Nuvola's inputs are plain structs built by the caller from its
//! records; nothing here reads a clock or a store. Rendering walks only
//! what is shown (the components, and the incidents and maintenances it
//! is given), with one index of components by id per call, so its cost
//! is proportional to the page, not to the history behind it: the caller
//! passes the newest incidents, not all of them.

use std::collections::HashMap;

use nuvola_types::{ComponentState, Impact, IncidentStatus, MaintenanceKind, Spelled};
use serde::Serialize;

use crate::maintenance::Phase;
use crate::timestamp::rfc3339;

/// The page itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// A stable id, e.g. the public host name.
    pub id: String,
    pub name: String,
    /// The public page's address.
    pub url: String,
    /// The IANA zone the page shows times in (`Europe/Rome`); the JSON's
    /// times themselves are UTC.
    pub time_zone: String,
    pub updated_at: i64,
}

/// One component (never a group: groups are named by their members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `clouds/recas-bari`, `paas/orchestrator`...
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The name of the group it is shown in ("Federated clouds"), if any.
    pub group: Option<String>,
    /// Its place on the page; groups take their first member's place.
    pub position: u32,
    pub state: ComponentState,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An incident and its updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: String,
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    /// A short link to the incident's page.
    pub shortlink: String,
    /// In any order; rendered newest first.
    pub updates: Vec<IncidentUpdate>,
    /// The ids of the components it affects.
    pub components: Vec<String>,
}

/// One timestamped update of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUpdate {
    pub id: String,
    pub status: IncidentStatus,
    pub body: String,
    pub created_at: i64,
    /// The components this update moved, from what state to what state.
    pub affected: Vec<AffectedComponent>,
}

/// A component an update moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedComponent {
    pub id: String,
    pub old_state: ComponentState,
    pub new_state: ComponentState,
}

/// A scheduled maintenance, from a provider's maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub id: String,
    pub name: String,
    /// Where it stands now ([`Phase::at`] the render's time).
    pub phase: Phase,
    pub kind: MaintenanceKind,
    pub scheduled_for: i64,
    pub scheduled_until: i64,
    /// When it was announced or last changed.
    pub updated_at: i64,
    /// The ids of the components it takes down or puts at risk.
    pub components: Vec<String>,
}

impl Maintenance {
    /// What the page and the feed say of it now, its kind first: "At risk:
    /// due to start in 2 days", "Outage: in progress, due to end in 4 hours".
    pub fn notice(&self) -> String {
        let kind = self.kind.label();
        let mut notice = String::with_capacity(kind.len() + 40);
        notice.extend(kind.chars().take(1).flat_map(char::to_uppercase));
        notice.push_str(&kind[kind.chars().next().map_or(0, char::len_utf8)..]);
        notice.push_str(": ");
        notice.push_str(&self.phase.announcement());
        notice
    }

    /// When its current phase began: when it was announced while scheduled,
    /// its start once in progress, its end once completed. Stable within a
    /// phase, so a feed reader sees it change only when it moves on.
    pub fn noticed_at(&self) -> i64 {
        match self.phase {
            Phase::Scheduled { .. } => self.updated_at,
            Phase::InProgress { .. } => self.scheduled_for,
            Phase::Completed => self.scheduled_until,
        }
    }
}

/// The page's overall indicator, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    /// The words Statuspage puts beside it at the top of the page.
    pub fn description(self) -> &'static str {
        match self {
            Indicator::None => "All Systems Operational",
            Indicator::Maintenance => "Service Under Maintenance",
            Indicator::Minor => "Minor Service Outage",
            Indicator::Major => "Partial System Outage",
            Indicator::Critical => "Major System Outage",
        }
    }

    fn of_impact(impact: Impact) -> Indicator {
        match impact {
            Impact::None => Indicator::None,
            Impact::Minor => Indicator::Minor,
            Impact::Major => Indicator::Major,
            Impact::Critical => Indicator::Critical,
        }
    }
}

/// The page's overall status, blended as Statuspage blends it ("Top-level
/// status and incident impact calculations",
/// <https://support.atlassian.com/statuspage/docs/top-level-status-and-incident-impact-calculations/>):
/// the worse of what the components say and the highest impact among the
/// unresolved incidents. From the components: all of them in a major
/// outage is a major system outage (critical), some of them a partial
/// system outage (major), as is all of them in a partial outage; some in
/// a partial outage, or any degraded, is a minor service outage (minor;
/// Statuspage words the degraded case "Partially Degraded Service", which
/// its indicator, minor, already tells); any under maintenance, or a
/// maintenance in progress, is service under maintenance; otherwise all
/// systems operational. No components and no incidents is operational.
pub fn status<'a>(
    components: &[Component],
    incidents: impl IntoIterator<Item = &'a Incident>,
    maintenances: &[Maintenance],
) -> Indicator {
    let count = |state: ComponentState| components.iter().filter(|c| c.state == state).count();
    let all = components.len();
    let (major, partial) = (count(ComponentState::MajorOutage), count(ComponentState::PartialOutage));
    let from_components = if major > 0 && major == all {
        Indicator::Critical
    } else if major > 0 || (partial > 0 && partial == all) {
        Indicator::Major
    } else if partial > 0 || count(ComponentState::DegradedPerformance) > 0 {
        Indicator::Minor
    } else if count(ComponentState::UnderMaintenance) > 0
        || maintenances.iter().any(|m| matches!(m.phase, Phase::InProgress { .. }))
    {
        Indicator::Maintenance
    } else {
        Indicator::None
    };
    incidents
        .into_iter()
        .filter(|i| i.status != IncidentStatus::Resolved)
        .map(|i| Indicator::of_impact(i.impact))
        .fold(from_components, Ord::max)
}

/// `summary.json`: the page, its components with their groups, the
/// unresolved incidents among `incidents`, the maintenances not yet
/// completed and the overall status.
pub fn summary_json(
    page: &Page,
    components: &[Component],
    incidents: &[Incident],
    maintenances: &[Maintenance],
) -> String {
    let index = Index::new(page, components);
    let unresolved: Vec<&Incident> = incidents.iter().filter(|i| i.status != IncidentStatus::Resolved).collect();
    let open: Vec<&Maintenance> = maintenances.iter().filter(|m| m.phase != Phase::Completed).collect();
    let indicator = status(components, unresolved.iter().copied(), maintenances);
    let body = Summary {
        page: page_json(page),
        components: index.listing(),
        incidents: newest_first(unresolved, |i| i.created_at).into_iter().map(|i| index.incident(i)).collect(),
        scheduled_maintenances: soonest_first(open).into_iter().map(|m| index.maintenance(m)).collect(),
        status: status_json_of(indicator),
    };
    serde_json::to_string(&body).expect("the summary serializes")
}

/// `status.json`: the page and its overall status.
pub fn status_json(
    page: &Page,
    components: &[Component],
    incidents: &[Incident],
    maintenances: &[Maintenance],
) -> String {
    let indicator = status(components, incidents, maintenances);
    let body = StatusOnly { page: page_json(page), status: status_json_of(indicator) };
    serde_json::to_string(&body).expect("the status serializes")
}

/// `incidents.json`: the given incidents (the caller picks which, e.g. the
/// 50 newest), newest first.
pub fn incidents_json(page: &Page, components: &[Component], incidents: &[Incident]) -> String {
    let index = Index::new(page, components);
    let body = Incidents {
        page: page_json(page),
        incidents: newest_first(incidents.iter().collect(), |i| i.created_at)
            .into_iter()
            .map(|i| index.incident(i))
            .collect(),
    };
    serde_json::to_string(&body).expect("the incidents serialize")
}

/// `components.json`: the page and its components with their groups, in
/// the page's order (as in the summary).
pub fn components_json(page: &Page, components: &[Component]) -> String {
    let index = Index::new(page, components);
    let body = Components { page: page_json(page), components: index.listing() };
    serde_json::to_string(&body).expect("the components serialize")
}

/// `scheduled-maintenances.json`: the given maintenances, soonest first.
pub fn scheduled_maintenances_json(page: &Page, components: &[Component], maintenances: &[Maintenance]) -> String {
    let index = Index::new(page, components);
    let body = Maintenances {
        page: page_json(page),
        scheduled_maintenances: soonest_first(maintenances.iter().collect())
            .into_iter()
            .map(|m| index.maintenance(m))
            .collect(),
    };
    serde_json::to_string(&body).expect("the maintenances serialize")
}

/// A group's id: its name in lower case with runs of anything but letters
/// and digits as one `-` ("Federated clouds" is `federated-clouds`). It
/// cannot clash with a component's id, which always holds a `/`.
pub fn group_id(name: &str) -> String {
    let mut id = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            id.push(c);
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    while id.ends_with('-') {
        id.pop();
    }
    id
}

fn newest_first<T>(mut items: Vec<&T>, at: impl Fn(&T) -> i64) -> Vec<&T> {
    items.sort_by_key(|i| std::cmp::Reverse(at(i)));
    items
}

fn soonest_first(mut items: Vec<&Maintenance>) -> Vec<&Maintenance> {
    items.sort_by_key(|m| (m.scheduled_for, m.id.as_str()));
    items
}

fn page_json(page: &Page) -> PageJson<'_> {
    PageJson {
        id: &page.id,
        name: &page.name,
        url: &page.url,
        time_zone: &page.time_zone,
        updated_at: rfc3339(page.updated_at),
    }
}

fn status_json_of(indicator: Indicator) -> StatusJson {
    StatusJson { indicator, description: indicator.description() }
}

/// The components by id, and the groups they form, for one render.
struct Index<'a> {
    page: &'a Page,
    components: &'a [Component],
    by_id: HashMap<&'a str, &'a Component>,
}

impl<'a> Index<'a> {
    fn new(page: &'a Page, components: &'a [Component]) -> Index<'a> {
        Index { page, components, by_id: components.iter().map(|c| (c.id.as_str(), c)).collect() }
    }

    /// Every component in page order: ungrouped components and groups by
    /// position (a group at its first member's), each group followed by its
    /// members; a group's state is its worst member's.
    fn listing(&self) -> Vec<ComponentJson<'a>> {
        let mut members = self.components.iter().collect::<Vec<_>>();
        members.sort_by_key(|c| (c.position, c.id.as_str()));
        // Top-level entries: (position, the group's index if a group, its first component).
        let mut groups: Vec<(&str, Vec<&Component>)> = Vec::new();
        let mut top: Vec<(u32, Option<usize>, &Component)> = Vec::new();
        for c in members {
            match &c.group {
                None => top.push((c.position, None, c)),
                Some(name) => match groups.iter_mut().position(|(n, _)| n == name) {
                    Some(at) => groups[at].1.push(c),
                    None => {
                        top.push((c.position, Some(groups.len()), c));
                        groups.push((name, vec![c]));
                    }
                },
            }
        }
        let mut out = Vec::with_capacity(self.components.len() + groups.len());
        for (position, group, first) in top {
            let Some(at) = group else {
                out.push(self.component(first, None));
                continue;
            };
            let (name, members) = &groups[at];
            let id = group_id(name);
            out.push(ComponentJson {
                id: id.clone().into(),
                name,
                status: members.iter().map(|m| m.state).max().unwrap_or_default(),
                created_at: rfc3339(members.iter().map(|m| m.created_at).min().unwrap_or(first.created_at)),
                updated_at: rfc3339(members.iter().map(|m| m.updated_at).max().unwrap_or(first.updated_at)),
                position,
                description: None,
                showcase: false,
                start_date: None,
                group_id: None,
                page_id: &self.page.id,
                group: true,
                only_show_if_degraded: false,
                components: Some(members.iter().map(|m| m.id.as_str()).collect()),
            });
            for m in members {
                out.push(self.component(m, Some(id.clone())));
            }
        }
        out
    }

    fn component(&self, c: &'a Component, group: Option<String>) -> ComponentJson<'a> {
        ComponentJson {
            id: c.id.as_str().into(),
            name: &c.name,
            status: c.state,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            position: c.position,
            description: c.description.as_deref(),
            showcase: true,
            start_date: None,
            group_id: group.or_else(|| c.group.as_deref().map(group_id)),
            page_id: &self.page.id,
            group: false,
            only_show_if_degraded: false,
            components: None,
        }
    }

    /// The components named by `ids` that the page still has; a component
    /// retired since an old incident is left out rather than invented.
    fn named(&self, ids: &'a [String]) -> Vec<ComponentJson<'a>> {
        ids.iter().filter_map(|id| self.by_id.get(id.as_str())).map(|c| self.component(c, None)).collect()
    }

    fn incident(&self, i: &'a Incident) -> IncidentJson<'a> {
        let mut updates = i.updates.iter().collect::<Vec<_>>();
        updates.sort_by_key(|u| std::cmp::Reverse(u.created_at));
        let monitoring_at =
            updates.iter().find(|u| u.status == IncidentStatus::Monitoring).map(|u| rfc3339(u.created_at));
        IncidentJson {
            id: &i.id,
            name: &i.name,
            status: i.status.as_str(),
            created_at: rfc3339(i.created_at),
            updated_at: rfc3339(i.updated_at),
            monitoring_at,
            resolved_at: i.resolved_at.map(rfc3339),
            impact: i.impact.as_str(),
            shortlink: &i.shortlink,
            started_at: rfc3339(i.created_at),
            page_id: &self.page.id,
            incident_updates: updates
                .into_iter()
                .map(|u| UpdateJson {
                    id: u.id.as_str().into(),
                    status: u.status.as_str(),
                    body: u.body.as_str().into(),
                    incident_id: &i.id,
                    created_at: rfc3339(u.created_at),
                    updated_at: rfc3339(u.created_at),
                    display_at: rfc3339(u.created_at),
                    affected_components: u
                        .affected
                        .iter()
                        .map(|a| AffectedJson {
                            code: &a.id,
                            name: self.by_id.get(a.id.as_str()).map_or(a.id.as_str(), |c| c.name.as_str()),
                            old_status: a.old_state,
                            new_status: a.new_state,
                        })
                        .collect(),
                    deliver_notifications: true,
                    custom_tweet: None,
                    tweet_id: None,
                })
                .collect(),
            components: self.named(&i.components),
            scheduled_for: None,
            scheduled_until: None,
        }
    }

    /// A maintenance as Statuspage shows a scheduled incident: impact
    /// `maintenance`, its phase as status, and one update saying what it
    /// does ("Outage: due to start in 2 days").
    fn maintenance(&self, m: &'a Maintenance) -> IncidentJson<'a> {
        let said_at = m.noticed_at();
        let body = m.notice();
        IncidentJson {
            id: &m.id,
            name: &m.name,
            status: m.phase.as_str(),
            created_at: rfc3339(m.updated_at),
            updated_at: rfc3339(said_at),
            monitoring_at: None,
            resolved_at: (m.phase == Phase::Completed).then(|| rfc3339(m.scheduled_until)),
            impact: "maintenance",
            shortlink: &self.page.url,
            started_at: rfc3339(m.scheduled_for),
            page_id: &self.page.id,
            incident_updates: vec![UpdateJson {
                id: format!("{}-{}", m.id, m.phase.as_str()).into(),
                status: m.phase.as_str(),
                body: body.into(),
                incident_id: &m.id,
                created_at: rfc3339(said_at),
                updated_at: rfc3339(said_at),
                display_at: rfc3339(said_at),
                affected_components: Vec::new(),
                deliver_notifications: true,
                custom_tweet: None,
                tweet_id: None,
            }],
            components: self.named(&m.components),
            scheduled_for: Some(rfc3339(m.scheduled_for)),
            scheduled_until: Some(rfc3339(m.scheduled_until)),
        }
    }
}

type Text<'a> = std::borrow::Cow<'a, str>;

#[derive(Serialize)]
struct Summary<'a> {
    page: PageJson<'a>,
    components: Vec<ComponentJson<'a>>,
    incidents: Vec<IncidentJson<'a>>,
    scheduled_maintenances: Vec<IncidentJson<'a>>,
    status: StatusJson,
}

#[derive(Serialize)]
struct StatusOnly<'a> {
    page: PageJson<'a>,
    status: StatusJson,
}

#[derive(Serialize)]
struct Incidents<'a> {
    page: PageJson<'a>,
    incidents: Vec<IncidentJson<'a>>,
}

#[derive(Serialize)]
struct Components<'a> {
    page: PageJson<'a>,
    components: Vec<ComponentJson<'a>>,
}

#[derive(Serialize)]
struct Maintenances<'a> {
    page: PageJson<'a>,
    scheduled_maintenances: Vec<IncidentJson<'a>>,
}

#[derive(Serialize)]
struct PageJson<'a> {
    id: &'a str,
    name: &'a str,
    url: &'a str,
    time_zone: &'a str,
    updated_at: String,
}

#[derive(Serialize)]
struct StatusJson {
    indicator: Indicator,
    description: &'static str,
}

#[derive(Serialize)]
struct ComponentJson<'a> {
    id: Text<'a>,
    name: &'a str,
    status: ComponentState,
    created_at: String,
    updated_at: String,
    position: u32,
    description: Option<&'a str>,
    showcase: bool,
    start_date: Option<&'a str>,
    group_id: Option<String>,
    page_id: &'a str,
    group: bool,
    only_show_if_degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<Vec<&'a str>>,
}

#[derive(Serialize)]
struct IncidentJson<'a> {
    id: &'a str,
    name: &'a str,
    status: &'static str,
    created_at: String,
    updated_at: String,
    monitoring_at: Option<String>,
    resolved_at: Option<String>,
    impact: &'static str,
    shortlink: &'a str,
    started_at: String,
    page_id: &'a str,
    incident_updates: Vec<UpdateJson<'a>>,
    components: Vec<ComponentJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_until: Option<String>,
}

#[derive(Serialize)]
struct UpdateJson<'a> {
    id: Text<'a>,
    status: &'static str,
    body: Text<'a>,
    incident_id: &'a str,
    created_at: String,
    updated_at: String,
    display_at: String,
    affected_components: Vec<AffectedJson<'a>>,
    deliver_notifications: bool,
    custom_tweet: Option<&'a str>,
    tweet_id: Option<&'a str>,
}

#[derive(Serialize)]
struct AffectedJson<'a> {
    code: &'a str,
    name: &'a str,
    old_status: ComponentState,
    new_status: ComponentState,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const T0: i64 = 1_715_680_955_392; // 2024-05-14T10:02:35.392Z
    const HOUR: i64 = 3_600_000;

    fn page() -> Page {
        Page {
            id: "status.cloud.example.org".into(),
            name: "Example Cloud".into(),
            url: "https://status.cloud.example.org".into(),
            time_zone: "Europe/Rome".into(),
            updated_at: T0,
        }
    }

    fn component(id: &str, group: Option<&str>, position: u32, state: ComponentState) -> Component {
        Component {
            id: id.into(),
            name: id.rsplit('/').next().unwrap().into(),
            description: None,
            group: group.map(Into::into),
            position,
            state,
            created_at: T0 - 100 * HOUR,
            updated_at: T0 - HOUR,
        }
    }

    fn incident(id: &str, status: IncidentStatus, impact: Impact, created_at: i64, components: &[&str]) -> Incident {
        Incident {
            id: id.into(),
            name: format!("Incident {id}"),
            status,
            impact,
            created_at,
            updated_at: created_at + HOUR,
            resolved_at: (status == IncidentStatus::Resolved).then_some(created_at + HOUR),
            shortlink: format!("https://status.cloud.example.org/incidents/{id}"),
            updates: vec![
                IncidentUpdate {
                    id: format!("{id}-1"),
                    status: IncidentStatus::Investigating,
                    body: "We are looking into it.".into(),
                    created_at,
                    affected: components
                        .iter()
                        .map(|c| AffectedComponent {
                            id: (*c).into(),
                            old_state: ComponentState::Operational,
                            new_state: ComponentState::MajorOutage,
                        })
                        .collect(),
                },
                IncidentUpdate {
                    id: format!("{id}-2"),
                    status,
                    body: "Update.".into(),
                    created_at: created_at + HOUR,
                    affected: vec![],
                },
            ],
            components: components.iter().map(|c| (*c).into()).collect(),
        }
    }

    fn federation() -> Vec<Component> {
        use ComponentState::*;
        vec![
            component("paas/orchestrator", Some("PaaS services"), 30, Operational),
            component("clouds/cloudveneto", Some("Federated clouds"), 21, Operational),
            component("clouds/recas-bari", Some("Federated clouds"), 20, PartialOutage),
            component("federation/object-storage", Some("Federation services"), 10, Operational),
            component("extra/lonely", None, 15, Operational),
        ]
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("valid JSON")
    }

    #[test]
    fn the_overall_status_blends_components_and_unresolved_incidents() {
        use ComponentState::*;
        let of = |states: &[ComponentState]| {
            let cs: Vec<_> =
                states.iter().enumerate().map(|(n, s)| component(&format!("g/{n}"), None, 0, *s)).collect();
            status(&cs, &[], &[])
        };
        assert_eq!(of(&[]), Indicator::None);
        assert_eq!(of(&[Operational, Operational]), Indicator::None);
        assert_eq!(of(&[Operational, UnderMaintenance]), Indicator::Maintenance);
        assert_eq!(of(&[Operational, DegradedPerformance]), Indicator::Minor);
        assert_eq!(of(&[Operational, PartialOutage]), Indicator::Minor);
        assert_eq!(of(&[PartialOutage, PartialOutage]), Indicator::Major);
        assert_eq!(of(&[Operational, MajorOutage]), Indicator::Major);
        assert_eq!(of(&[MajorOutage, MajorOutage]), Indicator::Critical);
        // One component: its state alone says it, as Statuspage's page-of-one rules.
        assert_eq!(of(&[MajorOutage]), Indicator::Critical);
        assert_eq!(of(&[PartialOutage]), Indicator::Major);
        assert_eq!(Indicator::Critical.description(), "Major System Outage");
        assert_eq!(Indicator::Major.description(), "Partial System Outage");

        let fine = vec![component("g/a", None, 0, Operational)];
        let critical = incident("1", IncidentStatus::Identified, Impact::Critical, T0, &[]);
        let resolved = incident("2", IncidentStatus::Resolved, Impact::Critical, T0, &[]);
        assert_eq!(status(&fine, [&critical], &[]), Indicator::Critical, "an open incident outranks the components");
        assert_eq!(status(&fine, [&resolved], &[]), Indicator::None, "a resolved one no longer counts");
        let minor = incident("3", IncidentStatus::Monitoring, Impact::None, T0, &[]);
        let down = vec![component("g/a", None, 0, MajorOutage), component("g/b", None, 0, Operational)];
        assert_eq!(status(&down, [&minor], &[]), Indicator::Major, "the components outrank a milder incident");

        let in_progress = Maintenance {
            id: "m".into(),
            name: "Upgrade".into(),
            phase: Phase::InProgress { ends_in_ms: HOUR },
            kind: MaintenanceKind::Outage,
            scheduled_for: T0,
            scheduled_until: T0 + HOUR,
            updated_at: T0,
            components: vec![],
        };
        assert_eq!(status(&fine, [], std::slice::from_ref(&in_progress)), Indicator::Maintenance);
    }

    #[test]
    fn status_json_is_the_page_and_its_status() {
        let body = parse(&status_json(&page(), &federation(), &[], &[]));
        assert_eq!(
            body,
            json!({
                "page": {
                    "id": "status.cloud.example.org",
                    "name": "Example Cloud",
                    "url": "https://status.cloud.example.org",
                    "time_zone": "Europe/Rome",
                    "updated_at": "2024-05-14T10:02:35.392Z",
                },
                "status": {"indicator": "minor", "description": "Minor Service Outage"},
            })
        );
    }

    #[test]
    fn groups_are_pseudo_components_listing_their_members() {
        let body = parse(&summary_json(&page(), &federation(), &[], &[]));
        let listed: Vec<(&str, Option<&str>, bool)> = body["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap(), c["group_id"].as_str(), c["group"].as_bool().unwrap()))
            .collect();
        assert_eq!(
            listed,
            [
                ("federation-services", None, true),
                ("federation/object-storage", Some("federation-services"), false),
                ("extra/lonely", None, false),
                ("federated-clouds", None, true),
                ("clouds/recas-bari", Some("federated-clouds"), false),
                ("clouds/cloudveneto", Some("federated-clouds"), false),
                ("paas-services", None, true),
                ("paas/orchestrator", Some("paas-services"), false),
            ]
        );
        let clouds = &body["components"][3];
        assert_eq!(clouds["name"], "Federated clouds");
        assert_eq!(clouds["status"], "partial_outage", "a group shows its worst member");
        assert_eq!(clouds["components"], json!(["clouds/recas-bari", "clouds/cloudveneto"]));
        assert_eq!(clouds["position"], 20);
        let bari = &body["components"][4];
        assert_eq!(
            bari,
            &json!({
                "id": "clouds/recas-bari",
                "name": "recas-bari",
                "status": "partial_outage",
                "created_at": "2024-05-10T06:02:35.392Z",
                "updated_at": "2024-05-14T09:02:35.392Z",
                "position": 20,
                "description": null,
                "showcase": true,
                "start_date": null,
                "group_id": "federated-clouds",
                "page_id": "status.cloud.example.org",
                "group": false,
                "only_show_if_degraded": false,
            })
        );
        assert_eq!(body["status"]["indicator"], "minor");
        assert_eq!(body["incidents"], json!([]));
        assert_eq!(group_id("  Backbone sites (INFN) "), "backbone-sites-infn");
        // components.json lists the same, with the page and nothing else.
        let only = parse(&components_json(&page(), &federation()));
        assert_eq!(only["components"], body["components"]);
        let keys: Vec<&String> = only.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["page", "components"]);
    }

    #[test]
    fn the_summary_shows_unresolved_incidents_with_their_updates_newest_first() {
        let incidents = vec![
            incident("old", IncidentStatus::Resolved, Impact::Major, T0 - 48 * HOUR, &["clouds/recas-bari"]),
            incident("new", IncidentStatus::Monitoring, Impact::Major, T0 - 2 * HOUR, &["clouds/recas-bari", "gone/x"]),
        ];
        let body = parse(&summary_json(&page(), &federation(), &incidents, &[]));
        assert_eq!(body["status"], json!({"indicator": "major", "description": "Partial System Outage"}));
        let shown = body["incidents"].as_array().unwrap();
        assert_eq!(shown.len(), 1, "resolved incidents are not in the summary");
        let i = &shown[0];
        assert_eq!(i["id"], "new");
        assert_eq!(i["status"], "monitoring");
        assert_eq!(i["impact"], "major");
        assert_eq!(i["created_at"], "2024-05-14T08:02:35.392Z");
        assert_eq!(i["monitoring_at"], "2024-05-14T09:02:35.392Z");
        assert_eq!(i["resolved_at"], Value::Null);
        assert_eq!(i["shortlink"], "https://status.cloud.example.org/incidents/new");
        let updates = i["incident_updates"].as_array().unwrap();
        assert_eq!(updates[0]["id"], "new-2", "newest update first");
        assert_eq!(updates[1]["status"], "investigating");
        assert_eq!(updates[1]["incident_id"], "new");
        assert_eq!(
            updates[1]["affected_components"],
            json!([
                {"code": "clouds/recas-bari", "name": "recas-bari", "old_status": "operational", "new_status": "major_outage"},
                {"code": "gone/x", "name": "gone/x", "old_status": "operational", "new_status": "major_outage"},
            ])
        );
        let named: Vec<&str> = i["components"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(named, ["clouds/recas-bari"], "a retired component is left out");

        let all = parse(&incidents_json(&page(), &federation(), &incidents));
        let ids: Vec<&str> = all["incidents"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["new", "old"]);
        assert_eq!(all["incidents"][1]["resolved_at"], "2024-05-12T11:02:35.392Z");
    }

    #[test]
    fn maintenances_are_scheduled_incidents_announced_with_their_kind() {
        let window = |id: &str, start: i64, kind| Maintenance {
            id: id.into(),
            name: format!("Upgrade {id}"),
            phase: Phase::at(start, start + 4 * HOUR, T0),
            kind,
            scheduled_for: start,
            scheduled_until: start + 4 * HOUR,
            updated_at: T0 - 24 * HOUR,
            components: vec!["clouds/cloudveneto".into()],
        };
        let maintenances = vec![
            window("later", T0 + 48 * HOUR, MaintenanceKind::AtRisk),
            window("done", T0 - 10 * HOUR, MaintenanceKind::Outage),
            window("now", T0 - HOUR, MaintenanceKind::Outage),
        ];
        let body = parse(&summary_json(&page(), &federation(), &[], &maintenances));
        let shown = body["scheduled_maintenances"].as_array().unwrap();
        let ids: Vec<&str> = shown.iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["now", "later"], "completed ones are left out, the soonest first");
        assert_eq!(shown[0]["status"], "in_progress");
        assert_eq!(shown[0]["updated_at"], "2024-05-14T09:02:35.392Z", "it moved on at its start");
        assert_eq!(shown[0]["incident_updates"][0]["body"], "Outage: in progress, due to end in 3 hours");
        let later = &shown[1];
        assert_eq!(later["status"], "scheduled");
        assert_eq!(later["impact"], "maintenance");
        assert_eq!(later["scheduled_for"], "2024-05-16T10:02:35.392Z");
        assert_eq!(later["scheduled_until"], "2024-05-16T14:02:35.392Z");
        assert_eq!(later["incident_updates"][0]["body"], "At risk: due to start in 2 days");
        assert_eq!(later["incident_updates"][0]["status"], "scheduled");
        assert_eq!(later["components"][0]["id"], "clouds/cloudveneto");
        assert_eq!(body["status"]["indicator"], "minor", "the outage outranks the maintenance");

        let all = parse(&scheduled_maintenances_json(&page(), &federation(), &maintenances));
        let ids: Vec<&str> =
            all["scheduled_maintenances"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["done", "now", "later"]);
        assert_eq!(all["scheduled_maintenances"][0]["status"], "completed");
        assert_eq!(all["scheduled_maintenances"][0]["resolved_at"], "2024-05-14T04:02:35.392Z");
    }

    #[test]
    fn a_page_of_a_hundred_components_and_fifty_incidents_has_the_full_shape() {
        let groups = ["Federation services", "Backbone sites", "Federated clouds", "PaaS services"];
        let components: Vec<Component> = (0..100)
            .map(|n| {
                let state = if n % 17 == 0 { ComponentState::DegradedPerformance } else { ComponentState::Operational };
                component(&format!("g{}/c{n}", n % 4), Some(groups[n % 4]), n as u32, state)
            })
            .collect();
        let incidents: Vec<Incident> = (0..50)
            .map(|n| {
                let status = if n < 3 { IncidentStatus::Investigating } else { IncidentStatus::Resolved };
                let affected = [format!("g{}/c{n}", n % 4)];
                let affected: Vec<&str> = affected.iter().map(String::as_str).collect();
                incident(&format!("i{n}"), status, Impact::Minor, T0 - n * HOUR, &affected)
            })
            .collect();
        let summary = parse(&summary_json(&page(), &components, &incidents, &[]));
        let listed = summary["components"].as_array().unwrap();
        assert_eq!(listed.len(), 104, "100 components and 4 groups");
        assert_eq!(listed.iter().filter(|c| c["group"] == true).count(), 4);
        assert!(listed.iter().filter(|c| c["group"] == false).all(|c| c["group_id"].is_string()));
        assert_eq!(summary["incidents"].as_array().unwrap().len(), 3);
        assert_eq!(summary["status"]["indicator"], "minor");
        let history = parse(&incidents_json(&page(), &components, &incidents));
        let shown = history["incidents"].as_array().unwrap();
        assert_eq!(shown.len(), 50);
        assert!(shown.iter().all(|i| i["incident_updates"].as_array().unwrap().len() == 2));
        assert!(shown.iter().all(|i| i["components"].as_array().unwrap().len() == 1));
    }
}
