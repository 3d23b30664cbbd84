//! A component's state on the status page, derived from its probes with
//! hysteresis: one bad round does not page anyone, one good round does
//! not declare the end of an outage.

use std::collections::VecDeque;

pub use nuvola_types::ComponentState;

/// One probe's result in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub latency_ms: u32,
}

/// What one round of a component's probes shows: all fine, all fine but
/// slow, some failing, or all failing. A round without any probe shows
/// nothing.
pub fn assess(round: &[Outcome], slow_ms: u32) -> Option<ComponentState> {
    let failed = round.iter().filter(|o| !o.ok).count();
    Some(match failed {
        _ if round.is_empty() => return None,
        0 if round.iter().any(|o| o.latency_ms > slow_ms) => ComponentState::DegradedPerformance,
        0 => ComponentState::Operational,
        n if n == round.len() => ComponentState::MajorOutage,
        _ => ComponentState::PartialOutage,
    })
}

/// How many rounds in a row it takes to change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hysteresis {
    /// Rounds at least this bad before the state gets worse.
    pub worse_after: usize,
    /// Rounds at least this good before the state gets better.
    pub better_after: usize,
    /// A probe slower than this (ms) makes a round degraded.
    pub slow_ms: u32,
}

impl Default for Hysteresis {
    /// Worse after two rounds (a component leaves "operational" within two
    /// probe intervals), better after three, slow above 2 s.
    fn default() -> Self {
        Hysteresis { worse_after: 2, better_after: 3, slow_ms: 2_000 }
    }
}

/// One component's state, fed one round of probe results at a time.
#[derive(Debug, Clone)]
pub struct Tracker {
    rules: Hysteresis,
    state: ComponentState,
    recent: VecDeque<ComponentState>,
}

impl Tracker {
    /// A component starting `Operational`.
    pub fn new(rules: Hysteresis) -> Tracker {
        Tracker::resume(rules, ComponentState::Operational)
    }

    /// A component starting in `state` (as last stored), with no rounds
    /// seen since.
    pub fn resume(rules: Hysteresis, state: ComponentState) -> Tracker {
        let keep = rules.worse_after.max(rules.better_after).max(1);
        Tracker { rules, state, recent: VecDeque::with_capacity(keep) }
    }

    /// The state as derived so far.
    pub fn state(&self) -> ComponentState {
        self.state
    }

    /// Takes one round; returns the new state when it changed. The state
    /// gets worse to the mildest of the last `worse_after` rounds when all
    /// were worse than it, and better to the worst of the last
    /// `better_after` rounds when all were better.
    pub fn observe(&mut self, round: &[Outcome]) -> Option<ComponentState> {
        let seen = assess(round, self.rules.slow_ms)?;
        let keep = self.rules.worse_after.max(self.rules.better_after).max(1);
        if self.recent.len() == keep {
            self.recent.pop_front();
        }
        self.recent.push_back(seen);
        let last = |n: usize| self.recent.iter().rev().take(n.max(1));
        let enough = |n: usize| self.recent.len() >= n.max(1);
        let before = self.state;
        if enough(self.rules.worse_after) && last(self.rules.worse_after).all(|s| *s > self.state) {
            self.state = *last(self.rules.worse_after).min().expect("rounds");
        } else if enough(self.rules.better_after) && last(self.rules.better_after).all(|s| *s < self.state) {
            self.state = *last(self.rules.better_after).max().expect("rounds");
        }
        (self.state != before).then_some(self.state)
    }
}

/// What the page shows: an operator's override first, then a maintenance
/// window in progress, then the worse of what the probes say and what the
/// open incidents say of the component (`incident`: the worst state they
/// give it; probes may not see what users do).
pub fn shown(
    derived: ComponentState,
    in_maintenance: bool,
    overridden: Option<ComponentState>,
    incident: Option<ComponentState>,
) -> ComponentState {
    match overridden {
        Some(state) => state,
        None if in_maintenance => ComponentState::UnderMaintenance,
        None => incident.map_or(derived, |said| said.max(derived)),
    }
}

