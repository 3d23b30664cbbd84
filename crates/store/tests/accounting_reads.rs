//! The records a daily view spreads, read back from the store on SQLite
//! and on a real PostgreSQL (`NUVOLA_TEST_POSTGRES_URL`): the storage
//! records whose period overlaps a month (whichever month they end in) and
//! the public IP measurements of a month, each as it was loaded, filtered
//! by site, group and user.

use nuvola_accounting::public_ip::PublicIpRecord;
use nuvola_accounting::storage::StorageRecord;
use nuvola_store::{Store, StoreOptions, UsageFilter};

/// 2026-03-01 00:00 UTC.
const MARCH: i64 = 1_772_323_200;
const DAY: i64 = 86_400;

fn volume(id: &str, start: i64, end: i64, user: &str) -> StorageRecord {
    StorageRecord {
        record_id: id.into(),
        create_time: end,
        storage_system: "https://site-a.example:5000/v3".into(),
        site: Some("SITE-A".into()),
        storage_share: None,
        storage_media: Some("disk".into()),
        storage_class: Some("ssd".into()),
        file_count: None,
        directory_path: None,
        local_user: None,
        local_group: Some("physics-project".into()),
        user_identity: Some(user.into()),
        group: Some("physics".into()),
        sub_group: None,
        role: None,
        start_time: start,
        end_time: end,
        // Beyond 2^64, as cASO's own test data has.
        resource_capacity_used: 50 << 70,
        logical_capacity_used: None,
        resource_capacity_allocated: Some(50 << 30),
        group_attributes: vec![("project".into(), "physics-project".into())],
    }
}

fn ips(user: Option<&str>, at: i64, count: i64) -> PublicIpRecord {
    PublicIpRecord {
        measurement_time: at,
        site_name: "SITE-A".into(),
        cloud_compute_service: None,
        cloud_type: "caso/5.2.2 (OpenStack)".into(),
        local_user: user.map(|_| "a4519d7d".into()),
        local_group: "physics-project".into(),
        global_user_name: user.map(str::to_owned),
        fqan: "/physics/Role=NULL/Capability=NULL".into(),
        ip_version: 4,
        ip_count: count,
        uuid: Some(format!("ip-{at}")),
    }
}

async fn reads(store: Store) {
    // February to April; March 10th to 12th; one of April only.
    let long = volume("long", MARCH - 20 * DAY, MARCH + 40 * DAY, "alice@nuvola");
    let march = volume("march", MARCH + 9 * DAY, MARCH + 11 * DAY, "bob@nuvola");
    let april = volume("april", MARCH + 32 * DAY, MARCH + 33 * DAY, "alice@nuvola");
    let measured = [ips(Some("alice@nuvola"), MARCH + DAY, 2), ips(None, MARCH + 2 * DAY, 1), ips(None, MARCH - 1, 7)];
    let mut load = store.begin_accounting_load("site-a", 1).await.unwrap();
    load.storage(&[long.clone(), march.clone(), april.clone()]).await.unwrap();
    load.public_ips(&measured).await.unwrap();
    load.commit().await.unwrap();

    let all = UsageFilter::default();
    let ids = |records: Vec<StorageRecord>| records.into_iter().map(|r| r.record_id).collect::<Vec<_>>();
    assert_eq!(store.accounting_storage_during(&all, 2026, 3).await.unwrap(), [long.clone(), march]);
    assert_eq!(ids(store.accounting_storage_during(&all, 2026, 2).await.unwrap()), ["long"]);
    assert_eq!(ids(store.accounting_storage_during(&all, 2026, 4).await.unwrap()), ["april", "long"]);
    assert!(store.accounting_storage_during(&all, 2026, 1).await.unwrap().is_empty());
    let alice = UsageFilter { users: vec!["alice@nuvola".into()], ..UsageFilter::default() };
    assert_eq!(ids(store.accounting_storage_during(&alice, 2026, 3).await.unwrap()), ["long"]);
    let chemistry = UsageFilter { groups: vec!["chemistry".into()], ..UsageFilter::default() };
    assert!(store.accounting_storage_during(&chemistry, 2026, 3).await.unwrap().is_empty());

    // The month's measurements, as loaded; February's is not March's.
    assert_eq!(store.accounting_public_ips_of(&all, 2026, 3).await.unwrap(), measured[..2]);
    assert_eq!(store.accounting_public_ips_of(&alice, 2026, 3).await.unwrap(), measured[..1]);
    let site_b = UsageFilter { sites: vec!["SITE-B".into()], ..UsageFilter::default() };
    assert!(store.accounting_public_ips_of(&site_b, 2026, 3).await.unwrap().is_empty());
}

#[tokio::test]
async fn daily_records_read_back_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    reads(Store::open(StoreOptions::new(url)).await.unwrap()).await;
}

#[tokio::test]
async fn daily_records_read_back_on_postgres() {
    let Some(url) = nuvola_store::testing::postgres_url() else { return };
    let (store, schema) = nuvola_store::testing::fresh_postgres(&url, "reads").await;
    reads(store.clone()).await;
    store.drop_schema(&schema).await.unwrap();
}
