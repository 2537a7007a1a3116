//! The product sync: Counterpoint items to WooCommerce products, sending only what changed.
//!
//! Each run reads every item (and its price at the price location), maps it with [`crate::product_map`], and
//! compares the digest of the fields Counterpoint owns with the one stored when it was last pushed. New items are
//! created, changed ones updated in the owned fields only, and items that left the web are set to the retired
//! status; nothing is ever deleted. Writes go in batches of at most 100, and each batch's results are stored before
//! the next is sent, so a run that is killed resumes where it stopped. A create that meets an existing SKU adopts
//! that product (WooCommerce names it in the error) and updates it instead.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDateTime;
use cpbridge_core::Sku;
use cpbridge_core::inventory::{unapplied_by_sku, web_stock};
use cpbridge_core::records::{Item, ItemPrice};
use cpbridge_counterpoint::port::watermark_after;
use cpbridge_counterpoint::{CounterpointPort, CpResult};
use cpbridge_store::{SyncRecord, SyncState};
use cpbridge_woo::model::BatchWrite;
use futures_util::TryStreamExt as _;
use serde::Serialize;

use crate::catalog::{PAGE, PRODUCT_RECORDS, STOCK_RECORDS, all_items, held_lines, scan};
use crate::jobs::{PipelineError, Ports, RecordFailures, now};
use crate::product_map::{self, ProductSpec};
use crate::sync_settings::{InventorySettings, ProductSettings};

pub mod grids;

/// Sync-record family of WooCommerce categories: name → id.
pub const CATEGORY_RECORDS: &str = "category";

async fn all_prices(cp: &Arc<dyn CounterpointPort>) -> CpResult<Vec<ItemPrice>> {
    scan(
        |wm| {
            let cp = cp.clone();
            async move { cp.prices_changed_since(&wm, PAGE).await }
        },
        |p: &ItemPrice| {
            watermark_after(p.rs_utc_dt, &[&p.item_no, &p.loc_id, &p.dim_1_upr, &p.dim_2_upr, &p.dim_3_upr])
        },
    )
    .await
}

/// Counts of one product sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProductReport {
    pub items: usize,
    pub on_web: usize,
    pub created: usize,
    pub updated: usize,
    /// Existing WooCommerce products that already held a Counterpoint SKU, now synced.
    pub adopted: usize,
    pub retired: usize,
    pub unchanged: usize,
    pub categories_created: usize,
    /// Batch requests sent (each holds at most 100 products).
    pub batch_requests: usize,
    /// Records refused this run (tried again next run), each named.
    #[serde(flatten)]
    pub failures: RecordFailures,
}

/// One write the sync decided on.
#[derive(Debug, Clone)]
enum ProductOp {
    Create { spec: ProductSpec, digest: String },
    Update { id: u64, spec: ProductSpec, digest: String, was_retired: bool, adopted: bool },
    Retire { sku: String, id: u64 },
}

impl ProductOp {
    fn sku(&self) -> &str {
        match self {
            ProductOp::Create { spec, .. } | ProductOp::Update { spec, .. } => &spec.sku,
            ProductOp::Retire { sku, .. } => sku,
        }
    }
}

/// The product sync over its ports.
pub struct ProductSync {
    ports: Ports,
    settings: ProductSettings,
    inventory: InventorySettings,
    dead_hold: chrono::Duration,
}

impl ProductSync {
    /// `dead_hold`: how long a `DEAD` order keeps holding its stock (`orders.dead_hold_hours`).
    pub fn new(
        ports: Ports,
        settings: ProductSettings,
        inventory: InventorySettings,
        dead_hold: chrono::Duration,
    ) -> Self {
        ProductSync { ports, settings, inventory, dead_hold }
    }

