//! Every way a real WooCommerce store takes an order, through the sandbox (which behaves as WooCommerce 11 does for
//! each: cash on delivery and virtual orders completed at payment, refunds with restock), with the daemon up while
//! orders arrive and with the daemon down until they are all placed. Each ends with `cpbridge reconcile orders`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cpbridge_woo::model::{LineItemWrite, OrderWrite, RefundWrite};
use cpbridge_woo::{Replay, WooClient};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row as _;

use crate::orders::{Daemon, Shop};
use crate::stdout;

fn billing(n: usize) -> cpbridge_woo::model::AddressWrite {
    serde_json::from_value(json!({
        "first_name": "Flo", "last_name": format!("Flow{n}"), "address_1": "1 Main St", "city": "San Jose",
        "state": "CA", "postcode": "95112", "country": "US", "email": format!("flow{n}@example.test"),
    }))
    .expect("billing")
}

fn line(sku: &str, quantity: i64) -> LineItemWrite {
    LineItemWrite { sku: Some(sku.into()), quantity, ..LineItemWrite::default() }
}

/// Creates an order as a checkout or staff would, and returns it as the store answered.
async fn create(
    woo: &WooClient,
    n: usize,
    method: &str,
    set_paid: bool,
    status: Option<&str>,
    lines: Vec<LineItemWrite>,
) -> Value {
    let order = OrderWrite {
        status: status.map(str::to_owned),
        set_paid: Some(set_paid),
        payment_method: Some(method.into()),
        payment_method_title: Some(method.into()),
        billing: Some(billing(n)),
        line_items: lines,
        ..OrderWrite::default()
    };
    woo.send(Method::POST, "/orders", &order, Replay::OnlyIfUnprocessed).await.expect("order placed")
}

async fn update(woo: &WooClient, id: u64, body: Value) -> Value {
    woo.send(Method::PUT, &format!("/orders/{id}"), &body, Replay::Safe).await.expect("order updated")
}

/// Refunds `units` of the order's line with `sku`, restocking them, without moving money (as staff do for a
/// gateway that refunds elsewhere).
async fn refund_units(woo: &WooClient, order: &Value, sku: &str, units: i64) -> String {
    let line = order["line_items"].as_array().expect("lines").iter().find(|l| l["sku"] == json!(sku)).expect("line");
    let unit: f64 = line["subtotal"].as_str().expect("subtotal").parse::<f64>().expect("number")
        / line["quantity"].as_f64().expect("quantity");
    let amount = format!("{:.2}", unit * units as f64);
    let mut write = RefundWrite {
        amount: Some(amount.clone()),
        reason: Some("one broken".into()),
        api_refund: Some(false),
        line_items: vec![json!({ "id": line["id"], "quantity": units, "refund_total": amount })],
        ..RefundWrite::default()
    };
    write.extra.insert("restock_items".into(), json!(true));
    let id = order["id"].as_u64().expect("id");
    woo.create_refund(crate::woo_order(id), &write).await.expect("refund");
    amount
}

fn id(order: &Value) -> u64 {
    order["id"].as_u64().expect("order id")
}

