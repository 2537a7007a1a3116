//! The stock the web store is shown: what the web locations have and have not promised yet, less what web orders
//! took that Counterpoint has not committed, less a safety buffer, never below zero.
//!
//! The middle term closes a race: between a web order being placed and Counterpoint committing it, the shop's
//! numbers still show the stock, and pushing them would hand it back to the store.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::ids::Sku;
use crate::records::InventoryLevel;
use crate::staging::StagedLine;

/// Quantities of staged-but-unapplied web order lines, per SKU.
#[must_use]
pub fn unapplied_by_sku(lines: &[StagedLine]) -> HashMap<Sku, Decimal> {
    let mut by_sku: HashMap<Sku, Decimal> = HashMap::new();
    for line in lines {
        *by_sku.entry(line.sku.clone()).or_default() += line.quantity;
    }
    by_sku
}

/// The stock to show for each SKU in `skus`: the sum over `web_locations` of (`QTY_ON_HND` − `QTY_COMMIT`), minus
/// `unapplied`, minus `buffer`, rounded down to whole units (WooCommerce keeps whole stock) and floored at 0. A SKU
/// without any `IM_INV` row at a web location shows 0.
#[must_use]
pub fn web_stock(
    skus: &[Sku],
    levels: &[InventoryLevel],
    web_locations: &[String],
    unapplied: &HashMap<Sku, Decimal>,
    buffer: Decimal,
) -> BTreeMap<Sku, i64> {
    let mut available: HashMap<&str, Decimal> = HashMap::new();
    for level in levels.iter().filter(|l| web_locations.iter().any(|loc| loc == &l.loc_id)) {
        *available.entry(level.item_no.as_str()).or_default() += level.qty_avail();
    }
    skus.iter()
        .map(|sku| {
            let avail = available.get(sku.as_str()).copied().unwrap_or_default();
            let shown = avail - unapplied.get(sku).copied().unwrap_or_default() - buffer;
            let whole = shown.floor().max(Decimal::ZERO);
            (sku.clone(), whole.to_i64().unwrap_or(i64::MAX))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn level(item: &str, loc: &str, on_hand: Decimal, commit: Decimal) -> InventoryLevel {
        InventoryLevel {
            item_no: item.into(),
            loc_id: loc.into(),
            qty_on_hnd: on_hand,
            qty_commit: commit,
            qty_on_ord: Decimal::ZERO,
            qty_on_bo: Decimal::ZERO,
            rs_utc_dt: None,
        }
    }

    #[test]
    fn web_locations_are_summed_and_the_rest_ignored() {
        let levels = [
            level("A", "MAIN", dec!(495), dec!(480)),
            level("A", "WEB", dec!(10), dec!(0)),
            level("A", "STORE2", dec!(1000), dec!(0)),
        ];
        let locs = vec!["MAIN".to_owned(), "WEB".to_owned()];
        let stock = web_stock(&["A".into()], &levels, &locs, &HashMap::new(), Decimal::ZERO);
        // (495 - 480) + (10 - 0) = 25; STORE2 does not serve the web.
        assert_eq!(stock["A"], 25);
    }

    #[test]
    fn unapplied_orders_and_the_buffer_come_off_and_the_result_never_goes_negative() {
        let levels = [level("A", "MAIN", dec!(20), dec!(5)), level("B", "MAIN", dec!(3), dec!(1))];
        let locs = vec!["MAIN".to_owned()];
        let lines = [
            StagedLine { sku: "A".into(), quantity: dec!(4) },
            StagedLine { sku: "A".into(), quantity: dec!(1) },
            StagedLine { sku: "B".into(), quantity: dec!(5) },
        ];
        let unapplied = unapplied_by_sku(&lines);
        let stock = web_stock(&["A".into(), "B".into(), "C".into()], &levels, &locs, &unapplied, dec!(2));
        // A: 20 - 5 - (4 + 1) - 2 = 8. B: 3 - 1 - 5 - 2 = -5, shown as 0. C has no stock row: 0.
        assert_eq!(stock, BTreeMap::from([("A".into(), 8), ("B".into(), 0), ("C".into(), 0)]));
    }

    #[test]
    fn fractions_round_down_and_negative_commitments_count() {
        let levels = [level("A", "MAIN", dec!(7.9), dec!(0)), level("B", "MAIN", dec!(-3), dec!(-5))];
        let locs = vec!["MAIN".to_owned()];
        let stock = web_stock(&["A".into(), "B".into()], &levels, &locs, &HashMap::new(), Decimal::ZERO);
        // 7.9 shows 7 (never promise a part unit); -3 - (-5) = 2, as the live system's negative commits give.
        assert_eq!(stock, BTreeMap::from([("A".into(), 7), ("B".into(), 2)]));
    }
}
