//! `cpbridge sync ...`: one outbound sync, the registry's job run once by hand as the daemon runs it; it prints
//! its counts as JSON. A sync that could not send some records exits with status 2 and names them.

use std::process::ExitCode;

use clap::Subcommand;
use cpbridge_pipelines::scheduler::JobName;

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

/// Runs `job` of the registry once and prints its report; exit 2 when records could not be sent.
async fn run_job(config: &ConfigArg, job: JobName) -> crate::error::Result<ExitCode> {
    let app = config.app().await?;
    let runs = crate::jobs::run_by_hand(&app, job, false).await?;
    let run = runs.into_iter().next().unwrap_or_default();
    println!("{}", serde_json::to_string_pretty(run.report())?);
    Ok(if run.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// Runs a `sync` subcommand.
///
/// # Errors
/// When the config or a store is unusable, or the sync fails as a whole.
pub async fn run(command: SyncCommand) -> crate::error::Result<ExitCode> {
    match command {
        SyncCommand::Products(config) => run_job(&config, JobName::Products).await,
        SyncCommand::Inventory { config, full: true } => run_job(&config, JobName::InventoryReconcile).await,
        SyncCommand::Inventory { config, full: false } => run_job(&config, JobName::InventoryEvents).await,
        SyncCommand::Customers(config) => run_job(&config, JobName::Customers).await,
    }
}
