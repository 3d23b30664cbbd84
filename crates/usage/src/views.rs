//! Accounting views: usage per month over a range of months, or per day
//! within one month, per provider, group, user or month alone, for the
//! pages, the API, the CLI and `/metrics`.
//!
//! Who sees what: a platform administrator everything; anyone else their
//! own usage (records whose global user name is their `subject@issuer`,
//! the form nuvola's own records use, or their bare subject, which sites
//! sending OIDC subjects use) and every user's usage in the groups (APEL
//! VOs) they manage. A request is narrowed to that: naming nothing, a
//! manager sees their own usage and their groups'; naming a group they
//! belong to but do not manage, their own usage in it. Naming a group they
//! neither manage nor belong to, or another user outside the groups they
//! manage, is refused (403) rather than answered with nothing.
//!
//! Monthly figures are the store's summaries. A manager's "own and their
//! groups'" is the sum of their groups' usage and their own, less their own
//! in their groups (counted twice otherwise): every figure is a sum over
//! records that each fall in one group and user, so this is exact. Daily
//! figures, in the same columns, spread the month's kept VM-months, their
//! accelerators, the storage records that overlap it and its public IP
//! measurements over its days ([`nuvola_accounting::daily::spread`]).

use std::collections::{BTreeMap, BTreeSet};

use nuvola_accounting::accelerator::AcceleratorRecord;
use nuvola_accounting::daily::MonthRecords;
use nuvola_accounting::public_ip::PublicIpRecord;
use nuvola_accounting::storage::StorageRecord;
use nuvola_monitor::openmetrics::Exposition;
use nuvola_store::{Period, StoredVmMonth, UsageBy, UsageFilter, UsageRow};
use nuvola_types::{Error, Principal, Result};
use serde::Serialize;

use crate::Accounting;

/// The longest range of months a view covers.
pub const MAX_MONTHS: i32 = 120;

/// What a view asks for, as the query strings of the API and the pages
/// carry it (every field may be absent or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRequest {
    /// First month, `YYYY-MM` (default: eleven months before `to`).
    pub from: Option<String>,
    /// Last month, `YYYY-MM`, included (default: this month).
    pub to: Option<String>,
    /// The month of a daily view, `YYYY-MM` (default: this month).
    pub month: Option<String>,
    /// `provider`, `group`, `user` or `month` (the default).
    pub by: Option<String>,
    /// Only these providers (APEL sites); none: every one.
    pub providers: Vec<String>,
    /// Only these groups (APEL VOs); none: every one the caller may see.
    pub groups: Vec<String>,
    /// Only these users (global user names, e.g. `subject@issuer`); none:
    /// every one the caller may see.
    pub users: Vec<String>,
}

impl UsageRequest {
    /// The request a query string's (decoded) pairs make: `from`, `to`,
    /// `month` and `by` once (the last one counts); `provider`, `group`
    /// and `user` as often as wanted, each value also a comma-separated
    /// list. Values are trimmed, empty ones and repeats dropped; other
    /// names are the caller's own business and left alone.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> UsageRequest {
        let mut request = UsageRequest::default();
        for (name, value) in pairs {
            let value = value.as_ref();
            let list = match name.as_ref() {
                "from" => &mut request.from,
                "to" => &mut request.to,
                "month" => &mut request.month,
                "by" => &mut request.by,
                "provider" => {
                    add(&mut request.providers, value);
                    continue;
                }
                "group" => {
                    add(&mut request.groups, value);
                    continue;
                }
                "user" => {
                    add(&mut request.users, value);
                    continue;
                }
                _ => continue,
            };
            *list = Some(value.to_owned());
        }
        request
    }

    /// The request's pairs, as [`UsageRequest::from_pairs`] reads them
    /// back: a list's values one pair each.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let once = [("from", &self.from), ("to", &self.to), ("month", &self.month), ("by", &self.by)];
        let mut pairs: Vec<(&'static str, &str)> = once
            .into_iter()
            .filter_map(|(name, value)| Some((name, value.as_deref()?.trim())))
            .filter(|(_, value)| !value.is_empty())
            .collect();
        for (name, values) in [("provider", &self.providers), ("group", &self.groups), ("user", &self.users)] {
            pairs.extend(values.iter().map(|v| (name, v.as_str())));
        }
        pairs
    }
}

