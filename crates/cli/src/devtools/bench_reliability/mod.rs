//! `cpbridge bench reliability`: the three failures shops know from other connectors, provoked on purpose and
//! counted. Everything is real and local: `cpbridge run` and `cpbridge sandbox` as child processes (so a kill is a
//! real SIGKILL of the daemon), a seeded SQLite replica, and the harness placing orders through WooCommerce's API.
//!
//! 1. **Crash loop.** Orders are placed continuously while the daemon is killed at random moments and restarted;
//!    then the same during a first product sync, which must resume rather than start over.
//! 2. **Faults.** 5xx and 429 answers, added latency and dropped connections from the store, and Counterpoint
//!    refusing every write for a while (another connection holds the replica's write lock, as a long posting job
//!    holds SQL Server's locks); then the time to drain once the faults stop.
//! 3. **Webhooks.** The daemon is down while orders are placed, so WooCommerce disables the webhooks after 5 failed
//!    deliveries; on restart cpbridge re-enables them, alerts once, and backfills.
//!
//! Each phase ends with the same check: every order in the store has exactly one Counterpoint document and one
//! note, and `IM_INV.QTY_COMMIT` rose by exactly the applied lines. The table at the end is what the README shows.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use cpbridge_woo::{Credentials, WooClient, WooConfig};
use futures_util::TryStreamExt as _;
use sqlx::{Connection as _, Row as _, SqliteConnection};
use tokio_util::sync::CancellationToken;

use crate::devtools::bench_common::{SandboxChild, sandbox_requests, start_sandbox};

mod rig;

use rig::*;

#[derive(Debug, Args)]
pub struct BenchReliability {
    /// SIGKILLs of the daemon while orders keep coming.
    #[arg(long, default_value_t = 100)]
    kills: usize,
    /// Items in the replica for the product sync crash loop.
    #[arg(long, default_value_t = 20_000)]
    items: usize,
    /// Most SIGKILLs during the product sync (it stops killing once the sync is through).
    #[arg(long, default_value_t = 30)]
    sync_kills: usize,
    /// Orders placed during the fault run.
    #[arg(long, default_value_t = 60)]
    fault_orders: usize,
    /// How long Counterpoint refuses writes in the middle of the fault run, in seconds.
    #[arg(long, default_value_t = 30)]
    outage_secs: u64,
    /// Which parts to run: any of orders, sync, faults, webhooks.
    #[arg(long, value_delimiter = ',', default_value = "orders,sync,faults,webhooks")]
    only: Vec<String>,
    /// Seed of the kill moments.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

const KEY: &str = "ck_bench";
const SECRET: &str = "cs_bench";
const WEBHOOK_SECRET: &str = "bench-reliability-secret";

/// One row of the final table.
struct Row {
    scenario: String,
    kills: usize,
    orders: usize,
    duplicates: usize,
    losses: usize,
    other: String,
}

/// What the end-state check found.
#[derive(Debug, Default)]
struct Verdict {
    orders: usize,
    duplicates: usize,
    losses: usize,
    missing_notes: usize,
    extra_notes: usize,
    commit_mismatches: usize,
}

impl Verdict {
    fn holds(&self) -> bool {
        self.duplicates + self.losses + self.missing_notes + self.extra_notes + self.commit_mismatches == 0
    }

