//! `nuvola demo-history`: fills a data directory's database with a
//! synthetic year of deployments (with their attempts) across the
//! configuration's providers, so that the dashboard's statistics and lists
//! have something to show, and to measure them at scale.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use nuvola_demo::{HistoryOptions, Service, generate_history};
use nuvola_store::now_ms;

use crate::config::Config;

/// `nuvola demo-history ...`
#[derive(Args)]
pub struct HistoryArgs {
    /// How many deployments to add.
    #[arg(long, default_value_t = 10_000)]
    deployments: usize,
    /// Days the history spans, ending now.
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// Seed: the same seed gives the same history.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// TOML configuration (default: the built-in demo federation).
    #[arg(long, env = "NUVOLA_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory whose database receives the history.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://USER:PASS@HOST/DB` instead.
    #[arg(long)]
    database_url: Option<String>,
}

/// Writes the history and says what it wrote.
pub async fn history(args: HistoryArgs) -> Result<bool> {
    if args.days < 1 {
        bail!("--days must be 1 or more");
    }
    let config = Config::load(args.config.as_deref())?;
    let data_dir = config.data_dir(args.data_dir.as_deref());
    let (app, store) = crate::serve::build_app(&config, &data_dir, args.database_url.as_deref()).await?;
    let providers = app.federation().providers().iter().map(|p| p.name.clone()).collect();
    let options = HistoryOptions {
        days: args.days,
        seed: args.seed,
        ..HistoryOptions::demo(args.deployments, providers, now_ms())
    };
    let started = std::time::Instant::now();
    let services: Vec<Service> =
        app.catalogue().entries().iter().map(|e| Service { id: &e.id, name: &e.name, template: &e.template }).collect();
    let summary = generate_history(&store, &services, &options).await?;
    store.refresh_planner_statistics().await?;
    store.close().await;
    println!(
        "added {} deployments ({} attempts, {} still up) over {} days in {:.1} s; groups {}, testing group: {}",
        summary.deployments,
        summary.attempts,
        summary.running.len(),
        options.days,
        started.elapsed().as_secs_f64(),
        options.groups.iter().map(|(g, _)| g.as_str()).collect::<Vec<_>>().join(", "),
        options.short_lived.join(", ")
    );
    Ok(true)
}
