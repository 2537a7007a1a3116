//! What the order pipeline needs to know about this shop: which orders to take, where they go in Counterpoint, how
//! payments map, and how hard to retry. It is the `[orders]` table of the config file; every default is stated here.

use std::collections::BTreeMap;

use cpbridge_core::CustNo;
use serde::Deserialize;

use crate::backoff::Backoff;

/// The `[orders]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrderSettings {
    /// WooCommerce statuses that are staged before payment, besides every paid order (`date_paid` set, whatever
    /// its status now: WooCommerce completes cash-on-delivery and virtual orders at once). Add `on-hold` to book
    /// bank-transfer orders before the money arrives.
    pub stage_statuses: Vec<String>,
    /// `PS_DOC_HDR.STR_ID`.
    pub store_id: String,
    /// `STA_ID`: a station of cpbridge's own, so its ticket numbers never meet a register's.
    pub station_id: String,
    pub drawer_id: String,
    pub user_id: String,
    /// Prefix of the ticket numbers cpbridge allocates (no register may use it).
    pub ticket_prefix: String,
    /// Customer for guest checkouts.
    pub guest_customer: CustNo,
    /// Where ordered stock is committed (`IM_INV.LOC_ID`, `STK_LOC_ID`).
    pub fulfilment_location: String,
    /// `PRC_LOC_ID`; the fulfilment location when empty.
    pub price_location: String,
    /// `TAX_COD` of the document, when the shop uses one for web orders.
    pub tax_code: Option<String>,
    /// WooCommerce `payment_method` to Counterpoint `PAY_COD`.
    pub pay_codes: BTreeMap<String, String>,
    /// `PAY_COD` for a payment method missing from `pay_codes`; without it such an order fails with a clear reason.
    pub default_pay_code: Option<String>,
    /// WooCommerce shipping `method_id` to `SHIP_VIA_COD`; unmapped methods leave `SHIP_VIA_COD` empty.
    pub ship_via_codes: BTreeMap<String, String>,
    /// Status the WooCommerce order is moved to once it is in Counterpoint; none keeps its status.
    pub applied_status: Option<String>,
    /// Status once the order is released or closed in Counterpoint.
    pub fulfilled_status: String,
    /// Reserved for a positive cancellation from Counterpoint. Counterpoint keeps no such marker that cpbridge can
    /// read, so cpbridge never cancels a web order on its own: an order whose document left without a release it
    /// can find gets a note and an `order_fate_unknown` alert instead.
    pub cancelled_status: String,
    /// New customers are numbered `customer_prefix` + a zero-padded counter of `customer_digits` digits.
    pub customer_prefix: String,
    pub customer_digits: usize,
    /// Attempts before a staged order goes `DEAD`.
    pub max_attempts: i64,
    /// How long a `DEAD` order keeps its stock off the web after it was staged, in hours, while an operator may
    /// still replay it; after that the store may sell the stock again (`cpbridge dlq discard` ends one at once).
    pub dead_hold_hours: i64,
    /// Between attempts at a staged order.
    pub retry: Backoff,
    /// Between attempts at a WooCommerce call that failed: writing the Counterpoint numbers back (an alert goes out
    /// after `max_attempts` of them, and retries go on at the cap), and fetching an order a webhook named.
    pub woo_retry: Backoff,
    /// How long a claimed order is held before another worker may take it over, in seconds.
    pub lease_secs: i64,
    /// Orders claimed per round.
    pub batch_size: usize,
    /// The cut-over date (`"2026-12-01"`): orders created before it are not booked, the first poll reaches back
    /// to it, and the orders reconcile starts there. Unset, it is the day cpbridge first ran (kept in the state
    /// store).
    pub since: Option<chrono::NaiveDate>,
    /// `TAX_OVRD_REAS` marker that tells Counterpoint users where the document came from.
    pub source_marker: String,
    /// The store's time zone, for the dates written to Counterpoint (`counterpoint.timezone`, set from there).
    #[serde(skip)]
    pub timezone: StoreTimezone,
}

/// The time zone of the shop's Counterpoint: its dates (`TKT_DT`, `PAY_DAT`) are local, not UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoreTimezone {
    /// The time zone of the machine cpbridge runs on (the default: it usually runs in the shop).
    #[default]
    Machine,
    /// An IANA zone such as `America/Chicago`.
    Named(chrono_tz::Tz),
}

impl StoreTimezone {
    /// Reads `counterpoint.timezone`: empty for the machine's zone, else an IANA name.
    ///
    /// # Errors
    /// A message naming the setting when the name is not an IANA zone.
    pub fn parse(name: Option<&str>) -> Result<StoreTimezone, String> {
        match name.map(str::trim).filter(|n| !n.is_empty()) {
            None => Ok(StoreTimezone::Machine),
            Some(name) => name.parse::<chrono_tz::Tz>().map(StoreTimezone::Named).map_err(|_| {
                format!("counterpoint.timezone {name:?} is not an IANA time zone (e.g. \"America/Chicago\")")
            }),
        }
    }

