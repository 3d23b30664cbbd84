//! `nuvola bench`: the benchmarks that compare nuvola with its peer tools
//! in the same run.
//!
//! - `nuvola bench tosca`: the TOSCA engine against tosca-parser (see
//!   [`crate::tosca_cmd`]).
//! - `nuvola bench core`: the orchestrator's core against the
//!   Infrastructure Manager. The same one-VM template is deployed N times
//!   by C client tasks, each one create → ready → delete in a loop, first
//!   through IM's REST API with its Dummy connector (a cloud that is ready
//!   at once), then through `nuvola serve` (started here, on its embedded
//!   defaults: SQLite, one simulated site with no latency and no failures).
//!   It prints both throughputs and their ratio, and for nuvola the
//!   server's CPU time per deployment, its peak resident memory and the
//!   time from the site being ready to `CREATE_COMPLETE` (p50, p95, from
//!   the simulator's journal and the deployment log).
//! - `nuvola bench endpoints`: the CPU that checking 1,000 deployments'
//!   endpoints once a minute takes (see [`crate::bench_endpoints`]).
//! - `nuvola bench status`: the status page's server time (see
//!   [`crate::bench_status`]).
//! - `nuvola bench accounting`: APEL records ingested and summarised
//!   through the store, against APEL (see [`crate::bench_accounting`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::tosca_cmd;

/// `nuvola bench ...`
#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time the TOSCA engine over the corpus (per file and in total) and,
    /// with a tosca-parser virtualenv, tosca-parser on the same files.
    Tosca(tosca_cmd::ToscaBenchArgs),
    /// Deploy one VM N times, create → ready → delete from C clients,
    /// through the Infrastructure Manager (Dummy connector) and through
    /// nuvola (one simulated site with no latency), and compare.
    Core(CoreArgs),
    /// Check N ready deployments' endpoints (local listeners) in rounds,
    /// and print the CPU per round and the share of one core at one round
    /// a minute (target: under 5 %).
    Endpoints(crate::bench_endpoints::EndpointsArgs),
    /// The listeners `bench endpoints` checks, in a process of their own.
    #[command(hide = true)]
    EndpointTargets(crate::bench_endpoints::TargetsArgs),
    /// Ingest and summarise N generated APEL cloud records through the
    /// store (SQLite, and PostgreSQL with --postgres), against APEL's
    /// figures, and time an accounting page over a year of 100 groups.
    Accounting(crate::bench_accounting::AccountingArgs),
    /// Time the public status page and its Statuspage summary with many
    /// components and incidents in the store.
    Status(crate::bench_status::StatusArgs),
}

/// `nuvola bench core`
#[derive(Args)]
struct CoreArgs {
    /// Deployments per system (after the warm-up).
    #[arg(long, default_value_t = 300)]
    deployments: usize,
    /// Client tasks, each deploying one at a time.
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// How often a client asks for the state of its deployment.
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Deployments run before timing starts (per system).
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// The Infrastructure Manager's REST URL (`.ci/cloud.sh` starts IM
    /// 2.0 and exports it); without one only nuvola is measured.
    #[arg(long, env = "NUVOLA_TEST_IM_URL")]
    im_url: Option<String>,
    /// Keep the server's data directory and log.
    #[arg(long)]
    keep: bool,
}

/// Runs `nuvola bench ...`.
pub async fn run(args: BenchArgs) -> Result<bool> {
    match args.what {
        BenchCommand::Tosca(args) => tosca_cmd::bench_tosca(args),
        BenchCommand::Core(args) => core(args).await,
        BenchCommand::Endpoints(args) => crate::bench_endpoints::endpoints(args).await,
        BenchCommand::EndpointTargets(args) => crate::bench_endpoints::targets(args).await,
        BenchCommand::Status(args) => crate::bench_status::run(args).await,
        BenchCommand::Accounting(args) => crate::bench_accounting::run(args).await,
    }
}

