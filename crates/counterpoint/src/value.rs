//! Driver-neutral parameters and rows.
//!
//! The port's logic is written once against these types; each driver converts them to and from its own. Getters on
//! [`Row`] decode leniently where the replica is loose (SQLite keeps `DECIMAL` as integer, float or even text) and
//! strictly where it matters: a quantity that is not a number is an error that names the table, the row's key and
//! the column.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use cpbridge_core::{CustNo, StagingId, WooOrderId};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use uuid::Uuid;

use crate::error::CpError;

/// A bound parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Dec(Decimal),
    DateTime(NaiveDateTime),
    Guid(Uuid),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<StagingId> for Value {
    fn from(v: StagingId) -> Self {
        Value::Int(v.get())
    }
}
impl From<WooOrderId> for Value {
    fn from(v: WooOrderId) -> Self {
        Value::Int(v.as_i64())
    }
}
impl From<&CustNo> for Value {
    fn from(v: &CustNo) -> Self {
        Value::Text(v.as_str().to_owned())
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Decimal> for Value {
    fn from(v: Decimal) -> Self {
        Value::Dec(v)
    }
}
impl From<NaiveDateTime> for Value {
    fn from(v: NaiveDateTime) -> Self {
        Value::DateTime(v)
    }
}
impl From<Uuid> for Value {
    fn from(v: Uuid) -> Self {
        Value::Guid(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A Counterpoint `'Y'`/`'N'` flag.
pub fn flag(v: bool) -> Value {
    Value::Text(if v { "Y" } else { "N" }.to_owned())
}

/// Builds a parameter array: `&params![a, b, c]` (add `.to_vec()` to extend it).
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { [$($crate::value::Value::from($v)),*] };
}

/// Text form of a datetime in the SQLite replica: exactly three decimals, so that text order is time order.
pub const SQLITE_DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
}

/// Where a row came from, so that a decoding error can name it.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub table: &'static str,
    pub key_columns: &'static [&'static str],
}

/// One result row: column names shared by the rows of a result, and this row's values.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
    source: Option<Source>,
}

