//! Counterpoint documents: numbering, the one transaction that writes an order, and where a document went.

use cpbridge_core::order::{cell_commitments, cell_label, line_backorders, order_commitments};

use super::*;
use crate::docid_fn::{DocIdInputs, DocIdSource};

pub(super) async fn apply_staged_order<D: Driver>(
    cp: &SqlCounterpoint<D>,
    claim: &ClaimedOrder,
    doc: &OrderDocument,
    now: NaiveDateTime,
) -> CpResult<ApplyOutcome> {
    let staging_id = claim.order.staging_id;
    let mut tx = cp.driver.begin(TxMode::Write).await?;
    // First statement: flip our claimed row to APPLIED. Under SQL Server this also locks the row for the rest
    // of the transaction; a stale worker whose lease expired finds no row to flip and writes nothing.
    let guard = cp.sql(
        "UPDATE dbo.USER_ORDER_STAGING SET STATUS = 'APPLIED', IS_APPLIED = 1, APPLIED_DT = @P1, LAST_ERR = NULL \
         WHERE STAGING_ID = @P2 AND STATUS = 'APPLYING' AND CLAIM_TOKEN = @P3",
    );
    if tx.execute(&guard, &params![now, staging_id, claim.claim_token.as_str()]).await? != 1 {
        drop(tx);
        let current = cp.staged_order(staging_id).await?;
        return Ok(match current {
            Some(order) if order.status == StagingStatus::Applied => {
                ApplyOutcome::AlreadyApplied { doc_id: order.cp_doc_id, tkt_no: order.cp_tkt_no }
            }
            _ => ApplyOutcome::ClaimLost,
        });
    }
    let (doc_id, tkt_no, backorders) = cp.write_document(&mut tx, claim, doc, now).await?;
    let backordered: Decimal = backorders.iter().map(|(_, qty)| *qty).sum();
    // The applier writes back to WooCommerce itself; the write-back sweeper keeps off until the claim's lease
    // runs out, so the two never post the same note at once, and a crashed applier's write-back is resumed.
    let done = cp.sql(
        "UPDATE dbo.USER_ORDER_STAGING SET CP_DOC_ID = @P1, CP_TKT_NO = @P2, BKORD_QTY = @P3, CUST_NO = @P4, CLAIM_TOKEN = NULL, \
         WOO_SYNC_NEXT_DT = NEXT_ATTEMPT_DT WHERE STAGING_ID = @P5",
    );
    tx.execute(&done, &params![doc_id, tkt_no.as_str(), backordered, doc.cust_no.as_str(), staging_id]).await?;
    tx.commit().await.map_err(|e| e.context(format!("committing staged order {staging_id}")))?;
    Ok(ApplyOutcome::Applied { doc_id, tkt_no, backordered: backorders })
}

pub(super) async fn station_documents<D: Driver>(
    cp: &SqlCounterpoint<D>,
    sta_id: &str,
    after_doc_id: i64,
    limit: usize,
) -> CpResult<Vec<BookedDocument>> {
    let d = cp.dialect();
    let sql = d.select_top(
        3,
        "h.DOC_ID, h.TKT_NO, h.CUST_PO_NO, t.TOT",
        &d.render(
            "FROM dbo.PS_DOC_HDR h LEFT JOIN dbo.PS_DOC_HDR_TOT t ON t.DOC_ID = h.DOC_ID AND t.TOT_TYP = 'O' \
             WHERE h.STA_ID = @P1 AND h.DOC_TYP = 'O' AND h.DOC_ID > @P2 ORDER BY h.DOC_ID",
        ),
    );
    let mut docs = Vec::new();
    for row in cp.read(&sql, &params![sta_id, after_doc_id, limit]).await? {
        let row = row.from_table("PS_DOC_HDR", &["DOC_ID"]);
        docs.push(BookedDocument {
            doc_id: row.i64("DOC_ID")?,
            tkt_no: row.text_or_empty("TKT_NO")?,
            cust_po_no: row.opt_text("CUST_PO_NO")?,
            tot: row.opt_dec("TOT")?,
        });
    }
    Ok(docs)
}

