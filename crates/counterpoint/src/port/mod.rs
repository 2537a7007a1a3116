//! The Counterpoint port: every operation the pipelines need from a Counterpoint database, and its one
//! implementation over either driver.
//!
//! This file holds the trait, the shared plumbing (reads, writes, paging, counters, the live schema) and the trait
//! implementation as a table of contents; each role's SQL lives in a file of its own: [`catalog`] (items, prices,
//! rules), [`stock`] (`IM_INV`), [`customers`], [`staging`] (`USER_ORDER_STAGING`), [`documents`] (the order's
//! transaction and what became of it), with the row decoders in [`rows`] and every insert into Counterpoint's tables
//! built by [`crate::columns::Insert`].
//!
//! Exactly-once order creation rests on three statements, all here:
//! - staging inserts only when the WooCommerce order id is absent (and the unique index backs that up);
//! - claiming is a conditional `UPDATE ... WHERE STATUS = <seen> AND NEXT_ATTEMPT_DT = <seen>`, whose row count says
//!   who won; the claim is a lease, so a crashed worker's order is claimed again when the lease runs out;
//! - applying starts by flipping the claimed row to `APPLIED` inside the same transaction that writes the document,
//!   so a retry after a crash either sees `APPLIED` or finds nothing was written.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, NaiveDateTime};
use cpbridge_core::docid::{format_tkt_no, gen_doc_id};
use cpbridge_core::ids::{CustNo, StagingId, WooOrderId};
use cpbridge_core::order::{DocContact, OrderDocument};
use cpbridge_core::records::{
    CellBarcode, CellLevel, ChangeBacklog, Customer, GridDimValue, InventoryChange, InventoryLevel, Item, ItemPrice,
    PriceBreak, PriceGroup, PriceRule, ShipAddress, Watermark,
};
use cpbridge_core::staging::{
    ApplyOutcome, BookedDocument, ClaimedOrder, DocumentState, NewStagedOrder, StageOutcome, StagedLine, StagedOrder,
    StagingHead, StagingStatus,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::columns::{Insert, LiveSchema, UnfilledColumn, cut_to_fit, model_len, too_long};
use crate::dialect::{Dialect, like_prefix};
use crate::driver::{Driver, Tx, TxMode};
use crate::error::{CpError, CpResult};
use crate::mssql::MssqlDriver;
use crate::params;
use crate::schema::{self, Owner, TABLES, Table};
use crate::sqlite::SqliteDriver;
use crate::value::{Row, Value, flag};

mod catalog;
mod contract;
mod customers;
mod documents;
mod rows;
mod staging;
mod stock;

use rows::*;

pub use crate::schema::ORDER_COMMIT_COLUMNS;

/// How cpbridge numbers customers it creates in `AR_CUST`: `PREFIX` + a zero-padded counter kept in
/// `USER_DOC_COUNTER` (`WEB000001`). The result must fit `CUST_NO VARCHAR(15)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustNoScheme {
    pub prefix: String,
    pub width: usize,
}

impl Default for CustNoScheme {
    fn default() -> Self {
        CustNoScheme { prefix: "WEB".into(), width: 6 }
    }
}

/// What `verify_schema` found missing. Everything is reported at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaReport {
    pub missing_tables: Vec<String>,
    pub missing_columns: Vec<(String, String)>,
    pub missing_triggers: Vec<String>,
    /// Required columns (NOT NULL, no default) of a table cpbridge inserts into that its insert does not fill: a
    /// shop's version or a `USER_` column added one, and every order would fail on it.
    pub unfilled_columns: Vec<UnfilledColumn>,
    /// Where document ids come from (Counterpoint's `dbo.fnGenDocId`, or cpbridge's copy of its layout).
    pub doc_ids: crate::docid_fn::DocIdSource,
}

impl SchemaReport {
    pub fn is_ok(&self) -> bool {
        self.missing_tables.is_empty()
            && self.missing_columns.is_empty()
            && self.missing_triggers.is_empty()
            && self.unfilled_columns.is_empty()
    }
}

