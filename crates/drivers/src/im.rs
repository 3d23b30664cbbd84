//! The Infrastructure Manager driver: one attempt is one IM
//! infrastructure, created from the deployment's TOSCA over IM's REST API.
//!
//! IM is told who we are and which clouds to use in its `Authorization`
//! header: one line per credential (`id = im; type = InfrastructureManager;
//! username = ...; password = ...`, then one line per cloud, e.g.
//! `id = one; type = OpenStack; host = ...`), joined with a literal `\n`.
//! IM owns the infrastructures of that IM user; nuvola lists only those.
//!
//! Idempotence. IM does not tag infrastructures, so the driver
//! marks the TOSCA it sends (`metadata.nuvola_attempt`, see `template.rs`)
//! and remembers the infrastructure id per attempt in a journal file,
//! synced before a call returns; the intent to create is journaled before
//! the request leaves. When an attempt was sent but its id is not known —
//! a crash between IM's answer and the journal write, a create whose
//! answer was lost, or no journal at all — the driver asks IM for the user's infrastructures and reads back their
//! stored TOSCA to find the marked one, so a replayed create continues the
//! existing infrastructure and a delete removes it: nothing leaks.
//!
//! Scaling (`update`): VMs beyond a node's count are removed by id, highest
//! first, then the TOSCA is posted to the infrastructure, and IM adds what
//! its counts lack and reconfigures; an update that would change neither
//! the VMs nor IM's stored TOSCA sends nothing (see `scale.rs`).
//!
//! States: IM's `pending`/`running` are building, `configured` is ready
//! (addresses read from each VM's RADL), `failed`/`unconfigured` fail with
//! the tail of IM's contextualization messages as the reason.

mod journal;
mod scale;
pub mod template;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use nuvola_types::ProviderSpec;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::journal::Journal;
use crate::http::{CallPolicy, Http, Replay, Reply, excerpt};
use crate::update::{Footprint, ServerFootprint, UpdateSupport};
use crate::{
    AttemptState, Credential, DeleteState, Driver, DriverError, InstanceAttributes, ProjectQuota, ProvisionRequest,
    Resource, ResourceKind,
};

/// How nuvola talks to one IM; the provider's `settings` table.
///
/// ```toml
/// [providers.settings]
/// username = "nuvola"
/// password = "secret"
/// credentials = ["id = one; type = OpenNebula; host = one.example.org:2633; username = u; password = p"]
/// quota_cloud = "one"
/// [providers.settings.calls]
/// timeout_secs = 30
/// retries = 3
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImSettings {
    /// IM user name (IM keys infrastructures by user name and password).
    pub username: Option<String>,
    /// IM password.
    pub password: Option<String>,
    /// An OIDC access token for IM, instead of user name and password.
    pub token: Option<String>,
    /// Cloud credential lines in IM's auth format, one per cloud.
    pub credentials: Vec<String>,
    /// The `id` of the credential line whose quotas feed placement.
    pub quota_cloud: Option<String>,
    /// Timeouts and retries of every call.
    pub calls: CallPolicy,
    /// Lines of IM's contextualization log kept in a failure reason.
    pub contmsg_lines: Option<usize>,
}

impl ImSettings {
    /// The settings of a provider (`driver = "im"`).
    pub fn from_spec(spec: &ProviderSpec) -> Result<ImSettings, DriverError> {
        let settings = match &spec.settings {
            None => ImSettings::default(),
            Some(v) => ImSettings::deserialize(v)
                .map_err(|e| DriverError::invalid(format!("provider {}: IM settings: {e}", spec.name)))?,
        };
        settings.check().map_err(|e| DriverError::invalid(format!("provider {}: IM settings: {e}", spec.name)))?;
        url::Url::parse(&spec.endpoint).map_err(|e| {
            DriverError::invalid(format!("provider {}: endpoint {:?} is not a URL: {e}", spec.name, spec.endpoint))
        })?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        self.calls.check()?;
        if self.token.is_none() && (self.username.is_none() || self.password.is_none()) {
            return Err("give either `token` or both `username` and `password` for IM".into());
        }
        let fits = |v: &str| !v.contains(['\n', '\r', ';']) && !v.contains("\\n");
        for v in [&self.username, &self.password, &self.token].into_iter().flatten() {
            if !fits(v) {
                return Err("IM user name, password and token may not contain `;` or line breaks".into());
            }
        }
        for line in &self.credentials {
            if line.contains(['\n', '\r']) || line.contains("\\n") {
                return Err("write each credential as one line, without line breaks".into());
            }
            if !line.contains("type") {
                return Err(format!("credential line has no `type`: {}", redact(line)));
            }
        }
        Ok(())
    }

