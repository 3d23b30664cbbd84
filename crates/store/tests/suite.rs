//! One store test suite, run against SQLite and against a real PostgreSQL
//! (`NUVOLA_TEST_POSTGRES_URL`, started by `.ci/services.sh`). Each
//! PostgreSQL run gets a schema of its own, dropped afterwards.

use nuvola_store::{
    AccessRequest, AttemptOutcomes, AttemptRecord, AttemptState, DeploymentFilter, DeploymentRecord, ProbeBucket,
    Progress, RequestFilter, RequestKind, RequestStatus, Sort, StatsFilter, Store, StoreError, StoreOptions,
};
use nuvola_types::{ComputeRequirement, DeploymentRequirements, DeploymentStatus, Plan, ProbeResult, Task, Usage};

fn record(id: &str, subject: &str, group: &str, created_at: i64) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        owner_subject: subject.into(),
        owner_issuer: "https://issuer.example".into(),
        owner_email: Some(format!("{subject}@example.org")),
        user_group: group.into(),
        catalogue_id: Some("single-vm".into()),
        description: None,
        status: DeploymentStatus::CreateInProgress,
        status_reason: None,
        task: Task::None,
        template: "tosca_definitions_version: tosca_simple_yaml_1_0\n".into(),
        parameters: serde_json::Map::new(),
        inputs: serde_json::Map::new(),
        secret_inputs: Default::default(),
        secrets_unreadable: None,
        requirements: DeploymentRequirements { nodes: vec![ComputeRequirement::named("vm")], policies: vec![] },
        plan: Plan::default(),
        outputs: serde_json::Map::new(),
        outputs_unreadable: None,
        held: Usage::default(),
        callback: None,
        timeout_mins: 60,
        provider_timeout_mins: 30,
        max_providers_retry: 3,
        keep_last_attempt: false,
        provider: None,
        endpoint: None,
        physical_id: None,
        workflow: Some(serde_json::json!({"step": "plan"})),
        next_run_at: Some(created_at),
        deadline_at: created_at + 3_600_000,
        created_at,
        updated_at: created_at,
        revision: 0,
    }
}

async fn suite(store: &Store) {
    store.ping().await.unwrap();

    // Insert and read back, with the first log line in the same transaction.
    let a = record("dep-a", "alice", "physics", 1_000);
    let progress = Progress { attempts: vec![], log: vec!["submitted".into()] };
    store.insert_deployment(&a, &progress).await.unwrap();
    let got = store.deployment("dep-a").await.unwrap().unwrap();
    assert_eq!(got, a);
    assert_eq!(store.log("dep-a").await.unwrap()[0].message, "submitted");
    assert!(store.deployment("nope").await.unwrap().is_none());

    // A duplicate id is refused and changes nothing.
    assert!(store.insert_deployment(&a, &Progress::default()).await.is_err());
    assert_eq!(store.log("dep-a").await.unwrap().len(), 1);

    store.insert_deployment(&record("dep-b", "bob", "physics", 2_000), &Progress::default()).await.unwrap();
    store.insert_deployment(&record("dep-c", "alice", "bio", 3_000), &Progress::default()).await.unwrap();

    // Listing: filters, paging, order.
    let all = DeploymentFilter::default();
    let (page, total) = store.list_deployments(&all, 0, 2).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(page.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["dep-c", "dep-b"]);
    let (page, _) = store.list_deployments(&all, 2, 2).await.unwrap();
    assert_eq!(page.len(), 1);
    let alice = DeploymentFilter {
        owner: Some(("alice".into(), "https://issuer.example".into())),
        sort: Sort::OldestFirst,
        ..Default::default()
    };
    let (page, total) = store.list_deployments(&alice, 0, 10).await.unwrap();
    assert_eq!((total, page[0].id.as_str()), (2, "dep-a"));
    let physics = DeploymentFilter { user_group: Some("physics".into()), ..Default::default() };
    assert_eq!(store.list_deployments(&physics, 0, 10).await.unwrap().1, 2);
    // Left out by status: any of several (the orchestrator's `excludedStatus=A,B`).
    let excluding =
        |statuses: &[DeploymentStatus]| DeploymentFilter { excluded_status: statuses.to_vec(), ..Default::default() };
    let (waiting, done) = (DeploymentStatus::CreateInProgress, DeploymentStatus::DeleteComplete);
    assert_eq!(store.list_deployments(&excluding(&[done]), 0, 10).await.unwrap().1, 3);
    assert_eq!(store.list_deployments(&excluding(&[done, waiting]), 0, 10).await.unwrap().1, 0);
    assert_eq!(store.list_deployments(&excluding(&[waiting, done]), 0, 10).await.unwrap().1, 0);

    // Claiming: due work is leased once; a second claimer gets nothing.
    let claimed = store.claim_due("w1", 5_000, 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(store.claim_due("w2", 5_000, 60_000, 10).await.unwrap().is_empty());

    // A worker saves a step under its lease, with an attempt and a log line.
    let mut d = claimed.into_iter().find(|d| d.id == "dep-a").unwrap();
    d.status = DeploymentStatus::CreateComplete;
    d.provider = Some("backbone-bari".into());
    d.held = Usage { instances: 1, cores: 2, ram_mb: 4096, ..Default::default() };
    d.workflow = None;
    d.next_run_at = None;
    let attempt = AttemptRecord {
        deployment_id: "dep-a".into(),
        number: 1,
        attempt_id: "dep-a-1".into(),
        provider: "backbone-bari".into(),
        state: AttemptState::Ready,
        reason: None,
        started_at: 1_000,
        finished_at: Some(2_500),
        ended_at: None,
    };
    let step = Progress { attempts: vec![attempt.clone()], log: vec!["ready".into()] };
    assert!(!store.save_deployment(&d, Some("w2"), &step).await.unwrap(), "another worker's lease");
    assert!(store.save_deployment(&d, Some("w1"), &step).await.unwrap());
    assert!(!store.save_deployment(&d, Some("w1"), &step).await.unwrap(), "stale revision");
    let saved = store.deployment("dep-a").await.unwrap().unwrap();
    assert_eq!(saved.status, DeploymentStatus::CreateComplete);
    assert_eq!(saved.revision, d.revision + 1);
    assert_eq!(store.attempts("dep-a").await.unwrap(), vec![attempt.clone()]);
    assert_eq!(store.log("dep-a").await.unwrap().len(), 2);

    // Updating an attempt replaces it.
    let mut cleaned = attempt.clone();
    cleaned.state = AttemptState::Deleted;
    cleaned.ended_at = Some(9_000);
    store.save_deployment(&saved, None, &Progress { attempts: vec![cleaned.clone()], log: vec![] }).await.unwrap();
    assert_eq!(store.attempts("dep-a").await.unwrap(), vec![cleaned.clone()]);

    // Attempts are found by the id their resources are tagged with, across
    // batches; unknown ids are left out.
    let mut tagged: Vec<String> = (0..1200).map(|i| format!("made-up-{i}")).collect();
    tagged.push("dep-a-1".into());
    assert_eq!(store.attempts_by_id(&tagged).await.unwrap(), vec![cleaned]);
    assert!(store.attempts_by_id(&[]).await.unwrap().is_empty());

    // The attempts that held resources in a period: started before its
    // end, not ended before its start (ending at its start counts).
    let during = |from, to| async move { store.attempts_during(from, to).await.unwrap().len() };
    assert_eq!((during(0, 1_000).await, during(0, 1_001).await), (0, 1));
    assert_eq!((during(9_000, 10_000).await, during(9_001, 10_000).await), (1, 0));

    // Quota accounting sees what the group holds.
    let held = store.held_by_group("physics").await.unwrap();
    assert_eq!(
        held,
        vec![("backbone-bari".into(), Usage { instances: 1, cores: 2, ram_mb: 4096, ..Default::default() })]
    );
    // And /metrics, what every group holds where.
    let everywhere = store.held_everywhere().await.unwrap();
    assert_eq!(
        everywhere,
        vec![(
            "physics".into(),
            "backbone-bari".into(),
            Usage { instances: 1, cores: 2, ram_mb: 4096, ..Default::default() }
        )]
    );

    // A released lease makes the work claimable again; idle rows are not.
    store.release_lease("dep-b", "w1").await.unwrap();
    let again = store.claim_due("w2", 5_000, 60_000, 10).await.unwrap();
    assert_eq!(again.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["dep-b"]);
    // An expired lease is claimable too.
    let later = store.claim_due("w3", 200_000, 60_000, 10).await.unwrap();
    assert_eq!(later.len(), 2);
    assert_eq!(store.next_due_at().await.unwrap(), Some(2_000));

    // Fencing: the lease a row was taken over with is the only one that can
    // renew it or save; the worker that lost it can do neither.
    assert!(!store.renew_lease("dep-b", "w2", 300_000).await.unwrap(), "w3 took dep-b over");
    assert!(store.renew_lease("dep-b", "w3", 300_000).await.unwrap());
    assert!(store.claim_due("w4", 250_000, 60_000, 10).await.unwrap().is_empty(), "renewed past 250 000");
    let mut b = later.into_iter().find(|d| d.id == "dep-b").unwrap();
    b.next_run_at = Some(200_050);
    let step = Progress { attempts: vec![], log: vec!["step one".into()] };
    assert!(!store.save_deployment(&b, Some("w2"), &step).await.unwrap(), "a lost lease cannot commit");
    // Saving while holding keeps the lease: nobody else may claim the row,
    // even though its next step is due.
    assert!(store.save_deployment_holding(&b, "w3", 400_000, &step).await.unwrap());
    let others = store.claim_due("w4", 300_000, 60_000, 10).await.unwrap();
    assert!(others.iter().all(|d| d.id != "dep-b"), "still held by w3");
    b.revision += 1;
    b.next_run_at = None;
    assert!(store.save_deployment(&b, Some("w3"), &step).await.unwrap(), "the holder saves again");
    assert!(!store.renew_lease("dep-b", "w3", 500_000).await.unwrap(), "the last save released it");
    assert_eq!(store.log("dep-b").await.unwrap().iter().filter(|l| l.message == "step one").count(), 2);

    // Per status, provider and group (what /metrics shows), each row once.
    let by = store.count_by_status_provider_group().await.unwrap();
    let in_status = |wanted: DeploymentStatus| by.iter().filter(|c| c.0 == wanted).map(|c| c.3).sum::<i64>();
    assert_eq!(in_status(DeploymentStatus::CreateInProgress), 2, "{by:?}");
    assert_eq!(in_status(DeploymentStatus::CreateComplete), 1, "{by:?}");
    assert!(by.iter().all(|c| c.3 > 0), "{by:?}");

    // Concurrent claimers never get the same row.
    for i in 0..40 {
        store
            .insert_deployment(&record(&format!("bulk-{i:02}"), "carol", "bio", 10_000 + i), &Progress::default())
            .await
            .unwrap();
    }
    // The workflow's queue: the bulk rows are due from 10,000 ms on.
    let (due, waited) = store.due_work(20_000).await.unwrap();
    assert!(due >= 40, "{due}");
    assert!(waited.is_some_and(|w| w >= 10_000), "{waited:?}");
    assert_eq!(store.due_work(i64::MIN + 1).await.unwrap(), (0, None), "nothing is due before time");
    let claims = futures_join(store, 8).await;
    let mut ids: Vec<String> = claims.into_iter().flatten().collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a row was claimed twice");
    assert!(ids.iter().filter(|id| id.starts_with("bulk-")).count() == 40);
}

fn provider(name: &str, region: &str) -> nuvola_types::ProviderSpec {
    serde_json::from_value(serde_json::json!({
        "name": name, "region": region, "driver": "sim", "endpoint": format!("https://{name}.example"),
    }))
    .unwrap()
}

async fn registry_suite(store: &Store) {
    let names =
        |specs: Vec<nuvola_types::ProviderSpec>| specs.into_iter().map(|p| (p.name, p.region)).collect::<Vec<_>>();
    let pairs = |list: &[(&str, &str)]| list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();

    let config = vec![provider("a", "Bari"), provider("b", "Bologna")];
    let sync = store.sync_config_providers(&config).await.unwrap();
    assert_eq!(sync.added, ["a", "b"]);
    assert_eq!(names(store.providers().await.unwrap()), pairs(&[("a", "Bari"), ("b", "Bologna")]));

    // An admin edits b and adds c; a restart with the same file keeps both.
    store.put_provider(&provider("b", "Bologna, edited")).await.unwrap();
    store.put_provider(&provider("c", "Padova")).await.unwrap();
    let sync = store.sync_config_providers(&config).await.unwrap();
    assert_eq!(sync, nuvola_store::ConfigSync::default());
    assert_eq!(
        names(store.providers().await.unwrap()),
        pairs(&[("a", "Bari"), ("b", "Bologna, edited"), ("c", "Padova")])
    );

    // A changed file wins for what it changed; a provider it dropped goes,
    // one added through the API stays.
    let config = vec![provider("b", "Bologna CNAF")];
    let sync = store.sync_config_providers(&config).await.unwrap();
    assert_eq!((sync.updated, sync.removed), (vec!["b".to_string()], vec!["a".to_string()]));
    assert_eq!(names(store.providers().await.unwrap()), pairs(&[("b", "Bologna CNAF"), ("c", "Padova")]));

    // Edits at once each read and write the provider in one transaction:
    // none is lost.
    let edits = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .update_provider("c", |mut spec| {
                    let start = chrono::DateTime::from_timestamp(1_800_000_000 + i * 3600, 0).unwrap();
                    let end = start + chrono::Duration::minutes(30);
                    spec.maintenance.push(nuvola_types::MaintenanceWindow {
                        start,
                        end,
                        reason: format!("w{i}"),
                        kind: nuvola_types::MaintenanceKind::Outage,
                    });
                    Ok::<_, nuvola_store::StoreError>(spec)
                })
                .await
                .unwrap()
                .unwrap()
        })
    });
    for edit in edits.collect::<Vec<_>>() {
        edit.await.unwrap();
    }
    let c = store.providers().await.unwrap().into_iter().find(|p| p.name == "c").unwrap();
    let mut reasons: Vec<String> = c.maintenance.iter().map(|w| w.reason.clone()).collect();
    reasons.sort();
    reasons.dedup();
    assert_eq!(reasons.len(), 16, "an edit was lost: {reasons:?}");
    // An edit that fails changes nothing; an unknown provider is None.
    let refused = store
        .update_provider("c", |mut spec| {
            spec.maintenance.clear();
            Err::<nuvola_types::ProviderSpec, _>(nuvola_store::StoreError::BadSchema("refused".into()))
        })
        .await;
    assert!(refused.is_err());
    let kept = store.providers().await.unwrap().into_iter().find(|p| p.name == "c").unwrap();
    assert_eq!(kept.maintenance.len(), 16);
    let unknown = store.update_provider("nowhere", Ok::<_, nuvola_store::StoreError>).await.unwrap();
    assert!(unknown.is_none());

    assert!(store.delete_provider("c").await.unwrap());
    assert!(!store.delete_provider("c").await.unwrap());
    store.replace_providers(&[provider("x", "X"), provider("y", "Y")]).await.unwrap();
    assert_eq!(names(store.providers().await.unwrap()), pairs(&[("x", "X"), ("y", "Y")]));
}

