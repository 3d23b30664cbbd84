//! APEL cloud usage records (`APEL-cloud-message`, v0.2 to v0.4): what a
//! site's publisher (cASO for OpenStack, the OpenNebula probe, nuvola) says
//! about one VM at one moment. Durations are cumulative over the VM's life;
//! which month a record counts for and how months are summed is
//! [`crate::summarise`]'s business.
//!
//! A record is read as APEL's `CloudRecord` reads it: `VMUUID` and
//! `SiteName` are mandatory; every other field may be missing or hold a
//! word meaning no value (empty, `NULL`, `None`), which becomes `None`;
//! `CpuCount` and `Benchmark` with no value become 0, as APEL stores them;
//! the VO, its group and role come from the first FQAN; `UpdateTime`,
//! `MeasurementTime`, `MeasurementMonth`, `MeasurementYear`, `VO`, `VOGroup`
//! and `VORole` are accepted and ignored; any other key is refused. Every
//! version of the header reads the same fields (v0.2 messages simply lack
//! the later ones).

use std::borrow::Cow;

use crate::error::{Location, ParseError, Problem, WriteError};
use crate::text::{self, Entries, write_number, write_text, write_time};
use crate::value::{self, Decimal3, is_null};

/// The header's message type.
pub const HEADER: &str = "APEL-cloud-message";
/// The header nuvola writes.
pub const HEADER_LINE: &str = "APEL-cloud-message: v0.4";
/// The header versions read.
const VERSIONS: &[&str] = &["v0.2", "v0.3", "v0.4"];

/// One cloud usage record, every field APEL keeps. Text is borrowed from
/// the message where it can be; [`CloudRecord::into_owned`] detaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudRecord<'a> {
    /// When the publisher measured the usage, in seconds since the epoch.
    pub record_create_time: Option<i64>,
    /// The VM's identifier at its site.
    pub vm_uuid: Cow<'a, str>,
    /// The site (GOCDB name).
    pub site_name: Cow<'a, str>,
    /// The compute service of the site (often its Keystone URL).
    pub cloud_compute_service: Option<Cow<'a, str>>,
    /// The VM's name.
    pub machine_name: Option<Cow<'a, str>>,
    /// The owner's identifier at the site.
    pub local_user_id: Option<Cow<'a, str>>,
    /// The owner's project or group at the site.
    pub local_group_id: Option<Cow<'a, str>>,
    /// The owner's global identity (a certificate DN or an OIDC subject).
    pub global_user_name: Option<Cow<'a, str>>,
    /// The owner's VOMS attributes, `;`-separated; the first counts.
    pub fqan: Option<Cow<'a, str>>,
    /// `started`, `completed`, `suspended`, `paused`, ...
    pub status: Option<Cow<'a, str>>,
    /// When the VM started, in seconds since the epoch.
    pub start_time: Option<i64>,
    /// When the VM ended, in seconds since the epoch (meaningful once
    /// `completed`).
    pub end_time: Option<i64>,
    /// Seconds the VM spent suspended, cumulative.
    pub suspend_duration: Option<i64>,
    /// Seconds of wall time, cumulative.
    pub wall_duration: Option<i64>,
    /// Seconds of CPU time, cumulative.
    pub cpu_duration: Option<i64>,
    /// Virtual CPUs (0 when the record gave none, as APEL stores it).
    pub cpu_count: Decimal3,
    /// The kind of network.
    pub network_type: Option<Cow<'a, str>>,
    /// Bytes received, cumulative.
    pub network_inbound: Option<i64>,
    /// Bytes sent, cumulative.
    pub network_outbound: Option<i64>,
    /// Public IP addresses held.
    pub public_ip_count: Option<i64>,
    /// Memory in MB.
    pub memory: Option<i64>,
    /// Disk in GB.
    pub disk: Option<i64>,
    /// The benchmark's name (HEPSPEC, HEPscore23, ...).
    pub benchmark_type: Option<Cow<'a, str>>,
    /// The benchmark's value per CPU (0 when the record gave none).
    pub benchmark: Decimal3,
    /// A storage record this VM uses.
    pub storage_record_id: Option<Cow<'a, str>>,
    /// The image the VM was started from.
    pub image_id: Option<Cow<'a, str>>,
    /// The cloud software (OpenStack, OpenNebula, `caso/5.2.2 (OpenStack)`).
    pub cloud_type: Option<Cow<'a, str>>,
}

