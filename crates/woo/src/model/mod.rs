//! Typed WooCommerce `wc/v3` records. Each type names the fields cpbridge reads and keeps every other field in
//! `extra`, so that a record parsed from a newer WooCommerce serializes back without loss and never fails on a
//! field we have not met yet.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use cpbridge_core::ids::{Sku, WooOrderId};

use crate::de::{ManageStock, money, opt_quantity};

mod orders;

pub use orders::*;

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
    pub sku: Sku,
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
    pub sku: Sku,
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
    pub sku: Option<Sku>,
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
    pub sku: Option<Sku>,
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
