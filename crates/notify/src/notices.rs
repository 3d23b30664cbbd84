//! The mails monitoring sends, in plain text: a status page subscription
//! to confirm (double opt-in), an incident opened, updated or resolved, a
//! maintenance announced, alerts firing or resolved (several in one mail),
//! and a user's endpoint down or back up.
//!
//! Each is rendered by a pure function from plain inputs to a subject and
//! a body; [`Mail`] names them all, for [`crate::Notifier::mail`]. Links
//! (to confirm, to unsubscribe, to the incident's page) come in whole from
//! the caller, which knows the pages' routes. Subjects hold no control
//! character (no CR or LF can start a header), and text a user chose (a
//! deployment's name, an output's value) is kept to one line; the SMTP
//! client (see [`crate::mail`]) also keeps every body line to CRLF.

use chrono::{DateTime, Utc};
use nuvola_monitor::alerts::{Dispatch, DispatchKind};
use nuvola_monitor::maintenance::{Phase, span};
use nuvola_types::{ComponentState, Impact, IncidentStatus, MaintenanceKind, Spelled};

/// Subjects are cut to this many characters.
const SUBJECT_CHARS: usize = 200;

/// One mail of monitoring, ready to be rendered and sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Mail {
    Confirmation(Confirmation),
    Incident(IncidentNews),
    Maintenance(MaintenanceNotice),
    Alerts(AlertDigest),
    Endpoint(EndpointChange),
    /// The periodic bulletin, with the address of its page.
    Bulletin(Box<nuvola_monitor::bulletin::Bulletin>, String),
}

impl Mail {
    /// Its subject and body.
    pub fn render(&self) -> (String, String) {
        match self {
            Mail::Confirmation(c) => confirmation(c),
            Mail::Incident(i) => incident(i),
            Mail::Maintenance(m) => maintenance(m),
            Mail::Bulletin(b, page_url) => nuvola_monitor::bulletin::text(b, page_url),
            Mail::Alerts(a) => alerts(a),
            Mail::Endpoint(e) => endpoint(e),
        }
    }
}

/// A subscription to the status page by mail, waiting for its confirmation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Confirmation {
    /// The components subscribed to, by name; none: all of them.
    pub components: Vec<String>,
    /// Opening it confirms the subscription (it carries the token).
    pub confirm_url: String,
    /// Opening it ends the subscription.
    pub unsubscribe_url: String,
}

/// The subject and body asking to confirm a subscription.
pub fn confirmation(c: &Confirmation) -> (String, String) {
    let what = if c.components.is_empty() {
        "all components".to_string()
    } else {
        c.components.iter().map(|n| one_line(n)).collect::<Vec<_>>().join(", ")
    };
    let body = format!(
        "Someone, we hope you, asked to be mailed of incidents and maintenance on nuvola's status page, for:\n\
         {what}\n\n\
         To confirm, open this link:\n{confirm}\n\n\
         If it was not you, ignore this mail: nothing more is sent until the link is opened.\n\
         To stop at any time:\n{unsubscribe}\n",
        confirm = one_line(&c.confirm_url),
        unsubscribe = one_line(&c.unsubscribe_url),
    );
    (subject("[nuvola status] Confirm your subscription"), body)
}

/// What happened to an incident, from its status and whether it is its
/// first update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentEvent {
    Opened,
    Updated,
    Resolved,
}

/// An incident's news: its latest update and where it stands.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncidentNews {
    pub title: String,
    pub impact: Impact,
    pub status: IncidentStatus,
    /// Whether this update opened the incident.
    pub opened: bool,
    /// The affected components, by name, with their state.
    pub components: Vec<(String, ComponentState)>,
    /// The update's text, as the operator wrote it.
    pub update: String,
    /// When the update was posted (ms since the epoch).
    pub at_ms: i64,
    /// The incident's page.
    pub incident_url: String,
    pub unsubscribe_url: String,
}

