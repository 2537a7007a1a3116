//! The table model ([`crate::schema`]) rendered as SQL in each dialect: the replica's DDL, cpbridge's install scripts
//! and triggers for SQL Server, the test fixture for a blank SQL Server, and the reference of what cpbridge writes.

use crate::dialect::Dialect;
use crate::schema::ColType::*;
use crate::schema::*;

/// What cpbridge writes to Counterpoint's own tables, table by table and column by column, from the model's insert
/// lists: the reference a DBA reads before letting cpbridge in (`sql/counterpoint-writes.md`).
pub fn writes_reference() -> String {
    let mut out = String::from(
        "# What cpbridge writes to Counterpoint\n\n\
         Generated from `crates/counterpoint/src/schema/` (the insert lists that the insert builder enforces on every \
         row); refresh with `CPBRIDGE_BLESS=1 cargo test -p cpbridge-counterpoint`. Types and NULL rules are the \
         model's (`shared/counterpoint-columns.sql`); at start-up cpbridge reads the live ones, fits text to the live \
         lengths, and refuses to start when a live table requires a column that is not listed here.\n\n\
         cpbridge never inserts into `IM_INV` (stock rows are Counterpoint's). It only updates ",
    );
    out.push_str(&ORDER_COMMIT_COLUMNS.map(|c| format!("`{c}`")).join(" and "));
    out.push_str(
        " of existing rows, adding an open order's quantities at its stock location and taking them back when the \
         order is cancelled.\n",
    );
    for table in TABLES.iter().filter(|t| t.owner == Owner::Counterpoint && !t.inserts.is_empty()) {
        out.push_str(&format!(
            "\n## {}\n\n| column | type | NULL | what cpbridge writes |\n|---|---|---|---|\n",
            table.name
        ));
        for (name, meaning) in table.inserts {
            let Some(column) = table.column(name) else { continue };
            let null = match (column.not_null, column.default) {
                (false, _) => "NULL".to_owned(),
                (true, ColDefault::None) => "NOT NULL".to_owned(),
                (true, d) => format!("NOT NULL, default {}", default_sql(Dialect::Mssql, d).unwrap_or_default()),
            };
            out.push_str(&format!("| `{name}` | {} | {null} | {meaning} |\n", sql_type(Dialect::Mssql, column.ty)));
        }
        let unwritten: Vec<&str> = table.columns.iter().map(|c| c.name).filter(|c| !table.inserts_column(c)).collect();
        if !unwritten.is_empty() {
            out.push_str(&format!("\nLeft to their defaults or NULL: {}.\n", unwritten.join(", ")));
        }
    }
    out
}

/// Name of the trigger that feeds `USER_INV_CHANGES` on SQL Server.
pub const MSSQL_INV_TRIGGER: &str = "USER_TR_IM_INV_CHANGES";

/// Name of the trigger that feeds `USER_INV_CHANGES` from grid cells on SQL Server.
pub const MSSQL_INV_CELL_TRIGGER: &str = "USER_TR_IM_INV_CELL_CHANGES";

/// The triggers that feed `USER_INV_CHANGES` in a dialect, as `verify_schema` looks for them.
pub fn inv_trigger_names(dialect: Dialect) -> Vec<String> {
    match dialect {
        Dialect::Mssql => vec![MSSQL_INV_TRIGGER.to_owned(), MSSQL_INV_CELL_TRIGGER.to_owned()],
        Dialect::Sqlite => ["USER_TR_IM_INV_CHANGES", "USER_TR_IM_INV_CELL_CHANGES"]
            .iter()
            .flat_map(|base| ["I", "U", "D"].iter().map(move |op| format!("{base}_{op}")))
            .collect(),
    }
}

/// A stock table the change feed follows: its key, and the columns whose change can move web stock.
struct FedTable {
    table: &'static str,
    trigger: &'static str,
    key: &'static [&'static str],
    watched: &'static [&'static str],
}

