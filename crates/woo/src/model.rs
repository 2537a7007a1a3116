//! Typed WooCommerce `wc/v3` records. Each type names the fields cpbridge reads and keeps every other field in
//! `extra`, so that a record parsed from a newer WooCommerce serializes back without loss and never fails on a
//! field we have not met yet.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::de::{ManageStock, money, opt_quantity};

/// Fields a record carries that cpbridge does not name.
pub type Extra = Map<String, Value>;

/// One `meta_data` entry. `id` is absent on writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub key: String,
    #[serde(default)]
    pub value: Value,
    #[serde(flatten)]
    pub extra: Extra,
}

impl MetaData {
    /// A new entry to write.
    #[must_use]
    pub fn new(key: impl Into<String>, value: impl Into<Value>) -> Self {
        Self { id: None, key: key.into(), value: value.into(), extra: Extra::new() }
    }
}

/// The value of the first meta entry with `key`, as text when it is a string or a number.
#[must_use]
pub fn meta_text<'a>(meta: &'a [MetaData], key: &str) -> Option<std::borrow::Cow<'a, str>> {
    meta.iter().find(|m| m.key == key).and_then(|m| match &m.value {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    })
}

/// A billing or shipping address. Shipping addresses have no email; older stores send no shipping phone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub address_1: String,
    #[serde(default)]
    pub address_2: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An address in a write: only the fields that are set are sent, so an update never blanks the others.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddressWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl From<&Address> for AddressWrite {
    fn from(a: &Address) -> Self {
        Self {
            first_name: Some(a.first_name.clone()),
            last_name: Some(a.last_name.clone()),
            company: Some(a.company.clone()),
            address_1: Some(a.address_1.clone()),
            address_2: Some(a.address_2.clone()),
            city: Some(a.city.clone()),
            state: Some(a.state.clone()),
            postcode: Some(a.postcode.clone()),
            country: Some(a.country.clone()),
            email: a.email.clone(),
            phone: a.phone.clone(),
            extra: Extra::new(),
        }
    }
}

/// A product as `GET /products` returns it; also the body of a `product.*` webhook, which uses this shape even
/// for variations (`type: "variation"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub sku: String,
    #[serde(with = "money", default)]
    pub price: Option<Decimal>,
    #[serde(with = "money", default)]
    pub regular_price: Option<Decimal>,
    #[serde(with = "money", default)]
    pub sale_price: Option<Decimal>,
    #[serde(default)]
    pub date_modified_gmt: Option<NaiveDateTime>,
    #[serde(default)]
    pub manage_stock: ManageStock,
    #[serde(with = "opt_quantity", default)]
    pub stock_quantity: Option<i64>,
    #[serde(default)]
    pub stock_status: String,
    #[serde(default)]
    pub backorders: String,
    #[serde(default)]
    pub parent_id: u64,
    /// Ids of a variable product's variations (absent from some webhook bodies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variations: Option<Vec<u64>>,
    #[serde(default)]
    pub meta_data: Vec<MetaData>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A variation as `GET /products/{id}/variations` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variation {
    pub id: u64,
    #[serde(default)]
    pub sku: String,
    #[serde(with = "money", default)]
    pub price: Option<Decimal>,
    #[serde(with = "money", default)]
    pub regular_price: Option<Decimal>,
    #[serde(with = "money", default)]
    pub sale_price: Option<Decimal>,
    #[serde(default)]
    pub date_modified_gmt: Option<NaiveDateTime>,
    #[serde(default)]
    pub manage_stock: ManageStock,
    #[serde(with = "opt_quantity", default)]
    pub stock_quantity: Option<i64>,
    #[serde(default)]
    pub stock_status: String,
    #[serde(default)]
    pub backorders: String,
    #[serde(default)]
    pub parent_id: u64,
    #[serde(default)]
    pub meta_data: Vec<MetaData>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A product category (`/products/categories`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub slug: String,
    /// The parent category's id; 0 at the top.
    #[serde(default)]
    pub parent: u64,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A reference to a category on a product write (`categories: [{"id": 9}]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRef {
    pub id: u64,
}

/// A registered customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: u64,
    #[serde(default)]
    pub date_created_gmt: Option<NaiveDateTime>,
    #[serde(default)]
    pub date_modified_gmt: Option<NaiveDateTime>,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub billing: Address,
    #[serde(default)]
    pub shipping: Address,
    #[serde(default)]
    pub meta_data: Vec<MetaData>,
    #[serde(flatten)]
    pub extra: Extra,
}

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
    pub sku: Option<String>,
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
    pub id: u64,
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
    pub id: u64,
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
    pub id: u64,
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

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub delivery_url: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// WooCommerce's error body: `{code, message, data: {status, ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub data: Value,
}

impl ErrorBody {
    /// The HTTP status WooCommerce put in `data.status`.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.data.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok())
    }

    /// For a duplicate SKU or category name, the id of the record that already holds it (`data.resource_id`).
    #[must_use]
    pub fn resource_id(&self) -> Option<u64> {
        self.data.get("resource_id").and_then(Value::as_u64)
    }
}

/// A write to the `batch` endpoint of a collection. WooCommerce accepts at most 100 items across all three lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BatchWrite<W> {
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub create: Vec<W>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub update: Vec<W>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<u64>,
}

impl<W> BatchWrite<W> {
    /// Items in the write, counted the way WooCommerce counts them against its limit.
    #[must_use]
    pub fn len(&self) -> usize {
        self.create.len() + self.update.len() + self.delete.len()
    }

    /// True when there is nothing to send.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One item of a batch response: the record, or the error WooCommerce reported for it inside the 200.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchItem<T> {
    Failed { id: Option<u64>, error: ErrorBody },
    Done(T),
}

/// The body of a batch response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse<T> {
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub create: Vec<BatchItem<T>>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub update: Vec<BatchItem<T>>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<BatchItem<T>>,
}

/// A product (or variation) create or update. Only the fields that are set are sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// A price string as WooCommerce stores it ("12.50"); `""` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regular_price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_stock: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_quantity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backorders: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<String>,
    /// `taxable`, `shipping` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_status: Option<String>,
    /// The slug of a tax class; `""` is the standard rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<CategoryRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<Vec<MetaData>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ProductWrite {
    /// A stock-only update of one product or variation, the commonest write cpbridge makes.
    #[must_use]
    pub fn stock(id: u64, quantity: i64) -> Self {
        Self { id: Some(id), manage_stock: Some(true), stock_quantity: Some(quantity), ..Self::default() }
    }
}

/// A customer create or update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<AddressWrite>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<AddressWrite>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<Vec<MetaData>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A product line of an order create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineItemWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variation_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub quantity: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtotal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An order create or update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_paid: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<AddressWrite>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<AddressWrite>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line_items: Vec<LineItemWrite>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipping_lines: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fee_lines: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coupon_lines: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<Vec<MetaData>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A refund create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefundWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// False records the refund without asking the payment gateway to move money.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_refund: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line_items: Vec<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A webhook create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookWrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub topic: String,
    pub delivery_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}
