//! The library's one error type: what the application or a command could not do, with the context that says what
//! it was doing. The binary prints it as `error: ...`; a caller that must react matches on the variant.

use cpbridge_counterpoint::CpError;
use cpbridge_pipelines::PipelineError;
use cpbridge_pipelines::pricing::QuoteError;
use cpbridge_store::StoreError;
use cpbridge_woo::WooError;
use cpbridge_woo_sandbox::SandboxError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file cannot be read, or has problems; the message lists them.
    #[error("{0}")]
    Config(String),
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
    /// A system cpbridge needs is reachable but not set up for it (Counterpoint's schema, say).
    #[error("{0}")]
    NotReady(String),
    /// What a command was asked about does not exist (a staged order, say).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Counterpoint(#[from] CpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    WooCommerce(#[from] WooError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Quote(#[from] QuoteError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// What was being done when `cause` failed; shown as `context: cause`. (Not a `source`: the message already
    /// carries it, and a reporter that walks sources would print it twice.)
    #[error("{context}: {cause}")]
    Context { context: String, cause: Box<Error> },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what was being done to an error, as the messages read: `opening the state store x.db: ...`.
pub trait Context<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context { context: context.into(), cause: Box::new(e.into()) })
    }

    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Context { context: context().into(), cause: Box::new(e.into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_reads_before_the_cause() {
        let failed: std::result::Result<(), std::io::Error> = Err(std::io::Error::other("disk full"));
        let err = failed.context("writing cpbridge.toml").context("cpbridge init").expect_err("an error");
        assert_eq!(err.to_string(), "cpbridge init: writing cpbridge.toml: disk full");
        assert!(matches!(err, Error::Context { ref cause, .. } if matches!(**cause, Error::Context { .. })));
        // Reported through anyhow at the binary's edge, the cause is not repeated.
        assert_eq!(format!("{:#}", anyhow::Error::from(err)), "cpbridge init: writing cpbridge.toml: disk full");
    }
}
