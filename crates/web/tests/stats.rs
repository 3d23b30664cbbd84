//! The statistics pages through the router, signed in with a session
//! written into the store: who may see them, what the chart, the table and
//! the CSV say, and how bad input is answered.

mod common;

use axum::http::StatusCode;
use common::{Dashboard, principal};
use nuvola_app::Settings;
use nuvola_store::{AttemptRecord, AttemptState, DeploymentRecord, Progress};
use nuvola_types::DeploymentStatus;

const HOUR: i64 = 3_600_000;

/// 2025-03-10 10:00 UTC plus `hours`.
fn march(hours: i64) -> i64 {
    chrono::NaiveDate::from_ymd_opt(2025, 3, 10).unwrap().and_hms_opt(10, 0, 0).unwrap().and_utc().timestamp_millis()
        + hours * HOUR
}

fn deployment(
    id: &str,
    group: &str,
    service: Option<&str>,
    created_at: i64,
    status: DeploymentStatus,
) -> DeploymentRecord {
    DeploymentRecord {
        catalogue_id: service.map(str::to_string),
        status,
        max_providers_retry: 3,
        provider: Some("site-a".into()),
        deadline_at: created_at + HOUR,
        created_at,
        updated_at: created_at,
        ..DeploymentRecord::ready(id, "alice", "nuvola", group)
    }
}

/// Physics: three up (two Jupyter, one own template), one deleted after
/// 2 h. `<b>sandbox</b>` (a testing group with markup in its name): one up,
/// and one that failed on site-b, came up on site-a and was deleted after
/// 30 min.
async fn federation_history() -> Dashboard {
    let settings = Settings { testing_groups: vec!["<b>sandbox</b>".into()], ..Settings::default() };
    let d = Dashboard::new(settings).await;
    let store = &d.store;
    let rows = [
        ("p1", "physics", Some("jupyter-persistent"), march(0), DeploymentStatus::CreateComplete, 0),
        ("p2", "physics", Some("jupyter-persistent"), march(30), DeploymentStatus::CreateComplete, 0),
        ("p3", "physics", None, march(24 * 40), DeploymentStatus::CreateComplete, 0),
        ("p4", "physics", Some("single-vm"), march(1), DeploymentStatus::DeleteComplete, 2),
        ("s1", "<b>sandbox</b>", Some("single-vm"), march(2), DeploymentStatus::CreateComplete, 0),
        ("s2", "<b>sandbox</b>", Some("single-vm"), march(3), DeploymentStatus::DeleteComplete, 0),
    ];
    for (id, group, service, created, status, lived_h) in rows {
        let mut record = deployment(id, group, service, created, status);
        if status == DeploymentStatus::DeleteComplete {
            record.updated_at = created + if lived_h > 0 { lived_h * HOUR } else { HOUR / 2 };
        }
        let mut attempts = vec![AttemptRecord {
            deployment_id: id.into(),
            number: 1,
            attempt_id: format!("{id}-1"),
            provider: "site-a".into(),
            state: if status == DeploymentStatus::DeleteComplete { AttemptState::Deleted } else { AttemptState::Ready },
            reason: None,
            started_at: created + 1000,
            finished_at: Some(created + 60_000),
            ended_at: None,
        }];
        if id == "s2" {
            attempts[0].number = 2;
            attempts.insert(
                0,
                AttemptRecord {
                    number: 1,
                    attempt_id: "s2-0".into(),
                    provider: "site-b".into(),
                    state: AttemptState::Cleaned,
                    reason: Some("boot failed".into()),
                    ..attempts[0].clone()
                },
            );
        }
        store.insert_deployment(&record, &Progress { attempts, log: vec![] }).await.unwrap();
    }
    d
}

const MARCH_TO_MAY: &str = "from=2025-03-01&to=2025-05-31";

