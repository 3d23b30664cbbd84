//! An external OIDC issuer (INDIGO IAM, Keycloak, ...) that nuvola trusts
//! as a relying party: access tokens are JWTs checked against the issuer's
//! published keys (discovery document, then JWKS, both cached; an unknown
//! `kid` refetches the JWKS, at most once per `key_refresh_secs`, so keys
//! rotate without a restart), or opaque tokens checked at the issuer's
//! introspection endpoint when client credentials are configured.
//!
//! The discovery and JWKS URLs come from the operator's configuration, never
//! from a request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nuvola_types::oauth::{Discovery, same_issuer};
use nuvola_types::{Error, Principal, Result};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::jwk::{Jwk, JwkSet};

/// `[[identity.issuers]]`: one trusted external issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer URL exactly as tokens carry it in `iss`.
    pub issuer: String,
    /// The `aud` tokens must carry (one of theirs) to be meant for nuvola.
    pub audience: String,
    /// The claim listing the user's groups: `groups`, `wlcg.groups`,
    /// `eduperson_entitlement`, ...
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Keeps only the values starting with this, stripped of it (e.g. `/`
    /// for `wlcg.groups`, `urn:mace:egi.eu:group:` for entitlements); a
    /// `#authority` suffix is dropped as well.
    #[serde(default)]
    pub groups_prefix: Option<String>,
    /// The groups this issuer may grant (with their `G{manager_suffix}`
    /// markers; its `admin_group` always). Unset: any group, when it is
    /// the only external issuer trusted; none next to another external
    /// issuer, which must each list theirs. Group claims an issuer may
    /// not grant are ignored (and logged).
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Members of this group are platform administrators.
    #[serde(default)]
    pub admin_group: Option<String>,
    /// Members of `G{suffix}` manage group `G` (e.g. `/managers` makes
    /// `physics/managers` manage `physics`).
    #[serde(default)]
    pub manager_suffix: Option<String>,
    /// The introspection endpoint for opaque tokens (default: the one the
    /// discovery document names, when client credentials are set).
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// nuvola's own client at the issuer, for introspection.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The public client `nuvola login` uses for the device flow.
    #[serde(default)]
    pub cli_client_id: Option<String>,
    /// The dashboard's client (authorization code flow with PKCE); none:
    /// the dashboard offers no sign-in through this issuer.
    #[serde(default)]
    pub web_client_id: Option<String>,
    /// Its secret, for a confidential client (sent with HTTP Basic).
    #[serde(default)]
    pub web_client_secret: Option<String>,
    /// Scopes the dashboard asks for.
    #[serde(default = "default_web_scope")]
    pub web_scope: String,
    /// A resource indicator (RFC 8707) naming nuvola, for issuers that
    /// need one to issue JWT access tokens with nuvola's audience.
    #[serde(default)]
    pub resource: Option<String>,
    /// The name on the dashboard's sign-in button (default: the host).
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_skew")]
    pub clock_skew_secs: i64,
    /// Fewest seconds between two JWKS fetches caused by unknown keys.
    #[serde(default = "default_key_refresh")]
    pub key_refresh_secs: u64,
    /// Cached keys are refetched when older than this.
    #[serde(default = "default_key_max_age")]
    pub key_max_age_secs: u64,
}

fn default_groups_claim() -> String {
    "groups".into()
}
fn default_web_scope() -> String {
    "openid profile email".into()
}
fn default_skew() -> i64 {
    60
}
fn default_key_refresh() -> u64 {
    30
}
fn default_key_max_age() -> u64 {
    3600
}

impl IssuerConfig {
    /// A configuration with defaults for everything but issuer and audience.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            groups_claim: default_groups_claim(),
            groups_prefix: None,
            groups: None,
            admin_group: None,
            manager_suffix: None,
            introspection_endpoint: None,
            client_id: None,
            client_secret: None,
            cli_client_id: None,
            web_client_id: None,
            web_client_secret: None,
            web_scope: default_web_scope(),
            resource: None,
            name: None,
            clock_skew_secs: default_skew(),
            key_refresh_secs: default_key_refresh(),
            key_max_age_secs: default_key_max_age(),
        }
    }

    /// The name users see for this issuer.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            reqwest::Url::parse(&self.issuer)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or(self.issuer.clone())
        })
    }

    /// The discovery document's URL.
    pub fn discovery_url(&self) -> String {
        Discovery::url(&self.issuer)
    }
}

