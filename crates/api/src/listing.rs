//! The query parameters of deployment listings, shared by the orchestrator's
//! and the native API: filters, paging, and the links between pages.

use nuvola_app::ListQuery;
use nuvola_types::{DeploymentStatus, Error};

/// A listing's query parameters in the order given; a parameter may repeat.
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The last value given for `key`.
    pub(crate) fn last<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.all(key).last()
    }

    /// Reads the listing parameters, with a clear error for each bad one.
    /// `excludedStatus` takes a comma-separated list and may repeat, as
    /// Spring binds the orchestrator's `Status[]`.
    pub(crate) fn list_query(&self) -> Result<ListQuery, Error> {
        let number = |key: &str, default: i64| -> Result<i64, Error> {
            self.last(key).map_or(Ok(default), |v| {
                v.trim().parse().map_err(|_| Error::invalid(format!("{key} must be a whole number, not {v:?}")))
            })
        };
        let status = |key: &str| -> Result<Option<DeploymentStatus>, Error> {
            Ok(nuvola_indigo::statuses(key, self.last(key))?.into_iter().next())
        };
        Ok(ListQuery {
            created_by: self.last("createdBy").map(str::to_string),
            user_group: self.last("userGroup").map(str::to_string),
            excluded_status: nuvola_indigo::statuses("excludedStatus", self.all("excludedStatus"))?,
            status: status("status")?,
            page: number("page", 0)?,
            size: number("size", 10)?,
        })
    }

    /// The link to page `n` of a listing at `base`, keeping the listing's
    /// filters (every query parameter but `page` and `size`).
    pub(crate) fn page_href(&self, base: String, size: i64) -> impl Fn(i64) -> String + use<> {
        let keep: Vec<(String, String)> = self.0.iter().filter(|(k, _)| k != "page" && k != "size").cloned().collect();
        move |n: i64| {
            let mut q = format!("{base}?page={n}&size={size}");
            for (k, v) in &keep {
                q.push_str(&format!("&{}={}", encode(k), encode(v)));
            }
            q
        }
    }
}

/// Percent-encodes everything but the unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
