//! APEL's summary arithmetic for cloud records, exactly as its server
//! computes it (the `ReplaceCloudRecord` and `SummariseVMs` procedures of
//! APEL's `schemas/cloud.sql`), without a database:
//!
//! 1. **Which month a record counts for.** A `completed` record is
//!    measured at its `EndTime`; any other at its `RecordCreateTime`, or,
//!    without one, at `StartTime + SuspendDuration + WallDuration` (a
//!    missing duration counting 0). A record with no such time (completed
//!    without an end, running without a start) gets MariaDB's zero date:
//!    month 0 of year 0.
//! 2. **The last loaded record wins** per VM (`VMUUID`) and month: a record
//!    replaces, whole, the one kept for its VM and month, whatever their
//!    times, sites or order of measurement.
//! 3. **Per-month deltas.** Durations and network counters are cumulative,
//!    so a VM-month's usage is its value minus the value of the same VM's
//!    latest earlier-measured VM-month (0 when there is none; the zero-date
//!    month never serves as the earlier one). A missing value gives no
//!    delta. Memory and disk are taken as they are, not as deltas.
//! 4. **Monthly summaries.** VM-months are grouped by site, compute service,
//!    month, year, user, VO, VO group, VO role, status, image, CPU count,
//!    benchmark type and benchmark; each group sums its deltas, memory and
//!    disk (a sum of only missing values is missing), takes the earliest
//!    and latest start time, counts its VM-months, and takes the cloud type
//!    of its first VM-month in order of VMUUID and measurement time (APEL
//!    does not group by cloud type and MariaDB returns any row's).
//!
//! Texts that are missing are the word `None` to APEL, so a text that *is*
//! `None` counts as missing here too. Memory stays bounded by the number of
//! VM-months kept, whatever the number of records loaded: texts are kept
//! once each, and a VM-month is a row of numbers.
//!
//! Known differences from MariaDB: APEL's tables compare texts without
//! case (its collation), so `CESNET` and `cesnet` are one site there and two
//! here, and a status `Completed` is `completed` there but not here; texts
//! longer than APEL's 255-character columns are kept whole here; and a sum
//! that overflows a BIGINT fails SummariseVMs there and
//! [`CloudLedger::summarise`] here, but a delta that overflows on its own
//! is only caught when summed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::cloud::CloudRecord;
use crate::cloud_summary::CloudSummary;
use crate::value::{Decimal3, in_datetime_range, year_month};

/// When a record's usage was measured, as APEL's `ReplaceCloudRecord`
/// decides it, in seconds since the epoch; `None` is MariaDB's zero date.
pub fn measurement_time(record: &CloudRecord<'_>) -> Option<i64> {
    if record.status.as_deref() == Some("completed") {
        return record.end_time;
    }
    if let Some(created) = record.record_create_time {
        return Some(created);
    }
    let measured = record
        .start_time?
        .checked_add(record.suspend_duration.unwrap_or(0))?
        .checked_add(record.wall_duration.unwrap_or(0))?;
    // MariaDB's TIMESTAMPADD gives NULL outside DATETIME's range.
    in_datetime_range(measured).then_some(measured)
}

/// The accounting month of a measurement time: `(year, month)`, or `(0, 0)`
/// for the zero date.
pub fn accounting_month(measured: Option<i64>) -> (i32, i32) {
    match measured {
        Some(seconds) => {
            let (year, month) = year_month(seconds);
            (year, i32::from(month))
        }
        None => (0, 0),
    }
}

/// A sum or a difference too large for a BIGINT, which fails APEL's
/// summariser too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {field} of {what} does not fit a 64-bit number")]
pub struct SummaryError {
    /// The VM-month or summary at fault.
    pub what: String,
    /// The field.
    pub field: &'static str,
}

