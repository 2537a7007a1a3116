//! `cpbridge cp ...`: the Counterpoint database from the command line.
//!
//! `stats` reads the database back, `verify` checks that every table, column and trigger cpbridge needs exists, and
//! `migrate` installs cpbridge's `USER_` tables and trigger on a real SQL Server. (`cp seed`, which fills a SQLite
//! replica with sample data, is a development tool: the binary adds it, from `cpbridge-devtools`.)

use std::process::ExitCode;

use crate::error::Context as _;
use clap::{Args, Subcommand};
use cpbridge_core::records::Watermark;
use cpbridge_counterpoint::port::{self, sqlite_path};
use cpbridge_counterpoint::{CounterpointPort, SqlCounterpoint};
use rust_decimal::Decimal;
use serde_json::json;

/// Where the Counterpoint database is.
#[derive(Debug, Clone, Args)]
pub struct DbArg {
    /// `sqlite:PATH` for a replica, or an ADO.NET connection string for SQL Server
    /// (`server=tcp:HOST,1433;database=CPSQL;user=...;password=...;TrustServerCertificate=true`).
    #[arg(long, env = "CPBRIDGE_CP_URL", default_value = "sqlite:cpbridge-replica.db", hide_env_values = true)]
    pub db: String,
}

#[derive(Debug, Subcommand)]
pub enum CpCommand {
    /// Print row counts and a sample of items with their web availability.
    Stats {
        #[command(flatten)]
        db: DbArg,
        /// Items to show.
        #[arg(long, default_value_t = 5)]
        sample: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check that every table, column and trigger cpbridge needs exists.
    Verify {
        #[command(flatten)]
        db: DbArg,
    },
    /// Install or update cpbridge's USER_ tables and the IM_INV trigger on SQL Server (safe to run again).
    Migrate {
        #[command(flatten)]
        db: DbArg,
    },
}

pub async fn run(command: CpCommand) -> crate::error::Result<ExitCode> {
    match command {
        CpCommand::Stats { db, sample, json } => stats(&db.db, sample, json).await,
        CpCommand::Verify { db } => verify(&db.db).await,
        CpCommand::Migrate { db } => migrate(&db.db).await,
    }
}

async fn stats(url: &str, sample: usize, as_json: bool) -> crate::error::Result<ExitCode> {
    let cp = port::open(url).await?;
    let counts = cp.table_counts().await.context("counting rows")?;
    let items = cp.items_changed_since(&Watermark::start(), sample).await.context("reading items")?;
    let item_nos: Vec<String> = items.iter().map(|i| i.item_no.clone()).collect();
    let levels = cp.inventory_for_items(&item_nos, &["MAIN".to_owned()]).await.context("reading inventory")?;
    let sample_rows: Vec<serde_json::Value> = items
        .iter()
        .map(|item| {
            let avail: Decimal = levels.iter().filter(|l| l.item_no == item.item_no).map(|l| l.qty_avail()).sum();
            json!({
                "item_no": item.item_no, "descr": item.descr, "categ_cod": item.categ_cod, "prc_1": item.prc_1.to_string(),
                "reg_prc": item.reg_prc.to_string(), "ecommerce": item.is_ecomm_item, "qty_avail_main": avail.to_string(),
            })
        })
        .collect();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "database": cp.target(), "counts": counts, "sample": sample_rows }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("Counterpoint database {}", cp.target());
    for (table, n) in &counts {
        println!("  {table:<20} {n:>10}");
    }
    println!("\n  {:<12} {:<30} {:>10} {:>10} {:>10}", "ITEM_NO", "DESCR", "PRC_1", "REG_PRC", "AVAIL@MAIN");
    for row in &sample_rows {
        let s = |k: &str| row[k].as_str().unwrap_or_default().to_owned();
        println!(
            "  {:<12} {:<30} {:>10} {:>10} {:>10}",
            s("item_no"),
            s("descr"),
            s("prc_1"),
            s("reg_prc"),
            s("qty_avail_main")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(url: &str) -> crate::error::Result<ExitCode> {
    let cp = port::open(url).await?;
    let report = cp.verify_schema().await.context("checking the schema")?;
    if report.is_ok() {
        println!("ok: {report}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("the Counterpoint database at {} is not ready: {report}", cp.target());
        Ok(ExitCode::from(2))
    }
}

async fn migrate(url: &str) -> crate::error::Result<ExitCode> {
    if sqlite_path(url).is_some() {
        println!("the SQLite replica already has cpbridge's tables; nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    let cp = SqlCounterpoint::connect_mssql(url)?;
    cp.migrate().await.context("applying sql/mssql")?;
    let report = cp.verify_schema().await?;
    println!("applied sql/mssql/001_user_tables.sql and 002_inv_changes_trigger.sql to {}; {report}", cp.target());
    Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
