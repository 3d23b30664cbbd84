//! What a federation offers: providers, their flavors, images, volume types
//! and networks, and what each group is granted on them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::requirements::DeploymentRequirements;
use crate::spelled::{Spelled, spelled_traits};

/// A federated cloud site and its compute service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// Short unique name, e.g. `backbone-bari`.
    pub name: String,
    /// Region or site label shown to users.
    #[serde(default)]
    pub region: String,
    /// One line about the site.
    #[serde(default)]
    pub description: String,
    /// The driver that talks to it.
    pub driver: DriverKind,
    /// The compute endpoint shown as `cloudProviderEndpoint`.
    pub endpoint: String,
    /// Disabled providers are never chosen.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// OIDC issuers whose users the provider accepts; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<String>,
    /// Scheduled maintenance windows; no deployment is placed on the
    /// provider if its timeout overlaps one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<MaintenanceWindow>,
    /// Whether public (floating) IPs can be assigned.
    #[serde(default = "yes")]
    pub public_ips: bool,
    /// Instance sizes on offer.
    #[serde(default)]
    pub flavors: Vec<Flavor>,
    /// OS images on offer.
    #[serde(default)]
    pub images: Vec<Image>,
    /// Volume types (disk QoS) on offer.
    #[serde(default)]
    pub volume_types: Vec<VolumeType>,
    /// Networks a deployment may attach to.
    #[serde(default)]
    pub networks: Vec<Network>,
    /// Per group: the SLA, its quota and priority on this provider.
    #[serde(default)]
    pub groups: BTreeMap<String, ProviderGrant>,
    /// Settings read by the driver named in `driver` (e.g. the simulator's
    /// latency and failure rate); opaque to everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
}

fn yes() -> bool {
    true
}

/// The kinds of driver nuvola can talk to a provider with, as a provider's
/// `driver` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum DriverKind {
    /// nuvola's simulated cloud, for demos and tests.
    Sim,
    /// An Infrastructure Manager endpoint.
    Im,
    /// An OpenStack site: Keystone, Nova, Neutron, Cinder.
    Openstack,
}

impl DriverKind {
    /// Whether it talks to a real cloud (the simulator is opened and
    /// steered by the app itself).
    pub fn is_remote(self) -> bool {
        !matches!(self, Self::Sim)
    }
}

impl Spelled for DriverKind {
    const WHAT: &'static str = "driver";
    const ALL: &'static [DriverKind] = &[Self::Sim, Self::Im, Self::Openstack];

    fn as_str(self) -> &'static str {
        match self {
            Self::Sim => "sim",
            Self::Im => "im",
            Self::Openstack => "openstack",
        }
    }
}

spelled_traits!(DriverKind);

/// A period when a provider is down for planned work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub reason: String,
    /// An outage (the default) keeps deployments away; at risk only
    /// announces that the site may falter.
    #[serde(default)]
    pub kind: crate::MaintenanceKind,
}

impl MaintenanceWindow {
    /// Whether the window overlaps `[from, until)`.
    pub fn overlaps(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> bool {
        self.start < until && from < self.end
    }
}

/// An instance size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flavor {
    pub name: String,
    pub vcpus: u32,
    pub ram_mb: u64,
    pub disk_gb: u64,
    #[serde(default)]
    pub gpus: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
    #[serde(default)]
    pub infiniband: bool,
}

/// An OS image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Provider-side name or id.
    pub name: String,
    #[serde(default = "linux")]
    pub os_type: String,
    pub distribution: String,
    pub version: String,
    /// CUDA version preinstalled, for GPU images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    /// GPU driver version preinstalled, for GPU images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_driver: Option<String>,
}

fn linux() -> String {
    "linux".into()
}

/// A volume type, i.e. a class of disk service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeType {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// Public or private network reachability of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    /// Reachable from the internet through a public IP.
    #[default]
    Public,
    /// On the site's private network only.
    Private,
    /// On a network of the deployment's own, created for it.
    Isolated,
}

impl NetworkKind {
    /// The word used in templates and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Isolated => "isolated",
        }
    }
}

/// A network on a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub name: String,
    pub kind: NetworkKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
}

