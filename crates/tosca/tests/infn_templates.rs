//! The real INFN Cloud catalogue templates (baltig.infn.it
//! infn-cloud/tosca-templates) load, with no import map and no edits, and
//! turn into requirements with their defaults. That repository carries no
//! licence, so its files cannot be copied here: this check runs on a copy
//! the developer fetched, and is ignored otherwise.
//!
//! ```sh
//! git clone https://baltig.infn.it/infn-cloud/tosca-templates /tmp/infn-templates
//! NUVOLA_INFN_TEMPLATES=/tmp/infn-templates cargo test -p nuvola-tosca --test infn_templates -- --ignored --nocapture
//! ```
//!
//! `NUVOLA_INFN_WARNINGS=1` prints every template's warnings too.
//! `tests/infn_forms.rs` shows the same forms on templates of our own.

use std::path::{Path, PathBuf};

use nuvola_tosca::{ServiceTemplate, builtin_resolver, load};
use serde_json::{Map, Value, json};

/// Every `.yaml` file under `dir` that declares a TOSCA version, sorted.
fn templates(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            templates(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && std::fs::read_to_string(&path).is_ok_and(|t| t.contains("tosca_definitions_version"))
        {
            out.push(path);
        }
    }
}

/// A value for an input that has no default, of its type and within its
/// first `valid_values` when it has some.
fn value_for(t: &ServiceTemplate, name: &str) -> Value {
    let input = &t.inputs()[name];
    if let Some(nuvola_tosca::Constraint::ValidValues(v)) =
        input.constraints.iter().find(|c| matches!(c, nuvola_tosca::Constraint::ValidValues(_)))
    {
        return v[0].clone();
    }
    match input.type_name.as_str() {
        "integer" => json!(1),
        "float" => json!(1.0),
        "boolean" => json!(true),
        "scalar-unit.size" => json!("10 GB"),
        "list" => json!([]),
        "map" => json!({}),
        _ => json!("a-value-for-the-check"),
    }
}

/// How far a template got.
enum Outcome {
    /// It loads and yields requirements: the Compute nodes it asks for.
    Plans(String),
    /// It loads (validates) but yields no deployable requirements: why.
    ValidatesOnly(String),
    /// It does not load: the problems.
    Invalid(String),
}

/// Loads `path`, resolves its inputs and extracts its requirements, as
/// `nuvola plan` does before placement.
fn check(path: &Path, resolver: &dyn nuvola_tosca::ImportResolver) -> Outcome {
    let text = std::fs::read_to_string(path).unwrap();
    let t = match load(&text, &path.display().to_string(), resolver) {
        Ok(t) => t,
        Err(e) => return Outcome::Invalid(e.to_string()),
    };
    if std::env::var_os("NUVOLA_INFN_WARNINGS").is_some() {
        for w in t.warnings() {
            println!("  {w}");
        }
    }
    let mut params = Map::new();
    for input in t.inputs().values().filter(|i| i.default.is_none() && i.required) {
        params.insert(input.name.clone(), value_for(&t, &input.name));
    }
    let needs = match t.resolve_inputs(&params).and_then(|inputs| t.requirements(&inputs)) {
        Ok(needs) => needs,
        Err(e) => return Outcome::ValidatesOnly(e.to_string()),
    };
    if needs.nodes.is_empty() {
        let types: Vec<&str> = t.node_names().filter_map(|n| t.node_type(n)).collect();
        return Outcome::ValidatesOnly(format!("no Compute node to deploy (node types: {})", types.join(", ")));
    }
    let nodes: Vec<String> =
        needs.nodes.iter().map(|n| format!("{} ×{}: {:?} CPUs, {:?} MiB", n.name, n.count, n.cpus, n.mem_mb)).collect();
    Outcome::Plans(format!("{} warnings; {}", t.warnings().len(), nodes.join("; ")))
}

#[test]
#[ignore = "needs a local copy of infn-cloud/tosca-templates in NUVOLA_INFN_TEMPLATES"]
fn real_infn_templates_load_and_plan() {
    let Some(dir) = std::env::var_os("NUVOLA_INFN_TEMPLATES") else {
        panic!("set NUVOLA_INFN_TEMPLATES to a copy of infn-cloud/tosca-templates");
    };
    let mut files = Vec::new();
    templates(Path::new(&dir), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no TOSCA template under {}", Path::new(&dir).display());
    let resolver = builtin_resolver();
    let (mut invalid, mut unplanned) = (Vec::new(), Vec::new());
    for path in &files {
        match check(path, &resolver) {
            Outcome::Plans(summary) => println!("ok   {} ({summary})", path.display()),
            Outcome::ValidatesOnly(why) => {
                println!("VALID, NO PLAN {}\n{why}\n", path.display());
                unplanned.push(path.display().to_string());
            }
            Outcome::Invalid(e) => {
                println!("INVALID {}\n{e}\n", path.display());
                invalid.push(path.display().to_string());
            }
        }
    }
    let n = files.len();
    println!("{} of {n} templates validate; {} of {n} plan", n - invalid.len(), n - invalid.len() - unplanned.len());
    assert!(invalid.is_empty() && unplanned.is_empty(), "invalid: {invalid:#?}\nnot planned: {unplanned:#?}");
}
