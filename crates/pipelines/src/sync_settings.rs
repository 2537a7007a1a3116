//! What the outbound syncs need to know about this shop: the `[products]`, `[inventory]` and `[customers]` tables
//! of the config file. Every default is stated here.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

/// Product fields cpbridge can write. A field not in `products.owned_fields` is set when the product is created and
/// left alone afterwards, so an edit made in WooCommerce stays.
pub const PRODUCT_FIELDS: [&str; 9] = [
    "name",
    "description",
    "short_description",
    "regular_price",
    "sale_price",
    "categories",
    "weight",
    "tax_class",
    "status",
];

/// The `[products]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProductSettings {
    /// Fields Counterpoint owns and cpbridge keeps overwriting; default all of [`PRODUCT_FIELDS`].
    pub owned_fields: Vec<String>,
    /// Status for an item that left the web (discontinued, voided, no longer `IS_ECOMM_ITEM`, or deleted):
    /// `draft` or `private`. Products are never deleted.
    pub retired_status: String,
    /// `IM_PRC.LOC_ID` whose prices the store shows; empty uses the item's own `PRC_1`/`REG_PRC`.
    pub price_location: String,
    /// `TAX_CATEG_COD` to WooCommerce tax class slug; an unmapped code uses the standard rate (`""`).
    pub tax_classes: BTreeMap<String, String>,
    /// `CATEG_COD` to the category name the store shows; an unmapped code is shown as it is.
    pub category_names: BTreeMap<String, String>,
    /// Items per batch request (WooCommerce takes at most 100).
    pub batch_size: usize,
    /// Gridded items (`TRK_METH = 'G'`) as variable products with a variation per web cell (on by default); off, a
    /// grid is one simple product with the item's total stock, as before.
    pub grid_variations: bool,
    /// How a variation's SKU is made: `item-dims` (`ITEM_NO-DIM1-DIM2`, the default) or `barcode` (the cell's
    /// `IM_BARCOD` barcode, else `ITEM_NO-DIM1-DIM2`). Orders and the pricing API resolve both kinds whatever it is.
    pub variation_sku: cpbridge_core::records::VariationSkuRule,
}

impl Default for ProductSettings {
    fn default() -> Self {
        ProductSettings {
            owned_fields: PRODUCT_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            retired_status: "draft".into(),
            price_location: String::new(),
            tax_classes: BTreeMap::new(),
            category_names: BTreeMap::new(),
            batch_size: 100,
            grid_variations: true,
            variation_sku: cpbridge_core::records::VariationSkuRule::ItemDims,
        }
    }
}

impl ProductSettings {
    /// Every problem with these settings, at once.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for field in &self.owned_fields {
            if !PRODUCT_FIELDS.contains(&field.as_str()) {
                problems.push(format!(
                    "products.owned_fields: {field:?} is not a field cpbridge writes (one of {})",
                    PRODUCT_FIELDS.join(", ")
                ));
            }
        }
        if !matches!(self.retired_status.as_str(), "draft" | "private" | "pending") {
            problems.push(format!(
                "products.retired_status must be \"draft\" or \"private\", not {:?}",
                self.retired_status
            ));
        }
        if !(1..=100).contains(&self.batch_size) {
            problems.push("products.batch_size must be between 1 and 100".into());
        }
        problems
    }

    pub fn owns(&self, field: &str) -> bool {
        self.owned_fields.iter().any(|f| f == field)
    }
}

/// The `[inventory]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventorySettings {
    /// `IM_INV.LOC_ID`s whose stock the store may sell (Counterpoint's `EC_CTL.STK_LOC_ID` is the usual one).
    pub web_locations: Vec<String>,
    /// Units held back from the web per SKU, against counting errors.
    pub buffer: Decimal,
    /// WooCommerce `backorders` for managed products: `no`, `notify` or `yes`.
    pub backorders: String,
    /// Products per batch request (WooCommerce takes at most 100).
    pub batch_size: usize,
    /// Change rows read per round of the event poll.
    pub changes_per_round: usize,
}

impl Default for InventorySettings {
    fn default() -> Self {
        InventorySettings {
            web_locations: vec!["MAIN".into()],
            buffer: Decimal::ZERO,
            backorders: "no".into(),
            batch_size: 100,
            changes_per_round: 2000,
        }
    }
}

impl InventorySettings {
    /// Every problem with these settings, at once.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.web_locations.iter().all(|l| l.trim().is_empty()) {
            problems.push("inventory.web_locations must name at least one IM_INV.LOC_ID".into());
        }
        if self.buffer < Decimal::ZERO {
            problems.push("inventory.buffer must not be negative".into());
        }
        if !matches!(self.backorders.as_str(), "no" | "notify" | "yes") {
            problems.push(format!("inventory.backorders must be no, notify or yes, not {:?}", self.backorders));
        }
        if !(1..=100).contains(&self.batch_size) {
            problems.push("inventory.batch_size must be between 1 and 100".into());
        }
        if self.changes_per_round == 0 {
            problems.push("inventory.changes_per_round must be at least 1".into());
        }
        problems
    }
}

/// Customer fields that move between the two systems. Each has one owner, whose value wins.
pub const CUSTOMER_FIELDS: [&str; 5] = ["email", "name", "phone", "billing", "shipping"];

/// The `[customers]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomerSettings {
    /// Which side owns each of [`CUSTOMER_FIELDS`]: `counterpoint` or `woocommerce`. By default Counterpoint owns
    /// the account (e-mail, name, phone, billing address) and the customer keeps their own shipping address.
    pub owners: BTreeMap<String, String>,
    /// Customers per batch request (WooCommerce takes at most 100).
    pub batch_size: usize,
}

impl Default for CustomerSettings {
    fn default() -> Self {
        let owners = [
            ("email", "counterpoint"),
            ("name", "counterpoint"),
            ("phone", "counterpoint"),
            ("billing", "counterpoint"),
            ("shipping", "woocommerce"),
        ];
        CustomerSettings {
            owners: owners.iter().map(|(f, o)| ((*f).to_owned(), (*o).to_owned())).collect(),
            batch_size: 100,
        }
    }
}

impl CustomerSettings {
    /// Every problem with these settings, at once.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (field, owner) in &self.owners {
            if !CUSTOMER_FIELDS.contains(&field.as_str()) {
                problems.push(format!("customers.owners: {field:?} is not one of {}", CUSTOMER_FIELDS.join(", ")));
            }
            if !matches!(owner.as_str(), "counterpoint" | "woocommerce") {
                problems.push(format!(
                    "customers.owners.{field} must be \"counterpoint\" or \"woocommerce\", not {owner:?}"
                ));
            }
        }
        if !(1..=100).contains(&self.batch_size) {
            problems.push("customers.batch_size must be between 1 and 100".into());
        }
        problems
    }

    /// True when Counterpoint owns `field` (a field the file does not mention is Counterpoint's).
    pub fn counterpoint_owns(&self, field: &str) -> bool {
        self.owners.get(field).is_none_or(|o| o == "counterpoint")
    }
}
