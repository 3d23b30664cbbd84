//! What an update of a running deployment changes, and whether the
//! deployment's driver can apply it, decided before anything is changed.
//!
//! An update names inputs (or sends a new template). Each input *reaches*
//! parts of the deployment through the `get_input` calls of the template:
//! the `scalable.count` of a Compute node, its `host` capability (the
//! flavor), a volume's `size`, the software hosted on the servers, ...
//! ([`reaches`]). A driver says what it can change on a running attempt
//! ([`UpdateSupport`]): add and remove servers, resize them to another
//! flavor, grow volumes, reconfigure their software. [`decide`] compares
//! the deployment before and after the update (requirements and the
//! flavors chosen) and either lists the [`Change`]s to apply or refuses,
//! naming the input that asks for what cannot be done: an image change, a
//! shrinking volume, a flavor change the driver cannot make, anything the
//! servers only take at their first boot. A change no input explains is
//! refused too, so that an update never reports success for something it
//! did not do. [`shortfall`] is the other half: after the provider
//! accepted the change, what the attempt holds still differs from it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use nuvola_types::{Candidate, ComputeRequirement, DeploymentRequirements, ProviderSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ProvisionRequest;

/// What a driver can change on a running attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateSupport {
    /// Add and remove servers of a node (its `scalable.count`), with their
    /// volumes, ports and floating IPs; the newest go first.
    pub scale: bool,
    /// Move a node's servers to another flavor, keeping their disks.
    pub resize: bool,
    /// Grow a volume that servers use.
    pub extend: bool,
    /// Apply new settings to the software configured on running servers.
    pub reconfigure: bool,
}

/// A part of a deployment an input (or a template edit) reaches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "reach", content = "node", rename_all = "snake_case")]
pub enum Reach {
    /// How many servers a Compute node has (`scalable.count`).
    Count(String),
    /// The size of a Compute node's servers (`host`: CPUs, memory, GPUs,
    /// disk, instance type), hence their flavor.
    Size(String),
    /// The operating system image of a Compute node (`os`).
    Image(String),
    /// A Compute node's network and open ports (`endpoint`).
    Network(String),
    /// Accounts, SSH keys and packages a Compute node's servers get at
    /// first boot.
    Setup(String),
    /// Any other part of a Compute node.
    Compute(String),
    /// How a volume is attached to a Compute node (its mount point).
    Attachment(String),
    /// The size of a volume.
    VolumeSize(String),
    /// The type (disk QoS) of a volume.
    VolumeType(String),
    /// Any other part of a volume.
    Volume(String),
    /// The software configured on the servers (a node that is neither a
    /// server nor a volume).
    Software(String),
    /// The deployment's outputs only.
    Outputs,
    /// Where the deployment may run (policies, groups).
    Placement,
    /// A part of the template nuvola does not read (named by its path).
    Other(String),
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reach::Count(n) => write!(f, "the number of servers of node {n}"),
            Reach::Size(n) => write!(f, "the size (flavor) of node {n}"),
            Reach::Image(n) => write!(f, "the operating system image of node {n}"),
            Reach::Network(n) => write!(f, "the network and open ports of node {n}"),
            Reach::Setup(n) => write!(f, "the accounts, SSH keys and packages of node {n}"),
            Reach::Compute(n) => write!(f, "node {n}"),
            Reach::Attachment(n) => write!(f, "where node {n} mounts its volumes"),
            Reach::VolumeSize(v) => write!(f, "the size of volume {v}"),
            Reach::VolumeType(v) => write!(f, "the type of volume {v}"),
            Reach::Volume(v) => write!(f, "volume {v}"),
            Reach::Software(n) => write!(f, "the software of node {n}"),
            Reach::Outputs => write!(f, "the outputs"),
            Reach::Placement => write!(f, "where the deployment may run"),
            Reach::Other(path) => write!(f, "{path}"),
        }
    }
}

impl Reach {
    /// Whether `support` can ever apply a change here, and if not why, in
    /// words that follow "it changes {self}, which ...". Changes of a
    /// flavor or a volume size are checked again against their values by
    /// [`decide`] (a volume never shrinks).
    pub fn verdict(&self, support: UpdateSupport) -> Result<(), &'static str> {
        let (ok, why) = match self {
            Reach::Count(_) => (support.scale, "this provider cannot change on a running deployment"),
            Reach::Size(_) => (support.resize, "this provider cannot change on running servers"),
            Reach::VolumeSize(_) => (support.extend, "this provider cannot change on volumes in use"),
            Reach::Software(_) => {
                (support.reconfigure, "is set up when the servers are created, and this provider cannot reconfigure it")
            }
            Reach::Outputs => (true, ""),
            Reach::Image(_) => (false, "cannot change without rebuilding the servers and losing what their disks hold"),
            Reach::Setup(_) => (false, "servers take only at their first boot"),
            Reach::Network(_) => (false, "cannot change on running servers"),
            Reach::Attachment(_) | Reach::VolumeType(_) | Reach::Volume(_) => {
                (false, "cannot change on volumes in use")
            }
            Reach::Compute(_) | Reach::Placement | Reach::Other(_) => (false, "an update cannot change"),
        };
        if ok { Ok(()) } else { Err(why) }
    }
}

