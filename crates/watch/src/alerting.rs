//! Alerts, as the watcher runs them: after each round, what the probes and
//! the quota readings found is fed to the pure alert engine
//! ([`nuvola_monitor::alerts`]), whose state (alerts, acknowledgements,
//! silences) is kept in the store between rounds and restarts; what it
//! decides to tell goes out by e-mail (operators, a group's managers) and
//! signed webhooks (operators'), each delivery written to the log of
//! notifications sent.

use std::collections::BTreeMap;

use nuvola_drivers::ProjectQuota;
use nuvola_monitor::alerts::{Alert, Dispatch, Engine, Matcher, Observation, Receiver, Rules, Scope, Silence};
use nuvola_notify::Mail;
use nuvola_notify::notices::AlertDigest;
use nuvola_types::{Error, ProviderSpec, RESOURCES, Result};

use crate::{ComponentStatus, Deliveries, Watch};

/// Who is told of alerts, and the rules' thresholds.
#[derive(Debug, Clone, Default)]
pub struct AlertSettings {
    pub rules: Rules,
    /// Operators' addresses: every alert.
    pub operators: Vec<String>,
    /// Operators' webhooks: every alert, signed with each one's secret.
    pub webhooks: Vec<Webhook>,
    /// Per group, its managers' addresses: the group's quota alerts.
    pub managers: BTreeMap<String, Vec<String>>,
}

/// A webhook receiving alerts.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    /// The HMAC key its deliveries are signed with.
    pub secret: String,
}

impl Watch {
    /// Feeds the round's findings to the engine and sends what it decides.
    pub(crate) async fn alert(
        &self,
        now: i64,
        statuses: &[ComponentStatus],
        site_quotas: &[(String, ProjectQuota)],
        providers: &[ProviderSpec],
    ) -> Result<()> {
        let mut observations: Vec<Observation> = statuses
            .iter()
            .filter(|s| !s.checks.is_empty())
            .map(|s| Observation::Probe {
                target: s.component.id.clone(),
                site: s.component.provider.clone(),
                ok: s.checks.iter().all(|c| c.ok),
                latency_ms: s.checks.iter().map(crate::canary::judged).max().unwrap_or(0),
            })
            .collect();
        for (site, quota) in site_quotas {
            let amounts = RESOURCES.iter().zip(quota.used.amounts()).zip(quota.limits.limits());
            for (((resource, _), used), limit) in amounts {
                let Some(limit) = limit else { continue };
                observations.push(Observation::Quota {
                    scope: Scope::Site(site.clone()),
                    resource: (*resource).to_string(),
                    used: used as f64,
                    limit: limit as f64,
                });
            }
        }
        let held = self.inner.store.held_everywhere().await?;
        for (group, provider, usage) in held {
            let Some(grant) = providers.iter().find(|p| p.name == provider).and_then(|p| p.groups.get(&group)) else {
                continue;
            };
            let amounts = RESOURCES.iter().zip(usage.amounts()).zip(grant.quota.limits());
            for (((resource, _), used), limit) in amounts {
                let Some(limit) = limit else { continue };
                observations.push(Observation::Quota {
                    scope: Scope::Group(group.clone()),
                    resource: format!("{resource} on {provider}"),
                    used: used as f64,
                    limit: limit as f64,
                });
            }
        }
        let dispatches = self.with_engine(now, |engine| Ok(engine.step(now, &observations))).await?;
        for dispatch in dispatches {
            self.send(now, dispatch);
        }
        Ok(())
    }

    /// Every alert the engine lists: pending, firing, recently resolved.
    pub async fn alerts(&self) -> Result<Vec<Alert>> {
        let state = self.inner.engine.lock().await;
        match &*state {
            Some(engine) => Ok(engine.alerts().cloned().collect()),
            None => Ok(self.load_engine().await?.alerts().cloned().collect()),
        }
    }

    /// The silences in force or to come.
    pub async fn silences(&self) -> Result<Vec<Silence>> {
        let state = self.inner.engine.lock().await;
        match &*state {
            Some(engine) => Ok(engine.silences().to_vec()),
            None => Ok(self.load_engine().await?.silences().to_vec()),
        }
    }

    /// Acknowledges firing alert `key` for `by`: it is not told again
    /// until it resolves.
    pub async fn acknowledge(&self, key: &str, by: &str, now: i64) -> Result<()> {
        self.with_engine(now, |engine| engine.acknowledge(key, by).map_err(|e| Error::invalid(e.to_string()))).await
    }

