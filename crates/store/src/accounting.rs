//! Accounting: the usage records sites (through cASO and SSM) and nuvola
//! itself publish, kept as APEL's server keeps them, their monthly
//! summaries, and the reads the accounting views make.
//!
//! - **Cloud records** are kept per VM and month, "the last loaded record
//!   wins" ([`accounting_vm_months`]): every field of the record, the VO,
//!   group and role of its FQAN, who sent it and when it was loaded.
//! - **Cloud summaries** are SummariseVMs' ([`nuvola_accounting::summarise`]
//!   computes them; nothing of APEL's arithmetic is written here): when a
//!   load changes VM-months, the summaries of their month and every later
//!   one are recomputed in the same transaction, streaming the kept
//!   VM-months VM by VM (each VM's latest earlier month only serving as the
//!   base of its first delta), so memory stays bounded by the summaries.
//! - **Accelerator, public IP and StAR storage records** are kept under
//!   their natural keys (APEL's for accelerators; project, IP version and
//!   measurement time for public IPs; the record's identifier for storage),
//!   the last loaded winning.
//!
//! Every kind is loaded through one [`AccountingLoad`], one transaction:
//! re-sending a message changes nothing (each row keeps a digest of its
//! record, and an identical record is counted `unchanged` and left alone),
//! and a load dropped before [`AccountingLoad::commit`] leaves nothing.
//! Loads follow one another (each first updates one row of
//! `accounting_loads`), so their summary recomputes never interleave.
//!
//! [`accounting_vm_months`]: AccountingLoad::cloud

use std::borrow::Cow;
use std::collections::BTreeMap;

use futures::TryStreamExt;
use nuvola_accounting::accelerator::{AcceleratorLedger, AcceleratorRecord, AcceleratorSummary};
use nuvola_accounting::cloud::CloudRecord;
use nuvola_accounting::figures::{Period, UsageRow};
use nuvola_accounting::public_ip::PublicIpRecord;
use nuvola_accounting::storage::StorageRecord;
use nuvola_accounting::summarise::{CloudSummariser, LastPerVmMonth, MonthlyCloudUsage, accounting_month, sort_usage};
use nuvola_accounting::{Decimal3, year_month};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Row};

use crate::{Backend, Result, Store, StoreError};

/// What a load did with one kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadCounts {
    /// Records read.
    pub records: u64,
    /// Rows stored that were not kept before.
    pub new: u64,
    /// Rows that replaced a different record kept under the same key.
    pub replaced: u64,
    /// Rows identical to the record kept already (re-sent), left alone.
    /// Records replaced by a later one of the same load are in none of
    /// `new`, `replaced` and `unchanged`.
    pub unchanged: u64,
}

impl LoadCounts {
    fn add(&mut self, other: LoadCounts) {
        self.records += other.records;
        self.new += other.new;
        self.replaced += other.replaced;
        self.unchanged += other.unchanged;
    }
}

/// What a load stored, per kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadReport {
    /// Cloud records, counted per VM-month.
    pub cloud: LoadCounts,
    /// Accelerator records.
    pub accelerators: LoadCounts,
    /// Public IP records.
    pub public_ips: LoadCounts,
    /// StAR storage records.
    pub storage: LoadCounts,
    /// Cloud summary rows rewritten.
    pub summaries: u64,
}

/// One load of accounting records: one transaction, begun with
/// [`Store::begin_accounting_load`], ended by [`AccountingLoad::commit`];
/// dropped before that, it stores nothing.
pub struct AccountingLoad {
    tx: sqlx::Transaction<'static, Any>,
    backend: Backend,
    source: String,
    loaded_at: i64,
    report: LoadReport,
    /// The earliest month key whose VM-months changed.
    changed_from: Option<i32>,
    /// Cloud records not written yet, the last per VM-month.
    pending: LastPerVmMonth<'static>,
    /// How many VM-months are gathered before they are written.
    pending_limit: usize,
}

/// VM-months a load gathers before it writes them: a VM-month that many
/// messages of one load report (cASO re-reports running VMs every run) is
/// written once, and memory stays bounded (tens of MB) however many records
/// a load reads.
const PENDING_VM_MONTHS: usize = 100_000;

impl std::fmt::Debug for AccountingLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountingLoad").field("source", &self.source).field("report", &self.report).finish()
    }
}

/// Which usage to read: every filter left empty (or `None`) reads all.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    /// Only these sites (providers), by APEL site name.
    pub sites: Vec<String>,
    /// Only these groups (VOs).
    pub groups: Vec<String>,
    /// Only these users, by global user name.
    pub users: Vec<String>,
    /// From this month on: (year, month 1–12).
    pub from: Option<(i32, i32)>,
    /// Up to this month, included.
    pub to: Option<(i32, i32)>,
}

/// What usage rows are keyed by besides their month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UsageBy {
    /// The month alone.
    #[default]
    Month,
    /// The site (provider).
    Site,
    /// The group (VO).
    Group,
    /// The user (global user name).
    User,
}

/// A kept VM-month: its record and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVmMonth {
    /// The last loaded record for the VM and month.
    pub record: CloudRecord<'static>,
    /// The year (0 for the zero date).
    pub year: i32,
    /// The month (0 for the zero date).
    pub month: i32,
    /// Who sent it (a publisher's name, or `nuvola`).
    pub source: String,
    /// When it was loaded, in ms since the epoch.
    pub loaded_at: i64,
}

/// Rows per INSERT of `width` columns: as many as the backend's limit on
/// bound parameters allows (SQLite's 32,766, PostgreSQL's 65,535), at most
/// 1,000, so that a load makes few round trips.
fn rows_per_statement(backend: Backend, width: usize) -> usize {
    let parameters = match backend {
        Backend::Sqlite => 32_766,
        Backend::Postgres => 65_535,
    };
    (parameters / width.max(1)).clamp(1, 1_000)
}

