//! The Counterpoint order document that the order pipeline builds and the Counterpoint port writes.
//!
//! An `OrderDocument` is complete before any SQL runs: its lines, totals and payments are already rounded and
//! checked, so the port's transaction only allocates numbers and writes rows. The totals rule is Counterpoint's:
//! `TOT = SUB_TOT - TOT_HDR_DISC - TOT_LIN_DISC + TAX_AMT + TOT_MISC`.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::CustNo;
use crate::money::{round_cents, round_money};

/// Bill-to or ship-to contact, written to `PS_DOC_CONTACT` (contact 1 = bill to, 2 = ship to).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocContact {
    pub nam: String,
    /// The company, when the address has one: `NAM` is then the company and `NAM_TYP` is `B`.
    #[serde(default)]
    pub company: Option<String>,
    pub fst_nam: Option<String>,
    pub lst_nam: Option<String>,
    pub adrs_1: Option<String>,
    pub adrs_2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_cod: Option<String>,
    pub cntry: Option<String>,
    pub phone_1: Option<String>,
    pub email_adrs_1: Option<String>,
}

/// One `PS_DOC_LIN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocLine {
    pub item_no: String,
    pub descr: String,
    pub qty_sold: Decimal,
    /// Unit price after line discounts.
    pub prc: Decimal,
    pub stk_loc_id: String,
    pub categ_cod: Option<String>,
    pub is_txbl: bool,
    pub tax_categ_cod: Option<String>,
    /// `IM_ITEM.ITEM_TYP` of the item.
    pub item_typ: String,
    /// `IM_ITEM.TRK_METH` (`G` gridded).
    #[serde(default)]
    pub trk_meth: Option<String>,
    /// `IM_ITEM.STK_UNIT`, the line's `QTY_UNIT`.
    #[serde(default)]
    pub qty_unit: Option<String>,
    #[serde(default)]
    pub subcat_cod: Option<String>,
    /// `IM_ITEM.REG_PRC`.
    #[serde(default)]
    pub reg_prc: Option<Decimal>,
    pub unit_cost: Option<Decimal>,
    /// WooCommerce line item id, kept so a line can be traced back to the web order.
    pub woo_line_id: Option<i64>,
    /// The grid cell (`DIM_1_UPR..DIM_3_UPR`) of a gridded item's line, sold as a WooCommerce variation.
    #[serde(default)]
    pub cell: Option<[String; 3]>,
}

impl DocLine {
    /// An inventory item's line of `qty` at `prc` from `stk_loc_id`, described by its number, with the item's other
    /// facts (category, tax, cost, unit) unknown: what tests and benches start from.
    pub fn stocked(item_no: &str, qty: Decimal, prc: Decimal, stk_loc_id: &str) -> DocLine {
        DocLine {
            item_no: item_no.to_owned(),
            descr: format!("Item {item_no}"),
            qty_sold: qty,
            prc,
            stk_loc_id: stk_loc_id.to_owned(),
            categ_cod: None,
            is_txbl: true,
            tax_categ_cod: None,
            item_typ: "I".into(),
            trk_meth: None,
            qty_unit: None,
            subcat_cod: None,
            reg_prc: None,
            unit_cost: None,
            woo_line_id: None,
            cell: None,
        }
    }

    /// The stock this line draws on: its item at its location, or, for a grid cell, that cell.
    pub fn stock_key(&self) -> StockKey {
        match &self.cell {
            Some(cell) => (format!("{}\u{1f}{}", self.item_no, cell.join("\u{1f}")), self.stk_loc_id.clone()),
            None => (self.item_no.clone(), self.stk_loc_id.clone()),
        }
    }

    /// `EXT_PRC` = quantity × unit price, to the cent (`DECIMAL(15,2)`).
    pub fn ext_prc(&self) -> Decimal {
        round_cents(self.qty_sold * self.prc)
    }

    /// `EXT_COST` = quantity × unit cost, to the cent.
    pub fn ext_cost(&self) -> Option<Decimal> {
        self.unit_cost.map(|cost| round_cents(self.qty_sold * cost))
    }

    /// Whether this line commits stock in `IM_INV` (only inventory items do).
    pub fn commits_inventory(&self) -> bool {
        self.item_typ == "I"
    }
}

/// The `PS_DOC_HDR_TOT` row of an order (`TOT_TYP = 'O'`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocTotals {
    pub sub_tot: Decimal,
    pub tax_amt: Decimal,
    pub tot_hdr_disc: Decimal,
    pub tot_lin_disc: Decimal,
    /// Shipping and fees.
    pub tot_misc: Decimal,
    pub tot: Decimal,
    pub amt_due: Decimal,
    pub tot_weight: Decimal,
}

