//! What every job shares: the error that stops a whole run, and the record of each run in the state store (with an
//! alert when a job starts failing).

use chrono::{NaiveDateTime, Utc};
use cpbridge_counterpoint::CpError;
use cpbridge_store::{JobRun, StateStore, StoreError};
use cpbridge_woo::WooError;
use serde::Serialize;

use crate::alerts::Alerter;

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

pub(crate) fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// A report's fields as the named counts of a run.
pub(crate) fn counts<T: Serialize>(report: &T) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(report) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// Records a run in the state store, and alerts when a whole run failed for want of a system. The alert goes out
/// when a job starts failing, not on every failed run while a system stays down.
pub async fn record_run<T: Serialize>(
    store: &dyn StateStore,
    alerts: &Alerter,
    job: &str,
    started: NaiveDateTime,
    result: &Result<T, PipelineError>,
) {
    let (outcome, counts, error) = match result {
        Ok(report) => ("ok", counts(report), None),
        Err(e) => ("failed", serde_json::Map::new(), Some(e.to_string())),
    };
    let was_failing = match store.last_runs().await {
        Ok(runs) => runs.iter().any(|r| r.job == job && r.outcome == "failed"),
        Err(_) => false,
    };
    if let Err(e) = result
        && !was_failing
    {
        let kind = match e {
            PipelineError::Counterpoint(_) => "counterpoint_down",
            PipelineError::Woo(_) => "woocommerce_down",
            PipelineError::Store(_) => "state_store_down",
        };
        alerts.raise(kind, job, &e.to_string()).await;
    }
    let run = JobRun {
        job: job.to_owned(),
        started_at: started,
        ended_at: now(),
        outcome: outcome.to_owned(),
        counts,
        error,
    };
    if let Err(e) = store.record_run(&run).await {
        tracing::warn!(job, error = %e, "the run could not be recorded");
    }
}
