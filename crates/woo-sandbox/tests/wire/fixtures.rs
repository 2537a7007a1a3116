//! Every captured request, replayed against the sandbox with the store's ids mapped to the sandbox's, gets the same
//! status and the same top-level JSON keys as the real WooCommerce answer.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::{KEY, SECRET, sandbox_config, spawn};

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/woocommerce").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

/// The order in which the exchanges were captured, so that each finds the state it expects.
const REPLAY: [&str; 36] = [
    "products-list-page1.json",
    "products-list-page2.json",
    "products-by-sku.json",
    "products-get-variable.json",
    "products-variations-list.json",
    "products-get-unmanaged.json",
    "products-create.json",
    "products-create-duplicate-sku.json",
    "products-get-missing.json",
    "products-per-page-101.json",
    "products-batch-stock-partial-failure.json",
    "products-batch-over-limit.json",
    "products-batch-create-update-delete.json",
    "variations-batch-stock.json",
    "products-modified-after.json",
    "customers-by-email.json",
    "customers-get.json",
    "customers-create.json",
    "customers-create-existing-email.json",
    "customers-list.json",
    "orders-create-paid.json",
    "orders-create-guest-pending.json",
    "orders-create-backordered.json",
    "orders-get.json",
    "orders-list-processing.json",
    "orders-list-any.json",
    "orders-update-status-completed.json",
    "orders-note-private.json",
    "orders-note-customer.json",
    "orders-notes-list.json",
    "orders-refund-partial.json",
    "orders-invalid-status.json",
    "orders-cancel.json",
    "orders-get-missing.json",
    "auth-none.json",
    "auth-wrong-secret.json",
];

struct Replayer {
    http: reqwest::Client,
    base: String,
    /// The fixture store's ids to the sandbox's.
    ids: HashMap<u64, u64>,
}

impl Replayer {
    async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        auth: Option<(&str, &str)>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base)).query(query);
        if let Some((key, secret)) = auth {
            request = request.basic_auth(key, Some(secret));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("sandbox answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn seed(&mut self, fixture_id: u64, path: &str, body: Value) -> Value {
        let (status, created) = self.call("POST", path, &[], Some(&body), Some((KEY, SECRET))).await;
        assert!(status == 201, "seeding {path}: {status} {created}");
        self.ids.insert(fixture_id, created["id"].as_u64().expect("id"));
        created
    }

    fn map_path(&self, path: &str) -> String {
        path.split('/')
            .map(|segment| match segment.parse::<u64>() {
                Ok(id) => self.ids.get(&id).copied().unwrap_or(id).to_string(),
                Err(_) => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    fn map_body(&self, value: &Value, key: Option<&str>) -> Value {
        match value {
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.map_body(v, Some(k.as_str())))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.map_body(v, key)).collect()),
            Value::Number(n)
                if matches!(key, Some("id" | "product_id" | "variation_id" | "customer_id" | "delete")) =>
            {
                let id = n.as_u64().unwrap_or_default();
                json!(self.ids.get(&id).copied().unwrap_or(id))
            }
            other => other.clone(),
        }
    }
}

fn simple(name: &str, sku: &str, price: &str, stock: Option<i64>) -> Value {
    let mut body = json!({ "name": name, "type": "simple", "sku": sku, "regular_price": price });
    match stock {
        Some(quantity) => {
            body["manage_stock"] = json!(true);
            body["stock_quantity"] = json!(quantity);
        }
        None => body["manage_stock"] = json!(false),
    }
    body
}

