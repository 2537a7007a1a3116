//! Stock: the change feeds, availability reads, and the order's commitment of existing `IM_INV` rows.

use super::*;

pub(super) async fn inventory_changed_since<D: Driver>(
    cp: &SqlCounterpoint<D>,
    after: &Watermark,
    limit: usize,
) -> CpResult<Vec<InventoryLevel>> {
    cp.paged("IM_INV", INV_COLS, &["ITEM_NO", "LOC_ID"], after, limit, inventory_from_row).await
}

pub(super) async fn inventory_for_items<D: Driver>(
    cp: &SqlCounterpoint<D>,
    item_nos: &[String],
    locations: &[String],
) -> CpResult<Vec<InventoryLevel>> {
    let mut levels = Vec::new();
    if locations.is_empty() {
        return Ok(levels);
    }
    let chunk_size = (cp.dialect().max_params() - locations.len()).clamp(1, 500);
    for chunk in item_nos.chunks(chunk_size) {
        let items = cp.dialect().param_list(1, chunk.len());
        let locs = cp.dialect().param_list(chunk.len() + 1, locations.len());
        let sql =
            cp.sql(&format!("SELECT {INV_COLS} FROM dbo.IM_INV WHERE ITEM_NO IN ({items}) AND LOC_ID IN ({locs})"));
        let params: Vec<Value> = chunk.iter().chain(locations).map(Value::from).collect();
        for row in cp.read(&sql, &params).await? {
            levels.push(inventory_from_row(row)?);
        }
    }
    Ok(levels)
}

pub(super) async fn pending_inventory_changes<D: Driver>(
    cp: &SqlCounterpoint<D>,
    limit: usize,
) -> CpResult<Vec<InventoryChange>> {
    let d = cp.dialect();
    let sql = d.select_top(
        1,
        "CHANGE_ID, ITEM_NO, LOC_ID, CHANGED_DT, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR",
        &d.render("FROM dbo.USER_INV_CHANGES WHERE CONSUMED_DT IS NULL ORDER BY CHANGE_ID"),
    );
    cp.read(&sql, &params![limit])
        .await?
        .into_iter()
        .map(|row| {
            let row = row.from_table("USER_INV_CHANGES", &["CHANGE_ID"]);
            Ok(InventoryChange {
                change_id: row.i64("CHANGE_ID")?,
                item_no: row.text("ITEM_NO")?,
                loc_id: row.text("LOC_ID")?,
                changed_dt: row.datetime("CHANGED_DT")?,
                cell: match (row.opt_text("DIM_1_UPR")?, row.opt_text("DIM_2_UPR")?, row.opt_text("DIM_3_UPR")?) {
                    (Some(d1), Some(d2), Some(d3)) => Some([d1, d2, d3]),
                    _ => None,
                },
            })
        })
        .collect()
}

pub(super) async fn consume_inventory_changes<D: Driver>(
    cp: &SqlCounterpoint<D>,
    change_ids: &[i64],
    at: NaiveDateTime,
) -> CpResult<u64> {
    let mut total = 0;
    let mut tx = cp.driver.begin(TxMode::Write).await?;
    for chunk in change_ids.chunks(500) {
        let list = cp.dialect().param_list(2, chunk.len());
        let sql = cp.sql(&format!(
            "UPDATE dbo.USER_INV_CHANGES SET CONSUMED_DT = @P1 WHERE CONSUMED_DT IS NULL AND CHANGE_ID IN ({list})"
        ));
        let mut params = params![at].to_vec();
        params.extend(chunk.iter().map(|id| Value::Int(*id)));
        total += tx.execute(&sql, &params).await.map_err(|e| e.context("consuming USER_INV_CHANGES"))?;
    }
    tx.commit().await?;
    Ok(total)
}

pub(super) async fn unapplied_order_lines<D: Driver>(
    cp: &SqlCounterpoint<D>,
    dead_since: NaiveDateTime,
) -> CpResult<Vec<StagedLine>> {
    let sql = cp.sql(&format!(
        "SELECT STAGING_ID, LINE_ITEMS_JSON FROM dbo.USER_ORDER_STAGING WHERE STATUS IN ('PENDING', 'APPLYING', \
         'FAILED') OR (STATUS = 'DEAD' AND CREATED_DT >= {})",
        cp.dialect().datetime_param(1)
    ));
    let mut lines = Vec::new();
    for row in cp.read(&sql, &params![dead_since]).await? {
        let row = row.from_table("USER_ORDER_STAGING", &["STAGING_ID"]);
        let json = row.text_or_empty("LINE_ITEMS_JSON")?;
        let parsed: Vec<StagedLine> = serde_json::from_str(&json).map_err(|e| CpError::BadData {
            table: "USER_ORDER_STAGING",
            key: row.key(),
            column: "LINE_ITEMS_JSON".into(),
            detail: e.to_string(),
        })?;
        lines.extend(parsed);
    }
    Ok(lines)
}