impl fmt::Display for SchemaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return f.write_str("every table, column and trigger cpbridge needs is present");
        }
        let mut parts = Vec::new();
        for table in &self.missing_tables {
            let hint = if table.starts_with("USER_") { " (run `cpbridge cp migrate`)" } else { "" };
            parts.push(format!("table {table} is missing{hint}"));
        }
        for (table, column) in &self.missing_columns {
            parts.push(format!("column {table}.{column} is missing"));
        }
        for trigger in &self.missing_triggers {
            parts.push(format!("trigger {trigger} is missing (run `cpbridge cp migrate`)"));
        }
        for c in &self.unfilled_columns {
            parts.push(format!(
                "column {}.{} is NOT NULL without a default, and cpbridge does not write it (give it a default in \
                 Counterpoint, or allow NULL)",
                c.table, c.column
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

/// The codes cpbridge's documents point at, as configured: each must exist in Counterpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopSetup {
    pub str_id: String,
    pub sta_id: String,
    pub drw_id: String,
    pub usr_id: String,
    /// Every `PAY_COD` the payment methods map to.
    pub pay_codes: Vec<String>,
    /// cpbridge's ticket prefix: a document on its station with another number was written by someone else.
    pub tkt_prefix: String,
}

/// Every operation cpbridge needs from Counterpoint.
///
/// Times are passed in by the caller (UTC), so that the pipelines and tests control the clock.
#[async_trait]
pub trait CounterpointPort: Send + Sync {
    /// Where the database is, for messages.
    fn target(&self) -> String;

    /// Row counts of every table cpbridge knows, for `cp stats`, `doctor` and the status page.
    async fn table_counts(&self) -> CpResult<BTreeMap<String, i64>>;

    /// Checks that every table, column and trigger cpbridge uses exists.
    async fn verify_schema(&self) -> CpResult<SchemaReport>;

    /// One page of `IM_ITEM` rows changed after `after`, in `(RS_UTC_DT, ITEM_NO)` order.
    async fn items_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<Item>>;

    /// The items with these numbers (missing ones are simply absent).
    async fn items_by_no(&self, item_nos: &[String]) -> CpResult<Vec<Item>>;

    /// One page of `IM_PRC` rows changed after `after`.
    async fn prices_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<ItemPrice>>;

    /// One page of `IM_INV` rows changed after `after`, in `(RS_UTC_DT, ITEM_NO, LOC_ID)` order.
    async fn inventory_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<InventoryLevel>>;

    /// The `IM_INV` rows of these items at these locations.
    async fn inventory_for_items(&self, item_nos: &[String], locations: &[String]) -> CpResult<Vec<InventoryLevel>>;

    /// The oldest unconsumed rows of `USER_INV_CHANGES`.
    async fn pending_inventory_changes(&self, limit: usize) -> CpResult<Vec<InventoryChange>>;

    /// Marks change rows consumed, after their stock reached the store. Returns how many were marked.
    async fn consume_inventory_changes(&self, change_ids: &[i64], at: NaiveDateTime) -> CpResult<u64>;

    /// One page of `AR_CUST` rows changed after `after`, in `(RS_UTC_DT, CUST_NO)` order.
    async fn customers_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<Customer>>;

    async fn customer(&self, cust_no: &CustNo) -> CpResult<Option<Customer>>;

    /// The customer whose `EMAIL_ADRS_1` matches, ignoring case; the lowest `CUST_NO` when several do.
    async fn customer_by_email(&self, email: &str) -> CpResult<Option<Customer>>;

    /// Updates the customer when `cust_no` exists, else creates it (allocating a number by `scheme` when `cust_no`
    /// is empty), together with an optional ship-to address. Returns the `CUST_NO`.
    async fn upsert_customer(
        &self,
        customer: &Customer,
        ship_to: Option<&ShipAddress>,
        scheme: &CustNoScheme,
        at: NaiveDateTime,
    ) -> CpResult<CustNo>;

    /// Stages a WooCommerce order once: a second call with the same WooCommerce id changes nothing.
    async fn stage_order(&self, order: &NewStagedOrder, at: NaiveDateTime) -> CpResult<StageOutcome>;

    /// Claims up to `limit` orders that are due (pending, failed and due, or applying with an expired lease).
    async fn claim_staged_orders(
        &self,
        now: NaiveDateTime,
        lease: Duration,
        limit: usize,
    ) -> CpResult<Vec<ClaimedOrder>>;

    /// Writes the Counterpoint order for a claimed staged order, in one transaction.
    async fn apply_staged_order(
        &self,
        claim: &ClaimedOrder,
        doc: &OrderDocument,
        now: NaiveDateTime,
    ) -> CpResult<ApplyOutcome>;

    /// Records a failed attempt: `FAILED` with `retry_at`, or `DEAD` when `retry_at` is `None`. Returns false when the
    /// claim was lost meanwhile.
    async fn fail_staged_order(
        &self,
        claim: &ClaimedOrder,
        error: &str,
        retry_at: Option<NaiveDateTime>,
    ) -> CpResult<bool>;

    async fn staged_order(&self, staging_id: StagingId) -> CpResult<Option<StagedOrder>>;

    async fn staged_order_by_woo_id(&self, woo_order_id: WooOrderId) -> CpResult<Option<StagedOrder>>;

    /// Staged orders, newest first, optionally of one status.
    async fn staged_orders(&self, status: Option<StagingStatus>, limit: usize) -> CpResult<Vec<StagedOrder>>;

    /// How many staged orders are in each status.
    async fn staging_counts(&self) -> CpResult<BTreeMap<String, i64>>;

    /// Puts a `DEAD` or `FAILED` order back to `PENDING` with its attempts reset. Returns false when it was not in
    /// either state.
    async fn requeue_staged_order(&self, staging_id: StagingId) -> CpResult<bool>;

    /// Marks a not-yet-applied order `CANCELLED`; a claim in flight is void after it (its apply writes nothing).
    /// Returns false when it is applied or unknown.
    async fn cancel_staged_order(&self, woo_order_id: WooOrderId, reason: &str) -> CpResult<bool>;

    /// Records that the WooCommerce order has its note and status.
    async fn mark_woo_synced(&self, staging_id: StagingId, at: NaiveDateTime) -> CpResult<()>;

    /// Applied orders whose write-back to WooCommerce is due: not yet synced, and not waiting out a backoff.
    async fn writebacks_due(&self, now: NaiveDateTime, limit: usize) -> CpResult<Vec<StagedOrder>>;

    /// Records a failed write-back, to be tried again at `retry_at`.
    async fn fail_writeback(&self, staging_id: StagingId, error: &str, retry_at: NaiveDateTime) -> CpResult<()>;

    /// Applied and synced orders whose document has not reached a final state yet, in `STAGING_ID` order after
    /// `after_staging_id`.
    async fn open_applied_orders(&self, after_staging_id: StagingId, limit: usize) -> CpResult<Vec<StagedOrder>>;

    /// Records the final state of an applied order's document, after WooCommerce was told.
    async fn set_doc_state(&self, staging_id: StagingId, state: &str) -> CpResult<()>;

    /// Replaces the order data of a staged order that is not applied yet (it changed in WooCommerce, or an operator
    /// fixed it there) and puts it back to `PENDING` with its attempts reset. A claim in flight is void after it: the
    /// claimer's apply finds its claim gone and writes nothing. Returns false when it is applied.
    async fn restage_order(&self, staging_id: StagingId, order: &NewStagedOrder) -> CpResult<bool>;

    /// Heads of staging rows after `after_staging_id`, in id order (the orders reconcile reads them all, in pages).
    async fn staging_heads(&self, after_staging_id: StagingId, limit: usize) -> CpResult<Vec<StagingHead>>;

    /// Open order documents on station `sta_id` after `after_doc_id`, in id order, with their totals.
    async fn station_documents(&self, sta_id: &str, after_doc_id: i64, limit: usize) -> CpResult<Vec<BookedDocument>>;

    /// Lines of the staged orders that may still be applied, so the web's stock leaves room for them: pending,
    /// applying and failed ones, and dead ones staged at or after `dead_since` (an operator may still replay them).
    async fn unapplied_order_lines(&self, dead_since: NaiveDateTime) -> CpResult<Vec<StagedLine>>;

    /// The dimension values of these gridded items, by item, dimension and display order.
    async fn grid_dims(&self, item_nos: &[String]) -> CpResult<Vec<GridDimValue>>;

    /// The cell stock of these gridded items at these locations.
    async fn cell_levels(&self, item_nos: &[String], locations: &[String]) -> CpResult<Vec<CellLevel>>;

    /// The cell barcodes (`IM_BARCOD`) of these gridded items, by item, cell and `BARCOD_ID`.
    async fn cell_barcodes(&self, item_nos: &[String]) -> CpResult<Vec<CellBarcode>>;

    /// The cells these barcodes belong to (a barcode may be a variation's SKU).
    async fn cells_by_barcode(&self, barcodes: &[String]) -> CpResult<Vec<CellBarcode>>;

    /// Deletes the consumed `USER_INV_CHANGES` rows consumed before `consumed_before`, in bounded batches; returns
    /// how many went.
    async fn purge_inventory_changes(&self, consumed_before: NaiveDateTime) -> CpResult<u64>;

    /// The size of `USER_INV_CHANGES` and its oldest unconsumed change.
    async fn inventory_change_backlog(&self) -> CpResult<ChangeBacklog>;

    /// What is wrong with the shop's setup for cpbridge's documents, each problem in plain words: a store, station,
    /// drawer, user or pay code that Counterpoint does not have, or documents on cpbridge's station that a register
    /// wrote. Empty when all is well.
    async fn setup_problems(&self, setup: &ShopSetup) -> CpResult<Vec<String>>;

    /// Ends a `DEAD` or `FAILED` order for good, with the operator's reason. Returns false when it is neither.
    async fn discard_staged_order(&self, staging_id: StagingId, reason: &str) -> CpResult<bool>;

    /// Where a document cpbridge created stands now.
    async fn document_state(&self, doc_id: i64, tkt_no: &str) -> CpResult<DocumentState>;

    /// Every price group with its rules and breaks.
    async fn price_groups(&self) -> CpResult<Vec<PriceGroup>>;

    /// The latest `RS_UTC_DT` of the price-rule tables, to tell when a cached copy is stale.
    async fn pricing_changed_at(&self) -> CpResult<Option<NaiveDateTime>>;
}

/// The port over one driver.
#[derive(Debug, Clone)]
pub struct SqlCounterpoint<D: Driver> {
    driver: D,
    /// The live columns of cpbridge's tables, read once (at start-up or the first insert) and on every schema check.
    live: Arc<std::sync::RwLock<Option<Arc<LiveSchema>>>>,
}

impl SqlCounterpoint<SqliteDriver> {
    /// Opens an existing SQLite replica.
    ///
    /// # Errors
    /// `Unavailable` when the file is missing or unreadable.
    pub async fn open_replica(path: &Path) -> CpResult<Self> {
        Ok(SqlCounterpoint::from_driver(SqliteDriver::open(path).await?))
    }

    /// Creates a new SQLite replica with every table and trigger.
    ///
    /// # Errors
    /// `Invalid` when the file exists.
    pub async fn create_replica(path: &Path) -> CpResult<Self> {
        Ok(SqlCounterpoint::from_driver(SqliteDriver::create(path).await?))
    }
}

impl SqlCounterpoint<MssqlDriver> {
    /// Connects to SQL Server with an ADO.NET connection string.
    ///
    /// # Errors
    /// `Invalid` for a malformed connection string.
    pub fn connect_mssql(connection_string: &str) -> CpResult<Self> {
        Ok(SqlCounterpoint::from_driver(MssqlDriver::from_ado(connection_string, 8)?))
    }
}

/// Opens the Counterpoint database named by `url`: `sqlite:PATH` (or a path ending in `.db`/`.sqlite`) for the
/// replica, anything else as an ADO.NET connection string for SQL Server.
///
/// # Errors
/// As [`SqlCounterpoint::open_replica`] and [`SqlCounterpoint::connect_mssql`].
pub async fn open(url: &str) -> CpResult<Arc<dyn CounterpointPort>> {
    if let Some(path) = sqlite_path(url) {
        Ok(Arc::new(SqlCounterpoint::open_replica(Path::new(path)).await?))
    } else {
        Ok(Arc::new(SqlCounterpoint::connect_mssql(url)?))
    }
}

/// The replica path in a `sqlite:` URL, if it is one.
pub fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .or_else(|| (url.ends_with(".db") || url.ends_with(".sqlite")).then_some(url))
}

/// Separates the parts of a composite key inside a [`Watermark`].
const KEY_SEP: char = '\u{1f}';

/// The keyset condition "after this watermark" over `(ts_col, key_cols...)`, with its parameters numbered from
/// `first`. NULL timestamps sort first in both dialects, and are only read from a watermark without a time.
fn after_watermark(
    dialect: Dialect,
    ts_col: &str,
    key_cols: &[&str],
    wm: &Watermark,
    first: usize,
) -> (String, Vec<Value>) {
    let parts: Vec<&str> = if wm.key.is_empty() { Vec::new() } else { wm.key.split(KEY_SEP).collect() };
    let mut params: Vec<Value> = Vec::new();
    // (k1, k2, ...) > (v1, v2, ...), expanded, because SQL Server has no row-value comparison.
    let key_after = |params: &mut Vec<Value>| -> String {
        if parts.len() != key_cols.len() {
            return "1 = 1".into();
        }
        let mut alternatives = Vec::new();
        for i in 0..key_cols.len() {
            let mut terms = Vec::new();
            for (j, col) in key_cols.iter().enumerate().take(i) {
                params.push(Value::Text(parts[j].to_owned()));
                terms.push(format!("{col} = @P{}", first + params.len() - 1));
            }
            params.push(Value::Text(parts[i].to_owned()));
            terms.push(format!("{} > @P{}", key_cols[i], first + params.len() - 1));
            alternatives.push(format!("({})", terms.join(" AND ")));
        }
        format!("({})", alternatives.join(" OR "))
    };
    let sql = match wm.at {
        None if parts.is_empty() => "1 = 1".to_owned(),
        None => {
            let keys = key_after(&mut params);
            format!("(({ts_col} IS NULL AND {keys}) OR {ts_col} IS NOT NULL)")
        }
        Some(at) => {
            params.push(Value::DateTime(at));
            let t = dialect.datetime_param(first);
            let t2 = dialect.datetime_param(first);
            let keys = key_after(&mut params);
            format!("({ts_col} > {t} OR ({ts_col} = {t2} AND {keys}))")
        }
    };
    (sql, params)
}

/// The watermark just after a row, for the next page.
pub fn watermark_after(at: Option<NaiveDateTime>, key_parts: &[&str]) -> Watermark {
    Watermark { at, key: key_parts.join(&KEY_SEP.to_string()) }
}

/// Trims a value to a column's length where cutting is harmless (names, addresses), logging the cut.
fn fit(table: &Table, column: &str, value: Option<&str>, what: &str) -> Value {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Value::Null };
    Value::Text(cut_to_fit(table.name, column, model_len(table, column), value, what))
}

