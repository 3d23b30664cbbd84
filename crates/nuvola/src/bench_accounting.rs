//! `nuvola bench accounting`: APEL cloud records ingested and summarised
//! end to end through the store, against APEL's own figures.
//!
//! The records come from the shared generator
//! (`crates/accounting/tests/apel-generator`, python3), its output kept in
//! the cache folder by seed and size. A reader takes the messages in load
//! order a window at a time (about 20,000 records), each half of a window
//! on a thread of its own (two cores): it reads the files, parses them
//! borrowing their text and copies out only the last record per VM and
//! month among them (what loading them one after the other keeps). The
//! load (one transaction) gathers those, the last per VM-month, in memory
//! bounded by the VM-months ([`nuvola_store::AccountingLoad`] writes when
//! it holds 100,000); a bounded channel between reader and load, so the
//! messages' text is held a few windows at a time, never all. The commit
//! writes the VM-months, then recomputes every summary by streaming them
//! back. The summaries are then checked against the generator's expected
//! ones, row by row.
//!
//! It runs on SQLite (a fresh file) and, given `--postgres` (or
//! `NUVOLA_TEST_POSTGRES_URL`), on PostgreSQL (a fresh schema, dropped
//! after), then times an accounting page's data over a year of a
//! 100-group federation (its own records, loaded first): the views' use
//! case the page calls, access rules and all, short of the HTML.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use nuvola_accounting::Decimal3;
use nuvola_accounting::cloud::{self, CloudRecord};
use nuvola_accounting::summarise::LastPerVmMonth;
use nuvola_store::{Store, StoreOptions, UsageFilter};
use nuvola_types::Principal;
use nuvola_usage::{Accounting, UsageRequest};

/// APEL's parser on this machine kind (generator README): records/s.
const APEL_PARSER_PER_SECOND: f64 = 16_000.0;
/// APEL's loader into MariaDB: records/s.
const APEL_LOADER_PER_SECOND: f64 = 1_800.0;
/// SummariseVMs on 1,000,000 rows: seconds.
const APEL_SUMMARISE_SECONDS_PER_MILLION: f64 = 11.7;

/// `nuvola bench accounting`
#[derive(Args)]
pub struct AccountingArgs {
    /// Cloud records to generate and ingest.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// The generator's seed.
    #[arg(long, default_value = "20240101")]
    seed: String,
    /// Where generated records are kept (by seed and size); default
    /// `cache/apel` in the data directory.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// The data directory (default `nuvola-data`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL URL to run on too.
    #[arg(long, env = "NUVOLA_TEST_POSTGRES_URL")]
    postgres: Option<String>,
    /// Timed page loads for the page's p50/p95.
    #[arg(long, default_value_t = 50)]
    pages: usize,
}

/// What one run on one backend measured.
struct Run {
    backend: &'static str,
    records: usize,
    messages: usize,
    vm_months: u64,
    summaries: u64,
    /// Reading, parsing and keeping the last record per VM-month.
    read: Duration,
    /// Writing the kept VM-months.
    store: Duration,
    /// Recomputing and writing every summary, and the commit.
    summarise: Duration,
    /// This process's CPU time over the three (user and system).
    cpu: Duration,
    /// Its peak resident memory (MiB) by the end of each of the three.
    peak_rss: [f64; 3],
}

