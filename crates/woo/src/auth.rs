//! REST credentials and how they are presented: Basic over HTTPS, OAuth 1.0a one-legged over plain HTTP (real
//! WooCommerce ignores Basic there), or `consumer_key`/`consumer_secret` in the query string.
//!
//! The OAuth signature follows WooCommerce's own verifier (`WC_REST_Authentication::check_oauth_signature`), which is
//! the only judge that matters: the parameters are sorted by name with `strcmp`, each name and value is
//! RFC 3986-encoded once, and they are joined with `%3D` and `%26`. That differs from RFC 5849 for values holding
//! reserved characters (a `modified_after` timestamp), so a generic OAuth library signs those requests wrongly.
//! The sandbox verifies with the same functions.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A secret that never prints: `Debug` and `Display` show `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the few places that must send or compare it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A WooCommerce REST API key pair (`ck_…`, `cs_…`).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub consumer_key: String,
    pub consumer_secret: Secret,
}

impl Credentials {
    #[must_use]
    pub fn new(consumer_key: impl Into<String>, consumer_secret: impl Into<String>) -> Self {
        Self { consumer_key: consumer_key.into(), consumer_secret: Secret::new(consumer_secret) }
    }

    /// True when `key` and `secret` are this pair; both comparisons run in constant time.
    #[must_use]
    pub fn matches(&self, key: &str, secret: &str) -> bool {
        let key_ok = key.as_bytes().ct_eq(self.consumer_key.as_bytes());
        let secret_ok = secret.as_bytes().ct_eq(self.consumer_secret.expose().as_bytes());
        bool::from(key_ok & secret_ok)
    }
}

/// How the client presents its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Basic for `https://` stores, OAuth 1.0a for `http://` ones. The default.
    #[default]
    Auto,
    /// `Authorization: Basic`, for HTTPS (or a store that knows it sits behind a TLS proxy).
    Basic,
    /// OAuth 1.0a one-legged, HMAC-SHA256, parameters in the query string.
    OAuth1,
    /// `consumer_key` and `consumer_secret` as query parameters, for hosts that strip the Authorization header.
    QueryString,
}

impl AuthMode {
    /// The mode actually used for a store at `base_url`.
    #[must_use]
    pub fn resolve(self, base_url: &str) -> Self {
        match self {
            Self::Auto if base_url.starts_with("https://") => Self::Basic,
            Self::Auto => Self::OAuth1,
            other => other,
        }
    }
}

impl std::str::FromStr for AuthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "basic" => Ok(Self::Basic),
            "oauth1" => Ok(Self::OAuth1),
            "query" | "query-string" => Ok(Self::QueryString),
            other => Err(format!("auth mode {other:?} is not one of auto, basic, oauth1, query")),
        }
    }
}

/// Characters left alone by RFC 3986 encoding: ALPHA, DIGIT, `-`, `.`, `_`, `~`; PHP's `rawurlencode` agrees.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// RFC 3986 percent-encoding.
#[must_use]
pub fn rfc3986(text: &str) -> String {
    utf8_percent_encode(text, RFC3986).to_string()
}

/// The string WooCommerce signs: `METHOD&enc(url)&name%3Dvalue%26…`, over decoded `params` without
/// `oauth_signature`. `url` has no query string.
#[must_use]
pub fn oauth_base_string(method: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "oauth_signature").collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let joined: Vec<String> = sorted.iter().map(|(k, v)| format!("{}%3D{}", rfc3986(k), rfc3986(v))).collect();
    format!("{}&{}&{}", method.to_ascii_uppercase(), rfc3986(url), joined.join("%26"))
}

/// base64(HMAC-SHA256(base string, secret + "&")).
#[must_use]
pub fn oauth_signature(method: &str, url: &str, params: &[(String, String)], consumer_secret: &str) -> String {
    let base = oauth_base_string(method, url, params);
    BASE64.encode(hmac_sha256(format!("{consumer_secret}&").as_bytes(), base.as_bytes()))
}

/// The `oauth_*` query parameters, signature included, for a request with the given (decoded) query.
#[must_use]
pub fn oauth_params(
    method: &str,
    url: &str,
    query: &[(String, String)],
    credentials: &Credentials,
    timestamp: i64,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut oauth = vec![
        ("oauth_consumer_key".to_owned(), credentials.consumer_key.clone()),
        ("oauth_nonce".to_owned(), nonce.to_owned()),
        ("oauth_signature_method".to_owned(), "HMAC-SHA256".to_owned()),
        ("oauth_timestamp".to_owned(), timestamp.to_string()),
    ];
    let mut all: Vec<(String, String)> = query.to_vec();
    all.extend(oauth.iter().cloned());
    let signature = oauth_signature(method, url, &all, credentials.consumer_secret.expose());
    oauth.push(("oauth_signature".to_owned(), signature));
    oauth
}

