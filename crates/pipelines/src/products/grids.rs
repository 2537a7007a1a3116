//! Gridded items as WooCommerce variable products (`products.grid_variations`, on by default; orders for a variation
//! are booked on their cell, the stock syncs keep each variation's stock on its cell's, and the pricing API prices a
//! variation from its cell).
//!
//! A gridded item (`TRK_METH = 'G'`) on the web becomes a variable product with one attribute per dimension, and each
//! of its cells on the web a variation (SKU by `products.variation_sku`), priced from the cell's `IM_PRC` row. Items
//! go in rounds of 100: parents in `products/batch` requests (a create refused for a duplicate SKU adopts the holder),
//! then each parent's variations in batches of 100 on its `variations/batch` endpoint. What was sent is kept per
//! variation with a digest, as for simple products, so an unchanged grid costs nothing and a killed run resumes. A
//! parent's variations in the store are listed only when its set of SKUs changed: one with a cell's SKU cpbridge has
//! no record of is adopted, one no web cell stands for is set private, never deleted. New variations start with the
//! cell's web stock.

use std::collections::HashMap;

use cpbridge_core::Sku;
use cpbridge_core::inventory::{unapplied_by_sku, web_stock};
use cpbridge_core::records::{CellLevel, GridDimValue, InventoryLevel, Item, ItemPrice};
use cpbridge_store::{SyncRecord, SyncState};
use cpbridge_woo::model::{BatchWrite, ProductWrite};
use futures_util::TryStreamExt as _;
use serde_json::{Value, json};

use super::ProductReport;
use crate::catalog::{PRODUCT_RECORDS, STOCK_RECORDS, VARIATION_RECORDS, held_lines, variation_skus};
use crate::jobs::{PipelineError, Ports, digest, now};
use crate::product_map::{self, ProductSpec, VariationSpec};
use crate::sync_settings::{InventorySettings, ProductSettings};

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

/// What the grid sync looks up: the prices a grid's variations are made from (at the price location), and the
/// store's categories.
pub struct GridLookups<'a> {
    /// The items' own rows (`DIM_n_UPR = '*'`), by item.
    pub items: &'a HashMap<String, ItemPrice>,
    /// The cells' own rows.
    pub cells: &'a [ItemPrice],
    /// Category name → WooCommerce category id.
    pub categories: &'a HashMap<String, u64>,
}

/// Sync-record family of a variable product's set of variations: `ITEM_NO` → digest of its variation SKUs. The
/// store's variations are listed (to adopt those made by hand and retire those no cell stands for) only when it
/// changed, so an unchanged grid costs no request.
pub const VARIATION_SET_RECORDS: &str = "variation-set";

/// Gridded items read and written per round, so memory stays bounded by a round, not the catalogue.
const PARENTS_PER_ROUND: usize = 100;

/// A gridded item's parent product and variations, as Counterpoint says they should be.
struct GridPlan<'a> {
    item: &'a Item,
    spec: ProductSpec,
    variable: product_map::VariableSpec,
    digest: String,
}

