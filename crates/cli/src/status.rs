//! `cpbridge status`: the pipeline table that people used to keep by hand, read from what the jobs recorded.
//!
//! One row per component: its state, last and next run, and its counts over the last 24 hours; then the staging
//! queue and the dead-letter depth. `--json` prints the same report for machines.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime, Timelike as _, Utc};
use cpbridge_counterpoint::CounterpointPort;
use cpbridge_pipelines::scheduler::JobName;
use cpbridge_pipelines::status::{ComponentStatus, HourCounts, StatusReport, Unavailable};
use cpbridge_store::{JobRun, StateStore};

use crate::app::App;
use crate::args::ConfigArg;
use crate::config::ScheduleSection;
use crate::heartbeat;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the report is read from: the daemon holds one and serves it on `/`, `/status.json` and `/metrics`.
#[derive(Clone)]
pub struct StatusInputs {
    pub store: Arc<dyn StateStore>,
    pub cp: Arc<dyn CounterpointPort>,
    pub schedule: ScheduleSection,
    /// The daemon's job clocks (empty outside the daemon).
    pub clocks: Arc<crate::heartbeat::JobClocks>,
}

impl StatusInputs {
    pub fn of(app: &App) -> Self {
        StatusInputs {
            store: app.store.clone(),
            cp: app.orders.counterpoint().clone(),
            schedule: app.config.schedule.clone(),
            clocks: app.clocks.clone(),
        }
    }
}

/// The components, their jobs, and their cadence in seconds (0: by hand), from the one list of jobs.
fn components(s: &ScheduleSection) -> Vec<(&'static str, JobName, f64)> {
    JobName::ALL.into_iter().map(|job| (job.label(), job, crate::jobs::cadence_secs(s, job))).collect()
}

/// Reads the report from the state store and Counterpoint.
///
/// # Errors
/// When the state store or Counterpoint cannot be read.
pub async fn collect(inputs: &StatusInputs) -> crate::error::Result<StatusReport> {
    let now = seconds(Utc::now().naive_utc());
    let daemon_heartbeat = heartbeat::read(inputs.store.as_ref(), heartbeat::DAEMON).await;
    let daemon_running =
        daemon_heartbeat.is_some_and(|at| now - at <= Duration::seconds(heartbeat::DAEMON_SILENT_SECS));
    let last: BTreeMap<String, JobRun> =
        inputs.store.last_runs().await?.into_iter().map(|r| (r.job.clone(), r)).collect();
    let day = inputs.store.runs_since(now - Duration::hours(24)).await?;
    let mut rows = Vec::new();
    for (component, job, every) in components(&inputs.schedule) {
        let runs: Vec<&JobRun> = day.iter().filter(|r| r.job == job.as_str()).collect();
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        // Sizes (the price book's items, the active webhooks) are what the last run saw; events add up.
        let gauges = matches!(job, JobName::Pricing | JobName::Webhooks);
        let summed: Vec<&&JobRun> = if gauges { runs.iter().rev().take(1).collect() } else { runs.iter().collect() };
        for run in summed {
            for (name, value) in &run.counts {
                if let Some(n) = value.as_i64() {
                    *counts.entry(name.clone()).or_default() += n;
                }
            }
        }
        let last_run = last.get(job.as_str());
        let tick = heartbeat::read(inputs.store.as_ref(), job.as_str()).await;
        let last_tick = tick.max(last_run.map(|r| r.started_at)).map(seconds);
        let late = every > 0.0 && last_tick.is_some_and(|at| now - at > heartbeat::late_after(every));
        let state = match (every, last_run) {
            (e, _) if e > 0.0 && !daemon_running => "stopped".to_owned(),
            (_, Some(run)) if run.outcome == "failed" => "failing".to_owned(),
            _ if late => "late".to_owned(),
            (_, Some(_)) => "ok".to_owned(),
            (e, None) if e > 0.0 && last_tick.is_some() => "ok".to_owned(),
            (0.0, None) => "by hand".to_owned(),
            (_, None) => "no runs yet".to_owned(),
        };
        let next_run = match last_run {
            Some(run) if every > 0.0 => Some(run.started_at + Duration::milliseconds((every * 1000.0) as i64)),
            _ => None,
        };
        rows.push(ComponentStatus {
            component,
            job,
            state,
            last_tick,
            last_run: last_run.map(|r| seconds(r.started_at)),
            next_run: next_run.map(seconds),
            runs_24h: runs.len(),
            failed_24h: runs.iter().filter(|r| r.outcome == "failed").count(),
            counts_24h: counts,
            summary: (job == JobName::OrdersReconcile)
                .then(|| last_run.filter(|r| r.outcome != "failed").map(|r| crate::reconcile::summary_of(&r.counts)))
                .flatten(),
            last_error: last_run.and_then(|r| r.error.clone()),
        });
    }
    let staging = inputs.cp.staging_counts().await?;
    let dead_letter = staging.get("DEAD").copied().unwrap_or(0);
    let recent_alerts = inputs.store.alerts(5).await?;
    let refunds = inputs.store.refunds(20).await?;
    Ok(StatusReport {
        generated_at: now,
        daemon_heartbeat,
        daemon_running,
        components: rows,
        staging,
        dead_letter,
        recent_alerts,
        refunds,
        hourly: hourly(&day, now),
    })
}

