//! Orders, their notes and refunds, and the coupons orders apply: totals, taxes, status transitions with their
//! notes, and the stock side effects (a paid order reduces stock, cancelling it restores stock).

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use sqlx::SqliteConnection;

use crate::products::{self, bool_param, int_param, merge_meta};
use crate::store::{self, Doc, FLAG_STOCK_REDUCED, Kind};
use crate::wire::{Site, WcError, amount, merge_address, money, now, round_cents};

const ORDER_TEMPLATE: &str = include_str!("../../templates/order.json");
const LINE_TEMPLATE: &str = include_str!("../../templates/line_item.json");
const SHIPPING_TEMPLATE: &str = include_str!("../../templates/shipping_line.json");
const FEE_TEMPLATE: &str = include_str!("../../templates/fee_line.json");
const COUPON_TEMPLATE: &str = include_str!("../../templates/coupon_line.json");
const TAX_TEMPLATE: &str = include_str!("../../templates/tax_line.json");
const NOTE_TEMPLATE: &str = include_str!("../../templates/note.json");
const REFUND_TEMPLATE: &str = include_str!("../../templates/refund.json");

mod coupons;
mod refunds;

pub use coupons::create_coupon;
use coupons::find_coupon;
pub use refunds::{add_note, notes, refund, render_note, render_refund};

pub const STATUSES: [&str; 9] = [
    "auto-draft",
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
];

/// The store's tax setup: one rate for taxable lines and shipping (0 turns taxes off).
#[derive(Debug, Clone)]
pub struct TaxSetup {
    pub rate_percent: Decimal,
    pub label: String,
    pub rate_code: String,
}

