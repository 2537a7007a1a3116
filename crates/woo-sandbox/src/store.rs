//! The sandbox's persistence: every WooCommerce record is a JSON document in SQLite, with the columns that
//! listings filter on (SKU, e-mail, status, dates) kept beside it. SKUs are unique across products and
//! variations, as in WooCommerce, and customer e-mails are unique.

use std::path::Path;

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

/// The kinds of record the sandbox keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Product,
    Variation,
    Customer,
    Order,
    Refund,
    Note,
    Coupon,
    Webhook,
    Category,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Variation => "variation",
            Self::Customer => "customer",
            Self::Order => "order",
            Self::Refund => "refund",
            Self::Note => "note",
            Self::Coupon => "coupon",
            Self::Webhook => "webhook",
            Self::Category => "category",
        }
    }

    /// The id sequence a kind draws from: WordPress posts share one, like in WooCommerce.
    fn sequence(self) -> &'static str {
        match self {
            Self::Product | Self::Variation | Self::Order | Self::Refund | Self::Coupon => "post",
            Self::Customer => "user",
            Self::Note => "comment",
            Self::Webhook => "webhook",
            Self::Category => "term",
        }
    }
}

/// One stored record.
#[derive(Debug, Clone)]
pub struct Doc {
    pub kind: Kind,
    pub id: u64,
    pub parent_id: u64,
    pub body: Value,
    /// Internal state WooCommerce keeps out of the REST body (for orders: whether stock was reduced).
    pub flags: i64,
}

pub const FLAG_STOCK_REDUCED: i64 = 1;

/// A unique key that a write would break.
#[derive(Debug)]
pub enum Conflict {
    Sku { holder: u64 },
    Email { holder: u64 },
}

#[derive(Debug, thiserror::Error)]
#[error("sandbox store: {0}")]
pub struct StoreError(#[from] sqlx::Error);

/// Filters of a listing, already validated.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub kinds: Vec<Kind>,
    pub parent_id: Option<u64>,
    pub skus: Vec<String>,
    pub email: Option<String>,
    pub statuses: Vec<String>,
    pub exclude_status: Option<String>,
    pub modified_after: Option<String>,
    pub modified_before: Option<String>,
    pub created_after: Option<String>,
    pub ids: Vec<u64>,
    pub search: Option<String>,
    /// `type` of a product listing (`simple`, `grouped`, `external`, `variable`).
    pub product_type: Option<String>,
    /// A column: `id`, `created`, `modified`, `title`.
    pub order_by: &'static str,
    pub descending: bool,
    pub limit: u32,
    pub offset: u64,
}

/// The SQLite store. Requests are served one at a time through [`Store::lock`], which keeps every
/// read-modify-write atomic without per-row locking.
pub struct Store {
    conn: tokio::sync::Mutex<SqliteConnection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    id INTEGER NOT NULL,
    parent_id INTEGER NOT NULL DEFAULT 0,
    sku TEXT,
    email TEXT,
    status TEXT,
    title TEXT,
    created TEXT,
    modified TEXT,
    flags INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS docs_sku ON docs(sku) WHERE kind IN ('product', 'variation') AND sku <> '';
CREATE UNIQUE INDEX IF NOT EXISTS docs_email ON docs(lower(email)) WHERE kind = 'customer';
CREATE INDEX IF NOT EXISTS docs_modified ON docs(kind, modified, id);
CREATE INDEX IF NOT EXISTS docs_parent ON docs(kind, parent_id);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL,
    topic TEXT NOT NULL,
    resource_id INTEGER NOT NULL,
    delivery_id TEXT NOT NULL,
    response_status INTEGER,
    error TEXT,
    at TEXT NOT NULL
);
";

impl Store {
    /// Opens (or creates) the store in `dir/sandbox.db`, or an in-memory one without a directory.
    ///
    /// # Errors
    /// When the database cannot be opened or its schema created.
    pub async fn open(dir: Option<&Path>) -> Result<Self, StoreError> {
        let options = match dir {
            Some(dir) => SqliteConnectOptions::new()
                .filename(dir.join("sandbox.db"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal),
            None => SqliteConnectOptions::new().in_memory(true),
        };
        let mut conn = options.connect().await?;
        sqlx::raw_sql(SCHEMA).execute(&mut conn).await?;
        Ok(Self { conn: tokio::sync::Mutex::new(conn) })
    }

    /// Exclusive access for one request.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, SqliteConnection> {
        self.conn.lock().await
    }
}

