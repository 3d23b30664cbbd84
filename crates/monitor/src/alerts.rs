//! Alerts for operators and group managers, in the spirit of Prometheus's
//! alerting rules and Alertmanager, with no I/O: an [`Engine`] is fed what
//! the probes and quota readings found at a time `now` and answers with
//! the notifications to send ([`Dispatch`]); the app delivers them (e-mail,
//! signed webhooks) and keeps the engine's state between runs (it is
//! serde-serializable) and the log of what was sent.
//!
//! Rules:
//! - **malfunction**: a probe target failed [`Rules::malfunction_rounds`]
//!   rounds in a row;
//! - **degradation**: a target answers slower than [`Rules::slow_ms`], or
//!   more than [`Rules::failure_ratio`] of its rounds in the last
//!   [`Rules::rate_window_ms`] failed, for [`Rules::degradation_for_ms`]; it
//!   is held back while the same target has a malfunction alert not yet
//!   resolved (one outage, one alert; the failures in the window are that
//!   outage's);
//! - **exhaustion**: a group's or a site's use of a quota is above
//!   [`Rules::exhaustion_ratio`] (90 % by default).
//!
//! An alert is *pending* while its condition holds for less than its rule's
//! `for` duration (a pending alert whose condition clears is forgotten),
//! then *firing*; it is *resolved* only once its condition has been clear
//! for [`Rules::clear_for_ms`] without a break, so a flapping target does
//! not page again and again. Alerts are deduplicated by their key, the
//! rule and the labels of what they are about
//! (`malfunction{site="recas-bari",target="clouds/recas-bari"}`).
//!
//! Routing is deliberately simple: operators get every alert, and a
//! group's managers also get the exhaustion alerts of their group. Per
//! receiver, alerts with the same group key (their `site`, else their
//! `group` label, else the alert alone) that need telling within
//! [`Rules::group_wait_ms`] of each other go out as one notification; a
//! receiver gets at most [`Rules::max_per_hour`] notifications an hour
//! (the others wait and go out together when the hour allows); an alert
//! still firing is told again every [`Rules::repeat_interval_ms`] unless it
//! was acknowledged (an acknowledgement lasts until it resolves); and a
//! silence (label matchers over a time range) keeps matching alerts on the
//! list, marked silenced, but sends nothing for them. A resolution is told
//! to the receivers that were told of the firing.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// The rules' thresholds and the notification policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Failed rounds in a row that make a malfunction.
    pub malfunction_rounds: u32,
    /// A round slower than this (ms) is degraded.
    pub slow_ms: u32,
    /// The share of failed rounds above which a target is degraded.
    pub failure_ratio: f64,
    /// The window (ms) the share of failed rounds is taken over.
    pub rate_window_ms: i64,
    /// Rounds the window needs before its share counts.
    pub min_rounds: usize,
    /// How long (ms) a degradation lasts before it fires.
    pub degradation_for_ms: i64,
    /// The share of a quota above which it is running out.
    pub exhaustion_ratio: f64,
    /// How long (ms) a firing alert's condition must stay clear before it
    /// resolves.
    pub clear_for_ms: i64,
    /// How long (ms) to wait for more alerts of a group before telling.
    pub group_wait_ms: i64,
    /// How often (ms) an unacknowledged firing alert is told again.
    pub repeat_interval_ms: i64,
    /// Notifications per receiver per hour, at most.
    pub max_per_hour: usize,
    /// How long (ms) a resolved alert stays on the list.
    pub keep_resolved_ms: i64,
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

impl Default for Rules {
    fn default() -> Self {
        Rules {
            malfunction_rounds: 3,
            slow_ms: 2_000,
            failure_ratio: 0.2,
            rate_window_ms: 15 * MINUTE,
            min_rounds: 5,
            degradation_for_ms: 10 * MINUTE,
            exhaustion_ratio: 0.9,
            clear_for_ms: 10 * MINUTE,
            group_wait_ms: 30_000,
            repeat_interval_ms: 4 * HOUR,
            max_per_hour: 10,
            keep_resolved_ms: HOUR,
        }
    }
}

