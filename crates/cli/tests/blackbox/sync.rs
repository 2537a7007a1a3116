//! The outbound syncs end to end: a seeded Counterpoint replica, the sandbox store, and `cpbridge sync` / `run`.
//! What is checked is what the store ends up showing, and how many write requests it took to get there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cpbridge_woo::model::{Product, ProductWrite};
use futures_util::TryStreamExt as _;
use serde_json::Value;
use sqlx::Row as _;

use crate::orders::Shop;
use crate::stderr;

/// Runs `cpbridge sync ARGS` and returns its JSON report; `ok` says whether it must succeed.
fn sync(shop: &Shop, args: &[&str], ok: bool) -> Value {
    let mut all = vec!["sync"];
    all.extend(args);
    let out = shop.cli(&all);
    assert_eq!(out.status.success(), ok, "sync {args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Requests the sandbox served, per `METHOD /route`.
async fn requests(shop: &Shop) -> BTreeMap<String, u64> {
    let stats: Value = reqwest::get(format!("{}/__sandbox/stats", shop.sandbox.base))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    serde_json::from_value(stats["requests"].clone()).expect("counts")
}

/// Write requests (anything but GET) to WooCommerce routes.
fn writes(counts: &BTreeMap<String, u64>) -> u64 {
    counts.iter().filter(|(route, _)| !route.starts_with("GET ") && !route.contains("__sandbox")).map(|(_, n)| n).sum()
}

async fn products(shop: &Shop) -> BTreeMap<String, Product> {
    let query = vec![("status".to_owned(), "any".to_owned())];
    let all: Vec<Product> = shop.woo.products(query).try_collect().await.expect("products");
    let mut by_sku = BTreeMap::new();
    for p in all {
        assert!(by_sku.insert(p.sku.to_string(), p).is_none(), "one product per SKU");
    }
    by_sku
}

/// SKUs of active e-commerce inventory items in the replica, in order.
async fn web_skus(shop: &Shop, limit: i64) -> Vec<String> {
    let mut db = shop.replica().await;
    sqlx::query_scalar(
        "SELECT ITEM_NO FROM IM_ITEM WHERE IS_ECOMM_ITEM = 'Y' AND STAT = 'A' AND ITEM_TYP = 'I' AND TRK_METH <> 'G' \
         ORDER BY ITEM_NO LIMIT ?1",
    )
    .bind(limit)
    .fetch_all(&mut db)
    .await
    .expect("skus")
}

async fn sql(shop: &Shop, statement: &str, sku: &str) {
    let mut db = shop.replica().await;
    let done =
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).bind(sku).execute(&mut db).await.expect(statement);
    assert!(done.rows_affected() > 0, "{statement} changed nothing for {sku}");
}

/// What the store should show for a SKU at MAIN with no staged orders: on hand minus committed, floored at 0.
async fn expected_stock(shop: &Shop, sku: &str) -> i64 {
    let mut db = shop.replica().await;
    let row = sqlx::query(
        "SELECT CAST(QTY_ON_HND AS REAL) AS H, CAST(QTY_COMMIT AS REAL) AS C FROM IM_INV WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'",
    )
    .bind(sku)
    .fetch_one(&mut db)
    .await
    .expect("IM_INV row");
    let (on_hand, commit): (f64, f64) = (row.get("H"), row.get("C"));
    #[allow(clippy::cast_possible_truncation)]
    let whole = (on_hand - commit).floor() as i64;
    whole.max(0)
}

async fn unconsumed_changes(shop: &Shop) -> i64 {
    let mut db = shop.replica().await;
    sqlx::query_scalar("SELECT COUNT(*) FROM USER_INV_CHANGES WHERE CONSUMED_DT IS NULL")
        .fetch_one(&mut db)
        .await
        .expect("changes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_of_ten_thousand_items_takes_a_hundred_batches_and_then_only_changes_are_sent() {
    // Simple products: the floor of one request per 100 is theirs (grids have their own test, and `bench sync`).
    let shop = Shop::open_seeded(10_000, &[], 0, "\n[products]\ngrid_variations = false\n").await;
    let first = sync(&shop, &["products"], true);
    let on_web = first["on_web"].as_u64().expect("on_web");
    assert!(on_web > 5_000, "most seeded items are for the web: {first}");
    assert_eq!(first["created"].as_u64(), Some(on_web), "{first}");
    let after_first = requests(&shop).await;
    let batches = after_first.get("POST /products/batch").copied().unwrap_or(0);
    assert!(batches <= 100 && batches == on_web.div_ceil(100), "{batches} batch requests for {on_web} products");
    assert_eq!(first["batch_requests"].as_u64(), Some(batches));
    assert_eq!(products(&shop).await.len() as u64, on_web);

    let second = sync(&shop, &["products"], true);
    assert_eq!(second["unchanged"].as_u64(), Some(on_web), "{second}");
    assert_eq!(writes(&requests(&shop).await), writes(&after_first), "a sync with nothing changed writes nothing");

    // 37 prices change in Counterpoint: one batch carries them.
    let changed = web_skus(&shop, 37).await;
    for sku in &changed {
        sql(&shop, "UPDATE IM_ITEM SET PRC_1 = 1234.5, REG_PRC = 1234.5 WHERE ITEM_NO = ?1", sku).await;
    }
    let before = requests(&shop).await;
    let third = sync(&shop, &["products"], true);
    assert_eq!(third["updated"].as_u64(), Some(37), "{third}");
    let after = requests(&shop).await;
    assert_eq!(writes(&after) - writes(&before), 1, "exactly one batch request");
    let product = shop.woo.product_by_sku(&changed[36]).await.expect("lookup").expect("product");
    assert_eq!(product.regular_price.map(|p| p.to_string()), Some("1234.50".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_are_adopted_retired_and_only_owned_fields_are_overwritten() {
    // Three products exist in the store before cpbridge; the store owns product names.
    let owned = "\n[products]\nowned_fields = [\"regular_price\", \"sale_price\", \"categories\", \"status\"]\n\
                 grid_variations = false\n";
    let shop = Shop::open(&[], 3, owned).await;
    let preexisting: Vec<(String, u64)> = {
        let all = products(&shop).await;
        all.values().map(|p| (p.sku.to_string(), p.id)).collect()
    };
    let first = sync(&shop, &["products"], true);
    assert_eq!(first["adopted"].as_u64(), Some(3), "{first}");
    let on_web = first["on_web"].as_u64().expect("on_web");
    assert_eq!(first["created"].as_u64(), Some(on_web - 3), "{first}");
    let all = products(&shop).await;
    assert_eq!(all.len() as u64, on_web, "no duplicate for an adopted SKU");
    for (sku, id) in &preexisting {
        assert_eq!(all[sku].id, *id, "SKU {sku} keeps its product");
        assert_eq!(all[sku].name, format!("Item {sku}"), "the name is the store's");
    }

    // A person renames a product; Counterpoint changes its price: the price follows, the name stays.
    let skus = web_skus(&shop, 5).await;
    let edited = &skus[4];
    let id = all[edited].id;
    shop.woo
        .update_product(id, &ProductWrite { name: Some("Hand-written name".into()), ..ProductWrite::default() })
        .await
        .expect("edit");
    sql(&shop, "UPDATE IM_ITEM SET PRC_1 = 77.7, REG_PRC = 77.7 WHERE ITEM_NO = ?1", edited).await;
    let second = sync(&shop, &["products"], true);
    assert_eq!(second["updated"].as_u64(), Some(1), "{second}");
    let product = shop.woo.product(id).await.expect("product");
    assert_eq!(
        (product.name.as_str(), product.regular_price.map(|p| p.to_string())),
        ("Hand-written name", Some("77.70".into()))
    );

    // Discontinued, taken off the web, and deleted: each becomes a draft, and none is deleted.
    let (discontinued, off_web, deleted) = (&skus[1], &skus[2], &skus[3]);
    sql(&shop, "UPDATE IM_ITEM SET STAT = 'D' WHERE ITEM_NO = ?1", discontinued).await;
    sql(&shop, "UPDATE IM_ITEM SET IS_ECOMM_ITEM = 'N' WHERE ITEM_NO = ?1", off_web).await;
    sql(&shop, "DELETE FROM IM_ITEM WHERE ITEM_NO = ?1", deleted).await;
    let third = sync(&shop, &["products"], true);
    assert_eq!(third["retired"].as_u64(), Some(3), "{third}");
    let all = products(&shop).await;
    assert_eq!(all.len() as u64, on_web, "nothing is deleted");
    for sku in [discontinued, off_web, deleted] {
        assert_eq!(all[sku].status, "draft", "SKU {sku}");
    }
    assert_eq!(sync(&shop, &["products"], true)["retired"].as_u64(), Some(0), "retired once");

    // Back on the web: published again.
    sql(&shop, "UPDATE IM_ITEM SET STAT = 'A' WHERE ITEM_NO = ?1", discontinued).await;
    let fourth = sync(&shop, &["products"], true);
    assert_eq!(fourth["updated"].as_u64(), Some(1), "{fourth}");
    let back = shop.woo.product_by_sku(discontinued).await.expect("lookup").expect("product");
    assert_eq!(back.status, "publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_changes_reach_the_store_in_seconds_and_a_failed_push_loses_nothing() {
    let shop = Shop::open(&[], 0, "").await;
    sync(&shop, &["products"], true);
    let skus = web_skus(&shop, 3).await;

    // WooCommerce is down: the push fails and the change rows stay.
    sql(&shop, "UPDATE IM_INV SET QTY_ON_HND = QTY_ON_HND + 11 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'", &skus[0]).await;
    assert_eq!(unconsumed_changes(&shop).await, 1);
    shop.faults(1.0).await;
    let failed = shop.cli(&["sync", "inventory"]);
    assert!(!failed.status.success(), "a push that cannot land is an error");
    assert_eq!(unconsumed_changes(&shop).await, 1, "the change is kept");
    shop.faults(0.0).await;
    let report = sync(&shop, &["inventory"], true);
    assert_eq!((report["changes"].as_u64(), report["pushed"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(unconsumed_changes(&shop).await, 0);
    let product = shop.woo.product_by_sku(&skus[0]).await.expect("lookup").expect("product");
    assert_eq!(product.stock_quantity, Some(expected_stock(&shop, &skus[0]).await));

    // With the daemon polling every half second, a plain SQL change shows in the store within a few seconds.
    shop.write_config_with(
        "products_secs = 0\ninventory_events_secs = 0.5\ninventory_reconcile_secs = 0\ncustomers_secs = 0",
        "",
    );
    let _daemon = shop.daemon();
    for (n, sku) in skus.iter().enumerate() {
        sql(&shop, "UPDATE IM_INV SET QTY_ON_HND = QTY_ON_HND + 5 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'", sku).await;
        let want = expected_stock(&shop, sku).await;
        let start = Instant::now();
        loop {
            let shown = shop.woo.product_by_sku(sku).await.expect("lookup").expect("product").stock_quantity;
            if shown == Some(want) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "change {n}: SKU {sku} shows {shown:?}, want {want}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unapplied_order_is_not_oversold_and_a_reconcile_repairs_tampering() {
    let shop = Shop::open(&[], 0, "").await;
    sync(&shop, &["products"], true);
    let skus = web_skus(&shop, 6).await;
    let sku = &skus[0];
    sql(&shop, "UPDATE IM_INV SET QTY_ON_HND = QTY_COMMIT + 20 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'", sku).await;
    sync(&shop, &["inventory"], true);
    let product = shop.woo.product_by_sku(sku).await.expect("lookup").expect("product");
    assert_eq!(product.stock_quantity, Some(20));

    // A web order takes 3; it is staged but not yet applied when a receipt of 10 lands in Counterpoint.
    let line = cpbridge_woo::model::LineItemWrite { sku: Some(sku.clone().into()), quantity: 3, ..Default::default() };
    shop.place_lines(1, 0, vec![line]).await;
    let pulled = shop.cli(&["orders", "pull"]);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    sql(&shop, "UPDATE IM_INV SET QTY_ON_HND = QTY_ON_HND + 10 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'", sku).await;
    sync(&shop, &["inventory"], true);
    let shown = shop.woo.product_by_sku(sku).await.expect("lookup").expect("product").stock_quantity;
    // 20 + 10 - 3: the staged order's units are not handed back.
    assert_eq!(shown, Some(27));
    // Once applied, Counterpoint commits the 3 itself, and the store still shows 27.
    let processed = shop.cli(&["orders", "process"]);
    assert!(processed.status.success(), "{}", stderr(&processed));
    sync(&shop, &["inventory"], true);
    let shown = shop.woo.product_by_sku(sku).await.expect("lookup").expect("product").stock_quantity;
    assert_eq!(shown, Some(27));

    // Someone sets five products' stock by hand in WooCommerce: the reconcile finds and repairs exactly those.
    let clean = sync(&shop, &["inventory", "--full"], true);
    assert_eq!(clean["drifted"].as_u64(), Some(0), "{clean}");
    for sku in &skus[1..6] {
        let id = shop.woo.product_by_sku(sku).await.expect("lookup").expect("product").id;
        shop.woo.update_product(id, &ProductWrite::stock(id, 999)).await.expect("tamper");
    }
    let repaired = sync(&shop, &["inventory", "--full"], true);
    assert_eq!(repaired["drifted"].as_u64(), Some(5), "{repaired}");
    for sku in &skus[1..6] {
        let shown = shop.woo.product_by_sku(sku).await.expect("lookup").expect("product").stock_quantity;
        assert_eq!(shown, Some(expected_stock(&shop, sku).await), "SKU {sku}");
    }
    assert_eq!(sync(&shop, &["inventory", "--full"], true)["drifted"].as_u64(), Some(0));
}

/// The customer as the sandbox stores it, protected meta included.
async fn stored_customer(shop: &Shop, id: u64) -> Value {
    reqwest::get(format!("{}/__sandbox/customers/{id}", shop.sandbox.base))
        .await
        .expect("raw")
        .json()
        .await
        .expect("json")
}

fn meta(customer: &Value, key: &str) -> Option<String> {
    customer["meta_data"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == key)
        .and_then(|m| m["value"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_flow_both_ways_with_one_owner_per_field() {
    let shop = Shop::open(&[], 0, "").await;
    let mut db = shop.replica().await;
    let ecomm: Vec<(String, String)> = sqlx::query_as(
        "SELECT CUST_NO, EMAIL_ADRS_1 FROM AR_CUST WHERE IS_ECOMM_CUST = 'Y' AND EMAIL_ADRS_1 LIKE '%@%' ORDER BY CUST_NO",
    )
    .fetch_all(&mut db)
    .await
    .expect("customers");
    assert!(ecomm.len() > 5, "the seed has web customers");
    // One registration uses the e-mail of a shop customer, one is new to the shop.
    let (known_no, known_email) = ecomm[0].clone();
    let known = shop.customer(&known_email.to_uppercase()).await;
    let stranger = shop.customer("new.person@example.test").await;

    let first = sync(&shop, &["customers"], true);
    assert_eq!((first["linked"].as_u64(), first["created_in_counterpoint"].as_u64()), (Some(1), Some(1)), "{first}");
    let new_no: String =
        sqlx::query_scalar("SELECT CUST_NO FROM AR_CUST WHERE EMAIL_ADRS_1 = 'new.person@example.test'")
            .fetch_one(&mut db)
            .await
            .expect("created in AR_CUST");
    assert!(new_no.starts_with("WEB"), "numbered by the order pipeline's scheme: {new_no}");
    // Every web customer of the shop is in the store once, the two registrations included, each with its CUST_NO.
    let all: Vec<cpbridge_woo::model::Customer> = shop.woo.customers(Vec::new()).try_collect().await.expect("list");
    assert_eq!(all.len(), ecomm.len() + 1, "one account per e-mail");
    // Stored under a key WooCommerce keeps (it drops `_`-prefixed customer meta on write).
    assert_eq!(meta(&stored_customer(&shop, known).await, "cp_cust_no"), Some(known_no.clone()));
    assert_eq!(meta(&stored_customer(&shop, stranger).await, "cp_cust_no"), Some(new_no.clone()));
    let (other_no, other_email) = ecomm[1].clone();
    let other = shop.woo.customer_by_email(&other_email).await.expect("lookup").expect("created in the store");
    assert_eq!(meta(&stored_customer(&shop, other.id).await, "cp_cust_no"), Some(other_no.clone()));
    // And readable through the REST API, where the pricing plugin's site (and anyone repairing links) sees it.
    let read_back = shop.woo.customer(known).await.expect("customer");
    let link = read_back.meta_data.iter().find(|m| m.key == "cp_cust_no").and_then(|m| m.value.as_str());
    assert_eq!(link, Some(known_no.as_str()));
    assert!(meta(&stored_customer(&shop, known).await, "_cp_cust_no").is_none(), "never the key WooCommerce drops");

    let before = requests(&shop).await;
    let second = sync(&shop, &["customers"], true);
    assert_eq!(second["unchanged"].as_u64(), Some(ecomm.len() as u64 + 1), "{second}");
    assert_eq!(writes(&requests(&shop).await), writes(&before), "nothing changed, nothing written");

    // Counterpoint owns the billing address; the customer owns their shipping address.
    sqlx::query("UPDATE AR_CUST SET CITY = 'Fresno' WHERE CUST_NO = ?1")
        .bind(&other_no)
        .execute(&mut db)
        .await
        .expect("city");
    let shipping = serde_json::json!({"first_name": "Pat", "last_name": "Web", "address_1": "9 Harbor Way",
                                      "city": "Oakland", "postcode": "94607", "country": "US"});
    let edit = cpbridge_woo::model::CustomerWrite {
        shipping: Some(serde_json::from_value(shipping).expect("address")),
        ..Default::default()
    };
    shop.woo.update_customer(other.id, &edit).await.expect("edit shipping");
    let third = sync(&shop, &["customers"], true);
    assert_eq!(
        (third["updated_in_woocommerce"].as_u64(), third["updated_in_counterpoint"].as_u64()),
        (Some(1), Some(1)),
        "{third}"
    );
    let now = shop.woo.customer(other.id).await.expect("customer");
    assert_eq!((now.billing.city.as_str(), now.shipping.city.as_str()), ("Fresno", "Oakland"));
    let ship_to: String =
        sqlx::query_scalar("SELECT ADRS_1 FROM AR_SHIP_ADRS WHERE CUST_NO = ?1 AND SHIP_ADRS_ID = 'WEB'")
            .bind(&other_no)
            .fetch_one(&mut db)
            .await
            .expect("ship-to in Counterpoint");
    assert_eq!(ship_to, "9 Harbor Way");
}

/// The first gridded apparel item, put on the web; its cells on the web too, except the one `off_web` names
/// (`(DIM_1_UPR, DIM_2_UPR)`).
async fn web_grid(db: &mut sqlx::SqliteConnection, off_web: Option<(&str, &str)>) -> String {
    let grid: String =
        sqlx::query_scalar("SELECT MIN(ITEM_NO) FROM IM_ITEM WHERE TRK_METH = 'G' AND CATEG_COD = 'APPAREL'")
            .fetch_one(&mut *db)
            .await
            .expect("a gridded item");
    sqlx::query("UPDATE IM_ITEM SET IS_ECOMM_ITEM = 'Y', STAT = 'A' WHERE ITEM_NO = ?1")
        .bind(&grid)
        .execute(&mut *db)
        .await
        .expect("on the web");
    let (d1, d2) = off_web.unwrap_or(("", ""));
    sqlx::query(
        "UPDATE IM_INV_CELL SET IS_ECOMM_ITEM_CELL = CASE WHEN DIM_1_UPR = ?2 AND DIM_2_UPR = ?3 THEN 'N' ELSE 'Y' END \
         WHERE ITEM_NO = ?1",
    )
    .bind(&grid)
    .bind(d1)
    .bind(d2)
    .execute(&mut *db)
    .await
    .expect("the cells on the web");
    grid
}

/// Checks that the Navy variations of these sizes show their cells' available stock at MAIN (floored at 0), and
/// returns the parent's variations as the store has them.
async fn navy_stock_shown(
    shop: &Shop,
    db: &mut sqlx::SqliteConnection,
    grid: &str,
    parent_id: u64,
    sizes: &[&str],
) -> Vec<cpbridge_woo::model::Variation> {
    let variations: Vec<cpbridge_woo::model::Variation> =
        shop.woo.variations(parent_id).try_collect().await.expect("variations");
    for size in sizes {
        let sku = format!("{grid}-{size}-NAVY");
        let available: f64 = sqlx::query_scalar(
            "SELECT CAST(QTY_ON_HND - QTY_COMMIT AS REAL) FROM IM_INV_CELL WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' \
             AND DIM_1_UPR = ?2 AND DIM_2_UPR = 'NAVY'",
        )
        .bind(grid)
        .bind(size)
        .fetch_one(&mut *db)
        .await
        .expect("cell");
        let shown = variations.iter().find(|v| v.sku == sku).and_then(|v| v.stock_quantity);
        assert_eq!(shown, Some(available.max(0.0) as i64), "{sku}");
    }
    variations
}

/// With `products.grid_variations`, a gridded item becomes a variable product: an attribute per dimension, a variation
/// per web cell (the cell off the web left out) with the cell's price and stock; an unchanged grid writes nothing, and
/// a colour added in Counterpoint appears as new variations on the next sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_becomes_a_variable_product_with_a_variation_per_web_cell() {
    let shop = Shop::open_seeded(60, &[], 0, "\n[products]\nprice_location = \"MAIN\"\ngrid_variations = true\n").await;
    let mut db = shop.replica().await;
    // The first gridded apparel item, put on the web with one cell off it.
    let grid = web_grid(&mut db, Some(("S", "RED"))).await;
    let first = sync(&shop, &["products"], true);
    assert!(first["failed"].as_u64().unwrap_or(0) == 0 || first.get("failed").is_none(), "{first}");
    let parent = shop.woo.product_by_sku(&grid).await.expect("lookup").expect("the variable product");
    assert_eq!(parent.kind, "variable");
    let category = parent.extra.get("categories").and_then(|c| c.get(0)).and_then(|c| c.get("name")).cloned();
    assert_eq!(category, Some(Value::from("APPAREL")), "the parent sits in its item's category");
    let variations: Vec<cpbridge_woo::model::Variation> =
        shop.woo.variations(parent.id).try_collect().await.expect("variations");
    let skus: std::collections::BTreeSet<String> = variations.iter().map(|v| v.sku.to_string()).collect();
    assert_eq!(skus.len(), 11, "4 sizes x 3 colours, one cell off the web: {skus:?}");
    assert!(skus.contains(&format!("{grid}-XL-NAVY")) && !skus.contains(&format!("{grid}-S-RED")), "{skus:?}");
    // Each variation starts with its cell's stock (on hand less committed at MAIN, never below 0).
    for v in &variations {
        let cell: Vec<&str> = v.sku.trim_start_matches(&format!("{grid}-")).split('-').collect();
        let row = sqlx::query(
            "SELECT CAST(QTY_ON_HND - QTY_COMMIT AS REAL) AS A FROM IM_INV_CELL \
             WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' AND DIM_1_UPR = ?2 AND DIM_2_UPR = ?3",
        )
        .bind(&grid)
        .bind(cell[0])
        .bind(cell[1])
        .fetch_one(&mut db)
        .await
        .expect("cell");
        let available: f64 = row.get("A");
        assert_eq!(v.stock_quantity, Some(available.max(0.0) as i64), "{}", v.sku);
    }

    let before = requests(&shop).await;
    let again = sync(&shop, &["products"], true);
    assert_eq!(writes(&requests(&shop).await), writes(&before), "an unchanged grid writes nothing: {again}");

    // The largest size has a price row of its own at the price location.
    let cell_reg: f64 = sqlx::query_scalar(
        "SELECT CAST(REG_PRC AS REAL) FROM IM_PRC WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' AND DIM_1_UPR = 'XL' \
         AND DIM_2_UPR = 'NAVY'",
    )
    .bind(&grid)
    .fetch_one(&mut db)
    .await
    .expect("the cell's price row");
    let xl = variations.iter().find(|v| v.sku == format!("{grid}-XL-NAVY")).expect("XL navy");
    assert_eq!(xl.regular_price.map(|p| p.to_string()), Some(format!("{cell_reg:.2}")), "the cell's own REG_PRC");

    // A new colour in Counterpoint: four more cells, four more variations.
    sqlx::query("INSERT INTO IM_GRID_DIM_2 (ITEM_NO, DIM_2_UPR, DIM_2, DIM_2_SEQ_NO) VALUES (?1, 'SAND', 'Sand', 9)")
        .bind(&grid)
        .execute(&mut db)
        .await
        .expect("colour");
    for size in ["S", "M", "L", "XL"] {
        sqlx::query(
            "INSERT INTO IM_INV_CELL (ITEM_NO, LOC_ID, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, QTY_COMMIT, QTY_ON_HND, \
             QTY_ON_ORD, CELL_STAT, IS_ECOMM_ITEM_CELL) VALUES (?1, 'MAIN', ?2, 'SAND', '*', 0, 3, 0, 'A', 'Y')",
        )
        .bind(&grid)
        .bind(size)
        .execute(&mut db)
        .await
        .expect("cell");
    }
    sync(&shop, &["products"], true);
    let variations: Vec<cpbridge_woo::model::Variation> =
        shop.woo.variations(parent.id).try_collect().await.expect("variations");
    assert_eq!(variations.len(), 15, "four Sand sizes added");
    let parent = shop.woo.product(parent.id).await.expect("parent");
    assert_eq!(parent.kind, "variable");

    // An order for two sizes is booked on both cells, and on the item's row.
    let committed = |size: &'static str| {
        sqlx::query_scalar::<_, f64>(
            "SELECT CAST(QTY_COMMIT AS REAL) FROM IM_INV_CELL WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' \
             AND DIM_1_UPR = ?2 AND DIM_2_UPR = 'NAVY'",
        )
        .bind(grid.clone())
        .bind(size)
    };
    let (m_before, l_before) =
        (committed("M").fetch_one(&mut db).await.expect("M"), committed("L").fetch_one(&mut db).await.expect("L"));
    let line = |size: &str, quantity: i64| cpbridge_woo::model::LineItemWrite {
        sku: Some(format!("{grid}-{size}-NAVY").into()),
        quantity,
        ..cpbridge_woo::model::LineItemWrite::default()
    };
    shop.place_lines(1, 0, vec![line("M", 2), line("L", 1)]).await;
    let pulled = shop.cli(&["orders", "pull"]);
    assert!(crate::stdout(&pulled).contains("\"staged\": 1"), "{}", crate::stdout(&pulled));
    process_applies_one(&shop);
    assert_eq!(committed("M").fetch_one(&mut db).await.expect("M"), m_before + 2.0);
    assert_eq!(committed("L").fetch_one(&mut db).await.expect("L"), l_before + 1.0);
    let cells: Vec<(String, f64)> = sqlx::query_as(
        "SELECT c.DIM_1_UPR, CAST(c.QTY_SOLD AS REAL) FROM PS_DOC_LIN_CELL c JOIN PS_DOC_LIN l \
         ON l.DOC_ID = c.DOC_ID AND l.LIN_SEQ_NO = c.LIN_SEQ_NO WHERE l.ITEM_NO = ?1 ORDER BY c.LIN_SEQ_NO",
    )
    .bind(&grid)
    .fetch_all(&mut db)
    .await
    .expect("line cells");
    assert_eq!(cells, vec![("M".to_owned(), 2.0), ("L".to_owned(), 1.0)]);

    // Stock per cell follows Counterpoint: the order's commitments, and a delivery of 10 XL Navy (Counterpoint updates
    // the cell and the item's row together), reach their variations with the stock events.
    sqlx::query(
        "UPDATE IM_INV_CELL SET QTY_ON_HND = QTY_ON_HND + 10 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' \
         AND DIM_1_UPR = 'XL' AND DIM_2_UPR = 'NAVY'",
    )
    .bind(&grid)
    .execute(&mut db)
    .await
    .expect("delivery to the cell");
    sqlx::query("UPDATE IM_INV SET QTY_ON_HND = QTY_ON_HND + 10 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'")
        .bind(&grid)
        .execute(&mut db)
        .await
        .expect("and to the item's row");
    let events = sync(&shop, &["inventory"], true);
    assert!(events["pushed"].as_u64().is_some_and(|n| n >= 1), "{events}");
    navy_stock_shown(&shop, &mut db, &grid, parent.id, &["M", "L", "XL"]).await;
    let parent = shop.woo.product(parent.id).await.expect("parent");
    assert_eq!(parent.kind, "variable", "the parent's stock is left to its variations");

    // Two units moved from L Navy to M Navy: the item's row does not change, only the two cells do. The trigger on
    // IM_INV_CELL reports both, and the events push exactly those two variations.
    for (size, delta) in [("L", -2), ("M", 2)] {
        sqlx::query(
            "UPDATE IM_INV_CELL SET QTY_ON_HND = QTY_ON_HND + ?3 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' \
             AND DIM_1_UPR = ?2 AND DIM_2_UPR = 'NAVY'",
        )
        .bind(&grid)
        .bind(size)
        .bind(delta)
        .execute(&mut db)
        .await
        .expect("a transfer between cells");
    }
    let moved = sync(&shop, &["inventory"], true);
    assert_eq!((moved["changes"].as_u64(), moved["checked"].as_u64()), (Some(2), Some(2)), "{moved}");
    let variations = navy_stock_shown(&shop, &mut db, &grid, parent.id, &["M", "L"]).await;

    // Someone edits a variation's stock in the store: the full reconcile finds and repairs it.
    let tampered = variations.iter().find(|v| v.sku == format!("{grid}-XL-NAVY")).expect("XL navy");
    shop.woo.update_variation(parent.id, tampered.id, &ProductWrite::stock(tampered.id, 999)).await.expect("tamper");
    let repaired = sync(&shop, &["inventory", "--full"], true);
    assert!(repaired["drifted"].as_u64().is_some_and(|n| n >= 1), "{repaired}");
    let fixed: Vec<cpbridge_woo::model::Variation> =
        shop.woo.variations(parent.id).try_collect().await.expect("variations");
    let xl = fixed.iter().find(|v| v.id == tampered.id).expect("XL navy");
    assert_eq!(xl.stock_quantity, tampered.stock_quantity, "put back to the cell's stock");
}

/// A shop that made its variable product by hand, with some variations under the SKUs cpbridge would use and one
/// that no cell stands for: cpbridge takes over the same product and the same variations instead of creating them
/// again, creates the missing ones, and makes the stray one private.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_product_made_by_hand_is_adopted_with_its_variations() {
    let shop = Shop::open_seeded(60, &[], 0, "\n[products]\nprice_location = \"MAIN\"\ngrid_variations = true\n").await;
    let mut db = shop.replica().await;
    let grid = web_grid(&mut db, None).await;
    let mut parent =
        ProductWrite { sku: Some(grid.clone().into()), name: Some("Made by hand".into()), ..Default::default() };
    parent.kind = Some("variable".into());
    parent
        .extra
        .insert("attributes".into(), serde_json::json!([{ "name": "Size", "variation": true, "options": ["M", "L"] }]));
    let parent = shop.woo.create_product(&parent).await.expect("hand-made parent");
    let mut hand_made = Vec::new();
    for sku in [format!("{grid}-M-NAVY"), format!("{grid}-L-NAVY"), format!("{grid}-OLD")] {
        let write =
            ProductWrite { sku: Some(sku.clone().into()), regular_price: Some("1.00".into()), ..Default::default() };
        let variation = shop.woo.create_variation(parent.id, &write).await.expect("hand-made variation");
        hand_made.push((sku, variation.id));
    }

    let first = sync(&shop, &["products"], true);
    assert!(first.get("failed").is_none_or(|f| f.as_u64() == Some(0)), "{first}");
    assert!(first["adopted"].as_u64().is_some_and(|n| n >= 3), "the parent and two variations: {first}");
    let adopted = shop.woo.product_by_sku(&grid).await.expect("lookup").expect("the parent");
    assert_eq!((adopted.id, adopted.kind.as_str()), (parent.id, "variable"), "the same product, now cpbridge's");
    let variations: Vec<cpbridge_woo::model::Variation> =
        shop.woo.variations(parent.id).try_collect().await.expect("variations");
    let by_sku: BTreeMap<&str, &cpbridge_woo::model::Variation> =
        variations.iter().map(|v| (v.sku.as_str(), v)).collect();
    assert_eq!(by_sku.len(), 13, "12 cells and the stray one, none twice: {:?}", by_sku.keys());
    for (sku, id) in &hand_made[..2] {
        let v = by_sku[sku.as_str()];
        assert_eq!(v.id, *id, "{sku} kept its variation");
        assert_ne!(v.regular_price.map(|p| p.to_string()), Some("1.00".into()), "{sku} got Counterpoint's price");
    }
    let stray = by_sku[format!("{grid}-OLD").as_str()];
    assert_eq!(stray.extra.get("status").and_then(Value::as_str), Some("private"), "no cell stands for it");

    let before = requests(&shop).await;
    let again = sync(&shop, &["products"], true);
    assert_eq!(writes(&requests(&shop).await), writes(&before), "then nothing to write: {again}");
}

/// `orders process` by hand, which must apply exactly one order.
fn process_applies_one(shop: &Shop) {
    let processed = shop.cli(&["orders", "process"]);
    assert!(
        crate::stdout(&processed).contains("\"applied\": 1"),
        "{}{}",
        crate::stdout(&processed),
        stderr(&processed)
    );
}

/// Places an order for `quantity` of `sku`, takes it into Counterpoint by hand (`orders pull`, `orders process`), and
/// returns how much more the `cell` (`DIM_1_UPR`, `DIM_2_UPR`) of `grid` at MAIN then has committed.
async fn book_on_cell(
    shop: &Shop,
    db: &mut sqlx::SqliteConnection,
    grid: &str,
    sku: &str,
    quantity: i64,
    cell: (&str, &str),
) -> f64 {
    let committed = || {
        sqlx::query_scalar::<_, f64>(
            "SELECT CAST(QTY_COMMIT AS REAL) FROM IM_INV_CELL WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' \
             AND DIM_1_UPR = ?2 AND DIM_2_UPR = ?3",
        )
        .bind(grid.to_owned())
        .bind(cell.0.to_owned())
        .bind(cell.1.to_owned())
    };
    let before = committed().fetch_one(&mut *db).await.expect("the cell");
    let line = cpbridge_woo::model::LineItemWrite { sku: Some(sku.into()), quantity, ..Default::default() };
    shop.place_lines(1, 0, vec![line]).await;
    assert!(shop.cli(&["orders", "pull"]).status.success());
    process_applies_one(shop);
    committed().fetch_one(&mut *db).await.expect("the cell") - before
}

/// `products.variation_sku = "barcode"`: each variation's SKU is its cell's barcode; an order for one is booked on
/// that cell, the cell's stock reaches it, and the pricing API prices it as the same cell under its other SKU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variations_can_take_their_cells_barcodes_as_skus() {
    const KEY: &str = "test-pricing-key-barcodes-0123";
    let extra = format!(
        "\n[products]\nprice_location = \"MAIN\"\nvariation_sku = \"barcode\"\n[pricing]\napi_keys = [\"{KEY}\"]\n"
    );
    let shop = Shop::open_seeded(60, &[], 0, &extra).await;
    let mut db = shop.replica().await;
    let grid = web_grid(&mut db, None).await;
    let barcode_of = |size: &'static str| {
        sqlx::query_scalar::<_, String>(
            "SELECT BARCOD FROM IM_BARCOD WHERE ITEM_NO = ?1 AND DIM_1_UPR = ?2 AND DIM_2_UPR = 'NAVY' \
             ORDER BY BARCOD_ID LIMIT 1",
        )
        .bind(grid.clone())
        .bind(size)
    };
    let (m_navy, xl_navy) =
        (barcode_of("M").fetch_one(&mut db).await.expect("M"), barcode_of("XL").fetch_one(&mut db).await.expect("XL"));
    let first = sync(&shop, &["products"], true);
    assert!(first.get("failed").is_none_or(|f| f.as_u64() == Some(0)), "{first}");
    let parent = shop.woo.product_by_sku(&grid).await.expect("lookup").expect("the variable product");
    let variations: Vec<cpbridge_woo::model::Variation> =
        shop.woo.variations(parent.id).try_collect().await.expect("variations");
    let barcodes: std::collections::BTreeSet<String> =
        sqlx::query_scalar("SELECT DISTINCT BARCOD FROM IM_BARCOD WHERE ITEM_NO = ?1 AND DIM_1_UPR <> '*'")
            .bind(&grid)
            .fetch_all(&mut db)
            .await
            .expect("barcodes")
            .into_iter()
            .collect();
    let skus: std::collections::BTreeSet<String> = variations.iter().map(|v| v.sku.to_string()).collect();
    assert_eq!(skus, barcodes, "one variation per cell, under its barcode");

    // An order for M Navy by its barcode is booked on that cell.
    let booked = book_on_cell(&shop, &mut db, &grid, &m_navy, 1, ("M", "NAVY")).await;
    assert_eq!(booked, 1.0, "booked on the M Navy cell");

    // A delivery to M Navy reaches the variation under its barcode.
    for statement in [
        "UPDATE IM_INV_CELL SET QTY_ON_HND = QTY_ON_HND + 7 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' AND DIM_1_UPR = 'M' \
         AND DIM_2_UPR = 'NAVY'",
        "UPDATE IM_INV SET QTY_ON_HND = QTY_ON_HND + 7 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'",
    ] {
        sqlx::query(statement).bind(&grid).execute(&mut db).await.expect(statement);
    }
    sync(&shop, &["inventory"], true);
    let available: f64 = sqlx::query_scalar(
        "SELECT CAST(QTY_ON_HND - QTY_COMMIT AS REAL) FROM IM_INV_CELL WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' \
         AND DIM_1_UPR = 'M' AND DIM_2_UPR = 'NAVY'",
    )
    .bind(&grid)
    .fetch_one(&mut db)
    .await
    .expect("cell");
    let shown = shop.woo.product_by_sku(&m_navy).await.expect("lookup").map(|p| p.stock_quantity);
    assert_eq!(shown, Some(Some(available.max(0.0) as i64)), "M Navy under {m_navy}");

    // The pricing API prices the barcode as the same cell under its ITEM-DIM1-DIM2 name.
    let customer: String =
        sqlx::query_scalar("SELECT MIN(CUST_NO) FROM AR_CUST").fetch_one(&mut db).await.expect("a customer");
    shop.write_config_with(
        "products_secs = 0\ninventory_events_secs = 0\ninventory_reconcile_secs = 0\ncustomers_secs = 0\npricing_refresh_secs = 0.5",
        &extra,
    );
    let daemon = shop.daemon();
    let body =
        serde_json::json!({"customer": customer, "items": [{"sku": xl_navy}, {"sku": format!("{grid}-XL-NAVY")}]});
    let start = Instant::now();
    let answer: Value = loop {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/prices", daemon.base))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .expect("prices");
        if response.status() != 503 {
            assert_eq!(response.status(), 200);
            break response.json().await.expect("json");
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the price book loads");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let items = answer["items"].as_array().expect("items");
    assert!(items[0]["unit_price"].is_string(), "{answer}");
    assert_eq!(items[0]["unit_price"], items[1]["unit_price"], "{answer}");
}

/// A dimension value may hold a dash (`NAVY-2`): the variation's SKU `ITEM-M-NAVY-2` is still read as its cell, so
/// an order for it is booked on that cell and the pricing API prices it from the cell's own price row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dimension_holding_a_dash_still_names_its_cell() {
    const KEY: &str = "test-pricing-key-dashed-dims-01";
    let extra = format!("\n[products]\nprice_location = \"MAIN\"\n[pricing]\napi_keys = [\"{KEY}\"]\n");
    let shop = Shop::open_seeded(60, &[], 0, &extra).await;
    let mut db = shop.replica().await;
    let grid = web_grid(&mut db, None).await;
    for table in ["IM_GRID_DIM_2", "IM_INV_CELL", "IM_PRC", "IM_BARCOD"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET DIM_2_UPR = 'NAVY-2' WHERE ITEM_NO = ?1 AND DIM_2_UPR = 'NAVY'"
        )))
        .bind(&grid)
        .execute(&mut db)
        .await
        .expect(table);
    }
    sqlx::query(
        "INSERT INTO IM_PRC (ITEM_NO, LOC_ID, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, REG_PRC, PRC_1, LST_MAINT_DT) \
         VALUES (?1, 'MAIN', 'M', 'NAVY-2', '*', 123.45, 123.45, CURRENT_TIMESTAMP)",
    )
    .bind(&grid)
    .execute(&mut db)
    .await
    .expect("the cell's own price");
    let sku = format!("{grid}-M-NAVY-2");
    let first = sync(&shop, &["products"], true);
    assert!(first.get("failed").is_none_or(|f| f.as_u64() == Some(0)), "{first}");
    let parent = shop.woo.product_by_sku(&grid).await.expect("lookup").expect("the variable product");
    let variations: Vec<cpbridge_woo::model::Variation> =
        shop.woo.variations(parent.id).try_collect().await.expect("variations");
    let variation = variations.iter().find(|v| v.sku == sku).expect("a variation for M / NAVY-2");
    assert_eq!(variation.regular_price.map(|p| p.to_string()).as_deref(), Some("123.45"), "{variation:?}");

    // An order for it commits the M / NAVY-2 cell.
    assert_eq!(book_on_cell(&shop, &mut db, &grid, &sku, 2, ("M", "NAVY-2")).await, 2.0, "booked on its cell");

    // `cpbridge price` reads the same SKU the same way: the cell's list price, not the item's.
    let customer: String =
        sqlx::query_scalar("SELECT MIN(CUST_NO) FROM AR_CUST").fetch_one(&mut db).await.expect("a customer");
    let priced = shop.cli(&["price", &customer, &sku]);
    assert!(priced.status.success(), "{}", stderr(&priced));
    let answer: Value = serde_json::from_str(&crate::stdout(&priced)).expect("a price answer");
    assert_eq!(answer["regular_price"], "123.45", "{answer}");
}
