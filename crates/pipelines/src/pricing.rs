//! The price book behind the pricing API: price rules, items (with their prices at the price location) and
//! customers, held in memory so that a request never waits on the database.
//!
//! [`PriceService::refresh`] brings the book up to date: rules are reloaded when their replication stamp
//! (`RS_UTC_DT`) moves, and items, prices and customers changed since the last look are merged in. Every request
//! reads one consistent snapshot; a refresh swaps in a new one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{NaiveDateTime, Utc};
use cpbridge_core::pricing::{PriceAnswer, PriceRules, PricedItem, SaleContext};
use cpbridge_core::records::{Customer, Item, ItemPrice, VariationSkuRule, Watermark};
use cpbridge_core::{CustNo, Sku};
use cpbridge_counterpoint::port::watermark_after;
use cpbridge_counterpoint::{CounterpointPort, CpResult};

use crate::catalog::scan_from;
use rust_decimal::Decimal;

/// The rules are reloaded at least this often, whatever their stamps say.
const RULES_RELOAD_MINUTES: i64 = 10;

/// Rows read per query while refreshing.
const PAGE: usize = crate::catalog::PAGE;

/// Why a quote cannot be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("customer {0:?} is not in AR_CUST")]
    UnknownCustomer(CustNo),
    #[error("item {0:?} is not in IM_ITEM")]
    UnknownSku(Sku),
    #[error("the price book is still loading")]
    NotLoaded,
}

/// One consistent snapshot of everything pricing reads.
#[derive(Debug, Default)]
pub struct PriceBook {
    rules: PriceRules,
    items: HashMap<String, PricedItem>,
    /// A grid cell's own `IM_PRC` row at the price location, by item and cell: a variation's price basis.
    cell_prices: HashMap<String, HashMap<[String; 3], ItemPrice>>,
    /// Under `products.variation_sku = "barcode"`: a variation's SKU (its cell's barcode) → item and cell.
    barcodes: HashMap<String, (String, [String; 3])>,
    customers: HashMap<CustNo, Customer>,
    /// Lower-case `EMAIL_ADRS_1` → `CUST_NO`, for a web account that carries no customer number.
    emails: HashMap<String, CustNo>,
    rules_stamp: Option<NaiveDateTime>,
    rules_loaded_at: Option<NaiveDateTime>,
    items_after: Watermark,
    prices_after: Watermark,
    customers_after: Watermark,
    pub loaded_at: Option<NaiveDateTime>,
}

impl PriceBook {
    /// The gridded item a variation SKU (`ITEM_NO-DIM1-DIM2`) stands for, priced from the cell's own row at the
    /// price location when it has one, else from the item's.
    fn variation(&self, sku: &str) -> Option<PricedItem> {
        let gridded = |item_no: &str| self.items.get(item_no).filter(|i| is_grid(&i.item));
        let priced = |item_no: &str, cell: Option<&[String; 3]>| {
            let item = gridded(item_no)?;
            let own = cell.and_then(|cell| self.cell_prices.get(item_no)?.get(cell));
            Some(PricedItem { item: item.item.clone(), price: own.or(item.price.as_ref()).cloned() })
        };
        // The cells known here are those with their own price row; any other cell is priced as its item.
        let by_label = cpbridge_core::order::resolve_variation_sku(sku, |item_no| {
            gridded(item_no).map(|_| self.cell_prices.get(item_no).into_iter().flat_map(HashMap::keys))
        });
        let by_barcode = || self.barcodes.get(sku).and_then(|(item_no, cell)| priced(item_no, Some(cell)));
        match by_label {
            Some((item_no, Some(cell))) => priced(&item_no, Some(&cell)),
            // A barcode names its cell exactly; a label whose cell has no price row of its own names only the item.
            Some((item_no, None)) => by_barcode().or_else(|| priced(&item_no, None)),
            None => by_barcode(),
        }
    }

    /// Filters Counterpoint has that cpbridge cannot read, by group and rule.
    pub fn problems(&self) -> Vec<String> {
        self.rules.problems()
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.items.len(), self.customers.len())
    }
}

