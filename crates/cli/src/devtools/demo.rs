//! `cpbridge demo`: the whole pipeline with no setup. A seeded Counterpoint replica and a sandbox store in a
//! temporary directory, the daemon against them with fast cadences, and simulated shoppers placing orders while the
//! shop's own stock moves. It ends with the status table and a reconciliation: every order placed is one
//! Counterpoint document, the store shows Counterpoint's stock for every SKU, and nothing is dead. With
//! `--headless` it exits 0 only if all of that holds; without, it then keeps running until Ctrl-C.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use cpbridge_core::inventory::{unapplied_by_sku, web_stock};
use cpbridge_core::staging::StagingStatus;
use cpbridge_core::{Sku, WooOrderId};
use cpbridge_counterpoint::SqlCounterpoint;
use cpbridge_devtools::seed::SeedSpec;
use cpbridge_pipelines::scheduler::JobName;
use cpbridge_woo::de::ManageStock;
use cpbridge_woo::model::{LineItemWrite, OrderWrite, Product, WebhookWrite};
use cpbridge_woo::{Credentials, WooClient, WooConfig};
use cpbridge_woo_sandbox::{Sandbox, SandboxConfig};
use futures_util::{StreamExt as _, TryStreamExt as _};
use sqlx::Connection as _;
use tokio_util::sync::CancellationToken;

use cpbridge::app::App;
use cpbridge::config::Config;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run the scenario to the end, print the status and the reconciliation, and exit (0 only if it all holds).
    #[arg(long)]
    headless: bool,
    /// Orders the simulated shoppers place.
    #[arg(long, default_value_t = 50)]
    orders: usize,
    /// Items in the seeded Counterpoint replica.
    #[arg(long, default_value_t = 1_000)]
    items: usize,
    /// Keep the demo's files (replica, store, state, config) in this new directory instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
}

const WEBHOOK_SECRET: &str = "demo-webhook-secret";

