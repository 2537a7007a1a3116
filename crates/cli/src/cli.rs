//! The command line: every subcommand and its flags, with defaults stated where they are defined.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cpbridge::{cp, daemon, doctor, init, orders, price, reconcile, sandbox, status, sync};

use crate::devtools::{bench, demo, seed};

/// cpbridge connects NCR Counterpoint (SQL Server) with a WooCommerce store.
#[derive(Debug, Parser)]
#[command(name = "cpbridge", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with the Counterpoint database: seed a replica, install cpbridge's tables, check the schema.
    #[command(subcommand)]
    Cp(CpCli),
    /// Run the WooCommerce-compatible sandbox store (for the demo, tests, and trying cpbridge without a store).
    Sandbox(sandbox::SandboxArgs),
    /// Run the service: the webhook endpoint and every job on its schedule.
    Run(daemon::RunArgs),
    /// Run one order job once: pull, process, writeback, status, intake; or list staged orders.
    #[command(subcommand)]
    Orders(orders::OrdersCommand),
    /// Write a commented cpbridge.toml with every setting at its default.
    Init(init::InitArgs),
    /// Check the config, Counterpoint and its USER_ tables, the state store, the WooCommerce key, the order webhooks
    /// and the alert target, and say what to fix.
    Doctor(doctor::DoctorArgs),
    /// The contract price of an item for a customer, with the rule and the reason (what the pricing API answers).
    Price(price::PriceArgs),
    /// The pipeline table: each component's state, last and next run, counts over 24 hours, the dead-letter queue.
    Status(status::StatusArgs),
    /// The whole pipeline on a seeded replica and a sandbox store, with simulated shoppers; no setup needed.
    Demo(demo::DemoArgs),
    /// Run one outbound sync once: products, or inventory (events, or --full reconcile).
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Compare WooCommerce with Counterpoint: `reconcile orders [--since DATE] [--repair]`.
    #[command(subcommand)]
    Reconcile(reconcile::ReconcileCommand),
    /// The dead-letter queue: orders that could not be applied, their reasons, and replay.
    #[command(subcommand)]
    Dlq(orders::DlqCommand),
    /// Measure speed on this machine against the sandbox and a replica (prints figures).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// `cpbridge cp ...`: the library's database commands, and the seeder, a development tool.
#[derive(Debug, Subcommand)]
pub enum CpCli {
    /// Create a SQLite replica and fill it with a realistic, deterministic catalogue.
    Seed(seed::SeedArgs),
    #[command(flatten)]
    Database(cp::CpCommand),
}

/// Runs a parsed command line.
///
/// # Errors
/// Whatever the command reports; `main` prints it.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Cp(CpCli::Seed(args)) => seed::run(args).await,
        Command::Cp(CpCli::Database(command)) => Ok(cp::run(command).await?),
        Command::Sandbox(args) => Ok(sandbox::run(args).await?),
        Command::Run(args) => Ok(daemon::run_daemon(args).await?),
        Command::Orders(command) => Ok(orders::run_orders(command).await?),
        Command::Sync(command) => Ok(sync::run(command).await?),
        Command::Status(args) => Ok(status::run(args).await?),
        Command::Init(args) => Ok(init::run(&args)?),
        Command::Price(args) => Ok(price::run(args).await?),
        Command::Doctor(args) => Ok(doctor::run(args).await?),
        Command::Demo(args) => demo::run(args).await,
        Command::Dlq(command) => Ok(orders::run_dlq(command).await?),
        Command::Reconcile(command) => Ok(reconcile::run(command).await?),
        Command::Bench(command) => bench::run(command).await,
    }
}
