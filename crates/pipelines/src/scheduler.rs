//! One job contract, and the one scheduler that runs every job the same way.
//!
//! A [`Job`] says its name, its cadence and how to run once; the [`Scheduler`] owns everything else: a run at start,
//! then one per cadence with jitter (or sooner when the job's wake signal fires), never two runs of a job at once,
//! runs again at once while the job reports a full batch (within a bound), records each run that did something (and
//! every failed one, which alerts after enough in a row), backs off after failures, and stops between runs when
//! asked. The daemon's list of jobs is built in one place from these.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::jobs::PipelineError;

/// Declares [`JobName`] from one table: each job's variant, the name its runs are recorded under, and its label.
macro_rules! job_names {
    ($($job:ident => $name:literal, $label:literal;)+) => {
        /// Every job the daemon runs: the one list that the scheduler, `cpbridge status`, the status page and the run
        /// records name jobs by.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum JobName {
            $($job,)+
        }

        impl JobName {
            /// In the order `cpbridge status` shows them.
            pub const ALL: [JobName; [$(stringify!($job)),+].len()] = [$(JobName::$job,)+];

            /// The name runs are recorded under (and heartbeats, and `/metrics` labels).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(JobName::$job => $name,)+
                }
            }

            /// What the job is, in a shop's words (the status table's first column).
            pub const fn label(self) -> &'static str {
                match self {
                    $(JobName::$job => $label,)+
                }
            }
        }
    };
}

job_names! {
    OrdersIntake => "orders.intake", "order intake (webhooks)";
    OrdersPull => "orders.pull", "order poll (safety net)";
    OrdersProcess => "orders.process", "order creation + payments";
    OrdersWriteback => "orders.writeback", "numbers back to the store";
    OrdersStatus => "orders.status", "status back to the store";
    Products => "products", "products";
    InventoryEvents => "inventory.events", "inventory events";
    InventoryReconcile => "inventory.reconcile", "inventory reconcile";
    Customers => "customers", "customers (both ways)";
    Pricing => "pricing", "pricing API (price book)";
    Webhooks => "webhooks", "order webhooks (kept active)";
    OrdersReconcile => "orders.reconcile", "orders reconcile";
}

// Reports and the status page name a job as its runs are recorded.
impl serde::Serialize for JobName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run did, which decides what comes next. Each carries the run's report (its counts, and the records it
/// could not send), as a one-shot command prints it and the run history keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// Nothing to do (an idle poll): not recorded, or the history would bury the runs that did something.
    Idle(serde_json::Value),
    /// Work done: recorded; the next run waits for the cadence or a wake.
    Done(serde_json::Value),
    /// A full batch: recorded, and more work is waiting, so the job runs again at once (within its bound).
    More(serde_json::Value),
}

impl Default for RunOutcome {
    fn default() -> Self {
        RunOutcome::Idle(serde_json::Value::Null)
    }
}

impl RunOutcome {
    /// A run that did its work and reported `report`.
    pub fn done<T: serde::Serialize>(report: &T) -> RunOutcome {
        RunOutcome::Done(serde_json::to_value(report).unwrap_or_default())
    }

    /// The same run, as a full batch when `full`.
    #[must_use]
    pub fn more_if(self, full: bool) -> RunOutcome {
        match self {
            RunOutcome::Done(report) if full => RunOutcome::More(report),
            other => other,
        }
    }

    /// The same run, as an idle one when `idle` (it found nothing to do).
    #[must_use]
    pub fn idle_if(self, idle: bool) -> RunOutcome {
        if idle { RunOutcome::Idle(self.into_report()) } else { self }
    }

    pub fn report(&self) -> &serde_json::Value {
        match self {
            RunOutcome::Idle(report) | RunOutcome::Done(report) | RunOutcome::More(report) => report,
        }
    }

    pub fn into_report(self) -> serde_json::Value {
        match self {
            RunOutcome::Idle(report) | RunOutcome::Done(report) | RunOutcome::More(report) => report,
        }
    }

    /// Records the run could not send (its report's `failed`).
    pub fn failed(&self) -> u64 {
        self.report().get("failed").and_then(serde_json::Value::as_u64).unwrap_or(0)
    }
}

/// A job the scheduler runs.
#[async_trait]
pub trait Job: Send + Sync {
    fn name(&self) -> JobName;

    /// Time between runs; `None` when it is run by hand only (a cadence of 0 in the config).
    fn every(&self) -> Option<Duration>;

