//! `cpbridge cp ...` from the outside.

use crate::{cpbridge, db_arg, stderr, stdout};

#[test]
fn seed_then_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = db_arg(&dir.path().join("cp.db"));
    let out = cpbridge(&[
        "cp",
        "seed",
        "--db",
        &db,
        "--items",
        "120",
        "--customers",
        "15",
        "--locations",
        "3",
        "--rules",
        "9",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("120 items"), "{}", stdout(&out));

    let out = cpbridge(&["cp", "stats", "--db", &db, "--json", "--sample", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stats is JSON");
    assert_eq!(stats["counts"]["IM_ITEM"], 120);
    // One price row per item at the price location, and the grids' dearer largest sizes.
    assert!(stats["counts"]["IM_PRC"].as_i64().is_some_and(|n| n > 120), "{stats}");
    assert!(stats["counts"]["IM_INV_CELL"].as_i64().is_some_and(|n| n > 0), "gridded items have cells: {stats}");
    assert_eq!(stats["counts"]["AR_CUST"], 16, "15 customers and the CASH walk-in customer");
    assert_eq!(stats["counts"]["IM_LOC"], 3);
    assert_eq!(stats["counts"]["IM_PRC_RUL"], 10, "9 contract rules and one promotion");
    assert_eq!(stats["counts"]["USER_INV_CHANGES"], 0, "the seeded stock is the baseline");
    assert_eq!(stats["sample"].as_array().map(Vec::len), Some(4));

    let out = cpbridge(&["cp", "verify", "--db", &db]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ok:"), "{}", stdout(&out));
}

#[test]
fn the_same_seed_gives_the_same_catalogue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let read = |name: &str, seed: &str| {
        let db = db_arg(&dir.path().join(name));
        let out = cpbridge(&["cp", "seed", "--db", &db, "--items", "80", "--seed", seed]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = cpbridge(&["cp", "stats", "--db", &db, "--json", "--sample", "80"]);
        let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        stats["sample"].clone()
    };
    let a = read("a.db", "42");
    assert_eq!(a, read("b.db", "42"));
    assert_ne!(a, read("c.db", "43"));
}

#[test]
fn bad_input_gives_clear_errors_and_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = db_arg(&dir.path().join("missing.db"));
    let out = cpbridge(&["cp", "stats", "--db", &missing]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));

    let db = db_arg(&dir.path().join("cp.db"));
    assert!(cpbridge(&["cp", "seed", "--db", &db, "--items", "10"]).status.success());
    let again = cpbridge(&["cp", "seed", "--db", &db, "--items", "10"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));
    let forced = cpbridge(&["cp", "seed", "--db", &db, "--items", "12", "--force"]);
    assert!(forced.status.success() && stdout(&forced).contains("12 items"), "{}", stderr(&forced));

    let out = cpbridge(&["cp", "seed", "--db", "server=tcp:127.0.0.1,1;user=sa;password=x", "--items", "1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("only writes to a SQLite replica"), "{}", stderr(&out));

    let out = cpbridge(&["cp", "seed", "--db", &db_arg(&dir.path().join("n.db")), "--items", "many"]);
    assert_eq!(out.status.code(), Some(2), "clap rejects a non-numeric count");
    assert!(stderr(&out).contains("--items"), "{}", stderr(&out));

    for out in [again, out] {
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

#[test]
fn verify_names_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cp.db");
    assert!(cpbridge(&["cp", "seed", "--db", &db_arg(&path), "--items", "5"]).status.success());
    // Break the replica the way a half-installed database is broken: no staging table, no trigger.
    let status = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("DROP TABLE USER_ORDER_STAGING; DROP TRIGGER USER_TR_IM_INV_CHANGES_U;")
        .status();
    if status.is_err() {
        eprintln!("verify_names_what_is_missing skipped: the sqlite3 command is not installed");
        return;
    }
    let out = cpbridge(&["cp", "verify", "--db", &db_arg(&path)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("table USER_ORDER_STAGING is missing (run `cpbridge cp migrate`)"), "{err}");
    assert!(err.contains("trigger USER_TR_IM_INV_CHANGES_U is missing"), "{err}");
}

/// A shop's Counterpoint whose `PS_DOC_PMT` has one more required column than cpbridge knows (a version's, or a
/// `USER_` column): `cp verify` and `doctor` name it, and the daemon refuses to start rather than fail every paid
/// order one by one.
#[tokio::test]
async fn an_unknown_required_column_stops_the_daemon_at_start() {
    use sqlx::{Connection as _, SqliteConnection};
    let shop = crate::orders::Shop::open(&[], 0, "").await;
    let mut db = SqliteConnection::connect(&format!("sqlite:{}", shop.replica.display())).await.expect("replica");
    let ddl: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'PS_DOC_PMT'")
        .fetch_one(&mut db)
        .await
        .expect("PS_DOC_PMT");
    let at = ddl.find("    CONSTRAINT PK_PS_DOC_PMT").expect("primary key line");
    let widened = format!("{}    USER_WEB_REF VARCHAR(20) NOT NULL,\n{}", &ddl[..at], &ddl[at..]);
    sqlx::query("DROP TABLE PS_DOC_PMT").execute(&mut db).await.expect("drop");
    sqlx::query(sqlx::AssertSqlSafe(widened)).execute(&mut db).await.expect("create with the extra column");
    drop(db);

    let verify = crate::cpbridge(&["cp", "verify", "--db", &crate::db_arg(&shop.replica)]);
    assert_eq!(verify.status.code(), Some(2), "{}", stdout(&verify));
    assert!(stderr(&verify).contains("PS_DOC_PMT.USER_WEB_REF is NOT NULL without a default"), "{}", stderr(&verify));
    let doctor = shop.cli(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(2));
    assert!(stdout(&doctor).contains("PS_DOC_PMT.USER_WEB_REF"), "{}", stdout(&doctor));

    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_cpbridge"))
        .args(["run", "--listen", "127.0.0.1:0", "--config", shop.config.to_str().expect("utf-8 path")])
        .env_remove("CPBRIDGE_CP_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cpbridge run starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = run.try_wait().expect("wait") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = run.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut run.stderr.take().expect("stderr"), &mut err).expect("stderr");
    let status = status.expect("cpbridge run refuses to start instead of running");
    assert!(!status.success(), "{err}");
    assert!(err.contains("PS_DOC_PMT.USER_WEB_REF is NOT NULL without a default"), "{err}");
}

/// `cpbridge bench counterpoint` runs end to end on a replica and reports the register's waits in each phase.
#[test]
fn the_register_footprint_bench_reports_each_phase() {
    let out = cpbridge(&["bench", "counterpoint", "--secs", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for phase in ["register alone", "items the web orders never touch", "items the web orders also commit"] {
        let line = text.lines().find(|l| l.contains(phase)).unwrap_or_else(|| panic!("{phase}: {text}"));
        let sales: usize = line.split_whitespace().rev().nth(3).and_then(|n| n.parse().ok()).expect("sales");
        assert!(sales > 0, "{line}");
    }
    let applied = text.lines().find(|l| l.starts_with("web orders applied meanwhile: ")).expect("applied line");
    assert!(!applied.contains("applied meanwhile: 0 "), "{applied}");
}
