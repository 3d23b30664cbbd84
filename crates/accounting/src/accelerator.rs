//! Accelerator (GPU, FPGA) usage records and summaries, from APEL's
//! accelerator record type (its pull request 459: `AcceleratorRecord`,
//! `AcceleratorSummary`, their JSON schemas) and cASO's accelerator
//! records. Two forms:
//!
//! - **JSON**, as cASO sends records and APEL's loader reads them:
//!   `{"Type": "APEL-accelerator-message", "Version": "0.1", "UsageRecords":
//!   [...]}`, summaries with the type `APEL-accelerator-summary-message`.
//!   APEL's schema applies: the month is 1–12, the year 2000 or later, the
//!   associated record type `cloud` or `job`, the type `GPU`, `FPGA` or
//!   `Other`, at most 1,000 records.
//! - **Text**, as APEL's records print themselves (`Key: Value` lines,
//!   records separated by `%%`), under a header line
//!   `APEL-accelerator-message` or `APEL-accelerator-summary-message` (with
//!   or without a version `v0.1`), as APEL's unloader writes them.
//!
//! Mandatory fields are APEL's; `CloudType` and `CloudComputeService`,
//! which APEL accepts and ignores, are kept; cASO's `benchmark_value` is
//! read as `Benchmark`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Location, ParseError, Problem, WriteError};
use crate::json::{self, JsonRecord};
use crate::text::{self, Entries, write_number, write_text};
use crate::value::{self, Decimal3, is_null};

/// The type of a message of accelerator records.
pub const RECORD_TYPE: &str = "APEL-accelerator-message";
/// The type of a message of accelerator summaries.
pub const SUMMARY_TYPE: &str = "APEL-accelerator-summary-message";
/// The JSON messages' version.
pub const VERSION: &str = "0.1";

const ASSOCIATED_RECORD_TYPES: &[&str] = &["cloud", "job"];
const TYPES: &[&str] = &["GPU", "FPGA", "Other"];

/// One accelerator's use by one VM (or job) in one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceleratorRecord {
    /// The month, 1 to 12.
    pub measurement_month: i64,
    /// The year.
    pub measurement_year: i64,
    /// What the accelerator was attached to: `cloud` (a VM) or `job`.
    pub associated_record_type: String,
    /// The VM's (or job's) identifier.
    pub associated_record: String,
    /// The user's global identity.
    pub global_user_name: Option<String>,
    /// The user's VO or project.
    pub fqan: String,
    /// The site.
    pub site_name: String,
    /// How many accelerators.
    pub count: Decimal3,
    /// Cores per accelerator.
    pub cores: Option<i64>,
    /// Seconds the accelerators were busy.
    pub active_duration: Option<i64>,
    /// Seconds the accelerators were held.
    pub available_duration: i64,
    /// The benchmark's name.
    pub benchmark_type: Option<String>,
    /// The benchmark's value.
    pub benchmark: Option<Decimal3>,
    /// `GPU`, `FPGA`, `Other`.
    pub accelerator_type: String,
    /// The accelerator's model.
    pub model: Option<String>,
    /// The cloud software (cASO sends it; APEL ignores it).
    pub cloud_type: Option<String>,
    /// The compute service (cASO sends it; APEL ignores it).
    pub cloud_compute_service: Option<String>,
}

/// Accelerator use summed per month, site, user, type and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceleratorSummary {
    /// The month, 1 to 12.
    pub month: i64,
    /// The year.
    pub year: i64,
    /// `cloud` or `job`.
    pub associated_record_type: String,
    /// The users' global identity.
    pub global_user_name: Option<String>,
    /// The site.
    pub site_name: String,
    /// How many accelerators.
    pub count: Decimal3,
    /// Cores per accelerator.
    pub cores: Option<i64>,
    /// Seconds the accelerators were held.
    pub available_duration: i64,
    /// Seconds the accelerators were busy.
    pub active_duration: Option<i64>,
    /// The benchmark's name.
    pub benchmark_type: Option<String>,
    /// The benchmark's value.
    pub benchmark: Option<Decimal3>,
    /// `GPU`, `FPGA`, `Other`.
    pub accelerator_type: String,
    /// The accelerator's model.
    pub model: Option<String>,
    /// How many records the row sums.
    pub number_of_records: i64,
    /// Who summarised (`summariser` in APEL's table).
    pub publisher_dn: Option<String>,
    /// The users' VO (in APEL's JSON schema, not its table).
    pub fqan: Option<String>,
    /// The cloud software (accepted, ignored by APEL).
    pub cloud_type: Option<String>,
    /// The compute service (accepted, ignored by APEL).
    pub cloud_compute_service: Option<String>,
}

