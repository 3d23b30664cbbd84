//! Accounting reads beside those of [`crate::accounting`]: one month's
//! usage per site and group together, what `/metrics` exposes on every
//! scrape (one grouped query per kind of record, on the month's index);
//! and the storage and public IP records of one month, which a daily view
//! spreads over its days.

use std::collections::BTreeMap;

use nuvola_accounting::figures::{Period, UsageRow};
use nuvola_accounting::public_ip::PublicIpRecord;
use nuvola_accounting::storage::StorageRecord;
use sqlx::Row;

use crate::accounting::{from_key_text, month_key_of};
use crate::{Result, Store, StoreError, UsageFilter};

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

impl Store {
    /// The storage records (volumes) of the sites, groups and users the
    /// filter selects (its months are not used) whose period overlaps
    /// `year`-`month`, in order of record.
    pub async fn accounting_storage_during(
        &self,
        filter: &UsageFilter,
        year: i32,
        month: i32,
    ) -> Result<Vec<StorageRecord>> {
        let Some((first, next)) = nuvola_accounting::month_bounds(year, month as u8) else { return Ok(Vec::new()) };
        let any_month = UsageFilter { from: None, to: None, ..filter.clone() };
        let c = any_month.conditions("site", "vo", "user_identity");
        let n = c.bound();
        // A period that reaches into the month ends in it or later.
        let sql = format!(
            "SELECT record_id, create_time, storage_system, site, storage_share, storage_media, storage_class,
                    file_count, directory_path, local_user, local_group, user_identity, vo, sub_group, role,
                    start_time, end_time, resource_capacity_used, logical_capacity_used,
                    resource_capacity_allocated, group_attributes
             FROM accounting_storage
             WHERE {} AND month_key >= ${} AND start_time < ${} AND end_time > ${}
             ORDER BY record_id",
            c.sql,
            n + 1,
            n + 2,
            n + 3
        );
        let query =
            c.bind(sqlx::query(&sql)).bind(month_key_of(i64::from(year), i64::from(month))).bind(next).bind(first);
        let mut records = Vec::new();
        for row in query.fetch_all(&self.pool).await? {
            let bytes = |text: Option<String>| -> Result<Option<u128>> {
                text.map(|t| {
                    t.parse::<u128>()
                        .map_err(|_| StoreError::Corrupt { what: "storage record", detail: format!("capacity {t:?}") })
                })
                .transpose()
            };
            let attributes: String = row.try_get(20)?;
            records.push(StorageRecord {
                record_id: row.try_get(0)?,
                create_time: row.try_get(1)?,
                storage_system: row.try_get(2)?,
                site: row.try_get(3)?,
                storage_share: row.try_get(4)?,
                storage_media: row.try_get(5)?,
                storage_class: row.try_get(6)?,
                file_count: row.try_get::<Option<i64>, _>(7)?.map(|c| c.max(0) as u64),
                directory_path: row.try_get(8)?,
                local_user: row.try_get(9)?,
                local_group: row.try_get(10)?,
                user_identity: row.try_get(11)?,
                group: row.try_get(12)?,
                sub_group: row.try_get(13)?,
                role: row.try_get(14)?,
                start_time: row.try_get(15)?,
                end_time: row.try_get(16)?,
                resource_capacity_used: bytes(row.try_get(17)?)?.unwrap_or(0),
                logical_capacity_used: bytes(row.try_get(18)?)?,
                resource_capacity_allocated: bytes(row.try_get(19)?)?,
                group_attributes: crate::from_json("storage record", &attributes)?,
            });
        }
        Ok(records)
    }

    /// The public IP measurements of `year`-`month` of the sites, groups
    /// and users the filter selects (its months are not used), in order of
    /// measurement.
    pub async fn accounting_public_ips_of(
        &self,
        filter: &UsageFilter,
        year: i32,
        month: i32,
    ) -> Result<Vec<PublicIpRecord>> {
        let one = UsageFilter { from: Some((year, month)), to: Some((year, month)), ..filter.clone() };
        let c = one.conditions("site_name", "vo", "global_user_name");
        let sql = format!(
            "SELECT measurement_time, site_name, cloud_compute_service, cloud_type, local_user, local_group,
                    global_user_name, fqan, ip_version, ip_count, uuid
             FROM accounting_public_ips WHERE {}
             ORDER BY measurement_time, site_name, local_group, global_user_name, ip_version",
            c.sql
        );
        let mut records = Vec::new();
        for row in c.bind(sqlx::query(&sql)).fetch_all(&self.pool).await? {
            records.push(PublicIpRecord {
                measurement_time: row.try_get(0)?,
                site_name: row.try_get(1)?,
                cloud_compute_service: from_key_text(row.try_get(2)?),
                cloud_type: row.try_get(3)?,
                local_user: from_key_text(row.try_get(4)?),
                local_group: row.try_get(5)?,
                global_user_name: from_key_text(row.try_get(6)?),
                fqan: row.try_get(7)?,
                ip_version: row.try_get(8)?,
                ip_count: row.try_get(9)?,
                uuid: row.try_get(10)?,
            });
        }
        Ok(records)
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