/// Visibility in the listing query, group settings and the audit log.
async fn access_suite(store: &Store) {
    use nuvola_store::{AuditEntry, AuditFilter, GroupSettings, Visible};
    for (id, who, group) in [("v-1", "vera", "astro"), ("v-2", "walt", "astro"), ("v-3", "walt", "geo")] {
        store.insert_deployment(&record(id, who, group, 50_000), &Progress::default()).await.unwrap();
    }
    let seen = |subject: &str, groups: &[&str]| {
        let visible_to = Some(Visible {
            subject: subject.into(),
            issuer: "https://issuer.example".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        });
        let filter = DeploymentFilter { visible_to, sort: Sort::OldestFirst, ..Default::default() };
        async move {
            let (page, total) = store.list_deployments(&filter, 0, 100).await.unwrap();
            let ids: Vec<String> = page.into_iter().map(|d| d.id).filter(|id| id.starts_with("v-")).collect();
            (ids, total)
        }
    };
    assert_eq!(seen("vera", &[]).await.0, ["v-1"]);
    assert_eq!(seen("vera", &["astro"]).await.0, ["v-1", "v-2"]);
    assert_eq!(seen("nobody", &["geo", "astro"]).await.0, ["v-1", "v-2", "v-3"]);
    // What is not visible is not counted either.
    assert_eq!(seen("nobody", &[]).await, (vec![], 0));

    assert_eq!(
        store.group_settings("astro").await.unwrap(),
        GroupSettings { name: "astro".into(), ..Default::default() }
    );
    let on = GroupSettings { name: "astro".into(), members_see_group: true, updated_by: "m@i".into(), updated_at: 7 };
    store.put_group_settings(&on).await.unwrap();
    assert_eq!(store.group_settings("astro").await.unwrap(), on);
    let groups = ["astro".to_string(), "geo".to_string()];
    assert_eq!(store.groups_visible_to_members(&groups).await.unwrap(), ["astro"]);
    store.put_group_settings(&GroupSettings { members_see_group: false, ..on.clone() }).await.unwrap();
    assert!(store.groups_visible_to_members(&groups).await.unwrap().is_empty());

    for (at, action) in [(10, "deployment.create"), (20, "deployment.delete"), (30, "deployment.create")] {
        let e = AuditEntry {
            at,
            subject: "vera".into(),
            issuer: "https://issuer.example".into(),
            action: action.into(),
            target: format!("v-{at}"),
            detail: serde_json::json!({"group": "astro"}),
            client_ip: Some("192.0.2.1".into()),
            ..Default::default()
        };
        store.record_audit(&e).await.unwrap();
    }
    let all = store.audit(&AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), [30, 20, 10]);
    assert_eq!(all[0].detail["group"], "astro");
    let creates =
        AuditFilter { action: Some("deployment.create".into()), since: Some(15), limit: 10, ..Default::default() };
    assert_eq!(store.audit(&creates).await.unwrap().len(), 1);

    // The acceptable-use policy: versions count up; acceptances per version.
    assert!(store.current_policy().await.unwrap().is_none());
    let v1 = store.publish_policy("Be nice.", "root@i", 100).await.unwrap();
    let v2 = store.publish_policy("Be nicer.", "root@i", 200).await.unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(store.current_policy().await.unwrap(), Some(v2));
    store.accept_policy("vera", "https://issuer.example", 1, 150).await.unwrap();
    store.accept_policy("vera", "https://issuer.example", 1, 160).await.unwrap();
    assert_eq!(store.policy_accepted_at("vera", "https://issuer.example", 1).await.unwrap(), Some(150));
    assert_eq!(store.policy_accepted_at("vera", "https://issuer.example", 2).await.unwrap(), None);
}

/// 2030-01-30T12:00:00Z, far from the other suites' timestamps.
const T2030: i64 = 1_896_004_800_000;
const HOUR: i64 = 3_600_000;

