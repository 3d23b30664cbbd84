//! The OpenStack driver: Keystone v3 (password, application credential or
//! OIDC federation, catalog, region, token refresh), Nova servers with
//! cloud-init user-data generated from the template and a key pair, Neutron
//! networks, subnets, routers, security groups and floating IPs, Cinder
//! volumes.
//!
//! A group may have a project of its own on the site: its deployments go
//! there, with a token scoped to it. Operations on an attempt find its
//! project from memory or, in a fresh process, by asking each project.
//!
//! Naming is the tag. Every resource an attempt creates is named
//! `nuvola-<attempt>-<node>-<index>[-<volume>]` (or `nuvola-<attempt>-net`,
//! `-subnet`, `-router`, key pair `nuvola-<attempt>`) and carries the
//! deployment and attempt ids: in its metadata and tags (servers), its
//! metadata (volumes) or its description (Neutron objects:
//! `nuvola-attempt:<attempt>`). A replayed create finds what exists, and a
//! cleanup — of a failed attempt, a delete, or a crash halfway — lists and
//! removes everything, floating IPs included, from the attempt id alone.
//! No local state is needed, so a fresh process cleans up after a killed
//! one.
//!
//! `create` makes the key pair, the deployment's own network when a node
//! asks for an isolated one, security groups, volumes and servers; `status`
//! moves the rest along as servers become active (attaches volumes,
//! allocates floating IPs on the servers' ports) and reports `Ready` once
//! every server is `ACTIVE` with its volumes and addresses. `delete`
//! removes floating IPs, servers, volumes, then routers, networks, security
//! groups and the key pair once nothing uses them, answering `InProgress`
//! until the attempt holds nothing. `update` adds and removes servers,
//! resizes servers whose flavor changed (Nova's resize; `status` confirms
//! it once the server is `VERIFY_RESIZE`) and grows volumes in use
//! (Cinder's `os-extend`, microversion 3.42).

pub mod keystone;
mod network;
mod paging;
mod settings;

pub use settings::{OidcFederation, OpenStackSettings};

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use nuvola_types::{NetworkKind, ProviderSpec};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use self::keystone::Session;
use crate::cloud_init::{self, NodeIdentity};
use crate::http::{Http, Replay, Reply, excerpt, said_by};
use crate::update::{Footprint, ServerFootprint, UpdateSupport};
use crate::{
    AttemptState, ConsoleLog, Credential, DeleteState, Driver, DriverError, InstanceAttributes, ProjectQuota,
    ProvisionRequest, Resource, ResourceKind,
};

/// The Nova API microversion the driver speaks (server tags at creation,
/// `networks: "auto"`).
pub const COMPUTE_MICROVERSION: &str = "2.52";

/// The Cinder API microversion of volume actions (growing a volume that
/// is in use).
pub const VOLUME_ACTION_MICROVERSION: &str = "3.42";

/// An OpenStack site. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OpenStackDriver {
    inner: Arc<Inner>,
    scope: Scope,
}

/// The project a driver's calls go to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Scope {
    /// The provider as a whole: each operation goes to the project it
    /// concerns — a request's group project, or wherever the attempt is.
    Provider,
    /// The project the settings sign in to.
    Default,
    /// A group's own project, by name.
    Project(String),
}

#[derive(Debug)]
struct Inner {
    provider: String,
    settings: OpenStackSettings,
    session: Session,
    http: Http,
    /// The groups' projects other than the settings' own.
    projects: Vec<String>,
    /// Every project a group names.
    named: Vec<String>,
    /// Where attempts were created or found.
    located: std::sync::Mutex<BTreeMap<String, Scope>>,
}

/// The name prefix of everything an attempt holds.
pub fn prefix(attempt_id: &str) -> String {
    format!("nuvola-{attempt_id}-")
}

/// The description of an attempt's security groups and floating IPs.
pub fn description(attempt_id: &str) -> String {
    format!("nuvola-attempt:{attempt_id}")
}

fn server_name(attempt: &str, node: &str, index: u32) -> String {
    format!("{}{node}-{index}", prefix(attempt))
}

/// The metadata key marking a volume whose server a scale-down removed.
const RELEASED: &str = "nuvola_released";

/// Nova's longest tag.
const MAX_TAG: usize = 60;

/// A server's tags: attempt and deployment, each left out when too long
/// for a Nova tag (the metadata, which has room, still carries both).
fn server_tags(attempt: &str, deployment: &str) -> Vec<String> {
    [format!("nuvola-attempt:{attempt}"), format!("nuvola-deployment:{deployment}")]
        .into_iter()
        .filter(|t| t.len() <= MAX_TAG)
        .collect()
}

/// The name of the attempt's own key pair.
pub fn keypair_name(attempt_id: &str) -> String {
    format!("nuvola-{attempt_id}")
}

/// The attempt id a Neutron description names, if it is one of nuvola's.
fn described_attempt(description: &Value) -> Option<String> {
    description.as_str()?.strip_prefix("nuvola-attempt:").map(str::to_string)
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { vec![c] } else { vec!['\\', c] })
        .collect()
}

/// Maps a refusal from an OpenStack API to an error.
fn refusal(service: &str, doing: &str, reply: &Reply) -> DriverError {
    let text = match said_by(&reply.body) {
        Some(said) => format!("{service} {doing}: HTTP {}: {said}", reply.status.as_u16()),
        None => format!("{service} {doing}: HTTP {}", reply.status.as_u16()),
    };
    let lower = reply.body.to_ascii_lowercase();
    if reply.status == StatusCode::PAYLOAD_TOO_LARGE
        || lower.contains("quota")
        || lower.contains("overquota")
        || lower.contains("limit exceeded")
    {
        DriverError::quota(text).because(excerpt(&reply.body))
    } else if reply.status.is_client_error() {
        DriverError::invalid(text).because(excerpt(&reply.body))
    } else {
        DriverError::unavailable(text).because(excerpt(&reply.body))
    }
}

