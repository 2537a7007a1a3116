//! The Counterpoint port: every operation the pipelines need from a Counterpoint database, and its one
//! implementation over either driver.
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
use cpbridge_core::order::{DocContact, OrderDocument, split_backorder};
use cpbridge_core::records::{
    Customer, InventoryChange, InventoryLevel, Item, ItemPrice, PriceBreak, PriceGroup, PriceRule, ShipAddress,
    Watermark,
};
use cpbridge_core::staging::{
    ApplyOutcome, BookedDocument, ClaimedOrder, DocumentState, NewStagedOrder, StageOutcome, StagedLine, StagedOrder,
    StagingHead, StagingStatus,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::columns::{Insert, LiveSchema, UnfilledColumn, varchar_len, varchar_prefix};
use crate::dialect::{Dialect, like_prefix};
use crate::driver::{Driver, Tx, TxMode};
use crate::error::{CpError, CpResult};
use crate::mssql::MssqlDriver;
use crate::params;
use crate::schema::{self, Owner, TABLES, Table};
use crate::sqlite::SqliteDriver;
use crate::value::{Row, Value, flag};

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

    async fn customer(&self, cust_no: &str) -> CpResult<Option<Customer>>;

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
    ) -> CpResult<String>;

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

    async fn staged_order(&self, staging_id: i64) -> CpResult<Option<StagedOrder>>;

    async fn staged_order_by_woo_id(&self, woo_order_id: i64) -> CpResult<Option<StagedOrder>>;

    /// Staged orders, newest first, optionally of one status.
    async fn staged_orders(&self, status: Option<StagingStatus>, limit: usize) -> CpResult<Vec<StagedOrder>>;

    /// How many staged orders are in each status.
    async fn staging_counts(&self) -> CpResult<BTreeMap<String, i64>>;

    /// Puts a `DEAD` or `FAILED` order back to `PENDING` with its attempts reset. Returns false when it was not in
    /// either state.
    async fn requeue_staged_order(&self, staging_id: i64) -> CpResult<bool>;

    /// Marks a not-yet-applied order `CANCELLED`; a claim in flight is void after it (its apply writes nothing).
    /// Returns false when it is applied or unknown.
    async fn cancel_staged_order(&self, woo_order_id: i64, reason: &str) -> CpResult<bool>;

    /// Records that the WooCommerce order has its note and status.
    async fn mark_woo_synced(&self, staging_id: i64, at: NaiveDateTime) -> CpResult<()>;

    /// Applied orders whose write-back to WooCommerce is due: not yet synced, and not waiting out a backoff.
    async fn writebacks_due(&self, now: NaiveDateTime, limit: usize) -> CpResult<Vec<StagedOrder>>;

    /// Records a failed write-back, to be tried again at `retry_at`.
    async fn fail_writeback(&self, staging_id: i64, error: &str, retry_at: NaiveDateTime) -> CpResult<()>;

    /// Applied and synced orders whose document has not reached a final state yet, in `STAGING_ID` order after
    /// `after_staging_id`.
    async fn open_applied_orders(&self, after_staging_id: i64, limit: usize) -> CpResult<Vec<StagedOrder>>;

    /// Records the final state of an applied order's document, after WooCommerce was told.
    async fn set_doc_state(&self, staging_id: i64, state: &str) -> CpResult<()>;

    /// Replaces the order data of a staged order that is not applied yet (it changed in WooCommerce, or an operator
    /// fixed it there) and puts it back to `PENDING` with its attempts reset. A claim in flight is void after it: the
    /// claimer's apply finds its claim gone and writes nothing. Returns false when it is applied.
    async fn restage_order(&self, staging_id: i64, order: &NewStagedOrder) -> CpResult<bool>;

    /// Heads of staging rows after `after_staging_id`, in id order (the orders reconcile reads them all, in pages).
    async fn staging_heads(&self, after_staging_id: i64, limit: usize) -> CpResult<Vec<StagingHead>>;

    /// Open order documents on station `sta_id` after `after_doc_id`, in id order, with their totals.
    async fn station_documents(&self, sta_id: &str, after_doc_id: i64, limit: usize) -> CpResult<Vec<BookedDocument>>;

    /// Lines of the staged orders that may still be applied, so the web's stock leaves room for them: pending,
    /// applying and failed ones, and dead ones staged at or after `dead_since` (an operator may still replay them).
    async fn unapplied_order_lines(&self, dead_since: NaiveDateTime) -> CpResult<Vec<StagedLine>>;

    /// What is wrong with the shop's setup for cpbridge's documents, each problem in plain words: a store, station,
    /// drawer, user or pay code that Counterpoint does not have, or documents on cpbridge's station that a register
    /// wrote. Empty when all is well.
    async fn setup_problems(&self, setup: &ShopSetup) -> CpResult<Vec<String>>;

    /// Ends a `DEAD` or `FAILED` order for good, with the operator's reason. Returns false when it is neither.
    async fn discard_staged_order(&self, staging_id: i64, reason: &str) -> CpResult<bool>;

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

const ITEM_COLS: &str = "ITEM_NO, DESCR, SHORT_DESCR, LONG_DESCR, ITEM_TYP, STAT, CATEG_COD, SUBCAT_COD, IS_ECOMM_ITEM, \
     IS_TXBL, TAX_CATEG_COD, WEIGHT, BARCOD, PRC_1, REG_PRC, LST_COST, TRK_METH, STK_UNIT, PRC_DECS, PROF_COD_1, ATTR_COD_1, \
     LST_MAINT_DT, RS_UTC_DT";
const PRICE_COLS: &str =
    "ITEM_NO, LOC_ID, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, REG_PRC, PRC_1, PRC_2, PRC_3, PRC_4, PRC_5, PRC_6, RS_UTC_DT";
const INV_COLS: &str = "ITEM_NO, LOC_ID, QTY_ON_HND, QTY_COMMIT, QTY_ON_ORD, QTY_ON_BO, RS_UTC_DT";
const CUST_COLS: &str = "CUST_NO, NAM, FST_NAM, LST_NAM, ADRS_1, ADRS_2, ADRS_3, CITY, STATE, ZIP_COD, CNTRY, PHONE_1, \
     EMAIL_ADRS_1, CUST_TYP, CATEG_COD, PROF_COD_1, DISC_PCT, TAX_COD, STR_ID, CUST_NAM_TYP, IS_ECOMM_CUST, RS_UTC_DT";
const STAGING_COLS: &str = "STAGING_ID, WOO_ORDER_ID, WOO_ORDER_NO, CUST_NO, TOT_AMT, STATUS, ATTEMPTS, \
     NEXT_ATTEMPT_DT, LAST_ERR, LINE_ITEMS_JSON, RAW_ORDER_JSON, CP_DOC_ID, CP_TKT_NO, APPLIED_DT, WOO_SYNCED_DT, \
     BKORD_QTY, WOO_SYNC_ATTEMPTS, WOO_SYNC_ERR, CP_DOC_STATE, CREATED_DT, CLAIM_TOKEN";

/// Separates the parts of a composite key inside a [`Watermark`].
const KEY_SEP: char = '\u{1f}';

fn item_from_row(row: Row) -> CpResult<Item> {
    let row = row.from_table("IM_ITEM", &["ITEM_NO"]);
    Ok(Item {
        item_no: row.text("ITEM_NO")?,
        descr: row.text_or_empty("DESCR")?,
        short_descr: row.opt_text("SHORT_DESCR")?,
        long_descr: row.opt_text("LONG_DESCR")?,
        item_typ: row.opt_text("ITEM_TYP")?.unwrap_or_else(|| "I".into()),
        stat: row.opt_text("STAT")?.unwrap_or_else(|| "A".into()),
        categ_cod: row.opt_text("CATEG_COD")?,
        subcat_cod: row.opt_text("SUBCAT_COD")?,
        is_ecomm_item: row.flag("IS_ECOMM_ITEM")?,
        is_txbl: row.flag("IS_TXBL")?,
        tax_categ_cod: row.opt_text("TAX_CATEG_COD")?,
        weight: row.opt_dec("WEIGHT")?,
        barcod: row.opt_text("BARCOD")?,
        prc_1: row.dec_or_zero("PRC_1")?,
        reg_prc: row.dec_or_zero("REG_PRC")?,
        lst_cost: row.opt_dec("LST_COST")?,
        trk_meth: row.opt_text("TRK_METH")?,
        stk_unit: row.opt_text("STK_UNIT")?,
        prc_decs: u32::try_from(row.opt_i64("PRC_DECS")?.unwrap_or(2).clamp(0, 4)).unwrap_or(2),
        prof_cod_1: row.opt_text("PROF_COD_1")?,
        attr_cod_1: row.opt_text("ATTR_COD_1")?,
        lst_maint_dt: row.opt_datetime("LST_MAINT_DT")?,
        rs_utc_dt: row.opt_datetime("RS_UTC_DT")?,
    })
}

fn price_from_row(row: Row) -> CpResult<ItemPrice> {
    let row = row.from_table("IM_PRC", &["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"]);
    Ok(ItemPrice {
        item_no: row.text("ITEM_NO")?,
        loc_id: row.text("LOC_ID")?,
        dim_1_upr: row.text_or_empty("DIM_1_UPR")?,
        dim_2_upr: row.text_or_empty("DIM_2_UPR")?,
        dim_3_upr: row.text_or_empty("DIM_3_UPR")?,
        reg_prc: row.opt_dec("REG_PRC")?,
        prc: [
            row.opt_dec("PRC_1")?,
            row.opt_dec("PRC_2")?,
            row.opt_dec("PRC_3")?,
            row.opt_dec("PRC_4")?,
            row.opt_dec("PRC_5")?,
            row.opt_dec("PRC_6")?,
        ],
        rs_utc_dt: row.opt_datetime("RS_UTC_DT")?,
    })
}

