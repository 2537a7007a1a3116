//! The client's paging, batching, authentication, retries and webhook verification, against the sandbox.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cpbridge_woo::webhook::{self, Delivery};
use cpbridge_woo::{
    AuthMode, BatchWrite, Credentials, Order, OrderWrite, ProductWrite, WebhookWrite, WooClient, WooConfig,
};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use crate::{client, sandbox_config, spawn};

fn new_product(sku: &str, stock: i64) -> ProductWrite {
    ProductWrite {
        name: Some(format!("Item {sku}")),
        sku: Some(sku.into()),
        regular_price: Some("9.99".into()),
        manage_stock: Some(true),
        stock_quantity: Some(stock),
        ..ProductWrite::default()
    }
}

async fn create_products(client: &WooClient, prefix: &str, count: usize) -> Vec<u64> {
    let creates: Vec<ProductWrite> = (0..count).map(|n| new_product(&format!("{prefix}-{n:05}"), 5)).collect();
    let outcome = client.batch_products(BatchWrite { create: creates, ..BatchWrite::default() }).await.expect("batch");
    assert_eq!(outcome.failures().count(), 0, "{:?}", outcome.failures().collect::<Vec<_>>());
    outcome.created.into_iter().map(|r| r.expect("created").id).collect()
}

async fn stats(base: &str) -> Value {
    reqwest::get(format!("{base}/__sandbox/stats")).await.expect("stats").json().await.expect("stats json")
}

#[tokio::test]
async fn a_listing_of_1000_products_streams_through_every_page() {
    let store = spawn(sandbox_config()).await;
    let client = client(&store.base);
    let ids = create_products(&client, "PAGE", 1000).await;
    assert_eq!(ids.len(), 1000);
    let before = client.stats().requests;

    let listed: Vec<_> = client
        .products(vec![("orderby".into(), "id".into()), ("order".into(), "asc".into())])
        .try_collect()
        .await
        .expect("listing");
    assert_eq!(listed.len(), 1000);
    let unique: HashSet<u64> = listed.iter().map(|p| p.id).collect();
    assert_eq!(unique.len(), 1000, "no product twice");
    assert_eq!(client.stats().requests - before, 10, "100 per page, 10 pages, no extra request");
    assert_eq!(stats(&store.base).await["requests"]["GET /products"], json!(10));
}

#[tokio::test]
async fn a_batch_of_250_stock_updates_is_sent_as_3_requests() {
    let store = spawn(sandbox_config()).await;
    let client = client(&store.base);
    let ids = create_products(&client, "STK", 250).await;
    let updates: Vec<ProductWrite> =
        ids.iter().enumerate().map(|(n, id)| ProductWrite::stock(*id, 1000 + n as i64)).collect();
    let before = stats(&store.base).await["requests"]["POST /products/batch"].as_u64().unwrap_or(0);

    let outcome = client.batch_products(BatchWrite { update: updates, ..BatchWrite::default() }).await.expect("batch");
    assert_eq!(outcome.requests, 3);
    assert_eq!(outcome.updated.len(), 250);
    assert_eq!(outcome.failures().count(), 0);
    let after = stats(&store.base).await["requests"]["POST /products/batch"].as_u64().unwrap_or(0);
    assert_eq!(after - before, 3);

    let listed: Vec<_> = client.products(vec![("sku".into(), "STK-00249".into())]).try_collect().await.expect("by sku");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].stock_quantity, Some(1249));
}

