//! The staging state machine of `USER_ORDER_STAGING`.
//!
//! A WooCommerce order is staged once (keyed by its WooCommerce id), claimed by one worker, and then either applied,
//! retried later, or declared dead. The status values are the strings stored in the `STATUS` column.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{CustNo, Sku, StagingId, WooOrderId};

/// `USER_ORDER_STAGING.STATUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StagingStatus {
    /// Waiting to be applied.
    Pending,
    /// Claimed by a worker; the claim expires at `NEXT_ATTEMPT_DT`, so a crashed worker's order is picked up again.
    Applying,
    /// Turned into a Counterpoint document (`CP_DOC_ID`, `CP_TKT_NO`).
    Applied,
    /// The last attempt failed; it is retried at `NEXT_ATTEMPT_DT`.
    Failed,
    /// Attempts are spent, or the order can never be applied as it is; an operator must act.
    Dead,
    /// Cancelled in WooCommerce before it was applied.
    Cancelled,
    /// Ended for good by an operator (`cpbridge dlq discard`): never applied, never staged again, holds no stock.
    Discarded,
    /// A row of the system before cpbridge that it never applied (found by `cp migrate`): never claimed, holds no
    /// stock, until an operator adopts it (`cpbridge dlq retry`, which stages it afresh from WooCommerce).
    Legacy,
}

impl StagingStatus {
    pub const ALL: [StagingStatus; 8] = [
        StagingStatus::Pending,
        StagingStatus::Applying,
        StagingStatus::Applied,
        StagingStatus::Failed,
        StagingStatus::Dead,
        StagingStatus::Cancelled,
        StagingStatus::Discarded,
        StagingStatus::Legacy,
    ];

    /// The value stored in the `STATUS` column.
    pub fn as_str(self) -> &'static str {
        match self {
            StagingStatus::Pending => "PENDING",
            StagingStatus::Applying => "APPLYING",
            StagingStatus::Applied => "APPLIED",
            StagingStatus::Failed => "FAILED",
            StagingStatus::Dead => "DEAD",
            StagingStatus::Cancelled => "CANCELLED",
            StagingStatus::Discarded => "DISCARDED",
            StagingStatus::Legacy => "LEGACY",
        }
    }

    /// Whether the order still holds stock that Counterpoint has not committed yet.
    pub fn is_unapplied(self) -> bool {
        matches!(self, StagingStatus::Pending | StagingStatus::Applying | StagingStatus::Failed)
    }
}

impl fmt::Display for StagingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `STATUS` value that is not one of cpbridge's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown USER_ORDER_STAGING.STATUS value {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for StagingStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StagingStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s.trim())
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// One line of a staged order, as kept in `LINE_ITEMS_JSON`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedLine {
    pub sku: Sku,
    pub quantity: Decimal,
}

/// What intake stages for a WooCommerce order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewStagedOrder {
    pub woo_order_id: WooOrderId,
    pub woo_order_no: String,
    pub cust_no: Option<CustNo>,
    pub ord_dat: Option<NaiveDateTime>,
    pub subtot: Decimal,
    pub tax_amt: Decimal,
    pub disc_amt: Decimal,
    pub ship_amt: Decimal,
    pub tot_amt: Decimal,
    pub ship_via: Option<String>,
    pub pmt_meth: Option<String>,
    pub lines: Vec<StagedLine>,
    /// The order as WooCommerce sent it, byte for byte; the source of truth for mapping.
    pub raw_order_json: String,
}

