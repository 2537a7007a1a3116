//! cpbridge's HTTP side: `POST /webhooks/woocommerce`, the status page (`/`, `/status.json`), `/metrics` in
//! Prometheus text format, and the health checks (`/healthz`: the process answers; `/readyz`: the systems it needs
//! answer too).
//!
//! The webhook handler does the least it can before answering: it checks the signature, commits the raw body to
//! the state store's inbox, wakes the intake job, and answers 200. Everything slow (fetching the order, writing to
//! Counterpoint) happens after, so WooCommerce never times out and disables the webhook.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use cpbridge_core::pricing::PriceAnswer;
use cpbridge_core::{CustNo, Sku};
use cpbridge_pipelines::Alerter;
use cpbridge_pipelines::pricing::{PriceService, QuoteError};
use cpbridge_pipelines::status::{self, StatusReport, Unavailable};
use cpbridge_store::{NewDelivery, StateStore};
use cpbridge_woo::Secret;
use cpbridge_woo::webhook::{Delivery, DeliveryError, classify};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Orders with hundreds of lines stay well under this.
const MAX_WEBHOOK_BODY: usize = 8 * 1024 * 1024;

/// Where the status page, `/metrics` and `/readyz` get their answers; the daemon implements it over the state store
/// and Counterpoint.
#[async_trait::async_trait]
pub trait StatusSource: Send + Sync {
    /// The pipeline report, as `cpbridge status --json` prints it; `/metrics` renders the same report.
    async fn report(&self) -> Result<StatusReport, Unavailable>;
    /// `Ok` when every system cpbridge needs answers; else what does not.
    async fn ready(&self) -> Result<(), Unavailable>;
}

/// Counts refused webhook deliveries over the last minute; a burst means a wrong secret or someone probing.
#[derive(Debug)]
pub struct SignatureWatch {
    per_minute: usize,
    refused: std::sync::Mutex<std::collections::VecDeque<std::time::Instant>>,
    /// Refusals not yet written to the state store, and when it was last written (at most every 5 s).
    unwritten: std::sync::Mutex<(u64, Option<std::time::Instant>)>,
}

/// The state store key of the refused deliveries per minute, for `cpbridge doctor` in another process.
pub const REFUSED_DELIVERIES: &str = "webhooks.refused_per_minute";

/// The refusals of the last hour from their stored form `"<unix minute>:<count> ..."`, after adding `count` at
/// `minute`.
pub fn refused_per_minute(stored: &str, minute: i64, count: u64) -> Vec<(i64, u64)> {
    let mut minutes: Vec<(i64, u64)> = stored
        .split_whitespace()
        .filter_map(|entry| {
            let (m, n) = entry.split_once(':')?;
            Some((m.parse().ok()?, n.parse().ok()?))
        })
        .filter(|(m, _)| minute - m < 60)
        .collect();
    if count > 0 {
        match minutes.iter_mut().find(|(m, _)| *m == minute) {
            Some(slot) => slot.1 += count,
            None => minutes.push((minute, count)),
        }
    }
    minutes
}

impl SignatureWatch {
    pub fn new(per_minute: usize) -> Self {
        SignatureWatch {
            per_minute: per_minute.max(1),
            refused: std::sync::Mutex::default(),
            unwritten: std::sync::Mutex::default(),
        }
    }

    /// Counts one refusal for the state store; returns the refusals to write now, if it is time.
    fn to_write(&self) -> Option<u64> {
        let mut unwritten = self.unwritten.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        unwritten.0 += 1;
        let due = unwritten.1.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(5));
        if !due {
            return None;
        }
        let count = unwritten.0;
        *unwritten = (0, Some(std::time::Instant::now()));
        Some(count)
    }

    /// Records one refusal; the count of the last minute when it is a burst.
    fn refused(&self) -> Option<usize> {
        let now = std::time::Instant::now();
        let mut times = self.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        times.push_back(now);
        while times.front().is_some_and(|t| now.duration_since(*t) > std::time::Duration::from_secs(60)) {
            times.pop_front();
        }
        (times.len() >= self.per_minute).then_some(times.len())
    }
}

