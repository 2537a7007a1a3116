//! Hostile and odd input, through the real intake: orders that a store with plugins really holds (made with the
//! sandbox's raw edit, which skips the REST API's rules), webhook bodies that are not orders, SQL metacharacters
//! in every string that reaches SQL, forged, replayed and oversized requests, and a grep of the whole run's debug
//! log for the configured secrets. Each odd order ends `DEAD` with a reason that names the field, or is applied
//! correctly; the table at the bottom of the test says which.

use std::time::{Duration, Instant};

use cpbridge_woo::model::{LineItemWrite, OrderWrite, ProductWrite};
use serde_json::{Value, json};
use sqlx::{Connection as _, Row as _};

use crate::orders::{Daemon, SYNCS_BY_HAND, Shop, WEBHOOK_SECRET, deliver};

const PRICING_KEY: &str = "pk-hostile-7f3a-a81c-44d0";
const SMTP_PASSWORD: &str = "smtp-pass-91c2";
const SQL_NASTY: &str = "Robert'); DROP TABLE PS_DOC_HDR;--";

/// How one case should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Applied,
    /// `DEAD`, with this text in the reason.
    Dead(&'static str),
}

struct Case {
    name: &'static str,
    woo_id: u64,
    expect: Expect,
}

/// Places an order that intake ignores (pending, unpaid), so it can be edited before it is released.
async fn pending(shop: &Shop, customer_id: u64, lines: Vec<LineItemWrite>, billing: Value) -> u64 {
    let order = OrderWrite {
        status: Some("pending".into()),
        customer_id: Some(customer_id),
        payment_method: Some("stripe".into()),
        payment_method_title: Some("Credit card".into()),
        transaction_id: Some("ch_'--".into()),
        billing: Some(serde_json::from_value(billing).expect("billing")),
        line_items: lines,
        ..OrderWrite::default()
    };
    shop.woo.create_order(&order).await.expect("order placed").id.get()
}

/// Edits the stored order as a plugin could, then marks it paid and processing: the webhook makes intake fetch it.
async fn release(shop: &Shop, id: u64, mut edits: Vec<Value>) {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    edits.extend([
        json!({"path": "/status", "value": "processing"}),
        json!({"path": "/date_paid", "value": now}),
        json!({"path": "/date_paid_gmt", "value": now}),
    ]);
    let response = reqwest::Client::new()
        .patch(format!("{}/__sandbox/orders/{id}", shop.sandbox.base))
        .json(&edits)
        .send()
        .await
        .expect("raw edit");
    assert!(response.status().is_success(), "edit of order {id}: {}", response.text().await.unwrap_or_default());
}

fn billing(first: &str, last: &str, email: &str) -> Value {
    json!({"first_name": first, "last_name": last, "address_1": "1 Main St", "city": "San Jose", "state": "CA",
           "postcode": "95112", "country": "US", "email": email, "phone": "408-555-0100"})
}

fn line(sku: &str, quantity: i64) -> Vec<LineItemWrite> {
    vec![LineItemWrite { sku: Some(sku.into()), quantity, ..LineItemWrite::default() }]
}

/// `(STATUS, LAST_ERR, CP_DOC_ID)` of each staged order, by WooCommerce id.
async fn outcomes(shop: &Shop) -> std::collections::HashMap<u64, (String, String, Option<i64>)> {
    let mut db = shop.replica().await;
    sqlx::query("SELECT WOO_ORDER_ID, STATUS, COALESCE(LAST_ERR, '') AS LAST_ERR, CP_DOC_ID FROM USER_ORDER_STAGING")
        .fetch_all(&mut db)
        .await
        .expect("staging")
        .into_iter()
        .map(|r| {
            let id: i64 = r.get("WOO_ORDER_ID");
            (u64::try_from(id).expect("id"), (r.get("STATUS"), r.get("LAST_ERR"), r.get("CP_DOC_ID")))
        })
        .collect()
}

