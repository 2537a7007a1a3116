//! The SQL Server driver: a real Counterpoint database, through tiberius.
//!
//! tiberius has no pool, and the pool crates lag behind tiberius 0.13, so this module keeps a small one of its own: a
//! semaphore bounds the connections, and idle clients wait in a list. A connection that is dropped inside an open
//! transaction is closed rather than reused, so the server rolls the transaction back; that is how a cancelled or
//! crashed apply leaves nothing behind.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use tiberius::{Client, ColumnData, Config, FromSql, Query};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::ddl;
use crate::dialect::Dialect;
use crate::driver::{Driver, Tx, TxMode};
use crate::error::{CpError, CpResult};
use crate::value::{Row, Value};

type MssqlClient = Client<Compat<TcpStream>>;

/// How long a statement may wait for a lock before SQL Server gives up with error 1222 (retried later).
const LOCK_TIMEOUT_MS: u32 = 15_000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

struct Inner {
    config: Config,
    target: String,
    idle: Mutex<Vec<MssqlClient>>,
    permits: Arc<Semaphore>,
}

/// A pool of connections to one SQL Server database.
#[derive(Clone)]
pub struct MssqlDriver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MssqlDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MssqlDriver").field("target", &self.inner.target).finish()
    }
}

impl MssqlDriver {
    /// Builds a driver from an ADO.NET connection string
    /// (`server=tcp:host,1433;database=CPSQL;user=sa;password=...;TrustServerCertificate=true`).
    /// No connection is made until the first transaction.
    ///
    /// # Errors
    /// `Invalid` when the connection string cannot be parsed (the message never repeats the password).
    pub fn from_ado(connection_string: &str, max_connections: usize) -> CpResult<Self> {
        let config = Config::from_ado_string(connection_string).map_err(|e| CpError::Invalid {
            what: "the SQL Server connection string".into(),
            detail: redact(&e.to_string(), connection_string),
        })?;
        let target = config.get_addr();
        Ok(MssqlDriver {
            inner: Arc::new(Inner {
                config,
                target,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(max_connections.max(1))),
            }),
        })
    }

    async fn connect(&self) -> CpResult<MssqlClient> {
        let mut config = self.inner.config.clone();
        for _ in 0..2 {
            let addr = config.get_addr();
            let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
                .await
                .map_err(|_| self.unavailable("timed out connecting"))?
                .map_err(|e| self.unavailable(e))?;
            tcp.set_nodelay(true).map_err(|e| self.unavailable(e))?;
            match tokio::time::timeout(CONNECT_TIMEOUT, Client::connect(config.clone(), tcp.compat_write())).await {
                Err(_) => return Err(self.unavailable("timed out logging in")),
                Ok(Ok(mut client)) => {
                    client
                        .simple_query(format!(
                            "SET LOCK_TIMEOUT {LOCK_TIMEOUT_MS}; SET XACT_ABORT OFF; SET NOCOUNT OFF;"
                        ))
                        .await
                        .map_err(|e| map_err(e, &self.inner.target))?
                        .into_results()
                        .await
                        .map_err(|e| map_err(e, &self.inner.target))?;
                    return Ok(client);
                }
                // Azure SQL and availability groups redirect the login to another node.
                Ok(Err(tiberius::error::Error::Routing { host, port })) => {
                    config.host(&host);
                    config.port(port);
                }
                Ok(Err(e)) => return Err(map_err(e, &self.inner.target)),
            }
        }
        Err(self.unavailable("the server redirected the login more than once"))
    }

    fn unavailable(&self, detail: impl std::fmt::Display) -> CpError {
        CpError::Unavailable { target: self.inner.target.clone(), detail: detail.to_string() }
    }
}

/// Removes the password of a connection string from a message.
fn redact(message: &str, connection_string: &str) -> String {
    let mut out = message.to_owned();
    for part in connection_string.split(';') {
        if let Some((key, value)) = part.split_once('=') {
            let key = key.trim().to_ascii_lowercase();
            if (key == "password" || key == "pwd") && !value.trim().is_empty() {
                out = out.replace(value.trim(), "***");
            }
        }
    }
    out
}

