//! A WooCommerce-compatible `wc/v3` server for cpbridge's demo and tests, as stripe-mock is for Stripe.
//!
//! It answers with the shapes, status codes, error codes and pagination headers of a real WooCommerce 11 store,
//! keeps WooCommerce's rules (unique SKUs, `per_page` 1..=100, 100 items per batch, stock status) and its side
//! effects (a paid order reduces stock, a cancelled one restores it), authenticates like WooCommerce (Basic only
//! over TLS, OAuth 1.0a over plain HTTP), sends signed webhooks, persists in SQLite, and injects faults on demand.
//!
//! Besides the WooCommerce routes it serves a small control API under `/__sandbox/` (no auth; bind it to
//! loopback): `GET|PUT /__sandbox/faults`, `POST /__sandbox/faults/next`, `GET /__sandbox/stats`,
//! `GET /__sandbox/deliveries`, `GET /__sandbox/customers/{id}` (as stored, protected meta included), and
//! `PATCH /__sandbox/orders/{id}` (edits the stored order with no validation, as a plugin writing post meta can, and
//! sends `order.updated`: how tests make the odd orders that real stores hold).

mod control;
mod routes;

use control::*;
use routes::*;

pub mod categories;
pub mod customers;
pub mod faults;
pub mod orders;
pub mod products;
pub mod store;
pub mod webhooks;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cpbridge_woo::auth::{self, Credentials};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use faults::{FaultConfig, FaultKind};
use orders::TaxSetup;
use store::{Doc, Kind, Store};
use webhooks::{Event, EventSender};
use wire::{Paging, Params, Site, WcError, WcResult, respond, respond_page};

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub listen: SocketAddr,
    pub credentials: Credentials,
    /// Act as a store behind a TLS-terminating proxy: Basic auth is accepted over plain HTTP, OAuth is not.
    pub behind_tls: bool,
    /// Where `sandbox.db` lives; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    pub faults: FaultConfig,
    /// Tax rate in percent applied to taxable lines and shipping; 0 turns taxes off.
    pub tax_rate_percent: rust_decimal::Decimal,
}

impl SandboxConfig {
    /// A loopback sandbox on an ephemeral port with the given keys, in memory, without faults or taxes.
    #[must_use]
    pub fn local(credentials: Credentials) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            credentials,
            behind_tls: false,
            data_dir: None,
            faults: FaultConfig::default(),
            tax_rate_percent: rust_decimal::Decimal::ZERO,
        }
    }
}

/// A fresh REST key pair in WooCommerce's format (`ck_` and `cs_` with 40 hex digits).
#[must_use]
pub fn generate_credentials() -> Credentials {
    let hex = || std::iter::repeat_with(|| fastrand::digit(16)).take(40).collect::<String>();
    Credentials::new(format!("ck_{}", hex()), format!("cs_{}", hex()))
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("sandbox server: {0}")]
    Serve(std::io::Error),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
}

struct App {
    store: Arc<Store>,
    credentials: Credentials,
    behind_tls: bool,
    tax: TaxSetup,
    faults: faults::Faults,
    events: EventSender,
    stats: Mutex<BTreeMap<String, u64>>,
    /// OAuth nonces seen in the last 15 minutes, by nonce, with their timestamps.
    nonces: Mutex<HashMap<String, i64>>,
}

/// A built sandbox, bound to its port and ready to serve.
pub struct Sandbox {
    listener: TcpListener,
    router: Router,
    app: Arc<App>,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Sandbox {
    /// Opens the store and binds the listener.
    ///
    /// # Errors
    /// When the data directory or the database cannot be opened, or the address cannot be bound.
    pub async fn build(config: SandboxConfig) -> Result<Self, SandboxError> {
        if let Some(dir) = &config.data_dir {
            std::fs::create_dir_all(dir).map_err(|source| SandboxError::DataDir { path: dir.clone(), source })?;
        }
        let store = Arc::new(Store::open(config.data_dir.as_deref()).await?);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| SandboxError::Bind { addr: config.listen, source })?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let tax = TaxSetup { rate_percent: config.tax_rate_percent, ..TaxSetup::default() };
        let app = Arc::new(App {
            store,
            credentials: config.credentials,
            behind_tls: config.behind_tls,
            tax,
            faults: faults::Faults::new(config.faults),
            events: events_tx,
            stats: Mutex::new(BTreeMap::new()),
            nonces: Mutex::new(HashMap::new()),
        });
        let router = Router::new()
            .route("/__sandbox/faults", get(get_faults).put(put_faults))
            .route("/__sandbox/faults/next", post(queue_faults))
            .route("/__sandbox/stats", get(get_stats))
            .route("/__sandbox/deliveries", get(get_deliveries))
            .route("/__sandbox/customers/{id}", get(get_raw_customer))
            .route("/__sandbox/orders/{id}", axum::routing::patch(patch_raw_order))
            .fallback(api)
            .with_state(app.clone());
        Ok(Self { listener, router, app, events })
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// Serves until `shutdown` completes, delivering webhooks meanwhile.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), SandboxError> {
        let site = Site { base: format!("http://127.0.0.1:{}", self.port()) };
        let worker = tokio::spawn(webhooks::deliver(self.app.store.clone(), site, self.events));
        let served = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await;
        worker.abort();
        served.map_err(SandboxError::Serve)
    }
}

// ---- the WooCommerce API ----

const API_PREFIX: &str = "/wp-json/wc/v3/";

/// The route's shape for statistics: numeric segments become `{id}`.
fn route_shape(method: &Method, segments: &[&str]) -> String {
    let shape: Vec<&str> = segments.iter().map(|s| if s.parse::<u64>().is_ok() { "{id}" } else { s }).collect();
    format!("{method} /{}", shape.join("/"))
}