fn inventory_from_row(row: Row) -> CpResult<InventoryLevel> {
    let row = row.from_table("IM_INV", &["ITEM_NO", "LOC_ID"]);
    Ok(InventoryLevel {
        item_no: row.text("ITEM_NO")?,
        loc_id: row.text("LOC_ID")?,
        qty_on_hnd: row.dec_or_zero("QTY_ON_HND")?,
        qty_commit: row.dec_or_zero("QTY_COMMIT")?,
        qty_on_ord: row.dec_or_zero("QTY_ON_ORD")?,
        qty_on_bo: row.dec_or_zero("QTY_ON_BO")?,
        rs_utc_dt: row.opt_datetime("RS_UTC_DT")?,
    })
}

fn customer_from_row(row: Row) -> CpResult<Customer> {
    let row = row.from_table("AR_CUST", &["CUST_NO"]);
    Ok(Customer {
        cust_no: row.text("CUST_NO")?,
        nam: row.text_or_empty("NAM")?,
        fst_nam: row.opt_text("FST_NAM")?,
        lst_nam: row.opt_text("LST_NAM")?,
        adrs_1: row.opt_text("ADRS_1")?,
        adrs_2: row.opt_text("ADRS_2")?,
        adrs_3: row.opt_text("ADRS_3")?,
        city: row.opt_text("CITY")?,
        state: row.opt_text("STATE")?,
        zip_cod: row.opt_text("ZIP_COD")?,
        cntry: row.opt_text("CNTRY")?,
        phone_1: row.opt_text("PHONE_1")?,
        email_adrs_1: row.opt_text("EMAIL_ADRS_1")?,
        cust_typ: row.opt_text("CUST_TYP")?,
        categ_cod: row.opt_text("CATEG_COD")?,
        prof_cod_1: row.opt_text("PROF_COD_1")?,
        disc_pct: row.opt_dec("DISC_PCT")?,
        tax_cod: row.opt_text("TAX_COD")?,
        str_id: row.opt_text("STR_ID")?,
        cust_nam_typ: row.opt_text("CUST_NAM_TYP")?,
        is_ecomm_cust: row.flag("IS_ECOMM_CUST")?,
        rs_utc_dt: row.opt_datetime("RS_UTC_DT")?,
    })
}

/// `USER_ORDER_STAGING.STATUS` of a row, or an error naming the row.
fn staging_status(row: &Row) -> CpResult<StagingStatus> {
    row.text("STATUS")?.parse().map_err(|e: cpbridge_core::staging::UnknownStatus| CpError::BadData {
        table: "USER_ORDER_STAGING",
        key: row.key(),
        column: "STATUS".into(),
        detail: e.to_string(),
    })
}

fn staged_from_row(row: Row) -> CpResult<StagedOrder> {
    let row = row.from_table("USER_ORDER_STAGING", &["STAGING_ID", "WOO_ORDER_ID"]);
    let status = staging_status(&row)?;
    let lines_json = row.text_or_empty("LINE_ITEMS_JSON")?;
    let lines = if lines_json.trim().is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(&lines_json).map_err(|e| CpError::BadData {
            table: "USER_ORDER_STAGING",
            key: row.key(),
            column: "LINE_ITEMS_JSON".into(),
            detail: e.to_string(),
        })?
    };
    Ok(StagedOrder {
        staging_id: row.i64("STAGING_ID")?,
        woo_order_id: row.i64("WOO_ORDER_ID")?,
        woo_order_no: row.text_or_empty("WOO_ORDER_NO")?,
        cust_no: row.opt_text("CUST_NO")?,
        tot_amt: row.dec_or_zero("TOT_AMT")?,
        status,
        attempts: row.opt_i64("ATTEMPTS")?.unwrap_or(0),
        next_attempt_dt: row.opt_datetime("NEXT_ATTEMPT_DT")?,
        last_err: row.opt_text("LAST_ERR")?,
        lines,
        raw_order_json: row.text_or_empty("RAW_ORDER_JSON")?,
        cp_doc_id: row.opt_i64("CP_DOC_ID")?,
        cp_tkt_no: row.opt_text("CP_TKT_NO")?,
        applied_dt: row.opt_datetime("APPLIED_DT")?,
        woo_synced_dt: row.opt_datetime("WOO_SYNCED_DT")?,
        bkord_qty: row.dec_or_zero("BKORD_QTY")?,
        woo_sync_attempts: row.opt_i64("WOO_SYNC_ATTEMPTS")?.unwrap_or(0),
        woo_sync_err: row.opt_text("WOO_SYNC_ERR")?,
        cp_doc_state: row.opt_text("CP_DOC_STATE")?,
        created_dt: row.datetime("CREATED_DT")?,
    })
}

/// The columns of a staged order that come from the WooCommerce order, for staging and for restaging alike.
fn staged_order_fields(order: &NewStagedOrder) -> CpResult<Vec<(&'static str, Value)>> {
    let t = &schema::USER_ORDER_STAGING;
    let what = format!("WooCommerce order {}", order.woo_order_id);
    let lines_json = serde_json::to_string(&order.lines)
        .map_err(|e| CpError::Invalid { what: what.clone(), detail: e.to_string() })?;
    Ok(vec![
        ("WOO_ORDER_NO", fit(t, "WOO_ORDER_NO", Some(&order.woo_order_no), &what)),
        ("CUST_NO", Value::from(order.cust_no.as_deref())),
        ("ORD_DAT", Value::from(order.ord_dat)),
        ("SUBTOT", Value::Dec(order.subtot)),
        ("TAX_AMT", Value::Dec(order.tax_amt)),
        ("DISC_AMT", Value::Dec(order.disc_amt)),
        ("SHIP_AMT", Value::Dec(order.ship_amt)),
        ("TOT_AMT", Value::Dec(order.tot_amt)),
        ("SHIP_VIA", fit(t, "SHIP_VIA", order.ship_via.as_deref(), &what)),
        ("PMT_METH", fit(t, "PMT_METH", order.pmt_meth.as_deref(), &what)),
        ("LINE_ITEMS_JSON", Value::Text(lines_json)),
        ("RAW_ORDER_JSON", Value::Text(order.raw_order_json.clone())),
    ])
}

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
    let max = match table.column(column).map(|c| c.ty) {
        Some(schema::ColType::VarChar(n)) => n as usize,
        _ => return Value::Text(value.to_owned()),
    };
    if varchar_len(value) <= max {
        return Value::Text(value.to_owned());
    }
    tracing::warn!(
        table = table.name,
        column,
        max,
        what,
        "value cut to fit {}.{} ({} characters)",
        table.name,
        column,
        max
    );
    Value::Text(varchar_prefix(value, max).trim_end().to_owned())
}

