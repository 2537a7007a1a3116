//! The live shape of Counterpoint's tables, and the one way cpbridge builds a row for them.
//!
//! Counterpoint versions differ (8.4 to 8.6), and shops add `USER_` columns, so the table model in [`crate::schema`]
//! is a floor, not the truth. [`LiveSchema`] is read from the database (`INFORMATION_SCHEMA.COLUMNS` on SQL Server,
//! `pragma_table_xinfo` on the replica) at start-up and in `doctor`. [`Insert`] builds every row cpbridge writes into
//! a Counterpoint table as `column = value` pairs: it refuses a column the model does not list for the insert, fits
//! text to the live length, rounds decimals to the column's scale, and refuses a row that leaves a required column
//! empty, naming the table and the column.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::dialect::Dialect;
use crate::error::{CpError, CpResult};
use crate::schema::{ColType, Column, TABLES, Table};
use crate::value::{Row, Value};

/// One column as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    /// `VARCHAR(n)`'s n; `None` for other types and `MAX`.
    pub max_len: Option<usize>,
    pub not_null: bool,
    pub has_default: bool,
    /// Filled by the database itself: identity, computed, `rowversion`.
    pub automatic: bool,
}

impl LiveColumn {
    /// A column every insert must name: NOT NULL, no default, not filled by the database.
    pub fn required(&self) -> bool {
        self.not_null && !self.has_default && !self.automatic
    }
}

/// The columns of cpbridge's tables as the database has them, keyed by table then column (upper case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveSchema {
    pub tables: BTreeMap<String, BTreeMap<String, LiveColumn>>,
    /// How new documents get their `DOC_ID` in this database.
    pub doc_ids: crate::docid_fn::DocIdSource,
}

/// A required column of a table cpbridge inserts into that its insert does not fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfilledColumn {
    pub table: String,
    pub column: String,
}

impl LiveSchema {
    /// The query that reads the live columns of every table in the model, in one round trip. Table names are the
    /// model's constants, so they are written into the statement rather than bound.
    pub fn query(dialect: Dialect) -> String {
        let names: Vec<String> = TABLES.iter().map(|t| format!("'{}'", t.name)).collect();
        let names = names.join(", ");
        match dialect {
            Dialect::Mssql => format!(
                "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.CHARACTER_MAXIMUM_LENGTH AS MAX_LEN, \
                 CASE WHEN c.IS_NULLABLE = 'NO' THEN 1 ELSE 0 END AS NOT_NULL, \
                 CASE WHEN c.COLUMN_DEFAULT IS NULL THEN 0 ELSE 1 END AS HAS_DEFAULT, \
                 CASE WHEN COLUMNPROPERTY(OBJECT_ID(N'dbo.' + c.TABLE_NAME), c.COLUMN_NAME, 'IsComputed') = 1 \
                 OR COLUMNPROPERTY(OBJECT_ID(N'dbo.' + c.TABLE_NAME), c.COLUMN_NAME, 'IsIdentity') = 1 \
                 OR c.DATA_TYPE IN ('timestamp', 'rowversion') THEN 1 ELSE 0 END AS AUTOMATIC \
                 FROM INFORMATION_SCHEMA.COLUMNS c WHERE c.TABLE_SCHEMA = 'dbo' AND c.TABLE_NAME IN ({names})"
            ),
            Dialect::Sqlite => format!(
                "SELECT m.name AS TABLE_NAME, p.name AS COLUMN_NAME, p.type AS DATA_TYPE, NULL AS MAX_LEN, \
                 p.\"notnull\" AS NOT_NULL, CASE WHEN p.dflt_value IS NULL THEN 0 ELSE 1 END AS HAS_DEFAULT, \
                 CASE WHEN p.hidden IN (2, 3) THEN 1 ELSE 0 END AS AUTOMATIC \
                 FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p \
                 WHERE m.type = 'table' AND m.name IN ({names})"
            ),
        }
    }

