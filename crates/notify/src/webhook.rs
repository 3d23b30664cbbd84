//! Signed webhooks: how nuvola tells a program of an alert or of a status
//! page change, and how that program knows it was nuvola.
//!
//! Each delivery is one `POST` of a JSON event with these headers:
//!
//! - `X-Nuvola-Timestamp`: when it was signed, in whole seconds since the
//!   Unix epoch;
//! - `X-Nuvola-Signature`: `sha256=` and the lowercase hex of
//!   HMAC-SHA256, keyed with the subscriber's secret (its UTF-8 bytes),
//!   over the timestamp, a dot and the body exactly as received:
//!   `<timestamp>.<body>`;
//! - `X-Nuvola-Delivery`: an id that stays the same across the tries of
//!   one delivery, so a receiver can drop a repeat.
//!
//! A receiver recomputes the HMAC over the raw body (before any JSON
//! parsing), compares it with the header's in constant time, and refuses a
//! timestamp further than a few minutes from its own clock, so that a
//! captured delivery cannot be replayed later — as GitHub's
//! `X-Hub-Signature-256` and Stripe's `Stripe-Signature` are checked.
//! [`verify`] does exactly that, for receivers written in Rust and for
//! nuvola's own tests.
//!
//! The URL is checked like deployments' callbacks (http(s), under an
//! operator's allowed prefix), redirects are not followed, and a delivery
//! is tried again after a wait when the receiver cannot be reached, times
//! out, or answers 5xx or 429; any other answer ends it. Its
//! [`Outcome`] is what the sent-log keeps.

use std::fmt;
use std::time::Duration;

use ring::hmac;

/// The header carrying the signing time, in seconds since the epoch.
pub const TIMESTAMP_HEADER: &str = "X-Nuvola-Timestamp";
/// The header carrying `sha256=<hex of the HMAC>`.
pub const SIGNATURE_HEADER: &str = "X-Nuvola-Signature";
/// The header carrying the delivery's id, the same on every try.
pub const DELIVERY_HEADER: &str = "X-Nuvola-Delivery";

/// How far a receiver lets a timestamp be from its clock by default.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Waits before each try of a delivery.
pub const BACKOFF: [Duration; 4] =
    [Duration::ZERO, Duration::from_secs(2), Duration::from_secs(10), Duration::from_secs(60)];

/// The value of [`SIGNATURE_HEADER`] for `body` signed at `timestamp`
/// (seconds since the epoch) with `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, &signed_bytes(&timestamp.to_string(), body));
    let mut header = String::with_capacity(7 + 64);
    header.push_str("sha256=");
    for byte in tag.as_ref() {
        header.push_str(&format!("{byte:02x}"));
    }
    header
}

/// Why a receiver refuses a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The timestamp header is not a whole number of seconds.
    BadTimestamp,
    /// The timestamp is further from the receiver's clock than allowed.
    Stale {
        /// How far off it is, in seconds (positive: in the past).
        age_secs: i64,
    },
    /// The signature header is not `sha256=` and 64 hex digits.
    BadSignatureHeader,
    /// The signature is not the body's with this secret at this time.
    Mismatch,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadTimestamp => write!(f, "{TIMESTAMP_HEADER} is not a number of seconds since the epoch"),
            Refusal::Stale { age_secs } => {
                write!(f, "{TIMESTAMP_HEADER} is {}s away from now, more than allowed", age_secs.unsigned_abs())
            }
            Refusal::BadSignatureHeader => write!(f, "{SIGNATURE_HEADER} is not sha256= and 64 hex digits"),
            Refusal::Mismatch => write!(f, "{SIGNATURE_HEADER} does not match the body and the secret"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Checks a delivery as a receiver does: `timestamp` and `signature` are
/// the headers' values, `body` the raw body, `now_ms` the receiver's
/// clock (ms since the epoch) and `tolerance` how far the timestamp may be
/// from it either way. The HMAC is compared in constant time.
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_ms: i64,
    tolerance: Duration,
) -> Result<(), Refusal> {
    let signed_at: i64 = timestamp.trim().parse().map_err(|_| Refusal::BadTimestamp)?;
    let age_secs = now_ms.div_euclid(1000).saturating_sub(signed_at);
    if age_secs.unsigned_abs() > tolerance.as_secs() {
        return Err(Refusal::Stale { age_secs });
    }
    let tag = signature.trim().strip_prefix("sha256=").and_then(from_hex).ok_or(Refusal::BadSignatureHeader)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, &signed_bytes(timestamp.trim(), body), &tag).map_err(|_| Refusal::Mismatch)
}

/// What is signed: the timestamp as sent, a dot, the body.
fn signed_bytes(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(timestamp.len() + 1 + body.len());
    bytes.extend_from_slice(timestamp.as_bytes());
    bytes.push(b'.');
    bytes.extend_from_slice(body);
    bytes
}

/// The 32 bytes that 64 hex digits (either case) spell.
fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect()
}

