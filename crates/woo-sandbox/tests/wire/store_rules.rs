//! WooCommerce's rules and side effects as the sandbox keeps them: stock on paid and cancelled orders, SKU
//! uniqueness, per_page bounds, the batch limit, and persistence across a restart.

use cpbridge_woo::{BatchWrite, OrderWrite, ProductWrite};
use serde_json::json;

use crate::{client, sandbox_config, spawn};

fn simple(sku: &str, stock: i64) -> ProductWrite {
    ProductWrite {
        name: Some(sku.to_owned()),
        sku: Some(sku.into()),
        regular_price: Some("4.00".into()),
        manage_stock: Some(true),
        stock_quantity: Some(stock),
        ..ProductWrite::default()
    }
}

#[tokio::test]
async fn paid_orders_reduce_stock_and_cancelling_restores_it() {
    let store = spawn(sandbox_config()).await;
    let client = client(&store.base);
    let product = client.create_product(&simple("STOCK-1", 10)).await.expect("product");
    let line = |q| cpbridge_woo::LineItemWrite { product_id: Some(product.id), quantity: q, ..Default::default() };

    let pending =
        client.create_order(&OrderWrite { line_items: vec![line(4)], ..OrderWrite::default() }).await.expect("o");
    assert_eq!(client.product(product.id).await.expect("p").stock_quantity, Some(10), "pending does not reduce");

    let paid = client
        .create_order(&OrderWrite { set_paid: Some(true), line_items: vec![line(3)], ..OrderWrite::default() })
        .await
        .expect("paid");
    assert_eq!(paid.status.as_str(), "processing");
    assert!(paid.date_paid_gmt.is_some());
    assert_eq!(client.product(product.id).await.expect("p").stock_quantity, Some(7));

    let processing = OrderWrite { status: Some("processing".into()), ..OrderWrite::default() };
    client.update_order(pending.id, &processing).await.expect("to processing");
    assert_eq!(client.product(product.id).await.expect("p").stock_quantity, Some(3));

    let cancel = OrderWrite { status: Some("cancelled".into()), ..OrderWrite::default() };
    client.update_order(paid.id, &cancel).await.expect("cancel");
    client.update_order(paid.id, &cancel).await.expect("cancel twice restores once");
    let restored = client.product(product.id).await.expect("p");
    assert_eq!(restored.stock_quantity, Some(6));

    let oversell = OrderWrite { set_paid: Some(true), line_items: vec![line(9)], ..OrderWrite::default() };
    client.create_order(&oversell).await.expect("oversell");
    let sold_out = client.product(product.id).await.expect("p");
    assert_eq!((sold_out.stock_quantity, sold_out.stock_status.as_str()), (Some(-3), "outofstock"));

    let notes = client.order_notes(paid.id).await.expect("notes");
    assert!(notes.iter().any(|n| n.note == "Order status changed from Processing to Cancelled."), "{notes:?}");
}

#[tokio::test]
async fn skus_are_unique_and_limits_are_enforced() {
    let store = spawn(sandbox_config()).await;
    let client = client(&store.base);
    let first = client.create_product(&simple("UNIQ-1", 1)).await.expect("first");
    let error = client.create_product(&simple("UNIQ-1", 1)).await.expect_err("duplicate");
    assert_eq!(error.code(), Some("product_invalid_sku"));
    assert_eq!(error.body().and_then(|b| b.resource_id()), Some(first.id));

    let error =
        client.get::<serde_json::Value>("/products", &[("per_page".into(), "101".into())]).await.expect_err("101");
    assert_eq!((error.status(), error.code()), (Some(400), Some("rest_invalid_param")));

    let too_many: Vec<ProductWrite> = (0..101).map(|_| ProductWrite::stock(first.id, 1)).collect();
    let error = client
        .send::<_, serde_json::Value>(
            reqwest::Method::POST,
            "/products/batch",
            &BatchWrite { update: too_many, ..BatchWrite::<ProductWrite>::default() },
            cpbridge_woo::Replay::Safe,
        )
        .await
        .expect_err("413");
    assert_eq!((error.status(), error.code()), (Some(413), Some("woocommerce_rest_request_entity_too_large")));

    let unmanaged = ProductWrite { manage_stock: Some(false), ..simple("UNMANAGED", 0) };
    let product = client.create_product(&unmanaged).await.expect("unmanaged");
    assert_eq!((product.stock_quantity, product.stock_status.as_str()), (None, "instock"));
    let backorder = ProductWrite { backorders: Some("notify".into()), ..simple("BACKORDER", 0) };
    let product = client.create_product(&backorder).await.expect("backorderable");
    assert_eq!(product.stock_status, "onbackorder");
    assert_eq!(product.extra.get("backorders_allowed"), Some(&json!(true)));
}

#[tokio::test]
async fn the_store_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = sandbox_config();
    config.data_dir = Some(dir.path().to_path_buf());
    let store = spawn(config.clone()).await;
    let id = client(&store.base).create_product(&simple("KEEP-1", 4)).await.expect("create").id;
    store.stop().await;

    let again = spawn(config).await;
    let product = client(&again.base).product(id).await.expect("still there");
    assert_eq!((product.sku.as_str(), product.stock_quantity), ("KEEP-1", Some(4)));
    let next = client(&again.base).create_product(&simple("KEEP-2", 1)).await.expect("create");
    assert!(next.id > id, "ids keep counting after a restart");
}