/// Where each input of a template (loaded as JSON) reaches, by input
/// name; inputs no function calls are left out. `requirements` tells the
/// Compute nodes (its nodes) from the volumes (their volumes' names).
pub fn reaches(template: &Value, requirements: &DeploymentRequirements) -> BTreeMap<String, BTreeSet<Reach>> {
    let mut out: BTreeMap<String, BTreeSet<Reach>> = BTreeMap::new();
    let topology = &template["topology_template"];
    let mut visit = |section: &str, value: &Value| {
        let mut path = vec![section.to_string()];
        each_input(value, &mut path, &mut |input, path| {
            out.entry(input.to_string()).or_default().insert(classify(path, requirements));
        });
    };
    for section in ["node_templates", "outputs", "policies", "groups"] {
        visit(section, &topology[section]);
    }
    out
}

/// The inputs of a deployment (its template and requirements) that an
/// update cannot change with `support`, each with why: what it reaches
/// and why that cannot change. Inputs left out may be changed (a flavor
/// or a volume's size still only where the values allow it).
pub fn fixed_inputs(
    template: &str,
    requirements: &DeploymentRequirements,
    support: UpdateSupport,
) -> BTreeMap<String, String> {
    let Ok(Some(template)) = crate::im::template::load(template) else { return BTreeMap::new() };
    reaches(&template, requirements)
        .into_iter()
        .filter_map(|(input, reaches)| {
            let refused: Vec<String> = reaches
                .iter()
                .filter_map(|r| r.verdict(support).err().map(|why| format!("it changes {r}, which {why}")))
                .collect();
            (!refused.is_empty()).then(|| (input, refused.join("; ")))
        })
        .collect()
}

/// Where a new template differs from the old one (both loaded as JSON):
/// the differing paths of their node templates, outputs and policies,
/// classified as [`reaches`] does. Inputs' declarations are left to the
/// inputs' own comparison.
pub fn template_reaches(old: &Value, new: &Value, requirements: &DeploymentRequirements) -> BTreeSet<Reach> {
    let mut out = BTreeSet::new();
    for section in ["node_templates", "outputs", "policies", "groups"] {
        let mut path = vec![section.to_string()];
        differences(&old["topology_template"][section], &new["topology_template"][section], &mut path, &mut |path| {
            out.insert(classify(path, requirements));
        });
    }
    out
}

/// Calls `found(input, path)` for every `get_input` call under `value`.
fn each_input(value: &Value, path: &mut Vec<String>, found: &mut impl FnMut(&str, &[String])) {
    match value {
        Value::Object(map) => {
            if let Some(arg) = map.get("get_input") {
                let name = arg.as_str().or_else(|| arg.get(0).and_then(Value::as_str));
                if let Some(name) = name {
                    found(name, path);
                }
            }
            for (key, v) in map {
                path.push(key.clone());
                each_input(v, path, found);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(i.to_string());
                each_input(v, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Calls `found(path)` for every place where `old` and `new` differ.
fn differences(old: &Value, new: &Value, path: &mut Vec<String>, found: &mut impl FnMut(&[String])) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                path.push(key.clone());
                differences(a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null), path, found);
                path.pop();
            }
        }
        (a, b) if a != b => found(path),
        _ => {}
    }
}

/// What a path in the topology (`node_templates/<node>/...`, `outputs/...`)
/// reaches.
fn classify(path: &[String], requirements: &DeploymentRequirements) -> Reach {
    let at = |i: usize| path.get(i).map(String::as_str).unwrap_or_default();
    match at(0) {
        "outputs" => return Reach::Outputs,
        "policies" | "groups" => return Reach::Placement,
        "node_templates" => {}
        _ => return Reach::Other(path.join("/")),
    }
    let node = at(1).to_string();
    let compute = requirements.nodes.iter().any(|n| n.name == node);
    let volume = requirements.nodes.iter().flat_map(|n| &n.volumes).any(|v| v.name == node);
    if compute {
        return match (at(2), at(3)) {
            ("capabilities", "scalable") => Reach::Count(node),
            ("capabilities", "host") => Reach::Size(node),
            ("capabilities", "os") if path.get(5).is_some_and(|p| p == "credential") => Reach::Setup(node),
            ("capabilities", "os") => Reach::Image(node),
            ("capabilities", "endpoint") => Reach::Network(node),
            ("properties", "os_users" | "packages") => Reach::Setup(node),
            ("requirements", _) => Reach::Attachment(node),
            _ => Reach::Compute(node),
        };
    }
    if volume {
        return match (at(2), at(3)) {
            ("properties", "size") => Reach::VolumeSize(node),
            ("properties", "type") => Reach::VolumeType(node),
            _ => Reach::Volume(node),
        };
    }
    Reach::Software(node)
}

