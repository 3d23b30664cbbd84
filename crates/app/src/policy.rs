//! The acceptable-use policy (terms of use): administrators publish
//! versioned texts; a user must accept the current version before their
//! first deployment and again after every change. Acceptances are kept
//! with their time and version.

use nuvola_store::Policy;
use nuvola_types::{Error, Principal, Result, now_ms};

use crate::App;

/// Longest policy text accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

impl App {
    /// The current policy and when the caller accepted it (`None` inside:
    /// not yet); `None` when no policy was ever published.
    pub async fn policy(&self, caller: &Principal) -> Result<Option<(Policy, Option<i64>)>> {
        let Some(policy) = self.store().current_policy().await? else { return Ok(None) };
        let accepted = self.store().policy_accepted_at(&caller.subject, &caller.issuer, policy.version).await?;
        Ok(Some((policy, accepted)))
    }

    /// Publishes a new version (administrators only); everyone must accept
    /// it before their next deployment.
    pub async fn publish_policy(&self, caller: &Principal, text: &str) -> Result<Policy> {
        self.require_admin(caller)?;
        if text.trim().is_empty() {
            return Err(Error::invalid("the policy text is empty"));
        }
        if text.len() > MAX_POLICY_BYTES {
            return Err(Error::invalid(format!("the policy is {} bytes; the limit is {MAX_POLICY_BYTES}", text.len())));
        }
        let policy = self.store().publish_policy(text, &caller.qualified(), now_ms()).await?;
        self.audit(caller, "policy.publish", &format!("policy/{}", policy.version), serde_json::json!({})).await;
        Ok(policy)
    }

    /// Records the caller's acceptance of `version`, which must be the
    /// current one; returns when it was accepted.
    pub async fn accept_policy(&self, caller: &Principal, version: i64) -> Result<i64> {
        let current = self.store().current_policy().await?.ok_or_else(|| Error::not_found("no policy is published"))?;
        if version != current.version {
            return Err(Error::conflict(format!(
                "version {version} is not the current policy; read version {} at GET /api/v1/policy and accept that",
                current.version
            )));
        }
        let store = self.store();
        if let Some(at) = store.policy_accepted_at(&caller.subject, &caller.issuer, version).await? {
            return Ok(at);
        }
        let at = now_ms();
        store.accept_policy(&caller.subject, &caller.issuer, version, at).await?;
        self.audit(caller, "policy.accept", &format!("policy/{version}"), serde_json::json!({})).await;
        Ok(at)
    }

    /// Refuses callers who have not accepted the current policy.
    pub(crate) async fn require_policy_accepted(&self, caller: &Principal) -> Result<()> {
        match self.policy(caller).await? {
            Some((policy, None)) => Err(Error::Forbidden(format!(
                "accept the acceptable-use policy (version {}) first: read it at GET /api/v1/policy, then \
                 POST /api/v1/policy/accept {{\"version\": {}}}",
                policy.version, policy.version
            ))),
            _ => Ok(()),
        }
    }
}