/// A value to bind.
enum Value<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Real(f64),
}

fn int(v: impl Into<Option<i64>>) -> Value<'static> {
    Value::Int(v.into())
}

fn text(v: Option<&str>) -> Value<'_> {
    Value::Text(v)
}

/// A text of a key column: a missing one is `''` (APEL reads `''` as
/// missing too).
fn key_text(v: Option<&str>) -> Value<'_> {
    Value::Text(Some(v.unwrap_or("")))
}

pub(crate) fn from_key_text(v: String) -> Option<String> {
    (!v.is_empty()).then_some(v)
}

/// A 64-bit FNV-1a digest of a record's debug form, which shows every
/// field: equal records, equal digests.
/// The form is hashed as it is written, never held whole.
fn digest(record: &impl std::fmt::Debug) -> i64 {
    use std::fmt::Write;
    let mut hash = Fnv1a(0xcbf2_9ce4_8422_2325);
    write!(hash, "{record:?}").expect("hashing never fails");
    hash.0 as i64
}

/// FNV-1a over the bytes written to it.
struct Fnv1a(u64);

impl std::fmt::Write for Fnv1a {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for byte in s.bytes() {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Ok(())
    }
}

const VM_MONTH_COLUMNS: &[&str] = &[
    "vm_uuid",
    "month_key",
    "year",
    "month",
    "measured_at",
    "record_create_time",
    "site_name",
    "cloud_compute_service",
    "machine_name",
    "local_user_id",
    "local_group_id",
    "global_user_name",
    "fqan",
    "vo",
    "vo_group",
    "vo_role",
    "status",
    "start_time",
    "end_time",
    "suspend_duration",
    "wall_duration",
    "cpu_duration",
    "cpu_count",
    "network_type",
    "network_inbound",
    "network_outbound",
    "public_ip_count",
    "memory",
    "disk",
    "benchmark_type",
    "benchmark",
    "storage_record_id",
    "image_id",
    "cloud_type",
];

const SUMMARY_COLUMNS: &[&str] = &[
    "month_key",
    "year",
    "month",
    "site_name",
    "cloud_compute_service",
    "global_user_name",
    "vo",
    "vo_group",
    "vo_role",
    "status",
    "cloud_type",
    "image_id",
    "earliest_start_time",
    "latest_start_time",
    "wall_duration",
    "cpu_duration",
    "cpu_count",
    "network_inbound",
    "network_outbound",
    "memory",
    "disk",
    "benchmark_type",
    "benchmark",
    "number_of_vms",
    "ram_mb_hours",
];

const ACCELERATOR_COLUMNS: &[&str] = &[
    "year",
    "month",
    "month_key",
    "associated_record_type",
    "associated_record",
    "site_name",
    "model",
    "global_user_name",
    "fqan",
    "vo",
    "count",
    "cores",
    "active_duration",
    "available_duration",
    "benchmark_type",
    "benchmark",
    "accelerator_type",
    "cloud_type",
    "cloud_compute_service",
];

const PUBLIC_IP_COLUMNS: &[&str] = &[
    "measurement_time",
    "month_key",
    "site_name",
    "cloud_compute_service",
    "cloud_type",
    "local_user",
    "local_group",
    "global_user_name",
    "fqan",
    "vo",
    "ip_version",
    "ip_count",
    "uuid",
];

const STORAGE_COLUMNS: &[&str] = &[
    "record_id",
    "month_key",
    "create_time",
    "storage_system",
    "site",
    "storage_share",
    "storage_media",
    "storage_class",
    "file_count",
    "directory_path",
    "local_user",
    "local_group",
    "user_identity",
    "vo",
    "sub_group",
    "role",
    "start_time",
    "end_time",
    "resource_capacity_used",
    "logical_capacity_used",
    "resource_capacity_allocated",
    "group_attributes",
    "used_gb",
];

/// The `n`th bound parameter (from 1) in the backend's own form: `?` on
/// SQLite (which looks each `$n` up by name, in time growing with the
/// number of parameters), `$n` on PostgreSQL.
fn parameter(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${n}"),
    }
}

/// The VALUES list of `rows` rows of `width` bound parameters each:
/// `(?, ?), (?, ?)` on SQLite, `($1, $2), ($3, $4)` on PostgreSQL.
fn values_sql(backend: Backend, rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 6);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&parameter(backend, row * width + column + 1));
        }
        sql.push(')');
    }
    sql
}

/// The month key of a year and month: year × 12 + month − 1.
pub(crate) fn month_key_of(year: i64, month: i64) -> i64 {
    year * 12 + month - 1
}

fn time_month_key(seconds: i64) -> i64 {
    let (year, month) = year_month(seconds);
    month_key_of(i64::from(year), i64::from(month))
}

/// One row of an upsert: its values and its digest.
struct UpsertRow<'a> {
    values: Vec<Value<'a>>,
    digest: i64,
}

/// The INSERT ... ON CONFLICT statement for `rows` rows of `columns` (and
/// digest, source, loaded_at, revision), replacing a row of the same `key`
/// only when its digest differs, returning the revision and month key of
/// each row written.
fn upsert_sql(backend: Backend, table: &str, columns: &[&str], key: &[&str], rows: usize) -> String {
    let mut sql = format!(
        "INSERT INTO {table} ({}, digest, source, loaded_at, revision) VALUES {}",
        columns.join(", "),
        values_sql(backend, rows, columns.len() + 4)
    );
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !key.contains(c))
        .chain(&["digest", "source", "loaded_at"])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    sql.push_str(&format!(
        " ON CONFLICT ({}) DO UPDATE SET {}, revision = {table}.revision + 1 WHERE {table}.digest <> excluded.digest \
         RETURNING revision, month_key",
        key.join(", "),
        updates.join(", ")
    ));
    sql
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, Any, AnyArguments<'q>>,
    value: &Value<'q>,
) -> sqlx::query::Query<'q, Any, AnyArguments<'q>> {
    query = match value {
        Value::Int(v) => query.bind(*v),
        Value::Text(v) => query.bind(*v),
        Value::Real(v) => query.bind(*v),
    };
    query
}

