//! StAR storage usage records (the EMI Storage Accounting Record, XML in
//! the namespace `http://eu-emi.eu/namespaces/2011/02/storagerecord`), as
//! cASO writes them for volumes and APEL's `StarParser` reads them. The
//! message is read as a stream of XML events, one record at a time.
//!
//! As APEL: the root element must be in the StAR namespace; each
//! `StorageUsageRecord` (the root itself, or any below it) is a record; a
//! field is the first element of its name anywhere in the record, its value
//! the text directly inside it (entities resolved, CDATA ignored, not
//! trimmed); `RecordIdentity` gives `recordId` and `createTime` from its
//! namespaced attributes; `GroupAttribute`s of type `subgroup` and `role`
//! are the record's sub-group and role, the others are kept as
//! attributes. `RecordId`, `CreateTime`, `StorageSystem`, `StartTime`,
//! `EndTime` and `ResourceCapacityUsed` are mandatory. Other elements are
//! ignored. Capacities are read as whole bytes of any size (cASO's own test
//! data holds some beyond 2^64).

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::error::{Location, ParseError, Problem};
use crate::text::utf8;
use crate::value::{self, is_null};

/// The StAR namespace.
pub const NAMESPACE: &str = "http://eu-emi.eu/namespaces/2011/02/storagerecord";

/// One storage usage record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRecord {
    /// The record's identifier.
    pub record_id: String,
    /// When the record was made, in seconds since the epoch.
    pub create_time: i64,
    /// The storage system (cASO: the compute service).
    pub storage_system: String,
    /// The site.
    pub site: Option<String>,
    /// The storage share.
    pub storage_share: Option<String>,
    /// `disk`, `tape`, ...
    pub storage_media: Option<String>,
    /// The storage class.
    pub storage_class: Option<String>,
    /// How many files.
    pub file_count: Option<u64>,
    /// The path.
    pub directory_path: Option<String>,
    /// The user at the site.
    pub local_user: Option<String>,
    /// The group or project at the site.
    pub local_group: Option<String>,
    /// The user's global identity.
    pub user_identity: Option<String>,
    /// The VO.
    pub group: Option<String>,
    /// The VO's sub-group.
    pub sub_group: Option<String>,
    /// The role.
    pub role: Option<String>,
    /// The start of the period measured, in seconds since the epoch.
    pub start_time: i64,
    /// The end of the period measured, in seconds since the epoch.
    pub end_time: i64,
    /// Bytes used.
    pub resource_capacity_used: u128,
    /// Bytes used as the user sees them.
    pub logical_capacity_used: Option<u128>,
    /// Bytes allocated.
    pub resource_capacity_allocated: Option<u128>,
    /// The group attributes other than sub-group and role: (type, value).
    pub group_attributes: Vec<(String, String)>,
}

/// The record's elements read as text, in a fixed order.
const FIELDS: [&str; 18] = [
    "StorageSystem",
    "Site",
    "StorageShare",
    "StorageMedia",
    "StorageClass",
    "FileCount",
    "DirectoryPath",
    "LocalUser",
    "LocalGroup",
    "UserIdentity",
    "Group",
    "StartTime",
    "EndTime",
    "ResourceCapacityUsed",
    "LogicalCapacityUsed",
    "ResourceCapacityAllocated",
    // Filled from GroupAttribute elements.
    "SubGroup",
    "Role",
];

fn field_index(name: &str) -> Option<usize> {
    FIELDS[..16].iter().position(|f| *f == name)
}

/// A record being read: each field's value and the line of its element.
#[derive(Default)]
struct Partial {
    number: usize,
    line: usize,
    values: [Option<(String, usize)>; 18],
    record_id: Option<String>,
    create_time: Option<(String, usize)>,
    identity_line: usize,
    attributes: Vec<(String, String)>,
}

/// What the reader is collecting text for.
enum Capture {
    Field(usize),
    GroupAttribute(String),
}

/// The records of a StAR message, read one at a time. Reading stops at the
/// first refused record.
pub struct StarRecords<'a> {
    reader: NsReader<&'a [u8]>,
    text: &'a str,
    /// Bytes before `counted` hold `line - 1` line breaks.
    counted: usize,
    line: usize,
    depth: usize,
    started: bool,
    record: Option<(Partial, usize)>,
    capture: Option<(Capture, usize, String, usize)>,
    records: usize,
    done: bool,
}

impl std::fmt::Debug for StarRecords<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StarRecords").field("records_read", &self.records).field("line", &self.line).finish()
    }
}

/// Starts reading a StAR message.
pub fn parse_star(message: &[u8]) -> Result<StarRecords<'_>, ParseError> {
    let text = utf8(message)?;
    let mut reader = NsReader::from_reader(text.as_bytes());
    reader.config_mut().check_end_names = true;
    Ok(StarRecords {
        reader,
        text,
        counted: 0,
        line: 1,
        depth: 0,
        started: false,
        record: None,
        capture: None,
        records: 0,
        done: false,
    })
}