    /// The `Authorization` header IM expects.
    fn auth_header(&self) -> String {
        let im = match (&self.token, &self.username, &self.password) {
            (Some(t), _, _) => format!("id = im; type = InfrastructureManager; token = {t}"),
            (None, Some(u), Some(p)) => {
                format!("id = im; type = InfrastructureManager; username = {u}; password = {p}")
            }
            _ => "id = im; type = InfrastructureManager".into(),
        };
        std::iter::once(im).chain(self.credentials.iter().cloned()).collect::<Vec<_>>().join("\\n")
    }
}

/// A credential line with its secret values hidden, for messages.
fn redact(line: &str) -> String {
    line.split(';')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if ["password", "token", "secret", "key"].iter().any(|s| k.trim().contains(s)) => {
                format!("{} = ***", k.trim())
            }
            _ => kv.trim().to_string(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// An Infrastructure Manager endpoint. Cheap to clone.
#[derive(Clone)]
pub struct ImDriver {
    inner: Arc<Inner>,
}

struct Inner {
    provider: String,
    /// Base URL, without a trailing slash.
    base: String,
    auth: String,
    settings: ImSettings,
    http: Http,
    journal: Journal,
}

impl std::fmt::Debug for ImDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImDriver").field("provider", &self.inner.provider).field("base", &self.inner.base).finish()
    }
}

/// What IM says about one infrastructure.
#[derive(Debug, Deserialize)]
struct StateReply {
    state: InfraState,
}

#[derive(Debug, Deserialize)]
struct InfraState {
    state: String,
    #[serde(default)]
    vm_states: BTreeMap<String, String>,
}

impl ImDriver {
    /// Opens the IM at `spec.endpoint`. With `state_dir`, the attempt →
    /// infrastructure map is kept in `<state_dir>/<provider>.jsonl`.
    pub fn open(spec: &ProviderSpec, settings: ImSettings, state_dir: Option<&Path>) -> Result<ImDriver, DriverError> {
        settings.check().map_err(|e| DriverError::invalid(format!("provider {}: IM settings: {e}", spec.name)))?;
        let http = Http::new(settings.calls.clone())?;
        let journal = Journal::open(state_dir, &spec.name)
            .map_err(|e| DriverError::invalid(format!("provider {}: IM journal: {e}", spec.name)))?;
        Ok(ImDriver {
            inner: Arc::new(Inner {
                provider: spec.name.clone(),
                base: spec.endpoint.trim_end_matches('/').to_string(),
                auth: settings.auth_header(),
                settings,
                http,
                journal,
            }),
        })
    }

    /// The TOSCA text this driver sends IM for `request` (for tests and the
    /// benchmark, which create the same infrastructure directly).
    pub fn prepare(request: &ProvisionRequest) -> Result<String, DriverError> {
        let text = request.template.as_deref().ok_or_else(|| {
            DriverError::invalid("the IM driver needs the deployment's TOSCA template, and none was given")
        })?;
        template::prepare(text, &request.inputs, &request.deployment_id, &request.attempt_id)
            .map_err(DriverError::invalid)
    }

    /// Records (durably) that a create of `attempt_id` is about to be sent:
    /// from then on, until its infrastructure id is recorded, lookups ask
    /// IM. The first half of [`Driver::create`]; public so that tests can
    /// stop a create between its halves, as a crash would.
    pub async fn begin(&self, attempt_id: &str) -> Result<(), DriverError> {
        let attempt_id = attempt_id.to_owned();
        self.journal_write(move |journal| journal.intent(&attempt_id)).await
    }

