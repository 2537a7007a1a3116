//! Orders as WooCommerce sends them: status, lines, shipping, fees, coupons, taxes, refunds and notes.

use super::*;

/// An order's status. Plugins add their own, which arrive as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Processing,
    OnHold,
    Completed,
    Cancelled,
    Refunded,
    Failed,
    CheckoutDraft,
    Other(String),
}

impl OrderStatus {
    /// The status as WooCommerce spells it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::OnHold => "on-hold",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
            Self::Failed => "failed",
            Self::CheckoutDraft => "checkout-draft",
            Self::Other(s) => s,
        }
    }

    /// Parses WooCommerce's spelling; the `wc-` prefix of stored statuses is accepted.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text.strip_prefix("wc-").unwrap_or(text) {
            "pending" => Self::Pending,
            "processing" => Self::Processing,
            "on-hold" => Self::OnHold,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            "refunded" => Self::Refunded,
            "failed" => Self::Failed,
            "checkout-draft" => Self::CheckoutDraft,
            other => Self::Other(other.to_owned()),
        }
    }

    /// True for the statuses in which WooCommerce has taken payment (or the store accepted the order unpaid, like
    /// on-hold for a bank transfer) and reduced stock.
    #[must_use]
    pub fn is_paid_like(&self) -> bool {
        matches!(self, Self::Processing | Self::OnHold | Self::Completed)
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OrderStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OrderStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self::parse(&s))
    }
}

/// A product line of an order (or, with negative quantities, of a refund).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub product_id: u64,
    #[serde(default)]
    pub variation_id: u64,
    #[serde(with = "opt_quantity", default)]
    pub quantity: Option<i64>,
    #[serde(with = "money", default)]
    pub subtotal: Option<Decimal>,
    #[serde(with = "money", default)]
    pub subtotal_tax: Option<Decimal>,
    #[serde(with = "money", default)]
    pub total: Option<Decimal>,
    #[serde(with = "money", default)]
    pub total_tax: Option<Decimal>,
    #[serde(default)]
    pub sku: Option<Sku>,
    /// The unit price after discounts, which WooCommerce computes and sends as a JSON number (`59`,
    /// `21.593333333333334`); kept exactly as sent. See [`LineItem::unit_price`].
    #[serde(default)]
    pub price: Value,
    #[serde(default)]
    pub meta_data: Vec<MetaData>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl LineItem {
    /// The unit price after discounts, as a float.
    #[must_use]
    pub fn unit_price(&self) -> Option<f64> {
        match &self.price {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// A shipping line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShippingLine {
    pub id: u64,
    #[serde(default)]
    pub method_title: String,
    #[serde(default)]
    pub method_id: String,
    #[serde(with = "money", default)]
    pub total: Option<Decimal>,
    #[serde(with = "money", default)]
    pub total_tax: Option<Decimal>,
    #[serde(default)]
    pub meta_data: Vec<MetaData>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A fee line (handling, surcharges).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeeLine {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tax_status: String,
    #[serde(with = "money", default)]
    pub total: Option<Decimal>,
    #[serde(with = "money", default)]
    pub total_tax: Option<Decimal>,
    #[serde(default)]
    pub meta_data: Vec<MetaData>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A coupon applied to an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CouponLine {
    pub id: u64,
    #[serde(default)]
    pub code: String,
    #[serde(with = "money", default)]
    pub discount: Option<Decimal>,
    #[serde(with = "money", default)]
    pub discount_tax: Option<Decimal>,
    #[serde(default)]
    pub meta_data: Vec<MetaData>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tax total by rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxLine {
    pub id: u64,
    #[serde(default)]
    pub rate_code: String,
    #[serde(default)]
    pub label: String,
    #[serde(with = "money", default)]
    pub tax_total: Option<Decimal>,
    #[serde(with = "money", default)]
    pub shipping_tax_total: Option<Decimal>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The short form of a refund inside an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundSummary {
    pub id: WooOrderId,
    #[serde(default)]
    pub reason: String,
    #[serde(with = "money", default)]
    pub total: Option<Decimal>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: WooOrderId,
    #[serde(default)]
    pub parent_id: u64,
    #[serde(default)]
    pub number: String,
    pub status: OrderStatus,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub prices_include_tax: bool,
    #[serde(default)]
    pub date_created_gmt: Option<NaiveDateTime>,
    #[serde(default)]
    pub date_modified_gmt: Option<NaiveDateTime>,
    #[serde(default)]
    pub date_paid_gmt: Option<NaiveDateTime>,
    #[serde(default)]
    pub date_completed_gmt: Option<NaiveDateTime>,
    #[serde(with = "money", default)]
    pub discount_total: Option<Decimal>,
    #[serde(with = "money", default)]
    pub discount_tax: Option<Decimal>,
    #[serde(with = "money", default)]
    pub shipping_total: Option<Decimal>,
    #[serde(with = "money", default)]
    pub shipping_tax: Option<Decimal>,
    #[serde(with = "money", default)]
    pub cart_tax: Option<Decimal>,
    #[serde(with = "money", default)]
    pub total: Option<Decimal>,
    #[serde(with = "money", default)]
    pub total_tax: Option<Decimal>,
    #[serde(default)]
    pub customer_id: u64,
    #[serde(default)]
    pub order_key: String,
    #[serde(default)]
    pub billing: Address,
    #[serde(default)]
    pub shipping: Address,
    #[serde(default)]
    pub payment_method: String,
    #[serde(default)]
    pub payment_method_title: String,
    #[serde(default)]
    pub transaction_id: String,
    #[serde(default)]
    pub customer_note: String,
    #[serde(default)]
    pub meta_data: Vec<MetaData>,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    #[serde(default)]
    pub tax_lines: Vec<TaxLine>,
    #[serde(default)]
    pub shipping_lines: Vec<ShippingLine>,
    #[serde(default)]
    pub fee_lines: Vec<FeeLine>,
    #[serde(default)]
    pub coupon_lines: Vec<CouponLine>,
    #[serde(default)]
    pub refunds: Vec<RefundSummary>,
    /// Not WooCommerce's: the refunds in full (`GET /orders/{id}/refunds`), which cpbridge fetches with an order
    /// that has any, because the order itself shows only their totals. Kept in the staged copy of the order.
    #[serde(default, rename = "cpbridge_refunds", skip_serializing_if = "Vec::is_empty")]
    pub refund_details: Vec<Refund>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A refund, as `POST /orders/{id}/refunds` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    /// WooCommerce keeps a refund as an order of type `shop_order_refund`, numbered with the orders.
    pub id: WooOrderId,
    #[serde(default)]
    pub date_created_gmt: Option<NaiveDateTime>,
    #[serde(with = "money", default)]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub refunded_payment: bool,
    #[serde(default)]
    pub meta_data: Vec<MetaData>,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    #[serde(default)]
    pub shipping_lines: Vec<ShippingLine>,
    #[serde(default)]
    pub fee_lines: Vec<FeeLine>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl LineItem {
    /// On a refund's line: the id of the order line it refunds (`_refunded_item_id`).
    #[must_use]
    pub fn refunded_item_id(&self) -> Option<u64> {
        let meta = self.meta_data.iter().find(|m| m.key == "_refunded_item_id")?;
        match &meta.value {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }
}

/// A note on an order; `customer_note` notes are e-mailed to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderNote {
    pub id: u64,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub date_created_gmt: Option<NaiveDateTime>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub customer_note: bool,
    #[serde(flatten)]
    pub extra: Extra,
}
