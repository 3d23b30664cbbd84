//! The periodic bulletin on the federation: for a period (a week by
//! default), what each site holds against what it grants, the incidents
//! and the maintenance of the period and coming up, each component's
//! availability and reliability, and what alerting told. Built by the
//! watcher from the store, kept as a page, and mailed as the plain text
//! rendered here.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// One bulletin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bulletin {
    /// The period's name: its ISO week (`2026-W49`) or its first day.
    pub id: String,
    /// The period, `[from, to)` in ms.
    pub from: i64,
    pub to: i64,
    pub sites: Vec<SiteUse>,
    pub incidents: Vec<IncidentLine>,
    pub maintenances: Vec<MaintenanceLine>,
    pub availability: Vec<AvailabilityLine>,
    /// Alerts told in the period (one per alert and receiver).
    pub alerts_told: usize,
    /// Everything sent in the period: alerts, incidents, endpoints.
    pub notifications_sent: usize,
    /// What the alerts told were about, most recent first.
    pub notable: Vec<String>,
}

/// What a site's groups hold against what it grants them, at the end of
/// the period; a grant without a limit leaves the total unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteUse {
    pub provider: String,
    pub cores: u64,
    pub cores_granted: Option<u64>,
    pub ram_mb: u64,
    pub ram_mb_granted: Option<u64>,
    pub instances: u64,
    pub instances_granted: Option<u64>,
}

/// An incident of the period, or still open.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentLine {
    pub id: String,
    pub title: String,
    pub impact: String,
    pub status: String,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
}

/// A maintenance window of the period or to come.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceLine {
    pub provider: String,
    /// `outage` or `at risk`.
    pub kind: String,
    pub start: i64,
    pub end: i64,
    pub reason: String,
}

/// A component's figures over the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityLine {
    pub component: String,
    pub name: String,
    pub availability: Option<f64>,
    pub reliability: Option<f64>,
}

/// How often a bulletin is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    #[default]
    Week,
    Day,
}

impl Every {
    /// The period before the one `now` is in, and its name: the last whole
    /// ISO week (`2026-W49`) or day (`2026-12-06`).
    pub fn previous(self, now: i64) -> (String, i64, i64) {
        match self {
            Every::Week => last_week(now),
            Every::Day => {
                let today = DateTime::<Utc>::from_timestamp_millis(now).unwrap_or_default().date_naive();
                let yesterday = today - chrono::Days::new(1);
                let ms = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
                (yesterday.format("%Y-%m-%d").to_string(), ms(yesterday), ms(today))
            }
        }
    }
}

/// The week (Monday 00:00 UTC to the next) before the one `now` is in:
/// the period a bulletin sent at `now` covers, and its name.
pub fn last_week(now: i64) -> (String, i64, i64) {
    let today = DateTime::<Utc>::from_timestamp_millis(now).unwrap_or_default().date_naive();
    let monday = today - chrono::Days::new(u64::from(today.weekday().num_days_from_monday()));
    let start = monday - chrono::Days::new(7);
    let ms = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
    let week = start.iso_week();
    (format!("{}-W{:02}", week.year(), week.week()), ms(start), ms(monday))
}

