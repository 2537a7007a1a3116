//! The inventory sync: the stock the store shows follows Counterpoint within seconds, and a full reconcile repairs
//! whatever drifted.
//!
//! - **Events.** Triggers on `IM_INV` write every change, from any workstation, to `USER_INV_CHANGES`. Each round
//!   reads the oldest unconsumed rows, computes the stock of exactly those SKUs with
//!   [`cpbridge_core::inventory::web_stock`], pushes the ones whose value differs from what was last pushed, and only
//!   then marks the rows consumed. A push that fails leaves its rows, so no change is lost.
//! - **Reconcile.** Reads every product in WooCommerce and every stock row in Counterpoint, and repairs each SKU
//!   whose store stock differs from what it should be. The count of repairs is the drift, 0 in a healthy system.
//!   It also adopts products made outside cpbridge whose SKU is a Counterpoint item.

use std::collections::{BTreeMap, HashMap, HashSet};

use cpbridge_core::Sku;
use cpbridge_core::inventory::{unapplied_by_sku, web_stock};
use cpbridge_store::{SyncRecord, SyncState};
use cpbridge_woo::de::ManageStock;
use cpbridge_woo::model::{BatchWrite, Product, ProductWrite};
use futures_util::TryStreamExt as _;
use serde::Serialize;

use crate::catalog::{
    PRODUCT_RECORDS, STOCK_RECORDS, VARIATION_RECORDS, all_items, all_levels, held_lines, variation_skus,
};
use crate::jobs::{PipelineError, Ports, RecordFailures, now};
use crate::sync_settings::InventorySettings;

/// Rounds of the event poll per run, so one run ends even while a workstation keeps writing.
const MAX_ROUNDS: usize = 50;

/// Counts of one inventory run (events or reconcile).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InventoryReport {
    /// Change rows read (events) or SKUs compared (reconcile).
    pub changes: usize,
    pub checked: usize,
    /// Stock values sent to WooCommerce.
    pub pushed: usize,
    pub unchanged: usize,
    /// SKUs with no WooCommerce product.
    pub not_on_web: usize,
    /// Reconcile only: SKUs whose store stock was wrong.
    pub drifted: usize,
    /// Reconcile only: WooCommerce products made outside cpbridge that now follow their Counterpoint item.
    pub adopted: usize,
    pub batch_requests: usize,
    /// Events only: consumed change rows older than a day, deleted (at most hourly).
    pub purged: u64,
    /// Records refused this run (tried again next run), each named.
    #[serde(flatten)]
    pub failures: RecordFailures,
}

/// Where stock values are sent: products' batch endpoint, or one variable product's variations'.
#[derive(Debug, Clone, Copy)]
enum StockTarget {
    Products,
    Variations { parent_id: u64 },
}

/// One stock value to send.
#[derive(Debug, Clone)]
struct StockPush {
    sku: Sku,
    woo_id: u64,
    quantity: i64,
}

/// The inventory sync over its ports.
pub struct InventorySync {
    ports: Ports,
    settings: InventorySettings,
    /// How variations' SKUs are made (`products.variation_sku`): each cell's stock is pushed under its SKU.
    variation_sku: cpbridge_core::records::VariationSkuRule,
    dead_hold: chrono::Duration,
    /// When the consumed change rows were last purged; `USER_INV_CHANGES` grows with every stock movement of the
    /// shop, so the events job keeps it to a day.
    last_purge: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long consumed change rows are kept (for a DBA who wants to see what moved), and how often they are purged.
const CHANGES_KEPT: chrono::Duration = chrono::Duration::hours(24);
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3_600);

impl InventorySync {
    /// `dead_hold`: how long a `DEAD` order keeps holding its stock (`orders.dead_hold_hours`).
    pub fn new(ports: Ports, settings: InventorySettings, dead_hold: chrono::Duration) -> Self {
        InventorySync {
            ports,
            settings,
            variation_sku: cpbridge_core::records::VariationSkuRule::default(),
            dead_hold,
            last_purge: std::sync::Mutex::new(None),
        }
    }