/// A time to the whole second: what people read, and what compares across processes.
fn seconds(at: NaiveDateTime) -> NaiveDateTime {
    at.with_nanosecond(0).unwrap_or(at)
}

/// Orders applied and stock pushed per hour, from the runs of the last 24 hours.
fn hourly(runs: &[JobRun], now: NaiveDateTime) -> Vec<HourCounts> {
    let this_hour = now.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0)).unwrap_or(now);
    let mut hours: Vec<HourCounts> = (0..24)
        .rev()
        .map(|back| HourCounts { hour: this_hour - Duration::hours(back), orders_applied: 0, stock_pushed: 0 })
        .collect();
    for run in runs {
        let Some(slot) = hours.iter_mut().rev().find(|h| h.hour <= run.started_at) else { continue };
        let count = |name: &str| run.counts.get(name).and_then(serde_json::Value::as_i64).unwrap_or(0);
        match run.job.as_str() {
            "orders.process" => slot.orders_applied += count("applied"),
            "inventory.events" | "inventory.reconcile" => slot.stock_pushed += count("pushed"),
            _ => {}
        }
    }
    hours
}

/// The daemon's answers for the status page, `/metrics` and `/readyz`.
pub struct DaemonStatus(pub StatusInputs);

#[async_trait::async_trait]
impl cpbridge_server::StatusSource for DaemonStatus {
    async fn report(&self) -> Result<StatusReport, Unavailable> {
        collect(&self.0).await.map_err(|e| Unavailable(format!("{e:#}")))
    }

    async fn ready(&self) -> Result<(), Unavailable> {
        self.0.cp.staging_counts().await.map_err(|e| Unavailable(format!("Counterpoint: {e}")))?;
        self.0.store.last_runs().await.map_err(|e| Unavailable(format!("state store: {e}")))?;
        let stuck = self.0.clocks.stuck();
        if !stuck.is_empty() {
            let jobs: Vec<String> = stuck.iter().map(|(job, secs)| format!("{job} (running for {secs} s)")).collect();
            return Err(Unavailable(format!("stuck: {}", jobs.join(", "))));
        }
        Ok(())
    }
}

