//! The federation as the running server sees it: every provider's
//! description (from the registry in the store) and the driver that talks
//! to it. The registry can change at run time (admin edits, imports, a
//! changed configuration file): [`Federation::apply`] brings the drivers
//! along, creating them for new providers and updating the simulated
//! sites' offers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use nuvola_drivers::Driver;
use nuvola_drivers::sim::{SimDriver, SimSettings};
use nuvola_types::{DriverKind, Error, ProviderSpec, Result};

/// Providers and their drivers; cheap to clone.
#[derive(Clone)]
pub struct Federation {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where simulated sites keep their journals.
    state_dir: Option<PathBuf>,
    providers: RwLock<Arc<Vec<ProviderSpec>>>,
    drivers: RwLock<BTreeMap<String, Arc<dyn Driver>>>,
    sims: RwLock<BTreeMap<String, SimDriver>>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").field("providers", &self.providers().len()).finish()
    }
}

impl Federation {
    /// A federation of `providers`. Simulated providers keep their state
    /// (their "cloud") under `state_dir/sim`, so that it survives a restart
    /// of nuvola like a real cloud would.
    pub fn open(providers: Vec<ProviderSpec>, state_dir: Option<&Path>) -> Result<Self> {
        let federation = Federation {
            inner: Arc::new(Inner {
                state_dir: state_dir.map(|d| d.join("sim")),
                providers: RwLock::new(Arc::new(Vec::new())),
                drivers: RwLock::new(BTreeMap::new()),
                sims: RwLock::new(BTreeMap::new()),
            }),
        };
        federation.apply(providers)?;
        Ok(federation)
    }

    /// Checks one provider description: a usable name, a known driver, and
    /// settings that driver accepts.
    pub fn check(spec: &ProviderSpec) -> Result<()> {
        let name_ok = !spec.name.is_empty()
            && spec.name.len() <= 64
            && spec.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !spec.name.starts_with('.');
        if !name_ok {
            return Err(Error::invalid(format!(
                "provider name {:?}: use 1 to 64 letters, digits, '-', '_' or '.'",
                spec.name
            )));
        }
        if let Some(w) = spec.maintenance.iter().find(|w| w.end <= w.start) {
            return Err(Error::invalid(format!(
                "provider {}: the maintenance window from {} to {} must end after it starts",
                spec.name, w.start, w.end
            )));
        }
        match spec.driver {
            DriverKind::Sim => SimSettings::from_spec(spec).map(|_| ()).map_err(|e| Error::invalid(format!("{e}"))),
            DriverKind::Im | DriverKind::Openstack => {
                nuvola_drivers::check_remote(spec).map_err(|e| Error::invalid(e.to_string()))
            }
        }
    }

