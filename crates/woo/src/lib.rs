//! The WooCommerce side of cpbridge: a `wc/v3` REST client with typed records, and webhook verification.
//!
//! The client is written to WooCommerce's wire format as captured from a real store (see the fixtures test), not
//! to cpbridge's sandbox; the sandbox is only its test peer.

pub mod auth;
pub mod client;
pub mod de;
pub mod error;
pub mod model;
pub mod retry;
pub mod webhook;

pub use auth::{AuthMode, Credentials, Secret};
pub use client::{
    BatchItemError, BatchOutcome, BatchResult, ClientStats, Page, RecordStream, Replay, WooClient, WooConfig,
};
pub use error::{TransportKind, WooError};
pub use model::*;
pub use retry::RetryPolicy;
