//! `USER_ORDER_STAGING`: staging, claiming, failing, restaging and the write-back bookkeeping of web orders.

use super::*;

/// The columns of a staged order that come from the WooCommerce order, for staging and for restaging alike.
pub(super) fn staged_order_fields(order: &NewStagedOrder) -> CpResult<Vec<(&'static str, Value)>> {
    let t = &schema::USER_ORDER_STAGING;
    let what = format!("WooCommerce order {}", order.woo_order_id);
    let lines_json = serde_json::to_string(&order.lines)
        .map_err(|e| CpError::Invalid { what: what.clone(), detail: e.to_string() })?;
    Ok(vec![
        ("WOO_ORDER_NO", fit(t, "WOO_ORDER_NO", Some(&order.woo_order_no), &what)),
        ("CUST_NO", Value::from(order.cust_no.as_deref())),
        ("ORD_DAT", Value::from(order.ord_dat)),
        ("SUBTOT", Value::Dec(order.subtot)),
        ("TAX_AMT", Value::Dec(order.tax_amt)),
        ("DISC_AMT", Value::Dec(order.disc_amt)),
        ("SHIP_AMT", Value::Dec(order.ship_amt)),
        ("TOT_AMT", Value::Dec(order.tot_amt)),
        ("SHIP_VIA", fit(t, "SHIP_VIA", order.ship_via.as_deref(), &what)),
        ("PMT_METH", fit(t, "PMT_METH", order.pmt_meth.as_deref(), &what)),
        ("LINE_ITEMS_JSON", Value::Text(lines_json)),
        ("RAW_ORDER_JSON", Value::Text(order.raw_order_json.clone())),
    ])
}

pub(super) async fn stage_order<D: Driver>(
    cp: &SqlCounterpoint<D>,
    order: &NewStagedOrder,
    at: NaiveDateTime,
) -> CpResult<StageOutcome> {
    let what = format!("WooCommerce order {}", order.woo_order_id);
    let mut fields = vec![("WOO_ORDER_ID", Value::from(order.woo_order_id))];
    fields.extend(staged_order_fields(order)?);
    fields.extend([
        ("STATUS", Value::Text(StagingStatus::Pending.as_str().into())),
        ("IS_APPLIED", Value::Int(0)),
        ("ATTEMPTS", Value::Int(0)),
        ("CREATED_DT", Value::DateTime(at)),
    ]);
    let (cols, values): (Vec<&str>, Vec<Value>) = fields.into_iter().unzip();
    let params_list = cp.dialect().param_list(1, cols.len());
    let insert = cp.sql(&format!(
        "INSERT INTO dbo.USER_ORDER_STAGING ({}) SELECT {params_list} \
         WHERE NOT EXISTS (SELECT 1 FROM dbo.USER_ORDER_STAGING WHERE WOO_ORDER_ID = @P1)",
        cols.join(", ")
    ));
    let mut tx = cp.driver.begin(TxMode::Write).await?;
    let inserted = match tx.execute(&insert, &values).await {
        Ok(n) => n,
        // Another worker staged it between our check and our insert: the unique index caught it.
        Err(CpError::DuplicateKey { .. }) => 0,
        Err(e) => return Err(e.context(format!("staging {what}"))),
    };
    let rows = tx
        .query(
            &cp.sql("SELECT STAGING_ID FROM dbo.USER_ORDER_STAGING WHERE WOO_ORDER_ID = @P1"),
            &params![order.woo_order_id],
        )
        .await?;
    tx.commit().await?;
    let staging_id = rows
        .into_iter()
        .next()
        .ok_or_else(|| CpError::Sql {
            context: format!("staging {what}"),
            detail: "the row is missing after insert".into(),
            code: None,
        })?
        .staging_id("STAGING_ID")?;
    Ok(if inserted > 0 { StageOutcome::Staged { staging_id } } else { StageOutcome::AlreadyStaged { staging_id } })
}

