//! The API test harness: a whole nuvola (SQLite store in a temporary
//! folder, the built-in catalogue, a small simulated federation, the
//! embedded issuer, running workers) behind the router, called without a
//! socket through `tower::ServiceExt::oneshot`.
//!
//! The federation has three fast simulated providers, ranked for the
//! `physics` group by SLA priority: `alpha` (1.0), `beta` (0.8), `gamma`
//! (0.5). `bio` is granted on `alpha` and `gamma` only, one instance on
//! each. Users: `alice` and
//! `bob` (physics), `carol` (physics and bio), `dave` (manager of
//! physics), `erin` (bio only), `root` (administrator, no group).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use nuvola_app::{App, Catalogue, Federation, Settings};
use nuvola_drivers::{Driver, NodeProvision, ProvisionRequest};
use nuvola_identity::{Claims, EmbeddedIssuer};
use nuvola_store::{Store, StoreOptions};
use nuvola_types::{Flavor, Image, Network, NetworkKind, ProviderGrant, ProviderSpec, Quota, VolumeType};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// Base of the absolute links the API renders.
pub const BASE: &str = "http://nuvola.test:8080";

/// Issuer name of the test tokens.
pub const ISSUER: &str = "nuvola";

/// Longest a test waits for a deployment to settle.
pub const SETTLE: Duration = Duration::from_secs(30);

/// Statuses a deployment rests in until someone acts on it.
pub const TERMINAL: &[&str] =
    &["CREATE_COMPLETE", "CREATE_FAILED", "UPDATE_COMPLETE", "UPDATE_FAILED", "DELETE_COMPLETE", "DELETE_FAILED"];

/// A template that fits nowhere: no provider offers A100 GPUs. Submitting
/// it gives a `CREATE_FAILED` deployment at once, without any worker.
pub fn no_fit_request() -> Value {
    json!({
        "template": catalogue_text("gpu-vm"),
        "parameters": {"gpu_model": "A100"},
    })
}

/// A one-node template whose instance count is an input, for updates.
pub const SCALABLE_TEMPLATE: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0

imports:
  - indigo_custom_types: https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml

topology_template:
  inputs:
    count:
      type: integer
      default: 1
      constraints:
        - in_range: [ 1, 4 ]

  node_templates:
    worker:
      type: tosca.nodes.indigo.Compute
      capabilities:
        scalable:
          properties:
            count: { get_input: count }
        host:
          properties:
            num_cpus: 1
            mem_size: 2 GB
        os:
          properties:
            type: linux
            distribution: ubuntu
            version: "22.04"

  outputs:
    private_ips:
      value: { get_attribute: [ worker, private_address ] }
"#;

/// The text of a built-in catalogue template.
pub fn catalogue_text(id: &str) -> String {
    let catalogue = Catalogue::builtin(&nuvola_tosca::builtin_resolver()).expect("built-in catalogue loads");
    catalogue.get(id).expect("catalogue entry exists").template.clone()
}

/// A running nuvola behind its router.
pub struct Harness {
    pub app: App,
    /// The app's store, to set scenes up and look at what requests left.
    pub store: Store,
    pub router: Router,
    pub issuer: EmbeddedIssuer,
    stop: watch::Sender<bool>,
    workers: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error body's `message`, after checking the error shape.
    pub fn error_message(&self) -> String {
        let body = self.json();
        assert_eq!(body["code"], json!(self.status.as_u16()), "error body: {body}");
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "error body: {body}");
        body["message"].as_str().unwrap_or_else(|| panic!("error body without message: {body}")).to_string()
    }

    /// Panics unless the status is `expected`, showing the body.
    #[track_caller]
    pub fn expect(self, expected: u16) -> Self {
        assert_eq!(self.status.as_u16(), expected, "unexpected status; body: {}", self.text());
        self
    }
}