async fn post_raw(url: &str, key: Option<&str>, body: Vec<u8>) -> u16 {
    let mut request = reqwest::Client::new().post(url).header("content-type", "application/json").body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("request").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_orders_end_dead_with_the_field_named_or_applied_and_nothing_else_is_harmed() {
    let shop = Shop::open(&[], 10, "").await;
    // A closed loopback port: the alert e-mails fail, which must not log the password either.
    let smtp_port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    shop.write_config_with(
        SYNCS_BY_HAND,
        &format!(
            "\n[pricing]\napi_keys = [\"{PRICING_KEY}\"]\n\n[alerts.email]\nsmtp_host = \"127.0.0.1\"\n\
             smtp_port = {smtp_port}\nsecurity = \"none\"\nusername = \"cpbridge\"\npassword = \"{SMTP_PASSWORD}\"\n\
             from = \"cpbridge@example.test\"\nto = [\"ops@example.test\"]\n"
        ),
    );
    let log = shop.dir.path().join("daemon.log");
    let mut daemon: Daemon = shop.daemon_logging(Some(&log));
    shop.hook(&daemon).await;
    shop.stranger_product().await;
    let sku = shop.skus[0].clone();
    let other = shop.skus[1].clone();
    let no_sku = shop
        .woo
        .create_product(&ProductWrite {
            name: Some("No SKU".into()),
            regular_price: Some("3.00".into()),
            ..ProductWrite::default()
        })
        .await
        .expect("product without SKU");
    let registered = shop.customer("o'brien+x@example.test").await;
    let guest = |n: usize| billing("Pat", &format!("Guest{n}"), &format!("guest{n}@example.test"));

    let before = shop.place(1, 0).await;
    let mut cases = Vec::new();
    let mut add = |name, woo_id, expect| cases.push(Case { name, woo_id, expect });

    let id = pending(&shop, 0, line("NOT-IN-CP", 1), guest(2)).await;
    release(&shop, id, vec![]).await;
    add("unknown SKU", id, Expect::Dead("unknown SKU NOT-IN-CP"));

    let empty = vec![LineItemWrite { product_id: Some(no_sku.id), quantity: 1, ..LineItemWrite::default() }];
    let id = pending(&shop, 0, empty, guest(3)).await;
    release(&shop, id, vec![]).await;
    add("empty SKU", id, Expect::Dead("line 1 (\"No SKU\""));

    for (name, quantity, reason) in [
        ("quantity 0", json!(0), "quantity must be a positive whole number, got 0"),
        ("negative quantity", json!(-2), "quantity must be a positive whole number, got -2"),
        ("fractional quantity", json!(1.5), "field line_items[0].quantity: 1.5 is not a whole quantity"),
    ] {
        let id = pending(&shop, 0, line(&sku, 1), guest(4)).await;
        release(&shop, id, vec![json!({"path": "/line_items/0/quantity", "value": quantity})]).await;
        add(name, id, Expect::Dead(reason));
    }

    let id = pending(&shop, 0, line(&sku, 1), guest(5)).await;
    release(&shop, id, vec![json!({"path": "/line_items/0/subtotal", "value": "1000000000000.00"})]).await;
    add("price of 10^12", id, Expect::Dead("line 1 (SKU"));

    let long = "N".repeat(5_000);
    let id = pending(&shop, 0, line(&sku, 1), billing(&long, "Long", "long@example.test")).await;
    release(&shop, id, vec![json!({"path": "/line_items/0/name", "value": long})]).await;
    add("5,000-character name", id, Expect::Applied);

    let id = pending(&shop, 0, line(&sku, 2), billing("Zoë 😀", "שלום", "rtl@example.test")).await;
    release(&shop, id, vec![json!({"path": "/line_items/0/name", "value": "🎁 مرحبا بالعالم"})]).await;
    add("emoji and right-to-left text", id, Expect::Applied);

    let id = pending(&shop, 0, line(&sku, 1), guest(6)).await;
    release(&shop, id, vec![json!({"path": "/billing", "remove": true})]).await;
    add("missing billing block (guest)", id, Expect::Applied);

    let twice = vec![
        LineItemWrite { sku: Some(other.clone().into()), quantity: 2, ..LineItemWrite::default() },
        LineItemWrite { sku: Some(other.clone().into()), quantity: 3, ..LineItemWrite::default() },
    ];
    let id = pending(&shop, 0, twice, guest(7)).await;
    release(&shop, id, vec![]).await;
    add("duplicate line", id, Expect::Applied);

    let id = pending(&shop, 0, line(&sku, 1), guest(8)).await;
    release(&shop, id, vec![json!({"path": "/total", "value": "999.00"})]).await;
    add("total that does not add up", id, Expect::Dead("field total: totals do not add up"));

    let id = pending(&shop, 0, line(&sku, 1), guest(9)).await;
    let refund = json!([{"id": 1, "reason": "", "total": "-99999.00"}]);
    release(&shop, id, vec![json!({"path": "/refunds", "value": refund})]).await;
    add("refund larger than the order", id, Expect::Dead("field refunds"));

    let id = pending(&shop, 0, line(&sku, 1), guest(10)).await;
    release(&shop, id, vec![json!({"path": "/line_items", "value": "not a list"})]).await;
    add("order JSON of the wrong shape", id, Expect::Dead("field line_items"));

    // SQL metacharacters in every string that reaches SQL, on a registered customer so AR_CUST is written too.
    let nasty = json!({"first_name": SQL_NASTY, "last_name": "O'Brien \"the\" \\ %_", "company": "'; --",
                       "address_1": "1' OR '1'='1", "address_2": "\"; DELETE FROM IM_INV; --", "city": "San ;--",
                       "state": "C'A", "postcode": "9'5", "country": "US", "email": "o'brien+x@example.test",
                       "phone": "'; DROP TABLE AR_CUST; --"});
    let id = pending(&shop, registered, line(&sku, 1), nasty.clone()).await;
    let edits = vec![
        json!({"path": "/shipping", "value": nasty}),
        json!({"path": "/line_items/0/name", "value": "Bobby'; DROP TABLE IM_ITEM; --"}),
        json!({"path": "/customer_note", "value": "' OR 1=1; --"}),
    ];
    release(&shop, id, edits).await;
    add("SQL metacharacters in every string", id, Expect::Applied);
    let nasty_sku = "X'; DROP TABLE IM_ITEM;--";
    let id = pending(&shop, 0, line(&sku, 1), guest(11)).await;
    release(&shop, id, vec![json!({"path": "/line_items/0/sku", "value": nasty_sku})]).await;
    add("SQL metacharacters in the SKU", id, Expect::Dead("unknown SKU X'; DROP TABLE IM_ITEM;--"));

    // A signed webhook whose body is not an order at all: taken, kept, and skipped with its reason.
    assert_eq!(deliver(&daemon, "order.created", b"[1, 2, 3]", WEBHOOK_SECRET).await, 200);
    assert_eq!(deliver(&daemon, "order.created", b"{\"hello\": \"world\"}", WEBHOOK_SECRET).await, 200);
    let after = shop.place(12, 0).await;

    // Wait for every case (and the good orders around them) to settle.
    let start = Instant::now();
    let settled = loop {
        let now = outcomes(&shop).await;
        let done = cases
            .iter()
            .chain([&Case { name: "before", woo_id: before, expect: Expect::Applied }])
            .all(|c| now.get(&c.woo_id).is_some_and(|(status, _, _)| status == "APPLIED" || status == "DEAD"))
            && now.get(&after).is_some_and(|(status, _, _)| status == "APPLIED");
        if done {
            break now;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "cases still open after 60 s: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let doc_of = |name: &str| {
        let case = cases.iter().find(|c| c.name == name).expect("case");
        settled[&case.woo_id].2.unwrap_or_else(|| panic!("{name} has a document"))
    };
    let mut table = String::new();
    for case in &cases {
        let (status, reason, _) = &settled[&case.woo_id];
        table.push_str(&format!("{:<38} {status:<8} {reason}\n", case.name));
        match case.expect {
            Expect::Applied => assert_eq!(status, "APPLIED", "{}: {reason}", case.name),
            Expect::Dead(text) => {
                assert_eq!(status, "DEAD", "{}", case.name);
                assert!(reason.contains(text), "{}: the reason {reason:?} names {text:?}", case.name);
            }
        }
    }
    println!("{table}");
    for good in [before, after] {
        assert_eq!(settled[&good].0, "APPLIED", "the orders around the hostile ones are unaffected");
    }

    let mut db = shop.replica().await;
    // The long name was cut to the columns, the emoji and Hebrew kept, the duplicate line kept as two lines.
    let long_doc = doc_of("5,000-character name");
    let descr: String = sqlx::query_scalar("SELECT DESCR FROM PS_DOC_LIN WHERE DOC_ID = ?1")
        .bind(long_doc)
        .fetch_one(&mut db)
        .await
        .expect("line");
    assert_eq!(descr.chars().count(), 50, "PS_DOC_LIN.DESCR is cut to the live column's 50 characters");
    let rtl_doc = doc_of("emoji and right-to-left text");
    let (lin_descr, contact): (String, String) = sqlx::query_as(
        "SELECT l.DESCR, c.NAM FROM PS_DOC_LIN l JOIN PS_DOC_CONTACT c ON c.DOC_ID = l.DOC_ID AND c.CONTACT_ID = 1 \
         WHERE l.DOC_ID = ?1",
    )
    .bind(rtl_doc)
    .fetch_one(&mut db)
    .await
    .expect("rtl");
    assert_eq!(lin_descr, "🎁 مرحبا بالعالم");
    assert_eq!(contact, "Zoë 😀 שלום");
    let dup_doc = doc_of("duplicate line");
    let quantities: Vec<f64> =
        sqlx::query_scalar("SELECT CAST(QTY_SOLD AS REAL) FROM PS_DOC_LIN WHERE DOC_ID = ?1 ORDER BY LIN_SEQ_NO")
            .bind(dup_doc)
            .fetch_all(&mut db)
            .await
            .expect("lines");
    assert_eq!(quantities, vec![2.0, 3.0], "a duplicate line stays two lines");
    let guest_doc = doc_of("missing billing block (guest)");
    let cust: String = sqlx::query_scalar("SELECT CUST_NO FROM PS_DOC_HDR WHERE DOC_ID = ?1")
        .bind(guest_doc)
        .fetch_one(&mut db)
        .await
        .expect("hdr");
    assert_eq!(cust, "CASH", "an order without billing goes to the guest customer");

    // Metacharacters were stored as text, and every table is still there.
    let nasty_doc = doc_of("SQL metacharacters in every string");
    let (nam, nam_typ, contact, adrs_1): (String, String, String, String) = sqlx::query_as(
        "SELECT NAM, NAM_TYP, CONTCT_1, ADRS_1 FROM PS_DOC_CONTACT WHERE DOC_ID = ?1 AND CONTACT_ID = 2",
    )
    .bind(nasty_doc)
    .fetch_one(&mut db)
    .await
    .expect("ship-to contact");
    assert_eq!((nam.as_str(), nam_typ.as_str()), ("'; --", "B"), "a company's contact is named by the company");
    assert!(contact.starts_with("Robert'); DROP TABLE"), "{contact}");
    assert_eq!(adrs_1, "1' OR '1'='1");
    let (cust_nam, phone): (String, String) =
        sqlx::query_as("SELECT NAM, PHONE_1 FROM AR_CUST WHERE EMAIL_ADRS_1 = ?1")
            .bind("o'brien+x@example.test")
            .fetch_one(&mut db)
            .await
            .expect("the customer was created with the apostrophe in the e-mail");
    assert!(cust_nam.starts_with("Robert'); DROP"), "{cust_nam}");
    assert_eq!(phone, "'; DROP TABLE AR_CUST; --");
    for table in ["PS_DOC_HDR", "IM_ITEM", "IM_INV", "AR_CUST"] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut db)
            .await
            .unwrap_or_else(|e| panic!("{table} survives: {e}"));
        assert!(n > 0, "{table} still has its rows");
    }

    // The not-an-order bodies were kept and skipped.
    let mut state =
        sqlx::SqliteConnection::connect_with(&sqlx::sqlite::SqliteConnectOptions::new().filename(shop.state_path()))
            .await
            .expect("state");
    let skipped: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_inbox WHERE outcome LIKE 'skipped%'")
        .fetch_one(&mut state)
        .await
        .expect("inbox");
    assert_eq!(skipped, 2, "both bodies that are not orders are kept, and skipped with the reason");

    // Security: forged and replayed deliveries, pricing keys, oversized bodies, metacharacters in the pricing API.
    let base = daemon.base.clone();
    let body = shop.woo.get::<Value>(&format!("/orders/{before}"), &[]).await.expect("order").to_string();
    assert_eq!(deliver(&daemon, "order.updated", body.as_bytes(), "not-the-secret").await, 401, "forged signature");
    for _ in 0..3 {
        assert_eq!(deliver(&daemon, "order.updated", body.as_bytes(), WEBHOOK_SECRET).await, 200, "replay taken");
    }
    let prices = format!("{base}/api/v1/prices");
    let query = br#"{"customer": "CASH", "items": [{"sku": "X", "qty": 1}]}"#.to_vec();
    assert_eq!(post_raw(&prices, None, query.clone()).await, 401, "pricing without a key");
    assert_eq!(post_raw(&prices, Some("pk-wrong"), query.clone()).await, 401, "pricing with a wrong key");
    let big = vec![b' '; 9 * 1024 * 1024];
    assert_eq!(post_raw(&format!("{base}/webhooks/woocommerce"), None, big.clone()).await, 413, "oversized webhook");
    assert_eq!(post_raw(&prices, Some(PRICING_KEY), big).await, 413, "oversized pricing request");
    let sneaky = reqwest::Client::new()
        .get(format!("{base}/api/v1/prices/{}/{}", "%27%20OR%201%3D1%20--", sku))
        .bearer_auth(PRICING_KEY)
        .send()
        .await
        .expect("price");
    assert_eq!(sneaky.status().as_u16(), 404, "an injected customer number is just an unknown customer");
    let said = sneaky.text().await.unwrap_or_default();
    assert!(said.contains("' OR 1=1 --"), "the 404 names the customer as given: {said}");

    // The replays created nothing: the order still has exactly one document, and the daemon never panicked.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let docs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID = ?1")
        .bind(i64::try_from(before).expect("id"))
        .fetch_one(&mut db)
        .await
        .expect("staging");
    assert_eq!(docs, 1, "a replayed webhook stages nothing new");
    assert!(daemon.child.try_wait().expect("status").is_none(), "the daemon is still running");
    drop(daemon);

    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.len() > 10_000, "the debug log was written ({} bytes)", text.len());
    assert!(!text.contains("panicked"), "no panic in the log");
    for secret in [shop.sandbox.secret.as_str(), WEBHOOK_SECRET, PRICING_KEY, SMTP_PASSWORD] {
        assert!(!text.contains(secret), "the log never shows the secret {secret:?}");
    }
}