/// What a JSON accelerator message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceleratorMessage {
    /// Records, as cASO sends them.
    Records(Vec<AcceleratorRecord>),
    /// Summaries, as a site's APEL client sends them.
    Summaries(Vec<AcceleratorSummary>),
}

/// Reads a JSON accelerator message (records or summaries, by its `Type`).
pub fn parse_json(message: &[u8]) -> Result<AcceleratorMessage, ParseError> {
    from_envelope(json::envelope(message)?)
}

/// The records or summaries of a JSON message already opened.
pub(crate) fn from_envelope(envelope: json::Envelope) -> Result<AcceleratorMessage, ParseError> {
    let root = || Location::Json("$".to_owned());
    if envelope.version != VERSION {
        return Err(ParseError::field(
            root(),
            "Version",
            Problem::WrongVersion { found: envelope.version, accepted: "0.1" },
        ));
    }
    let records = envelope.records.into_iter().enumerate();
    match envelope.kind.as_str() {
        RECORD_TYPE => records
            .map(|(i, value)| json_record(JsonRecord::new(i, value)?))
            .collect::<Result<_, _>>()
            .map(AcceleratorMessage::Records),
        SUMMARY_TYPE => records
            .map(|(i, value)| json_summary(JsonRecord::new(i, value)?))
            .collect::<Result<_, _>>()
            .map(AcceleratorMessage::Summaries),
        _ => Err(ParseError::field(
            root(),
            "Type",
            Problem::NotOneOf { value: envelope.kind, allowed: format!("{RECORD_TYPE}, {SUMMARY_TYPE}") },
        )),
    }
}

fn json_record(mut r: JsonRecord) -> Result<AcceleratorRecord, ParseError> {
    let benchmark = match r.decimal("Benchmark")? {
        Some(benchmark) => Some(benchmark),
        None => r.decimal("benchmark_value")?,
    };
    let record = AcceleratorRecord {
        measurement_month: r.required_int("MeasurementMonth")?,
        measurement_year: r.required_int("MeasurementYear")?,
        associated_record_type: r.required_text("AssociatedRecordType")?,
        associated_record: r.required_text("AssociatedRecord")?,
        global_user_name: r.text("GlobalUserName")?,
        fqan: r.required_text("FQAN")?,
        site_name: r.required_text("SiteName")?,
        count: r.required_decimal("Count")?,
        cores: r.int("Cores")?,
        active_duration: r.int("ActiveDuration")?,
        available_duration: r.required_int("AvailableDuration")?,
        benchmark_type: r.text("BenchmarkType")?,
        benchmark,
        accelerator_type: r.required_text("Type")?,
        model: r.text("Model")?,
        cloud_type: r.text("CloudType")?,
        cloud_compute_service: r.text("CloudComputeService")?,
    };
    r.within("MeasurementMonth", record.measurement_month, 1..=12, "1 to 12")?;
    r.within("MeasurementYear", record.measurement_year, 2000..=9999, "2000 or later")?;
    r.one_of("AssociatedRecordType", &record.associated_record_type, ASSOCIATED_RECORD_TYPES)?;
    r.one_of("Type", &record.accelerator_type, TYPES)?;
    r.finish()?;
    Ok(record)
}

