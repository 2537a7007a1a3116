//! Counterpoint item to WooCommerce product, as pure functions: which items belong on the web, what their product
//! looks like, the digest that tells a sync whether anything it owns changed, and the writes it sends.
//!
//! Grid (matrix) items, `TRK_METH = 'G'`, are still synced as simple products; [`variable_spec`] is the mapping
//! that will make them variable products (one attribute per dimension, one variation per web cell), tested here and
//! not yet used by the sync.

use std::collections::BTreeMap;

use cpbridge_core::Sku;
use cpbridge_core::records::{CellLevel, GridDimValue, Item, ItemPrice};
use cpbridge_woo::model::{CategoryRef, ProductWrite};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::sync_settings::ProductSettings;

/// The product an item should be in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    pub sku: Sku,
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
        // A simple product's SKU is its item number.
        sku: Sku::from(&item.item_no),
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

/// A gridded item as a WooCommerce variable product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableSpec {
    /// One per dimension, in dimension order: the name (`GRID_DIM_n_TAG`, as a word) and the options shown
    /// (`DIM_n`, in `DIM_n_SEQ_NO` order).
    pub attributes: Vec<(String, Vec<String>)>,
    /// One per cell sold on the web, in the attributes' order.
    pub variations: Vec<VariationSpec>,
}

/// One grid cell as a variation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariationSpec {
    pub sku: Sku,
    /// `DIM_1_UPR..DIM_3_UPR` of the cell (`*` where unused).
    pub cell: [String; 3],
    /// `(attribute name, option)` per dimension.
    pub options: Vec<(String, String)>,
    pub regular_price: String,
    pub sale_price: String,
}

