//! The daemon's jobs: [`registry`] is the one list of what `cpbridge run` schedules, and each job is a file here, a
//! few lines over its pipeline. The scheduler (`cpbridge_pipelines::scheduler`) runs them all the same way; adding a
//! job is a file here, a line in [`registry`], and its name in `JobName`.

use std::sync::Arc;
use std::time::Duration;

use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome, run_and_record};
use tokio::sync::Notify;

use crate::app::App;
use crate::config::ScheduleSection;

/// A job that is one call of its pipeline; with `idle_if`, a run whose report says it found nothing is idle.
macro_rules! one_call_job {
    ($job:ident, $name:expr, $field:ident: $ty:ty, |$it:ident| $run:expr) => {
        one_call_job!($job, $name, $field: $ty, |$it| $run, idle_if |_report| false);
    };
    ($job:ident, $name:expr, $field:ident: $ty:ty, |$it:ident| $run:expr, idle_if |$report:ident| $idle:expr) => {
        pub(super) struct $job {
            pub(super) $field: $ty,
            pub(super) every: Option<Duration>,
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
                $run.map(|$report| RunOutcome::done(&$report).idle_if($idle))
            }
        }
    };
}

mod customers;
mod inventory_events;
mod inventory_reconcile;
mod orders_intake;
mod orders_process;
mod orders_pull;
mod orders_reconcile;
mod orders_status;
mod orders_writeback;
mod pricing;
mod products;
mod webhooks;

pub use inventory_reconcile::reconcile;

/// Every job of the daemon, in the order `cpbridge status` shows them. `delivered` wakes intake when a webhook
/// lands.
pub fn registry(app: &App, delivered: Arc<Notify>) -> Vec<Arc<dyn Job>> {
    let every = |job| cadence(&app.config.schedule, job);
    let orders = || app.orders.clone();
    vec![
        Arc::new(orders_intake::OrdersIntake { orders: orders(), every: every(JobName::OrdersIntake), delivered }),
        Arc::new(orders_pull::OrdersPull { orders: orders(), every: every(JobName::OrdersPull) }),
        Arc::new(orders_process::OrdersProcess { orders: orders(), every: every(JobName::OrdersProcess) }),
        Arc::new(orders_writeback::OrdersWriteback { orders: orders(), every: every(JobName::OrdersWriteback) }),
        Arc::new(orders_status::OrdersStatus { orders: orders(), every: every(JobName::OrdersStatus) }),
        Arc::new(products::Products { products: app.products.clone(), every: every(JobName::Products) }),
        Arc::new(inventory_events::InventoryEvents {
            inventory: app.inventory.clone(),
            every: every(JobName::InventoryEvents),
        }),
        Arc::new(inventory_reconcile::InventoryReconcile {
            orders: orders(),
            inventory: app.inventory.clone(),
            every: every(JobName::InventoryReconcile),
        }),
        Arc::new(customers::Customers { customers: app.customers.clone(), every: every(JobName::Customers) }),
        Arc::new(pricing::Pricing {
            pricing: app.pricing.clone(),
            alerts: app.alerts.clone(),
            every: every(JobName::Pricing),
        }),
        Arc::new(webhooks::Webhooks { webhooks: app.webhooks.clone(), every: every(JobName::Webhooks) }),
        Arc::new(orders_reconcile::OrdersReconcile { orders: orders(), every: every(JobName::OrdersReconcile) }),
    ]
}

/// Runs one job of the registry once by hand, as the daemon would, and records it as the daemon does (the one-shot
/// commands: `orders pull`, `sync products`, ...). With `drain`, runs again while it reports a full batch, within its
/// bound. Returns each run.
///
/// # Errors
/// When the run fails as a whole.
pub async fn run_by_hand(app: &App, job: JobName, drain: bool) -> Result<Vec<RunOutcome>, PipelineError> {
    let registry = registry(app, Arc::new(Notify::new()));
    let Some(job) = registry.into_iter().find(|j| j.name() == job) else { return Ok(Vec::new()) };
    let log = app.run_log();
    let mut runs = Vec::new();
    for _ in 0..job.max_rounds().max(1) {
        let outcome = run_and_record(job.as_ref(), &log).await?;
        let again = drain && matches!(outcome, RunOutcome::More(_));
        runs.push(outcome);
        if !again {
            break;
        }
    }
    Ok(runs)
}

/// The cadence of `job` in the config, the one place that maps jobs to their `[schedule]` keys: the registry, the
/// status table and `doctor` read it. `None` is a sync left to `cpbridge sync ...` by hand (`0` or less); the order
/// jobs and the price book always run, at most every 50 ms.
pub fn cadence(s: &ScheduleSection, job: JobName) -> Option<Duration> {
    let (secs, always) = match job {
        JobName::OrdersIntake => (s.intake_secs, true),
        JobName::OrdersPull => (s.order_pull_secs, true),
        JobName::OrdersProcess => (s.order_process_secs, true),
        JobName::OrdersWriteback => (s.order_writeback_secs, true),
        JobName::OrdersStatus => (s.order_status_secs, true),
        JobName::Products => (s.products_secs, false),
        JobName::InventoryEvents => (s.inventory_events_secs, false),
        JobName::InventoryReconcile => (s.inventory_reconcile_secs, false),
        JobName::Customers => (s.customers_secs, false),
        JobName::Pricing => (s.pricing_refresh_secs, true),
        JobName::Webhooks => (s.webhooks_secs, false),
        JobName::OrdersReconcile => (s.orders_reconcile_secs, false),
    };
    match always {
        true => Some(Duration::from_secs_f64(secs.max(0.05))),
        false => (secs > 0.0).then(|| Duration::from_secs_f64(secs)),
    }
}

/// [`cadence`] in seconds, as the status table and `doctor` show it (0: by hand).
pub fn cadence_secs(s: &ScheduleSection, job: JobName) -> f64 {
    cadence(s, job).map_or(0.0, |every| every.as_secs_f64())
}

type Orders = Arc<cpbridge_pipelines::OrderPipeline>;
