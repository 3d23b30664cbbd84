//! The simulated site's state: attempts and the resources they hold, the
//! events that change them (the same events the journal stores), and how a
//! request turns into the resources it needs.
//!
//! Provider-side states are not stored: they follow from timestamps taken
//! when a resource was created (`ready_ms`) or its attempt's delete began,
//! so they advance with the wall clock and survive restarts unchanged.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use nuvola_types::{NetworkKind, ProviderSpec, Quota, Usage};
use serde::{Deserialize, Serialize};

use super::naming::{self, Cidr};
use crate::{DriverError, InstanceAttributes, NodeProvision, ProvisionRequest, Resource, ResourceKind};

/// What the simulated site holds.
#[derive(Debug, Default)]
pub(super) struct State {
    pub attempts: BTreeMap<String, Attempt>,
}

/// One attempt and everything it holds.
#[derive(Debug, Clone)]
pub(super) struct Attempt {
    pub meta: AttemptMeta,
    pub deleting: Option<Deletion>,
    /// By resource id.
    pub resources: BTreeMap<String, Held>,
}

/// Who an attempt belongs to and how it will end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct AttemptMeta {
    pub attempt_id: String,
    pub deployment_id: String,
    pub project: String,
    /// When it was first created (ms since the Unix epoch).
    pub created_ms: i64,
    /// Set when the attempt was drawn to fail while building: the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Node template names, in request order.
    pub nodes: Vec<String>,
}

/// When an attempt's delete began and when it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Deletion {
    pub started_ms: i64,
    pub gone_ms: i64,
}

/// One resource held for an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Held {
    pub attempt_id: String,
    pub id: String,
    pub kind: ResourceKind,
    pub name: String,
    pub node: String,
    /// Which instance of the node it belongs to (0 for per-node things).
    pub index: u32,
    /// When it finishes building (ms since the Unix epoch).
    pub ready_ms: i64,
    /// What it counts against the project's quota.
    #[serde(default, skip_serializing_if = "is_nothing")]
    pub usage: Usage,
    /// Fixed IP of a server, address of a floating IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A server's flavor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
    /// Set when the resource was resized (a server) or grown (a volume):
    /// until `ready_ms` it is `RESIZE` or `extending`, not building.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changing: bool,
    /// The account a server was set up to be logged in to
    /// ([`crate::NodeSetup::login`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// The SSH public key that account was set up with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_key: Option<String>,
}

fn is_nothing(u: &Usage) -> bool {
    *u == Usage::default()
}

/// A change to the simulated site; one line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(super) enum Event {
    /// First line of a compacted journal.
    Header { version: u32, provider: String },
    /// An attempt was created, or its node list changed (upsert).
    Attempt(AttemptMeta),
    /// A resource was created.
    Created(Held),
    /// A resource was removed (scale down).
    Removed { attempt_id: String, id: String },
    /// A server was resized to another flavor, or a volume grown: it has
    /// `usage` (and `flavor`) from now on and is ready again at `ready_ms`.
    Changed { attempt_id: String, id: String, flavor: Option<String>, usage: Usage, ready_ms: i64 },
    /// An attempt's delete began; its resources are `DELETING`.
    Deleting { attempt_id: String, started_ms: i64, gone_ms: i64 },
    /// An attempt and everything it held are gone.
    Gone { attempt_id: String },
}