/// Adds the comma-separated values of `text` to `list`, each once.
fn add(list: &mut Vec<String>, text: &str) {
    for value in text.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        if !list.iter().any(|v| v == value) {
            list.push(value.to_owned());
        }
    }
}

/// What rows are keyed by besides their month or day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// The month (or day) alone.
    #[default]
    Month,
    Provider,
    Group,
    User,
}

impl GroupBy {
    /// Every grouping, as the forms list them.
    pub const ALL: [GroupBy; 4] = [GroupBy::Month, GroupBy::Provider, GroupBy::Group, GroupBy::User];

    /// The word in URLs.
    pub fn word(self) -> &'static str {
        match self {
            GroupBy::Month => "month",
            GroupBy::Provider => "provider",
            GroupBy::Group => "group",
            GroupBy::User => "user",
        }
    }

    fn parse(text: Option<&str>) -> Result<Self> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(GroupBy::Month),
            Some(t) => Self::ALL.into_iter().find(|b| b.word() == t).ok_or_else(|| {
                Error::invalid(format!("by={t:?} is not a grouping: use provider, group, user or month"))
            }),
        }
    }

    fn store(self) -> UsageBy {
        match self {
            GroupBy::Month => UsageBy::Month,
            GroupBy::Provider => UsageBy::Site,
            GroupBy::Group => UsageBy::Group,
            GroupBy::User => UsageBy::User,
        }
    }
}

/// A month as `(year, month 1–12)`, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month(pub i32, pub i32);

impl Month {
    fn index(self) -> i32 {
        self.0 * 12 + self.1 - 1
    }

    fn of_index(index: i32) -> Month {
        Month(index.div_euclid(12), index.rem_euclid(12) + 1)
    }

    /// The month `n` months later (earlier when negative).
    pub fn plus(self, n: i32) -> Month {
        Month::of_index(self.index() + n)
    }

    /// The month as a period of the views.
    pub fn period(self) -> Period {
        Period::month(self.0, self.1)
    }

    /// The month of a time in ms since the epoch, in UTC.
    pub fn of_ms(ms: i64) -> Month {
        let (year, month) = nuvola_accounting::year_month(ms.div_euclid(1000));
        Month(year, i32::from(month))
    }

    /// Reads `YYYY-MM`; `name` says which parameter in the error.
    pub fn parse(name: &str, text: &str) -> Result<Month> {
        let bad = || Error::invalid(format!("{name}={text:?} is not a month: write it as YYYY-MM, e.g. 2026-03"));
        let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
        let (year, month): (i32, i32) = (year.parse().map_err(|_| bad())?, month.parse().map_err(|_| bad())?);
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || text.trim().len() != 7 {
            return Err(bad());
        }
        Ok(Month(year, month))
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.0, self.1)
    }
}

/// A view's answer: what was asked, what the caller was shown, and the rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// The periods covered, in order: every month of the range, or every
    /// day of the month, used or not.
    pub periods: Vec<Period>,
    pub by: GroupBy,
    /// What the caller is shown, in words.
    pub scope: String,
    /// Every GPU model that appears in the rows, in order.
    pub gpu_models: Vec<String>,
    /// In order of period, then key; periods without usage have no row.
    pub rows: Vec<UsageRow>,
}

/// The usage a caller is shown: the union of `parts`, which overlap only
/// in `overlap` (counted once).
#[derive(Debug)]
struct Visible {
    parts: Vec<UsageFilter>,
    overlap: Option<UsageFilter>,
    scope: String,
}

/// The names a caller's own records carry.
fn own_names(caller: &Principal) -> Vec<String> {
    vec![caller.qualified(), caller.subject.clone()]
}

fn named(text: &Option<String>) -> Option<String> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// `group a` or `groups a, b`, and so on.
fn listed(word: &str, names: &[String]) -> String {
    match names {
        [one] => format!("{word} {one}"),
        _ => format!("{word}s {}", names.join(", ")),
    }
}

