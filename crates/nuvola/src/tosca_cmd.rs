//! `nuvola tosca validate|inputs` (check templates and list their inputs,
//! offline), `nuvola tosca fuzz` (load mutants of the corpus until a panic
//! or a budget) and `nuvola bench tosca` (time the TOSCA engine over the
//! conformance corpus and, when a tosca-parser install is given, the
//! reference parser on the same files in the same run).
//!
//! Exit codes of `validate`: 0 every file valid, 1 some file invalid,
//! 2 usage error (bad flag, missing file, unreadable import map).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use nuvola_tosca::corpus::Corpus;
use nuvola_tosca::{Diagnostic, FsResolver, ImportMap, InputDef, Layered, builtin_resolver, load_path};
use serde_json::json;

/// Output format of the `tosca` subcommands.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `nuvola tosca ...`
#[derive(Args)]
pub struct ToscaArgs {
    #[command(subcommand)]
    what: ToscaCommand,
}

#[derive(Subcommand)]
enum ToscaCommand {
    /// Check TOSCA templates (YAML or CSAR); every problem is printed with
    /// file:line:column and a stable code.
    Validate {
        /// Templates to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// TSV of `url_prefix<TAB>local_path` resolving URL imports offline
        /// (local paths relative to the TSV's folder).
        #[arg(long)]
        import_map: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also print warnings found in imported files.
        #[arg(long)]
        all_warnings: bool,
    },
    /// List a template's inputs with types, defaults and constraints.
    Inputs {
        file: PathBuf,
        #[arg(long)]
        import_map: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Fuzz the engine on the stable toolchain: load text and
    /// structure-aware mutants of the corpus files, each under
    /// catch_unwind, until a budget; exits 1 when a mutant panicked.
    Fuzz {
        /// Corpus folder with manifest.tsv and import-map.tsv (default: the
        /// copy in crates/tosca/tests/corpus).
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Selects the mutations: case N of seed S is always the same mutant.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Cases to run, from 0 (default: as many as --seconds allows).
        #[arg(long)]
        cases: Option<u64>,
        /// Time budget in seconds (default 60 when --cases is not given).
        #[arg(long)]
        seconds: Option<u64>,
        /// Rebuild this one case (to reproduce a finding), write it to --out and load it.
        #[arg(long)]
        case: Option<u64>,
        /// Folder for the mutants that panicked (default: the temporary folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `nuvola bench tosca`: time the TOSCA engine over the corpus (per file
/// and in total) and, with a tosca-parser virtualenv, tosca-parser on the
/// same files.
#[derive(Args)]
pub struct ToscaBenchArgs {
    /// Corpus folder with manifest.tsv and import-map.tsv (default: the
    /// copy in crates/tosca/tests/corpus).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Timed passes over the corpus (after one warm-up pass).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// A virtualenv with tosca-parser installed:
    /// `python3 -m venv /tmp/toscavenv && /tmp/toscavenv/bin/pip install tosca-parser==2.15.0`.
    #[arg(long, env = "NUVOLA_TOSCAPARSER_VENV")]
    pub toscaparser_venv: Option<PathBuf>,
    /// The timing script run with that virtualenv's Python (default:
    /// ../shared/bench/tosca-parser/bench_toscaparser.py next to the repository).
    #[arg(long, env = "NUVOLA_TOSCAPARSER_BENCH")]
    pub toscaparser_script: Option<PathBuf>,
    /// Timed passes of tosca-parser.
    #[arg(long, default_value_t = 3)]
    pub peer_runs: usize,
    /// Print one line per file.
    #[arg(long)]
    pub per_file: bool,
}

/// Runs `nuvola tosca ...`; `Ok(false)` when some template is invalid.
pub fn tosca(args: ToscaArgs) -> Result<bool> {
    match args.what {
        ToscaCommand::Validate { files, import_map, format, all_warnings } => {
            validate(&files, import_map.as_deref(), format, all_warnings)
        }
        ToscaCommand::Inputs { file, import_map, format } => inputs(&file, import_map.as_deref(), format),
        ToscaCommand::Fuzz { corpus, seed, cases, seconds, case, out } => {
            fuzz(corpus, seed, cases, seconds, case, out.unwrap_or_else(std::env::temp_dir))
        }
    }
}

/// The in-repo conformance corpus, or `dir`.
fn corpus_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tosca/tests/corpus")))
}

fn fuzz(
    corpus: Option<PathBuf>,
    seed: u64,
    cases: Option<u64>,
    seconds: Option<u64>,
    case: Option<u64>,
    out: PathBuf,
) -> Result<bool> {
    use nuvola_tosca::fuzz::Campaign;
    let corpus = Corpus::open(&corpus_dir(corpus)).map_err(anyhow::Error::msg)?;
    let resolver = corpus.resolver().map_err(anyhow::Error::msg)?;
    let files = corpus.texts();
    if files.is_empty() {
        bail!("no readable text file in the corpus {}", corpus.dir.display());
    }
    let campaign = Campaign { files: &files, resolver: &resolver, seed };
    let range = match (case, cases) {
        (Some(c), _) => {
            let m = campaign.mutant(c);
            let path = out.join(format!("nuvola-fuzz-{seed}-{c}.yaml"));
            std::fs::write(&path, &m.text).with_context(|| format!("writing {}", path.display()))?;
            println!(
                "case {c} of seed {seed}: a {} mutant of {}, written to {}",
                if m.structural { "structure-aware" } else { "text" },
                m.from,
                path.display()
            );
            c..c + 1
        }
        (None, Some(n)) => 0..n,
        (None, None) => 0..u64::MAX,
    };
    let deadline = match (case, cases, seconds) {
        (Some(_), _, _) => None,
        (None, _, Some(s)) => Some(Instant::now() + Duration::from_secs(s)),
        (None, Some(_), None) => None,
        (None, None, None) => Some(Instant::now() + Duration::from_secs(60)),
    };
    println!("fuzzing with seed {seed} over {} corpus files", files.len());
    // Panics are findings, reported below; keep the default hook's output off the screen.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let mut last = Instant::now();
    let report = campaign.run(range, deadline, |r| {
        if last.elapsed() >= Duration::from_secs(10) {
            last = Instant::now();
            eprintln!(
                "  {} cases ({:.0}/s), {} findings",
                r.cases,
                r.cases as f64 / started.elapsed().as_secs_f64(),
                r.findings.len()
            );
        }
    });
    std::panic::set_hook(hook);
    println!(
        "{} cases in {:.1} s ({} structure-aware, {} valid templates); slowest: case {} in {:.1} ms; {} findings",
        report.cases,
        started.elapsed().as_secs_f64(),
        report.structural,
        report.accepted,
        report.slowest.0,
        ms(report.slowest.1),
        report.findings.len()
    );
    for f in &report.findings {
        let path = out.join(format!("nuvola-fuzz-{seed}-{}.yaml", f.case));
        std::fs::write(&path, &f.mutant.text).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "FINDING case {} (from {}): {}; input in {}; reproduce: nuvola tosca fuzz --seed {seed} --case {}",
            f.case,
            f.mutant.from,
            f.message,
            path.display(),
            f.case
        );
    }
    Ok(report.findings.is_empty())
}

/// Prints a usage error and exits with status 2.
fn usage(message: impl std::fmt::Display) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

/// The resolver for templates given on the command line: the import map
/// (when given), then the INDIGO types built into nuvola; relative imports
/// are read from the template's folder and the import map's folder.
fn resolver(files: &[PathBuf], import_map: Option<&Path>) -> Layered {
    let map = match import_map {
        Some(path) => ImportMap::from_file(path).unwrap_or_else(|e| usage(e)),
        None => ImportMap::new(),
    };
    let mut fs = FsResolver::new(map);
    if let Some(dir) = import_map.and_then(Path::parent) {
        fs = fs.allow_files_under(if dir.as_os_str().is_empty() { Path::new(".") } else { dir });
    }
    for f in files {
        let dir = f.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs = fs.allow_files_under(dir);
    }
    Layered::new().with(fs).with(builtin_resolver())
}

fn check_files_exist(files: &[PathBuf]) {
    for f in files {
        if !f.is_file() {
            usage(format!("{} is not a file", f.display()));
        }
    }
}

fn diagnostic_json(d: &Diagnostic) -> serde_json::Value {
    serde_json::to_value(d).unwrap_or_default()
}

fn validate(files: &[PathBuf], import_map: Option<&Path>, format: Format, all_warnings: bool) -> Result<bool> {
    check_files_exist(files);
    let resolver = resolver(files, import_map);
    let mut all_valid = true;
    let mut reports = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let (valid, diags): (bool, Vec<Diagnostic>) = match load_path(path, &resolver) {
            Ok(t) => (true, t.warnings().to_vec()),
            Err(d) => (false, d.0),
        };
        all_valid &= valid;
        let own = |d: &&Diagnostic| d.is_error() || all_warnings || d.file == name || d.file.starts_with(&name);
        let shown: Vec<&Diagnostic> = diags.iter().filter(own).collect();
        let hidden = diags.len() - shown.len();
        let errors = shown.iter().filter(|d| d.is_error()).count();
        match format {
            Format::Text => {
                for d in &shown {
                    println!("{d}");
                }
                let warnings = shown.len() - errors;
                let verdict = if valid { "valid" } else { "invalid" };
                let more = if hidden > 0 {
                    format!(", {hidden} more in imported files (--all-warnings)")
                } else {
                    String::new()
                };
                let counted = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
                println!("{name}: {verdict} ({}, {}{more})", counted(errors, "error"), counted(warnings, "warning"));
            }
            Format::Json => reports.push(json!({
                "file": name,
                "valid": valid,
                "errors": errors,
                "warnings": shown.len() - errors,
                "hidden_warnings": hidden,
                "diagnostics": shown.iter().map(|d| diagnostic_json(d)).collect::<Vec<_>>(),
            })),
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&json!({ "valid": all_valid, "files": reports }))?);
    }
    Ok(all_valid)
}

