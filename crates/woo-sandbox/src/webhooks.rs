//! Webhook subscriptions and their delivery: the unsigned creation ping, then signed deliveries with
//! WooCommerce's headers, rendered when they are sent (WooCommerce queues them, so a body shows the record as it
//! is at delivery time). A webhook that fails five times in a row is disabled, as in WooCommerce.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use sqlx::SqliteConnection;
use tokio::sync::mpsc;

use crate::store::{self, Doc, Kind, Store};
use crate::wire::{Site, WcError, now};
use crate::{customers, orders, products};

pub const TOPICS: [&str; 12] = [
    "order.created",
    "order.updated",
    "order.deleted",
    "order.restored",
    "product.created",
    "product.updated",
    "product.deleted",
    "product.restored",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "coupon.created",
];

/// Something that happened to a record, for the delivery worker.
#[derive(Debug, Clone)]
pub enum Event {
    Changed { topic: &'static str, kind: Kind, id: u64 },
    Ping { webhook_id: u64 },
}

pub type EventSender = mpsc::UnboundedSender<Event>;

pub fn invalid_id() -> WcError {
    WcError::new(StatusCode::NOT_FOUND, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
}

/// Creates a subscription; an active one is pinged at once.
pub async fn create(conn: &mut SqliteConnection, body: &Map<String, Value>) -> Result<Doc, WcError> {
    let topic = body.get("topic").and_then(Value::as_str).ok_or_else(|| WcError::missing_param("topic"))?;
    if !TOPICS.contains(&topic) && !topic.starts_with("action.") {
        return Err(WcError::new(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_webhook_invalid_topic",
            "Webhook topic is invalid.",
        ));
    }
    let url = body.get("delivery_url").and_then(Value::as_str).ok_or_else(|| WcError::missing_param("delivery_url"))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(WcError::invalid_param("delivery_url", "delivery_url is not a valid URL.", "rest_invalid_url"));
    }
    let status = match body.get("status").and_then(Value::as_str).unwrap_or("active") {
        s @ ("active" | "paused" | "disabled") => s.to_owned(),
        _ => {
            return Err(WcError::invalid_param(
                "status",
                "status is not one of active, paused, and disabled.",
                "rest_not_in_enum",
            ));
        }
    };
    let id = store::next_id(conn, Kind::Webhook).await?;
    let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
    let stamp = now();
    let webhook = json!({
        "id": id,
        "name": body.get("name").and_then(Value::as_str).map_or_else(|| format!("Webhook {id}"), str::to_owned),
        "status": status,
        "topic": topic,
        "resource": resource,
        "event": event,
        "hooks": [format!("woocommerce_{resource}_{event}")],
        "delivery_url": url,
        "secret": body.get("secret").and_then(Value::as_str).unwrap_or_default(),
        "date_created": stamp, "date_created_gmt": stamp, "date_modified": stamp, "date_modified_gmt": stamp,
    });
    let doc = Doc { kind: Kind::Webhook, id, parent_id: 0, body: webhook, flags: 0 };
    store::save(conn, &doc).await?.map_err(|_| invalid_id())?;
    Ok(doc)
}

pub async fn update(conn: &mut SqliteConnection, doc: &mut Doc, body: &Map<String, Value>) -> Result<(), WcError> {
    for key in ["name", "status", "delivery_url", "secret"] {
        if let Some(value) = body.get(key).and_then(Value::as_str) {
            doc.body[key] = json!(value);
        }
    }
    let stamp = now();
    doc.body["date_modified"] = json!(stamp);
    doc.body["date_modified_gmt"] = json!(stamp);
    store::save(conn, doc).await?.map_err(|_| invalid_id())?;
    Ok(())
}

/// The subscription as the API shows it; the secret is write-only.
pub fn render(site: &Site, doc: &Doc) -> Value {
    let mut body = doc.body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("secret");
    }
    body["_links"] = json!({
        "self": [{ "href": site.api(&format!("/webhooks/{}", doc.id)) }],
        "collection": [{ "href": site.api("/webhooks") }],
    });
    body
}

