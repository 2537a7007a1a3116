//! Pushes the stock of what moved in Counterpoint (`USER_INV_CHANGES`) within seconds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::inventory::InventorySync;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};

// An idle poll every few seconds would bury the useful runs; only runs that did something are recorded.
one_call_job!(InventoryEvents, JobName::InventoryEvents, inventory: Arc<InventorySync>, |i| i.events_once().await, idle_if |report| report.changes == 0 && report.purged == 0);
