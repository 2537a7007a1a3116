//! The command line: every subcommand and its flags, with defaults stated where they are defined.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{cp, sandbox};

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
    Cp(cp::CpCommand),
    /// Run the WooCommerce-compatible sandbox store (for the demo, tests, and trying cpbridge without a store).
    Sandbox(sandbox::SandboxArgs),
}

/// Runs a parsed command line.
///
/// # Errors
/// Whatever the command reports; `main` prints it.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Cp(command) => cp::run(command).await,
        Command::Sandbox(args) => sandbox::run(args).await,
    }
}
