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
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn start() -> Receiver {
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

    fn of_kind(&self, kind: &str) -> Vec<Value> {
        self.seen.lock().expect("lock").iter().filter(|a| a["kind"] == kind).cloned().collect()
    }

    /// Waits until `n` alerts of `kind` arrived, for at most `limit`.
    async fn wait_for(&self, kind: &str, n: usize, limit: Duration) -> Vec<Value> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_the_webhook_once_per_condition() {
    let receiver = Receiver::start().await;
    let shop = Shop::open(&[], 5, &format!("\n[alerts]\nwebhook_url = \"{}\"\n", receiver.url)).await;
    shop.stranger_product().await;
    let _daemon = shop.daemon();
    let line = vec![LineItemWrite { sku: Some("NOT-IN-CP".into()), quantity: 1, ..LineItemWrite::default() }];
    let order = shop.place_lines(1, 0, line).await;

    // max_attempts is 3 in the shop's config: the order goes DEAD and the operator is told which one and why.
    let dead = receiver.wait_for("order_dead", 1, Duration::from_secs(30)).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let text = dead[0].to_string();
    assert!(text.contains(&format!("#{order}")) && text.contains("unknown SKU NOT-IN-CP"), "{text}");
    assert_eq!(dead[0]["source"], "cpbridge");

    // WooCommerce goes down: the poll fails on every run, and one alert says so.
    shop.faults(1.0).await;
    let down = receiver.wait_for("woocommerce_down", 1, Duration::from_secs(40)).await;
    assert_eq!(down[0]["subject"], "orders.pull", "{down:?}");
    let mut state = SqliteConnection::connect(&format!("sqlite:{}", shop.state_path().display())).await.expect("state");
    let start = Instant::now();
    while sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM job_runs WHERE job = 'orders.pull' AND outcome = 'failed'")
        .fetch_one(&mut state)
        .await
        .expect("runs")
        < 3
    {
        assert!(start.elapsed() < Duration::from_secs(60), "the poll keeps running and failing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(receiver.of_kind("woocommerce_down").len(), 1, "no storm while it stays down");

    // It comes back, then fails again: that is a new condition, and a second alert.
    shop.faults(0.0).await;
    let start = Instant::now();
    loop {
        let last: Option<String> =
            sqlx::query_scalar("SELECT outcome FROM job_runs WHERE job = 'orders.pull' ORDER BY run_id DESC LIMIT 1")
                .fetch_optional(&mut state)
                .await
                .expect("last run");
        if last.as_deref() == Some("ok") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the poll recovers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shop.faults(1.0).await;
    receiver.wait_for("woocommerce_down", 2, Duration::from_secs(40)).await;
    shop.faults(0.0).await;

    // Counterpoint fails under cpbridge (here its staging table is gone): one alert names the database and table.
    let mut db = shop.replica().await;
    sqlx::query("ALTER TABLE USER_ORDER_STAGING RENAME TO USER_ORDER_STAGING_AWAY")
        .execute(&mut db)
        .await
        .expect("away");
    let cp_down = receiver.wait_for("counterpoint_down", 1, Duration::from_secs(30)).await;
    let text = cp_down[0].to_string();
    assert!(text.contains("USER_ORDER_STAGING"), "{text}");
    sqlx::query("ALTER TABLE USER_ORDER_STAGING_AWAY RENAME TO USER_ORDER_STAGING")
        .execute(&mut db)
        .await
        .expect("back");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = receiver.of_kind("counterpoint_down");
    let jobs: std::collections::BTreeSet<&str> =
        all.iter().map(|a| a["subject"].as_str().unwrap_or_default()).collect();
    assert_eq!(all.len(), jobs.len(), "one alert per failing job: {all:?}");
}
