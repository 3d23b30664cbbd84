//! One entry point for a message of any kind nuvola reads, told apart as
//! APEL's `RecordFactory` tells them: a message starting with `<` is XML
//! (StAR), one starting with `{` is JSON (accelerators or public IPs, by its
//! `Type`), any other is text and its header line names its type.

use crate::accelerator::{self, AcceleratorMessage, AcceleratorRecord, AcceleratorSummary};
use crate::cloud::{self, CloudMessage};
use crate::cloud_summary::{self, CloudSummaryMessage};
use crate::error::{Location, ParseError, Problem};
use crate::public_ip::{self, PublicIpRecord};
use crate::storage::{self, StarRecords};
use crate::{json, text};

/// The text headers read, for the refusal of any other.
const TEXT_TYPES: &str = "APEL-cloud-message, APEL-cloud-summary-message, APEL-accelerator-message or \
                          APEL-accelerator-summary-message";

/// A message, by kind. Cloud and storage messages are read record by
/// record as the caller iterates; the others are read whole.
#[derive(Debug)]
pub enum Message<'a> {
    /// Cloud usage records.
    CloudRecords(CloudMessage<'a>),
    /// Cloud summaries.
    CloudSummaries(CloudSummaryMessage<'a>),
    /// Accelerator records (JSON or text).
    AcceleratorRecords(Vec<AcceleratorRecord>),
    /// Accelerator summaries (JSON or text).
    AcceleratorSummaries(Vec<AcceleratorSummary>),
    /// Public IP records.
    PublicIps(Vec<PublicIpRecord>),
    /// StAR storage records.
    Storage(Box<StarRecords<'a>>),
}

/// Tells what a message is and starts reading it.
pub fn read(message: &[u8]) -> Result<Message<'_>, ParseError> {
    match message.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => storage::parse_star(message).map(|records| Message::Storage(Box::new(records))),
        Some(b'{') => {
            let envelope = json::envelope(message)?;
            match envelope.kind.as_str() {
                public_ip::MESSAGE_TYPE => public_ip::from_envelope(envelope).map(Message::PublicIps),
                accelerator::RECORD_TYPE | accelerator::SUMMARY_TYPE => {
                    Ok(match accelerator::from_envelope(envelope)? {
                        AcceleratorMessage::Records(records) => Message::AcceleratorRecords(records),
                        AcceleratorMessage::Summaries(summaries) => Message::AcceleratorSummaries(summaries),
                    })
                }
                _ => Err(ParseError::field(
                    Location::Json("$".to_owned()),
                    "Type",
                    Problem::NotOneOf {
                        value: envelope.kind,
                        allowed: format!(
                            "{}, {}, {}",
                            accelerator::RECORD_TYPE,
                            accelerator::SUMMARY_TYPE,
                            public_ip::MESSAGE_TYPE
                        ),
                    },
                )),
            }
        }
        _ => {
            let (header, _) = text::split_header(text::utf8(message)?)?;
            match header.kind {
                cloud::HEADER => cloud::parse_message(message).map(Message::CloudRecords),
                cloud_summary::HEADER => cloud_summary::parse_message(message).map(Message::CloudSummaries),
                accelerator::RECORD_TYPE => accelerator::parse_records_text(message).map(Message::AcceleratorRecords),
                accelerator::SUMMARY_TYPE => {
                    accelerator::parse_summaries_text(message).map(Message::AcceleratorSummaries)
                }
                _ => {
                    let found = match header.version {
                        "" => header.kind.to_owned(),
                        version => format!("{}: {version}", header.kind),
                    };
                    Err(ParseError::at(
                        Location::Line(header.line),
                        Problem::WrongHeader { found, expected: TEXT_TYPES },
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_told_apart_by_their_first_character_and_type() {
        let kind = |message: &str| match read(message.as_bytes()) {
            Ok(Message::CloudRecords(_)) => "cloud",
            Ok(Message::CloudSummaries(_)) => "cloud summaries",
            Ok(Message::AcceleratorRecords(_)) => "accelerators",
            Ok(Message::AcceleratorSummaries(_)) => "accelerator summaries",
            Ok(Message::PublicIps(_)) => "public IPs",
            Ok(Message::Storage(_)) => "storage",
            Err(_) => "refused",
        };
        assert_eq!(kind("APEL-cloud-message: v0.4\nVMUUID: a\nSiteName: S\n"), "cloud");
        assert_eq!(kind("\n APEL-cloud-summary-message: v0.4\n"), "cloud summaries");
        assert_eq!(kind("  <sr:StorageUsageRecords xmlns:sr=\"x\"/>"), "storage");
        let ips = r#"{"Type": "APEL Public IP message", "Version": "0.2", "UsageRecords": [{"MeasurementTime": 1,
            "SiteName": "S", "CloudType": "c", "LocalGroup": "g", "FQAN": "f", "IPVersion": 4, "IPCount": 1}]}"#;
        assert_eq!(kind(ips), "public IPs");
        assert_eq!(kind("APEL-summary-job-message: v0.2\nSite: X\n"), "refused");
        let error = read(b"APEL-summary-job-message: v0.2\n").unwrap_err();
        assert_eq!(error.line(), Some(1));
        assert!(error.to_string().contains("APEL-cloud-message, APEL-cloud-summary-message"), "{error}");
        let error = read(br#"{"Type": "APEL-sync-message", "Version": "0.1", "UsageRecords": [{}]}"#).unwrap_err();
        assert_eq!((error.field.as_deref(), error.location), (Some("Type"), Location::Json("$".into())));
    }
}
