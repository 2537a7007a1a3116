//! The differences between T-SQL and SQLite, in one place.
//!
//! Statements are written once, in T-SQL's parameter style (`@P1`, `@P2`, ...), and this module renders them for each
//! dialect: placeholders, `TOP` against `LIMIT`, `OUTPUT INSERTED` against `RETURNING`, locking hints, datetime
//! parameters, and the few updates where SQLite must not do decimal arithmetic (it stores `DECIMAL` as a float).
//! Every T-SQL text produced here is unit-tested below, because no SQL Server runs in this project's CI.

/// One lexical piece of a statement, for [`type_varchar_params`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// A name, keyword or number (`h.STA_ID`, `WHERE`, `1`).
    Word(&'a str),
    /// `@P12`.
    Param(&'a str),
    /// A comparison operator.
    Op(&'a str),
    /// Anything else that is not blank: a string literal, a parenthesis, a comma.
    Other(&'a str),
    Blank(&'a str),
}

fn tokens(sql: &str) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
        if c == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            out.push(Token::Other(&sql[start..i]));
        } else if c == b'@' && bytes.get(i + 1) == Some(&b'P') && bytes.get(i + 2).is_some_and(u8::is_ascii_digit) {
            i += 2;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Token::Param(&sql[start..i]));
        } else if word(c) {
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            out.push(Token::Word(&sql[start..i]));
        } else if matches!(c, b'=' | b'<' | b'>' | b'!') {
            while i < bytes.len() && matches!(bytes[i], b'=' | b'<' | b'>' | b'!') {
                i += 1;
            }
            out.push(Token::Op(&sql[start..i]));
        } else if c.is_ascii_whitespace() {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(Token::Blank(&sql[start..i]));
        } else {
            // One character (UTF-8 continuation bytes included), so slices stay on character boundaries.
            i += sql[i..].chars().next().map_or(1, char::len_utf8);
            out.push(Token::Other(&sql[start..i]));
        }
    }
    out
}

/// The longest `VARCHAR` of each column name in the table model, plus one: a parameter cast to it keeps a value
/// that is too long for every column too long to match any of them (a cast to the exact length would cut it, and a
/// cut key could match another row).
fn varchar_cast_lengths() -> &'static std::collections::HashMap<&'static str, u32> {
    static LENGTHS: std::sync::OnceLock<std::collections::HashMap<&'static str, u32>> = std::sync::OnceLock::new();
    LENGTHS.get_or_init(|| {
        let mut lengths = std::collections::HashMap::new();
        for table in crate::schema::TABLES {
            for column in table.columns {
                if let crate::schema::ColType::VarChar(n) = column.ty {
                    let slot = lengths.entry(column.name).or_insert(0);
                    *slot = (*slot).max(n + 1);
                }
            }
        }
        lengths
    })
}

