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
use cpbridge_core::docid::{format_tkt_no, gen_doc_id, numeric_part};
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

use crate::dialect::{Dialect, like_prefix};
use crate::driver::{Driver, Tx, TxMode};
use crate::error::{CpError, CpResult};
use crate::mssql::MssqlDriver;
use crate::params;
use crate::schema::{self, Owner, TABLES, Table};
use crate::sqlite::SqliteDriver;
use crate::value::{Row, Value, flag};

/// The `IM_INV` columns an open order moves, in one place, because Counterpoint's own order entry is not documented
/// publicly: the ordered quantity is added to each, at the line's `STK_LOC_ID`, and taken back on cancellation.
/// `QTY_ON_HND` is never touched; it falls when Counterpoint posts the release ticket.
pub const ORDER_COMMIT_COLUMNS: [&str; 2] = ["QTY_COMMIT", "QTY_ON_ORD"];

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
}

impl SchemaReport {
    pub fn is_ok(&self) -> bool {
        self.missing_tables.is_empty() && self.missing_columns.is_empty() && self.missing_triggers.is_empty()
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
        f.write_str(&parts.join("; "))
    }
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
}

impl SqlCounterpoint<SqliteDriver> {
    /// Opens an existing SQLite replica.
    ///
    /// # Errors
    /// `Unavailable` when the file is missing or unreadable.
    pub async fn open_replica(path: &Path) -> CpResult<Self> {
        Ok(SqlCounterpoint { driver: SqliteDriver::open(path).await? })
    }

    /// Creates a new SQLite replica with every table and trigger.
    ///
    /// # Errors
    /// `Invalid` when the file exists.
    pub async fn create_replica(path: &Path) -> CpResult<Self> {
        Ok(SqlCounterpoint { driver: SqliteDriver::create(path).await? })
    }
}

