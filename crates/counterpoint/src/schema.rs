//! The Counterpoint tables cpbridge touches, as one model rendered to both dialects.
//!
//! The model is the single source of truth for three things: the SQLite replica's DDL, the T-SQL that creates
//! cpbridge's own `USER_` tables on a real Counterpoint database (`sql/mssql/`), and the schema check behind
//! `cpbridge doctor` (every column cpbridge reads or writes must exist). Counterpoint's own tables are created only in
//! the replica and in the test fixture for a blank SQL Server; on a real Counterpoint database cpbridge never changes
//! their schema.

use crate::dialect::Dialect;

/// A column type, named as SQL Server names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    VarChar(u32),
    /// `VARCHAR(MAX)` / `TEXT` (Counterpoint's long descriptions).
    Text,
    /// `NVARCHAR(MAX)`: raw WooCommerce JSON, which is Unicode.
    NText,
    BigInt,
    Int,
    SmallInt,
    TinyInt,
    Bit,
    Dec(u8, u8),
    DateTime,
    Guid,
    /// `VARBINARY(MAX)` (signature images on payments).
    Blob,
}

/// How a column gets a value when an insert leaves it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColDefault {
    None,
    Zero,
    Str(&'static str),
    /// The current UTC time.
    Now,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub not_null: bool,
    pub default: ColDefault,
    /// A computed column's expression (`QTY_AVAIL`); it can never be written.
    pub computed: Option<&'static str>,
    /// An identity column (`STAGING_ID`, `CHANGE_ID`).
    pub identity: bool,
}

const fn col(name: &'static str, ty: ColType) -> Column {
    Column { name, ty, not_null: false, default: ColDefault::None, computed: None, identity: false }
}

const fn req(name: &'static str, ty: ColType) -> Column {
    Column { name, ty, not_null: true, default: ColDefault::None, computed: None, identity: false }
}

const fn dflt(name: &'static str, ty: ColType, default: ColDefault) -> Column {
    Column { name, ty, not_null: true, default, computed: None, identity: false }
}

/// A nullable column with a default (Counterpoint's replication stamps).
const fn stamp(name: &'static str) -> Column {
    Column { name, ty: ColType::DateTime, not_null: false, default: ColDefault::Now, computed: None, identity: false }
}

const fn computed(name: &'static str, ty: ColType, expr: &'static str) -> Column {
    Column { name, ty, not_null: false, default: ColDefault::None, computed: Some(expr), identity: false }
}

const fn identity(name: &'static str) -> Column {
    Column { name, ty: ColType::BigInt, not_null: true, default: ColDefault::None, computed: None, identity: true }
}

/// Who owns a table: Counterpoint (never altered on a real database) or cpbridge (`USER_` tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Counterpoint,
    Cpbridge,
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub owner: Owner,
    pub columns: &'static [Column],
    pub primary_key: &'static [&'static str],
    /// Extra unique keys and plain indexes: `(name, columns, unique)`.
    pub indexes: &'static [(&'static str, &'static [&'static str], bool)],
    /// Whether the replica keeps `RS_UTC_DT` current on update, as Counterpoint's replication triggers do.
    pub touches_rs_utc_dt: bool,
    /// The columns cpbridge's `INSERT` into this table writes, each with what it holds: exactly these, checked by
    /// the insert builder on every row, and read by the start-up check and the generated column reference.
    pub inserts: &'static [(&'static str, &'static str)],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether cpbridge's insert writes `column`.
    pub fn inserts_column(&self, column: &str) -> bool {
        self.inserts.iter().any(|(c, _)| *c == column)
    }
}

use ColDefault::{Now, Str, Zero};
use ColType::{BigInt, Bit, Blob, DateTime, Dec, Guid, Int, NText, SmallInt, Text, TinyInt, VarChar};

/// Prices, costs and quantities: `DECIMAL(15,4)`.
const MONEY: ColType = Dec(15, 4);
/// Quantities and unit prices on documents.
const QTY: ColType = Dec(15, 4);
/// Money on documents: `DECIMAL(15,2)`, to the cent.
const AMOUNT: ColType = Dec(15, 2);
const FLAG: ColType = VarChar(1);
const CODE: ColType = VarChar(10);

const fn qty(name: &'static str) -> Column {
    dflt(name, MONEY, Zero)
}

pub const IM_ITEM: Table = Table {
    name: "IM_ITEM",
    owner: Owner::Counterpoint,
    columns: &[
        req("ITEM_NO", VarChar(20)),
        req("DESCR", VarChar(30)),
        col("DESCR_UPR", VarChar(30)),
        col("SHORT_DESCR", VarChar(15)),
        col("LONG_DESCR", Text),
        col("ADDL_DESCR_1", VarChar(30)),
        col("ADDL_DESCR_2", VarChar(30)),
        col("ADDL_DESCR_3", VarChar(30)),
        dflt("ITEM_TYP", FLAG, Str("I")),
        dflt("STAT", FLAG, Str("A")),
        col("CATEG_COD", CODE),
        col("SUBCAT_COD", CODE),
        col("ATTR_COD_1", CODE),
        col("ATTR_COD_2", CODE),
        col("ATTR_COD_3", CODE),
        col("ATTR_COD_4", CODE),
        col("ATTR_COD_5", CODE),
        col("ATTR_COD_6", CODE),
        col("PROF_COD_1", CODE),
        col("PROF_COD_2", CODE),
        col("PROF_COD_3", CODE),
        col("PROF_COD_4", CODE),
        col("PROF_COD_5", CODE),
        col("ITEM_VEND_NO", VarChar(15)),
        dflt("IS_ECOMM_ITEM", FLAG, Str("N")),
        dflt("IS_TXBL", FLAG, Str("Y")),
        col("TAX_CATEG_COD", CODE),
        col("WEIGHT", MONEY),
        col("BARCOD", VarChar(20)),
        qty("PRC_1"),
        qty("REG_PRC"),
        col("LST_COST", MONEY),
        col("AVG_COST", MONEY),
        dflt("TRK_METH", FLAG, Str("N")),
        // A gridded item's dimension names (SIZE, COLOR, WIDTH); NULL where it has fewer dimensions.
        col("GRID_DIM_1_TAG", CODE),
        col("GRID_DIM_2_TAG", CODE),
        col("GRID_DIM_3_TAG", CODE),
        dflt("STK_UNIT", VarChar(15), Str("EACH")),
        dflt("PRC_DECS", SmallInt, Str("2")),
        col("LST_MAINT_DT", DateTime),
        col("LST_MAINT_USR_ID", CODE),
        dflt("RS_UTC_DT", DateTime, Now),
    ],
    primary_key: &["ITEM_NO"],
    indexes: &[("IX_IM_ITEM_RS_UTC_DT", &["RS_UTC_DT", "ITEM_NO"], false)],
    touches_rs_utc_dt: true,
    inserts: &[],
};

