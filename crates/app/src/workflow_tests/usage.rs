//! Usage from what nuvola runs, on the demo federation (`config/demo.toml`)
//! and the simulator's clock: a node with two T4 GPUs (on the private
//! network) and a plain VM with a volume and a public IP are deployed for `physics`, time passes, the
//! plain one is deleted, and the records gathered say what each held and
//! for how long.

use std::time::Duration;

use nuvola_accounting::{Decimal3, month_start, year_month};
use nuvola_types::{DeploymentStatus, ProviderSpec};

use super::harness::{Db, Harness};

/// A node with two T4 GPUs: only backbone-bari's `g2.t4.xlarge` fits.
const GPU_TEMPLATE: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0

imports:
  - indigo_custom_types: https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml

topology_template:
  node_templates:
    trainer:
      type: tosca.nodes.indigo.Compute
      capabilities:
        host:
          properties:
            num_cpus: 8
            mem_size: 16 GB
            num_gpus: 2
            gpu_model: T4
        os:
          properties:
            type: linux
            distribution: ubuntu
            version: "22.04"
"#;

/// A plain VM (an `m1.medium` wherever it lands) with a public IP and a
/// 50 GiB SSD volume.
const VM_TEMPLATE: &str = r#"tosca_definitions_version: tosca_simple_yaml_1_0

imports:
  - indigo_custom_types: https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml

topology_template:
  node_templates:
    vm:
      type: tosca.nodes.indigo.Compute
      capabilities:
        endpoint:
          properties:
            network_name: PUBLIC
        host:
          properties:
            num_cpus: 2
            mem_size: 4 GB
        os:
          properties:
            type: linux
            distribution: ubuntu
            version: "22.04"
      requirements:
        - local_storage:
            node: data
            relationship:
              type: tosca.relationships.AttachesTo
              properties:
                location: /data

    data:
      type: tosca.nodes.indigo.BlockStorage
      properties:
        size: 50 GiB
        type: ssd
"#;

/// The demo federation's providers, as `nuvola serve` reads them.
fn demo_providers() -> Vec<ProviderSpec> {
    #[derive(serde::Deserialize)]
    struct Demo {
        providers: Vec<ProviderSpec>,
    }
    let demo: Demo = toml::from_str(include_str!("../../../../config/demo.toml")).expect("the demo configuration");
    demo.providers
}

const HOUR: i64 = 3600;

#[tokio::test]
async fn what_nuvola_ran_is_accounted_on_sqlite() {
    what_nuvola_ran_is_accounted_per_vm_with_its_gpus_volumes_and_ips(Db::Sqlite).await;
}

#[tokio::test]
async fn what_nuvola_ran_is_accounted_on_postgres() {
    what_nuvola_ran_is_accounted_per_vm_with_its_gpus_volumes_and_ips(Db::Postgres).await;
}

