//! The seed's gridded items: every fourth apparel and footwear item a grid, its dimensions, cells, cell prices and
//! barcodes.

use super::*;

pub(super) const GRID_DIM_SEED_COLS: [&[&str]; 3] = [
    &["ITEM_NO", "DIM_1_UPR", "DIM_1", "DIM_1_SEQ_NO"],
    &["ITEM_NO", "DIM_2_UPR", "DIM_2", "DIM_2_SEQ_NO"],
    &["ITEM_NO", "DIM_3_UPR", "DIM_3", "DIM_3_SEQ_NO"],
];
pub(super) const CELL_SEED_COLS: &[&str] = &[
    "ITEM_NO",
    "LOC_ID",
    "DIM_1_UPR",
    "DIM_2_UPR",
    "DIM_3_UPR",
    "QTY_COMMIT",
    "QTY_ON_HND",
    "QTY_ON_ORD",
    "CELL_STAT",
    "IS_ECOMM_ITEM_CELL",
    "RS_UTC_DT",
];
pub(super) const PRICE_CELL_SEED_COLS: &[&str] =
    &["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR", "REG_PRC", "PRC_1", "LST_MAINT_DT", "RS_UTC_DT"];
pub(super) const BARCOD_SEED_COLS: &[&str] = &["ITEM_NO", "BARCOD_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR", "BARCOD"];

/// The grids of one kind of item: the dimension tags and their values (as displayed; the key is upper case).
pub(super) struct GridKind {
    categ: &'static str,
    tags: [&'static str; 2],
    values: [&'static [&'static str]; 2],
}

/// Apparel in sizes by colours, footwear in sizes by widths: a quarter of each category's inventory items.
pub(super) const GRID_KINDS: &[GridKind] = &[
    GridKind { categ: "APPAREL", tags: ["SIZE", "COLOR"], values: [&["S", "M", "L", "XL"], &["Black", "Navy", "Red"]] },
    GridKind { categ: "FOOTWEAR", tags: ["SIZE", "WIDTH"], values: [&["8", "9", "10", "11"], &["M", "W"]] },
];

/// The rows of the seeded grids.
#[derive(Default)]
pub(super) struct Grids {
    pub(super) items: usize,
    pub(super) dims: [Rows; 3],
    pub(super) cells: Rows,
    pub(super) prices: Rows,
    pub(super) barcodes: Rows,
}

/// Makes every fourth inventory item of the gridded categories a grid (`TRK_METH = 'G'`): its dimension values, one
/// `IM_INV_CELL` row per cell and location whose quantities add up to the item's `IM_INV` row (as Counterpoint keeps
/// them), some cells sold out, one cell in two items not on the web, and a dearer largest size at the price
/// location. Item rows that are not grids get NULL dimension tags.
pub(super) fn generate_grids(
    items: &mut Rows,
    prices: &Rows,
    stock: &Rows,
    spec: &SeedSpec,
    now: NaiveDateTime,
) -> Grids {
    let mut rng = SplitMix64::new(spec.seed ^ 0x6772_6964_7321);
    let mut grids = Grids::default();
    let column = |name: &str| ITEM_SEED_COLS.iter().position(|c| *c == name).unwrap_or(0);
    let (categ_at, typ_at, trk_at) = (column("CATEG_COD"), column("ITEM_TYP"), column("TRK_METH"));
    // Stock and price rows by item, so a large seed is not quadratic.
    let item_of = |row: &Vec<Value>| match row.first() {
        Some(Value::Text(no)) => no.clone(),
        _ => String::new(),
    };
    let mut stock_of: HashMap<String, Vec<&Vec<Value>>> = HashMap::new();
    for row in stock {
        stock_of.entry(item_of(row)).or_default().push(row);
    }
    let mut price_of: HashMap<String, &Vec<Value>> = HashMap::new();
    for row in prices {
        price_of.entry(item_of(row)).or_insert(row);
    }
    for (index, item) in items.iter_mut().enumerate() {
        let no = item_no(index + 1);
        let categ = match &item[categ_at] {
            Value::Text(c) => c.clone(),
            _ => String::new(),
        };
        let kind = GRID_KINDS.iter().find(|k| k.categ == categ);
        let is_inventory = item[typ_at] == Value::from("I");
        let Some(kind) = kind.filter(|_| is_inventory && index % 4 == 0) else {
            item.extend([Value::Null, Value::Null]);
            continue;
        };
        item[trk_at] = "G".into();
        item.extend([kind.tags[0].into(), kind.tags[1].into()]);
        grids.items += 1;
        for (dim, values) in kind.values.iter().enumerate() {
            for (seq, value) in values.iter().enumerate() {
                grids.dims[dim].push(vec![
                    no.as_str().into(),
                    value.to_uppercase().into(),
                    (*value).into(),
                    Value::from(seq + 1),
                ]);
            }
        }
        let cells: Vec<(String, String)> = kind.values[0]
            .iter()
            .flat_map(|a| kind.values[1].iter().map(move |b| (a.to_uppercase(), b.to_uppercase())))
            .collect();
        let off_web = (grids.items % 2 == 0).then(|| cells.len() - 1);
        for row in stock_of.get(&no).into_iter().flatten() {
            let quantity = |v: &Value| match v {
                Value::Dec(d) => u64::try_from(*d).unwrap_or(0),
                _ => 0,
            };
            let (on_hand, commit) = (quantity(&row[2]), quantity(&row[3]));
            // Split the item's stock over its cells; about one cell in six is sold out.
            let weights: Vec<u64> = cells.iter().map(|_| if rng.chance(16) { 0 } else { 1 + rng.below(5) }).collect();
            let total: u64 = weights.iter().sum::<u64>().max(1);
            let mut left = on_hand;
            for (i, (dim_1, dim_2)) in cells.iter().enumerate() {
                let share = if i + 1 == cells.len() { left } else { (on_hand * weights[i] / total).min(left) };
                left -= share;
                grids.cells.push(vec![
                    no.as_str().into(),
                    row[1].clone(),
                    dim_1.as_str().into(),
                    dim_2.as_str().into(),
                    "*".into(),
                    Decimal::from(if i == 0 { commit } else { 0 }).into(),
                    Decimal::from(share).into(),
                    Decimal::ZERO.into(),
                    "A".into(),
                    if off_web == Some(i) { "N" } else { "Y" }.into(),
                    now.into(),
                ]);
            }
        }
        let item_price = price_of.get(&no).copied();
        for (i, (dim_1, dim_2)) in cells.iter().enumerate() {
            grids.barcodes.push(vec![
                no.as_str().into(),
                "CELL".into(),
                dim_1.as_str().into(),
                dim_2.as_str().into(),
                "*".into(),
                format!("2{:07}{:03}", index + 1, i + 1).into(),
            ]);
            let largest = kind.values[0].last().is_some_and(|v| v.to_uppercase() == *dim_1);
            if let (true, Some(p)) = (largest, item_price) {
                let dearer = |v: &Value| match v {
                    Value::Dec(d) => Value::Dec(*d + Decimal::new(200, 2)),
                    other => other.clone(),
                };
                grids.prices.push(vec![
                    no.as_str().into(),
                    loc_id(0).into(),
                    dim_1.as_str().into(),
                    dim_2.as_str().into(),
                    "*".into(),
                    dearer(&p[2]),
                    dearer(&p[3]),
                    now.into(),
                    now.into(),
                ]);
            }
        }
    }
    grids
}
