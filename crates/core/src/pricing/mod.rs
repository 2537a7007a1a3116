//! Counterpoint's contract pricing, evaluated in memory: what the shop's counter would charge this customer for
//! this quantity of this item today.
//!
//! Price types are tried in the order contract (`C`), promotional (`P`), special (`S`), then any other. Within a
//! type, groups go by `GRP_SEQ_NO`; only enabled groups inside their date range whose customer filter matches count.
//! Within a group, rules go by `RUL_SEQ_NO`, and **the first rule whose customer and item filters match wins**, even
//! if a later one would be cheaper. Within that rule the break with the largest `MIN_QTY` not above the quantity
//! applies. With no rule, the price is the item's `PRC_1` at the price location, marked as the regular price.

pub mod filter;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::ids::Sku;
use crate::money::round_price;
use crate::records::{Customer, Item, ItemPrice, PriceBreak, PriceGroup};
use filter::{Filter, FilterError, Row};

/// A rule with its filters parsed.
#[derive(Debug, Clone)]
struct CompiledRule {
    rul_seq_no: i64,
    descr: Option<String>,
    cust: Result<Filter, FilterError>,
    item: Result<Filter, FilterError>,
    sal: Result<Filter, FilterError>,
    breaks: Vec<PriceBreak>,
}

#[derive(Debug, Clone)]
struct CompiledGroup {
    group: PriceGroup,
    cust: Result<Filter, FilterError>,
    rules: Vec<CompiledRule>,
}

/// The price rules, parsed once, in the order they are tried.
#[derive(Debug, Clone, Default)]
pub struct PriceRules {
    groups: Vec<CompiledGroup>,
    sale: SaleContext,
}

/// What a web sale looks like to a rule's sale filter (`SAL_FILT`): the document's store, station and location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaleContext {
    pub str_id: Option<String>,
    pub sta_id: Option<String>,
    pub loc_id: Option<String>,
}

/// `IM_ITEM` columns a price filter may name beyond the item's own fields; cpbridge reads each of them.
pub const ITEM_EXTRA_COLUMNS: &[&str] = &[
    "ATTR_COD_2",
    "ATTR_COD_3",
    "ATTR_COD_4",
    "ATTR_COD_5",
    "ATTR_COD_6",
    "PROF_COD_2",
    "PROF_COD_3",
    "PROF_COD_4",
    "PROF_COD_5",
    "ITEM_VEND_NO",
    "GRID_DIM_1_TAG",
    "GRID_DIM_2_TAG",
    "GRID_DIM_3_TAG",
];

/// `AR_CUST` columns a price filter may name beyond the customer's own fields; cpbridge reads each of them.
pub const CUSTOMER_EXTRA_COLUMNS: &[&str] = &[
    "PROF_COD_2",
    "PROF_COD_3",
    "PROF_COD_4",
    "PROF_COD_5",
    "SLS_REP",
    "TERMS_COD",
    "SHIP_VIA_COD",
    "SHIP_ZONE_COD",
    "ALLOW_AR_CHRG",
];

const ITEM_FIELD_COLUMNS: &[&str] = &[
    "ITEM_NO",
    "DESCR",
    "SHORT_DESCR",
    "ITEM_TYP",
    "STAT",
    "CATEG_COD",
    "SUBCAT_COD",
    "TAX_CATEG_COD",
    "PROF_COD_1",
    "ATTR_COD_1",
    "TRK_METH",
    "STK_UNIT",
    "BARCOD",
    "IS_ECOMM_ITEM",
    "IS_TXBL",
    "PRC_1",
    "REG_PRC",
    "LST_COST",
];

const CUSTOMER_FIELD_COLUMNS: &[&str] = &[
    "CUST_NO",
    "NAM",
    "CUST_TYP",
    "CATEG_COD",
    "PROF_COD_1",
    "TAX_COD",
    "STR_ID",
    "CUST_NAM_TYP",
    "CITY",
    "STATE",
    "ZIP_COD",
    "CNTRY",
    "EMAIL_ADRS_1",
    "IS_ECOMM_CUST",
    "DISC_PCT",
];

