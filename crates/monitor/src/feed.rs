//! The status page's feeds: Atom 1.0 (RFC 4287) and RSS 2.0, of the
//! incidents and the scheduled maintenances, for people who follow the
//! page in a feed reader rather than by e-mail.
//!
//! One entry per incident, not per update: the entry's title carries the
//! incident's latest status ("[Resolved] Bari's compute is down"), its
//! summary the latest update, its content every update newest first, and
//! its `updated` time moves with each update, so a reader shows the
//! incident once and marks it changed instead of filling up with one item
//! per update. A maintenance is an entry too, saying where it stands ("At
//! risk: due to start in 2 days"); its `updated` time is when its current
//! phase began ([`Maintenance::noticed_at`]), so it changes only when the
//! maintenance moves on, not on every render.
//!
//! Entry ids are `tag:` URIs (RFC 4151) of the page's host, the day the
//! incident was opened or the maintenance announced, and its id
//! (`tag:status.example.org,2024-05-14:incident/42`): they never change
//! with updates, so readers do not show an incident twice. Atom's times
//! are RFC 3339; RSS 2.0 requires RFC 822 (`Tue, 14 May 2024 10:02:35 GMT`),
//! and an RSS item's `pubDate` is when the incident was opened (RSS has no
//! "updated": a reader that keys on `guid` keeps the first version it saw,
//! which is why the Atom feed is the one the page advertises first).
//!
//! Text is escaped for XML (`&`, `<`, `>`, `"`, `'`), and the characters
//! XML 1.0 cannot carry at all, not even as a character reference (the C0
//! controls but tab, newline and carriage return, U+FFFE and U+FFFF), are
//! replaced by U+FFFD, since one of them would make the whole feed
//! unreadable to a conforming parser.

use std::fmt::Write;

use nuvola_types::IncidentStatus;

use crate::statuspage::{Incident, Maintenance, Page};
use crate::timestamp::{date, rfc822, rfc3339, write_rfc3339};

/// The Atom feed's content type.
pub const ATOM_CONTENT_TYPE: &str = "application/atom+xml; charset=utf-8";
/// The RSS feed's content type.
pub const RSS_CONTENT_TYPE: &str = "application/rss+xml; charset=utf-8";

/// One incident or maintenance, as both feeds show it.
struct Entry {
    id: String,
    title: String,
    link: String,
    published: i64,
    updated: i64,
    summary: String,
    content: String,
}

