//! Accounting's background work: nuvola's own usage recorded as it accrues,
//! the sites' records consumed from a message broker as SSM delivers them,
//! and the monthly summaries sent upstream as a site's APEL client sends
//! them.
//!
//! - **Own usage**: every pass gathers the records of what nuvola ran
//!   ([`Accounting::usage_records`]) and loads them as source `nuvola`, so they are
//!   summarised like any site's. Records are cumulative per VM, as cASO's
//!   are, and a month's figures are deltas against the VM's month before,
//!   so the first pass of a process gathers every month there is, later
//!   ones the previous month on. Providers whose own cASO reports their
//!   usage (`site_reported`) are left out, so nothing counts twice.
//! - **Queue**: one STOMP subscription; each message is read and checked
//!   as [`Accounting::ingest`] does, and those the broker has delivered
//!   together (up to [`QUEUE_BATCH`]) are stored in one load, then
//!   acknowledged. A message that is refused (it does not read, or holds a site its sender may not
//!   send) is moved to the refused queue with the reason in a header and
//!   acknowledged: sending it again would change nothing. One that could
//!   not be stored (the database failed) is given back to the broker, which
//!   delivers it again after a pause.
//! - **Export**: the cloud summaries (`APEL-cloud-summary-message: v0.4`)
//!   and accelerator summaries of the current and the previous month, in
//!   messages of at most [`SUMMARIES_PER_MESSAGE`], sent with a receipt.
//!
//! The app runs the own-usage pass and the export on its schedule (the
//! former with the federation's providers of the moment); the queue is
//! consumed here, for as long as the process runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nuvola_accounting::{accelerator, cloud_summary};
use nuvola_drivers::stomp::{Client, Delivery};
use nuvola_store::{LoadReport, UsageFilter};
use nuvola_types::{Error, ProviderSpec, Result};
use tokio::sync::watch;

use crate::views::Month;
use crate::{Accounting, AccountingPublisher, AccountingSender};

/// Summaries per exported message, as APEL's client batches them.
pub const SUMMARIES_PER_MESSAGE: usize = 1000;

/// Queue messages stored in one load at most: the first that arrives and
/// what the broker has delivered ahead of it (at most its prefetch, 100),
/// so that a backlog costs one summary recompute per batch, not per
/// message.
pub const QUEUE_BATCH: usize = 100;

/// The source nuvola's own usage records are stored under.
pub const OWN_SOURCE: &str = "nuvola";

/// How accounting's background work runs.
#[derive(Debug, Clone)]
pub struct AccountingSettings {
    /// Whether nuvola records its own usage.
    pub own_usage: bool,
    /// How often it does.
    pub own_usage_interval: Duration,
    /// Providers whose usage their own cASO reports: nuvola does not
    /// record its own for them.
    pub site_reported: Vec<String>,
    /// The broker records come from and summaries go to, if any.
    pub broker: Option<AccountingBroker>,
    /// The sites' publishers of accounting records, known by their tokens.
    pub publishers: Vec<AccountingPublisher>,
}

impl Default for AccountingSettings {
    fn default() -> Self {
        Self {
            own_usage: true,
            own_usage_interval: Duration::from_secs(300),
            site_reported: Vec::new(),
            broker: None,
            publishers: Vec::new(),
        }
    }
}

/// A STOMP broker of accounting messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingBroker {
    /// `stomp://LOGIN:PASSCODE@HOST:PORT/VHOST`.
    pub url: String,
    /// Where the sites' messages are consumed from; none: no consumer.
    pub queue: Option<String>,
    /// The publisher (by name) whose sites the queue's messages may hold;
    /// none: any site (the broker's credentials are the trust).
    pub queue_publisher: Option<String>,
    /// Where refused messages go, with the reason in `nuvola-refused`.
    pub refused_queue: String,
    /// Where summaries are sent; none: no export.
    pub export_destination: Option<String>,
    /// How often they are.
    pub export_interval: Duration,
}

