//! Counterpoint item to WooCommerce product, as pure functions: which items belong on the web, what their product
//! looks like, the digest that tells a sync whether anything it owns changed, and the writes it sends.
//!
//! Grid (matrix) items, `TRK_METH = 'G'`, become simple products: the replica has no grid tables, so there are no
//! cells to turn into variations.

use std::collections::BTreeMap;

use cpbridge_core::records::{Item, ItemPrice};
use cpbridge_woo::model::{CategoryRef, ProductWrite};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::sync_settings::ProductSettings;

/// The digest stored for a product cpbridge retired; it differs from every live product's digest.
pub const RETIRED: &str = "retired";

/// The product an item should be in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub short_description: String,
    pub regular_price: String,
    /// `""` when the item is not on sale.
    pub sale_price: String,
    /// The category the store shows (`CATEG_COD`, or its configured name).
    pub category: Option<String>,
    pub weight: String,
    /// `taxable` or `none`.
    pub tax_status: String,
    pub tax_class: String,
    /// Stock is managed for inventory items; services and non-inventory items are always in stock.
    pub manage_stock: bool,
}

/// True when the item belongs in the web store: flagged for e-commerce, active, and of a kind that can be sold.
pub fn on_web(item: &Item) -> bool {
    item.is_ecomm_item && item.is_sellable()
}

/// A price as WooCommerce stores it: the item's decimal places, at least two ("12.50", "0.125").
pub fn price_text(value: Decimal, prc_decs: u32) -> String {
    let places = prc_decs.clamp(2, 4);
    let rounded = cpbridge_core::round_price(value, places);
    format!("{rounded:.prec$}", prec = places as usize)
}

/// The regular and sale price. Counterpoint's `REG_PRC` is the list price and `PRC_1` the selling price: when the
/// selling price is below the list price the item is on sale.
fn prices(item: &Item, price: Option<&ItemPrice>) -> (String, String) {
    let (reg, sell) = match price {
        Some(p) => (p.reg_prc.unwrap_or(item.reg_prc), p.prc[0].unwrap_or(item.prc_1)),
        None => (item.reg_prc, item.prc_1),
    };
    let positive = |d: Decimal| (d > Decimal::ZERO).then_some(d);
    match (positive(reg), positive(sell)) {
        (Some(reg), Some(sell)) if sell < reg => (price_text(reg, item.prc_decs), price_text(sell, item.prc_decs)),
        (_, Some(sell)) => (price_text(sell, item.prc_decs), String::new()),
        (Some(reg), None) => (price_text(reg, item.prc_decs), String::new()),
        (None, None) => (String::new(), String::new()),
    }
}

fn trimmed(text: Option<&str>) -> String {
    text.map(str::trim).unwrap_or_default().to_owned()
}

/// The product for an item. `price` is its `IM_PRC` row at the price location, when the shop prices by location.
pub fn product_spec(item: &Item, price: Option<&ItemPrice>, settings: &ProductSettings) -> ProductSpec {
    let (regular_price, sale_price) = prices(item, price);
    let category = item
        .categ_cod
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|code| settings.category_names.get(code).cloned().unwrap_or_else(|| code.to_owned()));
    let tax_class = item
        .tax_categ_cod
        .as_deref()
        .and_then(|code| settings.tax_classes.get(code.trim()))
        .cloned()
        .unwrap_or_default();
    ProductSpec {
        sku: item.item_no.clone(),
        name: item.descr.trim().to_owned(),
        description: trimmed(item.long_descr.as_deref()),
        short_description: trimmed(item.short_descr.as_deref()),
        regular_price,
        sale_price,
        category,
        weight: item.weight.filter(|w| *w > Decimal::ZERO).map(|w| w.normalize().to_string()).unwrap_or_default(),
        tax_status: if item.is_txbl { "taxable" } else { "none" }.to_owned(),
        tax_class,
        manage_stock: item.tracks_inventory(),
    }
}

/// The value of one writable field, as the digest sees it.
fn field_value(spec: &ProductSpec, field: &str) -> Value {
    match field {
        "name" => json!(spec.name),
        "description" => json!(spec.description),
        "short_description" => json!(spec.short_description),
        "regular_price" => json!(spec.regular_price),
        "sale_price" => json!(spec.sale_price),
        "categories" => json!(spec.category),
        "weight" => json!(spec.weight),
        "tax_class" => json!([spec.tax_status, spec.tax_class]),
        "status" => json!("publish"),
        _ => Value::Null,
    }
}

