//! The provider canary in the whole app: a canary VM left by a run cut off
//! after its create (the run recorded, the VM on the site, as a crash
//! leaves them) is never reported as an orphan nor cleaned as one, while
//! a VM the store does not know is; the next canary pass deletes it and
//! makes the slot's own run, and the site holds nothing of either.

mod common;

use std::time::Duration;

use common::Harness;
use nuvola_app::Settings;
use nuvola_drivers::{Driver, NodeProvision, ProvisionRequest, ResourceKind};
use nuvola_store::CanaryRun;
use serde_json::{Value, json};

/// The orphans the admin API reports on `provider`.
async fn orphans_on(h: &Harness, provider: &str) -> Vec<Value> {
    let report = h.get("/api/v1/admin/orphans", &h.admin()).await.expect(200).json();
    let p = report["providers"].as_array().unwrap().iter().find(|p| p["provider"] == provider).unwrap().clone();
    assert!(p.get("error").is_none(), "{provider} was not checked: {report:#}");
    p["orphans"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_vm_cut_off_is_no_orphan_and_the_next_pass_deletes_it() {
    let mut settings = Settings { poll_interval: Duration::from_millis(20), ..Settings::default() };
    settings.watch.canary.providers = vec!["alpha".into()];
    let h = Harness::with(common::federation(), settings).await;
    // Built and removed at once, so that a pass on the wall clock waits
    // for nothing.
    h.set_sim("alpha", json!({"create_latency_ms": 0, "delete_latency_ms": 0})).await;

    // A run that crashed after its create: recorded, its lease run out,
    // its VM on the site.
    let now = nuvola_app::now_ms();
    let (started, lease_until) = (now - 3_600_000, now - 3_000_000);
    let cut = CanaryRun::begun("canary-cut-off", "alpha", 0, "m1.small", "ubuntu-22.04", started, lease_until);
    assert!(h.store.claim_canary_run(&cut).await.unwrap());
    let spec = h.app.federation().provider("alpha").unwrap();
    let request = ProvisionRequest {
        deployment_id: "canary".into(),
        attempt_id: cut.id.clone(),
        project: "physics".into(),
        nodes: vec![NodeProvision {
            flavor: spec.flavors[0].clone(),
            image: "ubuntu-22.04".into(),
            ..nuvola_drivers::testing::node("vm", 1)
        }],
        template: None,
        inputs: Default::default(),
    };
    h.app.federation().sims()["alpha"].create(&request).await.unwrap();
    // Beside it, a VM no one recorded: an orphan.
    h.create_behind_the_stores_back("alpha", "lost-deployment", "lost-deployment-1").await;

    let on_alpha = |inventory: &std::collections::BTreeMap<String, Vec<Value>>, attempt: &str| {
        inventory["alpha"].iter().filter(|r| r["attempt_id"] == attempt).count()
    };
    assert!(on_alpha(&h.inventory().await, &cut.id) > 0, "the canary VM is on the site");
    let orphans = orphans_on(&h, "alpha").await;
    let ids: Vec<&str> = orphans.iter().filter_map(|o| o["attempt_id"].as_str()).collect();
    assert_eq!(ids, ["lost-deployment-1"], "the unknown VM is, the canary is not: {orphans:#?}");
    let refused = h.post("/api/v1/admin/orphans/clean", &h.admin(), &json!({"attemptId": cut.id})).await.expect(404);
    assert!(refused.error_message().contains("not an orphan"), "{}", refused.text());
    let mut seen = std::collections::HashSet::new();
    let scan = h.app.scan_orphans(None).await;
    assert!(scan.newly_seen(&mut seen).iter().all(|o| o.attempt_id != cut.id), "the reconciler's scan agrees");

    // The next pass deletes it, then makes this slot's run.
    let pass = h.app.canary_pass().await.unwrap();
    assert_eq!(pass.cleaned.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [cut.id.as_str()], "{pass:?}");
    assert_eq!(pass.runs.len(), 1, "{pass:?}");
    let run = &pass.runs[0];
    assert_eq!((run.ok, run.gone, run.flavor.as_str()), (Some(true), true, "m1.small"), "{run:?}");
    assert!(run.create_ms.is_some() && run.ready_ms.is_some() && run.delete_ms.is_some(), "{run:?}");
    let inventory = h.inventory().await;
    assert_eq!(on_alpha(&inventory, &cut.id) + on_alpha(&inventory, &run.id), 0, "{inventory:#?}");
    let servers = inventory["alpha"].iter().filter(|r| r["kind"] == json!(ResourceKind::Server)).count();
    assert_eq!(servers, 1, "only the orphan is left: {inventory:#?}");

    // A round shows the run as alpha's `canary` check.
    h.app.watch_round().await.unwrap();
    let snapshot = h.app.watch().snapshot();
    let check = snapshot.provider("alpha").unwrap().checks.iter().find(|c| c.probe == "canary").cloned();
    assert!(check.is_some_and(|c| c.ok && c.detail.starts_with("m1.small: accepted in")));
    h.stop().await;
}
