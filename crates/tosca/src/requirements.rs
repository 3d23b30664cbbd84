//! Extraction of [`DeploymentRequirements`] from a template: one
//! [`ComputeRequirement`] per Compute node template (host, os, scalable and
//! endpoint capabilities, attached block storage) and the placement
//! policies.
//!
//! Units: `mem_size` becomes MiB and `disk_size` and volume `size` GiB,
//! rounded up; TOSCA units are decimal (`GB` = 10^9 bytes) or binary (`GiB`).
//!
//! Networks. A Compute node's network comes, as the Infrastructure Manager
//! reads it, from one of two places:
//!
//! 1. Port nodes (`tosca.nodes.network.Port` and types derived from it,
//!    such as `tosca.nodes.indigo.network.Port`) whose `binding` is the
//!    node: each links it to a Network node (`tosca.nodes.network.Network`,
//!    `tosca.nodes.indigo.network.Network`) whose `network_type` (a value
//!    or a `get_input`) says `public` (the node gets a public IP),
//!    `isolated` (a network of the deployment's own) or anything else
//!    (the site's private network; a Network with a `cidr` of its own is
//!    created for the deployment, so it counts as isolated). A node linked
//!    to a public network and to no isolated one is [`NetworkKind::Public`];
//!    linked to an isolated one too, it is [`NetworkKind::Isolated`] with
//!    [`ComputeRequirement::public_ip`] set.
//! 2. Without Ports, `endpoint.network_name`: `PUBLIC`/`PRIVATE`/`ISOLATED`
//!    (or a name ending in `.PUBLIC` etc., as INDIGO writes for AWS; any
//!    other name is a site network, reached privately); absent, TOSCA's
//!    default `PRIVATE` applies.
//!
//! Ports win when both are written, as in IM, where a node with Ports takes
//! its networks from them alone.

use serde_json::{Map, Value};

use nuvola_types::{
    ComputeRequirement, DeploymentRequirements, ImageRequirement, NetworkKind, PlacementPolicy, PortRequirement,
    VolumeRequirement,
};

use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::functions::Evaluator;
use crate::template::{NodeTemplate, ServiceTemplate};
use crate::types::TypeKind;
use crate::values::{GIB, MIB, as_boolean, as_integer, scalar_text, size_in};