#[tokio::test]
async fn a_partial_batch_failure_is_reported_for_its_item() {
    let store = spawn(sandbox_config()).await;
    let client = client(&store.base);
    let ids = create_products(&client, "PART", 4).await;
    let mut updates: Vec<ProductWrite> = ids.iter().map(|id| ProductWrite::stock(*id, 7)).collect();
    updates.insert(2, ProductWrite::stock(99_999_999, 1));

    let outcome = client.batch_products(BatchWrite { update: updates, ..BatchWrite::default() }).await.expect("batch");
    let failures: Vec<_> = outcome.failures().collect();
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].index, failures[0].id), (2, Some(99_999_999)));
    assert_eq!(failures[0].code, "woocommerce_rest_product_invalid_id");
    assert_eq!(outcome.updated.iter().filter(|r| r.as_ref().is_ok_and(|p| p.stock_quantity == Some(7))).count(), 4);
    assert!(failures[0].to_string().contains("id 99999999"), "{}", failures[0]);

    let duplicate = BatchWrite { create: vec![new_product("PART-00000", 1)], ..BatchWrite::default() };
    let outcome = client.batch_products(duplicate).await.expect("batch");
    let failure = outcome.failures().next().expect("a duplicate SKU fails");
    assert_eq!((failure.sku.as_deref(), failure.existing_id), (Some("PART-00000"), Some(ids[0])));
    assert!(failure.to_string().contains("SKU PART-00000"), "{failure}");
}

#[tokio::test]
async fn oauth_signatures_are_verified_and_basic_is_refused_over_plain_http() {
    let store = spawn(sandbox_config()).await;
    let good = client(&store.base);
    assert_eq!(good.auth_mode(), AuthMode::OAuth1);
    create_products(&good, "AUTH", 3).await;
    // A query value with reserved characters exercises WooCommerce's signature encoding.
    let query =
        vec![("modified_after".to_owned(), "2020-01-01T00:00:00".to_owned()), ("orderby".into(), "modified".into())];
    let listed: Vec<_> = good.products(query).try_collect().await.expect("signed listing");
    assert_eq!(listed.len(), 3);

    let mut config = WooConfig::new(&store.base, Credentials::new(crate::KEY, "cs_wrong"));
    config.retry = cpbridge_woo::RetryPolicy::none();
    let wrong = WooClient::new(config).expect("client");
    let error = wrong.product(listed[0].id).await.expect_err("wrong secret refused");
    assert_eq!((error.status(), error.code()), (Some(401), Some("woocommerce_rest_authentication_error")));

    let mut config = WooConfig::new(&store.base, Credentials::new(crate::KEY, crate::SECRET));
    config.auth = AuthMode::Basic;
    let basic = WooClient::new(config).expect("client");
    let error = basic.product(listed[0].id).await.expect_err("basic over http refused");
    assert_eq!((error.status(), error.code()), (Some(401), Some("woocommerce_rest_cannot_view")));

    let mut tls = sandbox_config();
    tls.behind_tls = true;
    let behind_tls = spawn(tls).await;
    let mut config = WooConfig::new(&behind_tls.base, Credentials::new(crate::KEY, crate::SECRET));
    config.auth = AuthMode::Basic;
    let basic = WooClient::new(config).expect("client");
    create_products(&basic, "TLS", 1).await;
    let error = client(&behind_tls.base).product(1).await.expect_err("oauth is not used behind TLS");
    assert_eq!(error.status(), Some(401));
}

