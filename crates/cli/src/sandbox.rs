//! `cpbridge sandbox`: runs the WooCommerce-compatible sandbox store for demos and tests.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::{Context as _, Error};
use clap::Args;
use cpbridge_woo::Credentials;
use cpbridge_woo_sandbox::{FaultConfig, Sandbox, SandboxConfig, generate_credentials};

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port to listen on; 0 picks a free one (the chosen address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to bind. The control API under /__sandbox/ has no auth, so keep this on loopback.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// REST consumer key; generated and printed when absent.
    #[arg(long, env = "CPBRIDGE_SANDBOX_KEY")]
    pub consumer_key: Option<String>,
    /// REST consumer secret; generated and printed when absent.
    #[arg(long, env = "CPBRIDGE_SANDBOX_SECRET", hide_env_values = true)]
    pub consumer_secret: Option<String>,
    /// Act as a store behind a TLS proxy: Basic auth over plain HTTP is accepted, OAuth 1.0a is not.
    #[arg(long)]
    pub behind_tls: bool,
    /// Directory for sandbox.db; without it the store lives in memory and is gone on exit.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Latency added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of API requests answered with a 5xx (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of API requests answered with 429 and Retry-After (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Share of API requests whose connection is dropped (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Seed for the fault draws; 0 picks one at random.
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,
    /// Tax rate in percent on taxable lines and shipping.
    #[arg(long, default_value = "0")]
    pub tax_rate: rust_decimal::Decimal,
}

/// Runs the sandbox until Ctrl-C or SIGTERM.
///
/// # Errors
/// Bad flags, an unusable data directory, or a port that cannot be bound.
pub async fn run(args: SandboxArgs) -> crate::error::Result<ExitCode> {
    for (name, rate) in
        [("error-rate", args.error_rate), ("throttle-rate", args.throttle_rate), ("drop-rate", args.drop_rate)]
    {
        if !(0.0..=1.0).contains(&rate) {
            return Err(Error::Usage(format!("--{name} {rate} is outside 0..=1")));
        }
    }
    let (credentials, generated) = match (args.consumer_key, args.consumer_secret) {
        (Some(key), Some(secret)) => (Credentials::new(key, secret), false),
        (None, None) => (generate_credentials(), true),
        _ => {
            return Err(Error::Usage(
                "give both --consumer-key and --consumer-secret, or neither to generate a pair".into(),
            ));
        }
    };
    let config = SandboxConfig {
        listen: SocketAddr::new(args.host, args.port),
        credentials: credentials.clone(),
        behind_tls: args.behind_tls,
        data_dir: args.data,
        faults: FaultConfig {
            latency_ms: args.latency_ms,
            error_rate: args.error_rate,
            throttle_rate: args.throttle_rate,
            drop_rate: args.drop_rate,
            seed: args.fault_seed,
        },
        tax_rate_percent: args.tax_rate,
    };
    let sandbox = Sandbox::build(config).await.context("starting the sandbox")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "sandbox listening on http://{}:{}", args.host, sandbox.port())?;
    if generated {
        // Printing generated keys is the point: the operator has no other way to learn them.
        writeln!(out, "consumer key:    {}", credentials.consumer_key)?;
        writeln!(out, "consumer secret: {}", credentials.consumer_secret.expose())?;
    }
    let auth = if args.behind_tls { "Basic (behind TLS)" } else { "OAuth 1.0a (plain HTTP)" };
    writeln!(out, "auth: {auth}")?;
    out.flush()?;
    drop(out);
    sandbox.run_until_stopped(shutdown_signal()).await.context("serving the sandbox")?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
