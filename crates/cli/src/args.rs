//! The command-line arguments several commands share.

use std::path::PathBuf;

use clap::Args;

use crate::app::App;
use crate::config::Config;

/// Which config file.
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// The config file (TOML).
    #[arg(long, short = 'c', env = "CPBRIDGE_CONFIG", default_value = "cpbridge.toml")]
    pub config: PathBuf,
}

impl ConfigArg {
    pub async fn app(&self) -> crate::error::Result<App> {
        App::build(Config::load(&self.config)?).await
    }
}
