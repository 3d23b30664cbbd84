//! The accounting queue on a real RabbitMQ (`NUVOLA_TEST_STOMP_URL`, which
//! `.ci/rabbitmq.sh` starts): what the broker has delivered together is
//! stored in one load, in order (the last record of a VM-month wins); a
//! refused message among them is moved to the refused queue with its
//! reason and keeps none of the others out; every message is settled.

use std::time::Duration;

use nuvola_drivers::stomp::Client;
use nuvola_drivers::testing::{rabbitmqctl, stomp_url};
use nuvola_store::{Store, StoreOptions, UsageFilter};
use nuvola_usage::Accounting;

/// A cloud message of one VM in March 2025, `hours` of wall and CPU time.
fn message(vm: &str, site: &str, hours: i64) -> String {
    format!(
        "APEL-cloud-message: v0.4\nVMUUID: {vm}\nSiteName: {site}\nStatus: started\nStartTime: 1740787200\n\
         WallDuration: {seconds}\nCpuDuration: {seconds}\nCpuCount: 1\nMemory: 2048\nFQAN: /physics/Role=NULL\n\
         RecordCreateTime: {}\n%%\n",
        1_740_787_200 + hours * 3600,
        seconds = hours * 3600,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_delivered_together_are_stored_in_one_load() {
    let Some(stomp) = stomp_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(url)).await.unwrap();
    let accounting = Accounting::new(store.clone(), Default::default(), nuvola_usage::wall_clock());
    let name = format!("nuvola-test-batch-{}", uuid::Uuid::new_v4().simple());
    let (queue, refused_queue) = (format!("/queue/{name}"), format!("/queue/{name}.refused"));

    let client = Client::connect(&stomp).await.unwrap();
    let broken = "APEL-cloud-message: v0.4\nVMUUID: vm-broken\nStatus: started\n%%\n";
    let bodies =
        [message("vm-1", "SITE-A", 1), broken.to_owned(), message("vm-2", "SITE-B", 2), message("vm-1", "SITE-A", 5)];
    for body in &bodies {
        client.send(&queue, &[], body.as_bytes()).await.unwrap();
    }
    let mut subscription = client.subscribe(&queue).await.unwrap();
    let mut batch = Vec::new();
    while batch.len() < bodies.len() {
        let next = tokio::time::timeout(Duration::from_secs(30), subscription.next()).await;
        batch.push(next.expect("the broker delivers within 30 s").expect("a delivery"));
    }

    let consumed = accounting.consume(&client, &refused_queue, batch).await;
    assert_eq!((consumed.stored, consumed.failed.len()), (3, 0), "{consumed:?}");
    let [reason] = consumed.refused.as_slice() else { panic!("one refused: {consumed:?}") };
    assert!(reason.contains("line 2, field SiteName"), "{reason}");
    // One load: vm-1's later record replaced its first within it.
    assert_eq!((consumed.report.cloud.records, consumed.report.cloud.new), (3, 2), "{consumed:?}");
    assert_eq!(accounting.queue_counts().get(), (3, 1, 0));
    let months = store.accounting_vm_months(&UsageFilter::default(), 2025, 3).await.unwrap();
    let walls: Vec<_> = months.iter().map(|m| (m.record.vm_uuid.as_ref(), m.record.wall_duration)).collect();
    assert_eq!(walls, [("vm-1", Some(5 * 3600)), ("vm-2", Some(2 * 3600))]);

    // The broken one waits on the refused queue, saying why.
    let mut refused = client.subscribe(&refused_queue).await.unwrap();
    let moved = tokio::time::timeout(Duration::from_secs(30), refused.next()).await.unwrap().unwrap();
    assert_eq!(moved.body, broken.as_bytes());
    assert!(moved.header("nuvola-refused").is_some_and(|r| r.contains("field SiteName")));
    moved.ack().await.unwrap();
    drop((subscription, refused));
    client.disconnect().await.unwrap();

    // Every message was settled: none is left with the broker.
    let started = std::time::Instant::now();
    loop {
        let listed = rabbitmqctl(&["list_queues", "name", "messages"]);
        let left: Vec<&str> = listed.lines().filter(|l| l.starts_with(&name) && !l.ends_with("\t0")).collect();
        if left.is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "left with the broker: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for q in [name.clone(), format!("{name}.refused")] {
        rabbitmqctl(&["delete_queue", &q]);
    }
}
