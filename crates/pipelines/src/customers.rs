//! The customer sync, both ways, with one owner per field.
//!
//! - **WooCommerce to Counterpoint.** Every WooCommerce customer not yet linked to a `CUST_NO` is matched by e-mail
//!   in `AR_CUST`, or created there by [`find_or_create`], the same code the order pipeline uses. For linked
//!   customers, the fields WooCommerce owns (`customers.owners`) are copied into Counterpoint when they changed.
//! - **Counterpoint to WooCommerce.** Every customer flagged for e-commerce with an e-mail (and every linked one) is
//!   created or updated in WooCommerce in the fields Counterpoint owns, with its `CUST_NO` in the meta key
//!   `cp_cust_no`, which the pricing plugin reads. (WooCommerce's REST API silently drops `_`-prefixed customer meta
//!   on writes, so the key has no underscore.) A digest of what was sent is kept per customer, so an unchanged
//!   customer costs nothing; the state store keeps the link as well.

use std::collections::HashMap;

use crate::jobs::digest;
use chrono::NaiveDateTime;
use cpbridge_core::CustNo;
use cpbridge_core::records::{Customer, ShipAddress};
use cpbridge_counterpoint::port::watermark_after;
use cpbridge_counterpoint::{CounterpointPort, CpResult, CustNoScheme};
use cpbridge_store::SyncRecord;
use cpbridge_woo::model::{AddressWrite, BatchWrite, Customer as WooCustomer, CustomerWrite, MetaData};
use futures_util::TryStreamExt as _;
use serde::Serialize;
use serde_json::json;

use crate::catalog::scan;
use crate::jobs::{PipelineError, Ports, RecordFailures, now};
use crate::order_map;
use crate::settings::OrderSettings;
use crate::sync_settings::CustomerSettings;

/// `CUST_NO` → WooCommerce customer id, with the digest of the Counterpoint-owned fields last sent.
pub const CUSTOMER_RECORDS: &str = "customer";
/// `CUST_NO` → WooCommerce customer id, with the digest of the WooCommerce-owned fields last taken in.
pub const CUSTOMER_IN_RECORDS: &str = "customer_in";
/// The meta key that carries the `CUST_NO` on the WooCommerce customer. No leading underscore: WooCommerce's REST
/// API accepts `_`-prefixed customer meta with a 200 and never stores it.
pub const CUST_NO_META: &str = "cp_cust_no";

const PAGE: usize = 5000;

/// Finds the Counterpoint customer with this e-mail, or creates it (numbered by `scheme`). The one way a web
/// customer reaches `AR_CUST`, from an order or a registration. Returns the `CUST_NO` and whether it was created.
///
/// # Errors
/// When Counterpoint fails or refuses the row.
pub async fn find_or_create(
    cp: &dyn CounterpointPort,
    email: &str,
    customer: &Customer,
    ship_to: Option<&ShipAddress>,
    scheme: &CustNoScheme,
    at: NaiveDateTime,
) -> CpResult<(CustNo, bool)> {
    if let Some(found) = cp.customer_by_email(email).await? {
        return Ok((found.cust_no, false));
    }
    let cust_no = cp.upsert_customer(customer, ship_to, scheme, at).await?;
    tracing::info!(%cust_no, "created Counterpoint customer for a web customer");
    Ok((cust_no, true))
}

fn text(value: Option<&str>) -> String {
    value.map(str::trim).unwrap_or_default().to_owned()
}

/// First and last name: `FST_NAM`/`LST_NAM`, or `NAM` split at its first space.
fn names(c: &Customer) -> (String, String) {
    let (first, last) = (text(c.fst_nam.as_deref()), text(c.lst_nam.as_deref()));
    if !first.is_empty() || !last.is_empty() {
        return (first, last);
    }
    let nam = c.nam.trim();
    match nam.split_once(' ') {
        Some((f, l)) => (f.to_owned(), l.trim().to_owned()),
        None => (nam.to_owned(), String::new()),
    }
}