/// One thing an update changes on the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Servers added to or removed from a node.
    Scale { node: String, from: u32, to: u32 },
    /// A node's servers moved to another flavor.
    Resize { node: String, from: String, to: String },
    /// A volume of each of a node's servers grown.
    Extend { node: String, volume: String, from_gb: u64, to_gb: u64 },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Scale { node, from, to } => write!(f, "node {node} from {from} to {to} servers"),
            Change::Resize { node, from, to } => write!(f, "node {node} from flavor {from} to {to}"),
            Change::Extend { node, volume, from_gb, to_gb } => {
                write!(f, "volume {volume} of node {node} from {from_gb} to {to_gb} GB")
            }
        }
    }
}

/// `changes` in words, for the deployment log.
pub fn describe(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "nothing to change on the provider".into();
    }
    changes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// What asks for a change: an input, or a new template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    Input(String),
    Template,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Input(name) => write!(f, "input {name}"),
            Cause::Template => write!(f, "the new template"),
        }
    }
}

/// A deployment on its provider: what it asks for and what was chosen.
#[derive(Debug, Clone, Copy)]
pub struct Placed<'a> {
    pub requirements: &'a DeploymentRequirements,
    pub candidate: &'a Candidate,
}

/// An update to judge.
#[derive(Debug, Clone)]
pub struct UpdateRequest<'a> {
    pub before: Placed<'a>,
    pub after: Placed<'a>,
    /// The provider it runs on (its flavors' disks).
    pub provider: &'a ProviderSpec,
    /// What the provider's driver can change.
    pub support: UpdateSupport,
    /// What each changed input (and a new template) reaches.
    pub causes: BTreeMap<Cause, BTreeSet<Reach>>,
}

/// The inputs whose values differ between `before` and `after` (resolved
/// inputs, defaults applied), with what each reaches in `reach`; an input
/// no function calls reaches nothing.
pub fn changed_inputs(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    reach: &BTreeMap<String, BTreeSet<Reach>>,
) -> BTreeMap<Cause, BTreeSet<Reach>> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|n| before.get(*n) != after.get(*n))
        .map(|n| (Cause::Input(n.clone()), reach.get(n).cloned().unwrap_or_default()))
        .collect()
}

/// A running deployment and what an update would make of it.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    /// The deployment as it runs.
    pub before: Placed<'a>,
    pub template_before: &'a str,
    /// Its resolved inputs (defaults applied).
    pub inputs_before: &'a Map<String, Value>,
    /// What the updated deployment asks for.
    pub requirements_after: &'a DeploymentRequirements,
    pub template_after: &'a str,
    pub inputs_after: &'a Map<String, Value>,
    /// The provider it runs on.
    pub provider: &'a ProviderSpec,
    /// What the provider's driver can change.
    pub support: UpdateSupport,
}

/// Judges an update: keeps the placements it leaves alone in `after`
/// (the provider's new plan for it, see [`keep_placements`]), finds what
/// each changed input and a new template reach, and [`decide`]s.
pub fn judge(proposal: &Proposal<'_>, after: &mut Candidate) -> Result<Vec<Change>, String> {
    let load = |text: &str| crate::im::template::load(text).ok().flatten().unwrap_or(Value::Null);
    let new_template = load(proposal.template_after);
    let reach = reaches(&new_template, proposal.requirements_after);
    let mut causes = changed_inputs(proposal.inputs_before, proposal.inputs_after, &reach);
    if proposal.template_before != proposal.template_after {
        let old_template = load(proposal.template_before);
        causes.insert(Cause::Template, template_reaches(&old_template, &new_template, proposal.requirements_after));
    }
    keep_placements(proposal.before, proposal.requirements_after, after);
    decide(&UpdateRequest {
        before: proposal.before,
        after: Placed { requirements: proposal.requirements_after, candidate: after },
        provider: proposal.provider,
        support: proposal.support,
        causes,
    })
}