const FED_TABLES: [FedTable; 2] = [
    FedTable {
        table: "IM_INV",
        trigger: MSSQL_INV_TRIGGER,
        key: &["ITEM_NO", "LOC_ID"],
        watched: &["QTY_ON_HND", "QTY_COMMIT"],
    },
    FedTable {
        table: "IM_INV_CELL",
        trigger: MSSQL_INV_CELL_TRIGGER,
        key: &["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"],
        watched: &["QTY_ON_HND", "QTY_COMMIT", "IS_ECOMM_ITEM_CELL"],
    },
];

fn sql_type(dialect: Dialect, ty: ColType) -> String {
    match (dialect, ty) {
        (_, VarChar(n)) => format!("VARCHAR({n})"),
        (Dialect::Mssql, Text) => "VARCHAR(MAX)".into(),
        (Dialect::Mssql, NText) => "NVARCHAR(MAX)".into(),
        (Dialect::Sqlite, Text | NText | Guid) => "TEXT".into(),
        (Dialect::Mssql, BigInt) => "BIGINT".into(),
        (Dialect::Mssql, Int) => "INT".into(),
        (Dialect::Mssql, SmallInt) => "SMALLINT".into(),
        (Dialect::Mssql, TinyInt) => "TINYINT".into(),
        (Dialect::Mssql, Bit) => "BIT".into(),
        (Dialect::Sqlite, BigInt | Int | SmallInt | TinyInt | Bit) => "INTEGER".into(),
        (_, Dec(p, s)) => format!("DECIMAL({p},{s})"),
        (_, DateTime) => "DATETIME".into(),
        (Dialect::Mssql, Guid) => "UNIQUEIDENTIFIER".into(),
        (Dialect::Mssql, Blob) => "VARBINARY(MAX)".into(),
        (Dialect::Sqlite, Blob) => "BLOB".into(),
    }
}

fn default_sql(dialect: Dialect, default: ColDefault) -> Option<String> {
    match default {
        ColDefault::None => None,
        ColDefault::Zero => Some("0".into()),
        ColDefault::Str(s) if s.chars().all(|c| c.is_ascii_digit()) => Some(s.into()),
        ColDefault::Str(s) => Some(format!("'{s}'")),
        ColDefault::Now => Some(dialect.now_default().into()),
    }
}

/// One column's definition in a `CREATE TABLE` or `ALTER TABLE ... ADD`.
pub fn column_sql(dialect: Dialect, table: &Table, column: &Column) -> String {
    if let Some(expr) = column.computed {
        return match dialect {
            Dialect::Mssql => format!("{} AS ({expr})", column.name),
            Dialect::Sqlite => {
                format!("{} {} GENERATED ALWAYS AS ({expr}) VIRTUAL", column.name, sql_type(dialect, column.ty))
            }
        };
    }
    if column.identity {
        return match dialect {
            Dialect::Mssql => format!("{} BIGINT IDENTITY(1,1) NOT NULL", column.name),
            Dialect::Sqlite => format!("{} INTEGER PRIMARY KEY AUTOINCREMENT", column.name),
        };
    }
    let mut sql = format!("{} {}", column.name, sql_type(dialect, column.ty));
    if column.not_null {
        sql.push_str(" NOT NULL");
    }
    if let Some(default) = default_sql(dialect, column.default) {
        match dialect {
            Dialect::Mssql => sql.push_str(&format!(" CONSTRAINT DF_{}_{} DEFAULT {default}", table.name, column.name)),
            Dialect::Sqlite => sql.push_str(&format!(" DEFAULT {default}")),
        }
    }
    // SQLite ignores declared lengths; the replica must refuse what SQL Server refuses.
    if let (Dialect::Sqlite, VarChar(n)) = (dialect, column.ty) {
        sql.push_str(&format!(" CHECK (length({}) <= {n})", column.name));
    }
    sql
}

