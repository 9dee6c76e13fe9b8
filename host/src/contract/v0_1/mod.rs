//! `mailrules:rules@0.1.0`: the profile and campaign as resource handles,
//! one `decide` call per recipient, WASI allowed. The generated bindings
//! stay in this module; [`decide`] hands the rest of the host the
//! version-neutral [`crate::decision`] types.

mod host_api;

use wasmtime::Store;
use wasmtime::component::Resource;

use crate::decision::{Decision, ErrorCode, RuleError, SlotChoice};
use crate::sandbox::SandboxState;

mod generated {
    wasmtime::component::bindgen!({
        world: "rules",
        path: "../wit/v0.1.0",
        with: {
            "mailrules:rules/types.profile": crate::sandbox::ProfileHandle,
            "mailrules:rules/types.campaign": crate::sandbox::CampaignHandle,
        },
    });
}

pub(crate) use generated::mailrules::rules::{host, types};
pub(crate) use generated::{Rules, RulesPre};

/// The interface every 0.1 rule component exports.
pub const RULE_EXPORT: &str = "mailrules:rules/rule@0.1.0";

/// Import prefixes a 0.1 rule may use. The WASI interfaces are served by
/// the deterministic, empty WASI of [`crate::sandbox::deterministic_wasi`].
pub const ALLOWED_IMPORTS: &[&str] = &[
    "mailrules:rules/host@0.1.",
    "mailrules:rules/types@0.1.",
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
];

/// Adds the 0.1 host interfaces to `linker`.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<SandboxState>,
) -> wasmtime::Result<()> {
    Rules::add_to_linker::<SandboxState, wasmtime::component::HasSelf<SandboxState>>(
        linker,
        |state| state,
    )
}

/// Calls `decide` for the store's current profile.
pub(crate) fn decide(
    rules: &Rules,
    store: &mut Store<SandboxState>,
) -> wasmtime::Result<Result<Decision, RuleError>> {
    let answer = rules.mailrules_rules_rule().call_decide(
        &mut *store,
        Resource::new_borrow(0),
        Resource::new_borrow(0),
    )?;
    Ok(answer.map(neutral_decision).map_err(|error| RuleError {
        code: neutral_code(error.code),
        message: error.message,
    }))
}

fn neutral_decision(decision: types::Decision) -> Decision {
    Decision {
        segments: decision.segments,
        subject: decision.subject,
        preheader: decision.preheader,
        blocks: decision
            .blocks
            .into_iter()
            .map(|choice| SlotChoice {
                slot: choice.slot,
                block: choice.block,
            })
            .collect(),
        suppress: decision.suppress,
        reasons: decision.reasons,
    }
}

fn neutral_code(code: types::ErrorCode) -> ErrorCode {
    match code {
        types::ErrorCode::MissingData => ErrorCode::MissingData,
        types::ErrorCode::InvalidAttributes => ErrorCode::InvalidAttributes,
        types::ErrorCode::UnsupportedCampaign => ErrorCode::UnsupportedCampaign,
        types::ErrorCode::Internal => ErrorCode::Internal,
    }
}

/// Checks that the component's `decide` has the contract's type. Without
/// this the mismatch would surface only when instantiating, for every
/// recipient, as a failure of the rule.
pub(crate) fn check_decide_type(
    decide: &wasmtime::component::types::ComponentFunc,
    instance_pre: &wasmtime::component::InstancePre<SandboxState>,
) -> wasmtime::Result<()> {
    use crate::sandbox::{CampaignHandle, ProfileHandle};
    type Params = (Resource<ProfileHandle>, Resource<CampaignHandle>);
    type Results = (Result<types::Decision, types::RuleError>,);
    decide.typecheck::<Params, Results>(&instance_pre.instance_type())
}
