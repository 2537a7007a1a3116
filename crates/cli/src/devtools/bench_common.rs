//! What the benches share: the sandbox as a child process and its request counts, stocking and ordering sample
//! products, percentiles.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;
use cpbridge_woo::WooClient;
use cpbridge_woo::model::{BatchWrite, LineItemWrite, OrderWrite, ProductWrite};

/// Creates a product for each SKU with stock that no bench runs out of, so the store never refuses an order.
///
/// # Errors
/// When WooCommerce refuses the batch.
pub(crate) async fn stock_products(woo: &WooClient, skus: &[String]) -> anyhow::Result<()> {
    if skus.is_empty() {
        return Ok(());
    }
    let mut write = BatchWrite::default();
    for sku in skus {
        write.create.push(ProductWrite {
            name: Some(format!("Item {sku}")),
            sku: Some(sku.clone().into()),
            regular_price: Some("19.99".into()),
            manage_stock: Some(true),
            stock_quantity: Some(1_000_000),
            ..ProductWrite::default()
        });
    }
    let outcome = woo.batch_products(write).await?;
    let refused = outcome.failures().count();
    anyhow::ensure!(refused == 0, "the store refused {refused} of the bench's {} products", skus.len());
    Ok(())
}

/// Paid order `n` of a bench: one to three lines of `skus`, paid by card.
pub(crate) fn sample_order(skus: &[String], n: usize) -> OrderWrite {
    let lines = (0..=(n % 3))
        .map(|k| LineItemWrite {
            sku: Some(skus[(n * 7 + k) % skus.len()].clone().into()),
            quantity: 1 + i64::try_from(k).unwrap_or(0),
            ..LineItemWrite::default()
        })
        .collect();
    OrderWrite {
        status: Some("processing".into()),
        set_paid: Some(true),
        payment_method: Some("stripe".into()),
        transaction_id: Some(format!("ch_{n}")),
        line_items: lines,
        ..OrderWrite::default()
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The sandbox child, killed when dropped.
pub(crate) struct SandboxChild {
    child: Child,
    pub(crate) base: String,
}

impl Drop for SandboxChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_sandbox() -> anyhow::Result<SandboxChild> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["sandbox", "--port", "0", "--consumer-key", "ck_bench", "--consumer-secret", "cs_bench"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the sandbox")?;
    let stdout = child.stdout.take().context("sandbox output")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut base = String::new();
    for _ in 0..10 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(url) = line.strip_prefix("sandbox listening on ") {
            base = url.trim().to_owned();
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    anyhow::ensure!(base.starts_with("http://"), "the sandbox did not print its address");
    Ok(SandboxChild { child, base })
}

/// Requests the sandbox has served so far, per route (`GET /orders`).
pub(crate) async fn sandbox_routes(base: &str) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let stats: serde_json::Value = reqwest::get(format!("{base}/__sandbox/stats")).await?.json().await?;
    Ok(serde_json::from_value(stats["requests"].clone())?)
}

/// Requests the sandbox has served so far: `(all, writes)`.
pub(crate) async fn sandbox_requests(base: &str) -> anyhow::Result<(u64, u64)> {
    let counts = sandbox_routes(base).await?;
    let all = counts.values().sum();
    let writes = counts.iter().filter(|(route, _)| !route.starts_with("GET ")).map(|(_, n)| n).sum();
    Ok((all, writes))
}
