//! The accounting page through the router, signed in with a session
//! written into the store, over a month of a federation's accounting
//! loaded into the store: the chart and the table show the figures, the
//! CSV holds the table's numbers, a user sees only their own usage and is
//! refused another's, and the per-day view of March shows the A100 VM's
//! GPU hours on its days.

mod common;

#[path = "../../usage/tests/common/accounting.rs"]
mod accounting;

use axum::http::StatusCode;
use common::{Dashboard, principal};
use nuvola_app::Settings;

async fn march() -> Dashboard {
    let d = Dashboard::new(Settings::default()).await;
    accounting::load_march(&d.store).await;
    d
}

/// The text of every `<td>`/`<th>` of the page's table, row by row.
fn table_rows(body: &str) -> Vec<Vec<String>> {
    let table = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    table
        .split("<tr>")
        .skip(1)
        .map(|row| {
            row.split(['<', '>'])
                .collect::<Vec<_>>()
                .windows(2)
                .filter(|w| w[0].starts_with("td") || w[0].starts_with("th"))
                .map(|w| w[1].to_string())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_page_shows_every_metric_and_the_csv_holds_the_same_table() {
    let d = march().await;
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let query = "from=2025-03&to=2025-03&by=provider&metric=gpu_hours";
    let page = d.get(&format!("/accounting?{query}"), Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert!(body.contains(r#"<a href="/accounting" aria-current="page">Accounting</a>"#));
    assert!(body.contains("<svg class=\"chart\" id=\"usage\""), "a chart");
    assert!(body.contains("GPU hours per month"), "the chart's title");
    assert!(body.contains("GPU hours (A100)"), "a column per GPU model");
    assert!(!body.contains("style="), "no inline style");
    let rows = table_rows(body);
    assert_eq!(
        rows,
        [
            ["2025-03", "cloudveneto", "168.0", "72.0", "336.0", "80", "3", "1", "32.2", "1", "0.0"],
            ["2025-03", "recas-bari", "792.0", "72.0", "6192.0", "220", "2", "0", "0.0", "0", "48.0"],
        ]
    );

    let csv = d.get(&format!("/accounting.csv?{query}"), Some(&admin)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let lines: Vec<Vec<String>> = csv.body.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect();
    assert_eq!(
        lines[0],
        [
            "Month",
            "Provider",
            "CPU hours",
            "Wall hours",
            "RAM GB·hours",
            "Disk GB",
            "Instances",
            "Volumes",
            "Volume GB",
            "Public IPs",
            "GPU hours (A100)"
        ]
    );
    assert_eq!(lines.len(), 3);
    for (line, row) in lines[1..].iter().zip(&rows) {
        let numbers = |cells: &[String]| -> Vec<f64> { cells[2..].iter().map(|c| c.parse().unwrap()).collect() };
        assert_eq!(line[..2], row[..2]);
        let (csv_numbers, page_numbers) = (numbers(line), numbers(row));
        for (c, p) in csv_numbers.iter().zip(&page_numbers) {
            assert!((c - p).abs() < 0.05 + 1e-9, "{line:?} vs {row:?}");
        }
    }
    let same = d.get(&format!("/accounting?{query}&format=csv"), Some(&admin)).await;
    assert_eq!(same.body, csv.body);
}

#[tokio::test]
async fn a_user_sees_only_their_own_usage() {
    let d = march().await;
    let alice = d.sign_in(&principal("alice", &["physics"], &[], false)).await;
    let page = d.get("/accounting?from=2025-03&to=2025-03&by=user", Some(&alice)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let users: Vec<String> = table_rows(&page.body).into_iter().map(|r| r[1].clone()).collect();
    assert_eq!(users, ["alice", "alice@nuvola"]);
    assert!(!page.body.contains("bob@nuvola") && !page.body.contains("carol@nuvola"));
    let refused = d.get("/accounting?from=2025-03&to=2025-03&user=bob@nuvola", Some(&alice)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = d.get("/accounting.csv?from=2025-03&to=2025-03&group=chemistry", Some(&alice)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let bad = d.get("/accounting?metric=joules", Some(&alice)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("metric=&quot;joules&quot;"), "{}", bad.body);
    let anonymous = d.get("/accounting", None).await;
    assert_ne!(anonymous.status, StatusCode::OK);
}

#[tokio::test]
async fn a_month_day_by_day_shows_the_gpu_vm_s_hours_by_model() {
    let d = march().await;
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    let page = d.get("/accounting?month=2025-03&by=provider&metric=gpu_hours", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("GPU hours per day"));
    let gpu: Vec<(String, String, String)> = table_rows(&page.body)
        .into_iter()
        .filter(|r| r.last().unwrap() != "0.0")
        .map(|r| (r[0].clone(), r[1].clone(), r.last().unwrap().clone()))
        .collect();
    assert_eq!(
        gpu,
        [
            ("2025-03-10".into(), "recas-bari".into(), "24.0".into()),
            ("2025-03-11".into(), "recas-bari".into(), "24.0".into())
        ]
    );
    // The chart has a column per day of March.
    assert_eq!(page.body.matches("<g class=\"category\">").count(), 31);
}

#[tokio::test]
async fn several_groups_come_from_the_form_or_repeated_and_stay_in_the_csv_link() {
    let d = march().await;
    let admin = d.sign_in(&principal("root", &[], &[], true)).await;
    // The form's field, "physics, chemistry"; and the same repeated.
    for groups in ["group=physics%2C+chemistry", "group=physics&group=chemistry"] {
        let page = d.get(&format!("/accounting?from=2025-03&to=2025-03&by=group&{groups}"), Some(&admin)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let keys: Vec<String> = table_rows(&page.body).into_iter().map(|r| r[1].clone()).collect();
        assert_eq!(keys, ["chemistry", "physics"], "{groups}");
        assert!(page.body.contains(r#"value="physics, chemistry""#), "the field lists both");
        assert!(page.body.contains("group=physics&amp;group=chemistry"), "the CSV link keeps both");
    }
    let csv = d.get("/accounting.csv?from=2025-03&to=2025-03&by=group&group=physics&group=chemistry", Some(&admin));
    assert_eq!(csv.await.body.lines().count(), 3, "a header and two groups");
}
