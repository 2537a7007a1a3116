//! The Counterpoint port, end to end, against real databases.
//!
//! Every check is written once, generic over the driver. Each runs against a fresh SQLite replica file, and the
//! whole list runs against SQL Server when `CPBRIDGE_MSSQL_TEST_URL` holds an ADO.NET connection string to a scratch
//! database (the tables are dropped and re-created there: never point it at a real Counterpoint database).

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use cpbridge_core::ids::{CustNo, StagingId, WooOrderId};
use cpbridge_core::order::{DocContact, DocLine, DocPayment, DocTotals, OrderDocument};
use cpbridge_core::records::{Customer, ShipAddress, Watermark};
use cpbridge_core::staging::{
    ApplyOutcome, ClaimedOrder, DocumentState, NewStagedOrder, StageOutcome, StagedLine, StagingStatus,
};
use cpbridge_counterpoint::driver::{Driver, Tx, TxMode};
use cpbridge_counterpoint::mssql::MssqlDriver;
use cpbridge_counterpoint::port::watermark_after;
use cpbridge_counterpoint::sqlite::SqliteDriver;
use cpbridge_counterpoint::value::Value;
use cpbridge_counterpoint::{CounterpointPort, CpError, CustNoScheme, ShopSetup, SqlCounterpoint};
use cpbridge_devtools::seed::{self, SeedSpec, item_no};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn at(h: u32, m: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 25).and_then(|d| d.and_hms_opt(h, m, s)).expect("valid time")
}

async fn sql<D: Driver>(cp: &SqlCounterpoint<D>, statement: &str, params: Vec<Value>) -> u64 {
    let mut tx = cp.driver().begin(TxMode::Write).await.expect("begin");
    let n = tx.execute(&cp.driver().dialect().render(statement), &params).await.expect(statement);
    tx.commit().await.expect("commit");
    n
}

async fn scalar<D: Driver>(cp: &SqlCounterpoint<D>, statement: &str, params: Vec<Value>) -> Decimal {
    let mut tx = cp.driver().begin(TxMode::Read).await.expect("begin");
    let rows = tx.query(&cp.driver().dialect().render(statement), &params).await.expect(statement);
    rows.first().map_or(Decimal::ZERO, |r| r.opt_dec("V").expect("number").unwrap_or_default())
}

async fn seed_small<D: Driver>(cp: &SqlCounterpoint<D>) {
    let spec = SeedSpec { items: 40, customers: 10, locations: 2, rules: 12, seed: 7 };
    seed::seed(cp, &spec, &|_, _, _| {}).await.expect("seed");
}

fn woo(id: u64) -> WooOrderId {
    WooOrderId::try_from(id).expect("a WooCommerce order id")
}

fn new_order(woo_id: u64, lines: &[(&str, i64)]) -> NewStagedOrder {
    NewStagedOrder {
        woo_order_id: woo(woo_id),
        woo_order_no: woo_id.to_string(),
        cust_no: None,
        ord_dat: Some(at(5, 0, 0)),
        subtot: dec!(10),
        tax_amt: Decimal::ZERO,
        disc_amt: Decimal::ZERO,
        ship_amt: Decimal::ZERO,
        tot_amt: dec!(10),
        ship_via: Some("Flat rate".into()),
        pmt_meth: Some("bacs".into()),
        lines: lines.iter().map(|(sku, q)| StagedLine { sku: (*sku).into(), quantity: Decimal::from(*q) }).collect(),
        raw_order_json: format!("{{\"id\":{woo_id}}}"),
    }
}

fn document(lines: &[(&str, i64, Decimal)], paid: bool) -> OrderDocument {
    let lines: Vec<DocLine> = lines
        .iter()
        .map(|(sku, qty, prc)| DocLine {
            categ_cod: Some("APPAREL".into()),
            trk_meth: Some("N".into()),
            qty_unit: Some("EACH".into()),
            reg_prc: Some(*prc),
            unit_cost: Some(dec!(1)),
            woo_line_id: Some(1),
            cell: None,
            ..DocLine::stocked(sku, Decimal::from(*qty), *prc, "MAIN")
        })
        .collect();
    let sub: Decimal = lines.iter().map(DocLine::ext_prc).sum();
    let tot = sub + dec!(1.50) + dec!(5);
    OrderDocument {
        doc_typ: 'O',
        lin_typ: 'O',
        str_id: "1".into(),
        sta_id: "WEB".into(),
        drw_id: "WEB".into(),
        usr_id: "CPBRIDGE".into(),
        tkt_prefix: "W".into(),
        cust_no: "C000001".into(),
        tkt_dt: at(5, 0, 0),
        utc_offset_secs: -6 * 3600,
        ship_via_cod: Some("UPS".into()),
        tax_cod: Some("CA".into()),
        cust_po_no: Some("PO-1".into()),
        stk_loc_id: "MAIN".into(),
        prc_loc_id: "MAIN".into(),
        tax_ovrd_reas: Some("EC_WOOCOMM".into()),
        bill_to: DocContact { nam: "Grace Hopper".into(), city: Some("San Jose".into()), ..DocContact::default() },
        ship_to: DocContact { nam: "Grace Hopper".into(), city: Some("Oakland".into()), ..DocContact::default() },
        totals: DocTotals {
            sub_tot: sub,
            tax_amt: dec!(1.50),
            tot_misc: dec!(5),
            tot,
            amt_due: if paid { Decimal::ZERO } else { tot },
            ..DocTotals::default()
        },
        payments: if paid {
            vec![DocPayment {
                pay_cod: "WEB".into(),
                amt: tot,
                descr: Some("Credit card (Stripe)".into()),
                transaction_id: Some("ch_3QxTX123".into()),
                pay_dat: Some(at(5, 0, 0)),
                final_pmt: false,
            }]
        } else {
            vec![]
        },
        lines,
    }
}

async fn qty<D: Driver>(cp: &SqlCounterpoint<D>, item: &str, column: &str) -> Decimal {
    scalar(
        cp,
        &format!("SELECT {column} AS V FROM dbo.IM_INV WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN'"),
        vec![item.into()],
    )
    .await
}

async fn docs_for<D: Driver>(cp: &SqlCounterpoint<D>) -> Decimal {
    scalar(cp, "SELECT COUNT(*) AS V FROM dbo.PS_DOC_HDR", vec![]).await
}

async fn claim_one<D: Driver>(cp: &SqlCounterpoint<D>, now: NaiveDateTime) -> ClaimedOrder {
    let mut claimed = cp.claim_staged_orders(now, Duration::minutes(5), 10).await.expect("claim");
    assert_eq!(claimed.len(), 1, "exactly one order is due");
    claimed.remove(0)
}

// ---------------------------------------------------------------------------------------------------------------
// The checks, generic over the driver.

