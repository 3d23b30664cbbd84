//! What a deployment needs from a site, as read from its TOSCA template:
//! one [`ComputeRequirement`] per Compute node template, plus the template's
//! placement policies. Placement matches these against [`crate::ProviderSpec`]s.

use serde::{Deserialize, Serialize};

use crate::federation::NetworkKind;

/// Everything placement and the drivers need to know about a deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRequirements {
    /// One entry per Compute node template, in template order.
    pub nodes: Vec<ComputeRequirement>,
    /// Placement policies declared in the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PlacementPolicy>,
}

/// The host a Compute node template asks for, times `count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeRequirement {
    /// The node template's name.
    pub name: String,
    /// `scalable.count` (1 when absent).
    pub count: u32,
    /// `host.num_cpus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// `host.mem_size` in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_mb: Option<u64>,
    /// `host.disk_size` in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_gb: Option<u64>,
    /// `host.num_gpus` (0 when absent).
    #[serde(default)]
    pub gpus: u32,
    /// `host.gpu_vendor`, compared case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_vendor: Option<String>,
    /// `host.gpu_model`, compared case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
    /// `host.instance_type`: an exact flavor name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// `host.infiniband_support`.
    #[serde(default)]
    pub infiniband: bool,
    /// `host.preemtible_instance` (sic, as INDIGO spells it).
    #[serde(default)]
    pub preemptible: bool,
    /// The `os` capability.
    #[serde(default)]
    pub image: ImageRequirement,
    /// Block storage attached to this node (per instance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeRequirement>,
    /// Ports opened on the node's endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortRequirement>,
    /// The network the node sits on: `Public` is the site's network with
    /// a public (floating) IP, `Private` the site's network only,
    /// `Isolated` a network of the deployment's own.
    pub network: NetworkKind,
    /// Whether the node also gets a public IP where `network` alone does
    /// not say so: an `Isolated` node linked to a public network too (an
    /// INDIGO template whose Port nodes bind it to both). See
    /// [`ComputeRequirement::needs_public_ip`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_ip: bool,
}

impl ComputeRequirement {
    /// A requirement with only a name and defaults: one instance on a public
    /// network, no constraints.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            count: 1,
            cpus: None,
            mem_mb: None,
            disk_gb: None,
            gpus: 0,
            gpu_vendor: None,
            gpu_model: None,
            instance_type: None,
            infiniband: false,
            preemptible: false,
            image: ImageRequirement::default(),
            volumes: Vec::new(),
            ports: Vec::new(),
            network: NetworkKind::Public,
            public_ip: false,
        }
    }

    /// Whether instances of this node get a public IP: every `Public`
    /// node, and others that ask for one besides.
    pub fn needs_public_ip(&self) -> bool {
        self.network == NetworkKind::Public || self.public_ip
    }
}

/// The `os` capability of a Compute node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRequirement {
    /// `os.image`: an image name or id, matched exactly when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `os.type` (linux, windows, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    /// `os.distribution` (ubuntu, centos, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
    /// `os.version` (22.04, 7, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A block storage volume attached to a Compute node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRequirement {
    /// The BlockStorage node template's name.
    pub name: String,
    /// `size` in GiB.
    pub size_gb: u64,
    /// `type`: the volume type (disk QoS), e.g. `ssd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    /// Where the volume is mounted, from the AttachesTo relationship.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
}

/// A port opened on a node's endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequirement {
    /// The key under `ports`.
    pub name: String,
    /// Port number, or first of a range.
    pub port: u16,
    /// Last port of a range (same as `port` for one port).
    pub port_end: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Who may connect, e.g. `0.0.0.0/0`.
    pub remote_cidr: String,
}

/// A template's request about where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlacementPolicy {
    /// `tosca.policies.indigo.SlaPlacement`: use the SLA with this id.
    Sla { sla_id: String },
    /// A policy that pins the deployment to one provider.
    Provider { provider: String },
}