/// Keeps the flavor and image already chosen for every node whose size
/// and image requirements the update leaves alone, so that a flavor the
/// provider added since cannot resize servers nobody asked to resize.
pub fn keep_placements(before: Placed<'_>, after_requirements: &DeploymentRequirements, after: &mut Candidate) {
    for placed in &mut after.nodes {
        let (Some(old), Some(new)) = (node(before.requirements, &placed.node), node(after_requirements, &placed.node))
        else {
            continue;
        };
        let Some(kept) = before.candidate.node(&placed.node) else { continue };
        if same_size(old, new) {
            placed.flavor.clone_from(&kept.flavor);
            placed.size = kept.size.clone();
        }
        if old.image == new.image {
            placed.image.clone_from(&kept.image);
        }
    }
}

fn node<'a>(requirements: &'a DeploymentRequirements, name: &str) -> Option<&'a ComputeRequirement> {
    requirements.nodes.iter().find(|n| n.name == name)
}

fn same_size(a: &ComputeRequirement, b: &ComputeRequirement) -> bool {
    (a.cpus, a.mem_mb, a.disk_gb, a.gpus, &a.gpu_vendor, &a.gpu_model, &a.instance_type, a.infiniband, a.preemptible)
        == (
            b.cpus,
            b.mem_mb,
            b.disk_gb,
            b.gpus,
            &b.gpu_vendor,
            &b.gpu_model,
            &b.instance_type,
            b.infiniband,
            b.preemptible,
        )
}

/// The changes `request` makes, or why it cannot be made: one sentence per
/// problem, each naming the input (or the template) that asks for it.
pub fn decide(request: &UpdateRequest<'_>) -> Result<Vec<Change>, String> {
    let mut problems = BTreeSet::new();
    // What the driver can never do, whatever the values: per cause and
    // reason, the parts it reaches.
    for (cause, reaches) in &request.causes {
        let mut refused: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for reach in reaches {
            let value_checked = matches!(reach, Reach::Size(_) | Reach::VolumeSize(_));
            if let (Err(why), false) = (reach.verdict(request.support), value_checked) {
                refused.entry(why).or_default().push(reach.to_string());
            }
        }
        for (why, parts) in refused {
            problems.insert(format!("{cause} changes {}, which {why}", parts.join(" and ")));
        }
    }
    let (changes, differences) = compare(request);
    for (reach, what, why) in differences {
        let explained: Vec<String> = request
            .causes
            .iter()
            .filter(|(_, reaches)| reaches.contains(&reach))
            .map(|(cause, _)| cause.to_string())
            .collect();
        if explained.is_empty() {
            let asked: Vec<String> = request.causes.keys().map(ToString::to_string).collect();
            let asked = if asked.is_empty() { "nothing".to_string() } else { asked.join(", ") };
            problems.insert(format!("the update {what}, which no change it asks for ({asked}) explains"));
        } else if let (Some(why), Reach::Size(_) | Reach::VolumeSize(_)) = (why, &reach) {
            // Other refusals were given above, whatever the values.
            problems.insert(format!("{} {what}, which {why}", explained.join(" and ")));
        }
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        Err(format!(
            "this update cannot be applied on {}: {} (deploy anew for such a change)",
            request.provider.name,
            sentences(problems)
        ))
    }
}

fn sentences(problems: BTreeSet<String>) -> String {
    problems.into_iter().collect::<Vec<_>>().join("; ")
}

