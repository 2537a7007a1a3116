//! Row decoders: every Counterpoint row cpbridge reads becomes a record here, with errors naming the row.

use cpbridge_core::pricing::{CUSTOMER_EXTRA_COLUMNS, ITEM_EXTRA_COLUMNS};

use super::*;

/// The item columns cpbridge reads, the price filters' extra columns included.
pub(super) static ITEM_COLS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut cols = "ITEM_NO, DESCR, SHORT_DESCR, LONG_DESCR, ITEM_TYP, STAT, CATEG_COD, SUBCAT_COD, IS_ECOMM_ITEM, \
     IS_TXBL, TAX_CATEG_COD, WEIGHT, BARCOD, PRC_1, REG_PRC, LST_COST, TRK_METH, STK_UNIT, PRC_DECS, PROF_COD_1, \
     ATTR_COD_1, LST_MAINT_DT, RS_UTC_DT"
        .to_owned();
    for extra in ITEM_EXTRA_COLUMNS {
        cols.push_str(", ");
        cols.push_str(extra);
    }
    cols
});
pub(super) const PRICE_COLS: &str =
    "ITEM_NO, LOC_ID, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, REG_PRC, PRC_1, PRC_2, PRC_3, PRC_4, PRC_5, PRC_6, RS_UTC_DT";
pub(super) const INV_COLS: &str = "ITEM_NO, LOC_ID, QTY_ON_HND, QTY_COMMIT, QTY_ON_ORD, QTY_ON_BO, RS_UTC_DT";
/// The customer columns cpbridge reads, the price filters' extra columns included.
pub(super) static CUST_COLS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut cols = "CUST_NO, NAM, FST_NAM, LST_NAM, ADRS_1, ADRS_2, ADRS_3, CITY, STATE, ZIP_COD, CNTRY, PHONE_1, \
     EMAIL_ADRS_1, CUST_TYP, CATEG_COD, PROF_COD_1, DISC_PCT, TAX_COD, STR_ID, CUST_NAM_TYP, IS_ECOMM_CUST, RS_UTC_DT"
        .to_owned();
    for extra in CUSTOMER_EXTRA_COLUMNS {
        cols.push_str(", ");
        cols.push_str(extra);
    }
    cols
});

/// The non-NULL values of `columns` in `row`, by column: the other columns price filters may name.
fn extra_columns(row: &Row, columns: &[&str]) -> CpResult<std::collections::BTreeMap<String, String>> {
    let mut extra = std::collections::BTreeMap::new();
    for column in columns {
        if let Some(value) = row.opt_text(column)? {
            extra.insert((*column).to_owned(), value);
        }
    }
    Ok(extra)
}
pub(super) const STAGING_COLS: &str = "STAGING_ID, WOO_ORDER_ID, WOO_ORDER_NO, CUST_NO, TOT_AMT, STATUS, ATTEMPTS, \
     NEXT_ATTEMPT_DT, LAST_ERR, LINE_ITEMS_JSON, RAW_ORDER_JSON, CP_DOC_ID, CP_TKT_NO, APPLIED_DT, WOO_SYNCED_DT, \
     BKORD_QTY, WOO_SYNC_ATTEMPTS, WOO_SYNC_ERR, CP_DOC_STATE, CREATED_DT, CLAIM_TOKEN";

