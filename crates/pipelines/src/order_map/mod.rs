//! WooCommerce order to Counterpoint order: the pure rules, with no I/O.
//!
//! Amounts follow COUNTERPOINT.md: each line's price is its pre-coupon unit price (`subtotal / quantity`), coupons
//! go to `TOT_HDR_DISC`, shipping and fees to `TOT_MISC`, tax to `TAX_AMT`, and the result must reconcile with the
//! WooCommerce total to the cent. A paid order carries one deposit payment (`FINAL_PMT = 'N'`).

use std::collections::HashMap;

use chrono::NaiveDate;
use cpbridge_core::money::fits_money;
use cpbridge_core::order::{DocContact, DocLine, DocPayment, DocTotals, OrderDocument, TotalsMismatch};
use cpbridge_core::records::{Customer, Item, ShipAddress};
use cpbridge_core::staging::{NewStagedOrder, StagedLine};
use cpbridge_core::{CustNo, Sku, WooOrderId, round_cents, round_money};
use cpbridge_woo::model::{Address, Order, OrderStatus};
use rust_decimal::Decimal;
use serde_json::json;

use crate::settings::OrderSettings;

mod refunds;

pub use refunds::{net_of_refunds, refund_lines_text, with_refund_details};

/// What intake does with an order, as WooCommerce has it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntakeDecision {
    /// Stage it (again is harmless).
    Stage,
    /// Take it out of staging if it is not applied yet.
    Cancel,
    /// Not paid and not in a staged status (pending payment, on-hold when not configured, a draft).
    Ignore,
    /// Created before the cut-over (`orders.since`): the old system's business, not cpbridge's.
    BeforeCutover,
}

/// Decides by what happened to the order, not by one status: an order that was paid (`date_paid` set) is booked
/// whatever its status is now, because WooCommerce completes some paid orders at once (cash on delivery, orders of
/// only virtual and downloadable products, auto-complete plugins, staff). `orders.stage_statuses` adds statuses
/// that are booked before payment (`on-hold` for bank transfers). Cancelled, refunded, failed and trashed orders
/// are taken out of staging.
pub fn intake_decision(order: &Order, settings: &OrderSettings, cutover: NaiveDate) -> IntakeDecision {
    let status = &order.status;
    match status {
        OrderStatus::Cancelled | OrderStatus::Refunded | OrderStatus::Failed => return IntakeDecision::Cancel,
        OrderStatus::Other(s) if s == "trash" => return IntakeDecision::Cancel,
        _ => {}
    }
    let listed = settings.stage_statuses.iter().any(|s| s == status.as_str());
    let unpaid_state = matches!(status, OrderStatus::Pending | OrderStatus::CheckoutDraft)
        || matches!(status, OrderStatus::Other(s) if s == "auto-draft");
    let paid = order.date_paid_gmt.is_some() && !unpaid_state;
    if !(listed || paid) {
        return IntakeDecision::Ignore;
    }
    if order.date_created_gmt.is_some_and(|created| created.date() < cutover) {
        return IntakeDecision::BeforeCutover;
    }
    IntakeDecision::Stage
}

/// Whether an order's status says WooCommerce has finished with it, so cpbridge must not move it back (its
/// write-back keeps the status, and the follow job leaves it alone).
pub fn is_finished_in_store(status: &OrderStatus) -> bool {
    matches!(status, OrderStatus::Completed)
}