fn json_summary(mut r: JsonRecord) -> Result<AcceleratorSummary, ParseError> {
    let summary = AcceleratorSummary {
        month: r.required_int("Month")?,
        year: r.required_int("Year")?,
        associated_record_type: r.required_text("AssociatedRecordType")?,
        global_user_name: r.text("GlobalUserName")?,
        site_name: r.required_text("SiteName")?,
        count: r.required_decimal("Count")?,
        cores: r.int("Cores")?,
        available_duration: r.required_int("AvailableDuration")?,
        active_duration: r.int("ActiveDuration")?,
        benchmark_type: r.text("BenchmarkType")?,
        benchmark: r.decimal("Benchmark")?,
        accelerator_type: r.required_text("Type")?,
        model: r.text("Model")?,
        number_of_records: r.required_int("NumberOfRecords")?,
        publisher_dn: r.text("PublisherDNID")?,
        fqan: r.text("FQAN")?,
        cloud_type: r.text("CloudType")?,
        cloud_compute_service: r.text("CloudComputeService")?,
    };
    r.within("Month", summary.month, 1..=12, "1 to 12")?;
    r.within("Year", summary.year, 2000..=9999, "2000 or later")?;
    r.one_of("AssociatedRecordType", &summary.associated_record_type, ASSOCIATED_RECORD_TYPES)?;
    r.one_of("Type", &summary.accelerator_type, TYPES)?;
    r.finish()?;
    Ok(summary)
}

/// Reads a text message of accelerator records (header
/// `APEL-accelerator-message`).
pub fn parse_records_text(message: &[u8]) -> Result<Vec<AcceleratorRecord>, ParseError> {
    let (_, mut entries) = text::open(message, RECORD_TYPE, RECORD_TYPE, &["", "v0.1", "0.1"], "none, or v0.1")?;
    std::iter::from_fn(|| read_record(&mut entries)).collect()
}

/// Reads a text message of accelerator summaries (header
/// `APEL-accelerator-summary-message`).
pub fn parse_summaries_text(message: &[u8]) -> Result<Vec<AcceleratorSummary>, ParseError> {
    let (_, mut entries) = text::open(message, SUMMARY_TYPE, SUMMARY_TYPE, &["", "v0.1", "0.1"], "none, or v0.1")?;
    std::iter::from_fn(|| read_summary(&mut entries)).collect()
}

/// Reads one record's lines (no header).
pub fn parse_record(body: &str) -> Result<AcceleratorRecord, ParseError> {
    read_record(&mut Entries::new(body)).unwrap_or(Err(ParseError::at(Location::Line(1), Problem::Empty)))
}

/// Reads one summary's lines (no header).
pub fn parse_summary(body: &str) -> Result<AcceleratorSummary, ParseError> {
    read_summary(&mut Entries::new(body)).unwrap_or(Err(ParseError::at(Location::Line(1), Problem::Empty)))
}

/// The fields of a text record seen so far, with their lines.
struct TextFields<'a> {
    fields: Vec<(usize, &'a str, &'a str)>,
    first: usize,
}

impl<'a> TextFields<'a> {
    /// Reads one record's lines, refusing keys not in `known`.
    fn read(entries: &mut Entries<'a>, known: &[&str]) -> Option<Result<Self, ParseError>> {
        let mut fields = Vec::new();
        let first = entries.read_record(|line, key, value| {
            if !known.contains(&key) {
                return Err(ParseError::field(Location::Line(line), key, Problem::UnknownField));
            }
            // A repeated key: the last one counts, as in APEL.
            fields.retain(|(_, k, _)| *k != key);
            fields.push((line, key, value));
            Ok(())
        })?;
        Some(first.map(|first| TextFields { fields, first }))
    }

    fn get(&self, key: &str) -> Option<(usize, &'a str)> {
        self.fields.iter().find(|(_, k, _)| *k == key).map(|&(line, _, value)| (line, value))
    }

    fn text(&self, key: &str) -> Option<String> {
        self.get(key).filter(|(_, v)| !is_null(v)).map(|(_, v)| v.to_owned())
    }

    fn required(&self, key: &str) -> Result<(usize, &'a str), ParseError> {
        match self.get(key) {
            None => Err(ParseError::field(Location::Line(self.first), key, Problem::Missing)),
            Some((line, value)) if is_null(value) => Err(ParseError::field(Location::Line(line), key, Problem::Null)),
            Some(found) => Ok(found),
        }
    }

    fn required_text(&self, key: &str) -> Result<String, ParseError> {
        self.required(key).map(|(_, v)| v.to_owned())
    }

    fn convert<T>(line: usize, key: &str, result: Result<T, Problem>) -> Result<T, ParseError> {
        result.map_err(|problem| ParseError::field(Location::Line(line), key, problem))
    }

    fn int(&self, key: &str) -> Result<Option<i64>, ParseError> {
        match self.get(key).filter(|(_, v)| !is_null(v)) {
            None => Ok(None),
            Some((line, value)) => Self::convert(line, key, value::parse_int(value)).map(Some),
        }
    }

