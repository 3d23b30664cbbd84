//! Support for the tests and benchmarks that drive the real clouds CI
//! starts (`.ci/cloud.sh`: an Infrastructure Manager with its Dummy
//! connector, Keystone and Nova): where they are, provider specs and
//! settings for them, unique names, waiting for an attempt to settle or
//! go, and a proxy recording what a driver sends. Built only with the
//! `testing` feature, which test and bench targets enable as a
//! dev-dependency feature.
//!
//! A service that is not running skips the caller with a printed reason on
//! a developer machine, and fails it loudly under `CI=true`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nuvola_types::ProviderSpec;
use tokio::sync::oneshot;

use crate::im::ImSettings;
use crate::openstack::OpenStackSettings;
use crate::{AttemptState, DeleteState, Driver, DriverError, NodeProvision};

/// IM's credential line for its Dummy connector, which boots nothing and
/// answers at once.
pub const IM_DUMMY: &str = "id = dummy; type = Dummy";

/// One VM (node `vm`) with input `cpus`, on the public network with SSH
/// open; outputs its private (`vm_ip`) and public (`node_ip`) addresses.
pub const ONE_VM: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0
metadata:
  template_name: one VM
topology_template:
  inputs:
    cpus:
      type: integer
      default: 1
  node_templates:
    vm:
      type: tosca.nodes.Compute
      capabilities:
        endpoint:
          properties:
            network_name: PUBLIC
            ports:
              ssh:
                protocol: tcp
                source: 22
        host:
          properties:
            num_cpus: { get_input: cpus }
            mem_size: 1 GB
        os:
          properties:
            type: linux
            distribution: ubuntu
  outputs:
    vm_ip:
      value: { get_attribute: [ vm, private_address ] }
    node_ip:
      value: { get_attribute: [ vm, public_address ] }
"#;

/// Input `workers` worker nodes (node `wn`), counted by the INDIGO
/// `Scalable` capability's `count`, which both nuvola and IM read; the
/// types are declared inline because the IM under test cannot fetch the
/// INDIGO types. Outputs the workers' private addresses (`wn_ips`).
pub const WORKERS: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0
capability_types:
  tosca.capabilities.indigo.Scalable:
    derived_from: tosca.capabilities.Scalable
    properties:
      count:
        type: integer
        default: 1
        required: no
node_types:
  tosca.nodes.indigo.Compute:
    derived_from: tosca.nodes.Compute
    capabilities:
      scalable:
        type: tosca.capabilities.indigo.Scalable
topology_template:
  inputs:
    workers:
      type: integer
      default: 1
  node_templates:
    wn:
      type: tosca.nodes.indigo.Compute
      capabilities:
        scalable:
          properties:
            count: { get_input: workers }
        host:
          properties:
            num_cpus: 1
            mem_size: 1 GB
        os:
          properties:
            type: linux
            distribution: ubuntu
  outputs:
    wn_ips:
      value: { get_attribute: [ wn, private_address ] }
"#;

/// A front end and a worker networked as INDIGO templates do it (the
/// `slurm_cluster` pattern): Network nodes `pub_network` (public) and
/// `priv_network` (private), and Port nodes binding the front end to both
/// and the worker to the private one. The INDIGO Compute type is declared
/// inline with what IM reads (list addresses, the endpoint's `credential`
/// attribute), because the IM under test cannot fetch the INDIGO types.
/// Outputs `cluster_ip`, `cluster_creds` and `wn_ips` as the template does.
pub const NETWORKS: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0
capability_types:
  tosca.capabilities.indigo.Endpoint:
    derived_from: tosca.capabilities.Endpoint
    attributes:
      credential:
        type: list
        entry_schema:
          type: tosca.datatypes.Credential
node_types:
  tosca.nodes.indigo.Compute:
    derived_from: tosca.nodes.Compute
    attributes:
      private_address:
        type: list
        entry_schema:
          type: string
      public_address:
        type: list
        entry_schema:
          type: string
    capabilities:
      endpoint:
        type: tosca.capabilities.indigo.Endpoint
