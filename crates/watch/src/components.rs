//! What the status page lists, grouped as INFN Cloud's is: the
//! federation's own services, the backbone sites' compute, each federated
//! cloud's compute, and the PaaS services. The list follows the
//! federation: a provider added to the registry appears at the next round,
//! one removed leaves the page (its history stays in the store).

use std::sync::Arc;

use nuvola_drivers::Driver;
use nuvola_types::{DriverKind, ProviderSpec};

/// Where a component sits on the page, in the page's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Federation,
    Backbone,
    Clouds,
    Paas,
}

impl Group {
    pub const ALL: [Group; 4] = [Group::Federation, Group::Backbone, Group::Clouds, Group::Paas];

    /// The heading on the page.
    pub fn label(self) -> &'static str {
        match self {
            Group::Federation => "Federation services",
            Group::Backbone => "Backbone sites",
            Group::Clouds => "Federated clouds",
            Group::Paas => "PaaS services",
        }
    }

    /// The first part of its components' ids.
    pub fn slug(self) -> &'static str {
        match self {
            Group::Federation => "federation",
            Group::Backbone => "backbone",
            Group::Clouds => "clouds",
            Group::Paas => "paas",
        }
    }
}

/// One line of the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `<group>/<name>`, stable across restarts: the store's history and
    /// subscriptions refer to it.
    pub id: String,
    pub name: String,
    pub group: Group,
    pub description: String,
    /// The provider whose compute it is, for placement's health.
    pub provider: Option<String>,
}

/// A provider as a round probes it.
#[derive(Clone)]
pub struct ProviderTarget {
    pub spec: ProviderSpec,
    pub driver: Arc<dyn Driver>,
}

/// Everything a round looks at, read from the federation and the settings
/// when the round starts.
#[derive(Clone, Default)]
pub struct Targets {
    /// The enabled providers.
    pub providers: Vec<ProviderTarget>,
}

/// The component of `provider`'s compute.
pub fn provider_component(spec: &ProviderSpec, backbone: &[String]) -> Component {
    let group = if backbone.contains(&spec.name) { Group::Backbone } else { Group::Clouds };
    let what = if group == Group::Backbone { "backbone site" } else { "federated cloud" };
    let description = if spec.description.is_empty() {
        format!("Compute of the {what} {}", spec.name)
    } else {
        spec.description.clone()
    };
    Component {
        id: format!("{}/{}", group.slug(), spec.name),
        name: spec.name.clone(),
        group,
        description,
        provider: Some(spec.name.clone()),
    }
}

/// The component of an identity issuer, named by its host.
pub fn issuer_component(issuer: &str) -> Component {
    let host = url::Url::parse(issuer).ok().and_then(|u| u.host_str().map(str::to_string));
    let host = host.unwrap_or_else(|| issuer.to_string());
    Component {
        id: format!("federation/auth-{}", slug(&host)),
        name: format!("Authentication ({host})"),
        group: Group::Federation,
        description: format!("Sign-in and tokens issued by {issuer}"),
        provider: None,
    }
}

/// A PaaS service of nuvola's own.
pub fn paas(name: &str, title: &str, description: &str) -> Component {
    Component {
        id: format!("paas/{name}"),
        name: title.to_string(),
        group: Group::Paas,
        description: description.to_string(),
        provider: None,
    }
}

/// Whether IM stands behind `spec`.
pub fn is_im(spec: &ProviderSpec) -> bool {
    spec.driver == DriverKind::Im
}

/// `text` as an id part: lowercase letters, digits and dashes.
fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_slugs_in_their_group() {
        let spec: ProviderSpec = serde_json::from_value(serde_json::json!({
            "name": "backbone-bari", "driver": "sim", "endpoint": "https://bari.example/v3"
        }))
        .unwrap();
        let c = provider_component(&spec, &["backbone-bari".to_string()]);
        assert_eq!((c.id.as_str(), c.group), ("backbone/backbone-bari", Group::Backbone));
        assert_eq!(c.description, "Compute of the backbone site backbone-bari");
        assert_eq!(provider_component(&spec, &[]).id, "clouds/backbone-bari");
        let auth = issuer_component("https://iam.cloud.infn.it/");
        assert_eq!(
            (auth.id.as_str(), auth.name.as_str()),
            ("federation/auth-iam-cloud-infn-it", "Authentication (iam.cloud.infn.it)")
        );
    }
}