pub(super) async fn setup_problems<D: Driver>(cp: &SqlCounterpoint<D>, setup: &ShopSetup) -> CpResult<Vec<String>> {
    let mut problems = Vec::new();
    let mut tx = cp.driver.begin(TxMode::Read).await?;
    let checks: [(&str, Vec<Value>, String); 4] = [
        (
            "SELECT STR_ID FROM dbo.PS_STR WHERE STR_ID = @P1",
            params![setup.str_id.as_str()].to_vec(),
            format!("store {} (orders.store_id) is not in PS_STR", setup.str_id),
        ),
        (
            "SELECT STA_ID FROM dbo.PS_STA WHERE STR_ID = @P1 AND STA_ID = @P2",
            params![setup.str_id.as_str(), setup.sta_id.as_str()].to_vec(),
            format!(
                "station {} of store {} (orders.station_id) is not in PS_STA: create a station for cpbridge alone",
                setup.sta_id, setup.str_id
            ),
        ),
        (
            "SELECT DRW_ID FROM dbo.PS_DRW WHERE STR_ID = @P1 AND DRW_ID = @P2",
            params![setup.str_id.as_str(), setup.drw_id.as_str()].to_vec(),
            format!("drawer {} of store {} (orders.drawer_id) is not in PS_DRW", setup.drw_id, setup.str_id),
        ),
        (
            "SELECT USR_ID FROM dbo.SY_USR WHERE USR_ID = @P1",
            params![setup.usr_id.as_str()].to_vec(),
            format!("user {} (orders.user_id) is not in SY_USR", setup.usr_id),
        ),
    ];
    for (sql, params, problem) in checks {
        if tx.query(&cp.sql(sql), &params).await?.is_empty() {
            problems.push(problem);
        }
    }
    for pay_cod in &setup.pay_codes {
        let sql = cp.sql("SELECT PAY_COD FROM dbo.SY_PAY_COD WHERE PAY_COD = @P1");
        if tx.query(&sql, &params![pay_cod.as_str()]).await?.is_empty() {
            problems.push(format!("pay code {pay_cod} (orders.pay_codes) is not in SY_PAY_COD"));
        }
    }
    let foreign = cp.sql(
        "SELECT COUNT(*) AS N FROM dbo.PS_DOC_HDR WHERE STA_ID = @P1 AND (TKT_NO IS NULL OR TKT_NO NOT LIKE @P2 ESCAPE '\\')",
    );
    let pattern = like_prefix(&format!("{}-", setup.tkt_prefix));
    let rows = tx.query(&foreign, &params![setup.sta_id.as_str(), pattern]).await?;
    let n = rows.into_iter().next().map(|r| r.i64("N")).transpose()?.unwrap_or(0);
    if n > 0 {
        problems.push(format!(
            "{n} open document(s) on station {} were not written by cpbridge (their TKT_NO does not start with \
             {}-): cpbridge's station must be its own",
            setup.sta_id, setup.tkt_prefix
        ));
    }
    tx.commit().await?;
    Ok(problems)
}

