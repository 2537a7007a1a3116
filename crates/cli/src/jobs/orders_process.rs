//! Applies staged orders to Counterpoint, a batch per round, each order in its own transaction; woken when one is
//! staged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};
use tokio::sync::Notify;

use super::Orders;

pub(super) struct OrdersProcess {
    pub(super) orders: Orders,
    pub(super) every: Option<Duration>,
}

#[async_trait]
impl Job for OrdersProcess {
    fn name(&self) -> JobName {
        JobName::OrdersProcess
    }
    fn every(&self) -> Option<Duration> {
        self.every
    }
    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.orders.staged_signal())
    }
    fn max_rounds(&self) -> usize {
        1_000
    }
    async fn run_once(&self) -> Result<RunOutcome, PipelineError> {
        // Each round is whole orders in their own transactions, so a stop between rounds loses nothing.
        let report = self.orders.process_once().await?;
        let full = report.claimed >= self.orders.settings().batch_size;
        Ok(RunOutcome::done(&report).more_if(full).idle_if(report.claimed == 0))
    }
}
