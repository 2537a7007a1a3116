//! The client's error: which request failed, how, and whether trying again can help.

use crate::model::ErrorBody;

/// How a request failed before an HTTP answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be made; the request never reached the store.
    Connect,
    /// No answer within the request timeout.
    Timeout,
    /// The connection dropped while sending or reading.
    Dropped,
}

#[derive(Debug, thiserror::Error)]
pub enum WooError {
    /// WooCommerce answered with an error body `{code, message, data}`.
    #[error("{method} {path}: WooCommerce answered {status} {}: {}", body.code, body.message)]
    Api { method: String, path: String, status: u16, body: Box<ErrorBody>, retry_after: Option<std::time::Duration> },
    /// An error status without WooCommerce's error body (a proxy's 502 page, a PHP fatal error).
    #[error("{method} {path}: HTTP {status}: {snippet}")]
    Http { method: String, path: String, status: u16, snippet: String, retry_after: Option<std::time::Duration> },
    #[error("{method} {path}: {kind:?}: {message}")]
    Transport { method: String, path: String, kind: TransportKind, message: String },
    #[error("{method} {path}: the response is not {what}: {message}")]
    Decode { method: String, path: String, what: &'static str, message: String },
    #[error("{source} (gave up after {attempts} attempts)")]
    Exhausted { attempts: u32, source: Box<WooError> },
    #[error("WooCommerce client configuration: {0}")]
    Config(String),
    /// Another error, with the record it concerns (a SKU, an e-mail) that the request path does not show.
    #[error("{subject}: {source}")]
    About { subject: String, source: Box<WooError> },
}

impl WooError {
    /// Names the record this error concerns, for a message an operator can act on.
    #[must_use]
    pub fn about(self, subject: impl Into<String>) -> Self {
        Self::About { subject: subject.into(), source: Box::new(self) }
    }

    /// The error without the context [`WooError::about`] added.
    #[must_use]
    pub fn root(&self) -> &WooError {
        match self {
            Self::About { source, .. } => source.root(),
            other => other,
        }
    }

    /// The HTTP status, when the store answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Http { status, .. } => Some(*status),
            Self::Exhausted { source, .. } | Self::About { source, .. } => source.status(),
            _ => None,
        }
    }

    /// WooCommerce's error code (`woocommerce_rest_product_invalid_id`, `product_invalid_sku`, …).
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { body, .. } => Some(&body.code),
            Self::Exhausted { source, .. } | Self::About { source, .. } => source.code(),
            _ => None,
        }
    }

    /// The error body, when WooCommerce sent one.
    #[must_use]
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            Self::Api { body, .. } => Some(body),
            Self::Exhausted { source, .. } | Self::About { source, .. } => source.body(),
            _ => None,
        }
    }

    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True for failures that another attempt may cure: transport errors, 429 and 5xx. A 4xx other than 429 is
    /// the request's own fault and is never retried.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Api { status, .. } | Self::Http { status, .. } => *status == 429 || *status >= 500,
            Self::About { source, .. } => source.is_retryable(),
            Self::Decode { .. } | Self::Exhausted { .. } | Self::Config(_) => false,
        }
    }

    /// True when the store certainly did not act on the request, so that even a create may be sent again:
    /// the connection was refused, or the store answered 429 or 503 (it throttled or was down for maintenance).
    #[must_use]
    pub fn surely_not_processed(&self) -> bool {
        match self {
            Self::Transport { kind, .. } => *kind == TransportKind::Connect,
            Self::Api { status, .. } | Self::Http { status, .. } => *status == 429 || *status == 503,
            Self::About { source, .. } => source.surely_not_processed(),
            _ => false,
        }
    }

    /// The wait the store asked for in `Retry-After`.
    #[must_use]
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Api { retry_after, .. } | Self::Http { retry_after, .. } => *retry_after,
            Self::About { source, .. } => source.retry_after(),
            _ => None,
        }
    }
}