/// Refuses a value that must not be cut (keys, e-mail addresses) when it is too long for its column.
fn exact(table: &Table, column: &str, value: &str, what: &str) -> CpResult<Value> {
    if let Some(schema::ColType::VarChar(n)) = table.column(column).map(|c| c.ty)
        && varchar_len(value) > n as usize
    {
        return Err(CpError::Invalid {
            what: what.to_owned(),
            detail: format!(
                "{}.{} holds at most {n} characters, and {value:?} has {}",
                table.name,
                column,
                varchar_len(value)
            ),
        });
    }
    Ok(Value::Text(value.to_owned()))
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
        let live = Arc::new(LiveSchema::from_rows(rows)?);
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

    async fn allocate_tkt_no(&self, tx: &mut D::Tx, doc: &OrderDocument, at: NaiveDateTime) -> CpResult<String> {
        let counter = format!("TKT_NO:{}:{}", doc.sta_id, doc.tkt_prefix);
        let taken = self.sql("SELECT TKT_NO FROM dbo.PS_DOC_HDR WHERE STA_ID = @P1 AND TKT_NO = @P2");
        // A register that somehow used our prefix is skipped over, never collided with.
        for _ in 0..1_000 {
            let n = self.next_counter(tx, &counter, at).await?;
            let tkt_no = format_tkt_no(&doc.tkt_prefix, n).ok_or_else(|| CpError::Invalid {
                what: format!("ticket prefix {:?}", doc.tkt_prefix),
                detail: format!(
                    "ticket number {n} with this prefix is longer than 12 characters, and Counterpoint's release \
                     ticket appends -01 to it within TKT_NO VARCHAR(15)"
                ),
            })?;
            if tx.query(&taken, &params![doc.sta_id.as_str(), tkt_no.as_str()]).await?.is_empty() {
                return Ok(tkt_no);
            }
        }
        Err(CpError::Invalid {
            what: format!("ticket prefix {:?}", doc.tkt_prefix),
            detail: "1,000 ticket numbers in a row are taken".into(),
        })
    }

    /// The next free `DOC_ID` of cpbridge's station from this second on. Counterpoint's formula leaves ten ids per
    /// second, so a burst runs ahead of the clock: the search starts after the highest id already taken today.
    async fn allocate_doc_id(&self, tx: &mut D::Tx, doc: &OrderDocument, now: NaiveDateTime) -> CpResult<i64> {
        let (store, station) = self.station_numbers(tx, doc).await?;
        let first = gen_doc_id(store, station, doc.doc_typ, now, 0);
        let end_of_day = now.date().and_hms_opt(23, 59, 59).unwrap_or(now);
        let last = gen_doc_id(store, station, doc.doc_typ, end_of_day, 9);
        let highest = self.sql("SELECT MAX(DOC_ID) AS TOP_ID FROM dbo.PS_DOC_HDR WHERE DOC_ID BETWEEN @P1 AND @P2");
        let top = tx
            .query(&highest, &params![first, last])
            .await?
            .into_iter()
            .next()
            .map(|r| r.opt_i64("TOP_ID"))
            .transpose()?
            .flatten();
        let exists = self.sql("SELECT DOC_ID FROM dbo.PS_DOC_HDR WHERE DOC_ID = @P1");
        let mut id = top.map_or(first, |t| (t + 1).max(first));
        while id <= last {
            if tx.query(&exists, &params![id]).await?.is_empty() {
                return Ok(id);
            }
            id += 1;
        }
        Err(CpError::Invalid {
            what: "DOC_ID".into(),
            detail: format!("every document id of station {} is taken until midnight", doc.sta_id),
        })
    }

    /// The store and station numbers that `DOC_ID` carries (`PS_STR.STR_NO`, `PS_STA.STA_NO`).
    async fn station_numbers(&self, tx: &mut D::Tx, doc: &OrderDocument) -> CpResult<(i64, i64)> {
        let store = tx
            .query(&self.sql("SELECT STR_NO FROM dbo.PS_STR WHERE STR_ID = @P1"), &params![doc.str_id.as_str()])
            .await?;
        let station = tx
            .query(
                &self.sql("SELECT STA_NO FROM dbo.PS_STA WHERE STR_ID = @P1 AND STA_ID = @P2"),
                &params![doc.str_id.as_str(), doc.sta_id.as_str()],
            )
            .await?;
        let number = |rows: Vec<Row>, table: &'static str, column: &str| -> CpResult<Option<i64>> {
            rows.into_iter().next().map(|r| r.from_table(table, &[]).i64(column)).transpose()
        };
        let str_no = number(store, "PS_STR", "STR_NO")?.ok_or_else(|| CpError::Invalid {
            what: format!("store {}", doc.str_id),
            detail: format!("store {} is not in PS_STR: set orders.store_id to a Counterpoint store", doc.str_id),
        })?;
        let sta_no = number(station, "PS_STA", "STA_NO")?.ok_or_else(|| CpError::Invalid {
            what: format!("station {}", doc.sta_id),
            detail: format!(
                "station {} of store {} is not in PS_STA: create cpbridge's own station in Counterpoint, or set \
                 orders.station_id",
                doc.sta_id, doc.str_id
            ),
        })?;
        Ok((str_no, sta_no))
    }

    /// `PAY_TYP` and `CURNCY_COD` of a pay code, or an error naming it.
    async fn pay_code(&self, tx: &mut D::Tx, pay_cod: &str, what: &str) -> CpResult<(String, Option<String>)> {
        let rows = tx
            .query(&self.sql("SELECT PAY_TYP, CURNCY_COD FROM dbo.SY_PAY_COD WHERE PAY_COD = @P1"), &params![pay_cod])
            .await?;
        let Some(row) = rows.into_iter().next() else {
            return Err(CpError::Invalid {
                what: what.to_owned(),
                detail: format!(
                    "pay code {pay_cod} is not in SY_PAY_COD: add it in Counterpoint, or map the payment method to \
                     another code in orders.pay_codes"
                ),
            });
        };
        let row = row.from_table("SY_PAY_COD", &[]);
        Ok((row.text("PAY_TYP")?, row.opt_text("CURNCY_COD")?))
    }

    async fn insert_contact(
        &self,
        tx: &mut D::Tx,
        live: &LiveSchema,
        doc_id: i64,
        contact_id: i64,
        c: &DocContact,
    ) -> CpResult<()> {
        let what = format!("PS_DOC_CONTACT {contact_id} of document {doc_id}");
        let company = c.company.as_deref().filter(|co| !co.trim().is_empty());
        let (sql, values) = Insert::into(&schema::PS_DOC_CONTACT, Some(live), &what)
            .set("DOC_ID", doc_id)
            .set("CONTACT_ID", contact_id)
            .fit("NAM", Some(company.unwrap_or(&c.nam)))
            .set("NAM_TYP", if company.is_some() { "B" } else { "P" })
            .fit("FST_NAM", c.fst_nam.as_deref())
            .fit("LST_NAM", c.lst_nam.as_deref())
            .fit("ADRS_1", c.adrs_1.as_deref())
            .fit("ADRS_2", c.adrs_2.as_deref())
            .fit("CITY", c.city.as_deref())
            .fit("STATE", c.state.as_deref())
            .fit("ZIP_COD", c.zip_cod.as_deref())
            .fit("CNTRY", c.cntry.as_deref())
            .fit("PHONE_1", c.phone_1.as_deref())
            .fit("EMAIL_ADRS_1", c.email_adrs_1.as_deref())
            .fit("CONTCT_1", company.map(|_| c.nam.as_str()))
            .finish(self.dialect())?;
        tx.execute(&sql, &values).await.map_err(|e| e.context(&what))?;
        Ok(())
    }

    /// Adds `qty` to the order-commit columns of `IM_INV` and returns the availability before the change.
    async fn commit_inventory(
        &self,
        tx: &mut D::Tx,
        item_no: &str,
        loc_id: &str,
        qty: Decimal,
        now: NaiveDateTime,
    ) -> CpResult<Decimal> {
        let d = self.dialect();
        let read = self.sql(&format!(
            "SELECT ITEM_NO, LOC_ID, QTY_ON_HND, {} FROM dbo.IM_INV{} WHERE ITEM_NO = @P1 AND LOC_ID = @P2",
            ORDER_COMMIT_COLUMNS.join(", "),
            d.update_lock_hint()
        ));
        let rows = tx
            .query(&read, &params![item_no, loc_id])
            .await
            .map_err(|e| e.context(format!("reading IM_INV {item_no} at {loc_id}")))?;
        let Some(row) = rows.into_iter().next() else {
            // Stock rows are Counterpoint's: an item is stocked at a location by the shop (receiving, transfers,
            // item setup), never by a web order. The transaction is dropped and the order retried, then DEAD.
            return Err(CpError::Invalid {
                what: format!("IM_INV {item_no} at {loc_id}"),
                detail: format!(
                    "item {item_no} is not stocked at location {loc_id} (no IM_INV row); cpbridge never creates \
                     stock rows: set the item up at {loc_id} in Counterpoint, or change orders.fulfilment_location"
                ),
            });
        };
        let row = row.from_table("IM_INV", &["ITEM_NO", "LOC_ID"]);
        let available = row.dec_or_zero("QTY_ON_HND")? - row.dec_or_zero("QTY_COMMIT")?;
        let mut values = Vec::new();
        for col in ORDER_COMMIT_COLUMNS {
            values.push(Value::Dec(match d {
                Dialect::Mssql => qty,
                Dialect::Sqlite => cpbridge_core::round_money(row.dec_or_zero(col)? + qty),
            }));
        }
        values.extend(params![item_no, loc_id, now]);
        tx.execute(&d.inventory_add(&ORDER_COMMIT_COLUMNS), &values)
            .await
            .map_err(|e| e.context(format!("committing IM_INV {item_no} at {loc_id}")))?;
        Ok(available)
    }

    async fn write_document(
        &self,
        tx: &mut D::Tx,
        claim: &ClaimedOrder,
        doc: &OrderDocument,
        now: NaiveDateTime,
    ) -> CpResult<(i64, String, Decimal)> {
        let d = self.dialect();
        let live_schema = self.live_schema().await?;
        let live = Some(live_schema.as_ref());
        let order_ref = format!("WooCommerce order {} (staging {})", claim.order.woo_order_no, claim.order.staging_id);
        let tkt_no = self.allocate_tkt_no(tx, doc, now).await?;
        let doc_id = self.allocate_doc_id(tx, doc, now).await?;
        let header = |e: CpError| e.context(format!("{order_ref}: writing PS_DOC_HDR"));
        let (cols, mut values) = Insert::into(&schema::PS_DOC_HDR, live, &order_ref)
            .set("DOC_ID", doc_id)
            .set("DOC_GUID", Uuid::new_v4())
            .set("DOC_TYP", doc.doc_typ.to_string())
            .set("TKT_TYP", "T")
            .set("STR_ID", doc.str_id.as_str())
            .set("STA_ID", doc.sta_id.as_str())
            .set("DRW_ID", doc.drw_id.as_str())
            .set("TKT_NO", tkt_no.as_str())
            .set("CUST_NO", doc.cust_no.as_str())
            .set("TKT_DT", doc.tkt_dt)
            .fit("TAX_COD", doc.tax_cod.as_deref())
            .fit("NORM_TAX_COD", doc.tax_cod.as_deref())
            .fit("TAX_OVRD_REAS", doc.tax_ovrd_reas.as_deref())
            .fit("CUST_PO_NO", doc.cust_po_no.as_deref())
            .set("USR_ID", doc.usr_id.as_str())
            .set("STK_LOC_ID", doc.stk_loc_id.as_str())
            .set("PRC_LOC_ID", doc.prc_loc_id.as_str())
            .fit("SHIP_VIA_COD", doc.ship_via_cod.as_deref())
            .set("BILL_TO_CONTACT_ID", 1i64)
            .set("SHIP_TO_CONTACT_ID", 2i64)
            .fit("REF", doc.cust_po_no.as_ref().map(|no| format!("WooCommerce #{no}")).as_deref())
            .set("ORD_LINS", doc.lines.len())
            .set("SAL_LINS", 0i64)
            .set("SAL_LIN_TOT", Decimal::ZERO)
            .set("RET_LIN_TOT", Decimal::ZERO)
            .set("RS_UTC_DT", now)
            .set("LST_MAINT_DT", doc.local(now))
            .set("LST_MAINT_USR_ID", doc.usr_id.as_str())
            .finish_pairs()
            .map_err(header)?;
        // A register (or Counterpoint's own fnGenDocId) may take the id between the search and the insert: a
        // duplicate key moves on to the next variation digit, within the same transaction (XACT_ABORT is off, so a
        // key violation ends only the statement).
        let sql = d.insert_values("PS_DOC_HDR", &cols, 1);
        let mut doc_id = doc_id;
        let mut tries = 0;
        loop {
            values[0] = Value::Int(doc_id);
            match tx.execute(&sql, &values).await {
                Ok(_) => break,
                Err(CpError::DuplicateKey { .. }) if tries < 10 => {
                    tracing::info!(doc_id, "DOC_ID taken at insert; trying the next variation");
                    doc_id += 1;
                    tries += 1;
                }
                Err(e) => return Err(header(e)),
            }
        }
        self.insert_contact(tx, &live_schema, doc_id, 1, &doc.bill_to).await?;
        self.insert_contact(tx, &live_schema, doc_id, 2, &doc.ship_to).await?;

        // Inventory first, in key order, so that two appliers on SQL Server lock IM_INV rows in the same order.
        let mut committed: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for line in doc.lines.iter().filter(|l| l.commits_inventory()) {
            *committed.entry((line.item_no.clone(), line.stk_loc_id.clone())).or_default() += line.qty_sold;
        }
        let mut available: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for ((item_no, loc_id), qty) in &committed {
            let before = self.commit_inventory(tx, item_no, loc_id, *qty, now).await.map_err(|e| match e {
                // Name the order's lines, so that the reason on the staging row says which line to look at.
                CpError::Invalid { detail, .. } => {
                    let lines: Vec<String> = (1..=doc.lines.len())
                        .filter(|n| doc.lines[n - 1].item_no == *item_no && doc.lines[n - 1].stk_loc_id == *loc_id)
                        .map(|n| n.to_string())
                        .collect();
                    CpError::Invalid { what: format!("{order_ref}, line {} (SKU {item_no})", lines.join(", ")), detail }
                }
                other => other.context(&order_ref),
            })?;
            available.insert((item_no.clone(), loc_id.clone()), before);
        }

        let ext_cols = ["DOC_ID", "LIN_SEQ_NO", "ITEM_NO", "WOO_LINE_ID", "QTY_BKORD"];
        let mut backordered = Decimal::ZERO;
        for (i, line) in doc.lines.iter().enumerate() {
            let seq = i64::try_from(i + 1).unwrap_or(i64::MAX);
            let line_ref = format!("{order_ref}, line {seq} (SKU {})", line.item_no);
            let ext_prc = line.ext_prc();
            let (sql, values) = Insert::into(&schema::PS_DOC_LIN, live, &line_ref)
                .set("DOC_ID", doc_id)
                .set("LIN_SEQ_NO", seq)
                .set("STR_ID", doc.str_id.as_str())
                .set("STA_ID", doc.sta_id.as_str())
                .set("TKT_NO", tkt_no.as_str())
                .set("LIN_TYP", doc.lin_typ.to_string())
                .set("ITEM_NO", line.item_no.as_str())
                .fit("DESCR", Some(&line.descr))
                .set("QTY_SOLD", line.qty_sold)
                .set("QTY_NUMER", Decimal::ONE)
                .set("QTY_DENOM", Decimal::ONE)
                .fit("QTY_UNIT", line.qty_unit.as_deref())
                .set("SELL_UNIT", "0")
                .set("PRC", line.prc)
                .set("EXT_PRC", ext_prc)
                .set("GROSS_EXT_PRC", ext_prc)
                .set("CALC_EXT_PRC", ext_prc)
                .set("DISP_EXT_PRC", ext_prc)
                .set("REG_PRC", line.reg_prc)
                .set("USR_ENTD_PRC", flag(true))
                .set("HAS_PRC_OVRD", flag(false))
                .set("IS_TXBL", flag(line.is_txbl))
                .set("NORM_IS_TXBL", flag(line.is_txbl))
                .fit("TAX_CATEG", line.tax_categ_cod.as_deref())
                .fit("NORM_TAX_CATEG", line.tax_categ_cod.as_deref())
                .set("TAX_AMT_ALLOC", Decimal::ZERO)
                .set("NORM_TAX_AMT_ALLOC", Decimal::ZERO)
                .set("STK_LOC_ID", line.stk_loc_id.as_str())
                .set("PRC_LOC_ID", doc.prc_loc_id.as_str())
                .fit("CATEG_COD", line.categ_cod.as_deref())
                .fit("SUBCAT_COD", line.subcat_cod.as_deref())
                .set("ITEM_TYP", line.item_typ.as_str())
                .set("TRK_METH", line.trk_meth.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or("N"))
                .set("UNIT_COST", line.unit_cost)
                .set("EXT_COST", line.ext_cost())
                .set("LIN_GUID", Uuid::new_v4())
                .set("DIM_1_UPR", "*")
                .set("DIM_2_UPR", "*")
                .set("DIM_3_UPR", "*")
                .set("QTY_RET", Decimal::ZERO)
                .set("QTY_SHIPPED", Decimal::ZERO)
                .set("ORIG_QTY", line.qty_sold)
                .finish(d)?;
            tx.execute(&sql, &values).await.map_err(|e| e.context(&line_ref))?;

            let bkord = if line.commits_inventory() {
                let slot = available.entry((line.item_no.clone(), line.stk_loc_id.clone())).or_default();
                let (filled, bkord) = split_backorder(line.qty_sold, *slot);
                *slot -= filled;
                bkord
            } else {
                Decimal::ZERO
            };
            backordered += bkord;
            let ext = params![doc_id, seq, line.item_no.as_str(), line.woo_line_id, bkord];
            tx.execute(&d.insert_values("USER_DOC_LIN_EXT", &ext_cols, 1), &ext)
                .await
                .map_err(|e| e.context(&line_ref))?;
        }

        let t = &doc.totals;
        let deposit = doc.deposit();
        let totals_ref = format!("{order_ref}: writing PS_DOC_HDR_TOT");
        let (sql, values) = Insert::into(&schema::PS_DOC_HDR_TOT, live, &totals_ref)
            .set("DOC_ID", doc_id)
            .set("TOT_TYP", "O")
            .set("INITIAL_MIN_DUE", Decimal::ZERO)
            .set("HAS_TAX_OVRD", "!")
            .set("TAX_AMT_SHIPPED", Decimal::ZERO)
            .set("LINS", doc.lines.len())
            .set("SUB_TOT", t.sub_tot)
            .set("TAX_OVRD_LINS", 0i64)
            .set("TOT_EXT_COST", doc.tot_ext_cost())
            .set("TOT_MISC", t.tot_misc)
            .set("TAX_AMT", t.tax_amt)
            .set("NORM_TAX_AMT", t.tax_amt)
            .set("TOT_TND", deposit)
            .set("TOT_CHNG", Decimal::ZERO)
            .set("TOT_WEIGHT", t.tot_weight)
            .set("TOT_CUBE", Decimal::ZERO)
            .set("TOT", t.tot)
            .set("AMT_DUE", t.amt_due)
            .set("TOT_HDR_DISC", t.tot_hdr_disc)
            .set("TOT_LIN_DISC", t.tot_lin_disc)
            .finish(d)?;
        tx.execute(&sql, &values).await.map_err(|e| e.context(&totals_ref))?;

        for (i, payment) in doc.payments.iter().enumerate() {
            let what = format!("{order_ref}: payment {}", i + 1);
            let (pay_typ, curncy_cod) = self.pay_code(tx, &payment.pay_cod, &what).await?;
            let (sql, values) = Insert::into(&schema::PS_DOC_PMT, live, &what)
                .set("DOC_ID", doc_id)
                .set("PMT_SEQ_NO", i + 1)
                .set("PAY_COD_TYP", pay_typ.as_str())
                .set("AMT", payment.amt)
                .set("STR_ID", doc.str_id.as_str())
                .set("FINAL_PMT", flag(payment.final_pmt))
                .set("STA_ID", doc.sta_id.as_str())
                .set("CARD_IS_NEW", flag(false))
                .set("TKT_NO", tkt_no.as_str())
                .set("SECURE_ECOMM_TRX", flag(pay_typ == "E"))
                .set("PMT_LIN_TYP", "T")
                .set("PAY_COD", payment.pay_cod.as_str())
                .set("PAY_DAT", payment.pay_dat)
                .set("DEP_LIN_COPIED_TO_REL_DOC", flag(false))
                .set("HOME_CURNCY_AMT", payment.amt)
                .set("EXCH_LOSS", Decimal::ZERO)
                .set("SWIPED", flag(false))
                .fit("DESCR", payment.descr.as_deref())
                .set("EDC_AUTH_FLG", flag(false))
                .set("CURNCY_COD", curncy_cod.filter(|c| !c.trim().is_empty()).unwrap_or_else(|| "HOME".into()))
                .set("EXCH_RATE_NUMER", Decimal::ONE)
                .set("EXCH_RATE_DENOM", Decimal::ONE)
                .fit("EDC_AUTH_RESP", payment.transaction_id.as_deref())
                .set("GFC_AUTHED", flag(false))
                .finish(d)?;
            tx.execute(&sql, &values).await.map_err(|e| e.context(&what))?;
        }
        Ok((doc_id, tkt_no, backordered))
    }

    async fn staged_where(&self, cond: &str, params: &[Value]) -> CpResult<Option<StagedOrder>> {
        let sql = self.sql(&format!("SELECT {STAGING_COLS} FROM dbo.USER_ORDER_STAGING WHERE {cond}"));
        match self.read(&sql, params).await?.into_iter().next() {
            Some(row) => Ok(Some(staged_from_row(row)?)),
            None => Ok(None),
        }
    }

    async fn rule_rows(&self, table: &str, cols: &str, order: &str) -> CpResult<Vec<Row>> {
        self.read(&self.sql(&format!("SELECT {cols} FROM dbo.{table} ORDER BY {order}")), &[]).await
    }
}

