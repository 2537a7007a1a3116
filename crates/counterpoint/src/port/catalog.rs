//! Items, prices and price rules: the reads behind the product sync and the pricing API.

use super::*;

pub(super) async fn items_changed_since<D: Driver>(
    cp: &SqlCounterpoint<D>,
    after: &Watermark,
    limit: usize,
) -> CpResult<Vec<Item>> {
    cp.paged("IM_ITEM", &ITEM_COLS, &["ITEM_NO"], after, limit, item_from_row).await
}

pub(super) async fn items_by_no<D: Driver>(cp: &SqlCounterpoint<D>, item_nos: &[String]) -> CpResult<Vec<Item>> {
    let mut items = Vec::new();
    for chunk in item_nos.chunks(500) {
        let list = cp.dialect().param_list(1, chunk.len());
        let sql = cp.sql(&format!("SELECT {} FROM dbo.IM_ITEM WHERE ITEM_NO IN ({list})", *ITEM_COLS));
        let params: Vec<Value> = chunk.iter().map(Value::from).collect();
        for row in cp.read(&sql, &params).await? {
            items.push(item_from_row(row)?);
        }
    }
    Ok(items)
}

pub(super) async fn prices_changed_since<D: Driver>(
    cp: &SqlCounterpoint<D>,
    after: &Watermark,
    limit: usize,
) -> CpResult<Vec<ItemPrice>> {
    let keys = ["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"];
    cp.paged("IM_PRC", PRICE_COLS, &keys, after, limit, price_from_row).await
}

pub(super) async fn price_groups<D: Driver>(cp: &SqlCounterpoint<D>) -> CpResult<Vec<PriceGroup>> {
    let groups = cp
        .rule_rows("IM_PRC_GRP", "GRP_TYP, GRP_COD, DESCR, GRP_SEQ_NO, BEG_DAT, END_DAT, NO_BEG_DAT, NO_END_DAT, ENABLED, CUST_FILT, LST_MAINT_DT", "GRP_TYP, GRP_SEQ_NO, GRP_COD")
        .await?;
    let rules = cp
        .rule_rows(
            "IM_PRC_RUL",
            "GRP_TYP, GRP_COD, RUL_SEQ_NO, DESCR, CUST_FILT, ITEM_FILT, CUST_FILT_TEXT, ITEM_FILT_TEXT, SAL_FILT",
            "GRP_TYP, GRP_COD, RUL_SEQ_NO",
        )
        .await?;
    let breaks = cp
        .rule_rows(
            "IM_PRC_RUL_BRK",
            "GRP_TYP, GRP_COD, RUL_SEQ_NO, MIN_QTY, PRC_METH, PRC_BASIS, AMT_OR_PCT",
            "GRP_TYP, GRP_COD, RUL_SEQ_NO, MIN_QTY",
        )
        .await?;
    let mut by_rule: BTreeMap<(String, String, i64), Vec<PriceBreak>> = BTreeMap::new();
    for row in breaks {
        let row = row.from_table("IM_PRC_RUL_BRK", &["GRP_TYP", "GRP_COD", "RUL_SEQ_NO", "MIN_QTY"]);
        by_rule.entry((row.text("GRP_TYP")?, row.text("GRP_COD")?, row.i64("RUL_SEQ_NO")?)).or_default().push(
            PriceBreak {
                min_qty: row.dec_or_zero("MIN_QTY")?,
                prc_meth: row.text_or_empty("PRC_METH")?,
                prc_basis: row.text_or_empty("PRC_BASIS")?,
                amt_or_pct: row.dec_or_zero("AMT_OR_PCT")?,
            },
        );
    }
    let mut by_group: BTreeMap<(String, String), Vec<PriceRule>> = BTreeMap::new();
    for row in rules {
        let row = row.from_table("IM_PRC_RUL", &["GRP_TYP", "GRP_COD", "RUL_SEQ_NO"]);
        let key = (row.text("GRP_TYP")?, row.text("GRP_COD")?);
        let rul_seq_no = row.i64("RUL_SEQ_NO")?;
        let breaks = by_rule.remove(&(key.0.clone(), key.1.clone(), rul_seq_no)).unwrap_or_default();
        by_group.entry(key).or_default().push(PriceRule {
            rul_seq_no,
            descr: row.opt_text("DESCR")?,
            cust_filt: row.opt_text("CUST_FILT")?,
            item_filt: row.opt_text("ITEM_FILT")?,
            cust_filt_text: row.opt_text("CUST_FILT_TEXT")?,
            item_filt_text: row.opt_text("ITEM_FILT_TEXT")?,
            sal_filt: row.opt_text("SAL_FILT")?,
            breaks,
        });
    }
    groups
        .into_iter()
        .map(|row| {
            let row = row.from_table("IM_PRC_GRP", &["GRP_TYP", "GRP_COD"]);
            let grp_typ = row.text("GRP_TYP")?;
            let grp_cod = row.text("GRP_COD")?;
            let rules = by_group.remove(&(grp_typ.clone(), grp_cod.clone())).unwrap_or_default();
            let no_beg = row.flag("NO_BEG_DAT")?;
            let no_end = row.flag("NO_END_DAT")?;
            Ok(PriceGroup {
                grp_typ,
                grp_cod,
                descr: row.opt_text("DESCR")?,
                grp_seq_no: row.opt_i64("GRP_SEQ_NO")?.unwrap_or(0),
                enabled: row.opt_text("ENABLED")?.is_none_or(|e| e.eq_ignore_ascii_case("Y")),
                beg_dat: if no_beg { None } else { row.opt_datetime("BEG_DAT")? },
                end_dat: if no_end { None } else { row.opt_datetime("END_DAT")? },
                cust_filt: row.opt_text("CUST_FILT")?,
                rules,
                lst_maint_dt: row.opt_datetime("LST_MAINT_DT")?,
            })
        })
        .collect()
}