/// What `caller` may see of what `request` names, narrowed, or a refusal.
fn visible(caller: &Principal, request: &UsageRequest) -> Result<Visible> {
    let base = UsageFilter { sites: request.providers.clone(), ..UsageFilter::default() };
    let (groups, users) = (&request.groups, &request.users);
    let part = |groups: &[String], users: &[String]| UsageFilter {
        groups: groups.to_vec(),
        users: users.to_vec(),
        ..base.clone()
    };
    let only = |groups: &[String], users: &[String], scope: String| Visible {
        parts: vec![part(groups, users)],
        overlap: None,
        scope,
    };
    if caller.admin {
        return Ok(only(groups, users, "every group and user".into()));
    }
    let own = own_names(caller);
    let is_own = |u: &String| own.contains(u);
    let managed = caller.manages.clone();
    let (own_named, others): (Vec<String>, Vec<String>) = users.iter().cloned().partition(is_own);
    Ok(match (groups.is_empty(), users.is_empty()) {
        // Their own usage anywhere; anyone's in the groups they manage.
        (false, false) if others.is_empty() => {
            only(groups, users, format!("your usage in {}", listed("group", groups)))
        }
        (false, false) => {
            if let Some(g) = groups.iter().find(|g| !caller.manages(g)) {
                return Err(Error::Forbidden(format!(
                    "you may see {}'s usage only in groups you manage, and you do not manage {g}",
                    others[0]
                )));
            }
            only(groups, users, format!("{} in {}", users.join(", "), listed("group", groups)))
        }
        (false, true) => {
            if let Some(g) = groups.iter().find(|g| !caller.manages(g) && !caller.in_group(g)) {
                return Err(Error::Forbidden(format!(
                    "you neither manage nor belong to group {g}: you may see your own usage and that of the groups \
                     you manage"
                )));
            }
            let (theirs, member): (Vec<String>, Vec<String>) = groups.iter().cloned().partition(|g| caller.manages(g));
            let mut parts = Vec::new();
            let mut scope = Vec::new();
            if !theirs.is_empty() {
                parts.push(part(&theirs, &[]));
                scope.push(listed("group", &theirs));
            }
            if !member.is_empty() {
                parts.push(part(&member, &own));
                scope.push(format!("your usage in {}", listed("group", &member)));
            }
            Visible { parts, overlap: None, scope: scope.join(" and ") }
        }
        (true, false) => {
            if !others.is_empty() && managed.is_empty() {
                return Err(Error::Forbidden(format!(
                    "you may see only your own usage, not {}'s: only group managers see their members' usage",
                    others[0]
                )));
            }
            let mut parts = Vec::new();
            let mut scope = Vec::new();
            if !own_named.is_empty() {
                parts.push(part(&[], &own_named));
                scope.push("your usage".to_owned());
            }
            if !others.is_empty() {
                parts.push(part(&managed, &others));
                scope.push(format!("{} in the groups you manage ({})", others.join(", "), managed.join(", ")));
            }
            Visible { parts, overlap: None, scope: scope.join(" and ") }
        }
        (true, true) if managed.is_empty() => only(&[], &own, "your usage".into()),
        // Their own usage in the groups they manage is in both parts.
        (true, true) => Visible {
            scope: format!("your usage and that of the groups you manage ({})", managed.join(", ")),
            parts: vec![part(&managed, &[]), part(&[], &own)],
            overlap: Some(part(&managed, &own)),
        },
    })
}

/// A metric family of the accounting: its name, help and figure.
type Family = (&'static str, &'static str, fn(&UsageRow) -> f64);

fn gpu_models(rows: &[UsageRow]) -> Vec<String> {
    let models: BTreeSet<&String> = rows.iter().flat_map(|r| r.gpu_hours.keys()).collect();
    models.into_iter().cloned().collect()
}

impl Accounting {
    /// This month, on the app's clock.
    pub fn this_month(&self) -> Month {
        Month::of_ms(self.now_ms())
    }

