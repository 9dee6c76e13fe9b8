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
//!     fn decide(profile: &Profile, campaign: &Campaign) -> Result<Decision, RuleError> {
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
//! Build it with `cargo build --release --target wasm32-wasip2`: the result is
//! a component the `mailrules` host loads.
//!
//! The profile and campaign are handles: every getter asks the host for one
//! field, so a rule pays only for what it reads. [`ProfileView`] and
//! [`CampaignView`] describe those getters as traits, so the same rule logic
//! can also run natively against other implementations (tests, benchmarks).

#![warn(missing_docs)]

extern crate self as mailrules_sdk;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub mod attributes;
#[allow(missing_docs)]
pub mod bindings;
pub mod decision;
pub mod time;
pub mod view;

pub use attributes::decode_attributes;
pub use bindings::mailrules::rules::host::{LogLevel, ab_bucket, log};
pub use bindings::mailrules::rules::types::{
    Campaign, Cart, CartItem, Consent, Decision, Engagement, ErrorCode, OrderStats, Profile,
    RuleError, SlotChoice, Timestamp, ViewedProduct,
};
pub use time::{SECONDS_PER_DAY, days_since, within_days};
pub use view::{CampaignView, ProfileView};

/// A rule: one pure function from a profile and a campaign to a decision.
pub trait Rule {
    /// Decides segments, subject, preheader and blocks for one recipient.
    fn decide(profile: &Profile, campaign: &Campaign) -> Result<Decision, RuleError>;
}

/// Everything a rule usually needs, in one `use`.
pub mod prelude {
    pub use crate::{
        Campaign, CampaignView, Decision, ErrorCode, LogLevel, Profile, ProfileView, Rule,
        RuleError, Timestamp, ab_bucket, days_since, decode_attributes, log, within_days,
    };
}

/// Exports a type implementing [`Rule`] as the component's `rule` interface.
///
/// Invoke it once, at the crate root of a `cdylib` built for `wasm32-wasip2`.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        const _: () = {
            struct MailrulesExport;

            impl $crate::bindings::exports::mailrules::rules::rule::Guest for MailrulesExport {
                fn decide(
                    profile: &$crate::Profile,
                    campaign: &$crate::Campaign,
                ) -> ::core::result::Result<$crate::Decision, $crate::RuleError> {
                    <$rule as $crate::Rule>::decide(profile, campaign)
                }
            }

    $crate::bindings::export_component!(MailrulesExport with_types_in $crate::bindings);
        };
    };
}
