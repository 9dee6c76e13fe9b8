//! The mailrules hosting service, as a library.
//!
//! This crate holds the parts of `mailrules serve` that do not run rules:
//! so far API [`tokens`] and the [`ids`] tenants may choose.
#![warn(missing_docs)]

pub mod error;
pub mod ids;
pub mod tokens;

pub use error::StoreError;
