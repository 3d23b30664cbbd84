//! The accounting views, on SQLite and on a real
//! PostgreSQL (`NUVOLA_TEST_POSTGRES_URL`): a user sees their own usage
//! (under `subject@issuer` and their bare subject), a group manager their
//! groups' and their own (counted once), an administrator everything;
//! asking for more is narrowed or refused; per day, a GPU VM's hours show
//! by model, and disks, volumes and public IPs as per month; public IPs
//! count in their users' views.

mod common;

use common::accounting::{TOTAL_CPU_HOURS, load_march};
use nuvola_store::{Store, StoreOptions};
use nuvola_types::{Error, Principal};
use nuvola_usage::{Accounting, Period, UsageReport, UsageRequest};

fn person(subject: &str, groups: &[&str], manages: &[&str], admin: bool) -> Principal {
    Principal {
        subject: subject.into(),
        issuer: "nuvola".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        admin,
        manages: manages.iter().map(|g| g.to_string()).collect(),
        email: None,
        client_ip: None,
    }
}

fn accounting_on(store: Store) -> Accounting {
    Accounting::new(store, Default::default(), nuvola_usage::wall_clock())
}

fn march(by: &str) -> UsageRequest {
    UsageRequest { from: Some("2025-02".into()), to: Some("2025-04".into()), by: Some(by.into()), ..Default::default() }
}

/// Each key's CPU hours, rounded to the hour.
fn cpu(report: &UsageReport) -> Vec<(String, i64)> {
    report.rows.iter().map(|r| (r.key.clone().unwrap_or_else(|| "-".into()), r.cpu_hours.round() as i64)).collect()
}