impl OpenStackDriver {
    /// Opens the site whose Keystone is `spec.endpoint`. Nothing is called
    /// until the first operation.
    pub fn open(spec: &ProviderSpec, settings: OpenStackSettings) -> Result<OpenStackDriver, DriverError> {
        settings
            .check()
            .map_err(|e| DriverError::invalid(format!("provider {}: OpenStack settings: {e}", spec.name)))?;
        let mut named: Vec<String> = spec.groups.values().filter_map(|g| g.project.clone()).collect();
        named.sort();
        named.dedup();
        // An application credential is bound to its own project: the groups
        // must name that one (checked at their first deployment).
        let bound = settings.application_credential_id.is_some();
        let projects = if bound {
            Vec::new()
        } else {
            named.iter().filter(|p| settings.project.as_ref() != Some(p)).cloned().collect()
        };
        let http = Http::new(settings.calls.clone())?;
        let session = Session::new(&spec.endpoint, settings.clone(), http.clone());
        let located = std::sync::Mutex::new(BTreeMap::new());
        let inner = Inner { provider: spec.name.clone(), settings, session, http, projects, named, located };
        Ok(OpenStackDriver { inner: Arc::new(inner), scope: Scope::Provider })
    }

    /// The same site, calling into `project` (a group's project name): its
    /// own scope when a group names it, else the settings' project.
    pub fn in_project(&self, project: &str) -> OpenStackDriver {
        let scope = if self.inner.projects.iter().any(|p| p == project) {
            Scope::Project(project.to_string())
        } else {
            Scope::Default
        };
        self.with_scope(scope)
    }

    /// The same site, calling into `scope`.
    fn with_scope(&self, scope: Scope) -> OpenStackDriver {
        OpenStackDriver { inner: self.inner.clone(), scope }
    }

