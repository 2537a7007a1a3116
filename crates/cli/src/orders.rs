//! `cpbridge orders ...` and `cpbridge dlq ...`: the order pipeline from the command line.
//!
//! Every `orders` subcommand runs one job once with the same `run_once` the daemon uses, and prints its counts as
//! JSON. `dlq` is the operator's view of orders that could not be applied: list them, read the reason, and put one
//! back in the queue once the cause is fixed.

use std::process::ExitCode;

use crate::error::{Context as _, Error};
use clap::Subcommand;
use cpbridge_core::StagingId;
use cpbridge_core::staging::{StagedOrder, StagingStatus};
use cpbridge_pipelines::orders::DlqOutcome;
use cpbridge_pipelines::scheduler::{JobName, RunOutcome};
use serde_json::json;

use crate::args::ConfigArg;

#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// List WooCommerce orders modified since the last poll and stage them (the safety net behind webhooks).
    Pull(ConfigArg),
    /// Apply the staged orders that are due.
    Process(ConfigArg),
    /// Retry write-backs of Counterpoint numbers to WooCommerce that are due.
    Writeback(ConfigArg),
    /// Move WooCommerce orders to completed or cancelled when their Counterpoint documents are.
    Status(ConfigArg),
    /// Work through the webhook inbox once.
    Intake(ConfigArg),
    /// Show staged orders, newest first.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this status (PENDING, APPLYING, APPLIED, FAILED, DEAD, CANCELLED).
        #[arg(long)]
        status: Option<StagingStatus>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Orders that are DEAD (or FAILED and waiting for a retry), with their reasons.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Include FAILED orders that will still be retried.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Everything about one staged order, including the order as WooCommerce sent it.
    Show {
        #[command(flatten)]
        config: ConfigArg,
        staging_id: StagingId,
    },
    /// Put a DEAD or FAILED order back in the queue (fetching it fresh from WooCommerce) and apply it now.
    Retry {
        #[command(flatten)]
        config: ConfigArg,
        staging_id: Vec<StagingId>,
        /// Only requeue; leave applying to the running daemon.
        #[arg(long)]
        no_process: bool,
    },
    /// End a DEAD or FAILED order for good: never booked, never staged again, its stock free for the web at once.
    Discard {
        #[command(flatten)]
        config: ConfigArg,
        staging_id: Vec<StagingId>,
        /// Why, for the staging row and the alert ("booked by hand as ticket 1234").
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// Prints what `dlq retry` or `dlq discard` did to one staged order; false when it did nothing.
fn said(id: StagingId, outcome: DlqOutcome, done: &str, wanted: &str) -> bool {
    match outcome {
        DlqOutcome::Done => {
            println!("staged order {id} {done}");
            true
        }
        DlqOutcome::Unknown => {
            eprintln!("no staged order {id}");
            false
        }
        DlqOutcome::WrongStatus(status) => {
            eprintln!("staged order {id} is {status}, not {wanted}");
            false
        }
    }
}

/// Runs `job` of the registry once, as the daemon would, and prints its report.
async fn print_job(config: &ConfigArg, job: JobName) -> crate::error::Result<()> {
    let runs = crate::jobs::run_by_hand(&config.app().await?, job, false).await?;
    print_json(&runs.into_iter().next().unwrap_or_default().into_report())
}

fn print_json(value: &impl serde::Serialize) -> crate::error::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `cpbridge orders ...`.
///
/// # Errors
/// When the config or a store is unusable, or the job fails as a whole.
pub async fn run_orders(command: OrdersCommand) -> crate::error::Result<ExitCode> {
    match command {
        OrdersCommand::Pull(c) => print_job(&c, JobName::OrdersPull).await?,
        OrdersCommand::Process(c) => {
            // Until the due orders are done, within the job's bound: every round's report.
            let runs = crate::jobs::run_by_hand(&c.app().await?, JobName::OrdersProcess, true).await?;
            print_json(&runs.into_iter().map(RunOutcome::into_report).collect::<Vec<_>>())?;
        }
        OrdersCommand::Writeback(c) => print_job(&c, JobName::OrdersWriteback).await?,
        OrdersCommand::Status(c) => print_job(&c, JobName::OrdersStatus).await?,
        OrdersCommand::Intake(c) => print_job(&c, JobName::OrdersIntake).await?,
        OrdersCommand::List { config, status, limit } => {
            let app = config.app().await?;
            let rows = app.orders.counterpoint().staged_orders(status, limit).await?;
            print_rows(&rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_rows(rows: &[StagedOrder]) {
    println!(
        "{:>8}  {:>10}  {:<10}  {:>3}  {:<15}  {:>7}  REASON",
        "STAGING", "WOO ORDER", "STATUS", "TRY", "TICKET", "BKORD"
    );
    for r in rows {
        let reason = r.last_err.as_deref().or(r.woo_sync_err.as_deref()).unwrap_or("");
        println!(
            "{:>8}  {:>10}  {:<10}  {:>3}  {:<15}  {:>7}  {}",
            r.staging_id,
            r.woo_order_no,
            r.status.as_str(),
            r.attempts,
            r.cp_tkt_no.as_deref().unwrap_or("-"),
            r.bkord_qty.normalize(),
            reason
        );
    }
    if rows.is_empty() {
        println!("(none)");
    }
}

/// `cpbridge dlq ...`.
///
/// # Errors
/// When the config or a store is unusable.
pub async fn run_dlq(command: DlqCommand) -> crate::error::Result<ExitCode> {
    match command {
        DlqCommand::List { config, all, limit } => {
            let app = config.app().await?;
            let cp = app.orders.counterpoint();
            let mut rows = cp.staged_orders(Some(StagingStatus::Dead), limit).await?;
            if all {
                rows.extend(cp.staged_orders(Some(StagingStatus::Failed), limit).await?);
            }
            print_rows(&rows);
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { config, staging_id } => {
            let app = config.app().await?;
            let Some(row) = app.orders.counterpoint().staged_order(staging_id).await? else {
                return Err(Error::NotFound(format!("no staged order {staging_id}")));
            };
            let raw: serde_json::Value = serde_json::from_str(&row.raw_order_json)
                .unwrap_or(serde_json::Value::String(row.raw_order_json.clone()));
            print_json(&json!({
                "staging_id": row.staging_id,
                "woo_order_id": row.woo_order_id,
                "woo_order_no": row.woo_order_no,
                "status": row.status,
                "attempts": row.attempts,
                "next_attempt": row.next_attempt_dt,
                "reason": row.last_err,
                "cp_doc_id": row.cp_doc_id,
                "cp_tkt_no": row.cp_tkt_no,
                "writeback_error": row.woo_sync_err,
                "lines": row.lines,
                "order": raw,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Retry { config, staging_id, no_process } => {
            let app = config.app().await?;
            let mut code = ExitCode::SUCCESS;
            for id in &staging_id {
                let outcome = app.orders.requeue(*id).await.with_context(|| format!("requeueing staged order {id}"))?;
                if !said(*id, outcome, "requeued", "DEAD, FAILED or LEGACY; nothing to retry") {
                    code = ExitCode::FAILURE;
                }
            }
            if !no_process {
                let runs = crate::jobs::run_by_hand(&app, JobName::OrdersProcess, false).await?;
                print_json(&runs.into_iter().next().unwrap_or_default().into_report())?;
            }
            Ok(code)
        }
        DlqCommand::Discard { config, staging_id, reason } => {
            let app = config.app().await?;
            let mut code = ExitCode::SUCCESS;
            for id in &staging_id {
                let outcome =
                    app.orders.discard(*id, &reason).await.with_context(|| format!("discarding staged order {id}"))?;
                if !said(*id, outcome, "discarded", "DEAD or FAILED; nothing to discard") {
                    code = ExitCode::FAILURE;
                }
            }
            Ok(code)
        }
    }
}
