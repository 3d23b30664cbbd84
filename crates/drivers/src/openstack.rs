//! The OpenStack driver: Keystone v3 (password or application credential,
//! catalog, region, token refresh), Nova servers with user-data, Neutron
//! security groups and floating IPs, Cinder volumes.
//!
//! Naming is the tag. Every resource an attempt creates is named
//! `nuvola-<attempt>-<node>-<index>[-<volume>]` and carries the deployment
//! and attempt ids in its metadata (servers, volumes) or description
//! (security groups, floating IPs: `nuvola-attempt:<attempt>`), so that a
//! replayed create finds what exists and a cleanup — of a failed attempt,
//! a delete, or a crash halfway — lists and removes everything, floating
//! IPs included, from the attempt id alone. No local state is needed.
//!
//! `create` makes security groups, volumes and servers; `status` moves the
//! rest along as servers become active (attaches volumes, allocates
//! floating IPs on the servers' ports) and reports `Ready` once every
//! server is `ACTIVE` with its volumes and addresses. `delete` removes
//! floating IPs, servers, then volumes and security groups once nothing
//! uses them, answering `InProgress` until the attempt holds nothing.

pub mod keystone;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use nuvola_types::{NetworkKind, ProviderSpec};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::keystone::Session;
use crate::http::{CallPolicy, Http, Replay, Reply, excerpt};
use crate::{
    AttemptState, DeleteState, Driver, DriverError, InstanceAttributes, NodeProvision, ProjectQuota, ProvisionRequest,
    Resource, ResourceKind,
};

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
    /// Catalog region; the first endpoint of any region without one.
    pub region: Option<String>,
    /// Catalog interface: `public`, `internal` or `admin`.
    pub interface: String,
    /// Neutron network (name or id) servers attach to; Nova's choice
    /// (`auto`) without one.
    pub network: Option<String>,
    /// External network (name or id) floating IPs come from.
    pub floating_network: Option<String>,
    /// Nova key pair injected into servers.
    pub key_name: Option<String>,
    /// cloud-init user-data given to every server.
    pub user_data: Option<String>,
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
            region: None,
            interface: "public".into(),
            network: None,
            floating_network: None,
            key_name: None,
            user_data: None,
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
                .map_err(|e| DriverError::Invalid(format!("provider {}: OpenStack settings: {e}", spec.name)))?,
        };
        settings
            .check()
            .map_err(|e| DriverError::Invalid(format!("provider {}: OpenStack settings: {e}", spec.name)))?;
        url::Url::parse(&spec.endpoint).map_err(|e| {
            DriverError::Invalid(format!(
                "provider {}: endpoint {:?} is not a Keystone URL: {e}",
                spec.name, spec.endpoint
            ))
        })?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        self.calls.check()?;
        let app = self.application_credential_id.is_some() && self.application_credential_secret.is_some();
        let password = self.username.is_some() && self.password.is_some();
        if !app && !password {
            return Err("give `username` and `password` (with `project`), or `application_credential_id` and \
                        `application_credential_secret`"
                .into());
        }
        if !["public", "internal", "admin"].contains(&self.interface.as_str()) {
            return Err(format!("interface must be public, internal or admin, not {:?}", self.interface));
        }
        Ok(())
    }
}

/// An OpenStack site. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OpenStackDriver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: String,
    settings: OpenStackSettings,
    session: Session,
    http: Http,
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

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { vec![c] } else { vec!['\\', c] })
        .collect()
}

/// Maps a refusal from an OpenStack API to an error.
fn refusal(service: &str, doing: &str, reply: &Reply) -> DriverError {
    let text = format!("{service} {doing}: HTTP {}: {}", reply.status.as_u16(), excerpt(&reply.body));
    let lower = reply.body.to_ascii_lowercase();
    if reply.status == StatusCode::PAYLOAD_TOO_LARGE
        || lower.contains("quota")
        || lower.contains("overquota")
        || lower.contains("limit exceeded")
    {
        DriverError::Quota(text)
    } else if reply.status.is_client_error() {
        DriverError::Invalid(text)
    } else {
        DriverError::Unavailable(text)
    }
}

impl OpenStackDriver {
    /// Opens the site whose Keystone is `spec.endpoint`. Nothing is called
    /// until the first operation.
    pub fn open(spec: &ProviderSpec, settings: OpenStackSettings) -> Result<OpenStackDriver, DriverError> {
        settings
            .check()
            .map_err(|e| DriverError::Invalid(format!("provider {}: OpenStack settings: {e}", spec.name)))?;
        let http = Http::new(settings.calls.clone())?;
        let session = Session::new(&spec.endpoint, settings.clone(), http.clone());
        Ok(OpenStackDriver { inner: Arc::new(Inner { provider: spec.name.clone(), settings, session, http }) })
    }