/// The VO, VO group and VO role of an FQAN, as APEL derives them (its
/// `parse_fqan`): from the first of `;`-separated FQANs; an FQAN that does
/// not start with `/` is the VO itself. `None` is what APEL stores as the
/// word `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voms<'a> {
    /// The VO.
    pub vo: Option<&'a str>,
    /// The VO group: every part of the FQAN before the role, each after a `/`.
    pub group: Option<Cow<'a, str>>,
    /// The part starting `Role=` (any case).
    pub role: Option<&'a str>,
}

impl<'a> Voms<'a> {
    /// Derives the VO, group and role from an FQAN.
    pub fn of(fqan: Option<&'a str>) -> Self {
        let Some(fqan) = fqan else {
            return Voms { vo: None, group: None, role: None };
        };
        let first = fqan.split(';').next().unwrap_or(fqan);
        let Some(path) = first.strip_prefix('/') else {
            return Voms { vo: Some(first), group: None, role: None };
        };
        let vo = path.split('/').next().unwrap_or("");
        let mut role = None;
        let mut group_end = None;
        // `first` is "/" followed by the pieces; the group is "/piece" for
        // every non-empty piece before the role, which is a prefix of the
        // FQAN unless an empty piece (`//`) sits among them.
        let mut offset = 1;
        for piece in path.split('/') {
            let end = offset + piece.len();
            if piece.as_bytes().get(..5).is_some_and(|start| start.eq_ignore_ascii_case(b"role=")) {
                role = Some(piece);
                break;
            } else if !piece.is_empty() {
                group_end = Some(end);
            }
            offset = end + 1;
        }
        let group = match group_end {
            None => Cow::Borrowed(""),
            Some(end) if !first[..end].contains("//") => Cow::Borrowed(&first[..end]),
            Some(end) => {
                let mut group = String::new();
                for piece in first[..end].split('/').filter(|p| !p.is_empty()) {
                    group.push('/');
                    group.push_str(piece);
                }
                Cow::Owned(group)
            }
        };
        // APEL stores the words NULL or None as given here; only the
        // missing role is its `None`.
        Voms { vo: Some(vo), group: Some(group), role }
    }
}

impl<'a> CloudRecord<'a> {
    /// A record with the mandatory fields only.
    pub fn new(vm_uuid: impl Into<Cow<'a, str>>, site_name: impl Into<Cow<'a, str>>) -> Self {
        CloudRecord {
            record_create_time: None,
            vm_uuid: vm_uuid.into(),
            site_name: site_name.into(),
            cloud_compute_service: None,
            machine_name: None,
            local_user_id: None,
            local_group_id: None,
            global_user_name: None,
            fqan: None,
            status: None,
            start_time: None,
            end_time: None,
            suspend_duration: None,
            wall_duration: None,
            cpu_duration: None,
            cpu_count: Decimal3::ZERO,
            network_type: None,
            network_inbound: None,
            network_outbound: None,
            public_ip_count: None,
            memory: None,
            disk: None,
            benchmark_type: None,
            benchmark: Decimal3::ZERO,
            storage_record_id: None,
            image_id: None,
            cloud_type: None,
        }
    }

    /// The VO, group and role of the record's FQAN.
    pub fn voms(&self) -> Voms<'_> {
        Voms::of(self.fqan.as_deref())
    }

    /// The same record owning its text.
    pub fn into_owned(self) -> CloudRecord<'static> {
        fn own(text: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            text.map(|t| Cow::Owned(t.into_owned()))
        }
        CloudRecord {
            record_create_time: self.record_create_time,
            vm_uuid: Cow::Owned(self.vm_uuid.into_owned()),
            site_name: Cow::Owned(self.site_name.into_owned()),
            cloud_compute_service: own(self.cloud_compute_service),
            machine_name: own(self.machine_name),
            local_user_id: own(self.local_user_id),
            local_group_id: own(self.local_group_id),
            global_user_name: own(self.global_user_name),
            fqan: own(self.fqan),
            status: own(self.status),
            start_time: self.start_time,
            end_time: self.end_time,
            suspend_duration: self.suspend_duration,
            wall_duration: self.wall_duration,
            cpu_duration: self.cpu_duration,
            cpu_count: self.cpu_count,
            network_type: own(self.network_type),
            network_inbound: self.network_inbound,
            network_outbound: self.network_outbound,
            public_ip_count: self.public_ip_count,
            memory: self.memory,
            disk: self.disk,
            benchmark_type: own(self.benchmark_type),
            benchmark: self.benchmark,
            storage_record_id: own(self.storage_record_id),
            image_id: own(self.image_id),
            cloud_type: own(self.cloud_type),
        }
    }
}

