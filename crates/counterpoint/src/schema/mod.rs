//! The Counterpoint tables cpbridge touches, as one model rendered to both dialects.
//!
//! The model is the single source of truth for three things: the SQLite replica's DDL, the T-SQL that creates
//! cpbridge's own `USER_` tables on a real Counterpoint database (`sql/mssql/`), and the schema check behind
//! `cpbridge doctor` (every column cpbridge reads or writes must exist). Counterpoint's own tables are created only in
//! the replica and in the test fixture for a blank SQL Server; on a real Counterpoint database cpbridge never changes
//! their schema.

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

mod catalog;
mod cpbridge;
mod documents;

pub use catalog::*;
pub use cpbridge::*;
pub use documents::*;

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

/// The model of a table, by name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}
