//! WooCommerce's wire conventions: the error body, the `Link`/`Allow` headers, pagination headers, query parameter
//! validation and JSON body parsing, with the codes and messages a real store answers with.

use std::collections::HashMap;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::store::StoreError;

/// An error answered in WooCommerce's shape: `{code, message, data: {status, ...}}`.
#[derive(Debug)]
pub struct WcError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub data: Map<String, Value>,
}

impl WcError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_owned(), message: message.into(), data: Map::new() }
    }

    #[must_use]
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.data.insert(key.to_owned(), value);
        self
    }

    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "rest_no_route", "No route was found matching the URL and request method.")
    }

    /// `rest_invalid_param` with the `params` and `details` WordPress adds.
    pub fn invalid_param(name: &str, message: &str, detail_code: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "rest_invalid_param", format!("Invalid parameter(s): {name}"))
            .with("params", json!({ name: message }))
            .with("details", json!({ name: { "code": detail_code, "message": message, "data": null } }))
    }

    pub fn missing_param(name: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "rest_missing_callback_param", format!("Missing parameter(s): {name}"))
            .with("params", json!([name]))
    }

    pub fn body(&self) -> Value {
        let mut data = self.data.clone();
        data.insert("status".into(), json!(self.status.as_u16()));
        // WordPress puts `status` first; keep that order for readers of raw bodies.
        let mut ordered = Map::new();
        ordered.insert("status".into(), json!(self.status.as_u16()));
        for (k, v) in data {
            if k != "status" {
                ordered.insert(k, v);
            }
        }
        json!({ "code": self.code, "message": self.message, "data": ordered })
    }
}

impl std::fmt::Display for WcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl From<StoreError> for WcError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "sandbox store failure");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error", "The sandbox store failed.")
    }
}

impl IntoResponse for WcError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        add_json_type(response.headers_mut());
        response
    }
}

pub type WcResult = Result<Response, WcError>;

fn add_json_type(headers: &mut HeaderMap) {
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
}

/// Where the store is, as the client reached it: `http(s)://host:port`.
#[derive(Debug, Clone)]
pub struct Site {
    pub base: String,
}

impl Site {
    pub fn api(&self, path: &str) -> String {
        format!("{}/wp-json/wc/v3{path}", self.base)
    }

    fn discovery_link(&self) -> String {
        format!("<{}/wp-json/>; rel=\"https://api.w.org/\"", self.base)
    }
}

/// The `Allow` header of a single record's route.
pub const ITEM_ALLOW: &str = "GET, POST, PUT, PATCH, DELETE";

/// A JSON answer with WooCommerce's headers.
pub fn respond(site: &Site, status: StatusCode, allow: &'static str, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    add_json_type(headers);
    if let Ok(link) = HeaderValue::from_str(&site.discovery_link()) {
        headers.insert(http::header::LINK, link);
    }
    headers.insert(http::header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A page of a listing with `X-WP-Total`, `X-WP-TotalPages` and `Link` rel=prev/next.
/// WordPress's `_fields`: keeps only the named top-level fields (a comma-separated list; `a.b` keeps the field `a`
/// with only its `b`), as `rest_filter_response_fields` does for every REST route.
pub fn only_fields(item: Value, fields: &str) -> Value {
    let Value::Object(map) = item else { return item };
    let mut kept = Map::new();
    for field in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (head, rest) = field.split_once('.').map_or((field, None), |(h, r)| (h, Some(r)));
        let Some(value) = map.get(head) else { continue };
        let value = match rest {
            Some(rest) => match (kept.remove(head), only_fields(value.clone(), rest)) {
                (Some(Value::Object(mut earlier)), Value::Object(more)) => {
                    earlier.extend(more);
                    Value::Object(earlier)
                }
                (_, narrowed) => narrowed,
            },
            None => value.clone(),
        };
        kept.insert(head.to_owned(), value);
    }
    Value::Object(kept)
}

pub fn respond_page(
    site: &Site,
    path: &str,
    params: &Params,
    paging: &Paging,
    total: u64,
    items: Vec<Value>,
) -> Response {
    let total_pages = if total == 0 { 0 } else { total.div_ceil(u64::from(paging.per_page)) };
    let items = match params.get("_fields") {
        Some(fields) => items.into_iter().map(|item| only_fields(item, fields)).collect(),
        None => items,
    };
    let mut response = (StatusCode::OK, Json(Value::Array(items))).into_response();
    let headers = response.headers_mut();
    add_json_type(headers);
    headers.insert("X-WP-Total", HeaderValue::from(total));
    headers.insert("X-WP-TotalPages", HeaderValue::from(total_pages));
    let page_url = |page: u64| {
        let mut query: Vec<(String, String)> = params
            .pairs
            .iter()
            .filter(|(k, _)| k != "page" && !k.starts_with("oauth_") && k != "consumer_key" && k != "consumer_secret")
            .cloned()
            .collect();
        query.push(("page".into(), page.to_string()));
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", cpbridge_woo::auth::rfc3986(k), cpbridge_woo::auth::rfc3986(v)))
            .collect();
        format!("{}?{}", site.api(path), encoded.join("&"))
    };
    let page = u64::from(paging.page);
    let mut links = Vec::new();
    if page > 1 && page <= total_pages + 1 {
        links.push(format!("<{}>; rel=\"prev\"", page_url(page - 1)));
    }
    if page < total_pages {
        links.push(format!("<{}>; rel=\"next\"", page_url(page + 1)));
    }
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        headers.insert(http::header::LINK, value);
    }
    headers.insert(http::header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

/// The decoded query string.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub pairs: Vec<(String, String)>,
    map: HashMap<String, String>,
}

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> = raw
            .map(|q| {
                q.split('&')
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        (decode_component(k), decode_component(v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let map = pairs.iter().cloned().collect();
        Self { pairs, map }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A comma-separated list parameter (`include=1,2`, `sku=A,B`).
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "yes"))
    }

    /// A whole-number parameter with WordPress's validation message.
    pub fn integer(&self, key: &str) -> Result<Option<i64>, WcError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                WcError::invalid_param(key, &format!("{key} is not of type integer."), "rest_invalid_type")
            }),
        }
    }

    /// An ISO 8601 date parameter (`modified_after`), normalised to `YYYY-MM-DDTHH:MM:SS`.
    pub fn date(&self, key: &str) -> Result<Option<String>, WcError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let parsed = chrono::DateTime::parse_from_rfc3339(v)
            .map(|d| d.naive_utc())
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S"));
        match parsed {
            Ok(at) => Ok(Some(at.format("%Y-%m-%dT%H:%M:%S").to_string())),
            Err(_) => Err(WcError::invalid_param(key, "Invalid date.", "rest_invalid_date")),
        }
    }
}

