//! nuvola-placement: which providers can host a deployment, in which order
//! to try them, and why every other provider was left out.
//!
//! [`plan`] is a pure, deterministic function of the deployment's
//! requirements, a snapshot of each provider (its offer, the group's usage
//! there, its recent health) and the ranking [`Weights`]. It does no I/O, so
//! the app layer calls it inside a request and tests call it by the
//! thousand.
//!
//! # Filters
//!
//! A provider is kept only if every check passes. The checks run in three
//! stages, and each failure becomes one human reason in the provider's
//! [`ProviderVerdict`]:
//!
//! 1. **Admission**: the provider is enabled; the group has a grant (an SLA)
//!    on it; monitoring does not see it down ([`Health::outage`]); every
//!    `SlaPlacement` policy names that grant's SLA; every provider policy
//!    of the template and the user's manual choice name this provider. A
//!    provider failing admission is not examined further: its
//!    reasons are only the admission failures.
//! 2. **Fit**, per node template: a flavor (rules below), an image (rules
//!    below), every requested volume type (case-insensitive name), and the
//!    network: public IPs for a public node, a private network for a
//!    private or isolated one. Fit reasons are prefixed with the node name,
//!    and every failing node is reported.
//! 3. **Quota**, once every node has a flavor: what the whole deployment
//!    holds (each node × its `count`, with the chosen flavors) plus the
//!    group's current usage, against the grant's quota; the first limit
//!    exceeded is reported.
//!
//! Flavor: the smallest fitting flavor, by (GPUs, vCPUs, RAM, disk, name),
//! so a request without GPUs never lands on a GPU flavor while a plain one
//! fits. Asking for a GPU vendor or model implies at least one GPU; both
//! compare case-insensitively. `instance_type` selects that exact flavor
//! name, which must still satisfy every other constraint.
//!
//! Image: `os.image` is matched exactly against image names and wins over
//! the other fields. Otherwise type and distribution compare
//! case-insensitively and the version matches whole dot-separated
//! components from the left: `22` matches `22.04` and `22.04.3`, `2` does
//! not match `22.04`. Among several matches: an image with CUDA (or `gpu` /
//! `cuda` in its name) for a GPU node and one without for other nodes, then
//! an exact version match, then the highest version, then the name.
//!
//! # Ranking
//!
//! Accepted providers are ordered by the grant's SLA priority (higher
//! first, strictly dominating), then by score (higher first), then by
//! provider name, so equal providers always come out in the same order and
//! the plan does not depend on the order providers are given in. See
//! [`Weights`] for the score formula. [`Candidate::score`] holds that score
//! alone (priority is not folded in): the candidates' order is the ranking.

mod explain;
mod flavor;
mod image;
mod score;

use chrono::{DateTime, Utc};

use nuvola_types::{
    Candidate, ComputeRequirement, DeploymentRequirements, Flavor, FlavorSize, Image, MaintenanceKind, NetworkKind,
    NodePlacement, PlacementPolicy, Plan, ProviderGrant, ProviderSpec, ProviderVerdict, Quota, Usage,
};

pub use explain::explain;
pub use flavor::order_by_size;
pub use score::{Health, Weights};

use score::Score;

/// One provider as placement sees it at the time of the request.
#[derive(Debug, Clone)]
pub struct ProviderSnapshot<'a> {
    /// What the provider offers and grants.
    pub spec: &'a ProviderSpec,
    /// What the requesting group already holds on this provider.
    pub usage: Usage,
    /// How the provider behaved recently.
    pub health: Health,
    /// The group's project limits and usage as the provider itself
    /// reports them, when its driver can tell.
    pub reported: Option<(Quota, Usage)>,
    /// `spec.flavors` ordered by size ([`order_by_size`]), when the caller
    /// keeps it: placement then stops at the first flavor that fits.
    pub flavors_by_size: Option<&'a [u32]>,
}

