//! Customers: reads by number, e-mail and change, and the one upsert of `AR_CUST` and `AR_SHIP_ADRS`.

use super::*;

pub(super) async fn customers_changed_since<D: Driver>(
    cp: &SqlCounterpoint<D>,
    after: &Watermark,
    limit: usize,
) -> CpResult<Vec<Customer>> {
    cp.paged("AR_CUST", &CUST_COLS, &["CUST_NO"], after, limit, customer_from_row).await
}

pub(super) async fn customer<D: Driver>(cp: &SqlCounterpoint<D>, cust_no: &CustNo) -> CpResult<Option<Customer>> {
    let sql = cp.sql(&format!("SELECT {} FROM dbo.AR_CUST WHERE CUST_NO = @P1", *CUST_COLS));
    cp.read(&sql, &params![cust_no]).await?.into_iter().next().map(customer_from_row).transpose()
}

pub(super) async fn customer_by_email<D: Driver>(cp: &SqlCounterpoint<D>, email: &str) -> CpResult<Option<Customer>> {
    let d = cp.dialect();
    let sql = d.select_top(
        2,
        &CUST_COLS,
        &d.render("FROM dbo.AR_CUST WHERE LOWER(EMAIL_ADRS_1) = LOWER(@P1) ORDER BY CUST_NO"),
    );
    cp.read(&sql, &params![email.trim(), 1i64]).await?.into_iter().next().map(customer_from_row).transpose()
}

pub(super) async fn upsert_customer<D: Driver>(
    cp: &SqlCounterpoint<D>,
    c: &Customer,
    ship_to: Option<&ShipAddress>,
    scheme: &CustNoScheme,
    at: NaiveDateTime,
) -> CpResult<CustNo> {
    let t = &schema::AR_CUST;
    let d = cp.dialect();
    let what = format!("customer {}", c.email_adrs_1.as_deref().unwrap_or(&c.cust_no));
    let mut tx = cp.driver.begin(TxMode::Write).await?;
    let exists = !c.cust_no.is_empty()
        && !tx
            .query(&cp.sql("SELECT CUST_NO FROM dbo.AR_CUST WHERE CUST_NO = @P1"), &params![c.cust_no.as_str()])
            .await?
            .is_empty();
    let cust_no = if c.cust_no.is_empty() {
        let n = cp.next_counter(&mut tx, &format!("CUST_NO:{}", scheme.prefix), at).await?;
        let cust_no = format!("{}{:0width$}", scheme.prefix, n, width = scheme.width);
        exact(t, "CUST_NO", &cust_no, "the customer numbering scheme")?;
        CustNo::new(cust_no)
    } else {
        exact(t, "CUST_NO", &c.cust_no, &what)?;
        c.cust_no.clone()
    };
    let live = cp.live_schema().await?;
    let live = Some(live.as_ref());
    let company = c.cust_nam_typ.as_deref() == Some("B");
    // NAM is required: a web customer who gave no name is known by the e-mail address.
    let nam = Some(c.nam.trim()).filter(|n| !n.is_empty()).or(c.email_adrs_1.as_deref()).unwrap_or(&cust_no);
    let row = Insert::into(t, live, &what)
        .set("CUST_NO", cust_no.as_str())
        .fit("NAM", Some(nam))
        .fit("NAM_UPR", Some(&nam.to_uppercase()))
        .fit("FST_NAM", c.fst_nam.as_deref())
        .fit("LST_NAM", c.lst_nam.as_deref())
        .fit("ADRS_1", c.adrs_1.as_deref())
        .fit("ADRS_2", c.adrs_2.as_deref())
        .fit("ADRS_3", c.adrs_3.as_deref())
        .fit("CITY", c.city.as_deref())
        .fit("STATE", c.state.as_deref())
        .fit("ZIP_COD", c.zip_cod.as_deref())
        .fit("CNTRY", c.cntry.as_deref())
        .fit("PHONE_1", c.phone_1.as_deref())
        .set("EMAIL_ADRS_1", c.email_adrs_1.as_deref().map(str::trim))
        .fit("CUST_TYP", c.cust_typ.as_deref())
        .fit("CATEG_COD", c.categ_cod.as_deref())
        .fit("PROF_COD_1", c.prof_cod_1.as_deref())
        .fit("TAX_COD", c.tax_cod.as_deref())
        .fit("STR_ID", c.str_id.as_deref())
        .set("CUST_NAM_TYP", if company { "B" } else { "P" })
        .set("IS_ECOMM_CUST", flag(c.is_ecomm_cust))
        .set("LST_MAINT_DT", at)
        .set("RS_UTC_DT", at);
    let (cols, mut values) = row.finish_pairs()?;
    if exists {
        // The key stays; every other column the insert writes is brought up to date.
        let sets: Vec<String> =
            cols.iter().skip(1).enumerate().map(|(i, col)| format!("{col} = @P{}", i + 2)).collect();
        let sql = cp.sql(&format!("UPDATE dbo.AR_CUST SET {} WHERE CUST_NO = @P1", sets.join(", ")));
        tx.execute(&sql, &values).await.map_err(|e| e.context(format!("updating AR_CUST {cust_no}")))?;
    } else {
        tx.execute(&d.insert_values("AR_CUST", &cols, 1), &values)
            .await
            .map_err(|e| e.context(format!("creating AR_CUST {cust_no}")))?;
    }
    values.clear();
    if let Some(s) = ship_to {
        tx.execute(
            &cp.sql("DELETE FROM dbo.AR_SHIP_ADRS WHERE CUST_NO = @P1 AND SHIP_ADRS_ID = @P2"),
            &params![cust_no.as_str(), s.ship_adrs_id.as_str()],
        )
        .await?;
        let (sql, values) = Insert::into(&schema::AR_SHIP_ADRS, live, &what)
            .set("CUST_NO", cust_no.as_str())
            .set("SHIP_ADRS_ID", s.ship_adrs_id.as_str())
            .fit("NAM", Some(&s.nam))
            .set("SHIP_NAM_TYP", if company { "B" } else { "P" })
            .fit("FST_NAM", s.fst_nam.as_deref())
            .fit("LST_NAM", s.lst_nam.as_deref())
            .fit("ADRS_1", s.adrs_1.as_deref())
            .fit("ADRS_2", s.adrs_2.as_deref())
            .fit("CITY", s.city.as_deref())
            .fit("STATE", s.state.as_deref())
            .fit("ZIP_COD", s.zip_cod.as_deref())
            .fit("CNTRY", s.cntry.as_deref())
            .fit("PHONE_1", s.phone_1.as_deref())
            .set("LST_MAINT_DT", at)
            .finish(d)?;
        tx.execute(&sql, &values).await.map_err(|e| e.context(format!("writing AR_SHIP_ADRS of {cust_no}")))?;
    }
    tx.commit().await?;
    Ok(cust_no)
}
