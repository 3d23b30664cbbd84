//! Accounting in the store, on SQLite and on a real PostgreSQL
//! (`NUVOLA_TEST_POSTGRES_URL`): the shared APEL generator's records,
//! loaded message by message, give exactly the summaries APEL computes for
//! them; re-sending changes nothing; a load not committed stores nothing;
//! the other kinds of record keep the last loaded per natural key; the
//! usage reads group and filter as the views ask.

use std::path::{Path, PathBuf};
use std::process::Command;

use nuvola_accounting::accelerator::AcceleratorRecord;
use nuvola_accounting::cloud::{self, CloudRecord};
use nuvola_accounting::public_ip::PublicIpRecord;
use nuvola_accounting::storage::StorageRecord;
use nuvola_accounting::{Decimal3, message};
use nuvola_store::{LoadCounts, Store, StoreOptions, UsageBy, UsageFilter};

fn generator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../accounting/tests/apel-generator")
}

/// Runs the generator; `None` (with the reason printed) when python3 is
/// missing outside CI.
fn generate(records: usize, seed: &str, extra: &[&str]) -> Option<tempfile::TempDir> {
    if !Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success()) {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "python3 is needed to run the APEL record generator");
        eprintln!("skipped: python3 is not installed, so the APEL record generator cannot run");
        return None;
    }
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("python3")
        .arg(generator().join("gen_cloud_records.py"))
        .args(["-n", &records.to_string(), "--seed", seed, "-o"])
        .arg(out.path())
        .args(extra)
        .output()
        .unwrap();
    assert!(run.status.success(), "generator failed: {}", String::from_utf8_lossy(&run.stderr));
    Some(out)
}

