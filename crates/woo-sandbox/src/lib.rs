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

// ---- control API ----

async fn get_faults(State(app): State<Arc<App>>) -> Json<FaultConfig> {
    Json(app.faults.config())
}

async fn put_faults(State(app): State<Arc<App>>, Json(config): Json<FaultConfig>) -> Json<FaultConfig> {
    app.faults.set(config);
    Json(app.faults.config())
}

async fn queue_faults(State(app): State<Arc<App>>, Json(kinds): Json<Vec<FaultKind>>) -> StatusCode {
    app.faults.queue(kinds);
    StatusCode::NO_CONTENT
}

async fn get_stats(State(app): State<Arc<App>>) -> Json<Value> {
    let requests = app.stats.lock().map(|s| s.clone()).unwrap_or_default();
    Json(json!({ "requests": requests, "faults": app.faults.injected() }))
}

async fn get_deliveries(State(app): State<Arc<App>>) -> Response {
    let mut conn = app.store.lock().await;
    match store::deliveries(&mut conn).await {
        Ok(list) => Json(Value::Array(list)).into_response(),
        Err(error) => WcError::from(error).into_response(),
    }
}

/// A customer as stored, with the protected (`_`-prefixed) meta that WooCommerce keeps out of its API: what a
/// WordPress plugin reading user meta would see.
async fn get_raw_customer(State(app): State<Arc<App>>, axum::extract::Path(id): axum::extract::Path<u64>) -> Response {
    let mut conn = app.store.lock().await;
    match store::get(&mut conn, Kind::Customer, id).await {
        Ok(Some(doc)) => Json(doc.body).into_response(),
        Ok(None) => customers::invalid_id().into_response(),
        Err(error) => WcError::from(error).into_response(),
    }
}

/// One edit of a stored order: set the value at a JSON pointer, or remove it.
#[derive(Debug, serde::Deserialize)]
struct RawEdit {
    path: String,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    remove: bool,
}

/// Edits an order as stored, skipping every rule the REST API keeps (a quantity of 1.5, a missing billing block,
/// totals that do not add up), then sends `order.updated` like any change.
async fn patch_raw_order(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<u64>,
    Json(edits): Json<Vec<RawEdit>>,
) -> Response {
    let mut conn = app.store.lock().await;
    let mut doc = match store::get(&mut conn, Kind::Order, id).await {
        Ok(Some(doc)) => doc,
        Ok(None) => return orders::invalid_id().into_response(),
        Err(error) => return WcError::from(error).into_response(),
    };
    for edit in edits {
        let bad = |why: &str| {
            WcError::invalid_param("path", &format!("{}: {why}", edit.path), "rest_invalid_param").into_response()
        };
        let Some((parent, key)) = edit.path.rsplit_once('/') else { return bad("not a JSON pointer") };
        let key = key.replace("~1", "/").replace("~0", "~");
        let Some(target) = doc.body.pointer_mut(parent) else { return bad("no such place in the order") };
        match (target, edit.remove) {
            (Value::Object(map), true) => {
                map.remove(&key);
            }
            (Value::Object(map), false) => {
                map.insert(key, edit.value);
            }
            (Value::Array(list), remove) => match key.parse::<usize>() {
                Ok(i) if i < list.len() && remove => {
                    list.remove(i);
                }
                Ok(i) if i < list.len() => list[i] = edit.value,
                Ok(i) if i == list.len() && !remove => list.push(edit.value),
                _ => return bad("no such index"),
            },
            _ => return bad("the parent is neither an object nor an array"),
        }
    }
    match store::save(&mut conn, &doc).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return orders::invalid_id().into_response(),
        Err(error) => return WcError::from(error).into_response(),
    }
    drop(conn);
    let _ = app.events.send(Event::Changed { topic: "order.updated", kind: Kind::Order, id });
    Json(doc.body).into_response()
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