    /// The project this view's calls go to, when not the settings' own.
    fn project_name(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project(p) => Some(p),
            Scope::Provider | Scope::Default => None,
        }
    }

    /// Whether operations must first find their project: groups have
    /// projects of their own and this is the provider as a whole.
    fn routes(&self) -> bool {
        self.scope == Scope::Provider && !self.inner.projects.is_empty()
    }

    /// The view in which to run `request`, remembered for its attempt.
    fn for_request(&self, request: &ProvisionRequest) -> Option<OpenStackDriver> {
        if !self.routes() {
            return None;
        }
        let d = self.in_project(&request.project);
        self.inner.located.lock().expect("located lock").insert(request.attempt_id.clone(), d.scope.clone());
        Some(d)
    }

    /// The view of the project holding `attempt`: remembered, or found by
    /// asking each project (a fresh process after a crash), the groups'
    /// own first; the settings' project when none holds anything.
    async fn for_attempt(&self, attempt: &str) -> Result<Option<OpenStackDriver>, DriverError> {
        if !self.routes() {
            return Ok(None);
        }
        if let Some(scope) = self.inner.located.lock().expect("located lock").get(attempt) {
            return Ok(Some(self.with_scope(scope.clone())));
        }
        let scopes = self.inner.projects.iter().map(|p| Scope::Project(p.clone())).chain([Scope::Default]);
        for scope in scopes {
            let d = self.with_scope(scope);
            if !d.resources(attempt).await?.is_empty() {
                self.inner.located.lock().expect("located lock").insert(attempt.to_string(), d.scope.clone());
                return Ok(Some(d));
            }
        }
        Ok(Some(self.with_scope(Scope::Default)))
    }

    /// With an application credential, a group's project must be the
    /// credential's own.
    async fn check_bound_project(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        if self.inner.settings.application_credential_id.is_none() || !self.inner.named.contains(&request.project) {
            return Ok(());
        }
        let token = self.inner.session.token(None).await?;
        match token.project_name {
            Some(own) if own != request.project => Err(DriverError::invalid(format!(
                "{}: the group's project is {:?}, but the application credential is bound to project {own:?}; sign \
                 in with a user or an OIDC federation to serve several projects",
                self.inner.provider, request.project
            ))),
            _ => Ok(()),
        }
    }

    /// The URL of a catalog service (authenticating if needed).
    pub async fn endpoint(&self, service: &str) -> Result<String, DriverError> {
        let token = self.inner.session.token(self.project_name()).await?;
        self.inner.session.endpoint(&token, service)
    }

    /// The current token (for tests that revoke it).
    pub async fn token(&self) -> Result<String, DriverError> {
        Ok(self.inner.session.token(self.project_name()).await?.value)
    }

    /// The scoped project's id.
    pub async fn project_id(&self) -> Result<Option<String>, DriverError> {
        Ok(self.inner.session.token(self.project_name()).await?.project_id)
    }

    /// One call to a catalog service; a 401 refreshes the token once.
    pub async fn api(
        &self,
        service: &str,
        method: Method,
        path: &str,
        replay: Replay,
        body: Option<&Value>,
    ) -> Result<Reply, DriverError> {
        for attempt in 0..2 {
            let token = self.inner.session.token(self.project_name()).await?;
            let url = format!("{}{path}", self.inner.session.endpoint(&token, service)?);
            let reply = self
                .inner
                .http
                .send(method.clone(), &url, replay, |r| {
                    let mut r = r.header("X-Auth-Token", &token.value).header("Accept", "application/json");
                    if service == "compute" {
                        r = r.header("OpenStack-API-Version", format!("compute {COMPUTE_MICROVERSION}"));
                    }
                    if service == "volumev3" && path.ends_with("/action") {
                        r = r.header("OpenStack-API-Version", format!("volume {VOLUME_ACTION_MICROVERSION}"));
                    }
                    match body {
                        Some(b) => r.json(b),
                        None => r,
                    }
                })
                .await?;
            if reply.status == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.inner.session.invalidate(&token.value).await;
                continue;
            }
            return Ok(reply);
        }
        unreachable!("the loop returns")
    }

    async fn get(&self, service: &str, path: &str) -> Result<Value, DriverError> {
        let reply = self.api(service, Method::GET, path, Replay::Safe, None).await?;
        if !reply.ok() {
            return Err(refusal(service, &format!("GET {}", path.split('?').next().unwrap_or(path)), &reply));
        }
        reply.json(service)
    }

    /// Every item of a listing whose items are under `key`, page after
    /// page (see [`paging`]). A later page refused with 400 or 404 names
    /// a marker deleted since the page before (Nova and Glance answer 400,
    /// Cinder and Neutron 404): the listing starts over, a few times.
    async fn list(&self, service: &str, path: &str, key: &str) -> Result<Vec<Value>, DriverError> {
        let stopped = |listing: &str, e: String, cause: String| {
            DriverError::unavailable(format!("{}: {service} GET {listing}: {e}", self.inner.provider)).because(cause)
        };
        let mut restarts = 0;
        'listing: loop {
            let (mut pages, mut next) = paging::Pages::start(path, key, self.inner.settings.page_size);
            let mut items = Vec::new();
            loop {
                let reply = self.api(service, Method::GET, &next, Replay::Safe, None).await?;
                if !reply.ok() {
                    let marker_gone = pages.page() > 1 && matches!(reply.status.as_u16(), 400 | 404);
                    if marker_gone && restarts < paging::RESTARTS {
                        restarts += 1;
                        continue 'listing;
                    }
                    if marker_gone {
                        let e = format!(
                            "a page after the first was refused on every read of the listing ({}; its items are \
                             being deleted as it is read): HTTP {}",
                            restarts + 1,
                            reply.status.as_u16(),
                        );
                        return Err(stopped(pages.path(), e, excerpt(&reply.body)));
                    }
                    return Err(refusal(service, &format!("GET {}", pages.path()), &reply));
                }
                let mut page: Value = reply.json(service)?;
                if let Some(Value::Array(some)) = page.get_mut(key).map(Value::take) {
                    items.extend(some);
                }
                match pages.next(&page) {
                    Ok(Some(path)) => next = path,
                    Ok(None) => return Ok(items),
                    Err(e) => {
                        return Err(stopped(pages.path(), "the listing could not be followed to its end".into(), e));
                    }
                }
            }
        }
    }

    async fn post(&self, service: &str, path: &str, body: &Value, doing: &str) -> Result<Value, DriverError> {
        let reply = self.api(service, Method::POST, path, Replay::Unsafe, Some(body)).await?;
        if !reply.ok() {
            return Err(refusal(service, doing, &reply));
        }
        if reply.body.trim().is_empty() { Ok(Value::Null) } else { reply.json(service) }
    }

    /// DELETE that counts 404 as done. Returns false on 409 (still in use).
    async fn remove(&self, service: &str, path: &str) -> Result<bool, DriverError> {
        let reply = self.api(service, Method::DELETE, path, Replay::Safe, None).await?;
        match reply.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(true),
            StatusCode::CONFLICT | StatusCode::BAD_REQUEST => Ok(false),
            _ => Err(refusal(service, &format!("DELETE {path}"), &reply)),
        }
    }

    /// Resolves a flavor name to its id.
    async fn flavor_id(&self, name: &str) -> Result<String, DriverError> {
        let flavors = self.list("compute", "/flavors", "flavors").await?;
        flavors
            .iter()
            .find(|f| f["name"] == name || f["id"] == name)
            .and_then(|f| f["id"].as_str().map(str::to_string))
            .ok_or_else(|| DriverError::invalid(format!("{}: no flavor {name}", self.inner.provider)))
    }

    /// Resolves an image name (or id) through Glance.
    async fn image_id(&self, name: &str) -> Result<String, DriverError> {
        let encoded = url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>();
        let images = self.list("image", &format!("/v2/images?name={encoded}"), "images").await?;
        if let Some(id) = images.first().and_then(|i| i["id"].as_str()) {
            return Ok(id.to_string());
        }
        let by_id = self.api("image", Method::GET, &format!("/v2/images/{encoded}"), Replay::Safe, None).await?;
        if by_id.ok() {
            return Ok(name.to_string());
        }
        Err(DriverError::invalid(format!("{}: no image {name}", self.inner.provider)))
    }

    /// The attempt's servers (name prefix, confirmed by metadata).
    async fn servers(&self, attempt: &str) -> Result<Vec<Value>, DriverError> {
        let pattern = format!("^{}", regex_escape(&prefix(attempt)));
        let encoded = url::form_urlencoded::byte_serialize(pattern.as_bytes()).collect::<String>();
        let mut servers = self.list("compute", &format!("/servers/detail?name={encoded}"), "servers").await?;
        servers.retain(|s| s["metadata"]["nuvola_attempt"] == attempt);
        Ok(servers)
    }

    /// The attempt's volumes (by metadata).
    async fn volumes(&self, attempt: &str) -> Result<Vec<Value>, DriverError> {
        let filter = json!({"nuvola_attempt": attempt}).to_string();
        let encoded = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>();
        let mut volumes = self.list("volumev3", &format!("/volumes/detail?metadata={encoded}"), "volumes").await?;
        volumes.retain(|v| v["metadata"]["nuvola_attempt"] == attempt);
        Ok(volumes)
    }
}