async fn stats_suite(store: &Store) {
    // s1 lived 2 h; s2 is still up; s3 failed to create; s4 lived 30 min.
    let deployments = [
        ("s1", "st-prod", Some("jupyter"), T2030, DeploymentStatus::DeleteComplete, T2030 + 2 * HOUR),
        ("s2", "st-prod", Some("jupyter"), T2030 + 35 * HOUR + HOUR / 2, DeploymentStatus::CreateComplete, 0),
        ("s3", "st-test", None, T2030 + 36 * HOUR + HOUR / 2, DeploymentStatus::CreateFailed, 0),
        (
            "s4",
            "st-test",
            Some("vm"),
            T2030 + 46 * HOUR,
            DeploymentStatus::DeleteComplete,
            T2030 + 46 * HOUR + HOUR / 2,
        ),
    ];
    for (id, group, service, created, status, deleted) in deployments {
        let mut d = record(id, "stella", group, created);
        d.catalogue_id = service.map(str::to_string);
        d.status = status;
        d.updated_at = if deleted > 0 { deleted } else { created };
        store.insert_deployment(&d, &Progress::default()).await.unwrap();
    }
    let attempts = [
        ("s1", 1, "st-a", AttemptState::Cleaned),
        ("s1", 2, "st-b", AttemptState::Deleted),
        ("s2", 1, "st-b", AttemptState::Ready),
        ("s3", 1, "st-a", AttemptState::Cleaned),
        ("s4", 1, "st-a", AttemptState::Building),
    ];
    for (id, number, provider, state) in attempts {
        let started_at = store.deployment(id).await.unwrap().unwrap().created_at + 60_000;
        let a = AttemptRecord {
            deployment_id: id.into(),
            number,
            attempt_id: format!("{id}-{number}"),
            provider: provider.into(),
            state,
            reason: None,
            started_at,
            finished_at: None,
            ended_at: None,
        };
        store.put_attempt(&a).await.unwrap();
    }
    // Fresh planner statistics change plans, never answers.
    store.refresh_planner_statistics().await.unwrap();
    let year = StatsFilter { from: Some(T2030 - 40 * 86_400_000), to: Some(T2030 + 300 * 86_400_000), groups: None };
    let ours = StatsFilter { groups: Some(vec!["st-prod".into(), "st-test".into()]), ..Default::default() };

    assert_eq!(store.stats_active_by_group(&ours).await.unwrap(), [("st-prod".to_string(), 1)]);
    assert_eq!(
        store.stats_by_service(&year).await.unwrap(),
        [(Some("jupyter".to_string()), 2), (Some("vm".to_string()), 1), (None, 1)]
    );
    let days: Vec<(String, i64)> = vec![("2030-01-30".into(), 1), ("2030-01-31".into(), 1), ("2030-02-01".into(), 2)];
    assert_eq!(store.stats_created_per_day(&year).await.unwrap(), days);
    // s3, created just after midnight on February 1st, failed.
    assert_eq!(store.stats_failed_per_day(&year).await.unwrap(), [("2030-02-01".to_string(), 1)]);
    let months: Vec<(String, i64)> = vec![("2030-01".into(), 2), ("2030-02".into(), 2)];
    assert_eq!(store.stats_created_per_month(&year).await.unwrap(), months);
    assert_eq!(
        store.stats_groups_per_month(&year).await.unwrap(),
        [("2030-01".to_string(), "st-prod".to_string(), 2), ("2030-02".to_string(), "st-test".to_string(), 2)]
    );
    // At 2030-02-10 00:00, s2 has lived 8 d 12 h 30 min: the 1-4 weeks bucket.
    let now = T2030 + 10 * 86_400_000 + 12 * HOUR;
    assert_eq!(
        store.stats_lifetimes(&year, now).await.unwrap(),
        [("st-prod".to_string(), 1, 1), ("st-prod".to_string(), 5, 1), ("st-test".to_string(), 0, 1)]
    );
    assert_eq!(
        store.stats_attempts_by_provider(&year).await.unwrap(),
        [
            AttemptOutcomes { provider: "st-a".into(), succeeded: 0, failed: 2, running: 1 },
            AttemptOutcomes { provider: "st-b".into(), succeeded: 2, failed: 0, running: 0 },
        ]
    );

    // The window and the groups narrow every figure.
    let february = StatsFilter { from: Some(T2030 + 36 * HOUR), ..year.clone() };
    assert_eq!(store.stats_created_per_month(&february).await.unwrap(), [("2030-02".to_string(), 2)]);
    let testing = StatsFilter { groups: Some(vec!["st-test".into()]), ..year.clone() };
    assert_eq!(
        store.stats_attempts_by_provider(&testing).await.unwrap(),
        [AttemptOutcomes { provider: "st-a".into(), succeeded: 0, failed: 1, running: 1 }]
    );
    assert_eq!(store.stats_by_service(&testing).await.unwrap(), [(Some("vm".to_string()), 1), (None, 1)]);
    assert!(store.stats_active_by_group(&testing).await.unwrap().is_empty());
    let nobody = StatsFilter { groups: Some(vec![]), ..year.clone() };
    assert!(store.stats_created_per_day(&nobody).await.unwrap().is_empty());
    assert!(store.stats_attempts_by_provider(&nobody).await.unwrap().is_empty());
}

/// Secret inputs are sealed at rest, apart from the plain columns: a
/// store without the key (or with another) reads the row without them and
/// says why, and saving such a row loses nothing; no value a user sends is
/// taken for a sealed one; no secret reaches the log or a status reason.
async fn sealed_suite(options: StoreOptions) {
    let key = |k: u8| StoreOptions { secrets_key: Some([k; 32]), ..options.clone() };
    let sealed = Store::open(key(1)).await.unwrap();
    let mut d = record("sec-1", "alice", "physics", 1_000);
    let given = serde_json::json!({"admin_token": "tok-0123456789abcdef", "api_key": "k-0123456789", "workers": 2});
    d.parameters = given.as_object().unwrap().clone();
    d.inputs = d.parameters.clone();
    d.secret_inputs = ["api_key".to_string()].into();
    d.status_reason = Some("site said: bad token tok-0123456789abcdef".into());
    let progress = Progress { attempts: vec![], log: vec!["console: password is k-0123456789".into()] };
    sealed.insert_deployment(&d, &progress).await.unwrap();
    let read = sealed.deployment("sec-1").await.unwrap().unwrap();
    assert_eq!(read.secret_inputs, ["admin_token".to_string(), "api_key".to_string()].into());
    assert_eq!((&read.parameters, &read.inputs, &read.secrets_unreadable), (&d.parameters, &d.inputs, &None));
    assert_eq!(read.status_reason.as_deref(), Some("site said: bad token ********"));
    assert_eq!(sealed.log("sec-1").await.unwrap()[0].message, "console: password is ********");
    let (listed, _) = sealed.list_deployments(&DeploymentFilter::default(), 0, 10).await.unwrap();
    assert_eq!(listed[0].inputs["admin_token"], "tok-0123456789abcdef");
    // Pages leave templates out; saving a listed row keeps its template.
    assert_eq!(listed[0].template, "");
    assert!(sealed.save_deployment(&listed[0], None, &Progress::default()).await.unwrap());
    assert_eq!(sealed.deployment("sec-1").await.unwrap().unwrap().template, d.template);
    assert_eq!(sealed.held_by_owner("alice", "https://issuer.example").await.unwrap(), (1, d.template.len() as i64));
    assert_eq!(sealed.held_by_owner("alice", "elsewhere").await.unwrap(), (0, 0));

    // Without the key, or with another: the row reads, lists and is
    // claimed, without its secrets and saying why; saving it keeps them.
    let keyless = Store::open(options.clone()).await.unwrap();
    let other = Store::open(key(2)).await.unwrap();
    for (store, why) in [(&keyless, "no secrets key"), (&other, "same secrets key file")] {
        let read = store.deployment("sec-1").await.unwrap().unwrap();
        assert!(read.secrets_unreadable.as_deref().unwrap().contains(why), "{:?}", read.secrets_unreadable);
        assert_eq!(read.parameters, serde_json::json!({"workers": 2}).as_object().unwrap().clone());
        assert!(read.is_secret("api_key"), "still known as secret");
        let (listed, total) = store.list_deployments(&DeploymentFilter::default(), 0, 10).await.unwrap();
        assert_eq!((listed.len(), total), (1, 1));
        assert!(store.save_deployment(&read, None, &Progress::default()).await.unwrap());
    }
    assert_eq!(sealed.deployment("sec-1").await.unwrap().unwrap().parameters, d.parameters, "nothing lost");

    // The review's attack: a map input shaped like a sealed value is data.
    let mut fake = record("sec-fake", "mallory", "physics", 1_500);
    let shaped = serde_json::json!({"settings": {"nuvola_sealed": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}});
    fake.parameters = shaped.as_object().unwrap().clone();
    fake.inputs = fake.parameters.clone();
    sealed.insert_deployment(&fake, &Progress::default()).await.unwrap();
    let read = sealed.deployment("sec-fake").await.unwrap().unwrap();
    assert_eq!((read.inputs, read.secrets_unreadable), (fake.inputs.clone(), None));
    let claimed = sealed.claim_due("w", 10_000, 1_000, 10).await.unwrap();
    assert!(claimed.iter().any(|c| c.id == "sec-fake"), "claimed with the rest of its batch");

    // Written without a key: plain, read with it, sealed on the next save.
    let mut old = record("sec-2", "bob", "physics", 2_000);
    old.parameters = given.as_object().unwrap().clone();
    keyless.insert_deployment(&old, &Progress::default()).await.unwrap();
    let read = sealed.deployment("sec-2").await.unwrap().unwrap();
    assert_eq!(read.parameters, old.parameters);
    assert!(keyless.deployment("sec-2").await.unwrap().unwrap().secrets_unreadable.is_none(), "still plain");
    assert!(sealed.save_deployment(&read, None, &Progress::default()).await.unwrap());
    let unkeyed = keyless.deployment("sec-2").await.unwrap().unwrap();
    assert!(unkeyed.secrets_unreadable.is_some(), "sealed once saved with the key");
    outputs_suite(&options, &sealed, &keyless, &other).await;
    webhook_keys_suite(&options, &sealed, &keyless, &other).await;
    for store in [sealed, keyless, other] {
        store.close().await;
    }
}

