//! Products and variations: create, read, update, delete, list and batch, with WooCommerce's rules for unique
//! SKUs, prices, `manage_stock` and `stock_status`.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use sqlx::SqliteConnection;

use crate::store::{self, Conflict, Doc, Kind, Query};
use crate::wire::{self, Params, Site, WcError, amount, now, slugify};

const PRODUCT_TEMPLATE: &str = include_str!("../templates/product.json");
const VARIATION_TEMPLATE: &str = include_str!("../templates/variation.json");

pub fn template(kind: Kind) -> Value {
    let text = if kind == Kind::Variation { VARIATION_TEMPLATE } else { PRODUCT_TEMPLATE };
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub fn invalid_id(kind: Kind, status: StatusCode) -> WcError {
    let code = if kind == Kind::Variation {
        "woocommerce_rest_product_variation_invalid_id"
    } else {
        "woocommerce_rest_product_invalid_id"
    };
    WcError::new(status, code, "Invalid ID.")
}

fn enum_param(body: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<Option<String>, WcError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(_) => {
            let list = match allowed.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{}, and {last}", rest.join(", ")),
                _ => allowed.join(", "),
            };
            Err(WcError::invalid_param(key, &format!("{key} is not one of {list}."), "rest_not_in_enum"))
        }
    }
}

fn string_param(body: &Map<String, Value>, key: &str) -> Result<Option<String>, WcError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(WcError::invalid_param(key, &format!("{key} is not of type string."), "rest_invalid_type")),
    }
}

pub fn bool_param(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, WcError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if matches!(s.as_str(), "true" | "1" | "yes") => Ok(Some(true)),
        Some(Value::String(s)) if matches!(s.as_str(), "false" | "0" | "no" | "") => Ok(Some(false)),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
        Some(_) => Err(WcError::invalid_param(key, &format!("{key} is not of type boolean."), "rest_invalid_type")),
    }
}

pub fn int_param(body: &Map<String, Value>, key: &str) -> Result<Option<i64>, WcError> {
    let invalid = || WcError::invalid_param(key, &format!("{key} is not of type integer."), "rest_invalid_type");
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 =>
            {
                #[allow(clippy::cast_possible_truncation)]
                Ok(Some(f as i64))
            }
            _ => Err(invalid()),
        },
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

fn price_param(body: &Map<String, Value>, key: &str) -> Result<Option<String>, WcError> {
    let Some(text) = string_param(body, key)? else { return Ok(None) };
    if text.trim().is_empty() {
        return Ok(Some(String::new()));
    }
    match amount(Some(&Value::String(text.clone()))) {
        Some(value) => Ok(Some(cpbridge_woo::de::price_string(value))),
        None => Err(WcError::invalid_param(key, &format!("{key} is not a valid price."), "rest_invalid_param")),
    }
}

/// Merges `meta_data` writes: an entry with an `id` updates that entry, one whose key exists replaces its value,
/// and a new key is added with a fresh id. A `null` value deletes.
pub async fn merge_meta(conn: &mut SqliteConnection, target: &mut Value, writes: &Value) -> Result<(), WcError> {
    let Some(writes) = writes.as_array() else {
        return Err(WcError::invalid_param("meta_data", "meta_data is not of type array.", "rest_invalid_type"));
    };
    let mut meta: Vec<Value> = target.get("meta_data").and_then(Value::as_array).cloned().unwrap_or_default();
    for write in writes {
        let Some(key) = write.get("key").and_then(Value::as_str) else { continue };
        let value = write.get("value").cloned().unwrap_or(Value::Null);
        let by_id = write.get("id").and_then(Value::as_u64);
        let position = meta.iter().position(|m| match by_id {
            Some(id) => m.get("id").and_then(Value::as_u64) == Some(id),
            None => m.get("key").and_then(Value::as_str) == Some(key),
        });
        match (position, value.is_null()) {
            (Some(i), true) => {
                meta.remove(i);
            }
            (Some(i), false) => {
                meta[i]["key"] = json!(key);
                meta[i]["value"] = value;
            }
            (None, true) => {}
            (None, false) => {
                let id = next_meta_id(conn).await?;
                meta.push(json!({ "id": id, "key": key, "value": value }));
            }
        }
    }
    target["meta_data"] = Value::Array(meta);
    Ok(())
}

