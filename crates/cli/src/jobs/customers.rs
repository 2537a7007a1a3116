//! The customer sync, both ways, one owner per field.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::customers::CustomerSync;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};

one_call_job!(Customers, JobName::Customers, customers: Arc<CustomerSync>, |c| c.run_once().await);
