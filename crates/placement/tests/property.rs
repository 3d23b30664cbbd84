//! Placement against a brute-force oracle over generated federations and
//! requests: every candidate's flavors fit and are the smallest that do,
//! its images match, its quota holds, exactly the providers that can host
//! the deployment are accepted, they are ranked correctly, and the plan
//! does not depend on the order providers are given in.

use std::collections::BTreeMap;

use nuvola_placement::{Health, PlacementRequest, ProviderSnapshot, Weights, plan};
use nuvola_types::{
    ComputeRequirement, DeploymentRequirements, Flavor, Image, ImageRequirement, Network, NetworkKind, PlacementPolicy,
    Plan, ProviderGrant, ProviderSpec, Quota, Usage, VolumeRequirement, VolumeType,
};

const GROUP: &str = "physics";
const CASES: u64 = 1000;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const VENDORS: &[&str] = &["NVIDIA", "nvidia", "AMD"];
const MODELS: &[&str] = &["T4", "V100", "a100", "A100"];
const DISTRIBUTIONS: &[&str] = &["ubuntu", "Ubuntu", "centos", "rocky"];
const VERSIONS: &[&str] = &["7", "8", "20.04", "22.04", "22.10", "22.04.3"];
const VOLUME_TYPES: &[&str] = &["standard", "ssd", "SSD", "hdd"];

fn gen_flavor(rng: &mut Rng, index: usize) -> Flavor {
    let gpus = if rng.chance(40) { rng.pick(&[1, 2, 4]) } else { 0 };
    Flavor {
        name: format!("f{index}"),
        vcpus: rng.pick(&[1, 2, 4, 8, 16]),
        ram_mb: rng.pick(&[1024, 2048, 4096, 8192, 16384, 32768]),
        disk_gb: rng.pick(&[10, 20, 40, 80, 160]),
        gpus,
        gpu_vendor: rng.maybe(90, |r| r.pick(VENDORS).to_owned()),
        gpu_model: rng.maybe(90, |r| r.pick(MODELS).to_owned()),
        infiniband: rng.chance(20),
    }
}

fn gen_image(rng: &mut Rng, index: usize) -> Image {
    Image {
        name: format!("img{index}"),
        os_type: if rng.chance(90) { "linux" } else { "windows" }.to_owned(),
        distribution: rng.pick(DISTRIBUTIONS).to_owned(),
        version: rng.pick(VERSIONS).to_owned(),
        cuda: rng.maybe(30, |_| "12.2".to_owned()),
        gpu_driver: None,
    }
}

fn gen_limit(rng: &mut Rng, max: u64) -> Option<u64> {
    rng.maybe(50, |r| r.below(2 * max))
}

fn gen_provider(rng: &mut Rng, index: usize) -> ProviderSpec {
    let name = format!("p{index}");
    let mut groups = BTreeMap::new();
    if rng.chance(92) {
        groups.insert(
            GROUP.to_owned(),
            ProviderGrant {
                sla_id: if rng.chance(30) { "sla-shared".to_owned() } else { format!("sla-{name}") },
                project: None,
                priority: rng.pick(&[1.0, 1.0, 2.0]),
                starts: None,
                ends: None,
                quota: Quota {
                    instances: gen_limit(rng, 20),
                    cores: gen_limit(rng, 64),
                    ram_mb: gen_limit(rng, 131_072),
                    gpus: gen_limit(rng, 8),
                    volumes: gen_limit(rng, 10),
                    volume_gb: gen_limit(rng, 500),
                    public_ips: gen_limit(rng, 6),
                },
            },
        );
    }
    let mut networks = Vec::new();
    for (kind, label) in [(NetworkKind::Public, "ext"), (NetworkKind::Private, "tenant")] {
        if rng.chance(80) {
            networks.push(Network { name: label.to_owned(), kind, cidr: None });
        }
    }
    ProviderSpec {
        description: String::new(),
        region: String::new(),
        driver: nuvola_types::DriverKind::Sim,
        endpoint: format!("https://{name}.example"),
        enabled: rng.chance(95),
        issuers: vec![],
        maintenance: vec![],
        public_ips: rng.chance(90),
        flavors: (0..1 + rng.below(8) as usize).map(|i| gen_flavor(rng, i)).collect(),
        images: (0..1 + rng.below(8) as usize).map(|i| gen_image(rng, i)).collect(),
        volume_types: VOLUME_TYPES[..3]
            .iter()
            .filter(|_| rng.chance(60))
            .map(|t| VolumeType { name: (*t).to_owned(), description: String::new() })
            .collect(),
        networks,
        groups,
        settings: None,
        name,
    }
}

