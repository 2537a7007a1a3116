//! The state store in one SQLite file (WAL), the embedded default.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use cpbridge_core::WooOrderId;
use sqlx::Row as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

use crate::{Alert, InboxEntry, JobRun, NewDelivery, RefundRecord, StateStore, StoreError, StoreResult, SyncRecord};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS webhook_inbox (
    inbox_id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    webhook_id INTEGER,
    delivery_id TEXT,
    resource_id INTEGER,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_err TEXT,
    processed_at TEXT,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS ix_webhook_inbox_open ON webhook_inbox(processed_at, next_attempt_at, inbox_id);
CREATE TABLE IF NOT EXISTS watermarks (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS job_runs (
    run_id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    counts TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS ix_job_runs_job ON job_runs(job, run_id);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    delivered_at TEXT,
    delivery_err TEXT
);
CREATE TABLE IF NOT EXISTS sync_records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    woo_id INTEGER,
    hash TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS ix_sync_records_woo ON sync_records(kind, woo_id);
CREATE TABLE IF NOT EXISTS order_refunds (
    refund_id INTEGER PRIMARY KEY,
    woo_order_id INTEGER NOT NULL,
    woo_order_no TEXT NOT NULL,
    amount TEXT NOT NULL,
    reason TEXT NOT NULL,
    lines TEXT NOT NULL,
    cp_doc_id INTEGER,
    cp_tkt_no TEXT,
    recorded_at TEXT NOT NULL
);
";

/// Keeps this many runs per job; older ones are pruned as new ones arrive.
const RUNS_KEPT_PER_JOB: i64 = 200;

/// The SQLite state store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: String,
}

fn sql(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Sql { context, source }
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its tables when missing.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be opened or created.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let shown = path.display().to_string();
        let open_err = |e: sqlx::Error| StoreError::Open { path: shown.clone(), detail: e.to_string() };
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(open_err)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode survives a killed process; only a power cut can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(open_err)?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(open_err)?;
        Ok(SqliteStore { pool, path: shown })
    }
}

fn inbox_from_row(row: &SqliteRow) -> Result<InboxEntry, sqlx::Error> {
    Ok(InboxEntry {
        inbox_id: row.try_get("inbox_id")?,
        delivery: NewDelivery {
            topic: row.try_get("topic")?,
            webhook_id: row.try_get::<Option<i64>, _>("webhook_id")?.and_then(|id| u64::try_from(id).ok()),
            delivery_id: row.try_get("delivery_id")?,
            resource_id: row.try_get("resource_id")?,
            body: row.try_get("body")?,
            received_at: row.try_get("received_at")?,
        },
        attempts: row.try_get("attempts")?,
        last_err: row.try_get("last_err")?,
        processed_at: row.try_get("processed_at")?,
        outcome: row.try_get("outcome")?,
    })
}

fn sync_record_from_row(row: &SqliteRow) -> Result<SyncRecord, sqlx::Error> {
    Ok(SyncRecord {
        key: row.try_get("key")?,
        woo_id: row.try_get::<Option<i64>, _>("woo_id")?.and_then(|id| u64::try_from(id).ok()),
        hash: row.try_get("hash")?,
    })
}

fn run_from_row(row: &SqliteRow) -> Result<JobRun, sqlx::Error> {
    let counts: String = row.try_get("counts")?;
    Ok(JobRun {
        job: row.try_get("job")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        outcome: row.try_get("outcome")?,
        counts: serde_json::from_str(&counts).unwrap_or_default(),
        error: row.try_get("error")?,
    })
}

fn alert_from_row(row: &SqliteRow) -> Result<Alert, sqlx::Error> {
    Ok(Alert {
        alert_id: row.try_get("alert_id")?,
        at: row.try_get("at")?,
        kind: row.try_get("kind")?,
        subject: row.try_get("subject")?,
        message: row.try_get("message")?,
        delivered_at: row.try_get("delivered_at")?,
        delivery_err: row.try_get("delivery_err")?,
    })
}

const INBOX_COLS: &str = "inbox_id, topic, webhook_id, delivery_id, resource_id, body, received_at, attempts, \
     last_err, processed_at, outcome";

#[async_trait]
impl StateStore for SqliteStore {
    fn target(&self) -> String {
        format!("sqlite:{}", self.path)
    }

