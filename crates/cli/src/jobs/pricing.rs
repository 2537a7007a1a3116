//! Refreshes the contract-price book from Counterpoint (only what changed, and a full reload every few minutes).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::Alerter;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::pricing::PriceService;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};
use cpbridge_store::StateStore;

pub(super) struct Pricing {
    pub(super) pricing: Arc<cpbridge_pipelines::pricing::PriceService>,
    pub(super) store: Arc<dyn cpbridge_store::StateStore>,
    pub(super) alerts: cpbridge_pipelines::Alerter,
    pub(super) every: Option<Duration>,
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
        // A failed refresh keeps the last book in service and is recorded; it is not the scheduler's to back off.
        refresh_prices(&self.pricing, self.store.as_ref(), &self.alerts).await;
        Ok(RunOutcome::DONE)
    }
}

/// Refreshes the price book; a run that changed something, or failed, is recorded.
pub async fn refresh_prices(pricing: &PriceService, store: &dyn StateStore, alerts: &Alerter) {
    #[derive(serde::Serialize)]
    struct PricingReport {
        items: usize,
        customers: usize,
        unreadable_rules: usize,
    }
    let started = chrono::Utc::now().naive_utc();
    let result = pricing.refresh().await.map_err(PipelineError::from);
    let changed = matches!(result, Ok(true));
    let report = result.map(|_| {
        let book = pricing.book();
        let (items, customers) = book.counts();
        PricingReport { items, customers, unreadable_rules: book.problems().len() }
    });
    if changed || report.is_err() {
        cpbridge_pipelines::jobs::record_run(store, alerts, JobName::Pricing, started, &report).await;
    }
    // A rule that cannot be read is skipped, never guessed: the shop hears of each one once.
    for problem in pricing.book().problems() {
        alerts
            .raise_once("price_rule_unreadable", &problem, "this price rule is never applied until it is fixed")
            .await;
    }
}