/// What was found at `now`.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// One probe round of a target (a component id or a user's endpoint).
    Probe { target: String, site: Option<String>, ok: bool, latency_ms: u32 },
    /// A quota reading: `used` of `limit` of a resource (`limit` 0 or less
    /// is no limit).
    Quota { scope: Scope, resource: String, used: f64, limit: f64 },
}

/// Whose quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Group(String),
    Site(String),
}

/// Which rule an alert comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Malfunction,
    Degradation,
    Exhaustion,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Malfunction => "malfunction",
            Rule::Degradation => "degradation",
            Rule::Exhaustion => "exhaustion",
        }
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

/// Who is told.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Receiver {
    /// The platform's operators: every alert.
    Operators,
    /// A group's managers: their group's exhaustion alerts.
    Managers(String),
}

/// One alert, as the operators' page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The rule and the labels: the same key is the same alert.
    pub key: String,
    pub rule: Rule,
    pub labels: BTreeMap<String, String>,
    /// What it is about, for people: "clouds/recas-bari failed 3 rounds in a row".
    pub summary: String,
    pub state: AlertState,
    /// Whether its condition held when last observed.
    pub active: bool,
    /// When its condition began to hold.
    pub since: i64,
    pub firing_since: Option<i64>,
    /// When its condition was first seen clear while firing.
    pub clear_since: Option<i64>,
    pub resolved_at: Option<i64>,
    /// Who acknowledged it, if anyone, in this episode.
    pub acked_by: Option<String>,
    /// Whether a silence holds it back now.
    pub silenced: bool,
    /// When each receiver was last told it fires, in this episode.
    told_firing: Vec<(Receiver, i64)>,
    /// The receivers told it resolved.
    told_resolved: Vec<Receiver>,
}

/// Whether a notification says alerts fire or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchKind {
    Firing,
    Resolved,
}

/// One notification to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    pub receiver: Receiver,
    pub group_key: String,
    pub kind: DispatchKind,
    pub alerts: Vec<Alert>,
}

/// A silence: alerts whose labels all match are sent to nobody over
/// `[starts_at, ends_at)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
}

/// A label matcher; the label `alertname` is the rule's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    /// `=` when true, `!=` when false.
    pub equal: bool,
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("no alert {0}")]
    Unknown(String),
    #[error("alert {0} is not firing: only a firing alert can be acknowledged")]
    NotFiring(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct TargetHistory {
    failed_in_a_row: u32,
    /// (at, ok, latency) within the rate window.
    rounds: VecDeque<(i64, bool, u32)>,
}

/// The alert engine; serialize it to keep it across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    rules: Rules,
    alerts: BTreeMap<String, Alert>,
    targets: BTreeMap<String, TargetHistory>,
    /// Since when each (receiver, group key) has had something to tell.
    waiting: Vec<(Receiver, String, i64)>,
    /// When each receiver was sent notifications, within the last hour.
    sent: Vec<(Receiver, VecDeque<i64>)>,
    silences: Vec<Silence>,
}