/// The key of a Neutron collection in its JSON (`security-groups` is
/// listed under `security_groups`).
fn collection_key(path: &str) -> String {
    path.replace('-', "_")
}

/// A JSON string, or "" for anything else.
fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

impl OpenStackDriver {
    /// The key pair servers get: the provider's, or one of the attempt's
    /// own made from the first SSH key of the template; none without keys.
    async fn ensure_keypair(&self, request: &ProvisionRequest) -> Result<Option<String>, DriverError> {
        if let Some(name) = &self.inner.settings.key_name {
            return Ok(Some(name.clone()));
        }
        let Some(key) = request.nodes.iter().find_map(|n| n.setup.all_keys().next()) else {
            return Ok(None);
        };
        let name = keypair_name(&request.attempt_id);
        let reply = self.api("compute", Method::GET, &format!("/os-keypairs/{name}"), Replay::Safe, None).await?;
        if reply.ok() {
            return Ok(Some(name));
        }
        let body = json!({"keypair": {"name": name, "public_key": key.trim()}});
        let reply = self.api("compute", Method::POST, "/os-keypairs", Replay::Unsafe, Some(&body)).await?;
        if !reply.ok() && reply.status != StatusCode::CONFLICT {
            return Err(refusal("compute", &format!("importing key pair {name}"), &reply));
        }
        Ok(Some(name))
    }
}