/// What one group is granted on a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderGrant {
    /// SLA identifier, as `SlaPlacement` policies name it.
    pub sla_id: String,
    /// Project/tenant of the group on the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Ranking weight: higher wins before any other criterion.
    #[serde(default = "one")]
    pub priority: f64,
    /// The SLA is valid from this time (always when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts: Option<DateTime<Utc>>,
    /// The SLA is valid until this time (forever when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends: Option<DateTime<Utc>>,
    /// Limits; a missing limit means unlimited.
    #[serde(default)]
    pub quota: Quota,
}

fn one() -> f64 {
    1.0
}

/// Limits on what a group may hold on a provider (`None` = unlimited).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_gb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ips: Option<u64>,
}

/// Amounts of resources held or requested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub instances: u64,
    pub cores: u64,
    pub ram_mb: u64,
    pub gpus: u64,
    pub volumes: u64,
    pub volume_gb: u64,
    pub public_ips: u64,
}

impl Usage {
    /// Sum of two amounts.
    pub fn plus(self, o: Usage) -> Usage {
        Usage {
            instances: self.instances + o.instances,
            cores: self.cores + o.cores,
            ram_mb: self.ram_mb + o.ram_mb,
            gpus: self.gpus + o.gpus,
            volumes: self.volumes + o.volumes,
            volume_gb: self.volume_gb + o.volume_gb,
            public_ips: self.public_ips + o.public_ips,
        }
    }

    /// `self - o`, never below zero.
    pub fn minus(self, o: Usage) -> Usage {
        Usage {
            instances: self.instances.saturating_sub(o.instances),
            cores: self.cores.saturating_sub(o.cores),
            ram_mb: self.ram_mb.saturating_sub(o.ram_mb),
            gpus: self.gpus.saturating_sub(o.gpus),
            volumes: self.volumes.saturating_sub(o.volumes),
            volume_gb: self.volume_gb.saturating_sub(o.volume_gb),
            public_ips: self.public_ips.saturating_sub(o.public_ips),
        }
    }

    /// What `requirements` hold once placed with the given flavor per node
    /// (`flavor_of` returns the flavor chosen for a node name).
    pub fn of_deployment<'a>(
        requirements: &DeploymentRequirements,
        flavor_of: impl Fn(&str) -> Option<&'a Flavor>,
    ) -> Usage {
        let mut total = Usage::default();
        for node in &requirements.nodes {
            let n = u64::from(node.count);
            let (cores, ram, gpus) = match flavor_of(&node.name) {
                Some(f) => (u64::from(f.vcpus), f.ram_mb, u64::from(f.gpus)),
                None => (u64::from(node.cpus.unwrap_or(1)), node.mem_mb.unwrap_or(0), u64::from(node.gpus)),
            };
            total = total.plus(Usage {
                instances: n,
                cores: n * cores,
                ram_mb: n * ram,
                gpus: n * gpus,
                volumes: n * node.volumes.len() as u64,
                volume_gb: n * node.volumes.iter().map(|v| v.size_gb).sum::<u64>(),
                public_ips: if node.needs_public_ip() { n } else { 0 },
            });
        }
        total
    }

    /// The amounts in the order of [`RESOURCES`].
    pub fn amounts(self) -> [u64; 7] {
        [self.instances, self.cores, self.ram_mb, self.gpus, self.volumes, self.volume_gb, self.public_ips]
    }

    /// The first limit of `quota` that `self + extra` would exceed, as
    /// `(what, requested, left)`.
    pub fn exceeds(self, extra: Usage, quota: &Quota) -> Option<(&'static str, u64, u64)> {
        let checks = RESOURCES.iter().zip(self.amounts()).zip(extra.amounts()).zip(quota.limits());
        checks.into_iter().find_map(|((((_, what), used), want), limit)| {
            let limit = limit?;
            (want > 0 && used + want > limit).then(|| (*what, want, limit.saturating_sub(used)))
        })
    }
}

/// What a quota limits, as `(key, words)`: the key names it in metrics
/// and files, the words in messages.
pub const RESOURCES: [(&str, &str); 7] = [
    ("instances", "instances"),
    ("cores", "cores"),
    ("ram_mb", "RAM MiB"),
    ("gpus", "GPUs"),
    ("volumes", "volumes"),
    ("volume_gb", "volume GiB"),
    ("public_ips", "public IPs"),
];

impl Quota {
    /// The limits in the order of [`RESOURCES`] (`None`: unlimited).
    pub fn limits(&self) -> [Option<u64>; 7] {
        [self.instances, self.cores, self.ram_mb, self.gpus, self.volumes, self.volume_gb, self.public_ips]
    }
}
