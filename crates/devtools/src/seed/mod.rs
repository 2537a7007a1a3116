//! Realistic, deterministic sample data for a Counterpoint database: locations, a categorised catalogue with prices
//! and price tiers, stock spread over locations, customers with pricing tiers, and contract price rules.
//!
//! The same `seed` always produces the same rows (the generator is SplitMix64, written out here so that no crate
//! upgrade can change the data). Rows go in as multi-row `INSERT`s inside one transaction per table, which fills
//! 100,000 items in seconds on the replica.

use chrono::{Duration, NaiveDateTime};
use rust_decimal::Decimal;
use std::collections::HashMap;

use cpbridge_counterpoint::dialect::Dialect;
use cpbridge_counterpoint::driver::{Driver, Tx, TxMode};
use cpbridge_counterpoint::value::Value;
use cpbridge_counterpoint::{CpError, CpResult, SqlCounterpoint};

mod grids;
mod rules;

use grids::*;
use rules::*;

type Rows = Vec<Vec<Value>>;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedSpec {
    pub items: usize,
    pub customers: usize,
    /// Stock locations; the first is `MAIN`, the web's default.
    pub locations: usize,
    /// Contract price rules (spread over a handful of groups).
    pub rules: usize,
    pub seed: u64,
}

impl Default for SeedSpec {
    fn default() -> Self {
        SeedSpec { items: 1_000, customers: 200, locations: 2, rules: 50, seed: 1 }
    }
}

/// How many rows of each kind were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub locations: usize,
    pub items: usize,
    pub prices: usize,
    pub inventory_rows: usize,
    pub customers: usize,
    pub price_groups: usize,
    pub price_rules: usize,
    /// Gridded items (`TRK_METH = 'G'`) and their cells (per location).
    pub gridded_items: usize,
    pub grid_cells: usize,
}

/// SplitMix64: tiny, fast, and fixed forever, so a seed means the same data in every version.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }
}

/// Categories: (code, item prefix, nouns).
const CATEGORIES: &[(&str, &str, &[&str])] = &[
    ("APPAREL", "APP", &["T-Shirt", "Hoodie", "Polo", "Jacket", "Cap", "Socks", "Scarf"]),
    ("FOOTWEAR", "FTW", &["Sneaker", "Boot", "Sandal", "Loafer", "Slipper"]),
    ("HOME", "HOM", &["Mug", "Candle", "Throw", "Vase", "Lamp", "Frame"]),
    ("GARDEN", "GRD", &["Trowel", "Planter", "Hose", "Gloves", "Seed Kit"]),
    ("OFFICE", "OFF", &["Notebook", "Pen Set", "Stapler", "Copy Paper", "Desk Tray"]),
    ("TOYS", "TOY", &["Puzzle", "Kite", "Plush Bear", "Yo-Yo", "Blocks"]),
    ("SPORTS", "SPT", &["Ball", "Racket", "Water Bottle", "Mat", "Band"]),
    ("GROCERY", "GRO", &["Coffee", "Tea", "Honey", "Jam", "Olive Oil"]),
];
const ADJECTIVES: &[&str] =
    &["Classic", "Organic", "Deluxe", "Everyday", "Heritage", "Coastal", "Alpine", "Urban", "Vintage", "Studio"];
const COLOURS: &[&str] = &["Red", "Blue", "Black", "White", "Green", "Grey", "Navy", "Sand"];
const FIRST: &[&str] =
    &["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Donald"];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra",
    "Perlman", "Knuth",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("San Jose", "CA", "95113"),
    ("Oakland", "CA", "94607"),
    ("Portland", "OR", "97205"),
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Boston", "MA", "02108"),
];
/// Pricing tiers kept in `AR_CUST.PROF_COD_1`, as on the live system.
pub const TIERS: &[&str] = &["RETAIL", "SILVER", "GOLD", "WHOLESALE"];

fn money(cents: u64) -> Decimal {
    Decimal::new(i64::try_from(cents).unwrap_or(i64::MAX), 2)
}

/// The item number of the `n`th seeded item (1-based).
pub fn item_no(n: usize) -> String {
    let (_, prefix, _) = CATEGORIES[(n - 1) % CATEGORIES.len()];
    format!("{prefix}-{n:06}")
}