impl<D: Driver> SqlCounterpoint<D> {
    /// Adds `qty` to the order-commit columns of `IM_INV` and returns the availability before the change.
    pub(super) async fn commit_inventory(
        &self,
        tx: &mut D::Tx,
        item_no: &str,
        loc_id: &str,
        qty: Decimal,
        now: NaiveDateTime,
    ) -> CpResult<Decimal> {
        let d = self.dialect();
        let read = self.sql(&format!(
            "SELECT ITEM_NO, LOC_ID, QTY_ON_HND, {} FROM dbo.IM_INV{} WHERE ITEM_NO = @P1 AND LOC_ID = @P2",
            ORDER_COMMIT_COLUMNS.join(", "),
            d.update_lock_hint()
        ));
        let rows = tx
            .query(&read, &params![item_no, loc_id])
            .await
            .map_err(|e| e.context(format!("reading IM_INV {item_no} at {loc_id}")))?;
        let Some(row) = rows.into_iter().next() else {
            // Stock rows are Counterpoint's: an item is stocked at a location by the shop (receiving, transfers,
            // item setup), never by a web order. The transaction is dropped and the order retried, then DEAD.
            return Err(CpError::Invalid {
                what: format!("IM_INV {item_no} at {loc_id}"),
                detail: format!(
                    "item {item_no} is not stocked at location {loc_id} (no IM_INV row); cpbridge never creates \
                     stock rows: set the item up at {loc_id} in Counterpoint, or change orders.fulfilment_location"
                ),
            });
        };
        let row = row.from_table("IM_INV", &["ITEM_NO", "LOC_ID"]);
        let available = row.dec_or_zero("QTY_ON_HND")? - row.dec_or_zero("QTY_COMMIT")?;
        let mut values = Vec::new();
        for col in ORDER_COMMIT_COLUMNS {
            values.push(Value::Dec(match d {
                Dialect::Mssql => qty,
                Dialect::Sqlite => cpbridge_core::round_money(row.dec_or_zero(col)? + qty),
            }));
        }
        values.extend(params![item_no, loc_id, now]);
        tx.execute(&d.inventory_add(&ORDER_COMMIT_COLUMNS), &values)
            .await
            .map_err(|e| e.context(format!("committing IM_INV {item_no} at {loc_id}")))?;
        Ok(available)
    }

    /// Adds `qty` to the order-commit columns of one grid cell's `IM_INV_CELL` row and returns the cell's
    /// availability before the change. The row must exist, as the item's `IM_INV` row must.
    pub(super) async fn commit_cell(
        &self,
        tx: &mut D::Tx,
        (item_no, loc_id, cell): (&str, &str, &[String; 3]),
        qty: Decimal,
        now: NaiveDateTime,
    ) -> CpResult<Decimal> {
        let d = self.dialect();
        let key = "ITEM_NO = @P1 AND LOC_ID = @P2 AND DIM_1_UPR = @P3 AND DIM_2_UPR = @P4 AND DIM_3_UPR = @P5";
        let read = self.sql(&format!(
            "SELECT ITEM_NO, LOC_ID, QTY_ON_HND, {} FROM dbo.IM_INV_CELL{} WHERE {key}",
            ORDER_COMMIT_COLUMNS.join(", "),
            d.update_lock_hint()
        ));
        let key_params = params![item_no, loc_id, cell[0].as_str(), cell[1].as_str(), cell[2].as_str()];
        let shown = cpbridge_core::order::cell_label(cell);
        let what = format!("IM_INV_CELL {item_no} {shown} at {loc_id}");
        let rows = tx.query(&read, &key_params).await.map_err(|e| e.context(format!("reading {what}")))?;
        let Some(row) = rows.into_iter().next() else {
            return Err(CpError::Invalid {
                what: what.clone(),
                detail: format!(
                    "cell {shown} of item {item_no} is not stocked at location {loc_id} (no IM_INV_CELL row); cpbridge \
                     never creates stock rows"
                ),
            });
        };
        let row = row.from_table("IM_INV_CELL", &["ITEM_NO", "LOC_ID"]);
        let available = row.dec_or_zero("QTY_ON_HND")? - row.dec_or_zero("QTY_COMMIT")?;
        // SQL Server adds exactly in DECIMAL; SQLite would add floats, so it is given the sums (as for IM_INV).
        let sets: Vec<String> = ORDER_COMMIT_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| match d {
                Dialect::Mssql => format!("{c} = {c} + @P{}", i + 6),
                Dialect::Sqlite => format!("{c} = @P{}", i + 6),
            })
            .collect();
        let stamp = ORDER_COMMIT_COLUMNS.len() + 6;
        let update =
            self.sql(&format!("UPDATE dbo.IM_INV_CELL SET {}, RS_UTC_DT = @P{stamp} WHERE {key}", sets.join(", ")));
        let mut values = key_params.to_vec();
        for col in ORDER_COMMIT_COLUMNS {
            values.push(Value::Dec(match d {
                Dialect::Mssql => qty,
                Dialect::Sqlite => cpbridge_core::round_money(row.dec_or_zero(col)? + qty),
            }));
        }
        values.push(Value::DateTime(now));
        tx.execute(&update, &values).await.map_err(|e| e.context(format!("committing {what}")))?;
        Ok(available)
    }
}