async fn next_meta_id(conn: &mut SqliteConnection) -> Result<u64, WcError> {
    Ok(store::next_in_sequence(conn, "meta", 1).await?)
}

/// Applies a create or update body to a product or variation and recomputes what WooCommerce derives.
pub async fn apply_write(
    conn: &mut SqliteConnection,
    doc: &mut Doc,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), WcError> {
    let is_variation = doc.kind == Kind::Variation;
    let kind_value = enum_param(body, "type", &["simple", "grouped", "external", "variable"])?;
    let status = enum_param(body, "status", &["draft", "pending", "private", "publish", "future"])?;
    let backorders = enum_param(body, "backorders", &["no", "notify", "yes"])?;
    let stock_status = enum_param(body, "stock_status", &["instock", "outofstock", "onbackorder"])?;
    let manage_stock = if is_variation && body.get("manage_stock") == Some(&json!("parent")) {
        Some(false)
    } else {
        bool_param(body, "manage_stock")?
    };
    let stock_quantity = int_param(body, "stock_quantity")?;
    let regular_price = price_param(body, "regular_price")?;
    let sale_price = price_param(body, "sale_price")?;
    let sku = string_param(body, "sku")?;
    let name = string_param(body, "name")?;

    let target = &mut doc.body;
    if let Some(kind) = kind_value.filter(|_| !is_variation) {
        target["type"] = json!(kind);
    }
    if let Some(status) = status {
        target["status"] = json!(status);
    }
    if let Some(name) = name.filter(|_| !is_variation) {
        target["name"] = json!(name);
        if creating || target["slug"].as_str().is_none_or(str::is_empty) {
            target["slug"] = json!(slugify(&name));
        }
    }
    if let Some(sku) = sku {
        target["sku"] = json!(sku.trim());
    }
    if let Some(price) = regular_price {
        target["regular_price"] = json!(price);
    }
    if let Some(price) = sale_price {
        target["sale_price"] = json!(price);
    }
    if let Some(manage) = manage_stock {
        target["manage_stock"] = json!(manage);
    }
    if let Some(quantity) = stock_quantity {
        target["stock_quantity"] = json!(quantity);
    }
    if let Some(backorders) = backorders {
        target["backorders"] = json!(backorders);
    }
    if let Some(stock_status) = stock_status {
        target["stock_status"] = json!(stock_status);
    }
    // Other fields of the record's shape are taken as given; unknown fields are ignored, as WordPress does.
    for (key, value) in body {
        let handled = matches!(
            key.as_str(),
            "id" | "type"
                | "status"
                | "name"
                | "sku"
                | "regular_price"
                | "sale_price"
                | "manage_stock"
                | "stock_quantity"
                | "backorders"
                | "stock_status"
                | "meta_data"
                | "price"
                | "date_created"
                | "date_created_gmt"
                | "date_modified"
                | "date_modified_gmt"
                | "parent_id"
                | "variations"
                | "_links"
        );
        if handled {
            continue;
        }
        if key == "categories" {
            let ids: Vec<u64> = value
                .as_array()
                .map(|list| list.iter().filter_map(|c| c.get("id").and_then(Value::as_u64)).collect())
                .unwrap_or_default();
            target["categories"] = crate::categories::product_terms(conn, &ids).await?;
        } else if target.get(key).is_some() {
            target[key.as_str()] = value.clone();
        }
    }
    if let Some(meta) = body.get("meta_data") {
        merge_meta(conn, target, meta).await?;
    }
    derive(target, creating);
    Ok(())
}