pub(super) async fn claim_staged_orders<D: Driver>(
    cp: &SqlCounterpoint<D>,
    now: NaiveDateTime,
    lease: Duration,
    limit: usize,
) -> CpResult<Vec<ClaimedOrder>> {
    let d = cp.dialect();
    let due = format!(
        "FROM dbo.USER_ORDER_STAGING WHERE STATUS IN ('PENDING', 'FAILED', 'APPLYING') \
         AND (NEXT_ATTEMPT_DT IS NULL OR NEXT_ATTEMPT_DT <= {}) ORDER BY STAGING_ID",
        d.datetime_param(1)
    );
    let candidates =
        cp.read(&d.select_top(2, "STAGING_ID, STATUS, NEXT_ATTEMPT_DT", &d.render(&due)), &params![now, limit]).await?;
    let claim = cp.sql(&format!(
        "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'APPLYING', CLAIM_TOKEN = @P1, NEXT_ATTEMPT_DT = @P2, ATTEMPTS = ATTEMPTS + 1 \
         WHERE STAGING_ID = @P3 AND STATUS = @P4 AND ((NEXT_ATTEMPT_DT IS NULL AND @P5 IS NULL) OR NEXT_ATTEMPT_DT = {})",
        d.datetime_param(5)
    ));
    let mut claimed = Vec::new();
    for row in candidates {
        let row = row.from_table("USER_ORDER_STAGING", &["STAGING_ID"]);
        let staging_id = row.staging_id("STAGING_ID")?;
        let token = Uuid::new_v4().to_string();
        let seen_next = row.opt_datetime("NEXT_ATTEMPT_DT")?;
        let params = params![token.as_str(), now + lease, staging_id, row.text("STATUS")?, seen_next];
        // The row count decides who won: 0 means another worker claimed it first.
        if cp.write(&claim, &params).await.map_err(|e| e.context(format!("claiming staged order {staging_id}")))? == 1
            && let Some(order) =
                cp.staged_where("STAGING_ID = @P1 AND CLAIM_TOKEN = @P2", &params![staging_id, token.as_str()]).await?
        {
            claimed.push(ClaimedOrder { order, claim_token: token });
        }
    }
    Ok(claimed)
}