/// A cloud message being read: its header's version, and its records one
/// at a time. Reading stops at the first refused record.
#[derive(Debug, Clone)]
pub struct CloudMessage<'a> {
    version: &'a str,
    entries: Entries<'a>,
    failed: bool,
    site_name_line: usize,
}

impl<'a> CloudMessage<'a> {
    /// The version in the message's header (`v0.4`).
    pub fn version(&self) -> &'a str {
        self.version
    }

    /// The line of the `SiteName` of the record read last (0 before the
    /// first), to name it when the record is refused for its site.
    pub fn site_name_line(&self) -> usize {
        self.site_name_line
    }
}

/// Reads a cloud message's header; its records follow from the iterator.
pub fn parse_message(message: &[u8]) -> Result<CloudMessage<'_>, ParseError> {
    let (version, entries) = text::open(message, HEADER, HEADER_LINE, VERSIONS, "v0.2, v0.3, v0.4")?;
    Ok(CloudMessage { version, entries, failed: false, site_name_line: 0 })
}

/// Reads a whole cloud message, refusing all of it if one record is wrong.
pub fn parse_all(message: &[u8]) -> Result<Vec<CloudRecord<'_>>, ParseError> {
    parse_message(message)?.collect()
}

/// Reads one record's lines (no header), as APEL's `load_from_msg` does.
pub fn parse_record(body: &str) -> Result<CloudRecord<'_>, ParseError> {
    let mut entries = Entries::new(body);
    match read_record(&mut entries) {
        Some(record) => record.map(|(record, _)| record),
        None => Err(ParseError::at(Location::Line(1), Problem::Empty)),
    }
}

impl<'a> Iterator for CloudMessage<'a> {
    type Item = Result<CloudRecord<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let record = read_record(&mut self.entries);
        self.failed = matches!(record, Some(Err(_)));
        record.map(|read| {
            read.map(|(record, line)| {
                self.site_name_line = line;
                record
            })
        })
    }
}

/// The fields of a cloud record, as message keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    RecordCreateTime,
    VmUuid,
    SiteName,
    CloudComputeService,
    MachineName,
    LocalUserId,
    LocalGroupId,
    GlobalUserName,
    Fqan,
    Status,
    StartTime,
    EndTime,
    SuspendDuration,
    WallDuration,
    CpuDuration,
    CpuCount,
    NetworkType,
    NetworkInbound,
    NetworkOutbound,
    PublicIpCount,
    Memory,
    Disk,
    BenchmarkType,
    Benchmark,
    StorageRecordId,
    ImageId,
    CloudType,
    Ignored,
}

fn field(key: &str) -> Option<Field> {
    // By length first: one comparison or two per key instead of a list.
    let field = match (key.len(), key) {
        (4, "Disk") => Field::Disk,
        (4, "FQAN") => Field::Fqan,
        (6, "VMUUID") => Field::VmUuid,
        (6, "Status") => Field::Status,
        (6, "Memory") => Field::Memory,
        (7, "EndTime") => Field::EndTime,
        (7, "ImageId") => Field::ImageId,
        (8, "SiteName") => Field::SiteName,
        (8, "CpuCount") => Field::CpuCount,
        (9, "StartTime") => Field::StartTime,
        (9, "CloudType") => Field::CloudType,
        (9, "Benchmark") => Field::Benchmark,
        (11, "MachineName") => Field::MachineName,
        (11, "LocalUserId") => Field::LocalUserId,
        (11, "CpuDuration") => Field::CpuDuration,
        (11, "NetworkType") => Field::NetworkType,
        (12, "LocalGroupId") => Field::LocalGroupId,
        (12, "WallDuration") => Field::WallDuration,
        (13, "PublicIPCount") => Field::PublicIpCount,
        (13, "BenchmarkType") => Field::BenchmarkType,
        (14, "GlobalUserName") => Field::GlobalUserName,
        (14, "NetworkInbound") => Field::NetworkInbound,
        (15, "SuspendDuration") => Field::SuspendDuration,
        (15, "NetworkOutbound") => Field::NetworkOutbound,
        (15, "StorageRecordId") => Field::StorageRecordId,
        (16, "RecordCreateTime") => Field::RecordCreateTime,
        (19, "CloudComputeService") => Field::CloudComputeService,
        (
            _,
            "VO" | "VOGroup" | "VORole" | "UpdateTime" | "MeasurementTime" | "MeasurementMonth" | "MeasurementYear",
        ) => Field::Ignored,
        _ => return None,
    };
    Some(field)
}

