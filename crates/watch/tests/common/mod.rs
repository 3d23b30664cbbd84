//! What the canary's tests share: a site in front of a real driver (the
//! simulator, Nova) that fails or waits on command, the way a cloud or a
//! crash would: a status call that never answers (its run is then cut
//! off), deletes refused, and a delete held until the test has looked at
//! the site.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use nuvola_drivers::update::{Footprint, UpdateSupport};
use nuvola_drivers::{AttemptState, DeleteState, Driver, DriverError, ProjectQuota, ProvisionRequest, Resource};
use tokio::sync::Notify;

/// `inner`, with faults and waits on command.
pub struct Steered {
    pub inner: Arc<dyn Driver>,
    /// Status calls never answer; `hung` says when one is waiting.
    pub hang_status: AtomicBool,
    pub hung: Notify,
    /// Deletes fail as a site that is down answers.
    pub refuse_deletes: AtomicBool,
    /// The next delete waits, saying so through `deleting`, until
    /// `go_on` is notified.
    pub hold_delete: AtomicBool,
    pub deleting: Notify,
    pub go_on: Notify,
}

impl Steered {
    pub fn new(inner: Arc<dyn Driver>) -> Steered {
        Steered {
            inner,
            hang_status: AtomicBool::new(false),
            hung: Notify::new(),
            refuse_deletes: AtomicBool::new(false),
            hold_delete: AtomicBool::new(false),
            deleting: Notify::new(),
            go_on: Notify::new(),
        }
    }
}

#[async_trait]
impl Driver for Steered {
    async fn create(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        self.inner.create(request).await
    }
    async fn status(&self, attempt_id: &str) -> Result<AttemptState, DriverError> {
        if self.hang_status.load(Ordering::SeqCst) {
            self.hung.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.status(attempt_id).await
    }
    async fn update(&self, request: &ProvisionRequest) -> Result<(), DriverError> {
        self.inner.update(request).await
    }
    fn update_support(&self) -> UpdateSupport {
        self.inner.update_support()
    }
    async fn footprint(&self, attempt_id: &str) -> Result<Footprint, DriverError> {
        self.inner.footprint(attempt_id).await
    }
    async fn delete(&self, attempt_id: &str) -> Result<DeleteState, DriverError> {
        if self.refuse_deletes.load(Ordering::SeqCst) {
            return Err(DriverError::unavailable("HTTP 503 after 3 tries").because("503 from 10.1.2.3:8774"));
        }
        if self.hold_delete.swap(false, Ordering::SeqCst) {
            self.deleting.notify_one();
            self.go_on.notified().await;
        }
        self.inner.delete(attempt_id).await
    }
    async fn resources(&self, attempt_id: &str) -> Result<Vec<Resource>, DriverError> {
        self.inner.resources(attempt_id).await
    }
    async fn inventory(&self) -> Result<Vec<Resource>, DriverError> {
        self.inner.inventory().await
    }
    async fn project_quota(&self, project: &str) -> Result<Option<ProjectQuota>, DriverError> {
        self.inner.project_quota(project).await
    }
    async fn probe(&self, project: Option<&str>) -> Vec<nuvola_drivers::Check> {
        self.inner.probe(project).await
    }
}