impl State {
    /// Applies one event. Events about unknown attempts are ignored, so a
    /// journal stays replayable whatever was compacted away.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Header { .. } => {}
            Event::Attempt(meta) => match self.attempts.get_mut(&meta.attempt_id) {
                Some(a) => a.meta.nodes.clone_from(&meta.nodes),
                None => {
                    self.attempts.insert(
                        meta.attempt_id.clone(),
                        Attempt { meta: meta.clone(), deleting: None, resources: BTreeMap::new() },
                    );
                }
            },
            Event::Created(held) => {
                if let Some(a) = self.attempts.get_mut(&held.attempt_id) {
                    a.resources.insert(held.id.clone(), held.clone());
                }
            }
            Event::Removed { attempt_id, id } => {
                if let Some(a) = self.attempts.get_mut(attempt_id) {
                    a.resources.remove(id);
                }
            }
            Event::Changed { attempt_id, id, flavor, usage, ready_ms } => {
                if let Some(h) = self.attempts.get_mut(attempt_id).and_then(|a| a.resources.get_mut(id)) {
                    h.flavor.clone_from(flavor);
                    h.usage = *usage;
                    h.ready_ms = *ready_ms;
                    h.changing = true;
                }
            }
            Event::Deleting { attempt_id, started_ms, gone_ms } => {
                if let Some(a) = self.attempts.get_mut(attempt_id) {
                    a.deleting = Some(Deletion { started_ms: *started_ms, gone_ms: *gone_ms });
                }
            }
            Event::Gone { attempt_id } => {
                self.attempts.remove(attempt_id);
            }
        }
    }

    /// `Gone` events for every attempt whose delete has completed by `now`.
    pub fn expired(&self, now: i64) -> Vec<Event> {
        self.attempts
            .values()
            .filter(|a| a.deleting.is_some_and(|d| d.gone_ms <= now))
            .map(|a| Event::Gone { attempt_id: a.meta.attempt_id.clone() })
            .collect()
    }

    /// The events that rebuild this state from nothing.
    pub fn snapshot(&self, provider: &str) -> Vec<Event> {
        let mut events = vec![Event::Header { version: super::journal::VERSION, provider: provider.to_owned() }];
        for a in self.attempts.values() {
            events.push(Event::Attempt(a.meta.clone()));
            events.extend(a.resources.values().cloned().map(Event::Created));
            if let Some(d) = a.deleting {
                events.push(Event::Deleting {
                    attempt_id: a.meta.attempt_id.clone(),
                    started_ms: d.started_ms,
                    gone_ms: d.gone_ms,
                });
            }
        }
        events
    }

    /// Everything `project` holds, deleting resources included (a real
    /// cloud counts them until they are gone).
    pub fn project_usage(&self, project: &str) -> Usage {
        self.attempts
            .values()
            .filter(|a| a.meta.project == project)
            .flat_map(|a| a.resources.values())
            .fold(Usage::default(), |acc, h| acc.plus(h.usage))
    }

    /// Every address in use, so new ones do not collide.
    pub fn addresses(&self) -> HashSet<Ipv4Addr> {
        self.attempts
            .values()
            .flat_map(|a| a.resources.values())
            .filter_map(|h| h.address.as_deref()?.parse().ok())
            .collect()
    }

    /// Every resource held at `now`, sorted.
    pub fn inventory(&self, now: i64) -> Vec<Resource> {
        let mut all: Vec<Resource> = self
            .attempts
            .values()
            .filter(|a| a.deleting.is_none_or(|d| d.gone_ms > now))
            .flat_map(|a| a.views(now))
            .collect();
        sort_resources(&mut all);
        all
    }
}

/// Sorts resources by deployment, attempt, node, kind, name and id.
pub(super) fn sort_resources(resources: &mut [Resource]) {
    resources.sort_by(|a, b| {
        (&a.deployment_id, &a.attempt_id, &a.node, a.kind, &a.name, &a.id).cmp(&(
            &b.deployment_id,
            &b.attempt_id,
            &b.node,
            b.kind,
            &b.name,
            &b.id,
        ))
    });
}

