//! Accounting, as the app runs it: the use cases are [`nuvola_usage`]'s;
//! here they get who a token stands for, the registry's providers of the
//! moment, the audit log, and the schedule of the own-usage pass and the
//! export (the broker's queue is consumed by the accounting itself).

use nuvola_types::{Principal, Result};
use nuvola_usage::{Accounting, AccountingSender, Exported, LoadReport};
use tokio::sync::watch;

impl crate::App {
    /// Accounting: ingest, views, jobs.
    pub fn accounting(&self) -> &Accounting {
        &self.inner.accounting
    }

    /// Who a bearer token sends accounting records as: a configured
    /// publisher's token, or a platform administrator's sign-in token.
    pub async fn accounting_sender(&self, bearer: Option<&str>) -> Result<AccountingSender> {
        if let Some(publisher) = self.accounting().publisher(bearer) {
            return Ok(AccountingSender::Publisher(publisher));
        }
        AccountingSender::admin(self.authenticate(bearer).await?)
    }

    /// One pass of recording nuvola's own usage, now, with the registry's
    /// providers.
    pub async fn record_own_usage(&self) -> Result<LoadReport> {
        self.accounting().record_own_usage(&self.federation().providers()).await
    }

    /// Exports the summaries to the configured destination now
    /// (administrators), and audits it.
    pub async fn export_accounting_now(&self, caller: &Principal) -> Result<Exported> {
        self.require_admin(caller)?;
        let (destination, exported) = self.accounting().export_now().await?;
        self.audit(caller, "accounting.export", &destination, serde_json::json!(exported)).await;
        Ok(exported)
    }

    /// Runs every accounting job the settings ask for until `shutdown`:
    /// the own-usage pass and the export every interval, the queue
    /// consumed as messages come.
    pub async fn run_accounting(&self, shutdown: watch::Receiver<bool>) {
        tokio::join!(
            self.run_own_usage(shutdown.clone()),
            self.accounting().run_queue(shutdown.clone()),
            self.run_accounting_export(shutdown),
        );
    }

    /// Records nuvola's own usage every interval until `shutdown`.
    async fn run_own_usage(&self, shutdown: watch::Receiver<bool>) {
        let settings = self.accounting().settings();
        if !settings.own_usage {
            return;
        }
        crate::every::every(settings.own_usage_interval, shutdown, || async {
            match self.record_own_usage().await {
                Ok(report) => tracing::debug!(?report, "own usage recorded"),
                Err(e) => tracing::error!(error = %e.logged(), "recording nuvola's own usage failed"),
            }
        })
        .await;
    }

    /// Exports the summaries every interval until `shutdown`, when an
    /// export is configured.
    async fn run_accounting_export(&self, shutdown: watch::Receiver<bool>) {
        let Some(broker) = &self.accounting().settings().broker else { return };
        if broker.export_destination.is_none() {
            return;
        }
        crate::every::every(broker.export_interval, shutdown, || async {
            match self.accounting().export_now().await {
                Ok((to, exported)) => tracing::info!(?exported, %to, "accounting summaries exported"),
                Err(e) => tracing::error!(error = %e.logged(), "exporting accounting summaries failed"),
            }
        })
        .await;
    }
}