/// Adds refused deliveries to the state store's per-minute record of the last hour.
async fn record_refusals(store: Arc<dyn StateStore>, count: u64) {
    let now = chrono::Utc::now();
    let stored = store.watermark(REFUSED_DELIVERIES).await.ok().flatten().unwrap_or_default();
    let minutes = refused_per_minute(&stored, now.timestamp() / 60, count);
    let value: Vec<String> = minutes.iter().map(|(m, n)| format!("{m}:{n}")).collect();
    if let Err(e) = store.set_watermark(REFUSED_DELIVERIES, &value.join(" "), now.naive_utc()).await {
        tracing::warn!(error = %e, "refused deliveries not recorded");
    }
}

/// The pricing API's settings and state.
#[derive(Clone)]
pub struct Pricing {
    /// The in-memory price book: a request never waits on the database.
    pub source: Arc<PriceService>,
    /// Accepted API keys; a request must carry one as `Authorization: Bearer <key>`.
    pub keys: Vec<Secret>,
    pub currency: String,
    /// Requests per key per minute; 0 is unlimited.
    pub requests_per_minute: u32,
    pub windows: Arc<std::sync::Mutex<std::collections::HashMap<usize, (std::time::Instant, u32)>>>,
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The pricing API; absent, its routes answer 404.
    pub pricing: Option<Pricing>,
    /// Where a burst of bad signatures is reported (the daemon's alerter); absent, it is only logged.
    pub alerts: Option<Alerter>,
    pub signatures: Arc<SignatureWatch>,
    /// Absent in a server that only takes webhooks (tests); the status routes then answer 404.
    pub status: Option<Arc<dyn StatusSource>>,
    pub store: Arc<dyn StateStore>,
    /// The webhook secret configured in WooCommerce; deliveries signed with anything else are refused.
    pub webhook_secret: Secret,
    /// Woken after a delivery is committed, so intake starts at once.
    pub delivered: Arc<Notify>,
}

/// The HTTP server, bound and ready.
pub struct Server {
    listener: TcpListener,
    router: Router,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn build(addr: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server { listener, router: router(state) })
    }

    /// The bound address.
    ///
    /// # Errors
    /// When the socket cannot say.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    ///
    /// # Errors
    /// When serving fails.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhooks/woocommerce", post(webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status.json", get(status_json))
        .route("/", get(|| async { axum::response::Html(STATUS_PAGE) }))
        .route("/api/v1/prices", post(prices))
        .route("/api/v1/prices/{cust_no}/{sku}", get(one_price))
        .route("/api/v1/customers/by-email", get(customer_by_email))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .with_state(state)
}

/// The status page: one self-contained file (no external asset), refreshing itself from `/status.json`.
const STATUS_PAGE: &str = include_str!("status.html");

fn source(state: &AppState) -> Result<&Arc<dyn StatusSource>, ApiError> {
    state.status.as_ref().ok_or(ApiError::NotHere)
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    source(&state)?.ready().await?;
    Ok("ready")
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = status::metrics(&source(&state)?.report().await?);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

async fn status_json(State(state): State<AppState>) -> Result<axum::Json<StatusReport>, ApiError> {
    Ok(axum::Json(source(&state)?.report().await?))
}

/// Compares without an early exit, so the time taken does not tell how much of a key was right.
fn same_secret(given: &[u8], key: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != key.len());
    for (i, k) in key.iter().enumerate() {
        diff |= k ^ given.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// The pricing API of this server, after the key and the rate limit are checked.
fn authorised<'a>(state: &'a AppState, headers: &HeaderMap) -> Result<&'a Pricing, ApiError> {
    let pricing = state.pricing.as_ref().ok_or(ApiError::NotFound("the pricing API is not configured".into()))?;
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    // Every key is compared in full, whichever matches.
    let matched = pricing.keys.iter().enumerate().fold(None, |found, (i, key)| {
        if same_secret(given.trim().as_bytes(), key.expose().as_bytes()) { Some(i) } else { found }
    });
    let key = matched.ok_or(ApiError::Unauthorized)?;
    if pricing.requests_per_minute > 0 {
        let now = std::time::Instant::now();
        let mut windows = pricing.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = windows.entry(key).or_insert((now, 0));
        if now.duration_since(window.0) >= std::time::Duration::from_secs(60) {
            *window = (now, 0);
        }
        window.1 += 1;
        if window.1 > pricing.requests_per_minute {
            return Err(ApiError::TooMany);
        }
    }
    Ok(pricing)
}