/// Starts the one transaction a request runs in, on the connection it holds locked.
pub async fn begin(conn: &mut SqliteConnection) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
    Ok(conn.begin().await?)
}

/// The next id of `kind`'s sequence. Posts start at 10, users at 2 (1 is the admin), like a fresh WordPress.
pub async fn next_id(conn: &mut SqliteConnection, kind: Kind) -> Result<u64, StoreError> {
    let sequence = kind.sequence();
    let start = match sequence {
        "user" => 2,
        "post" => 10,
        // A fresh WooCommerce has "Uncategorized" as term 15.
        "term" => 16,
        _ => 1,
    };
    next_in_sequence(conn, sequence, start).await
}

/// The next number of a named sequence that starts at `start` (meta ids, order item ids, record ids).
pub async fn next_in_sequence(conn: &mut SqliteConnection, name: &str, start: i64) -> Result<u64, StoreError> {
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO sequences(name, next) VALUES (?1, ?2 + 1) ON CONFLICT(name) DO UPDATE SET next = next + 1 \
         RETURNING next - 1",
    )
    .bind(name)
    .bind(start)
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(next).unwrap_or_default())
}

fn text(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Stores `doc`, or reports the unique key it would break.
pub async fn save(conn: &mut SqliteConnection, doc: &Doc) -> Result<Result<(), Conflict>, StoreError> {
    let sku = text(&doc.body, "sku").unwrap_or_default();
    let email = if doc.kind == Kind::Customer { text(&doc.body, "email") } else { None };
    if matches!(doc.kind, Kind::Product | Kind::Variation) && !sku.is_empty() {
        let holder: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM docs WHERE kind IN ('product','variation') AND sku = ?1 AND sku <> '' AND NOT (kind = ?2 AND id = ?3)",
        )
        .bind(&sku)
        .bind(doc.kind.as_str())
        .bind(to_i64(doc.id))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(holder) = holder {
            return Ok(Err(Conflict::Sku { holder: u64::try_from(holder).unwrap_or_default() }));
        }
    }
    if let Some(email) = &email {
        let holder: Option<i64> =
            sqlx::query_scalar("SELECT id FROM docs WHERE kind = 'customer' AND lower(email) = lower(?1) AND id <> ?2")
                .bind(email)
                .bind(to_i64(doc.id))
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(holder) = holder {
            return Ok(Err(Conflict::Email { holder: u64::try_from(holder).unwrap_or_default() }));
        }
    }
    let title = text(&doc.body, "name")
        .or_else(|| text(&doc.body, "code"))
        .or_else(|| {
            let first = text(&doc.body, "first_name").unwrap_or_default();
            let last = text(&doc.body, "last_name").unwrap_or_default();
            Some(format!("{first} {last}").trim().to_owned())
        })
        .unwrap_or_default();
    sqlx::query(
        "INSERT INTO docs(kind, id, parent_id, sku, email, status, title, created, modified, flags, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT(kind, id) DO UPDATE SET parent_id = excluded.parent_id, sku = excluded.sku, \
         email = excluded.email, status = excluded.status, title = excluded.title, created = excluded.created, \
         modified = excluded.modified, flags = excluded.flags, body = excluded.body",
    )
    .bind(doc.kind.as_str())
    .bind(to_i64(doc.id))
    .bind(to_i64(doc.parent_id))
    .bind(sku)
    .bind(email)
    .bind(text(&doc.body, "status"))
    .bind(title)
    .bind(text(&doc.body, "date_created_gmt"))
    .bind(text(&doc.body, "date_modified_gmt").or_else(|| text(&doc.body, "date_created_gmt")))
    .bind(doc.flags)
    .bind(doc.body.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(Ok(()))
}

pub async fn get(conn: &mut SqliteConnection, kind: Kind, id: u64) -> Result<Option<Doc>, StoreError> {
    let row = sqlx::query("SELECT parent_id, flags, body FROM docs WHERE kind = ?1 AND id = ?2")
        .bind(kind.as_str())
        .bind(to_i64(id))
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|row| Doc {
        kind,
        id,
        parent_id: u64::try_from(row.get::<i64, _>(0)).unwrap_or_default(),
        flags: row.get(1),
        body: serde_json::from_str(row.get::<&str, _>(2)).unwrap_or(Value::Null),
    }))
}

