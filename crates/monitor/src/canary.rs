//! The provider canary's pure parts: which VM is the smallest a provider
//! offers and in which project it runs, which slot of the schedule a time
//! falls in, when a site is not to be disturbed, how long a run's verdict
//! speaks for its provider, and how a run ([`CanaryRun`]) reads as the
//! provider's `canary` check. The runs themselves (driver calls, the
//! store) are `nuvola-watch`'s.

use nuvola_types::{CanaryPhase, CanaryRun, Flavor, ProviderSpec};

/// The name of the check a run gives its provider's component.
pub const PROBE: &str = "canary";

/// The smallest flavor on offer: fewest GPUs, then vCPUs, then RAM, then
/// disk (placement's order of what matters), the name breaking ties so
/// that the choice is the same on every replica.
pub fn smallest(flavors: &[Flavor]) -> Option<&Flavor> {
    flavors.iter().min_by(|a, b| {
        (a.gpus, a.vcpus, a.ram_mb, a.disk_gb, &a.name).cmp(&(b.gpus, b.vcpus, b.ram_mb, b.disk_gb, &b.name))
    })
}

/// What a canary of `spec` is made of: its smallest flavor and its
/// default image (the first it lists), or what it lacks, in words.
pub fn choice(spec: &ProviderSpec) -> Result<(&Flavor, &str), String> {
    let flavor = smallest(&spec.flavors)
        .ok_or_else(|| format!("provider {} lists no flavor to make a canary VM of", spec.name))?;
    let image = spec
        .images
        .first()
        .map(|i| i.name.as_str())
        .ok_or_else(|| format!("provider {} lists no image to boot a canary VM from", spec.name))?;
    Ok((flavor, image))
}

/// The project a canary of `spec` runs in: the first granted group's (its
/// own project, else the group's name, as deployments get), or none.
pub fn project(spec: &ProviderSpec) -> String {
    let first = spec.groups.iter().next();
    first.map(|(group, grant)| grant.project.clone().unwrap_or_else(|| group.clone())).unwrap_or_default()
}

/// Whether `spec` is in an outage window at `now` (ms): no canary is made
/// on a site its operators took down.
pub fn in_outage(spec: &ProviderSpec, now: i64) -> bool {
    spec.maintenance.iter().any(|w| {
        w.kind == nuvola_types::MaintenanceKind::Outage
            && w.start.timestamp_millis() <= now
            && now < w.end.timestamp_millis()
    })
}

/// The slot of the schedule `at` (ms) falls in, `interval_ms` long: one
/// run per provider and slot, whichever replica makes it.
pub fn slot(at: i64, interval_ms: i64) -> i64 {
    at.div_euclid(interval_ms.max(1))
}

/// Whether a run that started at `started_at` still speaks for its
/// provider at `now`: until two intervals and the longest a run may take
/// have passed, so one missed slot is not forgotten, while a canary turned
/// off stops counting.
pub fn fresh(started_at: i64, now: i64, interval_ms: i64, longest_run_ms: i64) -> bool {
    now - started_at <= 2 * interval_ms + longest_run_ms
}

/// The phases' times added up: the run as long as it was timed.
pub fn total_ms(run: &CanaryRun) -> i64 {
    run.phases().iter().filter_map(|(_, ms)| *ms).sum()
}

/// A finished run as its check reads: what it made and how long each
/// phase took, or the phase that failed and why (in words anyone may
/// read).
pub fn summary(run: &CanaryRun) -> String {
    match (run.failed_phase, &run.error) {
        (Some(phase), error) => {
            format!("{} failed: {}", phase_words(phase), error.as_deref().unwrap_or("no reason given"))
        }
        (None, _) => format!(
            "{}: accepted in {}, running {} later, gone {} after its delete",
            run.flavor,
            seconds(run.create_ms),
            seconds(run.ready_ms),
            seconds(run.delete_ms)
        ),
    }
}

/// What the check says of a provider holding `leftover`, a run's VM not
/// confirmed gone: the provider fails its canary until it is.
pub fn leftover_summary(leftover: &CanaryRun) -> String {
    let why = leftover.cleanup_error.as_deref().or(leftover.error.as_deref());
    let started = chrono::DateTime::from_timestamp_millis(leftover.started_at).unwrap_or_default();
    let started = started.format("%Y-%m-%d %H:%M UTC");
    match why {
        Some(why) => format!("the canary VM of {started} is not deleted yet: {why}"),
        None => format!("the canary VM of {started} is not deleted yet"),
    }
}

/// How a phase is named when it fails.
pub fn phase_words(phase: CanaryPhase) -> &'static str {
    match phase {
        CanaryPhase::Create => "create",
        CanaryPhase::Ready => "start",
        CanaryPhase::Delete => "delete",
    }
}