    /// Usage per month from `from` to `to` (the last twelve months by
    /// default), grouped as `by` says, of what the caller may see.
    pub async fn usage(&self, caller: &Principal, request: &UsageRequest) -> Result<UsageReport> {
        let by = GroupBy::parse(request.by.as_deref())?;
        let to = match named(&request.to) {
            Some(t) => Month::parse("to", &t)?,
            None => self.this_month(),
        };
        let from = match named(&request.from) {
            Some(f) => Month::parse("from", &f)?,
            None => to.plus(-11),
        };
        if from > to {
            return Err(Error::invalid(format!("from={from} is after to={to}: give the earlier month first")));
        }
        if to.index() - from.index() >= MAX_MONTHS {
            return Err(Error::invalid(format!("a view covers at most {MAX_MONTHS} months; {from} to {to} is longer")));
        }
        let visible = visible(caller, request)?;
        let range = |f: &UsageFilter| UsageFilter { from: Some((from.0, from.1)), to: Some((to.0, to.1)), ..f.clone() };
        let mut terms: Vec<(UsageFilter, f64)> = visible.parts.iter().map(|p| (range(p), 1.0)).collect();
        terms.extend(visible.overlap.iter().map(|o| (range(o), -1.0)));
        let mut sums: BTreeMap<(Period, Option<String>), UsageRow> = BTreeMap::new();
        for (filter, sign) in &terms {
            for row in self.store().accounting_usage(filter, by.store()).await? {
                let sum = sums
                    .entry((row.period, row.key.clone()))
                    .or_insert_with(|| UsageRow::new(row.period, row.key.clone()));
                sum.add(&row, *sign);
            }
        }
        let rows: Vec<UsageRow> = sums.into_values().filter_map(UsageRow::settled).collect();
        let periods = (from.index()..=to.index()).map(|i| Month::of_index(i).period()).collect();
        Ok(UsageReport { periods, by, scope: visible.scope, gpu_models: gpu_models(&rows), rows })
    }

    /// Usage per day of one month (this month by default), grouped as
    /// `by` says, of what the caller may see: the month's VM-months, their
    /// accelerators, volumes and public IPs spread over its days.
    pub async fn daily(&self, caller: &Principal, request: &UsageRequest) -> Result<UsageReport> {
        let by = GroupBy::parse(request.by.as_deref())?;
        let month = match named(&request.month) {
            Some(m) => Month::parse("month", &m)?,
            None => self.this_month(),
        };
        let visible = visible(caller, request)?;
        // The union of the parts, each record once.
        let mut vms: BTreeMap<String, StoredVmMonth> = BTreeMap::new();
        let mut accelerators: BTreeMap<(String, String, String, String), AcceleratorRecord> = BTreeMap::new();
        let mut volumes: BTreeMap<String, StorageRecord> = BTreeMap::new();
        let mut ips: BTreeSet<PublicIpRecord> = BTreeSet::new();
        let store = self.store();
        for part in &visible.parts {
            for vm in store.accounting_vm_months(part, month.0, month.1).await? {
                vms.insert(vm.record.vm_uuid.to_string(), vm);
            }
            let one = UsageFilter { from: Some((month.0, month.1)), to: Some((month.0, month.1)), ..part.clone() };
            for a in store.accounting_accelerators(&one).await? {
                let key = (
                    a.associated_record_type.clone(),
                    a.associated_record.clone(),
                    a.site_name.clone(),
                    a.model.clone().unwrap_or_default(),
                );
                accelerators.insert(key, a);
            }
            for v in store.accounting_storage_during(part, month.0, month.1).await? {
                volumes.insert(v.record_id.clone(), v);
            }
            ips.extend(store.accounting_public_ips_of(part, month.0, month.1).await?);
        }
        let key_of = |site: &str, vo: Option<&str>, user: Option<&str>| -> Option<String> {
            match by {
                GroupBy::Month => None,
                GroupBy::Provider => Some(site.to_owned()),
                GroupBy::Group => vo.map(str::to_owned),
                GroupBy::User => user.map(str::to_owned),
            }
            .filter(|k| !k.is_empty())
        };
        // Each VM's key; its accelerators go with it.
        let mut groups: BTreeMap<Option<String>, MonthRecords<'_, 'static>> = BTreeMap::new();
        let mut vm_key: BTreeMap<&str, Option<String>> = BTreeMap::new();
        for vm in vms.values() {
            let r = &vm.record;
            let key = key_of(&r.site_name, r.voms().vo, r.global_user_name.as_deref());
            vm_key.insert(r.vm_uuid.as_ref(), key.clone());
            groups.entry(key).or_default().vms.push(r);
        }
        for a in accelerators.values() {
            if let Some(key) = vm_key.get(a.associated_record.as_str()) {
                groups.entry(key.clone()).or_default().accelerators.push(a);
            }
        }
        for v in volumes.values() {
            let key = key_of(v.site.as_deref().unwrap_or(""), v.group.as_deref(), v.user_identity.as_deref());
            groups.entry(key).or_default().storage.push(v);
        }
        for ip in &ips {
            let key = key_of(&ip.site_name, ip.voms().vo, ip.global_user_name.as_deref());
            groups.entry(key).or_default().public_ips.push(ip);
        }
        let mut rows = Vec::new();
        for (key, records) in &groups {
            for day in nuvola_accounting::daily::spread(month.0, month.1 as u8, records) {
                if !day.is_empty() {
                    rows.push(UsageRow { key: key.clone(), ..day });
                }
            }
        }
        rows.sort_by(|a, b| (&a.period, &a.key).cmp(&(&b.period, &b.key)));
        let days =
            nuvola_accounting::month_bounds(month.0, month.1 as u8).map_or(0, |(first, next)| (next - first) / 86_400);
        let periods = (1..=days).map(|d| Period::day(month.0, month.1, d as u32)).collect();
        Ok(UsageReport { periods, by, scope: visible.scope, gpu_models: gpu_models(&rows), rows })
    }