/// The customer number of the `n`th seeded customer (1-based).
pub fn cust_no(n: usize) -> String {
    format!("C{n:06}")
}

/// The location id of the `n`th seeded location (0-based): `MAIN`, `LOC2`, ...
pub fn loc_id(n: usize) -> String {
    if n == 0 { "MAIN".into() } else { format!("LOC{}", n + 1) }
}

/// Fills the database with sample data. `progress(stage, done, total)` is called as rows go in.
///
/// # Errors
/// `DuplicateKey` when the database already holds seeded rows; any database error.
pub async fn seed<D: Driver>(
    cp: &SqlCounterpoint<D>,
    spec: &SeedSpec,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> CpResult<SeedSummary> {
    if spec.locations == 0 {
        return Err(CpError::Invalid { what: "--locations".into(), detail: "at least one location is needed".into() });
    }
    let mut rng = SplitMix64::new(spec.seed);
    let now = chrono::Utc::now().naive_utc();
    let mut summary = SeedSummary::default();

    let locs: Vec<Vec<Value>> = (0..spec.locations)
        .map(|i| vec![loc_id(i).into(), format!("Store location {}", i + 1).into(), now.into()])
        .collect();
    summary.locations =
        bulk_insert(cp, "IM_LOC", &["LOC_ID", "DESCR", "LST_MAINT_DT"], locs, "locations", progress).await?;

    for (table, cols, rows) in SETUP_ROWS {
        let rows: Rows = rows.iter().map(|r| r.iter().map(|v| Value::from(*v)).collect()).collect();
        bulk_insert(cp, table, cols, rows, "setup", progress).await?;
    }

    let (mut items, prices, stock) = generate_items(&mut rng, spec, now);
    // Grids come from a generator of their own, so the rest of a seed's data is what it always was.
    let grids = generate_grids(&mut items, &prices, &stock, spec, now);
    summary.items = bulk_insert(cp, "IM_ITEM", ITEM_SEED_COLS, items, "items", progress).await?;
    summary.prices = bulk_insert(cp, "IM_PRC", PRICE_SEED_COLS, prices, "prices", progress).await?;
    summary.inventory_rows = bulk_insert(cp, "IM_INV", INV_SEED_COLS, stock, "inventory", progress).await?;
    summary.gridded_items = grids.items;
    for (n, dims) in grids.dims.into_iter().enumerate() {
        let table = ["IM_GRID_DIM_1", "IM_GRID_DIM_2", "IM_GRID_DIM_3"][n];
        let cols = GRID_DIM_SEED_COLS[n];
        bulk_insert(cp, table, cols, dims, "grid dimensions", progress).await?;
    }
    summary.grid_cells = bulk_insert(cp, "IM_INV_CELL", CELL_SEED_COLS, grids.cells, "grid cells", progress).await?;
    bulk_insert(cp, "IM_PRC", PRICE_CELL_SEED_COLS, grids.prices, "grid prices", progress).await?;
    bulk_insert(cp, "IM_BARCOD", BARCOD_SEED_COLS, grids.barcodes, "barcodes", progress).await?;

    let customers = generate_customers(&mut rng, spec, now);
    summary.customers = bulk_insert(cp, "AR_CUST", CUST_SEED_COLS, customers, "customers", progress).await?;

    let (groups, rules, breaks) = generate_rules(&mut rng, spec, now);
    summary.price_groups = bulk_insert(cp, "IM_PRC_GRP", GRP_SEED_COLS, groups, "price groups", progress).await?;
    summary.price_rules = bulk_insert(cp, "IM_PRC_RUL", RUL_SEED_COLS, rules, "price rules", progress).await?;
    bulk_insert(cp, "IM_PRC_RUL_BRK", BRK_SEED_COLS, breaks, "price breaks", progress).await?;

    // The seeded stock is the baseline, not a change the store must hear about.
    let mut tx = cp.driver().begin(TxMode::Write).await?;
    tx.execute(&cp.driver().dialect().render("DELETE FROM dbo.USER_INV_CHANGES"), &[]).await?;
    tx.commit().await?;
    Ok(summary)
}

async fn bulk_insert<D: Driver>(
    cp: &SqlCounterpoint<D>,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<Value>>,
    stage: &str,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> CpResult<usize> {
    let dialect: Dialect = cp.driver().dialect();
    let per_chunk = (dialect.max_params() / cols.len()).min(dialect.max_insert_rows()).max(1);
    let total = rows.len();
    let started = std::time::Instant::now();
    let mut tx = cp.driver().begin(TxMode::Write).await?;
    let mut done = 0;
    let mut full_sql: Option<String> = None;
    for chunk in rows.chunks(per_chunk) {
        let sql = if chunk.len() == per_chunk {
            full_sql.get_or_insert_with(|| dialect.insert_values(table, cols, per_chunk)).clone()
        } else {
            dialect.insert_values(table, cols, chunk.len())
        };
        let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
        tx.execute(&sql, &params).await.map_err(|e| e.context(format!("seeding {table}")))?;
        done += chunk.len();
        progress(stage, done as u64, total as u64);
    }
    tx.commit().await?;
    tracing::debug!(table, rows = total, elapsed_ms = started.elapsed().as_millis() as u64, "seeded");
    Ok(total)
}

const ITEM_SEED_COLS: &[&str] = &[
    "ITEM_NO",
    "DESCR",
    "DESCR_UPR",
    "SHORT_DESCR",
    "LONG_DESCR",
    "ITEM_TYP",
    "STAT",
    "CATEG_COD",
    "SUBCAT_COD",
    "ATTR_COD_1",
    "PROF_COD_1",
    "IS_ECOMM_ITEM",
    "IS_TXBL",
    "TAX_CATEG_COD",
    "WEIGHT",
    "BARCOD",
    "PRC_1",
    "REG_PRC",
    "LST_COST",
    "AVG_COST",
    "TRK_METH",
    "PRC_DECS",
    "LST_MAINT_DT",
    "RS_UTC_DT",
    "GRID_DIM_1_TAG",
    "GRID_DIM_2_TAG",
];

const PRICE_SEED_COLS: &[&str] =
    &["ITEM_NO", "LOC_ID", "REG_PRC", "PRC_1", "PRC_2", "PRC_3", "LST_MAINT_DT", "RS_UTC_DT"];
const INV_SEED_COLS: &[&str] = &[
    "ITEM_NO",
    "LOC_ID",
    "QTY_ON_HND",
    "QTY_COMMIT",
    "MIN_QTY",
    "MAX_QTY",
    "LST_MAINT_DT",
    "RS_UTC_DT",
    "QTY_ON_PO",
    "QTY_ON_BO",
    "QTY_ON_XFER_OUT",
    "QTY_ON_XFER_IN",
    "QTY_ON_ORD",
    "QTY_ON_LWY",
    "QTY_ON_SO",
    "LST_AVG_COST",
    "LST_COST",
    "STD_COST",
    "COST_OF_SLS_PCT",
    "GL_VAL",
    "RS_STAT",
    "DROPSHIP_QTY_ON_CUST_ORD",
    "DROPSHIP_QTY_ON_PO",
];

/// How many of [`INV_SEED_COLS`] are zero in a new stock row (every one after `RS_UTC_DT`).
const INV_ZERO_COLS: usize = 15;

/// An `INSERT` of one complete `IM_INV` row (every NOT NULL column), as Counterpoint's item setup would make it,
/// with literal values: for tests and the demo, which play the shop. `item_no` and `loc_id` must be plain codes.
pub fn stock_row_sql(item_no: &str, loc_id: &str, on_hand: i64) -> String {
    let zeros = vec!["0"; INV_ZERO_COLS].join(", ");
    format!(
        "INSERT INTO IM_INV ({}) VALUES ('{}', '{}', {on_hand}, 0, 0, 0, NULL, NULL, {zeros})",
        INV_SEED_COLS.join(", "),
        item_no.replace('\'', "''"),
        loc_id.replace('\'', "''")
    )
}

/// A table of the shop's setup: its name, columns, and rows of literal values.
type SetupTable = (&'static str, &'static [&'static str], &'static [&'static [&'static str]]);

/// The shop's setup that cpbridge's documents point at: store `1` (number 1), cpbridge's station `WEB` (number 90)
/// with drawers `1` and `WEB`, the users `CPBRIDGE` and `MGR`, and the pay codes the default config maps to.
const SETUP_ROWS: &[SetupTable] = &[
    ("PS_STR", &["STR_ID", "STR_NO", "DESCR"], &[&["1", "1", "Main store"]]),
    (
        "PS_STA",
        &["STR_ID", "STA_ID", "STA_NO", "DESCR"],
        &[&["1", "1", "1", "Register 1"], &["1", "WEB", "90", "cpbridge web orders"]],
    ),
    ("PS_DRW", &["STR_ID", "DRW_ID", "DESCR"], &[&["1", "1", "Drawer 1"], &["1", "WEB", "Web deposits"]]),
    ("SY_USR", &["USR_ID", "NAM"], &[&["CPBRIDGE", "cpbridge"], &["MGR", "Manager"]]),
    (
        "SY_PAY_COD",
        &["PAY_COD", "PAY_TYP", "DESCR", "ALLOW_FOR_ORDS", "DFLT_DOC_FINAL_PMT", "CURNCY_COD"],
        &[
            &["CASH", "B", "Cash", "Y", "N", "HOME"],
            &["CHECK", "C", "Check", "Y", "N", "HOME"],
            &["CREDIT", "E", "Credit card", "Y", "N", "HOME"],
            &["PAYPAL", "E", "PayPal", "Y", "N", "HOME"],
            &["WEB", "E", "Web payment", "Y", "N", "HOME"],
            &["GIFT", "G", "Gift card", "Y", "N", "HOME"],
        ],
    ),
];
const CUST_SEED_COLS: &[&str] = &[
    "CUST_NO",
    "NAM",
    "NAM_UPR",
    "FST_NAM",
    "LST_NAM",
    "ADRS_1",
    "CITY",
    "STATE",
    "ZIP_COD",
    "CNTRY",
    "PHONE_1",
    "EMAIL_ADRS_1",
    "CUST_TYP",
    "CATEG_COD",
    "PROF_COD_1",
    "DISC_PCT",
    "TAX_COD",
    "STR_ID",
    "CUST_NAM_TYP",
    "IS_ECOMM_CUST",
    "LST_MAINT_DT",
    "RS_UTC_DT",
];
fn generate_items(rng: &mut SplitMix64, spec: &SeedSpec, now: NaiveDateTime) -> (Rows, Rows, Rows) {
    let mut items = Vec::with_capacity(spec.items);
    let mut prices = Vec::with_capacity(spec.items);
    let mut stock = Vec::with_capacity(spec.items * spec.locations);
    for n in 1..=spec.items {
        let (categ, _, nouns) = CATEGORIES[(n - 1) % CATEGORIES.len()];
        let descr = format!("{} {} {}", rng.pick(ADJECTIVES), rng.pick(COLOURS), rng.pick(nouns));
        let descr: String = descr.chars().take(30).collect();
        let item_typ = match rng.below(100) {
            0..=94 => "I",
            95..=97 => "N",
            _ => "S",
        };
        let stat = if rng.chance(97) { "A" } else { "D" };
        let reg = money(99 + rng.below(49_900));
        // One item in ten is on sale: PRC_1 below REG_PRC.
        let prc_1 = if rng.chance(10) { (reg * Decimal::new(80, 2)).round_dp(2) } else { reg };
        let cost = (reg * Decimal::new(55, 2)).round_dp(2);
        let no = item_no(n);
        items.push(vec![
            no.clone().into(),
            descr.clone().into(),
            descr.to_uppercase().into(),
            descr.chars().take(15).collect::<String>().into(),
            format!("{descr}. A {} staple from the {} department.", categ.to_lowercase(), categ.to_lowercase()).into(),
            item_typ.into(),
            stat.into(),
            categ.into(),
            format!("{}{}", &categ[..3], 1 + rng.below(4)).into(),
            (*rng.pick(COLOURS)).to_uppercase().into(),
            Value::Null,
            if rng.chance(85) { "Y" } else { "N" }.into(),
            if categ == "GROCERY" { "N" } else { "Y" }.into(),
            if categ == "GROCERY" { "FOOD" } else { "STD" }.into(),
            Decimal::new(i64::try_from(1 + rng.below(5_000)).unwrap_or(1), 3).into(),
            format!("0{:011}", 10_000_000_000u64 + n as u64).into(),
            prc_1.into(),
            reg.into(),
            cost.into(),
            cost.into(),
            "N".into(),
            2i64.into(),
            now.into(),
            now.into(),
        ]);
        prices.push(vec![
            no.clone().into(),
            loc_id(0).into(),
            reg.into(),
            prc_1.into(),
            (reg * Decimal::new(90, 2)).round_dp(2).into(),
            (reg * Decimal::new(80, 2)).round_dp(2).into(),
            now.into(),
            now.into(),
        ]);
        if item_typ == "I" {
            for l in 0..spec.locations {
                let on_hand = if rng.chance(8) { 0 } else { rng.below(200) };
                let commit = if rng.chance(20) { rng.below(on_hand / 4 + 1) } else { 0 };
                stock.push(vec![
                    no.clone().into(),
                    loc_id(l).into(),
                    Decimal::from(on_hand).into(),
                    Decimal::from(commit).into(),
                    Decimal::from(5).into(),
                    Decimal::from(250).into(),
                    now.into(),
                    now.into(),
                ]);
                if let Some(row) = stock.last_mut() {
                    row.extend(std::iter::repeat_n(Value::Int(0), INV_ZERO_COLS));
                }
            }
        }
    }
    (items, prices, stock)
}

fn generate_customers(rng: &mut SplitMix64, spec: &SeedSpec, now: NaiveDateTime) -> Rows {
    (1..=spec.customers)
        .map(|n| {
            let first = rng.pick(FIRST);
            let last = rng.pick(LAST);
            let (city, state, zip) = *rng.pick(CITIES);
            let business = rng.chance(25);
            let name = if business { format!("{last} Supply Co") } else { format!("{first} {last}") };
            let tier = *rng.pick(TIERS);
            vec![
                cust_no(n).into(),
                name.clone().into(),
                name.to_uppercase().into(),
                (*first).into(),
                (*last).into(),
                format!("{} Main St", 1 + rng.below(9_999)).into(),
                city.into(),
                state.into(),
                zip.into(),
                "US".into(),
                format!("408-555-{:04}", rng.below(10_000)).into(),
                format!("{}.{}{n}@example.test", first.to_lowercase(), last.to_lowercase()).into(),
                if business { "B2B" } else { "B2C" }.into(),
                if business { "WHOLESALE" } else { "RETAIL" }.into(),
                tier.into(),
                Decimal::ZERO.into(),
                "CA".into(),
                "1".into(),
                if business { "B" } else { "P" }.into(),
                if rng.chance(70) { "Y" } else { "N" }.into(),
                now.into(),
                now.into(),
            ]
        })
        .chain(std::iter::once(walk_in_customer(now)))
        .collect()
}

/// The walk-in customer that registers (and cpbridge, for web guests) sell to.
pub const WALK_IN_CUST_NO: &str = "CASH";

fn walk_in_customer(now: NaiveDateTime) -> Vec<Value> {
    vec![
        WALK_IN_CUST_NO.into(),
        "Cash customer".into(),
        "CASH CUSTOMER".into(),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        "US".into(),
        Value::Null,
        Value::Null,
        "B2C".into(),
        "RETAIL".into(),
        "RETAIL".into(),
        Decimal::ZERO.into(),
        "CA".into(),
        "1".into(),
        "P".into(),
        "N".into(),
        now.into(),
        now.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_fixed_forever() {
        let mut rng = SplitMix64::new(1);
        // Reference values of SplitMix64 with seed 1.
        assert_eq!(rng.next_u64(), 0x910A_2DEC_8902_5CC1);
        assert_eq!(rng.next_u64(), 0xBEEB_8DA1_658E_EC67);
    }

    #[test]
    fn generated_codes_fit_their_columns() {
        assert_eq!(item_no(1), "APP-000001");
        assert_eq!(item_no(100_000), "GRO-100000");
        assert_eq!(cust_no(5_000), "C005000");
        assert_eq!(loc_id(0), "MAIN");
        assert_eq!(loc_id(2), "LOC3");
    }
}
