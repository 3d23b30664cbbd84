//! Where a scheduled maintenance stands at a given time, and how the
//! status page and its feed announce it: "due to start in 2 days", then
//! in progress, then completed, by itself as time passes.

/// A maintenance's phase, with Statuspage's words for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not started yet; starts in this many ms.
    Scheduled {
        starts_in_ms: i64,
    },
    /// Started, not over; ends in this many ms.
    InProgress {
        ends_in_ms: i64,
    },
    Completed,
}

impl Phase {
    /// The phase at `now` of a maintenance over `[start, end)` (all in ms).
    pub fn at(start: i64, end: i64, now: i64) -> Phase {
        if now < start {
            Phase::Scheduled { starts_in_ms: start - now }
        } else if now < end {
            Phase::InProgress { ends_in_ms: end - now }
        } else {
            Phase::Completed
        }
    }

    /// The status Statuspage's JSON gives a scheduled maintenance.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Scheduled { .. } => "scheduled",
            Phase::InProgress { .. } => "in_progress",
            Phase::Completed => "completed",
        }
    }

    /// What the page and the feed say of it.
    pub fn announcement(self) -> String {
        match self {
            Phase::Scheduled { starts_in_ms } => format!("due to start in {}", span(starts_in_ms)),
            Phase::InProgress { ends_in_ms } => format!("in progress, due to end in {}", span(ends_in_ms)),
            Phase::Completed => "completed".to_string(),
        }
    }
}

/// A span in the largest whole unit that fits, rounded down, as people
/// say it: "2 days", "1 hour", "5 minutes", "less than a minute".
pub fn span(ms: i64) -> String {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let (n, unit) = match ms {
        ms if ms >= DAY => (ms / DAY, "day"),
        ms if ms >= HOUR => (ms / HOUR, "hour"),
        ms if ms >= MINUTE => (ms / MINUTE, "minute"),
        _ => return "less than a minute".to_string(),
    };
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    #[test]
    fn a_window_two_days_ahead_is_announced_then_starts_and_ends_by_itself() {
        let (start, end) = (10 * DAY, 10 * DAY + 4 * HOUR);
        let two_days_before = Phase::at(start, end, start - 2 * DAY);
        assert_eq!(two_days_before.as_str(), "scheduled");
        assert_eq!(two_days_before.announcement(), "due to start in 2 days");
        // Rounded down: 47 hours is "1 day".
        assert_eq!(Phase::at(start, end, start - 47 * HOUR).announcement(), "due to start in 1 day");
        let started = Phase::at(start, end, start);
        assert_eq!(started, Phase::InProgress { ends_in_ms: 4 * HOUR });
        assert_eq!(started.announcement(), "in progress, due to end in 4 hours");
        assert_eq!(Phase::at(start, end, end), Phase::Completed);
        assert_eq!(Phase::at(start, end, end).as_str(), "completed");
    }

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(HOUR), "1 hour");
        assert_eq!(span(90 * 60_000), "1 hour");
        assert_eq!(span(5 * 60_000 + 59_999), "5 minutes");
        assert_eq!(span(59_999), "less than a minute");
        assert_eq!(span(3 * DAY), "3 days");
    }
}
