//! Loading a rule component: size and format checks, bounded compilation
//! (see [`crate::component_bounds`]) through the compilation cache (see
//! [`crate::compile_cache`]), and the contract check that refuses unknown
//! imports by name and a `rule` export of the wrong type.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::mpsc::RecvTimeoutError;

use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre};

use crate::compile_cache::CompileCache;
use crate::component_bounds::{self, BoundsError};
use crate::contract::{ContractVersion, RulePre, v0_1, v0_2};
use crate::engine::RuleEngine;
use crate::error::LoadError;
use crate::sandbox::SandboxState;

/// What is known about a loaded rule.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Size of the component in bytes.
    pub size: usize,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// The `mailrules:rules` version it was built against, read from the
    /// interface it exports.
    pub world_version: String,
    /// The contract version, as a value.
    pub contract: ContractVersion,
    /// The profile fields it declared it reads (0.2 and later; `None` for
    /// a 0.1 rule, which may read every field).
    pub declared_fields: Option<Vec<String>>,
    /// The segment ids it declared it may assign (0.2 and later).
    pub declared_segments: Option<Vec<String>>,
    /// Everything it imports.
    pub imports: Vec<String>,
    /// Everything it exports.
    pub exports: Vec<String>,
    /// Time to compile, or to load from the cache.
    pub load_time: Duration,
    /// Whether it came from the compilation cache.
    pub cached: bool,
}

/// A validated rule, ready to instantiate many times. Cloning shares the
/// compiled code.
#[derive(Clone)]
pub struct LoadedRule {
    pub(crate) pre: RulePre,
    /// Facts about it.
    pub info: RuleInfo,
}

impl LoadedRule {
    /// Loads and validates the component at `path`, using (and filling) the
    /// compilation cache in `cache_dir` when given.
    pub fn load(
        engine: &RuleEngine,
        path: &Path,
        cache_dir: Option<&Path>,
    ) -> Result<Self, LoadError> {
        let read_error = |source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        let max = engine.operator_limits().max_component_bytes;
        if size > max as u64 {
            return Err(LoadError::TooLarge {
                size: size as usize,
                max,
            });
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        Self::from_bytes(engine, &bytes, path, cache_dir)
    }

    /// Like [`LoadedRule::load`] for bytes already in memory; `path` names
    /// them in messages.
    pub fn from_bytes(
        engine: &RuleEngine,
        bytes: &[u8],
        path: &Path,
        cache_dir: Option<&Path>,
    ) -> Result<Self, LoadError> {
        let max = engine.operator_limits().max_component_bytes;
        if bytes.len() > max {
            return Err(LoadError::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm);
        }
        if wasmparser::Parser::is_core_wasm(bytes) {
            return Err(LoadError::CoreModule);
        }
        let sha256 = hex::encode(Sha256::digest(bytes));
        let started = Instant::now();
        let (component, cached) = compile_cached(engine, bytes, &sha256, cache_dir)?;
        let load_time = started.elapsed();

        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(engine.engine())
            .map(|(name, _)| name.to_string())
            .collect();
        let exports: Vec<String> = ty
            .exports(engine.engine())
            .map(|(name, _)| name.to_string())
            .collect();
        let Some(contract) = crate::contract::detect(&exports) else {
            let expected = ContractVersion::ALL
                .iter()
                .map(|version| format!("`{}`", version.rule_export()))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(LoadError::MissingExport {
                expected,
                found: if exports.is_empty() {
                    "nothing".into()
                } else {
                    exports.join(", ")
                },
            });
        };
        if let Some(name) = imports.iter().find(|name| {
            !contract
                .allowed_imports()
                .iter()
                .any(|p| name.starts_with(p))
        }) {
            return Err(LoadError::ForbiddenImport {
                name: name.clone(),
                contract,
            });
        }
        let instance_pre = engine
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Incompatible(format!("{e:#}")))?;
        let pre = match contract {
            ContractVersion::V0_1 => {
                check_decide_type(engine, &instance_pre)?;
                RulePre::V0_1(
                    v0_1::RulesPre::new(instance_pre)
                        .map_err(|e| LoadError::Incompatible(format!("{e:#}")))?,
                )
            }
            ContractVersion::V0_2 => {
                let pre =
                    v0_2::RulesPre::new(instance_pre).map_err(|e| LoadError::WrongExportType {
                        export: v0_2::RULE_EXPORT.to_string(),
                        detail: format!("{e:#}"),
                    })?;
                let description = describe(engine, &pre)?;
                RulePre::V0_2 {
                    pre,
                    description: std::sync::Arc::new(description),
                }
            }
        };
        let description = pre.description().cloned();
        Ok(LoadedRule {
            pre,
            info: RuleInfo {
                path: path.to_path_buf(),
                size: bytes.len(),
                sha256,
                world_version: contract.as_str().to_string(),
                contract,
                declared_fields: description.as_ref().map(|d| d.field_names()),
                declared_segments: description.map(|d| d.segments.clone()),
                imports,
                exports,
                load_time,
                cached,
            },
        })
    }
}

