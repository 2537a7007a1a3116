//! Customers: unique e-mails, generated usernames, and WooCommerce's habit of hiding `_`-prefixed (protected)
//! meta keys from customer responses.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use sqlx::SqliteConnection;

use crate::products::merge_meta;
use crate::store::{self, Conflict, Doc, Kind};
use crate::wire::{Site, WcError, merge_address, now};

const CUSTOMER_TEMPLATE: &str = include_str!("../templates/customer.json");

pub fn invalid_id() -> WcError {
    WcError::new(StatusCode::NOT_FOUND, "woocommerce_rest_invalid_id", "Invalid resource ID.")
}

fn email_exists(email: &str) -> WcError {
    WcError::new(
        StatusCode::BAD_REQUEST,
        "registration-error-email-exists",
        format!("An account is already registered with {email}. Please log in or use a different email address."),
    )
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !email.contains(char::is_whitespace)
}

fn apply_names(target: &mut Value, body: &Map<String, Value>) {
    for key in ["first_name", "last_name"] {
        if let Some(value) = body.get(key).and_then(Value::as_str) {
            target[key] = json!(value);
        }
    }
    merge_address(&mut target["billing"], body.get("billing"));
    merge_address(&mut target["shipping"], body.get("shipping"));
}

/// Creates a customer. WordPress derives the username from the e-mail when none is given.
pub async fn create(conn: &mut SqliteConnection, body: &Map<String, Value>) -> Result<Doc, WcError> {
    let email = body.get("email").and_then(Value::as_str).map(str::trim).filter(|e| !e.is_empty());
    let Some(email) = email else { return Err(WcError::missing_param("email")) };
    if !valid_email(email) {
        return Err(WcError::invalid_param("email", "Invalid email address.", "rest_invalid_email"));
    }
    let id = store::next_id(conn, Kind::Customer).await?;
    let mut customer: Value = serde_json::from_str(CUSTOMER_TEMPLATE).unwrap_or(Value::Null);
    let stamp = now();
    customer["id"] = json!(id);
    customer["email"] = json!(email);
    customer["role"] = json!("customer");
    for key in ["date_created", "date_created_gmt", "date_modified", "date_modified_gmt"] {
        customer[key] = json!(stamp);
    }
    let base = body
        .get("username")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| email.split('@').next().unwrap_or("customer").to_lowercase());
    customer["username"] = json!(unique_username(conn, &base).await?);
    customer["avatar_url"] = json!("https://secure.gravatar.com/avatar/?s=96&d=mm&r=g");
    apply_names(&mut customer, body);
    customer["meta_data"] = json!([]);
    if body.get("password").is_none() {
        merge_meta(conn, &mut customer, &json!([{ "key": "default_password_nag", "value": "1" }])).await?;
    }
    if let Some(meta) = body.get("meta_data") {
        merge_meta(conn, &mut customer, &writable_meta(meta)).await?;
    }
    let doc = Doc { kind: Kind::Customer, id, parent_id: 0, body: customer, flags: 0 };
    match store::save(conn, &doc).await? {
        Ok(()) => Ok(doc),
        Err(Conflict::Email { .. } | Conflict::Sku { .. }) => Err(email_exists(email)),
    }
}

async fn unique_username(conn: &mut SqliteConnection, base: &str) -> Result<String, WcError> {
    let mut candidate = base.to_owned();
    for n in 1..1000 {
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM docs WHERE kind = 'customer' AND json_extract(body, '$.username') = ?1")
                .bind(&candidate)
                .fetch_optional(&mut *conn)
                .await
                .map_err(store::StoreError::from)?;
        if taken.is_none() {
            return Ok(candidate);
        }
        candidate = format!("{base}{n}");
    }
    Ok(format!("{base}{}", fastrand::u32(1000..1_000_000)))
}

/// The meta entries a REST write may store: WooCommerce accepts `_`-prefixed (protected) customer meta with a 200
/// and silently drops it (captured in `customers-update-underscore-meta-dropped`).
fn writable_meta(meta: &Value) -> Value {
    let entries = meta.as_array().cloned().unwrap_or_default();
    Value::Array(entries.into_iter().filter(|m| !m["key"].as_str().is_some_and(|k| k.starts_with('_'))).collect())
}

/// Updates names, addresses, e-mail and meta data.
pub async fn update(conn: &mut SqliteConnection, doc: &mut Doc, body: &Map<String, Value>) -> Result<(), WcError> {
    if let Some(email) = body.get("email").and_then(Value::as_str) {
        if !valid_email(email) {
            return Err(WcError::invalid_param("email", "Invalid email address.", "rest_invalid_email"));
        }
        doc.body["email"] = json!(email);
    }
    apply_names(&mut doc.body, body);
    if let Some(meta) = body.get("meta_data") {
        merge_meta(conn, &mut doc.body, &writable_meta(meta)).await?;
    }
    let stamp = now();
    doc.body["date_modified"] = json!(stamp);
    doc.body["date_modified_gmt"] = json!(stamp);
    match store::save(conn, doc).await? {
        Ok(()) => Ok(()),
        Err(_) => Err(email_exists(doc.body["email"].as_str().unwrap_or_default())),
    }
}

/// The customer as the API shows it: protected (`_`-prefixed) meta keys are left out, as WooCommerce does.
pub fn render(site: &Site, doc: &Doc) -> Value {
    let mut body = doc.body.clone();
    let visible: Vec<Value> = body["meta_data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| !m["key"].as_str().is_some_and(|k| k.starts_with('_')))
        .collect();
    body["meta_data"] = Value::Array(visible);
    body["is_paying_customer"] = body.get("is_paying_customer").cloned().unwrap_or(json!(false));
    body["_links"] = json!({
        "self": [{ "href": site.api(&format!("/customers/{}", doc.id)),
                   "targetHints": { "allow": ["GET", "POST", "PUT", "PATCH", "DELETE"] } }],
        "collection": [{ "href": site.api("/customers") }],
    });
    body
}
