//! Any text as a Counterpoint price-rule filter (`IM_PRC_RUL.CUST_FILT` / `ITEM_FILT`): it parses or is refused
//! with a reason, and a parsed filter evaluates, without a panic or a stack overflow.
#![no_main]

use cpbridge_core::pricing::filter::{Filter, Row};
use libfuzzer_sys::fuzz_target;

struct Sample;

impl Row for Sample {
    fn value(&self, _table: &str, column: &str) -> Option<String> {
        match column {
            "CATEG_COD" => Some("SPORTS".into()),
            "ITEM_NO" => Some("TOY-000286".into()),
            "PRC_1" => Some("12.50".into()),
            "PROF_COD_1" => Some("gold ".into()),
            _ => None,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(filter) = Filter::parse(Some(text)) {
        let _ = filter.matches(&Sample);
    }
});