/// What the queue consumer did since the process started.
#[derive(Debug, Default)]
pub struct QueueCounts {
    stored: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

impl QueueCounts {
    /// Messages stored, refused (moved to the refused queue) and given back
    /// after a failure to store them.
    pub fn get(&self) -> (u64, u64, u64) {
        (self.stored.load(Ordering::Relaxed), self.refused.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

/// What one batch of the queue's messages came to.
#[derive(Debug, Default)]
pub struct Consumed {
    /// Messages stored (or already stored: nothing changed), in one load.
    pub stored: usize,
    /// What their load stored.
    pub report: LoadReport,
    /// Why each refused message was refused (each moved to the refused
    /// queue).
    pub refused: Vec<String>,
    /// Why messages were not stored, given back to the broker.
    pub failed: Vec<String>,
}

/// What one export sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Exported {
    pub messages: usize,
    pub cloud_summaries: usize,
    pub accelerator_summaries: usize,
}

impl Accounting {
    /// What the queue consumer did since the process started.
    pub fn queue_counts(&self) -> &QueueCounts {
        &self.inner.queue
    }

    /// One pass of recording nuvola's own usage, now, on the federation's
    /// `providers`.
    pub async fn record_own_usage(&self, providers: &[ProviderSpec]) -> Result<LoadReport> {
        let complete = &self.inner.own_usage_complete;
        let now = self.now_ms();
        let from = if complete.load(Ordering::Acquire) { previous_month_start_ms(now) } else { i64::MIN / 2 };
        let mut records = self.usage_records(providers, from, now + 1).await?;
        let reported = &self.settings().site_reported;
        records.cloud.retain(|r| !reported.iter().any(|s| *s == r.site_name));
        records.accelerators.retain(|r| !reported.contains(&r.site_name));
        records.public_ips.retain(|r| !reported.contains(&r.site_name));
        records.storage.retain(|r| r.site.as_ref().is_none_or(|s| !reported.contains(s)));
        let mut load = self.store().begin_accounting_load(OWN_SOURCE, now).await?;
        load.cloud(records.cloud).await?;
        load.accelerators(&records.accelerators).await?;
        load.public_ips(&records.public_ips).await?;
        load.storage(&records.storage).await?;
        let report = load.commit().await?;
        complete.store(true, Ordering::Release);
        Ok(report)
    }

    /// Stores a batch of the queue's messages in one load and settles each
    /// with the broker: acknowledged once stored or moved to
    /// `refused_queue`, given back when it could not be stored. Each is
    /// read and checked first, so a refused one never keeps the others
    /// out; the rest are stored together, all or none.
    pub async fn consume(&self, client: &Client, refused_queue: &str, deliveries: Vec<Delivery>) -> Consumed {
        let counts = &self.inner.queue;
        let mut consumed = Consumed::default();
        let sender = match self.queue_sender() {
            Ok(sender) => sender,
            Err(e) => {
                for delivery in deliveries {
                    let _ = delivery.nack().await;
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                }
                consumed.failed.push(e.to_string());
                return consumed;
            }
        };
        // Each message checked; those that pass are stored together.
        let mut refusals: Vec<Option<Error>> = Vec::with_capacity(deliveries.len());
        let mut checked = Vec::new();
        for delivery in &deliveries {
            match self.check(&sender, &delivery.body) {
                Ok(message) => {
                    checked.push(message);
                    refusals.push(None);
                }
                Err(e) => refusals.push(Some(e)),
            }
        }
        let stored =
            if checked.is_empty() { Ok(LoadReport::default()) } else { self.store_checked(&sender, checked).await };
        let stored = match stored {
            Ok(report) => {
                consumed.report = report;
                true
            }
            Err(e) => {
                consumed.failed.push(e.logged().to_string());
                false
            }
        };
        for (delivery, refusal) in deliveries.into_iter().zip(refusals) {
            match refusal {
                None if stored => {
                    // Stored already: should the acknowledgement be lost,
                    // the message's redelivery changes nothing.
                    let _ = delivery.ack().await;
                    consumed.stored += 1;
                    counts.stored.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    let _ = delivery.nack().await;
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                }
                Some(e @ (Error::Invalid(_) | Error::Forbidden(_))) => {
                    let reason = e.to_string();
                    let mut headers: Vec<(&str, &str)> = vec![("nuvola-refused", reason.as_str())];
                    if let Some(id) = delivery.header("message-id") {
                        headers.push(("nuvola-original-message-id", id));
                    }
                    if let Err(e) = client.send(refused_queue, &headers, &delivery.body).await {
                        // Kept on the queue rather than lost.
                        let _ = delivery.nack().await;
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        consumed.failed.push(format!("moving a refused message to {refused_queue}: {e}"));
                        continue;
                    }
                    let _ = delivery.ack().await;
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    consumed.refused.push(reason);
                }
                Some(e) => {
                    let _ = delivery.nack().await;
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    consumed.failed.push(e.logged().to_string());
                }
            }
        }
        consumed
    }

    /// Who the queue's messages are sent as.
    fn queue_sender(&self) -> Result<AccountingSender> {
        let broker = self.settings().broker.as_ref();
        match broker.and_then(|b| b.queue_publisher.as_deref()) {
            None => Ok(AccountingSender::Queue),
            Some(name) => {
                let publishers = &self.settings().publishers;
                let publisher = publishers.iter().find(|p| p.name == name).ok_or_else(|| {
                    Error::internal(format!("[accounting] queue_publisher {name:?} names no publisher"))
                })?;
                Ok(AccountingSender::Publisher(publisher.clone()))
            }
        }
    }

    /// Consumes the broker's accounting queue until `shutdown`,
    /// reconnecting with a pause when the broker cannot be reached.
    pub async fn run_queue(&self, mut shutdown: watch::Receiver<bool>) {
        let Some(broker) = self.settings().broker.clone() else { return };
        let Some(queue) = broker.queue.clone() else { return };
        let mut pause = Duration::from_secs(1);
        while !*shutdown.borrow() {
            let subscribed = async {
                let client = Client::connect(&broker.url).await?;
                let subscription = client.subscribe(&queue).await?;
                Ok::<_, nuvola_drivers::stomp::StompError>((client, subscription))
            };
            let (client, mut subscription) = tokio::select! {
                made = subscribed => match made {
                    Ok(made) => made,
                    Err(e) => {
                        tracing::warn!(error = %e, queue = %queue, "accounting queue: cannot subscribe; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = shutdown.changed() => {}
                        }
                        pause = (pause * 2).min(Duration::from_secs(60));
                        continue;
                    }
                },
                _ = shutdown.changed() => break,
            };
            pause = Duration::from_secs(1);
            tracing::info!(queue = %queue, "accounting queue: consuming");
            loop {
                let delivery = tokio::select! {
                    next = subscription.next() => next,
                    _ = shutdown.changed() => None,
                };
                let Some(delivery) = delivery else { break };
                // With it, what the broker has delivered ahead already.
                let mut batch = vec![delivery];
                while batch.len() < QUEUE_BATCH {
                    match subscription.try_next() {
                        Some(delivery) => batch.push(delivery),
                        None => break,
                    }
                }
                let consumed = self.consume(&client, &broker.refused_queue, batch).await;
                if consumed.stored > 0 {
                    tracing::info!(messages = consumed.stored, report = ?consumed.report, "accounting queue: stored");
                }
                for reason in &consumed.refused {
                    tracing::warn!(%reason, to = %broker.refused_queue, "accounting queue: message refused");
                }
                for reason in &consumed.failed {
                    tracing::error!(%reason, "accounting queue: message not stored; the broker keeps it");
                }
                if !consumed.failed.is_empty() {
                    tokio::time::sleep(pause).await;
                }
            }
            let _ = client.disconnect().await;
        }
    }

    /// Sends the summaries of the current and the previous month to
    /// `destination` through `client`.
    pub async fn export(&self, client: &Client, destination: &str) -> Result<Exported> {
        let now = self.now_ms();
        let Month(year, month) = previous_month(now);
        let from = (year, month);
        let filter = UsageFilter { from: Some(from), ..UsageFilter::default() };
        let store = self.store();
        let cloud = store.accounting_cloud_summaries(&filter).await?;
        let accelerators = store.accounting_accelerator_summaries(&filter).await?;
        let mut exported = Exported::default();
        let unsent = |e| Error::internal_because("the accounting broker did not take the summaries", e);
        for chunk in cloud.chunks(SUMMARIES_PER_MESSAGE) {
            let body = cloud_summary::write_message(chunk.iter().map(|c| &c.summary))
                .map_err(|e| Error::internal_because("a summary could not be written", e))?;
            client.send(destination, &[("content-type", "text/plain")], body.as_bytes()).await.map_err(unsent)?;
            exported.messages += 1;
            exported.cloud_summaries += chunk.len();
        }
        for chunk in accelerators.chunks(SUMMARIES_PER_MESSAGE) {
            let body = accelerator::write_summaries_text(chunk)
                .map_err(|e| Error::internal_because("a summary could not be written", e))?;
            client.send(destination, &[("content-type", "text/plain")], body.as_bytes()).await.map_err(unsent)?;
            exported.messages += 1;
            exported.accelerator_summaries += chunk.len();
        }
        Ok(exported)
    }

    /// Exports the summaries to the configured destination now; the
    /// destination's name and what was sent. The caller decides who may.
    pub async fn export_now(&self) -> Result<(String, Exported)> {
        let broker = self.settings().broker.as_ref();
        let Some((url, destination)) = broker.and_then(|b| Some((&b.url, b.export_destination.as_ref()?))) else {
            return Err(Error::Conflict(
                "no export is configured: set [accounting] broker_url and export_destination".into(),
            ));
        };
        Ok((destination.clone(), self.export_to(url, destination).await?))
    }

    /// Connects to the broker at `url` and exports to `destination`.
    async fn export_to(&self, url: &str, destination: &str) -> Result<Exported> {
        let client = Client::connect(url)
            .await
            .map_err(|e| Error::internal_because("the accounting broker cannot be reached", e))?;
        let exported = self.export(&client, destination).await;
        let _ = client.disconnect().await;
        exported
    }
}

/// The month before the one `now_ms` is in, UTC.
fn previous_month(now_ms: i64) -> Month {
    Month::of_ms(now_ms).plus(-1)
}

/// The first instant (ms) of the month before the one `now_ms` is in, UTC.
fn previous_month_start_ms(now_ms: i64) -> i64 {
    let Month(year, month) = previous_month(now_ms);
    nuvola_accounting::month_start(year, month as u8) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_month_starts_where_it_should() {
        // 2026-01-15 and 2026-03-31 23:59:59.
        assert_eq!(previous_month_start_ms(1_768_435_200_000), 1_764_547_200_000);
        assert_eq!(previous_month_start_ms(1_775_001_599_000), 1_769_904_000_000);
        assert_eq!(Month::of_ms(1_772_323_200_000), Month(2026, 3));
    }
}
