//! Dashboard page speed with a year of history: generates 10,000
//! deployments (with their attempts) of the catalogue's services in the
//! demo federation (`config/demo.toml`), signs an administrator in, and
//! renders each page many times through the router (no socket), printing
//! the median and slowest server time per page against the 50 ms target.
//!
//! Run with `cargo bench -p nuvola-web --bench pages`. SQLite by default;
//! set `NUVOLA_BENCH_POSTGRES_URL` (e.g. the test database) to measure on
//! PostgreSQL too (in a schema of its own, dropped afterwards). Set
//! `NUVOLA_BENCH_DEPLOYMENTS` to change the 10,000, and
//! `NUVOLA_BENCH_DATA_DIR` to keep the SQLite database in that folder.
//!
//! A page that answers 404 is reported as not built yet; to measure a new
//! page, add a line to [`PAGES`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use nuvola_app::{App, Catalogue, Federation, Settings};
use nuvola_demo::{HistoryOptions, Service, generate_history};
use nuvola_identity::EmbeddedIssuer;
use nuvola_store::{Store, StoreOptions, now_ms};
use nuvola_types::{Principal, ProviderSpec};
use nuvola_web::{WebConfig, session};
use tower::ServiceExt;

/// The pages measured: a name and a path; `{running}` is the id of a
/// deployment that is up, `{window}` the query of the last year.
const PAGES: &[(&str, &str)] = &[
    ("statistics index", "/stats"),
    ("active per group", "/stats/active-by-group"),
    ("per service", "/stats/by-service?{window}"),
    ("created per day", "/stats/created-per-day?{window}"),
    ("created per month", "/stats/created-per-month?{window}"),
    ("lifetimes", "/stats/lifetimes?{window}"),
    ("groups per month", "/stats/groups-per-month?{window}"),
    ("attempts per provider", "/stats/attempts-by-provider?{window}"),
    ("per service CSV", "/stats/by-service.csv?{window}"),
    ("deployment list", "/deployments"),
    ("deployment details", "/deployments/{running}"),
    ("catalogue", "/"),
    ("deploy form", "/deploy/jupyter-persistent"),
    ("admin: all deployments", "/admin/deployments"),
    ("admin: providers", "/admin/providers"),
    ("admin: groups", "/admin/groups"),
    ("admin: audit log", "/admin/audit"),
];

/// Runs per page (after two warm-up runs).
const RUNS: usize = 25;
/// The target for every page.
const TARGET: Duration = Duration::from_millis(50);

