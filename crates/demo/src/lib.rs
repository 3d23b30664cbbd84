//! A synthetic deployment history for demos and benchmarks: thousands of
//! deployments of the catalogue's services, with their attempts, spread
//! over a period across groups and providers, written straight into the
//! store. The same seed gives the same history.
//!
//! The mix resembles a research federation's year: most deployments of a
//! few popular services, one in twelve from a template of the user's own;
//! one in five first tried on a provider that failed; one in twenty never
//! created; lifetimes from minutes to months (testing groups' shorter);
//! those whose lifetime has not run out are still up. Every deployment is
//! idle (no workflow step due), so a server's workers leave them alone.
//!
//! `nuvola demo-history` and the dashboard's page benchmark use it; the
//! server itself never does.

use nuvola_store::Store;
use nuvola_types::{
    AttemptRecord, AttemptState, DeploymentRecord, DeploymentRequirements, DeploymentStatus, Plan, Progress, Result,
    Task, Usage,
};

/// A catalogue service the history deploys: what a deployment of it records.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    /// The catalogue id.
    pub id: &'a str,
    /// The name users see.
    pub name: &'a str,
    /// The TOSCA text.
    pub template: &'a str,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// How many deployments.
    pub deployments: usize,
    /// Groups and their weights (any positive numbers).
    pub groups: Vec<(String, u32)>,
    /// Groups whose deployments live shorter (testing groups).
    pub short_lived: Vec<String>,
    /// Providers attempts go to.
    pub providers: Vec<String>,
    /// The history ends at this time (ms) and spans this many days.
    pub end_ms: i64,
    pub days: i64,
    /// The owner issuer recorded on every deployment.
    pub issuer: String,
    pub seed: u64,
}

