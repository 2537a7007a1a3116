//! The order pipeline end to end: the sandbox store, a seeded Counterpoint replica, and the real `cpbridge` binary
//! (`run`, `orders`, `dlq`). Orders are placed through WooCommerce's API and checked in Counterpoint's tables and
//! back on the WooCommerce orders.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cpbridge_woo::model::{BatchWrite, CustomerWrite, LineItemWrite, OrderWrite, ProductWrite, WebhookWrite};
use cpbridge_woo::{Credentials, Replay, WooClient, WooConfig};
use sqlx::{Connection as _, Row as _, SqliteConnection};

use crate::{Running, start_sandbox, stderr, stdout};

pub const WEBHOOK_SECRET: &str = "whsec-blackbox";

/// The outbound syncs stay out of the order tests' way: they run only when a test runs them.
pub const SYNCS_BY_HAND: &str =
    "products_secs = 0\ninventory_events_secs = 0\ninventory_reconcile_secs = 0\ncustomers_secs = 0";

/// A sandbox store with products for the first items of a seeded replica, and a config file for cpbridge.
pub struct Shop {
    pub dir: tempfile::TempDir,
    pub sandbox: Running,
    pub woo: WooClient,
    pub replica: PathBuf,
    pub config: PathBuf,
    pub skus: Vec<String>,
    /// Account e-mail of each WooCommerce customer the test created; their orders are billed to it.
    pub emails: std::sync::Mutex<HashMap<u64, String>>,
}

pub struct Daemon {
    pub child: Child,
    pub base: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The kinds of every alert the shop's cpbridge raised, oldest first (from its state store).
pub async fn alert_kinds(shop: &Shop) -> Vec<String> {
    let mut state =
        SqliteConnection::connect(&format!("sqlite:{}", shop.state_path().display())).await.expect("state store");
    sqlx::query_scalar("SELECT kind FROM alerts ORDER BY alert_id").fetch_all(&mut state).await.expect("alerts")
}

impl Shop {
    pub async fn open(sandbox_flags: &[&str], items: usize, orders_extra: &str) -> Shop {
        Shop::open_seeded(200, sandbox_flags, items, orders_extra).await
    }

    /// A shop whose replica has `seeded` items, `items` of them already products in the sandbox.
    pub async fn open_seeded(seeded: usize, sandbox_flags: &[&str], items: usize, orders_extra: &str) -> Shop {
        let dir = tempfile::tempdir().expect("tempdir");
        let replica = dir.path().join("cp.db");
        let seeded = seeded.to_string();
        let seed = crate::cpbridge(&[
            "cp",
            "seed",
            "--db",
            &crate::db_arg(&replica),
            "--items",
            &seeded,
            "--customers",
            "20",
            "--rules",
            "5",
        ]);
        assert!(seed.status.success(), "seed: {}", stderr(&seed));
        let sandbox = start_sandbox(sandbox_flags);
        let woo = WooClient::new(WooConfig::new(&sandbox.base, Credentials::new(&sandbox.key, &sandbox.secret)))
            .expect("client");
        let mut db = SqliteConnection::connect(&format!("sqlite:{}", replica.display())).await.expect("replica");
        let rows = sqlx::query(
            "SELECT ITEM_NO, CAST(PRC_1 AS REAL) AS PRC_1 FROM IM_ITEM WHERE STAT = 'A' AND ITEM_TYP = 'I' AND PRC_1 > 0 ORDER BY ITEM_NO LIMIT ?1",
        )
        .bind(i64::try_from(items).expect("count"))
        .fetch_all(&mut db)
        .await
        .expect("items");
        let mut write = BatchWrite::default();
        let mut skus = Vec::new();
        for row in rows {
            let sku: String = row.get("ITEM_NO");
            let price: f64 = row.get("PRC_1");
            write.create.push(ProductWrite {
                name: Some(format!("Item {sku}")),
                sku: Some(sku.clone().into()),
                regular_price: Some(format!("{price:.2}")),
                manage_stock: Some(true),
                stock_quantity: Some(100_000),
                ..ProductWrite::default()
            });
            skus.push(sku);
        }
        if !write.create.is_empty() {
            let outcome = woo.batch_products(write).await.expect("products");
            assert_eq!(outcome.failures().count(), 0, "every product is created");
        }
        let shop = Shop {
            config: dir.path().join("cpbridge.toml"),
            dir,
            sandbox,
            woo,
            replica,
            skus,
            emails: Default::default(),
        };
        shop.write_config(orders_extra);
        shop
    }

    pub fn write_config(&self, orders_extra: &str) {
        self.write_config_with(SYNCS_BY_HAND, orders_extra);
    }