/// What WooCommerce derives on save: price, on_sale, stock status and the backorder flags.
pub fn derive(target: &mut Value, creating: bool) {
    let stamp = now();
    if creating {
        target["date_created"] = json!(stamp);
        target["date_created_gmt"] = json!(stamp);
    }
    target["date_modified"] = json!(stamp);
    target["date_modified_gmt"] = json!(stamp);
    let regular = target["regular_price"].as_str().unwrap_or_default().to_owned();
    let sale = target["sale_price"].as_str().unwrap_or_default().to_owned();
    let on_sale = !sale.is_empty() && amount(Some(&json!(sale))) < amount(Some(&json!(regular)));
    let is_variable = target["type"] == json!("variable");
    if !is_variable {
        target["price"] = json!(if on_sale { sale.clone() } else { regular.clone() });
        target["on_sale"] = json!(on_sale);
        target["purchasable"] = json!(!regular.is_empty() || !sale.is_empty());
    }
    let price = target["price"].as_str().unwrap_or_default().to_owned();
    if target.get("price_html").is_some() {
        target["price_html"] = json!(price_html(&regular, &sale, &price, on_sale));
    }
    let managed = target["manage_stock"] == json!(true);
    let backorders = target["backorders"].as_str().unwrap_or("no").to_owned();
    target["backorders_allowed"] = json!(backorders != "no");
    if managed {
        let quantity = target["stock_quantity"].as_i64().unwrap_or(0);
        target["stock_quantity"] = json!(quantity);
        let status = if quantity > 0 {
            "instock"
        } else if backorders != "no" {
            "onbackorder"
        } else {
            "outofstock"
        };
        target["stock_status"] = json!(status);
        target["backordered"] = json!(quantity < 0 && backorders != "no");
    } else {
        target["stock_quantity"] = Value::Null;
        target["backordered"] = json!(false);
        if target["stock_status"].as_str().is_none_or(str::is_empty) {
            target["stock_status"] = json!("instock");
        }
    }
}

fn price_html(regular: &str, sale: &str, price: &str, on_sale: bool) -> String {
    let amount_html = |p: &str| {
        format!(
            "<span class=\"woocommerce-Price-amount amount\"><bdi><span class=\"woocommerce-Price-currencySymbol\" \
             translate=\"no\">&#36;</span>{p}</bdi></span>"
        )
    };
    if price.is_empty() {
        return String::new();
    }
    if on_sale {
        format!(
            "<del aria-hidden=\"true\">{}</del> <span class=\"screen-reader-text\">Original price was: &#036;{regular}.\
             </span><ins aria-hidden=\"true\">{}</ins><span class=\"screen-reader-text\">Current price is: \
             &#036;{sale}.</span>",
            amount_html(regular),
            amount_html(sale)
        )
    } else {
        amount_html(price)
    }
}

/// The record as the API shows it: links and permalinks for the address the client used. `editing` adds the two
/// fields WooCommerce includes only in answers to writes.
pub fn render(site: &Site, doc: &Doc, editing: bool) -> Value {
    let mut body = doc.body.clone();
    let slug = body["slug"].as_str().unwrap_or_default().to_owned();
    if doc.kind == Kind::Variation {
        body["permalink"] = json!(format!("{}/?p={}", site.base, doc.id));
        body["_links"] = json!({
            "self": [{ "href": site.api(&format!("/products/{}/variations/{}", doc.parent_id, doc.id)),
                       "targetHints": { "allow": ["GET", "POST", "PUT", "PATCH", "DELETE"] } }],
            "collection": [{ "href": site.api(&format!("/products/{}/variations", doc.parent_id)) }],
            "up": [{ "href": site.api(&format!("/products/{}", doc.parent_id)) }],
        });
        return body;
    }
    body["permalink"] = json!(format!("{}/product/{slug}/", site.base));
    let mut links = json!({
        "self": [{ "href": site.api(&format!("/products/{}", doc.id)),
                   "targetHints": { "allow": ["GET", "POST", "PUT", "PATCH", "DELETE"] } }],
        "collection": [{ "href": site.api("/products") }],
    });
    if doc.parent_id != 0 {
        links["up"] = json!([{ "href": site.api(&format!("/products/{}", doc.parent_id)) }]);
    }
    body["_links"] = links;
    if editing {
        if let Some(map) = body.as_object_mut() {
            let links = map.remove("_links");
            map.insert("permalink_template".into(), json!(format!("{}/product/%pagename%/", site.base)));
            map.insert("generated_slug".into(), json!(slug));
            if let Some(links) = links {
                map.insert("_links".into(), links);
            }
        }
    } else if let Some(map) = body.as_object_mut() {
        map.remove("permalink_template");
        map.remove("generated_slug");
    }
    body
}

