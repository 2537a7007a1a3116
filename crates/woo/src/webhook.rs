//! Webhook deliveries: signing (for the sandbox), verification in constant time, and telling WooCommerce's unsigned
//! creation ping (`webhook_id=N`, form-encoded) apart from a real event.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::auth::hmac_sha256;

pub const SIGNATURE_HEADER: &str = "x-wc-webhook-signature";
pub const TOPIC_HEADER: &str = "x-wc-webhook-topic";
pub const RESOURCE_HEADER: &str = "x-wc-webhook-resource";
pub const EVENT_HEADER: &str = "x-wc-webhook-event";
pub const SOURCE_HEADER: &str = "x-wc-webhook-source";
pub const WEBHOOK_ID_HEADER: &str = "x-wc-webhook-id";
pub const DELIVERY_ID_HEADER: &str = "x-wc-webhook-delivery-id";

/// base64(HMAC-SHA256(raw body, secret)), the value of `X-WC-Webhook-Signature`.
#[must_use]
pub fn sign(secret: &str, raw_body: &[u8]) -> String {
    BASE64.encode(hmac_sha256(secret.as_bytes(), raw_body))
}

/// True when `signature` is the signature of `raw_body` under `secret`. The comparison runs in constant time.
#[must_use]
pub fn verify(secret: &str, raw_body: &[u8], signature: &str) -> bool {
    let Ok(provided) = BASE64.decode(signature.trim()) else {
        return false;
    };
    let expected = hmac_sha256(secret.as_bytes(), raw_body);
    provided.len() == expected.len() && bool::from(provided.as_slice().ct_eq(expected.as_slice()))
}

/// What a POST to the webhook endpoint turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The unsigned ping WooCommerce sends when a webhook is created or activated; answer 200 and do nothing.
    Ping { webhook_id: u64 },
    /// A signed event. `topic` is `resource.event`, like `order.created`.
    Event { topic: String, webhook_id: Option<u64>, delivery_id: Option<String> },
}

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the webhook has no X-WC-Webhook-Signature header and is not a creation ping")]
    Unsigned,
    #[error("the X-WC-Webhook-Signature does not match the body (wrong secret, or the body was altered)")]
    BadSignature,
    #[error("the webhook is signed but has no X-WC-Webhook-Topic header")]
    NoTopic,
}

/// Classifies and authenticates one delivery. Only the signature decides; a body that merely looks like a ping
/// but carries a signature is treated as an event.
///
/// # Errors
/// [`DeliveryError`] when the delivery must be refused (answer 401).
pub fn classify(headers: &HeaderMap, raw_body: &[u8], secret: &str) -> Result<Delivery, DeliveryError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let Some(signature) = header(SIGNATURE_HEADER) else {
        return ping_id(raw_body).map(|webhook_id| Delivery::Ping { webhook_id }).ok_or(DeliveryError::Unsigned);
    };
    if !verify(secret, raw_body, signature) {
        return Err(DeliveryError::BadSignature);
    }
    let topic = header(TOPIC_HEADER).filter(|t| !t.is_empty()).ok_or(DeliveryError::NoTopic)?.to_owned();
    Ok(Delivery::Event {
        topic,
        webhook_id: header(WEBHOOK_ID_HEADER).and_then(|v| v.parse().ok()),
        delivery_id: header(DELIVERY_ID_HEADER).map(str::to_owned),
    })
}

/// The id in a `webhook_id=N` form body, if that is all the body is.
#[must_use]
pub fn ping_id(raw_body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(raw_body).ok()?.trim();
    let value = text.strip_prefix("webhook_id=")?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_rejections() {
        let body = br#"{"id":1}"#;
        let signature = sign("testsecret", body);
        assert!(verify("testsecret", body, &signature));
        assert!(!verify("othersecret", body, &signature));
        assert!(!verify("testsecret", br#"{"id":2}"#, &signature));
        assert!(!verify("testsecret", body, "not base64 at all!"));
        assert!(!verify("testsecret", body, ""));
    }

    #[test]
    fn ping_bodies() {
        assert_eq!(ping_id(b"webhook_id=4"), Some(4));
        assert_eq!(ping_id(b"webhook_id="), None);
        assert_eq!(ping_id(b"webhook_id=4&x=1"), None);
        assert_eq!(ping_id(br#"{"id":4}"#), None);
    }
}