/// Why a WooCommerce order cannot become a Counterpoint order as it is. Each names the order, and the line and
/// field where there is one, so that the reason on the staging row tells an operator what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderProblem {
    #[error("order {order}: the order JSON cannot be read: {detail}")]
    Unreadable { order: String, detail: String },
    #[error("order {order}: it has no line items")]
    NoLines { order: String },
    #[error("order {order}, line {line} ({name:?}, product {product_id}): the line has no SKU, so it matches no item")]
    MissingSku { order: String, line: usize, name: String, product_id: u64 },
    #[error("order {order}, line {line} (SKU {sku}): quantity must be a positive whole number, got {value}")]
    BadQuantity { order: String, line: usize, sku: Sku, value: String },
    #[error("order {order}, line {line} (SKU {sku}): field {field} is missing")]
    MissingLineAmount { order: String, line: usize, sku: Sku, field: &'static str },
    #[error("order {order}, line {line}: unknown SKU {sku} (no IM_ITEM row has ITEM_NO {sku:?})")]
    UnknownSku { order: String, line: usize, sku: Sku },
    #[error("order {order}, line {line} (SKU {sku}): item is not sellable: {why}")]
    NotSellable { order: String, line: usize, sku: Sku, why: String },
    #[error("order {order}: field {field} is missing")]
    MissingAmount { order: String, field: &'static str },
    #[error("order {order}: field total: {source}")]
    Totals {
        order: String,
        #[source]
        source: Box<TotalsMismatch>,
    },
    #[error("order {order}: payment method {method:?} has no Counterpoint pay code (add it to orders.pay_codes)")]
    NoPayCode { order: String, method: String },
    #[error("order {order}: customer mapping: {detail}")]
    Customer { order: String, detail: String },
    #[error(
        "order {order}: {field} is {value}, beyond what Counterpoint's DECIMAL(15,4) columns hold (99,999,999,999.9999)"
    )]
    OutOfRange { order: String, field: String, value: Decimal },
    #[error("order {order}: field refunds: {refunded} refunded is more than the order total {total}")]
    OverRefunded { order: String, refunded: Decimal, total: Decimal },
    #[error("order {order}, line {line} (SKU {sku}): field refunds: {refunded} refunded of a quantity of {quantity}")]
    OverRefundedLine { order: String, line: usize, sku: Sku, refunded: i64, quantity: i64 },
    #[error(
        "order {order}: field refunds: refund {refund_id} is on the order, but the staged copy lacks its lines (the \
         refund was made while the order was being fetched); `cpbridge dlq retry` fetches the order and its refunds \
         again"
    )]
    RefundDetailsMissing { order: String, refund_id: WooOrderId },
}

impl OrderProblem {
    /// True when only a change to the order in WooCommerce can cure it: retrying the stored copy would fail the same
    /// way, so the order goes `DEAD` at once (`dlq retry` fetches it fresh). An unknown SKU, an unsellable item, a
    /// missing pay code or customer can be fixed in Counterpoint or the config, so those are retried.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            OrderProblem::UnknownSku { .. }
                | OrderProblem::NotSellable { .. }
                | OrderProblem::NoPayCode { .. }
                | OrderProblem::Customer { .. }
        )
    }
}

/// Refuses an amount that no `DECIMAL(15,4)` column can hold, naming the field.
fn in_range(order: &str, field: impl FnOnce() -> String, value: Decimal) -> Result<Decimal, OrderProblem> {
    if fits_money(value) {
        Ok(value)
    } else {
        Err(OrderProblem::OutOfRange { order: order.to_owned(), field: field(), value })
    }
}

/// Reads a WooCommerce order body. The error names the field that could not be read
/// (`line_items[0].quantity: 1.5 is not a whole quantity`), so the reason on the staging row says where to look.
///
/// # Errors
/// When the body is not JSON, or not an order.
pub fn read_order(raw: &str) -> Result<Order, String> {
    let mut json = serde_json::Deserializer::from_str(raw);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." { inner.to_string() } else { format!("field {path}: {inner}") }
    })
}

/// How the order is named in messages: its number, and its id when they differ.
pub fn order_label(order: &Order) -> String {
    if order.number.is_empty() || order.number == order.id.to_string() {
        format!("#{}", order.id)
    } else {
        format!("#{} (id {})", order.number, order.id)
    }
}

fn sku_of(line: &cpbridge_woo::model::LineItem) -> Sku {
    Sku::from(line.sku.as_deref().map(str::trim).unwrap_or_default())
}

/// The staging row for an order; `raw_order_json` is the body as WooCommerce sent it (with the refund details
/// cpbridge fetched, when it has refunds). Lines and the total are net of refunds, as they will be booked.
pub fn staged_order(order: &Order, raw_order_json: String) -> NewStagedOrder {
    let net = net_of_refunds(order).unwrap_or_else(|_| order.clone());
    let order = &net;
    let lines = order
        .line_items
        .iter()
        .map(|l| StagedLine { sku: sku_of(l), quantity: Decimal::from(l.quantity.unwrap_or(0)) })
        .collect();
    NewStagedOrder {
        woo_order_id: order.id,
        woo_order_no: if order.number.is_empty() { order.id.to_string() } else { order.number.clone() },
        cust_no: None,
        ord_dat: order.date_created_gmt,
        subtot: order.line_items.iter().filter_map(|l| l.subtotal).sum(),
        tax_amt: order.total_tax.unwrap_or_default(),
        disc_amt: order.discount_total.unwrap_or_default(),
        ship_amt: order.shipping_total.unwrap_or_default(),
        tot_amt: order.total.unwrap_or_default(),
        ship_via: order.shipping_lines.first().map(|s| s.method_title.clone()),
        pmt_meth: (!order.payment_method.is_empty()).then(|| order.payment_method.clone()),
        lines,
        raw_order_json,
    }
}

