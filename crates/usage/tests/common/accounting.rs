//! A month of a federation's accounting for the views' tests (accounting,
//! API and dashboard; the latter two include this file by path): the records
//! nuvola's own accounting makes of what five deployment attempts held in
//! March 2025, GPUs of the demo federation's `recas.a100.large` flavor
//! included, loaded into a store as any accounting load is.
//!
//! | who (GlobalUserName) | group     | provider    | flavor                    | ran             | CPU h |
//! |----------------------|-----------|-------------|---------------------------|-----------------|-------|
//! | alice@nuvola         | physics   | recas-bari  | recas.a100.large, 1 A100  | Mar 10–12, 48 h | 768   |
//! | bob@nuvola           | physics   | cloudveneto | m1.large + public IP, 30 GiB volume | Mar 1–2, 24 h | 96 |
//! | carol@nuvola         | chemistry | recas-bari  | m1.small                  | Mar 5–6, 24 h   | 24    |
//! | alice (a site's OIDC subject) | chemistry | cloudveneto | m1.medium       | Mar 20–21, 24 h | 48    |
//! | bob@nuvola           | chemistry | cloudveneto | m1.small                  | Mar 7–8, 24 h   | 24    |

#![allow(dead_code)]

use nuvola_accounting::usage::{HeldAttempt, HeldNode, HeldVolume, usage_records};
use nuvola_store::Store;

/// 2025-03-01 00:00 UTC, in seconds.
pub const MARCH: i64 = 1_740_787_200;
/// A day in seconds.
pub const DAY: i64 = 86_400;

/// Every user's CPU hours, in all.
pub const TOTAL_CPU_HOURS: f64 = 768.0 + 96.0 + 24.0 + 48.0 + 24.0;

fn node(vcpus: u32, memory_mb: u64, disk_gb: u64, gpus: u32, public_ip: bool, volume_gb: u64) -> HeldNode {
    HeldNode {
        name: "vm".into(),
        count: 1,
        image: Some("ubuntu-24.04".into()),
        vcpus,
        memory_mb,
        disk_gb,
        gpus,
        gpu_model: (gpus > 0).then(|| "A100".into()),
        public_ip,
        volumes: (volume_gb > 0)
            .then(|| HeldVolume { name: "data".into(), size_gb: volume_gb, volume_type: Some("standard".into()) })
            .into_iter()
            .collect(),
    }
}

fn attempt(id: &str, site: &str, user: &str, group: &str, first_day: i64, days: i64, node: HeldNode) -> HeldAttempt {
    HeldAttempt {
        attempt_id: id.into(),
        site: site.into(),
        compute_service: Some(format!("https://{site}.cloud.example:5000/v3")),
        user: user.into(),
        group: group.into(),
        project: None,
        start: MARCH + (first_day - 1) * DAY,
        end: Some(MARCH + (first_day - 1 + days) * DAY),
        nodes: vec![node],
    }
}

/// The five attempts of the table above.
pub fn attempts() -> Vec<HeldAttempt> {
    vec![
        attempt("a1", "recas-bari", "alice@nuvola", "physics", 10, 2, node(16, 131_072, 200, 1, false, 0)),
        attempt("b1", "cloudveneto", "bob@nuvola", "physics", 1, 1, node(4, 8192, 40, 0, true, 30)),
        attempt("c1", "recas-bari", "carol@nuvola", "chemistry", 5, 1, node(1, 2048, 20, 0, false, 0)),
        attempt("a2", "cloudveneto", "alice", "chemistry", 20, 1, node(2, 4096, 20, 0, false, 0)),
        attempt("b2", "cloudveneto", "bob@nuvola", "chemistry", 7, 1, node(1, 2048, 20, 0, false, 0)),
    ]
}

/// Loads the month's records into `store`, as nuvola's own accounting
/// would, measured on April 1st.
pub async fn load_march(store: &Store) {
    let april = MARCH + 31 * DAY;
    let records = usage_records(&attempts(), april, MARCH..april);
    assert!(!records.accelerators.is_empty() && !records.storage.is_empty() && !records.public_ips.is_empty());
    let mut load = store.begin_accounting_load("nuvola", april * 1000).await.unwrap();
    load.cloud(records.cloud).await.unwrap();
    load.accelerators(&records.accelerators).await.unwrap();
    load.public_ips(&records.public_ips).await.unwrap();
    load.storage(&records.storage).await.unwrap();
    load.commit().await.unwrap();
}
