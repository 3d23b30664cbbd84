//! Public IP usage records (`APEL Public IP message`, version 0.2, JSON),
//! as cASO sends them: how many public addresses of one IP version a
//! project held at one moment. Read as APEL's `IPRecord` reads them, with
//! two differences for what cASO really sends: `LocalUser` and
//! `GlobalUserName` may be missing (cASO leaves out what it does not know,
//! where APEL would refuse the record), and cASO's `uuid` (the record's own
//! identifier) is kept. The accounting month is the measurement time's, and
//! the VO, group and role come from the FQAN as for cloud records.

use crate::cloud::Voms;
use crate::error::{Location, ParseError, Problem};
use crate::json::{self, JsonRecord};
use crate::value::year_month;

/// The message type.
pub const MESSAGE_TYPE: &str = "APEL Public IP message";
/// The version read.
pub const VERSION: &str = "0.2";

/// How many public IP addresses one project held at one moment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PublicIpRecord {
    /// When the addresses were counted, in seconds since the epoch.
    pub measurement_time: i64,
    /// The site.
    pub site_name: String,
    /// The compute service.
    pub cloud_compute_service: Option<String>,
    /// The cloud software.
    pub cloud_type: String,
    /// The user at the site.
    pub local_user: Option<String>,
    /// The project at the site.
    pub local_group: String,
    /// The user's global identity.
    pub global_user_name: Option<String>,
    /// The VO or project, as an FQAN.
    pub fqan: String,
    /// 4 or 6.
    pub ip_version: i64,
    /// How many addresses.
    pub ip_count: i64,
    /// cASO's identifier of the record.
    pub uuid: Option<String>,
}

impl PublicIpRecord {
    /// The accounting year and month.
    pub fn year_month(&self) -> (i32, u8) {
        year_month(self.measurement_time)
    }

    /// The VO, group and role of the FQAN.
    pub fn voms(&self) -> Voms<'_> {
        Voms::of(Some(&self.fqan))
    }
}

/// Reads a public IP message.
pub fn parse_json(message: &[u8]) -> Result<Vec<PublicIpRecord>, ParseError> {
    from_envelope(json::envelope(message)?)
}

/// The records of a JSON message already opened.
pub(crate) fn from_envelope(envelope: json::Envelope) -> Result<Vec<PublicIpRecord>, ParseError> {
    let root = || Location::Json("$".to_owned());
    if envelope.kind != MESSAGE_TYPE {
        return Err(ParseError::field(
            root(),
            "Type",
            Problem::NotOneOf { value: envelope.kind, allowed: MESSAGE_TYPE.to_owned() },
        ));
    }
    if envelope.version != VERSION {
        return Err(ParseError::field(
            root(),
            "Version",
            Problem::WrongVersion { found: envelope.version, accepted: VERSION },
        ));
    }
    envelope.records.into_iter().enumerate().map(|(i, value)| record(JsonRecord::new(i, value)?)).collect()
}

fn record(mut r: JsonRecord) -> Result<PublicIpRecord, ParseError> {
    let record = PublicIpRecord {
        measurement_time: r.required_time("MeasurementTime")?,
        site_name: r.required_text("SiteName")?,
        cloud_compute_service: r.text("CloudComputeService")?,
        cloud_type: r.required_text("CloudType")?,
        local_user: r.text("LocalUser")?,
        local_group: r.required_text("LocalGroup")?,
        global_user_name: r.text("GlobalUserName")?,
        fqan: r.required_text("FQAN")?,
        ip_version: r.required_int("IPVersion")?,
        ip_count: r.required_int("IPCount")?,
        uuid: r.text("uuid")?,
    };
    r.finish()?;
    Ok(record)
}
