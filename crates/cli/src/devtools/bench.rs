//! `cpbridge bench orders`: the order pipeline's speed, measured end to end on this machine. (`bench sync` is in
//! `bench_sync.rs`.)
//!
//! Everything is real and local: the sandbox store, a seeded SQLite replica, the state store, and the daemon with
//! its HTTP server, all on loopback. Phase 1 places orders with webhooks on and measures, per order, the time from
//! the webhook's arrival at cpbridge to the Counterpoint note being on the WooCommerce order. Phase 2 stages a
//! second batch with webhooks off and measures how many orders per second processing applies (write-back included).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use cpbridge_counterpoint::{CounterpointPort as _, SqlCounterpoint};
use cpbridge_devtools::seed::SeedSpec;
use cpbridge_woo::model::WebhookWrite;
use cpbridge_woo::{Credentials, WooClient, WooConfig};
use cpbridge_woo_sandbox::{Sandbox, SandboxConfig};
use futures_util::StreamExt as _;
use tokio_util::sync::CancellationToken;

use crate::devtools::bench_common::{percentile, sample_order, stock_products};
use cpbridge::app::App;
use cpbridge::config::Config;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Webhook-to-note latency (p50, p99) and orders applied per second.
    Orders(BenchOrders),
    /// Product sync time and requests (first, no-change, 1% change), peak memory, and stock change-to-store latency.
    Sync(crate::devtools::bench_sync::BenchSync),
    /// The pricing API under load: requests per second and p50/p99 latency for single and 20-item requests.
    Pricing(crate::devtools::bench_pricing::BenchPricing),
    /// Crash loops (orders, and a first product sync), store faults with a Counterpoint outage, and disabled
    /// webhooks: duplicates, losses and the time to recover, as a table.
    Reliability(crate::devtools::bench_reliability::BenchReliability),
    /// The orders reconcile over N booked orders: its time and the requests it sends to WooCommerce.
    Reconcile(BenchReconcile),
    /// cpbridge's footprint on the registers: a register's sale time alone and while web orders are applied.
    Counterpoint(crate::devtools::bench_counterpoint::BenchCounterpoint),
}

#[derive(Debug, Args)]
pub struct BenchReconcile {
    /// Orders placed, booked, then reconciled.
    #[arg(long, default_value_t = 10_000)]
    orders: usize,
}

#[derive(Debug, Args)]
pub struct BenchOrders {
    /// Orders in each phase.
    #[arg(long, default_value_t = 1_000)]
    orders: usize,
}

const SECRET: &str = "bench-webhook-secret";

pub async fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Orders(args) => bench_orders(args).await,
        BenchCommand::Sync(args) => crate::devtools::bench_sync::run(args).await,
        BenchCommand::Pricing(args) => crate::devtools::bench_pricing::run(args).await,
        BenchCommand::Reliability(args) => crate::devtools::bench_reliability::run(args).await,
        BenchCommand::Reconcile(args) => bench_reconcile(args).await,
        BenchCommand::Counterpoint(args) => crate::devtools::bench_counterpoint::run(args).await,
    }
}