/// Fetches the discovery document of `issuer` and checks it names itself.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery> {
    let url = Discovery::url(issuer);
    let response =
        http.get(&url).send().await.map_err(|e| Error::internal_because(format!("cannot fetch {url}"), e))?;
    if !response.status().is_success() {
        return Err(Error::internal(format!("{url} answered {}", response.status())));
    }
    let body = response.text().await.map_err(|e| Error::internal_because(format!("cannot read {url}"), e))?;
    Discovery::parse(issuer, &body).map_err(Error::internal)
}

/// How long a failed discovery fetch is remembered before it is tried again.
const DISCOVERY_RETRY: Duration = Duration::from_secs(10);

/// Issuers' discovery documents, each fetched at most once per `ttl` (a
/// failure is remembered for a few seconds), whoever asks: the dashboard
/// reads one for every sign-in started, which anyone can request.
pub struct DiscoveryCache {
    http: reqwest::Client,
    ttl: Duration,
    /// One slot per issuer, locked while it is fetched so that concurrent
    /// askers wait for that one fetch.
    issuers: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Fetched>>>>>,
}

struct Fetched {
    answer: Result<Discovery>,
    at: Instant,
}

impl DiscoveryCache {
    /// A cache fetching with `http`, keeping documents for `ttl`.
    pub fn new(http: reqwest::Client, ttl: Duration) -> Self {
        Self { http, ttl, issuers: Default::default() }
    }

    /// The discovery document of `issuer`.
    pub async fn get(&self, issuer: &str) -> Result<Discovery> {
        let slot = self.issuers.lock().expect("discovery cache").entry(issuer.to_string()).or_default().clone();
        let mut slot = slot.lock().await;
        if let Some(f) = slot.as_ref() {
            let keep = if f.answer.is_ok() { self.ttl } else { DISCOVERY_RETRY };
            if f.at.elapsed() < keep {
                return f.answer.clone();
            }
        }
        let answer = discover(&self.http, issuer).await;
        *slot = Some(Fetched { answer: answer.clone(), at: Instant::now() });
        answer
    }
}

async fn fetch_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T> {
    let response = http.get(url).send().await.map_err(|e| Error::internal_because(format!("cannot fetch {url}"), e))?;
    if !response.status().is_success() {
        return Err(Error::internal(format!("{url} answered {}", response.status())));
    }
    response.json().await.map_err(|e| Error::internal_because(format!("{url} did not send the expected JSON"), e))
}

#[derive(Default)]
struct KeyCache {
    discovery: Option<Discovery>,
    keys: Arc<Vec<Jwk>>,
    fetched_at: Option<Instant>,
    /// Last fetch, successful or not (for the rate limit).
    tried_at: Option<Instant>,
}

/// How long an introspection answer is reused.
const INTROSPECTION_CACHE: Duration = Duration::from_secs(30);
/// Answers kept at most; the cache is emptied past it.
const INTROSPECTION_CACHE_SIZE: usize = 10_000;

/// The groups an issuer may grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grants {
    /// Any group: the only external issuer, listing none.
    Any,
    /// These groups (and their manager markers).
    Only(std::collections::BTreeSet<String>),
}

/// One trusted external issuer with its cached keys.
pub struct OidcIssuer {
    config: IssuerConfig,
    grants: Grants,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<KeyCache>,
    introspected: std::sync::Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

impl std::fmt::Debug for OidcIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcIssuer").field("issuer", &self.config.issuer).finish_non_exhaustive()
    }
}

impl OidcIssuer {
    /// An issuer; nothing is fetched until a token arrives (or [`Self::warm_up`]).
    pub fn new(config: IssuerConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .expect("HTTP client");
        let grants = match &config.groups {
            Some(groups) => Grants::Only(groups.iter().cloned().collect()),
            None => Grants::Any,
        };
        Self { config, grants, http, cache: Default::default(), introspected: Default::default() }
    }

    /// The configuration.
    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// The groups this issuer may grant.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Next to other external issuers, one that lists no groups grants
    /// none: its users' group claims could otherwise name another issuer's
    /// groups (and their manager markers).
    pub(crate) fn beside_others(&mut self) {
        if self.grants == Grants::Any {
            tracing::warn!(
                issuer = %self.config.issuer,
                "several external issuers are trusted and this one lists no `groups`: it grants none"
            );
            self.grants = Grants::Only(Default::default());
        }
    }

