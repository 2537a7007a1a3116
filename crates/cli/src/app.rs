//! The running service: the ports built from config, the order pipeline, the HTTP server, and the scheduler that
//! runs each job on its cadence (`cpbridge run`). One cancellation token reaches every task; each job stops only
//! between runs, so a stop never cuts a transaction short (and a kill is safe anyway, by design).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cpbridge_pipelines::customers::CustomerSync;
use cpbridge_pipelines::inventory::InventorySync;
use cpbridge_pipelines::pricing::{PriceService, QuoteError};
use cpbridge_pipelines::products::ProductSync;
use cpbridge_pipelines::webhooks::WebhookGuard;
use cpbridge_pipelines::{Alerter, OrderPipeline};
use cpbridge_server::{AppState, Server};
use cpbridge_store::{SqliteStore, StateStore};
use cpbridge_woo::WooClient;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::heartbeat::{Beat, JobClocks};

/// Everything a command needs, built from the config.
pub struct App {
    pub config: Config,
    pub store: Arc<dyn StateStore>,
    pub orders: Arc<OrderPipeline>,
    pub products: Arc<ProductSync>,
    pub inventory: Arc<InventorySync>,
    pub customers: Arc<CustomerSync>,
    pub alerts: Alerter,
    pub pricing: Arc<PriceService>,
    pub webhooks: Arc<WebhookGuard>,
    /// The scheduled jobs' clocks: `/readyz` and the stuck-job alert read them.
    pub clocks: Arc<JobClocks>,
}

/// The price book, as the HTTP server's price source.
pub struct PriceBridge(pub Arc<PriceService>);

impl cpbridge_server::PriceSource for PriceBridge {
    fn quote(
        &self,
        customer: &str,
        items: &[(String, rust_decimal::Decimal)],
    ) -> Result<Vec<serde_json::Value>, cpbridge_server::QuoteFailure> {
        use cpbridge_server::QuoteFailure;
        let answers = self.0.quote(customer, items).map_err(|e| match e {
            QuoteError::UnknownCustomer(c) => QuoteFailure::UnknownCustomer(c),
            QuoteError::UnknownSku(s) => QuoteFailure::UnknownSku(s),
            QuoteError::NotLoaded => QuoteFailure::NotLoaded,
        })?;
        Ok(answers.iter().map(|a| serde_json::to_value(a).unwrap_or_default()).collect())
    }

    fn customer_by_email(&self, email: &str) -> Result<Option<String>, cpbridge_server::QuoteFailure> {
        self.0.customer_by_email(email).map_err(|_| cpbridge_server::QuoteFailure::NotLoaded)
    }
}

/// The daemon's alerter, as the HTTP server's alert sink.
struct AlertBridge(Alerter);

#[async_trait::async_trait]
impl cpbridge_server::AlertSink for AlertBridge {
    async fn alert(&self, kind: &str, subject: &str, message: &str) {
        self.0.raise(kind, subject, message).await;
    }
}

