//! Counterpoint records as cpbridge reads them.
//!
//! Field names follow Counterpoint's columns (`item_no` is `ITEM_NO`), so a reader of the SQL and a reader of the
//! Rust see the same thing. Flags are kept as `bool` here; the adapters convert `'Y'`/`'N'` at the edge.

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{CustNo, Sku};

/// A position in a change feed: the last `RS_UTC_DT` seen and the key of the last row at that instant.
///
/// The key breaks ties, because many rows share one `DATETIME` (SQL Server's resolution is about 3 ms).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Watermark {
    /// `None` means "from the beginning".
    pub at: Option<NaiveDateTime>,
    /// The key of the last row read at `at` (`ITEM_NO`, or a composite key joined with `\u{1f}`).
    pub key: String,
}

impl Watermark {
    /// The watermark that reads everything.
    pub fn start() -> Self {
        Self::default()
    }
}

/// One `IM_ITEM` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub item_no: String,
    pub descr: String,
    pub short_descr: Option<String>,
    pub long_descr: Option<String>,
    /// `I` inventory, `N` non-inventory, `S` service, `D` discount.
    pub item_typ: String,
    /// `A` active, `D` discontinued, `V` void.
    pub stat: String,
    pub categ_cod: Option<String>,
    pub subcat_cod: Option<String>,
    pub is_ecomm_item: bool,
    pub is_txbl: bool,
    pub tax_categ_cod: Option<String>,
    pub weight: Option<Decimal>,
    pub barcod: Option<String>,
    pub prc_1: Decimal,
    pub reg_prc: Decimal,
    pub lst_cost: Option<Decimal>,
    /// `G` marks a gridded (matrix) item.
    pub trk_meth: Option<String>,
    /// The stocking unit (`EACH`): a document line's `QTY_UNIT`.
    #[serde(default)]
    pub stk_unit: Option<String>,
    /// The other columns price filters may name ([`crate::pricing::ITEM_EXTRA_COLUMNS`]), by column, when not NULL.
    #[serde(default)]
    pub extra: std::collections::BTreeMap<String, String>,
    /// Decimal places used when rounding a computed price.
    pub prc_decs: u32,
    pub prof_cod_1: Option<String>,
    pub attr_cod_1: Option<String>,
    pub lst_maint_dt: Option<NaiveDateTime>,
    pub rs_utc_dt: Option<NaiveDateTime>,
}

impl Item {
    /// Whether a web order may sell this item: active, and an inventory or non-inventory item.
    pub fn is_sellable(&self) -> bool {
        self.stat == "A" && matches!(self.item_typ.as_str(), "I" | "N" | "S")
    }

    /// Whether Counterpoint tracks stock for this item (only `I` items commit inventory).
    pub fn tracks_inventory(&self) -> bool {
        self.item_typ == "I"
    }
}

/// One `IM_PRC` row: prices of an item at a location (and grid cell, `*` for non-grid items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemPrice {
    pub item_no: String,
    pub loc_id: String,
    pub dim_1_upr: String,
    pub dim_2_upr: String,
    pub dim_3_upr: String,
    pub reg_prc: Option<Decimal>,
    /// `PRC_1` .. `PRC_6`.
    pub prc: [Option<Decimal>; 6],
    pub rs_utc_dt: Option<NaiveDateTime>,
}

/// One `IM_INV` row: stock of an item at a location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryLevel {
    pub item_no: String,
    pub loc_id: String,
    pub qty_on_hnd: Decimal,
    pub qty_commit: Decimal,
    pub qty_on_ord: Decimal,
    pub qty_on_bo: Decimal,
    pub rs_utc_dt: Option<NaiveDateTime>,
}

impl InventoryLevel {
    /// `QTY_AVAIL` as SQL Server computes it: on hand minus committed. It may be negative.
    pub fn qty_avail(&self) -> Decimal {
        self.qty_on_hnd - self.qty_commit
    }
}

/// One `USER_INV_CHANGES` row, written by the `IM_INV` triggers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryChange {
    pub change_id: i64,
    pub item_no: String,
    pub loc_id: String,
    pub changed_dt: NaiveDateTime,
    /// The grid cell (`DIM_1_UPR..DIM_3_UPR`) for a change to `IM_INV_CELL`; `None` for the item's `IM_INV` row.
    pub cell: Option<[String; 3]>,
}

/// One value of a gridded item's dimension (`IM_GRID_DIM_1..3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridDimValue {
    pub item_no: String,
    /// 1, 2 or 3.
    pub dim: u8,
    /// The key value (`DIM_n_UPR`).
    pub upr: String,
    /// As displayed (`DIM_n`); the key when Counterpoint has none.
    pub label: String,
    /// Display order (`DIM_n_SEQ_NO`).
    pub seq_no: i64,
}

/// A grid cell's barcode (`IM_BARCOD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellBarcode {
    pub item_no: String,
    /// `DIM_1_UPR`, `DIM_2_UPR`, `DIM_3_UPR`.
    pub dims: [String; 3],
    pub barcode: String,
}

/// How a variation's SKU is made from its cell (`products.variation_sku`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VariationSkuRule {
    /// `ITEM_NO-DIM1-DIM2` (the cell's `DIM_n_UPR` values, unused dimensions left out).
    #[default]
    ItemDims,
    /// The cell's barcode in `IM_BARCOD` (the lowest `BARCOD_ID` where it has several), else `ITEM_NO-DIM1-DIM2`.
    Barcode,
}

/// Each cell's variation SKU under the configured rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariationSkus {
    /// The barcode rule's SKUs, by item and cell; empty under `ITEM_NO-DIM1-DIM2`.
    barcodes: std::collections::HashMap<(String, [String; 3]), String>,
}

