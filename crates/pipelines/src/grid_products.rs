//! Gridded items as WooCommerce variable products (`products.grid_variations`, off by default until variations made
//! by hand are adopted too; orders for a variation are booked on their cell, the stock syncs keep each variation's
//! stock on its cell's, and the pricing API prices a variation from its cell).
//!
//! A gridded item (`TRK_METH = 'G'`) on the web becomes a variable product with one attribute per dimension, and each
//! of its cells on the web a variation (SKU `ITEM_NO-DIM1-DIM2`), priced from the cell's `IM_PRC` row. The parent is
//! written alone (a create, or an update that also turns an earlier simple product into a variable one); its
//! variations go in batches of 100 on the parent's `variations/batch` endpoint. What was sent is kept per variation
//! with a digest, as for simple products, so an unchanged grid costs nothing and a killed run resumes; a cell that
//! left the web is set private, never deleted. New variations start with the cell's web stock.

use std::collections::{HashMap, HashSet};

use cpbridge_core::inventory::{unapplied_by_sku, web_stock};
use cpbridge_core::records::{CellLevel, InventoryLevel, Item, ItemPrice};
use cpbridge_store::SyncRecord;
use cpbridge_woo::model::{BatchWrite, ProductWrite};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::jobs::{PipelineError, Ports, now};
use crate::product_map::{self, ProductSpec, RETIRED, VariationSpec};
use crate::products::{PRODUCT_RECORDS, ProductReport};
use crate::sync_settings::{InventorySettings, ProductSettings};

/// Sync-record family of variations: variation SKU → variation id, with the digest of what was sent.
pub const VARIATION_RECORDS: &str = "variation";

/// The digest of a variable parent starts with this, so the stock syncs know to leave it to its variations.
pub const VARIABLE_DIGEST_PREFIX: &str = "variable:";

