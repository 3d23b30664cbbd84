//! A deployment's resources as the orchestrator lists them (`BaseResource`):
//! one per node template instance — each server of a Compute node, and
//! every other node template once — with a state from `NodeStates` and,
//! for servers, the `VirtualMachineInfo` the orchestrator copies from the
//! Infrastructure Manager (a JSON string of RADL `vmProperties`), which
//! clients read for a VM's addresses, size and image.
//!
//! Provider objects that are no node of the template (ports, floating IPs,
//! security groups) are not resources here; the native API lists them.

use std::collections::BTreeMap;

use nuvola_drivers::{InstanceAttributes, Resource, ResourceKind};
use nuvola_types::DeploymentRecord;
use nuvola_types::DeploymentStatus;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::deployment::{NAMESPACE, link, present, time};

/// The orchestrator's `NodeStates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Initial,
    Creating,
    Created,
    Configuring,
    Configured,
    Starting,
    Started,
    Stopping,
    Stopped,
    Deleting,
    Error,
}

impl NodeState {
    /// The wire spelling, e.g. `STARTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "INITIAL",
            Self::Creating => "CREATING",
            Self::Created => "CREATED",
            Self::Configuring => "CONFIGURING",
            Self::Configured => "CONFIGURED",
            Self::Starting => "STARTING",
            Self::Started => "STARTED",
            Self::Stopping => "STOPPING",
            Self::Stopped => "STOPPED",
            Self::Deleting => "DELETING",
            Self::Error => "ERROR",
        }
    }

    /// A node's state while its deployment is `status`, when the provider
    /// says nothing of it: the orchestrator moves every node along with the
    /// deployment.
    pub fn of_deployment(status: DeploymentStatus) -> Self {
        use DeploymentStatus::*;
        match status {
            CreateInProgress => Self::Creating,
            UpdateInProgress => Self::Configuring,
            CreateComplete | UpdateComplete => Self::Started,
            CreateFailed | UpdateFailed | DeleteFailed => Self::Error,
            DeleteInProgress | DeleteComplete => Self::Deleting,
            Unknown => Self::Initial,
        }
    }

    /// What a provider's state of a server (Nova, IM, the simulator) says,
    /// if it says anything the deployment's status does not.
    pub fn of_server(state: &str) -> Option<Self> {
        Some(match state.to_ascii_lowercase().as_str() {
            "build" | "pending" | "creating" | "rebuild" => Self::Creating,
            "active" | "running" | "configured" => Self::Started,
            "unconfigured" => Self::Configuring,
            "resize" | "verify_resize" | "migrating" | "reboot" | "hard_reboot" => Self::Configuring,
            "shutoff" | "stopped" | "off" | "suspended" | "paused" | "shelved" | "shelved_offloaded" => Self::Stopped,
            "error" | "failed" => Self::Error,
            "deleting" | "deleted" | "soft_deleted" => Self::Deleting,
            _ => return None,
        })
    }

    /// The Infrastructure Manager's word for a VM in this state.
    fn im_vm_state(self) -> &'static str {
        match self {
            Self::Initial | Self::Creating | Self::Starting => "pending",
            Self::Created | Self::Configuring | Self::Configured => "unconfigured",
            Self::Started => "configured",
            Self::Stopping | Self::Stopped => "stopped",
            Self::Deleting => "off",
            Self::Error => "failed",
        }
    }
}

/// The id clients see for one of a deployment's resources: the name-based
/// UUID of the deployment and `key` (a provider id, or `node/index`), the
/// same at every listing.
pub fn resource_uuid(deployment: &str, key: &str) -> String {
    Uuid::new_v5(&NAMESPACE, format!("{deployment}/{key}").as_bytes()).to_string()
}

/// A node template of the deployment's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateNode {
    pub name: String,
    /// Its type, e.g. `tosca.nodes.indigo.Compute`.
    pub type_name: String,
}

/// One resource as the orchestrator shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeResource {
    pub uuid: String,
    /// The node template's name (`toscaNodeName`).
    pub node: String,
    /// The node template's type (`toscaNodeType`).
    pub type_name: String,
    pub state: NodeState,
    /// The provider's id of the server, for servers.
    pub physical_id: Option<String>,
    /// `VirtualMachineInfo`, for servers.
    pub metadata: Map<String, Value>,
}

impl NodeResource {
    /// The JSON of it, linked under `base` (its deployment's URL).
    pub fn to_json(&self, d: &DeploymentRecord, base: &str) -> Value {
        present([
            ("uuid", Some(json!(self.uuid))),
            ("creationTime", Some(json!(time(d.created_at)))),
            ("updateTime", Some(json!(time(d.updated_at)))),
            ("physicalId", self.physical_id.as_ref().map(|p| json!(p))),
            ("state", Some(json!(self.state.as_str()))),
            ("toscaNodeType", Some(json!(self.type_name))),
            ("toscaNodeName", Some(json!(self.node))),
            ("requiredBy", Some(json!([]))),
            ("metadata", Some(Value::Object(self.metadata.clone()))),
            (
                "links",
                Some(json!([
                    link("deployment", base.to_string()),
                    link("self", format!("{base}/resources/{}", self.uuid)),
                ])),
            ),
        ])
    }
}

/// What the resources of a deployment are made from.
pub struct Nodes<'a> {
    pub deployment: &'a DeploymentRecord,
    /// Its template's node templates, in template order.
    pub template: &'a [TemplateNode],
    /// What its providers hold for it.
    pub held: &'a [Resource],
    /// Its servers' addresses, by node, when it is running.
    pub instances: &'a BTreeMap<String, Vec<InstanceAttributes>>,
}

