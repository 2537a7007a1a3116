//! `cpbridge bench sync`: the outbound syncs' speed and memory on this machine.
//!
//! The sandbox runs as a child process (`cpbridge sandbox`), so the peak memory printed is the sync's own. The
//! replica is seeded with `--items` items; then the product sync runs three times (first, nothing changed, 1% of
//! prices changed), and stock changes made with plain SQL are timed until WooCommerce has accepted them.

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;
use sqlx::Connection as _;
use tokio_util::sync::CancellationToken;

use crate::devtools::bench_common::{percentile, sandbox_requests, start_sandbox};
use cpbridge::app::App;
use cpbridge::config::Config;

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
    /// Grids instead: seed enough items for this many gridded items, put exactly those on the web (and nothing
    /// else), sync them as variable products (`products.grid_variations`), and time stock changes of their cells.
    #[arg(long)]
    gridded: Option<usize>,
}

/// Seeded items per gridded item: `cp seed` makes about one item in nine a grid (a quarter of the apparel and
/// footwear), so this many items always hold enough grids.
const ITEMS_PER_GRID: usize = 9;

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

pub async fn run(mut args: BenchSync) -> anyhow::Result<ExitCode> {
    if let Some(gridded) = args.gridded {
        args.items = args.items.max(gridded * ITEMS_PER_GRID);
    }
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
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite:{}", replica.display())).await?;
    if let Some(gridded) = args.gridded {
        let on_web = put_grids_on_the_web(&mut db, gridded).await?;
        anyhow::ensure!(on_web == gridded, "the seed made only {on_web} gridded items; raise --items");
    }
    let sandbox = start_sandbox()?;
    let config_text = format!(
        "[counterpoint]\nurl = \"sqlite:{}\"\n[woocommerce]\nurl = \"{}\"\nconsumer_key = \"ck_bench\"\n\
         consumer_secret = \"cs_bench\"\nwebhook_secret = \"unused\"\n[state]\npath = \"{}\"\n\
         [products]\ngrid_variations = {}\n",
        replica.display(),
        sandbox.base,
        dir.path().join("state.db").display(),
        args.gridded.is_some()
    );
    let config_path = dir.path().join("cpbridge.toml");
    std::fs::write(&config_path, config_text)?;
    let app = App::build(Config::load(&config_path)?).await?;
    match args.gridded {
        Some(gridded) => {
            let variations: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT DISTINCT c.ITEM_NO, c.DIM_1_UPR, c.DIM_2_UPR, c.DIM_3_UPR \
                 FROM IM_INV_CELL c JOIN IM_ITEM i ON i.ITEM_NO = c.ITEM_NO \
                 WHERE i.IS_ECOMM_ITEM = 'Y' AND c.IS_ECOMM_ITEM_CELL = 'Y')",
            )
            .fetch_one(&mut db)
            .await?;
            println!(
                "{} items seeded, {gridded} gridded items on the web (nothing else) with {variations} web cells; \
                 memory before syncing: {:.0} MiB",
                args.items,
                peak_rss_mib().unwrap_or(f64::NAN)
            );
        }
        None => {
            println!(
                "{} items seeded; memory before syncing: {:.0} MiB",
                args.items,
                peak_rss_mib().unwrap_or(f64::NAN)
            )
        }
    }

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
    let changed = sqlx::query(
        "UPDATE IM_ITEM SET PRC_1 = PRC_1 + 1 WHERE ITEM_NO IN \
         (SELECT ITEM_NO FROM IM_ITEM WHERE IS_ECOMM_ITEM = 'Y' AND STAT = 'A' ORDER BY ITEM_NO LIMIT ?1)",
    )
    .bind(i64::try_from(args.items / 100).unwrap_or(0))
    .execute(&mut db)
    .await?
    .rows_affected();
    phase(&format!("1% change ({changed} prices)")).await?;

    // Stock events: the event job polls on its interval while changes land one every 50 ms. With grids, each change
    // is a delivery to one web cell (its IM_INV_CELL row and the item's IM_INV row, as Counterpoint posts it), and
    // what is timed is its variation's stock; only cells not committed beyond their stock, whose web stock the
    // delivery moves (a cell held at 0 has nothing new to push).
    let targets: Vec<(String, String, String, String)> = if args.gridded.is_some() {
        sqlx::query_as(
            "SELECT c.ITEM_NO, c.DIM_1_UPR, c.DIM_2_UPR, c.DIM_3_UPR FROM IM_INV_CELL c \
             JOIN IM_ITEM i ON i.ITEM_NO = c.ITEM_NO WHERE i.IS_ECOMM_ITEM = 'Y' AND c.IS_ECOMM_ITEM_CELL = 'Y' \
             AND c.LOC_ID = 'MAIN' AND c.QTY_ON_HND >= c.QTY_COMMIT ORDER BY c.ITEM_NO DESC, c.DIM_1_UPR LIMIT ?1",
        )
    } else {
        sqlx::query_as(
            "SELECT ITEM_NO, '*', '*', '*' FROM IM_ITEM WHERE IS_ECOMM_ITEM = 'Y' AND STAT = 'A' AND ITEM_TYP = 'I' \
             ORDER BY ITEM_NO DESC LIMIT ?1",
        )
    }
    .bind(i64::try_from(args.events).unwrap_or(0))
    .fetch_all(&mut db)
    .await?;
    let skus: Vec<String> = targets
        .iter()
        .map(|(item, d1, d2, d3)| {
            if d1 == "*" {
                item.clone()
            } else {
                cpbridge_core::order::variation_label(item, &[d1.clone(), d2.clone(), d3.clone()])
            }
        })
        .collect();
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
    for (item, d1, d2, d3) in &targets {
        changed_at.push(Utc::now().naive_utc());
        if d1 != "*" {
            sqlx::query(
                "UPDATE IM_INV_CELL SET QTY_ON_HND = QTY_ON_HND + 1 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' \
                 AND DIM_1_UPR = ?2 AND DIM_2_UPR = ?3 AND DIM_3_UPR = ?4",
            )
            .bind(item)
            .bind(d1)
            .bind(d2)
            .bind(d3)
            .execute(&mut db)
            .await?;
        }
        sqlx::query("UPDATE IM_INV SET QTY_ON_HND = QTY_ON_HND + 1 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'")
            .bind(item)
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
                .bind(cpbridge_pipelines::catalog::STOCK_RECORDS)
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

/// Puts the first `gridded` gridded items on the web, active, and every other item off it. Returns how many gridded
/// items there were to put on.
async fn put_grids_on_the_web(db: &mut sqlx::SqliteConnection, gridded: usize) -> anyhow::Result<usize> {
    let limit = i64::try_from(gridded).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE IM_ITEM SET IS_ECOMM_ITEM = CASE WHEN ITEM_NO IN (SELECT ITEM_NO FROM IM_ITEM WHERE TRK_METH = 'G' \
         ORDER BY ITEM_NO LIMIT ?1) THEN 'Y' ELSE 'N' END, STAT = CASE WHEN TRK_METH = 'G' THEN 'A' ELSE STAT END",
    )
    .bind(limit)
    .execute(&mut *db)
    .await?;
    let on_web: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM IM_ITEM WHERE IS_ECOMM_ITEM = 'Y'").fetch_one(db).await?;
    Ok(usize::try_from(on_web).unwrap_or(0))
}
