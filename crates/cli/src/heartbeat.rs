//! Job clocks and heartbeats: how the daemon, the status page and `cpbridge status` know that a job is late or
//! stuck, or that no daemon is running at all.
//!
//! Jobs record only the runs that did something, so a quiet job and a dead one look alike in the run history. The
//! daemon therefore keeps a clock per job in memory (for `/readyz` and the stuck-job alert) and writes heartbeats to
//! the state store (at most one per job every 10 s, and one for the daemon every 15 s), which `cpbridge status` reads
//! from another process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use cpbridge_pipelines::scheduler::JobName;
use cpbridge_store::StateStore;

/// The heartbeat of the daemon itself.
pub const DAEMON: &str = "daemon";
/// A daemon whose heartbeat is older than this is taken for stopped.
pub const DAEMON_SILENT_SECS: i64 = 60;
/// How often the daemon writes its own heartbeat.
pub const DAEMON_BEAT: Duration = Duration::from_secs(15);
/// Heartbeats of one job are written at most this often.
const JOB_BEAT: Duration = Duration::from_secs(10);

/// The state store key of a heartbeat.
pub fn key(job: &str) -> String {
    format!("heartbeat:{job}")
}

/// How long a job with this cadence may go without a tick before it is late (and a run that long is stuck): its
/// cadence, plus half of it or two minutes, whichever is more (heartbeats are written every 10 s at most, and the
/// scheduler jitters by 10 %).
pub fn late_after(every_secs: f64) -> chrono::Duration {
    let every = every_secs.max(0.0);
    chrono::Duration::milliseconds(((every + (every / 2.0).max(120.0)) * 1000.0) as i64)
}

#[derive(Debug, Clone, Copy)]
struct Clock {
    every: f64,
    /// When the run in progress started; `None` between runs.
    running_since: Option<Instant>,
    written: Option<Instant>,
}

/// The daemon's clocks, one per scheduled job.
#[derive(Debug, Default)]
pub struct JobClocks {
    clocks: Mutex<HashMap<JobName, Clock>>,
}

impl JobClocks {
    /// A run of `job` starts; returns whether a heartbeat is due.
    fn start(&self, job: JobName, every: f64) -> bool {
        let Ok(mut clocks) = self.clocks.lock() else { return false };
        let clock = clocks.entry(job).or_insert(Clock { every, running_since: None, written: None });
        clock.running_since = Some(Instant::now());
        Self::due(clock)
    }

    /// The run of `job` ended; returns whether a heartbeat is due.
    fn end(&self, job: JobName) -> bool {
        let Ok(mut clocks) = self.clocks.lock() else { return false };
        let Some(clock) = clocks.get_mut(&job) else { return false };
        clock.running_since = None;
        Self::due(clock)
    }

    fn due(clock: &mut Clock) -> bool {
        let due = clock.written.is_none_or(|at| at.elapsed() >= JOB_BEAT);
        if due {
            clock.written = Some(Instant::now());
        }
        due
    }

    /// Jobs whose run in progress has gone on longer than [`late_after`] their cadence, with how long, in seconds.
    pub fn stuck(&self) -> Vec<(JobName, u64)> {
        let Ok(clocks) = self.clocks.lock() else { return Vec::new() };
        let mut stuck: Vec<(JobName, u64)> = clocks
            .iter()
            .filter_map(|(job, clock)| {
                let since = clock.running_since?;
                let limit = late_after(clock.every).to_std().unwrap_or(Duration::MAX);
                (since.elapsed() > limit).then(|| (*job, since.elapsed().as_secs()))
            })
            .collect();
        stuck.sort_unstable();
        stuck
    }
}

/// What a scheduled job needs to keep its clock and heartbeat.
#[derive(Clone)]
pub struct Beat {
    pub clocks: Arc<JobClocks>,
    pub store: Arc<dyn StateStore>,
}

#[async_trait::async_trait]
impl cpbridge_pipelines::scheduler::RunClock for Beat {
    async fn started(&self, job: JobName, every: std::time::Duration) {
        if self.clocks.start(job, every.as_secs_f64()) {
            self.write(job.as_str()).await;
        }
    }

    async fn ended(&self, job: JobName) {
        if self.clocks.end(job) {
            self.write(job.as_str()).await;
        }
    }
}

impl Beat {
    /// Writes a heartbeat now (the daemon's own, every [`DAEMON_BEAT`]).
    pub async fn write(&self, job: &str) {
        let now = Utc::now().naive_utc();
        let stamp = now.format("%Y-%m-%d %H:%M:%S").to_string();
        if let Err(e) = self.store.set_watermark(&key(job), &stamp, now).await {
            tracing::warn!(job, error = %e, "heartbeat not written");
        }
    }
}

/// A heartbeat read back from the state store.
pub async fn read(store: &dyn StateStore, job: &str) -> Option<NaiveDateTime> {
    let text = store.watermark(&key(job)).await.ok()??;
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_allows_half_the_cadence_or_two_minutes() {
        assert_eq!(late_after(1.0), chrono::Duration::seconds(121));
        assert_eq!(late_after(3_600.0), chrono::Duration::seconds(5_400));
    }

    #[test]
    fn a_run_is_stuck_only_past_its_limit() {
        let clocks = JobClocks::default();
        assert!(clocks.start(JobName::Pricing, 1.0), "the first tick writes a heartbeat");
        assert!(!clocks.start(JobName::Pricing, 1.0), "the next within 10 s does not");
        assert!(clocks.stuck().is_empty());
        if let Ok(mut all) = clocks.clocks.lock()
            && let Some(clock) = all.get_mut(&JobName::Pricing)
        {
            clock.running_since = Instant::now().checked_sub(Duration::from_secs(200));
        }
        assert_eq!(clocks.stuck().iter().map(|(job, _)| *job).collect::<Vec<_>>(), vec![JobName::Pricing]);
        clocks.end(JobName::Pricing);
        assert!(clocks.stuck().is_empty(), "a finished run is not stuck");
    }
}
