//! APEL accounting in nuvola, with no I/O: the record formats EGI's
//! accounting tool chain speaks, and the arithmetic APEL's server applies
//! to them.
//!
//! - [`cloud`]: cloud usage records (`APEL-cloud-message`, v0.2–v0.4), as
//!   cASO, the OpenNebula probe and nuvola publish them;
//! - [`cloud_summary`]: monthly cloud summaries
//!   (`APEL-cloud-summary-message: v0.4`), as a site's APEL client sends
//!   them upstream;
//! - [`summarise`]: "the last loaded record wins" per VM and month, then
//!   SummariseVMs' monthly summaries of per-month deltas;
//! - [`daily`]: a month's usage spread over its days, for daily charts;
//! - [`figures`]: the figures of usage a view shows, per month or day;
//! - [`accelerator`]: accelerator (GPU) records and summaries, in APEL's
//!   text form and in the JSON messages cASO sends (`APEL-accelerator-message`
//!   0.1), and their monthly summaries as APEL's `SummariseAccelerators`
//!   groups them;
//! - [`public_ip`]: public IP records (`APEL Public IP message` 0.2, JSON);
//! - [`storage`]: StAR storage records (XML);
//! - [`message`]: any of these, told apart as APEL's loader tells them;
//! - [`usage`]: the records of what nuvola itself runs (VMs, GPUs,
//!   volumes, public IPs), per VM and month, in these same shapes;
//! - [`bench`](mod@bench): the speed of reading and summarising cloud messages.
//!
//! Parsers read one message at a time from its bytes and refuse it with the
//! line (or JSON path, or XML element), the field and what is wrong
//! ([`ParseError`]). Records keep every field APEL keeps, a value APEL reads
//! as missing (empty, `NULL`, `None`) being `None`.

pub mod accelerator;
pub mod bench;
pub mod cloud;
pub mod cloud_summary;
pub mod daily;
mod error;
pub mod figures;
mod json;
pub mod message;
pub mod public_ip;
pub mod storage;
pub mod summarise;
mod text;
pub mod usage;
mod value;

pub use error::{Location, ParseError, Problem, WriteError};
pub use value::{Decimal3, is_null, month_bounds, month_start, parse_int, parse_time, year_month};
