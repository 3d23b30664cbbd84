//! Following an OpenStack listing to its end. Nova and Cinder answer a
//! page of at most `limit` items (their own maximum without one: Nova's
//! `[api] max_limit`, Cinder's `osapi_max_limit`, 1000 by default) and
//! name the next page in `<collection>_links` (rel `next`, an absolute
//! URL); Neutron does the same, with a `previous` link beside it; Glance
//! (25 images a page by default) names it in `next`, a path.
//!
//! The next request sends the link's query (the filters, `limit` and the
//! server's `marker`) on the listing's own path, to the catalog's
//! endpoint: a link whose host or path prefix is the service's own idea
//! of itself (a service behind a proxy) still works, and the token goes
//! nowhere else. A link to another collection, a link to a page already
//! read (a server looping on one marker), or more than [`MAX_PAGES`]
//! pages stop the listing with an error instead of hanging.
//!
//! A marker is an item of the page before: deleted meanwhile, the next
//! page is refused (Nova and Glance answer 400, Cinder and Neutron 404),
//! and the listing starts over, at most [`RESTARTS`] times.

use std::collections::BTreeSet;

use serde_json::Value;

/// The most pages one listing reads.
pub(super) const MAX_PAGES: usize = 10_000;

/// How often a listing starts over when a later page's marker is gone.
pub(super) const RESTARTS: u32 = 3;

/// Where a listing is: its path, collection key and the pages read.
#[derive(Debug)]
pub(super) struct Pages {
    /// The listing's path, without its query.
    path: String,
    /// The collection's key in the JSON (`servers`, `security_groups`).
    key: String,
    /// The query of every page asked for so far.
    seen: BTreeSet<String>,
}

impl Pages {
    /// A listing of `path` (relative to the service's endpoint, with its
    /// filters) whose items are under `key`, asking for `page_size` items
    /// a page when given; returns it with the first request's path.
    pub(super) fn start(path: &str, key: &str, page_size: Option<u32>) -> (Pages, String) {
        let (bare, query) = path.split_once('?').unwrap_or((path, ""));
        let mut query = query.to_string();
        if let Some(n) = page_size {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("limit={n}"));
        }
        let first = if query.is_empty() { bare.to_string() } else { format!("{bare}?{query}") };
        let pages = Pages { path: bare.to_string(), key: key.to_string(), seen: BTreeSet::from([query]) };
        (pages, first)
    }

    /// The listing's path, without its query (for messages).
    pub(super) fn path(&self) -> &str {
        &self.path
    }

    /// The number of the page last asked for (1 for the first).
    pub(super) fn page(&self) -> usize {
        self.seen.len()
    }

    /// The path of the page after `page`, or `None` at the end.
    pub(super) fn next(&mut self, page: &Value) -> Result<Option<String>, String> {
        let Some(href) = next_link(page, &self.key) else { return Ok(None) };
        let base = url::Url::parse("http://listing.invalid/").expect("a valid base URL");
        let link = url::Url::options()
            .base_url(Some(&base))
            .parse(href)
            .map_err(|e| format!("the next-page link {href:?} is not a URL: {e}"))?;
        if !link.path().ends_with(&self.path) {
            return Err(format!("the next-page link {href:?} leaves the listing"));
        }
        let query = link.query().unwrap_or_default().to_string();
        if self.seen.len() >= MAX_PAGES {
            return Err(format!("more than {MAX_PAGES} pages; stopped there"));
        }
        let next = if query.is_empty() { self.path.clone() } else { format!("{}?{query}", self.path) };
        if !self.seen.insert(query) {
            return Err(format!("the next-page link {href:?} names a page already read: the listing loops"));
        }
        Ok(Some(next))
    }
}

