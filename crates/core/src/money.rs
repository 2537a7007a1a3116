//! Money and quantity rounding, Counterpoint style.
//!
//! Counterpoint stores money and quantities as `DECIMAL(15,4)`. Every amount cpbridge writes is rounded once, here,
//! with the rule a till uses (half away from zero), so that the Rust side and the database never disagree.

use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of Counterpoint money and quantity columns (`DECIMAL(15,4)`).
pub const MONEY_SCALE: u32 = 4;

/// The largest absolute value a `DECIMAL(15,4)` column holds: 10^11 - 0.0001.
pub fn money_max() -> Decimal {
    Decimal::new(999_999_999_999_999, MONEY_SCALE)
}

/// Rounds an amount or quantity to Counterpoint's 4 places, half away from zero.
pub fn round_money(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// Decimal places of money on Counterpoint's documents (`DECIMAL(15,2)`).
pub const AMOUNT_SCALE: u32 = 2;

/// Rounds an amount written to a document (line totals, totals, payments) to the cent, half away from zero.
pub fn round_cents(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(AMOUNT_SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounds a computed price to an item's `PRC_DECS` places (capped at 4), half away from zero.
pub fn round_price(value: Decimal, prc_decs: u32) -> Decimal {
    value.round_dp_with_strategy(prc_decs.min(MONEY_SCALE), RoundingStrategy::MidpointAwayFromZero)
}

/// True when `value` fits a `DECIMAL(15,4)` column after rounding.
pub fn fits_money(value: Decimal) -> bool {
    round_money(value).abs() <= money_max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rounds_half_away_from_zero_to_four_places() {
        assert_eq!(round_money(dec!(1.23455)), dec!(1.2346));
        assert_eq!(round_money(dec!(-1.23455)), dec!(-1.2346));
        assert_eq!(round_money(dec!(1.23454)), dec!(1.2345));
    }

    #[test]
    fn price_rounding_uses_item_places() {
        assert_eq!(round_price(dec!(10.125), 2), dec!(10.13));
        assert_eq!(round_price(dec!(10.125), 0), dec!(10));
        assert_eq!(round_price(dec!(10.123456), 9), dec!(10.1235));
    }

    #[test]
    fn decimal_15_4_bounds() {
        assert!(fits_money(dec!(99999999999.9999)));
        assert!(!fits_money(dec!(1000000000000)));
    }
}
