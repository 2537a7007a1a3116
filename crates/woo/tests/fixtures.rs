//! Every captured WooCommerce exchange in `fixtures/woocommerce/` parses into the typed records and serializes
//! back to the same JSON (nothing lost), and every signed webhook verifies with the secret its file names.

use std::path::PathBuf;

use cpbridge_woo::webhook::{self, Delivery};
use cpbridge_woo::{
    BatchResponse, BatchWrite, Customer, CustomerWrite, ErrorBody, Order, OrderNote, OrderWrite, Product, ProductWrite,
    Refund, RefundWrite, Variation, Webhook,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/woocommerce")
}

fn fixtures() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(fixture_dir())
        .expect("fixture directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let text = std::fs::read_to_string(&p).expect("readable fixture");
            (name, serde_json::from_str(&text).expect("fixture is JSON"))
        })
        .collect()
}

/// Parses `value` as `T` and checks that it serializes back to the same JSON.
fn round_trip<T: DeserializeOwned + Serialize>(file: &str, what: &str, value: &Value) -> T {
    let parsed: T = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{file}: {what}: {e}"));
    let back = serde_json::to_value(&parsed).expect("serializes");
    assert_eq!(&back, value, "{file}: {what} changed on a round trip");
    parsed
}

fn check_response(file: &str, method: &str, path: &str, status: u64, body: &Value) {
    let segments: Vec<&str> = path.trim_start_matches("/wp-json/wc/v3/").split('/').collect();
    if status >= 400 {
        let error: ErrorBody = round_trip(file, "error body", body);
        assert_eq!(error.status().map(u64::from), Some(status), "{file}: data.status");
        return;
    }
    match (method, segments.as_slice()) {
        ("GET", ["products"]) => {
            round_trip::<Vec<Product>>(file, "product list", body);
        }
        ("POST", ["products", "batch"]) => {
            round_trip::<BatchResponse<Product>>(file, "product batch", body);
        }
        ("GET" | "POST", ["products", _]) | ("POST", ["products"]) => {
            round_trip::<Product>(file, "product", body);
        }
        ("GET", ["products", _, "variations"]) => {
            round_trip::<Vec<Variation>>(file, "variation list", body);
        }
        ("POST", ["products", _, "variations", "batch"]) => {
            round_trip::<BatchResponse<Variation>>(file, "variation batch", body);
        }
        ("GET", ["customers"]) => {
            round_trip::<Vec<Customer>>(file, "customer list", body);
        }
        (_, ["customers", ..]) => {
            round_trip::<Customer>(file, "customer", body);
        }
        ("GET", ["orders"]) => {
            round_trip::<Vec<Order>>(file, "order list", body);
        }
        ("GET", ["orders", _, "notes"]) => {
            round_trip::<Vec<OrderNote>>(file, "note list", body);
        }
        ("POST", ["orders", _, "notes"]) => {
            round_trip::<OrderNote>(file, "note", body);
        }
        ("POST", ["orders", _, "refunds"]) => {
            round_trip::<Refund>(file, "refund", body);
        }
        (_, ["orders", ..]) => {
            round_trip::<Order>(file, "order", body);
        }
        ("GET", ["webhooks", _]) => {
            let hook: Webhook = round_trip(file, "webhook", body);
            assert!(hook.extra.get("secret").is_none(), "{file}: WooCommerce does not show a webhook's secret");
        }
        other => panic!("{file}: no model for {other:?}"),
    }
}

fn check_request(file: &str, method: &str, path: &str, body: &Value) {
    if body.is_null() {
        return;
    }
    let segments: Vec<&str> = path.trim_start_matches("/wp-json/wc/v3/").split('/').collect();
    match (method, segments.last().copied().unwrap_or_default()) {
        ("POST", "batch") => {
            round_trip::<BatchWrite<ProductWrite>>(file, "batch request", body);
        }
        (_, "notes") => {}
        (_, "refunds") => {
            round_trip::<RefundWrite>(file, "refund request", body);
        }
        _ if segments[0] == "products" => {
            round_trip::<ProductWrite>(file, "product request", body);
        }
        _ if segments[0] == "customers" => {
            round_trip::<CustomerWrite>(file, "customer request", body);
        }
        _ if segments[0] == "orders" => {
            round_trip::<OrderWrite>(file, "order request", body);
        }
        other => panic!("{file}: no request model for {other:?}"),
    }
}

