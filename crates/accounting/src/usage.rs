//! Usage from what nuvola runs: from what one deployment attempt held on a
//! provider and for how long, the records a site's cASO would publish for
//! it, per VM and month, in the crate's own record types, so that they are
//! stored and summarised exactly like records ingested from a site.
//!
//! - **Cloud records** (v0.4), one per VM instance per month it ran. The
//!   `VMUUID` is `{attempt_id}:{node}:{index}` (nuvola does not keep the
//!   provider's server ids), the `MachineName` the name nuvola gives the
//!   server on OpenStack (`nuvola-{attempt_id}-{node}-{index}`), so that a
//!   site's own cASO records can be told apart. `SiteName` is the provider,
//!   `GlobalUserName` the owner as nuvola names users (`subject@issuer`,
//!   unique even when several issuers are trusted), the FQAN
//!   `/{group}/Role=NULL/Capability=NULL`, so that the VO is the group.
//!   Durations are cumulative over the VM's life, as cASO's are: APEL's
//!   summary takes each month's figure as the difference from the VM's
//!   previous month ([`crate::summarise`]). A month the VM ran through is
//!   closed by a `started` record measured at its last second whose wall
//!   time runs to the month's end (so that each month's difference is
//!   exact); the VM's last month has a `completed` record at its end, or a
//!   `started` one at the measurement time while it runs. nuvola does not
//!   measure CPU time: `CpuDuration` is `CpuCount × WallDuration`, as cASO
//!   reports where the site gives no CPU time.
//! - **Accelerator records**, one per VM with GPUs per month: the count and
//!   model of the flavor's GPUs, the seconds held in that month (APEL sums
//!   these as they are, not as differences). nuvola does not measure how
//!   busy a GPU was, so the active time is the time held, as cASO reports
//!   it. APEL's record has no vendor field.
//! - **StAR storage records**, one per volume per month: the volume's
//!   capacity in bytes (GiB × 2³⁰), its volume type as the storage class,
//!   the period held in that month.
//! - **Public IP records**, one per provider, group and user per day: the
//!   most public IPv4 addresses the user's VMs in the group held at once
//!   in that day (`GlobalUserName` the user, as in cloud records),
//!   measured at the day's last second (or the measurement time, for the
//!   day in progress). A month's figure, the most at one measurement in
//!   it, is then the most at once in the month, and a day's the day's.
//!
//! Because cloud records are cumulative, the summaries of a month are right
//! once the VM's earlier months are loaded too: gather from the start of
//! the month before the one wanted, or keep the earlier months' records.
//! A record describes the VM as it is at its `RecordCreateTime`; gathering
//! again later replaces it (the last loaded record wins), and a month that
//! is over gives the same records every time.

use std::borrow::Cow;
use std::ops::Range;

use crate::accelerator::AcceleratorRecord;
use crate::cloud::CloudRecord;
use crate::public_ip::PublicIpRecord;
use crate::storage::StorageRecord;
use crate::value::{Decimal3, month_bounds, year_month};

/// The `CloudType` of nuvola's records.
pub const CLOUD_TYPE: &str = "nuvola";

/// Bytes in a GiB, as volumes are sized.
const GIB: u128 = 1 << 30;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// What one deployment attempt held on a provider, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAttempt {
    /// The attempt's id, which its resources carry.
    pub attempt_id: String,
    /// The provider.
    pub site: String,
    /// The provider's compute endpoint.
    pub compute_service: Option<String>,
    /// The owner, as nuvola names users: `subject@issuer`.
    pub user: String,
    /// The group it was deployed for.
    pub group: String,
    /// The group's project on the provider, if the registry names one.
    pub project: Option<String>,
    /// When nuvola started the attempt, in seconds since the epoch.
    pub start: i64,
    /// When the attempt's resources were gone (cleaned or deleted), in
    /// seconds since the epoch; `None` while it holds them.
    pub end: Option<i64>,
    /// Its node templates, as placed on the provider.
    pub nodes: Vec<HeldNode>,
}

