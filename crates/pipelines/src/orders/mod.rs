//! The order pipeline: WooCommerce order to Counterpoint order, exactly once, and back.
//!
//! - **Intake** works through the webhook inbox. A delivery is only a hint: the order is fetched fresh, so a stale,
//!   duplicated or coalesced delivery does no harm. **Pull** lists orders by `modified_after` as the safety net.
//!   Both stage into `USER_ORDER_STAGING`, idempotently by WooCommerce order id.
//! - **Process** claims staged orders, maps each with the pure rules of [`crate::order_map`], and applies it in one
//!   Counterpoint transaction. A failure is stored on the row and retried with backoff until it goes `DEAD`.
//! - **Write-back** puts the Counterpoint numbers on the WooCommerce order (note, meta, status). It runs right after
//!   the commit and is retried on its own; it never touches the Counterpoint order.
//! - **Follow** moves the WooCommerce order to completed or cancelled once the document leaves Counterpoint's
//!   open documents.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use cpbridge_core::ids::{CustNo, Sku, StagingId, WooOrderId};
use cpbridge_core::staging::{
    ApplyOutcome, ClaimedOrder, DocumentState, NewStagedOrder, StageOutcome, StagedOrder, StagingStatus,
};
use cpbridge_counterpoint::{CounterpointPort, CpError, CustNoScheme};
use cpbridge_store::RefundRecord;
use cpbridge_woo::WooError;
use cpbridge_woo::model::{MetaData, Order, OrderWrite};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::Notify;

pub use crate::jobs::PipelineError;
use crate::jobs::Ports;
use crate::jobs::now;
use crate::order_map::{self, IntakeDecision, OrderProblem};
use crate::settings::OrderSettings;

mod apply;
mod dlq;
mod follow;
mod intake;

pub use dlq::DlqOutcome;

/// Watermark of the order poll in the state store.
pub const PULL_WATERMARK: &str = "orders.modified_after";
/// The day cpbridge first ran (the default cut-over), kept in the state store.
pub const CUTOVER_WATERMARK: &str = "orders.since";
/// How far each poll reaches back before its watermark, for clock skew and orders modified while a listing ran.
const PULL_OVERLAP: Duration = Duration::minutes(5);
/// A delivery whose order cannot be fetched this many times is left to the poll.
const DELIVERY_ATTEMPTS: i64 = 10;
/// Orders fetched or written back at the same time (the client bounds requests as well).
const CONCURRENCY: usize = 4;

/// Why one order could not be applied this time.
#[derive(Debug, thiserror::Error)]
enum ApplyFailure {
    #[error(transparent)]
    Problem(#[from] OrderProblem),
    #[error(transparent)]
    Counterpoint(#[from] CpError),
}

/// What happened to one order at intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Taken {
    Staged,
    AlreadyStaged,
    Cancelled,
    /// Cancelled in WooCommerce after it reached Counterpoint: an operator must cancel the document there.
    CancelledTooLate,
    Ignored,
    /// The order no longer exists in WooCommerce.
    Gone,
    /// Staged before, and changed in WooCommerce since (lines, amounts, refunds) or paid again after a
    /// cancellation: staged afresh from the new copy before it was applied.
    Restaged,
    /// Created before the cut-over (`orders.since`).
    BeforeCutover,
    /// Already in Counterpoint, and refunded in WooCommerce since: kept and raised for the shop to book.
    RefundedAfterApply,
}

impl Taken {
    fn label(self) -> &'static str {
        match self {
            Taken::Staged => "staged",
            Taken::AlreadyStaged => "already staged",
            Taken::Cancelled => "cancelled in staging",
            Taken::CancelledTooLate => "cancelled after it was applied",
            Taken::Ignored => "ignored (status not staged)",
            Taken::Gone => "the order no longer exists",
            Taken::Restaged => "restaged from the changed order",
            Taken::BeforeCutover => "ignored (created before orders.since)",
            Taken::RefundedAfterApply => "refunded after it was applied (alert raised)",
        }
    }
}

/// Counts of one intake or pull run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntakeReport {
    pub deliveries: usize,
    pub orders: usize,
    pub staged: usize,
    pub already_staged: usize,
    pub cancelled: usize,
    pub ignored: usize,
    pub gone: usize,
    pub restaged: usize,
    pub before_cutover: usize,
    pub refunded_after_apply: usize,
    /// Deliveries whose order could not be fetched now; they are retried.
    pub deferred: usize,
    /// Deliveries that are not about an order, or carry no id.
    pub skipped: usize,
}

