//! The figures of usage a view shows: one period's (a month's, or a day's)
//! CPU, wall and RAM hours, disks, instances, volumes, public IPs and GPU
//! hours by model, for one provider, group or user or for all of them. The
//! store reads them per month, the daily view spreads a month over its
//! days ([`crate::daily`]), the API and the pages show them as they are:
//! one row type from the database to the JSON.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

/// A month, or a day of one, written `YYYY-MM` or `YYYY-MM-DD`; the zero
/// date (`0000-00`) holds cloud records APEL could not date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    /// The year (0 for the zero date).
    pub year: i32,
    /// The month, 1–12 (0 for the zero date).
    pub month: i32,
    /// The day of the month, from 1, for a day.
    pub day: Option<u32>,
}

impl Period {
    /// The month `year`-`month`.
    pub fn month(year: i32, month: i32) -> Period {
        Period { year, month, day: None }
    }

    /// Day `day` of `year`-`month`.
    pub fn day(year: i32, month: i32, day: u32) -> Period {
        Period { year, month, day: Some(day) }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)?;
        match self.day {
            Some(day) => write!(f, "-{day:02}"),
            None => Ok(()),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One period's usage of one provider, group or user (or of all of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageRow {
    /// The month, or the day.
    pub period: Period,
    /// The provider, group or user; `None` for all of them, or when the
    /// records name none.
    pub key: Option<String>,
    /// CPU time.
    pub cpu_hours: f64,
    /// Wall time.
    pub wall_hours: f64,
    /// Memory (GiB) held × wall time.
    pub ram_gb_hours: f64,
    /// The VMs' disks in GB, summed over VM-months (APEL's `Disk` sum) in
    /// a month, over the VMs that ran some of it in a day.
    pub disk_gb: i64,
    /// VM-months (APEL's `NumberOfVMs`) in a month; VMs that ran some of
    /// it in a day.
    pub instances: i64,
    /// Volumes (StAR storage records): in a month, those whose period ends
    /// in it; in a day, those held some of it.
    pub volumes: i64,
    /// Their capacity used, in GB (10^9 bytes), summed as `volumes`
    /// counts them (like `disk_gb`).
    pub volume_gb: f64,
    /// Public IP addresses: per project and IP version the most held at
    /// one measurement in the period, summed.
    pub public_ips: i64,
    /// Accelerator (GPU) hours (count × held time) per model (`""` when
    /// unnamed).
    pub gpu_hours: BTreeMap<String, f64>,
}

/// Figures this close to zero after a subtraction are zero.
const ROUNDING: f64 = 1e-9;

impl UsageRow {
    /// An empty row of `period` and `key`.
    pub fn new(period: Period, key: Option<String>) -> UsageRow {
        UsageRow { period, key, ..UsageRow::default() }
    }

    /// Adds `sign` × `other`'s figures into this row's (`sign` is 1 or −1).
    pub fn add(&mut self, other: &UsageRow, sign: f64) {
        let whole = sign as i64;
        self.cpu_hours += sign * other.cpu_hours;
        self.wall_hours += sign * other.wall_hours;
        self.ram_gb_hours += sign * other.ram_gb_hours;
        self.disk_gb += whole * other.disk_gb;
        self.instances += whole * other.instances;
        self.public_ips += whole * other.public_ips;
        self.volumes += whole * other.volumes;
        self.volume_gb += sign * other.volume_gb;
        for (model, hours) in &other.gpu_hours {
            *self.gpu_hours.entry(model.clone()).or_default() += sign * hours;
        }
    }

    /// The row with the residues of subtraction set to zero; `None` when
    /// nothing is left.
    pub fn settled(mut self) -> Option<UsageRow> {
        for x in [&mut self.cpu_hours, &mut self.wall_hours, &mut self.ram_gb_hours, &mut self.volume_gb] {
            if x.abs() < ROUNDING {
                *x = 0.0;
            }
        }
        self.gpu_hours.retain(|_, h| h.abs() >= ROUNDING);
        (!self.is_empty()).then_some(self)
    }

    /// Whether every figure is zero.
    pub fn is_empty(&self) -> bool {
        self.cpu_hours == 0.0
            && self.wall_hours == 0.0
            && self.ram_gb_hours == 0.0
            && self.volume_gb == 0.0
            && self.gpu_hours.is_empty()
            && [self.disk_gb, self.instances, self.public_ips, self.volumes].iter().all(|n| *n == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_written_as_months_or_days() {
        assert_eq!(Period::month(2026, 3).to_string(), "2026-03");
        assert_eq!(Period::day(2026, 3, 9).to_string(), "2026-03-09");
        assert_eq!(Period::default().to_string(), "0000-00");
        assert!(Period::month(2026, 3) < Period::day(2026, 3, 1));
        assert!(Period::day(2026, 3, 31) < Period::month(2026, 4));
    }

    #[test]
    fn a_row_serialises_with_the_api_s_names() {
        let mut row = UsageRow::new(Period::day(2026, 3, 9), Some("physics".into()));
        row.cpu_hours = 1.5;
        row.gpu_hours.insert("A100".into(), 2.0);
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "period": "2026-03-09", "key": "physics", "cpuHours": 1.5, "wallHours": 0.0, "ramGbHours": 0.0,
                "diskGb": 0, "instances": 0, "volumes": 0, "volumeGb": 0.0, "publicIps": 0, "gpuHours": {"A100": 2.0}
            })
        );
    }

    #[test]
    fn subtracting_a_row_from_itself_leaves_nothing() {
        let mut row = UsageRow::new(Period::month(2026, 3), None);
        let other = UsageRow {
            cpu_hours: 0.1 + 0.2,
            disk_gb: 40,
            instances: 2,
            gpu_hours: [("T4".to_string(), 0.3)].into(),
            ..UsageRow::default()
        };
        row.add(&other, 1.0);
        row.add(&UsageRow { cpu_hours: 0.3, ..other.clone() }, -1.0);
        assert_eq!(row.clone().settled(), None, "{row:?}");
        row.add(&other, 1.0);
        assert_eq!(row.settled().map(|r| (r.instances, r.disk_gb)), Some((2, 40)));
    }
}
