//! Keystone v3: password and application-credential authentication, the
//! service catalog, and a cached token refreshed before it expires (or at
//! once when a service answers 401).

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::OpenStackSettings;
use crate::DriverError;
use crate::http::{Http, Replay, excerpt};

/// A token with what it grants.
#[derive(Debug, Clone)]
pub struct Token {
    pub value: String,
    pub expires_at: DateTime<Utc>,
    /// The scoped project's id.
    pub project_id: Option<String>,
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

/// Authenticates against Keystone and keeps the token.
#[derive(Debug)]
pub struct Session {
    auth_url: String,
    settings: OpenStackSettings,
    http: Http,
    token: Mutex<Option<Token>>,
}

/// Refresh tokens this long before they expire.
const MARGIN_SECS: i64 = 120;

impl Session {
    pub fn new(auth_url: &str, settings: OpenStackSettings, http: Http) -> Session {
        Session { auth_url: auth_url.trim_end_matches('/').to_string(), settings, http, token: Mutex::new(None) }
    }

    /// A token valid for at least a couple of minutes.
    pub async fn token(&self) -> Result<Token, DriverError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref()
            && t.expires_at - chrono::Duration::seconds(MARGIN_SECS) > Utc::now()
        {
            return Ok(t.clone());
        }
        let fresh = self.authenticate().await?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets the token (a service refused it), if it is still `value`.
    pub async fn invalidate(&self, value: &str) {
        let mut guard = self.token.lock().await;
        if guard.as_ref().is_some_and(|t| t.value == value) {
            *guard = None;
        }
    }

    /// The body of `POST /v3/auth/tokens` for the configured method.
    pub fn auth_body(settings: &OpenStackSettings) -> Value {
        if let (Some(id), Some(secret)) = (&settings.application_credential_id, &settings.application_credential_secret)
        {
            // An application credential carries its own project scope.
            return json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": {"id": id, "secret": secret}}}});
        }
        let user =
            json!({"name": settings.username, "domain": {"name": settings.user_domain}, "password": settings.password});
        let mut body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}});
        if let Some(project) = &settings.project_id {
            body["auth"]["scope"] = json!({"project": {"id": project}});
        } else if let Some(project) = &settings.project {
            body["auth"]["scope"] = json!({"project": {"name": project, "domain": {"name": settings.project_domain}}});
        }
        body
    }

    async fn authenticate(&self) -> Result<Token, DriverError> {
        let body = Self::auth_body(&self.settings);
        let url = format!("{}/auth/tokens", self.auth_url);
        let reply = self.http.send(Method::POST, &url, Replay::Safe, |r| r.json(&body)).await?;
        if !reply.ok() {
            let text = format!("Keystone refused to authenticate: HTTP {}: {}", reply.status, excerpt(&reply.body));
            return Err(if reply.status.is_client_error() {
                DriverError::Invalid(format!("{text} (check the provider's credentials)"))
            } else {
                DriverError::Unavailable(text)
            });
        }
        let value = reply
            .header("X-Subject-Token")
            .ok_or_else(|| DriverError::Unavailable("Keystone answered without X-Subject-Token".into()))?
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
        Ok(Token { value, expires_at, project_id, catalog })
    }

    /// The URL of service `kind` (e.g. `compute`) for the configured
    /// interface and region, without a trailing slash.
    pub fn endpoint(&self, token: &Token, kind: &str) -> Result<String, DriverError> {
        endpoint_in(&token.catalog, kind, &self.settings.interface, self.settings.region.as_deref())
    }
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
        DriverError::Invalid(format!("the catalog has no {kind} service (it has: {})", kinds.join(", ")))
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
            DriverError::Invalid(format!(
                "the {kind} service has no {interface} endpoint{}",
                region.map(|r| format!(" in region {r}")).unwrap_or_default()
            ))
        })
}
