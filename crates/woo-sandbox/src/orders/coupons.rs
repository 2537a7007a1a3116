//! Coupons: created through the API, found by code when an order uses one.

use super::*;

pub(super) async fn find_coupon(conn: &mut SqliteConnection, code: &str) -> Result<Option<Doc>, WcError> {
    let query = store::Query {
        kinds: vec![Kind::Coupon],
        search: None,
        order_by: "id",
        limit: 1000,
        ..store::Query::default()
    };
    let (_, coupons) = store::list(conn, &query).await?;
    Ok(coupons.into_iter().find(|c| c.body["code"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(code))))
}

/// Creates a coupon: `code`, `discount_type` (`percent` or `fixed_cart`) and `amount`.
pub async fn create_coupon(conn: &mut SqliteConnection, body: &Map<String, Value>) -> Result<Doc, WcError> {
    let code = body
        .get("code")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
        .ok_or_else(|| WcError::missing_param("code"))?;
    if find_coupon(conn, &code).await?.is_some() {
        return Err(WcError::new(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_coupon_code_already_exists",
            "The coupon code already exists",
        ));
    }
    let discount_type = match body.get("discount_type").and_then(Value::as_str).unwrap_or("fixed_cart") {
        t @ ("percent" | "fixed_cart") => t.to_owned(),
        _ => {
            return Err(WcError::invalid_param(
                "discount_type",
                "discount_type is not one of percent, fixed_cart, and fixed_product.",
                "rest_not_in_enum",
            ));
        }
    };
    let id = store::next_id(conn, Kind::Coupon).await?;
    let stamp = now();
    let value = amount(body.get("amount")).unwrap_or_default();
    let coupon = json!({
        "id": id, "code": code, "amount": money(value), "discount_type": discount_type,
        "date_created": stamp, "date_created_gmt": stamp, "date_modified": stamp, "date_modified_gmt": stamp,
        "description": body.get("description").cloned().unwrap_or(json!("")), "usage_count": 0,
        "individual_use": false, "product_ids": [], "excluded_product_ids": [], "usage_limit": null,
        "free_shipping": false, "meta_data": [],
    });
    let doc = Doc { kind: Kind::Coupon, id, parent_id: 0, body: coupon, flags: 0 };
    store::save(conn, &doc).await?.map_err(|_| invalid_id())?;
    Ok(doc)
}
