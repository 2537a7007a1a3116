//! The orders reconcile: every WooCommerce order since the cut-over against staging and Counterpoint's documents,
//! repairing what a webhook and a poll both missed.

use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};

use super::Orders;

pub(super) struct OrdersReconcile {
    pub(super) orders: Orders,
    pub(super) every: Option<Duration>,
}

#[async_trait]
impl Job for OrdersReconcile {
    fn name(&self) -> JobName {
        JobName::OrdersReconcile
    }
    fn every(&self) -> Option<Duration> {
        self.every
    }
    async fn run_once(&self) -> Result<RunOutcome, PipelineError> {
        // A poll first, so that what it would find is not reported missing; then the daemon repairs: an order that
        // webhook and poll both missed is staged now.
        if let Err(e) = self.orders.pull_once().await {
            tracing::warn!(error = %e, "the order poll before the orders reconcile failed");
        }
        let grace = chrono::Duration::minutes(10);
        self.orders.reconcile_orders(None, true, grace).await.map(|report| RunOutcome::done(&report.for_the_record()))
    }
}