/// The totals of a document do not add up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "totals do not add up: SUB_TOT {sub_tot} - TOT_HDR_DISC {hdr_disc} - TOT_LIN_DISC {lin_disc} + TAX_AMT {tax} + \
     TOT_MISC {misc} = {computed}, but TOT is {tot}"
)]
pub struct TotalsMismatch {
    pub sub_tot: Decimal,
    pub hdr_disc: Decimal,
    pub lin_disc: Decimal,
    pub tax: Decimal,
    pub misc: Decimal,
    pub computed: Decimal,
    pub tot: Decimal,
}

impl DocTotals {
    /// `SUB_TOT - TOT_HDR_DISC - TOT_LIN_DISC + TAX_AMT + TOT_MISC`.
    pub fn computed_tot(&self) -> Decimal {
        round_money(self.sub_tot - self.tot_hdr_disc - self.tot_lin_disc + self.tax_amt + self.tot_misc)
    }

    /// Checks Counterpoint's totals rule to the cent.
    ///
    /// # Errors
    /// [`TotalsMismatch`] with every term when `TOT` differs from the sum by a cent or more.
    pub fn check(&self) -> Result<(), TotalsMismatch> {
        let computed = self.computed_tot();
        if (computed - self.tot).abs() >= Decimal::new(1, 2) {
            return Err(TotalsMismatch {
                sub_tot: self.sub_tot,
                hdr_disc: self.tot_hdr_disc,
                lin_disc: self.tot_lin_disc,
                tax: self.tax_amt,
                misc: self.tot_misc,
                computed,
                tot: self.tot,
            });
        }
        Ok(())
    }
}

/// One `PS_DOC_PMT`. A web payment on an order is a deposit (`FINAL_PMT = 'N'`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocPayment {
    pub pay_cod: String,
    pub amt: Decimal,
    /// Shown in Counterpoint: the payment method's title.
    pub descr: Option<String>,
    /// The gateway's transaction id (`EDC_AUTH_RESP`).
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// When WooCommerce took the money, in the store's local time.
    #[serde(default)]
    pub pay_dat: Option<NaiveDateTime>,
    pub final_pmt: bool,
}

/// Everything the port needs to write one Counterpoint order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderDocument {
    /// `DOC_TYP`: `O` for an order.
    pub doc_typ: char,
    /// `PS_DOC_LIN.LIN_TYP` of every line (`O` in the official API's order sample).
    pub lin_typ: char,
    pub str_id: String,
    pub sta_id: String,
    pub drw_id: String,
    pub usr_id: String,
    /// Prefix of the ticket numbers cpbridge allocates; must be one that no register uses.
    pub tkt_prefix: String,
    pub cust_no: CustNo,
    /// The order's time in the store's local time (Counterpoint's dates are local).
    pub tkt_dt: NaiveDateTime,
    /// The store's offset from UTC at `tkt_dt`, in seconds, for the other local stamps the port writes.
    #[serde(default)]
    pub utc_offset_secs: i32,
    pub ship_via_cod: Option<String>,
    pub tax_cod: Option<String>,
    pub cust_po_no: Option<String>,
    pub stk_loc_id: String,
    pub prc_loc_id: String,
    /// Source marker, e.g. `EC_WOOCOMM`.
    pub tax_ovrd_reas: Option<String>,
    pub bill_to: DocContact,
    pub ship_to: DocContact,
    pub lines: Vec<DocLine>,
    pub totals: DocTotals,
    pub payments: Vec<DocPayment>,
}

impl OrderDocument {
    /// `SAL_LIN_TOT`: the sum of the lines' extended prices.
    pub fn sal_lin_tot(&self) -> Decimal {
        self.lines.iter().map(DocLine::ext_prc).sum()
    }

    /// `TOT_EXT_COST`: the sum of the lines' extended costs.
    pub fn tot_ext_cost(&self) -> Decimal {
        self.lines.iter().filter_map(DocLine::ext_cost).sum()
    }

    /// The store's local time at the UTC instant `utc`, by the document's offset.
    pub fn local(&self, utc: NaiveDateTime) -> NaiveDateTime {
        utc + chrono::Duration::seconds(i64::from(self.utc_offset_secs))
    }

    /// The deposit: what the payments add up to.
    pub fn deposit(&self) -> Decimal {
        self.payments.iter().map(|p| p.amt).sum()
    }
}

/// A stock row: `(ITEM_NO, LOC_ID)`.
pub type StockKey = (String, String);