    fn required_int(&self, key: &str) -> Result<i64, ParseError> {
        let (line, value) = self.required(key)?;
        Self::convert(line, key, value::parse_int(value))
    }

    fn decimal(&self, key: &str) -> Result<Option<Decimal3>, ParseError> {
        match self.get(key).filter(|(_, v)| !is_null(v)) {
            None => Ok(None),
            Some((line, value)) => Self::convert(line, key, Decimal3::parse(value)).map(Some),
        }
    }

    fn required_decimal(&self, key: &str) -> Result<Decimal3, ParseError> {
        let (line, value) = self.required(key)?;
        Self::convert(line, key, Decimal3::parse(value))
    }
}

const RECORD_FIELDS: &[&str] = &[
    "MeasurementMonth",
    "MeasurementYear",
    "AssociatedRecordType",
    "AssociatedRecord",
    "GlobalUserName",
    "FQAN",
    "SiteName",
    "Count",
    "Cores",
    "ActiveDuration",
    "AvailableDuration",
    "BenchmarkType",
    "Benchmark",
    "Type",
    "Model",
    "CloudType",
    "CloudComputeService",
];

const SUMMARY_FIELDS: &[&str] = &[
    "Month",
    "Year",
    "AssociatedRecordType",
    "GlobalUserName",
    "SiteName",
    "Count",
    "Cores",
    "AvailableDuration",
    "ActiveDuration",
    "BenchmarkType",
    "Benchmark",
    "Type",
    "Model",
    "NumberOfRecords",
    "PublisherDNID",
    "FQAN",
    "CloudType",
    "CloudComputeService",
];

fn read_record(entries: &mut Entries<'_>) -> Option<Result<AcceleratorRecord, ParseError>> {
    let fields = match TextFields::read(entries, RECORD_FIELDS)? {
        Ok(fields) => fields,
        Err(error) => return Some(Err(error)),
    };
    let f = &fields;
    Some((|| {
        Ok(AcceleratorRecord {
            measurement_month: f.required_int("MeasurementMonth")?,
            measurement_year: f.required_int("MeasurementYear")?,
            associated_record_type: f.required_text("AssociatedRecordType")?,
            associated_record: f.required_text("AssociatedRecord")?,
            global_user_name: f.text("GlobalUserName"),
            fqan: f.required_text("FQAN")?,
            site_name: f.required_text("SiteName")?,
            count: f.required_decimal("Count")?,
            cores: f.int("Cores")?,
            active_duration: f.int("ActiveDuration")?,
            available_duration: f.required_int("AvailableDuration")?,
            benchmark_type: f.text("BenchmarkType"),
            benchmark: f.decimal("Benchmark")?,
            accelerator_type: f.required_text("Type")?,
            model: f.text("Model"),
            cloud_type: f.text("CloudType"),
            cloud_compute_service: f.text("CloudComputeService"),
        })
    })())
}

fn read_summary(entries: &mut Entries<'_>) -> Option<Result<AcceleratorSummary, ParseError>> {
    let fields = match TextFields::read(entries, SUMMARY_FIELDS)? {
        Ok(fields) => fields,
        Err(error) => return Some(Err(error)),
    };
    let f = &fields;
    Some((|| {
        Ok(AcceleratorSummary {
            month: f.required_int("Month")?,
            year: f.required_int("Year")?,
            associated_record_type: f.required_text("AssociatedRecordType")?,
            global_user_name: f.text("GlobalUserName"),
            site_name: f.required_text("SiteName")?,
            count: f.required_decimal("Count")?,
            cores: f.int("Cores")?,
            available_duration: f.required_int("AvailableDuration")?,
            active_duration: f.int("ActiveDuration")?,
            benchmark_type: f.text("BenchmarkType"),
            benchmark: f.decimal("Benchmark")?,
            accelerator_type: f.required_text("Type")?,
            model: f.text("Model"),
            number_of_records: f.required_int("NumberOfRecords")?,
            publisher_dn: f.text("PublisherDNID"),
            fqan: f.text("FQAN"),
            cloud_type: f.text("CloudType"),
            cloud_compute_service: f.text("CloudComputeService"),
        })
    })())
}