#[derive(serde::Deserialize)]
struct DemoFile {
    providers: Vec<ProviderSpec>,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let deployments: usize =
        std::env::var("NUVOLA_BENCH_DEPLOYMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    // NUVOLA_BENCH_DATA_DIR keeps the SQLite database there, to look into.
    let data = std::env::var_os("NUVOLA_BENCH_DATA_DIR").map(std::path::PathBuf::from);
    let folder = data.as_deref().unwrap_or(dir.path());
    std::fs::create_dir_all(folder).unwrap();
    let _ = std::fs::remove_file(folder.join("nuvola.sqlite"));
    let sqlite = format!("sqlite://{}", folder.join("nuvola.sqlite").display());
    runtime.block_on(bench("SQLite", StoreOptions::new(sqlite), None, deployments));
    if let Ok(url) = std::env::var("NUVOLA_BENCH_POSTGRES_URL") {
        let schema = format!("bench_{}", std::process::id());
        let options = StoreOptions { schema: Some(schema.clone()), ..StoreOptions::new(url) };
        runtime.block_on(bench("PostgreSQL", options, Some(schema), deployments));
    }
}

async fn bench(backend: &str, options: StoreOptions, schema: Option<String>, deployments: usize) {
    let demo: DemoFile = toml::from_str(include_str!("../../../config/demo.toml")).expect("the demo config parses");
    let store = Store::open(options).await.expect("the store opens");
    store.sync_config_providers(&demo.providers).await.unwrap();
    let resolver = Arc::new(nuvola_tosca::builtin_resolver());
    let catalogue = Catalogue::builtin(&*resolver).unwrap();
    let names: Vec<String> = demo.providers.iter().map(|p| p.name.clone()).collect();

    let started = Instant::now();
    let history = HistoryOptions::demo(deployments, names, now_ms());
    let services: Vec<Service> =
        catalogue.entries().iter().map(|e| Service { id: &e.id, name: &e.name, template: &e.template }).collect();
    let summary = generate_history(&store, &services, &history).await.unwrap();
    let generated = started.elapsed();
    // What the reconciler does hourly (and at start-up) on a running server.
    store.refresh_planner_statistics().await.unwrap();

    let federation = Federation::open(store.providers().await.unwrap(), None).unwrap();
    let issuer = Arc::new(EmbeddedIssuer::from_seed([9; 32], "nuvola"));
    let settings = Settings { testing_groups: history.short_lived.clone(), ..Settings::default() };
    let app = App::new(store.clone(), catalogue, federation, issuer, resolver, settings);
    let url = "http://127.0.0.1:8080";
    let router = nuvola_web::router(app.clone(), url, WebConfig::for_url(url));
    let cookie = sign_in(&app).await;

    println!(
        "nuvola dashboard pages on {backend}: {} deployments ({} attempts, {} up) generated in {:.1} s; \
         {RUNS} runs per page",
        summary.deployments,
        summary.attempts,
        summary.running.len(),
        generated.as_secs_f64()
    );
    println!("{:<24} {:>10} {:>10} {:>8}  path", "page", "median", "slowest", "KiB");
    let today = chrono::Utc::now().date_naive();
    let window = format!("from={}&to={today}", today - chrono::Duration::days(364));
    let running = summary.running.first().cloned().unwrap_or_default();
    let mut over = Vec::new();
    for (name, path) in PAGES {
        let path = path.replace("{window}", &window).replace("{running}", &running);
        let mut times = Vec::with_capacity(RUNS);
        let mut outcome = Ok(0);
        for run in 0..RUNS + 2 {
            let request = Request::get(&path).header(header::COOKIE, &cookie).body(Body::empty()).unwrap();
            let t = Instant::now();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let took = t.elapsed();
            if !status.is_success() {
                outcome = Err(status);
                break;
            }
            outcome = Ok(body.len());
            if run >= 2 {
                times.push(took);
            }
        }
        match outcome {
            Err(status) if status == axum::http::StatusCode::NOT_FOUND => {
                println!("{name:<24} {:>10} {:>10} {:>8}  {path}", "-", "-", "-");
                println!("{:<24} (not built yet: 404)", "");
            }
            Err(status) => {
                println!("{name:<24} failed with {status}  {path}");
                over.push(name.to_string());
            }
            Ok(bytes) => {
                times.sort();
                let median = times[times.len() / 2];
                let slowest = times[times.len() - 1];
                if median >= TARGET {
                    over.push(name.to_string());
                }
                println!(
                    "{name:<24} {:>7.2} ms {:>7.2} ms {:>8.1}  {path}",
                    ms(median),
                    ms(slowest),
                    bytes as f64 / 1024.0
                );
            }
        }
    }
    app_calls(&app, &store, &running, &mut over).await;
    if over.is_empty() {
        println!("every page measured is under the {} ms target (median)\n", TARGET.as_millis());
    } else {
        println!("over the {} ms target or failing: {}\n", TARGET.as_millis(), over.join(", "));
    }
    if let Some(schema) = schema {
        store.drop_schema(&schema).await.unwrap();
    }
    store.close().await;
}

/// The app-layer calls behind the deployment list and details pages,
/// timed on their own (the pages add their rendering).
async fn app_calls(app: &App, store: &Store, running: &str, over: &mut Vec<String>) {
    let admin = Principal {
        subject: "admin".into(),
        issuer: "nuvola".into(),
        groups: vec![],
        admin: true,
        manages: vec![],
        email: None,
        client_ip: None,
    };
    // A member of physics whose group shares its deployments with members.
    let member = Principal { subject: "user001".into(), groups: vec!["physics".into()], admin: false, ..admin.clone() };
    store
        .put_group_settings(&nuvola_store::GroupSettings {
            name: "physics".into(),
            members_see_group: true,
            updated_by: "bench".into(),
            updated_at: now_ms(),
        })
        .await
        .unwrap();
    let newest = |group: Option<&str>, page: i64| nuvola_app::ListQuery {
        created_by: None,
        user_group: group.map(str::to_string),
        excluded_status: Vec::new(),
        status: None,
        page,
        size: 50,
    };
    let calls: [(&str, &Principal, nuvola_app::ListQuery); 4] = [
        ("list: admin, all", &admin, newest(None, 0)),
        ("list: admin, page 100", &admin, newest(None, 100)),
        ("list: admin, one group", &admin, newest(Some("bio"), 0)),
        ("list: member, own+group", &member, newest(None, 0)),
    ];
    for (name, caller, query) in &calls {
        let mut times = Vec::with_capacity(RUNS);
        for run in 0..RUNS + 2 {
            let t = Instant::now();
            let (page, total) = app.list_deployments(caller, query).await.unwrap();
            let took = t.elapsed();
            assert!(!page.is_empty() && total > 0, "{name}: nothing listed");
            if run >= 2 {
                times.push(took);
            }
        }
        report(name, times, "app.list_deployments, 50 per page", over);
    }
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..RUNS + 2 {
        let t = Instant::now();
        app.deployment_details(&admin, running).await.unwrap();
        if run >= 2 {
            times.push(t.elapsed());
        }
    }
    report("details: admin", times, "app.deployment_details", over);
}

fn report(name: &str, mut times: Vec<Duration>, what: &str, over: &mut Vec<String>) {
    times.sort();
    let median = times[times.len() / 2];
    if median >= TARGET {
        over.push(name.to_string());
    }
    println!("{name:<24} {:>7.2} ms {:>7.2} ms {:>8}  {what}", ms(median), ms(times[times.len() - 1]), "");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A session for an administrator who is also in the demo's groups.
async fn sign_in(app: &App) -> String {
    let principal = Principal {
        subject: "admin".into(),
        issuer: "nuvola".into(),
        groups: vec!["physics".into(), "bio".into(), "ml".into()],
        admin: true,
        manages: vec![],
        email: None,
        client_ip: None,
    };
    let id = session::create(app, &principal, std::time::Duration::from_secs(3600), None).await.unwrap();
    format!("{}={id}", session::COOKIE)
}
