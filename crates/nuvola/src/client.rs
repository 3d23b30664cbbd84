//! The CLI's side of the API: `deploy`, `list`, `show`, `delete`, `sim
//! set`, talking to the server at `NUVOLA_URL` with `NUVOLA_TOKEN`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

/// A client of one nuvola server.
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// `NUVOLA_TOKEN`, or `None` for the token `nuvola login` stored.
    token: Option<String>,
}

impl Client {
    /// From `NUVOLA_URL` (default `http://127.0.0.1:8080`) and `NUVOLA_TOKEN`,
    /// or else the token `nuvola login` stored.
    pub fn from_env() -> Result<Self> {
        let base = std::env::var("NUVOLA_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
        let token = std::env::var("NUVOLA_TOKEN").ok().filter(|t| !t.is_empty());
        if token.is_none() && crate::login::load()?.is_none() {
            return Err(crate::login::not_logged_in());
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_string(), token })
    }

    /// Sends one request; a non-2xx answer is an error with the server's message.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let token = match &self.token {
            Some(t) => t.clone(),
            None => crate::login::access_token(&self.http).await?,
        };
        let mut request = self.http.request(method, &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| format!("cannot reach nuvola at {}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(text);
            bail!("{status}: {message}");
        }
        if text.is_empty() { Ok(Value::Null) } else { serde_json::from_str(&text).context("the server sent bad JSON") }
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::DELETE, path, None).await
    }
}

/// Turns `k=v` pairs into parameters: JSON where the value parses as a
/// number, boolean, list or object, a string otherwise.
pub fn parse_params(pairs: &[String]) -> Result<Map<String, Value>> {
    let mut params = Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| anyhow!("--param {pair:?} must be KEY=VALUE"))?;
        let value = match serde_json::from_str::<Value>(v) {
            Ok(parsed @ (Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_))) => parsed,
            _ => Value::String(v.to_string()),
        };
        params.insert(k.to_string(), value);
    }
    Ok(params)
}

/// Options of `nuvola deploy`.
#[derive(clap::Args)]
pub struct DeployArgs {
    /// Catalogue id (e.g. single-vm) or path to a .yaml template.
    pub what: String,
    /// Template input, KEY=VALUE; repeatable.
    #[arg(long = "param", short = 'p')]
    pub params: Vec<String>,
    /// The group the deployment belongs to.
    #[arg(long)]
    pub group: Option<String>,
    /// Choose the provider instead of letting placement choose.
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub timeout_mins: Option<i64>,
    #[arg(long)]
    pub provider_timeout_mins: Option<i64>,
    #[arg(long)]
    pub max_providers_retry: Option<i64>,
    /// Keep the last failed attempt's resources for debugging.
    #[arg(long)]
    pub keep_last_attempt: bool,
    /// Follow progress until done; exit non-zero if it fails.
    #[arg(long)]
    pub wait: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub output: crate::Output,
}

/// `nuvola deploy`: returns whether the deployment (when waited for)
/// succeeded.
pub async fn deploy(client: &Client, args: DeployArgs) -> Result<bool> {
    let json_out = args.output == crate::Output::Json;
    let mut body = json!({ "parameters": parse_params(&args.params)? });
    let path = std::path::Path::new(&args.what);
    if path.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        body["template"] = Value::String(text);
    } else if args.what.ends_with(".yaml") || args.what.ends_with(".yml") {
        bail!("no such file: {}", args.what);
    } else {
        body["catalogueId"] = Value::String(args.what.clone());
    }
    let optional = [
        ("userGroup", args.group.map(Value::from)),
        ("provider", args.provider.map(Value::from)),
        ("timeoutMins", args.timeout_mins.map(Value::from)),
        ("providerTimeoutMins", args.provider_timeout_mins.map(Value::from)),
        ("maxProvidersRetry", args.max_providers_retry.map(Value::from)),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            body[key] = v;
        }
    }
    if args.keep_last_attempt {
        body["keepLastAttempt"] = Value::Bool(true);
    }
    let created = client.post("/api/v1/deployments", &body).await?;
    let id = created["id"].as_str().ok_or_else(|| anyhow!("the server sent no deployment id"))?.to_string();
    if !args.wait {
        print_deployment(&created, json_out);
        return Ok(true);
    }
    if !json_out {
        println!("deployment {id} submitted");
    }
    let done = wait_for(client, &id, json_out).await?;
    print_deployment(&done, json_out);
    Ok(done["status"].as_str().is_some_and(|s| s.ends_with("_COMPLETE")))
}