/// A fresh 32-character alphanumeric nonce, the form WooCommerce documents.
#[must_use]
pub fn new_nonce() -> String {
    std::iter::repeat_with(fastrand::alphanumeric).take(32).collect()
}

/// Verifies an OAuth 1.0a request against `credentials` the way WooCommerce does. `params` are the decoded query
/// parameters, `oauth_*` included.
///
/// # Errors
/// The message WooCommerce would answer with, for a 401.
pub fn verify_oauth(
    method: &str,
    url: &str,
    params: &[(String, String)],
    credentials: &Credentials,
) -> Result<(), &'static str> {
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let required =
        ["oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method"];
    if required.iter().any(|name| get(name).is_none()) {
        return Err("Missing OAuth parameter(s).");
    }
    let key = get("oauth_consumer_key").unwrap_or_default();
    if !bool::from(key.as_bytes().ct_eq(credentials.consumer_key.as_bytes())) {
        return Err("Consumer key is invalid.");
    }
    let method_name = get("oauth_signature_method").unwrap_or_default();
    if method_name != "HMAC-SHA256" && method_name != "HMAC-SHA1" {
        return Err("Invalid signature - signature method is invalid.");
    }
    if method_name == "HMAC-SHA1" {
        // cpbridge and its sandbox sign with SHA-256 only; a SHA-1 signature is refused rather than half-supported.
        return Err("Invalid signature - signature method is invalid.");
    }
    let provided = get("oauth_signature").unwrap_or_default().replace(' ', "+");
    let expected = oauth_signature(method, url, params, credentials.consumer_secret.expose());
    if bool::from(provided.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err("Invalid signature - provided signature does not match.")
    }
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The `Authorization: Basic` value for a key pair.
#[must_use]
pub fn basic_header(credentials: &Credentials) -> String {
    let raw = format!("{}:{}", credentials.consumer_key, credentials.consumer_secret.expose());
    format!("Basic {}", BASE64.encode(raw))
}

/// Decodes an `Authorization: Basic` value into key and secret.
#[must_use]
pub fn parse_basic_header(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = BASE64.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (key, secret) = text.split_once(':')?;
    Some((key.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn base_string_encodes_values_once_like_woocommerce() {
        let params = pairs(&[("per_page", "100"), ("modified_after", "2020-01-01T00:00:00"), ("oauth_nonce", "n")]);
        let base = oauth_base_string("get", "http://127.0.0.1:8080/wp-json/wc/v3/products", &params);
        assert_eq!(
            base,
            "GET&http%3A%2F%2F127.0.0.1%3A8080%2Fwp-json%2Fwc%2Fv3%2Fproducts&\
             modified_after%3D2020-01-01T00%3A00%3A00%26oauth_nonce%3Dn%26per_page%3D100"
        );
    }

    #[test]
    fn signed_params_verify_and_tampering_is_caught() {
        let credentials = Credentials::new("ck_test", "cs_test");
        let url = "http://127.0.0.1:1/wp-json/wc/v3/orders";
        let query = pairs(&[("status", "processing"), ("per_page", "100")]);
        let mut all = query.clone();
        all.extend(oauth_params("GET", url, &query, &credentials, 1_700_000_000, "abc"));
        assert_eq!(verify_oauth("GET", url, &all, &credentials), Ok(()));
        assert!(verify_oauth("POST", url, &all, &credentials).is_err());
        let mut tampered = all.clone();
        tampered[0].1 = "completed".to_owned();
        assert!(verify_oauth("GET", url, &tampered, &credentials).is_err());
        let wrong = Credentials::new("ck_test", "cs_other");
        assert!(verify_oauth("GET", url, &all, &wrong).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let credentials = Credentials::new("ck_visible", "cs_hidden");
        let printed = format!("{credentials:?}");
        assert!(printed.contains("ck_visible") && !printed.contains("cs_hidden"), "{printed}");
        assert_eq!(parse_basic_header(&basic_header(&credentials)), Some(("ck_visible".into(), "cs_hidden".into())));
    }
}
