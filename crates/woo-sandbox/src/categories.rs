//! Product categories (`/products/categories`): terms with a unique name under their parent, as WordPress keeps
//! them. A create that repeats a name is refused with `term_exists` and the existing term's id, which is how a
//! client finds the category another run already made.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use sqlx::SqliteConnection;

use crate::store::{self, Doc, Kind, Query};
use crate::wire::{Site, WcError, slugify};

pub fn invalid_id() -> WcError {
    WcError::new(StatusCode::NOT_FOUND, "woocommerce_rest_term_invalid", "Resource does not exist.")
}

/// Every category, by name (a shop has tens to hundreds).
pub async fn all(conn: &mut SqliteConnection) -> Result<Vec<Doc>, WcError> {
    let query = Query { kinds: vec![Kind::Category], order_by: "title", limit: u32::MAX, ..Query::default() };
    Ok(store::list(conn, &query).await?.1)
}

fn parent_of(doc: &Doc) -> u64 {
    doc.body["parent"].as_u64().unwrap_or(0)
}

/// Creates a category from a request body.
pub async fn create(conn: &mut SqliteConnection, body: &Map<String, Value>) -> Result<Doc, WcError> {
    let name = body.get("name").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(WcError::missing_param("name"));
    }
    let parent = body.get("parent").and_then(Value::as_u64).unwrap_or(0);
    let existing = all(conn).await?;
    if parent != 0 && !existing.iter().any(|d| d.id == parent) {
        return Err(WcError::new(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_term_invalid",
            "Parent term does not exist.",
        ));
    }
    if let Some(same) = existing.iter().find(|d| parent_of(d) == parent && d.body["name"].as_str() == Some(name)) {
        return Err(WcError::new(
            StatusCode::BAD_REQUEST,
            "term_exists",
            "A term with the name provided already exists with this parent.",
        )
        .with("resource_id", json!(same.id)));
    }
    let wanted = body.get("slug").and_then(Value::as_str).map_or_else(|| slugify(name), slugify);
    let mut slug = wanted.clone();
    let mut n = 2;
    while existing.iter().any(|d| d.body["slug"].as_str() == Some(slug.as_str())) {
        slug = format!("{wanted}-{n}");
        n += 1;
    }
    let id = store::next_id(conn, Kind::Category).await?;
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let doc = Doc {
        kind: Kind::Category,
        id,
        parent_id: 0,
        flags: 0,
        body: json!({
            "id": id, "name": name, "slug": slug, "parent": parent, "description": text("description"),
            "display": "default", "image": null, "menu_order": 0, "count": 0,
        }),
    };
    // Terms carry no SKU or e-mail, so no unique key of the store can refuse them.
    if store::save(conn, &doc).await?.is_err() {
        return Err(WcError::new(StatusCode::INTERNAL_SERVER_ERROR, "term_not_saved", "The term could not be saved."));
    }
    Ok(doc)
}

/// Renames or moves a category.
pub fn update(doc: &mut Doc, body: &Map<String, Value>) {
    for key in ["name", "description"] {
        if let Some(value) = body.get(key).and_then(Value::as_str) {
            doc.body[key] = json!(value);
        }
    }
    if let Some(parent) = body.get("parent").and_then(Value::as_u64) {
        doc.body["parent"] = json!(parent);
    }
}

/// The `categories` of a product: `{id, name, slug}` of each known id (WordPress skips unknown term ids).
pub async fn product_terms(conn: &mut SqliteConnection, ids: &[u64]) -> Result<Value, WcError> {
    let mut terms = Vec::new();
    for id in ids {
        if let Some(doc) = store::get(conn, Kind::Category, *id).await? {
            terms.push(json!({ "id": id, "name": doc.body["name"], "slug": doc.body["slug"] }));
        }
    }
    Ok(Value::Array(terms))
}

pub fn render(site: &Site, doc: &Doc) -> Value {
    let mut body = doc.body.clone();
    let mut links = json!({
        "self": [{ "href": site.api(&format!("/products/categories/{}", doc.id)),
                   "targetHints": { "allow": ["GET", "POST", "PUT", "PATCH", "DELETE"] } }],
        "collection": [{ "href": site.api("/products/categories") }],
    });
    if parent_of(doc) != 0 {
        links["up"] = json!([{ "href": site.api(&format!("/products/categories/{}", parent_of(doc))) }]);
    }
    body["_links"] = links;
    body
}
