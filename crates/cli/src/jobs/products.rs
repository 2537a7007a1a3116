//! The product sync: the items that changed in Counterpoint, to WooCommerce products.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::products::ProductSync;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};

one_call_job!(Products, JobName::Products, products: Arc<ProductSync>, |p| p.run_once().await);
