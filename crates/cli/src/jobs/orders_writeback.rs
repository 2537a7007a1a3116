//! Retries the write-backs of Counterpoint's numbers to WooCommerce orders that are due.

use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};

use super::Orders;

one_call_job!(OrdersWriteback, JobName::OrdersWriteback, orders: Orders, |o| o.writeback_once().await, idle_if |report| report.checked == 0);
