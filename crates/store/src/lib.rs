//! cpbridge's own state, kept apart from Counterpoint's database: the webhook inbox, watermarks, job runs, alerts,
//! and what each outbound sync last pushed.
//!
//! The inbox is what lets `POST /webhooks/woocommerce` answer 200 within milliseconds without losing anything: the
//! raw body is committed here first, and the intake job works through it afterwards, surviving a crash in between.
//! SQLite (one file, WAL) is the embedded default; the [`StateStore`] trait is what a PostgreSQL store would
//! implement for several workers.

mod sqlite;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use cpbridge_core::WooOrderId;
use serde::{Deserialize, Serialize};

pub use sqlite::SqliteStore;

/// An error of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store file cannot be opened or created.
    #[error("cannot open the state store at {path}: {detail}")]
    Open { path: String, detail: String },
    /// A statement failed.
    #[error("state store error while {context}: {source}")]
    Sql {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A webhook delivery as it arrived, before anything was done with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDelivery {
    /// `X-WC-Webhook-Topic`, e.g. `order.created`.
    pub topic: String,
    pub webhook_id: Option<u64>,
    /// `X-WC-Webhook-Delivery-ID`; WooCommerce reuses it when it retries a delivery.
    pub delivery_id: Option<String>,
    /// The `id` in the body, when the body has one.
    pub resource_id: Option<i64>,
    pub body: Vec<u8>,
    pub received_at: NaiveDateTime,
}

/// A delivery in the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    pub inbox_id: i64,
    pub delivery: NewDelivery,
    pub attempts: i64,
    pub last_err: Option<String>,
    pub processed_at: Option<NaiveDateTime>,
    /// What intake did with it ("staged", "cancelled", "ignored: status pending", "unreadable: ...").
    pub outcome: Option<String>,
}

/// One run of a job, as the status page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    pub job: String,
    pub started_at: NaiveDateTime,
    pub ended_at: NaiveDateTime,
    /// `ok`, `partial` (some records failed) or `failed`.
    pub outcome: String,
    /// Named counts (`staged`, `applied`, `failed`, ...).
    pub counts: serde_json::Map<String, serde_json::Value>,
    pub error: Option<String>,
}

/// An alert that went (or is going) out to an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub alert_id: i64,
    pub at: NaiveDateTime,
    /// What kind of trouble: `order_dead`, `counterpoint_down`, `woocommerce_down`, `writeback_failing`.
    pub kind: String,
    /// The record it is about ("WooCommerce order 1234").
    pub subject: String,
    pub message: String,
    pub delivered_at: Option<NaiveDateTime>,
    pub delivery_err: Option<String>,
}

/// What cpbridge last pushed of one record to WooCommerce, so that a sync sends only what changed.
///
/// `kind` names the family (`product`, `stock`, `category`, `customer`), `key` the Counterpoint record (a SKU, a
/// category code, a `CUST_NO`), and `hash` a digest of exactly the fields that were sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    pub key: String,
    pub woo_id: Option<u64>,
    /// As stored; read it through [`SyncRecord::state`].
    pub hash: String,
}

/// What a sync record says about its WooCommerce record, read from its stored `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState<'a> {
    /// Linked to a WooCommerce record made elsewhere (adopted or matched), nothing sent yet: the next sync sends
    /// every owned field.
    Linked,
    /// Left the web: set to the retired status (a product) or private (a variation), never deleted.
    Retired,
    /// A variable product's parent, with the digest of what was sent; its stock is its variations'.
    Variable(&'a str),
    /// The digest of what was sent (for a stock record, the quantity).
    Sent(&'a str),
}

impl SyncRecord {
    const RETIRED: &'static str = "retired";
    const VARIABLE_PREFIX: &'static str = "variable:";

    /// A record linked to an existing WooCommerce record, nothing sent yet.
    pub fn linked(key: impl Into<String>, woo_id: u64) -> Self {
        SyncRecord { key: key.into(), woo_id: Some(woo_id), hash: String::new() }
    }

    /// A record whose WooCommerce record was retired.
    pub fn retired(key: impl Into<String>, woo_id: u64) -> Self {
        SyncRecord { key: key.into(), woo_id: Some(woo_id), hash: Self::RETIRED.to_owned() }
    }

    /// What was sent: a digest, or a stock quantity.
    pub fn sent(key: impl Into<String>, woo_id: Option<u64>, digest: impl Into<String>) -> Self {
        SyncRecord { key: key.into(), woo_id, hash: digest.into() }
    }

    /// The stored form of a variable parent's digest.
    pub fn variable_digest(digest: &str) -> String {
        format!("{}{digest}", Self::VARIABLE_PREFIX)
    }

    pub fn state(&self) -> SyncState<'_> {
        match self.hash.as_str() {
            "" => SyncState::Linked,
            Self::RETIRED => SyncState::Retired,
            h => match h.strip_prefix(Self::VARIABLE_PREFIX) {
                Some(digest) => SyncState::Variable(digest),
                None => SyncState::Sent(h),
            },
        }
    }

    pub fn is_retired(&self) -> bool {
        self.state() == SyncState::Retired
    }
}

