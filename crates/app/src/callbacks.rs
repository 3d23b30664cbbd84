//! Deployment callbacks as the app sends them: once a deployment is final,
//! the [`nuvola_notify::Notifier`] delivers it in the background and its
//! outcome goes to the deployment's log.

use nuvola_types::DeploymentRecord;

use crate::App;

impl App {
    /// Delivers `d`'s callback in the background, if it has one.
    pub(crate) fn send_callback(&self, d: &DeploymentRecord) {
        let Some(delivery) = self.inner.notifier.deployment_finished(d) else { return };
        let (store, id) = (self.store().clone(), d.id.clone());
        tokio::spawn(async move {
            let outcome = delivery.await;
            tracing::info!(deployment = %id, "{outcome}");
            if let Err(e) = store.append_log(&id, &outcome).await {
                tracing::error!(deployment = %id, error = %e, "cannot log the callback outcome");
            }
        });
    }
}