    /// Builds the live schema from the rows of [`LiveSchema::query`].
    ///
    /// # Errors
    /// A row the query cannot have produced (a missing name).
    pub fn from_rows(rows: Vec<Row>) -> CpResult<LiveSchema> {
        let mut live = LiveSchema::default();
        for row in rows {
            let table = row.text("TABLE_NAME")?.to_ascii_uppercase();
            let column = row.text("COLUMN_NAME")?.to_ascii_uppercase();
            let data_type = row.opt_text("DATA_TYPE")?.unwrap_or_default();
            let max_len = match row.opt_i64("MAX_LEN")? {
                Some(n) if n > 0 && is_varchar(&data_type) => usize::try_from(n).ok(),
                Some(_) => None,
                None => declared_length(&data_type),
            };
            // The replica's identity columns are SQLite rowid aliases, which pragma does not mark.
            let identity = crate::schema::table(&table).and_then(|t| t.column(&column)).is_some_and(|c| c.identity);
            let info = LiveColumn {
                max_len,
                not_null: row.opt_i64("NOT_NULL")?.unwrap_or(0) != 0,
                has_default: row.opt_i64("HAS_DEFAULT")?.unwrap_or(0) != 0,
                automatic: identity || row.opt_i64("AUTOMATIC")?.unwrap_or(0) != 0,
            };
            live.tables.entry(table).or_default().insert(column, info);
        }
        Ok(live)
    }

    pub fn column(&self, table: &str, column: &str) -> Option<&LiveColumn> {
        self.tables.get(table).and_then(|t| t.get(column))
    }

    /// Every required live column of a table cpbridge inserts into that the insert leaves out: each one would make
    /// every order (or customer) fail, one by one, so cpbridge refuses to start instead.
    pub fn unfilled_required(&self) -> Vec<UnfilledColumn> {
        let mut unfilled = Vec::new();
        for table in TABLES.iter().filter(|t| !t.inserts.is_empty()) {
            let Some(columns) = self.tables.get(table.name) else { continue };
            for (name, column) in columns {
                if column.required() && !table.inserts_column(name) {
                    unfilled.push(UnfilledColumn { table: table.name.to_owned(), column: name.clone() });
                }
            }
        }
        unfilled
    }
}

fn is_varchar(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    t.contains("char")
}

/// `n` of a declared `VARCHAR(n)` (the replica's pragma gives the declared type).
fn declared_length(data_type: &str) -> Option<usize> {
    let t = data_type.to_ascii_uppercase();
    if !t.contains("CHAR(") {
        return None;
    }
    let open = t.find('(')?;
    let close = t[open..].find(')')? + open;
    t[open + 1..close].trim().parse().ok()
}

/// The length SQL Server gives a string stored in a `VARCHAR` column. The value travels as UTF-16 and each code unit
/// becomes one character of the column's code page (`?` where it has none), so an emoji takes two places, not one.
pub fn varchar_len(value: &str) -> usize {
    value.encode_utf16().count()
}

/// The longest prefix of `value` (whole characters) that fits `max` places of a `VARCHAR`.
pub fn varchar_prefix(value: &str, max: usize) -> &str {
    let mut used = 0;
    for (at, c) in value.char_indices() {
        used += c.len_utf16();
        if used > max {
            return &value[..at];
        }
    }
    value
}

/// `text` cut to `max` places of `table.column` where cutting is harmless (names, addresses); the cut is logged with
/// `what`, the record it belongs to.
pub(crate) fn cut_to_fit(table: &str, column: &str, max: Option<usize>, text: &str, what: &str) -> String {
    match max {
        Some(max) if varchar_len(text) > max => {
            tracing::warn!(table, column, max, what, "value cut to fit {table}.{column} ({max} characters)");
            varchar_prefix(text, max).trim_end().to_owned()
        }
        _ => text.to_owned(),
    }
}

/// The error for a value that must not be cut (keys, e-mail addresses) and is longer than `max` places of
/// `table.column`, naming the record (`what`), the column and both lengths.
pub(crate) fn too_long(table: &str, column: &str, max: Option<usize>, text: &str, what: &str) -> Option<CpError> {
    let max = max?;
    (varchar_len(text) > max).then(|| CpError::Invalid {
        what: what.to_owned(),
        detail: format!("{table}.{column} holds at most {max} characters, and {text:?} has {}", varchar_len(text)),
    })
}

/// A column's length in the model (`VARCHAR(n)`'s n).
pub(crate) fn model_len(table: &Table, column: &str) -> Option<usize> {
    match table.column(column).map(|c| c.ty) {
        Some(ColType::VarChar(n)) => Some(n as usize),
        _ => None,
    }
}