#[allow(clippy::too_many_arguments)]
async fn route(
    app: &App,
    conn: &mut sqlx::SqliteConnection,
    method: &Method,
    segments: &[&str],
    site: &Site,
    params: &Params,
    body: &Map<String, Value>,
    events: &mut Vec<Event>,
) -> WcResult {
    let m = method.as_str();
    match segments {
        ["products"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let query = products::list_query(params, &paging, None)?;
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs.iter().map(|d| products::render(site, d, false)).collect();
            Ok(respond_page(site, "/products", params, &paging, total, items))
        }
        ["products"] if m == "POST" => {
            let doc = products::create(conn, Kind::Product, None, body).await?;
            events.push(Event::Changed { topic: "product.created", kind: Kind::Product, id: doc.id });
            Ok(respond(site, StatusCode::CREATED, "GET, POST", products::render(site, &doc, true)))
        }
        ["products", "batch"] if is_write(method) => product_batch(conn, site, None, body, events).await,
        ["products", "categories"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let mut all = categories::all(conn).await?;
            if let Some(slug) = params.get("slug") {
                all.retain(|d| d.body["slug"].as_str() == Some(slug));
            }
            if let Some(search) = params.get("search").map(str::to_lowercase) {
                all.retain(|d| d.body["name"].as_str().is_some_and(|n| n.to_lowercase().contains(&search)));
            }
            if let Some(parent) = params.integer("parent")? {
                all.retain(|d| d.body["parent"].as_i64() == Some(parent));
            }
            let total = all.len() as u64;
            let start = usize::try_from(paging.offset).unwrap_or(usize::MAX);
            let items =
                all.iter().skip(start).take(paging.per_page as usize).map(|d| categories::render(site, d)).collect();
            Ok(respond_page(site, "/products/categories", params, &paging, total, items))
        }
        ["products", "categories"] if m == "POST" => {
            let doc = categories::create(conn, body).await?;
            Ok(respond(site, StatusCode::CREATED, "GET, POST", categories::render(site, &doc)))
        }
        ["products", "categories", id] => {
            let id = id_of(id)?;
            let Some(mut doc) = store::get(conn, Kind::Category, id).await? else {
                return Err(categories::invalid_id());
            };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, categories::render(site, &doc))),
                "POST" | "PUT" | "PATCH" => {
                    categories::update(&mut doc, body);
                    if store::save(conn, &doc).await?.is_err() {
                        return Err(categories::invalid_id());
                    }
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, categories::render(site, &doc)))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["products", id] => {
            let id = id_of(id)?;
            let found = store::get(conn, Kind::Product, id).await?;
            let Some(mut doc) = found else { return Err(products::invalid_id(Kind::Product, StatusCode::NOT_FOUND)) };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, products::render(site, &doc, false))),
                "POST" | "PUT" | "PATCH" => {
                    products::update(conn, &mut doc, body).await?;
                    events.push(Event::Changed { topic: "product.updated", kind: Kind::Product, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, products::render(site, &doc, true)))
                }
                "DELETE" => {
                    let rendered = products::render(site, &doc, true);
                    if params.flag("force") {
                        products::remove(conn, &doc).await?;
                    } else {
                        doc.body["status"] = json!("trash");
                        products::save_checked(conn, &doc).await?;
                    }
                    events.push(Event::Changed { topic: "product.deleted", kind: Kind::Product, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["products", parent, "variations", rest @ ..] => {
            let parent_id = id_of(parent)?;
            let Some(parent) = store::get(conn, Kind::Product, parent_id).await? else {
                return Err(products::invalid_id(Kind::Product, StatusCode::NOT_FOUND));
            };
            variation_route(conn, method, rest, site, params, body, &parent, events).await
        }
        ["customers"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let role = params.get("role").unwrap_or("customer");
            let order_by = match params.get("orderby").unwrap_or("name") {
                "name" => "title",
                "registered_date" => "created",
                _ => "id",
            };
            let query = store::Query {
                kinds: vec![Kind::Customer],
                email: params.get("email").map(str::to_owned),
                statuses: Vec::new(),
                search: params.get("search").map(str::to_owned),
                ids: params.list("include").iter().filter_map(|s| s.parse().ok()).collect(),
                order_by,
                descending: params.get("order") == Some("desc"),
                limit: paging.per_page,
                offset: paging.offset,
                ..store::Query::default()
            };
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs
                .iter()
                .filter(|d| role == "all" || d.body["role"].as_str() == Some(role))
                .map(|d| customers::render(site, d))
                .collect();
            Ok(respond_page(site, "/customers", params, &paging, total, items))
        }
        ["customers", "batch"] if is_write(method) => customer_batch(conn, site, body, events).await,
        ["customers"] if m == "POST" => {
            let doc = customers::create(conn, body).await?;
            events.push(Event::Changed { topic: "customer.created", kind: Kind::Customer, id: doc.id });
            Ok(respond(site, StatusCode::CREATED, "GET, POST", customers::render(site, &doc)))
        }
        ["customers", id] => {
            let id = id_of(id)?;
            let Some(mut doc) = store::get(conn, Kind::Customer, id).await? else {
                return Err(customers::invalid_id());
            };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, customers::render(site, &doc))),
                "POST" | "PUT" | "PATCH" => {
                    customers::update(conn, &mut doc, body).await?;
                    events.push(Event::Changed { topic: "customer.updated", kind: Kind::Customer, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, customers::render(site, &doc)))
                }
                "DELETE" => {
                    let rendered = customers::render(site, &doc);
                    store::delete(conn, Kind::Customer, id).await?;
                    events.push(Event::Changed { topic: "customer.deleted", kind: Kind::Customer, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["orders"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let statuses = params.list("status");
            for status in &statuses {
                if status != "any" && !orders::STATUSES.contains(&status.as_str()) && status != "trash" {
                    let message = "status[0] is not one of any, trash, auto-draft, pending, processing, on-hold, \
                                   completed, cancelled, refunded, failed, and checkout-draft.";
                    return Err(WcError::invalid_param("status", message, "rest_not_in_enum"));
                }
            }
            let statuses: Vec<String> = statuses.into_iter().filter(|s| s != "any").collect();
            let order_by = match params.get("orderby").unwrap_or("date") {
                "date" => "created",
                "modified" => "modified",
                "title" | "slug" => "title",
                _ => "id",
            };
            let query = store::Query {
                kinds: vec![Kind::Order],
                exclude_status: if statuses.is_empty() { Some("trash".into()) } else { None },
                statuses,
                modified_after: params.date("modified_after")?,
                modified_before: params.date("modified_before")?,
                created_after: params.date("after")?,
                ids: params.list("include").iter().filter_map(|s| s.parse().ok()).collect(),
                search: params.get("search").map(str::to_owned),
                order_by,
                descending: params.get("order").unwrap_or("desc") == "desc",
                limit: paging.per_page,
                offset: paging.offset,
                ..store::Query::default()
            };
            let customer = params.integer("customer")?;
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs
                .iter()
                .filter(|d| customer.is_none_or(|c| d.body["customer_id"].as_i64() == Some(c)))
                .map(|d| orders::render(site, d))
                .collect();
            Ok(respond_page(site, "/orders", params, &paging, total, items))
        }
        ["orders"] if m == "POST" => {
            let doc = orders::create(conn, body, &app.tax).await?;
            events.push(Event::Changed { topic: "order.created", kind: Kind::Order, id: doc.id });
            Ok(respond(site, StatusCode::CREATED, "GET, POST", orders::render(site, &doc)))
        }
        ["orders", id] => {
            let id = id_of(id)?;
            let Some(mut doc) = store::get(conn, Kind::Order, id).await? else { return Err(orders::invalid_id()) };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, orders::render(site, &doc))),
                "POST" | "PUT" | "PATCH" => {
                    orders::update(conn, &mut doc, body).await?;
                    events.push(Event::Changed { topic: "order.updated", kind: Kind::Order, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, orders::render(site, &doc)))
                }
                "DELETE" => {
                    let rendered = orders::render(site, &doc);
                    if params.flag("force") {
                        store::delete(conn, Kind::Order, id).await?;
                    } else {
                        orders::transition(conn, &mut doc, "trash").await?;
                    }
                    events.push(Event::Changed { topic: "order.deleted", kind: Kind::Order, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["orders", id, "notes", rest @ ..] => {
            let order_id = id_of(id)?;
            if store::get(conn, Kind::Order, order_id).await?.is_none() {
                return Err(orders::invalid_id());
            }
            match (m, rest) {
                ("GET", []) => {
                    let notes = orders::notes(conn, order_id).await?;
                    let items: Vec<Value> = notes.iter().map(|n| orders::render_note(site, n)).collect();
                    Ok(respond(site, StatusCode::OK, "GET, POST", Value::Array(items)))
                }
                ("POST", []) => {
                    let text =
                        body.get("note").and_then(Value::as_str).ok_or_else(|| WcError::missing_param("note"))?;
                    let customer_note = products::bool_param(body, "customer_note")?.unwrap_or(false);
                    let author =
                        if products::bool_param(body, "added_by_user")?.unwrap_or(false) { "admin" } else { "system" };
                    let note = orders::add_note(conn, order_id, text, customer_note, author).await?;
                    Ok(respond(site, StatusCode::CREATED, "GET, POST", orders::render_note(site, &note)))
                }
                ("GET" | "DELETE", [note_id]) => {
                    let note_id = id_of(note_id)?;
                    let note = store::get(conn, Kind::Note, note_id).await?.filter(|n| n.parent_id == order_id);
                    let Some(note) = note else {
                        return Err(WcError::new(
                            StatusCode::NOT_FOUND,
                            "woocommerce_rest_order_invalid_id",
                            "Invalid resource ID.",
                        ));
                    };
                    let rendered = orders::render_note(site, &note);
                    if m == "DELETE" {
                        store::delete(conn, Kind::Note, note_id).await?;
                    }
                    Ok(respond(site, StatusCode::OK, "GET, DELETE", rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["orders", id, "refunds", rest @ ..] => {
            let order_id = id_of(id)?;
            let Some(mut order) = store::get(conn, Kind::Order, order_id).await? else {
                return Err(orders::invalid_id());
            };
            match (m, rest) {
                ("GET", []) => {
                    let refunds = store::children(conn, Kind::Refund, order_id).await?;
                    let items: Vec<Value> = refunds.iter().rev().map(|r| orders::render_refund(site, r)).collect();
                    Ok(respond(site, StatusCode::OK, "GET, POST", Value::Array(items)))
                }
                ("POST", []) => {
                    let refund = orders::refund(conn, &mut order, body).await?;
                    events.push(Event::Changed { topic: "order.updated", kind: Kind::Order, id: order_id });
                    Ok(respond(site, StatusCode::CREATED, "GET, POST", orders::render_refund(site, &refund)))
                }
                _ => Err(WcError::no_route()),
            }
        }
        ["coupons"] if m == "POST" => {
            let doc = orders::create_coupon(conn, body).await?;
            Ok(respond(site, StatusCode::CREATED, "GET, POST", doc.body))
        }
        ["coupons"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let query = store::Query {
                kinds: vec![Kind::Coupon],
                order_by: "id",
                limit: paging.per_page,
                offset: paging.offset,
                ..store::Query::default()
            };
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs.into_iter().map(|d| d.body).collect();
            Ok(respond_page(site, "/coupons", params, &paging, total, items))
        }
        ["webhooks"] if m == "GET" => {
            let paging = Paging::from(params)?;
            let query = store::Query {
                kinds: vec![Kind::Webhook],
                order_by: "id",
                limit: paging.per_page,
                offset: paging.offset,
                ..store::Query::default()
            };
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs.iter().map(|d| webhooks::render(site, d)).collect();
            Ok(respond_page(site, "/webhooks", params, &paging, total, items))
        }
        ["webhooks"] if m == "POST" => {
            let doc = webhooks::create(conn, body).await?;
            if doc.body["status"] == json!("active") {
                events.push(Event::Ping { webhook_id: doc.id });
            }
            Ok(respond(site, StatusCode::CREATED, "GET, POST", webhooks::render(site, &doc)))
        }
        ["webhooks", id] => {
            let id = id_of(id)?;
            let Some(mut doc) = store::get(conn, Kind::Webhook, id).await? else { return Err(webhooks::invalid_id()) };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, webhooks::render(site, &doc))),
                "POST" | "PUT" | "PATCH" => {
                    webhooks::update(conn, &mut doc, body).await?;
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, webhooks::render(site, &doc)))
                }
                "DELETE" => {
                    let rendered = webhooks::render(site, &doc);
                    store::delete(conn, Kind::Webhook, id).await?;
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        _ => Err(WcError::no_route()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn variation_route(
    conn: &mut sqlx::SqliteConnection,
    method: &Method,
    rest: &[&str],
    site: &Site,
    params: &Params,
    body: &Map<String, Value>,
    parent: &Doc,
    events: &mut Vec<Event>,
) -> WcResult {
    let m = method.as_str();
    match rest {
        [] if m == "GET" => {
            let paging = Paging::from(params)?;
            let query = products::list_query(params, &paging, Some(parent.id))?;
            let (total, docs) = store::list(conn, &query).await?;
            let items = docs.iter().map(|d| products::render(site, d, false)).collect();
            Ok(respond_page(site, &format!("/products/{}/variations", parent.id), params, &paging, total, items))
        }
        [] if m == "POST" => {
            let doc = products::create(conn, Kind::Variation, Some(parent), body).await?;
            events.push(Event::Changed { topic: "product.created", kind: Kind::Variation, id: doc.id });
            Ok(respond(site, StatusCode::CREATED, "GET, POST", products::render(site, &doc, false)))
        }
        ["batch"] if is_write(method) => product_batch(conn, site, Some(parent), body, events).await,
        [id] => {
            let id = id_of(id)?;
            let found = store::get(conn, Kind::Variation, id).await?.filter(|v| v.parent_id == parent.id);
            let Some(mut doc) = found else { return Err(products::invalid_id(Kind::Variation, StatusCode::NOT_FOUND)) };
            match m {
                "GET" => Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, products::render(site, &doc, false))),
                "POST" | "PUT" | "PATCH" => {
                    products::update(conn, &mut doc, body).await?;
                    events.push(Event::Changed { topic: "product.updated", kind: Kind::Variation, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, products::render(site, &doc, false)))
                }
                "DELETE" => {
                    let rendered = products::render(site, &doc, false);
                    products::remove(conn, &doc).await?;
                    events.push(Event::Changed { topic: "product.deleted", kind: Kind::Variation, id });
                    Ok(respond(site, StatusCode::OK, wire::ITEM_ALLOW, rendered))
                }
                _ => Err(WcError::no_route()),
            }
        }
        _ => Err(WcError::no_route()),
    }
}

/// WooCommerce's limit on the items of one batch request, across create, update and delete.
fn batch_limit(items: usize) -> Result<(), WcError> {
    if items > 100 {
        return Err(WcError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "woocommerce_rest_request_entity_too_large",
            "Unable to accept more than 100 items for this request.",
        ));
    }
    Ok(())
}

/// `POST /customers/batch`: each item succeeds or fails on its own, inside one 200 answer.
async fn customer_batch(
    conn: &mut sqlx::SqliteConnection,
    site: &Site,
    body: &Map<String, Value>,
    events: &mut Vec<Event>,
) -> WcResult {
    let list = |key: &str| body.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let (creates, updates, deletes) = (list("create"), list("update"), list("delete"));
    batch_limit(creates.len() + updates.len() + deletes.len())?;
    let item_error = |id: u64, error: &WcError| json!({ "id": id, "error": error.body() });
    let mut out = Map::new();
    if !creates.is_empty() {
        let mut results = Vec::new();
        for item in creates {
            let fields = item.as_object().cloned().unwrap_or_default();
            match customers::create(conn, &fields).await {
                Ok(doc) => {
                    events.push(Event::Changed { topic: "customer.created", kind: Kind::Customer, id: doc.id });
                    results.push(customers::render(site, &doc));
                }
                Err(error) => results.push(item_error(0, &error)),
            }
        }
        out.insert("create".into(), Value::Array(results));
    }
    if !updates.is_empty() {
        let mut results = Vec::new();
        for item in updates {
            let fields = item.as_object().cloned().unwrap_or_default();
            let id = fields.get("id").and_then(Value::as_u64).unwrap_or(0);
            let Some(mut doc) = store::get(conn, Kind::Customer, id).await? else {
                results.push(item_error(id, &customers::invalid_id()));
                continue;
            };
            match customers::update(conn, &mut doc, &fields).await {
                Ok(()) => {
                    events.push(Event::Changed { topic: "customer.updated", kind: Kind::Customer, id });
                    results.push(customers::render(site, &doc));
                }
                Err(error) => results.push(item_error(id, &error)),
            }
        }
        out.insert("update".into(), Value::Array(results));
    }
    if !deletes.is_empty() {
        let mut results = Vec::new();
        for item in deletes {
            let id = item.as_u64().unwrap_or(0);
            let Some(doc) = store::get(conn, Kind::Customer, id).await? else {
                results.push(item_error(id, &customers::invalid_id()));
                continue;
            };
            results.push(customers::render(site, &doc));
            store::delete(conn, Kind::Customer, id).await?;
            events.push(Event::Changed { topic: "customer.deleted", kind: Kind::Customer, id });
        }
        out.insert("delete".into(), Value::Array(results));
    }
    Ok(respond(site, StatusCode::OK, "POST, PUT, PATCH", Value::Object(out)))
}

/// `POST /products/batch` and `POST /products/{id}/variations/batch`: each item succeeds or fails on its own,
/// inside one 200 answer.
async fn product_batch(
    conn: &mut sqlx::SqliteConnection,
    site: &Site,
    parent: Option<&Doc>,
    body: &Map<String, Value>,
    events: &mut Vec<Event>,
) -> WcResult {
    let list = |key: &str| body.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let (creates, updates, deletes) = (list("create"), list("update"), list("delete"));
    batch_limit(creates.len() + updates.len() + deletes.len())?;
    let kind = if parent.is_some() { Kind::Variation } else { Kind::Product };
    let editing = parent.is_none();
    let item_error = |id: u64, error: &WcError| json!({ "id": id, "error": error.body() });
    let mut out = Map::new();
    if !creates.is_empty() {
        let mut results = Vec::new();
        for item in creates {
            let fields = item.as_object().cloned().unwrap_or_default();
            // Re-read the parent each time: every created variation is added to its list.
            let current_parent = match parent {
                Some(p) => store::get(conn, Kind::Product, p.id).await?,
                None => None,
            };
            match products::create(conn, kind, current_parent.as_ref(), &fields).await {
                Ok(doc) => {
                    events.push(Event::Changed { topic: "product.created", kind, id: doc.id });
                    results.push(products::render(site, &doc, editing));
                }
                Err(error) => results.push(item_error(0, &error)),
            }
        }
        out.insert("create".into(), Value::Array(results));
    }
    if !updates.is_empty() {
        let mut results = Vec::new();
        for item in updates {
            let fields = item.as_object().cloned().unwrap_or_default();
            let id = fields.get("id").and_then(Value::as_u64).unwrap_or(0);
            let found = store::get(conn, kind, id).await?.filter(|d| parent.is_none_or(|p| d.parent_id == p.id));
            let Some(mut doc) = found else {
                results.push(item_error(id, &products::invalid_id(kind, StatusCode::BAD_REQUEST)));
                continue;
            };
            match products::update(conn, &mut doc, &fields).await {
                Ok(()) => {
                    events.push(Event::Changed { topic: "product.updated", kind, id });
                    results.push(products::render(site, &doc, editing));
                }
                Err(error) => results.push(item_error(id, &error)),
            }
        }
        out.insert("update".into(), Value::Array(results));
    }
    if !deletes.is_empty() {
        let mut results = Vec::new();
        for item in deletes {
            let id = item.as_u64().or_else(|| item.get("id").and_then(Value::as_u64)).unwrap_or(0);
            let found = store::get(conn, kind, id).await?.filter(|d| parent.is_none_or(|p| d.parent_id == p.id));
            let Some(doc) = found else {
                results.push(item_error(id, &products::invalid_id(kind, StatusCode::BAD_REQUEST)));
                continue;
            };
            let rendered = products::render(site, &doc, editing);
            products::remove(conn, &doc).await?;
            events.push(Event::Changed { topic: "product.deleted", kind, id });
            results.push(rendered);
        }
        out.insert("delete".into(), Value::Array(results));
    }
    Ok(respond(site, StatusCode::OK, "POST, PUT, PATCH", Value::Object(out)))
}