impl HistoryOptions {
    /// A year of `deployments` up to `end_ms` for the demo federation's
    /// groups (`physics`, `bio`, `ml`, and a testing group `sandbox`).
    pub fn demo(deployments: usize, providers: Vec<String>, end_ms: i64) -> Self {
        HistoryOptions {
            deployments,
            groups: vec![("physics".into(), 40), ("bio".into(), 25), ("ml".into(), 25), ("sandbox".into(), 10)],
            short_lived: vec!["sandbox".into()],
            providers,
            end_ms,
            days: 365,
            issuer: "nuvola".into(),
            seed: 2026,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistorySummary {
    pub deployments: usize,
    pub attempts: usize,
    /// Ids of deployments still up (`CREATE_COMPLETE`), first ones first.
    pub running: Vec<String>,
}

/// A small deterministic generator (SplitMix64): no dependency, and the
/// same history on every machine.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u32 = items.iter().map(|(_, w)| *w).sum();
        let mut pick = self.below(total as usize) as u32;
        for (item, w) in items {
            if pick < *w {
                return item;
            }
            pick -= w;
        }
        &items[items.len() - 1].0
    }
}

const HOUR: i64 = 3_600_000;

/// Writes a synthetic history of `services` (the most popular first) into
/// `store` and says what it wrote.
pub async fn generate_history(
    store: &Store,
    services: &[Service<'_>],
    options: &HistoryOptions,
) -> Result<HistorySummary> {
    if services.is_empty() || options.providers.is_empty() || options.groups.is_empty() {
        return Err(nuvola_types::Error::invalid("a history needs services, providers and groups"));
    }
    let mut dice = Dice(options.seed);
    // Popular services first: weights 8, 4, 2, 1, 1, ...
    let weighted: Vec<(&Service, u32)> =
        services.iter().enumerate().map(|(i, s)| (s, 8u32.checked_shr(i as u32).unwrap_or(0).max(1))).collect();
    let start = options.end_ms - options.days * 24 * HOUR;
    let mut summary = HistorySummary::default();
    for n in 0..options.deployments {
        let created_at = start + (dice.unit() * (options.end_ms - start - HOUR) as f64) as i64;
        let group = dice.weighted(&options.groups).clone();
        let service = *dice.weighted(&weighted);
        let own_template = dice.below(12) == 0;
        let testing = options.short_lived.contains(&group);
        // Log-uniform lifetimes from 6 minutes to ~6 months; testing: /5.
        let mut lifetime_h = 0.1 * (4400f64 / 0.1).powf(dice.unit());
        if testing {
            lifetime_h /= 5.0;
        }
        let failed_first = dice.below(5) == 0;
        let never_created = dice.below(20) == 0;
        let id = format!("synthetic-{:05}-{:08x}", n, dice.next() as u32);
        let mut attempts = Vec::new();
        let mut at = created_at + 20_000;
        let tries = if never_created { 1 + dice.below(3) } else { 1 + usize::from(failed_first) };
        let mut provider = String::new();
        for number in 1..=tries {
            provider = options.providers[dice.below(options.providers.len())].clone();
            let took = (60_000.0 + dice.unit() * 600_000.0) as i64;
            let last = number == tries;
            let (state, reason) = if last && !never_created {
                (AttemptState::Ready, None)
            } else {
                (AttemptState::Cleaned, Some(format!("{provider}: the VM did not boot: timed out waiting for SSH")))
            };
            attempts.push(AttemptRecord {
                deployment_id: id.clone(),
                number: number as i64,
                attempt_id: format!("{id}-{number}"),
                provider: provider.clone(),
                state,
                reason,
                started_at: at,
                finished_at: Some(at + took),
                ended_at: (state == AttemptState::Cleaned).then_some(at + took),
            });
            at += took + 5_000;
        }
        let ready_at = at;
        let ends_at = created_at + (lifetime_h * HOUR as f64) as i64;
        let (status, updated_at, reason) = if never_created {
            let causes: Vec<String> = attempts.iter().map(|a| a.reason.clone().unwrap_or_default()).collect();
            (DeploymentStatus::CreateFailed, ready_at, Some(causes.join("; ")))
        } else if ends_at < options.end_ms {
            if let Some(last) = attempts.last_mut() {
                last.state = AttemptState::Deleted;
            }
            (DeploymentStatus::DeleteComplete, ends_at.max(ready_at), None)
        } else {
            summary.running.push(id.clone());
            (DeploymentStatus::CreateComplete, ready_at, None)
        };
        let up = status == DeploymentStatus::CreateComplete;
        let mut outputs = serde_json::Map::new();
        if up {
            outputs.insert("endpoint".into(), format!("https://{id}.{provider}.cloud.example/").into());
            outputs.insert("node_ip".into(), format!("192.0.2.{}", 1 + n % 250).into());
        }
        let record = DeploymentRecord {
            id: id.clone(),
            owner_subject: format!("user{:03}", dice.below(300)),
            owner_issuer: options.issuer.clone(),
            owner_email: None,
            user_group: group,
            catalogue_id: (!own_template).then(|| service.id.to_string()),
            description: Some(format!("{} #{n}", service.name)),
            status,
            status_reason: reason,
            task: Task::None,
            template: service.template.to_string(),
            parameters: serde_json::Map::new(),
            inputs: serde_json::Map::new(),
            secret_inputs: Default::default(),
            secrets_unreadable: None,
            requirements: DeploymentRequirements::default(),
            plan: Plan::default(),
            outputs,
            outputs_unreadable: None,
            held: if up {
                Usage { instances: 1, cores: 2, ram_mb: 4096, ..Usage::default() }
            } else {
                Usage::default()
            },
            callback: None,
            timeout_mins: 720,
            provider_timeout_mins: 60,
            max_providers_retry: 3,
            keep_last_attempt: false,
            provider: Some(provider.clone()),
            endpoint: up.then(|| format!("https://{provider}.cloud.example:5000/v3")),
            physical_id: up.then(|| format!("{id}-infra")),
            workflow: None,
            next_run_at: None,
            deadline_at: created_at + 720 * 60_000,
            created_at,
            updated_at,
            revision: 0,
        };
        summary.attempts += attempts.len();
        let progress = Progress { attempts, log: vec![format!("submitted {}", service.id)] };
        store.insert_deployment(&record, &progress).await?;
        summary.deployments += 1;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use nuvola_store::{DeploymentFilter, StoreOptions};

    use super::*;

    /// Two services; what their templates say does not matter here.
    const SERVICES: [Service; 2] = [
        Service { id: "jupyter", name: "Jupyter", template: "tosca_definitions_version: tosca_simple_yaml_1_0\n" },
        Service { id: "single-vm", name: "A VM", template: "tosca_definitions_version: tosca_simple_yaml_1_3\n" },
    ];

    async fn history(dir: &std::path::Path, seed: u64) -> (Store, HistorySummary) {
        let url = format!("sqlite://{}", dir.join("nuvola.sqlite").display());
        let store = Store::open(StoreOptions::new(url)).await.unwrap();
        let end = 1_800_000_000_000;
        let options = HistoryOptions { seed, ..HistoryOptions::demo(400, vec!["a".into(), "b".into()], end) };
        let summary = generate_history(&store, &SERVICES, &options).await.unwrap();
        (store, summary)
    }

    #[tokio::test]
    async fn a_history_mixes_outcomes_stays_idle_and_repeats_with_its_seed() {
        let (one, two, three) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (store, summary) = history(one.path(), 1).await;
        assert_eq!(summary.deployments, 400);
        assert!(summary.attempts > 400, "some deployments were tried twice");
        let (all, total) = store.list_deployments(&DeploymentFilter::default(), 0, 1000).await.unwrap();
        assert_eq!(total, 400);
        let count = |s: DeploymentStatus| all.iter().filter(|d| d.status == s).count();
        assert!(count(DeploymentStatus::CreateFailed) > 0);
        assert!(count(DeploymentStatus::DeleteComplete) > 0);
        assert_eq!(count(DeploymentStatus::CreateComplete), summary.running.len());
        assert!(!summary.running.is_empty());
        assert!(all.iter().all(|d| d.next_run_at.is_none() && d.workflow.is_none()), "a worker would pick one up");
        assert!(all.iter().any(|d| d.catalogue_id.is_none()) && all.iter().any(|d| d.user_group == "sandbox"));
        let start = 1_800_000_000_000 - 365 * 24 * HOUR;
        assert!(all.iter().all(|d| (start..1_800_000_000_000).contains(&d.created_at)));
        let up = store.deployment(&summary.running[0]).await.unwrap().unwrap();
        assert!(up.outputs.contains_key("endpoint"));
        let attempts = store.attempts(&up.id).await.unwrap();
        assert_eq!(attempts.last().unwrap().state, AttemptState::Ready);

        let (_, again) = history(two.path(), 1).await;
        assert_eq!(again, summary);
        let (_, other) = history(three.path(), 2).await;
        assert_ne!(other.running, summary.running);
    }
}