/// A simulated provider with the flavors, images, volume types and
/// networks the catalogue needs, and grants for `groups` as
/// `(group, priority)`.
pub fn provider(name: &str, index: u8, gpu_model: &str, groups: &[(&str, f64)]) -> ProviderSpec {
    let flavor = |name: &str, vcpus, ram_mb, disk_gb| Flavor {
        name: name.into(),
        vcpus,
        ram_mb,
        disk_gb,
        gpus: 0,
        gpu_vendor: None,
        gpu_model: None,
        infiniband: false,
    };
    let image = |name: &str, distribution: &str, version: &str| Image {
        name: name.into(),
        os_type: "linux".into(),
        distribution: distribution.into(),
        version: version.into(),
        cuda: None,
        gpu_driver: None,
    };
    ProviderSpec {
        name: name.into(),
        region: "Test".into(),
        description: format!("test provider {name}"),
        driver: nuvola_types::DriverKind::Sim,
        endpoint: format!("https://{name}.cloud.test:5000/v3"),
        enabled: true,
        issuers: vec![],
        maintenance: vec![],
        public_ips: true,
        flavors: vec![
            flavor("m1.small", 1, 2048, 20),
            flavor("m1.medium", 2, 4096, 20),
            flavor("m1.large", 4, 8192, 40),
            flavor("m1.xlarge", 8, 16384, 80),
            Flavor {
                gpus: 1,
                gpu_vendor: Some("NVIDIA".into()),
                gpu_model: Some(gpu_model.into()),
                ..flavor("g1.large", 8, 32768, 120)
            },
        ],
        images: vec![
            image("ubuntu-22.04", "ubuntu", "22.04"),
            image("rocky-9", "rocky", "9"),
            Image { cuda: Some("12.2".into()), ..image("ubuntu-22.04-cuda", "ubuntu", "22.04") },
        ],
        volume_types: vec![
            VolumeType { name: "standard".into(), description: "HDD".into() },
            VolumeType { name: "ssd".into(), description: "SSD".into() },
        ],
        networks: vec![
            Network {
                name: "public".into(),
                kind: NetworkKind::Public,
                cidr: Some(format!("203.0.113.{}/27", u32::from(index) * 32)),
            },
            Network { name: "private".into(), kind: NetworkKind::Private, cidr: Some(format!("10.{index}.0.0/16")) },
        ],
        groups: groups
            .iter()
            .map(|(group, priority)| {
                let grant = ProviderGrant {
                    sla_id: format!("sla-{group}-{name}"),
                    project: Some(group.to_string()),
                    priority: *priority,
                    starts: None,
                    ends: None,
                    quota: Quota {
                        // bio may run one instance per provider, so that
                        // tests can fill its quota.
                        instances: Some(if *group == "bio" { 1 } else { 20 }),
                        cores: Some(64),
                        ram_mb: Some(131072),
                        gpus: Some(2),
                        volumes: Some(10),
                        volume_gb: Some(1000),
                        public_ips: Some(10),
                    },
                };
                (group.to_string(), grant)
            })
            .collect(),
        settings: Some(json!({
            "create_latency_ms": 60,
            "delete_latency_ms": 20,
            "failure_probability": 0.0,
            "seed": index,
            "public_cidr": format!("203.0.113.{}/27", u32::from(index) * 32),
        })),
    }
}

/// The test federation (see the module note).
pub fn federation() -> Vec<ProviderSpec> {
    vec![
        provider("alpha", 0, "T4", &[("physics", 1.0), ("bio", 1.0)]),
        provider("beta", 1, "V100", &[("physics", 0.8)]),
        provider("gamma", 2, "T4", &[("physics", 0.5), ("bio", 0.5)]),
    ]
}

impl Harness {
    /// Starts nuvola with the test federation and running workers.
    pub async fn start() -> Harness {
        Self::with(federation(), Settings { poll_interval: Duration::from_millis(20), ..Settings::default() }).await
    }

    /// Starts nuvola with the given providers and settings.
    pub async fn with(providers: Vec<ProviderSpec>, settings: Settings) -> Harness {
        Self::with_verifier(providers, settings, None).await
    }