/// Maps tiberius errors to the port's error kinds (1205 deadlock, 2627/2601 duplicate key, 1222 lock timeout,
/// 207/208 missing column or table).
fn map_err(e: tiberius::error::Error, target: &str) -> CpError {
    use tiberius::error::Error as E;
    match &e {
        E::Server(token) => {
            let detail = token.message().to_owned();
            match token.code() {
                1205 => CpError::Deadlock { context: "running a statement".into() },
                2627 | 2601 => CpError::DuplicateKey { context: "writing".into(), detail },
                1222 => CpError::Busy { context: "waiting for a lock".into(), detail },
                207 | 208 => CpError::Schema(detail),
                code => CpError::Sql { context: "running a statement".into(), detail, code: Some(code) },
            }
        }
        E::Io { .. } | E::Tls(_) | E::Routing { .. } => {
            CpError::Unavailable { target: target.to_owned(), detail: e.to_string() }
        }
        _ => CpError::Sql { context: "running a statement".into(), detail: e.to_string(), code: e.code() },
    }
}

fn to_column_data(value: &Value) -> ColumnData<'static> {
    use std::borrow::Cow;
    match value {
        Value::Null => ColumnData::String(None),
        Value::Int(n) => ColumnData::I64(Some(*n)),
        Value::Real(f) => ColumnData::F64(Some(*f)),
        Value::Text(s) => ColumnData::String(Some(Cow::Owned(s.clone()))),
        Value::Guid(g) => ColumnData::Guid(Some(*g)),
        Value::Bytes(b) => ColumnData::Binary(Some(Cow::Owned(b.clone()))),
        Value::Dec(d) => tiberius::IntoSql::into_sql(*d),
        Value::DateTime(t) => tiberius::IntoSql::into_sql(*t),
    }
}

fn from_column_data(data: ColumnData<'static>) -> Value {
    match data {
        ColumnData::U8(v) => v.map_or(Value::Null, |n| Value::Int(i64::from(n))),
        ColumnData::I16(v) => v.map_or(Value::Null, |n| Value::Int(i64::from(n))),
        ColumnData::I32(v) => v.map_or(Value::Null, |n| Value::Int(i64::from(n))),
        ColumnData::I64(v) => v.map_or(Value::Null, Value::Int),
        ColumnData::F32(v) => v.map_or(Value::Null, |n| Value::Real(f64::from(n))),
        ColumnData::F64(v) => v.map_or(Value::Null, Value::Real),
        ColumnData::Bit(v) => v.map_or(Value::Null, |b| Value::Int(i64::from(b))),
        ColumnData::String(v) => v.map_or(Value::Null, |s| Value::Text(s.into_owned())),
        ColumnData::Guid(v) => v.map_or(Value::Null, Value::Guid),
        ColumnData::Binary(v) => v.map_or(Value::Null, |b| Value::Bytes(b.into_owned())),
        ColumnData::Xml(v) => v.map_or(Value::Null, |x| Value::Text(x.to_string())),
        ColumnData::Numeric(_) => match Decimal::from_sql(&data) {
            Ok(Some(d)) => Value::Dec(d),
            _ => Value::Null,
        },
        other => match NaiveDateTime::from_sql(&other) {
            Ok(Some(t)) => Value::DateTime(t),
            _ => Value::Null,
        },
    }
}

/// A connection checked out of the pool, possibly inside a transaction.
pub struct MssqlTx {
    client: Option<MssqlClient>,
    inner: Arc<Inner>,
    in_transaction: bool,
    _permit: OwnedSemaphorePermit,
}

impl Drop for MssqlTx {
    fn drop(&mut self) {
        // A connection left inside a transaction is closed, not reused: the server then rolls the transaction back.
        if let Some(client) = self.client.take()
            && !self.in_transaction
            && let Ok(mut idle) = self.inner.idle.lock()
        {
            idle.push(client);
        }
    }
}