fn top_keys(value: &Value) -> BTreeSet<String> {
    let object = match value {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    object.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[tokio::test]
async fn every_fixture_request_gets_the_same_status_and_keys() {
    let mut config = sandbox_config();
    config.behind_tls = true;
    config.tax_rate_percent = rust_decimal_macros::dec!(7.25);
    let store = spawn(config).await;
    let mut replay = Replayer { http: reqwest::Client::new(), base: store.base.clone(), ids: HashMap::new() };

    // The fixture store's catalogue: simple products 40..=48 (47 backorderable, 48 unmanaged), variable 49 with
    // variations 50..=53, customer 4, and the coupon the paid order uses.
    for n in 0..9u64 {
        let id = 40 + n;
        let mut body =
            simple(&format!("Copy paper {} ream", n + 1), &format!("FX-583900-0{}", n + 1), "5.99", Some(20));
        if id == 47 {
            body = simple("Backorderable toner", "FX-583900-BO", "59.00", Some(1));
            body["backorders"] = json!("notify");
        }
        if id == 48 {
            body = simple("Unmanaged pad", "FX-583900-PAD", "2.50", None);
        }
        replay.seed(id, "/wp-json/wc/v3/products", body).await;
    }
    let shirt = json!({ "name": "Work shirt 583900", "type": "variable", "sku": "FX-583900-SHIRT" });
    let parent = replay.seed(49, "/wp-json/wc/v3/products", shirt).await["id"].as_u64().expect("id");
    for (n, (size, color)) in [("S", "Blue"), ("S", "Grey"), ("M", "Blue"), ("M", "Grey")].iter().enumerate() {
        let body = json!({
            "sku": format!("FX-583900-SHIRT-{size}-{}", &color[..2].to_uppercase()), "regular_price": "24.00",
            "manage_stock": true, "stock_quantity": 5,
            "attributes": [{ "name": "Size", "option": size }, { "name": "Color", "option": color }],
        });
        replay.seed(50 + n as u64, &format!("/wp-json/wc/v3/products/{parent}/variations"), body).await;
    }
    let buyer = json!({ "email": "buyer583900@example.test", "first_name": "Grace", "last_name": "Hopper" });
    replay.seed(4, "/wp-json/wc/v3/customers", buyer).await;
    let coupon = json!({ "code": "ten583900", "discount_type": "percent", "amount": "10" });
    let (status, _) = replay.call("POST", "/wp-json/wc/v3/coupons", &[], Some(&coupon), Some((KEY, SECRET))).await;
    assert_eq!(status, 201);

    let mut mismatches = Vec::new();
    for name in REPLAY {
        let fixture = load(name);
        let request = &fixture["request"];
        let expected_status = fixture["response"]["status"].as_u64().expect("status") as u16;
        let expected_body = &fixture["response"]["body"];
        let method = request["method"].as_str().expect("method");
        let path = replay.map_path(request["path"].as_str().expect("path"));
        let query: Vec<(String, String)> = request["query"]
            .as_object()
            .map(|q| {
                q.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect()
            })
            .unwrap_or_default();
        let mut body = replay.map_body(&request["body"], None);
        if name == "orders-refund-partial.json" {
            // Refund lines name the order's line item ids; use the sandbox order's first line.
            let (_, order) =
                replay.call("GET", &replay.map_path("/wp-json/wc/v3/orders/57"), &[], None, Some((KEY, SECRET))).await;
            body["line_items"][0]["id"] = order["line_items"][0]["id"].clone();
        }
        let auth = match name {
            "auth-none.json" => None,
            "auth-wrong-secret.json" => Some((KEY, "cs_wrong")),
            _ => Some((KEY, SECRET)),
        };
        let body = if body.is_null() { None } else { Some(&body) };
        let (status, answer) = replay.call(method, &path, &query, body, auth).await;
        if name.starts_with("orders-create") && status == 201 {
            let fixture_id = expected_body["id"].as_u64().expect("fixture order id");
            replay.ids.insert(fixture_id, answer["id"].as_u64().expect("order id"));
        }
        let (expected_keys, keys) = (top_keys(expected_body), top_keys(&answer));
        if status != expected_status || keys != expected_keys || expected_body.is_array() != answer.is_array() {
            let missing: Vec<_> = expected_keys.difference(&keys).collect();
            let extra: Vec<_> = keys.difference(&expected_keys).collect();
            mismatches.push(format!(
                "{name}: status {status} (want {expected_status}), missing {missing:?}, extra {extra:?}, body {}",
                answer.to_string().chars().take(300).collect::<String>()
            ));
        }
        if expected_body.get("code").is_some() && answer.get("code") != expected_body.get("code") {
            mismatches.push(format!("{name}: error code {} (want {})", answer["code"], expected_body["code"]));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn webhook_deliveries_have_the_captured_headers_and_body_keys() {
    let store = spawn(sandbox_config()).await;
    let client = crate::client(&store.base);
    let (url, received) = crate::client::receiver().await;
    for topic in ["product.updated", "customer.created", "order.created"] {
        let hook = cpbridge_woo::WebhookWrite {
            topic: topic.into(),
            delivery_url: url.clone(),
            secret: Some("testsecret".into()),
            ..Default::default()
        };
        client.create_webhook(&hook).await.expect("webhook");
    }
    let parent = client
        .create_product(&cpbridge_woo::ProductWrite {
            name: Some("Work shirt".into()),
            kind: Some("variable".into()),
            ..Default::default()
        })
        .await
        .expect("variable product");
    let variation_body = json!({ "sku": "SHIRT-S-BL", "regular_price": "24.00", "manage_stock": true, "stock_quantity": 5,
                                 "attributes": [{ "name": "Size", "option": "S" }] });
    let variation: cpbridge_woo::ProductWrite = serde_json::from_value(variation_body).expect("write");
    let variation = client.create_variation(parent.id, &variation).await.expect("variation");
    client
        .update_variation(parent.id, variation.id, &cpbridge_woo::ProductWrite::stock(variation.id, 2))
        .await
        .expect("stock");
    let customer = cpbridge_woo::CustomerWrite { email: Some("hook@example.test".into()), ..Default::default() };
    client.create_customer(&customer).await.expect("customer");
    let line = cpbridge_woo::LineItemWrite { variation_id: Some(variation.id), quantity: 1, ..Default::default() };
    let order = cpbridge_woo::OrderWrite { set_paid: Some(true), line_items: vec![line], ..Default::default() };
    client.create_order(&order).await.expect("order");

    let got = crate::client::wait_for(&received, 6).await;
    let events: Vec<_> = got.iter().filter(|(headers, _)| headers.contains_key("x-wc-webhook-topic")).collect();
    assert_eq!(events.len(), 3, "three signed deliveries after three pings");
    for (headers, body) in events {
        let topic = headers["x-wc-webhook-topic"].to_str().expect("topic");
        let fixture = load(&format!("webhook-{}.json", topic.replace('.', "-")));
        let want_headers: BTreeSet<String> =
            fixture["headers"].as_object().expect("headers").keys().map(|k| k.to_lowercase()).collect();
        let have_headers: BTreeSet<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
        let missing: Vec<_> = want_headers.difference(&have_headers).collect();
        assert!(missing.is_empty(), "{topic}: headers missing {missing:?}");
        assert!(cpbridge_woo::webhook::verify(
            "testsecret",
            body,
            headers["x-wc-webhook-signature"].to_str().expect("sig")
        ));
        let want: Value = serde_json::from_str(fixture["raw_body"].as_str().expect("raw body")).expect("fixture body");
        let have: Value = serde_json::from_slice(body).expect("delivered body");
        assert_eq!(top_keys(&have), top_keys(&want), "{topic}: body keys");
    }
}

/// The order flows captured on 2026-12-02: a paid cash-on-delivery order and a paid order of only virtual,
/// downloadable products are completed at once, and a refund of one unit with restock puts it back in stock and
/// leaves the order's lines as they were.
#[tokio::test]
async fn orders_completed_at_payment_and_restocked_refunds_answer_as_the_real_store() {
    let mut config = sandbox_config();
    config.behind_tls = true;
    let store = spawn(config).await;
    let mut replay = Replayer { http: reqwest::Client::new(), base: store.base.clone(), ids: HashMap::new() };
    replay.seed(1388, "/wp-json/wc/v3/products", simple("Capture Mug", "CAP-MUG-1", "12.00", Some(10))).await;
    let mut ebook = simple("Capture E-Book", "CAP-EBOOK-1", "9.00", None);
    ebook["virtual"] = json!(true);
    ebook["downloadable"] = json!(true);
    replay.seed(1389, "/wp-json/wc/v3/products", ebook).await;

    let same = |name: &str, answer: &Value, fields: &[&str]| {
        let fixture = load(name);
        let want = &fixture["response"]["body"];
        assert_eq!(top_keys(answer), top_keys(want), "{name}: keys");
        for field in fields {
            assert_eq!(answer[*field], want[*field], "{name}: {field}");
        }
        for field in ["date_paid_gmt", "date_completed_gmt"] {
            assert_eq!(answer[field].is_null(), want[field].is_null(), "{name}: {field} set or not");
        }
    };
    for name in ["orders-create-cod-paid-completes.json", "orders-create-virtual-paid-completes.json"] {
        let fixture = load(name);
        let body = replay.map_body(&fixture["request"]["body"], None);
        let (status, answer) =
            replay.call("POST", "/wp-json/wc/v3/orders", &[], Some(&body), Some((KEY, SECRET))).await;
        assert_eq!(status, 201, "{name}: {answer}");
        same(name, &answer, &["status", "needs_processing", "needs_payment", "total", "payment_method"]);
    }
    let mug = replay.ids[&1388];
    let (_, product) =
        replay.call("GET", &format!("/wp-json/wc/v3/products/{mug}"), &[], None, Some((KEY, SECRET))).await;
    assert_eq!(product["stock_quantity"], 8, "the completed cash-on-delivery order reduced stock by 2");

    // The refunded order: paid by bank transfer, three mugs.
    let order =
        json!({ "payment_method": "bacs", "set_paid": true, "line_items": [{ "product_id": 1388, "quantity": 3 }] });
    let order = replay.map_body(&order, None);
    let placed = replay.seed(1392, "/wp-json/wc/v3/orders", order).await;
    let fixture = load("orders-refund-line-restock.json");
    let mut body = replay.map_body(&fixture["request"]["body"], None);
    body["line_items"][0]["id"] = placed["line_items"][0]["id"].clone();
    let path = replay.map_path(fixture["request"]["path"].as_str().expect("path"));
    let (status, refund) = replay.call("POST", &path, &[], Some(&body), Some((KEY, SECRET))).await;
    assert_eq!(status, 201, "{refund}");
    same("orders-refund-line-restock.json", &refund, &["amount", "reason", "refunded_payment"]);
    assert_eq!(refund["line_items"][0]["quantity"], -1);
    let refunded_item = refund["line_items"][0]["meta_data"][0]["value"].clone();
    assert_eq!(refunded_item, json!(placed["line_items"][0]["id"].as_u64().expect("id").to_string()));
    let (_, product) =
        replay.call("GET", &format!("/wp-json/wc/v3/products/{mug}"), &[], None, Some((KEY, SECRET))).await;
    assert_eq!(product["stock_quantity"], 6, "8, less 3 ordered, plus 1 restocked");

    let path = replay.map_path("/wp-json/wc/v3/orders/1392");
    let (_, after) = replay.call("GET", &path, &[], None, Some((KEY, SECRET))).await;
    same("orders-get-after-line-refund.json", &after, &["status", "total"]);
    let want = &load("orders-get-after-line-refund.json")["response"]["body"];
    assert_eq!(after["line_items"][0]["quantity"], want["line_items"][0]["quantity"], "the line keeps its quantity");
    assert_eq!(after["refunds"][0]["total"], want["refunds"][0]["total"]);
    let restocked: Vec<&Value> = after["line_items"][0]["meta_data"]
        .as_array()
        .expect("meta")
        .iter()
        .filter(|m| m["key"] == "_restock_refunded_items")
        .collect();
    assert_eq!(restocked.len(), 1);
    assert_eq!(restocked[0]["value"], "1");
}
