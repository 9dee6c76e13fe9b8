//! Host bindings for `mailrules:rules@0.1.0`, generated from `wit/`.

wasmtime::component::bindgen!({
    world: "rules",
    path: "../wit/v0.1.0",
    with: {
        "mailrules:rules/types.profile": crate::sandbox::ProfileHandle,
        "mailrules:rules/types.campaign": crate::sandbox::CampaignHandle,
    },
});

pub use self::exports::mailrules::rules::rule;
pub use self::mailrules::rules::{host, types};

/// The version of the WIT package these bindings were generated from.
pub const WORLD_VERSION: &str = "0.1.0";

/// The interface every rule component must export.
pub const RULE_EXPORT: &str = "mailrules:rules/rule@0.1.0";