/// Options of `nuvola update`.
#[derive(clap::Args)]
pub struct UpdateArgs {
    pub id: String,
    /// Template input to change, KEY=VALUE; repeatable (the others keep
    /// their values).
    #[arg(long = "param", short = 'p')]
    pub params: Vec<String>,
    /// A new TOSCA template for the deployment.
    #[arg(long)]
    pub template: Option<std::path::PathBuf>,
    /// Follow progress until done; exit non-zero if it fails.
    #[arg(long)]
    pub wait: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub output: crate::Output,
}

/// `nuvola update`: returns whether the update (when waited for)
/// succeeded.
pub async fn update(client: &Client, args: UpdateArgs) -> Result<bool> {
    let json_out = args.output == crate::Output::Json;
    if args.params.is_empty() && args.template.is_none() {
        bail!("nothing to update: give --param KEY=VALUE or --template FILE");
    }
    let mut body = json!({ "parameters": parse_params(&args.params)? });
    if let Some(path) = &args.template {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        body["template"] = Value::String(text);
    }
    let id = &args.id;
    let accepted = client.send(reqwest::Method::PATCH, &format!("/api/v1/deployments/{id}"), Some(&body)).await?;
    if !args.wait {
        print_deployment(&accepted, json_out);
        return Ok(true);
    }
    if !json_out {
        println!("deployment {id}: update submitted");
    }
    let done = wait_for(client, id, json_out).await?;
    print_deployment(&done, json_out);
    Ok(done["status"] == "UPDATE_COMPLETE")
}

/// `nuvola delete`.
pub async fn delete(client: &Client, id: &str, wait: bool, json_out: bool) -> Result<bool> {
    client.delete(&format!("/api/v1/deployments/{id}")).await?;
    if !wait {
        if !json_out {
            println!("deployment {id}: delete requested");
        }
        return Ok(true);
    }
    let done = wait_for(client, id, json_out).await?;
    print_deployment(&done, json_out);
    Ok(done["status"] == "DELETE_COMPLETE")
}

/// Polls until the deployment leaves its *_IN_PROGRESS state, printing
/// each change of status, provider or attempt.
async fn wait_for(client: &Client, id: &str, quiet: bool) -> Result<Value> {
    let mut last = String::new();
    loop {
        let d = client.get(&format!("/api/v1/deployments/{id}")).await?;
        let status = d["status"].as_str().unwrap_or("UNKNOWN").to_string();
        let attempt = d["attempts"].as_array().and_then(|a| a.last()).cloned().unwrap_or(Value::Null);
        let line = format!(
            "{status:<20} provider={} attempt={}{}",
            d["provider"].as_str().unwrap_or("-"),
            attempt["number"].as_i64().map_or("-".to_string(), |n| n.to_string()),
            d["statusReason"].as_str().map(|r| format!("  ({})", r.lines().next().unwrap_or(""))).unwrap_or_default(),
        );
        if line != last && !quiet {
            println!("{line}");
            last = line;
        }
        if !status.ends_with("_IN_PROGRESS") {
            return Ok(d);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Prints one deployment for people or scripts.
pub fn print_deployment(d: &Value, json_out: bool) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(d).unwrap_or_default());
        return;
    }
    println!("id:        {}", d["id"].as_str().unwrap_or("-"));
    println!("status:    {}", d["status"].as_str().unwrap_or("-"));
    if let Some(reason) = d["statusReason"].as_str() {
        println!("reason:    {}", reason.replace('\n', "\n           "));
    }
    println!("service:   {}", d["catalogueId"].as_str().unwrap_or("(template)"));
    println!("group:     {}", d["group"].as_str().unwrap_or("-"));
    println!("provider:  {}", d["provider"].as_str().unwrap_or("-"));
    println!("created:   {}", d["createdAt"].as_str().unwrap_or("-"));
    if let Some(inputs) = d["inputs"].as_object().filter(|i| !i.is_empty()) {
        println!("inputs:");
        for (k, v) in inputs {
            println!("  {k}: {}", text_of(v));
        }
    }
    if let Some(outputs) = d["outputs"].as_object().filter(|o| !o.is_empty()) {
        println!("outputs:");
        for (k, v) in outputs {
            println!("  {k}: {}", text_of(v));
        }
    }
}