/// The counts worth a glance, per job.
fn headline(job: JobName, counts: &BTreeMap<String, i64>) -> String {
    let keys: &[&str] = match job {
        JobName::OrdersIntake | JobName::OrdersPull => {
            &["staged", "restaged", "cancelled", "refunded_after_apply", "deferred"]
        }
        JobName::OrdersProcess => &["applied", "written_back", "failed", "dead"],
        JobName::OrdersWriteback | JobName::OrdersStatus => &["synced", "failed"],
        JobName::Products => &["created", "updated", "retired", "failed"],
        JobName::InventoryEvents => &["changes", "pushed", "failed"],
        JobName::InventoryReconcile => &["checked", "drifted", "failed"],
        JobName::Customers => {
            &["created_in_counterpoint", "created_in_woocommerce", "updated_in_woocommerce", "failed"]
        }
        JobName::Pricing => &["items", "customers", "unreadable_rules"],
        JobName::Webhooks => &["active", "reactivated", "created", "backfilled"],
        // Its summary says what it found.
        JobName::OrdersReconcile => &[],
    };
    keys.iter().map(|k| format!("{k} {}", counts.get(*k).copied().unwrap_or(0))).collect::<Vec<_>>().join(", ")
}

fn when(at: Option<NaiveDateTime>) -> String {
    at.map_or_else(|| "-".to_owned(), |t| t.format("%m-%d %H:%M:%S").to_string())
}

/// The report as a terminal table.
pub fn render(report: &StatusReport) -> String {
    let mut out = format!("cpbridge status at {} UTC\n", report.generated_at.format("%Y-%m-%d %H:%M:%S"));
    match (report.daemon_running, report.daemon_heartbeat) {
        (true, _) => {}
        (false, Some(at)) => out.push_str(&format!(
            "no daemon has written a heartbeat since {} UTC: every scheduled job is stopped (is `cpbridge run` up?)\n",
            at.format("%Y-%m-%d %H:%M:%S")
        )),
        (false, None) => out.push_str(
            "no daemon has ever written a heartbeat to this state store: the jobs run only by hand (start `cpbridge run`)\n",
        ),
    }
    out.push_str(&format!(
        "{:<27} {:<10} {:<15} {:<15} {:>5}  {}\n",
        "component", "state", "last run", "next run", "runs", "last 24 h"
    ));
    for row in &report.components {
        out.push_str(&format!(
            "{:<27} {:<10} {:<15} {:<15} {:>5}  {}\n",
            row.component,
            row.state,
            when(row.last_run),
            when(row.next_run),
            row.runs_24h,
            row.summary.clone().unwrap_or_else(|| headline(row.job, &row.counts_24h))
        ));
        if row.state == "late" {
            out.push_str(&format!("{:<27} no tick since {}: the job is behind or hung\n", "", when(row.last_tick)));
        }
        if row.state == "failing"
            && let Some(error) = &row.last_error
        {
            out.push_str(&format!("{:<27} last error: {error}\n", ""));
        }
    }
    let staging: Vec<String> = report.staging.iter().map(|(k, v)| format!("{k} {v}")).collect();
    out.push_str(&format!(
        "staged orders: {}\ndead-letter queue: {} (see `cpbridge dlq list`)\n",
        if staging.is_empty() { "none".to_owned() } else { staging.join(", ") },
        report.dead_letter
    ));
    for refund in &report.refunds {
        out.push_str(&format!(
            "refund after apply {}: order #{} refund {} of {} ({}) on DOC_ID {}: book it in Counterpoint\n",
            when(Some(refund.recorded_at)),
            refund.woo_order_no,
            refund.refund_id,
            refund.amount,
            if refund.lines.is_empty() { "an amount only" } else { &refund.lines },
            refund.cp_doc_id.map_or_else(|| "?".to_owned(), |d| d.to_string())
        ));
    }
    for alert in &report.recent_alerts {
        out.push_str(&format!("alert {} {}: {}\n", when(Some(alert.at)), alert.kind, alert.subject));
    }
    out
}

/// `cpbridge status`.
///
/// # Errors
/// When the config, the state store or Counterpoint is unusable.
pub async fn run(args: StatusArgs) -> crate::error::Result<ExitCode> {
    let app = args.config.app().await?;
    let report = collect(&StatusInputs::of(&app)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}