    /// Runs a journal write (it waits for the disk) on the blocking pool.
    async fn journal_write(
        &self,
        write: impl FnOnce(&Journal) -> std::io::Result<()> + Send + 'static,
    ) -> Result<(), DriverError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || write(&inner.journal))
            .await
            .map_err(|e| DriverError::unavailable(format!("IM journal write did not finish: {e}")))?
            .map_err(|e| DriverError::unavailable(format!("IM journal write failed: {e}")))
    }

    /// The `Authorization` header value (for tests and the benchmark).
    pub fn auth_header(&self) -> &str {
        &self.inner.auth
    }

    /// IM's base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    async fn call(&self, method: Method, path: &str, replay: Replay, body: Option<&str>) -> Result<Reply, DriverError> {
        let url = format!("{}{path}", self.inner.base);
        self.inner
            .http
            .send(method, &url, replay, |r| {
                let r = r.header("Authorization", &self.inner.auth).header("Accept", "application/json");
                match body {
                    Some(b) => r.header("Content-Type", "text/yaml").body(b.to_string()),
                    None => r,
                }
            })
            .await
    }

    /// The ids of the IM user's infrastructures.
    async fn list(&self) -> Result<Vec<String>, DriverError> {
        let reply = self.call(Method::GET, "/infrastructures", Replay::Safe, None).await?;
        let reply = self.expect_ok(reply, "listing infrastructures")?;
        let v: Value = reply.json("IM infrastructure list")?;
        Ok(uri_tails(&v["uri-list"]))
    }

    /// The stored TOSCA of an infrastructure (`None` if it is gone).
    async fn tosca_of(&self, infra: &str) -> Result<Option<String>, DriverError> {
        let reply = self.call(Method::GET, &format!("/infrastructures/{infra}/tosca"), Replay::Safe, None).await?;
        if reply.status == StatusCode::NOT_FOUND || reply.status == StatusCode::FORBIDDEN {
            return Ok(None);
        }
        let reply = self.expect_ok(reply, "reading an infrastructure's TOSCA")?;
        let v: Value = reply.json("IM TOSCA")?;
        Ok(v["tosca"].as_str().map(str::to_string))
    }

    /// Finds the infrastructures IM holds for `attempt_id`: from the
    /// journal, else by reading the marker in each unknown infrastructure's
    /// TOSCA (and then journals what it found).
    async fn find(&self, attempt_id: &str) -> Result<Vec<String>, DriverError> {
        if let Some(infra) = self.inner.journal.infra_of(attempt_id) {
            return Ok(vec![infra]);
        }
        if self.inner.journal.is_gone(attempt_id) || !self.inner.journal.may_exist(attempt_id) {
            return Ok(Vec::new());
        }
        let known = self.inner.journal.known_infras();
        let mut found = Vec::new();
        for infra in self.list().await? {
            if known.contains(&infra) {
                continue;
            }
            let Some(tosca) = self.tosca_of(&infra).await? else { continue };
            if template::marker(&tosca, template::ATTEMPT_KEY).as_deref() == Some(attempt_id) {
                found.push(infra);
            }
        }
        if let [infra] = found.as_slice() {
            self.record(attempt_id, infra).await?;
        }
        Ok(found)
    }

    async fn record(&self, attempt_id: &str, infra: &str) -> Result<(), DriverError> {
        let (attempt_id, infra) = (attempt_id.to_owned(), infra.to_owned());
        self.journal_write(move |journal| journal.created(&attempt_id, &infra)).await
    }

    /// Maps a non-2xx answer to an error.
    fn expect_ok(&self, reply: Reply, doing: &str) -> Result<Reply, DriverError> {
        if reply.ok() {
            return Ok(reply);
        }
        Err(self.error_of(&reply, doing))
    }

    fn error_of(&self, reply: &Reply, doing: &str) -> DriverError {
        let message = serde_json::from_str::<Value>(&reply.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| reply.body.clone());
        // IM appends Python tracebacks to parse errors: keep the message.
        let message = message.split("\n\t\tFile ").next().unwrap_or(&message).trim().to_string();
        let text = format!("IM {} {doing}: HTTP {}: {}", self.inner.provider, reply.status.as_u16(), excerpt(&message));
        match reply.status.as_u16() {
            401 => DriverError::invalid(format!("{text} (check the IM user name, password or token)")),
            _ if message.to_ascii_lowercase().contains("quota") => DriverError::quota(text),
            400..=499 => DriverError::invalid(text),
            // What IM says about its own failure is for its operator.
            status => DriverError::unavailable(format!("IM {} {doing}: HTTP {status}", self.inner.provider))
                .because(excerpt(&message)),
        }
    }

    async fn state_of(&self, infra: &str) -> Result<Option<InfraState>, DriverError> {
        let reply = self.call(Method::GET, &format!("/infrastructures/{infra}/state"), Replay::Safe, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let reply = self.expect_ok(reply, "reading an infrastructure's state")?;
        Ok(Some(reply.json::<StateReply>("IM state")?.state))
    }

    /// The last lines of IM's contextualization log worth showing.
    async fn contmsg(&self, infra: &str) -> String {
        let Ok(reply) = self.call(Method::GET, &format!("/infrastructures/{infra}/contmsg"), Replay::Safe, None).await
        else {
            return String::new();
        };
        let text = serde_json::from_str::<Value>(&reply.body)
            .ok()
            .and_then(|v| v["contmsg"].as_str().map(str::to_string))
            .unwrap_or(reply.body);
        let keep = self.inner.settings.contmsg_lines.unwrap_or(12);
        let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
        let errors: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("error") || l.contains("fatal") || l.contains("failed")
            })
            .collect();
        let chosen = if errors.is_empty() { &lines } else { &errors };
        chosen[chosen.len().saturating_sub(keep)..].join("\n")
    }

    /// Every VM of an infrastructure: (VM id, its RADL as JSON).
    async fn vms(&self, infra: &str) -> Result<Vec<(String, Vec<Value>)>, DriverError> {
        let reply = self.call(Method::GET, &format!("/infrastructures/{infra}"), Replay::Safe, None).await?;
        let reply = self.expect_ok(reply, "listing an infrastructure's VMs")?;
        let v: Value = reply.json("IM VM list")?;
        let ids = uri_tails(&v["uri-list"]);
        let calls = ids.iter().map(|vm| async move {
            let reply =
                self.call(Method::GET, &format!("/infrastructures/{infra}/vms/{vm}"), Replay::Safe, None).await?;
            let reply = self.expect_ok(reply, "reading a VM")?;
            let v: Value = reply.json("IM VM")?;
            Ok::<_, DriverError>((vm.clone(), v["radl"].as_array().cloned().unwrap_or_default()))
        });
        futures::future::try_join_all(calls).await
    }

    async fn ready_nodes(&self, infra: &str) -> Result<BTreeMap<String, Vec<InstanceAttributes>>, DriverError> {
        let mut nodes: BTreeMap<String, Vec<InstanceAttributes>> = BTreeMap::new();
        for (vm, radl) in self.vms(infra).await? {
            let Some((node, attrs)) = instance_of(infra, &vm, &radl) else { continue };
            nodes.entry(node).or_default().push(attrs);
        }
        Ok(nodes)
    }

    async fn delete_infra(&self, infra: &str) -> Result<bool, DriverError> {
        match self.state_of(infra).await? {
            None => return Ok(true),
            Some(s) if s.state == "deleting" => return Ok(false),
            Some(_) => {}
        }
        let reply = self.call(Method::DELETE, &format!("/infrastructures/{infra}?async=1"), Replay::Safe, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(true);
        }
        self.expect_ok(reply, "deleting an infrastructure")?;
        Ok(self.state_of(infra).await?.is_none())
    }

    /// Removes VMs `ids` from an infrastructure without reconfiguring it
    /// (the TOSCA posted next does), and checks that IM let them go.
    async fn remove_vms(&self, infra: &str, ids: &[String]) -> Result<(), DriverError> {
        let path = format!("/infrastructures/{infra}/vms/{}?context=0", ids.join(","));
        let reply = self.call(Method::DELETE, &path, Replay::Safe, None).await?;
        // A replayed call finds them gone already: IM answers 404.
        if !reply.ok() && reply.status != StatusCode::NOT_FOUND {
            return Err(self.error_of(&reply, "removing VMs"));
        }
        let reply = self.call(Method::GET, &format!("/infrastructures/{infra}"), Replay::Safe, None).await?;
        let reply = self.expect_ok(reply, "listing an infrastructure's VMs")?;
        let left: Vec<String> = uri_tails(&reply.json::<Value>("IM VM list")?["uri-list"])
            .into_iter()
            .filter(|vm| ids.contains(vm))
            .collect();
        if !left.is_empty() {
            return Err(DriverError::unavailable(format!(
                "IM {} still holds VMs {} of infrastructure {infra} after removing them",
                self.inner.provider,
                left.join(", ")
            )));
        }
        Ok(())
    }
}

