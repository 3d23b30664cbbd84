//! Placement through its public API: every filter and its message, flavor
//! and image choice, quota, ranking, determinism and the explanation.

use std::collections::BTreeMap;

use nuvola_placement::{Health, PlacementRequest, ProviderSnapshot, Weights, explain, plan};
use nuvola_types::{
    ComputeRequirement, DeploymentRequirements, Flavor, Image, ImageRequirement, MaintenanceKind, Network, NetworkKind,
    PlacementPolicy, Plan, ProviderGrant, ProviderSpec, Quota, Usage, VolumeRequirement, VolumeType,
};

const GROUP: &str = "physics";

fn flavor(name: &str, vcpus: u32, ram_mb: u64, disk_gb: u64) -> Flavor {
    Flavor { name: name.into(), vcpus, ram_mb, disk_gb, gpus: 0, gpu_vendor: None, gpu_model: None, infiniband: false }
}

fn gpu_flavor(name: &str, vcpus: u32, ram_mb: u64, gpus: u32, model: &str) -> Flavor {
    Flavor { gpus, gpu_vendor: Some("NVIDIA".into()), gpu_model: Some(model.into()), ..flavor(name, vcpus, ram_mb, 80) }
}

fn image(name: &str, distribution: &str, version: &str) -> Image {
    Image {
        name: name.into(),
        os_type: "linux".into(),
        distribution: distribution.into(),
        version: version.into(),
        cuda: None,
        gpu_driver: None,
    }
}

fn grant(sla_id: &str, priority: f64) -> ProviderGrant {
    ProviderGrant { sla_id: sla_id.into(), project: None, priority, quota: Quota::default(), starts: None, ends: None }
}

/// A provider with small to large plain flavors, one T4 flavor, Ubuntu and
/// CentOS images (one with CUDA), an SSD-less volume offer, both networks,
/// and an SLA `sla-<name>` for the physics group.
fn provider(name: &str) -> ProviderSpec {
    ProviderSpec {
        name: name.into(),
        region: String::new(),
        description: String::new(),
        driver: nuvola_types::DriverKind::Sim,
        endpoint: format!("https://{name}.example/compute"),
        enabled: true,
        issuers: vec![],
        maintenance: vec![],
        public_ips: true,
        flavors: vec![
            flavor("m1.small", 1, 2048, 20),
            flavor("m1.medium", 2, 4096, 40),
            flavor("m1.large", 4, 8192, 80),
            gpu_flavor("g1.t4", 4, 16384, 1, "T4"),
        ],
        images: vec![
            image("ubuntu-22.04", "ubuntu", "22.04"),
            image("ubuntu-20.04", "ubuntu", "20.04"),
            image("centos-7", "centos", "7"),
            Image { cuda: Some("12.2".into()), ..image("ubuntu-22.04-cuda", "ubuntu", "22.04") },
        ],
        volume_types: vec![VolumeType { name: "standard".into(), description: String::new() }],
        networks: vec![
            Network { name: "ext".into(), kind: NetworkKind::Public, cidr: None },
            Network { name: "tenant".into(), kind: NetworkKind::Private, cidr: Some("10.0.0.0/24".into()) },
        ],
        groups: BTreeMap::from([(GROUP.to_owned(), grant(&format!("sla-{name}"), 1.0))]),
        settings: None,
    }
}

/// A VM asking for 2 vCPUs, 4 GiB and Ubuntu 22.04.
fn vm() -> ComputeRequirement {
    ComputeRequirement {
        cpus: Some(2),
        mem_mb: Some(4096),
        image: ImageRequirement {
            distribution: Some("ubuntu".into()),
            version: Some("22.04".into()),
            ..ImageRequirement::default()
        },
        ..ComputeRequirement::named("vm")
    }
}

fn requirements(nodes: Vec<ComputeRequirement>) -> DeploymentRequirements {
    DeploymentRequirements { nodes, policies: Vec::new() }
}

fn snapshot(spec: &ProviderSpec) -> ProviderSnapshot<'_> {
    ProviderSnapshot { spec, usage: Usage::default(), health: Health::default(), reported: None, flavors_by_size: None }
}