/// The WooCommerce view of a Counterpoint customer, field by field.
fn fields(c: &Customer) -> serde_json::Map<String, serde_json::Value> {
    let (first, last) = names(c);
    let company = if c.cust_nam_typ.as_deref() == Some("B") { c.nam.trim().to_owned() } else { String::new() };
    let address = json!({
        "company": company, "address_1": text(c.adrs_1.as_deref()), "address_2": text(c.adrs_2.as_deref()),
        "city": text(c.city.as_deref()), "state": text(c.state.as_deref()), "postcode": text(c.zip_cod.as_deref()),
        "country": text(c.cntry.as_deref()),
    });
    let mut map = serde_json::Map::new();
    map.insert("email".into(), json!(text(c.email_adrs_1.as_deref()).to_lowercase()));
    map.insert("name".into(), json!([first, last]));
    map.insert("phone".into(), json!(text(c.phone_1.as_deref())));
    map.insert("billing".into(), address.clone());
    map.insert("shipping".into(), address);
    map
}

/// The digest of the fields Counterpoint owns, with the `CUST_NO` they are sent under.
pub fn counterpoint_digest(c: &Customer, settings: &CustomerSettings) -> String {
    let all = fields(c);
    let owned: serde_json::Map<_, _> = all.into_iter().filter(|(f, _)| settings.counterpoint_owns(f)).collect();
    // The meta key is part of what was sent: customers linked under the old `_cp_cust_no` (which WooCommerce dropped)
    // differ from their digest once, and are sent again with the key that sticks.
    digest(&json!({ "cust_no": c.cust_no, "meta_key": CUST_NO_META, "fields": owned }))
}

fn address_write(value: &serde_json::Value) -> AddressWrite {
    let get = |k: &str| value.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
    AddressWrite {
        company: get("company"),
        address_1: get("address_1"),
        address_2: get("address_2"),
        city: get("city"),
        state: get("state"),
        postcode: get("postcode"),
        country: get("country"),
        ..AddressWrite::default()
    }
}

/// The write of a Counterpoint customer: every field on a create, the fields Counterpoint owns on an update, and
/// always the `cp_cust_no` meta.
pub fn customer_write(c: &Customer, id: Option<u64>, settings: &CustomerSettings) -> CustomerWrite {
    let all = fields(c);
    let send = |field: &str| id.is_none() || settings.counterpoint_owns(field);
    let (first, last) = names(c);
    let email = text(c.email_adrs_1.as_deref()).to_lowercase();
    let phone = text(c.phone_1.as_deref());
    let mut write = CustomerWrite {
        id,
        meta_data: Some(vec![MetaData::new(CUST_NO_META, json!(c.cust_no))]),
        ..CustomerWrite::default()
    };
    if send("email") {
        write.email = Some(email.clone());
    }
    if send("name") {
        write.first_name = Some(first.clone());
        write.last_name = Some(last.clone());
    }
    for (field, slot) in [("billing", &mut write.billing), ("shipping", &mut write.shipping)] {
        if send(field) {
            let mut address = address_write(&all[field]);
            address.first_name = Some(first.clone());
            address.last_name = Some(last.clone());
            *slot = Some(address);
        }
    }
    if send("phone") || send("email") {
        let billing = write.billing.get_or_insert_with(AddressWrite::default);
        if send("phone") {
            billing.phone = Some(phone);
        }
        if send("email") {
            billing.email = Some(email);
        }
    }
    write
}

/// The digest of the fields WooCommerce owns, as WooCommerce has them.
pub fn woocommerce_digest(w: &WooCustomer, settings: &CustomerSettings) -> String {
    let owned: Vec<serde_json::Value> = crate::sync_settings::CUSTOMER_FIELDS
        .iter()
        .filter(|f| !settings.counterpoint_owns(f))
        .map(|f| match *f {
            "email" => json!(w.email.to_lowercase()),
            "name" => json!([w.first_name, w.last_name]),
            "phone" => json!(w.billing.phone),
            "billing" => serde_json::to_value(&w.billing).unwrap_or_default(),
            _ => serde_json::to_value(&w.shipping).unwrap_or_default(),
        })
        .collect();
    digest(&json!(owned))
}