/// `POST /api/v1/prices`: `{"customer": CUST_NO, "items": [{"sku": ..., "qty": ...}]}`.
#[derive(Debug, serde::Deserialize)]
struct PriceRequest {
    customer: CustNo,
    items: Vec<PriceRequestItem>,
}

#[derive(Debug, serde::Deserialize)]
struct PriceRequestItem {
    sku: Sku,
    #[serde(default = "one")]
    qty: rust_decimal::Decimal,
}

fn one() -> rust_decimal::Decimal {
    rust_decimal::Decimal::ONE
}

/// Items per request, at most: a page or a cart, not a catalogue.
const MAX_PRICE_ITEMS: usize = 500;

fn answer(
    pricing: &Pricing,
    customer: &CustNo,
    items: &[(Sku, rust_decimal::Decimal)],
) -> Result<Vec<PriceAnswer>, ApiError> {
    if let Some((sku, qty)) = items.iter().find(|(_, qty)| *qty <= rust_decimal::Decimal::ZERO) {
        return Err(ApiError::BadRequest(format!("item {sku:?}: qty must be above 0, not {qty}")));
    }
    pricing.source.quote(customer, items).map_err(ApiError::from)
}

impl From<Unavailable> for ApiError {
    fn from(e: Unavailable) -> Self {
        ApiError::Unavailable(e.0)
    }
}

impl From<QuoteError> for ApiError {
    fn from(e: QuoteError) -> Self {
        match e {
            QuoteError::UnknownCustomer(c) => ApiError::NotFound(format!("unknown customer {c:?} (no AR_CUST row)")),
            QuoteError::UnknownSku(s) => ApiError::NotFound(format!("unknown SKU {s:?} (no IM_ITEM row)")),
            QuoteError::NotLoaded => ApiError::Loading,
        }
    }
}

async fn prices(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let pricing = authorised(&state, &headers)?;
    let request: PriceRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!("malformed request at line {}, column {}: {e}", e.line(), e.column()))
    })?;
    if request.items.is_empty() || request.items.len() > MAX_PRICE_ITEMS {
        return Err(ApiError::BadRequest(format!("items must hold 1 to {MAX_PRICE_ITEMS} entries")));
    }
    let items: Vec<(Sku, rust_decimal::Decimal)> = request.items.into_iter().map(|i| (i.sku, i.qty)).collect();
    let answers = answer(pricing, &request.customer, &items)?;
    let body = json!({ "customer": request.customer, "currency": pricing.currency, "items": answers });
    Ok(axum::Json(body).into_response())
}

async fn one_price(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path((cust_no, sku)): axum::extract::Path<(CustNo, Sku)>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let pricing = authorised(&state, &headers)?;
    let qty = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("qty="))
        .map(|q| {
            q.parse::<rust_decimal::Decimal>().map_err(|_| ApiError::BadRequest(format!("qty {q:?} is not a number")))
        })
        .transpose()?
        .unwrap_or(rust_decimal::Decimal::ONE);
    let answers = answer(pricing, &cust_no, &[(sku, qty)])?;
    let mut body = answers.into_iter().next().map(|a| json!(a)).unwrap_or_default();
    if let Some(map) = body.as_object_mut() {
        map.insert("customer".into(), json!(cust_no));
        map.insert("currency".into(), json!(pricing.currency));
    }
    Ok(axum::Json(body).into_response())
}