pub(super) async fn fail_staged_order<D: Driver>(
    cp: &SqlCounterpoint<D>,
    claim: &ClaimedOrder,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> CpResult<bool> {
    let status = if retry_at.is_some() { StagingStatus::Failed } else { StagingStatus::Dead };
    let error: String = error.chars().take(2000).collect();
    let sql = cp.sql(
        "UPDATE dbo.USER_ORDER_STAGING SET STATUS = @P1, LAST_ERR = @P2, NEXT_ATTEMPT_DT = @P3, CLAIM_TOKEN = NULL \
         WHERE STAGING_ID = @P4 AND STATUS = 'APPLYING' AND CLAIM_TOKEN = @P5",
    );
    let n = cp
        .write(&sql, &params![status.as_str(), error, retry_at, claim.order.staging_id, claim.claim_token.as_str()])
        .await?;
    Ok(n == 1)
}

pub(super) async fn staged_order<D: Driver>(
    cp: &SqlCounterpoint<D>,
    staging_id: StagingId,
) -> CpResult<Option<StagedOrder>> {
    cp.staged_where("STAGING_ID = @P1", &params![staging_id]).await
}

pub(super) async fn staged_order_by_woo_id<D: Driver>(
    cp: &SqlCounterpoint<D>,
    woo_order_id: WooOrderId,
) -> CpResult<Option<StagedOrder>> {
    cp.staged_where("WOO_ORDER_ID = @P1", &params![woo_order_id]).await
}

pub(super) async fn staged_orders<D: Driver>(
    cp: &SqlCounterpoint<D>,
    status: Option<StagingStatus>,
    limit: usize,
) -> CpResult<Vec<StagedOrder>> {
    let d = cp.dialect();
    let (cond, mut params) = match status {
        Some(s) => ("WHERE STATUS = @P1", params![s.as_str()].to_vec()),
        None => ("", Vec::new()),
    };
    params.push(Value::from(limit));
    let sql = d.select_top(
        params.len(),
        STAGING_COLS,
        &d.render(&format!("FROM dbo.USER_ORDER_STAGING {cond} ORDER BY STAGING_ID DESC")),
    );
    cp.read(&sql, &params).await?.into_iter().map(staged_from_row).collect()
}

pub(super) async fn staging_counts<D: Driver>(cp: &SqlCounterpoint<D>) -> CpResult<BTreeMap<String, i64>> {
    let rows =
        cp.read(&cp.sql("SELECT STATUS, COUNT(*) AS N FROM dbo.USER_ORDER_STAGING GROUP BY STATUS"), &[]).await?;
    rows.into_iter().map(|r| Ok((r.text("STATUS")?, r.i64("N")?))).collect()
}

pub(super) async fn requeue_staged_order<D: Driver>(cp: &SqlCounterpoint<D>, staging_id: StagingId) -> CpResult<bool> {
    let sql = cp.sql(
        "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'PENDING', ATTEMPTS = 0, NEXT_ATTEMPT_DT = NULL, CLAIM_TOKEN = NULL \
         WHERE STAGING_ID = @P1 AND STATUS IN ('DEAD', 'FAILED', 'LEGACY')",
    );
    Ok(cp.write(&sql, &params![staging_id]).await? == 1)
}

pub(super) async fn cancel_staged_order<D: Driver>(
    cp: &SqlCounterpoint<D>,
    woo_order_id: WooOrderId,
    reason: &str,
) -> CpResult<bool> {
    let sql = cp.sql(
        "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'CANCELLED', LAST_ERR = @P2, CLAIM_TOKEN = NULL \
         WHERE WOO_ORDER_ID = @P1 AND STATUS IN ('PENDING', 'APPLYING', 'FAILED', 'DEAD')",
    );
    Ok(cp.write(&sql, &params![woo_order_id, reason]).await? == 1)
}

pub(super) async fn mark_woo_synced<D: Driver>(
    cp: &SqlCounterpoint<D>,
    staging_id: StagingId,
    at: NaiveDateTime,
) -> CpResult<()> {
    cp.write(
        &cp.sql(
            "UPDATE dbo.USER_ORDER_STAGING SET WOO_SYNCED_DT = @P1, WOO_SYNC_ERR = NULL, WOO_SYNC_NEXT_DT = NULL \
             WHERE STAGING_ID = @P2",
        ),
        &params![at, staging_id],
    )
    .await?;
    Ok(())
}

pub(super) async fn writebacks_due<D: Driver>(
    cp: &SqlCounterpoint<D>,
    now: NaiveDateTime,
    limit: usize,
) -> CpResult<Vec<StagedOrder>> {
    let d = cp.dialect();
    let due = format!(
        "FROM dbo.USER_ORDER_STAGING WHERE STATUS = 'APPLIED' AND WOO_SYNCED_DT IS NULL \
         AND (WOO_SYNC_NEXT_DT IS NULL OR WOO_SYNC_NEXT_DT <= {}) ORDER BY STAGING_ID",
        d.datetime_param(1)
    );
    let sql = d.select_top(2, STAGING_COLS, &d.render(&due));
    cp.read(&sql, &params![now, limit]).await?.into_iter().map(staged_from_row).collect()
}

pub(super) async fn fail_writeback<D: Driver>(
    cp: &SqlCounterpoint<D>,
    staging_id: StagingId,
    error: &str,
    retry_at: NaiveDateTime,
) -> CpResult<()> {
    let error: String = error.chars().take(2000).collect();
    let sql = cp.sql(
        "UPDATE dbo.USER_ORDER_STAGING SET WOO_SYNC_ATTEMPTS = WOO_SYNC_ATTEMPTS + 1, WOO_SYNC_ERR = @P1, \
         WOO_SYNC_NEXT_DT = @P2 WHERE STAGING_ID = @P3",
    );
    cp.write(&sql, &params![error, retry_at, staging_id]).await?;
    Ok(())
}

pub(super) async fn open_applied_orders<D: Driver>(
    cp: &SqlCounterpoint<D>,
    after_staging_id: StagingId,
    limit: usize,
) -> CpResult<Vec<StagedOrder>> {
    let d = cp.dialect();
    let sql = d.select_top(
        2,
        STAGING_COLS,
        &d.render(
            "FROM dbo.USER_ORDER_STAGING WHERE STATUS = 'APPLIED' AND WOO_SYNCED_DT IS NOT NULL \
             AND CP_DOC_STATE IS NULL AND STAGING_ID > @P1 ORDER BY STAGING_ID",
        ),
    );
    cp.read(&sql, &params![after_staging_id, limit]).await?.into_iter().map(staged_from_row).collect()
}

pub(super) async fn set_doc_state<D: Driver>(
    cp: &SqlCounterpoint<D>,
    staging_id: StagingId,
    state: &str,
) -> CpResult<()> {
    cp.write(
        &cp.sql("UPDATE dbo.USER_ORDER_STAGING SET CP_DOC_STATE = @P1 WHERE STAGING_ID = @P2"),
        &params![state, staging_id],
    )
    .await?;
    Ok(())
}

pub(super) async fn restage_order<D: Driver>(
    cp: &SqlCounterpoint<D>,
    staging_id: StagingId,
    order: &NewStagedOrder,
) -> CpResult<bool> {
    let what = format!("WooCommerce order {}", order.woo_order_id);
    let (cols, mut values): (Vec<&str>, Vec<Value>) = staged_order_fields(order)?.into_iter().unzip();
    let sets: Vec<String> = cols.iter().enumerate().map(|(i, col)| format!("{col} = @P{}", i + 1)).collect();
    let sql = cp.sql(&format!(
        "UPDATE dbo.USER_ORDER_STAGING SET {}, STATUS = 'PENDING', ATTEMPTS = 0, NEXT_ATTEMPT_DT = NULL, \
         CLAIM_TOKEN = NULL WHERE STAGING_ID = @P{} AND WOO_ORDER_ID = @P{} \
         AND STATUS IN ('PENDING', 'APPLYING', 'FAILED', 'DEAD', 'CANCELLED', 'LEGACY')",
        sets.join(", "),
        cols.len() + 1,
        cols.len() + 2
    ));
    values.extend([Value::from(staging_id), Value::from(order.woo_order_id)]);
    Ok(cp.write(&sql, &values).await.map_err(|e| e.context(format!("restaging {what}")))? == 1)
}

pub(super) async fn staging_heads<D: Driver>(
    cp: &SqlCounterpoint<D>,
    after_staging_id: StagingId,
    limit: usize,
) -> CpResult<Vec<StagingHead>> {
    let d = cp.dialect();
    let sql = d.select_top(
        2,
        "STAGING_ID, WOO_ORDER_ID, WOO_ORDER_NO, STATUS, TOT_AMT, ORD_DAT, CP_DOC_ID, CP_TKT_NO, CP_DOC_STATE",
        &d.render("FROM dbo.USER_ORDER_STAGING WHERE STAGING_ID > @P1 ORDER BY STAGING_ID"),
    );
    let mut heads = Vec::new();
    for row in cp.read(&sql, &params![after_staging_id, limit]).await? {
        let row = row.from_table("USER_ORDER_STAGING", &["STAGING_ID"]);
        heads.push(StagingHead {
            staging_id: row.staging_id("STAGING_ID")?,
            woo_order_id: row.woo_order_id("WOO_ORDER_ID")?,
            woo_order_no: row.text_or_empty("WOO_ORDER_NO")?,
            status: staging_status(&row)?,
            tot_amt: row.dec_or_zero("TOT_AMT")?,
            ord_dat: row.opt_datetime("ORD_DAT")?,
            cp_doc_id: row.opt_i64("CP_DOC_ID")?,
            cp_tkt_no: row.opt_text("CP_TKT_NO")?,
            cp_doc_state: row.opt_text("CP_DOC_STATE")?,
        });
    }
    Ok(heads)
}

pub(super) async fn discard_staged_order<D: Driver>(
    cp: &SqlCounterpoint<D>,
    staging_id: StagingId,
    reason: &str,
) -> CpResult<bool> {
    let reason: String = reason.chars().take(2000).collect();
    let sql = cp.sql(
        "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'DISCARDED', LAST_ERR = @P2, NEXT_ATTEMPT_DT = NULL, \
         CLAIM_TOKEN = NULL WHERE STAGING_ID = @P1 AND STATUS IN ('DEAD', 'FAILED')",
    );
    Ok(cp.write(&sql, &params![staging_id, reason]).await? == 1)
}

impl<D: Driver> SqlCounterpoint<D> {
    pub(super) async fn staged_where(&self, cond: &str, params: &[Value]) -> CpResult<Option<StagedOrder>> {
        let sql = self.sql(&format!("SELECT {STAGING_COLS} FROM dbo.USER_ORDER_STAGING WHERE {cond}"));
        match self.read(&sql, params).await?.into_iter().next() {
            Some(row) => Ok(Some(staged_from_row(row)?)),
            None => Ok(None),
        }
    }
}
