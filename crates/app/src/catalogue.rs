//! The built-in catalogue: TOSCA templates shipped in the binary (from the
//! repository's `catalogue/` folder), each validated at start-up.

use std::collections::BTreeSet;

use nuvola_tosca::{ImportResolver, InputDef, ServiceTemplate, TypeKind};
use nuvola_types::{DeploymentRequirements, Error, RequestKind, Result};
use serde::Serialize;

/// The templates compiled in, as `(file name, text)`.
const BUILTIN: &[(&str, &str)] = &[
    ("single-vm.yaml", include_str!("../../../catalogue/single-vm.yaml")),
    ("vm-with-volume.yaml", include_str!("../../../catalogue/vm-with-volume.yaml")),
    ("docker-compose.yaml", include_str!("../../../catalogue/docker-compose.yaml")),
    ("jupyter-persistent.yaml", include_str!("../../../catalogue/jupyter-persistent.yaml")),
    ("gpu-vm.yaml", include_str!("../../../catalogue/gpu-vm.yaml")),
    ("kubernetes.yaml", include_str!("../../../catalogue/kubernetes.yaml")),
    ("htcondor-cluster.yaml", include_str!("../../../catalogue/htcondor-cluster.yaml")),
    ("spark-jupyter.yaml", include_str!("../../../catalogue/spark-jupyter.yaml")),
    ("elasticsearch-kibana.yaml", include_str!("../../../catalogue/elasticsearch-kibana.yaml")),
];

/// One service users can deploy.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueEntry {
    /// Stable id (the file stem), used in URLs and `nuvola deploy`.
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub icon: String,
    /// The template's inputs, for forms and `--param` help.
    pub inputs: Vec<InputDef>,
    /// The TOSCA text.
    #[serde(skip)]
    pub template: String,
    /// What deploying it with every input at its default asks for (the
    /// secrets, which have none, do not change what it asks for); none when
    /// another input has no default.
    #[serde(skip)]
    pub at_defaults: Option<nuvola_types::DeploymentRequirements>,
    /// What it deploys, as restrictions see it (see [`features`]).
    #[serde(skip)]
    pub features: BTreeSet<String>,
}

/// Every deployable service.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    entries: Vec<CatalogueEntry>,
}

impl Catalogue {
    /// Loads and validates the built-in templates.
    pub fn builtin(resolver: &dyn ImportResolver) -> Result<Self> {
        let mut entries = Vec::new();
        for (file, text) in BUILTIN {
            let template = nuvola_tosca::load(text, file, resolver)
                .map_err(|d| Error::internal(format!("built-in catalogue template {file} is invalid:\n{d}")))?;
            entries.push(entry(file, text, &template));
        }
        Ok(Self { entries })
    }

    /// All entries, in catalogue order.
    pub fn entries(&self) -> &[CatalogueEntry] {
        &self.entries
    }

    /// The restricted services (ids in `restricted`) that a template with
    /// `features` deploys: those whose own features not found in any open
    /// service are all among them (a Kubernetes front end, GPUs), or, for a
    /// service with none of its own, those with exactly its features.
    /// Returned with the features that tell.
    pub fn restricted_lookalikes<'a>(
        &'a self,
        restricted: impl Fn(&str) -> bool,
        features: &BTreeSet<String>,
    ) -> Vec<(&'a str, Vec<&'a str>)> {
        let open: BTreeSet<&str> = self
            .entries
            .iter()
            .filter(|e| !restricted(&e.id))
            .flat_map(|e| e.features.iter().map(String::as_str))
            .collect();
        let mut out = Vec::new();
        for e in self.entries.iter().filter(|e| restricted(&e.id)) {
            let own: Vec<&str> = e.features.iter().map(String::as_str).filter(|f| !open.contains(f)).collect();
            let deploys =
                if own.is_empty() { e.features == *features } else { own.iter().all(|f| features.contains(*f)) };
            if deploys {
                out.push((e.id.as_str(), own));
            }
        }
        out
    }

    /// One entry by id, or a NotFound naming the ids that exist.
    pub fn get(&self, id: &str) -> Result<&CatalogueEntry> {
        self.entries.iter().find(|e| e.id == id).ok_or_else(|| {
            let known: Vec<&str> = self.entries.iter().map(|e| e.id.as_str()).collect();
            Error::not_found(format!("no catalogue service {id:?} (known: {})", known.join(", ")))
        })
    }
}

fn entry(file: &str, text: &str, template: &ServiceTemplate) -> CatalogueEntry {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let meta = |key: &str| template.metadata().get(key).cloned();
    let mut entry = CatalogueEntry {
        id: meta("template_name").unwrap_or_else(|| stem.to_string()),
        name: meta("display_name").unwrap_or_else(|| stem.to_string()),
        description: meta("description").or_else(|| template.description().map(str::to_string)).unwrap_or_default(),
        category: meta("category").unwrap_or_else(|| "Other".into()),
        icon: meta("icon").unwrap_or_else(|| "server".into()),
        inputs: template.inputs().values().cloned().collect(),
        template: text.to_string(),
        at_defaults: None,
        features: BTreeSet::new(),
    };
    let defaults = entry.for_planning(&serde_json::Map::new());
    entry.at_defaults = template.resolve_inputs(&defaults).ok().and_then(|inputs| template.requirements(&inputs).ok());
    entry.features = features(template, entry.at_defaults.as_ref());
    entry
}

