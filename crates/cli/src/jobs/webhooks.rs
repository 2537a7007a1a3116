//! Keeps WooCommerce's order webhooks present and active, and fetches what a disabled one missed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::scheduler::{Job, JobName, RunOutcome};
use cpbridge_pipelines::webhooks::WebhookGuard;

one_call_job!(Webhooks, JobName::Webhooks, webhooks: Arc<WebhookGuard>, |w| w.run_once().await);
