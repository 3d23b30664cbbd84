//! Damaged messages never crash a reader: the corpus's messages, with bytes
//! changed, dropped or repeated at random (a fixed seed, so a failure
//! repeats), are each read by every reader, which must answer with records
//! or a refusal that names a place.

use std::path::Path;

use nuvola_accounting::summarise::CloudLedger;
use nuvola_accounting::{Location, ParseError, accelerator, cloud, cloud_summary, public_ip, storage};

/// A small deterministic generator (xorshift64*).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that matter to the formats, and some that do not.
const INTERESTING: &[u8] = b":%\n\r \t<>/\"{}[],.-+eE0123456789Nn&;#\xc3\xa9\xff";

fn damage(message: &[u8], random: &mut Random) -> Vec<u8> {
    let mut bytes = message.to_vec();
    for _ in 0..1 + random.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = random.below(bytes.len());
        match random.below(4) {
            0 => bytes[at] = INTERESTING[random.below(INTERESTING.len())],
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, INTERESTING[random.below(INTERESTING.len())]),
            _ => {
                let end = (at + random.below(40)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
    bytes
}

fn placed(error: &ParseError) {
    match &error.location {
        Location::Line(line) | Location::Xml { line, .. } => assert!(*line >= 1, "{error}"),
        Location::Json(path) => assert!(!path.is_empty(), "{error}"),
    }
    assert!(!error.to_string().is_empty());
}

fn read_every_way(bytes: &[u8]) {
    match cloud::parse_all(bytes) {
        Ok(records) => {
            let mut ledger = CloudLedger::new();
            records.iter().for_each(|r| ledger.load(r));
            let _ = ledger.summarise();
        }
        Err(error) => placed(&error),
    }
    if let Err(error) = cloud_summary::parse_all(bytes) {
        placed(&error);
    }
    if let Err(error) = accelerator::parse_json(bytes) {
        placed(&error);
    }
    if let Err(error) = accelerator::parse_records_text(bytes) {
        placed(&error);
    }
    if let Err(error) = accelerator::parse_summaries_text(bytes) {
        placed(&error);
    }
    if let Err(error) = public_ip::parse_json(bytes) {
        placed(&error);
    }
    if let Err(error) = storage::parse_all(bytes) {
        placed(&error);
    }
}

#[test]
fn damaged_messages_are_read_or_refused_never_crash() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let headers = [
        ("apel_cloud_record_test_msg", "APEL-cloud-message: v0.4\n"),
        ("apel_cloud_summary", "APEL-cloud-summary-message: v0.4\n"),
        ("apel_accelerator_record", "APEL-accelerator-message\n"),
        ("apel_accelerator_summary", "APEL-accelerator-summary-message\n"),
    ];
    let mut messages = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("LICENSE") || name.ends_with(".md") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        let header = headers.iter().find(|(prefix, _)| name.starts_with(prefix)).map_or("", |(_, h)| h);
        messages.push([header.as_bytes(), &body].concat());
    }
    messages.sort();
    assert_eq!(messages.len(), 13);
    let mut random = Random(0x5eed_acc0_0171_2026);
    for message in &messages {
        read_every_way(message);
        for _ in 0..400 {
            read_every_way(&damage(message, &mut random));
        }
    }
}