/// A value as a person reads it: strings without their quotes.
fn text_of(v: &Value) -> String {
    if let Value::String(s) = v { s.clone() } else { v.to_string() }
}

/// `nuvola list`.
pub async fn list(client: &Client, json_out: bool, size: i64) -> Result<()> {
    let page = client.get(&format!("/api/v1/deployments?size={size}")).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(());
    }
    println!("{:<36}  {:<20}  {:<20}  {:<14}  {:<10}  CREATED", "ID", "STATUS", "SERVICE", "PROVIDER", "GROUP");
    for d in page["content"].as_array().into_iter().flatten() {
        println!(
            "{:<36}  {:<20}  {:<20}  {:<14}  {:<10}  {}",
            d["id"].as_str().unwrap_or("-"),
            d["status"].as_str().unwrap_or("-"),
            d["catalogueId"].as_str().unwrap_or("(template)"),
            d["provider"].as_str().unwrap_or("-"),
            d["group"].as_str().unwrap_or("-"),
            d["createdAt"].as_str().unwrap_or("-"),
        );
    }
    let total = page["page"]["totalElements"].as_i64().unwrap_or(0);
    let shown = page["content"].as_array().map_or(0, Vec::len);
    if total as usize > shown {
        println!("({shown} of {total} shown; use --size)");
    }
    Ok(())
}

/// `nuvola federation` and `nuvola provider`: the registry, through the
/// admin API.
#[derive(clap::Subcommand)]
pub enum RegistryCommand {
    /// Print the federation registry (TOML `[[providers]]`, like the
    /// configuration file, or JSON).
    Export {
        #[arg(long, value_enum, default_value = "toml")]
        format: DocumentFormat,
    },
    /// Replace the registry with the providers of a TOML (`[[providers]]`)
    /// or JSON (`{"providers": [...]}`) file.
    Import { file: std::path::PathBuf },
    /// Put a provider in scheduled maintenance.
    Maintenance {
        provider: String,
        /// RFC 3339, e.g. 2026-12-01T08:00:00Z.
        #[arg(long)]
        start: String,
        #[arg(long)]
        end: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Remove every maintenance window of a provider.
    EndMaintenance { provider: String },
    /// Stop placing deployments on a provider.
    Disable { provider: String },
    /// Place deployments on a provider again.
    Enable { provider: String },
    /// Resources the providers hold for attempts the store does not know
    /// or that ended (orphans); with `--clean`, have the providers delete
    /// them.
    Orphans {
        /// Delete the orphans found now: those `--provider` and
        /// `--attempt` select, or `--all`.
        #[arg(long)]
        clean: bool,
        /// With `--clean`: only this provider's orphans.
        #[arg(long, requires = "clean")]
        provider: Option<String>,
        /// With `--clean`: only this attempt's resources.
        #[arg(long, requires = "clean")]
        attempt: Option<String>,
        /// With `--clean`: every orphan found, on every provider.
        #[arg(long, requires = "clean", conflicts_with_all = ["provider", "attempt"])]
        all: bool,
        #[arg(long, value_enum, default_value = "text")]
        output: crate::Output,
    },
}

/// How a registry document is written.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DocumentFormat {
    Toml,
    Json,
}