fn decode_component(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_decode(&spaced)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Validated `page` and `per_page` (1..=100, default 10, as in WordPress).
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
    pub offset: u64,
}

impl Paging {
    pub fn from(params: &Params) -> Result<Self, WcError> {
        let per_page = params.integer("per_page")?.unwrap_or(10);
        if !(1..=100).contains(&per_page) {
            let message = "per_page must be between 1 (inclusive) and 100 (inclusive)";
            return Err(WcError::invalid_param("per_page", message, "rest_out_of_bounds"));
        }
        let page = params.integer("page")?.unwrap_or(1);
        if page < 1 {
            return Err(WcError::invalid_param(
                "page",
                "page must be greater than or equal to 1",
                "rest_out_of_bounds",
            ));
        }
        let extra_offset = params.integer("offset")?.unwrap_or(0).max(0);
        let per_page = u32::try_from(per_page).unwrap_or(10);
        let page = u32::try_from(page).unwrap_or(1);
        Ok(Self {
            page,
            per_page,
            offset: u64::from(page - 1) * u64::from(per_page) + u64::try_from(extra_offset).unwrap_or(0),
        })
    }
}

/// Parses a JSON body. An empty body is an empty object; a form body is accepted as WordPress accepts it.
pub fn parse_body(content_type: Option<&str>, raw: &[u8]) -> Result<Map<String, Value>, WcError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if content_type.is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")) {
        let params = Params::parse(std::str::from_utf8(raw).ok());
        return Ok(params.pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
    }
    match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Ok(Map::new()),
        Err(e) => Err(WcError::new(StatusCode::BAD_REQUEST, "rest_invalid_json", "Invalid JSON body passed.")
            .with("json_error_code", json!(4))
            .with("json_error_message", json!(e.to_string()))),
    }
}

/// The current time in WooCommerce's format; the sandbox's site time zone is UTC.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Rounds to the cent, half away from zero, as WooCommerce rounds line totals and taxes.
pub fn round_cents(amount: rust_decimal::Decimal) -> rust_decimal::Decimal {
    amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// A money amount formatted the way WooCommerce sends totals: two decimals.
pub fn money(amount: rust_decimal::Decimal) -> String {
    format!("{:.2}", round_cents(amount))
}

/// Merges an address write into a stored address: only the fields the address has are taken, `null` blanks one,
/// and a number (a postcode sent as 95113) is kept as text, as WordPress stores it.
pub fn merge_address(target: &mut Value, write: Option<&Value>) {
    let Some(write) = write.and_then(Value::as_object) else { return };
    for (key, value) in write {
        if target.get(key).is_some() {
            target[key.as_str()] = match value {
                Value::String(_) => value.clone(),
                Value::Null => Value::String(String::new()),
                other => Value::String(other.to_string()),
            };
        }
    }
}

/// Reads an amount from a write: a string or a number; `""` is none.
pub fn amount(value: Option<&Value>) -> Option<rust_decimal::Decimal> {
    match value? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => cpbridge_woo::de::parse_decimal(s.trim()),
        Value::Number(n) => cpbridge_woo::de::parse_decimal(&n.to_string()),
        _ => None,
    }
}

/// Turns a name into a slug: lower case, ASCII letters and digits, dashes between words.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}