/// How a delivery went, for the sent-log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the receiver answered with success.
    pub delivered: bool,
    /// How many tries were made (0: the URL was refused before any).
    pub tries: usize,
    /// What happened last, in a line: "webhook to URL answered 204".
    pub detail: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tries {
            0 | 1 => write!(f, "{}", self.detail),
            n => write!(f, "{} (after {n} tries)", self.detail),
        }
    }
}

impl Outcome {
    /// A delivery not tried, and why.
    pub fn refused(detail: impl Into<String>) -> Self {
        Outcome { delivered: false, tries: 0, detail: detail.into() }
    }
}

/// POSTs `event` to `url` signed with `secret`, waiting `waits[i]` before
/// try `i`, until the receiver answers with success or with an answer
/// that another try would not change (redirects are not followed: a 3xx
/// ends it). Each try is signed afresh, so a late retry is not stale.
/// `url` must have been checked (see [`crate::Notifier::check_webhook`]).
pub async fn deliver(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    event: &serde_json::Value,
    waits: &[Duration],
) -> Outcome {
    let body = serde_json::to_vec(event).expect("a JSON value serialises");
    let delivery = uuid::Uuid::new_v4().to_string();
    let mut outcome = Outcome::refused(format!("webhook to {url} was not tried"));
    for (i, wait) in waits.iter().enumerate() {
        tokio::time::sleep(*wait).await;
        let timestamp = chrono::Utc::now().timestamp();
        let sent = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "nuvola-webhook")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(secret, timestamp, &body))
            .header(DELIVERY_HEADER, &delivery)
            .body(body.clone())
            .send()
            .await;
        let (delivered, again, detail) = match sent {
            Ok(r) => {
                let status = r.status();
                let again = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                let note = if status.is_redirection() { " (redirects are not followed)" } else { "" };
                (status.is_success(), again, format!("webhook to {url} answered {}{note}", status.as_u16()))
            }
            Err(e) if e.is_timeout() => (false, true, format!("webhook to {url} timed out")),
            Err(e) => (false, true, format!("webhook to {url} failed: {e}")),
        };
        outcome = Outcome { delivered, tries: i + 1, detail };
        if !again {
            break;
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_796_600_000_123;

    #[test]
    fn a_signature_verifies_and_any_change_is_refused() {
        let (secret, ts, body) = ("s3cret", NOW_MS / 1000, br#"{"event":"incident.updated"}"#.as_slice());
        let header = sign(secret, ts, body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64, "{header}");
        let t = ts.to_string();
        assert_eq!(verify(secret, &t, body, &header, NOW_MS, TOLERANCE), Ok(()));
        assert_eq!(
            verify(secret, &t, body, &header.to_uppercase().replace("SHA256=", "sha256="), NOW_MS, TOLERANCE),
            Ok(())
        );
        // Tampered body, wrong secret, another timestamp with the same signature.
        let tampered = br#"{"event":"incident.resolved"}"#;
        assert_eq!(verify(secret, &t, tampered, &header, NOW_MS, TOLERANCE), Err(Refusal::Mismatch));
        assert_eq!(verify("other", &t, body, &header, NOW_MS, TOLERANCE), Err(Refusal::Mismatch));
        assert_eq!(verify(secret, &(ts - 1).to_string(), body, &header, NOW_MS, TOLERANCE), Err(Refusal::Mismatch));
        // Too old, or too far ahead; at the edge it still passes.
        let old = (ts - 301).to_string();
        assert_eq!(
            verify(secret, &old, body, &sign(secret, ts - 301, body), NOW_MS, TOLERANCE),
            Err(Refusal::Stale { age_secs: 301 })
        );
        let ahead = (ts + 301).to_string();
        assert_eq!(
            verify(secret, &ahead, body, &sign(secret, ts + 301, body), NOW_MS, TOLERANCE),
            Err(Refusal::Stale { age_secs: -301 })
        );
        let edge = (ts - 300).to_string();
        assert_eq!(verify(secret, &edge, body, &sign(secret, ts - 300, body), NOW_MS, TOLERANCE), Ok(()));
        // Malformed headers say which.
        assert_eq!(verify(secret, "yesterday", body, &header, NOW_MS, TOLERANCE), Err(Refusal::BadTimestamp));
        for bad in ["", "sha1=abc", &header[7..], &format!("{header}00"), &format!("sha256={}", "zz".repeat(32))] {
            assert_eq!(verify(secret, &t, body, bad, NOW_MS, TOLERANCE), Err(Refusal::BadSignatureHeader), "{bad}");
        }
        assert!(Refusal::Stale { age_secs: -301 }.to_string().contains("301s away"));
    }

    #[test]
    fn the_signature_is_what_other_languages_compute() {
        // Python: hmac.new(b"Jefe", b'1700000000.{"a":1}', hashlib.sha256).hexdigest(),
        // and `openssl dgst -sha256 -hmac Jefe` agree on this value.
        assert_eq!(
            sign("Jefe", 1_700_000_000, br#"{"a":1}"#),
            "sha256=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
    }
}