/// A refund that WooCommerce made after its order was booked in Counterpoint. Kept so that it is raised once and
/// listed on the status page: Counterpoint's document does not change by itself, and the shop must act there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub woo_order_id: WooOrderId,
    pub woo_order_no: String,
    pub refund_id: i64,
    /// The amount refunded, as WooCommerce wrote it (`12.00`).
    pub amount: String,
    pub reason: String,
    /// The refunded lines, for people: `1 x CAP-MUG-1 (restocked)`; empty for a refund of an amount only.
    pub lines: String,
    pub cp_doc_id: Option<i64>,
    pub cp_tkt_no: Option<String>,
    pub recorded_at: NaiveDateTime,
}

/// cpbridge's state.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Where the store is, for messages.
    fn target(&self) -> String;

    /// Commits a delivery to the inbox and returns its id. This must be durable before the webhook is answered.
    async fn put_delivery(&self, delivery: &NewDelivery) -> StoreResult<i64>;

    /// Unprocessed deliveries that are due, oldest first.
    async fn due_deliveries(&self, now: NaiveDateTime, limit: usize) -> StoreResult<Vec<InboxEntry>>;

    /// Marks deliveries processed with what was done.
    async fn finish_deliveries(&self, inbox_ids: &[i64], outcome: &str, at: NaiveDateTime) -> StoreResult<()>;

    /// Records a failed attempt at a delivery, to be tried again at `retry_at`.
    async fn retry_delivery(&self, inbox_id: i64, error: &str, retry_at: NaiveDateTime) -> StoreResult<()>;

    /// Inbox entries, newest first.
    async fn deliveries(&self, limit: usize) -> StoreResult<Vec<InboxEntry>>;

    async fn watermark(&self, name: &str) -> StoreResult<Option<String>>;

    async fn set_watermark(&self, name: &str, value: &str, at: NaiveDateTime) -> StoreResult<()>;

    async fn record_run(&self, run: &JobRun) -> StoreResult<()>;

    /// The latest run of every job.
    async fn last_runs(&self) -> StoreResult<Vec<JobRun>>;

    /// Every kept run that started at or after `since`, oldest first (the status page's 24 hours).
    async fn runs_since(&self, since: NaiveDateTime) -> StoreResult<Vec<JobRun>>;

    /// Records an alert and returns its id.
    async fn record_alert(&self, kind: &str, subject: &str, message: &str, at: NaiveDateTime) -> StoreResult<i64>;

    /// Records how delivering an alert went.
    async fn alert_delivered(&self, alert_id: i64, result: Result<NaiveDateTime, String>) -> StoreResult<()>;

    /// Alerts, newest first.
    async fn alerts(&self, limit: usize) -> StoreResult<Vec<Alert>>;

    /// When an alert of this kind about this subject was last raised.
    async fn last_alert_at(&self, kind: &str, subject: &str) -> StoreResult<Option<NaiveDateTime>>;

    /// The latest `limit` runs of one job, newest first.
    async fn recent_runs(&self, job: &str, limit: usize) -> StoreResult<Vec<JobRun>>;

    /// Every record of a sync family.
    async fn sync_records(&self, kind: &str) -> StoreResult<Vec<SyncRecord>>;

    /// The records of a sync family with these keys (missing ones are simply absent).
    async fn sync_records_for(&self, kind: &str, keys: &[String]) -> StoreResult<Vec<SyncRecord>>;

    /// The record of a sync family that points at this WooCommerce id.
    async fn sync_record_by_woo_id(&self, kind: &str, woo_id: u64) -> StoreResult<Option<SyncRecord>>;

    /// Inserts or replaces records, all in one transaction.
    async fn put_sync_records(&self, kind: &str, records: &[SyncRecord], at: NaiveDateTime) -> StoreResult<()>;

    /// Forgets records (their WooCommerce record is gone).
    async fn delete_sync_records(&self, kind: &str, keys: &[String]) -> StoreResult<()>;

    /// Keeps a refund made after apply; false when it was kept before (by WooCommerce refund id).
    async fn record_refund(&self, refund: &RefundRecord) -> StoreResult<bool>;

    /// The kept refunds, newest first.
    async fn refunds(&self, limit: usize) -> StoreResult<Vec<RefundRecord>>;
}

#[cfg(test)]
mod sync_state_tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_what_it_was_made() {
        assert_eq!(SyncRecord::linked("A", 1).state(), SyncState::Linked);
        assert!(SyncRecord::retired("A", 1).is_retired());
        let parent = SyncRecord::sent("A", Some(1), SyncRecord::variable_digest("abc"));
        assert_eq!(parent.state(), SyncState::Variable("abc"));
        assert_eq!(SyncRecord::sent("A", Some(1), "12").state(), SyncState::Sent("12"));
    }
}
