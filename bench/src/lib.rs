//! # mailrules-bench
//!
//! The benchmark harness behind `scripts/bench.sh`: every comparison is made
//! in one run, side by side, and reported as a ratio, because a shared
//! machine's absolute times drift from run to run.

#![warn(missing_docs)]

pub mod child;
pub mod fixture;
pub mod machine;
pub mod measure;
pub mod peers;
pub mod report;
pub mod sections;