/// Runs the benchmark; returns whether every run met the 5 s target and
/// gave APEL's summaries.
pub async fn run(args: AccountingArgs) -> Result<bool> {
    let data_dir = args.data_dir.clone().unwrap_or_else(|| PathBuf::from("nuvola-data"));
    let cache = args.cache.clone().unwrap_or_else(|| data_dir.join("cache").join("apel"));
    let generated = generate(&cache, args.records, &args.seed)?;
    let files = message_files(&generated)?;
    let expected = std::fs::read_to_string(generated.join("expected_summaries.tsv"))?;
    let expected: Vec<&str> = expected.lines().skip(1).collect();
    println!("{} records in {} messages ({})", args.records, files.len(), generated.display());
    // Messages reach nuvola from a broker or a client, not a cold disk:
    // each file is read once before the runs (into the page cache, not
    // kept), so that the runs time nuvola rather than the disk.
    let started = Instant::now();
    let mut bytes = 0;
    for file in &files {
        bytes += std::fs::read(file)?.len();
    }
    println!(
        "messages read once beforehand ({:.0} MB, off the page cache or the disk): {:.2} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let scratch = tempfile_dir()?;
    let mut ok = true;
    let mut runs = Vec::new();
    let sqlite = StoreOptions::new(format!("sqlite://{}", scratch.join("accounting.sqlite").display()));
    let mut backends = vec![("SQLite", sqlite, None)];
    if let Some(url) = &args.postgres {
        let schema = format!("bench_accounting_{}", std::process::id());
        backends.push((
            "PostgreSQL",
            StoreOptions { schema: Some(schema.clone()), ..StoreOptions::new(url) },
            Some(schema),
        ));
    }
    for (backend, options, schema) in backends {
        let store = Store::open(options.clone()).await.with_context(|| format!("opening {backend}"))?;
        let run = ingest(&store, backend, &files).await?;
        let same = check(&store, &expected).await?;
        ok &= same && run.total() < Duration::from_secs(5);
        print_run(&run, same);
        let page = page_times(options, args.pages).await?;
        println!(
            "  page (the views' usage of a year by group, 100 groups, as an administrator): p50 {:.1} ms, p95 {:.1} ms {}",
            page.0,
            page.1,
            if page.1 < 50.0 { "(target < 50 ms: met)" } else { "(target < 50 ms: NOT met)" }
        );
        ok &= page.1 < 50.0;
        if let Some(schema) = schema {
            store.drop_schema(&schema).await?;
        }
        store.close().await;
        runs.push(run);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(ok)
}

impl Run {
    fn total(&self) -> Duration {
        self.read + self.store + self.summarise
    }
}

fn print_run(run: &Run, same: bool) {
    let total = run.total();
    let per_second = run.records as f64 / total.as_secs_f64();
    let apel_total = run.records as f64 / APEL_PARSER_PER_SECOND
        + run.records as f64 / APEL_LOADER_PER_SECOND
        + APEL_SUMMARISE_SECONDS_PER_MILLION * run.vm_months as f64 / 1e6;
    println!("{}:", run.backend);
    let ingest = run.read + run.store;
    println!(
        "  read (parse, keep the last record per VM-month): {:.3} s, {:.0} records/s ({:.0}× APEL's parser)",
        run.read.as_secs_f64(),
        run.records as f64 / run.read.as_secs_f64(),
        run.records as f64 / run.read.as_secs_f64() / APEL_PARSER_PER_SECOND,
    );
    println!(
        "  store ({} VM-months): {:.3} s; read and store {:.0} records/s ({:.0}× APEL's loader)",
        run.vm_months,
        run.store.as_secs_f64(),
        run.records as f64 / ingest.as_secs_f64(),
        run.records as f64 / ingest.as_secs_f64() / APEL_LOADER_PER_SECOND,
    );
    println!(
        "  summarise ({} VM-months into {} summaries, stored, committed): {:.3} s (SummariseVMs: {:.1} s per 1M rows)",
        run.vm_months,
        run.summaries,
        run.summarise.as_secs_f64(),
        APEL_SUMMARISE_SECONDS_PER_MILLION
    );
    println!(
        "  total: {:.3} s for {} records in {} messages, {per_second:.0} records/s; APEL: {apel_total:.0} s ({:.0}×) \
         {}; summaries {}",
        total.as_secs_f64(),
        run.records,
        run.messages,
        apel_total / total.as_secs_f64(),
        if total < Duration::from_secs(5) { "(target < 5 s: met)" } else { "(target < 5 s: NOT met)" },
        if same { "equal to APEL's" } else { "DIFFERENT from APEL's" }
    );
    println!(
        "  CPU time of this process: {:.2} s ({:.2} cores busy on average){}",
        run.cpu.as_secs_f64(),
        run.cpu.as_secs_f64() / total.as_secs_f64(),
        if run.backend == "PostgreSQL" { ", the server's not counted" } else { "" }
    );
    println!(
        "  peak RSS of this process: {:.0} MiB reading, {:.0} MiB storing, {:.0} MiB summarising",
        run.peak_rss[0], run.peak_rss[1], run.peak_rss[2]
    );
}

/// The generator's output for `records` at `seed`, made once.
fn generate(cache: &Path, records: usize, seed: &str) -> Result<PathBuf> {
    let dir = cache.join(format!("{seed}-{records}"));
    if dir.join("expected_summaries.tsv").exists() {
        return Ok(dir);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../accounting/tests/apel-generator/gen_cloud_records.py");
    let partial = cache.join(format!("{seed}-{records}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    println!("generating {records} records with {} (once; kept in {})", script.display(), dir.display());
    let status = Command::new("python3")
        .arg(&script)
        .args(["-n", &records.to_string(), "--seed", seed, "-o"])
        .arg(&partial)
        .status()
        .context("running python3 (the APEL record generator needs it)")?;
    if !status.success() {
        bail!("the generator failed: {status}");
    }
    std::fs::rename(&partial, &dir)?;
    Ok(dir)
}

fn message_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir.join("messages"))?.map(|entry| entry.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|e| e == "apel"));
    files.sort();
    Ok(files)
}

/// Kept records written at once (a few dozen messages' worth).
const WINDOW: usize = 20_000;

/// A message's records kept per VM-month, owning their text.
type Batch = Vec<CloudRecord<'static>>;

/// Reads and parses messages (borrowing their text) and keeps the last
/// record per VM-month among them (what loading them one after the other
/// keeps), copying only those out of the text. Returns them and the number
/// of records read.
fn read_messages(files: &[PathBuf]) -> Result<(Batch, usize)> {
    let texts: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let mut kept = LastPerVmMonth::default();
    let mut read = 0;
    for (file, text) in files.iter().zip(&texts) {
        for record in cloud::parse_all(text).map_err(|e| anyhow!("{}: {e}", file.display()))? {
            read += 1;
            kept.push(record);
        }
    }
    Ok((kept.take().into_iter().map(|(_, r)| r.into_owned()).collect(), read))
}

/// Reads a window of messages (about [`WINDOW`] records): its two halves
/// on two threads (two cores), each kept per VM-month, the first half's
/// records before the second's (the load keeps the last per VM-month of
/// the two).
fn read_window(files: &[PathBuf]) -> Result<(Batch, usize)> {
    let (first, second) = files.split_at(files.len() / 2);
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| read_messages(first));
        let second = read_messages(second);
        (first.join().map_err(|_| anyhow!("a reader thread panicked")), second)
    });
    let (mut kept, read) = first??;
    let (second, also_read) = second?;
    kept.extend(second);
    Ok((kept, read + also_read))
}