    /// The config with `sync_schedule` (the `products_secs`, `inventory_*_secs` lines) and `extra` at the end.
    pub fn write_config_with(&self, sync_schedule: &str, orders_extra: &str) {
        let text = format!(
            r#"
[counterpoint]
url = "sqlite:{replica}"

[woocommerce]
url = "{base}"
consumer_key = "{key}"
consumer_secret = "{secret}"
webhook_secret = "{WEBHOOK_SECRET}"
timeout_secs = 10

[state]
path = "{state}"

[server]
listen = "127.0.0.1:0"

[schedule]
order_pull_secs = 1.0
order_process_secs = 0.5
order_writeback_secs = 0.3
order_status_secs = 0.5
intake_secs = 0.3
{sync_schedule}

[orders]
max_attempts = 3
lease_secs = 10
retry = {{ base_secs = 0.05, cap_secs = 0.2 }}
woo_retry = {{ base_secs = 0.05, cap_secs = 0.5 }}
{orders_extra}
"#,
            replica = self.replica.display(),
            base = self.sandbox.base,
            key = self.sandbox.key,
            secret = self.sandbox.secret,
            state = self.state_path().display(),
        );
        std::fs::write(&self.config, text).expect("config written");
    }

    /// A product with SKU `NOT-IN-CP`, which no Counterpoint item has.
    pub async fn stranger_product(&self) {
        let stranger = self
            .woo
            .create_product(&ProductWrite {
                name: Some("Not in Counterpoint".into()),
                sku: Some("NOT-IN-CP".into()),
                regular_price: Some("9.99".into()),
                ..ProductWrite::default()
            })
            .await
            .expect("product");
        assert!(stranger.id > 0);
    }

    /// Sets the sandbox's share of injected 5xx answers.
    pub async fn faults(&self, error_rate: f64) {
        let response = reqwest::Client::new()
            .put(format!("{}/__sandbox/faults", self.sandbox.base))
            .json(&serde_json::json!({ "error_rate": error_rate }))
            .send()
            .await
            .expect("faults");
        assert!(response.status().is_success());
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// Runs `cpbridge ARGS --config <this shop's config>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        let config = self.config.to_str().expect("utf-8 path");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", config]);
        crate::cpbridge(&all)
    }

    pub fn daemon(&self) -> Daemon {
        self.daemon_logging(None)
    }