/// One VM's usage in one month: the record kept for it, with the deltas
/// SummariseVMs computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmMonth {
    /// The VM.
    pub vm_uuid: String,
    /// The accounting month (0 for the zero date).
    pub month: i32,
    /// The accounting year (0 for the zero date).
    pub year: i32,
    /// When the kept record was measured (`None`: the zero date).
    pub measurement_time: Option<i64>,
    /// The kept record's status.
    pub status: Option<String>,
    /// The cumulative wall time the record gives.
    pub wall_duration: Option<i64>,
    /// The cumulative CPU time the record gives.
    pub cpu_duration: Option<i64>,
    /// The cumulative bytes received the record gives.
    pub network_inbound: Option<i64>,
    /// The cumulative bytes sent the record gives.
    pub network_outbound: Option<i64>,
    /// Wall time in this month.
    pub computed_wall_duration: Option<i64>,
    /// CPU time in this month.
    pub computed_cpu_duration: Option<i64>,
    /// Bytes received in this month.
    pub computed_network_inbound: Option<i64>,
    /// Bytes sent in this month.
    pub computed_network_outbound: Option<i64>,
    /// Memory in MB.
    pub memory: Option<i64>,
    /// Disk in GB.
    pub disk: Option<i64>,
}

/// A fast hash for the ledger's small keys (the Fx multiply-rotate scheme);
/// its inputs come from the ledger itself, not from an attacker's choice of
/// keys alone, and a poor spread costs only time.
#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ (rest.len() as u64) << 56);
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_i32(&mut self, n: i32) {
        self.add(n as u32 as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_i64(&mut self, n: i64) {
        self.add(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Texts kept once each, by number; number 0 is no text (APEL's `None`).
/// The last text of each field is remembered, since records of one
/// message mostly repeat their site, service, cloud type and benchmark.
#[derive(Debug, Default, Clone)]
struct Texts {
    numbers: FxMap<Arc<str>, u32>,
    texts: Vec<Arc<str>>,
    last: [u32; FIELDS],
}

/// The text fields of a row, for [`Texts::number_of`].
const FIELDS: usize = 11;

impl Texts {
    /// The number of a field's text, trying the field's last text first.
    fn number_of(&mut self, field: usize, text: Option<&str>) -> u32 {
        let last = self.last[field];
        if last != 0 && text.is_some() && self.text(last) == text {
            return last;
        }
        let number = self.number(text);
        self.last[field] = number;
        number
    }

    fn number(&mut self, text: Option<&str>) -> u32 {
        let Some(text) = text.filter(|t| *t != "None") else { return 0 };
        if let Some(&number) = self.numbers.get(text) {
            return number;
        }
        let text: Arc<str> = Arc::from(text);
        self.texts.push(text.clone());
        let number = self.texts.len() as u32;
        self.numbers.insert(text, number);
        number
    }

    fn text(&self, number: u32) -> Option<&str> {
        (number != 0).then(|| &*self.texts[number as usize - 1])
    }

    fn owned(&self, number: u32) -> Option<String> {
        self.text(number).map(str::to_owned)
    }
}

/// The zero date, ordered before every real time.
const ZERO_DATE: i64 = i64::MIN;

/// The record kept for one VM-month, its texts by number.
#[derive(Debug, Clone)]
struct Row {
    vm: u32,
    /// Year × 12 + month − 1, or `i32::MIN` for the zero date.
    month: i32,
    /// Seconds since the epoch, or [`ZERO_DATE`].
    measured: i64,
    site: u32,
    service: u32,
    user: u32,
    fqan: u32,
    vo: u32,
    vo_group: u32,
    vo_role: u32,
    status: u32,
    cloud_type: u32,
    image: u32,
    benchmark_type: u32,
    start_time: Option<i64>,
    /// Wall, CPU, inbound and outbound: cumulative.
    counters: [Option<i64>; 4],
    memory: Option<i64>,
    disk: Option<i64>,
    cpu_count: Decimal3,
    benchmark: Decimal3,
}

/// The month number of a measurement time: year × 12 + month − 1, or
/// `i32::MIN` for the zero date.
fn month_number(measured: Option<i64>) -> i32 {
    match measured {
        Some(seconds) => {
            let (year, month) = year_month(seconds);
            year * 12 + i32::from(month) - 1
        }
        None => i32::MIN,
    }
}

/// The key a VM-month is kept under besides its VM: year × 12 + month − 1
/// of the record's accounting month, or −1 for the zero date (year 0,
/// month 0), so that keys order as measurement times do.
pub fn month_key(record: &CloudRecord<'_>) -> i32 {
    let (year, month) = accounting_month(measurement_time(record));
    year * 12 + month - 1
}

impl Row {
    /// The row a record makes for VM number `vm`, its texts numbered in
    /// `texts`. A VM's reports mostly repeat their texts: each is compared
    /// with the `earlier` row's (the one it replaces) before it is looked up.
    fn of(
        texts: &mut Texts,
        vm: u32,
        month: i32,
        measured: Option<i64>,
        record: &CloudRecord<'_>,
        earlier: Option<&Row>,
    ) -> Row {
        let mut number = |slot: usize, earlier: Option<u32>, text: Option<&str>| match earlier {
            Some(number) if texts.text(number) == text.filter(|t| *t != "None") => number,
            _ => texts.number_of(slot, text),
        };
        let fqan = number(10, earlier.map(|r| r.fqan), record.fqan.as_deref());
        let (vo, vo_group, vo_role) = match earlier {
            Some(row) if row.fqan == fqan => (row.vo, row.vo_group, row.vo_role),
            _ => {
                let voms = record.voms();
                (number(3, None, voms.vo), number(4, None, voms.group.as_deref()), number(5, None, voms.role))
            }
        };
        Row {
            vm,
            month,
            measured: measured.unwrap_or(ZERO_DATE),
            site: number(0, earlier.map(|r| r.site), Some(&record.site_name)),
            service: number(1, earlier.map(|r| r.service), record.cloud_compute_service.as_deref()),
            user: number(2, earlier.map(|r| r.user), record.global_user_name.as_deref()),
            fqan,
            vo,
            vo_group,
            vo_role,
            status: number(6, earlier.map(|r| r.status), record.status.as_deref()),
            cloud_type: number(7, earlier.map(|r| r.cloud_type), record.cloud_type.as_deref()),
            image: number(8, earlier.map(|r| r.image), record.image_id.as_deref()),
            benchmark_type: number(9, earlier.map(|r| r.benchmark_type), record.benchmark_type.as_deref()),
            start_time: record.start_time,
            counters: [record.wall_duration, record.cpu_duration, record.network_inbound, record.network_outbound],
            memory: record.memory,
            disk: record.disk,
            cpu_count: record.cpu_count,
            benchmark: record.benchmark,
        }
    }

    /// This row's deltas against the VM's earlier-measured row.
    fn deltas(&self, previous: Option<&Row>) -> [Option<i128>; 4] {
        std::array::from_fn(|i| {
            let earlier = previous.and_then(|p| p.counters[i]).unwrap_or(0);
            self.counters[i].map(|value| i128::from(value) - i128::from(earlier))
        })
    }
}

const COUNTERS: [&str; 4] = ["WallDuration", "CpuDuration", "NetworkInbound", "NetworkOutbound"];

/// Cloud records loaded as APEL's server keeps them: the last loaded record
/// per VM and month. Feed it records in load order with
/// [`CloudLedger::load`]; [`CloudLedger::summarise`] gives the monthly
/// summaries at any time.
#[derive(Debug, Default, Clone)]
pub struct CloudLedger {
    vms: Texts,
    texts: Texts,
    rows: Vec<Row>,
    by_vm_month: FxMap<(u32, i32), u32>,
}

impl CloudLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many VM-months are kept.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no record was loaded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Loads a record: it replaces whatever was kept for its VM and month.
    pub fn load(&mut self, record: &CloudRecord<'_>) {
        let measured = measurement_time(record);
        let month = month_number(measured);
        let vm = self.vms.number(Some(&record.vm_uuid));
        let kept = self.by_vm_month.get(&(vm, month)).copied();
        let earlier = kept.map(|at| &self.rows[at as usize]);
        let row = Row::of(&mut self.texts, vm, month, measured, record, earlier);
        match kept {
            Some(at) => self.rows[at as usize] = row,
            None => {
                self.by_vm_month.insert((vm, month), self.rows.len() as u32);
                self.rows.push(row);
            }
        }
    }

    /// Visits the kept VM-months VM by VM in order of measurement, with
    /// their deltas (wall, CPU, inbound, outbound).
    fn walk(&self, mut visit: impl FnMut(&Row, [Option<i128>; 4])) {
        let mut order: Vec<u32> = (0..self.rows.len() as u32).collect();
        order.sort_unstable_by_key(|&at| {
            let row = &self.rows[at as usize];
            (row.vm, row.measured)
        });
        let mut previous: Option<&Row> = None;
        for at in order {
            let row = &self.rows[at as usize];
            if previous.is_some_and(|p| p.vm != row.vm) {
                previous = None;
            }
            visit(row, row.deltas(previous));
            if row.measured != ZERO_DATE {
                previous = Some(row);
            }
        }
    }

    /// Every kept VM-month with its deltas, in order of VMUUID and
    /// measurement time.
    pub fn vm_months(&self) -> Result<Vec<VmMonth>, SummaryError> {
        let mut months = Vec::with_capacity(self.rows.len());
        let mut failure = None;
        self.walk(|row, deltas| {
            let vm_uuid = self.vms.owned(row.vm).unwrap_or_default();
            let (year, month) = month_of(row.month);
            let mut computed = [None; 4];
            for (i, delta) in deltas.into_iter().enumerate() {
                match delta.map(i64::try_from) {
                    None => {}
                    Some(Ok(delta)) => computed[i] = Some(delta),
                    Some(Err(_)) => {
                        let what = format!("VM {vm_uuid} in {year}-{month:02}");
                        failure.get_or_insert(SummaryError { what, field: COUNTERS[i] });
                    }
                }
            }
            months.push(VmMonth {
                vm_uuid,
                month,
                year,
                measurement_time: (row.measured != ZERO_DATE).then_some(row.measured),
                status: self.texts.owned(row.status),
                wall_duration: row.counters[0],
                cpu_duration: row.counters[1],
                network_inbound: row.counters[2],
                network_outbound: row.counters[3],
                computed_wall_duration: computed[0],
                computed_cpu_duration: computed[1],
                computed_network_inbound: computed[2],
                computed_network_outbound: computed[3],
                memory: row.memory,
                disk: row.disk,
            });
        });
        if let Some(failure) = failure {
            return Err(failure);
        }
        months.sort_by(|a, b| (&a.vm_uuid, a.measurement_time).cmp(&(&b.vm_uuid, b.measurement_time)));
        Ok(months)
    }

    /// The monthly summaries, as SummariseVMs computes them, in order of
    /// year, month, site, compute service, user, VO, VO group, VO role,
    /// status, image, CPU count, benchmark type and benchmark (a missing
    /// text sorting as the word `None`).
    pub fn summarise(&self) -> Result<Vec<CloudSummary>, SummaryError> {
        Ok(self.summarise_usage()?.into_iter().map(|usage| usage.summary).collect())
    }

    /// The monthly summaries with the RAM·hours APEL does not keep, in the
    /// order of [`CloudLedger::summarise`].
    pub fn summarise_usage(&self) -> Result<Vec<MonthlyCloudUsage>, SummaryError> {
        let mut summing = Summing::default();
        let vms = &self.vms;
        self.walk(|row, deltas| {
            summing.add(row, deltas, |(a, at), (b, bt)| (vms.text(a), at) < (vms.text(b), bt));
        });
        summing.finish(&self.texts)
    }
}

/// A monthly cloud summary, with what nuvola's views need besides APEL's
/// columns.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyCloudUsage {
    /// The summary, as APEL computes it.
    pub summary: CloudSummary,
    /// Memory held over the month: each VM-month's memory (MB) times its
    /// wall time in the month (its delta), in MB·hours; a VM-month missing
    /// either counts 0.
    pub ram_mb_hours: f64,
}

/// The summary groups SummariseVMs forms.
#[derive(Hash, PartialEq, Eq)]
struct Group {
    site: u32,
    service: u32,
    month: i32,
    user: u32,
    vo: u32,
    vo_group: u32,
    vo_role: u32,
    status: u32,
    image: u32,
    cpu_count: Decimal3,
    benchmark_type: u32,
    benchmark: Decimal3,
}

/// One group's sums so far.
struct Sums {
    /// The cloud type, and the VM and time of the VM-month it is from.
    cloud_type: (u32, u32, i64),
    earliest: Option<i64>,
    latest: Option<i64>,
    counters: [Option<i128>; 4],
    memory: Option<i128>,
    disk: Option<i128>,
    vm_months: i64,
    ram_mb_seconds: i128,
}

/// SummariseVMs' sums over VM-months given with their deltas, in any order.
#[derive(Default)]
struct Summing {
    groups: FxMap<Group, Sums>,
}

impl Summing {
    /// Adds a VM-month; `before` tells whether a (VM, measurement time)
    /// comes before another in order of VMUUID and time.
    fn add(&mut self, row: &Row, deltas: [Option<i128>; 4], before: impl Fn((u32, i64), (u32, i64)) -> bool) {
        fn add(sum: &mut Option<i128>, value: Option<i128>) {
            if let Some(value) = value {
                *sum = Some(sum.unwrap_or(0) + value);
            }
        }
        let group = Group {
            site: row.site,
            service: row.service,
            month: row.month,
            user: row.user,
            vo: row.vo,
            vo_group: row.vo_group,
            vo_role: row.vo_role,
            status: row.status,
            image: row.image,
            cpu_count: row.cpu_count,
            benchmark_type: row.benchmark_type,
            benchmark: row.benchmark,
        };
        let sums = self.groups.entry(group).or_insert_with(|| Sums {
            cloud_type: (row.cloud_type, row.vm, row.measured),
            earliest: None,
            latest: None,
            counters: [None; 4],
            memory: None,
            disk: None,
            vm_months: 0,
            ram_mb_seconds: 0,
        });
        let (cloud_type, vm, measured) = sums.cloud_type;
        if row.cloud_type != cloud_type && before((row.vm, row.measured), (vm, measured)) {
            sums.cloud_type = (row.cloud_type, row.vm, row.measured);
        }
        if let Some(start) = row.start_time {
            sums.earliest = Some(sums.earliest.map_or(start, |e| e.min(start)));
            sums.latest = Some(sums.latest.map_or(start, |l| l.max(start)));
        }
        if let (Some(memory), Some(wall)) = (row.memory, deltas[0]) {
            sums.ram_mb_seconds = sums.ram_mb_seconds.saturating_add(i128::from(memory).saturating_mul(wall));
        }
        for (sum, delta) in sums.counters.iter_mut().zip(deltas) {
            add(sum, delta);
        }
        add(&mut sums.memory, row.memory.map(i128::from));
        add(&mut sums.disk, row.disk.map(i128::from));
        sums.vm_months += 1;
    }

    /// The summaries, sorted as [`CloudLedger::summarise`] sorts them.
    fn finish(self, texts: &Texts) -> Result<Vec<MonthlyCloudUsage>, SummaryError> {
        let mut summaries = Vec::with_capacity(self.groups.len());
        for (group, sums) in self.groups {
            let (year, month) = month_of(group.month);
            let site_name = texts.owned(group.site).unwrap_or_else(|| "None".to_owned());
            let fit = |value: Option<i128>, field: &'static str| {
                value.map(i64::try_from).transpose().map_err(|_| SummaryError {
                    what: format!("site {site_name}'s summary for {year}-{month:02}"),
                    field,
                })
            };
            let summary = CloudSummary {
                cloud_compute_service: texts.owned(group.service),
                month,
                year,
                global_user_name: texts.owned(group.user),
                vo: texts.owned(group.vo),
                vo_group: texts.owned(group.vo_group),
                vo_role: texts.owned(group.vo_role),
                status: texts.owned(group.status),
                cloud_type: texts.owned(sums.cloud_type.0),
                image_id: texts.owned(group.image),
                earliest_start_time: sums.earliest,
                latest_start_time: sums.latest,
                wall_duration: fit(sums.counters[0], COUNTERS[0])?,
                cpu_duration: fit(sums.counters[1], COUNTERS[1])?,
                cpu_count: Some(group.cpu_count),
                network_inbound: fit(sums.counters[2], COUNTERS[2])?,
                network_outbound: fit(sums.counters[3], COUNTERS[3])?,
                memory: fit(sums.memory, "Memory")?,
                disk: fit(sums.disk, "Disk")?,
                benchmark_type: texts.owned(group.benchmark_type),
                benchmark: Some(group.benchmark),
                number_of_vms: sums.vm_months,
                site_name,
            };
            summaries.push(MonthlyCloudUsage { summary, ram_mb_hours: sums.ram_mb_seconds as f64 / 3600.0 });
        }
        sort_usage(&mut summaries);
        Ok(summaries)
    }
}

/// SummariseVMs over VM-months streamed from storage, with memory bounded
/// by the number of summaries (and of distinct texts), not of VM-months.
///
/// Give it each kept VM-month's record (the last loaded for its VM and
/// month) VM by VM, in order of VMUUID (bytewise) and, within a VM, of
/// month (the zero-date month first): [`CloudSummariser::add`] for those to
/// summarise, [`CloudSummariser::add_earlier`] for a VM-month that only
/// serves as the earlier month of the next one (to summarise some months
/// only, give each VM's latest month before them this way). The result is
/// [`CloudLedger::summarise_usage`]'s for the same VM-months.
#[derive(Default)]
pub struct CloudSummariser {
    texts: Texts,
    summing: Summing,
    /// The VM being read, and its number (VMs are numbered in order).
    vm: Option<(String, u32)>,
    /// The VM's latest dated VM-month so far.
    previous: Option<Row>,
}

impl CloudSummariser {
    /// A summariser with nothing added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a VM-month to summarise.
    pub fn add(&mut self, record: &CloudRecord<'_>) {
        self.push(record, true);
    }

    /// Adds a VM-month that only serves as the earlier month of its VM's
    /// next one.
    pub fn add_earlier(&mut self, record: &CloudRecord<'_>) {
        self.push(record, false);
    }

    fn push(&mut self, record: &CloudRecord<'_>, summarise: bool) {
        let vm = match &self.vm {
            Some((uuid, number)) if *uuid == record.vm_uuid => *number,
            _ => {
                debug_assert!(
                    self.vm.as_ref().is_none_or(|(uuid, _)| uuid.as_str() < &*record.vm_uuid),
                    "VMs must come in order of VMUUID"
                );
                let number = self.vm.as_ref().map_or(0, |(_, n)| n + 1);
                self.vm = Some((record.vm_uuid.to_string(), number));
                self.previous = None;
                number
            }
        };
        let measured = measurement_time(record);
        let row = Row::of(&mut self.texts, vm, month_number(measured), measured, record, None);
        if summarise {
            let deltas = row.deltas(self.previous.as_ref());
            self.summing.add(&row, deltas, |a, b| a < b);
        }
        if row.measured != ZERO_DATE {
            self.previous = Some(row);
        }
    }

    /// The monthly summaries of the VM-months added to summarise, sorted as
    /// [`CloudLedger::summarise`] sorts them.
    pub fn finish(self) -> Result<Vec<MonthlyCloudUsage>, SummaryError> {
        self.summing.finish(&self.texts)
    }
}

/// The records of one message (or any run of records in load order) that
/// survive "the last loaded record wins" among themselves, one per VM and
/// [`month_key`], in the order their VM-month was first seen. Loading
/// these instead of all the records leaves the same VM-months.
pub fn last_per_vm_month<'a>(records: impl IntoIterator<Item = CloudRecord<'a>>) -> Vec<(i32, CloudRecord<'a>)> {
    let mut kept = LastPerVmMonth::default();
    for record in records {
        kept.push(record);
    }
    kept.take()
}

/// Records gathered in load order, keeping the last one per VM and
/// [`month_key`]: what [`last_per_vm_month`] returns, gathered a run at a
/// time, so that a load can write each VM-month once however many of its
/// messages report it.
#[derive(Debug, Default)]
pub struct LastPerVmMonth<'a> {
    kept: Vec<(i32, CloudRecord<'a>)>,
    at: FxMap<(std::borrow::Cow<'a, str>, i32), usize>,
}

impl<'a> LastPerVmMonth<'a> {
    /// Keeps `record`, in place of the one of its VM-month kept before.
    pub fn push(&mut self, record: CloudRecord<'a>) {
        let key = month_key(&record);
        match self.at.entry((record.vm_uuid.clone(), key)) {
            std::collections::hash_map::Entry::Occupied(i) => self.kept[*i.get()] = (key, record),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(self.kept.len());
                self.kept.push((key, record));
            }
        }
    }

    /// The VM-months kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The kept records with their month keys, in the order their
    /// VM-month was first seen; leaves none kept.
    pub fn take(&mut self) -> Vec<(i32, CloudRecord<'a>)> {
        self.at.clear();
        std::mem::take(&mut self.kept)
    }
}

/// Sorts summaries as [`CloudLedger::summarise`] lists them.
pub fn sort_usage(usage: &mut [MonthlyCloudUsage]) {
    usage.sort_by(|a, b| summary_order(&a.summary).cmp(&summary_order(&b.summary)));
}

/// The year and month of a row's month number.
fn month_of(month: i32) -> (i32, i32) {
    if month == i32::MIN { (0, 0) } else { (month.div_euclid(12), month.rem_euclid(12) + 1) }
}

type Order<'s> = (i32, i32, [&'s str; 8], Option<Decimal3>, &'s str, Option<Decimal3>);