/// What the parent write did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ParentFate {
    /// Created by this run: it has no variations yet.
    Created,
    /// Known, adopted or updated: its variations in the store may differ from the records.
    Existing,
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
    lookups: GridLookups<'_>,
    dead_hold: chrono::Duration,
    report: &mut ProductReport,
) -> Result<(), PipelineError> {
    if grids.is_empty() {
        return Ok(());
    }
    let mut cell_prices: HashMap<&str, Vec<ItemPrice>> = HashMap::new();
    for price in lookups.cells {
        cell_prices.entry(price.item_no.as_str()).or_default().push(price.clone());
    }
    let unapplied = unapplied_by_sku(&held_lines(ports.cp.as_ref(), dead_hold).await?);
    for round in grids.chunks(PARENTS_PER_ROUND) {
        let item_nos: Vec<String> = round.iter().map(|i| i.item_no.clone()).collect();
        let mut dims: HashMap<String, Vec<GridDimValue>> = HashMap::new();
        for dim in ports.cp.grid_dims(&item_nos).await? {
            dims.entry(dim.item_no.clone()).or_default().push(dim);
        }
        let cells = ports.cp.cell_levels(&item_nos, &inventory.web_locations).await?;
        let mut cells_of: HashMap<&str, Vec<CellLevel>> = HashMap::new();
        for cell in &cells {
            cells_of.entry(cell.item_no.as_str()).or_default().push(cell.clone());
        }
        let variation_skus = variation_skus(ports.cp.as_ref(), settings.variation_sku, &item_nos).await?;
        // Each cell's stock to start its variation with, as the stock syncs compute it (unapplied orders held back).
        let levels: Vec<InventoryLevel> = cells.iter().map(|c| c.variation_level(&variation_skus)).collect();
        let mut skus: Vec<Sku> = levels.iter().map(|l| Sku::from(&l.item_no)).collect();
        skus.sort();
        skus.dedup();
        let stock: HashMap<Sku, i64> =
            web_stock(&skus, &levels, &inventory.web_locations, &unapplied, inventory.buffer).into_iter().collect();
        let plans: Vec<GridPlan> = round
            .iter()
            .map(|item| {
                let spec = product_map::product_spec(item, lookups.items.get(&item.item_no), settings);
                let variable = product_map::variable_spec(
                    item,
                    dims.get(&item.item_no).map_or(&[], Vec::as_slice),
                    cells_of.get(item.item_no.as_str()).map_or(&[], Vec::as_slice),
                    cell_prices.get(item.item_no.as_str()).map_or(&[], Vec::as_slice),
                    lookups.items.get(&item.item_no),
                    &variation_skus,
                );
                // A variable parent has no price of its own: its variations carry the prices, so a price change
                // writes them and leaves the parent alone.
                let unpriced = ProductSpec { regular_price: String::new(), sale_price: String::new(), ..spec.clone() };
                let owned = product_map::owned_digest(&unpriced, settings);
                // Stored as a variable parent's, so the stock syncs leave its stock to its variations.
                let digest =
                    SyncRecord::variable_digest(&digest(&json!([owned, attributes_json(&variable.attributes)])));
                GridPlan { item, spec, variable, digest }
            })
            .collect();
        let parents = write_parents(ports, settings, inventory, &plans, lookups.categories, report).await?;
        let variation_skus: Vec<String> =
            plans.iter().flat_map(|p| p.variable.variations.iter().map(|v| v.sku.to_string())).collect();
        let mut known: HashMap<String, SyncRecord> = ports
            .store
            .sync_records_for(VARIATION_RECORDS, &variation_skus)
            .await?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        let sets: HashMap<String, String> = ports
            .store
            .sync_records_for(VARIATION_SET_RECORDS, &item_nos)
            .await?
            .into_iter()
            .map(|r| (r.key, r.hash))
            .collect();
        for plan in &plans {
            let Some(&(parent_id, fate)) = parents.get(&plan.item.item_no) else { continue };
            let mut current: Vec<&str> = plan.variable.variations.iter().map(|v| v.sku.as_str()).collect();
            current.sort_unstable();
            let set_digest = digest(&json!([parent_id, current]));
            let mut retire = Vec::new();
            if fate == ParentFate::Existing && sets.get(&plan.item.item_no) != Some(&set_digest) {
                retire = match_store_variations(ports, plan, parent_id, &current, &mut known, report).await?;
            }
            let ok = sync_variations(
                ports,
                settings,
                inventory,
                parent_id,
                &plan.variable.variations,
                &retire,
                &stock,
                &known,
                report,
            )
            .await?;
            if ok {
                let record = SyncRecord::sent(plan.item.item_no.clone(), Some(parent_id), set_digest);
                ports.store.put_sync_records(VARIATION_SET_RECORDS, &[record], now()).await?;
            }
        }
    }
    Ok(())
}

