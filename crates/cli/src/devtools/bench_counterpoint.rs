//! `cpbridge bench counterpoint`: cpbridge's footprint on the shop's registers.
//!
//! A second connection plays a register: in its own transactions it sells from `IM_INV` (a read, then an update of
//! the row's `QTY_COMMIT`) and writes a document header on its own station, as fast as it can. Its wait per sale is
//! measured first alone, then while cpbridge applies web orders through the port on the same database, for sales of
//! items the web orders never touch and for sales of the items they do. On the SQLite replica every write takes the
//! database's one write lock, so the register waits for whole web transactions there; on SQL Server (a scratch
//! database given with `--scratch-db`) only row locks on the same `IM_INV` rows should make it wait.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;
use cpbridge_core::WooOrderId;
use cpbridge_core::order::{DocContact, DocLine, DocPayment, DocTotals, OrderDocument};
use cpbridge_core::staging::{ApplyOutcome, NewStagedOrder, StagedLine};
use cpbridge_counterpoint::driver::{Driver, Tx as _, TxMode};
use cpbridge_counterpoint::mssql::MssqlDriver;
use cpbridge_counterpoint::sqlite::SqliteDriver;
use cpbridge_counterpoint::value::Value;
use cpbridge_counterpoint::{CounterpointPort as _, SqlCounterpoint};
use cpbridge_devtools::seed::SeedSpec;
use rust_decimal::Decimal;

use crate::devtools::bench_common::percentile;

#[derive(Debug, Args)]
pub struct BenchCounterpoint {
    /// Seconds the register sells in each phase.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// An ADO.NET connection string to a SCRATCH SQL Server database: its Counterpoint tables are dropped and
    /// re-created. Without it, a fresh SQLite replica in a temporary folder.
    #[arg(long)]
    scratch_db: Option<String>,
}

/// Of the stocked items (in item order): those the register sells and the web never orders, the web's, and those
/// both sell.
const REGISTER_ITEMS: std::ops::Range<usize> = 0..50;
const SHARED_ITEMS: std::ops::Range<usize> = 50..55;
const WEB_ITEMS: std::ops::Range<usize> = 50..60;

pub async fn run(args: BenchCounterpoint) -> anyhow::Result<ExitCode> {
    let secs = Duration::from_secs(args.secs.clamp(1, 600));
    match &args.scratch_db {
        Some(url) => {
            let web = SqlCounterpoint::<MssqlDriver>::connect_mssql(url)?;
            web.install_test_fixture().await.context("building the Counterpoint tables on the scratch database")?;
            let register = MssqlDriver::from_ado(url, 2)?;
            bench(web, register, secs, "SQL Server").await
        }
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("cp.db");
            let web = SqlCounterpoint::create_replica(&path).await?;
            let register = SqliteDriver::open(&path).await?;
            bench(web, register, secs, "SQLite replica").await
        }
    }
}

