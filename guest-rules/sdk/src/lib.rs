//! # mailrules-sdk
//!
//! Write a mailrules segmentation and personalization rule in Rust and export
//! it as a WebAssembly component in a few lines:
//!
//! ```ignore
//! use mailrules_sdk::prelude::*;
//!
//! struct Welcome;
//!
//! impl Rule for Welcome {
//!     const FIELDS: &'static [Field] = &[Field::SubscribedAt];
//!     const SEGMENTS: &'static [&'static str] = &["new-subscriber"];
//!
//!     fn decide(
//!         profile: &impl ProfileView,
//!         campaign: &impl CampaignView,
//!     ) -> Result<Decision, RuleError> {
//!         let now = campaign.now();
//!         let mut decision = Decision::new("default", "default");
//!         if within_days(profile.subscribed_at(), now, 30) {
//!             decision.add_segment("new-subscriber");
//!             decision.choose("welcome", "welcome");
//!         }
//!         Ok(decision)
//!     }
//! }
//!
//! mailrules_sdk::export_rule!(Welcome);
//! ```
//!
//! The same source builds for either contract version:
//!
//! - **0.2** (feature `v0_2`): `cargo build --release --target
//!   wasm32-unknown-unknown`, then make the module a component
//!   (`scripts/build-rules.sh` does both). The component imports nothing
//!   but `mailrules:rules/host@0.2.0`; the host sends only the declared
//!   [`Rule::FIELDS`], many profiles per call, and reading an undeclared
//!   field traps.
//! - **0.1** (the default): `cargo build --release --target wasm32-wasip2`.
//!   Every getter is one host call; `FIELDS` and `SEGMENTS` are not used.
//!
//! [`ProfileView`] and [`CampaignView`] describe what a rule reads as
//! traits, so the same rule logic also runs natively against other
//! implementations (tests, benchmarks).

#![warn(missing_docs)]

extern crate self as mailrules_sdk;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// What both contract modules define the same way over their own
/// generated `host` and `types`: `ab_bucket`, `log`, and the contract's
/// form of an error code.
macro_rules! contract_glue {
    () => {
        /// See [`crate::ab_bucket`].
        pub(crate) fn ab_bucket(salt: &str) -> u32 {
            host::ab_bucket(salt)
        }

        /// See [`crate::log`].
        pub(crate) fn log(level: crate::LogLevel, message: &str) {
            let level = match level {
                crate::LogLevel::Debug => host::LogLevel::Debug,
                crate::LogLevel::Info => host::LogLevel::Info,
                crate::LogLevel::Warn => host::LogLevel::Warn,
            };
            host::log(level, message);
        }

        /// The contract's form of `code`.
        fn wit_error_code(code: crate::ErrorCode) -> types::ErrorCode {
            match code {
                crate::ErrorCode::MissingData => types::ErrorCode::MissingData,
                crate::ErrorCode::InvalidAttributes => types::ErrorCode::InvalidAttributes,
                crate::ErrorCode::UnsupportedCampaign => types::ErrorCode::UnsupportedCampaign,
                crate::ErrorCode::Internal => types::ErrorCode::Internal,
            }
        }
    };
}

pub mod attributes;
pub mod decision;
pub mod time;
pub mod types;
#[cfg(not(feature = "v0_2"))]
pub mod v0_1;
#[cfg(feature = "v0_2")]
pub mod v0_2;
pub mod view;

#[cfg(not(feature = "v0_2"))]
use v0_1 as contract;
#[cfg(feature = "v0_2")]
use v0_2 as contract;

pub use attributes::decode_attributes;
pub use time::{SECONDS_PER_DAY, days_since, within_days};
pub use types::{
    Cart, CartItem, Consent, Decision, Engagement, ErrorCode, Field, Id, LogLevel, OrderStats,
    RuleError, SlotChoice, Timestamp, ViewedProduct,
};
pub use view::{CampaignView, ProfileView};

/// The contract version this build of the SDK exports rules as.
pub const CONTRACT_VERSION: &str = if cfg!(feature = "v0_2") {
    "0.2.0"
} else {
    "0.1.0"
};

/// A rule: one pure function from a profile and a campaign to a decision,
/// and what it declares about itself.
pub trait Rule {
    /// The profile fields the rule reads. Under contract 0.2 only these are
    /// sent, `mailrules check` shows them, and a tenant's policy may refuse
    /// the rule for one of them.
    const FIELDS: &'static [Field] = &[];

    /// Every segment id the rule may assign (at most 64). Under contract 0.2
    /// a decision with a segment not listed here is the rule's error.
    const SEGMENTS: &'static [&'static str] = &[];

    /// Decides segments, subject, preheader and blocks for one recipient.
    fn decide(
        profile: &impl ProfileView,
        campaign: &impl CampaignView,
    ) -> Result<Decision, RuleError>;
}

/// A stable A/B bucket in `0..10000` for the current recipient, from the
/// campaign id, the profile id and `salt`: the same on every run, machine
/// and contract version.
pub fn ab_bucket(salt: &str) -> u32 {
    contract::ab_bucket(salt)
}

/// Appends a line to this recipient's log, shown with `--explain`.
pub fn log(level: LogLevel, message: &str) {
    contract::log(level, message)
}

/// Everything a rule usually needs, in one `use`.
pub mod prelude {
    pub use crate::{
        CampaignView, Decision, ErrorCode, Field, LogLevel, ProfileView, Rule, RuleError,
        Timestamp, ab_bucket, days_since, decode_attributes, log, within_days,
    };
}

/// Exports a type implementing [`Rule`] as the component's `rule`
/// interface, in the contract version the SDK is built for.
///
/// Invoke it once, at the crate root of a `cdylib`.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        $crate::__export_rule!($rule);
    };
}
