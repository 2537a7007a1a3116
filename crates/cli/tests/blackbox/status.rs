//! The daemon's own view of itself over HTTP: the status page, `/status.json`, `/metrics` and `/readyz`, with the
//! counts of real work.

use std::time::{Duration, Instant};

use crate::orders::Shop;
use crate::stdout;

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_its_status_metrics_and_readiness() {
    let shop = Shop::open(&[], 5, "").await;
    let daemon = shop.daemon();
    shop.hook(&daemon).await;
    for n in 0..3 {
        shop.place(n, 0).await;
    }
    shop.wait_done(3, Duration::from_secs(60)).await;

    let (code, page) = get(&format!("{}/", daemon.base)).await;
    assert_eq!(code, 200);
    assert!(page.contains("<title>cpbridge status</title>") && page.contains("status.json"), "the page");
    for loads in ["src=", "<link", "@import", "url("] {
        assert!(!page.contains(loads), "the page loads nothing from elsewhere ({loads})");
    }

    // The processing job records its runs; the applied count reaches 3 once the last run is recorded.
    let start = Instant::now();
    let report = loop {
        let (code, body) = get(&format!("{}/status.json", daemon.base)).await;
        assert_eq!(code, 200, "{body}");
        let report: serde_json::Value = serde_json::from_str(&body).expect("json");
        let applied = report["components"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["job"] == "orders.process"))
            .and_then(|r| r["counts_24h"]["applied"].as_i64());
        if applied == Some(3) {
            break report;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "applied {applied:?}: {report}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(report["staging"]["APPLIED"], 3);
    let hourly: i64 =
        report["hourly"].as_array().expect("hours").iter().filter_map(|h| h["orders_applied"].as_i64()).sum();
    assert_eq!(hourly, 3, "the chart counts the same orders");

    let (code, metrics) = get(&format!("{}/metrics", daemon.base)).await;
    assert_eq!(code, 200);
    assert!(metrics.contains("cpbridge_job_count_24h{job=\"orders.process\",count=\"applied\"} 3"), "{metrics}");
    assert!(metrics.contains("cpbridge_staged_orders{status=\"APPLIED\"} 3"), "{metrics}");
    assert!(metrics.contains("cpbridge_dead_letter_orders 0"), "{metrics}");
    assert!(metrics.contains("# TYPE cpbridge_job_up gauge"), "{metrics}");

    assert_eq!(get(&format!("{}/readyz", daemon.base)).await, (200, "ready".to_owned()));
    let mut db = shop.replica().await;
    sqlx::query("ALTER TABLE USER_ORDER_STAGING RENAME TO USER_ORDER_STAGING_AWAY")
        .execute(&mut db)
        .await
        .expect("away");
    let (code, body) = get(&format!("{}/readyz", daemon.base)).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("Counterpoint"), "{body}");
    sqlx::query("ALTER TABLE USER_ORDER_STAGING_AWAY RENAME TO USER_ORDER_STAGING")
        .execute(&mut db)
        .await
        .expect("back");
    assert_eq!(get(&format!("{}/readyz", daemon.base)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_what_to_fix_and_creates_the_webhooks() {
    let shop = Shop::open(&[], 0, "").await;
    let first = shop.cli(&["doctor"]);
    let text = crate::stdout(&first);
    assert_eq!(first.status.code(), Some(2), "{text}");
    assert!(text.contains("ok    Counterpoint") && text.contains("the key can read and write"), "{text}");
    assert!(text.contains("document ids follow Counterpoint's layout (the database has no dbo.fnGenDocId)"), "{text}");
    assert!(text.contains("FIX   webhooks: no active webhook for order.created, order.updated"), "{text}");
    // The jobs `cpbridge run` would schedule, from the registry; this shop leaves the syncs to a person.
    assert!(text.contains("ok    jobs: 8 scheduled (orders.intake every 0.3 s, orders.pull every 1 s"), "{text}");
    assert!(
        text.contains("by hand only (`cpbridge sync ...`): products, inventory.events, inventory.reconcile, customers"),
        "{text}"
    );

    let fixed = shop.cli(&["doctor", "--fix-webhooks", "http://127.0.0.1:9/webhooks/woocommerce"]);
    assert!(fixed.status.success(), "{}", crate::stdout(&fixed));
    let hooks = shop.woo.webhooks().await.expect("webhooks");
    let topics: Vec<&str> = hooks.iter().map(|h| h.topic.as_str()).collect();
    assert!(topics.contains(&"order.created") && topics.contains(&"order.updated"), "{topics:?}");
    assert!(shop.cli(&["doctor"]).status.success(), "all good after the fix");

    // A missing cpbridge table in Counterpoint is named, with the command that installs it.
    let mut db = shop.replica().await;
    sqlx::query("DROP TABLE USER_INV_CHANGES").execute(&mut db).await.expect("drop");
    let broken = shop.cli(&["doctor"]);
    let text = crate::stdout(&broken);
    assert_eq!(broken.status.code(), Some(2), "{text}");
    assert!(text.contains("USER_INV_CHANGES") && text.contains("cpbridge cp migrate"), "{text}");
}

/// The status page in a real browser: headless Chromium runs the page's script against the daemon and the table
/// it renders carries the real counts. Skipped (saying so) where Chromium is not installed, unless
/// `CPBRIDGE_REQUIRE_BROWSER` is set, as `.ci/run` does after installing Debian's chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_renders_real_counts_in_a_browser() {
    let chromium =
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| std::path::Path::new(p).exists());
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("CPBRIDGE_REQUIRE_BROWSER").is_none(),
            "CPBRIDGE_REQUIRE_BROWSER is set but Chromium is missing"
        );
        eprintln!("the_status_page_renders_real_counts_in_a_browser skipped: install Debian's chromium to run it");
        return;
    };
    let shop = Shop::open(&[], 5, "").await;
    let daemon = shop.daemon();
    shop.hook(&daemon).await;
    for n in 0..4 {
        shop.place(n, 0).await;
    }
    shop.wait_done(4, Duration::from_secs(60)).await;
    // The processing run that applied the last order is recorded just after its write-back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let profile = tempfile::tempdir().expect("profile");
    let url = format!("{}/", daemon.base);
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=4000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("data-job=\"orders.process\""), "the script rendered the table:\n{dom}");
    let row = dom.split("data-job=\"orders.process\"").nth(1).and_then(|rest| rest.split("</tr>").next()).unwrap_or("");
    assert!(row.contains("applied 4"), "the row shows the 4 orders applied: {row}");
    assert!(dom.contains("<b id=\"applied\">4</b>"), "the applied card: {dom}");
    assert!(dom.contains("<b id=\"dead\">0</b>"), "the dead-letter card");
    assert!(dom.contains("<rect"), "the chart is drawn");
}

