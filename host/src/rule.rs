//! Loading a rule component: size and format checks, the compilation cache,
//! and the contract check that refuses unknown imports by name.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::bindings::{RULE_EXPORT, RulesPre};
use crate::engine::RuleEngine;
use crate::error::LoadError;
use crate::sandbox::SandboxState;

/// Import prefixes a rule may use. The WASI interfaces are served by the
/// deterministic, empty WASI of [`crate::sandbox::deterministic_wasi`].
pub const ALLOWED_IMPORTS: &[&str] = &[
    "mailrules:rules/host@0.1.",
    "mailrules:rules/types@0.1.",
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
];

/// What is known about a loaded rule.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Size of the component in bytes.
    pub size: usize,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// The `mailrules:rules` version it was built against.
    pub world_version: String,
    /// Everything it imports.
    pub imports: Vec<String>,
    /// Everything it exports.
    pub exports: Vec<String>,
    /// Time to compile, or to load from the cache.
    pub load_time: Duration,
    /// Whether it came from the compilation cache.
    pub cached: bool,
}

/// A validated rule, ready to instantiate many times.
pub struct LoadedRule {
    pub(crate) pre: RulesPre<SandboxState>,
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
        if let Some(name) = imports
            .iter()
            .find(|name| !ALLOWED_IMPORTS.iter().any(|p| name.starts_with(p)))
        {
            return Err(LoadError::ForbiddenImport { name: name.clone() });
        }
        if !exports.iter().any(|name| name == RULE_EXPORT) {
            return Err(LoadError::MissingExport {
                expected: RULE_EXPORT.to_string(),
                found: if exports.is_empty() {
                    "nothing".into()
                } else {
                    exports.join(", ")
                },
            });
        }
        let instance_pre = engine
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Incompatible(format!("{e:#}")))?;
        let pre =
            RulesPre::new(instance_pre).map_err(|e| LoadError::Incompatible(format!("{e:#}")))?;
        let world_version = RULE_EXPORT
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(LoadedRule {
            pre,
            info: RuleInfo {
                path: path.to_path_buf(),
                size: bytes.len(),
                sha256,
                world_version,
                imports,
                exports,
                load_time,
                cached,
            },
        })
    }
}

/// Compiles `bytes`, or loads the machine code compiled earlier by an
/// engine with the same settings. The cache key is the component's hash plus
/// the engine's compatibility hash (which covers fuel and epoch settings).
fn compile_cached(
    engine: &RuleEngine,
    bytes: &[u8],
    sha256: &str,
    cache_dir: Option<&Path>,
) -> Result<(Component, bool), LoadError> {
    let cache_file =
        cache_dir.map(|dir| dir.join(format!("{sha256}-{}.cwasm", engine.compatibility_key())));
    if let Some(cached) = cache_file
        .as_ref()
        .and_then(|file| std::fs::read(file).ok())
    {
        // The cached code is read into memory rather than mapped, so a cache
        // file replaced or truncated by another process cannot pull code out
        // from under a running rule.
        //
        // SAFETY: the file was written by `Component::serialize` of an engine
        // with the same compatibility key, into the operator's own cache
        // directory; wasmtime checks the header and engine settings again.
        if let Ok(component) = unsafe { Component::deserialize(engine.engine(), &cached) } {
            return Ok((component, true));
        }
    }
    let component =
        Component::new(engine.engine(), bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
    if let Some(file) = cache_file {
        // A cache that cannot be written only costs the next load time.
        if let Ok(serialized) = component.serialize() {
            let _ = write_atomically(&file, &serialized);
        }
    }
    Ok((component, false))
}

fn write_atomically(file: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, data)?;
    std::fs::rename(&temporary, file)
}
