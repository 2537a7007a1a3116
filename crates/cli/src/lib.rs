//! cpbridge as a library: the application that the `cpbridge` binary runs (config, the daemon and its jobs, status,
//! doctor, the one-shot commands) and that tests can build. The binary only parses arguments and reports the outcome.
//!
//! The daemon's jobs are listed in [`jobs`]; [`app::App`] builds everything from a config file.

pub mod app;
pub mod args;
pub mod bench;
pub mod bench_common;
pub mod bench_counterpoint;
pub mod bench_pricing;
pub mod bench_reliability;
pub mod bench_sync;
pub mod cli;
pub mod config;
pub mod cp;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod heartbeat;
pub mod init;
pub mod jobs;
pub mod orders;
pub mod price;
pub mod reconcile;
pub mod sandbox;
pub mod status;
pub mod sync;