impl Row {
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Row { columns, values, source: None }
    }

    /// Names the table and key columns this row came from, for error messages.
    #[must_use]
    pub fn from_table(mut self, table: &'static str, key_columns: &'static [&'static str]) -> Self {
        self.source = Some(Source { table, key_columns });
        self
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.eq_ignore_ascii_case(column))
    }

    /// A description of this row's key, such as `ITEM_NO=A-100, LOC_ID=MAIN`.
    pub fn key(&self) -> String {
        match self.source {
            Some(source) => source
                .key_columns
                .iter()
                .map(|k| {
                    let v = match self.index(k).map(|i| &self.values[i]) {
                        Some(Value::Text(s)) => s.clone(),
                        Some(Value::Int(n)) => n.to_string(),
                        Some(other) => format!("{other:?}"),
                        None => "?".into(),
                    };
                    format!("{k}={v}")
                })
                .collect::<Vec<_>>()
                .join(", "),
            None => "row".into(),
        }
    }

    fn bad(&self, column: &str, detail: impl Into<String>) -> CpError {
        CpError::BadData {
            table: self.source.map_or("query", |s| s.table),
            key: self.key(),
            column: column.to_owned(),
            detail: detail.into(),
        }
    }

    /// The raw value of a column.
    ///
    /// # Errors
    /// `Schema` when the result has no such column.
    pub fn get(&self, column: &str) -> Result<&Value, CpError> {
        self.index(column).map(|i| &self.values[i]).ok_or_else(|| {
            CpError::Schema(format!(
                "column {column} is missing from the result of {}",
                self.source.map_or("a query", |s| s.table)
            ))
        })
    }

    /// A text column, `None` for NULL. Numbers are rendered as text. Trailing blanks are trimmed, as Counterpoint pads
    /// some codes.
    pub fn opt_text(&self, column: &str) -> Result<Option<String>, CpError> {
        Ok(match self.get(column)? {
            Value::Null => None,
            Value::Text(s) => Some(s.trim_end().to_owned()),
            Value::Int(n) => Some(n.to_string()),
            Value::Real(f) => Some(f.to_string()),
            Value::Dec(d) => Some(d.to_string()),
            Value::Guid(g) => Some(g.to_string()),
            Value::DateTime(t) => Some(t.to_string()),
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        })
    }

    /// A required text column.
    pub fn text(&self, column: &str) -> Result<String, CpError> {
        self.opt_text(column)?.ok_or_else(|| self.bad(column, "is NULL"))
    }

    /// A text column where NULL reads as empty.
    pub fn text_or_empty(&self, column: &str) -> Result<String, CpError> {
        Ok(self.opt_text(column)?.unwrap_or_default())
    }

    /// A decimal column, `None` for NULL, rounded to Counterpoint's 4 places (the replica stores floats).
    ///
    /// # Errors
    /// `BadData` naming the row and column when the value is not a number.
    pub fn opt_dec(&self, column: &str) -> Result<Option<Decimal>, CpError> {
        let value = match self.get(column)? {
            Value::Null => return Ok(None),
            Value::Dec(d) => *d,
            Value::Int(n) => Decimal::from(*n),
            Value::Real(f) => {
                Decimal::from_f64(*f).ok_or_else(|| self.bad(column, format!("{f} is not a finite number")))?
            }
            Value::Text(s) if s.trim().is_empty() => return Ok(None),
            Value::Text(s) => Decimal::from_str(s.trim())
                .or_else(|_| Decimal::from_scientific(s.trim()))
                .map_err(|_| self.bad(column, format!("{s:?} is not a number")))?,
            other => return Err(self.bad(column, format!("{other:?} is not a number"))),
        };
        Ok(Some(cpbridge_core::round_money(value)))
    }

    /// A decimal column where NULL reads as zero (Counterpoint quantities).
    pub fn dec_or_zero(&self, column: &str) -> Result<Decimal, CpError> {
        Ok(self.opt_dec(column)?.unwrap_or_default())
    }

    /// A required decimal column.
    pub fn dec(&self, column: &str) -> Result<Decimal, CpError> {
        self.opt_dec(column)?.ok_or_else(|| self.bad(column, "is NULL"))
    }

    /// An integer column, `None` for NULL.
    pub fn opt_i64(&self, column: &str) -> Result<Option<i64>, CpError> {
        Ok(match self.get(column)? {
            Value::Null => None,
            Value::Int(n) => Some(*n),
            Value::Dec(d) if d.fract().is_zero() => {
                Some(i64::try_from(*d).map_err(|_| self.bad(column, "out of range"))?)
            }
            Value::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Value::Text(s) => Some(s.trim().parse().map_err(|_| self.bad(column, format!("{s:?} is not an integer")))?),
            other => return Err(self.bad(column, format!("{other:?} is not an integer"))),
        })
    }

    /// A required integer column.
    pub fn i64(&self, column: &str) -> Result<i64, CpError> {
        self.opt_i64(column)?.ok_or_else(|| self.bad(column, "is NULL"))
    }

    /// A WooCommerce order id column (`WOO_ORDER_ID`).
    pub fn woo_order_id(&self, column: &str) -> Result<WooOrderId, CpError> {
        WooOrderId::try_from(self.i64(column)?).map_err(|e| self.bad(column, e.why))
    }

    /// A staging row id column.
    pub fn staging_id(&self, column: &str) -> Result<StagingId, CpError> {
        self.i64(column).map(StagingId::new)
    }

    /// A datetime column, `None` for NULL.
    pub fn opt_datetime(&self, column: &str) -> Result<Option<NaiveDateTime>, CpError> {
        Ok(match self.get(column)? {
            Value::Null => None,
            Value::DateTime(t) => Some(*t),
            Value::Text(s) if s.trim().is_empty() => None,
            Value::Text(s) => Some(parse_datetime(s).ok_or_else(|| self.bad(column, format!("{s:?} is not a date")))?),
            other => return Err(self.bad(column, format!("{other:?} is not a date"))),
        })
    }

    /// A required datetime column.
    pub fn datetime(&self, column: &str) -> Result<NaiveDateTime, CpError> {
        self.opt_datetime(column)?.ok_or_else(|| self.bad(column, "is NULL"))
    }

    /// A Counterpoint `'Y'`/`'N'` flag; NULL and anything but `Y` read as false.
    pub fn flag(&self, column: &str) -> Result<bool, CpError> {
        Ok(match self.get(column)? {
            Value::Text(s) => s.trim().eq_ignore_ascii_case("Y"),
            Value::Int(n) => *n != 0,
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: Vec<Value>) -> Row {
        let columns: Arc<[String]> = vec!["ITEM_NO".to_owned(), "LOC_ID".to_owned(), "QTY_ON_HND".to_owned()].into();
        Row::new(columns, values).from_table("IM_INV", &["ITEM_NO", "LOC_ID"])
    }

    #[test]
    fn decimals_decode_from_every_sqlite_storage_class() {
        for (value, expected) in [
            (Value::Int(5), "5"),
            (Value::Real(2.675), "2.675"),
            (Value::Text("12.34567".into()), "12.3457"),
            (Value::Dec(Decimal::new(15, 1)), "1.5"),
        ] {
            let r = row(vec!["A".into(), "MAIN".into(), value]);
            assert_eq!(r.dec("QTY_ON_HND").expect("number").to_string(), expected);
        }
    }

    #[test]
    fn a_non_numeric_quantity_names_table_key_and_column() {
        let r = row(vec!["A-100".into(), "MAIN".into(), Value::Text("abc".into())]);
        let err = r.dec("QTY_ON_HND").expect_err("abc is not a number").to_string();
        assert_eq!(err, "bad data in IM_INV (ITEM_NO=A-100, LOC_ID=MAIN), column QTY_ON_HND: \"abc\" is not a number");
    }

    #[test]
    fn a_missing_column_is_a_schema_error() {
        let r = row(vec!["A".into(), "MAIN".into(), Value::Int(1)]);
        assert!(matches!(r.get("QTY_COMMIT"), Err(CpError::Schema(msg)) if msg.contains("QTY_COMMIT")));
    }

    #[test]
    fn datetimes_parse_from_text() {
        let r = Row::new(vec!["D".to_owned()].into(), vec![Value::Text("2026-11-25 05:18:23.120".into())]);
        assert_eq!(r.datetime("D").expect("date").to_string(), "2026-11-25 05:18:23.120");
    }
}