    fn notes(&self) -> String {
        format!(
            "notes missing {}, doubled {}; IM_INV commitments off for {} SKUs",
            self.missing_notes, self.extra_notes, self.commit_mismatches
        )
    }
}

const ORDER_SCHEDULE: &str = "order_pull_secs = 2\norder_process_secs = 0.5\norder_writeback_secs = 0.5\n\
                              order_status_secs = 3600\nintake_secs = 0.3\nwebhooks_secs = 2\nproducts_secs = 0\n\
                              inventory_events_secs = 0\ninventory_reconcile_secs = 0\ncustomers_secs = 0";

async fn crash_loop_orders(args: &BenchReliability, rng: &mut fastrand::Rng) -> anyhow::Result<Row> {
    let rig = Rig::open(300, 40, ORDER_SCHEDULE).await?;
    let before = rig.commitments().await?;
    let stop = CancellationToken::new();
    let placing = placer(rig.woo.clone(), rig.skus.clone(), Duration::from_millis(60), 5_000, stop.clone());
    let started = Instant::now();
    for k in 0..args.kills {
        let daemon = DaemonChild::start(&rig.config)?;
        tokio::time::sleep(Duration::from_millis(rng.u64(150..1_500))).await;
        daemon.kill();
        if (k + 1) % 25 == 0 {
            println!("  {} kills, {} orders done so far", k + 1, rig.done().await?);
        }
    }
    stop.cancel();
    let placed = placing.await?;
    let daemon = DaemonChild::start(&rig.config)?;
    let orders = rig.store_orders().await?;
    let drain = rig.wait_done(orders.len(), Duration::from_secs(300)).await?;
    daemon.kill();
    let verdict = rig.verify(&orders, &before).await?;
    println!(
        "  {} kills over {:.0} s; {} orders placed ({} confirmed to the harness); drained {:.1} s after the last \
         kill; {}",
        args.kills,
        started.elapsed().as_secs_f64(),
        orders.len(),
        placed.len(),
        drain.as_secs_f64(),
        verdict.notes()
    );
    anyhow::ensure!(verdict.holds(), "crash loop: the end state does not hold: {verdict:?}");
    Ok(Row {
        scenario: "crash loop: orders".into(),
        kills: args.kills,
        orders: verdict.orders,
        duplicates: verdict.duplicates,
        losses: verdict.losses,
        other: format!("drained in {:.1} s after the last kill; {}", drain.as_secs_f64(), verdict.notes()),
    })
}

/// Requests `(all, writes)` and products created by a first product sync of the same seeded catalogue, when
/// nothing interrupts it.
async fn clean_sync_requests(items: usize) -> anyhow::Result<(u64, u64, usize)> {
    let sandbox = start_sandbox()?;
    let dir = tempfile::tempdir()?;
    let copy = dir.path().join("cp.db");
    seed(&copy, items)?;
    let text = format!(
        "[counterpoint]\nurl = \"sqlite:{}\"\n[woocommerce]\nurl = \"{}\"\nconsumer_key = \"{KEY}\"\n\
         consumer_secret = \"{SECRET}\"\nwebhook_secret = \"unused\"\n[state]\npath = \"{}\"\n",
        copy.display(),
        sandbox.base,
        dir.path().join("state.db").display()
    );
    let config = dir.path().join("cpbridge.toml");
    std::fs::write(&config, text)?;
    let app = cpbridge::app::App::build(cpbridge::config::Config::load(&config)?).await?;
    let report = app.products.run_once().await?;
    let (all, writes) = sandbox_requests(&sandbox.base).await?;
    Ok((all, writes, report.created))
}

async fn crash_loop_sync(args: &BenchReliability, rng: &mut fastrand::Rng) -> anyhow::Result<Row> {
    let schedule = "order_pull_secs = 3600\nwebhooks_secs = 0\nproducts_secs = 1\ninventory_events_secs = 0\n\
                    inventory_reconcile_secs = 0\ncustomers_secs = 0\npricing_refresh_secs = 3600";
    let rig = Rig::open(args.items, 0, schedule).await?;
    let (clean_all, clean_writes, on_web) = clean_sync_requests(args.items).await?;
    println!(
        "  an uninterrupted first sync of {on_web} products takes {clean_writes} write requests ({clean_all} in all)"
    );
    let synced = async || -> anyhow::Result<(bool, i64)> {
        if !rig.dir.path().join("state.db").exists() {
            return Ok((false, 0));
        }
        let mut state = rig.state_db().await?;
        let ok: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE job = 'products' AND outcome = 'ok'")
            .fetch_one(&mut state)
            .await
            .unwrap_or(0);
        let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_records WHERE kind = 'product'")
            .fetch_one(&mut state)
            .await
            .unwrap_or(0);
        Ok((ok > 0, records))
    };
    let started = Instant::now();
    let mut kills = 0;
    let mut progress = Vec::new();
    let mut recorded = 0;
    'killing: while kills < args.sync_kills {
        let daemon = DaemonChild::start(&rig.config)?;
        // Kill only once this run has stored a batch, at a random moment after: every kill lands mid-sync.
        let limit = Instant::now() + Duration::from_secs(60);
        loop {
            let (done, records) = synced().await?;
            if done {
                daemon.kill();
                break 'killing;
            }
            if records > recorded || Instant::now() > limit {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(0..1_500))).await;
        let (done, records) = synced().await?;
        daemon.kill();
        if done {
            break;
        }
        recorded = records;
        kills += 1;
        progress.push(records);
    }
    let daemon = DaemonChild::start(&rig.config)?;
    let limit = Instant::now() + Duration::from_secs(300);
    while !synced().await?.0 {
        anyhow::ensure!(Instant::now() < limit, "the product sync did not finish within 5 minutes after the kills");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    daemon.kill();
    let took = started.elapsed();
    let (all, writes) = sandbox_requests(&rig.sandbox.base).await?;
    // Every SKU once in the store; the sandbox refuses a second product with the same SKU, so count them.
    let products: Vec<serde_json::Value> =
        rig.woo.list("/products", vec![("status".into(), "any".into())]).try_collect().await?;
    let mut per_sku: BTreeMap<String, usize> = BTreeMap::new();
    for product in &products {
        *per_sku.entry(product["sku"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    let duplicates = per_sku.values().map(|n| n - 1).sum::<usize>();
    let losses = on_web.saturating_sub(per_sku.len());
    // The no-change run after the kills is the daemon's own next cadence; it reads but does not write.
    let extra_writes = writes.saturating_sub(clean_writes);
    let resumed_from: Vec<String> = progress.iter().take(8).map(ToString::to_string).collect();
    println!(
        "  {kills} kills during the sync; products recorded at each kill: {}{}; finished {:.1} s after it began",
        resumed_from.join(", "),
        if progress.len() > 8 { ", ..." } else { "" },
        took.as_secs_f64()
    );
    anyhow::ensure!(duplicates == 0 && losses == 0, "the sync lost or doubled products: {duplicates} / {losses}");
    Ok(Row {
        scenario: format!("crash loop: first sync of {} items", args.items),
        kills,
        orders: on_web,
        duplicates,
        losses,
        other: format!(
            "resuming cost {extra_writes} extra write requests ({:.1} per kill; {} in all vs {clean_writes} \
             uninterrupted), {} extra requests of any kind",
            extra_writes as f64 / kills.max(1) as f64,
            writes,
            all.saturating_sub(clean_all)
        ),
    })
}

async fn faults(args: &BenchReliability) -> anyhow::Result<Row> {
    let rig = Rig::open(300, 40, ORDER_SCHEDULE).await?;
    let before = rig.commitments().await?;
    let daemon = DaemonChild::start(&rig.config)?;
    let faults = serde_json::json!({"error_rate": 0.1, "throttle_rate": 0.1, "drop_rate": 0.05, "latency_ms": 500});
    rig.faults(faults).await?;
    let stop = CancellationToken::new();
    let every = Duration::from_millis(300);
    let placing = placer(rig.woo.clone(), rig.skus.clone(), every, args.fault_orders, stop.clone());
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Counterpoint refuses every write: another connection holds the write lock for the outage.
    let mut locker = rig.replica_db().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut locker).await?;
    println!("  Counterpoint refuses writes for {} s", args.outage_secs);
    tokio::time::sleep(Duration::from_secs(args.outage_secs)).await;
    sqlx::query("ROLLBACK").execute(&mut locker).await?;
    drop(locker);
    let outage_over = Instant::now();
    // The orders the store took up to the end of the outage: how long until Counterpoint has caught up on them,
    // with the store's faults still on and orders still coming.
    let backlog = rig.store_orders().await?;
    let limit = outage_over + Duration::from_secs(300);
    while rig.done_of(&backlog).await? < backlog.len() {
        anyhow::ensure!(Instant::now() < limit, "the orders from the outage were not applied within 5 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let caught_up = outage_over.elapsed();
    let placed = placing.await?;
    let stats: serde_json::Value = reqwest::get(format!("{}/__sandbox/stats", rig.sandbox.base)).await?.json().await?;
    let injected: u64 =
        stats["faults"].as_object().map(|m| m.values().filter_map(serde_json::Value::as_u64).sum()).unwrap_or(0);
    rig.faults(serde_json::json!({})).await?;
    let faults_off = Instant::now();
    let orders = rig.store_orders().await?;
    rig.wait_done(orders.len(), Duration::from_secs(300)).await?;
    let drain = faults_off.elapsed();
    daemon.kill();
    let verdict = rig.verify(&orders, &before).await?;
    println!(
        "  {} orders ({} confirmed to the harness), {injected} faults injected; drained {:.1} s after the faults \
         stopped; the {} orders taken by the end of the outage applied {:.1} s after it; {}",
        orders.len(),
        placed.len(),
        drain.as_secs_f64(),
        backlog.len(),
        caught_up.as_secs_f64(),
        verdict.notes()
    );
    anyhow::ensure!(verdict.holds(), "faults: the end state does not hold: {verdict:?}");
    Ok(Row {
        scenario: format!("faults: 20 % 5xx/429, 5 % drops, +500 ms, Counterpoint down {} s", args.outage_secs),
        kills: 0,
        orders: verdict.orders,
        duplicates: verdict.duplicates,
        losses: verdict.losses,
        other: format!(
            "{injected} faults injected; the {} orders taken by the end of the outage applied and noted {:.1} s \
             after it (store faults still on); all drained {:.1} s after the store's faults stopped; {}",
            backlog.len(),
            caught_up.as_secs_f64(),
            drain.as_secs_f64(),
            verdict.notes()
        ),
    })
}

async fn webhooks_heal() -> anyhow::Result<Row> {
    let rig = Rig::open(300, 40, ORDER_SCHEDULE).await?;
    let before = rig.commitments().await?;
    // First start: the webhook check creates the order webhooks (server.public_url is set).
    let daemon = DaemonChild::start(&rig.config)?;
    let url = format!("http://127.0.0.1:{}/webhooks/woocommerce", rig.port);
    let active = async || -> anyhow::Result<usize> {
        let hooks = rig.woo.webhooks().await?;
        Ok(hooks.iter().filter(|h| h.delivery_url == url && h.status == "active").count())
    };
    let limit = Instant::now() + Duration::from_secs(30);
    while active().await? < 2 {
        anyhow::ensure!(Instant::now() < limit, "the webhooks were not created");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.kill();
    // Down while 8 orders are placed: every delivery fails, and the store disables the webhook after 5.
    let stop = CancellationToken::new();
    let missed = placer(rig.woo.clone(), rig.skus.clone(), Duration::from_millis(200), 8, stop).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let disabled = 2 - active().await?;
    anyhow::ensure!(disabled > 0, "WooCommerce (the sandbox) did not disable a webhook after failed deliveries");
    let restarted = Instant::now();
    let daemon = DaemonChild::start(&rig.config)?;
    while active().await? < 2 {
        anyhow::ensure!(restarted.elapsed() < Duration::from_secs(30), "the webhooks were not re-enabled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let healed = restarted.elapsed();
    let orders = rig.store_orders().await?;
    rig.wait_done(orders.len(), Duration::from_secs(60)).await?;
    let backfilled = restarted.elapsed();
    // One more order, delivered by the re-enabled webhook.
    let stop = CancellationToken::new();
    let after = placer(rig.woo.clone(), rig.skus.clone(), Duration::from_millis(10), 1, stop).await?;
    let orders = rig.store_orders().await?;
    rig.wait_done(orders.len(), Duration::from_secs(30)).await?;
    daemon.kill();
    let mut state = rig.state_db().await?;
    let alerts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'webhook_disabled'").fetch_one(&mut state).await?;
    let delivered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_inbox WHERE resource_id = ?1")
        .bind(after.first().map_or(-1, |id| id.as_i64()))
        .fetch_one(&mut state)
        .await?;
    let verdict = rig.verify(&orders, &before).await?;
    println!(
        "  {disabled} webhooks disabled by the store; re-enabled {:.1} s after the restart; the {} missed orders \
         applied {:.1} s after it; {alerts} alert; the next order delivered by webhook: {}",
        healed.as_secs_f64(),
        missed.len(),
        backfilled.as_secs_f64(),
        delivered > 0
    );
    anyhow::ensure!(verdict.holds() && alerts == 1 && delivered > 0, "webhook healing: {verdict:?}, {alerts} alerts");
    Ok(Row {
        scenario: "webhooks disabled by the store".into(),
        kills: 0,
        orders: verdict.orders,
        duplicates: verdict.duplicates,
        losses: verdict.losses,
        other: format!(
            "{disabled} disabled, re-enabled {:.1} s after restart, {alerts} alert, {} missed orders backfilled in \
             {:.1} s",
            healed.as_secs_f64(),
            missed.len(),
            backfilled.as_secs_f64()
        ),
    })
}

pub async fn run(args: BenchReliability) -> anyhow::Result<ExitCode> {
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let mut rows = Vec::new();
    let mut push = |row: Row| rows.push(row);
    let wanted = |part: &str| args.only.iter().any(|p| p == part);
    if wanted("orders") {
        println!("1. crash loop: {} SIGKILLs of cpbridge run while orders keep coming", args.kills);
        push(crash_loop_orders(&args, &mut rng).await?);
    }
    if wanted("sync") {
        println!("1b. crash loop: SIGKILLs during a first product sync of {} items", args.items);
        push(crash_loop_sync(&args, &mut rng).await?);
    }
    if wanted("faults") {
        println!("2. faults from the store and a Counterpoint outage");
        push(faults(&args).await?);
    }
    if wanted("webhooks") {
        println!("3. webhooks disabled by the store while cpbridge is down");
        push(webhooks_heal().await?);
    }

    println!();
    println!("| scenario | kills | orders / products | duplicates | losses | figures |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.scenario, row.kills, row.orders, row.duplicates, row.losses, row.other
        );
    }
    Ok(ExitCode::SUCCESS)
}
