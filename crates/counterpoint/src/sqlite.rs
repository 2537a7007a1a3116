//! The SQLite driver: the Counterpoint replica used by the demo, the tests, and shops that evaluate cpbridge.
//!
//! The file runs in WAL mode with a generous busy timeout, so several cpbridge processes (or a test that writes with
//! plain SQL) can share it. Writers start with `BEGIN IMMEDIATE`, which serialises them the way SQL Server's row
//! locks serialise Counterpoint's writers.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::prelude::ToPrimitive;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Column as _, Row as _, SqlitePool, TypeInfo as _, ValueRef as _};

use crate::ddl;
use crate::dialect::Dialect;
use crate::driver::{Driver, Tx, TxMode};
use crate::error::{CpError, CpResult};
use crate::value::{Row, SQLITE_DATETIME_FORMAT, Value};

/// A pool of connections to one replica file.
#[derive(Debug, Clone)]
pub struct SqliteDriver {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteDriver {
    /// Opens an existing replica.
    ///
    /// # Errors
    /// `Unavailable` when the file does not exist or cannot be opened.
    pub async fn open(path: &Path) -> CpResult<Self> {
        if !path.exists() {
            return Err(CpError::Unavailable {
                target: path.display().to_string(),
                detail: "the file does not exist (create it with `cpbridge cp seed` or `cpbridge cp init-replica`)"
                    .into(),
            });
        }
        Self::connect(path, false).await
    }

    /// Creates a new, empty replica with every table and trigger. Refuses to overwrite an existing file.
    ///
    /// # Errors
    /// `Invalid` when the file exists; `Unavailable` when it cannot be created.
    pub async fn create(path: &Path) -> CpResult<Self> {
        if path.exists() {
            return Err(CpError::Invalid {
                what: format!("replica {}", path.display()),
                detail: "the file already exists; remove it or choose another path".into(),
            });
        }
        let driver = Self::connect(path, true).await?;
        let mut tx = driver.begin(TxMode::Write).await?;
        tx.execute_script(&ddl::sqlite_replica_ddl()).await?;
        tx.commit().await?;
        Ok(driver)
    }

    async fn connect(path: &Path, create: bool) -> CpResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| unavailable(path, e))?
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await
            .map_err(|e| unavailable(path, e))?;
        Ok(SqliteDriver { pool, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying pool, for tests and tools that write to the replica with plain SQL.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> CpError {
    CpError::Unavailable { target: path.display().to_string(), detail: e.to_string() }
}

/// Maps a sqlx error to the port's error kinds.
fn map_err(e: sqlx::Error, target: &Path) -> CpError {
    match e {
        sqlx::Error::Database(db) => {
            let message = db.message().to_owned();
            let code = db.code().and_then(|c| c.parse::<u32>().ok());
            if message.contains("UNIQUE constraint failed") || message.contains("PRIMARY KEY") {
                CpError::DuplicateKey { context: "writing".into(), detail: message }
            } else if matches!(code, Some(5 | 6 | 517 | 261 | 262)) || message.contains("database is locked") {
                CpError::Busy { context: "writing".into(), detail: message }
            } else if message.starts_with("no such table")
                || message.starts_with("no such column")
                || message.contains("has no column named")
            {
                CpError::Schema(message)
            } else {
                CpError::Sql { context: "running a statement".into(), detail: message, code }
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            unavailable(target, e)
        }
        other => CpError::Sql { context: "running a statement".into(), detail: other.to_string(), code: None },
    }
}

/// An open SQLite transaction; sqlx rolls it back on drop.
pub struct SqliteTx {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    path: Arc<PathBuf>,
}

impl Driver for SqliteDriver {
    type Tx = SqliteTx;

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }

    async fn begin(&self, mode: TxMode) -> CpResult<SqliteTx> {
        let tx = match mode {
            TxMode::Read => self.pool.begin().await,
            TxMode::Write => self.pool.begin_with("BEGIN IMMEDIATE").await,
        }
        .map_err(|e| map_err(e, &self.path))?;
        Ok(SqliteTx { tx, path: Arc::new(self.path.clone()) })
    }
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    params: &[Value],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    for value in params {
        query = match value {
            Value::Null => query.bind(Option::<String>::None),
            Value::Int(n) => query.bind(*n),
            Value::Real(f) => query.bind(*f),
            Value::Text(s) => query.bind(s.clone()),
            // The replica stores DECIMAL as REAL; money is never summed in SQL there (see dialect.rs).
            Value::Dec(d) => query.bind(d.to_f64().unwrap_or_default()),
            Value::DateTime(t) => query.bind(t.format(SQLITE_DATETIME_FORMAT).to_string()),
            Value::Guid(g) => query.bind(g.to_string()),
            Value::Bytes(b) => query.bind(b.clone()),
        };
    }
    query
}

fn decode_row(row: &sqlx::sqlite::SqliteRow, columns: &Arc<[String]>) -> CpResult<Row> {
    let mut values = Vec::with_capacity(columns.len());
    for i in 0..columns.len() {
        let raw = row.try_get_raw(i).map_err(|e| CpError::Sql {
            context: "reading a row".into(),
            detail: e.to_string(),
            code: None,
        })?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            let kind = raw.type_info().name().to_owned();
            let err = |e: sqlx::Error| CpError::Sql {
                context: format!("reading column {}", columns[i]),
                detail: e.to_string(),
                code: None,
            };
            match kind.as_str() {
                "INTEGER" | "BOOLEAN" => Value::Int(row.try_get_unchecked::<i64, _>(i).map_err(err)?),
                "REAL" | "NUMERIC" => Value::Real(row.try_get_unchecked::<f64, _>(i).map_err(err)?),
                "BLOB" => Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i).map_err(err)?),
                _ => Value::Text(row.try_get_unchecked::<String, _>(i).map_err(err)?),
            }
        };
        values.push(value);
    }
    Ok(Row::new(columns.clone(), values))
}

impl Tx for SqliteTx {
    async fn query(&mut self, sql: &str, params: &[Value]) -> CpResult<Vec<Row>> {
        let query = bind(sqlx::query(AssertSqlSafe(sql.to_owned())), params);
        let rows = query.fetch_all(&mut *self.tx).await.map_err(|e| map_err(e, &self.path))?;
        let Some(first) = rows.first() else { return Ok(Vec::new()) };
        let columns: Arc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
        rows.iter().map(|r| decode_row(r, &columns)).collect()
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> CpResult<u64> {
        let query = bind(sqlx::query(AssertSqlSafe(sql.to_owned())), params);
        let done = query.execute(&mut *self.tx).await.map_err(|e| map_err(e, &self.path))?;
        Ok(done.rows_affected())
    }

    async fn execute_script(&mut self, sql: &str) -> CpResult<()> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, &self.path))?;
        Ok(())
    }

    async fn commit(self) -> CpResult<()> {
        let path = self.path.clone();
        self.tx.commit().await.map_err(|e| map_err(e, &path))
    }
}