/// A column's length: the live one where the schema was read, else the model's.
fn max_len(table: &Table, column: &Column, live: Option<&LiveSchema>) -> Option<usize> {
    if let Some(c) = live.and_then(|l| l.column(table.name, column.name)) {
        return c.max_len;
    }
    match column.ty {
        ColType::VarChar(n) => Some(n as usize),
        _ => None,
    }
}

/// One row for one of Counterpoint's tables, built as `column = value` pairs.
///
/// Problems are collected as the row is built and reported by [`Insert::finish`], so a chain of `set` calls reads
/// like the row it writes.
pub struct Insert<'a> {
    table: &'static Table,
    live: Option<&'a LiveSchema>,
    what: String,
    columns: Vec<&'static str>,
    values: Vec<Value>,
    problem: Option<CpError>,
}

impl<'a> Insert<'a> {
    /// A new row for `table`; `what` names the record in every error and log line ("WooCommerce order 1234 ...").
    pub fn into(table: &'static Table, live: Option<&'a LiveSchema>, what: impl Into<String>) -> Self {
        Insert { table, live, what: what.into(), columns: Vec::new(), values: Vec::new(), problem: None }
    }

    fn model(&mut self, column: &'static str) -> Option<&'static Column> {
        let found = self.table.column(column).filter(|_| self.table.inserts_column(column));
        if found.is_none() && self.problem.is_none() {
            self.problem = Some(CpError::Schema(format!(
                "cpbridge's insert into {} names {column}, which the table model does not list for it",
                self.table.name
            )));
        }
        found
    }

    fn push(&mut self, column: &'static str, value: Value) -> &mut Self {
        self.columns.push(column);
        self.values.push(value);
        self
    }

    /// A value as it is: numbers are rounded to the column's scale (half away from zero) and checked against its
    /// precision; text is refused when it does not fit (see [`Insert::fit`] for text that may be cut).
    pub fn set(mut self, column: &'static str, value: impl Into<Value>) -> Self {
        let Some(model) = self.model(column) else { return self };
        let value = match (value.into(), model.ty) {
            (Value::Dec(d), ColType::Dec(precision, scale)) => self.decimal(column, d, precision, scale),
            (Value::Text(text), _) => self.exact_text(model, text),
            (other, _) => other,
        };
        self.push(column, value);
        self
    }

    /// Text that may be cut where it is harmless (names, addresses, descriptions); the cut is logged. Empty text is
    /// written as NULL.
    pub fn fit(mut self, column: &'static str, value: Option<&str>) -> Self {
        let Some(model) = self.model(column) else { return self };
        let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            self.push(column, Value::Null);
            return self;
        };
        let value = cut_to_fit(self.table.name, column, max_len(self.table, model, self.live), text, &self.what);
        self.push(column, Value::Text(value));
        self
    }

    fn exact_text(&mut self, model: &Column, text: String) -> Value {
        let max = max_len(self.table, model, self.live);
        if self.problem.is_none() {
            self.problem = too_long(self.table.name, model.name, max, &text, &self.what);
        }
        Value::Text(text)
    }

    fn decimal(&mut self, column: &str, value: Decimal, precision: u8, scale: u8) -> Value {
        let rounded = value.round_dp_with_strategy(u32::from(scale), RoundingStrategy::MidpointAwayFromZero);
        let digits = u32::from(precision.saturating_sub(scale));
        let limit = Decimal::from(10u64.pow(digits.min(18)));
        if rounded.abs() >= limit && self.problem.is_none() {
            self.problem = Some(CpError::Invalid {
                what: self.what.clone(),
                detail: format!("{}.{column} is DECIMAL({precision},{scale}) and cannot hold {value}", self.table.name),
            });
        }
        Value::Dec(rounded)
    }

    /// The finished row: `(INSERT statement, parameters)`.
    ///
    /// # Errors
    /// The first problem met while building ([`CpError::Invalid`] for a value that does not fit), or
    /// [`CpError::Schema`] when the row leaves out a column the model lists for the insert, or a column the live
    /// table requires, naming the table and the column.
    pub fn finish(self, dialect: Dialect) -> CpResult<(String, Vec<Value>)> {
        let table = self.table.name;
        let (columns, values) = self.finish_pairs()?;
        Ok((dialect.insert_values(table, &columns, 1), values))
    }

