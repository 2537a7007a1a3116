//! `cpbridge reconcile orders`: every WooCommerce order since the cut-over against Counterpoint, as a table (or
//! JSON), with `--repair` staging the missing ones. Exit 2 when something is wrong.

use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Subcommand};
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::orders_reconcile::OrdersReconcileReport;
use cpbridge_pipelines::scheduler::{JobName, RunLog as _, RunOutcome};

use crate::app::App;
use crate::args::ConfigArg;

#[derive(Debug, Subcommand)]
pub enum ReconcileCommand {
    /// Orders: missing in Counterpoint, booked twice, booked but cancelled or gone in WooCommerce, totals that differ.
    Orders(ReconcileOrdersArgs),
}

#[derive(Debug, Args)]
pub struct ReconcileOrdersArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Start here (`2026-12-01`) instead of the cut-over (`orders.since`, else the day cpbridge first ran).
    #[arg(long)]
    pub since: Option<NaiveDate>,
    /// Stage the orders that are missing (the daemon always does).
    #[arg(long)]
    pub repair: bool,
    /// Count orders changed this many seconds ago or less, and not staged yet, as in flight rather than missing
    /// (the daemon's own runs use 600).
    #[arg(long, default_value_t = 0)]
    pub grace_secs: i64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// # Errors
/// When the config cannot be loaded, or WooCommerce, Counterpoint or the state store cannot be read.
pub async fn run(command: ReconcileCommand) -> crate::error::Result<ExitCode> {
    let ReconcileCommand::Orders(args) = command;
    let app = args.config.app().await?;
    let grace = chrono::Duration::seconds(args.grace_secs.max(0));
    let report = reconcile_orders(&app, args.since, args.repair, grace).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// Runs the orders reconcile once and records it, as the daemon's runs are, so that `cpbridge status` shows what it
/// found; returns the whole report (the record keeps the first problems).
///
/// # Errors
/// When WooCommerce, Counterpoint or the state store cannot be read.
pub async fn reconcile_orders(
    app: &App,
    since: Option<NaiveDate>,
    repair: bool,
    grace: chrono::Duration,
) -> Result<OrdersReconcileReport, PipelineError> {
    let started = cpbridge_pipelines::jobs::now();
    let result = app.orders.reconcile_orders(since, repair, grace).await;
    let recorded = result.as_ref().map(|report| RunOutcome::done(&report.for_the_record()));
    app.run_log().record(JobName::OrdersReconcile, started, recorded.as_ref().map_err(|e| *e)).await;
    result
}

/// The one line the status page and `cpbridge status` show for a reconcile, from its report or its recorded counts.
pub fn summary_of(counts: &serde_json::Map<String, serde_json::Value>) -> String {
    let n = |key: &str| counts.get(key).and_then(serde_json::Value::as_i64).unwrap_or(0);
    format!(
        "orders in the store {}, in Counterpoint {}, queued {}, in flight {}, missing {}, doubled {}, dead {}, \
         cancelled in the store {}, gone from the store {}, totals differ {}, refunded after apply {}",
        n("in_store"),
        n("in_counterpoint"),
        n("queued"),
        n("in_flight"),
        n("missing"),
        n("doubled"),
        n("dead"),
        n("cancelled_in_store"),
        n("gone_from_store"),
        n("total_differs"),
        n("refunded_after_apply")
    )
}

pub fn summary(report: &OrdersReconcileReport) -> String {
    match serde_json::to_value(report) {
        Ok(serde_json::Value::Object(counts)) => summary_of(&counts),
        _ => String::new(),
    }
}

fn table(report: &OrdersReconcileReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let since = report.since.map_or_else(|| "the cut-over".to_owned(), |d| d.to_string());
    let _ = writeln!(out, "orders since {since}: {}", summary(report));
    if report.repaired > 0 {
        let _ = writeln!(out, "staged now: {}", report.repaired);
    }
    if report.problems.is_empty() {
        let _ = writeln!(out, "nothing to do: every order that should be in Counterpoint is there once");
        return out;
    }
    let _ = writeln!(out, "\n{:<22} {:>10}  what", "problem", "order");
    for p in &report.problems {
        let _ = writeln!(out, "{:<22} {:>10}  {}", p.kind.as_str(), format!("#{}", p.woo_order_no), p.detail);
    }
    out
}
