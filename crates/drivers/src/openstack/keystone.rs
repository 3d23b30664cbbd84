//! Keystone v3: password, application-credential and OIDC-federated
//! authentication, the service catalog, and a cached token refreshed
//! before it expires (or at once when a service answers 401).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use nuvola_types::oauth::{Discovery, Grant, TokenRequest, token_answer};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{OidcFederation, OpenStackSettings};
use crate::DriverError;
use crate::http::{Http, Replay, Reply, excerpt, said_by};

/// A token with what it grants.
#[derive(Debug, Clone)]
pub struct Token {
    pub value: String,
    pub expires_at: DateTime<Utc>,
    /// The scoped project's id and name.
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub catalog: Vec<CatalogEntry>,
}

/// One service of the catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct CatalogEntry {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint of a service.
#[derive(Debug, Clone, Deserialize)]
pub struct Endpoint {
    pub interface: String,
    #[serde(default)]
    pub region_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    pub url: String,
}

/// Authenticates against Keystone and keeps a token per project: the
/// settings' own scope (`None`) and any other project asked for.
#[derive(Debug)]
pub struct Session {
    auth_url: String,
    settings: OpenStackSettings,
    http: Http,
    tokens: Mutex<HashMap<Option<String>, Token>>,
    /// The issuer's token endpoint, once discovered.
    token_endpoint: Mutex<Option<String>>,
    /// The newest refresh token (issuers may rotate them).
    refresh_token: Mutex<Option<String>>,
}

/// Refresh tokens this long before they expire.
const MARGIN_SECS: i64 = 120;

impl Session {
    pub fn new(auth_url: &str, settings: OpenStackSettings, http: Http) -> Session {
        let refresh_token = Mutex::new(settings.oidc.as_ref().and_then(|o| o.refresh_token.clone()));
        Session {
            auth_url: auth_url.trim_end_matches('/').to_string(),
            settings,
            http,
            tokens: Mutex::new(HashMap::new()),
            token_endpoint: Mutex::new(None),
            refresh_token,
        }
    }

    /// A token valid for at least a couple of minutes, scoped to
    /// `project` (by name) or, without one, as the settings say.
    pub async fn token(&self, project: Option<&str>) -> Result<Token, DriverError> {
        let mut tokens = self.tokens.lock().await;
        let key = project.map(str::to_string);
        if let Some(t) = tokens.get(&key)
            && t.expires_at - chrono::Duration::seconds(MARGIN_SECS) > Utc::now()
        {
            return Ok(t.clone());
        }
        let fresh = self.authenticate(project).await?;
        tokens.insert(key, fresh.clone());
        Ok(fresh)
    }

    /// Forgets the token `value` (a service refused it).
    pub async fn invalidate(&self, value: &str) {
        self.tokens.lock().await.retain(|_, t| t.value != value);
    }