/// Runs a registry command.
pub async fn registry(client: &Client, command: RegistryCommand) -> Result<()> {
    let patch =
        |provider: &str, body: Value| (reqwest::Method::PATCH, format!("/api/v1/admin/providers/{provider}"), body);
    let (method, path, body) = match command {
        RegistryCommand::Export { format } => {
            let document = client.get("/api/v1/admin/federation").await?;
            match format {
                DocumentFormat::Json => println!("{}", serde_json::to_string_pretty(&document)?),
                DocumentFormat::Toml => print!("{}", toml::to_string(&document).context("cannot write TOML")?),
            }
            return Ok(());
        }
        RegistryCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let document: Value = if file.extension().is_some_and(|e| e == "json") {
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?
            } else {
                let parsed: toml::Value = toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
                json!({ "providers": serde_json::to_value(parsed)?.get("providers").cloned().unwrap_or(json!([])) })
            };
            let done = client.put("/api/v1/admin/federation", &document).await?;
            println!("registry replaced: {} providers", done["providers"].as_array().map_or(0, Vec::len));
            return Ok(());
        }
        RegistryCommand::Maintenance { provider, start, end, reason } => (
            reqwest::Method::POST,
            format!("/api/v1/admin/providers/{provider}/maintenance"),
            json!({ "start": start, "end": end, "reason": reason }),
        ),
        RegistryCommand::EndMaintenance { provider } => patch(&provider, json!({ "maintenance": [] })),
        RegistryCommand::Disable { provider } => patch(&provider, json!({ "enabled": false })),
        RegistryCommand::Enable { provider } => patch(&provider, json!({ "enabled": true })),
        RegistryCommand::Orphans { clean, provider, attempt, all, output } => {
            if clean && provider.is_none() && attempt.is_none() && !all {
                bail!("say which orphans to delete: --provider NAME, --attempt ID, or --all");
            }
            let report = if clean {
                let filter = json!({ "provider": provider, "attemptId": attempt });
                client.post("/api/v1/admin/orphans/clean", &filter).await?
            } else {
                client.get("/api/v1/admin/orphans").await?
            };
            if output == crate::Output::Json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_orphans(&report);
            }
            return Ok(());
        }
    };
    let saved = client.send(method, &path, Some(&body)).await?;
    println!(
        "{}: enabled={}, maintenance windows={}",
        saved["name"].as_str().unwrap_or("-"),
        saved["enabled"],
        saved["maintenance"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

/// Prints an orphan report as a table, one row per resource, then the
/// providers that could not be checked.
fn print_orphans(report: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let providers = report["providers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut rows =
        vec![["PROVIDER", "ATTEMPT", "DEPLOYMENT", "KIND", "NAME", "ID", "WHY", "CLEANUP"].map(String::from)];
    for o in providers.iter().flat_map(|p| p["orphans"].as_array().into_iter().flatten()) {
        for r in o["resources"].as_array().into_iter().flatten() {
            rows.push([
                text(&o["provider"]),
                text(&o["attempt_id"]),
                text(&o["deployment_id"]),
                text(&r["kind"]),
                text(&r["name"]),
                text(&r["id"]),
                text(&o["why"]),
                text(&o["cleanup"]),
            ]);
        }
    }
    let checked = providers.iter().filter(|p| p.get("error").is_none()).count();
    if rows.len() == 1 {
        println!("no orphan resources on the {checked} provider(s) checked");
    } else {
        let cleaning = rows.iter().skip(1).any(|r| r[7] != "-");
        let columns = if cleaning { 8 } else { 7 };
        let widths: Vec<usize> = (0..columns).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
        for row in &rows {
            let cells: Vec<String> = (0..columns).map(|c| format!("{:<w$}", row[c], w = widths[c])).collect();
            println!("{}", cells.join("  ").trim_end());
        }
    }
    for p in providers.iter().filter(|p| p.get("error").is_some()) {
        println!("{}: could not be checked: {}", text(&p["provider"]), text(&p["error"]));
    }
}