    /// Whether this issuer may grant `group`: one it lists, the manager
    /// marker of one (`G{manager_suffix}`), or its admin group.
    fn may_grant(&self, group: &str) -> bool {
        let Grants::Only(allowed) = &self.grants else { return true };
        let c = &self.config;
        let managed = c.manager_suffix.as_deref().filter(|s| !s.is_empty()).and_then(|s| group.strip_suffix(s));
        allowed.contains(group)
            || managed.is_some_and(|g| allowed.contains(g))
            || c.admin_group.as_deref() == Some(group)
    }

    /// Fetches the discovery document and the keys now.
    pub async fn warm_up(&self) -> Result<usize> {
        Ok(self.refresh(true).await?.len())
    }

    /// The cached keys, fetched when missing or too old; with `force`,
    /// refetched unless the last fetch is more recent than the rate limit.
    async fn refresh(&self, force: bool) -> Result<Arc<Vec<Jwk>>> {
        let mut cache = self.cache.lock().await;
        let max_age = Duration::from_secs(self.config.key_max_age_secs);
        let min_gap = Duration::from_secs(self.config.key_refresh_secs);
        let stale = cache.fetched_at.is_none_or(|t| t.elapsed() >= max_age);
        let may_retry = cache.tried_at.is_none_or(|t| t.elapsed() >= min_gap);
        if !(stale || force) || !may_retry && cache.fetched_at.is_some() {
            return Ok(cache.keys.clone());
        }
        cache.tried_at = Some(Instant::now());
        match self.fetch_keys(&mut cache).await {
            Ok(()) => Ok(cache.keys.clone()),
            Err(e) if cache.fetched_at.is_some() => {
                tracing::warn!(issuer = %self.config.issuer, error = %e, "keeping the cached keys");
                Ok(cache.keys.clone())
            }
            Err(e) => Err(e),
        }
    }

    async fn fetch_keys(&self, cache: &mut KeyCache) -> Result<()> {
        let discovery = match &cache.discovery {
            Some(d) => d.clone(),
            None => discover(&self.http, &self.config.issuer).await?,
        };
        let set: JwkSet = fetch_json(&self.http, &discovery.jwks_uri).await?;
        tracing::info!(issuer = %self.config.issuer, keys = set.keys.len(), "fetched the issuer's signing keys");
        cache.keys = Arc::new(set.keys);
        cache.discovery = Some(discovery);
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }

    /// Checks a JWT whose unverified header is `alg`/`kid`, and returns
    /// the caller its verified claims describe.
    pub async fn verify_jwt(&self, token: &super::Jws<'_>) -> Result<Principal> {
        let bad = |why: String| Error::Unauthenticated(format!("invalid bearer token: {why}"));
        let alg = token.alg.as_str();
        let find = |keys: &[Jwk]| -> Vec<Jwk> {
            keys.iter()
                .filter(|k| match (&token.kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    (Some(_), None) => false,
                    (None, _) => true,
                })
                .cloned()
                .collect()
        };
        let mut candidates = find(&self.refresh(false).await?);
        if candidates.is_empty() {
            // Perhaps the issuer rotated its keys: look again (rate-limited).
            candidates = find(&self.refresh(true).await?);
        }
        if candidates.is_empty() {
            return Err(bad(format!(
                "signing key {} is not in the JWKS of {}",
                token.kid.as_deref().unwrap_or("(no kid)"),
                self.config.issuer
            )));
        }
        let fitting: Vec<&Jwk> = candidates.iter().filter(|k| k.fits(alg)).collect();
        if fitting.is_empty() {
            return Err(bad(format!("algorithm {alg} does not match the issuer's key")));
        }
        if !fitting.iter().any(|k| k.verify(alg, token.signing_input.as_bytes(), &token.signature)) {
            return Err(bad(format!("signature does not match the keys of {}", self.config.issuer)));
        }
        self.principal(&token.claims, true)
    }

