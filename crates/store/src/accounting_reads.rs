//! Accounting reads beside those of [`crate::accounting`]: one month's
//! usage per site and group together, what `/metrics` exposes on every
//! scrape. One grouped query per kind of record, on the month's index.

use std::collections::BTreeMap;

use sqlx::Row;

use nuvola_accounting::figures::{Period, UsageRow};

use crate::{Result, Store};

/// One site's and group's usage in a month.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteGroupUsage {
    /// The site (provider), by APEL site name (`""` for storage records
    /// that name none).
    pub site: String,
    /// The group (VO), `""` when the records name none.
    pub group: String,
    /// Its figures; `key` is `None`.
    pub usage: UsageRow,
}

impl Store {
    /// The usage of `year`-`month` per site and group: the same figures as
    /// [`Store::accounting_usage`], keyed by both, in order of site then
    /// group.
    pub async fn accounting_month_by_site_and_group(&self, year: i32, month: i32) -> Result<Vec<SiteGroupUsage>> {
        let key = i64::from(year) * 12 + i64::from(month) - 1;
        let mut rows: BTreeMap<(String, String), UsageRow> = BTreeMap::new();

        let sql = "SELECT site_name, vo, CAST(SUM(cpu_duration) AS DOUBLE PRECISION),
                          CAST(SUM(wall_duration) AS DOUBLE PRECISION), CAST(SUM(ram_mb_hours) AS DOUBLE PRECISION),
                          CAST(SUM(disk) AS BIGINT), CAST(SUM(number_of_vms) AS BIGINT)
                   FROM accounting_cloud_summaries WHERE month_key = $1 GROUP BY site_name, vo";
        for r in sqlx::query(sql).bind(key).fetch_all(&self.pool).await? {
            let u = entry(&mut rows, r.try_get(0)?, r.try_get(1)?, year, month);
            u.cpu_hours = r.try_get::<Option<f64>, _>(2)?.unwrap_or(0.0) / 3600.0;
            u.wall_hours = r.try_get::<Option<f64>, _>(3)?.unwrap_or(0.0) / 3600.0;
            u.ram_gb_hours = r.try_get::<Option<f64>, _>(4)?.unwrap_or(0.0) / 1024.0;
            u.disk_gb = r.try_get::<Option<i64>, _>(5)?.unwrap_or(0);
            u.instances = r.try_get::<Option<i64>, _>(6)?.unwrap_or(0);
        }

        let sql = "SELECT site_name, vo, CAST(SUM(most) AS BIGINT) FROM (
                       SELECT site_name, vo, MAX(ip_count) AS most FROM accounting_public_ips WHERE month_key = $1
                       GROUP BY site_name, cloud_compute_service, local_group, local_user, global_user_name, fqan,
                                ip_version, vo) t
                   GROUP BY site_name, vo";
        for r in sqlx::query(sql).bind(key).fetch_all(&self.pool).await? {
            entry(&mut rows, r.try_get(0)?, r.try_get(1)?, year, month).public_ips =
                r.try_get::<Option<i64>, _>(2)?.unwrap_or(0);
        }

        let sql = "SELECT site_name, vo, model,
                          CAST(SUM(CAST(count AS DOUBLE PRECISION) * CAST(available_duration AS DOUBLE PRECISION))
                               AS DOUBLE PRECISION)
                   FROM accounting_accelerators WHERE month_key = $1 GROUP BY site_name, vo, model";
        for r in sqlx::query(sql).bind(key).fetch_all(&self.pool).await? {
            let model: String = r.try_get(2)?;
            let held = r.try_get::<Option<f64>, _>(3)?.unwrap_or(0.0);
            *entry(&mut rows, r.try_get(0)?, r.try_get(1)?, year, month).gpu_hours.entry(model).or_default() +=
                held / 1000.0 / 3600.0;
        }

        let sql = "SELECT site, vo, CAST(COUNT(*) AS BIGINT), CAST(SUM(used_gb) AS DOUBLE PRECISION)
                   FROM accounting_storage WHERE month_key = $1 GROUP BY site, vo";
        for r in sqlx::query(sql).bind(key).fetch_all(&self.pool).await? {
            let site: Option<String> = r.try_get(0)?;
            let u = entry(&mut rows, site.unwrap_or_default(), r.try_get(1)?, year, month);
            u.volumes = r.try_get(2)?;
            u.volume_gb = r.try_get::<Option<f64>, _>(3)?.unwrap_or(0.0);
        }
        Ok(rows.into_iter().map(|((site, group), usage)| SiteGroupUsage { site, group, usage }).collect())
    }
}

/// The row of a site and group, made empty the first time.
fn entry(
    rows: &mut BTreeMap<(String, String), UsageRow>,
    site: String,
    group: Option<String>,
    year: i32,
    month: i32,
) -> &mut UsageRow {
    rows.entry((site, group.unwrap_or_default())).or_insert_with(|| UsageRow::new(Period::month(year, month), None))
}
