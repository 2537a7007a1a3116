//! The daemon's jobs: the one list of what `cpbridge run` schedules, each job a few lines over its pipeline. The
//! scheduler (`cpbridge_pipelines::scheduler`) runs them all the same way; adding a job is one struct here and one
//! line in [`registry`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::inventory::InventorySync;
use cpbridge_pipelines::pricing::PriceService;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};
use cpbridge_pipelines::{Alerter, OrderPipeline, PipelineError};
use tokio::sync::Notify;

use crate::app::App;
use crate::config::ScheduleSection;

/// Every job of the daemon, in the order `cpbridge status` shows them. `delivered` wakes intake when a webhook
/// lands.
pub fn registry(app: &App, delivered: Arc<Notify>) -> Vec<Arc<dyn Job>> {
    let s = &app.config.schedule;
    let orders = || app.orders.clone();
    vec![
        Arc::new(OrdersIntake { orders: orders(), every: always(s.intake_secs), delivered }),
        Arc::new(OrdersPull { orders: orders(), every: always(s.order_pull_secs) }),
        Arc::new(OrdersProcess { orders: orders(), every: always(s.order_process_secs) }),
        Arc::new(OrdersWriteback { orders: orders(), every: always(s.order_writeback_secs) }),
        Arc::new(OrdersStatus { orders: orders(), every: always(s.order_status_secs) }),
        Arc::new(Products { products: app.products.clone(), every: cadence(s.products_secs) }),
        Arc::new(InventoryEvents { inventory: app.inventory.clone(), every: cadence(s.inventory_events_secs) }),
        Arc::new(InventoryReconcile {
            orders: orders(),
            inventory: app.inventory.clone(),
            every: cadence(s.inventory_reconcile_secs),
        }),
        Arc::new(Customers { customers: app.customers.clone(), every: cadence(s.customers_secs) }),
        Arc::new(Pricing {
            pricing: app.pricing.clone(),
            store: app.store.clone(),
            alerts: app.alerts.clone(),
            every: always(s.pricing_refresh_secs),
        }),
        Arc::new(Webhooks { webhooks: app.webhooks.clone(), every: cadence(s.webhooks_secs) }),
        Arc::new(OrdersReconcile { orders: orders(), every: cadence(s.orders_reconcile_secs) }),
    ]
}

/// Runs one job of the registry once by hand, as the daemon would (the one-shot commands: `orders pull`, `sync
/// products`, ...). With `drain`, runs again while it reports a full batch, within its bound. Returns each run.
///
/// # Errors
/// When the run fails as a whole.
pub async fn run_by_hand(app: &App, job: JobName, drain: bool) -> Result<Vec<RunOutcome>, PipelineError> {
    let registry = registry(app, Arc::new(Notify::new()));
    let Some(job) = registry.into_iter().find(|j| j.name() == job) else { return Ok(Vec::new()) };
    let mut runs = Vec::new();
    for _ in 0..job.max_rounds().max(1) {
        let outcome = job.run_once().await?;
        let again = drain && outcome.again;
        runs.push(outcome);
        if !again {
            break;
        }
    }
    Ok(runs)
}

/// The cadence of a job that may be left to `cpbridge sync ...` by hand: `0` (or less) is by hand.
fn cadence(secs: f64) -> Option<Duration> {
    (secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

/// The cadence of a job the daemon always runs (the order jobs and the price book).
fn always(secs: f64) -> Option<Duration> {
    Some(Duration::from_secs_f64(secs.max(0.05)))
}

/// The cadence of `job` in the config, in seconds, as the status table shows it (0: by hand).
pub fn cadence_secs(s: &ScheduleSection, job: JobName) -> f64 {
    match job {
        JobName::OrdersIntake => s.intake_secs,
        JobName::OrdersPull => s.order_pull_secs,
        JobName::OrdersProcess => s.order_process_secs,
        JobName::OrdersWriteback => s.order_writeback_secs,
        JobName::OrdersStatus => s.order_status_secs,
        JobName::Products => s.products_secs,
        JobName::InventoryEvents => s.inventory_events_secs,
        JobName::InventoryReconcile => s.inventory_reconcile_secs,
        JobName::Customers => s.customers_secs,
        JobName::Pricing => s.pricing_refresh_secs,
        JobName::Webhooks => s.webhooks_secs,
        JobName::OrdersReconcile => s.orders_reconcile_secs,
    }
}

type Orders = Arc<cpbridge_pipelines::OrderPipeline>;

struct OrdersIntake {
    orders: Orders,
    every: Option<Duration>,
    delivered: Arc<Notify>,
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
        Ok(RunOutcome::of(&report, report.deliveries >= 500))
    }
}

struct OrdersProcess {
    orders: Orders,
    every: Option<Duration>,
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
        Ok(RunOutcome::of(&report, report.claimed >= self.orders.settings().batch_size))
    }
}

