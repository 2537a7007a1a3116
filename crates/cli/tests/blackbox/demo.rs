//! `cpbridge demo --headless`: the whole pipeline with no setup reconciles, and `cpbridge status --json` tells the
//! same story from what the jobs recorded.

use crate::{cpbridge, stderr, stdout};

#[test]
fn the_headless_demo_reconciles_and_status_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo_dir = dir.path().join("demo");
    let demo_arg = demo_dir.to_str().expect("utf-8 path");
    let out = cpbridge(&["demo", "--headless", "--orders", "200", "--dir", demo_arg]);
    let text = stdout(&out);
    assert!(out.status.success(), "the demo reconciles:\n{text}\n{}", stderr(&out));
    assert!(text.contains("[ok] orders placed 200 = Counterpoint documents created 200"), "{text}");
    assert!(text.contains("[ok] dead orders: 0"), "{text}");
    assert!(!text.contains("[FAIL]"), "{text}");

    let config = demo_dir.join("cpbridge.toml");
    let status = cpbridge(&["status", "--json", "-c", config.to_str().expect("utf-8 path")]);
    assert!(status.status.success(), "{}", stderr(&status));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let row = |job: &str| {
        report["components"].as_array().and_then(|rows| rows.iter().find(|r| r["job"] == job)).cloned().expect(job)
    };
    assert_eq!(row("orders.process")["counts_24h"]["applied"], 200, "{report}");
    assert_eq!(row("orders.process")["state"], "ok");
    assert!(row("products")["counts_24h"]["created"].as_i64().is_some_and(|n| n > 500), "{report}");
    assert_eq!(report["staging"]["APPLIED"], 200);
    assert_eq!(report["dead_letter"], 0);
    let table = cpbridge(&["status", "-c", config.to_str().expect("utf-8 path")]);
    assert!(stdout(&table).contains("dead-letter queue: 0"), "{}", stdout(&table));
}
