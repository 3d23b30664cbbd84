//! The README's worked example of real providers parses and passes the
//! drivers' settings checks, so the documentation cannot drift from the
//! code.

use nuvola_types::ProviderSpec;

#[test]
fn the_readme_example_is_valid() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("A worked example: one OpenStack site").expect("the example is in the README");
    let block = &readme[start..];
    let toml_start = block.find("```toml\n").unwrap() + "```toml\n".len();
    let text = &block[toml_start..toml_start + block[toml_start..].find("```").unwrap()];
    #[derive(serde::Deserialize)]
    struct Config {
        providers: Vec<ProviderSpec>,
    }
    let config: Config = toml::from_str(text).unwrap();
    assert_eq!(config.providers.len(), 2);
    for spec in &config.providers {
        nuvola_drivers::check_remote(spec).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        nuvola_drivers::open_remote(spec, None).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
    }
}

#[test]
fn unknown_settings_are_refused_with_the_provider_name() {
    let spec: ProviderSpec = serde_json::from_value(serde_json::json!({
        "name": "site-x", "driver": "openstack", "endpoint": "http://127.0.0.1:5000/v3",
        "settings": {"username": "u", "password": "p", "colour": "blue"}
    }))
    .unwrap();
    let err = nuvola_drivers::check_remote(&spec).unwrap_err().to_string();
    assert!(err.contains("site-x") && err.contains("colour"), "{err}");
}
