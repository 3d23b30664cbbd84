//! Placement speed: plans a fixed set of requests against synthetic
//! federations of 10, 100 and 1,000 providers with 50 flavors each, on one
//! core, and prints the time per plan and how it grows.
//!
//! Run with `cargo bench -p nuvola-placement --bench plan`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use nuvola_placement::{Health, PlacementRequest, ProviderSnapshot, Weights, order_by_size, plan};
use nuvola_types::{
    ComputeRequirement, DeploymentRequirements, Flavor, Image, ImageRequirement, Network, NetworkKind, ProviderGrant,
    ProviderSpec, Quota, Usage, VolumeRequirement, VolumeType,
};

const GPU_MODELS: [&str; 4] = ["T4", "V100", "A100", "L40S"];

#[path = "../tests/support/rng.rs"]
mod rng;
use rng::Rng;

fn provider(rng: &mut Rng, index: usize) -> ProviderSpec {
    let flavors = (0..50)
        .map(|i| {
            let gpus = if i % 5 == 0 { 1 + rng.below(4) as u32 } else { 0 };
            Flavor {
                name: format!("f{i}"),
                vcpus: 1 << rng.below(6),
                ram_mb: 1024 << rng.below(7),
                disk_gb: 20 << rng.below(4),
                gpus,
                gpu_vendor: (gpus > 0).then(|| "NVIDIA".to_string()),
                gpu_model: (gpus > 0).then(|| GPU_MODELS[rng.below(4) as usize].to_string()),
                infiniband: rng.below(10) == 0,
            }
        })
        .collect();
    let image = |name: &str, version: &str| Image {
        name: name.into(),
        os_type: "linux".into(),
        distribution: "ubuntu".into(),
        version: version.into(),
        cuda: None,
        gpu_driver: None,
    };
    let grant = ProviderGrant {
        sla_id: format!("sla-{index}"),
        project: None,
        priority: 1.0 + rng.below(3) as f64,
        quota: Quota { cores: Some(512), gpus: Some(16), instances: Some(100), ..Quota::default() },
        starts: None,
        ends: None,
    };
    ProviderSpec {
        name: format!("p{index:04}"),
        region: String::new(),
        description: String::new(),
        driver: nuvola_types::DriverKind::Sim,
        endpoint: String::new(),
        enabled: true,
        issuers: vec![],
        maintenance: vec![],
        public_ips: true,
        flavors,
        images: vec![image("ubuntu-22.04", "22.04"), image("ubuntu-20.04", "20.04")],
        volume_types: vec![VolumeType { name: "standard".into(), description: String::new() }],
        networks: vec![
            Network { name: "public".into(), kind: NetworkKind::Public, cidr: None },
            Network { name: "private".into(), kind: NetworkKind::Private, cidr: None },
        ],
        groups: BTreeMap::from([("physics".to_string(), grant)]),
        settings: None,
    }
}

fn request(rng: &mut Rng) -> DeploymentRequirements {
    let gpus = if rng.below(4) == 0 { 1 } else { 0 };
    let node = ComputeRequirement {
        count: 1 + rng.below(3) as u32,
        cpus: Some(1 << rng.below(4)),
        mem_mb: Some(1024 << rng.below(5)),
        disk_gb: Some(20),
        gpus,
        gpu_model: (gpus > 0).then(|| GPU_MODELS[rng.below(4) as usize].to_string()),
        image: ImageRequirement {
            distribution: Some("ubuntu".into()),
            version: Some("22.04".into()),
            ..Default::default()
        },
        volumes: vec![VolumeRequirement {
            name: "data".into(),
            size_gb: 100,
            volume_type: Some("standard".into()),
            mount_path: None,
        }],
        ..ComputeRequirement::named("vm")
    };
    DeploymentRequirements { nodes: vec![node], policies: vec![] }
}

/// Times `requests` against a federation of `size` providers of which one
/// in `granting` grants the group an SLA; returns (seconds per plan,
/// share of providers accepted).
fn measure(rng: &mut Rng, requests: &[DeploymentRequirements], size: usize, granting: usize) -> (f64, f64) {
    let mut specs: Vec<ProviderSpec> = (0..size).map(|i| provider(rng, i)).collect();
    for (i, spec) in specs.iter_mut().enumerate() {
        if i % granting != 0 {
            spec.groups.clear();
        }
    }
    // The flavors' order by size, as the server passes it.
    let orders: Vec<Vec<u32>> = specs.iter().map(|s| order_by_size(&s.flavors)).collect();
    let snapshots: Vec<ProviderSnapshot> = specs
        .iter()
        .zip(&orders)
        .map(|(spec, order)| ProviderSnapshot {
            spec,
            usage: Usage::default(),
            health: Health::default(),
            reported: None,
            flavors_by_size: Some(order),
        })
        .collect();
    let weights = Weights::default();
    let place = |r| {
        let request =
            PlacementRequest { requirements: r, group: "physics", pinned_provider: None, issuer: None, window: None };
        plan(&request, black_box(&snapshots), &weights)
    };
    // Warm up (and count what fits), then time.
    let accepted: usize = requests.iter().map(|r| place(r).candidates.len()).sum();
    let rounds = (20_000 / size).max(2);
    let start = Instant::now();
    for _ in 0..rounds {
        for r in requests {
            black_box(place(r));
        }
    }
    let per_plan = start.elapsed().as_secs_f64() / (rounds * requests.len()) as f64;
    (per_plan, accepted as f64 / (requests.len() * size) as f64)
}

fn main() {
    let mut rng = Rng(7);
    let requests: Vec<DeploymentRequirements> = (0..200).map(|_| request(&mut rng)).collect();
    println!("placement: 50 flavors per provider, {} different requests, one core", requests.len());
    for (label, granting) in [("every provider grants the group an SLA", 1), ("one provider in three does", 3)] {
        println!("{label}:");
        println!("{:>10}  {:>12}  {:>10}  {:>14}", "providers", "per plan", "accepted", "per provider");
        let mut last: Option<(usize, f64)> = None;
        for size in [10usize, 100, 1000] {
            let (per_plan, accepted) = measure(&mut rng, &requests, size, granting);
            println!(
                "{size:>10}  {:>9.1} µs  {:>9.0}%  {:>11.0} ns",
                per_plan * 1e6,
                100.0 * accepted,
                per_plan * 1e9 / size as f64
            );
            if let Some((n, t)) = last {
                println!("{:>10}  ×{:.1} for ×{} providers", "", per_plan / t, size / n);
            }
            last = Some((size, per_plan));
        }
    }
}
