//! The bench's rig: a seeded replica, the sandbox with products, a daemon config, and `cpbridge run` as a child
//! process that can be killed at any instant.

use super::*;
use cpbridge_core::WooOrderId;

/// A `cpbridge run` child process; SIGKILLed when dropped.
pub(super) struct DaemonChild(Child);

impl DaemonChild {
    /// Starts it, its errors appended to `daemon.log` beside the config.
    pub(super) fn start(config: &Path) -> anyhow::Result<DaemonChild> {
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
    pub(super) fn kill(mut self) {
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
pub(super) struct Rig {
    pub(super) dir: tempfile::TempDir,
    pub(super) sandbox: SandboxChild,
    pub(super) woo: WooClient,
    pub(super) replica: PathBuf,
    pub(super) config: PathBuf,
    pub(super) skus: Vec<String>,
    pub(super) port: u16,
}

pub(super) fn seed(replica: &Path, items: usize) -> anyhow::Result<()> {
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

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Rig {
    pub(super) async fn open(items: usize, products: usize, schedule: &str) -> anyhow::Result<Rig> {
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
        crate::devtools::bench_common::stock_products(&woo, &skus).await?;
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

    pub(super) async fn replica_db(&self) -> anyhow::Result<SqliteConnection> {
        Ok(SqliteConnection::connect(&format!("sqlite:{}", self.replica.display())).await?)
    }

    pub(super) async fn state_db(&self) -> anyhow::Result<SqliteConnection> {
        Ok(SqliteConnection::connect(&format!("sqlite:{}", self.dir.path().join("state.db").display())).await?)
    }

    /// `QTY_COMMIT` per item at MAIN.
    pub(super) async fn commitments(&self) -> anyhow::Result<HashMap<String, f64>> {
        let mut db = self.replica_db().await?;
        let rows = sqlx::query("SELECT ITEM_NO, CAST(QTY_COMMIT AS REAL) AS Q FROM IM_INV WHERE LOC_ID = 'MAIN'")
            .fetch_all(&mut db)
            .await?;
        Ok(rows.into_iter().map(|r| (r.get("ITEM_NO"), r.get::<Option<f64>, _>("Q").unwrap_or(0.0))).collect())
    }

    pub(super) async fn faults(&self, config: serde_json::Value) -> anyhow::Result<()> {
        let response =
            reqwest::Client::new().put(format!("{}/__sandbox/faults", self.sandbox.base)).json(&config).send().await?;
        anyhow::ensure!(response.status().is_success(), "setting the sandbox faults");
        Ok(())
    }

    /// Every order the store has, read with the faults off: the ground truth of what was placed.
    pub(super) async fn store_orders(&self) -> anyhow::Result<Vec<WooOrderId>> {
        let query = vec![("status".to_owned(), "processing,completed".to_owned())];
        let orders: Vec<serde_json::Value> = self.woo.list("/orders", query).try_collect().await?;
        Ok(orders.iter().filter_map(|o| o["id"].as_u64()).filter_map(|id| WooOrderId::try_from(id).ok()).collect())
    }

    /// Orders applied in Counterpoint and written back to the store.
    pub(super) async fn done(&self) -> anyhow::Result<usize> {
        let mut db = self.replica_db().await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE STATUS = 'APPLIED' AND WOO_SYNCED_DT IS NOT NULL",
        )
        .fetch_one(&mut db)
        .await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// How many of `ids` are applied in Counterpoint and written back.
    pub(super) async fn done_of(&self, ids: &[WooOrderId]) -> anyhow::Result<usize> {
        let mut db = self.replica_db().await?;
        let done: std::collections::HashSet<i64> = sqlx::query_scalar(
            "SELECT WOO_ORDER_ID FROM USER_ORDER_STAGING WHERE STATUS = 'APPLIED' AND WOO_SYNCED_DT IS NOT NULL",
        )
        .fetch_all(&mut db)
        .await?
        .into_iter()
        .collect();
        Ok(ids.iter().filter(|id| done.contains(&id.as_i64())).count())
    }

    pub(super) async fn wait_done(&self, want: usize, limit: Duration) -> anyhow::Result<Duration> {
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
    pub(super) async fn verify(&self, orders: &[WooOrderId], before: &HashMap<String, f64>) -> anyhow::Result<Verdict> {
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
pub(super) fn placer(
    woo: WooClient,
    skus: Vec<String>,
    every: Duration,
    max: usize,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Vec<WooOrderId>> {
    tokio::spawn(async move {
        let mut placed = Vec::new();
        for n in 0..max {
            if stop.is_cancelled() {
                break;
            }
            let order = crate::devtools::bench_common::sample_order(&skus, n);
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