/// `CREATE TABLE` for one table (without indexes).
pub fn create_table_sql(dialect: Dialect, table: &Table) -> String {
    let mut parts: Vec<String> =
        table.columns.iter().map(|c| format!("    {}", column_sql(dialect, table, c))).collect();
    let has_identity_pk = table.columns.iter().any(|c| c.identity);
    if !(dialect == Dialect::Sqlite && has_identity_pk) {
        parts.push(format!("    CONSTRAINT PK_{} PRIMARY KEY ({})", table.name, table.primary_key.join(", ")));
    }
    let qualified = dialect.qualify(table.name);
    format!("CREATE TABLE {qualified} (\n{}\n)", parts.join(",\n"))
}

/// `CREATE [UNIQUE] INDEX` statements for one table.
pub fn create_index_sql(dialect: Dialect, table: &Table) -> Vec<String> {
    table
        .indexes
        .iter()
        .map(|(name, cols, unique)| {
            let unique = if *unique { "UNIQUE " } else { "" };
            format!("CREATE {unique}INDEX {name} ON {} ({})", dialect.qualify(table.name), cols.join(", "))
        })
        .collect()
}

/// The SQLite replica: every table, its indexes, and the triggers that stand in for Counterpoint's replication
/// (`RS_UTC_DT` kept current) and for cpbridge's `IM_INV` change trigger.
pub fn sqlite_replica_ddl() -> String {
    let mut out = String::from(
        "-- The SQLite replica of the Counterpoint tables cpbridge touches, generated from \
         crates/counterpoint/src/schema/.\n-- Column names and meanings are Counterpoint's; see shared/COUNTERPOINT.md.\n\n",
    );
    for table in TABLES {
        out.push_str(&create_table_sql(Dialect::Sqlite, table));
        out.push_str(";\n");
        for index in create_index_sql(Dialect::Sqlite, table) {
            out.push_str(&index);
            out.push_str(";\n");
        }
        if table.touches_rs_utc_dt {
            // Counterpoint's replication triggers keep RS_UTC_DT current; the replica does the same, unless the
            // writer set RS_UTC_DT itself.
            out.push_str(&format!(
                "CREATE TRIGGER RS_TOUCH_{name} AFTER UPDATE ON {name} WHEN NEW.RS_UTC_DT IS OLD.RS_UTC_DT\nBEGIN\n    \
                 UPDATE {name} SET RS_UTC_DT = {now} WHERE rowid = NEW.rowid;\nEND;\n",
                name = table.name,
                now = Dialect::Sqlite.now_default(),
            ));
        }
        out.push('\n');
    }
    let now = Dialect::Sqlite.now_default();
    out.push_str(
        "-- cpbridge's change feed: every IM_INV and IM_INV_CELL change that can move web stock, from any writer.\n",
    );
    for fed in &FED_TABLES {
        let cols = fed.key.join(", ");
        let values = |row: &str| fed.key.iter().map(|k| format!("{row}.{k}")).collect::<Vec<_>>().join(", ");
        let changed = fed
            .watched
            .iter()
            .chain(fed.key)
            .map(|c| format!("NEW.{c} IS NOT OLD.{c}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let insert =
            |row: &str| format!("INSERT INTO USER_INV_CHANGES ({cols}, CHANGED_DT) VALUES ({}, {now});", values(row));
        out.push_str(&format!(
            "CREATE TRIGGER {t}_I AFTER INSERT ON {table}\nBEGIN\n    {ins}\nEND;\n\
             CREATE TRIGGER {t}_U AFTER UPDATE ON {table}\n    WHEN {changed}\nBEGIN\n    {ins}\nEND;\n\
             CREATE TRIGGER {t}_D AFTER DELETE ON {table}\nBEGIN\n    {del}\nEND;\n",
            t = fed.trigger,
            table = fed.table,
            ins = insert("NEW"),
            del = insert("OLD"),
        ));
    }
    out
}

/// T-SQL that creates cpbridge's `USER_` tables on a Counterpoint database, idempotently: a missing table is
/// created, a missing column is added, a missing index is created. Nothing of Counterpoint's is touched.
pub fn mssql_user_tables_script() -> String {
    let mut out = String::from(
        "-- cpbridge's own tables in the Counterpoint database (prefix USER_, Counterpoint's convention for custom \
         tables).\n-- Generated from crates/counterpoint/src/schema/; applied by `cpbridge cp migrate`. Safe to run \
         again.\n\n",
    );
    for table in TABLES.iter().filter(|t| t.owner == Owner::Cpbridge) {
        let create = create_table_sql(Dialect::Mssql, table).replace('\n', "\n    ");
        out.push_str(&format!(
            "IF OBJECT_ID(N'dbo.{name}', N'U') IS NULL\nBEGIN\n    {create};\nEND;\nGO\n",
            name = table.name
        ));
        // Columns added in later versions reach existing installs; key columns always come with the table.
        for column in table.columns.iter().filter(|c| !c.identity && !table.primary_key.contains(&c.name)) {
            if table.name == "USER_ORDER_STAGING" && column.name == "STATUS" {
                let def = column_sql(Dialect::Mssql, table, column).replace(" NOT NULL", " NULL");
                out.push_str(&legacy_status_sql(&def));
                continue;
            }
            let with_values = if column.default == ColDefault::None { "" } else { " WITH VALUES" };
            out.push_str(&format!(
                "IF COL_LENGTH(N'dbo.{name}', N'{col}') IS NULL ALTER TABLE dbo.{name} ADD {def}{with_values};\nGO\n",
                name = table.name,
                col = column.name,
                def = column_sql(Dialect::Mssql, table, column).replace(" NOT NULL", " NULL"),
            ));
        }
        for ((index, _, _), sql) in table.indexes.iter().zip(create_index_sql(Dialect::Mssql, table)) {
            out.push_str(&format!(
                "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'{index}' AND object_id = \
                 OBJECT_ID(N'dbo.{name}'))\n    {sql};\nGO\n",
                name = table.name
            ));
        }
        out.push('\n');
    }
    out
}

/// Adding `STATUS` to a staging table that has none: the seed system's table, where `IS_APPLIED` said what was done.
/// Its applied rows become `APPLIED`; the rest `LEGACY`, never claimed, so that cpbridge cannot book again an order
/// the old scripts may have handled some other way. (`EXEC`, because the column does not exist when the batch is
/// compiled.)
fn legacy_status_sql(status_def: &str) -> String {
    let t = "dbo.USER_ORDER_STAGING";
    [
        format!("IF COL_LENGTH(N'{t}', N'STATUS') IS NULL"),
        "BEGIN".to_owned(),
        format!("    ALTER TABLE {t} ADD {status_def};"),
        format!("    IF COL_LENGTH(N'{t}', N'IS_APPLIED') IS NOT NULL"),
        format!(
            "        EXEC(N'UPDATE {t} SET STATUS = CASE WHEN IS_APPLIED = 1 THEN ''APPLIED'' ELSE ''LEGACY'' END');"
        ),
        "    ELSE".to_owned(),
        format!("        EXEC(N'UPDATE {t} SET STATUS = ''LEGACY''');"),
        "END;".to_owned(),
        "GO\n".to_owned(),
    ]
    .join("\n")
}

/// T-SQL for the trigger that feeds `USER_INV_CHANGES` from `IM_INV`.
///
/// It sits inside every register's posting, so it must never fail a sale:
/// - it records a row only when a quantity that moves web stock changed (`EXCEPT` compares NULLs safely), so
///   Counterpoint's own bookkeeping updates do not flood the feed;
/// - it returns at once when `USER_INV_CHANGES` is missing (dropped by a DBA: the 12-hourly reconcile catches up);
/// - the insert runs as dynamic SQL inside `TRY ... CATCH` with `XACT_ABORT OFF`, so an altered table (a renamed or
///   retyped column, which static SQL would fail to compile in the register's scope), a duplicate or a full table
///   is swallowed, and the register's transaction commits;
/// - `EXECUTE AS OWNER`, so the register's login needs no permission on cpbridge's table.
pub fn mssql_inv_trigger_script() -> String {
    let mut out = String::from(
        "-- Feeds dbo.USER_INV_CHANGES from every change to dbo.IM_INV and dbo.IM_INV_CELL, made by any Counterpoint\n\
         -- workstation. Generated from crates/counterpoint/src/schema/; applied by `cpbridge cp migrate`. Safe to run\n\
         -- again. They can never fail a register's posting: any error of their own is swallowed (the stock reconcile\n\
         -- catches up). Safe to drop: cpbridge then sees stock changes at its reconcile.\n",
    );
    for fed in &FED_TABLES {
        let key = fed.key.join(", ");
        let of = |row: &str| fed.key.iter().map(|k| format!("{row}.{k}")).collect::<Vec<_>>().join(", ");
        let join =
            |a: &str, b: &str| fed.key.iter().map(|k| format!("{b}.{k} = {a}.{k}")).collect::<Vec<_>>().join(" AND ");
        let watched = |row: &str| fed.watched.iter().map(|c| format!("{row}.{c}")).collect::<Vec<_>>().join(", ");
        out.push_str(&format!(
            "\nCREATE OR ALTER TRIGGER dbo.{trigger} ON dbo.{table}\nWITH EXECUTE AS OWNER\n\
             AFTER INSERT, UPDATE, DELETE\nAS\nBEGIN\n    \
             SET NOCOUNT ON;\n    \
             SET XACT_ABORT OFF;\n    \
             IF OBJECT_ID(N'dbo.USER_INV_CHANGES', N'U') IS NULL RETURN;\n    \
             SELECT {key} INTO {temp} FROM (\n        \
             SELECT {ins}\n        FROM inserted i\n        \
             LEFT JOIN deleted d ON {on_d}\n        \
             WHERE d.ITEM_NO IS NULL\n           \
             OR EXISTS (SELECT {wi} EXCEPT SELECT {wd})\n        \
             UNION ALL\n        \
             SELECT {del}\n        FROM deleted d\n        \
             WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE {on_i})\n    \
             ) c;\n    \
             IF @@ROWCOUNT = 0 RETURN;\n    \
             BEGIN TRY\n        \
             EXEC sys.sp_executesql N'INSERT INTO dbo.USER_INV_CHANGES ({key}, CHANGED_DT) \
             SELECT {key}, GETUTCDATE() FROM {temp}';\n    \
             END TRY\n    \
             BEGIN CATCH\n        \
             -- Never the register's problem. A doomed transaction (XACT_STATE() = -1) cannot be saved by anyone.\n        \
             RETURN;\n    \
             END CATCH;\nEND;\nGO\n",
            trigger = fed.trigger,
            table = fed.table,
            // One name per trigger: a trigger of Counterpoint's own may fire one inside the other.
            temp = format!("#cpbridge_{}_changes", fed.table.to_ascii_lowercase()),
            ins = of("i"),
            del = of("d"),
            on_d = join("i", "d"),
            on_i = join("d", "i"),
            wi = watched("i"),
            wd = watched("d"),
        ));
    }
    out
}

/// T-SQL that builds the Counterpoint tables on a blank SQL Server, for the `CPBRIDGE_MSSQL_TEST_URL` suite only.
pub fn mssql_test_fixture_script() -> String {
    let mut out = String::from(
        "-- TEST FIXTURE ONLY: the Counterpoint tables cpbridge touches, for a blank SQL Server.\n\
         -- Never run this against a real Counterpoint database.\n\n\
         IF OBJECT_ID(N'dbo.fnGenDocId') IS NOT NULL DROP FUNCTION dbo.fnGenDocId;\nGO\n",
    );
    for table in TABLES.iter().rev() {
        out.push_str(&format!("IF OBJECT_ID(N'dbo.{0}', N'U') IS NOT NULL DROP TABLE dbo.{0};\nGO\n", table.name));
    }
    for table in TABLES.iter().filter(|t| t.owner == Owner::Counterpoint) {
        out.push_str(&create_table_sql(Dialect::Mssql, table));
        out.push_str(";\nGO\n");
        for index in create_index_sql(Dialect::Mssql, table) {
            out.push_str(&index);
            out.push_str(";\nGO\n");
        }
    }
    out
}

/// Splits a T-SQL script on `GO` batch separators, as SSMS and sqlcmd do.
pub fn split_batches(script: &str) -> Vec<String> {
    let mut batches = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if line.trim().eq_ignore_ascii_case("GO") {
            if !current.trim().is_empty() {
                batches.push(std::mem::take(&mut current));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qty_avail_is_computed_in_both_dialects() {
        let col = IM_INV.column("QTY_AVAIL").expect("QTY_AVAIL");
        assert_eq!(column_sql(Dialect::Mssql, &IM_INV, col), "QTY_AVAIL AS (QTY_ON_HND - QTY_COMMIT)");
        assert_eq!(
            column_sql(Dialect::Sqlite, &IM_INV, col),
            "QTY_AVAIL DECIMAL(16,4) GENERATED ALWAYS AS (QTY_ON_HND - QTY_COMMIT) VIRTUAL"
        );
    }

    #[test]
    fn mssql_types_and_defaults() {
        let sql = create_table_sql(Dialect::Mssql, &USER_ORDER_STAGING);
        assert!(sql.starts_with("CREATE TABLE dbo.USER_ORDER_STAGING ("), "{sql}");
        assert!(sql.contains("STAGING_ID BIGINT IDENTITY(1,1) NOT NULL"), "{sql}");
        assert!(sql.contains("RAW_ORDER_JSON NVARCHAR(MAX)"), "{sql}");
        assert!(sql.contains("TOT_AMT DECIMAL(15,4) NOT NULL CONSTRAINT DF_USER_ORDER_STAGING_TOT_AMT DEFAULT 0"));
        assert!(
            sql.contains(
                "CREATED_DT DATETIME NOT NULL CONSTRAINT DF_USER_ORDER_STAGING_CREATED_DT DEFAULT GETUTCDATE()"
            )
        );
        assert!(sql.contains("CONSTRAINT PK_USER_ORDER_STAGING PRIMARY KEY (STAGING_ID)"));
        let doc = create_table_sql(Dialect::Mssql, &PS_DOC_HDR);
        assert!(doc.contains("DOC_GUID UNIQUEIDENTIFIER NOT NULL"), "{doc}");
    }

    #[test]
    fn batches_split_on_go_lines_only() {
        let batches = split_batches("CREATE TABLE GOALS (x INT);\nGO\nSELECT 1\n  go  \n\nSELECT 2");
        assert_eq!(batches, vec!["CREATE TABLE GOALS (x INT);\n", "SELECT 1\n", "\nSELECT 2\n"]);
    }

    #[test]
    fn user_scripts_never_touch_counterpoint_tables() {
        let script = mssql_user_tables_script() + &mssql_inv_trigger_script();
        for table in TABLES.iter().filter(|t| t.owner == Owner::Counterpoint) {
            assert!(!script.contains(&format!("CREATE TABLE dbo.{} ", table.name)), "{}", table.name);
            assert!(!script.contains(&format!("ALTER TABLE dbo.{} ", table.name)), "{}", table.name);
        }
    }

    /// The files in `sql/` are what `cp migrate` applies and what a DBA reads; they must match the model.
    /// Run with `CPBRIDGE_BLESS=1` to rewrite them after changing the model.
    #[test]
    fn committed_sql_files_match_the_model() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let files = [
            ("sql/mssql/001_user_tables.sql", mssql_user_tables_script()),
            ("sql/mssql/002_inv_changes_trigger.sql", mssql_inv_trigger_script()),
            ("sql/mssql/test/counterpoint_fixture.sql", mssql_test_fixture_script()),
            ("sql/sqlite/replica.sql", sqlite_replica_ddl()),
            ("sql/counterpoint-writes.md", writes_reference()),
        ];
        for (path, expected) in files {
            let path = root.join(path);
            if std::env::var_os("CPBRIDGE_BLESS").is_some() {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, &expected).expect("write");
            }
            let actual = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                actual == expected,
                "{} is out of date: run CPBRIDGE_BLESS=1 cargo test -p cpbridge-counterpoint",
                path.display()
            );
        }
    }
}