/// Copies the fields WooCommerce owns onto the Counterpoint customer. Returns the ship-to address to store when
/// WooCommerce owns shipping.
pub fn take_woocommerce_fields(c: &mut Customer, w: &WooCustomer, settings: &CustomerSettings) -> Option<ShipAddress> {
    let woo_owns = |f: &str| !settings.counterpoint_owns(f);
    if woo_owns("email") && !w.email.trim().is_empty() {
        c.email_adrs_1 = Some(w.email.trim().to_lowercase());
    }
    if woo_owns("name") {
        let name = format!("{} {}", w.first_name.trim(), w.last_name.trim()).trim().to_owned();
        if !name.is_empty() {
            c.fst_nam = Some(w.first_name.trim().to_owned()).filter(|s| !s.is_empty());
            c.lst_nam = Some(w.last_name.trim().to_owned()).filter(|s| !s.is_empty());
            c.nam = name;
        }
    }
    if woo_owns("phone") {
        c.phone_1 = w.billing.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned);
    }
    if woo_owns("billing") {
        let from = order_map::customer_from_address(&w.billing, c.email_adrs_1.clone(), "");
        (c.adrs_1, c.adrs_2, c.city, c.state, c.zip_cod, c.cntry) =
            (from.adrs_1, from.adrs_2, from.city, from.state, from.zip_cod, from.cntry);
    }
    if woo_owns("shipping") { order_map::ship_address_from(&w.shipping) } else { None }
}

/// Counts of one customer sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CustomerReport {
    /// WooCommerce customers read.
    pub web_customers: usize,
    /// Registrations linked to an existing Counterpoint customer by e-mail.
    pub linked: usize,
    /// Registrations that became new Counterpoint customers.
    pub created_in_counterpoint: usize,
    /// Linked customers whose WooCommerce-owned fields were copied into Counterpoint.
    pub updated_in_counterpoint: usize,
    /// Counterpoint customers that belong in the store.
    pub counterpoint_customers: usize,
    pub created_in_woocommerce: usize,
    pub updated_in_woocommerce: usize,
    pub unchanged: usize,
    pub batch_requests: usize,
    /// Records refused this run (tried again next run), each named.
    #[serde(flatten)]
    pub failures: RecordFailures,
}

/// The customer sync over its ports.
pub struct CustomerSync {
    ports: Ports,
    settings: CustomerSettings,
    orders: OrderSettings,
}

impl CustomerSync {
    /// `orders` gives the numbering scheme and store of new Counterpoint customers, shared with the order pipeline.
    pub fn new(ports: Ports, settings: CustomerSettings, orders: OrderSettings) -> Self {
        CustomerSync { ports, settings, orders }
    }

    /// Both directions: registrations in, then Counterpoint's customers out.
    ///
    /// # Errors
    /// When Counterpoint, the state store or WooCommerce fails as a whole; one customer's failure is counted and
    /// named in the report.
    pub async fn run_once(&self) -> Result<CustomerReport, PipelineError> {
        let mut report = CustomerReport::default();
        self.take_in(&mut report).await?;
        self.send_out(&mut report).await?;
        Ok(report)
    }

