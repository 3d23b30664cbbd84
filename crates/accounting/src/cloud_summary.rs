//! APEL cloud summary messages (`APEL-cloud-summary-message: v0.4`): a
//! site's monthly sums per compute service, user, VO, status, image, CPU
//! count and benchmark, as its APEL client sends them upstream and as
//! [`crate::summarise`] computes them.
//!
//! Read as APEL's `CloudSummaryRecord` reads them: `SiteName`, `Month`,
//! `Year` and `NumberOfVMs` are mandatory; any other field may be missing
//! or hold a word meaning no value, which becomes `None`; `UpdateTime` is
//! accepted and ignored. Written as APEL's unloader writes them: every
//! field in APEL's order, `None` for a missing text or number, a missing
//! start time left out, decimals as Python writes floats.

use crate::error::{Location, ParseError, Problem, WriteError};
use crate::text::{self, Entries, write_number, write_text, write_time};
use crate::value::{self, Decimal3, is_null};

/// The header's message type.
pub const HEADER: &str = "APEL-cloud-summary-message";
/// The header nuvola writes.
pub const HEADER_LINE: &str = "APEL-cloud-summary-message: v0.4";
const VERSIONS: &[&str] = &["v0.2", "v0.3", "v0.4"];

/// One row of monthly cloud usage, as APEL's CloudSummaries table holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloudSummary {
    /// The site.
    pub site_name: String,
    /// The compute service of the site.
    pub cloud_compute_service: Option<String>,
    /// The month, 1 to 12 (0 for records APEL could not date).
    pub month: i32,
    /// The year (0 for records APEL could not date).
    pub year: i32,
    /// The users' global identity.
    pub global_user_name: Option<String>,
    /// The VO.
    pub vo: Option<String>,
    /// The VO group.
    pub vo_group: Option<String>,
    /// The VO role.
    pub vo_role: Option<String>,
    /// The VMs' status at the month's last record.
    pub status: Option<String>,
    /// The cloud software.
    pub cloud_type: Option<String>,
    /// The image.
    pub image_id: Option<String>,
    /// The earliest start among the VMs, in seconds since the epoch.
    pub earliest_start_time: Option<i64>,
    /// The latest start among the VMs, in seconds since the epoch.
    pub latest_start_time: Option<i64>,
    /// Seconds of wall time in the month.
    pub wall_duration: Option<i64>,
    /// Seconds of CPU time in the month.
    pub cpu_duration: Option<i64>,
    /// Virtual CPUs of each VM.
    pub cpu_count: Option<Decimal3>,
    /// Bytes received in the month.
    pub network_inbound: Option<i64>,
    /// Bytes sent in the month.
    pub network_outbound: Option<i64>,
    /// The VMs' memory in MB, summed.
    pub memory: Option<i64>,
    /// The VMs' disk in GB, summed.
    pub disk: Option<i64>,
    /// The benchmark's name.
    pub benchmark_type: Option<String>,
    /// The benchmark's value per CPU.
    pub benchmark: Option<Decimal3>,
    /// How many VM-months the row sums.
    pub number_of_vms: i64,
}

impl CloudSummary {
    /// The summary as a row of APEL's `CloudSummaries` table printed by
    /// `mysql --batch`, the form the shared generator writes the summaries
    /// APEL computed in: its columns in the table's order, tab-separated; a
    /// text APEL stored as missing is the word `None`, a missing number
    /// `NULL`, decimals have three places.
    pub fn table_row(&self) -> String {
        let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "None".to_owned());
        let number = |v: Option<i64>| v.map_or_else(|| "NULL".to_owned(), |v| v.to_string());
        let decimal = |d: Option<Decimal3>| d.map_or_else(|| "NULL".to_owned(), |d| d.fixed().to_string());
        [
            self.site_name.clone(),
            text(&self.cloud_compute_service),
            self.month.to_string(),
            self.year.to_string(),
            text(&self.global_user_name),
            text(&self.vo),
            text(&self.vo_group),
            text(&self.vo_role),
            text(&self.status),
            text(&self.cloud_type),
            text(&self.image_id),
            number(self.earliest_start_time),
            number(self.latest_start_time),
            number(self.wall_duration),
            number(self.cpu_duration),
            decimal(self.cpu_count),
            number(self.network_inbound),
            number(self.network_outbound),
            number(self.memory),
            number(self.disk),
            text(&self.benchmark_type),
            decimal(self.benchmark),
            self.number_of_vms.to_string(),
        ]
        .join("\t")
    }
}