/// A staging row for a body that is not a readable order, so that it is kept and dead-lettered with its reason.
pub fn unreadable_staged_order(woo_order_id: WooOrderId, raw_order_json: String) -> NewStagedOrder {
    NewStagedOrder {
        woo_order_id,
        woo_order_no: woo_order_id.to_string(),
        cust_no: None,
        ord_dat: None,
        subtot: Decimal::ZERO,
        tax_amt: Decimal::ZERO,
        disc_amt: Decimal::ZERO,
        ship_amt: Decimal::ZERO,
        tot_amt: Decimal::ZERO,
        ship_via: None,
        pmt_meth: None,
        lines: Vec::new(),
        raw_order_json,
    }
}

/// The SKUs an order needs from `IM_ITEM`.
pub fn skus(order: &Order) -> Vec<Sku> {
    let mut skus: Vec<Sku> = order.line_items.iter().map(sku_of).filter(|s| !s.is_empty()).collect();
    skus.sort();
    skus.dedup();
    skus
}

fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn full_name(address: &Address) -> String {
    let name = format!("{} {}", address.first_name.trim(), address.last_name.trim()).trim().to_owned();
    if address.company.trim().is_empty() {
        name
    } else if name.is_empty() {
        address.company.trim().to_owned()
    } else {
        name
    }
}

fn is_blank(address: &Address) -> bool {
    address.first_name.trim().is_empty() && address.last_name.trim().is_empty() && address.address_1.trim().is_empty()
}

fn contact(address: &Address, fallback_email: Option<&str>) -> DocContact {
    DocContact {
        nam: full_name(address),
        company: text(&address.company),
        fst_nam: text(&address.first_name),
        lst_nam: text(&address.last_name),
        adrs_1: text(&address.address_1),
        adrs_2: text(&address.address_2),
        city: text(&address.city),
        state: text(&address.state),
        zip_cod: text(&address.postcode),
        cntry: text(&address.country),
        phone_1: address.phone.as_deref().and_then(text),
        email_adrs_1: address.email.as_deref().and_then(text).or_else(|| fallback_email.map(str::to_owned)),
    }
}

/// The e-mail address that identifies the order's customer.
pub fn customer_email(order: &Order) -> Option<String> {
    order.billing.email.as_deref().and_then(text).map(|e| e.to_lowercase())
}

/// A new `AR_CUST` row for a registered web customer (the number is allocated by the port).
pub fn new_customer(order: &Order, settings: &OrderSettings) -> Customer {
    customer_from_address(&order.billing, customer_email(order), &settings.store_id)
}

/// A new `AR_CUST` row from a WooCommerce billing address and account e-mail: the one mapping that orders and
/// registrations share.
pub fn customer_from_address(billing: &Address, email: Option<String>, store_id: &str) -> Customer {
    let business = !billing.company.trim().is_empty();
    let c = contact(billing, None);
    Customer {
        cust_no: CustNo::default(),
        nam: c.nam,
        fst_nam: c.fst_nam,
        lst_nam: c.lst_nam,
        adrs_1: c.adrs_1,
        adrs_2: c.adrs_2,
        city: c.city,
        state: c.state,
        zip_cod: c.zip_cod,
        cntry: c.cntry,
        phone_1: c.phone_1,
        email_adrs_1: email,
        cust_typ: Some(if business { "B2B" } else { "B2C" }.into()),
        categ_cod: Some("WEB".into()),
        str_id: Some(store_id.to_owned()),
        cust_nam_typ: Some(if business { "B" } else { "P" }.into()),
        is_ecomm_cust: true,
        ..Customer::default()
    }
}

/// The ship-to address of a new customer, when the order has one.
pub fn ship_address(order: &Order) -> Option<ShipAddress> {
    ship_address_from(&order.shipping)
}