    async fn put_delivery(&self, d: &NewDelivery) -> StoreResult<i64> {
        let webhook_id = d.webhook_id.and_then(|id| i64::try_from(id).ok());
        let id = sqlx::query(
            "INSERT INTO webhook_inbox (topic, webhook_id, delivery_id, resource_id, body, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&d.topic)
        .bind(webhook_id)
        .bind(&d.delivery_id)
        .bind(d.resource_id)
        .bind(&d.body)
        .bind(d.received_at)
        .execute(&self.pool)
        .await
        .map_err(sql("storing a webhook delivery"))?
        .last_insert_rowid();
        Ok(id)
    }

    async fn due_deliveries(&self, now: NaiveDateTime, limit: usize) -> StoreResult<Vec<InboxEntry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INBOX_COLS} FROM webhook_inbox WHERE processed_at IS NULL \
             AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) ORDER BY inbox_id LIMIT ?2"
        )))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(sql("reading the webhook inbox"))?;
        rows.iter().map(inbox_from_row).collect::<Result<_, _>>().map_err(sql("reading the webhook inbox"))
    }

    async fn finish_deliveries(&self, inbox_ids: &[i64], outcome: &str, at: NaiveDateTime) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(sql("finishing webhook deliveries"))?;
        for id in inbox_ids {
            sqlx::query("UPDATE webhook_inbox SET processed_at = ?1, outcome = ?2 WHERE inbox_id = ?3")
                .bind(at)
                .bind(outcome)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(sql("finishing webhook deliveries"))?;
        }
        tx.commit().await.map_err(sql("finishing webhook deliveries"))
    }

    async fn retry_delivery(&self, inbox_id: i64, error: &str, retry_at: NaiveDateTime) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_inbox SET attempts = attempts + 1, last_err = ?1, next_attempt_at = ?2 WHERE inbox_id = ?3",
        )
        .bind(error)
        .bind(retry_at)
        .bind(inbox_id)
        .execute(&self.pool)
        .await
        .map_err(sql("rescheduling a webhook delivery"))?;
        Ok(())
    }

    async fn deliveries(&self, limit: usize) -> StoreResult<Vec<InboxEntry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INBOX_COLS} FROM webhook_inbox ORDER BY inbox_id DESC LIMIT ?1"
        )))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(sql("listing the webhook inbox"))?;
        rows.iter().map(inbox_from_row).collect::<Result<_, _>>().map_err(sql("listing the webhook inbox"))
    }

    async fn watermark(&self, name: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT value FROM watermarks WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(sql("reading a watermark"))
    }

    async fn set_watermark(&self, name: &str, value: &str, at: NaiveDateTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO watermarks (name, value, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(sql("saving a watermark"))?;
        Ok(())
    }

    async fn record_run(&self, run: &JobRun) -> StoreResult<()> {
        let counts = serde_json::Value::Object(run.counts.clone()).to_string();
        let mut tx = self.pool.begin().await.map_err(sql("recording a job run"))?;
        sqlx::query(
            "INSERT INTO job_runs (job, started_at, ended_at, outcome, counts, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&run.job)
        .bind(run.started_at)
        .bind(run.ended_at)
        .bind(&run.outcome)
        .bind(counts)
        .bind(&run.error)
        .execute(&mut *tx)
        .await
        .map_err(sql("recording a job run"))?;
        sqlx::query(
            "DELETE FROM job_runs WHERE job = ?1 AND run_id <= \
             (SELECT run_id FROM job_runs WHERE job = ?1 ORDER BY run_id DESC LIMIT 1 OFFSET ?2)",
        )
        .bind(&run.job)
        .bind(RUNS_KEPT_PER_JOB)
        .execute(&mut *tx)
        .await
        .map_err(sql("pruning job runs"))?;
        tx.commit().await.map_err(sql("recording a job run"))
    }

    async fn last_runs(&self) -> StoreResult<Vec<JobRun>> {
        let rows = sqlx::query(
            "SELECT job, started_at, ended_at, outcome, counts, error FROM job_runs \
             WHERE run_id IN (SELECT MAX(run_id) FROM job_runs GROUP BY job) ORDER BY job",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(sql("reading job runs"))?;
        rows.iter().map(run_from_row).collect::<Result<_, _>>().map_err(sql("reading job runs"))
    }

    async fn runs_since(&self, since: NaiveDateTime) -> StoreResult<Vec<JobRun>> {
        let rows = sqlx::query(
            "SELECT job, started_at, ended_at, outcome, counts, error FROM job_runs WHERE started_at >= ?1 \
             ORDER BY run_id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(sql("reading job runs"))?;
        rows.iter().map(run_from_row).collect::<Result<_, _>>().map_err(sql("reading job runs"))
    }

    async fn record_alert(&self, kind: &str, subject: &str, message: &str, at: NaiveDateTime) -> StoreResult<i64> {
        let id = sqlx::query("INSERT INTO alerts (at, kind, subject, message) VALUES (?1, ?2, ?3, ?4)")
            .bind(at)
            .bind(kind)
            .bind(subject)
            .bind(message)
            .execute(&self.pool)
            .await
            .map_err(sql("recording an alert"))?
            .last_insert_rowid();
        Ok(id)
    }

    async fn alert_delivered(&self, alert_id: i64, result: Result<NaiveDateTime, String>) -> StoreResult<()> {
        let (at, err) = match result {
            Ok(at) => (Some(at), None),
            Err(e) => (None, Some(e)),
        };
        sqlx::query("UPDATE alerts SET delivered_at = ?1, delivery_err = ?2 WHERE alert_id = ?3")
            .bind(at)
            .bind(err)
            .bind(alert_id)
            .execute(&self.pool)
            .await
            .map_err(sql("recording an alert delivery"))?;
        Ok(())
    }

    async fn alerts(&self, limit: usize) -> StoreResult<Vec<Alert>> {
        let rows = sqlx::query(
            "SELECT alert_id, at, kind, subject, message, delivered_at, delivery_err FROM alerts \
             ORDER BY alert_id DESC LIMIT ?1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(sql("reading alerts"))?;
        rows.iter().map(alert_from_row).collect::<Result<_, _>>().map_err(sql("reading alerts"))
    }

    async fn last_alert_at(&self, kind: &str, subject: &str) -> StoreResult<Option<NaiveDateTime>> {
        sqlx::query_scalar("SELECT MAX(at) FROM alerts WHERE kind = ?1 AND subject = ?2")
            .bind(kind)
            .bind(subject)
            .fetch_one(&self.pool)
            .await
            .map_err(sql("reading alerts"))
    }

    async fn recent_runs(&self, job: &str, limit: usize) -> StoreResult<Vec<JobRun>> {
        let rows = sqlx::query(
            "SELECT job, started_at, ended_at, outcome, counts, error FROM job_runs WHERE job = ?1 \
             ORDER BY run_id DESC LIMIT ?2",
        )
        .bind(job)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(sql("reading job runs"))?;
        rows.iter().map(run_from_row).collect::<Result<_, _>>().map_err(sql("reading job runs"))
    }

    async fn sync_records(&self, kind: &str) -> StoreResult<Vec<SyncRecord>> {
        let rows = sqlx::query("SELECT key, woo_id, hash FROM sync_records WHERE kind = ?1")
            .bind(kind)
            .fetch_all(&self.pool)
            .await
            .map_err(sql("reading sync records"))?;
        rows.iter().map(sync_record_from_row).collect::<Result<_, _>>().map_err(sql("reading sync records"))
    }

    async fn sync_records_for(&self, kind: &str, keys: &[String]) -> StoreResult<Vec<SyncRecord>> {
        let mut records = Vec::with_capacity(keys.len());
        // Well under SQLite's limit of bound parameters per statement.
        for chunk in keys.chunks(500) {
            let list = (2..chunk.len() + 2).map(|i| format!("?{i}")).collect::<Vec<_>>().join(",");
            let statement = format!("SELECT key, woo_id, hash FROM sync_records WHERE kind = ?1 AND key IN ({list})");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(kind);
            for key in chunk {
                query = query.bind(key);
            }
            let rows = query.fetch_all(&self.pool).await.map_err(sql("reading sync records"))?;
            for row in &rows {
                records.push(sync_record_from_row(row).map_err(sql("reading sync records"))?);
            }
        }
        Ok(records)
    }

    async fn sync_record_by_woo_id(&self, kind: &str, woo_id: u64) -> StoreResult<Option<SyncRecord>> {
        let row = sqlx::query("SELECT key, woo_id, hash FROM sync_records WHERE kind = ?1 AND woo_id = ?2 LIMIT 1")
            .bind(kind)
            .bind(i64::try_from(woo_id).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool)
            .await
            .map_err(sql("reading a sync record"))?;
        row.as_ref().map(sync_record_from_row).transpose().map_err(sql("reading a sync record"))
    }

    async fn put_sync_records(&self, kind: &str, records: &[SyncRecord], at: NaiveDateTime) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(sql("saving sync records"))?;
        for record in records {
            sqlx::query(
                "INSERT INTO sync_records (kind, key, woo_id, hash, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(kind, key) DO UPDATE SET woo_id = excluded.woo_id, hash = excluded.hash, \
                 updated_at = excluded.updated_at",
            )
            .bind(kind)
            .bind(&record.key)
            .bind(record.woo_id.and_then(|id| i64::try_from(id).ok()))
            .bind(&record.hash)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(sql("saving sync records"))?;
        }
        tx.commit().await.map_err(sql("saving sync records"))
    }

    async fn delete_sync_records(&self, kind: &str, keys: &[String]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(sql("forgetting sync records"))?;
        for key in keys {
            sqlx::query("DELETE FROM sync_records WHERE kind = ?1 AND key = ?2")
                .bind(kind)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(sql("forgetting sync records"))?;
        }
        tx.commit().await.map_err(sql("forgetting sync records"))
    }

    async fn record_refund(&self, r: &RefundRecord) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO order_refunds (refund_id, woo_order_id, woo_order_no, amount, reason, lines, cp_doc_id, \
             cp_tkt_no, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (refund_id) DO NOTHING",
        )
        .bind(r.refund_id)
        .bind(r.woo_order_id.as_i64())
        .bind(&r.woo_order_no)
        .bind(&r.amount)
        .bind(&r.reason)
        .bind(&r.lines)
        .bind(r.cp_doc_id)
        .bind(&r.cp_tkt_no)
        .bind(r.recorded_at)
        .execute(&self.pool)
        .await
        .map_err(sql("recording a refund"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn refunds(&self, limit: usize) -> StoreResult<Vec<RefundRecord>> {
        let rows = sqlx::query(
            "SELECT refund_id, woo_order_id, woo_order_no, amount, reason, lines, cp_doc_id, cp_tkt_no, recorded_at \
             FROM order_refunds ORDER BY recorded_at DESC, refund_id DESC LIMIT ?1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(sql("reading refunds"))?;
        let read = |row: &SqliteRow| -> Result<RefundRecord, sqlx::Error> {
            Ok(RefundRecord {
                refund_id: row.try_get("refund_id")?,
                woo_order_id: WooOrderId::try_from(row.try_get::<i64, _>("woo_order_id")?)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                woo_order_no: row.try_get("woo_order_no")?,
                amount: row.try_get("amount")?,
                reason: row.try_get("reason")?,
                lines: row.try_get("lines")?,
                cp_doc_id: row.try_get("cp_doc_id")?,
                cp_tkt_no: row.try_get("cp_tkt_no")?,
                recorded_at: row.try_get("recorded_at")?,
            })
        };
        rows.iter().map(read).collect::<Result<_, _>>().map_err(sql("reading refunds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(minute: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_790_000_000 + minute * 60, 0).expect("time").naive_utc()
    }

    #[tokio::test]
    async fn the_inbox_survives_reopening_and_hands_out_due_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).await.expect("open");
        let delivery = |id: i64| NewDelivery {
            topic: "order.created".into(),
            webhook_id: Some(3),
            delivery_id: Some(format!("d{id}")),
            resource_id: Some(id),
            body: format!("{{\"id\":{id}}}").into_bytes(),
            received_at: at(0),
        };
        let first = store.put_delivery(&delivery(41)).await.expect("put");
        let second = store.put_delivery(&delivery(42)).await.expect("put");
        drop(store);

        let store = SqliteStore::open(&path).await.expect("reopen");
        let due = store.due_deliveries(at(1), 10).await.expect("due");
        assert_eq!(due.iter().map(|d| d.delivery.resource_id).collect::<Vec<_>>(), vec![Some(41), Some(42)]);
        assert_eq!(due[0].delivery.body, b"{\"id\":41}");

        store.retry_delivery(first, "WooCommerce is down", at(1) + Duration::minutes(5)).await.expect("retry");
        store.finish_deliveries(&[second], "staged", at(1)).await.expect("finish");
        assert!(store.due_deliveries(at(2), 10).await.expect("due").is_empty(), "one waits, one is done");
        let later = store.due_deliveries(at(7), 10).await.expect("due");
        assert_eq!(later.len(), 1);
        assert_eq!((later[0].attempts, later[0].last_err.as_deref()), (1, Some("WooCommerce is down")));
    }

    #[tokio::test]
    async fn a_refund_is_kept_once_and_listed_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("state.db")).await.expect("open");
        let refund = |id: i64, minute: i64| RefundRecord {
            woo_order_id: WooOrderId::try_from(1392_u64).expect("valid"),
            woo_order_no: "1392".into(),
            refund_id: id,
            amount: "12.00".into(),
            reason: "one mug broken".into(),
            lines: "1 x CAP-MUG-1 (restocked)".into(),
            cp_doc_id: Some(77),
            cp_tkt_no: Some("W1-000001".into()),
            recorded_at: at(minute),
        };
        assert!(store.record_refund(&refund(1393, 0)).await.expect("first"));
        assert!(!store.record_refund(&refund(1393, 5)).await.expect("again"), "the same refund is kept once");
        assert!(store.record_refund(&refund(1400, 1)).await.expect("second"));
        let kept = store.refunds(10).await.expect("list");
        assert_eq!(kept.iter().map(|r| r.refund_id).collect::<Vec<_>>(), vec![1400, 1393]);
        assert_eq!(kept[1], refund(1393, 0));
    }

    #[tokio::test]
    async fn watermarks_runs_and_alerts_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("state.db")).await.expect("open");
        assert_eq!(store.watermark("orders.modified_after").await.expect("read"), None);
        store.set_watermark("orders.modified_after", "2026-11-25T10:00:00", at(0)).await.expect("set");
        store.set_watermark("orders.modified_after", "2026-11-25T11:00:00", at(1)).await.expect("set");
        assert_eq!(
            store.watermark("orders.modified_after").await.expect("read").as_deref(),
            Some("2026-11-25T11:00:00")
        );

        for n in 0..3 {
            let mut counts = serde_json::Map::new();
            counts.insert("applied".into(), n.into());
            let run = JobRun {
                job: "orders.process".into(),
                started_at: at(n),
                ended_at: at(n),
                outcome: "ok".into(),
                counts,
                error: None,
            };
            store.record_run(&run).await.expect("run");
        }
        let runs = store.last_runs().await.expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].counts.get("applied"), Some(&serde_json::Value::from(2)));

        let id = store.record_alert("order_dead", "WooCommerce order 7", "unknown SKU X", at(3)).await.expect("alert");
        store.alert_delivered(id, Err("connection refused".into())).await.expect("delivered");
        let alerts = store.alerts(5).await.expect("alerts");
        assert_eq!(alerts[0].delivery_err.as_deref(), Some("connection refused"));
        assert_eq!(alerts[0].subject, "WooCommerce order 7");
    }

    #[tokio::test]
    async fn sync_records_are_kept_per_family_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("state.db")).await.expect("open");
        let record =
            |key: &str, id: u64, hash: &str| SyncRecord { key: key.into(), woo_id: Some(id), hash: hash.into() };
        store.put_sync_records("product", &[record("A", 10, "h1"), record("B", 11, "h2")], at(0)).await.expect("put");
        store.put_sync_records("stock", &[record("A", 10, "5")], at(0)).await.expect("put");
        store.put_sync_records("product", &[record("A", 10, "h3")], at(1)).await.expect("replace");
        let mut all = store.sync_records("product").await.expect("all");
        all.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(all, vec![record("A", 10, "h3"), record("B", 11, "h2")]);
        let some = store.sync_records_for("product", &["B".into(), "Z".into()]).await.expect("some");
        assert_eq!(some, vec![record("B", 11, "h2")]);
        assert_eq!(store.sync_record_by_woo_id("product", 11).await.expect("by id"), Some(record("B", 11, "h2")));
        assert_eq!(store.sync_records("stock").await.expect("stock"), vec![record("A", 10, "5")]);
        store.delete_sync_records("product", &["A".into()]).await.expect("delete");
        assert_eq!(store.sync_records("product").await.expect("all"), vec![record("B", 11, "h2")]);
    }
}