/// Reads one record, with the line of its `SiteName`.
fn read_record<'a>(entries: &mut Entries<'a>) -> Option<Result<(CloudRecord<'a>, usize), ParseError>> {
    let mut record = CloudRecord::new("", "");
    // The line of each mandatory field, once seen with a value.
    let (mut vm_uuid, mut site_name) = (None, None);
    let first = entries.read_record(|line, key, value| {
        let at = || Location::Line(line);
        let Some(field) = field(key) else {
            return Err(ParseError::field(at(), key, Problem::UnknownField));
        };
        let null = is_null(value);
        let text = || (!null).then_some(Cow::Borrowed(value));
        let int = || if null { Ok(None) } else { value::parse_int(value).map(Some) };
        let time = || if null { Ok(None) } else { value::parse_time(value).map(Some) };
        let decimal = || if null { Ok(Decimal3::ZERO) } else { Decimal3::parse(value) };
        let set = |result: Result<(), Problem>| result.map_err(|problem| ParseError::field(at(), key, problem));
        match field {
            Field::VmUuid | Field::SiteName if null => return Err(ParseError::field(at(), key, Problem::Null)),
            Field::VmUuid => {
                record.vm_uuid = Cow::Borrowed(value);
                vm_uuid = Some(line);
            }
            Field::SiteName => {
                record.site_name = Cow::Borrowed(value);
                site_name = Some(line);
            }
            Field::RecordCreateTime => set(time().map(|v| record.record_create_time = v))?,
            Field::CloudComputeService => record.cloud_compute_service = text(),
            Field::MachineName => record.machine_name = text(),
            Field::LocalUserId => record.local_user_id = text(),
            Field::LocalGroupId => record.local_group_id = text(),
            Field::GlobalUserName => record.global_user_name = text(),
            Field::Fqan => record.fqan = text(),
            Field::Status => record.status = text(),
            Field::StartTime => set(time().map(|v| record.start_time = v))?,
            Field::EndTime => set(time().map(|v| record.end_time = v))?,
            Field::SuspendDuration => set(int().map(|v| record.suspend_duration = v))?,
            Field::WallDuration => set(int().map(|v| record.wall_duration = v))?,
            Field::CpuDuration => set(int().map(|v| record.cpu_duration = v))?,
            Field::CpuCount => set(decimal().and_then(|v| {
                if v.is_negative() {
                    return Err(Problem::OutOfRange { value: value.to_owned(), range: "0 or more" });
                }
                record.cpu_count = v;
                Ok(())
            }))?,
            Field::NetworkType => record.network_type = text(),
            Field::NetworkInbound => set(int().map(|v| record.network_inbound = v))?,
            Field::NetworkOutbound => set(int().map(|v| record.network_outbound = v))?,
            Field::PublicIpCount => set(int().map(|v| record.public_ip_count = v))?,
            Field::Memory => set(int().map(|v| record.memory = v))?,
            Field::Disk => set(int().map(|v| record.disk = v))?,
            Field::BenchmarkType => record.benchmark_type = text(),
            Field::Benchmark => set(decimal().map(|v| record.benchmark = v))?,
            Field::StorageRecordId => record.storage_record_id = text(),
            Field::ImageId => record.image_id = text(),
            Field::CloudType => record.cloud_type = text(),
            Field::Ignored => {}
        }
        Ok(())
    });
    let first = match first? {
        Ok(first) => first,
        Err(error) => return Some(Err(error)),
    };
    for (seen, name) in [(vm_uuid, "VMUUID"), (site_name, "SiteName")] {
        if seen.is_none() {
            return Some(Err(ParseError::field(Location::Line(first), name, Problem::Missing)));
        }
    }
    Some(Ok((record, site_name.unwrap_or(first))))
}