/// One node template of an attempt: `count` VMs of one flavor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldNode {
    /// The node template's name.
    pub name: String,
    /// How many VMs.
    pub count: u32,
    /// The image the VMs run.
    pub image: Option<String>,
    /// The flavor's virtual CPUs.
    pub vcpus: u32,
    /// The flavor's memory in MB.
    pub memory_mb: u64,
    /// The flavor's disk in GB.
    pub disk_gb: u64,
    /// The flavor's GPUs per VM.
    pub gpus: u32,
    /// The GPUs' model.
    pub gpu_model: Option<String>,
    /// Whether each VM has a public IP.
    pub public_ip: bool,
    /// The volumes attached to each VM.
    pub volumes: Vec<HeldVolume>,
}

/// A volume attached to each VM of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldVolume {
    /// The BlockStorage node template's name.
    pub name: String,
    /// Its size in GiB.
    pub size_gb: u64,
    /// Its volume type.
    pub volume_type: Option<String>,
}

/// The records of what nuvola ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRecords {
    /// Per VM and month.
    pub cloud: Vec<CloudRecord<'static>>,
    /// Per VM with GPUs and month.
    pub accelerators: Vec<AcceleratorRecord>,
    /// Per volume and month.
    pub storage: Vec<StorageRecord>,
    /// Per provider, group, user and day.
    pub public_ips: Vec<PublicIpRecord>,
}

/// One calendar month: `[start, end)` in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Month {
    year: i32,
    month: u8,
    start: i64,
    end: i64,
}

impl Month {
    fn of(seconds: i64) -> Month {
        let (year, month) = year_month(seconds);
        let (start, end) = month_bounds(year, month).expect("year_month gives months 1-12");
        Month { year, month, start, end }
    }

    fn next(self) -> Month {
        Month::of(self.end)
    }

    fn touches(self, window: &Range<i64>) -> bool {
        self.start < window.end && window.start < self.end
    }

    fn label(self) -> String {
        format!("{}-{:02}", self.year, self.month)
    }
}

/// When an attempt's VMs ran, seen at `measured_at`: `[start, stop)`, and
/// whether they had ended by then.
fn lifetime(attempt: &HeldAttempt, measured_at: i64) -> Option<(i64, i64, bool)> {
    let (stop, ended) = match attempt.end {
        Some(end) if end <= measured_at => (end, true),
        _ => (measured_at, false),
    };
    (stop > attempt.start).then_some((attempt.start, stop, ended))
}

/// The months of `[start, stop]` (the stop's own month too: a VM that
/// ended at a month's first second is completed in that month), each with
/// the part of `[start, stop)` that falls in it.
fn months(start: i64, stop: i64) -> impl Iterator<Item = (Month, i64, i64)> {
    let mut month = Some(Month::of(start));
    std::iter::from_fn(move || {
        let m = month?;
        month = (m.end <= stop).then(|| m.next());
        Some((m, start.max(m.start), stop.min(m.end)))
    })
}

/// The records of what `attempts` held, as measured at `measured_at`
/// (seconds since the epoch), for the months that touch `window`.
pub fn usage_records(attempts: &[HeldAttempt], measured_at: i64, window: Range<i64>) -> UsageRecords {
    let mut records = UsageRecords::default();
    for attempt in attempts {
        attempt_records(attempt, measured_at, &window, &mut records);
    }
    records.public_ips = public_ip_records(attempts, measured_at, &window);
    records
}

