//! # mailrules
//!
//! Runs tenants' email segmentation and personalization rules, compiled to
//! WebAssembly components, over customer profiles, each evaluation in a fresh
//! sandbox with fuel, a deadline, a memory cap and output caps always on.

pub mod bindings;
pub mod bucket;
pub mod campaign;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod limits;
pub mod outcome;
pub mod policy;
pub mod profile;
pub mod profile_reader;
pub mod rule;
pub mod run;
pub mod sandbox;
pub mod summary;