/// The order summaries are listed in.
fn summary_order(s: &CloudSummary) -> Order<'_> {
    fn text(t: &Option<String>) -> &str {
        t.as_deref().unwrap_or("None")
    }
    (
        s.year,
        s.month,
        [
            &s.site_name,
            text(&s.cloud_compute_service),
            text(&s.global_user_name),
            text(&s.vo),
            text(&s.vo_group),
            text(&s.vo_role),
            text(&s.status),
            text(&s.image_id),
        ],
        s.cpu_count,
        text(&s.benchmark_type),
        s.benchmark,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(vm: &str, status: &str, start: i64, wall: i64) -> CloudRecord<'static> {
        let mut r = CloudRecord::new(vm.to_owned(), "SITE".to_owned());
        r.status = Some(status.to_owned().into());
        r.start_time = Some(start);
        r.wall_duration = Some(wall);
        r.cpu_duration = Some(wall / 2);
        r.memory = Some(1024);
        r
    }

    const JAN_1: i64 = 1_704_067_200;
    const DAY: i64 = 86_400;

    #[test]
    fn the_month_comes_from_the_end_the_creation_or_the_start_plus_durations() {
        let mut r = record("vm", "started", JAN_1, 40 * DAY);
        assert_eq!(accounting_month(measurement_time(&r)), (2024, 2));
        r.suspend_duration = Some(30 * DAY);
        assert_eq!(accounting_month(measurement_time(&r)), (2024, 3));
        r.record_create_time = Some(JAN_1 + 5);
        assert_eq!(accounting_month(measurement_time(&r)), (2024, 1));
        r.status = Some("completed".into());
        r.end_time = Some(JAN_1 - 1);
        assert_eq!(accounting_month(measurement_time(&r)), (2023, 12));
        r.end_time = None;
        assert_eq!(measurement_time(&r), None);
        assert_eq!(accounting_month(None), (0, 0));
    }

    #[test]
    fn the_last_loaded_record_of_a_month_wins_and_months_take_deltas() {
        let mut ledger = CloudLedger::new();
        ledger.load(&record("vm", "started", JAN_1, 10 * DAY));
        // Re-sent and corrected: the later load replaces the first.
        ledger.load(&record("vm", "started", JAN_1, 20 * DAY));
        ledger.load(&record("vm", "started", JAN_1, 45 * DAY));
        // An older measurement loaded last still replaces January's row.
        ledger.load(&record("vm", "started", JAN_1, 5 * DAY));
        assert_eq!(ledger.len(), 2);
        let months = ledger.vm_months().unwrap();
        let walls: Vec<_> = months.iter().map(|m| (m.month, m.computed_wall_duration)).collect();
        assert_eq!(walls, [(1, Some(5 * DAY)), (2, Some(40 * DAY))]);
        let summaries = ledger.summarise().unwrap();
        assert_eq!(summaries.len(), 2);
        assert_eq!(summaries[1].wall_duration, Some(40 * DAY));
        assert_eq!(summaries[1].cpu_duration, Some(45 * DAY / 2 - 5 * DAY / 2));
        assert_eq!(summaries[1].memory, Some(1024));
        assert_eq!(summaries[1].number_of_vms, 1);
        // RAM·hours: memory times the month's wall time.
        let usage = ledger.summarise_usage().unwrap();
        assert_eq!(usage[1].ram_mb_hours, 1024.0 * 40.0 * 24.0);
        assert_eq!(usage[0].ram_mb_hours, 1024.0 * 5.0 * 24.0);
    }

    #[test]
    fn the_last_record_of_a_vm_month_is_kept_within_a_run() {
        let mut late = record("vm", "started", JAN_1, 20 * DAY);
        late.memory = Some(4096);
        let kept = last_per_vm_month([
            record("vm", "started", JAN_1, 10 * DAY),
            record("other", "started", JAN_1, DAY),
            late,
            record("vm", "started", JAN_1, 40 * DAY),
        ]);
        let seen: Vec<_> = kept.iter().map(|(key, r)| (&*r.vm_uuid, *key, r.memory)).collect();
        assert_eq!(
            seen,
            [("vm", 2024 * 12, Some(4096)), ("other", 2024 * 12, Some(1024)), ("vm", 2024 * 12 + 1, Some(1024))]
        );
        let mut undated = record("vm", "completed", JAN_1, DAY);
        undated.end_time = None;
        assert_eq!(month_key(&undated), -1);
    }

    #[test]
    fn the_zero_date_month_is_summed_whole_and_never_subtracted() {
        let mut ledger = CloudLedger::new();
        let mut undated = record("vm", "completed", JAN_1, 50 * DAY);
        undated.end_time = None;
        ledger.load(&undated);
        ledger.load(&record("vm", "started", JAN_1, 10 * DAY));
        let months = ledger.vm_months().unwrap();
        let walls: Vec<_> = months.iter().map(|m| (m.year, m.month, m.computed_wall_duration)).collect();
        assert_eq!(walls, [(0, 0, Some(50 * DAY)), (2024, 1, Some(10 * DAY))]);
    }

    #[test]
    fn a_missing_value_gives_no_delta_and_sums_skip_it() {
        let mut ledger = CloudLedger::new();
        let mut first = record("a", "started", JAN_1, 10 * DAY);
        first.network_inbound = Some(100);
        ledger.load(&first);
        let mut second = record("a", "started", JAN_1, 40 * DAY);
        second.network_inbound = None;
        ledger.load(&second);
        let mut other = record("b", "started", JAN_1, 35 * DAY);
        other.network_inbound = Some(7);
        other.memory = None;
        ledger.load(&other);
        let summaries = ledger.summarise().unwrap();
        let february = &summaries[1];
        assert_eq!((february.month, february.number_of_vms), (2, 2));
        assert_eq!(february.network_inbound, Some(7));
        assert_eq!(february.memory, Some(1024));
        assert_eq!(february.earliest_start_time, Some(JAN_1));
    }

    #[test]
    fn a_sum_beyond_a_bigint_is_refused() {
        let mut ledger = CloudLedger::new();
        for vm in ["a", "b"] {
            let mut r = record(vm, "started", JAN_1, DAY);
            r.disk = Some(i64::MAX);
            ledger.load(&r);
        }
        let error = ledger.summarise().unwrap_err();
        assert_eq!(error.field, "Disk");
        assert_eq!(error.to_string(), "the Disk of site SITE's summary for 2024-01 does not fit a 64-bit number");
    }
}
