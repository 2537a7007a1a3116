//! The identifiers that cross from one system to the other, as types: a WooCommerce order id, a staging row id, a
//! SKU and a Counterpoint customer number. Each is checked once where it enters (JSON, a database row, the command
//! line), so that the code that moves it between WooCommerce's unsigned ids and SQL's signed `BIGINT`, or between a
//! SKU and an item number, cannot mix them up or convert them lossily.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An identifier that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} `{value}` is not valid: {why}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub why: &'static str,
}

/// A WooCommerce order id. WooCommerce's ids are unsigned; staging keeps them in a signed `BIGINT`, so an id is
/// positive and at most `i64::MAX`, and both forms are exact.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct WooOrderId(u64);

impl WooOrderId {
    /// The id as WooCommerce's REST API writes it.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The id as staging and the state store keep it.
    pub fn as_i64(self) -> i64 {
        // The constructors hold it within i64.
        self.0 as i64
    }
}

impl TryFrom<u64> for WooOrderId {
    type Error = InvalidId;

    fn try_from(id: u64) -> Result<Self, InvalidId> {
        match id {
            0 => Err(invalid("WooCommerce order id", id, "0 is no order")),
            id if id > i64::MAX as u64 => Err(invalid("WooCommerce order id", id, "beyond a SQL BIGINT")),
            id => Ok(WooOrderId(id)),
        }
    }
}

impl TryFrom<i64> for WooOrderId {
    type Error = InvalidId;

    fn try_from(id: i64) -> Result<Self, InvalidId> {
        u64::try_from(id).map_err(|_| invalid("WooCommerce order id", id, "negative")).and_then(WooOrderId::try_from)
    }
}

impl From<WooOrderId> for u64 {
    fn from(id: WooOrderId) -> u64 {
        id.0
    }
}

impl FromStr for WooOrderId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, InvalidId> {
        s.trim()
            .parse::<u64>()
            .map_err(|_| invalid("WooCommerce order id", s, "not a number"))
            .and_then(WooOrderId::try_from)
    }
}

// An id reads as its number in messages and logs, `{:?}` included.
impl fmt::Debug for WooOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for StagingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for WooOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of a `USER_ORDER_STAGING` row (its `ID` identity column).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StagingId(i64);

impl StagingId {
    pub fn new(id: i64) -> Self {
        StagingId(id)
    }

    /// The id as the `ID` column holds it.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromStr for StagingId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, InvalidId> {
        s.trim().parse::<i64>().map(StagingId).map_err(|_| invalid("staging id", s, "not a number"))
    }
}

impl fmt::Display for StagingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Read as text wherever text is read (SQL parameters, messages, maps keyed by text); built only on purpose.
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl From<&String> for $name {
            fn from(value: &String) -> Self {
                $name(value.clone())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(value)
            }
        }
    };
}

text_id!(
    /// A WooCommerce SKU: an item number (`ITEM_NO`), a grid cell's `ITEM-DIM1-DIM2`, or a barcode, depending on
    /// the shop's rules. Only [`crate::order`] and the variation rules decide which item it is.
    Sku
);

text_id!(
    /// A Counterpoint customer number (`AR_CUST.CUST_NO`).
    CustNo
);

fn invalid(kind: &'static str, value: impl ToString, why: &'static str) -> InvalidId {
    InvalidId { kind, value: value.to_string(), why }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn woo_order_ids_fit_both_wire_and_column() {
        let id: WooOrderId = serde_json::from_str("4711").expect("valid");
        assert_eq!((id.get(), id.as_i64()), (4711, 4711));
        assert_eq!(serde_json::to_string(&id).expect("valid"), "4711");
        assert!(serde_json::from_str::<WooOrderId>("0").is_err());
        assert!(serde_json::from_str::<WooOrderId>(&u64::MAX.to_string()).is_err());
        assert!(WooOrderId::try_from(-3_i64).is_err());
        assert_eq!(WooOrderId::try_from(i64::MAX).expect("valid").get(), i64::MAX as u64);
        assert_eq!("  12 ".parse::<WooOrderId>().expect("valid").get(), 12);
        let err = "x12".parse::<WooOrderId>().expect_err("invalid");
        assert_eq!(err.to_string(), "WooCommerce order id `x12` is not valid: not a number");
    }

    #[test]
    fn text_ids_compare_with_their_text() {
        let sku = Sku::new("MUG-1");
        assert_eq!(sku, "MUG-1");
        assert_eq!(format!("{sku:?} {sku}"), "\"MUG-1\" MUG-1");
        assert_eq!(serde_json::to_string(&sku).expect("valid"), "\"MUG-1\"");
        let map: std::collections::HashMap<CustNo, u8> = [(CustNo::from("C1"), 1)].into();
        assert_eq!(map.get("C1"), Some(&1));
    }
}