    /// Asks the introspection endpoint about an opaque token; `None` when
    /// this issuer cannot introspect.
    pub async fn introspect(&self, token: &str) -> Option<Result<Principal>> {
        let (Some(id), Some(secret)) = (&self.config.client_id, &self.config.client_secret) else { return None };
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((p, at)) = self.introspected.lock().expect("cache").get(&hash)
            && at.elapsed() < INTROSPECTION_CACHE
        {
            return Some(Ok(p.clone()));
        }
        let endpoint = match &self.config.introspection_endpoint {
            Some(url) => url.clone(),
            None => {
                if let Err(e) = self.refresh(false).await {
                    return Some(Err(e));
                }
                let cache = self.cache.lock().await;
                cache.discovery.as_ref().and_then(|d| d.introspection_endpoint.clone())?
            }
        };
        let answer = async {
            let response = self
                .http
                .post(&endpoint)
                .basic_auth(id, Some(secret))
                .form(&[("token", token), ("token_type_hint", "access_token")])
                .send()
                .await
                .map_err(|e| Error::internal_because(format!("cannot reach {endpoint}"), e))?;
            if !response.status().is_success() {
                return Err(Error::internal(format!("{endpoint} answered {}", response.status())));
            }
            let claims: Value =
                response.json().await.map_err(|e| Error::internal_because(format!("{endpoint} sent bad JSON"), e))?;
            if claims.get("active") != Some(&Value::Bool(true)) {
                return Err(Error::Unauthenticated(format!(
                    "invalid bearer token: {} says it is not active",
                    self.config.issuer
                )));
            }
            self.principal(&claims, false)
        }
        .await;
        if let Ok(p) = &answer {
            let mut cache = self.introspected.lock().expect("cache");
            if cache.len() >= INTROSPECTION_CACHE_SIZE {
                cache.clear();
            }
            cache.insert(hash, (p.clone(), Instant::now()));
        }
        Some(answer)
    }

    /// Checks the time, issuer and audience claims and maps the rest to
    /// a caller. Introspection answers may leave `iss` and `aud` out.
    pub(crate) fn principal(&self, claims: &Value, require_audience: bool) -> Result<Principal> {
        let bad = |why: String| Error::Unauthenticated(format!("invalid bearer token: {why}"));
        let c = &self.config;
        let now = chrono::Utc::now().timestamp();
        let issuer = claims.get("iss").and_then(Value::as_str);
        if let Some(iss) = issuer
            && !same_issuer(iss, &c.issuer)
        {
            return Err(bad(format!("issuer {iss} is not {}", c.issuer)));
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        // A JWT must name nuvola; an introspection answer may leave `aud`
        // out (the issuer vouched for the token to nuvola's own client).
        if (require_audience || claims.get("aud").is_some()) && !audiences.contains(&c.audience.as_str()) {
            return Err(bad(format!(
                "audience {} is not {} (the token is meant for another service)",
                if audiences.is_empty() { "(none)".to_string() } else { audiences.join(", ") },
                c.audience
            )));
        }
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(|| bad("the token has no exp".into()))?;
        if now > exp + c.clock_skew_secs {
            return Err(Error::Unauthenticated(format!(
                "bearer token expired at {}; get a new one",
                chrono::DateTime::from_timestamp(exp, 0).map(|t| t.to_rfc3339()).unwrap_or_default()
            )));
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
            && now + c.clock_skew_secs < nbf
        {
            return Err(bad("token is not valid yet (nbf is in the future)".into()));
        }
        let subject = claims
            .get("sub")
            .or_else(|| claims.get("client_id"))
            .and_then(Value::as_str)
            .filter(|s| super::is_subject(s))
            .ok_or_else(|| bad("the token names no subject".into()))?;
        let (groups, ignored): (Vec<String>, Vec<String>) =
            self.groups(claims.get(&c.groups_claim)).into_iter().partition(|g| self.may_grant(g));
        if !ignored.is_empty() {
            tracing::info!(
                issuer = %c.issuer, subject, ignored = ?ignored,
                "ignoring group claims this issuer may not grant (see its `groups`)"
            );
        }
        let mut principal = principal_with_roles(
            subject,
            issuer.unwrap_or(&c.issuer),
            groups,
            c.admin_group.as_deref(),
            c.manager_suffix.as_deref(),
        );
        principal.email = email(claims);
        Ok(principal)
    }

    /// The group names in the configured claim (a list or one string).
    fn groups(&self, claim: Option<&Value>) -> Vec<String> {
        let values: Vec<&str> = match claim {
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => s.split([' ', ',']).filter(|s| !s.is_empty()).collect(),
            _ => vec![],
        };
        let mut groups: Vec<String> = values
            .into_iter()
            .filter_map(|v| match &self.config.groups_prefix {
                Some(prefix) => {
                    let rest = v.strip_prefix(prefix.as_str())?;
                    Some(rest.split('#').next().unwrap_or(rest).to_string())
                }
                None => Some(v.to_string()),
            })
            .filter(|g| !g.is_empty())
            .collect();
        groups.dedup();
        groups
    }
}

/// The address in OIDC's `email` claim, unless the issuer says it is not
/// verified (`email_verified: false`; an issuer that says nothing is
/// trusted with it) or it is no address.
fn email(claims: &Value) -> Option<String> {
    vouched_email(claims.get("email").and_then(Value::as_str), claims.get("email_verified").and_then(Value::as_bool))
}

/// The address of an `email` claim, trimmed, unless `verified` is false or
/// it is no address ([`is_mail_address`]).
pub fn vouched_email(email: Option<&str>, verified: Option<bool>) -> Option<String> {
    let email = email?.trim();
    (verified != Some(false) && is_mail_address(email)).then(|| email.to_string())
}

/// Whether `email` reads as one mail address: `local@domain.tld`, at most
/// 254 characters, nothing that could smuggle another header or address
/// into a mail (spaces, control characters, `<>,;`).
pub fn is_mail_address(email: &str) -> bool {
    email.len() <= 254
        && !email.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';'))
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
}