fn attempt_records(attempt: &HeldAttempt, measured_at: i64, window: &Range<i64>, out: &mut UsageRecords) {
    let Some((start, stop, ended)) = lifetime(attempt, measured_at) else { return };
    let fqan = fqan(&attempt.group);
    let local_group = attempt.project.clone().unwrap_or_else(|| attempt.group.clone());
    for node in &attempt.nodes {
        for index in 0..node.count {
            let vm_uuid = format!("{}:{}:{index}", attempt.attempt_id, node.name);
            for (month, from, to) in months(start, stop) {
                if !month.touches(window) {
                    continue;
                }
                let last = stop < month.end;
                // A closed month's figures run to its end, and are measured
                // at its last second so that they count for it.
                let measured = match (last, ended) {
                    (false, _) => month.end - 1,
                    (true, true) => stop,
                    (true, false) => measured_at,
                };
                let wall = if last { stop - start } else { month.end - start };
                let mut r = CloudRecord::new(vm_uuid.clone(), attempt.site.clone());
                r.record_create_time = Some(measured);
                r.cloud_compute_service = attempt.compute_service.clone().map(Cow::Owned);
                r.machine_name = Some(format!("nuvola-{}-{}-{index}", attempt.attempt_id, node.name).into());
                r.local_group_id = Some(local_group.clone().into());
                r.global_user_name = Some(attempt.user.clone().into());
                r.fqan = Some(fqan.clone().into());
                r.status = Some(if last && ended { "completed" } else { "started" }.into());
                r.start_time = Some(start);
                r.end_time = (last && ended).then_some(stop);
                r.suspend_duration = Some(0);
                r.wall_duration = Some(wall);
                r.cpu_duration = Some(wall.saturating_mul(i64::from(node.vcpus)));
                r.cpu_count = Decimal3::from_int(i64::from(node.vcpus)).unwrap_or(Decimal3::ZERO);
                r.public_ip_count = Some(i64::from(node.public_ip));
                r.memory = Some(node.memory_mb as i64);
                r.disk = Some(node.disk_gb as i64);
                r.image_id = node.image.clone().map(Cow::Owned);
                r.cloud_type = Some(CLOUD_TYPE.into());
                out.cloud.push(r);
                let held = to - from;
                if held == 0 {
                    continue;
                }
                if node.gpus > 0 {
                    out.accelerators.push(AcceleratorRecord {
                        measurement_month: i64::from(month.month),
                        measurement_year: i64::from(month.year),
                        associated_record_type: "cloud".into(),
                        associated_record: vm_uuid.clone(),
                        global_user_name: Some(attempt.user.clone()),
                        fqan: fqan.clone(),
                        site_name: attempt.site.clone(),
                        count: Decimal3::from_int(i64::from(node.gpus)).unwrap_or(Decimal3::ZERO),
                        cores: None,
                        active_duration: Some(held),
                        available_duration: held,
                        benchmark_type: None,
                        benchmark: None,
                        accelerator_type: "GPU".into(),
                        model: node.gpu_model.clone(),
                        cloud_type: Some(CLOUD_TYPE.into()),
                        cloud_compute_service: attempt.compute_service.clone(),
                    });
                }
                for volume in &node.volumes {
                    let bytes = u128::from(volume.size_gb) * GIB;
                    out.storage.push(StorageRecord {
                        record_id: format!("{vm_uuid}:{}:{}", volume.name, month.label()),
                        create_time: measured,
                        storage_system: attempt.compute_service.clone().unwrap_or_else(|| attempt.site.clone()),
                        site: Some(attempt.site.clone()),
                        storage_share: None,
                        storage_media: Some("disk".into()),
                        storage_class: volume.volume_type.clone(),
                        file_count: None,
                        directory_path: None,
                        local_user: None,
                        local_group: Some(local_group.clone()),
                        user_identity: Some(attempt.user.clone()),
                        group: Some(attempt.group.clone()),
                        sub_group: None,
                        role: None,
                        start_time: from,
                        end_time: to,
                        resource_capacity_used: bytes,
                        logical_capacity_used: None,
                        resource_capacity_allocated: Some(bytes),
                        group_attributes: Vec::new(),
                    });
                }
            }
        }
    }
}

/// The FQAN that makes `group` the VO.
fn fqan(group: &str) -> String {
    format!("/{group}/Role=NULL/Capability=NULL")
}

