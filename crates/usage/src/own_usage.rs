//! Usage from what nuvola runs: the facts of every deployment attempt that
//! held resources in a period (when it started and ended, where, for whom,
//! and what its plan placed there), read from the store and the registry's
//! providers (the app's, handed in), turned into APEL records by
//! [`nuvola_accounting::usage`], which holds the rules. Measured on the
//! app's clock, so that it runs on the simulator's clock in tests.

use std::collections::BTreeMap;

use nuvola_accounting::usage::{HeldAttempt, HeldNode, HeldVolume, UsageRecords, usage_records};
use nuvola_types::{AttemptRecord, DeploymentRecord, ProviderSpec, Result};

use crate::Accounting;

impl Accounting {
    /// The usage records of every attempt that held resources at some time
    /// in `[from_ms, to_ms)` (ms since the epoch), for the months that
    /// period touches, measured now, with the flavors of the federation's
    /// `providers`. For the accounting job, not for a caller: it sees every
    /// group's usage.
    pub async fn usage_records(&self, providers: &[ProviderSpec], from_ms: i64, to_ms: i64) -> Result<UsageRecords> {
        let store = self.store();
        let attempts = store.attempts_during(from_ms, to_ms).await?;
        let mut deployments: BTreeMap<String, Option<DeploymentRecord>> = BTreeMap::new();
        let mut held = Vec::with_capacity(attempts.len());
        for attempt in &attempts {
            if !deployments.contains_key(&attempt.deployment_id) {
                let d = store.deployment(&attempt.deployment_id).await?;
                deployments.insert(attempt.deployment_id.clone(), d);
            }
            // A deployment removed from the store leaves nothing to say
            // what its attempts held.
            let Some(d) = &deployments[&attempt.deployment_id] else { continue };
            let provider = providers.iter().find(|p| p.name == attempt.provider);
            held.push(held_attempt(d, attempt, provider));
        }
        let seconds = |ms: i64| ms.div_euclid(1000);
        Ok(usage_records(&held, seconds(self.now_ms()), seconds(from_ms)..seconds(to_ms)))
    }
}

/// What `attempt` of `d` held, from its plan for the attempt's provider and
/// the provider's flavors in the registry (the plan's own record of the
/// flavor's size when the registry no longer has it).
fn held_attempt(d: &DeploymentRecord, attempt: &AttemptRecord, provider: Option<&ProviderSpec>) -> HeldAttempt {
    let candidate = d.plan.candidates.iter().find(|c| c.provider == attempt.provider);
    let nodes = d
        .requirements
        .nodes
        .iter()
        .map(|node| {
            let placed = candidate.and_then(|c| c.node(&node.name));
            let flavor = placed.and_then(|p| provider?.flavors.iter().find(|f| f.name == p.flavor));
            let size = placed.map(|p| &p.size);
            HeldNode {
                name: node.name.clone(),
                count: node.count,
                image: placed.map(|p| p.image.clone()).or_else(|| node.image.name.clone()),
                vcpus: flavor.map(|f| f.vcpus).or(size.map(|s| s.vcpus)).or(node.cpus).unwrap_or(1),
                memory_mb: flavor.map(|f| f.ram_mb).or(size.map(|s| s.ram_mb)).or(node.mem_mb).unwrap_or(0),
                disk_gb: flavor.map(|f| f.disk_gb).or(node.disk_gb).unwrap_or(0),
                gpus: flavor.map(|f| f.gpus).or(size.map(|s| s.gpus)).unwrap_or(node.gpus),
                gpu_model: match flavor {
                    Some(f) => f.gpu_model.clone(),
                    None => size.and_then(|s| s.gpu_model.clone()).or_else(|| node.gpu_model.clone()),
                },
                public_ip: node.needs_public_ip(),
                volumes: node
                    .volumes
                    .iter()
                    .map(|v| HeldVolume {
                        name: v.name.clone(),
                        size_gb: v.size_gb,
                        volume_type: v.volume_type.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    // Attempts that ended before nuvola recorded when: at the end of their
    // build, or their start.
    let end = attempt
        .ended_at
        .or_else(|| (!attempt.state.may_hold_resources()).then(|| attempt.finished_at.unwrap_or(attempt.started_at)));
    HeldAttempt {
        attempt_id: attempt.attempt_id.clone(),
        site: attempt.provider.clone(),
        compute_service: provider
            .map(|p| p.endpoint.clone())
            .or_else(|| d.endpoint.clone().filter(|_| d.provider.as_deref() == Some(attempt.provider.as_str()))),
        user: format!("{}@{}", d.owner_subject, d.owner_issuer),
        group: d.user_group.clone(),
        project: provider.and_then(|p| p.groups.get(&d.user_group)?.project.clone()),
        start: attempt.started_at.div_euclid(1000),
        end: end.map(|ms| ms.div_euclid(1000)),
        nodes,
    }
}