async fn views(store: Store) {
    load_march(&store).await;
    let accounting = accounting_on(store.clone());

    // An administrator: everything, by provider and by month.
    let admin = person("root", &[], &[], true);
    let by_provider = accounting.usage(&admin, &march("provider")).await.unwrap();
    let periods: Vec<String> = by_provider.periods.iter().map(|p| p.to_string()).collect();
    assert_eq!(periods, ["2025-02", "2025-03", "2025-04"]);
    assert_eq!(cpu(&by_provider), [("cloudveneto".into(), 168), ("recas-bari".into(), 792)]);
    assert_eq!(by_provider.gpu_models, ["A100"]);
    let bari = &by_provider.rows[1];
    assert_eq!((bari.gpu_hours["A100"], bari.instances, bari.wall_hours), (48.0, 2, 72.0));
    let veneto = &by_provider.rows[0];
    assert_eq!((veneto.public_ips, veneto.volumes, veneto.volume_gb.round()), (1, 1, 32.0));
    let by_month = accounting.usage(&admin, &march("month")).await.unwrap();
    assert_eq!(by_month.rows.len(), 1);
    assert_eq!(by_month.rows[0].cpu_hours, TOTAL_CPU_HOURS);

    // A member: her own usage under both of her names, whatever she asks.
    let alice = person("alice", &["physics"], &[], false);
    let mine = accounting.usage(&alice, &march("user")).await.unwrap();
    assert_eq!(cpu(&mine), [("alice".into(), 48), ("alice@nuvola".into(), 768)]);
    assert_eq!(mine.scope, "your usage");
    let in_physics = UsageRequest { groups: vec!["physics".into()], ..march("user") };
    assert_eq!(cpu(&accounting.usage(&alice, &in_physics).await.unwrap()), [("alice@nuvola".into(), 768)]);
    let bobs = UsageRequest { users: vec!["bob@nuvola".into()], ..march("user") };
    let refused = accounting.usage(&alice, &bobs).await.unwrap_err();
    assert!(matches!(&refused, Error::Forbidden(m) if m.contains("bob@nuvola")), "{refused:?}");
    let chemistry = UsageRequest { groups: vec!["chemistry".into()], ..march("user") };
    assert!(matches!(accounting.usage(&alice, &chemistry).await, Err(Error::Forbidden(_))));

    // A manager of physics: every member's usage in physics, no one's elsewhere.
    let mia = person("mia", &[], &["physics"], false);
    let physics = accounting.usage(&mia, &march("user")).await.unwrap();
    // Public IPs are accounted to their user: Bob's VM had one.
    assert_eq!(cpu(&physics), [("alice@nuvola".into(), 768), ("bob@nuvola".into(), 96)]);
    assert_eq!((physics.rows[0].public_ips, physics.rows[1].public_ips), (0, 1));
    let carol = UsageRequest { users: vec!["carol@nuvola".into()], ..march("user") };
    assert!(accounting.usage(&mia, &carol).await.unwrap().rows.is_empty(), "narrowed to physics");

    // A member of physics who manages chemistry: his own usage in physics
    // and chemistry's (his own there counted once).
    let bob = person("bob", &["physics"], &["chemistry"], false);
    let seen = accounting.usage(&bob, &march("user")).await.unwrap();
    assert_eq!(cpu(&seen), [("alice".into(), 48), ("bob@nuvola".into(), 120), ("carol@nuvola".into(), 24)]);
    let total = accounting.usage(&bob, &march("month")).await.unwrap();
    assert_eq!(total.rows[0].cpu_hours, 192.0);
    assert_eq!(total.rows[0].instances, 4);

    // Several groups, users or providers at once, each seen as alone.
    let both = UsageRequest { groups: vec!["physics".into(), "chemistry".into()], ..march("user") };
    assert_eq!(cpu(&accounting.usage(&bob, &both).await.unwrap()), cpu(&seen));
    let two = UsageRequest { users: vec!["alice@nuvola".into(), "bob@nuvola".into()], ..march("user") };
    assert_eq!(
        cpu(&accounting.usage(&mia, &two).await.unwrap()),
        [("alice@nuvola".into(), 768), ("bob@nuvola".into(), 96)]
    );
    let sites = UsageRequest {
        providers: vec!["recas-bari".into(), "cloudveneto".into()],
        groups: vec!["chemistry".into()],
        ..march("provider")
    };
    assert_eq!(
        cpu(&accounting.usage(&admin, &sites).await.unwrap()),
        [("cloudveneto".into(), 72), ("recas-bari".into(), 24)]
    );

    // Per day: the A100 VM's 48 GPU hours on March 10th and 11th.
    let daily = UsageRequest { month: Some("2025-03".into()), by: Some("provider".into()), ..Default::default() };
    let days = accounting.daily(&admin, &daily).await.unwrap();
    assert_eq!(days.periods.len(), 31);
    let gpu: Vec<(String, &str, f64)> = days
        .rows
        .iter()
        .filter_map(|r| r.gpu_hours.get("A100").map(|h| (r.period.to_string(), r.key.as_deref().unwrap(), *h)))
        .collect();
    assert_eq!(gpu, [("2025-03-10".into(), "recas-bari", 24.0), ("2025-03-11".into(), "recas-bari", 24.0)]);
    let tenth = days.rows.iter().find(|r| r.period == Period::day(2025, 3, 10)).unwrap();
    assert_eq!((tenth.cpu_hours, tenth.ram_gb_hours, tenth.instances, tenth.disk_gb), (384.0, 3072.0, 1, 200));
    // March 1st on cloudveneto: Bob's m1.large (40 GB disk) all day, with
    // its public IP and its 30 GiB volume (32.21225472 GB) held all day;
    // nothing left on the 2nd.
    let first = days.rows.iter().find(|r| r.period == Period::day(2025, 3, 1)).unwrap();
    assert_eq!(first.key.as_deref(), Some("cloudveneto"));
    assert_eq!((first.cpu_hours, first.instances, first.disk_gb), (96.0, 1, 40));
    assert_eq!((first.volumes, first.public_ips), (1, 1));
    assert!((first.volume_gb - 30.0 * 1.073741824).abs() < 1e-9, "{first:?}");
    assert!(!days.rows.iter().any(|r| r.period == Period::day(2025, 3, 2)), "{:?}", days.rows);
    // Alice's days are hers alone; Bob's his and chemistry's, each VM once.
    let alice_days = accounting.daily(&alice, &UsageRequest { by: Some("user".into()), ..daily.clone() }).await;
    let keys: Vec<(String, String)> =
        alice_days.unwrap().rows.into_iter().map(|r| (r.period.to_string(), r.key.unwrap())).collect();
    assert_eq!(
        keys,
        [
            ("2025-03-10".into(), "alice@nuvola".into()),
            ("2025-03-11".into(), "alice@nuvola".into()),
            ("2025-03-20".into(), "alice".into())
        ]
    );
    let bob_days = accounting.daily(&bob, &UsageRequest { by: Some("month".into()), ..daily }).await.unwrap();
    assert_eq!(bob_days.rows.iter().map(|r| r.cpu_hours).sum::<f64>(), 192.0);

    // Bad input is named.
    let bad = UsageRequest { from: Some("2025-13".into()), ..march("month") };
    assert!(matches!(accounting.usage(&admin, &bad).await, Err(Error::Invalid(m)) if m.contains("from=\"2025-13\"")));
    let bad = UsageRequest { by: Some("site".into()), ..march("month") };
    assert!(
        matches!(accounting.usage(&admin, &bad).await, Err(Error::Invalid(m)) if m.contains("provider, group, user"))
    );
}