pub async fn delete(conn: &mut SqliteConnection, kind: Kind, id: u64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM docs WHERE kind = ?1 AND id = ?2")
        .bind(kind.as_str())
        .bind(to_i64(id))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Children of a record (variations of a product, notes and refunds of an order), by id.
pub async fn children(conn: &mut SqliteConnection, kind: Kind, parent_id: u64) -> Result<Vec<Doc>, StoreError> {
    let rows = sqlx::query("SELECT id, flags, body FROM docs WHERE kind = ?1 AND parent_id = ?2 ORDER BY id")
        .bind(kind.as_str())
        .bind(to_i64(parent_id))
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Doc {
            kind,
            id: u64::try_from(row.get::<i64, _>(0)).unwrap_or_default(),
            parent_id,
            flags: row.get(1),
            body: serde_json::from_str(row.get::<&str, _>(2)).unwrap_or(Value::Null),
        })
        .collect())
}

/// Finds a product or variation by exact SKU.
pub async fn by_sku(conn: &mut SqliteConnection, sku: &str) -> Result<Option<Doc>, StoreError> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT kind, id FROM docs WHERE kind IN ('product','variation') AND sku = ?1 AND sku <> ''")
            .bind(sku)
            .fetch_optional(&mut *conn)
            .await?;
    match row {
        Some((kind, id)) => {
            let kind = if kind == "variation" { Kind::Variation } else { Kind::Product };
            get(conn, kind, u64::try_from(id).unwrap_or_default()).await
        }
        None => Ok(None),
    }
}

/// One page of a listing and the total that matches.
pub async fn list(conn: &mut SqliteConnection, query: &Query) -> Result<(u64, Vec<Doc>), StoreError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let bind = |value: String, binds: &mut Vec<String>| {
        binds.push(value);
        format!("?{}", binds.len())
    };
    let kinds: Vec<String> = query.kinds.iter().map(|k| bind(k.as_str().to_owned(), &mut binds)).collect();
    clauses.push(format!("kind IN ({})", kinds.join(",")));
    if let Some(parent) = query.parent_id {
        clauses.push(format!("parent_id = {}", to_i64(parent)));
    }
    if !query.skus.is_empty() {
        let skus: Vec<String> = query.skus.iter().map(|s| bind(s.clone(), &mut binds)).collect();
        clauses.push(format!("sku IN ({}) AND sku <> ''", skus.join(",")));
    }
    if let Some(email) = &query.email {
        clauses.push(format!("lower(email) = lower({})", bind(email.clone(), &mut binds)));
    }
    if !query.statuses.is_empty() {
        let statuses: Vec<String> = query.statuses.iter().map(|s| bind(s.clone(), &mut binds)).collect();
        clauses.push(format!("status IN ({})", statuses.join(",")));
    }
    if let Some(excluded) = &query.exclude_status {
        clauses.push(format!("coalesce(status, '') <> {}", bind(excluded.clone(), &mut binds)));
    }
    if let Some(after) = &query.modified_after {
        clauses.push(format!("modified > {}", bind(after.clone(), &mut binds)));
    }
    if let Some(before) = &query.modified_before {
        clauses.push(format!("modified < {}", bind(before.clone(), &mut binds)));
    }
    if let Some(after) = &query.created_after {
        clauses.push(format!("created > {}", bind(after.clone(), &mut binds)));
    }
    if !query.ids.is_empty() {
        let ids: Vec<String> = query.ids.iter().map(|id| to_i64(*id).to_string()).collect();
        clauses.push(format!("id IN ({})", ids.join(",")));
    }
    if let Some(kind) = &query.product_type {
        clauses.push(format!("json_extract(body, '$.type') = {}", bind(kind.clone(), &mut binds)));
    }
    if let Some(search) = &query.search {
        let pattern = format!("%{}%", search.replace(['%', '_'], ""));
        let p = bind(pattern, &mut binds);
        clauses.push(format!("(title LIKE {p} OR sku LIKE {p} OR email LIKE {p})"));
    }
    let filter = clauses.join(" AND ");
    let direction = if query.descending { "DESC" } else { "ASC" };
    let order = match query.order_by {
        "title" => format!("title {direction}, id {direction}"),
        "created" => format!("created {direction}, id {direction}"),
        "modified" => format!("modified {direction}, id {direction}"),
        _ => format!("id {direction}"),
    };

    let count_sql = format!("SELECT count(*) FROM docs WHERE {filter}");
    let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
    for value in &binds {
        count = count.bind(value);
    }
    let total = u64::try_from(count.fetch_one(&mut *conn).await?).unwrap_or_default();

    let page_sql = format!(
        "SELECT kind, id, parent_id, flags, body FROM docs WHERE {filter} ORDER BY {order} LIMIT {} OFFSET {}",
        query.limit, query.offset
    );
    let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql));
    for value in &binds {
        page = page.bind(value);
    }
    let rows = page.fetch_all(&mut *conn).await?;
    let docs = rows
        .into_iter()
        .map(|row| {
            let kind = match row.get::<&str, _>(0) {
                "variation" => Kind::Variation,
                "customer" => Kind::Customer,
                "order" => Kind::Order,
                "refund" => Kind::Refund,
                "note" => Kind::Note,
                "coupon" => Kind::Coupon,
                "webhook" => Kind::Webhook,
                "category" => Kind::Category,
                _ => Kind::Product,
            };
            Doc {
                kind,
                id: u64::try_from(row.get::<i64, _>(1)).unwrap_or_default(),
                parent_id: u64::try_from(row.get::<i64, _>(2)).unwrap_or_default(),
                flags: row.get(3),
                body: serde_json::from_str(row.get::<&str, _>(4)).unwrap_or(Value::Null),
            }
        })
        .collect();
    Ok((total, docs))
}