topology_template:
  node_templates:
    pub_network:
      type: tosca.nodes.network.Network
      properties:
        network_type: public
    priv_network:
      type: tosca.nodes.network.Network
      properties:
        network_type: private
    fe_pub_port:
      type: tosca.nodes.network.Port
      properties:
        order: 1
      requirements:
        - binding: fe_server
        - link: pub_network
    fe_priv_port:
      type: tosca.nodes.network.Port
      properties:
        order: 0
      requirements:
        - binding: fe_server
        - link: priv_network
    wn_priv_port:
      type: tosca.nodes.network.Port
      properties:
        order: 0
      requirements:
        - binding: wn_server
        - link: priv_network
    fe_server:
      type: tosca.nodes.indigo.Compute
      capabilities:
        host:
          properties:
            num_cpus: 1
            mem_size: 1 GB
        os:
          properties:
            type: linux
            distribution: ubuntu
    wn_server:
      type: tosca.nodes.indigo.Compute
      capabilities:
        host:
          properties:
            num_cpus: 1
            mem_size: 1 GB
        os:
          properties:
            type: linux
            distribution: ubuntu
  outputs:
    cluster_ip:
      value: { get_attribute: [ fe_server, public_address, 0 ] }
    cluster_creds:
      value: { get_attribute: [ fe_server, endpoint, credential, 0 ] }
    wn_ips:
      value: { get_attribute: [ wn_server, private_address ] }
"#;

/// `count` servers of node `name` as placement hands them to a driver: a
/// one-vCPU flavor, the `ubuntu` image, the private network.
pub fn node(name: &str, count: u32) -> NodeProvision {
    NodeProvision {
        name: name.into(),
        count,
        flavor: serde_json::from_value(serde_json::json!({"name": "small", "vcpus": 1, "ram_mb": 1024, "disk_gb": 10}))
            .expect("a flavor"),
        image: "ubuntu".into(),
        volumes: Vec::new(),
        ports: Vec::new(),
        network: nuvola_types::NetworkKind::Private,
        public_ip: false,
        setup: Default::default(),
    }
}

/// Whether this run is CI's (`CI=true`), where a missing service fails.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The value of `var` if set and not empty; else `None` after printing
/// that the caller is skipped (`how` says how to start the service), or a
/// panic under `CI=true`.
pub fn service(var: &str, how: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if under_ci() => panic!("{var} is not set under CI=true: {how}"),
        _ => {
            eprintln!("skipped: {var} is not set ({how})");
            None
        }
    }
}

/// The STOMP URL of the RabbitMQ that `.ci/rabbitmq.sh` started
/// (`NUVOLA_TEST_STOMP_URL`).
pub fn stomp_url() -> Option<String> {
    service("NUVOLA_TEST_STOMP_URL", "source .ci/rabbitmq.sh to start RabbitMQ with its STOMP plugin")
}

/// Runs `rabbitmqctl` on the CI broker, panicking with its output when it
/// fails; its standard output.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let output = std::process::Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl {args:?}: {e}"));
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The URL of the IM that `.ci/cloud.sh` started (`NUVOLA_TEST_IM_URL`).
pub fn im_url() -> Option<String> {
    service("NUVOLA_TEST_IM_URL", "source .ci/cloud.sh to start IM")
}

/// A provider spec for the IM at `url`.
pub fn im_spec(url: &str, name: &str) -> ProviderSpec {
    serde_json::from_value(serde_json::json!({"name": name, "driver": "im", "endpoint": url}))
        .expect("an IM provider spec")
}

/// IM settings for IM user `user` with the given cloud credential lines;
/// quotas are read from the cloud with id `dummy`.
pub fn im_settings(user: &str, credentials: &[&str]) -> ImSettings {
    ImSettings {
        username: Some(user.into()),
        password: Some("test-password".into()),
        credentials: credentials.iter().map(|s| s.to_string()).collect(),
        quota_cloud: Some("dummy".into()),
        ..ImSettings::default()
    }
}

