//! `nuvola`: the federated-cloud PaaS in one program. `nuvola serve`
//! starts the platform; the other subcommands are its command-line client
//! and operator tools.

mod accounting_cmd;
mod bench;
mod bench_accounting;
mod bench_endpoints;
mod bench_status;
mod client;
mod config;
mod demo;
mod login;
mod plan;
mod serve;
mod status_cmd;
mod tosca_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use nuvola_identity::EmbeddedIssuer;

use crate::client::Client;
use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "nuvola",
    version,
    about = "A federated-cloud PaaS: catalogue, orchestrator, placement, in one program"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the platform (SQLite, the demo federation and the embedded
    /// identity provider unless configured otherwise).
    Serve {
        /// TOML configuration (default: the built-in demo federation).
        #[arg(long, env = "NUVOLA_CONFIG")]
        config: Option<PathBuf>,
        /// Where the database, keys and simulator state live.
        #[arg(long, env = "NUVOLA_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// HTTP address, e.g. 127.0.0.1:8080.
        #[arg(long, env = "NUVOLA_LISTEN")]
        listen: Option<String>,
        /// `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`.
        #[arg(long, env = "NUVOLA_DATABASE_URL")]
        database_url: Option<String>,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Print the demo configuration, to copy and edit.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
    /// Tokens of the embedded identity provider.
    Token {
        #[command(subcommand)]
        what: TokenCommand,
    },
    /// Hash a password for a local account (`[[identity.users]]`); reads
    /// the password from standard input.
    Passwd,
    /// Sign in to the OIDC issuer with the device flow and keep the token
    /// in the user's config folder (NUVOLA_TOKEN still wins).
    Login(login::LoginArgs),
    /// Forget (and revoke) the token `nuvola login` kept.
    Logout,
    /// Who the server takes you for.
    Whoami,
    /// Deploy a catalogue service (by id) or a TOSCA file.
    Deploy(client::DeployArgs),
    /// Change a deployment's inputs (its number of workers, its servers'
    /// size, a volume's size) or its template, on the provider it runs on;
    /// what that provider cannot change is refused, naming the input.
    Update(client::UpdateArgs),
    /// List your deployments (all of them, for an admin).
    List {
        #[arg(long, default_value_t = 50)]
        size: i64,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Show one deployment.
    Show {
        id: String,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Delete a deployment and everything it holds.
    Delete {
        id: String,
        #[arg(long)]
        wait: bool,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// List the catalogue, or show one service and its inputs.
    Catalogue {
        /// A catalogue id: its description and inputs (what `--param` takes).
        id: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// The simulated providers.
    Sim {
        #[command(subcommand)]
        what: SimCommand,
    },
    /// Where a deployment would go and why (offline, against a data
    /// directory's federation or the configuration's).
    Plan(plan::PlanArgs),
    /// The federation registry: export, import, maintenance, enable and
    /// disable providers; orphan resources (admin token).
    Federation {
        #[command(subcommand)]
        what: client::RegistryCommand,
    },
    /// The status page's incidents: open, update (resolve), list, show;
    /// subscribers are told of each change (admin token to change).
    Incident {
        #[command(subcommand)]
        what: status_cmd::IncidentCommand,
    },
    /// The status page's components and the operator's overrides (admin
    /// token to override).
    Status {
        #[command(subcommand)]
        what: status_cmd::StatusCommand,
    },
    /// Accounted usage you may see (your own, your managed groups',
    /// everything for admins): per month or per day of one month.
    Accounting {
        #[command(subcommand)]
        what: accounting_cmd::AccountingCommand,
    },
    /// Check TOSCA templates and list their inputs, offline.
    Tosca(tosca_cmd::ToscaArgs),
    /// Benchmarks against the peer tools.
    Bench(bench::BenchArgs),
    /// Add a synthetic year of deployments to the database, for demos of
    /// the dashboard's statistics and for measuring it at scale.
    DemoHistory(demo::HistoryArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the demo configuration.
    Demo,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Sign a token with the data directory's embedded issuer key.
    Issue {
        #[arg(long)]
        user: String,
        /// Group of the user; repeatable or comma-separated.
        #[arg(long, value_delimiter = ',')]
        group: Vec<String>,
        /// Platform administrator.
        #[arg(long)]
        admin: bool,
        /// The user's mail address, in the token's `email` claim (verified):
        /// where nuvola mails them about their deployments.
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        ttl_hours: Option<i64>,
        #[arg(long, env = "NUVOLA_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "NUVOLA_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// What each simulated provider holds, read from the data directory
    /// (works whether or not the server runs).
    Inventory {
        #[arg(long, env = "NUVOLA_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "NUVOLA_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Only this provider.
        #[arg(long)]
        provider: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Change a simulated provider's settings on the running server
    /// (admin token), e.g. `fail_creates=true failure_probability=0.2`, or
    /// `down=true` to take the site down (every call refused) and
    /// `down=false` to bring it back.
    Set { provider: String, settings: Vec<String> },
}

/// How a command prints its result.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// `nuvola list | head` closes our stdout early: stop quietly, as Unix
/// tools do, instead of reporting a panic from `println!`.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141); // as if killed by SIGPIPE
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Serve { config, data_dir, listen, database_url, log_json } => {
            init_tracing(log_json);
            let config = Config::load(config.as_deref())?;
            serve::serve(
                config,
                serve::ServeFlags {
                    data_dir: data_dir.as_deref(),
                    listen: listen.as_deref(),
                    database_url: database_url.as_deref(),
                },
            )
            .await?;
            Ok(true)
        }
        Command::Config { what: ConfigCommand::Demo } => {
            print!("{}", config::DEMO);
            Ok(true)
        }
        Command::Token { what: TokenCommand::Issue { user, group, admin, email, ttl_hours, config, data_dir } } => {
            let config = Config::load(config.as_deref())?;
            let dir = config.data_dir(data_dir.as_deref());
            let issuer = EmbeddedIssuer::open(&dir, &config.identity.issuer)?;
            let ttl = ttl_hours.unwrap_or(config.identity.token_ttl_hours);
            let groups: Vec<String> = group.into_iter().filter(|g| !g.is_empty()).collect();
            println!("{}", issuer.issue_with_email(&user, &groups, admin, email.as_deref(), ttl * 3600)?);
            Ok(true)
        }
        Command::Passwd => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            println!("{}", nuvola_identity::users::hash_password(password)?);
            Ok(true)
        }
        Command::Login(args) => login::login(args).await.map(|()| true),
        Command::Logout => login::logout().await.map(|()| true),
        Command::Whoami => {
            let me = Client::from_env()?.get("/api/v1/whoami").await?;
            println!("{}", serde_json::to_string_pretty(&me)?);
            Ok(true)
        }
        Command::Deploy(args) => client::deploy(&Client::from_env()?, args).await,
        Command::Update(args) => client::update(&Client::from_env()?, args).await,
        Command::Plan(args) => plan::run(args).await,
        Command::Federation { what } => {
            client::registry(&Client::from_env()?, what).await?;
            Ok(true)
        }
        Command::Incident { what } => status_cmd::incident(&Client::from_env()?, what).await.map(|()| true),
        Command::Status { what } => status_cmd::status(&Client::from_env()?, what).await.map(|()| true),
        Command::Accounting { what } => accounting_cmd::run(&Client::from_env()?, what).await.map(|()| true),
        Command::List { size, output } => {
            client::list(&Client::from_env()?, output == Output::Json, size).await?;
            Ok(true)
        }
        Command::Show { id, output } => {
            let d = Client::from_env()?.get(&format!("/api/v1/deployments/{id}")).await?;
            client::print_deployment(&d, output == Output::Json);
            Ok(true)
        }
        Command::Delete { id, wait, output } => {
            client::delete(&Client::from_env()?, &id, wait, output == Output::Json).await
        }
        Command::Catalogue { id: Some(id), output } => {
            let mut entry = Client::from_env()?.get(&format!("/api/v1/catalogue/{id}")).await?;
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&entry)?);
                return Ok(true);
            }
            let text = |key: &str| entry[key].as_str().unwrap_or("-").to_string();
            println!("{} ({}, {})\n{}\n\ninputs:", text("name"), text("id"), text("category"), text("description"));
            let inputs: Vec<nuvola_tosca::InputDef> = serde_json::from_value(entry["inputs"].take())
                .map_err(|e| anyhow::anyhow!("the server sent inputs this CLI cannot read: {e}"))?;
            tosca_cmd::print_inputs(&inputs);
            Ok(true)
        }
        Command::Catalogue { id: None, output } => {
            let list = Client::from_env()?.get("/api/v1/catalogue").await?;
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for e in list["content"].as_array().into_iter().flatten() {
                    println!(
                        "{:<20} {:<18} {}",
                        e["id"].as_str().unwrap_or("-"),
                        e["category"].as_str().unwrap_or("-"),
                        e["name"].as_str().unwrap_or("-")
                    );
                }
            }
            Ok(true)
        }
        Command::Sim { what: SimCommand::Inventory { config, data_dir, provider, output } } => {
            let config = Config::load(config.as_deref())?;
            let own = config.data_dir(data_dir.as_deref()).join("sim");
            let mut all = serde_json::Map::new();
            for spec in config.providers.iter().filter(|p| p.driver == nuvola_types::DriverKind::Sim) {
                if provider.as_ref().is_some_and(|p| p != &spec.name) {
                    continue;
                }
                let home = nuvola_drivers::sim::SimSettings::from_spec(spec)?.home;
                let held = nuvola_drivers::sim::read_inventory(home.as_deref().unwrap_or(&own), &spec.name)
                    .with_context(|| format!("cannot read the inventory of {}", spec.name))?;
                all.insert(spec.name.clone(), serde_json::to_value(held)?);
            }
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for (name, held) in &all {
                    let held = held.as_array().map(Vec::as_slice).unwrap_or_default();
                    println!("{name}: {} resources", held.len());
                    for r in held {
                        println!(
                            "  {:<14} {:<10} {:<20} {:<8} deployment {}",
                            r["kind"].as_str().unwrap_or("-"),
                            r["state"].as_str().unwrap_or("-"),
                            r["name"].as_str().unwrap_or("-"),
                            r["project"].as_str().unwrap_or("-"),
                            r["deployment_id"].as_str().unwrap_or("-"),
                        );
                    }
                }
            }
            Ok(true)
        }
        Command::Tosca(args) => tosca_cmd::tosca(args),
        Command::Bench(args) => bench::run(args).await,
        Command::DemoHistory(args) => demo::history(args).await,
        Command::Sim { what: SimCommand::Set { provider, settings } } => {
            let patch = client::parse_params(&settings)?;
            let now = Client::from_env()?.put(&format!("/api/v1/admin/sim/{provider}"), &patch.into()).await?;
            println!("{}", serde_json::to_string_pretty(&now)?);
            Ok(true)
        }
    }
}

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("NUVOLA_LOG").unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