fn inputs(file: &Path, import_map: Option<&Path>, format: Format) -> Result<bool> {
    check_files_exist(std::slice::from_ref(&file.to_path_buf()));
    let resolver = resolver(&[file.to_path_buf()], import_map);
    let template = match load_path(file, &resolver) {
        Ok(t) => t,
        Err(d) => {
            eprintln!("{d}");
            eprintln!("{}: invalid; its inputs cannot be listed", file.display());
            return Ok(false);
        }
    };
    let inputs: Vec<_> = template.inputs().values().collect();
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&inputs)?),
        Format::Text => print_inputs(inputs),
    }
    Ok(true)
}

/// Prints inputs for people: name, type, whether required, default and
/// constraints, then the description indented.
pub fn print_inputs<'a>(inputs: impl IntoIterator<Item = &'a InputDef>) {
    for i in inputs {
        let ty = match &i.entry_schema {
            Some(e) => format!("{}<{e}>", i.type_name),
            None => i.type_name.clone(),
        };
        let default = i.default.as_ref().map(|d| format!(" default {d}")).unwrap_or_default();
        let required = if i.required && i.default.is_none() { " required" } else { "" };
        let constraints = if i.constraints.is_empty() {
            String::new()
        } else {
            format!(" constraints {}", serde_json::to_string(&i.constraints).unwrap_or_default())
        };
        println!("{}: {ty}{required}{default}{constraints}", i.name);
        if let Some(d) = &i.description {
            println!("    {}", d.trim().replace('\n', "\n    "));
        }
    }
}

