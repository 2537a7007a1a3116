//! The application is the library's: a test builds it from a config file with `cpbridge::app::App`, binds it to a
//! loopback port and runs it in its own process, as `cpbridge run` does in the binary, and stops it with a
//! cancellation.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::orders::Shop;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_runs_the_service_in_process_and_a_cancellation_stops_it() {
    let shop = Shop::open(&[], 20, "").await;
    let config = cpbridge::config::Config::load(&shop.config).expect("the config loads");
    let app = cpbridge::app::App::build(config).await.expect("the application builds");
    let bound = app.bind(Some("127.0.0.1:0".parse().expect("address"))).await.expect("bound");
    let base = format!("http://{}", bound.addr);
    let stop = CancellationToken::new();
    let service = tokio::spawn(bound.run(stop.clone()));

    let health = reqwest::get(format!("{base}/healthz")).await.expect("healthz");
    assert_eq!(health.status(), 200);
    // A paid order, delivered by signed webhook, becomes a Counterpoint order and is written back.
    shop.hook_to(&base).await;
    let woo_id = shop.place(1, 0).await;
    let mut db = shop.replica().await;
    let start = Instant::now();
    loop {
        let synced: Option<i64> = sqlx::query_scalar(
            "SELECT CP_DOC_ID FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID = ?1 AND STATUS = 'APPLIED' \
             AND WOO_SYNCED_DT IS NOT NULL",
        )
        .bind(i64::try_from(woo_id).expect("id"))
        .fetch_optional(&mut db)
        .await
        .expect("staging");
        if synced.is_some() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "order {woo_id} applied and written back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A cancellation ends every job between runs and the server with them.
    stop.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(15), service).await.expect("the service stops");
    ended.expect("the task ends").expect("the service ends without an error");
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err(), "nothing listens after the stop");
}