const SALE_COLUMNS: &[&str] = &["STR_ID", "STA_ID", "PRC_LOC_ID", "STK_LOC_ID", "DOC_TYP"];

/// A filter that names a column cpbridge does not read would evaluate it as NULL and silently never match, letting
/// a later, different price win: such a filter is refused instead, so the rule is reported and skipped.
fn readable(
    filter: Result<Filter, FilterError>,
    text: Option<&str>,
    tables: &[&str],
    known: &[&[&str]],
) -> Result<Filter, FilterError> {
    let filter = filter?;
    let unknown: Vec<String> = filter
        .columns()
        .into_iter()
        .filter(|c| {
            !(c.table.is_empty() || tables.contains(&c.table.as_str()))
                || !known.iter().any(|set| set.contains(&c.name.as_str()))
        })
        .map(ToString::to_string)
        .collect();
    if unknown.is_empty() {
        return Ok(filter);
    }
    Err(FilterError {
        text: text.unwrap_or_default().to_owned(),
        at: 0,
        reason: format!(
            "it names {}, which cpbridge does not read (the rule is skipped rather than evaluated as NULL)",
            unknown.join(", ")
        ),
    })
}

fn type_rank(grp_typ: &str) -> u8 {
    match grp_typ {
        "C" => 0,
        "P" => 1,
        "S" => 2,
        _ => 3,
    }
}

impl PriceRules {
    pub fn new(groups: Vec<PriceGroup>) -> Self {
        let mut groups: Vec<CompiledGroup> = groups
            .into_iter()
            .map(|mut group| {
                let mut rules: Vec<CompiledRule> = std::mem::take(&mut group.rules)
                    .into_iter()
                    .map(|r| {
                        let mut breaks = r.breaks;
                        breaks.sort_by_key(|b| b.min_qty);
                        let (cust_text, item_text, sal_text) =
                            (r.cust_filt.as_deref(), r.item_filt.as_deref(), r.sal_filt.as_deref());
                        CompiledRule {
                            rul_seq_no: r.rul_seq_no,
                            descr: r.descr.clone(),
                            cust: readable(Filter::parse(cust_text), cust_text, &["AR_CUST"], CUSTOMER_KNOWN),
                            item: readable(Filter::parse(item_text), item_text, &["IM_ITEM"], ITEM_KNOWN),
                            sal: readable(Filter::parse(sal_text), sal_text, SALE_TABLES, &[SALE_COLUMNS]),
                            breaks,
                        }
                    })
                    .collect();
                rules.sort_by_key(|r| r.rul_seq_no);
                let text = group.cust_filt.as_deref();
                let cust = readable(Filter::parse(text), text, &["AR_CUST"], CUSTOMER_KNOWN);
                CompiledGroup { cust, group, rules }
            })
            .collect();
        groups.sort_by(|a, b| {
            (type_rank(&a.group.grp_typ), a.group.grp_seq_no, &a.group.grp_cod).cmp(&(
                type_rank(&b.group.grp_typ),
                b.group.grp_seq_no,
                &b.group.grp_cod,
            ))
        });
        PriceRules { groups, sale: SaleContext::default() }
    }

    /// The rules, with sale filters evaluated against `sale` (the web's store, station and location).
    #[must_use]
    pub fn with_sale(mut self, sale: SaleContext) -> Self {
        self.sale = sale;
        self
    }

    /// Filters that could not be read, each named by group and rule: such a rule never matches.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for g in &self.groups {
            let name = format!("price group {}/{}", g.group.grp_typ, g.group.grp_cod);
            if let Err(e) = &g.cust {
                problems.push(format!("{name}: CUST_FILT: {e}"));
            }
            for r in &g.rules {
                for (column, result) in [("CUST_FILT", &r.cust), ("ITEM_FILT", &r.item), ("SAL_FILT", &r.sal)] {
                    if let Err(e) = result {
                        problems.push(format!("{name} rule {}: {column}: {e}", r.rul_seq_no));
                    }
                }
            }
        }
        problems
    }
}