impl ServiceTemplate {
    /// What the template asks of a site, given resolved inputs (the map
    /// from [`ServiceTemplate::resolve_inputs`]; inputs missing from it fall
    /// back to their defaults).
    ///
    /// Placement policies: `tosca.policies.indigo.SlaPlacement` (and types
    /// derived from it) with `sla_id` gives [`PlacementPolicy::Sla`];
    /// `tosca.policies.indigo.Placement` with `cloud_id` (the provider name)
    /// gives [`PlacementPolicy::Provider`].
    pub fn requirements(&self, inputs: &Map<String, Value>) -> Result<DeploymentRequirements, Diagnostics> {
        let mut ev = Evaluator::new(self, inputs, None);
        let mut diags = Vec::new();
        let mut out = DeploymentRequirements::default();
        for node in self.nodes.values() {
            if self.is_compute(&node.name) {
                out.nodes.push(self.compute(node, &mut ev, &mut diags));
            }
        }
        for policy in &self.policies {
            let reg = &self.registry;
            let prop = |ev: &mut Evaluator<'_>, name: &str| {
                policy.properties.get(name).map(|v| ev.eval(v, None)).and_then(|v| scalar_text(&v))
            };
            if reg.derives_from(TypeKind::Policy, &policy.type_name, "tosca.policies.indigo.SlaPlacement") {
                match prop(&mut ev, "sla_id") {
                    Some(sla_id) => out.policies.push(PlacementPolicy::Sla { sla_id }),
                    None => diags.push(Diagnostic::error(
                        &self.file,
                        Default::default(),
                        codes::VALUE,
                        format!("policy \"{}\" has no sla_id", policy.name),
                    )),
                }
            } else if reg.derives_from(TypeKind::Policy, &policy.type_name, "tosca.policies.indigo.Placement") {
                match prop(&mut ev, "cloud_id") {
                    Some(provider) => out.policies.push(PlacementPolicy::Provider { provider }),
                    None => diags.push(Diagnostic::error(
                        &self.file,
                        Default::default(),
                        codes::VALUE,
                        format!("policy \"{}\" has no cloud_id", policy.name),
                    )),
                }
            }
        }
        diags.append(&mut ev.errors);
        if diags.is_empty() { Ok(out) } else { Err(Diagnostics(diags)) }
    }

    fn compute(&self, node: &NodeTemplate, ev: &mut Evaluator<'_>, diags: &mut Vec<Diagnostic>) -> ComputeRequirement {
        let name = node.name.as_str();
        let mut req = ComputeRequirement::named(name);
        let file = self.file.as_str();
        let pos_of = |cap: &str, prop: &str| {
            node.capabilities.get(cap).and_then(|c| c.get(prop)).map(|v| v.pos).unwrap_or(node.pos)
        };
        let mut bad = |cap: &str, prop: &str, msg: String| {
            diags.push(Diagnostic::error(
                file,
                pos_of(cap, prop),
                codes::VALUE,
                format!("node template \"{name}\": {cap}.{prop}: {msg}"),
            ));
        };
        let cap =
            |ev: &mut Evaluator<'_>, c: &str, p: &str| ev.capability_property(name, c, p).filter(|v| !v.is_null());
        let uint = |v: &Value| as_integer(v).and_then(|i| u32::try_from(i).ok());

        if let Some(v) = cap(ev, "host", "num_cpus") {
            match uint(&v) {
                Some(n) => req.cpus = Some(n),
                None => bad("host", "num_cpus", format!("{v} is not a whole number of CPUs")),
            }
        }
        if let Some(v) = cap(ev, "host", "mem_size") {
            match size_in(&v, MIB) {
                Ok(n) => req.mem_mb = Some(n),
                Err(e) => bad("host", "mem_size", e),
            }
        }
        if let Some(v) = cap(ev, "host", "disk_size") {
            match size_in(&v, GIB) {
                Ok(n) => req.disk_gb = Some(n),
                Err(e) => bad("host", "disk_size", e),
            }
        }
        if let Some(v) = cap(ev, "host", "num_gpus") {
            match uint(&v) {
                Some(n) => req.gpus = n,
                None => bad("host", "num_gpus", format!("{v} is not a whole number of GPUs")),
            }
        }
        req.gpu_vendor = cap(ev, "host", "gpu_vendor").and_then(|v| scalar_text(&v));
        req.gpu_model = cap(ev, "host", "gpu_model").and_then(|v| scalar_text(&v));
        req.instance_type = cap(ev, "host", "instance_type").and_then(|v| scalar_text(&v)).filter(|s| !s.is_empty());
        req.infiniband = cap(ev, "host", "infiniband_support").and_then(|v| as_boolean(&v)).unwrap_or(false);
        req.preemptible = cap(ev, "host", "preemtible_instance").and_then(|v| as_boolean(&v)).unwrap_or(false);
        let text =
            |ev: &mut Evaluator<'_>, p: &str| cap(ev, "os", p).and_then(|v| scalar_text(&v)).filter(|s| !s.is_empty());
        req.image = ImageRequirement {
            name: text(ev, "image"),
            os_type: text(ev, "type"),
            distribution: text(ev, "distribution"),
            version: text(ev, "version"),
        };
        if let Some(v) = cap(ev, "scalable", "count") {
            match uint(&v) {
                Some(n) => req.count = n,
                None => bad("scalable", "count", format!("{v} is not a whole number of instances")),
            }
        }
        if let Some((network, public_ip)) = self.bound_networks(name, ev) {
            req.network = network;
            req.public_ip = public_ip;
        } else if let Some(v) = cap(ev, "endpoint", "network_name") {
            let text = scalar_text(&v).unwrap_or_default();
            let kind = text.rsplit('.').next().unwrap_or_default().to_ascii_uppercase();
            req.network = match kind.as_str() {
                "PUBLIC" => NetworkKind::Public,
                "PRIVATE" => NetworkKind::Private,
                "ISOLATED" => NetworkKind::Isolated,
                // A site network named explicitly: reachable privately.
                _ => NetworkKind::Private,
            };
        } else {
            req.network = NetworkKind::Private;
        }
        if let Some(v) = cap(ev, "endpoint", "ports") {
            match v {
                Value::Object(ports) => {
                    for (port_name, spec) in ports {
                        match port(&port_name, &spec) {
                            Ok(p) => req.ports.push(p),
                            Err(e) => bad("endpoint", "ports", e),
                        }
                    }
                }
                other => bad("endpoint", "ports", format!("{other} is not a map of ports")),
            }
        }
        for r in &node.requirements {
            let Some((target, _)) = &r.node else { continue };
            let Some(tnode) = self.nodes.get(target) else { continue };
            if !self.registry.derives_from(TypeKind::Node, &tnode.type_name, "tosca.nodes.BlockStorage")
                && !self.registry.derives_from(TypeKind::Node, &tnode.type_name, "tosca.nodes.Storage.BlockStorage")
            {
                continue;
            }
            let Some(size) = ev.node_property(target, "size") else { continue };
            let size_gb = match size_in(&size, GIB) {
                Ok(n) => n,
                Err(e) => {
                    diags.push(Diagnostic::error(
                        file,
                        tnode.properties.get("size").map(|v| v.pos).unwrap_or(tnode.pos),
                        codes::VALUE,
                        format!("node template \"{target}\": size: {e}"),
                    ));
                    continue;
                }
            };
            let volume_type = ev.node_property(target, "type").and_then(|v| scalar_text(&v)).filter(|s| !s.is_empty());
            let location = match (&r.relationship_template, r.relationship_properties.get("location")) {
                (_, Some(v)) => Some(ev.eval(v, Some(name))),
                (Some(t), None) => self
                    .relationships
                    .get(t)
                    .and_then(|rt| rt.properties.get("location"))
                    .map(|v| ev.eval(v, Some(name))),
                _ => None,
            };
            req.volumes.push(VolumeRequirement {
                name: target.clone(),
                size_gb,
                volume_type,
                mount_path: location.and_then(|v| scalar_text(&v)).filter(|s| !s.is_empty()),
            });
        }
        req
    }
}