impl Store {
    /// Begins a load of accounting records sent by `source` (a
    /// publisher's name, or `nuvola` for its own usage), at `loaded_at` (ms
    /// since the epoch): one transaction, waiting for any other load to
    /// finish first.
    pub async fn begin_accounting_load(&self, source: &str, loaded_at: i64) -> Result<AccountingLoad> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE accounting_loads SET loads = loads + 1 WHERE id = 1").execute(&mut *tx).await?;
        Ok(AccountingLoad {
            tx,
            backend: self.backend,
            source: source.to_owned(),
            loaded_at,
            report: LoadReport::default(),
            changed_from: None,
            pending: LastPerVmMonth::default(),
            pending_limit: PENDING_VM_MONTHS,
        })
    }
}

impl AccountingLoad {
    /// Writes rows of one kind; returns the counts and the earliest month
    /// key written (new or replaced).
    async fn upsert(
        &mut self,
        table: &str,
        columns: &[&str],
        key: &[&str],
        rows: Vec<UpsertRow<'_>>,
    ) -> Result<(LoadCounts, Option<i64>)> {
        let mut counts = LoadCounts::default();
        let mut earliest: Option<i64> = None;
        for chunk in rows.chunks(rows_per_statement(self.backend, columns.len() + 4)) {
            let sql = upsert_sql(self.backend, table, columns, key, chunk.len());
            let mut query = sqlx::query(&sql);
            for row in chunk {
                for value in &row.values {
                    query = bind(query, value);
                }
                query = query.bind(row.digest).bind(self.source.as_str()).bind(self.loaded_at).bind(0_i64);
            }
            let written = query.fetch_all(&mut *self.tx).await?;
            for row in &written {
                let revision: i64 = row.try_get(0)?;
                let month_key: i64 = row.try_get(1)?;
                if revision == 0 {
                    counts.new += 1;
                } else {
                    counts.replaced += 1;
                }
                earliest = Some(earliest.map_or(month_key, |e| e.min(month_key)));
            }
            counts.unchanged += (chunk.len() - written.len()) as u64;
        }
        Ok((counts, earliest))
    }

