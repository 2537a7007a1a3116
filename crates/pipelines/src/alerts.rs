//! Alerts: an operator hears about a dead order, a database that is down, or a write-back that keeps failing.
//!
//! Every alert is logged and recorded in the state store (the status page lists them). When a webhook URL is set,
//! it is also POSTed there as JSON (`{"kind", "subject", "message", "at", "text"}`; `text` is what Slack's incoming
//! webhooks show). Delivery never blocks a pipeline. No storm: the same kind of alert about the same subject goes
//! out at most once per `repeat_after` (an hour by default), however often the condition is seen.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cpbridge_store::StateStore;
use serde_json::json;

/// When alerts go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRules {
    /// The same kind and subject is raised again only after this long (default one hour).
    pub repeat_after: chrono::Duration,
    /// A job alerts after failing this many runs in a row (default 3); an unreachable database, a refused
    /// WooCommerce key and a state store that fails alert at once.
    pub failures_in_a_row: usize,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules { repeat_after: chrono::Duration::hours(1), failures_in_a_row: 3 }
    }
}

/// Sends alerts.
#[derive(Clone)]
pub struct Alerter {
    store: Arc<dyn StateStore>,
    webhook_url: Option<String>,
    http: reqwest::Client,
    rules: AlertRules,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a token (Slack's do), so it is not shown.
        f.debug_struct("Alerter").field("webhook", &self.webhook_url.is_some()).finish()
    }
}

impl Alerter {
    pub fn new(store: Arc<dyn StateStore>, webhook_url: Option<String>, rules: AlertRules) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Alerter { store, webhook_url: webhook_url.filter(|u| !u.trim().is_empty()), http, rules }
    }

    pub fn rules(&self) -> AlertRules {
        self.rules
    }

    /// Raises an alert: logs it, records it, and posts it in the background; unless the same kind about the same
    /// subject went out within `repeat_after`, when it is only logged.
    pub async fn raise(&self, kind: &str, subject: &str, message: &str) {
        let at = Utc::now().naive_utc();
        if let Ok(Some(last)) = self.store.last_alert_at(kind, subject).await
            && at - last < self.rules.repeat_after
        {
            tracing::warn!(alert = kind, subject, "{subject}: {message} (alerted at {last}; not repeated yet)");
            return;
        }
        tracing::error!(alert = kind, subject, "{subject}: {message}");
        let id = match self.store.record_alert(kind, subject, message, at).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "the alert could not be recorded");
                return;
            }
        };
        let Some(url) = self.webhook_url.clone() else { return };
        let body = json!({
            "kind": kind, "subject": subject, "message": message, "at": at, "source": "cpbridge",
            "text": format!("cpbridge {kind}: {subject}: {message}"),
        });
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
