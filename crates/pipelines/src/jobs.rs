//! What every job shares: the ports, the error that stops a whole run, and the record of each run in the state store
//! (with an alert when a job starts failing).

use chrono::{NaiveDateTime, Utc};
use cpbridge_counterpoint::CpError;
use cpbridge_store::{StateStore, StoreError};
use cpbridge_woo::WooError;
use serde::Serialize;

use crate::alerts::Alerter;

/// The systems a job works with; every sync takes the same four.
#[derive(Clone)]
pub struct Ports {
    pub cp: std::sync::Arc<dyn cpbridge_counterpoint::CounterpointPort>,
    pub woo: cpbridge_woo::WooClient,
    pub store: std::sync::Arc<dyn StateStore>,
    pub alerts: Alerter,
}

/// An error that stops a whole run, not just one record.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Counterpoint(#[from] CpError),
    #[error(transparent)]
    Woo(#[from] WooError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The records a run could not send: how many, and the first few reasons, each naming its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordFailures {
    pub failed: usize,
    pub errors: Vec<String>,
}

impl RecordFailures {
    /// Reasons kept per run; the rest are only counted.
    const KEPT: usize = 20;

    pub fn fail(&mut self, reason: String) {
        self.failed += 1;
        if self.errors.len() < Self::KEPT {
            self.errors.push(reason);
        }
    }
}

/// The digest a sync keeps of what it sent: the first 16 bytes of SHA-256 over the value's JSON, in hex.
pub(crate) fn digest(value: &serde_json::Value) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(value.to_string().as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Now, in UTC, as every stamp cpbridge keeps.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}