/// Creates, adopts or updates the parents of a round, in batches. Returns each parent's id and what became of it.
async fn write_parents(
    ports: &Ports,
    settings: &ProductSettings,
    inventory: &InventorySettings,
    plans: &[GridPlan<'_>],
    categories: &HashMap<String, u64>,
    report: &mut ProductReport,
) -> Result<HashMap<String, (u64, ParentFate)>, PipelineError> {
    let category_of = |plan: &GridPlan| plan.spec.category.as_ref().and_then(|c| categories.get(c)).copied();
    let item_nos: Vec<String> = plans.iter().map(|p| p.item.item_no.clone()).collect();
    let records: HashMap<String, SyncRecord> = ports
        .store
        .sync_records_for(PRODUCT_RECORDS, &item_nos)
        .await?
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    let mut ids: HashMap<String, (u64, ParentFate)> = HashMap::new();
    let mut creates: Vec<&GridPlan> = Vec::new();
    // (plan, product id, was retired, adopted)
    let mut updates: Vec<(&GridPlan, u64, bool, bool)> = Vec::new();
    for plan in plans {
        match records.get(&plan.item.item_no) {
            Some(SyncRecord { woo_id: Some(id), hash, .. }) if *hash == plan.digest => {
                ids.insert(plan.item.item_no.clone(), (*id, ParentFate::Existing));
            }
            Some(record @ SyncRecord { woo_id: Some(id), .. }) => {
                updates.push((plan, *id, record.is_retired(), record.state() == SyncState::Linked))
            }
            _ => creates.push(plan),
        }
    }
    let batch = settings.batch_size.clamp(1, 100);
    let mut done: Vec<SyncRecord> = Vec::new();
    for chunk in creates.chunks(batch) {
        let create = chunk
            .iter()
            .map(|plan| {
                let mut write = product_map::create_write(&plan.spec, category_of(plan), None, &inventory.backorders);
                make_variable(&mut write, &plan.variable);
                write.stock_status = None;
                write
            })
            .collect();
        let outcome = ports.woo.batch_products(BatchWrite { create, ..BatchWrite::default() }).await?;
        report.batch_requests += outcome.requests;
        for (plan, result) in chunk.iter().zip(&outcome.created) {
            match result {
                Ok(product) => {
                    report.created += 1;
                    ids.insert(plan.item.item_no.clone(), (product.id, ParentFate::Created));
                    done.push(SyncRecord::sent(plan.item.item_no.clone(), Some(product.id), plan.digest.clone()));
                }
                // A product made by hand (or by a run killed before it kept the id) holds the SKU: adopt it.
                Err(e) if e.existing_id.is_some() => {
                    updates.push((plan, e.existing_id.unwrap_or_default(), false, true));
                }
                Err(e) => report.failures.fail(format!(
                    "SKU {}: variable product not created: {}: {}",
                    plan.item.item_no, e.code, e.message
                )),
            }
        }
        ports.store.put_sync_records(PRODUCT_RECORDS, &std::mem::take(&mut done), now()).await?;
    }
    let mut forget = Vec::new();
    for chunk in updates.chunks(batch) {
        let update = chunk
            .iter()
            .map(|(plan, id, was_retired, _)| {
                let mut write = product_map::update_write(*id, &plan.spec, category_of(plan), *was_retired, settings);
                make_variable(&mut write, &plan.variable);
                write
            })
            .collect();
        let outcome = ports.woo.batch_products(BatchWrite { update, ..BatchWrite::default() }).await?;
        report.batch_requests += outcome.requests;
        for ((plan, id, _, adopted), result) in chunk.iter().zip(&outcome.updated) {
            match result {
                Ok(_) => {
                    if *adopted {
                        report.adopted += 1;
                    } else {
                        report.updated += 1;
                    }
                    ids.insert(plan.item.item_no.clone(), (*id, ParentFate::Existing));
                    done.push(SyncRecord::sent(plan.item.item_no.clone(), Some(*id), plan.digest.clone()));
                }
                Err(e) if e.code.ends_with("_invalid_id") => {
                    // Deleted in WooCommerce: forgotten, and created again next run.
                    forget.push(plan.item.item_no.clone());
                    report.failures.fail(format!(
                        "SKU {}: product {id} is gone from WooCommerce; it will be recreated",
                        plan.item.item_no
                    ));
                }
                Err(e) => report.failures.fail(format!(
                    "SKU {}: variable product not updated: {}: {}",
                    plan.item.item_no, e.code, e.message
                )),
            }
        }
        ports.store.put_sync_records(PRODUCT_RECORDS, &std::mem::take(&mut done), now()).await?;
    }
    if !forget.is_empty() {
        ports.store.delete_sync_records(PRODUCT_RECORDS, &forget).await?;
    }
    Ok(ids)
}

/// Turns a product write into a variable product's: no price or stock of its own, one attribute per dimension.
fn make_variable(write: &mut ProductWrite, variable: &product_map::VariableSpec) {
    write.kind = Some("variable".into());
    write.regular_price = None;
    write.sale_price = None;
    write.stock_quantity = None;
    write.backorders = None;
    write.manage_stock = Some(false);
    write.extra.insert("attributes".into(), attributes_json(&variable.attributes));
}

/// Reads the parent's variations in the store: one whose SKU is a cell's and that cpbridge has no record of (made by
/// hand, or by a run killed before it kept the id) is adopted; one no web cell stands for is returned to be made
/// private.
async fn match_store_variations(
    ports: &Ports,
    plan: &GridPlan<'_>,
    parent_id: u64,
    current: &[&str],
    known: &mut HashMap<String, SyncRecord>,
    report: &mut ProductReport,
) -> Result<Vec<(Sku, u64)>, PipelineError> {
    let in_store: Vec<cpbridge_woo::model::Variation> = ports.woo.variations(parent_id).try_collect().await?;
    let mut retire = Vec::new();
    for variation in in_store {
        if current.binary_search(&variation.sku.as_str()).is_ok() {
            if known.get(variation.sku.as_str()).and_then(|r| r.woo_id) != Some(variation.id) {
                report.adopted += 1;
                // An empty digest sends every field on this run.
                known.insert(variation.sku.to_string(), SyncRecord::linked(variation.sku.clone(), variation.id));
            }
        } else if variation.extra.get("status").and_then(Value::as_str) != Some("private") {
            tracing::info!(
                item = %plan.item.item_no,
                sku = %variation.sku,
                variation = variation.id,
                "no web cell stands for this variation; making it private"
            );
            retire.push((variation.sku, variation.id));
        }
    }
    Ok(retire)
}

/// Writes a parent's variations: creates, updates of what changed, and `retire` made private. Returns whether every
/// write landed.
#[allow(clippy::too_many_arguments)]
async fn sync_variations(
    ports: &Ports,
    settings: &ProductSettings,
    inventory: &InventorySettings,
    parent_id: u64,
    variations: &[VariationSpec],
    retire: &[(Sku, u64)],
    stock: &HashMap<Sku, i64>,
    known: &HashMap<String, SyncRecord>,
    report: &mut ProductReport,
) -> Result<bool, PipelineError> {
    let digest_of = |v: &VariationSpec| {
        digest(&json!({ "parent": parent_id, "options": v.options, "regular": v.regular_price, "sale": v.sale_price }))
    };
    let mut creates: Vec<(&VariationSpec, String)> = Vec::new();
    let mut updates: Vec<(&VariationSpec, u64, String)> = Vec::new();
    for v in variations {
        let digest = digest_of(v);
        match known.get(v.sku.as_str()) {
            Some(SyncRecord { hash, .. }) if *hash == digest => report.unchanged += 1,
            Some(SyncRecord { woo_id: Some(id), .. }) => updates.push((v, *id, digest)),
            _ => creates.push((v, digest)),
        }
    }
    let batch = settings.batch_size.clamp(1, 100);
    let mut all_landed = true;
    let mut creates = creates.into_iter().peekable();
    let mut updates = updates.into_iter().peekable();
    let mut retire = retire.iter().peekable();
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
                changed.push(SyncRecord::sent(v.sku.clone(), Some(id), digest));
            } else if let Some((sku, id)) = retire.next() {
                write.update.push(ProductWrite {
                    id: Some(*id),
                    status: Some("private".into()),
                    ..ProductWrite::default()
                });
                changed.push(SyncRecord::retired(sku.clone(), *id));
            } else {
                break;
            }
        }
        let outcome = ports.woo.batch_variations(parent_id, write).await?;
        report.batch_requests += outcome.requests;
        let mut done = Vec::new();
        let mut stocked = Vec::new();
        for ((sku, digest), result) in created.into_iter().zip(&outcome.created) {
            match result {
                Ok(variation) => {
                    report.created += 1;
                    // The stock it was created with is what was last pushed: the stock events compare with it.
                    if let Some(quantity) = stock.get(&sku) {
                        stocked.push(SyncRecord::sent(sku.clone(), Some(variation.id), quantity.to_string()));
                    }
                    done.push(SyncRecord::sent(sku, Some(variation.id), digest));
                }
                Err(e) => {
                    all_landed = false;
                    let holder =
                        e.existing_id.map(|id| format!(" (held by product or variation {id})")).unwrap_or_default();
                    report
                        .failures
                        .fail(format!("SKU {sku}: variation not created: {}: {}{holder}", e.code, e.message));
                }
            }
        }
        for (record, result) in changed.into_iter().zip(&outcome.updated) {
            match result {
                Ok(_) if record.is_retired() => {
                    report.retired += 1;
                    done.push(record);
                }
                Ok(_) => {
                    report.updated += 1;
                    done.push(record);
                }
                Err(e) => {
                    all_landed = false;
                    report
                        .failures
                        .fail(format!("SKU {}: variation not updated: {}: {}", record.key, e.code, e.message));
                }
            }
        }
        // A retired record is kept only for a variation a cell stood for; one made by hand without a SKU has none.
        done.retain(|r| !r.key.is_empty());
        ports.store.put_sync_records(VARIATION_RECORDS, &done, now()).await?;
        ports.store.put_sync_records(STOCK_RECORDS, &stocked, now()).await?;
    }
    Ok(all_landed)
}
