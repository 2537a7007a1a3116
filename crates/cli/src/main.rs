//! The `cpbridge` binary: parses the command line, sets up logging, and runs the command.

use clap::Parser;

mod app;
mod bench;
mod bench_counterpoint;
mod bench_pricing;
mod bench_reliability;
mod bench_sync;
mod cli;
mod config;
mod cp;
mod demo;
mod doctor;
mod heartbeat;
mod init;
mod jobs;
mod orders;
mod price;
mod reconcile;
mod sandbox;
mod status;
mod sync;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CPBRIDGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: piped logs and files stay plain, and NO_COLOR is honoured.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
        .init();
    match cli::run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