fn gen_node(rng: &mut Rng, index: usize) -> ComputeRequirement {
    let image = if rng.chance(10) {
        ImageRequirement { name: Some(format!("img{}", rng.below(6))), ..ImageRequirement::default() }
    } else {
        ImageRequirement {
            name: None,
            os_type: rng.maybe(15, |r| r.pick(&["linux", "LINUX", "windows"]).to_owned()),
            distribution: rng.maybe(35, |r| r.pick(DISTRIBUTIONS).to_owned()),
            version: rng.maybe(30, |r| r.pick(&["7", "20.04", "22", "22.04", "2"]).to_owned()),
        }
    };
    ComputeRequirement {
        count: rng.pick(&[1, 1, 2, 3]),
        cpus: rng.maybe(80, |r| r.pick(&[0, 1, 2, 4, 8])),
        mem_mb: rng.maybe(50, |r| r.pick(&[512, 2048, 4096, 8192, 16384])),
        disk_gb: rng.maybe(40, |r| r.pick(&[10, 40, 100])),
        gpus: if rng.chance(15) { rng.pick(&[1, 2]) } else { 0 },
        gpu_vendor: rng.maybe(10, |r| r.pick(VENDORS).to_lowercase()),
        gpu_model: rng.maybe(10, |r| r.pick(MODELS).to_lowercase()),
        instance_type: rng.maybe(10, |r| format!("f{}", r.below(6))),
        infiniband: rng.chance(10),
        image,
        volumes: (0..rng.below(3))
            .map(|v| VolumeRequirement {
                name: format!("vol{v}"),
                size_gb: rng.pick(&[10, 50, 100]),
                volume_type: rng.maybe(20, |r| r.pick(VOLUME_TYPES).to_owned()),
                mount_path: None,
            })
            .collect(),
        network: rng.pick(&[
            NetworkKind::Public,
            NetworkKind::Public,
            NetworkKind::Public,
            NetworkKind::Private,
            NetworkKind::Isolated,
        ]),
        ..ComputeRequirement::named(format!("node{index}"))
    }
}

fn gen_requirements(rng: &mut Rng, providers: usize) -> DeploymentRequirements {
    let mut policies = Vec::new();
    if rng.chance(8) {
        let own = format!("sla-p{}", rng.below(5));
        policies.push(PlacementPolicy::Sla { sla_id: rng.pick(&["sla-shared".to_owned(), own]) });
    }
    if rng.chance(5) {
        policies.push(PlacementPolicy::Provider { provider: format!("p{}", rng.below(providers as u64 + 1)) });
    }
    DeploymentRequirements {
        nodes: (0..if rng.chance(70) { 1 } else { 2 }).map(|i| gen_node(rng, i)).collect(),
        policies,
    }
}

fn gen_usage(rng: &mut Rng) -> Usage {
    Usage {
        instances: rng.below(5),
        cores: rng.below(16),
        ram_mb: rng.below(32_768),
        gpus: rng.below(3),
        volumes: rng.below(4),
        volume_gb: rng.below(200),
        public_ips: rng.below(3),
    }
}

fn gen_health(rng: &mut Rng) -> Health {
    Health {
        success_rate: rng.maybe(70, |r| r.below(101) as f64 / 100.0),
        median_create_secs: rng.maybe(70, |r| r.below(1200) as f64),
        probe_ok: rng.maybe(70, |r| r.chance(80)),
        // Outages leave a provider out before any other check (tested on
        // their own); the oracle ranks the providers that are up.
        outage: None,
    }
}

// ---- the oracle: a direct reading of the rules, written separately ----

fn flavor_fits(node: &ComputeRequirement, f: &Flavor) -> bool {
    let eq = |want: &Option<String>, have: &Option<String>| match want {
        None => true,
        Some(w) => f.gpus > 0 && have.as_ref().is_some_and(|h| h.to_lowercase() == w.to_lowercase()),
    };
    f.gpus >= node.gpus
        && f.vcpus >= node.cpus.unwrap_or(0)
        && f.ram_mb >= node.mem_mb.unwrap_or(0)
        && f.disk_gb >= node.disk_gb.unwrap_or(0)
        && eq(&node.gpu_vendor, &f.gpu_vendor)
        && eq(&node.gpu_model, &f.gpu_model)
        && (!node.infiniband || f.infiniband)
        && node.instance_type.as_ref().is_none_or(|t| *t == f.name)
}