impl Default for TaxSetup {
    fn default() -> Self {
        Self { rate_percent: Decimal::ZERO, label: "Tax".into(), rate_code: "US-TAX-1".into() }
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub fn invalid_id() -> WcError {
    WcError::new(StatusCode::NOT_FOUND, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
}

fn status_label(status: &str) -> &str {
    match status {
        "pending" => "Pending payment",
        "processing" => "Processing",
        "on-hold" => "On hold",
        "completed" => "Completed",
        "cancelled" => "Cancelled",
        "refunded" => "Refunded",
        "failed" => "Failed",
        "checkout-draft" => "Draft",
        other => other,
    }
}

fn paid_like(status: &str) -> bool {
    matches!(status, "processing" | "on-hold" | "completed")
}

fn validate_status(body: &Map<String, Value>) -> Result<Option<String>, WcError> {
    match body.get("status") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if STATUSES.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(_) => {
            let message = "status is not one of auto-draft, pending, processing, on-hold, completed, cancelled, \
                           refunded, failed, and checkout-draft.";
            Err(WcError::invalid_param("status", message, "rest_not_in_enum"))
        }
    }
}

async fn next_item_id(conn: &mut SqliteConnection) -> Result<u64, WcError> {
    Ok(store::next_in_sequence(conn, "order_item", 1).await?)
}

/// A line item from a request: looks the product up by `variation_id`, `product_id` or `sku`.
async fn build_line(conn: &mut SqliteConnection, write: &Value) -> Result<Value, WcError> {
    let invalid_product = || {
        WcError::new(StatusCode::BAD_REQUEST, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid.")
    };
    let write_map = write.as_object().cloned().unwrap_or_default();
    let quantity = int_param(&write_map, "quantity")?.unwrap_or(1);
    if quantity <= 0 {
        return Err(WcError::new(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_invalid_item_quantity",
            "Product quantity must be a positive integer.",
        ));
    }
    let variation_id = int_param(&write_map, "variation_id")?.unwrap_or(0);
    let product_id = int_param(&write_map, "product_id")?.unwrap_or(0);
    let product = if variation_id > 0 {
        store::get(conn, Kind::Variation, u64::try_from(variation_id).unwrap_or_default()).await?
    } else if product_id > 0 {
        store::get(conn, Kind::Product, u64::try_from(product_id).unwrap_or_default()).await?
    } else if let Some(sku) = write.get("sku").and_then(Value::as_str) {
        store::by_sku(conn, sku).await?
    } else {
        None
    };
    let product = product.ok_or_else(invalid_product)?;
    let parent =
        if product.kind == Kind::Variation { store::get(conn, Kind::Product, product.parent_id).await? } else { None };
    let unit = amount(product.body.get("price")).unwrap_or_default();
    let quantity_dec = Decimal::from(quantity);
    let subtotal = amount(write.get("subtotal")).unwrap_or(unit * quantity_dec);
    let total = amount(write.get("total")).unwrap_or(subtotal);

    let mut line = parse(LINE_TEMPLATE);
    line["id"] = json!(next_item_id(conn).await?);
    line["quantity"] = json!(quantity);
    line["subtotal"] = json!(money(subtotal));
    line["total"] = json!(money(total));
    line["sku"] = product.body["sku"].clone();
    line["meta_data"] = json!([]);
    line["taxes"] = json!([]);
    line["image"] = json!({ "id": "", "src": "" });
    match &parent {
        Some(parent) => {
            let parent_name = parent.body["name"].as_str().unwrap_or_default();
            line["name"] = json!(format!("{parent_name} - {}", product.body["name"].as_str().unwrap_or_default()));
            line["product_id"] = json!(parent.id);
            line["variation_id"] = json!(product.id);
            line["parent_name"] = json!(parent_name);
            line["image"] = json!({ "id": 0, "src": "" });
            let mut meta = Vec::new();
            for attribute in product.body["attributes"].as_array().cloned().unwrap_or_default() {
                let id = next_item_id(conn).await?;
                meta.push(json!({
                    "id": id, "key": attribute["slug"], "value": attribute["option"],
                    "display_key": attribute["name"], "display_value": attribute["option"],
                }));
            }
            line["meta_data"] = Value::Array(meta);
        }
        None => {
            line["name"] = product.body["name"].clone();
            line["product_id"] = json!(product.id);
            line["variation_id"] = json!(0);
            line["parent_name"] = Value::Null;
        }
    }
    Ok(line)
}

/// Creates an order from a request body.
pub async fn create(conn: &mut SqliteConnection, body: &Map<String, Value>, tax: &TaxSetup) -> Result<Doc, WcError> {
    let status = validate_status(body)?;
    let set_paid = bool_param(body, "set_paid")?.unwrap_or(false);
    let customer_id = int_param(body, "customer_id")?.unwrap_or(0);
    if customer_id > 0
        && store::get(conn, Kind::Customer, u64::try_from(customer_id).unwrap_or_default()).await?.is_none()
    {
        return Err(WcError::new(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_invalid_customer_id",
            "Customer ID is invalid.",
        ));
    }
    let id = store::next_id(conn, Kind::Order).await?;
    let mut order = parse(ORDER_TEMPLATE);
    let stamp = now();
    order["id"] = json!(id);
    order["number"] = json!(id.to_string());
    order["status"] = json!("pending");
    order["customer_id"] = json!(customer_id);
    order["order_key"] = json!(format!("wc_order_{}", random_token(13)));
    order["created_via"] = json!("rest-api");
    order["date_created"] = json!(stamp);
    order["date_created_gmt"] = json!(stamp);
    for key in ["date_paid", "date_paid_gmt", "date_completed", "date_completed_gmt"] {
        order[key] = Value::Null;
    }
    for key in ["payment_method", "payment_method_title", "transaction_id", "customer_note"] {
        order[key] = json!(body.get(key).and_then(Value::as_str).unwrap_or_default());
    }
    merge_address(&mut order["billing"], body.get("billing"));
    merge_address(&mut order["shipping"], body.get("shipping"));
    if let Some(meta) = body.get("meta_data") {
        merge_meta(conn, &mut order, meta).await?;
    }

    let mut lines = Vec::new();
    for write in body.get("line_items").and_then(Value::as_array).cloned().unwrap_or_default() {
        lines.push(build_line(conn, &write).await?);
    }
    let explicit_totals: Vec<bool> = body
        .get("line_items")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(|w| w.get("total").is_some()).collect())
        .unwrap_or_default();
    let mut shipping_lines = Vec::new();
    for write in body.get("shipping_lines").and_then(Value::as_array).cloned().unwrap_or_default() {
        let mut line = parse(SHIPPING_TEMPLATE);
        line["id"] = json!(next_item_id(conn).await?);
        line["method_id"] = write.get("method_id").cloned().unwrap_or(json!(""));
        line["method_title"] = write.get("method_title").cloned().unwrap_or(json!(""));
        line["instance_id"] = json!("");
        line["total"] = json!(money(amount(write.get("total")).unwrap_or_default()));
        line["meta_data"] = json!([]);
        shipping_lines.push(line);
    }
    let mut fee_lines = Vec::new();
    for write in body.get("fee_lines").and_then(Value::as_array).cloned().unwrap_or_default() {
        let mut line = parse(FEE_TEMPLATE);
        line["id"] = json!(next_item_id(conn).await?);
        line["name"] = write.get("name").cloned().unwrap_or(json!(""));
        line["tax_status"] = write.get("tax_status").cloned().unwrap_or(json!("taxable"));
        line["total"] = json!(money(amount(write.get("total")).unwrap_or_default()));
        line["meta_data"] = json!([]);
        fee_lines.push(line);
    }
    let mut coupon_lines = Vec::new();
    for write in body.get("coupon_lines").and_then(Value::as_array).cloned().unwrap_or_default() {
        let code = write.get("code").and_then(Value::as_str).unwrap_or_default().to_lowercase();
        let coupon = find_coupon(conn, &code).await?.ok_or_else(|| {
            WcError::new(
                StatusCode::BAD_REQUEST,
                "woocommerce_rest_invalid_coupon",
                format!("Coupon \"{code}\" does not exist!"),
            )
        })?;
        let discount_type = coupon.body["discount_type"].as_str().unwrap_or("fixed_cart").to_owned();
        let nominal = amount(coupon.body.get("amount")).unwrap_or_default();
        let discount = apply_coupon(&mut lines, &explicit_totals, &discount_type, nominal);
        let mut line = parse(COUPON_TEMPLATE);
        line["id"] = json!(next_item_id(conn).await?);
        line["code"] = json!(code);
        line["discount"] = json!(discount.normalize().to_string());
        line["discount_type"] = json!(discount_type);
        line["nominal_amount"] = json!(nominal.normalize().to_string().parse::<f64>().unwrap_or_default());
        line["meta_data"] = json!([]);
        coupon_lines.push(line);
    }
    order["line_items"] = Value::Array(lines);
    order["shipping_lines"] = Value::Array(shipping_lines);
    order["fee_lines"] = Value::Array(fee_lines);
    order["coupon_lines"] = Value::Array(coupon_lines);
    let tax_line_id = next_item_id(conn).await?;
    compute_totals(&mut order, tax, tax_line_id);

    order["needs_processing"] = json!(needs_processing(conn, &order).await?);
    let mut doc = Doc { kind: Kind::Order, id, parent_id: 0, body: order, flags: 0 };
    let target = status.unwrap_or_else(|| if set_paid { payment_complete_status(&doc.body) } else { "pending".into() });
    if set_paid {
        mark_paid(&mut doc.body);
    }
    doc.body["date_modified"] = json!(stamp);
    doc.body["date_modified_gmt"] = json!(stamp);
    store::save(conn, &doc).await?.map_err(|_| invalid_id())?;
    transition(conn, &mut doc, &target).await?;
    Ok(doc)
}

/// `WC_Order::needs_processing`: false only when every line's product is both virtual and downloadable.
async fn needs_processing(conn: &mut SqliteConnection, order: &Value) -> Result<bool, WcError> {
    for line in order["line_items"].as_array().into_iter().flatten() {
        let variation = line["variation_id"].as_u64().unwrap_or(0);
        let product = if variation > 0 {
            store::get(conn, Kind::Variation, variation).await?
        } else {
            store::get(conn, Kind::Product, line["product_id"].as_u64().unwrap_or(0)).await?
        };
        let Some(product) = product else { continue };
        if !(product.body["virtual"] == json!(true) && product.body["downloadable"] == json!(true)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The status `WC_Order::payment_complete` moves an order to: `completed` for cash on delivery
/// (`WC_Gateway_COD::change_payment_complete_order_status`) and for orders that need no processing, else
/// `processing`.
fn payment_complete_status(order: &Value) -> String {
    let cod = order["payment_method"].as_str() == Some("cod");
    if cod || order["needs_processing"] == json!(false) { "completed".into() } else { "processing".into() }
}

fn mark_paid(order: &mut Value) {
    let stamp = now();
    order["date_paid"] = json!(stamp);
    order["date_paid_gmt"] = json!(stamp);
}

/// Spreads a coupon over the lines whose totals were not given; returns the discount.
fn apply_coupon(lines: &mut [Value], explicit: &[bool], discount_type: &str, nominal: Decimal) -> Decimal {
    let eligible: Vec<usize> = (0..lines.len()).filter(|i| !explicit.get(*i).copied().unwrap_or(false)).collect();
    let base: Decimal = eligible.iter().filter_map(|i| amount(lines[*i].get("total"))).sum();
    if base <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let mut discount_total = Decimal::ZERO;
    let fixed_total = nominal.min(base);
    for (n, i) in eligible.iter().enumerate() {
        let total = amount(lines[*i].get("total")).unwrap_or_default();
        let discount = if discount_type == "percent" {
            round_cents(total * nominal / Decimal::from(100))
        } else if n + 1 == eligible.len() {
            fixed_total - discount_total
        } else {
            round_cents(fixed_total * total / base)
        };
        discount_total += discount;
        lines[*i]["total"] = json!(money(total - discount));
    }
    discount_total
}

/// Taxes, line prices and order totals, the way WooCommerce rounds them: per line, to the cent.
fn compute_totals(order: &mut Value, tax: &TaxSetup, tax_line_id: u64) {
    let rate = tax.rate_percent / Decimal::from(100);
    let taxed = rate > Decimal::ZERO;
    let tax_entry = |total: Decimal, subtotal: Option<Decimal>| json!([{ "id": 1, "total": money(total), "subtotal": subtotal.map(money).unwrap_or_default() }]);
    let (mut subtotal_sum, mut total_sum, mut cart_tax, mut subtotal_tax_sum) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for line in order["line_items"].as_array_mut().into_iter().flatten() {
        let subtotal = amount(line.get("subtotal")).unwrap_or_default();
        let total = amount(line.get("total")).unwrap_or_default();
        let (subtotal_tax, total_tax) = (round_cents(subtotal * rate), round_cents(total * rate));
        line["subtotal_tax"] = json!(money(subtotal_tax));
        line["total_tax"] = json!(money(total_tax));
        line["taxes"] = if taxed { tax_entry(total_tax, Some(subtotal_tax)) } else { json!([]) };
        let quantity = line["quantity"].as_i64().unwrap_or(1).max(1);
        let unit = total / Decimal::from(quantity);
        line["price"] = serde_json::Number::from_f64(unit.to_string().parse::<f64>().unwrap_or_default())
            .map_or(Value::Null, Value::Number);
        subtotal_sum += subtotal;
        total_sum += total;
        cart_tax += total_tax;
        subtotal_tax_sum += subtotal_tax;
    }
    let (mut shipping_total, mut shipping_tax) = (Decimal::ZERO, Decimal::ZERO);
    for line in order["shipping_lines"].as_array_mut().into_iter().flatten() {
        let total = amount(line.get("total")).unwrap_or_default();
        let line_tax = round_cents(total * rate);
        line["total_tax"] = json!(money(line_tax));
        line["taxes"] = if taxed { tax_entry(line_tax, None) } else { json!([]) };
        line["tax_status"] = json!("taxable");
        shipping_total += total;
        shipping_tax += line_tax;
    }
    let (mut fee_total, mut fee_tax) = (Decimal::ZERO, Decimal::ZERO);
    for line in order["fee_lines"].as_array_mut().into_iter().flatten() {
        let total = amount(line.get("total")).unwrap_or_default();
        let line_tax = if line["tax_status"] == json!("taxable") { round_cents(total * rate) } else { Decimal::ZERO };
        line["total_tax"] = json!(money(line_tax));
        line["taxes"] = if taxed && line_tax > Decimal::ZERO { tax_entry(line_tax, None) } else { json!([]) };
        line["amount"] = json!("");
        fee_total += total;
        fee_tax += line_tax;
    }
    let discount = subtotal_sum - total_sum;
    let discount_tax = subtotal_tax_sum - cart_tax;
    for line in order["coupon_lines"].as_array_mut().into_iter().flatten() {
        line["discount_tax"] = json!(money(discount_tax));
    }
    let all_tax = cart_tax + shipping_tax + fee_tax;
    order["tax_lines"] = if taxed {
        let mut line = parse(TAX_TEMPLATE);
        line["id"] = json!(tax_line_id);
        line["rate_code"] = json!(tax.rate_code);
        line["label"] = json!(tax.label);
        line["tax_total"] = json!(money(cart_tax + fee_tax));
        line["shipping_tax_total"] = json!(money(shipping_tax));
        line["rate_percent"] = serde_json::Number::from_f64(tax.rate_percent.to_string().parse().unwrap_or_default())
            .map_or(Value::Null, Value::Number);
        json!([line])
    } else {
        json!([])
    };
    order["discount_total"] = json!(money(discount));
    order["discount_tax"] = json!(money(discount_tax));
    order["shipping_total"] = json!(money(shipping_total));
    order["shipping_tax"] = json!(money(shipping_tax));
    order["cart_tax"] = json!(money(cart_tax + fee_tax));
    order["total_tax"] = json!(money(all_tax));
    order["total"] = json!(money(total_sum + shipping_total + fee_total + all_tax));
}

/// Moves an order to `target`, with WooCommerce's side effects: the status note, stock reduced on entering a paid
/// status and restored on cancellation (or a return to pending), and the completion date.
pub async fn transition(conn: &mut SqliteConnection, doc: &mut Doc, target: &str) -> Result<(), WcError> {
    let from = doc.body["status"].as_str().unwrap_or("pending").to_owned();
    doc.body["status"] = json!(target);
    if paid_like(target) && doc.flags & FLAG_STOCK_REDUCED == 0 {
        reduce_stock(conn, doc).await?;
    }
    if matches!(target, "cancelled" | "pending") && doc.flags & FLAG_STOCK_REDUCED != 0 {
        restore_stock(conn, doc).await?;
    }
    if target == "completed" && doc.body["date_completed"].is_null() {
        let stamp = now();
        doc.body["date_completed"] = json!(stamp);
        doc.body["date_completed_gmt"] = json!(stamp);
    }
    // WooCommerce's maybe_set_date_paid: entering a paid status stamps the payment date once.
    if matches!(target, "processing" | "completed") && doc.body["date_paid"].is_null() {
        let stamp = now();
        doc.body["date_paid"] = json!(stamp);
        doc.body["date_paid_gmt"] = json!(stamp);
    }
    let paid = !doc.body["date_paid"].is_null();
    doc.body["needs_payment"] = json!(!paid && matches!(target, "pending" | "failed"));
    doc.body["is_editable"] = json!(matches!(target, "pending" | "on-hold" | "auto-draft" | "checkout-draft"));
    if from != target {
        let text = format!("Order status changed from {} to {}.", status_label(&from), status_label(target));
        add_note(conn, doc.id, &text, false, "system").await?;
    }
    let stamp = now();
    doc.body["date_modified"] = json!(stamp);
    doc.body["date_modified_gmt"] = json!(stamp);
    store::save(conn, doc).await?.map_err(|_| invalid_id())?;
    Ok(())
}

async fn stock_record(conn: &mut SqliteConnection, line: &Value) -> Result<Option<Doc>, WcError> {
    let variation = line["variation_id"].as_u64().unwrap_or(0);
    let product = line["product_id"].as_u64().unwrap_or(0);
    let record = if variation > 0 {
        store::get(conn, Kind::Variation, variation).await?
    } else {
        store::get(conn, Kind::Product, product).await?
    };
    Ok(record.filter(|r| r.body["manage_stock"] == json!(true)))
}

async fn reduce_stock(conn: &mut SqliteConnection, doc: &mut Doc) -> Result<(), WcError> {
    let mut changes = Vec::new();
    let mut lines = doc.body["line_items"].as_array().cloned().unwrap_or_default();
    for line in &mut lines {
        let Some(mut record) = stock_record(conn, line).await? else { continue };
        let quantity = line["quantity"].as_i64().unwrap_or(0);
        let (before, after) = products::adjust_stock(conn, &mut record, -quantity).await?;
        let meta_id = next_item_id(conn).await?;
        let mut meta = line["meta_data"].as_array().cloned().unwrap_or_default();
        meta.push(json!({ "id": meta_id, "key": "_reduced_stock", "value": quantity.to_string(),
                          "display_key": "_reduced_stock", "display_value": quantity.to_string() }));
        if after < 0 && record.body["backorders"] != json!("no") {
            let backordered = (-after).min(quantity);
            let id = next_item_id(conn).await?;
            meta.push(json!({ "id": id, "key": "Backordered", "value": backordered.to_string(),
                              "display_key": "Backordered", "display_value": backordered.to_string() }));
        }
        line["meta_data"] = Value::Array(meta);
        changes.push(format!(
            "{} ({}) {before}&rarr;{after}",
            line["name"].as_str().unwrap_or_default(),
            record.body["sku"].as_str().unwrap_or_default()
        ));
    }
    doc.body["line_items"] = Value::Array(lines);
    doc.flags |= FLAG_STOCK_REDUCED;
    if !changes.is_empty() {
        add_note(conn, doc.id, &format!("Stock levels reduced: {}", changes.join(", ")), false, "system").await?;
    }
    Ok(())
}

async fn restore_stock(conn: &mut SqliteConnection, doc: &mut Doc) -> Result<(), WcError> {
    let mut changes = Vec::new();
    let mut lines = doc.body["line_items"].as_array().cloned().unwrap_or_default();
    for line in &mut lines {
        let mut meta = line["meta_data"].as_array().cloned().unwrap_or_default();
        let Some(at) = meta.iter().position(|m| m["key"] == json!("_reduced_stock")) else { continue };
        let reduced: i64 = meta[at]["value"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0);
        meta.remove(at);
        meta.retain(|m| m["key"] != json!("Backordered"));
        line["meta_data"] = Value::Array(meta);
        let Some(mut record) = stock_record(conn, line).await? else { continue };
        let (before, after) = products::adjust_stock(conn, &mut record, reduced).await?;
        changes.push(format!(
            "{} ({}) {before}&rarr;{after}",
            line["name"].as_str().unwrap_or_default(),
            record.body["sku"].as_str().unwrap_or_default()
        ));
    }
    doc.body["line_items"] = Value::Array(lines);
    doc.flags &= !FLAG_STOCK_REDUCED;
    if !changes.is_empty() {
        add_note(conn, doc.id, &format!("Stock levels increased: {}", changes.join(", ")), false, "system").await?;
    }
    Ok(())
}

/// Applies an update body: status (with its side effects), `set_paid`, addresses, payment fields, meta data.
pub async fn update(conn: &mut SqliteConnection, doc: &mut Doc, body: &Map<String, Value>) -> Result<(), WcError> {
    let status = validate_status(body)?;
    let set_paid = bool_param(body, "set_paid")?.unwrap_or(false);
    merge_address(&mut doc.body["billing"], body.get("billing"));
    merge_address(&mut doc.body["shipping"], body.get("shipping"));
    for key in ["payment_method", "payment_method_title", "transaction_id", "customer_note"] {
        if let Some(value) = body.get(key).and_then(Value::as_str) {
            doc.body[key] = json!(value);
        }
    }
    if let Some(meta) = body.get("meta_data") {
        merge_meta(conn, &mut doc.body, meta).await?;
    }
    if set_paid && doc.body["date_paid"].is_null() {
        mark_paid(&mut doc.body);
    }
    let current = doc.body["status"].as_str().unwrap_or("pending").to_owned();
    // payment_complete acts only on the statuses of woocommerce_valid_order_statuses_for_payment_complete.
    let completes = set_paid && matches!(current.as_str(), "pending" | "on-hold" | "failed" | "cancelled");
    let target = status.unwrap_or_else(|| if completes { payment_complete_status(&doc.body) } else { current });
    transition(conn, doc, &target).await
}

/// The order as the API shows it.
pub fn render(site: &Site, doc: &Doc) -> Value {
    let mut body = doc.body.clone();
    let key = body["order_key"].as_str().unwrap_or_default().to_owned();
    body["payment_url"] = json!(format!("{}/checkout/order-pay/{}/?pay_for_order=true&key={key}", site.base, doc.id));
    let mut links = json!({
        "self": [{ "href": site.api(&format!("/orders/{}", doc.id)),
                   "targetHints": { "allow": ["GET", "POST", "PUT", "PATCH", "DELETE"] } }],
        "collection": [{ "href": site.api("/orders") }],
        "email_templates": [{ "embeddable": true, "href": site.api(&format!("/orders/{}/actions/email_templates", doc.id)) }],
    });
    let customer = body["customer_id"].as_u64().unwrap_or(0);
    if customer > 0 {
        links["customer"] = json!([{ "href": site.api(&format!("/customers/{customer}")) }]);
    }
    body["_links"] = links;
    body
}

fn random_token(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric).take(len).collect()
}
