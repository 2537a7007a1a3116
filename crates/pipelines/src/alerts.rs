//! Alerts: an operator hears about a dead order, a database that is down, or a write-back that keeps failing.
//!
//! Every alert is logged and recorded in the state store (the status page lists them). When a webhook URL is set,
//! it is also POSTed there as JSON (`{"kind", "subject", "message", "at"}`), which is what Slack, Teams and most
//! paging tools accept through a small relay. Delivery never blocks a pipeline.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cpbridge_store::StateStore;
use serde_json::json;

/// Sends alerts.
#[derive(Clone)]
pub struct Alerter {
    store: Arc<dyn StateStore>,
    webhook_url: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a token (Slack's do), so it is not shown.
        f.debug_struct("Alerter").field("webhook", &self.webhook_url.is_some()).finish()
    }
}

impl Alerter {
    pub fn new(store: Arc<dyn StateStore>, webhook_url: Option<String>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Alerter { store, webhook_url: webhook_url.filter(|u| !u.trim().is_empty()), http }
    }

    /// Raises an alert: logs it, records it, and posts it in the background.
    pub async fn raise(&self, kind: &str, subject: &str, message: &str) {
        let at = Utc::now().naive_utc();
        tracing::error!(alert = kind, subject, "{subject}: {message}");
        let id = match self.store.record_alert(kind, subject, message, at).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "the alert could not be recorded");
                return;
            }
        };
        let Some(url) = self.webhook_url.clone() else { return };
        let body = json!({ "kind": kind, "subject": subject, "message": message, "at": at, "source": "cpbridge" });
        let (http, store) = (self.http.clone(), self.store.clone());
        tokio::spawn(async move {
            let result = match http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => Ok(Utc::now().naive_utc()),
                Ok(r) => Err(format!("the alert webhook answered {}", r.status())),
                Err(e) => Err(format!("the alert webhook is unreachable: {}", e.without_url())),
            };
            if let Err(e) = &result {
                tracing::warn!("{e}");
            }
            if let Err(e) = store.alert_delivered(id, result).await {
                tracing::warn!(error = %e, "the alert delivery could not be recorded");
            }
        });
    }
}