async fn bench_reconcile(args: BenchReconcile) -> anyhow::Result<ExitCode> {
    let bench = BenchStore::start("").await?;
    let (base, skus, woo) = (&bench.base, &bench.skus, &bench.woo);
    let app = App::build(Config::load(&bench.config)?).await?;

    let started = Instant::now();
    place(woo, skus, 0, args.orders).await?;
    println!("placed {} orders in {:.1} s", args.orders, started.elapsed().as_secs_f64());
    let started = Instant::now();
    let pulled = app.orders.pull_once().await?;
    let mut applied = 0;
    for _ in 0..100_000 {
        let report = app.orders.process_once().await?;
        applied += report.applied;
        if report.claimed == 0 {
            break;
        }
    }
    println!("staged {} and booked {applied} in {:.1} s", pulled.staged, started.elapsed().as_secs_f64());

    for run in 1..=2 {
        let before = crate::devtools::bench_common::sandbox_routes(base).await?;
        let started = Instant::now();
        let report = app.orders.reconcile_orders(None, false, chrono::Duration::zero()).await?;
        let took = started.elapsed();
        let after = crate::devtools::bench_common::sandbox_routes(base).await?;
        let sent: Vec<String> = after
            .iter()
            .filter_map(|(route, n)| {
                let d = n - before.get(route).copied().unwrap_or(0);
                (d > 0).then(|| format!("{route} {d}"))
            })
            .collect();
        println!(
            "reconcile {run}: {:.2} s, requests: {}; {}; {} problems",
            took.as_secs_f64(),
            sent.join(", "),
            cpbridge::reconcile::summary(&report),
            report.problems.len()
        );
    }
    bench.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// What the order benches run against: a seeded replica (500 items), the sandbox in this process with the first 50
/// active items as products, and a config file for cpbridge with `extra` appended.
struct BenchStore {
    dir: tempfile::TempDir,
    replica: std::path::PathBuf,
    config: std::path::PathBuf,
    base: String,
    skus: Vec<String>,
    woo: WooClient,
    sandbox_stop: CancellationToken,
    sandbox_task: tokio::task::JoinHandle<Result<(), cpbridge_woo_sandbox::SandboxError>>,
}

impl BenchStore {
    async fn start(extra: &str) -> anyhow::Result<BenchStore> {
        let dir = tempfile::tempdir().context("temporary directory")?;
        let replica = dir.path().join("cp.db");
        let cp = SqlCounterpoint::create_replica(&replica).await?;
        cpbridge_devtools::seed::seed(
            &cp,
            &SeedSpec { items: 500, customers: 50, locations: 2, rules: 10, seed: 1 },
            &|_, _, _| {},
        )
        .await?;
        let skus: Vec<String> = cp
            .items_changed_since(&cpbridge_core::records::Watermark::start(), 500)
            .await?
            .into_iter()
            .filter(|i| i.stat == "A" && i.item_typ == "I")
            .map(|i| i.item_no)
            .take(50)
            .collect();
        let credentials = Credentials::new("ck_bench", "cs_bench");
        let sandbox = Sandbox::build(SandboxConfig::local(credentials.clone())).await?;
        let base = format!("http://127.0.0.1:{}", sandbox.port());
        let sandbox_stop = CancellationToken::new();
        let sandbox_task = tokio::spawn(sandbox.run_until_stopped({
            let token = sandbox_stop.clone();
            async move { token.cancelled().await }
        }));
        let woo = WooClient::new(WooConfig::new(&base, credentials))?;
        stock_products(&woo, &skus).await?;
        let config_text = format!(
            "[counterpoint]\nurl = \"sqlite:{}\"\n[woocommerce]\nurl = \"{base}\"\nconsumer_key = \"ck_bench\"\n\
             consumer_secret = \"cs_bench\"\nwebhook_secret = \"{SECRET}\"\n[state]\npath = \"{}\"\n{extra}",
            replica.display(),
            dir.path().join("state.db").display()
        );
        let config = dir.path().join("cpbridge.toml");
        std::fs::write(&config, config_text)?;
        Ok(BenchStore { dir, replica, config, base, skus, woo, sandbox_stop, sandbox_task })
    }

    async fn stop(self) {
        self.sandbox_stop.cancel();
        let _ = self.sandbox_task.await;
    }
}

async fn bench_orders(args: BenchOrders) -> anyhow::Result<ExitCode> {
    let bench = BenchStore::start("[schedule]\norder_pull_secs = 3600\norder_status_secs = 3600\n").await?;
    let (dir, replica, skus, woo, config_path) = (&bench.dir, &bench.replica, &bench.skus, &bench.woo, &bench.config);
    let stop = CancellationToken::new();
    let app = App::build(Config::load(config_path)?).await?;
    let orders = app.orders.clone();
    let bound = app.bind(Some(SocketAddr::from(([127, 0, 0, 1], 0)))).await?;
    let listen = bound.addr;
    let daemon = tokio::spawn(bound.run(stop.clone()));
    let hook = woo
        .create_webhook(&WebhookWrite {
            name: Some("bench".into()),
            status: Some("active".into()),
            topic: "order.created".into(),
            delivery_url: format!("http://{listen}/webhooks/woocommerce"),
            secret: Some(SECRET.into()),
            ..WebhookWrite::default()
        })
        .await?;

    println!("phase 1: {} orders through webhooks", args.orders);
    let started = Instant::now();
    place(woo, skus, 0, args.orders).await?;
    let placed_in = started.elapsed();
    wait_synced(orders.counterpoint().as_ref(), args.orders, Duration::from_secs(600)).await?;
    let total = started.elapsed();
    let latencies = latencies(&dir.path().join("state.db"), replica).await?;
    println!(
        "  placed in {:.1} s, all noted in {:.1} s; webhook to note: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} orders)",
        placed_in.as_secs_f64(),
        total.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        latencies.len()
    );

    println!("phase 2: {} orders staged by the poll, then applied", args.orders);
    let _: serde_json::Value = woo
        .send(
            http::Method::PUT,
            &format!("/webhooks/{}", hook.id),
            &serde_json::json!({"status": "paused"}),
            cpbridge_woo::Replay::Safe,
        )
        .await?;
    stop.cancel();
    let _ = daemon.await;
    place(woo, skus, args.orders, args.orders).await?;
    let app = App::build(Config::load(config_path)?).await?;
    let pull_start = Instant::now();
    let pulled = app.orders.pull_once().await?;
    let pull_time = pull_start.elapsed();
    let apply_start = Instant::now();
    let mut applied = 0;
    for _ in 0..10_000 {
        let report = app.orders.process_once().await?;
        applied += report.applied;
        if report.claimed == 0 {
            break;
        }
    }
    let apply_time = apply_start.elapsed();
    println!(
        "  poll staged {} in {:.1} s; applied {} in {:.1} s: {:.0} orders/s (with write-back), {:.0} orders/s staged",
        pulled.staged,
        pull_time.as_secs_f64(),
        applied,
        apply_time.as_secs_f64(),
        applied as f64 / apply_time.as_secs_f64().max(1e-9),
        pulled.staged as f64 / pull_time.as_secs_f64().max(1e-9),
    );
    bench.stop().await;
    Ok(ExitCode::SUCCESS)
}

async fn place(woo: &WooClient, skus: &[String], from: usize, count: usize) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(from..from + count)
        .map(|n| async move {
            let order = sample_order(skus, n);
            woo.create_order(&order).await.map(|_| ()).map_err(anyhow::Error::from)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn wait_synced(
    cp: &dyn cpbridge_counterpoint::CounterpointPort,
    want: usize,
    limit: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        let done = cp.staged_orders(Some(cpbridge_core::staging::StagingStatus::Applied), want + 10).await?;
        if done.iter().filter(|o| o.woo_synced_dt.is_some()).count() >= want {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("not every order was noted within {limit:?}")
}

/// Milliseconds from each order's first webhook at cpbridge to its write-back.
async fn latencies(state: &std::path::Path, replica: &std::path::Path) -> anyhow::Result<Vec<f64>> {
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", replica.display())).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("ATTACH DATABASE '{}' AS st", state.display()))).execute(&mut conn).await?;
    let rows: Vec<(f64,)> = sqlx::query_as(
        "SELECT (julianday(s.WOO_SYNCED_DT) - julianday(MIN(i.received_at))) * 86400000.0 \
         FROM USER_ORDER_STAGING s JOIN st.webhook_inbox i ON i.resource_id = s.WOO_ORDER_ID \
         WHERE s.WOO_SYNCED_DT IS NOT NULL GROUP BY s.STAGING_ID",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut ms: Vec<f64> = rows.into_iter().map(|(v,)| v).collect();
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}