/// The Atom 1.0 feed of `incidents` and `maintenances`, newest change
/// first; `self_url` is the feed's own address.
pub fn atom(page: &Page, self_url: &str, incidents: &[Incident], maintenances: &[Maintenance]) -> String {
    let entries = entries(page, incidents, maintenances);
    let updated = entries.iter().map(|e| e.updated).fold(page.updated_at, i64::max);
    let mut out = String::with_capacity(1_024 + entries.len() * 1_024);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    element(&mut out, 1, "id", &page.url);
    element(&mut out, 1, "title", &format!("{} status", page.name));
    element(&mut out, 1, "updated", &rfc3339(updated));
    link(&mut out, 1, "alternate", "text/html", &page.url);
    link(&mut out, 1, "self", "application/atom+xml", self_url);
    out.push_str("  <author>\n");
    element(&mut out, 2, "name", &page.name);
    out.push_str("  </author>\n");
    for e in &entries {
        out.push_str("  <entry>\n");
        element(&mut out, 2, "id", &e.id);
        element(&mut out, 2, "title", &e.title);
        out.push_str("    <updated>");
        write_rfc3339(&mut out, e.updated);
        out.push_str("</updated>\n    <published>");
        write_rfc3339(&mut out, e.published);
        out.push_str("</published>\n");
        link(&mut out, 2, "alternate", "text/html", &e.link);
        element(&mut out, 2, "summary", &e.summary);
        out.push_str("    <content type=\"text\">");
        escape_into(&mut out, &e.content);
        out.push_str("</content>\n  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

/// The RSS 2.0 feed of `incidents` and `maintenances`, newest change
/// first; `self_url` is the feed's own address (as `atom:link`, which the
/// RSS Advisory Board recommends).
pub fn rss(page: &Page, self_url: &str, incidents: &[Incident], maintenances: &[Maintenance]) -> String {
    let entries = entries(page, incidents, maintenances);
    let updated = entries.iter().map(|e| e.updated).fold(page.updated_at, i64::max);
    let mut out = String::with_capacity(1_024 + entries.len() * 1_024);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n  <channel>\n");
    element(&mut out, 2, "title", &format!("{} status", page.name));
    element(&mut out, 2, "link", &page.url);
    element(&mut out, 2, "description", &format!("Incidents and maintenance of {}", page.name));
    element(&mut out, 2, "lastBuildDate", &rfc822(updated));
    out.push_str("    <atom:link rel=\"self\" type=\"application/rss+xml\" href=\"");
    escape_into(&mut out, self_url);
    out.push_str("\"/>\n");
    for e in &entries {
        out.push_str("    <item>\n");
        element(&mut out, 3, "title", &e.title);
        element(&mut out, 3, "link", &e.link);
        element(&mut out, 3, "description", &e.content);
        out.push_str("      <guid isPermaLink=\"false\">");
        escape_into(&mut out, &e.id);
        out.push_str("</guid>\n");
        element(&mut out, 3, "pubDate", &rfc822(e.published));
        out.push_str("    </item>\n");
    }
    out.push_str("  </channel>\n</rss>\n");
    out
}

/// `text` with what XML gives a meaning to escaped and what XML cannot
/// carry replaced by U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

fn element(out: &mut String, depth: usize, name: &str, text: &str) {
    indent(out, depth);
    let _ = write!(out, "<{name}>");
    escape_into(out, text);
    let _ = writeln!(out, "</{name}>");
}

fn link(out: &mut String, depth: usize, rel: &str, kind: &str, href: &str) {
    indent(out, depth);
    let _ = write!(out, "<link rel=\"{rel}\" type=\"{kind}\" href=\"");
    escape_into(out, href);
    out.push_str("\"/>\n");
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn entries(page: &Page, incidents: &[Incident], maintenances: &[Maintenance]) -> Vec<Entry> {
    let host = host(&page.url).unwrap_or(&page.id);
    let mut entries = Vec::with_capacity(incidents.len() + maintenances.len());
    for i in incidents {
        let mut updates = i.updates.iter().collect::<Vec<_>>();
        updates.sort_by_key(|u| std::cmp::Reverse(u.created_at));
        let mut content = String::new();
        for u in &updates {
            if !content.is_empty() {
                content.push_str("\n\n");
            }
            let _ = write!(content, "{} ({}): {}", word(u.status), rfc3339(u.created_at), u.body);
        }
        entries.push(Entry {
            id: tag(host, i.created_at, "incident", &i.id),
            title: format!("[{}] {}", word(i.status), i.name),
            link: if i.shortlink.is_empty() { page.url.clone() } else { i.shortlink.clone() },
            published: i.created_at,
            updated: updates.first().map_or(i.updated_at, |u| u.created_at.max(i.updated_at)),
            summary: updates.first().map_or_else(|| word(i.status).to_string(), |u| u.body.clone()),
            content,
        });
    }
    for m in maintenances {
        let notice = m.notice();
        let window = format!("Scheduled from {} until {}.", rfc3339(m.scheduled_for), rfc3339(m.scheduled_until));
        entries.push(Entry {
            id: tag(host, m.updated_at, "maintenance", &m.id),
            title: format!("[{}] {}", phase_word(m), m.name),
            link: page.url.clone(),
            published: m.updated_at,
            updated: m.noticed_at(),
            content: format!("{notice}. {window}"),
            summary: notice,
        });
    }
    entries.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
    entries
}

fn word(status: IncidentStatus) -> &'static str {
    match status {
        IncidentStatus::Investigating => "Investigating",
        IncidentStatus::Identified => "Identified",
        IncidentStatus::Monitoring => "Monitoring",
        IncidentStatus::Resolved => "Resolved",
    }
}

fn phase_word(m: &Maintenance) -> &'static str {
    match m.phase.as_str() {
        "scheduled" => "Scheduled",
        "in_progress" => "In progress",
        _ => "Completed",
    }
}

/// A `tag:` URI (RFC 4151): `tag:<host>,<date>:<kind>/<id>`, the id
/// percent-encoded where a tag's specific part cannot hold it.
fn tag(host: &str, at: i64, kind: &str, id: &str) -> String {
    let mut out = format!("tag:{host},{}:{kind}/", date(at));
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The host of an http(s) address, without user, port or path.
fn host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::Phase;
    use crate::statuspage::IncidentUpdate;
    use nuvola_types::{Impact, MaintenanceKind};

    const T0: i64 = 1_715_680_955_392; // 2024-05-14T10:02:35.392Z
    const HOUR: i64 = 3_600_000;

    fn page() -> Page {
        Page {
            id: "example".into(),
            name: "Example Cloud".into(),
            url: "https://status.example.org/".into(),
            time_zone: "Europe/Rome".into(),
            updated_at: T0 - 100 * HOUR,
        }
    }

    fn update(id: &str, status: IncidentStatus, body: &str, created_at: i64) -> IncidentUpdate {
        IncidentUpdate { id: id.into(), status, body: body.into(), created_at, affected: vec![] }
    }

    fn incident() -> Incident {
        Incident {
            id: "42".into(),
            name: "Bari's compute is down".into(),
            status: IncidentStatus::Identified,
            impact: Impact::Major,
            created_at: T0 - 2 * HOUR,
            updated_at: T0 - HOUR,
            resolved_at: None,
            shortlink: "https://status.example.org/incidents/42".into(),
            updates: vec![
                update("a", IncidentStatus::Investigating, "Looking into it.", T0 - 2 * HOUR),
                update("b", IncidentStatus::Identified, "A power cut in the room.", T0 - HOUR),
            ],
            components: vec!["clouds/recas-bari".into()],
        }
    }

    fn maintenance(now: i64) -> Maintenance {
        let start = T0 + 48 * HOUR;
        Maintenance {
            id: "w/7".into(),
            name: "Storage upgrade".into(),
            phase: Phase::at(start, start + 4 * HOUR, now),
            kind: MaintenanceKind::AtRisk,
            scheduled_for: start,
            scheduled_until: start + 4 * HOUR,
            updated_at: T0 - 24 * HOUR,
            components: vec![],
        }
    }

    #[test]
    fn the_atom_feed_has_one_entry_per_incident_and_maintenance() {
        let feed = atom(&page(), "https://status.example.org/history.atom", &[incident()], &[maintenance(T0)]);
        let expected = "<?xml version=\"1.0\" encoding=\"utf-8\"?>
<feed xmlns=\"http://www.w3.org/2005/Atom\">
  <id>https://status.example.org/</id>
  <title>Example Cloud status</title>
  <updated>2024-05-14T09:02:35.392Z</updated>
  <link rel=\"alternate\" type=\"text/html\" href=\"https://status.example.org/\"/>
  <link rel=\"self\" type=\"application/atom+xml\" href=\"https://status.example.org/history.atom\"/>
  <author>
    <name>Example Cloud</name>
  </author>
  <entry>
    <id>tag:status.example.org,2024-05-14:incident/42</id>
    <title>[Identified] Bari&apos;s compute is down</title>
    <updated>2024-05-14T09:02:35.392Z</updated>
    <published>2024-05-14T08:02:35.392Z</published>
    <link rel=\"alternate\" type=\"text/html\" href=\"https://status.example.org/incidents/42\"/>
    <summary>A power cut in the room.</summary>
    <content type=\"text\">Identified (2024-05-14T09:02:35.392Z): A power cut in the room.

Investigating (2024-05-14T08:02:35.392Z): Looking into it.</content>
  </entry>
  <entry>
    <id>tag:status.example.org,2024-05-13:maintenance/w/7</id>
    <title>[Scheduled] Storage upgrade</title>
    <updated>2024-05-13T10:02:35.392Z</updated>
    <published>2024-05-13T10:02:35.392Z</published>
    <link rel=\"alternate\" type=\"text/html\" href=\"https://status.example.org/\"/>
    <summary>At risk: due to start in 2 days</summary>
    <content type=\"text\">At risk: due to start in 2 days. Scheduled from 2024-05-16T10:02:35.392Z until 2024-05-16T14:02:35.392Z.</content>
  </entry>
</feed>
";
        assert_eq!(feed, expected);
    }

    #[test]
    fn entry_ids_stay_the_same_as_incidents_and_maintenances_move_on() {
        let before = entries(&page(), &[incident()], &[maintenance(T0)]);
        let mut resolved = incident();
        resolved.status = IncidentStatus::Resolved;
        resolved.updates.push(update("c", IncidentStatus::Resolved, "Power is back.", T0));
        let after = entries(&page(), &[resolved], &[maintenance(T0 + 49 * HOUR)]);
        assert_eq!(
            before.iter().map(|e| &e.id).collect::<Vec<_>>(),
            after.iter().map(|e| &e.id).rev().collect::<Vec<_>>()
        );
        let (maintenance_after, incident_after) = (&after[0], &after[1]);
        assert_eq!(incident_after.title, "[Resolved] Bari's compute is down");
        assert_eq!(incident_after.updated, T0, "the entry is updated by its latest update");
        assert_eq!(incident_after.summary, "Power is back.");
        assert_eq!(maintenance_after.title, "[In progress] Storage upgrade");
        assert_eq!(maintenance_after.summary, "At risk: in progress, due to end in 3 hours");
        assert_eq!(maintenance_after.updated, T0 + 48 * HOUR, "updated when it started, not when rendered");
        // Rendering later within the same phase changes nothing a reader keys on.
        let later = entries(&page(), &[], &[maintenance(T0 + 50 * HOUR)]);
        assert_eq!(
            (later[0].id.as_str(), later[0].updated),
            (maintenance_after.id.as_str(), maintenance_after.updated)
        );
        assert_eq!(tag("h", 0, "incident", "a b/é"), "tag:h,1970-01-01:incident/a%20b/%C3%A9");
    }

    #[test]
    fn the_rss_feed_carries_the_same_entries_with_rfc_822_dates() {
        let feed = rss(&page(), "https://status.example.org/history.rss", &[incident()], &[]);
        let expected = "<?xml version=\"1.0\" encoding=\"utf-8\"?>
<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">
  <channel>
    <title>Example Cloud status</title>
    <link>https://status.example.org/</link>
    <description>Incidents and maintenance of Example Cloud</description>
    <lastBuildDate>Tue, 14 May 2024 09:02:35 GMT</lastBuildDate>
    <atom:link rel=\"self\" type=\"application/rss+xml\" href=\"https://status.example.org/history.rss\"/>
    <item>
      <title>[Identified] Bari&apos;s compute is down</title>
      <link>https://status.example.org/incidents/42</link>
      <description>Identified (2024-05-14T09:02:35.392Z): A power cut in the room.

Investigating (2024-05-14T08:02:35.392Z): Looking into it.</description>
      <guid isPermaLink=\"false\">tag:status.example.org,2024-05-14:incident/42</guid>
      <pubDate>Tue, 14 May 2024 08:02:35 GMT</pubDate>
    </item>
  </channel>
</rss>
";
        assert_eq!(feed, expected);
    }

    #[test]
    fn text_is_escaped_and_what_xml_cannot_carry_is_replaced() {
        assert_eq!(escape("a < b && c > \"d\" 'e'"), "a &lt; b &amp;&amp; c &gt; &quot;d&quot; &apos;e&apos;");
        assert_eq!(
            escape("bell\u{7} nul\u{0} esc\u{1b} tab\tnl\ncr\r"),
            "bell\u{fffd} nul\u{fffd} esc\u{fffd} tab\tnl\ncr\r"
        );
        assert_eq!(escape("\u{fffe}\u{ffff}ok"), "\u{fffd}\u{fffd}ok");
        assert_eq!(escape("città ☁"), "città ☁");
        let mut nasty = incident();
        nasty.name = "</title><script>alert(1)</script>".into();
        nasty.updates[1].body = "x ]]> & \u{8}".into();
        nasty.shortlink = "https://status.example.org/i?a=1&b=\"2\"".into();
        let feed = atom(&page(), "https://status.example.org/a?x=<y>", &[nasty], &[]);
        assert!(feed.contains("<title>[Identified] &lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>"));
        assert!(feed.contains("<summary>x ]]&gt; &amp; \u{fffd}</summary>"));
        assert!(feed.contains("href=\"https://status.example.org/i?a=1&amp;b=&quot;2&quot;\""));
        assert!(feed.contains("href=\"https://status.example.org/a?x=&lt;y&gt;\""));
        assert!(!feed.contains('\u{8}'));
    }

    #[test]
    fn the_tag_authority_is_the_pages_host() {
        assert_eq!(host("https://status.example.org/"), Some("status.example.org"));
        assert_eq!(host("https://user@status.example.org:8443/x"), Some("status.example.org"));
        assert_eq!(host("http://[2001:db8::1]:8080/"), Some("2001:db8::1"));
        assert_eq!(host("not a url"), None);
        let mut odd = page();
        odd.url = "/status".into();
        assert!(entries(&odd, &[incident()], &[])[0].id.starts_with("tag:example,2024-05-14:incident/42"));
    }
}