    /// Loads cloud records in load order: per VM and month the last one
    /// wins, over what was kept before too. Returns how many were read.
    /// They are gathered, the last per VM-month, and written when many
    /// are, or at the commit; the report counts them as written then.
    pub async fn cloud<'a>(&mut self, records: impl IntoIterator<Item = CloudRecord<'a>>) -> Result<u64> {
        let mut read = 0u64;
        for record in records {
            read += 1;
            self.pending.push(record.into_owned());
            if self.pending.len() >= self.pending_limit {
                self.write_gathered().await?;
            }
        }
        self.report.cloud.records += read;
        Ok(read)
    }

    /// Writes gathered cloud records whenever `vm_months` are (at least
    /// one), instead of the default 100,000: less memory, more rows written
    /// more than once.
    pub fn writing_every(mut self, vm_months: usize) -> Self {
        self.pending_limit = vm_months.max(1);
        self
    }

    /// Writes the cloud records gathered so far (the commit does too).
    pub async fn write_gathered(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let kept = self.pending.take();
        // A statement's worth of rows at a time, so that only one
        // statement's values are held beside the records.
        let per_statement = rows_per_statement(self.backend, VM_MONTH_COLUMNS.len() + 4);
        for chunk in kept.chunks(per_statement) {
            let voms: Vec<_> = chunk.iter().map(|(_, r)| r.voms()).collect();
            let rows: Vec<UpsertRow<'_>> = chunk
                .iter()
                .zip(&voms)
                .map(|((key, r), voms)| {
                    let measured = nuvola_accounting::summarise::measurement_time(r);
                    let (year, month) = accounting_month(measured);
                    UpsertRow {
                        digest: digest(r),
                        values: vec![
                            text(Some(&r.vm_uuid)),
                            int(i64::from(*key)),
                            int(i64::from(year)),
                            int(i64::from(month)),
                            int(measured),
                            int(r.record_create_time),
                            text(Some(&r.site_name)),
                            text(r.cloud_compute_service.as_deref()),
                            text(r.machine_name.as_deref()),
                            text(r.local_user_id.as_deref()),
                            text(r.local_group_id.as_deref()),
                            text(r.global_user_name.as_deref()),
                            text(r.fqan.as_deref()),
                            text(voms.vo),
                            text(voms.group.as_deref()),
                            text(voms.role),
                            text(r.status.as_deref()),
                            int(r.start_time),
                            int(r.end_time),
                            int(r.suspend_duration),
                            int(r.wall_duration),
                            int(r.cpu_duration),
                            int(r.cpu_count.thousandths()),
                            text(r.network_type.as_deref()),
                            int(r.network_inbound),
                            int(r.network_outbound),
                            int(r.public_ip_count),
                            int(r.memory),
                            int(r.disk),
                            text(r.benchmark_type.as_deref()),
                            int(r.benchmark.thousandths()),
                            text(r.storage_record_id.as_deref()),
                            text(r.image_id.as_deref()),
                            text(r.cloud_type.as_deref()),
                        ],
                    }
                })
                .collect();
            let (counts, earliest) =
                self.upsert("accounting_vm_months", VM_MONTH_COLUMNS, &["vm_uuid", "month_key"], rows).await?;
            if let Some(earliest) = earliest {
                let earliest = earliest as i32;
                self.changed_from = Some(self.changed_from.map_or(earliest, |c| c.min(earliest)));
            }
            self.report.cloud.add(counts);
        }
        Ok(())
    }

    /// Loads accelerator records: per month, VM, site and model the last
    /// one wins.
    pub async fn accelerators(&mut self, records: &[AcceleratorRecord]) -> Result<LoadCounts> {
        let mut last: BTreeMap<(i64, i64, &str, &str, &str, &str), &AcceleratorRecord> = BTreeMap::new();
        for r in records {
            let key = (
                r.measurement_year,
                r.measurement_month,
                r.associated_record_type.as_str(),
                r.associated_record.as_str(),
                r.site_name.as_str(),
                r.model.as_deref().unwrap_or(""),
            );
            last.insert(key, r);
        }
        let vos: Vec<_> = last.values().map(|r| nuvola_accounting::cloud::Voms::of(Some(&r.fqan))).collect();
        let rows = last
            .values()
            .zip(&vos)
            .map(|(r, voms)| UpsertRow {
                digest: digest(r),
                values: vec![
                    int(r.measurement_year),
                    int(r.measurement_month),
                    int(month_key_of(r.measurement_year, r.measurement_month)),
                    text(Some(&r.associated_record_type)),
                    text(Some(&r.associated_record)),
                    text(Some(&r.site_name)),
                    key_text(r.model.as_deref()),
                    text(r.global_user_name.as_deref()),
                    text(Some(&r.fqan)),
                    text(voms.vo),
                    int(r.count.thousandths()),
                    int(r.cores),
                    int(r.active_duration),
                    int(r.available_duration),
                    text(r.benchmark_type.as_deref()),
                    int(r.benchmark.map(Decimal3::thousandths)),
                    text(Some(&r.accelerator_type)),
                    text(r.cloud_type.as_deref()),
                    text(r.cloud_compute_service.as_deref()),
                ],
            })
            .collect();
        let key = &["year", "month", "associated_record_type", "associated_record", "site_name", "model"];
        let (mut counts, _) = self.upsert("accounting_accelerators", ACCELERATOR_COLUMNS, key, rows).await?;
        counts.records = records.len() as u64;
        self.report.accelerators.add(counts);
        Ok(counts)
    }

    /// Loads public IP records: per project, IP version and measurement
    /// time the last one wins.
    pub async fn public_ips(&mut self, records: &[PublicIpRecord]) -> Result<LoadCounts> {
        type Key<'r> = (&'r str, &'r str, &'r str, &'r str, &'r str, &'r str, i64, i64);
        let mut last: BTreeMap<Key<'_>, &PublicIpRecord> = BTreeMap::new();
        for r in records {
            let key = (
                r.site_name.as_str(),
                r.cloud_compute_service.as_deref().unwrap_or(""),
                r.local_group.as_str(),
                r.local_user.as_deref().unwrap_or(""),
                r.global_user_name.as_deref().unwrap_or(""),
                r.fqan.as_str(),
                r.ip_version,
                r.measurement_time,
            );
            last.insert(key, r);
        }
        let vos: Vec<_> = last.values().map(|r| r.voms()).collect();
        let rows = last
            .values()
            .zip(&vos)
            .map(|(r, voms)| UpsertRow {
                digest: digest(r),
                values: vec![
                    int(r.measurement_time),
                    int(time_month_key(r.measurement_time)),
                    text(Some(&r.site_name)),
                    key_text(r.cloud_compute_service.as_deref()),
                    text(Some(&r.cloud_type)),
                    key_text(r.local_user.as_deref()),
                    text(Some(&r.local_group)),
                    key_text(r.global_user_name.as_deref()),
                    text(Some(&r.fqan)),
                    text(voms.vo),
                    int(r.ip_version),
                    int(r.ip_count),
                    text(r.uuid.as_deref()),
                ],
            })
            .collect();
        let key = &[
            "site_name",
            "cloud_compute_service",
            "local_group",
            "local_user",
            "global_user_name",
            "fqan",
            "ip_version",
            "measurement_time",
        ];
        let (mut counts, _) = self.upsert("accounting_public_ips", PUBLIC_IP_COLUMNS, key, rows).await?;
        counts.records = records.len() as u64;
        self.report.public_ips.add(counts);
        Ok(counts)
    }

    /// Loads StAR storage records: per record identifier the last one wins.
    pub async fn storage(&mut self, records: &[StorageRecord]) -> Result<LoadCounts> {
        let mut last: BTreeMap<&str, &StorageRecord> = BTreeMap::new();
        for r in records {
            last.insert(r.record_id.as_str(), r);
        }
        let texts: Vec<[String; 4]> = last
            .values()
            .map(|r| {
                let capacity = |v: Option<u128>| v.map(|v| v.to_string()).unwrap_or_default();
                [
                    r.resource_capacity_used.to_string(),
                    capacity(r.logical_capacity_used),
                    capacity(r.resource_capacity_allocated),
                    crate::to_json(&r.group_attributes),
                ]
            })
            .collect();
        let rows = last
            .values()
            .zip(&texts)
            .map(|(r, t)| UpsertRow {
                digest: digest(r),
                values: vec![
                    text(Some(&r.record_id)),
                    int(time_month_key(r.end_time)),
                    int(r.create_time),
                    text(Some(&r.storage_system)),
                    text(r.site.as_deref()),
                    text(r.storage_share.as_deref()),
                    text(r.storage_media.as_deref()),
                    text(r.storage_class.as_deref()),
                    int(r.file_count.map(|c| i64::try_from(c).unwrap_or(i64::MAX))),
                    text(r.directory_path.as_deref()),
                    text(r.local_user.as_deref()),
                    text(r.local_group.as_deref()),
                    text(r.user_identity.as_deref()),
                    text(r.group.as_deref()),
                    text(r.sub_group.as_deref()),
                    text(r.role.as_deref()),
                    int(r.start_time),
                    int(r.end_time),
                    text(Some(&t[0])),
                    text((!t[1].is_empty()).then_some(t[1].as_str())),
                    text((!t[2].is_empty()).then_some(t[2].as_str())),
                    text(Some(&t[3])),
                    Value::Real(r.resource_capacity_used as f64 / 1e9),
                ],
            })
            .collect();
        let (mut counts, _) = self.upsert("accounting_storage", STORAGE_COLUMNS, &["record_id"], rows).await?;
        counts.records = records.len() as u64;
        self.report.storage.add(counts);
        Ok(counts)
    }

    /// What the load stored so far (cloud records gathered but not
    /// written yet count as read only).
    pub fn report(&self) -> LoadReport {
        self.report
    }

    /// Recomputes the cloud summaries of the months whose VM-months
    /// changed and of every later month, then commits.
    pub async fn commit(mut self) -> Result<LoadReport> {
        self.write_gathered().await?;
        if let Some(from) = self.changed_from {
            self.report.summaries = summarise_from(&mut self.tx, self.backend, from).await?;
        }
        self.tx.commit().await?;
        Ok(self.report)
    }

    /// Recomputes every cloud summary (after a load made with
    /// `summaries` deferred, or to repair them), then commits.
    pub async fn commit_summarising_all(mut self) -> Result<LoadReport> {
        self.write_gathered().await?;
        self.report.summaries = summarise_from(&mut self.tx, self.backend, i32::MIN).await?;
        self.tx.commit().await?;
        Ok(self.report)
    }
}