    /// A signal that starts a run before the cadence is up (an order staged, a webhook delivered).
    fn wake(&self) -> Option<Arc<Notify>> {
        None
    }

    /// Runs in a row at most while the job keeps reporting a full batch, so one wake always ends.
    fn max_rounds(&self) -> usize {
        100
    }

    /// One run. The scheduler records it (unless it was quiet), logs a failure and backs the job off.
    async fn run_once(&self) -> Result<RunOutcome, PipelineError>;
}

/// Where runs are recorded: the state store's run history, and an alert after failed runs
/// ([`crate::run_log::StoreRunLog`]).
#[async_trait]
pub trait RunLog: Send + Sync {
    async fn record(&self, job: JobName, started: chrono::NaiveDateTime, result: Result<&RunOutcome, &PipelineError>);
}

/// A log that keeps nothing, for tests.
pub struct NoLog;

#[async_trait]
impl RunLog for NoLog {
    async fn record(
        &self,
        _job: JobName,
        _started: chrono::NaiveDateTime,
        _result: Result<&RunOutcome, &PipelineError>,
    ) {
    }
}

/// Runs `job` once and records the run unless it was quiet: the one way a run is run, by the scheduler and by hand.
///
/// # Errors
/// The run's own failure, after it is recorded.
pub async fn run_and_record(job: &dyn Job, log: &dyn RunLog) -> Result<RunOutcome, PipelineError> {
    let started = crate::jobs::now();
    let result = job.run_once().await;
    if !matches!(&result, Ok(RunOutcome::Idle(_))) {
        log.record(job.name(), started, result.as_ref()).await;
    }
    result
}

/// Where the scheduler says that a run started and ended (the daemon's heartbeats and stuck-run watchdog).
#[async_trait]
pub trait RunClock: Send + Sync {
    async fn started(&self, job: JobName, every: Duration);
    async fn ended(&self, job: JobName);
}

/// A clock that notes nothing, for one-shot runs and tests.
pub struct NoClock;

#[async_trait]
impl RunClock for NoClock {
    async fn started(&self, _job: JobName, _every: Duration) {}
    async fn ended(&self, _job: JobName) {}
}

/// The longest a failing job waits before it tries again (unless its own cadence is longer).
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// The pause after `failures` failures in a row: the cadence, doubled per failure after the first, up to
/// [`BACKOFF_CAP`] (a job whose cadence is longer keeps its cadence).
pub fn backoff(every: Duration, failures: u32) -> Duration {
    if failures <= 1 {
        return every;
    }
    let doubled = every.saturating_mul(1 << (failures - 1).min(16));
    doubled.min(every.max(BACKOFF_CAP))
}

/// Runs jobs on their cadences until stopped.
pub struct Scheduler {
    clock: Arc<dyn RunClock>,
    log: Arc<dyn RunLog>,
    stop: CancellationToken,
    /// Up to this share of the cadence either way, so that jobs on one cadence (and several cpbridge workers) do not
    /// keep meeting.
    jitter: f64,
}

impl Scheduler {
    pub fn new(clock: Arc<dyn RunClock>, log: Arc<dyn RunLog>, stop: CancellationToken) -> Self {
        Scheduler { clock, log, stop, jitter: 0.1 }
    }

    /// Without jitter, for tests that count runs on a paused clock.
    #[must_use]
    pub fn without_jitter(mut self) -> Self {
        self.jitter = 0.0;
        self
    }

    /// Starts every scheduled job (those with a cadence) on `tasks`. Returns the names started.
    pub fn spawn_all(&self, jobs: Vec<Arc<dyn Job>>, tasks: &mut JoinSet<()>) -> Vec<JobName> {
        let mut started = Vec::new();
        for job in jobs {
            let Some(every) = job.every() else { continue };
            started.push(job.name());
            let (clock, log, stop, jitter) = (self.clock.clone(), self.log.clone(), self.stop.clone(), self.jitter);
            tasks.spawn(run_job(job, every, clock, log, stop, jitter));
        }
        started
    }
}