/// A cloud summary message being read, one summary at a time. Reading
/// stops at the first refused summary.
#[derive(Debug, Clone)]
pub struct CloudSummaryMessage<'a> {
    version: &'a str,
    entries: Entries<'a>,
    failed: bool,
}

impl<'a> CloudSummaryMessage<'a> {
    /// The version in the message's header.
    pub fn version(&self) -> &'a str {
        self.version
    }
}

/// Reads a cloud summary message's header; its summaries follow from the
/// iterator.
pub fn parse_message(message: &[u8]) -> Result<CloudSummaryMessage<'_>, ParseError> {
    let (version, entries) = text::open(message, HEADER, HEADER_LINE, VERSIONS, "v0.2, v0.3, v0.4")?;
    Ok(CloudSummaryMessage { version, entries, failed: false })
}

/// Reads a whole cloud summary message, refusing all of it if one summary
/// is wrong.
pub fn parse_all(message: &[u8]) -> Result<Vec<CloudSummary>, ParseError> {
    parse_message(message)?.collect()
}

/// Reads one summary's lines (no header).
pub fn parse_summary(body: &str) -> Result<CloudSummary, ParseError> {
    read_summary(&mut Entries::new(body)).unwrap_or(Err(ParseError::at(Location::Line(1), Problem::Empty)))
}

impl Iterator for CloudSummaryMessage<'_> {
    type Item = Result<CloudSummary, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let summary = read_summary(&mut self.entries);
        self.failed = matches!(summary, Some(Err(_)));
        summary
    }
}

