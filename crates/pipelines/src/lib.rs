//! cpbridge's pipelines, each a function of the ports: read a source, map with pure code, write to the target,
//! record what was done. Every job has one `run_once` that the scheduler, the CLI and the tests share.

pub mod alerts;
pub mod backoff;
pub mod catalog;
pub mod customers;
pub mod inventory;
pub mod jobs;
pub mod order_map;
pub mod orders;
pub mod orders_reconcile;
pub mod pricing;
pub mod product_map;
pub mod products;
pub mod run_log;
pub mod scheduler;
pub mod settings;
pub mod status;
pub mod sync_settings;
pub mod webhooks;

pub use alerts::Alerter;
pub use backoff::Backoff;
pub use orders::{OrderPipeline, PipelineError};
pub use settings::OrderSettings;