/// Waits until the staging row of `woo_id` has one of `statuses`.
async fn wait_staged(shop: &Shop, woo_id: u64, statuses: &[&str]) {
    let start = Instant::now();
    loop {
        let mut db = shop.replica().await;
        let status: Option<String> =
            sqlx::query_scalar("SELECT STATUS FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID = ?1")
                .bind(i64::try_from(woo_id).expect("id"))
                .fetch_optional(&mut db)
                .await
                .expect("staging");
        if status.as_deref().is_some_and(|s| statuses.contains(&s)) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "order {woo_id} is {status:?}, not one of {statuses:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Booked lines of an order: SKU to quantity, and the document's total and deposit.
async fn booked(shop: &Shop, woo_id: u64) -> (HashMap<String, f64>, f64, f64) {
    let mut db = shop.replica().await;
    let doc_id: i64 =
        sqlx::query_scalar("SELECT CP_DOC_ID FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID = ?1 AND STATUS = 'APPLIED'")
            .bind(i64::try_from(woo_id).expect("id"))
            .fetch_one(&mut db)
            .await
            .unwrap_or_else(|e| panic!("order {woo_id} is applied: {e}"));
    let lines = sqlx::query("SELECT ITEM_NO, CAST(QTY_SOLD AS REAL) AS Q FROM PS_DOC_LIN WHERE DOC_ID = ?1")
        .bind(doc_id)
        .fetch_all(&mut db)
        .await
        .expect("lines")
        .into_iter()
        .map(|r| (r.get::<String, _>("ITEM_NO"), r.get::<f64, _>("Q")))
        .collect();
    let tot: f64 = sqlx::query_scalar("SELECT CAST(TOT AS REAL) FROM PS_DOC_HDR_TOT WHERE DOC_ID = ?1")
        .bind(doc_id)
        .fetch_one(&mut db)
        .await
        .expect("total");
    let paid: f64 = sqlx::query_scalar("SELECT CAST(SUM(AMT) AS REAL) FROM PS_DOC_PMT WHERE DOC_ID = ?1")
        .bind(doc_id)
        .fetch_one(&mut db)
        .await
        .expect("deposit");
    (lines, tot, paid)
}

fn reconcile(shop: &Shop, args: &[&str]) -> (Value, Option<i32>) {
    let mut all = vec!["reconcile", "orders", "--json"];
    all.extend_from_slice(args);
    let out = shop.cli(&all);
    let report: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("reconcile prints JSON ({e}): {}{}", stdout(&out), crate::stderr(&out)));
    (report, out.status.code())
}

async fn flows(daemon_first: bool) {
    // `applied_status` is set so that the test sees cpbridge keep completed orders completed.
    let shop = Shop::open(&[], 12, "applied_status = \"processing\"").await;
    shop.stranger_product().await;
    let woo = &shop.woo;
    let sku = |i: usize| shop.skus[i].clone();
    // An e-book: virtual and downloadable, so that payment completes its orders at once.
    let ebook = woo.product_by_sku(&sku(11)).await.expect("lookup").expect("product");
    let _: Value = woo
        .send(
            Method::PUT,
            &format!("/products/{}", ebook.id),
            &json!({"virtual": true, "downloadable": true}),
            Replay::Safe,
        )
        .await
        .expect("made virtual");

    let mut daemon: Option<Daemon> = None;
    if daemon_first {
        let d = shop.daemon();
        shop.hook(&d).await;
        daemon = Some(d);
    }

    // Completed by staff before cpbridge saw it (with the daemon up: before its webhooks existed, so only the poll
    // or the reconcile can find it; here it is placed first in both runs).
    let staff = create(woo, 1, "stripe", true, None, vec![line(&sku(0), 1)]).await;
    let staff = update(woo, id(&staff), json!({"status": "completed"})).await;
    assert_eq!(staff["status"], "completed");

    let card = create(woo, 2, "stripe", true, None, vec![line(&sku(1), 2)]).await;
    assert_eq!(card["status"], "processing");
    let cod = create(woo, 3, "cod", true, None, vec![line(&sku(2), 2)]).await;
    assert_eq!(cod["status"], "completed", "WooCommerce completes a paid cash-on-delivery order at once");
    let virtual_only = create(woo, 4, "bacs", true, None, vec![line(&sku(11), 1)]).await;
    assert_eq!(virtual_only["status"], "completed", "an order of only virtual, downloadable items completes at once");
    assert_eq!(virtual_only["needs_processing"], false);

    let transfer = create(woo, 5, "bacs", false, Some("on-hold"), vec![line(&sku(3), 1)]).await;
    assert!(transfer["date_paid_gmt"].is_null(), "on-hold awaits the transfer");

    // Refunded before it is booked: on hold, one of its three units refunded and restocked, then paid.
    let refunded_early = create(woo, 6, "bacs", false, Some("on-hold"), vec![line(&sku(4), 3), line(&sku(5), 1)]).await;
    let early_amount: f64 = refund_units(woo, &refunded_early, &sku(4), 1).await.parse().expect("amount");

    // Edited and cancelled while staged: their SKU is unknown to Counterpoint, so they wait in staging.
    let edited = create(woo, 7, "stripe", true, None, vec![line("NOT-IN-CP", 1)]).await;
    let cancelled = create(woo, 8, "stripe", true, None, vec![line("NOT-IN-CP", 1)]).await;
    if daemon_first {
        wait_staged(&shop, id(&edited), &["FAILED", "DEAD"]).await;
        wait_staged(&shop, id(&cancelled), &["FAILED", "DEAD"]).await;
    }
    // What a shop manager does in the order screen: the line becomes two of a real item.
    let price = price_of(woo, &sku(6)).await;
    let edits = json!([
        {"path": "/line_items/0/sku", "value": sku(6)},
        {"path": "/line_items/0/name", "value": "Item corrected"},
        {"path": "/line_items/0/quantity", "value": 2},
        {"path": "/line_items/0/subtotal", "value": format!("{:.2}", price * 2.0)},
        {"path": "/line_items/0/total", "value": format!("{:.2}", price * 2.0)},
        {"path": "/total", "value": format!("{:.2}", price * 2.0)},
    ]);
    let response = reqwest::Client::new()
        .patch(format!("{}/__sandbox/orders/{}", shop.sandbox.base, id(&edited)))
        .json(&edits)
        .send()
        .await
        .expect("edit");
    assert!(response.status().is_success());
    update(woo, id(&cancelled), json!({"status": "cancelled"})).await;

    // The bank transfer arrives for both on-hold orders.
    let transfer = update(woo, id(&transfer), json!({"set_paid": true})).await;
    assert_eq!(transfer["status"], "processing");
    let refunded_early = update(woo, id(&refunded_early), json!({"set_paid": true})).await;

    let late = create(woo, 9, "stripe", true, None, vec![line(&sku(7), 2), line(&sku(8), 1)]).await;

    if daemon.is_none() {
        let d = shop.daemon();
        shop.hook(&d).await;
        daemon = Some(d);
    }
    let booked_orders = [&staff, &card, &cod, &virtual_only, &transfer, &refunded_early, &edited, &late];
    shop.wait_done(booked_orders.len() as i64, Duration::from_secs(60)).await;

    // Refunded after it was booked: one alert, and a row in the status page's refunds table.
    let late_amount = refund_units(woo, &late, &sku(7), 1).await;
    let start = Instant::now();
    let status = loop {
        let out = shop.cli(&["status", "--json"]);
        let status: Value = serde_json::from_str(&stdout(&out)).expect("status JSON");
        if status["refunds"].as_array().is_some_and(|r| !r.is_empty()) {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no refund on the status: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let refunds = status["refunds"].as_array().expect("refunds");
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["woo_order_id"], json!(id(&late)));
    assert_eq!(refunds[0]["amount"], json!(late_amount));
    assert!(refunds[0]["lines"].as_str().is_some_and(|l| l.contains(&format!("1 x {}", sku(7)))), "{refunds:?}");

    drop(daemon);
    let (report, code) = reconcile(&shop, &[]);
    assert_eq!(code, Some(0), "nothing wrong: {report:#}");
    assert_eq!(report["missing"], 0, "{report:#}");
    assert_eq!(report["doubled"], 0, "{report:#}");
    assert_eq!(report["in_store"], json!(booked_orders.len()), "{report:#}");
    assert_eq!(report["in_counterpoint"], json!(booked_orders.len()), "{report:#}");
    assert_eq!(report["refunded_after_apply"], 1, "{report:#}");

    // One document per booked order; the cancelled one has none.
    let mut db = shop.replica().await;
    let docs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM PS_DOC_HDR").fetch_one(&mut db).await.expect("count");
    assert_eq!(docs, booked_orders.len() as i64);
    let cancelled_row: Option<String> =
        sqlx::query_scalar("SELECT STATUS FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID = ?1")
            .bind(i64::try_from(id(&cancelled)).expect("id"))
            .fetch_optional(&mut db)
            .await
            .expect("row");
    assert!(matches!(cancelled_row.as_deref(), None | Some("CANCELLED")), "{cancelled_row:?}");

    // Booked net of the refund made before apply: two of three units, the deposit less the refund.
    let (lines, tot, paid) = booked(&shop, id(&refunded_early)).await;
    assert_eq!(lines.get(&sku(4)), Some(&2.0), "{lines:?}");
    assert_eq!(lines.get(&sku(5)), Some(&1.0), "{lines:?}");
    let gross: f64 = refunded_early["total"].as_str().expect("total").parse().expect("number");
    assert!((tot - (gross - early_amount)).abs() < 0.005, "TOT {tot}, gross {gross}, refunded {early_amount}");
    assert!((paid - tot).abs() < 0.005, "the deposit is the net total: {paid}");

    // The edit was booked, not the stale copy.
    let (lines, _, _) = booked(&shop, id(&edited)).await;
    assert_eq!(lines, HashMap::from([(sku(6), 2.0)]));

    // The refund after apply changed nothing in Counterpoint: the shop books it.
    let (lines, _, _) = booked(&shop, id(&late)).await;
    assert_eq!(lines.get(&sku(7)), Some(&2.0));

    // Completed orders stay completed (applied_status is "processing"), and carry the Counterpoint numbers.
    for order in [&staff, &cod, &virtual_only] {
        let now = woo.order(crate::woo_order(id(order))).await.expect("order");
        assert_eq!(now.status.as_str(), "completed", "order {} was moved back", id(order));
        assert!(cpbridge_woo::model::meta_text(&now.meta_data, "_cp_doc_id").is_some(), "order {}", id(order));
    }
    assert_eq!(woo.order(crate::woo_order(id(&card))).await.expect("card").status.as_str(), "processing");

    let alerts = crate::orders::alert_kinds(&shop).await;
    assert_eq!(alerts.iter().filter(|k| k.as_str() == "refund_after_apply").count(), 1, "{alerts:?}");
    assert!(!alerts.iter().any(|k| k.starts_with("orders_")), "the reconcile found nothing: {alerts:?}");

    // A paid order that neither webhook nor poll delivered (the daemon is down): the reconcile says so with exit
    // 2, `--repair` stages it, and the next reconcile is clean once it is applied.
    let missed = create(woo, 10, "cod", true, None, vec![line(&sku(9), 1)]).await;
    let (report, code) = reconcile(&shop, &[]);
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(report["missing"], 1, "{report:#}");
    let missing: Vec<&Value> =
        report["problems"].as_array().expect("problems").iter().filter(|p| p["kind"] == "missing").collect();
    assert_eq!(missing.len(), 1, "{report:#}");
    assert_eq!(missing[0]["woo_order_id"], json!(id(&missed)), "{report:#}");
    let (report, _) = reconcile(&shop, &["--repair"]);
    assert_eq!(report["repaired"], 1, "{report:#}");
    let processed = shop.cli(&["orders", "process"]);
    assert!(processed.status.success(), "{}", crate::stderr(&processed));
    let (report, code) = reconcile(&shop, &[]);
    assert_eq!(
        (code, report["missing"].clone(), report["in_counterpoint"].clone()),
        (Some(0), json!(0), json!(booked_orders.len() + 1))
    );
    let alerts = crate::orders::alert_kinds(&shop).await;
    assert_eq!(alerts.iter().filter(|k| k.as_str() == "orders_missing").count(), 1, "once per problem: {alerts:?}");
}

async fn price_of(woo: &WooClient, sku: &str) -> f64 {
    let product = woo.product_by_sku(sku).await.expect("lookup").expect("product");
    product.regular_price.unwrap_or_default().to_string().parse().expect("price")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_paid_order_flow_is_booked_once_with_the_daemon_up() {
    flows(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_paid_order_flow_is_booked_once_when_the_daemon_starts_after() {
    flows(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discarded_order_is_ended_for_good() {
    let shop = Shop::open(&[], 3, "").await;
    shop.stranger_product().await;
    let order = create(&shop.woo, 1, "stripe", true, None, vec![line("NOT-IN-CP", 1)]).await;
    assert!(shop.cli(&["orders", "pull"]).status.success());
    for _ in 0..4 {
        assert!(shop.cli(&["orders", "process"]).status.success());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_staged(&shop, id(&order), &["DEAD"]).await;
    let mut db = shop.replica().await;
    let staging_id: i64 = sqlx::query_scalar("SELECT STAGING_ID FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID = ?1")
        .bind(i64::try_from(id(&order)).expect("id"))
        .fetch_one(&mut db)
        .await
        .expect("row");
    let staging = staging_id.to_string();

    let out = shop.cli(&["dlq", "discard", &staging, "--reason", "booked by hand as ticket 1234"]);
    assert!(out.status.success(), "{}", crate::stderr(&out));
    assert!(stdout(&out).contains("discarded"), "{}", stdout(&out));
    let again = shop.cli(&["dlq", "discard", &staging]);
    assert!(!again.status.success(), "only a DEAD or FAILED order can be discarded");
    let retry = shop.cli(&["dlq", "retry", &staging, "--no-process"]);
    assert!(!retry.status.success(), "a discarded order is not replayed");
    let row = sqlx::query("SELECT STATUS, LAST_ERR FROM USER_ORDER_STAGING WHERE STAGING_ID = ?1")
        .bind(staging_id)
        .fetch_one(&mut db)
        .await
        .expect("row");
    assert_eq!(row.get::<String, _>("STATUS"), "DISCARDED");
    assert!(row.get::<String, _>("LAST_ERR").contains("ticket 1234"));

    // A later change in WooCommerce does not bring it back, and the reconcile does not call it missing.
    update(&shop.woo, id(&order), json!({"customer_note": "any news?"})).await;
    assert!(shop.cli(&["orders", "pull"]).status.success());
    let (report, code) = reconcile(&shop, &[]);
    assert_eq!(
        (code, report["missing"].clone(), report["discarded"].clone()),
        (Some(0), json!(0), json!(1)),
        "{report:#}"
    );
    let status: Option<String> = sqlx::query_scalar("SELECT STATUS FROM USER_ORDER_STAGING WHERE STAGING_ID = ?1")
        .bind(staging_id)
        .fetch_optional(&mut db)
        .await
        .expect("row");
    assert_eq!(status.as_deref(), Some("DISCARDED"));
    let alerts = crate::orders::alert_kinds(&shop).await;
    assert_eq!(alerts.iter().filter(|k| k.as_str() == "order_discarded").count(), 1, "{alerts:?}");
}