/// Reads a whole StAR message, refusing all of it if one record is wrong.
pub fn parse_all(message: &[u8]) -> Result<Vec<StorageRecord>, ParseError> {
    parse_star(message)?.collect()
}

impl StarRecords<'_> {
    /// The line the reader is on.
    fn line_at(&mut self, position: usize) -> usize {
        let position = position.min(self.text.len());
        if position > self.counted {
            self.line += memchr::memchr_iter(b'\n', &self.text.as_bytes()[self.counted..position]).count();
            self.counted = position;
        }
        self.line
    }

    /// A problem where the reader stands.
    fn error(&mut self, path: String, field: Option<&str>, problem: Problem) -> ParseError {
        let line = self.line_at(self.reader.buffer_position() as usize);
        ParseError { location: Location::Xml { path, line }, field: field.map(str::to_owned), problem }
    }

    fn next_record(&mut self) -> Result<Option<StorageRecord>, ParseError> {
        loop {
            let event_start = self.reader.buffer_position() as usize;
            let (namespace, event) = match self.reader.read_resolved_event() {
                Ok((ResolveResult::Bound(ns), event)) => (ns.0 == NAMESPACE, event),
                Ok((_, event)) => (false, event),
                Err(error) => {
                    let detail = format!("the message is not well-formed XML: {error}");
                    return Err(self.error("(document)".into(), None, Problem::Syntax(detail)));
                }
            };
            let line = self.line_at(event_start);
            match event {
                Event::Start(ref element) | Event::Empty(ref element) => {
                    let empty = matches!(event, Event::Empty(_));
                    let local = element.local_name().as_ref().to_owned();
                    if !self.started {
                        self.started = true;
                        if !namespace {
                            let problem =
                                Problem::Syntax(format!("the root element is not in the StAR namespace {NAMESPACE}"));
                            return Err(ParseError::at(Location::Xml { path: local, line }, problem));
                        }
                    }
                    self.depth += 1;
                    if namespace && self.record.is_none() && local == "StorageUsageRecord" {
                        self.records += 1;
                        let partial = Partial { number: self.records, line, ..Partial::default() };
                        self.record = Some((partial, self.depth));
                    } else if namespace && let Some((partial, _)) = self.record.as_mut() {
                        if local == "RecordIdentity" && partial.record_id.is_none() && partial.create_time.is_none() {
                            partial.identity_line = line;
                            for attribute in element.attributes().flatten() {
                                let (ns, name) = self.reader.resolver().resolve_attribute(attribute.key);
                                if !matches!(ns, ResolveResult::Bound(n) if n.0 == NAMESPACE) {
                                    continue;
                                }
                                let value = attribute
                                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                    .map(|v| v.into_owned())
                                    .unwrap_or_default();
                                match name.as_ref() {
                                    "recordId" => partial.record_id = Some(value),
                                    "createTime" => partial.create_time = Some((value, line)),
                                    _ => {}
                                }
                            }
                        } else if self.capture.is_none() {
                            if let Some(index) = field_index(&local).filter(|&i| partial.values[i].is_none()) {
                                self.capture = Some((Capture::Field(index), self.depth, String::new(), line));
                            } else if local == "GroupAttribute" {
                                let mut kind = String::new();
                                for attribute in element.attributes().flatten() {
                                    let (ns, name) = self.reader.resolver().resolve_attribute(attribute.key);
                                    if matches!(ns, ResolveResult::Bound(n) if n.0 == NAMESPACE)
                                        && name.as_ref() == "attributeType"
                                    {
                                        kind = attribute
                                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                            .map(|v| v.into_owned())
                                            .unwrap_or_default();
                                    }
                                }
                                self.capture = Some((Capture::GroupAttribute(kind), self.depth, String::new(), line));
                            }
                        }
                    }
                    if empty && let Some(record) = self.close()? {
                        return Ok(Some(record));
                    }
                }
                Event::End(_) => {
                    if let Some(record) = self.close()? {
                        return Ok(Some(record));
                    }
                }
                Event::Text(text) => {
                    if let Some((_, depth, value, _)) = self.capture.as_mut()
                        && *depth == self.depth
                    {
                        value.push_str(&text.xml10_content());
                    }
                }
                Event::GeneralRef(reference) => {
                    if let Some((_, depth, value, _)) = self.capture.as_mut()
                        && *depth == self.depth
                    {
                        let resolved = match reference.resolve_char_ref() {
                            Ok(Some(c)) => Some(c),
                            Ok(None) => match &*reference {
                                "amp" => Some('&'),
                                "lt" => Some('<'),
                                "gt" => Some('>'),
                                "quot" => Some('"'),
                                "apos" => Some('\''),
                                _ => None,
                            },
                            Err(_) => None,
                        };
                        match resolved {
                            Some(c) => value.push(c),
                            None => {
                                let detail = format!("unknown entity &{};", &*reference);
                                return Err(self.error("(document)".into(), None, Problem::Syntax(detail)));
                            }
                        }
                    }
                }
                Event::Eof => {
                    if !self.started {
                        return Err(self.error("(document)".into(), None, Problem::Empty));
                    }
                    if self.records == 0 {
                        return Err(self.error("(document)".into(), None, Problem::Empty));
                    }
                    return Ok(None);
                }
                _ => {}
            }
        }
    }

    /// Closes the current element: ends a capture or a record.
    fn close(&mut self) -> Result<Option<StorageRecord>, ParseError> {
        if let Some((capture, depth, value, line)) = self.capture.take() {
            if depth == self.depth {
                if let Some((partial, _)) = self.record.as_mut() {
                    match capture {
                        Capture::Field(index) => partial.values[index] = Some((value, line)),
                        Capture::GroupAttribute(kind) => match kind.as_str() {
                            "subgroup" if partial.values[16].is_none() => partial.values[16] = Some((value, line)),
                            "role" if partial.values[17].is_none() => partial.values[17] = Some((value, line)),
                            "subgroup" | "role" => {}
                            _ => partial.attributes.push((kind, value)),
                        },
                    }
                }
            } else {
                self.capture = Some((capture, depth, value, line));
            }
        }
        let finished = matches!(self.record, Some((_, depth)) if depth == self.depth);
        self.depth = self.depth.saturating_sub(1);
        if !finished {
            return Ok(None);
        }
        let (partial, _) = self.record.take().expect("a record being read");
        self.build(partial).map(Some)
    }

    fn build(&mut self, p: Partial) -> Result<StorageRecord, ParseError> {
        let record_path = format!("StorageUsageRecord[{}]", p.number);
        let at = |name: &str, line: usize| Location::Xml { path: format!("{record_path}/{name}"), line };
        let text = |i: usize| p.values[i].as_ref().map(|(v, _)| v.as_str()).filter(|v| !is_null(v)).map(str::to_owned);
        let required = |i: usize| -> Result<(String, usize), ParseError> {
            match &p.values[i] {
                None => Err(ParseError::field(
                    Location::Xml { path: record_path.clone(), line: p.line },
                    FIELDS[i],
                    Problem::Missing,
                )),
                Some((v, line)) if is_null(v) => Err(ParseError::field(at(FIELDS[i], *line), FIELDS[i], Problem::Null)),
                Some((v, line)) => Ok((v.clone(), *line)),
            }
        };
        let time = |i: usize| -> Result<i64, ParseError> {
            let (value, line) = required(i)?;
            value::parse_time(value.trim())
                .map_err(|problem| ParseError::field(at(FIELDS[i], line), FIELDS[i], problem))
        };
        let bytes = |i: usize| -> Result<Option<u128>, ParseError> {
            match &p.values[i] {
                Some((v, line)) if !is_null(v) => parse_bytes(v.trim())
                    .map(Some)
                    .map_err(|problem| ParseError::field(at(FIELDS[i], *line), FIELDS[i], problem)),
                _ => Ok(None),
            }
        };
        let identity =
            Location::Xml { path: format!("{record_path}/RecordIdentity"), line: p.identity_line.max(p.line) };
        let record_id = p
            .record_id
            .clone()
            .filter(|id| !is_null(id))
            .ok_or_else(|| ParseError::field(identity.clone(), "recordId", Problem::Missing))?;
        let create_time = match &p.create_time {
            Some((value, _)) if !is_null(value) => value::parse_time(value.trim())
                .map_err(|problem| ParseError::field(identity.clone(), "createTime", problem))?,
            _ => return Err(ParseError::field(identity, "createTime", Problem::Missing)),
        };
        let file_count = match &p.values[5] {
            Some((v, line)) if !is_null(v) => Some(
                parse_bytes(v.trim())
                    .and_then(|n| {
                        u64::try_from(n).map_err(|_| Problem::OutOfRange { value: v.clone(), range: "below 2^64" })
                    })
                    .map_err(|problem| ParseError::field(at("FileCount", *line), "FileCount", problem))?,
            ),
            _ => None,
        };
        Ok(StorageRecord {
            record_id,
            create_time,
            storage_system: required(0)?.0,
            site: text(1),
            storage_share: text(2),
            storage_media: text(3),
            storage_class: text(4),
            file_count,
            directory_path: text(6),
            local_user: text(7),
            local_group: text(8),
            user_identity: text(9),
            group: text(10),
            sub_group: text(16),
            role: text(17),
            start_time: time(11)?,
            end_time: time(12)?,
            resource_capacity_used: {
                let (value, line) = required(13)?;
                parse_bytes(value.trim())
                    .map_err(|problem| ParseError::field(at(FIELDS[13], line), FIELDS[13], problem))?
            },
            logical_capacity_used: bytes(14)?,
            resource_capacity_allocated: bytes(15)?,
            group_attributes: p.attributes,
        })
    }
}

/// A whole number of bytes, 0 or more.
fn parse_bytes(value: &str) -> Result<u128, Problem> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotAWholeNumber(value.to_owned()));
    }
    digits.parse().map_err(|_| Problem::OutOfRange { value: value.to_owned(), range: "below 2^128" })
}

impl Iterator for StarRecords<'_> {
    type Item = Result<StorageRecord, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_record();
        self.done = !matches!(next, Ok(Some(_)));
        next.transpose()
    }
}