pub(super) async fn document_state<D: Driver>(
    cp: &SqlCounterpoint<D>,
    doc_id: i64,
    tkt_no: &str,
) -> CpResult<DocumentState> {
    let d = cp.dialect();
    let release = like_prefix(&format!("{tkt_no}-"));
    let mut tx = cp.driver.begin(TxMode::Read).await?;
    let open =
        !tx.query(&cp.sql("SELECT DOC_ID FROM dbo.PS_DOC_HDR WHERE DOC_ID = @P1"), &params![doc_id]).await?.is_empty();
    for table in ["PS_DOC_HDR", "PS_TKT_HIST"] {
        let sql = d.select_top(
            2,
            "TKT_NO",
            &d.render(&format!("FROM dbo.{table} WHERE TKT_NO LIKE @P1 ESCAPE '\\' ORDER BY TKT_NO")),
        );
        if let Some(row) = tx.query(&sql, &params![release.as_str(), 1i64]).await?.into_iter().next() {
            return Ok(DocumentState::Released { release_tkt_no: row.text("TKT_NO")? });
        }
    }
    if open {
        return Ok(DocumentState::Open);
    }
    // A release numbered some other way (a shop's own numbering, a merged ticket) still links its lines back to the
    // order's lines. Looked for only once the order has left: PS_DOC_LIN has no index on LINK_LIN_GUID.
    let linked = d.select_top(
        2,
        "l.TKT_NO",
        &d.render(
            "FROM dbo.PS_DOC_LIN l JOIN dbo.USER_DOC_LIN_EXT e ON l.LINK_LIN_GUID = e.LIN_GUID \
             WHERE e.DOC_ID = @P1 AND l.DOC_ID <> @P1 ORDER BY l.TKT_NO",
        ),
    );
    if let Some(row) = tx.query(&linked, &params![doc_id, 1i64]).await?.into_iter().next() {
        return Ok(DocumentState::Released { release_tkt_no: row.text("TKT_NO")? });
    }
    let closed =
        !tx.query(&cp.sql("SELECT DOC_ID FROM dbo.PS_ORD_HIST WHERE DOC_ID = @P1"), &params![doc_id]).await?.is_empty();
    tx.commit().await?;
    Ok(if closed { DocumentState::Closed } else { DocumentState::Unknown })
}

impl<D: Driver> SqlCounterpoint<D> {
    pub(super) async fn allocate_tkt_no(
        &self,
        tx: &mut D::Tx,
        doc: &OrderDocument,
        at: NaiveDateTime,
    ) -> CpResult<String> {
        let counter = format!("TKT_NO:{}:{}", doc.sta_id, doc.tkt_prefix);
        let taken = self.sql("SELECT TKT_NO FROM dbo.PS_DOC_HDR WHERE STA_ID = @P1 AND TKT_NO = @P2");
        // A register that somehow used our prefix is skipped over, never collided with.
        for _ in 0..1_000 {
            let n = self.next_counter(tx, &counter, at).await?;
            let tkt_no = format_tkt_no(&doc.tkt_prefix, n).ok_or_else(|| CpError::Invalid {
                what: format!("ticket prefix {:?}", doc.tkt_prefix),
                detail: format!(
                    "ticket number {n} with this prefix is longer than 12 characters, and Counterpoint's release \
                     ticket appends -01 to it within TKT_NO VARCHAR(15)"
                ),
            })?;
            if tx.query(&taken, &params![doc.sta_id.as_str(), tkt_no.as_str()]).await?.is_empty() {
                return Ok(tkt_no);
            }
        }
        Err(CpError::Invalid {
            what: format!("ticket prefix {:?}", doc.tkt_prefix),
            detail: "1,000 ticket numbers in a row are taken".into(),
        })
    }

