//! The reference rule pack exported as a `mailrules:rules@0.2.0` component:
//! the rule is `seed-segments`'s, word for word; only the contract version
//! differs.

#[cfg(target_arch = "wasm32")]
mailrules_sdk::export_rule!(seed_segments::SeedSegments);