/// A `USER_ORDER_STAGING` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedOrder {
    pub staging_id: StagingId,
    pub woo_order_id: WooOrderId,
    pub woo_order_no: String,
    pub cust_no: Option<CustNo>,
    pub tot_amt: Decimal,
    pub status: StagingStatus,
    pub attempts: i64,
    pub next_attempt_dt: Option<NaiveDateTime>,
    pub last_err: Option<String>,
    pub lines: Vec<StagedLine>,
    pub raw_order_json: String,
    pub cp_doc_id: Option<i64>,
    pub cp_tkt_no: Option<String>,
    pub applied_dt: Option<NaiveDateTime>,
    pub woo_synced_dt: Option<NaiveDateTime>,
    /// Quantity that was beyond stock when the order was applied.
    pub bkord_qty: Decimal,
    /// Failed attempts to write the Counterpoint numbers back to WooCommerce, and the last reason.
    pub woo_sync_attempts: i64,
    pub woo_sync_err: Option<String>,
    /// Where the document ended up once WooCommerce was told (`RELEASED`, `CLOSED`, `CANCELLED`); `None` while open.
    pub cp_doc_state: Option<String>,
    pub created_dt: NaiveDateTime,
}

/// What the orders reconcile reads of a staging row: no JSON, so that every row can be read in pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagingHead {
    pub staging_id: StagingId,
    pub woo_order_id: WooOrderId,
    pub woo_order_no: String,
    pub status: StagingStatus,
    /// The total as staged: net of the refunds made before it was applied.
    pub tot_amt: Decimal,
    /// `ORD_DAT`: when the order was created in WooCommerce (UTC).
    pub ord_dat: Option<NaiveDateTime>,
    pub cp_doc_id: Option<i64>,
    pub cp_tkt_no: Option<String>,
    /// `CP_DOC_STATE`: where the document went once it left the open documents.
    pub cp_doc_state: Option<String>,
}

/// An order document on cpbridge's own station in `PS_DOC_HDR`, with its total (`PS_DOC_HDR_TOT.TOT`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookedDocument {
    pub doc_id: i64,
    pub tkt_no: String,
    /// The WooCommerce order number cpbridge wrote there.
    pub cust_po_no: Option<String>,
    pub tot: Option<Decimal>,
}

/// The result of staging an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageOutcome {
    /// A new row was written.
    Staged { staging_id: StagingId },
    /// The WooCommerce order was staged before; nothing changed.
    AlreadyStaged { staging_id: StagingId },
}

impl StageOutcome {
    pub fn staging_id(self) -> StagingId {
        match self {
            StageOutcome::Staged { staging_id } | StageOutcome::AlreadyStaged { staging_id } => staging_id,
        }
    }
}

/// A staged order that this worker has claimed. The token proves the claim when the order is applied or failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedOrder {
    pub order: StagedOrder,
    pub claim_token: String,
}

/// The result of applying a claimed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyOutcome {
    /// The document was created in this call. `backordered`: the lines Counterpoint's stock could not cover, as
    /// `(ITEM_NO, quantity)`, in line order.
    Applied { doc_id: i64, tkt_no: String, backordered: Vec<(String, Decimal)> },
    /// Another worker (or an earlier run) applied it first; nothing was written now.
    AlreadyApplied { doc_id: Option<i64>, tkt_no: Option<String> },
    /// The claim expired and another worker holds the order now; nothing was written.
    ClaimLost,
}

/// Where a Counterpoint document stands after it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocumentState {
    /// Still an open document in `PS_DOC_HDR`, with no release ticket yet.
    Open,
    /// A release ticket exists (open or posted to history): the order is being or has been fulfilled.
    Released { release_tkt_no: String },
    /// The order was closed into `PS_ORD_HIST` with a release.
    Closed,
    /// The document left `PS_DOC_HDR`, and cpbridge finds no release ticket for it (by number or by line link) and no
    /// closed order: it may have been cancelled, or released under a number cpbridge does not recognise. Counterpoint
    /// keeps no marker that says "cancelled" positively, so cpbridge never cancels the web order on this; it tells
    /// the shop instead.
    Unknown,
}

impl DocumentState {
    /// The value kept in `USER_ORDER_STAGING.CP_DOC_STATE` once the document has left the open state.
    pub fn final_label(&self) -> Option<&'static str> {
        match self {
            DocumentState::Open => None,
            DocumentState::Released { .. } => Some("RELEASED"),
            DocumentState::Closed => Some("CLOSED"),
            DocumentState::Unknown => Some("UNKNOWN"),
        }
    }
}
