//! Polls WooCommerce for orders modified since the last poll: the safety net under the webhooks.

use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};

use super::Orders;

one_call_job!(OrdersPull, JobName::OrdersPull, orders: Orders, |o| o.pull_once().await);