fn messages(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("messages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "apel"))
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

async fn stored_rows(store: &Store) -> Vec<String> {
    let summaries = store.accounting_cloud_summaries(&UsageFilter::default()).await.unwrap();
    summaries.iter().map(|u| u.summary.table_row()).collect()
}

fn expected_rows(dir: &Path) -> Vec<String> {
    let expected = std::fs::read_to_string(dir.join("expected_summaries.tsv")).unwrap();
    expected.lines().skip(1).map(str::to_owned).collect()
}

/// Loads one message as the ingest does: one load, committed.
async fn load_message(store: &Store, bytes: &[u8], source: &str) -> LoadCounts {
    let records: Vec<CloudRecord<'_>> = cloud::parse_all(bytes).unwrap();
    let mut load = store.begin_accounting_load(source, 1_000).await.unwrap();
    load.cloud(records).await.unwrap();
    load.commit().await.unwrap().cloud
}

async fn generated_records_summarise_as_apel_does(db: &Db) {
    let cases: &[(usize, &str, &[&str])] = &[
        (2_500, "1", &["--per-message", "250"]),
        (3_000, "nuvola", &["--months", "14", "--start", "2023-11", "--per-message", "500"]),
    ];
    for (records, seed, extra) in cases {
        let Some(dir) = generate(*records, seed, extra) else { return };
        let store = &db.open().await;
        let messages = messages(dir.path());
        // Message by message: each commit recomputes the months it changed.
        // Each message is delivered twice (as a broker may): the second
        // delivery changes nothing.
        let mut read = 0;
        for message in &messages {
            read += load_message(store, message, "SITE-PUBLISHER").await.records;
            let summaries = stored_rows(store).await;
            let again = load_message(store, message, "SITE-PUBLISHER").await;
            assert_eq!((again.new, again.replaced), (0, 0), "seed {seed}");
            assert!(again.unchanged > 0);
            assert_eq!(stored_rows(store).await, summaries, "seed {seed}: re-sent");
        }
        assert_eq!(read, *records as u64);
        assert_eq!(stored_rows(store).await, expected_rows(dir.path()), "seed {seed}");
        usage_adds_up_the_summaries(store).await;

        // Recomputing every summary gives the same.
        let load = store.begin_accounting_load("repair", 2_000).await.unwrap();
        load.commit_summarising_all().await.unwrap();
        assert_eq!(stored_rows(store).await, expected_rows(dir.path()), "seed {seed}, recomputed");

        // All the messages in one load, written every 100 VM-months (so a
        // VM-month is written, then replaced within the load), give the same.
        let store = &db.open().await;
        let mut load = store.begin_accounting_load("SITE-PUBLISHER", 3_000).await.unwrap().writing_every(100);
        for message in &messages {
            load.cloud(cloud::parse_all(message).unwrap()).await.unwrap();
        }
        let report = load.commit().await.unwrap();
        assert_eq!(report.cloud.records, *records as u64);
        assert!(report.cloud.replaced > 0, "seed {seed}: {report:?}");
        assert_eq!(stored_rows(store).await, expected_rows(dir.path()), "seed {seed}, one load");
    }
}

/// The usage the views read (kept added up per month, group, site and
/// user as the summaries are recomputed) is the stored summaries' sums.
async fn usage_adds_up_the_summaries(store: &Store) {
    let summaries = store.accounting_cloud_summaries(&UsageFilter::default()).await.unwrap();
    assert!(!summaries.is_empty());
    for by in [UsageBy::Month, UsageBy::Site, UsageBy::Group, UsageBy::User] {
        // (year, month, key) → CPU and wall seconds, disk, instances.
        type Sums = std::collections::BTreeMap<(i32, i32, Option<String>), (i64, i64, i64, i64)>;
        let mut sums = Sums::new();
        for u in &summaries {
            let s = &u.summary;
            let key = match by {
                UsageBy::Month => None,
                UsageBy::Site => Some(s.site_name.clone()),
                UsageBy::Group => s.vo.clone(),
                UsageBy::User => s.global_user_name.clone(),
            };
            let e = sums.entry((s.year, s.month, key)).or_default();
            e.0 += s.cpu_duration.unwrap_or(0);
            e.1 += s.wall_duration.unwrap_or(0);
            e.2 += s.disk.unwrap_or(0);
            e.3 += s.number_of_vms;
        }
        let usage = store.accounting_usage(&UsageFilter::default(), by).await.unwrap();
        let read: Sums = usage
            .iter()
            .map(|u| {
                let seconds = |hours: f64| (hours * 3600.0).round() as i64;
                (
                    (u.period.year, u.period.month, u.key.clone()),
                    (seconds(u.cpu_hours), seconds(u.wall_hours), u.disk_gb, u.instances),
                )
            })
            .collect();
        assert_eq!(read, sums, "{by:?}");
    }
}

async fn a_load_not_committed_stores_nothing(store: &Store) {
    let message = b"APEL-cloud-message: v0.4\nVMUUID: vm-1\nSiteName: SITE-A\nStatus: started\nStartTime: 1704067200\n\
WallDuration: 3600\nMemory: 2048\nFQAN: /physics/Role=NULL\n%%\n";
    let mut load = store.begin_accounting_load("SITE-A", 1).await.unwrap();
    assert_eq!(load.cloud(cloud::parse_all(message).unwrap()).await.unwrap(), 1);
    load.write_gathered().await.unwrap();
    assert_eq!(load.report().cloud.new, 1);
    assert_eq!(load.accelerators(&[accelerator("vm-1", "A100", 5)]).await.unwrap().new, 1);
    drop(load);
    assert!(store.accounting_accelerators(&UsageFilter::default()).await.unwrap().is_empty());
    assert!(store.accounting_cloud_summaries(&UsageFilter::default()).await.unwrap().is_empty());
    assert!(store.accounting_usage(&UsageFilter::default(), UsageBy::Month).await.unwrap().is_empty());
}

fn accelerator(vm: &str, model: &str, hours: i64) -> AcceleratorRecord {
    AcceleratorRecord {
        measurement_month: 1,
        measurement_year: 2024,
        associated_record_type: "cloud".into(),
        associated_record: vm.into(),
        global_user_name: Some("alice".into()),
        fqan: "/physics/Role=NULL".into(),
        site_name: "SITE-A".into(),
        count: Decimal3::from_int(2).unwrap(),
        cores: None,
        active_duration: None,
        available_duration: hours * 3600,
        benchmark_type: None,
        benchmark: None,
        accelerator_type: "GPU".into(),
        model: Some(model.into()),
        cloud_type: None,
        cloud_compute_service: None,
    }
}

fn public_ip(time: i64, count: i64) -> PublicIpRecord {
    PublicIpRecord {
        measurement_time: time,
        site_name: "SITE-A".into(),
        cloud_compute_service: None,
        cloud_type: "OpenStack".into(),
        local_user: None,
        local_group: "project-1".into(),
        global_user_name: Some("alice".into()),
        fqan: "/physics".into(),
        ip_version: 4,
        ip_count: count,
        uuid: None,
    }
}

fn volume(id: &str, bytes: u128) -> StorageRecord {
    StorageRecord {
        record_id: id.into(),
        create_time: 1_704_153_600,
        storage_system: "cinder".into(),
        site: Some("SITE-A".into()),
        storage_share: None,
        storage_media: Some("disk".into()),
        storage_class: None,
        file_count: None,
        directory_path: None,
        local_user: None,
        local_group: Some("project-1".into()),
        user_identity: Some("alice".into()),
        group: Some("physics".into()),
        sub_group: None,
        role: None,
        start_time: 1_704_067_200,
        end_time: 1_704_153_600,
        resource_capacity_used: bytes,
        logical_capacity_used: None,
        resource_capacity_allocated: None,
        group_attributes: vec![],
    }
}

const JAN_1: i64 = 1_704_067_200;

async fn every_kind_is_kept_and_read_as_the_views_ask(store: &Store) {
    let cloud_message = format!(
        "APEL-cloud-message: v0.4\n\
         VMUUID: vm-1\nSiteName: SITE-A\nStatus: started\nStartTime: {JAN_1}\nWallDuration: 7200\nCpuDuration: 3600\n\
         CpuCount: 2\nMemory: 2048\nDisk: 20\nFQAN: /physics/Role=NULL\nGlobalUserName: alice\n%%\n\
         VMUUID: vm-2\nSiteName: SITE-B\nStatus: started\nStartTime: {JAN_1}\nWallDuration: 3600\nCpuDuration: 1800\n\
         CpuCount: 1\nMemory: 1024\nDisk: 10\nFQAN: /bio/Role=NULL\nGlobalUserName: bob\n%%\n"
    );
    let mut load = store.begin_accounting_load("SITE-A", 5).await.unwrap();
    load.cloud(cloud::parse_all(cloud_message.as_bytes()).unwrap()).await.unwrap();
    let gpus = [accelerator("vm-1", "A100", 10), accelerator("vm-1", "T4", 1), accelerator("vm-1", "A100", 5)];
    let counts = load.accelerators(&gpus).await.unwrap();
    assert_eq!((counts.records, counts.new), (3, 2), "the later A100 record of vm-1 wins");
    let ips = [public_ip(JAN_1 + 60, 2), public_ip(JAN_1 + 120, 3), public_ip(JAN_1 + 60, 1)];
    assert_eq!(load.public_ips(&ips).await.unwrap().new, 2);
    assert_eq!(load.storage(&[volume("vol-1", 50_000_000_000), volume("vol-2", 10_000_000_000)]).await.unwrap().new, 2);
    let report = load.commit().await.unwrap();
    assert_eq!(report.cloud.new, 2);
    assert_eq!(report.summaries, 2);

    // Re-sent: unchanged; changed: replaced.
    let mut load = store.begin_accounting_load("SITE-A", 6).await.unwrap();
    let again = load.accelerators(&[accelerator("vm-1", "A100", 5), accelerator("vm-1", "T4", 2)]).await.unwrap();
    assert_eq!((again.new, again.replaced, again.unchanged), (0, 1, 1));
    assert_eq!(load.public_ips(&[public_ip(JAN_1 + 60, 1)]).await.unwrap().unchanged, 1);
    assert_eq!(load.storage(&[volume("vol-1", 50_000_000_000)]).await.unwrap().unchanged, 1);
    let report = load.commit().await.unwrap();
    assert_eq!(report.summaries, 0, "no cloud record changed");

    let all = store.accounting_usage(&UsageFilter::default(), UsageBy::Month).await.unwrap();
    assert_eq!(all.len(), 1);
    let jan = &all[0];
    assert_eq!((jan.period, jan.key.as_deref()), (nuvola_store::Period::month(2024, 1), None));
    assert_eq!((jan.cpu_hours, jan.wall_hours), (1.5, 3.0));
    assert_eq!(jan.ram_gb_hours, (2048.0 * 2.0 + 1024.0) / 1024.0);
    assert_eq!((jan.disk_gb, jan.instances), (30, 2));
    assert_eq!(jan.public_ips, 3, "the most held at one measurement");
    assert_eq!(jan.gpu_hours.get("A100"), Some(&10.0));
    assert_eq!(jan.gpu_hours.get("T4"), Some(&4.0));
    assert_eq!((jan.volumes, jan.volume_gb), (2, 60.0));

    let by_group = store.accounting_usage(&UsageFilter::default(), UsageBy::Group).await.unwrap();
    let keys: Vec<_> = by_group.iter().map(|r| (r.key.as_deref(), r.instances, r.volumes)).collect();
    assert_eq!(keys, [(Some("bio"), 1, 0), (Some("physics"), 1, 2)]);
    let bob = UsageFilter { users: vec!["bob".into()], ..Default::default() };
    let by_site = store.accounting_usage(&bob, UsageBy::Site).await.unwrap();
    assert_eq!(by_site.iter().map(|r| (r.key.as_deref(), r.wall_hours)).collect::<Vec<_>>(), [(Some("SITE-B"), 1.0)]);
    let later = UsageFilter { from: Some((2024, 2)), ..Default::default() };
    assert!(store.accounting_usage(&later, UsageBy::User).await.unwrap().is_empty());
    let physics = UsageFilter { groups: vec!["physics".into()], sites: vec!["SITE-A".into()], ..Default::default() };
    let months = store.accounting_vm_months(&physics, 2024, 1).await.unwrap();
    assert_eq!(months.len(), 1);
    assert_eq!((&*months[0].record.vm_uuid, months[0].source.as_str(), months[0].loaded_at), ("vm-1", "SITE-A", 5));
    assert_eq!(months[0].record.cpu_count, Decimal3::from_int(2).unwrap());

    // The exports: APEL summary messages and accelerator summaries.
    let summaries = store.accounting_cloud_summaries(&UsageFilter::default()).await.unwrap();
    let written = nuvola_accounting::cloud_summary::write_message(summaries.iter().map(|u| &u.summary)).unwrap();
    assert!(matches!(message::read(written.as_bytes()), Ok(message::Message::CloudSummaries(_))));
    let gpu_summaries = store.accounting_accelerator_summaries(&UsageFilter::default()).await.unwrap();
    let hours: Vec<_> = gpu_summaries.iter().map(|s| (s.model.as_deref(), s.available_duration)).collect();
    assert_eq!(hours, [(Some("A100"), 5 * 3600), (Some("T4"), 2 * 3600)]);
}

/// A database to open fresh stores in: SQLite files in a folder, or
/// PostgreSQL schemas (dropped at the end).
struct Db {
    sqlite: Option<tempfile::TempDir>,
    postgres: Option<String>,
    schemas: std::sync::Mutex<Vec<String>>,
}

impl Db {
    async fn open(&self) -> Store {
        let name = format!("accounting_{}", uuid::Uuid::new_v4().simple());
        let options = match (&self.sqlite, &self.postgres) {
            (Some(dir), _) => StoreOptions::new(format!("sqlite://{}", dir.path().join(name).display())),
            (None, Some(url)) => {
                self.schemas.lock().unwrap().push(name.clone());
                StoreOptions { schema: Some(name), ..StoreOptions::new(url.clone()) }
            }
            (None, None) => unreachable!("a database"),
        };
        Store::open(options).await.unwrap()
    }

    async fn finish(self) {
        let schemas = self.schemas.lock().unwrap().clone();
        for schema in schemas {
            let store = self.open().await;
            store.drop_schema(&schema).await.unwrap();
            store.close().await;
        }
    }
}

async fn suite(db: Db) {
    a_load_not_committed_stores_nothing(&db.open().await).await;
    every_kind_is_kept_and_read_as_the_views_ask(&db.open().await).await;
    generated_records_summarise_as_apel_does(&db).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounting_on_sqlite() {
    suite(Db { sqlite: Some(tempfile::tempdir().unwrap()), postgres: None, schemas: Default::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounting_on_postgres() {
    let Some(url) = nuvola_store::testing::postgres_url() else { return };
    suite(Db { sqlite: None, postgres: Some(url), schemas: Default::default() }).await;
}
