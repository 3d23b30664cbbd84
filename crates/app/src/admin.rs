//! Operators' views and controls: the federation's inventory (every
//! resource each provider holds, to prove nothing leaked) and the
//! simulator's knobs (latency, failure rate, failing on command).

use std::collections::BTreeMap;

use nuvola_drivers::Resource;
use nuvola_drivers::sim::SimSettings;
use nuvola_types::{Error, Principal, Result};
use serde_json::Value;

use crate::App;

impl App {
    /// Every resource every provider holds, per provider. Admins only.
    pub async fn inventory(&self, caller: &Principal) -> Result<BTreeMap<String, Vec<Resource>>> {
        self.require_admin(caller)?;
        let mut all = BTreeMap::new();
        for spec in self.federation().providers() {
            let driver = self.federation().driver(&spec.name)?;
            let held = tokio::time::timeout(self.settings().driver_call_timeout, driver.inventory())
                .await
                .map_err(|_| Error::internal(format!("provider {} did not answer in time", spec.name)))?
                .map_err(|e| Error::internal(format!("provider {}: {e}", spec.name)))?;
            all.insert(spec.name.clone(), held);
        }
        Ok(all)
    }

    /// The settings of every simulated provider. Admins only.
    pub fn sim_settings(&self, caller: &Principal) -> Result<BTreeMap<String, SimSettings>> {
        self.require_admin(caller)?;
        Ok(self.federation().sims().iter().map(|(name, sim)| (name.clone(), sim.settings())).collect())
    }

    /// Changes some settings of a simulated provider: `patch` is a JSON
    /// object with the fields to change. Admins only.
    pub fn set_sim_settings(&self, caller: &Principal, provider: &str, patch: &Value) -> Result<SimSettings> {
        self.require_admin(caller)?;
        let sim = self.federation().sims().get(provider).ok_or_else(|| {
            let known: Vec<&String> = self.federation().sims().keys().collect();
            Error::not_found(format!("no simulated provider {provider:?} (simulated: {known:?})"))
        })?;
        let Value::Object(patch) = patch else {
            return Err(Error::invalid("send a JSON object with the settings to change"));
        };
        let mut merged = serde_json::to_value(sim.settings()).map_err(|e| Error::internal(e.to_string()))?;
        if let Value::Object(current) = &mut merged {
            current.extend(patch.clone());
        }
        let settings: SimSettings =
            serde_json::from_value(merged).map_err(|e| Error::invalid(format!("simulator settings: {e}")))?;
        sim.set_settings(settings).map_err(|e| Error::invalid(e.to_string()))?;
        tracing::info!(provider, by = %caller.qualified(), "simulator settings changed");
        Ok(sim.settings())
    }
}