async fn bench<D: Driver + 'static>(
    web: SqlCounterpoint<D>,
    register: D,
    secs: Duration,
    what: &str,
) -> anyhow::Result<ExitCode> {
    let spec = SeedSpec { items: 200, customers: 20, locations: 1, rules: 5, seed: 11 };
    cpbridge_devtools::seed::seed(&web, &spec, &|_, _, _| {}).await.context("seeding")?;
    let register = Arc::new(register);
    let stocked: Vec<String> = {
        let sql = register.dialect().render("SELECT ITEM_NO FROM dbo.IM_INV WHERE LOC_ID = 'MAIN' ORDER BY ITEM_NO");
        let mut tx = register.begin(TxMode::Read).await?;
        let rows = tx.query(&sql, &[]).await?;
        tx.commit().await?;
        rows.iter().map(|r| r.text("ITEM_NO")).collect::<Result<_, _>>()?
    };
    anyhow::ensure!(stocked.len() >= WEB_ITEMS.end, "the seeded replica has too few stocked items");
    let items = Arc::new(stocked);

    let alone = sell(register.clone(), items[REGISTER_ITEMS].to_vec(), secs, 0).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let web = Arc::new(web);
    let applier = tokio::spawn(apply_web_orders(web.clone(), items[WEB_ITEMS].to_vec(), stop.clone()));
    let beside = sell(register.clone(), items[REGISTER_ITEMS].to_vec(), secs, 1_000_000).await?;
    let shared = sell(register.clone(), items[SHARED_ITEMS].to_vec(), secs, 2_000_000).await?;
    stop.store(true, Ordering::Relaxed);
    let applied = applier.await??;

    println!("cpbridge bench counterpoint ({what}): a register's sale (read + update IM_INV, write a document header)");
    println!("{:<52} {:>8} {:>9} {:>9} {:>9}", "", "sales", "p50 ms", "p99 ms", "max ms");
    for (label, ms) in [
        ("register alone", &alone),
        ("beside cpbridge, items the web orders never touch", &beside),
        ("beside cpbridge, items the web orders also commit", &shared),
    ] {
        println!(
            "{label:<52} {:>8} {:>9.2} {:>9.2} {:>9.2}",
            ms.len(),
            percentile(ms, 0.50),
            percentile(ms, 0.99),
            ms.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!("web orders applied meanwhile: {applied} ({:.0} a second)", applied as f64 / (2.0 * secs.as_secs_f64()));
    Ok(ExitCode::SUCCESS)
}

/// Sells one unit of the `items` in turn, each sale a transaction of its own, for `secs`; returns each sale's time
/// in milliseconds, sorted. `doc_base` keeps the register's document ids apart between phases.
async fn sell<D: Driver>(
    register: Arc<D>,
    items: Vec<String>,
    secs: Duration,
    doc_base: i64,
) -> anyhow::Result<Vec<f64>> {
    let d = register.dialect();
    let read = d.render(&format!(
        "SELECT QTY_ON_HND, QTY_COMMIT FROM dbo.IM_INV{} WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN'",
        d.update_lock_hint()
    ));
    let update = d.render("UPDATE dbo.IM_INV SET QTY_COMMIT = QTY_COMMIT + 1 WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN'");
    let header = d.render(
        "INSERT INTO dbo.PS_DOC_HDR (DOC_ID, DOC_GUID, DOC_TYP, STR_ID, STA_ID, TKT_NO) VALUES (@P1, @P2, 'T', '1', '1', @P3)",
    );
    let started = Instant::now();
    let mut ms = Vec::new();
    let mut n: i64 = 0;
    // Bounded twice: by time, and by a count no phase reaches.
    while started.elapsed() < secs && n < 1_000_000 {
        let item = &items[usize::try_from(n).unwrap_or(0) % items.len()];
        n += 1;
        let t = Instant::now();
        let mut tx = register.begin(TxMode::Write).await?;
        tx.query(&read, &[Value::from(item.as_str())]).await?;
        tx.execute(&update, &[Value::from(item.as_str())]).await?;
        let doc_id = 900_000_000_000 + doc_base + n;
        let params = [Value::Int(doc_id), Value::Guid(uuid::Uuid::new_v4()), Value::Text(format!("1-{doc_id}"))];
        tx.execute(&header, &params).await?;
        tx.commit().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}

/// Stages, claims and applies one web order after another (each for two of the web's items) until told to stop.
async fn apply_web_orders<D: Driver>(
    cp: Arc<SqlCounterpoint<D>>,
    items: Vec<String>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<usize> {
    let mut applied = 0;
    let mut woo_id: i64 = 1;
    while !stop.load(Ordering::Relaxed) && woo_id < 1_000_000 {
        let now = Utc::now().naive_utc();
        let a = items[usize::try_from(woo_id).unwrap_or(0) % items.len()].clone();
        let b = items[usize::try_from(woo_id + 3).unwrap_or(0) % items.len()].clone();
        let staged = NewStagedOrder {
            woo_order_id: WooOrderId::try_from(woo_id)?,
            woo_order_no: woo_id.to_string(),
            cust_no: None,
            ord_dat: Some(now),
            subtot: Decimal::new(2000, 2),
            tax_amt: Decimal::ZERO,
            disc_amt: Decimal::ZERO,
            ship_amt: Decimal::ZERO,
            tot_amt: Decimal::new(2000, 2),
            ship_via: None,
            pmt_meth: Some("stripe".into()),
            lines: vec![
                StagedLine { sku: a.clone().into(), quantity: Decimal::ONE },
                StagedLine { sku: b.clone().into(), quantity: Decimal::ONE },
            ],
            raw_order_json: format!("{{\"id\":{woo_id}}}"),
        };
        woo_id += 1;
        cp.stage_order(&staged, now).await?;
        let Some(claim) = cp.claim_staged_orders(now, chrono::Duration::minutes(5), 1).await?.pop() else { continue };
        let doc = web_document(&[a, b], now);
        if let ApplyOutcome::Applied { .. } = cp.apply_staged_order(&claim, &doc, now).await? {
            applied += 1;
        }
    }
    Ok(applied)
}

fn web_document(skus: &[String], now: chrono::NaiveDateTime) -> OrderDocument {
    let lines: Vec<DocLine> = skus
        .iter()
        .map(|sku| DocLine {
            qty_unit: Some("EACH".into()),
            ..DocLine::stocked(sku, Decimal::ONE, Decimal::new(1000, 2), "MAIN")
        })
        .collect();
    let tot: Decimal = lines.iter().map(DocLine::ext_prc).sum();
    let contact = DocContact { nam: "Web shopper".into(), ..DocContact::default() };
    OrderDocument {
        doc_typ: 'O',
        lin_typ: 'O',
        str_id: "1".into(),
        sta_id: "WEB".into(),
        drw_id: "WEB".into(),
        usr_id: "CPBRIDGE".into(),
        tkt_prefix: "W".into(),
        cust_no: "CASH".into(),
        tkt_dt: now,
        utc_offset_secs: 0,
        ship_via_cod: None,
        tax_cod: None,
        cust_po_no: None,
        stk_loc_id: "MAIN".into(),
        prc_loc_id: "MAIN".into(),
        tax_ovrd_reas: Some("EC_WOOCOMM".into()),
        bill_to: contact.clone(),
        ship_to: contact,
        totals: DocTotals { sub_tot: tot, tot, amt_due: Decimal::ZERO, ..DocTotals::default() },
        payments: vec![DocPayment {
            pay_cod: "CREDIT".into(),
            amt: tot,
            descr: Some("Credit card".into()),
            transaction_id: None,
            pay_dat: Some(now),
            final_pmt: false,
        }],
        lines,
    }
}
