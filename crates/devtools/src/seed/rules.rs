//! The seed's price rules: customer tiers and contract groups with their rules and quantity breaks.

use super::*;

pub(super) const GRP_SEED_COLS: &[&str] = &[
    "GRP_TYP",
    "GRP_COD",
    "DESCR",
    "GRP_SEQ_NO",
    "NO_BEG_DAT",
    "NO_END_DAT",
    "BEG_DAT",
    "END_DAT",
    "ENABLED",
    "LST_MAINT_DT",
    "RS_UTC_DT",
];
pub(super) const RUL_SEED_COLS: &[&str] = &[
    "GRP_TYP",
    "GRP_COD",
    "RUL_SEQ_NO",
    "DESCR",
    "CUST_FILT",
    "ITEM_FILT",
    "CUST_FILT_TEXT",
    "ITEM_FILT_TEXT",
    "LST_MAINT_DT",
    "RS_UTC_DT",
];
pub(super) const BRK_SEED_COLS: &[&str] = &[
    "GRP_TYP",
    "GRP_COD",
    "RUL_SEQ_NO",
    "MIN_QTY",
    "PRC_METH",
    "PRC_BASIS",
    "AMT_OR_PCT",
    "LST_MAINT_DT",
    "RS_UTC_DT",
];

pub(super) fn generate_rules(rng: &mut SplitMix64, spec: &SeedSpec, now: NaiveDateTime) -> (Rows, Rows, Rows) {
    let mut groups = Vec::new();
    let mut rules = Vec::new();
    let mut breaks = Vec::new();
    // One contract group per tier but RETAIL, plus a promotion that ran out last month.
    let tier_groups: Vec<&str> = TIERS.iter().copied().filter(|t| *t != "RETAIL").collect();
    for (seq, tier) in tier_groups.iter().enumerate() {
        groups.push(vec![
            "C".into(),
            (*tier).into(),
            format!("{tier} contract").into(),
            i64::try_from(seq + 1).unwrap_or(0).into(),
            "Y".into(),
            "Y".into(),
            Value::Null,
            Value::Null,
            "Y".into(),
            now.into(),
            now.into(),
        ]);
    }
    groups.push(vec![
        "P".into(),
        "CLEARANCE".into(),
        "Last month's clearance".into(),
        1i64.into(),
        "N".into(),
        "N".into(),
        (now - Duration::days(60)).into(),
        (now - Duration::days(30)).into(),
        "Y".into(),
        now.into(),
        now.into(),
    ]);
    let per_group = spec.rules.div_ceil(tier_groups.len().max(1));
    let mut made = 0;
    for tier in &tier_groups {
        for seq in 1..=per_group {
            if made == spec.rules {
                break;
            }
            made += 1;
            let seq_no = i64::try_from(seq).unwrap_or(i64::MAX);
            let (item_filt, item_text) = match rng.below(3) {
                0 if spec.items > 0 => {
                    let n = 1 + usize::try_from(rng.below(spec.items as u64)).unwrap_or(0);
                    let no = item_no(n);
                    (format!("(IM_ITEM.ITEM_NO = '{no}')"), format!("Item number is (exactly) {no}"))
                }
                1 => {
                    let (categ, _, _) = *rng.pick(CATEGORIES);
                    (format!("(IM_ITEM.CATEG_COD = '{categ}')"), format!("Category is (exactly) {categ}"))
                }
                _ => (String::new(), "***All***".to_owned()),
            };
            rules.push(vec![
                "C".into(),
                (*tier).into(),
                seq_no.into(),
                format!("{tier} rule {seq}").into(),
                format!("(AR_CUST.PROF_COD_1 = '{tier}')").into(),
                if item_filt.is_empty() { Value::Null } else { item_filt.into() },
                format!("Profile code 1 is (exactly) {tier}").into(),
                item_text.into(),
                now.into(),
                now.into(),
            ]);
            let (meth, basis, amount) = match rng.below(3) {
                0 => ("D", "1", Decimal::from(5 + rng.below(20))),
                1 => ("A", "R", money(50 + rng.below(500))),
                _ => ("F", "1", money(100 + rng.below(10_000))),
            };
            breaks.push(vec![
                "C".into(),
                (*tier).into(),
                seq_no.into(),
                Decimal::ZERO.into(),
                meth.into(),
                basis.into(),
                amount.into(),
                now.into(),
                now.into(),
            ]);
            if meth == "D" {
                // A deeper discount from 10 units up.
                breaks.push(vec![
                    "C".into(),
                    (*tier).into(),
                    seq_no.into(),
                    Decimal::from(10).into(),
                    "D".into(),
                    basis.into(),
                    (amount + Decimal::from(5)).into(),
                    now.into(),
                    now.into(),
                ]);
            }
        }
    }
    rules.push(vec![
        "P".into(),
        "CLEARANCE".into(),
        1i64.into(),
        "Clearance".into(),
        Value::Null,
        Value::Null,
        "***All***".into(),
        "***All***".into(),
        now.into(),
        now.into(),
    ]);
    breaks.push(vec![
        "P".into(),
        "CLEARANCE".into(),
        1i64.into(),
        Decimal::ZERO.into(),
        "D".into(),
        "1".into(),
        Decimal::from(50).into(),
        now.into(),
        now.into(),
    ]);
    (groups, rules, breaks)
}