/// `SIZE` → `Size`.
fn attribute_name(tag: &str) -> String {
    let lower = tag.trim().to_lowercase();
    let mut chars = lower.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The variable product of a gridded item: its dimensions (`dims`), the cells sold on the web (a cell is on the web
/// when any location's row says so), and each cell's price from its `IM_PRC` row at the price location, else the
/// item's (`item_price`), as for a simple product.
pub fn variable_spec(
    item: &Item,
    dims: &[GridDimValue],
    cells: &[CellLevel],
    cell_prices: &[ItemPrice],
    item_price: Option<&ItemPrice>,
    skus: &cpbridge_core::records::VariationSkus,
) -> VariableSpec {
    let mut attributes = Vec::new();
    // Per dimension: its key values in display order, with their labels.
    let mut ordered: Vec<Vec<(String, String)>> = Vec::new();
    for dim in 1u8..=3 {
        let mut values: Vec<&GridDimValue> =
            dims.iter().filter(|d| d.dim == dim && d.item_no == item.item_no).collect();
        if values.is_empty() {
            continue;
        }
        values.sort_by(|a, b| (a.seq_no, &a.upr).cmp(&(b.seq_no, &b.upr)));
        let tag = item.extra.get(&format!("GRID_DIM_{dim}_TAG")).cloned().unwrap_or_else(|| format!("Dimension {dim}"));
        attributes.push((attribute_name(&tag), values.iter().map(|v| v.label.clone()).collect()));
        ordered.push(values.iter().map(|v| (v.upr.clone(), v.label.clone())).collect());
    }
    let mut web: BTreeMap<[String; 3], bool> = BTreeMap::new();
    for cell in cells.iter().filter(|c| c.item_no == item.item_no) {
        *web.entry(cell.dims.clone()).or_default() |= cell.is_ecomm;
    }
    let position = |cell: &[String; 3]| -> Vec<usize> {
        ordered
            .iter()
            .enumerate()
            .map(|(i, values)| values.iter().position(|(upr, _)| *upr == cell[i]).unwrap_or(usize::MAX))
            .collect()
    };
    let mut on_web: Vec<&[String; 3]> = web.iter().filter(|(_, on)| **on).map(|(cell, _)| cell).collect();
    on_web.sort_by_key(|cell| position(cell));
    let variations = on_web
        .into_iter()
        .map(|cell| {
            let price = cell_prices
                .iter()
                .find(|p| {
                    p.item_no == item.item_no
                        && [&p.dim_1_upr, &p.dim_2_upr, &p.dim_3_upr] == [&cell[0], &cell[1], &cell[2]]
                })
                .or(item_price);
            let (regular_price, sale_price) = prices(item, price);
            let options = attributes
                .iter()
                .zip(&ordered)
                .enumerate()
                .map(|(i, ((name, _), values))| {
                    let label = values.iter().find(|(upr, _)| *upr == cell[i]).map_or(&cell[i], |(_, label)| label);
                    (name.clone(), label.clone())
                })
                .collect();
            VariationSpec { sku: skus.sku(&item.item_no, cell), cell: cell.clone(), options, regular_price, sale_price }
        })
        .collect();
    VariableSpec { attributes, variations }
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
    crate::jobs::digest(&json!({ "sku": spec.sku, "fields": owned }))
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
    use cpbridge_core::records::{CellBarcode, VariationSkus};
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
            is_ecomm_item: true,
            is_txbl: true,
            tax_categ_cod: Some("FOOD".into()),
            weight: Some(dec!(2.300)),
            prc_1: dec!(5.99),
            reg_prc: dec!(7.5),
            lst_cost: Some(dec!(3)),
            prc_decs: 2,
            ..Item::default()
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
        // A digest reads back as what was sent, never as a retired or linked record.
        let sent = cpbridge_store::SyncRecord::sent("SKU", Some(1), owned_digest(&spec, &settings));
        assert!(matches!(sent.state(), cpbridge_store::SyncState::Sent(_)), "{sent:?}");
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

    #[test]
    fn a_grid_becomes_attributes_and_one_variation_per_web_cell() {
        let mut tee = item("APP-1");
        tee.trk_meth = Some("G".into());
        tee.extra.insert("GRID_DIM_1_TAG".into(), "SIZE".into());
        tee.extra.insert("GRID_DIM_2_TAG".into(), "COLOR".into());
        let dim = |d: u8, upr: &str, label: &str, seq: i64| GridDimValue {
            item_no: "APP-1".into(),
            dim: d,
            upr: upr.into(),
            label: label.into(),
            seq_no: seq,
        };
        // Stored out of order: the display order is DIM_n_SEQ_NO.
        let dims = [
            dim(1, "L", "L", 3),
            dim(1, "S", "S", 1),
            dim(1, "M", "M", 2),
            dim(2, "NAVY", "Navy", 2),
            dim(2, "BLACK", "Black", 1),
        ];
        let cell = |size: &str, colour: &str, loc: &str, web: bool| CellLevel {
            item_no: "APP-1".into(),
            loc_id: loc.into(),
            dims: [size.into(), colour.into(), "*".into()],
            qty_on_hnd: dec!(1),
            qty_commit: dec!(0),
            is_ecomm: web,
        };
        let mut cells = Vec::new();
        for size in ["S", "M", "L"] {
            for colour in ["BLACK", "NAVY"] {
                // L/NAVY is off the web everywhere; M/BLACK is off at one location only, so it is on the web.
                let everywhere_off = size == "L" && colour == "NAVY";
                let off_at_main = everywhere_off || (size == "M" && colour == "BLACK");
                cells.push(cell(size, colour, "MAIN", !off_at_main));
                cells.push(cell(size, colour, "LOC2", !everywhere_off));
            }
        }
        let dearer = ItemPrice {
            item_no: "APP-1".into(),
            loc_id: "MAIN".into(),
            dim_1_upr: "L".into(),
            dim_2_upr: "BLACK".into(),
            dim_3_upr: "*".into(),
            reg_prc: Some(dec!(9.5)),
            prc: [Some(dec!(9.5)), None, None, None, None, None],
            rs_utc_dt: None,
        };
        let spec = variable_spec(&tee, &dims, &cells, std::slice::from_ref(&dearer), None, &VariationSkus::by_label());
        assert_eq!(
            spec.attributes,
            vec![
                ("Size".to_owned(), vec!["S".to_owned(), "M".to_owned(), "L".to_owned()]),
                ("Color".to_owned(), vec!["Black".to_owned(), "Navy".to_owned()]),
            ]
        );
        let skus: Vec<&str> = spec.variations.iter().map(|v| v.sku.as_str()).collect();
        assert_eq!(skus, ["APP-1-S-BLACK", "APP-1-S-NAVY", "APP-1-M-BLACK", "APP-1-M-NAVY", "APP-1-L-BLACK"]);
        let large = &spec.variations[4];
        assert_eq!(large.options, vec![("Size".to_owned(), "L".to_owned()), ("Color".to_owned(), "Black".to_owned())]);
        // The cell's own price row (9.50); the others the item's (PRC_1 5.99 below REG_PRC 7.50: on sale).
        assert_eq!((large.regular_price.as_str(), large.sale_price.as_str()), ("9.50", ""));
        assert_eq!(
            (spec.variations[0].regular_price.as_str(), spec.variations[0].sale_price.as_str()),
            ("7.50", "5.99")
        );
        // Under the barcode rule, a cell with a barcode is sold under it; one without keeps ITEM-DIM1-DIM2.
        let barcode = |size: &str, code: &str| CellBarcode {
            item_no: "APP-1".into(),
            dims: [size.into(), "BLACK".into(), "*".into()],
            barcode: code.into(),
        };
        let by_barcode =
            VariationSkus::from_barcodes([barcode("S", "2000001"), barcode("S", "2000009"), barcode("L", "2000003")]);
        let spec = variable_spec(&tee, &dims, &cells, &[dearer], None, &by_barcode);
        let skus: Vec<&str> = spec.variations.iter().map(|v| v.sku.as_str()).collect();
        assert_eq!(skus, ["2000001", "APP-1-S-NAVY", "APP-1-M-BLACK", "APP-1-M-NAVY", "2000003"]);
    }
}