/// The VM-month columns read back as a record.
fn vm_month_select() -> String {
    VM_MONTH_COLUMNS.join(", ")
}

fn vm_month_of(row: &AnyRow) -> Result<(CloudRecord<'static>, i32)> {
    let owned =
        |i: usize| -> Result<Option<Cow<'static, str>>> { Ok(row.try_get::<Option<String>, _>(i)?.map(Cow::Owned)) };
    let decimal = |i: usize| -> Result<Decimal3> {
        let thousandths: i64 = row.try_get(i)?;
        Decimal3::from_thousandths(thousandths)
            .ok_or_else(|| StoreError::Corrupt { what: "VM-month", detail: format!("decimal {thousandths}") })
    };
    let mut r = CloudRecord::new(row.try_get::<String, _>(0)?, row.try_get::<String, _>(6)?);
    let key: i64 = row.try_get(1)?;
    r.record_create_time = row.try_get(5)?;
    r.cloud_compute_service = owned(7)?;
    r.machine_name = owned(8)?;
    r.local_user_id = owned(9)?;
    r.local_group_id = owned(10)?;
    r.global_user_name = owned(11)?;
    r.fqan = owned(12)?;
    r.status = owned(16)?;
    r.start_time = row.try_get(17)?;
    r.end_time = row.try_get(18)?;
    r.suspend_duration = row.try_get(19)?;
    r.wall_duration = row.try_get(20)?;
    r.cpu_duration = row.try_get(21)?;
    r.cpu_count = decimal(22)?;
    r.network_type = owned(23)?;
    r.network_inbound = row.try_get(24)?;
    r.network_outbound = row.try_get(25)?;
    r.public_ip_count = row.try_get(26)?;
    r.memory = row.try_get(27)?;
    r.disk = row.try_get(28)?;
    r.benchmark_type = owned(29)?;
    r.benchmark = decimal(30)?;
    r.storage_record_id = owned(31)?;
    r.image_id = owned(32)?;
    r.cloud_type = owned(33)?;
    Ok((r, key as i32))
}

/// Recomputes the summaries of month key `from` and later, streaming the
/// kept VM-months (and each VM's latest dated one before `from`) VM by VM
/// into a [`CloudSummariser`]. Returns the summary rows written.
async fn summarise_from(tx: &mut sqlx::Transaction<'static, Any>, backend: Backend, from: i32) -> Result<u64> {
    let columns = vm_month_select();
    let earlier_columns: Vec<String> = VM_MONTH_COLUMNS.iter().map(|c| format!("p.{c}")).collect();
    let sql = format!(
        "SELECT {columns}, 1 AS summarised FROM accounting_vm_months WHERE month_key >= $1
         UNION ALL
         SELECT {}, 0 FROM accounting_vm_months p
         WHERE p.month_key >= 0 AND p.month_key < $1
           AND p.month_key = (SELECT MAX(q.month_key) FROM accounting_vm_months q
                              WHERE q.vm_uuid = p.vm_uuid AND q.month_key >= 0 AND q.month_key < $1)
           AND EXISTS (SELECT 1 FROM accounting_vm_months r WHERE r.vm_uuid = p.vm_uuid AND r.month_key >= $1)
         ORDER BY 1, 2",
        earlier_columns.join(", ")
    );
    let mut summariser = CloudSummariser::new();
    {
        let mut rows = sqlx::query(&sql).bind(i64::from(from)).fetch(&mut **tx);
        while let Some(row) = rows.try_next().await? {
            let (record, _) = vm_month_of(&row)?;
            let summarised: i64 = row.try_get(VM_MONTH_COLUMNS.len())?;
            if summarised == 1 {
                summariser.add(&record);
            } else {
                summariser.add_earlier(&record);
            }
        }
    }
    let summaries = summariser.finish().map_err(|e| StoreError::Refused {
        what: "accounting",
        key: "cloud summaries".into(),
        why: format!("cannot be computed: {e}"),
    })?;
    for table in ["accounting_cloud_summaries", "accounting_usage_months"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE month_key >= $1"))
            .bind(i64::from(from))
            .execute(&mut **tx)
            .await?;
    }
    write_summaries(tx, backend, &summaries).await?;
    Ok(summaries.len() as u64)
}

