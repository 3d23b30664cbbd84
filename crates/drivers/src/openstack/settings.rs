//! How nuvola reaches one OpenStack site: the provider's `settings`
//! (credentials, project, region, networks, call policy) and the OIDC
//! federation they may use instead of a password, checked when the
//! provider is configured.

use nuvola_types::ProviderSpec;
use serde::{Deserialize, Serialize};

use crate::DriverError;
use crate::http::CallPolicy;

/// How nuvola reaches one OpenStack site; the provider's `settings`.
/// The provider's `endpoint` is the Keystone v3 URL.
///
/// ```toml
/// [providers.settings]
/// username = "nuvola"
/// password = "secret"
/// project = "physics"
/// region = "RegionOne"
/// network = "private"            # Neutron network for servers
/// floating_network = "public"    # where floating IPs come from
/// [providers.settings.calls]
/// timeout_secs = 30
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenStackSettings {
    pub username: Option<String>,
    pub password: Option<String>,
    pub user_domain: String,
    /// Project name to scope to (with `project_domain`), or
    pub project: Option<String>,
    /// ... project id.
    pub project_id: Option<String>,
    pub project_domain: String,
    /// Application credential (instead of user name and password).
    pub application_credential_id: Option<String>,
    pub application_credential_secret: Option<String>,
    /// Keystone OIDC federation (instead of either): a token from the
    /// federation's issuer, exchanged at Keystone.
    pub oidc: Option<OidcFederation>,
    /// Catalog region; the first endpoint of any region without one.
    pub region: Option<String>,
    /// Catalog interface: `public`, `internal` or `admin`.
    pub interface: String,
    /// Neutron network (name or id) servers attach to; Nova's choice
    /// (`auto`) without one.
    pub network: Option<String>,
    /// External network (name or id) floating IPs come from.
    pub floating_network: Option<String>,
    /// Nova key pair injected into servers; without one, the first SSH
    /// key of the template becomes a key pair of the attempt's own.
    pub key_name: Option<String>,
    /// More user-data for every server, sent after the cloud-config nuvola
    /// generates from the template.
    pub user_data: Option<String>,
    /// The CIDR of a deployment's own network (nodes whose network is
    /// `isolated`).
    pub isolated_cidr: String,
    /// Items asked for a page of every listing (`limit`); the services'
    /// own page size without one (Nova's and Cinder's 1000 at most,
    /// Glance's 25, Neutron's all). Listings follow their pages to the
    /// end either way.
    pub page_size: Option<u32>,
    /// Timeouts and retries of every call.
    pub calls: CallPolicy,
}

impl Default for OpenStackSettings {
    fn default() -> Self {
        OpenStackSettings {
            username: None,
            password: None,
            user_domain: "Default".into(),
            project: None,
            project_id: None,
            project_domain: "Default".into(),
            application_credential_id: None,
            application_credential_secret: None,
            oidc: None,
            region: None,
            interface: "public".into(),
            network: None,
            floating_network: None,
            key_name: None,
            user_data: None,
            isolated_cidr: "192.168.80.0/24".into(),
            page_size: None,
            calls: CallPolicy::default(),
        }
    }
}

impl OpenStackSettings {
    /// The settings of a provider (`driver = "openstack"`).
    pub fn from_spec(spec: &ProviderSpec) -> Result<OpenStackSettings, DriverError> {
        let settings = match &spec.settings {
            None => OpenStackSettings::default(),
            Some(v) => OpenStackSettings::deserialize(v)
                .map_err(|e| DriverError::invalid(format!("provider {}: OpenStack settings: {e}", spec.name)))?,
        };
        settings
            .check()
            .map_err(|e| DriverError::invalid(format!("provider {}: OpenStack settings: {e}", spec.name)))?;
        url::Url::parse(&spec.endpoint).map_err(|e| {
            DriverError::invalid(format!(
                "provider {}: endpoint {:?} is not a Keystone URL: {e}",
                spec.name, spec.endpoint
            ))
        })?;
        Ok(settings)
    }

