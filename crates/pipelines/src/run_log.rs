//! The run history: each run a job makes (by the scheduler or by hand) is kept in the state store, and a job that
//! starts failing raises an alert.

use chrono::NaiveDateTime;
use cpbridge_counterpoint::CpError;
use cpbridge_store::{JobRun, StateStore};

use crate::alerts::Alerter;
use crate::jobs::{PipelineError, now};
use crate::scheduler::{JobName, RunLog, RunOutcome};

/// What a failed run is, for the operator: the alert kind, and whether it alerts at once or only after
/// `failures_in_a_row`.
fn alert_kind(e: &PipelineError) -> (&'static str, bool) {
    match e {
        PipelineError::Woo(w) if matches!(w.status(), Some(401 | 403)) => ("woocommerce_auth", true),
        PipelineError::Woo(_) => ("woocommerce_down", false),
        PipelineError::Counterpoint(CpError::Unavailable { .. }) => ("counterpoint_down", true),
        PipelineError::Counterpoint(_) => ("counterpoint_error", false),
        PipelineError::Store(_) => ("state_store_down", true),
    }
}

/// The run history in the state store, and an alert when a job starts failing: at once when a system is
/// unreachable or refuses cpbridge's credentials, else after `failures_in_a_row` failed runs (the alerter keeps it
/// from repeating more than hourly). The scheduler records through it, and so do the runs made by hand.
#[derive(Clone)]
pub struct StoreRunLog {
    store: std::sync::Arc<dyn StateStore>,
    alerts: Alerter,
}

impl StoreRunLog {
    pub fn new(store: std::sync::Arc<dyn StateStore>, alerts: Alerter) -> Self {
        StoreRunLog { store, alerts }
    }
}

#[async_trait::async_trait]
impl RunLog for StoreRunLog {
    async fn record(&self, job: JobName, started: NaiveDateTime, result: Result<&RunOutcome, &PipelineError>) {
        let job = job.as_str();
        let (outcome, counts, error) = match result {
            Ok(run) => match run.report() {
                serde_json::Value::Object(map) => ("ok", map.clone(), None),
                _ => ("ok", serde_json::Map::new(), None),
            },
            Err(e) => ("failed", serde_json::Map::new(), Some(e.to_string())),
        };
        let run = JobRun {
            job: job.to_owned(),
            started_at: started,
            ended_at: now(),
            outcome: outcome.to_owned(),
            counts,
            error,
        };
        if let Err(e) = self.store.record_run(&run).await {
            tracing::warn!(job, error = %e, "the run could not be recorded");
        }
        let Err(e) = result else { return };
        let (kind, at_once) = alert_kind(e);
        let in_a_row = self.alerts.rules().failures_in_a_row.max(1);
        let due = at_once
            || match self.store.recent_runs(job, in_a_row).await {
                Ok(runs) => runs.len() == in_a_row && runs.iter().all(|r| r.outcome == "failed"),
                // The store cannot say: better one alert too many than a silent failure.
                Err(_) => true,
            };
        if due {
            let message =
                if at_once { e.to_string() } else { format!("{in_a_row} runs in a row failed; the last: {e}") };
            self.alerts.raise(kind, job, &message).await;
        }
    }
}