async fn write_summaries(
    tx: &mut sqlx::Transaction<'static, Any>,
    backend: Backend,
    summaries: &[MonthlyCloudUsage],
) -> Result<()> {
    for chunk in summaries.chunks(rows_per_statement(backend, SUMMARY_COLUMNS.len())) {
        let rows: Vec<Vec<Value<'_>>> = chunk.iter().map(summary_values).collect();
        insert_rows(tx, backend, "accounting_cloud_summaries", SUMMARY_COLUMNS, &rows).await?;
    }

    // The same added up per month, group, site and user.
    let mut usage: BTreeMap<(i64, &str, &str, &str), UsageSums> = BTreeMap::new();
    for u in summaries {
        let s = &u.summary;
        let key = (
            month_key_of(i64::from(s.year), i64::from(s.month)),
            s.vo.as_deref().unwrap_or(""),
            s.site_name.as_str(),
            s.global_user_name.as_deref().unwrap_or(""),
        );
        let sums = usage.entry(key).or_default();
        sums.cpu += s.cpu_duration.unwrap_or(0);
        sums.wall += s.wall_duration.unwrap_or(0);
        sums.ram += u.ram_mb_hours;
        sums.disk += s.disk.unwrap_or(0);
        sums.vms += s.number_of_vms;
    }
    let usage: Vec<_> = usage.into_iter().collect();
    for chunk in usage.chunks(rows_per_statement(backend, USAGE_MONTH_COLUMNS.len())) {
        let rows: Vec<Vec<Value<'_>>> = chunk
            .iter()
            .map(|((month_key, vo, site, user), sums)| {
                vec![
                    int(*month_key),
                    text(Some(vo)),
                    text(Some(site)),
                    text(Some(user)),
                    int(sums.cpu),
                    int(sums.wall),
                    Value::Real(sums.ram),
                    int(sums.disk),
                    int(sums.vms),
                ]
            })
            .collect();
        insert_rows(tx, backend, "accounting_usage_months", USAGE_MONTH_COLUMNS, &rows).await?;
    }
    Ok(())
}

/// A summary's values, in [`SUMMARY_COLUMNS`]' order.
fn summary_values(usage: &MonthlyCloudUsage) -> Vec<Value<'_>> {
    let s = &usage.summary;
    vec![
        int(month_key_of(i64::from(s.year), i64::from(s.month))),
        int(i64::from(s.year)),
        int(i64::from(s.month)),
        text(Some(&s.site_name)),
        text(s.cloud_compute_service.as_deref()),
        text(s.global_user_name.as_deref()),
        text(s.vo.as_deref()),
        text(s.vo_group.as_deref()),
        text(s.vo_role.as_deref()),
        text(s.status.as_deref()),
        text(s.cloud_type.as_deref()),
        text(s.image_id.as_deref()),
        int(s.earliest_start_time),
        int(s.latest_start_time),
        int(s.wall_duration),
        int(s.cpu_duration),
        int(s.cpu_count.map(Decimal3::thousandths)),
        int(s.network_inbound),
        int(s.network_outbound),
        int(s.memory),
        int(s.disk),
        text(s.benchmark_type.as_deref()),
        int(s.benchmark.map(Decimal3::thousandths)),
        int(s.number_of_vms),
        Value::Real(usage.ram_mb_hours),
    ]
}

/// A month's usage of one group, site and user: the sums of their
/// summaries.
#[derive(Default)]
struct UsageSums {
    cpu: i64,
    wall: i64,
    ram: f64,
    disk: i64,
    vms: i64,
}

const USAGE_MONTH_COLUMNS: &[&str] = &[
    "month_key",
    "vo",
    "site_name",
    "global_user_name",
    "cpu_duration",
    "wall_duration",
    "ram_mb_hours",
    "disk",
    "number_of_vms",
];

/// Inserts rows of `columns`' values in one statement (at most
/// [`rows_per_statement`] of them).
async fn insert_rows(
    tx: &mut sqlx::Transaction<'static, Any>,
    backend: Backend,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value<'_>>],
) -> Result<()> {
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        values_sql(backend, rows.len(), columns.len())
    );
    let mut query = sqlx::query(&sql);
    for value in rows.iter().flatten() {
        query = bind(query, value);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// The WHERE clause of a usage filter over a table whose site, group and
/// user are the given columns, and the values it binds (after `first`
/// parameters bound already).
pub(crate) struct Conditions {
    pub(crate) sql: String,
    texts: Vec<String>,
    months: Vec<i64>,
}

impl UsageFilter {
    /// The month keys of the range, included.
    fn month_keys(&self) -> (Option<i64>, Option<i64>) {
        let key = |(year, month): (i32, i32)| month_key_of(i64::from(year), i64::from(month));
        (self.from.map(key), self.to.map(key))
    }

    pub(crate) fn conditions(&self, site: &str, group: &str, user: &str) -> Conditions {
        let mut sql = String::from("1 = 1");
        let mut texts: Vec<String> = Vec::new();
        let mut next = 1;
        for (column, values) in [(site, &self.sites), (group, &self.groups), (user, &self.users)] {
            if values.is_empty() {
                continue;
            }
            let params: Vec<String> = values
                .iter()
                .map(|value| {
                    texts.push(value.clone());
                    next += 1;
                    format!("${}", next - 1)
                })
                .collect();
            sql.push_str(&format!(" AND {column} IN ({})", params.join(", ")));
        }
        let mut months = Vec::new();
        let (from, to) = self.month_keys();
        if let Some(from) = from {
            sql.push_str(&format!(" AND month_key >= ${next}"));
            months.push(from);
            next += 1;
        }
        if let Some(to) = to {
            sql.push_str(&format!(" AND month_key <= ${next}"));
            months.push(to);
        }
        Conditions { sql, texts, months }
    }
}

impl Conditions {
    /// How many parameters the clause binds.
    pub(crate) fn bound(&self) -> usize {
        self.texts.len() + self.months.len()
    }

    pub(crate) fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, Any, AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, AnyArguments<'q>> {
        for text in &self.texts {
            query = query.bind(text.as_str());
        }
        for month in &self.months {
            query = query.bind(*month);
        }
        query
    }
}

