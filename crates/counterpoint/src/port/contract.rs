//! [`CounterpointPort`] for [`SqlCounterpoint`]: each operation handed to the module of its role.

use super::*;

#[async_trait]
impl<D: Driver> CounterpointPort for SqlCounterpoint<D> {
    fn target(&self) -> String {
        self.driver.target()
    }

    async fn table_counts(&self) -> CpResult<BTreeMap<String, i64>> {
        let mut counts = BTreeMap::new();
        let mut tx = self.driver.begin(TxMode::Read).await?;
        for table in TABLES {
            let rows = tx.query(&self.sql(&format!("SELECT COUNT(*) AS N FROM dbo.{}", table.name)), &[]).await?;
            let n = rows.into_iter().next().map(|r| r.i64("N")).transpose()?.unwrap_or(0);
            counts.insert(table.name.to_owned(), n);
        }
        tx.commit().await?;
        Ok(counts)
    }

    async fn verify_schema(&self) -> CpResult<SchemaReport> {
        let mut report = SchemaReport::default();
        let live = self.load_live_schema().await?;
        for table in TABLES {
            let Some(present) = live.tables.get(table.name) else {
                report.missing_tables.push(table.name.to_owned());
                continue;
            };
            for column in table.columns {
                if !present.contains_key(column.name) {
                    report.missing_columns.push((table.name.to_owned(), column.name.to_owned()));
                }
            }
        }
        report.unfilled_columns = live.unfilled_required();
        report.doc_ids = live.doc_ids.clone();
        let mut tx = self.driver.begin(TxMode::Read).await?;
        for trigger in crate::ddl::inv_trigger_names(self.dialect()) {
            if tx.query(self.dialect().trigger_exists_query(), &params![trigger.as_str()]).await?.is_empty() {
                report.missing_triggers.push(trigger);
            }
        }
        tx.commit().await?;
        // Counterpoint's own tables are reported; cpbridge's are fixed by `cp migrate`.
        report.missing_tables.sort_by_key(|t| schema::table(t).is_some_and(|t| t.owner == Owner::Cpbridge));
        Ok(report)
    }

    async fn items_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<Item>> {
        catalog::items_changed_since(self, after, limit).await
    }

    async fn items_by_no(&self, item_nos: &[String]) -> CpResult<Vec<Item>> {
        catalog::items_by_no(self, item_nos).await
    }

    async fn prices_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<ItemPrice>> {
        catalog::prices_changed_since(self, after, limit).await
    }

    async fn inventory_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<InventoryLevel>> {
        stock::inventory_changed_since(self, after, limit).await
    }

    async fn inventory_for_items(&self, item_nos: &[String], locations: &[String]) -> CpResult<Vec<InventoryLevel>> {
        stock::inventory_for_items(self, item_nos, locations).await
    }

    async fn pending_inventory_changes(&self, limit: usize) -> CpResult<Vec<InventoryChange>> {
        stock::pending_inventory_changes(self, limit).await
    }

    async fn consume_inventory_changes(&self, change_ids: &[i64], at: NaiveDateTime) -> CpResult<u64> {
        stock::consume_inventory_changes(self, change_ids, at).await
    }

    async fn customers_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<Customer>> {
        customers::customers_changed_since(self, after, limit).await
    }

    async fn customer(&self, cust_no: &CustNo) -> CpResult<Option<Customer>> {
        customers::customer(self, cust_no).await
    }

    async fn customer_by_email(&self, email: &str) -> CpResult<Option<Customer>> {
        customers::customer_by_email(self, email).await
    }

    async fn upsert_customer(
        &self,
        c: &Customer,
        ship_to: Option<&ShipAddress>,
        scheme: &CustNoScheme,
        at: NaiveDateTime,
    ) -> CpResult<CustNo> {
        customers::upsert_customer(self, c, ship_to, scheme, at).await
    }

    async fn stage_order(&self, order: &NewStagedOrder, at: NaiveDateTime) -> CpResult<StageOutcome> {
        staging::stage_order(self, order, at).await
    }

    async fn claim_staged_orders(
        &self,
        now: NaiveDateTime,
        lease: Duration,
        limit: usize,
    ) -> CpResult<Vec<ClaimedOrder>> {
        staging::claim_staged_orders(self, now, lease, limit).await
    }

    async fn apply_staged_order(
        &self,
        claim: &ClaimedOrder,
        doc: &OrderDocument,
        now: NaiveDateTime,
    ) -> CpResult<ApplyOutcome> {
        documents::apply_staged_order(self, claim, doc, now).await
    }

    async fn fail_staged_order(
        &self,
        claim: &ClaimedOrder,
        error: &str,
        retry_at: Option<NaiveDateTime>,
    ) -> CpResult<bool> {
        staging::fail_staged_order(self, claim, error, retry_at).await
    }