    /// The next free `DOC_ID` of cpbridge's station from this second (store time) on: `dbo.fnGenDocId`'s answer
    /// where the database has a function cpbridge can call, else the same layout computed here. Counterpoint's
    /// layout leaves ten ids per second, so a burst runs ahead of the clock: the search starts after the highest id
    /// already taken today.
    pub(super) async fn allocate_doc_id(
        &self,
        tx: &mut D::Tx,
        doc: &OrderDocument,
        now: NaiveDateTime,
        source: &DocIdSource,
    ) -> CpResult<i64> {
        let (store, station) = self.station_numbers(tx, doc).await?;
        let at = doc.local(now);
        let exists = self.sql("SELECT DOC_ID FROM dbo.PS_DOC_HDR WHERE DOC_ID = @P1");
        if let Some(call) = source.call_sql() {
            let inputs = DocIdInputs {
                str_no: store,
                str_id: &doc.str_id,
                sta_no: station,
                sta_id: &doc.sta_id,
                doc_typ: doc.doc_typ,
                at,
            };
            match tx.query(&call, &source.call_args(&inputs, 0)).await.and_then(DocIdSource::read_answer) {
                Ok(mut id) => {
                    for variation in 1..10u8 {
                        if tx.query(&exists, &params![id]).await?.is_empty() {
                            return Ok(id);
                        }
                        id = if source.takes_variation() {
                            DocIdSource::read_answer(tx.query(&call, &source.call_args(&inputs, variation)).await?)?
                        } else {
                            id + 1
                        };
                    }
                    return Ok(id);
                }
                Err(e) if e.is_retryable() => return Err(e),
                // Visible but not callable (no EXECUTE permission, or it refused these arguments): an error of one
                // statement, which leaves the transaction usable; the layout serves instead of failing every order.
                Err(e) => tracing::warn!(
                    error = %e,
                    store = %doc.str_id,
                    station = %doc.sta_id,
                    "dbo.fnGenDocId could not be called; computing the DOC_ID layout (see `cpbridge doctor`)"
                ),
            }
        }
        let first = gen_doc_id(store, station, doc.doc_typ, at, 0);
        let end_of_day = at.date().and_hms_opt(23, 59, 59).unwrap_or(at);
        let last = gen_doc_id(store, station, doc.doc_typ, end_of_day, 9);
        let highest = self.sql("SELECT MAX(DOC_ID) AS TOP_ID FROM dbo.PS_DOC_HDR WHERE DOC_ID BETWEEN @P1 AND @P2");
        let top = tx
            .query(&highest, &params![first, last])
            .await?
            .into_iter()
            .next()
            .map(|r| r.opt_i64("TOP_ID"))
            .transpose()?
            .flatten();
        let mut id = top.map_or(first, |t| (t + 1).max(first));
        while id <= last {
            if tx.query(&exists, &params![id]).await?.is_empty() {
                return Ok(id);
            }
            id += 1;
        }
        Err(CpError::Invalid {
            what: "DOC_ID".into(),
            detail: format!("every document id of station {} is taken until midnight", doc.sta_id),
        })
    }