async fn what_nuvola_ran_is_accounted_per_vm_with_its_gpus_volumes_and_ips(db: Db) {
    let providers = demo_providers();
    let names: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
    // None (the reason printed) when PostgreSQL is not configured here.
    let Some(mut h) = Harness::open_on(db, providers).await else { return };
    for name in &names {
        h.site(name).set_failure_probability(0.0).expect("a probability");
    }
    // Start a day into the next month, so that the hours below stay in one.
    let (year, month) = year_month(h.now() / 1000);
    let next = if month == 12 { month_start(year + 1, 1) } else { month_start(year, month + 1) };
    h.advance(Duration::from_millis((next + 24 * HOUR) as u64 * 1000 - h.now() as u64));

    let gpu = h.submit_template(GPU_TEMPLATE).await;
    super::steps(&mut h, &gpu, None, &mut 0, None, &mut Vec::new()).await;
    let vm = h.submit_template(VM_TEMPLATE).await;
    super::steps(&mut h, &vm, None, &mut 0, None, &mut Vec::new()).await;
    for id in [&gpu, &vm] {
        assert_eq!(h.row(id).await.status, DeploymentStatus::CreateComplete, "{id}");
    }
    h.advance(Duration::from_secs(3 * HOUR as u64));
    h.delete(&vm).await;
    super::steps(&mut h, &vm, None, &mut 0, None, &mut Vec::new()).await;
    assert_eq!(h.row(&vm).await.status, DeploymentStatus::DeleteComplete);
    h.advance(Duration::from_secs(HOUR as u64));

    let store = h.app.store();
    let [gpu_attempt] = store.attempts(&gpu).await.expect("attempts").try_into().expect("one attempt");
    let [vm_attempt] = store.attempts(&vm).await.expect("attempts").try_into().expect("one attempt");
    let (now, from) = (h.now(), next * 1000);
    let providers = h.app.federation().providers();
    let records = h.app.accounting().usage_records(&providers, from, now + 1).await.expect("records gathered");
    let seconds = |ms: i64| ms.div_euclid(1000);

    // The GPU node, still running: measured now, from its attempt's start.
    assert_eq!(records.cloud.len(), 2, "{:#?}", records.cloud);
    let trainer = records.cloud.iter().find(|r| r.vm_uuid == format!("{}:trainer:0", gpu_attempt.attempt_id));
    let trainer = trainer.expect("the GPU node's record");
    let wall = seconds(now) - seconds(gpu_attempt.started_at);
    assert!(wall > 4 * HOUR, "{wall}");
    assert_eq!(trainer.site_name, "backbone-bari");
    assert_eq!(trainer.status.as_deref(), Some("started"));
    assert_eq!((trainer.wall_duration, trainer.cpu_duration), (Some(wall), Some(16 * wall)));
    assert_eq!(trainer.cpu_count, Decimal3::from_int(16).expect("16"));
    assert_eq!((trainer.memory, trainer.disk), (Some(65536), Some(160)));
    assert_eq!(trainer.record_create_time, Some(seconds(now)));
    assert_eq!(trainer.global_user_name.as_deref(), Some("alice@nuvola"));
    assert_eq!(trainer.fqan.as_deref(), Some("/physics/Role=NULL/Capability=NULL"));
    assert_eq!(trainer.image_id.as_deref(), Some("ubuntu-22.04-cuda-12.2"));
    let [gpus] = records.accelerators.as_slice() else { panic!("one GPU record: {:#?}", records.accelerators) };
    assert_eq!(
        (gpus.count, gpus.model.as_deref(), gpus.accelerator_type.as_str()),
        (Decimal3::from_int(2).expect("2"), Some("T4"), "GPU")
    );
    assert_eq!((gpus.associated_record.as_str(), gpus.available_duration), (trainer.vm_uuid.as_ref(), wall));

    // The plain VM: completed when its delete was done.
    let plain = records.cloud.iter().find(|r| r.vm_uuid == format!("{}:vm:0", vm_attempt.attempt_id));
    let plain = plain.expect("the plain VM's record");
    let ended = seconds(vm_attempt.ended_at.expect("the deleted attempt's end"));
    let held = ended - seconds(vm_attempt.started_at);
    assert!((3 * HOUR..4 * HOUR).contains(&held), "{held}");
    assert_eq!(plain.status.as_deref(), Some("completed"));
    assert_eq!((plain.end_time, plain.wall_duration, plain.cpu_duration), (Some(ended), Some(held), Some(2 * held)));
    assert_eq!((plain.cpu_count, plain.memory, plain.disk), (Decimal3::from_int(2).expect("2"), Some(4096), Some(20)));
    assert_eq!(plain.public_ip_count, Some(1));
    let [volume] = records.storage.as_slice() else { panic!("one volume record: {:#?}", records.storage) };
    assert_eq!(volume.resource_capacity_used, 50 << 30);
    assert_eq!(volume.storage_class.as_deref(), Some("ssd"));
    assert_eq!((volume.start_time, volume.end_time), (seconds(vm_attempt.started_at), ended));
    assert_eq!(volume.site.as_deref(), Some(vm_attempt.provider.as_str()));

    // The plain VM's public IP, on its site; the GPU node, with no
    // endpoint, sits on the private network.
    assert_eq!(trainer.public_ip_count, Some(0));
    let [ips] = records.public_ips.as_slice() else { panic!("one public IP record: {:#?}", records.public_ips) };
    assert_eq!(
        (ips.site_name.as_str(), ips.fqan.as_str(), ips.global_user_name.as_deref()),
        (vm_attempt.provider.as_str(), "/physics/Role=NULL/Capability=NULL", Some("alice@nuvola"))
    );
    // Measured at the last second of the day (of the run, today).
    let day_end = seconds(now).div_euclid(86_400) * 86_400 + 86_399;
    assert_eq!((ips.ip_count, ips.measurement_time), (1, day_end));

    // A period before anything ran gives nothing.
    let before = h.app.accounting().usage_records(&providers, from - 1000, from).await.expect("records gathered");
    assert!(before.cloud.is_empty(), "{:#?}", before.cloud);

    // Recorded as nuvola's own usage: stored and summarised; a second pass
    // at the same time changes nothing.
    let first = h.app.record_own_usage().await.expect("own usage recorded");
    assert_eq!((first.cloud.new, first.accelerators.new, first.storage.new), (2, 1, 1), "{first:?}");
    let again = h.app.record_own_usage().await.expect("own usage recorded again");
    assert_eq!((again.cloud.new, again.cloud.replaced, again.cloud.unchanged), (0, 0, 2), "{again:?}");
    let usage = h.app.store().accounting_usage(&Default::default(), nuvola_store::UsageBy::Group).await.expect("usage");
    let physics: Vec<_> = usage.iter().filter(|u| u.key.as_deref() == Some("physics")).collect();
    let t4: f64 = physics.iter().filter_map(|u| u.gpu_hours.get("T4")).sum();
    assert_eq!(t4, 2.0 * wall as f64 / 3600.0, "two T4s for the trainer's wall time: {physics:?}");
    let instances: i64 = physics.iter().map(|u| u.instances).sum();
    assert_eq!(instances, 2, "{physics:?}");
    h.close().await;
}