/// Records one webhook delivery attempt.
pub async fn log_delivery(
    conn: &mut SqliteConnection,
    webhook_id: u64,
    topic: &str,
    resource_id: u64,
    delivery_id: &str,
    outcome: Result<u16, String>,
) -> Result<(), StoreError> {
    let (status, error) = match outcome {
        Ok(status) => (Some(i64::from(status)), None),
        Err(error) => (None, Some(error)),
    };
    sqlx::query(
        "INSERT INTO deliveries(webhook_id, topic, resource_id, delivery_id, response_status, error, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(to_i64(webhook_id))
    .bind(topic)
    .bind(to_i64(resource_id))
    .bind(delivery_id)
    .bind(status)
    .bind(error)
    .bind(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The delivery log, oldest first.
pub async fn deliveries(conn: &mut SqliteConnection) -> Result<Vec<Value>, StoreError> {
    let rows = sqlx::query(
        "SELECT webhook_id, topic, resource_id, delivery_id, response_status, error, at FROM deliveries ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            serde_json::json!({
                "webhook_id": row.get::<i64, _>(0),
                "topic": row.get::<String, _>(1),
                "resource_id": row.get::<i64, _>(2),
                "delivery_id": row.get::<String, _>(3),
                "response_status": row.get::<Option<i64>, _>(4),
                "error": row.get::<Option<String>, _>(5),
                "at": row.get::<String, _>(6),
            })
        })
        .collect())
}

/// Recent consecutive failures of a webhook, for WooCommerce's rule that disables it after five.
pub async fn consecutive_failures(conn: &mut SqliteConnection, webhook_id: u64) -> Result<u32, StoreError> {
    let rows: Vec<(Option<i64>,)> =
        sqlx::query_as("SELECT response_status FROM deliveries WHERE webhook_id = ?1 ORDER BY id DESC LIMIT 5")
            .bind(to_i64(webhook_id))
            .fetch_all(&mut *conn)
            .await?;
    let failed = rows.iter().take_while(|(status,)| !status.is_some_and(|s| (200..300).contains(&s))).count();
    Ok(u32::try_from(failed).unwrap_or(5))
}

fn to_i64(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}