fn place(requirements: &DeploymentRequirements, specs: &[ProviderSpec]) -> Plan {
    let snapshots: Vec<_> = specs.iter().map(snapshot).collect();
    let request = PlacementRequest {
        requirements,
        group: GROUP,
        pinned_provider: None,
        issuer: Some(ISSUER),
        window: Some((at(NOW), at(NOW) + chrono::Duration::hours(12))),
    };
    plan(&request, &snapshots, &Weights::default())
}

/// The issuer of the users in these tests.
const ISSUER: &str = "https://iam.example/";
/// When these tests place; deployments time out 12 hours later.
const NOW: &str = "2026-06-01T08:00:00Z";

fn at(t: &str) -> chrono::DateTime<chrono::Utc> {
    t.parse().unwrap()
}

fn maintenance(start: &str, end: &str, reason: &str) -> nuvola_types::MaintenanceWindow {
    nuvola_types::MaintenanceWindow {
        start: at(start),
        end: at(end),
        reason: reason.into(),
        kind: MaintenanceKind::Outage,
    }
}

fn reasons_for(plan: &Plan, provider: &str) -> Vec<String> {
    plan.reasons_of(provider).expect("a verdict for every provider")
}

fn order(plan: &Plan) -> Vec<&str> {
    plan.candidates.iter().map(|c| c.provider.as_str()).collect()
}

fn flavor_of(plan: &Plan, node: &str) -> String {
    plan.candidates[0].node(node).unwrap().flavor.clone()
}

fn image_of(plan: &Plan, node: &str) -> String {
    plan.candidates[0].node(node).unwrap().image.clone()
}

type Edit<T> = fn(&mut T);