/// An `AR_SHIP_ADRS` row (`SHIP_ADRS_ID` `WEB`) from a WooCommerce shipping address, unless it is blank.
pub fn ship_address_from(shipping: &Address) -> Option<ShipAddress> {
    (!is_blank(shipping)).then(|| {
        let c = contact(shipping, None);
        ShipAddress {
            cust_no: CustNo::default(),
            ship_adrs_id: "WEB".into(),
            nam: c.company.clone().unwrap_or(c.nam),
            fst_nam: c.fst_nam,
            lst_nam: c.lst_nam,
            adrs_1: c.adrs_1,
            adrs_2: c.adrs_2,
            city: c.city,
            state: c.state,
            zip_cod: c.zip_cod,
            cntry: c.cntry,
            phone_1: c.phone_1,
        }
    })
}

/// Why an item cannot be sold on a web order, if it cannot.
fn unsellable(item: &Item) -> Option<String> {
    match (item.stat.as_str(), item.item_typ.as_str()) {
        ("V", _) => Some("its STAT is V (void)".into()),
        (_, "D") => Some("it is a discount item (ITEM_TYP D)".into()),
        (stat, _) if !matches!(stat, "A" | "D") => Some(format!("its STAT is {stat}")),
        _ => None,
    }
}

/// Builds the Counterpoint document of `order` for customer `cust_no`.
///
/// # Errors
/// The first [`OrderProblem`] found, naming the line and field.
pub fn build_document(
    order: &Order,
    cust_no: &CustNo,
    items: &HashMap<Sku, Item>,
    settings: &OrderSettings,
) -> Result<OrderDocument, OrderProblem> {
    build_document_with_cells(order, cust_no, items, &HashMap::new(), settings)
}

