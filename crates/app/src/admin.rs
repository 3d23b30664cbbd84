//! Operators' views and controls: the federation registry (providers,
//! maintenance, export and import), the federation's inventory (every
//! resource each provider holds, to prove nothing leaked) and the
//! simulator's knobs (latency, failure rate, failing on command).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nuvola_drivers::Resource;
use nuvola_drivers::sim::SimSettings;
use nuvola_types::{Error, MaintenanceWindow, Principal, ProviderSpec, Result};
use serde_json::Value;

use crate::{App, Federation};

impl App {
    /// Every resource every provider holds, per provider. Admins only.
    pub async fn inventory(&self, caller: &Principal) -> Result<BTreeMap<String, Vec<Resource>>> {
        self.require_admin(caller)?;
        let mut all = BTreeMap::new();
        for spec in self.federation().providers().iter() {
            let driver = self.federation().driver(&spec.name)?;
            let held = tokio::time::timeout(self.settings().driver_call_timeout, driver.inventory())
                .await
                .map_err(|_| Error::internal(format!("provider {} did not answer in time", spec.name)))?
                .map_err(|e| e.on(&spec.name))?;
            all.insert(spec.name.clone(), held);
        }
        Ok(all)
    }

    /// Per group: how many of its deployments are not yet deleted, and
    /// everyone who ever deployed for it (sorted). Admins only.
    pub async fn group_members(&self, caller: &Principal) -> Result<BTreeMap<String, (i64, Vec<String>)>> {
        self.require_admin(caller)?;
        Ok(self.store().group_members().await?)
    }

    /// The settings of every simulated provider. Admins only.
    pub fn sim_settings(&self, caller: &Principal) -> Result<BTreeMap<String, SimSettings>> {
        self.require_admin(caller)?;
        Ok(self.federation().sims().iter().map(|(name, sim)| (name.clone(), sim.settings())).collect())
    }

    /// Changes some settings of a simulated provider: `patch` is a JSON
    /// object with the fields to change (`down` is `unavailable`, as
    /// operators say it). Admins only.
    pub async fn set_sim_settings(&self, caller: &Principal, provider: &str, patch: &Value) -> Result<SimSettings> {
        self.require_admin(caller)?;
        let sims = self.federation().sims();
        let sim = sims.get(provider).ok_or_else(|| {
            let known: Vec<&String> = sims.keys().collect();
            Error::not_found(format!("no simulated provider {provider:?} (simulated: {known:?})"))
        })?;
        let Value::Object(patch) = patch else {
            return Err(Error::invalid("send a JSON object with the settings to change"));
        };
        let mut merged = serde_json::to_value(sim.settings()).map_err(|e| Error::internal(e.to_string()))?;
        if let Value::Object(current) = &mut merged {
            for (key, value) in patch {
                let key = if key == "down" { "unavailable" } else { key.as_str() };
                current.insert(key.to_string(), value.clone());
            }
        }
        let settings: SimSettings =
            serde_json::from_value(merged).map_err(|e| Error::invalid(format!("simulator settings: {e}")))?;
        sim.set_settings(settings).map_err(|e| Error::invalid(e.to_string()))?;
        tracing::info!(provider, by = %caller.qualified(), "simulator settings changed");
        let now = sim.settings();
        self.audit(caller, "sim.settings", provider, Value::Object(patch.clone())).await;
        Ok(now)
    }
}

impl App {
    /// The registry as one document (every provider). Admins only.
    pub fn export_federation(&self, caller: &Principal) -> Result<Vec<ProviderSpec>> {
        self.require_admin(caller)?;
        Ok(self.federation().providers().as_ref().clone())
    }

    /// Replaces the registry with `providers`, atomically. A provider that
    /// would disappear while deployments still hold resources there is
    /// refused. Admins only.
    pub async fn import_federation(&self, caller: &Principal, providers: Vec<ProviderSpec>) -> Result<()> {
        self.require_admin(caller)?;
        let mut seen = std::collections::BTreeSet::new();
        for spec in &providers {
            Federation::check(spec)?;
            if !seen.insert(spec.name.clone()) {
                return Err(Error::invalid(format!("provider {} is defined twice", spec.name)));
            }
        }
        for old in self.federation().providers().iter() {
            if !seen.contains(&old.name) {
                self.check_unused(&old.name).await?;
            }
        }
        self.store().replace_providers(&providers).await?;
        self.reload_federation().await?;
        tracing::info!(by = %caller.qualified(), providers = providers.len(), "federation imported");
        let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        self.audit(caller, "federation.import", "federation", serde_json::json!({"providers": names})).await;
        Ok(())
    }

    /// Adds or replaces one provider. Admins only.
    pub async fn put_provider(&self, caller: &Principal, spec: ProviderSpec) -> Result<ProviderSpec> {
        self.require_admin(caller)?;
        Federation::check(&spec)?;
        self.store().put_provider(&spec).await?;
        self.reload_federation().await?;
        tracing::info!(by = %caller.qualified(), provider = %spec.name, "provider saved");
        self.audit(caller, "provider.put", &spec.name, serde_json::json!({"enabled": spec.enabled})).await;
        Ok(spec)
    }