/// An item as pricing sees it: its row, and its `IM_PRC` row at the price location when there is one.
#[derive(Debug, Clone)]
pub struct PricedItem {
    pub item: Item,
    pub price: Option<ItemPrice>,
}

impl PricedItem {
    /// `PRC_1` at the price location, else the item's own.
    pub fn prc_1(&self) -> Decimal {
        self.price.as_ref().and_then(|p| p.prc[0]).unwrap_or(self.item.prc_1)
    }

    /// `REG_PRC` at the price location, else the item's own; `PRC_1` when there is no list price.
    pub fn reg_prc(&self) -> Decimal {
        let reg = self.price.as_ref().and_then(|p| p.reg_prc).unwrap_or(self.item.reg_prc);
        if reg > Decimal::ZERO { reg } else { self.prc_1() }
    }

    /// The basis a break names: `1`..`6` = `PRC_1..6`, `R` = `REG_PRC`; anything else is `REG_PRC`, with a note.
    fn basis(&self, code: &str, notes: &mut Vec<String>) -> Decimal {
        match code.trim() {
            "R" => self.reg_prc(),
            n @ ("1" | "2" | "3" | "4" | "5" | "6") => {
                let i = n.parse::<usize>().unwrap_or(1) - 1;
                match self.price.as_ref().and_then(|p| p.prc[i]) {
                    Some(v) => v,
                    None if i == 0 => self.item.prc_1,
                    None => {
                        notes.push(format!("PRC_{n} is not set at the price location; PRC_1 was used"));
                        self.prc_1()
                    }
                }
            }
            other => {
                notes.push(format!("price basis {other:?} is unknown; REG_PRC was used"));
                self.reg_prc()
            }
        }
    }
}

const ITEM_KNOWN: &[&[&str]] = &[ITEM_FIELD_COLUMNS, ITEM_EXTRA_COLUMNS];
const CUSTOMER_KNOWN: &[&[&str]] = &[CUSTOMER_FIELD_COLUMNS, CUSTOMER_EXTRA_COLUMNS];
const SALE_TABLES: &[&str] = &["PS_DOC_HDR", "PS_TKT_HIST"];

struct SaleRow<'a>(&'a SaleContext);

impl Row for SaleRow<'_> {
    fn value(&self, table: &str, column: &str) -> Option<String> {
        if !table.is_empty() && !SALE_TABLES.contains(&table) {
            return None;
        }
        let s = self.0;
        match column {
            "STR_ID" => s.str_id.clone(),
            "STA_ID" => s.sta_id.clone(),
            "PRC_LOC_ID" | "STK_LOC_ID" => s.loc_id.clone(),
            "DOC_TYP" => Some("O".into()),
            _ => None,
        }
    }
}

struct ItemRow<'a>(&'a Item);
struct CustomerRow<'a>(&'a Customer);

fn opt(v: Option<&str>) -> Option<String> {
    v.map(str::to_owned)
}