/// Refuses a 0.1 component whose `rule` export has a `decide` of another
/// type than the contract's. Without this the mismatch would surface only
/// when instantiating, for every recipient, as a failure of the rule.
fn check_decide_type(
    engine: &RuleEngine,
    instance_pre: &InstancePre<SandboxState>,
) -> Result<(), LoadError> {
    let export = v0_1::RULE_EXPORT;
    let wrong = |detail: String| LoadError::WrongExportType {
        export: format!("{export}#{DECIDE}"),
        detail,
    };
    let ty = instance_pre.component().component_type();
    let rule = match ty.get_export(engine.engine(), export).map(|e| e.ty) {
        Some(ComponentItem::ComponentInstance(rule)) => rule,
        _ => return Err(wrong("it is not an instance".into())),
    };
    let decide = match rule.get_export(engine.engine(), DECIDE).map(|e| e.ty) {
        Some(ComponentItem::ComponentFunc(decide)) => decide,
        Some(_) => return Err(wrong("it is not a function".into())),
        None => return Err(wrong("the function is missing".into())),
    };
    v0_1::check_decide_type(&decide, instance_pre).map_err(|e| wrong(format!("{e:#}")))
}

/// Fuel a 0.2 rule's `describe` may use.
const DESCRIBE_FUEL: u64 = 10_000_000;

/// Calls a 0.2 rule's `describe` once, in a sandbox of its own, and checks
/// what it declares.
fn describe(
    engine: &RuleEngine,
    pre: &v0_2::RulesPre<SandboxState>,
) -> Result<v0_2::Description, LoadError> {
    let refused = |detail: String| LoadError::Describe(detail);
    let (limits, _) = engine
        .operator_limits()
        .resolve(&crate::limits::RequestedLimits::default());
    let state = SandboxState::new(
        std::sync::Arc::new(crate::rule_facts::smallest_profile()),
        v0_2::PROBE_CAMPAIGN.clone(),
        0,
        limits.memory_bytes,
        limits.max_log_bytes,
    );
    let mut store = Store::new(engine.engine(), state);
    store.limiter(|state| &mut state.limiter);
    if engine.isolation().fuel {
        store
            .set_fuel(DESCRIBE_FUEL)
            .map_err(|e| refused(format!("{e:#}")))?;
    }
    if engine.isolation().epochs {
        store.set_epoch_deadline(engine.deadline_ticks(limits.timeout));
    }
    // A full instance pool is the host's state, not the rule's: wait for
    // a slot as evaluations do.
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let rules = loop {
        match pre.instantiate(&mut store) {
            Ok(rules) => break rules,
            Err(e)
                if crate::evaluate::pool_is_full(&e)
                    && started.elapsed() < crate::evaluate::DEFAULT_CAPACITY_WAIT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(refused(format!("{e:#}"))),
        }
    };
    let description = v0_2::describe(&rules, &mut store).map_err(|e| refused(format!("{e:#}")))?;
    v0_2::check_description(&description).map_err(refused)?;
    Ok(v0_2::Description {
        fields: description.fields,
        segments: description.segments,
    })
}

/// The function of the `rule` interface the host calls.
const DECIDE: &str = "decide";

/// Compiles `bytes`, or loads the machine code compiled earlier by an
/// engine with the same settings. The cache key is the component's hash plus
/// the engine's compatibility hash (which covers fuel and epoch settings).
fn compile_cached(
    engine: &RuleEngine,
    bytes: &[u8],
    sha256: &str,
    cache_dir: Option<&Path>,
) -> Result<(Component, bool), LoadError> {
    let operator = engine.operator_limits();
    let cache = cache_dir.map(|dir| CompileCache::new(dir, operator.max_cache_bytes));
    let key = format!("{sha256}-{}", engine.compatibility_key());
    if let Some(cached) = cache.as_ref().and_then(|cache| cache.read(&key)) {
        // The cached code is read into memory rather than mapped, so a cache
        // file replaced or truncated by another process cannot pull code out
        // from under a running rule.
        //
        // SAFETY: the artifact matches the SHA-256 stored with it, and was
        // written by `Component::serialize` of an engine with the same
        // compatibility key into the operator's private cache directory;
        // wasmtime checks the header and engine settings again.
        if let Ok(component) = unsafe { Component::deserialize(engine.engine(), &cached) } {
            return Ok((component, true));
        }
    }
    component_bounds::check(bytes, &operator.compile).map_err(|error| match error {
        BoundsError::Malformed(error) => LoadError::Compile(error.to_string()),
        BoundsError::Over(over) => LoadError::TooCostly(over),
    })?;
    let component = compile_with_timeout(engine, bytes, operator.compile.compile_timeout)?;
    if let Some(cache) = cache {
        // A cache that cannot be written only costs the next load time.
        if let Ok(serialized) = component.serialize() {
            let _ = cache.write(&key, &serialized);
        }
    }
    Ok((component, false))
}

/// Compiles on a thread of its own and gives up after `timeout`. A compile
/// given up on runs to its end in the background (compilation cannot be
/// interrupted); the bounds checked before keep that end near.
fn compile_with_timeout(
    engine: &RuleEngine,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Component, LoadError> {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let wasm_engine = engine.engine().clone();
    let bytes = bytes.to_vec();
    std::thread::Builder::new()
        .name("mailrules-compile".into())
        .spawn(move || {
            let _ = done_tx.send(Component::new(&wasm_engine, &bytes));
        })
        .map_err(|e| LoadError::Compile(format!("cannot start compiling: {e}")))?;
    match done_rx.recv_timeout(timeout) {
        Ok(compiled) => compiled.map_err(|e| LoadError::Compile(format!("{e:#}"))),
        Err(RecvTimeoutError::Timeout) => Err(LoadError::CompileTimeout { timeout }),
        Err(RecvTimeoutError::Disconnected) => Err(LoadError::Compile(
            "the compiler stopped without a result".into(),
        )),
    }
}
