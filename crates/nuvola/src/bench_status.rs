//! `nuvola bench status`: the server time of the public status page and of
//! its Statuspage summary with a federation of N providers (so N + 2
//! components on the page) and M past incidents in the store, each
//! component with a change of state every few days over the 90 days shown.
//! The requests go through the same router `nuvola serve` answers with,
//! without a socket, and the time is from the request to the last byte of
//! the body. It prints p50 and p95 per route and says whether both are
//! under the target.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::Request;
use clap::Args;
use http_body_util::BodyExt;
use nuvola_app::{App, Catalogue, Federation, Settings};
use nuvola_store::{NewIncident, Store, StoreOptions};
use nuvola_types::{ComponentState, Impact, IncidentStatus, ProviderSpec};
use tower::ServiceExt;

/// `nuvola bench status`
#[derive(Args)]
pub struct StatusArgs {
    /// Providers in the federation (each one component).
    #[arg(long, default_value_t = 98)]
    providers: usize,
    /// Past incidents in the store (a few of the newest left open).
    #[arg(long, default_value_t = 10_000)]
    incidents: usize,
    /// Timed requests per route (after as many untimed ones).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// The p95 each route must stay under, in ms.
    #[arg(long, default_value_t = 5.0)]
    target_ms: f64,
}

const DAY: i64 = 86_400_000;

fn provider(i: usize) -> Result<ProviderSpec> {
    let name = format!("site-{i:03}");
    Ok(serde_json::from_value(serde_json::json!({
        "name": name, "driver": "sim", "endpoint": format!("https://{name}.example/v3"),
        "groups": {"physics": {"sla_id": "sla", "project": "physics", "quota": {"cores": 100}}},
        "settings": {"create_latency_ms": 0},
    }))?)
}

/// Runs the benchmark; returns whether both routes met the target.
pub async fn run(args: StatusArgs) -> Result<bool> {
    let dir = tempfile_dir()?;
    let url = format!("sqlite://{}", dir.join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions { secrets_key: Some([7; 32]), ..StoreOptions::new(&url) }).await?;
    let providers = (0..args.providers).map(provider).collect::<Result<Vec<_>>>()?;
    store.sync_config_providers(&providers).await?;
    let resolver = Arc::new(nuvola_tosca::builtin_resolver());
    let catalogue = Catalogue::builtin(&*resolver)?;
    let federation = Federation::open(providers, Some(&dir))?;
    let issuer = Arc::new(nuvola_identity::EmbeddedIssuer::from_seed([1; 32], "nuvola"));
    let app = App::new(store.clone(), catalogue, federation, issuer, resolver, Settings::default());
    let round = app.watch_round().await?;
    let components: Vec<String> = app.watch().snapshot().components.iter().map(|c| c.component.id.clone()).collect();
    println!("{} components after one round of probes ({} checks)", components.len(), round.results.len());

    // 90 days of history: each component changes state every 3 to 9 days.
    let now = nuvola_types::now_ms();
    let mut changes = 0;
    for (i, id) in components.iter().enumerate() {
        let mut at = now - 90 * DAY;
        let mut k = 0;
        while at < now - DAY {
            let state = if k % 2 == 0 { ComponentState::Operational } else { ComponentState::PartialOutage };
            store.record_component_state(id, at, state, "bench").await?;
            at += (3 + ((i + k) % 7) as i64) * DAY;
            k += 1;
            changes += 1;
        }
    }
    let started = Instant::now();
    for n in 0..args.incidents {
        let open = n + 3 >= args.incidents;
        let new = NewIncident {
            id: format!("inc{n:07}"),
            title: format!("Incident {n} on {}", components[n % components.len()]),
            impact: Impact::Minor,
            status: if open { IncidentStatus::Identified } else { IncidentStatus::Resolved },
            body: "A switch failed; traffic moved to its twin.".into(),
            by: "bench@nuvola".into(),
            at: now - 400 * DAY + (n as i64) * (400 * DAY / args.incidents.max(1) as i64),
            components: vec![(components[n % components.len()].clone(), ComponentState::PartialOutage)],
        };
        store.create_incident(&new).await?;
    }
    println!(
        "{} incidents and {changes} state changes stored in {:.1} s",
        args.incidents,
        started.elapsed().as_secs_f64()
    );

    let router = nuvola_api::router(app.clone(), "http://127.0.0.1:8080").merge(nuvola_web::router(
        app.clone(),
        "http://127.0.0.1:8080",
        nuvola_web::WebConfig::for_url("http://127.0.0.1:8080"),
    ));
    // The history is read once a round and minute, then kept: its first
    // reading is what a page pays once a minute.
    let started = Instant::now();
    app.status_history().await?;
    println!("  reading the history, first of its minute: {:.2} ms", ms(started.elapsed()));
    // What the page's two readings cost, apart from rendering.
    for (what, reading) in [("page", 0), ("history", 1)] {
        let mut times = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            let started = Instant::now();
            if reading == 0 {
                app.status_page().await?;
            } else {
                app.status_history().await?;
            }
            times.push(started.elapsed());
        }
        times.sort();
        println!("  reading the {what}: p50 {:.2} ms", ms(times[times.len() / 2]));
    }
    let mut met = true;
    for path in ["/status", "/api/v2/summary.json"] {
        let mut times = Vec::with_capacity(args.requests);
        let mut bytes = 0;
        for i in 0..args.requests * 2 {
            let request = Request::get(path).body(Body::empty())?;
            let started = Instant::now();
            let response = router.clone().oneshot(request).await?;
            anyhow::ensure!(response.status().is_success(), "{path} answered {}", response.status());
            let body = response.into_body().collect().await.context("the body")?.to_bytes();
            let took = started.elapsed();
            bytes = body.len();
            if i >= args.requests {
                times.push(took);
            }
        }
        times.sort();
        let p = |q: f64| ms(times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1]);
        let (p50, p95) = (p(0.5), p(0.95));
        let ok = p95 < args.target_ms;
        met &= ok;
        println!(
            "{path}: p50 {p50:.2} ms, p95 {p95:.2} ms over {} requests ({bytes} bytes){}",
            args.requests,
            if ok { "" } else { " — over the target" }
        );
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("target: p95 under {} ms: {}", args.target_ms, if met { "met" } else { "missed" });
    Ok(met)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("nuvola-bench-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