impl Attempt {
    /// The provider-side state word of `held` at `now`.
    pub fn state_of(&self, held: &Held, now: i64) -> &'static str {
        let built = now >= held.ready_ms;
        let failed = self.meta.failure.is_some();
        match (self.deleting.is_some(), held.kind) {
            (true, ResourceKind::Volume) => "deleting",
            (true, _) => "DELETING",
            (false, ResourceKind::Server) if !built && held.changing => "RESIZE",
            (false, ResourceKind::Volume) if !built && held.changing => "extending",
            (false, ResourceKind::Server) if !built => "BUILD",
            (false, ResourceKind::Server) if failed => "ERROR",
            (false, ResourceKind::Server) => "ACTIVE",
            (false, ResourceKind::Volume) if !built => "creating",
            (false, ResourceKind::Volume) if failed => "available",
            (false, ResourceKind::Volume) => "in-use",
            (false, ResourceKind::Port | ResourceKind::FloatingIp) if !built || failed => "DOWN",
            (false, _) => "ACTIVE",
        }
    }

    /// The attempt's resources as the trait shows them, sorted.
    pub fn views(&self, now: i64) -> Vec<Resource> {
        let mut all: Vec<Resource> = self
            .resources
            .values()
            .map(|h| Resource {
                id: h.id.clone(),
                kind: h.kind,
                name: h.name.clone(),
                deployment_id: self.meta.deployment_id.clone(),
                attempt_id: self.meta.attempt_id.clone(),
                node: h.node.clone(),
                state: self.state_of(h, now).to_owned(),
                project: self.meta.project.clone(),
            })
            .collect();
        sort_resources(&mut all);
        all
    }

    /// The SSH public key each server's login account was set up with,
    /// by server name.
    pub fn login_keys(&self) -> BTreeMap<String, String> {
        self.servers().filter_map(|s| Some((s.name.clone(), s.login_key.clone()?))).collect()
    }

    /// The attempt's servers, by node and index.
    fn servers(&self) -> impl Iterator<Item = &Held> {
        self.resources.values().filter(|h| h.kind == ResourceKind::Server)
    }

    /// Building, Ready or Failed at `now` (the caller handles deletes).
    pub fn status(&self, now: i64) -> crate::AttemptState {
        let total = self.servers().count();
        let active = self.servers().filter(|h| now >= h.ready_ms).count();
        if let Some(reason) = &self.meta.failure
            && let Some(first) =
                self.servers().filter(|h| now >= h.ready_ms).min_by_key(|h| (h.ready_ms, &h.node, h.index))
        {
            return crate::AttemptState::Failed {
                reason: format!("server {} ({}) went to ERROR: {reason}", first.name, first.id),
            };
        }
        if active < total {
            let noun = if total == 1 { "server" } else { "servers" };
            return crate::AttemptState::Building { detail: format!("{active}/{total} {noun} ACTIVE") };
        }
        let growing: Vec<&str> = self
            .resources
            .values()
            .filter(|h| h.kind == ResourceKind::Volume && now < h.ready_ms)
            .map(|h| h.name.as_str())
            .collect();
        if !growing.is_empty() {
            return crate::AttemptState::Building { detail: format!("extending {}", growing.join(", ")) };
        }
        let mut nodes: BTreeMap<String, Vec<InstanceAttributes>> =
            self.meta.nodes.iter().map(|n| (n.clone(), Vec::new())).collect();
        let mut servers: Vec<&Held> = self.servers().collect();
        servers.sort_by_key(|h| (&h.node, h.index));
        for s in servers {
            let public_address = self
                .resources
                .values()
                .find(|h| h.kind == ResourceKind::FloatingIp && h.node == s.node && h.index == s.index)
                .and_then(|h| h.address.clone());
            nodes.entry(s.node.clone()).or_default().push(InstanceAttributes {
                id: s.id.clone(),
                private_address: s.address.clone().unwrap_or_default(),
                public_address,
                credential: s.login.clone().map(crate::Credential::account),
            });
        }
        crate::AttemptState::Ready { nodes }
    }
}

impl Attempt {
    /// The attempt's servers by node, in index order, with their flavors
    /// and their volumes' sizes.
    pub fn footprint(&self) -> crate::update::Footprint {
        let mut out: crate::update::Footprint = self.meta.nodes.iter().map(|n| (n.clone(), Vec::new())).collect();
        let mut servers: Vec<&Held> = self.servers().collect();
        servers.sort_by_key(|h| (&h.node, h.index));
        for s in servers {
            let prefix = format!("{}-{}-", s.node, s.index);
            let volumes = self
                .resources
                .values()
                .filter(|h| h.kind == ResourceKind::Volume && h.node == s.node && h.index == s.index)
                .filter_map(|h| Some((h.name.strip_prefix(&prefix)?.to_string(), h.usage.volume_gb)))
                .collect();
            out.entry(s.node.clone()).or_default().push(crate::update::ServerFootprint {
                name: s.name.clone(),
                flavor: s.flavor.clone(),
                volumes: Some(volumes),
            });
        }
        out
    }
}

/// Which address pool a planned resource draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pool {
    Private,
    Isolated,
    Public,
}

/// A resource the request needs, before it exists.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub id: String,
    pub kind: ResourceKind,
    pub name: String,
    pub node: String,
    pub index: u32,
    pub usage: Usage,
    pub pool: Option<Pool>,
    /// A server's flavor.
    pub flavor: Option<String>,
    /// A server's login account.
    pub login: Option<String>,
    /// The SSH public key that account is set up with.
    pub login_key: Option<String>,
}