/// A rejection case: what it shows, how the provider and the request are
/// changed from the fitting defaults, and the reasons expected.
type RejectionCase = (&'static str, Edit<ProviderSpec>, Edit<DeploymentRequirements>, &'static [&'static str]);

#[test]
fn windows_and_issuers_that_do_not_conflict_are_fine() {
    let mut spec = provider("p");
    spec.issuers = vec![ISSUER.into(), "https://other-iam.example/".into()];
    // Maintenance that ended before now, one that starts after the
    // timeout, and one during it that only puts the site at risk.
    spec.maintenance = vec![
        maintenance("2026-05-01T00:00:00Z", "2026-06-01T07:59:00Z", "over"),
        maintenance("2026-06-01T20:00:01Z", "2026-06-03T00:00:00Z", "later"),
        nuvola_types::MaintenanceWindow {
            kind: MaintenanceKind::AtRisk,
            ..maintenance("2026-06-01T18:00:00Z", "2026-06-02T06:00:00Z", "network work, redundant links")
        },
    ];
    let grant = spec.groups.get_mut(GROUP).unwrap();
    grant.starts = Some(at("2026-01-01T00:00:00Z"));
    grant.ends = Some(at("2026-12-31T00:00:00Z"));
    let plan = place(&requirements(vec![vm()]), &[spec]);
    assert_eq!(order(&plan), ["p"], "{:?}", plan.verdicts);
}

#[test]
fn the_quota_a_provider_reports_is_respected_too() {
    let spec = provider("p");
    let reqs = requirements(vec![ComputeRequirement { count: 3, ..vm() }]);
    let limits = Quota { instances: Some(10), ..Quota::default() };
    let used = Usage { instances: 8, ..Usage::default() };
    let snapshots = [ProviderSnapshot { reported: Some((limits, used)), ..snapshot(&spec) }];
    let request =
        PlacementRequest { requirements: &reqs, group: GROUP, pinned_provider: None, issuer: None, window: None };
    let plan = plan(&request, &snapshots, &Weights::default());
    assert!(plan.candidates.is_empty());
    assert_eq!(reasons_for(&plan, "p"), ["provider quota: 3 instances requested, 2 left in project physics"]);
}

#[test]
fn every_filter_rejects_with_its_reason() {
    let cases: &[RejectionCase] = &[
        ("disabled", |p| p.enabled = false, |_| {}, &["disabled"]),
        ("no grant", |p| p.groups.clear(), |_| {}, &["no SLA for group physics"]),
        (
            "disabled and no grant",
            |p| {
                p.enabled = false;
                p.groups.clear();
            },
            |_| {},
            &["disabled", "no SLA for group physics"],
        ),
        (
            "other SLA",
            |_| {},
            |r| r.policies.push(PlacementPolicy::Sla { sla_id: "sla-x".into() }),
            &["SLA sla-x not on this provider (group physics has sla-p here)"],
        ),
        (
            "provider policy",
            |_| {},
            |r| r.policies.push(PlacementPolicy::Provider { provider: "cloudveneto".into() }),
            &["not the provider pinned by the template (Placement policy: cloudveneto)"],
        ),
        ("GPU count", |_| {}, |r| r.nodes[0].gpus = 2, &["vm: no flavor with 2 GPUs (has up to 1 GPU)"]),
        (
            "GPU count, no GPU flavors",
            |p| p.flavors.retain(|f| f.gpus == 0),
            |r| r.nodes[0].gpus = 1,
            &["vm: no flavor with 1 GPU (has no GPU flavors)"],
        ),
        (
            "GPU model",
            |p| p.flavors.push(gpu_flavor("g1.v100", 8, 32768, 1, "V100")),
            |r| {
                r.nodes[0].gpus = 1;
                r.nodes[0].gpu_model = Some("A100".into());
            },
            &["vm: no flavor with GPU model A100 (has T4, V100)"],
        ),
        (
            "GPU vendor",
            |_| {},
            |r| r.nodes[0].gpu_vendor = Some("AMD".into()),
            &["vm: no flavor with GPU vendor AMD (has NVIDIA)"],
        ),
        ("InfiniBand", |_| {}, |r| r.nodes[0].infiniband = true, &["vm: no flavor with InfiniBand (none has it)"]),
        ("vCPUs", |_| {}, |r| r.nodes[0].cpus = Some(64), &["vm: no flavor with 64 vCPUs (has up to 4 vCPUs)"]),
        (
            "RAM",
            |_| {},
            |r| r.nodes[0].mem_mb = Some(65536),
            &["vm: no flavor with 65536 MiB RAM (has up to 16384 MiB among flavors with 2 vCPUs)"],
        ),
        (
            "RAM among GPU flavors",
            |_| {},
            |r| {
                r.nodes[0].gpus = 1;
                r.nodes[0].mem_mb = Some(32768);
            },
            &["vm: no flavor with 32768 MiB RAM (has up to 16384 MiB among flavors with 1 GPU)"],
        ),
        (
            "disk",
            |_| {},
            |r| r.nodes[0].disk_gb = Some(500),
            &["vm: no flavor with 500 GiB disk (has up to 80 GiB among flavors with 2 vCPUs)"],
        ),
        ("no flavors", |p| p.flavors.clear(), |_| {}, &["vm: no flavors on offer"]),
        (
            "unknown instance_type",
            |_| {},
            |r| r.nodes[0].instance_type = Some("m9.huge".into()),
            &["vm: no flavor named m9.huge (instance_type; has g1.t4, m1.large, m1.medium, m1.small)"],
        ),
        (
            "too small instance_type",
            |_| {},
            |r| r.nodes[0].instance_type = Some("m1.small".into()),
            &["vm: flavor m1.small (instance_type) has 1 vCPU, 2048 MiB RAM; 2 vCPUs, 4096 MiB RAM requested"],
        ),
        (
            "image version",
            |_| {},
            |r| r.nodes[0].image.version = Some("24.04".into()),
            &["vm: no image for ubuntu 24.04 (has centos 7, ubuntu 20.04, ubuntu 22.04)"],
        ),
        (
            "image OS type",
            |_| {},
            |r| r.nodes[0].image = ImageRequirement { os_type: Some("windows".into()), ..ImageRequirement::default() },
            &["vm: no image for windows (has linux centos 7, linux ubuntu 20.04, linux ubuntu 22.04)"],
        ),
        (
            "image name",
            |_| {},
            |r| r.nodes[0].image.name = Some("my-image".into()),
            &["vm: no image named my-image (has centos-7, ubuntu-20.04, ubuntu-22.04, ubuntu-22.04-cuda)"],
        ),
        ("no images", |p| p.images.clear(), |_| {}, &["vm: no images on offer"]),
        (
            "volume type",
            |_| {},
            |r| {
                for name in ["data", "scratch"] {
                    r.nodes[0].volumes.push(VolumeRequirement {
                        name: name.into(),
                        size_gb: 10,
                        volume_type: Some("ssd".into()),
                        mount_path: None,
                    });
                }
            },
            &["vm: no volume type ssd (has standard)"],
        ),
        ("public IPs", |p| p.public_ips = false, |_| {}, &["vm: no public IPs"]),
        (
            "private network",
            |p| p.networks.retain(|n| n.kind == NetworkKind::Public),
            |r| r.nodes[0].network = NetworkKind::Private,
            &["vm: no private network (has public ext)"],
        ),
        (
            "isolated network needs a private one",
            |p| p.networks.clear(),
            |r| r.nodes[0].network = NetworkKind::Isolated,
            &["vm: no private network (has none)"],
        ),
        (
            "an isolated node that is public too needs public IPs",
            |p| p.public_ips = false,
            |r| {
                r.nodes[0].network = NetworkKind::Isolated;
                r.nodes[0].public_ip = true;
            },
            &["vm: no public IPs"],
        ),
        (
            "quota",
            |p| p.groups.get_mut(GROUP).unwrap().quota.gpus = Some(2),
            |r| {
                r.nodes[0].gpus = 1;
                r.nodes[0].count = 4;
            },
            &["quota: 4 GPUs requested, 2 left for group physics"],
        ),
        (
            "quota, RAM",
            |p| p.groups.get_mut(GROUP).unwrap().quota.ram_mb = Some(4000),
            |_| {},
            &["quota: 4096 MiB of RAM requested, 4000 left for group physics"],
        ),
        (
            "every failing node is reported",
            |p| p.public_ips = false,
            |r| {
                let mut db = vm();
                db.name = "db".into();
                db.cpus = Some(64);
                r.nodes.push(db);
            },
            &["vm: no public IPs", "db: no flavor with 64 vCPUs (has up to 4 vCPUs)", "db: no public IPs"],
        ),
        (
            "issuer not accepted",
            |p| p.issuers = vec!["https://other-iam.example/".into()],
            |_| {},
            &["does not accept users of issuer https://iam.example/ (accepts https://other-iam.example/)"],
        ),
        (
            "maintenance during the timeout",
            |p| p.maintenance = vec![maintenance("2026-06-01T18:00:00Z", "2026-06-02T06:00:00Z", "Ceph upgrade")],
            |_| {},
            &["in maintenance from 2026-06-01 18:00 UTC to 2026-06-02 06:00 UTC: Ceph upgrade"],
        ),
        (
            "SLA not started",
            |p| p.groups.get_mut(GROUP).unwrap().starts = Some(at("2026-07-01T00:00:00Z")),
            |_| {},
            &["SLA sla-p starts on 2026-07-01"],
        ),
        (
            "SLA expired",
            |p| p.groups.get_mut(GROUP).unwrap().ends = Some(at("2026-05-31T00:00:00Z")),
            |_| {},
            &["SLA sla-p expired on 2026-05-31"],
        ),
    ];
    for (what, edit_provider, edit_request, expected) in cases {
        let mut spec = provider("p");
        edit_provider(&mut spec);
        let mut reqs = requirements(vec![vm()]);
        edit_request(&mut reqs);
        let plan = place(&reqs, &[spec]);
        assert!(plan.candidates.is_empty(), "{what}: accepted");
        assert_eq!(plan.verdicts.len(), 1, "{what}");
        assert!(!plan.verdicts[0].accepted, "{what}");
        assert_eq!(reasons_for(&plan, "p"), *expected, "{what}");
    }
}

#[test]
fn a_fitting_provider_is_accepted_with_its_choices() {
    let plan = place(&requirements(vec![vm()]), &[provider("p")]);
    assert_eq!(order(&plan), ["p"]);
    let candidate = &plan.candidates[0];
    assert_eq!(candidate.sla_id, "sla-p");
    assert_eq!(flavor_of(&plan, "vm"), "m1.medium");
    assert_eq!(image_of(&plan, "vm"), "ubuntu-22.04");
    assert!(plan.verdicts[0].accepted);
    assert_eq!(
        plan.reasons(&plan.verdicts[0]),
        [
            "vm: flavor m1.medium (2 vCPU, 4096 MiB), image ubuntu-22.04",
            "priority 1, score 0.65 (health 0.50, speed 0.50, capacity 1.00)",
        ]
    );
}

#[test]
fn the_smallest_fitting_flavor_is_chosen() {
    let mut spec = provider("p");
    spec.flavors.extend([
        flavor("m1.xlarge", 8, 16384, 160),
        gpu_flavor("g2.v100x2", 2, 8192, 2, "V100"),
        Flavor { infiniband: true, ..flavor("h1.ib", 16, 65536, 100) },
    ]);
    let specs = [spec];
    let cases: &[(&str, Edit<ComputeRequirement>, &str)] = &[
        ("2 vCPUs, 4 GiB", |_| {}, "m1.medium"),
        ("3 vCPUs", |n| n.cpus = Some(3), "m1.large"),
        ("nothing asked", |n| *n = ComputeRequirement::named("vm"), "m1.small"),
        ("RAM decides", |n| n.mem_mb = Some(5000), "m1.large"),
        ("disk decides", |n| n.disk_gb = Some(100), "m1.xlarge"),
        (
            "no GPU asked: a plain flavor beats a GPU one of the same size",
            |n| {
                n.cpus = Some(4);
                n.mem_mb = Some(16384);
            },
            "m1.xlarge",
        ),
        ("one GPU", |n| n.gpus = 1, "g1.t4"),
        ("two GPUs, fewer vCPUs", |n| n.gpus = 2, "g2.v100x2"),
        (
            "fewer GPUs beat fewer vCPUs",
            |n| {
                n.gpus = 1;
                n.cpus = Some(1);
            },
            "g1.t4",
        ),
        (
            "GPU model compares case-insensitively",
            |n| {
                n.gpus = 1;
                n.gpu_model = Some("v100".into());
                n.gpu_vendor = Some("nvidia".into());
            },
            "g2.v100x2",
        ),
        ("a GPU model alone implies a GPU", |n| n.gpu_model = Some("t4".into()), "g1.t4"),
        ("InfiniBand", |n| n.infiniband = true, "h1.ib"),
        ("instance_type wins over a smaller fit", |n| n.instance_type = Some("m1.xlarge".into()), "m1.xlarge"),
    ];
    for (what, edit, expected) in cases {
        let mut node = vm();
        edit(&mut node);
        let plan = place(&requirements(vec![node]), &specs);
        assert_eq!(order(&plan), ["p"], "{what}: {:?}", plan.verdicts);
        assert_eq!(flavor_of(&plan, "vm"), *expected, "{what}");
    }
}

#[test]
fn the_best_matching_image_is_chosen() {
    let mut spec = provider("p");
    spec.images.extend([image("ubuntu-22.10", "ubuntu", "22.10"), image("Ubuntu-22.04.3", "Ubuntu", "22.04.3")]);
    let specs = [spec];
    let cases: &[(&str, Edit<ComputeRequirement>, &str)] = &[
        ("exact version", |_| {}, "ubuntu-22.04"),
        ("GPU node prefers CUDA", |n| n.gpus = 1, "ubuntu-22.04-cuda"),
        ("version prefix: highest match", |n| n.image.version = Some("22".into()), "ubuntu-22.10"),
        ("distribution compares case-insensitively", |n| n.image.distribution = Some("UBUNTU".into()), "ubuntu-22.04"),
        ("a more precise version matches", |n| n.image.version = Some("22.04.3".into()), "Ubuntu-22.04.3"),
        ("name wins over the other fields", |n| n.image.name = Some("centos-7".into()), "centos-7"),
        ("nothing asked: any plain image, highest version", |n| n.image = ImageRequirement::default(), "ubuntu-22.10"),
    ];
    for (what, edit, expected) in cases {
        let mut node = vm();
        edit(&mut node);
        let plan = place(&requirements(vec![node]), &specs);
        assert_eq!(order(&plan), ["p"], "{what}: {:?}", plan.verdicts);
        assert_eq!(image_of(&plan, "vm"), *expected, "{what}");
    }
}

#[test]
fn count_multiplies_quota_use() {
    let with_quota = |used_cores: u64| {
        let mut spec = provider("p");
        spec.groups.get_mut(GROUP).unwrap().quota.cores = Some(8);
        (spec, used_cores)
    };
    for (count, used, expected) in [
        (4, 0, None),
        (5, 0, Some("quota: 10 cores requested, 8 left for group physics")),
        (4, 2, Some("quota: 8 cores requested, 6 left for group physics")),
        (3, 2, None),
    ] {
        let (spec, used_cores) = with_quota(used);
        let reqs = requirements(vec![ComputeRequirement { count, ..vm() }]);
        let snapshots =
            [ProviderSnapshot { usage: Usage { cores: used_cores, ..Usage::default() }, ..snapshot(&spec) }];
        let plan = plan(
            &PlacementRequest { requirements: &reqs, group: GROUP, pinned_provider: None, issuer: None, window: None },
            &snapshots,
            &Weights::default(),
        );
        match expected {
            None => {
                assert_eq!(order(&plan), ["p"], "count {count}, used {used}");
                let chosen = format!("vm ×{count}: flavor m1.medium (2 vCPU, 4096 MiB), image ubuntu-22.04");
                assert_eq!(reasons_for(&plan, "p")[0], chosen);
            }
            Some(reason) => assert_eq!(reasons_for(&plan, "p"), [reason]),
        }
    }
}

/// Plans `vm()` over providers named by `specs`, each with its health.
fn rank(specs: &[(ProviderSpec, Health)]) -> Plan {
    let reqs = requirements(vec![vm()]);
    let snapshots: Vec<_> =
        specs.iter().map(|(spec, health)| ProviderSnapshot { health: health.clone(), ..snapshot(spec) }).collect();
    plan(
        &PlacementRequest { requirements: &reqs, group: GROUP, pinned_provider: None, issuer: None, window: None },
        &snapshots,
        &Weights::default(),
    )
}

fn healthy(success_rate: f64) -> Health {
    Health { success_rate: Some(success_rate), median_create_secs: Some(60.0), probe_ok: Some(true), outage: None }
}

#[test]
fn sla_priority_dominates_health() {
    let mut favoured = provider("favoured");
    favoured.groups.get_mut(GROUP).unwrap().priority = 2.0;
    let sick =
        Health { success_rate: Some(0.0), median_create_secs: Some(3600.0), probe_ok: Some(false), outage: None };
    let plan = rank(&[(provider("healthy"), healthy(1.0)), (favoured, sick)]);
    assert_eq!(order(&plan), ["favoured", "healthy"]);
    assert!(plan.candidates[0].score < plan.candidates[1].score);
}

#[test]
fn equal_priorities_rank_by_score() {
    let mut tight = provider("tight");
    tight.groups.get_mut(GROUP).unwrap().quota.cores = Some(4);
    let plan = rank(&[
        (provider("unknown"), Health::default()),
        (provider("good"), healthy(0.95)),
        (provider("bad"), healthy(0.2)),
        (provider("probe-down"), Health { probe_ok: Some(false), ..healthy(0.95) }),
        (tight, healthy(0.95)),
        (provider("slow"), Health { median_create_secs: Some(1800.0), ..healthy(0.95) }),
    ]);
    assert_eq!(order(&plan), ["good", "slow", "tight", "unknown", "bad", "probe-down"]);
    let scores: Vec<f64> = plan.candidates.iter().map(|c| c.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(reasons_for(&plan, "probe-down")[1].ends_with(", last probe failed)"));
}

/// A provider monitoring sees down is left out whatever else it offers,
/// with monitoring's reason; one only slow or partly failing is ranked
/// down (above).
#[test]
fn a_provider_monitoring_sees_down_is_left_out_with_the_reason() {
    let down = Health { outage: Some("major outage since 10:42 UTC (api: simulated outage)".into()), ..healthy(1.0) };
    let plan = rank(&[(provider("down"), down), (provider("up"), healthy(0.5))]);
    assert_eq!(order(&plan), ["up"]);
    assert_eq!(reasons_for(&plan, "down"), ["down: major outage since 10:42 UTC (api: simulated outage)"]);
}

#[test]
fn ties_break_by_name_and_input_order_does_not_matter() {
    let specs: Vec<ProviderSpec> = ["delta", "alpha", "charlie", "bravo"].into_iter().map(provider).collect();
    let mut disabled = provider("echo");
    disabled.enabled = false;
    let mut forward = specs.clone();
    forward.push(disabled.clone());
    let mut backward = vec![disabled];
    backward.extend(specs.into_iter().rev());

    let reqs = requirements(vec![vm()]);
    let a = place(&reqs, &forward);
    let b = place(&reqs, &backward);
    assert_eq!(order(&a), ["alpha", "bravo", "charlie", "delta"]);
    assert_eq!(a, b);
    assert_eq!(a, place(&reqs, &forward));
    let verdicts: Vec<&str> = a.verdicts.iter().map(|v| v.provider.as_str()).collect();
    assert_eq!(verdicts, ["alpha", "bravo", "charlie", "delta", "echo"]);
}

#[test]
fn a_pinned_provider_is_the_only_candidate() {
    let specs = [provider("a"), provider("b")];
    let snapshots: Vec<_> = specs.iter().map(snapshot).collect();
    let reqs = requirements(vec![vm()]);
    let plan = plan(
        &PlacementRequest { requirements: &reqs, group: GROUP, pinned_provider: Some("b"), issuer: None, window: None },
        &snapshots,
        &Weights::default(),
    );
    assert_eq!(order(&plan), ["b"]);
    assert_eq!(reasons_for(&plan, "a"), ["not the provider chosen for this deployment (b)"]);
}

#[test]
fn template_policies_select_providers() {
    let specs = [provider("a"), provider("b"), provider("c")];
    let mut reqs = requirements(vec![vm()]);
    reqs.policies.push(PlacementPolicy::Sla { sla_id: "sla-c".into() });
    assert_eq!(order(&place(&reqs, &specs)), ["c"]);

    reqs.policies = vec![PlacementPolicy::Provider { provider: "b".into() }];
    assert_eq!(order(&place(&reqs, &specs)), ["b"]);
}

#[test]
fn explain_lists_candidates_then_rejections() {
    let mut off = provider("off");
    off.enabled = false;
    let mut small = provider("small");
    small.flavors.truncate(1);
    small.public_ips = false;
    let plan = place(&requirements(vec![vm()]), &[off, provider("ok"), small]);
    assert_eq!(
        explain(&plan),
        "Candidates, best first:\n\
         \x20 1. ok (SLA sla-ok, score 0.65)\n\
         \x20    vm: flavor m1.medium (2 vCPU, 4096 MiB), image ubuntu-22.04\n\
         \x20    priority 1, score 0.65 (health 0.50, speed 0.50, capacity 1.00)\n\
         Rejected:\n\
         \x20 - off: disabled\n\
         \x20 - small:\n\
         \x20     vm: no flavor with 2 vCPUs (has up to 1 vCPU)\n\
         \x20     vm: no public IPs\n"
    );

    let none = place(&requirements(vec![vm()]), &[]);
    assert_eq!(explain(&none), "No cloud provider meets the deployment requirements.\n");
}

#[test]
fn no_fit_message_carries_every_rejection() {
    let mut off = provider("off");
    off.enabled = false;
    let plan = place(&requirements(vec![vm()]), &[off]);
    assert_eq!(plan.no_fit_message(), "No cloud provider meets the deployment requirements\n- off: disabled");
}

/// INFN Cloud's Kubernetes and Jupyter templates default `gpu_model` to ""
/// and their GPU workers to `count: 0`: neither is a need to place.
#[test]
fn a_blank_gpu_model_and_a_node_with_no_instances_ask_for_nothing() {
    let blank = ComputeRequirement { gpu_model: Some(String::new()), gpu_vendor: Some(" ".into()), ..vm() };
    let plan = place(&requirements(vec![blank]), &[provider("p")]);
    assert_eq!(order(&plan), ["p"], "{:?}", reasons_for(&plan, "p"));
    assert_eq!(flavor_of(&plan, "vm"), "m1.medium", "no GPU flavor for no GPU wanted");

    let idle_gpu_workers =
        ComputeRequirement { count: 0, gpus: 1, gpu_model: Some("A100".into()), ..ComputeRequirement::named("gpu_wn") };
    let plan = place(&requirements(vec![vm(), idle_gpu_workers.clone()]), &[provider("p")]);
    assert_eq!(order(&plan), ["p"], "{:?}", reasons_for(&plan, "p"));
    assert!(plan.candidates[0].node("gpu_wn").is_none(), "nothing placed for no instances");
    // With one instance, the same node rules the site out.
    let plan = place(&requirements(vec![vm(), ComputeRequirement { count: 1, ..idle_gpu_workers }]), &[provider("p")]);
    assert!(order(&plan).is_empty(), "{:?}", reasons_for(&plan, "p"));
}
