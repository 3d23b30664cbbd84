//! Robustness: the engine never panics, overflows the stack or takes
//! super-linear time, whatever the text. A deterministic generator mutates
//! the corpus's files (cut, duplicate, splice and insert YAML/TOSCA tokens)
//! and every mutant is loaded; hand-written hostile inputs (deep nesting,
//! billion laughs, huge anchors, import cycles) are checked for clear
//! `E-LIMIT` errors and bounded time.
//!
//! The mutators are [`nuvola_tosca::fuzz`]'s; longer runs:
//! `nuvola tosca fuzz --seconds 600` or `NUVOLA_FUZZ_CASES=200000
//! NUVOLA_FUZZ_SEED=7 cargo test --release -p nuvola-tosca --test robustness`
//! (see the crate README).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nuvola_tosca::corpus::Corpus;
use nuvola_tosca::fuzz::{Campaign, Rng, Tree};
use nuvola_tosca::{ImportResolver, Imported, builtin_resolver, load, load_csar};

fn corpus_texts() -> (Corpus, Vec<(String, String)>) {
    let corpus = Corpus::open(&PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus"))).unwrap();
    let texts = corpus.texts();
    (corpus, texts)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn mutated_corpus_files_never_panic() {
    let cases = env_number("NUVOLA_FUZZ_CASES", 1500);
    let seed = env_number("NUVOLA_FUZZ_SEED", 0x5eed);
    let (corpus, files) = corpus_texts();
    let resolver = corpus.resolver().unwrap();
    let campaign = Campaign { files: &files, resolver: &resolver, seed };
    let report = campaign.run(0..cases, None, |_| {});
    eprintln!(
        "{} mutants ({} structure-aware, {} valid); slowest case {} took {:?}",
        report.cases, report.structural, report.accepted, report.slowest.0, report.slowest.1
    );
    if let Some(f) = report.findings.first() {
        let out = std::env::temp_dir().join(format!("nuvola-fuzz-case-{seed}-{}.yaml", f.case));
        std::fs::write(&out, &f.mutant.text).unwrap();
        panic!(
            "{} findings; case {} (seed {seed}, from {}) panicked: {}; the input is in {} (nuvola tosca fuzz --seed {seed} --case {} rebuilds it)",
            report.findings.len(),
            f.case,
            f.mutant.from,
            f.message,
            out.display(),
            f.case
        );
    }
    assert_eq!(report.cases, cases);
}

#[test]
fn mutants_are_reproducible_and_mostly_well_formed() {
    let (corpus, files) = corpus_texts();
    let resolver = corpus.resolver().unwrap();
    let campaign = Campaign { files: &files, resolver: &resolver, seed: 42 };
    let mut structural = 0;
    let mut maps = 0;
    for case in 0..400 {
        let m = campaign.mutant(case);
        assert_eq!(m, campaign.mutant(case), "case {case} differs when rebuilt");
        if m.structural {
            structural += 1;
            maps += usize::from(matches!(Tree::parse(&m.text), Some(Tree::Map(_))));
        }
    }
    // Half the cases go through the tree mutator, whose output is always YAML.
    assert!(structural > 120, "{structural} structure-aware mutants of 400");
    assert_eq!(maps, structural, "structure-aware mutants that are not YAML maps");
    assert_ne!(campaign.mutant(1), campaign.mutant(2));
}

#[test]
fn mutated_archives_never_panic() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/tosca-parser/samples/tests/data/CSAR"));
    let archives: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            nuvola_tosca::is_archive(&p).then(|| std::fs::read(p).ok()).flatten()
        })
        .collect();
    let seed = env_number("NUVOLA_FUZZ_SEED", 0x5eed);
    for case in 0..env_number("NUVOLA_FUZZ_CASES", 1500) / 5 {
        let mut rng = Rng::for_case(seed, case);
        let mut bytes = archives[rng.below(archives.len())].clone();
        for _ in 0..1 + rng.below(8) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes[at] = rng.next_u64() as u8,
                1 => bytes.truncate(at),
                _ => bytes[at] ^= 0xff,
            }
        }
        let r = std::panic::catch_unwind(|| load_csar(&bytes, "fuzz.zip", &builtin_resolver()).map(|_| ()));
        assert!(r.is_ok(), "archive case {case} panicked");
    }
}

fn head() -> &'static str {
    "tosca_definitions_version: tosca_simple_yaml_1_0\n"
}

/// Loads `text` and returns the codes reported and the time taken.
fn timed(text: &str, resolver: &dyn ImportResolver) -> (Vec<&'static str>, Duration) {
    let t = Instant::now();
    let codes = match load(text, "hostile.yaml", resolver) {
        Ok(tpl) => tpl.warnings().iter().map(|d| d.code).collect(),
        Err(d) => d.iter().map(|d| d.code).collect(),
    };
    (codes, t.elapsed())
}

#[test]
fn deep_nesting_is_refused_in_linear_time() {
    for depth in [100, 10_000, 1_000_000] {
        for (open, close) in [("[", "]"), ("{a: ", "}")] {
            let text = format!("{}description: {}1{}\n", head(), open.repeat(depth), close.repeat(depth));
            let (codes, took) = timed(&text, &builtin_resolver());
            assert!(codes.contains(&"E-LIMIT") || codes.contains(&"E-YAML"), "depth {depth}: {codes:?}");
            assert!(took < Duration::from_secs(2), "depth {depth} took {took:?}");
        }
        // Block-style nesting.
        let mut text = head().to_owned();
        for i in 0..depth.min(20_000) {
            text.push_str(&" ".repeat(i));
            text.push_str("a:\n");
        }
        let (codes, took) = timed(&text, &builtin_resolver());
        assert!(codes.contains(&"E-LIMIT") || depth < 64, "block depth {depth}: {codes:?}");
        assert!(took < Duration::from_secs(5), "block depth {depth} took {took:?}");
    }
}

