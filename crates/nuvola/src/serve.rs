//! `nuvola serve`: wire the store, the catalogue, the federation and the
//! identity together, serve HTTP, run the workers, and stop cleanly on
//! SIGINT or SIGTERM.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::serve::ListenerExt;
use nuvola_app::{App, Catalogue, Federation};
use nuvola_drivers::private_files::{private_dir, private_file, tighten};
use nuvola_identity::{Accounts, EmbeddedIssuer, Issuers, OidcIssuer};
use nuvola_store::{Store, StoreOptions};
use nuvola_tosca::{FsResolver, ImportMap, ImportResolver, Layered, builtin_resolver};
use tokio::sync::watch;

use crate::config::Config;

mod connections;

pub use connections::ConnectionLimits;

/// Flags of `nuvola serve` that override the file.
pub struct ServeFlags<'a> {
    pub data_dir: Option<&'a Path>,
    pub listen: Option<&'a str>,
    pub database_url: Option<&'a str>,
}

/// Builds the application from the configuration; also returns the store
/// it opened, for the caller to close when done with the app.
pub async fn build_app(config: &Config, data_dir: &Path, database_url: Option<&str>) -> Result<(App, Store)> {
    private_data_dir(data_dir)?;
    let url = database_url
        .map(str::to_string)
        .or_else(|| config.database_url.clone())
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("nuvola.sqlite").display()));
    if let Some(file) = sqlite_file(&url) {
        private_database(&file)?;
    }
    let key_file = config.secrets_key_file.clone().unwrap_or_else(|| data_dir.join("secrets.key"));
    let secrets_key = nuvola_identity::keys::load_or_create(&key_file)?;
    let options = StoreOptions {
        schema: config.database_schema.clone(),
        secrets_key: Some(secrets_key),
        ..StoreOptions::new(url.clone())
    };
    let store = Store::open(options).await.with_context(|| format!("cannot open the database {}", redact(&url)))?;
    let resolver = resolver(config)?;
    let catalogue = Catalogue::builtin(&*resolver)?;
    for id in config.catalogue.restricted.keys() {
        catalogue.get(id).map_err(|e| anyhow::anyhow!("[catalogue] restricted: {e}"))?;
    }
    // The configuration's providers go into the registry (changed ones
    // replace what was there; unchanged ones keep the API's edits), and the
    // registry is what the server runs.
    for spec in &config.providers {
        Federation::check(spec)?;
    }
    let sync = store.sync_config_providers(&config.providers).await?;
    if sync != Default::default() {
        tracing::info!(added = ?sync.added, updated = ?sync.updated, removed = ?sync.removed, "registry updated from the configuration");
    }
    let federation = Federation::open(store.providers().await?, Some(data_dir))?;
    let verifier = issuers(config, data_dir).await?;
    let app = App::new(store.clone(), catalogue, federation, Arc::new(verifier), resolver, config.settings());
    Ok((app, store))
}

/// Makes the data directory nuvola's alone (it holds the database, keys
/// and the simulated sites' journals): created 0700; one that other users
/// may enter (made by an older nuvola, or by hand) is tightened to its
/// owner's access, with a warning — nuvola does not start with its secrets
/// open, nor refuse to start over a mode. Files in it are left to whoever
/// makes them (each private), except the database (see [`private_database`]).
fn private_data_dir(dir: &Path) -> Result<()> {
    let tightened = private_dir(dir).with_context(|| format!("cannot create data dir {}", dir.display()))?;
    if tightened {
        warn_tightened(dir);
    }
    Ok(())
}

/// The file of a SQLite database URL (`sqlite://path?options`, `sqlite:path`),
/// `None` for another database or one in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.into())
}

/// Creates the SQLite database file readable by its owner only before
/// SQLite opens it (SQLite gives its -wal and -shm files the database's
/// mode), and tightens the database and those files when they are wider.
fn private_database(file: &Path) -> Result<()> {
    let cannot = || format!("cannot create the database {}", file.display());
    private_file(std::fs::OpenOptions::new().write(true).create(true).truncate(false), file).with_context(cannot)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        let path = Path::new(&name);
        if path.exists() && tighten(path, 0o600).with_context(cannot)? {
            warn_tightened(path);
        }
    }
    Ok(())
}

/// Says that other users could read `path` before nuvola tightened it.
fn warn_tightened(path: &Path) {
    tracing::warn!(path = %path.display(), "other users could read nuvola's data here: tightened to its owner only");
}

/// The issuers the server trusts: the configured external ones, and the
/// embedded one when enabled.
async fn issuers(config: &Config, data_dir: &Path) -> Result<Issuers> {
    let identity = &config.identity;
    let embedded =
        if identity.embedded_enabled() { Some(EmbeddedIssuer::open(data_dir, &identity.issuer)?) } else { None };
    let external: Vec<OidcIssuer> = identity.issuers.iter().cloned().map(OidcIssuer::new).collect();
    for issuer in &external {
        let c = issuer.config();
        // Fetch the keys now, so that a wrong issuer URL shows at start;
        // an issuer that is down is retried when its first token arrives.
        match tokio::time::timeout(std::time::Duration::from_secs(5), issuer.warm_up()).await {
            Ok(Ok(keys)) => tracing::info!(issuer = %c.issuer, audience = %c.audience, keys, "trusting OIDC issuer"),
            Ok(Err(e)) => tracing::warn!(issuer = %c.issuer, error = %e.logged(), "OIDC issuer not reachable yet"),
            Err(_) => tracing::warn!(issuer = %c.issuer, "OIDC issuer did not answer in 5 s; retrying on first use"),
        }
    }
    if embedded.is_some() {
        tracing::info!(issuer = %identity.issuer, "trusting the embedded issuer");
    }
    Ok(Issuers::new(embedded, external))
}