/// What a template deploys, as catalogue restrictions see it: every node
/// type it uses with their ancestors, and `GPUs` when a node asks for some.
/// A restriction applies to what is deployed, not to the name it is
/// deployed under: a custom template with a restricted service's features
/// is that service (see [`Catalogue::restricted_lookalikes`]).
pub fn features(template: &ServiceTemplate, requirements: Option<&DeploymentRequirements>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for node in template.node_names() {
        if let Some(t) = template.node_type(node) {
            out.extend(template.types().ancestors(TypeKind::Node, t).iter().map(|d| d.name.clone()));
        }
    }
    if requirements.is_some_and(|r| r.nodes.iter().any(|n| n.gpus > 0)) {
        out.insert("GPUs".into());
    }
    out
}

impl CatalogueEntry {
    /// `given` with a stand-in for every secret input not given (a password
    /// or a token, which has no default): a secret never changes where a
    /// deployment goes or what it asks for, so a placement preview need not
    /// wait for it. The stand-in is long enough for a minimum length.
    pub fn for_planning(
        &self,
        given: &serde_json::Map<String, serde_json::Value>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut out = given.clone();
        for i in &self.inputs {
            if i.default.is_none() && i.secret && !given.contains_key(&i.name) {
                out.insert(i.name.clone(), serde_json::Value::String("x".repeat(64)));
            }
        }
        out
    }
}

/// A deploy form's parameters checked against a catalogue template.
#[derive(Debug, Clone)]
pub enum FormCheck {
    /// Valid: what the deployment would ask for.
    Valid(nuvola_types::DeploymentRequirements),
    /// Problems, each tied to the input it is about when there is one.
    Invalid(Vec<(Option<String>, String)>),
}

/// Whether a user may deploy a catalogue service for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAccess {
    Allowed,
    /// Restricted to these groups; the user may ask for access.
    Restricted(Vec<String>),
}

impl crate::App {
    /// Whether `caller` may deploy catalogue service `id` for `group`:
    /// unrestricted services, members of the groups a restricted one is
    /// open to, administrators, and users whose catalogue access request
    /// for it was approved.
    pub async fn service_access(
        &self,
        caller: &nuvola_types::Principal,
        group: &str,
        id: &str,
    ) -> Result<ServiceAccess> {
        let Some(groups) = self.settings().restricted_services.get(id) else { return Ok(ServiceAccess::Allowed) };
        if caller.admin
            || groups.iter().any(|g| g == group)
            || self.store().approved_request(&caller.subject, &caller.issuer, RequestKind::Catalogue, id).await?
        {
            return Ok(ServiceAccess::Allowed);
        }
        Ok(ServiceAccess::Restricted(groups.clone()))
    }

    /// Checks parameters for catalogue service `id` with the TOSCA engine
    /// (off the async workers), and ties each of its messages to the
    /// input it names, so that a form can show it beside the field.
    pub async fn check_catalogue_parameters(
        &self,
        id: &str,
        parameters: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<FormCheck> {
        let entry = self.catalogue().get(id)?.clone();
        let resolver = self.inner.resolver.clone();
        let parameters = parameters.clone();
        self.off_the_reactor(move || {
            let file = format!("{}.yaml", entry.id);
            let template = nuvola_tosca::load(&entry.template, &file, &*resolver)
                .map_err(|d| Error::internal(format!("catalogue template {} no longer loads:\n{d}", entry.id)))?;
            let tie = |d: nuvola_tosca::Diagnostics| {
                d.iter()
                    .filter(|d| d.is_error())
                    .map(|d| {
                        let input = entry.inputs.iter().find(|i| d.message.contains(&format!("\"{}\"", i.name)));
                        (input.map(|i| i.name.clone()), d.message.clone())
                    })
                    .collect::<Vec<_>>()
            };
            let inputs = match template.resolve_inputs(&parameters) {
                Ok(inputs) => inputs,
                Err(d) => return Ok(FormCheck::Invalid(tie(d))),
            };
            match template.requirements(&inputs) {
                Ok(r) => Ok(FormCheck::Valid(r)),
                Err(d) => Ok(FormCheck::Invalid(tie(d))),
            }
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_says_what_it_uses_at_its_defaults() {
        let catalogue = Catalogue::builtin(&nuvola_tosca::builtin_resolver()).unwrap();
        for e in catalogue.entries() {
            let uses = e.at_defaults.as_ref().unwrap_or_else(|| panic!("{}: nothing at its defaults", e.id));
            assert!(!uses.nodes.is_empty(), "{}", e.id);
        }
        let k8s = catalogue.get("kubernetes").unwrap().at_defaults.as_ref().unwrap();
        assert_eq!(k8s.nodes.iter().map(|n| n.count).sum::<u32>(), 3, "a control plane and two workers");
    }
}