impl Row for ItemRow<'_> {
    fn value(&self, table: &str, column: &str) -> Option<String> {
        if !table.is_empty() && table != "IM_ITEM" {
            return None;
        }
        let i = self.0;
        match column {
            "ITEM_NO" => Some(i.item_no.clone()),
            "DESCR" => Some(i.descr.clone()),
            "ITEM_TYP" => Some(i.item_typ.clone()),
            "STAT" => Some(i.stat.clone()),
            "CATEG_COD" => opt(i.categ_cod.as_deref()),
            "SUBCAT_COD" => opt(i.subcat_cod.as_deref()),
            "TAX_CATEG_COD" => opt(i.tax_categ_cod.as_deref()),
            "PROF_COD_1" => opt(i.prof_cod_1.as_deref()),
            "ATTR_COD_1" => opt(i.attr_cod_1.as_deref()),
            "TRK_METH" => opt(i.trk_meth.as_deref()),
            "BARCOD" => opt(i.barcod.as_deref()),
            "IS_ECOMM_ITEM" => Some(if i.is_ecomm_item { "Y" } else { "N" }.into()),
            "IS_TXBL" => Some(if i.is_txbl { "Y" } else { "N" }.into()),
            "PRC_1" => Some(i.prc_1.to_string()),
            "REG_PRC" => Some(i.reg_prc.to_string()),
            "LST_COST" => i.lst_cost.map(|d| d.to_string()),
            "SHORT_DESCR" => opt(i.short_descr.as_deref()),
            "STK_UNIT" => opt(i.stk_unit.as_deref()),
            other => i.extra.get(other).cloned(),
        }
    }
}

impl Row for CustomerRow<'_> {
    fn value(&self, table: &str, column: &str) -> Option<String> {
        if !table.is_empty() && table != "AR_CUST" {
            return None;
        }
        let c = self.0;
        match column {
            "CUST_NO" => Some(c.cust_no.to_string()),
            "NAM" => Some(c.nam.clone()),
            "CUST_TYP" => opt(c.cust_typ.as_deref()),
            "CATEG_COD" => opt(c.categ_cod.as_deref()),
            "PROF_COD_1" => opt(c.prof_cod_1.as_deref()),
            "TAX_COD" => opt(c.tax_cod.as_deref()),
            "STR_ID" => opt(c.str_id.as_deref()),
            "CUST_NAM_TYP" => opt(c.cust_nam_typ.as_deref()),
            "CITY" => opt(c.city.as_deref()),
            "STATE" => opt(c.state.as_deref()),
            "ZIP_COD" => opt(c.zip_cod.as_deref()),
            "CNTRY" => opt(c.cntry.as_deref()),
            "EMAIL_ADRS_1" => opt(c.email_adrs_1.as_deref()),
            "IS_ECOMM_CUST" => Some(if c.is_ecomm_cust { "Y" } else { "N" }.into()),
            "DISC_PCT" => c.disc_pct.map(|d| d.to_string()),
            other => c.extra.get(other).cloned(),
        }
    }
}

/// The rule that set a price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedRule {
    pub grp_typ: String,
    pub grp_cod: String,
    pub rul_seq_no: i64,
    pub descr: Option<String>,
    /// The break that applied: its minimum quantity, method and amount or percent.
    pub min_qty: Decimal,
    pub prc_meth: String,
    pub prc_basis: String,
    pub amt_or_pct: Decimal,
}

/// A price and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceAnswer {
    pub sku: Sku,
    pub qty: Decimal,
    pub unit_price: Decimal,
    pub regular_price: Decimal,
    /// `None`: no rule applied, and `unit_price` is the item's price at the price location.
    pub rule: Option<AppliedRule>,
    /// The reason in words, for support staff.
    pub reason: String,
    /// What was unusual on the way (an unconfirmed method, an unknown basis, a rule that could not be read).
    pub notes: Vec<String>,
}

fn in_range(group: &PriceGroup, on: NaiveDate) -> bool {
    group.enabled && group.beg_dat.is_none_or(|b| b.date() <= on) && group.end_dat.is_none_or(|e| on <= e.date())
}

