//! cpbridge's own `USER_` tables: the order staging, the stock change feed, ticket counters and line extensions.

use super::*;

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
