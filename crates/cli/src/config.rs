//! The config file: one TOML file, then environment overrides for secrets and the database, checked all at once.
//!
//! Unknown keys are errors, so a typo does not silently fall back to a default. Secrets are held in
//! [`Secret`], which never prints.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cpbridge_pipelines::OrderSettings;
use cpbridge_pipelines::sync_settings::{CustomerSettings, InventorySettings, ProductSettings};
use cpbridge_woo::{Credentials, Secret, WooConfig};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub counterpoint: CounterpointSection,
    pub woocommerce: WooSection,
    #[serde(default)]
    pub state: StateSection,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub alerts: AlertSection,
    #[serde(default)]
    pub schedule: ScheduleSection,
    #[serde(default)]
    pub orders: OrderSettings,
    #[serde(default)]
    pub products: ProductSettings,
    #[serde(default)]
    pub inventory: InventorySettings,
    #[serde(default)]
    pub customers: CustomerSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterpointSection {
    /// `sqlite:PATH` for a replica, or an ADO.NET connection string (env `CPBRIDGE_CP_URL`).
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WooSection {
    /// The store's address, e.g. `https://shop.example.com` (the REST path is added).
    pub url: String,
    /// env `CPBRIDGE_WOO_KEY`.
    #[serde(default)]
    pub consumer_key: String,
    /// env `CPBRIDGE_WOO_SECRET`.
    #[serde(default, deserialize_with = "secret")]
    pub consumer_secret: Secret,
    /// The secret set on the WooCommerce webhooks (env `CPBRIDGE_WEBHOOK_SECRET`).
    #[serde(default, deserialize_with = "secret")]
    pub webhook_secret: Secret,
    /// Seconds before a request is given up (default 30).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    30
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    String::deserialize(d).map(Secret::new)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSection {
    /// cpbridge's own state (webhook inbox, watermarks, runs, alerts). Default `cpbridge-state.db`.
    pub path: PathBuf,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection { path: PathBuf::from("cpbridge-state.db") }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Where the webhook endpoint and health checks listen. Default `127.0.0.1:8787`; put a TLS proxy in front
    /// when WooCommerce is elsewhere.
    pub listen: SocketAddr,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection { listen: SocketAddr::from(([127, 0, 0, 1], 8787)) }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSection {
    /// Alerts are POSTed here as JSON when set (env `CPBRIDGE_ALERT_WEBHOOK`); they are always logged and kept.
    pub webhook_url: Option<String>,
}

/// How often each job runs in `cpbridge run`, in seconds. The defaults are the seed system's cadences.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    /// The order poll behind the webhooks (2 minutes).
    pub order_pull_secs: f64,
    /// Processing staged orders when nothing woke it sooner (1 minute); staging wakes it at once.
    pub order_process_secs: f64,
    /// Retrying write-backs that failed (30 s).
    pub order_writeback_secs: f64,
    /// Checking applied orders for release or cancellation in Counterpoint (5 minutes).
    pub order_status_secs: f64,
    /// Looking at the webhook inbox when nothing woke it (5 s).
    pub intake_secs: f64,
    /// The product sync (6 hours). For this and the other syncs, 0 means it runs only by hand (`cpbridge sync`).
    pub products_secs: f64,
    /// Polling `USER_INV_CHANGES` for stock changes (5 s).
    pub inventory_events_secs: f64,
    /// The full stock reconcile (12 hours).
    pub inventory_reconcile_secs: f64,
    /// The customer sync, both ways (daily).
    pub customers_secs: f64,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        ScheduleSection {
            order_pull_secs: 120.0,
            order_process_secs: 60.0,
            order_writeback_secs: 30.0,
            order_status_secs: 300.0,
            intake_secs: 5.0,
            products_secs: 6.0 * 3600.0,
            inventory_events_secs: 5.0,
            inventory_reconcile_secs: 12.0 * 3600.0,
            customers_secs: 24.0 * 3600.0,
        }
    }
}

impl Config {
    /// Reads the file, applies the environment, and checks everything, reporting every problem at once.
    ///
    /// # Errors
    /// When the file is missing or unreadable, or the settings have problems (all listed).
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        let mut config: Config = toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))?;
        config.apply_env(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        let problems = config.problems();
        if !problems.is_empty() {
            anyhow::bail!("config file {} has problems:\n  - {}", path.display(), problems.join("\n  - "));
        }
        Ok(config)
    }

    pub(crate) fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(v) = var("CPBRIDGE_CP_URL") {
            self.counterpoint.url = v;
        }
        if let Some(v) = var("CPBRIDGE_WOO_KEY") {
            self.woocommerce.consumer_key = v;
        }
        if let Some(v) = var("CPBRIDGE_WOO_SECRET") {
            self.woocommerce.consumer_secret = Secret::new(v);
        }
        if let Some(v) = var("CPBRIDGE_WEBHOOK_SECRET") {
            self.woocommerce.webhook_secret = Secret::new(v);
        }
        if let Some(v) = var("CPBRIDGE_ALERT_WEBHOOK") {
            self.alerts.webhook_url = Some(v);
        }
    }

    /// Every problem, in plain words.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.counterpoint.url.trim().is_empty() {
            problems.push("counterpoint.url is empty (or set CPBRIDGE_CP_URL)".into());
        }
        if !(self.woocommerce.url.starts_with("http://") || self.woocommerce.url.starts_with("https://")) {
            problems
                .push(format!("woocommerce.url must start with http:// or https://, got {:?}", self.woocommerce.url));
        }
        if self.woocommerce.consumer_key.trim().is_empty() {
            problems.push("woocommerce.consumer_key is empty (or set CPBRIDGE_WOO_KEY)".into());
        }
        if self.woocommerce.consumer_secret.expose().trim().is_empty() {
            problems.push("woocommerce.consumer_secret is empty (or set CPBRIDGE_WOO_SECRET)".into());
        }
        if self.woocommerce.webhook_secret.expose().trim().is_empty() {
            problems.push("woocommerce.webhook_secret is empty (or set CPBRIDGE_WEBHOOK_SECRET)".into());
        }
        let s = &self.schedule;
        for (name, secs) in [
            ("order_pull_secs", s.order_pull_secs),
            ("order_process_secs", s.order_process_secs),
            ("order_writeback_secs", s.order_writeback_secs),
            ("order_status_secs", s.order_status_secs),
            ("intake_secs", s.intake_secs),
        ] {
            if !(secs.is_finite() && secs > 0.0) {
                problems.push(format!("schedule.{name} must be a positive number of seconds"));
            }
        }
        for (name, secs) in [
            ("products_secs", s.products_secs),
            ("inventory_events_secs", s.inventory_events_secs),
            ("inventory_reconcile_secs", s.inventory_reconcile_secs),
            ("customers_secs", s.customers_secs),
        ] {
            if !(secs.is_finite() && secs >= 0.0) {
                problems.push(format!("schedule.{name} must be a number of seconds (0 runs it only by hand)"));
            }
        }
        problems.extend(self.orders.problems());
        problems.extend(self.products.problems());
        problems.extend(self.inventory.problems());
        problems.extend(self.customers.problems());
        problems
    }

    /// The WooCommerce client settings.
    pub fn woo_config(&self) -> WooConfig {
        let credentials =
            Credentials::new(self.woocommerce.consumer_key.clone(), self.woocommerce.consumer_secret.expose());
        let mut config = WooConfig::new(self.woocommerce.url.clone(), credentials);
        config.timeout = std::time::Duration::from_secs(self.woocommerce.timeout_secs.max(1));
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [counterpoint]
        url = "sqlite:cp.db"
        [woocommerce]
        url = "http://127.0.0.1:8080"
        consumer_key = "ck_x"
        consumer_secret = "cs_x"
        webhook_secret = "whsec"
    "#;

    #[test]
    fn defaults_fill_what_the_file_leaves_out_and_secrets_do_not_print() {
        let config: Config = toml::from_str(MINIMAL).expect("parses");
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(config.orders.stage_statuses, vec!["processing".to_owned()]);
        assert_eq!(config.schedule.order_pull_secs, 120.0);
        assert!(!format!("{config:?}").contains("whsec"), "the webhook secret is redacted");
    }

    #[test]
    fn every_problem_is_reported_and_typos_are_refused() {
        let mut config: Config = toml::from_str(MINIMAL).expect("parses");
        config.woocommerce.url = "shop.example.com".into();
        config.orders.max_attempts = 0;
        config.apply_env(|name| (name == "CPBRIDGE_WOO_KEY").then(String::new));
        let problems = config.problems();
        assert!(problems.iter().any(|p| p.contains("woocommerce.url")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("orders.max_attempts")), "{problems:?}");
        let typo = MINIMAL.replace("webhook_secret", "webhok_secret");
        let err = toml::from_str::<Config>(&typo).expect_err("unknown key").to_string();
        assert!(err.contains("webhok_secret"), "{err}");
    }
}
