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

use crate::scheduler::JobName;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use cpbridge_core::staging::{
    ApplyOutcome, ClaimedOrder, DocumentState, NewStagedOrder, StageOutcome, StagedOrder, StagingStatus,
};
use cpbridge_counterpoint::{CounterpointPort, CpError, CustNoScheme};
use cpbridge_store::{RefundRecord, StateStore};
use cpbridge_woo::model::{MetaData, Order, OrderWrite};
use cpbridge_woo::{WooClient, WooError};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::Notify;

use crate::alerts::Alerter;
pub use crate::jobs::PipelineError;
use crate::jobs::now;
use crate::order_map::{self, IntakeDecision, OrderProblem};
use crate::settings::OrderSettings;

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
    pub(crate) cp: Arc<dyn CounterpointPort>,
    pub(crate) woo: WooClient,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) alerts: Alerter,
    pub(crate) settings: OrderSettings,
    staged: Arc<Notify>,
    /// Staging ids whose write-back is running in this process. A write-back slowed by a struggling store can
    /// outlast the lease the sweeper waits; two at once would both find no note and both post one.
    writing_back: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
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
    staging_id: i64,
    set: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
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
        f.debug_struct("OrderPipeline").field("counterpoint", &self.cp.target()).finish_non_exhaustive()
    }
}

/// A WooCommerce order id as `USER_ORDER_STAGING.WOO_ORDER_ID` keeps it.
fn woo_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn std_to_chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::hours(1))
}