/// Everything that differs between before and after: the changes a driver
/// may make, and per difference the part it reaches, the difference in
/// words and, when the driver cannot make it, why.
#[allow(clippy::type_complexity)]
fn compare(request: &UpdateRequest<'_>) -> (Vec<Change>, Vec<(Reach, String, Option<String>)>) {
    let (before, after, support) = (request.before, request.after, request.support);
    let mut changes = Vec::new();
    let mut found: Vec<(Reach, String, Option<String>)> = Vec::new();
    let flavor = |name: &str| request.provider.flavors.iter().find(|f| f.name == name);
    for old in &before.requirements.nodes {
        if node(after.requirements, &old.name).is_none() {
            found.push((
                Reach::Other(format!("node_templates/{}", old.name)),
                format!("removes node {}", old.name),
                None,
            ));
        }
    }
    for new in &after.requirements.nodes {
        let name = new.name.clone();
        let Some(old) = node(before.requirements, &name) else {
            found.push((Reach::Other(format!("node_templates/{name}")), format!("adds node {name}"), None));
            continue;
        };
        if old.count != new.count {
            let change = Change::Scale { node: name.clone(), from: old.count, to: new.count };
            let why = (!support.scale).then(|| Reach::Count(name.clone()).verdict(support).unwrap_err().to_string());
            found.push((Reach::Count(name.clone()), format!("changes {change}"), why.clone()));
            if why.is_none() {
                changes.push(change);
            }
        }
        let placed = (before.candidate.node(&name), after.candidate.node(&name));
        if let (Some(was), Some(now)) = placed
            && was.flavor != now.flavor
        {
            let change = Change::Resize { node: name.clone(), from: was.flavor.clone(), to: now.flavor.clone() };
            let disks = (flavor(&was.flavor).map(|f| f.disk_gb), flavor(&now.flavor).map(|f| f.disk_gb));
            let why = if !support.resize {
                Some(Reach::Size(name.clone()).verdict(support).unwrap_err().to_string())
            } else if let (Some(from), Some(to)) = disks
                && to < from
            {
                Some(format!("has a smaller root disk ({to} GB, now {from} GB), and a server's disk cannot shrink"))
            } else {
                None
            };
            found.push((Reach::Size(name.clone()), format!("moves {change}"), why.clone()));
            if why.is_none() {
                changes.push(change);
            }
        }
        let images = (placed.0.map(|p| &p.image), placed.1.map(|p| &p.image));
        if old.image != new.image || images.0 != images.1 {
            found.push((Reach::Image(name.clone()), format!("changes the image of node {name}"), None));
        }
        if (&old.ports, old.network) != (&new.ports, new.network) {
            found.push((Reach::Network(name.clone()), format!("changes the network or ports of node {name}"), None));
        }
        compare_volumes(old, new, support, &mut changes, &mut found);
        // Whatever else a node may come to ask for is an unknown change.
        let mut rest = new.clone();
        rest.count = old.count;
        rest.cpus = old.cpus;
        rest.mem_mb = old.mem_mb;
        rest.disk_gb = old.disk_gb;
        rest.gpus = old.gpus;
        rest.gpu_vendor.clone_from(&old.gpu_vendor);
        rest.gpu_model.clone_from(&old.gpu_model);
        rest.instance_type.clone_from(&old.instance_type);
        rest.infiniband = old.infiniband;
        rest.preemptible = old.preemptible;
        rest.image.clone_from(&old.image);
        rest.volumes.clone_from(&old.volumes);
        rest.ports.clone_from(&old.ports);
        rest.network = old.network;
        if &rest != old {
            found.push((Reach::Compute(name.clone()), format!("changes node {name}"), None));
        }
    }
    if before.requirements.policies != after.requirements.policies {
        found.push((Reach::Placement, "changes the placement policies".into(), None));
    }
    // A difference the driver never makes is refused whoever asks for it.
    for (reach, _, why) in &mut found {
        if why.is_none()
            && let Err(never) = reach.verdict(support)
            && !matches!(reach, Reach::Count(_) | Reach::Size(_) | Reach::VolumeSize(_))
        {
            *why = Some(never.to_string());
        }
    }
    (changes, found)
}

fn compare_volumes(
    old: &ComputeRequirement,
    new: &ComputeRequirement,
    support: UpdateSupport,
    changes: &mut Vec<Change>,
    found: &mut Vec<(Reach, String, Option<String>)>,
) {
    let node = &new.name;
    for was in &old.volumes {
        if !new.volumes.iter().any(|v| v.name == was.name) {
            found.push((
                Reach::Attachment(node.clone()),
                format!("detaches volume {} from node {node}", was.name),
                None,
            ));
        }
    }
    for now in &new.volumes {
        let volume = now.name.clone();
        let Some(was) = old.volumes.iter().find(|v| v.name == now.name) else {
            found.push((Reach::Attachment(node.clone()), format!("attaches volume {volume} to node {node}"), None));
            continue;
        };
        if was.size_gb != now.size_gb {
            let change =
                Change::Extend { node: node.clone(), volume: volume.clone(), from_gb: was.size_gb, to_gb: now.size_gb };
            let why = if now.size_gb < was.size_gb {
                Some("can only grow".to_string())
            } else if !support.extend {
                Some(Reach::VolumeSize(volume.clone()).verdict(support).unwrap_err().to_string())
            } else {
                None
            };
            let what = format!("resizes volume {volume} of node {node} from {} to {} GB", was.size_gb, now.size_gb);
            found.push((Reach::VolumeSize(volume.clone()), what, why.clone()));
            if why.is_none() {
                changes.push(change);
            }
        }
        if was.volume_type != now.volume_type {
            found.push((Reach::VolumeType(volume.clone()), format!("changes the type of volume {volume}"), None));
        }
        if was.mount_path != now.mount_path {
            found.push((Reach::Attachment(node.clone()), format!("moves the mount point of volume {volume}"), None));
        }
    }
}