impl MssqlTx {
    fn client(&mut self) -> &mut MssqlClient {
        self.client.as_mut().expect("client present until drop")
    }

    fn fail(&mut self, e: tiberius::error::Error) -> CpError {
        // After an I/O error the connection is unusable; never return it to the pool.
        if matches!(e, tiberius::error::Error::Io { .. }) {
            self.in_transaction = true;
        }
        map_err(e, &self.inner.target)
    }
}

impl Driver for MssqlDriver {
    type Tx = MssqlTx;

    fn dialect(&self) -> Dialect {
        Dialect::Mssql
    }

    fn target(&self) -> String {
        self.inner.target.clone()
    }

    async fn begin(&self, mode: TxMode) -> CpResult<MssqlTx> {
        let permit = self.inner.permits.clone().acquire_owned().await.map_err(|e| self.unavailable(e))?;
        let pooled = self.inner.idle.lock().ok().and_then(|mut idle| idle.pop());
        let client = match pooled {
            Some(client) => client,
            None => self.connect().await?,
        };
        let mut tx =
            MssqlTx { client: Some(client), inner: self.inner.clone(), in_transaction: false, _permit: permit };
        if mode == TxMode::Write {
            tx.in_transaction = true;
            if let Err(e) = tx.client().begin_transaction().await {
                return Err(tx.fail(e));
            }
        }
        Ok(tx)
    }
}

impl Tx for MssqlTx {
    async fn query(&mut self, sql: &str, params: &[Value]) -> CpResult<Vec<Row>> {
        let mut query = Query::new(sql.to_owned());
        for value in params {
            query.bind(to_column_data(value));
        }
        let result = match query.query(self.client()).await {
            Ok(stream) => stream.into_first_result().await,
            Err(e) => Err(e),
        };
        let rows = result.map_err(|e| self.fail(e))?;
        let Some(first) = rows.first() else { return Ok(Vec::new()) };
        let columns: Arc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
        Ok(rows
            .into_iter()
            .map(|row| Row::new(columns.clone(), row.into_iter().map(from_column_data).collect()))
            .collect())
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> CpResult<u64> {
        let mut query = Query::new(sql.to_owned());
        for value in params {
            query.bind(to_column_data(value));
        }
        let result = query.execute(self.client()).await.map_err(|e| self.fail(e))?;
        Ok(result.total())
    }

    async fn execute_script(&mut self, sql: &str) -> CpResult<()> {
        for batch in ddl::split_batches(sql) {
            let result = match self.client().simple_query(batch).await {
                Ok(stream) => stream.into_results().await.map(drop),
                Err(e) => Err(e),
            };
            result.map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    async fn commit(mut self) -> CpResult<()> {
        if self.in_transaction {
            if let Err(e) = self.client().commit_transaction().await {
                return Err(self.fail(e));
            }
            self.in_transaction = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_string_errors_never_show_the_password() {
        let redacted = redact("bad value near s3cr3t!", "server=tcp:h,1433;user=sa;password=s3cr3t!;");
        assert_eq!(redacted, "bad value near ***");
    }

    #[test]
    fn values_round_trip_through_column_data() {
        let d = Decimal::new(123_4567, 4);
        assert_eq!(from_column_data(to_column_data(&Value::Dec(d))), Value::Dec(d));
        assert_eq!(from_column_data(to_column_data(&Value::Int(-7))), Value::Int(-7));
        assert_eq!(from_column_data(to_column_data(&Value::Text("Ünïcode".into()))), Value::Text("Ünïcode".into()));
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .and_then(|d| d.and_hms_milli_opt(5, 18, 23, 120))
            .expect("date");
        assert_eq!(from_column_data(to_column_data(&Value::DateTime(t))), Value::DateTime(t));
        assert_eq!(from_column_data(to_column_data(&Value::Null)), Value::Null);
    }
}
