//! The config file: one TOML file, then environment overrides for secrets and the database, checked all at once.
//!
//! Unknown keys are errors, so a typo does not silently fall back to a default. Secrets are held in
//! [`Secret`], which never prints.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::error::{Context as _, Error};
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
    #[serde(default)]
    pub pricing: PricingSection,
}

/// `[pricing]`: the contract-pricing API that the WordPress plugin calls.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PricingSection {
    /// Accepted API keys (`Authorization: Bearer <key>`); env `CPBRIDGE_PRICING_KEY` adds one. No key: the API is off.
    #[serde(deserialize_with = "secrets")]
    pub api_keys: Vec<Secret>,
    /// The currency the answers name (ISO 4217).
    pub currency: String,
    /// Requests per key per minute; 0 is unlimited.
    pub requests_per_minute: u32,
    /// `IM_PRC.LOC_ID` whose prices count; empty uses `orders.price_location`, else the fulfilment location.
    pub price_location: String,
}

impl Default for PricingSection {
    fn default() -> Self {
        PricingSection {
            api_keys: Vec::new(),
            currency: "USD".into(),
            requests_per_minute: 0,
            price_location: String::new(),
        }
    }
}

fn secrets<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Secret>, D::Error> {
    Vec::<String>::deserialize(d).map(|keys| keys.into_iter().map(Secret::new).collect())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterpointSection {
    /// `sqlite:PATH` for a replica, or an ADO.NET connection string (env `CPBRIDGE_CP_URL`).
    pub url: String,
    /// The shop's IANA time zone (`America/Chicago`): Counterpoint's dates are local. Unset, the machine's zone.
    #[serde(default)]
    pub timezone: Option<String>,
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
    /// How a failed request (5xx, 429, a dropped connection) is retried.
    #[serde(default)]
    pub retry: WooRetry,
}

/// `[woocommerce.retry]`: exponential backoff with jitter; a `Retry-After` from the store is honoured.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WooRetry {
    /// Attempts in all, the first included (6).
    pub attempts: u32,
    /// The first wait, doubled each time (500 ms).
    pub first_wait_ms: u64,
    /// The longest wait between attempts (30 s).
    pub max_wait_secs: u64,
}

impl Default for WooRetry {
    fn default() -> Self {
        let policy = cpbridge_woo::RetryPolicy::default();
        WooRetry {
            attempts: policy.max_attempts,
            first_wait_ms: u64::try_from(policy.base_delay.as_millis()).unwrap_or(500),
            max_wait_secs: policy.max_delay.as_secs(),
        }
    }
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
    /// The address WooCommerce reaches cpbridge at (e.g. `https://cpbridge.example.com`), through the TLS proxy.
    /// With it, the webhook check re-creates a deleted order webhook; without it, it only re-enables and reports.
    pub public_url: Option<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection { listen: SocketAddr::from(([127, 0, 0, 1], 8787)), public_url: None }
    }
}

impl ServerSection {
    /// Where the order webhooks should deliver, when `public_url` is set.
    pub fn webhook_delivery_url(&self) -> Option<String> {
        let base = self.public_url.as_deref()?.trim().trim_end_matches('/');
        (!base.is_empty()).then(|| format!("{base}{}", cpbridge_pipelines::webhooks::WEBHOOK_PATH))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSection {
    /// Alerts are POSTed here as JSON when set (env `CPBRIDGE_ALERT_WEBHOOK`); they are always logged and kept.
    pub webhook_url: Option<String>,
    /// The same alert about the same thing goes out again only after this many minutes (60).
    pub repeat_after_mins: i64,
    /// A job alerts after this many failed runs in a row (3); an unreachable database or a refused key at once.
    pub failures_in_a_row: usize,
    /// This many webhook deliveries with a bad signature within a minute raise an alert (10).
    pub bad_signatures_per_minute: usize,
    /// Alerts by e-mail over SMTP, when set (`[alerts.email]`).
    pub email: Option<cpbridge_pipelines::alerts::EmailSettings>,
}

impl Default for AlertSection {
    fn default() -> Self {
        AlertSection {
            webhook_url: None,
            repeat_after_mins: 60,
            failures_in_a_row: 3,
            bad_signatures_per_minute: 10,
            email: None,
        }
    }
}

impl AlertSection {
    pub fn rules(&self) -> cpbridge_pipelines::alerts::AlertRules {
        cpbridge_pipelines::alerts::AlertRules {
            repeat_after: chrono::Duration::minutes(self.repeat_after_mins.max(0)),
            failures_in_a_row: self.failures_in_a_row.max(1),
        }
    }
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
    /// Refreshing the pricing API's book from Counterpoint (30 s); only what changed is read.
    pub pricing_refresh_secs: f64,
    /// Checking that the order webhooks are active, re-enabling them and catching up when not (5 minutes); 0 is off.
    pub webhooks_secs: f64,
    /// The orders reconcile: every WooCommerce order since the cut-over against Counterpoint, missing ones staged
    /// (1 hour); 0 runs it only by hand (`cpbridge reconcile orders`).
    pub orders_reconcile_secs: f64,
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
            pricing_refresh_secs: 30.0,
            webhooks_secs: 300.0,
            orders_reconcile_secs: 3600.0,
        }
    }
}