/// What an attempt holds as its provider reports it: per node, its
/// servers in index order.
pub type Footprint = BTreeMap<String, Vec<ServerFootprint>>;

/// One server as its provider reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFootprint {
    /// The server's name on the provider.
    pub name: String,
    /// Its flavor's name, where the provider tells.
    pub flavor: Option<String>,
    /// Its volumes' sizes in GB by volume name, where the provider tells.
    pub volumes: Option<BTreeMap<String, u64>>,
}

/// How what an attempt holds (`footprint`) falls short of `request`, one
/// phrase per difference; empty once it holds exactly what was asked.
/// What the provider does not tell (a flavor, volumes) is not compared.
pub fn shortfall(request: &ProvisionRequest, footprint: &Footprint) -> Vec<String> {
    let mut out = Vec::new();
    for node in &request.nodes {
        let servers = footprint.get(&node.name).map(Vec::as_slice).unwrap_or_default();
        if servers.len() != node.count as usize {
            out.push(format!("node {} has {} of {} servers", node.name, servers.len(), node.count));
        }
        for server in servers {
            if let Some(flavor) = server.flavor.as_ref().filter(|f| **f != node.flavor.name) {
                out.push(format!("{} is {flavor}, not {}", server.name, node.flavor.name));
            }
            for volume in &node.volumes {
                let Some(sizes) = &server.volumes else { continue };
                match sizes.get(&volume.name) {
                    Some(gb) if *gb == volume.size_gb => {}
                    Some(gb) => out
                        .push(format!("volume {} of {} is {gb} GB, not {}", volume.name, server.name, volume.size_gb)),
                    None => out.push(format!("{} has no volume {}", server.name, volume.name)),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use nuvola_types::{Flavor, NodePlacement, VolumeRequirement};
    use serde_json::json;

    use super::*;

    const ALL: UpdateSupport = UpdateSupport { scale: true, resize: true, extend: true, reconfigure: false };

    fn template() -> Value {
        json!({"topology_template": {
            "inputs": {"cpus": {"type": "integer"}},
            "node_templates": {
                "app": {"type": "tosca.nodes.indigo.JupyterHub", "properties": {"port": {"get_input": "port"}}},
                "vm": {"type": "tosca.nodes.indigo.Compute",
                    "properties": {"os_users": [{"os_user_ssh_public_key": {"get_input": "key"}}]},
                    "capabilities": {
                        "scalable": {"properties": {"count": {"get_input": "count"}}},
                        "host": {"properties": {"num_cpus": {"get_input": "cpus"}}},
                        "os": {"properties": {"version": {"get_input": ["os", 0]},
                                              "credential": {"token": {"get_input": "key"}}}},
                        "endpoint": {"properties": {"ports": {"web": {"source": {"get_input": "port"}}}}}},
                    "requirements": [{"local_storage": {"node": "data",
                        "relationship": {"properties": {"location": {"get_input": "path"}}}}}]},
                "data": {"type": "tosca.nodes.indigo.BlockStorage",
                    "properties": {"size": {"get_input": "size"}, "type": {"get_input": "kind"}}}},
            "outputs": {"url": {"value": {"concat": ["http://", {"get_input": "port"}]}}},
            "policies": [{"pin": {"properties": {"cloud_id": {"get_input": "site"}}}}]}})
    }

    fn requirements(count: u32, cpus: u32, size_gb: u64) -> DeploymentRequirements {
        let mut vm = ComputeRequirement::named("vm");
        vm.count = count;
        vm.cpus = Some(cpus);
        vm.volumes =
            vec![VolumeRequirement { name: "data".into(), size_gb, volume_type: None, mount_path: Some("/d".into()) }];
        DeploymentRequirements { nodes: vec![vm], policies: vec![] }
    }

    fn candidate(flavor: &str) -> Candidate {
        Candidate {
            provider: "site".into(),
            sla_id: "sla".into(),
            priority: 1.0,
            score: 1.0,
            terms: Default::default(),
            nodes: vec![NodePlacement {
                node: "vm".into(),
                count: 1,
                flavor: flavor.into(),
                image: "ubuntu".into(),
                size: Default::default(),
            }],
        }
    }

    fn provider() -> ProviderSpec {
        let flavor = |name: &str, vcpus, disk_gb| Flavor {
            name: name.into(),
            vcpus,
            ram_mb: 1024,
            disk_gb,
            gpus: 0,
            gpu_vendor: None,
            gpu_model: None,
            infiniband: false,
        };
        serde_json::from_value(json!({"name": "site", "region": "r", "driver": "sim", "endpoint": "e"}))
            .map(|mut p: ProviderSpec| {
                p.flavors = vec![flavor("small", 2, 20), flavor("large", 4, 40), flavor("tiny", 1, 10)];
                p
            })
            .unwrap()
    }

    fn judge(
        before: (&DeploymentRequirements, &Candidate),
        after: (&DeploymentRequirements, &Candidate),
        support: UpdateSupport,
        inputs: &[&str],
    ) -> Result<Vec<Change>, String> {
        let reach = reaches(&template(), before.0);
        let causes =
            inputs.iter().map(|i| (Cause::Input(i.to_string()), reach.get(*i).cloned().unwrap_or_default())).collect();
        let spec = provider();
        decide(&UpdateRequest {
            before: Placed { requirements: before.0, candidate: before.1 },
            after: Placed { requirements: after.0, candidate: after.1 },
            provider: &spec,
            support,
            causes,
        })
    }

    #[test]
    fn every_input_reaches_what_its_calls_name() {
        let r = reaches(&template(), &requirements(1, 2, 10));
        let of = |i: &str| r[i].iter().cloned().collect::<Vec<_>>();
        assert_eq!(of("count"), [Reach::Count("vm".into())]);
        assert_eq!(of("cpus"), [Reach::Size("vm".into())]);
        assert_eq!(of("os"), [Reach::Image("vm".into())]);
        assert_eq!(of("key"), [Reach::Setup("vm".into())], "os_users and the os credential are first-boot setup");
        assert_eq!(of("path"), [Reach::Attachment("vm".into())]);
        assert_eq!(of("size"), [Reach::VolumeSize("data".into())]);
        assert_eq!(of("kind"), [Reach::VolumeType("data".into())]);
        assert_eq!(of("port"), [Reach::Network("vm".into()), Reach::Software("app".into()), Reach::Outputs]);
        assert_eq!(of("site"), [Reach::Placement]);
    }

    #[test]
    fn scaling_resizing_and_growing_are_applied_where_the_driver_can() {
        let (before, was) = (requirements(1, 2, 10), candidate("small"));
        let (after, now) = (requirements(3, 4, 50), candidate("large"));
        let changes = judge((&before, &was), (&after, &now), ALL, &["count", "cpus", "size"]).unwrap();
        assert_eq!(
            changes,
            [
                Change::Scale { node: "vm".into(), from: 1, to: 3 },
                Change::Resize { node: "vm".into(), from: "small".into(), to: "large".into() },
                Change::Extend { node: "vm".into(), volume: "data".into(), from_gb: 10, to_gb: 50 },
            ]
        );
        // A size that keeps the flavor changes nothing on the provider.
        let changes = judge((&before, &was), (&requirements(1, 1, 10), &was), UpdateSupport::default(), &["cpus"]);
        assert_eq!(changes, Ok(vec![]));
        // Nothing asked, nothing changed: the update of item 9 (`parameters: {}`).
        assert_eq!(judge((&before, &was), (&before, &was), UpdateSupport::default(), &[]), Ok(vec![]));
    }

    #[test]
    fn what_cannot_be_done_is_refused_naming_the_input() {
        let (before, was) = (requirements(1, 2, 10), candidate("small"));
        let shrink = judge((&before, &was), (&requirements(1, 2, 5), &was), ALL, &["size"]).unwrap_err();
        assert!(
            shrink.contains("input size resizes volume data of node vm from 10 to 5 GB, which can only grow"),
            "{shrink}"
        );
        let none = UpdateSupport::default();
        let resize =
            judge((&before, &was), (&requirements(1, 4, 10), &candidate("large")), none, &["cpus"]).unwrap_err();
        assert!(resize.contains("input cpus moves node vm from flavor small to large"), "{resize}");
        assert!(resize.contains("which this provider cannot change on running servers"), "{resize}");
        let disk = judge((&before, &was), (&requirements(1, 1, 10), &candidate("tiny")), ALL, &["cpus"]).unwrap_err();
        assert!(disk.contains("smaller root disk (10 GB, now 20 GB)"), "{disk}");
        let scale = judge((&before, &was), (&requirements(2, 2, 10), &was), none, &["count"]).unwrap_err();
        assert!(
            scale.contains("input count changes the number of servers of node vm, which this provider cannot change"),
            "{scale}"
        );
        // Reaches refused whatever the values, even when requirements do
        // not show them (first-boot setup, software).
        for (input, words) in [
            ("key", "input key changes the accounts, SSH keys and packages of node vm"),
            ("port", "input port changes the software of node app, which is set up when the servers are created"),
            ("os", "input os changes the operating system image of node vm"),
            ("kind", "input kind changes the type of volume data"),
        ] {
            let refused = judge((&before, &was), (&before, &was), ALL, &[input]).unwrap_err();
            assert!(refused.contains(words), "{refused}");
            assert!(refused.starts_with("this update cannot be applied on site: "), "{refused}");
        }
        // A driver that reconfigures software takes a software change.
        let im = UpdateSupport { scale: true, reconfigure: true, ..UpdateSupport::default() };
        let reach = reaches(&template(), &before);
        let refused: Vec<&Reach> = reach["port"].iter().filter(|r| r.verdict(im).is_err()).collect();
        assert_eq!(refused, [&Reach::Network("vm".into())]);
        assert_eq!(judge((&before, &was), (&before, &was), im, &["count"]), Ok(vec![]));
    }

    #[test]
    fn a_change_no_input_explains_is_refused() {
        let (before, was) = (requirements(1, 2, 10), candidate("small"));
        let mut other = requirements(1, 2, 10);
        other.nodes[0].image.version = Some("24.04".into());
        let refused = judge((&before, &was), (&other, &was), ALL, &["count"]).unwrap_err();
        assert!(
            refused.contains(
                "the update changes the image of node vm, which no change it asks for (input count) explains"
            ),
            "{refused}"
        );
    }

    #[test]
    fn unchanged_sizes_keep_their_flavor_and_image() {
        let (before, was) = (requirements(1, 2, 10), candidate("small"));
        let mut now = candidate("tiny");
        now.nodes[0].image = "ubuntu-new".into();
        keep_placements(Placed { requirements: &before, candidate: &was }, &requirements(2, 2, 10), &mut now);
        assert_eq!((now.nodes[0].flavor.as_str(), now.nodes[0].image.as_str()), ("small", "ubuntu"));
        let mut grown = candidate("large");
        keep_placements(Placed { requirements: &before, candidate: &was }, &requirements(1, 4, 10), &mut grown);
        assert_eq!(grown.nodes[0].flavor, "large");
    }

    #[test]
    fn inputs_an_update_cannot_change_are_told_with_why() {
        let text = serde_json::to_string(&template()).unwrap();
        let fixed = fixed_inputs(&text, &requirements(1, 2, 10), ALL);
        assert_eq!(fixed.keys().collect::<Vec<_>>(), ["key", "kind", "os", "path", "port", "site"]);
        assert_eq!(
            fixed["os"],
            "it changes the operating system image of node vm, which cannot change without \
            rebuilding the servers and losing what their disks hold"
        );
        let none = fixed_inputs(&text, &requirements(1, 2, 10), UpdateSupport::default());
        assert!(none.contains_key("count") && none.contains_key("cpus") && none.contains_key("size"), "{none:?}");
    }

    #[test]
    fn a_new_template_reaches_what_it_edits() {
        let old = template();
        let mut new = template();
        new["topology_template"]["node_templates"]["app"]["properties"]["spawner"] = json!("docker");
        new["topology_template"]["outputs"]["extra"] = json!({"value": 1});
        let r = template_reaches(&old, &new, &requirements(1, 2, 10));
        assert_eq!(r.into_iter().collect::<Vec<_>>(), [Reach::Software("app".into()), Reach::Outputs]);
    }

    #[test]
    fn shortfall_compares_counts_flavors_and_volume_sizes() {
        let mut vm = crate::testing::node("vm", 2);
        vm.volumes = vec![crate::VolumeProvision { name: "data".into(), size_gb: 20, volume_type: None }];
        let request = ProvisionRequest {
            deployment_id: "d".into(),
            attempt_id: "a".into(),
            project: "p".into(),
            nodes: vec![vm.clone()],
            template: None,
            inputs: Map::new(),
        };
        let server = |name: &str, flavor: &str, gb: u64| ServerFootprint {
            name: name.into(),
            flavor: Some(flavor.into()),
            volumes: Some([("data".to_string(), gb)].into()),
        };
        let held: Footprint = [("vm".to_string(), vec![server("vm-0", &vm.flavor.name, 20)])].into();
        assert_eq!(shortfall(&request, &held), ["node vm has 1 of 2 servers"]);
        let held: Footprint =
            [("vm".to_string(), vec![server("vm-0", "old", 20), server("vm-1", &vm.flavor.name, 10)])].into();
        let short = shortfall(&request, &held);
        assert_eq!(short.len(), 2, "{short:?}");
        assert!(short[0].starts_with("vm-0 is old, not "), "{short:?}");
        assert_eq!(short[1], "volume data of vm-1 is 10 GB, not 20");
        let untold = ServerFootprint { name: "vm-0".into(), flavor: None, volumes: None };
        let held: Footprint = [("vm".to_string(), vec![untold.clone(), untold])].into();
        assert!(shortfall(&request, &held).is_empty(), "what the provider does not tell is not compared");
    }
}