    /// The rule variations' SKUs follow (`products.variation_sku`).
    #[must_use]
    pub fn with_variation_sku(mut self, rule: cpbridge_core::records::VariationSkuRule) -> Self {
        self.variation_sku = rule;
        self
    }

    /// Pushes the stock of every SKU with unconsumed change rows, then consumes them.
    ///
    /// # Errors
    /// When Counterpoint, the state store or WooCommerce fails; the change rows not yet pushed then stay.
    pub async fn events_once(&self) -> Result<InventoryReport, PipelineError> {
        let mut report = InventoryReport::default();
        let mut stuck: HashSet<i64> = HashSet::new();
        for _round in 0..MAX_ROUNDS {
            let changes = self.ports.cp.pending_inventory_changes(self.settings.changes_per_round).await?;
            let fresh: Vec<_> = changes.into_iter().filter(|c| !stuck.contains(&c.change_id)).collect();
            if fresh.is_empty() {
                break;
            }
            report.changes += fresh.len();
            let mut skus: Vec<String> = fresh.iter().map(|c| c.item_no.clone()).collect();
            skus.sort();
            skus.dedup();
            // Cells named by `IM_INV_CELL` changes: a variable product's push is kept to them.
            let mut cells: HashMap<String, HashSet<[String; 3]>> = HashMap::new();
            for change in &fresh {
                if let Some(cell) = &change.cell {
                    cells.entry(change.item_no.clone()).or_default().insert(cell.clone());
                }
            }
            let failed = self.push_skus(&skus, &cells, &mut report).await?;
            let (done, left): (Vec<_>, Vec<_>) = fresh.iter().partition(|c| !failed.contains(&c.item_no));
            let ids: Vec<i64> = done.iter().map(|c| c.change_id).collect();
            if !ids.is_empty() {
                self.ports.cp.consume_inventory_changes(&ids, now()).await?;
            }
            // Rows of a SKU WooCommerce refused stay for the next run, but this run moves past them.
            stuck.extend(left.iter().map(|c| c.change_id));
        }
        let due = self.last_purge.lock().map(|last| last.is_none_or(|at| at.elapsed() >= PURGE_EVERY)).unwrap_or(false);
        if due {
            report.purged = self.ports.cp.purge_inventory_changes(now() - CHANGES_KEPT).await?;
            if let Ok(mut last) = self.last_purge.lock() {
                *last = Some(std::time::Instant::now());
            }
        }
        Ok(report)
    }

    /// Computes and pushes the stock of `skus`; of a variable product, only the variations of the cells in `cells`
    /// when it names any (the item's own row moves with them), else of every web cell. Returns the SKUs whose push
    /// failed.
    async fn push_skus(
        &self,
        skus: &[String],
        cells: &HashMap<String, HashSet<[String; 3]>>,
        report: &mut InventoryReport,
    ) -> Result<HashSet<String>, PipelineError> {
        let records = self.ports.store.sync_records_for(PRODUCT_RECORDS, skus).await?;
        // A variable product's stock is its variations': each cell's, pushed on the parent's variations.
        let (variable, simple): (Vec<SyncRecord>, Vec<SyncRecord>) =
            records.into_iter().partition(|r| matches!(r.state(), SyncState::Variable(_)));
        let mut failed = HashSet::new();
        let parents: Vec<(String, u64)> = variable.into_iter().filter_map(|r| Some((r.key, r.woo_id?))).collect();
        if !parents.is_empty() {
            failed.extend(self.push_cells(&parents, cells, report).await?);
        }
        let products: HashMap<String, u64> = simple.into_iter().filter_map(|r| Some((r.key, r.woo_id?))).collect();
        let grids: HashSet<&str> = parents.iter().map(|(sku, _)| sku.as_str()).collect();
        // A simple product's SKU is its item number.
        let mapped: Vec<Sku> = skus.iter().filter(|s| products.contains_key(*s)).map(Sku::from).collect();
        report.not_on_web += skus.len() - mapped.len() - grids.len();
        report.checked += mapped.len();
        if mapped.is_empty() {
            return Ok(failed);
        }
        let items: Vec<String> = mapped.iter().map(Sku::to_string).collect();
        let levels = self.ports.cp.inventory_for_items(&items, &self.settings.web_locations).await?;
        let unapplied = unapplied_by_sku(&held_lines(self.ports.cp.as_ref(), self.dead_hold).await?);
        let stock = web_stock(&mapped, &levels, &self.settings.web_locations, &unapplied, self.settings.buffer);
        let pushes = self.changed_only(stock, &products, report).await?;
        failed.extend(self.push(pushes, StockTarget::Products, report).await?);
        Ok(failed)
    }

