//! `cpbridge init`: writes a commented `cpbridge.toml` with every setting at its default, so a shop's IT person
//! edits values instead of looking up names. A test parses the template and checks every default against the code.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::{Context as _, Error};
use clap::Args;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the file.
    #[arg(long, default_value = "cpbridge.toml")]
    path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

/// The commented config with every default.
pub const TEMPLATE: &str = r#"# cpbridge configuration. Every setting is shown at its default; the ones marked REQUIRED must be filled in.
# Secrets can stay out of this file: CPBRIDGE_CP_URL, CPBRIDGE_WOO_KEY, CPBRIDGE_WOO_SECRET, CPBRIDGE_WEBHOOK_SECRET
# and CPBRIDGE_ALERT_WEBHOOK override the matching settings. Unknown keys are refused, so a typo is an error.
# Check everything with `cpbridge doctor`.

[counterpoint]
# REQUIRED. An ADO.NET connection string to the Counterpoint company database, e.g.
# "server=tcp:CPSERVER,1433;database=CPSQL;user=cpbridge;password=...;TrustServerCertificate=true",
# or "sqlite:PATH" for a replica made by `cpbridge cp seed`.
url = ""
# The shop's time zone: Counterpoint's dates (TKT_DT, PAY_DAT) are local. Unset, this machine's zone.
# timezone = "America/Chicago"

[woocommerce]
# REQUIRED. The store's address; cpbridge adds /wp-json/wc/v3.
url = "https://shop.example.com"
# REQUIRED. A REST API key with Read/Write permission (WooCommerce > Settings > Advanced > REST API).
consumer_key = ""
consumer_secret = ""
# REQUIRED. The secret set on the order webhooks; deliveries signed otherwise are refused.
webhook_secret = ""
# Seconds before a request to the store is given up.
timeout_secs = 30

[woocommerce.retry]
# A request that fails with 5xx, 429 or a dropped connection is retried with growing, jittered waits.
attempts = 6                     # in all, the first included
first_wait_ms = 500              # doubled each time
max_wait_secs = 30

[state]
# cpbridge's own state: webhook inbox, watermarks, job runs, alerts, what each sync last pushed.
path = "cpbridge-state.db"

[server]
# Webhooks, the status page (/), /status.json, /metrics, /healthz, /readyz. Put a TLS proxy in front when
# WooCommerce is on another machine.
listen = "127.0.0.1:8787"
# The address WooCommerce reaches cpbridge at, through the proxy; with it a deleted order webhook is re-created.
# public_url = "https://cpbridge.shop.example.com"

[alerts]
# Alerts are always logged and kept; with a URL they are also POSTed there as JSON (Slack-compatible "text").
# webhook_url = "https://hooks.slack.com/services/..."
repeat_after_mins = 60           # the same alert about the same thing goes out at most this often
failures_in_a_row = 3            # a job alerts after this many failed runs (an unreachable database at once)
bad_signatures_per_minute = 10   # webhook deliveries with a bad signature that make a burst worth an alert

# Alerts by e-mail as well (uncomment the table). The password can come from CPBRIDGE_SMTP_PASSWORD.
# [alerts.email]
# smtp_host = "smtp.example.com"
# smtp_port = 587                # 587 with "starttls", 465 with "tls"
# security = "starttls"          # "starttls", "tls", or "none" for a relay on the same network
# username = "cpbridge@shop.example.com"
# password = ""
# from = "cpbridge <cpbridge@shop.example.com>"
# to = ["it@shop.example.com"]

[schedule]
# Seconds between runs of each job in `cpbridge run`. For the four syncs, 0 means by hand only (`cpbridge sync`).
order_pull_secs = 120.0          # the order poll behind the webhooks
order_process_secs = 60.0        # applying staged orders (staging also wakes it at once)
order_writeback_secs = 30.0      # retrying write-backs of the Counterpoint numbers
order_status_secs = 300.0        # following documents to completed or cancelled
intake_secs = 5.0                # the webhook inbox (a delivery also wakes it at once)
products_secs = 21600.0          # 6 hours
inventory_events_secs = 5.0      # USER_INV_CHANGES
inventory_reconcile_secs = 43200.0   # 12 hours
customers_secs = 86400.0         # daily
pricing_refresh_secs = 30.0      # the pricing API's price book (only what changed is read)
webhooks_secs = 300.0            # are the order webhooks still active? (WooCommerce disables failing ones)
orders_reconcile_secs = 3600.0   # every web order since the cut-over against Counterpoint; missing ones staged

[orders]
stage_statuses = ["processing"]  # booked before payment too (every paid order is booked anyway); add "on-hold"
store_id = "1"                   # PS_DOC_HDR.STR_ID
station_id = "WEB"               # cpbridge's own station, so its tickets never meet a register's
drawer_id = "1"
user_id = "CPBRIDGE"
ticket_prefix = "W"              # prefix of cpbridge's ticket numbers (at most 5: W-000001 leaves room for -01)
guest_customer = "CASH"          # AR_CUST for guest checkouts
fulfilment_location = "MAIN"     # where ordered stock is committed (IM_INV.LOC_ID)
price_location = ""              # PRC_LOC_ID; empty uses the fulfilment location
# tax_code = "WEB"               # PS_DOC_HDR.TAX_COD, when the shop uses one for web orders
# default_pay_code = "CREDIT"    # PAY_COD for a payment method missing below; unset fails such an order clearly
fulfilled_status = "completed"   # WooCommerce status once the document is released or closed
# cancelled_status = "cancelled" # reserved: cpbridge never cancels a web order on a guess (see README)
# applied_status = "processing"  # status once the order is in Counterpoint; unset keeps it
customer_prefix = "WEB"          # new customers are WEB000001, WEB000002, ...
customer_digits = 6
max_attempts = 8                 # then DEAD, and an alert
dead_hold_hours = 24             # a DEAD order keeps its stock off the web this long (`dlq discard` ends it)
retry = { base_secs = 30.0, cap_secs = 3600.0 }      # between attempts at a staged order
woo_retry = { base_secs = 10.0, cap_secs = 900.0 }   # between attempts at a write-back
lease_secs = 300                 # how long a claimed order is held before another worker may take it
batch_size = 50                  # orders claimed per round
# since = "2026-12-01"           # cut-over: orders created before it are not booked (default: the first run's day)
source_marker = "EC_WOOCOMM"     # TAX_OVRD_REAS marker on cpbridge's documents

