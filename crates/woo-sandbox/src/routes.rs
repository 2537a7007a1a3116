//! The WooCommerce routes the sandbox serves, and its batch endpoints, dispatched by method and path.

use crate::*;

#[allow(clippy::too_many_arguments)]
pub(crate) async fn route(
    app: &App,
    conn: &mut sqlx::SqliteConnection,
    method: &Method,
    segments: &[&str],
    site: &Site,
    params: &Params,
    body: &Map<String, Value>,
    events: &mut Vec<Event>,
) -> WcResult {
    let m = method.as_str();
    match segments {
        ["products"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let query = products::list_query(params, &paging, None)?;
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs.iter().map(|d| products::render(site, d, false)).collect();
            Ok(respond_page(site, "/products", params, &paging, total, items))
        }
        ["products"] if m == "POST" => {
            let doc = products::create(conn, Kind::Product, None, body).await?;
            events.push(Event::Changed { topic: "product.created", kind: Kind::Product, id: doc.id });
            Ok(respond(site, StatusCode::CREATED, "GET, POST", products::render(site, &doc, true)))
        }
        ["products", "batch"] if is_write(method) => product_batch(conn, site, None, body, events).await,
        ["products", "categories"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let mut all = categories::all(conn).await?;
            if let Some(slug) = params.get("slug") {
                all.retain(|d| d.body["slug"].as_str() == Some(slug));
            }
            if let Some(search) = params.get("search").map(str::to_lowercase) {
                all.retain(|d| d.body["name"].as_str().is_some_and(|n| n.to_lowercase().contains(&search)));
            }
            if let Some(parent) = params.integer("parent")? {
                all.retain(|d| d.body["parent"].as_i64() == Some(parent));
            }
            let total = all.len() as u64;
            let start = usize::try_from(paging.offset).unwrap_or(usize::MAX);
            let items =
                all.iter().skip(start).take(paging.per_page as usize).map(|d| categories::render(site, d)).collect();
            Ok(respond_page(site, "/products/categories", params, &paging, total, items))
        }
        ["products", "categories"] if m == "POST" => {
            let doc = categories::create(conn, body).await?;
            Ok(respond(site, StatusCode::CREATED, "GET, POST", categories::render(site, &doc)))
        }
        ["products", "categories", id] => {
            let id = id_of(id)?;
            let Some(mut doc) = store::get(conn, Kind::Category, id).await? else {
                return Err(categories::invalid_id());
            };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, categories::render(site, &doc))),
                "POST" | "PUT" | "PATCH" => {
                    categories::update(&mut doc, body);
                    if store::save(conn, &doc).await?.is_err() {
                        return Err(categories::invalid_id());
                    }
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, categories::render(site, &doc)))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["products", id] => {
            let id = id_of(id)?;
            let found = store::get(conn, Kind::Product, id).await?;
            let Some(doc) = found else { return Err(products::invalid_id(Kind::Product, StatusCode::NOT_FOUND)) };
            item_route(conn, m, site, params, body, doc, events).await
        }
        ["products", parent, "variations", rest @ ..] => {
            let parent_id = id_of(parent)?;
            let Some(parent) = store::get(conn, Kind::Product, parent_id).await? else {
                return Err(products::invalid_id(Kind::Product, StatusCode::NOT_FOUND));
            };
            variation_route(conn, method, rest, site, params, body, &parent, events).await
        }
        ["customers"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let role = params.get("role").unwrap_or("customer");
            let order_by = match params.get("orderby").unwrap_or("name") {
                "name" => "title",
                "registered_date" => "created",
                _ => "id",
            };
            let query = store::Query {
                kinds: vec![Kind::Customer],
                email: params.get("email").map(str::to_owned),
                statuses: Vec::new(),
                search: params.get("search").map(str::to_owned),
                ids: params.list("include").iter().filter_map(|s| s.parse().ok()).collect(),
                order_by,
                descending: params.get("order") == Some("desc"),
                limit: paging.per_page,
                offset: paging.offset,
                ..store::Query::default()
            };
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs
                .iter()
                .filter(|d| role == "all" || d.body["role"].as_str() == Some(role))
                .map(|d| customers::render(site, d))
                .collect();
            Ok(respond_page(site, "/customers", params, &paging, total, items))
        }
        ["customers", "batch"] if is_write(method) => customer_batch(conn, site, body, events).await,
        ["customers"] if m == "POST" => {
            let doc = customers::create(conn, body).await?;
            events.push(Event::Changed { topic: "customer.created", kind: Kind::Customer, id: doc.id });
            Ok(respond(site, StatusCode::CREATED, "GET, POST", customers::render(site, &doc)))
        }
        ["customers", id] => {
            let id = id_of(id)?;
            let Some(mut doc) = store::get(conn, Kind::Customer, id).await? else {
                return Err(customers::invalid_id());
            };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, customers::render(site, &doc))),
                "POST" | "PUT" | "PATCH" => {
                    customers::update(conn, &mut doc, body).await?;
                    events.push(Event::Changed { topic: "customer.updated", kind: Kind::Customer, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, customers::render(site, &doc)))
                }
                "DELETE" => {
                    let rendered = customers::render(site, &doc);
                    store::delete(conn, Kind::Customer, id).await?;
                    events.push(Event::Changed { topic: "customer.deleted", kind: Kind::Customer, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["orders"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let statuses = params.list("status");
            for status in &statuses {
                if status != "any" && !orders::STATUSES.contains(&status.as_str()) && status != "trash" {
                    let message = "status[0] is not one of any, trash, auto-draft, pending, processing, on-hold, \
                                   completed, cancelled, refunded, failed, and checkout-draft.";
                    return Err(WcError::invalid_param("status", message, "rest_not_in_enum"));
                }
            }
            let statuses: Vec<String> = statuses.into_iter().filter(|s| s != "any").collect();
            let order_by = match params.get("orderby").unwrap_or("date") {
                "date" => "created",
                "modified" => "modified",
                "title" | "slug" => "title",
                _ => "id",
            };
            let query = store::Query {
                kinds: vec![Kind::Order],
                exclude_status: if statuses.is_empty() { Some("trash".into()) } else { None },
                statuses,
                modified_after: params.date("modified_after")?,
                modified_before: params.date("modified_before")?,
                created_after: params.date("after")?,
                ids: params.list("include").iter().filter_map(|s| s.parse().ok()).collect(),
                search: params.get("search").map(str::to_owned),
                order_by,
                descending: params.get("order").unwrap_or("desc") == "desc",
                limit: paging.per_page,
                offset: paging.offset,
                ..store::Query::default()
            };
            let customer = params.integer("customer")?;
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs
                .iter()
                .filter(|d| customer.is_none_or(|c| d.body["customer_id"].as_i64() == Some(c)))
                .map(|d| orders::render(site, d))
                .collect();
            Ok(respond_page(site, "/orders", params, &paging, total, items))
        }
        ["orders"] if m == "POST" => {
            let doc = orders::create(conn, body, &app.tax).await?;
            events.push(Event::Changed { topic: "order.created", kind: Kind::Order, id: doc.id });
            Ok(respond(site, StatusCode::CREATED, "GET, POST", orders::render(site, &doc)))
        }
        ["orders", id] => {
            let id = id_of(id)?;
            let Some(mut doc) = store::get(conn, Kind::Order, id).await? else { return Err(orders::invalid_id()) };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, orders::render(site, &doc))),
                "POST" | "PUT" | "PATCH" => {
                    orders::update(conn, &mut doc, body).await?;
                    events.push(Event::Changed { topic: "order.updated", kind: Kind::Order, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, orders::render(site, &doc)))
                }
                "DELETE" => {
                    let rendered = orders::render(site, &doc);
                    if params.flag("force") {
                        store::delete(conn, Kind::Order, id).await?;
                    } else {
                        orders::transition(conn, &mut doc, "trash").await?;
                    }
                    events.push(Event::Changed { topic: "order.deleted", kind: Kind::Order, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["orders", id, "notes", rest @ ..] => {
            let order_id = id_of(id)?;
            if store::get(conn, Kind::Order, order_id).await?.is_none() {
                return Err(orders::invalid_id());
            }
            match (m, rest) {
                ("GET", []) => {
                    let notes = orders::notes(conn, order_id).await?;
                    let items: Vec<Value> = notes.iter().map(|n| orders::render_note(site, n)).collect();
                    Ok(respond(site, StatusCode::OK, "GET, POST", Value::Array(items)))
                }
                ("POST", []) => {
                    let text =
                        body.get("note").and_then(Value::as_str).ok_or_else(|| WcError::missing_param("note"))?;
                    let customer_note = products::bool_param(body, "customer_note")?.unwrap_or(false);
                    let author =
                        if products::bool_param(body, "added_by_user")?.unwrap_or(false) { "admin" } else { "system" };
                    let note = orders::add_note(conn, order_id, text, customer_note, author).await?;
                    Ok(respond(site, StatusCode::CREATED, "GET, POST", orders::render_note(site, &note)))
                }
                ("GET" | "DELETE", [note_id]) => {
                    let note_id = id_of(note_id)?;
                    let note = store::get(conn, Kind::Note, note_id).await?.filter(|n| n.parent_id == order_id);
                    let Some(note) = note else {
                        return Err(WcError::new(
                            StatusCode::NOT_FOUND,
                            "woocommerce_rest_order_invalid_id",
                            "Invalid resource ID.",
                        ));
                    };
                    let rendered = orders::render_note(site, &note);
                    if m == "DELETE" {
                        store::delete(conn, Kind::Note, note_id).await?;
                    }
                    Ok(respond(site, StatusCode::OK, "GET, DELETE", rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["orders", id, "refunds", rest @ ..] => {
            let order_id = id_of(id)?;
            let Some(mut order) = store::get(conn, Kind::Order, order_id).await? else {
                return Err(orders::invalid_id());
            };
            match (m, rest) {
                ("GET", []) => {
                    let refunds = store::children(conn, Kind::Refund, order_id).await?;
                    let items: Vec<Value> = refunds.iter().rev().map(|r| orders::render_refund(site, r)).collect();
                    Ok(respond(site, StatusCode::OK, "GET, POST", Value::Array(items)))
                }
                ("POST", []) => {
                    let refund = orders::refund(conn, &mut order, body).await?;
                    events.push(Event::Changed { topic: "order.updated", kind: Kind::Order, id: order_id });
                    Ok(respond(site, StatusCode::CREATED, "GET, POST", orders::render_refund(site, &refund)))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["coupons"] if m == "POST" => {
            let doc = orders::create_coupon(conn, body).await?;
            Ok(respond(site, StatusCode::CREATED, "GET, POST", doc.body))
        }
        ["coupons"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let query = by_id(Kind::Coupon, &paging);
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs.into_iter().map(|d| d.body).collect();
            Ok(respond_page(site, "/coupons", params, &paging, total, items))
        }
        ["webhooks"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let query = by_id(Kind::Webhook, &paging);
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs.iter().map(|d| webhooks::render(site, d)).collect();
            Ok(respond_page(site, "/webhooks", params, &paging, total, items))
        }
        ["webhooks"] if m == "POST" => {
            let doc = webhooks::create(conn, body).await?;
            if doc.body["status"] == json!("active") {
                events.push(Event::Ping { webhook_id: doc.id });
            }
            Ok(respond(site, StatusCode::CREATED, "GET, POST", webhooks::render(site, &doc)))
        }
        ["webhooks", id] => {
            let id = id_of(id)?;
            let Some(mut doc) = store::get(conn, Kind::Webhook, id).await? else { return Err(webhooks::invalid_id()) };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, webhooks::render(site, &doc))),
                "POST" | "PUT" | "PATCH" => {
                    webhooks::update(conn, &mut doc, body).await?;
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, webhooks::render(site, &doc)))
                }
                "DELETE" => {
                    let rendered = webhooks::render(site, &doc);
                    store::delete(conn, Kind::Webhook, id).await?;
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        _ => Err(WcError::no_route()),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn variation_route(
    conn: &mut sqlx::SqliteConnection,
    method: &Method,
    rest: &[&str],
    site: &Site,
    params: &Params,
    body: &Map<String, Value>,
    parent: &Doc,
    events: &mut Vec<Event>,
) -> WcResult {
    let m = method.as_str();
    match rest {
        [] if m == "GET" => {
            let paging = Paging::from(params)?;
            let query = products::list_query(params, &paging, Some(parent.id))?;
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs.iter().map(|d| products::render(site, d, false)).collect();
            Ok(respond_page(site, &format!("/products/{}/variations", parent.id), params, &paging, total, items))
        }
        [] if m == "POST" => {
            let doc = products::create(conn, Kind::Variation, Some(parent), body).await?;
            events.push(Event::Changed { topic: "product.created", kind: Kind::Variation, id: doc.id });
            Ok(respond(site, StatusCode::CREATED, "GET, POST", products::render(site, &doc, false)))
        }
        ["batch"] if is_write(method) => product_batch(conn, site, Some(parent), body, events).await,
        [id] => {
            let id = id_of(id)?;
            let found = store::get(conn, Kind::Variation, id).await?.filter(|v| v.parent_id == parent.id);
            let Some(doc) = found else { return Err(products::invalid_id(Kind::Variation, StatusCode::NOT_FOUND)) };
            item_route(conn, m, site, params, body, doc, events).await
        }
        _ => Err(WcError::no_route()),
    }
}

/// A page of every record of `kind`, oldest first (the listings that take no filter).
fn by_id(kind: Kind, paging: &Paging) -> store::Query {
    store::Query {
        kinds: vec![kind],
        order_by: "id",
        limit: paging.per_page,
        offset: paging.offset,
        ..store::Query::default()
    }
}

/// One product or variation at its own address: read, update, delete. A product's answers after a write are in the
/// edit context and a delete without `force` moves it to the trash; a variation has no trash, and WooCommerce answers
/// it in the view context.
async fn item_route(
    conn: &mut sqlx::SqliteConnection,
    m: &str,
    site: &Site,
    params: &Params,
    body: &Map<String, Value>,
    mut doc: Doc,
    events: &mut Vec<Event>,
) -> WcResult {
    let (kind, id) = (doc.kind, doc.id);
    let product = kind == Kind::Product;
    match m {
        "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, products::render(site, &doc, false))),
        "POST" | "PUT" | "PATCH" => {
            products::update(conn, &mut doc, body).await?;
            events.push(Event::Changed { topic: "product.updated", kind, id });
            Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, products::render(site, &doc, product)))
        }
        "DELETE" => {
            let rendered = products::render(site, &doc, product);
            if product && !params.flag("force") {
                doc.body["status"] = json!("trash");
                products::save_checked(conn, &doc).await?;
            } else {
                products::remove(conn, &doc).await?;
            }
            events.push(Event::Changed { topic: "product.deleted", kind, id });
            Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, rendered))
        }
        _ => Err(WcError::no_route()),
    }
}

/// WooCommerce's limit on the items of one batch request, across create, update and delete.
pub(crate) fn batch_limit(items: usize) -> Result<(), WcError> {
    if items > 100 {
        return Err(WcError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "woocommerce_rest_request_entity_too_large",
            "Unable to accept more than 100 items for this request.",
        ));
    }
    Ok(())
}

/// `POST /customers/batch`: each item succeeds or fails on its own, inside one 200 answer.
pub(crate) async fn customer_batch(
    conn: &mut sqlx::SqliteConnection,
    site: &Site,
    body: &Map<String, Value>,
    events: &mut Vec<Event>,
) -> WcResult {
    let list = |key: &str| body.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let (creates, updates, deletes) = (list("create"), list("update"), list("delete"));
    batch_limit(creates.len() + updates.len() + deletes.len())?;
    let item_error = |id: u64, error: &WcError| json!({ "id": id, "error": error.body() });
    let mut out = Map::new();
    if !creates.is_empty() {
        let mut results = Vec::new();
        for item in creates {
            let fields = item.as_object().cloned().unwrap_or_default();
            match customers::create(conn, &fields).await {
                Ok(doc) => {
                    events.push(Event::Changed { topic: "customer.created", kind: Kind::Customer, id: doc.id });
                    results.push(customers::render(site, &doc));
                }
                Err(error) => results.push(item_error(0, &error)),
            }
        }
        out.insert("create".into(), Value::Array(results));
    }
    if !updates.is_empty() {
        let mut results = Vec::new();
        for item in updates {
            let fields = item.as_object().cloned().unwrap_or_default();
            let id = fields.get("id").and_then(Value::as_u64).unwrap_or(0);
            let Some(mut doc) = store::get(conn, Kind::Customer, id).await? else {
                results.push(item_error(id, &customers::invalid_id()));
                continue;
            };
            match customers::update(conn, &mut doc, &fields).await {
                Ok(()) => {
                    events.push(Event::Changed { topic: "customer.updated", kind: Kind::Customer, id });
                    results.push(customers::render(site, &doc));
                }
                Err(error) => results.push(item_error(id, &error)),
            }
        }
        out.insert("update".into(), Value::Array(results));
    }
    if !deletes.is_empty() {
        let mut results = Vec::new();
        for item in deletes {
            let id = item.as_u64().unwrap_or(0);
            let Some(doc) = store::get(conn, Kind::Customer, id).await? else {
                results.push(item_error(id, &customers::invalid_id()));
                continue;
            };
            results.push(customers::render(site, &doc));
            store::delete(conn, Kind::Customer, id).await?;
            events.push(Event::Changed { topic: "customer.deleted", kind: Kind::Customer, id });
        }
        out.insert("delete".into(), Value::Array(results));
    }
    Ok(respond(site, StatusCode::OK, "POST, PUT, PATCH", Value::Object(out)))
}

/// `POST /products/batch` and `POST /products/{id}/variations/batch`: each item succeeds or fails on its own,
/// inside one 200 answer.
pub(crate) async fn product_batch(
    conn: &mut sqlx::SqliteConnection,
    site: &Site,
    parent: Option<&Doc>,
    body: &Map<String, Value>,
    events: &mut Vec<Event>,
) -> WcResult {
    let list = |key: &str| body.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let (creates, updates, deletes) = (list("create"), list("update"), list("delete"));
    batch_limit(creates.len() + updates.len() + deletes.len())?;
    let kind = if parent.is_some() { Kind::Variation } else { Kind::Product };
    let editing = parent.is_none();
    let item_error = |id: u64, error: &WcError| json!({ "id": id, "error": error.body() });
    let mut out = Map::new();
    if !creates.is_empty() {
        let mut results = Vec::new();
        for item in creates {
            let fields = item.as_object().cloned().unwrap_or_default();
            // Re-read the parent each time: every created variation is added to its list.
            let current_parent = match parent {
                Some(p) => store::get(conn, Kind::Product, p.id).await?,
                None => None,
            };
            match products::create(conn, kind, current_parent.as_ref(), &fields).await {
                Ok(doc) => {
                    events.push(Event::Changed { topic: "product.created", kind, id: doc.id });
                    results.push(products::render(site, &doc, editing));
                }
                Err(error) => results.push(item_error(0, &error)),
            }
        }
        out.insert("create".into(), Value::Array(results));
    }
    if !updates.is_empty() {
        let mut results = Vec::new();
        for item in updates {
            let fields = item.as_object().cloned().unwrap_or_default();
            let id = fields.get("id").and_then(Value::as_u64).unwrap_or(0);
            let found = store::get(conn, kind, id).await?.filter(|d| parent.is_none_or(|p| d.parent_id == p.id));
            let Some(mut doc) = found else {
                results.push(item_error(id, &products::invalid_id(kind, StatusCode::BAD_REQUEST)));
                continue;
            };
            match products::update(conn, &mut doc, &fields).await {
                Ok(()) => {
                    events.push(Event::Changed { topic: "product.updated", kind, id });
                    results.push(products::render(site, &doc, editing));
                }
                Err(error) => results.push(item_error(id, &error)),
            }
        }
        out.insert("update".into(), Value::Array(results));
    }
    if !deletes.is_empty() {
        let mut results = Vec::new();
        for item in deletes {
            let id = item.as_u64().or_else(|| item.get("id").and_then(Value::as_u64)).unwrap_or(0);
            let found = store::get(conn, kind, id).await?.filter(|d| parent.is_none_or(|p| d.parent_id == p.id));
            let Some(doc) = found else {
                results.push(item_error(id, &products::invalid_id(kind, StatusCode::BAD_REQUEST)));
                continue;
            };
            let rendered = products::render(site, &doc, editing);
            products::remove(conn, &doc).await?;
            events.push(Event::Changed { topic: "product.deleted", kind, id });
            results.push(rendered);
        }
        out.insert("delete".into(), Value::Array(results));
    }
    Ok(respond(site, StatusCode::OK, "POST, PUT, PATCH", Value::Object(out)))
}