/// A digest of the fields Counterpoint owns: equal digests mean there is nothing to send.
pub fn owned_digest(spec: &ProductSpec, settings: &ProductSettings) -> String {
    let owned: BTreeMap<&str, Value> =
        settings.owned_fields.iter().map(|f| (f.as_str(), field_value(spec, f))).collect();
    let hash = Sha256::digest(json!({ "sku": spec.sku, "fields": owned }).to_string().as_bytes());
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Writes `field` of `spec` into `write`.
fn set_field(write: &mut ProductWrite, spec: &ProductSpec, field: &str, category_id: Option<u64>) {
    match field {
        "name" => write.name = Some(spec.name.clone()),
        "description" => write.description = Some(spec.description.clone()),
        "short_description" => write.short_description = Some(spec.short_description.clone()),
        "regular_price" => write.regular_price = Some(spec.regular_price.clone()),
        "sale_price" => write.sale_price = Some(spec.sale_price.clone()),
        "categories" => write.categories = Some(category_id.map(|id| CategoryRef { id }).into_iter().collect()),
        "weight" => write.weight = Some(spec.weight.clone()),
        "tax_class" => {
            write.tax_status = Some(spec.tax_status.clone());
            write.tax_class = Some(spec.tax_class.clone());
        }
        "status" => write.status = Some("publish".into()),
        _ => {}
    }
}

/// The create of a new product: every field, and its stock when it manages stock.
pub fn create_write(
    spec: &ProductSpec,
    category_id: Option<u64>,
    stock: Option<i64>,
    backorders: &str,
) -> ProductWrite {
    let mut write =
        ProductWrite { sku: Some(spec.sku.clone()), kind: Some("simple".into()), ..ProductWrite::default() };
    for field in crate::sync_settings::PRODUCT_FIELDS {
        set_field(&mut write, spec, field, category_id);
    }
    write.manage_stock = Some(spec.manage_stock);
    if spec.manage_stock {
        write.stock_quantity = stock;
        write.backorders = Some(backorders.to_owned());
    } else {
        write.stock_status = Some("instock".into());
    }
    write
}

/// The update of an existing product: only the fields Counterpoint owns. A product cpbridge had retired is
/// published again whatever the owned fields say.
pub fn update_write(
    id: u64,
    spec: &ProductSpec,
    category_id: Option<u64>,
    was_retired: bool,
    settings: &ProductSettings,
) -> ProductWrite {
    let mut write = ProductWrite { id: Some(id), ..ProductWrite::default() };
    for field in &settings.owned_fields {
        set_field(&mut write, spec, field, category_id);
    }
    if was_retired {
        write.status = Some("publish".into());
    }
    write
}

/// The update that takes a product off the web without deleting it.
pub fn retire_write(id: u64, settings: &ProductSettings) -> ProductWrite {
    ProductWrite { id: Some(id), status: Some(settings.retired_status.clone()), ..ProductWrite::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn item(no: &str) -> Item {
        Item {
            item_no: no.into(),
            descr: " Copy paper ".into(),
            short_descr: Some("A4, 80 g".into()),
            long_descr: Some("Five hundred sheets.".into()),
            item_typ: "I".into(),
            stat: "A".into(),
            categ_cod: Some("PAPER".into()),
            subcat_cod: None,
            is_ecomm_item: true,
            is_txbl: true,
            tax_categ_cod: Some("FOOD".into()),
            weight: Some(dec!(2.300)),
            barcod: None,
            prc_1: dec!(5.99),
            reg_prc: dec!(7.5),
            lst_cost: Some(dec!(3)),
            trk_meth: None,
            stk_unit: None,
            extra: Default::default(),
            prc_decs: 2,
            prof_cod_1: None,
            attr_cod_1: None,
            lst_maint_dt: None,
            rs_utc_dt: None,
        }
    }

    #[test]
    fn an_item_maps_to_its_product() {
        let mut settings = ProductSettings::default();
        settings.tax_classes.insert("FOOD".into(), "reduced-rate".into());
        settings.category_names.insert("PAPER".into(), "Paper & pads".into());
        let spec = product_spec(&item("P-1"), None, &settings);
        assert_eq!(spec.name, "Copy paper");
        // PRC_1 5.99 is below REG_PRC 7.50: on sale.
        assert_eq!((spec.regular_price.as_str(), spec.sale_price.as_str()), ("7.50", "5.99"));
        assert_eq!(spec.category.as_deref(), Some("Paper & pads"));
        assert_eq!(
            (spec.weight.as_str(), spec.tax_status.as_str(), spec.tax_class.as_str()),
            ("2.3", "taxable", "reduced-rate")
        );
        assert!(spec.manage_stock);
    }

    #[test]
    fn prices_pick_list_and_sale_and_the_price_location_wins() {
        let settings = ProductSettings::default();
        let mut plain = item("P-2");
        plain.reg_prc = dec!(0);
        plain.prc_1 = dec!(12.5);
        let spec = product_spec(&plain, None, &settings);
        assert_eq!((spec.regular_price.as_str(), spec.sale_price.as_str()), ("12.50", ""));
        plain.prc_decs = 3;
        plain.prc_1 = dec!(0.125);
        assert_eq!(product_spec(&plain, None, &settings).regular_price, "0.125");
        let at_location = ItemPrice {
            item_no: "P-2".into(),
            loc_id: "WEB".into(),
            dim_1_upr: "*".into(),
            dim_2_upr: "*".into(),
            dim_3_upr: "*".into(),
            reg_prc: Some(dec!(20)),
            prc: [Some(dec!(20)), None, None, None, None, None],
            rs_utc_dt: None,
        };
        let spec = product_spec(&plain, Some(&at_location), &settings);
        assert_eq!((spec.regular_price.as_str(), spec.sale_price.as_str()), ("20.000", ""));
    }

    #[test]
    fn what_belongs_on_the_web() {
        let mut it = item("P-3");
        assert!(on_web(&it));
        it.stat = "D".into();
        assert!(!on_web(&it), "discontinued");
        it.stat = "A".into();
        it.is_ecomm_item = false;
        assert!(!on_web(&it), "not flagged for e-commerce");
    }

    #[test]
    fn the_digest_moves_only_with_owned_fields() {
        let mut settings = ProductSettings::default();
        let spec = product_spec(&item("P-4"), None, &settings);
        let mut renamed = spec.clone();
        renamed.name = "Copy paper, white".into();
        assert_ne!(owned_digest(&spec, &settings), owned_digest(&renamed, &settings));
        settings.owned_fields.retain(|f| f != "name");
        assert_eq!(owned_digest(&spec, &settings), owned_digest(&renamed, &settings), "name is the store's now");
        let mut repriced = spec.clone();
        repriced.sale_price = "5.49".into();
        assert_ne!(owned_digest(&spec, &settings), owned_digest(&repriced, &settings));
        assert_ne!(owned_digest(&spec, &settings), RETIRED);
    }

    #[test]
    fn updates_carry_only_owned_fields_and_creates_carry_all() {
        let settings = ProductSettings {
            owned_fields: vec!["regular_price".into(), "sale_price".into()],
            ..ProductSettings::default()
        };
        let spec = product_spec(&item("P-5"), None, &settings);
        let update = serde_json::to_value(update_write(40, &spec, Some(9), false, &settings)).expect("json");
        assert_eq!(update, json!({ "id": 40, "regular_price": "7.50", "sale_price": "5.99" }));
        let republish = update_write(40, &spec, Some(9), true, &settings);
        assert_eq!(republish.status.as_deref(), Some("publish"));
        let create = serde_json::to_value(create_write(&spec, Some(9), Some(12), "no")).expect("json");
        assert_eq!(create["categories"], json!([{ "id": 9 }]));
        assert_eq!((create["stock_quantity"].clone(), create["manage_stock"].clone()), (json!(12), json!(true)));
        assert_eq!(create["name"], json!("Copy paper"));
        let retire = serde_json::to_value(retire_write(40, &settings)).expect("json");
        assert_eq!(retire, json!({ "id": 40, "status": "draft" }));
    }
}
