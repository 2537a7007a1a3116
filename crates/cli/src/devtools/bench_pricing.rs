//! `cpbridge bench pricing`: the pricing API under load over loopback, with a big catalogue and many rules.
//!
//! The replica is seeded by a child process; the price book is loaded; the API is served on 127.0.0.1; then a fixed
//! number of clients send single-item GETs and 20-item POSTs, each for a few seconds, and the requests per second
//! and the latency percentiles are printed per client count.

use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::devtools::bench_common::percentile;
use cpbridge::app::App;
use cpbridge::config::Config;

#[derive(Debug, Args)]
pub struct BenchPricing {
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    #[arg(long, default_value_t = 5_000)]
    customers: usize,
    #[arg(long, default_value_t = 2_000)]
    rules: usize,
    /// Seconds of load per client count and request shape.
    #[arg(long, default_value_t = 4.0)]
    secs: f64,
}

const KEY: &str = "bench-pricing-key-0123456789";

pub async fn run(args: BenchPricing) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let replica = dir.path().join("cp.db");
    let seeded = Command::new(std::env::current_exe()?)
        .args(["cp", "seed", "--db", &format!("sqlite:{}", replica.display())])
        .args(["--items", &args.items.to_string(), "--customers", &args.customers.to_string()])
        .args(["--rules", &args.rules.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("seeding the replica")?;
    anyhow::ensure!(seeded.success(), "cp seed failed");
    let config_text = format!(
        "[counterpoint]\nurl = \"sqlite:{}\"\n[woocommerce]\nurl = \"http://127.0.0.1:9\"\nconsumer_key = \"ck\"\n\
         consumer_secret = \"cs\"\nwebhook_secret = \"unused\"\n[state]\npath = \"{}\"\n[pricing]\napi_keys = [\"{KEY}\"]\n",
        replica.display(),
        dir.path().join("state.db").display()
    );
    let config_path = dir.path().join("cpbridge.toml");
    std::fs::write(&config_path, config_text)?;
    let app = App::build(Config::load(&config_path)?).await?;
    let loading = Instant::now();
    app.pricing.refresh().await?;
    let book = app.pricing.book();
    let (items, customers) = book.counts();
    println!(
        "price book: {items} items, {customers} customers, {} rules unreadable; loaded in {:.1} s",
        book.problems().len(),
        loading.elapsed().as_secs_f64()
    );

    // Only the API: the server with the pricing routes, no jobs.
    let state = cpbridge_server::AppState {
        pricing: Some(cpbridge_server::Pricing {
            source: app.pricing.clone(),
            keys: app.config.pricing.api_keys.clone(),
            currency: "USD".into(),
            requests_per_minute: 0,
            windows: Arc::default(),
        }),
        alerts: None,
        signatures: Arc::new(cpbridge_server::SignatureWatch::new(10)),
        status: None,
        store: app.store.clone(),
        webhook_secret: app.config.woocommerce.webhook_secret.clone(),
        delivered: Arc::new(Notify::new()),
    };
    let server = cpbridge_server::Server::build(SocketAddr::from(([127, 0, 0, 1], 0)), state).await?;
    let base = format!("http://{}", server.local_addr()?);
    let stop = CancellationToken::new();
    let serving = tokio::spawn(server.run_until_stopped({
        let stop = stop.clone();
        async move { stop.cancelled().await }
    }));
    let skus: Arc<Vec<String>> = Arc::new(sqlx_skus(&replica).await?.into_iter().collect());
    let custs: Arc<Vec<String>> = Arc::new(sqlx_customers(&replica).await?);
    println!("load over loopback ({} s each); the clients share the machine with the server:", args.secs);
    for clients in [1, 4, 16] {
        for batch in [1usize, 20] {
            let (rps, mut ms) = load(&base, clients, batch, &skus, &custs, Duration::from_secs_f64(args.secs)).await;
            ms.sort_by(f64::total_cmp);
            println!(
                "  {clients:>2} clients, {batch:>2}-item requests: {rps:>7.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                percentile(&ms, 0.50),
                percentile(&ms, 0.99),
                percentile(&ms, 1.0)
            );
        }
    }
    stop.cancel();
    let _ = serving.await;
    Ok(ExitCode::SUCCESS)
}

async fn sqlx_skus(replica: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use sqlx::Connection as _;
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite:{}", replica.display())).await?;
    Ok(sqlx::query_scalar("SELECT ITEM_NO FROM IM_ITEM WHERE STAT = 'A' ORDER BY ITEM_NO").fetch_all(&mut db).await?)
}

async fn sqlx_customers(replica: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use sqlx::Connection as _;
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite:{}", replica.display())).await?;
    Ok(sqlx::query_scalar("SELECT CUST_NO FROM AR_CUST ORDER BY CUST_NO").fetch_all(&mut db).await?)
}

/// `clients` loops, each sending one request after another for `time`; returns requests per second and every
/// request's latency in milliseconds.
async fn load(
    base: &str,
    clients: usize,
    batch: usize,
    skus: &Arc<Vec<String>>,
    custs: &Arc<Vec<String>>,
    time: Duration,
) -> (f64, Vec<f64>) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (http, base, skus, custs) = (http.clone(), base.to_owned(), skus.clone(), custs.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(client as u64 + 1);
            let mut ms = Vec::new();
            while started.elapsed() < time {
                let cust = &custs[rng.usize(..custs.len())];
                let t = Instant::now();
                let ok = if batch == 1 {
                    let sku = &skus[rng.usize(..skus.len())];
                    let url = format!("{base}/api/v1/prices/{cust}/{sku}?qty={}", rng.u32(1..30));
                    http.get(url).bearer_auth(KEY).send().await.is_ok_and(|r| r.status().is_success())
                } else {
                    let items: Vec<serde_json::Value> = (0..batch)
                        .map(|_| serde_json::json!({"sku": skus[rng.usize(..skus.len())], "qty": rng.u32(1..30)}))
                        .collect();
                    let body = serde_json::json!({"customer": cust, "items": items});
                    http.post(format!("{base}/api/v1/prices"))
                        .bearer_auth(KEY)
                        .json(&body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                };
                if ok {
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            ms
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    (rps, all)
}