pub const IM_LOC: Table = Table {
    name: "IM_LOC",
    owner: Owner::Counterpoint,
    columns: &[req("LOC_ID", CODE), col("DESCR", VarChar(30)), col("LST_MAINT_DT", DateTime)],
    primary_key: &["LOC_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

pub const IM_PRC: Table = Table {
    name: "IM_PRC",
    owner: Owner::Counterpoint,
    columns: &[
        req("ITEM_NO", VarChar(20)),
        req("LOC_ID", CODE),
        dflt("DIM_1_UPR", VarChar(15), Str("*")),
        dflt("DIM_2_UPR", VarChar(15), Str("*")),
        dflt("DIM_3_UPR", VarChar(15), Str("*")),
        col("REG_PRC", MONEY),
        col("PRC_1", MONEY),
        col("PRC_2", MONEY),
        col("PRC_3", MONEY),
        col("PRC_4", MONEY),
        col("PRC_5", MONEY),
        col("PRC_6", MONEY),
        col("LST_MAINT_DT", DateTime),
        dflt("RS_UTC_DT", DateTime, Now),
    ],
    primary_key: &["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"],
    indexes: &[("IX_IM_PRC_RS_UTC_DT", &["RS_UTC_DT"], false)],
    touches_rs_utc_dt: true,
    inserts: &[],
};

/// Stock by item and location: 19 NOT NULL columns without defaults, so cpbridge never inserts a row; it only
/// updates the order-commit quantities of rows Counterpoint made.
pub const IM_INV: Table = Table {
    name: "IM_INV",
    owner: Owner::Counterpoint,
    columns: &[
        req("ITEM_NO", VarChar(20)),
        req("LOC_ID", CODE),
        req("MIN_QTY", MONEY),
        req("MAX_QTY", MONEY),
        req("QTY_COMMIT", MONEY),
        req("QTY_ON_HND", MONEY),
        req("QTY_ON_PO", MONEY),
        req("QTY_ON_BO", MONEY),
        req("QTY_ON_XFER_OUT", MONEY),
        req("QTY_ON_XFER_IN", MONEY),
        req("QTY_ON_ORD", MONEY),
        req("QTY_ON_LWY", MONEY),
        req("QTY_ON_SO", MONEY),
        req("LST_AVG_COST", MONEY),
        req("LST_COST", MONEY),
        req("STD_COST", MONEY),
        req("COST_OF_SLS_PCT", Dec(9, 3)),
        req("GL_VAL", AMOUNT),
        req("RS_STAT", Int),
        req("DROPSHIP_QTY_ON_CUST_ORD", MONEY),
        req("DROPSHIP_QTY_ON_PO", MONEY),
        stamp("RS_UTC_DT"),
        col("LST_MAINT_DT", DateTime),
        computed("QTY_AVAIL", Dec(16, 4), "QTY_ON_HND - QTY_COMMIT"),
    ],
    primary_key: &["ITEM_NO", "LOC_ID"],
    indexes: &[("IX_IM_INV_RS_UTC_DT", &["RS_UTC_DT"], false)],
    touches_rs_utc_dt: true,
    inserts: &[],
};

pub const AR_CUST: Table = Table {
    name: "AR_CUST",
    owner: Owner::Counterpoint,
    columns: &[
        req("CUST_NO", VarChar(15)),
        req("NAM", VarChar(40)),
        col("NAM_UPR", VarChar(40)),
        col("FST_NAM", VarChar(15)),
        col("LST_NAM", VarChar(25)),
        col("SALUTATION", CODE),
        col("ADRS_1", VarChar(40)),
        col("ADRS_2", VarChar(40)),
        col("ADRS_3", VarChar(40)),
        col("CITY", VarChar(20)),
        col("STATE", CODE),
        col("ZIP_COD", VarChar(15)),
        col("CNTRY", VarChar(20)),
        col("PHONE_1", VarChar(25)),
        col("PHONE_2", VarChar(25)),
        col("MBL_PHONE_1", VarChar(25)),
        col("FAX_1", VarChar(25)),
        col("EMAIL_ADRS_1", VarChar(50)),
        col("EMAIL_ADRS_2", VarChar(50)),
        col("URL_1", VarChar(100)),
        col("CUST_TYP", CODE),
        col("CATEG_COD", CODE),
        col("PROF_COD_1", CODE),
        col("PROF_COD_2", CODE),
        col("PROF_COD_3", CODE),
        col("PROF_COD_4", CODE),
        col("PROF_COD_5", CODE),
        col("DISC_PCT", MONEY),
        col("TAX_COD", CODE),
        col("TERMS_COD", CODE),
        req("STR_ID", CODE),
        col("SLS_REP", CODE),
        col("SHIP_VIA_COD", CODE),
        col("SHIP_ZONE_COD", CODE),
        dflt("CUST_NAM_TYP", FLAG, Str("P")),
        dflt("IS_ECOMM_CUST", FLAG, Str("N")),
        dflt("ALLOW_AR_CHRG", FLAG, Str("N")),
        col("CR_LIM", MONEY),
        col("BAL", MONEY),
        col("LST_MAINT_DT", DateTime),
        col("LST_MAINT_USR_ID", CODE),
        dflt("RS_UTC_DT", DateTime, Now),
    ],
    primary_key: &["CUST_NO"],
    indexes: &[
        ("IX_AR_CUST_EMAIL", &["EMAIL_ADRS_1"], false),
        ("IX_AR_CUST_RS_UTC_DT", &["RS_UTC_DT", "CUST_NO"], false),
    ],
    touches_rs_utc_dt: true,
    inserts: &[
        ("CUST_NO", "orders.customer_prefix + a USER_DOC_COUNTER number (WEB000001)"),
        ("NAM", "the company, else first and last name (cut to fit)"),
        ("NAM_UPR", "NAM in upper case"),
        ("FST_NAM", "first name (cut to fit)"),
        ("LST_NAM", "last name (cut to fit)"),
        ("ADRS_1", "billing address line 1 (cut to fit)"),
        ("ADRS_2", "billing address line 2 (cut to fit)"),
        ("ADRS_3", "unused (NULL)"),
        ("CITY", "city (cut to fit)"),
        ("STATE", "state (cut to fit)"),
        ("ZIP_COD", "postcode (cut to fit)"),
        ("CNTRY", "country code"),
        ("PHONE_1", "phone (cut to fit)"),
        ("EMAIL_ADRS_1", "e-mail (refused when too long, never cut)"),
        ("CUST_TYP", "NULL for a new web customer; an update writes back what Counterpoint holds"),
        ("CATEG_COD", "NULL for a new web customer; an update writes back what Counterpoint holds"),
        ("PROF_COD_1", "NULL for a new web customer; an update writes back what Counterpoint holds"),
        ("TAX_COD", "NULL for a new web customer; an update writes back what Counterpoint holds"),
        ("STR_ID", "orders.store_id"),
        ("CUST_NAM_TYP", "'B' with a company name, else 'P'"),
        ("IS_ECOMM_CUST", "'Y'"),
        ("LST_MAINT_DT", "now"),
        ("RS_UTC_DT", "now (UTC)"),
    ],
};

pub const AR_SHIP_ADRS: Table = Table {
    name: "AR_SHIP_ADRS",
    owner: Owner::Counterpoint,
    columns: &[
        req("CUST_NO", VarChar(15)),
        req("SHIP_ADRS_ID", CODE),
        req("NAM", VarChar(40)),
        req("SHIP_NAM_TYP", FLAG),
        col("FST_NAM", VarChar(15)),
        col("LST_NAM", VarChar(25)),
        col("ADRS_1", VarChar(40)),
        col("ADRS_2", VarChar(40)),
        col("ADRS_3", VarChar(40)),
        col("CITY", VarChar(20)),
        col("STATE", CODE),
        col("ZIP_COD", VarChar(15)),
        col("CNTRY", VarChar(20)),
        col("PHONE_1", VarChar(25)),
        col("LST_MAINT_DT", DateTime),
    ],
    primary_key: &["CUST_NO", "SHIP_ADRS_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[
        ("CUST_NO", "the customer"),
        ("SHIP_ADRS_ID", "'WEB'"),
        ("NAM", "the shipping name (cut to fit)"),
        ("SHIP_NAM_TYP", "'B' with a company name, else 'P'"),
        ("FST_NAM", "first name (cut to fit)"),
        ("LST_NAM", "last name (cut to fit)"),
        ("ADRS_1", "shipping address line 1 (cut to fit)"),
        ("ADRS_2", "shipping address line 2 (cut to fit)"),
        ("CITY", "city (cut to fit)"),
        ("STATE", "state (cut to fit)"),
        ("ZIP_COD", "postcode (cut to fit)"),
        ("CNTRY", "country code"),
        ("PHONE_1", "phone (cut to fit)"),
        ("LST_MAINT_DT", "now"),
    ],
};

pub const PS_DOC_HDR: Table = Table {
    name: "PS_DOC_HDR",
    owner: Owner::Counterpoint,
    columns: &[
        req("DOC_ID", BigInt),
        req("DOC_GUID", Guid),
        dflt("DOC_TYP", FLAG, Str("T")),
        col("TKT_TYP", FLAG),
        req("STR_ID", CODE),
        req("STA_ID", CODE),
        col("DRW_ID", CODE),
        req("TKT_NO", VarChar(15)),
        col("CUST_NO", VarChar(15)),
        col("TKT_DT", DateTime),
        col("SHIP_DAT", DateTime),
        col("TAX_COD", CODE),
        col("NORM_TAX_COD", CODE),
        col("TAX_OVRD_REAS", CODE),
        col("CUST_PO_NO", VarChar(20)),
        col("SLS_REP", CODE),
        col("USR_ID", CODE),
        col("STK_LOC_ID", CODE),
        col("PRC_LOC_ID", CODE),
        col("SHIP_VIA_COD", CODE),
        col("SHIP_ZONE_COD", CODE),
        col("TERMS_COD", CODE),
        col("BILL_TO_CONTACT_ID", TinyInt),
        col("SHIP_TO_CONTACT_ID", TinyInt),
        col("REF", VarChar(50)),
        col("ORD_LINS", Int),
        col("SAL_LINS", Int),
        dflt("SAL_LIN_TOT", AMOUNT, Zero),
        dflt("RET_LIN_TOT", AMOUNT, Zero),
        col("RS_UTC_DT", DateTime),
        col("LST_MAINT_DT", DateTime),
        col("LST_MAINT_USR_ID", CODE),
    ],
    primary_key: &["DOC_ID"],
    indexes: &[("IX_PS_DOC_HDR_TKT_NO", &["STA_ID", "TKT_NO"], false)],
    touches_rs_utc_dt: false,
    inserts: &[
        ("DOC_ID", "Counterpoint's fnGenDocId layout from PS_STR.STR_NO and PS_STA.STA_NO of cpbridge's station"),
        ("DOC_GUID", "a new GUID"),
        ("DOC_TYP", "'O' (an order)"),
        ("TKT_TYP", "'T'"),
        ("STR_ID", "orders.store_id"),
        ("STA_ID", "orders.station_id (cpbridge's own station)"),
        ("DRW_ID", "orders.drawer_id"),
        ("TKT_NO", "orders.ticket_prefix + a USER_DOC_COUNTER number, at most 12 characters"),
        ("CUST_NO", "the matched or created AR_CUST, or orders.guest_customer"),
        ("TKT_DT", "the order's creation time in the store's local time (counterpoint.timezone)"),
        ("TAX_COD", "orders.tax_code"),
        ("NORM_TAX_COD", "orders.tax_code"),
        ("TAX_OVRD_REAS", "orders.source_marker (EC_WOOCOMM)"),
        ("CUST_PO_NO", "the WooCommerce order number"),
        ("USR_ID", "orders.user_id"),
        ("STK_LOC_ID", "orders.fulfilment_location"),
        ("PRC_LOC_ID", "orders.price_location"),
        ("SHIP_VIA_COD", "orders.ship_via_codes of the first shipping line"),
        ("BILL_TO_CONTACT_ID", "1"),
        ("SHIP_TO_CONTACT_ID", "2"),
        ("REF", "'WooCommerce #' + the order number"),
        ("ORD_LINS", "the number of lines"),
        ("SAL_LINS", "0"),
        ("SAL_LIN_TOT", "0 (an order has no sale lines)"),
        ("RET_LIN_TOT", "0"),
        ("RS_UTC_DT", "now (UTC)"),
        ("LST_MAINT_DT", "now (local)"),
        ("LST_MAINT_USR_ID", "orders.user_id"),
    ],
};

pub const PS_DOC_CONTACT: Table = Table {
    name: "PS_DOC_CONTACT",
    owner: Owner::Counterpoint,
    columns: &[
        req("DOC_ID", BigInt),
        req("CONTACT_ID", TinyInt),
        col("NAM", VarChar(40)),
        req("NAM_TYP", FLAG),
        col("FST_NAM", VarChar(15)),
        col("LST_NAM", VarChar(25)),
        col("SALUTATION", CODE),
        col("ADRS_1", VarChar(40)),
        col("ADRS_2", VarChar(40)),
        col("ADRS_3", VarChar(40)),
        col("CITY", VarChar(20)),
        col("STATE", CODE),
        col("ZIP_COD", VarChar(15)),
        col("CNTRY", VarChar(20)),
        col("PHONE_1", VarChar(25)),
        col("PHONE_2", VarChar(25)),
        col("EMAIL_ADRS_1", VarChar(50)),
        col("EMAIL_ADRS_2", VarChar(50)),
        col("ADRS_ID", CODE),
        col("CONTCT_1", VarChar(40)),
        col("CONTCT_2", VarChar(40)),
        col("FAX_1", VarChar(25)),
        col("FAX_2", VarChar(25)),
    ],
    primary_key: &["DOC_ID", "CONTACT_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[
        ("DOC_ID", "the document"),
        ("CONTACT_ID", "1 bill to, 2 ship to"),
        ("NAM", "the company, else first and last name (cut to fit)"),
        ("NAM_TYP", "'B' with a company name, else 'P'"),
        ("FST_NAM", "first name (cut to fit)"),
        ("LST_NAM", "last name (cut to fit)"),
        ("ADRS_1", "address line 1 (cut to fit)"),
        ("ADRS_2", "address line 2 (cut to fit)"),
        ("CITY", "city (cut to fit)"),
        ("STATE", "state (cut to fit)"),
        ("ZIP_COD", "postcode (cut to fit)"),
        ("CNTRY", "country code"),
        ("PHONE_1", "phone (cut to fit)"),
        ("EMAIL_ADRS_1", "the order's e-mail (cut to fit)"),
        ("CONTCT_1", "first and last name when NAM is a company"),
    ],
};

pub const PS_DOC_LIN: Table = Table {
    name: "PS_DOC_LIN",
    owner: Owner::Counterpoint,
    columns: &[
        req("DOC_ID", BigInt),
        req("LIN_SEQ_NO", Int),
        req("STR_ID", CODE),
        req("STA_ID", CODE),
        req("TKT_NO", VarChar(15)),
        req("LIN_TYP", FLAG),
        req("ITEM_NO", VarChar(20)),
        col("DESCR", VarChar(50)),
        dflt("QTY_SOLD", QTY, Str("1")),
        dflt("QTY_NUMER", Dec(11, 0), Str("1")),
        dflt("QTY_DENOM", Dec(11, 0), Str("1")),
        col("QTY_UNIT", VarChar(15)),
        dflt("SELL_UNIT", FLAG, Str("0")),
        col("PRC", QTY),
        req("EXT_PRC", AMOUNT),
        req("GROSS_EXT_PRC", AMOUNT),
        req("CALC_EXT_PRC", AMOUNT),
        col("DISP_EXT_PRC", AMOUNT),
        col("REG_PRC", QTY),
        dflt("USR_ENTD_PRC", FLAG, Str("N")),
        col("HAS_PRC_OVRD", FLAG),
        dflt("IS_TXBL", FLAG, Str("Y")),
        dflt("NORM_IS_TXBL", FLAG, Str("Y")),
        col("TAX_CATEG", CODE),
        col("NORM_TAX_CATEG", CODE),
        dflt("TAX_AMT_ALLOC", AMOUNT, Zero),
        dflt("NORM_TAX_AMT_ALLOC", AMOUNT, Zero),
        col("STK_LOC_ID", CODE),
        col("PRC_LOC_ID", CODE),
        col("CATEG_COD", CODE),
        col("SUBCAT_COD", CODE),
        dflt("ITEM_TYP", FLAG, Str("I")),
        dflt("TRK_METH", FLAG, Str("N")),
        col("UNIT_COST", QTY),
        col("EXT_COST", AMOUNT),
        req("LIN_GUID", Guid),
        col("DIM_1_UPR", VarChar(15)),
        col("DIM_2_UPR", VarChar(15)),
        col("DIM_3_UPR", VarChar(15)),
        col("CELL_DESCR", VarChar(50)),
        dflt("QTY_RET", QTY, Zero),
        col("QTY_SHIPPED", QTY),
        col("ORIG_QTY", QTY),
        // A release ticket's line points at the order line it releases.
        col("LINK_LIN_GUID", Guid),
    ],
    primary_key: &["DOC_ID", "LIN_SEQ_NO"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[
        ("DOC_ID", "the document"),
        ("LIN_SEQ_NO", "1, 2, 3, ... in the WooCommerce order's line order"),
        ("STR_ID", "the header's"),
        ("STA_ID", "the header's"),
        ("TKT_NO", "the header's"),
        ("LIN_TYP", "'O' (an order line)"),
        ("ITEM_NO", "the line's SKU, which must be an IM_ITEM (refused when too long, never cut)"),
        ("DESCR", "the WooCommerce line name, else IM_ITEM.DESCR (cut to the live length)"),
        ("QTY_SOLD", "the quantity, less units refunded before apply"),
        ("QTY_NUMER", "1 (the stocking unit)"),
        ("QTY_DENOM", "1"),
        ("QTY_UNIT", "IM_ITEM.STK_UNIT"),
        ("SELL_UNIT", "'0' (the stocking unit)"),
        ("PRC", "the unit price after line discounts (4 places)"),
        ("EXT_PRC", "QTY_SOLD x PRC, to the cent"),
        ("GROSS_EXT_PRC", "as EXT_PRC"),
        ("CALC_EXT_PRC", "as EXT_PRC"),
        ("DISP_EXT_PRC", "as EXT_PRC"),
        ("REG_PRC", "IM_ITEM.REG_PRC"),
        ("USR_ENTD_PRC", "'Y': Counterpoint keeps the web price"),
        ("HAS_PRC_OVRD", "'N'"),
        ("IS_TXBL", "IM_ITEM.IS_TXBL"),
        ("NORM_IS_TXBL", "IM_ITEM.IS_TXBL"),
        ("TAX_CATEG", "IM_ITEM.TAX_CATEG_COD"),
        ("NORM_TAX_CATEG", "IM_ITEM.TAX_CATEG_COD"),
        ("TAX_AMT_ALLOC", "0 (the tax is on the header)"),
        ("NORM_TAX_AMT_ALLOC", "0"),
        ("STK_LOC_ID", "orders.fulfilment_location"),
        ("PRC_LOC_ID", "orders.price_location"),
        ("CATEG_COD", "IM_ITEM.CATEG_COD"),
        ("SUBCAT_COD", "IM_ITEM.SUBCAT_COD"),
        ("ITEM_TYP", "IM_ITEM.ITEM_TYP"),
        ("TRK_METH", "IM_ITEM.TRK_METH"),
        ("UNIT_COST", "IM_ITEM.LST_COST"),
        ("EXT_COST", "QTY_SOLD x UNIT_COST, to the cent"),
        ("LIN_GUID", "a new GUID"),
        ("DIM_1_UPR", "the grid cell's first dimension for a variation, else '*'"),
        ("DIM_2_UPR", "the cell's second dimension, else '*'"),
        ("DIM_3_UPR", "the cell's third dimension, else '*'"),
        ("CELL_DESCR", "the cell's dimensions, '/'-separated (XL/NAVY), for a variation"),
        ("QTY_RET", "0"),
        ("QTY_SHIPPED", "0"),
        ("ORIG_QTY", "as QTY_SOLD"),
    ],
};

/// One row per document and total type; an open order's is `TOT_TYP = 'O'`.
pub const PS_DOC_HDR_TOT: Table = Table {
    name: "PS_DOC_HDR_TOT",
    owner: Owner::Counterpoint,
    columns: &[
        req("DOC_ID", BigInt),
        req("TOT_TYP", FLAG),
        col("INITIAL_MIN_DUE", AMOUNT),
        dflt("HAS_TAX_OVRD", FLAG, Str("!")),
        col("TAX_AMT_SHIPPED", AMOUNT),
        col("LINS", Int),
        col("TOT_GFC_AMT", AMOUNT),
        col("TOT_SVC_AMT", AMOUNT),
        dflt("SUB_TOT", AMOUNT, Zero),
        req("TAX_OVRD_LINS", Int),
        col("TOT_EXT_COST", AMOUNT),
        dflt("TOT_MISC", AMOUNT, Zero),
        req("TAX_AMT", AMOUNT),
        col("NORM_TAX_AMT", AMOUNT),
        col("TOT_TND", AMOUNT),
        col("TOT_CHNG", AMOUNT),
        req("TOT_WEIGHT", QTY),
        req("TOT_CUBE", QTY),
        col("TOT", AMOUNT),
        col("AMT_DUE", AMOUNT),
        req("TOT_HDR_DISC", AMOUNT),
        req("TOT_LIN_DISC", AMOUNT),
        col("TOT_HDR_DISCNTBL_AMT", AMOUNT),
        col("TOT_TIP_AMT", AMOUNT),
    ],
    primary_key: &["DOC_ID", "TOT_TYP"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[
        ("DOC_ID", "the document"),
        ("TOT_TYP", "'O' (an order's totals)"),
        ("INITIAL_MIN_DUE", "0"),
        ("HAS_TAX_OVRD", "'!' as in NCR's samples"),
        ("TAX_AMT_SHIPPED", "0"),
        ("LINS", "the number of lines"),
        ("SUB_TOT", "the sum of the lines' EXT_PRC"),
        ("TAX_OVRD_LINS", "0"),
        ("TOT_EXT_COST", "the sum of the lines' EXT_COST"),
        ("TOT_MISC", "shipping and fees, less refunds before apply"),
        ("TAX_AMT", "WooCommerce's total tax, less refunds before apply"),
        ("NORM_TAX_AMT", "as TAX_AMT"),
        ("TOT_TND", "the deposit (the payments' sum)"),
        ("TOT_CHNG", "0"),
        ("TOT_WEIGHT", "the sum of IM_ITEM.WEIGHT x quantity"),
        ("TOT_CUBE", "0"),
        ("TOT", "SUB_TOT - TOT_HDR_DISC - TOT_LIN_DISC + TAX_AMT + TOT_MISC, equal to WooCommerce's total"),
        ("AMT_DUE", "TOT less the deposit"),
        ("TOT_HDR_DISC", "the coupons (and what a refund before apply leaves unexplained)"),
        ("TOT_LIN_DISC", "0 (line prices are after line discounts)"),
    ],
};

/// Payments on a document; a web payment on an order is a deposit (`FINAL_PMT 'N'`).
pub const PS_DOC_PMT: Table = Table {
    name: "PS_DOC_PMT",
    owner: Owner::Counterpoint,
    columns: &[
        req("DOC_ID", BigInt),
        req("PMT_SEQ_NO", Int),
        col("CARD_NO", VarChar(30)),
        dflt("PAY_COD_TYP", FLAG, Str("B")),
        req("AMT", AMOUNT),
        req("STR_ID", CODE),
        dflt("FINAL_PMT", FLAG, Str("N")),
        req("STA_ID", CODE),
        req("CARD_IS_NEW", FLAG),
        req("TKT_NO", VarChar(15)),
        req("SECURE_ECOMM_TRX", FLAG),
        dflt("PMT_LIN_TYP", FLAG, Str("T")),
        col("PAY_COD", CODE),
        col("PAY_DAT", DateTime),
        req("DEP_LIN_COPIED_TO_REL_DOC", FLAG),
        req("HOME_CURNCY_AMT", AMOUNT),
        req("EXCH_LOSS", AMOUNT),
        col("SIG_IMG", Blob),
        req("SWIPED", FLAG),
        col("SIG_IMG_VECTOR", Blob),
        col("EDC_AUTH_COD", CODE),
        col("DESCR", VarChar(30)),
        req("EDC_AUTH_FLG", FLAG),
        dflt("CURNCY_COD", CODE, Str("HOME")),
        col("EBT_BAL_REMAIN", AMOUNT),
        req("EXCH_RATE_NUMER", QTY),
        req("EXCH_RATE_DENOM", QTY),
        col("LOY_PTS_RDM", Int),
        col("SVC_BAL_REMAIN", AMOUNT),
        col("SVC_REF_NO", CODE),
        col("EDC_AUTH_RESP", VarChar(80)),
        col("ROUND_GAIN_LOSS", AMOUNT),
        col("HOME_CURNCY_ROUND_GAIN_LOSS", AMOUNT),
        col("TIP_AMT", AMOUNT),
        req("GFC_AUTHED", FLAG),
    ],
    primary_key: &["DOC_ID", "PMT_SEQ_NO"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[
        ("DOC_ID", "the document"),
        ("PMT_SEQ_NO", "1"),
        ("PAY_COD_TYP", "SY_PAY_COD.PAY_TYP of the pay code"),
        ("AMT", "what WooCommerce took, less refunds before apply, to the cent"),
        ("STR_ID", "the header's"),
        ("FINAL_PMT", "'N': a deposit, relieved when the order is released"),
        ("STA_ID", "the header's"),
        ("CARD_IS_NEW", "'N'"),
        ("TKT_NO", "the header's"),
        ("SECURE_ECOMM_TRX", "'Y' for a credit card pay code (PAY_TYP E), else 'N'"),
        ("PMT_LIN_TYP", "'T'"),
        ("PAY_COD", "orders.pay_codes of the WooCommerce payment method (must exist in SY_PAY_COD)"),
        ("PAY_DAT", "WooCommerce's date_paid, in the store's local time"),
        ("DEP_LIN_COPIED_TO_REL_DOC", "'N' (Counterpoint copies it at release)"),
        ("HOME_CURNCY_AMT", "as AMT"),
        ("EXCH_LOSS", "0"),
        ("SWIPED", "'N'"),
        ("DESCR", "the payment method's title (cut to fit)"),
        ("EDC_AUTH_FLG", "'N'"),
        ("CURNCY_COD", "SY_PAY_COD.CURNCY_COD, else 'HOME'"),
        ("EXCH_RATE_NUMER", "1"),
        ("EXCH_RATE_DENOM", "1"),
        ("EDC_AUTH_RESP", "the gateway's transaction id (cut to fit)"),
        ("GFC_AUTHED", "'N'"),
    ],
};

/// Posted tickets (release tickets of orders land here). Only the columns cpbridge reads.
pub const PS_TKT_HIST: Table = Table {
    name: "PS_TKT_HIST",
    owner: Owner::Counterpoint,
    columns: &[
        req("BUS_DAT", DateTime),
        req("DOC_ID", BigInt),
        col("STR_ID", CODE),
        col("STA_ID", CODE),
        col("TKT_NO", VarChar(15)),
        col("CUST_NO", VarChar(15)),
    ],
    primary_key: &["BUS_DAT", "DOC_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

/// Closed orders. Only the columns cpbridge reads.
pub const PS_ORD_HIST: Table = Table {
    name: "PS_ORD_HIST",
    owner: Owner::Counterpoint,
    columns: &[req("DOC_ID", BigInt), col("TKT_NO", VarChar(15)), col("CUST_NO", VarChar(15))],
    primary_key: &["DOC_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

pub const IM_PRC_GRP: Table = Table {
    name: "IM_PRC_GRP",
    owner: Owner::Counterpoint,
    columns: &[
        req("GRP_TYP", FLAG),
        req("GRP_COD", CODE),
        col("DESCR", VarChar(30)),
        dflt("GRP_SEQ_NO", Int, Zero),
        col("BEG_DAT", DateTime),
        col("END_DAT", DateTime),
        dflt("NO_BEG_DAT", FLAG, Str("Y")),
        dflt("NO_END_DAT", FLAG, Str("Y")),
        dflt("ENABLED", FLAG, Str("Y")),
        col("CUST_FILT", Text),
        col("LST_MAINT_DT", DateTime),
        dflt("RS_UTC_DT", DateTime, Now),
    ],
    primary_key: &["GRP_TYP", "GRP_COD"],
    indexes: &[],
    touches_rs_utc_dt: true,
    inserts: &[],
};

pub const IM_PRC_RUL: Table = Table {
    name: "IM_PRC_RUL",
    owner: Owner::Counterpoint,
    columns: &[
        req("GRP_TYP", FLAG),
        req("GRP_COD", CODE),
        req("RUL_SEQ_NO", Int),
        col("DESCR", VarChar(30)),
        col("CUST_FILT", Text),
        col("ITEM_FILT", Text),
        col("CUST_FILT_TEXT", Text),
        col("ITEM_FILT_TEXT", Text),
        // The sale filter: a predicate over the document (store, station, location).
        col("SAL_FILT", Text),
        col("LST_MAINT_DT", DateTime),
        dflt("RS_UTC_DT", DateTime, Now),
    ],
    primary_key: &["GRP_TYP", "GRP_COD", "RUL_SEQ_NO"],
    indexes: &[],
    touches_rs_utc_dt: true,
    inserts: &[],
};

pub const IM_PRC_RUL_BRK: Table = Table {
    name: "IM_PRC_RUL_BRK",
    owner: Owner::Counterpoint,
    columns: &[
        req("GRP_TYP", FLAG),
        req("GRP_COD", CODE),
        req("RUL_SEQ_NO", Int),
        qty("MIN_QTY"),
        req("PRC_METH", FLAG),
        dflt("PRC_BASIS", FLAG, Str("1")),
        qty("AMT_OR_PCT"),
        col("LST_MAINT_DT", DateTime),
        dflt("RS_UTC_DT", DateTime, Now),
    ],
    primary_key: &["GRP_TYP", "GRP_COD", "RUL_SEQ_NO", "MIN_QTY"],
    indexes: &[],
    touches_rs_utc_dt: true,
    inserts: &[],
};

/// The values of a gridded item's first dimension (`DIM_1_UPR` is the key, `DIM_1` as displayed). Read only.
pub const IM_GRID_DIM_1: Table = grid_dim_table("IM_GRID_DIM_1", &["ITEM_NO", "DIM_1_UPR"], GRID_DIM_1_COLUMNS);
pub const IM_GRID_DIM_2: Table = grid_dim_table("IM_GRID_DIM_2", &["ITEM_NO", "DIM_2_UPR"], GRID_DIM_2_COLUMNS);
pub const IM_GRID_DIM_3: Table = grid_dim_table("IM_GRID_DIM_3", &["ITEM_NO", "DIM_3_UPR"], GRID_DIM_3_COLUMNS);

const GRID_DIM_1_COLUMNS: &[Column] =
    &[req("ITEM_NO", VarChar(20)), req("DIM_1_UPR", VarChar(15)), col("DIM_1", VarChar(15)), col("DIM_1_SEQ_NO", Int)];
const GRID_DIM_2_COLUMNS: &[Column] =
    &[req("ITEM_NO", VarChar(20)), req("DIM_2_UPR", VarChar(15)), col("DIM_2", VarChar(15)), col("DIM_2_SEQ_NO", Int)];
const GRID_DIM_3_COLUMNS: &[Column] =
    &[req("ITEM_NO", VarChar(20)), req("DIM_3_UPR", VarChar(15)), col("DIM_3", VarChar(15)), col("DIM_3_SEQ_NO", Int)];

const fn grid_dim_table(name: &'static str, key: &'static [&'static str], columns: &'static [Column]) -> Table {
    Table {
        name,
        owner: Owner::Counterpoint,
        columns,
        primary_key: key,
        indexes: &[],
        touches_rs_utc_dt: false,
        inserts: &[],
    }
}

/// The stock of one grid cell; the item's `IM_INV` row holds the sum of its cells. cpbridge never inserts one.
pub const IM_INV_CELL: Table = Table {
    name: "IM_INV_CELL",
    owner: Owner::Counterpoint,
    columns: &[
        req("ITEM_NO", VarChar(20)),
        req("LOC_ID", CODE),
        req("DIM_1_UPR", VarChar(15)),
        req("DIM_2_UPR", VarChar(15)),
        req("DIM_3_UPR", VarChar(15)),
        req("QTY_COMMIT", MONEY),
        req("QTY_ON_HND", MONEY),
        req("QTY_ON_ORD", MONEY),
        col("CELL_STAT", FLAG),
        // 'Y': the cell is sold on the web.
        col("IS_ECOMM_ITEM_CELL", FLAG),
        stamp("RS_UTC_DT"),
        computed("QTY_AVAIL", Dec(16, 4), "QTY_ON_HND - QTY_COMMIT"),
    ],
    primary_key: &["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"],
    indexes: &[("IX_IM_INV_CELL_RS_UTC_DT", &["RS_UTC_DT"], false)],
    touches_rs_utc_dt: true,
    inserts: &[],
};

/// Barcodes, per grid cell (`'*'` dimensions for a non-grid item). Read only.
pub const IM_BARCOD: Table = Table {
    name: "IM_BARCOD",
    owner: Owner::Counterpoint,
    columns: &[
        req("ITEM_NO", VarChar(20)),
        req("BARCOD_ID", CODE),
        dflt("DIM_1_UPR", VarChar(15), Str("*")),
        dflt("DIM_2_UPR", VarChar(15), Str("*")),
        dflt("DIM_3_UPR", VarChar(15), Str("*")),
        req("BARCOD", VarChar(20)),
    ],
    primary_key: &["ITEM_NO", "BARCOD_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"],
    // Registers look barcodes up as they scan; so does an order for a variation whose SKU is one.
    indexes: &[("IX_IM_BARCOD_BARCOD", &["BARCOD"], false)],
    touches_rs_utc_dt: false,
    inserts: &[],
};

/// The grid cells of an order line: one row for a line that sells a variation.
pub const PS_DOC_LIN_CELL: Table = Table {
    name: "PS_DOC_LIN_CELL",
    owner: Owner::Counterpoint,
    columns: &[
        req("DOC_ID", BigInt),
        req("LIN_SEQ_NO", Int),
        req("DIM_1_UPR", VarChar(15)),
        req("DIM_2_UPR", VarChar(15)),
        req("DIM_3_UPR", VarChar(15)),
        req("QTY_SOLD", QTY),
    ],
    primary_key: &["DOC_ID", "LIN_SEQ_NO", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[
        ("DOC_ID", "the document"),
        ("LIN_SEQ_NO", "the line"),
        ("DIM_1_UPR", "the cell's first dimension"),
        ("DIM_2_UPR", "the cell's second dimension, else '*'"),
        ("DIM_3_UPR", "the cell's third dimension, else '*'"),
        ("QTY_SOLD", "the line's quantity"),
    ],
};

/// Stores: `STR_NO` is the store number inside a `DOC_ID`. Read only.
pub const PS_STR: Table = Table {
    name: "PS_STR",
    owner: Owner::Counterpoint,
    columns: &[req("STR_ID", CODE), req("STR_NO", SmallInt), col("DESCR", VarChar(30))],
    primary_key: &["STR_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

/// Stations: `STA_NO` is the station number inside a `DOC_ID`. Read only.
pub const PS_STA: Table = Table {
    name: "PS_STA",
    owner: Owner::Counterpoint,
    columns: &[req("STR_ID", CODE), req("STA_ID", CODE), req("STA_NO", SmallInt), col("DESCR", VarChar(30))],
    primary_key: &["STR_ID", "STA_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

/// Cash drawers. Read only (`doctor` checks cpbridge's).
pub const PS_DRW: Table = Table {
    name: "PS_DRW",
    owner: Owner::Counterpoint,
    columns: &[req("STR_ID", CODE), req("DRW_ID", CODE), col("DESCR", VarChar(30))],
    primary_key: &["STR_ID", "DRW_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

/// Users. Read only (`doctor` checks cpbridge's).
pub const SY_USR: Table = Table {
    name: "SY_USR",
    owner: Owner::Counterpoint,
    columns: &[req("USR_ID", CODE), col("NAM", VarChar(40))],
    primary_key: &["USR_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

/// Pay codes: a payment row copies `PAY_TYP` into `PS_DOC_PMT.PAY_COD_TYP`. Read only.
pub const SY_PAY_COD: Table = Table {
    name: "SY_PAY_COD",
    owner: Owner::Counterpoint,
    columns: &[
        req("PAY_COD", CODE),
        req("PAY_TYP", FLAG),
        col("DESCR", VarChar(30)),
        col("ALLOW_FOR_ORDS", FLAG),
        col("DFLT_DOC_FINAL_PMT", FLAG),
        col("CURNCY_COD", CODE),
    ],
    primary_key: &["PAY_COD"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

pub const USER_ORDER_STAGING: Table = Table {
    name: "USER_ORDER_STAGING",
    owner: Owner::Cpbridge,
    columns: &[
        identity("STAGING_ID"),
        req("WOO_ORDER_ID", BigInt),
        col("WOO_ORDER_NO", VarChar(20)),
        col("CUST_NO", VarChar(15)),
        col("ORD_DAT", DateTime),
        qty("SUBTOT"),
        qty("TAX_AMT"),
        qty("DISC_AMT"),
        qty("SHIP_AMT"),
        qty("TOT_AMT"),
        col("SHIP_VIA", VarChar(100)),
        col("PMT_METH", VarChar(100)),
        col("LINE_ITEMS_JSON", NText),
        col("RAW_ORDER_JSON", NText),
        dflt("STATUS", VarChar(10), Str("PENDING")),
        dflt("IS_APPLIED", Bit, Zero),
        dflt("ATTEMPTS", Int, Zero),
        col("NEXT_ATTEMPT_DT", DateTime),
        col("LAST_ERR", VarChar(2000)),
        // Proves which worker holds an APPLYING row; a stale worker's apply finds a different token and stops.
        col("CLAIM_TOKEN", VarChar(36)),
        col("CP_DOC_ID", BigInt),
        col("CP_TKT_NO", VarChar(15)),
        qty("BKORD_QTY"),
        col("APPLIED_DT", DateTime),
        col("WOO_SYNCED_DT", DateTime),
        // Write-backs to WooCommerce retry on their own schedule, apart from the apply attempts above.
        dflt("WOO_SYNC_ATTEMPTS", Int, Zero),
        col("WOO_SYNC_NEXT_DT", DateTime),
        col("WOO_SYNC_ERR", VarChar(2000)),
        // Where the document ended up (RELEASED, CLOSED, CANCELLED) once WooCommerce was told; NULL while open.
        col("CP_DOC_STATE", VarChar(10)),
        dflt("CREATED_DT", DateTime, Now),
    ],
    primary_key: &["STAGING_ID"],
    indexes: &[
        ("UX_USER_ORDER_STAGING_WOO_ID", &["WOO_ORDER_ID"], true),
        ("IX_USER_ORDER_STAGING_STATUS", &["STATUS", "NEXT_ATTEMPT_DT"], false),
    ],
    touches_rs_utc_dt: false,
    inserts: &[],
};

pub const USER_INV_CHANGES: Table = Table {
    name: "USER_INV_CHANGES",
    owner: Owner::Cpbridge,
    columns: &[
        identity("CHANGE_ID"),
        req("ITEM_NO", VarChar(20)),
        req("LOC_ID", CODE),
        dflt("CHANGED_DT", DateTime, Now),
        col("CONSUMED_DT", DateTime),
        // The grid cell, for a change to `IM_INV_CELL`; NULL for a change to the item's `IM_INV` row.
        col("DIM_1_UPR", VarChar(15)),
        col("DIM_2_UPR", VarChar(15)),
        col("DIM_3_UPR", VarChar(15)),
    ],
    primary_key: &["CHANGE_ID"],
    indexes: &[("IX_USER_INV_CHANGES_OPEN", &["CONSUMED_DT", "CHANGE_ID"], false)],
    touches_rs_utc_dt: false,
    inserts: &[],
};

pub const USER_DOC_COUNTER: Table = Table {
    name: "USER_DOC_COUNTER",
    owner: Owner::Cpbridge,
    columns: &[req("COUNTER_ID", VarChar(40)), dflt("NEXT_NO", BigInt, Zero), col("LST_MAINT_DT", DateTime)],
    primary_key: &["COUNTER_ID"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

/// Per-line facts that Counterpoint has no confirmed column for: the backordered quantity, the WooCommerce line, and
/// the line's GUID.
pub const USER_DOC_LIN_EXT: Table = Table {
    name: "USER_DOC_LIN_EXT",
    owner: Owner::Cpbridge,
    columns: &[
        req("DOC_ID", BigInt),
        req("LIN_SEQ_NO", Int),
        req("ITEM_NO", VarChar(20)),
        col("WOO_LINE_ID", BigInt),
        qty("QTY_BKORD"),
        // The order line's PS_DOC_LIN.LIN_GUID, kept after the order leaves the open documents, so a release found
        // by LINK_LIN_GUID still leads back to it.
        col("LIN_GUID", Guid),
    ],
    primary_key: &["DOC_ID", "LIN_SEQ_NO"],
    indexes: &[],
    touches_rs_utc_dt: false,
    inserts: &[],
};

/// Every table, Counterpoint's first, in an order that satisfies creation.
pub const TABLES: &[Table] = &[
    IM_ITEM,
    IM_LOC,
    IM_PRC,
    IM_INV,
    AR_CUST,
    AR_SHIP_ADRS,
    PS_DOC_HDR,
    PS_DOC_CONTACT,
    PS_DOC_LIN,
    PS_DOC_HDR_TOT,
    PS_DOC_PMT,
    PS_TKT_HIST,
    PS_ORD_HIST,
    IM_PRC_GRP,
    IM_PRC_RUL,
    IM_PRC_RUL_BRK,
    PS_STR,
    PS_STA,
    PS_DRW,
    SY_USR,
    SY_PAY_COD,
    IM_GRID_DIM_1,
    IM_GRID_DIM_2,
    IM_GRID_DIM_3,
    IM_INV_CELL,
    IM_BARCOD,
    PS_DOC_LIN_CELL,
    USER_ORDER_STAGING,
    USER_INV_CHANGES,
    USER_DOC_COUNTER,
    USER_DOC_LIN_EXT,
];

/// The `IM_INV` columns an open order moves, in one place, because Counterpoint's own order entry is not documented
/// publicly: the ordered quantity is added to each, at the line's `STK_LOC_ID`, and taken back on cancellation.
/// `QTY_ON_HND` is never touched; it falls when Counterpoint posts the release ticket.
pub const ORDER_COMMIT_COLUMNS: [&str; 2] = ["QTY_COMMIT", "QTY_ON_ORD"];

/// What cpbridge writes to Counterpoint's own tables, table by table and column by column, from the model's insert
/// lists: the reference a DBA reads before letting cpbridge in (`sql/counterpoint-writes.md`).
pub fn writes_reference() -> String {
    let mut out = String::from(
        "# What cpbridge writes to Counterpoint\n\n\
         Generated from `crates/counterpoint/src/schema.rs` (the insert lists that the insert builder enforces on every \
         row); refresh with `CPBRIDGE_BLESS=1 cargo test -p cpbridge-counterpoint`. Types and NULL rules are the \
         model's (`shared/counterpoint-columns.sql`); at start-up cpbridge reads the live ones, fits text to the live \
         lengths, and refuses to start when a live table requires a column that is not listed here.\n\n\
         cpbridge never inserts into `IM_INV` (stock rows are Counterpoint's). It only updates ",
    );
    out.push_str(&ORDER_COMMIT_COLUMNS.map(|c| format!("`{c}`")).join(" and "));
    out.push_str(
        " of existing rows, adding an open order's quantities at its stock location and taking them back when the \
         order is cancelled.\n",
    );
    for table in TABLES.iter().filter(|t| t.owner == Owner::Counterpoint && !t.inserts.is_empty()) {
        out.push_str(&format!(
            "\n## {}\n\n| column | type | NULL | what cpbridge writes |\n|---|---|---|---|\n",
            table.name
        ));
        for (name, meaning) in table.inserts {
            let Some(column) = table.column(name) else { continue };
            let null = match (column.not_null, column.default) {
                (false, _) => "NULL".to_owned(),
                (true, ColDefault::None) => "NOT NULL".to_owned(),
                (true, d) => format!("NOT NULL, default {}", default_sql(Dialect::Mssql, d).unwrap_or_default()),
            };
            out.push_str(&format!("| `{name}` | {} | {null} | {meaning} |\n", sql_type(Dialect::Mssql, column.ty)));
        }
        let unwritten: Vec<&str> = table.columns.iter().map(|c| c.name).filter(|c| !table.inserts_column(c)).collect();
        if !unwritten.is_empty() {
            out.push_str(&format!("\nLeft to their defaults or NULL: {}.\n", unwritten.join(", ")));
        }
    }
    out
}

/// Name of the trigger that feeds `USER_INV_CHANGES` on SQL Server.
pub const MSSQL_INV_TRIGGER: &str = "USER_TR_IM_INV_CHANGES";

/// Name of the trigger that feeds `USER_INV_CHANGES` from grid cells on SQL Server.
pub const MSSQL_INV_CELL_TRIGGER: &str = "USER_TR_IM_INV_CELL_CHANGES";

/// The triggers that feed `USER_INV_CHANGES` in a dialect, as `verify_schema` looks for them.
pub fn inv_trigger_names(dialect: Dialect) -> Vec<String> {
    match dialect {
        Dialect::Mssql => vec![MSSQL_INV_TRIGGER.to_owned(), MSSQL_INV_CELL_TRIGGER.to_owned()],
        Dialect::Sqlite => ["USER_TR_IM_INV_CHANGES", "USER_TR_IM_INV_CELL_CHANGES"]
            .iter()
            .flat_map(|base| ["I", "U", "D"].iter().map(move |op| format!("{base}_{op}")))
            .collect(),
    }
}

/// A stock table the change feed follows: its key, and the columns whose change can move web stock.
struct FedTable {
    table: &'static str,
    trigger: &'static str,
    key: &'static [&'static str],
    watched: &'static [&'static str],
}

const FED_TABLES: [FedTable; 2] = [
    FedTable {
        table: "IM_INV",
        trigger: MSSQL_INV_TRIGGER,
        key: &["ITEM_NO", "LOC_ID"],
        watched: &["QTY_ON_HND", "QTY_COMMIT"],
    },
    FedTable {
        table: "IM_INV_CELL",
        trigger: MSSQL_INV_CELL_TRIGGER,
        key: &["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"],
        watched: &["QTY_ON_HND", "QTY_COMMIT", "IS_ECOMM_ITEM_CELL"],
    },
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

fn sql_type(dialect: Dialect, ty: ColType) -> String {
    match (dialect, ty) {
        (_, VarChar(n)) => format!("VARCHAR({n})"),
        (Dialect::Mssql, Text) => "VARCHAR(MAX)".into(),
        (Dialect::Mssql, NText) => "NVARCHAR(MAX)".into(),
        (Dialect::Sqlite, Text | NText | Guid) => "TEXT".into(),
        (Dialect::Mssql, BigInt) => "BIGINT".into(),
        (Dialect::Mssql, Int) => "INT".into(),
        (Dialect::Mssql, SmallInt) => "SMALLINT".into(),
        (Dialect::Mssql, TinyInt) => "TINYINT".into(),
        (Dialect::Mssql, Bit) => "BIT".into(),
        (Dialect::Sqlite, BigInt | Int | SmallInt | TinyInt | Bit) => "INTEGER".into(),
        (_, Dec(p, s)) => format!("DECIMAL({p},{s})"),
        (_, DateTime) => "DATETIME".into(),
        (Dialect::Mssql, Guid) => "UNIQUEIDENTIFIER".into(),
        (Dialect::Mssql, Blob) => "VARBINARY(MAX)".into(),
        (Dialect::Sqlite, Blob) => "BLOB".into(),
    }
}

fn default_sql(dialect: Dialect, default: ColDefault) -> Option<String> {
    match default {
        ColDefault::None => None,
        ColDefault::Zero => Some("0".into()),
        ColDefault::Str(s) if s.chars().all(|c| c.is_ascii_digit()) => Some(s.into()),
        ColDefault::Str(s) => Some(format!("'{s}'")),
        ColDefault::Now => Some(dialect.now_default().into()),
    }
}

/// One column's definition in a `CREATE TABLE` or `ALTER TABLE ... ADD`.
pub fn column_sql(dialect: Dialect, table: &Table, column: &Column) -> String {
    if let Some(expr) = column.computed {
        return match dialect {
            Dialect::Mssql => format!("{} AS ({expr})", column.name),
            Dialect::Sqlite => {
                format!("{} {} GENERATED ALWAYS AS ({expr}) VIRTUAL", column.name, sql_type(dialect, column.ty))
            }
        };
    }
    if column.identity {
        return match dialect {
            Dialect::Mssql => format!("{} BIGINT IDENTITY(1,1) NOT NULL", column.name),
            Dialect::Sqlite => format!("{} INTEGER PRIMARY KEY AUTOINCREMENT", column.name),
        };
    }
    let mut sql = format!("{} {}", column.name, sql_type(dialect, column.ty));
    if column.not_null {
        sql.push_str(" NOT NULL");
    }
    if let Some(default) = default_sql(dialect, column.default) {
        match dialect {
            Dialect::Mssql => sql.push_str(&format!(" CONSTRAINT DF_{}_{} DEFAULT {default}", table.name, column.name)),
            Dialect::Sqlite => sql.push_str(&format!(" DEFAULT {default}")),
        }
    }
    // SQLite ignores declared lengths; the replica must refuse what SQL Server refuses.
    if let (Dialect::Sqlite, VarChar(n)) = (dialect, column.ty) {
        sql.push_str(&format!(" CHECK (length({}) <= {n})", column.name));
    }
    sql
}

/// `CREATE TABLE` for one table (without indexes).
pub fn create_table_sql(dialect: Dialect, table: &Table) -> String {
    let mut parts: Vec<String> =
        table.columns.iter().map(|c| format!("    {}", column_sql(dialect, table, c))).collect();
    let has_identity_pk = table.columns.iter().any(|c| c.identity);
    if !(dialect == Dialect::Sqlite && has_identity_pk) {
        parts.push(format!("    CONSTRAINT PK_{} PRIMARY KEY ({})", table.name, table.primary_key.join(", ")));
    }
    let qualified = dialect.qualify(table.name);
    format!("CREATE TABLE {qualified} (\n{}\n)", parts.join(",\n"))
}

/// `CREATE [UNIQUE] INDEX` statements for one table.
pub fn create_index_sql(dialect: Dialect, table: &Table) -> Vec<String> {
    table
        .indexes
        .iter()
        .map(|(name, cols, unique)| {
            let unique = if *unique { "UNIQUE " } else { "" };
            format!("CREATE {unique}INDEX {name} ON {} ({})", dialect.qualify(table.name), cols.join(", "))
        })
        .collect()
}

/// The SQLite replica: every table, its indexes, and the triggers that stand in for Counterpoint's replication
/// (`RS_UTC_DT` kept current) and for cpbridge's `IM_INV` change trigger.
pub fn sqlite_replica_ddl() -> String {
    let mut out = String::from(
        "-- The SQLite replica of the Counterpoint tables cpbridge touches, generated from \
         crates/counterpoint/src/schema.rs.\n-- Column names and meanings are Counterpoint's; see shared/COUNTERPOINT.md.\n\n",
    );
    for table in TABLES {
        out.push_str(&create_table_sql(Dialect::Sqlite, table));
        out.push_str(";\n");
        for index in create_index_sql(Dialect::Sqlite, table) {
            out.push_str(&index);
            out.push_str(";\n");
        }
        if table.touches_rs_utc_dt {
            // Counterpoint's replication triggers keep RS_UTC_DT current; the replica does the same, unless the
            // writer set RS_UTC_DT itself.
            out.push_str(&format!(
                "CREATE TRIGGER RS_TOUCH_{name} AFTER UPDATE ON {name} WHEN NEW.RS_UTC_DT IS OLD.RS_UTC_DT\nBEGIN\n    \
                 UPDATE {name} SET RS_UTC_DT = {now} WHERE rowid = NEW.rowid;\nEND;\n",
                name = table.name,
                now = Dialect::Sqlite.now_default(),
            ));
        }
        out.push('\n');
    }
    let now = Dialect::Sqlite.now_default();
    out.push_str(
        "-- cpbridge's change feed: every IM_INV and IM_INV_CELL change that can move web stock, from any writer.\n",
    );
    for fed in &FED_TABLES {
        let cols = fed.key.join(", ");
        let values = |row: &str| fed.key.iter().map(|k| format!("{row}.{k}")).collect::<Vec<_>>().join(", ");
        let changed = fed
            .watched
            .iter()
            .chain(fed.key)
            .map(|c| format!("NEW.{c} IS NOT OLD.{c}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let insert =
            |row: &str| format!("INSERT INTO USER_INV_CHANGES ({cols}, CHANGED_DT) VALUES ({}, {now});", values(row));
        out.push_str(&format!(
            "CREATE TRIGGER {t}_I AFTER INSERT ON {table}\nBEGIN\n    {ins}\nEND;\n\
             CREATE TRIGGER {t}_U AFTER UPDATE ON {table}\n    WHEN {changed}\nBEGIN\n    {ins}\nEND;\n\
             CREATE TRIGGER {t}_D AFTER DELETE ON {table}\nBEGIN\n    {del}\nEND;\n",
            t = fed.trigger,
            table = fed.table,
            ins = insert("NEW"),
            del = insert("OLD"),
        ));
    }
    out
}

/// T-SQL that creates cpbridge's `USER_` tables on a Counterpoint database, idempotently: a missing table is
/// created, a missing column is added, a missing index is created. Nothing of Counterpoint's is touched.
pub fn mssql_user_tables_script() -> String {
    let mut out = String::from(
        "-- cpbridge's own tables in the Counterpoint database (prefix USER_, Counterpoint's convention for custom \
         tables).\n-- Generated from crates/counterpoint/src/schema.rs; applied by `cpbridge cp migrate`. Safe to run \
         again.\n\n",
    );
    for table in TABLES.iter().filter(|t| t.owner == Owner::Cpbridge) {
        let create = create_table_sql(Dialect::Mssql, table).replace('\n', "\n    ");
        out.push_str(&format!(
            "IF OBJECT_ID(N'dbo.{name}', N'U') IS NULL\nBEGIN\n    {create};\nEND;\nGO\n",
            name = table.name
        ));
        // Columns added in later versions reach existing installs; key columns always come with the table.
        for column in table.columns.iter().filter(|c| !c.identity && !table.primary_key.contains(&c.name)) {
            if table.name == "USER_ORDER_STAGING" && column.name == "STATUS" {
                let def = column_sql(Dialect::Mssql, table, column).replace(" NOT NULL", " NULL");
                out.push_str(&legacy_status_sql(&def));
                continue;
            }
            let with_values = if column.default == ColDefault::None { "" } else { " WITH VALUES" };
            out.push_str(&format!(
                "IF COL_LENGTH(N'dbo.{name}', N'{col}') IS NULL ALTER TABLE dbo.{name} ADD {def}{with_values};\nGO\n",
                name = table.name,
                col = column.name,
                def = column_sql(Dialect::Mssql, table, column).replace(" NOT NULL", " NULL"),
            ));
        }
        for ((index, _, _), sql) in table.indexes.iter().zip(create_index_sql(Dialect::Mssql, table)) {
            out.push_str(&format!(
                "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'{index}' AND object_id = \
                 OBJECT_ID(N'dbo.{name}'))\n    {sql};\nGO\n",
                name = table.name
            ));
        }
        out.push('\n');
    }
    out
}

/// Adding `STATUS` to a staging table that has none: the seed system's table, where `IS_APPLIED` said what was done.
/// Its applied rows become `APPLIED`; the rest `LEGACY`, never claimed, so that cpbridge cannot book again an order
/// the old scripts may have handled some other way. (`EXEC`, because the column does not exist when the batch is
/// compiled.)
fn legacy_status_sql(status_def: &str) -> String {
    let t = "dbo.USER_ORDER_STAGING";
    [
        format!("IF COL_LENGTH(N'{t}', N'STATUS') IS NULL"),
        "BEGIN".to_owned(),
        format!("    ALTER TABLE {t} ADD {status_def};"),
        format!("    IF COL_LENGTH(N'{t}', N'IS_APPLIED') IS NOT NULL"),
        format!(
            "        EXEC(N'UPDATE {t} SET STATUS = CASE WHEN IS_APPLIED = 1 THEN ''APPLIED'' ELSE ''LEGACY'' END');"
        ),
        "    ELSE".to_owned(),
        format!("        EXEC(N'UPDATE {t} SET STATUS = ''LEGACY''');"),
        "END;".to_owned(),
        "GO\n".to_owned(),
    ]
    .join("\n")
}

/// T-SQL for the trigger that feeds `USER_INV_CHANGES` from `IM_INV`.
///
/// It sits inside every register's posting, so it must never fail a sale:
/// - it records a row only when a quantity that moves web stock changed (`EXCEPT` compares NULLs safely), so
///   Counterpoint's own bookkeeping updates do not flood the feed;
/// - it returns at once when `USER_INV_CHANGES` is missing (dropped by a DBA: the 12-hourly reconcile catches up);
/// - the insert runs as dynamic SQL inside `TRY ... CATCH` with `XACT_ABORT OFF`, so an altered table (a renamed or
///   retyped column, which static SQL would fail to compile in the register's scope), a duplicate or a full table
///   is swallowed, and the register's transaction commits;
/// - `EXECUTE AS OWNER`, so the register's login needs no permission on cpbridge's table.
pub fn mssql_inv_trigger_script() -> String {
    let mut out = String::from(
        "-- Feeds dbo.USER_INV_CHANGES from every change to dbo.IM_INV and dbo.IM_INV_CELL, made by any Counterpoint\n\
         -- workstation. Generated from crates/counterpoint/src/schema.rs; applied by `cpbridge cp migrate`. Safe to run\n\
         -- again. They can never fail a register's posting: any error of their own is swallowed (the stock reconcile\n\
         -- catches up). Safe to drop: cpbridge then sees stock changes at its reconcile.\n",
    );
    for fed in &FED_TABLES {
        let key = fed.key.join(", ");
        let of = |row: &str| fed.key.iter().map(|k| format!("{row}.{k}")).collect::<Vec<_>>().join(", ");
        let join =
            |a: &str, b: &str| fed.key.iter().map(|k| format!("{b}.{k} = {a}.{k}")).collect::<Vec<_>>().join(" AND ");
        let watched = |row: &str| fed.watched.iter().map(|c| format!("{row}.{c}")).collect::<Vec<_>>().join(", ");
        out.push_str(&format!(
            "\nCREATE OR ALTER TRIGGER dbo.{trigger} ON dbo.{table}\nWITH EXECUTE AS OWNER\n\
             AFTER INSERT, UPDATE, DELETE\nAS\nBEGIN\n    \
             SET NOCOUNT ON;\n    \
             SET XACT_ABORT OFF;\n    \
             IF OBJECT_ID(N'dbo.USER_INV_CHANGES', N'U') IS NULL RETURN;\n    \
             SELECT {key} INTO {temp} FROM (\n        \
             SELECT {ins}\n        FROM inserted i\n        \
             LEFT JOIN deleted d ON {on_d}\n        \
             WHERE d.ITEM_NO IS NULL\n           \
             OR EXISTS (SELECT {wi} EXCEPT SELECT {wd})\n        \
             UNION ALL\n        \
             SELECT {del}\n        FROM deleted d\n        \
             WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE {on_i})\n    \
             ) c;\n    \
             IF @@ROWCOUNT = 0 RETURN;\n    \
             BEGIN TRY\n        \
             EXEC sys.sp_executesql N'INSERT INTO dbo.USER_INV_CHANGES ({key}, CHANGED_DT) \
             SELECT {key}, GETUTCDATE() FROM {temp}';\n    \
             END TRY\n    \
             BEGIN CATCH\n        \
             -- Never the register's problem. A doomed transaction (XACT_STATE() = -1) cannot be saved by anyone.\n        \
             RETURN;\n    \
             END CATCH;\nEND;\nGO\n",
            trigger = fed.trigger,
            table = fed.table,
            // One name per trigger: a trigger of Counterpoint's own may fire one inside the other.
            temp = format!("#cpbridge_{}_changes", fed.table.to_ascii_lowercase()),
            ins = of("i"),
            del = of("d"),
            on_d = join("i", "d"),
            on_i = join("d", "i"),
            wi = watched("i"),
            wd = watched("d"),
        ));
    }
    out
}

/// T-SQL that builds the Counterpoint tables on a blank SQL Server, for the `CPBRIDGE_MSSQL_TEST_URL` suite only.
pub fn mssql_test_fixture_script() -> String {
    let mut out = String::from(
        "-- TEST FIXTURE ONLY: the Counterpoint tables cpbridge touches, for a blank SQL Server.\n\
         -- Never run this against a real Counterpoint database.\n\n\
         IF OBJECT_ID(N'dbo.fnGenDocId') IS NOT NULL DROP FUNCTION dbo.fnGenDocId;\nGO\n",
    );
    for table in TABLES.iter().rev() {
        out.push_str(&format!("IF OBJECT_ID(N'dbo.{0}', N'U') IS NOT NULL DROP TABLE dbo.{0};\nGO\n", table.name));
    }
    for table in TABLES.iter().filter(|t| t.owner == Owner::Counterpoint) {
        out.push_str(&create_table_sql(Dialect::Mssql, table));
        out.push_str(";\nGO\n");
        for index in create_index_sql(Dialect::Mssql, table) {
            out.push_str(&index);
            out.push_str(";\nGO\n");
        }
    }
    out
}

/// Splits a T-SQL script on `GO` batch separators, as SSMS and sqlcmd do.
pub fn split_batches(script: &str) -> Vec<String> {
    let mut batches = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if line.trim().eq_ignore_ascii_case("GO") {
            if !current.trim().is_empty() {
                batches.push(std::mem::take(&mut current));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qty_avail_is_computed_in_both_dialects() {
        let col = IM_INV.column("QTY_AVAIL").expect("QTY_AVAIL");
        assert_eq!(column_sql(Dialect::Mssql, &IM_INV, col), "QTY_AVAIL AS (QTY_ON_HND - QTY_COMMIT)");
        assert_eq!(
            column_sql(Dialect::Sqlite, &IM_INV, col),
            "QTY_AVAIL DECIMAL(16,4) GENERATED ALWAYS AS (QTY_ON_HND - QTY_COMMIT) VIRTUAL"
        );
    }

    #[test]
    fn mssql_types_and_defaults() {
        let sql = create_table_sql(Dialect::Mssql, &USER_ORDER_STAGING);
        assert!(sql.starts_with("CREATE TABLE dbo.USER_ORDER_STAGING ("), "{sql}");
        assert!(sql.contains("STAGING_ID BIGINT IDENTITY(1,1) NOT NULL"), "{sql}");
        assert!(sql.contains("RAW_ORDER_JSON NVARCHAR(MAX)"), "{sql}");
        assert!(sql.contains("TOT_AMT DECIMAL(15,4) NOT NULL CONSTRAINT DF_USER_ORDER_STAGING_TOT_AMT DEFAULT 0"));
        assert!(
            sql.contains(
                "CREATED_DT DATETIME NOT NULL CONSTRAINT DF_USER_ORDER_STAGING_CREATED_DT DEFAULT GETUTCDATE()"
            )
        );
        assert!(sql.contains("CONSTRAINT PK_USER_ORDER_STAGING PRIMARY KEY (STAGING_ID)"));
        let doc = create_table_sql(Dialect::Mssql, &PS_DOC_HDR);
        assert!(doc.contains("DOC_GUID UNIQUEIDENTIFIER NOT NULL"), "{doc}");
    }

    #[test]
    fn batches_split_on_go_lines_only() {
        let batches = split_batches("CREATE TABLE GOALS (x INT);\nGO\nSELECT 1\n  go  \n\nSELECT 2");
        assert_eq!(batches, vec!["CREATE TABLE GOALS (x INT);\n", "SELECT 1\n", "\nSELECT 2\n"]);
    }

    #[test]
    fn user_scripts_never_touch_counterpoint_tables() {
        let script = mssql_user_tables_script() + &mssql_inv_trigger_script();
        for table in TABLES.iter().filter(|t| t.owner == Owner::Counterpoint) {
            assert!(!script.contains(&format!("CREATE TABLE dbo.{} ", table.name)), "{}", table.name);
            assert!(!script.contains(&format!("ALTER TABLE dbo.{} ", table.name)), "{}", table.name);
        }
    }

    /// The files in `sql/` are what `cp migrate` applies and what a DBA reads; they must match the model.
    /// Run with `CPBRIDGE_BLESS=1` to rewrite them after changing the model.
    #[test]
    fn committed_sql_files_match_the_model() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let files = [
            ("sql/mssql/001_user_tables.sql", mssql_user_tables_script()),
            ("sql/mssql/002_inv_changes_trigger.sql", mssql_inv_trigger_script()),
            ("sql/mssql/test/counterpoint_fixture.sql", mssql_test_fixture_script()),
            ("sql/sqlite/replica.sql", sqlite_replica_ddl()),
            ("sql/counterpoint-writes.md", writes_reference()),
        ];
        for (path, expected) in files {
            let path = root.join(path);
            if std::env::var_os("CPBRIDGE_BLESS").is_some() {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, &expected).expect("write");
            }
            let actual = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                actual == expected,
                "{} is out of date: run CPBRIDGE_BLESS=1 cargo test -p cpbridge-counterpoint",
                path.display()
            );
        }
    }
}
