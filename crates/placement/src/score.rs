//! The score that orders providers of equal SLA priority: recent health,
//! creation speed and the group's capacity left after the deployment.

use nuvola_types::{Quota, Usage};

/// What monitoring knows about a provider's recent behaviour; `None` means
/// not known (a new provider, or no recent attempts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// Share of recent deployment attempts that succeeded, 0..=1.
    pub success_rate: Option<f64>,
    /// Median seconds from create to complete over recent attempts.
    pub median_create_secs: Option<f64>,
    /// Whether monitoring's probes find it well (`Some(false)`: slow or
    /// partly failing; it is ranked down).
    pub probe_ok: Option<bool>,
    /// Why monitoring sees it down, if it does (its probes have failed
    /// round after round): it is left out with this reason.
    pub outage: Option<String>,
}

/// How much each term counts in a provider's score.
///
/// ```text
/// score = health   * success_rate                      (unknown: 0.5)
///       + speed    * 300 / (300 + median_create_secs)  (unknown: 0.5)
///       + capacity * free fraction after the deployment
///       - (health + speed + capacity) / 2              if the last probe failed
/// ```
///
/// The free fraction is, over the quota limits this deployment uses
/// (limited and requested), the smallest `(limit - used - requested) /
/// limit`; 1 when nothing it uses is limited. Every term is in 0..=1, so
/// with the default weights (health 0.5, speed 0.2, capacity 0.3, summing
/// to 1) a score is in 0..=1, or below 0.5 while the probe fails. A
/// median create time of 5 minutes scores 0.5, one of 1 minute 0.83.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Weight of the recent success rate.
    pub health: f64,
    /// Weight of the creation speed.
    pub speed: f64,
    /// Weight of the free quota left after the deployment.
    pub capacity: f64,
}

impl Default for Weights {
    /// Health 0.5, speed 0.2, capacity 0.3.
    fn default() -> Self {
        Self { health: 0.5, speed: 0.2, capacity: 0.3 }
    }
}

/// The value of a term nothing is known about.
const NEUTRAL: f64 = 0.5;

/// The median create time, in seconds, that scores [`NEUTRAL`] on speed.
const SPEED_REFERENCE_SECS: f64 = 300.0;

/// Share of the total weight taken off while the probe fails.
const PROBE_FAILED_PENALTY: f64 = 0.5;

/// A provider's score and its terms, each in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Score {
    pub health: f64,
    pub speed: f64,
    pub capacity: f64,
    pub probe_failed: bool,
    pub total: f64,
}

impl Score {
    /// Scores a provider whose group holds `used` and would add `extra`.
    pub fn of(health: &Health, used: Usage, extra: Usage, quota: &Quota, weights: &Weights) -> Self {
        let health_term = health.success_rate.filter(|r| r.is_finite()).map_or(NEUTRAL, |r| r.clamp(0.0, 1.0));
        let speed_term = health
            .median_create_secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(NEUTRAL, |s| SPEED_REFERENCE_SECS / (SPEED_REFERENCE_SECS + s));
        let capacity_term = free_fraction(used, extra, quota);
        let probe_failed = health.probe_ok == Some(false);
        let mut total = weights.health * health_term + weights.speed * speed_term + weights.capacity * capacity_term;
        if probe_failed {
            total -= PROBE_FAILED_PENALTY * (weights.health + weights.speed + weights.capacity);
        }
        Self { health: health_term, speed: speed_term, capacity: capacity_term, probe_failed, total }
    }

    /// The terms, as a plan keeps them.
    pub fn terms(&self) -> nuvola_types::ScoreTerms {
        nuvola_types::ScoreTerms {
            health: self.health,
            speed: self.speed,
            capacity: self.capacity,
            probe_failed: self.probe_failed,
        }
    }
}

/// The smallest share of a limit left once `extra` is added to `used`,
/// over the limits `extra` draws on; 1 when none of them is limited.
fn free_fraction(used: Usage, extra: Usage, quota: &Quota) -> f64 {
    let dimensions = [
        (used.instances, extra.instances, quota.instances),
        (used.cores, extra.cores, quota.cores),
        (used.ram_mb, extra.ram_mb, quota.ram_mb),
        (used.gpus, extra.gpus, quota.gpus),
        (used.volumes, extra.volumes, quota.volumes),
        (used.volume_gb, extra.volume_gb, quota.volume_gb),
        (used.public_ips, extra.public_ips, quota.public_ips),
    ];
    dimensions
        .into_iter()
        .filter_map(|(used, want, limit)| {
            let limit = limit.filter(|&l| l > 0 && want > 0)?;
            let left = limit.saturating_sub(used.saturating_add(want));
            Some(left as f64 / limit as f64)
        })
        .fold(1.0, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_health_is_neutral() {
        let s =
            Score::of(&Health::default(), Usage::default(), Usage::default(), &Quota::default(), &Weights::default());
        assert_eq!((s.health, s.speed, s.capacity), (0.5, 0.5, 1.0));
        assert!((s.total - (0.25 + 0.1 + 0.3)).abs() < 1e-12);
    }

    #[test]
    fn speed_halves_at_the_reference_time() {
        let health = Health { median_create_secs: Some(300.0), ..Health::default() };
        let s = Score::of(&health, Usage::default(), Usage::default(), &Quota::default(), &Weights::default());
        assert_eq!(s.speed, 0.5);
    }

    #[test]
    fn capacity_is_the_tightest_requested_limit() {
        let quota = Quota { cores: Some(10), ram_mb: Some(1000), public_ips: Some(1), ..Quota::default() };
        let used = Usage { cores: 4, public_ips: 1, ..Usage::default() };
        let extra = Usage { cores: 2, ram_mb: 100, ..Usage::default() };
        // cores: 4 of 10 left; RAM: 900 of 1000; public IPs not requested.
        assert!((free_fraction(used, extra, &quota) - 0.4).abs() < 1e-12);
    }

    #[test]
    fn a_failed_probe_costs_half_the_weight() {
        let health =
            Health { success_rate: Some(1.0), median_create_secs: Some(0.0), probe_ok: Some(false), outage: None };
        let s = Score::of(&health, Usage::default(), Usage::default(), &Quota::default(), &Weights::default());
        assert!((s.total - 0.5).abs() < 1e-12);
    }
}