    pub(super) fn check(&self) -> Result<(), String> {
        self.calls.check()?;
        let app = self.application_credential_id.is_some() && self.application_credential_secret.is_some();
        let password = self.username.is_some() && self.password.is_some();
        if let Some(oidc) = &self.oidc {
            oidc.check()?;
        } else if !app && !password {
            return Err("give `username` and `password` (with `project`), `application_credential_id` and \
                        `application_credential_secret`, or an `oidc` federation"
                .into());
        }
        if !["public", "internal", "admin"].contains(&self.interface.as_str()) {
            return Err(format!("interface must be public, internal or admin, not {:?}", self.interface));
        }
        if self.page_size == Some(0) {
            return Err("page_size must be at least 1".into());
        }
        Ok(())
    }
}

/// How nuvola signs in to a site that federates the federation's OIDC
/// issuer (Keystone's `OS-FEDERATION` with the `openid` protocol behind
/// mod_auth_openidc): it gets an access token from the issuer — with its
/// client credentials, or a robot account's refresh token — and exchanges
/// it at `<keystone>/OS-FEDERATION/identity_providers/<idp>/protocols/<protocol>/auth`
/// for an unscoped token, then scopes that to the settings' `project` (or
/// the only project the mapping gives).
///
/// ```toml
/// [providers.settings]
/// project = "physics"
/// [providers.settings.oidc]
/// identity_provider = "infn-iam"
/// issuer = "https://iam.example.org/"
/// client_id = "nuvola"
/// client_secret = "secret"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcFederation {
    /// Keystone's identity provider for the issuer.
    pub identity_provider: String,
    /// The federation protocol registered for it.
    #[serde(default = "OidcFederation::default_protocol")]
    pub protocol: String,
    /// The issuer; its discovery document names the token endpoint.
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (with a refresh token).
    pub client_secret: Option<String>,
    /// A refresh token of nuvola's account at the issuer; without one, the
    /// client credentials grant. An issuer that rotates refresh tokens is
    /// followed for the life of the process.
    pub refresh_token: Option<String>,
    /// Scopes to ask for, space-separated.
    pub scope: Option<String>,
    /// The `audience` to ask for (INDIGO IAM's parameter) ...
    pub audience: Option<String>,
    /// ... or the `resource` (RFC 8707), for issuers that need one to
    /// issue a token the site accepts.
    pub resource: Option<String>,
}

impl OidcFederation {
    fn default_protocol() -> String {
        "openid".into()
    }

    fn check(&self) -> Result<(), String> {
        let issuer = url::Url::parse(&self.issuer).map_err(|e| format!("oidc.issuer {:?}: {e}", self.issuer))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(format!("oidc.issuer {:?} is not an http(s) URL", self.issuer));
        }
        for (name, value) in [("identity_provider", &self.identity_provider), ("protocol", &self.protocol)] {
            if value.is_empty() || value.contains(['/', '?', '#']) {
                return Err(format!("oidc.{name} {value:?} is not a Keystone id"));
            }
        }
        if self.client_secret.is_none() && self.refresh_token.is_none() {
            return Err("oidc: give `client_secret` (client credentials) or `refresh_token`".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_credentials() {
        let s = OpenStackSettings::default();
        assert!(s.check().is_err());
        let s = OpenStackSettings {
            username: Some("u".into()),
            password: Some("p".into()),
            ..OpenStackSettings::default()
        };
        assert!(s.check().is_ok());
        let s = OpenStackSettings {
            application_credential_id: Some("i".into()),
            application_credential_secret: Some("s".into()),
            interface: "private".into(),
            ..OpenStackSettings::default()
        };
        assert!(s.check().is_err());
        let s = OpenStackSettings {
            username: Some("u".into()),
            password: Some("p".into()),
            page_size: Some(0),
            ..OpenStackSettings::default()
        };
        assert_eq!(s.check().unwrap_err(), "page_size must be at least 1");
    }
}