/// Runs `sql` on the store's database past the store (to damage a row).
async fn raw_execute(options: &StoreOptions, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut raw = sqlx::AnyConnection::connect(&options.url).await.unwrap();
    if let Some(schema) = &options.schema {
        sqlx::query(&format!("SET search_path TO {schema}")).execute(&mut raw).await.unwrap();
    }
    sqlx::query(sql).execute(&mut raw).await.unwrap();
    raw.close().await.unwrap();
}

/// The corrupt-value error of `read`, or a panic saying what came instead.
fn corrupt<T: std::fmt::Debug>(read: Result<T, StoreError>) -> (&'static str, String) {
    match read {
        Err(StoreError::Corrupt { what, detail }) => (what, detail),
        other => panic!("expected a corrupt stored value, got {other:?}"),
    }
}

/// Words stored for enums (a deployment's task, a request's kind and
/// status) read back as the values written; a word no value spells makes
/// the row corrupt, and the error names the column, the word and the
/// accepted ones.
async fn words_suite(store: &Store, options: &StoreOptions) {
    let issuer = "https://issuer.example";
    let asked = AccessRequest {
        id: "req-1".into(),
        subject: "vera".into(),
        issuer: issuer.into(),
        kind: RequestKind::Catalogue,
        target: "gpu-vm".into(),
        reason: "training".into(),
        created_at: 10,
        ..Default::default()
    };
    store.insert_request(&asked).await.unwrap();
    assert_eq!(store.request("req-1").await.unwrap().as_ref(), Some(&asked));
    assert!(!store.approved_request("vera", issuer, RequestKind::Catalogue, "gpu-vm").await.unwrap());
    assert!(store.decide_request("req-1", RequestStatus::Approved, "root@i", "granted", 20).await.unwrap());
    assert!(!store.decide_request("req-1", RequestStatus::Rejected, "root@i", "no", 30).await.unwrap(), "decided once");
    assert_eq!(store.request("req-1").await.unwrap().unwrap().status, RequestStatus::Approved);
    assert!(store.approved_request("vera", issuer, RequestKind::Catalogue, "gpu-vm").await.unwrap());
    assert!(!store.approved_request("vera", issuer, RequestKind::Group, "gpu-vm").await.unwrap());
    let with = |status| RequestFilter { all: true, status: Some(status), ..Default::default() };
    let approved = store.requests(&with(RequestStatus::Approved)).await.unwrap();
    assert_eq!(approved.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["req-1"]);
    assert!(store.requests(&with(RequestStatus::Pending)).await.unwrap().is_empty());

    let working = DeploymentRecord { task: Task::Deployer, ..record("words-1", "vera", "astro", 60_000) };
    store.insert_deployment(&working, &Progress::default()).await.unwrap();
    assert_eq!(store.deployment("words-1").await.unwrap().unwrap().task, Task::Deployer);

    raw_execute(options, "UPDATE deployments SET task = 'ORCHESTRATING' WHERE id = 'words-1'").await;
    let (what, detail) = corrupt(store.deployment("words-1").await);
    assert_eq!(what, "deployments.task");
    assert!(detail.contains("\"ORCHESTRATING\"") && detail.contains("NONE, MONITORING"), "{detail}");
    raw_execute(options, "UPDATE access_requests SET status = 'maybe' WHERE id = 'req-1'").await;
    let (what, detail) = corrupt(store.request("req-1").await);
    assert_eq!(what, "access_requests.status");
    assert!(detail.contains("\"maybe\"") && detail.contains("pending, approved, rejected"), "{detail}");
    raw_execute(options, "UPDATE access_requests SET kind = 'project', status = 'approved' WHERE id = 'req-1'").await;
    let (what, detail) = corrupt(store.request("req-1").await);
    assert_eq!(what, "access_requests.kind");
    assert!(detail.contains("\"project\"") && detail.contains("group, catalogue"), "{detail}");

    // Mended, the rows read again.
    raw_execute(options, "UPDATE deployments SET task = 'NONE' WHERE id = 'words-1'").await;
    raw_execute(options, "UPDATE access_requests SET kind = 'catalogue' WHERE id = 'req-1'").await;
    assert_eq!(store.deployment("words-1").await.unwrap().unwrap().task, Task::None);
    assert_eq!(store.request("req-1").await.unwrap().unwrap().kind, RequestKind::Catalogue);
}

/// The text of deployment `id`'s `outputs` column, read past the store.
async fn raw_outputs(options: &StoreOptions, id: &str) -> String {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut raw = sqlx::AnyConnection::connect(&options.url).await.unwrap();
    if let Some(schema) = &options.schema {
        sqlx::query(&format!("SET search_path TO {schema}")).execute(&mut raw).await.unwrap();
    }
    let row = sqlx::query("SELECT outputs FROM deployments WHERE id = $1").bind(id).fetch_one(&mut raw).await.unwrap();
    let text: String = row.try_get("outputs").unwrap();
    raw.close().await.unwrap();
    text
}

/// Outputs (which may hold a node's private key) are sealed at rest with
/// a key and read back whole; elsewhere they read as none, saying why,
/// without breaking listings; rows written before stay readable.
async fn outputs_suite(options: &StoreOptions, sealed: &Store, keyless: &Store, other: &Store) {
    let key =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n";
    let creds = serde_json::json!({"cluster_creds": {"user": "cloudadm", "token_type": "private_key", "token": key}});
    let mut d = record("out-1", "alice", "physics", 3_000);
    sealed.insert_deployment(&d, &Progress::default()).await.unwrap();
    d.outputs = creds.as_object().unwrap().clone();
    d.status = DeploymentStatus::CreateComplete;
    assert!(sealed.save_deployment(&d, None, &Progress::default()).await.unwrap());
    let column = raw_outputs(options, "out-1").await;
    assert!(!column.contains("PRIVATE KEY") && !column.contains("b3BlbnNzaC1rZXktdjE"), "{column}");
    assert!(!column.contains("cloudadm"), "{column}");
    let read = sealed.deployment("out-1").await.unwrap().unwrap();
    assert_eq!((&read.outputs, &read.outputs_unreadable), (&d.outputs, &None));
    assert_eq!(read.outputs["cluster_creds"]["token"], key);
    let (listed, _) = sealed.list_deployments(&DeploymentFilter::default(), 0, 10).await.unwrap();
    assert_eq!(listed.iter().find(|l| l.id == "out-1").unwrap().outputs, d.outputs, "listings open them too");

    // Elsewhere: no outputs, the reason, the listing still whole; saving
    // keeps the sealed ones.
    for (store, why) in [(keyless, "no secrets key"), (other, "same secrets key file")] {
        let read = store.deployment("out-1").await.unwrap().unwrap();
        assert!(read.outputs.is_empty(), "{:?}", read.outputs);
        assert!(read.outputs_unreadable.as_deref().unwrap().contains(why), "{:?}", read.outputs_unreadable);
        let (listed, total) = store.list_deployments(&DeploymentFilter::default(), 0, 10).await.unwrap();
        assert_eq!(listed.len() as i64, total);
        assert!(listed.iter().any(|l| l.id == "out-1"));
        assert!(store.save_deployment(&read, None, &Progress::default()).await.unwrap());
    }
    assert_eq!(sealed.deployment("out-1").await.unwrap().unwrap().outputs, d.outputs, "nothing lost");
    // The endpoint prober opens them too, and elsewhere sees none.
    let watched = |w: Vec<nuvola_store::WatchedDeployment>| w.into_iter().find(|w| w.id == "out-1").unwrap().outputs;
    assert_eq!(watched(sealed.watched_deployments().await.unwrap()), d.outputs);
    assert!(watched(keyless.watched_deployments().await.unwrap()).is_empty());

    // Written without a key: plain, read with one, sealed on its next save.
    let mut old = record("out-2", "bob", "physics", 4_000);
    old.outputs = creds.as_object().unwrap().clone();
    keyless.insert_deployment(&old, &Progress::default()).await.unwrap();
    assert!(raw_outputs(options, "out-2").await.contains("PRIVATE KEY"), "plain without a key");
    let read = sealed.deployment("out-2").await.unwrap().unwrap();
    assert_eq!((&read.outputs, &read.outputs_unreadable), (&old.outputs, &None));
    assert!(sealed.save_deployment(&read, None, &Progress::default()).await.unwrap());
    assert!(!raw_outputs(options, "out-2").await.contains("PRIVATE KEY"), "sealed once saved with the key");
}

fn probe(target: &str, probe: &str, at: i64, ok: bool, latency_ms: u32) -> ProbeResult {
    ProbeResult { target: target.into(), probe: probe.into(), at, ok, latency_ms, detail: format!("{probe} at {at}") }
}

