//! How fast nuvola reads and summarises APEL cloud messages, measured on
//! messages the caller has in memory (so that reading files or a queue is
//! not counted): reading alone, reading and loading into a
//! [`CloudLedger`], then summarising. `nuvola bench accounting` and the
//! crate's `measure` example print these figures.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::cloud;
use crate::error::ParseError;
use crate::summarise::{CloudLedger, SummaryError};

/// What one measurement found, and how long each step took.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Messages read.
    pub messages: usize,
    /// Their size in bytes.
    pub bytes: usize,
    /// Records read.
    pub records: usize,
    /// VM-months kept after "the last loaded record wins".
    pub vm_months: usize,
    /// Monthly summaries computed.
    pub summaries: usize,
    /// Reading every record of every message (no ledger).
    pub parse: Duration,
    /// Reading every record and loading it into a ledger.
    pub ingest: Duration,
    /// Summarising the ledger.
    pub summarise: Duration,
}

impl Figures {
    /// Records per second of a step.
    pub fn rate(&self, step: Duration) -> f64 {
        self.records as f64 / step.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Ingest and summarise together: the end-to-end time.
    pub fn total(&self) -> Duration {
        self.ingest + self.summarise
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mb = self.bytes as f64 / 1e6;
        writeln!(f, "{} records in {} messages ({mb:.0} MB)", self.records, self.messages)?;
        writeln!(
            f,
            "parse:     {:>8.3} s  {:>10.0} records/s  {:>6.0} MB/s",
            self.parse.as_secs_f64(),
            self.rate(self.parse),
            mb / self.parse.as_secs_f64().max(f64::MIN_POSITIVE)
        )?;
        writeln!(
            f,
            "ingest:    {:>8.3} s  {:>10.0} records/s  ({} VM-months kept)",
            self.ingest.as_secs_f64(),
            self.rate(self.ingest),
            self.vm_months
        )?;
        writeln!(f, "summarise: {:>8.3} s  ({} summaries)", self.summarise.as_secs_f64(), self.summaries)?;
        write!(f, "total:     {:>8.3} s  {:>10.0} records/s", self.total().as_secs_f64(), self.rate(self.total()))
    }
}

/// Why a measurement could not finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A message was refused.
    #[error("message {message}: {error}")]
    Parse {
        /// The message's position, from 1.
        message: usize,
        /// Why it was refused.
        error: ParseError,
    },
    /// A summary did not fit.
    #[error(transparent)]
    Summary(#[from] SummaryError),
}

/// Reads, loads and summarises the messages on one thread, timing each
/// step.
pub fn measure<M: AsRef<[u8]>>(messages: &[M]) -> Result<Figures, BenchError> {
    let refused = |message: usize| move |error| BenchError::Parse { message: message + 1, error };
    let started = Instant::now();
    let mut records = 0;
    for (i, message) in messages.iter().enumerate() {
        for record in cloud::parse_message(message.as_ref()).map_err(refused(i))? {
            black_box(record.map_err(refused(i))?);
            records += 1;
        }
    }
    let parse = started.elapsed();

    let started = Instant::now();
    let mut ledger = CloudLedger::new();
    for (i, message) in messages.iter().enumerate() {
        for record in cloud::parse_message(message.as_ref()).map_err(refused(i))? {
            ledger.load(&record.map_err(refused(i))?);
        }
    }
    let ingest = started.elapsed();

    let started = Instant::now();
    let summaries = black_box(ledger.summarise()?);
    let summarise = started.elapsed();

    Ok(Figures {
        messages: messages.len(),
        bytes: messages.iter().map(|m| m.as_ref().len()).sum(),
        records,
        vm_months: ledger.len(),
        summaries: summaries.len(),
        parse,
        ingest,
        summarise,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_count_what_was_read_and_kept() {
        let message = "APEL-cloud-message: v0.4\nVMUUID: a\nSiteName: S\nStatus: started\nStartTime: 1704067200\n\
                       WallDuration: 60\n%%\nVMUUID: a\nSiteName: S\nStatus: started\nStartTime: 1704067200\n\
                       WallDuration: 120\n%%\nVMUUID: b\nSiteName: S\n";
        let figures = measure(&[message, message]).unwrap();
        assert_eq!((figures.messages, figures.records), (2, 6));
        // a's two records share a month; b has no start: the zero date.
        assert_eq!((figures.vm_months, figures.summaries), (2, 2));
        assert!(figures.to_string().starts_with("6 records in 2 messages"), "{figures}");
        let refused = measure(&[message, "APEL-cloud-message: v0.4\nVMUUID: c\n"]).unwrap_err();
        assert_eq!(refused.to_string(), "message 2: line 2, field SiteName: mandatory field is missing");
    }
}