async fn writebacks_retry_on_their_own_and_restaging_replaces_the_order<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let (a, b) = (item_no(1), item_no(2));
    cp.stage_order(&new_order(300, &[(a.as_str(), 1)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    let id = claim.order.staging_id;
    cp.apply_staged_order(&claim, &document(&[(a.as_str(), 1, dec!(10))], true), at(5, 0, 2)).await.expect("apply");

    // The pipeline that applied it writes back itself; the sweeper only takes it once the claim's lease ran out.
    assert!(cp.writebacks_due(at(5, 0, 3), 10).await.expect("due").is_empty(), "inside the lease");
    let due = cp.writebacks_due(at(5, 6, 0), 10).await.expect("due");
    assert_eq!(due.iter().map(|o| o.staging_id).collect::<Vec<_>>(), vec![id]);

    cp.fail_writeback(id, "WooCommerce answered 503", at(5, 10, 0)).await.expect("fail");
    assert!(cp.writebacks_due(at(5, 9, 59), 10).await.expect("due").is_empty(), "backing off");
    let row = cp.staged_order(id).await.expect("read").expect("row");
    assert_eq!((row.woo_sync_attempts, row.woo_sync_err.as_deref()), (1, Some("WooCommerce answered 503")));
    assert_eq!(row.status, StagingStatus::Applied, "a failed write-back never touches the Counterpoint order");
    assert_eq!(cp.writebacks_due(at(5, 10, 0), 10).await.expect("due").len(), 1);
    assert!(
        cp.open_applied_orders(StagingId::new(0), 10).await.expect("open").is_empty(),
        "not followed before it is synced"
    );

    cp.mark_woo_synced(id, at(5, 10, 1)).await.expect("synced");
    assert!(cp.writebacks_due(at(6, 0, 0), 10).await.expect("due").is_empty());
    let row = cp.staged_order(id).await.expect("read").expect("row");
    assert_eq!((row.woo_synced_dt, row.woo_sync_err), (Some(at(5, 10, 1)), None));
    let open = cp.open_applied_orders(StagingId::new(0), 10).await.expect("open");
    assert_eq!(open.iter().map(|o| o.staging_id).collect::<Vec<_>>(), vec![id]);
    assert!(cp.open_applied_orders(id, 10).await.expect("open").is_empty(), "pages after the given id");
    cp.set_doc_state(id, "COMPLETED").await.expect("state");
    assert!(
        cp.open_applied_orders(StagingId::new(0), 10).await.expect("open").is_empty(),
        "a final state is not followed"
    );
    assert_eq!(cp.staged_order(id).await.expect("read").expect("row").cp_doc_state.as_deref(), Some("COMPLETED"));
    assert!(!cp.restage_order(id, &new_order(300, &[(b.as_str(), 1)])).await.expect("restage"), "applied is final");

    // A dead order whose cause was fixed in WooCommerce is restaged with the new data and its attempts reset.
    cp.stage_order(&new_order(301, &[("NOT-IN-CP", 1)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    assert!(cp.fail_staged_order(&claim, "unknown SKU", None).await.expect("dead"));
    let fixed = new_order(301, &[(b.as_str(), 3)]);
    assert!(!cp.restage_order(claim.order.staging_id, &new_order(999, &[])).await.expect("restage"), "ids must match");
    assert!(cp.restage_order(claim.order.staging_id, &fixed).await.expect("restage"));
    let row = cp.staged_order(claim.order.staging_id).await.expect("read").expect("row");
    assert_eq!((row.status, row.attempts), (StagingStatus::Pending, 0));
    assert_eq!(row.lines, fixed.lines);
    assert_eq!(claim_one(cp, at(5, 0, 2)).await.order.lines, fixed.lines);
}

async fn schema_is_complete_and_gaps_are_named<D: Driver>(cp: &SqlCounterpoint<D>) {
    let report = cp.verify_schema().await.expect("verify");
    assert!(report.is_ok(), "{report}");
    sql(cp, "DROP TABLE dbo.AR_SHIP_ADRS", vec![]).await;
    let report = cp.verify_schema().await.expect("verify");
    assert_eq!(report.missing_tables, vec!["AR_SHIP_ADRS".to_owned()]);
    assert!(report.to_string().contains("table AR_SHIP_ADRS is missing"), "{report}");
}

async fn stage_twice_gives_one_row<D: Driver>(cp: &SqlCounterpoint<D>) {
    let first = cp.stage_order(&new_order(57, &[("APP-000001", 2)]), at(5, 0, 0)).await.expect("stage");
    let second = cp.stage_order(&new_order(57, &[("APP-000001", 2)]), at(5, 0, 1)).await.expect("stage again");
    assert!(matches!(first, StageOutcome::Staged { .. }), "{first:?}");
    assert_eq!(second, StageOutcome::AlreadyStaged { staging_id: first.staging_id() });
    let counts = cp.staging_counts().await.expect("counts");
    assert_eq!(counts.get("PENDING"), Some(&1));
    let staged = cp.staged_order_by_woo_id(woo(57)).await.expect("read").expect("staged");
    assert_eq!(staged.lines, vec![StagedLine { sku: "APP-000001".into(), quantity: dec!(2) }]);
    assert_eq!(cp.unapplied_order_lines(at(0, 0, 0)).await.expect("lines").len(), 1);
}

async fn apply_writes_one_complete_document<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let (a, b) = (item_no(1), item_no(2));
    let commit_before = qty(cp, &a, "QTY_COMMIT").await;
    let ord_before = qty(cp, &a, "QTY_ON_ORD").await;
    let on_hand_before = qty(cp, &a, "QTY_ON_HND").await;
    cp.stage_order(&new_order(100, &[(a.as_str(), 2), (b.as_str(), 1)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    let doc = document(&[(a.as_str(), 2, dec!(5.395)), (b.as_str(), 1, dec!(7.20))], true);
    let outcome = cp.apply_staged_order(&claim, &doc, at(5, 0, 2)).await.expect("apply");
    let ApplyOutcome::Applied { doc_id, tkt_no, .. } = outcome else { panic!("expected Applied, got {outcome:?}") };
    assert_eq!(tkt_no, "W-000001");

    assert_eq!(
        scalar(cp, "SELECT COUNT(*) AS V FROM dbo.PS_DOC_LIN WHERE DOC_ID = @P1", vec![doc_id.into()]).await,
        dec!(2)
    );
    assert_eq!(
        scalar(cp, "SELECT COUNT(*) AS V FROM dbo.PS_DOC_CONTACT WHERE DOC_ID = @P1", vec![doc_id.into()]).await,
        dec!(2)
    );
    assert_eq!(
        scalar(
            cp,
            "SELECT EXT_PRC AS V FROM dbo.PS_DOC_LIN WHERE DOC_ID = @P1 AND LIN_SEQ_NO = 1",
            vec![doc_id.into()]
        )
        .await,
        dec!(10.79)
    );
    assert_eq!(
        scalar(cp, "SELECT TOT AS V FROM dbo.PS_DOC_HDR_TOT WHERE DOC_ID = @P1 AND TOT_TYP = 'O'", vec![doc_id.into()])
            .await,
        doc.totals.tot
    );
    assert_eq!(
        scalar(cp, "SELECT AMT AS V FROM dbo.PS_DOC_PMT WHERE DOC_ID = @P1", vec![doc_id.into()]).await,
        doc.totals.tot
    );
    assert_eq!(qty(cp, &a, "QTY_COMMIT").await, commit_before + dec!(2));
    assert_eq!(qty(cp, &a, "QTY_ON_ORD").await, ord_before + dec!(2));
    assert_eq!(qty(cp, &a, "QTY_ON_HND").await, on_hand_before, "an open order never moves QTY_ON_HND");

    let staged = cp.staged_order(claim.order.staging_id).await.expect("read").expect("row");
    assert_eq!(
        (staged.status, staged.cp_doc_id, staged.cp_tkt_no.as_deref()),
        (StagingStatus::Applied, Some(doc_id), Some("W-000001"))
    );
    // What the orders reconcile reads: the staging heads, and the documents on cpbridge's station with totals.
    let heads = cp.staging_heads(StagingId::new(0), 10).await.expect("heads");
    assert_eq!(heads.len(), 1);
    assert_eq!(
        (heads[0].woo_order_id, heads[0].status, heads[0].cp_doc_id),
        (woo(100), StagingStatus::Applied, Some(doc_id))
    );
    assert!(cp.staging_heads(heads[0].staging_id, 10).await.expect("after").is_empty(), "pages move on");
    let booked = cp.station_documents(&doc.sta_id, 0, 10).await.expect("documents");
    assert_eq!(booked.len(), 1);
    assert_eq!(
        (booked[0].doc_id, booked[0].tot, booked[0].cust_po_no.clone()),
        (doc_id, Some(doc.totals.tot), doc.cust_po_no.clone())
    );
    assert!(cp.station_documents("ELSEWHERE", 0, 10).await.expect("other station").is_empty());
    // Applying the same claim again writes nothing.
    let again = cp.apply_staged_order(&claim, &doc, at(5, 0, 3)).await.expect("apply again");
    assert_eq!(again, ApplyOutcome::AlreadyApplied { doc_id: Some(doc_id), tkt_no: Some("W-000001".into()) });
    assert_eq!(docs_for(cp).await, dec!(1));
    assert!(cp.claim_staged_orders(at(6, 0, 0), Duration::minutes(5), 10).await.expect("claim").is_empty());
    assert!(cp.unapplied_order_lines(at(0, 0, 0)).await.expect("lines").is_empty());
}

async fn a_failed_transaction_leaves_nothing_and_the_retry_applies_once<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let a = item_no(1);
    let commit_before = qty(cp, &a, "QTY_COMMIT").await;
    cp.stage_order(&new_order(200, &[(a.as_str(), 3)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    // The second line's item number is too long to be an item, so it has no stock row: the header and the first
    // line's inventory are written first, then the transaction is dropped.
    let bad = document(&[(a.as_str(), 3, dec!(2)), ("THIS-ITEM-NUMBER-IS-FAR-TOO-LONG", 1, dec!(1))], true);
    let err = cp.apply_staged_order(&claim, &bad, at(5, 0, 2)).await.expect_err("too long");
    assert!(err.to_string().contains("line 2 (SKU THIS-ITEM-NUMBER-IS-FAR-TOO-LONG)"), "{err}");
    assert_eq!(docs_for(cp).await, dec!(0), "nothing of the dropped transaction remains");
    assert_eq!(qty(cp, &a, "QTY_COMMIT").await, commit_before);
    assert!(cp.fail_staged_order(&claim, &err.to_string(), Some(at(5, 1, 0))).await.expect("fail"));

    // An item with no stock row at the location: a clear reason, and no IM_INV row is ever created for it.
    let b = item_no(2);
    sql(cp, "DELETE FROM dbo.IM_INV WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN'", vec![b.as_str().into()]).await;
    let claim = claim_one(cp, at(5, 1, 0)).await;
    let unstocked = document(&[(a.as_str(), 3, dec!(2)), (b.as_str(), 1, dec!(1))], true);
    let err = cp.apply_staged_order(&claim, &unstocked, at(5, 1, 1)).await.expect_err("not stocked");
    assert!(err.to_string().contains(&format!("item {b} is not stocked at location MAIN")), "{err}");
    let rows = scalar(
        cp,
        "SELECT COUNT(*) AS V FROM dbo.IM_INV WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN'",
        vec![b.as_str().into()],
    );
    assert_eq!(rows.await, dec!(0), "cpbridge never creates stock rows");
    assert_eq!((docs_for(cp).await, qty(cp, &a, "QTY_COMMIT").await), (dec!(0), commit_before));
    assert!(cp.fail_staged_order(&claim, &err.to_string(), Some(at(5, 1, 0))).await.expect("fail"));

    // Cancel the apply at many different instants (a crash at any point), then let the lease run out and retry.
    let mut t = at(5, 1, 0);
    let good = document(&[(a.as_str(), 3, dec!(2))], true);
    let mut interrupted = 0;
    for micros in (0..400).step_by(7) {
        t += Duration::minutes(10);
        let Some(claim) = cp.claim_staged_orders(t, Duration::minutes(5), 1).await.expect("claim").pop() else { break };
        let finished =
            tokio::time::timeout(StdDuration::from_micros(micros), cp.apply_staged_order(&claim, &good, t)).await;
        if finished.is_ok() {
            break;
        }
        interrupted += 1;
    }
    eprintln!("apply interrupted {interrupted} times before one attempt finished");
    assert!(interrupted > 0, "the loop must interrupt at least one apply, or it proves nothing");
    t += Duration::minutes(10);
    if let Some(claim) = cp.claim_staged_orders(t, Duration::minutes(5), 1).await.expect("claim").pop() {
        let outcome = cp.apply_staged_order(&claim, &good, t).await.expect("apply");
        assert!(matches!(outcome, ApplyOutcome::Applied { .. }), "{outcome:?}");
    }
    assert_eq!(docs_for(cp).await, dec!(1), "exactly one document after any number of interrupted attempts");
    assert_eq!(qty(cp, &a, "QTY_COMMIT").await, commit_before + dec!(3), "inventory committed exactly once");
    let staged = cp.staged_order_by_woo_id(woo(200)).await.expect("read").expect("row");
    assert_eq!(staged.status, StagingStatus::Applied);
}

async fn claims_are_exclusive_and_leases_expire<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    for id in 1..=6 {
        cp.stage_order(&new_order(300 + id, &[(item_no(1).as_str(), 1)]), at(5, 0, 0)).await.expect("stage");
    }
    let now = at(5, 0, 1);
    let (x, y) = tokio::join!(
        cp.claim_staged_orders(now, Duration::minutes(5), 6),
        cp.claim_staged_orders(now, Duration::minutes(5), 6)
    );
    let (x, y) = (x.expect("claim x"), y.expect("claim y"));
    let ids: Vec<StagingId> = x.iter().chain(&y).map(|c| c.order.staging_id).collect();
    let unique: BTreeSet<StagingId> = ids.iter().copied().collect();
    assert_eq!((ids.len(), unique.len()), (6, 6), "every order claimed exactly once");

    // A worker that stalls past its lease loses the order to a new claim, and its late apply writes nothing.
    let stale = x.first().or(y.first()).expect("a claim").clone();
    let fresh = cp.claim_staged_orders(now + Duration::minutes(6), Duration::minutes(5), 10).await.expect("reclaim");
    assert_eq!(fresh.len(), 6);
    let doc = document(&[(item_no(1).as_str(), 1, dec!(1))], false);
    assert_eq!(
        cp.apply_staged_order(&stale, &doc, now + Duration::minutes(7)).await.expect("stale"),
        ApplyOutcome::ClaimLost
    );
    assert!(!cp.fail_staged_order(&stale, "late", None).await.expect("stale fail"));
    assert_eq!(docs_for(cp).await, dec!(0));
}

async fn failures_retry_then_go_dead_and_can_be_replayed<D: Driver>(cp: &SqlCounterpoint<D>) {
    cp.stage_order(&new_order(400, &[("NOPE", 1)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    assert!(cp.fail_staged_order(&claim, "unknown SKU NOPE on line 1", Some(at(5, 5, 0))).await.expect("fail"));
    assert!(
        cp.claim_staged_orders(at(5, 4, 59), Duration::minutes(5), 10).await.expect("early").is_empty(),
        "not due yet"
    );
    let claim = claim_one(cp, at(5, 5, 0)).await;
    assert_eq!(claim.order.attempts, 2);
    assert!(cp.fail_staged_order(&claim, "unknown SKU NOPE on line 1", None).await.expect("dead"));
    let dead = cp.staged_orders(Some(StagingStatus::Dead), 10).await.expect("dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_err.as_deref(), Some("unknown SKU NOPE on line 1"));
    // A dead order holds its stock while it may still be replayed (staged at 05:00 here), then no more.
    assert_eq!(cp.unapplied_order_lines(at(4, 0, 0)).await.expect("held").len(), 1);
    assert!(cp.unapplied_order_lines(at(6, 0, 0)).await.expect("released").is_empty());
    assert!(
        cp.claim_staged_orders(at(9, 0, 0), Duration::minutes(5), 10).await.expect("claim").is_empty(),
        "dead is not retried"
    );
    assert!(cp.requeue_staged_order(dead[0].staging_id).await.expect("requeue"));
    let claim = claim_one(cp, at(9, 0, 0)).await;
    assert_eq!(claim.order.attempts, 1, "a replay starts its attempts afresh");
    // A change in WooCommerce wins over a claim in flight: restaged from the new copy, the claimer's apply and its
    // failure write nothing.
    let mut edited = new_order(400, &[("NOPE", 2)]);
    edited.tot_amt = dec!(2);
    let staging_id = claim.order.staging_id;
    assert!(cp.restage_order(staging_id, &edited).await.expect("restage applying"));
    let stale = cp.apply_staged_order(&claim, &document(&[("NOPE", 1, dec!(1))], true), at(9, 0, 1)).await;
    assert_eq!(stale.expect("apply"), ApplyOutcome::ClaimLost, "the stale copy is never applied");
    assert!(!cp.fail_staged_order(&claim, "still unknown", None).await.expect("void claim"));
    let row = cp.staged_order(staging_id).await.expect("read").expect("row");
    assert_eq!((row.status, row.attempts, row.tot_amt), (StagingStatus::Pending, 0, dec!(2)));
    // So does a cancellation, and it takes dead orders too.
    let claim = claim_one(cp, at(9, 1, 0)).await;
    assert!(cp.cancel_staged_order(woo(400), "cancelled in WooCommerce").await.expect("cancel applying"));
    assert!(!cp.fail_staged_order(&claim, "still unknown", None).await.expect("void claim"));
    assert_eq!(cp.staged_order_by_woo_id(woo(400)).await.expect("read").expect("row").status, StagingStatus::Cancelled);
    assert!(cp.restage_order(staging_id, &edited).await.expect("paid again"));
    let claim = claim_one(cp, at(9, 2, 0)).await;
    assert!(cp.fail_staged_order(&claim, "still unknown", None).await.expect("dead again"));
    assert!(cp.cancel_staged_order(woo(400), "cancelled in WooCommerce").await.expect("cancel dead"));
    assert_eq!(cp.staged_order_by_woo_id(woo(400)).await.expect("read").expect("row").status, StagingStatus::Cancelled);
    // An applied order is not cancelled in staging: an operator cancels it in Counterpoint.
    assert!(!cp.cancel_staged_order(woo(999_999), "unknown").await.expect("unknown"));

    // Discarded by an operator: for good, and it holds no stock, however recent.
    cp.stage_order(&new_order(401, &[("NOPE", 1)]), at(9, 3, 0)).await.expect("stage");
    let claim = claim_one(cp, at(9, 3, 1)).await;
    assert!(!cp.discard_staged_order(claim.order.staging_id, "booked by hand").await.expect("applying"));
    assert!(cp.fail_staged_order(&claim, "unknown SKU", None).await.expect("dead"));
    assert_eq!(cp.unapplied_order_lines(at(0, 0, 0)).await.expect("held").len(), 1);
    assert!(cp.discard_staged_order(claim.order.staging_id, "booked by hand").await.expect("discard"));
    let row = cp.staged_order(claim.order.staging_id).await.expect("read").expect("row");
    assert_eq!((row.status, row.last_err.as_deref()), (StagingStatus::Discarded, Some("booked by hand")));
    assert!(cp.unapplied_order_lines(at(0, 0, 0)).await.expect("none held").is_empty());
    assert!(!cp.requeue_staged_order(claim.order.staging_id).await.expect("final"), "a discarded order stays ended");
    assert!(!cp.restage_order(claim.order.staging_id, &new_order(401, &[("NOPE", 1)])).await.expect("final"));
}

async fn backorders_are_recorded_per_line<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let a = item_no(1);
    sql(
        cp,
        "UPDATE dbo.IM_INV SET QTY_ON_HND = 4, QTY_COMMIT = 1 WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN'",
        vec![a.as_str().into()],
    )
    .await;
    cp.stage_order(&new_order(500, &[(a.as_str(), 5)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    let outcome =
        cp.apply_staged_order(&claim, &document(&[(a.as_str(), 5, dec!(1))], true), at(5, 0, 2)).await.expect("apply");
    let ApplyOutcome::Applied { doc_id, backordered, .. } = outcome else { panic!("{outcome:?}") };
    // Available was 4 - 1 = 3, so 2 of the 5 are backordered; all 5 are committed.
    assert_eq!(backordered, vec![(a.clone(), dec!(2))], "the caller hears which line is short");
    assert_eq!(
        scalar(cp, "SELECT QTY_BKORD AS V FROM dbo.USER_DOC_LIN_EXT WHERE DOC_ID = @P1", vec![doc_id.into()]).await,
        dec!(2)
    );
    assert_eq!(
        scalar(cp, "SELECT BKORD_QTY AS V FROM dbo.USER_ORDER_STAGING WHERE WOO_ORDER_ID = 500", vec![]).await,
        dec!(2)
    );
    assert_eq!(qty(cp, &a, "QTY_COMMIT").await, dec!(6));
    assert_eq!(qty(cp, &a, "QTY_AVAIL").await, dec!(-2));
}

async fn document_ids_skip_taken_ones<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    // Store 1 is STR_NO 1 and station WEB is STA_NO 90 in PS_STR and PS_STA: the numbers, not digits of the ids.
    // The id carries the store's time (the document's UTC offset is -6 h), as a register's would.
    let taken = cpbridge_core::docid::gen_doc_id(1, 90, 'O', at(5, 0, 2) - chrono::Duration::hours(6), 0);
    sql(
        cp,
        "INSERT INTO dbo.PS_DOC_HDR (DOC_ID, DOC_GUID, DOC_TYP, STR_ID, STA_ID, DRW_ID, USR_ID, TKT_NO) VALUES (@P1, @P2, 'O', '1', 'WEB', '1', 'MGR', 'W-000001')",
        vec![taken.into(), uuid::Uuid::new_v4().into()],
    )
    .await;
    cp.stage_order(&new_order(600, &[(item_no(1).as_str(), 1)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    let outcome = cp
        .apply_staged_order(&claim, &document(&[(item_no(1).as_str(), 1, dec!(1))], false), at(5, 0, 2))
        .await
        .expect("apply");
    // The register already used DOC_ID variation 0 and ticket W-000001: cpbridge takes the next of each.
    assert_eq!(outcome, ApplyOutcome::Applied { doc_id: taken + 1, tkt_no: "W-000002".into(), backordered: vec![] });
    assert_eq!(
        scalar(cp, "SELECT COUNT(*) AS V FROM dbo.PS_DOC_PMT", vec![]).await,
        dec!(0),
        "an unpaid order has no payment row"
    );
}

/// Where the database has `dbo.fnGenDocId`, its ids are used. The fixture's function leaves the second out, so its
/// ids differ from cpbridge's own layout; it takes the variation digit, which cpbridge moves on on a taken id.
async fn document_ids_come_from_fn_gen_doc_id(cp: &SqlCounterpoint<MssqlDriver>) {
    seed_small(cp).await;
    let function = "CREATE FUNCTION dbo.fnGenDocId (@STR_NO SMALLINT, @STA_NO SMALLINT, @DOC_TYP VARCHAR(1), \
         @DT DATETIME, @VAR TINYINT) RETURNS BIGINT AS BEGIN RETURN CAST(@STR_NO % 10000 AS BIGINT) * 100000000000 \
         + CAST(@STA_NO % 100 AS BIGINT) * 1000000000 + CASE @DOC_TYP WHEN 'O' THEN 1 ELSE 9 END * 100000000 \
         + CAST(DATEPART(dayofyear, @DT) % 100 AS BIGINT) * 1000000 + @VAR END";
    let mut tx = cp.driver().begin(TxMode::Write).await.expect("begin");
    tx.execute_script(function).await.expect("create dbo.fnGenDocId");
    tx.commit().await.expect("commit");
    let report = cp.verify_schema().await.expect("schema");
    assert!(report.doc_ids.calls_function(), "{}", report.doc_ids);
    let midnight = at(5, 0, 2) - chrono::Duration::hours(6);
    let first = cpbridge_core::docid::gen_doc_id(1, 90, 'O', midnight.date().and_hms_opt(0, 0, 0).expect("time"), 0);
    for (n, expected) in [(0, first), (1, first + 1)] {
        cp.stage_order(&new_order(610 + n, &[(item_no(1).as_str(), 1)]), at(5, 0, 0)).await.expect("stage");
        let claim = claim_one(cp, at(5, 0, 1)).await;
        let outcome = cp
            .apply_staged_order(&claim, &document(&[(item_no(1).as_str(), 1, dec!(1))], false), at(5, 0, 2))
            .await
            .expect("apply");
        assert!(matches!(outcome, ApplyOutcome::Applied { doc_id, .. } if doc_id == expected), "{outcome:?}");
    }
    let mut tx = cp.driver().begin(TxMode::Write).await.expect("begin");
    tx.execute_script("DROP FUNCTION dbo.fnGenDocId").await.expect("drop");
    tx.commit().await.expect("commit");
    assert!(!cp.verify_schema().await.expect("schema").doc_ids.calls_function());
}

async fn document_state_follows_counterpoint<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    cp.stage_order(&new_order(700, &[(item_no(1).as_str(), 1)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    let ApplyOutcome::Applied { doc_id, tkt_no, .. } = cp
        .apply_staged_order(&claim, &document(&[(item_no(1).as_str(), 1, dec!(1))], false), at(5, 0, 2))
        .await
        .expect("apply")
    else {
        panic!("not applied")
    };
    assert_eq!(cp.document_state(doc_id, &tkt_no).await.expect("state"), DocumentState::Open);
    sql(
        cp,
        "INSERT INTO dbo.PS_TKT_HIST (BUS_DAT, DOC_ID, STR_ID, STA_ID, TKT_NO) VALUES (@P1, 42, '1', 'WEB', @P2)",
        vec![at(12, 0, 0).into(), format!("{tkt_no}-01").into()],
    )
    .await;
    assert_eq!(
        cp.document_state(doc_id, &tkt_no).await.expect("state"),
        DocumentState::Released { release_tkt_no: format!("{tkt_no}-01") }
    );
    sql(cp, "DELETE FROM dbo.PS_TKT_HIST", vec![]).await;
    sql(cp, "DELETE FROM dbo.PS_DOC_HDR WHERE DOC_ID = @P1", vec![doc_id.into()]).await;
    // A release numbered the shop's own way is found by its lines' links to the order's lines.
    sql(
        cp,
        "INSERT INTO dbo.PS_DOC_LIN (DOC_ID, LIN_SEQ_NO, STR_ID, STA_ID, TKT_NO, LIN_TYP, ITEM_NO, EXT_PRC, \
         GROSS_EXT_PRC, CALC_EXT_PRC, LIN_GUID, LINK_LIN_GUID) \
         SELECT 77, 1, '1', '1', 'REL-77', 'S', e.ITEM_NO, 1, 1, 1, @P2, e.LIN_GUID \
         FROM dbo.USER_DOC_LIN_EXT e WHERE e.DOC_ID = @P1",
        vec![doc_id.into(), uuid::Uuid::new_v4().into()],
    )
    .await;
    assert_eq!(
        cp.document_state(doc_id, &tkt_no).await.expect("state"),
        DocumentState::Released { release_tkt_no: "REL-77".into() }
    );
    sql(cp, "DELETE FROM dbo.PS_DOC_LIN WHERE DOC_ID = 77", vec![]).await;
    // Gone with no release cpbridge can find: it cannot tell cancelled from released under another number.
    assert_eq!(cp.document_state(doc_id, &tkt_no).await.expect("state"), DocumentState::Unknown);
    sql(
        cp,
        "INSERT INTO dbo.PS_ORD_HIST (DOC_ID, TKT_NO) VALUES (@P1, @P2)",
        vec![doc_id.into(), tkt_no.as_str().into()],
    )
    .await;
    assert_eq!(cp.document_state(doc_id, &tkt_no).await.expect("state"), DocumentState::Closed);
}

async fn change_feeds_page_through_everything_once<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let mut wm = Watermark::start();
    let mut seen = Vec::new();
    loop {
        let page = cp.items_changed_since(&wm, 7).await.expect("page");
        let Some(last) = page.last() else { break };
        wm = watermark_after(last.rs_utc_dt, &[&last.item_no]);
        seen.extend(page.into_iter().map(|i| i.item_no));
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (40, 40));
    assert!(cp.items_changed_since(&wm, 7).await.expect("empty").is_empty());

    // A change made by any writer moves the item past the watermark (RS_UTC_DT kept current).
    let later = chrono::Utc::now().naive_utc() + Duration::hours(1);
    sql(
        cp,
        "UPDATE dbo.IM_ITEM SET PRC_1 = 9.99, RS_UTC_DT = @P2 WHERE ITEM_NO = @P1",
        vec![item_no(3).into(), later.into()],
    )
    .await;
    let changed = cp.items_changed_since(&wm, 100).await.expect("changed");
    assert_eq!(changed.iter().map(|i| i.item_no.as_str()).collect::<Vec<_>>(), vec![item_no(3).as_str()]);
    assert_eq!(changed[0].prc_1, dec!(9.99));

    let mut wm = Watermark::start();
    let mut rows = 0;
    loop {
        let page = cp.inventory_changed_since(&wm, 9).await.expect("inventory page");
        let Some(last) = page.last() else { break };
        wm = watermark_after(last.rs_utc_dt, &[&last.item_no, &last.loc_id]);
        rows += page.len();
    }
    assert_eq!(Decimal::from(rows), scalar(cp, "SELECT COUNT(*) AS V FROM dbo.IM_INV", vec![]).await);
    let prices = cp.prices_changed_since(&Watermark::start(), 1000).await.expect("prices");
    assert_eq!(Decimal::from(prices.len()), scalar(cp, "SELECT COUNT(*) AS V FROM dbo.IM_PRC", vec![]).await);
    assert!(prices.len() > 40, "one per item, and the grids' per-cell prices");
    let levels =
        cp.inventory_for_items(&[item_no(1), item_no(2)], &["MAIN".into(), "LOC2".into()]).await.expect("levels");
    assert!(levels.len() <= 4 && !levels.is_empty(), "{levels:?}");
    assert_eq!(cp.items_by_no(&[item_no(5), "NOPE".into()]).await.expect("items").len(), 1);
}

async fn inventory_triggers_record_plain_sql_changes<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    assert!(cp.pending_inventory_changes(10).await.expect("none").is_empty(), "seeding is the baseline");
    sql(
        cp,
        "UPDATE dbo.IM_INV SET QTY_ON_HND = QTY_ON_HND + 5 WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN'",
        vec![item_no(1).into()],
    )
    .await;
    sql(cp, "UPDATE dbo.IM_INV SET MIN_QTY = 3 WHERE ITEM_NO = @P1", vec![item_no(2).into()]).await;
    let changes = cp.pending_inventory_changes(10).await.expect("changes");
    assert_eq!(changes.len(), 1, "only quantity changes are recorded: {changes:?}");
    assert_eq!((changes[0].item_no.as_str(), changes[0].loc_id.as_str()), (item_no(1).as_str(), "MAIN"));
    let backlog = cp.inventory_change_backlog().await.expect("backlog");
    assert_eq!((backlog.rows, backlog.unconsumed), (1, 1));
    assert!(backlog.oldest_unconsumed.is_some());
    assert_eq!(cp.consume_inventory_changes(&[changes[0].change_id], at(6, 0, 0)).await.expect("consume"), 1);
    assert!(cp.pending_inventory_changes(10).await.expect("none").is_empty());
    let backlog = cp.inventory_change_backlog().await.expect("backlog");
    assert_eq!((backlog.rows, backlog.unconsumed, backlog.oldest_unconsumed), (1, 0, None));
    // Consumed rows are kept until the cut-off, then purged; unconsumed rows never are.
    sql(cp, "UPDATE dbo.IM_INV SET QTY_ON_HND = QTY_ON_HND + 1 WHERE ITEM_NO = @P1", vec![item_no(3).into()]).await;
    assert_eq!(cp.purge_inventory_changes(at(5, 59, 59)).await.expect("purge"), 0, "consumed after the cut-off");
    assert_eq!(cp.purge_inventory_changes(at(6, 0, 1)).await.expect("purge"), 1);
    let backlog = cp.inventory_change_backlog().await.expect("backlog");
    assert!(backlog.rows >= 1 && backlog.rows == backlog.unconsumed, "{backlog:?}");
    // Grid cells feed the same table, naming the cell; only quantity and web-flag changes count.
    let open: Vec<i64> = cp.pending_inventory_changes(10).await.expect("open").iter().map(|c| c.change_id).collect();
    cp.consume_inventory_changes(&open, at(6, 0, 2)).await.expect("consume");
    sql(
        cp,
        "INSERT INTO dbo.IM_INV_CELL (ITEM_NO, LOC_ID, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, QTY_COMMIT, QTY_ON_HND, \
         QTY_ON_ORD, IS_ECOMM_ITEM_CELL) VALUES (@P1, 'MAIN', 'M', 'RED', '*', 0, 4, 0, 'Y')",
        vec![item_no(4).into()],
    )
    .await;
    sql(
        cp,
        "UPDATE dbo.IM_INV_CELL SET QTY_COMMIT = 1 WHERE ITEM_NO = @P1 AND DIM_1_UPR = 'M'",
        vec![item_no(4).into()],
    )
    .await;
    sql(cp, "UPDATE dbo.IM_INV_CELL SET CELL_STAT = 'A' WHERE ITEM_NO = @P1", vec![item_no(4).into()]).await;
    let cells = cp.pending_inventory_changes(10).await.expect("cell changes");
    let cell = Some(["M".to_owned(), "RED".to_owned(), "*".to_owned()]);
    assert_eq!(cells.len(), 2, "the insert and the quantity change: {cells:?}");
    assert!(cells.iter().all(|c| c.item_no == item_no(4) && c.loc_id == "MAIN" && c.cell == cell), "{cells:?}");
}

/// SQL Server only: the `IM_INV` trigger never fails a register's posting, whatever happened to cpbridge's table.
async fn a_register_posting_commits_whatever_happened_to_the_change_table<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let before = qty(cp, &item_no(1), "QTY_ON_HND").await;
    let post = "UPDATE dbo.IM_INV SET QTY_ON_HND = QTY_ON_HND - 1 WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN'";
    // A column renamed by hand: static SQL would not even compile inside the register's statement.
    sql(cp, "EXEC sp_rename 'dbo.USER_INV_CHANGES.LOC_ID', 'LOC_CODE', 'COLUMN'", vec![]).await;
    sql(cp, post, vec![item_no(1).into()]).await;
    // The table dropped.
    sql(cp, "DROP TABLE dbo.USER_INV_CHANGES", vec![]).await;
    sql(cp, post, vec![item_no(1).into()]).await;
    assert_eq!(qty(cp, &item_no(1), "QTY_ON_HND").await, before - dec!(2), "both postings committed");
    // `cp migrate` puts it back, and the feed records again.
    cp.migrate().await.expect("migrate");
    sql(cp, post, vec![item_no(1).into()]).await;
    assert_eq!(cp.pending_inventory_changes(10).await.expect("changes").len(), 1);
}

async fn customers_are_created_matched_and_updated<D: Driver>(cp: &SqlCounterpoint<D>) {
    let scheme = CustNoScheme { prefix: "WEB".into(), width: 6 };
    let mut customer = Customer {
        nam: "Grace Hopper".into(),
        fst_nam: Some("Grace".into()),
        lst_nam: Some("Hopper".into()),
        adrs_1: Some("1 Main St, a very long address line that certainly does not fit forty characters".into()),
        email_adrs_1: Some("Grace@Example.test".into()),
        is_ecomm_cust: true,
        str_id: Some("1".into()),
        ..Customer::default()
    };
    let ship = ShipAddress {
        ship_adrs_id: "WEB".into(),
        nam: "Grace Hopper".into(),
        city: Some("Oakland".into()),
        ..ShipAddress::default()
    };
    let cust_no = cp.upsert_customer(&customer, Some(&ship), &scheme, at(5, 0, 0)).await.expect("create");
    assert_eq!(cust_no, "WEB000001");
    let found = cp.customer_by_email("grace@example.TEST").await.expect("find").expect("by email");
    assert_eq!(found.cust_no, cust_no);
    assert_eq!(found.adrs_1.as_deref().map(str::len), Some(40), "long addresses are cut to the column");
    customer.cust_no = cust_no.clone();
    customer.city = Some("San Jose".into());
    assert_eq!(cp.upsert_customer(&customer, Some(&ship), &scheme, at(5, 0, 1)).await.expect("update"), cust_no);
    assert_eq!(cp.customer(&cust_no).await.expect("get").expect("exists").city.as_deref(), Some("San Jose"));
    assert_eq!(scalar(cp, "SELECT COUNT(*) AS V FROM dbo.AR_SHIP_ADRS", vec![]).await, dec!(1));
    let page = cp.customers_changed_since(&Watermark::start(), 10).await.expect("changed");
    assert_eq!(page.len(), 1);

    customer.cust_no = CustNo::default();
    customer.email_adrs_1 = Some(format!("{}@example.test", "x".repeat(60)));
    let err = cp.upsert_customer(&customer, None, &scheme, at(5, 0, 2)).await.expect_err("email too long");
    assert!(
        matches!(err, CpError::Invalid { .. }) && err.to_string().contains("EMAIL_ADRS_1 holds at most 50"),
        "{err}"
    );
}

async fn price_rules_load_with_their_breaks<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let groups = cp.price_groups().await.expect("groups");
    let rules: usize = groups.iter().map(|g| g.rules.len()).sum();
    assert_eq!(rules, 12 + 1, "12 contract rules and the clearance rule");
    assert!(groups.iter().flat_map(|g| &g.rules).all(|r| !r.breaks.is_empty()));
    let clearance = groups.iter().find(|g| g.grp_cod == "CLEARANCE").expect("promotion");
    assert!(clearance.end_dat.is_some() && clearance.grp_typ == "P");
    let before = cp.pricing_changed_at().await.expect("stamp").expect("some");
    let later = chrono::Utc::now().naive_utc() + Duration::hours(2);
    sql(
        cp,
        "UPDATE dbo.IM_PRC_RUL_BRK SET AMT_OR_PCT = 33, RS_UTC_DT = @P1 WHERE GRP_COD = 'CLEARANCE'",
        vec![later.into()],
    )
    .await;
    assert!(cp.pricing_changed_at().await.expect("stamp").expect("some") > before);
}

async fn bad_rows_give_errors_that_name_them<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    sql(
        cp,
        "UPDATE dbo.IM_INV SET QTY_ON_HND = 'abc' WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN'",
        vec![item_no(1).into()],
    )
    .await;
    let err = cp.inventory_for_items(&[item_no(1)], &["MAIN".into()]).await.expect_err("abc");
    assert_eq!(
        err.to_string(),
        format!("bad data in IM_INV (ITEM_NO={}, LOC_ID=MAIN), column QTY_ON_HND: \"abc\" is not a number", item_no(1))
    );
    sql(cp, "DROP TABLE dbo.USER_INV_CHANGES", vec![]).await;
    let err = cp.pending_inventory_changes(1).await.expect_err("no table");
    assert!(matches!(err, CpError::Schema(_)) && err.to_string().contains("USER_INV_CHANGES"), "{err}");
}

/// `cp migrate` over the seed system's staging table (no `STATUS`, `IS_APPLIED` saying what it did): what it applied
/// is `APPLIED`, the rest `LEGACY`: never claimed, holding no stock, until an operator adopts one. SQL Server only
/// (the replica is created whole, never migrated).
async fn migrating_over_the_seed_systems_table_keeps_its_orders_out<D: Driver>(cp: &SqlCounterpoint<D>) {
    sql(cp, "DROP TABLE dbo.USER_ORDER_STAGING", vec![]).await;
    sql(
        cp,
        "CREATE TABLE dbo.USER_ORDER_STAGING (STAGING_ID BIGINT IDENTITY(1,1) PRIMARY KEY, WOO_ORDER_ID BIGINT NOT NULL, \
         RAW_ORDER_JSON NVARCHAR(MAX), LINE_ITEMS_JSON NVARCHAR(MAX), IS_APPLIED BIT NOT NULL DEFAULT 0)",
        vec![],
    )
    .await;
    for (woo_id, applied) in [(7001i64, 1i64), (7002, 0)] {
        sql(
            cp,
            "INSERT INTO dbo.USER_ORDER_STAGING (WOO_ORDER_ID, RAW_ORDER_JSON, LINE_ITEMS_JSON, IS_APPLIED) \
             VALUES (@P1, N'{}', N'[{\"sku\":\"OLD-1\",\"quantity\":\"2\"}]', @P2)",
            vec![woo_id.into(), applied.into()],
        )
        .await;
    }
    cp.migrate().await.expect("migrate over the old table");
    cp.migrate().await.expect("and again");
    let applied = cp.staged_order_by_woo_id(woo(7001)).await.expect("read").expect("row");
    let legacy = cp.staged_order_by_woo_id(woo(7002)).await.expect("read").expect("row");
    assert_eq!((applied.status, legacy.status), (StagingStatus::Applied, StagingStatus::Legacy));
    assert!(cp.claim_staged_orders(at(23, 0, 0), Duration::minutes(5), 10).await.expect("claim").is_empty());
    assert!(cp.unapplied_order_lines(at(0, 0, 0)).await.expect("held").is_empty(), "legacy rows hold no stock");
    let listed = cp.staged_orders(Some(StagingStatus::Legacy), 10).await.expect("list");
    assert_eq!(listed.iter().map(|o| o.woo_order_id.get()).collect::<Vec<_>>(), [7002]);
    assert!(cp.requeue_staged_order(legacy.staging_id).await.expect("adopt"));
    assert_eq!(cp.staged_order(legacy.staging_id).await.expect("read").expect("row").status, StagingStatus::Pending);
}

/// Every NOT NULL column of every row a document writes holds a value, and the values mean what Counterpoint means.
async fn a_document_fills_every_required_column<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let (a, b) = (item_no(1), item_no(2));
    cp.stage_order(&new_order(700, &[(a.as_str(), 3), (b.as_str(), 1)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    let mut doc = document(&[(a.as_str(), 3, dec!(3.3333)), (b.as_str(), 1, dec!(7.20))], true);
    doc.bill_to.company = Some("Hopper Computing".into());
    let outcome = cp.apply_staged_order(&claim, &doc, at(5, 0, 2)).await.expect("apply");
    let ApplyOutcome::Applied { doc_id, .. } = outcome else { panic!("expected Applied, got {outcome:?}") };
    assert_eq!(doc_id / 1_000_000_000 % 100, 90, "DOC_ID carries PS_STA.STA_NO of cpbridge's station");
    for table in ["PS_DOC_HDR", "PS_DOC_LIN", "PS_DOC_HDR_TOT", "PS_DOC_PMT", "PS_DOC_CONTACT"] {
        let model = cpbridge_counterpoint::schema::table(table).expect("model");
        let count = format!("SELECT COUNT(*) AS V FROM dbo.{table} WHERE DOC_ID = @P1");
        assert!(scalar(cp, &count, vec![doc_id.into()]).await > Decimal::ZERO, "{table} has rows for the document");
        for column in model.columns.iter().filter(|c| c.not_null) {
            let nulls = format!("{count} AND {} IS NULL", column.name);
            assert_eq!(scalar(cp, &nulls, vec![doc_id.into()]).await, Decimal::ZERO, "{table}.{}", column.name);
        }
    }
    let text = |sql: &'static str| {
        let sql = cp.driver().dialect().render(sql);
        async move {
            let mut tx = cp.driver().begin(TxMode::Read).await.expect("begin");
            let rows = tx.query(&sql, &[doc_id.into()]).await.expect("read");
            rows.first().and_then(|r| r.opt_text("V").expect("text")).unwrap_or_default()
        }
    };
    assert_eq!(text("SELECT PAY_COD_TYP AS V FROM dbo.PS_DOC_PMT WHERE DOC_ID = @P1").await, "E", "SY_PAY_COD.PAY_TYP");
    assert_eq!(text("SELECT FINAL_PMT AS V FROM dbo.PS_DOC_PMT WHERE DOC_ID = @P1").await, "N", "a deposit");
    assert_eq!(text("SELECT EDC_AUTH_RESP AS V FROM dbo.PS_DOC_PMT WHERE DOC_ID = @P1").await, "ch_3QxTX123");
    assert_eq!(text("SELECT NAM_TYP AS V FROM dbo.PS_DOC_CONTACT WHERE DOC_ID = @P1 AND CONTACT_ID = 1").await, "B");
    assert_eq!(
        text("SELECT NAM AS V FROM dbo.PS_DOC_CONTACT WHERE DOC_ID = @P1 AND CONTACT_ID = 1").await,
        "Hopper Computing"
    );
    assert_eq!(text("SELECT NAM_TYP AS V FROM dbo.PS_DOC_CONTACT WHERE DOC_ID = @P1 AND CONTACT_ID = 2").await, "P");
    assert_eq!(text("SELECT QTY_UNIT AS V FROM dbo.PS_DOC_LIN WHERE DOC_ID = @P1 AND LIN_SEQ_NO = 1").await, "EACH");
    assert_eq!(
        scalar(
            cp,
            "SELECT EXT_PRC AS V FROM dbo.PS_DOC_LIN WHERE DOC_ID = @P1 AND LIN_SEQ_NO = 1",
            vec![doc_id.into()]
        )
        .await,
        dec!(10.00),
        "3 x 3.3333 is written to the cent"
    );
    let tot = scalar(cp, "SELECT TOT AS V FROM dbo.PS_DOC_HDR_TOT WHERE DOC_ID = @P1", vec![doc_id.into()]).await;
    let parts = scalar(
        cp,
        "SELECT SUB_TOT - TOT_HDR_DISC - TOT_LIN_DISC + TAX_AMT + TOT_MISC AS V FROM dbo.PS_DOC_HDR_TOT WHERE DOC_ID = @P1",
        vec![doc_id.into()],
    );
    assert_eq!(parts.await, tot, "the totals rule holds on the stored, rounded values");

    // A pay code Counterpoint does not know is a clear reason, and nothing is written.
    cp.stage_order(&new_order(701, &[(a.as_str(), 1)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 3)).await;
    let mut unknown = document(&[(a.as_str(), 1, dec!(2))], true);
    unknown.payments[0].pay_cod = "BITCOIN".into();
    let err = cp.apply_staged_order(&claim, &unknown, at(5, 0, 4)).await.expect_err("unknown pay code");
    assert!(err.to_string().contains("pay code BITCOIN is not in SY_PAY_COD"), "{err}");
    assert_eq!(docs_for(cp).await, dec!(1));

    // The replica refuses what SQL Server refuses: a value longer than its VARCHAR.
    let mut tx = cp.driver().begin(TxMode::Write).await.expect("begin");
    let too_long = tx
        .execute(
            &cp.driver().dialect().render("UPDATE dbo.PS_DOC_HDR SET TKT_NO = @P1 WHERE DOC_ID = @P2"),
            &["W-00000000000001".into(), doc_id.into()],
        )
        .await;
    assert!(too_long.is_err(), "TKT_NO is VARCHAR(15): 16 characters are refused");
}

/// `doctor`'s setup check: every code cpbridge's documents point at exists, and its station is its own.
async fn the_shop_setup_is_checked_code_by_code<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let setup = ShopSetup {
        str_id: "1".into(),
        sta_id: "WEB".into(),
        drw_id: "1".into(),
        usr_id: "CPBRIDGE".into(),
        pay_codes: vec!["CREDIT".into(), "PAYPAL".into()],
        tkt_prefix: "W".into(),
    };
    assert_eq!(cp.setup_problems(&setup).await.expect("check"), Vec::<String>::new());
    sql(cp, "DELETE FROM dbo.SY_PAY_COD WHERE PAY_COD = 'PAYPAL'", vec![]).await;
    sql(
        cp,
        "INSERT INTO dbo.PS_DOC_HDR (DOC_ID, DOC_GUID, DOC_TYP, STR_ID, STA_ID, TKT_NO) VALUES (7, @P1, 'T', '1', 'WEB', '101-000004')",
        vec![uuid::Uuid::new_v4().into()],
    )
    .await;
    let wrong = ShopSetup { drw_id: "NOPE".into(), ..setup };
    let problems = cp.setup_problems(&wrong).await.expect("check");
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("drawer NOPE of store 1"), "{problems:?}");
    assert!(problems[1].contains("pay code PAYPAL"), "{problems:?}");
    assert!(problems[2].contains("1 open document(s) on station WEB"), "{problems:?}");
}

/// The seed has grids as Counterpoint keeps them: dimension values, cells whose quantities add up to the item's
/// stock row, a cell kept off the web, and per-cell prices.
async fn seeded_grids_add_up<D: Driver>(cp: &SqlCounterpoint<D>) {
    seed_small(cp).await;
    let count = |sql: &'static str| scalar(cp, sql, vec![]);
    assert!(count("SELECT COUNT(*) AS V FROM dbo.IM_ITEM WHERE TRK_METH = 'G'").await >= dec!(2), "gridded items");
    assert_eq!(
        count(
            "SELECT COUNT(*) AS V FROM dbo.IM_INV i JOIN dbo.IM_ITEM t ON t.ITEM_NO = i.ITEM_NO AND t.TRK_METH = 'G' \
             WHERE i.QTY_ON_HND <> (SELECT SUM(c.QTY_ON_HND) FROM dbo.IM_INV_CELL c \
             WHERE c.ITEM_NO = i.ITEM_NO AND c.LOC_ID = i.LOC_ID)"
        )
        .await,
        Decimal::ZERO,
        "every gridded item's stock row is the sum of its cells"
    );
    assert!(count("SELECT COUNT(*) AS V FROM dbo.IM_INV_CELL WHERE IS_ECOMM_ITEM_CELL = 'N'").await > Decimal::ZERO);
    assert!(count("SELECT COUNT(*) AS V FROM dbo.IM_GRID_DIM_2").await > Decimal::ZERO);
    assert!(count("SELECT COUNT(*) AS V FROM dbo.IM_PRC WHERE DIM_1_UPR <> '*'").await > Decimal::ZERO);
    assert_eq!(
        count("SELECT COUNT(*) AS V FROM dbo.IM_ITEM WHERE TRK_METH = 'G' AND GRID_DIM_1_TAG IS NULL").await,
        Decimal::ZERO
    );
    // Read back through the port: the first gridded item (an apparel item: 4 sizes by 3 colours).
    let grid = item_no(1);
    let dims = cp.grid_dims(std::slice::from_ref(&grid)).await.expect("dims");
    let sizes: Vec<&str> = dims.iter().filter(|d| d.dim == 1).map(|d| d.label.as_str()).collect();
    assert_eq!(sizes, ["S", "M", "L", "XL"], "in display order");
    assert_eq!(dims.iter().filter(|d| d.dim == 2).count(), 3);
    let cells = cp.cell_levels(std::slice::from_ref(&grid), &["MAIN".into()]).await.expect("cells");
    assert_eq!(cells.len(), 12);
    let on_hand: Decimal = cells.iter().map(|c| c.qty_on_hnd).sum();
    assert_eq!(on_hand, qty(cp, &grid, "QTY_ON_HND").await, "the cells add up to the item's row");
    assert!(cells.iter().all(|c| c.dims[2] == "*"), "two dimensions: the third is '*'");

    // An order line for a variation: booked on its cell and on the item's row, with the cell on the line.
    let cell: [String; 3] = ["M".into(), "NAVY".into(), "*".into()];
    let cell_qty = |column: &'static str| {
        scalar(
            cp,
            match column {
                "QTY_COMMIT" => {
                    "SELECT QTY_COMMIT AS V FROM dbo.IM_INV_CELL WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN' \
                     AND DIM_1_UPR = 'M' AND DIM_2_UPR = 'NAVY'"
                }
                _ => {
                    "SELECT QTY_ON_ORD AS V FROM dbo.IM_INV_CELL WHERE ITEM_NO = @P1 AND LOC_ID = 'MAIN' \
                     AND DIM_1_UPR = 'M' AND DIM_2_UPR = 'NAVY'"
                }
            },
            vec![grid.as_str().into()],
        )
    };
    let (cell_before, item_before) = (cell_qty("QTY_COMMIT").await, qty(cp, &grid, "QTY_COMMIT").await);
    let on_order_before = cell_qty("QTY_ON_ORD").await;
    cp.stage_order(&new_order(800, &[(grid.as_str(), 2)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 1)).await;
    let mut doc = document(&[(grid.as_str(), 2, dec!(12))], true);
    doc.lines[0].cell = Some(cell.clone());
    let outcome = cp.apply_staged_order(&claim, &doc, at(5, 0, 2)).await.expect("apply");
    let ApplyOutcome::Applied { doc_id, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(cell_qty("QTY_COMMIT").await, cell_before + dec!(2), "the cell is committed");
    assert_eq!(cell_qty("QTY_ON_ORD").await, on_order_before + dec!(2));
    assert_eq!(qty(cp, &grid, "QTY_COMMIT").await, item_before + dec!(2), "and the item's row, its sum");
    let lin_cells = scalar(
        cp,
        "SELECT SUM(QTY_SOLD) AS V FROM dbo.PS_DOC_LIN_CELL WHERE DOC_ID = @P1 AND DIM_1_UPR = 'M' AND DIM_2_UPR = 'NAVY'",
        vec![doc_id.into()],
    );
    assert_eq!(lin_cells.await, dec!(2), "the line's cell row");
    let mut tx = cp.driver().begin(TxMode::Read).await.expect("begin");
    let rows = tx
        .query(
            &cp.driver().dialect().render("SELECT DIM_1_UPR, CELL_DESCR FROM dbo.PS_DOC_LIN WHERE DOC_ID = @P1"),
            &[doc_id.into()],
        )
        .await
        .expect("line");
    let line = rows.first().expect("a line");
    assert_eq!(
        (line.opt_text("DIM_1_UPR").expect("dim"), line.opt_text("CELL_DESCR").expect("descr")),
        (Some("M".into()), Some("M/NAVY".into()))
    );
    drop(tx);

    // A cell the item does not have at the location is a clear reason, and nothing is written.
    cp.stage_order(&new_order(801, &[(grid.as_str(), 1)]), at(5, 0, 0)).await.expect("stage");
    let claim = claim_one(cp, at(5, 0, 3)).await;
    let mut missing = document(&[(grid.as_str(), 1, dec!(12))], true);
    missing.lines[0].cell = Some(["XXL".into(), "NAVY".into(), "*".into()]);
    let err = cp.apply_staged_order(&claim, &missing, at(5, 0, 4)).await.expect_err("no such cell");
    assert!(
        err.to_string().contains(&format!("cell XXL/NAVY of item {grid} is not stocked at location MAIN")),
        "{err}"
    );
    assert_eq!(qty(cp, &grid, "QTY_COMMIT").await, item_before + dec!(2), "nothing of it was kept");
}

// ---------------------------------------------------------------------------------------------------------------
// Runners.

macro_rules! on_sqlite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let dir = tempfile::tempdir().expect("tempdir");
            let cp = SqlCounterpoint::create_replica(&dir.path().join("cp.db")).await.expect("replica");
            super::$name(&cp).await;
        }
    )*};
}

/// The checks every driver must pass; each runner applies its macro to this one list.
macro_rules! every_driver_check {
    ($runner:ident) => {
        $runner!(
            schema_is_complete_and_gaps_are_named,
            stage_twice_gives_one_row,
            apply_writes_one_complete_document,
            a_document_fills_every_required_column,
            the_shop_setup_is_checked_code_by_code,
            seeded_grids_add_up,
            a_failed_transaction_leaves_nothing_and_the_retry_applies_once,
            claims_are_exclusive_and_leases_expire,
            failures_retry_then_go_dead_and_can_be_replayed,
            backorders_are_recorded_per_line,
            document_ids_skip_taken_ones,
            document_state_follows_counterpoint,
            change_feeds_page_through_everything_once,
            inventory_triggers_record_plain_sql_changes,
            customers_are_created_matched_and_updated,
            price_rules_load_with_their_breaks,
            writebacks_retry_on_their_own_and_restaging_replaces_the_order
        );
    };
}

mod sqlite {
    use super::*;
    every_driver_check!(on_sqlite);
    // SQLite stores text in a DECIMAL column, so only the replica can hold the bad row this check reads.
    on_sqlite!(bad_rows_give_errors_that_name_them);
}

#[tokio::test]
async fn a_missing_replica_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = SqlCounterpoint::open_replica(&dir.path().join("nope.db")).await.expect_err("missing");
    assert!(matches!(err, CpError::Unavailable { .. }) && err.to_string().contains("does not exist"), "{err}");
    let _ = SqliteDriver::create(&dir.path().join("a.db")).await.expect("create");
    assert!(SqliteDriver::create(&dir.path().join("a.db")).await.is_err(), "never overwrites a replica");
}

#[tokio::test]
async fn an_unreachable_sql_server_is_a_clear_error() {
    // A port nothing listens on, on loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let cp = SqlCounterpoint::<MssqlDriver>::connect_mssql(&format!(
        "server=tcp:127.0.0.1,{port};user=sa;password=Secret123!;TrustServerCertificate=true"
    ))
    .expect("config");
    let err = cp.verify_schema().await.expect_err("unreachable");
    assert!(matches!(err, CpError::Unavailable { .. }) && err.is_retryable(), "{err}");
    assert!(!err.to_string().contains("Secret123!"), "{err}");
}

/// The same checks against a real SQL Server, when `CPBRIDGE_MSSQL_TEST_URL` is set. Each check runs as a task of
/// its own on a fresh fixture (so a debug build's large futures live on the heap, not on the test thread's stack),
/// and a failing check is reported with the others rather than hiding them. `cp migrate` must be idempotent after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_suite() {
    let Ok(url) = std::env::var("CPBRIDGE_MSSQL_TEST_URL") else {
        eprintln!(
            "mssql_suite skipped: set CPBRIDGE_MSSQL_TEST_URL to an ADO.NET connection string of a scratch database"
        );
        return;
    };
    let cp = std::sync::Arc::new(SqlCounterpoint::<MssqlDriver>::connect_mssql(&url).expect("connection string"));
    let mut failed: Vec<String> = Vec::new();
    let mut passed = 0;
    macro_rules! run {
        ($($name:ident),*) => {$(
            eprintln!("mssql_suite: {}", stringify!($name));
            let check = {
                let cp = cp.clone();
                tokio::spawn(async move {
                    cp.install_test_fixture().await.expect("fixture");
                    $name(cp.as_ref()).await;
                })
            };
            match check.await {
                Ok(()) => passed += 1,
                Err(e) => failed.push(format!("{}: {e}", stringify!($name))),
            }
        )*};
    }
    every_driver_check!(run);
    run!(migrating_over_the_seed_systems_table_keeps_its_orders_out);
    // SQLite prepares a trigger's statements with the statement that fires it, so a replica whose change table is
    // gone refuses the update; only SQL Server's trigger can be made safe, and this checks it.
    run!(a_register_posting_commits_whatever_happened_to_the_change_table);
    // Last: it changes how the shared port numbers documents until it drops the function again.
    run!(document_ids_come_from_fn_gen_doc_id);
    let migrated = cp.migrate().await;
    eprintln!("mssql_suite: {passed} checks passed, {} failed", failed.len());
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
    migrated.expect("migrate is idempotent");
}

// ---------------------------------------------------------------------------------------------------------------
// The T-SQL text of every statement the port sends to SQL Server.

/// A driver that speaks the SQL Server dialect to nobody: it keeps every statement with its parameter count, answers
/// queries with no rows and writes with one row. Only for reading the T-SQL the port writes.
#[derive(Clone, Default)]
struct TsqlRecorder {
    log: std::sync::Arc<std::sync::Mutex<Vec<(String, usize)>>>,
}

struct RecorderTx(std::sync::Arc<std::sync::Mutex<Vec<(String, usize)>>>);

impl Driver for TsqlRecorder {
    type Tx = RecorderTx;

    fn dialect(&self) -> cpbridge_counterpoint::dialect::Dialect {
        cpbridge_counterpoint::dialect::Dialect::Mssql
    }

    fn target(&self) -> String {
        "T-SQL recorder".into()
    }

    async fn begin(&self, _mode: TxMode) -> cpbridge_counterpoint::CpResult<RecorderTx> {
        Ok(RecorderTx(self.log.clone()))
    }
}

impl Tx for RecorderTx {
    async fn query(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> cpbridge_counterpoint::CpResult<Vec<cpbridge_counterpoint::value::Row>> {
        self.0.lock().expect("lock").push((sql.to_owned(), params.len()));
        // Just enough answers for the apply path to reach every statement it sends.
        let row = |cols: &[&str], values: Vec<Value>| {
            let cols: std::sync::Arc<[String]> = cols.iter().map(|c| (*c).to_owned()).collect();
            cpbridge_counterpoint::value::Row::new(cols, values)
        };
        Ok(if sql.contains("OUTPUT INSERTED.NEXT_NO") {
            vec![row(&["NEXT_NO"], vec![Value::Int(1)])]
        } else if sql.contains("SELECT STR_NO") {
            vec![row(&["STR_NO"], vec![Value::Int(1)])]
        } else if sql.contains("SELECT STA_NO") {
            vec![row(&["STA_NO"], vec![Value::Int(90)])]
        } else if sql.contains("SELECT PAY_TYP") {
            vec![row(&["PAY_TYP", "CURNCY_COD"], vec![Value::Text("E".into()), Value::Text("HOME".into())])]
        } else if sql.contains("MAX(DOC_ID)") {
            vec![row(&["TOP_ID"], vec![Value::Null])]
        } else if sql.contains("FROM dbo.IM_INV_CELL WITH") {
            let qty = |d: Decimal| Value::Dec(d);
            vec![row(
                &["ITEM_NO", "LOC_ID", "QTY_ON_HND", "QTY_COMMIT", "QTY_ON_ORD"],
                vec![Value::Text("A-1".into()), Value::Text("MAIN".into()), qty(dec!(4)), qty(dec!(0)), qty(dec!(0))],
            )]
        } else if sql.contains("FROM dbo.IM_INV WITH") {
            let qty = |d: Decimal| Value::Dec(d);
            vec![row(
                &["ITEM_NO", "LOC_ID", "QTY_ON_HND", "QTY_COMMIT", "QTY_ON_ORD"],
                vec![Value::Text("A-1".into()), Value::Text("MAIN".into()), qty(dec!(10)), qty(dec!(0)), qty(dec!(0))],
            )]
        } else {
            Vec::new()
        })
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> cpbridge_counterpoint::CpResult<u64> {
        self.0.lock().expect("lock").push((sql.to_owned(), params.len()));
        Ok(1)
    }

    async fn execute_script(&mut self, sql: &str) -> cpbridge_counterpoint::CpResult<()> {
        self.0.lock().expect("lock").push((sql.to_owned(), 0));
        Ok(())
    }

    async fn commit(self) -> cpbridge_counterpoint::CpResult<()> {
        Ok(())
    }
}

/// Every operation of the port, called once against the recorder (results are ignored: there is no database).
async fn every_operation(cp: &SqlCounterpoint<TsqlRecorder>) {
    let wm = watermark_after(Some(at(5, 0, 0)), &["A-1"]);
    let wm2 = watermark_after(Some(at(5, 0, 0)), &["A-1", "MAIN"]);
    let wm5 = watermark_after(Some(at(5, 0, 0)), &["A-1", "MAIN", "*", "*", "*"]);
    let skus = vec!["A-1".to_owned(), "B-2".to_owned()];
    let locs = vec!["MAIN".to_owned()];
    let _ = cp.table_counts().await;
    let _ = cp.verify_schema().await;
    let _ = cp.items_changed_since(&wm, 100).await;
    let _ = cp.items_changed_since(&Watermark::start(), 100).await;
    let _ = cp.items_by_no(&skus).await;
    let _ = cp.prices_changed_since(&wm5, 100).await;
    let _ = cp.inventory_changed_since(&wm2, 100).await;
    let _ = cp.inventory_for_items(&skus, &locs).await;
    let _ = cp.pending_inventory_changes(100).await;
    let _ = cp.consume_inventory_changes(&[1, 2, 3], at(5, 0, 0)).await;
    let _ = cp.purge_inventory_changes(at(5, 0, 0)).await;
    let _ = cp.grid_dims(&skus).await;
    let _ = cp.cell_levels(&skus, &locs).await;
    let _ = cp.inventory_change_backlog().await;
    let _ = cp.customers_changed_since(&wm, 100).await;
    let _ = cp.customer(&CustNo::from("C1")).await;
    let _ = cp.customer_by_email("a@example.test").await;
    let scheme = CustNoScheme { prefix: "WEB".into(), width: 6 };
    let customer = Customer { nam: "Ada".into(), email_adrs_1: Some("a@example.test".into()), ..Customer::default() };
    let ship = ShipAddress { ship_adrs_id: "WEB".into(), nam: "Ada".into(), ..ShipAddress::default() };
    let _ = cp.upsert_customer(&customer, Some(&ship), &scheme, at(5, 0, 0)).await;
    let existing = Customer { cust_no: "C1".into(), ..customer.clone() };
    let _ = cp.upsert_customer(&existing, Some(&ship), &scheme, at(5, 0, 0)).await;
    let order = new_order(7, &[("A-1", 2)]);
    let _ = cp.stage_order(&order, at(5, 0, 0)).await;
    let _ = cp.claim_staged_orders(at(5, 0, 0), Duration::minutes(5), 10).await;
    let _ = cp.staged_order(StagingId::new(1)).await;
    let _ = cp.staged_order_by_woo_id(woo(7)).await;
    let _ = cp.staged_orders(None, 10).await;
    let _ = cp.staged_orders(Some(StagingStatus::Dead), 10).await;
    let _ = cp.staging_counts().await;
    let _ = cp.requeue_staged_order(StagingId::new(1)).await;
    let _ = cp.cancel_staged_order(woo(7), "cancelled in WooCommerce").await;
    let _ = cp.mark_woo_synced(StagingId::new(1), at(5, 0, 0)).await;
    let _ = cp.writebacks_due(at(5, 0, 0), 10).await;
    let _ = cp.fail_writeback(StagingId::new(1), "503", at(5, 0, 0)).await;
    let _ = cp.open_applied_orders(StagingId::new(0), 10).await;
    let _ = cp.set_doc_state(StagingId::new(1), "COMPLETED").await;
    let _ = cp.restage_order(StagingId::new(1), &order).await;
    let _ = cp.unapplied_order_lines(at(0, 0, 0)).await;
    let _ = cp.discard_staged_order(StagingId::new(1), "by hand").await;
    let _ = cp.staging_heads(StagingId::new(0), 1000).await;
    let _ = cp.station_documents("WEB", 0, 1000).await;
    let _ = cp.document_state(102_611_250_000_001, "W-000001").await;
    let _ = cp.price_groups().await;
    let _ = cp.pricing_changed_at().await;
    let setup = ShopSetup { pay_codes: vec!["CREDIT".into()], ..ShopSetup::default() };
    let _ = cp.setup_problems(&setup).await;
    let staged = cpbridge_core::staging::StagedOrder {
        staging_id: StagingId::new(1),
        woo_order_id: woo(7),
        woo_order_no: "7".into(),
        cust_no: None,
        tot_amt: dec!(10),
        status: StagingStatus::Applying,
        attempts: 1,
        next_attempt_dt: None,
        last_err: None,
        lines: order.lines.clone(),
        raw_order_json: "{}".into(),
        cp_doc_id: None,
        cp_tkt_no: None,
        applied_dt: None,
        woo_synced_dt: None,
        bkord_qty: Decimal::ZERO,
        woo_sync_attempts: 0,
        woo_sync_err: None,
        cp_doc_state: None,
        created_dt: at(5, 0, 0),
    };
    let claim = ClaimedOrder { order: staged, claim_token: "token".into() };
    let _ = cp.fail_staged_order(&claim, "unknown SKU", Some(at(5, 1, 0))).await;
    let _ = cp.fail_staged_order(&claim, "unknown SKU", None).await;
    let _ = cp.apply_staged_order(&claim, &document(&[("A-1", 2, dec!(5))], true), at(5, 0, 0)).await;
    let mut grid_line = document(&[("A-1", 2, dec!(5))], true);
    grid_line.lines[0].cell = Some(["M".into(), "NAVY".into(), "*".into()]);
    let _ = cp.apply_staged_order(&claim, &grid_line, at(5, 0, 0)).await;
    let _ = cp.migrate().await;
}

/// Every `VARCHAR` column name of the table model.
fn varchar_columns() -> BTreeSet<&'static str> {
    cpbridge_counterpoint::schema::TABLES
        .iter()
        .flat_map(|t| t.columns.iter())
        .filter(|c| matches!(c.ty, cpbridge_counterpoint::schema::ColType::VarChar(_)))
        .map(|c| c.name)
        .collect()
}

/// True when `sql` holds `needle` outside string literals.
fn outside_literals(sql: &str, needle: &str) -> bool {
    let mut code = String::new();
    let mut in_text = false;
    for c in sql.chars() {
        if c == '\'' {
            in_text = !in_text;
        } else if !in_text {
            code.push(c);
        }
    }
    code.to_uppercase().contains(&needle.to_uppercase())
}

/// Every statement the port sends to SQL Server parses under a T-SQL grammar: sqlparser's `MsSqlDialect`, written from
/// SQL Server's documentation, not from this code. It is lenient about other dialects' clauses (the test above refuses
/// those); what it catches is a statement built wrong (a dangling comma, a missing expression), above all in the
/// T-SQL that only the SQL Server driver sends (`MERGE`, `OUTPUT`, `TOP`, lock hints, `dbo.fnGenDocId`), which the
/// replica never runs. The install scripts
/// (batches separated by `GO`, sent by `cp migrate`) are left to the SQL Server suite: the grammar lacks several of
/// their DDL clauses (`DEFAULT 0 WITH VALUES`, `CREATE TRIGGER ... WITH EXECUTE AS`). One valid clause it lacks in
/// DML, `UPDATE ... OUTPUT INSERTED.col`, is taken out before parsing, so the rest of that statement is still checked.
#[tokio::test]
async fn every_statement_sent_to_sql_server_parses_as_t_sql() {
    let recorder = TsqlRecorder::default();
    let cp = SqlCounterpoint::from_driver(recorder.clone());
    every_operation(&cp).await;
    let log = recorder.log.lock().expect("lock").clone();
    let statements: BTreeSet<String> =
        log.into_iter().map(|(sql, _)| sql).filter(|sql| !sql.contains("\nGO")).collect();
    assert!(statements.len() > 40, "the operations reach most statements: {}", statements.len());
    let dialect = sqlparser::dialect::MsSqlDialect {};
    let mut problems = Vec::new();
    for sql in &statements {
        let checked = without_output_clause(sql);
        if let Err(e) = sqlparser::parser::Parser::parse_sql(&dialect, &checked) {
            problems.push(format!("{e} in: {sql}"));
        }
    }
    assert!(problems.is_empty(), "not T-SQL:\n{}", problems.join("\n\n"));
    // The check can fail: a statement built with a dangling comma does not parse.
    assert!(
        sqlparser::parser::Parser::parse_sql(&dialect, "SELECT ITEM_NO, FROM dbo.IM_ITEM WHERE ITEM_NO = @P1").is_err()
    );
    assert_eq!(
        without_output_clause("UPDATE dbo.C SET N = N + 1 OUTPUT INSERTED.N WHERE K = @P1"),
        "UPDATE dbo.C SET N = N + 1 WHERE K = @P1"
    );
}

/// `UPDATE ... SET ... OUTPUT INSERTED.a, INSERTED.b WHERE ...` without its `OUTPUT` clause.
fn without_output_clause(sql: &str) -> String {
    let Some(at) = sql.find(" OUTPUT INSERTED.") else { return sql.to_owned() };
    let rest = &sql[at + " OUTPUT ".len()..];
    let end = rest.find(" WHERE ").or_else(|| rest.find(" FROM ")).unwrap_or(rest.len());
    format!("{}{}", &sql[..at], &rest[end..])
}

#[tokio::test]
async fn every_statement_sent_to_sql_server_is_t_sql() {
    let recorder = TsqlRecorder::default();
    let cp = SqlCounterpoint::from_driver(recorder.clone());
    every_operation(&cp).await;
    let log = recorder.log.lock().expect("lock").clone();
    let mut seen = BTreeSet::new();
    let mut statements: Vec<(String, usize)> = Vec::new();
    for (sql, params) in log {
        if seen.insert(sql.clone()) {
            statements.push((sql, params));
        }
    }
    assert!(statements.len() > 40, "the operations reach most statements: {}", statements.len());
    let mut problems = Vec::new();
    for (sql, params) in &statements {
        for sqlite_only in [
            "LIMIT ",
            "RETURNING",
            "ON CONFLICT",
            "INSERT OR",
            "DATETIME(",
            "STRFTIME(",
            "JULIANDAY(",
            "AUTOINCREMENT",
            "||",
            "IFNULL(",
            "GROUP_CONCAT",
            "BEGIN IMMEDIATE",
            "PRAGMA",
        ] {
            if outside_literals(sql, sqlite_only) {
                problems.push(format!("{sqlite_only:?} is not T-SQL in: {sql}"));
            }
        }
        if outside_literals(sql, "?") {
            problems.push(format!("a \"?\" placeholder in: {sql}"));
        }
        // Parameters are @P1..@Pn, each one used, none beyond what is bound.
        let used: BTreeSet<usize> = sql
            .match_indices("@P")
            .filter_map(|(i, _)| {
                let digits: String = sql[i + 2..].chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        let expected: BTreeSet<usize> = (1..=*params).collect();
        if !sql.contains("CREATE ") && used != expected {
            problems.push(format!("binds {params} parameters but uses {used:?} in: {sql}"));
        }
        // A VARCHAR column compared with a bare (NVARCHAR) parameter makes SQL Server scan instead of seek.
        if let Some(at) = sql.find("WHERE ") {
            let filter = &sql[at..];
            for column in varchar_columns() {
                for op in [" = @P", " <> @P", " > @P", " < @P", " >= @P", " <= @P", " LIKE @P", " IN (@P"] {
                    let bare = format!("{column}{op}");
                    if filter.match_indices(&bare).any(|(i, _)| {
                        i == 0 || !filter.as_bytes()[i - 1].is_ascii_alphanumeric() && filter.as_bytes()[i - 1] != b'_'
                    }) {
                        problems.push(format!("VARCHAR column {column} compared with a bare parameter in: {sql}"));
                    }
                }
            }
        }
        // The install scripts (CREATE ...) are snapshotted on their own in sql/mssql/.
        if !sql.contains("CREATE ")
            && outside_literals(sql, " FROM ")
            && !outside_literals(sql, "FROM DBO.")
            && !outside_literals(sql, "FROM SYS.")
            && !outside_literals(sql, "INFORMATION_SCHEMA")
        {
            problems.push(format!("a table without its dbo. schema in: {sql}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));

    // Every statement, in the order the operations send them: what a DBA reviews, and what review sees change.
    let mut text = String::from(
        "-- Every statement cpbridge sends to SQL Server, in the order the port's conformance operations send them.\n\
         -- Generated by crates/counterpoint/tests/port.rs (every_statement_sent_to_sql_server_is_t_sql);\n\
         -- refresh with CPBRIDGE_BLESS=1 cargo test -p cpbridge-counterpoint --test port.\n",
    );
    for (sql, params) in &statements {
        text.push_str(&format!("\n-- {params} parameter(s)\n{};\n", sql.trim()));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql/mssql/statements.sql");
    if std::env::var_os("CPBRIDGE_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "sql/mssql/statements.sql is out of date: run CPBRIDGE_BLESS=1 cargo test -p cpbridge-counterpoint --test port"
    );
}