/// Writes records as one message, as APEL's unloader writes them: the
/// header, then each record's fields in APEL's order, each record followed
/// by `%%`. A missing text or number is written `None`, a missing time not
/// at all.
pub fn write_message<'r, 'a: 'r>(records: impl IntoIterator<Item = &'r CloudRecord<'a>>) -> Result<String, WriteError> {
    let mut out = String::with_capacity(4096);
    out.push_str(HEADER_LINE);
    out.push('\n');
    for record in records {
        write_record(record, &mut out)?;
        out.push_str("%%\n");
    }
    Ok(out)
}

/// Appends one record's lines, in APEL's order.
pub fn write_record(record: &CloudRecord<'_>, out: &mut String) -> Result<(), WriteError> {
    let r = record;
    write_time(out, "RecordCreateTime", r.record_create_time);
    write_text(out, "VMUUID", Some(&r.vm_uuid))?;
    write_text(out, "SiteName", Some(&r.site_name))?;
    write_text(out, "CloudComputeService", r.cloud_compute_service.as_deref())?;
    write_text(out, "MachineName", r.machine_name.as_deref())?;
    write_text(out, "LocalUserId", r.local_user_id.as_deref())?;
    write_text(out, "LocalGroupId", r.local_group_id.as_deref())?;
    write_text(out, "GlobalUserName", r.global_user_name.as_deref())?;
    write_text(out, "FQAN", r.fqan.as_deref())?;
    write_text(out, "Status", r.status.as_deref())?;
    write_time(out, "StartTime", r.start_time);
    write_time(out, "EndTime", r.end_time);
    write_number(out, "SuspendDuration", r.suspend_duration);
    write_number(out, "WallDuration", r.wall_duration);
    write_number(out, "CpuDuration", r.cpu_duration);
    text::write_line(out, "CpuCount", r.cpu_count);
    write_text(out, "NetworkType", r.network_type.as_deref())?;
    write_number(out, "NetworkInbound", r.network_inbound);
    write_number(out, "NetworkOutbound", r.network_outbound);
    write_number(out, "PublicIPCount", r.public_ip_count);
    write_number(out, "Memory", r.memory);
    write_number(out, "Disk", r.disk);
    write_text(out, "BenchmarkType", r.benchmark_type.as_deref())?;
    text::write_line(out, "Benchmark", r.benchmark);
    write_text(out, "StorageRecordId", r.storage_record_id.as_deref())?;
    write_text(out, "ImageId", r.image_id.as_deref())?;
    write_text(out, "CloudType", r.cloud_type.as_deref())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_name_line_of_each_record_is_told() {
        let text = "APEL-cloud-message: v0.4\nVMUUID: a\nSiteName: S\n%%\nSiteName: T\nVMUUID: b\n";
        let mut message = parse_message(text.as_bytes()).unwrap();
        assert_eq!(message.site_name_line(), 0);
        message.next().unwrap().unwrap();
        assert_eq!(message.site_name_line(), 3);
        message.next().unwrap().unwrap();
        assert_eq!(message.site_name_line(), 5);
    }

    #[test]
    fn the_vo_group_and_role_come_from_the_first_fqan() {
        let voms = |fqan| {
            let v = Voms::of(Some(fqan));
            (v.vo.map(str::to_owned), v.group.map(Cow::into_owned), v.role.map(str::to_owned))
        };
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(voms("/ops/Role=NULL/Capability=NULL"), (s("ops"), s("/ops"), s("Role=NULL")));
        assert_eq!(voms("/atlas/uk/role=production;/cms"), (s("atlas"), s("/atlas/uk"), s("role=production")));
        assert_eq!(voms("/vo//sub/Role=x"), (s("vo"), s("/vo/sub"), s("Role=x")));
        assert_eq!(voms("/vo/sub"), (s("vo"), s("/vo/sub"), None));
        assert_eq!(voms("VO 1 FQAN"), (s("VO 1 FQAN"), None, None));
        assert_eq!(voms("/Role=admin"), (s("Role=admin"), s(""), s("Role=admin")));
        assert_eq!(Voms::of(None), Voms { vo: None, group: None, role: None });
    }
}