/// A caller with its roles derived from group membership: admin when in
/// `admin_group`, manager of `G` when in `G{manager_suffix}`.
pub fn principal_with_roles(
    subject: &str,
    issuer: &str,
    groups: Vec<String>,
    admin_group: Option<&str>,
    manager_suffix: Option<&str>,
) -> Principal {
    let admin = admin_group.is_some_and(|a| groups.iter().any(|g| g == a));
    let manages = match manager_suffix {
        Some(suffix) if !suffix.is_empty() => {
            groups.iter().filter_map(|g| g.strip_suffix(suffix)).filter(|g| !g.is_empty()).map(str::to_string).collect()
        }
        _ => Vec::new(),
    };
    Principal {
        subject: subject.to_string(),
        issuer: issuer.to_string(),
        groups,
        admin,
        manages,
        email: None,
        client_ip: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issuer(claim: &str, prefix: Option<&str>) -> OidcIssuer {
        let mut c = IssuerConfig::new("https://iam.example/", "nuvola");
        c.groups_claim = claim.into();
        c.groups_prefix = prefix.map(str::to_string);
        c.admin_group = Some("admins".into());
        c.manager_suffix = Some("/managers".into());
        OidcIssuer::new(c)
    }

    fn claims(extra: Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut c = json!({"iss": "https://iam.example/", "sub": "u1", "aud": ["x", "nuvola"], "exp": now + 60});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    }

    #[test]
    fn groups_come_from_the_configured_claim() {
        let p = issuer("groups", None)
            .principal(&claims(json!({"groups": ["physics", "physics/managers", "admins"]})), true)
            .unwrap();
        assert_eq!(p.groups, ["physics", "physics/managers", "admins"]);
        assert!(p.admin);
        assert_eq!(p.manages, ["physics"]);
        let p = issuer("wlcg.groups", Some("/"))
            .principal(&claims(json!({"wlcg.groups": ["/physics", "/bio"], "groups": ["admins"]})), true)
            .unwrap();
        assert_eq!((p.groups.as_slice(), p.admin), (&["physics".to_string(), "bio".to_string()][..], false));
        let p = issuer("eduperson_entitlement", Some("urn:mace:egi.eu:group:"))
            .principal(
                &claims(json!({"eduperson_entitlement": [
                    "urn:mace:egi.eu:group:vo.physics#aai.egi.eu",
                    "urn:other:thing",
                ]})),
                true,
            )
            .unwrap();
        assert_eq!(p.groups, ["vo.physics"]);
    }

    #[test]
    fn time_issuer_and_audience_claims_are_checked() {
        let now = chrono::Utc::now().timestamp();
        let i = issuer("groups", None);
        for (extra, expect) in [
            (json!({"exp": now - 120}), "expired"),
            (json!({"nbf": now + 120}), "not valid yet"),
            (json!({"aud": "other"}), "audience other is not nuvola"),
            (json!({"iss": "https://evil.example"}), "issuer https://evil.example is not"),
            (json!({"sub": ""}), "no subject"),
            (json!({"sub": " "}), "no subject"),
            (json!({"sub": "\t"}), "no subject"),
            (json!({"sub": "alice\r\n"}), "no subject"),
            (json!({"sub": 42}), "no subject"),
            (json!({"sub": "", "client_id": "svc"}), "no subject"),
        ] {
            let err = i.principal(&claims(extra.clone()), true).unwrap_err().to_string();
            assert!(err.contains(expect), "{extra}: {err}");
        }
        // Within the skew both ways.
        assert!(i.principal(&claims(json!({"exp": now - 30, "nbf": now + 30})), true).is_ok());
    }
}