    /// One full pass: every item compared, only what changed sent.
    ///
    /// # Errors
    /// When Counterpoint or the state store fails, or WooCommerce refuses the credentials. A product WooCommerce
    /// refuses is counted and named in the report, and tried again next run.
    pub async fn run_once(&self) -> Result<ProductReport, PipelineError> {
        let mut report = ProductReport::default();
        let items = all_items(&self.ports.cp).await?;
        // The price location's rows, read once: the items' own (`DIM_n_UPR = '*'`) and the grid cells'.
        let mut prices: HashMap<String, ItemPrice> = HashMap::new();
        let mut cell_prices: Vec<ItemPrice> = Vec::new();
        let location = self.settings.price_location.trim();
        if !location.is_empty() {
            for price in all_prices(&self.ports.cp).await?.into_iter().filter(|p| p.loc_id == location) {
                if price.dim_1_upr == "*" && price.dim_2_upr == "*" && price.dim_3_upr == "*" {
                    prices.insert(price.item_no.clone(), price);
                } else if self.settings.grid_variations {
                    cell_prices.push(price);
                }
            }
        }
        let records: HashMap<String, SyncRecord> =
            self.ports.store.sync_records(PRODUCT_RECORDS).await?.into_iter().map(|r| (r.key.clone(), r)).collect();
        report.items = items.len();

        let mut ops = Vec::new();
        let mut seen: HashSet<&str> = HashSet::with_capacity(items.len());
        let mut grids: Vec<&Item> = Vec::new();
        for item in &items {
            seen.insert(item.item_no.as_str());
            let record = records.get(&item.item_no);
            if self.settings.grid_variations && item.trk_meth.as_deref() == Some("G") && product_map::on_web(item) {
                report.on_web += 1;
                grids.push(item);
                continue;
            }
            if !product_map::on_web(item) {
                if let Some(record @ SyncRecord { woo_id: Some(id), .. }) = record
                    && !record.is_retired()
                {
                    ops.push(ProductOp::Retire { sku: item.item_no.clone(), id: *id });
                }
                continue;
            }
            report.on_web += 1;
            let spec = product_map::product_spec(item, prices.get(&item.item_no), &self.settings);
            let digest = product_map::owned_digest(&spec, &self.settings);
            match record {
                Some(SyncRecord { hash, .. }) if *hash == digest => report.unchanged += 1,
                Some(record @ SyncRecord { woo_id: Some(id), .. }) => ops.push(ProductOp::Update {
                    id: *id,
                    spec,
                    digest,
                    was_retired: record.is_retired(),
                    adopted: record.state() == SyncState::Linked,
                }),
                _ => ops.push(ProductOp::Create { spec, digest }),
            }
        }
        // Items deleted from Counterpoint leave the web too.
        for record in records.values() {
            if !seen.contains(record.key.as_str())
                && !record.is_retired()
                && let Some(id) = record.woo_id
            {
                ops.push(ProductOp::Retire { sku: record.key.clone(), id });
            }
        }

        // The categories the writes name, the grids' parents' among them.
        let grid_specs: Vec<ProductSpec> = grids
            .iter()
            .map(|item| product_map::product_spec(item, prices.get(&item.item_no), &self.settings))
            .collect();
        let wanted: BTreeSet<&str> = ops
            .iter()
            .filter_map(|op| match op {
                ProductOp::Create { spec, .. } | ProductOp::Update { spec, .. } => spec.category.as_deref(),
                ProductOp::Retire { .. } => None,
            })
            .chain(grid_specs.iter().filter_map(|spec| spec.category.as_deref()))
            .collect();
        let categories = self.categories_for(wanted, &mut report).await?;
        let stock = self.stock_for(&ops).await?;
        let mut pending = ops;
        // Creates refused as duplicates come back as updates of the product that holds the SKU: one more pass.
        for _pass in 0..2 {
            let mut again = Vec::new();
            for chunk in pending.chunks(self.settings.batch_size) {
                again.extend(self.send(chunk, &categories, &stock, &mut report).await?);
            }
            if again.is_empty() {
                break;
            }
            pending = again;
        }
        if !grids.is_empty() {
            grids::sync_grids(
                &self.ports,
                &self.settings,
                &self.inventory,
                &grids,
                grids::GridLookups { items: &prices, cells: &cell_prices, categories: &categories },
                self.dead_hold,
                &mut report,
            )
            .await?;
        }
        Ok(report)
    }