/// The sources whose templates use the INDIGO / INFN Cloud types.
const INDIGO_SOURCES: &[&str] =
    &["indigo-dc-tosca-types", "indigo-dc-tosca-templates", "infn-cloud-tosca-types", "laniakea-tosca-types"];

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn bench_tosca(args: ToscaBenchArgs) -> Result<bool> {
    let ToscaBenchArgs { corpus, runs, toscaparser_venv, toscaparser_script, peer_runs, per_file } = args;
    bench_tosca_runs(corpus, runs.max(1), toscaparser_venv, toscaparser_script, peer_runs.max(1), per_file)
}

fn bench_tosca_runs(
    corpus: Option<PathBuf>,
    runs: usize,
    venv: Option<PathBuf>,
    script: Option<PathBuf>,
    peer_runs: usize,
    per_file: bool,
) -> Result<bool> {
    let dir = corpus_dir(corpus);
    let corpus = Corpus::open(&dir).map_err(anyhow::Error::msg)?;
    let resolver = corpus.resolver().map_err(anyhow::Error::msg)?;
    let paths: Vec<PathBuf> = corpus.rows.iter().map(|r| corpus.path_of(r)).collect();
    // Warm-up, which also fills the resolver's cache of parsed imports.
    let started = Instant::now();
    let verdicts: Vec<bool> = paths.iter().map(|p| load_path(p, &resolver).is_ok()).collect();
    let first_pass = started.elapsed();
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); paths.len()];
    let mut passes = Vec::with_capacity(runs);
    for _ in 0..runs {
        let pass = Instant::now();
        for (i, p) in paths.iter().enumerate() {
            let t = Instant::now();
            let _ = std::hint::black_box(load_path(p, &resolver));
            times[i].push(t.elapsed());
        }
        passes.push(pass.elapsed());
    }
    let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();

    let peer = match venv {
        Some(venv) => Some(run_peer(&dir, &venv, script, peer_runs)?),
        None => None,
    };
    let peer_ms = |row: &str| peer.as_ref().and_then(|p| p.files.get(row)).copied();

    if per_file {
        println!("{:<100} {:>7} {:>10} {:>12} {:>8}", "file", "nuvola", "nuvola_ms", "toscaparser_ms", "ratio");
        for (i, row) in corpus.rows.iter().enumerate() {
            let ours = ms(medians[i]);
            let (theirs, ratio) = match peer_ms(&row.path) {
                Some((t, _)) => (format!("{t:.2}"), format!("{:.0}x", t / ours.max(1e-6))),
                None => ("-".into(), "-".into()),
            };
            let verdict = if verdicts[i] { "valid" } else { "invalid" };
            println!("{:<100} {verdict:>7} {ours:>10.3} {theirs:>12} {ratio:>8}", row.path);
        }
        println!();
    }

    println!(
        "nuvola: {} files, {} timed passes after a warm-up; first (cold) pass {:.1} ms",
        paths.len(),
        runs,
        ms(first_pass)
    );
    println!(
        "{:<28} {:>6} {:>12} {:>14} {:>16} {:>8}",
        "group", "files", "nuvola_ms", "per_file_ms", "toscaparser_ms", "ratio"
    );
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, row) in corpus.rows.iter().enumerate() {
        groups.entry(row.source.as_str()).or_default().push(i);
        if INDIGO_SOURCES.contains(&row.source.as_str()) {
            groups.entry("INDIGO+INFN (all)").or_default().push(i);
            if verdicts[i] && peer_ms(&row.path).is_some_and(|(_, ok)| ok) {
                groups.entry("INDIGO+INFN (both accept)").or_default().push(i);
            }
        }
        groups.entry("ALL").or_default().push(i);
    }
    for (name, rows) in &groups {
        let ours: f64 = rows.iter().map(|&i| ms(medians[i])).sum();
        let theirs: Option<f64> =
            peer.as_ref().map(|_| rows.iter().filter_map(|&i| peer_ms(&corpus.rows[i].path)).map(|p| p.0).sum());
        let (t, r) = match theirs {
            Some(t) => (format!("{t:.1}"), format!("{:.0}x", t / ours.max(1e-6))),
            None => ("-".into(), "-".into()),
        };
        println!("{name:<28} {:>6} {ours:>12.2} {:>14.4} {t:>16} {r:>8}", rows.len(), ours / rows.len() as f64);
    }
    let pass = median(&mut passes);
    println!("whole corpus, one pass (median of {runs}): {:.1} ms on one core", ms(pass));
    match &peer {
        Some(p) => {
            println!(
                "tosca-parser {}: whole corpus {:.1} ms per pass (median of {peer_runs}); ratio {:.0}x",
                p.version,
                p.pass_ms,
                p.pass_ms / ms(pass).max(1e-6)
            );
        }
        None => println!(
            "tosca-parser: not run (give --toscaparser-venv or NUVOLA_TOSCAPARSER_VENV; install with \
             `python3 -m venv /tmp/toscavenv && /tmp/toscavenv/bin/pip install tosca-parser==2.15.0`)"
        ),
    }
    Ok(true)
}