/// Per provider, group, user and day: the most public IPs held at once.
fn public_ip_records(attempts: &[HeldAttempt], measured_at: i64, window: &Range<i64>) -> Vec<PublicIpRecord> {
    use std::collections::BTreeMap;
    // (site, group, user) -> day's first second -> (+/- addresses at a
    // time), and the first attempt's service and project.
    type Changes = BTreeMap<i64, Vec<(i64, i64)>>;
    let mut held: BTreeMap<(&str, &str, &str), (&HeldAttempt, Changes)> = BTreeMap::new();
    for attempt in attempts {
        let addresses: i64 = attempt.nodes.iter().filter(|n| n.public_ip).map(|n| i64::from(n.count)).sum();
        let Some((start, stop, _)) = lifetime(attempt, measured_at) else { continue };
        if addresses == 0 {
            continue;
        }
        let holder = (attempt.site.as_str(), attempt.group.as_str(), attempt.user.as_str());
        let (_, changes) = held.entry(holder).or_insert((attempt, BTreeMap::new()));
        let mut day = start.div_euclid(DAY) * DAY;
        while day < stop {
            let (from, to) = (start.max(day), stop.min(day + DAY));
            if day < window.end && window.start < day + DAY {
                let day_changes = changes.entry(day).or_default();
                day_changes.push((from, addresses));
                day_changes.push((to, -addresses));
            }
            day += DAY;
        }
    }
    let mut records = Vec::new();
    for ((site, group, user), (first, changes)) in held {
        for (day, mut day_changes) in changes {
            // Releases before takes at the same second: a VM replacing
            // another does not count twice.
            day_changes.sort_unstable();
            let (mut now, mut most) = (0, 0);
            for (_, change) in day_changes {
                now += change;
                most = most.max(now);
            }
            let month = Month::of(day);
            records.push(PublicIpRecord {
                // The day's last second, also for the day in progress: each
                // pass replaces the day's record.
                measurement_time: day + DAY - 1,
                site_name: site.to_owned(),
                cloud_compute_service: first.compute_service.clone(),
                cloud_type: CLOUD_TYPE.into(),
                local_user: None,
                local_group: first.project.clone().unwrap_or_else(|| group.to_owned()),
                global_user_name: Some(user.to_owned()),
                fqan: fqan(group),
                ip_version: 4,
                ip_count: most,
                uuid: Some(format!(
                    "nuvola:{site}:{group}:{user}:{}-{:02}",
                    month.label(),
                    (day - month.start) / DAY + 1
                )),
            });
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accelerator::AcceleratorLedger;
    use crate::summarise::CloudLedger;
    use crate::value::parse_time;

    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;

    fn at(text: &str) -> i64 {
        parse_time(text).expect("a date")
    }

    fn node(name: &str, count: u32) -> HeldNode {
        HeldNode {
            name: name.into(),
            count,
            image: Some("ubuntu-22.04".into()),
            vcpus: 2,
            memory_mb: 4096,
            disk_gb: 20,
            gpus: 0,
            gpu_model: None,
            public_ip: false,
            volumes: Vec::new(),
        }
    }

    fn attempt(id: &str, start: &str, end: Option<&str>, nodes: Vec<HeldNode>) -> HeldAttempt {
        HeldAttempt {
            attempt_id: id.into(),
            site: "backbone-bari".into(),
            compute_service: Some("https://bari.example:5000/v3".into()),
            user: "alice@https://iam.example".into(),
            group: "physics".into(),
            project: Some("physics-project".into()),
            start: at(start),
            end: end.map(at),
            nodes,
        }
    }

    /// Every year of time: nothing left out of the window.
    fn always() -> Range<i64> {
        0..at("2100-01-01")
    }

    /// A VM-month: VM, year, month, wall time in the month, status.
    type Wall = (String, i32, i32, Option<i64>, Option<String>);

    /// Each VM-month's wall time, as APEL's summariser computes it.
    fn walls(records: &UsageRecords) -> Vec<Wall> {
        let mut ledger = CloudLedger::new();
        for r in &records.cloud {
            ledger.load(r);
        }
        let months = ledger.vm_months().expect("figures fit");
        months.into_iter().map(|m| (m.vm_uuid, m.year, m.month, m.computed_wall_duration, m.status)).collect()
    }

    #[test]
    fn a_vm_across_a_month_boundary_counts_each_month_exactly() {
        let vm = attempt("d1-1", "2026-01-20T00:00:00Z", Some("2026-02-10T00:00:00Z"), vec![node("vm", 1)]);
        let records = usage_records(&[vm], at("2026-03-05T00:00:00Z"), always());
        let completed = Some("completed".to_owned());
        assert_eq!(
            walls(&records),
            [
                ("d1-1:vm:0".into(), 2026, 1, Some(12 * DAY), Some("started".into())),
                ("d1-1:vm:0".into(), 2026, 2, Some(9 * DAY), completed),
            ]
        );
        let mut ledger = CloudLedger::new();
        records.cloud.iter().for_each(|r| ledger.load(r));
        let summaries = ledger.summarise().expect("figures fit");
        let by_month: Vec<_> =
            summaries.iter().map(|s| (s.month, s.wall_duration, s.cpu_duration, s.number_of_vms)).collect();
        assert_eq!(
            by_month,
            [(1, Some(288 * HOUR), Some(2 * 288 * HOUR), 1), (2, Some(216 * HOUR), Some(432 * HOUR), 1)]
        );
        let february = &summaries[1];
        assert_eq!(february.global_user_name.as_deref(), Some("alice@https://iam.example"));
        assert_eq!((february.vo.as_deref(), february.vo_group.as_deref()), (Some("physics"), Some("/physics")));
        assert_eq!(february.site_name, "backbone-bari");
        assert_eq!(february.cloud_type.as_deref(), Some("nuvola"));
        assert_eq!((february.memory, february.disk), (Some(4096), Some(20)));
        let january = &records.cloud[0];
        assert_eq!(january.record_create_time, Some(at("2026-01-31T23:59:59Z")));
        assert_eq!((january.end_time, january.wall_duration), (None, Some(12 * DAY)));
        let last = &records.cloud[1];
        assert_eq!(last.end_time, Some(at("2026-02-10T00:00:00Z")));
        assert_eq!(last.record_create_time, last.end_time);
        assert_eq!(last.cpu_count, Decimal3::from_int(2).unwrap());
        assert_eq!(last.machine_name.as_deref(), Some("nuvola-d1-1-vm-0"));
        assert_eq!(last.local_group_id.as_deref(), Some("physics-project"));
        // Written and read back as a cloud message, the records are the same.
        let message = crate::cloud::write_message(&records.cloud).expect("written");
        let read: Vec<_> = crate::cloud::parse_all(message.as_bytes())
            .expect("read")
            .into_iter()
            .map(CloudRecord::into_owned)
            .collect();
        assert_eq!(read, records.cloud);
    }

    #[test]
    fn a_vm_ending_at_a_months_first_second_is_completed_in_that_month_with_nothing_more() {
        let vm = attempt("d1-2", "2026-01-31T00:00:00Z", Some("2026-02-01T00:00:00Z"), vec![node("vm", 1)]);
        let records = usage_records(&[vm], at("2026-02-05"), always());
        let vm = "d1-2:vm:0".to_owned();
        assert_eq!(
            walls(&records),
            [
                (vm.clone(), 2026, 1, Some(DAY), Some("started".into())),
                (vm, 2026, 2, Some(0), Some("completed".into()))
            ]
        );
        assert!(records.accelerators.is_empty() && records.storage.is_empty());
    }

    #[test]
    fn gathering_one_month_gives_that_months_records_and_the_same_ones_again() {
        let vm = attempt("d1-1", "2026-01-20T00:00:00Z", Some("2026-02-10T00:00:00Z"), vec![node("vm", 1)]);
        let now = at("2026-03-05T00:00:00Z");
        let all = usage_records(std::slice::from_ref(&vm), now, always());
        let february = usage_records(&[vm], now, at("2026-02-01")..at("2026-03-01"));
        assert_eq!(february.cloud, all.cloud[1..]);
    }

    #[test]
    fn a_vm_still_running_is_measured_now() {
        let vm = attempt("d2-1", "2026-03-01T06:00:00Z", None, vec![node("vm", 2)]);
        let now = at("2026-03-01T18:30:00Z");
        let records = usage_records(&[vm], now, always());
        assert_eq!(records.cloud.len(), 2);
        for (index, r) in records.cloud.iter().enumerate() {
            assert_eq!(r.vm_uuid, format!("d2-1:vm:{index}"));
            assert_eq!(r.status.as_deref(), Some("started"));
            assert_eq!((r.record_create_time, r.end_time), (Some(now), None));
            assert_eq!(r.wall_duration, Some(12 * HOUR + 30 * 60));
            assert_eq!(r.cpu_duration, Some(2 * (12 * HOUR + 30 * 60)));
        }
        // An end after the measurement time is not known yet.
        let later = attempt("d2-1", "2026-03-01T06:00:00Z", Some("2026-03-02"), vec![node("vm", 1)]);
        let records = usage_records(&[later], now, always());
        assert_eq!(records.cloud[0].status.as_deref(), Some("started"));
    }

    #[test]
    fn a_gpu_flavor_gives_accelerator_records_per_month() {
        let mut gpu = node("trainer", 1);
        (gpu.vcpus, gpu.memory_mb, gpu.disk_gb, gpu.gpus, gpu.gpu_model) = (16, 65536, 160, 2, Some("T4".into()));
        let vm = attempt("d3-1", "2026-01-31T22:00:00Z", Some("2026-02-01T03:00:00Z"), vec![gpu]);
        let records = usage_records(&[vm], at("2026-02-02"), always());
        let gpus: Vec<_> = records
            .accelerators
            .iter()
            .map(|a| {
                let count = a.count.thousandths() / 1000;
                (a.measurement_month, count, a.model.as_deref(), a.available_duration, a.active_duration)
            })
            .collect();
        assert_eq!(gpus, [(1, 2, Some("T4"), 2 * HOUR, Some(2 * HOUR)), (2, 2, Some("T4"), 3 * HOUR, Some(3 * HOUR))]);
        let a = &records.accelerators[0];
        assert_eq!((a.associated_record.as_str(), a.accelerator_type.as_str()), ("d3-1:trainer:0", "GPU"));
        assert_eq!((a.fqan.as_str(), a.site_name.as_str()), ("/physics/Role=NULL/Capability=NULL", "backbone-bari"));
        let mut ledger = AcceleratorLedger::new();
        records.accelerators.iter().cloned().for_each(|r| ledger.load(r));
        let held: i64 = ledger.summarise().iter().map(|s| s.available_duration).sum();
        assert_eq!(held, 5 * HOUR);
        let cloud = &records.cloud[1];
        assert_eq!(
            (cloud.cpu_count, cloud.memory, cloud.disk),
            (Decimal3::from_int(16).unwrap(), Some(65536), Some(160))
        );
    }

    #[test]
    fn a_failed_over_attempt_counts_until_it_was_cleaned() {
        let failed = attempt("d4-1", "2026-04-10T10:00:00Z", Some("2026-04-10T10:20:00Z"), vec![node("vm", 1)]);
        let mut serving = attempt("d4-2", "2026-04-10T10:20:00Z", None, vec![node("vm", 1)]);
        serving.site = "cloudveneto".into();
        let records = usage_records(&[failed, serving], at("2026-04-10T12:20:00Z"), always());
        let figures: Vec<_> = records
            .cloud
            .iter()
            .map(|r| (r.vm_uuid.to_string(), r.site_name.to_string(), r.status.as_deref(), r.wall_duration))
            .collect();
        assert_eq!(
            figures,
            [
                ("d4-1:vm:0".into(), "backbone-bari".into(), Some("completed"), Some(20 * 60)),
                ("d4-2:vm:0".into(), "cloudveneto".into(), Some("started"), Some(2 * HOUR)),
            ]
        );
    }

    #[test]
    fn a_zero_length_attempt_gives_nothing() {
        let mut vm = node("vm", 3);
        vm.public_ip = true;
        vm.volumes = vec![HeldVolume { name: "data".into(), size_gb: 10, volume_type: None }];
        let refused = attempt("d5-1", "2026-04-10T10:00:00Z", Some("2026-04-10T10:00:00Z"), vec![vm.clone()]);
        let not_started = attempt("d5-2", "2026-04-10T11:00:00Z", None, vec![vm]);
        let records = usage_records(&[refused, not_started], at("2026-04-10T11:00:00Z"), always());
        assert_eq!(records, UsageRecords::default());
    }

    /// One VM with a public IP, from June 1st at noon, still running.
    fn records_of_second() -> Vec<HeldAttempt> {
        let mut vm = node("vm", 1);
        vm.public_ip = true;
        vec![attempt("d7-1", "2026-06-01T12:00:00Z", None, vec![vm])]
    }

    #[test]
    fn volumes_per_month_and_public_ips_per_day_are_counted() {
        let mut vm = node("vm", 2);
        vm.public_ip = true;
        vm.volumes = vec![HeldVolume { name: "data".into(), size_gb: 50, volume_type: Some("ssd".into()) }];
        let first = attempt("d6-1", "2026-05-30T00:00:00Z", Some("2026-06-02T00:00:00Z"), vec![vm.clone()]);
        let mut second = attempt("d7-1", "2026-06-01T12:00:00Z", None, vec![vm.clone()]);
        second.nodes[0].count = 1;
        second.user = "bob@https://iam.example".into();
        let mut private = attempt("d8-1", "2026-06-01T00:00:00Z", None, vec![node("vm", 4)]);
        private.group = "bio".into();
        let now = at("2026-06-03T00:00:00Z");
        let records = usage_records(&[first, second, private], now, always());
        let volumes: Vec<_> = records
            .storage
            .iter()
            .map(|s| {
                (s.record_id.as_str(), s.start_time, s.end_time, s.resource_capacity_used, s.storage_class.as_deref())
            })
            .collect();
        let gib50 = 50 * GIB;
        assert_eq!(
            volumes,
            [
                ("d6-1:vm:0:data:2026-05", at("2026-05-30"), at("2026-06-01"), gib50, Some("ssd")),
                ("d6-1:vm:0:data:2026-06", at("2026-06-01"), at("2026-06-02"), gib50, Some("ssd")),
                ("d6-1:vm:1:data:2026-05", at("2026-05-30"), at("2026-06-01"), gib50, Some("ssd")),
                ("d6-1:vm:1:data:2026-06", at("2026-06-01"), at("2026-06-02"), gib50, Some("ssd")),
                ("d7-1:vm:0:data:2026-06", at("2026-06-01T12:00:00Z"), now, gib50, Some("ssd")),
            ]
        );
        let s = &records.storage[4];
        assert_eq!(
            (s.site.as_deref(), s.group.as_deref(), s.user_identity.as_deref()),
            (Some("backbone-bari"), Some("physics"), Some("bob@https://iam.example"))
        );
        let ips: Vec<_> = records
            .public_ips
            .iter()
            .map(|p| (p.global_user_name.as_deref().unwrap(), p.ip_count, p.measurement_time))
            .collect();
        // Alice's two on May 30th, 31st and June 1st; Bob's one on June 1st
        // and 2nd. Measured at each day's last second, per user.
        let (alice, bob) = ("alice@https://iam.example", "bob@https://iam.example");
        assert_eq!(
            ips,
            [
                (alice, 2, at("2026-05-30T23:59:59Z")),
                (alice, 2, at("2026-05-31T23:59:59Z")),
                (alice, 2, at("2026-06-01T23:59:59Z")),
                (bob, 1, at("2026-06-01T23:59:59Z")),
                (bob, 1, at("2026-06-02T23:59:59Z")),
            ]
        );
        let p = &records.public_ips[3];
        assert_eq!(
            (p.site_name.as_str(), p.fqan.as_str(), p.year_month(), p.uuid.as_deref()),
            (
                "backbone-bari",
                "/physics/Role=NULL/Capability=NULL",
                (2026, 6),
                Some("nuvola:backbone-bari:physics:bob@https://iam.example:2026-06-01")
            )
        );
        // The day in progress is measured at its last second too, so that
        // every pass of the day replaces one record rather than adding one.
        for now in ["2026-06-02T06:00:00Z", "2026-06-02T06:05:00Z"] {
            let today = usage_records(&records_of_second(), at(now), always());
            assert_eq!(
                today.public_ips.last().map(|p| (p.ip_count, p.measurement_time)),
                Some((1, at("2026-06-02T23:59:59Z"))),
                "{now}"
            );
        }
        let per_vm: Vec<_> = records.cloud.iter().map(|r| r.public_ip_count).collect();
        assert_eq!(per_vm, [[Some(1); 5].as_slice(), &[Some(0); 4]].concat());
        assert_eq!(records.storage[0].local_group.as_deref(), Some("physics-project"));
    }
}
