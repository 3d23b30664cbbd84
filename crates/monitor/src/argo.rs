//! Availability and reliability with EGI ARGO's definitions: over a period
//! `T`, `UP = OK + WARNING`, availability `A = UP / (T − UNKNOWN)` and
//! reliability `R = UP / (T − UNKNOWN − SCHEDULED_DOWNTIME)`. A service is
//! not charged for time nobody could tell its state (UNKNOWN), and not for
//! downtime announced ahead (reliability).

/// What a service was, as ARGO's status computation names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Ok,
    Warning,
    Critical,
    /// No result could tell (no probe ran, or its answer was lost).
    Unknown,
    /// Inside a scheduled downtime, whatever the probes said.
    Downtime,
}

/// How long a service spent in each status over a period, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Durations {
    pub ok: i64,
    pub warning: i64,
    pub critical: i64,
    pub unknown: i64,
    pub downtime: i64,
}

impl Durations {
    /// The whole period.
    pub fn total(&self) -> i64 {
        self.ok + self.warning + self.critical + self.unknown + self.downtime
    }

    /// Time up: OK and WARNING.
    pub fn up(&self) -> i64 {
        self.ok + self.warning
    }

    fn add(&mut self, status: Status, ms: i64) {
        let slot = match status {
            Status::Ok => &mut self.ok,
            Status::Warning => &mut self.warning,
            Status::Critical => &mut self.critical,
            Status::Unknown => &mut self.unknown,
            Status::Downtime => &mut self.downtime,
        };
        *slot += ms;
    }

    /// The time spent in each status over `[from, to)`, from a timeline of
    /// changes (`at` in ms, the status from then on) sorted by time. Time
    /// before the first change is UNKNOWN; so is the period's remainder
    /// when the timeline says nothing.
    pub fn of_timeline(changes: &[(i64, Status)], from: i64, to: i64) -> Durations {
        let mut d = Durations::default();
        if to <= from {
            return d;
        }
        let mut at = from;
        let mut status = Status::Unknown;
        for &(change, next) in changes {
            if change >= to {
                break;
            }
            if change > at {
                d.add(status, change - at);
                at = change;
            }
            status = next;
        }
        d.add(status, to - at);
        d
    }
}

/// Availability and reliability as fractions of 1; `None` where the
/// denominator is empty (the whole period unknown, or in downtime).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub availability: Option<f64>,
    pub reliability: Option<f64>,
}

/// ARGO's availability and reliability of `d`.
pub fn figures(d: &Durations) -> Figures {
    let ratio = |den: i64| (den > 0).then(|| d.up() as f64 / den as f64);
    Figures { availability: ratio(d.total() - d.unknown), reliability: ratio(d.total() - d.unknown - d.downtime) }
}

/// ARGO's reading of a component's state: operational is OK, degraded
/// performance a WARNING (still up), an outage CRITICAL, and maintenance a
/// scheduled downtime.
pub fn status_of(state: nuvola_types::ComponentState) -> Status {
    use nuvola_types::ComponentState::*;
    match state {
        Operational => Status::Ok,
        DegradedPerformance => Status::Warning,
        PartialOutage | MajorOutage => Status::Critical,
        UnderMaintenance => Status::Downtime,
    }
}

