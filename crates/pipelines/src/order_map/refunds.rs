//! Refunds: an order as it stands after its refunds, and their lines in words.

use super::*;

/// The order as it is to be booked once its refunds are taken off: each line's quantity less the units refunded
/// (a line refunded whole is dropped; its unit price stays the pre-coupon price), tax, shipping and fees less what
/// was refunded of them, and the total less every refund. An order without refunds comes back as it is.
///
/// # Errors
/// When more is refunded than the order or a line holds, or a refund's details were not fetched with the order.
pub fn net_of_refunds(order: &Order) -> Result<Order, OrderProblem> {
    if order.refunds.is_empty() {
        return Ok(order.clone());
    }
    let label = order_label(order);
    // Every amount is bounded first, so that no sum or product below can overflow on a hostile order.
    let total = in_range(&label, || "field total".into(), order.total.unwrap_or_default())?;
    for value in order.refunds.iter().filter_map(|r| r.total) {
        in_range(&label, || "field refunds".into(), value)?;
    }
    for refund in &order.refund_details {
        let lines = refund.line_items.iter().map(|l| (l.total, l.total_tax));
        let others = refund.shipping_lines.iter().map(|l| (l.total, l.total_tax));
        let fees = refund.fee_lines.iter().map(|l| (l.total, l.total_tax));
        for (amount, tax) in lines.chain(others).chain(fees) {
            in_range(&label, || format!("refund {} line amounts", refund.id), amount.unwrap_or_default())?;
            in_range(&label, || format!("refund {} line taxes", refund.id), tax.unwrap_or_default())?;
        }
    }
    // WooCommerce shows refunds as negative totals; some extensions write them positive.
    let refunded: Decimal = order.refunds.iter().filter_map(|r| r.total).map(|t| t.abs()).sum();
    if refunded > total {
        return Err(OrderProblem::OverRefunded { order: label, refunded, total });
    }
    for summary in &order.refunds {
        if !order.refund_details.iter().any(|r| r.id == summary.id) {
            return Err(OrderProblem::RefundDetailsMissing { order: label, refund_id: summary.id });
        }
    }
    let mut net = order.clone();
    let (mut tax_back, mut misc_back) = (Decimal::ZERO, Decimal::ZERO);
    for refund in &order.refund_details {
        for line in &refund.line_items {
            tax_back += line.total_tax.unwrap_or_default().abs();
        }
        for line in &refund.shipping_lines {
            misc_back += line.total.unwrap_or_default().abs();
            tax_back += line.total_tax.unwrap_or_default().abs();
        }
        for line in &refund.fee_lines {
            misc_back += line.total.unwrap_or_default().abs();
            tax_back += line.total_tax.unwrap_or_default().abs();
        }
    }
    let mut kept = Vec::with_capacity(order.line_items.len());
    for (i, line) in order.line_items.iter().enumerate() {
        let units_back: i64 = order
            .refund_details
            .iter()
            .flat_map(|r| &r.line_items)
            .filter(|r| r.refunded_item_id() == Some(line.id))
            .filter_map(|r| r.quantity)
            .fold(0i64, |sum, q| sum.saturating_add(q.saturating_abs()));
        let quantity = line.quantity.unwrap_or(0);
        if units_back == 0 {
            kept.push(line.clone());
            continue;
        }
        if units_back > quantity {
            return Err(OrderProblem::OverRefundedLine {
                order: label,
                line: i + 1,
                sku: sku_of(line),
                refunded: units_back,
                quantity,
            });
        }
        if units_back == quantity {
            continue;
        }
        let mut line = line.clone();
        let left = quantity - units_back;
        if let Some(subtotal) = line.subtotal {
            let n = i + 1;
            let subtotal = in_range(&label, || format!("line {n} field subtotal"), subtotal)?;
            let scaled = subtotal.checked_mul(Decimal::from(left)).ok_or_else(|| OrderProblem::OutOfRange {
                order: label.clone(),
                field: format!("line {n} field quantity"),
                value: Decimal::from(quantity),
            })?;
            line.subtotal = Some(round_money(scaled / Decimal::from(quantity)));
        }
        line.quantity = Some(left);
        kept.push(line);
    }
    net.line_items = kept;
    net.total = Some(total - refunded);
    net.total_tax = Some(order.total_tax.unwrap_or_default() - tax_back);
    net.shipping_total = Some(order.shipping_total.unwrap_or_default() - misc_back);
    Ok(net)
}

/// The order's body with the full refunds added under `cpbridge_refunds` (see `Order::refund_details`). A body
/// that is not a JSON object comes back as it is, to be refused as unreadable.
pub fn with_refund_details(raw: &str, refunds: Vec<serde_json::Value>) -> String {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(mut body)) => {
            body.insert("cpbridge_refunds".into(), serde_json::Value::Array(refunds));
            serde_json::Value::Object(body).to_string()
        }
        _ => raw.to_owned(),
    }
}

/// A refund's lines for people: `1 x CAP-MUG-1 (restocked in WooCommerce)`, joined by commas.
pub fn refund_lines_text(order: &Order, refund: &cpbridge_woo::model::Refund) -> String {
    refund
        .line_items
        .iter()
        .map(|line| {
            let original = line.refunded_item_id().and_then(|id| order.line_items.iter().find(|l| l.id == id));
            let sku = original.map_or_else(|| sku_of(line), sku_of);
            let restocked = original.is_some_and(|l| l.meta_data.iter().any(|m| m.key == "_restock_refunded_items"));
            let units = line.quantity.unwrap_or(0).unsigned_abs();
            format!("{units} x {sku}{}", if restocked { " (restocked in WooCommerce)" } else { "" })
        })
        .collect::<Vec<_>>()
        .join(", ")
}