    /// The store and station numbers that `DOC_ID` carries (`PS_STR.STR_NO`, `PS_STA.STA_NO`).
    pub(super) async fn station_numbers(&self, tx: &mut D::Tx, doc: &OrderDocument) -> CpResult<(i64, i64)> {
        let store = tx
            .query(&self.sql("SELECT STR_NO FROM dbo.PS_STR WHERE STR_ID = @P1"), &params![doc.str_id.as_str()])
            .await?;
        let station = tx
            .query(
                &self.sql("SELECT STA_NO FROM dbo.PS_STA WHERE STR_ID = @P1 AND STA_ID = @P2"),
                &params![doc.str_id.as_str(), doc.sta_id.as_str()],
            )
            .await?;
        let number = |rows: Vec<Row>, table: &'static str, column: &str| -> CpResult<Option<i64>> {
            rows.into_iter().next().map(|r| r.from_table(table, &[]).i64(column)).transpose()
        };
        let str_no = number(store, "PS_STR", "STR_NO")?.ok_or_else(|| CpError::Invalid {
            what: format!("store {}", doc.str_id),
            detail: format!("store {} is not in PS_STR: set orders.store_id to a Counterpoint store", doc.str_id),
        })?;
        let sta_no = number(station, "PS_STA", "STA_NO")?.ok_or_else(|| CpError::Invalid {
            what: format!("station {}", doc.sta_id),
            detail: format!(
                "station {} of store {} is not in PS_STA: create cpbridge's own station in Counterpoint, or set \
                 orders.station_id",
                doc.sta_id, doc.str_id
            ),
        })?;
        Ok((str_no, sta_no))
    }

    /// `PAY_TYP` and `CURNCY_COD` of a pay code, or an error naming it.
    pub(super) async fn pay_code(
        &self,
        tx: &mut D::Tx,
        pay_cod: &str,
        what: &str,
    ) -> CpResult<(String, Option<String>)> {
        let rows = tx
            .query(&self.sql("SELECT PAY_TYP, CURNCY_COD FROM dbo.SY_PAY_COD WHERE PAY_COD = @P1"), &params![pay_cod])
            .await?;
        let Some(row) = rows.into_iter().next() else {
            return Err(CpError::Invalid {
                what: what.to_owned(),
                detail: format!(
                    "pay code {pay_cod} is not in SY_PAY_COD: add it in Counterpoint, or map the payment method to \
                     another code in orders.pay_codes"
                ),
            });
        };
        let row = row.from_table("SY_PAY_COD", &[]);
        Ok((row.text("PAY_TYP")?, row.opt_text("CURNCY_COD")?))
    }

    pub(super) async fn insert_contact(
        &self,
        tx: &mut D::Tx,
        live: &LiveSchema,
        doc_id: i64,
        contact_id: i64,
        c: &DocContact,
    ) -> CpResult<()> {
        let what = format!("PS_DOC_CONTACT {contact_id} of document {doc_id}");
        let company = c.company.as_deref().filter(|co| !co.trim().is_empty());
        let (sql, values) = Insert::into(&schema::PS_DOC_CONTACT, Some(live), &what)
            .set("DOC_ID", doc_id)
            .set("CONTACT_ID", contact_id)
            .fit("NAM", Some(company.unwrap_or(&c.nam)))
            .set("NAM_TYP", if company.is_some() { "B" } else { "P" })
            .fit("FST_NAM", c.fst_nam.as_deref())
            .fit("LST_NAM", c.lst_nam.as_deref())
            .fit("ADRS_1", c.adrs_1.as_deref())
            .fit("ADRS_2", c.adrs_2.as_deref())
            .fit("CITY", c.city.as_deref())
            .fit("STATE", c.state.as_deref())
            .fit("ZIP_COD", c.zip_cod.as_deref())
            .fit("CNTRY", c.cntry.as_deref())
            .fit("PHONE_1", c.phone_1.as_deref())
            .fit("EMAIL_ADRS_1", c.email_adrs_1.as_deref())
            .fit("CONTCT_1", company.map(|_| c.nam.as_str()))
            .finish(self.dialect())?;
        tx.execute(&sql, &values).await.map_err(|e| e.context(&what))?;
        Ok(())
    }

    pub(super) async fn write_document(
        &self,
        tx: &mut D::Tx,
        claim: &ClaimedOrder,
        doc: &OrderDocument,
        now: NaiveDateTime,
    ) -> CpResult<(i64, String, Vec<(String, Decimal)>)> {
        let d = self.dialect();
        let live_schema = self.live_schema().await?;
        let live = Some(live_schema.as_ref());
        let order_ref = format!("WooCommerce order {} (staging {})", claim.order.woo_order_no, claim.order.staging_id);
        let tkt_no = self
            .allocate_tkt_no(tx, doc, now)
            .await
            .map_err(|e| e.context(format!("{order_ref}: numbering TKT_NO")))?;
        let doc_id = self
            .allocate_doc_id(tx, doc, now, &live_schema.doc_ids)
            .await
            .map_err(|e| e.context(format!("{order_ref}: numbering DOC_ID")))?;
        let header = |e: CpError| e.context(format!("{order_ref}: writing PS_DOC_HDR"));
        let (cols, mut values) = Insert::into(&schema::PS_DOC_HDR, live, &order_ref)
            .set("DOC_ID", doc_id)
            .set("DOC_GUID", Uuid::new_v4())
            .set("DOC_TYP", doc.doc_typ.to_string())
            .set("TKT_TYP", "T")
            .set("STR_ID", doc.str_id.as_str())
            .set("STA_ID", doc.sta_id.as_str())
            .set("DRW_ID", doc.drw_id.as_str())
            .set("TKT_NO", tkt_no.as_str())
            .set("CUST_NO", doc.cust_no.as_str())
            .set("TKT_DT", doc.tkt_dt)
            .fit("TAX_COD", doc.tax_cod.as_deref())
            .fit("NORM_TAX_COD", doc.tax_cod.as_deref())
            .fit("TAX_OVRD_REAS", doc.tax_ovrd_reas.as_deref())
            .fit("CUST_PO_NO", doc.cust_po_no.as_deref())
            .set("USR_ID", doc.usr_id.as_str())
            .set("STK_LOC_ID", doc.stk_loc_id.as_str())
            .set("PRC_LOC_ID", doc.prc_loc_id.as_str())
            .fit("SHIP_VIA_COD", doc.ship_via_cod.as_deref())
            .set("BILL_TO_CONTACT_ID", 1i64)
            .set("SHIP_TO_CONTACT_ID", 2i64)
            .fit("REF", doc.cust_po_no.as_ref().map(|no| format!("WooCommerce #{no}")).as_deref())
            .set("ORD_LINS", doc.lines.len())
            .set("SAL_LINS", 0i64)
            .set("SAL_LIN_TOT", Decimal::ZERO)
            .set("RET_LIN_TOT", Decimal::ZERO)
            .set("RS_UTC_DT", now)
            .set("LST_MAINT_DT", doc.local(now))
            .set("LST_MAINT_USR_ID", doc.usr_id.as_str())
            .finish_pairs()
            .map_err(header)?;
        // A register (or Counterpoint's own fnGenDocId) may take the id between the search and the insert: a
        // duplicate key moves on to the next variation digit, within the same transaction (XACT_ABORT is off, so a
        // key violation ends only the statement).
        let sql = d.insert_values("PS_DOC_HDR", &cols, 1);
        let mut doc_id = doc_id;
        let mut tries = 0;
        loop {
            values[0] = Value::Int(doc_id);
            match tx.execute(&sql, &values).await {
                Ok(_) => break,
                Err(CpError::DuplicateKey { .. }) if tries < 10 => {
                    tracing::info!(doc_id, "DOC_ID taken at insert; trying the next variation");
                    doc_id += 1;
                    tries += 1;
                }
                Err(e) => return Err(header(e)),
            }
        }
        self.insert_contact(tx, &live_schema, doc_id, 1, &doc.bill_to).await?;
        self.insert_contact(tx, &live_schema, doc_id, 2, &doc.ship_to).await?;

        // Inventory first, in key order, so that two appliers on SQL Server lock IM_INV rows in the same order.
        let committed = order_commitments(&doc.lines);
        let mut available: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for ((item_no, loc_id), qty) in &committed {
            let before = self.commit_inventory(tx, item_no, loc_id, *qty, now).await.map_err(|e| match e {
                // Name the order's lines, so that the reason on the staging row says which line to look at.
                CpError::Invalid { detail, .. } => {
                    let lines: Vec<String> = (1..=doc.lines.len())
                        .filter(|n| doc.lines[n - 1].item_no == *item_no && doc.lines[n - 1].stk_loc_id == *loc_id)
                        .map(|n| n.to_string())
                        .collect();
                    CpError::Invalid { what: format!("{order_ref}, line {} (SKU {item_no})", lines.join(", ")), detail }
                }
                other => other.context(&order_ref),
            })?;
            available.insert((item_no.clone(), loc_id.clone()), before);
        }
        // A grid line also commits its cell (the item's row above holds the sum of its cells); its backorder is
        // measured against the cell.
        for ((item_no, loc_id, cell), qty) in cell_commitments(&doc.lines) {
            let before = self.commit_cell(tx, (&item_no, &loc_id, &cell), qty, now).await.map_err(|e| match e {
                CpError::Invalid { detail, .. } => CpError::Invalid {
                    what: format!("{order_ref}, SKU {}", cpbridge_core::order::variation_label(&item_no, &cell)),
                    detail,
                },
                other => other.context(&order_ref),
            })?;
            let line = doc.lines.iter().find(|l| l.item_no == item_no && l.cell.as_ref() == Some(&cell));
            if let Some(line) = line {
                available.insert(line.stock_key(), before);
            }
        }

        let ext_cols = ["DOC_ID", "LIN_SEQ_NO", "ITEM_NO", "WOO_LINE_ID", "QTY_BKORD", "LIN_GUID"];
        let backorders = line_backorders(&doc.lines, &available);
        let backordered: Vec<(String, Decimal)> = doc
            .lines
            .iter()
            .zip(&backorders)
            .filter(|(_, qty)| !qty.is_zero())
            .map(|(line, qty)| (line.item_no.clone(), *qty))
            .collect();
        for ((i, line), bkord) in doc.lines.iter().enumerate().zip(backorders) {
            let seq = i64::try_from(i + 1).unwrap_or(i64::MAX);
            let line_ref = format!("{order_ref}, line {seq} (SKU {})", line.item_no);
            let ext_prc = line.ext_prc();
            let lin_guid = Uuid::new_v4();
            let (sql, values) = Insert::into(&schema::PS_DOC_LIN, live, &line_ref)
                .set("DOC_ID", doc_id)
                .set("LIN_SEQ_NO", seq)
                .set("STR_ID", doc.str_id.as_str())
                .set("STA_ID", doc.sta_id.as_str())
                .set("TKT_NO", tkt_no.as_str())
                .set("LIN_TYP", doc.lin_typ.to_string())
                .set("ITEM_NO", line.item_no.as_str())
                .fit("DESCR", Some(&line.descr))
                .set("QTY_SOLD", line.qty_sold)
                .set("QTY_NUMER", Decimal::ONE)
                .set("QTY_DENOM", Decimal::ONE)
                .fit("QTY_UNIT", line.qty_unit.as_deref())
                .set("SELL_UNIT", "0")
                .set("PRC", line.prc)
                .set("EXT_PRC", ext_prc)
                .set("GROSS_EXT_PRC", ext_prc)
                .set("CALC_EXT_PRC", ext_prc)
                .set("DISP_EXT_PRC", ext_prc)
                .set("REG_PRC", line.reg_prc)
                .set("USR_ENTD_PRC", flag(true))
                .set("HAS_PRC_OVRD", flag(false))
                .set("IS_TXBL", flag(line.is_txbl))
                .set("NORM_IS_TXBL", flag(line.is_txbl))
                .fit("TAX_CATEG", line.tax_categ_cod.as_deref())
                .fit("NORM_TAX_CATEG", line.tax_categ_cod.as_deref())
                .set("TAX_AMT_ALLOC", Decimal::ZERO)
                .set("NORM_TAX_AMT_ALLOC", Decimal::ZERO)
                .set("STK_LOC_ID", line.stk_loc_id.as_str())
                .set("PRC_LOC_ID", doc.prc_loc_id.as_str())
                .fit("CATEG_COD", line.categ_cod.as_deref())
                .fit("SUBCAT_COD", line.subcat_cod.as_deref())
                .set("ITEM_TYP", line.item_typ.as_str())
                .set("TRK_METH", line.trk_meth.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or("N"))
                .set("UNIT_COST", line.unit_cost)
                .set("EXT_COST", line.ext_cost())
                .set("LIN_GUID", lin_guid)
                .set("DIM_1_UPR", line.cell.as_ref().map_or("*", |c| c[0].as_str()))
                .set("DIM_2_UPR", line.cell.as_ref().map_or("*", |c| c[1].as_str()))
                .set("DIM_3_UPR", line.cell.as_ref().map_or("*", |c| c[2].as_str()))
                .fit("CELL_DESCR", line.cell.as_ref().map(cell_label).as_deref())
                .set("QTY_RET", Decimal::ZERO)
                .set("QTY_SHIPPED", Decimal::ZERO)
                .set("ORIG_QTY", line.qty_sold)
                .finish(d)?;
            tx.execute(&sql, &values).await.map_err(|e| e.context(&line_ref))?;
            if let Some(cell) = &line.cell {
                let (sql, values) = Insert::into(&schema::PS_DOC_LIN_CELL, live, &line_ref)
                    .set("DOC_ID", doc_id)
                    .set("LIN_SEQ_NO", seq)
                    .set("DIM_1_UPR", cell[0].as_str())
                    .set("DIM_2_UPR", cell[1].as_str())
                    .set("DIM_3_UPR", cell[2].as_str())
                    .set("QTY_SOLD", line.qty_sold)
                    .finish(d)?;
                tx.execute(&sql, &values).await.map_err(|e| e.context(&line_ref))?;
            }

            let ext = params![doc_id, seq, line.item_no.as_str(), line.woo_line_id, bkord, lin_guid];
            tx.execute(&d.insert_values("USER_DOC_LIN_EXT", &ext_cols, 1), &ext)
                .await
                .map_err(|e| e.context(&line_ref))?;
        }

        let t = &doc.totals;
        let deposit = doc.deposit();
        let totals_ref = format!("{order_ref}: writing PS_DOC_HDR_TOT");
        let (sql, values) = Insert::into(&schema::PS_DOC_HDR_TOT, live, &totals_ref)
            .set("DOC_ID", doc_id)
            .set("TOT_TYP", "O")
            .set("INITIAL_MIN_DUE", Decimal::ZERO)
            .set("HAS_TAX_OVRD", "!")
            .set("TAX_AMT_SHIPPED", Decimal::ZERO)
            .set("LINS", doc.lines.len())
            .set("SUB_TOT", t.sub_tot)
            .set("TAX_OVRD_LINS", 0i64)
            .set("TOT_EXT_COST", doc.tot_ext_cost())
            .set("TOT_MISC", t.tot_misc)
            .set("TAX_AMT", t.tax_amt)
            .set("NORM_TAX_AMT", t.tax_amt)
            .set("TOT_TND", deposit)
            .set("TOT_CHNG", Decimal::ZERO)
            .set("TOT_WEIGHT", t.tot_weight)
            .set("TOT_CUBE", Decimal::ZERO)
            .set("TOT", t.tot)
            .set("AMT_DUE", t.amt_due)
            .set("TOT_HDR_DISC", t.tot_hdr_disc)
            .set("TOT_LIN_DISC", t.tot_lin_disc)
            .finish(d)?;
        tx.execute(&sql, &values).await.map_err(|e| e.context(&totals_ref))?;

        for (i, payment) in doc.payments.iter().enumerate() {
            let what = format!("{order_ref}: payment {}", i + 1);
            let (pay_typ, curncy_cod) = self.pay_code(tx, &payment.pay_cod, &what).await?;
            let (sql, values) = Insert::into(&schema::PS_DOC_PMT, live, &what)
                .set("DOC_ID", doc_id)
                .set("PMT_SEQ_NO", i + 1)
                .set("PAY_COD_TYP", pay_typ.as_str())
                .set("AMT", payment.amt)
                .set("STR_ID", doc.str_id.as_str())
                .set("FINAL_PMT", flag(payment.final_pmt))
                .set("STA_ID", doc.sta_id.as_str())
                .set("CARD_IS_NEW", flag(false))
                .set("TKT_NO", tkt_no.as_str())
                .set("SECURE_ECOMM_TRX", flag(pay_typ == "E"))
                .set("PMT_LIN_TYP", "T")
                .set("PAY_COD", payment.pay_cod.as_str())
                .set("PAY_DAT", payment.pay_dat)
                .set("DEP_LIN_COPIED_TO_REL_DOC", flag(false))
                .set("HOME_CURNCY_AMT", payment.amt)
                .set("EXCH_LOSS", Decimal::ZERO)
                .set("SWIPED", flag(false))
                .fit("DESCR", payment.descr.as_deref())
                .set("EDC_AUTH_FLG", flag(false))
                .set("CURNCY_COD", curncy_cod.filter(|c| !c.trim().is_empty()).unwrap_or_else(|| "HOME".into()))
                .set("EXCH_RATE_NUMER", Decimal::ONE)
                .set("EXCH_RATE_DENOM", Decimal::ONE)
                .fit("EDC_AUTH_RESP", payment.transaction_id.as_deref())
                .set("GFC_AUTHED", flag(false))
                .finish(d)?;
            tx.execute(&sql, &values).await.map_err(|e| e.context(&what))?;
        }
        Ok((doc_id, tkt_no, backordered))
    }
}
