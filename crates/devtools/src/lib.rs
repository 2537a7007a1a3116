//! Development tools, apart from the product: the seeder that fills a SQLite replica with a realistic,
//! deterministic shop (`cpbridge cp seed`, the demo, the benches and the tests use it). The `cpbridge` library never
//! depends on this crate; only the binary's development commands and the tests do.

pub mod seed;