/// Lower-case e-mail → the lowest `CUST_NO` that has it.
fn email_index(customers: &HashMap<CustNo, Customer>) -> HashMap<String, CustNo> {
    let mut emails: HashMap<String, CustNo> = HashMap::new();
    for c in customers.values() {
        let Some(email) = c.email_adrs_1.as_deref().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()) else {
            continue;
        };
        let slot = emails.entry(email).or_insert_with(|| c.cust_no.clone());
        if c.cust_no < *slot {
            slot.clone_from(&c.cust_no);
        }
    }
    emails
}

/// The pricing service: the current book, and how to refresh it.
pub struct PriceService {
    cp: Arc<dyn CounterpointPort>,
    /// `IM_PRC.LOC_ID` whose prices count.
    price_location: String,
    /// The web sale, as rules' sale filters see it.
    sale: SaleContext,
    /// How variations' SKUs are made: under `barcode`, the book keeps the gridded items' cell barcodes.
    variation_sku: VariationSkuRule,
    book: RwLock<Arc<PriceBook>>,
}

impl PriceService {
    /// `sale`: the web's store, station and location, for the rules' sale filters (`SAL_FILT`).
    pub fn new(cp: Arc<dyn CounterpointPort>, price_location: String, sale: SaleContext) -> Self {
        PriceService {
            cp,
            price_location,
            sale,
            variation_sku: VariationSkuRule::default(),
            book: RwLock::new(Arc::new(PriceBook::default())),
        }
    }

    /// The rule variations' SKUs follow (`products.variation_sku`).
    #[must_use]
    pub fn with_variation_sku(mut self, rule: VariationSkuRule) -> Self {
        self.variation_sku = rule;
        self
    }

    /// The current snapshot.
    pub fn book(&self) -> Arc<PriceBook> {
        self.book.read().map(|b| b.clone()).unwrap_or_default()
    }

    /// Quotes `items` (SKU and quantity) for `customer`, on today's date, from the current snapshot.
    ///
    /// # Errors
    /// The first unknown customer or SKU, or a book that has not loaded yet.
    pub fn quote(&self, customer: &CustNo, items: &[(Sku, Decimal)]) -> Result<Vec<PriceAnswer>, QuoteError> {
        let book = self.book();
        if book.loaded_at.is_none() {
            return Err(QuoteError::NotLoaded);
        }
        let cust = book.customers.get(customer).ok_or_else(|| QuoteError::UnknownCustomer(customer.clone()))?;
        let applicable = book.rules.for_customer(cust, Utc::now().date_naive());
        items
            .iter()
            .map(|(sku, qty)| {
                if let Some(item) = book.items.get(sku.as_str()) {
                    return Ok(applicable.price(item, *qty));
                }
                // A variation's SKU: the rules match on its gridded item, the basis is the cell's price row.
                let variation = book.variation(sku).ok_or_else(|| QuoteError::UnknownSku(sku.clone()))?;
                let mut answer = applicable.price(&variation, *qty);
                answer.sku.clone_from(sku);
                Ok(answer)
            })
            .collect()
    }

    /// The Counterpoint customer whose `EMAIL_ADRS_1` is `email` (any case), for a web account that carries no
    /// customer number. When two customers share the address, the lowest number, as Counterpoint lists them.
    ///
    /// # Errors
    /// A book that has not loaded yet.
    pub fn customer_by_email(&self, email: &str) -> Result<Option<CustNo>, QuoteError> {
        let book = self.book();
        if book.loaded_at.is_none() {
            return Err(QuoteError::NotLoaded);
        }
        Ok(book.emails.get(&email.trim().to_lowercase()).cloned())
    }

