//! `cpbridge cp seed`: a SQLite replica filled with a realistic, deterministic shop, for the demo, the benches, the
//! tests and anyone trying cpbridge. A development tool: the seeder lives in `cpbridge-devtools`, and the command
//! refuses to write sample data anywhere but a SQLite file.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use cpbridge::cp::DbArg;
use cpbridge_counterpoint::SqlCounterpoint;
use cpbridge_counterpoint::port::sqlite_path;
use cpbridge_devtools::seed::{SeedSpec, seed as fill_replica};
use indicatif::{ProgressBar, ProgressStyle};

/// Create a SQLite replica and fill it with a realistic, deterministic catalogue.
#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Items in the catalogue.
    #[arg(long, default_value_t = 1_000)]
    pub items: usize,
    /// Customers.
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
    /// Stock locations (the first is MAIN).
    #[arg(long, default_value_t = 2)]
    pub locations: usize,
    /// Contract price rules.
    #[arg(long, default_value_t = 50)]
    pub rules: usize,
    /// The same seed always gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Replace the replica file if it exists (otherwise an existing file is an error).
    #[arg(long)]
    pub force: bool,
}

/// `cpbridge cp seed`.
///
/// # Errors
/// A database other than a SQLite file, an existing file without `--force`, or a failed insert.
pub async fn run(args: SeedArgs) -> anyhow::Result<ExitCode> {
    let SeedArgs { db, items, customers, locations, rules, seed, force } = args;
    let (url, spec) = (db.db.as_str(), &SeedSpec { items, customers, locations, rules, seed });
    let Some(path) = sqlite_path(url) else {
        bail!(
            "`cp seed` only writes to a SQLite replica (--db sqlite:PATH); it never writes sample data into SQL Server"
        );
    };
    if force {
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{path}{suffix}");
            if Path::new(&file).exists() {
                std::fs::remove_file(&file).with_context(|| format!("removing {file}"))?;
            }
        }
    }
    let started = Instant::now();
    let cp = SqlCounterpoint::create_replica(Path::new(path))
        .await
        .with_context(|| format!("creating the replica {path}"))?;
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let bar = Mutex::new(bar);
    let progress = |stage: &str, done: u64, total: u64| {
        if let Ok(bar) = bar.lock() {
            bar.set_message(stage.to_owned());
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let summary = fill_replica(&cp, spec, &progress).await.context("seeding the replica")?;
    if let Ok(bar) = bar.lock() {
        bar.finish_and_clear();
    }
    println!(
        "seeded {path} in {:.1}s: {} items ({} gridded, {} cell stock rows), {} prices, {} stock rows over {} locations, {} customers, {} price groups with {} rules (seed {})",
        started.elapsed().as_secs_f64(),
        summary.items,
        summary.gridded_items,
        summary.grid_cells,
        summary.prices,
        summary.inventory_rows,
        summary.locations,
        summary.customers,
        summary.price_groups,
        summary.price_rules,
        spec.seed
    );
    Ok(ExitCode::SUCCESS)
}