    /// Changes some fields of a provider: `patch` is a JSON object whose
    /// keys replace the provider's (e.g. `{"enabled": false}` or
    /// `{"maintenance": [{"start": ..., "end": ..., "reason": ...}]}`).
    /// Admins only.
    pub async fn patch_provider(&self, caller: &Principal, name: &str, patch: &Value) -> Result<ProviderSpec> {
        self.require_admin(caller)?;
        let Value::Object(patch) = patch else {
            return Err(Error::invalid("send a JSON object with the fields to change"));
        };
        if patch.get("name").is_some_and(|n| n != name) {
            return Err(Error::invalid("a provider cannot be renamed; add a new one instead"));
        }
        let fields: Vec<&str> = patch.keys().map(String::as_str).collect();
        let saved = self
            .edit_provider(name, |current| {
                let mut merged = serde_json::to_value(&current).map_err(|e| Error::internal(e.to_string()))?;
                if let Value::Object(fields) = &mut merged {
                    fields.extend(patch.clone());
                }
                serde_json::from_value(merged).map_err(|e| Error::invalid(format!("provider {name}: {e}")))
            })
            .await?;
        tracing::info!(by = %caller.qualified(), provider = %name, fields = %fields.join(","), "provider changed");
        self.audit(caller, "provider.patch", name, serde_json::json!({"fields": fields, "enabled": saved.enabled}))
            .await;
        Ok(saved)
    }

    /// Schedules a maintenance window on a provider, beside the ones it
    /// has. Admins only.
    pub async fn add_maintenance(
        &self,
        caller: &Principal,
        name: &str,
        window: MaintenanceWindow,
    ) -> Result<ProviderSpec> {
        self.require_admin(caller)?;
        let audit = serde_json::json!({"start": window.start, "end": window.end, "reason": window.reason});
        let saved = self
            .edit_provider(name, |mut spec| {
                spec.maintenance.push(window);
                Ok(spec)
            })
            .await?;
        self.audit(caller, "provider.maintenance", name, audit).await;
        Ok(saved)
    }

    /// Removes the maintenance window of a provider that runs from `start`
    /// to `end`. Admins only.
    pub async fn remove_maintenance(
        &self,
        caller: &Principal,
        name: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<ProviderSpec> {
        self.require_admin(caller)?;
        let saved = self
            .edit_provider(name, |mut spec| {
                let before = spec.maintenance.len();
                spec.maintenance.retain(|w| (w.start, w.end) != (start, end));
                if spec.maintenance.len() == before {
                    return Err(Error::conflict(format!(
                        "provider {name} has no maintenance window from {start} to {end} (any more); reload the page"
                    )));
                }
                Ok(spec)
            })
            .await?;
        self.audit(caller, "provider.maintenance.remove", name, serde_json::json!({"start": start, "end": end})).await;
        Ok(saved)
    }

    /// Changes provider `name` with `edit` in one store transaction (so
    /// that two admins at once, on one server or several, lose nothing),
    /// checks the result before it is saved, and applies it.
    async fn edit_provider(
        &self,
        name: &str,
        edit: impl FnOnce(ProviderSpec) -> Result<ProviderSpec>,
    ) -> Result<ProviderSpec> {
        let saved = self
            .store()
            .update_provider(name, |current| {
                let spec = edit(current)?;
                Federation::check(&spec)?;
                Ok::<_, Error>(spec)
            })
            .await?
            .ok_or_else(|| unknown_provider(self, name))?;
        self.reload_federation().await?;
        Ok(saved)
    }

    /// Removes a provider that holds nothing for any deployment. Admins
    /// only (to stop using a provider that still holds resources, disable
    /// it instead).
    pub async fn delete_provider(&self, caller: &Principal, name: &str) -> Result<()> {
        self.require_admin(caller)?;
        self.federation().provider(name).ok_or_else(|| unknown_provider(self, name))?;
        self.check_unused(name).await?;
        self.store().delete_provider(name).await?;
        self.reload_federation().await?;
        tracing::info!(by = %caller.qualified(), provider = %name, "provider removed");
        self.audit(caller, "provider.delete", name, Value::Object(Default::default())).await;
        Ok(())
    }

    /// Re-reads the registry from the store into the running federation.
    pub async fn reload_federation(&self) -> Result<()> {
        let _ordered = self.inner.registry_reload.lock().await;
        let providers = self.store().providers().await?;
        // Opening a new provider's driver replays its journal from disk.
        let federation = self.federation().clone();
        tokio::task::spawn_blocking(move || federation.apply(providers))
            .await
            .map_err(|e| Error::internal_because("reloading the federation did not finish", e))?
    }

    async fn check_unused(&self, provider: &str) -> Result<()> {
        let holding = self.store().attempts_holding_on(provider).await?;
        if holding > 0 {
            return Err(Error::conflict(format!(
                "provider {provider} still holds resources of {holding} attempt(s); delete those deployments or disable the provider"
            )));
        }
        Ok(())
    }
}

pub(crate) fn unknown_provider(app: &App, name: &str) -> Error {
    Error::not_found(format!("no provider {name:?} (known: {})", app.federation().names()))
}