    /// Silences the alerts whose labels match every `label=value` (or
    /// `label!=value`) of `matchers` over `[starts_at, ends_at)`.
    pub async fn silence(
        &self,
        matchers: &[String],
        starts_at: i64,
        ends_at: i64,
        by: &str,
        comment: &str,
        now: i64,
    ) -> Result<String> {
        let matchers = matchers.iter().map(|m| matcher(m)).collect::<Result<Vec<Matcher>>>()?;
        if matchers.is_empty() {
            return Err(Error::invalid("a silence needs at least one matcher, like site=recas-bari"));
        }
        if ends_at <= starts_at {
            return Err(Error::invalid("a silence must end after it starts"));
        }
        let id = format!("silence-{}", uuid::Uuid::new_v4().simple());
        let silence = Silence {
            id: id.clone(),
            matchers,
            starts_at,
            ends_at,
            created_by: by.to_string(),
            comment: comment.to_string(),
        };
        self.with_engine(now, |engine| {
            engine.silence(silence);
            Ok(())
        })
        .await?;
        Ok(id)
    }

    /// Ends silence `id` now.
    pub async fn unsilence(&self, id: &str, now: i64) -> Result<()> {
        self.with_engine(now, |engine| {
            if engine.unsilence(id) { Ok(()) } else { Err(Error::not_found(format!("no silence {id}"))) }
        })
        .await
    }

    /// Runs `change` on the engine (loaded from the store the first time)
    /// and keeps its new state.
    async fn with_engine<T>(&self, now: i64, change: impl FnOnce(&mut Engine) -> Result<T>) -> Result<T> {
        let mut state = self.inner.engine.lock().await;
        if state.is_none() {
            *state = Some(self.load_engine().await?);
        }
        let engine = state.as_mut().expect("loaded");
        let out = change(engine)?;
        let kept = serde_json::to_value(&*engine).map_err(|e| Error::internal_because("cannot keep the alerts", e))?;
        self.inner.store.save_alert_engine_state(&kept, now).await?;
        Ok(out)
    }

    /// The engine as last kept, with the configured rules (which may have
    /// changed since); a new one if none was kept or it cannot be read.
    async fn load_engine(&self) -> Result<Engine> {
        let rules = self.inner.settings.alerts.rules.clone();
        let Some((kept, _)) = self.inner.store.alert_engine_state().await? else {
            return Ok(Engine::new(rules));
        };
        match serde_json::from_value::<Engine>(kept) {
            Ok(engine) => Ok(engine.with_rules(rules)),
            Err(e) => {
                tracing::error!(error = %e, "the alert engine's kept state cannot be read: starting afresh");
                Ok(Engine::new(rules))
            }
        }
    }

    /// Sends `dispatch` to its receiver's addresses and webhooks, in the
    /// background; each delivery leaves one line in the log per alert it
    /// told, so each alert's history of notifications reads from it.
    fn send(&self, now: i64, dispatch: Dispatch) {
        let settings = &self.inner.settings.alerts;
        let addresses: Vec<String> = match &dispatch.receiver {
            Receiver::Operators => settings.operators.clone(),
            Receiver::Managers(group) => settings.managers.get(group).cloned().unwrap_or_default(),
        };
        let hooks = if dispatch.receiver == Receiver::Operators { settings.webhooks.clone() } else { Vec::new() };
        let keys: Vec<String> = dispatch.alerts.iter().map(|a| a.key.clone()).collect();
        let event = serde_json::json!({"type": "alerts", "dispatch": dispatch});
        let mail = Mail::Alerts(AlertDigest { alerts_url: format!("{}/admin/alerts", self.public_url()), dispatch });
        let (subject, _) = mail.render();
        let mut deliveries = Deliveries::new(self.inner.store.clone());
        for to in &addresses {
            deliveries.mail_about(&self.inner.notifier, to, &mail, &keys, now);
        }
        for hook in &hooks {
            deliveries.signed(&self.inner.notifier, hook, &event, &subject, &keys, now);
        }
        deliveries.spawn(self);
    }
}

/// `label=value` or `label!=value`.
fn matcher(text: &str) -> Result<Matcher> {
    let (name, value, equal) = match text.split_once("!=") {
        Some((name, value)) => (name, value, false),
        None => match text.split_once('=') {
            Some((name, value)) => (name, value, true),
            None => return Err(Error::invalid(format!("matcher {text:?} is not label=value or label!=value"))),
        },
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::invalid(format!("matcher {text:?}: {name:?} is not a label name")));
    }
    Ok(Matcher { name: name.to_string(), value: value.to_string(), equal })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_read_as_alertmanager_writes_them() {
        assert_eq!(
            matcher("site=recas-bari").unwrap(),
            Matcher { name: "site".into(), value: "recas-bari".into(), equal: true }
        );
        assert!(!matcher(" alertname != exhaustion ").unwrap().equal);
        assert_eq!(matcher("site").unwrap_err().to_string(), "matcher \"site\" is not label=value or label!=value");
        assert!(matcher("si te=x").is_err());
    }
}
