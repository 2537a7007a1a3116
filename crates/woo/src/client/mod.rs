//! The HTTP client for a WooCommerce store's `wc/v3` API: authentication, a bound on concurrent requests, a request
//! timeout, retries with backoff, paged listings as streams, and batch writes split to WooCommerce's limit.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::auth::{self, AuthMode, Credentials};
use crate::error::{TransportKind, WooError};
use crate::model::{
    BatchItem, BatchResponse, BatchWrite, Category, Customer, CustomerWrite, ErrorBody, Order, OrderNote, OrderWrite,
    Product, ProductWrite, Refund, RefundWrite, Variation, Webhook, WebhookWrite, WooOrderId,
};
use crate::retry::{RetryPolicy, parse_retry_after};

mod resources;

/// WooCommerce's ceiling for `per_page`, and for the items of one batch request.
pub const MAX_PAGE_SIZE: u32 = 100;
pub const MAX_BATCH_ITEMS: usize = 100;

/// Everything needed to talk to one store.
///
/// Defaults: a 30 s request timeout, 10 s to connect, 4 requests in flight at most, `per_page=100`, and the
/// [`RetryPolicy`] defaults.
#[derive(Debug, Clone)]
pub struct WooConfig {
    /// The store's address, like `https://shop.example.com`; the client appends `/wp-json/wc/v3`.
    pub base_url: String,
    pub credentials: Credentials,
    pub auth: AuthMode,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_concurrency: usize,
    pub per_page: u32,
    pub retry: RetryPolicy,
}

impl WooConfig {
    #[must_use]
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            base_url: base_url.into(),
            credentials,
            auth: AuthMode::Auto,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_concurrency: 4,
            per_page: MAX_PAGE_SIZE,
            retry: RetryPolicy::default(),
        }
    }
}

/// Whether a request may be sent again after a failure that leaves its fate unknown (a timeout, a dropped
/// connection, a 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Sending it twice has the effect of sending it once: reads, updates to absolute values, deletes.
    Safe,
    /// A create: resent only when the store surely did not act on it (connection refused, 429, 503).
    OnlyIfUnprocessed,
}

/// A stream of records from a paged listing. Only one page is held in memory at a time.
pub type RecordStream<T> = Pin<Box<dyn Stream<Item = Result<T, WooError>> + Send>>;

/// One page of a listing, with the totals WooCommerce reports in `X-WP-Total` and `X-WP-TotalPages`.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: Option<u64>,
    pub total_pages: Option<u32>,
}

/// Counters since the client was built, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
}

/// The result of one item of a batch write.
pub type BatchResult<T> = Result<T, BatchItemError>;

/// Why one item of a batch write did not land.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItemError {
    /// Position of the item in the list the caller passed (`create`, `update` or `delete`).
    pub index: usize,
    /// The record id, for updates and deletes.
    pub id: Option<u64>,
    /// The SKU the item carried, so that a failed create can be named.
    pub sku: Option<String>,
    pub code: String,
    pub message: String,
    /// For a create refused as a duplicate SKU: the id of the product that already holds the SKU. After a
    /// replayed batch this is the product the first attempt created.
    pub existing_id: Option<u64>,
}

impl std::fmt::Display for BatchItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch item {}", self.index)?;
        match (self.id, &self.sku) {
            (Some(id), Some(sku)) => write!(f, " (id {id}, SKU {sku})")?,
            (Some(id), None) => write!(f, " (id {id})")?,
            (None, Some(sku)) => write!(f, " (SKU {sku})")?,
            (None, None) => {}
        }
        write!(f, ": {}: {}", self.code, self.message)
    }
}

/// What a batch write did, item by item, in the caller's order.
#[derive(Debug, Clone)]
pub struct BatchOutcome<T> {
    pub created: Vec<BatchResult<T>>,
    pub updated: Vec<BatchResult<T>>,
    pub deleted: Vec<BatchResult<T>>,
    /// HTTP batch requests it took (each holds at most 100 items).
    pub requests: usize,
}

impl<T> BatchOutcome<T> {
    /// Every failed item, from all three lists.
    pub fn failures(&self) -> impl Iterator<Item = &BatchItemError> {
        self.created.iter().chain(&self.updated).chain(&self.deleted).filter_map(|r| r.as_ref().err())
    }
}

struct RawResponse {
    body: Vec<u8>,
    total: Option<u64>,
    total_pages: Option<u32>,
    attempts: u32,
}