#[cfg(test)]
mod tests {
    use super::ComponentState::*;
    use super::*;
    use nuvola_types::Spelled;

    const UP: Outcome = Outcome { ok: true, latency_ms: 40 };
    const SLOW: Outcome = Outcome { ok: true, latency_ms: 5_000 };
    const DOWN: Outcome = Outcome { ok: false, latency_ms: 0 };

    #[test]
    fn a_round_is_judged_by_its_worst_probes() {
        let slow_ms = 2_000;
        assert_eq!(assess(&[UP, UP, UP], slow_ms), Some(Operational));
        assert_eq!(assess(&[UP, SLOW, UP], slow_ms), Some(DegradedPerformance));
        assert_eq!(assess(&[UP, DOWN, SLOW], slow_ms), Some(PartialOutage));
        assert_eq!(assess(&[DOWN, DOWN], slow_ms), Some(MajorOutage));
        assert_eq!(assess(&[], slow_ms), None);
    }

    #[test]
    fn a_component_leaves_operational_on_the_second_bad_round() {
        let mut t = Tracker::new(Hysteresis::default());
        assert_eq!(t.observe(&[DOWN, DOWN, DOWN]), None, "one bad round is not an outage");
        assert_eq!(t.observe(&[DOWN, DOWN, DOWN]), Some(MajorOutage));
        assert_eq!(t.state(), MajorOutage);
    }

    #[test]
    fn it_comes_back_only_after_three_good_rounds() {
        let mut t = Tracker::resume(Hysteresis::default(), MajorOutage);
        assert_eq!(t.observe(&[UP, UP]), None);
        assert_eq!(t.observe(&[UP, UP]), None);
        // Three rounds better than a major outage, the worst of them partial.
        assert_eq!(t.observe(&[UP, DOWN]), Some(PartialOutage));
        assert_eq!(t.observe(&[UP, UP]), None);
        assert_eq!(t.observe(&[UP, UP]), None);
        assert_eq!(t.observe(&[UP, UP]), Some(Operational), "three good rounds in a row");
    }

    #[test]
    fn flapping_settles_on_the_milder_state_and_never_on_operational() {
        let mut t = Tracker::new(Hysteresis::default());
        let mut states = Vec::new();
        for i in 0..10 {
            let round = if i % 2 == 0 { [DOWN, DOWN] } else { [UP, DOWN] };
            t.observe(&round);
            states.push(t.state());
        }
        assert_eq!(states[0], Operational);
        assert!(states[1..].iter().all(|s| *s == PartialOutage), "{states:?}");
        // Good and bad rounds in turn never make it operational again.
        let mut t = Tracker::resume(Hysteresis::default(), MajorOutage);
        for i in 0..10 {
            t.observe(if i % 2 == 0 { &[UP] } else { &[DOWN] });
            assert_eq!(t.state(), MajorOutage, "round {i}");
        }
    }

    #[test]
    fn slowness_is_degraded_performance_and_empty_rounds_change_nothing() {
        let mut t = Tracker::new(Hysteresis::default());
        t.observe(&[SLOW]);
        assert_eq!(t.observe(&[]), None);
        assert_eq!(t.observe(&[SLOW, UP]), Some(DegradedPerformance));
    }

    #[test]
    fn overrides_and_maintenance_come_before_the_probes() {
        assert_eq!(shown(MajorOutage, true, None, None), UnderMaintenance);
        assert_eq!(shown(MajorOutage, true, Some(Operational), None), Operational);
        assert_eq!(shown(DegradedPerformance, false, None, None), DegradedPerformance);
        // An open incident makes it worse, never better.
        assert_eq!(shown(Operational, false, None, Some(PartialOutage)), PartialOutage);
        assert_eq!(shown(MajorOutage, false, None, Some(DegradedPerformance)), MajorOutage);
        assert_eq!(shown(Operational, true, None, Some(MajorOutage)), UnderMaintenance);
        assert_eq!(shown(Operational, false, Some(Operational), Some(MajorOutage)), Operational);
        assert_eq!(MajorOutage.as_str(), "major_outage");
    }
}
