//! The mailrules hosting service, as a library.
//!
//! This crate holds the parts of `mailrules serve` that do not run rules:
//! so far the durable [`Store`] (tenants, rule versions, campaigns, sends,
//! events in SQLite; compiled components on disk by SHA-256), API
//! [`tokens`] and the [`ids`] tenants may choose.
#![warn(missing_docs)]

pub mod error;
pub mod ids;
pub mod store;
pub mod tokens;

pub use error::StoreError;
pub use store::{
    ActivationRecord, EventRecord, RuleState, RuleVersionRecord, SendRecord, SendState, Store,
    TenantRecord,
};
