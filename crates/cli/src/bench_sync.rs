//! `cpbridge bench sync`: the outbound syncs' speed and memory on this machine.
//!
//! The sandbox runs as a child process (`cpbridge sandbox`), so the peak memory printed is the sync's own. The
//! replica is seeded with `--items` items; then the product sync runs three times (first, nothing changed, 1% of
//! prices changed), and stock changes made with plain SQL are timed until WooCommerce has accepted them.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;
use sqlx::Connection as _;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::bench::percentile;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct BenchSync {
    /// Items seeded in the replica.
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    /// Stock changes timed from `IM_INV` to the store.
    #[arg(long, default_value_t = 200)]
    events: usize,
    /// The inventory event poll interval, in seconds (the daemon's default is 5).
    #[arg(long, default_value_t = 5.0)]
    poll_secs: f64,
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

async fn write_requests(base: &str) -> anyhow::Result<u64> {
    Ok(sandbox_requests(base).await?.1)
}

/// This process's peak resident memory, in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub async fn run(args: BenchSync) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let replica = dir.path().join("cp.db");
    // Seeded by a child process, so that the seed's memory does not count as the sync's.
    let seeded = Command::new(std::env::current_exe()?)
        .args(["cp", "seed", "--db", &format!("sqlite:{}", replica.display()), "--items", &args.items.to_string()])
        .args(["--customers", "100", "--rules", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("seeding the replica")?;
    anyhow::ensure!(seeded.success(), "cp seed failed");
    let sandbox = start_sandbox()?;
    let config_text = format!(
        "[counterpoint]\nurl = \"sqlite:{}\"\n[woocommerce]\nurl = \"{}\"\nconsumer_key = \"ck_bench\"\n\
         consumer_secret = \"cs_bench\"\nwebhook_secret = \"unused\"\n[state]\npath = \"{}\"\n",
        replica.display(),
        sandbox.base,
        dir.path().join("state.db").display()
    );
    let config_path = dir.path().join("cpbridge.toml");
    std::fs::write(&config_path, config_text)?;
    let app = App::build(Config::load(&config_path)?).await?;
    println!("{} items seeded; memory before syncing: {:.0} MiB", args.items, peak_rss_mib().unwrap_or(f64::NAN));

    let phase = async |label: &str| -> anyhow::Result<()> {
        let writes_before = write_requests(&sandbox.base).await?;
        let started = Instant::now();
        let report = app.products.run_once().await?;
        let took = started.elapsed();
        let writes = write_requests(&sandbox.base).await? - writes_before;
        println!(
            "{label}: {:.1} s, {writes} write requests ({} batches); created {}, updated {}, unchanged {}, failed {}; \
             peak memory {:.0} MiB",
            took.as_secs_f64(),
            report.batch_requests,
            report.created,
            report.updated,
            report.unchanged,
            report.failures.failed,
            peak_rss_mib().unwrap_or(f64::NAN)
        );
        Ok(())
    };
    phase("first full sync").await?;
    phase("no-change sync").await?;
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite:{}", replica.display())).await?;
    let changed = sqlx::query(
        "UPDATE IM_ITEM SET PRC_1 = PRC_1 + 1 WHERE ITEM_NO IN \
         (SELECT ITEM_NO FROM IM_ITEM WHERE IS_ECOMM_ITEM = 'Y' AND STAT = 'A' ORDER BY ITEM_NO LIMIT ?1)",
    )
    .bind(i64::try_from(args.items / 100).unwrap_or(0))
    .execute(&mut db)
    .await?
    .rows_affected();
    phase(&format!("1% change ({changed} prices)")).await?;

    // Stock events: the event job polls on its interval while changes land one every 50 ms.
    let skus: Vec<String> = sqlx::query_scalar(
        "SELECT ITEM_NO FROM IM_ITEM WHERE IS_ECOMM_ITEM = 'Y' AND STAT = 'A' AND ITEM_TYP = 'I' \
         ORDER BY ITEM_NO DESC LIMIT ?1",
    )
    .bind(i64::try_from(args.events).unwrap_or(0))
    .fetch_all(&mut db)
    .await?;
    let stop = CancellationToken::new();
    let inventory = app.inventory.clone();
    let every = Duration::from_secs_f64(args.poll_secs.max(0.05));
    let poller = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                if let Err(e) = inventory.events_once().await {
                    tracing::warn!(error = %e, "event sync failed");
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
            }
        })
    };
    let mut changed_at = Vec::new();
    for sku in &skus {
        changed_at.push(Utc::now().naive_utc());
        sqlx::query("UPDATE IM_INV SET QTY_ON_HND = QTY_ON_HND + 1 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'")
            .bind(sku)
            .execute(&mut db)
            .await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + every + Duration::from_secs(60);
    let mut state =
        sqlx::SqliteConnection::connect(&format!("sqlite:{}", dir.path().join("state.db").display())).await?;
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        latencies.clear();
        // When WooCommerce accepted each SKU's stock: the state store stamps the record after the batch landed.
        let pushed: std::collections::HashMap<String, chrono::NaiveDateTime> =
            sqlx::query_as("SELECT key, updated_at FROM sync_records WHERE kind = ?1")
                .bind(cpbridge_pipelines::products::STOCK_RECORDS)
                .fetch_all(&mut state)
                .await?
                .into_iter()
                .collect();
        for (sku, at) in skus.iter().zip(&changed_at) {
            if let Some(done) = pushed.get(sku).filter(|done| *done >= at) {
                latencies.push((*done - *at).num_milliseconds() as f64);
            }
        }
        if latencies.len() == skus.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    let _ = poller.await;
    latencies.sort_by(f64::total_cmp);
    println!(
        "stock events (poll every {:.1} s): {} of {} reached the store; change to store p50 {:.0} ms, p99 {:.0} ms, \
         max {:.0} ms",
        args.poll_secs,
        latencies.len(),
        skus.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!("peak memory of the whole run: {:.0} MiB", peak_rss_mib().unwrap_or(f64::NAN));
    Ok(ExitCode::SUCCESS)
}
