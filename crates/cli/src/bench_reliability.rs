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

use crate::bench_common::{SandboxChild, sandbox_requests, start_sandbox};

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

/// A `cpbridge run` child process; SIGKILLed when dropped.
struct DaemonChild(Child);

impl DaemonChild {
    /// Starts it, its errors appended to `daemon.log` beside the config.
    fn start(config: &Path) -> anyhow::Result<DaemonChild> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.with_file_name("daemon.log"))
            .context("daemon log")?;
        let child = Command::new(std::env::current_exe()?)
            .args(["run", "--config"])
            .arg(config)
            .env("CPBRIDGE_LOG", "error")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting cpbridge run")?;
        Ok(DaemonChild(child))
    }

    /// SIGKILL on Unix (TerminateProcess on Windows): no chance to finish anything.
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for DaemonChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A replica, a sandbox with products for the replica's first SKUs, and a daemon config, in one directory.
struct Rig {
    dir: tempfile::TempDir,
    sandbox: SandboxChild,
    woo: WooClient,
    replica: PathBuf,
    config: PathBuf,
    skus: Vec<String>,
    port: u16,
}

fn seed(replica: &Path, items: usize) -> anyhow::Result<()> {
    let status = Command::new(std::env::current_exe()?)
        .args(["cp", "seed", "--db", &format!("sqlite:{}", replica.display()), "--items", &items.to_string()])
        .args(["--customers", "20", "--rules", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("seeding the replica")?;
    anyhow::ensure!(status.success(), "cp seed failed");
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Rig {
    async fn open(items: usize, products: usize, schedule: &str) -> anyhow::Result<Rig> {
        let mut dir = tempfile::tempdir().context("temporary directory")?;
        if std::env::var_os("CPBRIDGE_BENCH_KEEP").is_some() {
            dir.disable_cleanup(true);
            println!("  work directory {}", dir.path().display());
        }
        let replica = dir.path().join("cp.db");
        seed(&replica, items)?;
        let sandbox = start_sandbox()?;
        let woo = WooClient::new(WooConfig::new(&sandbox.base, Credentials::new(KEY, SECRET)))?;
        let mut db = SqliteConnection::connect(&format!("sqlite:{}", replica.display())).await?;
        let skus: Vec<String> = sqlx::query_scalar(
            "SELECT ITEM_NO FROM IM_ITEM WHERE STAT = 'A' AND ITEM_TYP = 'I' AND PRC_1 > 0 ORDER BY ITEM_NO LIMIT ?1",
        )
        .bind(i64::try_from(products).unwrap_or(0))
        .fetch_all(&mut db)
        .await?;
        crate::bench_common::stock_products(&woo, &skus).await?;
        let port = free_port()?;
        let config = dir.path().join("cpbridge.toml");
        let text = format!(
            "[counterpoint]\nurl = \"sqlite:{replica}\"\n\n[woocommerce]\nurl = \"{base}\"\nconsumer_key = \"{KEY}\"\n\
             consumer_secret = \"{SECRET}\"\nwebhook_secret = \"{WEBHOOK_SECRET}\"\ntimeout_secs = 10\n\
             retry = {{ attempts = 8, first_wait_ms = 100, max_wait_secs = 2 }}\n\n\
             [state]\npath = \"{state}\"\n\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\n\
             [schedule]\n{schedule}\n\n[orders]\nmax_attempts = 50\nlease_secs = 10\n\
             retry = {{ base_secs = 0.2, cap_secs = 2 }}\nwoo_retry = {{ base_secs = 0.2, cap_secs = 2 }}\n",
            replica = replica.display(),
            base = sandbox.base,
            state = dir.path().join("state.db").display(),
        );
        std::fs::write(&config, text)?;
        Ok(Rig { dir, sandbox, woo, replica, config, skus, port })
    }

    async fn replica_db(&self) -> anyhow::Result<SqliteConnection> {
        Ok(SqliteConnection::connect(&format!("sqlite:{}", self.replica.display())).await?)
    }

    async fn state_db(&self) -> anyhow::Result<SqliteConnection> {
        Ok(SqliteConnection::connect(&format!("sqlite:{}", self.dir.path().join("state.db").display())).await?)
    }

    /// `QTY_COMMIT` per item at MAIN.
    async fn commitments(&self) -> anyhow::Result<HashMap<String, f64>> {
        let mut db = self.replica_db().await?;
        let rows = sqlx::query("SELECT ITEM_NO, CAST(QTY_COMMIT AS REAL) AS Q FROM IM_INV WHERE LOC_ID = 'MAIN'")
            .fetch_all(&mut db)
            .await?;
        Ok(rows.into_iter().map(|r| (r.get("ITEM_NO"), r.get::<Option<f64>, _>("Q").unwrap_or(0.0))).collect())
    }

    async fn faults(&self, config: serde_json::Value) -> anyhow::Result<()> {
        let response =
            reqwest::Client::new().put(format!("{}/__sandbox/faults", self.sandbox.base)).json(&config).send().await?;
        anyhow::ensure!(response.status().is_success(), "setting the sandbox faults");
        Ok(())
    }

    /// Every order the store has, read with the faults off: the ground truth of what was placed.
    async fn store_orders(&self) -> anyhow::Result<Vec<u64>> {
        let query = vec![("status".to_owned(), "processing,completed".to_owned())];
        let orders: Vec<serde_json::Value> = self.woo.list("/orders", query).try_collect().await?;
        Ok(orders.iter().filter_map(|o| o["id"].as_u64()).collect())
    }

    /// Orders applied in Counterpoint and written back to the store.
    async fn done(&self) -> anyhow::Result<usize> {
        let mut db = self.replica_db().await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE STATUS = 'APPLIED' AND WOO_SYNCED_DT IS NOT NULL",
        )
        .fetch_one(&mut db)
        .await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// How many of `ids` are applied in Counterpoint and written back.
    async fn done_of(&self, ids: &[u64]) -> anyhow::Result<usize> {
        let mut db = self.replica_db().await?;
        let done: std::collections::HashSet<i64> = sqlx::query_scalar(
            "SELECT WOO_ORDER_ID FROM USER_ORDER_STAGING WHERE STATUS = 'APPLIED' AND WOO_SYNCED_DT IS NOT NULL",
        )
        .fetch_all(&mut db)
        .await?
        .into_iter()
        .collect();
        Ok(ids.iter().filter(|id| i64::try_from(**id).is_ok_and(|id| done.contains(&id))).count())
    }

    async fn wait_done(&self, want: usize, limit: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        while self.done().await? < want {
            anyhow::ensure!(
                start.elapsed() < limit,
                "after {limit:?} only {} of {want} orders are applied and noted",
                self.done().await?
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(start.elapsed())
    }

    /// The end-state check over `orders` (every order the store holds).
    async fn verify(&self, orders: &[u64], before: &HashMap<String, f64>) -> anyhow::Result<Verdict> {
        let mut db = self.replica_db().await?;
        let docs: HashMap<String, i64> =
            sqlx::query_as("SELECT CUST_PO_NO, COUNT(*) FROM PS_DOC_HDR GROUP BY CUST_PO_NO")
                .fetch_all(&mut db)
                .await?
                .into_iter()
                .collect();
        let mut verdict = Verdict { orders: orders.len(), ..Verdict::default() };
        let total_docs: i64 = docs.values().sum();
        verdict.duplicates = usize::try_from(total_docs).unwrap_or(0).saturating_sub(docs.len());
        for id in orders {
            if !docs.contains_key(&id.to_string()) {
                verdict.losses += 1;
            }
            let notes = self.woo.order_notes(*id).await?;
            match notes.iter().filter(|n| n.note.starts_with("Counterpoint order DOC_ID")).count() {
                0 => verdict.missing_notes += 1,
                1 => {}
                _ => verdict.extra_notes += 1,
            }
        }
        let lines: Vec<(String, f64)> =
            sqlx::query_as("SELECT ITEM_NO, CAST(QTY_SOLD AS REAL) FROM PS_DOC_LIN").fetch_all(&mut db).await?;
        let mut ordered: HashMap<String, f64> = HashMap::new();
        for (sku, qty) in lines {
            *ordered.entry(sku).or_default() += qty;
        }
        let after = self.commitments().await?;
        for (sku, now) in &after {
            let moved = now - before.get(sku).copied().unwrap_or(0.0);
            if (moved - ordered.get(sku).copied().unwrap_or(0.0)).abs() > 1e-6 {
                verdict.commit_mismatches += 1;
            }
        }
        Ok(verdict)
    }
}

/// Places paid orders until `stop`, at most `max`, one every `every`; returns the ids the store confirmed.
fn placer(
    woo: WooClient,
    skus: Vec<String>,
    every: Duration,
    max: usize,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let mut placed = Vec::new();
        for n in 0..max {
            if stop.is_cancelled() {
                break;
            }
            let order = crate::bench_common::sample_order(&skus, n);
            // The sandbox's faults answer before it acts, so placing again after one cannot double an order.
            for _ in 0..20 {
                match woo.create_order(&order).await {
                    Ok(created) => {
                        placed.push(created.id);
                        break;
                    }
                    Err(e) => tracing::debug!(error = %e, "placing again"),
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
        placed
    })
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
    let app = crate::app::App::build(crate::config::Config::load(&config)?).await?;
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
        .bind(after.first().and_then(|id| i64::try_from(*id).ok()).unwrap_or(-1))
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