    /// The body of `POST /v3/auth/tokens` for the configured method,
    /// scoped to `project` when given. An application credential carries
    /// its own scope: the driver never asks it for another project.
    pub fn auth_body(settings: &OpenStackSettings, project: Option<&str>) -> Value {
        if let (Some(id), Some(secret)) = (&settings.application_credential_id, &settings.application_credential_secret)
        {
            return json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": {"id": id, "secret": secret}}}});
        }
        let user =
            json!({"name": settings.username, "domain": {"name": settings.user_domain}, "password": settings.password});
        let mut body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}});
        if let Some(scope) = Self::scope(settings, project) {
            body["auth"]["scope"] = scope;
        }
        body
    }

    /// The scope of a token: `project`, else the settings' project.
    fn scope(settings: &OpenStackSettings, project: Option<&str>) -> Option<Value> {
        let by_name = |name: &str| json!({"project": {"name": name, "domain": {"name": settings.project_domain}}});
        match (project, &settings.project_id, &settings.project) {
            (Some(name), _, _) => Some(by_name(name)),
            (None, Some(id), _) => Some(json!({"project": {"id": id}})),
            (None, None, Some(name)) => Some(by_name(name)),
            (None, None, None) => None,
        }
    }

    async fn authenticate(&self, project: Option<&str>) -> Result<Token, DriverError> {
        if let Some(oidc) = &self.settings.oidc {
            return self.federated(oidc, project).await;
        }
        let body = Self::auth_body(&self.settings, project);
        self.issue(&body, "(check the provider's credentials and its groups' projects)").await
    }

    /// `POST /v3/auth/tokens` with `body`.
    async fn issue(&self, body: &Value, hint: &str) -> Result<Token, DriverError> {
        let url = format!("{}/auth/tokens", self.auth_url);
        let reply = self.http.send(Method::POST, &url, Replay::Safe, |r| r.json(body)).await?;
        if !reply.ok() {
            return Err(refused("Keystone refused to authenticate", &reply, hint));
        }
        token_of(&reply)
    }

    /// OIDC federation: the issuer's access token, exchanged for an
    /// unscoped Keystone token, scoped to the project.
    async fn federated(&self, oidc: &OidcFederation, project: Option<&str>) -> Result<Token, DriverError> {
        let access = self.access_token(oidc).await?;
        let url = format!(
            "{}/OS-FEDERATION/identity_providers/{}/protocols/{}/auth",
            self.auth_url, oidc.identity_provider, oidc.protocol
        );
        let reply = self.http.send(Method::POST, &url, Replay::Safe, |r| r.bearer_auth(&access)).await?;
        if !reply.ok() {
            let what = format!(
                "Keystone refused the token of {} for identity provider {}",
                oidc.issuer, oidc.identity_provider
            );
            return Err(refused(
                &what,
                &reply,
                "(is the issuer federated there, and does the mapping accept nuvola's identity?)",
            ));
        }
        let unscoped = token_of(&reply)?;
        let scope = match Self::scope(&self.settings, project) {
            Some(scope) => scope,
            None => json!({"project": {"id": self.only_project(&unscoped.value).await?}}),
        };
        let body =
            json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped.value}}, "scope": scope}});
        self.issue(&body, "(does the federation mapping give nuvola's identity a role on that project?)").await
    }

    /// The one project an unscoped token reaches.
    async fn only_project(&self, unscoped: &str) -> Result<String, DriverError> {
        let url = format!("{}/auth/projects", self.auth_url);
        let reply = self.http.send(Method::GET, &url, Replay::Safe, |r| r.header("X-Auth-Token", unscoped)).await?;
        if !reply.ok() {
            return Err(refused("Keystone did not list the federated identity's projects", &reply, ""));
        }
        let v: Value = reply.json("Keystone projects")?;
        let projects: Vec<(&str, &str)> = v["projects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str().unwrap_or("?"))))
            .collect();
        match projects.as_slice() {
            [(id, _)] => Ok(id.to_string()),
            [] => Err(DriverError::invalid("the federation mapping gives nuvola's identity no project on this site")),
            many => {
                let names: Vec<&str> = many.iter().map(|(_, name)| *name).collect();
                Err(DriverError::invalid(format!(
                    "nuvola's federated identity reaches several projects ({}): set `project`",
                    names.join(", ")
                )))
            }
        }
    }

    /// An access token from the issuer: the refresh token grant when there
    /// is one, else client credentials.
    async fn access_token(&self, oidc: &OidcFederation) -> Result<String, DriverError> {
        let endpoint = self.token_endpoint(oidc).await?;
        let mut refresh = self.refresh_token.lock().await;
        let grant = match refresh.as_deref() {
            Some(token) => Grant::RefreshToken(token),
            None => Grant::ClientCredentials,
        };
        let request = TokenRequest::new(&oidc.client_id, oidc.client_secret.as_deref(), grant)
            .with("scope", oidc.scope.as_deref())
            .with("audience", oidc.audience.as_deref())
            .with("resource", oidc.resource.as_deref());
        // A rotated refresh token is spent once used: never replay.
        let replay = if refresh.is_some() { Replay::Unsafe } else { Replay::Safe };
        let form = request.form();
        let reply = self
            .http
            .send(Method::POST, &endpoint, replay, |r| {
                let r = r.form(&form).header("Accept", "application/json");
                match request.basic_auth() {
                    Some((id, secret)) => r.basic_auth(id, Some(secret)),
                    None => r,
                }
            })
            .await?;
        let tokens = token_answer(reply.status.as_u16(), &reply.body).map_err(|e| {
            let text = format!("the issuer {} refused nuvola's {} grant: {e}", oidc.issuer, grant.describe());
            if e.is_client_error() { DriverError::invalid(text) } else { DriverError::unavailable(text) }
        })?;
        if let Some(rotated) = tokens.refresh_token {
            *refresh = Some(rotated);
        }
        Ok(tokens.access_token)
    }

    /// The issuer's token endpoint, from its discovery document.
    async fn token_endpoint(&self, oidc: &OidcFederation) -> Result<String, DriverError> {
        let mut known = self.token_endpoint.lock().await;
        if let Some(endpoint) = known.as_ref() {
            return Ok(endpoint.clone());
        }
        let url = Discovery::url(&oidc.issuer);
        let reply = self.http.send(Method::GET, &url, Replay::Safe, |r| r.header("Accept", "application/json")).await?;
        if !reply.ok() {
            return Err(DriverError::unavailable(format!("{url}: HTTP {}", reply.status)).because(excerpt(&reply.body)));
        }
        let discovery = Discovery::parse(&oidc.issuer, &reply.body).map_err(DriverError::unavailable)?;
        let endpoint = discovery.token_endpoint().map_err(DriverError::unavailable)?.to_string();
        *known = Some(endpoint.clone());
        Ok(endpoint)
    }

    /// The URL of service `kind` (e.g. `compute`) for the configured
    /// interface and region, without a trailing slash.
    pub fn endpoint(&self, token: &Token, kind: &str) -> Result<String, DriverError> {
        endpoint_in(&token.catalog, kind, &self.settings.interface, self.settings.region.as_deref())
    }
}

