//! The status report: the pipeline table (one row per job), the staging queue, the dead-letter depth, alerts and
//! refunds to book. `cpbridge status` prints it, the daemon serves it as `/status.json` and the status page, and
//! [`metrics`] renders it for Prometheus. The report type lives here, beside the jobs it describes, so that the HTTP
//! server and the application share it instead of passing JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDateTime;
use cpbridge_store::{Alert, RefundRecord};
use serde::Serialize;

use crate::scheduler::JobName;

/// A report or a readiness check that cannot be given: what is unreachable, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// One row of the pipeline table.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    pub component: &'static str,
    pub job: JobName,
    /// `ok`; `failing` (its last run failed); `late` (no tick for longer than its cadence plus a grace, see
    /// `heartbeat::late_after`); `stopped` (no daemon has written a heartbeat for a minute); `no runs yet` (idle jobs
    /// record only runs that found work); `by hand` (no cadence).
    pub state: String,
    /// When the daemon last ticked this job (run or idle), from its heartbeat.
    pub last_tick: Option<NaiveDateTime>,
    pub last_run: Option<NaiveDateTime>,
    pub next_run: Option<NaiveDateTime>,
    pub runs_24h: usize,
    pub failed_24h: usize,
    /// Each count of the job's reports, summed over the last 24 hours; for jobs whose counts are sizes rather than
    /// events (the price book, the webhooks), the last run's.
    pub counts_24h: BTreeMap<String, i64>,
    /// What the last run found, for jobs whose runs must not be summed (the orders reconcile).
    pub summary: Option<String>,
    pub last_error: Option<String>,
}

/// The whole status report.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub generated_at: NaiveDateTime,
    /// The daemon's last heartbeat, and whether it is recent (within a minute).
    pub daemon_heartbeat: Option<NaiveDateTime>,
    pub daemon_running: bool,
    pub components: Vec<ComponentStatus>,
    /// Staged orders per status (`PENDING`, `APPLIED`, `DEAD`, ...).
    pub staging: BTreeMap<String, i64>,
    /// Orders in the dead-letter queue (`DEAD`).
    pub dead_letter: i64,
    pub recent_alerts: Vec<Alert>,
    /// Refunds WooCommerce made after their orders were booked, newest first: the shop books them in Counterpoint.
    pub refunds: Vec<RefundRecord>,
    /// Orders applied and stock values pushed per hour over the last 24 hours, oldest first.
    pub hourly: Vec<HourCounts>,
}

/// One hour of the status page's chart.
#[derive(Debug, Clone, Serialize)]
pub struct HourCounts {
    pub hour: NaiveDateTime,
    pub orders_applied: i64,
    pub stock_pushed: i64,
}

/// The report in Prometheus text format.
pub fn metrics(report: &StatusReport) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let per_job = |f: &dyn Fn(&ComponentStatus) -> Option<f64>| -> Vec<(String, f64)> {
        report.components.iter().filter_map(|c| f(c).map(|v| (format!("{{job=\"{}\"}}", c.job), v))).collect()
    };
    family(
        "cpbridge_job_up",
        "gauge",
        "1 when the job's last run succeeded, 0 when it failed.",
        per_job(&|c| c.last_run.map(|_| if c.state == "failing" { 0.0 } else { 1.0 })),
    );
    family(
        "cpbridge_job_last_run_timestamp_seconds",
        "gauge",
        "When the job last ran (Unix time).",
        per_job(&|c| c.last_run.map(|t| t.and_utc().timestamp() as f64)),
    );
    family(
        "cpbridge_job_runs_24h",
        "gauge",
        "Recorded runs in the last 24 hours.",
        per_job(&|c| Some(c.runs_24h as f64)),
    );
    family(
        "cpbridge_job_failed_runs_24h",
        "gauge",
        "Failed runs in the last 24 hours.",
        per_job(&|c| Some(c.failed_24h as f64)),
    );
    let counted: Vec<(String, f64)> = report
        .components
        .iter()
        .flat_map(|c| {
            c.counts_24h.iter().map(move |(name, n)| (format!("{{job=\"{}\",count=\"{name}\"}}", c.job), *n as f64))
        })
        .collect();
    family("cpbridge_job_count_24h", "gauge", "Each count the job reported, summed over 24 hours.", counted);
    let staged: Vec<(String, f64)> =
        report.staging.iter().map(|(status, n)| (format!("{{status=\"{status}\"}}"), *n as f64)).collect();
    family("cpbridge_staged_orders", "gauge", "Orders in USER_ORDER_STAGING by status.", staged);
    family(
        "cpbridge_dead_letter_orders",
        "gauge",
        "Orders that went DEAD and wait for an operator.",
        vec![(String::new(), report.dead_letter as f64)],
    );
    out
}