/// Every resource `request` needs on `provider`, with deterministic ids.
pub(super) fn plan(provider: &str, request: &ProvisionRequest) -> Vec<Planned> {
    let mut out = Vec::new();
    let mut add = |kind, node: &NodeProvision, index: u32, sub: &str, name: String, usage, pool| {
        let flavor = (kind == ResourceKind::Server).then(|| node.flavor.name.clone());
        let login = if kind == ResourceKind::Server { node.setup.login.clone() } else { None };
        let login_key =
            login.as_ref().and_then(|login| node.setup.users.iter().find(|u| &u.name == login)?.ssh_key.clone());
        out.push(Planned {
            id: naming::resource_id(provider, &request.attempt_id, &node.name, index, kind, sub),
            kind,
            name,
            node: node.name.clone(),
            index,
            usage,
            pool,
            flavor,
            login,
            login_key,
        });
    };
    for node in &request.nodes {
        let n = node.name.as_str();
        if node.count > 0 && node.network == NetworkKind::Isolated {
            add(ResourceKind::Network, node, 0, "", format!("{n}-net"), Usage::default(), None);
        }
        if node.count > 0 && !node.ports.is_empty() {
            add(ResourceKind::SecurityGroup, node, 0, "", format!("{n}-sg"), Usage::default(), None);
        }
        let fixed_pool = if node.network == NetworkKind::Isolated { Pool::Isolated } else { Pool::Private };
        for i in 0..node.count {
            let server = Usage {
                instances: 1,
                cores: u64::from(node.flavor.vcpus),
                ram_mb: node.flavor.ram_mb,
                gpus: u64::from(node.flavor.gpus),
                ..Usage::default()
            };
            add(ResourceKind::Server, node, i, "", format!("{n}-{i}"), server, Some(fixed_pool));
            for (j, v) in node.volumes.iter().enumerate() {
                let usage = Usage { volumes: 1, volume_gb: v.size_gb, ..Usage::default() };
                let sub = format!("{j}:{}", v.name);
                add(ResourceKind::Volume, node, i, &sub, format!("{n}-{i}-{}", v.name), usage, None);
            }
            add(ResourceKind::Port, node, i, "", format!("{n}-{i}-port"), Usage::default(), None);
            if node.needs_public_ip() {
                let usage = Usage { public_ips: 1, ..Usage::default() };
                add(ResourceKind::FloatingIp, node, i, "", format!("{n}-{i}-fip"), usage, Some(Pool::Public));
            }
        }
    }
    out
}

/// Checks `request` against what `spec` offers.
pub(super) fn validate(spec: &ProviderSpec, request: &ProvisionRequest) -> Result<(), DriverError> {
    let site = &spec.name;
    let invalid = |m: String| Err(DriverError::invalid(m));
    if request.attempt_id.trim().is_empty() {
        return invalid("the attempt id is empty".into());
    }
    let mut seen = HashSet::new();
    for node in &request.nodes {
        if !seen.insert(node.name.as_str()) {
            return invalid(format!("node {} appears twice in the request", node.name));
        }
        let want = &node.flavor;
        let Some(have) = spec.flavors.iter().find(|f| f.name == want.name) else {
            return invalid(format!("flavor {} (node {}) is not offered by {site}", want.name, node.name));
        };
        if (have.vcpus, have.ram_mb, have.disk_gb, have.gpus) != (want.vcpus, want.ram_mb, want.disk_gb, want.gpus) {
            return invalid(format!(
                "flavor {} on {site} has {} vCPUs, {} MiB RAM, {} GB disk, {} GPUs; \
                 node {} asks for {} vCPUs, {} MiB RAM, {} GB disk, {} GPUs",
                have.name,
                have.vcpus,
                have.ram_mb,
                have.disk_gb,
                have.gpus,
                node.name,
                want.vcpus,
                want.ram_mb,
                want.disk_gb,
                want.gpus
            ));
        }
        if !spec.images.iter().any(|i| i.name == node.image) {
            return invalid(format!("image {} (node {}) is not offered by {site}", node.image, node.name));
        }
        for v in &node.volumes {
            if let Some(t) = &v.volume_type
                && !spec.volume_types.iter().any(|vt| &vt.name == t)
            {
                return invalid(format!(
                    "volume type {t} (volume {} of node {}) is not offered by {site}",
                    v.name, node.name
                ));
            }
        }
        if node.needs_public_ip() && node.count > 0 && !spec.public_ips {
            return invalid(format!("node {} needs a public IP, but {site} offers none", node.name));
        }
    }
    Ok(())
}

