//! All of nuvola's SQL, behind one [`Store`] that runs on SQLite (the
//! embedded default, a file in the data directory) or PostgreSQL (the
//! production backend).
//!
//! Both backends run the same statements through sqlx's `Any` driver; the
//! few places where the dialects differ (DDL, `FOR UPDATE SKIP LOCKED`) ask
//! [`Backend`]. One module per resource holds its statements; the test
//! suite in `tests/` runs against both backends.
//!
//! Timestamps are stored as milliseconds since the Unix epoch (`BIGINT`),
//! structured fields as JSON text, booleans as `0`/`1`, so that every value
//! crosses the `Any` driver unchanged.

mod accounting;
mod accounting_reads;
mod alerts;
mod attempts;
mod audit;
mod bulletins;
mod canaries;
mod components;
mod deployments;
mod endpoints;
mod groups;
mod incidents;
mod log;
mod policy;
mod probes;
mod providers;
mod requests;
mod schema;
mod sealed;
mod sessions;
mod stats;
mod subscriptions;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

pub use accounting::{AccountingLoad, LoadCounts, LoadReport, StoredVmMonth, UsageBy, UsageFilter};
pub use accounting_reads::SiteGroupUsage;
pub use alerts::SentNotification;
pub use audit::{AuditEntry, AuditFilter};
pub use bulletins::KeptBulletin;
pub use components::{ComponentChange, ComponentOverride};
pub use deployments::{DeploymentFilter, GroupLock, NewDeployment, Sort, Visible};
pub use endpoints::{EndpointCheck, EndpointEvent, WatchedDeployment};
pub use groups::GroupSettings;
pub use incidents::{IncidentFilter, IncidentPost, NewIncident};
/// The usage rows the accounting reads answer, one type from the database
/// to the views.
pub use nuvola_accounting::figures::{Period, UsageRow};
/// The records the store keeps, defined with the domain's types; named
/// here too, as the store's methods take and return them.
pub use nuvola_types::{
    AccessRequest, AttemptRecord, AttemptState, CanaryRun, DeploymentRecord, LogLine, Progress, RequestKind,
    RequestStatus, now_ms,
};
pub use policy::Policy;
pub use probes::ProbeBucket;
pub use providers::ConfigSync;
pub use requests::RequestFilter;
pub use sealed::Sealer;
pub use sessions::{LoginsInFlight, WebLogin, WebSession};
pub use stats::{AttemptOutcomes, LIFETIME_BUCKET_HOURS, StatsFilter};
pub use subscriptions::{NewSubscription, Subscription};

/// Errors from the store: the database failed, or a stored value is corrupt.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed the statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value did not decode.
    #[error("corrupt stored value in {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// No such thing: `what` (an incident, a subscription) with `key`.
    #[error("no {what} {key}")]
    NotFound { what: &'static str, key: String },
    /// The thing is in a state that refuses the change, and `why`.
    #[error("{what} {key} {why}")]
    Refused { what: &'static str, key: String, why: String },
    /// A `schema` name that is not a plain identifier.
    #[error("invalid schema name {0:?}: use letters, digits and _")]
    BadSchema(String),
}

impl From<StoreError> for nuvola_types::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => nuvola_types::Error::NotFound(e.to_string()),
            StoreError::Refused { .. } => nuvola_types::Error::Conflict(e.to_string()),
            e => nuvola_types::Error::internal_because("the database failed; see the server log", e),
        }
    }
}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which SQL dialect the store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`.
    pub url: String,
    /// PostgreSQL only: a schema to create and use (tests use one per run).
    pub schema: Option<String>,
    /// Pool size.
    pub max_connections: u32,
    /// The key that seals secret inputs at rest (see [`Sealer`]); without
    /// one they are stored plain, and sealed ones cannot be read.
    pub secrets_key: Option<[u8; 32]>,
}

impl StoreOptions {
    /// Options for `url` with defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), schema: None, max_connections: 8, secrets_key: None }
    }
}

/// The database: cheap to clone, safe to share between tasks.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads, and on PostgreSQL writes too.
    pool: AnyPool,
    /// Writes. On SQLite, one connection: the file takes one writer at a
    /// time anyway, and writers queued here wait their turn in order
    /// instead of retrying a busy lock.
    writer: AnyPool,
    backend: Backend,
    sealer: Option<std::sync::Arc<Sealer>>,
}

impl Store {
    /// Opens (creating when missing) and migrates the database.
    pub async fn open(options: StoreOptions) -> Result<Store> {
        install_default_drivers();
        let backend = if options.url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        let url = match backend {
            Backend::Sqlite if !options.url.contains("mode=") && !options.url.contains(":memory:") => {
                let sep = if options.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}mode=rwc", options.url)
            }
            _ => options.url.clone(),
        };
        if let Some(schema) = &options.schema {
            check_schema(schema)?;
        }
        let pool = connect(&url, backend, options.schema.clone(), options.max_connections).await?;
        let writer = match backend {
            // One in-memory database is one connection's own.
            Backend::Sqlite if url.contains(":memory:") => pool.clone(),
            Backend::Sqlite => {
                pool.execute("PRAGMA journal_mode = WAL").await?;
                let writer = connect(&url, backend, None, 1).await?;
                // The one writer keeps up to 64 MiB of pages (SQLite's
                // default is 2 MiB): a large transaction, such as an
                // accounting load, then neither spills pages to the file
                // before its commit nor reads them back.
                writer.execute("PRAGMA cache_size = -65536").await?;
                writer
            }
            Backend::Postgres => pool.clone(),
        };
        let sealer = options.secrets_key.as_ref().map(|k| std::sync::Arc::new(Sealer::new(k)));
        let store = Store { pool, writer, backend, sealer };
        schema::migrate(&store).await?;
        Ok(store)
    }

    /// A secret for `purpose` derived from the store's secrets key (see
    /// [`Sealer::derived`]); `None` without a key.
    pub fn derived_secret(&self, purpose: &str) -> Option<[u8; 32]> {
        self.sealer.as_ref().map(|s| s.derived(purpose))
    }

    /// The dialect in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Drops the PostgreSQL schema this store was opened with (tests).
    pub async fn drop_schema(&self, schema: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            if !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::BadSchema(schema.into()));
            }
            self.pool.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str()).await?;
        }
        Ok(())
    }

    /// Closes the pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// A pool of `max_connections` to `url`, each set up for nuvola.
async fn connect(url: &str, backend: Backend, schema: Option<String>, max_connections: u32) -> Result<AnyPool> {
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| {
            let schema = schema.clone();
            Box::pin(async move {
                match backend {
                    Backend::Sqlite => {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Backend::Postgres => {
                        if let Some(schema) = schema {
                            conn.execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str()).await?;
                            conn.execute(format!("SET search_path TO {schema}").as_str()).await?;
                        }
                    }
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    Ok(pool)
}

/// Schema names are spliced into SQL, so only plain identifiers pass.
fn check_schema(schema: &str) -> Result<()> {
    if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::BadSchema(schema.into()));
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("in-memory values serialise")
}

/// A stored word read as the [`Spelled`](nuvola_types::Spelled) enum it
/// spells; a word it does not know means the row is corrupt.
fn parse_word<T: nuvola_types::Spelled>(what: &'static str, word: &str) -> Result<T> {
    T::parse(word).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

fn from_json<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}