    /// The local date and time in the store at the UTC instant `utc`.
    pub fn local(self, utc: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
        use chrono::TimeZone;
        match self {
            StoreTimezone::Machine => chrono::Local.from_utc_datetime(&utc).naive_local(),
            StoreTimezone::Named(tz) => tz.from_utc_datetime(&utc).naive_local(),
        }
    }
}

impl Default for OrderSettings {
    fn default() -> Self {
        OrderSettings {
            stage_statuses: vec!["processing".into()],
            store_id: "1".into(),
            station_id: "WEB".into(),
            drawer_id: "1".into(),
            user_id: "CPBRIDGE".into(),
            ticket_prefix: "W".into(),
            guest_customer: "CASH".into(),
            fulfilment_location: "MAIN".into(),
            price_location: String::new(),
            tax_code: None,
            pay_codes: BTreeMap::from([
                ("stripe".to_owned(), "CREDIT".to_owned()),
                ("woocommerce_payments".to_owned(), "CREDIT".to_owned()),
                ("ppcp-gateway".to_owned(), "PAYPAL".to_owned()),
                ("paypal".to_owned(), "PAYPAL".to_owned()),
                ("bacs".to_owned(), "CHECK".to_owned()),
                ("cheque".to_owned(), "CHECK".to_owned()),
                ("cod".to_owned(), "CASH".to_owned()),
            ]),
            default_pay_code: None,
            ship_via_codes: BTreeMap::new(),
            applied_status: None,
            fulfilled_status: "completed".into(),
            cancelled_status: "cancelled".into(),
            customer_prefix: "WEB".into(),
            customer_digits: 6,
            max_attempts: 8,
            dead_hold_hours: 24,
            retry: Backoff::default(),
            woo_retry: Backoff { base_secs: 10.0, cap_secs: 900.0 },
            lease_secs: 300,
            batch_size: 50,
            since: None,
            source_marker: "EC_WOOCOMM".into(),
            timezone: StoreTimezone::Machine,
        }
    }
}

impl OrderSettings {
    /// Every problem with these settings, at once.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut need = |name: &str, value: &str| {
            if value.trim().is_empty() {
                problems.push(format!("orders.{name} must not be empty"));
            }
        };
        need("store_id", &self.store_id);
        need("station_id", &self.station_id);
        need("drawer_id", &self.drawer_id);
        need("user_id", &self.user_id);
        need("guest_customer", &self.guest_customer);
        need("fulfilment_location", &self.fulfilment_location);
        need("fulfilled_status", &self.fulfilled_status);
        need("cancelled_status", &self.cancelled_status);
        if self.stage_statuses.is_empty() {
            problems.push("orders.stage_statuses must name at least one status (\"processing\")".into());
        }
        for status in &self.stage_statuses {
            if matches!(status.as_str(), "cancelled" | "refunded" | "failed" | "trash" | "checkout-draft") {
                problems.push(format!("orders.stage_statuses: a {status:?} order cannot be staged"));
            }
        }
        if self.dead_hold_hours < 0 {
            problems.push("orders.dead_hold_hours must be 0 or more".into());
        }
        if self.max_attempts < 1 {
            problems.push("orders.max_attempts must be at least 1".into());
        }
        if self.lease_secs < 10 {
            problems.push("orders.lease_secs must be at least 10".into());
        }
        if self.batch_size == 0 {
            problems.push("orders.batch_size must be at least 1".into());
        }
        if cpbridge_core::docid::format_tkt_no(&self.ticket_prefix, 999_999).is_none() {
            problems.push(format!(
                "orders.ticket_prefix {:?} is too long: with \"-\" and 6 digits a ticket number must fit 12 \
                 characters (Counterpoint's release ticket appends -01 within TKT_NO's 15), so at most 5",
                self.ticket_prefix
            ));
        }
        if self.customer_prefix.len() + self.customer_digits > 15 {
            problems.push("orders.customer_prefix plus customer_digits must fit CUST_NO (15 characters)".into());
        }
        problems
    }

    /// `PRC_LOC_ID` of web documents.
    pub fn price_location(&self) -> &str {
        if self.price_location.trim().is_empty() { &self.fulfilment_location } else { &self.price_location }
    }
}

impl OrderSettings {
    /// [`OrderSettings::dead_hold_hours`] as a duration.
    pub fn dead_hold(&self) -> chrono::Duration {
        chrono::Duration::hours(self.dead_hold_hours.max(0))
    }
}