pub(super) async fn pricing_changed_at<D: Driver>(cp: &SqlCounterpoint<D>) -> CpResult<Option<NaiveDateTime>> {
    let mut latest = None;
    for table in ["IM_PRC_GRP", "IM_PRC_RUL", "IM_PRC_RUL_BRK"] {
        let rows = cp.read(&cp.sql(&format!("SELECT MAX(RS_UTC_DT) AS T FROM dbo.{table}")), &[]).await?;
        if let Some(row) = rows.into_iter().next() {
            latest = latest.max(row.opt_datetime("T")?);
        }
    }
    Ok(latest)
}

impl<D: Driver> SqlCounterpoint<D> {
    pub(super) async fn rule_rows(&self, table: &str, cols: &str, order: &str) -> CpResult<Vec<Row>> {
        self.read(&self.sql(&format!("SELECT {cols} FROM dbo.{table} ORDER BY {order}")), &[]).await
    }
}

pub(super) async fn grid_dims<D: Driver>(cp: &SqlCounterpoint<D>, item_nos: &[String]) -> CpResult<Vec<GridDimValue>> {
    let mut dims = Vec::new();
    for chunk in item_nos.chunks(500) {
        let list = cp.dialect().param_list(1, chunk.len());
        let params: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        for dim in 1u8..=3 {
            let sql = cp.sql(&format!(
                "SELECT ITEM_NO, DIM_{dim}_UPR AS UPR, DIM_{dim} AS LABEL, DIM_{dim}_SEQ_NO AS SEQ_NO \
                 FROM dbo.IM_GRID_DIM_{dim} WHERE ITEM_NO IN ({list}) ORDER BY ITEM_NO, DIM_{dim}_SEQ_NO, DIM_{dim}_UPR"
            ));
            for row in cp.read(&sql, &params).await? {
                dims.push(grid_dim_from_row(row, dim)?);
            }
        }
    }
    Ok(dims)
}

/// The cell barcodes whose `key` column (`ITEM_NO` or `BARCOD`) is one of `keys`, cells with a `*` first dimension
/// (the item's own barcode) left out, in item, cell and `BARCOD_ID` order.
pub(super) async fn cell_barcodes<D: Driver>(
    cp: &SqlCounterpoint<D>,
    keys: &[String],
    key: &'static str,
) -> CpResult<Vec<CellBarcode>> {
    let mut barcodes = Vec::new();
    for chunk in keys.chunks(500) {
        let list = cp.dialect().param_list(1, chunk.len());
        let params: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        let sql = cp.sql(&format!(
            "SELECT ITEM_NO, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, BARCOD FROM dbo.IM_BARCOD WHERE {key} IN ({list}) \
             AND DIM_1_UPR <> '*' ORDER BY ITEM_NO, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, BARCOD_ID"
        ));
        for row in cp.read(&sql, &params).await? {
            let row = row.from_table("IM_BARCOD", &["ITEM_NO", "BARCOD"]);
            barcodes.push(CellBarcode {
                item_no: row.text("ITEM_NO")?,
                dims: [row.text("DIM_1_UPR")?, row.text("DIM_2_UPR")?, row.text("DIM_3_UPR")?],
                barcode: row.text("BARCOD")?,
            });
        }
    }
    Ok(barcodes)
}