    /// The finished row as its columns and values, for an `UPDATE` of the same columns.
    ///
    /// # Errors
    /// As [`Insert::finish`].
    pub fn finish_pairs(self) -> CpResult<(Vec<&'static str>, Vec<Value>)> {
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        let missing: Vec<&str> =
            self.table.inserts.iter().map(|(c, _)| *c).filter(|c| !self.columns.contains(c)).collect();
        if !missing.is_empty() {
            return Err(CpError::Schema(format!(
                "{}: the insert into {} leaves out {}",
                self.what,
                self.table.name,
                missing.join(", ")
            )));
        }
        for (i, column) in self.columns.iter().enumerate() {
            let required = self
                .live
                .and_then(|l| l.column(self.table.name, column))
                .map_or_else(|| self.table.column(column).is_some_and(|c| c.not_null), |c| c.not_null);
            if required && self.values[i] == Value::Null {
                return Err(CpError::Invalid {
                    what: self.what,
                    detail: format!("{}.{column} is required, and there is no value for it", self.table.name),
                });
            }
        }
        Ok((self.columns, self.values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{PS_DOC_CONTACT, PS_DOC_PMT};
    use rust_decimal_macros::dec;

    #[test]
    fn lengths_are_counted_as_sql_server_stores_them() {
        assert_eq!(varchar_len("Zoë"), 3);
        assert_eq!(varchar_len("🎁 gift"), 7, "an emoji is two UTF-16 units");
        assert_eq!(varchar_prefix("ab🎁cd", 3), "ab", "never half an emoji");
        assert_eq!(declared_length("VARCHAR(20)"), Some(20));
        assert_eq!(declared_length("DECIMAL(15,2)"), None);
    }

    #[test]
    fn a_row_that_leaves_out_a_listed_column_is_refused_by_name() {
        let err = Insert::into(&PS_DOC_CONTACT, None, "order 1")
            .set("DOC_ID", 1i64)
            .set("CONTACT_ID", 1i64)
            .finish(Dialect::Mssql)
            .expect_err("incomplete");
        assert!(err.to_string().contains("leaves out NAM, NAM_TYP"), "{err}");
    }

    #[test]
    fn columns_outside_the_model_are_refused() {
        let err = Insert::into(&PS_DOC_PMT, None, "order 1").set("LST_MAINT_DT", 1i64).finish(Dialect::Mssql);
        assert!(err.expect_err("not a column").to_string().contains("PS_DOC_PMT names LST_MAINT_DT"));
    }

    #[test]
    fn money_is_rounded_to_the_column_and_bounded() {
        let mut row = Insert::into(&PS_DOC_PMT, None, "order 1");
        assert_eq!(row.decimal("AMT", dec!(10.005), 15, 2), Value::Dec(dec!(10.01)));
        assert!(row.problem.is_none());
        row.decimal("AMT", dec!(10000000000000), 15, 2);
        assert!(row.problem.expect("too big").to_string().contains("DECIMAL(15,2)"));
    }

    #[test]
    fn live_lengths_win_over_the_model() {
        let mut live = LiveSchema::default();
        let short = LiveColumn { max_len: Some(5), not_null: false, has_default: false, automatic: false };
        live.tables.entry("PS_DOC_CONTACT".into()).or_default().insert("CITY".into(), short);
        let row = Insert::into(&PS_DOC_CONTACT, Some(&live), "order 1").fit("CITY", Some("San Francisco"));
        assert_eq!(row.values, vec![Value::Text("San F".into())]);
    }

    #[test]
    fn a_required_live_column_outside_the_insert_is_named() {
        let mut live = LiveSchema::default();
        let required = LiveColumn { max_len: Some(8), not_null: true, has_default: false, automatic: false };
        let defaulted = LiveColumn { has_default: true, ..required.clone() };
        let pmt = live.tables.entry("PS_DOC_PMT".into()).or_default();
        pmt.insert("USER_WEB_REF".into(), required.clone());
        pmt.insert("USER_OK".into(), defaulted);
        pmt.insert("AMT".into(), required);
        assert_eq!(
            live.unfilled_required(),
            vec![UnfilledColumn { table: "PS_DOC_PMT".into(), column: "USER_WEB_REF".into() }]
        );
    }
}