/// A variation in the product shape that `product.*` webhooks carry.
pub fn as_product_shape(site: &Site, doc: &Doc, parent_name: &str) -> Value {
    let mut shaped = template(Kind::Product);
    for (key, value) in doc.body.as_object().cloned().unwrap_or_default() {
        if shaped.get(&key).is_some() {
            shaped[key.as_str()] = value;
        }
    }
    shaped["type"] = json!("variation");
    shaped["parent_id"] = json!(doc.parent_id);
    shaped["id"] = json!(doc.id);
    shaped["name"] = json!(format!("{parent_name} - {}", doc.body["name"].as_str().unwrap_or_default()));
    if let Some(map) = shaped.as_object_mut() {
        map.remove("permalink_template");
        map.remove("generated_slug");
    }
    let variation = render(site, doc, false);
    shaped["permalink"] = variation["permalink"].clone();
    shaped["_links"] = variation["_links"].clone();
    shaped
}

/// Creates a product, or a variation of `parent`, from a request body.
pub async fn create(
    conn: &mut SqliteConnection,
    kind: Kind,
    parent: Option<&Doc>,
    body: &Map<String, Value>,
) -> Result<Doc, WcError> {
    let id = store::next_id(conn, kind).await?;
    let mut doc = Doc { kind, id, parent_id: parent.map_or(0, |p| p.id), body: template(kind), flags: 0 };
    doc.body["id"] = json!(id);
    doc.body["parent_id"] = json!(doc.parent_id);
    if kind == Kind::Product {
        doc.body["type"] = json!("simple");
        doc.body["status"] = json!("publish");
        doc.body["name"] = json!("");
    } else {
        doc.body["status"] = json!("publish");
        let attributes: Vec<Value> = body
            .get("attributes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                let name = a.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                json!({ "id": a.get("id").cloned().unwrap_or(json!(0)), "name": name, "slug": slugify(&name),
                        "option": a.get("option").cloned().unwrap_or(json!("")) })
            })
            .collect();
        let label: Vec<&str> = attributes.iter().filter_map(|a| a["option"].as_str()).collect();
        doc.body["name"] = json!(label.join(", "));
        doc.body["attributes"] = Value::Array(attributes);
    }
    let mut body = body.clone();
    body.remove("attributes");
    apply_write(conn, &mut doc, &body, true).await?;
    if doc.body["name"].as_str().is_some_and(str::is_empty) && kind == Kind::Product {
        doc.body["name"] = json!("Product");
    }
    if doc.body["slug"].as_str().is_some_and(str::is_empty) && kind == Kind::Product {
        doc.body["slug"] = json!(format!("product-{id}"));
    }
    save_checked(conn, &doc).await?;
    if let Some(parent) = parent {
        let mut parent = parent.clone();
        let mut ids: Vec<Value> = parent.body["variations"].as_array().cloned().unwrap_or_default();
        ids.push(json!(id));
        parent.body["variations"] = Value::Array(ids);
        store::save(conn, &parent).await?.map_err(|_| sku_conflict(&parent, 0))?;
    }
    Ok(doc)
}

/// Saves a product or variation, turning a SKU conflict into WooCommerce's error.
pub async fn save_checked(conn: &mut SqliteConnection, doc: &Doc) -> Result<(), WcError> {
    match store::save(conn, doc).await? {
        Ok(()) => Ok(()),
        Err(Conflict::Sku { holder }) | Err(Conflict::Email { holder }) => Err(sku_conflict(doc, holder)),
    }
}

fn sku_conflict(doc: &Doc, holder: u64) -> WcError {
    let sku = doc.body["sku"].as_str().unwrap_or_default();
    WcError::new(StatusCode::BAD_REQUEST, "product_invalid_sku", "Invalid or duplicated SKU.")
        .with("resource_id", json!(holder))
        .with("unique_sku", json!(format!("{sku}-1")))
}