fn smallest_fitting<'f>(node: &ComputeRequirement, spec: &'f ProviderSpec) -> Option<&'f Flavor> {
    spec.flavors
        .iter()
        .filter(|f| flavor_fits(node, f))
        .min_by_key(|f| (f.gpus, f.vcpus, f.ram_mb, f.disk_gb, f.name.clone()))
}

fn image_matches(want: &ImageRequirement, image: &Image) -> bool {
    if let Some(name) = &want.name {
        return *name == image.name;
    }
    let eq = |w: &Option<String>, h: &str| w.as_ref().is_none_or(|w| w.to_lowercase() == h.to_lowercase());
    eq(&want.os_type, &image.os_type)
        && eq(&want.distribution, &image.distribution)
        && want.version.as_ref().is_none_or(|v| image.version == *v || image.version.starts_with(&format!("{v}.")))
}

fn node_fits<'s>(node: &ComputeRequirement, spec: &'s ProviderSpec) -> Option<&'s Flavor> {
    let flavor = smallest_fitting(node, spec)?;
    let image_ok = spec.images.iter().any(|i| image_matches(&node.image, i));
    let volumes_ok = node.volumes.iter().all(|v| {
        v.volume_type
            .as_ref()
            .is_none_or(|t| spec.volume_types.iter().any(|vt| vt.name.to_lowercase() == t.to_lowercase()))
    });
    let network_ok = match node.network {
        NetworkKind::Public => spec.public_ips,
        _ => spec.networks.iter().any(|n| n.kind == NetworkKind::Private),
    };
    (image_ok && volumes_ok && network_ok).then_some(flavor)
}

/// What the deployment would hold with these flavors, added by hand.
fn deployment_usage(reqs: &DeploymentRequirements, flavors: &[&Flavor]) -> Usage {
    let mut total = Usage::default();
    for (node, flavor) in reqs.nodes.iter().zip(flavors) {
        let n = u64::from(node.count);
        total.instances += n;
        total.cores += n * u64::from(flavor.vcpus);
        total.ram_mb += n * flavor.ram_mb;
        total.gpus += n * u64::from(flavor.gpus);
        total.volumes += n * node.volumes.len() as u64;
        total.volume_gb += n * node.volumes.iter().map(|v| v.size_gb).sum::<u64>();
        total.public_ips += if node.network == NetworkKind::Public { n } else { 0 };
    }
    total
}

fn within_quota(used: Usage, want: Usage, quota: &Quota) -> bool {
    [
        (used.instances, want.instances, quota.instances),
        (used.cores, want.cores, quota.cores),
        (used.ram_mb, want.ram_mb, quota.ram_mb),
        (used.gpus, want.gpus, quota.gpus),
        (used.volumes, want.volumes, quota.volumes),
        (used.volume_gb, want.volume_gb, quota.volume_gb),
        (used.public_ips, want.public_ips, quota.public_ips),
    ]
    .into_iter()
    .all(|(used, want, limit)| want == 0 || limit.is_none_or(|l| used + want <= l))
}

/// The flavor per node if `snapshot` can host the deployment, by the rules.
fn oracle<'s>(
    reqs: &DeploymentRequirements,
    pinned: Option<&str>,
    snapshot: &ProviderSnapshot<'s>,
) -> Option<Vec<&'s Flavor>> {
    let spec = snapshot.spec;
    let grant = spec.groups.get(GROUP)?;
    let allowed = reqs.policies.iter().all(|p| match p {
        PlacementPolicy::Sla { sla_id } => *sla_id == grant.sla_id,
        PlacementPolicy::Provider { provider } => *provider == spec.name,
    });
    if !spec.enabled || !allowed || pinned.is_some_and(|p| p != spec.name) {
        return None;
    }
    let flavors: Vec<&Flavor> = reqs.nodes.iter().map(|n| node_fits(n, spec)).collect::<Option<_>>()?;
    within_quota(snapshot.usage, deployment_usage(reqs, &flavors), &grant.quota).then_some(flavors)
}

