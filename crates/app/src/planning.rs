//! Placement with the facts it needs: what the group already holds on
//! each provider (from the store), how each provider behaved recently
//! (attempt outcomes), and what providers report about their own quotas.
//! Used by the server and, without drivers, by `nuvola plan`.

use std::collections::BTreeMap;

use nuvola_placement::{Health, PlacementRequest, ProviderSnapshot, Weights};
use nuvola_store::Store;
use nuvola_types::{AttemptState, Plan, ProviderSpec, Quota, Result, Usage, now_ms};

use crate::PlanQuery;

/// How far back attempt outcomes count towards a provider's health.
const HEALTH_WINDOW_MS: i64 = 24 * 3_600_000;

/// How long a reading of the providers' health serves placements: a day's
/// outcomes barely move in a few seconds, and reading them costs a scan of
/// the day's attempts.
pub(crate) const HEALTH_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Each provider's health, by name.
pub type HealthByProvider = BTreeMap<String, Health>;

impl crate::App {
    /// Each provider's success rate and median create time over the last
    /// day, read now, and what the last round of probes found. Admins only.
    pub async fn provider_health(&self, caller: &nuvola_types::Principal) -> Result<HealthByProvider> {
        self.require_admin(caller)?;
        Ok(crate::monitoring::with_probes(provider_health(self.store()).await?, self.watch()))
    }

    /// The providers' recent health, read from the store at most every
    /// [`HEALTH_FRESH_FOR`].
    pub(crate) async fn recent_health(&self) -> Result<std::sync::Arc<HealthByProvider>> {
        if let Some((at, health)) = &*self.inner.health.lock().expect("health lock")
            && at.elapsed() < HEALTH_FRESH_FOR
        {
            return Ok(health.clone());
        }
        let health = crate::monitoring::with_probes(provider_health(self.store()).await?, self.watch());
        let health = std::sync::Arc::new(health);
        *self.inner.health.lock().expect("health lock") = Some((std::time::Instant::now(), health.clone()));
        Ok(health)
    }
}

/// What placement needs to know besides the request and the providers.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// What the group's deployments hold, per provider (read under the
    /// group's lock when the plan is to be acted on).
    pub held: Vec<(String, Usage)>,
    /// How each provider behaved recently.
    pub health: BTreeMap<String, Health>,
    /// The quota and usage providers reported of the group's projects.
    pub reported: BTreeMap<String, (Quota, Usage)>,
}

impl Facts {
    /// What the store knows for `group` (no provider is asked).
    pub async fn from_store(store: &Store, group: &str) -> Result<Facts> {
        Ok(Facts { held: store.held_by_group(group).await?, health: provider_health(store).await?, ..Facts::default() })
    }
}

/// Plans `query` against `providers` with `facts`.
pub fn plan(providers: &[ProviderSpec], query: &PlanQuery<'_>, facts: Facts, weights: &Weights) -> Plan {
    let orders: Vec<Vec<u32>> = providers.iter().map(|p| nuvola_placement::order_by_size(&p.flavors)).collect();
    let PlanQuery { requirements, group, pinned, issuer, timeout_mins, minus } = *query;
    let Facts { held, health, mut reported } = facts;
    let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
    for (provider, held) in held {
        let total = usage.entry(provider).or_default();
        *total = total.plus(held);
    }
    if let (Some(pinned), Some(minus)) = (pinned, minus) {
        let total = usage.entry(pinned.to_string()).or_default();
        *total = total.minus(minus);
        // The provider counts what the deployment holds too.
        if let Some((_, used)) = reported.get_mut(pinned) {
            *used = used.minus(minus);
        }
    }
    let snapshots: Vec<ProviderSnapshot> = providers
        .iter()
        .zip(&orders)
        .map(|(spec, order)| ProviderSnapshot {
            spec,
            usage: usage.get(&spec.name).copied().unwrap_or_default(),
            health: health.get(&spec.name).cloned().unwrap_or_default(),
            reported: reported.get(&spec.name).cloned(),
            flavors_by_size: Some(order),
        })
        .collect();
    let now = chrono::Utc::now();
    let request = PlacementRequest {
        requirements,
        group,
        pinned_provider: pinned,
        issuer,
        // Timeouts are bounded where requests are checked; a window that
        // would leave the calendar still ends (at its last day).
        window: Some((
            now,
            chrono::Duration::try_minutes(timeout_mins)
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        )),
    };
    nuvola_placement::plan(&request, &snapshots, weights)
}

/// Success rate and median create time per provider over the last day.
pub async fn provider_health(store: &Store) -> Result<BTreeMap<String, Health>> {
    let since = now_ms() - HEALTH_WINDOW_MS;
    let mut outcomes: BTreeMap<String, (u32, u32, Vec<i64>)> = BTreeMap::new();
    for (provider, state, took) in store.attempt_outcomes(since).await? {
        let entry = outcomes.entry(provider).or_default();
        match state {
            AttemptState::Ready | AttemptState::Deleting | AttemptState::Deleted => {
                entry.0 += 1;
                entry.2.extend(took);
            }
            AttemptState::Cleaning | AttemptState::Cleaned | AttemptState::Kept | AttemptState::Orphaned => {
                entry.1 += 1
            }
            AttemptState::Creating | AttemptState::Building => {}
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|(provider, (ok, failed, mut took))| {
            took.sort_unstable();
            let total = ok + failed;
            let health = Health {
                success_rate: (total > 0).then(|| f64::from(ok) / f64::from(total)),
                median_create_secs: took.get(took.len() / 2).map(|ms| *ms as f64 / 1000.0),
                probe_ok: None,
                outage: None,
            };
            (provider, health)
        })
        .collect())
}
