//! Usage per day within one month, for the accounting pages' daily
//! charts, in the same columns as a month's ([`UsageRow`]). APEL keeps one
//! record per VM and month, so a day's share is derived:
//!
//! - each VM's time in the month (from its start, or the month's first
//!   instant, to its end when `completed`, else to when the record was
//!   measured, or the month's end) is split over the days it covers. CPU
//!   time follows the record's own CPU-to-wall ratio when the site measured
//!   CPU time, else its CPU count; memory × time gives RAM·hours; a VM
//!   counts as an instance, and its disk in the day's disk GB, on each day
//!   it ran; its accelerators' hours follow its days in the same
//!   proportion. Suspended time is not located in a record, so the days of
//!   a VM that was suspended add up to more than its month's wall time in
//!   the monthly summary, which stays the reference.
//! - each storage record (a volume) counts, with its capacity used, on
//!   each day its period covers, as a VM's disk does on each day it ran
//!   (and as a month counts the capacity of its records).
//! - public IPs are measurements: per project, user, FQAN and IP version,
//!   the most held at one measurement of the day, summed, as a month's are
//!   over the month.

use std::collections::BTreeMap;

use crate::accelerator::AcceleratorRecord;
use crate::cloud::CloudRecord;
use crate::figures::{Period, UsageRow};
use crate::public_ip::PublicIpRecord;
use crate::storage::StorageRecord;
use crate::summarise::measurement_time;
use crate::value::month_bounds;

const DAY: i64 = 86_400;
const HOUR: f64 = 3_600.0;

/// The records of one month that a daily view spreads over its days.
#[derive(Debug, Default)]
pub struct MonthRecords<'r, 'a> {
    /// The kept VM-months, one record per VM.
    pub vms: Vec<&'r CloudRecord<'a>>,
    /// The VMs' accelerator records; one whose VM is not among `vms`
    /// cannot be placed in days and adds nothing.
    pub accelerators: Vec<&'r AcceleratorRecord>,
    /// Storage records whose period overlaps the month.
    pub storage: Vec<&'r StorageRecord>,
    /// Public IP measurements; those outside the month add nothing.
    pub public_ips: Vec<&'r PublicIpRecord>,
}