/// [`build_document`] for orders that may sell grid cells: `items` holds, under a variation's SKU, its gridded item,
/// and `cells` the cell (`DIM_1_UPR..DIM_3_UPR`) that SKU stands for.
///
/// # Errors
/// As [`build_document`].
pub fn build_document_with_cells(
    order: &Order,
    cust_no: &CustNo,
    items: &HashMap<Sku, Item>,
    cells: &HashMap<Sku, [String; 3]>,
    settings: &OrderSettings,
) -> Result<OrderDocument, OrderProblem> {
    let label = order_label(order);
    let refunded_before_apply = !order.refunds.is_empty();
    let net = net_of_refunds(order)?;
    let order = &net;
    if order.line_items.is_empty() {
        return Err(OrderProblem::NoLines { order: label });
    }
    let mut lines = Vec::with_capacity(order.line_items.len());
    let mut weight = Decimal::ZERO;
    for (i, line) in order.line_items.iter().enumerate() {
        let n = i + 1;
        let sku = sku_of(line);
        if sku.is_empty() {
            return Err(OrderProblem::MissingSku {
                order: label,
                line: n,
                name: line.name.clone(),
                product_id: if line.variation_id > 0 { line.variation_id } else { line.product_id },
            });
        }
        let qty = match line.quantity {
            Some(q) if q > 0 => Decimal::from(q),
            other => {
                return Err(OrderProblem::BadQuantity {
                    order: label,
                    line: n,
                    sku,
                    value: other.map_or_else(|| "nothing".into(), |q| q.to_string()),
                });
            }
        };
        let Some(item) = items.get(&sku) else {
            return Err(OrderProblem::UnknownSku { order: label, line: n, sku });
        };
        if let Some(why) = unsellable(item) {
            return Err(OrderProblem::NotSellable { order: label, line: n, sku, why });
        }
        let subtotal = line.subtotal.ok_or_else(|| OrderProblem::MissingLineAmount {
            order: label.clone(),
            line: n,
            sku: sku.clone(),
            field: "subtotal",
        })?;
        in_range(&label, || format!("line {n} (SKU {sku}) field quantity"), qty)?;
        in_range(&label, || format!("line {n} (SKU {sku}) field subtotal"), subtotal)?;
        weight += item.weight.unwrap_or_default() * qty;
        lines.push(DocLine {
            item_no: item.item_no.clone(),
            descr: if line.name.trim().is_empty() { item.descr.clone() } else { line.name.trim().to_owned() },
            qty_sold: qty,
            prc: round_money(subtotal / qty),
            stk_loc_id: settings.fulfilment_location.clone(),
            categ_cod: item.categ_cod.clone(),
            is_txbl: item.is_txbl,
            tax_categ_cod: item.tax_categ_cod.clone(),
            item_typ: item.item_typ.clone(),
            trk_meth: item.trk_meth.clone(),
            qty_unit: item.stk_unit.clone(),
            subcat_cod: item.subcat_cod.clone(),
            reg_prc: Some(item.reg_prc),
            unit_cost: item.lst_cost,
            woo_line_id: i64::try_from(line.id).ok(),
            cell: cells.get(&sku).cloned(),
        });
    }
    let total = order.total.ok_or_else(|| OrderProblem::MissingAmount { order: label.clone(), field: "total" })?;
    let fees: Decimal = order.fee_lines.iter().filter_map(|f| f.total).sum();
    for (name, value) in [
        ("total", Some(total)),
        ("total_tax", order.total_tax),
        ("discount_total", order.discount_total),
        ("shipping_total", order.shipping_total),
        ("fee_lines", Some(fees)),
    ] {
        in_range(&label, || format!("field {name}"), value.unwrap_or_default())?;
    }
    let sub_tot: Decimal = lines.iter().map(DocLine::ext_prc).sum();
    // Document money is DECIMAL(15,2): every amount is rounded to the cent here, and the totals rule is checked on
    // the rounded values that will be written.
    let total = round_cents(total);
    let mut totals = DocTotals {
        sub_tot,
        tax_amt: round_cents(order.total_tax.unwrap_or_default()),
        tot_hdr_disc: round_cents(order.discount_total.unwrap_or_default()),
        tot_lin_disc: Decimal::ZERO,
        tot_misc: round_cents(order.shipping_total.unwrap_or_default() + fees),
        tot: total,
        amt_due: total,
        tot_weight: round_money(weight),
    };
    // Lines rounded one by one to the cent can miss WooCommerce's total by a cent each (tax-inclusive prices keep
    // more places); that much is rounding, not a wrong order.
    let rounding = Decimal::new(1, 2) * Decimal::from(lines.len() + 1);
    let residual = totals.computed_tot() - total;
    if refunded_before_apply || (!residual.is_zero() && residual.abs() <= rounding) {
        // A refund's amount need not match the lines it names (a goodwill refund names none, a partial one gives
        // back less than the units' price): what the lines leave over is a header discount, what they fall
        // short a miscellaneous charge, so that the document is what the customer paid in the end.
        if residual > Decimal::ZERO {
            totals.tot_hdr_disc = round_cents(totals.tot_hdr_disc + residual);
        } else {
            totals.tot_misc = round_cents(totals.tot_misc - residual);
        }
    }
    totals.check().map_err(|source| OrderProblem::Totals { order: label.clone(), source: Box::new(source) })?;

    let mut payments = Vec::new();
    if order.date_paid_gmt.is_some() && total > Decimal::ZERO {
        let method = order.payment_method.trim();
        let pay_cod = settings
            .pay_codes
            .get(method)
            .or(settings.default_pay_code.as_ref())
            .ok_or_else(|| OrderProblem::NoPayCode { order: label.clone(), method: method.to_owned() })?;
        payments.push(DocPayment {
            pay_cod: pay_cod.clone(),
            amt: total,
            descr: text(&order.payment_method_title).or_else(|| text(method)),
            transaction_id: text(&order.transaction_id),
            pay_dat: order.date_paid_gmt.map(|paid| settings.timezone.local(paid)),
            final_pmt: false,
        });
    }
    totals.amt_due = total - payments.iter().map(|p| p.amt).sum::<Decimal>();

    let email = customer_email(order);
    let bill_to = contact(&order.billing, email.as_deref());
    let ship_to = if is_blank(&order.shipping) { bill_to.clone() } else { contact(&order.shipping, email.as_deref()) };
    let created = order.date_created_gmt.unwrap_or_default();
    let ship_via_cod = order.shipping_lines.first().and_then(|s| settings.ship_via_codes.get(&s.method_id)).cloned();
    Ok(OrderDocument {
        doc_typ: 'O',
        lin_typ: 'O',
        str_id: settings.store_id.clone(),
        sta_id: settings.station_id.clone(),
        drw_id: settings.drawer_id.clone(),
        usr_id: settings.user_id.clone(),
        tkt_prefix: settings.ticket_prefix.clone(),
        cust_no: cust_no.clone(),
        tkt_dt: settings.timezone.local(created),
        utc_offset_secs: i32::try_from((settings.timezone.local(created) - created).num_seconds()).unwrap_or(0),
        ship_via_cod,
        tax_cod: settings.tax_code.clone(),
        cust_po_no: Some(if order.number.is_empty() { order.id.to_string() } else { order.number.clone() }),
        stk_loc_id: settings.fulfilment_location.clone(),
        prc_loc_id: settings.price_location().to_owned(),
        tax_ovrd_reas: text(&settings.source_marker),
        bill_to,
        ship_to,
        lines,
        totals,
        payments,
    })
}