/// Rows of `USER_INV_CHANGES` deleted per statement, so a purge never holds many locks at once.
const PURGE_BATCH: usize = 5_000;
/// Batches per purge run; what is left waits for the next run.
const PURGE_MAX_BATCHES: usize = 100;

pub(super) async fn purge_inventory_changes<D: Driver>(
    cp: &SqlCounterpoint<D>,
    consumed_before: NaiveDateTime,
) -> CpResult<u64> {
    let d = cp.dialect();
    let batch = d.select_top(
        2,
        "CHANGE_ID",
        &d.render(&format!("FROM dbo.USER_INV_CHANGES WHERE CONSUMED_DT < {} ORDER BY CHANGE_ID", d.datetime_param(1))),
    );
    let sql = cp.sql(&format!("DELETE FROM dbo.USER_INV_CHANGES WHERE CHANGE_ID IN ({batch})"));
    let mut total = 0;
    for _ in 0..PURGE_MAX_BATCHES {
        let n = cp
            .write(&sql, &params![consumed_before, PURGE_BATCH])
            .await
            .map_err(|e| e.context("purging consumed USER_INV_CHANGES"))?;
        total += n;
        if n < PURGE_BATCH as u64 {
            break;
        }
    }
    Ok(total)
}

pub(super) async fn inventory_change_backlog<D: Driver>(cp: &SqlCounterpoint<D>) -> CpResult<ChangeBacklog> {
    let sql = cp.sql(
        "SELECT COUNT(*) AS N, SUM(CASE WHEN CONSUMED_DT IS NULL THEN 1 ELSE 0 END) AS OPEN_N, \
         MIN(CASE WHEN CONSUMED_DT IS NULL THEN CHANGED_DT END) AS OLDEST FROM dbo.USER_INV_CHANGES",
    );
    let rows = cp.read(&sql, &[]).await?;
    let Some(row) = rows.into_iter().next() else { return Ok(ChangeBacklog::default()) };
    let row = row.from_table("USER_INV_CHANGES", &[]);
    Ok(ChangeBacklog {
        rows: row.opt_i64("N")?.unwrap_or(0),
        unconsumed: row.opt_i64("OPEN_N")?.unwrap_or(0),
        oldest_unconsumed: row.opt_datetime("OLDEST")?,
    })
}

pub(super) async fn cell_levels<D: Driver>(
    cp: &SqlCounterpoint<D>,
    item_nos: &[String],
    locations: &[String],
) -> CpResult<Vec<CellLevel>> {
    let mut levels = Vec::new();
    if locations.is_empty() {
        return Ok(levels);
    }
    for chunk in item_nos.chunks(500) {
        let d = cp.dialect();
        let items = d.param_list(1, chunk.len());
        let locs = d.param_list(chunk.len() + 1, locations.len());
        let sql = cp.sql(&format!(
            "SELECT ITEM_NO, LOC_ID, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, QTY_ON_HND, QTY_COMMIT, IS_ECOMM_ITEM_CELL \
             FROM dbo.IM_INV_CELL WHERE ITEM_NO IN ({items}) AND LOC_ID IN ({locs})"
        ));
        let mut params: Vec<Value> = chunk.iter().map(|s| Value::from(s.as_str())).collect();
        params.extend(locations.iter().map(|l| Value::from(l.as_str())));
        for row in cp.read(&sql, &params).await? {
            levels.push(cell_level_from_row(row)?);
        }
    }
    Ok(levels)
}
