//! Any bytes as a WooCommerce order body (with refund details, as cpbridge stages it): reading it, staging it net of
//! its refunds and building the Counterpoint document either works or says why, and never panics.
#![no_main]

use std::collections::HashMap;

use cpbridge_core::{CustNo, Sku};
use cpbridge_core::records::Item;
use cpbridge_pipelines::OrderSettings;
use cpbridge_pipelines::order_map::{booking_view, build_document, read_order, skus, staged_order};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

fn item(sku: &str) -> Item {
    Item {
        item_no: sku.to_owned(),
        descr: sku.to_owned(),
        short_descr: None,
        long_descr: None,
        item_typ: "I".into(),
        stat: "A".into(),
        categ_cod: None,
        subcat_cod: None,
        is_ecomm_item: true,
        is_txbl: true,
        tax_categ_cod: None,
        weight: Some(Decimal::ONE),
        barcod: None,
        prc_1: Decimal::ONE,
        reg_prc: Decimal::ONE,
        lst_cost: None,
        trk_meth: None,
        stk_unit: Some("EACH".into()),
        extra: Default::default(),
        prc_decs: 2,
        prof_cod_1: None,
        attr_cod_1: None,
        lst_maint_dt: None,
        rs_utc_dt: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(order) = read_order(text) else { return };
    let _staged = staged_order(&order, text.to_owned());
    let _view = booking_view(&order);
    let catalogue: HashMap<Sku, Item> = skus(&order).into_iter().map(|s| (s.clone(), item(&s))).collect();
    let _ = build_document(&order, &CustNo::from("CASH"), &catalogue, &OrderSettings::default());
});
