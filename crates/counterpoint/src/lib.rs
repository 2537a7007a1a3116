//! The Counterpoint port and its adapters.
//!
//! [`CounterpointPort`] is every operation the pipelines need from a Counterpoint database. It is implemented once,
//! in [`SqlCounterpoint`], over a small [`driver::Driver`] interface with two drivers: [`mssql::MssqlDriver`] for a
//! real Counterpoint database (T-SQL through tiberius) and [`sqlite::SqliteDriver`] for the replica. The statements
//! are shared; the dialect differences live in [`dialect`], and the tables in [`schema`].

pub mod columns;
pub mod ddl;
pub mod dialect;
pub mod docid_fn;
pub mod driver;
pub mod error;
pub mod mssql;
pub mod port;
pub mod schema;
pub mod sqlite;
pub mod value;

pub use error::{CpError, CpResult};
pub use port::{CounterpointPort, CustNoScheme, SchemaReport, ShopSetup, SqlCounterpoint};