/// An error for a refused Keystone call: 4xx is the caller's to fix.
fn refused(what: &str, reply: &Reply, hint: &str) -> DriverError {
    let text = match said_by(&reply.body) {
        Some(said) => format!("{what}: HTTP {}: {said}", reply.status),
        None => format!("{what}: HTTP {}", reply.status),
    };
    let error = if reply.status.is_client_error() {
        DriverError::invalid(format!("{text} {hint}").trim_end().to_string())
    } else {
        DriverError::unavailable(text)
    };
    error.because(excerpt(&reply.body))
}

/// The token of a `201 Created` from Keystone.
fn token_of(reply: &Reply) -> Result<Token, DriverError> {
    let value = reply
        .header("X-Subject-Token")
        .ok_or_else(|| DriverError::unavailable("Keystone answered without X-Subject-Token"))?
        .to_string();
    let v: Value = reply.json("Keystone token")?;
    let t = &v["token"];
    let expires_at = t["expires_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc::now() + chrono::Duration::minutes(30));
    let catalog: Vec<CatalogEntry> = serde_json::from_value(t["catalog"].clone()).unwrap_or_default();
    let project_id = t["project"]["id"].as_str().map(str::to_string);
    let project_name = t["project"]["name"].as_str().map(str::to_string);
    Ok(Token { value, expires_at, project_id, project_name, catalog })
}

/// Picks an endpoint from a catalog.
pub fn endpoint_in(
    catalog: &[CatalogEntry],
    kind: &str,
    interface: &str,
    region: Option<&str>,
) -> Result<String, DriverError> {
    let entry = catalog.iter().find(|e| e.kind == kind).ok_or_else(|| {
        let kinds: Vec<&str> = catalog.iter().map(|e| e.kind.as_str()).collect();
        DriverError::invalid(format!("the catalog has no {kind} service (it has: {})", kinds.join(", ")))
    })?;
    let in_region = |e: &&Endpoint| match region {
        None => true,
        Some(r) => e.region_id.as_deref() == Some(r) || e.region.as_deref() == Some(r),
    };
    entry
        .endpoints
        .iter()
        .filter(in_region)
        .find(|e| e.interface == interface)
        .map(|e| e.url.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            DriverError::invalid(format!(
                "the {kind} service has no {interface} endpoint{}",
                region.map(|r| format!(" in region {r}")).unwrap_or_default()
            ))
        })
}