/// A job that is one call of its pipeline.
macro_rules! one_call_job {
    ($job:ident, $name:expr, $field:ident: $ty:ty, |$it:ident| $run:expr) => {
        struct $job {
            $field: $ty,
            every: Option<Duration>,
        }

        #[async_trait]
        impl Job for $job {
            fn name(&self) -> JobName {
                $name
            }
            fn every(&self) -> Option<Duration> {
                self.every
            }
            async fn run_once(&self) -> Result<RunOutcome, PipelineError> {
                let $it = &self.$field;
                $run.map(|report| RunOutcome::of(&report, false))
            }
        }
    };
}

one_call_job!(OrdersPull, JobName::OrdersPull, orders: Orders, |o| o.pull_once().await);
one_call_job!(OrdersWriteback, JobName::OrdersWriteback, orders: Orders, |o| o.writeback_once().await);
one_call_job!(OrdersStatus, JobName::OrdersStatus, orders: Orders, |o| o.follow_once().await);
one_call_job!(Products, JobName::Products, products: Arc<cpbridge_pipelines::products::ProductSync>, |p| p
    .run_once()
    .await);
one_call_job!(InventoryEvents, JobName::InventoryEvents, inventory: Arc<cpbridge_pipelines::inventory::InventorySync>, |i| i
    .events_once()
    .await);
one_call_job!(Customers, JobName::Customers, customers: Arc<cpbridge_pipelines::customers::CustomerSync>, |c| c
    .run_once()
    .await);
one_call_job!(Webhooks, JobName::Webhooks, webhooks: Arc<cpbridge_pipelines::webhooks::WebhookGuard>, |w| w
    .run_once()
    .await);

struct InventoryReconcile {
    orders: Orders,
    inventory: Arc<cpbridge_pipelines::inventory::InventorySync>,
    every: Option<Duration>,
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
        reconcile(&self.orders, &self.inventory).await.map(|report| RunOutcome::of(&report, false))
    }
}

struct OrdersReconcile {
    orders: Orders,
    every: Option<Duration>,
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
        self.orders.reconcile_orders(None, true, grace).await.map(|report| RunOutcome::of(&report, false))
    }
}

struct Pricing {
    pricing: Arc<cpbridge_pipelines::pricing::PriceService>,
    store: Arc<dyn cpbridge_store::StateStore>,
    alerts: cpbridge_pipelines::Alerter,
    every: Option<Duration>,
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

/// The full stock reconcile, after a poll of orders: an order WooCommerce took whose webhook has not arrived yet
/// would otherwise not be subtracted, and the reconcile would hand its stock back to the store.
pub async fn reconcile(
    orders: &OrderPipeline,
    inventory: &InventorySync,
) -> Result<cpbridge_pipelines::inventory::InventoryReport, cpbridge_pipelines::PipelineError> {
    if let Err(e) = orders.pull_once().await {
        tracing::warn!(error = %e, "the order poll before the reconcile failed; reconciling anyway");
    }
    let result = inventory.reconcile_once().await;
    if let Err(e) = &result {
        tracing::error!(error = %e, "inventory reconcile failed");
    }
    result
}

/// Refreshes the price book; a run that changed something, or failed, is recorded.
pub async fn refresh_prices(pricing: &PriceService, store: &dyn cpbridge_store::StateStore, alerts: &Alerter) {
    #[derive(serde::Serialize)]
    struct PricingReport {
        items: usize,
        customers: usize,
        unreadable_rules: usize,
    }
    let started = chrono::Utc::now().naive_utc();
    let result = pricing.refresh().await.map_err(cpbridge_pipelines::PipelineError::from);
    let changed = matches!(result, Ok(true));
    let report = result.map(|_| {
        let book = pricing.book();
        let (items, customers) = book.counts();
        PricingReport { items, customers, unreadable_rules: book.problems().len() }
    });
    if changed || report.is_err() {
        cpbridge_pipelines::jobs::record_run(
            store,
            alerts,
            cpbridge_pipelines::scheduler::JobName::Pricing,
            started,
            &report,
        )
        .await;
    }
    // A rule that cannot be read is skipped, never guessed: the shop hears of each one once.
    for problem in pricing.book().problems() {
        alerts
            .raise_once("price_rule_unreadable", &problem, "this price rule is never applied until it is fixed")
            .await;
    }
}
