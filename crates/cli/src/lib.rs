//! cpbridge as a library: the application that the `cpbridge` binary runs (config, the daemon and its jobs, status,
//! doctor, the one-shot commands) and that tests can build. The binary parses arguments, reports the outcome, and
//! carries the development tools (the demo and the benches, in `src/devtools/`), which are not part of the library.
//!
//! The daemon's jobs are listed in [`jobs`]; [`app::App`] builds everything from a config file.

pub mod app;
pub mod args;
pub mod config;
pub mod cp;
pub mod daemon;
pub mod doctor;
pub mod error;
pub mod heartbeat;
pub mod init;
pub mod jobs;
pub mod orders;
pub mod price;
pub mod reconcile;
pub mod sandbox;
pub mod status;
pub mod sync;