/// The ARGO timeline of a component: its state changes (`at`, sorted)
/// read as statuses, with the scheduled downtimes `[start, end)` laid over
/// them (a downtime hides whatever the probes said). Before its first
/// state, a component is UNKNOWN.
pub fn timeline(states: &[(i64, nuvola_types::ComponentState)], downtimes: &[(i64, i64)]) -> Vec<(i64, Status)> {
    let mut times: Vec<i64> = states.iter().map(|(at, _)| *at).collect();
    times.extend(downtimes.iter().flat_map(|&(start, end)| [start, end]));
    times.sort_unstable();
    times.dedup();
    let mut out: Vec<(i64, Status)> = Vec::with_capacity(times.len());
    let mut next_state = 0;
    let mut state = Status::Unknown;
    for at in times {
        while next_state < states.len() && states[next_state].0 <= at {
            state = status_of(states[next_state].1);
            next_state += 1;
        }
        let status =
            if downtimes.iter().any(|&(start, end)| start <= at && at < end) { Status::Downtime } else { state };
        if out.last().is_none_or(|&(_, last)| last != status) {
            out.push((at, status));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn percent(f: Option<f64>) -> String {
        format!("{:.1}", f.expect("a figure") * 100.0)
    }

    /// ARGO's worked example: 24 h with 5 h OK, 9 h CRITICAL, 6 h UNKNOWN
    /// and 4 h of scheduled downtime.
    #[test]
    fn argo_worked_example() {
        let d = Durations { ok: 5 * HOUR, critical: 9 * HOUR, unknown: 6 * HOUR, downtime: 4 * HOUR, warning: 0 };
        assert_eq!(d.total(), 24 * HOUR);
        let f = figures(&d);
        assert_eq!(percent(f.availability), "27.8");
        assert_eq!(percent(f.reliability), "35.7");
    }

    #[test]
    fn the_worked_example_from_a_timeline() {
        let changes = [
            (0, Status::Ok),
            (5 * HOUR, Status::Critical),
            (14 * HOUR, Status::Unknown),
            (20 * HOUR, Status::Downtime),
            // A change after the period changes nothing in it.
            (25 * HOUR, Status::Ok),
        ];
        let d = Durations::of_timeline(&changes, 0, 24 * HOUR);
        assert_eq!(
            d,
            Durations { ok: 5 * HOUR, critical: 9 * HOUR, unknown: 6 * HOUR, downtime: 4 * HOUR, warning: 0 }
        );
    }

    #[test]
    fn warnings_count_as_up_and_silence_as_unknown() {
        // Nothing known for the first two hours; one hour WARNING, one OK.
        let changes = [(2 * HOUR, Status::Warning), (3 * HOUR, Status::Ok)];
        let d = Durations::of_timeline(&changes, 0, 4 * HOUR);
        assert_eq!(d.unknown, 2 * HOUR);
        assert_eq!(d.up(), 2 * HOUR);
        assert_eq!(figures(&d).availability, Some(1.0));
        // A period before any change is all unknown: no figure at all.
        let empty = Durations::of_timeline(&changes, 0, HOUR);
        assert_eq!(figures(&empty), Figures { availability: None, reliability: None });
        // Changes before the period set the status it starts with.
        let later = Durations::of_timeline(&changes, 10 * HOUR, 11 * HOUR);
        assert_eq!(later, Durations { ok: HOUR, ..Durations::default() });
    }

    #[test]
    fn a_period_all_in_downtime_has_availability_but_no_reliability() {
        let d = Durations { downtime: 24 * HOUR, ..Durations::default() };
        let f = figures(&d);
        assert_eq!(f.availability, Some(0.0));
        assert_eq!(f.reliability, None);
    }

    /// A day with an outage inside an announced downtime that it outlasts:
    /// the downtime is not charged to reliability, the rest of the outage
    /// is.
    #[test]
    fn downtimes_lie_over_the_probes_states() {
        use nuvola_types::ComponentState::*;
        let day = 24 * HOUR;
        let states = [(0, Operational), (10 * HOUR, MajorOutage), (14 * HOUR, Operational)];
        let downtime = [(9 * HOUR, 12 * HOUR)];
        let t = timeline(&states, &downtime);
        assert_eq!(
            t,
            [(0, Status::Ok), (9 * HOUR, Status::Downtime), (12 * HOUR, Status::Critical), (14 * HOUR, Status::Ok)]
        );
        let d = Durations::of_timeline(&t, 0, day);
        assert_eq!((d.ok, d.critical, d.downtime, d.unknown), (19 * HOUR, 2 * HOUR, 3 * HOUR, 0));
        let f = figures(&d);
        assert_eq!((percent(f.availability), percent(f.reliability)), ("79.2".into(), "90.5".into()));
        // Before any state, unknown; degraded performance counts as up.
        let t = timeline(&[(6 * HOUR, DegradedPerformance)], &[]);
        let d = Durations::of_timeline(&t, 0, day);
        assert_eq!((d.unknown, d.warning), (6 * HOUR, 18 * HOUR));
        assert_eq!(figures(&d).availability, Some(1.0));
    }
}