impl Engine {
    pub fn new(rules: Rules) -> Engine {
        Engine {
            rules,
            alerts: BTreeMap::new(),
            targets: BTreeMap::new(),
            waiting: Vec::new(),
            sent: Vec::new(),
            silences: Vec::new(),
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The same engine under `rules` (an operator changed the thresholds
    /// since it was kept): what it remembers stays.
    pub fn with_rules(self, rules: Rules) -> Engine {
        Engine { rules, ..self }
    }

    /// The silences in force or to come.
    pub fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// The alerts on the list (pending, firing and recently resolved), by key.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// Adds a silence (replacing one with the same id).
    pub fn silence(&mut self, silence: Silence) {
        self.silences.retain(|s| s.id != silence.id);
        self.silences.push(silence);
    }

    /// Ends a silence at once; whether there was one.
    pub fn unsilence(&mut self, id: &str) -> bool {
        let before = self.silences.len();
        self.silences.retain(|s| s.id != id);
        self.silences.len() != before
    }

    /// Acknowledges a firing alert: it is not told again until it resolves.
    pub fn acknowledge(&mut self, key: &str, by: &str) -> Result<(), AlertError> {
        let alert = self.alerts.get_mut(key).ok_or_else(|| AlertError::Unknown(key.to_string()))?;
        if alert.state != AlertState::Firing {
            return Err(AlertError::NotFiring(key.to_string()));
        }
        alert.acked_by = Some(by.to_string());
        Ok(())
    }

    /// Takes what was found at `now` (nothing, to let time pass) and
    /// answers with the notifications to send now.
    pub fn step(&mut self, now: i64, observations: &[Observation]) -> Vec<Dispatch> {
        for observation in observations {
            self.observe(now, observation);
        }
        self.advance(now);
        self.silences.retain(|s| s.ends_at > now);
        for alert in self.alerts.values_mut() {
            alert.silenced = self.silences.iter().any(|s| s.starts_at <= now && silences(s, alert));
        }
        self.dispatch(now)
    }

    fn observe(&mut self, now: i64, observation: &Observation) {
        match observation {
            Observation::Probe { target, site, ok, latency_ms } => {
                let rules = &self.rules;
                let history = self.targets.entry(target.clone()).or_default();
                history.failed_in_a_row = if *ok { 0 } else { history.failed_in_a_row + 1 };
                history.rounds.push_back((now, *ok, *latency_ms));
                while history.rounds.front().is_some_and(|(at, ..)| *at <= now - rules.rate_window_ms) {
                    history.rounds.pop_front();
                }
                let failed = history.rounds.iter().filter(|(_, ok, _)| !ok).count();
                let share = failed as f64 / history.rounds.len() as f64;
                let malfunction = history.failed_in_a_row >= rules.malfunction_rounds;
                let slow = *ok && *latency_ms > rules.slow_ms;
                let failing = history.rounds.len() >= rules.min_rounds && share > rules.failure_ratio;
                let mut labels = BTreeMap::from([("target".to_string(), target.clone())]);
                if let Some(site) = site {
                    labels.insert("site".to_string(), site.clone());
                }
                let failed_rounds = history.failed_in_a_row;
                let summary = format!("{target} failed {failed_rounds} rounds in a row");
                self.condition(now, Rule::Malfunction, labels.clone(), summary, malfunction);
                // Held back while the target malfunctions, and until that
                // alert resolves: the failures in the window are the outage's.
                let held =
                    self.alerts.get(&key(Rule::Malfunction, &labels)).is_some_and(|a| a.state != AlertState::Resolved);
                let summary = if slow {
                    format!("{target} answers slowly ({latency_ms} ms, over {} ms)", self.rules.slow_ms)
                } else {
                    format!("{target} failed {:.0} % of its rounds lately", share * 100.0)
                };
                self.condition(now, Rule::Degradation, labels, summary, !held && (slow || failing));
            }
            Observation::Quota { scope, resource, used, limit } => {
                if *limit <= 0.0 {
                    return;
                }
                let (label, name) = match scope {
                    Scope::Group(name) => ("group", name),
                    Scope::Site(name) => ("site", name),
                };
                let labels =
                    BTreeMap::from([(label.to_string(), name.clone()), ("resource".to_string(), resource.clone())]);
                let share = used / limit;
                let summary =
                    format!("{label} {name} uses {:.0} % of its {resource} ({used} of {limit})", share * 100.0);
                self.condition(now, Rule::Exhaustion, labels, summary, share > self.rules.exhaustion_ratio);
            }
        }
    }

    /// Records whether an alert's condition holds now.
    fn condition(&mut self, now: i64, rule: Rule, labels: BTreeMap<String, String>, summary: String, active: bool) {
        let key = key(rule, &labels);
        match self.alerts.get_mut(&key) {
            Some(alert) if alert.state != AlertState::Resolved => {
                alert.active = active;
                if active {
                    alert.clear_since = None;
                    alert.summary = summary;
                } else if alert.state == AlertState::Firing && alert.clear_since.is_none() {
                    alert.clear_since = Some(now);
                }
            }
            Some(_) | None if active => {
                // A new alert, or a new episode of a resolved one.
                let alert = Alert {
                    key: key.clone(),
                    rule,
                    labels,
                    summary,
                    state: AlertState::Pending,
                    active: true,
                    since: now,
                    firing_since: None,
                    clear_since: None,
                    resolved_at: None,
                    acked_by: None,
                    silenced: false,
                    told_firing: Vec::new(),
                    told_resolved: Vec::new(),
                };
                self.alerts.insert(key, alert);
            }
            Some(_) | None => {}
        }
    }

    /// Moves alerts on as time passes.
    fn advance(&mut self, now: i64) {
        let rules = &self.rules;
        self.alerts.retain(|_, alert| match alert.state {
            AlertState::Pending if !alert.active => false,
            AlertState::Pending => {
                let wait = if alert.rule == Rule::Degradation { rules.degradation_for_ms } else { 0 };
                if now - alert.since >= wait {
                    alert.state = AlertState::Firing;
                    alert.firing_since = Some(now);
                }
                true
            }
            AlertState::Firing => {
                if let Some(clear) = alert.clear_since.filter(|_| !alert.active)
                    && now - clear >= rules.clear_for_ms
                {
                    alert.state = AlertState::Resolved;
                    alert.resolved_at = Some(now);
                }
                true
            }
            AlertState::Resolved => alert.resolved_at.is_some_and(|at| now - at < rules.keep_resolved_ms),
        });
    }

    /// The notifications due now.
    fn dispatch(&mut self, now: i64) -> Vec<Dispatch> {
        // What each (receiver, group) has to tell.
        let mut due: BTreeMap<(Receiver, String), (Vec<String>, Vec<String>)> = BTreeMap::new();
        for alert in self.alerts.values().filter(|a| !a.silenced) {
            for receiver in route(alert) {
                let told = alert.told_firing.iter().find(|(r, _)| *r == receiver).map(|(_, at)| *at);
                let tell_firing = alert.state == AlertState::Firing
                    && match told {
                        None => true,
                        Some(at) => alert.acked_by.is_none() && now - at >= self.rules.repeat_interval_ms,
                    };
                let tell_resolved =
                    alert.state == AlertState::Resolved && told.is_some() && !alert.told_resolved.contains(&receiver);
                if tell_firing || tell_resolved {
                    let (firing, resolved) = due.entry((receiver, group_key(alert))).or_default();
                    if tell_firing { firing } else { resolved }.push(alert.key.clone());
                }
            }
        }
        self.waiting.retain(|(receiver, group, _)| due.contains_key(&(receiver.clone(), group.clone())));
        let mut out = Vec::new();
        for ((receiver, group), (firing, resolved)) in due {
            let since = match self.waiting.iter().find(|(r, g, _)| *r == receiver && *g == group) {
                Some((_, _, since)) => *since,
                None => {
                    self.waiting.push((receiver.clone(), group.clone(), now));
                    now
                }
            };
            if now - since < self.rules.group_wait_ms {
                continue;
            }
            let mut all_told = true;
            for (kind, keys) in [(DispatchKind::Firing, firing), (DispatchKind::Resolved, resolved)] {
                if keys.is_empty() {
                    continue;
                }
                if !self.may_send(&receiver, now) {
                    all_told = false;
                    continue;
                }
                let mut alerts = Vec::with_capacity(keys.len());
                for key in keys {
                    let alert = self.alerts.get_mut(&key).expect("a due alert is listed");
                    match kind {
                        DispatchKind::Firing => {
                            alert.told_firing.retain(|(r, _)| *r != receiver);
                            alert.told_firing.push((receiver.clone(), now));
                        }
                        DispatchKind::Resolved => alert.told_resolved.push(receiver.clone()),
                    }
                    alerts.push(alert.clone());
                }
                out.push(Dispatch { receiver: receiver.clone(), group_key: group.clone(), kind, alerts });
            }
            if all_told {
                self.waiting.retain(|(r, g, _)| !(*r == receiver && *g == group));
            }
        }
        out
    }

    /// Whether `receiver` may get one more notification now; if so, counts it.
    fn may_send(&mut self, receiver: &Receiver, now: i64) -> bool {
        let at = match self.sent.iter().position(|(r, _)| r == receiver) {
            Some(at) => at,
            None => {
                self.sent.push((receiver.clone(), VecDeque::new()));
                self.sent.len() - 1
            }
        };
        let times = &mut self.sent[at].1;
        while times.front().is_some_and(|t| *t <= now - HOUR) {
            times.pop_front();
        }
        if times.len() >= self.rules.max_per_hour {
            return false;
        }
        times.push_back(now);
        true
    }
}

/// An alert's key: `rule{name="value",...}`, labels sorted by name.
fn key(rule: Rule, labels: &BTreeMap<String, String>) -> String {
    let mut key = format!("{}{{", rule.as_str());
    for (n, (name, value)) in labels.iter().enumerate() {
        if n > 0 {
            key.push(',');
        }
        key.push_str(name);
        key.push_str("=\"");
        for c in value.chars() {
            if matches!(c, '"' | '\\') {
                key.push('\\');
            }
            key.push(c);
        }
        key.push('"');
    }
    key.push('}');
    key
}

/// Who hears of an alert: operators always, a group's managers of its
/// exhaustion.
fn route(alert: &Alert) -> Vec<Receiver> {
    let mut receivers = vec![Receiver::Operators];
    if alert.rule == Rule::Exhaustion
        && let Some(group) = alert.labels.get("group")
    {
        receivers.push(Receiver::Managers(group.clone()));
    }
    receivers
}

/// The alerts told together: same site, else same group, else alone.
fn group_key(alert: &Alert) -> String {
    for label in ["site", "group"] {
        if let Some(value) = alert.labels.get(label) {
            return format!("{label}={value}");
        }
    }
    alert.key.clone()
}

fn silences(silence: &Silence, alert: &Alert) -> bool {
    silence.matchers.iter().all(|m| {
        let value = if m.name == "alertname" {
            Some(alert.rule.as_str())
        } else {
            alert.labels.get(&m.name).map(String::as_str)
        };
        (value == Some(m.value.as_str())) == m.equal
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_715_680_800_000;

    fn probe(target: &str, site: &str, ok: bool, latency_ms: u32) -> Observation {
        Observation::Probe { target: target.into(), site: Some(site.into()), ok, latency_ms }
    }

    fn down(target: &str, site: &str) -> Observation {
        probe(target, site, false, 0)
    }

    fn up(target: &str, site: &str) -> Observation {
        probe(target, site, true, 40)
    }

    /// Two failed rounds make a malfunction, no waiting for a group.
    fn quick() -> Rules {
        Rules { malfunction_rounds: 2, group_wait_ms: 0, ..Rules::default() }
    }

    fn keys(dispatch: &Dispatch) -> Vec<&str> {
        dispatch.alerts.iter().map(|a| a.key.as_str()).collect()
    }

    const BARI: &str = "malfunction{site=\"recas-bari\",target=\"clouds/recas-bari\"}";

    #[test]
    fn a_malfunction_fires_after_its_rounds_and_resolves_after_staying_clear() {
        let mut engine = Engine::new(quick());
        assert_eq!(engine.step(T0, &[down("clouds/recas-bari", "recas-bari")]), []);
        assert_eq!(engine.alerts().count(), 0, "one failed round is nothing yet");
        let sent = engine.step(T0 + MINUTE, &[down("clouds/recas-bari", "recas-bari")]);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].receiver, Receiver::Operators);
        assert_eq!(sent[0].kind, DispatchKind::Firing);
        assert_eq!(sent[0].group_key, "site=recas-bari");
        assert_eq!(keys(&sent[0]), [BARI]);
        assert_eq!(sent[0].alerts[0].summary, "clouds/recas-bari failed 2 rounds in a row");
        // Still failing: the same alert, not told again.
        assert_eq!(engine.step(T0 + 2 * MINUTE, &[down("clouds/recas-bari", "recas-bari")]), []);
        assert_eq!(engine.alerts().count(), 1, "deduplicated by its key");
        // Clear from minute 3; resolved only after ten clear minutes.
        for minute in 3..13 {
            assert_eq!(engine.step(T0 + minute * MINUTE, &[up("clouds/recas-bari", "recas-bari")]), [], "{minute}");
        }
        let sent = engine.step(T0 + 13 * MINUTE, &[up("clouds/recas-bari", "recas-bari")]);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].kind, DispatchKind::Resolved);
        assert_eq!(sent[0].alerts[0].state, AlertState::Resolved);
        assert_eq!(sent[0].alerts[0].resolved_at, Some(T0 + 13 * MINUTE));
        // Listed a while, then gone.
        assert_eq!(engine.step(T0 + 13 * MINUTE + HOUR - 1, &[]), []);
        assert_eq!(engine.alerts().count(), 1);
        engine.step(T0 + 13 * MINUTE + HOUR, &[]);
        assert_eq!(engine.alerts().count(), 0);
    }

    #[test]
    fn a_flapping_target_pages_once_within_the_hysteresis() {
        let mut engine = Engine::new(quick());
        let mut pages = Vec::new();
        // Two bad rounds, one or two good ones, again, for an hour: never ten
        // clear minutes in a row.
        for minute in 0..60 {
            let ok = minute % 4 >= 2;
            let sent = engine.step(T0 + minute * MINUTE, &[probe("clouds/recas-bari", "recas-bari", ok, 40)]);
            pages.extend(sent.into_iter().map(|d| (minute, d.kind)));
        }
        assert_eq!(pages, [(1, DispatchKind::Firing)]);
        assert_eq!(
            engine.alerts().map(|a| (a.key.as_str(), a.state)).collect::<Vec<_>>(),
            [(BARI, AlertState::Firing)]
        );
        // Then it settles: its last failure at minute 57, clear from 58,
        // resolved once, ten clear minutes later.
        for minute in 60..80 {
            let sent = engine.step(T0 + minute * MINUTE, &[up("clouds/recas-bari", "recas-bari")]);
            pages.extend(sent.into_iter().map(|d| (minute, d.kind)));
        }
        assert_eq!(pages, [(1, DispatchKind::Firing), (68, DispatchKind::Resolved)]);
    }

    #[test]
    fn degradation_fires_only_when_sustained() {
        let rules = Rules { group_wait_ms: 0, degradation_for_ms: 5 * MINUTE, ..Rules::default() };
        let mut engine = Engine::new(rules);
        let slow = |engine: &mut Engine, minute: i64, latency| {
            engine.step(T0 + minute * MINUTE, &[probe("paas/store", "local", true, latency)])
        };
        // A slow spell of three minutes is forgotten.
        for minute in 0..3 {
            assert_eq!(slow(&mut engine, minute, 5_000), []);
        }
        assert_eq!(engine.alerts().next().unwrap().state, AlertState::Pending);
        assert_eq!(slow(&mut engine, 3, 100), []);
        assert_eq!(engine.alerts().count(), 0, "a pending alert whose condition clears is dropped");
        // Five slow minutes fire.
        for minute in 4..9 {
            assert_eq!(slow(&mut engine, minute, 5_000), [], "{minute}");
        }
        let sent = slow(&mut engine, 9, 5_000);
        assert_eq!(keys(&sent[0]), ["degradation{site=\"local\",target=\"paas/store\"}"]);
        assert_eq!(sent[0].alerts[0].summary, "paas/store answers slowly (5000 ms, over 2000 ms)");
    }

    #[test]
    fn a_high_failure_rate_is_degradation_and_a_malfunction_holds_it_back() {
        let rules = Rules { group_wait_ms: 0, degradation_for_ms: 0, malfunction_rounds: 3, ..Rules::default() };
        let mut engine = Engine::new(rules);
        // One round in three fails: never three in a row, but 33 % > 20 %.
        let mut sent = Vec::new();
        for minute in 0..6 {
            let ok = minute % 3 != 0;
            sent.extend(engine.step(T0 + minute * MINUTE, &[probe("clouds/cnaf", "cnaf", ok, 40)]));
        }
        assert_eq!(sent.len(), 1);
        assert_eq!(keys(&sent[0]), ["degradation{site=\"cnaf\",target=\"clouds/cnaf\"}"]);
        assert_eq!(sent[0].alerts[0].summary, "clouds/cnaf failed 40 % of its rounds lately", "2 of 5 rounds");
        // A target that is plainly down malfunctions, and only that is told.
        let mut engine = Engine::new(Rules { group_wait_ms: 0, degradation_for_ms: 0, ..Rules::default() });
        let mut sent = Vec::new();
        for minute in 0..10 {
            sent.extend(engine.step(T0 + minute * MINUTE, &[down("clouds/cnaf", "cnaf")]));
        }
        let rules: Vec<Rule> = sent.iter().flat_map(|d| d.alerts.iter().map(|a| a.rule)).collect();
        assert_eq!(rules, [Rule::Malfunction]);
    }

    #[test]
    fn exhaustion_reaches_the_groups_managers_too() {
        let mut engine = Engine::new(quick());
        let quota = |scope, used| Observation::Quota { scope, resource: "cores".into(), used, limit: 100.0 };
        let sent = engine.step(
            T0,
            &[
                quota(Scope::Group("cms".into()), 95.0),
                quota(Scope::Group("atlas".into()), 90.0), // not above 90 %
                quota(Scope::Site("recas-bari".into()), 97.0),
                Observation::Quota { scope: Scope::Site("cnaf".into()), resource: "ram".into(), used: 5.0, limit: 0.0 },
            ],
        );
        let told: Vec<(Receiver, &str, Vec<&str>)> =
            sent.iter().map(|d| (d.receiver.clone(), d.group_key.as_str(), keys(d))).collect();
        assert_eq!(
            told,
            [
                (Receiver::Operators, "group=cms", vec!["exhaustion{group=\"cms\",resource=\"cores\"}"]),
                (Receiver::Operators, "site=recas-bari", vec!["exhaustion{resource=\"cores\",site=\"recas-bari\"}"]),
                (Receiver::Managers("cms".into()), "group=cms", vec!["exhaustion{group=\"cms\",resource=\"cores\"}"]),
            ]
        );
        assert_eq!(sent[0].alerts[0].summary, "group cms uses 95 % of its cores (95 of 100)");
    }

    #[test]
    fn alerts_of_a_site_within_the_group_wait_go_out_together() {
        let mut engine = Engine::new(Rules { group_wait_ms: 30_000, ..quick() });
        engine.step(T0, &[down("clouds/recas-bari", "recas-bari")]);
        assert_eq!(engine.step(T0 + 10_000, &[down("clouds/recas-bari", "recas-bari")]), [], "waits for the group");
        engine.step(T0 + 20_000, &[down("auth/recas-bari", "recas-bari")]);
        assert_eq!(engine.step(T0 + 30_000, &[down("auth/recas-bari", "recas-bari")]), []);
        let sent = engine.step(T0 + 40_000, &[]);
        assert_eq!(sent.len(), 1);
        assert_eq!(keys(&sent[0]), ["malfunction{site=\"recas-bari\",target=\"auth/recas-bari\"}", BARI]);
        // Another site is another group.
        engine.step(T0 + 50_000, &[down("clouds/cnaf", "cnaf")]);
        engine.step(T0 + 60_000, &[down("clouds/cnaf", "cnaf")]);
        let sent = engine.step(T0 + 90_000, &[]);
        assert_eq!(sent.iter().map(|d| d.group_key.as_str()).collect::<Vec<_>>(), ["site=cnaf"]);
    }

    #[test]
    fn a_receiver_gets_at_most_so_many_notifications_an_hour() {
        let mut engine = Engine::new(Rules { max_per_hour: 2, ..quick() });
        let sites = ["a", "b", "c"];
        let round = |ok| sites.iter().map(|s| probe(&format!("clouds/{s}"), s, ok, 40)).collect::<Vec<_>>();
        engine.step(T0, &round(false));
        let sent = engine.step(T0 + MINUTE, &round(false));
        assert_eq!(sent.iter().map(|d| d.group_key.as_str()).collect::<Vec<_>>(), ["site=a", "site=b"]);
        for minute in 2..61 {
            assert_eq!(engine.step(T0 + minute * MINUTE, &round(false)), [], "{minute}");
        }
        let sent = engine.step(T0 + 61 * MINUTE, &round(false));
        assert_eq!(sent.iter().map(|d| d.group_key.as_str()).collect::<Vec<_>>(), ["site=c"], "it waited its turn");
    }

    #[test]
    fn a_firing_alert_repeats_until_acknowledged() {
        let mut engine = Engine::new(Rules { repeat_interval_ms: HOUR, ..quick() });
        let mut told = Vec::new();
        for minute in 0..=130 {
            if minute == 100 {
                engine.acknowledge(BARI, "alice").unwrap();
            }
            for d in engine.step(T0 + minute * MINUTE, &[down("clouds/recas-bari", "recas-bari")]) {
                told.push((minute, d.kind));
            }
        }
        assert_eq!(told, [(1, DispatchKind::Firing), (61, DispatchKind::Firing)], "not at 121: acknowledged");
        assert_eq!(engine.alerts().next().unwrap().acked_by.as_deref(), Some("alice"));
        assert_eq!(engine.acknowledge("nope", "alice"), Err(AlertError::Unknown("nope".into())));
        // Resolved, then failing again: a new episode, told again and no longer acknowledged.
        for minute in 131..=141 {
            engine.step(T0 + minute * MINUTE, &[up("clouds/recas-bari", "recas-bari")]);
        }
        assert_eq!(engine.alerts().next().unwrap().state, AlertState::Resolved);
        assert_eq!(engine.acknowledge(BARI, "alice"), Err(AlertError::NotFiring(BARI.into())),);
        engine.step(T0 + 142 * MINUTE, &[down("clouds/recas-bari", "recas-bari")]);
        let sent = engine.step(T0 + 143 * MINUTE, &[down("clouds/recas-bari", "recas-bari")]);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].alerts[0].acked_by, None);
    }

    #[test]
    fn silenced_alerts_are_listed_but_not_sent_until_the_silence_ends() {
        let mut engine = Engine::new(quick());
        let matcher = |name: &str, value: &str, equal| Matcher { name: name.into(), value: value.into(), equal };
        engine.silence(Silence {
            id: "s1".into(),
            matchers: vec![matcher("alertname", "malfunction", true), matcher("site", "cnaf", false)],
            starts_at: T0,
            ends_at: T0 + 30 * MINUTE,
            created_by: "alice".into(),
            comment: "moving racks".into(),
        });
        let mut told = Vec::new();
        for minute in 0..40 {
            let round = [down("clouds/recas-bari", "recas-bari"), down("clouds/cnaf", "cnaf")];
            for d in engine.step(T0 + minute * MINUTE, &round) {
                told.push((minute, d.group_key));
            }
            if minute == 5 {
                let silenced: Vec<(&str, bool)> = engine.alerts().map(|a| (a.key.as_str(), a.silenced)).collect();
                assert_eq!(
                    silenced,
                    [("malfunction{site=\"cnaf\",target=\"clouds/cnaf\"}", false), (BARI, true)],
                    "recorded, marked silenced"
                );
            }
        }
        assert_eq!(told, [(1, "site=cnaf".to_string()), (30, "site=recas-bari".to_string())]);
        assert!(!engine.unsilence("s1"), "an ended silence is gone");
    }

    #[test]
    fn the_engine_resumes_from_its_saved_state() {
        let mut engine = Engine::new(Rules { group_wait_ms: 30_000, ..quick() });
        engine.step(T0, &[down("clouds/recas-bari", "recas-bari")]);
        engine.step(T0 + 10_000, &[down("clouds/recas-bari", "recas-bari")]);
        let saved = serde_json::to_string(&engine).unwrap();
        let mut resumed: Engine = serde_json::from_str(&saved).unwrap();
        assert_eq!(resumed, engine);
        let sent = resumed.step(T0 + 40_000, &[]);
        assert_eq!(sent.len(), 1, "the group's wait went on across the restart");
        assert_eq!(sent, engine.step(T0 + 40_000, &[]));
        let json: serde_json::Value = serde_json::to_value(&sent[0]).unwrap();
        assert_eq!(json["receiver"], "operators");
        assert_eq!(json["kind"], "firing");
        assert_eq!(json["alerts"][0]["state"], "firing");
        assert_eq!(json["alerts"][0]["labels"]["target"], "clouds/recas-bari");
        assert_eq!(
            serde_json::to_value(Receiver::Managers("cms".into())).unwrap(),
            serde_json::json!({"managers": "cms"})
        );
    }
}
