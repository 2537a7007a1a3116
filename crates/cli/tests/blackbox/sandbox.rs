//! `cpbridge sandbox` as an operator runs it: it prints its address and generated keys, serves WooCommerce's API
//! over loopback, keeps its data across a restart with `--data`, and stops on SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use cpbridge_woo::{Credentials, ProductWrite, WooClient, WooConfig};

struct Running {
    child: Child,
    base: String,
    key: String,
    secret: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cpbridge"))
        .args(["sandbox", "--port", "0"])
        .args(extra)
        .env_remove("CPBRIDGE_SANDBOX_KEY")
        .env_remove("CPBRIDGE_SANDBOX_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cpbridge sandbox starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut base, mut key, mut secret) = (String::new(), String::new(), String::new());
    // The banner is three to four lines; read at most ten.
    for _ in 0..10 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(url) = line.strip_prefix("sandbox listening on ") {
            base = url.trim().to_owned();
        } else if let Some(k) = line.strip_prefix("consumer key:") {
            key = k.trim().to_owned();
        } else if let Some(s) = line.strip_prefix("consumer secret:") {
            secret = s.trim().to_owned();
        } else if line.starts_with("auth:") {
            break;
        }
    }
    assert!(base.starts_with("http://127.0.0.1:"), "banner names the address: {base:?}");
    Running { child, base, key, secret }
}

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