/// Public IPs count in their users' own views: nuvola's own records name
/// the user whose VMs held them, a site's records the user they give
/// (here a bare OIDC subject), per month and per day.
async fn own_public_ips(store: Store) {
    load_march(&store).await;
    let mut site = nuvola_accounting::public_ip::PublicIpRecord {
        measurement_time: common::accounting::MARCH + 19 * common::accounting::DAY + 3600,
        site_name: "cloudveneto".into(),
        cloud_compute_service: Some("https://cloudveneto.cloud.example:5000/v3".into()),
        cloud_type: "caso/5.2.2 (OpenStack)".into(),
        local_user: Some("a4519d7d".into()),
        local_group: "chemistry-project".into(),
        global_user_name: Some("alice".into()),
        fqan: "/chemistry/Role=NULL/Capability=NULL".into(),
        ip_version: 4,
        ip_count: 3,
        uuid: Some("e3c5aeef".into()),
    };
    let mut load = store.begin_accounting_load("cloudveneto-caso", 1).await.unwrap();
    load.public_ips(std::slice::from_ref(&site)).await.unwrap();
    // Two an hour later: the day's (and the month's) most is three.
    site.measurement_time += 3600;
    site.ip_count = 2;
    load.public_ips(&[site]).await.unwrap();
    load.commit().await.unwrap();
    let accounting = accounting_on(store);

    // A member who manages nothing: his own IP, per month and on March 1st.
    let bob = person("bob", &["physics"], &[], false);
    let month = accounting.usage(&bob, &march("month")).await.unwrap();
    assert_eq!((month.rows.len(), month.rows[0].public_ips), (1, 1), "{:?}", month.rows);
    let daily = UsageRequest { month: Some("2025-03".into()), ..Default::default() };
    let days = accounting.daily(&bob, &daily).await.unwrap();
    let ips: Vec<(String, i64)> =
        days.rows.iter().filter(|r| r.public_ips > 0).map(|r| (r.period.to_string(), r.public_ips)).collect();
    assert_eq!(ips, [("2025-03-01".to_owned(), 1)]);

    // Alice, under her bare subject at the site: its three.
    let alice = person("alice", &["chemistry"], &[], false);
    let mine = accounting.usage(&alice, &march("user")).await.unwrap();
    let ips: Vec<(Option<&str>, i64)> = mine.rows.iter().map(|r| (r.key.as_deref(), r.public_ips)).collect();
    assert_eq!(ips, [(Some("alice"), 3), (Some("alice@nuvola"), 0)]);
    let days = accounting.daily(&alice, &daily).await.unwrap();
    let twentieth = days.rows.iter().find(|r| r.period == Period::day(2025, 3, 20)).unwrap();
    assert_eq!((twentieth.public_ips, twentieth.instances), (3, 1));
}

/// This month's usage shows in `/metrics` per provider and group, GPU
/// hours by model too.
async fn metrics(store: Store) {
    let accounting = accounting_on(store.clone());
    let this = accounting.this_month();
    let (start, next) = nuvola_accounting::month_bounds(this.0, this.1 as u8).unwrap();
    let attempts: Vec<_> = common::accounting::attempts()
        .into_iter()
        .map(|mut a| {
            // The same attempts, in this month's first days.
            let offset = a.start - common::accounting::MARCH;
            let length = a.end.unwrap() - a.start;
            a.start = start + offset % (5 * common::accounting::DAY);
            a.end = Some(a.start + length);
            a
        })
        .collect();
    let records = nuvola_accounting::usage::usage_records(&attempts, next - 1, start..next);
    let mut load = store.begin_accounting_load("nuvola", next * 1000).await.unwrap();
    load.cloud(records.cloud).await.unwrap();
    load.accelerators(&records.accelerators).await.unwrap();
    load.public_ips(&records.public_ips).await.unwrap();
    load.commit().await.unwrap();
    let mut out = nuvola_monitor::openmetrics::Exposition::new();
    accounting.metrics(&mut out).await.unwrap();
    let text = out.finish();
    for sample in [
        r#"nuvola_accounting_cpu_hours{provider="recas-bari",group="physics"} 768"#,
        r#"nuvola_accounting_cpu_hours{provider="cloudveneto",group="chemistry"} 72"#,
        r#"nuvola_accounting_instances{provider="cloudveneto",group="chemistry"} 2"#,
        r#"nuvola_accounting_public_ips{provider="cloudveneto",group="physics"} 1"#,
        r#"nuvola_accounting_gpu_hours{provider="recas-bari",group="physics",model="A100"} 48"#,
        "# TYPE nuvola_accounting_wall_hours gauge",
    ] {
        assert!(text.contains(sample), "{sample} missing from:\n{text}");
    }
}

#[tokio::test]
async fn accounting_views_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    views(Store::open(StoreOptions::new(url)).await.unwrap()).await;
}

#[tokio::test]
async fn own_public_ips_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    own_public_ips(Store::open(StoreOptions::new(url)).await.unwrap()).await;
}

#[tokio::test]
async fn accounting_metrics_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    metrics(Store::open(StoreOptions::new(url)).await.unwrap()).await;
}

#[tokio::test]
async fn accounting_views_on_postgres() {
    let Some(url) = nuvola_store::testing::postgres_url() else { return };
    let (store, schema) = nuvola_store::testing::fresh_postgres(&url, "views").await;
    views(store.clone()).await;
    store.drop_schema(&schema).await.unwrap();
    let (store, schema) = nuvola_store::testing::fresh_postgres(&url, "metrics").await;
    metrics(store.clone()).await;
    store.drop_schema(&schema).await.unwrap();
    let (store, schema) = nuvola_store::testing::fresh_postgres(&url, "ips").await;
    own_public_ips(store.clone()).await;
    store.drop_schema(&schema).await.unwrap();
}