impl IntakeReport {
    fn count(&mut self, taken: Taken) {
        self.orders += 1;
        match taken {
            Taken::Staged => self.staged += 1,
            Taken::AlreadyStaged => self.already_staged += 1,
            Taken::Cancelled | Taken::CancelledTooLate => self.cancelled += 1,
            Taken::Ignored => self.ignored += 1,
            Taken::Gone => self.gone += 1,
            Taken::Restaged => self.restaged += 1,
            Taken::BeforeCutover => self.before_cutover += 1,
            Taken::RefundedAfterApply => self.refunded_after_apply += 1,
        }
    }
}

/// Counts of one processing run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessReport {
    pub claimed: usize,
    pub applied: usize,
    pub already_applied: usize,
    pub failed: usize,
    pub dead: usize,
    /// Orders applied with lines Counterpoint's stock could not cover (an `order_backordered` alert each).
    pub backordered: usize,
    pub claim_lost: usize,
    pub written_back: usize,
    pub writeback_failed: usize,
}

/// Counts of one write-back or follow run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub checked: usize,
    pub synced: usize,
    pub failed: usize,
    /// Follow only: documents that left Counterpoint's open documents with no release cpbridge can find (a note on
    /// the web order and an alert; the web order is left as it is).
    #[serde(skip_serializing_if = "is_zero")]
    pub unknown: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The order pipeline over its ports.
pub struct OrderPipeline {
    pub(crate) ports: Ports,
    pub(crate) settings: OrderSettings,
    staged: Arc<Notify>,
    /// Staging ids whose write-back is running in this process. A write-back slowed by a struggling store can
    /// outlast the lease the sweeper waits; two at once would both find no note and both post one.
    writing_back: Arc<std::sync::Mutex<std::collections::HashSet<StagingId>>>,
    /// `orders.since`, or the day cpbridge first ran, read once from the state store.
    cutover: tokio::sync::OnceCell<NaiveDate>,
}

/// An order as fetched for intake.
enum Fetched {
    /// Readable, with its refund details when it has refunds; the text is what is staged.
    Order(Box<Order>, String),
    /// Not an order cpbridge can read: the body and why.
    Unreadable(String, String),
    /// It no longer exists in WooCommerce.
    Gone,
}

/// This process's hold on one order's write-back; released when dropped.
struct WriteBackHold {
    staging_id: StagingId,
    set: Arc<std::sync::Mutex<std::collections::HashSet<StagingId>>>,
}

impl Drop for WriteBackHold {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.staging_id);
        }
    }
}

impl std::fmt::Debug for OrderPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderPipeline").field("counterpoint", &self.ports.cp.target()).finish_non_exhaustive()
    }
}

fn std_to_chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::hours(1))
}

impl OrderPipeline {
    pub fn new(ports: Ports, settings: OrderSettings) -> Self {
        OrderPipeline {
            ports,
            settings,
            staged: Arc::new(Notify::new()),
            writing_back: Arc::default(),
            cutover: tokio::sync::OnceCell::new(),
        }
    }

    /// Woken whenever an order is staged, so processing can start at once.
    pub fn staged_signal(&self) -> Arc<Notify> {
        self.staged.clone()
    }

    pub fn settings(&self) -> &OrderSettings {
        &self.settings
    }

    pub fn counterpoint(&self) -> &Arc<dyn CounterpointPort> {
        &self.ports.cp
    }

    /// The cut-over: orders created before it are not cpbridge's. `orders.since` when set, else the day cpbridge
    /// first ran, which is kept in the state store at the first call.
    ///
    /// # Errors
    /// When the state store cannot be read or written.
    pub async fn cutover(&self) -> Result<NaiveDate, PipelineError> {
        if let Some(since) = self.settings.since {
            return Ok(since);
        }
        let date = self
            .cutover
            .get_or_try_init(|| async {
                let kept = self.ports.store.watermark(CUTOVER_WATERMARK).await?;
                if let Some(date) = kept.and_then(|text| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()) {
                    return Ok::<_, PipelineError>(date);
                }
                let at = now();
                self.ports
                    .store
                    .set_watermark(CUTOVER_WATERMARK, &at.date().format("%Y-%m-%d").to_string(), at)
                    .await?;
                Ok(at.date())
            })
            .await?;
        Ok(*date)
    }
}
