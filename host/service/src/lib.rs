//! The mailrules hosting service, as a library.
//!
//! This crate holds the parts of `mailrules serve` that do not run rules:
//! so far the durable [`Store`] (tenants, rule versions, campaigns, sends,
//! events in SQLite; compiled components on disk by SHA-256), API
//! [`tokens`] and the [`ids`] tenants may choose.
#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod error;
pub mod guest_logs;
pub mod hosting;
pub mod ids;
pub mod metrics;
pub mod server;
pub mod store;
pub mod tokens;

pub use config::{RequestCaps, ServiceConfig};
pub use error::StoreError;
pub use hosting::{Hosting, HostingError};
pub use store::{
    ActivationRecord, EventRecord, RuleState, RuleVersionRecord, SendRecord, SendState, Store,
    TenantRecord,
};
