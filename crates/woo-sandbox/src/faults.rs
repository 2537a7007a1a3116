//! Fault injection, set per run or changed through `/__sandbox/faults`: added latency, a share of 5xx and 429
//! answers, and dropped connections. Faults strike before the request is processed, like a proxy or a host under
//! load, so a retried write is never applied twice by the sandbox itself. A queue of exact faults
//! (`/__sandbox/faults/next`) makes tests deterministic, and can also hold `lost_reply`: the write is done and
//! the answer lost, which is what a client must survive without doubling the write.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Fault rates for a run. Rates are shares of requests in [0, 1]; they are drawn in the order drop, 5xx, 429.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    pub latency_ms: u64,
    pub error_rate: f64,
    pub throttle_rate: f64,
    pub drop_rate: f64,
    /// Seed for the draws, so a run can be repeated; 0 picks one at random.
    pub seed: u64,
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 with WordPress's critical-error body.
    ServerError,
    /// 502 with a proxy's HTML page.
    BadGateway,
    /// 503 from a host in maintenance.
    Unavailable,
    /// 429 with `Retry-After: 1`.
    Throttle,
    /// The connection is cut before a complete answer.
    Drop,
    /// The request is carried out, then the connection is cut before the answer: the client cannot know that its
    /// write landed. Only from the queue, never drawn by rate, because it is the one fault a retry can double.
    LostReply,
}

pub struct Faults {
    config: Mutex<FaultConfig>,
    queue: Mutex<VecDeque<FaultKind>>,
    rng: Mutex<fastrand::Rng>,
    injected: Mutex<BTreeMap<FaultKind, u64>>,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        let rng = if config.seed == 0 { fastrand::Rng::new() } else { fastrand::Rng::with_seed(config.seed) };
        Self {
            config: Mutex::new(config),
            queue: Mutex::new(VecDeque::new()),
            rng: Mutex::new(rng),
            injected: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn config(&self) -> FaultConfig {
        self.config.lock().map(|c| *c).unwrap_or_default()
    }

    pub fn set(&self, config: FaultConfig) {
        if config.seed != 0
            && let Ok(mut rng) = self.rng.lock()
        {
            *rng = fastrand::Rng::with_seed(config.seed);
        }
        if let Ok(mut current) = self.config.lock() {
            *current = config;
        }
    }

    pub fn queue(&self, kinds: Vec<FaultKind>) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.extend(kinds);
        }
    }

    pub fn injected(&self) -> BTreeMap<FaultKind, u64> {
        self.injected.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits the configured latency, then decides whether this request fails.
    pub async fn draw(&self) -> Option<FaultKind> {
        let config = self.config();
        if config.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(config.latency_ms)).await;
        }
        let queued = self.queue.lock().ok().and_then(|mut q| q.pop_front());
        let fault = queued.or_else(|| {
            let roll = self.rng.lock().ok()?.f64();
            let (drop, error) = (config.drop_rate, config.drop_rate + config.error_rate);
            if roll < drop {
                Some(FaultKind::Drop)
            } else if roll < error {
                let pick = self.rng.lock().ok()?.u8(0..3);
                Some([FaultKind::ServerError, FaultKind::BadGateway, FaultKind::Unavailable][usize::from(pick)])
            } else if roll < error + config.throttle_rate {
                Some(FaultKind::Throttle)
            } else {
                None
            }
        })?;
        if let Ok(mut counts) = self.injected.lock() {
            *counts.entry(fault).or_default() += 1;
        }
        Some(fault)
    }
}

/// The answer for an injected fault.
pub fn respond(fault: FaultKind) -> Response {
    match fault {
        FaultKind::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({
                "code": "internal_server_error",
                "message": "<p>There has been a critical error on this website.</p>",
                "data": { "status": 500 },
                "additional_errors": [],
            })),
        )
            .into_response(),
        FaultKind::BadGateway => (
            StatusCode::BAD_GATEWAY,
            [(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>\
             </body></html>",
        )
            .into_response(),
        FaultKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))],
            "Briefly unavailable for scheduled maintenance. Check back in a minute.",
        )
            .into_response(),
        FaultKind::Throttle => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({
                    "code": "rest_too_many_requests",
                    "message": "Too many requests. Please slow down.",
                    "data": { "status": 429 },
                })),
            )
                .into_response();
            response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        FaultKind::Drop | FaultKind::LostReply => {
            // The status line goes out, then the body fails: hyper aborts the connection mid-answer.
            let failing = futures_util::stream::once(async {
                Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "sandbox dropped the connection",
                ))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "application/json; charset=UTF-8")
                .body(Body::from_stream(failing))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}