impl ServiceTemplate {
    /// The network kind and public IP need of Compute node `compute` from
    /// the Port nodes bound to it (see the module note); `None` when no
    /// Port binds it to a Network.
    fn bound_networks(&self, compute: &str, ev: &mut Evaluator<'_>) -> Option<(NetworkKind, bool)> {
        let reg = &self.registry;
        let mut linked = Vec::new();
        for port in self.nodes.values() {
            if !reg.derives_from(TypeKind::Node, &port.type_name, "tosca.nodes.network.Port") {
                continue;
            }
            let target = |requirement: &str| {
                port.requirements
                    .iter()
                    .find(|r| r.name == requirement)
                    .and_then(|r| r.node.as_ref())
                    .map(|(t, _)| t.as_str())
            };
            if target("binding") != Some(compute) {
                continue;
            }
            let Some(network) = target("link").filter(|n| {
                self.nodes
                    .get(*n)
                    .is_some_and(|t| reg.derives_from(TypeKind::Node, &t.type_name, "tosca.nodes.network.Network"))
            }) else {
                continue;
            };
            let text = |ev: &mut Evaluator<'_>, p: &str| {
                ev.node_property(network, p).and_then(|v| scalar_text(&v)).filter(|s| !s.trim().is_empty())
            };
            let kind = match text(ev, "network_type").map(|t| t.trim().to_ascii_lowercase()).as_deref() {
                Some("public") => NetworkKind::Public,
                Some("isolated") => NetworkKind::Isolated,
                // IM creates a network given its own cidr.
                _ if text(ev, "cidr").is_some() => NetworkKind::Isolated,
                _ => NetworkKind::Private,
            };
            linked.push(kind);
        }
        if linked.is_empty() {
            return None;
        }
        let public = linked.contains(&NetworkKind::Public);
        Some(if linked.contains(&NetworkKind::Isolated) {
            (NetworkKind::Isolated, public)
        } else if public {
            (NetworkKind::Public, false)
        } else {
            (NetworkKind::Private, false)
        })
    }
}

/// One entry of an endpoint's `ports` map: `{ protocol, source | source_range, remote_cidr }`.
fn port(name: &str, spec: &Value) -> Result<PortRequirement, String> {
    let Value::Object(spec) = spec else {
        return Err(format!("port \"{name}\" must be a map with source and protocol"));
    };
    let number = |v: &Value| -> Result<u16, String> {
        as_integer(v)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("port \"{name}\": {v} is not a port number (1-65535)"))
    };
    let (port, port_end) =
        match (spec.get("source").filter(|v| !v.is_null()), spec.get("source_range").filter(|v| !v.is_null())) {
            (Some(s), _) => {
                let p = number(s)?;
                (p, p)
            }
            (None, Some(Value::Array(r))) if r.len() == 2 => (number(&r[0])?, number(&r[1])?),
            (None, Some(other)) => return Err(format!("port \"{name}\": source_range {other} must be [first, last]")),
            (None, None) => match spec.get("target").filter(|v| !v.is_null()) {
                Some(t) => {
                    let p = number(t)?;
                    (p, p)
                }
                None => return Err(format!("port \"{name}\" has no source")),
            },
        };
    if port_end < port {
        return Err(format!("port \"{name}\": range [{port}, {port_end}] is reversed"));
    }
    let protocol = spec.get("protocol").and_then(scalar_text).unwrap_or_else(|| "tcp".into()).to_ascii_lowercase();
    let remote_cidr = spec.get("remote_cidr").and_then(scalar_text).unwrap_or_else(|| "0.0.0.0/0".into());
    Ok(PortRequirement { name: name.to_owned(), port, port_end, protocol, remote_cidr })
}
