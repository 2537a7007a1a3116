//! Takes the webhook deliveries that are due: each order fetched once and staged, cancelled or restaged; woken the
//! moment a delivery lands.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};
use tokio::sync::Notify;

use super::Orders;

pub(super) struct OrdersIntake {
    pub(super) orders: Orders,
    pub(super) every: Option<Duration>,
    pub(super) delivered: Arc<Notify>,
}

#[async_trait]
impl Job for OrdersIntake {
    fn name(&self) -> JobName {
        JobName::OrdersIntake
    }
    fn every(&self) -> Option<Duration> {
        self.every
    }
    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.delivered.clone())
    }
    async fn run_once(&self) -> Result<RunOutcome, PipelineError> {
        // Deliveries keep coming in a burst: take the next ones at once.
        let report = self.orders.intake_once().await?;
        Ok(RunOutcome::done(&report).more_if(report.deliveries >= 500).idle_if(report.deliveries == 0))
    }
}