/// Updates a product or variation from a request body.
pub async fn update(conn: &mut SqliteConnection, doc: &mut Doc, body: &Map<String, Value>) -> Result<(), WcError> {
    apply_write(conn, doc, body, false).await?;
    save_checked(conn, doc).await
}

/// Deletes a product (with its variations) or a variation; returns the record as it was.
pub async fn remove(conn: &mut SqliteConnection, doc: &Doc) -> Result<(), WcError> {
    if doc.kind == Kind::Product {
        for variation in store::children(conn, Kind::Variation, doc.id).await? {
            store::delete(conn, Kind::Variation, variation.id).await?;
        }
    } else if let Some(mut parent) = store::get(conn, Kind::Product, doc.parent_id).await? {
        let ids: Vec<Value> = parent.body["variations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v.as_u64() != Some(doc.id))
            .collect();
        parent.body["variations"] = Value::Array(ids);
        store::save(conn, &parent).await?.map_err(|_| sku_conflict(&parent, 0))?;
    }
    store::delete(conn, doc.kind, doc.id).await?;
    Ok(())
}

/// The listing query for `GET /products` and `GET /products/{id}/variations`.
pub fn list_query(params: &Params, paging: &wire::Paging, parent: Option<u64>) -> Result<Query, WcError> {
    let skus = params.list("sku");
    let kinds = match parent {
        Some(_) => vec![Kind::Variation],
        // Like WooCommerce, a SKU lookup also finds variations.
        None if !skus.is_empty() => vec![Kind::Product, Kind::Variation],
        None => vec![Kind::Product],
    };
    let status = params.get("status").unwrap_or("any");
    let statuses = match status {
        "any" => Vec::new(),
        s if ["draft", "pending", "private", "publish", "future", "trash"].contains(&s) => vec![s.to_owned()],
        _ => {
            let message = "status is not one of any, future, trash, draft, pending, private, and publish.";
            return Err(WcError::invalid_param("status", message, "rest_not_in_enum"));
        }
    };
    let order_by = match params.get("orderby").unwrap_or("date") {
        "date" => "created",
        "id" | "include" => "id",
        "title" | "slug" => "title",
        "modified" => "modified",
        "menu_order" | "price" | "popularity" | "rating" => "id",
        _ => {
            let message = "orderby is not one of date, id, include, title, slug, modified, menu_order, price, popularity, and rating.";
            return Err(WcError::invalid_param("orderby", message, "rest_not_in_enum"));
        }
    };
    let descending = match params.get("order").unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        _ => return Err(WcError::invalid_param("order", "order is not one of asc, and desc.", "rest_not_in_enum")),
    };
    let product_type = match params.get("type") {
        None => None,
        Some(t) if parent.is_none() && ["simple", "grouped", "external", "variable"].contains(&t) => Some(t.to_owned()),
        Some(_) if parent.is_some() => None,
        Some(_) => {
            let message = "type is not one of simple, grouped, external, and variable.";
            return Err(WcError::invalid_param("type", message, "rest_not_in_enum"));
        }
    };
    let ids = params.list("include").iter().filter_map(|s| s.parse().ok()).collect();
    Ok(Query {
        product_type,
        kinds,
        parent_id: parent.or(params.integer("parent")?.and_then(|p| u64::try_from(p).ok())),
        skus,
        statuses,
        exclude_status: if status == "any" { Some("trash".into()) } else { None },
        modified_after: params.date("modified_after")?,
        modified_before: params.date("modified_before")?,
        created_after: params.date("after")?,
        ids,
        search: params.get("search").map(str::to_owned),
        order_by,
        descending,
        limit: paging.per_page,
        offset: paging.offset,
        ..Query::default()
    })
}

/// Reads a stock quantity change for the order pipeline: adds `delta`, recomputes status, saves.
pub async fn adjust_stock(conn: &mut SqliteConnection, doc: &mut Doc, delta: i64) -> Result<(i64, i64), WcError> {
    let before = doc.body["stock_quantity"].as_i64().unwrap_or(0);
    let after = before + delta;
    doc.body["stock_quantity"] = json!(after);
    derive(&mut doc.body, false);
    save_checked(conn, doc).await?;
    Ok((before, after))
}
