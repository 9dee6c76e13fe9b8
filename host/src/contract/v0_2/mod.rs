//! `mailrules:rules@0.2.0`: no WASI, declared inputs, a whole batch of
//! profiles per call as a few flat lists, compact decisions (see
//! `wit/v0.2.0/rules.wit` for the design and its reasons).
//!
//! The generated bindings stay in this module. [`input`] lays profiles out
//! as a batch, [`host_api`] serves `host.begin` (the per-recipient fuel and
//! deadline), `host.log` and `host.ab-bucket`, and [`output`] turns the
//! returned rows into the version-neutral [`crate::decision`] types.

pub(crate) mod host_api;
pub(crate) mod input;
pub(crate) mod output;

use std::sync::{Arc, LazyLock};

use wasmtime::Store;

use crate::campaign::Campaign;
use crate::sandbox::SandboxState;

mod generated {
    wasmtime::component::bindgen!({
        world: "rules",
        path: "../wit/v0.2.0",
    });
}

pub(crate) use generated::mailrules::rules::types;
pub(crate) use generated::{Rules, RulesPre};

/// The interface every 0.2 rule component exports.
pub const RULE_EXPORT: &str = "mailrules:rules/rule@0.2.0";

/// Import prefixes a 0.2 rule may use: the contract's own `host` (and
/// `types`, which carries only type definitions), no WASI.
pub const ALLOWED_IMPORTS: &[&str] = &["mailrules:rules/host@0.2.", "mailrules:rules/types@0.2."];

/// Most segment ids a 0.2 rule may declare: decisions carry them as the
/// bits of a `u64`.
pub const MAX_DECLARED_SEGMENTS: usize = 64;

/// Longest declared segment id, in bytes.
pub const MAX_SEGMENT_ID_BYTES: usize = 64;

/// Every profile field a 0.2 rule can declare, as WIT spells it, with its
/// flag.
pub const FIELDS: &[(&str, types::Field)] = &[
    ("id", types::Field::ID),
    ("email", types::Field::EMAIL),
    ("first-name", types::Field::FIRST_NAME),
    ("last-name", types::Field::LAST_NAME),
    ("locale", types::Field::LOCALE),
    ("timezone", types::Field::TIMEZONE),
    ("country", types::Field::COUNTRY),
    ("birth-date", types::Field::BIRTH_DATE),
    ("subscribed-at", types::Field::SUBSCRIBED_AT),
    ("consent", types::Field::CONSENT),
    ("orders", types::Field::ORDERS),
    ("currency", types::Field::CURRENCY),
    ("order-categories", types::Field::ORDER_CATEGORIES),
    ("engagement", types::Field::ENGAGEMENT),
    ("last-visit-at", types::Field::LAST_VISIT_AT),
    ("viewed-categories", types::Field::VIEWED_CATEGORIES),
    ("viewed-products", types::Field::VIEWED_PRODUCTS),
    ("cart", types::Field::CART),
    ("tags", types::Field::TAGS),
    ("attributes", types::Field::ATTRIBUTES),
];

/// What a 0.2 rule said about itself when it was loaded.
#[derive(Debug, Clone)]
pub struct Description {
    /// The fields it reads.
    pub(crate) fields: types::Field,
    /// Its segment vocabulary: bit `i` of a decision is `segments[i]`.
    pub segments: Vec<String>,
}

impl Description {
    /// The declared fields, as WIT spells them, in the contract's order.
    pub fn field_names(&self) -> Vec<String> {
        FIELDS
            .iter()
            .filter(|(_, flag)| self.fields.contains(*flag))
            .map(|(name, _)| name.to_string())
            .collect()
    }
}

/// Why a 0.2 rule's description was refused.
pub(crate) fn check_description(description: &types::Description) -> Result<(), String> {
    let segments = &description.segments;
    if segments.len() > MAX_DECLARED_SEGMENTS {
        return Err(format!(
            "it declares {} segments, more than {MAX_DECLARED_SEGMENTS}",
            segments.len()
        ));
    }
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() || segment.len() > MAX_SEGMENT_ID_BYTES {
            return Err(format!(
                "declared segment {i} is {} bytes long (1 to {MAX_SEGMENT_ID_BYTES})",
                segment.len()
            ));
        }
        if !crate::id::is_valid(segment, MAX_SEGMENT_ID_BYTES) {
            return Err(format!(
                "declared segment `{segment}` has characters other than {}",
                crate::id::ALLOWED
            ));
        }
        if segments[..i].contains(segment) {
            return Err(format!("segment `{segment}` is declared twice"));
        }
    }
    Ok(())
}

/// A campaign with one subject and preheader, for calls that need a store
/// but no real campaign (`describe`).
pub(crate) static PROBE_CAMPAIGN: LazyLock<Arc<Campaign>> = LazyLock::new(|| {
    let text = "id = \"describe\"\n\
        [[subject]]\nid = \"default\"\ntext = \"-\"\n\
        [[preheader]]\nid = \"default\"\ntext = \"-\"\n\
        [fallback]\nsubject = \"default\"\npreheader = \"default\"\n";
    Arc::new(
        Campaign::parse(text, std::path::Path::new("describe.toml"))
            .expect("the probe campaign is valid"),
    )
});

/// Calls `describe`.
pub(crate) fn describe(
    rules: &Rules,
    store: &mut Store<SandboxState>,
) -> wasmtime::Result<types::Description> {
    rules.mailrules_rules_rule().call_describe(&mut *store)
}