/// Delivers events until the channel closes. `site` is the sandbox's own address, sent as the source.
pub async fn deliver(store: Arc<Store>, site: Site, mut events: mpsc::UnboundedReceiver<Event>) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .user_agent("WooCommerce/11.0.1 Hookshot (WordPress/7.1)")
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "webhook delivery disabled: no HTTP client");
            return;
        }
    };
    while let Some(event) = events.recv().await {
        if let Err(error) = deliver_one(&store, &site, &http, event).await {
            tracing::warn!(%error, "webhook delivery failed");
        }
    }
}

async fn deliver_one(store: &Store, site: &Site, http: &reqwest::Client, event: Event) -> Result<(), WcError> {
    let (targets, topic, resource_id, payload) = {
        let mut conn = store.lock().await;
        let query = store::Query { kinds: vec![Kind::Webhook], order_by: "id", limit: 1000, ..store::Query::default() };
        let (_, hooks) = store::list(&mut conn, &query).await?;
        match &event {
            Event::Ping { webhook_id } => {
                let Some(hook) = hooks.into_iter().find(|h| h.id == *webhook_id) else { return Ok(()) };
                (vec![hook], "ping".to_owned(), *webhook_id, None)
            }
            Event::Changed { topic, kind, id } => {
                let active: Vec<Doc> = hooks
                    .into_iter()
                    .filter(|h| h.body["status"] == json!("active") && h.body["topic"].as_str() == Some(*topic))
                    .collect();
                if active.is_empty() {
                    return Ok(());
                }
                let body = render_resource(&mut conn, site, *kind, *id, topic).await?;
                (active, (*topic).to_owned(), *id, Some(body))
            }
        }
    };
    for hook in targets {
        let url = hook.body["delivery_url"].as_str().unwrap_or_default().to_owned();
        let delivery_id: String = std::iter::repeat_with(|| fastrand::digit(16)).take(32).collect();
        let request = match &payload {
            None => http
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("webhook_id={}", hook.id)),
            Some(body) => {
                let raw = body.to_string();
                let secret = hook.body["secret"].as_str().unwrap_or_default();
                let (resource, event) = topic.split_once('.').unwrap_or((&topic, ""));
                http.post(&url)
                    .header("Content-Type", "application/json")
                    .header("X-WC-Webhook-Source", format!("{}/", site.base))
                    .header("X-WC-Webhook-Topic", &topic)
                    .header("X-WC-Webhook-Resource", resource)
                    .header("X-WC-Webhook-Event", event)
                    .header("X-WC-Webhook-Signature", cpbridge_woo::webhook::sign(secret, raw.as_bytes()))
                    .header("X-WC-Webhook-ID", hook.id.to_string())
                    .header("X-WC-Webhook-Delivery-ID", &delivery_id)
                    .body(raw)
            }
        };
        let outcome = match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(error.without_url().to_string()),
        };
        let mut conn = store.lock().await;
        store::log_delivery(&mut conn, hook.id, &topic, resource_id, &delivery_id, outcome).await?;
        if payload.is_some() && store::consecutive_failures(&mut conn, hook.id).await? >= 5 {
            let mut disabled = hook.clone();
            disabled.body["status"] = json!("disabled");
            store::save(&mut conn, &disabled).await?.map_err(|_| invalid_id())?;
            tracing::warn!(webhook_id = hook.id, "webhook disabled after 5 failed deliveries");
        }
    }
    Ok(())
}

async fn render_resource(
    conn: &mut SqliteConnection,
    site: &Site,
    kind: Kind,
    id: u64,
    topic: &str,
) -> Result<Value, WcError> {
    let Some(doc) = store::get(conn, kind, id).await? else {
        return Ok(json!({ "id": id }));
    };
    if topic.ends_with(".deleted") {
        return Ok(json!({ "id": id }));
    }
    Ok(match kind {
        Kind::Order => orders::render(site, &doc),
        Kind::Customer => customers::render(site, &doc),
        Kind::Variation => {
            let parent = store::get(conn, Kind::Product, doc.parent_id).await?;
            let parent_name = parent.as_ref().and_then(|p| p.body["name"].as_str()).unwrap_or_default().to_owned();
            products::as_product_shape(site, &doc, &parent_name)
        }
        _ => products::render(site, &doc, false),
    })
}
