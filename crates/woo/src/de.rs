//! Serde helpers for WooCommerce's loose JSON: prices as strings that may be empty, numbers that may arrive as
//! strings, and `manage_stock` that is a bool on products but may be `"parent"` on variations.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A money amount as WooCommerce writes it: a decimal string, `""` when unset (a product without a sale price).
/// `null` and JSON numbers are accepted too, because extensions and older versions send them.
pub mod money {
    use super::*;

    /// # Errors
    /// When the value is neither empty, a decimal string, nor a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
        deserializer.deserialize_any(MoneyVisitor)
    }

    /// Writes `None` as `""`, the way WooCommerce does, so that a parsed body serializes back unchanged.
    ///
    /// # Errors
    /// Never, beyond the serializer's own.
    pub fn serialize<S: Serializer>(value: &Option<Decimal>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(amount) => serializer.serialize_str(&amount.to_string()),
            None => serializer.serialize_str(""),
        }
    }

    struct MoneyVisitor;

    impl<'de> Visitor<'de> for MoneyVisitor {
        type Value = Option<Decimal>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a decimal amount as a string or number, or an empty string")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let trimmed = v.trim();
            if trimmed.is_empty() {
                return Ok(None);
            }
            parse_decimal(trimmed).map(Some).ok_or_else(|| E::custom(format!("{v:?} is not a decimal amount")))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Decimal::from(v)))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Decimal::from(v)))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Decimal::try_from(v).map(Some).map_err(|_| E::custom(format!("{v} is not a decimal amount")))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
}

/// Parses a decimal written either plainly ("12.50") or in scientific notation ("1e-5"), which PHP can emit.
#[must_use]
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    text.parse::<Decimal>().ok().or_else(|| Decimal::from_scientific(text).ok())
}

/// A whole quantity that may be `null`, a number (sometimes `5.0`), or a numeric string.
pub mod opt_quantity {
    use super::*;

    /// # Errors
    /// When the value is not a whole number.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }

    /// # Errors
    /// Never, beyond the serializer's own.
    pub fn serialize<S: Serializer>(value: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(quantity) => serializer.serialize_i64(*quantity),
            None => serializer.serialize_none(),
        }
    }

    struct QuantityVisitor;

    impl<'de> Visitor<'de> for QuantityVisitor {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number, a numeric string, or null")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v).map(Some).map_err(|_| E::custom(format!("{v} is too large for a quantity")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                #[allow(clippy::cast_possible_truncation)]
                Ok(Some(v as i64))
            } else {
                Err(E::custom(format!("{v} is not a whole quantity")))
            }
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let trimmed = v.trim();
            if trimmed.is_empty() {
                return Ok(None);
            }
            match trimmed.parse::<i64>() {
                Ok(quantity) => Ok(Some(quantity)),
                Err(_) => trimmed
                    .parse::<f64>()
                    .map_err(|_| E::custom(format!("{v:?} is not a quantity")))
                    .and_then(|f| self.visit_f64(f)),
            }
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
}

/// Whether WooCommerce tracks stock for a product. Variations may say `"parent"`: the parent product's stock counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManageStock {
    Yes,
    #[default]
    No,
    Parent,
}

impl ManageStock {
    /// True when this record carries its own stock quantity.
    #[must_use]
    pub fn is_own(self) -> bool {
        self == Self::Yes
    }
}

impl Serialize for ManageStock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Yes => serializer.serialize_bool(true),
            Self::No => serializer.serialize_bool(false),
            Self::Parent => serializer.serialize_str("parent"),
        }
    }
}

impl<'de> Deserialize<'de> for ManageStock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Loose {
            Flag(bool),
            Text(String),
            Number(i64),
            Null(()),
        }
        match Loose::deserialize(deserializer)? {
            Loose::Flag(true) | Loose::Number(1) => Ok(Self::Yes),
            Loose::Flag(false) | Loose::Number(0) | Loose::Null(()) => Ok(Self::No),
            Loose::Text(t) => match t.as_str() {
                "parent" => Ok(Self::Parent),
                "yes" | "true" | "1" => Ok(Self::Yes),
                "no" | "false" | "0" | "" => Ok(Self::No),
                other => Err(de::Error::custom(format!("manage_stock {other:?} is not true, false or \"parent\""))),
            },
            Loose::Number(n) => Err(de::Error::custom(format!("manage_stock {n} is not true, false or \"parent\""))),
        }
    }
}

/// Formats an amount the way WooCommerce stores prices: at least two decimals ("12.50"), more when given.
#[must_use]
pub fn price_string(amount: Decimal) -> String {
    let normalized = amount.normalize();
    if normalized.scale() < 2 { format!("{:.2}", normalized) } else { normalized.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Serialize)]
    struct Priced {
        #[serde(with = "money")]
        price: Option<Decimal>,
        #[serde(with = "opt_quantity")]
        stock: Option<i64>,
    }

    #[test]
    fn money_and_quantities_accept_what_woocommerce_sends() -> Result<(), serde_json::Error> {
        let p: Priced = serde_json::from_value(json!({"price": "", "stock": null}))?;
        assert_eq!((p.price, p.stock), (None, None));
        let p: Priced = serde_json::from_value(json!({"price": "9.2", "stock": "7"}))?;
        assert_eq!(p.price.map(|d| d.to_string()), Some("9.2".into()));
        assert_eq!(p.stock, Some(7));
        let p: Priced = serde_json::from_value(json!({"price": 5.5, "stock": 3.0}))?;
        assert_eq!((p.price.map(|d| d.to_string()), p.stock), (Some("5.5".into()), Some(3)));
        assert!(serde_json::from_value::<Priced>(json!({"price": "abc", "stock": 1})).is_err());
        assert!(serde_json::from_value::<Priced>(json!({"price": "1", "stock": 1.5})).is_err());
        assert_eq!(serde_json::to_value(Priced { price: None, stock: Some(-1) })?, json!({"price": "", "stock": -1}));
        Ok(())
    }

    #[test]
    fn manage_stock_reads_parent() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::from_value::<ManageStock>(json!("parent"))?, ManageStock::Parent);
        assert_eq!(serde_json::from_value::<ManageStock>(json!(true))?, ManageStock::Yes);
        assert!(serde_json::from_value::<ManageStock>(json!("sometimes")).is_err());
        Ok(())
    }

    #[test]
    fn prices_keep_two_decimals() {
        assert_eq!(price_string(Decimal::new(125, 1)), "12.50");
        assert_eq!(price_string(Decimal::new(12, 0)), "12.00");
        assert_eq!(price_string(Decimal::new(12345, 3)), "12.345");
    }
}
