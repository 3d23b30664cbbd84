//! What the app tells Prometheus: deployments by status, provider and
//! group, and the workflow's queue. The API adds its own (HTTP requests)
//! and answers the scrape.

use nuvola_monitor::openmetrics::Exposition;
use nuvola_types::Result;

use crate::App;

impl App {
    /// Writes the app's metric families into `out`.
    pub async fn metrics(&self, out: &mut Exposition) -> Result<()> {
        let counts = self.store().count_by_status_provider_group().await?;
        let labels: Vec<[(&str, &str); 3]> = counts
            .iter()
            .map(|(status, provider, group, _)| {
                [("status", status.as_str()), ("provider", provider.as_deref().unwrap_or("")), ("group", group)]
            })
            .collect();
        let samples: Vec<_> = labels.iter().zip(&counts).map(|(l, c)| (&l[..], c.3 as f64)).collect();
        out.gauge(
            "nuvola_deployments",
            "Deployments by status, provider (empty before placement) and group.",
            &samples,
        );
        let (due, waited_ms) = self.store().due_work(self.now_ms()).await?;
        out.gauge("nuvola_workflow_due_steps", "Workflow steps due now and not yet run.", &[(&[], due as f64)]);
        out.gauge(
            "nuvola_workflow_lag_seconds",
            "How long the oldest due workflow step has waited.",
            &[(&[], waited_ms.unwrap_or(0) as f64 / 1000.0)],
        );
        Ok(())
    }
}
