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
    // The pure crates: formats, arithmetic, derivations, no I/O.
    &["nuvola-tosca", "nuvola-placement", "nuvola-limits", "nuvola-monitor", "nuvola-accounting"],
    // I/O on their types: the clouds, the database.
    &["nuvola-drivers", "nuvola-store"],
    &["nuvola-indigo", "nuvola-identity"],
    &["nuvola-notify", "nuvola-demo"],
    &["nuvola-watch", "nuvola-usage"],
    &["nuvola-app"],
    &["nuvola-api", "nuvola-web"],
    &["nuvola"],
];

/// Crates above the app layer that reach the store (and the drivers) only
/// through it: their normal dependencies name none of [`BEHIND_THE_APP`]
/// (their tests may, to set a scene up).
const STORE_THROUGH_APP: &[&str] = &["nuvola-api", "nuvola-web"];

/// What the app keeps to itself from the crates of [`STORE_THROUGH_APP`].
const BEHIND_THE_APP: &[&str] = &["nuvola-store", "nuvola-drivers"];

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

/// The edges by which a crate of [`STORE_THROUGH_APP`] reaches the store or
/// the drivers other than through the app, one line each.
fn around_the_app(edges: &[Edge]) -> Vec<String> {
    edges
        .iter()
        .filter(|e| STORE_THROUGH_APP.contains(&e.from.as_str()) && BEHIND_THE_APP.contains(&e.to.as_str()))
        .filter(|e| e.kind != "dev")
        .map(|e| format!("{} has a {} dependency on {}", e.from, e.kind, e.to))
        .collect()
}

#[test]
fn the_api_and_the_dashboard_reach_the_store_through_the_app() {
    let (_, edges) = workspace_edges();
    let direct = around_the_app(&edges);
    assert!(direct.is_empty(), "crates that should go through the app reach around it:\n{}", direct.join("\n"));
}

#[test]
fn a_dependency_around_the_app_is_named() {
    let edge = |from: &str, to: &str, kind: &str| Edge { from: from.into(), to: to.into(), kind: kind.into() };
    let found = around_the_app(&[
        edge("nuvola-web", "nuvola-store", "normal"),
        edge("nuvola-web", "nuvola-store", "dev"),
        edge("nuvola-web", "nuvola-app", "normal"),
        edge("nuvola-api", "nuvola-store", "build"),
        edge("nuvola-api", "nuvola-drivers", "normal"),
        edge("nuvola-api", "nuvola-drivers", "dev"),
        edge("nuvola", "nuvola-store", "normal"),
    ]);
    assert_eq!(
        found,
        [
            "nuvola-web has a normal dependency on nuvola-store",
            "nuvola-api has a build dependency on nuvola-store",
            "nuvola-api has a normal dependency on nuvola-drivers",
        ]
    );
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
            "nuvola-store (2) has a dev dependency on nuvola-app (a higher layer)",
            "nuvola-api (7) has a dev dependency on nuvola-web (its own layer)",
        ]
    );
}