/// One VM with the normative types, which both IM and nuvola deploy as is.
const ONE_VM: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0
metadata:
  template_name: bench VM
topology_template:
  node_templates:
    vm:
      type: tosca.nodes.Compute
      capabilities:
        endpoint:
          properties:
            network_name: PUBLIC
            ports:
              ssh: { protocol: tcp, source: 22 }
        host:
          properties: { num_cpus: 1, mem_size: 1 GB }
        os:
          properties: { type: linux, distribution: ubuntu }
  outputs:
    node_ip:
      value: { get_attribute: [ vm, public_address ] }
"#;

/// One simulated site that is ready at once and never fails, and limits
/// high enough for the run.
const CONFIG: &str = r#"
[deployments]
max_per_user = 100000

[[providers]]
name = "bench-site"
driver = "sim"
endpoint = "https://bench-site.example:5000/v3"
flavors = [{ name = "m1.small", vcpus = 1, ram_mb = 2048, disk_gb = 20 }]
images = [{ name = "ubuntu-22.04", distribution = "ubuntu", version = "22.04" }]
networks = [{ name = "public", kind = "public" }, { name = "private", kind = "private", cidr = "10.0.0.0/8" }]
settings = { create_latency_ms = 0, delete_latency_ms = 0, failure_probability = 0.0, public_cidr = "198.18.0.0/15" }

[providers.groups.bench]
sla_id = "sla-bench"
quota = { instances = 100000, cores = 100000, ram_mb = 1000000000, public_ips = 100000 }
"#;

const GROUP: &str = "bench";

/// What one system did in the timed part of a run.
struct Throughput {
    deployments: usize,
    elapsed: Duration,
}

impl Throughput {
    fn per_second(&self) -> f64 {
        self.deployments as f64 / self.elapsed.as_secs_f64()
    }
}

async fn core(args: CoreArgs) -> Result<bool> {
    let n = args.deployments.max(1);
    let clients = args.clients.max(1);
    let poll = Duration::from_millis(args.poll_ms.max(1));
    println!(
        "deploying one VM {n} times per system from {clients} clients (create → ready → delete, state asked every {} ms), \
         after {} warm-up deployments",
        poll.as_millis(),
        args.warmup
    );
    let im = match args.im_url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => {
            let im = Arc::new(Im { http: http_client()?, url: url.trim_end_matches('/').to_string() });
            let version = im.http.get(format!("{}/version", im.url)).send().await?.text().await?;
            println!("Infrastructure Manager {version} at {} (Dummy connector)", im.url);
            drive(args.warmup, clients, poll, im.clone(), "IM warm-up").await?;
            let t = drive(n, clients, poll, im, "IM").await?;
            println!("  IM:     {:>7.1} deployments/s ({n} in {:.2} s)", t.per_second(), t.elapsed.as_secs_f64());
            Some(t)
        }
        None => {
            println!("no --im-url (or NUVOLA_TEST_IM_URL): measuring nuvola alone");
            None
        }
    };

    let dir = tempfile_dir()?;
    let server = NuvolaServer::start(&dir)?;
    let nuvola = Arc::new(Nuvola { http: http_client()?, url: server.url.clone(), token: server.token.clone() });
    drive(args.warmup, clients, poll, nuvola.clone(), "nuvola warm-up").await?;
    let cpu_before = server.cpu_ms()?;
    let t = drive(n, clients, poll, nuvola.clone(), "nuvola").await?;
    let cpu = server.cpu_ms()? - cpu_before;
    let rss = server.peak_rss_kib()?;
    println!(
        "  nuvola: {:>7.1} deployments/s ({n} in {:.2} s)  server CPU {:.2} ms per deployment  peak RSS {:.1} MiB",
        t.per_second(),
        t.elapsed.as_secs_f64(),
        cpu / n as f64,
        rss as f64 / 1024.0
    );
    if let Some(im) = &im {
        println!("  ratio:  nuvola / IM = {:.1}x", t.per_second() / im.per_second());
    }
    server.stop();
    let latencies = ready_to_complete(&dir).await?;
    if latencies.is_empty() {
        bail!("no deployment of the run recorded a ready site and a CREATE_COMPLETE");
    }
    println!(
        "  nuvola: site ready → CREATE_COMPLETE over {} deployments: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        percentile(&latencies, 1.0)
    );
    if args.keep {
        println!("the server's data directory and log are in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(true)
}

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(64).build()?)
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("nuvola-bench-core-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// A system the clients deploy to, one deployment at a time.
trait System: Send + Sync + 'static {
    /// Creates, waits until ready, deletes, waits until gone.
    fn deploy_once(&self, poll: Duration) -> impl std::future::Future<Output = Result<()>> + Send;
}