fn short_hash(value: &Value) -> String {
    Sha256::digest(value.to_string().as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn attributes_json(attributes: &[(String, Vec<String>)]) -> Value {
    Value::Array(
        attributes
            .iter()
            .enumerate()
            .map(|(i, (name, options))| {
                json!({ "name": name, "position": i, "visible": true, "variation": true, "options": options })
            })
            .collect(),
    )
}

fn variation_write(v: &VariationSpec, id: Option<u64>, stock: Option<i64>, backorders: &str) -> ProductWrite {
    let mut write = ProductWrite {
        id,
        sku: Some(v.sku.clone()),
        regular_price: Some(v.regular_price.clone()),
        sale_price: Some(v.sale_price.clone()),
        status: Some("publish".into()),
        ..ProductWrite::default()
    };
    let options: Vec<Value> =
        v.options.iter().map(|(name, option)| json!({ "name": name, "option": option })).collect();
    write.extra.insert("attributes".into(), Value::Array(options));
    if id.is_none() {
        write.manage_stock = Some(true);
        write.stock_quantity = stock;
        write.backorders = Some(backorders.to_owned());
    }
    write
}

/// The prices a grid's variations are made from, at the price location.
pub struct GridPrices<'a> {
    /// The items' own rows (`DIM_n_UPR = '*'`), by item.
    pub items: &'a HashMap<String, ItemPrice>,
    /// The cells' own rows.
    pub cells: &'a [ItemPrice],
}

/// Syncs the gridded items in `grids` (all of them on the web) as variable products.
///
/// # Errors
/// When Counterpoint, the state store or WooCommerce fails as a whole; a refused product or variation is named in the
/// report and tried again next run.
pub async fn sync_grids(
    ports: &Ports,
    settings: &ProductSettings,
    inventory: &InventorySettings,
    grids: &[&Item],
    prices: GridPrices<'_>,
    dead_hold: chrono::Duration,
    report: &mut ProductReport,
) -> Result<(), PipelineError> {
    if grids.is_empty() {
        return Ok(());
    }
    let item_nos: Vec<String> = grids.iter().map(|i| i.item_no.clone()).collect();
    let dims = ports.cp.grid_dims(&item_nos).await?;
    let cells = ports.cp.cell_levels(&item_nos, &inventory.web_locations).await?;
    // Each cell's stock to start its variation with, as the stock syncs compute it (unapplied web orders held back).
    let levels: Vec<InventoryLevel> = cells.iter().map(CellLevel::variation_level).collect();
    let mut skus: Vec<String> = levels.iter().map(|l| l.item_no.clone()).collect();
    skus.sort();
    skus.dedup();
    let unapplied = unapplied_by_sku(&crate::inventory::held_lines(ports.cp.as_ref(), dead_hold).await?);
    let stock: HashMap<String, i64> =
        web_stock(&skus, &levels, &inventory.web_locations, &unapplied, inventory.buffer).into_iter().collect();
    let parents: HashMap<String, SyncRecord> = ports
        .store
        .sync_records_for(PRODUCT_RECORDS, &item_nos)
        .await?
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    let known: HashMap<String, SyncRecord> =
        ports.store.sync_records(VARIATION_RECORDS).await?.into_iter().map(|r| (r.key.clone(), r)).collect();
    for item in grids {
        let spec: ProductSpec = product_map::product_spec(item, prices.items.get(&item.item_no), settings);
        let variable = product_map::variable_spec(item, &dims, &cells, prices.cells, prices.items.get(&item.item_no));
        let digest = format!(
            "{VARIABLE_DIGEST_PREFIX}{}",
            short_hash(&json!([product_map::owned_digest(&spec, settings), attributes_json(&variable.attributes)]))
        );
        // The parent: created, or updated (into a variable product) when what Counterpoint owns changed.
        let parent = parents.get(&item.item_no);
        let parent_id = match parent {
            Some(SyncRecord { woo_id: Some(id), hash, .. }) if *hash == digest => *id,
            Some(SyncRecord { woo_id: Some(id), hash, .. }) => {
                let mut write = product_map::update_write(*id, &spec, None, hash == RETIRED, settings);
                write.kind = Some("variable".into());
                write.regular_price = None;
                write.sale_price = None;
                write.manage_stock = Some(false);
                write.extra.insert("attributes".into(), attributes_json(&variable.attributes));
                match ports.woo.update_product(*id, &write).await {
                    Ok(_) => report.updated += 1,
                    Err(e) => {
                        report.failures.fail(format!("SKU {}: variable product not updated: {e}", item.item_no));
                        continue;
                    }
                }
                *id
            }
            _ => {
                let mut write = product_map::create_write(&spec, None, None, &inventory.backorders);
                write.kind = Some("variable".into());
                write.regular_price = None;
                write.sale_price = None;
                write.manage_stock = Some(false);
                write.stock_status = None;
                write.extra.insert("attributes".into(), attributes_json(&variable.attributes));
                match ports.woo.create_product(&write).await {
                    Ok(product) => {
                        report.created += 1;
                        product.id
                    }
                    Err(e) => {
                        report.failures.fail(format!("SKU {}: variable product not created: {e}", item.item_no));
                        continue;
                    }
                }
            }
        };
        let record = SyncRecord { key: item.item_no.clone(), woo_id: Some(parent_id), hash: digest };
        ports.store.put_sync_records(PRODUCT_RECORDS, &[record], now()).await?;
        sync_variations(ports, settings, inventory, item, parent_id, &variable.variations, &stock, &known, report)
            .await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn sync_variations(
    ports: &Ports,
    settings: &ProductSettings,
    inventory: &InventorySettings,
    item: &Item,
    parent_id: u64,
    variations: &[VariationSpec],
    stock: &HashMap<String, i64>,
    known: &HashMap<String, SyncRecord>,
    report: &mut ProductReport,
) -> Result<(), PipelineError> {
    let digest_of = |v: &VariationSpec| {
        short_hash(
            &json!({ "parent": parent_id, "options": v.options, "regular": v.regular_price, "sale": v.sale_price }),
        )
    };
    let skus: Vec<String> = variations.iter().map(|v| v.sku.clone()).collect();

    let mut creates: Vec<(&VariationSpec, String)> = Vec::new();
    let mut updates: Vec<(&VariationSpec, u64, String)> = Vec::new();
    for v in variations {
        let digest = digest_of(v);
        match known.get(&v.sku) {
            Some(SyncRecord { hash, .. }) if *hash == digest => report.unchanged += 1,
            Some(SyncRecord { woo_id: Some(id), .. }) => updates.push((v, *id, digest)),
            _ => creates.push((v, digest)),
        }
    }
    // Cells that left the web (or the grid): their variations are made private.
    let current: HashSet<&str> = skus.iter().map(String::as_str).collect();
    let prefix = format!("{}-", item.item_no);
    let retire: Vec<(&String, u64)> = known
        .values()
        .filter(|r| r.key.starts_with(&prefix) && !current.contains(r.key.as_str()) && r.hash != RETIRED)
        .filter_map(|r| Some((&r.key, r.woo_id?)))
        .collect();
    let batch = settings.batch_size.clamp(1, 100);
    let mut creates = creates.into_iter().peekable();
    let mut updates = updates.into_iter().peekable();
    let mut retire = retire.into_iter().peekable();
    while creates.peek().is_some() || updates.peek().is_some() || retire.peek().is_some() {
        let mut write = BatchWrite::default();
        let mut created = Vec::new();
        let mut changed: Vec<SyncRecord> = Vec::new();
        while write.create.len() + write.update.len() < batch {
            if let Some((v, digest)) = creates.next() {
                write.create.push(variation_write(v, None, stock.get(&v.sku).copied(), &inventory.backorders));
                created.push((v.sku.clone(), digest));
            } else if let Some((v, id, digest)) = updates.next() {
                write.update.push(variation_write(v, Some(id), None, &inventory.backorders));
                changed.push(SyncRecord { key: v.sku.clone(), woo_id: Some(id), hash: digest });
            } else if let Some((sku, id)) = retire.next() {
                write.update.push(ProductWrite {
                    id: Some(id),
                    status: Some("private".into()),
                    ..ProductWrite::default()
                });
                changed.push(SyncRecord { key: sku.clone(), woo_id: Some(id), hash: RETIRED.to_owned() });
            } else {
                break;
            }
        }
        let outcome = ports.woo.batch_variations(parent_id, write).await?;
        report.batch_requests += outcome.requests;
        let mut done = Vec::new();
        for ((sku, digest), result) in created.into_iter().zip(&outcome.created) {
            match result {
                Ok(variation) => {
                    report.created += 1;
                    done.push(SyncRecord { key: sku, woo_id: Some(variation.id), hash: digest });
                }
                Err(e) => report.failures.fail(format!("SKU {sku}: variation not created: {}: {}", e.code, e.message)),
            }
        }
        for (record, result) in changed.into_iter().zip(&outcome.updated) {
            match result {
                Ok(_) if record.hash == RETIRED => {
                    report.retired += 1;
                    done.push(record);
                }
                Ok(_) => {
                    report.updated += 1;
                    done.push(record);
                }
                Err(e) => report
                    .failures
                    .fail(format!("SKU {}: variation not updated: {}: {}", record.key, e.code, e.message)),
            }
        }
        ports.store.put_sync_records(VARIATION_RECORDS, &done, now()).await?;
    }
    Ok(())
}