impl Config {
    /// The price location of the pricing API.
    pub fn pricing_location(&self) -> String {
        let own = self.pricing.price_location.trim();
        if own.is_empty() { self.orders.price_location().to_owned() } else { own.to_owned() }
    }

    /// Reads the file, applies the environment, and checks everything, reporting every problem at once.
    ///
    /// # Errors
    /// When the file is missing or unreadable, or the settings have problems (all listed).
    pub fn load(path: &Path) -> crate::error::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        let mut config: Config = toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))?;
        config.apply_env(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        let problems = config.problems();
        if let Ok(zone) = cpbridge_pipelines::settings::StoreTimezone::parse(config.counterpoint.timezone.as_deref()) {
            config.orders.timezone = zone;
        }
        if !problems.is_empty() {
            return Err(Error::Config(format!(
                "config file {} has problems:\n  - {}",
                path.display(),
                problems.join("\n  - ")
            )));
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
        if let Some(v) = var("CPBRIDGE_PRICING_KEY") {
            self.pricing.api_keys.push(Secret::new(v));
        }
        if let (Some(v), Some(email)) = (var("CPBRIDGE_SMTP_PASSWORD"), self.alerts.email.as_mut()) {
            email.password = Secret::new(v);
        }
    }

    /// Every problem, in plain words.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.counterpoint.url.trim().is_empty() {
            problems.push("counterpoint.url is empty (or set CPBRIDGE_CP_URL)".into());
        }
        if let Err(problem) = cpbridge_pipelines::settings::StoreTimezone::parse(self.counterpoint.timezone.as_deref())
        {
            problems.push(problem);
        }
        if !(self.woocommerce.url.starts_with("http://") || self.woocommerce.url.starts_with("https://")) {
            problems
                .push(format!("woocommerce.url must start with http:// or https://, got {:?}", self.woocommerce.url));
        }
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problems.push(format!("server.public_url must start with https:// (or http://), got {url:?}"));
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
            ("pricing_refresh_secs", s.pricing_refresh_secs),
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
            ("webhooks_secs", s.webhooks_secs),
            ("orders_reconcile_secs", s.orders_reconcile_secs),
        ] {
            if !(secs.is_finite() && secs >= 0.0) {
                problems.push(format!("schedule.{name} must be a number of seconds (0 runs it only by hand)"));
            }
        }
        if let Some(email) = &self.alerts.email {
            problems.extend(email.problems());
        }
        for (i, key) in self.pricing.api_keys.iter().enumerate() {
            if key.expose().trim().len() < 16 {
                problems.push(format!("pricing.api_keys[{i}] is shorter than 16 characters; use a long random key"));
            }
        }
        if self.alerts.failures_in_a_row == 0 {
            problems.push("alerts.failures_in_a_row must be at least 1".into());
        }
        if self.alerts.repeat_after_mins < 0 {
            problems.push("alerts.repeat_after_mins must not be negative".into());
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
        let retry = &self.woocommerce.retry;
        config.retry.max_attempts = retry.attempts.max(1);
        config.retry.base_delay = std::time::Duration::from_millis(retry.first_wait_ms);
        config.retry.max_delay = std::time::Duration::from_secs(retry.max_wait_secs.max(1));
        config
    }
}

/// The codes the order settings point at, for [`cpbridge_counterpoint::CounterpointPort::setup_problems`].
pub fn shop_setup(orders: &cpbridge_pipelines::OrderSettings) -> cpbridge_counterpoint::ShopSetup {
    let mut pay_codes: Vec<String> = orders.pay_codes.values().chain(orders.default_pay_code.iter()).cloned().collect();
    pay_codes.sort();
    pay_codes.dedup();
    cpbridge_counterpoint::ShopSetup {
        str_id: orders.store_id.clone(),
        sta_id: orders.station_id.clone(),
        drw_id: orders.drawer_id.clone(),
        usr_id: orders.user_id.clone(),
        pay_codes,
        tkt_prefix: orders.ticket_prefix.clone(),
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