/// Keystone's URL when `.ci/cloud.sh` also started Nova
/// (`NUVOLA_TEST_NOVA=1` with `NUVOLA_TEST_KEYSTONE_URL`).
pub fn nova_keystone_url() -> Option<String> {
    let how = "source .ci/cloud.sh to start Keystone and Nova";
    match std::env::var("NUVOLA_TEST_NOVA") {
        Ok(v) if v == "1" => service("NUVOLA_TEST_KEYSTONE_URL", how),
        _ if under_ci() => panic!("NUVOLA_TEST_NOVA is not 1 under CI=true: {how}"),
        _ => {
            eprintln!("skipped: NUVOLA_TEST_NOVA is not 1 ({how})");
            None
        }
    }
}

/// A provider spec for the OpenStack whose Keystone is at `url`.
pub fn nova_spec(url: &str, name: &str) -> ProviderSpec {
    serde_json::from_value(serde_json::json!({"name": name, "driver": "openstack", "endpoint": url}))
        .expect("an OpenStack provider spec")
}

/// OpenStack settings for the CI cloud's admin in `project`, on its
/// `private` network with floating IPs from `public`.
pub fn nova_settings(project: &str) -> OpenStackSettings {
    OpenStackSettings {
        username: Some("admin".into()),
        password: Some("nuvola-admin".into()),
        project: Some(project.into()),
        region: Some("RegionOne".into()),
        network: Some("private".into()),
        floating_network: Some("public".into()),
        ..OpenStackSettings::default()
    }
}

