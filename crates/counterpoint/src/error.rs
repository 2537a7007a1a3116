//! Errors of the Counterpoint port.
//!
//! A variant exists where a caller reacts differently: retry (`Unavailable`, `Deadlock`, `Busy`), treat as "already
//! there" (`DuplicateKey`), tell an operator to fix the database (`Schema`), or dead-letter the record that carries
//! bad data (`BadData`, `Invalid`). Everything else is `Sql`, with context naming the statement's purpose.

/// An error from the Counterpoint database or from the data in it.
#[derive(Debug, thiserror::Error)]
pub enum CpError {
    /// The database cannot be reached or the connection broke.
    #[error("cannot reach the Counterpoint database at {target}: {detail}")]
    Unavailable { target: String, detail: String },

    /// SQL Server chose this transaction as a deadlock victim (error 1205); it was rolled back and may be retried.
    #[error("deadlock while {context} (SQL Server error 1205); the transaction was rolled back")]
    Deadlock { context: String },

    /// A lock could not be had in time (SQL Server 1222, SQLite `SQLITE_BUSY`); retry later.
    #[error("the database was busy while {context}: {detail}")]
    Busy { context: String, detail: String },

    /// A unique key already holds this value (SQL Server 2627 or 2601, SQLite `UNIQUE constraint failed`).
    #[error("duplicate key while {context}: {detail}")]
    DuplicateKey { context: String, detail: String },

    /// A table, column or trigger that cpbridge needs is missing.
    #[error("the Counterpoint database schema is not what cpbridge needs: {0}")]
    Schema(String),

    /// A row holds a value cpbridge cannot use (a non-numeric quantity, an unknown status).
    #[error("bad data in {table} ({key}), column {column}: {detail}")]
    BadData { table: &'static str, key: String, column: String, detail: String },

    /// A value cpbridge was asked to write does not fit Counterpoint (too long, out of range).
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },

    /// Any other database error.
    #[error("database error while {context}: {detail}")]
    Sql { context: String, detail: String, code: Option<u32> },
}

impl CpError {
    /// Whether trying the same work again later can succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CpError::Unavailable { .. } | CpError::Deadlock { .. } | CpError::Busy { .. })
    }

    /// Prefixes the context of a statement-level error, or of a value that does not fit, with what the caller was
    /// doing ("applying staged order 7").
    #[must_use]
    pub fn context(self, doing: impl std::fmt::Display) -> Self {
        match self {
            CpError::Deadlock { context } => CpError::Deadlock { context: format!("{doing}: {context}") },
            CpError::Busy { context, detail } => CpError::Busy { context: format!("{doing}: {context}"), detail },
            CpError::DuplicateKey { context, detail } => {
                CpError::DuplicateKey { context: format!("{doing}: {context}"), detail }
            }
            CpError::Sql { context, detail, code } => {
                CpError::Sql { context: format!("{doing}: {context}"), detail, code }
            }
            CpError::Invalid { what, detail } => CpError::Invalid { what: format!("{doing}: {what}"), detail },
            // These already name what they are about: the server, the schema, the row and column.
            other @ (CpError::Unavailable { .. } | CpError::Schema(_) | CpError::BadData { .. }) => other,
        }
    }
}

pub type CpResult<T> = Result<T, CpError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_what_the_caller_was_doing() {
        let invalid = CpError::Invalid { what: "PS_DOC_LIN.ITEM_NO".into(), detail: "longer than 20".into() };
        assert_eq!(
            invalid.context("applying staged order 7").to_string(),
            "applying staged order 7: PS_DOC_LIN.ITEM_NO: longer than 20"
        );
        let sql = CpError::Sql { context: "inserting PS_DOC_HDR".into(), detail: "boom".into(), code: None };
        assert_eq!(
            sql.context("applying staged order 7").to_string(),
            "database error while applying staged order 7: inserting PS_DOC_HDR: boom"
        );
        let schema = CpError::Schema("USER_ORDER_STAGING is missing".into());
        assert_eq!(
            schema.context("x").to_string(),
            CpError::Schema("USER_ORDER_STAGING is missing".into()).to_string()
        );
    }
}