/// What is to be placed, for whom.
#[derive(Debug, Clone, Copy)]
pub struct PlacementRequest<'a> {
    /// The deployment's requirements, from its template.
    pub requirements: &'a DeploymentRequirements,
    /// The user group that owns the deployment.
    pub group: &'a str,
    /// A provider the user chose by hand, if any.
    pub pinned_provider: Option<&'a str>,
    /// The issuer of the user's identity, checked against the providers'
    /// accepted issuers.
    pub issuer: Option<&'a str>,
    /// From now until the deployment's timeout: SLAs must be valid at its
    /// start and no maintenance may overlap it.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Filters and ranks `providers` for `request`: candidates best first, and
/// one verdict per provider (accepted ones in candidate order, then the
/// rejected ones by name).
pub fn plan(request: &PlacementRequest<'_>, providers: &[ProviderSnapshot<'_>], weights: &Weights) -> Plan {
    let mut accepted = Vec::with_capacity(providers.len());
    let mut rejected = Vec::new();
    for snapshot in providers {
        match assess(request, snapshot, weights) {
            Ok(fit) => accepted.push(fit),
            Err(reasons) => {
                rejected.push(ProviderVerdict { provider: snapshot.spec.name.clone(), accepted: false, reasons })
            }
        }
    }
    // Rank by moving indices, not the (large) fits themselves.
    let mut ranking: Vec<usize> = (0..accepted.len()).collect();
    ranking.sort_by(|&a, &b| {
        let (a, b) = (&accepted[a], &accepted[b]);
        b.priority
            .total_cmp(&a.priority)
            .then(b.score.total.total_cmp(&a.score.total))
            .then_with(|| a.candidate.provider.cmp(&b.candidate.provider))
    });
    rejected.sort_by(|a, b| a.provider.cmp(&b.provider));

    let mut plan = Plan {
        candidates: Vec::with_capacity(accepted.len()),
        verdicts: Vec::with_capacity(accepted.len() + rejected.len()),
    };
    let mut fits: Vec<Option<Fit>> = accepted.into_iter().map(Some).collect();
    for index in ranking {
        let fit = fits[index].take().expect("each fit is ranked once");
        // The words of an acceptance are rendered from the candidate when
        // the plan is shown (`Plan::reasons`), not here.
        plan.verdicts.push(ProviderVerdict {
            provider: fit.candidate.provider.clone(),
            accepted: true,
            reasons: Vec::new(),
        });
        plan.candidates.push(fit.candidate);
    }
    plan.verdicts.extend(rejected);
    plan
}

/// A provider that passed every filter, with what ranks it.
struct Fit {
    candidate: Candidate,
    priority: f64,
    score: Score,
}

