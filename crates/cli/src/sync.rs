//! `cpbridge sync ...`: one outbound sync, run once by hand with the same `run_once` the daemon uses; it prints
//! its counts as JSON. A sync that could not send some records exits with status 2 and names them.

use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;

use crate::args::ConfigArg;

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Counterpoint items to WooCommerce products: create, update the fields Counterpoint owns, retire.
    Products(ConfigArg),
    /// Stock: push the SKUs whose stock changed (from USER_INV_CHANGES), or with --full compare every SKU.
    Inventory {
        #[command(flatten)]
        config: ConfigArg,
        /// Compare every SKU in the store with Counterpoint and repair the drift (after an order poll).
        #[arg(long)]
        full: bool,
    },
    /// Customers both ways: new WooCommerce registrations into AR_CUST, Counterpoint's customers to the store.
    Customers(ConfigArg),
}

fn finish<R: Serialize>(report: &R, failed: usize) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(report)?);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// Runs a `sync` subcommand.
///
/// # Errors
/// When the config or a store is unusable, or the sync fails as a whole.
pub async fn run(command: SyncCommand) -> anyhow::Result<ExitCode> {
    match command {
        SyncCommand::Products(config) => {
            let app = config.app().await?;
            let report = app.products.run_once().await?;
            finish(&report, report.failures.failed)
        }
        SyncCommand::Inventory { config, full } => {
            let app = config.app().await?;
            let report = if full {
                crate::jobs::reconcile(&app.orders, &app.inventory).await?
            } else {
                app.inventory.events_once().await?
            };
            finish(&report, report.failures.failed)
        }
        SyncCommand::Customers(config) => {
            let app = config.app().await?;
            let report = app.customers.run_once().await?;
            finish(&report, report.failures.failed)
        }
    }
}