/// Probe results: a round in one insert, read back per target newest
/// first, the latest per (target, probe) by prefix, summed per stretch of
/// time for charts, and pruned.
async fn probes_suite(store: &Store) {
    // Two rounds of 1,500 endpoints, past one insert's rows, and a component.
    let minute = 60_000;
    let round = |at: i64| -> Vec<ProbeResult> {
        let mut results: Vec<ProbeResult> = (0..1_500)
            .map(|i| probe(&format!("endpoint/d{i:04}/url"), "http", at, i % 10 != 0, (i % 100) as u32))
            .collect();
        results.extend((0..1_500).map(|i| probe(&format!("endpoint/d{i:04}/url"), "tls", at, true, 7)));
        results.push(probe("clouds/bari", "api", at, at == minute, 100 + (at / minute) as u32));
        results
    };
    let (first, second) = (round(minute), round(2 * minute));
    store.record_probe_results(&first).await.unwrap();
    store.record_probe_results(&second).await.unwrap();
    // A round recorded again (a retry) is kept once, and an older result
    // does not become the latest.
    store.record_probe_results(&first).await.unwrap();
    store.record_probe_results(&[]).await.unwrap();

    let bari = store.probe_results("clouds/bari", 0, 10 * minute, 10).await.unwrap();
    assert_eq!(bari, vec![second[3_000].clone(), first[3_000].clone()], "newest first, once each");
    assert_eq!(store.probe_results("clouds/bari", 0, 10 * minute, 1).await.unwrap(), vec![second[3_000].clone()]);
    assert_eq!(store.probe_results("clouds/bari", minute, 2 * minute, 10).await.unwrap(), vec![first[3_000].clone()]);
    assert!(store.probe_results("clouds/nowhere", 0, 10 * minute, 10).await.unwrap().is_empty());

    let latest = store.latest_probe_results(None).await.unwrap();
    assert_eq!(latest.len(), 3_001);
    assert!(latest.iter().all(|r| r.at == 2 * minute), "the latest of each");
    let one = store.latest_probe_results(Some("endpoint/d0010/")).await.unwrap();
    assert_eq!(one, vec![second[10].clone(), second[1_510].clone()], "http then tls, d0010 only");
    // Prefixes are byte ranges: `d001` is ten deployments, not `d0010/` alone.
    assert_eq!(store.latest_probe_results(Some("endpoint/d001")).await.unwrap().len(), 20);
    assert_eq!(store.latest_probe_results(Some("clouds/")).await.unwrap(), vec![second[3_000].clone()]);
    assert!(store.latest_probe_results(Some("endpoint/e")).await.unwrap().is_empty());

    // Buckets of one minute from 0: one per round; of five: both together.
    let charts = store.probe_buckets(Some("endpoint/d0010/url"), 0, 10 * minute, minute).await.unwrap();
    let summary = |b: &ProbeBucket| (b.probe.clone(), b.bucket_start, b.count, b.failures, b.max_latency_ms);
    assert_eq!(
        charts.iter().map(summary).collect::<Vec<_>>(),
        [
            ("http".to_string(), minute, 1, 1, 10),
            ("http".to_string(), 2 * minute, 1, 1, 10),
            ("tls".to_string(), minute, 1, 0, 7),
            ("tls".to_string(), 2 * minute, 1, 0, 7)
        ]
    );
    let wide = store.probe_buckets(Some("clouds/"), 0, 10 * minute, 5 * minute).await.unwrap();
    assert_eq!(
        wide,
        [ProbeBucket {
            target: "clouds/bari".into(),
            probe: "api".into(),
            bucket_start: 0,
            count: 2,
            failures: 1,
            mean_latency_ms: 101.5,
            max_latency_ms: 102,
        }]
    );
    // Stretches count from the window's start; results outside it are out.
    let shifted = store.probe_buckets(Some("clouds/"), 30_000, 2 * minute, minute).await.unwrap();
    assert_eq!(shifted.iter().map(|b| (b.bucket_start, b.count)).collect::<Vec<_>>(), [(30_000, 1)]);
    let every = store.probe_buckets(None, 0, 10 * minute, 10 * minute).await.unwrap();
    assert_eq!(every.len(), 3_001);
    assert_eq!(every.iter().map(|b| b.count).sum::<i64>(), 6_002);
    assert_eq!(every.iter().map(|b| b.failures).sum::<i64>(), 2 * 150 + 1);

    // Pruning forgets what came before, and the latest of targets no
    // longer probed; the rest stays.
    store.record_probe_results(&[probe("clouds/bari", "api", 3 * minute, true, 90)]).await.unwrap();
    assert_eq!(store.prune_probe_results(2 * minute).await.unwrap(), 3_001);
    assert_eq!(store.prune_probe_results(2 * minute).await.unwrap(), 0);
    assert_eq!(store.probe_results("clouds/bari", 0, 10 * minute, 10).await.unwrap().len(), 2);
    assert_eq!(store.prune_probe_results(3 * minute).await.unwrap(), 3_001);
    let latest = store.latest_probe_results(None).await.unwrap();
    assert_eq!(latest.iter().map(|r| (r.target.as_str(), r.at)).collect::<Vec<_>>(), [("clouds/bari", 3 * minute)]);
}

/// The status page's components: changes of state kept once per time,
/// read back over a window with the state it starts in, the latest per
/// component, and operators' overrides; a word no state spells is a
/// corrupt row naming the column and the word.
async fn components_suite(store: &Store, options: &StoreOptions) {
    use nuvola_store::ComponentOverride;
    use nuvola_types::ComponentState::{self, DegradedPerformance, MajorOutage, Operational, UnderMaintenance};
    let changes = [
        ("clouds/bari", 1_000, Operational, "first probes"),
        ("clouds/bari", 5_000, MajorOutage, "api failing"),
        ("clouds/bari", 9_000, Operational, "back to normal"),
        ("paas/store", 2_000, Operational, "first probes"),
        ("paas/store", 7_000, DegradedPerformance, "slow"),
    ];
    for (component, at, state, reason) in changes {
        assert!(store.record_component_state(component, at, state, reason).await.unwrap());
    }
    // Recorded again at the same time: one row, the first kept.
    assert!(!store.record_component_state("clouds/bari", 5_000, Operational, "again").await.unwrap());

    let timeline = |component: &'static str, since: i64, until: i64| async move {
        let changes = store.component_timeline(component, since, until).await.unwrap();
        changes.into_iter().map(|c| (c.at, c.state)).collect::<Vec<(i64, ComponentState)>>()
    };
    assert_eq!(timeline("clouds/bari", 6_000, 20_000).await, [(5_000, MajorOutage), (9_000, Operational)]);
    assert_eq!(timeline("clouds/bari", 5_000, 9_000).await, [(5_000, MajorOutage)], "a change at the start");
    assert_eq!(timeline("clouds/bari", 0, 5_000).await, [(1_000, Operational)], "nothing before: from the first");
    assert_eq!(timeline("clouds/bari", 10_000, 20_000).await, [(9_000, Operational)], "no change inside");
    assert!(timeline("clouds/bari", 0, 500).await.is_empty(), "before it was known");
    assert!(timeline("clouds/nowhere", 0, 20_000).await.is_empty());
    let full = store.component_timeline("clouds/bari", 0, 20_000).await.unwrap();
    assert_eq!(full[1].reason, "api failing");
    // Every component's at once, each as its own reads.
    let all = store.component_timelines(6_000, 20_000).await.unwrap();
    let all: Vec<(&str, i64, ComponentState)> = all.iter().map(|c| (c.component.as_str(), c.at, c.state)).collect();
    assert_eq!(
        all,
        [
            ("clouds/bari", 5_000, MajorOutage),
            ("clouds/bari", 9_000, Operational),
            ("paas/store", 2_000, Operational),
            ("paas/store", 7_000, DegradedPerformance)
        ]
    );
    let early = store.component_timelines(0, 1_500).await.unwrap();
    assert_eq!(early.iter().map(|c| (c.component.as_str(), c.at)).collect::<Vec<_>>(), [("clouds/bari", 1_000)]);

    let current = store.current_component_states().await.unwrap();
    let now: Vec<(&str, i64, ComponentState)> = current.iter().map(|c| (c.component.as_str(), c.at, c.state)).collect();
    assert_eq!(now, [("clouds/bari", 9_000, Operational), ("paas/store", 7_000, DegradedPerformance)]);

    assert!(store.component_overrides().await.unwrap().is_empty());
    store.set_component_override("paas/store", UnderMaintenance, "disk swap", "root@i", 8_000).await.unwrap();
    store.set_component_override("clouds/bari", MajorOutage, "power cut", "root@i", 8_100).await.unwrap();
    store.set_component_override("paas/store", Operational, "done early", "ops@i", 8_200).await.unwrap();
    let overrides = store.component_overrides().await.unwrap();
    assert_eq!(overrides.len(), 2);
    assert_eq!(
        overrides[1],
        ComponentOverride {
            component: "paas/store".into(),
            state: Operational,
            note: "done early".into(),
            set_by: "ops@i".into(),
            set_at: 8_200,
        }
    );
    assert!(store.clear_component_override("clouds/bari").await.unwrap());
    assert!(!store.clear_component_override("clouds/bari").await.unwrap());
    assert_eq!(store.component_overrides().await.unwrap().len(), 1);

    raw_execute(options, "UPDATE component_states SET state = 'on_fire' WHERE component = 'paas/store' AND at = 7000")
        .await;
    let (what, detail) = corrupt(store.current_component_states().await);
    assert_eq!(what, "component_states.state");
    assert!(detail.contains("\"on_fire\"") && detail.contains("operational, degraded_performance"), "{detail}");
    raw_execute(options, "UPDATE component_overrides SET state = 'fine' WHERE component = 'paas/store'").await;
    let (what, detail) = corrupt(store.component_overrides().await);
    assert_eq!(what, "component_overrides.state");
    assert!(detail.contains("\"fine\""), "{detail}");
    // Above the store, an internal error whose logged cause names them.
    let error = nuvola_types::Error::from(store.component_overrides().await.unwrap_err());
    assert_eq!(error.http_status(), 500);
    let cause = error.cause().unwrap();
    assert!(cause.contains("component_overrides.state") && cause.contains("\"fine\""), "{cause}");
    raw_execute(options, "UPDATE component_states SET state = 'degraded_performance' WHERE component = 'paas/store'")
        .await;
    raw_execute(options, "DELETE FROM component_overrides").await;
    assert_eq!(store.current_component_states().await.unwrap().len(), 2, "mended");
}