impl IncidentNews {
    /// Whether this mail opens, updates or resolves the incident.
    pub fn event(&self) -> IncidentEvent {
        match (self.status, self.opened) {
            (IncidentStatus::Resolved, _) => IncidentEvent::Resolved,
            (_, true) => IncidentEvent::Opened,
            (_, false) => IncidentEvent::Updated,
        }
    }
}

/// The subject and body of an incident's news.
pub fn incident(i: &IncidentNews) -> (String, String) {
    let title = one_line(&i.title);
    let status = capitalised(i.status.as_str());
    let heading = match i.event() {
        IncidentEvent::Opened => format!("[nuvola status] New incident: {title}"),
        IncidentEvent::Updated => format!("[nuvola status] {status}: {title}"),
        IncidentEvent::Resolved => format!("[nuvola status] Resolved: {title}"),
    };
    let components = if i.components.is_empty() {
        "  (none named)".to_string()
    } else {
        i.components.iter().map(|(n, s)| format!("  - {}: {}", one_line(n), s.label())).collect::<Vec<_>>().join("\n")
    };
    let body = format!(
        "{title}\n\n{status} ({at}): {update}\n\nImpact: {impact}\nAffected components:\n{components}\n\n\
         Follow it on the status page:\n{page}\n\n\
         You get this mail because you subscribed to nuvola's status page. To stop:\n{unsubscribe}\n",
        at = when(i.at_ms),
        update = i.update.trim(),
        impact = i.impact.as_str(),
        page = one_line(&i.incident_url),
        unsubscribe = one_line(&i.unsubscribe_url),
    );
    (subject(&heading), body)
}

/// A scheduled maintenance, announced before it starts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MaintenanceNotice {
    pub title: String,
    pub kind: MaintenanceKind,
    /// The components it concerns, by name.
    pub components: Vec<String>,
    /// Its window, in ms since the epoch.
    pub start_ms: i64,
    pub end_ms: i64,
    /// What the operator wrote of it.
    pub details: String,
    /// When the mail is rendered, for "due to start in 2 days".
    pub now_ms: i64,
    pub page_url: String,
    pub unsubscribe_url: String,
}

/// The subject and body announcing a maintenance.
pub fn maintenance(m: &MaintenanceNotice) -> (String, String) {
    let title = one_line(&m.title);
    let announcement = Phase::at(m.start_ms, m.end_ms, m.now_ms).announcement();
    let effect = match m.kind {
        MaintenanceKind::Outage => "the components below will be unavailable",
        MaintenanceKind::AtRisk => "the components below stay available but are at risk of interruption",
    };
    let components = m.components.iter().map(|n| format!("  - {}", one_line(n))).collect::<Vec<_>>().join("\n");
    let body = format!(
        "{title}: scheduled maintenance ({kind}), {announcement}.\n\n\
         From {start} to {end} ({length}) {effect}:\n{components}\n\n{details}\n\n\
         Details on the status page:\n{page}\n\n\
         You get this mail because you subscribed to nuvola's status page. To stop:\n{unsubscribe}\n",
        kind = m.kind.label(),
        start = when(m.start_ms),
        end = when(m.end_ms),
        length = span(m.end_ms - m.start_ms),
        details = m.details.trim(),
        page = one_line(&m.page_url),
        unsubscribe = one_line(&m.unsubscribe_url),
    );
    (subject(&format!("[nuvola status] Scheduled maintenance ({}): {title}", m.kind.label())), body)
}

/// A notification of the alert engine, as one mail to one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDigest {
    /// What the engine decided to tell: alerts firing, or resolved.
    pub dispatch: Dispatch,
    /// The operators' page of alerts (to acknowledge or silence them).
    pub alerts_url: String,
}