/// The resolver for the templates users send: the INDIGO types built into
/// nuvola, then the configured import map, which lets a template import
/// only the URLs it names (no file by its path: none is allowed).
fn resolver(config: &Config) -> Result<Arc<dyn ImportResolver>> {
    let mut layered = Layered::new().with(builtin_resolver());
    if let Some(path) = &config.tosca.import_map {
        let map = ImportMap::from_file(path).map_err(|e| anyhow::anyhow!("import map {}: {e}", path.display()))?;
        layered = layered.with(FsResolver::new(map));
    }
    Ok(Arc::new(layered))
}

/// How the dashboard signs people in: the external issuers with a web
/// client, and the embedded issuer's accounts when it is enabled (a `demo`
/// account when none is configured, announced in the log).
async fn web_config(config: &Config, data_dir: &Path, app: &App, public_url: &str) -> Result<nuvola_web::WebConfig> {
    let identity = &config.identity;
    let mut web = nuvola_web::WebConfig::for_url(public_url);
    web.issuers = identity.issuers.clone();
    if !identity.embedded_enabled() {
        return Ok(web);
    }
    web.accounts = Some(if identity.users.is_empty() {
        let mut groups: Vec<String> =
            app.federation().providers().iter().flat_map(|p| p.groups.keys().cloned()).collect();
        groups.sort();
        groups.dedup();
        let (accounts, password) = Accounts::demo(data_dir, &groups)?;
        let file = data_dir.join(nuvola_identity::users::DEMO_PASSWORD_FILE);
        tracing::info!(
            "dashboard: open {public_url}/ and sign in as `demo` with password {password} (kept in {})",
            file.display()
        );
        nuvola_web::LocalAccounts {
            issuer: identity.issuer.clone(),
            accounts,
            demo_password_file: Some(file.display().to_string()),
        }
    } else {
        nuvola_web::LocalAccounts {
            issuer: identity.issuer.clone(),
            accounts: Accounts::new(identity.users.clone())?,
            demo_password_file: None,
        }
    });
    Ok(web)
}

/// The metrics token's file in the data directory, unless configured.
pub const METRICS_TOKEN_FILE: &str = "metrics-token";

/// Runs the server until a signal asks it to stop.
pub async fn serve(mut config: Config, flags: ServeFlags<'_>) -> Result<()> {
    let data_dir = config.data_dir(flags.data_dir);
    let listen = flags.listen.map(str::to_string).or_else(|| config.listen.clone()).unwrap_or("127.0.0.1:8080".into());
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let public_url = config.public_url.get_or_insert_with(|| format!("http://{local}")).clone();
    config.listening_at = Some(format!("http://{local}"));
    let (app, store) = build_app(&config, &data_dir, flags.database_url).await?;
    tracing::info!(
        address = %local,
        data_dir = %data_dir.display(),
        providers = app.federation().providers().len(),
        catalogue = app.catalogue().entries().len(),
        "nuvola is serving"
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = tokio::spawn({
        let app = app.clone();
        let stop = stop_rx.clone();
        async move { app.run_workers(stop).await }
    });
    tokio::spawn({
        let app = app.clone();
        let stop = stop_rx.clone();
        async move { app.run_watch(stop).await }
    });
    tokio::spawn({
        let app = app.clone();
        let stop = stop_rx.clone();
        async move { app.run_endpoint_watch(stop).await }
    });
    tokio::spawn({
        let app = app.clone();
        let stop = stop_rx.clone();
        async move { app.run_canary(stop).await }
    });
    tokio::spawn({
        let app = app.clone();
        let stop = stop_rx.clone();
        async move { app.run_accounting(stop).await }
    });
    let web = web_config(&config, &data_dir, &app, &public_url).await?;
    let token_file = config.metrics.token_file.clone().unwrap_or_else(|| data_dir.join(METRICS_TOKEN_FILE));
    let token = nuvola_identity::keys::load_or_create(&token_file)
        .map_err(|e| anyhow::anyhow!("the metrics token {}: {}", token_file.display(), e.logged()))?;
    tracing::info!(token_file = %token_file.display(), "metrics: {public_url}/metrics, scraped with the token in the file");
    let observed = std::sync::Arc::new(nuvola_api::metrics::Observability::new(nuvola_identity::keys::hex(&token)));
    let router = nuvola_api::observed_router(app.clone(), public_url.clone(), Some(observed.clone()))
        .merge(nuvola_web::router(app.clone(), public_url, web))
        .layer(axum::middleware::from_fn_with_state(observed, nuvola_api::metrics::count_requests));
    let mut http_stop = stop_rx.clone();
    let limits = config.http.limits();
    // A request body that stalls frees its connection (the connection's
    // own timeouts leave a request being handled alone).
    let router = router
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.idle_timeout))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tracing::info!(
        max_connections = limits.max_connections,
        header_read_timeout_secs = limits.header_read_timeout.as_secs(),
        idle_timeout_secs = limits.idle_timeout.as_secs(),
        "connection limits"
    );
    // tap_io: a listener of axum's kind, whose connections tell handlers the client's address.
    let listener = connections::LimitedListener::new(listener, limits).tap_io(|_| {});
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    });
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests and workflow steps in flight");
        let _ = stop_tx.send(true);
    });
    server.await.context("HTTP server failed")?;
    workers.await.context("workers panicked")?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
