//! Who may see and change what: the one place where roles apply.
//!
//! | role | sees | changes (update, delete, reset) |
//! |---|---|---|
//! | member of G | own deployments; all of G's when G's setting `members_see_group` is on | own deployments |
//! | manager of G | all of G's | all of G's; G's settings |
//! | platform admin | everything | everything; every group's settings, the federation, the simulators |
//!
//! A deployment the caller may not see is "not found" (its existence is not
//! revealed); one they may see but not change is "forbidden". Listings put
//! the same rule in their SQL ([`nuvola_store::Visible`]), so nothing
//! invisible is returned or counted.

use nuvola_store::{AuditEntry, GroupSettings, Visible};
use nuvola_types::{DeploymentRecord, Error, Principal, Result};
use serde_json::Value;

use crate::App;

/// What a request wants to do with a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Change,
}

impl App {
    /// What the caller may see: `None` for everything (administrators).
    pub async fn visibility(&self, caller: &Principal) -> Result<Option<Visible>> {
        if caller.admin {
            return Ok(None);
        }
        let mut groups = caller.manages.clone();
        for g in self.store().groups_visible_to_members(&caller.groups).await? {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        groups.sort();
        Ok(Some(Visible { subject: caller.subject.clone(), issuer: caller.issuer.clone(), groups }))
    }

    /// Checks that the caller may `access` the deployment: `NotFound` when
    /// they may not even see it, `Forbidden` when they may see, not change.
    pub(crate) async fn authorize_deployment(
        &self,
        caller: &Principal,
        d: &DeploymentRecord,
        access: Access,
    ) -> Result<()> {
        if caller.admin || d.is_owned_by(caller) || caller.manages(&d.user_group) {
            return Ok(());
        }
        let sees =
            caller.in_group(&d.user_group) && self.store().group_settings(&d.user_group).await?.members_see_group;
        match (sees, access) {
            (true, Access::Read) => Ok(()),
            (true, Access::Change) => Err(Error::Forbidden(format!(
                "deployment {} belongs to {}; only they, a manager of group {} or an administrator may change it",
                d.id, d.owner_subject, d.user_group
            ))),
            (false, _) => Err(Error::not_found(format!("no deployment {}", d.id))),
        }
    }

    /// A group's settings: for its members, managers and administrators.
    pub async fn group_settings(&self, caller: &Principal, group: &str) -> Result<GroupSettings> {
        if !(caller.admin || caller.manages(group) || caller.in_group(group)) {
            return Err(Error::Forbidden(format!("you are not a member of group {group:?}")));
        }
        Ok(self.store().group_settings(group).await?)
    }

    /// Changes a group's settings: for its managers and administrators.
    pub async fn set_group_settings(
        &self,
        caller: &Principal,
        group: &str,
        members_see_group: bool,
    ) -> Result<GroupSettings> {
        if !(caller.admin || caller.manages(group)) {
            return Err(Error::Forbidden(format!(
                "only a manager of group {group:?} or an administrator may change its settings"
            )));
        }
        let settings = GroupSettings {
            name: group.to_string(),
            members_see_group,
            updated_by: caller.qualified(),
            updated_at: self.now_ms(),
        };
        self.store().put_group_settings(&settings).await?;
        self.audit(caller, "group.settings", group, serde_json::json!({"members_see_group": members_see_group})).await;
        Ok(settings)
    }

    /// Records a state-changing action in the audit log. A failure to
    /// record is logged, not returned: the action has happened.
    pub async fn audit(&self, caller: &Principal, action: &str, target: &str, detail: Value) {
        let entry = AuditEntry {
            seq: 0,
            at: self.now_ms(),
            subject: caller.subject.clone(),
            issuer: caller.issuer.clone(),
            action: action.to_string(),
            target: target.to_string(),
            detail,
            client_ip: caller.client_ip.clone(),
        };
        if let Err(e) = self.store().record_audit(&entry).await {
            tracing::error!(error = %e, action, target, "could not record an audit entry");
        }
    }

    /// Audit entries (administrators only), newest first.
    pub async fn audit_log(&self, caller: &Principal, filter: &nuvola_store::AuditFilter) -> Result<Vec<AuditEntry>> {
        self.require_admin(caller)?;
        if filter.limit < 1 || filter.limit > 10_000 {
            return Err(Error::invalid("limit must be between 1 and 10000"));
        }
        Ok(self.store().audit(filter).await?)
    }
}
