//! Registration and access requests: a signed-in user asks to join a group
//! or to use a catalogue service, with a reason; the group's managers (or
//! an administrator; catalogue access: administrators) approve or reject
//! with a comment. The requester sees the decision in their list of
//! requests and, when they gave an address and SMTP is configured, by mail.
//!
//! Approving records the decision; group membership itself lives at the
//! identity provider, where the manager grants it.

use nuvola_store::RequestFilter;
use nuvola_types::{AccessRequest, Error, Principal, RequestKind, RequestStatus, Result};

use crate::App;

/// A new request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub kind: RequestKind,
    pub target: String,
    pub reason: String,
    pub email: Option<String>,
}

/// Longest reason or comment accepted.
const MAX_TEXT: usize = 4000;

impl App {
    /// Files a request for the caller.
    pub async fn create_request(&self, caller: &Principal, new: NewRequest) -> Result<AccessRequest> {
        match new.kind {
            RequestKind::Group if caller.in_group(&new.target) => {
                return Err(Error::conflict(format!("you are already a member of group {}", new.target)));
            }
            RequestKind::Group if new.target.trim().is_empty() => return Err(Error::invalid("name the group to join")),
            RequestKind::Group => {}
            RequestKind::Catalogue => {
                self.catalogue().get(&new.target)?;
            }
        }
        if new.reason.trim().is_empty() {
            return Err(Error::invalid("give a reason for the request"));
        }
        if new.reason.len() > MAX_TEXT {
            return Err(Error::invalid(format!("the reason is longer than {MAX_TEXT} bytes")));
        }
        if let Some(email) = &new.email
            && !nuvola_notify::plausible_address(email)
        {
            return Err(Error::invalid(format!("{email:?} is not an email address")));
        }
        let request = AccessRequest {
            id: uuid::Uuid::new_v4().to_string(),
            subject: caller.subject.clone(),
            issuer: caller.issuer.clone(),
            email: new.email,
            kind: new.kind,
            target: new.target,
            reason: new.reason,
            status: RequestStatus::Pending,
            created_at: self.now_ms(),
            ..Default::default()
        };
        self.store().insert_request(&request).await?;
        let detail = serde_json::json!({"kind": request.kind, "target": request.target});
        self.audit(caller, "request.create", &request.id, detail).await;
        Ok(request)
    }

    /// The requests the caller may see: their own; those about the groups
    /// they manage; all for administrators.
    pub async fn requests(&self, caller: &Principal, status: Option<RequestStatus>) -> Result<Vec<AccessRequest>> {
        let filter = RequestFilter {
            all: caller.admin,
            requester: Some((caller.subject.clone(), caller.issuer.clone())),
            groups: caller.manages.clone(),
            status,
        };
        Ok(self.store().requests(&filter).await?)
    }

    /// Approves or rejects a pending request, and tells the requester.
    pub async fn decide_request(
        &self,
        caller: &Principal,
        id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<AccessRequest> {
        let request = self.store().request(id).await?.ok_or_else(|| Error::not_found(format!("no request {id}")))?;
        let own = request.subject == caller.subject && request.issuer == caller.issuer;
        let may_decide = caller.admin || (request.kind == RequestKind::Group && caller.manages(&request.target));
        if !may_decide {
            return Err(if own {
                Error::Forbidden("you cannot decide your own request".into())
            } else {
                Error::not_found(format!("no request {id}"))
            });
        }
        if comment.len() > MAX_TEXT {
            return Err(Error::invalid(format!("the comment is longer than {MAX_TEXT} bytes")));
        }
        let status = if approve { RequestStatus::Approved } else { RequestStatus::Rejected };
        if !self.store().decide_request(id, status, &caller.qualified(), comment, self.now_ms()).await? {
            return Err(Error::conflict(format!("request {id} is already {}", request.status)));
        }
        self.audit(caller, "request.decide", id, serde_json::json!({"status": status})).await;
        let decided = self.store().request(id).await?.ok_or_else(|| Error::not_found(format!("no request {id}")))?;
        self.notify_decision(&decided);
        Ok(decided)
    }

    /// Mails the requester the decision, in the background.
    fn notify_decision(&self, r: &AccessRequest) {
        let Some(mail) = self.inner.notifier.request_decided(r) else { return };
        let id = r.id.clone();
        tokio::spawn(async move {
            match mail.await {
                Ok(()) => tracing::info!(request = %id, "decision mailed"),
                Err(e) => tracing::warn!(request = %id, error = %e, "could not mail the decision"),
            }
        });
    }
}