/// The last path segment of every `{"uri": ...}` in a list.
fn uri_tails(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["uri"].as_str())
                .filter_map(|u| u.trim_end_matches('/').rsplit('/').next().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The node name and addresses of a VM from its RADL (JSON form): the
/// system's `id` is the TOSCA node name; an interface connected to a
/// network with `outbound = yes` carries the public address.
fn instance_of(infra: &str, vm: &str, radl: &[Value]) -> Option<(String, InstanceAttributes)> {
    let system = radl.iter().find(|c| c["class"] == "system")?;
    let node = system["id"].as_str()?.to_string();
    let public_nets: Vec<&str> = radl
        .iter()
        .filter(|c| c["class"] == "network" && c["outbound"] == "yes")
        .filter_map(|c| c["id"].as_str())
        .collect();
    let mut private = None;
    let mut public = None;
    for i in 0..32 {
        let Some(ip) = system[format!("net_interface.{i}.ip")].as_str() else { continue };
        let net = system[format!("net_interface.{i}.connection")].as_str().unwrap_or("");
        if public_nets.contains(&net) {
            public.get_or_insert_with(|| ip.to_string());
        } else {
            private.get_or_insert_with(|| ip.to_string());
        }
    }
    let private_address = private.or_else(|| public.clone()).unwrap_or_default();
    let id = system["instance_id"].as_str().map(str::to_string).unwrap_or_else(|| format!("{infra}/vms/{vm}"));
    let credential = credential_of(system);
    Some((node, InstanceAttributes { id, private_address, public_address: public, credential }))
}

/// The credential IM set the VM up with, as IM itself gives a Compute's
/// `endpoint.credential`: the user, with the private key IM made (or else
/// the password) as `token`.
fn credential_of(system: &Value) -> Option<Credential> {
    let text = |key: &str| system[format!("disk.0.os.credentials.{key}")].as_str().filter(|s| !s.is_empty());
    let user = text("username")?.to_string();
    let (token_type, token) = match (text("private_key"), text("password")) {
        (Some(key), _) => (Some("private_key"), Some(key)),
        (None, Some(password)) => (Some("password"), Some(password)),
        (None, None) => (None, None),
    };
    Some(Credential { user, token_type: token_type.map(str::to_string), token: token.map(str::to_string) })
}

#[async_trait]
impl Driver for ImDriver {
    async fn create(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        let body = Self::prepare(request)?;
        if !self.find(&request.attempt_id).await?.is_empty() {
            return Ok(());
        }
        self.begin(&request.attempt_id).await?;
        let reply = self.call(Method::POST, "/infrastructures?async=1", Replay::Unsafe, Some(&body)).await?;
        let reply = self.expect_ok(reply, "creating the infrastructure")?;
        let infra = reply
            .header("InfID")
            .map(str::to_string)
            .or_else(|| serde_json::from_str::<Value>(&reply.body).ok().and_then(|v| v["uri"].as_str().map(tail)))
            .ok_or_else(|| {
                DriverError::unavailable("IM answered a create without an id").because(excerpt(&reply.body))
            })?;
        self.record(&request.attempt_id, &infra).await
    }

    async fn status(&self, attempt_id: &str) -> Result<AttemptState, DriverError> {
        let infras = self.find(attempt_id).await?;
        let infra = match infras.as_slice() {
            [] => return Ok(AttemptState::Absent),
            [one] => one,
            many => {
                return Ok(AttemptState::Failed {
                    reason: format!("IM holds {} infrastructures for attempt {attempt_id}", many.len()),
                });
            }
        };
        let Some(state) = self.state_of(infra).await? else {
            return Ok(AttemptState::Absent);
        };
        Ok(match state.state.as_str() {
            "configured" => AttemptState::Ready { nodes: self.ready_nodes(infra).await? },
            "failed" | "unconfigured" => {
                let log = self.contmsg(infra).await;
                let mut reason = format!("IM infrastructure {infra} is {}", state.state);
                if !log.is_empty() {
                    reason.push_str(": ");
                    reason.push_str(&log);
                }
                if log.contains("without any deploy") {
                    reason.push_str(
                        "\n(IM found nothing to deploy: it creates a VM for each node of a type derived from \
                         tosca.nodes.Compute, and software nodes on them; this template has none)",
                    );
                }
                AttemptState::Failed { reason }
            }
            "stopped" | "off" | "deleting" => {
                AttemptState::Failed { reason: format!("IM infrastructure {infra} is {}", state.state) }
            }
            other => {
                let vms = state.vm_states.values().map(String::as_str).collect::<Vec<_>>().join(", ");
                AttemptState::Building { detail: format!("IM: {other} (VMs: {vms})") }
            }
        })
    }

    async fn update(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        let body = Self::prepare(request)?;
        let infras = self.find(&request.attempt_id).await?;
        let [infra] = infras.as_slice() else {
            return Err(DriverError::invalid(format!(
                "attempt {} has no single infrastructure on {}",
                request.attempt_id, self.inner.provider
            )));
        };
        let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (vm, radl) in self.vms(infra).await? {
            if let Some(node) = radl.iter().find(|c| c["class"] == "system").and_then(|s| s["id"].as_str()) {
                held.entry(node.to_string()).or_default().push(vm);
            }
        }
        let scaling = scale::plan(&request.nodes, &held);
        if !scaling.remove.is_empty() {
            self.remove_vms(infra, &scaling.remove).await?;
        } else if scaling.add == 0 {
            let stored = self.tosca_of(infra).await?.unwrap_or_default();
            if !template::changes_stored(&stored, &body).map_err(DriverError::unavailable)? {
                return Ok(());
            }
        }
        // IM adds what the text's counts lack, stores the text and
        // reconfigures the infrastructure.
        let reply = self
            .call(Method::POST, &format!("/infrastructures/{infra}?context=1"), Replay::Unsafe, Some(&body))
            .await?;
        let reply = self.expect_ok(reply, "updating the infrastructure")?;
        let added = serde_json::from_str::<Value>(&reply.body).map(|v| uri_tails(&v["uri-list"]).len()).unwrap_or(0);
        // A request without nodes leaves the counts to the template alone.
        if !request.nodes.is_empty() && added != scaling.add as usize {
            return Err(DriverError::invalid(format!(
                "IM {} added {added} VMs to infrastructure {infra} where {} were needed: IM counts a node's \
                 instances from the `count` of its `scalable` capability, so the template must set the count there",
                self.inner.provider, scaling.add
            )));
        }
        Ok(())
    }

    /// IM scales an infrastructure and reconfigures its software with new
    /// inputs, as the INDIGO orchestrator has it do; it does not resize
    /// running VMs or their volumes.
    fn update_support(&self) -> UpdateSupport {
        UpdateSupport { scale: true, resize: false, extend: false, reconfigure: true }
    }

    /// The VMs of each node; IM's RADL names no flavor nuvola chose, so
    /// only counts are told.
    async fn footprint(&self, attempt_id: &str) -> Result<Footprint, DriverError> {
        let mut out = Footprint::new();
        for infra in self.find(attempt_id).await? {
            let mut vms = self.vms(&infra).await?;
            vms.sort_by_key(|(vm, _)| (vm.parse::<u64>().unwrap_or(u64::MAX), vm.clone()));
            for (vm, radl) in vms {
                if let Some(node) = radl.iter().find(|c| c["class"] == "system").and_then(|s| s["id"].as_str()) {
                    let server = ServerFootprint { name: format!("{infra}/{vm}"), flavor: None, volumes: None };
                    out.entry(node.to_string()).or_default().push(server);
                }
            }
        }
        Ok(out)
    }

    async fn delete(&self, attempt_id: &str) -> Result<DeleteState, DriverError> {
        let mut all_gone = true;
        for infra in self.find(attempt_id).await? {
            all_gone &= self.delete_infra(&infra).await?;
        }
        if all_gone {
            let attempt_id = attempt_id.to_owned();
            self.journal_write(move |journal| journal.gone(&attempt_id)).await?;
            return Ok(DeleteState::Gone);
        }
        Ok(DeleteState::InProgress)
    }

    async fn resources(&self, attempt_id: &str) -> Result<Vec<Resource>, DriverError> {
        let mut out = Vec::new();
        for infra in self.find(attempt_id).await? {
            let Some(tosca) = self.tosca_of(&infra).await? else { continue };
            let deployment = template::marker(&tosca, template::DEPLOYMENT_KEY).unwrap_or_default();
            out.extend(self.infra_resources(&infra, &deployment, attempt_id).await?);
        }
        Ok(out)
    }

    async fn inventory(&self) -> Result<Vec<Resource>, DriverError> {
        let mut out = Vec::new();
        for infra in self.list().await? {
            let Some(tosca) = self.tosca_of(&infra).await? else { continue };
            let attempt = template::marker(&tosca, template::ATTEMPT_KEY).unwrap_or_default();
            let deployment = template::marker(&tosca, template::DEPLOYMENT_KEY).unwrap_or_default();
            out.extend(self.infra_resources(&infra, &deployment, &attempt).await?);
        }
        Ok(out)
    }

    async fn probe(&self, project: Option<&str>) -> Vec<crate::Check> {
        let version = crate::Check::timed("api", async {
            // IM answers its version without credentials.
            let reply =
                self.inner.http.send(Method::GET, &format!("{}/version", self.inner.base), Replay::Safe, |r| r).await?;
            let reply = self.expect_ok(reply, "reading its version")?;
            Ok(format!("IM {}", reply.body.trim()))
        })
        .await;
        let auth =
            crate::Check::timed("auth", async { Ok(format!("{} infrastructures", self.list().await?.len())) }).await;
        let mut checks = vec![version, auth];
        if let Some(project) = project
            && self.inner.settings.quota_cloud.is_some()
        {
            checks.push(crate::quota_check(self, project).await);
        }
        checks
    }

    async fn project_quota(&self, _project: &str) -> Result<Option<ProjectQuota>, DriverError> {
        let Some(cloud) = &self.inner.settings.quota_cloud else {
            return Ok(None);
        };
        let reply = self.call(Method::GET, &format!("/clouds/{cloud}/quotas"), Replay::Safe, None).await?;
        let reply = self.expect_ok(reply, "reading quotas")?;
        let v: Value = reply.json("IM quotas")?;
        Ok(Some(quota_of(&v["quotas"])))
    }
}

impl ImDriver {
    async fn infra_resources(
        &self,
        infra: &str,
        deployment: &str,
        attempt: &str,
    ) -> Result<Vec<Resource>, DriverError> {
        let vms = match self.vms(infra).await {
            Ok(vms) => vms,
            Err(DriverError::Invalid(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(vms
            .into_iter()
            .filter_map(|(vm, radl)| {
                let system = radl.iter().find(|c| c["class"] == "system")?;
                let node = system["id"].as_str().unwrap_or("vm");
                // IM names a VM after its node until the cloud names it.
                let name = match system["instance_name"].as_str() {
                    Some(name) if name != node => name.to_string(),
                    _ => format!("{node}-{vm}"),
                };
                Some(Resource {
                    id: format!("{infra}/vms/{vm}"),
                    kind: ResourceKind::Server,
                    name,
                    deployment_id: deployment.to_string(),
                    attempt_id: attempt.to_string(),
                    node: node.to_string(),
                    state: system["state"].as_str().unwrap_or("unknown").to_string(),
                    project: String::new(),
                })
            })
            .collect())
    }
}

fn tail(uri: &str) -> String {
    uri.trim_end_matches('/').rsplit('/').next().unwrap_or(uri).to_string()
}

/// IM's `{"cores": {"used": .., "limit": ..}, ...}` as a quota.
fn quota_of(q: &Value) -> ProjectQuota {
    let limit = |k: &str| q[k]["limit"].as_i64().and_then(|v| u64::try_from(v).ok());
    let used = |k: &str| q[k]["used"].as_u64().unwrap_or(0);
    ProjectQuota {
        limits: nuvola_types::Quota {
            instances: limit("instances"),
            cores: limit("cores"),
            ram_mb: limit("ram").map(|gb| gb * 1024),
            gpus: None,
            volumes: limit("volumes"),
            volume_gb: limit("volume_storage"),
            public_ips: limit("floating_ips"),
        },
        used: nuvola_types::Usage {
            instances: used("instances"),
            cores: used("cores"),
            ram_mb: used("ram") * 1024,
            gpus: 0,
            volumes: used("volumes"),
            volume_gb: used("volume_storage"),
            public_ips: used("floating_ips"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_lines_are_joined_the_way_im_reads_them() {
        let s = ImSettings {
            username: Some("u".into()),
            password: Some("p".into()),
            credentials: vec!["id = d; type = Dummy".into()],
            ..ImSettings::default()
        };
        assert_eq!(
            s.auth_header(),
            "id = im; type = InfrastructureManager; username = u; password = p\\nid = d; type = Dummy"
        );
        assert!(s.check().is_ok());
        let bad = ImSettings { password: Some("a;b".into()), ..s.clone() };
        assert!(bad.check().is_err());
        let none = ImSettings { username: None, ..s };
        assert!(none.check().is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let r = redact("id = o; type = OpenStack; username = u; password = hunter2");
        assert!(!r.contains("hunter2"), "{r}");
    }

    /// A VM's RADL as IM 2.0 answers it for the Dummy connector
    /// (captured from `GET /infrastructures/{id}/vms/0`).
    #[test]
    fn addresses_come_from_the_vm_radl() {
        let radl: Value = serde_json::from_str(
            r#"[{"class":"network","id":"private_net","outbound":"no"},{"class":"network","id":"public_net","outbound":"yes","outports":"80/tcp-80/tcp"},{"class":"system","id":"vm","instance_name":"vm","disk.0.os.name":"linux","disk.0.os.flavour":"ubuntu","cpu.count_min":1,"memory.size_min":1000000000,"net_interface.0.connection":"private_net","net_interface.1.connection":"public_net","state":"configured","provider.type":"Dummy","net_interface.0.ip":"10.0.0.1","disk.0.os.credentials.username":"username","net_interface.0.dns_name":"vnode-0"}]"#,
        )
        .unwrap();
        let (node, a) = instance_of("inf", "0", radl.as_array().unwrap()).unwrap();
        assert_eq!(node, "vm");
        assert_eq!(a.private_address, "10.0.0.1");
        assert_eq!(a.public_address, None);
        assert_eq!(a.id, "inf/vms/0");
        assert_eq!(a.credential, Some(Credential::account("username")));
    }

    /// The credential as IM gives `endpoint.credential` itself: the key it
    /// made wins over a password (the RADL of a Dummy VM has both fields
    /// IM reads, captured from IM 2.0).
    #[test]
    fn the_credential_comes_from_the_vm_radl_as_im_reports_it() {
        let system = |extra: Value| {
            let mut s = serde_json::json!({"class": "system", "id": "fe", "net_interface.0.ip": "10.0.0.1",
                "disk.0.os.credentials.username": "username", "disk.0.os.credentials.password": "password",
                "disk.0.os.credentials.new.password": "g2uEEKhS"});
            s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            vec![s]
        };
        let (_, a) = instance_of("inf", "0", &system(serde_json::json!({}))).unwrap();
        let password =
            Credential { user: "username".into(), token_type: Some("password".into()), token: Some("password".into()) };
        assert_eq!(a.credential, Some(password));
        let key = serde_json::json!({"disk.0.os.credentials.private_key": "-----BEGIN RSA PRIVATE KEY-----"});
        let (_, a) = instance_of("inf", "0", &system(key)).unwrap();
        assert_eq!(a.credential.unwrap().token_type.as_deref(), Some("private_key"));
    }
}
