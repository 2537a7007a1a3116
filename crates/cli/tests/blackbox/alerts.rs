//! Alerts reach the operator's webhook: a dead order says which order and why, and a system that goes down raises
//! one alert when it starts failing, not one per failed run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use cpbridge_woo::model::LineItemWrite;
use serde_json::Value;
use sqlx::{Connection as _, SqliteConnection};

use crate::orders::Shop;

/// An alert receiver on loopback, keeping every JSON body it is sent.
pub struct Receiver {
    pub url: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
        let app = axum::Router::new()
            .route(
                "/alerts",
                post(|State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>| async move {
                    seen.lock().expect("lock").push(body);
                }),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/alerts", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, seen }
    }

    pub fn of_kind(&self, kind: &str) -> Vec<Value> {
        self.seen.lock().expect("lock").iter().filter(|a| a["kind"] == kind).cloned().collect()
    }

    /// Waits until `n` alerts of `kind` arrived, for at most `limit`.
    pub async fn wait_for(&self, kind: &str, n: usize, limit: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got = self.of_kind(kind);
            if got.len() >= n {
                return got;
            }
            assert!(start.elapsed() < limit, "after {limit:?}: {} {kind} alerts of {n}: {got:?}", got.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn failed_runs(state: &mut SqliteConnection, job: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE job = ?1 AND outcome = 'failed'")
        .bind(job)
        .fetch_one(state)
        .await
        .expect("runs")
}

/// Waits until `job` has failed `n` runs in all.
async fn wait_failed(state: &mut SqliteConnection, job: &str, n: i64) {
    let start = Instant::now();
    while failed_runs(state, job).await < n {
        assert!(start.elapsed() < Duration::from_secs(60), "{job} keeps running and failing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_the_webhook_once_per_condition_at_most_hourly() {
    let receiver = Receiver::start().await;
    // One attempt per request, so that a run against a store that is down fails in milliseconds.
    let alerts = format!(
        "\n[alerts]\nwebhook_url = \"{}\"\nfailures_in_a_row = 2\nbad_signatures_per_minute = 5\n\
         [woocommerce.retry]\nattempts = 1\n",
        receiver.url
    );
    let shop = Shop::open(&[], 5, &alerts).await;
    shop.stranger_product().await;
    let daemon = shop.daemon();
    let line = vec![LineItemWrite { sku: Some("NOT-IN-CP".into()), quantity: 1, ..LineItemWrite::default() }];
    let order = shop.place_lines(1, 0, line).await;

    // max_attempts is 3 in the shop's config: the order goes DEAD and the operator is told which one and why.
    let dead = receiver.wait_for("order_dead", 1, Duration::from_secs(30)).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let text = dead[0].to_string();
    assert!(text.contains(&format!("#{order}")) && text.contains("unknown SKU NOT-IN-CP"), "{text}");
    assert_eq!(dead[0]["source"], "cpbridge");
    assert!(dead[0]["text"].as_str().is_some_and(|t| t.contains("order_dead")), "Slack's text field: {text}");

    // WooCommerce goes down: after two failed polls in a row one alert says so, and no more while it stays down.
    let mut state = SqliteConnection::connect(&format!("sqlite:{}", shop.state_path().display())).await.expect("state");
    shop.faults(1.0).await;
    let down = receiver.wait_for("woocommerce_down", 1, Duration::from_secs(60)).await;
    assert_eq!(down[0]["subject"], "orders.pull", "{down:?}");
    assert!(failed_runs(&mut state, "orders.pull").await >= 2, "not before two failures in a row");
    wait_failed(&mut state, "orders.pull", 4).await;
    // Back, then down again within the hour: the same condition, so still one alert.
    shop.faults(0.0).await;
    let ok_before: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE job = 'orders.pull' AND outcome = 'ok'")
            .fetch_one(&mut state)
            .await
            .expect("runs");
    let start = Instant::now();
    loop {
        let ok: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE job = 'orders.pull' AND outcome = 'ok'")
            .fetch_one(&mut state)
            .await
            .expect("runs");
        if ok > ok_before {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the poll recovers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shop.faults(1.0).await;
    let failed = failed_runs(&mut state, "orders.pull").await;
    wait_failed(&mut state, "orders.pull", failed + 3).await;
    shop.faults(0.0).await;
    assert_eq!(receiver.of_kind("woocommerce_down").len(), 1, "no storm: at most hourly");

    // A burst of deliveries with a bad signature: one alert, however long it goes on.
    for _ in 0..12 {
        let status = crate::orders::deliver(&daemon, "order.created", b"{\"id\":1}", "not-the-secret").await;
        assert_eq!(status, 401);
    }
    let burst = receiver.wait_for("webhook_signatures", 1, Duration::from_secs(10)).await;
    assert!(burst[0].to_string().contains("webhook secret"), "{burst:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.of_kind("webhook_signatures").len(), 1);

    // Counterpoint fails under cpbridge (here its staging table is gone): one alert per failing job, naming it.
    let mut db = shop.replica().await;
    sqlx::query("ALTER TABLE USER_ORDER_STAGING RENAME TO USER_ORDER_STAGING_AWAY")
        .execute(&mut db)
        .await
        .expect("away");
    let cp_down = receiver.wait_for("counterpoint_error", 1, Duration::from_secs(30)).await;
    let text = cp_down[0].to_string();
    assert!(text.contains("USER_ORDER_STAGING") && text.contains("2 runs in a row"), "{text}");
    let job = cp_down[0]["subject"].as_str().unwrap_or_default().to_owned();
    let failed = failed_runs(&mut state, &job).await;
    wait_failed(&mut state, &job, failed + 2).await;
    sqlx::query("ALTER TABLE USER_ORDER_STAGING_AWAY RENAME TO USER_ORDER_STAGING")
        .execute(&mut db)
        .await
        .expect("back");
    let all = receiver.of_kind("counterpoint_error");
    let jobs: std::collections::BTreeSet<&str> =
        all.iter().map(|a| a["subject"].as_str().unwrap_or_default()).collect();
    assert_eq!(all.len(), jobs.len(), "one alert per failing job: {all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_alerts_at_once() {
    let shop = Shop::open(&[], 0, "").await;
    let good = std::fs::read_to_string(&shop.config).expect("config");
    let bad =
        good.replace(&format!("consumer_secret = \"{}\"", shop.sandbox.secret), "consumer_secret = \"cs_revoked\"");
    assert_ne!(bad, good);
    std::fs::write(&shop.config, bad).expect("config");
    let pulled = shop.cli(&["orders", "pull"]);
    assert!(!pulled.status.success());
    let mut state = SqliteConnection::connect(&format!("sqlite:{}", shop.state_path().display())).await.expect("state");
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM alerts").fetch_all(&mut state).await.expect("alerts");
    assert_eq!(kinds, vec!["woocommerce_auth".to_owned()], "one failed run is enough when the key is refused");
}