/// Incidents: opened with their first update and components, updated
/// (resolved, reopened, components and impact replaced; resolving twice
/// refused, changing nothing), listed newest first with a
/// cursor over many, counted; an unknown id is not found; a bad stored
/// word is a corrupt row naming its column.
async fn incidents_suite(store: &Store, options: &StoreOptions) {
    use nuvola_store::{IncidentFilter, IncidentPost, NewIncident};
    use nuvola_types::ComponentState::{MajorOutage, PartialOutage};
    use nuvola_types::{Impact, IncidentStatus};
    let opened = store
        .create_incident(&NewIncident {
            id: "inc-bari".into(),
            title: "Bari unreachable".into(),
            impact: Impact::Major,
            status: IncidentStatus::Investigating,
            body: "We are looking into it.".into(),
            by: "ops@i".into(),
            at: 1_000,
            components: vec![("clouds/bari".into(), MajorOutage), ("paas/orchestrator".into(), PartialOutage)],
        })
        .await
        .unwrap();
    assert_eq!(
        (opened.status, opened.created_at, opened.updated_at, opened.resolved_at),
        (IncidentStatus::Investigating, 1_000, 1_000, None)
    );
    assert_eq!(opened.updates.len(), 1);
    assert_eq!((opened.updates[0].body.as_str(), opened.updates[0].by.as_str()), ("We are looking into it.", "ops@i"));
    assert_eq!(
        opened.components.iter().map(|c| c.component.as_str()).collect::<Vec<_>>(),
        ["clouds/bari", "paas/orchestrator"]
    );
    assert_eq!(store.incident("inc-bari").await.unwrap(), Some(opened.clone()));

    fn post<'a>(status: IncidentStatus, body: &'a str, by: &'a str, at: i64) -> IncidentPost<'a> {
        IncidentPost { status, body, by, at, components: None, impact: None }
    }
    let identified = store
        .update_incident("inc-bari", &post(IncidentStatus::Identified, "A router.", "ops@i", 2_000))
        .await
        .unwrap();
    assert_eq!(
        (identified.status, identified.updated_at, identified.components.len()),
        (IncidentStatus::Identified, 2_000, 2)
    );
    let only_bari = [("clouds/bari".to_string(), PartialOutage)];
    let resolved = store
        .update_incident(
            "inc-bari",
            &IncidentPost {
                components: Some(&only_bari),
                impact: Some(Impact::Minor),
                ..post(IncidentStatus::Resolved, "Fixed.", "root@i", 3_000)
            },
        )
        .await
        .unwrap();
    assert_eq!((resolved.status, resolved.resolved_at), (IncidentStatus::Resolved, Some(3_000)));
    assert_eq!(resolved.impact, Impact::Minor, "the update changed the impact");
    assert_eq!(resolved.updates.iter().map(|u| u.at).collect::<Vec<_>>(), [3_000, 2_000, 1_000], "newest first");
    assert_eq!(resolved.components.len(), 1);
    assert_eq!(resolved.components[0].state, PartialOutage);
    // Resolving it again is refused and changes nothing: its subscribers
    // would be told twice.
    let twice = store.update_incident("inc-bari", &post(IncidentStatus::Resolved, "Again.", "ops@i", 3_500)).await;
    assert!(matches!(twice, Err(StoreError::Refused { what: "incident", .. })), "{twice:?}");
    assert!(matches!(nuvola_types::Error::from(twice.unwrap_err()), nuvola_types::Error::Conflict(_)));
    assert_eq!(store.incident("inc-bari").await.unwrap(), Some(resolved.clone()));
    // Reopened, it is no longer resolved.
    let reopened = store
        .update_incident("inc-bari", &post(IncidentStatus::Monitoring, "Flapping.", "ops@i", 4_000))
        .await
        .unwrap();
    assert_eq!((reopened.resolved_at, reopened.impact), (None, Impact::Minor));
    let again =
        store.update_incident("inc-bari", &post(IncidentStatus::Resolved, "Stable.", "ops@i", 5_000)).await.unwrap();
    assert_eq!(again.resolved_at, Some(5_000));

    let unknown = store.update_incident("inc-none", &post(IncidentStatus::Resolved, "?", "ops@i", 5_000)).await;
    assert!(matches!(unknown, Err(StoreError::NotFound { what: "incident", .. })), "{unknown:?}");
    assert!(matches!(nuvola_types::Error::from(unknown.unwrap_err()), nuvola_types::Error::NotFound(_)));
    assert!(store.incident("inc-none").await.unwrap().is_none());

    // 1,200 more, two a millisecond (ties broken by id), every third open.
    for i in 0..1_200 {
        let status = if i % 3 == 0 { IncidentStatus::Investigating } else { IncidentStatus::Resolved };
        let new = NewIncident {
            id: format!("inc-{i:05}"),
            title: format!("incident {i}"),
            impact: Impact::Minor,
            status,
            body: format!("opened {i}"),
            by: "bot".into(),
            at: 10_000 + i / 2,
            components: vec![(format!("clouds/site-{}", i % 7), PartialOutage)],
        };
        store.create_incident(&new).await.unwrap();
    }
    let all = IncidentFilter { limit: 500, ..Default::default() };
    assert_eq!(store.count_incidents(&all).await.unwrap(), 1_201);
    let open = IncidentFilter { unresolved_only: true, limit: 50, ..Default::default() };
    assert_eq!(store.count_incidents(&open).await.unwrap(), 400);
    // Paged by cursor, newest first, every one once, with its update.
    let mut seen = Vec::new();
    let mut filter = IncidentFilter { limit: 70, since: Some(10_000), ..Default::default() };
    loop {
        let page = store.incidents(&filter).await.unwrap();
        let Some(last) = page.last() else { break };
        filter.before = Some((last.created_at, last.id.clone()));
        assert!(page.iter().all(|i| i.updates.len() == 1 && i.components.len() == 1));
        seen.extend(page.into_iter().map(|i| (i.created_at, i.id)));
    }
    let mut expected = seen.clone();
    expected.sort_by(|a, b| b.cmp(a));
    expected.dedup();
    assert_eq!((seen.len(), &seen), (1_200, &expected));
    assert_eq!(seen[0].1, "inc-01199");
    let first = store.incidents(&open).await.unwrap();
    assert_eq!(first.len(), 50);
    assert!(first.iter().all(|i| i.resolved_at.is_none() && i.status == IncidentStatus::Investigating));
    assert_eq!(first[0].updates[0].body, "opened 1197");
    assert_eq!(store.count_incidents(&IncidentFilter { since: Some(10_590), ..Default::default() }).await.unwrap(), 20);

    raw_execute(options, "UPDATE incidents SET impact = 'apocalyptic' WHERE id = 'inc-bari'").await;
    let (what, detail) = corrupt(store.incident("inc-bari").await);
    assert_eq!(what, "incidents.impact");
    assert!(detail.contains("\"apocalyptic\"") && detail.contains("none, minor, major, critical"), "{detail}");
    raw_execute(options, "UPDATE incidents SET impact = 'major' WHERE id = 'inc-bari'").await;
}

/// Subscriptions: added unconfirmed, confirmed once by their token's hash
/// (again changes nothing; unknown or expired is not found), followed per
/// component, removed by the unsubscribe hash, purged when never
/// confirmed; a webhook's key is sealed at rest with a secrets key.
async fn subscriptions_suite(store: &Store) {
    use nuvola_store::NewSubscription;
    use nuvola_types::status::SubscriptionKind;
    let new = |kind, address: &str, components: &[&str], at| NewSubscription {
        kind,
        address: address.into(),
        components: components.iter().map(|c| c.to_string()).collect(),
        secret: (kind == SubscriptionKind::Webhook).then(|| format!("key-of-{address}")),
        confirm_hash: format!("confirm-{address}"),
        unsubscribe_hash: format!("unsub-{address}"),
        created_at: at,
    };
    let all = store.add_subscription(&new(SubscriptionKind::Email, "all@example.org", &[], 1_000)).await.unwrap();
    let bari = store
        .add_subscription(&new(SubscriptionKind::Webhook, "https://hooks.example/bari", &["clouds/bari"], 1_000))
        .await
        .unwrap();
    store.add_subscription(&new(SubscriptionKind::Email, "late@example.org", &[], 500)).await.unwrap();
    assert!(bari > all);
    assert!(store.subscribers_for("clouds/bari").await.unwrap().is_empty(), "nobody confirmed yet");

    let confirmed = store.confirm_subscription("confirm-all@example.org", 2_000, 900).await.unwrap();
    assert_eq!((confirmed.id, confirmed.confirmed_at), (all, Some(2_000)));
    let again = store.confirm_subscription("confirm-all@example.org", 3_000, 2_500).await.unwrap();
    assert_eq!(again.confirmed_at, Some(2_000), "confirming again changes nothing, even past the token's age");
    let hook = store.confirm_subscription("confirm-https://hooks.example/bari", 2_000, 900).await.unwrap();
    assert_eq!(hook.secret.as_deref(), Some("key-of-https://hooks.example/bari"));
    assert_eq!(hook.components, ["clouds/bari"]);
    let expired = store.confirm_subscription("confirm-late@example.org", 2_000, 900).await;
    assert!(matches!(expired, Err(StoreError::NotFound { .. })), "{expired:?}");
    assert!(matches!(store.confirm_subscription("confirm-nobody", 2_000, 0).await, Err(StoreError::NotFound { .. })));

    let ids = |subs: Vec<nuvola_store::Subscription>| subs.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(store.subscribers_for("clouds/bari").await.unwrap()), [all, bari]);
    assert_eq!(ids(store.subscribers_for("paas/store").await.unwrap()), [all]);
    assert_eq!(store.subscriptions().await.unwrap().len(), 3);
    assert_eq!(store.purge_unconfirmed_subscriptions(900).await.unwrap(), 1);
    assert_eq!(store.subscriptions().await.unwrap().len(), 2);
    assert!(store.remove_subscription("unsub-all@example.org").await.unwrap());
    assert!(!store.remove_subscription("unsub-all@example.org").await.unwrap());
    assert_eq!(ids(store.subscribers_for("paas/store").await.unwrap()), Vec::<i64>::new());
}