/// Runs `n` deployments from `clients` tasks and times them.
async fn drive<S: System>(n: usize, clients: usize, poll: Duration, system: Arc<S>, what: &str) -> Result<Throughput> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (next, system) = (next.clone(), system.clone());
        tasks.spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                system.deploy_once(poll).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done?.with_context(|| format!("{what}: a deployment failed"))?;
    }
    Ok(Throughput { deployments: n, elapsed: start.elapsed() })
}

/// The Infrastructure Manager's REST API, driven as the INDIGO
/// orchestrator drives it.
struct Im {
    http: reqwest::Client,
    url: String,
}

/// IM's own credential line and a Dummy cloud's.
const IM_AUTH: &str =
    "id = im; type = InfrastructureManager; username = bench; password = bench\\nid = dummy; type = Dummy";

impl System for Im {
    async fn deploy_once(&self, poll: Duration) -> Result<()> {
        let created: Value = self
            .http
            .post(format!("{}/infrastructures?async=1", self.url))
            .header("Authorization", IM_AUTH)
            .header("Content-Type", "text/yaml")
            .header("Accept", "application/json")
            .body(ONE_VM)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let uri = created["uri"].as_str().ok_or_else(|| anyhow!("IM answered a create with {created}"))?;
        loop {
            let state: Value = self
                .http
                .get(format!("{uri}/state"))
                .header("Authorization", IM_AUTH)
                .header("Accept", "application/json")
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            match state["state"]["state"].as_str() {
                Some("configured") => break,
                Some("failed" | "unconfigured") => bail!("IM failed an infrastructure: {state}"),
                _ => tokio::time::sleep(poll).await,
            }
        }
        // IM deletes synchronously: the answer comes once it is gone.
        self.http.delete(uri).header("Authorization", IM_AUTH).send().await?.error_for_status()?;
        Ok(())
    }
}

