//! The federation: every provider's description and the driver that talks
//! to it, built once from the configuration.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use nuvola_drivers::Driver;
use nuvola_drivers::sim::{SimDriver, SimSettings};
use nuvola_types::{Error, ProviderSpec, Result};

/// Providers and their drivers.
#[derive(Clone)]
pub struct Federation {
    providers: Vec<ProviderSpec>,
    drivers: BTreeMap<String, Arc<dyn Driver>>,
    sims: BTreeMap<String, Arc<SimDriver>>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").field("providers", &self.providers.len()).finish()
    }
}

impl Federation {
    /// Builds a driver for each provider. Simulated providers keep their
    /// state (their "cloud") under `state_dir/sim`, so that it survives a
    /// restart of nuvola like a real cloud would.
    pub fn open(providers: Vec<ProviderSpec>, state_dir: Option<&Path>) -> Result<Self> {
        let mut drivers: BTreeMap<String, Arc<dyn Driver>> = BTreeMap::new();
        let mut sims = BTreeMap::new();
        for spec in &providers {
            if drivers.contains_key(&spec.name) {
                return Err(Error::invalid(format!("provider {} is configured twice", spec.name)));
            }
            match spec.driver.as_str() {
                "sim" => {
                    let settings = SimSettings::from_spec(spec)
                        .map_err(|e| Error::invalid(format!("provider {}: {e}", spec.name)))?;
                    let dir = state_dir.map(|d| d.join("sim"));
                    let sim = Arc::new(
                        SimDriver::open(spec, settings, dir.as_deref())
                            .map_err(|e| Error::internal(format!("provider {}: {e}", spec.name)))?,
                    );
                    drivers.insert(spec.name.clone(), sim.clone());
                    sims.insert(spec.name.clone(), sim);
                }
                other => {
                    return Err(Error::invalid(format!(
                        "provider {}: unknown driver {other:?} (this build knows: sim)",
                        spec.name
                    )));
                }
            }
        }
        Ok(Self { providers, drivers, sims })
    }

    /// Every provider, in configuration order.
    pub fn providers(&self) -> &[ProviderSpec] {
        &self.providers
    }

    /// One provider by name.
    pub fn provider(&self, name: &str) -> Option<&ProviderSpec> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The driver of a provider.
    pub fn driver(&self, name: &str) -> Result<&Arc<dyn Driver>> {
        self.drivers.get(name).ok_or_else(|| Error::internal(format!("no driver for provider {name}")))
    }

    /// The simulated providers, for their admin controls.
    pub fn sims(&self) -> &BTreeMap<String, Arc<SimDriver>> {
        &self.sims
    }
}