async fn api(State(app): State<Arc<App>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let index = uri.path() == API_PREFIX.trim_end_matches('/');
    let Some(rest) = uri.path().strip_prefix(API_PREFIX).or(index.then_some("")) else {
        return WcError::no_route().into_response();
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() && method == Method::GET {
        // The namespace index WordPress serves without authentication: its namespace and routes (abridged here).
        let index = serde_json::json!({ "namespace": "wc/v3", "routes": {} });
        return (http::StatusCode::OK, Json(index)).into_response();
    }
    if let Ok(mut stats) = app.stats.lock() {
        *stats.entry(route_shape(&method, &segments)).or_default() += 1;
    }
    let fault = app.faults.draw().await;
    if let Some(fault) = fault.filter(|f| *f != FaultKind::LostReply) {
        return faults::respond(fault);
    }
    let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let scheme = if app.behind_tls { "https" } else { "http" };
    let site = Site { base: format!("{scheme}://{host}") };
    let params = Params::parse(uri.query());
    if let Err(error) = authenticate(&app, &method, &site, uri.path(), &headers, &params, &segments) {
        return error.into_response();
    }
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let result = match wire::parse_body(content_type, &body) {
        Ok(body) => dispatch(&app, &method, &segments, &site, &params, body).await,
        Err(error) => Err(error),
    };
    match fault {
        Some(lost) => faults::respond(lost),
        None => result.unwrap_or_else(IntoResponse::into_response),
    }
}

fn authenticate(
    app: &App,
    method: &Method,
    site: &Site,
    path: &str,
    headers: &HeaderMap,
    params: &Params,
    segments: &[&str],
) -> Result<(), WcError> {
    let auth_error =
        |message: &str| WcError::new(StatusCode::UNAUTHORIZED, "woocommerce_rest_authentication_error", message);
    if app.behind_tls {
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(auth::parse_basic_header)
            .or_else(|| Some((params.get("consumer_key")?.to_owned(), params.get("consumer_secret")?.to_owned())));
        if let Some((key, secret)) = presented {
            if key != app.credentials.consumer_key {
                return Err(auth_error("Consumer key is invalid."));
            }
            if !app.credentials.matches(&key, &secret) {
                return Err(auth_error("Consumer secret is invalid."));
            }
            return Ok(());
        }
    } else if let Some(signed) = oauth_request_params(headers, params) {
        let url = format!("{}{}", site.base, path);
        auth::verify_oauth(method.as_str(), &url, &signed.pairs, &app.credentials).map_err(auth_error)?;
        let params = &signed;
        let timestamp: i64 = params.get("oauth_timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
        let now = chrono::Utc::now().timestamp();
        if (now - timestamp).abs() > 15 * 60 {
            return Err(auth_error("Invalid timestamp."));
        }
        let nonce = params.get("oauth_nonce").unwrap_or_default().to_owned();
        let mut nonces = app.nonces.lock().map_err(|_| auth_error("Invalid nonce - nonce has already been used."))?;
        nonces.retain(|_, at| now - *at <= 15 * 60);
        if nonces.insert(nonce, timestamp).is_some() {
            return Err(auth_error("Invalid nonce - nonce has already been used."));
        }
        return Ok(());
    }
    Err(unauthenticated(method, segments))
}

/// The parameters an OAuth request is signed over: the query, plus those of an `Authorization: OAuth` header,
/// which WooCommerce reads too. `None` when the request carries no OAuth consumer key at all.
fn oauth_request_params(headers: &HeaderMap, params: &Params) -> Option<Params> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("OAuth "))
        .map(|list| {
            list.split(',')
                .filter_map(|pair| pair.trim().split_once('='))
                .filter(|(k, _)| k.starts_with("oauth_"))
                .map(|(k, v)| format!("{}={}", k, v.trim_matches('"')))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    let query: Vec<String> =
        params.pairs.iter().map(|(k, v)| format!("{}={}", auth::rfc3986(k), auth::rfc3986(v))).collect();
    let mut raw = query.join("&");
    if !header.is_empty() {
        if !raw.is_empty() {
            raw.push('&');
        }
        raw.push_str(&header);
    }
    let combined = Params::parse(Some(&raw));
    combined.get("oauth_consumer_key").is_some().then_some(combined)
}

/// What WooCommerce answers a request without usable credentials: its permission check fails.
fn unauthenticated(method: &Method, segments: &[&str]) -> WcError {
    let on_item = segments.last().is_some_and(|s| s.parse::<u64>().is_ok());
    let (code, message) = if segments.last() == Some(&"batch") {
        ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource.")
    } else {
        match (method.as_str(), on_item) {
            ("GET", false) => ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
            ("GET", true) => ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
            ("POST", false) => ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
            ("DELETE", _) => ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
            _ => ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
        }
    };
    WcError::new(StatusCode::UNAUTHORIZED, code, message)
}

fn id_of(segment: &str) -> Result<u64, WcError> {
    segment.parse().map_err(|_| WcError::no_route())
}

fn is_write(method: &Method) -> bool {
    matches!(method.as_str(), "POST" | "PUT" | "PATCH")
}

async fn dispatch(
    app: &App,
    method: &Method,
    segments: &[&str],
    site: &Site,
    params: &Params,
    body: Map<String, Value>,
) -> WcResult {
    let mut conn = app.store.lock().await;
    let mut tx = store::begin(&mut conn).await?;
    let mut events: Vec<Event> = Vec::new();
    let response = route(app, &mut tx, method, segments, site, params, &body, &mut events).await?;
    tx.commit().await.map_err(store::StoreError::from)?;
    drop(conn);
    for event in events {
        let _ = app.events.send(event);
    }
    Ok(response)
}