/// The subject and body of an alert digest: each alert with its rule, what
/// was seen and since when.
pub fn alerts(d: &AlertDigest) -> (String, String) {
    let alerts = &d.dispatch.alerts;
    let (heading, since) = match d.dispatch.kind {
        DispatchKind::Firing => ("firing", "since"),
        DispatchKind::Resolved => ("resolved", "at"),
    };
    let first = alerts.first().map(|a| format!(": {}", one_line(&a.summary))).unwrap_or_default();
    let more = if alerts.len() > 1 { " and more" } else { "" };
    let mut body = format!("{} {heading}:\n", alerts.len());
    for a in alerts {
        let at = match d.dispatch.kind {
            DispatchKind::Firing => a.firing_since.unwrap_or(a.since),
            DispatchKind::Resolved => a.resolved_at.unwrap_or(a.since),
        };
        body.push_str(&format!(
            "  - {rule}, {since} {at}: {summary}\n",
            rule = a.rule.as_str(),
            at = when(at),
            summary = one_line(&a.summary),
        ));
    }
    body.push_str(&format!("\nAcknowledge or silence them at:\n{}\n", one_line(&d.alerts_url)));
    (subject(&format!("[nuvola alerts] {} {heading}{first}{more}", alerts.len())), body)
}

/// A user's endpoint that stopped or started answering.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndpointChange {
    /// The deployment's name (or its id, when it has none).
    pub deployment: String,
    /// The output holding the endpoint: "jupyter_endpoint".
    pub output: String,
    /// The endpoint: "https://..." or "host:port".
    pub endpoint: String,
    /// Down (true) or back up (false).
    pub down: bool,
    /// Since when (ms since the epoch).
    pub since_ms: i64,
    /// When it went down, for a "back up" mail: how long it was down.
    pub down_since_ms: Option<i64>,
    /// What the last probe found: "connection refused", "HTTP 502".
    pub detail: String,
    pub deployment_url: String,
    /// Opening it stops these mails for this deployment.
    pub opt_out_url: String,
}

/// The subject and body telling a user their endpoint is down or back.
pub fn endpoint(e: &EndpointChange) -> (String, String) {
    let (deployment, output, endpoint) = (one_line(&e.deployment), one_line(&e.output), one_line(&e.endpoint));
    let (subject_text, first) = if e.down {
        (
            format!("nuvola: {deployment}'s {output} is not answering"),
            format!(
                "Your deployment {deployment}'s output {output} {endpoint} is not answering since {since}: {detail}.",
                since = when(e.since_ms),
                detail = one_line(&e.detail),
            ),
        )
    } else {
        let outage = e.down_since_ms.map(|d| format!(", after {} down", span(e.since_ms - d))).unwrap_or_default();
        (
            format!("nuvola: {deployment}'s {output} is answering again"),
            format!(
                "Your deployment {deployment}'s output {output} {endpoint} is answering again since {since}{outage}.",
                since = when(e.since_ms),
            ),
        )
    };
    let body = format!(
        "{first}\n\nThe deployment:\n{page}\n\nTo stop these mails for this deployment:\n{opt_out}\n",
        page = one_line(&e.deployment_url),
        opt_out = one_line(&e.opt_out_url),
    );
    (subject(&subject_text), body)
}

/// A time as people read it in a mail: "2026-12-07 14:03 UTC".
fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "an unknown time".to_string())
}