pub(super) fn item_from_row(row: Row) -> CpResult<Item> {
    let row = row.from_table("IM_ITEM", &["ITEM_NO"]);
    Ok(Item {
        item_no: row.text("ITEM_NO")?,
        descr: row.text_or_empty("DESCR")?,
        short_descr: row.opt_text("SHORT_DESCR")?,
        long_descr: row.opt_text("LONG_DESCR")?,
        item_typ: row.opt_text("ITEM_TYP")?.unwrap_or_else(|| "I".into()),
        stat: row.opt_text("STAT")?.unwrap_or_else(|| "A".into()),
        categ_cod: row.opt_text("CATEG_COD")?,
        subcat_cod: row.opt_text("SUBCAT_COD")?,
        is_ecomm_item: row.flag("IS_ECOMM_ITEM")?,
        is_txbl: row.flag("IS_TXBL")?,
        tax_categ_cod: row.opt_text("TAX_CATEG_COD")?,
        weight: row.opt_dec("WEIGHT")?,
        barcod: row.opt_text("BARCOD")?,
        prc_1: row.dec_or_zero("PRC_1")?,
        reg_prc: row.dec_or_zero("REG_PRC")?,
        lst_cost: row.opt_dec("LST_COST")?,
        trk_meth: row.opt_text("TRK_METH")?,
        stk_unit: row.opt_text("STK_UNIT")?,
        extra: extra_columns(&row, ITEM_EXTRA_COLUMNS)?,
        prc_decs: u32::try_from(row.opt_i64("PRC_DECS")?.unwrap_or(2).clamp(0, 4)).unwrap_or(2),
        prof_cod_1: row.opt_text("PROF_COD_1")?,
        attr_cod_1: row.opt_text("ATTR_COD_1")?,
        lst_maint_dt: row.opt_datetime("LST_MAINT_DT")?,
        rs_utc_dt: row.opt_datetime("RS_UTC_DT")?,
    })
}

pub(super) fn price_from_row(row: Row) -> CpResult<ItemPrice> {
    let row = row.from_table("IM_PRC", &["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"]);
    Ok(ItemPrice {
        item_no: row.text("ITEM_NO")?,
        loc_id: row.text("LOC_ID")?,
        dim_1_upr: row.text_or_empty("DIM_1_UPR")?,
        dim_2_upr: row.text_or_empty("DIM_2_UPR")?,
        dim_3_upr: row.text_or_empty("DIM_3_UPR")?,
        reg_prc: row.opt_dec("REG_PRC")?,
        prc: [
            row.opt_dec("PRC_1")?,
            row.opt_dec("PRC_2")?,
            row.opt_dec("PRC_3")?,
            row.opt_dec("PRC_4")?,
            row.opt_dec("PRC_5")?,
            row.opt_dec("PRC_6")?,
        ],
        rs_utc_dt: row.opt_datetime("RS_UTC_DT")?,
    })
}

pub(super) fn inventory_from_row(row: Row) -> CpResult<InventoryLevel> {
    let row = row.from_table("IM_INV", &["ITEM_NO", "LOC_ID"]);
    Ok(InventoryLevel {
        item_no: row.text("ITEM_NO")?,
        loc_id: row.text("LOC_ID")?,
        qty_on_hnd: row.dec_or_zero("QTY_ON_HND")?,
        qty_commit: row.dec_or_zero("QTY_COMMIT")?,
        qty_on_ord: row.dec_or_zero("QTY_ON_ORD")?,
        qty_on_bo: row.dec_or_zero("QTY_ON_BO")?,
        rs_utc_dt: row.opt_datetime("RS_UTC_DT")?,
    })
}

pub(super) fn customer_from_row(row: Row) -> CpResult<Customer> {
    let row = row.from_table("AR_CUST", &["CUST_NO"]);
    Ok(Customer {
        cust_no: row.text("CUST_NO")?.into(),
        nam: row.text_or_empty("NAM")?,
        fst_nam: row.opt_text("FST_NAM")?,
        lst_nam: row.opt_text("LST_NAM")?,
        adrs_1: row.opt_text("ADRS_1")?,
        adrs_2: row.opt_text("ADRS_2")?,
        adrs_3: row.opt_text("ADRS_3")?,
        city: row.opt_text("CITY")?,
        state: row.opt_text("STATE")?,
        zip_cod: row.opt_text("ZIP_COD")?,
        cntry: row.opt_text("CNTRY")?,
        phone_1: row.opt_text("PHONE_1")?,
        email_adrs_1: row.opt_text("EMAIL_ADRS_1")?,
        cust_typ: row.opt_text("CUST_TYP")?,
        categ_cod: row.opt_text("CATEG_COD")?,
        prof_cod_1: row.opt_text("PROF_COD_1")?,
        disc_pct: row.opt_dec("DISC_PCT")?,
        tax_cod: row.opt_text("TAX_COD")?,
        str_id: row.opt_text("STR_ID")?,
        cust_nam_typ: row.opt_text("CUST_NAM_TYP")?,
        is_ecomm_cust: row.flag("IS_ECOMM_CUST")?,
        extra: extra_columns(&row, CUSTOMER_EXTRA_COLUMNS)?,
        rs_utc_dt: row.opt_datetime("RS_UTC_DT")?,
    })
}