fn read_summary(entries: &mut Entries<'_>) -> Option<Result<CloudSummary, ParseError>> {
    let mut s = CloudSummary {
        site_name: String::new(),
        cloud_compute_service: None,
        month: 0,
        year: 0,
        global_user_name: None,
        vo: None,
        vo_group: None,
        vo_role: None,
        status: None,
        cloud_type: None,
        image_id: None,
        earliest_start_time: None,
        latest_start_time: None,
        wall_duration: None,
        cpu_duration: None,
        cpu_count: None,
        network_inbound: None,
        network_outbound: None,
        memory: None,
        disk: None,
        benchmark_type: None,
        benchmark: None,
        number_of_vms: 0,
    };
    let mut mandatory = [("SiteName", false), ("Month", false), ("Year", false), ("NumberOfVMs", false)];
    let first = entries.read_record(|line, key, value| {
        let at = || Location::Line(line);
        let null = is_null(value);
        let field_error = |problem| ParseError::field(at(), key, problem);
        if let Some(seen) = mandatory.iter_mut().find(|(name, _)| *name == key) {
            if null {
                return Err(field_error(Problem::Null));
            }
            seen.1 = true;
        }
        let text = || (!null).then(|| value.to_owned());
        let int = || if null { Ok(None) } else { value::parse_int(value).map(Some).map_err(field_error) };
        let int32 = || {
            let number = value::parse_int(value).map_err(field_error)?;
            i32::try_from(number).map_err(|_| {
                field_error(Problem::OutOfRange { value: value.to_owned(), range: "a 32-bit whole number" })
            })
        };
        let time = || if null { Ok(None) } else { value::parse_time(value).map(Some).map_err(field_error) };
        let decimal = || if null { Ok(None) } else { Decimal3::parse(value).map(Some).map_err(field_error) };
        match key {
            "SiteName" => s.site_name = value.to_owned(),
            "CloudComputeService" => s.cloud_compute_service = text(),
            "Month" => s.month = int32()?,
            "Year" => s.year = int32()?,
            "GlobalUserName" => s.global_user_name = text(),
            "VO" => s.vo = text(),
            "VOGroup" => s.vo_group = text(),
            "VORole" => s.vo_role = text(),
            "Status" => s.status = text(),
            "CloudType" => s.cloud_type = text(),
            "ImageId" => s.image_id = text(),
            "EarliestStartTime" => s.earliest_start_time = time()?,
            "LatestStartTime" => s.latest_start_time = time()?,
            "WallDuration" => s.wall_duration = int()?,
            "CpuDuration" => s.cpu_duration = int()?,
            "CpuCount" => s.cpu_count = decimal()?,
            "NetworkInbound" => s.network_inbound = int()?,
            "NetworkOutbound" => s.network_outbound = int()?,
            "Memory" => s.memory = int()?,
            "Disk" => s.disk = int()?,
            "BenchmarkType" => s.benchmark_type = text(),
            "Benchmark" => s.benchmark = decimal()?,
            "NumberOfVMs" => s.number_of_vms = value::parse_int(value).map_err(field_error)?,
            "UpdateTime" => {}
            _ => return Err(field_error(Problem::UnknownField)),
        }
        Ok(())
    });
    let first = match first? {
        Ok(first) => first,
        Err(error) => return Some(Err(error)),
    };
    if let Some((name, _)) = mandatory.iter().find(|(_, seen)| !seen) {
        return Some(Err(ParseError::field(Location::Line(first), name, Problem::Missing)));
    }
    Some(Ok(s))
}

/// Writes summaries as one message, as APEL's unloader does: the header,
/// then each summary followed by `%%`.
pub fn write_message<'s>(summaries: impl IntoIterator<Item = &'s CloudSummary>) -> Result<String, WriteError> {
    let mut out = String::with_capacity(4096);
    out.push_str(HEADER_LINE);
    out.push('\n');
    for summary in summaries {
        write_summary(summary, &mut out)?;
        out.push_str("%%\n");
    }
    Ok(out)
}

/// Appends one summary's lines, in APEL's order.
pub fn write_summary(s: &CloudSummary, out: &mut String) -> Result<(), WriteError> {
    write_text(out, "SiteName", Some(&s.site_name))?;
    write_text(out, "CloudComputeService", s.cloud_compute_service.as_deref())?;
    text::write_line(out, "Month", s.month);
    text::write_line(out, "Year", s.year);
    write_text(out, "GlobalUserName", s.global_user_name.as_deref())?;
    write_text(out, "VO", s.vo.as_deref())?;
    write_text(out, "VOGroup", s.vo_group.as_deref())?;
    write_text(out, "VORole", s.vo_role.as_deref())?;
    write_text(out, "Status", s.status.as_deref())?;
    write_text(out, "CloudType", s.cloud_type.as_deref())?;
    write_text(out, "ImageId", s.image_id.as_deref())?;
    write_time(out, "EarliestStartTime", s.earliest_start_time);
    write_time(out, "LatestStartTime", s.latest_start_time);
    write_number(out, "WallDuration", s.wall_duration);
    write_number(out, "CpuDuration", s.cpu_duration);
    write_number(out, "CpuCount", s.cpu_count);
    write_number(out, "NetworkInbound", s.network_inbound);
    write_number(out, "NetworkOutbound", s.network_outbound);
    write_number(out, "Memory", s.memory);
    write_number(out, "Disk", s.disk);
    write_text(out, "BenchmarkType", s.benchmark_type.as_deref())?;
    write_number(out, "Benchmark", s.benchmark);
    text::write_line(out, "NumberOfVMs", s.number_of_vms);
    Ok(())
}
