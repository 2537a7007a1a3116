//! Order notes and refunds, as WooCommerce records them (a refund with restock puts the stock back).

use super::*;

/// Adds a note to an order. `author` is `system` for WooCommerce's own notes.
pub async fn add_note(
    conn: &mut SqliteConnection,
    order_id: u64,
    text: &str,
    customer_note: bool,
    author: &str,
) -> Result<Doc, WcError> {
    let id = store::next_id(conn, Kind::Note).await?;
    let mut note = parse(NOTE_TEMPLATE);
    let stamp = now();
    note["id"] = json!(id);
    note["author"] = json!(if author == "system" { "WooCommerce" } else { author });
    note["date_created"] = json!(stamp);
    note["date_created_gmt"] = json!(stamp);
    note["note"] = json!(text);
    note["customer_note"] = json!(customer_note);
    let doc = Doc { kind: Kind::Note, id, parent_id: order_id, body: note, flags: 0 };
    store::save(conn, &doc).await?.map_err(|_| invalid_id())?;
    Ok(doc)
}

pub fn render_note(site: &Site, doc: &Doc) -> Value {
    let mut body = doc.body.clone();
    body["_links"] = json!({
        "self": [{ "href": site.api(&format!("/orders/{}/notes/{}", doc.parent_id, doc.id)),
                   "targetHints": { "allow": ["GET", "DELETE"] } }],
        "collection": [{ "href": site.api(&format!("/orders/{}/notes", doc.parent_id)) }],
        "up": [{ "href": site.api(&format!("/orders/{}", doc.parent_id)) }],
    });
    body
}

/// An order's notes as WooCommerce lists them: newest first, and in id order within one second.
pub async fn notes(conn: &mut SqliteConnection, order_id: u64) -> Result<Vec<Doc>, WcError> {
    let mut notes = store::children(conn, Kind::Note, order_id).await?;
    notes.sort_by(|a, b| {
        let (da, db) = (a.body["date_created_gmt"].as_str(), b.body["date_created_gmt"].as_str());
        db.cmp(&da).then(a.id.cmp(&b.id))
    });
    Ok(notes)
}