#[tokio::test]
async fn an_administrator_sees_every_figure_listed_with_its_csv() {
    let d = federation_history().await;
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let page = d.get("/stats", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for slug in [
        "active-by-group",
        "by-service",
        "created-per-day",
        "created-per-month",
        "lifetimes",
        "groups-per-month",
        "attempts-by-provider",
    ] {
        assert!(page.body.contains(&format!("href=\"/stats/{slug}")), "{slug} missing");
        assert!(page.body.contains(&format!("href=\"/stats/{slug}.csv")), "{slug} CSV missing");
    }
    assert!(page.body.contains(r#"<a href="/stats" aria-current="page">Statistics</a>"#));
}

#[tokio::test]
async fn active_deployments_per_group_show_as_bars_beside_their_table() {
    let d = federation_history().await;
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let page = d.get("/stats/active-by-group", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert_eq!(body.matches(r#"class="bar""#).count(), 2, "{body}");
    assert!(body.contains(r#"role="img""#));
    // The group named with markup is text, never markup.
    assert!(!body.contains("<b>sandbox</b>"));
    assert!(body.contains("&lt;b&gt;sandbox&lt;/b&gt;"));
    // Table: physics 3 (p4 was deleted), sandbox 1.
    assert!(body.contains(r#"<th scope="row">physics</th><td class="num">3</td>"#), "{body}");
    assert!(body.contains(r#"<th scope="row">&lt;b&gt;sandbox&lt;/b&gt;</th><td class="num">1</td>"#));
    assert!(body.contains(r#"href="/stats/active-by-group.csv""#));
}

#[tokio::test]
async fn the_csv_holds_the_same_numbers_with_a_file_name_and_escaping() {
    let d = federation_history().await;
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let csv = d.get(&format!("/stats/by-service.csv?{MARCH_TO_MAY}"), Some(&admin)).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers["content-disposition"],
        "attachment; filename=\"nuvola-by-service-2025-03-01-to-2025-05-31.csv\""
    );
    let jupyter = d.app.catalogue().get("jupyter-persistent").unwrap().name.clone();
    let vm = d.app.catalogue().get("single-vm").unwrap().name.clone();
    assert_eq!(
        csv.body,
        format!("Service,Deployments,Share\r\n{vm},3,0.5000\r\n{jupyter},2,0.3333\r\nOwn template,1,0.1667\r\n")
    );
    let groups = d.get(&format!("/stats/groups-per-month.csv?{MARCH_TO_MAY}"), Some(&admin)).await;
    assert_eq!(
        groups.body,
        "Month,<b>sandbox</b>,physics,Total\r\n2025-03,2,3,5\r\n2025-04,0,1,1\r\n2025-05,0,0,0\r\n"
    );
}

#[tokio::test]
async fn lifetimes_split_production_from_testing_groups() {
    let d = federation_history().await;
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let csv = d.get(&format!("/stats/lifetimes.csv?{MARCH_TO_MAY}"), Some(&admin)).await;
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], "Lifetime,Production,Testing");
    // p4 lived 2 h; s2 30 min; the running ones are months old by now.
    assert_eq!(lines[1], "under 1 h,0,1");
    assert_eq!(lines[2], "1 h–6 h,1,0");
    assert_eq!(lines[8], "3 mo or more,3,1");
    let page = d.get(&format!("/stats/lifetimes?{MARCH_TO_MAY}"), Some(&admin)).await;
    assert!(page.body.contains(">Production groups</text>") && page.body.contains(">Testing groups</text>"));
    assert_eq!(page.body.matches(r#"class="bar""#).count(), 16);
    assert!(page.body.contains(r#"value="2025-03-01""#) && page.body.contains(r#"value="2025-05-31""#));
}

#[tokio::test]
async fn attempts_per_provider_count_failures() {
    let d = federation_history().await;
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let csv = d.get(&format!("/stats/attempts-by-provider.csv?{MARCH_TO_MAY}"), Some(&admin)).await;
    assert_eq!(
        csv.body,
        "Provider,Succeeded,Failed,Running,Failure rate\r\nsite-a,6,0,0,0.0000\r\nsite-b,0,1,0,1.0000\r\n"
    );
    let days = d.get("/stats/created-per-day.csv?from=2025-03-10&to=2025-03-12", Some(&admin)).await;
    assert_eq!(
        days.body,
        "Day,Deployments created,7-day average\r\n2025-03-10,4,4.00\r\n2025-03-11,1,2.50\r\n2025-03-12,0,1.67\r\n"
    );
    let page = d.get("/stats/created-per-day?from=2025-03-10&to=2025-03-12", Some(&admin)).await;
    assert!(page.body.contains("peak 4 on Mar 10"), "{}", page.body);
}

#[tokio::test]
async fn a_group_manager_sees_only_their_group_and_members_see_nothing() {
    let d = federation_history().await;
    let manager = d.sign_in(&principal("mara", &["physics"], &["physics"], false)).await;
    let csv = d.get("/stats/active-by-group.csv", Some(&manager)).await;
    assert_eq!(csv.body, "Group,Active deployments\r\nphysics,3\r\n");
    let attempts = d.get(&format!("/stats/attempts-by-provider.csv?{MARCH_TO_MAY}"), Some(&manager)).await;
    assert_eq!(attempts.body, "Provider,Succeeded,Failed,Running,Failure rate\r\nsite-a,4,0,0,0.0000\r\n");

    let member = d.sign_in(&principal("bob", &["physics"], &[], false)).await;
    for path in ["/stats", "/stats/by-service", "/stats/by-service.csv"] {
        let page = d.get(path, Some(&member)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.body.contains("administrators and group managers"), "{path}");
    }
    let anonymous = d.get("/stats/lifetimes", None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers["location"], "/login?next=%2Fstats%2Flifetimes");
}

#[tokio::test]
async fn bad_dates_and_unknown_figures_are_explained() {
    let d = federation_history().await;
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let page = d.get("/stats/by-service?from=2025-02-30", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("write it as YYYY-MM-DD"), "{}", page.body);
    let page = d.get("/stats/by-service?from=2025-05-01&to=2025-04-01", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = d.get("/stats/pie-chart", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("no statistic called"));
}
