//! Development tools, in the binary only: the demo (`cpbridge demo`), the benches (`cpbridge bench ...`) and
//! `cpbridge cp seed` (over the `cpbridge-devtools` seeder). They drive the library's application against a seeded
//! replica and the sandbox store; the product does not need them.

pub mod bench;
pub mod bench_common;
pub mod bench_counterpoint;
pub mod bench_pricing;
pub mod bench_reliability;
pub mod bench_sync;
pub mod demo;
pub mod seed;
