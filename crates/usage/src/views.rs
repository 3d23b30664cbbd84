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
use serde::{Deserialize, Serialize};

use crate::Accounting;

/// The longest range of months a view covers.
pub const MAX_MONTHS: i32 = 120;

/// What a view asks for, as the query strings of the API and the pages
/// carry it (every field may be absent or empty).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UsageRequest {
    /// First month, `YYYY-MM` (default: eleven months before `to`).
    pub from: Option<String>,
    /// Last month, `YYYY-MM`, included (default: this month).
    pub to: Option<String>,
    /// The month of a daily view, `YYYY-MM` (default: this month).
    pub month: Option<String>,
    /// `provider`, `group`, `user` or `month` (the default).
    pub by: Option<String>,
    /// Only this provider (APEL site).
    pub provider: Option<String>,
    /// Only this group (APEL VO).
    pub group: Option<String>,
    /// Only this user (global user name, e.g. `subject@issuer`).
    pub user: Option<String>,
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

/// The usage a caller is shown: the union of `parts` (one or two filters).
struct Visible {
    parts: Vec<UsageFilter>,
    scope: String,
}

/// The names a caller's own records carry.
fn own_names(caller: &Principal) -> Vec<String> {
    vec![caller.qualified(), caller.subject.clone()]
}

fn named(text: &Option<String>) -> Option<String> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// What `caller` may see of what `request` names, narrowed, or a refusal.
fn visible(caller: &Principal, request: &UsageRequest) -> Result<Visible> {
    let base = UsageFilter { sites: named(&request.provider).into_iter().collect(), ..UsageFilter::default() };
    let (group, user) = (named(&request.group), named(&request.user));
    let only = |groups: Vec<String>, users: Vec<String>, scope: String| Visible {
        parts: vec![UsageFilter { groups, users, ..base.clone() }],
        scope,
    };
    if caller.admin {
        return Ok(only(group.into_iter().collect(), user.into_iter().collect(), "every group and user".into()));
    }
    let own = own_names(caller);
    let is_own = |u: &str| own.iter().any(|o| o == u);
    let managed = caller.manages.clone();
    Ok(match (group, user) {
        (Some(g), Some(u)) if is_own(&u) => only(vec![g.clone()], vec![u], format!("your usage in group {g}")),
        (Some(g), Some(u)) if caller.manages(&g) => only(vec![g.clone()], vec![u.clone()], format!("{u} in group {g}")),
        (Some(g), Some(u)) => {
            return Err(Error::Forbidden(format!(
                "you may see {u}'s usage only in groups you manage, and you do not manage {g}"
            )));
        }
        (Some(g), None) if caller.manages(&g) => only(vec![g.clone()], Vec::new(), format!("group {g}")),
        (Some(g), None) if caller.in_group(&g) => only(vec![g.clone()], own, format!("your usage in group {g}")),
        (Some(g), None) => {
            return Err(Error::Forbidden(format!(
                "you neither manage nor belong to group {g}: you may see your own usage and that of the groups you \
                 manage"
            )));
        }
        (None, Some(u)) if is_own(&u) => only(Vec::new(), vec![u], "your usage".into()),
        (None, Some(u)) if !managed.is_empty() => {
            let scope = format!("{u} in the groups you manage ({})", managed.join(", "));
            only(managed, vec![u], scope)
        }
        (None, Some(u)) => {
            return Err(Error::Forbidden(format!(
                "you may see only your own usage, not {u}'s: only group managers see their members' usage"
            )));
        }
        (None, None) if managed.is_empty() => only(Vec::new(), own, "your usage".into()),
        (None, None) => Visible {
            scope: format!("your usage and that of the groups you manage ({})", managed.join(", ")),
            parts: vec![UsageFilter { groups: managed, ..base.clone() }, UsageFilter { users: own, ..base.clone() }],
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
        if let [managed, own] = &visible.parts[..] {
            // Their own usage in the groups they manage is in both.
            terms.push((range(&UsageFilter { users: own.users.clone(), ..managed.clone() }), -1.0));
        }
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