    /// Brings the book up to date, reading only what changed since the last refresh. Returns whether anything did.
    ///
    /// # Errors
    /// When Counterpoint cannot be read; the previous snapshot then stays in service.
    pub async fn refresh(&self) -> CpResult<bool> {
        let old = self.book();
        let stamp = self.cp.pricing_changed_at().await?;
        // The stamp moves whenever Counterpoint writes a rule; a full reload every few minutes also catches a
        // deleted row, or one written without a new stamp.
        let now = Utc::now().naive_utc();
        let stale = old.rules_loaded_at.is_none_or(|at| now - at > chrono::Duration::minutes(RULES_RELOAD_MINUTES));
        let rules_changed = stale || stamp != old.rules_stamp;
        let cp = &self.cp;
        let items = scan_from(
            old.items_after.clone(),
            |wm| {
                let cp = cp.clone();
                async move { cp.items_changed_since(&wm, PAGE).await }
            },
            |i: &Item| watermark_after(i.rs_utc_dt, &[&i.item_no]),
        )
        .await?;
        let prices = scan_from(
            old.prices_after.clone(),
            |wm| {
                let cp = cp.clone();
                async move { cp.prices_changed_since(&wm, PAGE).await }
            },
            |p: &ItemPrice| {
                watermark_after(p.rs_utc_dt, &[&p.item_no, &p.loc_id, &p.dim_1_upr, &p.dim_2_upr, &p.dim_3_upr])
            },
        )
        .await?;
        let customers = scan_from(
            old.customers_after.clone(),
            |wm| {
                let cp = cp.clone();
                async move { cp.customers_changed_since(&wm, PAGE).await }
            },
            |c: &Customer| watermark_after(c.rs_utc_dt, &[&c.cust_no]),
        )
        .await?;
        if !rules_changed && items.0.is_empty() && prices.0.is_empty() && customers.0.is_empty() {
            return Ok(false);
        }
        let rules_loaded_at = if rules_changed { Some(now) } else { old.rules_loaded_at };
        let rules = if rules_changed {
            let rules = PriceRules::new(self.cp.price_groups().await?).with_sale(self.sale.clone());
            for problem in rules.problems() {
                tracing::warn!("{problem}; that rule is never applied");
            }
            rules
        } else {
            old.rules.clone()
        };
        let mut book_items = old.items.clone();
        let mut barcodes = old.barcodes.clone();
        if self.variation_sku == VariationSkuRule::Barcode {
            // Every grid's barcodes at each full reload (they carry no change stamp), a changed grid's in between.
            let grids: Vec<String> = if rules_changed {
                barcodes.clear();
                book_items
                    .values()
                    .map(|p| &p.item)
                    .chain(&items.0)
                    .filter(|i| is_grid(i))
                    .map(|i| i.item_no.clone())
                    .collect()
            } else {
                items.0.iter().filter(|i| is_grid(i)).map(|i| i.item_no.clone()).collect()
            };
            for cell in self.cp.cell_barcodes(&grids).await? {
                barcodes.entry(cell.barcode).or_insert((cell.item_no, cell.dims));
            }
        }
        for item in items.0 {
            let price = book_items.get(&item.item_no).and_then(|p| p.price.clone());
            book_items.insert(item.item_no.clone(), PricedItem { item, price });
        }
        let mut cell_prices = old.cell_prices.clone();
        for p in prices.0 {
            if p.loc_id != self.price_location {
                continue;
            }
            if p.dim_1_upr == "*" && p.dim_2_upr == "*" && p.dim_3_upr == "*" {
                if let Some(entry) = book_items.get_mut(&p.item_no) {
                    entry.price = Some(p);
                }
            } else {
                let cell = [p.dim_1_upr.clone(), p.dim_2_upr.clone(), p.dim_3_upr.clone()];
                cell_prices.entry(p.item_no.clone()).or_default().insert(cell, p);
            }
        }
        let customers_changed = !customers.0.is_empty();
        let mut book_customers = old.customers.clone();
        for c in customers.0 {
            book_customers.insert(c.cust_no.clone(), c);
        }
        let emails = if customers_changed { email_index(&book_customers) } else { old.emails.clone() };
        let book = PriceBook {
            rules,
            items: book_items,
            cell_prices,
            barcodes,
            customers: book_customers,
            emails,
            rules_stamp: stamp,
            rules_loaded_at,
            items_after: items.1,
            prices_after: prices.1,
            customers_after: customers.1,
            loaded_at: Some(Utc::now().naive_utc()),
        };
        if let Ok(mut current) = self.book.write() {
            *current = Arc::new(book);
        }
        Ok(true)
    }
}

fn is_grid(item: &Item) -> bool {
    item.trk_meth.as_deref() == Some("G")
}