/// Text kept to one line: control characters (CR, LF, tabs...) become
/// spaces, so it can neither start a header nor pass for another line.
fn one_line(text: &str) -> String {
    text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A subject: one line, at most [`SUBJECT_CHARS`] characters.
fn subject(text: &str) -> String {
    let line = one_line(text);
    match line.char_indices().nth(SUBJECT_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// "investigating" → "Investigating".
fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nuvola_monitor::alerts::{Engine, Observation, Rules};

    /// 2026-12-07 14:03 UTC.
    const AT: i64 = 1_796_652_180_000;
    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_confirmation_links_to_confirm_and_to_unsubscribe() {
        let c = Confirmation {
            components: vec!["Backbone Bari compute".into(), "Authentication\r\nBcc: x@evil.example".into()],
            confirm_url: "https://status.example/subscriptions/confirm?token=t0k3n".into(),
            unsubscribe_url: "https://status.example/subscriptions/unsubscribe?token=u".into(),
        };
        let (subject, body) = confirmation(&c);
        assert_eq!(subject, "[nuvola status] Confirm your subscription");
        assert!(body.contains("for:\nBackbone Bari compute, Authentication  Bcc: x@evil.example\n"), "{body}");
        assert!(
            body.contains("To confirm, open this link:\nhttps://status.example/subscriptions/confirm?token=t0k3n\n")
        );
        assert!(body.contains("nothing more is sent until the link is opened"));
        assert!(body.ends_with("To stop at any time:\nhttps://status.example/subscriptions/unsubscribe?token=u\n"));
        let all = confirmation(&Confirmation { components: vec![], ..c }).1;
        assert!(all.contains("for:\nall components\n"), "{all}");
    }

    #[test]
    fn an_incident_is_told_opened_updated_and_resolved() {
        let mut news = IncidentNews {
            title: "Bari compute\nunreachable".into(),
            impact: Impact::Major,
            status: IncidentStatus::Investigating,
            opened: true,
            components: vec![("Backbone Bari compute".into(), ComponentState::MajorOutage)],
            update: "We are looking into failed VM creations.\nMore soon.\n".into(),
            at_ms: AT,
            incident_url: "https://status.example/incidents/i1".into(),
            unsubscribe_url: "https://status.example/u/t".into(),
        };
        let (subject, body) = incident(&news);
        assert_eq!(subject, "[nuvola status] New incident: Bari compute unreachable");
        assert_eq!(
            body,
            "Bari compute unreachable\n\n\
             Investigating (2026-12-07 14:03 UTC): We are looking into failed VM creations.\nMore soon.\n\n\
             Impact: major\nAffected components:\n  - Backbone Bari compute: Major outage\n\n\
             Follow it on the status page:\nhttps://status.example/incidents/i1\n\n\
             You get this mail because you subscribed to nuvola's status page. To stop:\nhttps://status.example/u/t\n"
        );
        news.opened = false;
        news.status = IncidentStatus::Identified;
        assert_eq!(news.event(), IncidentEvent::Updated);
        assert_eq!(incident(&news).0, "[nuvola status] Identified: Bari compute unreachable");
        news.status = IncidentStatus::Resolved;
        news.components[0].1 = ComponentState::Operational;
        let (subject, body) = incident(&news);
        assert_eq!(subject, "[nuvola status] Resolved: Bari compute unreachable");
        assert!(body.contains("\nResolved (2026-12-07 14:03 UTC): ") && body.contains("Bari compute: Operational"));
    }

    #[test]
    fn a_maintenance_is_announced_with_its_kind_and_when_it_starts() {
        let m = MaintenanceNotice {
            title: "Cloudveneto upgrade".into(),
            kind: MaintenanceKind::AtRisk,
            components: vec!["Cloudveneto compute".into()],
            start_ms: AT + 48 * HOUR,
            end_ms: AT + 52 * HOUR,
            details: "OpenStack moves to 2025.1.".into(),
            now_ms: AT,
            page_url: "https://status.example/maintenance/m1".into(),
            unsubscribe_url: "https://status.example/u/t".into(),
        };
        let (subject, body) = maintenance(&m);
        assert_eq!(subject, "[nuvola status] Scheduled maintenance (at risk): Cloudveneto upgrade");
        assert!(body.starts_with("Cloudveneto upgrade: scheduled maintenance (at risk), due to start in 2 days.\n"));
        assert!(body.contains(
            "From 2026-12-09 14:03 UTC to 2026-12-09 18:03 UTC (4 hours) the components below stay available \
             but are at risk of interruption:\n  - Cloudveneto compute\n\nOpenStack moves to 2025.1.\n"
        ));
        let outage = MaintenanceNotice { kind: MaintenanceKind::Outage, now_ms: AT + 49 * HOUR, ..m };
        let (subject, body) = maintenance(&outage);
        assert!(subject.contains("(outage)") && body.contains("in progress, due to end in 3 hours"), "{body}");
        assert!(body.contains("the components below will be unavailable"));
    }

    /// The engine's own notifications, as they come out of it: a site
    /// failing three rounds, then clear for ten minutes.
    #[test]
    fn alert_digests_render_the_engines_notifications() {
        let mut engine = Engine::new(Rules::default());
        let probe = |ok| Observation::Probe {
            target: "clouds/recas-bari".into(),
            site: Some("recas-bari".into()),
            ok,
            latency_ms: 40,
        };
        let minute = 60_000;
        let mut sent = Vec::new();
        for round in 0..40 {
            let ok = !(1..=3).contains(&round);
            sent.extend(engine.step(AT + round * minute, &[probe(ok)]));
        }
        let alerts_url = "https://nuvola.example/admin/alerts".to_string();
        let digests: Vec<(String, String)> = sent
            .into_iter()
            .map(|dispatch| alerts(&AlertDigest { dispatch, alerts_url: alerts_url.clone() }))
            .collect();
        assert_eq!(digests.len(), 2, "{digests:?}");
        assert_eq!(digests[0].0, "[nuvola alerts] 1 firing: clouds/recas-bari failed 3 rounds in a row");
        assert_eq!(
            digests[0].1,
            "1 firing:\n  - malfunction, since 2026-12-07 14:06 UTC: clouds/recas-bari failed 3 rounds in a row\n\n\
             Acknowledge or silence them at:\nhttps://nuvola.example/admin/alerts\n"
        );
        assert!(digests[1].0.starts_with("[nuvola alerts] 1 resolved: "), "{digests:?}");
        assert!(digests[1].1.contains("  - malfunction, at 2026-12-07 14:"), "{digests:?}");
    }

    #[test]
    fn an_owner_is_told_their_endpoint_is_down_then_back() {
        let mut change = EndpointChange {
            deployment: "my-notebook".into(),
            output: "jupyter_endpoint".into(),
            endpoint: "https://90.147.75.12:8888".into(),
            down: true,
            since_ms: AT,
            down_since_ms: None,
            detail: "connection refused".into(),
            deployment_url: "https://nuvola.example/deployments/d1".into(),
            opt_out_url: "https://nuvola.example/deployments/d1/probes/off".into(),
        };
        let (subject, body) = endpoint(&change);
        assert_eq!(subject, "nuvola: my-notebook's jupyter_endpoint is not answering");
        assert!(body.starts_with(
            "Your deployment my-notebook's output jupyter_endpoint https://90.147.75.12:8888 is not answering \
             since 2026-12-07 14:03 UTC: connection refused.\n"
        ));
        assert!(
            body.ends_with(
                "To stop these mails for this deployment:\nhttps://nuvola.example/deployments/d1/probes/off\n"
            )
        );
        change.down = false;
        change.down_since_ms = Some(AT);
        change.since_ms = AT + 25 * 60_000;
        let (subject, body) = endpoint(&change);
        assert_eq!(subject, "nuvola: my-notebook's jupyter_endpoint is answering again");
        assert!(body.contains("is answering again since 2026-12-07 14:28 UTC, after 25 minutes down."), "{body}");
    }

    #[test]
    fn subjects_hold_one_line_of_bounded_length_whatever_users_named() {
        let evil = EndpointChange {
            deployment: format!("x\r\nBcc: all@example.org\r\n\r\n{}", "long ".repeat(100)),
            output: "out\u{0}put".into(),
            ..EndpointChange::default()
        };
        let (subject, body) = endpoint(&evil);
        assert!(!subject.chars().any(char::is_control), "{subject:?}");
        assert!(subject.starts_with("nuvola: x  Bcc: all@example.org    long"), "{subject:?}");
        assert_eq!(subject.chars().count(), SUBJECT_CHARS + 1, "cut with an ellipsis: {subject:?}");
        assert!(body.lines().next().unwrap().contains("Bcc: all@example.org"), "user text stays on the first line");
        let news = IncidentNews { title: "a\nb".into(), ..IncidentNews::default() };
        assert!(!Mail::Incident(news).render().0.contains('\n'));
    }
}