impl App {
    /// Opens the state store and Counterpoint, and builds the WooCommerce client and the pipelines.
    ///
    /// # Errors
    /// When a store cannot be opened or the WooCommerce settings are unusable.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let store: Arc<dyn StateStore> = Arc::new(
            SqliteStore::open(&config.state.path)
                .await
                .with_context(|| format!("opening the state store {}", config.state.path.display()))?,
        );
        let cp = cpbridge_counterpoint::port::open(&config.counterpoint.url)
            .await
            .context("opening the Counterpoint database")?;
        // The live schema decides: a table that lost a column cpbridge needs, or gained a required one cpbridge does
        // not fill, would fail every order one by one, so cpbridge refuses to start and says which. A database that
        // is down is not a reason to refuse: the jobs retry, and the check runs again on the first insert.
        match cp.verify_schema().await {
            Ok(report) if !report.is_ok() => {
                anyhow::bail!("the Counterpoint database {} is not ready for cpbridge: {report}", cp.target())
            }
            Ok(report) => {
                tracing::info!(doc_ids = %report.doc_ids, "Counterpoint schema checked");
                match cp.setup_problems(&crate::doctor::shop_setup(&config.orders)).await {
                    // Orders that point at a missing code fail with that reason one by one; the rest still flow.
                    Ok(problems) => {
                        for problem in problems {
                            tracing::warn!(problem = %problem, "Counterpoint setup (see `cpbridge doctor`)");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "checking the Counterpoint setup"),
                }
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "Counterpoint is not reachable at start; its schema is checked later");
            }
            Err(e) => return Err(anyhow::Error::new(e).context("checking the Counterpoint schema")),
        }
        let woo = WooClient::new(config.woo_config()).context("setting up the WooCommerce client")?;
        let alerts = Alerter::new(
            store.clone(),
            config.alerts.webhook_url.clone(),
            config.alerts.email.as_ref(),
            config.alerts.rules(),
        );
        let orders =
            Arc::new(OrderPipeline::new(cp.clone(), woo.clone(), store.clone(), alerts.clone(), config.orders.clone()));
        let ports = cpbridge_pipelines::jobs::Ports {
            cp: cp.clone(),
            woo: woo.clone(),
            store: store.clone(),
            alerts: alerts.clone(),
        };
        let dead_hold = config.orders.dead_hold();
        let products =
            Arc::new(ProductSync::new(ports.clone(), config.products.clone(), config.inventory.clone(), dead_hold));
        let inventory = Arc::new(
            InventorySync::new(ports.clone(), config.inventory.clone(), dead_hold)
                .with_variation_sku(config.products.variation_sku),
        );
        let sale = cpbridge_core::pricing::SaleContext {
            str_id: Some(config.orders.store_id.clone()),
            sta_id: Some(config.orders.station_id.clone()),
            loc_id: Some(config.pricing_location()),
        };
        let pricing = Arc::new(
            PriceService::new(cp, config.pricing_location(), sale).with_variation_sku(config.products.variation_sku),
        );
        let customers = Arc::new(CustomerSync::new(ports, config.customers.clone(), config.orders.clone()));
        let webhooks = Arc::new(WebhookGuard::new(
            woo,
            alerts.clone(),
            orders.clone(),
            config.server.webhook_delivery_url(),
            config.woocommerce.webhook_secret.clone(),
        ));
        let clocks = Arc::new(JobClocks::default());
        Ok(App { config, store, orders, products, inventory, customers, alerts, pricing, webhooks, clocks })
    }

    /// Binds the HTTP server (`listen`, else `server.listen`; port 0 picks a free port) without serving yet.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(self, listen: Option<SocketAddr>) -> anyhow::Result<BoundApp> {
        let delivered = Arc::new(Notify::new());
        let pricing = (!self.config.pricing.api_keys.is_empty()).then(|| cpbridge_server::Pricing {
            source: Arc::new(PriceBridge(self.pricing.clone())),
            keys: self.config.pricing.api_keys.clone(),
            currency: self.config.pricing.currency.clone(),
            requests_per_minute: self.config.pricing.requests_per_minute,
            windows: Arc::default(),
        });
        let state = AppState {
            pricing,
            alerts: Some(Arc::new(AlertBridge(self.alerts.clone()))),
            signatures: Arc::new(cpbridge_server::SignatureWatch::new(self.config.alerts.bad_signatures_per_minute)),
            status: Some(Arc::new(crate::status::DaemonStatus(crate::status::StatusInputs::of(&self)))),
            store: self.store.clone(),
            webhook_secret: self.config.woocommerce.webhook_secret.clone(),
            delivered: delivered.clone(),
        };
        let addr = listen.unwrap_or(self.config.server.listen);
        let server = Server::build(addr, state).await.with_context(|| format!("listening on {addr}"))?;
        let addr = server.local_addr()?;
        Ok(BoundApp { app: self, server, delivered, addr })
    }
}

/// The service with its address bound, ready to run.
pub struct BoundApp {
    app: App,
    server: Server,
    delivered: Arc<Notify>,
    pub addr: SocketAddr,
}

impl BoundApp {
    /// Runs the daemon until `stop` is cancelled: the HTTP server and every order job.
    ///
    /// # Errors
    /// When serving fails to start.
    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        let BoundApp { app: this, server, delivered, addr: bound } = self;
        println!("cpbridge listening on http://{bound}");
        println!("webhook endpoint: http://{bound}/webhooks/woocommerce");

        let mut tasks = JoinSet::new();
        let beat = Beat { clocks: this.clocks.clone(), store: this.store.clone() };
        {
            // The daemon's own heartbeat (`cpbridge status` from elsewhere reads it), and the watchdog that raises
            // an alert for a job whose run has gone on far past its cadence.
            let (beat, stop, alerts) = (beat.clone(), stop.clone(), this.alerts.clone());
            tasks.spawn(async move {
                loop {
                    beat.write(crate::heartbeat::DAEMON).await;
                    for (job, secs) in beat.clocks.stuck() {
                        let message = format!("its current run started {secs} s ago and has not ended; see the log");
                        alerts.raise("job_stuck", job, &message).await;
                    }
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(crate::heartbeat::DAEMON_BEAT) => {}
                    }
                }
            });
        }
        {
            let stop = stop.clone();
            tasks.spawn(async move {
                if let Err(e) = server.run_until_stopped(async move { stop.cancelled().await }).await {
                    tracing::error!(error = %e, "the HTTP server stopped");
                }
            });
        }
        // Every job, from the one list, run the same way.
        let clock: Arc<dyn cpbridge_pipelines::scheduler::RunClock> = Arc::new(beat.clone());
        let scheduler = cpbridge_pipelines::scheduler::Scheduler::new(clock, stop.clone());
        let scheduled = scheduler.spawn_all(crate::jobs::registry(&this, delivered), &mut tasks);
        tracing::info!(jobs = scheduled.len(), "jobs scheduled");

        stop.cancelled().await;
        // Jobs finish the run they are in; after the grace period the rest is dropped, which is safe.
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(20), drain).await.is_err() {
            tracing::warn!("some jobs were still running after 20 s; stopping them");
            tasks.abort_all();
        }
        Ok(())
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