/// The public key of OpenSSH private key `private_key` as `ssh-keygen -y`
/// reads it (with its comment), or `None` after printing that it was not
/// checked when ssh-keygen is not installed (a panic under `CI=true`).
pub fn ssh_keygen_public(private_key: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    if Command::new("ssh-keygen").arg("-?").output().is_err() {
        assert!(!under_ci(), "ssh-keygen is not installed under CI=true (apt-get install openssh-client)");
        eprintln!("not checked with ssh-keygen: it is not installed (apt-get install openssh-client)");
        return None;
    }
    let file = std::env::temp_dir().join(unique("nuvola-key"));
    std::fs::write(&file, private_key).expect("a temporary key file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("a private key file");
    let out = Command::new("ssh-keygen").arg("-y").arg("-f").arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let out = out.expect("ssh-keygen runs");
    assert!(out.status.success(), "ssh-keygen -y: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `prefix` and a fresh UUID, for users, attempts and deployments that no
/// other test or run shares.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Polls the attempt every `every` until it is no longer building, at most
/// `limit`; returns the last state.
pub async fn settled(
    driver: &dyn Driver,
    attempt_id: &str,
    every: Duration,
    limit: Duration,
) -> Result<AttemptState, DriverError> {
    crate::settle(driver, attempt_id, every, every, limit).await
}

/// Deletes the attempt, calling again every `every` until it is gone.
/// Panics after `limit`.
pub async fn gone(driver: &dyn Driver, attempt_id: &str, every: Duration, limit: Duration) {
    let start = Instant::now();
    while driver.delete(attempt_id).await.unwrap_or_else(|e| panic!("delete of {attempt_id}: {e}")) != DeleteState::Gone
    {
        assert!(start.elapsed() < limit, "delete of {attempt_id} did not finish within {limit:?}");
        tokio::time::sleep(every).await;
    }
}

/// A proxy on a loopback port in front of a real service, recording the
/// request line (`GET /v3/p/volumes/detail?... HTTP/1.1`) of every call it
/// relays, to count what a driver sends; it can hold one request back, to
/// change the service between two calls of a driver.
pub struct Recorder {
    url: String,
    state: Arc<Mutex<Recorded>>,
}

#[derive(Default)]
struct Recorded {
    lines: Vec<String>,
    /// What to hold (a part of the request line), where to say it came,
    /// and when to let it go.
    hold: Option<(String, oneshot::Sender<String>, oneshot::Receiver<()>)>,
}

/// A request a [`Recorder`] holds back.
pub struct Held {
    arrived: oneshot::Receiver<String>,
    release: oneshot::Sender<()>,
}

impl Held {
    /// Waits for the request; its line.
    pub async fn arrived(&mut self) -> String {
        (&mut self.arrived).await.expect("the recorder is running")
    }

    /// Lets the request go on to the service.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl Recorder {
    /// Starts relaying to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a bound port"));
        let state = Arc::new(Mutex::new(Recorded::default()));
        let shared = state.clone();
        let upstream = upstream.to_string();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                tokio::spawn(Recorder::relay(client, server, shared.clone()));
            }
        });
        Recorder { url, state }
    }

    /// The proxy's URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The request lines recorded since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().expect("recorder lock").lines)
    }

    /// Holds back the next request whose line contains `part` (once).
    pub fn hold(&self, part: &str) -> Held {
        let (arrived_tx, arrived) = oneshot::channel();
        let (release, released) = oneshot::channel();
        self.state.lock().expect("recorder lock").hold = Some((part.to_string(), arrived_tx, released));
        Held { arrived, release }
    }

    /// Relays one connection: each request's head and its
    /// `Content-Length` bytes of body go upstream once its line is
    /// recorded (and, when held, released); answers are copied back as
    /// they come.
    async fn relay(client: tokio::net::TcpStream, server: tokio::net::TcpStream, state: Arc<Mutex<Recorded>>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let (from_client, mut to_client) = client.into_split();
        let (mut from_server, mut to_server) = server.into_split();
        tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
        let mut from_client = tokio::io::BufReader::new(from_client);
        loop {
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let start = head.len();
                match from_client.read_line(&mut head).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let line = &head[start..];
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let request_line = head.lines().next().unwrap_or_default().to_string();
            let held = {
                let mut state = state.lock().expect("recorder lock");
                state.lines.push(request_line.clone());
                let matches = state.hold.as_ref().is_some_and(|(part, ..)| request_line.contains(part.as_str()));
                if matches { state.hold.take() } else { None }
            };
            if let Some((_, arrived, released)) = held {
                let _ = arrived.send(request_line);
                let _ = released.await;
            }
            let mut body = vec![0; length];
            if from_client.read_exact(&mut body).await.is_err()
                || to_server.write_all(head.as_bytes()).await.is_err()
                || to_server.write_all(&body).await.is_err()
            {
                return;
            }
        }
    }
}

/// The SMTP sink `.ci/services.sh` starts (aiosmtpd writing a maildir):
/// its `host:port` and its maildir, from `NUVOLA_TEST_SMTP` and
/// `NUVOLA_TEST_SMTP_MAILDIR`; `None` (or a panic under CI) as [`service`].
pub fn smtp_sink() -> Option<(String, String)> {
    let address = service("NUVOLA_TEST_SMTP", "source .ci/services.sh to start the SMTP sink")?;
    let maildir = std::env::var("NUVOLA_TEST_SMTP_MAILDIR").expect("NUVOLA_TEST_SMTP_MAILDIR beside NUVOLA_TEST_SMTP");
    Some((address, maildir))
}

/// The messages in the SMTP sink's `maildir` that mention `needle`.
pub fn mails_mentioning(maildir: &str, needle: &str) -> Vec<String> {
    ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(format!("{maildir}/{sub}")).into_iter().flatten().flatten())
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .filter(|text| text.contains(needle))
        .collect()
}

/// The token of the first `path?token=` link in `mail` (a confirmation or
/// unsubscribe link).
pub fn token_in(mail: &str, path: &str) -> String {
    let at = mail.find(&format!("{path}?token=")).unwrap_or_else(|| panic!("no {path} link in {mail}"));
    mail[at + path.len() + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}