/// Refuses a value that must not be cut (keys, e-mail addresses) when it is too long for its column.
fn exact(table: &Table, column: &str, value: &str, what: &str) -> CpResult<Value> {
    match too_long(table.name, column, model_len(table, column), value, what) {
        Some(e) => Err(e),
        None => Ok(Value::Text(value.to_owned())),
    }
}

impl<D: Driver> SqlCounterpoint<D> {
    pub fn from_driver(driver: D) -> Self {
        SqlCounterpoint { driver, live: Arc::default() }
    }

    /// Reads the live columns of cpbridge's tables and keeps them for the inserts.
    ///
    /// # Errors
    /// Whatever the database says.
    pub async fn load_live_schema(&self) -> CpResult<Arc<LiveSchema>> {
        let rows = self.read(&LiveSchema::query(self.dialect()), &[]).await?;
        let mut live = LiveSchema::from_rows(rows)?;
        if self.dialect() == Dialect::Mssql {
            let signature = self.read(crate::docid_fn::SIGNATURE_QUERY, &[]).await?;
            live.doc_ids = crate::docid_fn::DocIdSource::from_rows(&signature)?;
        }
        let live = Arc::new(live);
        if let Ok(mut slot) = self.live.write() {
            *slot = Some(live.clone());
        }
        Ok(live)
    }

