//! The workspace's crates are layered, and dependencies point down: a crate
//! may depend (normally, to build, or only for its tests) on crates of lower
//! layers, never on one of its own layer or above. The layers are written
//! below as data, in the order of the README's Architecture list; this test
//! reads what every member's Cargo.toml really declares (`cargo metadata`)
//! and names each edge that breaks the order.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The workspace's layers, lowest first. Within a layer, crates are
/// independent of each other.
const LAYERS: &[&[&str]] = &[
    &["nuvola-types"],
    &["nuvola-tosca", "nuvola-placement", "nuvola-limits", "nuvola-drivers", "nuvola-store"],
    &["nuvola-indigo", "nuvola-identity"],
    &["nuvola-notify", "nuvola-demo"],
    &["nuvola-app"],
    &["nuvola-api", "nuvola-web"],
    &["nuvola"],
];

/// Crates above the app layer that reach the store only through it: their
/// normal dependencies do not name it (their tests may, to set a scene up).
const STORE_THROUGH_APP: &[&str] = &["nuvola-api"];

/// The layer of a workspace crate.
fn layer(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&name))
}

/// One declared dependency between two workspace crates.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    /// `normal`, `build` or `dev`, as `cargo metadata` names it.
    kind: String,
}

/// Every dependency of a workspace member on another workspace member.
fn workspace_edges() -> (BTreeSet<String>, Vec<Edge>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("a package list");
    let members: BTreeSet<String> =
        packages.iter().map(|p| p["name"].as_str().expect("a package name").to_string()).collect();
    let mut edges = Vec::new();
    for package in packages {
        for dependency in package["dependencies"].as_array().expect("a dependency list") {
            let to = dependency["name"].as_str().expect("a dependency name");
            if !members.contains(to) {
                continue;
            }
            edges.push(Edge {
                from: package["name"].as_str().unwrap().to_string(),
                to: to.to_string(),
                kind: dependency["kind"].as_str().unwrap_or("normal").to_string(),
            });
        }
    }
    edges.sort();
    edges.dedup();
    (members, edges)
}

/// The edges that do not point to a lower layer, one line each.
fn upward(edges: &[Edge]) -> Vec<String> {
    edges
        .iter()
        .filter(|e| e.from != e.to)
        .filter_map(|e| {
            let (from, to) = (layer(&e.from)?, layer(&e.to)?);
            (to >= from).then(|| {
                let place = if to == from { "its own layer" } else { "a higher layer" };
                format!("{} ({}) has a {} dependency on {} ({place})", e.from, from, e.kind, e.to)
            })
        })
        .collect()
}

#[test]
fn every_workspace_crate_has_a_layer() {
    let (members, _) = workspace_edges();
    let unplaced: Vec<&String> = members.iter().filter(|m| layer(m).is_none()).collect();
    assert!(unplaced.is_empty(), "crates with no layer in tests/layering.rs: {unplaced:?}");
    let listed: Vec<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).filter(|c| !members.contains(*c)).collect();
    assert!(listed.is_empty(), "layers name crates the workspace does not have: {listed:?}");
}

#[test]
fn dependencies_point_down_the_layers() {
    let (_, edges) = workspace_edges();
    // The crates' own dependencies are many: a reading that found none would
    // check nothing.
    assert!(edges.iter().any(|e| e.from == "nuvola-app" && e.to == "nuvola-store"), "{edges:?}");
    let wrong = upward(&edges);
    assert!(wrong.is_empty(), "dependencies against the layering:\n{}", wrong.join("\n"));
}

#[test]
fn the_api_reaches_the_store_through_the_app() {
    let (_, edges) = workspace_edges();
    let direct: Vec<&Edge> = edges
        .iter()
        .filter(|e| STORE_THROUGH_APP.contains(&e.from.as_str()) && e.to == "nuvola-store" && e.kind != "dev")
        .collect();
    assert!(direct.is_empty(), "crates that should reach the store through the app depend on it: {direct:?}");
}

#[test]
fn an_upward_or_sideways_edge_is_named() {
    let edge = |from: &str, to: &str, kind: &str| Edge { from: from.into(), to: to.into(), kind: kind.into() };
    let found = upward(&[
        edge("nuvola-app", "nuvola-store", "normal"),
        edge("nuvola-store", "nuvola-app", "dev"),
        edge("nuvola-api", "nuvola-web", "dev"),
    ]);
    assert_eq!(
        found,
        [
            "nuvola-store (1) has a dev dependency on nuvola-app (a higher layer)",
            "nuvola-api (5) has a dev dependency on nuvola-web (its own layer)",
        ]
    );
}