/// `GET /api/v1/customers/by-email?email=...`: the Counterpoint customer number of a web account that carries none
/// (the plugin's fallback), keyed and rate-limited like the prices.
async fn customer_by_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let pricing = authorised(&state, &headers)?;
    let email = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("email="))
        .map(|e| percent_encoding::percent_decode_str(&e.replace('+', " ")).decode_utf8_lossy().into_owned())
        .filter(|e| e.contains('@'))
        .ok_or_else(|| ApiError::BadRequest("email=<address> is required".into()))?;
    match pricing.source.customer_by_email(&email) {
        Ok(Some(cust_no)) => Ok(axum::Json(json!({ "customer": cust_no, "email": email })).into_response()),
        Ok(None) => Err(ApiError::NotFound(format!("no Counterpoint customer has the e-mail address {email:?}"))),
        Err(_) => Err(ApiError::Loading),
    }
}

/// The one error type of the HTTP side: every refusal is JSON with an `error` that says why (a route that is not
/// served here answers a bare 404).
#[derive(Debug)]
enum ApiError {
    /// The pricing API without a valid key.
    Unauthorized,
    NotFound(String),
    BadRequest(String),
    TooMany,
    /// The price book has not finished its first load.
    Loading,
    /// A webhook delivery whose signature or shape is wrong.
    Refused(DeliveryError),
    /// A system the answer needs is down.
    Unavailable(String),
    /// A route this server does not serve (the status routes without a status source).
    NotHere,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({ "error": "a valid API key is required (Authorization: Bearer <key>)" }),
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "error": m })),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({ "error": m })),
            ApiError::TooMany => {
                (StatusCode::TOO_MANY_REQUESTS, json!({ "error": "too many requests for this key; wait a minute" }))
            }
            ApiError::Loading => {
                (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": "the price book is loading; try again shortly" }))
            }
            ApiError::Refused(e) => {
                tracing::warn!("webhook refused: {e}");
                (StatusCode::UNAUTHORIZED, json!({ "error": e.to_string() }))
            }
            ApiError::Unavailable(detail) => {
                // WooCommerce retries a delivery that was not answered 2xx; nothing is lost. The detail can name
                // a database host, so it stays in the log.
                tracing::error!("unavailable: {detail}");
                (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": "not ready", "detail": summary(&detail) }))
            }
            ApiError::NotHere => return StatusCode::NOT_FOUND.into_response(),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// The first clause of an error, without addresses or credentials that may follow it.
fn summary(detail: &str) -> String {
    detail.split([':', '(']).next().unwrap_or_default().trim().chars().take(120).collect()
}

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    let delivery = match classify(&headers, &body, state.webhook_secret.expose()) {
        Ok(delivery) => delivery,
        Err(refused) => {
            if let Some(count) = state.signatures.to_write() {
                tokio::spawn(record_refusals(state.store.clone(), count));
            }
            if let Some(count) = state.signatures.refused()
                && let Some(sink) = state.alerts.clone()
            {
                let refused = refused.to_string();
                tokio::spawn(async move {
                    let message = format!(
                        "{count} webhook deliveries refused in the last minute ({refused}). Check that the webhook \
                         secret in WooCommerce matches woocommerce.webhook_secret, or look for someone probing the \
                         endpoint."
                    );
                    sink.raise("webhook_signatures", "POST /webhooks/woocommerce", &message).await;
                });
            }
            return Err(ApiError::Refused(refused));
        }
    };
    let (topic, webhook_id, delivery_id) = match delivery {
        Delivery::Ping { webhook_id } => {
            tracing::info!(webhook_id, "webhook ping answered");
            return Ok(StatusCode::OK);
        }
        Delivery::Event { topic, webhook_id, delivery_id } => (topic, webhook_id, delivery_id),
    };
    let resource_id =
        serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v.get("id").and_then(|id| id.as_i64()));
    let entry = NewDelivery {
        topic,
        webhook_id,
        delivery_id,
        resource_id,
        body: body.to_vec(),
        received_at: Utc::now().naive_utc(),
    };
    state.store.put_delivery(&entry).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    state.delivered.notify_one();
    Ok(StatusCode::OK)
}