impl VariationSkus {
    /// `ITEM_NO-DIM1-DIM2` for every cell.
    pub fn by_label() -> Self {
        VariationSkus::default()
    }

    /// The cells' barcodes, read in `BARCOD_ID` order: the first one per cell is its SKU.
    pub fn from_barcodes(rows: impl IntoIterator<Item = CellBarcode>) -> Self {
        let mut barcodes = std::collections::HashMap::new();
        for row in rows {
            let barcode = row.barcode.trim().to_owned();
            if !barcode.is_empty() {
                barcodes.entry((row.item_no, row.dims)).or_insert(barcode);
            }
        }
        VariationSkus { barcodes }
    }

    /// The SKU of the variation for this cell.
    pub fn sku(&self, item_no: &str, dims: &[String; 3]) -> Sku {
        Sku::new(
            self.barcodes
                .get(&(item_no.to_owned(), dims.clone()))
                .cloned()
                .unwrap_or_else(|| crate::order::variation_label(item_no, dims)),
        )
    }
}

/// The stock of one grid cell at one location (`IM_INV_CELL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellLevel {
    pub item_no: String,
    pub loc_id: String,
    /// `DIM_1_UPR`, `DIM_2_UPR`, `DIM_3_UPR` (`*` for an unused dimension).
    pub dims: [String; 3],
    pub qty_on_hnd: rust_decimal::Decimal,
    pub qty_commit: rust_decimal::Decimal,
    /// `IS_ECOMM_ITEM_CELL`: NULL counts as on the web.
    pub is_ecomm: bool,
}

impl CellLevel {
    /// The cell's stock as the stock rules read an item's: under its variation's SKU.
    pub fn variation_level(&self, skus: &VariationSkus) -> InventoryLevel {
        InventoryLevel {
            item_no: skus.sku(&self.item_no, &self.dims).into_string(),
            loc_id: self.loc_id.clone(),
            qty_on_hnd: self.qty_on_hnd,
            qty_commit: self.qty_commit,
            qty_on_ord: rust_decimal::Decimal::ZERO,
            qty_on_bo: rust_decimal::Decimal::ZERO,
            rs_utc_dt: None,
        }
    }
}

/// How big `USER_INV_CHANGES` is and how far behind its reader: shown by `doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBacklog {
    pub rows: i64,
    pub unconsumed: i64,
    pub oldest_unconsumed: Option<NaiveDateTime>,
}

/// One `AR_CUST` row, with the columns cpbridge reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub cust_no: CustNo,
    pub nam: String,
    pub fst_nam: Option<String>,
    pub lst_nam: Option<String>,
    pub adrs_1: Option<String>,
    pub adrs_2: Option<String>,
    pub adrs_3: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_cod: Option<String>,
    pub cntry: Option<String>,
    pub phone_1: Option<String>,
    pub email_adrs_1: Option<String>,
    pub cust_typ: Option<String>,
    pub categ_cod: Option<String>,
    /// On live systems `PROF_COD_1` held the pricing tier.
    pub prof_cod_1: Option<String>,
    pub disc_pct: Option<Decimal>,
    pub tax_cod: Option<String>,
    pub str_id: Option<String>,
    /// `B` business, `P` person.
    pub cust_nam_typ: Option<String>,
    pub is_ecomm_cust: bool,
    pub rs_utc_dt: Option<NaiveDateTime>,
    /// The other columns price filters may name ([`crate::pricing::CUSTOMER_EXTRA_COLUMNS`]), when not NULL.
    #[serde(default)]
    pub extra: std::collections::BTreeMap<String, String>,
}

/// One `AR_SHIP_ADRS` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShipAddress {
    pub cust_no: CustNo,
    pub ship_adrs_id: String,
    pub nam: String,
    #[serde(default)]
    pub fst_nam: Option<String>,
    #[serde(default)]
    pub lst_nam: Option<String>,
    pub adrs_1: Option<String>,
    pub adrs_2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_cod: Option<String>,
    pub cntry: Option<String>,
    pub phone_1: Option<String>,
}

/// An `IM_PRC_GRP` row with its rules and their breaks, as the pricing evaluator needs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceGroup {
    /// `C` contract, `P` promotional, `S` special, ...
    pub grp_typ: String,
    pub grp_cod: String,
    pub descr: Option<String>,
    pub grp_seq_no: i64,
    pub enabled: bool,
    pub beg_dat: Option<NaiveDateTime>,
    pub end_dat: Option<NaiveDateTime>,
    /// The group-level customer filter (an SQL predicate over `AR_CUST`), if any.
    pub cust_filt: Option<String>,
    pub rules: Vec<PriceRule>,
    pub lst_maint_dt: Option<NaiveDateTime>,
}

/// An `IM_PRC_RUL` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceRule {
    pub rul_seq_no: i64,
    pub descr: Option<String>,
    /// SQL predicate over `AR_CUST` columns, as Counterpoint stores it.
    pub cust_filt: Option<String>,
    /// SQL predicate over `IM_ITEM` columns.
    pub item_filt: Option<String>,
    pub cust_filt_text: Option<String>,
    pub item_filt_text: Option<String>,
    /// SQL predicate over the sale (the document's store, station and location).
    #[serde(default)]
    pub sal_filt: Option<String>,
    pub breaks: Vec<PriceBreak>,
}

/// An `IM_PRC_RUL_BRK` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceBreak {
    pub min_qty: Decimal,
    /// `D` discount %, `A` amount off, `F` fixed; `O` and `M` are unconfirmed.
    pub prc_meth: String,
    /// `1`..`6` = `IM_PRC.PRC_n`, `R` = `REG_PRC`.
    pub prc_basis: String,
    pub amt_or_pct: Decimal,
}
