//! `cpbridge sandbox` as an operator runs it: it prints its address and generated keys, serves WooCommerce's API
//! over loopback, keeps its data across a restart with `--data`, and stops on SIGTERM.

use cpbridge_woo::{Credentials, ProductWrite, WooClient, WooConfig};

use crate::start_sandbox as start;

#[tokio::test]
async fn the_sandbox_prints_generated_keys_serves_and_persists() {
    let data = tempfile::tempdir().expect("tempdir");
    let data_arg = data.path().to_str().expect("utf-8 path").to_owned();
    let first = start(&["--data", &data_arg]);
    assert!(first.key.starts_with("ck_") && first.key.len() == 43, "{}", first.key);
    assert!(first.secret.starts_with("cs_") && first.secret.len() == 43);

    let client =
        WooClient::new(WooConfig::new(&first.base, Credentials::new(&first.key, &first.secret))).expect("client");
    let product = client
        .create_product(&ProductWrite {
            name: Some("Stapler".into()),
            sku: Some("BLACKBOX-1".into()),
            regular_price: Some("12.50".into()),
            manage_stock: Some(true),
            stock_quantity: Some(3),
            ..ProductWrite::default()
        })
        .await
        .expect("create over OAuth");
    let (key, secret) = (first.key.clone(), first.secret.clone());
    drop(first);

    let second = start(&["--data", &data_arg, "--consumer-key", &key, "--consumer-secret", &secret]);
    assert!(second.key.is_empty(), "given keys are not printed");
    let client = WooClient::new(WooConfig::new(&second.base, Credentials::new(&key, &secret))).expect("client");
    let again = client.product(product.id).await.expect("kept across the restart");
    assert_eq!((again.sku.as_str(), again.stock_quantity), ("BLACKBOX-1", Some(3)));
}

#[test]
fn half_a_key_pair_is_refused() {
    let output = crate::cpbridge(&["sandbox", "--port", "0", "--consumer-key", "ck_only"]);
    assert!(!output.status.success());
    assert!(crate::stderr(&output).contains("--consumer-secret"), "{}", crate::stderr(&output));
}
