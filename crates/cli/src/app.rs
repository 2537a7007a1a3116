//! The application built from a config file: the ports (Counterpoint, WooCommerce, the state store, alerts) and every
//! pipeline over them. Commands run its pipelines once; `cpbridge run` ([`crate::daemon`]) schedules them.

use std::sync::Arc;

use crate::error::{Context as _, Error};
use cpbridge_pipelines::customers::CustomerSync;
use cpbridge_pipelines::inventory::InventorySync;
use cpbridge_pipelines::pricing::PriceService;
use cpbridge_pipelines::products::ProductSync;
use cpbridge_pipelines::webhooks::WebhookGuard;
use cpbridge_pipelines::{Alerter, OrderPipeline};
use cpbridge_store::{SqliteStore, StateStore};
use cpbridge_woo::WooClient;

use crate::config::Config;
use crate::heartbeat::JobClocks;

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

impl App {
    /// Where runs are recorded (the run history, and alerts after failed runs): by the scheduler and by hand alike.
    pub fn run_log(&self) -> cpbridge_pipelines::run_log::StoreRunLog {
        cpbridge_pipelines::run_log::StoreRunLog::new(self.store.clone(), self.alerts.clone())
    }

    /// Opens the state store and Counterpoint, and builds the WooCommerce client and the pipelines.
    ///
    /// # Errors
    /// When a store cannot be opened or the WooCommerce settings are unusable.
    pub async fn build(config: Config) -> crate::error::Result<App> {
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
                return Err(Error::NotReady(format!(
                    "the Counterpoint database {} is not ready for cpbridge: {report}",
                    cp.target()
                )));
            }
            Ok(report) => {
                tracing::info!(doc_ids = %report.doc_ids, "Counterpoint schema checked");
                match cp.setup_problems(&crate::config::shop_setup(&config.orders)).await {
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
            Err(e) => return Err(e).context("checking the Counterpoint schema"),
        }
        let woo = WooClient::new(config.woo_config()).context("setting up the WooCommerce client")?;
        let alerts = Alerter::new(
            store.clone(),
            config.alerts.webhook_url.clone(),
            config.alerts.email.as_ref(),
            config.alerts.rules(),
        );
        let ports = cpbridge_pipelines::jobs::Ports {
            cp: cp.clone(),
            woo: woo.clone(),
            store: store.clone(),
            alerts: alerts.clone(),
        };
        let orders = Arc::new(OrderPipeline::new(ports.clone(), config.orders.clone()));
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
}