    /// A harness whose tokens are checked by `verifier` (the embedded
    /// issuer when `None`); the default federation and settings.
    pub async fn trusting(verifier: Arc<dyn nuvola_identity::TokenVerifier>) -> Harness {
        let settings = Settings { poll_interval: Duration::from_millis(20), ..Settings::default() };
        Self::with_verifier(federation(), settings, Some(verifier)).await
    }

    /// The general form of [`Harness::with`].
    pub async fn with_verifier(
        providers: Vec<ProviderSpec>,
        settings: Settings,
        verifier: Option<Arc<dyn nuvola_identity::TokenVerifier>>,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        // Secret inputs sealed, as `nuvola serve` always has them.
        let options = StoreOptions { secrets_key: Some([7; 32]), ..StoreOptions::new(url) };
        let store = Store::open(options).await.expect("store opens");
        let resolver = Arc::new(nuvola_tosca::builtin_resolver());
        let catalogue = Catalogue::builtin(&*resolver).expect("catalogue loads");
        store.sync_config_providers(&providers).await.expect("registry filled");
        let federation = Federation::open(providers, Some(dir.path())).expect("federation opens");
        let issuer = EmbeddedIssuer::from_seed([42; 32], ISSUER);
        let verifier = verifier.unwrap_or_else(|| Arc::new(issuer.clone()));
        let app = App::new(store.clone(), catalogue, federation, verifier, resolver, settings);
        let (stop, stop_rx) = watch::channel(false);
        let workers = tokio::spawn({
            let app = app.clone();
            async move { app.run_workers(stop_rx).await }
        });
        let router = nuvola_api::router(app.clone(), format!("{BASE}/"));
        Harness { app, store, router, issuer, stop, workers: Some(workers), _dir: dir }
    }