/// Casts every parameter compared with a `VARCHAR` column to `VARCHAR`, on SQL Server.
///
/// tiberius binds Rust strings as `NVARCHAR`. Comparing a `VARCHAR` column with an `NVARCHAR` value under a SQL_*
/// collation converts the column, so SQL Server scans the index instead of seeking, inside transactions that hold
/// locks the registers wait on. Comparisons (`=`, `<>`, `<`, `>`, `LIKE`, `IN (...)`) after `WHERE` or `ON` are
/// rewritten; assignments (`SET c = @P1`) and `VALUES` are not, because a write converts the value, not the column.
pub fn type_varchar_params(sql: &str) -> String {
    let lengths = varchar_cast_lengths();
    let column_length = |word: &str| {
        let name = word.rsplit('.').next().unwrap_or(word);
        lengths.get(name.to_ascii_uppercase().as_str()).copied()
    };
    let mut out = String::with_capacity(sql.len() + 32);
    let mut filtering = false;
    // The last non-blank tokens, newest first.
    let mut recent: Vec<Token<'_>> = Vec::new();
    // The length of the column whose `IN (...)` list we are in, with the list's parenthesis depth.
    let mut in_list: Option<(u32, usize)> = None;
    let mut depth = 0usize;
    for token in tokens(sql) {
        match token {
            Token::Word(w) if w.eq_ignore_ascii_case("WHERE") || w.eq_ignore_ascii_case("ON") => filtering = true,
            Token::Word(w) if w.eq_ignore_ascii_case("SET") => filtering = false,
            Token::Other("(") => {
                depth += 1;
                if let [Token::Word(kw), Token::Word(col), ..] = recent.as_slice()
                    && kw.eq_ignore_ascii_case("IN")
                    && filtering
                    && let Some(n) = column_length(col)
                {
                    in_list = Some((n, depth));
                }
            }
            Token::Other(")") => {
                if in_list.is_some_and(|(_, d)| d == depth) {
                    in_list = None;
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        if let Token::Param(p) = token {
            // A LIKE pattern carries escapes and wildcards besides the value: room for twice the column.
            let pattern = |n: u32| n * 2;
            let compared = match recent.as_slice() {
                [Token::Op(_), Token::Word(col), ..] => column_length(col),
                [Token::Word(like), Token::Word(not), Token::Word(col), ..]
                    if like.eq_ignore_ascii_case("LIKE") && not.eq_ignore_ascii_case("NOT") =>
                {
                    column_length(col).map(pattern)
                }
                [Token::Word(like), Token::Word(col), ..] if like.eq_ignore_ascii_case("LIKE") => {
                    column_length(col).map(pattern)
                }
                _ => None,
            };
            let length = if filtering { compared.or(in_list.map(|(n, _)| n)) } else { None };
            match length {
                Some(n) => out.push_str(&format!("CAST({p} AS VARCHAR({n}))")),
                None => out.push_str(p),
            }
        } else {
            match token {
                Token::Word(t) | Token::Op(t) | Token::Other(t) | Token::Blank(t) => out.push_str(t),
                Token::Param(_) => {}
            }
        }
        if !matches!(token, Token::Blank(_)) {
            recent.insert(0, token);
            recent.truncate(3);
        }
    }
    out
}

/// Which SQL the database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQL Server (Counterpoint's home), through tiberius.
    Mssql,
    /// The SQLite replica.
    Sqlite,
}

impl Dialect {
    /// Renders a shared statement: `@P1` stays `@P1` on SQL Server and becomes `?1` on SQLite (numbered, so a
    /// parameter may be used twice or out of order).
    pub fn render(self, sql: &str) -> String {
        match self {
            Dialect::Mssql => type_varchar_params(sql),
            Dialect::Sqlite => {
                // Works on bytes: the markers are ASCII, and everything else (UTF-8 included) is copied unchanged.
                let bytes = sql.as_bytes();
                let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
                let mut i = 0;
                let mut in_string = false;
                while i < bytes.len() {
                    let c = bytes[i];
                    if c == b'\'' {
                        in_string = !in_string;
                    }
                    if !in_string
                        && c == b'@'
                        && bytes.get(i + 1) == Some(&b'P')
                        && bytes.get(i + 2).is_some_and(u8::is_ascii_digit)
                    {
                        out.push(b'?');
                        i += 2;
                        continue;
                    }
                    // `dbo.X` names the schema on SQL Server; SQLite has none.
                    let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
                    if !in_string && starts_word && bytes[i..].starts_with(b"dbo.") {
                        i += 4;
                        continue;
                    }
                    out.push(c);
                    i += 1;
                }
                String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
        }
    }

    /// `SELECT` with a row limit bound as parameter `limit_param`.
    /// SQL Server: `SELECT TOP (@Pn) cols rest`; SQLite: `SELECT cols rest LIMIT ?n`.
    pub fn select_top(self, limit_param: usize, cols: &str, rest: &str) -> String {
        match self {
            Dialect::Mssql => self.render(&format!("SELECT TOP (@P{limit_param}) {cols} {rest}")),
            Dialect::Sqlite => self.render(&format!("SELECT {cols} {rest} LIMIT @P{limit_param}")),
        }
    }

    /// `INSERT` that returns one generated column.
    pub fn insert_returning(self, table: &str, cols: &[&str], returning: &str) -> String {
        let params: Vec<String> = (1..=cols.len()).map(|i| format!("@P{i}")).collect();
        match self {
            Dialect::Mssql => format!(
                "INSERT INTO {} ({}) OUTPUT INSERTED.{returning} VALUES ({})",
                self.qualify(table),
                cols.join(", "),
                params.join(", ")
            ),
            Dialect::Sqlite => self.render(&format!(
                "INSERT INTO {table} ({}) VALUES ({}) RETURNING {returning}",
                cols.join(", "),
                params.join(", ")
            )),
        }
    }

    /// `UPDATE ... SET set WHERE cond` that returns one column of the updated row.
    pub fn update_returning(self, table: &str, set: &str, returning: &str, cond: &str) -> String {
        match self {
            Dialect::Mssql => self
                .render(&format!("UPDATE {} SET {set} OUTPUT INSERTED.{returning} WHERE {cond}", self.qualify(table))),
            Dialect::Sqlite => self.render(&format!("UPDATE {table} SET {set} WHERE {cond} RETURNING {returning}")),
        }
    }

    /// Table hint that takes an update lock on the rows read, so a read-then-write in one transaction serialises on
    /// SQL Server. It is for speed only: correctness never depends on it (some TDS servers ignore hints), and SQLite
    /// serialises writers with `BEGIN IMMEDIATE` instead.
    pub fn update_lock_hint(self) -> &'static str {
        match self {
            Dialect::Mssql => " WITH (UPDLOCK, ROWLOCK)",
            Dialect::Sqlite => "",
        }
    }

    /// A datetime parameter compared with a `DATETIME` column. SQL Server binds Rust datetimes as `DATETIME2`, and
    /// comparing `DATETIME2` with `DATETIME` converts the column with its 1/300 s ticks, which can make an equal value
    /// look greater; casting the parameter keeps watermarks exact.
    pub fn datetime_param(self, n: usize) -> String {
        match self {
            Dialect::Mssql => format!("CAST(@P{n} AS DATETIME)"),
            Dialect::Sqlite => format!("@P{n}"),
        }
    }

    /// The SQL default for "now, in UTC" in a `DATETIME` column.
    ///
    /// SQLite's text form has exactly three decimals, the same as cpbridge writes, so text comparisons order
    /// correctly.
    pub fn now_default(self) -> &'static str {
        match self {
            Dialect::Mssql => "GETUTCDATE()",
            Dialect::Sqlite => "(strftime('%Y-%m-%d %H:%M:%f','now'))",
        }
    }

    /// Adds quantities to `IM_INV` columns for one `(ITEM_NO, LOC_ID)`.
    ///
    /// SQL Server adds exactly in `DECIMAL(15,4)`, atomically: `SET c = c + @Pn`. SQLite would add floats, so there the
    /// caller has read the row inside its `BEGIN IMMEDIATE` transaction, computed the new values in Rust, and this
    /// writes them: `SET c = ?n`. Parameters: one per column, then `ITEM_NO`, `LOC_ID`, `RS_UTC_DT`.
    pub fn inventory_add(self, columns: &[&str]) -> String {
        let n = columns.len();
        let sets: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| match self {
                Dialect::Mssql => format!("{c} = {c} + @P{}", i + 1),
                Dialect::Sqlite => format!("{c} = @P{}", i + 1),
            })
            .collect();
        self.render(&format!(
            "UPDATE {} SET {}, LST_MAINT_DT = @P{rs}, RS_UTC_DT = @P{rs} WHERE ITEM_NO = @P{item} AND LOC_ID = @P{loc}",
            self.qualify("IM_INV"),
            sets.join(", "),
            item = n + 1,
            loc = n + 2,
            rs = n + 3,
        ))
    }

    /// The query that tells whether a trigger exists (parameter 1: the trigger's name).
    pub fn trigger_exists_query(self) -> &'static str {
        match self {
            Dialect::Mssql => "SELECT name FROM sys.triggers WHERE name = @P1",
            Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
        }
    }

    /// Most parameters one statement may carry (SQL Server allows 2,100; SQLite 32,766).
    pub fn max_params(self) -> usize {
        match self {
            Dialect::Mssql => 2_000,
            Dialect::Sqlite => 32_000,
        }
    }

    /// Most rows one `INSERT ... VALUES` may carry (SQL Server allows 1,000).
    pub fn max_insert_rows(self) -> usize {
        match self {
            Dialect::Mssql => 1_000,
            Dialect::Sqlite => 5_000,
        }
    }

    /// A table name as the dialect wants it: `dbo.X` on SQL Server, `X` on SQLite.
    pub fn qualify(self, table: &str) -> String {
        match self {
            Dialect::Mssql => format!("dbo.{table}"),
            Dialect::Sqlite => table.to_owned(),
        }
    }

    /// A multi-row `INSERT` of `rows` rows into `cols`, numbered `@P1..` row by row.
    ///
    /// On SQLite the placeholders are anonymous `?` (bound in the same order): a driver finds a numbered
    /// parameter's name by a linear scan, which made a 30,000-parameter insert quadratic.
    pub fn insert_values(self, table: &str, cols: &[&str], rows: usize) -> String {
        if self == Dialect::Sqlite {
            let row = format!("({})", vec!["?"; cols.len()].join(", "));
            return format!("INSERT INTO {table} ({}) VALUES {}", cols.join(", "), vec![row.as_str(); rows].join(", "));
        }
        let mut sql = format!("INSERT INTO {} ({}) VALUES ", self.qualify(table), cols.join(", "));
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..cols.len() {
                if c > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push_str(&format!("@P{n}"));
            }
            sql.push(')');
        }
        self.render(&sql)
    }

    /// A list of `count` parameters starting at `first`: `@P3, @P4, @P5`.
    pub fn param_list(self, first: usize, count: usize) -> String {
        let list: Vec<String> = (first..first + count).map(|i| format!("@P{i}")).collect();
        self.render(&list.join(", "))
    }
}