/// Bulletins: one per period, the first kept wins; read back by id and
/// newest first.
async fn bulletins_suite(store: &Store) {
    use nuvola_store::KeptBulletin;
    let week = |id: &str, start: i64, text: &str| KeptBulletin {
        id: id.into(),
        period_start: start,
        period_end: start + 7 * 86_400_000,
        created_at: start + 7 * 86_400_000 + 60_000,
        body: serde_json::json!({"said": text}),
    };
    assert!(store.keep_bulletin(&week("2026-W48", 1_000, "first")).await.unwrap());
    assert!(!store.keep_bulletin(&week("2026-W48", 1_000, "second")).await.unwrap(), "another replica's");
    assert!(store.keep_bulletin(&week("2026-W49", 2_000, "next")).await.unwrap());
    assert_eq!(store.bulletin("2026-W48").await.unwrap().unwrap().body["said"], "first");
    assert!(store.bulletin("2026-W01").await.unwrap().is_none());
    let ids: Vec<String> = store.bulletins(10).await.unwrap().into_iter().map(|b| b.id).collect();
    assert_eq!(ids, ["2026-W49", "2026-W48"]);
}

/// The alert engine's state kept, and the log of notifications sent.
async fn alerts_suite(store: &Store) {
    use nuvola_store::SentNotification;
    assert!(store.alert_engine_state().await.unwrap().is_none());
    let state = serde_json::json!({"trackers": {"clouds/bari": [1, 2]}});
    store.save_alert_engine_state(&state, 10).await.unwrap();
    store.save_alert_engine_state(&serde_json::json!({"round": 2}), 20).await.unwrap();
    assert_eq!(store.alert_engine_state().await.unwrap(), Some((serde_json::json!({"round": 2}), 20)));

    for (at, about) in [(1, "probe_down/clouds/bari"), (2, "inc-bari"), (3, "probe_down/clouds/bari")] {
        let n = SentNotification {
            at,
            channel: "email".into(),
            recipient: "ops@example.org".into(),
            subject: format!("about {about}"),
            about: about.into(),
            outcome: "sent".into(),
            ..Default::default()
        };
        store.record_notification(&n).await.unwrap();
    }
    let about = store.notifications(Some("probe_down/clouds/bari"), 10).await.unwrap();
    assert_eq!(about.iter().map(|n| n.at).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(store.notifications(None, 2).await.unwrap().iter().map(|n| n.at).collect::<Vec<_>>(), [3, 2]);
}

/// Users' endpoints: a check upserted says whether it was up before, an
/// event is appended when it is new or changes, `since` moves only then;
/// the owner is told unless they opted out; rows go with the deployment.
async fn endpoints_suite(store: &Store, options: &StoreOptions) {
    use nuvola_store::EndpointCheck;
    store.insert_deployment(&record("ep-1", "alice", "physics", 1_000), &Progress::default()).await.unwrap();
    let check = |up: bool, at: i64| EndpointCheck {
        deployment_id: "ep-1".into(),
        output: "jupyter_url".into(),
        url: "https://ep-1.example".into(),
        up,
        since: 0,
        last_at: at,
        latency_ms: 12,
        detail: if up { "HTTP 200".into() } else { "connection refused".into() },
        cert_expires_at: Some(99_000),
    };
    assert_eq!(store.record_endpoint_check(&check(true, 1_000)).await.unwrap(), None);
    assert_eq!(store.record_endpoint_check(&check(true, 2_000)).await.unwrap(), Some(true));
    assert_eq!(store.record_endpoint_check(&check(false, 3_000)).await.unwrap(), Some(true));
    assert_eq!(store.record_endpoint_check(&check(false, 4_000)).await.unwrap(), Some(false));
    let checks = store.endpoint_checks("ep-1").await.unwrap();
    assert_eq!((checks.len(), checks[0].up, checks[0].since, checks[0].last_at), (1, false, 3_000, 4_000));
    assert_eq!(checks[0].cert_expires_at, Some(99_000));
    let events = store.endpoint_events("ep-1", 50).await.unwrap();
    assert_eq!(events.iter().map(|e| (e.at, e.up)).collect::<Vec<_>>(), [(3_000, false), (1_000, true)]);
    assert_eq!(store.endpoint_events("ep-1", 1).await.unwrap().len(), 1);

    assert!(store.endpoint_notify("ep-1").await.unwrap(), "told unless opted out");
    store.set_endpoint_notify("ep-1", false).await.unwrap();
    assert!(!store.endpoint_notify("ep-1").await.unwrap());
    store.set_endpoint_notify("ep-1", true).await.unwrap();
    assert!(store.endpoint_notify("ep-1").await.unwrap());
    store.set_endpoint_notify("ep-1", false).await.unwrap();

    // The store keeps deleted deployments' rows; when one is removed (by
    // hand, or a future purge), its endpoints' rows go with it.
    raw_execute(options, "DELETE FROM deployments WHERE id = 'ep-1'").await;
    assert!(store.endpoint_checks("ep-1").await.unwrap().is_empty());
    assert!(store.endpoint_events("ep-1", 50).await.unwrap().is_empty());
    assert!(store.endpoint_notify("ep-1").await.unwrap(), "the opt-out went with it");

    // What the prober reads: ready deployments only, by id, with their
    // outputs, owner's address and opt-out, and none of their template.
    let outputs = |url: &str| serde_json::json!({"web": url}).as_object().unwrap().clone();
    for (id, status, email) in [
        ("ep-3", DeploymentStatus::UpdateComplete, None),
        ("ep-2", DeploymentStatus::CreateComplete, Some("erin@example.org")),
        ("ep-4", DeploymentStatus::CreateInProgress, None),
        ("ep-5", DeploymentStatus::DeleteComplete, None),
    ] {
        let d = DeploymentRecord {
            status,
            owner_email: email.map(String::from),
            outputs: outputs(&format!("https://{id}.example")),
            description: Some(format!("the {id}")),
            ..record(id, "erin", "physics", 5_000)
        };
        store.insert_deployment(&d, &Progress::default()).await.unwrap();
    }
    store.set_endpoint_notify("ep-3", false).await.unwrap();
    let mut watched = store.watched_deployments().await.unwrap();
    // Others of the suite's deployments are ready too: these are ours.
    watched.retain(|w| w.id.starts_with("ep-"));
    let seen: Vec<_> = watched.iter().map(|w| (w.id.as_str(), w.owner_email.as_deref(), w.notify)).collect();
    assert_eq!(seen, [("ep-2", Some("erin@example.org"), true), ("ep-3", None, false)]);
    assert_eq!(watched[0].outputs, outputs("https://ep-2.example"));
    assert_eq!(watched[0].description.as_deref(), Some("the ep-2"));

    // A round's checks in one transaction, each saying what it was before.
    let at = |id: &str, up: bool, when: i64| EndpointCheck {
        deployment_id: id.into(),
        last_at: when,
        url: format!("https://{id}.example"),
        output: "web".into(),
        ..check(up, when)
    };
    let first = store.record_endpoint_checks(&[at("ep-2", true, 10), at("ep-3", false, 10)]).await.unwrap();
    assert_eq!(first, [None, None]);
    let second = store.record_endpoint_checks(&[at("ep-2", false, 20), at("ep-3", false, 20)]).await.unwrap();
    assert_eq!(second, [Some(true), Some(false)]);
    let all = store.all_endpoint_checks().await.unwrap();
    let states: Vec<_> = all.iter().map(|c| (c.deployment_id.as_str(), c.up, c.since, c.last_at)).collect();
    assert_eq!(states, [("ep-2", false, 20, 20), ("ep-3", false, 10, 20)]);
    assert_eq!(store.endpoint_events("ep-2", 10).await.unwrap().len(), 2);
}

/// A webhook's signing key is sealed at rest with a secrets key, opened
/// with it, and read as none elsewhere, saying why.
async fn webhook_keys_suite(options: &StoreOptions, sealed: &Store, keyless: &Store, other: &Store) {
    use sqlx::{Connection, Row};
    let new = nuvola_store::NewSubscription {
        kind: nuvola_types::status::SubscriptionKind::Webhook,
        address: "https://hooks.example/all".into(),
        components: vec![],
        secret: Some("whsec-0123456789".into()),
        confirm_hash: "c-hook".into(),
        unsubscribe_hash: "u-hook".into(),
        created_at: 1,
    };
    let id = sealed.add_subscription(&new).await.unwrap();
    let mut raw = sqlx::AnyConnection::connect(&options.url).await.unwrap();
    if let Some(schema) = &options.schema {
        sqlx::query(&format!("SET search_path TO {schema}")).execute(&mut raw).await.unwrap();
    }
    let row = sqlx::query("SELECT secret FROM subscriptions WHERE id = $1").bind(id).fetch_one(&mut raw).await.unwrap();
    let column: String = row.try_get("secret").unwrap();
    raw.close().await.unwrap();
    assert!(column.contains("sealed") && !column.contains("whsec"), "{column}");
    let read = sealed.subscriptions().await.unwrap().into_iter().find(|s| s.id == id).unwrap();
    assert_eq!((read.secret.as_deref(), read.secret_unreadable), (Some("whsec-0123456789"), None));
    for (store, why) in [(keyless, "no secrets key"), (other, "another secrets key")] {
        let read = store.subscriptions().await.unwrap().into_iter().find(|s| s.id == id).unwrap();
        assert_eq!(read.secret, None);
        assert!(read.secret_unreadable.as_deref().unwrap().contains(why), "{:?}", read.secret_unreadable);
    }
}

fn canary(id: &str, provider: &str, slot: i64, started_at: i64) -> nuvola_store::CanaryRun {
    nuvola_store::CanaryRun::begun(id, provider, slot, "small", "ubuntu", started_at, started_at + 60_000)
}

/// Canary runs: one per provider and slot, whoever claims it; a run read
/// back whole; leftovers are the runs not gone that ended or whose lease
/// ran out, taken over by one caller at a time; each provider's latest
/// verdict skips runs cut off; runs not gone are never pruned.
async fn canaries_suite(store: &Store) {
    let hour = 3_600_000;
    let t0 = 1_800_000_000_000;
    let first = canary("c-1", "bari", 500_000, t0);
    assert!(store.claim_canary_run(&first).await.unwrap());
    assert!(!store.claim_canary_run(&canary("c-1b", "bari", 500_000, t0 + 5)).await.unwrap(), "the slot is taken");
    assert!(store.claim_canary_run(&canary("c-2", "cnaf", 500_000, t0)).await.unwrap(), "another provider's slot");
    assert!(store.canary_leftovers(t0 + 1_000).await.unwrap().is_empty(), "both run, under their leases");

    // c-1 ends well; c-2 could not delete its VM.
    let mut ok = first.clone();
    (ok.create_ms, ok.ready_ms, ok.delete_ms) = (Some(400), Some(2_500), Some(1_100));
    (ok.finished_at, ok.ok, ok.gone, ok.lease_until) = (Some(t0 + 4_000), Some(true), true, t0 + 4_000);
    store.save_canary_run(&ok).await.unwrap();
    let mut stuck = canary("c-2", "cnaf", 500_000, t0);
    stuck.create_ms = Some(300);
    stuck.ready_ms = Some(1_000);
    (stuck.finished_at, stuck.ok, stuck.lease_until) = (Some(t0 + 600_000), Some(false), t0 + 600_000);
    stuck.failed_phase = Some(nuvola_types::CanaryPhase::Delete);
    (stuck.error, stuck.cause) = (Some("not gone within 600 s".into()), Some("HTTP 500 from 10.0.0.5".into()));
    store.save_canary_run(&stuck).await.unwrap();
    assert_eq!(store.canary_runs_by_id(&["c-1".into(), "nope".into()]).await.unwrap(), [ok.clone()]);

    // A run cut off in the next slot: a leftover once its lease ran out.
    let cut = canary("c-3", "bari", 500_001, t0 + hour);
    assert!(store.claim_canary_run(&cut).await.unwrap());
    let ids = |runs: Vec<nuvola_store::CanaryRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(store.canary_leftovers(t0 + hour + 1_000).await.unwrap()), ["c-2"]);
    assert_eq!(ids(store.canary_leftovers(t0 + hour + 60_000).await.unwrap()), ["c-2", "c-3"]);
    let later = t0 + hour + 60_000;
    assert!(store.take_canary_leftover("c-3", later, later + 90_000).await.unwrap());
    assert!(!store.take_canary_leftover("c-3", later, later + 90_000).await.unwrap(), "held by the first taker");
    assert!(!store.take_canary_leftover("c-1", later, later + 90_000).await.unwrap(), "gone: nothing to take");

    // The latest verdicts: c-3 was cut off, so bari's is still c-1's.
    let verdicts = store.latest_canary_verdicts().await.unwrap();
    assert_eq!(
        verdicts.iter().map(|r| (r.provider.as_str(), r.id.as_str())).collect::<Vec<_>>(),
        [("bari", "c-1"), ("cnaf", "c-2")]
    );
    assert_eq!(verdicts[1], stuck, "read back whole, phase, error and cause apart");
    assert_eq!(ids(store.canary_runs_since(t0).await.unwrap()), ["c-3", "c-1", "c-2"]);

    // Pruning forgets only runs whose VM is gone.
    assert_eq!(store.prune_canary_runs(t0 + 2 * hour).await.unwrap(), 1);
    assert_eq!(ids(store.canary_runs_since(0).await.unwrap()), ["c-3", "c-2"]);
}