    /// The live columns, read on first use.
    async fn live_schema(&self) -> CpResult<Arc<LiveSchema>> {
        let known = self.live.read().ok().and_then(|slot| slot.clone());
        match known {
            Some(live) => Ok(live),
            None => self.load_live_schema().await,
        }
    }

    pub fn driver(&self) -> &D {
        &self.driver
    }

    fn dialect(&self) -> Dialect {
        self.driver.dialect()
    }

    fn sql(&self, shared: &str) -> String {
        self.dialect().render(shared)
    }

    /// Runs one read in its own transaction.
    async fn read(&self, sql: &str, params: &[Value]) -> CpResult<Vec<Row>> {
        let mut tx = self.driver.begin(TxMode::Read).await?;
        let rows = tx.query(sql, params).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Runs one write in its own transaction.
    async fn write(&self, sql: &str, params: &[Value]) -> CpResult<u64> {
        let mut tx = self.driver.begin(TxMode::Write).await?;
        let n = tx.execute(sql, params).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Applies cpbridge's install scripts (`sql/mssql/`) to a SQL Server database. Safe to run again.
    ///
    /// # Errors
    /// Whatever the server says about a statement.
    pub async fn migrate(&self) -> CpResult<()> {
        if self.dialect() != Dialect::Mssql {
            return Ok(());
        }
        for script in [MSSQL_USER_TABLES, MSSQL_INV_TRIGGER] {
            let mut tx = self.driver.begin(TxMode::Read).await?;
            tx.execute_script(script).await.map_err(|e| e.context("applying sql/mssql"))?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Builds Counterpoint's tables on a blank SQL Server (the `CPBRIDGE_MSSQL_TEST_URL` suite only).
    ///
    /// # Errors
    /// Whatever the server says.
    pub async fn install_test_fixture(&self) -> CpResult<()> {
        let mut tx = self.driver.begin(TxMode::Read).await?;
        tx.execute_script(MSSQL_TEST_FIXTURE).await?;
        tx.commit().await?;
        self.migrate().await
    }

    async fn paged<T>(
        &self,
        table: &str,
        cols: &str,
        key_cols: &[&str],
        after: &Watermark,
        limit: usize,
        map: fn(Row) -> CpResult<T>,
    ) -> CpResult<Vec<T>> {
        let d = self.dialect();
        let (cond, mut params) = after_watermark(d, "RS_UTC_DT", key_cols, after, 1);
        params.push(Value::from(limit));
        let order = format!("RS_UTC_DT, {}", key_cols.join(", "));
        let sql =
            d.select_top(params.len(), cols, &d.render(&format!("FROM dbo.{table} WHERE {cond} ORDER BY {order}")));
        self.read(&sql, &params).await?.into_iter().map(map).collect()
    }

    async fn next_counter(&self, tx: &mut D::Tx, counter_id: &str, at: NaiveDateTime) -> CpResult<i64> {
        let d = self.dialect();
        let ensure = self.sql(
            "INSERT INTO dbo.USER_DOC_COUNTER (COUNTER_ID, NEXT_NO, LST_MAINT_DT) SELECT @P1, 0, @P2 \
             WHERE NOT EXISTS (SELECT 1 FROM dbo.USER_DOC_COUNTER WHERE COUNTER_ID = @P1)",
        );
        match tx.execute(&ensure, &params![counter_id, at]).await {
            Ok(_) | Err(CpError::DuplicateKey { .. }) => {}
            Err(e) => return Err(e.context(format!("creating counter {counter_id}"))),
        }
        let bump = d.update_returning(
            "USER_DOC_COUNTER",
            "NEXT_NO = NEXT_NO + 1, LST_MAINT_DT = @P2",
            "NEXT_NO",
            "COUNTER_ID = @P1",
        );
        let rows = tx
            .query(&bump, &params![counter_id, at])
            .await
            .map_err(|e| e.context(format!("advancing counter {counter_id}")))?;
        rows.into_iter().next().map_or_else(
            || Err(CpError::Schema(format!("USER_DOC_COUNTER row {counter_id} vanished"))),
            |r| r.from_table("USER_DOC_COUNTER", &["COUNTER_ID"]).i64("NEXT_NO"),
        )
    }
}

/// Embedded copies of the files in `sql/`, so the binary carries them.
pub const MSSQL_USER_TABLES: &str = include_str!("../../../../sql/mssql/001_user_tables.sql");
pub const MSSQL_INV_TRIGGER: &str = include_str!("../../../../sql/mssql/002_inv_changes_trigger.sql");
pub const MSSQL_TEST_FIXTURE: &str = include_str!("../../../../sql/mssql/test/counterpoint_fixture.sql");

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn keyset_condition_in_tsql() {
        let at = NaiveDate::from_ymd_opt(2026, 11, 25).and_then(|d| d.and_hms_opt(5, 0, 0)).expect("date");
        let wm = watermark_after(Some(at), &["A-1", "MAIN"]);
        let (sql, params) = after_watermark(Dialect::Mssql, "RS_UTC_DT", &["ITEM_NO", "LOC_ID"], &wm, 1);
        assert_eq!(
            sql,
            "(RS_UTC_DT > CAST(@P1 AS DATETIME) OR (RS_UTC_DT = CAST(@P1 AS DATETIME) AND ((ITEM_NO > @P2) OR \
             (ITEM_NO = @P3 AND LOC_ID > @P4))))"
        );
        assert_eq!(params, vec![Value::DateTime(at), "A-1".into(), "A-1".into(), "MAIN".into()]);
        let (start, none) = after_watermark(Dialect::Mssql, "RS_UTC_DT", &["ITEM_NO"], &Watermark::start(), 1);
        assert_eq!((start.as_str(), none.len()), ("1 = 1", 0));
    }

    #[test]
    fn sqlite_urls() {
        assert_eq!(sqlite_path("sqlite:/tmp/cp.db"), Some("/tmp/cp.db"));
        assert_eq!(sqlite_path("sqlite:///tmp/cp.db"), Some("/tmp/cp.db"));
        assert_eq!(sqlite_path("replica.sqlite"), Some("replica.sqlite"));
        assert_eq!(sqlite_path("server=tcp:cp,1433;database=CPSQL"), None);
    }

    #[test]
    fn harmless_cuts_count_what_sql_server_stores() {
        // An emoji is two places in a VARCHAR (the counting itself is tested in columns.rs).
        let table = schema::table("AR_CUST").expect("AR_CUST");
        let long = "\u{1F600}".repeat(30);
        let Value::Text(cut) = fit(table, "NAM", Some(&long), "name") else { panic!("text") };
        assert_eq!(cut.encode_utf16().count(), 40, "cut to NAM's 40 places, not 40 characters");
        assert!(exact(table, "CUST_NO", "C-1234567890123456", "customer").is_err(), "a key is never cut");
    }
}