/// The quota of `project`: the grant whose project (or, without one, the
/// group name) is `project`.
pub(super) fn quota_of<'a>(spec: &'a ProviderSpec, project: &str) -> Option<&'a Quota> {
    spec.groups
        .iter()
        .find(|(group, grant)| grant.project.as_deref().unwrap_or(group) == project)
        .map(|(_, grant)| &grant.quota)
}

/// A free host address in `cidr`, starting from a point drawn from `key`
/// and probing upwards past addresses in `used`; recorded in `used`.
pub(super) fn allocate(cidr: Cidr, key: &[&str], used: &mut HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let hosts = cidr.hosts();
    let hosts = u64::from(hosts);
    let start = naming::hash_u64(key) % hosts;
    (0..hosts).map(|k| cidr.host(((start + k) % hosts) as u32)).find(|a| !used.contains(a)).inspect(|a| {
        used.insert(*a);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(attempt: &str, id: &str, kind: ResourceKind) -> Held {
        Held {
            attempt_id: attempt.into(),
            id: id.into(),
            kind,
            name: format!("vm-{id}"),
            node: "vm".into(),
            index: 0,
            ready_ms: 100,
            usage: Usage { instances: 1, ..Usage::default() },
            address: Some("10.0.0.5".into()),
            flavor: None,
            changing: false,
            login: None,
            login_key: None,
        }
    }

    fn meta(attempt: &str) -> AttemptMeta {
        AttemptMeta {
            attempt_id: attempt.into(),
            deployment_id: "d".into(),
            project: "p".into(),
            created_ms: 0,
            failure: None,
            nodes: vec!["vm".into()],
        }
    }

    #[test]
    fn journal_lines_keep_their_shape() {
        let line = serde_json::to_string(&Event::Gone { attempt_id: "a1".into() }).unwrap();
        assert_eq!(line, r#"{"event":"gone","attempt_id":"a1"}"#);
        let line = serde_json::to_string(&Event::Created(held("a1", "r1", ResourceKind::FloatingIp))).unwrap();
        assert_eq!(
            line,
            r#"{"event":"created","attempt_id":"a1","id":"r1","kind":"floating_ip","name":"vm-r1","node":"vm","index":0,"ready_ms":100,"usage":{"instances":1,"cores":0,"ram_mb":0,"gpus":0,"volumes":0,"volume_gb":0,"public_ips":0},"address":"10.0.0.5"}"#
        );
    }

    #[test]
    fn snapshot_rebuilds_the_same_state() {
        let mut s = State::default();
        for e in [
            Event::Attempt(meta("a1")),
            Event::Created(held("a1", "r1", ResourceKind::Server)),
            Event::Created(held("a1", "r2", ResourceKind::Volume)),
            Event::Removed { attempt_id: "a1".into(), id: "r2".into() },
            Event::Attempt(meta("a2")),
            Event::Created(held("a2", "r3", ResourceKind::Server)),
            Event::Deleting { attempt_id: "a2".into(), started_ms: 10, gone_ms: 50 },
            Event::Created(held("unknown", "r9", ResourceKind::Server)),
        ] {
            s.apply(&e);
        }
        let mut copy = State::default();
        for e in s.snapshot("p") {
            copy.apply(&e);
        }
        assert_eq!(copy.inventory(20), s.inventory(20));
        assert_eq!(s.inventory(20).len(), 2);
        assert_eq!(s.inventory(60).len(), 1, "a2 is gone by 60");
        assert_eq!(s.expired(60), vec![Event::Gone { attempt_id: "a2".into() }]);
        assert_eq!(s.project_usage("p").instances, 2);
    }

    #[test]
    fn allocation_probes_past_used_addresses() {
        let cidr: Cidr = "10.0.0.0/30".parse().unwrap();
        let mut used = HashSet::new();
        let a = allocate(cidr, &["k"], &mut used).unwrap();
        let b = allocate(cidr, &["k"], &mut used).unwrap();
        assert_ne!(a, b);
        assert!(allocate(cidr, &["k"], &mut used).is_none(), "a /30 has two hosts");
    }
}