/// Escapes `LIKE` wildcards in a literal prefix, for `LIKE @P1 ESCAPE '\'`.
pub fn like_prefix(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() + 2);
    for c in literal.chars() {
        if matches!(c, '%' | '_' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render_per_dialect_and_skip_string_literals() {
        let sql =
            "SELECT '@P1', 'dbo.X', 'Ünïcode ✓' FROM dbo.T WHERE A = @P1 AND B = @P12 AND C = @P1 AND turbo.x = 1";
        assert_eq!(Dialect::Mssql.render(sql), sql);
        assert_eq!(
            Dialect::Sqlite.render(sql),
            "SELECT '@P1', 'dbo.X', 'Ünïcode ✓' FROM T WHERE A = ?1 AND B = ?12 AND C = ?1 AND turbo.x = 1"
        );
    }

    #[test]
    fn varchar_comparisons_get_varchar_parameters_on_sql_server() {
        let sql = "UPDATE dbo.IM_INV SET QTY_COMMIT = QTY_COMMIT + @P1, LST_MAINT_DT = @P2 \
                   WHERE ITEM_NO = @P3 AND LOC_ID = @P4 AND DOC_ID = @P5";
        assert_eq!(
            Dialect::Mssql.render(sql),
            "UPDATE dbo.IM_INV SET QTY_COMMIT = QTY_COMMIT + @P1, LST_MAINT_DT = @P2 \
             WHERE ITEM_NO = CAST(@P3 AS VARCHAR(21)) AND LOC_ID = CAST(@P4 AS VARCHAR(11)) AND DOC_ID = @P5"
        );
        let sql = "SELECT h.TKT_NO FROM dbo.PS_DOC_HDR h WHERE h.STA_ID = @P1 AND TKT_NO NOT LIKE @P2 ESCAPE '\\' \
                   AND ITEM_NO IN (@P3, @P4) AND 'ITEM_NO = @P9' = 'x'";
        assert_eq!(
            Dialect::Mssql.render(sql),
            "SELECT h.TKT_NO FROM dbo.PS_DOC_HDR h WHERE h.STA_ID = CAST(@P1 AS VARCHAR(11)) AND TKT_NO NOT LIKE \
             CAST(@P2 AS VARCHAR(32)) ESCAPE '\\' AND ITEM_NO IN (CAST(@P3 AS VARCHAR(21)), CAST(@P4 AS VARCHAR(21))) \
             AND 'ITEM_NO = @P9' = 'x'"
        );
        assert_eq!(
            Dialect::Sqlite.render("SELECT 1 FROM IM_INV WHERE ITEM_NO = @P1"),
            "SELECT 1 FROM IM_INV WHERE ITEM_NO = ?1"
        );
    }

    #[test]
    fn top_against_limit() {
        assert_eq!(
            Dialect::Mssql.select_top(2, "ITEM_NO", "FROM dbo.IM_ITEM WHERE ITEM_NO > @P1 ORDER BY ITEM_NO"),
            "SELECT TOP (@P2) ITEM_NO FROM dbo.IM_ITEM WHERE ITEM_NO > CAST(@P1 AS VARCHAR(21)) ORDER BY ITEM_NO"
        );
        assert_eq!(
            Dialect::Sqlite.select_top(2, "ITEM_NO", "FROM IM_ITEM WHERE ITEM_NO > @P1 ORDER BY ITEM_NO"),
            "SELECT ITEM_NO FROM IM_ITEM WHERE ITEM_NO > ?1 ORDER BY ITEM_NO LIMIT ?2"
        );
    }

    #[test]
    fn output_inserted_against_returning() {
        assert_eq!(
            Dialect::Mssql.insert_returning("USER_INV_CHANGES", &["ITEM_NO", "LOC_ID"], "CHANGE_ID"),
            "INSERT INTO dbo.USER_INV_CHANGES (ITEM_NO, LOC_ID) OUTPUT INSERTED.CHANGE_ID VALUES (@P1, @P2)"
        );
        assert_eq!(
            Dialect::Sqlite.insert_returning("USER_INV_CHANGES", &["ITEM_NO", "LOC_ID"], "CHANGE_ID"),
            "INSERT INTO USER_INV_CHANGES (ITEM_NO, LOC_ID) VALUES (?1, ?2) RETURNING CHANGE_ID"
        );
        assert_eq!(
            Dialect::Mssql.update_returning("USER_DOC_COUNTER", "NEXT_NO = NEXT_NO + 1", "NEXT_NO", "COUNTER_ID = @P1"),
            "UPDATE dbo.USER_DOC_COUNTER SET NEXT_NO = NEXT_NO + 1 OUTPUT INSERTED.NEXT_NO WHERE COUNTER_ID = \
             CAST(@P1 AS VARCHAR(41))"
        );
        assert_eq!(
            Dialect::Sqlite.update_returning(
                "USER_DOC_COUNTER",
                "NEXT_NO = NEXT_NO + 1",
                "NEXT_NO",
                "COUNTER_ID = @P1"
            ),
            "UPDATE USER_DOC_COUNTER SET NEXT_NO = NEXT_NO + 1 WHERE COUNTER_ID = ?1 RETURNING NEXT_NO"
        );
    }

    #[test]
    fn locking_hints_and_datetime_parameters() {
        assert_eq!(Dialect::Mssql.update_lock_hint(), " WITH (UPDLOCK, ROWLOCK)");
        assert_eq!(Dialect::Sqlite.update_lock_hint(), "");
        assert_eq!(Dialect::Mssql.datetime_param(3), "CAST(@P3 AS DATETIME)");
        assert_eq!(Dialect::Sqlite.render(&Dialect::Sqlite.datetime_param(3)), "?3");
    }

    #[test]
    fn inventory_is_added_exactly_in_tsql_and_written_absolutely_in_sqlite() {
        assert_eq!(
            Dialect::Mssql.inventory_add(&["QTY_COMMIT", "QTY_ON_ORD"]),
            "UPDATE dbo.IM_INV SET QTY_COMMIT = QTY_COMMIT + @P1, QTY_ON_ORD = QTY_ON_ORD + @P2, LST_MAINT_DT = @P5, \
             RS_UTC_DT = @P5 WHERE ITEM_NO = CAST(@P3 AS VARCHAR(21)) AND LOC_ID = CAST(@P4 AS VARCHAR(11))"
        );
        assert_eq!(
            Dialect::Sqlite.inventory_add(&["QTY_COMMIT", "QTY_ON_ORD"]),
            "UPDATE IM_INV SET QTY_COMMIT = ?1, QTY_ON_ORD = ?2, LST_MAINT_DT = ?5, RS_UTC_DT = ?5 WHERE ITEM_NO = ?3 \
             AND LOC_ID = ?4"
        );
    }

    #[test]
    fn multi_row_insert_numbers_parameters_row_by_row() {
        assert_eq!(
            Dialect::Mssql.insert_values("IM_LOC", &["LOC_ID", "DESCR"], 2),
            "INSERT INTO dbo.IM_LOC (LOC_ID, DESCR) VALUES (@P1, @P2), (@P3, @P4)"
        );
        assert_eq!(
            Dialect::Sqlite.insert_values("IM_LOC", &["LOC_ID", "DESCR"], 2),
            "INSERT INTO IM_LOC (LOC_ID, DESCR) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(Dialect::Sqlite.param_list(3, 2), "?3, ?4");
    }

    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(like_prefix("WEB1-000042"), "WEB1-000042%");
        assert_eq!(like_prefix("A_B%[C"), "A\\_B\\%\\[C%");
    }
}