/// nuvola's orchestrator-compatible REST API.
struct Nuvola {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Nuvola {
    async fn status(&self, id: &str) -> Result<Option<String>> {
        let reply = self
            .http
            .get(format!("{}/orchestrator/deployments/{id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if reply.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let d: Value = reply.error_for_status()?.json().await?;
        Ok(d["status"].as_str().map(str::to_string))
    }
}

impl System for Nuvola {
    async fn deploy_once(&self, poll: Duration) -> Result<()> {
        let created: Value = self
            .http
            .post(format!("{}/orchestrator/deployments", self.url))
            .bearer_auth(&self.token)
            .json(&json!({ "template": ONE_VM, "parameters": {} }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = created["uuid"].as_str().ok_or_else(|| anyhow!("nuvola answered a create with {created}"))?;
        loop {
            match self.status(id).await?.as_deref() {
                Some("CREATE_COMPLETE") => break,
                Some(s @ ("CREATE_FAILED" | "DELETE_FAILED")) => bail!("deployment {id} ended {s}"),
                _ => tokio::time::sleep(poll).await,
            }
        }
        self.http
            .delete(format!("{}/orchestrator/deployments/{id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?;
        loop {
            match self.status(id).await?.as_deref() {
                None | Some("DELETE_COMPLETE") => return Ok(()),
                Some("DELETE_FAILED") => bail!("deployment {id} ended DELETE_FAILED"),
                _ => tokio::time::sleep(poll).await,
            }
        }
    }
}

/// `nuvola serve` on the bench configuration, in its own data directory.
struct NuvolaServer {
    child: Child,
    url: String,
    token: String,
}

impl NuvolaServer {
    fn start(dir: &Path) -> Result<NuvolaServer> {
        let exe = std::env::current_exe()?;
        let config = dir.join("nuvola.toml");
        std::fs::write(&config, CONFIG)?;
        let data = dir.join("data");
        let dir_args = ["--config".as_ref(), config.as_os_str(), "--data-dir".as_ref(), data.as_os_str()];
        let token =
            Command::new(&exe).args(["token", "issue", "--user", "bench", "--group", GROUP]).args(dir_args).output()?;
        if !token.status.success() {
            bail!("nuvola token issue failed: {}", String::from_utf8_lossy(&token.stderr));
        }
        let listen = {
            let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
            socket.local_addr()?.to_string()
        };
        // The server logs at its defaults (or as NUVOLA_LOG says) into the
        // run's folder.
        let log = std::fs::File::create(dir.join("server.log"))?;
        let child = Command::new(&exe)
            .arg("serve")
            .args(dir_args)
            .args(["--listen", &listen])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start nuvola serve")?;
        let server = NuvolaServer {
            child,
            url: format!("http://{listen}"),
            token: String::from_utf8(token.stdout)?.trim().into(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(&listen).is_err() {
            if Instant::now() > deadline {
                bail!("nuvola serve did not listen within 60 s; see {}", dir.join("server.log").display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The server's user and system CPU time so far, in milliseconds.
    fn cpu_ms(&self) -> Result<f64> {
        cpu_ms(&self.child.id().to_string())
    }

    /// The server's peak resident set size, in KiB.
    fn peak_rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or_else(|| anyhow!("no VmHWM"))?;
        Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
    }

    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for NuvolaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Linux reports process times in clock ticks: 100 per second on every
/// architecture it runs on today (`sysconf(_SC_CLK_TCK)`).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// The user and system CPU time of process `pid` (`self` for this one)
/// so far, in milliseconds, from `/proc/<pid>/stat`.
pub(crate) fn cpu_ms(pid: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name: state is field 3,
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow!("unreadable /proc stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks * 1000.0 / CLOCK_TICKS_PER_SECOND)
}

/// For every deployment of the run, milliseconds from the moment its site
/// was ready (the simulator's journal: when its last resource became
/// ready) to its `CREATE_COMPLETE` (the deployment log's line, stamped in
/// the transaction that recorded the status).
async fn ready_to_complete(dir: &Path) -> Result<Vec<f64>> {
    let data = dir.join("data");
    let journal = std::fs::read_to_string(data.join("sim").join("bench-site.journal"))?;
    let mut ready: HashMap<String, i64> = HashMap::new();
    for line in journal.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        if event["event"] == "created"
            && let (Some(attempt), Some(at)) = (event["attempt_id"].as_str(), event["ready_ms"].as_i64())
        {
            let at_most = ready.entry(attempt.to_string()).or_insert(at);
            *at_most = (*at_most).max(at);
        }
    }
    let url = format!("sqlite://{}", data.join("nuvola.sqlite").display());
    let store = nuvola_store::Store::open(nuvola_store::StoreOptions::new(url)).await?;
    let mut latencies = Vec::new();
    for (attempt_id, ready_at) in ready {
        let Some((deployment, _)) = attempt_id.rsplit_once('-') else { continue };
        let log = store.log(deployment).await?;
        let Some(done) = log.iter().find(|l| l.message.contains(": ready on ")) else { continue };
        latencies.push((done.at - ready_at) as f64);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}