fn day(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

fn percent(f: Option<f64>) -> String {
    f.map(|f| format!("{:.2} %", f * 100.0)).unwrap_or_else(|| "unknown".into())
}

fn of(used: u64, granted: Option<u64>, unit: &str) -> String {
    match granted {
        Some(g) => format!("{used} of {g} {unit} ({} free)", g.saturating_sub(used)),
        None => format!("{used} {unit} (no limit)"),
    }
}

/// The bulletin as a mail: its subject and plain-text body, with a link to
/// its page.
pub fn text(b: &Bulletin, page_url: &str) -> (String, String) {
    let subject =
        format!("[nuvola bulletin] {}: {} incidents, {} maintenances", b.id, b.incidents.len(), b.maintenances.len());
    let mut body =
        format!("The federation from {} to {}.\n\nResources per site (held / granted):\n", day(b.from), day(b.to));
    for s in &b.sites {
        body.push_str(&format!(
            "  - {}: {}; {}; {}\n",
            s.provider,
            of(s.cores, s.cores_granted, "cores"),
            of(s.ram_mb / 1024, s.ram_mb_granted.map(|r| r / 1024), "GiB RAM"),
            of(s.instances, s.instances_granted, "instances")
        ));
    }
    body.push_str("\nIncidents:\n");
    if b.incidents.is_empty() {
        body.push_str("  none\n");
    }
    for i in &b.incidents {
        let end = i.resolved_at.map(|r| format!(", resolved {}", day(r))).unwrap_or_else(|| ", still open".into());
        body.push_str(&format!(
            "  - {} ({} impact, {}), opened {}{end}\n",
            i.title,
            i.impact,
            i.status,
            day(i.opened_at)
        ));
    }
    body.push_str("\nMaintenance, of the period and to come:\n");
    if b.maintenances.is_empty() {
        body.push_str("  none\n");
    }
    for m in &b.maintenances {
        let why = if m.reason.is_empty() { String::new() } else { format!(": {}", m.reason) };
        body.push_str(&format!("  - {} ({}) from {} to {}{why}\n", m.provider, m.kind, day(m.start), day(m.end)));
    }
    body.push_str("\nAvailability / reliability (EGI ARGO):\n");
    for a in &b.availability {
        body.push_str(&format!("  - {}: {} / {}\n", a.name, percent(a.availability), percent(a.reliability)));
    }
    body.push_str(&format!(
        "\nAlerting told {} alerts; {} notifications were sent in all.\n",
        b.alerts_told, b.notifications_sent
    ));
    for n in &b.notable {
        body.push_str(&format!("  - {n}\n"));
    }
    body.push_str(&format!("\nThis bulletin is kept at:\n{page_url}\n"));
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_the_week_before_the_one_of_now() {
        // Wednesday 2026-12-09 10:00 UTC: the week of Monday 2026-11-30.
        let now = 1_796_810_400_000;
        let (id, from, to) = last_week(now);
        assert_eq!(
            (id.as_str(), day(from).as_str(), day(to).as_str()),
            ("2026-W49", "2026-11-30 00:00 UTC", "2026-12-07 00:00 UTC")
        );
        // Monday 00:00 itself already belongs to the new week.
        assert_eq!(last_week(to).0, "2026-W49");
        assert_eq!(last_week(to - 1).0, "2026-W48");
        assert_eq!(Every::Week.previous(now), (id, from, to));
        let (day_id, from, to) = Every::Day.previous(now);
        assert_eq!(
            (day_id.as_str(), day(from).as_str(), day(to).as_str()),
            ("2026-12-08", "2026-12-08 00:00 UTC", "2026-12-09 00:00 UTC")
        );
    }

    #[test]
    fn the_mail_says_each_part() {
        let (_, from, to) = last_week(1_796_810_400_000);
        let b = Bulletin {
            id: "2026-W49".into(),
            from,
            to,
            sites: vec![SiteUse {
                provider: "recas-bari".into(),
                cores: 96,
                cores_granted: Some(128),
                ram_mb: 204_800,
                ram_mb_granted: Some(262_144),
                instances: 12,
                instances_granted: None,
            }],
            incidents: vec![IncidentLine {
                id: "i1".into(),
                title: "Bari compute unreachable".into(),
                impact: "major".into(),
                status: "resolved".into(),
                opened_at: from + 3_600_000,
                resolved_at: Some(from + 7_200_000),
            }],
            maintenances: vec![MaintenanceLine {
                provider: "cloudveneto".into(),
                kind: "at risk".into(),
                start: to + 86_400_000,
                end: to + 90_000_000,
                reason: "network".into(),
            }],
            availability: vec![AvailabilityLine {
                component: "clouds/recas-bari".into(),
                name: "recas-bari".into(),
                availability: Some(0.994),
                reliability: Some(1.0),
            }],
            alerts_told: 2,
            notifications_sent: 5,
            notable: vec!["clouds/recas-bari failed 3 rounds in a row".into()],
        };
        let (subject, body) = text(&b, "https://nuvola.example/bulletins/2026-W49");
        assert_eq!(subject, "[nuvola bulletin] 2026-W49: 1 incidents, 1 maintenances");
        assert_eq!(
            body,
            "The federation from 2026-11-30 00:00 UTC to 2026-12-07 00:00 UTC.\n\n\
             Resources per site (held / granted):\n  - recas-bari: 96 of 128 cores (32 free); 200 of 256 GiB RAM (56 free); 12 instances (no limit)\n\n\
             Incidents:\n  - Bari compute unreachable (major impact, resolved), opened 2026-11-30 01:00 UTC, resolved 2026-11-30 02:00 UTC\n\n\
             Maintenance, of the period and to come:\n  - cloudveneto (at risk) from 2026-12-08 00:00 UTC to 2026-12-08 01:00 UTC: network\n\n\
             Availability / reliability (EGI ARGO):\n  - recas-bari: 99.40 % / 100.00 %\n\n\
             Alerting told 2 alerts; 5 notifications were sent in all.\n  - clouds/recas-bari failed 3 rounds in a row\n\n\
             This bulletin is kept at:\nhttps://nuvola.example/bulletins/2026-W49\n"
        );
    }
}