/// Spreads the month's records over the days of `year`-`month`, giving
/// every day of the month, in order, used or not, with no key. Records
/// that do not overlap the month add nothing.
pub fn spread(year: i32, month: u8, records: &MonthRecords<'_, '_>) -> Vec<UsageRow> {
    let Some((first, next)) = month_bounds(year, month) else { return Vec::new() };
    let days = ((next - first) / DAY) as usize;
    let mut out: Vec<UsageRow> =
        (1..=days as u32).map(|day| UsageRow::new(Period::day(year, i32::from(month), day), None)).collect();
    // Each VM's seconds on each day it ran, to place its accelerators too.
    let mut ran: BTreeMap<&str, Vec<(usize, i64)>> = BTreeMap::new();
    for vm in &records.vms {
        let Some((from, to)) = running(vm, first, next) else { continue };
        let cpus_per_wall = cpus_per_wall(vm);
        let ram_gb = vm.memory.unwrap_or(0).max(0) as f64 / 1024.0;
        let mut on = Vec::new();
        for (index, seconds) in days_of(from, to, first) {
            let hours = seconds as f64 / HOUR;
            let day = &mut out[index];
            day.wall_hours += hours;
            day.cpu_hours += hours * cpus_per_wall;
            day.ram_gb_hours += hours * ram_gb;
            day.disk_gb += vm.disk.unwrap_or(0).max(0);
            day.instances += 1;
            on.push((index, seconds));
        }
        ran.insert(vm.vm_uuid.as_ref(), on);
    }
    for accelerator in &records.accelerators {
        let Some(on) = ran.get(accelerator.associated_record.as_str()) else { continue };
        let total: i64 = on.iter().map(|(_, s)| s).sum();
        if total == 0 {
            continue;
        }
        let hours = accelerator.count.thousandths() as f64 / 1000.0 * accelerator.available_duration as f64 / HOUR;
        let model = accelerator.model.clone().unwrap_or_default();
        for (index, seconds) in on {
            *out[*index].gpu_hours.entry(model.clone()).or_default() += hours * *seconds as f64 / total as f64;
        }
    }
    for volume in &records.storage {
        let (from, to) = (volume.start_time.max(first), volume.end_time.min(next));
        let gb = volume.resource_capacity_used as f64 / 1e9;
        for (index, _) in days_of(from, to, first) {
            out[index].volumes += 1;
            out[index].volume_gb += gb;
        }
    }
    // Per day and address holder, the most at one measurement.
    type Holder<'r> = (&'r str, Option<&'r str>, &'r str, Option<&'r str>, Option<&'r str>, &'r str, i64);
    let mut most: BTreeMap<(usize, Holder<'_>), i64> = BTreeMap::new();
    for ip in records.public_ips.iter().filter(|ip| (first..next).contains(&ip.measurement_time)) {
        let holder = (
            ip.site_name.as_str(),
            ip.cloud_compute_service.as_deref(),
            ip.local_group.as_str(),
            ip.local_user.as_deref(),
            ip.global_user_name.as_deref(),
            ip.fqan.as_str(),
            ip.ip_version,
        );
        let held = most.entry((((ip.measurement_time - first) / DAY) as usize, holder)).or_default();
        *held = (*held).max(ip.ip_count);
    }
    for ((index, _), count) in most {
        out[index].public_ips += count;
    }
    out
}

/// The days `[from, to)` covers, as (index from the month's first day,
/// seconds in that day), for a period within the month starting at
/// `first`; none when it is empty.
fn days_of(from: i64, to: i64, first: i64) -> impl Iterator<Item = (usize, i64)> {
    let mut day_start = first + (from - first).div_euclid(DAY) * DAY;
    std::iter::from_fn(move || {
        if day_start >= to {
            return None;
        }
        let seconds = to.min(day_start + DAY) - from.max(day_start);
        let index = ((day_start - first) / DAY) as usize;
        day_start += DAY;
        Some((index, seconds))
    })
}

/// The part of `[first, next)` the VM ran in, if any.
fn running(vm: &CloudRecord<'_>, first: i64, next: i64) -> Option<(i64, i64)> {
    let start = vm.start_time?;
    let end = if vm.status.as_deref() == Some("completed") { vm.end_time } else { measurement_time(vm) };
    let (from, to) = (start.max(first), end.unwrap_or(next).min(next));
    (from < to).then_some((from, to))
}

/// CPU seconds per wall second: measured when the site measured CPU time,
/// else the CPU count.
fn cpus_per_wall(vm: &CloudRecord<'_>) -> f64 {
    match (vm.cpu_duration, vm.wall_duration) {
        (Some(cpu), Some(wall)) if cpu > 0 && wall > 0 => cpu as f64 / wall as f64,
        _ => vm.cpu_count.thousandths() as f64 / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Decimal3;

    /// 2026-03-01 00:00 UTC.
    const MARCH: i64 = 1_772_323_200;

    fn vm(id: &str, start: i64, end: Option<i64>, cpus: i64) -> CloudRecord<'static> {
        let mut r = CloudRecord::new(id.to_string(), "SITE".to_string());
        r.start_time = Some(start);
        r.cpu_count = Decimal3::from_int(cpus).unwrap();
        r.memory = Some(2048);
        r.disk = Some(20);
        match end {
            Some(end) => {
                r.status = Some("completed".into());
                r.end_time = Some(end);
                r.wall_duration = Some(end - start);
            }
            None => {
                r.status = Some("started".into());
                r.record_create_time = Some(MARCH + 3 * DAY);
            }
        }
        r
    }

    fn vms<'r, 'a>(vms: &[&'r CloudRecord<'a>]) -> MonthRecords<'r, 'a> {
        MonthRecords { vms: vms.to_vec(), ..MonthRecords::default() }
    }

    /// A volume of `gb` GB (10^9 bytes) held from `start` to `end`.
    fn volume(id: &str, start: i64, end: i64, gb: u128) -> StorageRecord {
        StorageRecord {
            record_id: id.into(),
            create_time: end,
            storage_system: "SITE".into(),
            site: Some("SITE".into()),
            storage_share: None,
            storage_media: Some("disk".into()),
            storage_class: None,
            file_count: None,
            directory_path: None,
            local_user: None,
            local_group: Some("physics".into()),
            user_identity: Some("alice@nuvola".into()),
            group: Some("physics".into()),
            sub_group: None,
            role: None,
            start_time: start,
            end_time: end,
            resource_capacity_used: gb * 1_000_000_000,
            logical_capacity_used: None,
            resource_capacity_allocated: None,
            group_attributes: Vec::new(),
        }
    }

    /// `count` public IPs of `user`'s in `version`, measured `at`.
    fn ips(user: &str, version: i64, at: i64, count: i64) -> PublicIpRecord {
        PublicIpRecord {
            measurement_time: at,
            site_name: "SITE".into(),
            cloud_compute_service: None,
            cloud_type: "nuvola".into(),
            local_user: None,
            local_group: "physics".into(),
            global_user_name: Some(user.into()),
            fqan: "/physics/Role=NULL/Capability=NULL".into(),
            ip_version: version,
            ip_count: count,
            uuid: None,
        }
    }

    fn gpu(vm: &str, count: i64, held: i64, model: &str) -> AcceleratorRecord {
        AcceleratorRecord {
            measurement_month: 3,
            measurement_year: 2026,
            associated_record_type: "cloud".into(),
            associated_record: vm.into(),
            global_user_name: None,
            fqan: "physics".into(),
            site_name: "SITE".into(),
            count: Decimal3::from_int(count).unwrap(),
            cores: None,
            active_duration: None,
            available_duration: held,
            benchmark_type: None,
            benchmark: None,
            accelerator_type: "GPU".into(),
            model: Some(model.into()),
            cloud_type: None,
            cloud_compute_service: None,
        }
    }

    #[test]
    fn a_vm_s_time_is_split_over_the_days_it_ran() {
        // From March 1st 18:00 to March 2nd 06:00: 6 h on each day.
        let a = vm("a", MARCH + 18 * 3600, Some(MARCH + DAY + 6 * 3600), 4);
        let days = spread(2026, 3, &MonthRecords { vms: vec![&a], ..MonthRecords::default() });
        assert_eq!(days.len(), 31);
        assert_eq!(
            (days[0].period, days[0].wall_hours, days[0].cpu_hours, days[0].instances, days[0].disk_gb),
            (Period::day(2026, 3, 1), 6.0, 24.0, 1, 20)
        );
        assert_eq!(
            (days[1].period.day, days[1].wall_hours, days[1].ram_gb_hours, days[1].disk_gb),
            (Some(2), 6.0, 12.0, 20)
        );
        assert_eq!(days[2], UsageRow::new(Period::day(2026, 3, 3), None));
    }

    #[test]
    fn a_running_vm_counts_until_it_was_measured_and_from_the_month_s_start() {
        // Started in February, measured on March 4th at midnight.
        let b = vm("b", MARCH - 10 * DAY, None, 1);
        let days = spread(2026, 3, &vms(&[&b]));
        let wall: Vec<f64> = days.iter().take(4).map(|d| d.wall_hours).collect();
        assert_eq!(wall, [24.0, 24.0, 24.0, 0.0]);
        assert_eq!(days.iter().map(|d| d.instances).sum::<i64>(), 3);
    }

    #[test]
    fn measured_cpu_time_sets_the_ratio() {
        let mut c = vm("c", MARCH, Some(MARCH + DAY), 8);
        c.cpu_duration = Some(DAY / 2);
        assert_eq!(spread(2026, 3, &vms(&[&c]))[0].cpu_hours, 12.0);
    }

    #[test]
    fn accelerator_hours_follow_their_vm_s_days() {
        // 12 h on day 1 and 24 h on day 2: two GPUs held 36 h = 72 GPU hours.
        let d = vm("d", MARCH + 12 * 3600, Some(MARCH + 2 * DAY), 8);
        let (a100, t4) = (gpu("d", 2, 36 * 3600, "A100"), gpu("gone", 1, 3600, "T4"));
        let days =
            spread(2026, 3, &MonthRecords { vms: vec![&d], accelerators: vec![&a100, &t4], ..MonthRecords::default() });
        assert_eq!(days[0].gpu_hours["A100"], 24.0);
        assert_eq!(days[1].gpu_hours["A100"], 48.0);
        assert!(days.iter().all(|d| !d.gpu_hours.contains_key("T4")), "a VM not listed places nothing");
    }

    #[test]
    fn vms_outside_the_month_and_bad_months_give_nothing() {
        let before = vm("e", MARCH - 5 * DAY, Some(MARCH - DAY), 2);
        assert!(spread(2026, 3, &vms(&[&before])).iter().all(|d| d.instances == 0));
        assert!(spread(2026, 13, &vms(&[&before])).is_empty());
        assert_eq!(spread(2024, 2, &vms(&[&before])).len(), 29);
    }

    #[test]
    fn a_vm_s_disk_counts_on_each_day_it_ran() {
        // 20 GB and 40 GB disks: the first VM on days 1-2, the second on 2-3.
        let a = vm("a", MARCH + 12 * 3600, Some(MARCH + DAY + 3600), 1);
        let mut b = vm("b", MARCH + DAY, Some(MARCH + 3 * DAY), 1);
        b.disk = Some(40);
        let disk: Vec<i64> = spread(2026, 3, &vms(&[&a, &b])).iter().take(4).map(|d| d.disk_gb).collect();
        assert_eq!(disk, [20, 60, 40, 0]);
    }

    #[test]
    fn a_volume_counts_with_its_capacity_on_each_day_it_was_held() {
        // 50 GB from March 1st 18:00 to March 3rd 06:00: days 1, 2 and 3,
        // its 50 GB on each (as a VM's disk on each day it ran); 100 GB
        // held from February to March 2nd 00:00: day 1; one of April:
        // nothing.
        let v = volume("v", MARCH + 18 * 3600, MARCH + 2 * DAY + 6 * 3600, 50);
        let w = volume("w", MARCH - 5 * DAY, MARCH + DAY, 100);
        let later = volume("x", MARCH + 31 * DAY, MARCH + 32 * DAY, 10);
        let days = spread(2026, 3, &MonthRecords { storage: vec![&v, &w, &later], ..MonthRecords::default() });
        let figures: Vec<(i64, f64)> = days.iter().take(4).map(|d| (d.volumes, d.volume_gb)).collect();
        assert_eq!(figures, [(2, 150.0), (1, 50.0), (1, 50.0), (0, 0.0)]);
        assert_eq!(days.iter().map(|d| d.volumes).sum::<i64>(), 4);
    }

    #[test]
    fn public_ips_are_the_most_held_at_one_measurement_of_the_day_per_holder() {
        // Alice: 2 then 3 IPv4 addresses on day 1, 1 on day 2; Bob: 1 IPv4
        // and 2 IPv6 on day 1. A measurement of February adds nothing.
        let measured = [
            ips("alice@nuvola", 4, MARCH + 3600, 2),
            ips("alice@nuvola", 4, MARCH + 7200, 3),
            ips("alice@nuvola", 4, MARCH + DAY + 60, 1),
            ips("bob@nuvola", 4, MARCH + 600, 1),
            ips("bob@nuvola", 6, MARCH + 600, 2),
            ips("bob@nuvola", 4, MARCH - 60, 9),
        ];
        let records = MonthRecords { public_ips: measured.iter().collect(), ..MonthRecords::default() };
        let held: Vec<i64> = spread(2026, 3, &records).iter().take(3).map(|d| d.public_ips).collect();
        assert_eq!(held, [3 + 1 + 2, 1, 0]);
    }
}