    /// Writes this month's usage per provider and group into `out`, as
    /// gauges (`nuvola_accounting_cpu_hours{provider,group}`, ...,
    /// `nuvola_accounting_gpu_hours{provider,group,model}`), from one
    /// grouped read.
    pub async fn metrics(&self, out: &mut Exposition) -> Result<()> {
        let month = self.this_month();
        let usage = self.store().accounting_month_by_site_and_group(month.0, month.1).await?;
        let labels: Vec<[(&str, &str); 2]> =
            usage.iter().map(|u| [("provider", u.site.as_str()), ("group", u.group.as_str())]).collect();
        let families: [Family; 8] = [
            ("nuvola_accounting_cpu_hours", "CPU hours this month, per provider and group.", |u| u.cpu_hours),
            ("nuvola_accounting_wall_hours", "VM wall-clock hours this month, per provider and group.", |u| {
                u.wall_hours
            }),
            (
                "nuvola_accounting_ram_gb_hours",
                "Memory (GiB) times wall hours this month, per provider and group.",
                |u| u.ram_gb_hours,
            ),
            ("nuvola_accounting_disk_gb", "VM disk GB summed over this month's VMs, per provider and group.", |u| {
                u.disk_gb as f64
            }),
            ("nuvola_accounting_instances", "VMs that ran this month, per provider and group.", |u| u.instances as f64),
            (
                "nuvola_accounting_public_ips",
                "Public IPs held this month (most at once), per provider and group.",
                |u| u.public_ips as f64,
            ),
            ("nuvola_accounting_volumes", "Volumes accounted this month, per provider and group.", |u| {
                u.volumes as f64
            }),
            ("nuvola_accounting_volume_gb", "Volume GB accounted this month, per provider and group.", |u| u.volume_gb),
        ];
        for (name, help, figure) in families {
            let samples: Vec<_> = labels.iter().zip(&usage).map(|(l, u)| (&l[..], figure(&u.usage))).collect();
            out.gauge(name, help, &samples);
        }
        let gpu_labels: Vec<[(&str, &str); 3]> = usage
            .iter()
            .flat_map(|u| {
                u.usage.gpu_hours.keys().map(|model| {
                    [("provider", u.site.as_str()), ("group", u.group.as_str()), ("model", model.as_str())]
                })
            })
            .collect();
        let gpu_hours = usage.iter().flat_map(|u| u.usage.gpu_hours.values().copied());
        let samples: Vec<_> = gpu_labels.iter().zip(gpu_hours).map(|(l, h)| (&l[..], h)).collect();
        out.gauge("nuvola_accounting_gpu_hours", "GPU hours this month, per provider, group and model.", &samples);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(subject: &str, groups: &[&str], manages: &[&str]) -> Principal {
        Principal {
            subject: subject.into(),
            issuer: "nuvola".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            admin: false,
            manages: manages.iter().map(|g| g.to_string()).collect(),
            email: None,
            client_ip: None,
        }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn lists_come_repeated_or_separated_by_commas() {
        let request = UsageRequest::from_pairs([
            ("group", "physics"),
            ("group", " chemistry , physics,"),
            ("user", "alice@nuvola"),
            ("provider", "recas-bari,cloudveneto"),
            ("by", "month"),
            ("by", "group"),
            ("metric", "cpu_hours"),
        ]);
        assert_eq!(request.groups, strings(&["physics", "chemistry"]));
        assert_eq!(request.providers, strings(&["recas-bari", "cloudveneto"]));
        assert_eq!((request.users, request.by), (strings(&["alice@nuvola"]), Some("group".to_owned())));
        let again = UsageRequest::from_pairs(UsageRequest::from_pairs([("group", "a,b"), ("to", "2026-03")]).pairs());
        assert_eq!((again.groups, again.to), (strings(&["a", "b"]), Some("2026-03".to_owned())));
    }

    #[test]
    fn several_groups_are_each_seen_as_the_caller_may() {
        // Mia manages physics and belongs to chemistry: physics whole, her
        // own usage in chemistry, in two parts that do not overlap.
        let mia = person("mia", &["chemistry"], &["physics"]);
        let request = UsageRequest { groups: strings(&["physics", "chemistry"]), ..UsageRequest::default() };
        let seen = visible(&mia, &request).unwrap();
        let parts: Vec<(Vec<String>, Vec<String>)> = seen.parts.into_iter().map(|p| (p.groups, p.users)).collect();
        assert_eq!(
            parts,
            [(strings(&["physics"]), vec![]), (strings(&["chemistry"]), strings(&["mia@nuvola", "mia"]))]
        );
        assert!(seen.overlap.is_none());
        assert_eq!(seen.scope, "group physics and your usage in group chemistry");
        // A group she is not in is refused, naming it.
        let more = UsageRequest { groups: strings(&["physics", "biology"]), ..UsageRequest::default() };
        assert!(matches!(visible(&mia, &more), Err(Error::Forbidden(m)) if m.contains("group biology")));
    }

    #[test]
    fn several_users_are_each_seen_as_the_caller_may() {
        let mia = person("mia", &[], &["physics"]);
        let request = UsageRequest { users: strings(&["mia", "bob@nuvola"]), ..UsageRequest::default() };
        let seen = visible(&mia, &request).unwrap();
        let parts: Vec<(Vec<String>, Vec<String>)> = seen.parts.into_iter().map(|p| (p.groups, p.users)).collect();
        assert_eq!(parts, [(vec![], strings(&["mia"])), (strings(&["physics"]), strings(&["bob@nuvola"]))]);
        assert_eq!(seen.scope, "your usage and bob@nuvola in the groups you manage (physics)");
        // Not a manager: another's name is refused.
        let alice = person("alice", &["physics"], &[]);
        let hers = UsageRequest { users: strings(&["alice", "bob@nuvola"]), ..UsageRequest::default() };
        let refused = visible(&alice, &hers).unwrap_err();
        assert!(matches!(&refused, Error::Forbidden(m) if m.contains("not bob@nuvola's")), "{refused:?}");
        // Users in groups: anyone's only where all the groups are managed.
        let both = UsageRequest { groups: strings(&["physics", "chemistry"]), ..request };
        let refused = visible(&mia, &both).unwrap_err();
        assert!(matches!(&refused, Error::Forbidden(m) if m.contains("do not manage chemistry")), "{refused:?}");
    }
}