/// Writes summaries as a text message, as APEL's unloader writes them: the
/// header `APEL-accelerator-summary-message`, then each summary's fields in
/// APEL's order (a missing value written `None`), each followed by `%%`.
pub fn write_summaries_text<'s>(
    summaries: impl IntoIterator<Item = &'s AcceleratorSummary>,
) -> Result<String, WriteError> {
    let mut out = String::with_capacity(1024);
    out.push_str(SUMMARY_TYPE);
    out.push('\n');
    for s in summaries {
        write_number(&mut out, "Month", Some(s.month));
        write_number(&mut out, "Year", Some(s.year));
        write_text(&mut out, "AssociatedRecordType", Some(&s.associated_record_type))?;
        write_text(&mut out, "GlobalUserName", s.global_user_name.as_deref())?;
        write_text(&mut out, "SiteName", Some(&s.site_name))?;
        write_number(&mut out, "Count", Some(s.count));
        write_number(&mut out, "Cores", s.cores);
        write_number(&mut out, "AvailableDuration", Some(s.available_duration));
        write_number(&mut out, "ActiveDuration", s.active_duration);
        write_text(&mut out, "BenchmarkType", s.benchmark_type.as_deref())?;
        write_number(&mut out, "Benchmark", s.benchmark);
        write_text(&mut out, "Type", Some(&s.accelerator_type))?;
        write_text(&mut out, "Model", s.model.as_deref())?;
        write_number(&mut out, "NumberOfRecords", Some(s.number_of_records));
        write_text(&mut out, "PublisherDNID", s.publisher_dn.as_deref())?;
        out.push_str("%%\n");
    }
    Ok(out)
}

/// Writes summaries as a JSON message of type
/// `APEL-accelerator-summary-message`, version 0.1, leaving missing values
/// out as cASO does.
pub fn write_summaries_json<'s>(summaries: impl IntoIterator<Item = &'s AcceleratorSummary>) -> String {
    let records = summaries
        .into_iter()
        .map(|s| {
            let mut record = serde_json::Map::new();
            let mut put = |key: &str, value: Option<Value>| {
                if let Some(value) = value {
                    record.insert(key.to_owned(), value);
                }
            };
            let text = |value: &Option<String>| value.clone().map(Value::String);
            put("Month", Some(s.month.into()));
            put("Year", Some(s.year.into()));
            put("AssociatedRecordType", Some(s.associated_record_type.clone().into()));
            put("GlobalUserName", text(&s.global_user_name));
            put("SiteName", Some(s.site_name.clone().into()));
            put("Count", Some(json::number(s.count)));
            put("Cores", s.cores.map(Value::from));
            put("AvailableDuration", Some(s.available_duration.into()));
            put("ActiveDuration", s.active_duration.map(Value::from));
            put("BenchmarkType", text(&s.benchmark_type));
            put("Benchmark", s.benchmark.map(json::number));
            put("Type", Some(s.accelerator_type.clone().into()));
            put("Model", text(&s.model));
            put("NumberOfRecords", Some(s.number_of_records.into()));
            put("PublisherDNID", text(&s.publisher_dn));
            put("FQAN", text(&s.fqan));
            put("CloudType", text(&s.cloud_type));
            put("CloudComputeService", text(&s.cloud_compute_service));
            Value::Object(record)
        })
        .collect();
    json::write_envelope(SUMMARY_TYPE, VERSION, records)
}

/// Accelerator records as APEL's AcceleratorRecords table keeps them: the
/// last loaded record per month, year, associated record type, associated
/// record (the VM), site and model wins.
#[derive(Debug, Default, Clone)]
pub struct AcceleratorLedger {
    records: BTreeMap<RecordKey, AcceleratorRecord>,
}

type RecordKey = (i64, i64, String, String, String, Option<String>);