/// What an order commits in `IM_INV`: the quantity of its inventory lines summed per stock row, in key order (the
/// order in which the port locks the rows, so that two appliers never wait on each other in a cycle).
pub fn order_commitments(lines: &[DocLine]) -> std::collections::BTreeMap<StockKey, Decimal> {
    let mut committed = std::collections::BTreeMap::new();
    for line in lines.iter().filter(|l| l.commits_inventory()) {
        *committed.entry((line.item_no.clone(), line.stk_loc_id.clone())).or_insert(Decimal::ZERO) += line.qty_sold;
    }
    committed
}

/// A variation's SKU for a grid cell, as the product sync makes it: the item number and the used dimensions, joined
/// by `-` (`APP-000001-XL-NAVY`).
pub fn variation_label(item_no: &str, cell: &[String; 3]) -> String {
    std::iter::once(item_no).chain(cell.iter().map(String::as_str).filter(|d| *d != "*")).collect::<Vec<_>>().join("-")
}

/// The item numbers a variation SKU may belong to: its text before each `-`, longest first. An item number and a
/// dimension may each hold a dash, so no single split can be trusted.
pub fn variation_item_candidates(sku: &str) -> impl Iterator<Item = &str> {
    sku.match_indices('-').rev().map(|(at, _)| &sku[..at]).filter(|item| !item.is_empty())
}

/// The gridded item, and the cell, that a variation SKU ([`variation_label`]) stands for; the one reading of such a
/// SKU, for orders and prices alike. `cells_of` gives a candidate item's known cells, `None` when it is no gridded
/// item. A known cell whose label is the SKU wins (longest item number first); failing that, the longest gridded
/// candidate is returned without a cell (its cell is not among the known ones).
pub fn resolve_variation_sku<'c, C>(
    sku: &str,
    cells_of: impl Fn(&str) -> Option<C>,
) -> Option<(String, Option<[String; 3]>)>
where
    C: IntoIterator<Item = &'c [String; 3]>,
{
    let mut gridded = None;
    for item in variation_item_candidates(sku) {
        let Some(cells) = cells_of(item) else { continue };
        if let Some(cell) = cells.into_iter().find(|cell| variation_label(item, cell) == sku) {
            return Some((item.to_owned(), Some(cell.clone())));
        }
        gridded.get_or_insert_with(|| item.to_owned());
    }
    gridded.map(|item| (item, None))
}

/// A grid cell as Counterpoint shows it on a line and in messages: the used dimensions, `/`-separated (`XL/NAVY`).
pub fn cell_label(cell: &[String; 3]) -> String {
    cell.iter().map(String::as_str).filter(|d| *d != "*").collect::<Vec<_>>().join("/")
}

/// What an order commits in `IM_INV_CELL`: the quantity of its grid lines summed per cell and location, in key order:
/// `((ITEM_NO, LOC_ID, cell), quantity)`. (The item's `IM_INV` row takes the same quantities, through
/// [`order_commitments`].)
pub fn cell_commitments(lines: &[DocLine]) -> std::collections::BTreeMap<(String, String, [String; 3]), Decimal> {
    let mut committed = std::collections::BTreeMap::new();
    for line in lines.iter().filter(|l| l.commits_inventory()) {
        if let Some(cell) = &line.cell {
            let key = (line.item_no.clone(), line.stk_loc_id.clone(), cell.clone());
            *committed.entry(key).or_insert(Decimal::ZERO) += line.qty_sold;
        }
    }
    committed
}

/// The backordered quantity of each line, given the availability before the order of what each line draws on
/// (keyed by [`DocLine::stock_key`]): lines take the available stock in line order, and what is left over is
/// backordered. Lines that commit no stock backorder nothing.
pub fn line_backorders(lines: &[DocLine], available: &std::collections::BTreeMap<StockKey, Decimal>) -> Vec<Decimal> {
    let mut left = available.clone();
    lines
        .iter()
        .map(|line| {
            if !line.commits_inventory() {
                return Decimal::ZERO;
            }
            let slot = left.entry(line.stock_key()).or_insert(Decimal::ZERO);
            let (filled, backordered) = split_backorder(line.qty_sold, *slot);
            *slot -= filled;
            backordered
        })
        .collect()
}

