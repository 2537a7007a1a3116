//! Counterpoint document ids and ticket numbers.
//!
//! `PS_DOC_HDR.DOC_ID` is not an identity column. Counterpoint builds it in `dbo.fnGenDocId` from the store, the
//! station, the document type, the day and the second, plus a variation digit that separates documents made in the
//! same second. Its signature is not public and varies, so cpbridge calls it only where it can bind every parameter
//! (see `cpbridge_counterpoint::docid_fn`), and otherwise computes the same layout here; on a duplicate key it moves
//! to the next variation digit. Ticket numbers come from a locked `USER_DOC_COUNTER` row, with a
//! station prefix that no register uses, so they can never collide with a register's.

use chrono::{Datelike, NaiveDateTime, Timelike};

/// The document type digit used inside a `DOC_ID`.
pub fn doc_type_digit(doc_typ: char) -> i64 {
    match doc_typ {
        'O' => 1,
        'H' => 2,
        'T' => 3,
        'V' => 4,
        'L' => 5,
        'Q' => 6,
        'R' => 7,
        _ => 9,
    }
}

/// Computes a `DOC_ID` as `dbo.fnGenDocId` does:
/// `(store mod 10000)·10^11 + (station mod 100)·10^9 + type·10^8 + (day of year mod 100)·10^6 + second of day·10 +
/// variation`.
///
/// `variation` is taken mod 10; callers retry with 1, 2, ... when the key already exists.
pub fn gen_doc_id(store_no: i64, station_no: i64, doc_typ: char, at: NaiveDateTime, variation: u8) -> i64 {
    let day = i64::from(at.ordinal()) % 100;
    let second = i64::from(at.num_seconds_from_midnight());
    (store_no.rem_euclid(10_000)) * 100_000_000_000
        + (station_no.rem_euclid(100)) * 1_000_000_000
        + doc_type_digit(doc_typ) * 100_000_000
        + day * 1_000_000
        + second * 10
        + i64::from(variation % 10)
}

/// Longest `TKT_NO` Counterpoint accepts.
pub const TKT_NO_MAX_LEN: usize = 15;

/// Formats a ticket number `PREFIX-000123`, zero-padded to six digits (wider when the counter outgrows them).
///
/// Longest `TKT_NO` cpbridge gives an order: Counterpoint's release ticket appends `-01` to it, and that must still
/// fit [`TKT_NO_MAX_LEN`].
pub const ORDER_TKT_NO_MAX_LEN: usize = TKT_NO_MAX_LEN - 3;

/// Returns `None` when the result would be longer than [`ORDER_TKT_NO_MAX_LEN`].
pub fn format_tkt_no(prefix: &str, number: i64) -> Option<String> {
    let tkt = format!("{prefix}-{number:06}");
    (tkt.len() <= ORDER_TKT_NO_MAX_LEN).then_some(tkt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(h, mi, s)).expect("valid date")
    }

    #[test]
    fn order_tickets_leave_room_for_the_release_suffix() {
        assert_eq!(format_tkt_no("W", 1).as_deref(), Some("W-000001"));
        assert_eq!(format_tkt_no("WEBSH", 1).as_deref(), Some("WEBSH-000001"), "12 places: the longest");
        assert_eq!(format_tkt_no("WEBSHO", 1), None, "13 places: `-01` would not fit VARCHAR(15)");
        assert_eq!(format_tkt_no("W", 12_345_678).as_deref(), Some("W-12345678"));
        let longest = format!("{}-01", format_tkt_no("WEBSH", 999_999).expect("fits"));
        assert_eq!(longest.len(), TKT_NO_MAX_LEN);
    }

    #[test]
    fn doc_id_follows_the_fngendocid_layout() {
        // Store 1, station 1, order, 25 Nov 2026 (day 329 -> 29), 05:18:23 = 19103 s, variation 0.
        let id = gen_doc_id(1, 1, 'O', at(2026, 11, 25, 5, 18, 23), 0);
        assert_eq!(id, 100_000_000_000 + 1_000_000_000 + 100_000_000 + 29_000_000 + 191_030);
        // Variation digit separates documents made in the same second.
        assert_eq!(gen_doc_id(1, 1, 'O', at(2026, 11, 25, 5, 18, 23), 3), id + 3);
    }

    #[test]
    fn doc_id_wraps_store_and_station_and_fits_bigint() {
        let id = gen_doc_id(12_345, 199, 'Z', at(2026, 12, 31, 23, 59, 59), 9);
        assert_eq!(id, 2345 * 100_000_000_000 + 99 * 1_000_000_000 + 9 * 100_000_000 + 65 * 1_000_000 + 863_999);
        assert!(id < i64::MAX);
    }

    #[test]
    fn ticket_numbers_are_padded_and_bounded() {
        assert_eq!(format_tkt_no("WEB1", 42).as_deref(), Some("WEB1-000042"));
        assert_eq!(format_tkt_no("W", 12_345_678).as_deref(), Some("W-12345678"));
        assert_eq!(format_tkt_no("TOOLONGPFX", 1), None);
    }
}
