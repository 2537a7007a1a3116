//! Keeps the order webhooks alive. WooCommerce disables a webhook after 5 failed deliveries (cpbridge restarting,
//! a proxy down for a minute), and from then on orders arrive only by the poll, without a word. This job looks at
//! the store's webhooks on a schedule, re-enables cpbridge's disabled or paused ones, re-creates missing ones when it
//! knows its public address, alerts once, and at once polls for the orders that were missed meanwhile.

use std::sync::Arc;

use cpbridge_woo::model::{Webhook, WebhookWrite};
use cpbridge_woo::{Replay, Secret, WooClient};
use serde::Serialize;

use crate::alerts::Alerter;
use crate::jobs::PipelineError;
use crate::orders::OrderPipeline;

/// The topics cpbridge needs: a new order, and every change to one (payment, cancellation, edits).
pub const ORDER_TOPICS: [&str; 2] = ["order.created", "order.updated"];
/// The path of cpbridge's webhook endpoint; a webhook delivering there is taken to be cpbridge's.
pub const WEBHOOK_PATH: &str = "/webhooks/woocommerce";

/// What the store has for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookState {
    Active {
        id: u64,
    },
    /// Disabled by WooCommerce after failed deliveries, or paused by a person.
    Inactive {
        id: u64,
        status: String,
    },
    Missing,
}

/// Whether a webhook delivers to cpbridge: to `delivery_url` when it is known, else to any address ending in
/// [`WEBHOOK_PATH`].
fn ours(hook: &Webhook, delivery_url: Option<&str>) -> bool {
    match delivery_url {
        Some(url) => hook.delivery_url.trim_end_matches('/') == url.trim_end_matches('/'),
        None => hook.delivery_url.trim_end_matches('/').ends_with(WEBHOOK_PATH),
    }
}

/// The state of each of [`ORDER_TOPICS`] among `hooks`, an active webhook winning over an inactive one.
pub fn order_hook_states(hooks: &[Webhook], delivery_url: Option<&str>) -> Vec<(&'static str, HookState)> {
    ORDER_TOPICS
        .iter()
        .map(|topic| {
            let mine = hooks.iter().filter(|h| h.topic == *topic && ours(h, delivery_url));
            let mut state = HookState::Missing;
            for hook in mine {
                if hook.status == "active" {
                    state = HookState::Active { id: hook.id };
                    break;
                }
                if state == HookState::Missing {
                    state = HookState::Inactive { id: hook.id, status: hook.status.clone() };
                }
            }
            (*topic, state)
        })
        .collect()
}

/// The write that makes an order webhook deliver to cpbridge, signed with the configured secret.
pub fn order_hook_write(topic: &str, delivery_url: &str, secret: &Secret) -> WebhookWrite {
    WebhookWrite {
        name: Some(format!("cpbridge {topic}")),
        status: Some("active".into()),
        topic: topic.into(),
        delivery_url: delivery_url.to_owned(),
        secret: Some(secret.expose().to_owned()),
        ..WebhookWrite::default()
    }
}

/// Counts of one check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookReport {
    pub active: usize,
    /// Disabled or paused webhooks made active again.
    pub reactivated: usize,
    pub created: usize,
    /// Topics with no webhook that this run could not create (no `server.public_url`).
    pub missing: Vec<String>,
    /// Orders the catch-up poll staged after a repair.
    pub backfilled: usize,
}

/// The webhook check over its ports.
pub struct WebhookGuard {
    woo: WooClient,
    alerts: Alerter,
    orders: Arc<OrderPipeline>,
    /// cpbridge's public webhook address, `server.public_url` + [`WEBHOOK_PATH`]; without it missing webhooks are
    /// reported, not created.
    delivery_url: Option<String>,
    secret: Secret,
}

impl WebhookGuard {
    pub fn new(
        woo: WooClient,
        alerts: Alerter,
        orders: Arc<OrderPipeline>,
        delivery_url: Option<String>,
        secret: Secret,
    ) -> Self {
        WebhookGuard { woo, alerts, orders, delivery_url, secret }
    }

    /// Checks the order webhooks once, repairs what it can, alerts once per repair, and backfills by polling.
    ///
    /// # Errors
    /// When WooCommerce cannot be reached or refuses a repair, or the catch-up poll fails.
    pub async fn run_once(&self) -> Result<WebhookReport, PipelineError> {
        let hooks = self.woo.webhooks().await?;
        let mut report = WebhookReport::default();
        let (mut reactivated, mut created) = (Vec::new(), Vec::new());
        for (topic, state) in order_hook_states(&hooks, self.delivery_url.as_deref()) {
            match state {
                HookState::Active { .. } => report.active += 1,
                HookState::Inactive { id, status } => {
                    // The secret goes again too: a webhook re-made by hand may carry another one.
                    let body = serde_json::json!({ "status": "active", "secret": self.secret.expose() });
                    let _: serde_json::Value =
                        self.woo.send(http::Method::PUT, &format!("/webhooks/{id}"), &body, Replay::Safe).await?;
                    tracing::warn!(webhook_id = id, topic, status, "order webhook was {status}; re-enabled");
                    report.reactivated += 1;
                    reactivated.push(format!("{id} ({topic}, was {status})"));
                }
                HookState::Missing => match &self.delivery_url {
                    Some(url) => {
                        let hook = self.woo.create_webhook(&order_hook_write(topic, url, &self.secret)).await?;
                        tracing::warn!(webhook_id = hook.id, topic, "order webhook was missing; created");
                        report.created += 1;
                        created.push(format!("{} ({topic})", hook.id));
                    }
                    None => report.missing.push(topic.to_owned()),
                },
            }
        }
        if report.reactivated + report.created > 0 {
            // Orders placed while the webhooks were down: the poll lists everything modified since the last one
            // it saw, so nothing waits for the next scheduled poll.
            report.backfilled = self.orders.pull_once().await?.staged;
        }
        if !reactivated.is_empty() {
            let message = format!(
                "WooCommerce had stopped delivering order webhook {}; cpbridge re-enabled it and polled for the \
                 orders it missed ({} staged). Failed deliveries disable a webhook: check that cpbridge was \
                 reachable from the store.",
                reactivated.join(", "),
                report.backfilled
            );
            self.alerts.raise("webhook_disabled", "order webhooks", &message).await;
        }
        if !created.is_empty() {
            let message = format!(
                "order webhook {} was missing in WooCommerce; cpbridge created it and polled for missed orders \
                 ({} staged)",
                created.join(", "),
                report.backfilled
            );
            self.alerts.raise("webhook_recreated", "order webhooks", &message).await;
        }
        if !report.missing.is_empty() {
            let message = format!(
                "no webhook delivers {} to cpbridge, so orders arrive only by the poll. Set server.public_url so \
                 cpbridge can create them, or run `cpbridge doctor --fix-webhooks https://<cpbridge>{WEBHOOK_PATH}`",
                report.missing.join(" and ")
            );
            self.alerts.raise("webhook_missing", "order webhooks", &message).await;
        }
        Ok(report)
    }
}
