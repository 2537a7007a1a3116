//! The small interface each database driver provides, so that the port's logic is written once.
//!
//! A driver opens transactions; a transaction runs already-rendered SQL with [`Value`] parameters and returns
//! [`Row`]s. Dropping a transaction without `commit` rolls it back, which is what makes a crash (or a cancelled
//! future) at any instant safe.

use std::future::Future;

use crate::dialect::Dialect;
use crate::error::CpResult;
use crate::value::{Row, Value};

/// What a transaction will do, so the driver can take the right locks up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// Reads only. SQLite: a deferred `BEGIN`; SQL Server: autocommit reads.
    Read,
    /// Reads then writes. SQLite: `BEGIN IMMEDIATE` (takes the write lock first, so a read-then-write cannot fail
    /// half way); SQL Server: `BEGIN TRANSACTION`.
    Write,
}

/// A database driver: SQLite (the replica) or SQL Server (Counterpoint).
pub trait Driver: Send + Sync + 'static {
    type Tx: Tx;

    fn dialect(&self) -> Dialect;

    /// Where the database is, for messages (never includes a password).
    fn target(&self) -> String;

    /// Starts a transaction.
    ///
    /// # Errors
    /// `Unavailable` when no connection can be had.
    fn begin(&self, mode: TxMode) -> impl Future<Output = CpResult<Self::Tx>> + Send;
}

/// An open transaction. Dropping it without [`Tx::commit`] rolls it back.
pub trait Tx: Send {
    /// Runs a statement that returns rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> impl Future<Output = CpResult<Vec<Row>>> + Send;

    /// Runs a statement and returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> impl Future<Output = CpResult<u64>> + Send;

    /// Runs a script of statements without parameters (DDL).
    fn execute_script(&mut self, sql: &str) -> impl Future<Output = CpResult<()>> + Send;

    /// Commits.
    fn commit(self) -> impl Future<Output = CpResult<()>> + Send;
}