    /// The URL of a catalog service (authenticating if needed).
    pub async fn endpoint(&self, service: &str) -> Result<String, DriverError> {
        let token = self.inner.session.token().await?;
        self.inner.session.endpoint(&token, service)
    }

    /// The current token (for tests that revoke it).
    pub async fn token(&self) -> Result<String, DriverError> {
        Ok(self.inner.session.token().await?.value)
    }

    /// The scoped project's id.
    pub async fn project_id(&self) -> Result<Option<String>, DriverError> {
        Ok(self.inner.session.token().await?.project_id)
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
            let token = self.inner.session.token().await?;
            let url = format!("{}{path}", self.inner.session.endpoint(&token, service)?);
            let reply = self
                .inner
                .http
                .send(method.clone(), &url, replay, |r| {
                    let r = r.header("X-Auth-Token", &token.value).header("Accept", "application/json");
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
        let v = self.get("compute", "/flavors").await?;
        v["flavors"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["name"] == name || f["id"] == name)
            .and_then(|f| f["id"].as_str().map(str::to_string))
            .ok_or_else(|| DriverError::Invalid(format!("{}: no flavor {name}", self.inner.provider)))
    }

    /// Resolves an image name (or id) through Glance.
    async fn image_id(&self, name: &str) -> Result<String, DriverError> {
        let encoded = url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>();
        let v = self.get("image", &format!("/v2/images?name={encoded}")).await?;
        if let Some(id) = v["images"].as_array().and_then(|a| a.first()).and_then(|i| i["id"].as_str()) {
            return Ok(id.to_string());
        }
        let by_id = self.api("image", Method::GET, &format!("/v2/images/{encoded}"), Replay::Safe, None).await?;
        if by_id.ok() {
            return Ok(name.to_string());
        }
        Err(DriverError::Invalid(format!("{}: no image {name}", self.inner.provider)))
    }

    /// Resolves a Neutron network name (or id).
    async fn network_id(&self, name: &str) -> Result<String, DriverError> {
        let encoded = url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>();
        let v = self.get("network", &format!("/v2.0/networks?name={encoded}")).await?;
        if let Some(id) = v["networks"].as_array().and_then(|a| a.first()).and_then(|n| n["id"].as_str()) {
            return Ok(id.to_string());
        }
        let v = self.get("network", &format!("/v2.0/networks?id={encoded}")).await?;
        v["networks"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|n| n["id"].as_str().map(str::to_string))
            .ok_or_else(|| DriverError::Invalid(format!("{}: no network {name}", self.inner.provider)))
    }

    /// The attempt's servers (name prefix, confirmed by metadata).
    async fn servers(&self, attempt: &str) -> Result<Vec<Value>, DriverError> {
        let pattern = format!("^{}", regex_escape(&prefix(attempt)));
        let encoded = url::form_urlencoded::byte_serialize(pattern.as_bytes()).collect::<String>();
        let v = self.get("compute", &format!("/servers/detail?name={encoded}")).await?;
        Ok(v["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["metadata"]["nuvola_attempt"] == attempt)
            .cloned()
            .collect())
    }

    /// The attempt's volumes (by metadata).
    async fn volumes(&self, attempt: &str) -> Result<Vec<Value>, DriverError> {
        let filter = json!({"nuvola_attempt": attempt}).to_string();
        let encoded = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>();
        let v = self.get("volumev3", &format!("/volumes/detail?metadata={encoded}")).await?;
        Ok(v["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["metadata"]["nuvola_attempt"] == attempt)
            .cloned()
            .collect())
    }

    /// The attempt's security groups or floating IPs (by description).
    async fn described(&self, what: &str, attempt: &str) -> Result<Vec<Value>, DriverError> {
        let d = description(attempt);
        let encoded = url::form_urlencoded::byte_serialize(d.as_bytes()).collect::<String>();
        let v = self.get("network", &format!("/v2.0/{what}?description={encoded}")).await?;
        Ok(v[what].as_array().into_iter().flatten().filter(|x| x["description"] == d.as_str()).cloned().collect())
    }

    async fn ensure_security_group(
        &self,
        request: &ProvisionRequest,
        node: &NodeProvision,
    ) -> Result<String, DriverError> {
        let name = format!("{}{}", prefix(&request.attempt_id), node.name);
        if let Some(sg) =
            self.described("security-groups", &request.attempt_id).await?.iter().find(|g| g["name"] == name.as_str())
        {
            return Ok(sg["id"].as_str().unwrap_or_default().to_string());
        }
        let body = json!({"security_group": {"name": name, "description": description(&request.attempt_id)}});
        let sg = self.post("network", "/v2.0/security-groups", &body, "creating a security group").await?;
        let id = sg["security_group"]["id"].as_str().unwrap_or_default().to_string();
        for port in &node.ports {
            let rule = json!({"security_group_rule": {
                "security_group_id": id, "direction": "ingress", "ethertype": "IPv4",
                "protocol": port.protocol, "port_range_min": port.port, "port_range_max": port.port_end,
                "remote_ip_prefix": port.remote_cidr}});
            self.post("network", "/v2.0/security-group-rules", &rule, "adding a security group rule").await?;
        }
        Ok(id)
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
        let existing = self.servers(&request.attempt_id).await?;
        let network = match &self.inner.settings.network {
            Some(n) => Some(self.network_id(n).await?),
            None => None,
        };
        for node in &request.nodes {
            let flavor = self.flavor_id(&node.flavor.name).await?;
            let image = self.image_id(&node.image).await?;
            let secured = !node.ports.is_empty();
            if secured {
                self.ensure_security_group(request, node).await?;
            }
            for index in 0..node.count {
                let name = server_name(&request.attempt_id, &node.name, index);
                for volume in &node.volumes {
                    let vname = format!("{name}-{}", volume.name);
                    if self.volumes(&request.attempt_id).await?.iter().any(|v| v["name"] == vname.as_str()) {
                        continue;
                    }
                    let mut body = json!({"volume": {"name": vname, "size": volume.size_gb, "metadata": {
                        "nuvola_attempt": request.attempt_id, "nuvola_deployment": request.deployment_id,
                        "nuvola_server": name}}});
                    if let Some(t) = &volume.volume_type {
                        body["volume"]["volume_type"] = json!(t);
                    }
                    self.post("volumev3", "/volumes", &body, "creating a volume").await?;
                }
                if existing.iter().any(|s| s["name"] == name.as_str()) {
                    continue;
                }
                let mut server = json!({
                    "name": name, "flavorRef": flavor, "imageRef": image,
                    "metadata": {"nuvola_attempt": request.attempt_id, "nuvola_deployment": request.deployment_id,
                                 "nuvola_node": node.name, "nuvola_public": (node.network == NetworkKind::Public).to_string()},
                    "networks": match &network { Some(id) => json!([{"uuid": id}]), None => json!("auto") },
                });
                if secured {
                    server["security_groups"] =
                        json!([{"name": format!("{}{}", prefix(&request.attempt_id), node.name)}]);
                }
                if let Some(key) = &self.inner.settings.key_name {
                    server["key_name"] = json!(key);
                }
                if let Some(data) = &self.inner.settings.user_data {
                    server["user_data"] = json!(base64::engine::general_purpose::STANDARD.encode(data));
                }
                self.post("compute", "/servers", &json!({"server": server}), "creating a server").await?;
            }
        }
        Ok(())
    }

    async fn status(&self, attempt_id: &str) -> Result<AttemptState, DriverError> {
        let servers = self.servers(attempt_id).await?;
        let volumes =
            if self.endpoint("volumev3").await.is_ok() { self.volumes(attempt_id).await? } else { Vec::new() };
        if servers.is_empty() && volumes.is_empty() {
            return Ok(AttemptState::Absent);
        }
        for v in &volumes {
            if v["status"].as_str().is_some_and(|s| s.starts_with("error")) {
                return Ok(AttemptState::Failed { reason: format!("volume {} is {}", v["name"], v["status"]) });
            }
        }
        let mut nodes: BTreeMap<String, Vec<InstanceAttributes>> = BTreeMap::new();
        let mut waiting = Vec::new();
        for s in &servers {
            let name = s["name"].as_str().unwrap_or_default();
            match s["status"].as_str().unwrap_or_default() {
                "ERROR" => {
                    let fault = s["fault"]["message"].as_str().unwrap_or("no fault message");
                    return Ok(AttemptState::Failed { reason: format!("server {name} is ERROR: {fault}") });
                }
                "ACTIVE" => {}
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
            nodes.entry(node).or_default().push(InstanceAttributes {
                id: id.into(),
                private_address: private,
                public_address: public,
            });
        }
        if waiting.is_empty() {
            Ok(AttemptState::Ready { nodes })
        } else {
            Ok(AttemptState::Building { detail: waiting.join(", ") })
        }
    }

    async fn update(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        // Scaling up creates the missing servers; scaling down removes the
        // highest-numbered ones.
        self.create(request).await?;
        for s in self.servers(&request.attempt_id).await? {
            let name = s["name"].as_str().unwrap_or_default();
            let keep = request
                .nodes
                .iter()
                .any(|n| (0..n.count).any(|i| server_name(&request.attempt_id, &n.name, i) == name));
            if !keep {
                self.remove("compute", &format!("/servers/{}", s["id"].as_str().unwrap_or_default())).await?;
            }
        }
        Ok(())
    }

    async fn delete(&self, attempt_id: &str) -> Result<DeleteState, DriverError> {
        let mut left = 0usize;
        if self.endpoint("network").await.is_ok() {
            for fip in self.described("floatingips", attempt_id).await? {
                if !self
                    .remove("network", &format!("/v2.0/floatingips/{}", fip["id"].as_str().unwrap_or_default()))
                    .await?
                {
                    left += 1;
                }
            }
        }
        for s in self.servers(attempt_id).await? {
            self.remove("compute", &format!("/servers/{}", s["id"].as_str().unwrap_or_default())).await?;
            left += 1;
        }
        if self.endpoint("volumev3").await.is_ok() {
            for v in self.volumes(attempt_id).await? {
                if v["status"] == "deleting"
                    || !self.remove("volumev3", &format!("/volumes/{}", v["id"].as_str().unwrap_or_default())).await?
                {
                    left += 1;
                }
            }
        }
        if left == 0 && self.endpoint("network").await.is_ok() {
            for sg in self.described("security-groups", attempt_id).await? {
                if !self
                    .remove("network", &format!("/v2.0/security-groups/{}", sg["id"].as_str().unwrap_or_default()))
                    .await?
                {
                    left += 1;
                }
            }
        }
        Ok(if left == 0 { DeleteState::Gone } else { DeleteState::InProgress })
    }

    async fn resources(&self, attempt_id: &str) -> Result<Vec<Resource>, DriverError> {
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
        let v = self.get("compute", "/servers/detail?name=%5Enuvola-").await?;
        let mut attempts: Vec<String> = v["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["metadata"]["nuvola_attempt"].as_str().map(str::to_string))
            .collect();
        attempts.sort();
        attempts.dedup();
        let mut out = Vec::new();
        for a in attempts {
            out.extend(self.resources(&a).await?);
        }
        Ok(out)
    }

    async fn project_quota(&self, _project: &str) -> Result<Option<ProjectQuota>, DriverError> {
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
        if let Ok(v) = self.get("volumev3", "/limits").await {
            let a = &v["limits"]["absolute"];
            q.limits.volumes = a["maxTotalVolumes"].as_i64().and_then(|n| u64::try_from(n).ok());
            q.limits.volume_gb = a["maxTotalVolumeGigabytes"].as_i64().and_then(|n| u64::try_from(n).ok());
            q.used.volumes = a["totalVolumesUsed"].as_u64().unwrap_or(0);
            q.used.volume_gb = a["totalGigabytesUsed"].as_u64().unwrap_or(0);
        }
        Ok(Some(q))
    }
}

impl OpenStackDriver {
    /// Gives server `server` a floating IP on its first port (once).
    async fn ensure_floating_ip(&self, attempt: &str, server: &str) -> Result<Option<String>, DriverError> {
        let Some(external) = &self.inner.settings.floating_network else {
            return Err(DriverError::Invalid(format!(
                "{}: the node needs a public address but the provider names no floating_network",
                self.inner.provider
            )));
        };
        let ports = self.get("network", &format!("/v2.0/ports?device_id={server}")).await?;
        let Some(port) = ports["ports"].as_array().and_then(|p| p.first()).and_then(|p| p["id"].as_str()) else {
            return Ok(None);
        };
        let held = self.get("network", &format!("/v2.0/floatingips?port_id={port}")).await?;
        if let Some(ip) = held["floatingips"].as_array().and_then(|f| f.first()) {
            return Ok(ip["floating_ip_address"].as_str().map(str::to_string));
        }
        let network = self.network_id(external).await?;
        let body = json!({"floatingip": {"floating_network_id": network, "port_id": port, "description": description(attempt)}});
        let fip = self.post("network", "/v2.0/floatingips", &body, "allocating a floating IP").await?;
        Ok(fip["floatingip"]["floating_ip_address"].as_str().map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns() {
        assert_eq!(server_name("a1", "vm", 0), "nuvola-a1-vm-0");
        assert_eq!(regex_escape("nuvola-a.b-"), "nuvola-a\\.b-");
    }

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
    }
}