/// Reads, parses and keeps the last record per VM-month of each window of
/// messages on a thread of its own, and stores them in one load here.
async fn ingest(store: &Store, backend: &'static str, files: &[PathBuf]) -> Result<Run> {
    reset_peak_rss();
    let cpu = cpu_time()?;
    let started = Instant::now();
    let (send, receive) = mpsc::sync_channel::<Result<(Batch, usize)>>(1);
    let files = files.to_vec();
    let messages = files.len();
    let reader = std::thread::spawn(move || {
        // Messages are of about equal size: as many as make a window.
        let per_window = files
            .first()
            .and_then(|f| std::fs::read(f).ok())
            .map_or(1, |bytes| WINDOW / cloud::parse_all(&bytes).map_or(1, |r| r.len().max(1)))
            .max(1);
        for window in files.chunks(per_window) {
            if send.send(read_window(window)).is_err() {
                return;
            }
        }
    });
    let mut load = store.begin_accounting_load("bench", nuvola_store::now_ms()).await?;
    let mut records = 0;
    let receive = std::sync::Arc::new(std::sync::Mutex::new(receive));
    loop {
        let receive = receive.clone();
        let next = tokio::task::spawn_blocking(move || receive.lock().expect("one reader").recv().ok()).await?;
        let Some(window) = next else { break };
        let (kept, read) = window?;
        records += read;
        load.cloud(kept).await?;
    }
    reader.join().map_err(|_| anyhow!("the reader thread panicked"))?;
    let read = started.elapsed();
    let rss_read = peak_rss_mib()?;
    let started = Instant::now();
    load.write_gathered().await?;
    let stored = started.elapsed();
    let rss_stored = peak_rss_mib()?;
    let started = Instant::now();
    let report = load.commit_summarising_all().await?;
    let summarise = started.elapsed();
    let rss_summarised = peak_rss_mib()?;
    let cpu = cpu_time()? - cpu;
    // The rows stored: a VM-month replaced later in the run is one row.
    Ok(Run {
        backend,
        records,
        messages,
        vm_months: report.cloud.new,
        summaries: report.summaries,
        read,
        store: stored,
        summarise,
        cpu,
        peak_rss: [rss_read, rss_stored, rss_summarised],
    })
}

