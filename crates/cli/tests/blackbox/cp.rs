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
    assert_eq!(stats["counts"]["IM_PRC"], 120);
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
