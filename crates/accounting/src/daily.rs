//! Usage per day within one month, for the accounting pages' daily
//! charts. APEL keeps one record per VM and month, so a day's share is
//! derived: each VM's time in the month (from its start, or the month's
//! first instant, to its end when `completed`, else to when the record was
//! measured, or the month's end) is split over the days it covers. CPU time
//! follows the record's own CPU-to-wall ratio when the site measured CPU
//! time, else its CPU count; memory × time gives RAM·hours; a VM counts as
//! an instance on each day it ran; its accelerators' hours follow its days
//! in the same proportion. Suspended time is not located in a record, so the
//! days of a VM that was suspended add up to more than its month's wall time
//! in the monthly summary, which stays the reference.

use std::collections::BTreeMap;

use crate::accelerator::AcceleratorRecord;
use crate::cloud::CloudRecord;
use crate::summarise::measurement_time;
use crate::value::month_bounds;

const DAY: i64 = 86_400;
const HOUR: f64 = 3_600.0;

/// One day's usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayUsage {
    /// The day of the month, from 1.
    pub day: u32,
    /// CPU time.
    pub cpu_hours: f64,
    /// Wall time.
    pub wall_hours: f64,
    /// Memory (GiB, as the records' MB / 1024) × wall time.
    pub ram_gb_hours: f64,
    /// VMs that ran for some of the day.
    pub instances: u64,
    /// Accelerator hours (count × time) per model (`""` when unnamed).
    pub gpu_hours: BTreeMap<String, f64>,
}

/// Spreads the month's VM records (one per VM: the kept VM-months) and
/// their accelerator records over the days of `year`-`month`, giving every
/// day of the month, in order, used or not. Records of VMs that do not
/// overlap the month add nothing; an accelerator record whose VM is not
/// among `vms` cannot be placed in days and adds nothing either.
pub fn spread<'r, 'a: 'r>(
    year: i32,
    month: u8,
    vms: impl IntoIterator<Item = &'r CloudRecord<'a>>,
    accelerators: impl IntoIterator<Item = &'r AcceleratorRecord>,
) -> Vec<DayUsage> {
    let Some((first, next)) = month_bounds(year, month) else { return Vec::new() };
    let days = ((next - first) / DAY) as usize;
    let mut out: Vec<DayUsage> = (1..=days as u32).map(|day| DayUsage { day, ..DayUsage::default() }).collect();
    // Each VM's seconds on each day it ran, to place its accelerators too.
    let mut ran: BTreeMap<&str, Vec<(usize, i64)>> = BTreeMap::new();
    for vm in vms {
        let Some((from, to)) = running(vm, first, next) else { continue };
        let cpus_per_wall = cpus_per_wall(vm);
        let ram_gb = vm.memory.unwrap_or(0).max(0) as f64 / 1024.0;
        let mut on = Vec::new();
        let mut day_start = first + (from - first) / DAY * DAY;
        while day_start < to {
            let seconds = to.min(day_start + DAY) - from.max(day_start);
            let index = ((day_start - first) / DAY) as usize;
            let hours = seconds as f64 / HOUR;
            let day = &mut out[index];
            day.wall_hours += hours;
            day.cpu_hours += hours * cpus_per_wall;
            day.ram_gb_hours += hours * ram_gb;
            day.instances += 1;
            on.push((index, seconds));
            day_start += DAY;
        }
        ran.insert(vm.vm_uuid.as_ref(), on);
    }
    for accelerator in accelerators {
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
    out
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
        let days = spread(2026, 3, [&a], []);
        assert_eq!(days.len(), 31);
        assert_eq!((days[0].day, days[0].wall_hours, days[0].cpu_hours, days[0].instances), (1, 6.0, 24.0, 1));
        assert_eq!((days[1].day, days[1].wall_hours, days[1].ram_gb_hours), (2, 6.0, 12.0));
        assert_eq!(days[2], DayUsage { day: 3, ..DayUsage::default() });
    }

    #[test]
    fn a_running_vm_counts_until_it_was_measured_and_from_the_month_s_start() {
        // Started in February, measured on March 4th at midnight.
        let b = vm("b", MARCH - 10 * DAY, None, 1);
        let days = spread(2026, 3, [&b], []);
        let wall: Vec<f64> = days.iter().take(4).map(|d| d.wall_hours).collect();
        assert_eq!(wall, [24.0, 24.0, 24.0, 0.0]);
        assert_eq!(days.iter().map(|d| d.instances).sum::<u64>(), 3);
    }

    #[test]
    fn measured_cpu_time_sets_the_ratio() {
        let mut c = vm("c", MARCH, Some(MARCH + DAY), 8);
        c.cpu_duration = Some(DAY / 2);
        assert_eq!(spread(2026, 3, [&c], [])[0].cpu_hours, 12.0);
    }

    #[test]
    fn accelerator_hours_follow_their_vm_s_days() {
        // 12 h on day 1 and 24 h on day 2: two GPUs held 36 h = 72 GPU hours.
        let d = vm("d", MARCH + 12 * 3600, Some(MARCH + 2 * DAY), 8);
        let days = spread(2026, 3, [&d], [&gpu("d", 2, 36 * 3600, "A100"), &gpu("gone", 1, 3600, "T4")]);
        assert_eq!(days[0].gpu_hours["A100"], 24.0);
        assert_eq!(days[1].gpu_hours["A100"], 48.0);
        assert!(days.iter().all(|d| !d.gpu_hours.contains_key("T4")), "a VM not listed places nothing");
    }

    #[test]
    fn vms_outside_the_month_and_bad_months_give_nothing() {
        let before = vm("e", MARCH - 5 * DAY, Some(MARCH - DAY), 2);
        assert!(spread(2026, 3, [&before], []).iter().all(|d| d.instances == 0));
        assert!(spread(2026, 13, [&before], []).is_empty());
        assert_eq!(spread(2024, 2, [&before], []).len(), 29);
    }
}