fn check(
    case: u64,
    reqs: &DeploymentRequirements,
    pinned: Option<&str>,
    snapshots: &[ProviderSnapshot<'_>],
    plan: &Plan,
) {
    let ctx = || format!("case {case}: {reqs:?}\n{plan:#?}");
    assert_eq!(plan.verdicts.len(), snapshots.len(), "{}", ctx());

    let mut expected_accepted = Vec::new();
    for snapshot in snapshots {
        let name = &snapshot.spec.name;
        let verdict = plan.verdicts.iter().find(|v| v.provider == *name).expect("verdict");
        assert!(!plan.reasons(verdict).is_empty(), "{}", ctx());
        match oracle(reqs, pinned, snapshot) {
            None => assert!(!verdict.accepted, "{name} accepted, oracle says no; {}", ctx()),
            Some(flavors) => {
                assert!(verdict.accepted, "{name} rejected, oracle says yes; {}", ctx());
                expected_accepted.push(name.clone());
                let candidate = plan.candidates.iter().find(|c| c.provider == *name).expect("candidate");
                let grant = &snapshot.spec.groups[GROUP];
                assert_eq!(candidate.sla_id, grant.sla_id);
                let mut chosen = Vec::new();
                for (node, smallest) in reqs.nodes.iter().zip(&flavors) {
                    let placement = candidate.node(&node.name).unwrap();
                    let flavor =
                        snapshot.spec.flavors.iter().find(|f| f.name == placement.flavor).expect("a real flavor");
                    assert!(flavor_fits(node, flavor), "{}", ctx());
                    assert_eq!(flavor.name, smallest.name, "not the smallest; {}", ctx());
                    let image = snapshot.spec.images.iter().find(|i| i.name == placement.image).expect("a real image");
                    assert!(image_matches(&node.image, image), "{}", ctx());
                    chosen.push(flavor);
                }
                assert!(within_quota(snapshot.usage, deployment_usage(reqs, &chosen), &grant.quota), "{}", ctx());
            }
        }
    }

    let mut accepted: Vec<String> = plan.candidates.iter().map(|c| c.provider.clone()).collect();
    let ranked: Vec<String> = plan.verdicts.iter().filter(|v| v.accepted).map(|v| v.provider.clone()).collect();
    assert_eq!(accepted, ranked, "accepted verdicts follow the candidates; {}", ctx());
    accepted.sort();
    expected_accepted.sort();
    assert_eq!(accepted, expected_accepted, "{}", ctx());

    let key = |provider: &str| {
        let spec = snapshots.iter().find(|s| s.spec.name == provider).expect("snapshot").spec;
        spec.groups[GROUP].priority
    };
    for pair in plan.candidates.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (pa, pb) = (key(&a.provider), key(&b.provider));
        assert!(
            pa > pb || (pa == pb && (a.score > b.score || (a.score == b.score && a.provider < b.provider))),
            "misranked {} before {}; {}",
            a.provider,
            b.provider,
            ctx()
        );
    }
}

#[test]
fn plans_agree_with_the_oracle() {
    let mut rng = Rng(0x6e75_766f_6c61);
    let mut accepted = 0;
    let mut rejected = 0;
    for case in 0..CASES {
        let specs: Vec<ProviderSpec> = (0..2 + rng.below(4) as usize).map(|i| gen_provider(&mut rng, i)).collect();
        let reqs = gen_requirements(&mut rng, specs.len());
        let pinned = rng.maybe(5, |r| format!("p{}", r.below(specs.len() as u64)));
        // Half the cases give placement the flavors' order by size, as the
        // server does; both paths must choose the same.
        let orders: Vec<Vec<u32>> = specs.iter().map(|s| nuvola_placement::order_by_size(&s.flavors)).collect();
        let snapshots: Vec<ProviderSnapshot<'_>> = specs
            .iter()
            .zip(&orders)
            .map(|(spec, order)| ProviderSnapshot {
                spec,
                usage: gen_usage(&mut rng),
                health: gen_health(&mut rng),
                reported: None,
                flavors_by_size: (case % 2 == 0).then_some(order.as_slice()),
            })
            .collect();
        let request = PlacementRequest {
            requirements: &reqs,
            group: GROUP,
            pinned_provider: pinned.as_deref(),
            issuer: None,
            window: None,
        };
        let weights = Weights::default();
        let result = plan(&request, &snapshots, &weights);
        check(case, &reqs, pinned.as_deref(), &snapshots, &result);

        let reversed: Vec<ProviderSnapshot<'_>> = snapshots.iter().rev().cloned().collect();
        assert_eq!(result, plan(&request, &reversed, &weights), "case {case}: order matters");

        accepted += result.candidates.len();
        rejected += result.verdicts.len() - result.candidates.len();
    }
    // The generator must exercise both outcomes, or the test proves little.
    assert!(accepted > CASES as usize / 3, "only {accepted} acceptances");
    assert!(rejected > CASES as usize, "only {rejected} rejections");
}