/// A break's price, or `None` (with a note) for a method that gives none.
fn apply_break(b: &PriceBreak, item: &PricedItem, notes: &mut Vec<String>) -> Option<Decimal> {
    let hundred = Decimal::ONE_HUNDRED;
    let price = match b.prc_meth.trim() {
        "D" => item.basis(&b.prc_basis, notes) * (Decimal::ONE - b.amt_or_pct / hundred),
        "A" => item.basis(&b.prc_basis, notes) - b.amt_or_pct,
        "F" => b.amt_or_pct,
        "O" => {
            notes.push("price method O (override) is not confirmed in Counterpoint; taken as a fixed price".into());
            b.amt_or_pct
        }
        "M" => {
            notes.push("price method M (markup) is not confirmed in Counterpoint; taken as basis plus percent".into());
            item.basis(&b.prc_basis, notes) * (Decimal::ONE + b.amt_or_pct / hundred)
        }
        other => {
            notes.push(format!("price method {other:?} is unknown; the rule gives no price"));
            return None;
        }
    };
    Some(round_price(price.max(Decimal::ZERO), item.item.prc_decs))
}

/// The rules that can apply to one customer on one day, in the order they are tried: the customer filters are
/// evaluated once per request, not once per item.
pub struct CustomerRules<'a> {
    rules: Vec<(&'a CompiledGroup, &'a CompiledRule)>,
}

impl PriceRules {
    /// The rules whose group is enabled and in its dates on `on`, and whose group and rule customer filters match.
    pub fn for_customer<'a>(&'a self, customer: &'a Customer, on: NaiveDate) -> CustomerRules<'a> {
        let row = CustomerRow(customer);
        let sale = SaleRow(&self.sale);
        let mut rules = Vec::new();
        for g in &self.groups {
            if !in_range(&g.group, on) || !g.cust.as_ref().is_ok_and(|f| f.matches(&row)) {
                continue;
            }
            for r in &g.rules {
                if r.item.is_ok()
                    && r.cust.as_ref().is_ok_and(|f| f.matches(&row))
                    && r.sal.as_ref().is_ok_and(|f| f.matches(&sale))
                {
                    rules.push((g, r));
                }
            }
        }
        CustomerRules { rules }
    }
}

impl CustomerRules<'_> {
    /// The price of `qty` of `item`.
    pub fn price(&self, item: &PricedItem, qty: Decimal) -> PriceAnswer {
        let item_row = ItemRow(&item.item);
        let mut notes = Vec::new();
        let regular_price = round_price(item.reg_prc(), item.item.prc_decs);
        for (g, r) in &self.rules {
            if !r.item.as_ref().is_ok_and(|f| f.matches(&item_row)) {
                continue;
            }
            let Some(brk) = r.breaks.iter().rev().find(|b| b.min_qty <= qty) else { continue };
            let Some(unit_price) = apply_break(brk, item, &mut notes) else { continue };
            let rule = AppliedRule {
                grp_typ: g.group.grp_typ.clone(),
                grp_cod: g.group.grp_cod.clone(),
                rul_seq_no: r.rul_seq_no,
                descr: r.descr.clone(),
                min_qty: brk.min_qty,
                prc_meth: brk.prc_meth.clone(),
                prc_basis: brk.prc_basis.clone(),
                amt_or_pct: brk.amt_or_pct,
            };
            let reason = format!(
                "group {}/{} rule {} (break from {} units, method {} {} on basis {}) is the first that matches",
                rule.grp_typ,
                rule.grp_cod,
                rule.rul_seq_no,
                rule.min_qty,
                rule.prc_meth,
                rule.amt_or_pct,
                rule.prc_basis
            );
            return PriceAnswer {
                sku: Sku::from(&item.item.item_no),
                qty,
                unit_price,
                regular_price,
                rule: Some(rule),
                reason,
                notes,
            };
        }
        PriceAnswer {
            sku: Sku::from(&item.item.item_no),
            qty,
            unit_price: round_price(item.prc_1(), item.item.prc_decs),
            regular_price,
            rule: None,
            reason: "no price rule matches this customer, item, quantity and date: the item's price".into(),
            notes,
        }
    }
}

/// The price of `qty` of `item` for `customer` on day `on`.
pub fn price(rules: &PriceRules, item: &PricedItem, customer: &Customer, qty: Decimal, on: NaiveDate) -> PriceAnswer {
    rules.for_customer(customer, on).price(item, qty)
}

#[cfg(test)]
mod tests;