impl Nodes<'_> {
    /// The resources, in template order; none once the deployment is deleted.
    pub fn resources(&self) -> Vec<NodeResource> {
        let d = self.deployment;
        if d.status == DeploymentStatus::DeleteComplete {
            return Vec::new();
        }
        let along = NodeState::of_deployment(d.status);
        let mut out = Vec::new();
        for node in self.template {
            let resource = |key: &str, state: NodeState| NodeResource {
                uuid: resource_uuid(&d.id, key),
                node: node.name.clone(),
                type_name: node.type_name.clone(),
                state,
                physical_id: None,
                metadata: Map::new(),
            };
            let Some(compute) = d.requirements.nodes.iter().find(|n| n.name == node.name) else {
                out.push(resource(&node.name, along));
                continue;
            };
            let mut servers: Vec<&Resource> =
                self.held.iter().filter(|r| r.kind == ResourceKind::Server && r.node == node.name).collect();
            servers.sort_by(|a, b| a.name.cmp(&b.name));
            for server in &servers {
                let state = match along {
                    NodeState::Deleting => NodeState::Deleting,
                    _ => NodeState::of_server(&server.state).unwrap_or(along),
                };
                let attributes = self.instances.get(&node.name).and_then(|i| i.iter().find(|a| a.id == server.id));
                let mut metadata = Map::new();
                metadata
                    .insert("VirtualMachineInfo".into(), json!(self.vm_info(&node.name, server, state, attributes)));
                out.push(NodeResource {
                    physical_id: Some(server.id.clone()),
                    metadata,
                    ..resource(&server.id, state)
                });
            }
            // Instances with no server yet (being created, or failed).
            for index in servers.len()..compute.count as usize {
                out.push(resource(&format!("{}/{index}", node.name), along));
            }
        }
        out
    }

    /// A server's RADL properties, as the orchestrator copies them from the
    /// Infrastructure Manager: `{"vmProperties": [network..., system]}`.
    fn vm_info(&self, node: &str, server: &Resource, state: NodeState, at: Option<&InstanceAttributes>) -> String {
        let d = self.deployment;
        let placement =
            d.plan.candidates.iter().find(|c| d.provider.as_deref() == Some(&c.provider)).and_then(|c| c.node(node));
        let image = d.requirements.nodes.iter().find(|n| n.name == node).map(|n| &n.image);
        let mut system = Map::new();
        let mut put = |k: &str, v: Value| {
            system.insert(k.to_string(), v);
        };
        put("class", json!("system"));
        put("id", json!(node));
        put("instance_id", json!(server.id));
        put("instance_name", json!(server.name));
        put("state", json!(state.im_vm_state()));
        put("provider.type", json!("OpenStack"));
        if let Some(host) = d.endpoint.as_deref().and_then(host_of) {
            put("provider.host", json!(host));
        }
        if let Some(p) = placement {
            put("instance_type", json!(p.flavor));
            put("cpu.count", json!(p.size.vcpus));
            put("memory.size", json!(p.size.ram_mb * 1024 * 1024));
            put("disk.0.image.url", json!(p.image));
            if p.size.gpus > 0 {
                put("gpu.count", json!(p.size.gpus));
                if let Some(vendor) = &p.size.gpu_vendor {
                    put("gpu.vendor", json!(vendor));
                }
                if let Some(model) = &p.size.gpu_model {
                    put("gpu.model", json!(model));
                }
            }
        }
        if let Some(image) = image {
            put("disk.0.os.name", json!(image.os_type.as_deref().unwrap_or("linux")));
            if let Some(flavour) = &image.distribution {
                put("disk.0.os.flavour", json!(flavour));
            }
            if let Some(version) = &image.version {
                put("disk.0.os.version", json!(version));
            }
        }
        let mut networks = Vec::new();
        let addresses = at.into_iter().flat_map(|a| {
            let public = a.public_address.as_ref().map(|ip| ("pub_network", "yes", ip));
            public.into_iter().chain(Some(("priv_network", "no", &a.private_address)))
        });
        for (i, (network, outbound, ip)) in addresses.enumerate() {
            networks.push(json!({"class": "network", "id": network, "outbound": outbound}));
            put(&format!("net_interface.{i}.connection"), json!(network));
            put(&format!("net_interface.{i}.ip"), json!(ip));
        }
        networks.push(Value::Object(system));
        json!({"vmProperties": networks}).to_string()
    }
}

/// The host of an endpoint URL: `https://cloud.example:5000/v3` → `cloud.example`.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_states_read_as_node_states() {
        assert_eq!(NodeState::of_server("ACTIVE"), Some(NodeState::Started));
        assert_eq!(NodeState::of_server("BUILD"), Some(NodeState::Creating));
        assert_eq!(NodeState::of_server("SHUTOFF"), Some(NodeState::Stopped));
        assert_eq!(NodeState::of_server("failed"), Some(NodeState::Error));
        assert_eq!(NodeState::of_server("something new"), None);
        assert_eq!(NodeState::of_deployment(DeploymentStatus::CreateComplete), NodeState::Started);
    }

    #[test]
    fn endpoint_hosts() {
        assert_eq!(host_of("https://cloud.example:5000/v3"), Some("cloud.example"));
        assert_eq!(host_of("http://[::1]:8899"), Some("::1"));
        assert_eq!(host_of("https://u@h/x"), Some("h"));
        assert_eq!(host_of(""), None);
    }

    #[test]
    fn resource_ids_are_stable_uuids() {
        let a = resource_uuid("d1", "server-1");
        assert_eq!(a.len(), 36);
        assert_eq!(a, resource_uuid("d1", "server-1"));
        assert_ne!(a, resource_uuid("d2", "server-1"));
    }
}
