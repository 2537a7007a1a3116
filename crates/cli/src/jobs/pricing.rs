//! Refreshes the contract-price book from Counterpoint (only what changed, and a full reload every few minutes).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::pricing::PriceService;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};
use cpbridge_pipelines::{Alerter, PipelineError};

pub(super) struct Pricing {
    pub(super) pricing: Arc<PriceService>,
    pub(super) alerts: Alerter,
    pub(super) every: Option<Duration>,
}

/// The book's size after a refresh.
#[derive(serde::Serialize)]
struct PricingReport {
    items: usize,
    customers: usize,
    unreadable_rules: usize,
}

#[async_trait]
impl Job for Pricing {
    fn name(&self) -> JobName {
        JobName::Pricing
    }
    fn every(&self) -> Option<Duration> {
        self.every
    }
    async fn run_once(&self) -> Result<RunOutcome, PipelineError> {
        // A failed refresh keeps the last book in service; the failure is recorded and the job backs off.
        let changed = self.pricing.refresh().await?;
        let book = self.pricing.book();
        // A rule that cannot be read is skipped, never guessed: the shop hears of each one once.
        for problem in book.problems() {
            self.alerts
                .raise_once("price_rule_unreadable", &problem, "this price rule is never applied until it is fixed")
                .await;
        }
        let (items, customers) = book.counts();
        let report = PricingReport { items, customers, unreadable_rules: book.problems().len() };
        // A refresh that found nothing new is not worth a line in the history.
        Ok(RunOutcome::done(&report).idle_if(!changed))
    }
}
