//! The full stock reconcile (every 12 h by default): every product in WooCommerce against Counterpoint, after a poll of
//! orders.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::inventory::{InventoryReport, InventorySync};
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};
use cpbridge_pipelines::{OrderPipeline, PipelineError};

use super::Orders;

pub(super) struct InventoryReconcile {
    pub(super) orders: Orders,
    pub(super) inventory: Arc<InventorySync>,
    pub(super) every: Option<Duration>,
}

#[async_trait]
impl Job for InventoryReconcile {
    fn name(&self) -> JobName {
        JobName::InventoryReconcile
    }
    fn every(&self) -> Option<Duration> {
        self.every
    }
    async fn run_once(&self) -> Result<RunOutcome, PipelineError> {
        reconcile(&self.orders, &self.inventory).await.map(|report| RunOutcome::done(&report))
    }
}

/// The full stock reconcile, after a poll of orders: an order WooCommerce took whose webhook has not arrived yet
/// would otherwise not be subtracted, and the reconcile would hand its stock back to the store.
pub async fn reconcile(orders: &OrderPipeline, inventory: &InventorySync) -> Result<InventoryReport, PipelineError> {
    if let Err(e) = orders.pull_once().await {
        tracing::warn!(error = %e, "the order poll before the reconcile failed; reconciling anyway");
    }
    let result = inventory.reconcile_once().await;
    if let Err(e) = &result {
        tracing::error!(error = %e, "inventory reconcile failed");
    }
    result
}