/// Embedded copies of the files in `sql/`, so the binary carries them.
pub const MSSQL_USER_TABLES: &str = include_str!("../../../sql/mssql/001_user_tables.sql");
pub const MSSQL_INV_TRIGGER: &str = include_str!("../../../sql/mssql/002_inv_changes_trigger.sql");
pub const MSSQL_TEST_FIXTURE: &str = include_str!("../../../sql/mssql/test/counterpoint_fixture.sql");

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
        let mut tx = self.driver.begin(TxMode::Read).await?;
        let triggers: &[&str] = match self.dialect() {
            Dialect::Mssql => &[schema::MSSQL_INV_TRIGGER],
            Dialect::Sqlite => &["USER_TR_IM_INV_CHANGES_I", "USER_TR_IM_INV_CHANGES_U", "USER_TR_IM_INV_CHANGES_D"],
        };
        for trigger in triggers {
            if tx.query(self.dialect().trigger_exists_query(), &params![*trigger]).await?.is_empty() {
                report.missing_triggers.push((*trigger).to_owned());
            }
        }
        tx.commit().await?;
        // Counterpoint's own tables are reported; cpbridge's are fixed by `cp migrate`.
        report.missing_tables.sort_by_key(|t| schema::table(t).is_some_and(|t| t.owner == Owner::Cpbridge));
        Ok(report)
    }

    async fn items_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<Item>> {
        self.paged("IM_ITEM", ITEM_COLS, &["ITEM_NO"], after, limit, item_from_row).await
    }

    async fn items_by_no(&self, item_nos: &[String]) -> CpResult<Vec<Item>> {
        let mut items = Vec::new();
        for chunk in item_nos.chunks(500) {
            let list = self.dialect().param_list(1, chunk.len());
            let sql = self.sql(&format!("SELECT {ITEM_COLS} FROM dbo.IM_ITEM WHERE ITEM_NO IN ({list})"));
            let params: Vec<Value> = chunk.iter().map(Value::from).collect();
            for row in self.read(&sql, &params).await? {
                items.push(item_from_row(row)?);
            }
        }
        Ok(items)
    }

    async fn prices_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<ItemPrice>> {
        let keys = ["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"];
        self.paged("IM_PRC", PRICE_COLS, &keys, after, limit, price_from_row).await
    }

    async fn inventory_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<InventoryLevel>> {
        self.paged("IM_INV", INV_COLS, &["ITEM_NO", "LOC_ID"], after, limit, inventory_from_row).await
    }

    async fn inventory_for_items(&self, item_nos: &[String], locations: &[String]) -> CpResult<Vec<InventoryLevel>> {
        let mut levels = Vec::new();
        if locations.is_empty() {
            return Ok(levels);
        }
        let chunk_size = (self.dialect().max_params() - locations.len()).clamp(1, 500);
        for chunk in item_nos.chunks(chunk_size) {
            let items = self.dialect().param_list(1, chunk.len());
            let locs = self.dialect().param_list(chunk.len() + 1, locations.len());
            let sql = self
                .sql(&format!("SELECT {INV_COLS} FROM dbo.IM_INV WHERE ITEM_NO IN ({items}) AND LOC_ID IN ({locs})"));
            let params: Vec<Value> = chunk.iter().chain(locations).map(Value::from).collect();
            for row in self.read(&sql, &params).await? {
                levels.push(inventory_from_row(row)?);
            }
        }
        Ok(levels)
    }

    async fn pending_inventory_changes(&self, limit: usize) -> CpResult<Vec<InventoryChange>> {
        let d = self.dialect();
        let sql = d.select_top(
            1,
            "CHANGE_ID, ITEM_NO, LOC_ID, CHANGED_DT",
            &d.render("FROM dbo.USER_INV_CHANGES WHERE CONSUMED_DT IS NULL ORDER BY CHANGE_ID"),
        );
        self.read(&sql, &params![limit])
            .await?
            .into_iter()
            .map(|row| {
                let row = row.from_table("USER_INV_CHANGES", &["CHANGE_ID"]);
                Ok(InventoryChange {
                    change_id: row.i64("CHANGE_ID")?,
                    item_no: row.text("ITEM_NO")?,
                    loc_id: row.text("LOC_ID")?,
                    changed_dt: row.datetime("CHANGED_DT")?,
                })
            })
            .collect()
    }

    async fn consume_inventory_changes(&self, change_ids: &[i64], at: NaiveDateTime) -> CpResult<u64> {
        let mut total = 0;
        let mut tx = self.driver.begin(TxMode::Write).await?;
        for chunk in change_ids.chunks(500) {
            let list = self.dialect().param_list(2, chunk.len());
            let sql = self.sql(&format!(
                "UPDATE dbo.USER_INV_CHANGES SET CONSUMED_DT = @P1 WHERE CONSUMED_DT IS NULL AND CHANGE_ID IN ({list})"
            ));
            let mut params = params![at].to_vec();
            params.extend(chunk.iter().map(|id| Value::Int(*id)));
            total += tx.execute(&sql, &params).await.map_err(|e| e.context("consuming USER_INV_CHANGES"))?;
        }
        tx.commit().await?;
        Ok(total)
    }

    async fn customers_changed_since(&self, after: &Watermark, limit: usize) -> CpResult<Vec<Customer>> {
        self.paged("AR_CUST", CUST_COLS, &["CUST_NO"], after, limit, customer_from_row).await
    }

    async fn customer(&self, cust_no: &str) -> CpResult<Option<Customer>> {
        let sql = self.sql(&format!("SELECT {CUST_COLS} FROM dbo.AR_CUST WHERE CUST_NO = @P1"));
        self.read(&sql, &params![cust_no]).await?.into_iter().next().map(customer_from_row).transpose()
    }

    async fn customer_by_email(&self, email: &str) -> CpResult<Option<Customer>> {
        let d = self.dialect();
        let sql = d.select_top(
            2,
            CUST_COLS,
            &d.render("FROM dbo.AR_CUST WHERE LOWER(EMAIL_ADRS_1) = LOWER(@P1) ORDER BY CUST_NO"),
        );
        self.read(&sql, &params![email.trim(), 1i64]).await?.into_iter().next().map(customer_from_row).transpose()
    }

    async fn upsert_customer(
        &self,
        c: &Customer,
        ship_to: Option<&ShipAddress>,
        scheme: &CustNoScheme,
        at: NaiveDateTime,
    ) -> CpResult<String> {
        let t = &schema::AR_CUST;
        let d = self.dialect();
        let what = format!("customer {}", c.email_adrs_1.as_deref().unwrap_or(&c.cust_no));
        let mut tx = self.driver.begin(TxMode::Write).await?;
        let exists = !c.cust_no.is_empty()
            && !tx
                .query(&self.sql("SELECT CUST_NO FROM dbo.AR_CUST WHERE CUST_NO = @P1"), &params![c.cust_no.as_str()])
                .await?
                .is_empty();
        let cust_no = if c.cust_no.is_empty() {
            let n = self.next_counter(&mut tx, &format!("CUST_NO:{}", scheme.prefix), at).await?;
            let cust_no = format!("{}{:0width$}", scheme.prefix, n, width = scheme.width);
            exact(t, "CUST_NO", &cust_no, "the customer numbering scheme")?;
            cust_no
        } else {
            exact(t, "CUST_NO", &c.cust_no, &what)?;
            c.cust_no.clone()
        };
        let live = self.live_schema().await?;
        let live = Some(live.as_ref());
        let company = c.cust_nam_typ.as_deref() == Some("B");
        // NAM is required: a web customer who gave no name is known by the e-mail address.
        let nam = Some(c.nam.trim()).filter(|n| !n.is_empty()).or(c.email_adrs_1.as_deref()).unwrap_or(&cust_no);
        let row = Insert::into(t, live, &what)
            .set("CUST_NO", cust_no.as_str())
            .fit("NAM", Some(nam))
            .fit("NAM_UPR", Some(&nam.to_uppercase()))
            .fit("FST_NAM", c.fst_nam.as_deref())
            .fit("LST_NAM", c.lst_nam.as_deref())
            .fit("ADRS_1", c.adrs_1.as_deref())
            .fit("ADRS_2", c.adrs_2.as_deref())
            .fit("ADRS_3", c.adrs_3.as_deref())
            .fit("CITY", c.city.as_deref())
            .fit("STATE", c.state.as_deref())
            .fit("ZIP_COD", c.zip_cod.as_deref())
            .fit("CNTRY", c.cntry.as_deref())
            .fit("PHONE_1", c.phone_1.as_deref())
            .set("EMAIL_ADRS_1", c.email_adrs_1.as_deref().map(str::trim))
            .fit("CUST_TYP", c.cust_typ.as_deref())
            .fit("CATEG_COD", c.categ_cod.as_deref())
            .fit("PROF_COD_1", c.prof_cod_1.as_deref())
            .fit("TAX_COD", c.tax_cod.as_deref())
            .fit("STR_ID", c.str_id.as_deref())
            .set("CUST_NAM_TYP", if company { "B" } else { "P" })
            .set("IS_ECOMM_CUST", flag(c.is_ecomm_cust))
            .set("LST_MAINT_DT", at)
            .set("RS_UTC_DT", at);
        let (cols, mut values) = row.finish_pairs()?;
        if exists {
            // The key stays; every other column the insert writes is brought up to date.
            let sets: Vec<String> =
                cols.iter().skip(1).enumerate().map(|(i, col)| format!("{col} = @P{}", i + 2)).collect();
            let sql = self.sql(&format!("UPDATE dbo.AR_CUST SET {} WHERE CUST_NO = @P1", sets.join(", ")));
            tx.execute(&sql, &values).await.map_err(|e| e.context(format!("updating AR_CUST {cust_no}")))?;
        } else {
            tx.execute(&d.insert_values("AR_CUST", &cols, 1), &values)
                .await
                .map_err(|e| e.context(format!("creating AR_CUST {cust_no}")))?;
        }
        values.clear();
        if let Some(s) = ship_to {
            tx.execute(
                &self.sql("DELETE FROM dbo.AR_SHIP_ADRS WHERE CUST_NO = @P1 AND SHIP_ADRS_ID = @P2"),
                &params![cust_no.as_str(), s.ship_adrs_id.as_str()],
            )
            .await?;
            let (sql, values) = Insert::into(&schema::AR_SHIP_ADRS, live, &what)
                .set("CUST_NO", cust_no.as_str())
                .set("SHIP_ADRS_ID", s.ship_adrs_id.as_str())
                .fit("NAM", Some(&s.nam))
                .set("SHIP_NAM_TYP", if company { "B" } else { "P" })
                .fit("FST_NAM", s.fst_nam.as_deref())
                .fit("LST_NAM", s.lst_nam.as_deref())
                .fit("ADRS_1", s.adrs_1.as_deref())
                .fit("ADRS_2", s.adrs_2.as_deref())
                .fit("CITY", s.city.as_deref())
                .fit("STATE", s.state.as_deref())
                .fit("ZIP_COD", s.zip_cod.as_deref())
                .fit("CNTRY", s.cntry.as_deref())
                .fit("PHONE_1", s.phone_1.as_deref())
                .set("LST_MAINT_DT", at)
                .finish(d)?;
            tx.execute(&sql, &values).await.map_err(|e| e.context(format!("writing AR_SHIP_ADRS of {cust_no}")))?;
        }
        tx.commit().await?;
        Ok(cust_no)
    }

    async fn stage_order(&self, order: &NewStagedOrder, at: NaiveDateTime) -> CpResult<StageOutcome> {
        let what = format!("WooCommerce order {}", order.woo_order_id);
        let mut fields = vec![("WOO_ORDER_ID", Value::Int(order.woo_order_id))];
        fields.extend(staged_order_fields(order)?);
        fields.extend([
            ("STATUS", Value::Text(StagingStatus::Pending.as_str().into())),
            ("IS_APPLIED", Value::Int(0)),
            ("ATTEMPTS", Value::Int(0)),
            ("CREATED_DT", Value::DateTime(at)),
        ]);
        let (cols, values): (Vec<&str>, Vec<Value>) = fields.into_iter().unzip();
        let params_list = self.dialect().param_list(1, cols.len());
        let insert = self.sql(&format!(
            "INSERT INTO dbo.USER_ORDER_STAGING ({}) SELECT {params_list} \
             WHERE NOT EXISTS (SELECT 1 FROM dbo.USER_ORDER_STAGING WHERE WOO_ORDER_ID = @P1)",
            cols.join(", ")
        ));
        let mut tx = self.driver.begin(TxMode::Write).await?;
        let inserted = match tx.execute(&insert, &values).await {
            Ok(n) => n,
            // Another worker staged it between our check and our insert: the unique index caught it.
            Err(CpError::DuplicateKey { .. }) => 0,
            Err(e) => return Err(e.context(format!("staging {what}"))),
        };
        let rows = tx
            .query(
                &self.sql("SELECT STAGING_ID FROM dbo.USER_ORDER_STAGING WHERE WOO_ORDER_ID = @P1"),
                &params![order.woo_order_id],
            )
            .await?;
        tx.commit().await?;
        let staging_id = rows
            .into_iter()
            .next()
            .ok_or_else(|| CpError::Sql {
                context: format!("staging {what}"),
                detail: "the row is missing after insert".into(),
                code: None,
            })?
            .i64("STAGING_ID")?;
        Ok(if inserted > 0 { StageOutcome::Staged { staging_id } } else { StageOutcome::AlreadyStaged { staging_id } })
    }

    async fn claim_staged_orders(
        &self,
        now: NaiveDateTime,
        lease: Duration,
        limit: usize,
    ) -> CpResult<Vec<ClaimedOrder>> {
        let d = self.dialect();
        let due = format!(
            "FROM dbo.USER_ORDER_STAGING WHERE STATUS IN ('PENDING', 'FAILED', 'APPLYING') \
             AND (NEXT_ATTEMPT_DT IS NULL OR NEXT_ATTEMPT_DT <= {}) ORDER BY STAGING_ID",
            d.datetime_param(1)
        );
        let candidates = self
            .read(&d.select_top(2, "STAGING_ID, STATUS, NEXT_ATTEMPT_DT", &d.render(&due)), &params![now, limit])
            .await?;
        let claim = self.sql(&format!(
            "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'APPLYING', CLAIM_TOKEN = @P1, NEXT_ATTEMPT_DT = @P2, ATTEMPTS = ATTEMPTS + 1 \
             WHERE STAGING_ID = @P3 AND STATUS = @P4 AND ((NEXT_ATTEMPT_DT IS NULL AND @P5 IS NULL) OR NEXT_ATTEMPT_DT = {})",
            d.datetime_param(5)
        ));
        let mut claimed = Vec::new();
        for row in candidates {
            let row = row.from_table("USER_ORDER_STAGING", &["STAGING_ID"]);
            let staging_id = row.i64("STAGING_ID")?;
            let token = Uuid::new_v4().to_string();
            let seen_next = row.opt_datetime("NEXT_ATTEMPT_DT")?;
            let params = params![token.as_str(), now + lease, staging_id, row.text("STATUS")?, seen_next];
            // The row count decides who won: 0 means another worker claimed it first.
            if self
                .write(&claim, &params)
                .await
                .map_err(|e| e.context(format!("claiming staged order {staging_id}")))?
                == 1
                && let Some(order) = self
                    .staged_where("STAGING_ID = @P1 AND CLAIM_TOKEN = @P2", &params![staging_id, token.as_str()])
                    .await?
            {
                claimed.push(ClaimedOrder { order, claim_token: token });
            }
        }
        Ok(claimed)
    }

    async fn apply_staged_order(
        &self,
        claim: &ClaimedOrder,
        doc: &OrderDocument,
        now: NaiveDateTime,
    ) -> CpResult<ApplyOutcome> {
        let staging_id = claim.order.staging_id;
        let mut tx = self.driver.begin(TxMode::Write).await?;
        // First statement: flip our claimed row to APPLIED. Under SQL Server this also locks the row for the rest
        // of the transaction; a stale worker whose lease expired finds no row to flip and writes nothing.
        let guard = self.sql(
            "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'APPLIED', IS_APPLIED = 1, APPLIED_DT = @P1, LAST_ERR = NULL \
             WHERE STAGING_ID = @P2 AND STATUS = 'APPLYING' AND CLAIM_TOKEN = @P3",
        );
        if tx.execute(&guard, &params![now, staging_id, claim.claim_token.as_str()]).await? != 1 {
            drop(tx);
            let current = self.staged_order(staging_id).await?;
            return Ok(match current {
                Some(order) if order.status == StagingStatus::Applied => {
                    ApplyOutcome::AlreadyApplied { doc_id: order.cp_doc_id, tkt_no: order.cp_tkt_no }
                }
                _ => ApplyOutcome::ClaimLost,
            });
        }
        let (doc_id, tkt_no, backordered) = self.write_document(&mut tx, claim, doc, now).await?;
        // The applier writes back to WooCommerce itself; the write-back sweeper keeps off until the claim's lease
        // runs out, so the two never post the same note at once, and a crashed applier's write-back is resumed.
        let done = self.sql(
            "UPDATE dbo.USER_ORDER_STAGING SET CP_DOC_ID = @P1, CP_TKT_NO = @P2, BKORD_QTY = @P3, CUST_NO = @P4, CLAIM_TOKEN = NULL, \
             WOO_SYNC_NEXT_DT = NEXT_ATTEMPT_DT WHERE STAGING_ID = @P5",
        );
        tx.execute(&done, &params![doc_id, tkt_no.as_str(), backordered, doc.cust_no.as_str(), staging_id]).await?;
        tx.commit().await.map_err(|e| e.context(format!("committing staged order {staging_id}")))?;
        Ok(ApplyOutcome::Applied { doc_id, tkt_no })
    }

    async fn fail_staged_order(
        &self,
        claim: &ClaimedOrder,
        error: &str,
        retry_at: Option<NaiveDateTime>,
    ) -> CpResult<bool> {
        let status = if retry_at.is_some() { StagingStatus::Failed } else { StagingStatus::Dead };
        let error: String = error.chars().take(2000).collect();
        let sql = self.sql(
            "UPDATE dbo.USER_ORDER_STAGING SET STATUS = @P1, LAST_ERR = @P2, NEXT_ATTEMPT_DT = @P3, CLAIM_TOKEN = NULL \
             WHERE STAGING_ID = @P4 AND STATUS = 'APPLYING' AND CLAIM_TOKEN = @P5",
        );
        let n = self
            .write(&sql, &params![status.as_str(), error, retry_at, claim.order.staging_id, claim.claim_token.as_str()])
            .await?;
        Ok(n == 1)
    }

    async fn staged_order(&self, staging_id: i64) -> CpResult<Option<StagedOrder>> {
        self.staged_where("STAGING_ID = @P1", &params![staging_id]).await
    }

    async fn staged_order_by_woo_id(&self, woo_order_id: i64) -> CpResult<Option<StagedOrder>> {
        self.staged_where("WOO_ORDER_ID = @P1", &params![woo_order_id]).await
    }

    async fn staged_orders(&self, status: Option<StagingStatus>, limit: usize) -> CpResult<Vec<StagedOrder>> {
        let d = self.dialect();
        let (cond, mut params) = match status {
            Some(s) => ("WHERE STATUS = @P1", params![s.as_str()].to_vec()),
            None => ("", Vec::new()),
        };
        params.push(Value::from(limit));
        let sql = d.select_top(
            params.len(),
            STAGING_COLS,
            &d.render(&format!("FROM dbo.USER_ORDER_STAGING {cond} ORDER BY STAGING_ID DESC")),
        );
        self.read(&sql, &params).await?.into_iter().map(staged_from_row).collect()
    }

    async fn staging_counts(&self) -> CpResult<BTreeMap<String, i64>> {
        let rows = self
            .read(&self.sql("SELECT STATUS, COUNT(*) AS N FROM dbo.USER_ORDER_STAGING GROUP BY STATUS"), &[])
            .await?;
        rows.into_iter().map(|r| Ok((r.text("STATUS")?, r.i64("N")?))).collect()
    }

    async fn requeue_staged_order(&self, staging_id: i64) -> CpResult<bool> {
        let sql = self.sql(
            "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'PENDING', ATTEMPTS = 0, NEXT_ATTEMPT_DT = NULL, CLAIM_TOKEN = NULL \
             WHERE STAGING_ID = @P1 AND STATUS IN ('DEAD', 'FAILED', 'LEGACY')",
        );
        Ok(self.write(&sql, &params![staging_id]).await? == 1)
    }

    async fn cancel_staged_order(&self, woo_order_id: i64, reason: &str) -> CpResult<bool> {
        let sql = self.sql(
            "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'CANCELLED', LAST_ERR = @P2, CLAIM_TOKEN = NULL \
             WHERE WOO_ORDER_ID = @P1 AND STATUS IN ('PENDING', 'APPLYING', 'FAILED', 'DEAD')",
        );
        Ok(self.write(&sql, &params![woo_order_id, reason]).await? == 1)
    }

    async fn mark_woo_synced(&self, staging_id: i64, at: NaiveDateTime) -> CpResult<()> {
        self.write(
            &self.sql(
                "UPDATE dbo.USER_ORDER_STAGING SET WOO_SYNCED_DT = @P1, WOO_SYNC_ERR = NULL, WOO_SYNC_NEXT_DT = NULL \
                 WHERE STAGING_ID = @P2",
            ),
            &params![at, staging_id],
        )
        .await?;
        Ok(())
    }

    async fn writebacks_due(&self, now: NaiveDateTime, limit: usize) -> CpResult<Vec<StagedOrder>> {
        let d = self.dialect();
        let due = format!(
            "FROM dbo.USER_ORDER_STAGING WHERE STATUS = 'APPLIED' AND WOO_SYNCED_DT IS NULL \
             AND (WOO_SYNC_NEXT_DT IS NULL OR WOO_SYNC_NEXT_DT <= {}) ORDER BY STAGING_ID",
            d.datetime_param(1)
        );
        let sql = d.select_top(2, STAGING_COLS, &d.render(&due));
        self.read(&sql, &params![now, limit]).await?.into_iter().map(staged_from_row).collect()
    }

    async fn fail_writeback(&self, staging_id: i64, error: &str, retry_at: NaiveDateTime) -> CpResult<()> {
        let error: String = error.chars().take(2000).collect();
        let sql = self.sql(
            "UPDATE dbo.USER_ORDER_STAGING SET WOO_SYNC_ATTEMPTS = WOO_SYNC_ATTEMPTS + 1, WOO_SYNC_ERR = @P1, \
             WOO_SYNC_NEXT_DT = @P2 WHERE STAGING_ID = @P3",
        );
        self.write(&sql, &params![error, retry_at, staging_id]).await?;
        Ok(())
    }

    async fn open_applied_orders(&self, after_staging_id: i64, limit: usize) -> CpResult<Vec<StagedOrder>> {
        let d = self.dialect();
        let sql = d.select_top(
            2,
            STAGING_COLS,
            &d.render(
                "FROM dbo.USER_ORDER_STAGING WHERE STATUS = 'APPLIED' AND WOO_SYNCED_DT IS NOT NULL \
                 AND CP_DOC_STATE IS NULL AND STAGING_ID > @P1 ORDER BY STAGING_ID",
            ),
        );
        self.read(&sql, &params![after_staging_id, limit]).await?.into_iter().map(staged_from_row).collect()
    }

    async fn set_doc_state(&self, staging_id: i64, state: &str) -> CpResult<()> {
        self.write(
            &self.sql("UPDATE dbo.USER_ORDER_STAGING SET CP_DOC_STATE = @P1 WHERE STAGING_ID = @P2"),
            &params![state, staging_id],
        )
        .await?;
        Ok(())
    }

    async fn restage_order(&self, staging_id: i64, order: &NewStagedOrder) -> CpResult<bool> {
        let what = format!("WooCommerce order {}", order.woo_order_id);
        let (cols, mut values): (Vec<&str>, Vec<Value>) = staged_order_fields(order)?.into_iter().unzip();
        let sets: Vec<String> = cols.iter().enumerate().map(|(i, col)| format!("{col} = @P{}", i + 1)).collect();
        let sql = self.sql(&format!(
            "UPDATE dbo.USER_ORDER_STAGING SET {}, STATUS = 'PENDING', ATTEMPTS = 0, NEXT_ATTEMPT_DT = NULL, \
             CLAIM_TOKEN = NULL WHERE STAGING_ID = @P{} AND WOO_ORDER_ID = @P{} \
             AND STATUS IN ('PENDING', 'APPLYING', 'FAILED', 'DEAD', 'CANCELLED', 'LEGACY')",
            sets.join(", "),
            cols.len() + 1,
            cols.len() + 2
        ));
        values.extend([Value::Int(staging_id), Value::Int(order.woo_order_id)]);
        Ok(self.write(&sql, &values).await.map_err(|e| e.context(format!("restaging {what}")))? == 1)
    }

    async fn staging_heads(&self, after_staging_id: i64, limit: usize) -> CpResult<Vec<StagingHead>> {
        let d = self.dialect();
        let sql = d.select_top(
            2,
            "STAGING_ID, WOO_ORDER_ID, WOO_ORDER_NO, STATUS, TOT_AMT, ORD_DAT, CP_DOC_ID, CP_TKT_NO, CP_DOC_STATE",
            &d.render("FROM dbo.USER_ORDER_STAGING WHERE STAGING_ID > @P1 ORDER BY STAGING_ID"),
        );
        let mut heads = Vec::new();
        for row in self.read(&sql, &params![after_staging_id, limit]).await? {
            let row = row.from_table("USER_ORDER_STAGING", &["STAGING_ID"]);
            heads.push(StagingHead {
                staging_id: row.i64("STAGING_ID")?,
                woo_order_id: row.i64("WOO_ORDER_ID")?,
                woo_order_no: row.text_or_empty("WOO_ORDER_NO")?,
                status: staging_status(&row)?,
                tot_amt: row.dec_or_zero("TOT_AMT")?,
                ord_dat: row.opt_datetime("ORD_DAT")?,
                cp_doc_id: row.opt_i64("CP_DOC_ID")?,
                cp_tkt_no: row.opt_text("CP_TKT_NO")?,
                cp_doc_state: row.opt_text("CP_DOC_STATE")?,
            });
        }
        Ok(heads)
    }

    async fn station_documents(&self, sta_id: &str, after_doc_id: i64, limit: usize) -> CpResult<Vec<BookedDocument>> {
        let d = self.dialect();
        let sql = d.select_top(
            3,
            "h.DOC_ID, h.TKT_NO, h.CUST_PO_NO, t.TOT",
            &d.render(
                "FROM dbo.PS_DOC_HDR h LEFT JOIN dbo.PS_DOC_HDR_TOT t ON t.DOC_ID = h.DOC_ID AND t.TOT_TYP = 'O' \
                 WHERE h.STA_ID = @P1 AND h.DOC_TYP = 'O' AND h.DOC_ID > @P2 ORDER BY h.DOC_ID",
            ),
        );
        let mut docs = Vec::new();
        for row in self.read(&sql, &params![sta_id, after_doc_id, limit]).await? {
            let row = row.from_table("PS_DOC_HDR", &["DOC_ID"]);
            docs.push(BookedDocument {
                doc_id: row.i64("DOC_ID")?,
                tkt_no: row.text_or_empty("TKT_NO")?,
                cust_po_no: row.opt_text("CUST_PO_NO")?,
                tot: row.opt_dec("TOT")?,
            });
        }
        Ok(docs)
    }

    async fn setup_problems(&self, setup: &ShopSetup) -> CpResult<Vec<String>> {
        let mut problems = Vec::new();
        let mut tx = self.driver.begin(TxMode::Read).await?;
        let checks: [(&str, Vec<Value>, String); 4] = [
            (
                "SELECT STR_ID FROM dbo.PS_STR WHERE STR_ID = @P1",
                params![setup.str_id.as_str()].to_vec(),
                format!("store {} (orders.store_id) is not in PS_STR", setup.str_id),
            ),
            (
                "SELECT STA_ID FROM dbo.PS_STA WHERE STR_ID = @P1 AND STA_ID = @P2",
                params![setup.str_id.as_str(), setup.sta_id.as_str()].to_vec(),
                format!(
                    "station {} of store {} (orders.station_id) is not in PS_STA: create a station for cpbridge alone",
                    setup.sta_id, setup.str_id
                ),
            ),
            (
                "SELECT DRW_ID FROM dbo.PS_DRW WHERE STR_ID = @P1 AND DRW_ID = @P2",
                params![setup.str_id.as_str(), setup.drw_id.as_str()].to_vec(),
                format!("drawer {} of store {} (orders.drawer_id) is not in PS_DRW", setup.drw_id, setup.str_id),
            ),
            (
                "SELECT USR_ID FROM dbo.SY_USR WHERE USR_ID = @P1",
                params![setup.usr_id.as_str()].to_vec(),
                format!("user {} (orders.user_id) is not in SY_USR", setup.usr_id),
            ),
        ];
        for (sql, params, problem) in checks {
            if tx.query(&self.sql(sql), &params).await?.is_empty() {
                problems.push(problem);
            }
        }
        for pay_cod in &setup.pay_codes {
            let sql = self.sql("SELECT PAY_COD FROM dbo.SY_PAY_COD WHERE PAY_COD = @P1");
            if tx.query(&sql, &params![pay_cod.as_str()]).await?.is_empty() {
                problems.push(format!("pay code {pay_cod} (orders.pay_codes) is not in SY_PAY_COD"));
            }
        }
        let foreign = self.sql(
            "SELECT COUNT(*) AS N FROM dbo.PS_DOC_HDR WHERE STA_ID = @P1 AND (TKT_NO IS NULL OR TKT_NO NOT LIKE @P2 ESCAPE '\\')",
        );
        let pattern = like_prefix(&format!("{}-", setup.tkt_prefix));
        let rows = tx.query(&foreign, &params![setup.sta_id.as_str(), pattern]).await?;
        let n = rows.into_iter().next().map(|r| r.i64("N")).transpose()?.unwrap_or(0);
        if n > 0 {
            problems.push(format!(
                "{n} open document(s) on station {} were not written by cpbridge (their TKT_NO does not start with \
                 {}-): cpbridge's station must be its own",
                setup.sta_id, setup.tkt_prefix
            ));
        }
        tx.commit().await?;
        Ok(problems)
    }

    async fn discard_staged_order(&self, staging_id: i64, reason: &str) -> CpResult<bool> {
        let reason: String = reason.chars().take(2000).collect();
        let sql = self.sql(
            "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'DISCARDED', LAST_ERR = @P2, NEXT_ATTEMPT_DT = NULL, \
             CLAIM_TOKEN = NULL WHERE STAGING_ID = @P1 AND STATUS IN ('DEAD', 'FAILED')",
        );
        Ok(self.write(&sql, &params![staging_id, reason]).await? == 1)
    }

    async fn unapplied_order_lines(&self, dead_since: NaiveDateTime) -> CpResult<Vec<StagedLine>> {
        let sql = self.sql(&format!(
            "SELECT STAGING_ID, LINE_ITEMS_JSON FROM dbo.USER_ORDER_STAGING WHERE STATUS IN ('PENDING', 'APPLYING', \
             'FAILED') OR (STATUS = 'DEAD' AND CREATED_DT >= {})",
            self.dialect().datetime_param(1)
        ));
        let mut lines = Vec::new();
        for row in self.read(&sql, &params![dead_since]).await? {
            let row = row.from_table("USER_ORDER_STAGING", &["STAGING_ID"]);
            let json = row.text_or_empty("LINE_ITEMS_JSON")?;
            let parsed: Vec<StagedLine> = serde_json::from_str(&json).map_err(|e| CpError::BadData {
                table: "USER_ORDER_STAGING",
                key: row.key(),
                column: "LINE_ITEMS_JSON".into(),
                detail: e.to_string(),
            })?;
            lines.extend(parsed);
        }
        Ok(lines)
    }

    async fn document_state(&self, doc_id: i64, tkt_no: &str) -> CpResult<DocumentState> {
        let d = self.dialect();
        let release = like_prefix(&format!("{tkt_no}-"));
        let mut tx = self.driver.begin(TxMode::Read).await?;
        let open = !tx
            .query(&self.sql("SELECT DOC_ID FROM dbo.PS_DOC_HDR WHERE DOC_ID = @P1"), &params![doc_id])
            .await?
            .is_empty();
        for table in ["PS_DOC_HDR", "PS_TKT_HIST"] {
            let sql = d.select_top(
                2,
                "TKT_NO",
                &d.render(&format!("FROM dbo.{table} WHERE TKT_NO LIKE @P1 ESCAPE '\\' ORDER BY TKT_NO")),
            );
            if let Some(row) = tx.query(&sql, &params![release.as_str(), 1i64]).await?.into_iter().next() {
                return Ok(DocumentState::Released { release_tkt_no: row.text("TKT_NO")? });
            }
        }
        if open {
            return Ok(DocumentState::Open);
        }
        let closed = !tx
            .query(&self.sql("SELECT DOC_ID FROM dbo.PS_ORD_HIST WHERE DOC_ID = @P1"), &params![doc_id])
            .await?
            .is_empty();
        tx.commit().await?;
        Ok(if closed { DocumentState::Closed } else { DocumentState::Cancelled })
    }

    async fn price_groups(&self) -> CpResult<Vec<PriceGroup>> {
        let groups = self
            .rule_rows("IM_PRC_GRP", "GRP_TYP, GRP_COD, DESCR, GRP_SEQ_NO, BEG_DAT, END_DAT, NO_BEG_DAT, NO_END_DAT, ENABLED, CUST_FILT, LST_MAINT_DT", "GRP_TYP, GRP_SEQ_NO, GRP_COD")
            .await?;
        let rules = self
            .rule_rows(
                "IM_PRC_RUL",
                "GRP_TYP, GRP_COD, RUL_SEQ_NO, DESCR, CUST_FILT, ITEM_FILT, CUST_FILT_TEXT, ITEM_FILT_TEXT",
                "GRP_TYP, GRP_COD, RUL_SEQ_NO",
            )
            .await?;
        let breaks = self
            .rule_rows(
                "IM_PRC_RUL_BRK",
                "GRP_TYP, GRP_COD, RUL_SEQ_NO, MIN_QTY, PRC_METH, PRC_BASIS, AMT_OR_PCT",
                "GRP_TYP, GRP_COD, RUL_SEQ_NO, MIN_QTY",
            )
            .await?;
        let mut by_rule: BTreeMap<(String, String, i64), Vec<PriceBreak>> = BTreeMap::new();
        for row in breaks {
            let row = row.from_table("IM_PRC_RUL_BRK", &["GRP_TYP", "GRP_COD", "RUL_SEQ_NO", "MIN_QTY"]);
            by_rule.entry((row.text("GRP_TYP")?, row.text("GRP_COD")?, row.i64("RUL_SEQ_NO")?)).or_default().push(
                PriceBreak {
                    min_qty: row.dec_or_zero("MIN_QTY")?,
                    prc_meth: row.text_or_empty("PRC_METH")?,
                    prc_basis: row.text_or_empty("PRC_BASIS")?,
                    amt_or_pct: row.dec_or_zero("AMT_OR_PCT")?,
                },
            );
        }
        let mut by_group: BTreeMap<(String, String), Vec<PriceRule>> = BTreeMap::new();
        for row in rules {
            let row = row.from_table("IM_PRC_RUL", &["GRP_TYP", "GRP_COD", "RUL_SEQ_NO"]);
            let key = (row.text("GRP_TYP")?, row.text("GRP_COD")?);
            let rul_seq_no = row.i64("RUL_SEQ_NO")?;
            let breaks = by_rule.remove(&(key.0.clone(), key.1.clone(), rul_seq_no)).unwrap_or_default();
            by_group.entry(key).or_default().push(PriceRule {
                rul_seq_no,
                descr: row.opt_text("DESCR")?,
                cust_filt: row.opt_text("CUST_FILT")?,
                item_filt: row.opt_text("ITEM_FILT")?,
                cust_filt_text: row.opt_text("CUST_FILT_TEXT")?,
                item_filt_text: row.opt_text("ITEM_FILT_TEXT")?,
                breaks,
            });
        }
        groups
            .into_iter()
            .map(|row| {
                let row = row.from_table("IM_PRC_GRP", &["GRP_TYP", "GRP_COD"]);
                let grp_typ = row.text("GRP_TYP")?;
                let grp_cod = row.text("GRP_COD")?;
                let rules = by_group.remove(&(grp_typ.clone(), grp_cod.clone())).unwrap_or_default();
                let no_beg = row.flag("NO_BEG_DAT")?;
                let no_end = row.flag("NO_END_DAT")?;
                Ok(PriceGroup {
                    grp_typ,
                    grp_cod,
                    descr: row.opt_text("DESCR")?,
                    grp_seq_no: row.opt_i64("GRP_SEQ_NO")?.unwrap_or(0),
                    enabled: row.opt_text("ENABLED")?.is_none_or(|e| e.eq_ignore_ascii_case("Y")),
                    beg_dat: if no_beg { None } else { row.opt_datetime("BEG_DAT")? },
                    end_dat: if no_end { None } else { row.opt_datetime("END_DAT")? },
                    cust_filt: row.opt_text("CUST_FILT")?,
                    rules,
                    lst_maint_dt: row.opt_datetime("LST_MAINT_DT")?,
                })
            })
            .collect()
    }

    async fn pricing_changed_at(&self) -> CpResult<Option<NaiveDateTime>> {
        let mut latest = None;
        for table in ["IM_PRC_GRP", "IM_PRC_RUL", "IM_PRC_RUL_BRK"] {
            let rows = self.read(&self.sql(&format!("SELECT MAX(RS_UTC_DT) AS T FROM dbo.{table}")), &[]).await?;
            if let Some(row) = rows.into_iter().next() {
                latest = latest.max(row.opt_datetime("T")?);
            }
        }
        Ok(latest)
    }
}

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
    fn varchar_lengths_count_what_sql_server_stores() {
        // An emoji is one char but two UTF-16 units, and so two places in a VARCHAR; Hebrew letters are one each.
        assert_eq!(varchar_len("ab\u{1F600}"), 4);
        assert_eq!(varchar_len("\u{05E9}\u{05DC}\u{05D5}\u{05DD}"), 4);
        assert_eq!(varchar_prefix("ab\u{1F600}cd", 3), "ab", "an emoji is never split");
        assert_eq!(varchar_prefix("ab\u{1F600}cd", 4), "ab\u{1F600}");
        assert_eq!(varchar_prefix("short", 40), "short");
        let table = schema::table("AR_CUST").expect("AR_CUST");
        let long = "\u{1F600}".repeat(30);
        let Value::Text(cut) = fit(table, "NAM", Some(&long), "name") else { panic!("text") };
        assert_eq!(varchar_len(&cut), 40, "cut to NAM's 40 places, not 40 characters");
    }
}
