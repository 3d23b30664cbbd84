//! The page shell every dashboard page renders into: skip link, header with
//! the main navigation, the active group switcher and logout, one `main`
//! landmark, and small helpers pages share.

use maud::{DOCTYPE, Markup, html};

use crate::session::Viewer;

/// The main navigation's sections, to mark the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Catalogue,
    Deployments,
    Requests,
    Admin,
    Statistics,
    Accounting,
    Other,
}

/// A whole page: `title` is the `<title>` and the `h1`.
pub fn page(title: &str, viewer: Option<&Viewer>, section: Section, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · nuvola" }
                link rel="stylesheet" href="/static/nuvola.css";
                script src="/static/nuvola.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "nuvola" }
                    (navigation(viewer, section))
                    (account(viewer))
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer class="bottom" {
                    "nuvola · " a href="/status" { "Status" } " · " a href="/api/v1/openapi.json" { "REST API" }
                }
            }
        }
    }
}

fn navigation(viewer: Option<&Viewer>, section: Section) -> Markup {
    let mut items = vec![(Section::Catalogue, "/", "Catalogue")];
    if let Some(v) = viewer {
        items.push((Section::Deployments, "/deployments", "Deployments"));
        items.push((Section::Requests, "/requests", "Requests"));
        if v.principal.admin {
            items.push((Section::Admin, "/admin/providers", "Administration"));
        }
        // Everyone sees their own usage, managers their groups', administrators all.
        items.push((Section::Accounting, "/accounting", "Accounting"));
        // Administrators see every group's figures, managers their groups'.
        if v.principal.admin || !v.principal.manages.is_empty() {
            items.push((Section::Statistics, "/stats", "Statistics"));
        }
    }
    html! {
        nav aria-label="Main" {
            ul {
                @for (s, href, label) in items {
                    li {
                        @if s == section {
                            a href=(href) aria-current="page" { (label) }
                        } @else {
                            a href=(href) { (label) }
                        }
                    }
                }
            }
        }
    }
}

fn account(viewer: Option<&Viewer>) -> Markup {
    html! {
        div class="account" {
            @match viewer {
                Some(v) => {
                    @if !v.groups().is_empty() {
                        form method="post" action="/session/group" class="inline" {
                            (v.csrf_field())
                            label for="active-group" { "Group" }
                            select id="active-group" name="group" {
                                @for g in v.groups() {
                                    option value=(g) selected[v.group.as_deref() == Some(g)] { (g) }
                                }
                            }
                            button type="submit" class="secondary" { "Switch" }
                        }
                    }
                    span class="who" { (v.display_name()) }
                    form method="post" action="/logout" class="inline" {
                        (v.csrf_field())
                        button type="submit" class="secondary" { "Sign out" }
                    }
                }
                None => {
                    a class="button" href="/login" { "Sign in" }
                }
            }
        }
    }
}

/// A notice at the top of a page; `kind` is `info`, `ok` or `error`.
pub fn notice(kind: &str, text: &str) -> Markup {
    let role = if kind == "error" { "alert" } else { "status" };
    html! { div class={"notice " (kind)} role=(role) { (text) } }
}

/// A time as `YYYY-MM-DD HH:MM UTC` inside a `<time>` element.
pub fn time(ms: i64) -> Markup {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M UTC")) } }
}

/// A duration in words: `42 s`, `5 min`, `3 h 10 min`, `2 d 4 h`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(300_000), "5 min");
        assert_eq!(duration(3_600_000 + 600_000), "1 h 10 min");
        assert_eq!(duration(2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
        assert_eq!(duration(-5), "0 s");
    }
}