[orders.pay_codes]
# WooCommerce payment_method = Counterpoint PAY_COD
stripe = "CREDIT"
woocommerce_payments = "CREDIT"
ppcp-gateway = "PAYPAL"
paypal = "PAYPAL"
bacs = "CHECK"
cheque = "CHECK"
cod = "CASH"

[orders.ship_via_codes]
# WooCommerce shipping method_id = SHIP_VIA_COD; unmapped methods leave SHIP_VIA_COD empty
# flat_rate = "UPS"

[products]
# Fields Counterpoint owns and keeps overwriting; a field left out is set on create and then left to the store.
owned_fields = ["name", "description", "short_description", "regular_price", "sale_price", "categories", "weight", "tax_class", "status"]
retired_status = "draft"         # for items that left the web; products are never deleted ("draft" or "private")
price_location = ""              # an IM_PRC.LOC_ID whose prices the store shows; empty uses the item's own prices
batch_size = 100
# Gridded items as variable products, a variation per web cell (orders booked on their cell, stock and contract prices
# per cell; variable products and variations made by hand are adopted by SKU). false: one simple product per grid.
grid_variations = true
variation_sku = "item-dims"      # a variation's SKU: ITEM_NO-DIM1-DIM2, or "barcode" (the cell's IM_BARCOD barcode)

[products.tax_classes]
# TAX_CATEG_COD = WooCommerce tax class slug; unmapped codes use the standard rate
# FOOD = "reduced-rate"

[products.category_names]
# CATEG_COD = the category name the store shows; unmapped codes are shown as they are
# APPAREL = "Clothing"

[inventory]
web_locations = ["MAIN"]         # IM_INV.LOC_IDs the store sells from (EC_CTL.STK_LOC_ID is the usual one)
buffer = 0                       # units held back per SKU
backorders = "no"                # "no", "notify" or "yes"
batch_size = 100
changes_per_round = 2000         # USER_INV_CHANGES rows read per round

[pricing]
# The contract-pricing API (POST /api/v1/prices) is on when it has a key; CPBRIDGE_PRICING_KEY adds one.
api_keys = []                    # long random strings; the WordPress plugin sends one as "Authorization: Bearer"
currency = "USD"
requests_per_minute = 0          # per key; 0 is unlimited
price_location = ""              # IM_PRC.LOC_ID; empty uses orders.price_location

[customers]
batch_size = 100

[customers.owners]
# Which side owns each customer field: "counterpoint" or "woocommerce".
email = "counterpoint"
name = "counterpoint"
phone = "counterpoint"
billing = "counterpoint"
shipping = "woocommerce"
"#;

/// `cpbridge init`.
///
/// # Errors
/// When the file exists (without `--force`) or cannot be written.
pub fn run(args: &InitArgs) -> crate::error::Result<ExitCode> {
    if !args.force && args.path.exists() {
        return Err(Error::Usage(format!("{} already exists; pass --force to overwrite it", args.path.display())));
    }
    std::fs::write(&args.path, TEMPLATE).with_context(|| format!("writing {}", args.path.display()))?;
    println!(
        "wrote {}: fill in the REQUIRED settings, then run `cpbridge doctor -c {}`",
        args.path.display(),
        args.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use cpbridge_pipelines::OrderSettings;
    use cpbridge_pipelines::sync_settings::{CustomerSettings, InventorySettings, ProductSettings};

    #[test]
    fn the_template_states_every_default_the_code_has() {
        let config: Config = toml::from_str(TEMPLATE).expect("the template parses with no unknown key");
        assert_eq!(config.orders, OrderSettings::default());
        assert_eq!(config.products, ProductSettings::default());
        assert_eq!(config.inventory, InventorySettings::default());
        assert_eq!(config.customers, CustomerSettings::default());
        assert_eq!(config.schedule, crate::config::ScheduleSection::default());
        assert_eq!(config.alerts, crate::config::AlertSection::default());
        assert_eq!(config.pricing, crate::config::PricingSection::default());
        assert_eq!(config.woocommerce.timeout_secs, 30);
        assert_eq!(config.woocommerce.retry, crate::config::WooRetry::default());
        assert_eq!(config.state.path, crate::config::StateSection::default().path);
        assert_eq!(config.server.listen, crate::config::ServerSection::default().listen);
        assert_eq!(config.server.public_url, None);
        // Left as it is, the template names what must be filled in.
        let problems = config.problems();
        for key in ["counterpoint.url", "woocommerce.consumer_key", "woocommerce.webhook_secret"] {
            assert!(problems.iter().any(|p| p.contains(key)), "{key}: {problems:?}");
        }
    }
}