struct Inner {
    http: reqwest::Client,
    api_root: String,
    credentials: Credentials,
    auth: AuthMode,
    retry: RetryPolicy,
    per_page: u32,
    permits: Semaphore,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// A WooCommerce REST client. Cheap to clone; clones share the connection pool and the concurrency bound.
#[derive(Clone)]
pub struct WooClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WooClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooClient").field("api_root", &self.inner.api_root).field("auth", &self.inner.auth).finish()
    }
}

impl WooClient {
    /// Builds a client for the store in `config`.
    ///
    /// # Errors
    /// [`WooError::Config`] for an address that is not `http(s)://…`, a `per_page` outside 1..=100, or a TLS setup
    /// failure.
    pub fn new(config: WooConfig) -> Result<Self, WooError> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(WooError::Config(format!("the store address {base:?} must start with http:// or https://")));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&config.per_page) {
            return Err(WooError::Config(format!("per_page {} is outside 1..=100", config.per_page)));
        }
        if config.max_concurrency == 0 {
            return Err(WooError::Config("max_concurrency must be at least 1".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("cpbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WooError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api_root: format!("{base}/wp-json/wc/v3"),
                auth: config.auth.resolve(base),
                credentials: config.credentials,
                retry: config.retry,
                per_page: config.per_page,
                permits: Semaphore::new(config.max_concurrency),
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
            }),
        })
    }

    /// The authentication mode in use, after `Auto` was resolved from the address.
    #[must_use]
    pub fn auth_mode(&self) -> AuthMode {
        self.inner.auth
    }

    #[must_use]
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            retries: self.inner.retries.load(Ordering::Relaxed),
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<RawResponse, WooError> {
        let inner = &self.inner;
        let url = format!("{}{}", inner.api_root, path);
        let mut params: Vec<(String, String)> = query.to_vec();
        let mut request = inner.http.request(method.clone(), &url);
        match inner.auth {
            AuthMode::Basic | AuthMode::Auto => {
                request = request.header(http::header::AUTHORIZATION, auth::basic_header(&inner.credentials));
            }
            AuthMode::QueryString => {
                params.push(("consumer_key".into(), inner.credentials.consumer_key.clone()));
                params.push(("consumer_secret".into(), inner.credentials.consumer_secret.expose().to_owned()));
            }
            AuthMode::OAuth1 => {
                let timestamp = chrono::Utc::now().timestamp();
                let oauth =
                    auth::oauth_params(method.as_str(), &url, query, &inner.credentials, timestamp, &auth::new_nonce());
                params.extend(oauth);
            }
        }
        if !params.is_empty() {
            request = request.query(&params);
        }
        if let Some(body) = body {
            request = request.header(http::header::CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        let transport = |e: reqwest::Error| {
            let kind = if e.is_connect() {
                TransportKind::Connect
            } else if e.is_timeout() {
                TransportKind::Timeout
            } else {
                TransportKind::Dropped
            };
            // reqwest's message can hold the full URL, whose query may hold keys: keep only the error chain's kind.
            WooError::Transport {
                method: method.to_string(),
                path: path.to_owned(),
                kind,
                message: describe(&e.without_url()),
            }
        };

        let _permit = inner.permits.acquire().await.map_err(|_| WooError::Config("client shut down".into()))?;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?.to_vec();
        tracing::debug!(method = %method, path, status, elapsed_ms = started.elapsed().as_millis() as u64, "woocommerce request");

        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if (200..300).contains(&status) {
            return Ok(RawResponse {
                body,
                total: header("x-wp-total").and_then(|v| v.trim().parse().ok()),
                total_pages: header("x-wp-totalpages").and_then(|v| v.trim().parse().ok()),
                attempts: 1,
            });
        }
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let (method, path) = (method.to_string(), path.to_owned());
        Err(match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(error) => WooError::Api { method, path, status, body: Box::new(error), retry_after },
            Err(_) => WooError::Http { method, path, status, snippet: snippet(&body), retry_after },
        })
    }

    async fn execute(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&[u8]>,
        replay: Replay,
    ) -> Result<RawResponse, WooError> {
        self.execute_counting(method, path, query, body, replay).await.0
    }

    /// Sends with retries; also returns how many attempts it took, which tells a replayed create from a first one.
    async fn execute_counting(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&[u8]>,
        replay: Replay,
    ) -> (Result<RawResponse, WooError>, u32) {
        let policy = self.inner.retry;
        let mut attempt = 1;
        loop {
            match self.send_once(&method, path, query, body).await {
                Ok(mut response) => {
                    response.attempts = attempt;
                    return (Ok(response), attempt);
                }
                Err(error) => {
                    let replayable = error.is_retryable()
                        && (replay == Replay::Safe || error.surely_not_processed())
                        && policy.allows_another(attempt);
                    if !replayable {
                        let error = if attempt > 1 && error.is_retryable() {
                            WooError::Exhausted { attempts: attempt, source: Box::new(error) }
                        } else {
                            error
                        };
                        return (Err(error), attempt);
                    }
                    let wait = policy.delay(attempt, error.retry_after(), fastrand::f64());
                    tracing::warn!(%method, path, attempt, wait_ms = wait.as_millis() as u64, error = %error, "retrying WooCommerce request");
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    fn decode<T: DeserializeOwned>(method: &str, path: &str, body: &[u8], what: &'static str) -> Result<T, WooError> {
        serde_json::from_slice(body).map_err(|e| WooError::Decode {
            method: method.to_owned(),
            path: path.to_owned(),
            what,
            message: e.to_string(),
        })
    }

    /// GET one resource.
    ///
    /// # Errors
    /// [`WooError`] after retries, or when the body is not a `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(String, String)]) -> Result<T, WooError> {
        let response = self.execute(Method::GET, path, query, None, Replay::Safe).await?;
        Self::decode("GET", path, &response.body, "the expected record")
    }

    /// Sends `body` as JSON with `method` and decodes the answer.
    ///
    /// # Errors
    /// [`WooError`] after the retries `replay` allows, or when the answer is not a `T`.
    pub async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        replay: Replay,
    ) -> Result<T, WooError> {
        self.send_counting(method, path, body, replay).await.map(|(value, _)| value).map_err(|(error, _)| error)
    }

    /// Like [`WooClient::send`], also telling whether the request was sent more than once.
    async fn send_counting<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        replay: Replay,
    ) -> Result<(T, u32), (WooError, u32)> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| (WooError::Config(format!("request body for {path}: {e}")), 0))?;
        let name = method.to_string();
        let (response, attempts) = self.execute_counting(method, path, &[], Some(&bytes), replay).await;
        let response = response.map_err(|e| (e, attempts))?;
        let value = Self::decode(&name, path, &response.body, "the expected record").map_err(|e| (e, attempts))?;
        Ok((value, attempts))
    }

    /// One page of a listing.
    ///
    /// # Errors
    /// [`WooError`] after retries, or when the body is not a list of `T`.
    pub async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(String, String)],
        page: u32,
    ) -> Result<Page<T>, WooError> {
        let mut params = query.to_vec();
        params.retain(|(k, _)| k != "page" && k != "per_page");
        params.push(("per_page".into(), self.inner.per_page.to_string()));
        params.push(("page".into(), page.to_string()));
        let response = self.execute(Method::GET, path, &params, None, Replay::Safe).await?;
        let items: Vec<T> = Self::decode("GET", path, &response.body, "a list")?;
        Ok(Page { items, total: response.total, total_pages: response.total_pages })
    }

    /// Every record of a listing, page after page, following `X-WP-TotalPages`. Without that header the listing
    /// goes on while pages come back full.
    #[must_use]
    pub fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: Vec<(String, String)>,
    ) -> RecordStream<T> {
        struct Cursor {
            client: WooClient,
            path: String,
            query: Vec<(String, String)>,
            next: u32,
            done: bool,
        }
        let cursor = Cursor { client: self.clone(), path: path.to_owned(), query, next: 1, done: false };
        let pages = stream::try_unfold(cursor, |mut cursor| async move {
            if cursor.done {
                return Ok(None);
            }
            let page: Page<T> = cursor.client.page(&cursor.path, &cursor.query, cursor.next).await?;
            let full = page.items.len() >= cursor.client.inner.per_page as usize;
            cursor.done = match page.total_pages {
                Some(total_pages) => cursor.next >= total_pages || page.items.is_empty(),
                None => !full,
            };
            cursor.next += 1;
            Ok(Some((stream::iter(page.items.into_iter().map(Ok)), cursor)))
        });
        pages.try_flatten().boxed()
    }

    /// Sends a batch write to `path` (a `…/batch` endpoint) in as many requests as the 100-item limit needs, and
    /// returns every item's result in the caller's order. Batches are replayed after ambiguous failures: updates
    /// and deletes are idempotent, and a replayed create is refused by the store's unique SKU, which the item's
    /// [`BatchItemError::existing_id`] then names.
    ///
    /// # Errors
    /// Never for item failures; those are in the outcome. A request that fails as a whole marks its items failed.
    pub async fn batch<W: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        write: BatchWrite<W>,
    ) -> Result<BatchOutcome<T>, WooError> {
        let mut outcome = BatchOutcome { created: Vec::new(), updated: Vec::new(), deleted: Vec::new(), requests: 0 };
        let mut create = write.create.into_iter().enumerate().peekable();
        let mut update = write.update.into_iter().enumerate().peekable();
        let mut delete = write.delete.into_iter().enumerate().peekable();
        while create.peek().is_some() || update.peek().is_some() || delete.peek().is_some() {
            let mut chunk: BatchWrite<W> = BatchWrite { create: Vec::new(), update: Vec::new(), delete: Vec::new() };
            let (mut create_at, mut update_at, mut delete_at) = (Vec::new(), Vec::new(), Vec::new());
            while chunk.len() < MAX_BATCH_ITEMS {
                if let Some((index, item)) = create.next() {
                    create_at.push(SentItem::of(index, &item));
                    chunk.create.push(item);
                } else if let Some((index, item)) = update.next() {
                    update_at.push(SentItem::of(index, &item));
                    chunk.update.push(item);
                } else if let Some((index, id)) = delete.next() {
                    delete_at.push(SentItem { index, id: Some(id), sku: None });
                    chunk.delete.push(id);
                } else {
                    break;
                }
            }
            outcome.requests += 1;
            match self.send::<_, BatchResponse<T>>(Method::POST, path, &chunk, Replay::Safe).await {
                Ok(response) => {
                    outcome.created.extend(item_results(&create_at, response.create));
                    outcome.updated.extend(item_results(&update_at, response.update));
                    outcome.deleted.extend(item_results(&delete_at, response.delete));
                }
                Err(error) => {
                    if error.status() == Some(401) || error.status() == Some(403) {
                        return Err(error);
                    }
                    let failed = |at: &[SentItem]| -> Vec<BatchResult<T>> {
                        at.iter().map(|sent| Err(request_failed(sent, &error))).collect()
                    };
                    outcome.created.extend(failed(&create_at));
                    outcome.updated.extend(failed(&update_at));
                    outcome.deleted.extend(failed(&delete_at));
                }
            }
        }
        Ok(outcome)
    }
}