    /// `cpbridge run`, with its log (at debug level) written to `log` when given.
    pub fn daemon_logging(&self, log: Option<&std::path::Path>) -> Daemon {
        let (level, stderr) = match log {
            Some(path) => ("debug", Stdio::from(std::fs::File::create(path).expect("log file"))),
            None => ("warn", Stdio::null()),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_cpbridge"))
            .args(["run", "--config", self.config.to_str().expect("utf-8 path")])
            .env_remove("CPBRIDGE_CP_URL")
            .env("CPBRIDGE_LOG", level)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("cpbridge run starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut base = String::new();
        for _ in 0..5 {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(url) = line.strip_prefix("cpbridge listening on ") {
                base = url.trim().to_owned();
                break;
            }
        }
        assert!(base.starts_with("http://127.0.0.1:"), "cpbridge run prints its address: {base:?}");
        // Keep reading so the pipe never fills.
        std::thread::spawn(move || for _ in lines {});
        Daemon { child, base }
    }

    /// Registers order webhooks pointing at the daemon; returns their ids.
    pub async fn hook(&self, daemon: &Daemon) -> Vec<u64> {
        self.hook_to(&daemon.base).await
    }

    /// Creates the order webhooks of the sandbox, delivering to the cpbridge at `base`.
    pub async fn hook_to(&self, base: &str) -> Vec<u64> {
        let mut ids = Vec::new();
        for topic in ["order.created", "order.updated"] {
            let write = WebhookWrite {
                name: Some(format!("cpbridge {topic}")),
                status: Some("active".into()),
                topic: topic.into(),
                delivery_url: format!("{base}/webhooks/woocommerce"),
                secret: Some(WEBHOOK_SECRET.into()),
                ..WebhookWrite::default()
            };
            // Under injected faults: a fault answers before the store acts, so creating again cannot double it.
            let mut made = None;
            for _ in 0..20 {
                match self.woo.create_webhook(&write).await {
                    Ok(hook) => {
                        made = Some(hook);
                        break;
                    }
                    Err(e) if matches!(e.status(), Some(429 | 500 | 502 | 503)) => continue,
                    Err(e) => panic!("webhook {topic} not created: {e}"),
                }
            }
            let hook = made.unwrap_or_else(|| panic!("webhook {topic} not created in 20 tries"));
            ids.push(hook.id);
        }
        ids
    }

    pub async fn customer(&self, email: &str) -> u64 {
        let id = self
            .woo
            .create_customer(&CustomerWrite {
                email: Some(email.into()),
                first_name: Some("Web".into()),
                last_name: Some(format!("Buyer {email}")),
                ..CustomerWrite::default()
            })
            .await
            .expect("customer")
            .id;
        self.emails.lock().expect("lock").insert(id, email.to_owned());
        id
    }

    /// Places paid order `n`: one to three lines of the shop's SKUs, for `customer_id` (0 for a guest).
    pub async fn place(&self, n: usize, customer_id: u64) -> u64 {
        let lines = (0..=(n % 3))
            .map(|k| LineItemWrite {
                sku: Some(self.skus[(n * 7 + k * 3) % self.skus.len()].clone().into()),
                quantity: i64::try_from(1 + (n + k) % 3).expect("qty"),
                ..LineItemWrite::default()
            })
            .collect();
        self.place_lines(n, customer_id, lines).await
    }

    pub async fn place_lines(&self, n: usize, customer_id: u64, line_items: Vec<LineItemWrite>) -> u64 {
        let email = self.emails.lock().expect("lock").get(&customer_id).cloned();
        let email = email.unwrap_or_else(|| format!("pat{n}@example.test"));
        let billing = serde_json::json!({
            "first_name": "Pat", "last_name": format!("Shopper{n}"), "address_1": "1 Main St", "city": "San Jose",
            "state": "CA", "postcode": "95112", "country": "US", "email": email,
            "phone": "408-555-0100"
        });
        let order = OrderWrite {
            status: Some("processing".into()),
            set_paid: Some(true),
            customer_id: Some(customer_id),
            payment_method: Some("stripe".into()),
            payment_method_title: Some("Credit card".into()),
            transaction_id: Some(format!("ch_{n}")),
            billing: Some(serde_json::from_value(billing).expect("billing")),
            line_items,
            shipping_lines: vec![
                serde_json::json!({"method_id": "flat_rate", "method_title": "Flat rate", "total": "5.00"}),
            ],
            ..OrderWrite::default()
        };
        // An injected fault answers before the store acts, so placing again cannot double the order.
        for _ in 0..20 {
            match self.woo.create_order(&order).await {
                Ok(placed) => return placed.id.get(),
                Err(e) if matches!(e.status(), Some(429 | 500 | 502 | 503)) => continue,
                Err(e) => panic!("order {n} not placed: {e}"),
            }
        }
        panic!("order {n} not placed in 20 tries")
    }

    pub async fn replica(&self) -> SqliteConnection {
        SqliteConnection::connect(&format!("sqlite:{}", self.replica.display())).await.expect("replica")
    }

    /// `(applied and written back, all staged)`.
    pub async fn progress(&self) -> (i64, i64) {
        let mut db = self.replica().await;
        let row = sqlx::query(
            "SELECT SUM(CASE WHEN STATUS = 'APPLIED' AND WOO_SYNCED_DT IS NOT NULL THEN 1 ELSE 0 END) AS DONE, \
             COUNT(*) AS ALL_ROWS FROM USER_ORDER_STAGING",
        )
        .fetch_one(&mut db)
        .await
        .expect("progress");
        (row.get::<Option<i64>, _>("DONE").unwrap_or(0), row.get("ALL_ROWS"))
    }

    /// Waits until `want` orders are applied and written back, for at most `limit`.
    pub async fn wait_done(&self, want: i64, limit: Duration) {
        let start = Instant::now();
        loop {
            let (done, staged) = self.progress().await;
            if done >= want {
                return;
            }
            assert!(start.elapsed() < limit, "after {limit:?}: {done} of {want} done, {staged} staged");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `QTY_COMMIT` per item at MAIN.
    pub async fn commitments(&self) -> HashMap<String, f64> {
        let mut db = self.replica().await;
        sqlx::query("SELECT ITEM_NO, CAST(QTY_COMMIT AS REAL) AS QTY_COMMIT FROM IM_INV WHERE LOC_ID = 'MAIN'")
            .fetch_all(&mut db)
            .await
            .expect("IM_INV")
            .into_iter()
            .map(|r| (r.get("ITEM_NO"), r.get::<Option<f64>, _>("QTY_COMMIT").unwrap_or(0.0)))
            .collect()
    }

    /// Checks every placed order against Counterpoint and back: one document each, lines, totals, payment, stock
    /// committed, and the note and meta on the WooCommerce order, exactly once.
    pub async fn check_all(&self, placed: &[u64], before: &HashMap<String, f64>) {
        let mut db = self.replica().await;
        let docs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM PS_DOC_HDR").fetch_one(&mut db).await.expect("n");
        assert_eq!(docs, i64::try_from(placed.len()).expect("n"), "one Counterpoint document per order");
        let mut ordered: HashMap<String, f64> = HashMap::new();
        for woo_id in placed {
            let order = self.woo.order(crate::woo_order(*woo_id)).await.expect("order");
            let row = sqlx::query(
                "SELECT s.CP_DOC_ID, s.CP_TKT_NO, CAST(t.TOT AS REAL) AS TOT, CAST(t.AMT_DUE AS REAL) AS AMT_DUE, h.CUST_NO \
                 FROM USER_ORDER_STAGING s JOIN PS_DOC_HDR h ON h.DOC_ID = s.CP_DOC_ID \
                 JOIN PS_DOC_HDR_TOT t ON t.DOC_ID = s.CP_DOC_ID WHERE s.WOO_ORDER_ID = ?1 AND s.STATUS = 'APPLIED'",
            )
            .bind(i64::try_from(*woo_id).expect("id"))
            .fetch_one(&mut db)
            .await
            .unwrap_or_else(|e| panic!("order {woo_id} has one applied document: {e}"));
            let doc_id: i64 = row.get("CP_DOC_ID");
            let tkt_no: String = row.get("CP_TKT_NO");
            let total: f64 = order.total.expect("total").to_string().parse().expect("number");
            assert!((row.get::<f64, _>("TOT") - total).abs() < 0.005, "order {woo_id}: TOT matches the total");
            assert!(row.get::<f64, _>("AMT_DUE").abs() < 0.005, "order {woo_id}: paid in full");
            let lines = sqlx::query("SELECT ITEM_NO, CAST(QTY_SOLD AS REAL) AS QTY_SOLD FROM PS_DOC_LIN WHERE DOC_ID = ?1 ORDER BY LIN_SEQ_NO")
                .bind(doc_id)
                .fetch_all(&mut db)
                .await
                .expect("lines");
            assert_eq!(lines.len(), order.line_items.len(), "order {woo_id}: one line per item");
            for (line, item) in lines.iter().zip(&order.line_items) {
                assert_eq!(line.get::<String, _>("ITEM_NO"), item.sku.clone().unwrap_or_default());
                let qty: f64 = line.get("QTY_SOLD");
                assert_eq!(qty, item.quantity.unwrap_or(0) as f64);
                *ordered.entry(line.get("ITEM_NO")).or_default() += qty;
            }
            let pmt = sqlx::query(
                "SELECT PAY_COD, CAST(AMT AS REAL) AS AMT, FINAL_PMT, DESCR FROM PS_DOC_PMT WHERE DOC_ID = ?1",
            )
            .bind(doc_id)
            .fetch_all(&mut db)
            .await
            .expect("payments");
            assert_eq!(pmt.len(), 1, "order {woo_id}: one payment");
            assert_eq!(pmt[0].get::<String, _>("PAY_COD"), "CREDIT");
            assert!((pmt[0].get::<f64, _>("AMT") - total).abs() < 0.005);
            assert_eq!(pmt[0].get::<String, _>("FINAL_PMT"), "N", "a web payment is a deposit");

            let meta = cpbridge_woo::model::meta_text(&order.meta_data, "_cp_doc_id").map(|m| m.into_owned());
            assert_eq!(meta, Some(doc_id.to_string()), "order {woo_id} carries _cp_doc_id");
            let notes = self.woo.order_notes(crate::woo_order(*woo_id)).await.expect("notes");
            let ours = notes.iter().filter(|n| n.note.contains(&format!("DOC_ID {doc_id}, ticket TKT_NO {tkt_no}")));
            assert_eq!(ours.count(), 1, "order {woo_id} has exactly one Counterpoint note");
        }
        let after = self.commitments().await;
        for (sku, qty) in &ordered {
            let moved = after.get(sku).copied().unwrap_or(0.0) - before.get(sku).copied().unwrap_or(0.0);
            assert!((moved - qty).abs() < 1e-6, "IM_INV.QTY_COMMIT of {sku} rose by {moved}, ordered {qty}");
        }
    }
}

/// POSTs a signed delivery to the daemon, as WooCommerce would.
pub async fn deliver(daemon: &Daemon, topic: &str, body: &[u8], secret: &str) -> u16 {
    let signature = cpbridge_woo::webhook::sign(secret, body);
    reqwest::Client::new()
        .post(format!("{}/webhooks/woocommerce", daemon.base))
        .header("content-type", "application/json")
        .header("x-wc-webhook-topic", topic)
        .header("x-wc-webhook-signature", signature)
        .header("x-wc-webhook-delivery-id", "777")
        .body(body.to_vec())
        .send()
        .await
        .expect("delivery")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_orders_land_once_through_webhooks_duplicates_and_lost_deliveries() {
    let shop = Shop::open(&[], 40, "").await;
    let before = shop.commitments().await;
    let daemon = shop.daemon();
    let hooks = shop.hook(&daemon).await;
    assert_eq!(deliver(&daemon, "order.created", br#"{"id":1}"#, "wrong-secret").await, 401, "bad signature refused");

    // A registered customer whose e-mail Counterpoint knows, and one it does not.
    let mut db = shop.replica().await;
    let known: String = sqlx::query_scalar("SELECT EMAIL_ADRS_1 FROM AR_CUST WHERE CUST_NO = 'C000001'")
        .fetch_one(&mut db)
        .await
        .expect("seeded customer");
    let known_id = shop.customer(&known).await;
    let new_id = shop.customer("first.time@example.test").await;

    let mut placed = Vec::new();
    for n in 0..70 {
        let customer = match n % 5 {
            0 => known_id,
            1 => new_id,
            _ => 0,
        };
        placed.push(shop.place(n, customer).await);
    }
    // Duplicated deliveries, with stale bodies: harmless.
    for id in placed.iter().take(10) {
        let body = format!(r#"{{"id":{id},"status":"pending"}}"#);
        for _ in 0..2 {
            assert_eq!(deliver(&daemon, "order.updated", body.as_bytes(), WEBHOOK_SECRET).await, 200);
        }
    }
    // Lost deliveries: the webhooks are paused, so only the poll sees these.
    for id in &hooks {
        let _: serde_json::Value = shop
            .woo
            .send(http::Method::PUT, &format!("/webhooks/{id}"), &serde_json::json!({"status": "paused"}), Replay::Safe)
            .await
            .expect("pause");
    }
    for n in 70..100 {
        placed.push(shop.place(n, 0).await);
    }
    shop.wait_done(100, Duration::from_secs(120)).await;
    shop.check_all(&placed, &before).await;

    // Registered customers: the known e-mail matched C000001; the new one became a WEB customer, once.
    let custs: Vec<String> = sqlx::query_scalar("SELECT DISTINCT h.CUST_NO FROM PS_DOC_HDR h ORDER BY h.CUST_NO")
        .fetch_all(&mut db)
        .await
        .expect("customers");
    assert!(custs.contains(&"C000001".to_owned()) && custs.contains(&"CASH".to_owned()), "{custs:?}");
    let web: Vec<String> = custs.iter().filter(|c| c.starts_with("WEB")).cloned().collect();
    assert_eq!(web, vec!["WEB000001".to_owned()], "one new customer for the new e-mail");
    let email: Option<String> = sqlx::query_scalar("SELECT EMAIL_ADRS_1 FROM AR_CUST WHERE CUST_NO = 'WEB000001'")
        .fetch_one(&mut db)
        .await
        .expect("new customer");
    assert_eq!(email.as_deref(), Some("first.time@example.test"), "created from the billing address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_daemon_mid_run_loses_nothing_and_duplicates_nothing() {
    let shop = Shop::open(&["--latency-ms", "15"], 30, "batch_size = 5").await;
    let before = shop.commitments().await;
    let first = shop.daemon();
    shop.hook(&first).await;
    let mut placed = Vec::new();
    let mut daemon = Some(first);
    let mut kills = 0;
    for n in 0..100 {
        placed.push(shop.place(n, 0).await);
        // Kill it twice while it is working, and start it again on a new port; the poll finds what the webhooks
        // could not deliver meanwhile.
        if n == 30 || n == 65 {
            // Kill only once it is working: some orders are through, and more keep arriving.
            shop.wait_done(if n == 30 { 5 } else { 35 }, Duration::from_secs(60)).await;
            if let Some(mut d) = daemon.take() {
                d.child.kill().expect("SIGKILL");
                let _ = d.child.wait();
                kills += 1;
            }
            daemon = Some(shop.daemon());
        }
    }
    assert_eq!(kills, 2);
    shop.wait_done(100, Duration::from_secs(150)).await;
    shop.check_all(&placed, &before).await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_work_stops_cleanly_and_a_restart_finishes_the_rest() {
    let shop = Shop::open(&["--latency-ms", "20"], 20, "batch_size = 3").await;
    let before = shop.commitments().await;
    // Placed before cpbridge starts, so that its first poll stages all 40 at once and the stop lands mid-work
    // (placed one by one under a running daemon, they could all be done before the signal).
    let mut placed = Vec::new();
    for n in 0..40 {
        placed.push(shop.place(n, 0).await);
    }
    let mut daemon = shop.daemon();
    shop.hook(&daemon).await;
    shop.wait_done(3, Duration::from_secs(60)).await;
    let pid = daemon.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    assert!(sent.success());
    // It finishes the runs in progress and exits 0 within its 20 s grace period (bounded wait).
    let start = Instant::now();
    let status = loop {
        if let Some(status) = daemon.child.try_wait().expect("wait") {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "cpbridge run did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a clean stop exits 0: {status:?}");
    let (done, staged) = shop.progress().await;
    assert!(done < 40, "stopped in the middle of the work ({done} of {staged} done)");
    drop(daemon);
    // Back up with the stock sync on too: a change made while it was down still reaches the store.
    shop.write_config_with(
        "products_secs = 0\ninventory_events_secs = 0.5\ninventory_reconcile_secs = 0\ncustomers_secs = 0",
        "batch_size = 3",
    );
    let again = shop.daemon();
    shop.wait_done(40, Duration::from_secs(120)).await;
    shop.check_all(&placed, &before).await;

    let health = reqwest::get(format!("{}/healthz", again.base)).await.expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    let metrics = reqwest::get(format!("{}/metrics", again.base)).await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("cpbridge_staged_orders{status=\"APPLIED\"} 40"), "{metrics}");
    assert!(metrics.contains("cpbridge_dead_letter_orders 0"), "{metrics}");
    let status = shop.cli(&["status", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status --json");
    assert_eq!((report["staging"]["APPLIED"].as_i64(), report["dead_letter"].as_i64()), (Some(40), Some(0)));
    // Every change the orders made to IM_INV was pushed or found unchanged; none is left behind.
    let start = Instant::now();
    loop {
        let mut db = shop.replica().await;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM USER_INV_CHANGES WHERE CONSUMED_DT IS NULL")
            .fetch_one(&mut db)
            .await
            .expect("changes");
        if left == 0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{left} stock changes never consumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_errors_and_latency_only_slow_things_down() {
    let shop = Shop::open(
        &["--error-rate", "0.15", "--throttle-rate", "0.05", "--latency-ms", "10", "--fault-seed", "7"],
        30,
        "",
    )
    .await;
    let before = shop.commitments().await;
    let daemon = shop.daemon();
    shop.hook(&daemon).await;
    let mut placed = Vec::new();
    for n in 0..40 {
        // The sandbox fails the test's own requests too; the client retries them.
        placed.push(shop.place(n, 0).await);
    }
    shop.wait_done(40, Duration::from_secs(150)).await;
    let stats: serde_json::Value = reqwest::get(format!("{}/__sandbox/stats", shop.sandbox.base))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let faults: u64 = stats["faults"].as_object().map(|m| m.values().filter_map(|v| v.as_u64()).sum()).unwrap_or(0);
    assert!(faults >= 5, "the sandbox injected faults along the way: {stats}");
    // The check reads 40 orders back; without faults, so that only cpbridge's retries are under test.
    shop.faults(0.0).await;
    shop.check_all(&placed, &before).await;
}

fn staging_ids(text: &str) -> BTreeMap<i64, String> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let id = parts.next()?.parse().ok()?;
            Some((id, l.to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_kind_goes_dead_with_its_reason_and_replays_once_fixed() {
    let shop = Shop::open(&[], 10, "guest_customer = \"WEBGUEST\"").await;
    let registered = shop.customer("regular@example.test").await;
    shop.stranger_product().await;
    let void_sku = shop.skus[1].clone();
    let line = |sku: &str| vec![LineItemWrite { sku: Some(sku.into()), quantity: 1, ..LineItemWrite::default() }];
    let guest = shop.place_lines(1, 0, line(&shop.skus[0])).await;
    let unknown = shop.place_lines(2, registered, line("NOT-IN-CP")).await;
    let void = shop.place_lines(3, registered, line(&void_sku)).await;
    let totals = shop.place_lines(4, registered, line(&shop.skus[2])).await;
    let mut db = shop.replica().await;
    sqlx::query("UPDATE IM_ITEM SET STAT = 'V' WHERE ITEM_NO = ?1")
        .bind(&void_sku)
        .execute(&mut db)
        .await
        .expect("void");

    // Counterpoint down: nothing is staged, the command says why, and the orders wait in WooCommerce.
    let good = shop.config.clone();
    let text = std::fs::read_to_string(&good).expect("config");
    std::fs::write(&good, text.replace(&shop.replica.display().to_string(), "/nonexistent/cp.db")).expect("down");
    let down = shop.cli(&["orders", "pull"]);
    assert!(!down.status.success());
    assert!(stderr(&down).contains("Counterpoint database"), "{}", stderr(&down));
    std::fs::write(&good, text).expect("back up");

    let pulled = shop.cli(&["orders", "pull"]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert!(stdout(&pulled).contains("\"staged\": 4"), "{}", stdout(&pulled));
    // A WooCommerce that sent totals that do not add up (a plugin's doing, say).
    let tampered = sqlx::query(
        "UPDATE USER_ORDER_STAGING SET RAW_ORDER_JSON = json_set(RAW_ORDER_JSON, '$.total', '999.00') WHERE WOO_ORDER_ID = ?1",
    )
    .bind(i64::try_from(totals).expect("id"))
    .execute(&mut db)
    .await
    .expect("tamper");
    assert_eq!(tampered.rows_affected(), 1);

    for _ in 0..3 {
        let run = shop.cli(&["orders", "process"]);
        assert!(run.status.success(), "{}", stderr(&run));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let listed = shop.cli(&["dlq", "list"]);
    let text = stdout(&listed);
    let dead = staging_ids(&text);
    assert_eq!(dead.len(), 4, "all four are DEAD:\n{text}");
    for (woo_id, reason) in [
        (guest, "customer mapping"),
        (unknown, "unknown SKU NOT-IN-CP"),
        (void, "not sellable"),
        (totals, "totals do not add up"),
    ] {
        let line =
            dead.values().find(|l| l.contains(&format!(" {woo_id} "))).unwrap_or_else(|| panic!("{woo_id}: {text}"));
        assert!(line.contains("DEAD") && line.contains(reason), "order {woo_id} says {reason:?}: {line}");
    }
    let mut state = SqliteConnection::connect(&format!("sqlite:{}", shop.state_path().display())).await.expect("state");
    let alerts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'order_dead'")
        .fetch_one(&mut state)
        .await
        .expect("alerts");
    assert_eq!(alerts, 4, "one alert per dead order");
    let first = *dead.keys().next().expect("one");
    let shown = shop.cli(&["dlq", "show", &first.to_string()]);
    assert!(stdout(&shown).contains("\"reason\"") && stdout(&shown).contains("\"order\""), "{}", stdout(&shown));

    // Fix every cause: the guest customer, the missing item, the void item; the totals come fresh from WooCommerce.
    sqlx::query(
        "INSERT INTO AR_CUST (CUST_NO, NAM, NAM_UPR, CUST_NAM_TYP, STR_ID) \
         VALUES ('WEBGUEST', 'Web guest', 'WEB GUEST', 'P', '1')",
    )
    .execute(&mut db)
    .await
    .expect("guest customer");
    sqlx::query(
        "INSERT INTO IM_ITEM (ITEM_NO, DESCR, ITEM_TYP, STAT, IS_TXBL, PRC_1, REG_PRC, IS_ECOMM_ITEM) \
         VALUES ('NOT-IN-CP', 'Now in Counterpoint', 'I', 'A', 'Y', 9.99, 9.99, 'Y')",
    )
    .execute(&mut db)
    .await
    .expect("item");
    // Set up at the fulfilment location too: cpbridge never creates stock rows.
    sqlx::query(sqlx::AssertSqlSafe(cpbridge_devtools::seed::stock_row_sql("NOT-IN-CP", "MAIN", 10)))
        .execute(&mut db)
        .await
        .expect("stock row");
    sqlx::query("UPDATE IM_ITEM SET STAT = 'A' WHERE ITEM_NO = ?1").bind(&void_sku).execute(&mut db).await.expect("A");
    let ids: Vec<String> = dead.keys().map(ToString::to_string).collect();
    let mut args = vec!["dlq", "retry"];
    args.extend(ids.iter().map(String::as_str));
    let retried = shop.cli(&args);
    assert!(retried.status.success(), "{}{}", stdout(&retried), stderr(&retried));
    assert!(stdout(&retried).contains("\"applied\": 4"), "{}", stdout(&retried));
    let docs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM PS_DOC_HDR").fetch_one(&mut db).await.expect("docs");
    assert_eq!(docs, 4);
    let empty = shop.cli(&["dlq", "list"]);
    assert!(stdout(&empty).contains("(none)"), "{}", stdout(&empty));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_counterpoint_never_cancels_on_a_guess_and_a_cancelled_order_leaves_staging() {
    let shop = Shop::open(&[], 10, "").await;
    let released = shop.place(1, 0).await;
    let voided = shop.place(2, 0).await;
    let open = shop.place(3, 0).await;
    let pulled = shop.cli(&["orders", "pull"]);
    assert!(stdout(&pulled).contains("\"staged\": 3"), "{}{}", stdout(&pulled), stderr(&pulled));
    let processed = shop.cli(&["orders", "process"]);
    assert!(stdout(&processed).contains("\"applied\": 3"), "{}", stdout(&processed));
    assert!(stdout(&processed).contains("\"written_back\": 3"), "{}", stdout(&processed));

    // Cancelled in WooCommerce before it was applied: the poll takes it out of staging, and it is never applied.
    let cancelled = shop.place(4, 0).await;
    assert!(stdout(&shop.cli(&["orders", "pull"])).contains("\"staged\": 1"));
    let _ = shop
        .woo
        .update_order(
            crate::woo_order(cancelled),
            &OrderWrite { status: Some("cancelled".into()), ..OrderWrite::default() },
        )
        .await
        .expect("cancel");
    assert!(stdout(&shop.cli(&["orders", "pull"])).contains("\"cancelled\": 1"));
    let none = shop.cli(&["orders", "process"]);
    assert!(stdout(&none).contains("\"claimed\": 0"), "{}", stdout(&none));

    // In Counterpoint: the first order is released (its -01 ticket is posted), the second leaves the open documents
    // without a release cpbridge can find (voided, or released under another number: Counterpoint does not say
    // which), the third stays open.
    let mut db = shop.replica().await;
    let doc_of = |woo: u64| {
        sqlx::query("SELECT CP_DOC_ID, CP_TKT_NO, STATUS FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID = ?1")
            .bind(i64::try_from(woo).expect("id"))
    };
    let row = doc_of(released).fetch_one(&mut db).await.expect("released");
    let tkt: String = row.get("CP_TKT_NO");
    sqlx::query(
        "INSERT INTO PS_TKT_HIST (BUS_DAT, DOC_ID, STR_ID, STA_ID, TKT_NO) VALUES ('2026-11-25', 9001, '1', 'WEB', ?1)",
    )
    .bind(format!("{tkt}-01"))
    .execute(&mut db)
    .await
    .expect("release posted");
    let row = doc_of(voided).fetch_one(&mut db).await.expect("voided");
    let doc: i64 = row.get("CP_DOC_ID");
    for table in ["PS_DOC_LIN", "PS_DOC_PMT", "PS_DOC_HDR_TOT", "PS_DOC_CONTACT", "PS_DOC_HDR"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE DOC_ID = ?1")))
            .bind(doc)
            .execute(&mut db)
            .await
            .expect("voided in Counterpoint");
    }
    let status = shop.cli(&["orders", "status"]);
    assert!(stdout(&status).contains("\"synced\": 1"), "{}{}", stdout(&status), stderr(&status));
    assert!(stdout(&status).contains("\"unknown\": 1"), "{}", stdout(&status));
    let woo_status = |id: u64| {
        let woo = &shop.woo;
        async move { woo.order(crate::woo_order(id)).await.expect("order").status.as_str().to_owned() }
    };
    assert_eq!(woo_status(released).await, "completed");
    // Never cancelled on a guess (a cancellation refunds and e-mails the customer): a note and one alert instead.
    assert_eq!(woo_status(voided).await, "processing");
    let notes = shop.woo.order_notes(crate::woo_order(voided)).await.expect("notes");
    assert_eq!(
        notes.iter().filter(|n| n.note.contains("left the open documents, and cpbridge finds no release")).count(),
        1,
        "{notes:?}"
    );
    assert_eq!(alert_kinds(&shop).await.iter().filter(|k| *k == "order_fate_unknown").count(), 1);
    assert_eq!(woo_status(open).await, "processing");
    assert_eq!(woo_status(cancelled).await, "cancelled");
    let row = doc_of(cancelled).fetch_one(&mut db).await.expect("cancelled row");
    assert_eq!(row.get::<String, _>("STATUS"), "CANCELLED");
    // A second run has nothing left to move.
    let again = shop.cli(&["orders", "status"]);
    assert!(stdout(&again).contains("\"checked\": 1"), "{}", stdout(&again));
}

/// Oversold is visible: a line Counterpoint's stock cannot cover is booked (backordered), raises one alert naming
/// the item and quantity, and counts as `backordered` in the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversold_line_is_booked_backordered_with_one_alert() {
    let shop = Shop::open(&[], 3, "").await;
    let sku = shop.skus[0].clone();
    let mut db = shop.replica().await;
    sqlx::query("UPDATE IM_INV SET QTY_ON_HND = 1, QTY_COMMIT = 0 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'")
        .bind(&sku)
        .execute(&mut db)
        .await
        .expect("one on hand");
    let line = LineItemWrite { sku: Some(sku.clone().into()), quantity: 3, ..LineItemWrite::default() };
    shop.place_lines(1, 0, vec![line]).await;
    let pulled = shop.cli(&["orders", "pull"]);
    assert!(stdout(&pulled).contains("\"staged\": 1"), "{}{}", stdout(&pulled), stderr(&pulled));
    let processed = shop.cli(&["orders", "process"]);
    assert!(stdout(&processed).contains("\"applied\": 1"), "{}", stdout(&processed));
    assert!(stdout(&processed).contains("\"backordered\": 1"), "{}", stdout(&processed));
    let kinds = alert_kinds(&shop).await;
    assert_eq!(kinds.iter().filter(|k| *k == "order_backordered").count(), 1, "{kinds:?}");
    let mut state =
        SqliteConnection::connect(&format!("sqlite:{}", shop.state_path().display())).await.expect("state store");
    let message: String = sqlx::query_scalar("SELECT message FROM alerts WHERE kind = 'order_backordered'")
        .fetch_one(&mut state)
        .await
        .expect("alert");
    assert!(message.contains(&format!("2 of {sku}")), "{message}");
    let status = shop.cli(&["status", "--json"]);
    assert!(stdout(&status).contains("order_backordered"), "{}", stdout(&status));
}