/// The next-page link of `page`: `<key>_links` rel `next` (Nova, Cinder,
/// Neutron) or `next` (Glance).
fn next_link<'a>(page: &'a Value, key: &str) -> Option<&'a str> {
    page[format!("{key}_links")]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["rel"] == "next")
        .and_then(|l| l["href"].as_str())
        .or_else(|| page["next"].as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_page_asks_for_the_page_size() {
        assert_eq!(Pages::start("/flavors", "flavors", None).1, "/flavors");
        assert_eq!(Pages::start("/flavors", "flavors", Some(2)).1, "/flavors?limit=2");
        assert_eq!(Pages::start("/v2.0/ports?device_id=x", "ports", Some(5)).1, "/v2.0/ports?device_id=x&limit=5");
    }

    #[test]
    fn next_links_are_followed_on_the_listing_path() {
        // Nova: absolute, with the host and prefix the service sees.
        let (mut p, _) = Pages::start("/servers/detail?name=%5Enuvola-", "servers", Some(2));
        let page = json!({"servers": [], "servers_links": [
            {"rel": "next", "href": "http://nova.internal:8774/v2.1/servers/detail?name=%5Enuvola-&limit=2&marker=m1"}]});
        assert_eq!(p.next(&page).unwrap().as_deref(), Some("/servers/detail?name=%5Enuvola-&limit=2&marker=m1"));
        // Neutron: `previous` beside `next`.
        let (mut p, _) = Pages::start("/v2.0/ports", "ports", Some(2));
        let page = json!({"ports": [], "ports_links": [
            {"rel": "previous", "href": "http://h:9696/v2.0/ports?limit=2&marker=a&page_reverse=True"},
            {"rel": "next", "href": "http://h:9696/v2.0/ports?limit=2&marker=b"}]});
        assert_eq!(p.next(&page).unwrap().as_deref(), Some("/v2.0/ports?limit=2&marker=b"));
        // Glance: a path.
        let (mut p, _) = Pages::start("/v2/images?name=cirros", "images", None);
        let page = json!({"images": [], "next": "/v2/images?name=cirros&marker=i1", "first": "/v2/images?name=cirros"});
        assert_eq!(p.next(&page).unwrap().as_deref(), Some("/v2/images?name=cirros&marker=i1"));
        // The last page names none (Neutron's holds only `previous`).
        let last = json!({"ports": [], "ports_links": [{"rel": "previous", "href": "http://h/v2.0/ports?marker=z"}]});
        assert_eq!(Pages::start("/v2.0/ports", "ports", None).0.next(&last).unwrap(), None);
    }

    #[test]
    fn a_looping_server_is_stopped() {
        let (mut p, _) = Pages::start("/volumes/detail", "volumes", Some(1));
        let page = |marker: &str| {
            json!({"volumes": [{}], "volumes_links": [
                {"rel": "next", "href": format!("http://c/v3/p/volumes/detail?limit=1&marker={marker}")}]})
        };
        assert!(p.next(&page("a")).unwrap().is_some());
        assert!(p.next(&page("b")).unwrap().is_some());
        let err = p.next(&page("a")).unwrap_err();
        assert!(err.contains("marker=a") && err.contains("already read"), "{err}");
        // A link back to the first page loops too.
        let (mut p, _) = Pages::start("/flavors", "flavors", None);
        let err = p.next(&json!({"flavors_links": [{"rel": "next", "href": "http://n/v2.1/flavors"}]})).unwrap_err();
        assert!(err.contains("already read"), "{err}");
    }

    #[test]
    fn listings_end_after_the_page_cap() {
        let (mut p, _) = Pages::start("/volumes/detail", "volumes", Some(1));
        let page =
            |n: usize| json!({"volumes_links": [{"rel": "next", "href": format!("/volumes/detail?marker={n}")}]});
        for n in 1..MAX_PAGES {
            assert!(p.next(&page(n)).unwrap().is_some(), "page {n}");
        }
        let err = p.next(&page(MAX_PAGES)).unwrap_err();
        assert!(err.contains(&format!("more than {MAX_PAGES} pages")), "{err}");
    }

    #[test]
    fn links_to_another_collection_are_refused() {
        let (mut p, _) = Pages::start("/servers/detail", "servers", None);
        let page = json!({"servers_links": [{"rel": "next", "href": "http://n/v2.1/os-keypairs?marker=x"}]});
        let err = p.next(&page).unwrap_err();
        assert!(err.contains("leaves the listing"), "{err}");
    }
}