/// One job's loop. Its runs follow one another in this one task, so they never overlap.
async fn run_job(
    job: Arc<dyn Job>,
    every: Duration,
    clock: Arc<dyn RunClock>,
    log: Arc<dyn RunLog>,
    stop: CancellationToken,
    jitter: f64,
) {
    let name = job.name();
    let wake = job.wake();
    tracing::debug!(job = %name, every = ?every, "scheduled");
    let mut failures: u32 = 0;
    loop {
        if stop.is_cancelled() {
            break;
        }
        clock.started(name, every).await;
        for _round in 0..job.max_rounds().max(1) {
            match run_and_record(job.as_ref(), log.as_ref()).await {
                Ok(outcome) => {
                    failures = 0;
                    if !matches!(outcome, RunOutcome::More(_)) || stop.is_cancelled() {
                        break;
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(job = %name, failures, error = %e, "run failed");
                    break;
                }
            }
        }
        clock.ended(name).await;
        let pause = backoff(every, failures).mul_f64(1.0 - jitter + 2.0 * jitter * fastrand::f64());
        let woken = async {
            match &wake {
                // A failing job waits out its back-off: a wake would only hammer what is down.
                Some(notify) if failures == 0 => notify.notified().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
            () = woken => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A job that takes `takes` per run, reports a full batch for its first `full` runs, fails when told to, and
    /// counts its runs and how many ran at once.
    struct Probe {
        every: Duration,
        takes: Duration,
        full: usize,
        failing: Mutex<bool>,
        /// Runs report nothing to do.
        idle: Mutex<bool>,
        wake: Option<Arc<Notify>>,
        runs: AtomicUsize,
        running: AtomicUsize,
        most_at_once: AtomicUsize,
        started_at: Mutex<Vec<tokio::time::Instant>>,
    }

    impl Probe {
        fn new(every: Duration, takes: Duration) -> Probe {
            Probe {
                every,
                takes,
                full: 0,
                failing: Mutex::new(false),
                idle: Mutex::new(false),
                wake: None,
                runs: AtomicUsize::new(0),
                running: AtomicUsize::new(0),
                most_at_once: AtomicUsize::new(0),
                started_at: Mutex::new(Vec::new()),
            }
        }
        fn runs(&self) -> usize {
            self.runs.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Job for Probe {
        fn name(&self) -> JobName {
            JobName::Products
        }
        fn every(&self) -> Option<Duration> {
            Some(self.every)
        }
        fn wake(&self) -> Option<Arc<Notify>> {
            self.wake.clone()
        }
        fn max_rounds(&self) -> usize {
            5
        }
        async fn run_once(&self) -> Result<RunOutcome, PipelineError> {
            let n = self.runs.fetch_add(1, Ordering::SeqCst);
            self.started_at.lock().expect("lock").push(tokio::time::Instant::now());
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_at_once.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.takes).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if *self.failing.lock().expect("lock") {
                return Err(PipelineError::Counterpoint(cpbridge_counterpoint::CpError::Invalid {
                    what: "probe".into(),
                    detail: "down".into(),
                }));
            }
            Ok(RunOutcome::done(&n).more_if(n < self.full).idle_if(*self.idle.lock().expect("lock")))
        }
    }

    fn start(probe: &Arc<Probe>) -> (CancellationToken, JoinSet<()>) {
        start_logged(probe, Arc::new(NoLog))
    }

    fn start_logged(probe: &Arc<Probe>, log: Arc<dyn RunLog>) -> (CancellationToken, JoinSet<()>) {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let scheduler = Scheduler::new(Arc::new(NoClock), log, stop.clone()).without_jitter();
        scheduler.spawn_all(vec![probe.clone() as Arc<dyn Job>], &mut tasks);
        (stop, tasks)
    }

    /// Keeps what the scheduler records: each run's job and whether it succeeded.
    #[derive(Default)]
    struct Kept(Mutex<Vec<(JobName, bool)>>);

    #[async_trait]
    impl RunLog for Kept {
        async fn record(
            &self,
            job: JobName,
            _started: chrono::NaiveDateTime,
            result: Result<&RunOutcome, &PipelineError>,
        ) {
            self.0.lock().expect("lock").push((job, result.is_ok()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn every_run_is_recorded_but_an_idle_one_and_every_failure_is() {
        let probe = Arc::new(Probe::new(Duration::from_secs(10), Duration::ZERO));
        let kept = Arc::new(Kept::default());
        let (stop, mut tasks) = start_logged(&probe, kept.clone());
        // 0 s: a run that did something; 10 s and 20 s: idle; 30 s: a failure; 40 s (after the back-off): idle.
        tokio::time::sleep(Duration::from_secs(5)).await;
        *probe.idle.lock().expect("lock") = true;
        tokio::time::sleep(Duration::from_secs(20)).await;
        *probe.failing.lock().expect("lock") = true;
        tokio::time::sleep(Duration::from_secs(10)).await;
        *probe.failing.lock().expect("lock") = false;
        tokio::time::sleep(Duration::from_secs(10)).await;
        stop.cancel();
        while tasks.join_next().await.is_some() {}
        assert_eq!(probe.runs(), 5);
        let recorded = kept.0.lock().expect("lock").clone();
        assert_eq!(recorded, vec![(JobName::Products, true), (JobName::Products, false)]);
    }

    #[tokio::test(start_paused = true)]
    async fn runs_at_start_then_on_its_cadence_and_never_twice_at_once() {
        // Each run takes 3 s on a 1 s cadence: the next waits for the last to end.
        let probe = Arc::new(Probe::new(Duration::from_secs(1), Duration::from_secs(3)));
        let (stop, mut tasks) = start(&probe);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(probe.runs(), 1, "a run at start");
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(probe.most_at_once.load(Ordering::SeqCst), 1, "single-flight");
        // A run every 4 s (3 s of work, 1 s of pause): 5 or 6 in 20 s.
        assert!((5..=6).contains(&probe.runs()), "{} runs", probe.runs());
        stop.cancel();
        while tasks.join_next().await.is_some() {}
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_runs_again_at_once_within_the_bound() {
        let mut probe = Probe::new(Duration::from_secs(60), Duration::from_millis(10));
        probe.full = 100;
        let probe = Arc::new(probe);
        let (stop, mut tasks) = start(&probe);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(probe.runs(), 5, "drained at once, but at most max_rounds per wake");
        let starts = probe.started_at.lock().expect("lock").clone();
        assert!(starts.windows(2).all(|w| w[1] - w[0] == Duration::from_millis(10)), "back to back: {starts:?}");
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(probe.runs(), 10, "the next five after the cadence");
        stop.cancel();
        while tasks.join_next().await.is_some() {}
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_and_a_success_resets_the_cadence() {
        let probe = Arc::new(Probe::new(Duration::from_secs(1), Duration::ZERO));
        *probe.failing.lock().expect("lock") = true;
        let (stop, mut tasks) = start(&probe);
        // Pauses after failures 1, 2, 3, 4, ...: 1, 2, 4, 8, 16, 32, 60, 60 s.
        tokio::time::sleep(Duration::from_secs(125)).await;
        let starts: Vec<u64> = {
            let all = probe.started_at.lock().expect("lock").clone();
            all.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect()
        };
        assert_eq!(starts, vec![1, 2, 4, 8, 16, 32, 60], "{starts:?}");
        *probe.failing.lock().expect("lock") = false;
        // The run due at 183 s succeeds; from 185.5 s to 188.7 s: runs at 186, 187 and 188 s.
        tokio::time::sleep(Duration::from_millis(60_500)).await;
        let before = probe.runs();
        tokio::time::sleep(Duration::from_millis(3_200)).await;
        assert_eq!(probe.runs() - before, 3, "back on its 1 s cadence once a run succeeds");
        stop.cancel();
        while tasks.join_next().await.is_some() {}
    }

    #[tokio::test(start_paused = true)]
    async fn a_wake_starts_a_run_early_and_a_stop_ends_the_loop_after_the_current_run() {
        let notify = Arc::new(Notify::new());
        let mut probe = Probe::new(Duration::from_secs(3_600), Duration::from_secs(2));
        probe.wake = Some(notify.clone());
        let probe = Arc::new(probe);
        let (stop, mut tasks) = start(&probe);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(probe.runs(), 1);
        notify.notify_one();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(probe.runs(), 2, "woken long before its hour");
        // Stopped in the middle of that run: it finishes, and no other starts.
        stop.cancel();
        let ended =
            tokio::time::timeout(Duration::from_secs(3), async { while tasks.join_next().await.is_some() {} }).await;
        assert!(ended.is_ok(), "the loop ends once the current run does");
        assert_eq!(probe.running.load(Ordering::SeqCst), 0, "the current run was not cut off");
        assert_eq!(probe.runs(), 2);
    }

    #[test]
    fn names_are_unique_and_backoff_is_capped() {
        // Runs, heartbeats and /metrics are keyed by the recorded name.
        let names: std::collections::BTreeSet<&str> = JobName::ALL.into_iter().map(JobName::as_str).collect();
        assert_eq!(names.len(), JobName::ALL.len());
        assert_eq!(backoff(Duration::from_secs(5), 1), Duration::from_secs(5));
        assert_eq!(backoff(Duration::from_secs(5), 3), Duration::from_secs(20));
        assert_eq!(backoff(Duration::from_secs(5), 30), BACKOFF_CAP);
        assert_eq!(backoff(Duration::from_secs(21_600), 5), Duration::from_secs(21_600), "a long cadence is kept");
    }
}