#[tokio::test]
async fn under_injected_5xx_429_and_drops_every_write_lands_exactly_once() {
    let mut config = sandbox_config();
    config.faults = cpbridge_woo_sandbox::FaultConfig {
        error_rate: 0.2,
        throttle_rate: 0.1,
        drop_rate: 0.05,
        seed: 7,
        ..Default::default()
    };
    let store = spawn(config).await;
    let client = client(&store.base);

    let mut ids = Vec::new();
    for n in 0..30 {
        let product = client.create_product(&new_product(&format!("FAULT-{n:02}"), 1)).await.expect("create lands");
        ids.push(product.id);
    }
    for (n, id) in ids.iter().enumerate() {
        client.update_product(*id, &ProductWrite::stock(*id, 100 + n as i64)).await.expect("update lands");
    }
    let updates: Vec<ProductWrite> = ids.iter().map(|id| ProductWrite::stock(*id, 500)).collect();
    let outcome = client.batch_products(BatchWrite { update: updates, ..BatchWrite::default() }).await.expect("batch");
    assert_eq!(outcome.failures().count(), 0);

    let faults = stats(&store.base).await["faults"].clone();
    let injected: u64 = faults.as_object().map(|m| m.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
    assert!(injected >= 10, "faults were injected: {faults}");
    assert!(client.stats().retries >= 10);

    let listed: Vec<_> = client.products(vec![("search".into(), "FAULT".into())]).try_collect().await.expect("list");
    assert_eq!(listed.len(), 30, "each create landed once");
    assert!(listed.iter().all(|p| p.stock_quantity == Some(500)));
}

#[tokio::test]
async fn queued_faults_are_retried_and_a_replayed_create_is_not_doubled() {
    let store = spawn(sandbox_config()).await;
    let client = client(&store.base);
    let http = reqwest::Client::new();
    let queue = |kinds: Value| {
        let http = http.clone();
        let url = format!("{}/__sandbox/faults/next", store.base);
        async move { http.post(url).json(&kinds).send().await.expect("queue faults") }
    };
    queue(json!(["server_error", "throttle", "drop", "bad_gateway"])).await;
    let product = client.create_product(&new_product("ONCE-1", 3)).await.expect("create after 4 faults");
    assert_eq!(client.stats().retries, 4);

    // The create lands but its answer is lost: the replay meets its own SKU and returns the first product.
    queue(json!(["lost_reply"])).await;
    let replayed = client.create_product(&new_product("ONCE-2", 3)).await.expect("create with a lost reply");
    for sku in ["ONCE-1", "ONCE-2"] {
        let found: Vec<_> = client.products(vec![("sku".into(), sku.into())]).try_collect().await.expect("list");
        assert_eq!(found.len(), 1, "{sku} exists once");
    }
    assert_eq!(client.product_by_sku("ONCE-2").await.expect("lookup").map(|p| p.id), Some(replayed.id));
    let error = client.create_product(&new_product("ONCE-2", 3)).await.expect_err("a first-attempt duplicate");
    assert_eq!(error.code(), Some("product_invalid_sku"));
    assert!(error.to_string().contains("SKU ONCE-2"), "the message names the SKU: {error}");

    // A 404 is the request's own fault: no retry.
    let before = client.stats().requests;
    let error = client.product(99_999_999).await.expect_err("missing");
    assert!(error.is_not_found());
    assert_eq!(client.stats().requests - before, 1);

    // Order creates are not resent after an ambiguous 500, but are after a 503.
    queue(json!(["server_error"])).await;
    let line = cpbridge_woo::LineItemWrite { product_id: Some(product.id), quantity: 1, ..Default::default() };
    let order = OrderWrite { line_items: vec![line], ..OrderWrite::default() };
    assert_eq!(client.create_order(&order).await.expect_err("500 not replayed").status(), Some(500));
    queue(json!(["unavailable"])).await;
    let created: Order = client.create_order(&order).await.expect("503 replayed");
    let orders: Vec<Order> = client.orders(vec![("status".into(), "any".into())]).try_collect().await.expect("orders");
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].id, created.id);

    // A note whose answer is lost is found, not sent again; one refused by a 500 is sent again once.
    queue(json!(["lost_reply"])).await;
    client.add_order_note(created.id, "Counterpoint ticket WEB-000001", false).await.expect("note, reply lost");
    queue(json!(["server_error"])).await;
    client.add_order_note(created.id, "Counterpoint ticket WEB-000002", false).await.expect("note after a 500");
    let notes = client.order_notes(created.id).await.expect("notes");
    for text in ["Counterpoint ticket WEB-000001", "Counterpoint ticket WEB-000002"] {
        assert_eq!(notes.iter().filter(|n| n.note == text).count(), 1, "{text} once: {notes:?}");
    }
}

