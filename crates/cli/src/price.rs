//! `cpbridge price CUST_NO SKU [--qty N]`: the contract price the API would answer, with the reason, for support
//! staff. It loads the same price book from Counterpoint and evaluates the same rules.

use std::process::ExitCode;

use clap::Args;
use rust_decimal::Decimal;

use crate::args::ConfigArg;

#[derive(Debug, Args)]
pub struct PriceArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// `AR_CUST.CUST_NO`.
    pub cust_no: cpbridge_core::CustNo,
    /// `IM_ITEM.ITEM_NO`.
    pub sku: cpbridge_core::Sku,
    #[arg(long, default_value_t = Decimal::ONE)]
    pub qty: Decimal,
}

/// `cpbridge price`.
///
/// # Errors
/// When Counterpoint cannot be read; an unknown customer or SKU is an error that names it.
pub async fn run(args: PriceArgs) -> crate::error::Result<ExitCode> {
    let app = args.config.app().await?;
    app.pricing.refresh().await?;
    let answers = app.pricing.quote(&args.cust_no, &[(args.sku.clone(), args.qty)])?;
    for problem in app.pricing.book().problems() {
        eprintln!("note: {problem}; that rule is never applied");
    }
    for answer in answers {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    }
    Ok(ExitCode::SUCCESS)
}