/// Runs every filter on one provider: its fit, or every reason it fails.
fn assess(
    request: &PlacementRequest<'_>,
    snapshot: &ProviderSnapshot<'_>,
    weights: &Weights,
) -> Result<Fit, Vec<String>> {
    let spec = snapshot.spec;
    let grant = admit(request, spec)?;
    if let Some(why) = &snapshot.health.outage {
        return Err(vec![format!("down: {why}")]);
    }

    let mut failures = Vec::new();
    let mut placed: Vec<(&ComputeRequirement, &Flavor, &Image)> = Vec::new();
    for node in &request.requirements.nodes {
        match place_node(node, spec, snapshot.flavors_by_size) {
            Ok((flavor, image)) => placed.push((node, flavor, image)),
            // A node with no instances (INFN Cloud's optional GPU workers
            // default to `count: 0`) needs no flavor here; scaling it up
            // later is planned again.
            Err(_) if node.count == 0 => {}
            Err(reasons) => failures.extend(reasons.into_iter().map(|reason| format!("{}: {reason}", node.name))),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }

    let extra = Usage::of_deployment(request.requirements, |name| {
        placed.iter().find(|(node, _, _)| node.name == name).map(|(_, flavor, _)| *flavor)
    });
    if let Some((what, want, left)) = snapshot.usage.exceeds(extra, &grant.quota) {
        return Err(vec![format!(
            "quota: {want} {} requested, {left} left for group {}",
            quota_noun(what, want),
            request.group
        )]);
    }
    if let Some((limits, used)) = &snapshot.reported
        && let Some((what, want, left)) = used.exceeds(extra, limits)
    {
        let project = grant.project.as_deref().unwrap_or(request.group);
        return Err(vec![format!(
            "provider quota: {want} {} requested, {left} left in project {project}",
            quota_noun(what, want)
        )]);
    }

    let score = Score::of(&snapshot.health, snapshot.usage, extra, &grant.quota, weights);
    let nodes = placed
        .iter()
        .map(|(node, flavor, image)| NodePlacement {
            node: node.name.clone(),
            count: node.count,
            flavor: flavor.name.clone(),
            image: image.name.clone(),
            size: FlavorSize {
                vcpus: flavor.vcpus,
                ram_mb: flavor.ram_mb,
                gpus: flavor.gpus,
                gpu_vendor: flavor.gpu_vendor.clone().filter(|_| flavor.gpus > 0),
                gpu_model: flavor.gpu_model.clone().filter(|_| flavor.gpus > 0),
                infiniband: flavor.infiniband,
            },
        })
        .collect();
    Ok(Fit {
        candidate: Candidate {
            provider: spec.name.clone(),
            sla_id: grant.sla_id.clone(),
            priority: grant.priority,
            score: score.total,
            terms: score.terms(),
            nodes,
        },
        priority: grant.priority,
        score,
    })
}

/// The admission checks: enabled, granted to the group, allowed by the
/// template's policies and the user's choice. Returns the group's grant.
fn admit<'s>(request: &PlacementRequest<'_>, spec: &'s ProviderSpec) -> Result<&'s ProviderGrant, Vec<String>> {
    let mut reasons = Vec::new();
    if !spec.enabled {
        reasons.push("disabled".to_owned());
    }
    if let Some(issuer) = request.issuer
        && !spec.issuers.is_empty()
        && !spec.issuers.iter().any(|i| i == issuer)
    {
        reasons.push(format!("does not accept users of issuer {issuer} (accepts {})", spec.issuers.join(", ")));
    }
    if let Some((from, until)) = request.window {
        for window in spec.maintenance.iter().filter(|w| w.kind == MaintenanceKind::Outage && w.overlaps(from, until)) {
            let why = if window.reason.is_empty() { String::new() } else { format!(": {}", window.reason) };
            reasons.push(format!(
                "in maintenance from {} to {}{why}",
                window.start.format("%Y-%m-%d %H:%M UTC"),
                window.end.format("%Y-%m-%d %H:%M UTC")
            ));
        }
    }
    for policy in &request.requirements.policies {
        if let PlacementPolicy::Provider { provider } = policy
            && *provider != spec.name
        {
            reasons.push(format!("not the provider pinned by the template (Placement policy: {provider})"));
        }
    }
    if let Some(pinned) = request.pinned_provider
        && pinned != spec.name
    {
        reasons.push(format!("not the provider chosen for this deployment ({pinned})"));
    }
    let grant = spec.groups.get(request.group);
    match grant {
        None => reasons.push(format!("no SLA for group {}", request.group)),
        Some(grant) => {
            if let Some((now, _)) = request.window {
                if let Some(starts) = grant.starts.filter(|s| *s > now) {
                    reasons.push(format!("SLA {} starts on {}", grant.sla_id, starts.format("%Y-%m-%d")));
                }
                if let Some(ends) = grant.ends.filter(|e| *e <= now) {
                    reasons.push(format!("SLA {} expired on {}", grant.sla_id, ends.format("%Y-%m-%d")));
                }
            }
            for policy in &request.requirements.policies {
                if let PlacementPolicy::Sla { sla_id } = policy
                    && *sla_id != grant.sla_id
                {
                    reasons.push(format!(
                        "SLA {sla_id} not on this provider (group {} has {} here)",
                        request.group, grant.sla_id
                    ));
                }
            }
        }
    }
    match grant {
        Some(grant) if reasons.is_empty() => Ok(grant),
        _ => Err(reasons),
    }
}

/// Chooses a flavor and an image for one node and checks its volumes and
/// network; on failure, every reason (without the node prefix).
fn place_node<'s>(
    node: &ComputeRequirement,
    spec: &'s ProviderSpec,
    by_size: Option<&[u32]>,
) -> Result<(&'s Flavor, &'s Image), Vec<String>> {
    let mut reasons = Vec::new();
    let flavor = flavor::choose(node, &spec.flavors, by_size);
    let wants_gpu = node.gpus > 0 || flavor.as_ref().is_ok_and(|f| f.gpus > 0);
    let image = image::choose(&node.image, wants_gpu, &spec.images);
    if let Err(reason) = &flavor {
        reasons.push(reason.clone());
    }
    if let Err(reason) = &image {
        reasons.push(reason.clone());
    }

    let mut missing_types: Vec<&str> = Vec::new();
    for volume in &node.volumes {
        if let Some(wanted) = volume.volume_type.as_deref()
            && !spec.volume_types.iter().any(|t| t.name.eq_ignore_ascii_case(wanted))
            && !missing_types.iter().any(|m| m.eq_ignore_ascii_case(wanted))
        {
            missing_types.push(wanted);
        }
    }
    for wanted in missing_types {
        reasons
            .push(format!("no volume type {wanted} ({})", offered(spec.volume_types.iter().map(|t| t.name.clone()))));
    }

    if node.needs_public_ip() && !spec.public_ips {
        reasons.push("no public IPs".to_owned());
    }
    if matches!(node.network, NetworkKind::Private | NetworkKind::Isolated)
        && !spec.networks.iter().any(|n| n.kind == NetworkKind::Private)
    {
        reasons.push(format!(
            "no private network ({})",
            offered(spec.networks.iter().map(|n| format!("{} {}", n.kind.as_str(), n.name)))
        ));
    }

    match (flavor, image) {
        (Ok(flavor), Ok(image)) if reasons.is_empty() => Ok((flavor, image)),
        _ => Err(reasons),
    }
}