impl AcceleratorLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record was loaded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Loads a record: it replaces the one kept for its VM, month and model.
    pub fn load(&mut self, record: AcceleratorRecord) {
        let key = (
            record.measurement_year,
            record.measurement_month,
            record.associated_record_type.clone(),
            record.associated_record.clone(),
            record.site_name.clone(),
            record.model.clone(),
        );
        self.records.insert(key, record);
    }

    /// The monthly summaries, grouped as APEL's `SummariseAccelerators`
    /// groups them: by month, year, associated record type, user, site,
    /// cores, type, model, benchmark and benchmark type; the held and busy
    /// seconds summed (a sum of only missing values is missing; a sum past
    /// the largest 64-bit number stays there), the records
    /// counted, and the count of accelerators taken from the group's first
    /// record in order of VM (APEL does not group by it, and MariaDB returns
    /// any row's). APEL's summary table is keyed more coarsely than its
    /// grouping (month, year, record type, site, type and model only), so
    /// there a later group replaces an earlier one of the same key; here
    /// every group is a row.
    pub fn summarise(&self) -> Vec<AcceleratorSummary> {
        type GroupKey<'r> = (
            i64,
            i64,
            &'r str,
            Option<&'r str>,
            &'r str,
            Option<i64>,
            &'r str,
            Option<&'r str>,
            Option<Decimal3>,
            Option<&'r str>,
        );
        let mut groups: BTreeMap<GroupKey<'_>, AcceleratorSummary> = BTreeMap::new();
        for r in self.records.values() {
            let key = (
                r.measurement_year,
                r.measurement_month,
                r.associated_record_type.as_str(),
                r.global_user_name.as_deref(),
                r.site_name.as_str(),
                r.cores,
                r.accelerator_type.as_str(),
                r.model.as_deref(),
                r.benchmark,
                r.benchmark_type.as_deref(),
            );
            let summary = groups.entry(key).or_insert_with(|| AcceleratorSummary {
                month: r.measurement_month,
                year: r.measurement_year,
                associated_record_type: r.associated_record_type.clone(),
                global_user_name: r.global_user_name.clone(),
                site_name: r.site_name.clone(),
                count: r.count,
                cores: r.cores,
                available_duration: 0,
                active_duration: None,
                benchmark_type: r.benchmark_type.clone(),
                benchmark: r.benchmark,
                accelerator_type: r.accelerator_type.clone(),
                model: r.model.clone(),
                number_of_records: 0,
                publisher_dn: None,
                fqan: None,
                cloud_type: None,
                cloud_compute_service: None,
            });
            summary.available_duration = summary.available_duration.saturating_add(r.available_duration);
            if let Some(active) = r.active_duration {
                summary.active_duration = Some(summary.active_duration.unwrap_or(0).saturating_add(active));
            }
            summary.number_of_records += 1;
        }
        groups.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(vm: &str, user: &str, model: &str, held: i64) -> AcceleratorRecord {
        AcceleratorRecord {
            measurement_month: 3,
            measurement_year: 2024,
            associated_record_type: "cloud".into(),
            associated_record: vm.into(),
            global_user_name: Some(user.into()),
            fqan: "physics".into(),
            site_name: "BARI".into(),
            count: Decimal3::from_int(2).unwrap(),
            cores: None,
            active_duration: None,
            available_duration: held,
            benchmark_type: None,
            benchmark: None,
            accelerator_type: "GPU".into(),
            model: Some(model.into()),
            cloud_type: None,
            cloud_compute_service: None,
        }
    }

    #[test]
    fn the_last_record_per_vm_month_and_model_wins_and_groups_sum() {
        let mut ledger = AcceleratorLedger::new();
        ledger.load(gpu("vm-1", "alice", "A100", 3600));
        ledger.load(gpu("vm-1", "alice", "A100", 7200));
        ledger.load(gpu("vm-2", "alice", "A100", 100));
        ledger.load(AcceleratorRecord { active_duration: Some(50), ..gpu("vm-3", "alice", "A100", 200) });
        ledger.load(gpu("vm-4", "bob", "A100", 10));
        ledger.load(gpu("vm-1", "alice", "T4", 60));
        assert_eq!(ledger.len(), 5);
        let summaries = ledger.summarise();
        let rows: Vec<_> = summaries
            .iter()
            .map(|s| {
                (
                    s.global_user_name.as_deref(),
                    s.model.as_deref(),
                    s.available_duration,
                    s.active_duration,
                    s.number_of_records,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (Some("alice"), Some("A100"), 7500, Some(50), 3),
                (Some("alice"), Some("T4"), 60, None, 1),
                (Some("bob"), Some("A100"), 10, None, 1),
            ]
        );
        assert_eq!(summaries[0].count, Decimal3::from_int(2).unwrap());
    }
}
