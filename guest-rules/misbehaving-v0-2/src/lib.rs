//! The misbehaving test rule exported as a `mailrules:rules@0.2.0`
//! component: the rule is `misbehaving`'s; only the contract version
//! differs (and what needs WASI does nothing here).

#[cfg(target_arch = "wasm32")]
mailrules_sdk::export_rule!(misbehaving::Misbehaving);