    /// Makes `providers` the federation: checks them all first (nothing
    /// changes if one is wrong), then opens drivers for new providers and
    /// hands changed descriptions to existing ones. Drivers of providers
    /// that left stay open: deployments there still need them to delete.
    pub fn apply(&self, providers: Vec<ProviderSpec>) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for spec in &providers {
            Self::check(spec)?;
            if !seen.insert(&spec.name) {
                return Err(Error::invalid(format!("provider {} is defined twice", spec.name)));
            }
        }
        {
            let mut drivers = self.inner.drivers.write().expect("drivers lock");
            let mut sims = self.inner.sims.write().expect("sims lock");
            let before = self.providers();
            for spec in &providers {
                if spec.driver.is_remote() {
                    // Real clouds: (re)open the driver when its description changed.
                    if !drivers.contains_key(&spec.name) || !before.iter().any(|b| b == spec) {
                        let dir = self.inner.state_dir.as_deref().and_then(Path::parent);
                        let driver = nuvola_drivers::open_remote(spec, dir).map_err(|e| e.on(&spec.name))?;
                        drivers.insert(spec.name.clone(), driver);
                    }
                    continue;
                }
                if let Some(sim) = sims.get(&spec.name) {
                    sim.set_spec(spec).map_err(|e| sim_failed(&spec.name, e))?;
                    continue;
                }
                let settings = SimSettings::from_spec(spec).map_err(|e| Error::invalid(e.to_string()))?;
                let sim = SimDriver::open(spec, settings, self.inner.state_dir.as_deref())
                    .map_err(|e| sim_failed(&spec.name, e))?;
                drivers.insert(spec.name.clone(), Arc::new(sim.clone()));
                sims.insert(spec.name.clone(), sim);
            }
        }
        *self.inner.providers.write().expect("providers lock") = Arc::new(providers);
        Ok(())
    }

    /// Every provider, in registry order.
    pub fn providers(&self) -> Arc<Vec<ProviderSpec>> {
        self.inner.providers.read().expect("providers lock").clone()
    }

    /// One provider by name.
    pub fn provider(&self, name: &str) -> Option<ProviderSpec> {
        self.providers().iter().find(|p| p.name == name).cloned()
    }

    /// The providers' names, comma-separated, for messages.
    pub fn names(&self) -> String {
        self.providers().iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// The driver of a provider (also of one that left the registry).
    pub fn driver(&self, name: &str) -> Result<Arc<dyn Driver>> {
        self.inner
            .drivers
            .read()
            .expect("drivers lock")
            .get(name)
            .cloned()
            .ok_or_else(|| Error::internal(format!("no driver for provider {name}")))
    }

    /// Puts `driver` in front of provider `name` in place of its own (tests
    /// wrap a simulated site to fail chosen calls).
    #[cfg(test)]
    pub(crate) fn set_driver(&self, name: &str, driver: Arc<dyn Driver>) {
        self.inner.drivers.write().expect("drivers lock").insert(name.to_string(), driver);
    }

    /// The simulated providers, for their admin controls.
    pub fn sims(&self) -> BTreeMap<String, SimDriver> {
        self.inner.sims.read().expect("sims lock").clone()
    }
}

/// A provider as a caller may see it: its offer, the grants of the
/// caller's groups (all grants for an admin) and what those groups hold
/// there now. Driver settings are left out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProviderView {
    #[serde(flatten)]
    pub spec: ProviderSpec,
    /// Per group: what its deployments hold on this provider.
    pub usage: BTreeMap<String, nuvola_types::Usage>,
}

impl crate::App {
    /// The providers, with the grants and usage the caller may see.
    pub async fn visible_providers(&self, caller: &nuvola_types::Principal) -> Result<Vec<ProviderView>> {
        let providers = self.federation().providers();
        let mut views = Vec::with_capacity(providers.len());
        let mut held: BTreeMap<String, Vec<(String, nuvola_types::Usage)>> = BTreeMap::new();
        for spec in providers.iter() {
            let mut spec = spec.clone();
            spec.settings = None;
            if !caller.admin {
                spec.groups.retain(|g, _| caller.in_group(g));
            }
            let mut usage = BTreeMap::new();
            for group in spec.groups.keys() {
                if !held.contains_key(group) {
                    held.insert(group.clone(), self.store().held_by_group(group).await?);
                }
                let total = held[group]
                    .iter()
                    .filter(|(p, _)| *p == spec.name)
                    .fold(nuvola_types::Usage::default(), |sum, (_, u)| sum.plus(*u));
                usage.insert(group.clone(), total);
            }
            views.push(ProviderView { spec, usage });
        }
        Ok(views)
    }
}

/// What a user reads when the simulator cannot take provider `name`: the
/// setting that is wrong, or only that its state folder failed (the path
/// and the I/O error are for the log).
fn sim_failed(name: &str, e: nuvola_drivers::sim::SimError) -> Error {
    use nuvola_drivers::sim::SimError;
    match e {
        SimError::Io { .. } => {
            Error::internal_because(format!("provider {name}: the simulator cannot keep its state"), e)
        }
        other => Error::invalid(format!("provider {name}: {other}")),
    }
}
