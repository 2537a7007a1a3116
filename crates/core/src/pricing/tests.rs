//! Every number here is worked out by hand in the comment beside it.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::records::PriceRule;

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).expect("date")
}

fn item() -> PricedItem {
    PricedItem {
        item: Item {
            item_no: "TOY-000286".into(),
            descr: "Kite".into(),
            item_typ: "I".into(),
            stat: "A".into(),
            categ_cod: Some("TOYS".into()),
            is_ecomm_item: true,
            is_txbl: true,
            prc_1: dec!(21),
            reg_prc: dec!(26),
            lst_cost: Some(dec!(9)),
            prc_decs: 2,
            ..Item::default()
        },
        // At the price location: PRC_1 20, PRC_2 18, REG_PRC 25.
        price: Some(ItemPrice {
            item_no: "TOY-000286".into(),
            loc_id: "MAIN".into(),
            dim_1_upr: "*".into(),
            dim_2_upr: "*".into(),
            dim_3_upr: "*".into(),
            reg_prc: Some(dec!(25)),
            prc: [Some(dec!(20)), Some(dec!(18)), None, None, None, None],
            rs_utc_dt: None,
        }),
    }
}

fn customer(tier: &str) -> Customer {
    Customer { cust_no: "C1".into(), nam: "Ada".into(), prof_cod_1: Some(tier.into()), ..Customer::default() }
}

fn brk(min: Decimal, meth: &str, basis: &str, amt: Decimal) -> PriceBreak {
    PriceBreak { min_qty: min, prc_meth: meth.into(), prc_basis: basis.into(), amt_or_pct: amt }
}

fn rule(seq: i64, item_filt: Option<&str>, breaks: Vec<PriceBreak>) -> PriceRule {
    PriceRule {
        rul_seq_no: seq,
        descr: Some(format!("rule {seq}")),
        cust_filt: None,
        item_filt: item_filt.map(str::to_owned),
        cust_filt_text: None,
        item_filt_text: None,
        sal_filt: None,
        breaks,
    }
}

fn group(typ: &str, cod: &str, seq: i64, cust_filt: Option<&str>, rules: Vec<PriceRule>) -> PriceGroup {
    PriceGroup {
        grp_typ: typ.into(),
        grp_cod: cod.into(),
        descr: None,
        grp_seq_no: seq,
        enabled: true,
        beg_dat: None,
        end_dat: None,
        cust_filt: cust_filt.map(str::to_owned),
        rules,
        lst_maint_dt: None,
    }
}

fn quote(groups: Vec<PriceGroup>, qty: Decimal) -> PriceAnswer {
    price(&PriceRules::new(groups), &item(), &customer("GOLD"), qty, day(11, 25))
}

fn one(meth: &str, basis: &str, amt: Decimal) -> PriceAnswer {
    quote(vec![group("C", "GOLD", 1, None, vec![rule(1, None, vec![brk(dec!(0), meth, basis, amt)])])], dec!(1))
}

#[test]
fn each_price_method() {
    // D: 10 % off PRC_1 20 = 20 x 0.90 = 18.00.
    assert_eq!(one("D", "1", dec!(10)).unit_price, dec!(18.00));
    // A: 2.50 off REG_PRC 25 = 22.50.
    assert_eq!(one("A", "R", dec!(2.50)).unit_price, dec!(22.50));
    // F: a fixed 15.99.
    assert_eq!(one("F", "1", dec!(15.99)).unit_price, dec!(15.99));
    // O is taken as fixed (14), with a note that it is unconfirmed.
    let o = one("O", "1", dec!(14));
    assert_eq!(o.unit_price, dec!(14));
    assert!(o.notes.iter().any(|n| n.contains("not confirmed")), "{o:?}");
    // M: 10 % on PRC_2 18 = 18 x 1.10 = 19.80.
    assert_eq!(one("M", "2", dec!(10)).unit_price, dec!(19.80));
    // A basis nobody knows falls back to REG_PRC 25, with a note: 25 x 0.80 = 20.00.
    let unknown = one("D", "Z", dec!(20));
    assert_eq!(unknown.unit_price, dec!(20.00));
    assert!(unknown.notes.iter().any(|n| n.contains("basis \"Z\"")), "{unknown:?}");
    // A method nobody knows gives no price: the item's PRC_1 at the location, 20.
    let none = one("X", "1", dec!(5));
    assert_eq!((none.unit_price, none.rule.is_none()), (dec!(20), true));
    // Never below zero: 30 off 25 is 0.
    assert_eq!(one("A", "R", dec!(30)).unit_price, dec!(0));
}

#[test]
fn rounding_follows_prc_decs() {
    // 33 % off 20 = 13.40 exactly; 33 % off REG_PRC 25 = 16.75; 12.5 % off PRC_2 18 = 15.75.
    assert_eq!(one("D", "1", dec!(33)).unit_price, dec!(13.40));
    assert_eq!(one("D", "2", dec!(12.5)).unit_price, dec!(15.75));
    // 1/3 off 20 = 13.333... rounds to 13.33 at two places.
    assert_eq!(one("D", "1", dec!(33.333333)).unit_price, dec!(13.33));
}