/// The year and month of a month key (−1: the zero date).
fn year_month_of_key(key: i64) -> (i32, i32) {
    if key < 0 { (0, 0) } else { ((key.div_euclid(12)) as i32, (key.rem_euclid(12) + 1) as i32) }
}

impl Store {
    /// Usage per month, and per site, group or user as `by` says, of the
    /// records the filter selects: CPU, wall and RAM hours, disk and
    /// instances from the cloud summaries (as added up per month, group,
    /// site and user), public IPs, accelerator hours by
    /// model and volumes from their records. In order of month, then key.
    pub async fn accounting_usage(&self, filter: &UsageFilter, by: UsageBy) -> Result<Vec<UsageRow>> {
        let key = |site: &'static str, group: &'static str, user: &'static str| match by {
            UsageBy::Month => "CAST(NULL AS TEXT)",
            UsageBy::Site => site,
            UsageBy::Group => group,
            UsageBy::User => user,
        };
        let mut rows: BTreeMap<(i64, Option<String>), UsageRow> = BTreeMap::new();
        fn row(
            rows: &mut BTreeMap<(i64, Option<String>), UsageRow>,
            month_key: i64,
            k: Option<String>,
        ) -> &mut UsageRow {
            let k = k.filter(|k| !k.is_empty());
            rows.entry((month_key, k.clone())).or_insert_with(|| {
                let (year, month) = year_month_of_key(month_key);
                UsageRow::new(Period::month(year, month), k)
            })
        }

        let c = filter.conditions("site_name", "vo", "global_user_name");
        let sql = format!(
            "SELECT month_key, k, CAST(SUM(cpu_duration) AS DOUBLE PRECISION), CAST(SUM(wall_duration) AS DOUBLE PRECISION),
                    CAST(SUM(ram_mb_hours) AS DOUBLE PRECISION), CAST(SUM(disk) AS BIGINT), CAST(SUM(number_of_vms) AS BIGINT)
             FROM (SELECT month_key, {} AS k, cpu_duration, wall_duration, ram_mb_hours, disk, number_of_vms
                   FROM accounting_usage_months WHERE {}) t
             GROUP BY month_key, k",
            key("site_name", "vo", "global_user_name"),
            c.sql
        );
        for r in c.bind(sqlx::query(&sql)).fetch_all(&self.pool).await? {
            let u = row(&mut rows, r.try_get(0)?, r.try_get(1)?);
            u.cpu_hours = r.try_get::<Option<f64>, _>(2)?.unwrap_or(0.0) / 3600.0;
            u.wall_hours = r.try_get::<Option<f64>, _>(3)?.unwrap_or(0.0) / 3600.0;
            u.ram_gb_hours = r.try_get::<Option<f64>, _>(4)?.unwrap_or(0.0) / 1024.0;
            u.disk_gb = r.try_get::<Option<i64>, _>(5)?.unwrap_or(0);
            u.instances = r.try_get::<Option<i64>, _>(6)?.unwrap_or(0);
        }

