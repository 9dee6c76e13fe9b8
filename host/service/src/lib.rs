//! The mailrules hosting service, as a library: what `mailrules serve`
//! runs, and what a provider can embed instead.
//!
//! - [`Hosting`]: every operation of the service, scoped to a tenant —
//!   tenants, rule versions (upload with facts, activate, canary, logs),
//!   campaigns, evaluation on workers shared fairly between tenants, shadow
//!   diffs, journaled sends that resume after a restart — over one
//!   [`mailrules::RuleEngine`] and [`mailrules::RuleRegistry`];
//! - [`Store`]: the durable state in SQLite (tenants with hashed
//!   [`tokens`], rule versions, campaigns, sends, events; components on disk
//!   by SHA-256), with the [`ids`] tenants may choose;
//! - [`api`]: the HTTP API over it (axum), with its limits;
//!   [`server::serve`] runs it; [`metrics`] and [`guest_logs`] watch it.
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