    /// Stops the workers, waiting for the steps in flight.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(workers) = self.workers.take() {
            tokio::time::timeout(SETTLE, workers).await.expect("workers stop in time").expect("workers did not panic");
        }
        self.store.close().await;
    }

    /// A token for `user` in `groups`, valid for an hour.
    pub fn token(&self, user: &str, groups: &[&str], admin: bool) -> String {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        self.issuer.issue(user, &groups, admin, 3600).expect("token")
    }

    /// Signs arbitrary claims with the server's key.
    pub fn sign(&self, claims: &Claims) -> String {
        self.issuer.sign(claims).expect("token")
    }

    pub fn alice(&self) -> String {
        self.token("alice", &["physics"], false)
    }

    pub fn bob(&self) -> String {
        self.token("bob", &["physics"], false)
    }

    pub fn carol(&self) -> String {
        self.token("carol", &["physics", "bio"], false)
    }

    /// A manager of `physics` (member of `physics/managers`).
    pub fn manager(&self) -> String {
        self.token("dave", &["physics", "physics/managers"], false)
    }

    /// A member of another group only.
    pub fn outsider(&self) -> String {
        self.token("erin", &["bio"], false)
    }

    pub fn admin(&self) -> String {
        self.token("root", &[], true)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON body"));
        self.raw(method, path, token, bytes).await
    }

    /// Sends a request whose body is sent as given, as `application/json`.
    pub async fn raw(&self, method: Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(bytes) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(bytes)),
            None => request.body(Body::empty()),
        }
        .expect("request builds");
        self.send(request).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("body reads").to_bytes();
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Submits `body` to the orchestrator API and returns the new
    /// deployment's uuid.
    pub async fn create(&self, token: &str, body: &Value) -> String {
        let reply = self.post("/orchestrator/deployments", token, body).await.expect(201);
        reply.json()["uuid"].as_str().expect("uuid").to_string()
    }

    /// One deployment in the orchestrator's shape, as the admin sees it.
    pub async fn deployment(&self, id: &str) -> Value {
        self.get(&format!("/orchestrator/deployments/{id}"), &self.admin()).await.expect(200).json()
    }

    /// One deployment in the native shape (with attempts), as the admin sees it.
    pub async fn native(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/deployments/{id}"), &self.admin()).await.expect(200).json()
    }

    /// Polls the deployment until its status is in `wanted`, and returns it.
    pub async fn wait_for(&self, id: &str, wanted: &[&str]) -> Value {
        let deadline = Instant::now() + SETTLE;
        loop {
            let d = self.deployment(id).await;
            if wanted.iter().any(|w| d["status"] == *w) {
                return d;
            }
            assert!(Instant::now() < deadline, "deployment {id} did not reach {wanted:?} in {SETTLE:?}: {d:#}");
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }

    /// Polls the deployment until it rests in a terminal status.
    pub async fn wait_until_terminal(&self, id: &str) -> Value {
        self.wait_for(id, TERMINAL).await
    }

    /// Waits for a terminal status and checks it is `expected`.
    pub async fn settle(&self, id: &str, expected: &str) -> Value {
        let d = self.wait_until_terminal(id).await;
        assert_eq!(d["status"], expected, "deployment {id}: {d:#}");
        d
    }

    /// Every resource each provider holds, from the admin endpoint.
    pub async fn inventory(&self) -> BTreeMap<String, Vec<Value>> {
        let body = self.get("/api/v1/admin/inventory", &self.admin()).await.expect(200).json();
        serde_json::from_value(body["providers"].clone()).expect("inventory shape")
    }

    /// What each provider holds for deployment `id` (providers holding
    /// nothing for it are left out).
    pub async fn held_for(&self, id: &str) -> BTreeMap<String, Vec<Value>> {
        self.inventory()
            .await
            .into_iter()
            .map(|(p, rs)| (p, rs.into_iter().filter(|r| r["deployment_id"] == id).collect::<Vec<_>>()))
            .filter(|(_, rs)| !rs.is_empty())
            .collect()
    }

    /// Changes a simulated provider's settings through the admin endpoint.
    pub async fn set_sim(&self, provider: &str, patch: Value) {
        self.put(&format!("/api/v1/admin/sim/{provider}"), &self.admin(), &patch).await.expect(200);
    }

    /// Makes `provider`'s simulator create one server for `attempt_id` of
    /// `deployment_id`, as a driver call the store never recorded would.
    pub async fn create_behind_the_stores_back(&self, provider: &str, deployment_id: &str, attempt_id: &str) {
        let spec = self.app.federation().provider(provider).expect("provider");
        let request = ProvisionRequest {
            deployment_id: deployment_id.into(),
            attempt_id: attempt_id.into(),
            project: "physics".into(),
            nodes: vec![NodeProvision {
                name: "vm".into(),
                count: 1,
                flavor: spec.flavors[0].clone(),
                image: "ubuntu-22.04".into(),
                volumes: vec![],
                ports: vec![],
                network: NetworkKind::Private,
                public_ip: false,
                setup: Default::default(),
            }],
            template: None,
            inputs: Default::default(),
        };
        self.app.federation().sims()[provider].create(&request).await.expect("the simulator creates");
    }

    /// How many deployments exist, as the admin's listing counts them.
    pub async fn count(&self) -> i64 {
        let page = self.get("/orchestrator/deployments", &self.admin()).await.expect(200).json();
        page["page"]["totalElements"].as_i64().expect("totalElements")
    }
}

/// The `href` of the link `rel` in a HATEOAS `links` array.
pub fn link(body: &Value, rel: &str) -> Option<String> {
    body["links"].as_array()?.iter().find(|l| l["rel"] == rel).and_then(|l| l["href"].as_str()).map(str::to_string)
}

/// The query parameters of an absolute URL, after checking its base.
pub fn query_of(href: &str, path: &str) -> BTreeMap<String, String> {
    let prefix = format!("{BASE}{path}");
    let rest = href.strip_prefix(&prefix).unwrap_or_else(|| panic!("{href} does not start with {prefix}"));
    let query = rest.strip_prefix('?').unwrap_or("");
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}