#[test]
fn every_exchange_parses_without_loss() {
    let mut exchanges = 0;
    for (file, fixture) in fixtures() {
        let Some(request) = fixture.get("request") else { continue };
        let method = request["method"].as_str().expect("method");
        let path = request["path"].as_str().expect("path");
        let status = fixture["response"]["status"].as_u64().expect("status");
        check_response(&file, method, path, status, &fixture["response"]["body"]);
        check_request(&file, method, path, &request["body"]);
        exchanges += 1;
    }
    assert_eq!(exchanges, 43, "every exchange in the README tables is checked");
}

#[test]
fn typed_fields_hold_the_values_woocommerce_sent() {
    let fixtures = fixtures();
    let body = |name: &str| fixtures.iter().find(|(f, _)| f == name).map(|(_, v)| v["response"]["body"].clone());
    let order: Order = serde_json::from_value(body("orders-create-paid.json").expect("fixture")).expect("order");
    assert_eq!(order.id.get(), 57);
    assert_eq!(order.total.map(|d| d.to_string()), Some("102.00".into()));
    assert_eq!(order.line_items.len(), 3);
    let subtotal: rust_decimal::Decimal = order.line_items.iter().filter_map(|l| l.subtotal).sum();
    assert_eq!(subtotal.to_string(), "91.97");
    assert_eq!(order.line_items[2].variation_id, 50);
    assert_eq!(order.coupon_lines[0].discount.map(|d| d.to_string()), Some("9.2".into()));
    assert_eq!(order.transaction_id, "TX-123");
    assert!(order.status.is_paid_like());

    let unmanaged: Product = serde_json::from_value(body("products-get-unmanaged.json").expect("fixture")).expect("p");
    assert!(!unmanaged.manage_stock.is_own());
    assert_eq!(unmanaged.stock_quantity, None);

    let batch: BatchResponse<Product> =
        serde_json::from_value(body("products-batch-stock-partial-failure.json").expect("fixture")).expect("batch");
    let failed: Vec<_> = batch
        .update
        .iter()
        .filter_map(|item| match item {
            cpbridge_woo::BatchItem::Failed { id, error } => Some((*id, error.code.clone())),
            cpbridge_woo::BatchItem::Done(_) => None,
        })
        .collect();
    assert_eq!(failed, vec![(Some(99_999_999), "woocommerce_rest_product_invalid_id".to_owned())]);
}

#[test]
fn signed_webhooks_verify_and_the_ping_is_recognised() {
    let mut signed = 0;
    for (file, fixture) in fixtures() {
        if !file.starts_with("webhook-") {
            continue;
        }
        let raw = fixture["raw_body"].as_str().expect("raw_body").as_bytes();
        let mut headers = http::HeaderMap::new();
        for (name, value) in fixture["headers"].as_object().expect("headers") {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                http::HeaderValue::from_str(value.as_str().expect("header value")).expect("header value"),
            );
        }
        match fixture["secret"].as_str() {
            Some(secret) => {
                let delivery = webhook::classify(&headers, raw, secret).unwrap_or_else(|e| panic!("{file}: {e}"));
                let Delivery::Event { topic, .. } = delivery else { panic!("{file}: not an event") };
                assert!(webhook::classify(&headers, raw, "wrongsecret").is_err(), "{file}: wrong secret accepted");
                let mut altered = raw.to_vec();
                altered[1] ^= 1;
                assert!(webhook::classify(&headers, &altered, secret).is_err(), "{file}: altered body accepted");
                let body: Value = serde_json::from_slice(raw).expect("JSON body");
                match topic.split('.').next() {
                    Some("order") => drop(round_trip::<Order>(&file, "webhook order", &body)),
                    Some("product") => drop(round_trip::<Product>(&file, "webhook product", &body)),
                    Some("customer") => drop(round_trip::<Customer>(&file, "webhook customer", &body)),
                    other => panic!("{file}: unexpected topic {other:?}"),
                }
                signed += 1;
            }
            None => {
                assert_eq!(webhook::classify(&headers, raw, "testsecret"), Ok(Delivery::Ping { webhook_id: 4 }));
            }
        }
    }
    assert_eq!(signed, 4);
}