#[test]
fn the_largest_break_not_above_the_quantity_applies() {
    let breaks =
        vec![brk(dec!(0), "D", "1", dec!(10)), brk(dec!(10), "D", "1", dec!(15)), brk(dec!(50), "D", "1", dec!(20))];
    let rules = || vec![group("C", "GOLD", 1, None, vec![rule(1, None, breaks.clone())])];
    // 9 units: the 0 break, 20 x 0.90 = 18. 10 units: 20 x 0.85 = 17. 60 units: 20 x 0.80 = 16.
    assert_eq!(quote(rules(), dec!(9)).unit_price, dec!(18));
    assert_eq!(quote(rules(), dec!(10)).unit_price, dec!(17));
    let big = quote(rules(), dec!(60));
    assert_eq!(big.unit_price, dec!(16));
    assert_eq!(big.rule.map(|r| r.min_qty), Some(dec!(50)));
    // A rule whose smallest break is 5 gives nothing for 3 units: the next rule (fixed 19) applies.
    let from_five = vec![group(
        "C",
        "GOLD",
        1,
        None,
        vec![
            rule(1, None, vec![brk(dec!(5), "F", "1", dec!(11))]),
            rule(2, None, vec![brk(dec!(0), "F", "1", dec!(19))]),
        ],
    )];
    assert_eq!(quote(from_five.clone(), dec!(3)).unit_price, dec!(19));
    assert_eq!(quote(from_five, dec!(5)).unit_price, dec!(11));
}

#[test]
fn the_first_matching_rule_wins_even_if_a_later_one_is_cheaper() {
    let groups = vec![group(
        "C",
        "GOLD",
        1,
        None,
        vec![
            rule(1, Some("(IM_ITEM.CATEG_COD = 'GARDEN')"), vec![brk(dec!(0), "F", "1", dec!(1))]),
            rule(2, Some("(IM_ITEM.CATEG_COD = 'TOYS')"), vec![brk(dec!(0), "D", "1", dec!(5))]),
            rule(3, None, vec![brk(dec!(0), "D", "1", dec!(50))]),
        ],
    )];
    // Rule 1 is for another category; rule 2 matches: 20 x 0.95 = 19, though rule 3 would give 10.
    let answer = quote(groups, dec!(1));
    assert_eq!(answer.unit_price, dec!(19));
    assert_eq!(answer.rule.map(|r| r.rul_seq_no), Some(2));
}

#[test]
fn price_types_then_group_order_decide() {
    let promo = group("P", "SALE", 0, None, vec![rule(1, None, vec![brk(dec!(0), "F", "1", dec!(5))])]);
    let second = group("C", "LATE", 2, None, vec![rule(1, None, vec![brk(dec!(0), "F", "1", dec!(7))])]);
    let first = group("C", "EARLY", 1, None, vec![rule(1, None, vec![brk(dec!(0), "F", "1", dec!(9))])]);
    // Contract before promotional, and within contract GRP_SEQ_NO 1 before 2: 9, though 5 and 7 are lower.
    let answer = quote(vec![promo, second, first], dec!(1));
    assert_eq!(answer.unit_price, dec!(9));
    assert_eq!(answer.rule.map(|r| r.grp_cod), Some("EARLY".into()));
}

#[test]
fn customer_filters_dates_and_the_enabled_flag_count() {
    let gold_only = |enabled: bool| {
        let mut g = group(
            "C",
            "GOLD",
            1,
            Some("(AR_CUST.PROF_COD_1 = 'GOLD')"),
            vec![rule(1, None, vec![brk(dec!(0), "F", "1", dec!(12))])],
        );
        g.enabled = enabled;
        g
    };
    let rules = PriceRules::new(vec![gold_only(true)]);
    assert_eq!(price(&rules, &item(), &customer("GOLD"), dec!(1), day(11, 25)).unit_price, dec!(12));
    // A SILVER customer does not pass the group's filter: PRC_1 at the location, 20, and it says so.
    let silver = price(&rules, &item(), &customer("SILVER"), dec!(1), day(11, 25));
    assert_eq!((silver.unit_price, silver.regular_price, silver.rule), (dec!(20), dec!(25), None));
    assert!(silver.reason.contains("no price rule"), "{}", silver.reason);
    // Disabled: nobody gets it.
    let off = PriceRules::new(vec![gold_only(false)]);
    assert_eq!(price(&off, &item(), &customer("GOLD"), dec!(1), day(11, 25)).unit_price, dec!(20));
    // December only: not on 25 November, yes on 5 December, and the end day counts.
    let mut december = gold_only(true);
    december.beg_dat = day(12, 1).and_hms_opt(0, 0, 0);
    december.end_dat = day(12, 31).and_hms_opt(0, 0, 0);
    let dated = PriceRules::new(vec![december]);
    assert_eq!(price(&dated, &item(), &customer("GOLD"), dec!(1), day(11, 25)).unit_price, dec!(20));
    assert_eq!(price(&dated, &item(), &customer("GOLD"), dec!(1), day(12, 5)).unit_price, dec!(12));
    assert_eq!(price(&dated, &item(), &customer("GOLD"), dec!(1), day(12, 31)).unit_price, dec!(12));
}