/// `ms` as seconds with one decimal (`2.5 s`), or `-` when not timed.
pub fn seconds(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor(name: &str, gpus: u32, vcpus: u32, ram_mb: u64, disk_gb: u64) -> Flavor {
        Flavor { name: name.into(), vcpus, ram_mb, disk_gb, gpus, gpu_vendor: None, gpu_model: None, infiniband: false }
    }

    fn run() -> CanaryRun {
        let (started, ended) = (1_800_000_000_000, 1_800_000_004_000);
        CanaryRun {
            create_ms: Some(400),
            ready_ms: Some(2_500),
            delete_ms: Some(1_100),
            finished_at: Some(ended),
            ok: Some(true),
            gone: true,
            ..CanaryRun::begun("c-1", "bari", 500_000, "m1.tiny", "cirros", started, ended)
        }
    }

    #[test]
    fn the_smallest_flavor_has_the_fewest_gpus_then_vcpus_then_ram_then_disk() {
        let offer = [
            flavor("gpu.small", 1, 1, 1024, 10),
            flavor("medium", 0, 2, 4096, 40),
            flavor("small", 0, 1, 2048, 20),
            flavor("small.lowdisk", 0, 1, 2048, 10),
            flavor("big-ram-one-cpu", 0, 1, 8192, 10),
        ];
        assert_eq!(smallest(&offer).map(|f| f.name.as_str()), Some("small.lowdisk"));
        assert_eq!(smallest(&offer[..2]).map(|f| f.name.as_str()), Some("medium"), "no GPU before fewer vCPUs");
        let twins = [flavor("b", 0, 1, 512, 1), flavor("a", 0, 1, 512, 1)];
        assert_eq!(smallest(&twins).map(|f| f.name.as_str()), Some("a"), "ties go by name");
        assert_eq!(smallest(&[]), None);
    }

    #[test]
    fn a_provider_without_flavors_or_images_says_what_it_lacks() {
        let mut spec: ProviderSpec = serde_json::from_value(serde_json::json!({
            "name": "bari", "driver": "sim", "endpoint": "https://bari.example",
            "groups": {"physics": {"sla_id": "s"}, "bio": {"sla_id": "t", "project": "bio-prj"}},
        }))
        .unwrap();
        assert_eq!(choice(&spec).unwrap_err(), "provider bari lists no flavor to make a canary VM of");
        spec.flavors = vec![flavor("small", 0, 1, 2048, 20)];
        assert_eq!(choice(&spec).unwrap_err(), "provider bari lists no image to boot a canary VM from");
        spec.images = serde_json::from_value(serde_json::json!([
            {"name": "ubuntu-22.04", "distribution": "ubuntu", "version": "22.04"},
            {"name": "alma-9", "distribution": "almalinux", "version": "9"},
        ]))
        .unwrap();
        let (f, image) = choice(&spec).unwrap();
        assert_eq!((f.name.as_str(), image), ("small", "ubuntu-22.04"));
        assert_eq!(project(&spec), "bio-prj", "the first group by name, with its own project");
        spec.groups.remove("bio");
        assert_eq!(project(&spec), "physics", "else the group's name");
    }

    #[test]
    fn outage_windows_only_keep_the_canary_away() {
        let mut spec: ProviderSpec = serde_json::from_value(serde_json::json!({
            "name": "bari", "driver": "sim", "endpoint": "https://bari.example",
            "maintenance": [{"start": "2027-01-10T08:00:00Z", "end": "2027-01-10T18:00:00Z", "kind": "at_risk"}],
        }))
        .unwrap();
        let noon = chrono::DateTime::parse_from_rfc3339("2027-01-10T12:00:00Z").unwrap().timestamp_millis();
        assert!(!in_outage(&spec, noon), "at risk: the canary still runs");
        spec.maintenance[0].kind = nuvola_types::MaintenanceKind::Outage;
        assert!(in_outage(&spec, noon));
        assert!(!in_outage(&spec, noon + 6 * 3_600_000), "the window ended at 18:00");
    }

    #[test]
    fn slots_and_freshness() {
        let hour = 3_600_000;
        assert_eq!(slot(0, hour), 0);
        assert_eq!(slot(hour - 1, hour), 0);
        assert_eq!(slot(hour, hour), 1);
        assert!(fresh(0, 2 * hour + 600_000, hour, 600_000));
        assert!(!fresh(0, 2 * hour + 600_001, hour, 600_000));
    }

    #[test]
    fn a_run_reads_as_its_phases_or_its_failure() {
        let mut r = run();
        assert_eq!(total_ms(&r), 4_000);
        assert_eq!(summary(&r), "m1.tiny: accepted in 0.4 s, running 2.5 s later, gone 1.1 s after its delete");
        r.failed_phase = Some(CanaryPhase::Ready);
        r.error = Some("not running within 600 s".into());
        assert_eq!(summary(&r), "start failed: not running within 600 s");
        r.gone = false;
        assert_eq!(
            leftover_summary(&r),
            "the canary VM of 2027-01-15 08:00 UTC is not deleted yet: not running within 600 s"
        );
        r.cleanup_error = Some("provider unavailable: HTTP 503 after 3 tries".into());
        assert!(leftover_summary(&r).ends_with("not deleted yet: provider unavailable: HTTP 503 after 3 tries"));
    }
}