/// tosca-parser's timings on the same corpus.
struct PeerTimings {
    version: String,
    /// Median ms per file and whether tosca-parser accepted it.
    files: BTreeMap<String, (f64, bool)>,
    /// Median ms of a whole pass.
    pass_ms: f64,
}

/// Runs the shared tosca-parser timing script with the virtualenv's Python
/// on `corpus` and reads the TSV it writes.
fn run_peer(corpus: &Path, venv: &Path, script: Option<PathBuf>, runs: usize) -> Result<PeerTimings> {
    let python = venv.join("bin/python");
    if !python.is_file() {
        bail!("{} has no bin/python; create it with `python3 -m venv {0}`", venv.display());
    }
    let script = script.unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/bench/tosca-parser/bench_toscaparser.py"))
    });
    if !script.is_file() {
        bail!("the tosca-parser timing script is not at {} (give --toscaparser-script)", script.display());
    }
    let out = std::env::temp_dir().join(format!("nuvola-bench-tosca-{}", std::process::id()));
    std::fs::create_dir_all(&out)?;
    eprintln!("running tosca-parser ({} passes + warm-up; this takes a while)...", runs);
    let status = std::process::Command::new(&python)
        .arg(&script)
        .arg(runs.to_string())
        .env("OUT_DIR", &out)
        .env("TOSCA_CORPUS", corpus)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !status.success() {
        bail!("{} {} failed: {status}", python.display(), script.display());
    }
    let tsv = std::fs::read_to_string(out.join("toscaparser_timings.tsv"))?;
    let _ = std::fs::remove_dir_all(&out);
    let mut files = BTreeMap::new();
    let mut pass_ms = 0.0;
    let mut version = String::from("?");
    for line in tsv.lines() {
        if let Some(rest) = line.strip_prefix("# tosca-parser ") {
            version = rest.split(',').next().unwrap_or("?").to_owned();
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 4 || cols[0] == "path" {
            continue;
        }
        if cols[0] == "TOTAL:median_pass" {
            pass_ms = cols[3].parse().unwrap_or(0.0);
        } else if !cols[0].starts_with("TOTAL") && !cols[0].starts_with("STARTUP") {
            files.insert(cols[0].to_owned(), (cols[3].parse().unwrap_or(0.0), cols[2] == "pass"));
        }
    }
    Ok(PeerTimings { version, files, pass_ms })
}