    async fn staged_order(&self, staging_id: StagingId) -> CpResult<Option<StagedOrder>> {
        staging::staged_order(self, staging_id).await
    }

    async fn staged_order_by_woo_id(&self, woo_order_id: WooOrderId) -> CpResult<Option<StagedOrder>> {
        staging::staged_order_by_woo_id(self, woo_order_id).await
    }

    async fn staged_orders(&self, status: Option<StagingStatus>, limit: usize) -> CpResult<Vec<StagedOrder>> {
        staging::staged_orders(self, status, limit).await
    }

    async fn staging_counts(&self) -> CpResult<BTreeMap<String, i64>> {
        staging::staging_counts(self).await
    }

    async fn requeue_staged_order(&self, staging_id: StagingId) -> CpResult<bool> {
        staging::requeue_staged_order(self, staging_id).await
    }

    async fn cancel_staged_order(&self, woo_order_id: WooOrderId, reason: &str) -> CpResult<bool> {
        staging::cancel_staged_order(self, woo_order_id, reason).await
    }

    async fn mark_woo_synced(&self, staging_id: StagingId, at: NaiveDateTime) -> CpResult<()> {
        staging::mark_woo_synced(self, staging_id, at).await
    }

    async fn writebacks_due(&self, now: NaiveDateTime, limit: usize) -> CpResult<Vec<StagedOrder>> {
        staging::writebacks_due(self, now, limit).await
    }

    async fn fail_writeback(&self, staging_id: StagingId, error: &str, retry_at: NaiveDateTime) -> CpResult<()> {
        staging::fail_writeback(self, staging_id, error, retry_at).await
    }

    async fn open_applied_orders(&self, after_staging_id: StagingId, limit: usize) -> CpResult<Vec<StagedOrder>> {
        staging::open_applied_orders(self, after_staging_id, limit).await
    }

    async fn set_doc_state(&self, staging_id: StagingId, state: &str) -> CpResult<()> {
        staging::set_doc_state(self, staging_id, state).await
    }

    async fn restage_order(&self, staging_id: StagingId, order: &NewStagedOrder) -> CpResult<bool> {
        staging::restage_order(self, staging_id, order).await
    }

    async fn staging_heads(&self, after_staging_id: StagingId, limit: usize) -> CpResult<Vec<StagingHead>> {
        staging::staging_heads(self, after_staging_id, limit).await
    }

    async fn station_documents(&self, sta_id: &str, after_doc_id: i64, limit: usize) -> CpResult<Vec<BookedDocument>> {
        documents::station_documents(self, sta_id, after_doc_id, limit).await
    }

    async fn grid_dims(&self, item_nos: &[String]) -> CpResult<Vec<GridDimValue>> {
        catalog::grid_dims(self, item_nos).await
    }

    async fn cell_levels(&self, item_nos: &[String], locations: &[String]) -> CpResult<Vec<CellLevel>> {
        stock::cell_levels(self, item_nos, locations).await
    }

    async fn cell_barcodes(&self, item_nos: &[String]) -> CpResult<Vec<CellBarcode>> {
        catalog::cell_barcodes(self, item_nos, "ITEM_NO").await
    }

    async fn cells_by_barcode(&self, barcodes: &[String]) -> CpResult<Vec<CellBarcode>> {
        catalog::cell_barcodes(self, barcodes, "BARCOD").await
    }

    async fn purge_inventory_changes(&self, consumed_before: NaiveDateTime) -> CpResult<u64> {
        stock::purge_inventory_changes(self, consumed_before).await
    }

    async fn inventory_change_backlog(&self) -> CpResult<ChangeBacklog> {
        stock::inventory_change_backlog(self).await
    }

    async fn setup_problems(&self, setup: &ShopSetup) -> CpResult<Vec<String>> {
        documents::setup_problems(self, setup).await
    }

    async fn discard_staged_order(&self, staging_id: StagingId, reason: &str) -> CpResult<bool> {
        staging::discard_staged_order(self, staging_id, reason).await
    }

    async fn unapplied_order_lines(&self, dead_since: NaiveDateTime) -> CpResult<Vec<StagedLine>> {
        stock::unapplied_order_lines(self, dead_since).await
    }

    async fn document_state(&self, doc_id: i64, tkt_no: &str) -> CpResult<DocumentState> {
        documents::document_state(self, doc_id, tkt_no).await
    }

    async fn price_groups(&self) -> CpResult<Vec<PriceGroup>> {
        catalog::price_groups(self).await
    }

    async fn pricing_changed_at(&self) -> CpResult<Option<NaiveDateTime>> {
        catalog::pricing_changed_at(self).await
    }
}
