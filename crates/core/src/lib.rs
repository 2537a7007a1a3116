//! Pure domain logic of cpbridge.
//!
//! Everything here is plain data and pure functions: the Counterpoint record types, the order document that the
//! Counterpoint port writes, document numbering, and money rounding. There is no I/O and no async, so the rules
//! that decide what lands in a shop's books can be tested exhaustively and fuzzed.

pub mod docid;
pub mod ids;
pub mod inventory;
pub mod money;
pub mod order;
pub mod pricing;
pub mod records;
pub mod staging;

pub use ids::{CustNo, InvalidId, Sku, StagingId, WooOrderId};
pub use money::{round_cents, round_money, round_price};
