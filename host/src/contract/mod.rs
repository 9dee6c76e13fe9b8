//! The contract versions a rule component can be built against. Each
//! version's module owns its generated bindings and glue; the rest of the
//! host works on [`crate::decision`]'s version-neutral types. A rule's
//! version is read from what the component exports when it is loaded
//! ([`detect`]), so components of every supported version load and run
//! side by side in one engine, one campaign and one run.

pub mod v0_1;
pub mod v0_2;

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker};

use crate::sandbox::SandboxState;

/// A version of the `mailrules:rules` WIT package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractVersion {
    /// `mailrules:rules@0.1.0`: resource handles, one call per recipient.
    V0_1,
    /// `mailrules:rules@0.2.0`: no WASI, declared inputs, batches.
    V0_2,
}

impl ContractVersion {
    /// Every supported version, oldest first.
    pub const ALL: [ContractVersion; 2] = [ContractVersion::V0_1, ContractVersion::V0_2];

    /// The version number, as in the WIT package (`0.1.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "0.1.0",
            ContractVersion::V0_2 => "0.2.0",
        }
    }

    /// The interface a rule of this version exports.
    pub fn rule_export(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => v0_1::RULE_EXPORT,
            ContractVersion::V0_2 => v0_2::RULE_EXPORT,
        }
    }

    /// The import prefixes a rule of this version may use.
    pub fn allowed_imports(self) -> &'static [&'static str] {
        match self {
            ContractVersion::V0_1 => v0_1::ALLOWED_IMPORTS,
            ContractVersion::V0_2 => v0_2::ALLOWED_IMPORTS,
        }
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The version whose rule interface a component exports, if any (the
/// newest, should it export several).
pub fn detect(exports: &[String]) -> Option<ContractVersion> {
    ContractVersion::ALL
        .into_iter()
        .rev()
        .find(|version| exports.iter().any(|name| name == version.rule_export()))
}

/// Adds the host side of every supported version, and the deterministic
/// WASI 0.1 rules may use, to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    v0_1::add_to_linker(linker)?;
    v0_2::host_api::add_to_linker(linker)
}

/// A rule compiled and linked, ready to instantiate, in its version's
/// bindings.
#[derive(Clone)]
pub(crate) enum RulePre {
    /// A 0.1 rule.
    V0_1(v0_1::RulesPre<SandboxState>),
    /// A 0.2 rule and what it declared.
    V0_2 {
        /// The linked component.
        pre: v0_2::RulesPre<SandboxState>,
        /// Its declared fields and segments.
        description: Arc<v0_2::Description>,
    },
}

/// One instance of a rule.
pub(crate) enum Instance {
    /// A 0.1 rule's.
    V0_1(v0_1::Rules),
    /// A 0.2 rule's.
    V0_2(v0_2::Rules),
}

impl RulePre {
    /// The linked component.
    pub(crate) fn instance_pre(&self) -> &InstancePre<SandboxState> {
        match self {
            RulePre::V0_1(pre) => pre.instance_pre(),
            RulePre::V0_2 { pre, .. } => pre.instance_pre(),
        }
    }

    /// Instantiates the rule in `store`.
    pub(crate) fn instantiate(
        &self,
        store: &mut Store<SandboxState>,
    ) -> wasmtime::Result<Instance> {
        match self {
            RulePre::V0_1(pre) => pre.instantiate(store).map(Instance::V0_1),
            RulePre::V0_2 { pre, .. } => pre.instantiate(store).map(Instance::V0_2),
        }
    }

    /// What a 0.2 rule declared.
    pub(crate) fn description(&self) -> Option<&Arc<v0_2::Description>> {
        match self {
            RulePre::V0_1(_) => None,
            RulePre::V0_2 { description, .. } => Some(description),
        }
    }
}