/// How much of an ordered quantity can be filled from stock now, and how much is backordered.
///
/// `available` is `QTY_ON_HND - QTY_COMMIT` before this order; negative availability counts as none.
pub fn split_backorder(ordered: Decimal, available: Decimal) -> (Decimal, Decimal) {
    let available = available.max(Decimal::ZERO);
    let filled = ordered.min(available).max(Decimal::ZERO);
    (filled, ordered - filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn cell(dims: [&str; 3]) -> [String; 3] {
        dims.map(str::to_owned)
    }

    #[test]
    fn a_variation_sku_is_read_whatever_dashes_its_parts_hold() {
        let grids: std::collections::HashMap<&str, Vec<[String; 3]>> = [
            ("TEE", vec![cell(["XL-T", "RED", "*"]), cell(["S", "RED", "*"])]),
            ("APP-01", vec![cell(["M", "*", "*"])]),
            ("APP", vec![cell(["01-M", "*", "*"])]),
        ]
        .into();
        let cells_of = |item: &str| grids.get(item);
        let found = |sku: &str| resolve_variation_sku(sku, cells_of);
        // A dimension with a dash: not [XL, T, RED].
        assert_eq!(found("TEE-XL-T-RED"), Some(("TEE".into(), Some(cell(["XL-T", "RED", "*"])))));
        // An item number with a dash, and a shorter item whose cell has the same label: the longer item wins.
        assert_eq!(found("APP-01-M"), Some(("APP-01".into(), Some(cell(["M", "*", "*"])))));
        // A gridded item, but no known cell with this label: the item, without a cell.
        assert_eq!(found("TEE-XXL-BLUE"), Some(("TEE".into(), None)));
        assert_eq!(found("MUG-1"), None);
        assert_eq!(found("-X"), None, "an empty item number is no candidate");
        assert_eq!(variation_item_candidates("A-B-C").collect::<Vec<_>>(), ["A-B", "A"]);
    }

    fn totals(sub: Decimal, hdr: Decimal, tax: Decimal, misc: Decimal, tot: Decimal) -> DocTotals {
        DocTotals { sub_tot: sub, tot_hdr_disc: hdr, tax_amt: tax, tot_misc: misc, tot, ..DocTotals::default() }
    }

    #[test]
    fn totals_rule_matches_the_fixture_order() {
        // orders-create-paid: line subtotals 11.98 + 7.99 + 72.00 = 91.97, coupon 9.20, tax 6.73,
        // shipping 10.00 + fee 2.50; WooCommerce's total is 102.00.
        let t = totals(dec!(91.97), dec!(9.20), dec!(6.73), dec!(12.50), dec!(102.00));
        assert_eq!(t.computed_tot(), dec!(102.00));
        assert!(t.check().is_ok());
    }

    #[test]
    fn totals_mismatch_names_both_numbers() {
        let err = totals(dec!(10), dec!(0), dec!(1), dec!(0), dec!(12)).check().expect_err("11 != 12");
        assert_eq!(err.computed, dec!(11));
        assert!(err.to_string().contains("= 11, but TOT is 12"), "{err}");
    }

    #[test]
    fn backorder_split() {
        assert_eq!(split_backorder(dec!(5), dec!(15)), (dec!(5), dec!(0)));
        assert_eq!(split_backorder(dec!(5), dec!(3)), (dec!(3), dec!(2)));
        assert_eq!(split_backorder(dec!(5), dec!(-4)), (dec!(0), dec!(5)));
    }

    fn line(item: &str, qty: Decimal, item_typ: &str) -> DocLine {
        DocLine { item_typ: item_typ.into(), ..DocLine::stocked(item, qty, dec!(1), "MAIN") }
    }

    #[test]
    fn commitments_sum_per_stock_row_and_backorders_go_in_line_order() {
        let lines =
            [line("B", dec!(2), "I"), line("A", dec!(3), "I"), line("B", dec!(4), "I"), line("S", dec!(1), "S")];
        let committed = order_commitments(&lines);
        let keys: Vec<&str> = committed.keys().map(|(item, _)| item.as_str()).collect();
        assert_eq!(keys, ["A", "B"], "key order, services left out");
        assert_eq!(committed[&("B".to_owned(), "MAIN".to_owned())], dec!(6));
        let available = std::collections::BTreeMap::from([
            (("A".to_owned(), "MAIN".to_owned()), dec!(10)),
            (("B".to_owned(), "MAIN".to_owned()), dec!(3)),
        ]);
        assert_eq!(line_backorders(&lines, &available), vec![dec!(0), dec!(0), dec!(3), dec!(0)]);
    }

    #[test]
    fn ext_prc_rounds() {
        let line = DocLine { unit_cost: Some(dec!(1.5)), ..DocLine::stocked("A", dec!(3), dec!(3.33335), "MAIN") };
        assert_eq!(line.ext_prc(), dec!(10.00), "to the cent");
        assert_eq!(line.ext_cost(), Some(dec!(4.5)));
    }
}
