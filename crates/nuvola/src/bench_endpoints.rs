//! `nuvola bench endpoints`: what watching users' services costs. N ready
//! deployments (1,000 by default) are stored on the embedded SQLite store,
//! each with an HTTP URL and a host:port among its outputs, and every
//! fourth with an HTTPS URL too; rounds of the endpoint prober
//! ([`nuvola_watch::endpoints`]) check them all, as the server does once a
//! minute. It prints the CPU time this process spent per round (user and
//! system, from `/proc/self/stat`, as `bench core` reads the server's) and
//! the share of one core that is at one round a minute; the target is
//! under 5 %.
//!
//! The endpoints are local listeners served by a child process (this same
//! binary, `bench endpoint-targets`), so what they spend answering is not
//! counted: the figure is the prober's alone, with its store writes. The
//! prober is told to reach loopback (as a lab's would be).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use nuvola_store::{DeploymentRecord, Progress, Store, StoreOptions};
use nuvola_watch::{Watch, WatchSettings};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `nuvola bench endpoints`
#[derive(Args)]
pub struct EndpointsArgs {
    /// Ready deployments, each with an HTTP URL and a host:port (and every
    /// fourth an HTTPS URL).
    #[arg(long, default_value_t = 1000)]
    deployments: usize,
    /// Timed rounds (after one that stores every output for the first
    /// time).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// `nuvola bench endpoint-targets`: the listeners, in a process of their own.
#[derive(Args)]
pub struct TargetsArgs {}

/// The share of one core the prober may take at one round a minute.
const TARGET_SHARE: f64 = 0.05;

pub async fn endpoints(args: EndpointsArgs) -> Result<bool> {
    let n = args.deployments.max(1);
    let targets = Targets::start()?;
    let dir = std::env::temp_dir().join(format!("nuvola-bench-endpoints-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let url = format!("sqlite://{}", dir.join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(&url)).await.map_err(|e| anyhow!("the store: {e}"))?;
    let mut checks = 0;
    for i in 0..n {
        let mut outputs = json!({
            "jupyter_endpoint": format!("http://127.0.0.1:{}/user/{i}/lab", targets.http),
            "ssh": format!("127.0.0.1:{}", targets.tcp),
            "node_ip": "198.18.0.1",
        });
        checks += 2;
        if let Some(https) = targets.https.filter(|_| i % 4 == 0) {
            outputs["grafana_endpoint"] = json!(format!("https://127.0.0.1:{https}/"));
            checks += 1;
        }
        store.insert_deployment(&deployment(i, outputs), &Progress::default()).await.map_err(|e| anyhow!("{e}"))?;
    }
    let settings = WatchSettings { endpoint_reach: nuvola_monitor::endpoints::Reach::Anywhere, ..Default::default() };
    let notifier = nuvola_notify::Notifier::new(None, vec![], "http://nuvola.bench");
    let watch = Watch::new(store.clone(), notifier, settings);
    let prober = watch.endpoints();
    println!(
        "{n} ready deployments, {checks} endpoints ({} HTTP, {n} TCP, {} HTTPS), {} at once, on SQLite",
        n,
        checks - 2 * n,
        nuvola_watch::endpoints::AT_ONCE
    );
    let mut now = nuvola_types::now_ms();
    let first = prober.round(now).await.map_err(|e| anyhow!("{e}"))?;
    let down: Vec<String> = first.checks.iter().filter(|c| !c.up).map(|c| format!("{}: {}", c.url, c.detail)).collect();
    if first.checks.len() != checks || !down.is_empty() {
        bail!("the first round checked {} endpoints, expected {checks}, all up; down: {down:?}", first.checks.len());
    }
    let mut per_round = Vec::new();
    for _ in 0..args.rounds.max(1) {
        now += 60_000;
        let (cpu_before, started) = (crate::bench::cpu_ms("self")?, Instant::now());
        let round = prober.round(now).await.map_err(|e| anyhow!("{e}"))?;
        let (cpu, wall) = (crate::bench::cpu_ms("self")? - cpu_before, started.elapsed());
        if round.checks.iter().any(|c| !c.up) {
            bail!("an endpoint went down during the run");
        }
        // A failing check shows in its detail before two rounds mark it down.
        let failed: Vec<&str> =
            round.checks.iter().filter(|c| !c.detail.starts_with(['H', 'T'])).map(|c| c.detail.as_str()).collect();
        println!(
            "  round: {:>7.1} ms CPU, {:>7.1} ms wall{}",
            cpu,
            wall.as_secs_f64() * 1000.0,
            if failed.is_empty() {
                String::new()
            } else {
                format!(", {} checks failed: {:?}", failed.len(), failed.first())
            }
        );
        per_round.push(cpu);
    }
    per_round.sort_by(f64::total_cmp);
    let median = per_round[per_round.len() / 2];
    let share = median / 60_000.0;
    println!(
        "  median {median:.1} ms CPU per round ({:.3} ms per endpoint): {:.2} % of one core at one round a minute \
         (target < {:.0} %)",
        median / checks as f64,
        share * 100.0,
        TARGET_SHARE * 100.0
    );
    drop(targets);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(share < TARGET_SHARE)
}

fn deployment(i: usize, outputs: serde_json::Value) -> DeploymentRecord {
    DeploymentRecord {
        owner_email: Some(format!("user{:03}@example.org", i % 100)),
        catalogue_id: Some("jupyter".into()),
        description: Some(format!("notebook {i}")),
        // A template of a realistic size, which the prober must not load.
        template: "# bench\n".repeat(2_000),
        outputs: outputs.as_object().cloned().unwrap_or_default(),
        provider: Some("bench-site".into()),
        ..DeploymentRecord::ready(&format!("bench-{i:05}"), &format!("user{:03}", i % 100), "nuvola", "bench")
    }
}

/// The child process serving the endpoints, and its ports.
struct Targets {
    child: Child,
    http: u16,
    tcp: u16,
    /// None without `openssl` to make a certificate.
    https: Option<u16>,
}

impl Targets {
    fn start() -> Result<Targets> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["bench", "endpoint-targets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the endpoints' process")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?).read_line(&mut line)?;
        let port = |key: &str| -> Option<u16> {
            line.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        };
        match (port("http"), port("tcp")) {
            (Some(http), Some(tcp)) => Ok(Targets { http, tcp, https: port("https"), child }),
            _ => bail!("the endpoints' process said {line:?}"),
        }
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        // Closing its stdin ends it.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Serves the bench's endpoints until stdin closes: an HTTP server
/// answering 200, a TCP listener that accepts and closes, and an HTTPS
/// server with a self-signed certificate made by `openssl` when it is
/// there; prints `http=P tcp=P [https=P]`.
pub async fn targets(_: TargetsArgs) -> Result<bool> {
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut said = format!("http={} tcp={}", http.local_addr()?.port(), tcp.local_addr()?.port());
    let app = axum::Router::new().fallback(|| async { "ok" });
    tokio::spawn(async move { axum::serve(http, app).await });
    tokio::spawn(async move {
        while let Ok((stream, _)) = tcp.accept().await {
            drop(stream);
        }
    });
    let dir = std::env::temp_dir().join(format!("nuvola-bench-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    if let Some(acceptor) = tls_acceptor(&dir) {
        let https = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        said.push_str(&format!(" https={}", https.local_addr()?.port()));
        tokio::spawn(async move {
            while let Ok((stream, _)) = https.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let mut request = [0u8; 2048];
                    let _ = tls.read(&mut request).await;
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    }
    println!("{said}");
    std::io::stdout().flush()?;
    // Until the bench closes stdin.
    tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(true)
}

fn tls_acceptor(dir: &std::path::Path) -> Option<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-subj", "/CN=bench", "-days", "30", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !made.success() {
        return None;
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&cert).ok()?.collect::<Result<_, _>>().ok()?;
    let key = PrivateKeyDer::from_pem_file(&key).ok()?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .ok()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .ok()?;
    Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