#[test]
fn without_a_location_row_the_items_own_prices_count_and_bad_filters_are_named() {
    let mut plain = item();
    plain.price = None;
    let rules = PriceRules::new(vec![group(
        "C",
        "GOLD",
        1,
        None,
        vec![
            rule(1, Some("(IM_ITEM.CATEG_COD = 'TOYS'"), vec![brk(dec!(0), "F", "1", dec!(1))]),
            rule(2, None, vec![brk(dec!(0), "D", "1", dec!(10))]),
        ],
    )]);
    // Rule 1 cannot be read, so it never matches; rule 2: the item's own PRC_1 21 x 0.90 = 18.90.
    let answer = price(&rules, &plain, &customer("GOLD"), dec!(1), day(11, 25));
    assert_eq!(answer.unit_price, dec!(18.90));
    assert_eq!(answer.regular_price, dec!(26));
    let problems = rules.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("price group C/GOLD rule 1: ITEM_FILT"), "{problems:?}");
}

#[test]
fn filters_on_columns_beyond_the_record_fields_price_correctly() {
    // Customer PROF_COD_3 = 'VIP3', item ATTR_COD_4 = 'OUTDOOR': F 12.50 for both, else the item's 20.
    let mut vip = customer("GOLD");
    vip.extra.insert("PROF_COD_3".into(), "VIP3".into());
    let mut kite = item();
    kite.item.extra.insert("ATTR_COD_4".into(), "OUTDOOR".into());
    let mut r = rule(1, Some("IM_ITEM.ATTR_COD_4 = 'OUTDOOR'"), vec![brk(dec!(0), "F", "1", dec!(12.50))]);
    r.cust_filt = Some("(AR_CUST.PROF_COD_3 = 'vip3')".into());
    let rules = PriceRules::new(vec![group("C", "VIP", 1, None, vec![r])]);
    assert!(rules.problems().is_empty(), "{:?}", rules.problems());
    assert_eq!(price(&rules, &kite, &vip, dec!(1), day(11, 25)).unit_price, dec!(12.50));
    assert_eq!(price(&rules, &kite, &customer("GOLD"), dec!(1), day(11, 25)).unit_price, dec!(20));
}

#[test]
fn a_rule_naming_a_column_cpbridge_does_not_read_is_reported_and_skipped() {
    // Rule 1 names a shop's own AR_CUST column: it would read as NULL and silently never match. It is reported and
    // skipped, so rule 2 (D 10 % off PRC_1 20 = 18.00) applies, and the problem says which column.
    let mut unknown = rule(1, None, vec![brk(dec!(0), "F", "1", dec!(5))]);
    unknown.cust_filt = Some("AR_CUST.USER_TIER = 'A'".into());
    let second = rule(2, None, vec![brk(dec!(0), "D", "1", dec!(10))]);
    let rules = PriceRules::new(vec![group("C", "GOLD", 1, None, vec![unknown, second])]);
    let problems = rules.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("rule 1: CUST_FILT") && problems[0].contains("AR_CUST.USER_TIER"), "{problems:?}");
    let answer = price(&rules, &item(), &customer("GOLD"), dec!(1), day(11, 25));
    assert_eq!((answer.unit_price, answer.rule.map(|r| r.rul_seq_no)), (dec!(18.00), Some(2)));
}

#[test]
fn sale_filters_are_read_against_the_web_sale() {
    // SAL_FILT STR_ID = '2': not the web's store 1, so the rule (F 9) does not apply; STR_ID = '1' does.
    let mut other_store = rule(1, None, vec![brk(dec!(0), "F", "1", dec!(9))]);
    other_store.sal_filt = Some("PS_DOC_HDR.STR_ID = '2'".into());
    let mut this_store = rule(2, None, vec![brk(dec!(0), "F", "1", dec!(11))]);
    this_store.sal_filt = Some("STR_ID = '1'".into());
    let sale = SaleContext { str_id: Some("1".into()), sta_id: Some("WEB".into()), loc_id: Some("MAIN".into()) };
    let rules = PriceRules::new(vec![group("C", "GOLD", 1, None, vec![other_store, this_store])]).with_sale(sale);
    assert!(rules.problems().is_empty(), "{:?}", rules.problems());
    assert_eq!(price(&rules, &item(), &customer("GOLD"), dec!(1), day(11, 25)).unit_price, dec!(11));
    let mut unknown = rule(1, None, vec![brk(dec!(0), "F", "1", dec!(9))]);
    unknown.sal_filt = Some("PS_DOC_HDR.SHIP_VIA_COD = 'UPS'".into());
    let problems = PriceRules::new(vec![group("C", "GOLD", 1, None, vec![unknown])]).problems();
    assert!(problems.iter().any(|p| p.contains("SAL_FILT") && p.contains("SHIP_VIA_COD")), "{problems:?}");
}