/// What decides how an order is booked: its lines, amounts, refunds, payment and customer. Two copies of an order
/// that agree here book the same document, whatever else changed (status, meta data, notes).
pub fn booking_view(order: &Order) -> serde_json::Value {
    let lines: Vec<_> = order
        .line_items
        .iter()
        .map(|l| json!([l.id, sku_of(l), l.quantity, l.subtotal, l.total, l.total_tax]))
        .collect();
    let shipping: Vec<_> =
        order.shipping_lines.iter().map(|l| json!([l.id, l.method_id, l.total, l.total_tax])).collect();
    let fees: Vec<_> = order.fee_lines.iter().map(|l| json!([l.id, l.total, l.total_tax])).collect();
    let refunds: Vec<_> = order.refunds.iter().map(|r| json!([r.id, r.total])).collect();
    json!({
        "lines": lines, "shipping": shipping, "fees": fees, "refunds": refunds,
        "total": order.total, "total_tax": order.total_tax, "discount_total": order.discount_total,
        "shipping_total": order.shipping_total, "payment_method": order.payment_method,
        "paid": order.date_paid_gmt, "customer_id": order.customer_id, "email": customer_email(order),
    })
}

/// The private note that tells the shop where the order went in Counterpoint.
pub fn applied_note(doc_id: i64, tkt_no: &str) -> String {
    format!("Counterpoint order DOC_ID {doc_id}, ticket TKT_NO {tkt_no}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn fixture_order() -> Order {
        let text = include_str!("../../../../fixtures/woocommerce/orders-create-paid.json");
        let exchange: serde_json::Value = serde_json::from_str(text).expect("fixture");
        serde_json::from_value(exchange["response"]["body"].clone()).expect("order")
    }

    fn item(sku: &str) -> Item {
        Item {
            item_no: sku.into(),
            descr: sku.into(),
            item_typ: "I".into(),
            stat: "A".into(),
            categ_cod: Some("GEN".into()),
            is_ecomm_item: true,
            is_txbl: true,
            weight: Some(dec!(0.5)),
            prc_1: dec!(1),
            reg_prc: dec!(1),
            lst_cost: Some(dec!(0.4)),
            prc_decs: 2,
            ..Item::default()
        }
    }

    fn catalogue(order: &Order) -> HashMap<Sku, Item> {
        skus(order).into_iter().map(|s| (s.clone(), item(&s))).collect()
    }

    #[test]
    fn the_fixture_order_reconciles_and_pays_a_deposit() {
        let order = fixture_order();
        let mut settings = OrderSettings::default();
        settings.pay_codes.insert(order.payment_method.clone(), "CREDIT".into());
        let doc = build_document(&order, &CustNo::from("CASH"), &catalogue(&order), &settings).expect("document");
        assert_eq!(doc.lines.len(), order.line_items.len());
        assert_eq!(doc.totals.tot, order.total.expect("total"));
        assert_eq!(doc.totals.computed_tot(), doc.totals.tot);
        assert_eq!(doc.totals.tot_hdr_disc, order.discount_total.expect("discount"));
        assert!(order.date_paid_gmt.is_some(), "the fixture order is paid");
        assert_eq!(doc.payments.len(), 1);
        assert_eq!(doc.payments[0].amt, doc.totals.tot);
        assert_eq!(doc.payments[0].pay_cod, "CREDIT");
        assert!(!doc.payments[0].final_pmt, "a web payment on an order is a deposit");
        assert_eq!(doc.totals.amt_due, Decimal::ZERO);

        let mut unpaid = order.clone();
        unpaid.date_paid_gmt = None;
        let doc = build_document(&unpaid, &CustNo::from("CASH"), &catalogue(&order), &settings).expect("document");
        assert!(doc.payments.is_empty(), "an unpaid order carries no payment");
        assert_eq!(doc.totals.amt_due, doc.totals.tot);
    }

    #[test]
    fn problems_name_the_line_and_field() {
        let order = fixture_order();
        let settings = OrderSettings { pay_codes: Default::default(), ..OrderSettings::default() };
        let mut items = catalogue(&order);
        let first_sku = skus(&order)[0].clone();
        items.remove(&first_sku);
        let err = build_document(&order, &CustNo::from("CASH"), &items, &settings).expect_err("unknown SKU");
        assert!(err.to_string().contains(&format!("unknown SKU {first_sku}")), "{err}");

        let mut items = catalogue(&order);
        items.get_mut(&first_sku).expect("item").stat = "V".into();
        let err = build_document(&order, &CustNo::from("CASH"), &items, &settings).expect_err("void item");
        assert!(err.to_string().contains("not sellable") && err.to_string().contains("void"), "{err}");

        let mut tampered = order.clone();
        tampered.total = Some(order.total.expect("total") + dec!(5));
        let err = build_document(&tampered, &CustNo::from("CASH"), &catalogue(&order), &settings).expect_err("totals");
        assert!(err.to_string().contains("totals do not add up"), "{err}");

        let err =
            build_document(&order, &CustNo::from("CASH"), &catalogue(&order), &settings).expect_err("no pay code");
        assert!(err.to_string().contains(&format!("payment method {:?}", order.payment_method)), "{err}");
        assert!(err.to_string().contains("orders.pay_codes"), "{err}");
    }

    #[test]
    fn amounts_counterpoint_cannot_hold_and_over_refunds_are_refused_for_good() {
        let order = fixture_order();
        let mut settings = OrderSettings::default();
        settings.pay_codes.insert(order.payment_method.clone(), "CREDIT".into());
        let mut huge = order.clone();
        huge.line_items[0].subtotal = Some(dec!(1000000000000));
        let err = build_document(&huge, &CustNo::from("CASH"), &catalogue(&order), &settings).expect_err("10^12");
        assert!(err.to_string().contains("line 1") && err.to_string().contains("field subtotal"), "{err}");
        assert!(err.is_permanent());

        let mut refunded = order.clone();
        let total = order.total.expect("total");
        refunded.refunds = vec![
            serde_json::from_value(serde_json::json!({"id": 9, "total": format!("-{}", total + dec!(1))}))
                .expect("refund"),
        ];
        let err =
            build_document(&refunded, &CustNo::from("CASH"), &catalogue(&order), &settings).expect_err("over-refunded");
        assert!(err.to_string().contains("field refunds"), "{err}");

        let unknown = OrderProblem::UnknownSku { order: "#1".into(), line: 1, sku: "X".into() };
        assert!(!unknown.is_permanent(), "an item added in Counterpoint cures it, so it is retried");
    }

    #[test]
    fn an_unreadable_order_names_the_field() {
        let mut body: serde_json::Value = serde_json::from_str::<serde_json::Value>(include_str!(
            "../../../../fixtures/woocommerce/orders-create-paid.json"
        ))
        .expect("fixture")["response"]["body"]
            .clone();
        body["line_items"][0]["quantity"] = serde_json::json!(1.5);
        let err = read_order(&body.to_string()).expect_err("fractional quantity");
        assert!(err.contains("line_items[0].quantity") && err.contains("1.5"), "{err}");
        let err = read_order("[1, 2, 3]").expect_err("not an order");
        assert!(err.contains("expected struct Order"), "{err}");
    }

    fn in_status(status: OrderStatus, paid: bool) -> Order {
        let mut order = fixture_order();
        order.status = status;
        if !paid {
            order.date_paid_gmt = None;
        }
        order
    }

    #[test]
    fn decisions_follow_what_happened_to_the_order() {
        let mut settings = OrderSettings::default();
        let cutover = NaiveDate::from_ymd_opt(2000, 1, 1).expect("date");
        let decide = |o: &Order, s: &OrderSettings| intake_decision(o, s, cutover);
        assert_eq!(decide(&in_status(OrderStatus::Processing, true), &settings), IntakeDecision::Stage);
        // Cash on delivery and virtual orders are completed at payment: still a sale to book.
        assert_eq!(decide(&in_status(OrderStatus::Completed, true), &settings), IntakeDecision::Stage);
        assert_eq!(decide(&in_status(OrderStatus::Completed, false), &settings), IntakeDecision::Ignore);
        assert_eq!(decide(&in_status(OrderStatus::OnHold, false), &settings), IntakeDecision::Ignore);
        assert_eq!(decide(&in_status(OrderStatus::Pending, true), &settings), IntakeDecision::Ignore);
        assert_eq!(decide(&in_status(OrderStatus::Cancelled, true), &settings), IntakeDecision::Cancel);
        assert_eq!(decide(&in_status(OrderStatus::Other("trash".into()), true), &settings), IntakeDecision::Cancel);
        settings.stage_statuses.push("on-hold".into());
        assert_eq!(decide(&in_status(OrderStatus::OnHold, false), &settings), IntakeDecision::Stage);

        let order = in_status(OrderStatus::Processing, true);
        let created = order.date_created_gmt.expect("created").date();
        assert_eq!(intake_decision(&order, &settings, created), IntakeDecision::Stage, "created on the cut-over day");
        let later = created.succ_opt().expect("next day");
        assert_eq!(intake_decision(&order, &settings, later), IntakeDecision::BeforeCutover);
    }

    fn refund_of(line: &cpbridge_woo::model::LineItem, units: i64, amount: Decimal) -> cpbridge_woo::model::Refund {
        serde_json::from_value(json!({
            "id": 9001, "amount": amount.to_string(),
            "line_items": [{ "id": 9002, "quantity": -units, "total": (-amount).to_string(), "total_tax": "0.00",
                             "meta_data": [{ "key": "_refunded_item_id", "value": line.id.to_string() }] }],
        }))
        .expect("refund")
    }

    #[test]
    fn an_order_refunded_before_apply_is_booked_net() {
        let mut settings = OrderSettings::default();
        let mut order = fixture_order();
        settings.pay_codes.insert(order.payment_method.clone(), "CREDIT".into());
        let line = order.line_items.iter().find(|l| l.quantity.unwrap_or(0) >= 2).cloned().expect("a line of 2+");
        let unit = line.subtotal.expect("subtotal") / Decimal::from(line.quantity.expect("qty"));
        let total = order.total.expect("total");
        order.refunds =
            vec![serde_json::from_value(json!({"id": 9001, "total": format!("-{unit}")})).expect("summary")];
        let err = build_document(&order, &CustNo::from("CASH"), &catalogue(&order), &settings).expect_err("no details");
        assert!(
            matches!(err, OrderProblem::RefundDetailsMissing { refund_id, .. } if refund_id.get() == 9001),
            "{err}"
        );

        order.refund_details = vec![refund_of(&line, 1, unit)];
        let doc = build_document(&order, &CustNo::from("CASH"), &catalogue(&order), &settings).expect("document");
        let booked = doc.lines.iter().find(|l| l.woo_line_id == i64::try_from(line.id).ok()).expect("line");
        assert_eq!(booked.qty_sold, Decimal::from(line.quantity.expect("qty") - 1));
        assert_eq!(booked.prc, round_money(unit), "the unit price stays");
        assert_eq!(doc.totals.tot, total - unit);
        assert_eq!(doc.totals.computed_tot(), doc.totals.tot);
        assert_eq!(doc.payments[0].amt, total - unit, "the deposit is what was kept");
        let staged = staged_order(&order, String::new());
        let units: Decimal = staged.lines.iter().map(|l| l.quantity).sum();
        let gross: i64 = order.line_items.iter().filter_map(|l| l.quantity).sum();
        assert_eq!(units, Decimal::from(gross - 1), "the held stock is net as well");
        assert_eq!(staged.tot_amt, total - unit);

        order.refund_details = vec![refund_of(&line, line.quantity.expect("qty") + 1, unit)];
        let err = build_document(&order, &CustNo::from("CASH"), &catalogue(&order), &settings)
            .expect_err("over-refunded line");
        assert!(err.to_string().contains("field refunds") && err.to_string().contains("SKU"), "{err}");
    }

    #[test]
    fn the_booking_view_ignores_status_and_meta_but_not_lines() {
        let order = fixture_order();
        let mut touched = order.clone();
        touched.status = OrderStatus::Completed;
        touched.meta_data.push(cpbridge_woo::model::MetaData::new("_cp_doc_id", "1"));
        assert_eq!(booking_view(&order), booking_view(&touched));
        let mut edited = order.clone();
        edited.line_items[0].quantity = Some(edited.line_items[0].quantity.unwrap_or(1) + 1);
        assert_ne!(booking_view(&order), booking_view(&edited));
    }
}