    async fn take_in(&self, report: &mut CustomerReport) -> Result<(), PipelineError> {
        let scheme = CustNoScheme { prefix: self.orders.customer_prefix.clone(), width: self.orders.customer_digits };
        let query = vec![("orderby".to_owned(), "id".to_owned()), ("order".to_owned(), "asc".to_owned())];
        let web: Vec<WooCustomer> = self.ports.woo.customers(query).try_collect().await?;
        report.web_customers = web.len();
        for w in &web {
            let email = w.email.trim().to_lowercase();
            if email.is_empty() {
                continue;
            }
            let wanted = woocommerce_digest(w, &self.settings);
            let linked = self.ports.store.sync_record_by_woo_id(CUSTOMER_RECORDS, w.id).await?;
            let cust_no = match linked {
                Some(record) => CustNo::new(record.key),
                None => {
                    let mut billing = w.billing.clone();
                    if billing.first_name.trim().is_empty() && billing.last_name.trim().is_empty() {
                        billing.first_name.clone_from(&w.first_name);
                        billing.last_name.clone_from(&w.last_name);
                    }
                    let customer =
                        order_map::customer_from_address(&billing, Some(email.clone()), &self.orders.store_id);
                    let ship_to = order_map::ship_address_from(&w.shipping);
                    let found =
                        find_or_create(self.ports.cp.as_ref(), &email, &customer, ship_to.as_ref(), &scheme, now())
                            .await;
                    let (cust_no, created) = match found {
                        Ok(found) => found,
                        Err(e) if !e.is_retryable() => {
                            report
                                .failures
                                .fail(format!("WooCommerce customer {} ({email}): not created in AR_CUST: {e}", w.id));
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    if created {
                        report.created_in_counterpoint += 1;
                    } else {
                        report.linked += 1;
                    }
                    // An empty digest: the next step sends the Counterpoint fields and the `cp_cust_no` meta.
                    let link = SyncRecord::linked(cust_no.clone(), w.id);
                    self.ports.store.put_sync_records(CUSTOMER_RECORDS, &[link], now()).await?;
                    let taken = SyncRecord::sent(cust_no.clone(), Some(w.id), wanted.clone());
                    self.ports.store.put_sync_records(CUSTOMER_IN_RECORDS, &[taken], now()).await?;
                    continue;
                }
            };
            let last = self.ports.store.sync_records_for(CUSTOMER_IN_RECORDS, &[cust_no.to_string()]).await?;
            if last.first().is_some_and(|r| r.hash == wanted) {
                continue;
            }
            let Some(mut customer) = self.ports.cp.customer(&cust_no).await? else {
                // Deleted in Counterpoint: unlink, and the next run treats the account as a new registration.
                self.ports.store.delete_sync_records(CUSTOMER_RECORDS, &[cust_no.to_string()]).await?;
                continue;
            };
            let ship_to = take_woocommerce_fields(&mut customer, w, &self.settings);
            if let Err(e) = self.ports.cp.upsert_customer(&customer, ship_to.as_ref(), &scheme, now()).await {
                if e.is_retryable() {
                    return Err(e.into());
                }
                report.failures.fail(format!("customer {cust_no}: WooCommerce's fields not taken: {e}"));
                continue;
            }
            report.updated_in_counterpoint += 1;
            let taken = SyncRecord::sent(cust_no, Some(w.id), wanted);
            self.ports.store.put_sync_records(CUSTOMER_IN_RECORDS, &[taken], now()).await?;
        }
        Ok(())
    }

    async fn send_out(&self, report: &mut CustomerReport) -> Result<(), PipelineError> {
        let cp = self.ports.cp.clone();
        let all = scan(
            |wm| {
                let cp = cp.clone();
                async move { cp.customers_changed_since(&wm, PAGE).await }
            },
            |c: &Customer| watermark_after(c.rs_utc_dt, &[&c.cust_no]),
        )
        .await?;
        let records: HashMap<String, SyncRecord> =
            self.ports.store.sync_records(CUSTOMER_RECORDS).await?.into_iter().map(|r| (r.key.clone(), r)).collect();
        let mut pending: Vec<(Customer, Option<u64>, String)> = Vec::new();
        for c in all {
            let record = records.get(c.cust_no.as_str());
            let has_email = c.email_adrs_1.as_deref().is_some_and(|e| e.contains('@'));
            if !(has_email && (c.is_ecomm_cust || record.is_some())) {
                continue;
            }
            report.counterpoint_customers += 1;
            let wanted = counterpoint_digest(&c, &self.settings);
            match record {
                Some(r) if r.hash == wanted => report.unchanged += 1,
                Some(SyncRecord { woo_id: Some(id), .. }) => pending.push((c, Some(*id), wanted)),
                _ => pending.push((c, None, wanted)),
            }
        }
        for _pass in 0..2 {
            let mut again = Vec::new();
            for chunk in pending.chunks(self.settings.batch_size) {
                again.extend(self.send(chunk, report).await?);
            }
            if again.is_empty() {
                break;
            }
            pending = again;
        }
        Ok(())
    }

    /// Sends one batch and stores what landed. Returns creates refused because the e-mail has an account, as
    /// updates of that account.
    async fn send(
        &self,
        chunk: &[(Customer, Option<u64>, String)],
        report: &mut CustomerReport,
    ) -> Result<Vec<(Customer, Option<u64>, String)>, PipelineError> {
        let mut write = BatchWrite::default();
        let (mut creates, mut updates) = (Vec::new(), Vec::new());
        for entry in chunk {
            let (c, id, _) = entry;
            match id {
                None => {
                    write.create.push(customer_write(c, None, &self.settings));
                    creates.push(entry);
                }
                Some(id) => {
                    write.update.push(customer_write(c, Some(*id), &self.settings));
                    updates.push(entry);
                }
            }
        }
        let outcome = self.ports.woo.batch_customers(write).await?;
        report.batch_requests += outcome.requests;
        let (mut done, mut forget, mut retry) = (Vec::new(), Vec::new(), Vec::new());
        for ((c, _, wanted), result) in creates.iter().map(|e| (&e.0, &e.1, &e.2)).zip(&outcome.created) {
            match result {
                Ok(created) => {
                    report.created_in_woocommerce += 1;
                    done.push(SyncRecord::sent(c.cust_no.clone(), Some(created.id), wanted.clone()));
                }
                Err(e) if e.code == "registration-error-email-exists" => {
                    let email = text(c.email_adrs_1.as_deref());
                    match self.ports.woo.customer_by_email(&email).await? {
                        Some(existing) => retry.push((c.clone(), Some(existing.id), wanted.clone())),
                        None => report.failures.fail(format!("customer {}: {}: {}", c.cust_no, e.code, e.message)),
                    }
                }
                Err(e) => report
                    .failures
                    .fail(format!("customer {}: not created in WooCommerce: {}: {}", c.cust_no, e.code, e.message)),
            }
        }
        for ((c, id, wanted), result) in updates.iter().map(|e| (&e.0, &e.1, &e.2)).zip(&outcome.updated) {
            match result {
                Ok(_) => {
                    report.updated_in_woocommerce += 1;
                    done.push(SyncRecord::sent(c.cust_no.clone(), *id, wanted.clone()));
                }
                Err(e) if e.code.ends_with("invalid_id") => {
                    forget.push(c.cust_no.to_string());
                    report.failures.fail(format!(
                        "customer {}: WooCommerce customer {} is gone; it will be created again",
                        c.cust_no,
                        id.unwrap_or_default()
                    ));
                }
                Err(e) => report
                    .failures
                    .fail(format!("customer {}: not updated in WooCommerce: {}: {}", c.cust_no, e.code, e.message)),
            }
        }
        self.ports.store.put_sync_records(CUSTOMER_RECORDS, &done, now()).await?;
        if !forget.is_empty() {
            self.ports.store.delete_sync_records(CUSTOMER_RECORDS, &forget).await?;
            self.ports.store.delete_sync_records(CUSTOMER_IN_RECORDS, &forget).await?;
        }
        Ok(retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop_customer() -> Customer {
        Customer {
            cust_no: "1001".into(),
            nam: "Ada Lovelace".into(),
            adrs_1: Some("1 Main St".into()),
            city: Some("San Jose".into()),
            state: Some("CA".into()),
            zip_cod: Some("95112".into()),
            cntry: Some("US".into()),
            phone_1: Some("408-555-0100".into()),
            email_adrs_1: Some("Ada@Example.test".into()),
            cust_nam_typ: Some("P".into()),
            is_ecomm_cust: true,
            ..Customer::default()
        }
    }

    #[test]
    fn a_create_carries_every_field_and_the_cust_no() {
        let write =
            serde_json::to_value(customer_write(&shop_customer(), None, &CustomerSettings::default())).expect("json");
        assert_eq!(write["email"], "ada@example.test");
        assert_eq!((write["first_name"].as_str(), write["last_name"].as_str()), (Some("Ada"), Some("Lovelace")));
        assert_eq!(write["billing"]["postcode"], "95112");
        assert_eq!(write["billing"]["phone"], "408-555-0100");
        assert_eq!(write["shipping"]["address_1"], "1 Main St");
        assert_eq!(write["meta_data"], json!([{ "key": "cp_cust_no", "value": "1001" }]));
    }

    #[test]
    fn an_update_leaves_what_woocommerce_owns() {
        let settings = CustomerSettings::default();
        let write = serde_json::to_value(customer_write(&shop_customer(), Some(7), &settings)).expect("json");
        assert!(write.get("shipping").is_none(), "the customer's own shipping address stays: {write}");
        assert_eq!(write["billing"]["city"], "San Jose");
        let mut settings = settings;
        settings.owners.insert("billing".into(), "woocommerce".into());
        settings.owners.insert("phone".into(), "woocommerce".into());
        settings.owners.insert("email".into(), "woocommerce".into());
        let write = serde_json::to_value(customer_write(&shop_customer(), Some(7), &settings)).expect("json");
        assert!(write.get("billing").is_none() && write.get("email").is_none(), "{write}");
        assert_eq!(write["first_name"], "Ada");
    }

    #[test]
    fn digests_follow_the_owned_fields_only() {
        let settings = CustomerSettings::default();
        let c = shop_customer();
        let mut moved = c.clone();
        moved.city = Some("Oakland".into());
        assert_ne!(counterpoint_digest(&c, &settings), counterpoint_digest(&moved, &settings));
        let mut woo_billing = settings.clone();
        woo_billing.owners.insert("billing".into(), "woocommerce".into());
        woo_billing.owners.insert("shipping".into(), "woocommerce".into());
        assert_eq!(counterpoint_digest(&c, &woo_billing), counterpoint_digest(&moved, &woo_billing));
    }

    #[test]
    fn woocommerce_owned_fields_are_taken_into_counterpoint() {
        let mut settings = CustomerSettings::default();
        settings.owners.insert("phone".into(), "woocommerce".into());
        let w: WooCustomer = serde_json::from_value(json!({
            "id": 7, "email": "ada@example.test", "first_name": "Ada", "last_name": "King",
            "billing": { "phone": "650-555-0199", "city": "Elsewhere" },
            "shipping": { "first_name": "Ada", "last_name": "King", "address_1": "2 Dock Rd", "city": "Oakland",
                          "country": "US" }
        }))
        .expect("customer");
        let mut c = shop_customer();
        let ship = take_woocommerce_fields(&mut c, &w, &settings).expect("shipping is the store's");
        assert_eq!(c.phone_1.as_deref(), Some("650-555-0199"));
        assert_eq!((c.nam.as_str(), c.city.as_deref()), ("Ada Lovelace", Some("San Jose")), "name and billing stay");
        assert_eq!((ship.adrs_1.as_deref(), ship.city.as_deref()), (Some("2 Dock Rd"), Some("Oakland")));
        let before = woocommerce_digest(&w, &settings);
        let mut renamed = w.clone();
        renamed.last_name = "Byron".into();
        assert_eq!(woocommerce_digest(&renamed, &settings), before, "the name is Counterpoint's");
    }
}