async fn futures_join(store: &Store, claimers: usize) -> Vec<Vec<String>> {
    let mut handles = Vec::new();
    for w in 0..claimers {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_due(&format!("c{w}"), 1_000_000, 600_000, 3).await.unwrap();
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|d| d.id));
            }
            mine
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_suite_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(url.clone())).await.unwrap();
    suite(&store).await;
    registry_suite(&store).await;
    access_suite(&store).await;
    stats_suite(&store).await;
    words_suite(&store, &StoreOptions::new(url.clone())).await;
    probes_suite(&store).await;
    components_suite(&store, &StoreOptions::new(url.clone())).await;
    incidents_suite(&store, &StoreOptions::new(url.clone())).await;
    subscriptions_suite(&store).await;
    alerts_suite(&store).await;
    bulletins_suite(&store).await;
    endpoints_suite(&store, &StoreOptions::new(url.clone())).await;
    canaries_suite(&store).await;
    store.close().await;
    // Reopening migrates nothing twice and keeps the data.
    let store = Store::open(StoreOptions::new(url)).await.unwrap();
    assert!(store.deployment("dep-a").await.unwrap().is_some());
    let sealed = format!("sqlite://{}", dir.path().join("sealed.sqlite").display());
    sealed_suite(StoreOptions::new(sealed)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_suite_on_postgres() {
    let Ok(url) = std::env::var("NUVOLA_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("NUVOLA_TEST_POSTGRES_URL is not set under CI: .ci/services.sh should have started PostgreSQL");
        }
        eprintln!("skipping: NUVOLA_TEST_POSTGRES_URL not set (run ./test.sh to start PostgreSQL)");
        return;
    };
    let schema = format!("suite_{}", uuid::Uuid::new_v4().simple());
    let options = StoreOptions { schema: Some(schema.clone()), ..StoreOptions::new(url.clone()) };
    let store = Store::open(options.clone()).await.unwrap();
    suite(&store).await;
    registry_suite(&store).await;
    access_suite(&store).await;
    stats_suite(&store).await;
    words_suite(&store, &options).await;
    probes_suite(&store).await;
    components_suite(&store, &options).await;
    incidents_suite(&store, &options).await;
    subscriptions_suite(&store).await;
    alerts_suite(&store).await;
    bulletins_suite(&store).await;
    endpoints_suite(&store, &options).await;
    canaries_suite(&store).await;
    store.close().await;
    let store = Store::open(options).await.unwrap();
    assert!(store.deployment("dep-a").await.unwrap().is_some());
    store.drop_schema(&schema).await.unwrap();
    let sealed = format!("sealed_{}", uuid::Uuid::new_v4().simple());
    sealed_suite(StoreOptions { schema: Some(sealed.clone()), ..StoreOptions::new(url.clone()) }).await;
    Store::open(StoreOptions { schema: Some(sealed.clone()), ..StoreOptions::new(url) })
        .await
        .unwrap()
        .drop_schema(&sealed)
        .await
        .unwrap();
}

/// One row that cannot be read (damaged by hand or by a bug) is skipped by
/// listings and by the workers' claims: the others still come.
#[tokio::test]
async fn a_damaged_row_is_skipped_not_fatal() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(url.clone())).await.unwrap();
    for (id, at) in [("good-1", 1_000), ("bad", 1_500), ("good-2", 2_000)] {
        store.insert_deployment(&record(id, "alice", "physics", at), &Progress::default()).await.unwrap();
    }
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE deployments SET plan = 'not json' WHERE id = 'bad'").execute(&mut raw).await.unwrap();
    raw.close().await.unwrap();

    let (listed, _) = store.list_deployments(&DeploymentFilter::default(), 0, 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["good-2", "good-1"]);
    let claimed = store.claim_due("w", 10_000, 1_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2, "the batch goes on without the damaged row");
    assert!(store.deployment("bad").await.is_err(), "read alone, it says what is wrong");
    store.close().await;
}

/// Publishing a policy while other connections write (the workers saving
/// deployments) failed on SQLite with "database is locked": its read of
/// the last version could not become a write. It is one statement now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_is_published_while_deployments_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nuvola.sqlite").display());
    let store = Store::open(StoreOptions::new(url)).await.unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                let d = record(&format!("busy-{i}"), "alice", "physics", i);
                store.insert_deployment(&d, &Progress::default()).await.unwrap();
            }
        })
    };
    for version in 1..=60 {
        let published = store.publish_policy(&format!("Terms {version}."), "root@i", version).await.unwrap();
        assert_eq!(published.version, version);
    }
    writer.await.unwrap();
    store.close().await;
}
