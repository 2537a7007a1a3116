//! Moves WooCommerce orders along as their Counterpoint documents are released or closed.

use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};

use super::Orders;

one_call_job!(OrdersStatus, JobName::OrdersStatus, orders: Orders, |o| o.follow_once().await);
