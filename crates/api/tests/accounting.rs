//! `POST /api/v1/accounting/messages`: a site's publisher sends cASO's
//! messages with its token, an administrator with theirs; a wrong token is
//! 401, a record of another site 403 naming its line and field, a
//! malformed message 400 naming line and field, and neither stores
//! anything; a re-sent message changes nothing. What was stored is read
//! back through the store's usage query.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use common::{Harness, Reply};
use nuvola_app::Settings;
use nuvola_store::{UsageBy, UsageFilter};
use nuvola_usage::{AccountingPublisher, AccountingSettings};
use sha2::{Digest, Sha256};

const PATH: &str = "/api/v1/accounting/messages";
const TOKEN: &str = "site-a-publisher-token-0123456789";

fn cloud_message(site: &str, wall: i64) -> String {
    format!(
        "APEL-cloud-message: v0.4\n\
         VMUUID: vm-1\nSiteName: SITE-A\nStatus: started\nStartTime: 1704067200\nWallDuration: {wall}\n\
         CpuDuration: 1800\nCpuCount: 2\nMemory: 2048\nFQAN: /physics/Role=NULL\nGlobalUserName: alice\n%%\n\
         VMUUID: vm-2\nSiteName: {site}\nStatus: started\nStartTime: 1704067200\nWallDuration: 3600\n%%\n"
    )
}

async fn send(h: &Harness, token: &str, body: &str) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri(PATH)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(body.to_owned()))
        .unwrap();
    h.send(request).await
}

async fn harness() -> Harness {
    let publisher = AccountingPublisher {
        name: "site-a-caso".into(),
        token_sha256: Sha256::digest(TOKEN.as_bytes()).into(),
        sites: vec!["SITE-A".into()],
    };
    let settings = Settings {
        poll_interval: Duration::from_millis(20),
        accounting: AccountingSettings { publishers: vec![publisher], ..AccountingSettings::default() },
        ..Settings::default()
    };
    Harness::with(common::federation(), settings).await
}

async fn stored_instances(h: &Harness) -> i64 {
    let usage = h.store.accounting_usage(&UsageFilter::default(), UsageBy::Month).await.unwrap();
    usage.iter().map(|u| u.instances).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_send_their_sites_records_and_nothing_else_is_stored() {
    let h = harness().await;

    // A malformed message: 400 with line and field, nothing stored.
    let broken = cloud_message("SITE-A", 7200).replace("WallDuration: 7200", "WallDuration: two hours");
    let reply = send(&h, TOKEN, &broken).await.expect(400);
    let message = reply.error_message();
    assert!(message.contains("line 6, field WallDuration"), "{message}");
    assert_eq!(stored_instances(&h).await, 0);

    // A wrong token: 401.
    send(&h, "not-the-token", &cloud_message("SITE-A", 7200)).await.expect(401);
    // A user who is no administrator: 403.
    send(&h, &h.alice(), &cloud_message("SITE-A", 7200)).await.expect(403);

    // A record of another site: 403 naming its line and field, and the
    // message's record of the publisher's own site is not stored either.
    let reply = send(&h, TOKEN, &cloud_message("SITE-B", 7200)).await.expect(403);
    let message = reply.error_message();
    assert!(message.contains("line 14, field SiteName"), "{message}");
    assert!(message.contains("SITE-B"), "{message}");
    assert_eq!(stored_instances(&h).await, 0);

    // The publisher's own records: stored, counted.
    let reply = send(&h, TOKEN, &cloud_message("SITE-A", 7200)).await.expect(200);
    let report = reply.json();
    assert_eq!(report["cloud"]["records"], 2);
    assert_eq!(report["cloud"]["new"], 2);
    assert_eq!(report["summaries"], 2);
    assert_eq!(stored_instances(&h).await, 2);

    // Re-sent: nothing changes.
    let report = send(&h, TOKEN, &cloud_message("SITE-A", 7200)).await.expect(200).json();
    assert_eq!((report["cloud"]["new"].as_i64(), report["cloud"]["unchanged"].as_i64()), (Some(0), Some(2)));
    assert_eq!(report["summaries"], 0);

    // A later report of the same VM and month replaces it.
    let report = send(&h, TOKEN, &cloud_message("SITE-A", 10_800)).await.expect(200).json();
    assert_eq!(report["cloud"]["replaced"], 1);
    let usage = h.store.accounting_usage(&UsageFilter::default(), UsageBy::Site).await.unwrap();
    assert_eq!(usage.iter().map(|u| u.wall_hours).sum::<f64>(), 4.0);

    // An administrator may send any site's records.
    let report = send(&h, &h.admin(), &cloud_message("SITE-B", 10_800)).await.expect(200).json();
    assert_eq!(report["cloud"]["new"], 0, "vm-2 is kept once per month, whatever its site");
    assert_eq!(report["cloud"]["replaced"], 1);

    // JSON messages: a public IP record of another site is named by path.
    let ips = r#"{"Type": "APEL Public IP message", "Version": "0.2", "UsageRecords": [
        {"MeasurementTime": 1704067260, "SiteName": "SITE-A", "CloudType": "OpenStack", "LocalGroup": "p1",
         "FQAN": "/physics", "IPVersion": 4, "IPCount": 2},
        {"MeasurementTime": 1704067260, "SiteName": "SITE-C", "CloudType": "OpenStack", "LocalGroup": "p2",
         "FQAN": "/bio", "IPVersion": 4, "IPCount": 1}]}"#;
    let message = send(&h, TOKEN, ips).await.expect(403).error_message();
    assert!(message.contains("UsageRecords[1].SiteName"), "{message}");
    let own = ips.replace("SITE-C", "SITE-A");
    let report = send(&h, TOKEN, &own).await.expect(200).json();
    assert_eq!(report["public_ips"]["new"], 2);
    let usage = h.store.accounting_usage(&UsageFilter::default(), UsageBy::Month).await.unwrap();
    assert_eq!(usage[0].public_ips, 3);

    // Summaries are computed here, not taken.
    let summaries = "APEL-cloud-summary-message: v0.4\nSiteName: SITE-A\nMonth: 1\nYear: 2024\nNumberOfVMs: 1\n%%\n";
    send(&h, TOKEN, summaries).await.expect(400);
    h.stop().await;
}