    /// The stock values that differ from what was last pushed (the rest counted unchanged), with their WooCommerce
    /// ids.
    async fn changed_only(
        &self,
        stock: BTreeMap<Sku, i64>,
        woo_ids: &HashMap<String, u64>,
        report: &mut InventoryReport,
    ) -> Result<Vec<StockPush>, PipelineError> {
        let skus: Vec<String> = stock.keys().map(Sku::to_string).collect();
        let pushed: HashMap<String, String> = self
            .ports
            .store
            .sync_records_for(STOCK_RECORDS, &skus)
            .await?
            .into_iter()
            .map(|r| (r.key, r.hash))
            .collect();
        let mut pushes = Vec::new();
        for (sku, quantity) in stock {
            if pushed.get(sku.as_str()).is_some_and(|last| *last == quantity.to_string()) {
                report.unchanged += 1;
                continue;
            }
            if let Some(&woo_id) = woo_ids.get(sku.as_str()) {
                pushes.push(StockPush { sku, woo_id, quantity });
            }
        }
        Ok(pushes)
    }

    /// Pushes the stock of every web cell of these variable products (`(ITEM_NO, parent id)`) to its variation, as
    /// simple products' stock is computed: the cell at the web locations, less unapplied web orders for the
    /// variation's SKU, less the buffer. Returns the items whose push failed.
    async fn push_cells(
        &self,
        parents: &[(String, u64)],
        only: &HashMap<String, HashSet<[String; 3]>>,
        report: &mut InventoryReport,
    ) -> Result<HashSet<String>, PipelineError> {
        let item_nos: Vec<String> = parents.iter().map(|(sku, _)| sku.clone()).collect();
        let mut cells = self.ports.cp.cell_levels(&item_nos, &self.settings.web_locations).await?;
        cells.retain(|c| only.get(&c.item_no).is_none_or(|named| named.contains(&c.dims)));
        let variation_skus = variation_skus(self.ports.cp.as_ref(), self.variation_sku, &item_nos).await?;
        let levels: Vec<cpbridge_core::records::InventoryLevel> =
            cells.iter().map(|c| c.variation_level(&variation_skus)).collect();
        // Which parent each variation SKU belongs to.
        let parent_of: HashMap<&str, &str> =
            levels.iter().zip(&cells).map(|(l, c)| (l.item_no.as_str(), c.item_no.as_str())).collect();
        let mut skus: Vec<String> = levels.iter().map(|l| l.item_no.clone()).collect();
        skus.sort();
        skus.dedup();
        let variations: HashMap<String, u64> = self
            .ports
            .store
            .sync_records_for(VARIATION_RECORDS, &skus)
            .await?
            .into_iter()
            .filter(|r| !r.is_retired())
            .filter_map(|r| Some((r.key, r.woo_id?)))
            .collect();
        let skus: Vec<Sku> = skus.into_iter().filter(|s| variations.contains_key(s)).map(Sku::from).collect();
        let unapplied = unapplied_by_sku(&held_lines(self.ports.cp.as_ref(), self.dead_hold).await?);
        let stock = web_stock(&skus, &levels, &self.settings.web_locations, &unapplied, self.settings.buffer);
        report.checked += skus.len();
        let pushes = self.changed_only(stock, &variations, report).await?;
        let mut failed = HashSet::new();
        for (item_no, parent_id) in parents {
            let due: Vec<StockPush> =
                pushes.iter().filter(|p| parent_of.get(p.sku.as_str()) == Some(&item_no.as_str())).cloned().collect();
            if !self.push(due, StockTarget::Variations { parent_id: *parent_id }, report).await?.is_empty() {
                failed.insert(item_no.clone());
            }
        }
        Ok(failed)
    }