pub type Received = Arc<Mutex<Vec<(http::HeaderMap, Vec<u8>)>>>;

pub async fn receiver() -> (String, Received) {
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                store.lock().expect("lock").push((headers, body.to_vec()));
                http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().expect("addr").port());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

pub async fn wait_for(received: &Received, count: usize) -> Vec<(http::HeaderMap, Vec<u8>)> {
    for _ in 0..100 {
        let got = received.lock().expect("lock").clone();
        if got.len() >= count {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    received.lock().expect("lock").clone()
}

#[tokio::test]
async fn webhooks_arrive_signed_and_the_ping_unsigned() {
    let store = spawn(sandbox_config()).await;
    let client = client(&store.base);
    let (url, received) = receiver().await;
    let hook = client
        .create_webhook(&WebhookWrite {
            topic: "order.created".into(),
            delivery_url: url,
            secret: Some("hooksecret".into()),
            ..WebhookWrite::default()
        })
        .await
        .expect("webhook");
    let product = client.create_product(&new_product("HOOK-1", 5)).await.expect("product");
    let line = cpbridge_woo::LineItemWrite { product_id: Some(product.id), quantity: 2, ..Default::default() };
    let order = client
        .create_order(&OrderWrite { set_paid: Some(true), line_items: vec![line], ..OrderWrite::default() })
        .await
        .expect("order");

    let got = wait_for(&received, 2).await;
    assert_eq!(got.len(), 2, "ping and order.created");
    assert_eq!(webhook::classify(&got[0].0, &got[0].1, "hooksecret"), Ok(Delivery::Ping { webhook_id: hook.id }));
    let Ok(Delivery::Event { topic, webhook_id, delivery_id }) = webhook::classify(&got[1].0, &got[1].1, "hooksecret")
    else {
        panic!("the order.created delivery verifies");
    };
    assert_eq!((topic.as_str(), webhook_id), ("order.created", Some(hook.id)));
    assert_eq!(delivery_id.map(|d| d.len()), Some(32));
    assert!(webhook::classify(&got[1].0, &got[1].1, "othersecret").is_err());
    let delivered: Order = serde_json::from_slice(&got[1].1).expect("order body");
    assert_eq!(delivered.id, order.id);
    assert_eq!(
        got[1].0.get("user-agent").and_then(|v| v.to_str().ok()),
        Some("WooCommerce/11.0.1 Hookshot (WordPress/7.1)")
    );
}

#[tokio::test]
async fn oauth_parameters_in_an_authorization_header_verify_too() {
    let store = spawn(sandbox_config()).await;
    let url = format!("{}/wp-json/wc/v3/products", store.base);
    let query = vec![("per_page".to_owned(), "5".to_owned())];
    let header = |secret: &str, nonce: &str| {
        let credentials = Credentials::new(crate::KEY, secret);
        let signed =
            cpbridge_woo::auth::oauth_params("GET", &url, &query, &credentials, chrono::Utc::now().timestamp(), nonce);
        let fields: Vec<String> =
            signed.iter().map(|(k, v)| format!("{k}=\"{}\"", cpbridge_woo::auth::rfc3986(v))).collect();
        format!("OAuth {}", fields.join(", "))
    };
    let http = reqwest::Client::new();
    let ok =
        http.get(&url).query(&query).header("Authorization", header(crate::SECRET, "n1")).send().await.expect("answer");
    assert_eq!(ok.status(), 200);
    let replayed =
        http.get(&url).query(&query).header("Authorization", header(crate::SECRET, "n1")).send().await.expect("answer");
    assert_eq!(replayed.status(), 401, "a reused nonce is refused");
    let wrong =
        http.get(&url).query(&query).header("Authorization", header("cs_wrong", "n2")).send().await.expect("answer");
    assert_eq!(wrong.status(), 401);
}
