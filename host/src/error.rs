//! Errors at the library boundary. Failures of a single evaluation are not
//! errors here: they are outcomes (see [`crate::outcome`]).

use std::path::PathBuf;

/// A campaign file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The file could not be read.
    #[error("{}: cannot read campaign: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid campaign.
    #[error("{}:{}{message}", path.display(), line.map(|l| format!("{l}: ")).unwrap_or_else(|| " ".into()))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

/// A profile input that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened.
    #[error("{}: cannot open profiles: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A rule component the host refuses to load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: cannot read rule: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Larger than the operator allows.
    #[error("rule is {size} bytes, over the {max}-byte limit for components")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file (no `\\0asm` header)")]
    NotWasm,
    /// A plain core module: rules must be components.
    #[error(
        "a plain core WebAssembly module, not a component: build the rule with \
         `cargo build --target wasm32-wasip2` (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// The component does not compile.
    #[error("invalid component: {0}")]
    Compile(String),
    /// Compiling the component would cost more than the operator allows.
    #[error("refused before compiling: {0}")]
    TooCostly(#[source] crate::component_bounds::OverCompileLimit),
    /// Compiling took longer than the operator allows.
    #[error(
        "refused: compiling took longer than {} s, the limit for rule components",
        timeout.as_secs_f64()
    )]
    CompileTimeout {
        /// The limit.
        timeout: std::time::Duration,
    },
    /// The component imports something rules may not use.
    #[error("forbidden import `{name}`: {}", allowed_imports(*contract))]
    ForbiddenImport {
        /// The import's full name.
        name: String,
        /// The contract version the component exports.
        contract: crate::contract::ContractVersion,
    },
    /// A 0.2 rule's `describe` failed, or declared what the host refuses.
    #[error("the rule's description is refused: {0}")]
    Describe(String),
    /// The component does not export a supported rule interface.
    #[error("not a mailrules rule: it exports none of {expected} (it exports: {found})")]
    MissingExport {
        /// What a rule must export: one of these, in backticks.
        expected: String,
        /// What it exports instead.
        found: String,
    },
    /// The component exports the rule interface with functions of other
    /// types than the contract's.
    #[error(
        "`{export}` does not have the type of the mailrules:rules contract: {detail}; \
         rebuild the rule against the `mailrules:rules` WIT package it names"
    )]
    WrongExportType {
        /// The export, as `interface#function`.
        export: String,
        /// What does not match.
        detail: String,
    },
    /// The component's imports or exports do not match the contract.
    #[error("does not match the mailrules:rules contract: {0}")]
    Incompatible(String),
}

/// The wasmtime engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the WebAssembly engine: {0}")]
pub struct EngineError(pub String);

/// What a rule of `contract` may import, for [`LoadError::ForbiddenImport`].
fn allowed_imports(contract: crate::contract::ContractVersion) -> &'static str {
    match contract {
        crate::contract::ContractVersion::V0_1 => {
            "0.1 rules may import only mailrules:rules/host, mailrules:rules/types and the \
             deterministic WASI (wasi:io, wasi:cli, wasi:clocks, wasi:random, wasi:filesystem \
             without preopens)"
        }
        crate::contract::ContractVersion::V0_2 => {
            "0.2 rules may import only mailrules:rules/host@0.2.0 and mailrules:rules/types@0.2.0 \
             (no WASI: build for wasm32-unknown-unknown)"
        }
    }
}