impl OpenStackDriver {
    /// Resizes the attempt's servers whose flavor is not their node's (a
    /// server already resizing is left to finish) and grows its volumes
    /// smaller than asked; a volume larger than asked is refused, as
    /// Cinder cannot shrink one.
    async fn resize_and_extend(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        let attempt = &request.attempt_id;
        let servers = self.servers(attempt).await?;
        let volumes = if self.endpoint("volumev3").await.is_ok() { self.volumes(attempt).await? } else { Vec::new() };
        for node in &request.nodes {
            let mut flavor = None;
            for index in 0..node.count {
                let name = server_name(attempt, &node.name, index);
                let Some(s) = servers.iter().find(|s| s["name"] == name.as_str()) else { continue };
                let current = s["flavor"]["original_name"].as_str();
                if s["status"] == "ACTIVE" && current.is_some_and(|c| c != node.flavor.name) {
                    if flavor.is_none() {
                        flavor = Some(self.flavor_id(&node.flavor.name).await?);
                    }
                    let path = format!("/servers/{}/action", str_of(&s["id"]));
                    let body = json!({"resize": {"flavorRef": flavor}});
                    self.post("compute", &path, &body, &format!("resizing {name} to {}", node.flavor.name)).await?;
                }
                for volume in &node.volumes {
                    let vname = format!("{name}-{}", volume.name);
                    let Some(v) = volumes.iter().find(|v| v["name"] == vname.as_str()) else { continue };
                    let size = v["size"].as_u64().unwrap_or_default();
                    if size > volume.size_gb {
                        return Err(DriverError::invalid(format!(
                            "{}: volume {vname} is {size} GB; a volume cannot shrink to {} GB",
                            self.inner.provider, volume.size_gb
                        )));
                    }
                    if size < volume.size_gb && v["status"] != "extending" {
                        let path = format!("/volumes/{}/action", str_of(&v["id"]));
                        let body = json!({"os-extend": {"new_size": volume.size_gb}});
                        self.post("volumev3", &path, &body, &format!("extending {vname}")).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The addresses of a server from Nova's `addresses` map.
fn addresses_of(server: &Value) -> (String, Option<String>) {
    let mut fixed = None;
    let mut floating = None;
    if let Some(nets) = server["addresses"].as_object() {
        for addrs in nets.values() {
            for a in addrs.as_array().into_iter().flatten() {
                let ip = a["addr"].as_str().unwrap_or_default().to_string();
                if a["OS-EXT-IPS:type"] == "floating" {
                    floating.get_or_insert(ip);
                } else {
                    fixed.get_or_insert(ip);
                }
            }
        }
    }
    (fixed.clone().or_else(|| floating.clone()).unwrap_or_default(), floating)
}

#[async_trait]
impl Driver for OpenStackDriver {
    async fn create(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        if let Some(d) = self.for_request(request) {
            return d.create(request).await;
        }
        self.check_bound_project(request).await?;
        let attempt = &request.attempt_id;
        let existing = self.servers(attempt).await?;
        let key_name = self.ensure_keypair(request).await?;
        let shared = match &self.inner.settings.network {
            Some(n) => Some(self.network_id(n).await?),
            None => None,
        };
        let isolated = if request.nodes.iter().any(|n| n.network == NetworkKind::Isolated) {
            Some(self.ensure_isolated_network(attempt).await?)
        } else {
            None
        };
        // What a replay finds made, listed once for the whole create.
        let volumes = if request.nodes.iter().any(|n| n.count > 0 && !n.volumes.is_empty()) {
            self.volumes(attempt).await?
        } else {
            Vec::new()
        };
        for node in &request.nodes {
            let flavor = self.flavor_id(&node.flavor.name).await?;
            let image = self.image_id(&node.image).await?;
            let secured = !node.ports.is_empty();
            if secured {
                self.ensure_security_group(request, node).await?;
            }
            let network = if node.network == NetworkKind::Isolated { isolated.as_ref() } else { shared.as_ref() };
            for index in 0..node.count {
                let name = server_name(attempt, &node.name, index);
                for volume in &node.volumes {
                    let vname = format!("{name}-{}", volume.name);
                    if let Some(v) = volumes.iter().find(|v| v["name"] == vname.as_str()) {
                        // Scaled down, then up again before it went: keep it.
                        if v["metadata"].get(RELEASED).is_some() {
                            let path = format!("/volumes/{}/metadata/{RELEASED}", str_of(&v["id"]));
                            self.remove("volumev3", &path).await?;
                        }
                        continue;
                    }
                    let mut body = json!({"volume": {"name": vname, "size": volume.size_gb, "metadata": {
                        "nuvola_attempt": attempt, "nuvola_deployment": request.deployment_id,
                        "nuvola_server": name}}});
                    if let Some(t) = &volume.volume_type {
                        body["volume"]["volume_type"] = json!(t);
                    }
                    self.post("volumev3", "/volumes", &body, &format!("creating volume {vname}")).await?;
                }
                if existing.iter().any(|s| s["name"] == name.as_str()) {
                    continue;
                }
                let identity = NodeIdentity {
                    deployment_id: &request.deployment_id,
                    attempt_id: attempt,
                    node: &node.name,
                    index,
                    hostname: &format!("{}-{index}", node.name),
                };
                let data = cloud_init::user_data(&node.setup, &identity, self.inner.settings.user_data.as_deref());
                let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
                if encoded.len() > cloud_init::MAX_ENCODED {
                    return Err(DriverError::invalid(format!(
                        "{}: the user-data of node {} is {} bytes once encoded; Nova takes at most {}",
                        self.inner.provider,
                        node.name,
                        encoded.len(),
                        cloud_init::MAX_ENCODED
                    )));
                }
                let mut server = json!({
                    "name": name, "flavorRef": flavor, "imageRef": image,
                    "metadata": {"nuvola_attempt": attempt, "nuvola_deployment": request.deployment_id,
                                 "nuvola_node": node.name, "nuvola_public": node.needs_public_ip().to_string()},
                    "tags": server_tags(attempt, &request.deployment_id),
                    "networks": match network { Some(id) => json!([{"uuid": id}]), None => json!("auto") },
                    "user_data": encoded,
                });
                if secured {
                    server["security_groups"] = json!([{"name": format!("{}{}", prefix(attempt), node.name)}]);
                }
                if let Some(key) = &key_name {
                    server["key_name"] = json!(key);
                }
                // What status reports as the endpoint credential.
                if let Some(login) = &node.setup.login {
                    server["metadata"]["nuvola_login"] = json!(login);
                }
                self.post("compute", "/servers", &json!({"server": server}), &format!("creating server {name}"))
                    .await?;
            }
        }
        Ok(())
    }

    async fn status(&self, attempt_id: &str) -> Result<AttemptState, DriverError> {
        if let Some(d) = self.for_attempt(attempt_id).await? {
            return d.status(attempt_id).await;
        }
        let servers = self.servers(attempt_id).await?;
        let volumes =
            if self.endpoint("volumev3").await.is_ok() { self.volumes(attempt_id).await? } else { Vec::new() };
        if servers.is_empty() && volumes.is_empty() {
            return Ok(AttemptState::Absent);
        }
        let mut waiting = Vec::new();
        // Volumes of servers a scale-down removed go once Nova has
        // detached them.
        let (released, volumes): (Vec<Value>, Vec<Value>) =
            volumes.into_iter().partition(|v| v["metadata"].get(RELEASED).is_some());
        for v in &released {
            let server = v["metadata"]["nuvola_server"].as_str().unwrap_or_default();
            let detached = !servers.iter().any(|s| s["name"] == server)
                && matches!(v["status"].as_str().unwrap_or_default(), "available" | "error" | "error_deleting");
            if detached {
                self.remove("volumev3", &format!("/volumes/{}", str_of(&v["id"]))).await?;
            }
            // Listed until Cinder has deleted it.
            waiting.push(format!("{}: releasing ({})", v["name"], v["status"]));
        }
        for v in &volumes {
            if v["status"].as_str().is_some_and(|s| s.starts_with("error")) {
                return Ok(AttemptState::Failed { reason: format!("volume {} is {}", v["name"], v["status"]) });
            }
        }
        let mut nodes: BTreeMap<String, Vec<InstanceAttributes>> = BTreeMap::new();
        for s in &servers {
            let name = s["name"].as_str().unwrap_or_default();
            // A server a scale-down removed may be listed a while longer.
            if s["OS-EXT-STS:task_state"] == "deleting" || s["status"] == "DELETED" {
                waiting.push(format!("{name}: deleting"));
                continue;
            }
            match s["status"].as_str().unwrap_or_default() {
                "ERROR" => {
                    let fault = s["fault"]["message"].as_str().unwrap_or("no fault message");
                    return Ok(AttemptState::Failed { reason: format!("server {name} is ERROR: {fault}") });
                }
                "ACTIVE" => {}
                "VERIFY_RESIZE" => {
                    // Only an update resizes nuvola's servers: it is confirmed
                    // here, freeing the old flavor's resources.
                    let path = format!("/servers/{}/action", str_of(&s["id"]));
                    let body = json!({"confirmResize": null});
                    // A confirm Nova already took (the listing lagging) is
                    // refused with 400 or 409: harmless.
                    let reply = self.api("compute", Method::POST, &path, Replay::Safe, Some(&body)).await?;
                    if !reply.ok() && !matches!(reply.status.as_u16(), 400 | 409) {
                        return Err(refusal("compute", &format!("confirming the resize of {name}"), &reply));
                    }
                    waiting.push(format!("{name}: confirming its resize"));
                    continue;
                }
                other => {
                    waiting.push(format!("{name}: {other}"));
                    continue;
                }
            }
            let id = s["id"].as_str().unwrap_or_default();
            // Attach this server's volumes once they are available.
            for v in volumes.iter().filter(|v| v["metadata"]["nuvola_server"] == name) {
                match v["status"].as_str().unwrap_or_default() {
                    "available" => {
                        // A repeated attach (Cinder not yet showing the last one)
                        // is refused with 400/409: harmless, the next poll sees it.
                        let body = json!({"volumeAttachment": {"volumeId": v["id"]}});
                        let path = format!("/servers/{id}/os-volume_attachments");
                        let reply = self.api("compute", Method::POST, &path, Replay::Unsafe, Some(&body)).await?;
                        if !reply.ok() && !matches!(reply.status.as_u16(), 400 | 409) {
                            return Err(refusal("compute", "attaching a volume", &reply));
                        }
                        waiting.push(format!("{}: attaching", v["name"]));
                    }
                    "in-use" => {}
                    other => waiting.push(format!("{}: {other}", v["name"])),
                }
            }
            let (private, mut public) = addresses_of(s);
            if s["metadata"]["nuvola_public"] == "true" && public.is_none() {
                public = self.ensure_floating_ip(attempt_id, id).await?;
                if public.is_none() {
                    waiting.push(format!("{name}: floating IP"));
                }
            }
            let node = s["metadata"]["nuvola_node"].as_str().unwrap_or_default().to_string();
            let credential = s["metadata"]["nuvola_login"].as_str().map(Credential::account);
            nodes.entry(node).or_default().push(InstanceAttributes {
                id: id.into(),
                private_address: private,
                public_address: public,
                credential,
            });
        }
        if waiting.is_empty() {
            Ok(AttemptState::Ready { nodes })
        } else {
            Ok(AttemptState::Building { detail: waiting.join(", ") })
        }
    }

    async fn update(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        if let Some(d) = self.for_request(request) {
            return d.update(request).await;
        }
        // Scaling up creates the missing servers; scaling down removes the
        // highest-numbered ones with their floating IPs, and marks their
        // volumes released: `status` deletes them once Nova has detached
        // them (marked first, so a crash halfway loses nothing).
        let attempt = &request.attempt_id;
        self.create(request).await?;
        self.resize_and_extend(request).await?;
        let surplus: Vec<Value> = self
            .servers(attempt)
            .await?
            .into_iter()
            .filter(|s| {
                let name = s["name"].as_str().unwrap_or_default();
                !request.nodes.iter().any(|n| (0..n.count).any(|i| server_name(attempt, &n.name, i) == name))
            })
            .collect();
        if surplus.is_empty() {
            return Ok(());
        }
        let volumes = if self.endpoint("volumev3").await.is_ok() { self.volumes(attempt).await? } else { Vec::new() };
        let networking = self.endpoint("network").await.is_ok();
        for s in &surplus {
            let id = str_of(&s["id"]);
            for v in volumes.iter().filter(|v| v["metadata"]["nuvola_server"] == s["name"]) {
                let body = json!({"metadata": {RELEASED: "true"}});
                let path = format!("/volumes/{}/metadata", str_of(&v["id"]));
                self.post("volumev3", &path, &body, "marking a volume released").await?;
            }
            if networking {
                for port in self.list("network", &format!("/v2.0/ports?device_id={id}"), "ports").await? {
                    let path = format!("/v2.0/floatingips?port_id={}", str_of(&port["id"]));
                    for fip in self.list("network", &path, "floatingips").await? {
                        self.remove("network", &format!("/v2.0/floatingips/{}", str_of(&fip["id"]))).await?;
                    }
                }
            }
            self.remove("compute", &format!("/servers/{id}")).await?;
        }
        Ok(())
    }

    /// Servers are resized with Nova (`status` confirms the resize) and
    /// volumes grown with Cinder while in use; servers are added and
    /// removed as `update` says.
    fn update_support(&self) -> UpdateSupport {
        UpdateSupport { scale: true, resize: true, extend: true, reconfigure: false }
    }

    async fn footprint(&self, attempt_id: &str) -> Result<Footprint, DriverError> {
        if let Some(d) = self.for_attempt(attempt_id).await? {
            return d.footprint(attempt_id).await;
        }
        let mut servers = self.servers(attempt_id).await?;
        servers.retain(|s| s["OS-EXT-STS:task_state"] != "deleting" && s["status"] != "DELETED");
        servers.sort_by_key(|s| str_of(&s["name"]).to_string());
        let volumes =
            if self.endpoint("volumev3").await.is_ok() { self.volumes(attempt_id).await? } else { Vec::new() };
        let mut out = Footprint::new();
        for s in &servers {
            let name = str_of(&s["name"]);
            let prefix = format!("{name}-");
            let sizes = volumes
                .iter()
                .filter(|v| v["metadata"]["nuvola_server"] == name && v["metadata"].get(RELEASED).is_none())
                .filter_map(|v| Some((str_of(&v["name"]).strip_prefix(&prefix)?.to_string(), v["size"].as_u64()?)))
                .collect();
            out.entry(str_of(&s["metadata"]["nuvola_node"]).to_string()).or_default().push(ServerFootprint {
                name: name.to_string(),
                flavor: s["flavor"]["original_name"].as_str().map(str::to_string),
                volumes: Some(sizes),
            });
        }
        for servers in out.values_mut() {
            servers.sort_by_key(|s| s.name.rsplit('-').next().and_then(|i| i.parse::<u32>().ok()));
        }
        Ok(out)
    }

    async fn delete(&self, attempt_id: &str) -> Result<DeleteState, DriverError> {
        if let Some(d) = self.for_attempt(attempt_id).await? {
            let state = d.delete(attempt_id).await?;
            if state == DeleteState::Gone {
                self.inner.located.lock().expect("located lock").remove(attempt_id);
            }
            return Ok(state);
        }
        let mut left = 0usize;
        let networking = self.endpoint("network").await.is_ok();
        if networking {
            for fip in self.described("floatingips", attempt_id).await? {
                if !self.remove("network", &format!("/v2.0/floatingips/{}", str_of(&fip["id"]))).await? {
                    left += 1;
                }
            }
        }
        for s in self.servers(attempt_id).await? {
            self.remove("compute", &format!("/servers/{}", str_of(&s["id"]))).await?;
            left += 1;
        }
        if self.endpoint("volumev3").await.is_ok() {
            for v in self.volumes(attempt_id).await? {
                if v["status"] == "deleting"
                    || !self.remove("volumev3", &format!("/volumes/{}", str_of(&v["id"]))).await?
                {
                    left += 1;
                }
            }
        }
        if left == 0 && networking {
            for router in self.described("routers", attempt_id).await? {
                let id = str_of(&router["id"]);
                for port in self.list("network", &format!("/v2.0/ports?device_id={id}"), "ports").await? {
                    if port["device_owner"] == "network:router_interface" {
                        let body = json!({"port_id": port["id"]});
                        let path = format!("/v2.0/routers/{id}/remove_router_interface");
                        let reply = self.api("network", Method::PUT, &path, Replay::Safe, Some(&body)).await?;
                        if !reply.ok() && reply.status != StatusCode::NOT_FOUND {
                            return Err(refusal("network", &format!("detaching router {id} from its subnet"), &reply));
                        }
                    }
                }
                if !self.remove("network", &format!("/v2.0/routers/{id}")).await? {
                    left += 1;
                }
            }
            for net in self.described("networks", attempt_id).await? {
                if !self.remove("network", &format!("/v2.0/networks/{}", str_of(&net["id"]))).await? {
                    left += 1;
                }
            }
            for sg in self.described("security-groups", attempt_id).await? {
                if !self.remove("network", &format!("/v2.0/security-groups/{}", str_of(&sg["id"]))).await? {
                    left += 1;
                }
            }
        }
        if left == 0 {
            self.remove("compute", &format!("/os-keypairs/{}", keypair_name(attempt_id))).await?;
        }
        Ok(if left == 0 { DeleteState::Gone } else { DeleteState::InProgress })
    }

    async fn resources(&self, attempt_id: &str) -> Result<Vec<Resource>, DriverError> {
        if let Some(d) = self.for_attempt(attempt_id).await? {
            return d.resources(attempt_id).await;
        }
        let project = self.project_id().await?.unwrap_or_default();
        let mut out = Vec::new();
        let view = |id: &Value, kind, name: &Value, deployment: &Value, node: &Value, state: &Value| Resource {
            id: id.as_str().unwrap_or_default().into(),
            kind,
            name: name.as_str().unwrap_or_default().into(),
            deployment_id: deployment.as_str().unwrap_or_default().into(),
            attempt_id: attempt_id.into(),
            node: node.as_str().unwrap_or_default().into(),
            state: state.as_str().unwrap_or_default().into(),
            project: project.clone(),
        };
        for s in self.servers(attempt_id).await? {
            out.push(view(
                &s["id"],
                ResourceKind::Server,
                &s["name"],
                &s["metadata"]["nuvola_deployment"],
                &s["metadata"]["nuvola_node"],
                &s["status"],
            ));
        }
        if self.endpoint("volumev3").await.is_ok() {
            for v in self.volumes(attempt_id).await? {
                out.push(view(
                    &v["id"],
                    ResourceKind::Volume,
                    &v["name"],
                    &v["metadata"]["nuvola_deployment"],
                    &Value::Null,
                    &v["status"],
                ));
            }
        }
        if self.endpoint("network").await.is_ok() {
            for g in self.described("security-groups", attempt_id).await? {
                out.push(view(
                    &g["id"],
                    ResourceKind::SecurityGroup,
                    &g["name"],
                    &Value::Null,
                    &Value::Null,
                    &json!("ACTIVE"),
                ));
            }
            for n in self.described("networks", attempt_id).await? {
                out.push(view(&n["id"], ResourceKind::Network, &n["name"], &Value::Null, &Value::Null, &n["status"]));
            }
            for r in self.described("routers", attempt_id).await? {
                out.push(view(&r["id"], ResourceKind::Network, &r["name"], &Value::Null, &Value::Null, &r["status"]));
            }
            for s in out.iter().filter(|r| r.kind == ResourceKind::Server).cloned().collect::<Vec<_>>() {
                for p in self.list("network", &format!("/v2.0/ports?device_id={}", s.id), "ports").await? {
                    out.push(Resource {
                        id: str_of(&p["id"]).into(),
                        kind: ResourceKind::Port,
                        name: format!("{}-port", s.name),
                        node: s.node.clone(),
                        state: str_of(&p["status"]).into(),
                        ..s.clone()
                    });
                }
            }
            for f in self.described("floatingips", attempt_id).await? {
                out.push(view(
                    &f["id"],
                    ResourceKind::FloatingIp,
                    &f["floating_ip_address"],
                    &Value::Null,
                    &Value::Null,
                    &f["status"],
                ));
            }
        }
        Ok(out)
    }

    async fn inventory(&self) -> Result<Vec<Resource>, DriverError> {
        if self.routes() {
            let mut all = Vec::new();
            let scopes = [Scope::Default].into_iter().chain(self.inner.projects.iter().cloned().map(Scope::Project));
            for scope in scopes {
                let d = self.with_scope(scope);
                all.extend(d.inventory().await?);
            }
            all.sort_by(|a, b| a.id.cmp(&b.id));
            all.dedup_by(|a, b| a.id == b.id);
            return Ok(all);
        }
        // Every attempt anything of nuvola's names, whichever kind of
        // resource survived: a crash can leave a floating IP or a network
        // with no server.
        let servers = self.list("compute", "/servers/detail?name=%5Enuvola-", "servers").await?;
        let mut attempts: Vec<String> =
            servers.iter().filter_map(|s| s["metadata"]["nuvola_attempt"].as_str().map(str::to_string)).collect();
        if self.endpoint("network").await.is_ok() {
            for what in ["floatingips", "security-groups", "networks", "routers"] {
                let items = self.list("network", &format!("/v2.0/{what}"), &collection_key(what)).await?;
                attempts.extend(items.iter().filter_map(|x| described_attempt(&x["description"])));
            }
        }
        if self.endpoint("volumev3").await.is_ok() {
            let volumes = self.list("volumev3", "/volumes/detail", "volumes").await?;
            attempts
                .extend(volumes.iter().filter_map(|x| x["metadata"]["nuvola_attempt"].as_str().map(str::to_string)));
        }
        attempts.sort();
        attempts.dedup();
        let mut out = Vec::new();
        for a in attempts {
            out.extend(self.resources(&a).await?);
        }
        Ok(out)
    }

    async fn project_quota(&self, project: &str) -> Result<Option<ProjectQuota>, DriverError> {
        if self.routes() {
            return self.in_project(project).project_quota(project).await;
        }
        let v = self.get("compute", "/limits").await?;
        let a = &v["limits"]["absolute"];
        let limit = |k: &str| a[k].as_i64().and_then(|n| u64::try_from(n).ok());
        let used = |k: &str| a[k].as_u64().unwrap_or(0);
        let mut q = ProjectQuota::default();
        q.limits.instances = limit("maxTotalInstances");
        q.limits.cores = limit("maxTotalCores");
        q.limits.ram_mb = limit("maxTotalRAMSize");
        q.used.instances = used("totalInstancesUsed");
        q.used.cores = used("totalCoresUsed");
        q.used.ram_mb = used("totalRAMUsed");
        if self.endpoint("volumev3").await.is_ok() {
            let v = self.get("volumev3", "/limits").await?;
            let a = &v["limits"]["absolute"];
            q.limits.volumes = a["maxTotalVolumes"].as_i64().and_then(|n| u64::try_from(n).ok());
            q.limits.volume_gb = a["maxTotalVolumeGigabytes"].as_i64().and_then(|n| u64::try_from(n).ok());
            q.used.volumes = a["totalVolumesUsed"].as_u64().unwrap_or(0);
            q.used.volume_gb = a["totalGigabytesUsed"].as_u64().unwrap_or(0);
        }
        if self.endpoint("network").await.is_ok()
            && let Some(project) = self.project_id().await?
        {
            let v = self.get("network", &format!("/v2.0/quotas/{project}/details")).await?;
            let f = &v["quota"]["floatingip"];
            q.limits.public_ips = f["limit"].as_i64().and_then(|n| u64::try_from(n).ok());
            q.used.public_ips = f["used"].as_u64().unwrap_or(0);
        }
        Ok(Some(q))
    }

    async fn probe(&self, project: Option<&str>) -> Vec<crate::Check> {
        let scoped = match project {
            Some(project) if self.routes() => self.in_project(project),
            _ => self.clone(),
        };
        let auth = crate::Check::timed("auth", async {
            scoped.token().await?;
            Ok("token issued".to_string())
        })
        .await;
        let api = crate::Check::timed("api", async {
            let v = scoped.get("compute", "/flavors").await?;
            Ok(format!("{} flavors", v["flavors"].as_array().map_or(0, Vec::len)))
        })
        .await;
        let mut checks = vec![auth, api];
        if let Some(project) = project {
            checks.push(crate::quota_check(&scoped, project).await);
        }
        checks
    }

    async fn console_log(&self, attempt_id: &str) -> Result<Vec<ConsoleLog>, DriverError> {
        if let Some(d) = self.for_attempt(attempt_id).await? {
            return d.console_log(attempt_id).await;
        }
        let mut out = Vec::new();
        for s in self.servers(attempt_id).await? {
            let path = format!("/servers/{}/action", str_of(&s["id"]));
            let body = json!({"os-getConsoleOutput": {"length": 50}});
            let reply = self.api("compute", Method::POST, &path, Replay::Safe, Some(&body)).await?;
            // A server still building has no console yet (409): skip it.
            if reply.status == StatusCode::CONFLICT || reply.status == StatusCode::NOT_FOUND {
                continue;
            }
            if !reply.ok() {
                return Err(refusal("compute", "reading a console log", &reply));
            }
            let v: Value = reply.json("compute")?;
            out.push(ConsoleLog { server: str_of(&s["name"]).into(), text: str_of(&v["output"]).into() });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns() {
        assert_eq!(server_name("a1", "vm", 0), "nuvola-a1-vm-0");
        assert_eq!(regex_escape("nuvola-a.b-"), "nuvola-a\\.b-");
        let uuid = "3d57d204-1738-49ca-8634-d80a07b8767f";
        assert_eq!(server_tags(uuid, uuid).len(), 2);
        assert_eq!(server_tags(uuid, &"d".repeat(50)), vec![format!("nuvola-attempt:{uuid}")]);
    }
}