    /// Sends stock values in batches (to products, or to one parent's variations) and records what landed. Returns
    /// the SKUs that failed.
    async fn push(
        &self,
        pushes: Vec<StockPush>,
        target: StockTarget,
        report: &mut InventoryReport,
    ) -> Result<HashSet<String>, PipelineError> {
        let mut failed = HashSet::new();
        for chunk in pushes.chunks(self.settings.batch_size.clamp(1, 100)) {
            let update = chunk
                .iter()
                .map(|p| ProductWrite {
                    backorders: Some(self.settings.backorders.clone()),
                    ..ProductWrite::stock(p.woo_id, p.quantity)
                })
                .collect();
            let write = BatchWrite { update, ..BatchWrite::default() };
            // Only whether each update landed matters here, not the record it returned.
            let (updated, requests): (Vec<Result<(), _>>, usize) = match target {
                StockTarget::Products => {
                    let outcome = self.ports.woo.batch_products(write).await?;
                    (outcome.updated.into_iter().map(|r| r.map(drop)).collect(), outcome.requests)
                }
                StockTarget::Variations { parent_id } => {
                    let outcome = self.ports.woo.batch_variations(parent_id, write).await?;
                    (outcome.updated.into_iter().map(|r| r.map(drop)).collect(), outcome.requests)
                }
            };
            report.batch_requests += requests;
            let mut landed = Vec::new();
            let mut gone = Vec::new();
            for (push, result) in chunk.iter().zip(&updated) {
                match result {
                    Ok(_) => {
                        report.pushed += 1;
                        landed.push(SyncRecord::sent(push.sku.clone(), Some(push.woo_id), push.quantity.to_string()));
                    }
                    Err(e) if e.code.ends_with("_invalid_id") => {
                        // Deleted in WooCommerce: nothing to show the stock on until the product sync recreates it.
                        report.not_on_web += 1;
                        gone.push(push.sku.to_string());
                    }
                    Err(e) => {
                        report.failures.fail(format!(
                            "SKU {}: stock {} not pushed: {}: {}",
                            push.sku, push.quantity, e.code, e.message
                        ));
                        failed.insert(push.sku.to_string());
                    }
                }
            }
            self.ports.store.put_sync_records(STOCK_RECORDS, &landed, now()).await?;
            if !gone.is_empty() {
                let records = match target {
                    StockTarget::Products => PRODUCT_RECORDS,
                    StockTarget::Variations { .. } => VARIATION_RECORDS,
                };
                self.ports.store.delete_sync_records(records, &gone).await?;
                self.ports.store.delete_sync_records(STOCK_RECORDS, &gone).await?;
            }
        }
        Ok(failed)
    }