/// The status never says `ok` for a dead daemon or a job that stopped ticking: `stopped` once no daemon has written
/// a heartbeat for a minute, `late` once a job has not ticked for its cadence plus a grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tells_a_dead_daemon_and_a_late_job_apart_from_ok() {
    use sqlx::Connection as _;
    let shop = Shop::open(&[], 0, "").await;
    let daemon = shop.daemon();
    let started = Instant::now();
    loop {
        let out = shop.cli(&["status", "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        if report["daemon_running"] == true {
            let pull = report["components"].as_array().and_then(|c| c.iter().find(|r| r["job"] == "orders.pull"));
            assert_eq!(pull.map(|r| r["state"].clone()), Some(serde_json::json!("ok")), "{report}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the daemon writes its heartbeat");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(daemon); // killed, as a crash or `kill -9` would

    let mut state =
        sqlx::SqliteConnection::connect(&format!("sqlite:{}", shop.state_path().display())).await.expect("state store");
    let set = |name: &'static str, minutes_ago: i64| {
        let at = (chrono::Utc::now() - chrono::Duration::minutes(minutes_ago)).format("%Y-%m-%d %H:%M:%S").to_string();
        sqlx::query("UPDATE watermarks SET value = ?1 WHERE name = ?2").bind(at).bind(name)
    };
    // Five minutes later, as far as the heartbeats go.
    set("heartbeat:daemon", 5).execute(&mut state).await.expect("heartbeat");
    let out = shop.cli(&["status"]);
    let text = stdout(&out);
    assert!(text.contains("no daemon has written a heartbeat since"), "{text}");
    let row = text.lines().find(|l| l.starts_with("order poll (safety net)")).expect("poll row");
    assert!(row.contains("stopped"), "{row}");

    // A daemon that is alive, but one job has not ticked for an hour (it runs every second here).
    set("heartbeat:daemon", 0).execute(&mut state).await.expect("heartbeat");
    set("heartbeat:orders.pull", 60).execute(&mut state).await.expect("heartbeat");
    sqlx::query("DELETE FROM job_runs WHERE job = 'orders.pull'").execute(&mut state).await.expect("runs");
    let out = shop.cli(&["status", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let state_of = |job: &str| {
        report["components"].as_array().and_then(|c| c.iter().find(|r| r["job"] == job)).map(|r| r["state"].clone())
    };
    assert_eq!(state_of("orders.pull"), Some(serde_json::json!("late")), "{report}");
    assert_eq!(state_of("orders.process"), Some(serde_json::json!("ok")), "{report}");
    assert!(
        report["generated_at"].as_str().is_some_and(|t| !t.contains('.')),
        "times are whole seconds: {}",
        report["generated_at"]
    );
}

/// `doctor` checks what breaks at run time: deliveries the daemon refused for a bad signature (WooCommerce never
/// shows a webhook's secret), which `--fix-webhooks` cures by setting the configured secret; an address that is no
/// WooCommerce REST API, in plain words; and logs carry no colour codes when they are not on a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_refused_signatures_and_a_wrong_store_address() {
    let shop = Shop::open(&[], 0, "").await;
    let created = shop.cli(&["doctor", "--fix-webhooks", "http://127.0.0.1:9/webhooks/woocommerce"]);
    assert!(created.status.success(), "{}", crate::stdout(&created));
    let daemon = shop.daemon();
    let body = br#"{"id": 1}"#;
    assert_eq!(crate::orders::deliver(&daemon, "order.updated", body, "not-the-secret").await, 401);
    // The refusal is written to the state store in the background.
    let started = Instant::now();
    let text = loop {
        let out = shop.cli(&["doctor"]);
        let text = crate::stdout(&out);
        if text.contains("refused for a bad signature") {
            assert_eq!(out.status.code(), Some(2), "{text}");
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "doctor sees the refusal: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(text.contains("1 webhook deliveries were refused") && text.contains("--fix-webhooks"), "{text}");
    drop(daemon);
    let fixed = shop.cli(&["doctor", "--fix-webhooks", "http://127.0.0.1:9/webhooks/woocommerce"]);
    let text = crate::stdout(&fixed);
    assert_eq!(text.matches("set the configured secret on webhook").count(), 2, "{text}");

    // The store's address with /shop: no REST API there, said plainly.
    let config = std::fs::read_to_string(&shop.config).expect("config");
    let base = shop.sandbox.base.clone();
    std::fs::write(&shop.config, config.replace(&format!("url = \"{base}\""), &format!("url = \"{base}/shop\"")))
        .expect("config");
    let wrong = shop.cli(&["doctor"]);
    let text = crate::stdout(&wrong);
    assert_eq!(wrong.status.code(), Some(2), "{text}");
    assert!(text.contains("has no WooCommerce REST API") && text.contains("without /shop"), "{text}");

    // Logs to a pipe are plain text.
    let logged = std::process::Command::new(env!("CARGO_BIN_EXE_cpbridge"))
        .args(["doctor", "--config", shop.config.to_str().expect("utf-8 path")])
        .env("CPBRIDGE_LOG", "debug")
        .output()
        .expect("doctor runs");
    let stderr = String::from_utf8_lossy(&logged.stderr);
    assert!(!stderr.is_empty() && !stderr.contains('\u{1b}'), "no escape codes in piped logs: {stderr}");
}