#[test]
fn billion_laughs_and_huge_anchors_are_refused() {
    let mut laughs = format!("{}metadata:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n", head());
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        laughs.push_str(&format!("  a{i}: &a{i} [{refs}]\n"));
    }
    let (codes, took) = timed(&laughs, &builtin_resolver());
    assert!(codes.contains(&"E-LIMIT"), "{codes:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    // One anchor of 100 000 items, aliased a few times.
    let items = vec!["x"; 100_000].join(", ");
    let text = format!("{}description: &big [{items}]\nmetadata: {{ a: *big, b: *big, c: *big }}\n", head());
    let (codes, took) = timed(&text, &builtin_resolver());
    assert!(codes.contains(&"E-LIMIT"), "{codes:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // Many aliases of a small anchor.
    let text = format!("{}description: &s x\nmetadata: [{}]\n", head(), vec!["*s"; 100_000].join(", "));
    let (codes, _) = timed(&text, &builtin_resolver());
    assert!(codes.contains(&"E-LIMIT"), "{codes:?}");
}

/// Serves generated files: `f0.yaml` imports `f1.yaml` ... and the last imports `f0.yaml`.
struct Ring(usize);

impl ImportResolver for Ring {
    fn load(&self, _importer: &str, import: &str) -> Result<Imported, String> {
        let i: usize = import.trim_start_matches('f').trim_end_matches(".yaml").parse().map_err(|_| "no")?;
        let next = (i + 1) % self.0;
        Ok(Imported::new(import, format!("{}imports: [ f{next}.yaml, f{i}.yaml ]\n", head())))
    }
}

#[test]
fn import_cycles_terminate_with_a_warning_and_import_count_is_bounded() {
    let text = format!("{}imports: [ f0.yaml ]\n", head());
    let (codes, took) = timed(&text, &Ring(3));
    assert!(codes.contains(&"W-IMPORT-CYCLE"), "{codes:?}");
    assert!(took < Duration::from_secs(1));
    let (codes, took) = timed(&text, &Ring(10_000));
    assert!(codes.contains(&"E-LIMIT"), "{codes:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn long_and_wide_documents_stay_linear() {
    let small = format!("{}metadata:\n{}", head(), (0..2_000).map(|i| format!("  k{i}: v\n")).collect::<String>());
    let big = format!("{}metadata:\n{}", head(), (0..20_000).map(|i| format!("  k{i}: v\n")).collect::<String>());
    let (_, t_small) = timed(&small, &builtin_resolver());
    let (_, t_big) = timed(&big, &builtin_resolver());
    // Ten times the keys must not take a hundred times as long.
    assert!(t_big < t_small * 40 + Duration::from_millis(200), "{t_small:?} vs {t_big:?}");
}

/// A template whose inputs each carry one `pattern` constraint, one input
/// per line pair; returns it with the (line, column) of each `pattern` key.
fn patterned_inputs(patterns: &[String]) -> (String, Vec<(u32, u32)>) {
    let mut text = format!("{}topology_template:\n  inputs:\n", head());
    let mut at = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        text.push_str(&format!("    in{i}:\n      type: string\n      constraints:\n"));
        at.push((u32::try_from(text.lines().count()).unwrap() + 1, 11));
        text.push_str(&format!("        - pattern: '{p}'\n"));
    }
    (text, at)
}

#[test]
fn a_pattern_too_large_to_compile_is_refused_at_its_constraint() {
    // 130–215 ms each to compile in full; refused early, where it is written.
    let (text, at) = patterned_inputs(&[r"[a-z]+".to_owned(), r"[\p{L}\p{N}]{1000}".to_owned()]);
    let Err(e) = load(&text, "hostile.yaml", &builtin_resolver()) else { panic!("the pattern was accepted") };
    let d = e.find("E-LIMIT").unwrap_or_else(|| panic!("no E-LIMIT:\n{e}"));
    assert_eq!((d.file.as_str(), d.line, d.column), ("hostile.yaml", at[1].0, at[1].1), "{e}");
    assert!(d.message.contains("too large") && d.message.contains("[\\p{L}\\p{N}]{1000}"), "{e}");
    assert_eq!(e.iter().filter(|d| d.is_error()).count(), 1, "{e}");
}

#[test]
fn the_work_of_compiling_patterns_is_bounded_per_template() {
    // A hundred patterns, each acceptable alone (a few hundred KiB
    // compiled), together kept /api/v1/plan busy for seconds: the template
    // is refused at the first one past the budget, the rest not compiled.
    let patterns: Vec<String> = (0..100).map(|i| format!(r"[\p{{L}}\p{{N}}]{{8}}-{i}")).collect();
    let (text, at) = patterned_inputs(&patterns);
    let Err(e) = load(&text, "hostile.yaml", &builtin_resolver()) else { panic!("all 100 patterns were accepted") };
    let over: Vec<_> = e.iter().filter(|d| d.code == "E-LIMIT").collect();
    assert_eq!(over.len(), 1, "{e}");
    let d = over[0];
    let index = at.iter().position(|p| *p == (d.line, d.column)).unwrap_or_else(|| panic!("not at a pattern: {d}"));
    assert!(index > 0 && index < 100, "{d}");
    assert!(d.message.contains("regular expressions") && d.message.contains("budget"), "{d}");
    // Each alone loads.
    let (one, _) = patterned_inputs(&patterns[..1]);
    assert!(load(&one, "one.yaml", &builtin_resolver()).is_ok());
}