impl SqlCounterpoint<MssqlDriver> {
    /// Connects to SQL Server with an ADO.NET connection string.
    ///
    /// # Errors
    /// `Invalid` for a malformed connection string.
    pub fn connect_mssql(connection_string: &str) -> CpResult<Self> {
        Ok(SqlCounterpoint { driver: MssqlDriver::from_ado(connection_string, 8)? })
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
     IS_TXBL, TAX_CATEG_COD, WEIGHT, BARCOD, PRC_1, REG_PRC, LST_COST, TRK_METH, PRC_DECS, PROF_COD_1, ATTR_COD_1, \
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

/// The length SQL Server gives a string stored in a `VARCHAR` column. The value travels as UTF-16 and each code unit
/// becomes one character of the column's code page (`?` where it has none), so an emoji takes two places, not one.
fn varchar_len(value: &str) -> usize {
    value.encode_utf16().count()
}

/// The longest prefix of `value` (whole characters) that fits `max` places of a `VARCHAR`.
fn varchar_prefix(value: &str, max: usize) -> &str {
    let mut used = 0;
    for (at, c) in value.char_indices() {
        used += c.len_utf16();
        if used > max {
            return &value[..at];
        }
    }
    value
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
        SqlCounterpoint { driver }
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
        let store = numeric_part(&doc.str_id);
        let station = numeric_part(&doc.sta_id);
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

    async fn insert_contact(&self, tx: &mut D::Tx, doc_id: i64, contact_id: i64, c: &DocContact) -> CpResult<()> {
        let t = &schema::PS_DOC_CONTACT;
        let cols = [
            "DOC_ID",
            "CONTACT_ID",
            "NAM",
            "FST_NAM",
            "LST_NAM",
            "ADRS_1",
            "ADRS_2",
            "CITY",
            "STATE",
            "ZIP_COD",
            "CNTRY",
            "PHONE_1",
            "EMAIL_ADRS_1",
        ];
        let what = format!("PS_DOC_CONTACT {contact_id} of document {doc_id}");
        let values = vec![
            Value::Int(doc_id),
            Value::Int(contact_id),
            fit(t, "NAM", Some(&c.nam), &what),
            fit(t, "FST_NAM", c.fst_nam.as_deref(), &what),
            fit(t, "LST_NAM", c.lst_nam.as_deref(), &what),
            fit(t, "ADRS_1", c.adrs_1.as_deref(), &what),
            fit(t, "ADRS_2", c.adrs_2.as_deref(), &what),
            fit(t, "CITY", c.city.as_deref(), &what),
            fit(t, "STATE", c.state.as_deref(), &what),
            fit(t, "ZIP_COD", c.zip_cod.as_deref(), &what),
            fit(t, "CNTRY", c.cntry.as_deref(), &what),
            fit(t, "PHONE_1", c.phone_1.as_deref(), &what),
            fit(t, "EMAIL_ADRS_1", c.email_adrs_1.as_deref(), &what),
        ];
        tx.execute(&self.dialect().insert_values("PS_DOC_CONTACT", &cols, 1), &values)
            .await
            .map_err(|e| e.context(&what))?;
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
        let order_ref = format!("WooCommerce order {} (staging {})", claim.order.woo_order_no, claim.order.staging_id);
        let hdr = &schema::PS_DOC_HDR;
        let tkt_no = self.allocate_tkt_no(tx, doc, now).await?;
        let doc_id = self.allocate_doc_id(tx, doc, now).await?;

        let cols = [
            "DOC_ID",
            "DOC_GUID",
            "DOC_TYP",
            "TKT_TYP",
            "STR_ID",
            "STA_ID",
            "DRW_ID",
            "USR_ID",
            "TKT_NO",
            "CUST_NO",
            "TKT_DT",
            "SHIP_VIA_COD",
            "TAX_COD",
            "CUST_PO_NO",
            "STK_LOC_ID",
            "PRC_LOC_ID",
            "BILL_TO_CONTACT_ID",
            "SHIP_TO_CONTACT_ID",
            "TAX_OVRD_REAS",
            "ORD_LINS",
            "SAL_LINS",
            "SAL_LIN_TOT",
            "LST_MAINT_DT",
            "LST_MAINT_USR_ID",
        ];
        let values = vec![
            Value::Int(doc_id),
            Value::Guid(Uuid::new_v4()),
            Value::Text(doc.doc_typ.to_string()),
            Value::Text("T".into()),
            exact(hdr, "STR_ID", &doc.str_id, "store id")?,
            exact(hdr, "STA_ID", &doc.sta_id, "station id")?,
            exact(hdr, "DRW_ID", &doc.drw_id, "drawer id")?,
            exact(hdr, "USR_ID", &doc.usr_id, "user id")?,
            Value::Text(tkt_no.clone()),
            exact(hdr, "CUST_NO", &doc.cust_no, &format!("{order_ref}: customer"))?,
            Value::DateTime(doc.tkt_dt),
            fit(hdr, "SHIP_VIA_COD", doc.ship_via_cod.as_deref(), &order_ref),
            fit(hdr, "TAX_COD", doc.tax_cod.as_deref(), &order_ref),
            fit(hdr, "CUST_PO_NO", doc.cust_po_no.as_deref(), &order_ref),
            exact(hdr, "STK_LOC_ID", &doc.stk_loc_id, "stock location")?,
            exact(hdr, "PRC_LOC_ID", &doc.prc_loc_id, "price location")?,
            Value::Int(1),
            Value::Int(2),
            fit(hdr, "TAX_OVRD_REAS", doc.tax_ovrd_reas.as_deref(), &order_ref),
            Value::from(doc.lines.len()),
            Value::Int(0),
            Value::Dec(doc.sal_lin_tot()),
            Value::DateTime(now),
            exact(hdr, "LST_MAINT_USR_ID", &doc.usr_id, "user id")?,
        ];
        tx.execute(&d.insert_values("PS_DOC_HDR", &cols, 1), &values)
            .await
            .map_err(|e| e.context(format!("{order_ref}: writing PS_DOC_HDR {doc_id}")))?;
        self.insert_contact(tx, doc_id, 1, &doc.bill_to).await?;
        self.insert_contact(tx, doc_id, 2, &doc.ship_to).await?;

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

        let lin = &schema::PS_DOC_LIN;
        let lin_cols = [
            "DOC_ID",
            "LIN_SEQ_NO",
            "STR_ID",
            "STA_ID",
            "TKT_NO",
            "LIN_TYP",
            "ITEM_NO",
            "DESCR",
            "QTY_SOLD",
            "PRC",
            "EXT_PRC",
            "GROSS_EXT_PRC",
            "CALC_EXT_PRC",
            "STK_LOC_ID",
            "CATEG_COD",
            "IS_TXBL",
            "TAX_CATEG_COD",
            "ITEM_TYP",
            "LIN_GUID",
            "USR_ENTD_PRC",
            "UNIT_COST",
            "EXT_COST",
            "LST_MAINT_DT",
        ];
        let ext_cols = ["DOC_ID", "LIN_SEQ_NO", "ITEM_NO", "WOO_LINE_ID", "QTY_BKORD"];
        let mut backordered = Decimal::ZERO;
        for (i, line) in doc.lines.iter().enumerate() {
            let seq = i64::try_from(i + 1).unwrap_or(i64::MAX);
            let line_ref = format!("{order_ref}, line {seq} (SKU {})", line.item_no);
            let ext_prc = line.ext_prc();
            let values = vec![
                Value::Int(doc_id),
                Value::Int(seq),
                Value::Text(doc.str_id.clone()),
                Value::Text(doc.sta_id.clone()),
                Value::Text(tkt_no.clone()),
                Value::Text(doc.lin_typ.to_string()),
                exact(lin, "ITEM_NO", &line.item_no, &line_ref)?,
                fit(lin, "DESCR", Some(&line.descr), &line_ref),
                Value::Dec(line.qty_sold),
                Value::Dec(line.prc),
                Value::Dec(ext_prc),
                Value::Dec(ext_prc),
                Value::Dec(ext_prc),
                Value::Text(line.stk_loc_id.clone()),
                fit(lin, "CATEG_COD", line.categ_cod.as_deref(), &line_ref),
                flag(line.is_txbl),
                fit(lin, "TAX_CATEG_COD", line.tax_categ_cod.as_deref(), &line_ref),
                Value::Text(line.item_typ.clone()),
                Value::Guid(Uuid::new_v4()),
                flag(true),
                Value::from(line.unit_cost),
                Value::from(line.ext_cost()),
                Value::DateTime(now),
            ];
            tx.execute(&d.insert_values("PS_DOC_LIN", &lin_cols, 1), &values)
                .await
                .map_err(|e| e.context(&line_ref))?;

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
        let tot_cols = [
            "DOC_ID",
            "TOT_TYP",
            "SUB_TOT",
            "TAX_AMT",
            "TOT",
            "TOT_HDR_DISC",
            "TOT_LIN_DISC",
            "TOT_MISC",
            "AMT_DUE",
            "INITIAL_MIN_DUE",
            "TOT_WEIGHT",
            "TOT_CUBE",
            "TAX_AMT_SHIPPED",
            "LST_MAINT_DT",
        ];
        let tot_values = params![
            doc_id,
            "O",
            t.sub_tot,
            t.tax_amt,
            t.tot,
            t.tot_hdr_disc,
            t.tot_lin_disc,
            t.tot_misc,
            t.amt_due,
            Decimal::ZERO,
            t.tot_weight,
            Decimal::ZERO,
            Decimal::ZERO,
            now
        ];
        tx.execute(&d.insert_values("PS_DOC_HDR_TOT", &tot_cols, 1), &tot_values)
            .await
            .map_err(|e| e.context(format!("{order_ref}: writing PS_DOC_HDR_TOT")))?;

        let pmt = &schema::PS_DOC_PMT;
        let pmt_cols =
            ["DOC_ID", "PMT_SEQ_NO", "PAY_COD", "AMT", "HOME_CURNCY_AMT", "DESCR", "FINAL_PMT", "LST_MAINT_DT"];
        for (i, payment) in doc.payments.iter().enumerate() {
            let what = format!("{order_ref}: payment {}", i + 1);
            let values = vec![
                Value::Int(doc_id),
                Value::from(i + 1),
                exact(pmt, "PAY_COD", &payment.pay_cod, &what)?,
                Value::Dec(payment.amt),
                Value::Dec(payment.amt),
                fit(pmt, "DESCR", payment.descr.as_deref(), &what),
                flag(payment.final_pmt),
                Value::DateTime(now),
            ];
            tx.execute(&d.insert_values("PS_DOC_PMT", &pmt_cols, 1), &values).await.map_err(|e| e.context(&what))?;
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
        let mut tx = self.driver.begin(TxMode::Read).await?;
        for table in TABLES {
            let rows = tx.query(self.dialect().columns_query(), &params![table.name]).await?;
            let present: Vec<String> = rows
                .iter()
                .filter_map(|r| r.opt_text("COLUMN_NAME").ok().flatten())
                .map(|c| c.to_ascii_uppercase())
                .collect();
            if present.is_empty() {
                report.missing_tables.push(table.name.to_owned());
                continue;
            }
            for column in table.columns {
                if !present.iter().any(|p| p == column.name) {
                    report.missing_columns.push((table.name.to_owned(), column.name.to_owned()));
                }
            }
        }
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
        let email = match c.email_adrs_1.as_deref() {
            Some(e) => exact(t, "EMAIL_ADRS_1", e.trim(), &what)?,
            None => Value::Null,
        };
        let nam_upr = c.nam.to_uppercase();
        let fields: Vec<(&str, Value)> = vec![
            ("NAM", fit(t, "NAM", Some(&c.nam), &what)),
            ("NAM_UPR", fit(t, "NAM_UPR", Some(&nam_upr), &what)),
            ("FST_NAM", fit(t, "FST_NAM", c.fst_nam.as_deref(), &what)),
            ("LST_NAM", fit(t, "LST_NAM", c.lst_nam.as_deref(), &what)),
            ("ADRS_1", fit(t, "ADRS_1", c.adrs_1.as_deref(), &what)),
            ("ADRS_2", fit(t, "ADRS_2", c.adrs_2.as_deref(), &what)),
            ("ADRS_3", fit(t, "ADRS_3", c.adrs_3.as_deref(), &what)),
            ("CITY", fit(t, "CITY", c.city.as_deref(), &what)),
            ("STATE", fit(t, "STATE", c.state.as_deref(), &what)),
            ("ZIP_COD", fit(t, "ZIP_COD", c.zip_cod.as_deref(), &what)),
            ("CNTRY", fit(t, "CNTRY", c.cntry.as_deref(), &what)),
            ("PHONE_1", fit(t, "PHONE_1", c.phone_1.as_deref(), &what)),
            ("EMAIL_ADRS_1", email),
            ("CUST_TYP", fit(t, "CUST_TYP", c.cust_typ.as_deref(), &what)),
            ("CATEG_COD", fit(t, "CATEG_COD", c.categ_cod.as_deref(), &what)),
            ("PROF_COD_1", fit(t, "PROF_COD_1", c.prof_cod_1.as_deref(), &what)),
            ("TAX_COD", fit(t, "TAX_COD", c.tax_cod.as_deref(), &what)),
            ("STR_ID", fit(t, "STR_ID", c.str_id.as_deref(), &what)),
            ("CUST_NAM_TYP", Value::Text(c.cust_nam_typ.clone().unwrap_or_else(|| "P".into()))),
            ("IS_ECOMM_CUST", flag(c.is_ecomm_cust)),
            ("LST_MAINT_DT", Value::DateTime(at)),
            ("RS_UTC_DT", Value::DateTime(at)),
        ];
        if exists {
            let sets: Vec<String> =
                fields.iter().enumerate().map(|(i, (col, _))| format!("{col} = @P{}", i + 2)).collect();
            let sql = self.sql(&format!("UPDATE dbo.AR_CUST SET {} WHERE CUST_NO = @P1", sets.join(", ")));
            let mut params = params![cust_no.as_str()].to_vec();
            params.extend(fields.into_iter().map(|(_, v)| v));
            tx.execute(&sql, &params).await.map_err(|e| e.context(format!("updating AR_CUST {cust_no}")))?;
        } else {
            let mut cols = vec!["CUST_NO"];
            cols.extend(fields.iter().map(|(c, _)| *c));
            let mut params = params![cust_no.as_str()].to_vec();
            params.extend(fields.into_iter().map(|(_, v)| v));
            tx.execute(&d.insert_values("AR_CUST", &cols, 1), &params)
                .await
                .map_err(|e| e.context(format!("creating AR_CUST {cust_no}")))?;
        }
        if let Some(s) = ship_to {
            let st = &schema::AR_SHIP_ADRS;
            tx.execute(
                &self.sql("DELETE FROM dbo.AR_SHIP_ADRS WHERE CUST_NO = @P1 AND SHIP_ADRS_ID = @P2"),
                &params![cust_no.as_str(), s.ship_adrs_id.as_str()],
            )
            .await?;
            let cols = [
                "CUST_NO",
                "SHIP_ADRS_ID",
                "NAM",
                "ADRS_1",
                "ADRS_2",
                "CITY",
                "STATE",
                "ZIP_COD",
                "CNTRY",
                "PHONE_1",
                "LST_MAINT_DT",
            ];
            let values = vec![
                Value::Text(cust_no.clone()),
                exact(st, "SHIP_ADRS_ID", &s.ship_adrs_id, &what)?,
                fit(st, "NAM", Some(&s.nam), &what),
                fit(st, "ADRS_1", s.adrs_1.as_deref(), &what),
                fit(st, "ADRS_2", s.adrs_2.as_deref(), &what),
                fit(st, "CITY", s.city.as_deref(), &what),
                fit(st, "STATE", s.state.as_deref(), &what),
                fit(st, "ZIP_COD", s.zip_cod.as_deref(), &what),
                fit(st, "CNTRY", s.cntry.as_deref(), &what),
                fit(st, "PHONE_1", s.phone_1.as_deref(), &what),
                Value::DateTime(at),
            ];
            tx.execute(&d.insert_values("AR_SHIP_ADRS", &cols, 1), &values)
                .await
                .map_err(|e| e.context(format!("writing AR_SHIP_ADRS of {cust_no}")))?;
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
