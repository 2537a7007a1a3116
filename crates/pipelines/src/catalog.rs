//! What the product, grid and stock syncs (and the price book and customer sync) read and keep alike: the
//! sync-record families in the state store, paged reads of Counterpoint's change feeds, the web orders that still
//! hold stock, and the variations' SKUs.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use cpbridge_core::records::{InventoryLevel, Item, VariationSkuRule, VariationSkus, Watermark};
use cpbridge_counterpoint::port::watermark_after;
use cpbridge_counterpoint::{CounterpointPort, CpError, CpResult};

use crate::jobs::now;

/// Sync-record families in the state store.
pub const PRODUCT_RECORDS: &str = "product";
pub const STOCK_RECORDS: &str = "stock";

/// Rows read from Counterpoint per query.
pub(crate) const PAGE: usize = 5000;

/// Reads every row of a paged Counterpoint feed.
pub(crate) async fn scan<T, F, Fut>(fetch: F, mark: impl Fn(&T) -> Watermark) -> CpResult<Vec<T>>
where
    F: FnMut(Watermark) -> Fut,
    Fut: Future<Output = CpResult<Vec<T>>>,
{
    Ok(scan_from(Watermark::start(), fetch, mark).await?.0)
}

/// Reads every row of a paged Counterpoint feed after `from`, and returns the watermark after the last one.
pub(crate) async fn scan_from<T, F, Fut>(
    from: Watermark,
    mut fetch: F,
    mark: impl Fn(&T) -> Watermark,
) -> CpResult<(Vec<T>, Watermark)>
where
    F: FnMut(Watermark) -> Fut,
    Fut: Future<Output = CpResult<Vec<T>>>,
{
    let mut all = Vec::new();
    let mut after = from;
    let mut seen = HashSet::new();
    loop {
        let page = fetch(after.clone()).await?;
        let full = page.len() >= PAGE;
        if let Some(last) = page.last() {
            let next = mark(last);
            // A full page that ends where an earlier one did would be read again forever: a database that
            // compares RS_UTC_DT with a finer value than it returns does that. Stop with the value, never loop.
            if full && (next == after || !seen.insert(next.clone())) {
                return Err(CpError::Sql {
                    context: "paging a Counterpoint change feed by RS_UTC_DT".into(),
                    detail: format!(
                        "a page of {} rows ended at a watermark already read (RS_UTC_DT {:?}, key {:?}); the \
                         database does not compare RS_UTC_DT with the value it returns",
                        page.len(),
                        next.at,
                        next.key
                    ),
                    code: None,
                });
            }
            after = next;
        }
        all.extend(page);
        if !full {
            return Ok((all, after));
        }
    }
}

pub(crate) async fn all_items(cp: &Arc<dyn CounterpointPort>) -> CpResult<Vec<Item>> {
    scan(
        |wm| {
            let cp = cp.clone();
            async move { cp.items_changed_since(&wm, PAGE).await }
        },
        |i: &Item| watermark_after(i.rs_utc_dt, &[&i.item_no]),
    )
    .await
}

pub(crate) async fn all_levels(cp: &Arc<dyn CounterpointPort>) -> CpResult<Vec<InventoryLevel>> {
    scan(
        |wm| {
            let cp = cp.clone();
            async move { cp.inventory_changed_since(&wm, PAGE).await }
        },
        |l: &InventoryLevel| watermark_after(l.rs_utc_dt, &[&l.item_no, &l.loc_id]),
    )
    .await
}

/// Sync-record family of variations: variation SKU → variation id, with the digest of what was sent.
pub const VARIATION_RECORDS: &str = "variation";

/// Each cell's variation SKU for these gridded items under `rule`.
///
/// # Errors
/// When Counterpoint cannot be read.
pub async fn variation_skus(
    cp: &dyn cpbridge_counterpoint::CounterpointPort,
    rule: VariationSkuRule,
    item_nos: &[String],
) -> cpbridge_counterpoint::CpResult<VariationSkus> {
    match rule {
        VariationSkuRule::ItemDims => Ok(VariationSkus::by_label()),
        VariationSkuRule::Barcode => Ok(VariationSkus::from_barcodes(cp.cell_barcodes(item_nos).await?)),
    }
}

/// Lines of the web orders that may still be applied: their stock stays off the web meanwhile. A `DEAD` order holds
/// its stock for `dead_hold` after it was staged (`orders.dead_hold_hours`), then the store may sell it again.
pub(crate) async fn held_lines(
    cp: &dyn cpbridge_counterpoint::CounterpointPort,
    dead_hold: chrono::Duration,
) -> cpbridge_counterpoint::CpResult<Vec<cpbridge_core::staging::StagedLine>> {
    cp.unapplied_order_lines(now() - dead_hold).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    fn stamp(second: u32) -> Option<NaiveDateTime> {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 3).and_then(|d| d.and_hms_opt(10, 0, second))
    }

    #[tokio::test]
    async fn a_feed_that_does_not_move_is_an_error_not_a_loop() {
        // A database that answers "after the watermark" with the same full page again, as a TDS engine that keeps
        // finer fractions than it returns does.
        let mut calls = 0;
        let stuck = scan(
            |_wm| {
                calls += 1;
                async { Ok((0..PAGE).map(|n| (stamp(1), format!("ITEM-{n:05}"))).collect::<Vec<_>>()) }
            },
            |(at, key): &(Option<NaiveDateTime>, String)| watermark_after(*at, &[key]),
        )
        .await;
        let err = stuck.expect_err("must stop");
        assert!(err.to_string().contains("RS_UTC_DT") && err.to_string().contains("ITEM-"), "{err}");
        assert_eq!(calls, 2, "the repeated page is seen once, then refused");

        // Two pages that alternate are refused as well.
        let mut n = 0;
        let cycling = scan(
            |_wm| {
                n += 1;
                let second = if n % 2 == 0 { 2 } else { 1 };
                async move { Ok((0..PAGE).map(|k| (stamp(second), format!("K{k:05}"))).collect::<Vec<_>>()) }
            },
            |(at, key): &(Option<NaiveDateTime>, String)| watermark_after(*at, &[key]),
        )
        .await;
        assert!(cycling.is_err());
        assert!(n <= 3, "stopped after {n} pages");

        // A feed that moves reads everything once.
        let rows: Vec<(Option<NaiveDateTime>, String)> =
            (0..PAGE + 10).map(|k| (stamp(u32::try_from(k / 1000).unwrap_or(0)), format!("K{k:05}"))).collect();
        let all = scan(
            |wm: Watermark| {
                let rest: Vec<_> = rows
                    .iter()
                    .filter(|(at, key)| wm.at.is_none() || (*at, key.as_str()) > (wm.at, wm.key.as_str()))
                    .take(PAGE)
                    .cloned()
                    .collect();
                async move { Ok(rest) }
            },
            |(at, key): &(Option<NaiveDateTime>, String)| watermark_after(*at, &[key]),
        )
        .await
        .expect("moves");
        assert_eq!(all.len(), PAGE + 10);
    }
}