    /// Compares every SKU in the store with Counterpoint and repairs what drifted.
    ///
    /// # Errors
    /// When Counterpoint, the state store or WooCommerce fails.
    pub async fn reconcile_once(&self) -> Result<InventoryReport, PipelineError> {
        let mut report = InventoryReport::default();
        let in_store: Vec<Product> = self.ports.woo.products(Vec::new()).try_collect().await?;
        let items: HashSet<String> =
            all_items(&self.ports.cp).await?.into_iter().filter(|i| i.tracks_inventory()).map(|i| i.item_no).collect();
        let records: HashMap<String, Option<u64>> =
            self.ports.store.sync_records(PRODUCT_RECORDS).await?.into_iter().map(|r| (r.key, r.woo_id)).collect();
        let mut adopted = Vec::new();
        let mut managed: BTreeMap<Sku, &Product> = BTreeMap::new();
        for product in in_store.iter().filter(|p| p.kind == "simple" && items.contains(p.sku.as_str())) {
            if records.get(product.sku.as_str()) != Some(&Some(product.id)) {
                // An empty digest makes the product sync send every owned field on its next run.
                adopted.push(SyncRecord::linked(product.sku.clone(), product.id));
            }
            managed.insert(product.sku.clone(), product);
        }
        report.adopted = adopted.len();
        self.ports.store.put_sync_records(PRODUCT_RECORDS, &adopted, now()).await?;
        report.not_on_web = items.len() - managed.len();

        let skus: Vec<Sku> = managed.keys().cloned().collect();
        let levels = all_levels(&self.ports.cp).await?;
        let unapplied = unapplied_by_sku(&held_lines(self.ports.cp.as_ref(), self.dead_hold).await?);
        let stock = web_stock(&skus, &levels, &self.settings.web_locations, &unapplied, self.settings.buffer);
        report.changes = skus.len();
        report.checked = skus.len();
        let mut pushes = Vec::new();
        let mut agreed = Vec::new();
        for (sku, quantity) in stock {
            let product = managed[&sku];
            let right = product.manage_stock == ManageStock::Yes && product.stock_quantity == Some(quantity);
            if right {
                report.unchanged += 1;
                agreed.push(SyncRecord::sent(sku, Some(product.id), quantity.to_string()));
            } else {
                report.drifted += 1;
                tracing::info!(%sku, store = ?product.stock_quantity, counterpoint = quantity, "stock drifted");
                pushes.push(StockPush { sku, woo_id: product.id, quantity });
            }
        }
        self.ports.store.put_sync_records(STOCK_RECORDS, &agreed, now()).await?;
        self.push(pushes, StockTarget::Products, &mut report).await?;
        self.reconcile_variations(&mut report).await?;
        Ok(report)
    }

    /// The variations of cpbridge's variable products: a variation whose stock in the store is not what cpbridge
    /// last pushed has drifted (its record is dropped), and then every cell whose stock differs from its record is
    /// pushed again, which also catches a Counterpoint change the events missed.
    async fn reconcile_variations(&self, report: &mut InventoryReport) -> Result<(), PipelineError> {
        let parents: Vec<(String, u64)> = self
            .ports
            .store
            .sync_records(PRODUCT_RECORDS)
            .await?
            .into_iter()
            .filter(|r| matches!(r.state(), SyncState::Variable(_)))
            .filter_map(|r| Some((r.key, r.woo_id?)))
            .collect();
        if parents.is_empty() {
            return Ok(());
        }
        let mut shown: HashMap<String, Option<i64>> = HashMap::new();
        for (_, parent_id) in &parents {
            let variations: Vec<cpbridge_woo::model::Variation> =
                self.ports.woo.variations(*parent_id).try_collect().await?;
            shown.extend(variations.into_iter().map(|v| (v.sku.into_string(), v.stock_quantity)));
        }
        let skus: Vec<String> = shown.keys().cloned().collect();
        let records = self.ports.store.sync_records_for(STOCK_RECORDS, &skus).await?;
        let stale: Vec<String> = records
            .into_iter()
            .filter(|r| shown.get(&r.key).is_some_and(|q| q.map(|q| q.to_string()) != Some(r.hash.clone())))
            .map(|r| r.key)
            .collect();
        if !stale.is_empty() {
            report.drifted += stale.len();
            tracing::info!(variations = stale.len(), "variation stock drifted in the store");
            self.ports.store.delete_sync_records(STOCK_RECORDS, &stale).await?;
        }
        self.push_cells(&parents, &HashMap::new(), report).await?;
        Ok(())
    }
}