/// Where an item of a batch came from, to name it when it fails.
struct SentItem {
    index: usize,
    id: Option<u64>,
    sku: Option<String>,
}

impl SentItem {
    fn of<W: Serialize>(index: usize, item: &W) -> Self {
        let value = serde_json::to_value(item).unwrap_or_default();
        Self {
            index,
            id: value.get("id").and_then(serde_json::Value::as_u64),
            sku: value.get("sku").and_then(serde_json::Value::as_str).map(str::to_owned),
        }
    }

    fn error(&self, code: String, message: String, existing_id: Option<u64>) -> BatchItemError {
        BatchItemError { index: self.index, id: self.id, sku: self.sku.clone(), code, message, existing_id }
    }
}

fn item_results<T>(sent: &[SentItem], returned: Vec<BatchItem<T>>) -> Vec<BatchResult<T>> {
    let mut returned = returned.into_iter();
    sent.iter()
        .map(|item| match returned.next() {
            Some(BatchItem::Done(record)) => Ok(record),
            Some(BatchItem::Failed { id, error }) => {
                let existing_id = if error.code == "product_invalid_sku" { error.resource_id() } else { None };
                let mut failure = item.error(error.code, error.message, existing_id);
                failure.id = id.filter(|id| *id != 0).or(item.id);
                Err(failure)
            }
            None => Err(item.error(
                "cpbridge_missing_batch_item".into(),
                "the batch response holds fewer items than were sent".into(),
                None,
            )),
        })
        .collect()
}

fn request_failed(sent: &SentItem, error: &WooError) -> BatchItemError {
    sent.error(error.code().unwrap_or("cpbridge_batch_request_failed").to_owned(), error.to_string(), None)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut short: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        short.push('…');
    }
    short
}

fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