/// Whether the stored summaries are the generator's, row by row.
async fn check(store: &Store, expected: &[&str]) -> Result<bool> {
    let stored = store.accounting_cloud_summaries(&UsageFilter::default()).await?;
    let rows: Vec<String> = stored.iter().map(|u| u.summary.table_row()).collect();
    if rows.len() != expected.len() {
        println!("  {} summaries stored, {} expected", rows.len(), expected.len());
        return Ok(false);
    }
    if let Some((i, (got, want))) = rows.iter().zip(expected).enumerate().find(|(_, (g, w))| g != *w) {
        println!("  summary {} differs:\n    nuvola: {got}\n    APEL:   {want}", i + 1);
        return Ok(false);
    }
    Ok(true)
}

/// A year of a 100-group federation (its own store): 10 sites, 100 groups
/// of 8 users each running 3 VMs a month. Returns the page's p50 and p95
/// in ms: the views' usage of the year by group (the table, and the
/// chart drawn from it), for every group as an administrator sees it.
async fn page_times(options: StoreOptions, pages: usize) -> Result<(f64, f64)> {
    let options = match &options.schema {
        Some(schema) => StoreOptions { schema: Some(format!("{schema}_page")), ..options.clone() },
        None => StoreOptions::new(options.url.replace("accounting.sqlite", "page.sqlite")),
    };
    let store = Store::open(options.clone()).await?;
    let mut load = store.begin_accounting_load("bench", 0).await?;
    let january_2024 = 1_704_067_200;
    for month in 0..12i64 {
        let mut batch = Vec::new();
        for group in 0..100 {
            for user in 0..8 {
                for vm in 0..3 {
                    let uuid = format!("vm-{group:03}-{user}-{vm}");
                    let mut r = CloudRecord::new(uuid, format!("SITE-{:02}", (group + vm) % 10));
                    r.fqan = Some(format!("/group{group:03}/Role=NULL").into());
                    r.global_user_name = Some(format!("user-{group:03}-{user}").into());
                    r.status = Some("started".into());
                    r.start_time = Some(january_2024);
                    // Measured on day 20 of each month, 2024 (30 days a month on).
                    let days = month * 30 + 20;
                    r.record_create_time = Some(january_2024 + days * 86_400);
                    r.wall_duration = Some(days * 86_400);
                    r.cpu_duration = Some(days * 43_200);
                    r.cpu_count = Decimal3::from_int(2).expect("2 fits");
                    r.memory = Some(4096);
                    r.disk = Some(40);
                    r.image_id = Some(format!("image-{}", vm % 3).into());
                    batch.push(r);
                }
            }
        }
        load.cloud(batch).await?;
    }
    load.commit().await?;
    // The page's one call: the views' use case, as an administrator asks
    // for the year by group (its chart is drawn from the same rows).
    let accounting = Accounting::new(store.clone(), Default::default(), nuvola_usage::wall_clock());
    let admin = Principal {
        subject: "ops".into(),
        issuer: "nuvola".into(),
        groups: Vec::new(),
        admin: true,
        manages: Vec::new(),
        email: None,
        client_ip: None,
    };
    let request = UsageRequest {
        from: Some("2024-01".into()),
        to: Some("2024-12".into()),
        by: Some("group".into()),
        ..UsageRequest::default()
    };
    let mut times = Vec::with_capacity(pages);
    for i in 0..pages * 2 {
        let started = Instant::now();
        let report = accounting.usage(&admin, &request).await.map_err(|e| anyhow!("the page's view: {e}"))?;
        if report.rows.len() != 1200 {
            bail!("the page's view has {} rows, not 1200", report.rows.len());
        }
        if i >= pages {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    if let Some(schema) = &options.schema {
        store.drop_schema(schema).await?;
    }
    store.close().await;
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    Ok((at(0.5), at(0.95)))
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("nuvola-bench-accounting-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// This process's CPU time so far, user and system (`/proc/self/stat`,
/// in clock ticks of 10 ms).
fn cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name (in parentheses, which may hold
    // spaces): utime and stime are the 14th and 15th of the line.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| anyhow!("no command in /proc/self/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks =
        |i: usize| -> Result<u64> { Ok(fields.get(i).ok_or_else(|| anyhow!("short /proc/self/stat"))?.parse()?) };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// This process's peak resident memory since it started or was last
/// reset, in MiB.
fn peak_rss_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or_else(|| anyhow!("no VmHWM"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse::<f64>()? / 1024.0)
}

/// Starts this process's peak resident memory afresh from what it holds
/// now (Linux: `5` into `/proc/self/clear_refs`), so that each backend's
/// run reports its own peak. Where that cannot be done the peak is the
/// process's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