/// The noun for a quota dimension named by [`Usage::exceeds`], as it reads
/// after a number.
/// The noun for `n` of a quota dimension ("1 GPU", "4 GPUs").
fn quota_noun(what: &str, n: u64) -> &str {
    match (what, n) {
        ("RAM MiB", _) => "MiB of RAM",
        ("volume GiB", _) => "GiB of volumes",
        ("instances", 1) => "instance",
        ("cores", 1) => "core",
        ("GPUs", 1) => "GPU",
        ("volumes", 1) => "volume",
        ("public IPs", 1) => "public IP",
        (other, _) => other,
    }
}

/// How many values an "offered" list shows before eliding the rest.
const OFFERED_SHOWN: usize = 10;

/// "has a, b, c" for what a provider offers: distinct (case-insensitively),
/// sorted, at most [`OFFERED_SHOWN`] shown; "has none" when empty.
fn offered(items: impl IntoIterator<Item = String>) -> String {
    let mut items: Vec<String> = items.into_iter().collect();
    items.sort_by_key(|s| s.to_lowercase());
    items.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    if items.is_empty() {
        return "has none".to_owned();
    }
    let more = items.len().saturating_sub(OFFERED_SHOWN);
    items.truncate(OFFERED_SHOWN);
    let mut out = format!("has {}", items.join(", "));
    if more > 0 {
        out.push_str(&format!(" and {more} more"));
    }
    out
}