    /// The WooCommerce id of every category the writes name, creating the missing ones.
    async fn categories_for(
        &self,
        wanted: BTreeSet<&str>,
        report: &mut ProductReport,
    ) -> Result<HashMap<String, u64>, PipelineError> {
        let mut known: HashMap<String, u64> = self
            .ports
            .store
            .sync_records(CATEGORY_RECORDS)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.key, r.woo_id?)))
            .collect();
        let missing: Vec<&str> = wanted.iter().copied().filter(|name| !known.contains_key(*name)).collect();
        if missing.is_empty() {
            return Ok(known);
        }
        // A category made by hand (or by an earlier run whose record was lost) is found by name, not made twice.
        let existing: HashMap<String, u64> = self
            .ports
            .woo
            .categories()
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .filter(|c| c.parent == 0)
            .map(|c| (decode_entities(&c.name), c.id))
            .collect();
        let mut learned = Vec::new();
        for name in missing {
            let id = match existing.get(name) {
                Some(id) => *id,
                None => {
                    report.categories_created += 1;
                    self.ports.woo.create_category(name, 0).await?.id
                }
            };
            known.insert(name.to_owned(), id);
            learned.push(SyncRecord::linked(name, id));
        }
        self.ports.store.put_sync_records(CATEGORY_RECORDS, &learned, now()).await?;
        Ok(known)
    }

    /// The stock new products start with, computed as the inventory sync computes it.
    async fn stock_for(&self, ops: &[ProductOp]) -> Result<HashMap<Sku, i64>, PipelineError> {
        let skus: Vec<Sku> = ops
            .iter()
            .filter_map(|op| match op {
                ProductOp::Create { spec, .. } if spec.manage_stock => Some(spec.sku.clone()),
                _ => None,
            })
            .collect();
        if skus.is_empty() {
            return Ok(HashMap::new());
        }
        // A simple product's SKU is its item number.
        let items: Vec<String> = skus.iter().map(Sku::to_string).collect();
        let mut levels = Vec::new();
        for chunk in items.chunks(PAGE) {
            levels.extend(self.ports.cp.inventory_for_items(chunk, &self.inventory.web_locations).await?);
        }
        let unapplied = unapplied_by_sku(&held_lines(self.ports.cp.as_ref(), self.dead_hold).await?);
        Ok(web_stock(&skus, &levels, &self.inventory.web_locations, &unapplied, self.inventory.buffer)
            .into_iter()
            .collect())
    }

    /// Sends one batch and stores what landed. Returns the creates to retry as updates of an adopted product.
    async fn send(
        &self,
        ops: &[ProductOp],
        categories: &HashMap<String, u64>,
        stock: &HashMap<Sku, i64>,
        report: &mut ProductReport,
    ) -> Result<Vec<ProductOp>, PipelineError> {
        let category = |spec: &ProductSpec| spec.category.as_ref().and_then(|c| categories.get(c).copied());
        let mut write = BatchWrite::default();
        let (mut creates, mut updates): (Vec<&ProductOp>, Vec<&ProductOp>) = (Vec::new(), Vec::new());
        for op in ops {
            match op {
                ProductOp::Create { spec, .. } => {
                    let quantity = stock.get(&spec.sku).copied();
                    write.create.push(product_map::create_write(
                        spec,
                        category(spec),
                        quantity,
                        &self.inventory.backorders,
                    ));
                    creates.push(op);
                }
                ProductOp::Update { id, spec, was_retired, .. } => {
                    write.update.push(product_map::update_write(
                        *id,
                        spec,
                        category(spec),
                        *was_retired,
                        &self.settings,
                    ));
                    updates.push(op);
                }
                ProductOp::Retire { id, .. } => {
                    write.update.push(product_map::retire_write(*id, &self.settings));
                    updates.push(op);
                }
            }
        }
        let outcome = self.ports.woo.batch_products(write).await?;
        report.batch_requests += outcome.requests;
        let mut done = Vec::new();
        let mut stocked = Vec::new();
        let mut forget = Vec::new();
        let mut retry = Vec::new();
        for (op, result) in creates.iter().zip(&outcome.created) {
            let ProductOp::Create { spec, digest } = op else { continue };
            match result {
                Ok(product) => {
                    report.created += 1;
                    done.push(SyncRecord::sent(spec.sku.clone(), Some(product.id), digest.clone()));
                    if let Some(quantity) = stock.get(&spec.sku) {
                        stocked.push(SyncRecord::sent(spec.sku.clone(), Some(product.id), quantity.to_string()));
                    }
                }
                Err(e) if e.existing_id.is_some() => {
                    let id = e.existing_id.unwrap_or_default();
                    done.push(SyncRecord::linked(spec.sku.clone(), id));
                    retry.push(ProductOp::Update {
                        id,
                        spec: spec.clone(),
                        digest: digest.clone(),
                        was_retired: false,
                        adopted: true,
                    });
                }
                Err(e) => report.failures.fail(format!("SKU {}: not created: {}: {}", spec.sku, e.code, e.message)),
            }
        }
        for (op, result) in updates.iter().zip(&outcome.updated) {
            match (op, result) {
                (ProductOp::Update { id, spec, digest, adopted, .. }, Ok(_)) => {
                    if *adopted {
                        report.adopted += 1;
                    } else {
                        report.updated += 1;
                    }
                    done.push(SyncRecord::sent(spec.sku.clone(), Some(*id), digest.clone()));
                }
                (ProductOp::Retire { sku, id }, Ok(_)) => {
                    report.retired += 1;
                    done.push(SyncRecord::retired(sku.clone(), *id));
                }
                (_, Err(e)) if e.code.ends_with("_invalid_id") => {
                    // Deleted in WooCommerce: forget it, and the next run creates it again if it is still on the web.
                    forget.push(op.sku().to_owned());
                    report.failures.fail(format!(
                        "SKU {}: product {} is gone from WooCommerce; it will be recreated",
                        op.sku(),
                        e.id.unwrap_or_default()
                    ));
                }
                (_, Err(e)) => {
                    report.failures.fail(format!("SKU {}: not updated: {}: {}", op.sku(), e.code, e.message))
                }
                (ProductOp::Create { .. }, Ok(_)) => {}
            }
        }
        let at: NaiveDateTime = now();
        self.ports.store.put_sync_records(PRODUCT_RECORDS, &done, at).await?;
        self.ports.store.put_sync_records(STOCK_RECORDS, &stocked, at).await?;
        if !forget.is_empty() {
            self.ports.store.delete_sync_records(PRODUCT_RECORDS, &forget).await?;
            self.ports.store.delete_sync_records(STOCK_RECORDS, &forget).await?;
        }
        Ok(retry)
    }
}

/// WordPress returns term names HTML-escaped (`Paper &amp; pads`).
fn decode_entities(text: &str) -> String {
    text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#039;", "'")
}