/// Creates a refund of `order` and records it on the order; a full refund moves the order to `refunded`.
pub async fn refund(conn: &mut SqliteConnection, order: &mut Doc, body: &Map<String, Value>) -> Result<Doc, WcError> {
    let invalid_amount = || {
        WcError::new(StatusCode::BAD_REQUEST, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount.")
    };
    let line_writes = body.get("line_items").and_then(Value::as_array).cloned().unwrap_or_default();
    let from_lines: Decimal = line_writes.iter().filter_map(|l| amount(l.get("refund_total"))).sum();
    let refund_amount = amount(body.get("amount")).unwrap_or(from_lines);
    let order_total = amount(order.body.get("total")).unwrap_or_default();
    let refunded: Decimal =
        order.body["refunds"].as_array().into_iter().flatten().filter_map(|r| amount(r.get("total"))).map(|t| -t).sum();
    if refund_amount <= Decimal::ZERO || refund_amount > order_total - refunded {
        return Err(invalid_amount());
    }
    let id = store::next_id(conn, Kind::Refund).await?;
    let mut refund = parse(REFUND_TEMPLATE);
    let stamp = now();
    refund["id"] = json!(id);
    refund["date_created"] = json!(stamp);
    refund["date_created_gmt"] = json!(stamp);
    refund["amount"] = json!(money(refund_amount));
    refund["reason"] = json!(body.get("reason").and_then(Value::as_str).unwrap_or_default());
    refund["refunded_by"] = json!(1);
    refund["refunded_payment"] = json!(false);
    let full = refund_amount == order_total - refunded;
    let meta_id = next_item_id(conn).await?;
    refund["meta_data"] =
        json!([{ "id": meta_id, "key": "_refund_type", "value": if full { "full" } else { "partial" } }]);
    let mut lines = Vec::new();
    for write in &line_writes {
        let Some(item_id) = write.get("id").and_then(Value::as_u64) else { continue };
        let Some(original) =
            order.body["line_items"].as_array().and_then(|l| l.iter().find(|x| x["id"] == json!(item_id))).cloned()
        else {
            continue;
        };
        let quantity = write.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let total = amount(write.get("refund_total")).unwrap_or_default();
        let mut line = original.clone();
        line["id"] = json!(next_item_id(conn).await?);
        line["quantity"] = json!(-quantity);
        line["subtotal"] = json!(money(-total));
        line["total"] = json!(money(-total));
        line["subtotal_tax"] = json!("0.00");
        line["total_tax"] = json!("0.00");
        line["taxes"] = json!([]);
        line["price"] = serde_json::Number::from_f64(total.to_string().parse::<f64>().unwrap_or_default())
            .map_or(Value::Null, Value::Number);
        let meta_id = next_item_id(conn).await?;
        line["meta_data"] = json!([{ "id": meta_id, "key": "_refunded_item_id", "value": item_id.to_string(),
                                     "display_key": "_refunded_item_id", "display_value": item_id.to_string() }]);
        lines.push(line);
    }
    refund["line_items"] = Value::Array(lines);
    if bool_param(body, "restock_items")?.unwrap_or(false) {
        restock_refunded(conn, order, &line_writes).await?;
    }
    let doc = Doc { kind: Kind::Refund, id, parent_id: order.id, body: refund, flags: 0 };
    store::save(conn, &doc).await?.map_err(|_| invalid_id())?;

    let mut summaries = order.body["refunds"].as_array().cloned().unwrap_or_default();
    summaries.insert(0, json!({ "id": id, "reason": doc.body["reason"], "total": money(-refund_amount) }));
    order.body["refunds"] = Value::Array(summaries);
    add_note(
        conn,
        order.id,
        &format!("Refunded ${} &ndash; {}", money(refund_amount), doc.body["reason"].as_str().unwrap_or_default()),
        false,
        "system",
    )
    .await?;
    let target =
        if full { "refunded".to_owned() } else { order.body["status"].as_str().unwrap_or("pending").to_owned() };
    transition(conn, order, &target).await?;
    Ok(doc)
}

/// `wc_restock_refunded_items`: puts the refunded quantities back in stock, notes each change on the order, and
/// keeps the running total on the line as `_restock_refunded_items`. The line's own quantity does not change.
pub(super) async fn restock_refunded(
    conn: &mut SqliteConnection,
    order: &mut Doc,
    writes: &[Value],
) -> Result<(), WcError> {
    let mut lines = order.body["line_items"].as_array().cloned().unwrap_or_default();
    let mut notes = Vec::new();
    for write in writes {
        let quantity = write.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let Some(item_id) = write.get("id").and_then(Value::as_u64) else { continue };
        let Some(line) = lines.iter_mut().find(|l| l["id"] == json!(item_id)) else { continue };
        if quantity <= 0 {
            continue;
        }
        let mut meta = line["meta_data"].as_array().cloned().unwrap_or_default();
        let earlier: i64 = meta
            .iter()
            .find(|m| m["key"] == json!("_restock_refunded_items"))
            .and_then(|m| m["value"].as_str().and_then(|v| v.parse().ok()))
            .unwrap_or(0);
        meta.retain(|m| m["key"] != json!("_restock_refunded_items"));
        let meta_id = next_item_id(conn).await?;
        let restocked = (earlier + quantity).to_string();
        meta.push(json!({ "id": meta_id, "key": "_restock_refunded_items", "value": restocked,
                          "display_key": "_restock_refunded_items", "display_value": restocked }));
        line["meta_data"] = Value::Array(meta);
        let Some(mut record) = stock_record(conn, line).await? else { continue };
        let (before, after) = products::adjust_stock(conn, &mut record, quantity).await?;
        notes.push(format!("Item #{} stock increased from {before} to {after}.", record.id));
    }
    order.body["line_items"] = Value::Array(lines);
    for note in notes {
        add_note(conn, order.id, &note, false, "system").await?;
    }
    Ok(())
}

pub fn render_refund(site: &Site, doc: &Doc) -> Value {
    let mut body = doc.body.clone();
    body["_links"] = json!({
        "self": [{ "href": site.api(&format!("/orders/{}/refunds/{}", doc.parent_id, doc.id)),
                   "targetHints": { "allow": ["GET", "DELETE"] } }],
        "collection": [{ "href": site.api(&format!("/orders/{}/refunds", doc.parent_id)) }],
        "up": [{ "href": site.api(&format!("/orders/{}", doc.parent_id)) }],
    });
    body
}
