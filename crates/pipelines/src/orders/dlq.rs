//! The dead-letter queue: an order put back in the queue, adopted, or discarded by an operator.

use super::*;

impl OrderPipeline {
    /// Puts a `DEAD` or `FAILED` order back in the queue after an operator fixed the cause, or adopts a `LEGACY`
    /// one (the old system's, which cpbridge never booked) after an operator checked it. The order is fetched
    /// fresh from WooCommerce first, so a fix made there (a SKU, an address) is used; when WooCommerce cannot be
    /// reached, the stored copy is used.
    ///
    /// # Errors
    /// When Counterpoint cannot be reached.
    pub async fn requeue(&self, staging_id: StagingId) -> Result<DlqOutcome, PipelineError> {
        let Some(row) = self.ports.cp.staged_order(staging_id).await? else { return Ok(DlqOutcome::Unknown) };
        if !matches!(row.status, StagingStatus::Dead | StagingStatus::Failed | StagingStatus::Legacy) {
            return Ok(DlqOutcome::WrongStatus(row.status));
        }
        let woo_id = row.woo_order_id;
        let fresh = match self.fetch_order(woo_id).await {
            Ok(Fetched::Order(order, raw)) => Some(order_map::staged_order(&order, raw)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(woo_order = %woo_id, error = %e, "requeued with the stored copy of the order");
                None
            }
        };
        let done = match fresh {
            Some(staged) => self.ports.cp.restage_order(staging_id, &staged).await?,
            None => self.ports.cp.requeue_staged_order(staging_id).await?,
        };
        if done {
            self.staged.notify_one();
            Ok(DlqOutcome::Done)
        } else {
            Ok(DlqOutcome::WrongStatus(row.status))
        }
    }
}

impl OrderPipeline {
    /// Ends a `DEAD` or `FAILED` order for good (`cpbridge dlq discard`): it is never applied, never staged again,
    /// and stops holding stock at once. One alert records who decided what.
    ///
    /// # Errors
    /// When Counterpoint cannot be reached.
    pub async fn discard(&self, staging_id: StagingId, reason: &str) -> Result<DlqOutcome, PipelineError> {
        let Some(row) = self.ports.cp.staged_order(staging_id).await? else { return Ok(DlqOutcome::Unknown) };
        let why = if reason.trim().is_empty() { "discarded by an operator" } else { reason.trim() };
        if !self.ports.cp.discard_staged_order(staging_id, &format!("discarded: {why}")).await? {
            return Ok(DlqOutcome::WrongStatus(row.status));
        }
        let subject = format!("WooCommerce order {} (staging {staging_id})", row.woo_order_no);
        let message = format!(
            "discarded ({why}); it will not be booked in Counterpoint, and its stock is free for the web again. Its \
             last reason was: {}",
            row.last_err.as_deref().unwrap_or("none")
        );
        self.ports.alerts.raise("order_discarded", &subject, &message).await;
        Ok(DlqOutcome::Done)
    }
}

/// The result of [`OrderPipeline::requeue`] and [`OrderPipeline::discard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlqOutcome {
    /// Requeued, adopted or discarded.
    Done,
    /// No staging row has that id.
    Unknown,
    /// The row is in a status the operation does not take; nothing changed.
    WrongStatus(StagingStatus),
}