/// `USER_ORDER_STAGING.STATUS` of a row, or an error naming the row.
pub(super) fn staging_status(row: &Row) -> CpResult<StagingStatus> {
    row.text("STATUS")?.parse().map_err(|e: cpbridge_core::staging::UnknownStatus| CpError::BadData {
        table: "USER_ORDER_STAGING",
        key: row.key(),
        column: "STATUS".into(),
        detail: e.to_string(),
    })
}

pub(super) fn staged_from_row(row: Row) -> CpResult<StagedOrder> {
    let row = row.from_table("USER_ORDER_STAGING", &["STAGING_ID", "WOO_ORDER_ID"]);
    let status = staging_status(&row)?;
    let lines_json = row.text_or_empty("LINE_ITEMS_JSON")?;
    let lines = if lines_json.trim().is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(&lines_json).map_err(|e| CpError::BadData {
            table: "USER_ORDER_STAGING",
            key: row.key(),
            column: "LINE_ITEMS_JSON".into(),
            detail: e.to_string(),
        })?
    };
    Ok(StagedOrder {
        staging_id: row.staging_id("STAGING_ID")?,
        woo_order_id: row.woo_order_id("WOO_ORDER_ID")?,
        woo_order_no: row.text_or_empty("WOO_ORDER_NO")?,
        cust_no: row.opt_text("CUST_NO")?.map(CustNo::from),
        tot_amt: row.dec_or_zero("TOT_AMT")?,
        status,
        attempts: row.opt_i64("ATTEMPTS")?.unwrap_or(0),
        next_attempt_dt: row.opt_datetime("NEXT_ATTEMPT_DT")?,
        last_err: row.opt_text("LAST_ERR")?,
        lines,
        raw_order_json: row.text_or_empty("RAW_ORDER_JSON")?,
        cp_doc_id: row.opt_i64("CP_DOC_ID")?,
        cp_tkt_no: row.opt_text("CP_TKT_NO")?,
        applied_dt: row.opt_datetime("APPLIED_DT")?,
        woo_synced_dt: row.opt_datetime("WOO_SYNCED_DT")?,
        bkord_qty: row.dec_or_zero("BKORD_QTY")?,
        woo_sync_attempts: row.opt_i64("WOO_SYNC_ATTEMPTS")?.unwrap_or(0),
        woo_sync_err: row.opt_text("WOO_SYNC_ERR")?,
        cp_doc_state: row.opt_text("CP_DOC_STATE")?,
        created_dt: row.datetime("CREATED_DT")?,
    })
}

pub(super) fn grid_dim_from_row(row: Row, dim: u8) -> CpResult<GridDimValue> {
    let table = ["IM_GRID_DIM_1", "IM_GRID_DIM_2", "IM_GRID_DIM_3"][usize::from(dim.clamp(1, 3) - 1)];
    let row = row.from_table(table, &["ITEM_NO", "UPR"]);
    let upr = row.text("UPR")?;
    Ok(GridDimValue {
        item_no: row.text("ITEM_NO")?,
        dim,
        label: row.opt_text("LABEL")?.filter(|l| !l.trim().is_empty()).unwrap_or_else(|| upr.clone()),
        upr,
        seq_no: row.opt_i64("SEQ_NO")?.unwrap_or(0),
    })
}

pub(super) fn cell_level_from_row(row: Row) -> CpResult<CellLevel> {
    let row = row.from_table("IM_INV_CELL", &["ITEM_NO", "LOC_ID", "DIM_1_UPR", "DIM_2_UPR", "DIM_3_UPR"]);
    Ok(CellLevel {
        item_no: row.text("ITEM_NO")?,
        loc_id: row.text("LOC_ID")?,
        dims: [row.text("DIM_1_UPR")?, row.text("DIM_2_UPR")?, row.text("DIM_3_UPR")?],
        qty_on_hnd: row.dec_or_zero("QTY_ON_HND")?,
        qty_commit: row.dec_or_zero("QTY_COMMIT")?,
        is_ecomm: row.opt_text("IS_ECOMM_ITEM_CELL")?.is_none_or(|f| !f.trim().eq_ignore_ascii_case("N")),
    })
}
