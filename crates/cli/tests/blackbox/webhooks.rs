//! Webhook self-healing: WooCommerce disables a webhook after failed deliveries, and orders then stop arriving
//! without a word. The daemon's webhook check creates the missing webhooks, re-enables disabled ones, alerts once,
//! and polls for the orders placed meanwhile, with the scheduled poll an hour away.

use std::time::{Duration, Instant};

use cpbridge_woo::Replay;
use cpbridge_woo::model::Webhook;
use sqlx::{Connection as _, SqliteConnection};

use crate::alerts::Receiver;
use crate::orders::{SYNCS_BY_HAND, Shop};

async fn active_hooks(shop: &Shop, url: &str) -> Vec<Webhook> {
    let hooks = shop.woo.webhooks().await.expect("webhooks");
    hooks.into_iter().filter(|h| h.delivery_url == url && h.status == "active").collect()
}

async fn wait_active(shop: &Shop, url: &str, n: usize, limit: Duration) -> Vec<Webhook> {
    let start = Instant::now();
    loop {
        let hooks = active_hooks(shop, url).await;
        if hooks.len() >= n {
            return hooks;
        }
        assert!(start.elapsed() < limit, "after {limit:?}: {} active webhooks of {n}", hooks.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn disable(shop: &Shop, hooks: &[Webhook]) {
    for hook in hooks {
        let body = serde_json::json!({ "status": "disabled" });
        let _: serde_json::Value = shop
            .woo
            .send(http::Method::PUT, &format!("/webhooks/{}", hook.id), &body, Replay::Safe)
            .await
            .expect("disabled");
    }
}

async fn applied(shop: &Shop, woo_ids: &[u64]) -> usize {
    let mut db = shop.replica().await;
    let mut n = 0;
    for id in woo_ids {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT CP_DOC_ID FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID = ?1 AND STATUS = 'APPLIED'",
        )
        .bind(i64::try_from(*id).expect("id"))
        .fetch_optional(&mut db)
        .await
        .expect("staging");
        n += usize::from(found.is_some());
    }
    n
}

async fn wait_applied(shop: &Shop, woo_ids: &[u64], limit: Duration) {
    let start = Instant::now();
    while applied(shop, woo_ids).await < woo_ids.len() {
        assert!(start.elapsed() < limit, "after {limit:?}: not every order of {woo_ids:?} was applied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_webhooks_are_re_enabled_with_one_alert_and_the_missed_orders_backfilled() {
    let receiver = Receiver::start().await;
    let shop = Shop::open(&[], 10, "").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let public = format!("http://127.0.0.1:{port}");
    shop.write_config_with(
        &format!("{SYNCS_BY_HAND}\nwebhooks_secs = 2"),
        &format!("\n[alerts]\nwebhook_url = \"{}\"\n", receiver.url),
    );
    // The scheduled poll runs at start and then not for an hour: only the webhook check can backfill.
    let text = std::fs::read_to_string(&shop.config).expect("config");
    let text = text
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"{public}\""))
        .replace("order_pull_secs = 1.0", "order_pull_secs = 3600");
    std::fs::write(&shop.config, text).expect("config");
    let url = format!("{public}/webhooks/woocommerce");

    let daemon = shop.daemon();
    // No webhook at all: the check creates both, and says so once.
    let hooks = wait_active(&shop, &url, 2, Duration::from_secs(20)).await;
    receiver.wait_for("webhook_recreated", 1, Duration::from_secs(10)).await;
    let first = shop.place(1, 0).await;
    wait_applied(&shop, &[first], Duration::from_secs(20)).await;

    // WooCommerce disables both (as after 5 failed deliveries); orders placed now are not delivered.
    disable(&shop, &hooks).await;
    let mut missed = Vec::new();
    for n in 2..5 {
        missed.push(shop.place(n, 0).await);
    }
    wait_applied(&shop, &missed, Duration::from_secs(30)).await;
    let again = wait_active(&shop, &url, 2, Duration::from_secs(10)).await;
    assert_eq!(
        again.iter().map(|h| h.id).collect::<Vec<_>>(),
        hooks.iter().map(|h| h.id).collect::<Vec<_>>(),
        "the same webhooks are re-enabled, not new ones made"
    );
    let alerts = receiver.wait_for("webhook_disabled", 1, Duration::from_secs(10)).await;
    let message = alerts[0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("re-enabled") && message.contains("3 staged"), "{message}");

    let mut state = SqliteConnection::connect(&format!("sqlite:{}", shop.state_path().display())).await.expect("db");
    for id in &missed {
        // The write-back's own changes are delivered once the webhooks are back; the order itself never was.
        let delivered: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_inbox WHERE resource_id = ?1 AND topic = 'order.created'")
                .bind(i64::try_from(*id).expect("id"))
                .fetch_one(&mut state)
                .await
                .expect("inbox");
        assert_eq!(delivered, 0, "order {id} came by the backfill, not by a webhook");
    }

    // Disabled again within the hour: re-enabled again, without a second alert.
    disable(&shop, &again).await;
    let later = shop.place(5, 0).await;
    wait_applied(&shop, &[later], Duration::from_secs(30)).await;
    wait_active(&shop, &url, 2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.of_kind("webhook_disabled").len(), 1, "one alert per hour, not one per repair");
    assert_eq!(receiver.of_kind("webhook_recreated").len(), 1);
    let status = shop.cli(&["status", "--json"]);
    assert!(crate::stdout(&status).contains("order webhooks"), "{}", crate::stdout(&status));
    drop(daemon);
}