/// `cpbridge demo`.
///
/// # Errors
/// When the demo cannot set itself up; a scenario that does not reconcile exits 1 instead.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let temp = tempfile::tempdir().context("temporary directory")?;
    let dir = match &args.dir {
        Some(dir) => {
            anyhow::ensure!(!dir.join("cp.db").exists(), "{} already holds a demo; choose a new --dir", dir.display());
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let replica = dir.join("cp.db");
    println!("Counterpoint: seeding a replica with {} items at {}", args.items, replica.display());
    let cp = SqlCounterpoint::create_replica(&replica).await?;
    cpbridge_devtools::seed::seed(
        &cp,
        &SeedSpec { items: args.items, customers: 60, locations: 2, rules: 20, seed: 1 },
        &|_, _, _| {},
    )
    .await?;
    drop(cp);

    let credentials = Credentials::new("ck_demo", "cs_demo");
    let mut sandbox_config = SandboxConfig::local(credentials.clone());
    sandbox_config.data_dir = Some(dir.clone());
    let sandbox = Sandbox::build(sandbox_config).await?;
    let store_url = format!("http://127.0.0.1:{}", sandbox.port());
    let sandbox_stop = CancellationToken::new();
    let sandbox_task = tokio::spawn(sandbox.run_until_stopped({
        let token = sandbox_stop.clone();
        async move { token.cancelled().await }
    }));
    println!("WooCommerce: sandbox store at {store_url}/wp-json/wc/v3 (key ck_demo, secret cs_demo)");

    let config_path = dir.join("cpbridge.toml");
    std::fs::write(&config_path, demo_config(&dir, &store_url))?;
    let app = App::build(Config::load(&config_path)?).await?;
    // The first syncs by hand, run and recorded as the daemon runs them.
    let products = run_by_hand(&app, JobName::Products).await?;
    println!(
        "products: {} items on the web created in {} batch requests ({} categories)",
        products["created"], products["batch_requests"], products["categories_created"]
    );
    let customers = run_by_hand(&app, JobName::Customers).await?;
    println!("customers: {} web customers created in the store", customers["created_in_woocommerce"]);

    let woo = WooClient::new(WooConfig::new(&store_url, credentials))?;
    let stop = CancellationToken::new();
    let status_app = App::build(Config::load(&config_path)?).await?;
    let bound = app.bind(None).await?;
    let listen = bound.addr;
    let daemon = tokio::spawn(bound.run(stop.clone()));
    for topic in ["order.created", "order.updated"] {
        woo.create_webhook(&WebhookWrite {
            name: Some(format!("cpbridge {topic}")),
            status: Some("active".into()),
            topic: topic.into(),
            delivery_url: format!("http://{listen}/webhooks/woocommerce"),
            secret: Some(WEBHOOK_SECRET.into()),
            ..WebhookWrite::default()
        })
        .await?;
    }
    println!("status page: http://{listen}/ (live while the demo runs)");
    println!("config: {} (try `cpbridge status -c {}`)", config_path.display(), config_path.display());

    let outcome = scenario(&args, &woo, &replica, &status_app).await;
    let holds = match outcome {
        Ok(holds) => holds,
        Err(e) => {
            println!("the scenario stopped: {e:#}");
            false
        }
    };
    if !args.headless {
        println!("\nThe daemon keeps running against the demo store; press Ctrl-C to stop.");
        let _ = tokio::signal::ctrl_c().await;
    }
    stop.cancel();
    let _ = daemon.await;
    sandbox_stop.cancel();
    let _ = sandbox_task.await;
    drop(temp);
    Ok(if holds { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn demo_config(dir: &std::path::Path, store_url: &str) -> String {
    format!(
        r#"# Written by `cpbridge demo`: fast cadences so the whole pipeline shows in a minute.
[counterpoint]
url = "sqlite:{replica}"

[woocommerce]
url = "{store_url}"
consumer_key = "ck_demo"
consumer_secret = "cs_demo"
webhook_secret = "{WEBHOOK_SECRET}"

[state]
path = "{state}"

[server]
listen = "127.0.0.1:0"

[schedule]
order_pull_secs = 10
order_process_secs = 1
order_writeback_secs = 1
order_status_secs = 5
intake_secs = 0.5
products_secs = 0
inventory_events_secs = 1
inventory_reconcile_secs = 0
customers_secs = 0

[orders]
retry = {{ base_secs = 0.5, cap_secs = 5 }}
woo_retry = {{ base_secs = 0.5, cap_secs = 5 }}
"#,
        replica = dir.join("cp.db").display(),
        state = dir.join("state.db").display(),
    )
}

/// Places the orders while the shop receives stock, waits for everything to land, and reconciles.
async fn scenario(args: &DemoArgs, woo: &WooClient, replica: &std::path::Path, app: &App) -> anyhow::Result<bool> {
    let in_stock: Vec<Product> = woo
        .products(Vec::new())
        .try_filter(|p| std::future::ready(p.manage_stock == ManageStock::Yes && p.stock_quantity.unwrap_or(0) > 20))
        .take(60)
        .try_collect()
        .await?;
    anyhow::ensure!(!in_stock.is_empty(), "no product has stock to sell");
    // Sizes and colours too: variations of the gridded items with stock to sell.
    let mut sizes: Vec<String> = Vec::new();
    let variable: Vec<Product> = woo.products(vec![("type".into(), "variable".into())]).take(10).try_collect().await?;
    for parent in &variable {
        let variations: Vec<cpbridge_woo::model::Variation> = woo.variations(parent.id).try_collect().await?;
        sizes.extend(
            variations.into_iter().filter(|v| v.stock_quantity.unwrap_or(0) > 5).map(|v| v.sku.into_string()).take(3),
        );
    }
    let shoppers: Vec<u64> = woo.customers(Vec::new()).take(10).map_ok(|c| c.id).try_collect().await?;
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite:{}", replica.display())).await?;

    println!(
        "\nshoppers: placing {} orders (some for sizes of {} gridded items); the shop receives stock now and then",
        args.orders,
        variable.len()
    );
    let started = Instant::now();
    let mut placed = Vec::new();
    let mut size_lines = 0;
    for chunk_start in (0..args.orders).step_by(10) {
        let chunk: Vec<usize> = (chunk_start..(chunk_start + 10).min(args.orders)).collect();
        // Every fourth order also buys one size (a variation, booked on its grid cell).
        size_lines += chunk.iter().filter(|n| *n % 4 == 1 && !sizes.is_empty()).count();
        let results: Vec<anyhow::Result<WooOrderId>> = futures_util::stream::iter(chunk)
            .map(|n| {
                let mut lines: Vec<LineItemWrite> = (0..=(n % 3))
                    .map(|k| LineItemWrite {
                        sku: Some(in_stock[(n * 7 + k * 3) % in_stock.len()].sku.clone()),
                        quantity: i64::try_from(1 + (n + k) % 2).unwrap_or(1),
                        ..LineItemWrite::default()
                    })
                    .collect();
                if n % 4 == 1 && !sizes.is_empty() {
                    lines.push(LineItemWrite {
                        sku: Some(sizes[n / 4 % sizes.len()].clone().into()),
                        quantity: 1,
                        ..LineItemWrite::default()
                    });
                }
                let customer = if n % 3 == 0 || shoppers.is_empty() { 0 } else { shoppers[n % shoppers.len()] };
                order(n, customer, lines)
            })
            .map(|order| async move { woo.create_order(&order).await.map(|o| o.id).map_err(anyhow::Error::from) })
            .buffer_unordered(4)
            .collect()
            .await;
        for result in results {
            placed.push(result?);
        }
        // A delivery arrives at the shop: plain SQL, as any Counterpoint workstation would write it.
        let sku = &in_stock[(chunk_start / 10 * 11) % in_stock.len()].sku;
        sqlx::query("UPDATE IM_INV SET QTY_ON_HND = QTY_ON_HND + 5 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'")
            .bind(sku.as_str())
            .execute(&mut db)
            .await?;
        // And a delivery of one size: its cell and the item's row, as Counterpoint posts a receiving.
        if let Some(size) = variable.get(chunk_start / 10 % variable.len().max(1)) {
            let cell: Option<(String, String, String)> = sqlx::query_as(
                "SELECT DIM_1_UPR, DIM_2_UPR, DIM_3_UPR FROM IM_INV_CELL WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' \
                 AND IS_ECOMM_ITEM_CELL = 'Y' ORDER BY DIM_1_UPR, DIM_2_UPR LIMIT 1",
            )
            .bind(size.sku.as_str())
            .fetch_optional(&mut db)
            .await?;
            if let Some((d1, d2, d3)) = cell {
                sqlx::query(
                    "UPDATE IM_INV_CELL SET QTY_ON_HND = QTY_ON_HND + 3 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN' \
                     AND DIM_1_UPR = ?2 AND DIM_2_UPR = ?3 AND DIM_3_UPR = ?4",
                )
                .bind(size.sku.as_str())
                .bind(d1)
                .bind(d2)
                .bind(d3)
                .execute(&mut db)
                .await?;
                sqlx::query("UPDATE IM_INV SET QTY_ON_HND = QTY_ON_HND + 3 WHERE ITEM_NO = ?1 AND LOC_ID = 'MAIN'")
                    .bind(size.sku.as_str())
                    .execute(&mut db)
                    .await?;
            }
        }
        if !args.headless {
            println!("  {}", progress(app, placed.len()).await?);
        }
    }
    println!("  all {} placed in {:.1} s", placed.len(), started.elapsed().as_secs_f64());

    let limit = Duration::from_secs(60) + Duration::from_millis(200 * args.orders as u64);
    let waited = Instant::now();
    loop {
        let (done, dead) = landed(app).await?;
        let changes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM USER_INV_CHANGES WHERE CONSUMED_DT IS NULL")
            .fetch_one(&mut db)
            .await?;
        if done + dead >= placed.len() && changes == 0 {
            break;
        }
        if waited.elapsed() > limit {
            println!("  gave up waiting after {limit:?}: {done} noted, {dead} dead, {changes} stock changes pending");
            break;
        }
        if !args.headless && waited.elapsed().as_millis() % 2000 < 250 {
            println!("  {}", progress(app, placed.len()).await?);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("  everything landed {:.1} s after the first order", started.elapsed().as_secs_f64());

    println!(
        "\n{}",
        cpbridge::status::render(&cpbridge::status::collect(&cpbridge::status::StatusInputs::of(app)).await?)
    );
    let booked_cells: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM PS_DOC_LIN_CELL").fetch_one(&mut db).await?;
    reconcile(app, woo, placed.len(), (size_lines, booked_cells)).await
}

fn order(n: usize, customer: u64, line_items: Vec<LineItemWrite>) -> OrderWrite {
    let billing = serde_json::json!({
        "first_name": "Demo", "last_name": format!("Shopper {n}"), "address_1": "1 Main St", "city": "San Jose",
        "state": "CA", "postcode": "95112", "country": "US", "email": format!("shopper{n}@example.test"),
    });
    OrderWrite {
        status: Some("processing".into()),
        set_paid: Some(true),
        customer_id: Some(customer),
        payment_method: Some("stripe".into()),
        payment_method_title: Some("Credit card".into()),
        transaction_id: Some(format!("ch_demo_{n}")),
        billing: serde_json::from_value(billing).ok(),
        line_items,
        shipping_lines: vec![
            serde_json::json!({"method_id": "flat_rate", "method_title": "Flat rate", "total": "5.00"}),
        ],
        ..OrderWrite::default()
    }
}

/// `(applied and noted in the store, dead)`.
async fn landed(app: &App) -> anyhow::Result<(usize, usize)> {
    let cp = app.orders.counterpoint();
    let applied = cp.staged_orders(Some(StagingStatus::Applied), 100_000).await?;
    let noted = applied.iter().filter(|o| o.woo_synced_dt.is_some()).count();
    let dead = cp.staging_counts().await?.get("DEAD").copied().unwrap_or(0);
    Ok((noted, usize::try_from(dead).unwrap_or(0)))
}

async fn progress(app: &App, placed: usize) -> anyhow::Result<String> {
    let counts = app.orders.counterpoint().staging_counts().await?;
    let (noted, dead) = landed(app).await?;
    Ok(format!(
        "placed {placed}, staged {}, applied {}, noted in the store {noted}, dead {dead}",
        counts.values().sum::<i64>(),
        counts.get("APPLIED").copied().unwrap_or(0)
    ))
}

/// The end state: the orders reconcile clean, one document per order, the store's stock equal to Counterpoint's for
/// every SKU, nothing dead.
async fn reconcile(
    app: &App,
    woo: &WooClient,
    placed: usize,
    (size_lines, booked_cells): (usize, i64),
) -> anyhow::Result<bool> {
    let cp = app.orders.counterpoint();
    let applied = cp.staged_orders(Some(StagingStatus::Applied), 100_000).await?;
    let mut documents: Vec<i64> = applied.iter().filter_map(|o| o.cp_doc_id).collect();
    documents.sort_unstable();
    documents.dedup();
    let dead = cp.staging_counts().await?.get("DEAD").copied().unwrap_or(0);

    let products: Vec<Product> = woo.products(Vec::new()).try_collect().await?;
    let managed: HashMap<Sku, Option<i64>> = products
        .iter()
        .filter(|p| p.manage_stock == ManageStock::Yes && !p.sku.is_empty())
        .map(|p| (p.sku.clone(), p.stock_quantity))
        .collect();
    let skus: Vec<Sku> = managed.keys().cloned().collect();
    let settings = &app.config.inventory;
    let item_nos: Vec<String> = skus.iter().map(Sku::to_string).collect();
    let levels = cp.inventory_for_items(&item_nos, &settings.web_locations).await?;
    let dead_since = chrono::Utc::now().naive_utc() - app.config.orders.dead_hold();
    let unapplied = unapplied_by_sku(&cp.unapplied_order_lines(dead_since).await?);
    let wanted = web_stock(&skus, &levels, &settings.web_locations, &unapplied, settings.buffer);
    let mut off: Vec<String> = wanted
        .iter()
        .filter(|(sku, qty)| managed.get(*sku).copied().flatten() != Some(**qty))
        .map(|(sku, qty)| format!("{sku}: store {:?}, Counterpoint {qty}", managed.get(sku).copied().flatten()))
        .collect();

    // Every variation of every variable product against its cell, computed the same way.
    let mut shown: HashMap<Sku, Option<i64>> = HashMap::new();
    let parents: Vec<&Product> = products.iter().filter(|p| p.kind == "variable").collect();
    for parent in &parents {
        let variations: Vec<cpbridge_woo::model::Variation> = woo.variations(parent.id).try_collect().await?;
        shown.extend(
            variations
                .into_iter()
                .filter(|v| v.extra.get("status").and_then(serde_json::Value::as_str) != Some("private"))
                .map(|v| (v.sku, v.stock_quantity)),
        );
    }
    let grid_items: Vec<String> = parents.iter().map(|p| p.sku.to_string()).collect();
    let cells = cp.cell_levels(&grid_items, &settings.web_locations).await?;
    let variation_skus =
        cpbridge_pipelines::catalog::variation_skus(cp.as_ref(), app.config.products.variation_sku, &grid_items)
            .await?;
    let cell_levels: Vec<cpbridge_core::records::InventoryLevel> =
        cells.iter().map(|c| c.variation_level(&variation_skus)).collect();
    let variation_skus: Vec<Sku> = shown.keys().cloned().collect();
    let wanted_cells = web_stock(&variation_skus, &cell_levels, &settings.web_locations, &unapplied, settings.buffer);
    let cells_off: Vec<String> = wanted_cells
        .iter()
        .filter(|(sku, qty)| shown.get(*sku).copied().flatten() != Some(**qty))
        .map(|(sku, qty)| format!("{sku}: store {:?}, Counterpoint cell {qty}", shown.get(sku).copied().flatten()))
        .collect();
    let cells_checked = wanted_cells.len();
    off.extend(cells_off.iter().cloned());

    let orders = cpbridge::reconcile::reconcile_orders(app, None, false, chrono::Duration::zero()).await?;
    let checks = [
        (
            orders.is_clean() && orders.in_counterpoint == placed,
            format!("orders reconcile: {}", cpbridge::reconcile::summary(&orders)),
        ),
        (
            documents.len() == placed,
            format!("orders placed {placed} = Counterpoint documents created {}", documents.len()),
        ),
        (
            off.len() == cells_off.len(),
            format!(
                "store stock = Counterpoint available for all {} SKUs ({} differ)",
                skus.len(),
                off.len() - cells_off.len()
            ),
        ),
        (
            cells_off.is_empty() && cells_checked == shown.len(),
            format!(
                "variation stock = its cell's available for all {cells_checked} variations of {} gridded items ({} \
                 differ)",
                parents.len(),
                cells_off.len()
            ),
        ),
        (
            i64::try_from(size_lines).is_ok_and(|n| n == booked_cells),
            format!("order lines for sizes {size_lines} = lines booked on a grid cell {booked_cells}"),
        ),
        (dead == 0, format!("dead orders: {dead}")),
    ];
    println!("reconciliation:");
    for (ok, line) in &checks {
        println!("  [{}] {line}", if *ok { "ok" } else { "FAIL" });
    }
    for line in off.iter().take(10) {
        println!("      {line}");
    }
    Ok(checks.iter().all(|(ok, _)| *ok))
}

/// Runs one job of the registry once, recorded, and returns its report.
async fn run_by_hand(app: &App, job: JobName) -> anyhow::Result<serde_json::Value> {
    let runs = cpbridge::jobs::run_by_hand(app, job, false).await?;
    Ok(runs.into_iter().next().unwrap_or_default().into_report())
}
