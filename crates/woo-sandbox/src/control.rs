//! The sandbox's control API (`/__sandbox/...`): faults, request counts, webhook deliveries, raw records.

use crate::*;

pub(crate) async fn get_faults(State(app): State<Arc<App>>) -> Json<FaultConfig> {
    Json(app.faults.config())
}

pub(crate) async fn put_faults(State(app): State<Arc<App>>, Json(config): Json<FaultConfig>) -> Json<FaultConfig> {
    app.faults.set(config);
    Json(app.faults.config())
}

pub(crate) async fn queue_faults(State(app): State<Arc<App>>, Json(kinds): Json<Vec<FaultKind>>) -> StatusCode {
    app.faults.queue(kinds);
    StatusCode::NO_CONTENT
}

pub(crate) async fn get_stats(State(app): State<Arc<App>>) -> Json<Value> {
    let requests = app.stats.lock().map(|s| s.clone()).unwrap_or_default();
    Json(json!({ "requests": requests, "faults": app.faults.injected() }))
}

pub(crate) async fn get_deliveries(State(app): State<Arc<App>>) -> Response {
    let mut conn = app.store.lock().await;
    match store::deliveries(&mut conn).await {
        Ok(list) => Json(Value::Array(list)).into_response(),
        Err(error) => WcError::from(error).into_response(),
    }
}

/// A customer as stored, with the protected (`_`-prefixed) meta that WooCommerce keeps out of its API: what a
/// WordPress plugin reading user meta would see.
pub(crate) async fn get_raw_customer(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<u64>,
) -> Response {
    let mut conn = app.store.lock().await;
    match store::get(&mut conn, Kind::Customer, id).await {
        Ok(Some(doc)) => Json(doc.body).into_response(),
        Ok(None) => customers::invalid_id().into_response(),
        Err(error) => WcError::from(error).into_response(),
    }
}

/// One edit of a stored order: set the value at a JSON pointer, or remove it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct RawEdit {
    path: String,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    remove: bool,
}

/// Edits an order as stored, skipping every rule the REST API keeps (a quantity of 1.5, a missing billing block,
/// totals that do not add up), then sends `order.updated` like any change.
pub(crate) async fn patch_raw_order(
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