        let c = filter.conditions("site_name", "vo", "global_user_name");
        let sql = format!(
            "SELECT month_key, k, CAST(SUM(most) AS BIGINT) FROM (
                 SELECT month_key, {} AS k, MAX(ip_count) AS most FROM accounting_public_ips WHERE {}
                 GROUP BY month_key, site_name, cloud_compute_service, local_group, local_user, global_user_name, fqan,
                          ip_version, vo) t
             GROUP BY month_key, k",
            key("site_name", "vo", "global_user_name"),
            c.sql
        );
        for r in c.bind(sqlx::query(&sql)).fetch_all(&self.pool).await? {
            row(&mut rows, r.try_get(0)?, r.try_get(1)?).public_ips = r.try_get::<Option<i64>, _>(2)?.unwrap_or(0);
        }

        let c = filter.conditions("site_name", "vo", "global_user_name");
        let sql = format!(
            "SELECT month_key, k, model, CAST(SUM(held) AS DOUBLE PRECISION) FROM (
                 SELECT month_key, {} AS k, model,
                        CAST(count AS DOUBLE PRECISION) * CAST(available_duration AS DOUBLE PRECISION) AS held
                 FROM accounting_accelerators WHERE {}) t
             GROUP BY month_key, k, model",
            key("site_name", "vo", "global_user_name"),
            c.sql
        );
        for r in c.bind(sqlx::query(&sql)).fetch_all(&self.pool).await? {
            let model: String = r.try_get(2)?;
            let held = r.try_get::<Option<f64>, _>(3)?.unwrap_or(0.0);
            *row(&mut rows, r.try_get(0)?, r.try_get(1)?).gpu_hours.entry(model).or_default() += held / 1000.0 / 3600.0;
        }

        let c = filter.conditions("site", "vo", "user_identity");
        let sql = format!(
            "SELECT month_key, k, CAST(COUNT(*) AS BIGINT), CAST(SUM(used_gb) AS DOUBLE PRECISION) FROM (
                 SELECT month_key, {} AS k, used_gb FROM accounting_storage WHERE {}) t
             GROUP BY month_key, k",
            key("site", "vo", "user_identity"),
            c.sql
        );
        for r in c.bind(sqlx::query(&sql)).fetch_all(&self.pool).await? {
            let u = row(&mut rows, r.try_get(0)?, r.try_get(1)?);
            u.volumes = r.try_get(2)?;
            u.volume_gb = r.try_get::<Option<f64>, _>(3)?.unwrap_or(0.0);
        }
        Ok(rows.into_values().collect())
    }

    /// The kept VM-months of one month (for per-day charts), of the sites,
    /// groups and users the filter selects (its months are not used), in
    /// order of VM.
    pub async fn accounting_vm_months(
        &self,
        filter: &UsageFilter,
        year: i32,
        month: i32,
    ) -> Result<Vec<StoredVmMonth>> {
        let one = UsageFilter { from: Some((year, month)), to: Some((year, month)), ..filter.clone() };
        let c = one.conditions("site_name", "vo", "global_user_name");
        let sql = format!(
            "SELECT {}, source, loaded_at FROM accounting_vm_months WHERE {} ORDER BY vm_uuid",
            vm_month_select(),
            c.sql
        );
        let width = VM_MONTH_COLUMNS.len();
        let mut months = Vec::new();
        for row in c.bind(sqlx::query(&sql)).fetch_all(&self.pool).await? {
            let (record, key) = vm_month_of(&row)?;
            let (year, month) = year_month_of_key(i64::from(key));
            months.push(StoredVmMonth {
                record,
                year,
                month,
                source: row.try_get(width)?,
                loaded_at: row.try_get(width + 1)?,
            });
        }
        Ok(months)
    }

    /// The cloud summaries of the sites, groups, users and months the
    /// filter selects, sorted as APEL lists them: what a site's APEL client
    /// sends upstream (write them with
    /// [`nuvola_accounting::cloud_summary::write_message`]).
    pub async fn accounting_cloud_summaries(&self, filter: &UsageFilter) -> Result<Vec<MonthlyCloudUsage>> {
        let c = filter.conditions("site_name", "vo", "global_user_name");
        let sql = format!("SELECT {} FROM accounting_cloud_summaries WHERE {}", SUMMARY_COLUMNS[1..].join(", "), c.sql);
        let mut summaries = Vec::new();
        for row in c.bind(sqlx::query(&sql)).fetch_all(&self.pool).await? {
            let t = |i: usize| row.try_get::<Option<String>, _>(i);
            let decimal = |i: usize| -> Result<Option<Decimal3>> {
                Ok(row.try_get::<Option<i64>, _>(i)?.and_then(Decimal3::from_thousandths))
            };
            let summary = nuvola_accounting::cloud_summary::CloudSummary {
                year: row.try_get::<i64, _>(0)? as i32,
                month: row.try_get::<i64, _>(1)? as i32,
                site_name: row.try_get(2)?,
                cloud_compute_service: t(3)?,
                global_user_name: t(4)?,
                vo: t(5)?,
                vo_group: t(6)?,
                vo_role: t(7)?,
                status: t(8)?,
                cloud_type: t(9)?,
                image_id: t(10)?,
                earliest_start_time: row.try_get(11)?,
                latest_start_time: row.try_get(12)?,
                wall_duration: row.try_get(13)?,
                cpu_duration: row.try_get(14)?,
                cpu_count: decimal(15)?,
                network_inbound: row.try_get(16)?,
                network_outbound: row.try_get(17)?,
                memory: row.try_get(18)?,
                disk: row.try_get(19)?,
                benchmark_type: t(20)?,
                benchmark: decimal(21)?,
                number_of_vms: row.try_get(22)?,
            };
            summaries.push(MonthlyCloudUsage { summary, ram_mb_hours: row.try_get(23)? });
        }
        sort_usage(&mut summaries);
        Ok(summaries)
    }

    /// The accelerator summaries of the records the filter selects, as
    /// APEL's `SummariseAccelerators` groups them (write them with
    /// [`nuvola_accounting::accelerator::write_summaries_json`]).
    pub async fn accounting_accelerator_summaries(&self, filter: &UsageFilter) -> Result<Vec<AcceleratorSummary>> {
        let mut ledger = AcceleratorLedger::new();
        for record in self.accounting_accelerators(filter).await? {
            ledger.load(record);
        }
        Ok(ledger.summarise())
    }

    /// The accelerator records the filter selects.
    pub async fn accounting_accelerators(&self, filter: &UsageFilter) -> Result<Vec<AcceleratorRecord>> {
        let c = filter.conditions("site_name", "vo", "global_user_name");
        let sql = format!(
            "SELECT year, month, associated_record_type, associated_record, site_name, model, global_user_name, fqan,
                    count, cores, active_duration, available_duration, benchmark_type, benchmark, accelerator_type,
                    cloud_type, cloud_compute_service
             FROM accounting_accelerators WHERE {} ORDER BY year, month, associated_record, model",
            c.sql
        );
        let mut records = Vec::new();
        for row in c.bind(sqlx::query(&sql)).fetch_all(&self.pool).await? {
            let corrupt = |detail: String| StoreError::Corrupt { what: "accelerator record", detail };
            let count: i64 = row.try_get(8)?;
            records.push(AcceleratorRecord {
                measurement_year: row.try_get(0)?,
                measurement_month: row.try_get(1)?,
                associated_record_type: row.try_get(2)?,
                associated_record: row.try_get(3)?,
                site_name: row.try_get(4)?,
                model: from_key_text(row.try_get(5)?),
                global_user_name: row.try_get(6)?,
                fqan: row.try_get(7)?,
                count: Decimal3::from_thousandths(count).ok_or_else(|| corrupt(format!("count {count}")))?,
                cores: row.try_get(9)?,
                active_duration: row.try_get(10)?,
                available_duration: row.try_get(11)?,
                benchmark_type: row.try_get(12)?,
                benchmark: row.try_get::<Option<i64>, _>(13)?.and_then(Decimal3::from_thousandths),
                accelerator_type: row.try_get(14)?,
                cloud_type: row.try_get(15)?,
                cloud_compute_service: row.try_get(16)?,
            });
        }
        Ok(records)
    }
}