impl OrderPipeline {
    pub fn new(
        cp: Arc<dyn CounterpointPort>,
        woo: WooClient,
        store: Arc<dyn StateStore>,
        alerts: Alerter,
        settings: OrderSettings,
    ) -> Self {
        OrderPipeline {
            cp,
            woo,
            store,
            alerts,
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
        &self.cp
    }

    pub fn state_store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    pub(crate) async fn record<T: Serialize>(
        &self,
        job: crate::scheduler::JobName,
        started: NaiveDateTime,
        result: &Result<T, PipelineError>,
    ) {
        crate::jobs::record_run(self.store.as_ref(), &self.alerts, job, started, result).await;
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
                let kept = self.store.watermark(CUTOVER_WATERMARK).await?;
                if let Some(date) = kept.and_then(|text| NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()) {
                    return Ok::<_, PipelineError>(date);
                }
                let at = now();
                self.store.set_watermark(CUTOVER_WATERMARK, &at.date().format("%Y-%m-%d").to_string(), at).await?;
                Ok(at.date())
            })
            .await?;
        Ok(*date)
    }

    /// Stages or cancels one order, as WooCommerce has it now.
    async fn take(&self, order: &Order, raw: &str) -> Result<Taken, PipelineError> {
        match order_map::intake_decision(order, &self.settings, self.cutover().await?) {
            IntakeDecision::Stage => {
                let staged = order_map::staged_order(order, raw.to_owned());
                match self.cp.stage_order(&staged, now()).await? {
                    StageOutcome::Staged { staging_id } => {
                        tracing::info!(woo_order = order.id, staging_id, "staged");
                        // WooCommerce took the order's quantities off its own stock (below 0 where it allows
                        // backorders), so the value last pushed no longer says what the store shows: the next stock
                        // event for these SKUs pushes again, even when Counterpoint's figure ends where it was.
                        let skus: Vec<String> = staged.lines.iter().map(|l| l.sku.clone()).collect();
                        self.store.delete_sync_records(crate::products::STOCK_RECORDS, &skus).await?;
                        self.staged.notify_one();
                        Ok(Taken::Staged)
                    }
                    StageOutcome::AlreadyStaged { staging_id } => self.take_again(staging_id, order, &staged).await,
                }
            }
            IntakeDecision::Cancel => {
                let taken = self.cancel(order.id, order.status.as_str()).await?;
                if taken == Taken::CancelledTooLate
                    && let Some(row) = self.cp.staged_order_by_woo_id(woo_id(order.id)).await?
                {
                    self.note_refunds_after_apply(&row, order).await?;
                }
                Ok(taken)
            }
            IntakeDecision::Ignore => Ok(Taken::Ignored),
            IntakeDecision::BeforeCutover => Ok(Taken::BeforeCutover),
        }
    }

    /// An order that was staged before: restaged when it changed and is not applied yet (so it is never applied
    /// from a stale copy), its new refunds kept and raised when it is applied.
    async fn take_again(
        &self,
        staging_id: i64,
        order: &Order,
        staged: &NewStagedOrder,
    ) -> Result<Taken, PipelineError> {
        let Some(row) = self.cp.staged_order(staging_id).await? else { return Ok(Taken::AlreadyStaged) };
        if matches!(row.status, StagingStatus::Discarded | StagingStatus::Legacy) {
            // An operator ended it, or it is the old system's until an operator adopts it: a later change in
            // WooCommerce does not stage it.
            return Ok(Taken::AlreadyStaged);
        }
        if row.status == StagingStatus::Applied {
            return self.take_applied(&row, order).await;
        }
        let stored = order_map::read_order(&row.raw_order_json).ok();
        let changed = row.status == StagingStatus::Cancelled
            || stored.is_none_or(|s| order_map::booking_view(&s) != order_map::booking_view(order));
        if !changed {
            return Ok(Taken::AlreadyStaged);
        }
        if self.cp.restage_order(staging_id, staged).await? {
            tracing::info!(woo_order = order.id, staging_id, was = %row.status, "restaged: the order changed");
            self.staged.notify_one();
            return Ok(Taken::Restaged);
        }
        // Applied in the meantime: from here on the change is a change to a booked order.
        match self.cp.staged_order(staging_id).await? {
            Some(row) if row.status == StagingStatus::Applied => self.take_applied(&row, order).await,
            _ => Ok(Taken::AlreadyStaged),
        }
    }

    /// A booked order seen again: only its new refunds matter.
    async fn take_applied(&self, row: &StagedOrder, order: &Order) -> Result<Taken, PipelineError> {
        let kept = self.note_refunds_after_apply(row, order).await?;
        Ok(if kept > 0 { Taken::RefundedAfterApply } else { Taken::AlreadyStaged })
    }

    /// Keeps each refund of an applied order that was not kept before, and raises it: Counterpoint's document still
    /// holds the full order, and only the shop can book the return there. Returns how many were new.
    async fn note_refunds_after_apply(&self, row: &StagedOrder, order: &Order) -> Result<usize, PipelineError> {
        // The refunds made before apply were booked (net); only the later ones are the shop's to book.
        let booked: Vec<u64> = order_map::read_order(&row.raw_order_json)
            .map(|stored| stored.refunds.iter().map(|r| r.id).collect())
            .unwrap_or_default();
        let mut new = 0;
        for refund in order.refund_details.iter().filter(|r| !booked.contains(&r.id)) {
            let record = RefundRecord {
                woo_order_id: row.woo_order_id,
                woo_order_no: row.woo_order_no.clone(),
                refund_id: i64::try_from(refund.id).unwrap_or(i64::MAX),
                amount: refund.amount.unwrap_or_default().to_string(),
                reason: refund.reason.clone(),
                lines: order_map::refund_lines_text(order, refund),
                cp_doc_id: row.cp_doc_id,
                cp_tkt_no: row.cp_tkt_no.clone(),
                recorded_at: now(),
            };
            if !self.store.record_refund(&record).await? {
                continue;
            }
            new += 1;
            let subject = format!("WooCommerce order {} refund {}", row.woo_order_no, refund.id);
            let lines = if record.lines.is_empty() { "an amount only".to_owned() } else { record.lines.clone() };
            let message = format!(
                "{} refunded in WooCommerce ({lines}{}) after the order was booked as Counterpoint order DOC_ID {} \
                 (ticket {}). Counterpoint still holds the full order and its deposit: book the return there (lower \
                 the order's lines and deposit, or return the items on the release ticket).",
                record.amount,
                if record.reason.is_empty() { String::new() } else { format!("; reason: {}", record.reason) },
                row.cp_doc_id.map_or_else(|| "?".to_owned(), |d| d.to_string()),
                row.cp_tkt_no.as_deref().unwrap_or("?"),
            );
            tracing::warn!(woo_order = row.woo_order_id, refund = refund.id, "{message}");
            self.alerts.raise("refund_after_apply", &subject, &message).await;
        }
        Ok(new)
    }

    async fn cancel(&self, woo_order_id: u64, why: &str) -> Result<Taken, PipelineError> {
        let id = woo_id(woo_order_id);
        let reason = format!("the order is {why} in WooCommerce");
        if self.cp.cancel_staged_order(id, &reason).await? {
            tracing::info!(woo_order = woo_order_id, "taken out of staging: {reason}");
            return Ok(Taken::Cancelled);
        }
        match self.cp.staged_order_by_woo_id(id).await? {
            Some(row) if row.status == StagingStatus::Applied && row.cp_doc_state.is_none() => {
                let doc = row.cp_doc_id.map_or_else(String::new, |d| format!(" DOC_ID {d}"));
                let message = format!(
                    "{reason}, but it is already Counterpoint order{doc} (ticket {}); cancel it in Counterpoint",
                    row.cp_tkt_no.as_deref().unwrap_or("?")
                );
                // Every poll sees the order again: it is counted (and alerted) the first time only.
                let subject = format!("WooCommerce order {woo_order_id}");
                let first = self.alerts.raise_once("cancelled_after_apply", &subject, &message).await;
                Ok(if first { Taken::CancelledTooLate } else { Taken::Ignored })
            }
            Some(_) | None => Ok(Taken::Ignored),
        }
    }

    /// Fetches one order, with the details of its refunds when it has any (the order shows only their totals).
    async fn fetch_order(&self, woo_order_id: u64) -> Result<Fetched, PipelineError> {
        match self.woo.get::<Box<RawValue>>(&format!("/orders/{woo_order_id}"), &[]).await {
            Ok(raw) => self.with_refund_details(woo_order_id, raw.get().to_owned()).await,
            Err(e) if e.is_not_found() => Ok(Fetched::Gone),
            Err(e) => Err(e.into()),
        }
    }

    async fn with_refund_details(&self, woo_order_id: u64, raw: String) -> Result<Fetched, PipelineError> {
        let order = match order_map::read_order(&raw) {
            Ok(order) => order,
            Err(e) => return Ok(Fetched::Unreadable(raw, e)),
        };
        if order.refunds.is_empty() {
            return Ok(Fetched::Order(Box::new(order), raw));
        }
        let refunds: Vec<serde_json::Value> =
            self.woo.list(&format!("/orders/{woo_order_id}/refunds"), Vec::new()).try_collect().await?;
        let raw = order_map::with_refund_details(&raw, refunds);
        Ok(match order_map::read_order(&raw) {
            Ok(order) => Fetched::Order(Box::new(order), raw),
            Err(e) => Fetched::Unreadable(raw, e),
        })
    }

    /// Fetches one order fresh and stages or cancels it.
    ///
    /// # Errors
    /// When WooCommerce or Counterpoint cannot be reached; the caller retries.
    pub async fn take_order(&self, woo_order_id: u64) -> Result<Taken, PipelineError> {
        let fetched = self.fetch_order(woo_order_id).await?;
        self.take_fetched(woo_order_id, fetched).await
    }

    async fn take_fetched(&self, woo_order_id: u64, fetched: Fetched) -> Result<Taken, PipelineError> {
        match fetched {
            Fetched::Order(order, raw) => self.take(&order, &raw).await,
            Fetched::Gone => {
                self.cancel(woo_order_id, "deleted").await?;
                Ok(Taken::Gone)
            }
            Fetched::Unreadable(raw, e) => {
                // Kept, not dropped: staged as it is, it goes DEAD with the parse error for an operator to see.
                tracing::warn!(woo_order = woo_order_id, error = %e, "WooCommerce sent an order cpbridge cannot read");
                let staged = order_map::unreadable_staged_order(woo_id(woo_order_id), raw);
                Ok(match self.cp.stage_order(&staged, now()).await? {
                    StageOutcome::Staged { .. } => {
                        self.staged.notify_one();
                        Taken::Staged
                    }
                    StageOutcome::AlreadyStaged { .. } => Taken::AlreadyStaged,
                })
            }
        }
    }

    /// Works through the due webhook deliveries once.
    ///
    /// # Errors
    /// When the state store fails; an unreachable WooCommerce or Counterpoint only defers deliveries.
    pub async fn intake_once(&self) -> Result<IntakeReport, PipelineError> {
        let started = now();
        let result = self.intake_inner(started).await;
        if !matches!(&result, Ok(r) if r.deliveries == 0) {
            self.record(JobName::OrdersIntake, started, &result).await;
        }
        result
    }

    async fn intake_inner(&self, at: NaiveDateTime) -> Result<IntakeReport, PipelineError> {
        let due = self.store.due_deliveries(at, 500).await?;
        let mut report = IntakeReport { deliveries: due.len(), ..IntakeReport::default() };
        // Coalesce: many deliveries about one order need one fetch.
        let mut by_order: BTreeMap<u64, Vec<(i64, i64)>> = BTreeMap::new();
        let mut skipped = Vec::new();
        for entry in &due {
            let id = entry.delivery.resource_id.and_then(|id| u64::try_from(id).ok()).filter(|id| *id > 0);
            match id {
                Some(id) if entry.delivery.topic.starts_with("order.") => {
                    by_order.entry(id).or_default().push((entry.inbox_id, entry.attempts));
                }
                _ => skipped.push(entry.inbox_id),
            }
        }
        if !skipped.is_empty() {
            report.skipped = skipped.len();
            self.store.finish_deliveries(&skipped, "skipped: not about an order, or no id", at).await?;
        }
        let results: Vec<(u64, Result<Taken, PipelineError>)> = futures_util::stream::iter(by_order.keys().copied())
            .map(|id| async move { (id, self.take_order(id).await) })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (id, result) in results {
            let entries = by_order.remove(&id).unwrap_or_default();
            let ids: Vec<i64> = entries.iter().map(|(inbox_id, _)| *inbox_id).collect();
            match result {
                Ok(taken) => {
                    report.count(taken);
                    self.store.finish_deliveries(&ids, taken.label(), now()).await?;
                }
                Err(e) => {
                    tracing::warn!(woo_order = id, error = %e, "order deferred");
                    for (inbox_id, attempts) in entries {
                        if attempts + 1 >= DELIVERY_ATTEMPTS {
                            let outcome = format!("gave up, left to the poll: {e}");
                            self.store.finish_deliveries(&[inbox_id], &outcome, now()).await?;
                        } else {
                            let retry_at = now() + std_to_chrono(self.settings.woo_retry.delay(attempts + 1));
                            self.store.retry_delivery(inbox_id, &e.to_string(), retry_at).await?;
                        }
                        report.deferred += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Lists the orders modified since the last poll and stages or cancels each (`cpbridge orders pull`).
    ///
    /// # Errors
    /// When WooCommerce, Counterpoint or the state store fails; the watermark then stays, so nothing is skipped.
    pub async fn pull_once(&self) -> Result<IntakeReport, PipelineError> {
        let started = now();
        let result = self.pull_inner().await;
        self.record(JobName::OrdersPull, started, &result).await;
        result
    }

    async fn pull_inner(&self) -> Result<IntakeReport, PipelineError> {
        // The first poll reaches back to the cut-over, so that orders taken while cpbridge was being set up count.
        let cutover = self.cutover().await?.and_time(chrono::NaiveTime::MIN);
        let since = match self.store.watermark(PULL_WATERMARK).await? {
            Some(text) => NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S").unwrap_or(cutover),
            None => cutover,
        };
        let query = vec![
            ("modified_after".to_owned(), (since - PULL_OVERLAP).format("%Y-%m-%dT%H:%M:%S").to_string()),
            ("dates_are_gmt".to_owned(), "true".to_owned()),
            // By id, so an order modified while the listing runs cannot shift another out of the page window.
            ("orderby".to_owned(), "id".to_owned()),
            ("order".to_owned(), "asc".to_owned()),
        ];
        let mut listing = self.woo.list::<Box<RawValue>>("/orders", query);
        let mut report = IntakeReport::default();
        let mut newest = since;
        while let Some(raw) = listing.try_next().await? {
            let head: serde_json::Value = serde_json::from_str(raw.get()).unwrap_or_default();
            let Some(id) = head.get("id").and_then(serde_json::Value::as_u64) else {
                report.skipped += 1;
                continue;
            };
            if let Some(modified) = head
                .get("date_modified_gmt")
                .and_then(|v| v.as_str())
                .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok())
            {
                newest = newest.max(modified);
            }
            let fetched = self.with_refund_details(id, raw.get().to_owned()).await?;
            let taken = self.take_fetched(id, fetched).await?;
            report.count(taken);
        }
        self.store.set_watermark(PULL_WATERMARK, &newest.format("%Y-%m-%dT%H:%M:%S").to_string(), now()).await?;
        Ok(report)
    }

    /// Claims due staged orders once and applies them (`cpbridge orders process`).
    ///
    /// # Errors
    /// When Counterpoint cannot be reached at all; each order's own failure is stored on its row instead.
    pub async fn process_once(self: &Arc<Self>) -> Result<ProcessReport, PipelineError> {
        let started = now();
        let result = self.process_inner(started).await;
        if !matches!(&result, Ok(r) if r.claimed == 0) {
            self.record(JobName::OrdersProcess, started, &result).await;
        }
        result
    }

    async fn process_inner(self: &Arc<Self>, at: NaiveDateTime) -> Result<ProcessReport, PipelineError> {
        let lease = Duration::seconds(self.settings.lease_secs);
        let claims = self.cp.claim_staged_orders(at, lease, self.settings.batch_size).await?;
        let mut report = ProcessReport { claimed: claims.len(), ..ProcessReport::default() };
        let mut writebacks = tokio::task::JoinSet::new();
        for claim in claims {
            match self.apply_claim(&claim).await? {
                Attempt::Applied { doc_id, tkt_no, backordered } => {
                    report.applied += 1;
                    report.backordered += usize::from(backordered);
                    let mut order = claim.order;
                    order.status = StagingStatus::Applied;
                    order.cp_doc_id = Some(doc_id);
                    order.cp_tkt_no = Some(tkt_no);
                    let pipeline = Arc::clone(self);
                    writebacks.spawn(async move { pipeline.write_back(&order).await });
                    // Bound the write-backs in flight; the client's own limit keeps WooCommerce calm as well.
                    while writebacks.len() >= CONCURRENCY * 2 {
                        count_writeback(&mut report, writebacks.join_next().await);
                    }
                }
                Attempt::AlreadyApplied => report.already_applied += 1,
                Attempt::ClaimLost => report.claim_lost += 1,
                Attempt::Failed => report.failed += 1,
                Attempt::Dead => report.dead += 1,
            }
        }
        while let Some(done) = writebacks.join_next().await {
            count_writeback(&mut report, Some(done));
        }
        Ok(report)
    }
}

/// How one claimed order ended this time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    Applied {
        doc_id: i64,
        tkt_no: String,
        backordered: bool,
    },
    AlreadyApplied,
    ClaimLost,
    /// Stored as `FAILED`, to be retried.
    Failed,
    /// Stored as `DEAD`, and an alert went out.
    Dead,
}

fn count_writeback(report: &mut ProcessReport, done: Option<Result<bool, tokio::task::JoinError>>) {
    match done {
        Some(Ok(true)) => report.written_back += 1,
        Some(_) => report.writeback_failed += 1,
        None => {}
    }
}

impl OrderPipeline {
    /// Maps and applies one claimed order, storing any failure on its row.
    async fn apply_claim(&self, claim: &ClaimedOrder) -> Result<Attempt, PipelineError> {
        let staged = &claim.order;
        let failure = match self.prepare(staged).await {
            Ok(doc) => match self.cp.apply_staged_order(claim, &doc, now()).await {
                Ok(ApplyOutcome::Applied { doc_id, tkt_no, backordered }) => {
                    tracing::info!(woo_order = staged.woo_order_id, doc_id, tkt_no, "applied");
                    if !backordered.is_empty() {
                        // Sold on the web beyond what Counterpoint had: someone must order stock or call the customer.
                        let lines: Vec<String> =
                            backordered.iter().map(|(item, qty)| format!("{} of {item}", qty.normalize())).collect();
                        let subject = format!("WooCommerce order {}", staged.woo_order_no);
                        let message = format!(
                            "booked as {tkt_no} (DOC_ID {doc_id}), but Counterpoint's stock does not cover {}: \
                             backordered",
                            lines.join(", ")
                        );
                        self.alerts.raise_once("order_backordered", &subject, &message).await;
                    }
                    return Ok(Attempt::Applied { doc_id, tkt_no, backordered: !backordered.is_empty() });
                }
                Ok(ApplyOutcome::AlreadyApplied { .. }) => return Ok(Attempt::AlreadyApplied),
                Ok(ApplyOutcome::ClaimLost) => return Ok(Attempt::ClaimLost),
                Err(e) => ApplyFailure::Counterpoint(e),
            },
            Err(e) => e,
        };
        let reason = failure.to_string();
        let permanent = matches!(&failure, ApplyFailure::Problem(p) if p.is_permanent());
        let dead = permanent || staged.attempts >= self.settings.max_attempts;
        let retry_at = (!dead).then(|| now() + std_to_chrono(self.settings.retry.delay(staged.attempts)));
        tracing::warn!(woo_order = staged.woo_order_id, attempt = staged.attempts, dead, "{reason}");
        if !self.cp.fail_staged_order(claim, &reason, retry_at).await? {
            return Ok(Attempt::ClaimLost);
        }
        if dead {
            let subject = format!("WooCommerce order {} (staging {})", staged.woo_order_no, staged.staging_id);
            let message = if permanent {
                format!(
                    "dead at once, because retrying cannot help: {reason}. Correct the order in WooCommerce, then run \
                     `cpbridge dlq retry {}`.",
                    staged.staging_id
                )
            } else {
                format!(
                    "dead after {} attempts: {reason}. Fix the cause, then run `cpbridge dlq retry {}`.",
                    staged.attempts, staged.staging_id
                )
            };
            self.alerts.raise("order_dead", &subject, &message).await;
            return Ok(Attempt::Dead);
        }
        Ok(Attempt::Failed)
    }

    /// Everything before the transaction: read the order, find the customer and the items, build the document.
    async fn prepare(&self, staged: &StagedOrder) -> Result<cpbridge_core::order::OrderDocument, ApplyFailure> {
        let order = order_map::read_order(&staged.raw_order_json)
            .map_err(|detail| OrderProblem::Unreadable { order: format!("#{}", staged.woo_order_no), detail })?;
        let cust_no = self.resolve_customer(&order).await?;
        let skus = order_map::skus(&order);
        let mut items: HashMap<String, _> =
            self.cp.items_by_no(&skus).await?.into_iter().map(|item| (item.item_no.clone(), item)).collect();
        // A SKU that is no item may be a variation: `ITEM_NO-DIM1-DIM2` of a gridded item, found among the cells it
        // has at the fulfilment location.
        let unknown: Vec<&String> = skus.iter().filter(|s| !items.contains_key(*s)).collect();
        let mut cells = HashMap::new();
        if !unknown.is_empty() {
            let mut parents: Vec<String> =
                unknown.iter().flat_map(|sku| sku.match_indices('-').map(|(at, _)| sku[..at].to_owned())).collect();
            parents.sort();
            parents.dedup();
            let grids: Vec<_> = self
                .cp
                .items_by_no(&parents)
                .await?
                .into_iter()
                .filter(|i| i.trk_meth.as_deref() == Some("G"))
                .collect();
            if !grids.is_empty() {
                let grid_nos: Vec<String> = grids.iter().map(|i| i.item_no.clone()).collect();
                let location = std::slice::from_ref(&self.settings.fulfilment_location);
                for level in self.cp.cell_levels(&grid_nos, location).await? {
                    let sku = crate::product_map::variation_sku(&level.item_no, &level.dims);
                    if unknown.iter().any(|u| **u == sku)
                        && let Some(item) = grids.iter().find(|i| i.item_no == level.item_no)
                    {
                        items.insert(sku.clone(), item.clone());
                        cells.insert(sku, level.dims.clone());
                    }
                }
            }
            // Or a cell's barcode (`products.variation_sku = "barcode"`); a missing cell row at the fulfilment
            // location is then the document's clear reason.
            let still: Vec<String> =
                unknown.iter().filter(|s| !items.contains_key(**s)).map(|s| (*s).clone()).collect();
            if !still.is_empty() {
                let barcodes = self.cp.cells_by_barcode(&still).await?;
                let mut grid_nos: Vec<String> = barcodes.iter().map(|b| b.item_no.clone()).collect();
                grid_nos.sort();
                grid_nos.dedup();
                let grids: HashMap<String, _> = self
                    .cp
                    .items_by_no(&grid_nos)
                    .await?
                    .into_iter()
                    .filter(|i| i.trk_meth.as_deref() == Some("G"))
                    .map(|i| (i.item_no.clone(), i))
                    .collect();
                for barcode in barcodes {
                    if let Some(item) = grids.get(&barcode.item_no)
                        && !items.contains_key(&barcode.barcode)
                    {
                        items.insert(barcode.barcode.clone(), item.clone());
                        cells.insert(barcode.barcode, barcode.dims);
                    }
                }
            }
        }
        Ok(order_map::build_document_with_cells(&order, &cust_no, &items, &cells, &self.settings)?)
    }

    /// The Counterpoint customer of an order: the guest customer for guests; for a registered customer, the
    /// `AR_CUST` row with the same e-mail, created when there is none.
    async fn resolve_customer(&self, order: &Order) -> Result<String, ApplyFailure> {
        let label = order_map::order_label(order);
        if order.customer_id == 0 {
            let guest = &self.settings.guest_customer;
            return match self.cp.customer(guest).await? {
                Some(_) => Ok(guest.clone()),
                None => Err(OrderProblem::Customer {
                    order: label,
                    detail: format!(
                        "the guest customer {guest:?} (orders.guest_customer) is not in AR_CUST; create it in \
                         Counterpoint or change the setting"
                    ),
                }
                .into()),
            };
        }
        let Some(email) = order_map::customer_email(order) else {
            return Err(OrderProblem::Customer {
                order: label,
                detail: format!("customer {} has no billing e-mail to match in AR_CUST", order.customer_id),
            }
            .into());
        };
        let scheme =
            CustNoScheme { prefix: self.settings.customer_prefix.clone(), width: self.settings.customer_digits };
        let customer = order_map::new_customer(order, &self.settings);
        let ship_to = order_map::ship_address(order);
        let found =
            crate::customers::find_or_create(self.cp.as_ref(), &email, &customer, ship_to.as_ref(), &scheme, now())
                .await;
        let (cust_no, _created) = found.map_err(|e| {
            if e.is_retryable() {
                return ApplyFailure::Counterpoint(e);
            }
            ApplyFailure::Problem(OrderProblem::Customer {
                order: label.clone(),
                detail: format!("creating AR_CUST for {email}: {e}"),
            })
        })?;
        Ok(cust_no)
    }

    /// Puts the Counterpoint numbers on the WooCommerce order: meta and status first (idempotent), then the note,
    /// unless an earlier attempt already posted it. Returns whether it is done; a failure is stored on the row.
    pub async fn write_back(&self, staged: &StagedOrder) -> bool {
        let Some(_hold) = self.hold_writeback(staged.staging_id) else {
            tracing::debug!(staging_id = staged.staging_id, "write-back already running");
            return false;
        };
        let (Some(doc_id), Some(tkt_no)) = (staged.cp_doc_id, staged.cp_tkt_no.as_deref()) else {
            tracing::error!(
                staging_id = staged.staging_id,
                "APPLIED without CP_DOC_ID or CP_TKT_NO; nothing to write back"
            );
            return false;
        };
        let woo_id = u64::try_from(staged.woo_order_id).unwrap_or_default();
        let note = order_map::applied_note(doc_id, tkt_no);
        let result: Result<(), WooError> = async {
            // A completed order stays completed: moving it back to `applied_status` would reopen a finished sale.
            // The staged copy may be older than a completion, so the status is read now.
            let status = match &self.settings.applied_status {
                Some(target) => {
                    let current = self.woo.order(woo_id).await?.status;
                    (!order_map::is_finished_in_store(&current) && current.as_str() != target).then(|| target.clone())
                }
                None => None,
            };
            let write = OrderWrite {
                status,
                meta_data: Some(vec![
                    MetaData::new("_cp_doc_id", doc_id.to_string()),
                    MetaData::new("_cp_tkt_no", tkt_no),
                ]),
                ..OrderWrite::default()
            };
            self.woo.update_order(woo_id, &write).await?;
            let notes = self.woo.order_notes(woo_id).await?;
            if !notes.iter().any(|n| n.note.contains(&note)) {
                self.woo.add_order_note(woo_id, &note, false).await?;
            }
            Ok(())
        }
        .await;
        let at = now();
        let outcome = match result {
            Ok(()) => self.cp.mark_woo_synced(staged.staging_id, at).await.map(|()| true),
            Err(e) if e.is_not_found() => {
                let subject = format!("WooCommerce order {}", staged.woo_order_no);
                let message = format!("it no longer exists in WooCommerce; Counterpoint order {doc_id} stays");
                self.alerts.raise("writeback_gone", &subject, &message).await;
                self.cp.mark_woo_synced(staged.staging_id, at).await.map(|()| true)
            }
            Err(e) => {
                let attempt = staged.woo_sync_attempts + 1;
                let retry_at = at + std_to_chrono(self.settings.woo_retry.delay(attempt));
                let reason = format!("writing Counterpoint order {doc_id} back to WooCommerce order {woo_id}: {e}");
                tracing::warn!(woo_order = woo_id, attempt, "{reason}");
                if attempt == self.settings.max_attempts {
                    let subject = format!("WooCommerce order {}", staged.woo_order_no);
                    self.alerts.raise("writeback_failing", &subject, &reason).await;
                }
                self.cp.fail_writeback(staged.staging_id, &reason, retry_at).await.map(|()| false)
            }
        };
        outcome.unwrap_or_else(|e| {
            tracing::error!(staging_id = staged.staging_id, error = %e, "the write-back outcome could not be stored");
            false
        })
    }

    fn hold_writeback(&self, staging_id: i64) -> Option<WriteBackHold> {
        let mut set = self.writing_back.lock().ok()?;
        set.insert(staging_id).then(|| WriteBackHold { staging_id, set: self.writing_back.clone() })
    }

    fn writeback_running(&self, staging_id: i64) -> bool {
        self.writing_back.lock().map(|set| set.contains(&staging_id)).unwrap_or(false)
    }

    /// Retries the write-backs that are due.
    ///
    /// # Errors
    /// When Counterpoint cannot be read.
    pub async fn writeback_once(&self) -> Result<SyncReport, PipelineError> {
        let started = now();
        let result = async {
            let mut due = self.cp.writebacks_due(started, 200).await?;
            due.retain(|order| !self.writeback_running(order.staging_id));
            let done: Vec<bool> = futures_util::stream::iter(due)
                .map(|order| async move { self.write_back(&order).await })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let synced = done.iter().filter(|ok| **ok).count();
            Ok(SyncReport { checked: done.len(), synced, failed: done.len() - synced, unknown: 0 })
        }
        .await;
        if !matches!(&result, Ok(r) if r.checked == 0) {
            self.record(JobName::OrdersWriteback, started, &result).await;
        }
        result
    }

    /// Moves WooCommerce orders along once their Counterpoint documents are released or closed; a document that left
    /// without a release cpbridge can find gets a note and an alert, never a cancellation.
    ///
    /// # Errors
    /// When Counterpoint cannot be read; a WooCommerce failure leaves that order for the next run.
    pub async fn follow_once(&self) -> Result<SyncReport, PipelineError> {
        let started = now();
        let result = self.follow_inner().await;
        self.record(JobName::OrdersStatus, started, &result).await;
        result
    }

    async fn follow_inner(&self) -> Result<SyncReport, PipelineError> {
        let mut report = SyncReport::default();
        let mut after = 0;
        loop {
            let page = self.cp.open_applied_orders(after, 200).await?;
            let Some(last) = page.last() else { break };
            after = last.staging_id;
            for staged in &page {
                let (Some(doc_id), Some(tkt_no)) = (staged.cp_doc_id, staged.cp_tkt_no.as_deref()) else { continue };
                report.checked += 1;
                let state = self.cp.document_state(doc_id, tkt_no).await?;
                let Some(label) = state.final_label() else { continue };
                let woo_id = u64::try_from(staged.woo_order_id).unwrap_or_default();
                let current = match self.woo.order(woo_id).await {
                    Ok(order) => Some(order.status),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => {
                        tracing::warn!(woo_order = woo_id, error = %e, "status not read; next run tries again");
                        report.failed += 1;
                        continue;
                    }
                };
                if state == DocumentState::Unknown {
                    // Counterpoint has no positive "cancelled": a release numbered another way would look the same,
                    // and cancelling the web order would refund and e-mail a customer whose goods are on the way.
                    let message = format!(
                        "Counterpoint order {tkt_no} (DOC_ID {doc_id}) left the open documents, and cpbridge finds \
                         no release ticket for it (by number or by line) and no closed order; check it in \
                         Counterpoint and set this order's status by hand"
                    );
                    if current.is_some() {
                        match self.woo.add_order_note(woo_id, &format!("cpbridge: {message}."), false).await {
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(woo_order = woo_id, error = %e, "note not added; next run tries again");
                                report.failed += 1;
                                continue;
                            }
                        }
                    }
                    let subject = format!("WooCommerce order {}", staged.woo_order_no);
                    self.alerts.raise("order_fate_unknown", &subject, &message).await;
                    self.cp.set_doc_state(staged.staging_id, label).await?;
                    report.unknown += 1;
                    continue;
                }
                if current.as_ref().is_some_and(order_map::is_finished_in_store) {
                    // WooCommerce finished it before Counterpoint did (cash on delivery, virtual, staff): leave it.
                    self.cp.set_doc_state(staged.staging_id, label).await?;
                    continue;
                }
                let status = &self.settings.fulfilled_status;
                let write = OrderWrite { status: Some(status.clone()), ..OrderWrite::default() };
                match self.woo.update_order(woo_id, &write).await {
                    Ok(_) => {
                        self.cp.set_doc_state(staged.staging_id, label).await?;
                        tracing::info!(woo_order = woo_id, doc_id, status, "status followed Counterpoint");
                        report.synced += 1;
                    }
                    Err(e) if e.is_not_found() => {
                        self.cp.set_doc_state(staged.staging_id, label).await?;
                    }
                    Err(e) => {
                        tracing::warn!(woo_order = woo_id, error = %e, "status not updated; next run tries again");
                        report.failed += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Puts a `DEAD` or `FAILED` order back in the queue after an operator fixed the cause, or adopts a `LEGACY`
    /// one (the old system's, which cpbridge never booked) after an operator checked it. The order is fetched
    /// fresh from WooCommerce first, so a fix made there (a SKU, an address) is used; when WooCommerce cannot be
    /// reached, the stored copy is used.
    ///
    /// # Errors
    /// When Counterpoint cannot be reached.
    pub async fn requeue(&self, staging_id: i64) -> Result<DlqOutcome, PipelineError> {
        let Some(row) = self.cp.staged_order(staging_id).await? else { return Ok(DlqOutcome::Unknown) };
        if !matches!(row.status, StagingStatus::Dead | StagingStatus::Failed | StagingStatus::Legacy) {
            return Ok(DlqOutcome::WrongStatus(row.status));
        }
        let woo_id = u64::try_from(row.woo_order_id).unwrap_or_default();
        let fresh = match self.fetch_order(woo_id).await {
            Ok(Fetched::Order(order, raw)) => Some(order_map::staged_order(&order, raw)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(woo_order = woo_id, error = %e, "requeued with the stored copy of the order");
                None
            }
        };
        let done = match fresh {
            Some(staged) => self.cp.restage_order(staging_id, &staged).await?,
            None => self.cp.requeue_staged_order(staging_id).await?,
        };
        if done {
            self.staged.notify_one();
            Ok(DlqOutcome::Done)
        } else {
            Ok(DlqOutcome::WrongStatus(row.status))
        }
    }
}

impl OrderPipeline {
    /// Ends a `DEAD` or `FAILED` order for good (`cpbridge dlq discard`): it is never applied, never staged again,
    /// and stops holding stock at once. One alert records who decided what.
    ///
    /// # Errors
    /// When Counterpoint cannot be reached.
    pub async fn discard(&self, staging_id: i64, reason: &str) -> Result<DlqOutcome, PipelineError> {
        let Some(row) = self.cp.staged_order(staging_id).await? else { return Ok(DlqOutcome::Unknown) };
        let why = if reason.trim().is_empty() { "discarded by an operator" } else { reason.trim() };
        if !self.cp.discard_staged_order(staging_id, &format!("discarded: {why}")).await? {
            return Ok(DlqOutcome::WrongStatus(row.status));
        }
        let subject = format!("WooCommerce order {} (staging {staging_id})", row.woo_order_no);
        let message = format!(
            "discarded ({why}); it will not be booked in Counterpoint, and its stock is free for the web again. Its \
             last reason was: {}",
            row.last_err.as_deref().unwrap_or("none")
        );
        self.alerts.raise("order_discarded", &subject, &message).await;
        Ok(DlqOutcome::Done)
    }
}

/// The result of [`OrderPipeline::requeue`] and [`OrderPipeline::discard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlqOutcome {
    /// Requeued, adopted or discarded.
    Done,
    /// No staging row has that id.
    Unknown,
    /// The row is in a status the operation does not take; nothing changed.
    WrongStatus(StagingStatus),
}
