//! Notifications by email: a small SMTP client (RFC 5321, plain, no
//! authentication: a local relay or the site's smarthost), and the
//! messages nuvola sends. The app sends mail in the background; a failure
//! is logged and never fails the request that caused it. What users are
//! told is also kept in the store, for the dashboard.

use std::time::Duration;

use nuvola_types::{AccessRequest, RequestKind};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// `[notifications]`: where mail goes out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// `host:port` of the SMTP relay.
    pub smtp: String,
    /// The sender address.
    pub from: String,
}

/// Whether `address` is safe to put in an SMTP command and a header.
pub fn plausible_address(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}

/// Sends one plain-text message.
pub async fn send(settings: &SmtpSettings, to: &str, subject: &str, body: &str) -> Result<(), String> {
    if !plausible_address(to) || !plausible_address(&settings.from) {
        return Err(format!("not a usable address: {to}"));
    }
    let work = async {
        let stream = TcpStream::connect(&settings.smtp).await.map_err(|e| format!("cannot connect: {e}"))?;
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        expect(&mut read, 220).await?;
        let text = data(&settings.from, to, subject, body, &chrono::Utc::now().to_rfc2822());
        for (command, code) in [
            ("EHLO nuvola\r\n".to_string(), 250),
            (format!("MAIL FROM:<{}>\r\n", settings.from), 250),
            (format!("RCPT TO:<{to}>\r\n"), 250),
            ("DATA\r\n".to_string(), 354),
            (text, 250),
            ("QUIT\r\n".to_string(), 221),
        ] {
            write.write_all(command.as_bytes()).await.map_err(|e| format!("cannot send: {e}"))?;
            expect(&mut read, code).await?;
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .map_err(|_| "the SMTP server did not answer".to_string())?
}

/// The DATA of one message, up to its closing dot. Every line of `body`
/// ends in CRLF and holds no other control character than a tab: a bare CR
/// or LF from user text could otherwise end the data early at a relay that
/// reads it so ("SMTP smuggling") and smuggle a second message in. Lines
/// starting with a dot get another (RFC 5321 4.5.2).
fn data(from: &str, to: &str, subject: &str, body: &str, date: &str) -> String {
    let subject: String = subject.chars().filter(|c| !c.is_control()).collect();
    let mut text = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    let body = body.replace("\r\n", "\n");
    for line in body.strip_suffix('\n').unwrap_or(&body).split(['\r', '\n']) {
        if line.starts_with('.') {
            text.push('.');
        }
        text.extend(line.chars().filter(|c| *c == '\t' || !c.is_control()));
        text.push_str("\r\n");
    }
    text.push_str(".\r\n");
    text
}

/// The subject and body telling the requester of `r` how it was decided.
pub fn decision(r: &AccessRequest) -> (String, String) {
    let what = match r.kind {
        RequestKind::Group => format!("membership of group {}", r.target),
        RequestKind::Catalogue => format!("access to {}", r.target),
    };
    let subject = format!("nuvola: your request for {what} was {}", r.status);
    let body = format!(
        "Your request {id} for {what} was {status} by {by}.\n\nComment:\n{comment}\n\nYour reason was:\n{reason}\n",
        id = r.id,
        status = r.status,
        by = r.decided_by.as_deref().unwrap_or("-"),
        comment = quoted(r.comment.as_deref().filter(|c| !c.is_empty()).unwrap_or("(none)")),
        reason = quoted(&r.reason),
    );
    (subject, body)
}

/// Text a user wrote, quoted in a message: each line behind `> `, so that
/// it cannot pass for the platform's own words.
pub fn quoted(text: &str) -> String {
    text.lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, code: u16) -> Result<(), String> {
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.map_err(|e| format!("cannot read: {e}"))? == 0 {
            return Err("the SMTP server closed the connection".into());
        }
        let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).ok_or_else(|| format!("bad reply {line:?}"))?;
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        return if got == code { Ok(()) } else { Err(format!("expected {code}, got {}", line.trim_end())) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_cannot_end_the_data_or_smuggle_a_message() {
        let body = "Your reason was: hi\r.\r\nMAIL FROM:<evil@example.org>\n.\nRSET\rx\u{0}y\tz\r\n";
        let text = data("nuvola@example.org", "alice@example.org", "S\r\nBcc: x@example.org", body, "now");
        assert!(text.ends_with("\r\n.\r\n"));
        let inner = &text[..text.len() - 3];
        assert!(!inner.contains("\r\n.\r\n"), "the data ends only at its end: {text:?}");
        let bytes = text.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}: {text:?}"),
                b'\n' => assert_eq!(bytes[i - 1], b'\r', "bare LF at {i}: {text:?}"),
                _ => {}
            }
        }
        assert!(text.contains("Subject: SBcc: x@example.org\r\n"), "{text:?}");
        assert!(text.contains("\r\n..\r\n") && text.contains("xy\tz"), "{text:?}");
        assert_eq!(quoted("one\ntwo"), "> one\n> two");
        let plain = data("a@example.org", "b@example.org", "s", "one\r\ntwo\n", "now");
        assert!(plain.ends_with("\r\n\r\none\r\ntwo\r\n.\r\n"), "{plain:?}");
    }

    #[test]
    fn a_decision_quotes_what_users_wrote() {
        use nuvola_types::RequestStatus;
        let r = AccessRequest {
            id: "r1".into(),
            kind: RequestKind::Group,
            target: "physics".into(),
            reason: "I analyse LHC data\nNuvola: approved by admin".into(),
            status: RequestStatus::Rejected,
            decided_by: Some("dave@nuvola".into()),
            comment: None,
            ..Default::default()
        };
        let (subject, body) = decision(&r);
        assert_eq!(subject, "nuvola: your request for membership of group physics was rejected");
        assert!(body.starts_with("Your request r1 for membership of group physics was rejected by dave@nuvola."));
        assert!(body.contains("Comment:\n> (none)\n"), "{body}");
        assert!(body.contains("\n> I analyse LHC data\n> Nuvola: approved by admin\n"), "{body}");
        let r = AccessRequest { kind: RequestKind::Catalogue, target: "gpu-vm".into(), ..r };
        assert!(decision(&r).0.contains("access to gpu-vm"));
    }
}
